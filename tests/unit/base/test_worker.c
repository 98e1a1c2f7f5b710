/* Unit tests for the worker pool: work on a thread, completion on the loop, exactly once. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <event2/event.h>
#include <event2/thread.h>

#include "base/base.h"

struct item {
    pthread_t worker_thread;
    pthread_t done_thread;
    int worked, done;
    int *remaining;
    struct event_base *base;
};

static void work(void *arg)
{
    struct item *it = arg;

    it->worker_thread = pthread_self();
    it->worked++;
}

static void done(void *arg)
{
    struct item *it = arg;

    it->done_thread = pthread_self();
    it->done++;
    if (--*it->remaining == 0)
        event_base_loopbreak(it->base);
}

static void on_safety_timeout(evutil_socket_t fd, short what, void *arg)
{
    event_base_loopbreak(arg);
}

/* Runs the loop until the completions break it; a 10 s safety timer keeps the loop waiting
 * (an event_active from a worker wakes it) and ends a hung test. */
static void run_loop(struct event_base *base)
{
    struct timeval ten = {10, 0};
    struct event *safety = evtimer_new(base, on_safety_timeout, base);

    evtimer_add(safety, &ten);
    assert_int_equal(event_base_dispatch(base), 0);
    event_free(safety);
}

static void work_runs_off_loop_and_done_runs_on_loop_once(void **state)
{
    struct event_base *base;
    struct worker_pool *pool;
    struct item items[20] = {0};
    int remaining = 20;

    base = event_base_new();
    pool = worker_pool_new(base, 2);
    assert_non_null(pool);
    for (int i = 0; i < 20; i++) {
        items[i].remaining = &remaining;
        items[i].base = base;
        assert_int_equal(worker_pool_submit(pool, work, done, &items[i]), 0);
    }
    run_loop(base);
    assert_int_equal(remaining, 0);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(items[i].worked, 1);
        assert_int_equal(items[i].done, 1);
        assert_false(pthread_equal(items[i].worker_thread, pthread_self()));
        assert_true(pthread_equal(items[i].done_thread, pthread_self()));
    }
    worker_pool_free(pool);
    event_base_free(base);
}

static void free_runs_pending_completions(void **state)
{
    struct event_base *base;
    struct worker_pool *pool;
    struct item it = {0};
    int remaining = 1;

    base = event_base_new();
    pool = worker_pool_new(base, 1);
    it.remaining = &remaining;
    it.base = base;
    assert_int_equal(worker_pool_submit(pool, work, done, &it), 0);
    worker_pool_free(pool);
    assert_int_equal(it.worked, 1);
    assert_int_equal(it.done, 1);
    event_base_free(base);
}

static void submit_without_callbacks_is_refused(void **state)
{
    struct event_base *base = event_base_new();
    struct worker_pool *pool = worker_pool_new(base, 1);

    assert_int_equal(worker_pool_submit(pool, NULL, done, NULL), -EINVAL);
    worker_pool_free(pool);
    event_base_free(base);
}

int main(void)
{
    if (evthread_use_pthreads() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(work_runs_off_loop_and_done_runs_on_loop_once),
        cmocka_unit_test(free_runs_pending_completions),
        cmocka_unit_test(submit_without_callbacks_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
