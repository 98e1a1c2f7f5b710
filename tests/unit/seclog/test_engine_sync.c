/* Unit tests for the sync pipeline of the seclog engine (writer.c): the syncer's fdatasync
 * runs while the writer writes the next batch. A gate in the syncer's test hook holds each
 * fdatasync before it starts, so the tests decide what is written while a sync is in flight:
 * a waiter is acknowledged only by a sync that started after its entry was written, and a
 * failed fdatasync fails exactly the entries written since the last good one. */
#include "engine_test.h"

#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define GATE_SYNCS 16

/* Holds the syncer before each fdatasync until the test releases it (or opens the gate). */
struct gate {
    pthread_mutex_t m;
    pthread_cond_t c;
    unsigned entered, released;
    bool open;
    uint64_t upto[GATE_SYNCS]; /* the last entry each sync covers */
};

static struct gate gate = {.m = PTHREAD_MUTEX_INITIALIZER, .c = PTHREAD_COND_INITIALIZER};

static void gate_hook(struct seclog *log, uint64_t upto, void *arg)
{
    struct gate *g = arg;

    pthread_mutex_lock(&g->m);
    if (g->entered < GATE_SYNCS)
        g->upto[g->entered] = upto;
    g->entered++;
    pthread_cond_broadcast(&g->c);
    while (!g->open && g->released < g->entered)
        pthread_cond_wait(&g->c, &g->m);
    pthread_mutex_unlock(&g->m);
}

static void gate_install(struct seclog *log)
{
    pthread_mutex_lock(&gate.m);
    gate.entered = gate.released = 0;
    gate.open = false;
    pthread_mutex_unlock(&gate.m);
    pthread_mutex_lock(&log->lock);
    log->sync_hook = gate_hook;
    log->sync_hook_arg = &gate;
    pthread_mutex_unlock(&log->lock);
}

/* Lets every sync through from now on. */
static void gate_open(void)
{
    pthread_mutex_lock(&gate.m);
    gate.open = true;
    pthread_cond_broadcast(&gate.c);
    pthread_mutex_unlock(&gate.m);
}

static void gate_release_one(void)
{
    pthread_mutex_lock(&gate.m);
    gate.released++;
    pthread_cond_broadcast(&gate.c);
    pthread_mutex_unlock(&gate.m);
}

/* Waits (bounded) until n syncs have reached the gate; returns what the nth covers. */
static uint64_t gate_wait_entered(unsigned n)
{
    int64_t until = clock_real_mono_ms() + TEST_WAIT_MS;
    uint64_t upto;

    pthread_mutex_lock(&gate.m);
    while (gate.entered < n && clock_real_mono_ms() < until) {
        pthread_mutex_unlock(&gate.m);
        (void)sched_yield();
        pthread_mutex_lock(&gate.m);
    }
    assert_true(gate.entered >= n);
    upto = gate.upto[n - 1];
    pthread_mutex_unlock(&gate.m);
    return upto;
}

/* Waits (bounded) until the writer has written an entry and posted it while the syncer is
 * held; returns the last entry written. */
static uint64_t wait_posted(struct seclog *log, uint64_t after)
{
    int64_t until = clock_real_mono_ms() + TEST_WAIT_MS;
    uint64_t upto = 0;
    bool pending = false;

    for (;;) {
        pthread_mutex_lock(&log->lock);
        pending = log->sync_want.pending;
        upto = log->sync_want.upto;
        pthread_mutex_unlock(&log->lock);
        if ((pending && upto > after) || clock_real_mono_ms() >= until)
            break;
        (void)sched_yield();
    }
    assert_true(pending);
    assert_true(upto > after);
    return upto;
}

/* Waits (bounded) until the writer waits for the sync in flight in order to close the tail. */
static void wait_quiescing(struct seclog *log)
{
    int64_t until = clock_real_mono_ms() + TEST_WAIT_MS;
    bool waits = false;

    for (;;) {
        pthread_mutex_lock(&log->lock);
        waits = log->sync_paused && log->sync_writer_waits && log->sync_running;
        pthread_mutex_unlock(&log->lock);
        if (waits || clock_real_mono_ms() >= until)
            break;
        (void)sched_yield();
    }
    assert_true(waits);
}

/* A producer thread making one durable append. */
struct producer {
    pthread_t thread;
    struct seclog *log;
    const char *topic;
    int64_t timeout_ms; /* 0: TEST_WAIT_MS */
    uint64_t seq;
    int result;
    atomic_bool done;
};

static void *producer_main(void *arg)
{
    struct producer *p = arg;
    struct seclog_entry e = {.topic = p->topic};

    p->result =
        seclog_append_durable(p->log, &e, p->timeout_ms ? p->timeout_ms : TEST_WAIT_MS, &p->seq);
    atomic_store(&p->done, true);
    return NULL;
}

static void producer_start(struct producer *p, struct seclog *log, const char *topic)
{
    memset(p, 0, sizeof(*p));
    p->log = log;
    p->topic = topic;
    assert_int_equal(pthread_create(&p->thread, NULL, producer_main, p), 0);
}

static void producer_join(struct producer *p)
{
    assert_int_equal(pthread_join(p->thread, NULL), 0);
}

static void hook_remove(struct seclog *log)
{
    gate_open();
    pthread_mutex_lock(&log->lock);
    log->sync_hook = NULL;
    pthread_mutex_unlock(&log->lock);
}

static void a_waiter_is_not_acknowledged_by_a_sync_that_started_before_its_write(void **state)
{
    struct fx *fx = *state;
    struct producer a, b;
    struct seclog_status st;
    uint64_t before, sync1, sync2, written;

    fx_open(fx);
    before = fx_mark(fx); /* the writer and the syncer are idle now */
    gate_install(fx->log);
    producer_start(&a, fx->log, "TEST/A");
    sync1 = gate_wait_entered(1); /* sync 1 covers A and is held before its fdatasync */
    assert_int_equal(sync1, before + 1);
    producer_start(&b, fx->log, "TEST/B");
    written = wait_posted(fx->log, sync1); /* B is written while sync 1 is in flight */
    gate_release_one();
    producer_join(&a);
    assert_int_equal(a.result, 0);
    assert_int_equal(a.seq, sync1);
    /* Sync 1 returned 0, but it started before B was written: B waits for sync 2. */
    sync2 = gate_wait_entered(2);
    assert_int_equal(sync2, written);
    assert_false(atomic_load(&b.done));
    seclog_status_get(fx->log, &st);
    assert_int_equal(st.last_durable_seq, sync1);
    gate_release_one();
    producer_join(&b);
    assert_int_equal(b.result, 0);
    assert_int_equal(b.seq, sync2);
    hook_remove(fx->log);
    (void)fx_settle(fx);
    verify_ok(fx->log, NULL);
}

static void
an_fdatasync_error_fails_exactly_the_entries_written_since_the_last_good_one(void **state)
{
    struct fx *fx = *state;
    struct producer a, b, c;
    struct seclog__view v;
    const struct rec_item *w;
    struct rec_list l;
    uint64_t before, sync1, sync2, seq_c;

    fx_open(fx);
    before = fx_mark(fx);
    gate_install(fx->log);
    producer_start(&a, fx->log, "TEST/A");
    sync1 = gate_wait_entered(1);
    producer_start(&b, fx->log, "TEST/B");
    (void)wait_posted(fx->log, sync1);
    gate_release_one(); /* sync 1 (A) succeeds */
    producer_join(&a);
    assert_int_equal(a.result, 0);
    sync2 = gate_wait_entered(2); /* sync 2 covers B, held */
    assert_true(sync2 > sync1);
    producer_start(&c, fx->log, "TEST/C");
    seq_c = wait_posted(fx->log, sync2);  /* C is written while sync 2 is in flight */
    io_fault_at(IO_OP_FDATASYNC, 1, EIO); /* sync 2's fdatasync fails */
    gate_open();
    producer_join(&b);
    producer_join(&c);
    /* The failure covers B (in the failed sync) and C (written since the last good sync);
     * A stays acknowledged. */
    assert_int_equal(b.result, -EIO);
    assert_int_equal(c.result, -EIO);
    hook_remove(fx->log);
    (void)fx_settle(fx);
    assert_int_equal(seclog__snapshot(fx->log, &v), 0);
    assert_true(v.n >= 2); /* continued in a new segment */
    assert_true(v.segs[0].closed);
    assert_int_equal(v.segs[0].last_seq, sync1); /* readers never see B or C */
    assert_int_equal(v.segs[1].first_seq, seq_c + 1);
    seclog__view_done(&v);
    recs_collect(fx->log, &l);
    assert_int_equal(recs_count(&l, "TEST/A"), 1);
    assert_int_equal(recs_count(&l, "TEST/B"), 0);
    assert_int_equal(recs_count(&l, "TEST/C"), 0);
    w = recs_find(&l, "LOG/WRITE_ERROR", 0);
    assert_non_null(w);
    assert_int_equal(rec_param_u64(w, "FromSeq"), sync1 + 1);
    assert_int_equal(rec_param_u64(w, "UpToSeq"), seq_c);
    assert_null(recs_find(&l, "LOG/WRITE_ERROR", 1));
    recs_free(&l);
    assert_true(before < sync1);
    fx_reopen(fx);
    verify_ok(fx->log, NULL);
}

/* Rotation while a sync is in flight: the writer waits for it before it closes the tail, and
 * every acknowledged entry is found in order across the segments. */
static void rotation_waits_for_the_sync_in_flight(void **state)
{
    struct fx *fx = *state;
    struct producer a;
    struct seclog_status st;
    struct rec_list l;
    uint64_t sync1;

    fx->cfg.capacity_bytes = 64ull * TEST_SEG_BYTES;
    fx_open(fx);
    (void)fx_mark(fx);
    gate_install(fx->log);
    producer_start(&a, fx->log, "TEST/A");
    sync1 = gate_wait_entered(1);
    fx_append_n(fx, "TEST/ROTATE", 150, 1000); /* over two 64 KiB segments */
    /* The writer waits for sync 1 before it closes the first tail: nothing newer is durable. */
    wait_quiescing(fx->log);
    seclog_status_get(fx->log, &st);
    assert_int_equal(st.last_durable_seq, sync1 - 1);
    assert_false(atomic_load(&a.done));
    gate_open();
    producer_join(&a);
    assert_int_equal(a.result, 0);
    assert_int_equal(a.seq, sync1);
    hook_remove(fx->log);
    (void)fx_settle(fx);
    recs_collect(fx->log, &l);
    assert_int_equal(recs_count(&l, "TEST/A"), 1);
    assert_int_equal(recs_count(&l, "TEST/ROTATE"), 150);
    for (size_t i = 1; i < l.n; i++)
        assert_true(l.v[i].seq > l.v[i - 1].seq);
    recs_free(&l);
    verify_ok(fx->log, NULL);
    fx_reopen(fx);
    verify_ok(fx->log, NULL);
}

/* Each producer sleeps on its own word: a sync wakes exactly the waiters it acknowledged,
 * in any number, and those written while it ran go on waiting for the next one. */
static void a_sync_settles_exactly_its_own_waiters(void **state)
{
    struct fx *fx = *state;
    struct producer a, b[3];
    uint64_t before, sync1, sync2, written = 0;

    fx_open(fx);
    before = fx_mark(fx);
    gate_install(fx->log);
    producer_start(&a, fx->log, "TEST/A");
    sync1 = gate_wait_entered(1);
    assert_int_equal(sync1, before + 1);
    for (int i = 0; i < 3; i++) {
        producer_start(&b[i], fx->log, "TEST/B");
        written = wait_posted(fx->log, written > sync1 ? written : sync1);
    }
    gate_release_one();
    producer_join(&a);
    assert_int_equal(a.result, 0);
    sync2 = gate_wait_entered(2);
    assert_int_equal(sync2, written);
    for (int i = 0; i < 3; i++)
        assert_false(atomic_load(&b[i].done));
    pthread_mutex_lock(&fx->log->lock);
    assert_int_equal(fx->log->waiters_pending, 3);
    pthread_mutex_unlock(&fx->log->lock);
    gate_release_one();
    for (int i = 0; i < 3; i++) {
        producer_join(&b[i]);
        assert_int_equal(b[i].result, 0);
        assert_true(b[i].seq > sync1 && b[i].seq <= sync2);
    }
    pthread_mutex_lock(&fx->log->lock);
    assert_int_equal(fx->log->waiters_pending, 0);
    assert_null(fx->log->waiters);
    assert_null(fx->log->waiters_last);
    pthread_mutex_unlock(&fx->log->lock);
    hook_remove(fx->log);
    (void)fx_settle(fx);
    verify_ok(fx->log, NULL);
}

/* A waiter whose time runs out while its sync is held leaves the list itself; the sync that
 * covers its entry later finds nobody to wake, and the log goes on. */
static void a_timed_out_waiter_leaves_before_its_sync_ends(void **state)
{
    struct fx *fx = *state;
    struct producer a, b;
    uint64_t sync1;

    fx_open(fx);
    (void)fx_mark(fx);
    gate_install(fx->log);
    memset(&a, 0, sizeof(a));
    a.log = fx->log;
    a.topic = "TEST/LATE";
    a.timeout_ms = 20;
    assert_int_equal(pthread_create(&a.thread, NULL, producer_main, &a), 0);
    sync1 = gate_wait_entered(1);
    producer_join(&a); /* gives up while sync 1 is held */
    assert_int_equal(a.result, -ETIMEDOUT);
    pthread_mutex_lock(&fx->log->lock);
    assert_int_equal(fx->log->waiters_pending, 0);
    assert_null(fx->log->waiters);
    assert_int_equal(fx->log->waiters_leaving, 0);
    pthread_mutex_unlock(&fx->log->lock);
    producer_start(&b, fx->log, "TEST/AFTER");
    gate_open();
    producer_join(&b);
    assert_int_equal(b.result, 0);
    assert_true(b.seq > sync1);
    hook_remove(fx->log);
    (void)fx_settle(fx);
    verify_ok(fx->log, NULL); /* the late entry was written all the same */
}

#define GROUP_THREADS 4
#define GROUP_APPENDS 30

struct group_producer {
    pthread_t thread;
    struct seclog *log;
    unsigned id;
    uint64_t seq[GROUP_APPENDS];
    int result[GROUP_APPENDS];
};

static void *group_producer_main(void *arg)
{
    struct group_producer *p = arg;
    char n[24];
    struct seclog_param prm = {"N", n};
    struct seclog_entry e = {.topic = "TEST/GROUP", .params = &prm, .n_params = 1};

    for (int i = 0; i < GROUP_APPENDS; i++) {
        (void)snprintf(n, sizeof(n), "%u-%d", p->id, i);
        p->result[i] = seclog_append_durable(p->log, &e, TEST_WAIT_MS, &p->seq[i]);
    }
    return NULL;
}

/* Producers that gather into one sync may have it run by the writer itself, without the
 * hand-over to the syncer: a failed fdatasync there fails what it covered, as the syncer's
 * would. Every acknowledged entry is found and lies outside the ranges the LOG/WRITE_ERROR
 * records name; no entry that got -EIO is found, and those ranges hold them all. */
static void a_failed_sync_of_a_group_fails_exactly_its_unacknowledged_entries(void **state)
{
    struct fx *fx = *state;
    struct group_producer p[GROUP_THREADS];
    const struct rec_item *r;
    struct rec_list l;
    size_t failed = 0, acked = 0;
    uint64_t lost = 0;

    fx_open(fx);
    (void)fx_mark(fx);
    io_fault_at(IO_OP_FDATASYNC, 4, EIO);
    for (unsigned i = 0; i < GROUP_THREADS; i++) {
        p[i] = (struct group_producer){.log = fx->log, .id = i};
        assert_int_equal(pthread_create(&p[i].thread, NULL, group_producer_main, &p[i]), 0);
    }
    for (unsigned i = 0; i < GROUP_THREADS; i++)
        assert_int_equal(pthread_join(p[i].thread, NULL), 0);
    io_fault_clear();
    (void)fx_settle(fx);
    recs_collect(fx->log, &l);
    for (size_t j = 0; (r = recs_find(&l, "LOG/WRITE_ERROR", j)); j++)
        lost += rec_param_u64(r, "UpToSeq") - rec_param_u64(r, "FromSeq") + 1;
    for (unsigned i = 0; i < GROUP_THREADS; i++) {
        for (int k = 0; k < GROUP_APPENDS; k++) {
            bool found = false, named = false;

            assert_true(p[i].result[k] == 0 || p[i].result[k] == -EIO);
            if (p[i].result[k] == -EIO) {
                failed++; /* no seq comes back with an error */
                continue;
            }
            acked++;
            for (size_t j = 0; j < l.n; j++)
                found |= l.v[j].seq == p[i].seq[k] && strcmp(l.v[j].topic, "TEST/GROUP") == 0;
            for (size_t j = 0; (r = recs_find(&l, "LOG/WRITE_ERROR", j)); j++)
                named |= rec_param_u64(r, "FromSeq") <= p[i].seq[k] &&
                         p[i].seq[k] <= rec_param_u64(r, "UpToSeq");
            assert_true(found);
            assert_false(named);
        }
    }
    assert_true(failed > 0);
    assert_true(failed <= lost);
    assert_int_equal(recs_count(&l, "TEST/GROUP"), acked);
    recs_free(&l);
    fx_reopen(fx);
    verify_ok(fx->log, NULL);
}

/* Polls the status until the entry seq is durable; the real milliseconds it took, or -1 after
 * TEST_WAIT_MS. */
static int64_t wait_durable(struct seclog *log, uint64_t seq)
{
    int64_t t0 = clock_real_mono_ms();
    struct seclog_status st;

    for (;;) {
        seclog_status_get(log, &st);
        if (st.last_durable_seq >= seq)
            return clock_real_mono_ms() - t0;
        if (clock_real_mono_ms() - t0 > TEST_WAIT_MS)
            return -1;
        (void)usleep(200);
    }
}

/* After a burst, producers no longer wake the writer for each entry (only for a full batch
 * or a durable one): a few entries nobody waits for must still reach the disk on the
 * writer's own time, within the documented 21 ms (asserted with room for a slow machine). */
static void entries_after_a_burst_reach_the_disk_without_a_wake_up(void **state)
{
    struct fx *fx = *state;
    uint64_t base;
    int64_t ms;

    fx_open(fx);
    base = fx_settle(fx);
    fx_append_n(fx, "TEST/BURST", 300, 16); /* a full batch and 44: the writer is in a burst */
    assert_true(wait_durable(fx->log, base + 300) >= 0);
    fx_append_n(fx, "TEST/AFTER", 3, 16);
    ms = wait_durable(fx->log, base + 303);
    assert_true(ms >= 0);
    assert_true(ms < 1000);
    /* A durable entry after them is acknowledged, next in sequence. */
    assert_int_equal(fx_mark(fx), base + 304);
}

/* A thread asleep on a waiter's futex word, as seclog_append_durable sleeps. */
struct sleeper {
    pthread_t thread;
    _Atomic uint32_t word;
    _Atomic pid_t tid;
};

static void *sleeper_main(void *arg)
{
    struct sleeper *s = arg;

    atomic_store(&s->tid, (pid_t)syscall(SYS_gettid));
    while (atomic_load(&s->word) == SECLOG__WAITER_WAITING)
        (void)syscall(SYS_futex, &s->word, FUTEX_WAIT_PRIVATE, SECLOG__WAITER_WAITING, NULL, NULL,
                      0);
    return NULL;
}

/* Whether thread tid of this process sleeps ('S' in its stat line). */
static bool thread_sleeps(pid_t tid)
{
    char path[64], line[256], *close_paren;
    bool sleeps = false;
    FILE *f;

    (void)snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
    f = fopen(path, "r");
    if (!f)
        return false;
    if (fgets(line, sizeof(line), f)) {
        close_paren = strrchr(line, ')');
        sleeps = close_paren && close_paren[1] == ' ' && close_paren[2] == 'S';
    }
    (void)fclose(f);
    return sleeps;
}

/* seclog__wake_flush wakes the producers that queued on another CPU first, then those on
 * its own: every one of them must wake, whatever its CPU hint (another CPU, this one, or
 * unknown). The flushing thread is pinned, so "this CPU" stays true while it flushes. */
static void every_waiter_wakes_whatever_cpu_it_queued_on(void **state)
{
    struct sleeper s[3];
    struct seclog__wake wk = {0};
    cpu_set_t pin, old;
    int here;

    (void)state;
    assert_int_equal(sched_getaffinity(0, sizeof(old), &old), 0);
    here = sched_getcpu();
    assert_true(here >= 0);
    CPU_ZERO(&pin);
    CPU_SET(here, &pin);
    assert_int_equal(sched_setaffinity(0, sizeof(pin), &pin), 0);
    for (size_t i = 0; i < ARRAY_SIZE(s); i++) {
        atomic_init(&s[i].word, SECLOG__WAITER_WAITING);
        atomic_init(&s[i].tid, 0);
        assert_int_equal(pthread_create(&s[i].thread, NULL, sleeper_main, &s[i]), 0);
    }
    /* Only a thread asleep in the kernel proves that the flush woke it. */
    for (size_t i = 0; i < ARRAY_SIZE(s); i++) {
        for (int tries = 0; !(atomic_load(&s[i].tid) && thread_sleeps(atomic_load(&s[i].tid)));
             tries++) {
            assert_true(tries < 2000);
            (void)usleep(1000);
        }
        atomic_store(&s[i].word, SECLOG__WAITER_SETTLED);
        wk.cpu[wk.n] = i == 0 ? here : i == 1 ? here + 1 : -1;
        wk.word[wk.n++] = &s[i].word;
    }
    seclog__wake_flush(&wk);
    assert_int_equal(wk.n, 0);
    for (size_t i = 0; i < ARRAY_SIZE(s); i++) {
        struct timespec until;
        int r;

        (void)clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 5;
        r = pthread_timedjoin_np(s[i].thread, NULL, &until);
        if (r != 0) { /* not woken: wake it, so that the test fails instead of hanging */
            (void)syscall(SYS_futex, &s[i].word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
            (void)pthread_join(s[i].thread, NULL);
        }
        assert_int_equal(r, 0);
    }
    assert_int_equal(sched_setaffinity(0, sizeof(old), &old), 0);
}

/* A failed assertion leaves the gate closed: open it, or closing the log waits forever. */
static int sync_teardown(void **state)
{
    gate_open();
    return fx_teardown(state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            a_waiter_is_not_acknowledged_by_a_sync_that_started_before_its_write, fx_setup,
            sync_teardown),
        cmocka_unit_test_setup_teardown(
            an_fdatasync_error_fails_exactly_the_entries_written_since_the_last_good_one, fx_setup,
            sync_teardown),
        cmocka_unit_test_setup_teardown(rotation_waits_for_the_sync_in_flight, fx_setup,
                                        sync_teardown),
        cmocka_unit_test_setup_teardown(a_sync_settles_exactly_its_own_waiters, fx_setup,
                                        sync_teardown),
        cmocka_unit_test_setup_teardown(a_timed_out_waiter_leaves_before_its_sync_ends, fx_setup,
                                        sync_teardown),
        cmocka_unit_test_setup_teardown(
            a_failed_sync_of_a_group_fails_exactly_its_unacknowledged_entries, fx_setup,
            sync_teardown),
        cmocka_unit_test_setup_teardown(entries_after_a_burst_reach_the_disk_without_a_wake_up,
                                        fx_setup, sync_teardown),
        cmocka_unit_test(every_waiter_wakes_whatever_cpu_it_queued_on),
    };

    clock_init(CLOCK_MODE_VIRTUAL);
    log_level_set(LOG_LEVEL_FATAL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
