/* Unit tests for the HTTP Basic users of ANCL_CAUT_MODE=Password (src/soap/auth.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include <openssl/evp.h>

#include "soap/soap_internal.h"
#include "soap_test.h"

struct fixture {
    char dir[32];
    struct soap__users *users;
};

struct result {
    int calls;
    bool ok;
    uint8_t tag[SOAP__AUTH_TAG_LEN];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (!f)
        return -1;
    (void)str_copy(f->dir, sizeof(f->dir), "/tmp/konn-soap-auth-XXXXXX");
    if (!mkdtemp(f->dir) || soap__users_load(f->dir, &f->users) < 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    soap__users_free(f->users);
    rm_rf(f->dir);
    free(f);
    return 0;
}

/* "Basic base64(user:password)" */
static char *basic(const char *user, const char *password)
{
    static char header[512];
    char plain[300];
    int n = snprintf(plain, sizeof(plain), "%s:%s", user, password);

    memcpy(header, "Basic ", 6);
    (void)EVP_EncodeBlock((unsigned char *)header + 6, (unsigned char *)plain, n);
    return header;
}

static void on_done(bool ok, const uint8_t *tag, void *arg)
{
    struct result *r = arg;

    r->calls++;
    r->ok = ok;
    memcpy(r->tag, tag, SOAP__AUTH_TAG_LEN);
}

static struct result check(struct soap__users *users, const char *header)
{
    struct result r = {0};

    soap__users_check(users, NULL, header, on_done, &r);
    assert_int_equal(r.calls, 1);
    return r;
}

static void basic_header_is_decoded_into_name_and_password(void **state)
{
    char buf[128], *password = NULL;

    assert_int_equal(soap__basic_parse(basic("cs1", "pa:ss word"), buf, sizeof(buf), &password), 0);
    assert_string_equal(buf, "cs1");
    assert_string_equal(password, "pa:ss word");
    assert_int_equal(soap__basic_parse("basic Y3MxOnB3", buf, sizeof(buf), &password), 0);
    assert_string_equal(buf, "cs1");
    assert_string_equal(password, "pw");
    assert_int_equal(soap__basic_parse(NULL, buf, sizeof(buf), &password), -EINVAL);
    assert_int_equal(soap__basic_parse("Bearer abc", buf, sizeof(buf), &password), -EINVAL);
    assert_int_equal(soap__basic_parse("Basic !!!!", buf, sizeof(buf), &password), -EINVAL);
    assert_int_equal(soap__basic_parse("Basic bm9jb2xvbg==", buf, sizeof(buf), &password),
                     -EINVAL); /* "nocolon" */
    assert_int_equal(soap__basic_parse("Basic Y3MxOnB3", buf, 4, &password), -EINVAL);
}

static void right_password_passes_wrong_and_unknown_fail(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(soap__users_set(f->users, "cs1", "secret-123"), 0);
    assert_true(check(f->users, basic("cs1", "secret-123")).ok);
    assert_false(check(f->users, basic("cs1", "secret-124")).ok);
    assert_false(check(f->users, basic("cs2", "secret-123")).ok);
    assert_false(check(f->users, NULL).ok);
    assert_false(check(f->users, "Basic ####").ok);
}

static void users_survive_a_reload_and_the_file_is_private(void **state)
{
    struct fixture *f = *state;
    struct soap__users *again = NULL;
    char path[128];
    struct stat st;

    assert_int_equal(soap__users_set(f->users, "cs1", "secret-123"), 0);
    assert_int_equal(soap__users_set(f->users, "cs2", "other-pass"), 0);
    assert_int_equal(soap__users_set(f->users, "cs1", "changed-1"), 0);
    (void)snprintf(path, sizeof(path), "%s/identity/lan-basic-users", f->dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(soap__users_load(f->dir, &again), 0);
    assert_true(check(again, basic("cs1", "changed-1")).ok);
    assert_false(check(again, basic("cs1", "secret-123")).ok);
    assert_true(check(again, basic("cs2", "other-pass")).ok);
    soap__users_free(again);
}

static void removing_a_user_refuses_it_afterwards(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(soap__users_set(f->users, "cs1", "secret-123"), 0);
    assert_int_equal(soap__users_set(f->users, "cs1", NULL), 0);
    assert_false(check(f->users, basic("cs1", "secret-123")).ok);
    assert_int_equal(soap__users_set(f->users, "cs1", NULL), -ENOENT);
}

static void bad_names_and_passwords_are_einval(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(soap__users_set(f->users, "", "secret-123"), -EINVAL);
    assert_int_equal(soap__users_set(f->users, "a:b", "secret-123"), -EINVAL);
    assert_int_equal(soap__users_set(f->users, "cs1", "short"), -EINVAL);
    assert_int_equal(soap__users_set(f->users, NULL, "secret-123"), -EINVAL);
}

static void remembered_success_is_forgotten_when_the_password_changes(void **state)
{
    struct fixture *f = *state;
    struct result r;

    assert_int_equal(soap__users_set(f->users, "cs1", "secret-123"), 0);
    r = check(f->users, basic("cs1", "secret-123"));
    assert_true(r.ok);
    soap__users_remember(f->users, r.tag);
    assert_true(check(f->users, basic("cs1", "secret-123")).ok);
    assert_int_equal(soap__users_set(f->users, "cs1", "changed-12"), 0);
    assert_false(check(f->users, basic("cs1", "secret-123")).ok);
    /* A tag from before the change never matches the new record. */
    soap__users_remember(f->users, r.tag);
    assert_false(check(f->users, basic("cs1", "secret-123")).ok);
}

static void damaged_lines_are_skipped(void **state)
{
    struct fixture *f = *state;
    struct soap__users *again = NULL;
    char path[128];
    const char *junk = "no colon here\nbad name!:pbkdf2-sha256$1$00$00\n";

    assert_int_equal(soap__users_set(f->users, "cs1", "secret-123"), 0);
    (void)snprintf(path, sizeof(path), "%s/identity/lan-basic-users", f->dir);
    {
        char *data = NULL, *both;
        size_t len = 0;

        assert_int_equal(fs_read_all(path, 4096, &data, &len), 0);
        both = calloc(1, len + strlen(junk) + 1);
        assert_non_null(both);
        memcpy(both, junk, strlen(junk));
        memcpy(both + strlen(junk), data, len);
        assert_int_equal(fs_write_atomic(path, both, strlen(both), 0600), 0);
        free(both);
        free(data);
    }
    assert_int_equal(soap__users_load(f->dir, &again), 0);
    assert_true(check(again, basic("cs1", "secret-123")).ok);
    soap__users_free(again);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(basic_header_is_decoded_into_name_and_password),
        cmocka_unit_test_setup_teardown(right_password_passes_wrong_and_unknown_fail, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(users_survive_a_reload_and_the_file_is_private, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(removing_a_user_refuses_it_afterwards, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_names_and_passwords_are_einval, setup, teardown),
        cmocka_unit_test_setup_teardown(remembered_success_is_forgotten_when_the_password_changes,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(damaged_lines_are_skipped, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
