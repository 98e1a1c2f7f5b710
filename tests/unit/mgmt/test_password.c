/* Unit tests for the password record: PBKDF2 round trip, rules, damaged records, and the
 * first administrator account. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "mgmt/mgmt_internal.h"

static void hash_verifies_right_and_refuses_wrong_password(void **state)
{
    char record[STORE_USER_HASH_MAX + 1], other[STORE_USER_HASH_MAX + 1];

    assert_int_equal(mgmt_password_hash("correct horse", record, sizeof(record)), 0);
    assert_int_equal(strncmp(record, "pbkdf2-sha256$600000$", 21), 0);
    assert_int_equal(mgmt_password_verify("correct horse", record), 1);
    assert_int_equal(mgmt_password_verify("correct horsf", record), 0);
    /* A fresh salt each time: the same password gives another record. */
    assert_int_equal(mgmt_password_hash("correct horse", other, sizeof(other)), 0);
    assert_string_not_equal(record, other);
}

static void damaged_records_are_refused(void **state)
{
    assert_int_equal(mgmt_password_verify("x", "md5$abc"), -EBADMSG);
    assert_int_equal(mgmt_password_verify("x", "pbkdf2-sha256$"), -EBADMSG);
    assert_int_equal(
        mgmt_password_verify("x", "pbkdf2-sha256$0$00112233445566778899aabbccddeeff$00"), -EBADMSG);
    assert_int_equal(mgmt_password_verify("x",
                                          "pbkdf2-sha256$10$zz112233445566778899aabbccddeeff$"
                                          "0011223344556677889900112233445566778899001122334455"
                                          "667788990011"),
                     -EBADMSG);
}

static void dummy_record_costs_a_full_derivation_and_never_matches(void **state)
{
    char real[STORE_USER_HASH_MAX + 1];
    const char *dummy = mgmt__password_dummy_record();

    assert_int_equal(mgmt_password_hash("x", real, sizeof(real)), 0);
    /* Same algorithm and iteration count as a real record. */
    assert_int_equal(strncmp(dummy, real, strchr(real + 14, '$') - real + 1), 0);
    assert_int_equal(strlen(dummy), strlen(real));
    assert_int_equal(mgmt_password_verify("", dummy), 0);
    assert_int_equal(mgmt_password_verify("not-a-password", dummy), 0);
}

static void password_rules_name_the_length(void **state)
{
    char msg[128];

    assert_int_equal(mgmt_password_check_rules("1234567", msg, sizeof(msg)), -EINVAL);
    assert_non_null(strstr(msg, "8 to 128"));
    assert_int_equal(mgmt_password_check_rules("12345678", msg, sizeof(msg)), 0);
    assert_int_equal(mgmt_password_check_rules(NULL, msg, sizeof(msg)), -EINVAL);
}

static void first_start_creates_super_admin_with_private_password_file(void **state)
{
    char dir[] = "/tmp/konn-mgmt-XXXXXX";
    struct store *st = NULL;
    struct store_user u;
    char *path, *data = NULL;
    size_t len;
    struct stat sb;

    assert_non_null(mkdtemp(dir));
    assert_int_equal(store_open(":memory:", &st), 0);
    assert_int_equal(mgmt_accounts_init(st, dir), 1);
    assert_int_equal(mgmt_accounts_init(st, dir), 0);
    assert_int_equal(store_user_get(st, MGMT_INITIAL_ADMIN, &u), 0);
    assert_int_equal(u.role, STORE_ROLE_SUPER_ADMIN);
    path = fs_path_join(dir, "initial-admin-password");
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(fs_read_all(path, 256, &data, &len), 0);
    assert_int_equal(len, 21);
    data[20] = '\0';
    assert_int_equal(mgmt_password_verify(data, u.pwhash), 1);
    free(data);
    unlink(path);
    free(path);
    rmdir(dir);
    store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hash_verifies_right_and_refuses_wrong_password),
        cmocka_unit_test(damaged_records_are_refused),
        cmocka_unit_test(dummy_record_costs_a_full_derivation_and_never_matches),
        cmocka_unit_test(password_rules_name_the_length),
        cmocka_unit_test(first_start_creates_super_admin_with_private_password_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
