/* retention: the segment list and the budget. Adding and publishing segments, deleting whole
 * oldest ones for age (the retention command) or for space (eviction before a new segment when
 * the budget is used up), and the reserve file that holds the unused part of the budget.
 *
 *     retention command: tail older than retention -> close it (seclog__tail_close)
 *                        then, oldest first, while the oldest (never the tail) is older
 *                        than retention: drop it, LOG/RETENTION
 *     new segment:       while segments == segments_max: drop the oldest,
 *                        LOG/EVICTED + overflow_events++ if its newest entry is younger than
 *                        the retention (EC_LOG_OVERFLOW upstream), else LOG/RETENTION
 *
 * Invariants (robustness-anchors.md, lesson 1d.7):
 *  1. Each step removes exactly one whole segment or stops: no loop runs without removing a
 *     segment, and a failed removal ends the loop.
 *  2. The tail is never removed; deleting needs no free space (unlink + directory fsync).
 *  3. Every removed segment that held entries is named by a record with its seq range, so a
 *     verifier can tell retention from tampering.
 *  4. The reserve plus the segments never exceed the budget: the reserve shrinks before a
 *     segment is created and grows after segments were removed.
 *  5. Readers see a segment only up to the offset of its last completed fdatasync: pub is
 *     updated (under the lock) only after a sync or a close, and never for an abandoned tail.
 *
 * Threads: the seclog__segs_* functions take the lock. Everything else runs on the writer
 * thread (or in seclog_open before it starts). The list is modified only by the writer, so
 * the writer reads it without the lock; every change takes it. */
#include "seclog/seclog_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

#define ISO_BYTES 32

/* ---- the segment list ------------------------------------------------------------------- */

static void pub_fill(struct seclog__view_segment *pub, const struct seclog__segment *seg,
                     bool closed)
{
    pub->index = seg->index;
    pub->path = seg->path;
    pub->limit = seg->data_end;
    pub->first_seq = seg->hdr.first_seq;
    pub->last_seq = seg->last_seq;
    pub->records = seg->records;
    pub->first_ms = seg->first_ms;
    pub->last_ms = seg->last_ms;
    memcpy(pub->prev_hash, seg->hdr.prev_hash, SECLOG__HASH_BYTES);
    pub->closed = closed;
}

int seclog__segs_add(struct seclog *log, struct seclog__segment *seg)
{
    int r = 0;

    pthread_mutex_lock(&log->lock);
    if (log->n_segs == log->segs_cap) {
        size_t cap = log->segs_cap ? 2 * log->segs_cap : log->segments_max + 2;
        struct seclog__seg_ref *n = realloc(log->segs, cap * sizeof(*n));

        if (!n) {
            r = -ENOMEM;
            goto out;
        }
        log->segs = n;
        log->segs_cap = cap;
    }
    log->segs[log->n_segs].seg = seg;
    pub_fill(&log->segs[log->n_segs].pub, seg, seg->closed);
    log->n_segs++;
out:
    pthread_mutex_unlock(&log->lock);
    return r;
}

/* Under lock: the ref of seg, searched from the newest (the writer works at the end). */
static struct seclog__seg_ref *ref_of_locked(struct seclog *log, const struct seclog__segment *seg)
{
    for (size_t i = log->n_segs; i > 0; i--)
        if (log->segs[i - 1].seg == seg)
            return &log->segs[i - 1];
    return NULL;
}

void seclog__segs_publish(struct seclog *log, const struct seclog__segment *seg, bool closed)
{
    struct seclog__seg_ref *ref;

    pthread_mutex_lock(&log->lock);
    ref = ref_of_locked(log, seg);
    if (ref)
        pub_fill(&ref->pub, seg, closed);
    pthread_mutex_unlock(&log->lock);
}

void seclog__segs_abandon(struct seclog *log, const struct seclog__segment *seg)
{
    struct seclog__seg_ref *ref;

    pthread_mutex_lock(&log->lock);
    ref = ref_of_locked(log, seg);
    if (ref)
        ref->pub.closed = true;
    pthread_mutex_unlock(&log->lock);
}

struct seclog__segment *seclog__segs_pop_oldest(struct seclog *log)
{
    struct seclog__segment *seg = NULL;

    pthread_mutex_lock(&log->lock);
    if (log->n_segs > 0) {
        seg = log->segs[0].seg;
        memmove(&log->segs[0], &log->segs[1], (log->n_segs - 1) * sizeof(log->segs[0]));
        log->n_segs--;
    }
    pthread_mutex_unlock(&log->lock);
    return seg;
}

/* Records the removal of seg: LOG/EVICTED when overflow, else LOG/RETENTION. */
static void removal_record(struct seclog *log, const struct seclog__segment *seg, bool overflow)
{
    char from_s[24], upto_s[24], records_s[24], oldest_s[ISO_BYTES], newest_s[ISO_BYTES];
    struct seclog_param params[] = {
        {"FromSeq", from_s},
        {"UpToSeq", upto_s},
        {"Records", records_s},
        {"Oldest", clock_format_iso(seg->first_ms, oldest_s, sizeof(oldest_s))},
        {"Newest", clock_format_iso(seg->last_ms, newest_s, sizeof(newest_s))},
        {"Overflow", overflow ? "true" : "false"},
    };

    (void)snprintf(from_s, sizeof(from_s), "%" PRIu64, seg->hdr.first_seq);
    (void)snprintf(upto_s, sizeof(upto_s), "%" PRIu64, seg->last_seq);
    (void)snprintf(records_s, sizeof(records_s), "%" PRIu64, seg->records);
    if (overflow)
        (void)seclog__log_record(log, SECLOG_SEVERITY_WARNING, SECLOG_TYPE_SECURITY, "LOG/EVICTED",
                                 params, ARRAY_SIZE(params));
    else
        (void)seclog__log_record(log, SECLOG_SEVERITY_INFO, SECLOG_TYPE_OPERATION, "LOG/RETENTION",
                                 params, ARRAY_SIZE(params));
}

/* One step: removes the oldest segment (not the tail). */
static int drop_oldest(struct seclog *log, bool eviction, int64_t retention_ms)
{
    struct seclog__segment *seg;
    bool young, overflow;
    int r;

    if (log->n_segs == 0 || log->segs[0].seg == log->w_tail)
        return -EBUSY;
    seg = log->segs[0].seg;
    young = seg->records > 0 && retention_ms > 0 && seg->last_ms > clock_now_ms() - retention_ms;
    overflow = eviction && young;
    r = seclog__segment_remove(seg);
    if (r < 0) {
        log_msg(LOG_LEVEL_DEBUG, "seclog '%s': removing segment %" PRIu64 " failed: %s", log->name,
                seg->index, strerror(-r));
        return r;
    }
    seg = seclog__segs_pop_oldest(log);
    if (overflow) {
        pthread_mutex_lock(&log->lock);
        log->overflow_events++;
        pthread_mutex_unlock(&log->lock);
        log_msg(LOG_LEVEL_WARNING,
                "seclog '%s': budget full, evicted entries %" PRIu64 "..%" PRIu64
                " younger than the retention period",
                log->name, seg->hdr.first_seq, seg->last_seq);
    }
    if (seg->records > 0)
        removal_record(log, seg, overflow);
    seclog__segment_free(seg);
    return 0;
}

static int64_t retention_get(struct seclog *log)
{
    int64_t ms;

    pthread_mutex_lock(&log->lock);
    ms = log->retention_ms;
    pthread_mutex_unlock(&log->lock);
    return ms;
}

int seclog__evict_for_new(struct seclog *log)
{
    int64_t retention_ms = retention_get(log);
    int r;

    /* Invariant 1: each pass removes one segment or returns. */
    while (log->n_segs >= log->segments_max) {
        r = drop_oldest(log, true, retention_ms);
        if (r < 0)
            return r;
    }
    return 0;
}

void seclog__retention_apply(struct seclog *log, int64_t retention_ms)
{
    int64_t cutoff;

    if (retention_ms <= 0)
        return; /* no age limit configured: only the budget removes segments */
    cutoff = clock_now_ms() - retention_ms;
    /* A tail that is old as a whole is closed so that it can expire like the others; the
     * records below then start a new one. */
    if (log->w_tail && log->w_tail->records > 0 && log->w_tail->last_ms < cutoff)
        (void)seclog__tail_close(log);
    while (log->n_segs > 0) {
        const struct seclog__segment *oldest = log->segs[0].seg;

        if (oldest == log->w_tail || (oldest->records > 0 && oldest->last_ms >= cutoff))
            break;
        if (drop_oldest(log, false, retention_ms) < 0)
            break;
    }
    (void)seclog__reserve_update(log, 0);
}

int seclog__reserve_update(struct seclog *log, size_t extra)
{
    uint64_t n = log->n_segs + extra;
    uint64_t bytes = n < log->segments_max ? (log->segments_max - n) * log->segment_bytes : 0;
    int r = seclog__reserve_set(log->dir, bytes);

    if (r < 0)
        log_msg(LOG_LEVEL_DEBUG, "seclog '%s': setting the reserve to %" PRIu64 " bytes: %s",
                log->name, bytes, strerror(-r));
    return r;
}
