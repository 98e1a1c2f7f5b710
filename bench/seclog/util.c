/* util: the entry every producer writes, the figure printer, statistics and the working
 * directory. Nothing here is timed.
 *
 * Invariants:
 *  1. An entry is BENCH_RECORD_BYTES on disk and no two entries of one run fold: the handle
 *     parameter carries the producer and a counter.
 *  2. Output lines are "name: value unit", "target_name: met|missed" or "# note". */
#include "bench.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"

#define RECORD_FIXED_BYTES 80 /* docs/security-log.md 4.2 */
#define RECORD_ALIGN 8
#define PARAM_HEAD_BYTES 4 /* two u16 lengths */
#define RM_FDS 16          /* nftw descriptors */
#define SEG_NAME_LEN 24    /* "seg-" + 16 hex digits + ".log" */

/* ---- the entry -------------------------------------------------------------------------- */

void bench_entry_init(struct bench_entry *b, unsigned producer)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";

    memset(b, 0, sizeof(*b));
    b->producer = producer;
    /* Readable filler, as a real detail text would be; its content does not matter. */
    for (size_t i = 0; i < BENCH_DETAIL_CHARS; i++)
        b->detail[i] = alphabet[(i * 7 + producer) % (sizeof(alphabet) - 1)];
    b->params[0] = (struct seclog_param){"CardHandle", b->handle};
    b->params[1] = (struct seclog_param){"Detail", b->detail};
    b->entry = (struct seclog_entry){.severity = SECLOG_SEVERITY_INFO,
                                     .type = SECLOG_TYPE_SECURITY,
                                     .topic = BENCH_TOPIC,
                                     .params = b->params,
                                     .n_params = 2};
    bench_entry_next(b, 0);
}

const struct seclog_entry *bench_entry_next(struct bench_entry *b, uint64_t n)
{
    /* 20 digits: the producer in the top digits, the counter below. */
    (void)snprintf(b->handle, sizeof(b->handle), "%020" PRIu64,
                   b->producer * UINT64_C(1000000000000000) + n);
    return &b->entry;
}

size_t bench_entry_disk_bytes(const struct seclog_entry *e)
{
    size_t len = RECORD_FIXED_BYTES + strlen(e->topic);

    for (size_t i = 0; i < e->n_params; i++)
        len += PARAM_HEAD_BYTES + strlen(e->params[i].key) + strlen(e->params[i].value);
    return (len + RECORD_ALIGN - 1) / RECORD_ALIGN * RECORD_ALIGN;
}

/* ---- output ----------------------------------------------------------------------------- */

void bench_print(const char *name, double value, int decimals, const char *unit)
{
    printf("%s: %.*f %s\n", name, decimals, value, unit);
    (void)fflush(stdout);
}

void bench_target(const char *name, bool met)
{
    printf("target_%s: %s\n", name, met ? "met" : "missed");
    (void)fflush(stdout);
}

void bench_note(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("# ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    (void)fflush(stdout);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

double bench_median(const double *v, size_t n)
{
    double s[64];

    if (n == 0)
        return 0;
    if (n > ARRAY_SIZE(s))
        n = ARRAY_SIZE(s);
    memcpy(s, v, n * sizeof(*v));
    qsort(s, n, sizeof(*s), cmp_double);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

double bench_mean(const double *v, size_t n)
{
    double sum = 0;

    for (size_t i = 0; i < n; i++)
        sum += v[i];
    return n ? sum / (double)n : 0;
}

/* ---- working directory ------------------------------------------------------------------ */

char *bench_path(const char *dir, const char *name)
{
    char *p = fs_path_join(dir, name);

    if (!p) {
        fprintf(stderr, "bench_seclog: out of memory\n");
        exit(1);
    }
    return p;
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

int bench_rm_rf(const char *path)
{
    if (!fs_exists(path))
        return 0;
    return nftw(path, rm_one, RM_FDS, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -errno;
}

static bool seg_name_index(const char *name, uint64_t *ret_index)
{
    uint64_t v = 0;

    if (strlen(name) != SEG_NAME_LEN || strncmp(name, "seg-", 4) != 0 ||
        strcmp(name + 20, ".log") != 0)
        return false;
    for (int i = 4; i < 20; i++) {
        char c = name[i];

        if (c >= '0' && c <= '9')
            v = v << 4 | (uint64_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v << 4 | (uint64_t)(c - 'a' + 10);
        else
            return false;
    }
    *ret_index = v;
    return true;
}

int bench_segs_scan(const char *dir, struct bench_segs *ret)
{
    struct bench_segs s = {0};
    struct dirent *de;
    DIR *d = opendir(dir);
    uint64_t index;

    if (!d)
        return -errno;
    while ((de = readdir(d))) {
        if (!seg_name_index(de->d_name, &index))
            continue;
        if (s.count == 0 || index < s.min_index)
            s.min_index = index;
        if (s.count == 0 || index > s.max_index)
            s.max_index = index;
        s.count++;
    }
    (void)closedir(d);
    *ret = s;
    return 0;
}

/* Calls fn(dir, name, arg) for every regular file directly in dir. */
static void files_each(const char *dir, void (*fn)(const char *path, void *arg), void *arg)
{
    struct dirent *de;
    DIR *d = opendir(dir);

    if (!d)
        return;
    while ((de = readdir(d))) {
        char *p;
        struct stat st;

        if (de->d_name[0] == '.')
            continue;
        p = bench_path(dir, de->d_name);
        if (lstat(p, &st) == 0 && S_ISREG(st.st_mode))
            fn(p, arg);
        free(p);
    }
    (void)closedir(d);
}

static void usage_add(const char *path, void *arg)
{
    struct stat st;

    if (stat(path, &st) == 0)
        *(uint64_t *)arg += (uint64_t)st.st_blocks * 512;
}

uint64_t bench_dir_usage(const char *dir)
{
    uint64_t sum = 0;

    files_each(dir, usage_add, &sum);
    return sum;
}

static void cache_drop(const char *path, void *arg)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return;
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    (void)close(fd);
}

void bench_dir_drop_cache(const char *dir)
{
    files_each(dir, cache_drop, NULL);
}

uint64_t bench_file_size(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

double bench_cpu_s(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) < 0)
        return 0;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

int bench_log_open(const char *dir, uint64_t capacity_bytes, struct seclog **ret_log)
{
    char key_path[4096];
    struct seclog_config cfg = {
        .dir = dir,
        .name = "bench",
        .capacity_bytes = capacity_bytes,
        .segment_bytes = BENCH_SEGMENT_BYTES,
        .verification_key_path = key_path,
    };

    /* The verification key is the admin's copy: outside the log directory. */
    if (snprintf(key_path, sizeof(key_path), "%s.key", dir) >= (int)sizeof(key_path))
        return -ENAMETOOLONG;
    return seclog_open(&cfg, ret_log);
}
