/* Unit tests for the event bus: prefix matching, order, limits, history. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "events/events.h"

struct seen {
    char topics[8][64];
    int n;
    uint64_t unsub_id;
    struct evt_bus *bus;
};

static void record(const struct evt_event *ev, void *arg)
{
    struct seen *s = arg;

    if (s->n < 8)
        strncpy(s->topics[s->n++], ev->topic, 63);
}

static void unsubscribe_self(const struct evt_event *ev, void *arg)
{
    struct seen *s = arg;

    record(ev, arg);
    assert_int_equal(evt_bus_unsubscribe(s->bus, s->unsub_id), 0);
}

static void handlers_get_matching_prefixes_only(void **state)
{
    struct evt_bus *bus = evt_bus_new(0);
    struct seen all = {0}, ops = {0};
    struct evt_event ev = {.topic = "OPERATIONAL_STATE/EC_LOG_OVERFLOW"};
    struct evt_event boot = {.topic = "BOOTUP/BOOTUP_COMPLETE"};

    assert_int_equal(evt_bus_subscribe(bus, "", record, &all, NULL), 0);
    assert_int_equal(evt_bus_subscribe(bus, "OPERATIONAL_STATE/", record, &ops, NULL), 0);
    assert_int_equal(evt_bus_publish(bus, &ev), 0);
    assert_int_equal(evt_bus_publish(bus, &boot), 0);
    assert_int_equal(all.n, 2);
    assert_int_equal(ops.n, 1);
    assert_string_equal(ops.topics[0], "OPERATIONAL_STATE/EC_LOG_OVERFLOW");
    evt_bus_free(bus);
}

static void handler_may_unsubscribe_itself_while_called(void **state)
{
    struct evt_bus *bus = evt_bus_new(0);
    struct seen s = {.bus = bus};
    struct evt_event ev = {.topic = "A"};

    assert_int_equal(evt_bus_subscribe(bus, "", unsubscribe_self, &s, &s.unsub_id), 0);
    assert_int_equal(evt_bus_publish(bus, &ev), 0);
    assert_int_equal(evt_bus_publish(bus, &ev), 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(evt_bus_unsubscribe(bus, s.unsub_id), -ENOENT);
    evt_bus_free(bus);
}

static void events_over_xsd_limits_are_refused(void **state)
{
    struct evt_bus *bus = evt_bus_new(0);
    char long_key[EVT_PARAM_KEY_MAX + 2];
    struct evt_param p = {long_key, "v"};
    struct evt_event ev = {.topic = "T", .params = &p, .n_params = 1};
    struct evt_event empty = {.topic = ""};

    memset(long_key, 'k', sizeof(long_key) - 1);
    long_key[sizeof(long_key) - 1] = '\0';
    assert_int_equal(evt_bus_publish(bus, &ev), -EINVAL);
    assert_int_equal(evt_bus_publish(bus, &empty), -EINVAL);
    assert_int_equal(evt_bus_last_seq(bus), 0);
    evt_bus_free(bus);
}

struct hist {
    uint64_t seqs[8];
    char values[8][16];
    int n;
};

static void collect(const struct evt_event *ev, void *arg)
{
    struct hist *h = arg;
    const char *v = evt_event_param(ev, "Value");

    h->seqs[h->n] = ev->seq;
    strncpy(h->values[h->n], v ? v : "", 15);
    h->n++;
}

static void history_keeps_newest_copies_in_order(void **state)
{
    struct evt_bus *bus = evt_bus_new(3);
    struct hist h = {0};
    char value[16];
    struct evt_param p = {"Value", value};
    struct evt_event ev = {.topic = "T", .params = &p, .n_params = 1};

    for (int i = 1; i <= 5; i++) {
        snprintf(value, sizeof(value), "v%d", i);
        assert_int_equal(evt_bus_publish(bus, &ev), 0);
    }
    strcpy(value, "changed");
    assert_int_equal(evt_bus_history(bus, 0, collect, &h), 3);
    assert_int_equal(h.seqs[0], 3);
    assert_int_equal(h.seqs[2], 5);
    assert_string_equal(h.values[0], "v3");
    assert_string_equal(h.values[2], "v5");
    h.n = 0;
    assert_int_equal(evt_bus_history(bus, 4, collect, &h), 1);
    assert_int_equal(h.seqs[0], 5);
    evt_bus_free(bus);
}

static void type_and_severity_names_round_trip(void **state)
{
    enum evt_type t;
    enum evt_severity s;

    for (int i = 0; i < EVT_TYPE_MAX; i++) {
        assert_int_equal(evt_type_from_string(evt_type_to_string((enum evt_type)i), &t), 0);
        assert_int_equal(t, i);
    }
    for (int i = 0; i < EVT_SEVERITY_MAX; i++) {
        assert_int_equal(evt_severity_from_string(evt_severity_to_string((enum evt_severity)i), &s),
                         0);
        assert_int_equal(s, i);
    }
    assert_int_equal(evt_type_from_string("Bogus", &t), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(handlers_get_matching_prefixes_only),
        cmocka_unit_test(handler_may_unsubscribe_itself_while_called),
        cmocka_unit_test(events_over_xsd_limits_are_refused),
        cmocka_unit_test(history_keeps_newest_copies_in_order),
        cmocka_unit_test(type_and_severity_names_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
