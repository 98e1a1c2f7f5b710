/* Unit tests for the table of gematik error codes (src/soap/errors.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "soap/soap_internal.h"

static bool one_of(const char *s, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, set[i]) == 0)
            return true;
    return false;
}

static void codes_are_unique_ascending_and_use_the_vocabularies(void **state)
{
    static const char *const severities[] = {"Info", "Warning", "Error", "Fatal"};
    static const char *const types[] = {"Security", "Technical", "Infrastructure", "Business"};
    const struct soap_error_def *prev = NULL, *d;
    size_t n = 0;

    for (size_t i = 0; (d = soap__error_at(i)); i++, n++) {
        if (prev)
            assert_true(d->code > prev->code);
        assert_true(one_of(d->severity, severities, ARRAY_SIZE(severities)));
        assert_true(one_of(d->error_type, types, ARRAY_SIZE(types)));
        assert_true(strlen(d->text) > 5);
        assert_ptr_equal(soap_error_def(d->code), d);
        prev = d;
    }
    assert_true(n >= 40);
}

static void the_codes_later_services_need_are_listed(void **state)
{
    static const int required[] = {4000, 4001, 4002, 4003, 4004, 4005, 4006, 4007, 4008,
                                   4009, 4010, 4011, 4012, 4016, 4021, 4043, 4045, 4047,
                                   4049, 4052, 4053, 4060, 4063, 4064, 4065, 4067, 4068,
                                   4072, 4085, 4092, 4093, 4094, 4209, 4280, 4281};

    for (size_t i = 0; i < ARRAY_SIZE(required); i++)
        if (!soap_error_def(required[i]))
            fail_msg("code %d is missing from the table", required[i]);
}

static void critical_state_is_security_fatal(void **state)
{
    const struct soap_error_def *d = soap_error_def(4002);

    assert_non_null(d);
    assert_string_equal(d->severity, "Fatal");
    assert_string_equal(d->error_type, "Security");
}

static void unknown_codes_are_null(void **state)
{
    assert_null(soap_error_def(0));
    assert_null(soap_error_def(3999));
    assert_null(soap_error_def(4013));
    assert_null(soap_error_def(99999));
    assert_null(soap__error_at(100000));
}

static void input_errors_blame_the_client(void **state)
{
    assert_true(soap__error_is_client(4000));
    assert_true(soap__error_is_client(4021));
    assert_true(soap__error_is_client(4280));
    assert_false(soap__error_is_client(4001));
    assert_false(soap__error_is_client(4002));
    assert_false(soap__error_is_client(4047));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(codes_are_unique_ascending_and_use_the_vocabularies),
        cmocka_unit_test(the_codes_later_services_need_are_listed),
        cmocka_unit_test(critical_state_is_security_fatal),
        cmocka_unit_test(unknown_codes_are_null),
        cmocka_unit_test(input_errors_blame_the_client),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
