/* Unit tests for src/services/boot_sinks.c: event sinks remembered in DATA/cetp-sinks.json
 * across a restart of the services, and BOOTUP/BOOTUP_COMPLETE sent to them once over
 * loopback CETP (digest section 2.1). The loop runs until the expected I/O happened, with a
 * real-time guard; expiry uses the virtual clock. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/xmlschemas.h>

#include "services_test.h"

#define RECEIVER_CONNS_MAX 4
#define HOUR_MS (3600LL * 1000)

struct receiver {
    struct evconnlistener *listener;
    uint16_t port;
    int accepted;
    struct bufferevent *conns[RECEIVER_CONNS_MAX];
    struct evbuffer *data;
};

struct fixture {
    struct practice p;
    struct soap_server *srv;
    struct services *svc;
};

static struct event_base *base;

/* ---- loop and receiver ------------------------------------------------------------------ */

static void receiver_on_read(struct bufferevent *bev, void *arg)
{
    struct receiver *r = arg;

    (void)evbuffer_add_buffer(r->data, bufferevent_get_input(bev));
}

static void receiver_on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                               int len, void *arg)
{
    struct receiver *r = arg;
    struct bufferevent *bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);

    assert_non_null(bev);
    assert_true(r->accepted < RECEIVER_CONNS_MAX);
    r->conns[r->accepted++] = bev;
    bufferevent_setcb(bev, receiver_on_read, NULL, NULL, r);
    (void)bufferevent_enable(bev, EV_READ);
}

static void receiver_start(struct receiver *r)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);

    memset(r, 0, sizeof(*r));
    r->data = evbuffer_new();
    r->listener = evconnlistener_new_bind(base, receiver_on_accept, r,
                                          LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
                                          (struct sockaddr *)&sin, sizeof(sin));
    assert_non_null(r->listener);
    assert_int_equal(getsockname(evconnlistener_get_fd(r->listener), (struct sockaddr *)&sin, &len),
                     0);
    r->port = ntohs(sin.sin_port);
}

static void receiver_stop(struct receiver *r)
{
    for (int i = 0; i < r->accepted; i++)
        bufferevent_free(r->conns[i]);
    evconnlistener_free(r->listener);
    evbuffer_free(r->data);
}

static bool has_frame(void *arg)
{
    struct receiver *r = arg;
    uint8_t head[8];
    uint32_t be;

    if (evbuffer_copyout(r->data, head, 8) < 8)
        return false;
    memcpy(&be, head + 4, 4);
    return evbuffer_get_length(r->data) >= 8 + (size_t)ntohl(be);
}

/* Takes one complete frame's message off the received bytes. */
static xmlDocPtr receiver_frame(struct receiver *r)
{
    uint8_t head[8];
    uint32_t be;
    size_t len;
    char *xml;
    xmlDocPtr doc;

    assert_true(has_frame(r));
    assert_int_equal(evbuffer_remove(r->data, head, 8), 8);
    assert_memory_equal(head, SERVICES_CETP_MAGIC, 4);
    memcpy(&be, head + 4, 4);
    len = ntohl(be);
    xml = malloc(len);
    assert_non_null(xml);
    assert_int_equal(evbuffer_remove(r->data, xml, len), (int)len);
    doc = xmlReadMemory(xml, (int)len, NULL, NULL, XML_PARSE_NONET);
    free(xml);
    assert_non_null(doc);
    return doc;
}

static void assert_doc_text(xmlDocPtr doc, const char *name, const char *want)
{
    char *got = NULL;

    for (xmlNodePtr n = xmlDocGetRootElement(doc)->children; n && !got; n = n->next)
        if (n->type == XML_ELEMENT_NODE && xmlStrEqual(n->name, BAD_CAST name))
            got = (char *)xmlNodeGetContent(n);
    assert_non_null(got);
    assert_string_equal(got, want);
    xmlFree(got);
}

/* Validates against EventService.xsd when the api-telematik checkout is there. */
static void assert_valid_event(xmlDocPtr doc)
{
    const char *api = getenv("KONN_API_TELEMATIK");
    char path[512];
    xmlSchemaParserCtxtPtr pctx;
    xmlSchemaValidCtxtPtr vctx;
    xmlSchemaPtr schema;

    snprintf(path, sizeof(path), "%s/conn/EventService.xsd",
             api && api[0] ? api : KONN_API_TELEMATIK);
    if (!fs_exists(path)) {
        printf("SKIP schema validation: %s not usable; set KONN_API_TELEMATIK\n", path);
        return;
    }
    pctx = xmlSchemaNewParserCtxt(path);
    schema = pctx ? xmlSchemaParse(pctx) : NULL;
    xmlSchemaFreeParserCtxt(pctx);
    assert_non_null(schema);
    vctx = xmlSchemaNewValidCtxt(schema);
    assert_non_null(vctx);
    assert_int_equal(xmlSchemaValidateDoc(vctx, doc), 0);
    xmlSchemaFreeValidCtxt(vctx);
    xmlSchemaFree(schema);
}

/* ---- fixture ---------------------------------------------------------------------------- */

static void services_up(struct fixture *f)
{
    struct soap_deps sd = {
        .base = base, .store = f->p.store, .ecs = f->p.ecs, .bus = f->p.bus, .data_dir = f->p.dir};
    struct services_deps deps = {
        .base = base, .store = f->p.store, .ecs = f->p.ecs, .bus = f->p.bus, .data_dir = f->p.dir};

    f->srv = soap_server_new(&sd);
    assert_non_null(f->srv);
    deps.soap = f->srv;
    assert_int_equal(services_start(&deps, &f->svc), 0);
}

static void services_down(struct fixture *f)
{
    f->svc = services_stop(f->svc);
    f->srv = soap_server_free(f->srv);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char msg[256];

    if (!f || practice_make(&f->p, false) < 0)
        return -1;
    if (store_setting_set(f->p.store, "ANCL_TLS_MANDATORY", "Disabled", STORE_ROLE_SUPER_ADMIN, msg,
                          sizeof(msg)) < 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    services_down(f);
    practice_done(&f->p);
    free(f);
    for (int i = 0; i < 5; i++)
        (void)event_base_loop(base, EVLOOP_NONBLOCK);
    return 0;
}

/* What on_subscribe does: add the subscription and remember its sink. */
static const struct services_sub *subscribe(struct fixture *f, uint16_t port)
{
    struct soap_context ctx = practice_ctx("m1", "cs1", "ws1", NULL);
    const struct services_sub *sub = NULL;
    char to[64];

    snprintf(to, sizeof(to), "cetp://127.0.0.1:%u", port);
    assert_int_equal(services__subs_add(f->svc->subs, &ctx, to, "CARD", NULL, &sub), 0);
    assert_int_equal(services__boot_sinks_remember(f->svc->boot_sinks, sub->event_to, "m1"), 0);
    return sub;
}

/* The sinks ("event_to") in DATA/cetp-sinks.json, as a JSON array (owned). */
static json_t *file_sinks(struct fixture *f)
{
    char path[128];
    json_error_t err;
    json_t *root, *sinks;

    snprintf(path, sizeof(path), "%s/cetp-sinks.json", f->p.dir);
    root = json_load_file(path, 0, &err);
    assert_non_null(root);
    sinks = json_incref(json_object_get(root, "sinks"));
    json_decref(root);
    assert_true(json_is_array(sinks));
    return sinks;
}

static void publish_bootup(struct fixture *f)
{
    struct evt_param params[] = {{"FailedSteps", "0"}};
    struct evt_event ev = {.topic = SERVICES_BOOT_TOPIC,
                           .type = EVT_TYPE_OPERATION,
                           .severity = EVT_SEVERITY_INFO,
                           .params = params,
                           .n_params = ARRAY_SIZE(params)};

    assert_int_equal(evt_bus_publish(f->p.bus, &ev), 0);
}

/* ---- tests ------------------------------------------------------------------------------ */

static void bootup_complete_reaches_the_sinks_of_the_last_run_once(void **state)
{
    struct fixture *f = *state;
    struct receiver rx;
    xmlDocPtr doc;
    json_t *sinks;

    receiver_start(&rx);
    services_up(f);
    (void)subscribe(f, rx.port);
    (void)subscribe(f, rx.port); /* the same sink twice is remembered once */
    sinks = file_sinks(f);
    assert_int_equal(json_array_size(sinks), 1);
    json_decref(sinks);
    services_down(f);

    /* The restart: the subscription list is empty, the sink is remembered. */
    services_up(f);
    assert_int_equal(services__subs_count(f->svc->subs), 0);
    assert_int_equal(services__boot_sinks_count(f->svc->boot_sinks), 1);
    publish_bootup(f);
    assert_true(test_pump_until(base, has_frame, &rx));
    doc = receiver_frame(&rx);
    assert_doc_text(doc, "Topic", SERVICES_BOOT_TOPIC);
    assert_doc_text(doc, "SubscriptionID", SERVICES_BOOT_SUB_ID);
    assert_valid_event(doc);
    xmlFreeDoc(doc);
    /* Cleared: the sink must subscribe again; a second BOOTUP_COMPLETE sends nothing. */
    sinks = file_sinks(f);
    assert_int_equal(json_array_size(sinks), 0);
    json_decref(sinks);
    assert_int_equal(services__boot_sinks_count(f->svc->boot_sinks), 0);
    publish_bootup(f);
    for (int i = 0; i < 5; i++)
        (void)event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(evbuffer_get_length(rx.data), 0);
    services_down(f);
    receiver_stop(&rx);
}

static void expiry_keeps_the_sink_and_unsubscribe_forgets_it(void **state)
{
    struct fixture *f = *state;
    const struct services_sub *sub;
    char sink[SERVICES_SINK_MAX + 1];
    json_t *sinks;

    services_up(f);
    (void)subscribe(f, 40001);
    assert_int_equal(clock_advance(26 * HOUR_MS), 0);
    assert_int_equal(services__subs_count(f->svc->subs), 0);
    assert_int_equal(services__boot_sinks_count(f->svc->boot_sinks), 1);

    sub = subscribe(f, 40002);
    (void)str_copy(sink, sizeof(sink), sub->sink);
    (void)subscribe(f, 40002);
    sub = services__subs_at(f->svc->subs, 0);
    assert_int_equal(services__subs_remove(f->svc->subs, "m1", sub->id), 0);
    /* One subscription of the sink is left: it stays remembered. */
    assert_int_equal(services__boot_sinks_forget(f->svc->boot_sinks, f->svc->subs, sink), 0);
    assert_int_equal(services__boot_sinks_count(f->svc->boot_sinks), 2);
    sub = services__subs_at(f->svc->subs, 0);
    assert_int_equal(services__subs_remove(f->svc->subs, "m1", sub->id), 0);
    assert_int_equal(services__boot_sinks_forget(f->svc->boot_sinks, f->svc->subs, sink), 0);
    sinks = file_sinks(f);
    assert_int_equal(json_array_size(sinks), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(sinks, 0), "event_to")),
                        "cetp://127.0.0.1:40001");
    json_decref(sinks);
}

static void at_most_1000_sinks_are_remembered_oldest_evicted(void **state)
{
    struct fixture *f = *state;
    /* Without a data directory nothing is written: 1000 fsyncs would dominate the test. */
    struct services_boot_sinks *bs = services__boot_sinks_new(NULL);
    struct services_subs *none = services__subs_new(1);
    char to[64];

    (void)f;
    assert_non_null(bs);
    assert_non_null(none);
    for (unsigned i = 0; i < SERVICES_BOOT_SINKS_MAX + 5; i++) {
        snprintf(to, sizeof(to), "cetp://127.0.0.1:%u", 20000 + i);
        assert_int_equal(services__boot_sinks_remember(bs, to, "m1"), 0);
    }
    assert_int_equal(services__boot_sinks_count(bs), SERVICES_BOOT_SINKS_MAX);
    /* 20000..20004 were evicted, 20005 is the oldest left. */
    assert_int_equal(services__boot_sinks_forget(bs, none, "127.0.0.1:20004"), 0);
    assert_int_equal(services__boot_sinks_count(bs), SERVICES_BOOT_SINKS_MAX);
    assert_int_equal(services__boot_sinks_forget(bs, none, "127.0.0.1:20005"), 0);
    assert_int_equal(services__boot_sinks_count(bs), SERVICES_BOOT_SINKS_MAX - 1);
    assert_int_equal(services__boot_sinks_remember(bs, "http://x:1", "m1"), -EINVAL);
    services__subs_free(none);
    services__boot_sinks_free(bs);
}

static void unreadable_file_starts_without_sinks(void **state)
{
    struct fixture *f = *state;
    char path[128];

    snprintf(path, sizeof(path), "%s/cetp-sinks.json", f->p.dir);
    assert_int_equal(fs_write_atomic(path, "{not json", 9, 0600), 0);
    services_up(f);
    assert_int_equal(services__boot_sinks_count(f->svc->boot_sinks), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(bootup_complete_reaches_the_sinks_of_the_last_run_once,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(expiry_keeps_the_sink_and_unsubscribe_forgets_it, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(at_most_1000_sinks_are_remembered_oldest_evicted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(unreadable_file_starts_without_sinks, setup, teardown),
    };
    int r;

    clock_init(CLOCK_MODE_VIRTUAL);
    log_level_set(LOG_LEVEL_ERROR);
    base = event_base_new();
    if (!base || clock_attach(base) < 0)
        return 1;
    r = cmocka_run_group_tests(tests, NULL, NULL);
    clock_detach();
    event_base_free(base);
    xmlCleanupParser();
    return r;
}
