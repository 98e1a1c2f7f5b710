/* Unit tests for the TAB_KON_503 table: completeness, spelling, Fatal set, parameters and
 * reset policies. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "base/base.h"
#include "state/state.h"

/* TAB_KON_503 row numbers (1-based) of the Fatal conditions, from the digest. */
static const int fatal_rows[] = {5, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 34};

static void table_has_34_entries_in_enum_order(void **state)
{
    assert_int_equal(EC_MAX, 34);
    for (int i = 0; i < EC_MAX; i++) {
        const struct ec_def *d = ec_def_get((enum ec_id)i);

        assert_non_null(d);
        assert_int_equal(d->id, i);
        assert_non_null(d->name);
        assert_true(strncmp(d->name, "EC_", 3) == 0);
        assert_non_null(d->description);
        assert_true(strlen(d->description) > 10);
        assert_true(d->type == EVT_TYPE_OPERATION || d->type == EVT_TYPE_SECURITY);
        assert_true(d->severity < EVT_SEVERITY_MAX);
        assert_true(d->detection_ms >= 1000);
        assert_true(d->reset < EC_RESET_MAX);
    }
    assert_null(ec_def_get(EC_MAX));
    assert_null(ec_def_get((enum ec_id) - 1));
}

static void names_are_unique_ignoring_case(void **state)
{
    for (int i = 0; i < EC_MAX; i++)
        for (int j = i + 1; j < EC_MAX; j++)
            assert_true(strcasecmp(ec_def_get(i)->name, ec_def_get(j)->name) != 0);
}

static void names_are_spelled_as_tab_kon_503(void **state)
{
    static const struct {
        enum ec_id id;
        const char *name;
    } spot[] = {
        {EC_CARDTERMINAL_SOFTWARE_OUT_OF_DATE, "EC_CardTerminal_Software_Out_Of_Date"},
        {EC_CARDTERMINAL_GSMC_KT_CERTIFICATE_EXPIRES_SOON,
         "EC_CardTerminal_gSMC-KT_Certificate_Expires_Soon"},
        {EC_FW_NOT_VALID_STATUS_BLOCKED, "EC_FW_Not_Valid_Status_Blocked"},
        {EC_BNETZA_VL_NOT_VALID, "EC_BNetzA_VL_not_valid"},
        {EC_LOG_OVERFLOW, "EC_LOG_OVERFLOW"},
        {EC_IP_ADRESSES_NOT_AVAILABLE, "EC_IP_Adresses_Not_Available"},
        {EC_SECURE_KEYSTORE_NOT_AVAILABLE, "EC_Secure_KeyStore_Not_Available"},
        {EC_SECURITY_LOG_NOT_WRITABLE, "EC_Security_Log_Not_Writable"},
        {EC_CRYPTOPERATION_ALARM, "EC_CRYPTOPERATION_ALARM"},
        {EC_OTHER_ERROR_STATE, "EC_OTHER_ERROR_STATE"},
        {EC_NK_CERTIFICATE_EXPIRED, "EC_NK_Certificate_Expired"},
    };

    for (size_t i = 0; i < ARRAY_SIZE(spot); i++)
        assert_string_equal(ec_def_get(spot[i].id)->name, spot[i].name);
}

static void fatal_set_is_rows_5_21_to_30_and_34(void **state)
{
    int n_fatal = 0;

    for (int i = 0; i < EC_MAX; i++) {
        bool expect = false;

        for (size_t k = 0; k < ARRAY_SIZE(fatal_rows); k++)
            expect = expect || fatal_rows[k] == i + 1;
        assert_int_equal(ec_def_get(i)->severity == EVT_SEVERITY_FATAL, expect);
        n_fatal += expect;
    }
    assert_int_equal(n_fatal, 12);
}

static void security_log_not_writable_is_operation_fatal_1s(void **state)
{
    const struct ec_def *d = ec_def_get(EC_SECURITY_LOG_NOT_WRITABLE);

    assert_int_equal(d->type, EVT_TYPE_OPERATION);
    assert_int_equal(d->severity, EVT_SEVERITY_FATAL);
    assert_int_equal(d->detection_ms, 1000);
}

static void detection_times_match_the_table(void **state)
{
    assert_int_equal(ec_def_get(EC_CARDTERMINAL_GSMC_KT_CERTIFICATE_EXPIRES_SOON)->detection_ms,
                     7LL * 86400 * 1000);
    assert_int_equal(ec_def_get(EC_NO_VPN_TI_CONNECTION)->detection_ms, 300LL * 1000);
    assert_int_equal(ec_def_get(EC_NO_ONLINE_CONNECTION)->detection_ms, 10LL * 1000);
    assert_int_equal(ec_def_get(EC_CRYPTOPERATION_ALARM)->detection_ms, 60LL * 1000);
    assert_int_equal(ec_def_get(EC_CRL_OUT_OF_DATE)->detection_ms, 86400LL * 1000);
    assert_int_equal(ec_def_get(EC_LOG_OVERFLOW)->detection_ms, 1000);
}

static void only_cardterminal_and_other_error_state_are_parameterised(void **state)
{
    for (int i = 0; i < EC_MAX; i++) {
        const struct ec_def *d = ec_def_get(i);
        bool ct = strncmp(d->name, "EC_CardTerminal_", 16) == 0;

        if (ct) {
            assert_true(d->parameterised);
            assert_string_equal(d->instance_param, "CtID");
        } else if (i == EC_OTHER_ERROR_STATE) {
            assert_true(d->parameterised);
            assert_string_equal(d->instance_param, "No");
        } else {
            assert_false(d->parameterised);
            assert_null(d->instance_param);
        }
    }
}

static void parameter_names_follow_the_table(void **state)
{
    const struct ec_def *d = ec_def_get(EC_TIME_DIFFERENCE_INTOLERABLE);

    assert_string_equal(d->params[0], "NtpTimedifference");
    assert_string_equal(d->params[1], "NtpMaxAllowedTimedifference");
    assert_null(d->params[2]);
    d = ec_def_get(EC_LOG_OVERFLOW);
    assert_string_equal(d->params[0], "Protokoll");
    assert_null(d->params[1]);
    d = ec_def_get(EC_CRYPTOPERATION_ALARM);
    assert_string_equal(d->params[0], "Operation");
    assert_string_equal(d->params[1], "Count");
    assert_string_equal(d->params[2], "Arbeitsplatz");
    d = ec_def_get(EC_NK_CERTIFICATE_EXPIRED);
    assert_string_equal(d->params[0], "Iccsn");
    assert_string_equal(d->params[1], "Serial");
    assert_null(ec_def_get(EC_SECURITY_LOG_NOT_WRITABLE)->params[0]);
}

static void reset_policies_follow_the_table(void **state)
{
    for (int i = 0; i < EC_MAX; i++) {
        enum ec_reset expect = EC_RESET_SITUATION;

        if (i == EC_LOG_OVERFLOW || i == EC_CRYPTOPERATION_ALARM)
            expect = EC_RESET_ADMIN_ONLY;
        else if (i == EC_TIME_SYNC_PENDING_WARNING || i == EC_TIME_SYNC_PENDING_CRITICAL ||
                 i == EC_TIME_DIFFERENCE_INTOLERABLE)
            expect = EC_RESET_ADMIN_OR_SITUATION;
        assert_int_equal(ec_def_get(i)->reset, expect);
    }
    assert_string_equal(ec_reset_to_string(EC_RESET_SITUATION), "situation");
    assert_string_equal(ec_reset_to_string(EC_RESET_ADMIN_ONLY), "admin");
    assert_string_equal(ec_reset_to_string(EC_RESET_ADMIN_OR_SITUATION), "admin-or-situation");
    assert_null(ec_reset_to_string(EC_RESET_MAX));
}

static void from_string_round_trips_in_any_case(void **state)
{
    for (int i = 0; i < EC_MAX; i++) {
        char lower[128];
        const char *name = ec_def_get(i)->name;
        enum ec_id id = EC_MAX;
        size_t k;

        assert_int_equal(ec_id_from_string(name, &id), 0);
        assert_int_equal(id, i);
        for (k = 0; name[k] && k + 1 < sizeof(lower); k++)
            lower[k] = (char)((name[k] >= 'A' && name[k] <= 'Z') ? name[k] + 32 : name[k]);
        lower[k] = '\0';
        id = EC_MAX;
        assert_int_equal(ec_id_from_string(lower, &id), 0);
        assert_int_equal(id, i);
    }
}

static void from_string_rejects_unknown_names(void **state)
{
    enum ec_id id = EC_LOG_OVERFLOW;

    assert_int_equal(ec_id_from_string("EC_NOPE", &id), -EINVAL);
    assert_int_equal(ec_id_from_string("", &id), -EINVAL);
    assert_int_equal(ec_id_from_string(NULL, &id), -EINVAL);
    assert_int_equal(ec_id_from_string("EC_LOG_OVERFLOW ", &id), -EINVAL);
    assert_int_equal(id, EC_LOG_OVERFLOW);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table_has_34_entries_in_enum_order),
        cmocka_unit_test(names_are_unique_ignoring_case),
        cmocka_unit_test(names_are_spelled_as_tab_kon_503),
        cmocka_unit_test(fatal_set_is_rows_5_21_to_30_and_34),
        cmocka_unit_test(security_log_not_writable_is_operation_fatal_1s),
        cmocka_unit_test(detection_times_match_the_table),
        cmocka_unit_test(only_cardterminal_and_other_error_state_are_parameterised),
        cmocka_unit_test(parameter_names_follow_the_table),
        cmocka_unit_test(reset_policies_follow_the_table),
        cmocka_unit_test(from_string_round_trips_in_any_case),
        cmocka_unit_test(from_string_rejects_unknown_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
