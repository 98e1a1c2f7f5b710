/* cmd_status: the read-only views of the connector's state: "status" (product, host, times,
 * clock, LED panel, active conditions), "leds" and "events".
 *
 * All three are "log viewing" in the critical-state gate (TAB_KON_504-01), so they work in
 * every state; they change nothing.
 *
 * Invariants:
 *  1. Times are shown as the daemon sent them; konctl adds a readable length next to a count
 *     of seconds but never converts a time stamp.
 *  2. A field the daemon leaves out shows as "-", so a newer or older daemon still prints. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "konctl.h"
#include "output.h"

static const char status_usage[] =
    "Usage: konctl status\n"
    "\n"
    "Shows product, firmware, host name, boot time, uptime, the clock, the LED panel and the\n"
    "active error conditions (GET /api/v1/status).\n";

static const char leds_usage[] =
    "Usage: konctl leds\n"
    "\n"
    "Shows the four LEDs of the front panel: Power, System, VPN, Service (GET /api/v1/leds).\n"
    "With colour: lit in green (Service in amber), blinking drawn as ◐ and the word 'blink'.\n";

static const char events_usage[] =
    "Usage: konctl events [--since SEQ]\n"
    "\n"
    "Shows the recent internal events (GET /api/v1/events). With --since, only events after\n"
    "sequence number SEQ; the last line gives the number to continue from.\n";

/* "ACME konnektord 0.1.0" from the product object. */
static char *product_text(const json_t *product)
{
    static const char *const keys[] = {"vendor", "name", "version"};
    char *buf = NULL;
    size_t len = 0;
    FILE *m = NULL;
    bool any = false;

    m = open_memstream(&buf, &len);
    if (!m)
        return NULL;
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        const char *s = json_string_value(json_object_get(product, keys[i]));
        if (!s || !s[0])
            continue;
        (void)fprintf(m, "%s%s", any ? " " : "", s);
        any = true;
    }
    if (!any)
        (void)fputs("-", m);
    if (fclose(m) != 0) {
        free(buf);
        return NULL;
    }
    return out_text_clean(buf);
}

static void add_row_text(struct out_table *t, const char *key, const char *value)
{
    out_table_add(t, key);
    out_table_add(t, value);
}

static void add_row_json(struct out_table *t, const char *key, const json_t *value)
{
    out_table_add(t, key);
    out_table_add_json(t, value);
}

/* "12345 s (3h 25m 45s)", or "42 s" below a minute, where the readable form would only repeat
 * the number. */
static void add_row_seconds(struct out_table *t, const char *key, const json_t *value)
{
    char length[64];
    char text[128];

    if (!json_is_integer(value)) {
        add_row_json(t, key, value);
        return;
    }
    if (json_integer_value(value) < 60)
        (void)snprintf(text, sizeof(text), "%" JSON_INTEGER_FORMAT " s", json_integer_value(value));
    else
        (void)snprintf(text, sizeof(text), "%" JSON_INTEGER_FORMAT " s (%s)",
                       json_integer_value(value),
                       out_duration_format(json_integer_value(value), length, sizeof(length)));
    add_row_text(t, key, text);
}

/* "VSDM, NFDM, AMTS, QES": the Fachmodule the running firmware offers; "-" when absent. */
static void add_row_features(struct out_table *t, const json_t *features)
{
    char text[512] = "";
    size_t len = 0, i;
    const json_t *f;

    json_array_foreach(features, i, f)
    {
        if (json_is_string(f) && len < sizeof(text))
            len += (size_t)snprintf(text + len, sizeof(text) - len, "%s%s", len ? ", " : "",
                                    json_string_value(f));
    }
    add_row_text(t, "features:", json_is_array(features) ? text : "-");
}

/* "2026-11-29T08:51:17.123Z (virtual, advanced by 10d)". */
static void add_row_clock(struct out_table *t, const json_t *clock)
{
    const json_t *offset = json_object_get(clock, "offset_ms");
    char *now = out_json_text(json_object_get(clock, "now"));
    char *mode = out_json_text(json_object_get(clock, "mode"));
    char length[64];
    char text[256];

    if (json_is_integer(offset) && json_integer_value(offset) > 0)
        (void)snprintf(
            text, sizeof(text), "%s (%s, advanced by %s)", now ? now : "?", mode ? mode : "?",
            out_duration_format(json_integer_value(offset) / 1000, length, sizeof(length)));
    else
        (void)snprintf(text, sizeof(text), "%s (%s)", now ? now : "?", mode ? mode : "?");
    add_row_text(t, "clock:", text);
    free(now);
    free(mode);
}

/* The vpn field is {"state": "up"} as in /control/v1/vpn, or just the state. */
static const json_t *vpn_state(const json_t *vpn)
{
    return json_is_object(vpn) ? json_object_get(vpn, "state") : vpn;
}

/* The conditions field is the array, or {"conditions": [...]} as in /api/v1/conditions. */
static const json_t *conditions_array(const json_t *v)
{
    return json_is_object(v) ? json_object_get(v, "conditions") : v;
}

static int print_status(const struct konctl *k, const json_t *st)
{
    const json_t *product = json_object_get(st, "product");
    const json_t *booted = json_object_get(st, "booted");
    struct out_table *t = NULL;
    char *prod = NULL;
    int r = KONCTL_EXIT_ERROR;

    t = out_table_new(2, NULL);
    prod = product_text(product);
    if (!t || !prod)
        goto out;
    add_row_text(t, "product:", prod);
    add_row_json(t, "firmware:", json_object_get(product, "firmware"));
    add_row_json(t, "product type version:", json_object_get(product, "product_type_version"));
    add_row_features(t, json_object_get(product, "features"));
    add_row_json(t, "hardware:", json_object_get(product, "hardware"));
    add_row_json(t, "hostname:", json_object_get(st, "hostname"));
    add_row_json(t, "boot time:", json_object_get(st, "boot_time"));
    add_row_seconds(t, "uptime:", json_object_get(st, "uptime_s"));
    add_row_text(t, "booted:", !booted ? "-" : json_is_true(booted) ? "yes" : "no (starting)");
    add_row_clock(t, json_object_get(st, "clock"));
    add_row_json(t, "vpn:", vpn_state(json_object_get(st, "vpn")));
    if (out_table_print(t, stdout, k->color) < 0)
        goto out;
    (void)fputc('\n', stdout);
    (void)out_leds_print(stdout, json_object_get(st, "leds"), k->color);
    (void)fputc('\n', stdout);
    if (cmd_ec_print_active(stdout, conditions_array(json_object_get(st, "conditions")), k->color) <
        0)
        goto out;
    r = KONCTL_EXIT_OK;
out:
    if (r == KONCTL_EXIT_ERROR)
        konctl_error("out of memory");
    free(prod);
    out_table_free(t);
    return r;
}

int cmd_status(struct konctl *k, int argc, char **argv)
{
    struct args a;
    int r;

    if (!args_command(k, argc, argv, NULL, 0, 0, 0, status_usage, &a, &r))
        return r;
    return konctl_show(k, "/api/v1/status", print_status);
}

int cmd_leds(struct konctl *k, int argc, char **argv)
{
    struct args a;
    json_t *answer = NULL;
    int r;

    if (!args_command(k, argc, argv, NULL, 0, 0, 0, leds_usage, &a, &r))
        return r;
    r = konctl_call(k, "GET", "/api/v1/leds", NULL, &answer);
    if (r != KONCTL_EXIT_OK)
        return r;
    if (k->json)
        (void)out_json_print(stdout, answer);
    else
        (void)out_leds_print(stdout, answer, k->color);
    json_decref(answer);
    return r;
}

static int print_events(const struct konctl *k, const json_t *answer)
{
    static const char *const headers[] = {"SEQ", "TIME", "TOPIC", "TYPE", "SEVERITY", "PARAMS"};
    const json_t *events = json_object_get(answer, "events");
    const json_t *ev = NULL;
    struct out_table *t = NULL;
    char *last = NULL;
    size_t i;
    int r = KONCTL_EXIT_ERROR;

    t = out_table_new(ARRAY_SIZE(headers), headers);
    last = out_json_text(json_object_get(answer, "last_seq"));
    if (!t || !last)
        goto out;
    json_array_foreach(events, i, ev)
    {
        out_table_add_json(t, json_object_get(ev, "seq"));
        out_table_add_json(t, json_object_get(ev, "time"));
        out_table_add_json(t, json_object_get(ev, "topic"));
        out_table_add_json(t, json_object_get(ev, "type"));
        out_table_add_json(t, json_object_get(ev, "severity"));
        out_table_add_json(t, json_object_get(ev, "params"));
    }
    if (json_array_size(events) == 0) {
        (void)printf("no events\n");
    } else if (out_table_print(t, stdout, k->color) < 0) {
        goto out;
    }
    if (json_is_integer(json_object_get(answer, "last_seq")))
        (void)printf("last seq: %s (continue with 'konctl events --since %s')\n", last, last);
    r = KONCTL_EXIT_OK;
out:
    if (r != KONCTL_EXIT_OK)
        konctl_error("out of memory");
    free(last);
    out_table_free(t);
    return r;
}

int cmd_events(struct konctl *k, int argc, char **argv)
{
    struct args_opt opts[] = {{"since", true, NULL}};
    char path[64] = "/api/v1/events";
    json_t *answer = NULL;
    struct args a;
    uint64_t since;
    int r;

    if (!args_command(k, argc, argv, opts, ARRAY_SIZE(opts), 0, 0, events_usage, &a, &r))
        return r;
    if (opts[0].value) {
        if (args_uint_parse(opts[0].value, UINT64_MAX, &since) < 0) {
            konctl_error("--since takes a sequence number, not '%s'", opts[0].value);
            return KONCTL_EXIT_USAGE;
        }
        (void)snprintf(path, sizeof(path), "/api/v1/events?since=%" PRIu64, since);
    }
    r = konctl_call(k, "GET", path, NULL, &answer);
    if (r != KONCTL_EXIT_OK)
        return r;
    if (k->json)
        (void)out_json_print(stdout, answer);
    else
        r = print_events(k, answer);
    json_decref(answer);
    return r;
}
