/* bench_seclog: what the sections share. Options, the figure printer, the 256-byte entry the
 * security log and its peers write, working-directory helpers, and the peers (peers.c):
 * SQLite in WAL mode with synchronous=FULL, and plain files written in batches.
 *
 * Every figure is printed as one line "name: value unit"; every target as one line
 * "target_<name>: met|missed". bench/README.md says what each figure means. */
#ifndef KONN_BENCH_H
#define KONN_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "seclog/seclog.h"

struct sqlite3;

#define BENCH_MIB (1024ull * 1024)
#define BENCH_SEGMENT_BYTES (4u * 1024 * 1024) /* the engine's default, as in the issue */
/* One record is 256 bytes on disk (peer-baselines.md, area 3): seclog's 80-byte fixed part,
 * a 22-byte topic and two parameters (docs/security-log.md, 4.3); the peers store ts 8,
 * severity 1, topic 23, params 192 and hash 32. */
#define BENCH_RECORD_BYTES 256
#define BENCH_TOPIC "CARD/INSERTED/00001234"
#define BENCH_HANDLE_CHARS 20  /* decimal: producer and counter, so that no two entries fold */
#define BENCH_DETAIL_CHARS 110 /* fills the record to BENCH_RECORD_BYTES */
#define BENCH_DURABLE_TIMEOUT_MS 30000 /* a durable wait longer than this is a failed run */

struct bench_opts {
    int seconds;     /* per timed run */
    int rounds;      /* A/B alternations; figures are medians over them */
    const char *dir; /* working directory, exists */
};

/* One producer's entry: parameters point into the struct, so it must not move after init. */
struct bench_entry {
    char handle[BENCH_HANDLE_CHARS + 1];
    char detail[BENCH_DETAIL_CHARS + 1];
    struct seclog_param params[2];
    struct seclog_entry entry;
    uint64_t producer;
};

void bench_entry_init(struct bench_entry *b, unsigned producer);
/* The entry with counter n (unique per producer and n). */
const struct seclog_entry *bench_entry_next(struct bench_entry *b, uint64_t n);
/* Bytes the entry takes on disk, by the rule of docs/security-log.md 4.3. */
size_t bench_entry_disk_bytes(const struct seclog_entry *e);

/* ---- output ----------------------------------------------------------------------------- */

void bench_print(const char *name, double value, int decimals, const char *unit);
void bench_target(const char *name, bool met);
/* Prints a line starting with "# ": context, not a figure. */
void bench_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
double bench_median(const double *v, size_t n);
double bench_mean(const double *v, size_t n);

/* ---- working directory ------------------------------------------------------------------ */

/* dir/name as a heap string; exits on allocation failure (a benchmark has no plan B). */
char *bench_path(const char *dir, const char *name);
/* Removes path and everything below it; a missing path is fine. */
int bench_rm_rf(const char *path);

struct bench_segs {
    size_t count;                  /* seg-<16 hex>.log files */
    uint64_t min_index, max_index; /* 0 if none */
};

int bench_segs_scan(const char *dir, struct bench_segs *ret);
/* Bytes allocated on disk (st_blocks) by the regular files directly in dir. */
uint64_t bench_dir_usage(const char *dir);
/* Drops the page cache of every file directly in dir (posix_fadvise DONTNEED): a cold read. */
void bench_dir_drop_cache(const char *dir);
uint64_t bench_file_size(const char *path);
/* CPU seconds (user + system) the process used so far, all threads. */
double bench_cpu_s(void);

/* Opens a log in dir with seals on (verification key next to dir) and the given budget. */
int bench_log_open(const char *dir, uint64_t capacity_bytes, struct seclog **ret_log);

/* ---- peers (peers.c) -------------------------------------------------------------------- */

/* Fills one 256-byte peer record with seq n. */
void peer_record_fill(uint8_t rec[BENCH_RECORD_BYTES], uint64_t n, int64_t ts);

/* Opens (creating) a SQLite database in WAL mode, synchronous=FULL, busy_timeout 10 s, with
 * the log table of peer-baselines.md 3b. */
int peer_sqlite_open(const char *path, struct sqlite3 **ret_db);
/* Inserts rows with seqs first.. in transactions of txn_rows rows. */
int peer_sqlite_fill(struct sqlite3 *db, uint64_t first, uint64_t rows, uint64_t txn_rows);
/* Deletes the n oldest rows in one autocommit statement. */
int peer_sqlite_delete_oldest(struct sqlite3 *db, uint64_t n);
int peer_sqlite_checkpoint_truncate(struct sqlite3 *db);
/* Removes the database file and its -wal and -shm files. */
void peer_sqlite_remove(const char *path);
uint64_t peer_sqlite_db_bytes(struct sqlite3 *db);

/* Milliseconds to unlink a segment-sized file (preallocated, written and synced) and fsync
 * its directory: the filesystem's part of dropping a segment (peer-baselines.md 3d). */
int peer_unlink_segment(const char *dir, double *ret_ms);

/* Records per second: `threads` threads, each with its own connection, commit one row per
 * transaction for `seconds`. */
int peer_sqlite_durable(const char *path, int threads, int seconds, double *ret_rate);
/* Records per second: one connection, batch rows per transaction. */
int peer_sqlite_bulk(const char *path, int batch, int seconds, double *ret_rate);

/* How peer_file_bulk() writes each batch (bench/README.md: the diagnostics). */
enum peer_file_mode {
    PEER_FILE_APPEND_BATCH,    /* O_APPEND, the batch gathered into one write(): the ceiling */
    PEER_FILE_APPEND_RECORD,   /* O_APPEND, one write() per record */
    PEER_FILE_PREALLOC_RECORD, /* fallocate()d 4 MiB at a time, one pwrite() per record */
    PEER_FILE_PREALLOC_BATCH,  /* fallocate()d 4 MiB at a time, one pwrite() per batch */
    PEER_FILE_MODE_MAX
};

/* Records per second: a plain file written as mode says, one fdatasync() per batch. */
int peer_file_bulk(const char *path, enum peer_file_mode mode, int batch, int seconds,
                   double *ret_rate);

/* ---- sections --------------------------------------------------------------------------- */

int bench_durable(const struct bench_opts *o);
int bench_bulk(const struct bench_opts *o);
int bench_eviction(const struct bench_opts *o);
int bench_boot(const struct bench_opts *o);

#endif
