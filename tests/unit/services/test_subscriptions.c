/* Unit tests for src/services/subscriptions.c: EventTo parsing, topic matching at every
 * level, XPath filters on the EVT:Event document, the 25-hour lifetime on the virtual clock,
 * renewal, the caps, and Mandant scoping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "services_test.h"

#define HOUR_MS (3600LL * 1000)

static struct soap_context ctx_m1, ctx_m1_ws2, ctx_m2;

static int setup(void **state)
{
    struct services_subs *subs = services__subs_new(SERVICES_SUBS_MAX);

    if (!subs)
        return -1;
    *state = subs;
    return 0;
}

static int teardown(void **state)
{
    services__subs_free(*state);
    return 0;
}

static const struct services_sub *add(struct services_subs *subs, const struct soap_context *ctx,
                                      const char *event_to, const char *topic, const char *filter)
{
    const struct services_sub *sub = NULL;

    assert_int_equal(services__subs_add(subs, ctx, event_to, topic, filter, &sub), 0);
    assert_non_null(sub);
    return sub;
}

static void event_to_accepts_cetp_host_port_only(void **state)
{
    char host[SERVICES_HOST_MAX + 1], sink[SERVICES_SINK_MAX + 1];
    uint16_t port = 0;
    static const char *const bad[] = {
        "http://127.0.0.1:80",
        "cetp://127.0.0.1",
        "cetp://127.0.0.1:",
        "cetp://:80",
        "cetp://127.0.0.1:0",
        "cetp://127.0.0.1:65536",
        "cetp://127.0.0.1:80/path",
        "cetp://user@host:80",
        "cetp://[::1:80",
        "cetp://h st:80",
        "cetp://[]:80",
        "",
        "cetp://127.0.0.1:80x",
    };

    assert_int_equal(services__event_to_parse("cetp://192.0.2.7:8585", host, sizeof(host), &port,
                                              sink, sizeof(sink)),
                     0);
    assert_string_equal(host, "192.0.2.7");
    assert_int_equal(port, 8585);
    assert_string_equal(sink, "192.0.2.7:8585");
    assert_int_equal(services__event_to_parse("CETP://PS-Server.example:1/", host, sizeof(host),
                                              &port, sink, sizeof(sink)),
                     0);
    assert_string_equal(host, "ps-server.example");
    assert_string_equal(sink, "ps-server.example:1");
    assert_int_equal(services__event_to_parse("cetp://[::1]:65535", host, sizeof(host), &port, sink,
                                              sizeof(sink)),
                     0);
    assert_string_equal(host, "::1");
    assert_string_equal(sink, "[::1]:65535");
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        assert_int_equal(services__event_to_parse(bad[i], NULL, 0, NULL, NULL, 0), -EINVAL);
    assert_int_equal(services__event_to_parse(NULL, NULL, 0, NULL, NULL, 0), -EINVAL);
}

static void topic_matches_itself_and_every_level_below(void **state)
{
    assert_true(services__topic_matches("CARD", "CARD/INSERTED"));
    assert_true(services__topic_matches("CARD", "CARD/REMOVED"));
    assert_true(services__topic_matches("CARD", "CARD"));
    assert_false(services__topic_matches("CARD", "CARDS/INSERTED"));
    assert_false(services__topic_matches("CARD/INSERTED", "CARD/REMOVED"));
    assert_true(services__topic_matches("CARD/INSERTED", "CARD/INSERTED"));
    assert_true(services__topic_matches("OPERATIONAL_STATE",
                                        "OPERATIONAL_STATE/EC_Security_Log_Not_Writable"));
    assert_true(services__topic_matches("NETWORK/VPN_TI", "NETWORK/VPN_TI/UP"));
    assert_false(services__topic_matches("NETWORK/VPN_TI", "NETWORK/VPN_SIS/DOWN"));
    assert_false(services__topic_matches("", "CARD/INSERTED"));
}

static void list_starts_empty(void **state)
{
    struct services_subs *subs = *state;

    /* TIP1-A_4613. */
    assert_int_equal(services__subs_count(subs), 0);
    assert_null(services__subs_at(subs, 0));
}

static void subscribe_gives_uuid_and_25_hour_termination(void **state)
{
    struct services_subs *subs = *state;
    int64_t before = clock_now_ms();
    const struct services_sub *sub = add(subs, &ctx_m1, "cetp://127.0.0.1:9000", "CARD/", NULL);

    assert_int_equal(strlen(sub->id), 36);
    assert_int_equal(sub->id[8], '-');
    assert_int_equal(sub->id[14], '4');
    assert_string_equal(sub->topic, "CARD");
    assert_string_equal(sub->sink, "127.0.0.1:9000");
    assert_string_equal(sub->mandant_id, "m1");
    assert_true(sub->termination_ms >= before + 25 * HOUR_MS);
    assert_true(sub->termination_ms <= clock_now_ms() + 25 * HOUR_MS);
    assert_ptr_equal(services__subs_find(subs, "m1", sub->id), sub);
}

static void bad_topic_or_event_to_is_refused(void **state)
{
    struct services_subs *subs = *state;
    char long_topic[SERVICES_TOPIC_MAX + 2];

    memset(long_topic, 'A', sizeof(long_topic) - 1);
    long_topic[sizeof(long_topic) - 1] = '\0';
    assert_int_equal(services__subs_add(subs, &ctx_m1, "cetp://h:1", "", NULL, NULL), -EINVAL);
    assert_int_equal(services__subs_add(subs, &ctx_m1, "cetp://h:1", "/", NULL, NULL), -EINVAL);
    assert_int_equal(services__subs_add(subs, &ctx_m1, "cetp://h:1", long_topic, NULL, NULL),
                     -EINVAL);
    assert_int_equal(services__subs_add(subs, &ctx_m1, "tcp://h:1", "CARD", NULL, NULL), -EINVAL);
    assert_int_equal(services__subs_count(subs), 0);
}

static xmlDocPtr card_inserted_doc(const char *card_type)
{
    struct evt_param params[] = {{"CardHandle", "h1"}, {"CardType", card_type}, {"CtID", "ct1"}};
    struct evt_event ev = {.topic = "CARD/INSERTED",
                           .type = EVT_TYPE_OPERATION,
                           .severity = EVT_SEVERITY_INFO,
                           .params = params,
                           .n_params = ARRAY_SIZE(params)};
    xmlDocPtr doc = services__event_doc_new(&ev);

    assert_non_null(doc);
    return doc;
}

static void filter_selects_events_by_parameter(void **state)
{
    struct services_subs *subs = *state;
    const struct services_sub *egk =
        add(subs, &ctx_m1, "cetp://h:1", "CARD",
            "/EVT:Event/EVT:Message/EVT:Parameter[EVT:Key='CardType' and EVT:Value='EGK']");
    const struct services_sub *sev =
        add(subs, &ctx_m1, "cetp://h:1", "CARD", "/EVT:Event/EVT:Severity = 'Info'");
    const struct services_sub *none = add(subs, &ctx_m1, "cetp://h:1", "CARD", NULL);
    xmlDocPtr egk_doc = card_inserted_doc("EGK"), hba_doc = card_inserted_doc("HBA");

    assert_int_equal(services__sub_filter_matches(egk, egk_doc), 1);
    assert_int_equal(services__sub_filter_matches(egk, hba_doc), 0);
    assert_int_equal(services__sub_filter_matches(sev, hba_doc), 1);
    assert_int_equal(services__sub_filter_matches(none, hba_doc), 1);
    xmlFreeDoc(egk_doc);
    xmlFreeDoc(hba_doc);
}

static void invalid_filter_is_refused_at_subscribe(void **state)
{
    struct services_subs *subs = *state;
    char long_filter[SERVICES_FILTER_MAX + 2];

    memset(long_filter, '1', sizeof(long_filter) - 1);
    long_filter[sizeof(long_filter) - 1] = '\0';
    assert_int_equal(services__subs_add(subs, &ctx_m1, "cetp://h:1", "CARD", "/EVT:Event[", NULL),
                     -EBADMSG);
    /* An unbound prefix fails only when evaluated: the trial run at Subscribe catches it. */
    assert_int_equal(services__subs_add(subs, &ctx_m1, "cetp://h:1", "CARD", "/x:Event", NULL),
                     -EBADMSG);
    assert_int_equal(services__subs_add(subs, &ctx_m1, "cetp://h:1", "CARD", long_filter, NULL),
                     -EBADMSG);
    /* Too expensive: nested descendant scans exceed the step budget on the sample event. */
    assert_int_equal(
        services__subs_add(subs, &ctx_m1, "cetp://h:1", "CARD",
                           "count(//node()[count(//node()[count(//node()[count(//node())>0])>0])"
                           ">0])",
                           NULL),
        -EBADMSG);
    assert_int_equal(services__subs_count(subs), 0);
}

static int expired_calls;

static void count_expired(void *arg)
{
    expired_calls++;
}

static void subscription_expires_after_25_hours_of_connector_time(void **state)
{
    struct services_subs *subs = *state;
    char id[SERVICES_SUB_ID_MAX + 1];

    expired_calls = 0;
    services__subs_on_expired(subs, count_expired, NULL);
    (void)str_copy(id, sizeof(id), add(subs, &ctx_m1, "cetp://h:1", "CARD", NULL)->id);
    assert_int_equal(clock_advance(25 * HOUR_MS - 1000), 0);
    assert_non_null(services__subs_find(subs, "m1", id));
    assert_int_equal(expired_calls, 0);
    assert_int_equal(clock_advance(2000), 0);
    assert_null(services__subs_find(subs, "m1", id));
    assert_int_equal(services__subs_count(subs), 0);
    assert_int_equal(expired_calls, 1);
}

static void renew_extends_lifetime_from_now(void **state)
{
    struct services_subs *subs = *state;
    const struct services_sub *sub = add(subs, &ctx_m1, "cetp://h:1", "CARD", NULL);
    const struct services_sub *other = add(subs, &ctx_m1, "cetp://h:1", "CT", NULL);
    const struct services_sub *renewed = NULL;
    char id[SERVICES_SUB_ID_MAX + 1], other_id[SERVICES_SUB_ID_MAX + 1];
    int64_t old_term = sub->termination_ms;

    (void)str_copy(id, sizeof(id), sub->id);
    (void)str_copy(other_id, sizeof(other_id), other->id);
    assert_int_equal(clock_advance(20 * HOUR_MS), 0);
    assert_int_equal(services__subs_renew(subs, "m1", id, &renewed), 0);
    assert_true(renewed->termination_ms >= old_term + 20 * HOUR_MS);
    assert_int_equal(clock_advance(10 * HOUR_MS), 0);
    /* 30 h after Subscribe: the renewed one lives, the other expired. */
    assert_non_null(services__subs_find(subs, "m1", id));
    assert_null(services__subs_find(subs, "m1", other_id));
    assert_int_equal(clock_advance(16 * HOUR_MS), 0);
    assert_null(services__subs_find(subs, "m1", id));
}

static void another_mandant_cannot_see_renew_or_remove(void **state)
{
    struct services_subs *subs = *state;
    const struct services_sub *sub = add(subs, &ctx_m1, "cetp://h:1", "CARD", NULL);

    assert_null(services__subs_find(subs, "m2", sub->id));
    assert_int_equal(services__subs_renew(subs, "m2", sub->id, NULL), -ENOENT);
    assert_int_equal(services__subs_remove(subs, "m2", sub->id), -ENOENT);
    assert_int_equal(services__subs_remove_event_to(subs, "m2", "cetp://h:1"), 0);
    assert_int_equal(services__subs_count(subs), 1);
    assert_int_equal(services__subs_remove(subs, "m1", sub->id), 0);
    assert_int_equal(services__subs_count(subs), 0);
    assert_int_equal(services__subs_remove(subs, "m1", "nope"), -ENOENT);
}

static void unsubscribe_by_event_to_removes_the_mandants_subscriptions_of_that_sink(void **state)
{
    struct services_subs *subs = *state;

    add(subs, &ctx_m1, "cetp://Host:1", "CARD", NULL);
    add(subs, &ctx_m1_ws2, "cetp://host:1/", "CT", NULL);
    add(subs, &ctx_m1, "cetp://host:2", "CARD", NULL);
    add(subs, &ctx_m2, "cetp://host:1", "CARD", NULL);
    assert_int_equal(services__subs_remove_event_to(subs, "m1", "cetp://HOST:1"), 2);
    assert_int_equal(services__subs_count(subs), 2);
    assert_true(services__subs_has_sink(subs, "host:1"));
    assert_int_equal(services__subs_remove_event_to(subs, "m1", "bogus"), -EINVAL);
    /* A dropped sink loses its subscriptions of every Mandant. */
    assert_int_equal(services__subs_remove_sink(subs, "host:1"), 1);
    assert_false(services__subs_has_sink(subs, "host:1"));
    assert_int_equal(services__subs_count(subs), 1);
}

static void at_least_999_and_at_most_the_cap(void **state)
{
    struct services_subs *subs = *state;

    for (int i = 0; i < SERVICES_SUBS_MAX; i++)
        assert_int_equal(
            services__subs_add(subs, i % 2 ? &ctx_m1 : &ctx_m2, "cetp://h:1", "CARD", NULL, NULL),
            0);
    assert_true(services__subs_count(subs) >= 999);
    assert_int_equal(services__subs_add(subs, &ctx_m1, "cetp://h:1", "CARD", NULL, NULL), -ENOSPC);
    assert_int_equal(services__subs_remove(subs, "m1", services__subs_at(subs, 1)->id), 0);
    assert_int_equal(services__subs_add(subs, &ctx_m1, "cetp://h:1", "CARD", NULL, NULL), 0);
}

static void small_cap_is_honoured(void **state)
{
    struct services_subs *subs = services__subs_new(2);

    assert_non_null(subs);
    assert_int_equal(services__subs_add(subs, &ctx_m1, "cetp://h:1", "A", NULL, NULL), 0);
    assert_int_equal(services__subs_add(subs, &ctx_m1, "cetp://h:1", "B", NULL, NULL), 0);
    assert_int_equal(services__subs_add(subs, &ctx_m1, "cetp://h:1", "C", NULL, NULL), -ENOSPC);
    services__subs_free(subs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(event_to_accepts_cetp_host_port_only),
        cmocka_unit_test(topic_matches_itself_and_every_level_below),
        cmocka_unit_test_setup_teardown(list_starts_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(subscribe_gives_uuid_and_25_hour_termination, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(bad_topic_or_event_to_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(filter_selects_events_by_parameter, setup, teardown),
        cmocka_unit_test_setup_teardown(invalid_filter_is_refused_at_subscribe, setup, teardown),
        cmocka_unit_test_setup_teardown(subscription_expires_after_25_hours_of_connector_time,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(renew_extends_lifetime_from_now, setup, teardown),
        cmocka_unit_test_setup_teardown(another_mandant_cannot_see_renew_or_remove, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            unsubscribe_by_event_to_removes_the_mandants_subscriptions_of_that_sink, setup,
            teardown),
        cmocka_unit_test_setup_teardown(at_least_999_and_at_most_the_cap, setup, teardown),
        cmocka_unit_test(small_cap_is_honoured),
    };

    clock_init(CLOCK_MODE_VIRTUAL);
    log_level_set(LOG_LEVEL_WARNING);
    ctx_m1 = practice_ctx("m1", "cs1", "ws1", NULL);
    ctx_m1_ws2 = practice_ctx("m1", "cs1", "ws2", NULL);
    ctx_m2 = practice_ctx("m2", "cs2", "ws3", NULL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
