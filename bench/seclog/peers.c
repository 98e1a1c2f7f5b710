/* peers: what the security log is measured against, built as peer-baselines.md area 3 built
 * them. SQLite 3 in WAL mode with synchronous=FULL (table log(seq INTEGER PRIMARY KEY, ts,
 * severity, topic, params, hash), one prepared INSERT with bound parameters, explicit
 * BEGIN/COMMIT, defaults otherwise), and a plain append-only file that gathers a batch of
 * records into one write() and one fdatasync(). Neither hashes nor seals anything. Three more
 * file variants take the log's I/O pattern apart (bench/README.md): one write() per record,
 * and a file preallocated in segment-sized steps written with one pwrite() per record (what
 * the log's writer issues) or per batch.
 *
 * Invariants:
 *  1. A peer record is BENCH_RECORD_BYTES of payload: ts 8, severity 1, topic 23, params 192,
 *     hash 32 (pseudo-random, with the seq stamped in so no two are equal).
 *  2. A run counts a record only after the commit or fdatasync that covers it returned. */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "base/base.h"

#define PEER_TOPIC "CARD/INSERTED/000012345" /* 23 bytes */
#define PEER_TOPIC_BYTES 23
#define PEER_PARAMS_BYTES 192
#define PEER_HASH_BYTES 32
#define BUSY_TIMEOUT_MS 10000 /* long enough that no durable insert gives up */
#define INSERT_SQL                                                                                 \
    "INSERT INTO log(seq, ts, severity, topic, params, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"

/* Filler for params and hash, drawn once; every record stamps its seq over the first bytes. */
static uint8_t filler[PEER_PARAMS_BYTES + PEER_HASH_BYTES];
static pthread_once_t filler_once = PTHREAD_ONCE_INIT;

static void filler_init(void)
{
    (void)rand_bytes(filler, sizeof(filler));
}

void peer_record_fill(uint8_t rec[BENCH_RECORD_BYTES], uint64_t n, int64_t ts)
{
    size_t off = 0;

    (void)pthread_once(&filler_once, filler_init);
    memcpy(rec + off, &ts, sizeof(ts));
    off += sizeof(ts);
    rec[off++] = 1; /* severity */
    memcpy(rec + off, PEER_TOPIC, PEER_TOPIC_BYTES);
    off += PEER_TOPIC_BYTES;
    memcpy(rec + off, filler, sizeof(filler));
    memcpy(rec + off, &n, sizeof(n));
    memcpy(rec + off + PEER_PARAMS_BYTES, &n, sizeof(n));
}

/* ---- SQLite ----------------------------------------------------------------------------- */

static int sql_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);

    if (rc != SQLITE_OK) {
        fprintf(stderr, "bench_seclog: sqlite '%s': %s\n", sql, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return -EIO;
    }
    return 0;
}

int peer_sqlite_open(const char *path, struct sqlite3 **ret_db)
{
    sqlite3 *db = NULL;
    int r;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        r = -EIO;
        goto out;
    }
    (void)sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    r = sql_exec(db, "PRAGMA journal_mode=WAL");
    if (r == 0)
        r = sql_exec(db, "PRAGMA synchronous=FULL");
    if (r == 0)
        r = sql_exec(db, "CREATE TABLE IF NOT EXISTS log(seq INTEGER PRIMARY KEY, ts INTEGER, "
                         "severity INTEGER, topic TEXT, params BLOB, hash BLOB)");
    if (r < 0)
        goto out;
    *ret_db = db;
    db = NULL;
out:
    sqlite3_close(db);
    return r;
}

static int insert_one(sqlite3_stmt *st, uint64_t n)
{
    uint8_t rec[BENCH_RECORD_BYTES];
    int64_t ts = clock_now_ms();
    int rc;

    peer_record_fill(rec, n, ts);
    (void)sqlite3_bind_int64(st, 1, (sqlite3_int64)n);
    (void)sqlite3_bind_int64(st, 2, ts);
    (void)sqlite3_bind_int(st, 3, rec[8]);
    (void)sqlite3_bind_text(st, 4, (const char *)rec + 9, PEER_TOPIC_BYTES, SQLITE_TRANSIENT);
    (void)sqlite3_bind_blob(st, 5, rec + 9 + PEER_TOPIC_BYTES, PEER_PARAMS_BYTES, SQLITE_TRANSIENT);
    (void)sqlite3_bind_blob(st, 6, rec + 9 + PEER_TOPIC_BYTES + PEER_PARAMS_BYTES, PEER_HASH_BYTES,
                            SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    (void)sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -EIO;
}

/* Inserts rows first..first+rows-1 in one transaction each of txn rows. */
static int insert_batches(sqlite3 *db, sqlite3_stmt *st, uint64_t first, uint64_t rows,
                          uint64_t txn)
{
    int r = 0;

    for (uint64_t done = 0; r == 0 && done < rows;) {
        uint64_t n = rows - done < txn ? rows - done : txn;

        r = sql_exec(db, "BEGIN");
        for (uint64_t i = 0; r == 0 && i < n; i++)
            r = insert_one(st, first + done + i);
        if (r == 0)
            r = sql_exec(db, "COMMIT");
        else
            (void)sql_exec(db, "ROLLBACK");
        done += n;
    }
    return r;
}

int peer_sqlite_fill(struct sqlite3 *db, uint64_t first, uint64_t rows, uint64_t txn_rows)
{
    sqlite3_stmt *st = NULL;
    int r;

    if (sqlite3_prepare_v2(db, INSERT_SQL, -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    r = insert_batches(db, st, first, rows, txn_rows);
    sqlite3_finalize(st);
    return r;
}

int peer_sqlite_delete_oldest(struct sqlite3 *db, uint64_t n)
{
    char sql[160];

    /* As in peer-baselines.md 3d: one autocommit statement. */
    (void)snprintf(sql, sizeof(sql),
                   "DELETE FROM log WHERE seq <= (SELECT MIN(seq) FROM log) + %llu - 1",
                   (unsigned long long)n);
    return sql_exec(db, sql);
}

int peer_sqlite_checkpoint_truncate(struct sqlite3 *db)
{
    return sql_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
}

void peer_sqlite_remove(const char *path)
{
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    char p[4096];

    for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++)
        if (snprintf(p, sizeof(p), "%s%s", path, suffixes[i]) < (int)sizeof(p))
            (void)unlink(p);
}

static int64_t pragma_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = 0;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

uint64_t peer_sqlite_db_bytes(struct sqlite3 *db)
{
    return (uint64_t)(pragma_int(db, "PRAGMA page_count") * pragma_int(db, "PRAGMA page_size"));
}

/* ---- SQLite, 16 threads committing one row each -------------------------------------------- */

struct sql_worker {
    pthread_t thread;
    const char *path;
    unsigned id;
    atomic_bool *stop;
    pthread_barrier_t *start;
    uint64_t done;
    int result;
};

static void *sql_worker_main(void *arg)
{
    struct sql_worker *w = arg;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    uint64_t n = (uint64_t)w->id << 40; /* seqs of different threads never collide */

    w->result = peer_sqlite_open(w->path, &db);
    if (w->result == 0 && sqlite3_prepare_v2(db, INSERT_SQL, -1, &st, NULL) != SQLITE_OK)
        w->result = -EIO;
    (void)pthread_barrier_wait(w->start);
    while (w->result == 0 && !atomic_load(w->stop)) {
        w->result = insert_one(st, ++n); /* autocommit: one row per transaction */
        if (w->result == 0)
            w->done++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return NULL;
}

int peer_sqlite_durable(const char *path, int threads, int seconds, double *ret_rate)
{
    struct sql_worker *w = calloc((size_t)threads, sizeof(*w));
    pthread_barrier_t start;
    atomic_bool stop = false;
    sqlite3 *db = NULL;
    int64_t t0, t1;
    uint64_t total = 0;
    int r, started = 0;

    if (!w)
        return -ENOMEM;
    /* The table and WAL mode exist before the threads race to open. */
    r = peer_sqlite_open(path, &db);
    sqlite3_close(db);
    if (r < 0)
        goto out;
    if (pthread_barrier_init(&start, NULL, (unsigned)threads + 1) != 0) {
        r = -ENOMEM;
        goto out;
    }
    for (; started < threads; started++) {
        w[started] = (struct sql_worker){
            .path = path, .id = (unsigned)started + 1, .stop = &stop, .start = &start};
        if (pthread_create(&w[started].thread, NULL, sql_worker_main, &w[started]) != 0) {
            fprintf(stderr, "bench_seclog: cannot start threads\n");
            exit(1); /* the barrier waits for all of them */
        }
    }
    (void)pthread_barrier_wait(&start);
    t0 = clock_real_mono_ms();
    (void)sleep((unsigned)seconds);
    atomic_store(&stop, true);
    for (int i = 0; i < started; i++) {
        (void)pthread_join(w[i].thread, NULL);
        total += w[i].done;
        if (w[i].result < 0)
            r = w[i].result;
    }
    t1 = clock_real_mono_ms();
    (void)pthread_barrier_destroy(&start);
    if (r == 0)
        *ret_rate = (double)total * 1000.0 / (double)(t1 - t0);
out:
    free(w);
    return r;
}

/* ---- SQLite and the plain file, batches from one thread ---------------------------------- */

int peer_sqlite_bulk(const char *path, int batch, int seconds, double *ret_rate)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    uint64_t n = 0;
    int64_t t0, end;
    int r;

    r = peer_sqlite_open(path, &db);
    if (r < 0)
        goto out;
    if (sqlite3_prepare_v2(db, INSERT_SQL, -1, &st, NULL) != SQLITE_OK) {
        r = -EIO;
        goto out;
    }
    t0 = clock_real_mono_ms();
    end = t0 + (int64_t)seconds * 1000;
    while (r == 0 && clock_real_mono_ms() < end) {
        r = insert_batches(db, st, n + 1, (uint64_t)batch, (uint64_t)batch);
        n += (uint64_t)batch;
    }
    if (r == 0)
        *ret_rate = (double)n * 1000.0 / (double)(clock_real_mono_ms() - t0);
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return r;
}

static int pwrite_all(int fd, const uint8_t *buf, size_t len, int64_t off)
{
    while (len > 0) {
        ssize_t w = off < 0 ? write(fd, buf, len) : pwrite(fd, buf, len, (off_t)off);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        buf += w;
        len -= (size_t)w;
        if (off >= 0)
            off += w;
    }
    return 0;
}

static bool mode_is_prealloc(enum peer_file_mode mode)
{
    return mode == PEER_FILE_PREALLOC_RECORD || mode == PEER_FILE_PREALLOC_BATCH;
}

/* Writes one batch at *off (-1: append), preallocating another segment's worth first when the
 * preallocated part is used up. */
static int batch_write(int fd, enum peer_file_mode mode, const uint8_t *buf, size_t len,
                       int64_t *off, int64_t *alloc_end)
{
    bool per_record = mode == PEER_FILE_APPEND_RECORD || mode == PEER_FILE_PREALLOC_RECORD;
    int r = 0;

    if (mode_is_prealloc(mode) && *off + (int64_t)len > *alloc_end) {
        if (fallocate(fd, 0, *alloc_end, BENCH_SEGMENT_BYTES) < 0)
            return -errno;
        *alloc_end += BENCH_SEGMENT_BYTES;
    }
    for (size_t done = 0; r == 0 && done < len;) {
        size_t n = per_record ? BENCH_RECORD_BYTES : len;

        r = pwrite_all(fd, buf + done, n, *off < 0 ? -1 : *off + (int64_t)done);
        done += n;
    }
    if (r == 0 && *off >= 0)
        *off += (int64_t)len;
    return r;
}

int peer_file_bulk(const char *path, enum peer_file_mode mode, int batch, int seconds,
                   double *ret_rate)
{
    size_t len = (size_t)batch * BENCH_RECORD_BYTES;
    uint8_t *buf = malloc(len);
    bool prealloc = mode_is_prealloc(mode);
    int64_t t0, end, off = prealloc ? 0 : -1, alloc_end = 0;
    uint64_t n = 0;
    int fd = -1, r = 0;

    if (!buf)
        return -ENOMEM;
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (prealloc ? 0 : O_APPEND), 0600);
    if (fd < 0) {
        r = -errno;
        goto out;
    }
    t0 = clock_real_mono_ms();
    end = t0 + (int64_t)seconds * 1000;
    while (r == 0 && clock_real_mono_ms() < end) {
        int64_t ts = clock_now_ms();

        for (int i = 0; i < batch; i++)
            peer_record_fill(buf + (size_t)i * BENCH_RECORD_BYTES, n + (uint64_t)i + 1, ts);
        r = batch_write(fd, mode, buf, len, &off, &alloc_end);
        if (r == 0 && fdatasync(fd) < 0)
            r = -errno;
        n += (uint64_t)batch;
    }
    if (r == 0)
        *ret_rate = (double)n * 1000.0 / (double)(clock_real_mono_ms() - t0);
out:
    if (fd >= 0)
        (void)close(fd);
    free(buf);
    return r;
}

/* ---- the filesystem's floor for dropping a segment ---------------------------------------- */

#define PROBE_CHUNK (64 * 1024)

int peer_unlink_segment(const char *dir, double *ret_ms)
{
    uint8_t *buf = calloc(1, PROBE_CHUNK);
    char *path = bench_path(dir, "unlink-probe");
    int fd = -1, dfd = -1, r = 0;
    int64_t t0, t1;

    if (!buf) {
        r = -ENOMEM;
        goto out;
    }
    /* As the engine makes a segment: preallocate, then fill it, then sync. */
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || dfd < 0 || fallocate(fd, 0, 0, BENCH_SEGMENT_BYTES) < 0) {
        r = -errno;
        goto out;
    }
    for (uint32_t off = 0; r == 0 && off < BENCH_SEGMENT_BYTES; off += PROBE_CHUNK)
        if (pwrite(fd, buf, PROBE_CHUNK, off) != PROBE_CHUNK)
            r = -EIO;
    if (r == 0 && (fdatasync(fd) < 0 || fsync(dfd) < 0))
        r = -errno;
    if (r < 0)
        goto out;
    (void)close(fd);
    fd = -1;
    t0 = clock_real_mono_ms();
    if (unlink(path) < 0 || fsync(dfd) < 0) {
        r = -errno;
        goto out;
    }
    t1 = clock_real_mono_ms();
    *ret_ms = (double)(t1 - t0);
out:
    if (fd >= 0)
        (void)close(fd);
    if (dfd >= 0)
        (void)close(dfd);
    (void)unlink(path);
    free(path);
    free(buf);
    return r;
}
