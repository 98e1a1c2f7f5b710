/* faults_log: faults and probes of the security log for tests and practice-software teams:
 * an I/O error on every write of the log, a flood of security events like the 2020 LAN
 * broadcast storm, and appending a marked entry (durably, for crash tests).
 *
 * Invariants:
 *  1. A flood runs on a real-time timer in 10 ms steps, publishes exactly rate x seconds
 *     events spread over its seconds, and ends by itself; a new flood replaces a running one.
 *  2. Flood events go through the event bus like real ones, so they take the same path into
 *     the security log (routing, folding, budget). */
#include "control/control_internal.h"

#include "seclog/seclog.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#define FLOOD_STEP_MS 10
#define FLOOD_RATE_MAX 100000
#define FLOOD_SECONDS_MAX 3600
/* A marked entry waits at most this long to be durable. */
#define DURABLE_TIMEOUT_MS 5000

struct flood {
    struct event *timer;
    char topic[EVT_TOPIC_MAX + 1];
    int64_t rate, start_mono_ms;
    uint64_t sent, total; /* total = rate x seconds, exactly */
    bool distinct;
};

static void publish_one(struct control *c, struct flood *f)
{
    /* What a connector's firewall logs for a dropped LAN broadcast (TIP1-A_4750). */
    char src[32], port[8], n[24];
    struct evt_param params[6] = {{"Src", src},      {"Dst", "255.255.255.255"}, {"Proto", "UDP"},
                                  {"DstPort", port}, {"Action", "DROP"},         {"N", n}};
    struct evt_event ev = {.topic = f->topic,
                           .type = EVT_TYPE_SECURITY,
                           .severity = EVT_SEVERITY_INFO,
                           .params = params,
                           .n_params = f->distinct ? 6 : 5};

    (void)snprintf(src, sizeof(src), "192.168.1.%u", (unsigned)(10 + f->sent % 20));
    (void)snprintf(port, sizeof(port), "%u", f->sent % 2 ? 138u : 137u);
    (void)snprintf(n, sizeof(n), "%llu", (unsigned long long)f->sent);
    (void)evt_bus_publish(c->deps.bus, &ev);
    f->sent++;
}

static void on_flood_step(evutil_socket_t fd, short what, void *arg)
{
    struct control *c = arg;
    struct flood *f = c->flood;
    /* As many as the elapsed real time asks for, so a late step catches up. */
    uint64_t due = (uint64_t)(f->rate * (clock_real_mono_ms() - f->start_mono_ms) / 1000);

    if (due > f->total)
        due = f->total;
    while (f->sent < due)
        publish_one(c, f);
    if (f->sent >= f->total) {
        log_msg(LOG_LEVEL_WARNING, "control: flood of '%s' ended after %llu events", f->topic,
                (unsigned long long)f->sent);
        control__flood_stop(c);
    }
}

void control__flood_stop(struct control *c)
{
    if (!c->flood)
        return;
    event_free(c->flood->timer);
    free(c->flood);
    c->flood = NULL;
}

static void post_flood(struct mgmt_request *req, void *arg)
{
    struct control *c = arg;
    json_t *b = mgmt_request_body(req);
    json_t *topic = b ? json_object_get(b, "topic") : NULL;
    json_t *rate = b ? json_object_get(b, "rate") : NULL;
    json_t *secs = b ? json_object_get(b, "seconds") : NULL;
    json_t *distinct = b ? json_object_get(b, "distinct") : NULL;
    struct timeval step = {0, FLOOD_STEP_MS * 1000};
    struct flood *f;

    if ((topic && (!json_is_string(topic) || !json_string_length(topic) ||
                   json_string_length(topic) > EVT_TOPIC_MAX)) ||
        !json_is_integer(rate) || json_integer_value(rate) < 1 ||
        json_integer_value(rate) > FLOOD_RATE_MAX || !json_is_integer(secs) ||
        json_integer_value(secs) < 1 || json_integer_value(secs) > FLOOD_SECONDS_MAX) {
        mgmt_reply_error(req, 400, "invalid_value",
                         "a flood needs rate (1..%d per second) and seconds (1..%d), and "
                         "optionally topic (1..%d characters) and distinct (true/false)",
                         FLOOD_RATE_MAX, FLOOD_SECONDS_MAX, EVT_TOPIC_MAX);
        return;
    }
    control__flood_stop(c);
    f = calloc(1, sizeof(*f));
    if (!f || !(f->timer = event_new(c->deps.base, -1, EV_PERSIST, on_flood_step, c))) {
        free(f);
        mgmt_reply_error(req, 503, "busy", "out of memory");
        return;
    }
    (void)str_copy(f->topic, sizeof(f->topic),
                   topic ? json_string_value(topic) : "NK/FIREWALL/DROP");
    f->rate = json_integer_value(rate);
    f->start_mono_ms = clock_real_mono_ms();
    f->total = (uint64_t)(f->rate * json_integer_value(secs));
    f->distinct = json_is_true(distinct);
    c->flood = f;
    (void)event_add(f->timer, &step);
    log_msg(LOG_LEVEL_WARNING, "control: '%s' started a flood of '%s', %lld/s for %lld s (fault)",
            mgmt_request_user(req), f->topic, (long long)f->rate,
            (long long)json_integer_value(secs));
    mgmt_reply_json(req, 200,
                    json_pack("{s:s,s:I,s:I,s:b}", "topic", f->topic, "rate", (json_int_t)f->rate,
                              "seconds", json_integer_value(secs), "distinct", f->distinct));
}

static void post_io_error(struct mgmt_request *req, void *arg)
{
    struct control *c = arg;
    json_t *on = mgmt_request_body(req) ? json_object_get(mgmt_request_body(req), "on") : NULL;
    char *dir;

    if (!json_is_boolean(on)) {
        mgmt_reply_error(req, 400, "bad_request", "the body needs a boolean member 'on'");
        return;
    }
    dir = fs_path_join(c->deps.data_dir, "seclog/");
    if (!dir) {
        mgmt_reply_error(req, 503, "busy", "out of memory");
        return;
    }
    io_fault_prefix(json_is_true(on) ? dir : NULL, EIO);
    log_msg(LOG_LEVEL_WARNING, "control: '%s' turned the security log I/O error %s (fault)",
            mgmt_request_user(req), json_is_true(on) ? "on" : "off");
    free(dir);
    mgmt_reply_json(req, 200, json_pack("{s:b}", "on", json_is_true(on)));
}

struct mark {
    struct seclog *log;
    struct seclog_param params[SECLOG_PARAMS_MAX];
    struct seclog_entry entry;
    json_t *body; /* holds the strings the entry points into */
    bool durable;
    uint64_t seq;
    int r;
};

static void mark_work(void *arg)
{
    struct mark *m = arg;

    m->r = m->durable ? seclog_append_durable(m->log, &m->entry, DURABLE_TIMEOUT_MS, &m->seq)
                      : seclog_append(m->log, &m->entry);
}

static void mark_done(struct mgmt_request *req, void *arg)
{
    struct mark *m = arg;

    if (m->r < 0)
        mgmt_reply_error(req, 503, "unavailable", "the entry was not %s (%s)",
                         m->durable ? "made durable" : "queued",
                         m->r == -ETIMEDOUT ? "timeout"
                         : m->r == -ENOBUFS ? "queue full"
                                            : "write error");
    else
        mgmt_reply_json(req, 200,
                        json_pack("{s:I,s:b,s:b}", "seq", (json_int_t)m->seq, "durable", m->durable,
                                  "folded", m->r == 1));
    json_decref(m->body);
    free(m);
}

static void post_append(struct mgmt_request *req, void *arg)
{
    struct control *c = arg;
    json_t *b = mgmt_request_body(req);
    json_t *topic = b ? json_object_get(b, "topic") : NULL;
    json_t *params = b ? json_object_get(b, "params") : NULL;
    struct seclog *log = *c->deps.seclog;
    struct mark *m;
    const char *key;
    json_t *v;

    if (!json_is_string(topic) || (params && !json_is_object(params)) ||
        (params && json_object_size(params) > SECLOG_PARAMS_MAX)) {
        mgmt_reply_error(req, 400, "bad_request",
                         "the body needs a string 'topic' and may have 'params' (an object of "
                         "at most %d strings) and 'durable'",
                         SECLOG_PARAMS_MAX);
        return;
    }
    if (!log) {
        mgmt_reply_error(req, 503, "unavailable", "the security log is not open");
        return;
    }
    m = calloc(1, sizeof(*m));
    if (!m) {
        mgmt_reply_error(req, 503, "busy", "out of memory");
        return;
    }
    m->log = log;
    m->body = json_incref(b);
    m->durable = json_is_true(json_object_get(b, "durable"));
    m->entry = (struct seclog_entry){.severity = SECLOG_SEVERITY_INFO,
                                     .type = SECLOG_TYPE_SECURITY,
                                     .topic = json_string_value(topic),
                                     .params = m->params};
    json_object_foreach(params, key, v)
    {
        if (!json_is_string(v)) {
            mgmt_reply_error(req, 400, "bad_request", "parameter '%.64s' is not a string", key);
            json_decref(m->body);
            free(m);
            return;
        }
        m->params[m->entry.n_params++] = (struct seclog_param){key, json_string_value(v)};
    }
    if (mgmt_request_offload(req, mark_work, mark_done, m) < 0) {
        json_decref(m->body);
        free(m);
    }
}

static const struct control__route routes[] = {
    {MGMT_POST, "/control/v1/fault/flood", post_flood},
    {MGMT_POST, "/control/v1/fault/seclog-io-error", post_io_error},
    {MGMT_POST, "/control/v1/seclog/append", post_append},
};

int control__faults_log_add(struct control *c, struct mgmt_server *srv)
{
    return control__routes_register(c, srv, routes, ARRAY_SIZE(routes));
}
