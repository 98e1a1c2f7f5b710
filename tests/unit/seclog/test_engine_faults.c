/* Unit tests for the seclog engine under faults (queue.c, writer.c): a full queue drops and
 * counts, an fdatasync failure is final for its batch, write errors make the log unwritable
 * until the disk recovers (seen through the status callback on a real event loop), and close
 * does not hang on a dead disk. */
#include "engine_test.h"

#include <sched.h>

#include <event2/event.h>
#include <event2/thread.h>

struct loop {
    struct event_base *base;
    struct event *tick; /* keeps EVLOOP_ONCE from returning at once when nothing is pending */
    struct seclog_status last;
    unsigned calls;
};

static void on_status(struct seclog *log, const struct seclog_status *st, void *arg)
{
    struct loop *lp = arg;

    lp->last = *st;
    lp->calls++;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
}

static void loop_init(struct loop *lp, struct fx *fx)
{
    struct timeval tv = {0, 50000};

    memset(lp, 0, sizeof(*lp));
    lp->base = event_base_new();
    assert_non_null(lp->base);
    lp->tick = event_new(lp->base, -1, EV_PERSIST, tick_cb, NULL);
    assert_int_equal(event_add(lp->tick, &tv), 0);
    fx->cfg.base = lp->base;
    fx->cfg.on_status = on_status;
    fx->cfg.arg = lp;
}

static void loop_done(struct loop *lp)
{
    event_free(lp->tick);
    event_base_free(lp->base);
}

/* Runs the loop until the status callback reported writable == want, at most TEST_WAIT_MS. */
static void loop_until_writable(struct loop *lp, bool want)
{
    int64_t until = clock_real_mono_ms() + TEST_WAIT_MS;

    while (!(lp->calls > 0 && lp->last.writable == want) && clock_real_mono_ms() < until)
        assert_true(event_base_loop(lp->base, EVLOOP_ONCE) >= 0);
    assert_true(lp->calls > 0);
    assert_true(lp->last.writable == want);
}

static void full_queue_drops_are_counted_and_logged(void **state)
{
    struct fx *fx = *state;
    struct seclog_entry e = {.topic = "TEST/FILL", .params = NULL};
    struct seclog_param p = {"N", NULL};
    struct seclog_status st;
    struct rec_list l;
    uint64_t sum = 0, last_total = 0, queued = 0, dropped = 0;
    int64_t t0;
    char n[24];
    int r;

    fx->cfg.capacity_bytes = 64ull * TEST_SEG_BYTES; /* room for a full queue: no eviction */
    fx_open(fx);
    io_fault_prefix(fx->dir, EIO); /* the writer holds one batch and backs off */
    e.params = &p;
    e.n_params = 1;
    p.value = n;
    t0 = clock_real_mono_ms();
    for (int i = 0; i < SECLOG__QUEUE_CAP + SECLOG__BATCH_MAX + 1000; i++) {
        (void)snprintf(n, sizeof(n), "%d", i);
        r = seclog_append(fx->log, &e);
        assert_true(r == 0 || r == -ENOBUFS);
        queued += r == 0;
        dropped += r == -ENOBUFS;
    }
    /* Never blocks: ~17,600 appends against a dead disk take no time worth measuring. */
    assert_true(clock_real_mono_ms() - t0 < 5000);
    assert_true(queued >= SECLOG__QUEUE_CAP && queued <= SECLOG__QUEUE_CAP + SECLOG__BATCH_MAX);
    assert_true(dropped >= 1000);
    seclog_status_get(fx->log, &st);
    assert_int_equal(st.dropped, dropped);
    io_fault_clear();
    /* Room comes back once the writer's back-off ends; yield (no sleep) until it has. */
    t0 = clock_real_mono_ms();
    for (;;) {
        struct seclog_entry m = {.topic = "TEST/SYNC"};

        r = seclog_append_durable(fx->log, &m, TEST_WAIT_MS, NULL);
        if (r != -ENOBUFS || clock_real_mono_ms() - t0 > TEST_WAIT_MS)
            break;
        (void)sched_yield();
    }
    assert_int_equal(r, 0);
    (void)fx_settle(fx);
    seclog_status_get(fx->log, &st);
    recs_collect(fx->log, &l);
    assert_int_equal(recs_count(&l, "TEST/FILL"), queued);
    assert_true(recs_count(&l, "LOG/DROPPED") >= 1);
    for (size_t i = 0; recs_find(&l, "LOG/DROPPED", i); i++) {
        sum += rec_param_u64(recs_find(&l, "LOG/DROPPED", i), "Count");
        last_total = rec_param_u64(recs_find(&l, "LOG/DROPPED", i), "Total");
    }
    /* Nothing dropped silently: the records account for every drop. */
    assert_int_equal(sum, st.dropped);
    assert_int_equal(last_total, st.dropped);
    recs_free(&l);
    verify_ok(fx->log, NULL);
}

static void fdatasync_failure_is_final_for_its_batch(void **state)
{
    struct fx *fx = *state;
    struct seclog_entry a = {.topic = "TEST/LOST"};
    struct seclog__view v;
    const struct rec_item *w;
    struct rec_list l;
    uint64_t before, after;

    fx_open(fx);
    before = fx_mark(fx); /* the writer is idle now */
    io_fault_at(IO_OP_FDATASYNC, 1, EIO);
    assert_int_equal(seclog_append_durable(fx->log, &a, TEST_WAIT_MS, NULL), -EIO);
    after = fx_settle(fx);
    assert_true(after > before + 1);
    assert_int_equal(seclog__snapshot(fx->log, &v), 0);
    assert_int_equal(v.n, 2); /* continued in a new segment */
    assert_true(v.segs[0].closed);
    assert_int_equal(v.segs[0].last_seq, before); /* readers never see the unsynced entry */
    assert_int_equal(v.segs[1].first_seq, before + 2);
    seclog__view_done(&v);
    recs_collect(fx->log, &l);
    assert_int_equal(recs_count(&l, "TEST/LOST"), 0);
    w = recs_find(&l, "LOG/WRITE_ERROR", 0);
    assert_non_null(w);
    assert_int_equal(rec_param_u64(w, "FromSeq"), before + 1);
    assert_int_equal(rec_param_u64(w, "UpToSeq"), before + 1);
    recs_free(&l);
    /* After a restart the closed segment is read by its footer; the chain is whole. */
    fx_reopen(fx);
    verify_ok(fx->log, NULL);
}

static void write_errors_make_the_log_unwritable_until_the_disk_recovers(void **state)
{
    struct fx *fx = *state;
    struct seclog_entry e = {.topic = "TEST/WAIT"};
    struct seclog_status st;
    struct loop lp;

    loop_init(&lp, fx);
    fx_open(fx);
    io_fault_prefix(fx->dir, EIO);
    assert_int_equal(seclog_append(fx->log, &e), 0);
    loop_until_writable(&lp, false);
    assert_int_equal(lp.last.last_error, -EIO);
    seclog_status_get(fx->log, &st);
    assert_false(st.writable);
    /* A durable append waits at most its timeout while the disk fails. */
    assert_int_equal(seclog_append_durable(fx->log, &e, 150, NULL), -ETIMEDOUT);
    io_fault_clear();
    loop_until_writable(&lp, true); /* by itself, after the back-off */
    (void)fx_settle(fx);
    verify_ok(fx->log, NULL);
    fx->log = seclog_close(fx->log);
    loop_done(&lp);
}

static void segment_create_failure_at_open_still_boots(void **state)
{
    struct fx *fx = *state;
    struct seclog_status st;

    assert_int_equal(fs_mkdir_p(fx->dir, 0700), 0);
    io_fault_prefix(fx->dir, ENOSPC);
    fx_open(fx);
    seclog_status_get(fx->log, &st);
    assert_false(st.writable);
    assert_int_equal(st.last_error, -ENOSPC);
    io_fault_clear();
    (void)fx_settle(fx);
    seclog_status_get(fx->log, &st);
    assert_true(st.writable);
    verify_ok(fx->log, NULL);
}

static void close_on_a_dead_disk_returns(void **state)
{
    struct fx *fx = *state;
    struct rec_list l;

    fx_open(fx);
    fx_append_n(fx, "TEST/A", 5, 10);
    (void)fx_mark(fx);
    io_fault_prefix(fx->dir, EIO);
    fx_append_n(fx, "TEST/B", 5, 10);
    fx->log = seclog_close(fx->log); /* one attempt, then gives up */
    io_fault_clear();
    fx_open(fx);
    recs_collect(fx->log, &l);
    assert_int_equal(recs_count(&l, "TEST/A"), 5);
    recs_free(&l);
    verify_ok(fx->log, NULL);
}

static void each_failing_write_of_a_batch_is_retried_without_loss(void **state)
{
    struct fx *fx = *state;
    struct rec_list l;
    uint64_t calls;

    fx_open(fx);
    (void)fx_mark(fx);
    /* Count the pwrites one batch needs, then fail each of them in turn. */
    calls = io_calls(IO_OP_PWRITE);
    fx_append_n(fx, "TEST/COUNT", 3, 10);
    (void)fx_mark(fx);
    calls = io_calls(IO_OP_PWRITE) - calls;
    assert_true(calls >= 1);
    for (uint64_t n = 1; n <= calls; n++) {
        io_fault_at(IO_OP_PWRITE, n, EIO);
        fx_append_n(fx, "TEST/RETRY", 3, 10);
        (void)fx_mark(fx);
    }
    recs_collect(fx->log, &l);
    assert_int_equal(recs_count(&l, "TEST/RETRY"), 3 * calls);
    recs_free(&l);
    verify_ok(fx->log, NULL);
}

/* A batch that rotates through several segments writes in several pwrites (the staged part
 * at each rotation, footers, headers); failing each of them in turn loses nothing and keeps
 * the chain: a failed write returns the batch to where it stood (writer.c, invariant 6). */
static void each_failing_write_of_a_rotating_batch_is_retried_without_loss(void **state)
{
    struct fx *fx = *state;
    struct rec_list l;
    uint64_t calls;

    fx->cfg.capacity_bytes = 64ull * TEST_SEG_BYTES;
    fx_open(fx);
    (void)fx_mark(fx);
    calls = io_calls(IO_OP_PWRITE);
    fx_append_n(fx, "TEST/COUNT", 120, 1000); /* about two and a half 64 KiB segments */
    (void)fx_mark(fx);
    calls = io_calls(IO_OP_PWRITE) - calls;
    assert_true(calls >= 4);
    for (uint64_t n = 1; n <= calls; n++) {
        io_fault_at(IO_OP_PWRITE, n, EIO);
        fx_append_n(fx, "TEST/RETRY", 120, 1000);
        (void)fx_mark(fx);
    }
    io_fault_clear();
    (void)fx_settle(fx);
    recs_collect(fx->log, &l);
    assert_int_equal(recs_count(&l, "TEST/RETRY"), 120 * calls);
    recs_free(&l);
    verify_ok(fx->log, NULL);
    fx_reopen(fx);
    verify_ok(fx->log, NULL);
}

/* A retention drop whose unlink fails: the log goes on, the file stays (counted against the
 * budget), and a crash before it is gone leaves an expired segment whose LOG/RETENTION record
 * is already durable. After the restart verify accepts that, and the next retention run drops
 * it again and removes the file. */
static void a_retention_drop_survives_a_failed_unlink_and_a_crash(void **state)
{
    struct fx *fx = *state;
    struct seclog__view v;
    struct rec_list l;
    struct seclog_verify_result res;
    uint64_t old_last, segs_before;
    char *first = NULL;

    fx_open(fx);
    fx_append_n(fx, "TEST/OLD", 80, 1000);
    old_last = fx_settle(fx);
    assert_int_equal(clock_advance(11 * TEST_DAY_MS), 0);
    fx_append_n(fx, "TEST/NEW", 5, 10); /* the day-old tail rotates */
    (void)fx_settle(fx);
    assert_int_equal(seclog__snapshot(fx->log, &v), 0);
    segs_before = v.n;
    first = strdup(v.segs[0].path);
    seclog__view_done(&v);
    io_fault_at(IO_OP_UNLINK, 1, EIO);
    seclog_retention_run(fx->log);
    (void)fx_settle(fx);
    /* Dropped for readers and verify, still on disk. */
    assert_int_equal(seclog__snapshot(fx->log, &v), 0);
    assert_int_equal(v.n, 1);
    seclog__view_done(&v);
    assert_true(fs_exists(first));
    verify_ok(fx->log, NULL);
    recs_collect(fx->log, &l);
    assert_int_equal(recs_count(&l, "LOG/RETENTION"), segs_before - 1);
    recs_free(&l);
    seclog__crash_for_tests(fx->log);
    fx->log = NULL;
    io_fault_clear();
    fx_open(fx);
    /* The expired segment is back, its records present and accounted for. */
    assert_int_equal(seclog_verify(fx->log, NULL, &res), 0);
    if (!res.ok)
        print_error("verify: %s (first bad seq %" PRIu64 ")\n", res.reason, res.first_bad_seq);
    assert_true(res.ok);
    assert_true(res.first_seq <= old_last);
    seclog_retention_run(fx->log);
    (void)fx_settle(fx);
    assert_false(fs_exists(first));
    assert_int_equal(seclog__snapshot(fx->log, &v), 0);
    assert_int_equal(v.n, 1);
    seclog__view_done(&v);
    recs_collect(fx->log, &l);
    assert_int_equal(recs_count(&l, "TEST/OLD"), 0);
    assert_true(recs_count(&l, "LOG/RETENTION") >= 1);
    recs_free(&l);
    verify_ok(fx->log, NULL);
    free(first);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(full_queue_drops_are_counted_and_logged, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(fdatasync_failure_is_final_for_its_batch, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(
            write_errors_make_the_log_unwritable_until_the_disk_recovers, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(segment_create_failure_at_open_still_boots, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(close_on_a_dead_disk_returns, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(each_failing_write_of_a_batch_is_retried_without_loss,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(
            each_failing_write_of_a_rotating_batch_is_retried_without_loss, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(a_retention_drop_survives_a_failed_unlink_and_a_crash,
                                        fx_setup, fx_teardown),
    };

    clock_init(CLOCK_MODE_VIRTUAL);
    log_level_set(LOG_LEVEL_FATAL);
    evthread_use_pthreads();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
