/* bulk: throughput at the group-commit cadence (issue #3, second figure). One producer calls
 * seclog_append() 255 times and then seclog_append_durable() once, so every 256 records it
 * knows all of them are on disk, hashed, chained and sealed; the writer commits at most
 * SECLOG's 256 entries per fdatasync. The peers get the same durability cadence: SQLite
 * commits 256 rows per transaction, and a plain append-only file gathers 256 records into
 * one write() and one fdatasync() (the ceiling: no hashing, no seals, no format).
 *
 * Figures: records per second of each (medians over the rounds, all of them alternating) and
 * CPU time per record (all threads), the ratios (targets: at least equal to SQLite, at least
 * 60% of the plain file), records per fdatasync of the log, and entries the queue refused
 * (must be 0). Three more plain-file variants take the log's I/O pattern apart: one write()
 * per record, and a file preallocated 4 MiB at a time, as segments are, written with one
 * pwrite() per record (the log writer's pattern) or one per batch.
 *
 * Invariants:
 *  1. Each run starts on a fresh log, database or file and removes it afterwards, untimed.
 *  2. A record counts only once the durable call that follows it returned 0. */
#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"

#define BATCH 256                        /* records per durability point, as the peers */
#define BULK_CAPACITY (1024 * BENCH_MIB) /* more than a run writes: no eviction inside */
#define TARGET_VS_SQLITE 1.0
#define TARGET_VS_PLAIN 0.6
#define ROUNDS_MAX 64

struct bulk_result {
    double rate;     /* records/s */
    double per_sync; /* records per fdatasync */
    double cpu_us;   /* CPU time per record, all threads */
    uint64_t refused;
};

static int seclog_run(const char *dir, int seconds, struct bulk_result *ret)
{
    struct bench_entry *b = malloc(sizeof(*b));
    struct seclog *log = NULL;
    uint64_t n = 0, refused = 0, syncs0;
    int64_t t0, end;
    double cpu0;
    int r;

    if (!b)
        return -ENOMEM;
    bench_entry_init(b, 1);
    r = bench_log_open(dir, BULK_CAPACITY, &log);
    if (r < 0)
        goto out;
    syncs0 = io_calls(IO_OP_FDATASYNC);
    cpu0 = bench_cpu_s();
    t0 = clock_real_mono_ms();
    end = t0 + (int64_t)seconds * 1000;
    while (clock_real_mono_ms() < end) {
        for (int i = 0; i < BATCH - 1; i++) {
            r = seclog_append(log, bench_entry_next(b, ++n));
            if (r == -ENOBUFS)
                refused++;
            else if (r != 0)
                goto out; /* 1 (folded) would mean the entries are not unique */
        }
        r = seclog_append_durable(log, bench_entry_next(b, ++n), BENCH_DURABLE_TIMEOUT_MS, NULL);
        if (r < 0)
            goto out;
    }
    ret->rate = (double)(n - refused) * 1000.0 / (double)(clock_real_mono_ms() - t0);
    ret->cpu_us = (bench_cpu_s() - cpu0) * 1e6 / (double)n;
    syncs0 = io_calls(IO_OP_FDATASYNC) - syncs0;
    ret->per_sync = syncs0 ? (double)n / (double)syncs0 : 0;
    ret->refused = refused;
out:
    log = seclog_close(log);
    free(b);
    return r;
}

/* Stores measured in each round, in order: the log, SQLite, then each plain-file variant. */
enum store { STORE_SECLOG, STORE_SQLITE, STORE_FILE, STORE_MAX = STORE_FILE + PEER_FILE_MODE_MAX };

static const char *const store_names[STORE_MAX] = {
    "seclog_bulk_256",
    "sqlite_bulk_256",
    "plain_bulk_256",
    "plain_bulk_256_write_per_record",
    "prealloc_bulk_256_pwrite_per_record",
    "prealloc_bulk_256_pwrite_per_batch",
};

enum field { FIELD_RATE, FIELD_CPU, FIELD_PER_SYNC };

/* A peer's run, with its CPU time per record. */
static int peer_run(const char *path, enum store st, int seconds, struct bulk_result *ret)
{
    double cpu0 = bench_cpu_s();
    int r;

    if (st == STORE_SQLITE)
        r = peer_sqlite_bulk(path, BATCH, seconds, &ret->rate);
    else
        r = peer_file_bulk(path, (enum peer_file_mode)(st - STORE_FILE), BATCH, seconds,
                           &ret->rate);
    if (r == 0 && ret->rate > 0)
        ret->cpu_us = (bench_cpu_s() - cpu0) * 1e6 / (ret->rate * seconds);
    return r;
}

/* Round i of every store, each on a fresh log, database or file removed afterwards. */
static int round_run(const struct bench_opts *o, int i, struct bulk_result res[][ROUNDS_MAX])
{
    char name[64];
    char *path;
    int r = 0;

    for (int st = 0; r == 0 && st < STORE_MAX; st++) {
        (void)snprintf(name, sizeof(name), "bulk-%d-%d", i, st);
        path = bench_path(o->dir, name);
        if (st == STORE_SECLOG)
            r = seclog_run(path, o->seconds, &res[st][i]);
        else
            r = peer_run(path, (enum store)st, o->seconds, &res[st][i]);
        if (st == STORE_SQLITE)
            peer_sqlite_remove(path);
        else
            (void)bench_rm_rf(path);
        free(path);
        if (r < 0)
            fprintf(stderr, "bench_seclog: %s run failed: %d\n", store_names[st], r);
    }
    return r;
}

static double median_of(const struct bulk_result *v, int n, enum field f)
{
    double x[ROUNDS_MAX] = {0};

    for (int i = 0; i < n; i++)
        x[i] = f == FIELD_RATE ? v[i].rate : f == FIELD_CPU ? v[i].cpu_us : v[i].per_sync;
    return bench_median(x, (size_t)n);
}

int bench_bulk(const struct bench_opts *o)
{
    struct bulk_result(*res)[ROUNDS_MAX] = calloc(STORE_MAX, sizeof(*res));
    double rate[STORE_MAX], ma, mb, mc;
    uint64_t refused = 0;
    int r = 0;

    if (!res)
        return -ENOMEM;
    for (int i = 0; r == 0 && i < o->rounds; i++) {
        r = round_run(o, i, res);
        refused += res[STORE_SECLOG][i].refused;
    }
    if (r < 0)
        goto out;
    for (int st = 0; st < STORE_MAX; st++) {
        char name[96];

        rate[st] = median_of(res[st], o->rounds, FIELD_RATE);
        bench_print(store_names[st], rate[st], 0, "records/s");
        (void)snprintf(name, sizeof(name), "%s_cpu_per_record", store_names[st]);
        bench_print(name, median_of(res[st], o->rounds, FIELD_CPU), 2, "us");
    }
    ma = rate[STORE_SECLOG];
    mb = rate[STORE_SQLITE];
    mc = rate[STORE_FILE + PEER_FILE_APPEND_BATCH];
    bench_print("seclog_bulk_256_records_per_sync",
                median_of(res[STORE_SECLOG], o->rounds, FIELD_PER_SYNC), 1, "records");
    bench_print("seclog_bulk_256_refused", (double)refused, 0, "records");
    bench_print("ratio_bulk_seclog_vs_sqlite", mb > 0 ? ma / mb : 0, 2, "x");
    bench_print("ratio_bulk_seclog_vs_plain", mc > 0 ? ma / mc : 0, 2, "x");
    bench_target("bulk_at_least_sqlite", mb > 0 && ma >= TARGET_VS_SQLITE * mb);
    bench_target("bulk_60pct_of_plain", mc > 0 && ma >= TARGET_VS_PLAIN * mc);
out:
    free(res);
    return r;
}
