/* Unit tests for the clock: virtual offset, timers firing in order on advance, durations. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "base/base.h"

struct fired {
    int order[16];
    int n;
    int64_t at[16];
};

struct tagged {
    struct fired *log;
    int tag;
    struct clock_timer *self;
    int64_t period; /* > 0: re-arm */
};

static void on_fire(void *arg)
{
    struct tagged *t = arg;

    if (t->log->n < 16) {
        t->log->order[t->log->n] = t->tag;
        t->log->at[t->log->n] = clock_mono_ms();
        t->log->n++;
    }
    if (t->period > 0)
        clock_timer_start(t->self, t->period);
}

static void real_clock_refuses_advance(void **state)
{
    clock_init(CLOCK_MODE_REAL);
    assert_int_equal(clock_advance(1000), -EPERM);
    assert_int_equal(clock_offset_ms(), 0);
}

static void virtual_advance_moves_wall_and_mono_time(void **state)
{
    int64_t w0, m0;

    clock_init(CLOCK_MODE_VIRTUAL);
    w0 = clock_now_ms();
    m0 = clock_mono_ms();
    assert_int_equal(clock_advance(10LL * 86400 * 1000), 0);
    assert_true(clock_now_ms() - w0 >= 10LL * 86400 * 1000);
    assert_true(clock_mono_ms() - m0 >= 10LL * 86400 * 1000);
    assert_int_equal(clock_offset_ms(), 10LL * 86400 * 1000);
    assert_int_equal(clock_advance(-1), -EINVAL);
}

static void advance_fires_due_timers_in_deadline_order(void **state)
{
    struct event_base *base = event_base_new();
    struct fired log = {0};
    struct tagged a = {&log, 1, NULL, 0}, b = {&log, 2, NULL, 0}, c = {&log, 3, NULL, 0};

    clock_init(CLOCK_MODE_VIRTUAL);
    assert_int_equal(clock_attach(base), 0);
    a.self = clock_timer_new(on_fire, &a);
    b.self = clock_timer_new(on_fire, &b);
    c.self = clock_timer_new(on_fire, &c);
    clock_timer_start(a.self, 3000000);
    clock_timer_start(b.self, 1000000);
    clock_timer_start(c.self, 9000000);
    assert_int_equal(clock_advance(5000000), 0);
    assert_int_equal(log.n, 2);
    assert_int_equal(log.order[0], 2);
    assert_int_equal(log.order[1], 1);
    assert_true(clock_timer_is_pending(c.self));
    assert_false(clock_timer_is_pending(a.self));
    clock_timer_free(a.self);
    clock_timer_free(b.self);
    clock_timer_free(c.self);
    clock_detach();
    event_base_free(base);
}

static void periodic_timer_fires_once_per_period_passed(void **state)
{
    struct event_base *base = event_base_new();
    struct fired log = {0};
    struct tagged p = {&log, 7, NULL, 3600 * 1000};

    clock_init(CLOCK_MODE_VIRTUAL);
    assert_int_equal(clock_attach(base), 0);
    p.self = clock_timer_new(on_fire, &p);
    clock_timer_start(p.self, 3600 * 1000);
    assert_int_equal(clock_advance(10LL * 3600 * 1000 + 1), 0);
    assert_int_equal(log.n, 10);
    /* The clock reads each deadline as its timer fires. */
    assert_true(log.at[1] - log.at[0] >= 3600 * 1000);
    assert_true(log.at[1] - log.at[0] < 3600 * 1000 + 1000);
    clock_timer_free(p.self);
    clock_detach();
    event_base_free(base);
}

static void stopped_timer_does_not_fire(void **state)
{
    struct event_base *base = event_base_new();
    struct fired log = {0};
    struct tagged a = {&log, 1, NULL, 0};

    clock_init(CLOCK_MODE_VIRTUAL);
    assert_int_equal(clock_attach(base), 0);
    a.self = clock_timer_new(on_fire, &a);
    clock_timer_start(a.self, 1000);
    clock_timer_stop(a.self);
    assert_int_equal(clock_advance(5000), 0);
    assert_int_equal(log.n, 0);
    clock_timer_free(a.self);
    clock_detach();
    event_base_free(base);
}

static void loop_fires_zero_delay_timer(void **state)
{
    struct event_base *base = event_base_new();
    struct fired log = {0};
    struct tagged a = {&log, 5, NULL, 0};

    clock_init(CLOCK_MODE_REAL);
    assert_int_equal(clock_attach(base), 0);
    a.self = clock_timer_new(on_fire, &a);
    clock_timer_start(a.self, 0);
    assert_int_equal(event_base_loop(base, EVLOOP_ONCE), 0);
    assert_int_equal(log.n, 1);
    clock_timer_free(a.self);
    clock_detach();
    event_base_free(base);
}

static void durations_parse_with_units(void **state)
{
    int64_t ms;

    assert_int_equal(duration_parse_ms("10d", &ms), 0);
    assert_int_equal(ms, 10LL * 86400 * 1000);
    assert_int_equal(duration_parse_ms("2h", &ms), 0);
    assert_int_equal(ms, 2LL * 3600 * 1000);
    assert_int_equal(duration_parse_ms("15m", &ms), 0);
    assert_int_equal(ms, 15LL * 60 * 1000);
    assert_int_equal(duration_parse_ms("90", &ms), 0);
    assert_int_equal(ms, 90000);
    assert_int_equal(duration_parse_ms("90s", &ms), 0);
    assert_int_equal(ms, 90000);
    assert_int_equal(duration_parse_ms("", &ms), -EINVAL);
    assert_int_equal(duration_parse_ms("-5s", &ms), -EINVAL);
    assert_int_equal(duration_parse_ms("5x", &ms), -EINVAL);
    assert_int_equal(duration_parse_ms("5dd", &ms), -EINVAL);
    assert_int_equal(duration_parse_ms("d", &ms), -EINVAL);
    assert_int_equal(duration_parse_ms("99999999999d", &ms), -ERANGE);
}

static void iso_format_is_utc_with_millis(void **state)
{
    char buf[32];

    assert_string_equal(clock_format_iso(0, buf, sizeof(buf)), "1970-01-01T00:00:00.000Z");
    assert_string_equal(clock_format_iso(1790668277123LL, buf, sizeof(buf)),
                        "2026-09-29T07:51:17.123Z");
}

static void iso_parse_round_trips_and_refuses_junk(void **state)
{
    char buf[32];
    int64_t ms;

    assert_int_equal(clock_parse_iso("2026-09-29T07:51:17.123Z", &ms), 0);
    assert_int_equal(ms, 1790668277123LL);
    assert_int_equal(clock_parse_iso(clock_format_iso(1790668277123LL, buf, sizeof(buf)), &ms), 0);
    assert_int_equal(ms, 1790668277123LL);
    assert_int_equal(clock_parse_iso("2026-09-29T07:51:17Z", &ms), 0);
    assert_int_equal(ms, 1790668277000LL);
    assert_int_equal(clock_parse_iso("2024-02-29T00:00:00+00:00", &ms), 0);
    assert_int_equal(ms, 1709164800000LL);
    assert_int_equal(clock_parse_iso("1790668277123", &ms), 0);
    assert_int_equal(ms, 1790668277123LL);
    assert_int_equal(clock_parse_iso("2026-09-29 07:51:17Z", &ms), -EINVAL);
    assert_int_equal(clock_parse_iso("2026-13-29T07:51:17Z", &ms), -EINVAL);
    assert_int_equal(clock_parse_iso("2026-02-29T07:51:17Z", &ms), -EINVAL);
    assert_int_equal(clock_parse_iso("2026-04-31T07:51:17Z", &ms), -EINVAL);
    assert_int_equal(clock_parse_iso("2026-09-29T07:51:17+02:00", &ms), -EINVAL);
    assert_int_equal(clock_parse_iso("yesterday", &ms), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(real_clock_refuses_advance),
        cmocka_unit_test(virtual_advance_moves_wall_and_mono_time),
        cmocka_unit_test(advance_fires_due_timers_in_deadline_order),
        cmocka_unit_test(periodic_timer_fires_once_per_period_passed),
        cmocka_unit_test(stopped_timer_does_not_fire),
        cmocka_unit_test(loop_fires_zero_delay_timer),
        cmocka_unit_test(durations_parse_with_units),
        cmocka_unit_test(iso_format_is_utc_with_millis),
        cmocka_unit_test(iso_parse_round_trips_and_refuses_junk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
