/* log: the system log for operators, one line per message on stderr.
 *
 * Invariants:
 *  1. A line is written with one write(2), so lines from threads never interleave.
 *  2. Messages below the configured level cost one comparison.
 * The security log is not this: auditors read seclog records (DESIGN.md section 5). */
#include "base/base.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Lines longer than this are cut; an operator message never needs more. */
#define LOG_LINE_MAX 2048

static _Atomic int min_level = LOG_LEVEL_INFO;

static pthread_rwlock_t sink_lock = PTHREAD_RWLOCK_INITIALIZER;
static log_sink_fn sink_fn; /* under sink_lock */
static void *sink_arg;
/* Set while this thread runs the sink, so a line the sink logs does not come back to it. */
static _Thread_local bool in_sink;

static const char *const level_names[LOG_LEVEL_MAX] = {"Debug", "Info", "Warning", "Error",
                                                       "Fatal"};

const char *log_level_to_string(enum log_level level)
{
    return level < LOG_LEVEL_MAX ? level_names[level] : "Unknown";
}

int log_level_from_string(const char *s, enum log_level *ret_level)
{
    for (size_t i = 0; s && i < LOG_LEVEL_MAX; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *ret_level = (enum log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

void log_level_set(enum log_level level)
{
    atomic_store(&min_level, (int)level);
}

enum log_level log_level_get(void)
{
    return (enum log_level)atomic_load(&min_level);
}

void log_sink_set(log_sink_fn fn, void *arg)
{
    pthread_rwlock_wrlock(&sink_lock);
    sink_fn = fn;
    sink_arg = arg;
    pthread_rwlock_unlock(&sink_lock);
}

static void to_sink(enum log_level level, const char *message)
{
    if (in_sink)
        return;
    pthread_rwlock_rdlock(&sink_lock);
    if (sink_fn) {
        in_sink = true;
        sink_fn(level, message, sink_arg);
        in_sink = false;
    }
    pthread_rwlock_unlock(&sink_lock);
}

__attribute__((format(printf, 3, 0))) static void
log_vline(enum log_level level, const char *suffix, const char *fmt, va_list ap)
{
    char line[LOG_LINE_MAX];
    char ts[32];
    size_t prefix_len;
    int n, m;

    n = snprintf(line, sizeof(line), "%s %-7s ", clock_format_iso(clock_now_ms(), ts, sizeof(ts)),
                 log_level_to_string(level));
    if (n < 0 || (size_t)n >= sizeof(line))
        return;
    prefix_len = (size_t)n;
    m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    if (m < 0)
        return;
    n = (size_t)(n + m) >= sizeof(line) - 2 ? (int)sizeof(line) - 2 : n + m;
    if (suffix) {
        m = snprintf(line + n, sizeof(line) - (size_t)n, ": %s", suffix);
        if (m > 0)
            n = (size_t)(n + m) >= sizeof(line) - 2 ? (int)sizeof(line) - 2 : n + m;
    }
    line[n] = '\0';
    to_sink(level, line + prefix_len);
    line[n++] = '\n';
    (void)!write(STDERR_FILENO, line, (size_t)n);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    va_list ap;

    if ((int)level < atomic_load(&min_level))
        return;
    va_start(ap, fmt);
    log_vline(level, NULL, fmt, ap);
    va_end(ap);
}

int log_errno(enum log_level level, int r, const char *fmt, ...)
{
    va_list ap;
    char err[128];

    if ((int)level < atomic_load(&min_level))
        return r;
    /* strerror_r is the GNU variant under _GNU_SOURCE: it returns the text. */
    va_start(ap, fmt);
    log_vline(level, strerror_r(r < 0 ? -r : r, err, sizeof(err)), fmt, ap);
    va_end(ap);
    return r;
}
