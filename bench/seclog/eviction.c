/* eviction: the cost of dropping the oldest data as the store grows (issue #3, third figure).
 * The log holds 64, 128 and then 256 MiB of 4 MiB segments. Retention drops its oldest
 * segment: the bench sets a retention that the oldest segment alone has passed and waits for
 * a durable append queued right after the command. That time covers the drop as producers and
 * readers see it: the segment is gone from the log and the LOG/RETENTION record is on disk.
 * The engine removes the file afterwards (unlink, directory fsync, reserve regrown); the time
 * until that is done, the space back in the reserve, is reported too (_physical).
 * The peer holds the same number of records in SQLite (WAL, synchronous=FULL, default
 * auto-checkpoint) and deletes the same share, the rows of one segment, oldest first, in one
 * autocommit DELETE; its time includes the commit and the auto-checkpoint it triggers.
 *
 * Segment ages come from the virtual clock: the fill advances it by an hour each time a new
 * segment appears, so segment i's entries are all older than boundary_ms[i] and the next
 * segment's newest entry is at least an hour younger.
 *
 * Figures per size: drop time (mean of SAMPLES drops per round, median over rounds), the
 * time until the file is gone and the reserve regrown (from the same start), SQLite DELETE
 * time, their ratio (target at least 50x), and the disk space each needed beyond what it held
 * at the moment of deletion (SQLite: the WAL it grew from empty; seclog: growth of its
 * directory, 0 by design). For reading the drop time: a durable append alone on the idle log
 * (the marker), and the filesystem's floor, unlink of a preallocated, written 4 MiB file plus
 * a directory fsync (peer-baselines.md 3d).
 *
 * Invariants:
 *  1. Before every sample both stores hold exactly the size under test: the log is topped up
 *     until its segment count is back, SQLite by the rows deleted. Top-ups are untimed.
 *  2. A sample counts only if exactly the oldest segment disappeared. */
#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#include "base/base.h"

#define EVICT_CAPACITY (512 * BENCH_MIB) /* above the largest size: the budget never evicts */
#define CHUNK 1024                       /* entries per durable point while filling */
#define SAMPLES 6                        /* drops per round and size (SQLite: ms clock) */
#define HOUR_MS (3600 * 1000LL)
#define INDEX_MAX 4096 /* segment indexes the bench tracks; a run creates about 150 */
#define SQL_TXN_ROWS 10000
#define PHYSICAL_WAIT_MS 10000 /* longest the file may take to go after the drop */
#define POLL_NS 20000          /* between looks at the directory while waiting for it */
#define TARGET_RATIO 50.0
#define ROUNDS_MAX 64

static const unsigned sizes_mib[] = {64, 128, 256};

struct evict_log {
    char *dir;
    struct seclog *log;
    struct bench_entry entry;
    uint64_t n;                     /* entries written */
    uint64_t seen_max;              /* highest segment index seen */
    int64_t boundary_ms[INDEX_MAX]; /* [i]: later than every entry of segment i */
    uint64_t n_at[INDEX_MAX];       /* [i]: entries written when segment i was first seen */
};

struct evict_db {
    char *path;
    sqlite3 *db;
    uint64_t first, next; /* oldest seq held, next seq to insert */
};

/* ---- the log ---------------------------------------------------------------------------- */

static int log_marker(struct evict_log *el)
{
    return seclog_append_durable(el->log, bench_entry_next(&el->entry, ++el->n),
                                 BENCH_DURABLE_TIMEOUT_MS, NULL);
}

/* Notes segments that appeared since the last look and moves the clock an hour on. */
static int log_look(struct evict_log *el, struct bench_segs *ret)
{
    int r = bench_segs_scan(el->dir, ret);

    if (r < 0)
        return r;
    if (ret->max_index >= INDEX_MAX)
        return -E2BIG;
    if (ret->max_index <= el->seen_max)
        return 0;
    for (uint64_t i = el->seen_max + 1; i <= ret->max_index; i++) {
        el->boundary_ms[i - 1] = clock_now_ms();
        el->n_at[i] = el->n;
    }
    el->seen_max = ret->max_index;
    return clock_advance(HOUR_MS);
}

/* Writes chunks until the log has count segments. */
static int log_fill_to(struct evict_log *el, size_t count)
{
    struct bench_segs s;
    int r;

    r = log_look(el, &s);
    while (r == 0 && s.count < count) {
        for (int i = 0; r == 0 && i < CHUNK - 1; i++)
            r = seclog_append(el->log, bench_entry_next(&el->entry, ++el->n));
        if (r == 0)
            r = log_marker(el);
        if (r == 0)
            r = log_look(el, &s);
    }
    return r;
}

/* Size of the log's reserve file, 0 if it has none. */
static uint64_t reserve_bytes(const struct evict_log *el)
{
    char *path = bench_path(el->dir, "reserve");
    uint64_t n = bench_file_size(path);

    free(path);
    return n;
}

/* Waits until the oldest segment's file is gone and the reserve holds what the budget leaves
 * the segments: the space is physically back. -ETIMEDOUT after PHYSICAL_WAIT_MS. */
static int log_wait_physical(struct evict_log *el, uint64_t oldest, struct bench_segs *ret)
{
    const struct timespec pause = {.tv_sec = 0, .tv_nsec = POLL_NS};
    int64_t end = clock_real_mono_ms() + PHYSICAL_WAIT_MS;
    uint64_t segs_max = EVICT_CAPACITY / BENCH_SEGMENT_BYTES;

    for (;;) {
        int r = bench_segs_scan(el->dir, ret);

        if (r < 0)
            return r;
        if (ret->min_index != oldest &&
            reserve_bytes(el) == (segs_max - ret->count) * (uint64_t)BENCH_SEGMENT_BYTES)
            return 0;
        if (clock_real_mono_ms() > end)
            return -ETIMEDOUT;
        (void)nanosleep(&pause, NULL);
    }
}

/* One drop of the oldest segment: its time (to the durable marker), the time until the space
 * is physically back, a marker's time alone, and the growth of the directory. */
static int log_drop(struct evict_log *el, double *ret_ms, double *ret_physical_ms,
                    double *ret_marker_ms, uint64_t *ret_extra)
{
    struct bench_segs before, after;
    uint64_t usage0, usage1, usage2;
    int64_t t0, t1, t2, retention;
    int r;

    r = bench_segs_scan(el->dir, &before);
    if (r < 0)
        return r;
    if (before.min_index >= INDEX_MAX || el->boundary_ms[before.min_index] == 0)
        return -EINVAL;
    /* The first marker takes the seal key's step into the hour the fill moved the clock to
     * (seal.state is rewritten); the second is what the marker below costs on its own. After
     * both the writer is idle. */
    r = log_marker(el);
    if (r < 0)
        return r;
    t0 = clock_real_mono_us();
    r = log_marker(el);
    *ret_marker_ms = (double)(clock_real_mono_us() - t0) / 1000.0;
    if (r < 0)
        return r;
    usage0 = bench_dir_usage(el->dir);
    /* Half an hour past the oldest segment's newest entry: only it has expired. */
    retention = clock_now_ms() - (el->boundary_ms[before.min_index] + HOUR_MS / 2);
    t0 = clock_real_mono_us();
    seclog_set_retention(el->log, retention);
    r = log_marker(el);
    t1 = clock_real_mono_us();
    if (r < 0)
        return r;
    usage1 = bench_dir_usage(el->dir); /* the drop done, the file maybe still there */
    r = log_wait_physical(el, before.min_index, &after);
    t2 = clock_real_mono_us();
    if (r < 0)
        return r;
    usage2 = bench_dir_usage(el->dir); /* the file gone, the reserve regrown */
    /* Invariant 2: exactly the oldest segment went. */
    if (after.count != before.count - 1 || after.min_index != before.min_index + 1)
        r = -EPROTO;
    seclog_set_retention(el->log, 0);
    *ret_ms = (double)(t1 - t0) / 1000.0;
    *ret_physical_ms = (double)(t2 - t0) / 1000.0;
    usage1 = usage1 > usage2 ? usage1 : usage2;
    *ret_extra = usage1 > usage0 ? usage1 - usage0 : 0;
    return r;
}

/* ---- SQLite ----------------------------------------------------------------------------- */

static int db_fill_to(struct evict_db *ed, uint64_t rows)
{
    uint64_t held = ed->next - ed->first;
    int r;

    if (held >= rows)
        return 0;
    r = peer_sqlite_fill(ed->db, ed->next, rows - held, SQL_TXN_ROWS);
    if (r == 0)
        ed->next += rows - held;
    return r;
}

static int db_delete(struct evict_db *ed, uint64_t rows, double *ret_ms, uint64_t *ret_wal)
{
    char *wal = NULL;
    int64_t t0, t1;
    int r;

    if (asprintf(&wal, "%s-wal", ed->path) < 0)
        return -ENOMEM;
    /* The WAL starts empty, so its size afterwards is what the deletion needed. */
    r = peer_sqlite_checkpoint_truncate(ed->db);
    if (r < 0)
        goto out;
    t0 = clock_real_mono_ms();
    r = peer_sqlite_delete_oldest(ed->db, rows);
    t1 = clock_real_mono_ms();
    if (r < 0)
        goto out;
    ed->first += rows;
    *ret_ms = (double)(t1 - t0);
    *ret_wal = bench_file_size(wal);
out:
    free(wal);
    return r;
}

/* ---- one size --------------------------------------------------------------------------- */

struct size_result {
    double seclog_ms, physical_ms, sqlite_ms, marker_ms, unlink_ms;
    uint64_t seclog_extra, sqlite_wal, sqlite_db;
};

/* SAMPLES drops of each, alternating by round; means per round, medians over rounds. */
static int size_run(const struct bench_opts *o, struct evict_log *el, struct evict_db *ed,
                    size_t segs, uint64_t rows_per_seg, struct size_result *ret)
{
    double a[ROUNDS_MAX], p[ROUNDS_MAX], b[ROUNDS_MAX], m[ROUNDS_MAX], u[ROUNDS_MAX];
    double sa[SAMPLES], sp[SAMPLES], sb[SAMPLES], sm[SAMPLES], su[SAMPLES];
    uint64_t extra = 0, wal = 0, e = 0;
    int r = 0;

    for (int i = 0; r == 0 && i < o->rounds; i++) {
        for (int k = 0; r == 0 && k < SAMPLES; k++) {
            r = log_fill_to(el, segs);
            if (r == 0)
                r = log_drop(el, &sa[k], &sp[k], &sm[k], &e);
            if (r == 0 && e > extra)
                extra = e;
        }
        for (int k = 0; r == 0 && k < SAMPLES; k++) {
            r = db_fill_to(ed, segs * rows_per_seg);
            if (r == 0)
                ret->sqlite_db = peer_sqlite_db_bytes(ed->db);
            if (r == 0)
                r = db_delete(ed, rows_per_seg, &sb[k], &e);
            if (r == 0 && e > wal)
                wal = e;
        }
        for (int k = 0; r == 0 && k < SAMPLES; k++)
            r = peer_unlink_segment(o->dir, &su[k]);
        a[i] = bench_mean(sa, SAMPLES);
        p[i] = bench_mean(sp, SAMPLES);
        b[i] = bench_mean(sb, SAMPLES);
        m[i] = bench_mean(sm, SAMPLES);
        u[i] = bench_mean(su, SAMPLES);
    }
    if (r < 0)
        return r;
    ret->seclog_ms = bench_median(a, (size_t)o->rounds);
    ret->physical_ms = bench_median(p, (size_t)o->rounds);
    ret->sqlite_ms = bench_median(b, (size_t)o->rounds);
    ret->marker_ms = bench_median(m, (size_t)o->rounds);
    ret->unlink_ms = bench_median(u, (size_t)o->rounds);
    ret->seclog_extra = extra;
    ret->sqlite_wal = wal;
    return 0;
}

static void size_print(unsigned mib, const struct size_result *s, double *ret_ratio)
{
    char name[64];
    double ratio = s->seclog_ms > 0 ? s->sqlite_ms / s->seclog_ms : 0;

    (void)snprintf(name, sizeof(name), "seclog_evict_%umib", mib);
    bench_print(name, s->seclog_ms, 2, "ms");
    (void)snprintf(name, sizeof(name), "seclog_evict_physical_%umib", mib);
    bench_print(name, s->physical_ms, 2, "ms");
    (void)snprintf(name, sizeof(name), "sqlite_delete_%umib", mib);
    bench_print(name, s->sqlite_ms, 2, "ms");
    (void)snprintf(name, sizeof(name), "ratio_evict_%umib_seclog_vs_sqlite", mib);
    bench_print(name, ratio, 1, "x");
    (void)snprintf(name, sizeof(name), "seclog_evict_extra_space_%umib", mib);
    bench_print(name, (double)s->seclog_extra / BENCH_MIB, 1, "MiB");
    (void)snprintf(name, sizeof(name), "sqlite_delete_extra_space_%umib", mib);
    bench_print(name, (double)s->sqlite_wal / BENCH_MIB, 1, "MiB");
    (void)snprintf(name, sizeof(name), "sqlite_db_size_%umib", mib);
    bench_print(name, (double)s->sqlite_db / BENCH_MIB, 1, "MiB");
    (void)snprintf(name, sizeof(name), "seclog_marker_alone_%umib", mib);
    bench_print(name, s->marker_ms, 2, "ms");
    (void)snprintf(name, sizeof(name), "fs_unlink_segment_%umib", mib);
    bench_print(name, s->unlink_ms, 2, "ms");
    *ret_ratio = ratio;
}

int bench_eviction(const struct bench_opts *o)
{
    struct evict_log *el = calloc(1, sizeof(*el));
    struct evict_db ed = {0};
    struct size_result res[ARRAY_SIZE(sizes_mib)] = {0};
    uint64_t rows_per_seg = 0;
    double ratio, ratio_min = 0;
    int r;

    if (!el)
        return -ENOMEM;
    el->dir = bench_path(o->dir, "evict-seclog");
    ed.path = bench_path(o->dir, "evict.sqlite");
    ed.first = ed.next = 1;
    bench_entry_init(&el->entry, 1);
    r = bench_log_open(el->dir, EVICT_CAPACITY, &el->log);
    if (r == 0)
        r = peer_sqlite_open(ed.path, &ed.db);
    for (size_t i = 0; r == 0 && i < ARRAY_SIZE(sizes_mib); i++) {
        size_t segs = sizes_mib[i] * BENCH_MIB / BENCH_SEGMENT_BYTES;

        r = log_fill_to(el, segs);
        if (r == 0 && rows_per_seg == 0) {
            /* Entries per segment, from full segments 2..segs-1 (1 also holds the open). */
            rows_per_seg = (el->n_at[el->seen_max] - el->n_at[2]) / (el->seen_max - 2);
            bench_print("seclog_entries_per_segment", (double)rows_per_seg, 0, "records");
        }
        if (r == 0)
            r = size_run(o, el, &ed, segs, rows_per_seg, &res[i]);
        if (r == 0) {
            size_print(sizes_mib[i], &res[i], &ratio);
            ratio_min = i == 0 || ratio < ratio_min ? ratio : ratio_min;
        }
    }
    if (r == 0) {
        bench_print("ratio_evict_256_vs_64mib_seclog",
                    res[0].seclog_ms > 0 ? res[2].seclog_ms / res[0].seclog_ms : 0, 2, "x");
        bench_print("ratio_evict_256_vs_64mib_sqlite",
                    res[0].sqlite_ms > 0 ? res[2].sqlite_ms / res[0].sqlite_ms : 0, 2, "x");
        bench_target("evict_50x_sqlite", ratio_min >= TARGET_RATIO);
    } else {
        fprintf(stderr, "bench_seclog: eviction failed: %s\n", strerror(-r));
    }
    el->log = seclog_close(el->log);
    sqlite3_close(ed.db);
    (void)bench_rm_rf(el->dir);
    peer_sqlite_remove(ed.path);
    free(ed.path);
    free(el->dir);
    free(el);
    return r;
}
