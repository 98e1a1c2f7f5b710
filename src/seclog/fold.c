/* fold: identical entries within a window become one written entry plus one counted summary.
 *
 * "Identical" means same severity, type, topic and parameters (in order); the entry's time
 * does not count. A direct-mapped table of SECLOG__FOLD_SLOTS slots is keyed by a hash of
 * those fields. Per slot:
 *
 *     free --first occurrence: written, window opens--> open
 *     open --same key, window open: repeats++ (append returns 1)--> open
 *     open --window passed (writer, every cycle; or append of the same key)--> summary, free
 *     open --other key hashed here (append)--> summary of the old, open with the new
 *
 * A summary is LOG/FOLDED with Topic, Count (repeats), First and Last (ISO times of the
 * first and last repeat), then as many of the original parameters as fit (16 in all, and
 * the record within the log's record_max). It takes the original's severity and type.
 *
 * Invariants:
 *  1. Nothing is lost: every repeat is counted in exactly one summary. A slot whose summary
 *     cannot be queued (ring full) keeps its count and is tried again.
 *  2. A slot with repeats 0 produces no summary; the first occurrence was written as is.
 *  3. Work under the lock is O(1) per append, plus one summary encode when a slot changes.
 *
 * Threads: seclog__fold_key_init() and _done() are thread-safe; *_locked need log->lock; the rest
 * take it. Windows run on clock_mono_ms(), so advancing the virtual clock closes them. */
#include "seclog/seclog_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

#define SUMMARY_TOPIC "LOG/FOLDED"
#define SUMMARY_OWN_PARAMS 4 /* Topic, Count, First, Last */
#define ISO_BYTES 32         /* clock_format_iso() needs at most this */

/* FNV-1a 64 over the key. In memory only; the table is direct-mapped, so which keys share a
 * slot depends on it (tests/integration/test_seclog_flood.py counts on 20 storm sources
 * landing in distinct slots). */
static uint64_t key_hash(const uint8_t *p, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 offset basis */

    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ull; /* FNV-1a 64 prime */
    return h;
}

/* The key is [severity][type][n_params] topic NUL (key NUL value NUL)*: C strings hold no
 * NUL, so the encoding is unambiguous and decodes into usable strings in place. */
int seclog__fold_key_init(struct seclog__fold_key *k, const struct seclog_entry *e)
{
    size_t len = 3, off = 3, n;
    uint8_t *key;

    k->p = NULL;
    if (!e || !e->topic || e->n_params > SECLOG_PARAMS_MAX || (e->n_params > 0 && !e->params))
        return -EINVAL;
    len += strnlen(e->topic, SECLOG_TOPIC_MAX) + 1;
    for (size_t i = 0; i < e->n_params; i++) {
        if (!e->params[i].key || !e->params[i].value)
            return -EINVAL;
        len += strnlen(e->params[i].key, SECLOG_KEY_MAX) + 1 +
               strnlen(e->params[i].value, SECLOG_VALUE_MAX) + 1;
    }
    /* Typical keys fit the struct, which lives on the producer's stack: no malloc. */
    key = len <= sizeof(k->inline_buf) ? k->inline_buf : malloc(len);
    if (!key)
        return -ENOMEM;
    key[0] = (uint8_t)e->severity;
    key[1] = (uint8_t)e->type;
    key[2] = (uint8_t)e->n_params;
    n = strnlen(e->topic, SECLOG_TOPIC_MAX);
    memcpy(key + off, e->topic, n);
    off += n;
    key[off++] = 0;
    for (size_t i = 0; i < e->n_params; i++) {
        const char *s[2] = {e->params[i].key, e->params[i].value};
        const size_t max[2] = {SECLOG_KEY_MAX, SECLOG_VALUE_MAX};

        for (int j = 0; j < 2; j++) {
            n = strnlen(s[j], max[j]);
            memcpy(key + off, s[j], n);
            off += n;
            key[off++] = 0;
        }
    }
    k->p = key;
    k->len = len;
    k->hash = key_hash(key, len);
    return 0;
}

void seclog__fold_key_done(struct seclog__fold_key *k)
{
    if (k->p != k->inline_buf)
        free(k->p);
    k->p = NULL;
}

/* Queues the summary of slot (repeats > 0) as an engine record. Under lock. */
static int summary_push_locked(struct seclog *log, const struct seclog__fold_slot *slot)
{
    struct seclog_param params[SECLOG_PARAMS_MAX];
    struct seclog_entry e = {0};
    struct seclog__item it = {0};
    char count[24], first[ISO_BYTES], last[ISO_BYTES];
    const char *p = (const char *)slot->key + 3;
    size_t n = 0, size;
    int r;

    e.severity = (enum seclog_severity)slot->key[0];
    e.type = (enum seclog_type)slot->key[1];
    e.topic = SUMMARY_TOPIC;
    (void)snprintf(count, sizeof(count), "%" PRIu64, slot->repeats);
    params[n++] = (struct seclog_param){"Topic", p};
    params[n++] = (struct seclog_param){"Count", count};
    params[n++] =
        (struct seclog_param){"First", clock_format_iso(slot->first_ms, first, ISO_BYTES)};
    params[n++] = (struct seclog_param){"Last", clock_format_iso(slot->last_ms, last, ISO_BYTES)};
    size = SECLOG__RECORD_FIXED + strlen(SUMMARY_TOPIC) + SECLOG__ALIGN;
    for (size_t i = 0; i < n; i++)
        size += 4 + strlen(params[i].key) + strlen(params[i].value);
    p += strlen(p) + 1;
    /* The original parameters, in order, while they fit. */
    for (size_t i = 0; i < slot->key[2] && n < SECLOG_PARAMS_MAX; i++) {
        const char *k = p, *v = p + strlen(p) + 1;
        size_t add = 4 + strlen(k) + strlen(v);

        p = v + strlen(v) + 1;
        if (size + add > log->record_max)
            break;
        size += add;
        params[n++] = (struct seclog_param){k, v};
    }
    e.params = params;
    e.n_params = n;
    r = seclog__item_encode(log, &e, &it);
    if (r < 0)
        return r;
    r = seclog__queue_push_locked(log, &it, true);
    if (r < 0)
        free(it.rec);
    return r;
}

/* Frees the slot; its key buffer stays for the next key. */
static void slot_clear(struct seclog__fold_slot *slot)
{
    uint8_t *buf = slot->key;
    size_t cap = slot->key_cap;

    memset(slot, 0, sizeof(*slot));
    slot->key = buf;
    slot->key_cap = cap;
}

/* Under lock: the slot takes a copy of k. Its buffer is reused, so a steady stream of
 * distinct entries costs no malloc; false if it had to grow and could not. */
static bool slot_take_key(struct seclog__fold_slot *slot, const struct seclog__fold_key *k)
{
    if (slot->key_cap < k->len) {
        size_t cap = k->len < SECLOG__FOLD_KEY_INLINE ? SECLOG__FOLD_KEY_INLINE : k->len;
        uint8_t *buf = malloc(cap);

        if (!buf)
            return false;
        free(slot->key);
        slot->key = buf;
        slot->key_cap = cap;
    }
    memcpy(slot->key, k->p, k->len);
    slot->key_len = k->len;
    slot->hash = k->hash;
    slot->used = true;
    return true;
}

int seclog__fold_push_locked(struct seclog *log, const struct seclog__fold_key *k,
                             struct seclog__item *it)
{
    struct seclog__fold_slot *slot = &log->fold[k->hash & (SECLOG__FOLD_SLOTS - 1)];
    int64_t now = clock_mono_ms();
    bool same = slot->used && slot->hash == k->hash && slot->key_len == k->len &&
                memcmp(slot->key, k->p, k->len) == 0;
    int r;

    if (same && now - slot->opened_mono_ms < log->fold_window_ms) {
        if (slot->repeats == 0)
            slot->first_ms = it->time_ms;
        slot->repeats++;
        slot->last_ms = it->time_ms;
        log->folded++;
        return 1;
    }
    if (seclog__queue_room_locked(log) == 0) {
        log->dropped++;
        return -ENOBUFS;
    }
    /* The displaced window's summary goes first (it is older); it may take a spare slot,
     * which the producer check above bounds to one per queued entry. */
    if (slot->used && slot->repeats > 0) {
        r = summary_push_locked(log, slot);
        if (r < 0)
            return r; /* the slot keeps its count; this entry is not queued */
    }
    r = seclog__queue_push_locked(log, it, true);
    if (r < 0)
        return r;
    slot_clear(slot);
    /* Without memory for the key the entry is queued all the same, only not folded. */
    if (slot_take_key(slot, k))
        slot->opened_mono_ms = now;
    return 0;
}

void seclog__fold_flush(struct seclog *log, bool all)
{
    int64_t now = clock_mono_ms();

    pthread_mutex_lock(&log->lock);
    for (size_t i = 0; i < SECLOG__FOLD_SLOTS; i++) {
        struct seclog__fold_slot *slot = &log->fold[i];

        if (!slot->used || (!all && now - slot->opened_mono_ms < log->fold_window_ms))
            continue;
        if (slot->repeats > 0 && summary_push_locked(log, slot) < 0)
            continue; /* ring full: keep the count for the next cycle */
        slot_clear(slot);
    }
    pthread_mutex_unlock(&log->lock);
}

void seclog__fold_done(struct seclog *log)
{
    for (size_t i = 0; i < SECLOG__FOLD_SLOTS; i++) {
        free(log->fold[i].key);
        memset(&log->fold[i], 0, sizeof(log->fold[i]));
    }
}
