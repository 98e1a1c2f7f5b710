/* seclog: the security log engine (DESIGN.md section 5), also used for the system log.
 *
 * A directory of fixed-size, preallocated, append-only segment files inside a capacity budget
 * reserved at open. Records carry length, CRC, sequence number, wall time, boot id, severity,
 * type, topic, parameters and a SHA-256 hash chained to the previous record; each segment header
 * commits to the previous segment's last hash; seal records close each batch with an HMAC whose
 * key evolves forward per epoch. Retention deletes whole oldest segments. docs/security-log.md
 * is the format's contract.
 *
 * Threads: seclog_append() and seclog_append_durable() are thread-safe and never touch the
 * disk; per log a writer thread does all file I/O except fdatasync, which a syncer thread
 * runs while the writer writes the next batch (writer.c). Readers (query, verify, stats) are
 * thread-safe and read only what is durable. The status callback runs on the loop given in
 * the config. */
#ifndef KONN_SECLOG_H
#define KONN_SECLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;

/* Same order and spelling as EventService.xsd (and events.h). */
enum seclog_severity {
    SECLOG_SEVERITY_INFO,
    SECLOG_SEVERITY_WARNING,
    SECLOG_SEVERITY_ERROR,
    SECLOG_SEVERITY_FATAL,
    SECLOG_SEVERITY_MAX
};

enum seclog_type {
    SECLOG_TYPE_OPERATION,
    SECLOG_TYPE_SECURITY,
    SECLOG_TYPE_INFRASTRUCTURE,
    SECLOG_TYPE_BUSINESS,
    SECLOG_TYPE_OTHER,
    SECLOG_TYPE_MAX
};

const char *seclog_severity_to_string(enum seclog_severity s); /* "Info", ... */
int seclog_severity_from_string(const char *s, enum seclog_severity *ret);
const char *seclog_type_to_string(enum seclog_type t); /* "Operation", ... */

/* Limits: topic 1..1024 bytes, at most 16 parameters, key 1..64 and value 0..5000 bytes
 * (EventService.xsd), so one record is at most about 82 KiB. */
#define SECLOG_TOPIC_MAX 1024
#define SECLOG_PARAMS_MAX 16
#define SECLOG_KEY_MAX 64
#define SECLOG_VALUE_MAX 5000

#define SECLOG_SEGMENT_BYTES_DEFAULT (4u * 1024 * 1024)
#define SECLOG_KEY_BYTES 32

struct seclog_param {
    const char *key;
    const char *value;
};

/* What a producer hands in. time_ms 0 means clock_now_ms() at append. */
struct seclog_entry {
    int64_t time_ms;
    enum seclog_severity severity;
    enum seclog_type type;
    const char *topic;
    const struct seclog_param *params;
    size_t n_params;
};

/* A record as read back; pointers valid only during the callback. */
struct seclog_record {
    uint64_t seq;
    int64_t time_ms;
    uint8_t boot_id[16];
    enum seclog_severity severity;
    enum seclog_type type;
    const char *topic;
    size_t n_params;
    struct seclog_param params[SECLOG_PARAMS_MAX];
};

/* What the writer reports to the loop whenever it changes. */
struct seclog_status {
    bool writable;            /* false: I/O error or no space; the writer retries */
    int last_error;           /* negative errno of the last failure, 0 if none */
    uint64_t overflow_events; /* times entries younger than the retention were evicted */
    uint64_t dropped;         /* entries dropped because the queue was full, total */
    uint64_t last_durable_seq;
};

struct seclog;
typedef void (*seclog_status_fn)(struct seclog *log, const struct seclog_status *status, void *arg);

struct seclog_config {
    const char *dir;         /* created if missing */
    const char *name;        /* "security" or "system", for messages */
    uint64_t capacity_bytes; /* the budget; at least 4 segments */
    uint32_t segment_bytes;  /* SECLOG_SEGMENT_BYTES_DEFAULT if 0; multiple of 4096 */
    int64_t retention_ms;    /* entries younger than this must not be evicted */
    /* Where a new log writes its verification key (k0, hex, mode 0600) for the admin to take
     * off the device. NULL: no seals are written. */
    const char *verification_key_path;
    int64_t seal_epoch_ms;   /* how long one seal key lives (default 15 min if 0) */
    int64_t fold_window_ms;  /* identical entries within this fold (default 60 s if 0) */
    struct event_base *base; /* loop for status callbacks; NULL: no callbacks */
    seclog_status_fn on_status;
    void *arg;
};

/* Opens or creates the log: checks only the tail segment (a torn tail is cut back to the last
 * whole record; a damaged segment is set aside and a record says so), reserves the budget,
 * and starts the writer and syncer threads. Always completes unless the directory itself is
 * unusable. */
int seclog_open(const struct seclog_config *cfg, struct seclog **ret_log);
/* Writes what is queued, seals it, stops the writer. */
struct seclog *seclog_close(struct seclog *log);

/* Queues an entry. O(1); never waits on the disk. Identical entries within the fold window
 * are counted into one summary record. Returns 0 queued, 1 folded, -ENOBUFS dropped (counted
 * and later logged), -EINVAL bad entry. Thread-safe. */
int seclog_append(struct seclog *log, const struct seclog_entry *e);
/* Queues an entry (never folded) and waits until it is on disk (an fdatasync that started
 * after it was written returned 0), at most timeout_ms. ret_seq (may be NULL) gets its
 * sequence number. -ETIMEDOUT, -EIO (a failed fdatasync: the entry may be lost), -ENOBUFS.
 * Thread-safe; do not call on the loop with a long timeout. */
int seclog_append_durable(struct seclog *log, const struct seclog_entry *e, int64_t timeout_ms,
                          uint64_t *ret_seq);

/* Applies retention now (SECURITY_LOG_DAYS changed, or a timer): the writer deletes whole oldest
 * segments whose newest entry is older than retention_ms. Thread-safe, asynchronous. */
void seclog_set_retention(struct seclog *log, int64_t retention_ms);
void seclog_retention_run(struct seclog *log);

void seclog_status_get(struct seclog *log, struct seclog_status *ret);

/* ---- reading ---------------------------------------------------------------------------- */

struct seclog_filter {
    int64_t from_ms, to_ms;   /* inclusive wall-time range; 0 = open */
    int min_severity;         /* -1: any */
    const char *topic_prefix; /* NULL or "": any */
    uint64_t after_seq;       /* oldest first: start after this seq (0: from the start) */
    uint64_t before_seq;      /* newest_first: start before this seq (0: from the end) */
    bool newest_first;
    size_t limit; /* 0: no limit */
};

/* Calls fn for each matching durable record; fn returns non-zero to stop. Returns the number
 * of records passed to fn, or a negative errno. Damaged records are skipped. Thread-safe. */
int seclog_query(struct seclog *log, const struct seclog_filter *f,
                 int (*fn)(const struct seclog_record *r, void *arg), void *arg);

struct seclog_verify_result {
    bool ok;
    uint64_t records, segments, seals_checked;
    bool seals_unchecked;         /* no verification key given */
    uint64_t first_seq, last_seq; /* range present */
    uint64_t first_bad_seq;       /* 0 if ok */
    char reason[256];             /* what was wrong, or "" */
};

/* Checks every record's CRC, the hash chain within and across segments, sequence continuity,
 * the head against the retention records, the tail against the writer's last durable seq, and,
 * with verification_key (the text of the verification key file; may be NULL), every seal.
 * -EINVAL if the key text is malformed. Thread-safe; reads only. */
int seclog_verify(struct seclog *log, const char *verification_key,
                  struct seclog_verify_result *ret);

struct seclog_stats {
    uint64_t capacity_bytes, used_bytes;
    uint64_t segments, segments_max;
    uint64_t first_seq, last_seq, records;
    int64_t oldest_ms, newest_ms;
    uint64_t dropped, folded, overflow_events;
    double bytes_per_day;           /* over the last 24 h of entries (connector time) */
    double retention_days_possible; /* capacity / bytes_per_day; 0 if no rate yet */
};

/* Fills ret and calls topic_fn (may be NULL) once per topic with its entry count. Scans the
 * log: run it off the loop for a large one. Thread-safe. */
int seclog_stats_get(struct seclog *log, struct seclog_stats *ret,
                     void (*topic_fn)(const char *topic, uint64_t count, void *arg), void *arg);

#endif
