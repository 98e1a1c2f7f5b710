/* cmd_diagnose: "konctl diagnose": gathers what a support engineer looks at when a connector
 * misbehaves (LEDs, conditions, security-log statistics, update slots, reachability of
 * management, control and SOAP), lets diagnose.c name the situation and the recovery plans,
 * and with --apply makes Plan A's setting changes. Also "konctl fault legacy-log-cleanup",
 * the 2020 fault that diagnose is there to recognise.
 *
 * Invariants:
 *  1. Every probe has a timeout (--timeout, also the connect timeout), so a hung connector
 *     makes diagnose slow by at most a few probe times, never stuck.
 *  2. A probe that got no answer in time is "timeout" (a connection accepted, or pending in a
 *     full accept queue: the process is alive); one whose connection was refused is
 *     "refused" (nothing listens). diagnose.c relies on that difference.
 *  3. --apply changes only the settings of Plan A, through the management API, and reports
 *     each change; it does nothing when Plan A is not available (hung or down). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "base/base.h"
#include "diagnose.h"
#include "http.h"
#include "konctl.h"
#include "output.h"

#define PROBE_TIMEOUT_MS 3000
#define PROBE_TIMEOUT_MAX_MS 60000
/* The log statistics read the whole log: more time than a probe. */
#define STATS_TIMEOUT_MS 20000

static const char diagnose_usage[] =
    "usage: konctl diagnose [--soap URL] [--data-dir DIR] [--timeout MS] [--apply] [--json]\n"
    "\n"
    "Reads the LEDs, active conditions, security-log statistics, update slots and the\n"
    "reachability of management, control and SOAP, names the situation (healthy, log_overflow,\n"
    "log_not_writable, update_rolled_back, firmware_blocked, hung, down) and prints the\n"
    "recovery plans A (settings), B (backup, then factory reset) and C (replacement).\n"
    "\n"
    "  --soap URL      the LAN interface to probe (KONCTL_SOAP_URL; default: not probed)\n"
    "  --data-dir DIR  read the LED mirror DIR/run/leds.json when the API does not answer\n"
    "  --timeout MS    time for each probe (default 3000)\n"
    "  --apply         make Plan A's setting changes through the management API\n";

/* ---- probes ----------------------------------------------------------------------------- */

static json_t *probe_json(const char *state, int64_t ms, const char *detail)
{
    return json_pack("{s:s,s:I,s:s}", "state", state, "ms", (json_int_t)ms, "detail",
                     detail ? detail : "");
}

/* One request through c; the probe's verdict goes into facts[name], and a 2xx answer's body
 * into *ret_body (owned; may be NULL). */
static void probe_api(struct http_client *c, const char *path, long timeout_ms, json_t *facts,
                      const char *name, json_t **ret_body)
{
    struct http_result res;
    int64_t t0 = clock_real_mono_ms();
    const char *state;
    char detail[HTTP_DETAIL_MAX + 32];

    *ret_body = NULL;
    if (http_request(c, "GET", path, NULL, timeout_ms, &res) < 0) {
        if (name)
            (void)json_object_set_new(facts, name, probe_json("error", 0, "out of memory"));
        return;
    }
    switch (res.fail) {
    case HTTP_FAIL_NONE:
        state = res.status / 100 == 2 ? "ok" : res.status == 404 ? "not_found" : "error";
        break;
    case HTTP_FAIL_TIMEOUT:
        state = "timeout";
        break;
    case HTTP_FAIL_CONNECT_TIMEOUT:
        /* TCP up and the TLS handshake unanswered is a hung process, not a missing one; so is
         * a full accept queue (SYNs go unanswered). A missing process refuses at once. */
        state = "timeout";
        break;
    case HTTP_FAIL_REFUSED:
    case HTTP_FAIL_RESOLVE:
        state = "refused";
        break;
    default:
        state = "error";
        break;
    }
    if (res.fail == HTTP_FAIL_NONE)
        (void)snprintf(detail, sizeof(detail), "HTTP %ld", res.status);
    else
        (void)snprintf(detail, sizeof(detail), "%s", res.detail);
    if (name)
        (void)json_object_set_new(facts, name,
                                  probe_json(state, clock_real_mono_ms() - t0, detail));
    if (strcmp(state, "ok") == 0) {
        *ret_body = res.body;
        res.body = NULL;
    }
    http_result_done(&res);
}

static size_t discard(char *data, size_t size, size_t n, void *arg)
{
    (void)data;
    (void)arg;
    return size * n;
}

/* GET URL/connector.sds with libcurl directly: the LAN interface has its own identity, and
 * reachability is all that is asked here (no certificate check). */
static json_t *probe_soap(const char *url, long timeout_ms)
{
    CURL *h = curl_easy_init();
    char full[1024], err[CURL_ERROR_SIZE] = "";
    int64_t t0 = clock_real_mono_ms();
    long status = 0;
    CURLcode rc;
    const char *state;

    if (!h)
        return probe_json("error", 0, "out of memory");
    (void)snprintf(full, sizeof(full), "%s/connector.sds", url);
    (void)curl_easy_setopt(h, CURLOPT_URL, full);
    (void)curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    (void)curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    (void)curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    (void)curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    (void)curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    (void)curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    (void)curl_easy_setopt(h, CURLOPT_ERRORBUFFER, err);
    rc = curl_easy_perform(h);
    (void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    if (rc == CURLE_OK)
        state = status / 100 == 2 ? "ok" : "error";
    else if (rc == CURLE_OPERATION_TIMEDOUT)
        state = "timeout";
    else if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST)
        state = "refused";
    else
        state = "error";
    if (rc == CURLE_OK)
        (void)snprintf(err, sizeof(err), "HTTP %ld", status);
    return probe_json(state, clock_real_mono_ms() - t0, err[0] ? err : curl_easy_strerror(rc));
}

static const char *str_or(const json_t *v)
{
    return json_string_value(v) ? json_string_value(v) : "";
}

/* DATA/run/leds.json, the panel mirror the watchdog writes even while the loop hangs. */
static json_t *leds_from_file(const char *data_dir)
{
    char path[4096];
    json_t *doc;

    (void)snprintf(path, sizeof(path), "%s/run/leds.json", data_dir);
    doc = json_load_file(path, 0, NULL);
    if (doc && json_is_object(json_object_get(doc, "leds"))) {
        json_t *leds = json_incref(json_object_get(doc, "leds"));
        json_decref(doc);
        return leds;
    }
    return doc;
}

/* ---- gathering -------------------------------------------------------------------------- */

struct diag_opts {
    const char *soap_url, *data_dir;
    long timeout_ms;
    bool apply;
};

static void gather_settings(struct http_client *c, long timeout_ms, json_t *facts)
{
    static const char *const names[] = {"LOG_SUCCESSFUL_CRYPTO_OPS", "LOG_LEVEL_SYSLOG",
                                        "SECURITY_LOG_DAYS"};
    json_t *body = NULL, *settings = json_object(), *v;
    size_t i;

    probe_api(c, "/api/v1/settings", timeout_ms, facts, NULL, &body);
    json_array_foreach(json_object_get(body, "settings"), i, v)
    {
        const char *name = json_string_value(json_object_get(v, "name"));
        for (size_t j = 0; name && j < ARRAY_SIZE(names); j++)
            if (strcmp(name, names[j]) == 0)
                (void)json_object_set(settings, name, json_object_get(v, "value"));
    }
    json_decref(body);
    (void)json_object_set_new(facts, "settings", settings);
}

static void pause_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

    (void)nanosleep(&ts, NULL);
}

/* Reachability of the management API: PROBES requests PROBE_GAP_MS apart, the worst outcome
 * counts. A loop that is blocked in long slices with short breaks (the 2020 cleanup) answers
 * a request that happens to arrive in a break; one that comes right after an answer would
 * arrive in the same break, so the gap puts each probe at another point of the cycle. */
#define PROBES 3
#define PROBE_GAP_MS 200

static void probe_management(struct http_client *c, long timeout_ms, json_t *facts)
{
    static const char *const worst[] = {"timeout", "refused", "error", "not_found", "ok"};
    json_t *probes = json_array(), *body = NULL;
    size_t rank = ARRAY_SIZE(worst), timeouts = 0;

    for (int i = 0; i < PROBES; i++) {
        const char *state;
        if (i)
            pause_ms(PROBE_GAP_MS);
        probe_api(c, "/api/v1/leds", timeout_ms, facts, "management", &body);
        json_decref(body);
        (void)json_array_append(probes, json_object_get(facts, "management"));
        state = json_string_value(json_object_get(json_object_get(facts, "management"), "state"));
        state = state ? state : "error";
        for (size_t j = 0; j < ARRAY_SIZE(worst); j++)
            if (strcmp(state, worst[j]) == 0 && j < rank)
                rank = j;
        timeouts += strcmp(state, "timeout") == 0;
        if (strcmp(state, "refused") == 0)
            break;
    }
    (void)json_object_set_new(facts, "management",
                              json_pack("{s:s,s:I,s:I,s:o}", "state",
                                        rank < ARRAY_SIZE(worst) ? worst[rank] : "error", "probes",
                                        (json_int_t)json_array_size(probes), "timeouts",
                                        (json_int_t)timeouts, "each", probes));
}

static json_t *gather(struct http_client *c, const struct diag_opts *o)
{
    json_t *facts = json_object(), *status = NULL, *body = NULL, *names = json_array(), *v;
    size_t i;

    if (!facts || !names) {
        json_decref(facts);
        json_decref(names);
        return NULL;
    }
    probe_management(c, o->timeout_ms, facts);
    if (strcmp(str_or(json_object_get(json_object_get(facts, "management"), "state")), "ok") == 0)
        probe_api(c, "/api/v1/status", o->timeout_ms, facts, NULL, &status);
    if (status) {
        (void)json_object_set(facts, "leds", json_object_get(status, "leds"));
        json_array_foreach(json_object_get(status, "conditions"), i, v)
        {
            (void)json_array_append(names, json_object_get(v, "name"));
        }
        probe_api(c, "/api/v1/log/stats", STATS_TIMEOUT_MS, facts, NULL, &body);
        (void)json_object_set_new(facts, "log", body ? body : json_null());
        gather_settings(c, o->timeout_ms, facts);
        probe_api(c, "/api/v1/update/slots", o->timeout_ms, facts, "updater", &body);
        (void)json_object_set_new(facts, "update",
                                  body ? json_pack("{s:b,s:O}", "available", 1, "last_fallback",
                                                   json_object_get(body, "last_fallback")
                                                       ? json_object_get(body, "last_fallback")
                                                       : json_null())
                                       : json_pack("{s:b,s:n}", "available", 0, "last_fallback"));
        json_decref(body);
    } else if (o->data_dir) {
        (void)json_object_set_new(facts, "leds", leds_from_file(o->data_dir));
    }
    (void)json_object_set_new(facts, "conditions", names);
    pause_ms(PROBE_GAP_MS);
    probe_api(c, "/control/v1/clock", o->timeout_ms, facts, "control", &body);
    json_decref(body);
    pause_ms(PROBE_GAP_MS);
    (void)json_object_set_new(facts, "soap",
                              o->soap_url ? probe_soap(o->soap_url, o->timeout_ms)
                                          : probe_json("skipped", 0, "no --soap"));
    json_decref(status);
    return facts;
}

/* Plan A's settings through PUT /api/v1/settings/NAME; returns what was done. */
static json_t *apply_plan_a(struct http_client *c, const json_t *report, long timeout_ms)
{
    const json_t *plan = json_object_get(report, "plan_a"), *s;
    json_t *done = json_array();
    size_t i;

    if (!json_is_true(json_object_get(plan, "available")))
        return done;
    json_array_foreach(json_object_get(plan, "settings"), i, s)
    {
        const char *name = json_string_value(json_object_get(s, "name"));
        const char *to = json_string_value(json_object_get(s, "to"));
        char *path = name ? http_path("/api/v1/settings", name) : NULL;
        json_t *body = json_pack("{s:s}", "value", to ? to : "");
        struct http_result res;
        bool ok = false;
        char why[HTTP_DETAIL_MAX + 32] = "";

        if (path && body && http_request(c, "PUT", path, body, timeout_ms, &res) == 0) {
            ok = res.fail == HTTP_FAIL_NONE && res.status / 100 == 2;
            if (res.fail == HTTP_FAIL_NONE)
                (void)snprintf(why, sizeof(why), "HTTP %ld", res.status);
            else
                (void)snprintf(why, sizeof(why), "%s", res.detail);
            http_result_done(&res);
        }
        (void)json_array_append_new(done,
                                    json_pack("{s:s,s:s,s:b,s:s}", "name", name ? name : "",
                                              "value", to ? to : "", "ok", ok, "detail", why));
        free(path);
        json_decref(body);
    }
    return done;
}

int cmd_diagnose(struct konctl *k, int argc, char **argv)
{
    struct args_opt opts[] = {{"soap", true, NULL},
                              {"data-dir", true, NULL},
                              {"timeout", true, NULL},
                              {"apply", false, NULL}};
    struct diag_opts o = {.timeout_ms = PROBE_TIMEOUT_MS};
    struct http_config cfg = {0};
    struct http_client *c = NULL;
    json_t *facts = NULL, *report = NULL, *v;
    uint64_t ms;
    struct args a;
    size_t i;
    int r;

    if (!args_command(k, argc, argv, opts, ARRAY_SIZE(opts), 0, 0, diagnose_usage, &a, &r))
        return r;
    o.soap_url = opts[0].value ? opts[0].value : getenv("KONCTL_SOAP_URL");
    if (o.soap_url && !o.soap_url[0])
        o.soap_url = NULL;
    o.data_dir = opts[1].value;
    o.apply = opts[3].value != NULL;
    if (opts[2].value) {
        if (args_uint_parse(opts[2].value, PROBE_TIMEOUT_MAX_MS, &ms) < 0 || ms < 100) {
            konctl_error("--timeout takes ms from 100 to %d, not '%s'", PROBE_TIMEOUT_MAX_MS,
                         opts[2].value);
            return KONCTL_EXIT_USAGE;
        }
        o.timeout_ms = (long)ms;
    }
    r = konctl_open(k);
    if (r != KONCTL_EXIT_OK)
        return r;
    cfg = (struct http_config){.url = k->url,
                               .user = k->user,
                               .password = k->password,
                               .cacert = k->cacert,
                               .insecure = k->insecure,
                               .connect_timeout_ms = o.timeout_ms};
    c = http_client_new(&cfg);
    facts = c ? gather(c, &o) : NULL;
    report = facts ? diag_classify(facts) : NULL;
    if (!report) {
        konctl_error("out of memory");
        r = KONCTL_EXIT_ERROR;
        goto out;
    }
    (void)json_object_set(report, "facts", facts);
    if (o.apply)
        (void)json_object_set_new(report, "applied", apply_plan_a(c, report, o.timeout_ms));
    if (k->json) {
        (void)out_json_print(stdout, report);
        goto out;
    }
    (void)diag_print(stdout, report, k->color);
    if (o.apply && json_array_size(json_object_get(report, "applied")) == 0)
        (void)printf("\n--apply: nothing to change%s\n",
                     json_is_true(json_object_get(json_object_get(report, "plan_a"), "available"))
                         ? ""
                         : " (Plan A is not possible while the connector does not answer)");
    json_array_foreach(json_object_get(report, "applied"), i, v)
    {
        (void)printf("%s%s %s = %s (%s)\n", i ? "" : "\n--apply:\n",
                     json_is_true(json_object_get(v, "ok")) ? "  set" : "  FAILED to set",
                     json_string_value(json_object_get(v, "name")),
                     json_string_value(json_object_get(v, "value")),
                     json_string_value(json_object_get(v, "detail")));
    }
out:
    json_decref(report);
    json_decref(facts);
    http_client_free(c);
    return r;
}

/* ---- fault legacy-log-cleanup ----------------------------------------------------------- */

static const char legacy_usage[] =
    "usage: konctl fault legacy-log-cleanup on|off|status [--max-seconds N] [--force]\n"
    "                                       [--slice-ms MS]\n"
    "\n"
    "The 2020 fault: once the security log is at its budget (EC_LOG_OVERFLOW), or at once with\n"
    "--force, a cleanup hogs the daemon's main loop in slices of --slice-ms (default 3000):\n"
    "SOAP and management calls time out and the System LED goes off. It ends by itself after\n"
    "--max-seconds (default 60) or with 'off'. Every switch is a security-log entry.\n";

int cmd_fault_legacy(struct konctl *k, int argc, char **argv)
{
    struct args_opt opts[] = {
        {"max-seconds", true, NULL}, {"force", false, NULL}, {"slice-ms", true, NULL}};
    json_t *body = NULL, *answer = NULL;
    uint64_t secs = 0, slice = 0;
    struct args a;
    bool on;
    int r;

    if (!args_command(k, argc, argv, opts, ARRAY_SIZE(opts), 1, 1, legacy_usage, &a, &r))
        return r;
    if (strcmp(a.pos[0], "status") == 0) {
        r = konctl_call(k, "GET", "/control/v1/fault/legacy-log-cleanup", NULL, &answer);
        if (r == KONCTL_EXIT_OK && k->json)
            (void)out_json_print(stdout, answer);
        else if (r == KONCTL_EXIT_OK && !json_is_true(json_object_get(answer, "on")))
            (void)printf("the legacy-cleanup fault is off\n");
        else if (r == KONCTL_EXIT_OK)
            (void)printf("the legacy-cleanup fault is on%s: %lld slices (%lld ms) so far, "
                         "ends in %lld s\n",
                         json_is_true(json_object_get(answer, "hogging"))
                             ? " and hogging the main loop"
                             : ", waiting for EC_LOG_OVERFLOW",
                         (long long)json_integer_value(json_object_get(answer, "slices")),
                         (long long)json_integer_value(json_object_get(answer, "hog_ms")),
                         (long long)json_integer_value(json_object_get(answer, "remaining_s")));
        json_decref(answer);
        return r;
    }
    if (strcmp(a.pos[0], "on") != 0 && strcmp(a.pos[0], "off") != 0) {
        konctl_error("'%s' is neither on, off nor status", a.pos[0]);
        return KONCTL_EXIT_USAGE;
    }
    if ((opts[0].value && args_uint_parse(opts[0].value, INT32_MAX, &secs) < 0) ||
        (opts[2].value && args_uint_parse(opts[2].value, INT32_MAX, &slice) < 0)) {
        konctl_error("--max-seconds and --slice-ms take whole numbers");
        return KONCTL_EXIT_USAGE;
    }
    on = strcmp(a.pos[0], "on") == 0;
    body = json_pack("{s:b,s:b}", "on", on, "force", opts[1].value != NULL);
    if (body && opts[0].value)
        (void)json_object_set_new(body, "max_seconds", json_integer((json_int_t)secs));
    if (body && opts[2].value)
        (void)json_object_set_new(body, "slice_ms", json_integer((json_int_t)slice));
    if (!body) {
        konctl_error("out of memory");
        return KONCTL_EXIT_ERROR;
    }
    /* Switching off may wait for the running slice to end. */
    r = konctl_call(k, "POST", "/control/v1/fault/legacy-log-cleanup", body, &answer);
    if (r == KONCTL_EXIT_OK && k->json)
        (void)out_json_print(stdout, answer);
    else if (r == KONCTL_EXIT_OK && on)
        (void)printf("the legacy-cleanup fault is on for at most %lld s: %s\n",
                     (long long)json_integer_value(json_object_get(answer, "max_seconds")),
                     json_is_true(json_object_get(answer, "force"))
                         ? "the main loop is hogged from now on"
                         : "the main loop is hogged while EC_LOG_OVERFLOW is active");
    else if (r == KONCTL_EXIT_OK)
        (void)printf("the legacy-cleanup fault is off\n");
    json_decref(answer);
    json_decref(body);
    return r;
}
