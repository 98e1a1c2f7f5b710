/* routes_log: reading the security and system logs (TIP1-A_4716): page and filter, export as
 * JSON Lines, statistics, verification, and the login/logout session that tells an
 * administrator what the security log gained since their last logout (TIP1-A_4996).
 *
 * Invariants:
 *  1. Nothing here writes to a log or deletes from one (TIP1-A_4709): there is no such route.
 *  2. Every read of the log runs on the worker pool, never on the loop: a filter that matches
 *     little may read the whole log.
 *  3. Reading is "log viewing" in TAB_KON_504-01, so no critical state stops it. */
#include "mgmt/mgmt_internal.h"

#include "seclog/seclog.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_DEFAULT 100
#define PAGE_MAX 1000
#define EXPORT_PAGE 1000
/* Counting new entries at login stops here; the answer then says "at least". */
#define NEW_COUNT_MAX 100000

struct log_job {
    struct seclog *log;
    struct seclog_filter filter;
    char topic[SECLOG_TOPIC_MAX + 1];
    int64_t last_logout_ms;
    /* results */
    json_t *entries;
    uint64_t last_seq_seen;
    size_t count;
    int r;
    bool more_pages;
    /* verify */
    char *key;
    struct seclog_verify_result verify;
    /* stats */
    struct seclog_stats stats;
    json_t *topics;
    int64_t retention_days;
};

static void log_job_free(struct log_job *j)
{
    if (!j)
        return;
    json_decref(j->entries);
    json_decref(j->topics);
    if (j->key) {
        explicit_bzero(j->key, strlen(j->key));
        free(j->key);
    }
    free(j);
}

/* The log named by ?log= (or the body's "log"), or NULL after replying. */
static struct seclog *pick_log(struct mgmt_request *req)
{
    const struct mgmt_deps *d = mgmt_request_deps(req);
    json_t *b = mgmt_request_body(req) ? json_object_get(mgmt_request_body(req), "log") : NULL;
    const char *name = json_is_string(b) ? json_string_value(b) : mgmt_request_query(req, "log");
    struct seclog *log;

    if (!name || strcmp(name, "security") == 0)
        log = d->seclog ? *d->seclog : NULL;
    else if (strcmp(name, "system") == 0)
        log = d->syslog ? *d->syslog : NULL;
    else {
        mgmt_reply_error(req, 400, "invalid_value", "log is 'security' or 'system', got '%.32s'",
                         name);
        return NULL;
    }
    if (!log)
        mgmt_reply_error(req, 503, "unavailable",
                         "the %s log is not open (see the operating state)",
                         name ? name : "security");
    return log;
}

static bool parse_time(struct mgmt_request *req, const char *key, int64_t *ret)
{
    const char *v = mgmt_request_query(req, key);

    *ret = 0;
    if (v && clock_parse_iso(v, ret) < 0) {
        mgmt_reply_error(req, 400, "invalid_value",
                         "%s must be a time like 2026-11-29T08:00:00Z or ms since 1970, got "
                         "'%.40s'",
                         key, v);
        return false;
    }
    return true;
}

static bool parse_seq(struct mgmt_request *req, const char *key, uint64_t *ret)
{
    const char *v = mgmt_request_query(req, key);
    int64_t n = 0;

    *ret = 0;
    if (v && (str_to_int64(v, &n) < 0 || n < 0)) {
        mgmt_reply_error(req, 400, "invalid_value", "%s must be a sequence number, got '%.40s'",
                         key, v);
        return false;
    }
    *ret = (uint64_t)n;
    return true;
}

/* Fills j->filter from the query; replies 400 and returns false on a bad parameter. */
static bool parse_filter(struct mgmt_request *req, struct log_job *j, bool paged)
{
    const char *sev = mgmt_request_query(req, "severity");
    const char *topic = mgmt_request_query(req, "topic");
    const char *order = mgmt_request_query(req, "order");
    const char *limit = mgmt_request_query(req, "limit");
    enum seclog_severity s;
    int64_t n = PAGE_DEFAULT;

    j->filter.min_severity = -1;
    if (!parse_time(req, "from", &j->filter.from_ms) || !parse_time(req, "to", &j->filter.to_ms) ||
        !parse_seq(req, "after", &j->filter.after_seq) ||
        !parse_seq(req, "before", &j->filter.before_seq))
        return false;
    if (sev) {
        if (seclog_severity_from_string(sev, &s) < 0) {
            mgmt_reply_error(req, 400, "invalid_value",
                             "severity is Info, Warning, Error or Fatal, got '%.32s'", sev);
            return false;
        }
        j->filter.min_severity = (int)s;
    }
    if (topic) {
        (void)str_copy(j->topic, sizeof(j->topic), topic);
        j->filter.topic_prefix = j->topic;
    }
    if (order && strcmp(order, "newest") != 0 && strcmp(order, "oldest") != 0) {
        mgmt_reply_error(req, 400, "invalid_value", "order is 'newest' or 'oldest', got '%.32s'",
                         order);
        return false;
    }
    j->filter.newest_first = paged && (!order || strcmp(order, "newest") == 0);
    if (paged && limit && (str_to_int64(limit, &n) < 0 || n < 1 || n > PAGE_MAX)) {
        mgmt_reply_error(req, 400, "invalid_value", "limit must be a whole number from 1 to %d",
                         PAGE_MAX);
        return false;
    }
    j->filter.limit = paged ? (size_t)n : EXPORT_PAGE;
    return true;
}

/* "new": written after the caller's last logout; for an admin who never logged out, every
 * entry is (the login count says the same, TIP1-A_4996). */
static json_t *entry_json(const struct seclog_record *r, int64_t last_logout_ms)
{
    json_t *params = json_object();

    for (size_t i = 0; i < r->n_params; i++)
        json_object_set_new(params, r->params[i].key, json_string(r->params[i].value));
    return json_pack("{s:I,s:o,s:s,s:s,s:s,s:o,s:b}", "seq", (json_int_t)r->seq, "time",
                     mgmt__time_json(r->time_ms), "severity",
                     seclog_severity_to_string(r->severity), "type", seclog_type_to_string(r->type),
                     "topic", r->topic, "params", params, "new", r->time_ms > last_logout_ms);
}

static int collect(const struct seclog_record *r, void *arg)
{
    struct log_job *j = arg;

    json_array_append_new(j->entries, entry_json(r, j->last_logout_ms));
    j->last_seq_seen = r->seq;
    j->count++;
    return 0;
}

static void query_work(void *arg)
{
    struct log_job *j = arg;

    j->count = 0;
    j->entries = json_array();
    j->r = seclog_query(j->log, &j->filter, collect, j);
}

static int64_t last_logout_of(struct mgmt_request *req)
{
    struct store_user u;

    if (store_user_get(mgmt_request_deps(req)->store, mgmt_request_user(req), &u) < 0)
        return 0;
    return u.last_logout_ms;
}

static void list_done(struct mgmt_request *req, void *arg)
{
    struct log_job *j = arg;
    json_t *next;

    if (j->r < 0) {
        mgmt_reply_error(req, 500, "internal", "the log could not be read");
        log_job_free(j);
        return;
    }
    /* A full page may have more behind it: the last seq is the cursor. */
    next = j->count == j->filter.limit ? json_integer((json_int_t)j->last_seq_seen) : json_null();
    mgmt_reply_json(req, 200,
                    json_pack("{s:O,s:o,s:o}", "entries", j->entries, "next", next, "last_logout",
                              mgmt__time_json(j->last_logout_ms)));
    log_job_free(j);
}

static void get_log(struct mgmt_request *req, void *arg)
{
    struct log_job *j = calloc(1, sizeof(*j));

    if (!j) {
        mgmt_reply_error(req, 503, "busy", "out of memory, try again");
        return;
    }
    j->log = pick_log(req);
    if (!j->log || !parse_filter(req, j, true)) {
        log_job_free(j);
        return;
    }
    j->last_logout_ms = last_logout_of(req);
    if (mgmt_request_offload(req, query_work, list_done, j) < 0)
        log_job_free(j);
}

/* ---- export: JSON Lines, one page per chunk, each page read on the worker ---------------- */

static void export_page_done(struct mgmt_request *req, void *arg);

static void export_next(struct mgmt_request *req, void *arg)
{
    struct log_job *j = arg;

    json_decref(j->entries);
    j->entries = NULL;
    if (mgmt_request_offload(req, query_work, export_page_done, j) < 0)
        log_job_free(j); /* offload already answered 503 and freed the request */
}

static void export_page_done(struct mgmt_request *req, void *arg)
{
    struct log_job *j = arg;
    size_t i;
    json_t *e;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    if (!f || j->r < 0) {
        if (f)
            fclose(f);
        free(buf);
        mgmt_reply_stream_end(req);
        log_job_free(j);
        return;
    }
    json_array_foreach(j->entries, i, e)
    {
        (void)json_dumpf(e, f, JSON_COMPACT | JSON_SORT_KEYS);
        (void)fputc('\n', f);
    }
    fclose(f);
    j->filter.after_seq = j->last_seq_seen;
    j->more_pages = j->count == j->filter.limit;
    if (len == 0 ||
        mgmt_reply_stream_chunk(req, buf, len, j->more_pages ? export_next : NULL, j) < 0 ||
        !j->more_pages) {
        mgmt_reply_stream_end(req);
        log_job_free(j);
    }
    free(buf);
}

static void get_export(struct mgmt_request *req, void *arg)
{
    struct log_job *j = calloc(1, sizeof(*j));

    if (!j) {
        mgmt_reply_error(req, 503, "busy", "out of memory, try again");
        return;
    }
    j->log = pick_log(req);
    if (!j->log || !parse_filter(req, j, false)) {
        log_job_free(j);
        return;
    }
    j->last_logout_ms = last_logout_of(req);
    mgmt_reply_stream_start(req, "application/x-ndjson");
    if (mgmt_request_offload(req, query_work, export_page_done, j) < 0)
        log_job_free(j);
}

/* ---- stats and verify ------------------------------------------------------------------- */

static void add_topic(const char *topic, uint64_t count, void *arg)
{
    json_object_set_new(arg, topic, json_integer((json_int_t)count));
}

static void stats_work(void *arg)
{
    struct log_job *j = arg;

    j->topics = json_object();
    j->r = seclog_stats_get(j->log, &j->stats, add_topic, j->topics);
}

static void stats_done(struct mgmt_request *req, void *arg)
{
    struct log_job *j = arg;
    const struct seclog_stats *s = &j->stats;

    if (j->r < 0) {
        mgmt_reply_error(req, 500, "internal", "the log statistics could not be read");
        log_job_free(j);
        return;
    }
    mgmt_reply_json(
        req, 200,
        json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:o,s:I,s:I,s:I,s:f,s:f,s:I,s:O}",
                  "capacity_bytes", (json_int_t)s->capacity_bytes, "used_bytes",
                  (json_int_t)s->used_bytes, "segments", (json_int_t)s->segments, "segments_max",
                  (json_int_t)s->segments_max, "first_seq", (json_int_t)s->first_seq, "last_seq",
                  (json_int_t)s->last_seq, "records", (json_int_t)s->records, "oldest",
                  mgmt__time_json(s->oldest_ms), "newest", mgmt__time_json(s->newest_ms), "dropped",
                  (json_int_t)s->dropped, "folded", (json_int_t)s->folded, "overflow_events",
                  (json_int_t)s->overflow_events, "bytes_per_day", s->bytes_per_day,
                  "retention_days_possible", s->retention_days_possible, "retention_days_setting",
                  (json_int_t)j->retention_days, "topics", j->topics));
    log_job_free(j);
}

static void get_stats(struct mgmt_request *req, void *arg)
{
    const struct mgmt_deps *d = arg;
    struct log_job *j = calloc(1, sizeof(*j));
    const char *name = mgmt_request_query(req, "log");

    if (!j) {
        mgmt_reply_error(req, 503, "busy", "out of memory, try again");
        return;
    }
    j->log = pick_log(req);
    if (!j->log) {
        log_job_free(j);
        return;
    }
    (void)store_setting_get_int(
        d->store, name && strcmp(name, "system") == 0 ? "LOG_DAYS" : "SECURITY_LOG_DAYS",
        &j->retention_days);
    if (mgmt_request_offload(req, stats_work, stats_done, j) < 0)
        log_job_free(j);
}

/* Retention may remove the oldest segment while verify reads it: verify again from the new
 * head (each try sees a fresh snapshot; three are plenty, retention runs hourly). */
#define VERIFY_TRIES 3

static void verify_work(void *arg)
{
    struct log_job *j = arg;

    for (int i = 0; i < VERIFY_TRIES; i++) {
        j->r = seclog_verify(j->log, j->key, &j->verify);
        if (j->r != -ENOENT)
            break;
    }
}

static void verify_done(struct mgmt_request *req, void *arg)
{
    struct log_job *j = arg;
    const struct seclog_verify_result *v = &j->verify;

    if (j->r == -EINVAL) {
        mgmt_reply_error(req, 400, "invalid_value",
                         "key is not a konnektord verification key (the text of "
                         "DATA/seclog-verification-key)");
    } else if (j->r < 0) {
        mgmt_reply_error(req, 500, "internal", "the log could not be read for verification");
    } else {
        log_msg(LOG_LEVEL_INFO, "mgmt: '%s' verified the log: %s", mgmt_request_user(req),
                v->ok ? "ok" : v->reason);
        mgmt_reply_json(req, 200,
                        json_pack("{s:b,s:I,s:I,s:I,s:b,s:I,s:I,s:I,s:s}", "ok", v->ok, "records",
                                  (json_int_t)v->records, "segments", (json_int_t)v->segments,
                                  "seals_checked", (json_int_t)v->seals_checked, "seals_unchecked",
                                  v->seals_unchecked, "first_seq", (json_int_t)v->first_seq,
                                  "last_seq", (json_int_t)v->last_seq, "first_bad_seq",
                                  (json_int_t)v->first_bad_seq, "reason", v->reason));
    }
    log_job_free(j);
}

static void post_verify(struct mgmt_request *req, void *arg)
{
    struct log_job *j = calloc(1, sizeof(*j));
    json_t *key = mgmt_request_body(req) ? json_object_get(mgmt_request_body(req), "key") : NULL;

    if (!j) {
        mgmt_reply_error(req, 503, "busy", "out of memory, try again");
        return;
    }
    j->log = pick_log(req);
    if (!j->log) {
        log_job_free(j);
        return;
    }
    if (json_is_string(key) && !(j->key = strdup(json_string_value(key)))) {
        mgmt_reply_error(req, 503, "busy", "out of memory, try again");
        log_job_free(j);
        return;
    }
    if (mgmt_request_offload(req, verify_work, verify_done, j) < 0)
        log_job_free(j);
}

/* ---- session (TIP1-A_4996) -------------------------------------------------------------- */

static int count_new(const struct seclog_record *r, void *arg)
{
    struct log_job *j = arg;

    return ++j->count >= NEW_COUNT_MAX;
}

static void count_work(void *arg)
{
    struct log_job *j = arg;

    j->r = seclog_query(j->log, &j->filter, count_new, j);
}

static void login_done(struct mgmt_request *req, void *arg)
{
    struct log_job *j = arg;

    mgmt_reply_json(req, 200,
                    json_pack("{s:s,s:s,s:o,s:I,s:b}", "user", mgmt_request_user(req), "role",
                              store_role_to_string(mgmt_request_role(req)), "last_logout",
                              mgmt__time_json(j->last_logout_ms), "new_security_entries",
                              (json_int_t)j->count, "at_least", j->count >= NEW_COUNT_MAX));
    log_job_free(j);
}

static void post_session(struct mgmt_request *req, void *arg)
{
    const struct mgmt_deps *d = arg;
    struct log_job *j = calloc(1, sizeof(*j));

    if (!j) {
        mgmt_reply_error(req, 503, "busy", "out of memory, try again");
        return;
    }
    j->log = d->seclog ? *d->seclog : NULL;
    j->last_logout_ms = last_logout_of(req);
    j->filter.min_severity = -1;
    /* Never logged out: everything is new to this admin. */
    j->filter.from_ms = j->last_logout_ms ? j->last_logout_ms + 1 : 0;
    if (!j->log) {
        login_done(req, j);
        return;
    }
    if (mgmt_request_offload(req, count_work, login_done, j) < 0)
        log_job_free(j);
}

static void delete_session(struct mgmt_request *req, void *arg)
{
    const struct mgmt_deps *d = arg;
    struct store_user u;

    if (store_user_get(d->store, mgmt_request_user(req), &u) < 0) {
        mgmt_reply_error(req, 404, "not_found", "the account is gone");
        return;
    }
    u.last_logout_ms = clock_now_ms();
    if (store_user_update(d->store, &u) < 0) {
        mgmt_reply_error(req, 500, "internal", "the logout could not be recorded");
        return;
    }
    mgmt__auth_forget(mgmt__request_auth(req), u.name);
    mgmt_reply_json(
        req, 200,
        json_pack("{s:s,s:o}", "user", u.name, "logged_out", mgmt__time_json(u.last_logout_ms)));
}

#define ALL STORE_ROLES_ALL

static const struct mgmt__route_def routes[] = {
    {MGMT_GET, "/api/v1/log", ALL, GATE_OP_MGMT_LOG_VIEW, get_log},
    {MGMT_GET, "/api/v1/log/export", ALL, GATE_OP_MGMT_LOG_VIEW, get_export},
    {MGMT_GET, "/api/v1/log/stats", ALL, GATE_OP_MGMT_LOG_VIEW, get_stats},
    {MGMT_POST, "/api/v1/log/verify", ALL, GATE_OP_MGMT_LOG_VIEW, post_verify},
    {MGMT_POST, "/api/v1/session", ALL, GATE_OP_MGMT_LOG_VIEW, post_session},
    {MGMT_DELETE, "/api/v1/session", ALL, GATE_OP_MGMT_LOG_VIEW, delete_session},
};

int mgmt__routes_log_add(struct mgmt_server *srv)
{
    return mgmt__routes_add(srv, routes, ARRAY_SIZE(routes), (void *)mgmt_server_deps(srv));
}
