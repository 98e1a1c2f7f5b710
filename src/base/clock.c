/* clock: the process-wide time source and the timers that run on it.
 *
 * The real clock reads CLOCK_REALTIME and CLOCK_MONOTONIC. The virtual clock reads the same
 * and adds an offset that clock_advance() grows, so a test can make ten days pass in a second
 * while everything else keeps running in real time.
 *
 * Timers live in one list sorted by deadline (on clock_mono_ms()); one libevent timer is armed
 * for the earliest. Invariants:
 *  1. The offset only grows: virtual time never runs backwards.
 *  2. A timer is in the list exactly when it is pending.
 *  3. clock_advance() fires due timers one at a time in deadline order, with the clock set to
 *     each deadline while it fires, so periodic timers fire as often as the time passed asks.
 *  4. Nothing but this file calls clock_gettime(). */
#include "base/base.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

struct clock_timer {
    clock_timer_fn fn;
    void *arg;
    int64_t deadline_ms;
    bool pending;
    struct clock_timer *next;
};

static enum clock_mode clock_source = CLOCK_MODE_REAL;
static _Atomic int64_t virtual_offset_ms;
static struct event *timer_event;
static struct clock_timer *timers;

static const char *const mode_names[CLOCK_MODE_MAX] = {"real", "virtual"};

const char *clock_mode_to_string(enum clock_mode mode)
{
    return mode < CLOCK_MODE_MAX ? mode_names[mode] : "unknown";
}

int clock_mode_from_string(const char *s, enum clock_mode *ret_mode)
{
    for (size_t i = 0; i < CLOCK_MODE_MAX; i++) {
        if (s && strcmp(s, mode_names[i]) == 0) {
            *ret_mode = (enum clock_mode)i;
            return 0;
        }
    }
    return -EINVAL;
}

void clock_init(enum clock_mode mode)
{
    clock_source = mode;
    atomic_store(&virtual_offset_ms, 0);
}

enum clock_mode clock_mode_get(void)
{
    return clock_source;
}

static int64_t read_clock(clockid_t id)
{
    struct timespec ts;

    (void)clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_now_ms(void)
{
    return read_clock(CLOCK_REALTIME) + atomic_load(&virtual_offset_ms);
}

int64_t clock_mono_ms(void)
{
    return read_clock(CLOCK_MONOTONIC) + atomic_load(&virtual_offset_ms);
}

int64_t clock_real_mono_ms(void)
{
    return read_clock(CLOCK_MONOTONIC);
}

int64_t clock_real_mono_us(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t clock_offset_ms(void)
{
    return atomic_load(&virtual_offset_ms);
}

char *clock_format_iso(int64_t wall_ms, char *buf, size_t size)
{
    time_t secs = (time_t)(wall_ms / 1000);
    int ms = (int)(wall_ms % 1000);
    struct tm tm;

    if (ms < 0) {
        ms += 1000;
        secs -= 1;
    }
    if (!gmtime_r(&secs, &tm)) {
        (void)str_copy(buf, size, "1970-01-01T00:00:00.000Z");
        return buf;
    }
    (void)snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
    return buf;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : days[m - 1];
}

int clock_parse_iso(const char *s, int64_t *ret_wall_ms)
{
    int y, mo, d, h, mi, sec, n = 0;
    int64_t ms = 0;
    const char *p;

    if (!s)
        return -EINVAL;
    if (str_to_int64(s, &ms) == 0) {
        *ret_wall_ms = ms;
        return 0;
    }
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
        return -EINVAL;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
        sec > 60)
        return -EINVAL;
    p = s + n;
    ms = 0;
    if (*p == '.') {
        int digits = 0;

        for (p++; *p >= '0' && *p <= '9'; p++, digits++) {
            if (digits < 3)
                ms = ms * 10 + (*p - '0');
        }
        if (digits == 0)
            return -EINVAL;
        for (; digits < 3; digits++)
            ms *= 10;
    }
    if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0)
        return -EINVAL;
    *ret_wall_ms = ((days_from_civil(y, (unsigned)mo, (unsigned)d) * 24 + h) * 60 + mi) * 60000 +
                   (int64_t)sec * 1000 + ms;
    return 0;
}

/* ---- timers ----------------------------------------------------------------------------- */

static void arm_event(void)
{
    struct timeval tv;
    int64_t delay;

    if (!timer_event)
        return;
    if (!timers) {
        (void)event_del(timer_event);
        return;
    }
    delay = timers->deadline_ms - clock_mono_ms();
    if (delay < 0)
        delay = 0;
    tv.tv_sec = (time_t)(delay / 1000);
    tv.tv_usec = (suseconds_t)((delay % 1000) * 1000);
    (void)event_add(timer_event, &tv);
}

static void list_remove(struct clock_timer *t)
{
    for (struct clock_timer **p = &timers; *p; p = &(*p)->next) {
        if (*p == t) {
            *p = t->next;
            break;
        }
    }
    t->next = NULL;
    t->pending = false;
}

static void list_insert(struct clock_timer *t)
{
    struct clock_timer **p = &timers;

    /* Equal deadlines keep insertion order. */
    while (*p && (*p)->deadline_ms <= t->deadline_ms)
        p = &(*p)->next;
    t->next = *p;
    *p = t;
    t->pending = true;
}

/* Pops and runs the first timer if it is due at mono time now. Returns true if one ran. */
static bool fire_one(int64_t now)
{
    struct clock_timer *t = timers;

    if (!t || t->deadline_ms > now)
        return false;
    list_remove(t);
    t->fn(t->arg);
    return true;
}

static void on_timer_event(evutil_socket_t fd, short what, void *arg)
{
    /* Bounded: a callback that re-arms with delay 0 runs again on the next loop turn, not
     * here, so one turn never spins. */
    size_t budget = 64;

    while (budget-- > 0 && fire_one(clock_mono_ms()))
        ;
    arm_event();
}

int clock_attach(struct event_base *base)
{
    if (timer_event)
        return -EBUSY;
    timer_event = event_new(base, -1, 0, on_timer_event, NULL);
    if (!timer_event)
        return -ENOMEM;
    arm_event();
    return 0;
}

void clock_detach(void)
{
    if (timer_event) {
        event_free(timer_event);
        timer_event = NULL;
    }
}

struct clock_timer *clock_timer_new(clock_timer_fn fn, void *arg)
{
    struct clock_timer *t = calloc(1, sizeof(*t));

    if (!t)
        return NULL;
    t->fn = fn;
    t->arg = arg;
    return t;
}

void clock_timer_start(struct clock_timer *t, int64_t delay_ms)
{
    if (t->pending)
        list_remove(t);
    t->deadline_ms = clock_mono_ms() + (delay_ms > 0 ? delay_ms : 0);
    list_insert(t);
    arm_event();
}

void clock_timer_stop(struct clock_timer *t)
{
    if (t && t->pending) {
        list_remove(t);
        arm_event();
    }
}

bool clock_timer_is_pending(const struct clock_timer *t)
{
    return t && t->pending;
}

struct clock_timer *clock_timer_free(struct clock_timer *t)
{
    if (!t)
        return NULL;
    clock_timer_stop(t);
    free(t);
    return NULL;
}

int clock_advance(int64_t ms)
{
    int64_t target;

    if (clock_source != CLOCK_MODE_VIRTUAL)
        return -EPERM;
    if (ms < 0)
        return -EINVAL;
    target = clock_mono_ms() + ms;
    /* Step to each due deadline in turn (invariant 3). A timer that re-arms itself with a
     * positive delay moves forward each time, so the loop ends at target. */
    while (timers && timers->deadline_ms <= target) {
        int64_t step = timers->deadline_ms - clock_mono_ms();

        if (step > 0)
            atomic_fetch_add(&virtual_offset_ms, step);
        (void)fire_one(clock_mono_ms());
    }
    {
        int64_t rest = target - clock_mono_ms();

        if (rest > 0)
            atomic_fetch_add(&virtual_offset_ms, rest);
    }
    arm_event();
    return 0;
}

int duration_parse_ms(const char *s, int64_t *ret_ms)
{
    char *end = NULL;
    long long v;
    int64_t unit = 1000;

    if (!s || !*s || *s == '-' || *s == '+')
        return -EINVAL;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == s)
        return -EINVAL;
    if (*end) {
        if (end[1] != '\0')
            return -EINVAL;
        switch (*end) {
        case 's':
            unit = 1000;
            break;
        case 'm':
            unit = 60 * 1000;
            break;
        case 'h':
            unit = 3600 * 1000;
            break;
        case 'd':
            unit = 86400 * 1000;
            break;
        default:
            return -EINVAL;
        }
    }
    /* At most ten years: more is a typo, and it keeps the product far from overflow. */
    if (v > (int64_t)3650 * 86400 * 1000 / unit)
        return -ERANGE;
    *ret_ms = (int64_t)v * unit;
    return 0;
}
