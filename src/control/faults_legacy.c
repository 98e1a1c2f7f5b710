/* faults_legacy: the 2020 fault on purpose. "legacy-log-cleanup" makes konnektord behave like
 * the connectors of September 2020 whose security log reached its budget: a cleanup that
 * hogs the main loop in long slices, so that SOAP and management calls time out and the LED
 * watchdog turns System off (and on again for a moment between slices: it blinks slowly).
 * Practice-software teams use it to test how their software copes with a hung connector;
 * "konctl diagnose" names the situation "hung".
 *
 * Invariants:
 *  1. Never on by default: only POST /control/v1/fault/legacy-log-cleanup switches it on, and
 *     every switch is a security-log entry (MGM/FAULT) naming the user.
 *  2. Armed, it hogs only while the security log is at its budget (EC_LOG_OVERFLOW active) and
 *     still holds entries younger than SECURITY_LOG_DAYS, so that the next eviction would drop
 *     young entries; or at once, and regardless of the log, when switched on with "force".
 *     Once it has hogged and a walk of the log finds nothing younger than the retention left
 *     to evict (the entries aged out and the retention pass deleted them), it ends by itself
 *     ("recovered"), as the 2020 devices recovered after Plan A's wait. The walk is a real
 *     scan of the log on the loop (seclog_stats_get), like the 2020 cleanup's, at most once
 *     per slice.
 *  3. Bounded: it ends by itself max_seconds of real time after it was switched on, and "off"
 *     ends it at once. Between slices the hog yields the loop for YIELD_MS, long enough for a
 *     control call (TLS handshake and request on loopback, credentials cached) to get through
 *     within one or two slices, so that it can always be switched off.
 *  4. The hog burns CPU in a loop (no sleeping): a sleeping connector is not what 2020 looked
 *     like, and the busy loop shows in top the way the field reports describe. */
#include "control/control_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "seclog/seclog.h"
#include "store/store.h"

#define LEGACY_SECONDS_DEFAULT 60
#define LEGACY_SECONDS_MAX 600
/* A slice longer than the LED watchdog's limit (2 s) turns System off. */
#define LEGACY_SLICE_MS_DEFAULT 3000
#define LEGACY_SLICE_MS_MIN 100
#define LEGACY_SLICE_MS_MAX 4000
/* How long the loop runs between slices, and how often an armed fault looks for the budget. */
#define YIELD_MS 50
#define DAY_MS (24LL * 3600 * 1000)

struct legacy {
    struct event *timer;
    int64_t until_mono_ms; /* real monotonic deadline */
    int64_t slice_ms, max_seconds;
    bool force;
    bool hogging;            /* the last step ran a slice */
    bool pressed;            /* the last walk found young entries at the budget */
    int64_t next_walk_ms;    /* real monotonic time of the next walk of the log */
    uint64_t slices, hog_ms; /* slices run and their real time */
    uint64_t work;           /* the "cleanup"'s result, so the compiler keeps the loop */
};

static void publish_switch(struct control *c, const char *user, const char *state, bool force,
                           int64_t max_seconds)
{
    char secs[24];
    struct evt_param params[5] = {{"Fault", "legacy-log-cleanup"},
                                  {"State", state},
                                  {"User", user},
                                  {"Force", force ? "true" : "false"},
                                  {"MaxSeconds", secs}};
    struct evt_event ev = {.topic = "MGM/FAULT",
                           .type = EVT_TYPE_SECURITY,
                           .severity = EVT_SEVERITY_WARNING,
                           .params = params,
                           .n_params = ARRAY_SIZE(params)};

    (void)snprintf(secs, sizeof(secs), "%lld", (long long)max_seconds);
    (void)evt_bus_publish(c->deps.bus, &ev);
}

void control__legacy_stop(struct control *c)
{
    if (!c->legacy)
        return;
    event_free(c->legacy->timer);
    free(c->legacy);
    c->legacy = NULL;
}

/* The pointless cleanup of 2020: walks the same bytes over and over until the slice is up. */
static void hog(struct legacy *l, int64_t until_ms)
{
    uint64_t h = l->work | 1;

    while (clock_real_mono_ms() < until_ms)
        for (int i = 0; i < 100000; i++)
            h = h * 6364136223846793005ULL + 1442695040888963407ULL;
    l->work = h;
}

/* The 2020 cleanup's walk of the log: is it at its budget (no free segment left) with its
 * oldest entry younger than SECURITY_LOG_DAYS, so that making room means evicting young
 * entries? Unknown (no log, a failed scan) counts as yes: the fault stays as it was. */
static bool log_pressed(struct control *c)
{
    struct seclog *log = c->deps.seclog ? *c->deps.seclog : NULL;
    struct seclog_stats st;
    int64_t days = 0;

    if (!log || seclog_stats_get(log, &st, NULL, NULL) < 0 ||
        store_setting_get_int(c->deps.store, "SECURITY_LOG_DAYS", &days) < 0)
        return true;
    return st.records && st.segments + 1 >= st.segments_max &&
           st.oldest_ms > clock_now_ms() - days * DAY_MS;
}

static void on_legacy_step(evutil_socket_t fd, short what, void *arg)
{
    struct control *c = arg;
    struct legacy *l = c->legacy;
    struct timeval gap = {0, YIELD_MS * 1000};
    int64_t now = clock_real_mono_ms(), end;
    bool want;

    if (now >= l->until_mono_ms) {
        log_msg(LOG_LEVEL_WARNING,
                "control: the legacy-cleanup fault ended by itself after %lld s (%llu slices)",
                (long long)l->max_seconds, (unsigned long long)l->slices);
        publish_switch(c, "-", "ended", l->force, l->max_seconds);
        control__legacy_stop(c);
        return;
    }
    want = l->force || ec_is_active(c->deps.ecs, EC_LOG_OVERFLOW, NULL);
    if (want && !l->force) {
        if (now >= l->next_walk_ms) {
            l->pressed = log_pressed(c);
            l->next_walk_ms = now + l->slice_ms;
        }
        want = l->pressed;
        if (!want && l->slices) {
            log_msg(LOG_LEVEL_WARNING,
                    "control: the legacy-cleanup fault recovered by itself after %llu slices: "
                    "nothing younger than SECURITY_LOG_DAYS is left to evict",
                    (unsigned long long)l->slices);
            publish_switch(c, "-", "recovered", l->force, l->max_seconds);
            control__legacy_stop(c);
            return;
        }
    }
    l->hogging = want;
    if (l->hogging) {
        end = now + l->slice_ms < l->until_mono_ms ? now + l->slice_ms : l->until_mono_ms;
        hog(l, end);
        l->slices++;
        l->hog_ms += (uint64_t)(clock_real_mono_ms() - now);
        /* libevent measures the gap from its cached time, which is from before the slice:
         * without this the loop would get one poll between slices, not YIELD_MS. */
        (void)event_base_update_cache_time(c->deps.base);
    }
    (void)event_add(l->timer, &gap);
}

static json_t *legacy_json(const struct control *c)
{
    const struct legacy *l = c->legacy;
    int64_t left = l ? (l->until_mono_ms - clock_real_mono_ms() + 999) / 1000 : 0;

    if (!l)
        return json_pack("{s:b,s:b}", "on", 0, "hogging", 0);
    return json_pack("{s:b,s:b,s:b,s:I,s:I,s:I,s:I,s:I}", "on", 1, "hogging", l->hogging, "force",
                     l->force, "max_seconds", (json_int_t)l->max_seconds, "slice_ms",
                     (json_int_t)l->slice_ms, "remaining_s", (json_int_t)(left > 0 ? left : 0),
                     "slices", (json_int_t)l->slices, "hog_ms", (json_int_t)l->hog_ms);
}

static void get_legacy(struct mgmt_request *req, void *arg)
{
    mgmt_reply_json(req, 200, legacy_json(arg));
}

/* Reads an optional whole number in [min, max] into *ret; false if present and not one. */
static bool body_int(json_t *b, const char *name, int64_t min, int64_t max, int64_t *ret)
{
    json_t *v = b ? json_object_get(b, name) : NULL;

    if (!v)
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return false;
    *ret = json_integer_value(v);
    return true;
}

static void post_legacy(struct mgmt_request *req, void *arg)
{
    struct control *c = arg;
    json_t *b = mgmt_request_body(req);
    json_t *on = b ? json_object_get(b, "on") : NULL;
    json_t *force = b ? json_object_get(b, "force") : NULL;
    int64_t secs = LEGACY_SECONDS_DEFAULT, slice = LEGACY_SLICE_MS_DEFAULT;
    struct timeval first = {0, YIELD_MS * 1000};
    struct legacy *l;

    if (!json_is_boolean(on) || (force && !json_is_boolean(force)) ||
        !body_int(b, "max_seconds", 1, LEGACY_SECONDS_MAX, &secs) ||
        !body_int(b, "slice_ms", LEGACY_SLICE_MS_MIN, LEGACY_SLICE_MS_MAX, &slice)) {
        mgmt_reply_error(req, 400, "invalid_value",
                         "the body needs a boolean 'on', and may have 'force' (true/false), "
                         "'max_seconds' (1..%d) and 'slice_ms' (%d..%d)",
                         LEGACY_SECONDS_MAX, LEGACY_SLICE_MS_MIN, LEGACY_SLICE_MS_MAX);
        return;
    }
    if (!json_is_true(on)) {
        if (c->legacy) {
            log_msg(LOG_LEVEL_WARNING,
                    "control: the legacy-cleanup fault was switched off by '%s' (fault)",
                    mgmt_request_user(req));
            publish_switch(c, mgmt_request_user(req), "off", c->legacy->force,
                           c->legacy->max_seconds);
        }
        control__legacy_stop(c);
        mgmt_reply_json(req, 200, legacy_json(c));
        return;
    }
    control__legacy_stop(c);
    l = calloc(1, sizeof(*l));
    if (!l || !(l->timer = event_new(c->deps.base, -1, 0, on_legacy_step, c))) {
        free(l);
        mgmt_reply_error(req, 503, "busy", "out of memory");
        return;
    }
    l->force = json_is_true(force);
    l->max_seconds = secs;
    l->slice_ms = slice;
    l->until_mono_ms = clock_real_mono_ms() + secs * 1000;
    c->legacy = l;
    log_msg(LOG_LEVEL_WARNING,
            "control: the legacy-cleanup fault was switched on by '%s' for at most %lld s%s "
            "(fault)",
            mgmt_request_user(req), (long long)secs, l->force ? ", forced" : "");
    publish_switch(c, mgmt_request_user(req), "on", l->force, secs);
    /* The first step runs after this answer has gone out. */
    (void)event_add(l->timer, &first);
    mgmt_reply_json(req, 200, legacy_json(c));
}

static const struct control__route routes[] = {
    {MGMT_GET, "/control/v1/fault/legacy-log-cleanup", get_legacy},
    {MGMT_POST, "/control/v1/fault/legacy-log-cleanup", post_legacy},
};

int control__faults_legacy_add(struct control *c, struct mgmt_server *srv)
{
    return control__routes_register(c, srv, routes, ARRAY_SIZE(routes));
}
