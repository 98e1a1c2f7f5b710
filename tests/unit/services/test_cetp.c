/* Unit tests for src/services/cetp.c: delivery over loopback TCP and TLS, one kept-open
 * connection per sink, selection by topic, filter and Mandant, failure counting, and that a
 * refused or stalled sink never blocks the loop and is dropped after EVT_MAX_TRY. The loop
 * runs until the expected I/O happened (with a real-time guard); timeouts use the virtual
 * clock. */
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
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <libxml/parser.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "services_test.h"

#define RECEIVER_CONNS_MAX 16

struct receiver {
    struct evconnlistener *listener;
    uint16_t port;
    SSL_CTX *tls;
    int accepted;
    bool peer_cert;
    struct bufferevent *conns[RECEIVER_CONNS_MAX];
    struct evbuffer *data;
};

struct fixture {
    struct event_base *base;
    struct practice p;
    struct services_subs *subs;
    struct services_cetp *cetp;
};

static struct event_base *base;

/* ---- loop and receivers ----------------------------------------------------------------- */

/* Runs the loop for a few turns without waiting for anything in particular. */
static void pump_a_little(void)
{
    for (int i = 0; i < 5; i++)
        (void)event_base_loop(base, EVLOOP_NONBLOCK);
}

static void receiver_on_read(struct bufferevent *bev, void *arg)
{
    struct receiver *r = arg;
    SSL *ssl = bufferevent_openssl_get_ssl(bev);

    if (ssl && SSL_get0_peer_certificate(ssl))
        r->peer_cert = true;
    (void)evbuffer_add_buffer(r->data, bufferevent_get_input(bev));
}

static void receiver_on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                               int len, void *arg)
{
    struct receiver *r = arg;
    struct bufferevent *bev;

    if (r->tls)
        bev = bufferevent_openssl_socket_new(base, fd, SSL_new(r->tls), BUFFEREVENT_SSL_ACCEPTING,
                                             BEV_OPT_CLOSE_ON_FREE);
    else
        bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    assert_non_null(bev);
    assert_true(r->accepted < RECEIVER_CONNS_MAX);
    r->conns[r->accepted++] = bev;
    bufferevent_setcb(bev, receiver_on_read, NULL, NULL, r);
    (void)bufferevent_enable(bev, EV_READ);
}

/* Listens on 127.0.0.1:port (0: any free port). */
static void receiver_start_on(struct receiver *r, SSL_CTX *tls, uint16_t port)
{
    struct sockaddr_in sin = {
        .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = htons(port)};
    socklen_t len = sizeof(sin);

    memset(r, 0, sizeof(*r));
    r->tls = tls;
    r->data = evbuffer_new();
    r->listener = evconnlistener_new_bind(base, receiver_on_accept, r,
                                          LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
                                          (struct sockaddr *)&sin, sizeof(sin));
    assert_non_null(r->listener);
    assert_int_equal(getsockname(evconnlistener_get_fd(r->listener), (struct sockaddr *)&sin, &len),
                     0);
    r->port = ntohs(sin.sin_port);
}

static void receiver_start(struct receiver *r, SSL_CTX *tls)
{
    receiver_start_on(r, tls, 0);
}

static void receiver_stop(struct receiver *r)
{
    for (int i = 0; i < r->accepted; i++)
        bufferevent_free(r->conns[i]);
    evconnlistener_free(r->listener);
    evbuffer_free(r->data);
}

/* Takes one complete frame's message off the received bytes; NULL if none yet. */
static xmlDocPtr receiver_frame(struct receiver *r)
{
    uint8_t head[8];
    uint32_t be;
    size_t len;
    char *xml;
    xmlDocPtr doc;

    if (evbuffer_copyout(r->data, head, 8) < 8)
        return NULL;
    assert_memory_equal(head, "CETP", 4);
    memcpy(&be, head + 4, 4);
    len = ntohl(be);
    if (evbuffer_get_length(r->data) < 8 + len)
        return NULL;
    xml = malloc(len);
    assert_non_null(xml);
    assert_int_equal(evbuffer_drain(r->data, 8), 0);
    assert_int_equal(evbuffer_remove(r->data, xml, len), (int)len);
    doc = xmlReadMemory(xml, (int)len, NULL, NULL, XML_PARSE_NONET);
    free(xml);
    assert_non_null(doc);
    return doc;
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

static char *doc_text(xmlDocPtr doc, const char *name)
{
    for (xmlNodePtr n = xmlDocGetRootElement(doc)->children; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE && xmlStrEqual(n->name, BAD_CAST name))
            return (char *)xmlNodeGetContent(n);
    return NULL;
}

static void assert_doc_text(xmlDocPtr doc, const char *name, const char *want)
{
    char *got = doc_text(doc, name);

    assert_non_null(got);
    assert_string_equal(got, want);
    xmlFree(got);
}

/* ---- fixture ---------------------------------------------------------------------------- */

static void setting(struct fixture *f, const char *name, const char *value)
{
    char msg[256];

    assert_true(
        store_setting_set(f->p.store, name, value, STORE_ROLE_SUPER_ADMIN, msg, sizeof(msg)) >= 0);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct services_cetp_deps deps;

    if (!f || practice_make(&f->p, false) < 0)
        return -1;
    setting(f, "ANCL_TLS_MANDATORY", "Disabled");
    f->subs = services__subs_new(SERVICES_SUBS_MAX);
    deps = (struct services_cetp_deps){
        .base = base, .store = f->p.store, .subs = f->subs, .data_dir = f->p.dir};
    f->cetp = services__cetp_new(&deps);
    if (!f->subs || !f->cetp)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    services__cetp_free(f->cetp);
    services__subs_free(f->subs);
    practice_done(&f->p);
    free(f);
    pump_a_little();
    return 0;
}

static const struct services_sub *subscribe(struct fixture *f, const char *mandant, uint16_t port,
                                            const char *topic, const char *filter)
{
    struct soap_context ctx = strcmp(mandant, "m1") == 0 ? practice_ctx("m1", "cs1", "ws1", NULL)
                                                         : practice_ctx("m2", "cs2", "ws3", NULL);
    const struct services_sub *sub = NULL;
    char to[64];

    snprintf(to, sizeof(to), "cetp://127.0.0.1:%u", port);
    assert_int_equal(services__subs_add(f->subs, &ctx, to, topic, filter, &sub), 0);
    return sub;
}

static void publish(struct fixture *f, const char *topic, const char *card_type, const char *ct_id)
{
    struct evt_param params[] = {{"CardType", card_type}, {"CtID", ct_id}};
    struct evt_event ev = {.topic = topic,
                           .type = EVT_TYPE_OPERATION,
                           .severity = EVT_SEVERITY_INFO,
                           .params = params,
                           .n_params = ct_id ? 2 : 1};

    services__cetp_deliver(f->cetp, &ev);
}

static char sink_key[SERVICES_SINK_MAX + 1];

static void sink_key_for(uint16_t port)
{
    snprintf(sink_key, sizeof(sink_key), "127.0.0.1:%u", port);
}

/* ---- delivery --------------------------------------------------------------------------- */

static void event_reaches_sink_with_its_subscription_id(void **state)
{
    struct fixture *f = *state;
    struct receiver r;
    const struct services_sub *sub;
    xmlDocPtr doc;

    receiver_start(&r, NULL);
    sub = subscribe(f, "m1", r.port, "CARD", NULL);
    publish(f, "CARD/INSERTED", "EGK", "ct1");
    assert_true(test_pump_until(base, has_frame, &r));
    doc = receiver_frame(&r);
    assert_doc_text(doc, "Topic", "CARD/INSERTED");
    assert_doc_text(doc, "Type", "Operation");
    assert_doc_text(doc, "Severity", "Info");
    assert_doc_text(doc, "SubscriptionID", sub->id);
    xmlFreeDoc(doc);
    receiver_stop(&r);
}

static void one_connection_per_sink_is_kept_and_reused(void **state)
{
    struct fixture *f = *state;
    struct receiver r;
    xmlDocPtr a, b;

    receiver_start(&r, NULL);
    subscribe(f, "m1", r.port, "CARD", NULL);
    publish(f, "CARD/INSERTED", "EGK", "ct1");
    assert_true(test_pump_until(base, has_frame, &r));
    a = receiver_frame(&r);
    publish(f, "CARD/REMOVED", "EGK", "ct1");
    assert_true(test_pump_until(base, has_frame, &r));
    b = receiver_frame(&r);
    assert_doc_text(a, "Topic", "CARD/INSERTED");
    assert_doc_text(b, "Topic", "CARD/REMOVED");
    assert_int_equal(r.accepted, 1);
    assert_int_equal(services__cetp_sink_count(f->cetp), 1);
    xmlFreeDoc(a);
    xmlFreeDoc(b);
    receiver_stop(&r);
}

static void topic_filter_and_internal_topics_select_what_is_sent(void **state)
{
    struct fixture *f = *state;
    struct receiver r;
    xmlDocPtr doc;
    char *value;

    receiver_start(&r, NULL);
    subscribe(f, "m1", r.port, "CARD",
              "/EVT:Event/EVT:Message/EVT:Parameter[EVT:Key='CardType']/EVT:Value='HBA'");
    publish(f, "CARD/INSERTED", "EGK", "ct1");  /* filtered out */
    publish(f, "CT/CONNECTED", "HBA", "ct1");   /* other topic */
    publish(f, "CARDS/INSERTED", "HBA", "ct1"); /* not below CARD */
    publish(f, "CARD/INSERTED", "HBA", "ct1");  /* delivered */
    assert_true(test_pump_until(base, has_frame, &r));
    pump_a_little();
    doc = receiver_frame(&r);
    value = (char *)xmlNodeGetContent(xmlDocGetRootElement(doc)->last);
    assert_non_null(strstr(value, "HBA"));
    xmlFree(value);
    assert_int_equal(evbuffer_get_length(r.data), 0);
    xmlFreeDoc(doc);
    receiver_stop(&r);
}

static void internal_topic_is_not_delivered(void **state)
{
    struct fixture *f = *state;
    struct receiver r;

    receiver_start(&r, NULL);
    subscribe(f, "m1", r.port, "MGM", NULL);
    publish(f, "MGM/INFOMODEL_CHANGED", "x", NULL);
    pump_a_little();
    assert_int_equal(r.accepted, 0);
    assert_int_equal(services__cetp_sink_count(f->cetp), 0);
    receiver_stop(&r);
}

static void terminal_events_reach_only_mandants_that_use_the_terminal(void **state)
{
    struct fixture *f = *state;
    struct receiver r1, r2;
    xmlDocPtr doc;

    receiver_start(&r1, NULL);
    receiver_start(&r2, NULL);
    subscribe(f, "m1", r1.port, "CARD", NULL);
    subscribe(f, "m2", r2.port, "CARD", NULL);
    subscribe(f, "m2", r2.port, "BOOTUP", NULL);
    publish(f, "CARD/INSERTED", "EGK", "ct1"); /* ct1 belongs to m1's ws1 */
    publish(f, "BOOTUP/BOOTUP_COMPLETE", "-", NULL);
    assert_true(test_pump_until(base, has_frame, &r1));
    assert_true(test_pump_until(base, has_frame, &r2));
    doc = receiver_frame(&r2);
    assert_doc_text(doc, "Topic", "BOOTUP/BOOTUP_COMPLETE");
    xmlFreeDoc(doc);
    pump_a_little();
    assert_int_equal(evbuffer_get_length(r2.data), 0);
    receiver_stop(&r1);
    receiver_stop(&r2);
}

/* ---- failures --------------------------------------------------------------------------- */

struct failures_at_least {
    struct fixture *f;
    int n;
};

static bool sink_failed(void *arg)
{
    struct failures_at_least *w = arg;
    int n = services__cetp_sink_failures(w->f->cetp, sink_key);

    return n < 0 || n >= w->n;
}

static uint16_t closed_port(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    close(fd);
    return ntohs(sin.sin_port);
}

static void refused_sink_is_dropped_after_evt_max_try(void **state)
{
    struct fixture *f = *state;
    uint16_t port = closed_port();
    struct failures_at_least w = {.f = f};

    subscribe(f, "m1", port, "CARD", NULL);
    subscribe(f, "m2", port, "BOOTUP", NULL);
    sink_key_for(port);
    for (w.n = 1; w.n <= 3; w.n++) {
        publish(f, w.n == 2 ? "BOOTUP/BOOTUP_COMPLETE" : "CARD/INSERTED", "EGK", NULL);
        assert_true(test_pump_until(base, sink_failed, &w));
        if (w.n < 3) {
            assert_int_equal(services__cetp_sink_failures(f->cetp, sink_key), w.n);
            assert_int_equal(services__subs_count(f->subs), 2);
        }
    }
    /* EVT_MAX_TRY is 3 by default: the sink and all its subscriptions are gone. */
    assert_int_equal(services__cetp_sink_failures(f->cetp, sink_key), -ENOENT);
    assert_int_equal(services__subs_count(f->subs), 0);
    assert_int_equal(services__cetp_sink_count(f->cetp), 0);
}

static void evt_max_try_setting_is_honoured(void **state)
{
    struct fixture *f = *state;
    uint16_t port = closed_port();
    struct failures_at_least w = {.f = f, .n = 1};

    setting(f, "EVT_MAX_TRY", "1");
    subscribe(f, "m1", port, "CARD", NULL);
    sink_key_for(port);
    publish(f, "CARD/INSERTED", "EGK", NULL);
    assert_true(test_pump_until(base, sink_failed, &w));
    assert_int_equal(services__subs_count(f->subs), 0);
}

static void success_resets_the_failure_count(void **state)
{
    struct fixture *f = *state;
    struct receiver r;
    struct failures_at_least w = {.f = f, .n = 1};
    uint16_t port;

    receiver_start(&r, NULL);
    port = r.port;
    subscribe(f, "m1", port, "CARD", NULL);
    sink_key_for(port);
    /* The sink goes away, one delivery fails, then it comes back on the same port. */
    receiver_stop(&r);
    publish(f, "CARD/INSERTED", "EGK", NULL);
    assert_true(test_pump_until(base, sink_failed, &w));
    assert_int_equal(services__cetp_sink_failures(f->cetp, sink_key), 1);
    receiver_start_on(&r, NULL, port);
    publish(f, "CARD/INSERTED", "EGK", NULL);
    assert_true(test_pump_until(base, has_frame, &r));
    pump_a_little();
    assert_int_equal(services__cetp_sink_failures(f->cetp, sink_key), 0);
    receiver_stop(&r);
}

/* A listening socket that never accepts: the kernel completes connections and buffers a
 * little, then the sink takes nothing more. */
static uint16_t silent_listener(int *ret_fd)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0), small = 4096;

    assert_true(fd >= 0);
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    *ret_fd = fd;
    return ntohs(sin.sin_port);
}

static void publish_big(struct fixture *f)
{
    static char value[EVT_PARAM_VALUE_MAX + 1];
    struct evt_param params[EVT_PARAMS_MAX];
    struct evt_event ev = {.topic = "CARD/INSERTED",
                           .type = EVT_TYPE_OPERATION,
                           .severity = EVT_SEVERITY_INFO,
                           .params = params,
                           .n_params = EVT_PARAMS_MAX};

    memset(value, 'v', EVT_PARAM_VALUE_MAX);
    for (size_t i = 0; i < EVT_PARAMS_MAX; i++)
        params[i] = (struct evt_param){"Key", value};
    services__cetp_deliver(f->cetp, &ev);
}

static void sink_that_never_reads_does_not_block_and_is_dropped(void **state)
{
    struct fixture *f = *state;
    int fd, events = 0;
    uint16_t port = silent_listener(&fd);
    int64_t started = clock_real_mono_ms();

    subscribe(f, "m1", port, "CARD", NULL);
    sink_key_for(port);
    /* Each event is about 80 KiB; the sink's queue overflows at 1 MiB, three times. */
    while (services__subs_count(f->subs) > 0 && events < 1000) {
        publish_big(f);
        events++;
        pump_a_little();
    }
    assert_int_equal(services__subs_count(f->subs), 0);
    assert_int_equal(services__cetp_sink_count(f->cetp), 0);
    assert_true(events < 1000);
    /* Nothing waited on the sink: 3 MiB of queueing took well under the guard. */
    assert_true(clock_real_mono_ms() - started < 10000);
    close(fd);
}

static void stalled_sink_fails_after_5_s_without_progress(void **state)
{
    struct fixture *f = *state;
    int fd;
    uint16_t port = silent_listener(&fd);

    subscribe(f, "m1", port, "CARD", NULL);
    sink_key_for(port);
    /* Queue less than 1 MiB, more than the kernel takes: about 512 KiB. */
    for (int i = 0; i < 7; i++) {
        publish_big(f);
        pump_a_little();
    }
    assert_int_equal(services__cetp_sink_failures(f->cetp, sink_key), 0);
    /* Never before 5 s without progress... */
    assert_int_equal(clock_advance(SERVICES_CETP_TIMEOUT_MS - 100), 0);
    assert_int_equal(services__cetp_sink_failures(f->cetp, sink_key), 0);
    assert_int_equal(clock_advance(200), 0);
    /* ...and at most one period later: if the kernel took bytes after the timer was armed,
     * that period counted as progress. */
    if (services__cetp_sink_failures(f->cetp, sink_key) == 0)
        assert_int_equal(clock_advance(SERVICES_CETP_TIMEOUT_MS), 0);
    assert_int_equal(services__cetp_sink_failures(f->cetp, sink_key), 1);
    assert_int_equal(services__subs_count(f->subs), 1);
    close(fd);
}

static void prune_closes_sinks_without_subscriptions(void **state)
{
    struct fixture *f = *state;
    struct receiver r;
    const struct services_sub *sub;

    receiver_start(&r, NULL);
    sub = subscribe(f, "m1", r.port, "CARD", NULL);
    publish(f, "CARD/INSERTED", "EGK", NULL);
    assert_true(test_pump_until(base, has_frame, &r));
    assert_int_equal(services__cetp_sink_count(f->cetp), 1);
    assert_int_equal(services__subs_remove(f->subs, "m1", sub->id), 0);
    services__cetp_prune(f->cetp);
    assert_int_equal(services__cetp_sink_count(f->cetp), 0);
    receiver_stop(&r);
}

static void host_name_sink_is_resolved_without_blocking(void **state)
{
    struct fixture *f = *state;
    struct receiver r;
    struct soap_context ctx = practice_ctx("m1", "cs1", "ws1", NULL);
    char to[64];
    xmlDocPtr doc;

    receiver_start(&r, NULL);
    snprintf(to, sizeof(to), "cetp://localhost:%u", r.port);
    assert_int_equal(services__subs_add(f->subs, &ctx, to, "CARD", NULL, NULL), 0);
    publish(f, "CARD/INSERTED", "EGK", NULL);
    assert_true(test_pump_until(base, has_frame, &r));
    doc = receiver_frame(&r);
    assert_doc_text(doc, "Topic", "CARD/INSERTED");
    xmlFreeDoc(doc);
    receiver_stop(&r);
}

static void unresolvable_sink_counts_as_failed_delivery(void **state)
{
    struct fixture *f = *state;
    struct soap_context ctx = practice_ctx("m1", "cs1", "ws1", NULL);
    struct failures_at_least w = {.f = f, .n = 1};

    /* RFC 2606: .invalid never resolves. Either the lookup fails, or the 5 s run out. */
    assert_int_equal(
        services__subs_add(f->subs, &ctx, "cetp://sink.invalid:7000", "CARD", NULL, NULL), 0);
    snprintf(sink_key, sizeof(sink_key), "sink.invalid:7000");
    publish(f, "CARD/INSERTED", "EGK", NULL);
    pump_a_little();
    if (services__cetp_sink_failures(f->cetp, sink_key) == 0)
        assert_int_equal(clock_advance(SERVICES_CETP_TIMEOUT_MS), 0);
    assert_true(test_pump_until(base, sink_failed, &w));
    assert_int_equal(services__cetp_sink_failures(f->cetp, sink_key), 1);
}

/* ---- TLS -------------------------------------------------------------------------------- */

static X509 *self_signed(EVP_PKEY *key, const char *cn)
{
    X509 *x = X509_new();
    X509_NAME *name;

    assert_non_null(x);
    assert_int_equal(X509_set_version(x, 2), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600L * 24 * 30));
    assert_int_equal(X509_set_pubkey(x, key), 1);
    name = X509_get_subject_name(x);
    assert_int_equal(
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0),
        1);
    assert_int_equal(X509_set_issuer_name(x, name), 1);
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    return x;
}

static int accept_any_client(int ok, X509_STORE_CTX *ctx)
{
    return 1;
}

static void write_pem(const char *dir, const char *name, EVP_PKEY *key, X509 *cert)
{
    char path[256];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fp = fopen(path, "w");
    assert_non_null(fp);
    if (key)
        assert_int_equal(PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL), 1);
    else
        assert_int_equal(PEM_write_X509(fp, cert), 1);
    fclose(fp);
}

static void tls_sink_gets_frame_and_the_lan_identity(void **state)
{
    struct fixture *f = *state;
    EVP_PKEY *server_key = EVP_EC_gen("P-256"), *client_key = EVP_RSA_gen(2048);
    X509 *server_cert = self_signed(server_key, "ps.example"), *client_cert;
    SSL_CTX *tls = SSL_CTX_new(TLS_server_method());
    char identity[128];
    struct receiver r;
    xmlDocPtr doc;

    assert_non_null(client_key);
    client_cert = self_signed(client_key, "konnektor");
    snprintf(identity, sizeof(identity), "%s/identity", f->p.dir);
    assert_int_equal(fs_mkdir_p(identity, 0700), 0);
    write_pem(identity, "lan-rsa-key.pem", client_key, NULL);
    write_pem(identity, "lan-rsa-cert.pem", NULL, client_cert);
    assert_int_equal(SSL_CTX_use_certificate(tls, server_cert), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(tls, server_key), 1);
    /* The sink asks for a client certificate (TIP1-A_4595: the connector authenticates). */
    SSL_CTX_set_verify(tls, SSL_VERIFY_PEER, accept_any_client);
    setting(f, "ANCL_TLS_MANDATORY", "Enabled");
    receiver_start(&r, tls);
    subscribe(f, "m1", r.port, "CARD", NULL);
    publish(f, "CARD/INSERTED", "EGK", NULL);
    assert_true(test_pump_until(base, has_frame, &r));
    doc = receiver_frame(&r);
    assert_doc_text(doc, "Topic", "CARD/INSERTED");
    assert_true(r.peer_cert);
    xmlFreeDoc(doc);
    receiver_stop(&r);
    SSL_CTX_free(tls);
    X509_free(server_cert);
    X509_free(client_cert);
    EVP_PKEY_free(server_key);
    EVP_PKEY_free(client_key);
}

static bool client_hello_arrived(void *arg)
{
    struct receiver *r = arg;

    return r->accepted > 0 && evbuffer_get_length(r->data) > 0;
}

static void plain_sink_fails_when_tls_is_mandatory(void **state)
{
    struct fixture *f = *state;
    struct receiver r;
    struct failures_at_least w = {.f = f, .n = 1};
    uint8_t head[4];

    setting(f, "ANCL_TLS_MANDATORY", "Enabled");
    receiver_start(&r, NULL);
    subscribe(f, "m1", r.port, "CARD", NULL);
    sink_key_for(r.port);
    publish(f, "CARD/INSERTED", "EGK", NULL);
    /* The connector speaks TLS first; the plain sink never answers its ClientHello. */
    assert_true(test_pump_until(base, client_hello_arrived, &r));
    assert_int_equal(evbuffer_copyout(r.data, head, 4), 4);
    assert_int_equal(head[0], 0x16); /* TLS handshake record, not "CETP" in the clear */
    assert_int_equal(services__cetp_sink_failures(f->cetp, sink_key), 0);
    assert_int_equal(clock_advance(SERVICES_CETP_TIMEOUT_MS), 0);
    assert_true(test_pump_until(base, sink_failed, &w));
    assert_int_equal(services__cetp_sink_failures(f->cetp, sink_key), 1);
    receiver_stop(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(event_reaches_sink_with_its_subscription_id, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(one_connection_per_sink_is_kept_and_reused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(topic_filter_and_internal_topics_select_what_is_sent, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(internal_topic_is_not_delivered, setup, teardown),
        cmocka_unit_test_setup_teardown(terminal_events_reach_only_mandants_that_use_the_terminal,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(refused_sink_is_dropped_after_evt_max_try, setup, teardown),
        cmocka_unit_test_setup_teardown(evt_max_try_setting_is_honoured, setup, teardown),
        cmocka_unit_test_setup_teardown(success_resets_the_failure_count, setup, teardown),
        cmocka_unit_test_setup_teardown(sink_that_never_reads_does_not_block_and_is_dropped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(stalled_sink_fails_after_5_s_without_progress, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(prune_closes_sinks_without_subscriptions, setup, teardown),
        cmocka_unit_test_setup_teardown(host_name_sink_is_resolved_without_blocking, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(unresolvable_sink_counts_as_failed_delivery, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(tls_sink_gets_frame_and_the_lan_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(plain_sink_fails_when_tls_is_mandatory, setup, teardown),
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
    return r;
}
