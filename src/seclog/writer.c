/* writer: the two threads per log that do file I/O. The writer takes batches from the queue,
 * chains and appends them to the tail segment and seals each batch; the syncer fdatasyncs
 * what the writer has written and publishes it as durable, while the writer goes on with the
 * next batch (the sync pipeline). The writer tells the loop when the status changed.
 *
 * One cycle (writer_main):
 *
 *     wait: entries, a command, a failed sync, SECLOG__IDLE_MS passed (or the back-off);
 *           after a burst: a full batch, a durable entry, or 1 ms passed
 *       -> what the syncer did: a failed fdatasync settles its entries as lost (sync_collect)
 *       -> fold windows that passed become summaries     (seclog__fold_flush)
 *       -> drops since the last report: LOG/DROPPED       (report_drops)
 *       -> retention command: drop logically              (seclog__retention_apply)
 *       -> fill: take entries and stage them as they come (batch_fill_locked)
 *            closes at a full batch or a lone entry; with a durable producer's entry once
 *            every producer active at the last sync waits again, at most half an fdatasync
 *            later; in a burst when the queue stopped growing for 1 ms or after 20 ms
 *       -> batch: per entry not staged yet: rotate if needed (tail_ready), chain, stage
 *            (write_entry); seal (seal_write), one pwrite (stage_flush), then post the
 *            tail up to the last entry to the syncer, or, when every waiting producer
 *            waits for it and nothing else is queued or in flight, fdatasync it here
 *            (sync_post)                                                  (batch_write)
 *            write/create failed: not writable, keep batch, back off       (after_write)
 *       -> trash whose records are durable: unlink, reserve (seclog__trash_empty)
 *       -> status changed: event_active on the loop                    (notify)
 *
 *     syncer (syncer_main): takes the latest post, fdatasync, then under the lock publishes
 *       the tail's view and durable_seq and settles the waiters up to it; a failure stops it
 *       until the writer has handled it. Syncs run back to back: everything written while
 *       one is in flight goes into the next.
 *
 * Invariants:
 *  1. Entries reach the disk in seq order without gaps; w_last_seq/w_last_hash are the chain
 *     as written. A failed append is retried at the same entry, never skipped.
 *  2. An fdatasync failure is final (fsyncgate) for every entry written to the tail since the
 *     last fdatasync of it that returned 0: those the failed sync covered and those written
 *     while it ran or before the writer learned of it. Their waiters get -EIO, LOG/WRITE_ERROR
 *     names them (FromSeq..UpToSeq), the segment is closed if possible or abandoned, and
 *     writing continues in a new segment. Never retry-and-ack.
 *  3. A waiter gets 0 only after an fdatasync returned 0 that started after its entry's pwrite
 *     had returned: a post names only entries already written (w_last_seq after the flush).
 *  4. Every segment that holds entries gets a seal after its last entry when seals are on:
 *     room for one is kept with every entry, and the tail is sealed before it is closed.
 *  5. The writer never spins: after an error it waits 100 ms doubling to 5 s.
 *  6. Records are staged in w_stage and written with one pwrite at the tail's data_end (the
 *     stage is flushed before the tail closes and before any post, and while filling once it
 *     holds SECLOG__STAGE_FLUSH_BYTES). The stage is empty outside filling, batch_write and
 *     tail_close; a failed flush returns the chain, the tail's fields and the batch position
 *     to w_mark, as if nothing had been staged since the last flush (invariant 1).
 *  7. Filling is bounded: SECLOG__IDLE_MS at most, SECLOG__FILL_GROW_US with a durable
 *     producer's entry; a command, a full batch, a failed sync or a stop ends it at once.
 *  8. At most one fdatasync is in flight, always of the current tail: before the writer
 *     closes the tail (rotation, retention, a failed sync) it waits for it and pauses the
 *     syncer (sync_quiesce), so the syncer never touches a segment the writer closes.
 *
 * Threads: the writer runs everything here except syncer_main and seclog__writer_start/_stop
 * (the thread calling seclog_open/seclog_close). w_* fields are the writer's alone; shared
 * fields, sync_* included, are touched under log->lock. */
#include "seclog/seclog_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "base/base.h"

#define SEAL_BUF_BYTES 256 /* a seal record is 120 bytes */

static struct timespec deadline_in(int64_t ms)
{
    int64_t at = clock_real_mono_ms() + ms;
    struct timespec ts = {.tv_sec = (time_t)(at / 1000), .tv_nsec = (long)(at % 1000) * 1000000};

    return ts;
}

static struct timespec deadline_at_us(int64_t at)
{
    struct timespec ts = {.tv_sec = (time_t)(at / 1000000), .tv_nsec = (long)(at % 1000000) * 1000};

    return ts;
}

/* ---- segments --------------------------------------------------------------------------- */

/* Day granularity for retention: a tail that has existed (and held entries) for a day rotates.
 * The creation time counts too, so entries with old producer times cannot force rotations. */
static bool tail_is_old(const struct seclog__segment *t, int64_t now)
{
    int64_t since = t->first_ms > t->hdr.created_ms ? t->first_ms : t->hdr.created_ms;

    return t->records > 0 && now - since > SECLOG__ROTATE_AGE_MS;
}

int seclog__tail_create(struct seclog *log)
{
    struct seclog__seg_header hdr = {0};
    struct seclog__segment *seg = NULL;
    char *path = NULL;
    int r;

    r = seclog__evict_for_new(log);
    if (r < 0)
        return r;
    /* The new segment's space comes out of the reserve: shrink that first. */
    (void)seclog__reserve_update(log, 1);
    hdr.version = SECLOG__FORMAT_VERSION;
    hdr.segment_bytes = log->segment_bytes;
    hdr.index = log->w_next_index;
    hdr.first_seq = log->w_last_seq + 1;
    hdr.created_ms = clock_now_ms();
    memcpy(hdr.boot_id, log->boot_id, SECLOG__BOOT_ID_BYTES);
    memcpy(hdr.prev_hash, log->w_last_hash, SECLOG__HASH_BYTES);
    r = seclog__segment_create(log->dir, &hdr, &seg);
    if (r < 0) {
        /* create unlinks a half-made file; if even that failed, never reuse its name. */
        path = seclog__segment_path(log->dir, hdr.index);
        if (!path || fs_exists(path))
            log->w_next_index++;
        free(path);
        return r;
    }
    log->w_next_index++;
    r = seclog__segs_add(log, seg);
    if (r < 0) {
        (void)seclog__segment_remove(seg);
        seclog__segment_free(seg);
        return r;
    }
    log->w_tail = seg;
    log->w_unsealed = false;
    return 0;
}

/* ---- the stage: a batch gathered for one pwrite ----------------------------------------- */

static void mark_save(struct seclog *log)
{
    struct seclog__stage_mark *m = &log->w_mark;
    const struct seclog__segment *t = log->w_tail;

    m->batch_pos = log->w_batch_pos;
    m->last_seq = log->w_last_seq;
    memcpy(m->last_hash, log->w_last_hash, SECLOG__HASH_BYTES);
    m->unsealed = log->w_unsealed;
    m->seg_records = t->records;
    m->seg_last_seq = t->last_seq;
    m->seg_first_ms = t->first_ms;
    m->seg_last_ms = t->last_ms;
    memcpy(m->seg_last_hash, t->last_hash, SECLOG__HASH_BYTES);
}

/* Invariant 6: forgets what was staged, as if it had never been. */
static void stage_discard(struct seclog *log)
{
    const struct seclog__stage_mark *m = &log->w_mark;
    struct seclog__segment *t = log->w_tail;

    if (log->w_stage_len == 0)
        return;
    log->w_stage_len = 0;
    log->w_batch_pos = m->batch_pos;
    log->w_last_seq = m->last_seq;
    memcpy(log->w_last_hash, m->last_hash, SECLOG__HASH_BYTES);
    log->w_unsealed = m->unsealed;
    t->records = m->seg_records;
    t->last_seq = m->seg_last_seq;
    t->first_ms = m->seg_first_ms;
    t->last_ms = m->seg_last_ms;
    memcpy(t->last_hash, m->seg_last_hash, SECLOG__HASH_BYTES);
}

/* Writes what is staged at the tail's data_end in one pwrite. On failure nothing of it
 * counts (stage_discard) and the caller retries from the batch position it had. */
static int stage_flush(struct seclog *log)
{
    int r;

    if (log->w_stage_len == 0)
        return 0;
    r = seclog__segment_append(log->w_tail, log->w_stage, log->w_stage_len);
    if (r < 0) {
        stage_discard(log);
        return r;
    }
    log->w_stage_len = 0;
    return 0;
}

_Static_assert(SECLOG__STAGE_BYTES >= SECLOG__RECORD_MAX, "the stage holds the largest record");

/* Stages len bytes for the tail (which has room for them after what is staged); a full stage
 * is written first. */
static int stage_put(struct seclog *log, const void *data, size_t len)
{
    int r;

    if (log->w_stage_len + len > SECLOG__STAGE_BYTES) {
        r = stage_flush(log);
        if (r < 0)
            return r;
    }
    if (log->w_stage_len == 0)
        mark_save(log);
    memcpy(log->w_stage + log->w_stage_len, data, len);
    log->w_stage_len += len;
    return 0;
}

/* Room left in the tail for more records, after what is staged. */
static uint64_t tail_room(const struct seclog *log)
{
    uint64_t room = seclog__segment_room(log->w_tail);

    return room > log->w_stage_len ? room - log->w_stage_len : 0;
}

/* Stages a seal for the tail's last entry if it has unsealed entries. A seal that cannot be
 * built (keys unusable) is skipped: a later one covers these entries. */
static int seal_write(struct seclog *log)
{
    uint8_t buf[SEAL_BUF_BYTES];
    size_t len = 0;
    int r;

    if (!log->w_seal.enabled || !log->w_unsealed || !log->w_tail)
        return 0;
    if (seclog__seal_build(log, log->w_last_seq, log->w_last_hash, buf, sizeof(buf), &len) < 0)
        return 0;
    r = stage_put(log, buf, len);
    if (r == 0)
        log->w_unsealed = false;
    return r;
}

/* Under lock: entries up to upto are durable; readers and their waiters learn it (the
 * caller wakes wk's words after unlocking). Returns how many waiters that acknowledged. */
static size_t durable_publish_locked(struct seclog *log, uint64_t upto, struct seclog__wake *wk)
{
    size_t n;

    log->durable_seq = upto;
    n = seclog__waiters_settle_locked(log, 0, upto, 0, wk);
    seclog__drop_notes_prune_locked(log);
    return n;
}

/* After the writer's own sync (closing a segment). */
static void publish_durable(struct seclog *log)
{
    struct seclog__wake wk = {0};

    pthread_mutex_lock(&log->lock);
    (void)durable_publish_locked(log, log->w_synced_seq, &wk);
    pthread_mutex_unlock(&log->lock);
    seclog__wake_flush(&wk);
}

/* Invariant 2: the entries since the last good sync are settled as possibly lost and the
 * tail is given up (closed if that still works). */
static void settle_lost(struct seclog *log, int err, bool try_close)
{
    struct seclog__segment *t = log->w_tail;
    uint64_t from = log->w_synced_seq + 1, upto = log->w_last_seq;
    char from_s[24], upto_s[24], index_s[24];
    struct seclog_param params[] = {
        {"FromSeq", from_s}, {"UpToSeq", upto_s}, {"Segment", index_s}, {"Error", strerror(-err)}};

    /* Readers keep the limit of the last good sync even if the footer gets written: a sync
     * that succeeds after one that failed proves nothing about the pages before it. */
    if (try_close)
        (void)seclog__segment_close(t);
    seclog__segs_abandon(log, t);
    if (t->fd >= 0) {
        (void)io_close(t->fd);
        t->fd = -1;
    }
    log->w_tail = NULL;
    log->w_synced_seq = log->w_last_seq;
    pthread_mutex_lock(&log->lock);
    (void)seclog__waiters_settle_locked(log, from, upto, -EIO, NULL);
    log->last_error = err;
    pthread_mutex_unlock(&log->lock);
    if (from > upto)
        return; /* nothing was at risk (the footer of a synced segment failed) */
    log_msg(LOG_LEVEL_ERROR,
            "seclog '%s': sync of segment %" PRIu64 " failed (%s), entries %" PRIu64 "..%" PRIu64
            " may be lost, continuing in a new segment",
            log->name, t->index, strerror(-err), from, upto);
    (void)snprintf(from_s, sizeof(from_s), "%" PRIu64, from);
    (void)snprintf(upto_s, sizeof(upto_s), "%" PRIu64, upto);
    (void)snprintf(index_s, sizeof(index_s), "%" PRIu64, t->index);
    (void)seclog__log_record(log, SECLOG_SEVERITY_ERROR, SECLOG_TYPE_SECURITY, "LOG/WRITE_ERROR",
                             params, ARRAY_SIZE(params), NULL);
}

/* ---- the sync pipeline ------------------------------------------------------------------ */

/* Under lock, after an fdatasync of w that took us and returned r (syncer, or the writer's
 * own): publishes it as durable, or keeps the failure for the writer (sync_collect). The
 * acknowledged producers' words go to wk, to be woken after unlocking. */
static void sync_end_locked(struct seclog *log, const struct seclog__sync_want *w, int r,
                            int64_t us, struct seclog__wake *wk)
{
    log->sync_running = false;
    log->sync_us = log->sync_us ? (3 * log->sync_us + us) / 4 : us;
    if (r == 0) {
        log->sync_done_seq = w->upto;
        seclog__segs_publish_view_locked(log, w->seg, &w->pub);
        /* Those it acknowledged come back; with those still waiting they are the group the
         * writer gathers next (batch_fill_locked). */
        log->sync_expect = durable_publish_locked(log, w->upto, wk) + log->waiters_pending;
    } else {
        log->sync_err = r;
    }
}

/* Under lock: may the writer run the fdatasync of what it just wrote itself? Only when the
 * pipeline has nothing to overlap: no sync in flight or posted, nothing queued, and every
 * waiting producer (one or a group) waits for what was written. That saves waking the
 * syncer: on a guest whose idle CPUs halt, a wake-up that crosses CPUs costs 70 us, a
 * quarter of an fdatasync (bench/README.md, "fourth round"). Not with a test hook: the
 * tests hold the syncer's syncs. */
static bool sync_may_run_here_locked(const struct seclog *log, uint64_t upto)
{
    return !log->sync_running && !log->sync_want.pending && !log->sync_paused &&
           log->sync_err == 0 && !log->sync_hook && log->ring_count == 0 &&
           log->waiters_pending > 0 && log->waiters_last && log->waiters_last->seq <= upto;
}

/* Writer, with the stage flushed: the syncer may make the tail durable up to the last entry
 * written (invariant 3). A post the syncer has not taken yet is replaced: one fdatasync
 * covers both. When the pipeline has nothing to overlap, the writer syncs itself. */
static void sync_post(struct seclog *log)
{
    struct seclog__segment *t = log->w_tail;
    struct seclog__sync_want *w = &log->sync_want, here;
    struct seclog__wake wk = {0};
    bool idle, run_here;
    int64_t t0;
    int r;

    pthread_mutex_lock(&log->lock);
    run_here = sync_may_run_here_locked(log, log->w_last_seq);
    if (run_here) {
        here = (struct seclog__sync_want){.seg = t, .fd = t->fd, .upto = log->w_last_seq};
        seclog__segs_view(t, false, &here.pub);
        log->sync_running = true; /* the syncer starts none meanwhile (invariant 8) */
        pthread_mutex_unlock(&log->lock);
        t0 = clock_real_mono_us();
        r = io_fdatasync(here.fd);
        pthread_mutex_lock(&log->lock);
        sync_end_locked(log, &here, r, clock_real_mono_us() - t0, &wk);
        pthread_mutex_unlock(&log->lock);
        seclog__wake_flush(&wk);
        return;
    }
    w->pending = true;
    w->seg = t;
    w->fd = t->fd;
    w->upto = log->w_last_seq;
    seclog__segs_view(t, false, &w->pub);
    idle = !log->sync_running;
    pthread_mutex_unlock(&log->lock);
    /* After unlocking: the syncer wakes to a free lock instead of queueing for ours. */
    if (idle)
        pthread_cond_signal(&log->sync_cond);
}

/* Writer, with the stage empty: takes what the syncer did. A failed fdatasync is final for
 * every entry written since the last good one (invariant 2); the syncer waits meanwhile, so
 * the tail is the writer's alone. */
static void sync_collect(struct seclog *log)
{
    uint64_t done;
    int err;

    pthread_mutex_lock(&log->lock);
    done = log->sync_done_seq;
    err = log->sync_err;
    pthread_mutex_unlock(&log->lock);
    if (done > log->w_synced_seq)
        log->w_synced_seq = done;
    if (err == 0)
        return;
    if (log->w_tail)
        settle_lost(log, err, true);
    pthread_mutex_lock(&log->lock);
    log->sync_want.pending = false; /* a post for the tail just given up */
    log->sync_err = 0;
    pthread_mutex_unlock(&log->lock);
}

/* Under lock: the writer waits until cond_fn is false; the syncer signals work_cond when one
 * of its syncs ends while sync_writer_waits. */
static void sync_wait_locked(struct seclog *log, bool (*cond_fn)(const struct seclog *log))
{
    log->sync_writer_waits = true;
    while (cond_fn(log))
        pthread_cond_wait(&log->work_cond, &log->lock);
    log->sync_writer_waits = false;
}

static bool sync_in_flight(const struct seclog *log)
{
    return log->sync_running;
}

static bool sync_unfinished(const struct seclog *log)
{
    return (log->sync_want.pending || log->sync_running) && log->sync_err == 0 && !log->sync_stop;
}

/* Writer, with the stage empty (invariant 8): no fdatasync in flight afterwards, none starts
 * until sync_resume, and what the syncer did is collected (it may have given up the tail). */
static void sync_quiesce(struct seclog *log)
{
    pthread_mutex_lock(&log->lock);
    log->sync_paused = true;
    log->sync_want.pending = false; /* the writer syncs what it covered itself */
    sync_wait_locked(log, sync_in_flight);
    pthread_mutex_unlock(&log->lock);
    sync_collect(log);
}

static void sync_resume(struct seclog *log)
{
    pthread_mutex_lock(&log->lock);
    log->sync_paused = false;
    pthread_mutex_unlock(&log->lock);
}

/* Writer, closing: waits until everything posted is synced (or failed), then collects. */
static void sync_finish(struct seclog *log)
{
    pthread_mutex_lock(&log->lock);
    sync_wait_locked(log, sync_unfinished);
    pthread_mutex_unlock(&log->lock);
    sync_collect(log);
}

static bool syncer_may_start_locked(const struct seclog *log)
{
    return log->sync_want.pending && !log->sync_paused && log->sync_err == 0;
}

static void *syncer_main(void *arg)
{
    struct seclog *log = arg;
    struct seclog__wake wk = {0};

    pthread_mutex_lock(&log->lock);
    for (;;) {
        void (*hook)(struct seclog * log, uint64_t upto, void *arg);
        struct seclog__sync_want w;
        int64_t t0, t1;
        void *hook_arg;
        int r;

        while (!log->sync_stop && !syncer_may_start_locked(log))
            pthread_cond_wait(&log->sync_cond, &log->lock);
        if (log->sync_stop)
            break;
        w = log->sync_want;
        log->sync_want.pending = false;
        log->sync_running = true;
        hook = log->sync_hook;
        hook_arg = log->sync_hook_arg;
        pthread_mutex_unlock(&log->lock);
        if (hook)
            hook(log, w.upto, hook_arg);
        t0 = clock_real_mono_us();
        r = io_fdatasync(w.fd);
        t1 = clock_real_mono_us();
        pthread_mutex_lock(&log->lock);
        sync_end_locked(log, &w, r, t1 - t0, &wk);
        /* The writer handles a failure, and removes trash that just became due. */
        if (r < 0 || log->sync_writer_waits || log->n_trash > 0)
            pthread_cond_signal(&log->work_cond);
        /* The acknowledged producers wake without the lock, so none of them queues for it
         * behind this thread; then the next sync. */
        if (wk.n > 0) {
            pthread_mutex_unlock(&log->lock);
            seclog__wake_flush(&wk);
            pthread_mutex_lock(&log->lock);
        }
    }
    pthread_mutex_unlock(&log->lock);
    return NULL;
}

int seclog__tail_close(struct seclog *log)
{
    struct seclog__segment *t = log->w_tail;
    int r;

    if (!t)
        return 0;
    r = seal_write(log);
    if (r == 0)
        r = stage_flush(log);
    if (r < 0) {
        stage_discard(log);
        return r;
    }
    /* The syncer's fdatasync in flight ends first; if it failed, the tail is given up now. */
    sync_quiesce(log);
    if (!log->w_tail)
        goto out;
    /* The records first, then the footer: a footer that cannot be written then costs the
     * segment its footer (the next open scans it), not the entries (invariant 2 is about
     * failed syncs, not failed writes). One more fdatasync per segment. */
    if (log->w_synced_seq < log->w_last_seq) {
        r = seclog__segment_sync(t);
        if (r < 0) {
            settle_lost(log, r, true);
            goto out;
        }
        log->w_synced_seq = log->w_last_seq;
        seclog__segs_publish(log, t, false);
        publish_durable(log);
    }
    r = seclog__segment_close(t);
    if (r < 0) {
        settle_lost(log, r, false);
        goto out;
    }
    log->w_synced_seq = log->w_last_seq;
    seclog__segs_publish(log, t, true);
    publish_durable(log);
    log->w_tail = NULL;
out:
    sync_resume(log);
    return 0;
}

/* Makes sure the tail can take need bytes: rotates when it is full or a day old. */
static int tail_ready(struct seclog *log, size_t need)
{
    struct seclog__segment *t = log->w_tail;
    int r;

    if (t && tail_room(log) >= need && !tail_is_old(t, clock_now_ms()))
        return 0;
    if (t) {
        r = seclog__tail_close(log);
        if (r < 0)
            return r;
    }
    r = seclog__tail_create(log);
    if (r < 0)
        return r;
    /* record_max keeps every entry within an empty segment of this log (queue.c). */
    return seclog__segment_room(log->w_tail) >= need ? 0 : -EMSGSIZE;
}

static int write_entry(struct seclog *log, struct seclog__item *it)
{
    size_t need = it->len + (log->w_seal.enabled ? log->seal_len : 0);
    uint8_t hash[SECLOG__HASH_BYTES];
    struct seclog__segment *t;
    int r;

    r = tail_ready(log, need);
    if (r < 0)
        return r;
    t = log->w_tail;
    seclog__record_finish_with(&log->w_hasher, it->rec, it->len, it->seq, log->w_last_hash, hash);
    r = stage_put(log, it->rec, it->len);
    if (r < 0)
        return r;
    if (t->records == 0 || it->time_ms < t->first_ms)
        t->first_ms = it->time_ms;
    if (t->records == 0 || it->time_ms > t->last_ms)
        t->last_ms = it->time_ms;
    t->records++;
    t->last_seq = it->seq;
    memcpy(t->last_hash, hash, SECLOG__HASH_BYTES);
    log->w_last_seq = it->seq;
    memcpy(log->w_last_hash, hash, SECLOG__HASH_BYTES);
    log->w_unsealed = true;
    return 0;
}

static void batch_free(struct seclog *log)
{
    seclog__items_release(log, log->w_batch, log->w_batch_n);
    log->w_batch_n = 0;
    log->w_batch_pos = 0;
}

/* Stages the batch's taken entries (filling) and writes the stage once it holds
 * SECLOG__STAGE_FLUSH_BYTES, so that little is left to write when the batch closes. A failure
 * is kept for batch_write. */
static void batch_stage(struct seclog *log)
{
    int r = 0;

    while (log->w_fill_err == 0 && log->w_batch_pos < log->w_batch_n) {
        r = write_entry(log, &log->w_batch[log->w_batch_pos]);
        if (r < 0)
            log->w_fill_err = r;
        else
            log->w_batch_pos++;
    }
    if (log->w_fill_err == 0 && log->w_stage_len >= SECLOG__STAGE_FLUSH_BYTES) {
        r = stage_flush(log);
        if (r < 0)
            log->w_fill_err = r;
    }
}

/* Writes the batch from where it stopped and posts it to the syncer. A negative return is
 * retryable and keeps the batch. */
static int batch_write(struct seclog *log)
{
    int r = log->w_fill_err;

    log->w_fill_err = 0;
    if (r < 0)
        goto fail;
    while (log->w_batch_pos < log->w_batch_n) {
        r = write_entry(log, &log->w_batch[log->w_batch_pos]);
        if (r < 0)
            goto fail;
        log->w_batch_pos++;
    }
    r = seal_write(log);
    if (r == 0)
        r = stage_flush(log);
    if (r < 0)
        goto fail;
    if (log->w_tail)
        sync_post(log);
    batch_free(log);
    return 0;
fail:
    stage_discard(log);
    return r;
}

/* ---- status ----------------------------------------------------------------------------- */

static void notify(struct seclog *log)
{
    struct seclog_status st, *old = &log->w_notified;

    seclog_status_get(log, &st);
    if (st.writable == old->writable && st.last_error == old->last_error &&
        st.overflow_events == old->overflow_events && st.dropped == old->dropped)
        return;
    *old = st;
    if (log->status_ev)
        event_active(log->status_ev, EV_TIMEOUT, 0);
}

/* Status after a batch attempt: r < 0 starts or lengthens the back-off, success ends it. */
static void after_write(struct seclog *log, int r)
{
    bool was;

    if (r < 0) {
        pthread_mutex_lock(&log->lock);
        was = log->writable;
        log->writable = false;
        log->last_error = r;
        pthread_mutex_unlock(&log->lock);
        log->w_backoff_ms = log->w_backoff_ms ? 2 * log->w_backoff_ms : SECLOG__BACKOFF_MIN_MS;
        if (log->w_backoff_ms > SECLOG__BACKOFF_MAX_MS)
            log->w_backoff_ms = SECLOG__BACKOFF_MAX_MS;
        if (was)
            log_msg(LOG_LEVEL_ERROR, "seclog '%s': cannot write (%s), retrying in %" PRId64 " ms",
                    log->name, strerror(-r), log->w_backoff_ms);
        return;
    }
    log->w_backoff_ms = 0;
    pthread_mutex_lock(&log->lock);
    was = log->writable;
    log->writable = true;
    pthread_mutex_unlock(&log->lock);
    if (!was)
        log_msg(LOG_LEVEL_INFO, "seclog '%s': writable again", log->name);
}

static void report_drops(struct seclog *log)
{
    char count_s[24], total_s[24];
    struct seclog_param params[] = {{"Count", count_s}, {"Total", total_s}};
    uint64_t total, count;

    pthread_mutex_lock(&log->lock);
    total = log->dropped;
    count = total - log->dropped_reported;
    if (count > 0)
        log->dropped_reported = total;
    pthread_mutex_unlock(&log->lock);
    if (count == 0)
        return;
    (void)snprintf(count_s, sizeof(count_s), "%" PRIu64, count);
    (void)snprintf(total_s, sizeof(total_s), "%" PRIu64, total);
    if (seclog__log_record(log, SECLOG_SEVERITY_WARNING, SECLOG_TYPE_SECURITY, "LOG/DROPPED",
                           params, ARRAY_SIZE(params), NULL) < 0) {
        pthread_mutex_lock(&log->lock);
        log->dropped_reported -= count; /* report them with the next ones */
        pthread_mutex_unlock(&log->lock);
    }
}

/* ---- the thread ------------------------------------------------------------------------- */

/* Under lock: waits for work, or for the back-off to pass after an error. */
static void wait_for_work_locked(struct seclog *log)
{
    struct timespec until;

    if (log->w_backoff_ms > 0) {
        int64_t end = clock_real_mono_ms() + log->w_backoff_ms;

        until = deadline_in(log->w_backoff_ms);
        while (!log->cmd_stop && clock_real_mono_ms() < end)
            (void)pthread_cond_timedwait(&log->work_cond, &log->lock, &until);
        return;
    }
    if (log->ring_count > 0 || log->cmd_stop || log->cmd_retention || log->sync_err != 0 ||
        seclog__trash_is_ready_locked(log))
        return;
    /* After a burst the next entries are likely a burst too: the first of them does not wake
     * the writer, which would only wait for the rest; a full batch, a durable push or
     * SECLOG__FILL_GROW_US does. A writer that then finds the burst over waits as usual. */
    if (log->w_fill_burst) {
        log->signal_at = SECLOG__BATCH_MAX;
        log->gc_signal_at = 1;
        until = deadline_at_us(clock_real_mono_us() + SECLOG__FILL_GROW_US);
    } else {
        until = deadline_in(SECLOG__IDLE_MS);
    }
    (void)pthread_cond_timedwait(&log->work_cond, &log->lock, &until);
    log->signal_at = 1;
    log->gc_signal_at = SIZE_MAX;
}

/* Under lock: how long the writer waits for a group of durable producers: half an
 * fdatasync, at most SECLOG__FILL_GROW_US. When fdatasync is long against the producers'
 * turnaround (a busy disk) the group gathers in one sync; when it is short, syncs run back to
 * back, each with whoever was written during the one before. */
static int64_t gather_us_locked(const struct seclog *log)
{
    return log->sync_us / 2 < SECLOG__FILL_GROW_US ? log->sync_us / 2 : SECLOG__FILL_GROW_US;
}

/* Under lock, with no batch kept: takes queued entries into the batch and, while more may
 * come, stages them (hash, chain, copy into the stage) with the lock released, so that the
 * writer's work overlaps the producers' and only the seal and one pwrite are left when the
 * batch closes (invariant 7). A batch closes at SECLOG__BATCH_MAX, on a command or a failed
 * sync, and for a lone entry after a quiet spell at once. With a durable producer's entry in
 * it, it closes once every producer the last sync found active (sync_expect) waits again
 * (group commit; those whose entries are in flight count, so two groups alternate without
 * delay), or after gather_us_locked. Without, in a burst, when the queue has not grown for
 * SECLOG__FILL_GROW_US or after SECLOG__IDLE_MS. Producers wake a waiting writer with the
 * push that completes the batch, and with the durable push that completes the group
 * (queue.c). */
static void batch_fill_locked(struct seclog *log)
{
    int64_t start = clock_real_mono_us(), grow_end = start + SECLOG__FILL_GROW_US;
    int64_t idle_end = start + SECLOG__IDLE_MS * 1000LL, gc_end = 0;

    for (;;) {
        size_t room = SECLOG__BATCH_MAX - log->w_batch_n, n;
        int64_t now, until;
        bool durable;
        struct timespec ts;

        n = seclog__queue_take_locked(log, log->w_batch + log->w_batch_n, room);
        log->w_batch_n += n;
        if (log->w_batch_n == 0 || log->w_batch_n >= SECLOG__BATCH_MAX || log->cmd_stop ||
            log->cmd_retention || log->cmd_crash || log->sync_err != 0 || log->w_fill_err != 0)
            break;
        now = clock_real_mono_us();
        durable = log->waiter_seq_max >= log->w_batch[0].seq;
        if (durable) {
            if (gc_end == 0)
                gc_end = now + gather_us_locked(log);
            if (log->waiters_pending >= log->sync_expect || now >= gc_end)
                break;
        } else {
            if (!log->w_fill_burst || now >= idle_end)
                break;
            if (n == 0 && now >= grow_end)
                break; /* the burst is over */
        }
        if (n > 0) {
            grow_end = now + SECLOG__FILL_GROW_US;
            pthread_mutex_unlock(&log->lock);
            batch_stage(log);
            pthread_mutex_lock(&log->lock);
            continue; /* take what came meanwhile before waiting */
        }
        log->signal_at = SECLOG__BATCH_MAX - log->w_batch_n; /* the push that completes it */
        /* Durable: the push that completes the group; else any durable push. */
        log->gc_signal_at = durable ? log->sync_expect : 1;
        until = durable ? gc_end : grow_end < idle_end ? grow_end : idle_end;
        ts = deadline_at_us(until);
        (void)pthread_cond_timedwait(&log->work_cond, &log->lock, &ts);
        log->signal_at = 1;
        log->gc_signal_at = SIZE_MAX;
    }
}

static void *writer_main(void *arg)
{
    struct seclog *log = arg;

    for (;;) {
        bool stop, crash, retention, drained, trash;
        int64_t retention_ms;
        int r = 0;

        pthread_mutex_lock(&log->lock);
        wait_for_work_locked(log);
        stop = log->cmd_stop;
        crash = log->cmd_crash;
        retention = log->cmd_retention;
        log->cmd_retention = false;
        retention_ms = log->retention_ms;
        pthread_mutex_unlock(&log->lock);
        if (crash)
            break;
        sync_collect(log);
        seclog__fold_flush(log, stop);
        report_drops(log);
        if (retention) {
            seclog__retention_apply(log, retention_ms);
            /* Its records may wait a moment for company: they rarely need a sync alone. */
            log->w_fill_burst = true;
        }
        if (log->w_batch_n == 0) {
            log->w_batch_pos = 0;
            pthread_mutex_lock(&log->lock);
            if (log->w_backoff_ms == 0)
                batch_fill_locked(log);
            else
                log->w_batch_n = seclog__queue_take_locked(log, log->w_batch, SECLOG__BATCH_MAX);
            pthread_mutex_unlock(&log->lock);
            log->w_fill_burst = log->w_batch_n > 1;
        }
        if (log->w_batch_n > 0) {
            r = batch_write(log);
            after_write(log, r);
        }
        /* Dropped segments whose records are now durable: their files and the reserve. */
        pthread_mutex_lock(&log->lock);
        trash = seclog__trash_is_ready_locked(log);
        pthread_mutex_unlock(&log->lock);
        if (trash) {
            /* The producers just acknowledged may be waiting for this CPU, and the unlink and
             * directory fsync below run in a kernel that does not preempt them: measured,
             * the eviction bench's durable append then waited 400-630 us longer. */
            (void)sched_yield();
            (void)seclog__trash_empty(log, false);
        }
        notify(log);
        if (!stop)
            continue;
        /* What is posted is synced before the writer leaves; a failure queues its record. */
        sync_finish(log);
        pthread_mutex_lock(&log->lock);
        drained = log->ring_count == 0 && log->w_batch_n == 0;
        pthread_mutex_unlock(&log->lock);
        /* Closing: drain, but a failing disk gets one attempt, not the back-off. */
        if (drained || r < 0)
            break;
    }
    return NULL;
}

static void syncer_stop(struct seclog *log)
{
    pthread_mutex_lock(&log->lock);
    log->sync_stop = true;
    pthread_cond_signal(&log->sync_cond);
    pthread_mutex_unlock(&log->lock);
    (void)pthread_join(log->syncer, NULL);
    pthread_cond_destroy(&log->sync_cond);
}

int seclog__writer_start(struct seclog *log)
{
    int r;

    /* What the loop last heard: the open state; a log that opened unwritable is news. */
    log->w_notified = (struct seclog_status){.writable = true};
    log->w_stage = malloc(SECLOG__STAGE_BYTES);
    if (!log->w_stage)
        return -ENOMEM;
    /* Without a reusable context each record makes its own: slower, still correct. */
    (void)seclog__hasher_init(&log->w_hasher);
    log->sync_done_seq = log->w_synced_seq;
    r = pthread_cond_init(&log->sync_cond, NULL);
    if (r != 0)
        return -r;
    r = pthread_create(&log->syncer, NULL, syncer_main, log);
    if (r != 0) {
        pthread_cond_destroy(&log->sync_cond);
        return -r;
    }
    r = pthread_create(&log->writer, NULL, writer_main, log);
    if (r != 0) {
        syncer_stop(log);
        return -r;
    }
    log->writer_running = true;
    return 0;
}

/* The writer first (it drains, or stops at once), then the syncer: an fdatasync in flight
 * ends, a post not taken yet is dropped (its waiters get -EIO from seclog_close). */
void seclog__writer_stop(struct seclog *log, bool crash)
{
    if (!log->writer_running)
        return;
    pthread_mutex_lock(&log->lock);
    log->cmd_stop = true;
    log->cmd_crash = crash;
    pthread_cond_signal(&log->work_cond);
    pthread_mutex_unlock(&log->lock);
    (void)pthread_join(log->writer, NULL);
    syncer_stop(log);
    log->writer_running = false;
}
