/* cmd_update: firmware updates of the connector through the management API
 * (docs/management-api.md, "Updates"): "update check" asks the KSR now, "update download"
 * fetches what it offers, "update install VERSION" installs a downloaded update (or "--file
 * BUNDLE", a bundle on the connector's disk), "update status" shows the updater's state, the
 * offered updates and the slots, "update history" the install history, "update pause" and
 * "update resume" the switch that stops every install, manual and automatic.
 *
 * Invariants:
 *  1. Every subcommand is one request; konctl decides nothing about updates itself.
 *  2. A field the daemon leaves out shows as "-", so a newer or older daemon still prints. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "konctl.h"
#include "output.h"

/* Installing verifies and extracts a bundle: give it longer than a plain request. */
#define INSTALL_TIMEOUT_MS (10 * 60 * 1000)
#define CHECK_TIMEOUT_MS (2 * 60 * 1000)
/* The largest bundle POST /api/v1/update/install-file takes (bytes): MGMT_UPLOAD_MAX. */
#define UPLOAD_MAX (256 * 1024 * 1024)

static const char update_usage[] =
    "Usage: konctl update check           ask the KSR now which updates it offers\n"
    "       konctl update download        download the offered update (resumes a partial one)\n"
    "       konctl update status          state, offered updates, pause switch, slots\n"
    "       konctl update install VERSION install a downloaded update\n"
    "       konctl update install --file BUNDLE\n"
    "                                     install a bundle file on the connector's disk\n"
    "       konctl update history         installs, switches, rollbacks, refusals\n"
    "       konctl update pause           stop every install, manual and automatic\n"
    "       konctl update resume          allow installs again\n"
    "\n"
    "Firmware updates of the connector (TUC_KON_280). The KSR is the KSR_URL setting; the\n"
    "daily check, MGM_KSR_AUTODOWNLOAD and MGM_KSR_AUTO_UPDATE(_TIME) work on their own.\n";

static void add_row(struct out_table *t, const char *key, const json_t *value)
{
    out_table_add(t, key);
    out_table_add_json(t, value);
}

/* "active a, running a, good" from the slots summary (GET /api/v1/update/slots); "-" if none. */
static void add_slots_row(struct out_table *t, const json_t *slots)
{
    const char *active = json_string_value(json_object_get(slots, "active"));
    const char *run = json_string_value(json_object_get(slots, "running"));
    char text[128];

    if (!json_is_object(slots)) {
        out_table_add(t, "slots:");
        out_table_add(t, "-");
        return;
    }
    (void)snprintf(text, sizeof(text), "active %s, running %s, %s", active ? active : "-",
                   run ? run : "- (no slot)",
                   json_is_true(json_object_get(slots, "good")) ? "good" : "not yet good");
    out_table_add(t, "slots:");
    out_table_add(t, text);
}

static const char *const update_headers[] = {"VERSION", "PRIORITY",   "DEADLINE",
                                             "SIZE",    "DOWNLOADED", "NOTES"};

static void update_row(struct out_table *t, const json_t *u)
{
    char text[64];

    out_table_add_json(t, json_object_get(u, "version"));
    out_table_add_json(t, json_object_get(u, "priority"));
    out_table_add_json(t, json_object_get(u, "deadline"));
    out_table_add_json(t, json_object_get(u, "size"));
    if (json_is_true(json_object_get(u, "downloaded")))
        out_table_add(t, "yes");
    else {
        (void)snprintf(text, sizeof(text), "%" JSON_INTEGER_FORMAT " bytes",
                       json_integer_value(json_object_get(u, "downloaded_bytes")));
        out_table_add(t, text);
    }
    out_table_add_json(t, json_object_get(u, "release_notes"));
}

static int print_status(const struct konctl *k, const json_t *st)
{
    const json_t *running = json_object_get(st, "running");
    const json_t *updates = json_object_get(st, "updates");
    struct out_table *t = out_table_new(2, NULL);
    struct out_table *u = out_table_new(ARRAY_SIZE(update_headers), update_headers);
    char *features = out_json_text(json_object_get(running, "features"));
    size_t i;
    json_t *item;
    int r = KONCTL_EXIT_ERROR;

    if (!t || !u)
        goto out;
    add_row(t, "state:", json_object_get(st, "state"));
    out_table_add(t, "paused:");
    out_table_add(t, json_is_true(json_object_get(st, "paused")) ? "yes (no installs)" : "no");
    add_row(t, "firmware:", json_object_get(running, "fw_version"));
    add_row(t, "product type version:", json_object_get(running, "product_type_version"));
    out_table_add(t, "features:");
    out_table_add(t, features ? features : "-");
    add_row(t, "KSR:", json_object_get(st, "ksr_url"));
    add_row(t, "last check:", json_object_get(st, "last_check"));
    add_row(t, "last result:", json_object_get(st, "last_result"));
    add_row(t, "next check:", json_object_get(st, "next_check"));
    add_row(t, "next auto update:", json_object_get(st, "next_auto_update"));
    add_slots_row(t, json_object_get(st, "slots"));
    if (out_table_print(t, stdout, k->color) < 0)
        goto out;
    json_array_foreach(updates, i, item) update_row(u, item);
    (void)fputc('\n', stdout);
    if (out_table_rows(u) == 0)
        (void)fputs("No updates offered.\n", stdout);
    else if (out_table_print(u, stdout, k->color) < 0)
        goto out;
    r = KONCTL_EXIT_OK;
out:
    if (r == KONCTL_EXIT_ERROR)
        konctl_error("out of memory");
    free(features);
    out_table_free(t);
    out_table_free(u);
    return r;
}

static int update_status(struct konctl *k, int argc, char **argv)
{
    struct args a;
    int r;

    if (!args_command(k, argc, argv, NULL, 0, 0, 0, update_usage, &a, &r))
        return r;
    return konctl_show(k, "/api/v1/update/status", print_status);
}

/* Prints the answer (--json) or its "message", fallback without one; frees the answer.
 * Returns KONCTL_EXIT_OK. */
static int print_message(const struct konctl *k, json_t *answer, const char *fallback)
{
    if (k->json) {
        (void)out_json_print(stdout, answer);
    } else {
        const char *msg = json_string_value(json_object_get(answer, "message"));

        printf("%s\n", msg ? msg : fallback);
    }
    json_decref(answer);
    return KONCTL_EXIT_OK;
}

/* POST path (no body) and print the answer's "message". */
static int post_simple(struct konctl *k, int argc, char **argv, const char *path, long timeout_ms)
{
    json_t *answer = NULL;
    struct args a;
    int r;

    if (!args_command(k, argc, argv, NULL, 0, 0, 0, update_usage, &a, &r))
        return r;
    if (timeout_ms > k->timeout_ms)
        k->timeout_ms = timeout_ms;
    r = konctl_call(k, "POST", path, NULL, &answer);
    if (r != KONCTL_EXIT_OK)
        return r;
    return print_message(k, answer, "done");
}

static int update_install(struct konctl *k, int argc, char **argv)
{
    struct args_opt opts[] = {{"file", true, NULL}};
    json_t *body = NULL, *answer = NULL;
    const char *path = "/api/v1/update/install";
    struct args a;
    int r;

    if (!args_command(k, argc, argv, opts, ARRAY_SIZE(opts), 0, 1, update_usage, &a, &r))
        return r;
    if ((a.n_pos == 1) == (opts[0].value != NULL)) {
        konctl_error("update install needs a VERSION or --file BUNDLE (one of them)");
        return KONCTL_EXIT_USAGE;
    }
    if (k->timeout_ms < INSTALL_TIMEOUT_MS)
        k->timeout_ms = INSTALL_TIMEOUT_MS;
    if (opts[0].value) {
        /* The bundle's bytes go up as they are; the connector verifies them (4183, 4185). */
        char *data = NULL;
        size_t len = 0;

        r = file_read_all(opts[0].value, UPLOAD_MAX, &data, &len);
        if (r < 0) {
            konctl_error("cannot read '%s': %s", opts[0].value,
                         r == -EFBIG ? "larger than 64 MiB" : strerror(-r));
            return KONCTL_EXIT_USAGE;
        }
        r = konctl_call_raw(k, "POST", "/api/v1/update/install-file", data, len, &answer);
        free(data);
    } else {
        body = json_pack("{s:s}", "version", a.pos[0]);
        if (!body) {
            konctl_error("out of memory");
            return KONCTL_EXIT_ERROR;
        }
        r = konctl_call(k, "POST", path, body, &answer);
        json_decref(body);
    }
    if (r != KONCTL_EXIT_OK)
        return r;
    return print_message(k, answer, "installed; the connector restarts");
}

static const char *const history_headers[] = {"TIME", "ACTION", "FROM", "TO",
                                              "SLOT", "RESULT", "CODE", "MESSAGE"};

static void history_row(struct out_table *t, const json_t *e)
{
    static const char *const keys[] = {"time", "action", "from_version", "to_version",
                                       "slot", "result", "code",         "message"};

    for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
        out_table_add_json(t, json_object_get(e, keys[i]));
}

static int update_history(struct konctl *k, int argc, char **argv)
{
    struct out_table *t = NULL;
    json_t *answer = NULL;
    const json_t *list, *item;
    struct args a;
    size_t i;
    int r;

    if (!args_command(k, argc, argv, NULL, 0, 0, 0, update_usage, &a, &r))
        return r;
    r = konctl_call(k, "GET", "/api/v1/update/history", NULL, &answer);
    if (r != KONCTL_EXIT_OK)
        return r;
    if (k->json) {
        (void)out_json_print(stdout, answer);
        goto out;
    }
    /* The answer is the array itself, or {"history": [...]}. */
    list = json_is_array(answer) ? answer : json_object_get(answer, "history");
    t = out_table_new(ARRAY_SIZE(history_headers), history_headers);
    if (!t) {
        konctl_error("out of memory");
        r = KONCTL_EXIT_ERROR;
        goto out;
    }
    json_array_foreach(list, i, item) history_row(t, item);
    if (out_table_rows(t) == 0)
        (void)fputs("No updates on record.\n", stdout);
    else
        (void)out_table_print(t, stdout, k->color);
out:
    out_table_free(t);
    json_decref(answer);
    return r;
}

int cmd_update(struct konctl *k, int argc, char **argv)
{
    static const char *const names[] = {"check",   "download", "status", "install",
                                        "history", "pause",    "resume"};
    int shift = 0;
    int r;
    int i;

    i = args_subcommand(argc, argv, names, ARRAY_SIZE(names), "status", update_usage, &shift, &r);
    argc -= shift;
    argv += shift;
    switch (i) {
    case 0:
        return post_simple(k, argc, argv, "/api/v1/update/check", CHECK_TIMEOUT_MS);
    case 1:
        return post_simple(k, argc, argv, "/api/v1/update/download", INSTALL_TIMEOUT_MS);
    case 2:
        return update_status(k, argc, argv);
    case 3:
        return update_install(k, argc, argv);
    case 4:
        return update_history(k, argc, argv);
    case 5:
        return post_simple(k, argc, argv, "/api/v1/update/pause", 0);
    case 6:
        return post_simple(k, argc, argv, "/api/v1/update/resume", 0);
    default:
        return r;
    }
}
