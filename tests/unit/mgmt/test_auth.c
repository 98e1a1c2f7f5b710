/* Unit tests for credential checks: lock durations, derivation on the worker pool, cache,
 * lockout on the connector's clock, unknown users. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>
#include <event2/thread.h>

#include "mgmt/mgmt_internal.h"

struct fixture {
    struct event_base *base;
    struct worker_pool *workers;
    struct evt_bus *bus;
    struct store *store;
    struct mgmt_auth *auth;
};

struct outcome {
    int calls;
    enum mgmt_auth_result result;
    struct event_base *base;
};

static void on_done(enum mgmt_auth_result result, const struct store_user *user,
                    int64_t locked_until_ms, void *arg)
{
    struct outcome *o = arg;

    o->calls++;
    o->result = result;
    event_base_loopbreak(o->base);
}

static void on_safety(evutil_socket_t fd, short what, void *arg)
{
    event_base_loopbreak(arg);
}

/* Runs the loop until the pending check is done; a 10 s safety timer keeps the loop waiting
 * for the worker's completion and ends a hung test. */
static void wait_done(struct fixture *f, struct outcome *o)
{
    struct timeval ten = {10, 0};
    struct event *safety = evtimer_new(f->base, on_safety, f->base);

    evtimer_add(safety, &ten);
    if (o->calls == 0)
        (void)event_base_dispatch(f->base);
    event_free(safety);
    assert_int_equal(o->calls, 1);
}

/* Runs one check to completion (at once, or after the worker's derivation). */
static enum mgmt_auth_result check(struct fixture *f, const char *user, const char *password)
{
    struct outcome o = {.base = f->base};

    mgmt__auth_check(f->auth, user, password, on_done, &o);
    wait_done(f, &o);
    return o.result;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct store_user u = {0};

    clock_init(CLOCK_MODE_VIRTUAL);
    f->base = event_base_new();
    assert_int_equal(clock_attach(f->base), 0);
    f->workers = worker_pool_new(f->base, 1);
    f->bus = evt_bus_new(64);
    assert_int_equal(store_open(":memory:", &f->store), 0);
    (void)str_copy(u.name, sizeof(u.name), "lisa");
    u.role = STORE_ROLE_LOCAL_ADMIN;
    assert_int_equal(mgmt_password_hash("right-password", u.pwhash, sizeof(u.pwhash)), 0);
    assert_int_equal(store_user_add(f->store, &u), 0);
    f->auth = mgmt__auth_new(f->store, f->bus, f->workers);
    assert_non_null(f->auth);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    mgmt__auth_free(f->auth);
    worker_pool_free(f->workers);
    store_close(f->store);
    evt_bus_free(f->bus);
    clock_detach();
    event_base_free(f->base);
    free(f);
    return 0;
}

static void lock_starts_at_five_failures_and_doubles_to_an_hour(void **state)
{
    assert_int_equal(mgmt__lock_duration_ms(0), 0);
    assert_int_equal(mgmt__lock_duration_ms(4), 0);
    assert_int_equal(mgmt__lock_duration_ms(5), 30000);
    assert_int_equal(mgmt__lock_duration_ms(6), 60000);
    assert_int_equal(mgmt__lock_duration_ms(7), 120000);
    assert_int_equal(mgmt__lock_duration_ms(12), 3600000);
    assert_int_equal(mgmt__lock_duration_ms(4000000000u), 3600000);
}

static void right_password_passes_and_wrong_one_fails(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(check(f, "lisa", "right-password"), MGMT_AUTH_OK);
    assert_int_equal(check(f, "lisa", "wrong-password"), MGMT_AUTH_BAD_CREDENTIALS);
    assert_int_equal(check(f, "nobody", "right-password"), MGMT_AUTH_BAD_CREDENTIALS);
    assert_int_equal(check(f, "", "x"), MGMT_AUTH_BAD_CREDENTIALS);
    assert_int_equal(check(f, "bad name!", "x"), MGMT_AUTH_BAD_CREDENTIALS);
}

static void fifth_failure_locks_even_the_right_password_until_the_clock_passes(void **state)
{
    struct fixture *f = *state;
    struct store_user u;

    for (int i = 0; i < 5; i++)
        assert_int_equal(check(f, "lisa", "wrong-password"), MGMT_AUTH_BAD_CREDENTIALS);
    assert_int_equal(check(f, "lisa", "right-password"), MGMT_AUTH_LOCKED);
    assert_int_equal(store_user_get(f->store, "lisa", &u), 0);
    assert_int_equal(u.failed_logins, 5);
    assert_int_equal(clock_advance(31000), 0);
    assert_int_equal(check(f, "lisa", "right-password"), MGMT_AUTH_OK);
    assert_int_equal(store_user_get(f->store, "lisa", &u), 0);
    assert_int_equal(u.failed_logins, 0);
    assert_int_equal(u.locked_until_ms, 0);
}

static void cached_credentials_answer_at_once_and_forget_clears_them(void **state)
{
    struct fixture *f = *state;
    struct outcome o = {.base = f->base};

    assert_int_equal(check(f, "lisa", "right-password"), MGMT_AUTH_OK);
    /* From the cache the answer comes before the call returns, without the loop. */
    mgmt__auth_check(f->auth, "lisa", "right-password", on_done, &o);
    assert_int_equal(o.calls, 1);
    assert_int_equal(o.result, MGMT_AUTH_OK);
    mgmt__auth_forget(f->auth, "lisa");
    o.calls = 0;
    mgmt__auth_check(f->auth, "lisa", "right-password", on_done, &o);
    assert_int_equal(o.calls, 0); /* back on the worker */
    wait_done(f, &o);
}

static void cache_expires_on_the_connector_clock(void **state)
{
    struct fixture *f = *state;
    struct outcome o = {.base = f->base};

    assert_int_equal(check(f, "lisa", "right-password"), MGMT_AUTH_OK);
    assert_int_equal(clock_advance(MGMT_AUTH_CACHE_MS + 1), 0);
    mgmt__auth_check(f->auth, "lisa", "right-password", on_done, &o);
    assert_int_equal(o.calls, 0);
    wait_done(f, &o);
    assert_int_equal(o.result, MGMT_AUTH_OK);
}

struct seen {
    int ok, failed;
};

static void count_logins(const struct evt_event *ev, void *arg)
{
    struct seen *s = arg;

    if (strcmp(ev->topic, "MGM/LOGIN") == 0)
        s->ok++;
    else if (strcmp(ev->topic, "MGM/LOGIN_FAILED") == 0)
        s->failed++;
    assert_int_equal(ev->type, EVT_TYPE_SECURITY);
    for (size_t i = 0; i < ev->n_params; i++)
        assert_null(strstr(ev->params[i].value, "password-"));
}

static void derivations_publish_login_events_without_passwords(void **state)
{
    struct fixture *f = *state;
    struct seen s = {0};

    assert_int_equal(evt_bus_subscribe(f->bus, "MGM/LOGIN", count_logins, &s, NULL), 0);
    assert_int_equal(check(f, "lisa", "right-password"), MGMT_AUTH_OK);
    assert_int_equal(check(f, "lisa", "right-password"), MGMT_AUTH_OK); /* cached: no event */
    assert_int_equal(check(f, "lisa", "wrong-password"), MGMT_AUTH_BAD_CREDENTIALS);
    assert_int_equal(s.ok, 1);
    assert_int_equal(s.failed, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lock_starts_at_five_failures_and_doubles_to_an_hour),
        cmocka_unit_test_setup_teardown(right_password_passes_and_wrong_one_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(
            fifth_failure_locks_even_the_right_password_until_the_clock_passes, setup, teardown),
        cmocka_unit_test_setup_teardown(cached_credentials_answer_at_once_and_forget_clears_them,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(cache_expires_on_the_connector_clock, setup, teardown),
        cmocka_unit_test_setup_teardown(derivations_publish_login_events_without_passwords, setup,
                                        teardown),
    };

    if (evthread_use_pthreads() != 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
