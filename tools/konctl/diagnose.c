/* diagnose: the situations and recovery plans of "konctl diagnose" from gathered facts.
 *
 * Invariants:
 *  1. Pure: no I/O but the FILE * of diag_print(), no clock, no globals.
 *  2. Several situations may hold at once; "healthy" only when none does.
 *  3. Plan A only names settings that exist in konnektord (docs/settings.md) and only changes
 *     that cut log volume; it never lowers the audit trail below what the spec demands. */
#include "diagnose.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"

static const char *const situation_names[DIAG_MAX] = {
    [DIAG_DOWN] = "down",
    [DIAG_HUNG] = "hung",
    [DIAG_LOG_NOT_WRITABLE] = "log_not_writable",
    [DIAG_FIRMWARE_BLOCKED] = "firmware_blocked",
    [DIAG_UPDATE_ROLLED_BACK] = "update_rolled_back",
    [DIAG_LOG_OVERFLOW] = "log_overflow",
    [DIAG_HEALTHY] = "healthy",
};

const char *diag_situation_to_string(enum diag_situation s)
{
    return (unsigned)s < DIAG_MAX ? situation_names[s] : "?";
}

/* ---- reading the facts ------------------------------------------------------------------ */

static const char *str_at(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s ? s : "";
}

static const char *probe_state(const json_t *facts, const char *probe)
{
    return str_at(json_object_get(facts, probe), "state");
}

static bool condition_active(const json_t *facts, const char *name)
{
    const json_t *v;
    size_t i;

    json_array_foreach(json_object_get(facts, "conditions"), i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), name) == 0)
            return true;
    }
    return false;
}

static double num_at(const json_t *o, const char *key, double dflt)
{
    const json_t *v = json_object_get(o, key);

    return json_is_number(v) ? json_number_value(v) : dflt;
}

/* A setting's value as text ("" when unknown). */
static const char *setting(const json_t *facts, const char *name)
{
    return str_at(json_object_get(facts, "settings"), name);
}

/* ---- situations ------------------------------------------------------------------------- */

static void finding(json_t *findings, enum diag_situation s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void finding(json_t *findings, enum diag_situation s, const char *fmt, ...)
{
    char text[512];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    (void)json_array_append_new(findings, json_pack("{s:s,s:s}", "situation",
                                                    diag_situation_to_string(s), "evidence", text));
}

static bool probe_hung(const json_t *facts, const char *probe)
{
    return strcmp(probe_state(facts, probe), "timeout") == 0;
}

static void find_situations(const json_t *facts, json_t *findings, bool found[DIAG_MAX])
{
    const json_t *leds = json_object_get(facts, "leds");
    const json_t *fb = json_object_get(json_object_get(facts, "update"), "last_fallback");
    bool mgmt_hung = probe_hung(facts, "management"), soap_hung = probe_hung(facts, "soap");
    bool system_off =
        strcmp(str_at(leds, "power"), "on") == 0 && strcmp(str_at(leds, "system"), "off") == 0;

    if (strcmp(probe_state(facts, "management"), "refused") == 0 &&
        strcmp(probe_state(facts, "control"), "ok") != 0 && !mgmt_hung && !soap_hung) {
        found[DIAG_DOWN] = true;
        finding(findings, DIAG_DOWN,
                "the management API refuses connections: konnektord is "
                "not running or listens elsewhere");
    }
    if (mgmt_hung || soap_hung || system_off) {
        found[DIAG_HUNG] = true;
        char mgmt[128] = "";
        if (mgmt_hung)
            (void)snprintf(mgmt, sizeof(mgmt),
                           "the management API accepts connections but does not answer (%.0f of "
                           "%.0f probes timed out); ",
                           num_at(json_object_get(facts, "management"), "timeouts", 1),
                           num_at(json_object_get(facts, "management"), "probes", 1));
        finding(findings, DIAG_HUNG, "%s%s%s%s", mgmt,
                soap_hung ? "SOAP (connector.sds) accepts connections but does not answer; " : "",
                system_off ? "LED Power on, System off (the main loop does not tick); " : "",
                "the process is alive and its main loop is blocked");
    }
    if (condition_active(facts, "EC_Security_Log_Not_Writable")) {
        found[DIAG_LOG_NOT_WRITABLE] = true;
        finding(findings, DIAG_LOG_NOT_WRITABLE,
                "EC_Security_Log_Not_Writable: security-log writes fail; card and crypto "
                "operations are refused (4002)");
    }
    if (condition_active(facts, "EC_FW_Not_Valid_Status_Blocked")) {
        found[DIAG_FIRMWARE_BLOCKED] = true;
        finding(findings, DIAG_FIRMWARE_BLOCKED,
                "EC_FW_Not_Valid_Status_Blocked: a critical update is past its deadline");
    }
    if (json_is_object(fb)) {
        found[DIAG_UPDATE_ROLLED_BACK] = true;
        finding(findings, DIAG_UPDATE_ROLLED_BACK,
                "the launcher fell back from firmware %s (slot %s): %s",
                *str_at(fb, "from_version") ? str_at(fb, "from_version") : "?",
                *str_at(fb, "from_slot") ? str_at(fb, "from_slot") : "?",
                *str_at(fb, "reason") ? str_at(fb, "reason") : "no reason recorded");
    }
    if (condition_active(facts, "EC_LOG_OVERFLOW")) {
        const json_t *log = json_object_get(facts, "log");
        found[DIAG_LOG_OVERFLOW] = true;
        finding(findings, DIAG_LOG_OVERFLOW,
                "EC_LOG_OVERFLOW: the security log reached its budget (%.0f of %.0f MB used) and "
                "evicted entries younger than the retention",
                num_at(log, "used_bytes", 0) / 1e6, num_at(log, "capacity_bytes", 0) / 1e6);
    }
}

/* ---- Plan A ----------------------------------------------------------------------------- */

static void step(json_t *steps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void step(json_t *steps, const char *fmt, ...)
{
    char text[640];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    (void)json_array_append_new(steps, json_string(text));
}

struct topic_count {
    const char *topic;
    double records;
};

static int by_records_desc(const void *a, const void *b)
{
    const struct topic_count *x = a, *y = b;

    return (x->records < y->records) - (x->records > y->records);
}

/* The dominant producers: topics with at least DIAG_DOMINANT_SHARE of the records, at most
 * three, or the largest one when none reaches it. Returns the total of records. */
static double dominant_topics(const json_t *topics, json_t *ret)
{
    size_t n = json_object_size(topics), i = 0;
    struct topic_count *list = calloc(n ? n : 1, sizeof(*list));
    double total = 0;
    const char *key;
    json_t *v;

    if (!list)
        return 0;
    json_object_foreach((json_t *)topics, key, v)
    {
        list[i].topic = key;
        list[i].records = json_is_number(v) ? json_number_value(v) : 0;
        total += list[i++].records;
    }
    qsort(list, n, sizeof(*list), by_records_desc);
    for (i = 0; i < n && i < 3 && total > 0; i++) {
        double share = list[i].records / total;
        if (share < DIAG_DOMINANT_SHARE && i > 0)
            break;
        (void)json_array_append_new(ret, json_pack("{s:s,s:f,s:f}", "topic", list[i].topic,
                                                   "records", list[i].records, "share",
                                                   round(share * 1000) / 1000));
    }
    free(list);
    return total;
}

static double topic_share(const json_t *dominant, const char *topic)
{
    const json_t *d;
    size_t i;

    json_array_foreach(dominant, i, d)
    {
        if (strcmp(str_at(d, "topic"), topic) == 0)
            return num_at(d, "share", 0);
    }
    return 0;
}

static void change(json_t *settings, const char *name, const char *from, const char *to,
                   const char *reason)
{
    (void)json_array_append_new(settings, json_pack("{s:s,s:s,s:s,s:s}", "name", name, "from", from,
                                                    "to", to, "reason", reason));
}

static json_t *num_or_null(double v)
{
    return isfinite(v) && v >= 0 ? json_real(round(v * 10) / 10) : json_null();
}

static json_t *plan_a(const json_t *facts, const bool found[DIAG_MAX])
{
    const json_t *log = json_object_get(facts, "log");
    json_t *steps = json_array(), *settings = json_array(), *dominant = json_array();
    double rate = num_at(log, "bytes_per_day", -1), capacity = num_at(log, "capacity_bytes", -1);
    double days = -1, removed = 0, after = -1, possible_after = -1, clears = -1;
    const char *crypto = setting(facts, "LOG_SUCCESSFUL_CRYPTO_OPS");
    const char *level = setting(facts, "LOG_LEVEL_SYSLOG");
    const char *days_text = setting(facts, "SECURITY_LOG_DAYS");
    bool available = !found[DIAG_HUNG] && !found[DIAG_DOWN];
    json_t *plan;

    if (*days_text)
        days = strtod(days_text, NULL);
    if (json_is_integer(json_object_get(log, "retention_days_setting")))
        days = num_at(log, "retention_days_setting", days);
    if (found[DIAG_DOWN])
        step(steps, "start konnektord (Power LED off or nothing listens): nothing else can help "
                    "before it runs");
    if (found[DIAG_HUNG])
        step(steps, "the connector is alive but its main loop is blocked, so the log cannot be "
                    "read now; a loop blocked in slices (the 2020 cleanup) still takes a call "
                    "now and then: cut the log volume with patience (each konctl call waits up "
                    "to 30 s), 'konctl settings set LOG_SUCCESSFUL_CRYPTO_OPS Disabled' and "
                    "'konctl settings set LOG_LEVEL_SYSLOG Warning'; once no entry younger than "
                    "SECURITY_LOG_DAYS has to be evicted any more, the cleanup ends and the "
                    "connector recovers by itself; if it stays hung go to Plan B (if this is "
                    "the test fault: 'konctl fault legacy-log-cleanup off')");
    if (found[DIAG_LOG_OVERFLOW] || found[DIAG_HUNG]) {
        double total = dominant_topics(json_object_get(log, "topics"), dominant);
        const json_t *n = json_object_get(json_object_get(log, "topics"), "LOG/CRYPTO_OP");
        double crypto_share = total > 0 && json_is_number(n) ? json_number_value(n) / total : 0;
        /* Optional volume goes whether it dominates or not: "very extensive logging" was a
         * precondition in 2020. */
        if (crypto_share > 0 && strcmp(crypto, "Disabled") != 0) {
            change(settings, "LOG_SUCCESSFUL_CRYPTO_OPS", *crypto ? crypto : "Enabled", "Disabled",
                   topic_share(dominant, "LOG/CRYPTO_OP") > 0
                       ? "a record for every successful crypto operation dominates the log"
                       : "a record for every successful crypto operation is optional volume");
            removed += crypto_share;
        }
        if (strcmp(level, "Info") == 0)
            change(settings, "LOG_LEVEL_SYSLOG", level, "Warning",
                   "Info-level system-log records add disk work during a storm");
        if (topic_share(dominant, "NK/FIREWALL/DROP") > 0)
            step(steps,
                 "firewall drops dominate (%.0f%% of the records): find the broadcast "
                 "source ('konctl log show --topic NK/FIREWALL/DROP' shows Src) and stop "
                 "it or move it out of the connector's LAN segment; konnektord has no "
                 "setting that stops logging them, and folds repeats into one record",
                 topic_share(dominant, "NK/FIREWALL/DROP") * 100);
    }
    if (json_array_size(settings) > 0) {
        const json_t *c;
        size_t i;
        json_array_foreach(settings, i, c)
        {
            step(steps, "konctl settings set %s %s   (now %s: %s)", str_at(c, "name"),
                 str_at(c, "to"), str_at(c, "from"), str_at(c, "reason"));
        }
    }
    if (rate >= 0 && capacity > 0) {
        after = rate * (1 - removed);
        possible_after = after > 0 ? capacity / after : INFINITY;
        clears = days > 0 ? fmin(days, possible_after) : possible_after;
    }
    if (found[DIAG_LOG_OVERFLOW]) {
        if (isfinite(possible_after) && days > 0 && possible_after < days)
            step(steps,
                 "the rate after these changes still fills the budget in %.1f days, "
                 "less than SECURITY_LOG_DAYS (%.0f): stop the dominant producer first",
                 possible_after, days);
        if (isfinite(clears) && clears >= 0)
            step(steps,
                 "the entries of the storm are gone in about %.1f days (evicted as the "
                 "budget fills, or aged out after SECURITY_LOG_DAYS); the connector "
                 "keeps serving meanwhile",
                 clears);
        step(steps, "konctl ec reset EC_LOG_OVERFLOW   (once the rate is down; the condition "
                    "needs an administrator)");
    }
    if (found[DIAG_LOG_NOT_WRITABLE])
        step(steps, "check the disk under DATA/seclog (free space, I/O errors in the kernel "
                    "log); the condition clears by itself once a write succeeds, and card and "
                    "crypto operations work again");
    if (found[DIAG_FIRMWARE_BLOCKED])
        step(steps, "install the critical update: konctl update check, then konctl update "
                    "install --version VERSION (possible in every critical state)");
    if (found[DIAG_UPDATE_ROLLED_BACK])
        step(steps, "the previous firmware runs again and serves: see 'konctl update history', "
                    "hold further installs with 'konctl update pause' and report the failed "
                    "version to the vendor");
    if (json_array_size(steps) == 0)
        step(steps, "nothing to do");
    plan = json_pack("{s:b,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "available", available, "dominant",
                     dominant, "settings", settings, "rate_bytes_per_day", num_or_null(rate),
                     "rate_after_bytes_per_day", num_or_null(after),
                     "retention_days_possible_after", num_or_null(possible_after),
                     "retention_days_setting", num_or_null(days), "clears_in_days",
                     num_or_null(found[DIAG_LOG_OVERFLOW] ? clears : -1), "steps", steps);
    return plan;
}

static json_t *plan_b(void)
{
    json_t *steps = json_array();

    step(steps, "back up the configuration first, while the management API answers: konctl "
                "config export -o backup.kbak (note the passphrase it prints once)");
    step(steps, "factory reset: through the API as a user with USER_RESET_PERMISSION, or when "
                "no administrator can log in with the hidden button: konctl button reset "
                "--data-dir DATA (the type plate's credential); identity, trust space, "
                "security log and firmware are kept");
    step(steps, "import the backup: konctl config import backup.kbak --passphrase P --yes");
    return json_pack("{s:o}", "steps", steps);
}

static json_t *plan_c(void)
{
    json_t *steps = json_array();

    step(steps, "export the configuration from the old device if it still answers: konctl "
                "config export -o backup.kbak");
    step(steps, "set up the replacement device (a second konnektord) and log in");
    step(steps, "import the backup there as a Super-Administrator: konctl config import "
                "backup.kbak --passphrase P --yes; pair the card terminals again if needed");
    return json_pack("{s:o}", "steps", steps);
}

json_t *diag_classify(const json_t *facts)
{
    bool found[DIAG_MAX] = {false};
    json_t *findings = json_array(), *names = json_array(), *report;
    bool any = false;

    if (!findings || !names) {
        json_decref(findings);
        json_decref(names);
        return NULL;
    }
    find_situations(facts, findings, found);
    for (int s = 0; s < DIAG_HEALTHY; s++)
        any = any || found[s];
    found[DIAG_HEALTHY] = !any;
    for (int s = 0; s < DIAG_MAX; s++)
        if (found[s])
            (void)json_array_append_new(
                names, json_string(diag_situation_to_string((enum diag_situation)s)));
    report = json_pack("{s:o,s:o,s:o,s:o,s:o}", "situations", names, "findings", findings, "plan_a",
                       plan_a(facts, found), "plan_b", plan_b(), "plan_c", plan_c());
    return report;
}

bool diag_report_has(const json_t *report, enum diag_situation s)
{
    const json_t *v;
    size_t i;

    json_array_foreach(json_object_get(report, "situations"), i, v)
    {
        if (strcmp(json_string_value(v) ? json_string_value(v) : "", diag_situation_to_string(s)) ==
            0)
            return true;
    }
    return false;
}

/* ---- human text ------------------------------------------------------------------------- */

static void print_steps(FILE *f, const json_t *steps)
{
    const json_t *v;
    size_t i;

    json_array_foreach(steps, i, v)
    {
        char *text = out_json_text(v);
        (void)fprintf(f, "  %zu. %s\n", i + 1, text ? text : "?");
        free(text);
    }
}

int diag_print(FILE *f, const json_t *report, bool color)
{
    const json_t *a = json_object_get(report, "plan_a"), *v;
    const char *bold = color ? "\033[1m" : "", *reset = color ? "\033[0m" : "";
    size_t i;

    (void)fprintf(f, "%sSituation:%s", bold, reset);
    json_array_foreach(json_object_get(report, "situations"), i, v)
    {
        (void)fprintf(f, "%s%s", i ? ", " : " ", json_string_value(v) ? json_string_value(v) : "?");
    }
    (void)fputc('\n', f);
    json_array_foreach(json_object_get(report, "findings"), i, v)
    {
        char *text = out_json_text(json_object_get(v, "evidence"));
        (void)fprintf(f, "  - %s\n", text ? text : "?");
        free(text);
    }
    if (strcmp(str_at(json_object_get(json_object_get(report, "facts"), "updater"), "state"),
               "not_found") == 0)
        (void)fprintf(f, "  (updater not available: the daemon has no /api/v1/update routes)\n");
    if (diag_report_has(report, DIAG_HEALTHY))
        return ferror(f) ? -EIO : 0;
    if (json_array_size(json_object_get(a, "dominant")) > 0) {
        (void)fprintf(f, "\n%sProducers that dominate the security log:%s\n", bold, reset);
        json_array_foreach(json_object_get(a, "dominant"), i, v)
        {
            char *topic = out_json_text(json_object_get(v, "topic"));
            (void)fprintf(f, "  %-24s %5.1f%%  (%.0f records)\n", topic ? topic : "?",
                          num_at(v, "share", 0) * 100, num_at(v, "records", 0));
            free(topic);
        }
        if (json_is_number(json_object_get(a, "rate_bytes_per_day")))
            (void)fprintf(f, "  rate now %.1f MB/day%s", num_at(a, "rate_bytes_per_day", 0) / 1e6,
                          json_is_number(json_object_get(a, "rate_after_bytes_per_day")) ? ""
                                                                                         : "\n");
        if (json_is_number(json_object_get(a, "rate_after_bytes_per_day")))
            (void)fprintf(f, ", after Plan A %.1f MB/day\n",
                          num_at(a, "rate_after_bytes_per_day", 0) / 1e6);
    }
    (void)fprintf(f, "\n%sPlan A%s (%s):\n", bold, reset,
                  json_is_true(json_object_get(a, "available")) ? "change settings, then wait"
                                                                : "not possible now");
    print_steps(f, json_object_get(a, "steps"));
    if (json_array_size(json_object_get(a, "settings")) > 0)
        (void)fprintf(f, "  'konctl diagnose --apply' makes these setting changes for you.\n");
    (void)fprintf(f, "\n%sPlan B%s (backup, then factory reset):\n", bold, reset);
    print_steps(f, json_object_get(json_object_get(report, "plan_b"), "steps"));
    (void)fprintf(f, "\n%sPlan C%s (replace the device):\n", bold, reset);
    print_steps(f, json_object_get(json_object_get(report, "plan_c"), "steps"));
    return ferror(f) ? -EIO : 0;
}
