/* Unit tests for the bootup sequence: order, failures, deadlines on the virtual clock, late
 * reports, the fault hook and BOOTUP/BOOTUP_COMPLETE. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "base/base.h"
#include "events/events.h"
#include "state/state.h"

struct fixture {
    struct event_base *base;
    struct evt_bus *bus;
    struct ec_state *ecs;
    struct bootup *b;
    char trace[256]; /* "a,b,complete,BOOTUP_COMPLETE(0)," */
    int n_complete_events;
    struct clock_timer *later; /* an asynchronous step's report */
    int later_r;
    struct bootup_step *kept; /* a step token kept for a late report */
};

static void trace(struct fixture *f, const char *what)
{
    size_t len = strlen(f->trace);

    (void)snprintf(f->trace + len, sizeof(f->trace) - len, "%s,", what);
}

static void on_bootup_event(const struct evt_event *ev, void *arg)
{
    struct fixture *f = arg;
    char line[64];

    assert_string_equal(ev->topic, "BOOTUP/BOOTUP_COMPLETE");
    assert_int_equal(ev->type, EVT_TYPE_OPERATION);
    assert_int_equal(ev->severity, EVT_SEVERITY_INFO);
    (void)snprintf(line, sizeof(line), "BOOTUP_COMPLETE(%s)", evt_event_param(ev, "FailedSteps"));
    trace(f, line);
    f->n_complete_events++;
}

static void on_complete(struct bootup *b, void *arg)
{
    trace(arg, "complete");
}

static int group_setup(void **state)
{
    struct event_base *base;

    clock_init(CLOCK_MODE_VIRTUAL);
    base = event_base_new();
    assert_non_null(base);
    assert_int_equal(clock_attach(base), 0);
    *state = base;
    return 0;
}

static int group_teardown(void **state)
{
    clock_detach();
    event_base_free(*state);
    return 0;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->base = *state;
    f->bus = evt_bus_new(0);
    assert_int_equal(evt_bus_subscribe(f->bus, "BOOTUP/", on_bootup_event, f, NULL), 0);
    f->ecs = ec_state_new(f->bus);
    f->b = bootup_new(f->ecs, f->bus);
    assert_non_null(f->b);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    struct event_base *base = f->base;

    bootup_free(f->b);
    clock_timer_free(f->later);
    ec_state_free(f->ecs);
    evt_bus_free(f->bus);
    free(f);
    *state = base;
    return 0;
}

/* Step bodies; each finds the fixture through the bootup's step argument. */
struct step_arg {
    struct fixture *f;
    const char *name;
    int r;
};

static void step_sync(struct bootup *b, void *arg)
{
    struct step_arg *a = arg;

    trace(a->f, a->name);
    bootup_step_done(b, a->r);
}

static void step_silent(struct bootup *b, void *arg)
{
    struct step_arg *a = arg;

    trace(a->f, a->name);
    a->f->kept = bootup_step_current(b);
}

static void later_cb(void *arg)
{
    struct step_arg *a = arg;

    trace(a->f, "report");
    bootup_step_done(a->f->b, a->r);
}

/* Reports r after 500 virtual ms, from a timer callback. */
static void step_async(struct bootup *b, void *arg)
{
    struct step_arg *a = arg;

    trace(a->f, a->name);
    a->f->later = clock_timer_new(later_cb, a);
    clock_timer_start(a->f->later, 500);
}

static void steps_run_in_order_then_complete_then_event(void **state)
{
    struct fixture *f = *state;
    struct step_arg a = {f, "identity", 0}, b = {f, "settings", 0}, c = {f, "users", 0};

    assert_int_equal(bootup_add_step(f->b, "identity", 1000, EC_MAX, NULL, step_sync, &a), 0);
    assert_int_equal(bootup_add_step(f->b, "settings", 1000, EC_MAX, NULL, step_sync, &b), 0);
    assert_int_equal(bootup_add_step(f->b, "users", 1000, EC_MAX, NULL, step_sync, &c), 0);
    assert_false(bootup_is_complete(f->b));
    assert_int_equal(bootup_start(f->b, on_complete, f), 0);
    assert_true(bootup_is_complete(f->b));
    assert_string_equal(f->trace, "identity,settings,users,complete,BOOTUP_COMPLETE(0),");
    assert_int_equal(bootup_failed_steps(f->b), 0);
    assert_int_equal(bootup_start(f->b, on_complete, f), -EALREADY);
    assert_int_equal(bootup_add_step(f->b, "late", 1000, EC_MAX, NULL, step_sync, &a), -EBUSY);
    /* Nothing is left pending: more time changes nothing. */
    assert_int_equal(clock_advance(60000), 0);
    assert_int_equal(f->n_complete_events, 1);
}

static void a_failing_step_raises_its_condition_and_bootup_completes(void **state)
{
    struct fixture *f = *state;
    struct step_arg a = {f, "rng", -EIO}, b = {f, "ct", -ENODEV}, c = {f, "mgmt", 0};

    assert_int_equal(
        bootup_add_step(f->b, "rng", 1000, EC_RANDOM_GENERATOR_NOT_RELIABLE, NULL, step_sync, &a),
        0);
    assert_int_equal(
        bootup_add_step(f->b, "ct", 1000, EC_CARDTERMINAL_NOT_AVAILABLE, "ct1", step_sync, &b), 0);
    assert_int_equal(bootup_add_step(f->b, "mgmt", 1000, EC_MAX, NULL, step_sync, &c), 0);
    assert_int_equal(bootup_start(f->b, on_complete, f), 0);
    assert_true(bootup_is_complete(f->b));
    assert_int_equal(bootup_failed_steps(f->b), 2);
    assert_true(ec_is_active(f->ecs, EC_RANDOM_GENERATOR_NOT_RELIABLE, NULL));
    assert_true(ec_is_active(f->ecs, EC_CARDTERMINAL_NOT_AVAILABLE, "ct1"));
    assert_string_equal(f->trace, "rng,ct,mgmt,complete,BOOTUP_COMPLETE(2),");
}

static void a_hanging_step_times_out_at_its_deadline(void **state)
{
    struct fixture *f = *state;
    struct step_arg a = {f, "vpn", 0}, b = {f, "mgmt", 0};

    assert_int_equal(
        bootup_add_step(f->b, "vpn", 30000, EC_NO_VPN_TI_CONNECTION, NULL, step_silent, &a), 0);
    assert_int_equal(bootup_add_step(f->b, "mgmt", 1000, EC_MAX, NULL, step_sync, &b), 0);
    assert_int_equal(bootup_start(f->b, on_complete, f), 0);
    assert_false(bootup_is_complete(f->b));
    assert_int_equal(clock_advance(29999), 0);
    assert_false(bootup_is_complete(f->b));
    assert_string_equal(f->trace, "vpn,");
    assert_int_equal(clock_advance(1), 0);
    assert_true(bootup_is_complete(f->b));
    assert_int_equal(bootup_failed_steps(f->b), 1);
    assert_true(ec_is_active(f->ecs, EC_NO_VPN_TI_CONNECTION, NULL));
    assert_string_equal(f->trace, "vpn,mgmt,complete,BOOTUP_COMPLETE(1),");
    assert_int_equal(clock_advance(86400000), 0);
    assert_int_equal(f->n_complete_events, 1);
}

static void a_late_report_after_the_deadline_is_ignored(void **state)
{
    struct fixture *f = *state;
    struct step_arg a = {f, "vpn", 0}, b = {f, "mgmt", 0};
    struct bootup_step *vpn;

    assert_int_equal(
        bootup_add_step(f->b, "vpn", 1000, EC_NO_VPN_TI_CONNECTION, NULL, step_silent, &a), 0);
    assert_int_equal(bootup_add_step(f->b, "mgmt", 1000, EC_MAX, NULL, step_silent, &b), 0);
    assert_int_equal(bootup_start(f->b, on_complete, f), 0);
    vpn = f->kept;
    assert_non_null(vpn);
    assert_ptr_equal(bootup_step_current(f->b), vpn);

    assert_int_equal(clock_advance(1000), 0); /* vpn times out, mgmt starts and waits */
    assert_string_equal(f->trace, "vpn,mgmt,");
    assert_ptr_not_equal(f->kept, vpn);

    /* vpn reports late, while mgmt runs: ignored, mgmt keeps waiting. */
    bootup_step_report(f->b, vpn, 0);
    bootup_step_report(f->b, vpn, -EIO);
    assert_false(bootup_is_complete(f->b));
    assert_int_equal(bootup_failed_steps(f->b), 1);

    /* mgmt reports through its own token; the next step starts from a zero-delay timer. */
    bootup_step_report(f->b, f->kept, 0);
    assert_false(bootup_is_complete(f->b));
    assert_int_equal(clock_advance(0), 0);
    assert_true(bootup_is_complete(f->b));
    assert_int_equal(bootup_failed_steps(f->b), 1);
    assert_null(bootup_step_current(f->b));

    /* Reports after completion are ignored too. */
    bootup_step_done(f->b, -EIO);
    bootup_step_report(f->b, vpn, -EIO);
    assert_int_equal(bootup_failed_steps(f->b), 1);
    assert_int_equal(f->n_complete_events, 1);
    assert_string_equal(f->trace, "vpn,mgmt,complete,BOOTUP_COMPLETE(1),");
}

static void an_asynchronous_step_reports_from_a_loop_callback(void **state)
{
    struct fixture *f = *state;
    struct step_arg a = {f, "settings", 0}, b = {f, "users", 0};

    assert_int_equal(bootup_add_step(f->b, "settings", 1000, EC_MAX, NULL, step_async, &a), 0);
    assert_int_equal(bootup_add_step(f->b, "users", 1000, EC_MAX, NULL, step_sync, &b), 0);
    assert_int_equal(bootup_start(f->b, on_complete, f), 0);
    assert_string_equal(f->trace, "settings,");
    assert_int_equal(clock_advance(500), 0);
    assert_true(bootup_is_complete(f->b));
    assert_int_equal(bootup_failed_steps(f->b), 0);
    assert_string_equal(f->trace, "settings,report,users,complete,BOOTUP_COMPLETE(0),");
}

static void fault_fail_reports_eio_without_running(void **state)
{
    struct fixture *f = *state;
    struct step_arg a = {f, "rng", 0}, b = {f, "vpn", 0};

    assert_int_equal(
        bootup_add_step(f->b, "rng", 1000, EC_RANDOM_GENERATOR_NOT_RELIABLE, NULL, step_sync, &a),
        0);
    assert_int_equal(bootup_add_step(f->b, "vpn", 1000, EC_MAX, NULL, step_sync, &b), 0);
    assert_int_equal(bootup_set_fault(f->b, "rng:fail"), 0);
    assert_int_equal(bootup_start(f->b, on_complete, f), 0);
    assert_true(bootup_is_complete(f->b));
    assert_int_equal(bootup_failed_steps(f->b), 1);
    assert_true(ec_is_active(f->ecs, EC_RANDOM_GENERATOR_NOT_RELIABLE, NULL));
    assert_string_equal(f->trace, "vpn,complete,BOOTUP_COMPLETE(1),");
}

static void fault_hang_lets_the_deadline_fire(void **state)
{
    struct fixture *f = *state;
    struct step_arg a = {f, "users", 0};

    assert_int_equal(bootup_add_step(f->b, "users", 5000, EC_OTHER_ERROR_STATE, "1", step_sync, &a),
                     0);
    assert_int_equal(bootup_set_fault(f->b, "users:hang"), 0);
    assert_int_equal(bootup_start(f->b, on_complete, f), 0);
    assert_false(bootup_is_complete(f->b));
    assert_int_equal(clock_advance(5000), 0);
    assert_true(bootup_is_complete(f->b));
    assert_true(ec_is_active(f->ecs, EC_OTHER_ERROR_STATE, "1"));
    assert_string_equal(f->trace, "complete,BOOTUP_COMPLETE(1),");
}

static void fault_delay_runs_the_step_late(void **state)
{
    struct fixture *f = *state;
    struct step_arg a = {f, "identity", 0}, b = {f, "vpn", 0};

    assert_int_equal(bootup_add_step(f->b, "identity", 5000, EC_MAX, NULL, step_sync, &a), 0);
    assert_int_equal(
        bootup_add_step(f->b, "vpn", 1000, EC_NO_VPN_TI_CONNECTION, NULL, step_sync, &b), 0);
    assert_int_equal(bootup_set_fault(f->b, "identity:delay=3000"), 0);
    assert_int_equal(bootup_set_fault(f->b, "vpn:delay=2000"), 0);
    assert_int_equal(bootup_start(f->b, on_complete, f), 0);
    assert_int_equal(clock_advance(2999), 0);
    assert_string_equal(f->trace, "");
    assert_int_equal(clock_advance(1), 0);
    /* identity ran within its deadline; vpn's delay is past its deadline and never runs. */
    assert_string_equal(f->trace, "identity,");
    assert_int_equal(clock_advance(1000), 0);
    assert_true(bootup_is_complete(f->b));
    assert_int_equal(clock_advance(5000), 0);
    assert_string_equal(f->trace, "identity,complete,BOOTUP_COMPLETE(1),");
    assert_true(ec_is_active(f->ecs, EC_NO_VPN_TI_CONNECTION, NULL));
}

static void bad_steps_and_faults_are_refused(void **state)
{
    struct fixture *f = *state;
    struct step_arg a = {f, "x", 0};

    assert_int_equal(bootup_add_step(f->b, "", 1000, EC_MAX, NULL, step_sync, &a), -EINVAL);
    assert_int_equal(bootup_add_step(f->b, "a:b", 1000, EC_MAX, NULL, step_sync, &a), -EINVAL);
    assert_int_equal(bootup_add_step(f->b, "x", 0, EC_MAX, NULL, step_sync, &a), -EINVAL);
    assert_int_equal(bootup_add_step(f->b, "x", 1000, EC_MAX, NULL, NULL, &a), -EINVAL);
    assert_int_equal(bootup_add_step(f->b, "x", 1000, EC_MAX, "ct1", step_sync, &a), -EINVAL);
    assert_int_equal(bootup_add_step(f->b, "x", 1000, EC_MAX, NULL, step_sync, &a), 0);
    assert_int_equal(bootup_add_step(f->b, "x", 1000, EC_MAX, NULL, step_sync, &a), -EEXIST);
    assert_int_equal(bootup_set_fault(f->b, "y:fail"), -ENOENT);
    assert_int_equal(bootup_set_fault(f->b, "x:explode"), -EINVAL);
    assert_int_equal(bootup_set_fault(f->b, "x:delay=soon"), -EINVAL);
    assert_int_equal(bootup_set_fault(f->b, "x:delay=-5"), -EINVAL);
    assert_int_equal(bootup_set_fault(f->b, "x"), -EINVAL);
    assert_int_equal(bootup_set_fault(f->b, ":fail"), -EINVAL);
    assert_int_equal(bootup_start(f->b, NULL, NULL), 0);
    assert_true(bootup_is_complete(f->b));
    assert_int_equal(bootup_set_fault(f->b, "x:fail"), -EBUSY);
}

static void many_synchronous_steps_do_not_recurse(void **state)
{
    struct fixture *f = *state;
    struct step_arg a = {f, "s", 0};
    char name[16];

    for (int i = 0; i < 64; i++) {
        (void)snprintf(name, sizeof(name), "s%d", i);
        assert_int_equal(bootup_add_step(f->b, name, 1000, EC_MAX, NULL, step_sync, &a), 0);
    }
    assert_int_equal(bootup_add_step(f->b, "one-too-many", 1000, EC_MAX, NULL, step_sync, &a),
                     -ENOSPC);
    assert_int_equal(bootup_start(f->b, NULL, NULL), 0);
    assert_true(bootup_is_complete(f->b));
    assert_int_equal(f->n_complete_events, 1);
}

static void no_steps_complete_at_once(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(bootup_start(f->b, on_complete, f), 0);
    assert_true(bootup_is_complete(f->b));
    assert_string_equal(f->trace, "complete,BOOTUP_COMPLETE(0),");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(steps_run_in_order_then_complete_then_event, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_failing_step_raises_its_condition_and_bootup_completes,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_hanging_step_times_out_at_its_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(a_late_report_after_the_deadline_is_ignored, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(an_asynchronous_step_reports_from_a_loop_callback, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(fault_fail_reports_eio_without_running, setup, teardown),
        cmocka_unit_test_setup_teardown(fault_hang_lets_the_deadline_fire, setup, teardown),
        cmocka_unit_test_setup_teardown(fault_delay_runs_the_step_late, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_steps_and_faults_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(many_synchronous_steps_do_not_recurse, setup, teardown),
        cmocka_unit_test_setup_teardown(no_steps_complete_at_once, setup, teardown),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
