/* Unit tests for rotation, eviction and retention (writer.c, retention.c) on 64 KiB segments
 * and the virtual clock. */
#include "engine_test.h"

#include <sys/stat.h>

/* Entries of about 1 KiB: a 64 KiB segment holds about 50. */
#define VALUE_BYTES 1000

static size_t segments(struct fx *fx, struct seclog__view *ret_or_null)
{
    struct seclog__view v;
    size_t n;

    assert_int_equal(seclog__snapshot(fx->log, &v), 0);
    n = v.n;
    if (ret_or_null)
        *ret_or_null = v;
    else
        seclog__view_done(&v);
    return n;
}

static uint64_t reserve_bytes(struct fx *fx)
{
    char *path = fs_path_join(fx->dir, "reserve");
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    free(path);
    return (uint64_t)st.st_size;
}

static void rotation_keeps_the_chain_across_segments(void **state)
{
    struct fx *fx = *state;
    struct seclog__view v;
    struct rec_list l;

    fx_open(fx);
    fx_append_n(fx, "TEST/A", 300, VALUE_BYTES);
    (void)fx_settle(fx);
    assert_true(segments(fx, &v) >= 5);
    for (size_t i = 1; i < v.n; i++) {
        assert_true(v.segs[i - 1].closed);
        assert_int_equal(v.segs[i].first_seq, v.segs[i - 1].last_seq + 1);
    }
    assert_int_equal(reserve_bytes(fx), (16 - v.n) * (uint64_t)TEST_SEG_BYTES);
    seclog__view_done(&v);
    verify_ok(fx->log, NULL);
    fx_reopen(fx);
    recs_collect(fx->log, &l);
    assert_int_equal(recs_count(&l, "TEST/A"), 300);
    recs_free(&l);
    verify_ok(fx->log, NULL);
}

static void evicting_young_entries_counts_an_overflow(void **state)
{
    struct fx *fx = *state;
    const struct rec_item *r;
    struct seclog_status st;
    struct rec_list l;
    char buf[40];

    fx->cfg.capacity_bytes = 4ull * TEST_SEG_BYTES;
    fx_open(fx);
    fx_append_n(fx, "TEST/A", 300, VALUE_BYTES); /* about six segments' worth */
    (void)fx_settle(fx);
    assert_int_equal(segments(fx, NULL), 4);
    assert_int_equal(reserve_bytes(fx), 0);
    seclog_status_get(fx->log, &st);
    assert_true(st.overflow_events >= 1);
    recs_collect(fx->log, &l);
    assert_int_equal(recs_count(&l, "LOG/EVICTED"), st.overflow_events);
    assert_true(st.overflow_events >= 2);
    assert_int_equal(recs_count(&l, "LOG/RETENTION"), 0);
    r = recs_find(&l, "LOG/EVICTED", 0);
    assert_true(rec_param(r, "Overflow", buf, sizeof(buf)));
    assert_string_equal(buf, "true");
    assert_int_equal(rec_param_u64(r, "FromSeq"), 1);
    assert_true(rec_param_u64(r, "Records") > 0);
    assert_true(rec_param(r, "Oldest", buf, sizeof(buf)));
    assert_true(rec_param(r, "Newest", buf, sizeof(buf)));
    recs_free(&l);
    verify_ok(fx->log, NULL); /* the missing head is accounted for */
}

static void evicting_expired_entries_is_retention_not_overflow(void **state)
{
    struct fx *fx = *state;
    struct seclog_status st;
    struct rec_list l;
    char buf[16];

    fx->cfg.capacity_bytes = 4ull * TEST_SEG_BYTES;
    fx_open(fx);
    fx_append_n(fx, "TEST/OLD", 100, VALUE_BYTES);
    (void)fx_settle(fx);
    assert_int_equal(clock_advance(11 * TEST_DAY_MS), 0);
    fx_append_n(fx, "TEST/NEW", 120, VALUE_BYTES);
    (void)fx_settle(fx);
    seclog_status_get(fx->log, &st);
    assert_int_equal(st.overflow_events, 0);
    recs_collect(fx->log, &l);
    assert_int_equal(recs_count(&l, "LOG/EVICTED"), 0);
    assert_true(recs_count(&l, "LOG/RETENTION") >= 1);
    assert_true(rec_param(recs_find(&l, "LOG/RETENTION", 0), "Overflow", buf, sizeof(buf)));
    assert_string_equal(buf, "false");
    recs_free(&l);
    verify_ok(fx->log, NULL);
}

static void retention_removes_exactly_the_expired_segments(void **state)
{
    struct fx *fx = *state;
    struct seclog__view v;
    struct rec_list l;
    size_t old_segments;
    uint64_t old_last;

    fx_open(fx);
    fx_append_n(fx, "TEST/OLD", 120, VALUE_BYTES);
    old_last = fx_settle(fx);
    old_segments = segments(fx, NULL);
    assert_true(old_segments >= 2);
    assert_int_equal(clock_advance(11 * TEST_DAY_MS), 0);
    fx_append_n(fx, "TEST/NEW", 10, VALUE_BYTES); /* the day-old tail rotates first */
    (void)fx_settle(fx);
    assert_int_equal(segments(fx, NULL), old_segments + 1);
    seclog_retention_run(fx->log);
    (void)fx_settle(fx);
    assert_int_equal(segments(fx, &v), 1);
    assert_int_equal(v.segs[0].first_seq, old_last + 1);
    seclog__view_done(&v);
    assert_int_equal(reserve_bytes(fx), 15ull * TEST_SEG_BYTES);
    recs_collect(fx->log, &l);
    assert_int_equal(recs_count(&l, "TEST/OLD"), 0);
    assert_int_equal(recs_count(&l, "TEST/NEW"), 10);
    assert_int_equal(recs_count(&l, "LOG/RETENTION"), old_segments);
    assert_int_equal(rec_param_u64(recs_find(&l, "LOG/RETENTION", 0), "FromSeq"), 1);
    assert_int_equal(rec_param_u64(recs_find(&l, "LOG/RETENTION", old_segments - 1), "UpToSeq"),
                     old_last);
    recs_free(&l);
    verify_ok(fx->log, NULL);
    /* A second run finds nothing more to do. */
    seclog_retention_run(fx->log);
    (void)fx_settle(fx);
    assert_int_equal(segments(fx, NULL), 1);
}

static void retention_closes_an_expired_tail_so_it_can_go(void **state)
{
    struct fx *fx = *state;
    struct rec_list l;

    fx_open(fx);
    fx_append_n(fx, "TEST/OLD", 5, 10);
    (void)fx_settle(fx);
    assert_int_equal(clock_advance(11 * TEST_DAY_MS), 0);
    seclog_retention_run(fx->log);
    (void)fx_settle(fx);
    recs_collect(fx->log, &l);
    assert_int_equal(recs_count(&l, "TEST/OLD"), 0);
    assert_int_equal(recs_count(&l, "LOG/RETENTION"), 1);
    recs_free(&l);
    assert_int_equal(segments(fx, NULL), 1);
    verify_ok(fx->log, NULL);
}

static void retention_keeps_young_segments(void **state)
{
    struct fx *fx = *state;
    size_t before;

    fx_open(fx);
    fx_append_n(fx, "TEST/A", 150, VALUE_BYTES);
    (void)fx_settle(fx);
    before = segments(fx, NULL);
    assert_int_equal(clock_advance(9 * TEST_DAY_MS), 0);
    seclog_retention_run(fx->log);
    (void)fx_settle(fx);
    /* Nine days on, the tail rotated for age but nothing expired. */
    assert_true(segments(fx, NULL) >= before);
    seclog_set_retention(fx->log, 8 * TEST_DAY_MS); /* a shorter setting applies at once */
    (void)fx_settle(fx);
    (void)fx_settle(fx);
    assert_int_equal(segments(fx, NULL), 1);
    verify_ok(fx->log, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(rotation_keeps_the_chain_across_segments, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(evicting_young_entries_counts_an_overflow, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(evicting_expired_entries_is_retention_not_overflow,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(retention_removes_exactly_the_expired_segments, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(retention_closes_an_expired_tail_so_it_can_go, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(retention_keeps_young_segments, fx_setup, fx_teardown),
    };

    clock_init(CLOCK_MODE_VIRTUAL);
    log_level_set(LOG_LEVEL_FATAL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
