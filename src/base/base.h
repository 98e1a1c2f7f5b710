/* base: clock (real or virtual) and its timers, system log, files, random bytes, text helpers,
 * and the worker pool. Everything above base reads time only through clock_now_ms() and
 * clock_mono_ms(), and writes operator messages only through log_msg().
 *
 * Thread rules: clock_now_ms(), clock_mono_ms(), log_msg() and the text helpers are
 * thread-safe. Timers, clock_advance() and the worker pool's completions belong to the loop
 * thread. */
#ifndef KONN_BASE_H
#define KONN_BASE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- clock ------------------------------------------------------------------------------ */

enum clock_mode {
    CLOCK_MODE_REAL,
    CLOCK_MODE_VIRTUAL, /* real time plus an offset that only ever grows (clock_advance) */
    CLOCK_MODE_MAX
};

const char *clock_mode_to_string(enum clock_mode mode);
int clock_mode_from_string(const char *s, enum clock_mode *ret_mode);

/* Selects the process-wide clock source. Call once, before any thread starts. */
void clock_init(enum clock_mode mode);
enum clock_mode clock_mode_get(void);

/* Wall time in ms since the Unix epoch (virtual offset included). Thread-safe. */
int64_t clock_now_ms(void);
/* Monotonic ms for intervals and deadlines (virtual offset included). Thread-safe. */
int64_t clock_mono_ms(void);
/* Real monotonic ms, never advanced: only for watchdogs that measure the process itself. */
int64_t clock_real_mono_ms(void);
/* The same clock in microseconds, for sub-millisecond waits (seclog's group commit). */
int64_t clock_real_mono_us(void);
/* Total ms the virtual clock has been advanced. */
int64_t clock_offset_ms(void);

/* Formats a wall time as RFC 3339 UTC with milliseconds ("2026-11-29T08:51:17.123Z").
 * buf must hold at least 32 bytes. Returns buf. */
char *clock_format_iso(int64_t wall_ms, char *buf, size_t size);

/* Timers run on the loop given to clock_attach(); their deadlines are on clock_mono_ms(), so
 * advancing the virtual clock fires every timer that falls due, in deadline order, with the
 * clock stepped to each deadline as it fires. */
struct clock_timer;
typedef void (*clock_timer_fn)(void *arg);

int clock_attach(struct event_base *base);
void clock_detach(void);
struct clock_timer *clock_timer_new(clock_timer_fn fn, void *arg);
/* (Re)arms a one-shot timer delay_ms from now; a periodic timer re-arms from its callback. */
void clock_timer_start(struct clock_timer *t, int64_t delay_ms);
void clock_timer_stop(struct clock_timer *t);
bool clock_timer_is_pending(const struct clock_timer *t);
struct clock_timer *clock_timer_free(struct clock_timer *t);

/* Virtual clock only (-EPERM on the real one; -EINVAL for ms < 0). Loop thread. */
int clock_advance(int64_t ms);

/* Parses RFC 3339 UTC as clock_format_iso() writes it ("2026-11-29T08:51:17Z", fraction of
 * a second optional) or a plain number of ms since the epoch. -EINVAL if neither. */
int clock_parse_iso(const char *s, int64_t *ret_wall_ms);

/* Parses "90", "90s", "15m", "2h", "10d" (seconds when no unit) into ms. -EINVAL if bad. */
int duration_parse_ms(const char *s, int64_t *ret_ms);

/* ---- system log ------------------------------------------------------------------------- */

enum log_level {
    LOG_LEVEL_DEBUG,
    LOG_LEVEL_INFO,
    LOG_LEVEL_WARNING,
    LOG_LEVEL_ERROR,
    LOG_LEVEL_FATAL,
    LOG_LEVEL_MAX
};

const char *log_level_to_string(enum log_level level);
int log_level_from_string(const char *s, enum log_level *ret_level);
void log_level_set(enum log_level min_level);
enum log_level log_level_get(void);

/* Writes one line to stderr: time, level, message. Thread-safe. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A sink also receives every line at or above the level (the message without time and level):
 * the daemon feeds the system log with it. The sink runs on the logging thread and must not
 * block; a line logged from inside the sink is not passed to it again. NULL removes it; after
 * log_sink_set(NULL, NULL) returns, the old sink is no longer running. Thread-safe. */
typedef void (*log_sink_fn)(enum log_level level, const char *message, void *arg);
void log_sink_set(log_sink_fn fn, void *arg);

/* Logs the message with ": <strerror(-r)>" appended and returns r (a negative errno). */
int log_errno(enum log_level level, int r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- files ------------------------------------------------------------------------------ */

/* Creates a directory and its parents with the given mode; existing ones are fine. */
int fs_mkdir_p(const char *path, unsigned mode);
/* Writes a file atomically: temp file, fsync, rename, fsync of the directory. */
int fs_write_atomic(const char *path, const void *data, size_t len, unsigned mode);
/* Reads a whole file of at most max_len bytes into a NUL-terminated heap buffer. */
int fs_read_all(const char *path, size_t max_len, char **ret_data, size_t *ret_len);
bool fs_exists(const char *path);
/* Copies the regular files and directories below from into to (created), keeping each file's
 * permission bits; files are written atomically. Symbolic links and anything else are
 * refused (-EINVAL). At most 16 levels deep and 64 MiB per file. */
int fs_copy_tree(const char *from, const char *to);
/* Joins dir and name into a heap string. NULL on allocation failure. */
char *fs_path_join(const char *dir, const char *name);

/* ---- I/O seam --------------------------------------------------------------------------
 * Durable file I/O of seclog, store and update goes through these, so a test can make call N
 * of an operation fail, or every write under a path fail (the seclog-io-error fault). Each
 * returns 0 (io_open: the fd; io_pwrite_all: 0 after writing everything) or a negative errno,
 * retrying EINTR. Thread-safe. */

enum io_op {
    IO_OP_OPEN,
    IO_OP_PWRITE,
    IO_OP_FDATASYNC,
    IO_OP_FSYNC,
    IO_OP_FALLOCATE,
    IO_OP_FTRUNCATE,
    IO_OP_RENAME,
    IO_OP_UNLINK,
    IO_OP_MAX
};

int io_open(const char *path, int flags, unsigned mode);
int io_close(int fd);
int io_pwrite_all(int fd, const void *data, size_t len, int64_t offset);
int io_fdatasync(int fd);
int io_fsync(int fd);
int io_fallocate(int fd, int64_t offset, int64_t len);
int io_ftruncate(int fd, int64_t len);
int io_rename(const char *from, const char *to);
int io_unlink(const char *path);
/* Opens the directory, fsyncs it, closes it. */
int io_fsync_dir(const char *dir);

/* Tests: the nth call of op from now (1 = the next) fails with -err. nth 0 disarms. */
void io_fault_at(enum io_op op, uint64_t nth, int err);
/* Every write-class operation (all but open for reading) on a path under prefix, or on an fd
 * opened under it, fails with -err. NULL prefix clears. */
void io_fault_prefix(const char *prefix, int err);
/* How many calls of op were made (to count calls before failing each in turn). */
uint64_t io_calls(enum io_op op);
void io_fault_clear(void);

/* ---- random bytes and text -------------------------------------------------------------- */

/* Cryptographically strong random bytes (OpenSSL). -EIO if the generator fails. */
int rand_bytes(void *buf, size_t len);
/* A random password of len characters from an unambiguous alphabet; buf holds len + 1. */
int rand_password(char *buf, size_t len);

/* Lower-case hex of len bytes; out holds 2 * len + 1. */
void hex_encode(const void *data, size_t len, char *out);
/* Decodes base64 text (line breaks allowed) of at most max characters into a heap buffer the
 * caller frees. -E2BIG over max, -EINVAL not base64, -ENOMEM. */
int base64_decode_max(const char *in, size_t max, uint8_t **ret, size_t *ret_len);
/* Compares two byte strings in constant time. */
bool mem_equal_ct(const void *a, const void *b, size_t len);
/* Copies src into dst of size bytes, always terminating; -ENAMETOOLONG if cut. */
int str_copy(char *dst, size_t size, const char *src);
/* Parses a whole decimal int64; -EINVAL on junk, -ERANGE outside the type. */
int str_to_int64(const char *s, int64_t *ret_value);
/* Splits a listen address "ADDR:PORT" or "[V6]:PORT" (port 0..65535; the brackets are
 * dropped) into addr (size bytes) and *ret_port. -EINVAL if malformed or addr is too long. */
int str_split_addr_port(const char *addr_port, char *addr, size_t size, uint16_t *ret_port);

/* ---- password records (password.c) ------------------------------------------------------ */

/* "pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>": PBKDF2-HMAC-SHA256, 16-byte random salt,
 * 32-byte hash, the iterations stored per record. Slow by design (one derivation each):
 * call them off the loop where iterations are high. 160 bytes hold any record. */
#define PW_RECORD_MAX 160
/* -EINVAL (iterations 0 or above 100,000,000), -EIO, -ENAMETOOLONG if size is too small. */
int pw_record_make(const char *password, unsigned iterations, char *ret_record, size_t size);
/* 1 match, 0 mismatch, -EBADMSG for a malformed record, -EIO. Compares in constant time. */
int pw_record_verify(const char *password, const char *record);
/* A well-formed record no password matches, costing the same derivation as a real one: what
 * a check against an unknown user name verifies, so that timing does not reveal names. */
int pw_record_dummy(unsigned iterations, char *ret_record, size_t size);

/* ---- worker pool ------------------------------------------------------------------------ */

/* A small pool for CPU-heavy work (password hashing, later document crypto). work() runs on
 * a worker thread and must touch nothing but its argument; done() then runs on the loop. */
struct worker_pool;
typedef void (*worker_fn)(void *arg);

struct worker_pool *worker_pool_new(struct event_base *base, unsigned threads);
/* Stops the threads after the queued work ran; pending done() callbacks still run. */
struct worker_pool *worker_pool_free(struct worker_pool *pool);
/* On 0, done(arg) runs exactly once on the loop; on error, neither callback runs. */
int worker_pool_submit(struct worker_pool *pool, worker_fn work, worker_fn done, void *arg);

#endif
