/* cmd_world: the control API of the simulated world (/control/v1/): the connector's clock,
 * the VPN tunnel and fault injection. These exist for tests and demonstrations; a real
 * connector has no such knobs.
 *
 * Invariants:
 *  1. A duration is checked for form (args_duration_check) and then sent as typed, so the
 *     daemon's parser decides its meaning.
 *  2. "fault stall MS" waits MS longer than other requests: the daemon answers only after the
 *     stall, and the answer must not be mistaken for a timeout.
 *  3. "fault condition" reports what the daemon did, from its answer ("changed", "active"),
 *     never what was asked: an admin-only condition is not cleared this way and stays on.
 *  4. "fault flood" returns as soon as the daemon has started the flood; the events follow
 *     for the given seconds of real time while konctl is long gone. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "konctl.h"
#include "output.h"

/* Largest stall konctl sends, in ms: far above the daemon's limit (30000), which it reports
 * itself; this bound only keeps the timeout arithmetic small. */
#define STALL_MAX_MS 3600000

/* Longest condition name and instance id accepted, in bytes with the terminator, as in cmd_ec.c. */
#define EC_NAME_MAX 128
#define EC_INSTANCE_MAX 128

/* What "fault flood" sends without options (docs/konctl.md). */
#define FLOOD_TOPIC "NK/FIREWALL/DROP"
#define FLOOD_RATE 1000 /* events per second */
#define FLOOD_SECONDS 10

static const char clock_usage[] =
    "Usage: konctl clock show\n"
    "       konctl clock advance DURATION\n"
    "\n"
    "show              mode, current time and how far the clock was advanced (the default)\n"
    "advance DURATION  move the virtual clock forward; timers due in between fire in order.\n"
    "                  DURATION is a number with s, m, h or d (10d, 2h, 15m, 90s; plain\n"
    "                  number = seconds). Refused (exit 8) on the real clock.\n";

static const char vpn_usage[] =
    "Usage: konctl vpn show | up | down\n"
    "\n"
    "show  the state of the simulated VPN tunnel to the TI: up, connecting or down (default)\n"
    "up    bring it up (through 'connecting' for 2 s of connector time)\n"
    "down  take it down (raises EC_No_VPN_TI_Connection when MGM_LU_ONLINE is Enabled)\n";

static const char fault_usage[] =
    "Usage: konctl fault stall MS\n"
    "       konctl fault condition NAME[(ID)] on|off\n"
    "       konctl fault seclog-io-error on|off\n"
    "       konctl fault flood [--topic T] [--rate N] [--seconds S] [--distinct]\n"
    "       konctl fault legacy-log-cleanup on|off|status [--max-seconds N] [--force]\n"
    "\n"
    "stall MS            block the daemon's main loop for MS milliseconds (at most 30000),\n"
    "                    to exercise the watchdog; konctl waits for the answer\n"
    "condition NAME on   raise an error condition of TAB_KON_503 as its detector would;\n"
    "condition NAME off  or clear it. A parameterised one takes its instance as NAME(ID),\n"
    "                    e.g. 'EC_CardTerminal_Not_Available(ct1)'. An admin-only one\n"
    "                    (EC_LOG_OVERFLOW) stays on: 'konctl ec reset' ends it\n"
    "seclog-io-error on  make every write of the security log fail with EIO (the connector\n"
    "                    enters EC_Security_Log_Not_Writable within 1 s);\n"
    "seclog-io-error off let them succeed again (it leaves the condition by itself)\n"
    "flood               a storm of security events, as from a LAN broadcast storm; konctl\n"
    "                    returns at once while the daemon goes on for the given time\n"
    "  --topic T         the events' topic (default " FLOOD_TOPIC ")\n"
    "  --rate N          events per second, 1..100000 (default 1000)\n"
    "  --seconds S       for how long in real time, 1..3600 (default 10)\n"
    "  --distinct        make every event unique, so that none are folded\n"
    "legacy-log-cleanup  the 2020 fault: a cleanup that hogs the main loop in 3 s slices\n"
    "                    while the log is at its budget (or at once, --force), for at most\n"
    "                    --max-seconds (default 60); 'konctl fault legacy-log-cleanup --help'\n";

static int print_clock(const struct konctl *k, const json_t *clock)
{
    const json_t *offset = json_object_get(clock, "offset_ms");
    struct out_table *t = NULL;
    char length[64];
    char text[128];
    int r;

    t = out_table_new(2, NULL);
    if (!t)
        return -ENOMEM;
    out_table_add(t, "mode:");
    out_table_add_json(t, json_object_get(clock, "mode"));
    out_table_add(t, "now:");
    out_table_add_json(t, json_object_get(clock, "now"));
    out_table_add(t, "now_ms:");
    out_table_add_json(t, json_object_get(clock, "now_ms"));
    out_table_add(t, "advanced by:");
    if (json_is_integer(offset)) {
        (void)snprintf(
            text, sizeof(text), "%" JSON_INTEGER_FORMAT " ms (%s)", json_integer_value(offset),
            out_duration_format(json_integer_value(offset) / 1000, length, sizeof(length)));
        out_table_add(t, text);
    } else {
        out_table_add_json(t, offset);
    }
    r = out_table_print(t, stdout, k->color);
    out_table_free(t);
    return r == -ENOMEM ? r : 0;
}

/* Runs one request and prints its answer as JSON or with print. Returns an exit code. */
static int call_and_print(struct konctl *k, const char *method, const char *path,
                          const json_t *body,
                          int (*print)(const struct konctl *k, const json_t *answer))
{
    json_t *answer = NULL;
    int r;

    r = konctl_call(k, method, path, body, &answer);
    if (r != KONCTL_EXIT_OK)
        return r;
    if (k->json) {
        (void)out_json_print(stdout, answer);
    } else if (print(k, answer) < 0) {
        konctl_error("out of memory");
        r = KONCTL_EXIT_ERROR;
    }
    json_decref(answer);
    return r;
}

static int clock_show(struct konctl *k, int argc, char **argv)
{
    struct args a;
    int r;

    if (!args_command(k, argc, argv, NULL, 0, 0, 0, clock_usage, &a, &r))
        return r;
    return call_and_print(k, "GET", "/control/v1/clock", NULL, print_clock);
}

static int clock_advance(struct konctl *k, int argc, char **argv)
{
    json_t *body = NULL;
    struct args a;
    int r;

    if (!args_command(k, argc, argv, NULL, 0, 1, 1, clock_usage, &a, &r))
        return r;
    r = args_duration_check(a.pos[0]);
    if (r < 0) {
        konctl_error("'%s' is not a duration%s", a.pos[0], r == -ERANGE ? " (too long)" : "");
        konctl_hint("write a number with s, m, h or d, e.g. 10d, 2h, 15m, 90s (plain = s)");
        return KONCTL_EXIT_USAGE;
    }
    body = json_pack("{s:s}", "by", a.pos[0]);
    if (!body) {
        konctl_error("out of memory");
        return KONCTL_EXIT_ERROR;
    }
    r = call_and_print(k, "POST", "/control/v1/clock/advance", body, print_clock);
    json_decref(body);
    return r;
}

int cmd_clock(struct konctl *k, int argc, char **argv)
{
    static const char *const names[] = {"show", "advance"};
    int shift = 0;
    int r;
    int i;

    i = args_subcommand(argc, argv, names, ARRAY_SIZE(names), "show", clock_usage, &shift, &r);
    if (i < 0)
        return r;
    if (i == 0)
        return clock_show(k, argc - shift, argv + shift);
    return clock_advance(k, argc - shift, argv + shift);
}

static int print_vpn(const struct konctl *k, const json_t *answer)
{
    char *state = out_json_text(json_object_get(answer, "state"));

    if (!state)
        return -ENOMEM;
    (void)printf("vpn: %s\n", state);
    free(state);
    return 0;
}

int cmd_vpn(struct konctl *k, int argc, char **argv)
{
    static const char *const names[] = {"show", "up", "down"};
    json_t *body = NULL;
    struct args a;
    int shift = 0;
    int r;
    int i;

    i = args_subcommand(argc, argv, names, ARRAY_SIZE(names), "show", vpn_usage, &shift, &r);
    if (i < 0)
        return r;
    if (!args_command(k, argc - shift, argv + shift, NULL, 0, 0, 0, vpn_usage, &a, &r))
        return r;
    if (i == 0)
        return call_and_print(k, "GET", "/control/v1/vpn", NULL, print_vpn);
    body = json_pack("{s:s}", "state", names[i]);
    if (!body) {
        konctl_error("out of memory");
        return KONCTL_EXIT_ERROR;
    }
    r = call_and_print(k, "PUT", "/control/v1/vpn", body, print_vpn);
    json_decref(body);
    return r;
}

static int fault_stall(struct konctl *k, int argc, char **argv)
{
    json_t *answer = NULL;
    json_t *body = NULL;
    struct args a;
    uint64_t ms;
    int r;

    if (!args_command(k, argc, argv, NULL, 0, 1, 1, fault_usage, &a, &r))
        return r;
    if (args_uint_parse(a.pos[0], STALL_MAX_MS, &ms) < 0) {
        konctl_error("'%s' is not a number of milliseconds up to %d", a.pos[0], STALL_MAX_MS);
        return KONCTL_EXIT_USAGE;
    }
    body = json_pack("{s:I}", "ms", (json_int_t)ms);
    if (!body) {
        konctl_error("out of memory");
        return KONCTL_EXIT_ERROR;
    }
    /* The answer comes after the stall (invariant 2). */
    k->timeout_ms = KONCTL_REQUEST_TIMEOUT_MS + (long)ms;
    r = konctl_call(k, "POST", "/control/v1/fault/stall", body, &answer);
    if (r == KONCTL_EXIT_OK && k->json)
        (void)out_json_print(stdout, answer);
    else if (r == KONCTL_EXIT_OK)
        (void)printf("stalled the main loop for %" PRIu64 " ms\n", ms);
    json_decref(answer);
    json_decref(body);
    return r;
}

/* One line on what the daemon did to the condition (invariant 3). shown is NAME or NAME(ID). */
static void print_condition(const json_t *answer, const char *shown, bool on)
{
    bool active = json_is_true(json_object_get(answer, "active"));

    if (json_is_true(json_object_get(answer, "changed")))
        (void)printf("%s %s\n", active ? "raised" : "cleared", shown);
    else if (active == on)
        (void)printf("%s was already %s\n", shown, on ? "raised" : "cleared");
    else if (active)
        (void)printf("%s is still raised: only an administrator ends it (konctl ec reset)\n",
                     shown);
    else
        (void)printf("%s is still cleared\n", shown);
}

static int fault_condition(struct konctl *k, int argc, char **argv)
{
    char name[EC_NAME_MAX];
    char instance[EC_INSTANCE_MAX];
    char shown[EC_NAME_MAX + EC_INSTANCE_MAX + 2];
    json_t *answer = NULL;
    json_t *body = NULL;
    struct args a;
    bool on;
    int r;

    if (!args_command(k, argc, argv, NULL, 0, 2, 2, fault_usage, &a, &r))
        return r;
    r = args_condition_parse(a.pos[0], name, sizeof(name), instance, sizeof(instance));
    if (r < 0) {
        konctl_error("'%s' is not a condition name%s", a.pos[0],
                     r == -ENAMETOOLONG ? " (too long)" : "");
        konctl_hint("write NAME or NAME(ID), e.g. EC_CRL_Out_Of_Date or "
                    "'EC_CardTerminal_Not_Available(ct1)'");
        return KONCTL_EXIT_USAGE;
    }
    if (strcmp(a.pos[1], "on") != 0 && strcmp(a.pos[1], "off") != 0) {
        konctl_error("'%s' is neither on nor off", a.pos[1]);
        konctl_hint("'on' raises the condition, 'off' clears it");
        return KONCTL_EXIT_USAGE;
    }
    on = strcmp(a.pos[1], "on") == 0;
    if (instance[0])
        body = json_pack("{s:s, s:b, s:s}", "name", name, "active", on, "instance", instance);
    else
        body = json_pack("{s:s, s:b}", "name", name, "active", on);
    if (!body) {
        /* jansson refuses text that is not UTF-8; running out of memory is the other cause. */
        konctl_error("cannot send the instance '%s': it is not valid UTF-8", instance);
        return KONCTL_EXIT_USAGE;
    }
    r = konctl_call(k, "POST", "/control/v1/fault/condition", body, &answer);
    if (r != KONCTL_EXIT_OK)
        goto out;
    if (k->json) {
        (void)out_json_print(stdout, answer);
    } else {
        if (instance[0])
            (void)snprintf(shown, sizeof(shown), "%s(%s)", name, instance);
        else
            (void)snprintf(shown, sizeof(shown), "%s", name);
        print_condition(answer, shown, on);
    }
out:
    json_decref(answer);
    json_decref(body);
    return r;
}

static int fault_seclog_io_error(struct konctl *k, int argc, char **argv)
{
    json_t *answer = NULL;
    json_t *body = NULL;
    struct args a;
    bool on;
    int r;

    if (!args_command(k, argc, argv, NULL, 0, 1, 1, fault_usage, &a, &r))
        return r;
    if (strcmp(a.pos[0], "on") != 0 && strcmp(a.pos[0], "off") != 0) {
        konctl_error("'%s' is neither on nor off", a.pos[0]);
        konctl_hint("'on' makes security-log writes fail, 'off' lets them succeed again");
        return KONCTL_EXIT_USAGE;
    }
    on = strcmp(a.pos[0], "on") == 0;
    body = json_pack("{s:b}", "on", on);
    if (!body) {
        konctl_error("out of memory");
        return KONCTL_EXIT_ERROR;
    }
    r = konctl_call(k, "POST", "/control/v1/fault/seclog-io-error", body, &answer);
    /* What the daemon did ({"on": bool}), where it says. */
    if (r == KONCTL_EXIT_OK && json_is_boolean(json_object_get(answer, "on")))
        on = json_is_true(json_object_get(answer, "on"));
    if (r == KONCTL_EXIT_OK && k->json)
        (void)out_json_print(stdout, answer);
    else if (r == KONCTL_EXIT_OK && on)
        (void)printf("security-log writes now fail with EIO; EC_Security_Log_Not_Writable "
                     "follows within 1 s\n");
    else if (r == KONCTL_EXIT_OK)
        (void)printf("security-log writes succeed again; the condition ends by itself\n");
    json_decref(answer);
    json_decref(body);
    return r;
}

/* Reads a count option for the flood into *ret, keeping the default when absent. Only the
 * form is checked: the daemon names its range when it refuses (exit 5). */
static bool flood_number(const char *name, const char *value, uint64_t *ret)
{
    if (!value)
        return true;
    if (args_uint_parse(value, INT64_MAX, ret) == 0)
        return true;
    konctl_error("--%s takes a whole number, not '%s'", name, value);
    return false;
}

/* What was started: from the answer (which echoes topic, rate, seconds and distinct), and
 * from the request for what the answer leaves out. */
static void print_flood(const json_t *answer, const json_t *sent)
{
    static const char *const keys[] = {"topic", "rate", "seconds"};
    char *text[ARRAY_SIZE(keys)];
    const json_t *distinct = json_object_get(answer, "distinct");

    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        const json_t *v = json_object_get(answer, keys[i]);
        text[i] = out_json_text(v ? v : json_object_get(sent, keys[i]));
    }
    if (!distinct)
        distinct = json_object_get(sent, "distinct");
    (void)printf("started a flood of %s: %s events/s for %s s, %s\n", text[0] ? text[0] : "?",
                 text[1] ? text[1] : "?", text[2] ? text[2] : "?",
                 json_is_true(distinct) ? "every event distinct" : "repeats folded");
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
        free(text[i]);
}

static int fault_flood(struct konctl *k, int argc, char **argv)
{
    struct args_opt opts[] = {{"topic", true, NULL},
                              {"rate", true, NULL},
                              {"seconds", true, NULL},
                              {"distinct", false, NULL}};
    const char *topic = FLOOD_TOPIC;
    uint64_t rate = FLOOD_RATE;
    uint64_t seconds = FLOOD_SECONDS;
    json_t *answer = NULL;
    json_t *body = NULL;
    struct args a;
    bool distinct;
    int r;

    if (!args_command(k, argc, argv, opts, ARRAY_SIZE(opts), 0, 0, fault_usage, &a, &r))
        return r;
    if (opts[0].value)
        topic = opts[0].value;
    if (!flood_number("rate", opts[1].value, &rate) ||
        !flood_number("seconds", opts[2].value, &seconds))
        return KONCTL_EXIT_USAGE;
    distinct = opts[3].value != NULL;
    body = json_pack("{s:s, s:I, s:I, s:b}", "topic", topic, "rate", (json_int_t)rate, "seconds",
                     (json_int_t)seconds, "distinct", distinct);
    if (!body) {
        /* jansson refuses text that is not UTF-8; running out of memory is the other cause. */
        konctl_error("cannot send the topic '%s': it is not valid UTF-8", topic);
        return KONCTL_EXIT_USAGE;
    }
    /* The daemon answers once the flood has started (invariant 4). */
    r = konctl_call(k, "POST", "/control/v1/fault/flood", body, &answer);
    if (r == KONCTL_EXIT_OK && k->json)
        (void)out_json_print(stdout, answer);
    else if (r == KONCTL_EXIT_OK)
        print_flood(answer, body);
    json_decref(answer);
    json_decref(body);
    return r;
}

int cmd_fault(struct konctl *k, int argc, char **argv)
{
    static const char *const names[] = {"stall", "condition", "seclog-io-error", "flood",
                                        "legacy-log-cleanup"};
    int shift = 0;
    int r;
    int i;

    i = args_subcommand(argc, argv, names, ARRAY_SIZE(names), NULL, fault_usage, &shift, &r);
    argc -= shift;
    argv += shift;
    switch (i) {
    case 0:
        return fault_stall(k, argc, argv);
    case 1:
        return fault_condition(k, argc, argv);
    case 2:
        return fault_seclog_io_error(k, argc, argv);
    case 3:
        return fault_flood(k, argc, argv);
    case 4:
        return cmd_fault_legacy(k, argc, argv);
    default:
        return r;
    }
}
