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
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* The exact encoded size of a valid entry (format.c's rule: fixed part, topic, for each
 * parameter two u16 lengths, key and value, padded to the alignment); 0 if e is invalid. */
static size_t entry_size(const struct seclog_entry *e)
{
    size_t len, topic_len;

    if (!e->topic || e->n_params > SECLOG_PARAMS_MAX || (e->n_params > 0 && !e->params))
        return 0;
    topic_len = strnlen(e->topic, SECLOG_TOPIC_MAX + 1);
    len = SECLOG__RECORD_FIXED + topic_len;
    for (size_t i = 0; i < e->n_params; i++) {
        if (!e->params[i].key || !e->params[i].value)
            return 0;
        len += 4 + strnlen(e->params[i].key, SECLOG_KEY_MAX + 1) +
               strnlen(e->params[i].value, SECLOG_VALUE_MAX + 1);
    }
    return (len + SECLOG__ALIGN - 1) & ~(size_t)(SECLOG__ALIGN - 1);
}

int seclog__item_encode(const struct seclog *log, const struct seclog_entry *e,
                        struct seclog__item *ret)
{
    int64_t time_ms;
    uint8_t *rec = NULL;
    size_t size, len = 0;
    int r;

    if (!e)
        return -EINVAL;
    size = entry_size(e);
    /* An entry larger than an empty segment of this log could never be written; refusing it
     * here keeps the writer from rotating forever. */
    if (size == 0 || size > log->record_max)
        return -EINVAL;
    rec = malloc(size);
    if (!rec)
        return -ENOMEM;
    time_ms = e->time_ms ? e->time_ms : clock_now_ms();
    r = seclog__entry_encode(e, time_ms, log->boot_id, rec, size, &len);
    if (r < 0)
        goto out;
    if (len != size) {
        r = -EINVAL;
        goto out;
    }
    ret->rec = rec;
    ret->len = (uint32_t)len;
    ret->seq = 0;
    ret->time_ms = time_ms;
    rec = NULL;
out:
    free(rec);
    return r;
}

size_t seclog__queue_room_locked(const struct seclog *log)
{
    return log->ring_count < SECLOG__QUEUE_CAP ? SECLOG__QUEUE_CAP - log->ring_count : 0;
}

int seclog__queue_push_locked(struct seclog *log, struct seclog__item *it, bool internal)
{
    size_t limit = internal ? RING_SLOTS : SECLOG__QUEUE_CAP;

    if (log->ring_count >= limit)
        return -ENOBUFS;
    it->seq = log->next_seq++;
    log->ring[(log->ring_head + log->ring_count) % RING_SLOTS] = *it;
    log->ring_count++;
    /* The writer sleeps on an empty ring (signal_at 1: wake it for the first entry), or while
     * it fills a batch (writer.c: every SECLOG__FILL_CHUNK entries); and for a full batch. */
    if (log->ring_count == log->signal_at || log->ring_count == SECLOG__BATCH_MAX)
        pthread_cond_signal(&log->work_cond);
    return 0;
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

size_t seclog__waiters_settle_locked(struct seclog *log, uint64_t from, uint64_t upto, int result)
{
    size_t n = 0;

    for (struct seclog__waiter *w = log->waiters; w; w = w->next) {
        if (!w->done && w->seq >= from && w->seq <= upto) {
            w->done = true;
            w->result = result;
            pthread_cond_signal(&w->cond);
            n++;
        }
    }
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
    int r;

    r = seclog__item_encode(log, &e, &it);
    pthread_mutex_lock(&log->lock);
    if (r == 0)
        r = seclog__queue_push_locked(log, &it, true);
    if (r < 0)
        log->dropped++; /* reported by the next LOG/DROPPED: still not silent */
    pthread_mutex_unlock(&log->lock);
    if (r < 0)
        free(it.rec);
    else if (ret_seq)
        *ret_seq = it.seq;
    return r;
}

/* Hot path: encode and key outside the lock, then an O(1) fold-or-push under it. */
int seclog_append(struct seclog *log, const struct seclog_entry *e)
{
    struct seclog__item it = {0};
    struct seclog__fold_key key;
    int r;

    if (!log || !e)
        return -EINVAL;
    r = seclog__item_encode(log, e, &it);
    if (r < 0)
        return r;
    r = seclog__fold_key_init(&key, e);
    if (r < 0)
        goto out;
    pthread_mutex_lock(&log->lock);
    r = seclog__fold_push_locked(log, &key, &it);
    pthread_mutex_unlock(&log->lock);
    seclog__fold_key_done(&key);
    if (r == 0)
        it.rec = NULL; /* the ring owns it */
out:
    free(it.rec);
    return r;
}

static pthread_once_t waiter_attr_once = PTHREAD_ONCE_INIT;
static pthread_condattr_t waiter_attr;
static bool waiter_attr_ok;

static void waiter_attr_init(void)
{
    waiter_attr_ok = pthread_condattr_init(&waiter_attr) == 0 &&
                     pthread_condattr_setclock(&waiter_attr, CLOCK_MONOTONIC) == 0;
}

/* An absolute CLOCK_MONOTONIC deadline (the condition variables use that clock) timeout_ms
 * from now. Real time on purpose: a durable wait bounds how long a caller is held, and the
 * virtual clock must not shorten it. */
static struct timespec deadline_in(int64_t timeout_ms)
{
    int64_t at = clock_real_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    struct timespec ts = {.tv_sec = (time_t)(at / 1000), .tv_nsec = (long)(at % 1000) * 1000000};

    return ts;
}

int seclog_append_durable(struct seclog *log, const struct seclog_entry *e, int64_t timeout_ms,
                          uint64_t *ret_seq)
{
    struct seclog__item it = {0};
    struct seclog__waiter w = {0};
    struct timespec until;
    int r;

    if (!log || !e)
        return -EINVAL;
    (void)pthread_once(&waiter_attr_once, waiter_attr_init);
    if (!waiter_attr_ok)
        return -ENOMEM;
    r = seclog__item_encode(log, e, &it);
    if (r < 0)
        return r;
    r = pthread_cond_init(&w.cond, &waiter_attr);
    if (r != 0) {
        free(it.rec);
        return -r;
    }
    until = deadline_in(timeout_ms);
    pthread_mutex_lock(&log->lock);
    if (log->cmd_stop) {
        r = -EIO; /* closing: nobody would write it */
        goto unlock;
    }
    /* Never folded: the caller needs this very record on disk. */
    r = seclog__queue_push_locked(log, &it, false);
    if (r < 0) {
        log->dropped++;
        goto unlock;
    }
    w.seq = it.seq;
    it.rec = NULL;
    w.next = log->waiters;
    log->waiters = &w;
    log->waiter_seq_max = w.seq; /* a batch holding it closes at once (writer.c) */
    /* A writer filling a batch is woken by a durable push (writer.c). */
    if (++log->waiters_pending >= log->gc_signal_at)
        pthread_cond_signal(&log->work_cond);
    while (!w.done) {
        if (pthread_cond_timedwait(&w.cond, &log->lock, &until) == ETIMEDOUT && !w.done)
            break;
    }
    r = w.done ? w.result : -ETIMEDOUT;
    if (!w.done)
        log->waiters_pending--;
    for (struct seclog__waiter **p = &log->waiters; *p; p = &(*p)->next) {
        if (*p == &w) {
            *p = w.next;
            break;
        }
    }
    if (log->cmd_stop)
        pthread_cond_broadcast(&log->durable_cond); /* seclog_close waits for us to leave */
unlock:
    pthread_mutex_unlock(&log->lock);
    pthread_cond_destroy(&w.cond);
    free(it.rec);
    if (r == 0 && ret_seq)
        *ret_seq = w.seq;
    return r;
}
