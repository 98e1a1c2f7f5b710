/* Declarations shared by the files of src/seclog/ and their unit tests only.
 *
 * Two layers:
 *  - storage (format.c, segment.c, reader.c, verify.c): bytes on disk, records, segments,
 *    reading and verifying. Knows nothing of threads or queues.
 *  - engine (seclog.c, queue.c, fold.c, seal.c, writer.c, retention.c, stats.c): the public
 *    API, the producer queue, folding, the writer thread, seals, retention, status.
 * The engine hands the storage layer a consistent snapshot of the segments (seclog__snapshot)
 * so that readers never see bytes that are not durable.
 *
 * All integers on disk are little-endian; docs/security-log.md is the contract. */
#ifndef KONN_SECLOG_INTERNAL_H
#define KONN_SECLOG_INTERNAL_H

#include "seclog/seclog.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- format (format.c) ------------------------------------------------------------------ */

#define SECLOG__FORMAT_VERSION 1
#define SECLOG__HEADER_BYTES 4096 /* segment header block at offset 0 */
#define SECLOG__FOOTER_BYTES 4096 /* footer block at the end, written when a segment closes */
#define SECLOG__ALIGN 8           /* records start on 8-byte boundaries */
#define SECLOG__RECORD_FIXED 80   /* fixed part of every record */
#define SECLOG__HASH_BYTES 32
#define SECLOG__BOOT_ID_BYTES 16
/* Largest possible record: fixed part, topic, 16 parameters with 4-byte length pairs. */
#define SECLOG__RECORD_MAX                                                                         \
    (SECLOG__RECORD_FIXED + SECLOG_TOPIC_MAX +                                                     \
     SECLOG_PARAMS_MAX * (4 + SECLOG_KEY_MAX + SECLOG_VALUE_MAX) + SECLOG__ALIGN)

enum seclog__kind {
    SECLOG__KIND_ENTRY = 1, /* an entry: counts in the sequence and the chain */
    SECLOG__KIND_SEAL = 2,  /* closes a batch: seq and hash of the last entry, epoch, HMAC */
};

/* One record as found on disk, pointing into the buffer it was parsed from. */
struct seclog__parsed {
    enum seclog__kind kind;
    uint32_t len; /* whole record including padding */
    uint64_t seq;
    int64_t time_ms;
    uint8_t boot_id[SECLOG__BOOT_ID_BYTES];
    uint8_t severity, type, flags;
    uint8_t hash[SECLOG__HASH_BYTES];
    const uint8_t *topic; /* entries: topic_len bytes, not NUL-terminated */
    uint16_t topic_len;
    uint16_t n_params;
    const uint8_t *params; /* entries: n_params x (u16 key_len, u16 value_len, key, value) */
    size_t params_len;
    uint64_t epoch;                  /* seals */
    uint8_t mac[SECLOG__HASH_BYTES]; /* seals */
    const uint8_t *raw;              /* the record's first byte */
};

/* CRC-32C (crc32c.c): the fastest of the three below that this CPU runs. The bytewise one is
 * the reference; sliced (slice-by-8) runs anywhere; hw needs SSE4.2 (hw_is_available) and
 * falls back to sliced on other architectures. Thread-safe. */
uint32_t seclog__crc32c(uint32_t crc, const void *data, size_t len);
uint32_t seclog__crc32c_bytewise(uint32_t crc, const void *data, size_t len);
uint32_t seclog__crc32c_sliced(uint32_t crc, const void *data, size_t len);
uint32_t seclog__crc32c_hw(uint32_t crc, const void *data, size_t len);
bool seclog__crc32c_hw_is_available(void);

/* A SHA-256 context for the chain hash, reused record after record by one thread (the writer,
 * a verifier). Without one, every record makes and frees its own. */
struct evp_md_st;
struct evp_md_ctx_st;
struct seclog__hasher {
    struct evp_md_st *md; /* SHA-256, fetched once */
    struct evp_md_ctx_st *ctx;
};

/* -ENOMEM if OpenSSL cannot provide SHA-256 or a context. done accepts a zeroed or half-made
 * hasher. */
int seclog__hasher_init(struct seclog__hasher *h);
void seclog__hasher_done(struct seclog__hasher *h);

/* The lengths of an entry's strings and of its record, measured once. */
struct seclog__entry_lens {
    size_t len;   /* the record, padded */
    size_t topic; /* bytes */
    uint16_t key[SECLOG_PARAMS_MAX], value[SECLOG_PARAMS_MAX];
};

/* Checks e against the limits of seclog.h and measures it; -EINVAL if it breaks them. */
int seclog__entry_measure(const struct seclog_entry *e, struct seclog__entry_lens *ret);
/* Encodes a measured entry into buf (lens->len bytes), as seclog__entry_encode does. */
void seclog__entry_encode_measured(const struct seclog_entry *e,
                                   const struct seclog__entry_lens *lens, int64_t time_ms,
                                   const uint8_t boot_id[SECLOG__BOOT_ID_BYTES], uint8_t *buf);
/* Encodes an entry with seq, hash and CRC left zero (seclog__record_finish fills them).
 * -EINVAL if the entry breaks the limits of seclog.h; -ENOBUFS if size is too small. */
int seclog__entry_encode(const struct seclog_entry *e, int64_t time_ms,
                         const uint8_t boot_id[SECLOG__BOOT_ID_BYTES], uint8_t *buf, size_t size,
                         size_t *ret_len);
/* Sets seq, the chain hash SHA-256(prev_hash || record bytes 8..47 || bytes 80..len) and the
 * CRC-32C over bytes 8..len; writes the new hash to ret_hash (may alias nothing else). */
void seclog__record_finish(uint8_t *rec, size_t len, uint64_t seq,
                           const uint8_t prev_hash[SECLOG__HASH_BYTES],
                           uint8_t ret_hash[SECLOG__HASH_BYTES]);
/* The same with h's context (h may be NULL). */
void seclog__record_finish_with(struct seclog__hasher *h, uint8_t *rec, size_t len, uint64_t seq,
                                const uint8_t prev_hash[SECLOG__HASH_BYTES],
                                uint8_t ret_hash[SECLOG__HASH_BYTES]);
/* Encodes a complete seal record for the entry (seq, hash) under epoch with mac. */
int seclog__seal_encode(uint64_t seq, int64_t time_ms, const uint8_t boot_id[SECLOG__BOOT_ID_BYTES],
                        const uint8_t hash[SECLOG__HASH_BYTES], uint64_t epoch,
                        const uint8_t mac[SECLOG__HASH_BYTES], uint8_t *buf, size_t size,
                        size_t *ret_len);
/* The bytes a seal's HMAC covers, for seal.c and verify.c: "konn-seal-v1" || epoch || seq ||
 * hash || boot_id. Returns the length written to out (at least 76 bytes). */
size_t seclog__seal_message(uint64_t epoch, uint64_t seq, const uint8_t hash[SECLOG__HASH_BYTES],
                            const uint8_t boot_id[SECLOG__BOOT_ID_BYTES], uint8_t *out);

/* Parses one record at buf with avail bytes left in the data area. 0 and ret filled if the
 * length, alignment, CRC, kind and inner lengths are all sound; -ENODATA if the length word is
 * zero (the preallocated, never-written rest of a segment); -EBADMSG otherwise. Does not check
 * the chain (seclog__chain_check does). */
int seclog__record_parse(const uint8_t *buf, size_t avail, struct seclog__parsed *ret);
/* True if p's hash equals SHA-256(prev_hash || p's hashed bytes). Entries only. */
bool seclog__chain_check(const struct seclog__parsed *p,
                         const uint8_t prev_hash[SECLOG__HASH_BYTES]);
bool seclog__chain_check_with(struct seclog__hasher *h, const struct seclog__parsed *p,
                              const uint8_t prev_hash[SECLOG__HASH_BYTES]);
/* Decodes an entry into a record view; strings are copied NUL-terminated into strbuf.
 * -ENOBUFS if strbuf is too small (SECLOG__RECORD_MAX + 64 always suffices). */
int seclog__parsed_to_record(const struct seclog__parsed *p, struct seclog_record *ret,
                             char *strbuf, size_t strbuf_size);

struct seclog__seg_header {
    uint32_t version;
    uint32_t compat_flags, incompat_flags;
    uint32_t segment_bytes;
    uint64_t index;
    uint64_t first_seq; /* seq the first entry has (or will have) */
    int64_t created_ms;
    uint8_t boot_id[SECLOG__BOOT_ID_BYTES];
    uint8_t prev_hash[SECLOG__HASH_BYTES]; /* last hash of the previous segment, the anchor */
};

struct seclog__seg_footer {
    uint64_t last_seq; /* 0 and records 0 for a segment closed empty */
    uint64_t records;  /* entries */
    int64_t first_ms, last_ms;
    uint8_t last_hash[SECLOG__HASH_BYTES];
    uint64_t data_end; /* offset after the last record */
};

/* Header and footer blocks: magic, fields, CRC-32C; reserved bytes zero. decode: -EBADMSG on
 * a wrong magic, CRC or unknown incompatible flag. */
void seclog__header_encode(const struct seclog__seg_header *h, uint8_t out[SECLOG__HEADER_BYTES]);
int seclog__header_decode(const uint8_t in[SECLOG__HEADER_BYTES], struct seclog__seg_header *ret);
void seclog__footer_encode(const struct seclog__seg_footer *f, uint8_t out[SECLOG__FOOTER_BYTES]);
int seclog__footer_decode(const uint8_t in[SECLOG__FOOTER_BYTES], struct seclog__seg_footer *ret);

/* ---- segments (segment.c) --------------------------------------------------------------- */

/* Segment files are DIR/seg-<16 hex digits of index>.log; a set-aside one gets ".damaged"
 * appended; DIR/reserve holds the unused part of the budget. */
struct seclog__segment {
    uint64_t index;
    char *path;
    int fd; /* -1 when not open */
    struct seclog__seg_header hdr;
    bool closed;       /* footer written: never modified again */
    uint64_t data_end; /* next write offset (tail) or footer's data_end (closed) */
    uint64_t last_seq; /* 0: no entries */
    uint64_t records;
    int64_t first_ms, last_ms; /* of its entries; 0 if none */
    uint8_t last_hash[SECLOG__HASH_BYTES];
};

/* What opening the tail found. */
struct seclog__tail_report {
    bool torn; /* a torn last record was cut off (zeroed) */
    uint64_t torn_bytes;
    bool damaged;        /* damage before valid data: the caller sets the segment aside */
    uint64_t damaged_at; /* offset of the first bad record */
    bool closed_by_scan; /* (non-tail without footer) its end was found by scanning */
};

/* Lists segment indexes in DIR, ascending. *ret_indexes is heap memory. */
int seclog__dir_list(const char *dir, uint64_t **ret_indexes, size_t *ret_n);
char *seclog__segment_path(const char *dir, uint64_t index);

/* Creates a segment: preallocates segment_bytes, writes the header and zeros over the rest,
 * fdatasync, fsync of DIR. */
int seclog__segment_create(const char *dir, const struct seclog__seg_header *hdr,
                           struct seclog__segment **ret_seg);
/* Opens a closed segment reading only its header and footer (boot must not scan old data).
 * A segment without a valid footer is scanned (report->closed_by_scan) and not modified.
 * -EBADMSG if the header is bad. The fd is closed again. */
int seclog__segment_open_closed(const char *dir, uint64_t index, struct seclog__segment **ret_seg,
                                struct seclog__tail_report *report);
/* Opens the newest segment for appending: scans every record, checks CRCs, sequence and
 * chain from the header's first_seq and prev_hash. A bad last record followed by nothing valid
 * is a torn tail: zeroed and cut off. Anything else bad: report->damaged, -EBADMSG. */
int seclog__segment_open_tail(const char *dir, uint64_t index, struct seclog__segment **ret_seg,
                              struct seclog__tail_report *report);
/* Bytes left for records before the footer block. */
uint64_t seclog__segment_room(const struct seclog__segment *seg);
/* Writes bytes at data_end through the I/O seam and advances data_end; not yet durable. */
int seclog__segment_append(struct seclog__segment *seg, const void *data, size_t len);
int seclog__segment_sync(struct seclog__segment *seg);
/* Writes the footer from the segment's fields, fdatasync, closes the fd. */
int seclog__segment_close(struct seclog__segment *seg);
/* Renames the file to "<path>.damaged" (never repaired in place) and fsyncs DIR. */
int seclog__segment_set_aside(struct seclog__segment *seg);
/* Unlinks the file and fsyncs DIR: O(1), needs no free space. */
int seclog__segment_remove(struct seclog__segment *seg);
struct seclog__segment *seclog__segment_free(struct seclog__segment *seg);

/* What walking a segment's records from its header found (scan.c). */
struct seclog__scan {
    uint64_t end; /* offset after the last good record */
    uint64_t last_seq, records;
    int64_t first_ms, last_ms;
    uint8_t last_hash[SECLOG__HASH_BYTES]; /* the header's prev_hash if there is no entry */
    bool damaged;      /* a bad record with a valid CRC, or one followed by a later record */
    uint64_t torn_end; /* > end: [end, torn_end) holds a torn write, to be zeroed by a tail */
};

/* Scans the data area of an open segment file: CRCs, seqs from h->first_seq, the chain from
 * h->prev_hash, seals against the entry before them; classifies a bad record as torn or
 * damaged. Reads only. */
int seclog__segment_scan(int fd, const struct seclog__seg_header *h, struct seclog__scan *ret);

/* Sets DIR/reserve to exactly bytes (fallocate to grow, ftruncate to shrink). */
int seclog__reserve_set(const char *dir, uint64_t bytes);

/* Calls fn for each parsed record of the file at path in [SECLOG__HEADER_BYTES, limit) (limit 0:
 * up to the footer block), in order, reading in large chunks. Stops at the zero length word.
 * fn returns non-zero to stop. On a bad record returns -EBADMSG with *ret_bad_offset set. */
int seclog__file_foreach(const char *path, uint64_t limit,
                         int (*fn)(const struct seclog__parsed *p, uint64_t offset, void *arg),
                         void *arg, uint64_t *ret_bad_offset);

/* ---- engine services used by the storage readers (seclog.c) ------------------------------ */

/* A consistent, durable view of the log for readers. */
struct seclog__view_segment {
    uint64_t index;
    char *path;
    uint64_t limit; /* read records only below this offset */
    uint64_t first_seq, last_seq, records;
    int64_t first_ms, last_ms;
    uint8_t prev_hash[SECLOG__HASH_BYTES];
    bool closed;
};

struct seclog__view {
    struct seclog__view_segment *segs;
    size_t n;
    uint64_t durable_seq; /* last durable entry seq */
    /* Entries up to here were dropped at the head by retention or eviction whose record
     * (LOG/RETENTION, LOG/EVICTED) is queued but not yet durable; 0 if none. */
    uint64_t head_upto;
    const char *dir;
};

int seclog__snapshot(struct seclog *log, struct seclog__view *ret);
void seclog__view_done(struct seclog__view *v);

/* ---- seals (seal.c): forward-evolving HMAC keys ----------------------------------------- */

/* key_{e+1} = HMAC-SHA256(key_e, "konn-seal-evolve"); the old key is wiped. */
void seclog__seal_key_evolve(uint8_t key[SECLOG_KEY_BYTES]);
/* HMAC-SHA256(key, seclog__seal_message(...)). */
void seclog__seal_mac(const uint8_t key[SECLOG_KEY_BYTES], uint64_t epoch, uint64_t seq,
                      const uint8_t hash[SECLOG__HASH_BYTES],
                      const uint8_t boot_id[SECLOG__BOOT_ID_BYTES],
                      uint8_t ret_mac[SECLOG__HASH_BYTES]);

/* The verification key file (text): "konnektord-seclog-key v1 <epoch0> <epoch_ms> <k0 hex>\n". */
int seclog__verification_key_parse(const char *text, uint64_t *ret_epoch0, int64_t *ret_epoch_ms,
                                   uint8_t ret_key[SECLOG_KEY_BYTES]);

/* ---- engine state (seclog.c, queue.c, fold.c, seal.c, writer.c, retention.c, stats.c) ---- */

#define SECLOG__QUEUE_CAP 16384  /* entries producers may have waiting for the writer */
#define SECLOG__QUEUE_SPARE 4096 /* ring slots past that, only for the engine's own records */
#define SECLOG__BATCH_MAX 256    /* entries per group commit: one fdatasync (1c: ~450k rec/s) */
#define SECLOG__IDLE_MS 20       /* longest the writer sleeps: the power-loss window, in ms */
/* Batch filling (writer.c, "group commit"). In a burst (the last batch had more than one
 * entry), the writer stages entries as they arrive and closes the batch once it holds
 * SECLOG__BATCH_MAX, the queue has stopped growing for FILL_GROW_US, or SECLOG__IDLE_MS
 * passed; a lone entry goes at once. A batch holding an entry a durable producer waits for
 * closes once the producers active at the last sync all wait again, or after half an
 * fdatasync (FILL_GROW_US at most). Producers wake a filling writer only for a full batch
 * and for the durable push that completes the group: every wake-up in between cost more CPU
 * than the staging it let overlap (bench/README.md, "fourth round"). The fdatasync runs on
 * the syncer thread while the writer writes the next batch (the sync pipeline). */
#define SECLOG__FILL_GROW_US 1000
#define SECLOG__STAGE_BYTES (128u * 1024) /* a batch gathered for one pwrite: 256 x 512 bytes */
/* While a batch fills, its staged records are written once this many bytes are staged, so
 * that little is left to write when it closes (the pwrite overlaps the producers). */
#define SECLOG__STAGE_FLUSH_BYTES (16u * 1024)
#define SECLOG__BACKOFF_MIN_MS 100  /* first retry after a write error, doubling ... */
#define SECLOG__BACKOFF_MAX_MS 5000 /* ... up to this, so a dead disk costs no CPU */
#define SECLOG__ROTATE_AGE_MS (24LL * 3600 * 1000) /* tail age that rotates: day granularity */
#define SECLOG__FOLD_SLOTS 256 /* fold table: SECLOG__FOLD_WAYS-way set-associative */
#define SECLOG__FOLD_WAYS 4    /* slots per set; a set's oldest window gives way */
#define SECLOG__FOLD_WINDOW_DEFAULT_MS 60000
#define SECLOG__SEAL_EPOCH_DEFAULT_MS (15LL * 60 * 1000) /* journald's FSS default interval */
#define SECLOG__SEGMENTS_MIN 4                           /* a budget below this is refused */
#define SECLOG__SEGMENT_BYTES_MIN (16u * 1024)           /* header, footer and some records */

/* Records up to this many bytes are queued in blocks of this size that the log recycles
 * (log->blocks): a producer encodes on its stack and copies into a block under the lock; the
 * writer returns written blocks. Larger records are queued in heap buffers of their size. */
#define SECLOG__ITEM_INLINE 512
#define SECLOG__BLOCKS_FREE_MAX 1024 /* blocks kept for reuse per log: 512 KiB at most */

/* An encoded entry on its way to the disk. */
struct seclog__item {
    uint8_t *rec; /* queued: a block if len <= SECLOG__ITEM_INLINE, else heap; free() takes
                   * either. The writer fills seq, hash and CRC */
    uint32_t len;
    uint64_t seq;
    int64_t time_ms;
};

/* One slot of the fold table. */
struct seclog__fold_slot {
    bool used;    /* false: free */
    uint8_t *key; /* the entry's record bytes 8..16 and 80..len (fold.c); kept when freed */
    size_t key_len, key_cap;
    uint64_t hash;
    uint64_t opened;           /* log->fold_opened when the window opened: the oldest gives way */
    int64_t opened_mono_ms;    /* the window opened with the first occurrence */
    uint64_t repeats;          /* counted since, not yet in a summary */
    int64_t first_ms, last_ms; /* wall time of the first and the last repeat */
};

/* Where the staged (not yet written) part of a batch began: what a failed write returns to.
 * The tail's fields and the chain as they were before the first staged record. */
struct seclog__stage_mark {
    size_t batch_pos;
    uint64_t last_seq;
    uint8_t last_hash[SECLOG__HASH_BYTES];
    bool unsealed;
    uint64_t seg_records, seg_last_seq;
    int64_t seg_first_ms, seg_last_ms;
    uint8_t seg_last_hash[SECLOG__HASH_BYTES];
};

/* What the writer asks the syncer to make durable: everything written to seg up to upto,
 * with seg's published view as it stood then (the writer goes on changing seg). */
struct seclog__sync_want {
    bool pending; /* set by the writer, taken by the syncer */
    struct seclog__segment *seg;
    int fd;
    uint64_t upto;
    struct seclog__view_segment pub;
};

/* States of a durable waiter's futex word (queue.c). */
enum seclog__waiter_state {
    SECLOG__WAITER_WAITING = 0, /* listed; only a settler moves it on */
    SECLOG__WAITER_SETTLED = 1, /* result is valid; the settler unlisted it */
    SECLOG__WAITER_LEFT = 2,    /* timed out: it takes the lock to unlist itself */
};

/* A durable append waiting for its batch; lives on the waiting thread's stack. The producer
 * sleeps on its own word and never retakes the log's lock once settled: a settler writes
 * result, moves state from WAITING to SETTLED under the lock, unlists it and wakes the word
 * after unlocking (seclog__wake_flush). */
struct seclog__waiter {
    uint64_t seq;
    int result;             /* valid once SETTLED: 0 durable, -EIO possibly lost */
    _Atomic uint32_t state; /* enum seclog__waiter_state; the futex word */
    bool listed;            /* under lock: on log->waiters */
    int cpu;                /* under lock: where it queued, a hint for the wake order */
    struct seclog__waiter *next;
};

/* Futex words a settler wakes once it has released the lock; a full set is woken at once. */
#define SECLOG__WAKE_MAX 64
struct seclog__wake {
    _Atomic uint32_t *word[SECLOG__WAKE_MAX];
    int cpu[SECLOG__WAKE_MAX]; /* the waiter's cpu hint, for seclog__wake_flush */
    size_t n;
};

/* A segment as the engine lists it. */
struct seclog__seg_ref {
    struct seclog__segment *seg;     /* the tail's fields belong to the writer thread */
    struct seclog__view_segment pub; /* what readers may see; pub.path borrows seg->path */
};

/* A segment taken off the list whose file is still there (retention.c). It is unlinked once
 * the record naming its entries is durable, so a crash before that finds an expired segment,
 * never a gap without a record. */
struct seclog__trash {
    struct seclog__segment *seg;
    uint64_t record_seq; /* the LOG/RETENTION or LOG/EVICTED record; 0 if none was needed */
    bool failed;         /* the unlink failed: retried by the next retention run or eviction */
};

/* Entries up to upto were dropped at the head, and the record at record_seq says so. Kept
 * until that record is durable, so that a verify in between finds the head accounted for. */
struct seclog__drop_note {
    uint64_t record_seq, upto;
};

struct seclog__sealer {
    bool enabled;
    uint64_t epoch;
    int64_t epoch_ms;
    uint8_t key[SECLOG_KEY_BYTES]; /* the key of epoch; older ones are wiped */
};

struct event;

struct seclog {
    /* Set by seclog_open; read-only while the writer runs. */
    char *dir, *name, *key_path;
    uint64_t capacity_bytes, segments_max;
    uint32_t segment_bytes;
    int64_t fold_window_ms;
    size_t record_max; /* largest entry this log takes: it fits an empty segment with a seal */
    size_t seal_len;   /* bytes of a seal record */
    uint8_t boot_id[SECLOG__BOOT_ID_BYTES];
    struct event_base *base;
    seclog_status_fn on_status;
    void *arg;
    struct event *status_ev; /* activated by the writer, runs on the loop */

    pthread_mutex_t lock;
    pthread_cond_t work_cond;    /* the writer waits here for entries and commands */
    pthread_cond_t durable_cond; /* seclog_close waits here for timed-out waiters to leave */

    /* Under lock. */
    struct seclog__item *ring; /* SECLOG__QUEUE_CAP + SECLOG__QUEUE_SPARE slots */
    void *blocks;              /* free blocks for small records, linked through their start */
    size_t n_blocks;
    size_t ring_head, ring_count;
    uint64_t next_seq;
    struct seclog__fold_slot fold[SECLOG__FOLD_SLOTS];
    uint64_t fold_opened; /* windows opened so far */
    uint64_t folded, dropped, dropped_reported;
    struct seclog__waiter *waiters, *waiters_last; /* unsettled, ascending seq */
    size_t waiters_pending;                        /* waiters listed (not settled yet) */
    size_t waiters_leaving;  /* timed out, unlisted by a settler, not yet gone: close waits */
    uint64_t waiter_seq_max; /* the highest seq a durable producer waits (or waited) for */
    size_t gc_signal_at;     /* a durable push that makes waiters_pending this wakes the writer */
    size_t signal_at;        /* a push that makes ring_count this wakes the writer (1: empty) */
    bool kick;               /* a push asked to wake the writer (seclog__kick_take_locked) */
    struct seclog__seg_ref *segs; /* oldest first; the last is w_tail when that is set */
    size_t n_segs, segs_cap;
    struct seclog__trash *trash; /* dropped, oldest first; files still on disk */
    size_t n_trash, trash_cap;
    struct seclog__drop_note *notes;
    size_t n_notes, notes_cap;
    uint64_t durable_seq;
    int64_t retention_ms;
    bool cmd_retention, cmd_stop, cmd_crash;
    bool writable;
    int last_error;
    uint64_t overflow_events;
    /* The sync pipeline (writer.c): the writer posts what it wrote, the syncer fdatasyncs it
     * and publishes it as durable while the writer writes the next batch. */
    struct seclog__sync_want sync_want;
    uint64_t sync_done_seq; /* upto of the syncer's last fdatasync that returned 0 */
    int sync_err;           /* a failed fdatasync the writer has not handled: the syncer waits */
    bool sync_running;      /* the syncer is in an fdatasync (or the test hook) */
    bool sync_paused;       /* the writer syncs the tail itself (closing it) */
    bool sync_stop;
    bool sync_writer_waits; /* the writer waits for the syncer: signal work_cond */
    size_t sync_expect;     /* durable producers active at the last sync: the next group */
    int64_t sync_us;        /* moving average of the syncer's fdatasync, in microseconds */
    /* Tests only: the syncer calls this (without the lock) before each fdatasync, with the last
     * entry it covers. */
    void (*sync_hook)(struct seclog *log, uint64_t upto, void *arg);
    void *sync_hook_arg;

    /* Writer thread only (and seclog_open/seclog_close while no writer runs). */
    struct seclog__segment *w_tail; /* NULL: the next record creates a segment */
    uint64_t w_last_seq;            /* last entry written, or the anchor of the next */
    uint8_t w_last_hash[SECLOG__HASH_BYTES];
    uint64_t w_synced_seq; /* entries up to here are durable or reported lost */
    uint64_t w_next_index;
    bool w_unsealed; /* the tail has entries after its last seal */
    struct seclog__item w_batch[SECLOG__BATCH_MAX];
    size_t w_batch_n, w_batch_pos;
    int64_t w_backoff_ms;
    bool w_fill_burst; /* the last batch had more than one entry: the next may wait to fill */
    int w_fill_err;    /* staging while filling failed: batch_write returns it */
    uint8_t *w_stage;  /* SECLOG__STAGE_BYTES: the batch's records for one pwrite at data_end */
    size_t w_stage_len;
    struct seclog__stage_mark w_mark;
    struct seclog__hasher w_hasher;
    struct seclog_status w_notified;
    struct seclog__sealer w_seal;
    pthread_t writer;
    bool writer_running;
    pthread_cond_t sync_cond; /* the syncer waits here for a want (writer_start/_stop) */
    pthread_t syncer;
};

/* retention.c: the segment list. Each takes the lock; called by the writer (or open). */
int seclog__segs_add(struct seclog *log, struct seclog__segment *seg);
/* Publishes seg's fields as durable (after a sync or a close) and, if closed, marks it so. */
void seclog__segs_publish(struct seclog *log, const struct seclog__segment *seg, bool closed);
/* seg's fields as readers may see them once they are durable. */
void seclog__segs_view(const struct seclog__segment *seg, bool closed,
                       struct seclog__view_segment *ret);
/* Under lock: publishes pub (from seclog__segs_view) as seg's durable view. */
void seclog__segs_publish_view_locked(struct seclog *log, const struct seclog__segment *seg,
                                      const struct seclog__view_segment *pub);
/* Marks seg closed without publishing more of it (abandoned after a failed sync). */
void seclog__segs_abandon(struct seclog *log, const struct seclog__segment *seg);
/* Test only: stops the writer without writing what is queued and without footers, as a
 * kill would, and frees the log. Entries already durable stay on disk. Same thread rules as
 * seclog_close. */
void seclog__crash_for_tests(struct seclog *log);

/* queue.c */
/* The ring, allocated by seclog_open and freed by seclog_close while no writer runs. */
int seclog__queue_init(struct seclog *log);
void seclog__queue_done(struct seclog *log);
/* Encodes e (time_ms 0: now) into buf (SECLOG__ITEM_INLINE bytes, the caller's) if it fits,
 * else into a heap buffer of exact size. -EINVAL if e is invalid or larger than
 * log->record_max. Thread-safe. seclog__item_done releases it. */
int seclog__item_encode(const struct seclog *log, const struct seclog_entry *e,
                        struct seclog__item *ret, uint8_t *buf);
/* Frees it's heap buffer unless it was queued (the ring owns a queued heap buffer; a record in
 * buf was copied into a block). */
void seclog__item_done(struct seclog__item *it, const uint8_t *buf, bool queued);
/* The writer: returns written records' buffers (blocks for reuse). Takes the lock. */
void seclog__items_release(struct seclog *log, struct seclog__item *items, size_t n);
/* Under lock: free ring slots for producers (the spare is not counted). */
size_t seclog__queue_room_locked(const struct seclog *log);
/* Under lock: assigns the next seq and queues it (a small record is copied into a block);
 * internal pushes may use the spare. -ENOBUFS if full, -ENOMEM (nothing changes); on 0 the
 * ring owns a heap it->rec (seclog__item_done with queued). */
int seclog__queue_push_locked(struct seclog *log, struct seclog__item *it, bool internal);
/* Under lock: whether a push since the last call asked to wake the writer; clears it. The
 * pusher signals work_cond after unlocking, so the writer does not wake into a held lock. */
bool seclog__kick_take_locked(struct seclog *log);
/* Under lock: moves up to max queued items, oldest first, to out. */
size_t seclog__queue_take_locked(struct seclog *log, struct seclog__item *out, size_t max);
/* Under lock: settles and unlists the waiters with from <= seq <= upto; their words go to wk
 * (woken at once if wk is NULL or full). Returns how many it settled. */
size_t seclog__waiters_settle_locked(struct seclog *log, uint64_t from, uint64_t upto, int result,
                                     struct seclog__wake *wk);
/* Without the lock: wakes the words gathered in wk and empties it. A word whose producer has
 * already seen its state and left gets a harmless spurious wake-up at most. */
void seclog__wake_flush(struct seclog__wake *wk);
/* Queues one of the engine's own LOG/ records (uses the spare); ret_seq (may be NULL) gets
 * its seq. A record that cannot be queued is counted as dropped. Thread-safe (takes the
 * lock). */
int seclog__log_record(struct seclog *log, enum seclog_severity severity, enum seclog_type type,
                       const char *topic, const struct seclog_param *params, size_t n_params,
                       uint64_t *ret_seq);

/* fold.c */
#define SECLOG__FOLD_KEY_INLINE 512 /* slot key buffers start at this size */

/* The fold hash of an encoded entry (seclog__item_encode's rec): over what makes two entries
 * identical (severity, type, topic, parameters), read from the record itself, word by word.
 * Thread-safe. */
uint64_t seclog__fold_hash(const uint8_t *rec, size_t len);
/* The set of the fold table an entry's key falls into (tests). -EINVAL for a bad entry. */
int seclog__fold_set_of(const struct seclog_entry *e, size_t *ret_set);
/* Under lock: folds the entry it (with hash from seclog__fold_hash) or queues it, with the
 * summary of the slot it displaces first. Returns 1 folded, 0 queued (the ring owns it->rec),
 * -ENOBUFS queue full (counted). The slot copies the key. */
int seclog__fold_push_locked(struct seclog *log, uint64_t hash, struct seclog__item *it);
/* Writer: queues summaries of windows that have passed (all of them if all). Takes the lock. */
void seclog__fold_flush(struct seclog *log, bool all);
/* Frees the table; seclog_close, after the writer stopped. */
void seclog__fold_done(struct seclog *log);

/* seal.c (engine part) */
/* Loads DIR/seal.state, or makes new keys (k0, the verification key file, seal.state).
 * *ret_key_new: keys were made for a log that had data. Seals stay off on error. Called by
 * seclog_open before the writer starts. */
int seclog__seal_open(struct seclog *log, bool log_has_data, bool *ret_key_new);
/* Writer: a seal record for the entry (seq, hash) under the current epoch's key, moving the
 * epoch forward first (persisted before use). */
int seclog__seal_build(struct seclog *log, uint64_t seq, const uint8_t hash[SECLOG__HASH_BYTES],
                       uint8_t *buf, size_t size, size_t *ret_len);
/* Wipes the key; seclog_close, after the writer stopped. */
void seclog__seal_close(struct seclog *log);

/* writer.c */
/* Starts the writer thread (seclog_open's thread, last step of the open). */
int seclog__writer_start(struct seclog *log);
/* Asks the writer to drain (or, crash, to stop at once) and joins it. seclog_close's thread;
 * a disk that fails while draining gets one attempt, so this does not hang. */
void seclog__writer_stop(struct seclog *log, bool crash);
/* Writer: seals and closes the tail (footer, fdatasync); a failure settles its unsynced
 * entries as lost. Afterwards w_tail is NULL. -errno only if the seal could not be written. */
int seclog__tail_close(struct seclog *log);
/* Writer (or open): creates the next segment anchored on w_last_seq/w_last_hash, evicting the
 * oldest first if the budget is used up, and makes it w_tail. */
int seclog__tail_create(struct seclog *log);

/* retention.c (writer thread) */
/* Before a new segment: evicts oldest segments while the budget is used up (segments in the
 * trash count: their files are removed first). */
int seclog__evict_for_new(struct seclog *log);
/* Under lock: is there a trash file the writer may remove now (its record is durable)? */
bool seclog__trash_is_ready_locked(const struct seclog *log);
/* Removes the files of the trash whose records are durable (all: every one, for space now),
 * then, unless all, regrows the reserve. Returns 0 or the first error (the entry stays). */
int seclog__trash_empty(struct seclog *log, bool all);
/* Under lock: forgets drop notes whose records are durable. */
void seclog__drop_notes_prune_locked(struct seclog *log);
/* Frees the trash and the notes (files stay); seclog_close, after the writer stopped. */
void seclog__trash_done(struct seclog *log);
/* The retention command: deletes whole oldest segments older than retention_ms. */
void seclog__retention_apply(struct seclog *log, int64_t retention_ms);
/* Sets DIR/reserve to the budget not used by segment files (the trash's count), counting extra
 * segments about to be created. Failure is not fatal: the space is then simply not held. */
int seclog__reserve_update(struct seclog *log, size_t extra);

#endif
