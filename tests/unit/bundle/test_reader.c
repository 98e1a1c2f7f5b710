/* Unit tests for the bundle reader (reader.c with sign.c and manifest.c): a good bundle
 * verifies; every kind of tampering fails with the right gematik code, check and message;
 * extraction appears only complete; a large payload streams with bounded memory. */
#include "bundle_test.h"

#include <dirent.h>
#include <inttypes.h>
#include <sys/resource.h>

struct fixture {
    struct test_pki pki;
    char dir[64];
    char *payloads; /* dir/payloads */
    char *bundle;   /* dir/b.tar, a good bundle */
    char *bad;      /* dir/bad.tar, for a tampered copy */
    char *dest;     /* dir/out, an extraction target */
    struct bundle_verify_opts opts;
    struct test_archive t;
    unsigned checks_passed;
};

static void count_check(enum bundle_check check, bool skipped, const char *detail, void *arg)
{
    struct fixture *f = arg;

    assert_non_null(detail);
    if (!skipped)
        f->checks_passed |= 1u << check;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char err[256] = "";

    test_pki_make(&f->pki);
    (void)snprintf(f->dir, sizeof(f->dir), "/tmp/konn-bundle-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->payloads = fs_path_join(f->dir, "payloads");
    f->bundle = fs_path_join(f->dir, "b.tar");
    f->bad = fs_path_join(f->dir, "bad.tar");
    f->dest = fs_path_join(f->dir, "out");
    put_file(f->payloads, "core/konnektord", "\177ELF core", 9, 0755);
    put_file(f->payloads, "share/ptv.json", "{\"ptv\": \"3.5.0\"}", 16, 0644);
    assert_int_equal(bundle_create(test_template, strlen(test_template), f->payloads, f->pki.good,
                                   f->bundle, NULL, err, sizeof(err)),
                     0);
    f->opts = (struct bundle_verify_opts){
        .trust = f->pki.trust, .now_s = f->pki.now, .on_check = count_check, .arg = f};
    test_archive_load(f->bundle, &f->t);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    io_fault_clear();
    test_archive_done(&f->t);
    rm_rf(f->dir);
    free(f->payloads);
    free(f->bundle);
    free(f->bad);
    free(f->dest);
    test_pki_free(&f->pki);
    free(f);
    return 0;
}

/* Saves the (tampered) entry list as f->bad and verifies it; expects code, check and a
 * message containing needle. */
static void expect_bad(struct fixture *f, int code, enum bundle_check check, const char *needle)
{
    struct bundle_manifest *m = NULL;
    struct bundle_result res;

    test_archive_save(f->bad, &f->t);
    assert_int_equal(bundle_verify(f->bad, &f->opts, &m, &res), 0);
    assert_null(m);
    if (res.code != code || res.check != check || !strstr(res.message, needle))
        fail_msg("expected %d/%s/'%s', got %d/%s: %s", code, bundle_check_to_string(check), needle,
                 res.code, bundle_check_to_string(res.check), res.message);
}

static void good_bundle_verifies_with_every_check(void **state)
{
    struct fixture *f = *state;
    struct bundle_fwgroup *g = NULL;
    struct bundle_manifest *m = NULL;
    struct bundle_result res;
    const char *group = "{\"format\": 1, \"firmware_group_id\": \"G1\", \"product_vendor_id\": "
                        "\"KONN\", \"product_code\": \"KONNEKTD\", \"hw_version\": \"1.0.0\", "
                        "\"firmware_group_version\": \"7\", \"created\": \"2026-11-01\", "
                        "\"release_notes\": \"\", \"fw_versions\": [\"3.4.0\", \"3.5.0\"]}";

    assert_int_equal(bundle_fwgroup_parse(group, strlen(group), &g, NULL, 0), 0);
    f->opts.group = g;
    f->opts.product_vendor_id = "KONN";
    f->opts.product_code = "KONNEKTD";
    f->opts.hw_version = "1.0.0";
    assert_int_equal(bundle_verify(f->bundle, &f->opts, &m, &res), 0);
    assert_int_equal(res.code, 0);
    assert_int_equal(res.check, BUNDLE_CHECK_MAX);
    assert_int_equal(f->checks_passed, (1u << BUNDLE_CHECK_MAX) - 1);
    assert_non_null(m);
    assert_string_equal(m->fw_version, "3.5.0");
    assert_string_equal(m->product_type_version, "3.5.0");
    assert_true(bundle_manifest_has_feature(m, "NFDM"));
    assert_false(bundle_manifest_has_feature(m, "EPA"));
    assert_int_equal(m->n_payloads, 2);
    /* Byte order of the paths; the executable bit follows the file's. */
    assert_string_equal(m->payloads[0].path, "core/konnektord");
    assert_true(m->payloads[0].executable);
    assert_string_equal(m->payloads[1].path, "share/ptv.json");
    assert_false(m->payloads[1].executable);
    assert_int_equal(m->total_size, 25);
    bundle_manifest_free(m);
    bundle_fwgroup_free(g);
}

static void changed_manifest_byte_fails_the_signature(void **state)
{
    struct fixture *f = *state;
    struct test_entry *m = test_archive_find(&f->t, BUNDLE_MANIFEST_NAME);
    uint8_t *v = (uint8_t *)strstr((char *)m->data, "3.5.0");

    assert_non_null(v);
    v[4] = '1'; /* fw_version 3.5.1: still a valid manifest, but not the one signed */
    expect_bad(f, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_SIGNATURE, "does not match the signed bytes");
}

static void changed_payload_byte_fails_its_hash(void **state)
{
    struct fixture *f = *state;

    test_archive_find(&f->t, "payload/core/konnektord")->data[3] ^= 1;
    expect_bad(f, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_PAYLOADS,
               "'core/konnektord': SHA-256 differs");
}

static void missing_payload_fails(void **state)
{
    struct fixture *f = *state;

    test_archive_done(&f->t);
    test_archive_load(f->bundle, &f->t);
    free(f->t.e[f->t.n - 1].data);
    f->t.n--; /* drop share/ptv.json, the last entry */
    expect_bad(f, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_PAYLOADS,
               "'share/ptv.json' of the manifest is missing");
}

static void extra_file_fails(void **state)
{
    struct fixture *f = *state;

    (void)test_archive_add(&f->t, "payload/core/backdoor", AE_IFREG, "x");
    expect_bad(f, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_PAYLOADS,
               "'payload/core/backdoor' is not named by the manifest");
}

/* A name chosen by an attacker reaches messages (terminals, logs, JSON) only as printable
 * ASCII. */
static void control_characters_in_names_are_not_passed_on(void **state)
{
    struct fixture *f = *state;
    struct bundle_result res;

    (void)test_archive_add(&f->t, "payload/\x1b[2J\x07", AE_IFREG, "x");
    test_archive_save(f->bad, &f->t);
    assert_int_equal(bundle_verify(f->bad, &f->opts, NULL, &res), 0);
    assert_int_equal(res.code, BUNDLE_CODE_INTEGRITY);
    assert_non_null(strstr(res.message, "'payload/?[2J?'"));
    for (const char *p = res.message; *p; p++)
        assert_true(*p >= 0x20 && *p < 0x7f);
}

static void duplicate_entry_fails(void **state)
{
    struct fixture *f = *state;

    (void)test_archive_add(&f->t, "payload/share/ptv.json", AE_IFREG, "{\"ptv\": \"3.5.0\"}");
    expect_bad(f, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_PAYLOADS, "appears twice");
}

static void traversal_entry_fails(void **state)
{
    struct fixture *f = *state;

    (void)test_archive_add(&f->t, "payload/../x", AE_IFREG, "x");
    expect_bad(f, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_PAYLOADS,
               "'payload/../x' has an unsafe path: component '..' leaves the bundle");
}

static void absolute_entry_fails(void **state)
{
    struct fixture *f = *state;

    (void)test_archive_add(&f->t, "/etc/cron.d/x", AE_IFREG, "x");
    expect_bad(f, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_PAYLOADS,
               "'/etc/cron.d/x' is outside 'payload/'");
}

/* A vendor key that signs a manifest naming "../x" or "/x" does not get it written. */
static void signed_manifest_with_unsafe_path_fails(void **state)
{
    struct fixture *f = *state;
    struct test_entry *m = test_archive_find(&f->t, BUNDLE_MANIFEST_NAME);
    const char *bad[] = {"../x", "/etc/passwd", "a/../../x", "a//b"};
    const char *why[] = {"component '..'", "absolute", "component '..'", "empty component"};

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        char *json = strdup((char *)m->data);
        char *p = strstr(json, "share/ptv.json");
        char *edited = NULL;

        assert_non_null(p);
        *p = '\0';
        assert_true(asprintf(&edited, "%s%s%s", json, bad[i], p + strlen("share/ptv.json")) > 0);
        test_archive_resign(&f->t, edited, f->pki.good);
        expect_bad(f, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_MANIFEST, why[i]);
        free(edited);
        free(json);
        test_archive_done(&f->t);
        test_archive_load(f->bundle, &f->t);
        m = test_archive_find(&f->t, BUNDLE_MANIFEST_NAME);
    }
}

static void symlink_entry_fails(void **state)
{
    struct fixture *f = *state;
    struct test_entry *x = test_archive_add(&f->t, "payload/core/link", AE_IFLNK, NULL);

    (void)snprintf(x->link, sizeof(x->link), "/etc/shadow");
    expect_bad(f, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_PAYLOADS,
               "'payload/core/link' is a symbolic link");
}

static void directory_and_device_entries_fail(void **state)
{
    struct fixture *f = *state;

    (void)test_archive_add(&f->t, "payload/dir", AE_IFDIR, NULL);
    expect_bad(f, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_PAYLOADS, "is a directory");
    f->t.e[f->t.n - 1].type = AE_IFCHR;
    expect_bad(f, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_PAYLOADS, "is a device file");
}

static void signer_outside_the_trust_fails_the_chain(void **state)
{
    struct fixture *f = *state;

    test_archive_resign(&f->t, NULL, f->pki.foreign);
    expect_bad(f, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_CHAIN, "unable to get local issuer");
}

static void expired_signer_fails_the_chain(void **state)
{
    struct fixture *f = *state;

    test_archive_resign(&f->t, NULL, f->pki.stale);
    expect_bad(f, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_CHAIN, "certificate has expired");
}

static void good_signer_fails_after_its_validity(void **state)
{
    struct fixture *f = *state;

    f->opts.now_s = f->pki.now + 31 * DAY_S;
    test_archive_resign(&f->t, NULL, f->pki.good);
    expect_bad(f, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_CHAIN, "expired");
}

/* Root -> intermediate CA -> signer: the intermediate travels in the signature (--chain). */
static void intermediate_in_the_signature_completes_the_chain(void **state)
{
    struct fixture *f = *state;
    EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *key = EVP_EC_gen("P-256");
    X509 *ca = NULL, *cert = NULL;
    STACK_OF(X509) *chain = sk_X509_new_null();
    struct bundle_signer *with = NULL, *without = NULL;
    struct bundle_result res;

    /* A CA certificate from bundle__cert_make has no pathlen limit, so it may issue. */
    assert_int_equal(bundle__cert_make(ca_key, "intermediate", "T", true, f->pki.root,
                                       f->pki.root_key, f->pki.now - DAY_S, f->pki.now + DAY_S,
                                       &ca),
                     0);
    assert_int_equal(bundle__cert_make(key, "signer 2", "T", false, ca, ca_key, f->pki.now - DAY_S,
                                       f->pki.now + DAY_S, &cert),
                     0);
    assert_true(sk_X509_push(chain, ca) > 0);
    assert_int_equal(bundle__signer_new(key, cert, chain, &with), 0);
    assert_int_equal(bundle__signer_new(key, cert, NULL, &without), 0);
    test_archive_resign(&f->t, NULL, with);
    test_archive_save(f->bad, &f->t);
    assert_int_equal(bundle_verify(f->bad, &f->opts, NULL, &res), 0);
    assert_int_equal(res.code, 0);
    test_archive_resign(&f->t, NULL, without);
    expect_bad(f, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_CHAIN, "unable to get local issuer");
    bundle_signer_free(with);
    bundle_signer_free(without);
    sk_X509_free(chain);
    X509_free(cert);
    X509_free(ca);
    EVP_PKEY_free(key);
    EVP_PKEY_free(ca_key);
}

static void ca_key_may_not_sign_bundles(void **state)
{
    struct fixture *f = *state;

    test_archive_resign(&f->t, NULL, f->pki.ca_signs);
    expect_bad(f, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_KEY_USAGE, "is a CA");
}

static void garbage_signature_fails(void **state)
{
    struct fixture *f = *state;
    struct test_entry *sig = test_archive_find(&f->t, BUNDLE_SIGNATURE_NAME);

    /* The last bytes are the signature value; the middle holds the certificate. */
    sig->data[sig->len - 2] ^= 0x40;
    expect_bad(f, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_SIGNATURE, "does not match the signed bytes");
    sig->data[sig->len - 2] ^= 0x40;
    sig->data[0] = 0x31; /* a SET, not a SEQUENCE: no CMS at all */
    expect_bad(f, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_SIGNATURE, "no DER CMS structure");
}

static void manifest_not_first_fails(void **state)
{
    struct fixture *f = *state;
    struct test_entry tmp = f->t.e[0];

    f->t.e[0] = f->t.e[1];
    f->t.e[1] = tmp;
    expect_bad(f, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_ARCHIVE,
               "entry 'manifest.json.p7s' where 'manifest.json' must be");
}

static void wrong_firmware_group_fails_with_4185(void **state)
{
    struct fixture *f = *state;
    struct bundle_fwgroup *g = NULL;
    struct bundle_result res;
    const char *other_versions =
        "{\"format\": 1, \"firmware_group_id\": \"G1\", \"product_vendor_id\": \"KONN\", "
        "\"product_code\": \"KONNEKTD\", \"hw_version\": \"1.0.0\", \"firmware_group_version\": "
        "\"8\", \"created\": \"2026-11-01\", \"release_notes\": \"\", \"fw_versions\": "
        "[\"3.4.0\", \"3.6.0\"]}";
    const char *other_hw =
        "{\"format\": 1, \"firmware_group_id\": \"G2\", \"product_vendor_id\": \"KONN\", "
        "\"product_code\": \"KONNEKTD\", \"hw_version\": \"2.0.0\", \"firmware_group_version\": "
        "\"1\", \"created\": \"2026-11-01\", \"release_notes\": \"\", \"fw_versions\": "
        "[\"3.5.0\"]}";

    assert_int_equal(bundle_fwgroup_parse(other_versions, strlen(other_versions), &g, NULL, 0), 0);
    f->opts.group = g;
    assert_int_equal(bundle_verify(f->bundle, &f->opts, NULL, &res), 0);
    assert_int_equal(res.code, BUNDLE_CODE_FIRMWARE_GROUP);
    assert_int_equal(res.check, BUNDLE_CHECK_FIRMWARE_GROUP);
    assert_non_null(strstr(res.message, "firmware 3.5.0 is not in group 'G1' version 8"));
    g = bundle_fwgroup_free(g);
    assert_int_equal(bundle_fwgroup_parse(other_hw, strlen(other_hw), &g, NULL, 0), 0);
    f->opts.group = g;
    assert_int_equal(bundle_verify(f->bundle, &f->opts, NULL, &res), 0);
    assert_int_equal(res.code, BUNDLE_CODE_FIRMWARE_GROUP);
    assert_non_null(strstr(res.message, "hardware 2.0.0"));
    bundle_fwgroup_free(g);
}

static void other_product_fails_with_4185(void **state)
{
    struct fixture *f = *state;
    struct bundle_result res;

    f->opts.product_vendor_id = "KONN";
    f->opts.product_code = "OTHER";
    assert_int_equal(bundle_verify(f->bundle, &f->opts, NULL, &res), 0);
    assert_int_equal(res.code, BUNDLE_CODE_FIRMWARE_GROUP);
    assert_int_equal(res.check, BUNDLE_CHECK_PRODUCT);
    assert_non_null(strstr(res.message, "this device is KONN/OTHER"));
}

static void signed_group_verifies_and_tampered_group_does_not(void **state)
{
    struct fixture *f = *state;
    struct bundle_fwgroup *g = NULL;
    struct bundle_result res;
    uint8_t *p7s = NULL;
    size_t p7s_len = 0;
    char doc[] = "{\"format\": 1, \"firmware_group_id\": \"G1\", \"product_vendor_id\": "
                 "\"KONN\", \"product_code\": \"KONNEKTD\", \"hw_version\": \"1.0.0\", "
                 "\"firmware_group_version\": \"7\", \"created\": \"2026-11-01\", "
                 "\"release_notes\": \"\", \"fw_versions\": [\"3.4.0\"]}";

    assert_int_equal(bundle_fwgroup_sign(doc, strlen(doc), f->pki.good, &p7s, &p7s_len, NULL, 0),
                     0);
    assert_int_equal(bundle_fwgroup_verify(doc, strlen(doc), p7s, p7s_len, &f->opts, &g, &res), 0);
    assert_int_equal(res.code, 0);
    assert_true(bundle_fwgroup_has_version(g, "3.4.0"));
    g = bundle_fwgroup_free(g);
    /* Someone adds 3.5.0 to the list: the signature no longer matches. */
    memcpy(strstr(doc, "3.4.0"), "3.5.0", 5);
    assert_int_equal(bundle_fwgroup_verify(doc, strlen(doc), p7s, p7s_len, &f->opts, &g, &res), 0);
    assert_int_equal(res.code, BUNDLE_CODE_INTEGRITY);
    assert_int_equal(res.check, BUNDLE_CHECK_SIGNATURE);
    assert_null(g);
    free(p7s);
}

static void expect_cut_fails(struct fixture *f, const char *data, size_t cut, size_t len)
{
    struct bundle_result res;

    assert_int_equal(fs_write_atomic(f->bad, data, cut, 0644), 0);
    assert_int_equal(bundle_verify(f->bad, &f->opts, NULL, &res), 0);
    if (res.code != BUNDLE_CODE_INTEGRITY)
        fail_msg("cut at %zu of %zu: %d %s", cut, len, res.code, res.message);
}

static void truncated_archive_fails(void **state)
{
    struct fixture *f = *state;
    struct bundle_result res;
    char *data = NULL;
    size_t len = 0, last = 0;

    assert_int_equal(fs_read_all(f->bundle, 1 << 20, &data, &len), 0);
    /* The last payload's last byte; after it come only the tar's zero blocks. */
    for (size_t i = 0; i < len; i++)
        if (data[i])
            last = i;
    /* Every cut that loses a byte of content fails: at each 512-byte block, and the cut
     * that loses only the last byte. */
    for (size_t cut = 0; cut < last; cut += 512)
        expect_cut_fails(f, data, cut, len);
    expect_cut_fails(f, data, last, len);
    assert_int_equal(fs_write_atomic(f->bad, data, last - 3, 0644), 0);
    free(data);
    assert_int_equal(bundle_verify(f->bad, &f->opts, NULL, &res), 0);
    assert_int_equal(res.code, BUNDLE_CODE_INTEGRITY);
    assert_int_equal(res.check, BUNDLE_CHECK_PAYLOADS);
    assert_non_null(strstr(res.message, "truncated"));
}

/* Only the zero padding of the last tar record may follow the end-of-archive blocks. */
static void data_after_the_archive_fails(void **state)
{
    struct fixture *f = *state;
    struct bundle_result res;
    char *data = NULL, *more;
    size_t len = 0;

    assert_int_equal(fs_read_all(f->bundle, 1 << 20, &data, &len), 0);
    more = calloc(1, len + BUNDLE__CHUNK + 1);
    memcpy(more, data, len);
    /* 10240 zero bytes (a record's padding, as tar writes it) are fine. */
    assert_int_equal(fs_write_atomic(f->bad, more, len + 10240, 0644), 0);
    assert_int_equal(bundle_verify(f->bad, &f->opts, NULL, &res), 0);
    assert_int_equal(res.code, 0);
    more[len + 100] = 'x';
    assert_int_equal(fs_write_atomic(f->bad, more, len + 10240, 0644), 0);
    assert_int_equal(bundle_verify(f->bad, &f->opts, NULL, &res), 0);
    assert_int_equal(res.code, BUNDLE_CODE_INTEGRITY);
    assert_non_null(strstr(res.message, "data follows the end of the archive"));
    more[len + 100] = '\0';
    assert_int_equal(fs_write_atomic(f->bad, more, len + BUNDLE__CHUNK + 1, 0644), 0);
    assert_int_equal(bundle_verify(f->bad, &f->opts, NULL, &res), 0);
    assert_int_equal(res.code, BUNDLE_CODE_INTEGRITY);
    assert_non_null(strstr(res.message, "follow the end of the archive"));
    free(more);
    free(data);
}

static void missing_file_is_an_error_not_a_verdict(void **state)
{
    struct fixture *f = *state;
    struct bundle_result res;

    assert_int_equal(bundle_verify(f->dest, &f->opts, NULL, &res), -ENOENT);
    assert_int_equal(res.code, 0);
    assert_non_null(strstr(res.message, "cannot open"));
}

static void extract_writes_the_payloads_durably(void **state)
{
    struct fixture *f = *state;
    struct bundle_result res;
    struct stat st;
    char *data = NULL, *path;
    size_t len = 0;
    uint64_t fsyncs = io_calls(IO_OP_FSYNC);

    assert_int_equal(bundle_extract_payloads(f->bundle, &f->opts, f->dest, NULL, &res), 0);
    assert_int_equal(res.code, 0);
    path = fs_path_join(f->dest, "core/konnektord");
    assert_int_equal(fs_read_all(path, 100, &data, &len), 0);
    assert_memory_equal(data, "\177ELF core", 9);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0755);
    free(data);
    free(path);
    /* Two files and, through io_fsync_dir, core, share, the directory and its parent. */
    assert_true(io_calls(IO_OP_FSYNC) - fsyncs >= 6);
    /* A second extraction does not replace the first. */
    assert_int_equal(bundle_extract_payloads(f->bundle, &f->opts, f->dest, NULL, &res), -EEXIST);
}

/* Only dest_dir and the bundles remain in the test directory, apart from the payloads. */
static void assert_no_temporary_left(const struct fixture *f)
{
    char *pattern = NULL;
    DIR *d = opendir(f->dir);
    struct dirent *de;

    assert_non_null(d);
    while ((de = readdir(d)))
        if (strstr(de->d_name, ".tmp"))
            fail_msg("'%s' was left behind", de->d_name);
    closedir(d);
    free(pattern);
}

static void tampered_extract_leaves_nothing(void **state)
{
    struct fixture *f = *state;
    struct bundle_result res;

    /* The second payload is bad: the first was already written to the temporary directory. */
    test_archive_find(&f->t, "payload/share/ptv.json")->data[0] ^= 1;
    test_archive_save(f->bad, &f->t);
    assert_int_equal(bundle_extract_payloads(f->bad, &f->opts, f->dest, NULL, &res), 0);
    assert_int_equal(res.code, BUNDLE_CODE_INTEGRITY);
    assert_false(fs_exists(f->dest));
    assert_no_temporary_left(f);
}

static void extract_fails_cleanly_at_every_io_fault(void **state)
{
    static const enum io_op ops[] = {IO_OP_OPEN, IO_OP_PWRITE, IO_OP_FSYNC, IO_OP_RENAME};
    struct fixture *f = *state;
    struct bundle_result res;

    for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
        uint64_t before = io_calls(ops[i]), n;

        assert_int_equal(bundle_extract_payloads(f->bundle, &f->opts, f->dest, NULL, &res), 0);
        n = io_calls(ops[i]) - before;
        rm_rf(f->dest);
        for (uint64_t k = 1; k <= n; k++) {
            int r;

            io_fault_at(ops[i], k, EIO);
            r = bundle_extract_payloads(f->bundle, &f->opts, f->dest, NULL, &res);
            io_fault_clear();
            if (r == 0) {
                /* Only the last call (fsync of dest's parent, after the rename) may fail
                 * with the data already in place. */
                fail_msg("op %d call %" PRIu64 " of %" PRIu64 ": no error", ops[i], k, n);
            }
            if (fs_exists(f->dest) && !(ops[i] == IO_OP_FSYNC && k == n))
                fail_msg("op %d call %" PRIu64 ": dest exists after a failure", ops[i], k);
            rm_rf(f->dest);
            assert_no_temporary_left(f);
        }
    }
}

/* 64 MiB of mostly zeros with a few marks: the reader holds one chunk, not the payload. */
static void large_payload_streams_with_bounded_memory(void **state)
{
    struct fixture *f = *state;
    const uint64_t size = 64ULL << 20;
    struct bundle_manifest *m = NULL;
    struct bundle_result res;
    struct rusage before, after;
    char err[256] = "";
    char *big = fs_path_join(f->payloads, "core/image.bin");
    int fd = open(big, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)size), 0);
    for (uint64_t off = 0; off < size; off += 7 << 20)
        assert_int_equal(pwrite(fd, "mark", 4, (off_t)off), 4);
    assert_int_equal(close(fd), 0);
    assert_int_equal(bundle_create(test_template, strlen(test_template), f->payloads, f->pki.good,
                                   f->bad, NULL, err, sizeof(err)),
                     0);
    assert_int_equal(getrusage(RUSAGE_SELF, &before), 0);
    assert_int_equal(bundle_verify(f->bad, &f->opts, &m, &res), 0);
    assert_int_equal(getrusage(RUSAGE_SELF, &after), 0);
    assert_int_equal(res.code, 0);
    assert_int_equal(m->total_size, size + 25);
    /* ru_maxrss is in KiB; reading the payload into memory would add 64 MiB. */
    assert_true(after.ru_maxrss - before.ru_maxrss < 16 * 1024);
    bundle_manifest_free(m);
    free(big);
}

/* The golden files of tests/data/bundle (docs/update-bundle.md): a bundle, its vendor root
 * and a signed group document made once by konctl. Checked at a fixed time inside the root's
 * validity, so the test does not age. A format change that breaks them must come with new
 * golden files and a new format number. */
static void golden_bundle_verifies(void **state)
{
    const int64_t at = 1796083200; /* 2026-12-01T00:00:00Z */
    struct bundle_trust *trust = bundle_trust_new();
    struct bundle_verify_opts opts = {.trust = trust, .now_s = at};
    struct bundle_fwgroup *g = NULL;
    struct bundle_manifest *m = NULL;
    struct bundle_result res;
    char *doc = NULL, *p7s = NULL;
    size_t doc_len = 0, p7s_len = 0;

    (void)state;
    assert_int_equal(
        bundle_trust_add_file(trust, KONN_SOURCE_DIR "/tests/data/bundle/golden-root.pem"), 0);
    assert_int_equal(
        fs_read_all(KONN_SOURCE_DIR "/tests/data/bundle/golden-group.json", 4096, &doc, &doc_len),
        0);
    assert_int_equal(fs_read_all(KONN_SOURCE_DIR "/tests/data/bundle/golden-group.json.p7s",
                                 BUNDLE_SIGNATURE_MAX, &p7s, &p7s_len),
                     0);
    assert_int_equal(bundle_fwgroup_verify(doc, doc_len, p7s, p7s_len, &opts, &g, &res), 0);
    assert_int_equal(res.code, 0);
    opts.group = g;
    opts.product_vendor_id = "KONN";
    opts.product_code = "KONNEKTD";
    opts.hw_version = "1.0.0";
    assert_int_equal(
        bundle_verify(KONN_SOURCE_DIR "/tests/data/bundle/golden.tar", &opts, &m, &res), 0);
    assert_int_equal(res.code, 0);
    assert_string_equal(m->fw_version, "3.5.0");
    assert_true(m->critical);
    assert_string_equal(m->deadline, "2026-12-31");
    assert_int_equal(m->n_payloads, 2);
    assert_int_equal(m->payloads[0].size, 12);
    assert_int_equal(m->payloads[0].sha256[0], 0x05);
    bundle_manifest_free(m);
    bundle_fwgroup_free(g);
    bundle_trust_free(trust);
    free(doc);
    free(p7s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(golden_bundle_verifies),
        cmocka_unit_test_setup_teardown(good_bundle_verifies_with_every_check, setup, teardown),
        cmocka_unit_test_setup_teardown(changed_manifest_byte_fails_the_signature, setup, teardown),
        cmocka_unit_test_setup_teardown(changed_payload_byte_fails_its_hash, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_payload_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(extra_file_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(duplicate_entry_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(control_characters_in_names_are_not_passed_on, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(traversal_entry_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(absolute_entry_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(signed_manifest_with_unsafe_path_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(symlink_entry_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(directory_and_device_entries_fail, setup, teardown),
        cmocka_unit_test_setup_teardown(signer_outside_the_trust_fails_the_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(expired_signer_fails_the_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(good_signer_fails_after_its_validity, setup, teardown),
        cmocka_unit_test_setup_teardown(intermediate_in_the_signature_completes_the_chain, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(ca_key_may_not_sign_bundles, setup, teardown),
        cmocka_unit_test_setup_teardown(garbage_signature_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(manifest_not_first_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_firmware_group_fails_with_4185, setup, teardown),
        cmocka_unit_test_setup_teardown(other_product_fails_with_4185, setup, teardown),
        cmocka_unit_test_setup_teardown(signed_group_verifies_and_tampered_group_does_not, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(truncated_archive_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(data_after_the_archive_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_file_is_an_error_not_a_verdict, setup, teardown),
        cmocka_unit_test_setup_teardown(extract_writes_the_payloads_durably, setup, teardown),
        cmocka_unit_test_setup_teardown(tampered_extract_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(extract_fails_cleanly_at_every_io_fault, setup, teardown),
        cmocka_unit_test_setup_teardown(large_payload_streams_with_bounded_memory, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
