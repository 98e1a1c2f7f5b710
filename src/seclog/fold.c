/* fold: identical entries within a window become one written entry plus one counted summary.
 *
 * "Identical" means same severity, type, topic and parameters (in order); the entry's time
 * does not count. A table of SECLOG__FOLD_SLOTS slots in sets of SECLOG__FOLD_WAYS is keyed
 * by a hash of those fields, read from the encoded record: an entry's set is its hash's, and
 * its key is looked up in all slots of the set. Per slot:
 *
 *     free --first occurrence: written, window opens--> open
 *     open --same key, window open: repeats++ (append returns 1)--> open
 *     open --window passed (writer, every cycle; or append of the same key)--> summary, free
 *     open --a new key in a full set, this window opened first (append)--> summary of the
 *            old, open with the new
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
 * Threads: seclog__fold_hash() and seclog__fold_set_of() are thread-safe; *_locked need
 * log->lock; the rest take it. Windows run on clock_mono_ms(), so advancing the virtual clock
 * closes them. */
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

/* The key of an entry is its record without what differs between identical entries (len,
 * crc, seq, time, boot id, hash): bytes 8..16 (kind, severity, type, flags, topic_len,
 * n_params) and the payload from 80 on (topic, then each parameter as u16 key_len, u16
 * value_len, key, value; zero padding). The format makes that encoding unambiguous, and the
 * producer has already built it: folding needs no key of its own. */
#define KEY_HEAD 8                                     /* record bytes 8..16 */
#define KEY_SKIP (SECLOG__RECORD_FIXED - 2 * KEY_HEAD) /* record bytes 16..80 are left out */
#define KEY_SEVERITY 1
#define KEY_TYPE 2
#define KEY_TOPIC_LEN 4
#define KEY_N_PARAMS 6
#define FOLD_SETS (SECLOG__FOLD_SLOTS / SECLOG__FOLD_WAYS)
#define HASH_MUL 0x9e3779b97f4a7c15ull /* 2^64 / golden ratio, odd */

_Static_assert((FOLD_SETS & (FOLD_SETS - 1)) == 0, "the fold sets are a power of two");
_Static_assert(SECLOG__RECORD_FIXED % 8 == 0, "the payload starts on a word");

static uint16_t key_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint64_t word_at(const uint8_t *p)
{
    uint64_t w;

    memcpy(&w, p, sizeof(w));
    return w;
}

/* Word by word (records are padded to 8 bytes), then murmur3's finaliser so that the set
 * index, taken from the low bits, depends on every byte. In memory only. */
uint64_t seclog__fold_hash(const uint8_t *rec, size_t len)
{
    uint64_t h = word_at(rec + KEY_HEAD) * HASH_MUL;

    for (size_t off = SECLOG__RECORD_FIXED; off + 8 <= len; off += 8)
        h = ((h << 23 | h >> 41) ^ word_at(rec + off)) * HASH_MUL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

int seclog__fold_set_of(const struct seclog_entry *e, size_t *ret_set)
{
    const uint8_t boot_id[SECLOG__BOOT_ID_BYTES] = {0};
    uint8_t *rec = malloc(SECLOG__RECORD_MAX);
    size_t len = 0;
    int r = -ENOMEM;

    if (rec)
        r = seclog__entry_encode(e, 0, boot_id, rec, SECLOG__RECORD_MAX, &len);
    if (r == 0)
        *ret_set = seclog__fold_hash(rec, len) & (FOLD_SETS - 1);
    free(rec);
    return r;
}

static bool key_is(const struct seclog__fold_slot *slot, const struct seclog__item *it)
{
    return slot->key_len == it->len - KEY_SKIP &&
           memcmp(slot->key, it->rec + KEY_HEAD, KEY_HEAD) == 0 &&
           memcmp(slot->key + KEY_HEAD, it->rec + SECLOG__RECORD_FIXED,
                  it->len - SECLOG__RECORD_FIXED) == 0;
}

/* Queues the summary of slot (repeats > 0) as an engine record. Under lock. Its strings are
 * decoded from the key into one buffer, NUL-terminated (the key's 4-byte length pairs leave
 * room for the NULs). */
static int summary_push_locked(struct seclog *log, const struct seclog__fold_slot *slot)
{
    struct seclog_param params[SECLOG_PARAMS_MAX];
    struct seclog_entry e = {0};
    struct seclog__item it = {0};
    uint8_t buf[SECLOG__ITEM_INLINE];
    char count[24], first[ISO_BYTES], last[ISO_BYTES];
    const uint8_t *k = slot->key;
    size_t n = 0, size, off, pos = 0, topic_len = key_get16(k + KEY_TOPIC_LEN);
    size_t n_params = key_get16(k + KEY_N_PARAMS);
    char *str = malloc(slot->key_len + 1);
    int r;

    if (!str)
        return -ENOMEM;
    memcpy(str, k + KEY_HEAD, topic_len);
    str[topic_len] = 0;
    pos = topic_len + 1;
    off = KEY_HEAD + topic_len;
    e.severity = (enum seclog_severity)k[KEY_SEVERITY];
    e.type = (enum seclog_type)k[KEY_TYPE];
    e.topic = SUMMARY_TOPIC;
    (void)snprintf(count, sizeof(count), "%" PRIu64, slot->repeats);
    params[n++] = (struct seclog_param){"Topic", str};
    params[n++] = (struct seclog_param){"Count", count};
    params[n++] =
        (struct seclog_param){"First", clock_format_iso(slot->first_ms, first, ISO_BYTES)};
    params[n++] = (struct seclog_param){"Last", clock_format_iso(slot->last_ms, last, ISO_BYTES)};
    size = SECLOG__RECORD_FIXED + strlen(SUMMARY_TOPIC) + SECLOG__ALIGN;
    for (size_t i = 0; i < n; i++)
        size += 4 + strlen(params[i].key) + strlen(params[i].value);
    /* The original parameters, in order, while they fit. */
    for (size_t i = 0; i < n_params && n < SECLOG_PARAMS_MAX; i++) {
        size_t key_len = key_get16(k + off), value_len = key_get16(k + off + 2);
        size_t add = 4 + key_len + value_len;
        char *key = str + pos, *value = key + key_len + 1;

        if (size + add > log->record_max)
            break;
        memcpy(key, k + off + 4, key_len);
        key[key_len] = 0;
        memcpy(value, k + off + 4 + key_len, value_len);
        value[value_len] = 0;
        pos += key_len + value_len + 2;
        off += add;
        size += add;
        params[n++] = (struct seclog_param){key, value};
    }
    e.params = params;
    e.n_params = n;
    r = seclog__item_encode(log, &e, &it, buf);
    if (r == 0)
        r = seclog__queue_push_locked(log, &it, true);
    seclog__item_done(&it, buf, r == 0);
    free(str);
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

/* Under lock: the slot takes a copy of it's key. Its buffer is reused, so a steady stream of
 * distinct entries costs no malloc; false if it had to grow and could not. */
static bool slot_take_key(struct seclog__fold_slot *slot, const struct seclog__item *it,
                          uint64_t hash)
{
    size_t len = it->len - KEY_SKIP;

    if (slot->key_cap < len) {
        size_t cap = len < SECLOG__FOLD_KEY_INLINE ? SECLOG__FOLD_KEY_INLINE : len;
        uint8_t *buf = malloc(cap);

        if (!buf)
            return false;
        free(slot->key);
        slot->key = buf;
        slot->key_cap = cap;
    }
    memcpy(slot->key, it->rec + KEY_HEAD, KEY_HEAD);
    memcpy(slot->key + KEY_HEAD, it->rec + SECLOG__RECORD_FIXED, it->len - SECLOG__RECORD_FIXED);
    slot->key_len = len;
    slot->hash = hash;
    slot->used = true;
    return true;
}

/* Under lock: the slot of hash's set that holds it's key, else a free one, else the one whose
 * window opened first. *ret_same: the slot holds it's key. */
static struct seclog__fold_slot *slot_find(struct seclog *log, uint64_t hash,
                                           const struct seclog__item *it, bool *ret_same)
{
    struct seclog__fold_slot *set = &log->fold[(hash & (FOLD_SETS - 1)) * SECLOG__FOLD_WAYS];
    struct seclog__fold_slot *free_slot = NULL, *oldest = NULL;

    *ret_same = false;
    for (size_t i = 0; i < SECLOG__FOLD_WAYS; i++) {
        struct seclog__fold_slot *slot = &set[i];

        if (!slot->used) {
            if (!free_slot)
                free_slot = slot;
            continue;
        }
        if (slot->hash == hash && key_is(slot, it)) {
            *ret_same = true;
            return slot;
        }
        if (!oldest || slot->opened < oldest->opened)
            oldest = slot;
    }
    return free_slot ? free_slot : oldest;
}

int seclog__fold_push_locked(struct seclog *log, uint64_t hash, struct seclog__item *it)
{
    int64_t now = clock_mono_ms();
    bool same;
    struct seclog__fold_slot *slot = slot_find(log, hash, it, &same);
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
    slot_clear(slot); /* its count is in the summary queued */
    r = seclog__queue_push_locked(log, it, true);
    if (r < 0)
        return r;
    /* Without memory for the key the entry is queued all the same, only not folded. */
    if (slot_take_key(slot, it, hash)) {
        slot->opened_mono_ms = now;
        slot->opened = ++log->fold_opened;
    }
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
    (void)seclog__kick_take_locked(log); /* the writer itself pushed them */
    pthread_mutex_unlock(&log->lock);
}

void seclog__fold_done(struct seclog *log)
{
    for (size_t i = 0; i < SECLOG__FOLD_SLOTS; i++) {
        free(log->fold[i].key);
        memset(&log->fold[i], 0, sizeof(log->fold[i]));
    }
}
