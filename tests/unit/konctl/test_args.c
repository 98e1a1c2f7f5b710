/* Tests of tools/konctl/args.c: command arguments, NAME(ID) conditions, durations, times,
 * numbers, roles and severities. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "konctl.h"

static void condition_parse_accepts_plain_name(void **state)
{
    char name[64];
    char inst[64];

    assert_int_equal(
        args_condition_parse("EC_LOG_OVERFLOW", name, sizeof(name), inst, sizeof(inst)), 0);
    assert_string_equal(name, "EC_LOG_OVERFLOW");
    assert_string_equal(inst, "");
}

static void condition_parse_splits_name_and_instance(void **state)
{
    char name[64];
    char inst[64];

    assert_int_equal(args_condition_parse("EC_CardTerminal_Not_Available(ct1)", name, sizeof(name),
                                          inst, sizeof(inst)),
                     0);
    assert_string_equal(name, "EC_CardTerminal_Not_Available");
    assert_string_equal(inst, "ct1");

    /* An instance may hold any printable text but parentheses: addresses, spaces. */
    assert_int_equal(
        args_condition_parse("EC_X(10.0.0.7:4742 a)", name, sizeof(name), inst, sizeof(inst)), 0);
    assert_string_equal(name, "EC_X");
    assert_string_equal(inst, "10.0.0.7:4742 a");
}

static void condition_parse_rejects_bad_forms(void **state)
{
    static const char *const bad[] = {
        "",           "(ct1)",    "EC_X(",      "EC_X()",      "EC_X(a)b",
        "EC_X(a(b))", "EC X",     "EC_X(a)(b)", "EC-X",        "EC_X)",
        "EC_X(a\nb)", "EC_X((a)", "EC_X(a",     "EC_X(a\x7f)", "EC_\xc3\xa4",
    };
    char name[64] = "untouched";
    char inst[64] = "untouched";

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        assert_int_equal(args_condition_parse(bad[i], name, sizeof(name), inst, sizeof(inst)),
                         -EINVAL);
        /* Out-parameters are written only on success. */
        assert_string_equal(name, "untouched");
        assert_string_equal(inst, "untouched");
    }
}

static void condition_parse_reports_parts_that_do_not_fit(void **state)
{
    char name[8];
    char inst[4];

    assert_int_equal(args_condition_parse("EC_1234", name, sizeof(name), inst, sizeof(inst)), 0);
    assert_int_equal(args_condition_parse("EC_12345", name, sizeof(name), inst, sizeof(inst)),
                     -ENAMETOOLONG);
    assert_int_equal(args_condition_parse("EC(abc)", name, sizeof(name), inst, sizeof(inst)), 0);
    assert_string_equal(inst, "abc");
    assert_int_equal(args_condition_parse("EC(abcd)", name, sizeof(name), inst, sizeof(inst)),
                     -ENAMETOOLONG);
}

static void duration_check_accepts_every_unit_and_plain_seconds(void **state)
{
    static const char *const good[] = {"10d", "2h", "15m", "90s", "90", "0", "007s"};

    for (size_t i = 0; i < ARRAY_SIZE(good); i++)
        assert_int_equal(args_duration_check(good[i]), 0);
}

static void duration_check_rejects_bad_syntax(void **state)
{
    static const char *const bad[] = {"",      "d",    "10x",  "10 d", "-5s",  "+5s",
                                      "1h30m", "10dd", "10D",  "1.5h", " 10s", "10s ",
                                      "10ms",  "s10",  "0x10", "10\n"};

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        assert_int_equal(args_duration_check(bad[i]), -EINVAL);
}

static void duration_check_rejects_lengths_beyond_int64_ms(void **state)
{
    /* INT64_MAX ms is 106751991167 days and 9223372036854775 seconds, rounded down. */
    assert_int_equal(args_duration_check("106751991167d"), 0);
    assert_int_equal(args_duration_check("106751991168d"), -ERANGE);
    assert_int_equal(args_duration_check("9223372036854775"), 0);
    assert_int_equal(args_duration_check("9223372036854776s"), -ERANGE);
    assert_int_equal(args_duration_check("99999999999999999999999999h"), -ERANGE);
    /* Bad syntax wins over size. */
    assert_int_equal(args_duration_check("99999999999999999999999999x"), -EINVAL);
}

static void time_check_accepts_iso_utc_and_plain_ms(void **state)
{
    static const char *const good[] = {
        "2026-11-29T08:00:00Z",
        "2026-11-29T08:51:17.123Z",
        "2026-11-29T23:59:59.123456789Z",
        "2024-02-29T00:00:00Z", /* a leap year */
        "2000-02-29T12:00:00.5Z",
        "2026-11-29T08:00:00+00:00",
        "2016-12-31T23:59:60Z", /* a leap second */
        "1970-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "1764403200000",
        "0",
        "9223372036854775807",
    };

    for (size_t i = 0; i < ARRAY_SIZE(good); i++)
        assert_int_equal(args_time_check(good[i]), 0);
}

static void time_check_rejects_other_forms_and_dates_that_do_not_exist(void **state)
{
    static const char *const bad[] = {
        "",
        "2026-11-29",                /* no time */
        "2026-11-29T08:00Z",         /* no seconds */
        "2026-11-29T08:00:00",       /* no zone */
        "2026-11-29T08:00:00+01:00", /* not UTC */
        "2026-11-29T08:00:00-00:00",
        "2026-11-29T08:00:00+0000",
        "2026-11-29 08:00:00Z",  /* space */
        "2026-11-29t08:00:00z",  /* lower case */
        "2026-11-29T08:00:00.Z", /* empty fraction */
        "2026-11-29T08:00:00.1234567890Z",
        "2026-11-29T08:00:00Zx",
        "26-11-29T08:00:00Z",
        "2026-1-29T08:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-11-00T00:00:00Z",
        "2026-11-31T00:00:00Z",
        "2026-02-29T00:00:00Z", /* not a leap year */
        "1900-02-29T00:00:00Z", /* nor this one */
        "2026-11-29T24:00:00Z",
        "2026-11-29T08:60:00Z",
        "2026-11-29T08:00:61Z",
        "-1",
        "+5",
        "12ms",
        " 12",
        "12 ",
        "yesterday",
    };

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        assert_int_equal(args_time_check(bad[i]), -EINVAL);
}

static void time_check_rejects_numbers_and_years_out_of_range(void **state)
{
    assert_int_equal(args_time_check("9223372036854775808"), -ERANGE);
    assert_int_equal(args_time_check("99999999999999999999999"), -ERANGE);
    assert_int_equal(args_time_check("1969-12-31T23:59:59Z"), -ERANGE);
    assert_int_equal(args_time_check("0000-01-01T00:00:00Z"), -ERANGE);
}

static void severity_expand_takes_any_case_and_passes_the_rest(void **state)
{
    assert_string_equal(args_severity_expand("warning"), "Warning");
    assert_string_equal(args_severity_expand("FATAL"), "Fatal");
    assert_string_equal(args_severity_expand("Info"), "Info");
    assert_string_equal(args_severity_expand("error"), "Error");
    assert_string_equal(args_severity_expand("Debug"), "Debug");
    assert_string_equal(args_severity_expand(""), "");
}

static void uint_parse_takes_whole_decimal_numbers_up_to_max(void **state)
{
    uint64_t v = 7;

    assert_int_equal(args_uint_parse("0", 10, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(args_uint_parse("30000", 30000, &v), 0);
    assert_int_equal(v, 30000);
    assert_int_equal(args_uint_parse("18446744073709551615", UINT64_MAX, &v), 0);
    assert_true(v == UINT64_MAX);

    v = 7;
    assert_int_equal(args_uint_parse("30001", 30000, &v), -ERANGE);
    assert_int_equal(args_uint_parse("18446744073709551616", UINT64_MAX, &v), -ERANGE);
    assert_int_equal(args_uint_parse("", 10, &v), -EINVAL);
    assert_int_equal(args_uint_parse("-1", 10, &v), -EINVAL);
    assert_int_equal(args_uint_parse("1a", 10, &v), -EINVAL);
    assert_int_equal(args_uint_parse(" 1", 10, &v), -EINVAL);
    assert_int_equal(v, 7);
}

static void parse_reads_options_values_and_positionals(void **state)
{
    char *argv[] = {"reset", "EC_X", "--instance", "ct1", "--table", "--role=super", NULL};
    struct args_opt opts[] = {{"instance", true, NULL},
                              {"table", false, NULL},
                              {"role", true, NULL},
                              {"password", true, NULL}};
    struct args a;
    char err[128];

    assert_int_equal(args_parse(6, argv, opts, ARRAY_SIZE(opts), &a, err, sizeof(err)), 0);
    assert_int_equal(a.n_pos, 1);
    assert_string_equal(a.pos[0], "EC_X");
    assert_string_equal(opts[0].value, "ct1");
    assert_string_equal(opts[1].value, "");
    assert_string_equal(opts[2].value, "super");
    assert_null(opts[3].value);
    assert_false(a.help);
    assert_false(a.json);
}

static void parse_treats_negative_numbers_and_words_after_dashes_as_values(void **state)
{
    char *argv[] = {"set", "MGM_X", "-5", "--", "--json", "-", NULL};
    struct args a;
    char err[128];

    assert_int_equal(args_parse(6, argv, NULL, 0, &a, err, sizeof(err)), 0);
    assert_int_equal(a.n_pos, 4);
    assert_string_equal(a.pos[1], "-5");
    assert_string_equal(a.pos[2], "--json");
    assert_string_equal(a.pos[3], "-");
    assert_false(a.json);
}

static void parse_knows_help_and_json_everywhere(void **state)
{
    char *argv[] = {"list", "--json", "-h", NULL};
    struct args a;
    char err[128];

    assert_int_equal(args_parse(3, argv, NULL, 0, &a, err, sizeof(err)), 0);
    assert_true(a.help);
    assert_true(a.json);
}

static void parse_names_the_bad_option(void **state)
{
    struct args_opt opts[] = {{"instance", true, NULL}, {"table", false, NULL}};
    char *unknown[] = {"list", "--tabel", NULL};
    char *missing[] = {"reset", "EC_X", "--instance", NULL};
    char *flag_value[] = {"list", "--table=yes", NULL};
    char *short_opt[] = {"list", "-t", NULL};
    struct args a;
    char err[128];

    assert_int_equal(args_parse(2, unknown, opts, 2, &a, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "unknown option '--tabel'");
    assert_int_equal(args_parse(3, missing, opts, 2, &a, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "option '--instance' needs a value");
    assert_int_equal(args_parse(2, flag_value, opts, 2, &a, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "option '--table' takes no value");
    assert_int_equal(args_parse(2, short_opt, opts, 2, &a, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "unknown option '-t'");
}

static void parse_refuses_more_positionals_than_it_holds(void **state)
{
    char *argv[ARGS_POS_MAX + 3] = {"x"};
    struct args a;
    char err[128];

    for (int i = 1; i < ARGS_POS_MAX + 2; i++)
        argv[i] = "w";
    assert_int_equal(args_parse(ARGS_POS_MAX + 1, argv, NULL, 0, &a, err, sizeof(err)), 0);
    assert_int_equal(args_parse(ARGS_POS_MAX + 2, argv, NULL, 0, &a, err, sizeof(err)), -EINVAL);
}

static void role_expand_maps_shorthands_and_passes_the_rest(void **state)
{
    assert_string_equal(args_role_expand("local"), "Local-Administrator");
    assert_string_equal(args_role_expand("REMOTE"), "Remote-Administrator");
    assert_string_equal(args_role_expand("super-administrator"), "Super-Administrator");
    assert_string_equal(args_role_expand("Auditor"), "Auditor");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(condition_parse_accepts_plain_name),
        cmocka_unit_test(condition_parse_splits_name_and_instance),
        cmocka_unit_test(condition_parse_rejects_bad_forms),
        cmocka_unit_test(condition_parse_reports_parts_that_do_not_fit),
        cmocka_unit_test(duration_check_accepts_every_unit_and_plain_seconds),
        cmocka_unit_test(duration_check_rejects_bad_syntax),
        cmocka_unit_test(duration_check_rejects_lengths_beyond_int64_ms),
        cmocka_unit_test(time_check_accepts_iso_utc_and_plain_ms),
        cmocka_unit_test(time_check_rejects_other_forms_and_dates_that_do_not_exist),
        cmocka_unit_test(time_check_rejects_numbers_and_years_out_of_range),
        cmocka_unit_test(severity_expand_takes_any_case_and_passes_the_rest),
        cmocka_unit_test(uint_parse_takes_whole_decimal_numbers_up_to_max),
        cmocka_unit_test(parse_reads_options_values_and_positionals),
        cmocka_unit_test(parse_treats_negative_numbers_and_words_after_dashes_as_values),
        cmocka_unit_test(parse_knows_help_and_json_everywhere),
        cmocka_unit_test(parse_names_the_bad_option),
        cmocka_unit_test(parse_refuses_more_positionals_than_it_holds),
        cmocka_unit_test(role_expand_maps_shorthands_and_passes_the_rest),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
