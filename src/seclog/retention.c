/* retention: the segment list and the budget. Adding and publishing segments, dropping whole
 * oldest ones for age (the retention command) or for space (eviction before a new segment when
 * the budget is used up), the trash of dropped segments whose files are still there, and the
 * reserve file that holds the unused part of the budget.
 *
 *     retention command: tail older than retention -> close it (seclog__tail_close)
 *                        then, oldest first, while the oldest (never the tail) is older
 *                        than retention: queue LOG/RETENTION, move it to the trash
 *     writer, after a batch: trash whose records are durable -> unlink, directory fsync,
 *                        then the reserve regrows                  (seclog__trash_empty)
 *     new segment:       while segments + trash == segments_max: unlink the trash now, else
 *                        drop the oldest: LOG/EVICTED + overflow_events++ if its newest entry
 *                        is younger than the retention (EC_LOG_OVERFLOW upstream), else
 *                        LOG/RETENTION, and unlink it at once
 *
 * A drop is logical first: the segment leaves the list (readers, verify, retention no longer
 * see it) in the same step as its record is queued, and the file goes after that record is
 * durable. A retention drop therefore waits for no unlink (bench/README.md, eviction). A crash
 * in between leaves an expired segment whose record may exist; the next retention run drops
 * it again, and verify accepts both states (docs/security-log.md, section 9).
 *
 * Invariants (robustness-anchors.md, lesson 1d.7):
 *  1. Each step removes exactly one whole segment or stops: no loop runs without removing a
 *     segment, and a failed removal ends the loop.
 *  2. The tail is never removed; deleting needs no free space (unlink + directory fsync).
 *  3. Every dropped segment that held entries is named by a record with its seq range, so a
 *     verifier can tell retention from tampering; until that record is durable a drop note
 *     (seclog__view.head_upto) tells verify the same.
 *  4. The reserve plus the segment files (listed and in the trash) never exceed the budget:
 *     the reserve shrinks before a segment is created and grows only after files were removed.
 *  5. Readers see a segment only up to the offset of its last completed fdatasync: pub is
 *     updated (under the lock) only after a sync or a close, and never for an abandoned tail.
 *  6. Outside eviction, a file is unlinked only after the record naming it is durable, and
 *     files are unlinked oldest first: what a crash leaves of the trash is a head.
 *
 * Threads: the seclog__segs_* functions take the lock (the *_locked one expects it: the syncer
 * publishes the tail with it). Everything else runs on the writer thread (or in seclog_open
 * before it starts). The list and the trash are modified only by the writer, so the writer
 * reads them without the lock; every change takes it. */
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

void seclog__segs_view(const struct seclog__segment *seg, bool closed,
                       struct seclog__view_segment *ret)
{
    pub_fill(ret, seg, closed);
}

void seclog__segs_publish_view_locked(struct seclog *log, const struct seclog__segment *seg,
                                      const struct seclog__view_segment *pub)
{
    struct seclog__seg_ref *ref = ref_of_locked(log, seg);

    if (ref)
        ref->pub = *pub;
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

/* ---- dropping segments ------------------------------------------------------------------ */

/* Queues the record of seg's removal: LOG/EVICTED when overflow, else LOG/RETENTION. */
static int removal_record(struct seclog *log, const struct seclog__segment *seg, bool overflow,
                          uint64_t *ret_seq)
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
        return seclog__log_record(log, SECLOG_SEVERITY_WARNING, SECLOG_TYPE_SECURITY, "LOG/EVICTED",
                                  params, ARRAY_SIZE(params), ret_seq);
    return seclog__log_record(log, SECLOG_SEVERITY_INFO, SECLOG_TYPE_OPERATION, "LOG/RETENTION",
                              params, ARRAY_SIZE(params), ret_seq);
}

/* Under lock: appends to a growable array of n elements of size sz. */
static int grow_locked(void **arr, size_t *cap, size_t n, size_t sz)
{
    size_t c = *cap ? 2 * *cap : 8;
    void *a;

    if (n < *cap)
        return 0;
    a = realloc(*arr, c * sz);
    if (!a)
        return -ENOMEM;
    *arr = a;
    *cap = c;
    return 0;
}

/* One step: takes the oldest segment (not the tail) off the list, after queueing the record
 * that names its entries, and puts it into the trash. Readers and verify stop seeing it at
 * once; the drop note covers the head until the record is durable (invariant 3). */
static int drop_oldest(struct seclog *log, bool eviction, int64_t retention_ms)
{
    struct seclog__segment *seg;
    uint64_t record_seq = 0;
    bool young, overflow;
    int r;

    if (log->n_segs == 0 || log->segs[0].seg == log->w_tail)
        return -EBUSY;
    seg = log->segs[0].seg;
    young = seg->records > 0 && retention_ms > 0 && seg->last_ms > clock_now_ms() - retention_ms;
    overflow = eviction && young;
    if (seg->records > 0) {
        r = removal_record(log, seg, overflow, &record_seq);
        /* Retention can wait for a queue with room; eviction cannot (the drop is counted). */
        if (r < 0 && !eviction)
            return r;
    }
    pthread_mutex_lock(&log->lock);
    r = grow_locked((void **)&log->trash, &log->trash_cap, log->n_trash, sizeof(*log->trash));
    if (r == 0 && record_seq)
        r = grow_locked((void **)&log->notes, &log->notes_cap, log->n_notes, sizeof(*log->notes));
    if (r < 0) {
        pthread_mutex_unlock(&log->lock);
        return r; /* the record is queued; the segment stays, and a later step drops it */
    }
    memmove(&log->segs[0], &log->segs[1], (log->n_segs - 1) * sizeof(log->segs[0]));
    log->n_segs--;
    log->trash[log->n_trash++] = (struct seclog__trash){.seg = seg, .record_seq = record_seq};
    if (record_seq)
        log->notes[log->n_notes++] =
            (struct seclog__drop_note){.record_seq = record_seq, .upto = seg->last_seq};
    if (overflow)
        log->overflow_events++;
    pthread_mutex_unlock(&log->lock);
    if (overflow)
        log_msg(LOG_LEVEL_WARNING,
                "seclog '%s': budget full, evicted entries %" PRIu64 "..%" PRIu64
                " younger than the retention period",
                log->name, seg->hdr.first_seq, seg->last_seq);
    return 0;
}

/* ---- the trash -------------------------------------------------------------------------- */

static bool trash_is_due_locked(const struct seclog *log, const struct seclog__trash *t)
{
    return !t->failed && t->record_seq <= log->durable_seq;
}

bool seclog__trash_is_ready_locked(const struct seclog *log)
{
    return log->n_trash > 0 && trash_is_due_locked(log, &log->trash[0]);
}

/* Removes the file of trash entry i (unlink, directory fsync) and the entry. The list is
 * changed only by the writer, so i stays valid without the lock while the file goes. */
static int trash_remove(struct seclog *log, size_t i)
{
    struct seclog__segment *seg = log->trash[i].seg;
    int r = seclog__segment_remove(seg);

    pthread_mutex_lock(&log->lock);
    if (r < 0) {
        log->trash[i].failed = true;
    } else {
        memmove(&log->trash[i], &log->trash[i + 1], (log->n_trash - i - 1) * sizeof(*log->trash));
        log->n_trash--;
    }
    pthread_mutex_unlock(&log->lock);
    if (r < 0) {
        log_msg(LOG_LEVEL_DEBUG,
                "seclog '%s': removing segment %" PRIu64 " failed: %s, retrying later", log->name,
                seg->index, strerror(-r));
        return r;
    }
    seclog__segment_free(seg);
    return 0;
}

int seclog__trash_empty(struct seclog *log, bool all)
{
    size_t removed = 0;
    int r = 0;

    /* Oldest first, and never past one that stays: a crash must find the dropped segments
     * that are left as a head, not as a hole between segments that verify would report. */
    while (log->n_trash > 0) {
        bool due;

        pthread_mutex_lock(&log->lock);
        due = all || trash_is_due_locked(log, &log->trash[0]);
        pthread_mutex_unlock(&log->lock);
        if (!due)
            break;
        r = trash_remove(log, 0);
        if (r < 0)
            break;
        removed++;
    }
    /* Invariant 4: the space is back in the reserve only now that the files are gone. */
    if (removed > 0 && !all)
        (void)seclog__reserve_update(log, 0);
    return r;
}

void seclog__drop_notes_prune_locked(struct seclog *log)
{
    size_t k = 0;

    for (size_t i = 0; i < log->n_notes; i++)
        if (log->notes[i].record_seq > log->durable_seq)
            log->notes[k++] = log->notes[i];
    log->n_notes = k;
}

void seclog__trash_done(struct seclog *log)
{
    for (size_t i = 0; i < log->n_trash; i++)
        seclog__segment_free(log->trash[i].seg);
    free(log->trash);
    free(log->notes);
    log->trash = NULL;
    log->notes = NULL;
    log->n_trash = log->trash_cap = log->n_notes = log->notes_cap = 0;
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

    /* Invariant 1: each pass removes one segment or returns. The trash's files still take
     * their space, so they go first, whether or not their records are durable yet. */
    while (log->n_segs + log->n_trash >= log->segments_max) {
        r = log->n_trash > 0 ? seclog__trash_empty(log, true)
                             : drop_oldest(log, true, retention_ms);
        if (r < 0)
            return r;
    }
    return 0;
}

void seclog__retention_apply(struct seclog *log, int64_t retention_ms)
{
    int64_t cutoff;

    /* Files whose unlink failed get another try (by the writer, once this returns). */
    pthread_mutex_lock(&log->lock);
    for (size_t i = 0; i < log->n_trash; i++)
        log->trash[i].failed = false;
    pthread_mutex_unlock(&log->lock);
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
    /* The files and the reserve follow once the records are durable (seclog__trash_empty):
     * the retention command itself costs no unlink and no sync. */
}

int seclog__reserve_update(struct seclog *log, size_t extra)
{
    uint64_t n = log->n_segs + log->n_trash + extra;
    uint64_t bytes = n < log->segments_max ? (log->segments_max - n) * log->segment_bytes : 0;
    int r = seclog__reserve_set(log->dir, bytes);

    if (r < 0)
        log_msg(LOG_LEVEL_DEBUG, "seclog '%s': setting the reserve to %" PRIu64 " bytes: %s",
                log->name, bytes, strerror(-r));
    return r;
}
