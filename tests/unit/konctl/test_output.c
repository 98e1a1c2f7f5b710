/* Tests of tools/konctl/output.c: the LED panel with and without colour, colour decisions,
 * tables, text of JSON values and JSON printing. Output is rendered into memory streams. */
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

static json_t *leds(const char *power, const char *system, const char *vpn, const char *service)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "power", power, "system", system, "vpn", vpn,
                          "service", service);

    assert_non_null(j);
    return j;
}

static void leds_print_plain_names_each_state(void **state)
{
    json_t *j = leds("on", "blink", "off", "off");
    struct capture c;

    capture_open(&c);
    assert_int_equal(out_leds_print(c.f, j, false), 0);
    assert_string_equal(capture_close(&c), "power: on  system: blink  vpn: off  service: off\n");
    /* No escape sequence without colour. */
    assert_null(strchr(c.text, '\033'));
    capture_done(&c);
    json_decref(j);
}

static void leds_print_color_draws_the_front_panel(void **state)
{
    json_t *j = leds("on", "on", "blink", "off");
    struct capture c;

    capture_open(&c);
    assert_int_equal(out_leds_print(c.f, j, true), 0);
    assert_string_equal(capture_close(&c), "POWER \033[32m●\033[0m  "
                                           "SYSTEM \033[32m●\033[0m  "
                                           "VPN \033[5m\033[32m◐\033[0m blink  "
                                           "SERVICE ○\n");
    capture_done(&c);
    json_decref(j);
}

static void leds_print_color_lights_service_in_amber(void **state)
{
    json_t *j = leds("off", "off", "off", "on");
    struct capture c;

    capture_open(&c);
    assert_int_equal(out_leds_print(c.f, j, true), 0);
    assert_string_equal(capture_close(&c), "POWER ○  SYSTEM ○  VPN ○  SERVICE \033[33m●\033[0m\n");
    capture_done(&c);

    json_decref(j);
    j = leds("on", "on", "on", "blink");
    capture_open(&c);
    assert_int_equal(out_leds_print(c.f, j, true), 0);
    assert_non_null(strstr(capture_close(&c), "SERVICE \033[5m\033[33m◐\033[0m blink\n"));
    capture_done(&c);
    json_decref(j);
}

static void leds_print_shows_missing_and_unknown_states(void **state)
{
    json_t *j = json_pack("{s:s, s:s, s:i}", "power", "on", "system", "flash", "vpn", 3);
    struct capture c;

    capture_open(&c);
    assert_int_equal(out_leds_print(c.f, j, false), 0);
    assert_string_equal(capture_close(&c), "power: on  system: flash  vpn: ?  service: ?\n");
    capture_done(&c);

    capture_open(&c);
    assert_int_equal(out_leds_print(c.f, j, true), 0);
    assert_string_equal(capture_close(&c),
                        "POWER \033[32m●\033[0m  SYSTEM ? flash  VPN ?  SERVICE ?\n");
    capture_done(&c);
    json_decref(j);
}

static void leds_print_cleans_daemon_text(void **state)
{
    json_t *j = leds("on", "\033[2J", "off", "off");
    struct capture c;

    capture_open(&c);
    assert_int_equal(out_leds_print(c.f, j, false), 0);
    assert_string_equal(capture_close(&c), "power: on  system:  [2J  vpn: off  service: off\n");
    capture_done(&c);
    json_decref(j);
}

static void color_resolve_follows_mode_terminal_and_no_color(void **state)
{
    enum out_color_mode mode;

    assert_true(out_color_resolve(OUT_COLOR_AUTO, true, NULL));
    assert_true(out_color_resolve(OUT_COLOR_AUTO, true, ""));
    assert_false(out_color_resolve(OUT_COLOR_AUTO, true, "1"));
    assert_false(out_color_resolve(OUT_COLOR_AUTO, false, NULL));
    assert_true(out_color_resolve(OUT_COLOR_ALWAYS, false, "1"));
    assert_false(out_color_resolve(OUT_COLOR_NEVER, true, NULL));

    assert_int_equal(out_color_mode_from_string("always", &mode), 0);
    assert_int_equal(mode, OUT_COLOR_ALWAYS);
    assert_int_equal(out_color_mode_from_string("never", &mode), 0);
    assert_int_equal(mode, OUT_COLOR_NEVER);
    assert_int_equal(out_color_mode_from_string("auto", &mode), 0);
    assert_int_equal(mode, OUT_COLOR_AUTO);
    assert_int_equal(out_color_mode_from_string("yes", &mode), -EINVAL);
    assert_int_equal(mode, OUT_COLOR_AUTO);
}

static void duration_format_names_the_largest_units_first(void **state)
{
    char buf[64];

    assert_string_equal(out_duration_format(0, buf, sizeof(buf)), "0s");
    assert_string_equal(out_duration_format(59, buf, sizeof(buf)), "59s");
    assert_string_equal(out_duration_format(12345, buf, sizeof(buf)), "3h 25m 45s");
    assert_string_equal(out_duration_format(864000, buf, sizeof(buf)), "10d");
    assert_string_equal(out_duration_format(90061, buf, sizeof(buf)), "1d 1h 1m 1s");
    assert_string_equal(out_duration_format(-1, buf, sizeof(buf)), "-");
    /* A short buffer is cut, never overrun. */
    assert_string_equal(out_duration_format(90061, buf, 6), "1d 1h");
}

static void table_aligns_columns_by_characters(void **state)
{
    static const char *const headers[] = {"NAME", "STATE", "NOTE"};
    struct out_table *t = out_table_new(3, headers);
    struct capture c;

    assert_non_null(t);
    out_table_add(t, "power");
    out_table_add(t, "●");
    out_table_add(t, "last");
    out_table_add(t, "sv");
    out_table_add(t, "Prüfung");
    out_table_add(t, NULL);
    assert_int_equal(out_table_rows(t), 2);

    capture_open(&c);
    assert_int_equal(out_table_print(t, c.f, false), 0);
    assert_string_equal(capture_close(&c), "NAME   STATE    NOTE\n"
                                           "power  ●        last\n"
                                           "sv     Prüfung  -\n");
    capture_done(&c);
    out_table_free(t);
}

static void table_without_header_prints_key_value_rows(void **state)
{
    struct out_table *t = out_table_new(2, NULL);
    struct capture c;

    assert_non_null(t);
    out_table_add(t, "hostname:");
    out_table_add(t, "konn-1");
    out_table_add(t, "boot time:");
    out_table_add(t, "2026-11-29T08:51:17.123Z");
    /* An incomplete last row is left out. */
    out_table_add(t, "dangling");

    capture_open(&c);
    assert_int_equal(out_table_print(t, c.f, true), 0);
    assert_string_equal(capture_close(&c), "hostname:   konn-1\n"
                                           "boot time:  2026-11-29T08:51:17.123Z\n");
    capture_done(&c);
    out_table_free(t);
}

static void table_leaves_no_trailing_blanks_after_empty_cells(void **state)
{
    static const char *const headers[] = {"NAME", "RESET", "PARAMS"};
    struct out_table *t = out_table_new(3, headers);
    struct capture c;

    assert_non_null(t);
    out_table_add(t, "EC_LOG_OVERFLOW");
    out_table_add(t, "admin");
    out_table_add(t, "");
    out_table_add(t, "EC_X");
    out_table_add(t, "");
    out_table_add(t, "");

    capture_open(&c);
    assert_int_equal(out_table_print(t, c.f, false), 0);
    assert_string_equal(capture_close(&c), "NAME             RESET  PARAMS\n"
                                           "EC_LOG_OVERFLOW  admin\n"
                                           "EC_X\n");
    capture_done(&c);
    out_table_free(t);
}

static void table_header_is_bold_with_color_and_cells_are_cleaned(void **state)
{
    static const char *const headers[] = {"A", "B"};
    struct out_table *t = out_table_new(2, headers);
    struct capture c;

    assert_non_null(t);
    out_table_add(t, "x\033]0;pwned\007");
    out_table_add(t, "line1\nline2");

    capture_open(&c);
    assert_int_equal(out_table_print(t, c.f, true), 0);
    assert_string_equal(capture_close(&c), "\033[1mA            B\033[0m\n"
                                           "x ]0;pwned   line1 line2\n");
    capture_done(&c);
    out_table_free(t);
}

static void json_text_renders_each_type(void **state)
{
    json_t *v =
        json_pack("{s:s, s:I, s:f, s:b, s:n, s:[s,s], s:{s:s, s:i}}", "s", "text", "i",
                  (json_int_t)42, "r", 1.5, "b", 1, "n", "a", "x", "y", "o", "z", "1", "a", 2);
    char *s = NULL;

    assert_non_null(v);
    s = out_json_text(json_object_get(v, "s"));
    assert_string_equal(s, "text");
    free(s);
    s = out_json_text(json_object_get(v, "i"));
    assert_string_equal(s, "42");
    free(s);
    s = out_json_text(json_object_get(v, "r"));
    assert_string_equal(s, "1.5");
    free(s);
    s = out_json_text(json_object_get(v, "b"));
    assert_string_equal(s, "true");
    free(s);
    s = out_json_text(json_object_get(v, "n"));
    assert_string_equal(s, "-");
    free(s);
    s = out_json_text(NULL);
    assert_string_equal(s, "-");
    free(s);
    s = out_json_text(json_object_get(v, "a"));
    assert_string_equal(s, "x, y");
    free(s);
    /* Empty containers show as "-", like a missing value. */
    json_object_set_new(v, "e", json_array());
    s = out_json_text(json_object_get(v, "e"));
    assert_string_equal(s, "-");
    free(s);
    json_object_set_new(v, "e", json_object());
    s = out_json_text(json_object_get(v, "e"));
    assert_string_equal(s, "-");
    free(s);
    /* Objects in key order, whatever order they came in. */
    s = out_json_text(json_object_get(v, "o"));
    assert_string_equal(s, "a=2, z=1");
    free(s);
    json_decref(v);
}

static void json_print_sorts_keys_and_indents(void **state)
{
    json_t *v = json_pack("{s:i, s:s}", "zeta", 1, "alpha", "x");
    struct capture c;

    capture_open(&c);
    assert_int_equal(out_json_print(c.f, v), 0);
    assert_int_equal(out_json_print(c.f, NULL), 0);
    assert_string_equal(capture_close(&c), "{\n  \"alpha\": \"x\",\n  \"zeta\": 1\n}\n");
    capture_done(&c);
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(leds_print_plain_names_each_state),
        cmocka_unit_test(leds_print_color_draws_the_front_panel),
        cmocka_unit_test(leds_print_color_lights_service_in_amber),
        cmocka_unit_test(leds_print_shows_missing_and_unknown_states),
        cmocka_unit_test(leds_print_cleans_daemon_text),
        cmocka_unit_test(color_resolve_follows_mode_terminal_and_no_color),
        cmocka_unit_test(duration_format_names_the_largest_units_first),
        cmocka_unit_test(table_aligns_columns_by_characters),
        cmocka_unit_test(table_without_header_prints_key_value_rows),
        cmocka_unit_test(table_leaves_no_trailing_blanks_after_empty_cells),
        cmocka_unit_test(table_header_is_bold_with_color_and_cells_are_cleaned),
        cmocka_unit_test(json_text_renders_each_type),
        cmocka_unit_test(json_print_sorts_keys_and_indents),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
