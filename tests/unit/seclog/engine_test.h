/* Helpers shared by the engine tests (test_engine*.c): a fixture with a temp directory and a
 * small log (64 KiB segments), appending, settling (durable markers), reading back what is
 * durable straight from the segment files, and checking with seclog_verify. */
#ifndef KONN_TEST_SECLOG_ENGINE_H
#define KONN_TEST_SECLOG_ENGINE_H

#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/base.h"
#include "seclog/seclog_internal.h"

#define TEST_SEG_BYTES (64u * 1024)
#define TEST_DAY_MS (24LL * 3600 * 1000)
#define TEST_RETENTION_MS (10 * TEST_DAY_MS)
#define TEST_WAIT_MS 10000 /* bound of every durable wait in the tests */

struct fx {
    char dir[64];
    char key_path[96];
    struct seclog_config cfg;
    struct seclog *log;
    uint64_t markers;
};

static inline int fx_setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));

    if (!fx)
        return -1;
    (void)str_copy(fx->dir, sizeof(fx->dir), "/tmp/konn-seclog-XXXXXX");
    if (!mkdtemp(fx->dir))
        return -1;
    (void)snprintf(fx->key_path, sizeof(fx->key_path), "%s/verification.key", fx->dir);
    (void)str_copy(fx->dir + strlen(fx->dir), sizeof(fx->dir) - strlen(fx->dir), "/log");
    fx->cfg = (struct seclog_config){.dir = fx->dir,
                                     .name = "security",
                                     .capacity_bytes = 16ull * TEST_SEG_BYTES,
                                     .segment_bytes = TEST_SEG_BYTES,
                                     .retention_ms = TEST_RETENTION_MS};
    *state = fx;
    return 0;
}

static inline int fx_teardown(void **state)
{
    struct fx *fx = *state;
    char cmd[160];

    io_fault_clear();
    fx->log = seclog_close(fx->log);
    *strrchr(fx->dir, '/') = '\0';
    (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
    if (system(cmd) != 0)
        return -1;
    free(fx);
    return 0;
}

static inline void fx_open(struct fx *fx)
{
    assert_int_equal(seclog_open(&fx->cfg, &fx->log), 0);
}

static inline void fx_reopen(struct fx *fx)
{
    fx->log = seclog_close(fx->log);
    fx_open(fx);
}

/* One durable entry; returns its seq. */
static inline uint64_t fx_mark(struct fx *fx)
{
    char n[24];
    struct seclog_param p = {"N", n};
    struct seclog_entry e = {.topic = "TEST/SYNC", .params = &p, .n_params = 1};
    uint64_t seq = 0;

    (void)snprintf(n, sizeof(n), "%" PRIu64, ++fx->markers);
    assert_int_equal(seclog_append_durable(fx->log, &e, TEST_WAIT_MS, &seq), 0);
    return seq;
}

/* Durable markers until whatever the writer queued for itself before is durable too (its
 * records enter the queue at the start of a cycle, so two cycles after ours suffice). */
static inline uint64_t fx_settle(struct fx *fx)
{
    (void)fx_mark(fx);
    (void)fx_mark(fx);
    return fx_mark(fx);
}

/* Appends n distinct entries (param N counts up) with a value of value_len bytes. */
static inline void fx_append_n(struct fx *fx, const char *topic, size_t n, size_t value_len)
{
    static char value[SECLOG_VALUE_MAX + 1];
    char num[24];
    struct seclog_param p[2] = {{"N", num}, {"Value", value}};
    struct seclog_entry e = {.topic = topic, .params = p, .n_params = 2};
    static uint64_t counter;

    memset(value, 'v', value_len);
    value[value_len] = '\0';
    for (size_t i = 0; i < n; i++) {
        (void)snprintf(num, sizeof(num), "%" PRIu64, ++counter);
        assert_int_equal(seclog_append(fx->log, &e), 0);
    }
}

/* ---- reading back ----------------------------------------------------------------------- */

struct rec_item {
    uint64_t seq;
    int64_t time_ms;
    char *topic;
    char *params; /* "key=value\n" per parameter */
};

struct rec_list {
    struct rec_item *v;
    size_t n, cap;
    uint64_t durable_seq;
    char *strbuf;
};

static inline int collect_fn(const struct seclog__parsed *p, uint64_t offset, void *arg)
{
    struct rec_list *l = arg;
    struct seclog_record rec;
    size_t len = 1;
    char *params;

    if (p->kind != SECLOG__KIND_ENTRY || p->seq > l->durable_seq)
        return 0;
    assert_int_equal(seclog__parsed_to_record(p, &rec, l->strbuf, SECLOG__RECORD_MAX + 64), 0);
    for (size_t i = 0; i < rec.n_params; i++)
        len += strlen(rec.params[i].key) + strlen(rec.params[i].value) + 2;
    params = calloc(1, len);
    assert_non_null(params);
    for (size_t i = 0; i < rec.n_params; i++) {
        size_t at = strlen(params);

        (void)snprintf(params + at, len - at, "%s=%s\n", rec.params[i].key, rec.params[i].value);
    }
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->v = realloc(l->v, l->cap * sizeof(*l->v));
        assert_non_null(l->v);
    }
    l->v[l->n++] = (struct rec_item){rec.seq, rec.time_ms, strdup(rec.topic), params};
    return 0;
}

/* Every durable entry, oldest first, read from the files up to the published limits. */
static inline void recs_collect(struct seclog *log, struct rec_list *l)
{
    struct seclog__view v;

    memset(l, 0, sizeof(*l));
    l->strbuf = malloc(SECLOG__RECORD_MAX + 64);
    assert_non_null(l->strbuf);
    assert_int_equal(seclog__snapshot(log, &v), 0);
    l->durable_seq = v.durable_seq;
    for (size_t i = 0; i < v.n; i++)
        assert_int_equal(seclog__file_foreach(v.segs[i].path, v.segs[i].limit, collect_fn, l, NULL),
                         0);
    seclog__view_done(&v);
}

static inline void recs_free(struct rec_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].topic);
        free(l->v[i].params);
    }
    free(l->v);
    free(l->strbuf);
    memset(l, 0, sizeof(*l));
}

static inline size_t recs_count(const struct rec_list *l, const char *topic)
{
    size_t n = 0;

    for (size_t i = 0; i < l->n; i++)
        n += strcmp(l->v[i].topic, topic) == 0;
    return n;
}

/* The nth (0-based) entry with topic, or NULL. */
static inline const struct rec_item *recs_find(const struct rec_list *l, const char *topic,
                                               size_t nth)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].topic, topic) == 0 && nth-- == 0)
            return &l->v[i];
    return NULL;
}

/* The value of key in r, copied to buf; false if absent. */
static inline bool rec_param(const struct rec_item *r, const char *key, char *buf, size_t size)
{
    size_t klen = strlen(key);

    for (const char *p = r->params; *p;) {
        const char *end = strchr(p, '\n');

        if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
            size_t vlen = (size_t)(end - p) - klen - 1;

            if (vlen >= size)
                return false;
            memcpy(buf, p + klen + 1, vlen);
            buf[vlen] = '\0';
            return true;
        }
        p = end + 1;
    }
    return false;
}

static inline uint64_t rec_param_u64(const struct rec_item *r, const char *key)
{
    char buf[32];
    int64_t v = -1;

    assert_true(rec_param(r, key, buf, sizeof(buf)));
    assert_int_equal(str_to_int64(buf, &v), 0);
    return (uint64_t)v;
}

/* seclog_verify must find the whole log sound. */
static inline void verify_ok(struct seclog *log, const char *key_text)
{
    struct seclog_verify_result res;

    assert_int_equal(seclog_verify(log, key_text, &res), 0);
    if (!res.ok)
        print_error("verify: %s (first bad seq %" PRIu64 ")\n", res.reason, res.first_bad_seq);
    assert_true(res.ok);
}

#endif
