/* Unit tests for password records: round trip, per-record iterations, malformed records. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/base.h"

static void record_matches_its_password_only(void **state)
{
    char a[PW_RECORD_MAX], b[PW_RECORD_MAX];

    (void)state;
    assert_int_equal(pw_record_make("correct horse", 1000, a, sizeof(a)), 0);
    assert_int_equal(strncmp(a, "pbkdf2-sha256$1000$", 19), 0);
    assert_int_equal(pw_record_verify("correct horse", a), 1);
    assert_int_equal(pw_record_verify("correct horsE", a), 0);
    assert_int_equal(pw_record_verify("", a), 0);
    /* A fresh salt each time: the same password gives another record. */
    assert_int_equal(pw_record_make("correct horse", 1000, b, sizeof(b)), 0);
    assert_string_not_equal(a, b);
    assert_int_equal(pw_record_verify("correct horse", b), 1);
}

static void bad_arguments_and_small_buffers_are_refused(void **state)
{
    char rec[PW_RECORD_MAX], small[32];

    (void)state;
    assert_int_equal(pw_record_make("pw", 0, rec, sizeof(rec)), -EINVAL);
    assert_int_equal(pw_record_make(NULL, 1000, rec, sizeof(rec)), -EINVAL);
    assert_int_equal(pw_record_make("pw", 1000, small, sizeof(small)), -ENAMETOOLONG);
    assert_int_equal(pw_record_dummy(1000, small, sizeof(small)), -ENAMETOOLONG);
}

static void dummy_record_is_well_formed_and_never_matches(void **state)
{
    char rec[PW_RECORD_MAX];

    (void)state;
    assert_int_equal(pw_record_dummy(1000, rec, sizeof(rec)), 0);
    assert_int_equal(pw_record_verify("", rec), 0);
    assert_int_equal(pw_record_verify("0", rec), 0);
}

static void malformed_records_are_refused(void **state)
{
    static const char *const bad[] = {
        "",
        "sha1$1000$00000000000000000000000000000000$"
        "0000000000000000000000000000000000000000000000000000000000000000",
        "pbkdf2-sha256$",
        "pbkdf2-sha256$1000$0011",
        "pbkdf2-sha256$0$00000000000000000000000000000000$"
        "0000000000000000000000000000000000000000000000000000000000000000",
        "pbkdf2-sha256$x$00000000000000000000000000000000$"
        "0000000000000000000000000000000000000000000000000000000000000000",
        "pbkdf2-sha256$1000$0000$" /* salt too short */
        "0000000000000000000000000000000000000000000000000000000000000000",
        "pbkdf2-sha256$1000$00000000000000000000000000000000$00", /* hash too short */
        "pbkdf2-sha256$1000$0000000000000000000000000000000G$"
        "0000000000000000000000000000000000000000000000000000000000000000",
        "pbkdf2-sha256$1000$00000000000000000000000000000000$"
        "000000000000000000000000000000000000000000000000000000000000000A",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(pw_record_verify("pw", bad[i]), -EBADMSG);
    assert_int_equal(pw_record_verify("pw", NULL), -EBADMSG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(record_matches_its_password_only),
        cmocka_unit_test(bad_arguments_and_small_buffers_are_refused),
        cmocka_unit_test(dummy_record_is_well_formed_and_never_matches),
        cmocka_unit_test(malformed_records_are_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
