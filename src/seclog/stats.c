/* stats: figures about a log for the management API and konctl: budget and use, seq and time
 * range, counters, per-topic entry counts and the recent write rate.
 *
 * bytes_per_day is the sum of the record lengths of the entries whose time lies within the
 * last 24 hours of connector time (clock_now_ms()); retention_days_possible is the budget
 * divided by that rate, so an admin sees whether SECURITY_LOG_DAYS can be kept.
 *
 * Invariants:
 *  1. Only durable bytes are read (seclog__snapshot limits), like every reader.
 *  2. Memory is bounded: at most TOPICS_MAX distinct topics are counted by name; entries of
 *     further topics are counted under OTHER_TOPIC.
 *  3. A segment that vanished (retention) or is damaged is counted as far as it reads.
 *
 * Threads: seclog_stats_get() is thread-safe; it scans the log, so run it off the loop. */
#include "seclog/seclog_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/base.h"

#define TOPICS_MAX 65536 /* distinct topics counted by name */
#define OTHER_TOPIC "(other)"
#define DAY_MS (24LL * 3600 * 1000)

struct topic_slot {
    char *topic; /* NULL: free */
    uint64_t hash, count;
};

struct topic_map {
    struct topic_slot *slots;
    size_t cap, n; /* cap is a power of two, kept at most 3/4 full */
    uint64_t other;
};

struct stats_scan {
    struct topic_map map;
    int64_t since, until;
    uint64_t recent_bytes;
    int r;
};

static uint64_t topic_hash(const uint8_t *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 */

    for (size_t i = 0; i < len; i++)
        h = (h ^ s[i]) * 0x100000001b3ull;
    return h;
}

static struct topic_slot *map_find(struct topic_slot *slots, size_t cap, uint64_t hash,
                                   const uint8_t *topic, size_t len)
{
    for (size_t i = hash & (cap - 1);; i = (i + 1) & (cap - 1)) {
        struct topic_slot *s = &slots[i];

        if (!s->topic ||
            (s->hash == hash && strlen(s->topic) == len && memcmp(s->topic, topic, len) == 0))
            return s;
    }
}

static int map_grow(struct topic_map *m)
{
    size_t cap = m->cap ? 2 * m->cap : 64;
    struct topic_slot *slots = calloc(cap, sizeof(*slots));

    if (!slots)
        return -ENOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        struct topic_slot *old = &m->slots[i];

        if (old->topic)
            *map_find(slots, cap, old->hash, (const uint8_t *)old->topic, strlen(old->topic)) =
                *old;
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return 0;
}

static int map_count(struct topic_map *m, const uint8_t *topic, size_t len)
{
    uint64_t hash = topic_hash(topic, len);
    struct topic_slot *s;
    int r;

    if (m->cap == 0 || (m->n + 1) * 4 > m->cap * 3) {
        if (m->n >= TOPICS_MAX) {
            s = m->cap ? map_find(m->slots, m->cap, hash, topic, len) : NULL;
            if (s && s->topic)
                s->count++;
            else
                m->other++;
            return 0;
        }
        r = map_grow(m);
        if (r < 0)
            return r;
    }
    s = map_find(m->slots, m->cap, hash, topic, len);
    if (!s->topic) {
        s->topic = strndup((const char *)topic, len);
        if (!s->topic)
            return -ENOMEM;
        s->hash = hash;
        m->n++;
    }
    s->count++;
    return 0;
}

static void map_done(struct topic_map *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].topic);
    free(m->slots);
    *m = (struct topic_map){0};
}

static int scan_fn(const struct seclog__parsed *p, uint64_t offset, void *arg)
{
    struct stats_scan *sc = arg;

    if (p->kind != SECLOG__KIND_ENTRY)
        return 0;
    if (p->time_ms >= sc->since && p->time_ms <= sc->until)
        sc->recent_bytes += p->len;
    sc->r = map_count(&sc->map, p->topic, p->topic_len);
    return sc->r < 0;
}

/* Fills the fields that come from the segment list and the counters. */
static void stats_from_view(struct seclog *log, const struct seclog__view *v,
                            struct seclog_stats *st)
{
    bool any = false;

    st->capacity_bytes = log->capacity_bytes;
    st->segments = v->n;
    st->segments_max = log->segments_max;
    for (size_t i = 0; i < v->n; i++) {
        const struct seclog__view_segment *s = &v->segs[i];
        struct stat fst;

        st->used_bytes += stat(s->path, &fst) == 0 ? (uint64_t)fst.st_size : log->segment_bytes;
        if (s->records == 0)
            continue;
        if (!any || s->first_ms < st->oldest_ms)
            st->oldest_ms = s->first_ms;
        if (!any || s->last_ms > st->newest_ms)
            st->newest_ms = s->last_ms;
        if (!any)
            st->first_seq = s->first_seq;
        st->last_seq = s->last_seq;
        st->records += s->records;
        any = true;
    }
    pthread_mutex_lock(&log->lock);
    st->dropped = log->dropped;
    st->folded = log->folded;
    st->overflow_events = log->overflow_events;
    pthread_mutex_unlock(&log->lock);
}

int seclog_stats_get(struct seclog *log, struct seclog_stats *ret,
                     void (*topic_fn)(const char *topic, uint64_t count, void *arg), void *arg)
{
    struct seclog_stats st = {0};
    struct stats_scan sc = {0};
    struct seclog__view v = {0};
    int r;

    if (!log || !ret)
        return -EINVAL;
    r = seclog__snapshot(log, &v);
    if (r < 0)
        return r;
    stats_from_view(log, &v, &st);
    sc.until = clock_now_ms();
    sc.since = sc.until - DAY_MS;
    for (size_t i = 0; i < v.n; i++) {
        r = seclog__file_foreach(v.segs[i].path, v.segs[i].limit, scan_fn, &sc, NULL);
        if (sc.r < 0) {
            r = sc.r; /* out of memory: no half-counted answer */
            goto out;
        }
        if (r < 0)
            log_msg(LOG_LEVEL_DEBUG, "seclog '%s': stats skip the rest of segment %s: %s",
                    log->name, v.segs[i].path, strerror(-r));
    }
    st.bytes_per_day = (double)sc.recent_bytes;
    st.retention_days_possible = sc.recent_bytes ? (double)st.capacity_bytes / st.bytes_per_day : 0;
    if (topic_fn) {
        for (size_t i = 0; i < sc.map.cap; i++)
            if (sc.map.slots[i].topic)
                topic_fn(sc.map.slots[i].topic, sc.map.slots[i].count, arg);
        if (sc.map.other)
            topic_fn(OTHER_TOPIC, sc.map.other, arg);
    }
    *ret = st;
    r = 0;
out:
    map_done(&sc.map);
    seclog__view_done(&v);
    return r;
}
