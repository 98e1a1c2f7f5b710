/* Unit tests for the set of active error conditions: raise, clear and reset semantics,
 * instances, limits, and the OPERATIONAL_STATE events on a real bus. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/base.h"
#include "events/events.h"
#include "state/state.h"

#define SEEN_MAX 16

struct seen_event {
    char topic[128];
    enum evt_type type;
    enum evt_severity severity;
    size_t n_params;
    char keys[EVT_PARAMS_MAX][EVT_PARAM_KEY_MAX + 1];
    char values[EVT_PARAMS_MAX][256];
};

struct seen {
    struct seen_event ev[SEEN_MAX];
    int n;
};

struct fixture {
    struct evt_bus *bus;
    struct ec_state *st;
    struct seen seen;
    int changes;
};

static void record(const struct evt_event *ev, void *arg)
{
    struct seen *s = arg;
    struct seen_event *e;

    assert_true(s->n < SEEN_MAX);
    e = &s->ev[s->n++];
    (void)str_copy(e->topic, sizeof(e->topic), ev->topic);
    e->type = ev->type;
    e->severity = ev->severity;
    e->n_params = ev->n_params;
    for (size_t i = 0; i < ev->n_params; i++) {
        (void)str_copy(e->keys[i], sizeof(e->keys[i]), ev->params[i].key);
        (void)str_copy(e->values[i], sizeof(e->values[i]), ev->params[i].value);
    }
}

static const char *param(const struct seen_event *e, const char *key)
{
    for (size_t i = 0; i < e->n_params; i++)
        if (strcmp(e->keys[i], key) == 0)
            return e->values[i];
    return NULL;
}

static void count_change(void *arg)
{
    (*(int *)arg)++;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->bus = evt_bus_new(0);
    assert_non_null(f->bus);
    assert_int_equal(evt_bus_subscribe(f->bus, "OPERATIONAL_STATE/", record, &f->seen, NULL), 0);
    f->st = ec_state_new(f->bus);
    assert_non_null(f->st);
    ec_state_on_change(f->st, count_change, &f->changes);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    ec_state_free(f->st);
    evt_bus_free(f->bus);
    free(f);
    return 0;
}

static void raise_publishes_value_true_with_type_severity_and_bedeutung(void **state)
{
    struct fixture *f = *state;
    const struct ec_def *d = ec_def_get(EC_SECURITY_LOG_NOT_WRITABLE);

    assert_int_equal(ec_raise(f->st, EC_SECURITY_LOG_NOT_WRITABLE, NULL, NULL, 0), 1);
    assert_true(ec_is_active(f->st, EC_SECURITY_LOG_NOT_WRITABLE, NULL));
    assert_int_equal(ec_count_active(f->st), 1);
    assert_int_equal(f->seen.n, 1);
    assert_string_equal(f->seen.ev[0].topic, "OPERATIONAL_STATE/EC_Security_Log_Not_Writable");
    assert_int_equal(f->seen.ev[0].type, EVT_TYPE_OPERATION);
    assert_int_equal(f->seen.ev[0].severity, EVT_SEVERITY_FATAL);
    assert_string_equal(param(&f->seen.ev[0], "Value"), "true");
    assert_string_equal(param(&f->seen.ev[0], "Bedeutung"), d->description);
    assert_int_equal(f->changes, 1);
    assert_true(ec_has_fatal(f->st));
}

static void raising_an_active_instance_again_updates_params_without_event(void **state)
{
    struct fixture *f = *state;
    struct evt_param p1[] = {{"NextUpdateCRL", "2026-01-01T00:00:00Z"}};
    struct evt_param p2[] = {{"NextUpdateCRL", "2026-02-01T00:00:00Z"}};

    assert_int_equal(ec_raise(f->st, EC_CRL_OUT_OF_DATE, NULL, p1, 1), 1);
    assert_int_equal(ec_raise(f->st, EC_CRL_OUT_OF_DATE, NULL, p2, 1), 0);
    assert_int_equal(f->seen.n, 1);
    assert_int_equal(f->changes, 1);
    assert_string_equal(param(&f->seen.ev[0], "NextUpdateCRL"), "2026-01-01T00:00:00Z");

    /* The clear event carries the latest parameters. */
    assert_int_equal(ec_clear(f->st, EC_CRL_OUT_OF_DATE, NULL), 1);
    assert_int_equal(f->seen.n, 2);
    assert_string_equal(param(&f->seen.ev[1], "Value"), "false");
    assert_string_equal(param(&f->seen.ev[1], "NextUpdateCRL"), "2026-02-01T00:00:00Z");
    assert_int_equal(f->seen.ev[1].severity, EVT_SEVERITY_FATAL);
    assert_int_equal(f->seen.ev[1].type, EVT_TYPE_SECURITY);
    assert_false(ec_is_active(f->st, EC_CRL_OUT_OF_DATE, NULL));
    assert_false(ec_has_fatal(f->st));
    assert_int_equal(f->changes, 2);
}

static void clear_of_an_inactive_condition_returns_0_without_event(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(ec_clear(f->st, EC_NO_VPN_TI_CONNECTION, NULL), 0);
    assert_int_equal(f->seen.n, 0);
    assert_int_equal(f->changes, 0);
}

static void admin_only_condition_survives_the_detector_clear(void **state)
{
    struct fixture *f = *state;
    struct evt_param p[] = {{"Protokoll", "Sicherheitsprotokoll"}};

    assert_int_equal(ec_raise(f->st, EC_LOG_OVERFLOW, NULL, p, 1), 1);
    assert_true(ec_has_admin_pending(f->st));
    assert_int_equal(ec_clear(f->st, EC_LOG_OVERFLOW, NULL), 0);
    assert_true(ec_is_active(f->st, EC_LOG_OVERFLOW, NULL));
    assert_int_equal(f->seen.n, 1);
    assert_int_equal(ec_reset(f->st, EC_LOG_OVERFLOW, NULL), 0);
    assert_false(ec_is_active(f->st, EC_LOG_OVERFLOW, NULL));
    assert_false(ec_has_admin_pending(f->st));
    assert_int_equal(f->seen.n, 2);
    assert_string_equal(f->seen.ev[1].topic, "OPERATIONAL_STATE/EC_LOG_OVERFLOW");
    assert_string_equal(param(&f->seen.ev[1], "Value"), "false");
    assert_string_equal(param(&f->seen.ev[1], "Protokoll"), "Sicherheitsprotokoll");
    assert_int_equal(ec_reset(f->st, EC_LOG_OVERFLOW, NULL), -ENOENT);
}

static void crypto_alarm_is_admin_only_too(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(ec_raise(f->st, EC_CRYPTOPERATION_ALARM, NULL, NULL, 0), 1);
    assert_int_equal(ec_clear(f->st, EC_CRYPTOPERATION_ALARM, NULL), 0);
    assert_true(ec_has_admin_pending(f->st));
    assert_int_equal(ec_reset(f->st, EC_CRYPTOPERATION_ALARM, NULL), 0);
    assert_int_equal(ec_count_active(f->st), 0);
}

static void situation_condition_refuses_admin_reset(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(ec_raise(f->st, EC_SECURITY_LOG_NOT_WRITABLE, NULL, NULL, 0), 1);
    assert_int_equal(ec_reset(f->st, EC_SECURITY_LOG_NOT_WRITABLE, NULL), -EPERM);
    assert_true(ec_is_active(f->st, EC_SECURITY_LOG_NOT_WRITABLE, NULL));
    assert_false(ec_has_admin_pending(f->st));
    assert_int_equal(ec_clear(f->st, EC_SECURITY_LOG_NOT_WRITABLE, NULL), 1);
}

static void time_states_end_by_detector_or_admin(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(ec_raise(f->st, EC_TIME_DIFFERENCE_INTOLERABLE, NULL, NULL, 0), 1);
    assert_false(ec_has_admin_pending(f->st));
    assert_int_equal(ec_reset(f->st, EC_TIME_DIFFERENCE_INTOLERABLE, NULL), 0);
    assert_int_equal(ec_raise(f->st, EC_TIME_SYNC_PENDING_CRITICAL, NULL, NULL, 0), 1);
    assert_int_equal(ec_clear(f->st, EC_TIME_SYNC_PENDING_CRITICAL, NULL), 1);
    assert_int_equal(ec_raise(f->st, EC_TIME_SYNC_PENDING_WARNING, NULL, NULL, 0), 1);
    assert_int_equal(ec_reset(f->st, EC_TIME_SYNC_PENDING_WARNING, NULL), 0);
    assert_int_equal(f->seen.n, 6);
    assert_int_equal(ec_count_active(f->st), 0);
}

static void parameterised_instances_are_distinct(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(ec_raise(f->st, EC_CARDTERMINAL_NOT_AVAILABLE, "ct2", NULL, 0), 1);
    assert_int_equal(ec_raise(f->st, EC_CARDTERMINAL_NOT_AVAILABLE, "ct1", NULL, 0), 1);
    assert_int_equal(ec_raise(f->st, EC_CARDTERMINAL_NOT_AVAILABLE, "ct1", NULL, 0), 0);
    assert_int_equal(ec_count_active(f->st), 2);
    assert_true(ec_is_active(f->st, EC_CARDTERMINAL_NOT_AVAILABLE, "ct1"));
    assert_true(ec_is_active(f->st, EC_CARDTERMINAL_NOT_AVAILABLE, "ct2"));
    assert_false(ec_is_active(f->st, EC_CARDTERMINAL_NOT_AVAILABLE, "ct3"));
    assert_true(ec_is_active(f->st, EC_CARDTERMINAL_NOT_AVAILABLE, NULL));
    assert_string_equal(param(&f->seen.ev[0], "CtID"), "ct2");
    assert_string_equal(param(&f->seen.ev[1], "CtID"), "ct1");
    assert_int_equal(f->seen.ev[1].severity, EVT_SEVERITY_ERROR);

    assert_int_equal(ec_clear(f->st, EC_CARDTERMINAL_NOT_AVAILABLE, "ct2"), 1);
    assert_false(ec_is_active(f->st, EC_CARDTERMINAL_NOT_AVAILABLE, "ct2"));
    assert_true(ec_is_active(f->st, EC_CARDTERMINAL_NOT_AVAILABLE, "ct1"));
    assert_string_equal(param(&f->seen.ev[2], "CtID"), "ct2");
    assert_string_equal(param(&f->seen.ev[2], "Value"), "false");

    assert_int_equal(ec_raise(f->st, EC_OTHER_ERROR_STATE, "2", NULL, 0), 1);
    assert_string_equal(param(&f->seen.ev[3], "No"), "2");
    assert_false(ec_has_fatal(f->st));
}

static void bad_arguments_are_einval(void **state)
{
    struct fixture *f = *state;
    char long_instance[EC_INSTANCE_MAX + 2];
    struct evt_param no_value[] = {{"Key", NULL}};
    struct evt_param fixed[] = {{"Value", "x"}};
    struct evt_param inst[] = {{"CtID", "ct9"}};
    struct evt_param many[EVT_PARAMS_MAX];

    memset(long_instance, 'a', sizeof(long_instance) - 1);
    long_instance[sizeof(long_instance) - 1] = '\0';
    for (size_t i = 0; i < ARRAY_SIZE(many); i++)
        many[i] = (struct evt_param){"K", "v"};

    assert_int_equal(ec_raise(f->st, EC_CARDTERMINAL_NOT_AVAILABLE, NULL, NULL, 0), -EINVAL);
    assert_int_equal(ec_raise(f->st, EC_CARDTERMINAL_NOT_AVAILABLE, "", NULL, 0), -EINVAL);
    assert_int_equal(ec_raise(f->st, EC_LOG_OVERFLOW, "x", NULL, 0), -EINVAL);
    assert_int_equal(ec_raise(f->st, EC_MAX, NULL, NULL, 0), -EINVAL);
    assert_int_equal(ec_raise(NULL, EC_LOG_OVERFLOW, NULL, NULL, 0), -EINVAL);
    assert_int_equal(ec_raise(f->st, EC_CARDTERMINAL_NOT_AVAILABLE, long_instance, NULL, 0),
                     -EINVAL);
    long_instance[EC_INSTANCE_MAX] = '\0';
    assert_int_equal(ec_raise(f->st, EC_CARDTERMINAL_NOT_AVAILABLE, long_instance, NULL, 0), 1);
    assert_int_equal(ec_raise(f->st, EC_CARDTERMINAL_NOT_AVAILABLE, "ct\n1", NULL, 0), -EINVAL);
    assert_int_equal(ec_raise(f->st, EC_LOG_OVERFLOW, NULL, no_value, 1), -EINVAL);
    assert_int_equal(ec_raise(f->st, EC_LOG_OVERFLOW, NULL, fixed, 1), -EINVAL);
    assert_int_equal(ec_raise(f->st, EC_CARDTERMINAL_NOT_AVAILABLE, "ct9", inst, 1), -EINVAL);
    assert_int_equal(ec_raise(f->st, EC_LOG_OVERFLOW, NULL, many, ARRAY_SIZE(many)), -EINVAL);
    assert_int_equal(ec_raise(f->st, EC_LOG_OVERFLOW, NULL, many, EVT_PARAMS_MAX - 3), 1);
    assert_int_equal(ec_clear(f->st, EC_LOG_OVERFLOW, "x"), -EINVAL);
    assert_int_equal(ec_reset(f->st, EC_CARDTERMINAL_NOT_AVAILABLE, NULL), -EINVAL);
    assert_int_equal(ec_count_active(f->st), 2);
}

static void the_set_is_bounded_at_1024_instances(void **state)
{
    struct fixture *f = *state;
    char name[16];

    evt_bus_free(f->bus);
    f->bus = NULL;
    ec_state_free(f->st);
    f->st = ec_state_new(NULL); /* no bus: nothing to record */
    for (int i = 0; i < 1024; i++) {
        (void)snprintf(name, sizeof(name), "ct%d", i);
        assert_int_equal(ec_raise(f->st, EC_CARDTERMINAL_NOT_AVAILABLE, name, NULL, 0), 1);
    }
    assert_int_equal(ec_raise(f->st, EC_CARDTERMINAL_NOT_AVAILABLE, "one-more", NULL, 0), -ENOSPC);
    /* Updating an active one still works at the limit. */
    assert_int_equal(ec_raise(f->st, EC_CARDTERMINAL_NOT_AVAILABLE, "ct7", NULL, 0), 0);
    assert_int_equal(ec_count_active(f->st), 1024);
    assert_int_equal(ec_clear(f->st, EC_CARDTERMINAL_NOT_AVAILABLE, "ct7"), 1);
    assert_int_equal(ec_raise(f->st, EC_CARDTERMINAL_NOT_AVAILABLE, "one-more", NULL, 0), 1);
}

struct walk {
    char line[8][96];
    int n;
};

static void walk_one(const struct ec_instance_view *v, void *arg)
{
    struct walk *w = arg;

    assert_true(w->n < 8);
    (void)snprintf(w->line[w->n++], sizeof(w->line[0]), "%s(%s)%zu", ec_def_get(v->id)->name,
                   v->instance, v->n_params);
    assert_true(v->since_ms > 0);
}

static void foreach_walks_in_table_then_instance_order(void **state)
{
    struct fixture *f = *state;
    struct evt_param p[] = {{"Protokoll", "Systemprotokoll"}};
    struct walk w = {0};

    assert_int_equal(ec_raise(f->st, EC_NK_CERTIFICATE_EXPIRED, NULL, NULL, 0), 1);
    assert_int_equal(ec_raise(f->st, EC_CARDTERMINAL_NOT_AVAILABLE, "ctB", NULL, 0), 1);
    assert_int_equal(ec_raise(f->st, EC_LOG_OVERFLOW, NULL, p, 1), 1);
    assert_int_equal(ec_raise(f->st, EC_CARDTERMINAL_NOT_AVAILABLE, "ctA", NULL, 0), 1);
    assert_int_equal(ec_raise(f->st, EC_CARDTERMINAL_SOFTWARE_OUT_OF_DATE, "ctZ", NULL, 0), 1);
    ec_foreach_active(f->st, walk_one, &w);
    assert_int_equal(w.n, 5);
    assert_string_equal(w.line[0], "EC_CardTerminal_Software_Out_Of_Date(ctZ)0");
    assert_string_equal(w.line[1], "EC_LOG_OVERFLOW()1");
    assert_string_equal(w.line[2], "EC_CardTerminal_Not_Available(ctA)0");
    assert_string_equal(w.line[3], "EC_CardTerminal_Not_Available(ctB)0");
    assert_string_equal(w.line[4], "EC_NK_Certificate_Expired()0");
}

/* A handler that clears the condition it is told about: the set changes during publish. */
static void clear_from_handler(const struct evt_event *ev, void *arg)
{
    struct ec_state *st = arg;

    if (strcmp(evt_event_param(ev, "Value"), "true") == 0)
        assert_int_equal(ec_clear(st, EC_CRL_OUT_OF_DATE, NULL), 1);
}

static void a_handler_may_change_the_set_while_called(void **state)
{
    struct fixture *f = *state;
    struct evt_param p[] = {{"NextUpdateCRL", "2026-01-01T00:00:00Z"}};

    assert_int_equal(evt_bus_subscribe(f->bus, "OPERATIONAL_STATE/EC_CRL_Out_Of_Date",
                                       clear_from_handler, f->st, NULL),
                     0);
    assert_int_equal(ec_raise(f->st, EC_CRL_OUT_OF_DATE, NULL, p, 1), 1);
    assert_false(ec_is_active(f->st, EC_CRL_OUT_OF_DATE, NULL));
    /* The recorder, subscribed first, saw true, then false (nested), in that order. */
    assert_int_equal(f->seen.n, 2);
    assert_string_equal(param(&f->seen.ev[0], "Value"), "true");
    assert_string_equal(param(&f->seen.ev[1], "Value"), "false");
    assert_string_equal(param(&f->seen.ev[1], "NextUpdateCRL"), "2026-01-01T00:00:00Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(raise_publishes_value_true_with_type_severity_and_bedeutung,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            raising_an_active_instance_again_updates_params_without_event, setup, teardown),
        cmocka_unit_test_setup_teardown(clear_of_an_inactive_condition_returns_0_without_event,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(admin_only_condition_survives_the_detector_clear, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(crypto_alarm_is_admin_only_too, setup, teardown),
        cmocka_unit_test_setup_teardown(situation_condition_refuses_admin_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(time_states_end_by_detector_or_admin, setup, teardown),
        cmocka_unit_test_setup_teardown(parameterised_instances_are_distinct, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_arguments_are_einval, setup, teardown),
        cmocka_unit_test_setup_teardown(the_set_is_bounded_at_1024_instances, setup, teardown),
        cmocka_unit_test_setup_teardown(foreach_walks_in_table_then_instance_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_handler_may_change_the_set_while_called, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
