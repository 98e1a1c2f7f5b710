/* queue: the bounded hand-over from producers to the writer thread, and durable waits.
 *
 * Producers (any thread) encode their entry outside the lock, then take the lock only to
 * fold it or to put it into a ring of fixed size. Nothing here touches the disk or sleeps,
 * except seclog_append_durable(), which waits (bounded) for its own batch.
 *
 * Invariants:
 *  1. seclog_append() is O(1) under the lock and never waits for the writer: a full queue
 *     answers -ENOBUFS and counts the drop; the writer reports drops as LOG/DROPPED.
 *  2. Sequence numbers are assigned under the lock in ring order, so the ring always holds
 *     consecutive seqs and the writer writes them in order without gaps.
 *  3. Producers fill at most SECLOG__QUEUE_CAP slots; the SECLOG__QUEUE_SPARE slots behind
 *     them are kept for the engine's own records (summaries, eviction, drops, errors), so a
 *     flood cannot silence the log about itself.
 *  4. Every durable waiter is settled exactly once: 0 when its seq is durable, -EIO when its
 *     batch failed or the log closed first; a waiter that times out removes itself.
 *     waiters_pending counts the waiters not settled yet.
 *
 * Threads: seclog_append(), seclog_append_durable() and seclog__log_record() are thread-safe;
 * *_locked functions require log->lock. */
#include "seclog/seclog_internal.h"

#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"

#define RING_SLOTS (SECLOG__QUEUE_CAP + SECLOG__QUEUE_SPARE)

int seclog__queue_init(struct seclog *log)
{
    log->ring = calloc(RING_SLOTS, sizeof(*log->ring));
    if (!log->ring)
        return -ENOMEM;
    log->ring_head = 0;
    log->ring_count = 0;
    return 0;
}

void seclog__queue_done(struct seclog *log)
{
    while (log->blocks) {
        void *next;

        memcpy(&next, log->blocks, sizeof(next));
        free(log->blocks);
        log->blocks = next;
    }
    log->n_blocks = 0;
    if (!log->ring)
        return;
    while (log->ring_count > 0) {
        free(log->ring[log->ring_head].rec);
        log->ring_head = (log->ring_head + 1) % RING_SLOTS;
        log->ring_count--;
    }
    free(log->ring);
    log->ring = NULL;
}

int seclog__item_encode(const struct seclog *log, const struct seclog_entry *e,
                        struct seclog__item *ret, uint8_t *buf)
{
    struct seclog__entry_lens lens;
    int64_t time_ms;
    uint8_t *rec;

    /* An entry larger than an empty segment of this log could never be written; refusing it
     * here keeps the writer from rotating forever. */
    if (!e || seclog__entry_measure(e, &lens) < 0 || lens.len > log->record_max)
        return -EINVAL;
    rec = lens.len <= SECLOG__ITEM_INLINE ? buf : malloc(lens.len);
    if (!rec)
        return -ENOMEM;
    time_ms = e->time_ms ? e->time_ms : clock_now_ms();
    seclog__entry_encode_measured(e, &lens, time_ms, log->boot_id, rec);
    ret->rec = rec;
    ret->len = (uint32_t)lens.len;
    ret->seq = 0;
    ret->time_ms = time_ms;
    return 0;
}

void seclog__item_done(struct seclog__item *it, const uint8_t *buf, bool queued)
{
    if (it->rec != buf && !queued)
        free(it->rec);
    it->rec = NULL;
}

void seclog__items_release(struct seclog *log, struct seclog__item *items, size_t n)
{
    pthread_mutex_lock(&log->lock);
    for (size_t i = 0; i < n; i++) {
        uint8_t *rec = items[i].rec;

        items[i].rec = NULL;
        if (!rec)
            continue;
        if (items[i].len > SECLOG__ITEM_INLINE || log->n_blocks >= SECLOG__BLOCKS_FREE_MAX) {
            free(rec);
            continue;
        }
        memcpy(rec, &log->blocks, sizeof(log->blocks));
        log->blocks = rec;
        log->n_blocks++;
    }
    pthread_mutex_unlock(&log->lock);
}

/* Under lock: a block for a small record, reused if one is free. */
static uint8_t *block_get_locked(struct seclog *log)
{
    uint8_t *b = log->blocks;

    if (!b)
        return malloc(SECLOG__ITEM_INLINE);
    memcpy(&log->blocks, b, sizeof(log->blocks));
    log->n_blocks--;
    return b;
}

size_t seclog__queue_room_locked(const struct seclog *log)
{
    return log->ring_count < SECLOG__QUEUE_CAP ? SECLOG__QUEUE_CAP - log->ring_count : 0;
}

int seclog__queue_push_locked(struct seclog *log, struct seclog__item *it, bool internal)
{
    size_t limit = internal ? RING_SLOTS : SECLOG__QUEUE_CAP;

    struct seclog__item *slot;
    uint8_t *rec = it->rec;

    if (log->ring_count >= limit)
        return -ENOBUFS;
    if (it->len <= SECLOG__ITEM_INLINE) {
        rec = block_get_locked(log);
        if (!rec)
            return -ENOMEM;
        memcpy(rec, it->rec, it->len);
    }
    it->seq = log->next_seq++;
    slot = &log->ring[(log->ring_head + log->ring_count) % RING_SLOTS];
    *slot = *it;
    slot->rec = rec;
    log->ring_count++;
    /* The writer sleeps on an empty ring (signal_at 1: wake it for the first entry; after a
     * burst, a batch), or while it fills a batch (writer.c: the push that completes it). */
    if (log->ring_count == log->signal_at || log->ring_count == SECLOG__BATCH_MAX)
        log->kick = true;
    return 0;
}

bool seclog__kick_take_locked(struct seclog *log)
{
    bool kick = log->kick;

    log->kick = false;
    return kick;
}

size_t seclog__queue_take_locked(struct seclog *log, struct seclog__item *out, size_t max)
{
    size_t n = 0;

    while (n < max && log->ring_count > 0) {
        out[n++] = log->ring[log->ring_head];
        log->ring[log->ring_head].rec = NULL;
        log->ring_head = (log->ring_head + 1) % RING_SLOTS;
        log->ring_count--;
    }
    return n;
}

/* The futex calls of the durable wait: a producer sleeps on its own word. */
static void futex_wake_one(_Atomic uint32_t *word)
{
    (void)syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Sleeps while *word is WAITING, until the absolute CLOCK_MONOTONIC deadline at most (the
 * clock of clock_real_mono_us). Returns false once the deadline has passed. */
static bool futex_wait_until(_Atomic uint32_t *word, const struct timespec *until)
{
    long r = syscall(SYS_futex, word, FUTEX_WAIT_BITSET_PRIVATE, SECLOG__WAITER_WAITING, until,
                     NULL, FUTEX_BITSET_MATCH_ANY);

    return r == 0 || errno != ETIMEDOUT;
}

/* Producers that went to sleep on another CPU first: on a guest whose idle CPUs halt, that
 * CPU takes about 100 us to run its producer, and the wakes on this CPU, each followed by
 * its producer's turn, overlap that wait instead of preceding it (bench/README.md, "fifth
 * round"). */
void seclog__wake_flush(struct seclog__wake *wk)
{
    int here = sched_getcpu();

    for (size_t i = 0; i < wk->n; i++) {
        if (wk->cpu[i] != here)
            futex_wake_one(wk->word[i]);
    }
    for (size_t i = 0; i < wk->n; i++) {
        if (wk->cpu[i] == here)
            futex_wake_one(wk->word[i]);
    }
    wk->n = 0;
}

size_t seclog__waiters_settle_locked(struct seclog *log, uint64_t from, uint64_t upto, int result,
                                     struct seclog__wake *wk)
{
    struct seclog__waiter **p = &log->waiters, *prev = NULL;
    size_t n = 0;

    while (*p && (*p)->seq <= upto) {
        struct seclog__waiter *w = *p;
        uint32_t expected = SECLOG__WAITER_WAITING;

        if (w->seq < from) {
            prev = w;
            p = &w->next;
            continue;
        }
        *p = w->next; /* read before the state moves: a settled waiter may leave at once */
        w->listed = false;
        n++;
        w->result = result;
        if (!atomic_compare_exchange_strong_explicit(&w->state, &expected, SECLOG__WAITER_SETTLED,
                                                     memory_order_acq_rel, memory_order_acquire)) {
            log->waiters_leaving++; /* it timed out and comes for the lock to leave */
            continue;
        }
        if (!wk) {
            futex_wake_one(&w->state);
            continue;
        }
        if (wk->n == SECLOG__WAKE_MAX)
            seclog__wake_flush(wk);
        wk->cpu[wk->n] = w->cpu;
        wk->word[wk->n++] = &w->state;
    }
    if (!*p)
        log->waiters_last = prev;
    log->waiters_pending -= n;
    return n;
}

int seclog__log_record(struct seclog *log, enum seclog_severity severity, enum seclog_type type,
                       const char *topic, const struct seclog_param *params, size_t n_params,
                       uint64_t *ret_seq)
{
    struct seclog_entry e = {
        .severity = severity, .type = type, .topic = topic, .params = params, .n_params = n_params};
    struct seclog__item it = {0};
    uint8_t buf[SECLOG__ITEM_INLINE];
    bool kick;
    int r;

    r = seclog__item_encode(log, &e, &it, buf);
    pthread_mutex_lock(&log->lock);
    if (r == 0)
        r = seclog__queue_push_locked(log, &it, true);
    if (r < 0)
        log->dropped++; /* reported by the next LOG/DROPPED: still not silent */
    kick = seclog__kick_take_locked(log);
    pthread_mutex_unlock(&log->lock);
    if (kick)
        pthread_cond_signal(&log->work_cond);
    if (r == 0 && ret_seq)
        *ret_seq = it.seq;
    seclog__item_done(&it, buf, r == 0);
    return r;
}

/* Hot path: encode and hash outside the lock, then an O(1) fold-or-push under it. */
int seclog_append(struct seclog *log, const struct seclog_entry *e)
{
    struct seclog__item it = {0};
    uint8_t buf[SECLOG__ITEM_INLINE];
    uint64_t hash;
    bool kick;
    int r;

    if (!log || !e)
        return -EINVAL;
    r = seclog__item_encode(log, e, &it, buf);
    if (r < 0)
        return r;
    hash = seclog__fold_hash(it.rec, it.len);
    pthread_mutex_lock(&log->lock);
    r = seclog__fold_push_locked(log, hash, &it);
    kick = seclog__kick_take_locked(log);
    pthread_mutex_unlock(&log->lock);
    if (kick)
        pthread_cond_signal(&log->work_cond);
    seclog__item_done(&it, buf, r == 0);
    return r;
}

/* An absolute CLOCK_MONOTONIC deadline timeout_ms from now. Real time on purpose: a durable
 * wait bounds how long a caller is held, and the virtual clock must not shorten it. */
static struct timespec deadline_in(int64_t timeout_ms)
{
    int64_t at = clock_real_mono_us() + (timeout_ms > 0 ? timeout_ms : 0) * 1000;
    struct timespec ts = {.tv_sec = (time_t)(at / 1000000), .tv_nsec = (long)(at % 1000000) * 1000};

    return ts;
}

/* Under lock: w, which timed out, leaves the list, or, if a settler unlisted it meanwhile,
 * tells seclog_close that it has gone. */
static void waiter_leave_locked(struct seclog *log, struct seclog__waiter *w)
{
    struct seclog__waiter *prev = NULL;

    if (!w->listed) {
        log->waiters_leaving--;
        if (log->cmd_stop)
            pthread_cond_broadcast(&log->durable_cond); /* seclog_close waits for us */
        return;
    }
    for (struct seclog__waiter **p = &log->waiters; *p; prev = *p, p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            break;
        }
    }
    if (log->waiters_last == w)
        log->waiters_last = prev;
    w->listed = false;
    log->waiters_pending--;
}

/* Waits for w to be settled: on its own futex word, without the log's lock. Returns the
 * result, or -ETIMEDOUT after leaving the list. */
static int waiter_wait(struct seclog *log, struct seclog__waiter *w, const struct timespec *until)
{
    uint32_t expected = SECLOG__WAITER_WAITING;

    while (atomic_load_explicit(&w->state, memory_order_acquire) == SECLOG__WAITER_WAITING) {
        if (!futex_wait_until(&w->state, until))
            break;
    }
    if (atomic_compare_exchange_strong_explicit(&w->state, &expected, SECLOG__WAITER_LEFT,
                                                memory_order_acq_rel, memory_order_acquire)) {
        pthread_mutex_lock(&log->lock);
        waiter_leave_locked(log, w);
        pthread_mutex_unlock(&log->lock);
        return -ETIMEDOUT;
    }
    return w->result; /* SETTLED: the settler no longer touches w but for a wake-up */
}

int seclog_append_durable(struct seclog *log, const struct seclog_entry *e, int64_t timeout_ms,
                          uint64_t *ret_seq)
{
    struct seclog__item it = {0};
    struct seclog__waiter w = {0};
    uint8_t buf[SECLOG__ITEM_INLINE];
    struct timespec until;
    bool kick;
    int r;

    if (!log || !e)
        return -EINVAL;
    r = seclog__item_encode(log, e, &it, buf);
    if (r < 0)
        return r;
    atomic_init(&w.state, SECLOG__WAITER_WAITING);
    until = deadline_in(timeout_ms);
    pthread_mutex_lock(&log->lock);
    /* Never folded: the caller needs this very record on disk. Closing: nobody would write
     * it. */
    r = log->cmd_stop ? -EIO : seclog__queue_push_locked(log, &it, false);
    if (r == -ENOBUFS)
        log->dropped++;
    if (r < 0) {
        pthread_mutex_unlock(&log->lock);
        seclog__item_done(&it, buf, false);
        return r;
    }
    seclog__item_done(&it, buf, true);
    /* Seqs are assigned under this lock, so appending keeps the list in ascending seq. */
    w.seq = it.seq;
    w.listed = true;
    w.cpu = sched_getcpu();
    if (log->waiters_last)
        log->waiters_last->next = &w;
    else
        log->waiters = &w;
    log->waiters_last = &w;
    log->waiter_seq_max = w.seq; /* a batch holding it closes at once (writer.c) */
    /* A writer filling a batch is woken by the durable push that completes its group. Under
     * the lock: a waiter that seclog_close settles must not touch the log afterwards. */
    kick = seclog__kick_take_locked(log);
    if (++log->waiters_pending >= log->gc_signal_at || kick)
        pthread_cond_signal(&log->work_cond);
    pthread_mutex_unlock(&log->lock);
    r = waiter_wait(log, &w, &until);
    if (r == 0 && ret_seq)
        *ret_seq = w.seq;
    return r;
}
