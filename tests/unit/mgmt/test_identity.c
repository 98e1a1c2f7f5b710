/* Unit tests for the management identity: generated once, reloaded, damage refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "mgmt/mgmt_internal.h"
#include "../test_tmp.h"

static void first_load_generates_and_second_load_reuses(void **state)
{
    char dir[] = "/tmp/konn-id-XXXXXX";
    struct mgmt_identity *a = NULL, *b = NULL;
    char fp[sizeof(a->fingerprint)];
    char *key;
    struct stat st;

    assert_non_null(mkdtemp(dir));
    assert_int_equal(mgmt_identity_load(dir, "konnektor", "10.0.0.5", &a), 0);
    (void)str_copy(fp, sizeof(fp), mgmt_identity_fingerprint(a));
    assert_int_equal(strlen(fp), 95);
    assert_int_equal(mgmt_identity_load(dir, "konnektor", NULL, &b), 0);
    assert_string_equal(fp, mgmt_identity_fingerprint(b));
    key = fs_path_join(dir, "identity/mgmt-key.pem");
    assert_int_equal(stat(key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    free(key);
    mgmt_identity_free(a);
    mgmt_identity_free(b);
    test_tmp_remove(dir);
}

static void damaged_certificate_is_refused_not_replaced(void **state)
{
    char dir[] = "/tmp/konn-id-XXXXXX";
    struct mgmt_identity *a = NULL;
    char *cert;

    assert_non_null(mkdtemp(dir));
    assert_int_equal(mgmt_identity_load(dir, "konnektor", NULL, &a), 0);
    mgmt_identity_free(a);
    a = NULL;
    cert = fs_path_join(dir, "identity/mgmt-cert.pem");
    assert_int_equal(fs_write_atomic(cert, "garbage", 7, 0644), 0);
    assert_int_equal(mgmt_identity_load(dir, "konnektor", NULL, &a), -EBADMSG);
    assert_null(a);
    free(cert);
    test_tmp_remove(dir);
}

static void ephemeral_identity_needs_no_disk(void **state)
{
    struct mgmt_identity *a = NULL;

    assert_int_equal(mgmt_identity_ephemeral("konnektor", &a), 0);
    assert_non_null(a->key);
    assert_non_null(a->cert);
    mgmt_identity_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(first_load_generates_and_second_load_reuses),
        cmocka_unit_test(damaged_certificate_is_refused_not_replaced),
        cmocka_unit_test(ephemeral_identity_needs_no_disk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
