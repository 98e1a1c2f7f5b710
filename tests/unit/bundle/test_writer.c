/* Unit tests for writer.c (bundle_create) and pki.c (bundle_keygen): what a vendor's tooling
 * refuses to put into a bundle, and a keygen'd PKI that signs verifiable bundles. */
#include "bundle_test.h"

#include <dirent.h>

struct fixture {
    struct test_pki pki;
    char dir[64];
    char *payloads;
    char *out;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    test_pki_make(&f->pki);
    (void)snprintf(f->dir, sizeof(f->dir), "/tmp/konn-bundle-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->payloads = fs_path_join(f->dir, "payloads");
    f->out = fs_path_join(f->dir, "b.tar");
    put_file(f->payloads, "core/konnektord", "core", 4, 0755);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    rm_rf(f->dir);
    free(f->payloads);
    free(f->out);
    test_pki_free(&f->pki);
    free(f);
    return 0;
}

static int create(struct fixture *f, const char *tmpl, char *err, size_t err_size)
{
    return bundle_create(tmpl, strlen(tmpl), f->payloads, f->pki.good, f->out, NULL, err, err_size);
}

static void symlink_in_payload_dir_is_refused(void **state)
{
    struct fixture *f = *state;
    char *link = fs_path_join(f->payloads, "core/link");
    char err[256] = "";

    assert_int_equal(symlink("/etc/passwd", link), 0);
    assert_int_equal(create(f, test_template, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "not a regular file"));
    assert_false(fs_exists(f->out));
    free(link);
}

static void unsafe_payload_name_is_refused(void **state)
{
    struct fixture *f = *state;
    char err[256] = "";

    put_file(f->payloads, "core/bad name", "x", 1, 0644);
    assert_int_equal(create(f, test_template, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "'core/bad name' is unsafe"));
}

static void template_errors_are_named(void **state)
{
    struct fixture *f = *state;
    char err[256] = "";

    assert_int_equal(create(f, "{\"payloads\": []}", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "must not list 'payloads'"));
    assert_int_equal(create(f, "[1]", err, sizeof(err)), -EINVAL);
    assert_int_equal(create(f, "{\"product_vendor_id\": \"KONN\"}", err, sizeof(err)), -EBADMSG);
    assert_non_null(strstr(err, "is missing"));
    assert_false(fs_exists(f->out));
}

static void empty_payload_dir_makes_a_bundle(void **state)
{
    struct fixture *f = *state;
    struct bundle_verify_opts opts = {.trust = f->pki.trust, .now_s = f->pki.now};
    struct bundle_manifest *m = NULL;
    struct bundle_result res;
    char *core = fs_path_join(f->payloads, "core/konnektord");
    char *dir = fs_path_join(f->payloads, "core");
    char err[256] = "";

    assert_int_equal(unlink(core), 0);
    assert_int_equal(rmdir(dir), 0);
    assert_int_equal(create(f, test_template, err, sizeof(err)), 0);
    assert_int_equal(bundle_verify(f->out, &opts, &m, &res), 0);
    assert_int_equal(res.code, 0);
    assert_int_equal(m->n_payloads, 0);
    bundle_manifest_free(m);
    free(core);
    free(dir);
}

static void same_input_gives_the_same_archive_but_for_the_signature(void **state)
{
    struct fixture *f = *state;
    struct test_archive a, b;
    char err[256] = "";

    assert_int_equal(create(f, test_template, err, sizeof(err)), 0);
    test_archive_load(f->out, &a);
    assert_int_equal(create(f, test_template, err, sizeof(err)), 0);
    test_archive_load(f->out, &b);
    assert_int_equal(a.n, 3);
    assert_int_equal(b.n, 3);
    assert_string_equal(a.e[0].name, BUNDLE_MANIFEST_NAME);
    assert_string_equal(a.e[1].name, BUNDLE_SIGNATURE_NAME);
    assert_string_equal(a.e[2].name, "payload/core/konnektord");
    assert_int_equal(a.e[0].len, b.e[0].len);
    assert_memory_equal(a.e[0].data, b.e[0].data, a.e[0].len);
    test_archive_done(&a);
    test_archive_done(&b);
}

static void keygen_makes_a_pki_that_signs_verifiable_bundles(void **state)
{
    struct fixture *f = *state;
    struct bundle_keygen_opts ko = {
        .vendor = "ACME", .not_before_s = f->pki.now - 60, .not_after_s = f->pki.now + DAY_S};
    struct bundle_signer *s = NULL;
    struct bundle_trust *t = bundle_trust_new();
    struct bundle_verify_opts opts = {.trust = t, .now_s = f->pki.now};
    struct bundle_result res;
    char *pki = fs_path_join(f->dir, "pki");
    char *key, *cert, *root, *root_key;
    char err[256] = "";
    struct stat st;

    assert_int_equal(bundle_keygen(pki, &ko, err, sizeof(err)), 0);
    key = fs_path_join(pki, "signer-key.pem");
    cert = fs_path_join(pki, "signer-cert.pem");
    root = fs_path_join(pki, "root-cert.pem");
    root_key = fs_path_join(pki, "root-key.pem");
    assert_int_equal(stat(key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(root_key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(bundle_signer_load(key, cert, NULL, &s, err, sizeof(err)), 0);
    assert_int_equal(bundle_create(test_template, strlen(test_template), f->payloads, s, f->out,
                                   NULL, err, sizeof(err)),
                     0);
    assert_int_equal(bundle_trust_add_file(t, root), 0);
    assert_int_equal(bundle_trust_count(t), 1);
    assert_int_equal(bundle_verify(f->out, &opts, NULL, &res), 0);
    assert_int_equal(res.code, 0);
    /* The signing certificate is no root: it cannot be a trust anchor. */
    assert_int_equal(bundle_trust_add_file(t, cert), -EBADMSG);
    /* A key and a certificate that do not belong together are refused. */
    s = bundle_signer_free(s);
    assert_int_equal(bundle_signer_load(root_key, cert, NULL, &s, err, sizeof(err)), -EBADMSG);
    assert_non_null(strstr(err, "no PEM certificate for the key"));
    bundle_trust_free(t);
    free(key);
    free(cert);
    free(root);
    free(root_key);
    free(pki);
}

/* Only the last call (the directory's fsync after the rename) may fail with the bundle in
 * place; any earlier failure leaves neither the bundle nor a temporary file. */
static void create_leaves_nothing_at_any_io_fault(void **state)
{
    static const enum io_op ops[] = {IO_OP_OPEN, IO_OP_FSYNC, IO_OP_RENAME};
    struct fixture *f = *state;
    char err[256] = "";

    for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
        uint64_t before = io_calls(ops[i]), n;

        assert_int_equal(create(f, test_template, err, sizeof(err)), 0);
        n = io_calls(ops[i]) - before;
        assert_true(n >= 1);
        assert_int_equal(unlink(f->out), 0);
        for (uint64_t k = 1; k <= n; k++) {
            DIR *d;
            struct dirent *de;
            int r;

            io_fault_at(ops[i], k, EIO);
            r = create(f, test_template, err, sizeof(err));
            io_fault_clear();
            assert_int_equal(r, -EIO);
            if (fs_exists(f->out) && !(ops[i] == IO_OP_FSYNC && k == n))
                fail_msg("op %d call %llu: the bundle exists after a failure", ops[i],
                         (unsigned long long)k);
            (void)unlink(f->out);
            d = opendir(f->dir);
            assert_non_null(d);
            while ((de = readdir(d)))
                if (strstr(de->d_name, ".tmp"))
                    fail_msg("'%s' was left behind", de->d_name);
            closedir(d);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(symlink_in_payload_dir_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(unsafe_payload_name_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(template_errors_are_named, setup, teardown),
        cmocka_unit_test_setup_teardown(empty_payload_dir_makes_a_bundle, setup, teardown),
        cmocka_unit_test_setup_teardown(same_input_gives_the_same_archive_but_for_the_signature,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(keygen_makes_a_pki_that_signs_verifiable_bundles, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(create_leaves_nothing_at_any_io_fault, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
