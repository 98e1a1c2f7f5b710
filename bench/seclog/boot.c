/* boot: how long seclog_open() takes on a full log (issue #3, fourth figure). A log with a
 * 1 GiB budget (256 segments of 4 MiB) is filled to the brim with large entries (16
 * parameters, about 60 KB each, so the fill is quick), its tail left about 90% full, and
 * closed; a 64 MiB log (16 segments) likewise. Then each is opened and closed again, the two
 * alternating, first with their files dropped from the page cache (a cold boot), then warm.
 * Open reads only header and footer of closed segments and scans the tail, so the two should
 * take about the same time.
 *
 * Figures: fill time and rate of the 1 GiB log (context), open time of each (median over
 * rounds), their ratio; target: the 1 GiB log opens cold in under 1 s.
 *
 * Invariants:
 *  1. Only seclog_open() is timed: from the call until it returns with the writer running.
 *  2. The cold open follows posix_fadvise(DONTNEED) on every file of the log directory; the
 *     directory itself stays cached (a real boot may pay a few more reads). */
#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

#define BIG_CAPACITY (1024 * BENCH_MIB) /* 256 segments of 4 MiB, as in the issue */
#define SMALL_CAPACITY (64 * BENCH_MIB)
#define BIG_PARAMS 16
#define BIG_VALUE_CHARS 3750 /* 16 parameters: about 60 KB per entry */
#define BIG_CHUNK 64         /* entries per durable point: about 4 MB */
#define TAIL_FILL_PCT 90     /* how full the tail is left: open scans all of it */
#define TARGET_MS 1000.0
#define ROUNDS_MAX 64

struct big_entry {
    char keys[BIG_PARAMS][8];
    char counter[24];
    char value[BIG_VALUE_CHARS + 1];
    struct seclog_param params[BIG_PARAMS];
    struct seclog_entry entry;
};

static void big_init(struct big_entry *b)
{
    memset(b->value, 'x', BIG_VALUE_CHARS);
    b->value[BIG_VALUE_CHARS] = '\0';
    for (int i = 0; i < BIG_PARAMS; i++) {
        (void)snprintf(b->keys[i], sizeof(b->keys[i]), "P%02d", i);
        /* The first parameter is a counter: no two entries fold. */
        b->params[i] = (struct seclog_param){b->keys[i], i == 0 ? b->counter : b->value};
    }
    b->entry = (struct seclog_entry){.severity = SECLOG_SEVERITY_INFO,
                                     .type = SECLOG_TYPE_OPERATION,
                                     .topic = BENCH_TOPIC,
                                     .params = b->params,
                                     .n_params = BIG_PARAMS};
}

static const struct seclog_entry *big_next(struct big_entry *b, uint64_t n)
{
    (void)snprintf(b->counter, sizeof(b->counter), "%020llu", (unsigned long long)n);
    return &b->entry;
}

/* Fills the log in dir to capacity_bytes, its tail TAIL_FILL_PCT full; ret_bytes: written. */
static int log_fill(const char *dir, uint64_t capacity_bytes, uint64_t *ret_bytes)
{
    struct big_entry *b = malloc(sizeof(*b));
    struct seclog *log = NULL;
    struct bench_segs s = {0};
    uint64_t n = 0, extra = 0, n_at_last = 0, last_max = 0, per_seg = 0;
    size_t full = (size_t)(capacity_bytes / BENCH_SEGMENT_BYTES);
    int r;

    if (!b)
        return -ENOMEM;
    big_init(b);
    r = bench_log_open(dir, capacity_bytes, &log);
    /* Until all segments exist, then TAIL_FILL_PCT of one more segment's worth of entries. */
    while (r == 0 && (s.count < full || extra > 0)) {
        uint64_t chunk = s.count < full ? BIG_CHUNK : (extra < BIG_CHUNK ? extra : BIG_CHUNK);

        for (uint64_t i = 0; r == 0 && i + 1 < chunk; i++)
            r = seclog_append(log, big_next(b, ++n));
        if (r == 0)
            r = seclog_append_durable(log, big_next(b, ++n), BENCH_DURABLE_TIMEOUT_MS, NULL);
        if (r < 0)
            break;
        if (s.count >= full) {
            extra -= chunk;
            continue;
        }
        r = bench_segs_scan(dir, &s);
        if (r == 0 && s.max_index != last_max) {
            if (last_max > 1)
                per_seg = (n - n_at_last) / (s.max_index - last_max);
            last_max = s.max_index;
            n_at_last = n;
        }
        if (r == 0 && s.count >= full)
            extra = (per_seg ? per_seg : BIG_CHUNK) * TAIL_FILL_PCT / 100;
    }
    if (r == 0)
        *ret_bytes = n * bench_entry_disk_bytes(&b->entry);
    log = seclog_close(log);
    free(b);
    return r;
}

static int open_time(const char *dir, uint64_t capacity_bytes, bool cold, double *ret_ms)
{
    struct seclog *log = NULL;
    int64_t t0, t1;
    int r;

    if (cold)
        bench_dir_drop_cache(dir);
    t0 = clock_real_mono_ms();
    r = bench_log_open(dir, capacity_bytes, &log);
    t1 = clock_real_mono_ms();
    log = seclog_close(log);
    if (r == 0)
        *ret_ms = (double)(t1 - t0);
    return r;
}

/* Alternates the big and the small log, rounds times. */
static int opens(const struct bench_opts *o, const char *big, const char *small, bool cold,
                 double *ret_big_ms, double *ret_small_ms)
{
    double a[ROUNDS_MAX], b[ROUNDS_MAX];
    int r = 0;

    for (int i = 0; r == 0 && i < o->rounds; i++) {
        r = open_time(big, BIG_CAPACITY, cold, &a[i]);
        if (r == 0)
            r = open_time(small, SMALL_CAPACITY, cold, &b[i]);
    }
    if (r == 0) {
        *ret_big_ms = bench_median(a, (size_t)o->rounds);
        *ret_small_ms = bench_median(b, (size_t)o->rounds);
    }
    return r;
}

int bench_boot(const struct bench_opts *o)
{
    char *big = bench_path(o->dir, "boot-1gib"), *small = bench_path(o->dir, "boot-64mib");
    double big_cold = 0, small_cold = 0, big_warm = 0, small_warm = 0;
    uint64_t bytes = 0;
    int64_t t0, t1;
    int r;

    t0 = clock_real_mono_ms();
    r = log_fill(big, BIG_CAPACITY, &bytes);
    t1 = clock_real_mono_ms();
    if (r == 0) {
        bench_print("seclog_fill_1gib", (double)(t1 - t0) / 1000.0, 1, "s");
        bench_print("seclog_fill_1gib_rate",
                    (double)bytes / BENCH_MIB * 1000.0 / (double)(t1 - t0 ? t1 - t0 : 1), 0,
                    "MiB/s");
        r = log_fill(small, SMALL_CAPACITY, &bytes);
    }
    if (r == 0)
        r = opens(o, big, small, true, &big_cold, &small_cold);
    if (r == 0)
        r = opens(o, big, small, false, &big_warm, &small_warm);
    if (r == 0) {
        bench_print("seclog_open_1gib_cold", big_cold, 0, "ms");
        bench_print("seclog_open_64mib_cold", small_cold, 0, "ms");
        bench_print("seclog_open_1gib_warm", big_warm, 0, "ms");
        bench_print("seclog_open_64mib_warm", small_warm, 0, "ms");
        bench_print("ratio_open_1gib_vs_64mib_cold", small_cold > 0 ? big_cold / small_cold : 0, 1,
                    "x");
        bench_target("boot_1gib_under_1s", big_cold < TARGET_MS);
    } else {
        fprintf(stderr, "bench_seclog: boot failed: %s\n", strerror(-r));
    }
    (void)bench_rm_rf(big);
    (void)bench_rm_rf(small);
    free(big);
    free(small);
    return r;
}
