/* Tests of tools/konctl/logview.c: the filters of "log show" and the command for its next
 * page, reading a page, the table of entries with the new-marker, "--json --all" as one
 * object, and the statistics. Output is rendered into memory streams. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "konctl.h"
#include "logview.h"
#include "output.h"

/* A memory stream and what was written to it. */
struct capture {
    FILE *f;
    char *text;
    size_t len;
};

static void capture_open(struct capture *c)
{
    memset(c, 0, sizeof(*c));
    c->f = open_memstream(&c->text, &c->len);
    assert_non_null(c->f);
}

/* Closes the stream; c->text then holds everything written. */
static const char *capture_close(struct capture *c)
{
    assert_int_equal(fclose(c->f), 0);
    c->f = NULL;
    return c->text;
}

static void capture_done(struct capture *c)
{
    free(c->text);
}

static json_t *json_parse(const char *text)
{
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);

    if (!j)
        fail_msg("bad test JSON at %d: %s", err.position, err.text);
    return j;
}

/* ---- the filters ------------------------------------------------------------------------ */

static void query_parse_keeps_the_filters_and_expands_the_severity(void **state)
{
    struct logview_options o = {
        .log = "system",
        .from = "2026-11-29T08:00:00Z",
        .to = "1764403200000",
        .severity = "warning",
        .topic = "NK/",
        .limit = "50",
        .before = "900",
        .oldest = true,
    };
    struct logview_query q;
    char err[256];

    assert_int_equal(logview_query_parse(&o, &q, err, sizeof(err)), 0);
    assert_string_equal(q.log, "system");
    assert_string_equal(q.from, "2026-11-29T08:00:00Z");
    assert_string_equal(q.to, "1764403200000");
    assert_string_equal(q.severity, "Warning");
    assert_string_equal(q.topic, "NK/");
    assert_true(q.limit == 50);
    assert_true(q.before == 900);
    assert_true(q.after == 0);
    assert_true(q.oldest);
}

static void query_parse_leaves_absent_options_to_the_daemon(void **state)
{
    struct logview_options o = {0};
    struct logview_query q;
    char err[256];

    assert_int_equal(logview_query_parse(&o, &q, err, sizeof(err)), 0);
    assert_null(q.log);
    assert_null(q.from);
    assert_null(q.to);
    assert_null(q.severity);
    assert_null(q.topic);
    assert_true(q.limit == 0);
    assert_true(q.before == 0 && q.after == 0);
    assert_false(q.oldest);
}

static void query_parse_asks_for_full_pages_with_all(void **state)
{
    struct logview_options o = {.all = true};
    struct logview_query q;
    char err[256];

    assert_int_equal(logview_query_parse(&o, &q, err, sizeof(err)), 0);
    assert_true(q.limit == LOGVIEW_PAGE_MAX);

    /* --limit is the page size then. */
    o.limit = "10";
    assert_int_equal(logview_query_parse(&o, &q, err, sizeof(err)), 0);
    assert_true(q.limit == 10);
}

static void query_parse_names_the_bad_option(void **state)
{
    static const struct {
        struct logview_options o;
        const char *message;
    } cases[] = {
        {{.from = "2026-11-29"},
         "--from takes a UTC time like 2026-11-29T08:00:00Z or ms since 1970, not '2026-11-29'"},
        {{.to = "1969-12-31T00:00:00Z"},
         "--to takes a UTC time like 2026-11-29T08:00:00Z or ms since 1970, not "
         "'1969-12-31T00:00:00Z' (out of range)"},
        {{.limit = "0"}, "--limit takes a number of entries from 1, not '0'"},
        {{.limit = "ten"}, "--limit takes a number of entries from 1, not 'ten'"},
        {{.limit = "-5"}, "--limit takes a number of entries from 1, not '-5'"},
        {{.before = "x"}, "--before takes a sequence number, not 'x'"},
        {{.after = "1.5"}, "--after takes a sequence number, not '1.5'"},
    };
    char err[256];

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct logview_query q = {.log = "untouched"};

        assert_int_equal(logview_query_parse(&cases[i].o, &q, err, sizeof(err)), -EINVAL);
        assert_string_equal(err, cases[i].message);
        /* Out-parameters are written only on success. */
        assert_string_equal(q.log, "untouched");
    }
}

static void next_command_moves_the_cursor_in_the_order_asked_for(void **state)
{
    struct logview_query newest = {.limit = 5};
    struct logview_query oldest = {.oldest = true, .after = 10};
    char *cmd = NULL;

    cmd = logview_next_command(&newest, 246);
    assert_string_equal(cmd, "konctl log show --limit 5 --before 246");
    free(cmd);

    cmd = logview_next_command(&oldest, 110);
    assert_string_equal(cmd, "konctl log show --oldest --after 110");
    free(cmd);

    /* The other cursor, when given, stays. */
    newest.after = 7;
    cmd = logview_next_command(&newest, 246);
    assert_string_equal(cmd, "konctl log show --limit 5 --after 7 --before 246");
    free(cmd);
}

static void next_command_repeats_every_filter_quoted_for_the_shell(void **state)
{
    struct logview_query q = {
        .log = "system",
        .from = "2026-11-29T08:00:00Z",
        .to = "1764403200000",
        .severity = "Error",
        .topic = "it's a b",
        .limit = 1000,
    };
    char *cmd = logview_next_command(&q, 42);

    assert_string_equal(cmd, "konctl log show --log system --from 2026-11-29T08:00:00Z "
                             "--to 1764403200000 --severity Error --topic 'it'\\''s a b' "
                             "--limit 1000 --before 42");
    free(cmd);

    /* An empty value and shell characters are quoted; a newline cannot break the line. */
    q = (struct logview_query){.topic = "", .log = "$(x)\n;"};
    cmd = logview_next_command(&q, 1);
    assert_string_equal(cmd, "konctl log show --log '$(x) ;' --topic '' --before 1");
    free(cmd);
}

static void page_parse_reads_entries_and_the_next_cursor(void **state)
{
    json_t *more = json_parse("{\"entries\": [{\"seq\": 9}], \"next\": 9, \"last_logout\": null}");
    json_t *last = json_parse("{\"entries\": [], \"next\": null}");
    json_t *missing = json_parse("{\"entries\": []}");
    const json_t *entries = NULL;
    uint64_t next = 77;

    assert_int_equal(logview_page_parse(more, &entries, &next), 0);
    assert_int_equal(json_array_size(entries), 1);
    assert_true(next == 9);
    assert_int_equal(logview_page_parse(last, &entries, &next), 0);
    assert_int_equal(json_array_size(entries), 0);
    assert_true(next == 0);
    next = 77;
    assert_int_equal(logview_page_parse(missing, &entries, &next), 0);
    assert_true(next == 0);
    json_decref(more);
    json_decref(last);
    json_decref(missing);
}

static void page_parse_rejects_answers_that_are_not_pages(void **state)
{
    static const char *const bad[] = {
        "{}",
        "{\"entries\": {}}",
        "{\"entries\": null, \"next\": 1}",
        "{\"entries\": [], \"next\": \"12\"}",
        "{\"entries\": [], \"next\": 0}",
        "{\"entries\": [], \"next\": -3}",
        "{\"entries\": [], \"next\": 1.5}",
        "[]",
    };

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        json_t *j = json_parse(bad[i]);
        const json_t *entries = NULL;
        uint64_t next = 77;

        assert_int_equal(logview_page_parse(j, &entries, &next), -EBADMSG);
        assert_null(entries);
        assert_true(next == 77);
        json_decref(j);
    }
}

/* ---- the table of entries --------------------------------------------------------------- */

static void params_text_joins_key_values_with_spaces_in_the_daemons_order(void **state)
{
    json_t *p = json_parse("{\"user\": \"admin\", \"src\": \"10.0.0.7\", \"count\": 12, "
                           "\"reason\": \"bad password\", \"empty\": \"\", "
                           "\"quote\": \"say \\\"hi\\\" \\\\o/\", \"ok\": true}");
    json_t *none = json_object();
    char *text = NULL;

    text = logview_params_text(p);
    assert_string_equal(text, "user=admin src=10.0.0.7 count=12 reason=\"bad password\" "
                              "empty=\"\" quote=\"say \\\"hi\\\" \\\\o/\" ok=true");
    free(text);
    text = logview_params_text(none);
    assert_string_equal(text, "-");
    free(text);
    text = logview_params_text(NULL);
    assert_string_equal(text, "-");
    free(text);
    json_decref(p);
    json_decref(none);
}

static void params_text_cleans_control_characters(void **state)
{
    json_t *p = json_parse("{\"evil\": \"\\u001b[2J\", \"line\": \"a\\nb\"}");
    char *text = logview_params_text(p);

    assert_string_equal(text, "evil=\" [2J\" line=\"a b\"");
    free(text);
    json_decref(p);
}

/* Three entries of which the newest two are new since the last logout. */
static const char page_one[] =
    "[{\"seq\": 1043, \"time\": \"2026-11-29T08:51:17.123Z\", \"severity\": \"Warning\","
    "  \"type\": \"Security\", \"topic\": \"NK/FIREWALL/DROP\","
    "  \"params\": {\"src\": \"10.0.0.7\", \"count\": \"12\"}, \"new\": true},"
    " {\"seq\": 1042, \"time\": \"2026-11-29T08:50:00.000Z\", \"severity\": \"Info\","
    "  \"type\": \"Security\", \"topic\": \"MGM/LOGIN\", \"params\": {\"user\": \"admin\"},"
    "  \"new\": true},"
    " {\"seq\": 998, \"time\": \"2026-11-28T17:00:00.000Z\", \"severity\": \"Error\","
    "  \"type\": \"Security\", \"topic\": \"MGM/LOGOUT\", \"params\": {}, \"new\": false}]";

static void table_marks_new_entries_and_explains_the_marker(void **state)
{
    json_t *entries = json_parse(page_one);
    struct logview_table t;
    struct capture c;

    capture_open(&c);
    logview_table_init(&t, 0, false);
    assert_int_equal(logview_table_print(&t, c.f, entries), 0);
    assert_int_equal(logview_table_finish(&t, c.f, "2026-11-28T17:00:00.000Z"), 0);
    assert_string_equal(
        capture_close(&c),
        "   SEQ  TIME                      SEVERITY  TOPIC             PARAMS\n"
        "* 1043  2026-11-29T08:51:17.123Z  Warning   NK/FIREWALL/DROP  src=10.0.0.7 count=12\n"
        "* 1042  2026-11-29T08:50:00.000Z  Info      MGM/LOGIN         user=admin\n"
        "   998  2026-11-28T17:00:00.000Z  Error     MGM/LOGOUT        -\n"
        "* written since your last logout at 2026-11-28T17:00:00.000Z\n");
    assert_true(t.rows == 3);
    assert_true(t.new_rows == 2);
    capture_done(&c);
    json_decref(entries);
}

static void table_without_new_entries_has_no_legend(void **state)
{
    json_t *entries = json_parse("[{\"seq\": 5, \"time\": \"T\", \"severity\": \"Info\","
                                 " \"topic\": \"A\", \"params\": {\"k\": \"v\"}}]");
    struct logview_table t;
    struct capture c;

    capture_open(&c);
    logview_table_init(&t, 0, false);
    assert_int_equal(logview_table_print(&t, c.f, entries), 0);
    assert_int_equal(logview_table_finish(&t, c.f, "2026-11-28T17:00:00.000Z"), 0);
    assert_string_equal(capture_close(&c), "  SEQ  TIME  SEVERITY  TOPIC  PARAMS\n"
                                           "    5  T     Info      A      k=v\n");
    capture_done(&c);
    json_decref(entries);
}

static void table_legend_without_a_logout_time_and_missing_fields(void **state)
{
    json_t *entries = json_parse("[{\"seq\": 7, \"new\": true}]");
    struct logview_table t;
    struct capture c;

    capture_open(&c);
    logview_table_init(&t, 0, false);
    assert_int_equal(logview_table_print(&t, c.f, entries), 0);
    assert_int_equal(logview_table_finish(&t, c.f, NULL), 0);
    assert_string_equal(capture_close(&c), "  SEQ  TIME  SEVERITY  TOPIC  PARAMS\n"
                                           "*   7  -     -         -      -\n"
                                           "* written since your last logout\n");
    capture_done(&c);
    json_decref(entries);
}

static void table_without_entries_says_so(void **state)
{
    json_t *entries = json_array();
    struct logview_table t;
    struct capture c;

    capture_open(&c);
    logview_table_init(&t, 0, false);
    assert_int_equal(logview_table_print(&t, c.f, entries), 0);
    assert_int_equal(logview_table_print(&t, c.f, NULL), 0);
    assert_int_equal(logview_table_finish(&t, c.f, "2026-11-28T17:00:00.000Z"), 0);
    assert_string_equal(capture_close(&c), "no entries\n");
    capture_done(&c);
    json_decref(entries);
}

static void table_pages_share_one_header_and_widths_only_grow(void **state)
{
    json_t *wide = json_parse("[{\"seq\": 100, \"time\": \"T1\", \"severity\": \"Warning\","
                              " \"topic\": \"A/LONG/TOPIC\", \"params\": {}}]");
    json_t *narrow = json_parse("[{\"seq\": 99, \"time\": \"T2\", \"severity\": \"Info\","
                                " \"topic\": \"B\", \"params\": {}}]");
    struct logview_table t;
    struct capture c;

    capture_open(&c);
    logview_table_init(&t, 0, false);
    assert_int_equal(logview_table_print(&t, c.f, wide), 0);
    assert_int_equal(logview_table_print(&t, c.f, narrow), 0);
    assert_int_equal(logview_table_finish(&t, c.f, NULL), 0);
    assert_string_equal(capture_close(&c), "  SEQ  TIME  SEVERITY  TOPIC         PARAMS\n"
                                           "  100  T1    Warning   A/LONG/TOPIC  -\n"
                                           "   99  T2    Info      B             -\n");
    capture_done(&c);
    json_decref(wide);
    json_decref(narrow);
}

static void table_cuts_lines_to_the_terminal_width_between_characters(void **state)
{
    json_t *entries = json_parse("[{\"seq\": 1, \"time\": \"T\", \"severity\": \"Info\","
                                 " \"topic\": \"Ä\", \"params\": {\"k\": \"äöü-long-value\"}}]");
    struct logview_table t;
    struct capture c;

    capture_open(&c);
    logview_table_init(&t, 30, false);
    assert_int_equal(logview_table_print(&t, c.f, entries), 0);
    assert_string_equal(capture_close(&c), "  SEQ  TIME  SEVERITY  TOPIC …\n"
                                           "    1  T     Info      Ä     …\n");
    capture_done(&c);

    /* Wide enough: nothing is cut. */
    capture_open(&c);
    logview_table_init(&t, 46, false);
    assert_int_equal(logview_table_print(&t, c.f, entries), 0);
    assert_string_equal(capture_close(&c), "  SEQ  TIME  SEVERITY  TOPIC  PARAMS\n"
                                           "    1  T     Info      Ä      k=äöü-long-value\n");
    capture_done(&c);

    /* One character short: the last two give way to the mark. */
    capture_open(&c);
    logview_table_init(&t, 45, false);
    assert_int_equal(logview_table_print(&t, c.f, entries), 0);
    assert_string_equal(capture_close(&c), "  SEQ  TIME  SEVERITY  TOPIC  PARAMS\n"
                                           "    1  T     Info      Ä      k=äöü-long-val…\n");
    capture_done(&c);
    json_decref(entries);
}

static void table_header_is_bold_with_color(void **state)
{
    json_t *entries = json_parse("[{\"seq\": 1, \"time\": \"T\", \"severity\": \"Info\","
                                 " \"topic\": \"A\", \"params\": {}, \"new\": true}]");
    struct logview_table t;
    struct capture c;

    capture_open(&c);
    logview_table_init(&t, 0, true);
    assert_int_equal(logview_table_print(&t, c.f, entries), 0);
    assert_string_equal(capture_close(&c), "\033[1m  SEQ  TIME  SEVERITY  TOPIC  PARAMS\033[0m\n"
                                           "*   1  T     Info      A      -\n");
    capture_done(&c);
    json_decref(entries);
}

/* ---- --json --all ----------------------------------------------------------------------- */

static void json_stream_prints_what_the_whole_object_would(void **state)
{
    json_t *page1 = json_parse(page_one);
    json_t *page2 = json_parse("[{\"seq\": 5, \"params\": {\"b\": \"1\", \"a\": [1, 2]}},"
                               " {}]");
    json_t *whole = json_pack("{s:[]}", "entries");
    struct capture stream;
    struct capture once;
    size_t count = 0;

    assert_int_equal(json_array_extend(json_object_get(whole, "entries"), page1), 0);
    assert_int_equal(json_array_extend(json_object_get(whole, "entries"), page2), 0);
    capture_open(&stream);
    assert_int_equal(logview_json_begin(stream.f), 0);
    assert_int_equal(logview_json_add(stream.f, page1, &count), 0);
    assert_int_equal(logview_json_add(stream.f, page2, &count), 0);
    assert_int_equal(logview_json_end(stream.f, count), 0);
    assert_int_equal(count, 5);
    capture_open(&once);
    assert_int_equal(out_json_print(once.f, whole), 0);
    assert_string_equal(capture_close(&stream), capture_close(&once));
    capture_done(&stream);
    capture_done(&once);
    json_decref(page1);
    json_decref(page2);
    json_decref(whole);
}

static void json_stream_of_no_entries_is_an_empty_list(void **state)
{
    json_t *whole = json_pack("{s:[]}", "entries");
    json_t *empty = json_array();
    struct capture stream;
    struct capture once;
    size_t count = 0;

    capture_open(&stream);
    assert_int_equal(logview_json_begin(stream.f), 0);
    assert_int_equal(logview_json_add(stream.f, empty, &count), 0);
    assert_int_equal(logview_json_end(stream.f, count), 0);
    capture_open(&once);
    assert_int_equal(out_json_print(once.f, whole), 0);
    assert_string_equal(capture_close(&stream), capture_close(&once));
    assert_string_equal(stream.text, "{\n  \"entries\": []\n}\n");
    capture_done(&stream);
    capture_done(&once);
    json_decref(whole);
    json_decref(empty);
}

/* ---- statistics ------------------------------------------------------------------------- */

static const char stats_answer[] =
    "{\"capacity_bytes\": 268435456, \"used_bytes\": 12897280, \"segments\": 3,"
    " \"segments_max\": 64, \"first_seq\": 1, \"last_seq\": 52341, \"records\": 52341,"
    " \"oldest\": \"2026-11-01T00:00:00.000Z\", \"newest\": \"2026-11-29T08:00:00.000Z\","
    " \"dropped\": 0, \"folded\": 120, \"overflow_events\": 2, \"bytes_per_day\": 2500000.4,"
    " \"retention_days_possible\": 107.9, \"retention_days_setting\": 180,"
    " \"topics\": {\"MGM/LOGIN\": 20, \"NK/FIREWALL/DROP\": 52000, \"CARD/PIN\": 20,"
    " \"A/B\": 301}}";

static void stats_print_shows_space_retention_warning_and_topics(void **state)
{
    json_t *stats = json_parse(stats_answer);
    struct capture c;

    capture_open(&c);
    assert_int_equal(logview_stats_print(c.f, stats, NULL, false), 0);
    assert_string_equal(
        capture_close(&c),
        "log:              security\n"
        "used:             12897280 of 268435456 bytes (12.3 of 256.0 MiB, 4.8%)\n"
        "segments:         3 of 64\n"
        "records:          52341\n"
        "seq:              1..52341\n"
        "oldest:           2026-11-01T00:00:00.000Z\n"
        "newest:           2026-11-29T08:00:00.000Z\n"
        "dropped:          0\n"
        "folded:           120\n"
        "overflow events:  2\n"
        "bytes per day:    2500000 (2.4 MiB)\n"
        "\n"
        "retention possible: 107 days (setting: 180 days)\n"
        "warning: at this rate the space holds only 107 of the 180 days of SECURITY_LOG_DAYS;\n"
        "         entries are evicted before their time (EC_LOG_OVERFLOW): raise "
        "SECLOG_CAPACITY_MB\n"
        "\n"
        "TOPIC             ENTRIES\n"
        "NK/FIREWALL/DROP  52000\n"
        "A/B               301\n"
        "CARD/PIN          20\n"
        "MGM/LOGIN         20\n");
    capture_done(&c);
    json_decref(stats);
}

static void stats_print_warns_only_when_the_space_falls_short(void **state)
{
    json_t *stats = json_parse(stats_answer);
    struct capture c;

    /* Enough space for the system log's setting: no warning. */
    assert_int_equal(json_object_set_new(stats, "retention_days_possible", json_integer(400)), 0);
    capture_open(&c);
    assert_int_equal(logview_stats_print(c.f, stats, "system", false), 0);
    assert_non_null(strstr(capture_close(&c), "log:              system\n"));
    assert_non_null(strstr(c.text, "\nretention possible: 400 days (setting: 180 days)\n\n"));
    assert_null(strstr(c.text, "warning"));
    capture_done(&c);

    /* The system log's settings are named. */
    assert_int_equal(json_object_set_new(stats, "retention_days_possible", json_real(12.5)), 0);
    capture_open(&c);
    assert_int_equal(logview_stats_print(c.f, stats, "system", false), 0);
    assert_non_null(strstr(capture_close(&c), "only 12 of the 180 days of LOG_DAYS;\n"));
    assert_non_null(strstr(c.text, "raise SYSLOG_CAPACITY_MB\n"));
    capture_done(&c);

    /* No rate yet. */
    assert_int_equal(json_object_set_new(stats, "retention_days_possible", json_integer(0)), 0);
    capture_open(&c);
    assert_int_equal(logview_stats_print(c.f, stats, NULL, false), 0);
    assert_non_null(strstr(capture_close(&c),
                           "retention possible: unknown, no rate yet (setting: 180 days)\n"));
    assert_null(strstr(c.text, "warning"));
    capture_done(&c);
    json_decref(stats);
}

static void stats_print_survives_an_empty_answer(void **state)
{
    json_t *stats = json_object();
    struct capture c;

    capture_open(&c);
    assert_int_equal(logview_stats_print(c.f, stats, NULL, false), 0);
    assert_string_equal(capture_close(&c),
                        "log:              security\n"
                        "used:             - of - bytes\n"
                        "segments:         - of -\n"
                        "records:          -\n"
                        "seq:              -..-\n"
                        "oldest:           -\n"
                        "newest:           -\n"
                        "dropped:          -\n"
                        "folded:           -\n"
                        "overflow events:  -\n"
                        "bytes per day:    -\n"
                        "\n"
                        "retention possible: unknown, no rate yet (setting: - days)\n"
                        "\n"
                        "no topics\n");
    capture_done(&c);
    json_decref(stats);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(query_parse_keeps_the_filters_and_expands_the_severity),
        cmocka_unit_test(query_parse_leaves_absent_options_to_the_daemon),
        cmocka_unit_test(query_parse_asks_for_full_pages_with_all),
        cmocka_unit_test(query_parse_names_the_bad_option),
        cmocka_unit_test(next_command_moves_the_cursor_in_the_order_asked_for),
        cmocka_unit_test(next_command_repeats_every_filter_quoted_for_the_shell),
        cmocka_unit_test(page_parse_reads_entries_and_the_next_cursor),
        cmocka_unit_test(page_parse_rejects_answers_that_are_not_pages),
        cmocka_unit_test(params_text_joins_key_values_with_spaces_in_the_daemons_order),
        cmocka_unit_test(params_text_cleans_control_characters),
        cmocka_unit_test(table_marks_new_entries_and_explains_the_marker),
        cmocka_unit_test(table_without_new_entries_has_no_legend),
        cmocka_unit_test(table_legend_without_a_logout_time_and_missing_fields),
        cmocka_unit_test(table_without_entries_says_so),
        cmocka_unit_test(table_pages_share_one_header_and_widths_only_grow),
        cmocka_unit_test(table_cuts_lines_to_the_terminal_width_between_characters),
        cmocka_unit_test(table_header_is_bold_with_color),
        cmocka_unit_test(json_stream_prints_what_the_whole_object_would),
        cmocka_unit_test(json_stream_of_no_entries_is_an_empty_list),
        cmocka_unit_test(stats_print_shows_space_retention_warning_and_topics),
        cmocka_unit_test(stats_print_warns_only_when_the_space_falls_short),
        cmocka_unit_test(stats_print_survives_an_empty_answer),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
