/* Unit tests for src/store/settings_table.c: the rules the table itself must keep. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/base.h"
#include "store/store.h"

static void expect_valid_default(const struct setting_def *def)
{
    char out[SETTING_VALUE_MAX] = "";
    char msg[256] = "";

    if (setting_validate(def, def->default_value, out, sizeof(out), msg, sizeof(msg)) < 0)
        fail_msg("default of %s is invalid: %s", def->name, msg);
    assert_string_equal(out, def->default_value);
}

/* ---- the table -------------------------------------------------------------------------- */

static void every_default_validates_in_its_normalised_spelling(void **state)
{
    for (size_t i = 0; i < setting_count(); i++) {
        const struct setting_def *def = setting_def_at(i);

        assert_non_null(def->doc);
        expect_valid_default(def);
    }
    assert_null(setting_def_at(setting_count()));
}

static void setting_names_are_unique_and_found_only_as_spelled(void **state)
{
    /* The parameters issue #2 names, plus the two log budgets. */
    static const char *const required[] = {
        "LOG_LEVEL_SYSLOG",    "LOG_DAYS",
        "SECURITY_LOG_DAYS",   "SECLOG_CAPACITY_MB",
        "SYSLOG_CAPACITY_MB",  "LOG_SUCCESSFUL_CRYPTO_OPS",
        "ANCL_TLS_MANDATORY",  "ANCL_CAUT_MANDATORY",
        "ANCL_CAUT_MODE",      "ANCL_DVD_OPEN",
        "EVT_MAX_TRY",         "MGM_LU_ONLINE",
        "MGM_KONN_HOSTNAME",   "MGM_KSR_AUTODOWNLOAD",
        "MGM_KSR_AUTO_UPDATE", "MGM_KSR_AUTO_UPDATE_TIME",
    };

    for (size_t i = 0; i < ARRAY_SIZE(required); i++)
        assert_non_null(setting_def_find(required[i]));
    for (size_t i = 0; i < setting_count(); i++) {
        assert_ptr_equal(setting_def_find(setting_def_at(i)->name), setting_def_at(i));
        for (size_t j = i + 1; j < setting_count(); j++)
            assert_string_not_equal(setting_def_at(i)->name, setting_def_at(j)->name);
    }
    assert_null(setting_def_find("log_days"));
    assert_null(setting_def_find("NO_SUCH_SETTING"));
    assert_null(setting_def_find(NULL));
}

static void enum_choices_leave_a_terminating_null(void **state)
{
    for (size_t i = 0; i < setting_count(); i++) {
        const struct setting_def *def = setting_def_at(i);

        if (def->type == SETTING_TYPE_ENUM) {
            assert_non_null(def->choices[0]);
            assert_null(def->choices[SETTING_CHOICES_MAX - 1]);
        }
    }
}

static void type_names_cover_every_type(void **state)
{
    assert_string_equal(setting_type_to_string(SETTING_TYPE_BOOL), "bool");
    assert_string_equal(setting_type_to_string(SETTING_TYPE_INT), "int");
    assert_string_equal(setting_type_to_string(SETTING_TYPE_ENUM), "enum");
    assert_string_equal(setting_type_to_string(SETTING_TYPE_STRING), "string");
    assert_string_equal(setting_type_to_string(SETTING_TYPE_TIME), "time");
    assert_string_equal(setting_type_to_string(SETTING_TYPE_URL), "url");
    assert_null(setting_type_to_string(SETTING_TYPE_MAX));
}

static void remote_admin_may_change_only_operational_settings(void **state)
{
    static const char *const remote[] = {
        "LOG_LEVEL_SYSLOG",          "LOG_DAYS",
        "LOG_SUCCESSFUL_CRYPTO_OPS", "EVT_MAX_TRY",
        "MGM_KSR_AUTODOWNLOAD",      "MGM_KSR_AUTO_UPDATE",
        "MGM_KSR_AUTO_UPDATE_TIME",
    };
    size_t n_remote = 0;

    for (size_t i = 0; i < setting_count(); i++) {
        const struct setting_def *def = setting_def_at(i);
        bool allowed = false;

        assert_true(def->roles & STORE_ROLE_BIT(STORE_ROLE_LOCAL_ADMIN));
        assert_true(def->roles & STORE_ROLE_BIT(STORE_ROLE_SUPER_ADMIN));
        for (size_t j = 0; j < ARRAY_SIZE(remote); j++)
            allowed |= strcmp(def->name, remote[j]) == 0;
        assert_int_equal(!!(def->roles & STORE_ROLE_BIT(STORE_ROLE_REMOTE_ADMIN)), allowed);
        n_remote += allowed;
    }
    assert_int_equal(n_remote, ARRAY_SIZE(remote));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_default_validates_in_its_normalised_spelling),
        cmocka_unit_test(setting_names_are_unique_and_found_only_as_spelled),
        cmocka_unit_test(enum_choices_leave_a_terminating_null),
        cmocka_unit_test(type_names_cover_every_type),
        cmocka_unit_test(remote_admin_may_change_only_operational_settings),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
