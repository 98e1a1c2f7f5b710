/* worker: a small thread pool for CPU-heavy work, with completions back on the loop.
 *
 * Invariants:
 *  1. work() runs on a worker thread, done() on the loop thread, each exactly once per
 *     accepted submission (worker_pool_submit returned 0).
 *  2. The two queues are the only shared state; both are guarded by one mutex.
 *  3. worker_pool_free() runs every queued work() and every done() before it returns.
 * The loop must have been created after evthread_use_pthreads(), so that event_active() from
 * a worker is safe. */
#include "base/base.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include <event2/event.h>

/* Enough for a login storm to queue up, small enough to refuse a flood instead of growing. */
#define WORKER_QUEUE_MAX 256
#define WORKER_THREADS_MAX 8

struct job {
    worker_fn work, done;
    void *arg;
    struct job *next;
};

struct worker_pool {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct job *todo_head, *todo_tail;
    struct job *done_head, *done_tail;
    size_t queued;
    bool stopping;
    unsigned n_threads;
    pthread_t threads[WORKER_THREADS_MAX];
    struct event *done_event;
};

static void push(struct job **head, struct job **tail, struct job *j)
{
    j->next = NULL;
    if (*tail)
        (*tail)->next = j;
    else
        *head = j;
    *tail = j;
}

static struct job *pop(struct job **head, struct job **tail)
{
    struct job *j = *head;

    if (j) {
        *head = j->next;
        if (!*head)
            *tail = NULL;
    }
    return j;
}

static void *worker_main(void *arg)
{
    struct worker_pool *pool = arg;

    pthread_mutex_lock(&pool->lock);
    for (;;) {
        struct job *j = pop(&pool->todo_head, &pool->todo_tail);

        if (!j) {
            if (pool->stopping)
                break;
            pthread_cond_wait(&pool->cond, &pool->lock);
            continue;
        }
        pthread_mutex_unlock(&pool->lock);
        j->work(j->arg);
        pthread_mutex_lock(&pool->lock);
        push(&pool->done_head, &pool->done_tail, j);
        event_active(pool->done_event, EV_READ, 0);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

static void run_completions(struct worker_pool *pool)
{
    for (;;) {
        struct job *j;

        pthread_mutex_lock(&pool->lock);
        j = pop(&pool->done_head, &pool->done_tail);
        if (j)
            pool->queued--;
        pthread_mutex_unlock(&pool->lock);
        if (!j)
            break;
        j->done(j->arg);
        free(j);
    }
}

static void on_done_event(evutil_socket_t fd, short what, void *arg)
{
    run_completions(arg);
}

struct worker_pool *worker_pool_new(struct event_base *base, unsigned threads)
{
    struct worker_pool *pool = calloc(1, sizeof(*pool));

    if (!pool)
        return NULL;
    if (threads == 0 || threads > WORKER_THREADS_MAX)
        threads = 2;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->cond, NULL);
    pool->done_event = event_new(base, -1, 0, on_done_event, pool);
    if (!pool->done_event)
        return worker_pool_free(pool);
    for (unsigned i = 0; i < threads; i++) {
        if (pthread_create(&pool->threads[i], NULL, worker_main, pool) != 0)
            return worker_pool_free(pool);
        pool->n_threads++;
    }
    return pool;
}

struct worker_pool *worker_pool_free(struct worker_pool *pool)
{
    if (!pool)
        return NULL;
    pthread_mutex_lock(&pool->lock);
    pool->stopping = true;
    pthread_cond_broadcast(&pool->cond);
    pthread_mutex_unlock(&pool->lock);
    for (unsigned i = 0; i < pool->n_threads; i++)
        pthread_join(pool->threads[i], NULL);
    run_completions(pool);
    if (pool->done_event)
        event_free(pool->done_event);
    pthread_cond_destroy(&pool->cond);
    pthread_mutex_destroy(&pool->lock);
    free(pool);
    return NULL;
}

int worker_pool_submit(struct worker_pool *pool, worker_fn work, worker_fn done, void *arg)
{
    struct job *j;

    if (!pool || !work || !done)
        return -EINVAL;
    j = calloc(1, sizeof(*j));
    if (!j)
        return -ENOMEM;
    j->work = work;
    j->done = done;
    j->arg = arg;
    pthread_mutex_lock(&pool->lock);
    if (pool->stopping || pool->queued >= WORKER_QUEUE_MAX) {
        pthread_mutex_unlock(&pool->lock);
        free(j);
        return -EAGAIN;
    }
    pool->queued++;
    push(&pool->todo_head, &pool->todo_tail, j);
    pthread_cond_signal(&pool->cond);
    pthread_mutex_unlock(&pool->lock);
    return 0;
}
