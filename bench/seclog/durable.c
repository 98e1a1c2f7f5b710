/* durable: acknowledged appends under concurrency (issue #3, first figure). Sixteen producer
 * threads each call seclog_append_durable() in a loop, so each waits until its own record is
 * on disk; the writer thread gathers whatever is queued into one batch per fdatasync. The
 * peer is the naive audit design: sixteen threads, each with its own SQLite connection,
 * committing one row per transaction (WAL, synchronous=FULL, busy_timeout).
 *
 * Figures: records acknowledged per second (medians over the rounds), their ratio (target at
 * least 10x), how many records one fdatasync of the log covered on average, how many
 * fdatasyncs per second it issued and the process CPU time per record (all threads), against
 * the device's own rate of single-record syncs (one 256-byte pwrite() and fdatasync() at a
 * time into a preallocated file, in the same rounds).
 *
 * Invariants:
 *  1. Each run starts on a fresh log or database and removes it afterwards, untimed.
 *  2. The clock runs from the moment every thread is ready until every thread has returned
 *     from its last call; a record counts only once its call returned 0. */
#include "bench.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/base.h"

#define PRODUCERS 16
#define DURABLE_CAPACITY (512 * BENCH_MIB) /* more than a run writes: no eviction inside */
#define TARGET_RATIO 10.0
#define ROUNDS_MAX 64

struct producer {
    pthread_t thread;
    struct seclog *log;
    struct bench_entry entry;
    atomic_bool *stop;
    pthread_barrier_t *start;
    uint64_t done;
    int result;
};

static void *producer_main(void *arg)
{
    struct producer *p = arg;
    uint64_t n = 0;

    (void)pthread_barrier_wait(p->start);
    while (!atomic_load(p->stop)) {
        p->result = seclog_append_durable(p->log, bench_entry_next(&p->entry, ++n),
                                          BENCH_DURABLE_TIMEOUT_MS, NULL);
        if (p->result < 0)
            break;
        p->done++;
    }
    return NULL;
}

/* One run: records/s, records per fdatasync and process CPU time per record. */
static int seclog_run(const char *dir, int seconds, double *ret_rate, double *ret_per_sync,
                      double *ret_cpu_us)
{
    struct producer *p = calloc(PRODUCERS, sizeof(*p));
    struct seclog *log = NULL;
    pthread_barrier_t start;
    atomic_bool stop = false;
    uint64_t total = 0, syncs0, syncs1;
    int64_t t0, t1;
    double cpu0;
    int r;

    if (!p)
        return -ENOMEM;
    r = bench_log_open(dir, DURABLE_CAPACITY, &log);
    if (r < 0)
        goto out;
    if (pthread_barrier_init(&start, NULL, PRODUCERS + 1) != 0) {
        r = -ENOMEM;
        goto out;
    }
    for (int i = 0; i < PRODUCERS; i++) {
        p[i].log = log;
        p[i].stop = &stop;
        p[i].start = &start;
        bench_entry_init(&p[i].entry, (unsigned)i + 1);
        if (pthread_create(&p[i].thread, NULL, producer_main, &p[i]) != 0) {
            fprintf(stderr, "bench_seclog: cannot start threads\n");
            exit(1); /* the barrier waits for all of them */
        }
    }
    (void)pthread_barrier_wait(&start);
    syncs0 = io_calls(IO_OP_FDATASYNC);
    cpu0 = bench_cpu_s();
    t0 = clock_real_mono_ms();
    (void)sleep((unsigned)seconds);
    atomic_store(&stop, true);
    for (int i = 0; i < PRODUCERS; i++) {
        (void)pthread_join(p[i].thread, NULL);
        total += p[i].done;
        if (p[i].result < 0)
            r = p[i].result;
    }
    t1 = clock_real_mono_ms();
    syncs1 = io_calls(IO_OP_FDATASYNC);
    (void)pthread_barrier_destroy(&start);
    if (r < 0)
        goto out;
    *ret_rate = (double)total * 1000.0 / (double)(t1 - t0);
    *ret_per_sync = syncs1 > syncs0 ? (double)total / (double)(syncs1 - syncs0) : 0;
    *ret_cpu_us = total > 0 ? (bench_cpu_s() - cpu0) * 1e6 / (double)total : 0;
out:
    log = seclog_close(log);
    free(p);
    return r;
}

/* Round i: the log, SQLite, then the device's own rate of single-record syncs. */
static int round_run(const struct bench_opts *o, int i, double *ret_seclog, double *ret_per_sync,
                     double *ret_cpu_us, double *ret_sqlite, double *ret_syncs)
{
    char name[64];
    char *path;
    int r;

    (void)snprintf(name, sizeof(name), "durable-seclog-%d", i);
    path = bench_path(o->dir, name);
    r = seclog_run(path, o->seconds, ret_seclog, ret_per_sync, ret_cpu_us);
    (void)bench_rm_rf(path);
    free(path);
    if (r < 0) {
        fprintf(stderr, "bench_seclog: durable seclog run failed: %d\n", r);
        return r;
    }
    (void)snprintf(name, sizeof(name), "durable-%d.sqlite", i);
    path = bench_path(o->dir, name);
    r = peer_sqlite_durable(path, PRODUCERS, o->seconds, ret_sqlite);
    peer_sqlite_remove(path);
    free(path);
    if (r < 0) {
        fprintf(stderr, "bench_seclog: durable sqlite run failed: %d\n", r);
        return r;
    }
    /* One 256-byte pwrite() and fdatasync() at a time into a preallocated file: the most
     * syncs per second the log's writer could issue. */
    (void)snprintf(name, sizeof(name), "durable-%d.file", i);
    path = bench_path(o->dir, name);
    r = peer_file_bulk(path, PEER_FILE_PREALLOC_RECORD, 1, o->seconds, ret_syncs);
    (void)bench_rm_rf(path);
    free(path);
    if (r < 0)
        fprintf(stderr, "bench_seclog: durable sync-rate run failed: %d\n", r);
    return r;
}

int bench_durable(const struct bench_opts *o)
{
    double a[ROUNDS_MAX], b[ROUNDS_MAX], per_sync[ROUNDS_MAX], syncs[ROUNDS_MAX],
        log_syncs[ROUNDS_MAX], cpu[ROUNDS_MAX];
    double ma, mb, ratio;
    int r = 0;

    for (int i = 0; r == 0 && i < o->rounds; i++) {
        r = round_run(o, i, &a[i], &per_sync[i], &cpu[i], &b[i], &syncs[i]);
        log_syncs[i] = per_sync[i] > 0 ? a[i] / per_sync[i] : 0;
        if (r == 0)
            bench_note("durable round %d: seclog %.0f, sqlite %.0f records/s (%.1fx), device "
                       "%.0f syncs/s",
                       i + 1, a[i], b[i], b[i] > 0 ? a[i] / b[i] : 0, syncs[i]);
    }
    if (r < 0)
        return r;
    ma = bench_median(a, (size_t)o->rounds);
    mb = bench_median(b, (size_t)o->rounds);
    ratio = mb > 0 ? ma / mb : 0;
    bench_print("seclog_durable_16", ma, 0, "records/s");
    bench_print("sqlite_durable_16", mb, 0, "records/s");
    bench_print("ratio_durable_seclog_vs_sqlite", ratio, 1, "x");
    bench_print("seclog_durable_16_records_per_sync", bench_median(per_sync, (size_t)o->rounds), 1,
                "records");
    bench_print("seclog_durable_16_syncs", bench_median(log_syncs, (size_t)o->rounds), 0,
                "syncs/s");
    bench_print("seclog_durable_16_cpu_per_record", bench_median(cpu, (size_t)o->rounds), 2, "us");
    bench_print("prealloc_sync_rate_256b", bench_median(syncs, (size_t)o->rounds), 0, "syncs/s");
    bench_target("durable_10x_sqlite", ratio >= TARGET_RATIO);
    return 0;
}
