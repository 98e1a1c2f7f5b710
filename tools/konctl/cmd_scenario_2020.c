/* cmd_scenario_2020: "konctl scenario 2020-ehealth-update", the 2020 incident replayed against
 * a running connector (docs/incident-2020.md). The connector runs its current firmware (PTV2
 * in the story) and its KSR_URL offers a newer one (the PTV3 bundle, e.g. "konctl ksr
 * serve"). The command checks and downloads the offer, sets MGM_KSR_AUTO_UPDATE_TIME a little
 * ahead on the connector's (virtual) clock and enables MGM_KSR_AUTO_UPDATE, starts the
 * practice load of scenario.h, advances the clock past the slot, follows the update across the
 * core restart until the new firmware runs and is good, renews the storm (the new core has
 * none) and keeps the load on until the security log reached its budget (EC_LOG_OVERFLOW) and
 * --after seconds passed. Then it checks LEDs, conditions and "log verify" and reports.
 *
 *   before  |  across the update restart  |  after
 *   start   trigger (clock advanced)      good (new firmware runs)          stop
 *                 [--- restart window ---]
 *
 * Invariants:
 *  1. The restart window is what the follower saw: from the end of its last probe that both
 *     management and SOAP answered before its first failed probe (or from the clock's
 *     advance, if its first probe failed), to the end of its first probe that both answered
 *     after its last failed one. The follower probes every
 *     FOLLOW_GAP_MS, so the window is exact to about that plus one probe.
 *  2. A workplace request whose start..end overlaps the restart window is a restart request;
 *     every other one was made while the connector was serving. Only serving requests make
 *     the latency figures, and one serving timeout or error fails the run.
 *  3. A failed expectation makes the exit status 1 with a message per failure on stderr; the
 *     report (human or --json) is printed in any case.
 *  4. The command changes only what the story needs (the auto-update settings, what the
 *     practice load sets up) and ends the storm it started. */
#include <stdarg.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "base/base.h"
#include "http.h"
#include "konctl.h"
#include "output.h"
#include "scenario.h"

#define WORKPLACES_DEFAULT 5
#define STORM_DEFAULT 30000
#define INTERVAL_MS_DEFAULT 1000
#define TIMEOUT_MS_DEFAULT 2000
/* Seconds of load before the slot, and at least after the update. */
#define BEFORE_S_DEFAULT 2
#define AFTER_S_DEFAULT 4
/* How long the update (download at the slot, install, restart, health) may take, in s. */
#define UPDATE_TIMEOUT_S_DEFAULT 120
/* How long after the update the log may take to reach its budget, in s. */
#define BUDGET_TIMEOUT_S_DEFAULT 60
/* The slot lies this many minutes after the connector's now; the clock jumps twice as far. */
#define SLOT_MINUTES_DEFAULT 30
/* The longest restart window that passes, in ms (a core boot on a loaded machine). */
#define MAX_UNREACHABLE_MS_DEFAULT 30000
/* The highest serving p99 that passes, in ms. */
#define P99_LIMIT_MS_DEFAULT 1000
/* The follower's probe timeout and the gap between its probes, in ms. */
#define FOLLOW_TIMEOUT_MS 1000
#define FOLLOW_GAP_MS 50
/* Check, download and log verify read or write a whole bundle or log: minutes, not seconds. */
#define LONG_CALL_MS (10 * 60 * 1000)

static const char usage_2020[] =
    "usage: konctl scenario 2020-ehealth-update [--workplaces N] [--storm RATE] [--soap URL]\n"
    "           [--interval MS] [--timeout MS] [--before S] [--after S] [--update-timeout S]\n"
    "           [--budget-timeout S] [--slot-minutes M] [--max-unreachable MS]\n"
    "           [--p99-limit MS] [--key FILE] [--json]\n"
    "\n"
    "The 2020 incident against a running connector on the virtual clock whose KSR_URL offers\n"
    "a newer firmware (konctl ksr serve DIR): checks and downloads the offer, sets\n"
    "MGM_KSR_AUTO_UPDATE_TIME --slot-minutes ahead and enables MGM_KSR_AUTO_UPDATE, runs the\n"
    "practice load (scenario practice --crypto-ops with the storm), advances the clock past\n"
    "the slot, follows the update across the core restart, keeps the load on until the\n"
    "security log reached its budget (EC_LOG_OVERFLOW) and --after seconds passed, then\n"
    "checks LEDs and 'log verify'. Reports per phase (before, across the restart, after)\n"
    "the SOAP and management figures while serving, the requests of the restart window and\n"
    "how long the connector was unreachable. Exit status 1 when an expectation failed.\n"
    "  --workplaces N        workplaces (default 5)\n"
    "  --storm RATE          firewall drops per second (default 30000)\n"
    "  --soap URL            the LAN interface (KONCTL_SOAP_URL; default " SCENARIO_SOAP_URL_DEFAULT
    ")\n"
    "  --timeout MS          each request's timeout (default 2000)\n"
    "  --before S, --after S load before the slot (2) and at least after the update (4)\n"
    "  --update-timeout S    time for the update to come up (default 120)\n"
    "  --budget-timeout S    time for the log to reach its budget afterwards (default 60)\n"
    "  --max-unreachable MS  the longest restart window that passes (default 30000)\n"
    "  --p99-limit MS        the highest p99 while serving that passes (default 1000)\n"
    "  --key FILE            the security log's verification key, to check the seals too\n";

struct opts_2020 {
    struct scenario_opts load;
    uint64_t before_s, after_s, update_timeout_s, budget_timeout_s, slot_minutes;
    uint64_t max_unreachable_ms, p99_limit_ms;
    const char *key_file;
};

/* What the follower saw; times in real monotonic ms, -1 for never. */
struct follow {
    int64_t start_ms, trigger_ms, good_ms, stop_ms;
    int64_t last_ok_end_ms; /* the last probe both answered, before the first failure */
    int64_t first_fail_ms;  /* start of the first failed probe */
    int64_t up_ms;          /* end of the first probe both answered after the last failure */
    int64_t window_from_ms, window_to_ms;
    uint64_t probes, failed;
};

struct ctx_2020 {
    struct konctl *k;
    struct opts_2020 o;
    struct http_client *c;
    struct scenario_load *load;
    struct follow f;
    json_t *before, *after; /* the update status's "running" */
    char target[64], slot[8];
    json_t *expectations;
    bool failed;
};

static void pause_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};

    if (ms > 0)
        (void)nanosleep(&ts, NULL);
}

static void expect(struct ctx_2020 *x, const char *name, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void expect(struct ctx_2020 *x, const char *name, bool ok, const char *fmt, ...)
{
    char detail[512];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    (void)json_array_append_new(
        x->expectations, json_pack("{s:s,s:b,s:s}", "name", name, "ok", ok, "detail", detail));
    if (!ok) {
        konctl_error("scenario 2020-ehealth-update: %s failed: %s", name, detail);
        x->failed = true;
    }
}

/* A request whose failure ends the run: reports it and returns false. */
static bool must(struct ctx_2020 *x, const char *method, const char *path, json_t *body,
                 long timeout_ms, const char *what, json_t **ret_body)
{
    json_t *answer = NULL;
    bool ok = scenario_request(x->c, method, path, body, 0, timeout_ms, &answer);

    if (!ok) {
        const char *msg = json_string_value(json_object_get(answer, "message"));
        konctl_error("scenario 2020-ehealth-update: %s (%s %s) failed%s%s", what, method, path,
                     msg ? ": " : "", msg ? msg : "");
    }
    if (ok && ret_body)
        *ret_body = answer;
    else
        json_decref(answer);
    return ok;
}

static const char *text(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s ? s : "?";
}

/* ---- before: the offer, the slot -------------------------------------------------------- */

static bool prepare(struct ctx_2020 *x)
{
    json_t *st = NULL, *clk = NULL, *u;
    bool ok = false, downloaded;
    int64_t slot_ms;
    time_t t;
    struct tm tm;

    if (!must(x, "GET", "/control/v1/clock", NULL, 10000, "reading the clock", &clk))
        goto out;
    if (strcmp(text(clk, "mode"), "virtual") != 0) {
        konctl_error("scenario 2020-ehealth-update: the connector's clock is '%s', not virtual "
                     "(start konnektord with --clock virtual)",
                     text(clk, "mode"));
        goto out;
    }
    if (!must(x, "POST", "/api/v1/update/check", NULL, LONG_CALL_MS, "asking the KSR", NULL) ||
        !must(x, "GET", "/api/v1/update/status", NULL, 10000, "reading the update status", &st))
        goto out;
    x->before = json_incref(json_object_get(st, "running"));
    u = json_array_get(json_object_get(st, "updates"), 0);
    if (!json_is_object(u)) {
        konctl_error("scenario 2020-ehealth-update: the KSR (KSR_URL '%s') offers no newer "
                     "firmware than %s; give it one (konctl ksr serve DIR)",
                     text(st, "ksr_url"), text(x->before, "fw_version"));
        goto out;
    }
    (void)snprintf(x->target, sizeof(x->target), "%s", text(u, "version"));
    downloaded = json_is_true(json_object_get(u, "downloaded"));
    if (!downloaded && !must(x, "POST", "/api/v1/update/download", NULL, LONG_CALL_MS,
                             "downloading the update", NULL))
        goto out;
    slot_ms =
        json_integer_value(json_object_get(clk, "now_ms")) + (int64_t)x->o.slot_minutes * 60 * 1000;
    t = (time_t)(slot_ms / 1000);
    if (!gmtime_r(&t, &tm))
        goto out;
    (void)snprintf(x->slot, sizeof(x->slot), "%02d:%02d", tm.tm_hour, tm.tm_min);
    ok = must(x, "PUT", "/api/v1/settings/MGM_KSR_AUTO_UPDATE_TIME",
              json_pack("{s:s}", "value", x->slot), 10000, "setting the slot", NULL) &&
         must(x, "PUT", "/api/v1/settings/MGM_KSR_AUTO_UPDATE",
              json_pack("{s:s}", "value", "Enabled"), 10000, "enabling the automatic update", NULL);
out:
    json_decref(st);
    json_decref(clk);
    return ok;
}

/* ---- across: following the update --------------------------------------------------------- */

static size_t discard(char *data, size_t size, size_t n, void *arg)
{
    (void)data;
    (void)arg;
    return size * n;
}

/* Does the LAN interface answer connector.sds within FOLLOW_TIMEOUT_MS? */
static bool soap_answers(const char *soap_url)
{
    char url[1024];
    CURL *h = curl_easy_init();
    long status = 0;
    bool ok;

    if (!h)
        return false;
    (void)snprintf(url, sizeof(url), "%s/connector.sds", soap_url);
    (void)curl_easy_setopt(h, CURLOPT_URL, url);
    (void)curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)FOLLOW_TIMEOUT_MS);
    (void)curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)FOLLOW_TIMEOUT_MS);
    (void)curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    (void)curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    (void)curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    (void)curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    ok = curl_easy_perform(h) == CURLE_OK &&
         curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status == 200;
    curl_easy_cleanup(h);
    return ok;
}

/* One probe of the follower: both interfaces answer; *ret_good when the target runs good. */
static bool probe(struct ctx_2020 *x, struct http_client *fc, bool *ret_good)
{
    json_t *slots = NULL;
    bool ok =
        scenario_request(fc, "GET", "/api/v1/update/slots", NULL, 0, FOLLOW_TIMEOUT_MS, &slots);

    *ret_good = ok && strcmp(text(slots, "fw_version"), x->target) == 0 &&
                json_is_true(json_object_get(slots, "good"));
    json_decref(slots);
    return ok && soap_answers(x->o.load.soap_url);
}

/* Advances the clock past the slot and follows the update until the target runs good. */
static bool follow_update(struct ctx_2020 *x)
{
    struct http_client *fc = NULL;
    struct follow *f = &x->f;
    char by[32];
    int64_t deadline, tick = 0, last_ok_end;
    bool good = false;

    (void)snprintf(by, sizeof(by), "%llum", (unsigned long long)x->o.slot_minutes * 2);
    f->trigger_ms = clock_real_mono_ms();
    /* A core that went down before the first probe: the window starts at the trigger. */
    last_ok_end = f->trigger_ms;
    if (!must(x, "POST", "/control/v1/clock/advance", json_pack("{s:s}", "by", by), 60000,
              "advancing the clock past the slot", NULL))
        return false;
    fc = scenario_client_new(x->k, FOLLOW_TIMEOUT_MS);
    if (!fc) {
        konctl_error("out of memory");
        return false;
    }
    deadline = f->trigger_ms + (int64_t)x->o.update_timeout_s * 1000;
    while (!good && clock_real_mono_ms() < deadline) {
        int64_t t0 = clock_real_mono_ms(), t1;
        bool ok = probe(x, fc, &good);
        t1 = clock_real_mono_ms();
        f->probes++;
        if (!ok) {
            f->failed++;
            if (f->first_fail_ms < 0) {
                f->first_fail_ms = t0;
                f->last_ok_end_ms = last_ok_end;
            }
            f->up_ms = -1;
        } else {
            last_ok_end = t1;
            if (f->first_fail_ms >= 0 && f->up_ms < 0)
                f->up_ms = t1;
        }
        if (t1 - tick >= 1000) {
            scenario_load_tick(x->load);
            tick = t1;
        }
        pause_ms(FOLLOW_GAP_MS);
    }
    http_client_free(fc);
    f->good_ms = clock_real_mono_ms();
    if (f->first_fail_ms >= 0) {
        f->window_from_ms = f->last_ok_end_ms;
        f->window_to_ms = f->up_ms >= 0 ? f->up_ms : f->good_ms;
    } else {
        f->window_from_ms = f->window_to_ms = f->good_ms;
    }
    if (!good)
        konctl_error("scenario 2020-ehealth-update: firmware %s did not come up within %llu s "
                     "of the slot",
                     x->target, (unsigned long long)x->o.update_timeout_s);
    return good;
}

/* ---- after: the budget ------------------------------------------------------------------- */

static bool condition_active(json_t *conditions, const char *name)
{
    json_t *v;
    size_t i;

    json_array_foreach(json_object_get(conditions, "conditions"), i, v)
    {
        if (strcmp(text(v, "name"), name) == 0)
            return true;
    }
    return false;
}

static bool overflow_now(struct ctx_2020 *x)
{
    json_t *conds = NULL;
    bool on = scenario_request(x->c, "GET", "/api/v1/conditions", NULL, 0, 2000, &conds) &&
              condition_active(conds, "EC_LOG_OVERFLOW");

    json_decref(conds);
    return on;
}

/* Has every workplace started a SOAP and a management request since the update? Requests
 * caught in the restart (a connect the booting core queued) may still be waiting out their
 * timeout when the new firmware is good. */
static bool all_polled_after(struct ctx_2020 *x)
{
    for (int k = 0; k < SCENARIO_KIND_MAX; k++) {
        struct scenario_sample *v = NULL;
        size_t next, n = scenario_load_samples(x->load, (enum scenario_kind)k, 0, &v, &next);
        uint64_t after = 0;
        for (size_t i = 0; i < n; i++)
            after += v[i].start_ms >= x->f.good_ms;
        free(v);
        if (after < x->o.load.workplaces)
            return false;
    }
    return true;
}

/* Keeps the load on until EC_LOG_OVERFLOW, --after s and a poll of every workplace since the
 * update, at most --budget-timeout s; returns when the budget was seen (s after the update)
 * or -1. */
static double wait_budget(struct ctx_2020 *x)
{
    int64_t min_end = x->f.good_ms + (int64_t)x->o.after_s * 1000;
    int64_t deadline = x->f.good_ms + (int64_t)x->o.budget_timeout_s * 1000;
    double seen = -1;

    for (;;) {
        int64_t now = clock_real_mono_ms();
        if (seen < 0 && overflow_now(x))
            seen = (double)(clock_real_mono_ms() - x->f.good_ms) / 1000.0;
        if (now >= deadline || (seen >= 0 && now >= min_end && all_polled_after(x)))
            break;
        scenario_load_tick(x->load);
        pause_ms(1000 - (clock_real_mono_ms() - now));
    }
    return seen;
}

/* ---- the report -------------------------------------------------------------------------- */

struct pick {
    int64_t from_ms, to_ms; /* the phase: samples that started in [from, to) */
    const struct follow *f;
    bool restart; /* the restart requests, or the serving ones */
};

static bool in_window(const struct scenario_sample *s, const struct follow *f)
{
    return f->first_fail_ms >= 0 && s->end_ms >= f->window_from_ms &&
           s->start_ms <= f->window_to_ms;
}

static bool picked(const struct scenario_sample *s, void *arg)
{
    const struct pick *p = arg;

    return s->start_ms >= p->from_ms && s->start_ms < p->to_ms && in_window(s, p->f) == p->restart;
}

/* A phase's figures of one kind: those while serving, with "restart" for the window's. */
static json_t *phase_kind(const struct scenario_sample *v, size_t n, struct pick *p)
{
    const struct scenario_sample *slowest = NULL;
    json_t *serving, *restart;

    p->restart = false;
    serving = scenario_figures(v, n, picked, p);
    /* Where the slowest serving request started (ms from the load's start), to set it beside
     * the restart window. */
    for (size_t i = 0; i < n; i++)
        if (picked(&v[i], p) && (!slowest || v[i].ms > slowest->ms))
            slowest = &v[i];
    if (serving && slowest)
        (void)json_object_set_new(serving, "max_at_ms",
                                  json_integer((json_int_t)(slowest->start_ms - p->f->start_ms)));
    p->restart = true;
    restart = scenario_figures(v, n, picked, p);
    if (serving && restart)
        (void)json_object_set_new(serving, "restart", restart);
    else
        json_decref(restart);
    return serving;
}

static json_t *phases(struct ctx_2020 *x)
{
    static const char *const names[] = {"before", "across_update", "after"};
    const int64_t edge[] = {x->f.start_ms, x->f.trigger_ms, x->f.good_ms, x->f.stop_ms + 1};
    struct scenario_sample *v[SCENARIO_KIND_MAX] = {NULL, NULL};
    size_t n[SCENARIO_KIND_MAX], next;
    json_t *list = json_array();

    for (int k = 0; k < SCENARIO_KIND_MAX; k++)
        n[k] = scenario_load_samples(x->load, (enum scenario_kind)k, 0, &v[k], &next);
    for (size_t i = 0; list && i < ARRAY_SIZE(names); i++) {
        struct pick p = {.from_ms = edge[i], .to_ms = edge[i + 1], .f = &x->f};
        (void)json_array_append_new(
            list, json_pack("{s:s,s:f,s:o*,s:o*}", "name", names[i], "seconds",
                            (double)(edge[i + 1] - edge[i]) / 1000.0, "soap",
                            phase_kind(v[SCENARIO_SOAP], n[SCENARIO_SOAP], &p), "management",
                            phase_kind(v[SCENARIO_MGMT], n[SCENARIO_MGMT], &p)));
    }
    free(v[SCENARIO_SOAP]);
    free(v[SCENARIO_MGMT]);
    return list;
}

/* Expectations on the phases: nothing failed while serving, p99 within the limit. */
static void judge_phases(struct ctx_2020 *x, const json_t *list)
{
    static const char *const kinds[] = {"soap", "management"};
    json_int_t failed = 0;
    double worst = 0;
    char where[96] = "";
    const json_t *ph;
    size_t i;

    json_array_foreach(list, i, ph)
    {
        for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
            const json_t *fig = json_object_get(ph, kinds[k]);
            double p99 = json_number_value(json_object_get(fig, "p99_ms"));
            failed += json_integer_value(json_object_get(fig, "timeouts")) +
                      json_integer_value(json_object_get(fig, "errors"));
            if (p99 > worst) {
                worst = p99;
                (void)snprintf(where, sizeof(where), "%s %s", kinds[k], text(ph, "name"));
            }
        }
    }
    expect(x, "responsive_outside_restart", failed == 0,
           "%lld timeouts and errors while the connector was serving (outside the restart "
           "window)",
           (long long)failed);
    expect(x, "p99_bounded", worst <= (double)x->o.p99_limit_ms,
           "the highest p99 while serving was %.1f ms (%s), the limit %llu ms", worst,
           where[0] ? where : "-", (unsigned long long)x->o.p99_limit_ms);
}

/* LEDs, the condition, the audit trail, the firmware after. */
static json_t *judge_connector(struct ctx_2020 *x, double budget_s)
{
    json_t *leds = NULL, *verify = NULL, *st = NULL, *body = json_pack("{s:s}", "log", "security");
    char *key = NULL;
    size_t key_len = 0;
    json_t *out;

    if (x->o.key_file) {
        if (file_read_all(x->o.key_file, 4096, &key, &key_len) == 0 && body)
            (void)json_object_set_new(body, "key", json_stringn(key, key_len));
        else
            konctl_error("cannot read the verification key '%s'; verifying without the seals",
                         x->o.key_file);
        if (key)
            explicit_bzero(key, key_len);
        free(key);
    }
    expect(x, "log_overflow_raised", budget_s >= 0,
           budget_s >= 0 ? "EC_LOG_OVERFLOW active %.1f s after the update"
                         : "EC_LOG_OVERFLOW not raised within %.0f s after the update (a "
                           "stronger --storm or a smaller SECLOG_CAPACITY_MB)",
           budget_s >= 0 ? budget_s : (double)x->o.budget_timeout_s);
    (void)must(x, "GET", "/api/v1/leds", NULL, 10000, "reading the LEDs", &leds);
    expect(x, "leds_system_and_service_on",
           strcmp(text(leds, "system"), "on") == 0 && strcmp(text(leds, "service"), "on") == 0,
           "Power %s, System %s, VPN %s, Service %s", text(leds, "power"), text(leds, "system"),
           text(leds, "vpn"), text(leds, "service"));
    (void)must(x, "POST", "/api/v1/log/verify", body, LONG_CALL_MS, "verifying the log", &verify);
    body = NULL;
    expect(x, "log_verifies", json_is_true(json_object_get(verify, "ok")),
           "log verify: %s, %lld records, %lld seals checked",
           json_is_true(json_object_get(verify, "ok")) ? "ok" : "NOT ok",
           (long long)json_integer_value(json_object_get(verify, "records")),
           (long long)json_integer_value(json_object_get(verify, "seals_checked")));
    if (must(x, "GET", "/api/v1/update/status", NULL, 10000, "reading the update status", &st))
        x->after = json_incref(json_object_get(st, "running"));
    expect(x, "firmware_updated", strcmp(text(x->after, "fw_version"), x->target) == 0,
           "%s (PTV %s) before, %s (PTV %s) after, %s offered", text(x->before, "fw_version"),
           text(x->before, "product_type_version"), text(x->after, "fw_version"),
           text(x->after, "product_type_version"), x->target);
    out = json_pack("{s:O*,s:O*}", "leds", leds, "verify", verify);
    json_decref(leds);
    json_decref(verify);
    json_decref(st);
    return out;
}

static void print_phase(const json_t *ph, const json_t *restart)
{
    static const char *const kinds[] = {"soap", "management"};
    static const char *const labels[] = {"SOAP", "management"};

    (void)printf("%s (%.1f s)", text(ph, "name"),
                 json_number_value(json_object_get(ph, "seconds")));
    if (strcmp(text(ph, "name"), "across_update") == 0)
        (void)printf(", unreachable %lld ms",
                     (long long)json_integer_value(json_object_get(restart, "unreachable_ms")));
    (void)printf(":\n");
    for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
        const json_t *fig = json_object_get(ph, kinds[k]);
        const json_t *rs = json_object_get(fig, "restart");
        (void)printf("  ");
        scenario_figures_print(stdout, labels[k], fig);
        if (json_integer_value(json_object_get(rs, "requests")))
            (void)printf("    in the restart window: %lld requests, %lld ok, %lld timeouts, "
                         "%lld errors\n",
                         (long long)json_integer_value(json_object_get(rs, "requests")),
                         (long long)json_integer_value(json_object_get(rs, "ok")),
                         (long long)json_integer_value(json_object_get(rs, "timeouts")),
                         (long long)json_integer_value(json_object_get(rs, "errors")));
    }
}

static void print_report(const struct ctx_2020 *x, const json_t *report)
{
    const json_t *ph, *e;
    size_t i;

    (void)printf("\n2020-ehealth-update: firmware %s (PTV %s) -> %s (PTV %s), slot %s\n",
                 text(x->before, "fw_version"), text(x->before, "product_type_version"),
                 text(x->after, "fw_version"), text(x->after, "product_type_version"), x->slot);
    json_array_foreach(json_object_get(report, "phases"), i, ph)
    {
        print_phase(ph, json_object_get(report, "restart"));
    }
    (void)printf("expectations:\n");
    json_array_foreach(json_object_get(report, "expectations"), i, e)
    {
        (void)printf("  %-4s %-28s %s\n", json_is_true(json_object_get(e, "ok")) ? "ok" : "FAIL",
                     text(e, "name"), text(e, "detail"));
    }
    (void)printf("%s\n", x->failed ? "FAILED" : "PASSED");
}

static json_t *restart_json(const struct follow *f)
{
    bool seen = f->first_fail_ms >= 0;

    return json_pack("{s:b,s:I,s:I,s:I,s:I,s:I,s:I}", "seen", seen, "unreachable_ms",
                     (json_int_t)(seen ? f->window_to_ms - f->first_fail_ms : 0), "window_from_ms",
                     (json_int_t)(f->window_from_ms - f->start_ms), "window_to_ms",
                     (json_int_t)(f->window_to_ms - f->start_ms), "probes", (json_int_t)f->probes,
                     "failed_probes", (json_int_t)f->failed, "probe_gap_ms",
                     (json_int_t)FOLLOW_GAP_MS);
}

/* ---- the run ----------------------------------------------------------------------------- */

static int run_2020(struct ctx_2020 *x)
{
    json_t *report = NULL, *list = NULL, *restart = NULL, *conn = NULL, *counts = NULL;
    uint64_t storm_s = x->o.before_s + x->o.update_timeout_s + x->o.budget_timeout_s + 10;
    double budget_s;
    int r = KONCTL_EXIT_ERROR;

    x->f = (struct follow){.first_fail_ms = -1, .last_ok_end_ms = -1, .up_ms = -1};
    if (!prepare(x))
        goto out;
    if (!x->k->json)
        (void)fprintf(stderr,
                      "scenario: firmware %s runs, %s is downloaded, the automatic "
                      "update is set for %s (UTC); starting the load\n",
                      text(x->before, "fw_version"), x->target, x->slot);
    x->o.load.seconds = storm_s;
    x->f.start_ms = clock_real_mono_ms();
    x->load = scenario_load_start(x->k, &x->o.load, x->f.start_ms + (int64_t)storm_s * 1000);
    if (!x->load)
        goto out;
    for (uint64_t s = 0; s < x->o.before_s; s++) {
        pause_ms(1000);
        scenario_load_tick(x->load);
    }
    if (!x->k->json)
        (void)fprintf(stderr, "scenario: advancing the clock past the slot\n");
    if (!follow_update(x))
        goto out;
    if (!x->k->json)
        (void)fprintf(stderr, "scenario: firmware %s runs; load on until the log's budget\n",
                      x->target);
    if (!scenario_load_renew(x->load, x->o.budget_timeout_s + x->o.after_s))
        konctl_error("the storm could not be started again after the update");
    budget_s = wait_budget(x);
    x->f.stop_ms = clock_real_mono_ms();
    counts = scenario_load_counts(x->load);
    list = phases(x);
    x->load = scenario_load_stop(x->load);
    /* The control API has no "stop": a flood of one entry replaces the storm. */
    (void)scenario_request(
        x->c, "POST", "/control/v1/fault/flood",
        json_pack("{s:s,s:i,s:i}", "topic", "NK/FIREWALL/DROP", "rate", 1, "seconds", 1), 0, 10000,
        NULL);
    restart = restart_json(&x->f);
    judge_phases(x, list);
    expect(x, "restart_window_bounded",
           json_integer_value(json_object_get(restart, "unreachable_ms")) <=
               (json_int_t)x->o.max_unreachable_ms,
           "unreachable for %lld ms across the core restart, the limit %llu ms",
           (long long)json_integer_value(json_object_get(restart, "unreachable_ms")),
           (unsigned long long)x->o.max_unreachable_ms);
    conn = judge_connector(x, budget_s);
    report = json_pack("{s:s,s:{s:O*,s:O*,s:s},s:s,s:I,s:o*,s:O*,s:O*,s:o,s:O*,s:O*,s:O*,s:b}",
                       "scenario", "2020-ehealth-update", "firmware", "before", x->before, "after",
                       x->after, "offered", x->target, "slot", x->slot, "workplaces",
                       (json_int_t)x->o.load.workplaces, "phases", list, "restart", restart, "load",
                       counts, "seconds_to_budget",
                       budget_s >= 0 ? json_real(round(budget_s * 10) / 10) : json_null(), "leds",
                       json_object_get(conn, "leds"), "verify", json_object_get(conn, "verify"),
                       "expectations", x->expectations, "ok", !x->failed);
    list = NULL;
    if (!report) {
        konctl_error("out of memory");
        goto out;
    }
    if (x->k->json)
        (void)out_json_print(stdout, report);
    else
        print_report(x, report);
    r = x->failed ? KONCTL_EXIT_ERROR : KONCTL_EXIT_OK;
out:
    x->load = scenario_load_stop(x->load);
    json_decref(report);
    json_decref(list);
    json_decref(restart);
    json_decref(conn);
    json_decref(counts);
    return r;
}

int scenario_2020(struct konctl *k, int argc, char **argv)
{
    struct args_opt opts[] = {{"workplaces", true, NULL},
                              {"storm", true, NULL},
                              {"soap", true, NULL},
                              {"interval", true, NULL},
                              {"timeout", true, NULL},
                              {"before", true, NULL},
                              {"after", true, NULL},
                              {"update-timeout", true, NULL},
                              {"budget-timeout", true, NULL},
                              {"slot-minutes", true, NULL},
                              {"max-unreachable", true, NULL},
                              {"p99-limit", true, NULL},
                              {"key", true, NULL}};
    struct ctx_2020 x = {.k = k,
                         .o = {.load = {.workplaces = WORKPLACES_DEFAULT,
                                        .storm = STORM_DEFAULT,
                                        .interval_ms = INTERVAL_MS_DEFAULT,
                                        .timeout_ms = TIMEOUT_MS_DEFAULT,
                                        .crypto_ops = true},
                               .before_s = BEFORE_S_DEFAULT,
                               .after_s = AFTER_S_DEFAULT,
                               .update_timeout_s = UPDATE_TIMEOUT_S_DEFAULT,
                               .budget_timeout_s = BUDGET_TIMEOUT_S_DEFAULT,
                               .slot_minutes = SLOT_MINUTES_DEFAULT,
                               .max_unreachable_ms = MAX_UNREACHABLE_MS_DEFAULT,
                               .p99_limit_ms = P99_LIMIT_MS_DEFAULT}};
    struct args a;
    int r;

    if (!args_command(k, argc, argv, opts, ARRAY_SIZE(opts), 0, 0, usage_2020, &a, &r))
        return r;
    if (!scenario_number("workplaces", opts[0].value, 1, 200, &x.o.load.workplaces) ||
        !scenario_number("storm", opts[1].value, 0, 100000, &x.o.load.storm) ||
        !scenario_number("interval", opts[3].value, 10, 60000, &x.o.load.interval_ms) ||
        !scenario_number("timeout", opts[4].value, 100, 60000, &x.o.load.timeout_ms) ||
        !scenario_number("before", opts[5].value, 0, 3600, &x.o.before_s) ||
        !scenario_number("after", opts[6].value, 1, 3600, &x.o.after_s) ||
        !scenario_number("update-timeout", opts[7].value, 1, 3600, &x.o.update_timeout_s) ||
        !scenario_number("budget-timeout", opts[8].value, 1, 3600, &x.o.budget_timeout_s) ||
        !scenario_number("slot-minutes", opts[9].value, 2, 600, &x.o.slot_minutes) ||
        !scenario_number("max-unreachable", opts[10].value, 1, 3600000, &x.o.max_unreachable_ms) ||
        !scenario_number("p99-limit", opts[11].value, 1, 3600000, &x.o.p99_limit_ms))
        return KONCTL_EXIT_USAGE;
    x.o.load.soap_url = opts[2].value ? opts[2].value : getenv("KONCTL_SOAP_URL");
    if (!x.o.load.soap_url || !x.o.load.soap_url[0])
        x.o.load.soap_url = SCENARIO_SOAP_URL_DEFAULT;
    x.o.key_file = opts[12].value;
    r = konctl_open(k);
    if (r != KONCTL_EXIT_OK)
        return r;
    x.c = scenario_client_new(k, 5000);
    x.expectations = json_array();
    if (!x.c || !x.expectations) {
        konctl_error("out of memory");
        r = KONCTL_EXIT_ERROR;
    } else {
        r = run_2020(&x);
    }
    json_decref(x.before);
    json_decref(x.after);
    json_decref(x.expectations);
    http_client_free(x.c);
    return r;
}
