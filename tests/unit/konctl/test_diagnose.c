/* Tests of tools/konctl/diagnose.c: each situation from its facts, several at once, the
 * dominant producers and Plan A's settings and estimate, and the human text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "diagnose.h"

/* Facts of a connector that answers, with LEDs and log statistics; conditions, settings and
 * the last fallback are filled in by each test. */
#define HEALTHY_FACTS                                                                              \
    "{\"management\": {\"state\": \"ok\"}, \"control\": {\"state\": \"ok\"},"                      \
    " \"soap\": {\"state\": \"ok\"},"                                                              \
    " \"leds\": {\"power\": \"on\", \"system\": \"on\", \"vpn\": \"on\", \"service\": \"off\"},"   \
    " \"conditions\": [],"                                                                         \
    " \"log\": {\"capacity_bytes\": 100000000, \"used_bytes\": 1000, \"bytes_per_day\": 1000.0,"   \
    "          \"retention_days_setting\": 180, \"topics\": {\"MGM/LOGIN\": 10}},"                 \
    " \"settings\": {\"LOG_SUCCESSFUL_CRYPTO_OPS\": \"Disabled\", \"LOG_LEVEL_SYSLOG\": \"Info\"," \
    "              \"SECURITY_LOG_DAYS\": \"180\"},"                                               \
    " \"update\": {\"available\": true, \"last_fallback\": null}}"

static json_t *facts_with(const char *patch)
{
    json_t *f = json_loads(HEALTHY_FACTS, 0, NULL);
    json_t *p = patch ? json_loads(patch, 0, NULL) : json_object();

    assert_non_null(f);
    assert_non_null(p);
    assert_int_equal(json_object_update(f, p), 0);
    json_decref(p);
    return f;
}

static json_t *classify(const char *patch)
{
    json_t *facts = facts_with(patch);
    json_t *report = diag_classify(facts);

    assert_non_null(report);
    json_decref(facts);
    return report;
}

static size_t n_situations(const json_t *report)
{
    return json_array_size(json_object_get(report, "situations"));
}

static const json_t *setting_change(const json_t *report, const char *name)
{
    const json_t *v;
    size_t i;

    json_array_foreach(json_object_get(json_object_get(report, "plan_a"), "settings"), i, v)
    {
        if (strcmp(json_string_value(json_object_get(v, "name")), name) == 0)
            return v;
    }
    return NULL;
}

static bool steps_mention(const json_t *report, const char *plan, const char *text)
{
    const json_t *v;
    size_t i;

    json_array_foreach(json_object_get(json_object_get(report, plan), "steps"), i, v)
    {
        if (strstr(json_string_value(v), text))
            return true;
    }
    return false;
}

static void healthy_when_nothing_is_wrong(void **state)
{
    json_t *r = classify(NULL);

    assert_true(diag_report_has(r, DIAG_HEALTHY));
    assert_int_equal(n_situations(r), 1);
    assert_int_equal(json_array_size(json_object_get(r, "findings")), 0);
    assert_true(json_is_true(json_object_get(json_object_get(r, "plan_a"), "available")));
    assert_int_equal(json_array_size(json_object_get(json_object_get(r, "plan_a"), "settings")), 0);
    json_decref(r);
}

static void log_overflow_names_dominant_producers_and_settings(void **state)
{
    json_t *r = classify(
        "{\"conditions\": [\"EC_LOG_OVERFLOW\"],"
        " \"settings\": {\"LOG_SUCCESSFUL_CRYPTO_OPS\": \"Enabled\", \"LOG_LEVEL_SYSLOG\": "
        "\"Info\"},"
        " \"log\": {\"capacity_bytes\": 16000000, \"used_bytes\": 16000000,"
        "          \"bytes_per_day\": 32000000.0, \"retention_days_setting\": 10,"
        "          \"topics\": {\"LOG/CRYPTO_OP\": 750, \"NK/FIREWALL/DROP\": 240,"
        "                       \"MGM/LOGIN\": 10}}}");
    const json_t *a = json_object_get(r, "plan_a");
    const json_t *dominant = json_object_get(a, "dominant");
    const json_t *crypto = setting_change(r, "LOG_SUCCESSFUL_CRYPTO_OPS");

    assert_true(diag_report_has(r, DIAG_LOG_OVERFLOW));
    assert_false(diag_report_has(r, DIAG_HEALTHY));
    assert_int_equal(n_situations(r), 1);
    /* 75% and 24% dominate, 1% does not. */
    assert_int_equal(json_array_size(dominant), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(dominant, 0), "topic")),
                        "LOG/CRYPTO_OP");
    assert_float_equal(json_real_value(json_object_get(json_array_get(dominant, 0), "share")), 0.75,
                       1e-9);
    assert_non_null(crypto);
    assert_string_equal(json_string_value(json_object_get(crypto, "to")), "Disabled");
    assert_non_null(setting_change(r, "LOG_LEVEL_SYSLOG"));
    /* 25% of the rate is left: 8 MB/day fill 16 MB in 2 days, before the 10 days retention. */
    assert_float_equal(json_real_value(json_object_get(a, "rate_after_bytes_per_day")), 8e6, 1);
    assert_float_equal(json_real_value(json_object_get(a, "retention_days_possible_after")), 2.0,
                       1e-9);
    assert_float_equal(json_real_value(json_object_get(a, "clears_in_days")), 2.0, 1e-9);
    assert_true(
        steps_mention(r, "plan_a", "konctl settings set LOG_SUCCESSFUL_CRYPTO_OPS Disabled"));
    assert_true(steps_mention(r, "plan_a", "NK/FIREWALL/DROP"));
    assert_true(steps_mention(r, "plan_a", "stop the dominant producer first"));
    assert_true(steps_mention(r, "plan_a", "konctl ec reset EC_LOG_OVERFLOW"));
    json_decref(r);
}

static void overflow_estimate_is_the_retention_when_the_rate_becomes_small(void **state)
{
    json_t *r = classify(
        "{\"conditions\": [\"EC_LOG_OVERFLOW\"],"
        " \"settings\": {\"LOG_SUCCESSFUL_CRYPTO_OPS\": \"Enabled\", \"LOG_LEVEL_SYSLOG\": "
        "\"Warning\"},"
        " \"log\": {\"capacity_bytes\": 100000000, \"bytes_per_day\": 50000000.0,"
        "          \"retention_days_setting\": 10, \"topics\": {\"LOG/CRYPTO_OP\": 99,"
        "          \"MGM/LOGIN\": 1}}}");
    const json_t *a = json_object_get(r, "plan_a");

    /* 1% of 50 MB/day fills 100 MB in 200 days: the storm ages out after the 10 days. */
    assert_float_equal(json_real_value(json_object_get(a, "clears_in_days")), 10.0, 1e-9);
    assert_null(setting_change(r, "LOG_LEVEL_SYSLOG"));
    assert_false(steps_mention(r, "plan_a", "stop the dominant producer first"));
    json_decref(r);
}

static void crypto_setting_already_off_is_not_changed(void **state)
{
    json_t *r = classify("{\"conditions\": [\"EC_LOG_OVERFLOW\"],"
                         " \"log\": {\"capacity_bytes\": 1000, \"bytes_per_day\": 100.0,"
                         "          \"topics\": {\"LOG/CRYPTO_OP\": 5}}}");

    assert_null(setting_change(r, "LOG_SUCCESSFUL_CRYPTO_OPS"));
    json_decref(r);
}

static void crypto_logging_goes_even_when_it_does_not_dominate(void **state)
{
    json_t *r =
        classify("{\"conditions\": [\"EC_LOG_OVERFLOW\"],"
                 " \"settings\": {\"LOG_SUCCESSFUL_CRYPTO_OPS\": \"Enabled\"},"
                 " \"log\": {\"capacity_bytes\": 1000000, \"bytes_per_day\": 1000000.0,"
                 "          \"retention_days_setting\": 10,"
                 "          \"topics\": {\"NK/FIREWALL/DROP\": 90, \"LOG/CRYPTO_OP\": 10}}}");
    const json_t *a = json_object_get(r, "plan_a");

    assert_non_null(setting_change(r, "LOG_SUCCESSFUL_CRYPTO_OPS"));
    assert_int_equal(json_array_size(json_object_get(a, "dominant")), 1);
    assert_float_equal(json_real_value(json_object_get(a, "rate_after_bytes_per_day")), 9e5, 1);
    json_decref(r);
}

static void log_not_writable(void **state)
{
    json_t *r = classify("{\"conditions\": [\"EC_Security_Log_Not_Writable\"]}");

    assert_true(diag_report_has(r, DIAG_LOG_NOT_WRITABLE));
    assert_int_equal(n_situations(r), 1);
    assert_true(steps_mention(r, "plan_a", "clears by itself"));
    json_decref(r);
}

static void firmware_blocked(void **state)
{
    json_t *r = classify("{\"conditions\": [\"EC_FW_Not_Valid_Status_Blocked\"]}");

    assert_true(diag_report_has(r, DIAG_FIRMWARE_BLOCKED));
    assert_true(steps_mention(r, "plan_a", "konctl update"));
    json_decref(r);
}

static void update_rolled_back(void **state)
{
    json_t *r = classify("{\"update\": {\"available\": true, \"last_fallback\": {\"from_slot\": "
                         "\"b\", \"from_version\": \"3.5.0\", \"reason\": \"never healthy\"}}}");
    char *text = json_dumps(json_object_get(r, "findings"), 0);

    assert_true(diag_report_has(r, DIAG_UPDATE_ROLLED_BACK));
    assert_non_null(strstr(text, "3.5.0"));
    assert_true(steps_mention(r, "plan_a", "konctl update pause"));
    free(text);
    json_decref(r);
}

static void hung_when_a_probe_times_out(void **state)
{
    json_t *r = classify("{\"management\": {\"state\": \"timeout\"}, \"leds\": null}");

    assert_true(diag_report_has(r, DIAG_HUNG));
    assert_false(diag_report_has(r, DIAG_DOWN));
    assert_false(json_is_true(json_object_get(json_object_get(r, "plan_a"), "available")));
    /* A loop blocked in slices takes a patient call: the step names Plan A's settings and
     * the recovery once no young entry has to be evicted. */
    assert_true(
        steps_mention(r, "plan_a", "konctl settings set LOG_SUCCESSFUL_CRYPTO_OPS Disabled"));
    assert_true(steps_mention(r, "plan_a", "recovers by itself"));
    json_decref(r);
    r = classify("{\"soap\": {\"state\": \"timeout\"}}");
    assert_true(diag_report_has(r, DIAG_HUNG));
    json_decref(r);
}

static void hung_when_system_is_off_with_power_on(void **state)
{
    json_t *r = classify("{\"leds\": {\"power\": \"on\", \"system\": \"off\"}}");

    assert_true(diag_report_has(r, DIAG_HUNG));
    json_decref(r);
    /* Blinking System (booting, Fatal condition) is not a hang. */
    r = classify("{\"leds\": {\"power\": \"on\", \"system\": \"blink\"}}");
    assert_true(diag_report_has(r, DIAG_HEALTHY));
    json_decref(r);
}

static void down_when_nothing_accepts_connections(void **state)
{
    json_t *r = classify("{\"management\": {\"state\": \"refused\"}, \"control\": {\"state\": "
                         "\"refused\"}, \"soap\": {\"state\": \"refused\"}, \"leds\": null,"
                         " \"log\": null}");

    assert_true(diag_report_has(r, DIAG_DOWN));
    assert_false(diag_report_has(r, DIAG_HUNG));
    assert_false(diag_report_has(r, DIAG_HEALTHY));
    json_decref(r);
}

static void several_situations_at_once_most_urgent_first(void **state)
{
    json_t *r =
        classify("{\"management\": {\"state\": \"timeout\"},"
                 " \"conditions\": [\"EC_LOG_OVERFLOW\", \"EC_Security_Log_Not_Writable\"]}");
    const json_t *names = json_object_get(r, "situations");

    assert_int_equal(json_array_size(names), 3);
    assert_string_equal(json_string_value(json_array_get(names, 0)), "hung");
    assert_string_equal(json_string_value(json_array_get(names, 1)), "log_not_writable");
    assert_string_equal(json_string_value(json_array_get(names, 2)), "log_overflow");
    json_decref(r);
}

static void missing_facts_are_unknown_not_a_crash(void **state)
{
    json_t *facts = json_object();
    json_t *r = diag_classify(facts);
    const json_t *a = json_object_get(r, "plan_a");

    assert_non_null(r);
    assert_true(diag_report_has(r, DIAG_HEALTHY));
    assert_true(json_is_null(json_object_get(a, "rate_bytes_per_day")));
    assert_true(json_is_null(json_object_get(a, "clears_in_days")));
    json_decref(r);
    json_decref(facts);
}

static void human_text_has_numbered_plans(void **state)
{
    json_t *r = classify("{\"conditions\": [\"EC_LOG_OVERFLOW\"],"
                         " \"settings\": {\"LOG_SUCCESSFUL_CRYPTO_OPS\": \"Enabled\"},"
                         " \"log\": {\"capacity_bytes\": 1000, \"bytes_per_day\": 100.0,"
                         "          \"topics\": {\"LOG/CRYPTO_OP\": 5}}}");
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    assert_non_null(f);
    assert_int_equal(diag_print(f, r, false), 0);
    assert_int_equal(fclose(f), 0);
    assert_non_null(strstr(text, "Situation: log_overflow"));
    assert_non_null(strstr(text, "Plan A"));
    assert_non_null(strstr(text, "  1. "));
    assert_non_null(strstr(text, "LOG/CRYPTO_OP"));
    assert_non_null(strstr(text, "Plan B"));
    assert_non_null(strstr(text, "konctl button reset"));
    assert_non_null(strstr(text, "Plan C"));
    assert_null(strstr(text, "\033["));
    free(text);
    json_decref(r);
}

static void human_text_says_when_the_updater_is_missing(void **state)
{
    json_t *r = classify(NULL);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    assert_int_equal(
        json_object_set_new(r, "facts", json_pack("{s:{s:s}}", "updater", "state", "not_found")),
        0);
    assert_non_null(f);
    assert_int_equal(diag_print(f, r, false), 0);
    assert_int_equal(fclose(f), 0);
    assert_non_null(strstr(text, "Situation: healthy"));
    assert_non_null(strstr(text, "updater not available"));
    assert_null(strstr(text, "Plan A"));
    free(text);
    json_decref(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(healthy_when_nothing_is_wrong),
        cmocka_unit_test(log_overflow_names_dominant_producers_and_settings),
        cmocka_unit_test(overflow_estimate_is_the_retention_when_the_rate_becomes_small),
        cmocka_unit_test(crypto_setting_already_off_is_not_changed),
        cmocka_unit_test(crypto_logging_goes_even_when_it_does_not_dominate),
        cmocka_unit_test(log_not_writable),
        cmocka_unit_test(firmware_blocked),
        cmocka_unit_test(update_rolled_back),
        cmocka_unit_test(hung_when_a_probe_times_out),
        cmocka_unit_test(hung_when_system_is_off_with_power_on),
        cmocka_unit_test(down_when_nothing_accepts_connections),
        cmocka_unit_test(several_situations_at_once_most_urgent_first),
        cmocka_unit_test(missing_facts_are_unknown_not_a_crash),
        cmocka_unit_test(human_text_has_numbered_plans),
        cmocka_unit_test(human_text_says_when_the_updater_is_missing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
