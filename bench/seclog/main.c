/* bench_seclog: the security-log benchmarks of issue #3 against their peers (bench/README.md).
 *
 *     bench_seclog [--seconds N] [--rounds N] [--dir DIR] [--only SECTION]
 *
 * Sections, in this order: durable (16 producers waiting for disk vs SQLite committing each
 * row), bulk (group commit of 256 vs SQLite and a plain file), eviction (dropping a segment at
 * 64/128/256 MiB vs SQLite DELETE), boot (opening a full 1 GiB log). Each prints its figures
 * as "name: value unit" and one "target_<name>: met|missed" line per target.
 *
 * Invariants:
 *  1. Everything is written below one fresh directory (a new temp dir under /tmp, or a new
 *     one inside --dir), and that directory is removed at the end.
 *  2. The clock is base's virtual clock, so that the eviction section can age segments;
 *     every interval is measured with clock_real_mono_ms().
 *  3. The exit status is 0 when every section ran, whether or not its targets were met. */
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"

#define SECONDS_DEFAULT 3
#define ROUNDS_DEFAULT 3
#define SECONDS_MAX 600
#define ROUNDS_MAX 63 /* bench_median() sorts at most 64 values */
#define STEAL_FIELD 8 /* /proc/stat "cpu" line: user nice system idle iowait irq softirq steal */

static const struct section {
    const char *name;
    int (*run)(const struct bench_opts *o);
} sections[] = {
    {"durable", bench_durable},
    {"bulk", bench_bulk},
    {"eviction", bench_eviction},
    {"boot", bench_boot},
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_seclog [--seconds N] [--rounds N] [--dir DIR] [--only SECTION]\n"
            "  --seconds N   length of each timed run (default %d)\n"
            "  --rounds N    A/B alternations, figures are medians (default %d)\n"
            "  --dir DIR     work in a fresh directory inside DIR (default: under /tmp)\n"
            "  --only NAME   run one section: durable, bulk, eviction or boot\n",
            SECONDS_DEFAULT, ROUNDS_DEFAULT);
}

static int parse_int(const char *s, int min, int max, int *ret)
{
    int64_t v;

    if (str_to_int64(s, &v) < 0 || v < min || v > max)
        return -EINVAL;
    *ret = (int)v;
    return 0;
}

/* Notes /proc/loadavg: other work on the machine skews every figure here. */
static void note_load(const char *when)
{
    FILE *f = fopen("/proc/loadavg", "r");
    char line[128];

    if (!f)
        return;
    if (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        bench_note("load average %s: %s", when, line);
    }
    (void)fclose(f);
}

/* Total and steal jiffies from /proc/stat (both 0 if unreadable): the baselines' noise N1. */
static void cpu_jiffies(uint64_t *ret_total, uint64_t *ret_steal)
{
    FILE *f = fopen("/proc/stat", "r");
    uint64_t v[STEAL_FIELD] = {0}, total = 0;

    *ret_total = *ret_steal = 0;
    if (!f)
        return;
    if (fscanf(f,
               "cpu %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
               " %" SCNu64 " %" SCNu64,
               &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == STEAL_FIELD) {
        for (int i = 0; i < STEAL_FIELD; i++)
            total += v[i];
        *ret_total = total;
        *ret_steal = v[STEAL_FIELD - 1];
    }
    (void)fclose(f);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"seconds", required_argument, NULL, 's'}, {"rounds", required_argument, NULL, 'r'},
        {"dir", required_argument, NULL, 'd'},     {"only", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    struct bench_opts o = {.seconds = SECONDS_DEFAULT, .rounds = ROUNDS_DEFAULT};
    const char *parent = "/tmp", *only = NULL;
    char work[4096], date[32];
    uint64_t total0, steal0, total1, steal1;
    int64_t t0;
    int c, r = 0, ran = 0;

    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            r = parse_int(optarg, 1, SECONDS_MAX, &o.seconds);
            break;
        case 'r':
            r = parse_int(optarg, 1, ROUNDS_MAX, &o.rounds);
            break;
        case 'd':
            parent = optarg;
            break;
        case 'o':
            only = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
        if (r < 0) {
            fprintf(stderr, "bench_seclog: bad value '%s' for --%s\n", optarg,
                    c == 's' ? "seconds" : "rounds");
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    for (size_t i = 0; only && i < ARRAY_SIZE(sections); i++)
        ran += strcmp(only, sections[i].name) == 0;
    if (only && ran == 0) {
        fprintf(stderr, "bench_seclog: no section named '%s'\n", only);
        return 2;
    }
    clock_init(CLOCK_MODE_VIRTUAL);
    log_level_set(LOG_LEVEL_ERROR);
    if (fs_mkdir_p(parent, 0700) < 0 ||
        snprintf(work, sizeof(work), "%s/bench_seclog.XXXXXX", parent) >= (int)sizeof(work) ||
        !mkdtemp(work)) {
        fprintf(stderr, "bench_seclog: cannot make a work directory in '%s'\n", parent);
        return 1;
    }
    o.dir = work;
    bench_note("bench_seclog %s, %s, %ld CPUs, seconds %d, rounds %d, dir %s", KONN_VERSION,
               clock_format_iso(clock_now_ms(), date, sizeof(date)), sysconf(_SC_NPROCESSORS_ONLN),
               o.seconds, o.rounds, work);
    {
        struct bench_entry e;

        bench_entry_init(&e, 1);
        bench_print("record_bytes", (double)bench_entry_disk_bytes(&e.entry), 0, "bytes");
    }
    note_load("at start");
    cpu_jiffies(&total0, &steal0);
    t0 = clock_real_mono_ms();
    for (size_t i = 0; r == 0 && i < ARRAY_SIZE(sections); i++) {
        if (only && strcmp(only, sections[i].name) != 0)
            continue;
        r = sections[i].run(&o);
    }
    cpu_jiffies(&total1, &steal1);
    note_load("at end");
    if (total1 > total0)
        bench_print("host_steal", 100.0 * (double)(steal1 - steal0) / (double)(total1 - total0), 2,
                    "%");
    bench_print("bench_runtime", (double)(clock_real_mono_ms() - t0) / 1000.0, 0, "s");
    (void)bench_rm_rf(work);
    return r == 0 ? 0 : 1;
}
