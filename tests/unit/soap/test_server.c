/* Integration-style tests of the LAN listener (src/soap/server.c, call.c): a soap_server on an
 * event_base with loopback port 0, an "Echo" service, and a small raw-socket client (plain or
 * OpenSSL) running on a thread while the loop runs on the test's thread.
 *
 * One server serves the whole group (the identities are generated once); each test starts from
 * the default settings. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/ssl.h>

#include "soap/soap_internal.h"
#include "soap_test.h"
#include "x509/x509.h"

#define NS_ECHO "urn:konnektord:test:echo"
/* How long a test waits for an exchange, in real ms; a hang fails instead of blocking CI. */
#define WAIT_MS 20000
#define URL_SIZE_TEST 160

struct world {
    char dir[40];
    struct event_base *base;
    struct event *tick;
    struct store *store;
    struct evt_bus *bus;
    struct ec_state *ecs;
    struct worker_pool *workers;
    struct soap_server *srv;
    unsigned http_port, https_port;
    int auth_failed;
    char auth_mode[32];
    struct soap_call *held; /* by the Later handler */
    int gone;
};

static struct world w;

/* ---- the Echo service ------------------------------------------------------------------- */

static void echo(struct soap_call *call, void *arg)
{
    const char *text = soap_child_text(soap_call_operation(call), NS_ECHO, "Text");
    xmlTextWriterPtr wr = soap_call_reply_begin(call, NS_ECHO, "E", "EchoResponse");

    if (!wr)
        return;
    (void)xmlTextWriterWriteElementNS(wr, BAD_CAST "E", BAD_CAST "Text", NULL,
                                      BAD_CAST(text ? text : ""));
    (void)xmlTextWriterWriteElementNS(wr, BAD_CAST "E", BAD_CAST "Mandant", NULL,
                                      BAD_CAST soap_call_context(call)->mandant_id);
    (void)xmlTextWriterWriteElementNS(wr, BAD_CAST "E", BAD_CAST "Tls", NULL,
                                      BAD_CAST(soap_call_is_tls(call) ? "yes" : "no"));
    soap_call_reply_end(call);
}

static void on_gone(struct soap_call *call, void *arg)
{
    w.gone++;
    w.held = NULL;
    soap_call_abandon(call);
}

static void later(struct soap_call *call, void *arg)
{
    w.held = call;
    soap_call_on_gone(call, on_gone, NULL);
}

static void fail_later(struct soap_call *call, void *arg)
{
    soap_call_fault(call, 4047, "CardHandle '%s'", "h-17");
}

static const struct soap_operation echo_ops[] = {
    {NS_ECHO, "Echo", GATE_OP_MAX, false, echo, NULL},
    {NS_ECHO, "EchoCard", GATE_OP_CARD, true, echo, NULL},
    {NS_ECHO, "Later", GATE_OP_MAX, false, later, NULL},
    {NS_ECHO, "Fail", GATE_OP_EVENT_SERVICE, false, fail_later, NULL},
};

static const struct soap_service echo_svc = {
    "EchoService", "Echoes text", "urn:konnektord:test:echo:wsdl", "1.0.0", "/ws/Echo", NULL, NULL,
};
/* Feature gating: the server runs with the features VSDM and NFDM. */
static const char *const features[] = {"VSDM", "NFDM"};
static const struct soap_service nfdm_svc = {
    "NfdmEcho", "Echoes for NFDM", "urn:konnektord:test:nfdm:wsdl", "1.0.0", "/ws/Nfdm", NULL,
    "NFDM",
};
static const struct soap_service amts_svc = {
    "AmtsEcho", "Echoes for AMTS", "urn:konnektord:test:amts:wsdl", "1.0.0", "/ws/Amts", NULL,
    "AMTS",
};

/* ---- setup ------------------------------------------------------------------------------ */

static void on_auth_failed(const struct evt_event *ev, void *arg)
{
    const char *mode = evt_event_param(ev, "Mode");

    w.auth_failed++;
    (void)str_copy(w.auth_mode, sizeof(w.auth_mode), mode ? mode : "");
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
}

static unsigned port_of(const char *url)
{
    const char *colon = strrchr(url, ':');
    int64_t port = 0;

    assert_non_null(colon);
    assert_int_equal(str_to_int64(colon + 1, &port), 0);
    return (unsigned)port;
}

static int group_setup(void **state)
{
    struct timeval tv = {0, 5000};
    char path[128], http[URL_SIZE_TEST], https[URL_SIZE_TEST];
    struct soap_deps deps = {0};

    (void)str_copy(w.dir, sizeof(w.dir), "/tmp/konn-soap-srv-XXXXXX");
    if (!mkdtemp(w.dir))
        return -1;
    (void)snprintf(path, sizeof(path), "%s/config.db", w.dir);
    w.base = event_base_new();
    w.bus = evt_bus_new(16);
    w.ecs = ec_state_new(w.bus);
    w.workers = worker_pool_new(w.base, 1);
    if (!w.base || !w.bus || !w.ecs || !w.workers || store_open(path, &w.store) < 0)
        return -1;
    /* Wakes the loop so that it notices a finished client. */
    w.tick = event_new(w.base, -1, EV_PERSIST, on_tick, NULL);
    (void)event_add(w.tick, &tv);
    (void)evt_bus_subscribe(w.bus, "MGM/CLIENT_AUTH_FAILED", on_auth_failed, NULL, NULL);
    deps = (struct soap_deps){.base = w.base,
                              .store = w.store,
                              .ecs = w.ecs,
                              .bus = w.bus,
                              .workers = w.workers,
                              .data_dir = w.dir,
                              .product_type_version = "5.0.0",
                              .firmware_version = "0.1.0",
                              .features = features,
                              .n_features = ARRAY_SIZE(features)};
    w.srv = soap_server_new(&deps);
    if (!w.srv || soap_server_register(w.srv, &echo_svc, echo_ops, ARRAY_SIZE(echo_ops)) < 0 ||
        soap_server_register(w.srv, &nfdm_svc, echo_ops, ARRAY_SIZE(echo_ops)) < 0 ||
        soap_server_register(w.srv, &amts_svc, echo_ops, ARRAY_SIZE(echo_ops)) < 0 ||
        soap_server_listen(w.srv, "127.0.0.1:0", "127.0.0.1:0", http, sizeof(http), https,
                           sizeof(https)) < 0)
        return -1;
    w.http_port = port_of(http);
    w.https_port = port_of(https);
    return 0;
}

static int group_teardown(void **state)
{
    soap_server_free(w.srv);
    worker_pool_free(w.workers);
    event_free(w.tick);
    store_close(w.store);
    ec_state_free(w.ecs);
    evt_bus_free(w.bus);
    event_base_free(w.base);
    rm_rf(w.dir);
    return 0;
}

static int setup(void **state)
{
    w.auth_failed = 0;
    w.auth_mode[0] = '\0';
    w.gone = 0;
    return store_settings_reset(w.store) < 0 ? -1 : 0;
}

static void set(const char *name, const char *value)
{
    assert_true(store_setting_set(w.store, name, value, STORE_ROLE_SUPER_ADMIN, NULL, 0) >= 0);
}

/* ---- the client ------------------------------------------------------------------------- */

struct exchange {
    /* in */
    bool tls;
    const char *request;
    size_t request_len;
    bool close_after_send; /* leave without reading the answer */
    int leave_after_ms;    /* with close_after_send: wait this long first (the call waits) */
    int max_version;       /* 0: any */
    const char *groups, *sigalgs;
    EVP_PKEY *key;
    X509 *cert;
    /* out */
    bool connected;
    bool handshake_failed;
    char server_key[32]; /* "RSA" or the curve of the server's certificate */
    int status;
    char *response; /* whole HTTP response, NUL-terminated */
    atomic_int done;
};

static int connect_loopback(unsigned port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static void server_key_name(SSL *ssl, char *buf, size_t size)
{
    X509 *peer = SSL_get1_peer_certificate(ssl);
    EVP_PKEY *pk = peer ? X509_get0_pubkey(peer) : NULL;
    size_t len = 0;

    if (pk && EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA)
        (void)str_copy(buf, size, "RSA");
    else if (pk)
        (void)EVP_PKEY_get_group_name(pk, buf, size, &len);
    X509_free(peer);
}

static SSL *tls_start(struct exchange *ex, int fd, SSL_CTX **ret_ctx)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl;

    *ret_ctx = ctx;
    if (ex->max_version)
        (void)SSL_CTX_set_max_proto_version(ctx, ex->max_version);
    if (ex->groups)
        assert_int_equal(SSL_CTX_set1_groups_list(ctx, ex->groups), 1);
    if (ex->sigalgs)
        assert_int_equal(SSL_CTX_set1_sigalgs_list(ctx, ex->sigalgs), 1);
    if (ex->cert) {
        (void)SSL_CTX_use_certificate(ctx, ex->cert);
        (void)SSL_CTX_use_PrivateKey(ctx, ex->key);
    }
    ssl = SSL_new(ctx);
    (void)SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) {
        ex->handshake_failed = true;
        SSL_free(ssl);
        return NULL;
    }
    server_key_name(ssl, ex->server_key, sizeof(ex->server_key));
    return ssl;
}

static ssize_t io_write(SSL *ssl, int fd, const char *p, size_t n)
{
    return ssl ? SSL_write(ssl, p, (int)(n > 1 << 20 ? 1 << 20 : n)) : write(fd, p, n);
}

static ssize_t io_read(SSL *ssl, int fd, char *p, size_t n)
{
    return ssl ? SSL_read(ssl, p, (int)n) : read(fd, p, n);
}

static void *client_main(void *arg)
{
    struct exchange *ex = arg;
    int fd = connect_loopback(ex->tls ? w.https_port : w.http_port);
    SSL_CTX *ctx = NULL;
    SSL *ssl = NULL;
    size_t cap = 1 << 16, len = 0, off = 0;
    ssize_t n;

    ex->connected = fd >= 0;
    if (fd < 0)
        goto out;
    if (ex->tls && !(ssl = tls_start(ex, fd, &ctx)))
        goto out;
    while (off < ex->request_len &&
           (n = io_write(ssl, fd, ex->request + off, ex->request_len - off)) > 0)
        off += (size_t)n;
    if (ex->close_after_send) {
        if (ex->leave_after_ms)
            (void)usleep((useconds_t)ex->leave_after_ms * 1000);
        goto out;
    }
    ex->response = malloc(cap + 1);
    while ((n = io_read(ssl, fd, ex->response + len, cap - len)) > 0) {
        len += (size_t)n;
        if (len == cap) {
            cap *= 2;
            ex->response = realloc(ex->response, cap + 1);
        }
    }
    ex->response[len] = '\0';
    if (sscanf(ex->response, "HTTP/1.1 %d", &ex->status) != 1)
        ex->status = -1;
out:
    if (ssl) {
        /* A client that leaves sends no close_notify, as most TLS stacks do on close(). */
        if (!ex->close_after_send)
            (void)SSL_shutdown(ssl);
        SSL_free(ssl);
    }
    SSL_CTX_free(ctx);
    if (fd >= 0)
        close(fd);
    atomic_store(&ex->done, 1);
    return NULL;
}

/* Runs the loop until the client thread finished (and until extra() is true, if given). */
static void run(struct exchange *ex, bool (*extra)(void))
{
    pthread_t t;
    int64_t until = clock_real_mono_ms() + WAIT_MS;

    assert_int_equal(pthread_create(&t, NULL, client_main, ex), 0);
    while ((!atomic_load(&ex->done) || (extra && !extra())) && clock_real_mono_ms() < until)
        (void)event_base_loop(w.base, EVLOOP_ONCE);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_true(atomic_load(&ex->done));
}

static char *post(const char *path, const char *body, const char *headers)
{
    size_t cap = strlen(body) + 1024;
    char *req = malloc(cap);

    assert_non_null(req);
    (void)snprintf(
        req, cap,
        "POST %s HTTP/1.1\r\nHost: konnektor\r\nContent-Type: text/xml; charset=utf-8\r\n"
        "SOAPAction: \"\"\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n%s",
        path, strlen(body), headers ? headers : "", body);
    return req;
}

static const char *echo_body(const char *op, bool context)
{
    static char body[2048];

    (void)snprintf(body, sizeof(body),
                   "<s:Envelope xmlns:s='%s'><s:Body><e:%s xmlns:e='%s'>%s<e:Text>hallo</e:Text>"
                   "</e:%s></s:Body></s:Envelope>",
                   SOAP_NS_ENV, op, NS_ECHO,
                   context ? "<c:Context xmlns:c='" SOAP_NS_CCTX "' xmlns:n='" SOAP_NS_CONN "'>"
                             "<n:MandantId>m1</n:MandantId><n:ClientSystemId>cs1</n:ClientSystemId>"
                             "<n:WorkplaceId>ws1</n:WorkplaceId></c:Context>"
                           : "",
                   op);
    return body;
}

/* One exchange with a request built by post(); the response is the caller's to free. */
static void exchange_post(struct exchange *ex, bool tls, const char *path, const char *body,
                          const char *headers)
{
    char *req = post(path, body, headers);

    ex->tls = tls;
    ex->request = req;
    ex->request_len = strlen(req);
    run(ex, NULL);
    free(req);
}

static void exchange_get(struct exchange *ex, bool tls, const char *path)
{
    char req[256];

    (void)snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: k\r\nConnection: close\r\n\r\n",
                   path);
    ex->tls = tls;
    ex->request = req;
    ex->request_len = strlen(req);
    run(ex, NULL);
}

static void expect_fault(const struct exchange *ex, int status, int code, const char *detail_part)
{
    char want[64];

    if (ex->status != status)
        fail_msg("status %d, want %d: %s", ex->status, status, ex->response ? ex->response : "");
    (void)snprintf(want, sizeof(want), "<GERROR:Code>%d</GERROR:Code>", code);
    if (!strstr(ex->response, want))
        fail_msg("no %s in %s", want, ex->response);
    if (detail_part && !strstr(ex->response, detail_part))
        fail_msg("no '%s' in %s", detail_part, ex->response);
    assert_non_null(strstr(ex->response, "Content-Type: text/xml; charset=utf-8"));
}

/* ---- plain HTTP and dispatch ------------------------------------------------------------ */

static void plain_http_is_refused_while_tls_is_mandatory(void **state)
{
    struct exchange ex = {0};

    exchange_post(&ex, false, "/ws/Echo", echo_body("Echo", false), NULL);
    expect_fault(&ex, 403, 4000, "TLS is mandatory");
    free(ex.response);
}

static void plain_http_echo_works_when_tls_is_optional(void **state)
{
    char envelope[512];
    struct exchange ex = {0};
    xmlSchemaPtr schema;
    xmlDocPtr doc;
    const char *body;

    set("ANCL_TLS_MANDATORY", "Disabled");
    exchange_post(&ex, false, "/ws/Echo", echo_body("Echo", false), NULL);
    assert_int_equal(ex.status, 200);
    assert_non_null(strstr(ex.response, "Content-Type: text/xml; charset=utf-8"));
    assert_non_null(strstr(ex.response, "<CONN:Status xmlns:CONN=\"" SOAP_NS_CONN
                                        "\"><CONN:Result>OK</CONN:Result></CONN:Status>"));
    assert_non_null(strstr(ex.response, "<E:Text>hallo</E:Text>"));
    assert_non_null(strstr(ex.response, "<E:Tls>no</E:Tls>"));
    /* The reply is a SOAP 1.1 envelope. */
    (void)snprintf(envelope, sizeof(envelope), "%s/soap-envelope-1.1.xsd", KONN_SOAP_TEST_DATA);
    schema = schema_load(envelope, NULL);
    assert_non_null(schema);
    body = strstr(ex.response, "\r\n\r\n") + 4;
    doc = xml_read(body, strlen(body));
    assert_non_null(doc);
    assert_int_equal(schema_validate_doc(schema, doc), 0);
    xmlFreeDoc(doc);
    xmlSchemaFree(schema);
    free(ex.response);
}

static void unknown_operations_and_paths_are_refused(void **state)
{
    struct exchange a = {0}, b = {0}, c = {0};

    set("ANCL_TLS_MANDATORY", "Disabled");
    exchange_post(&a, false, "/ws/Echo", echo_body("Nope", false), NULL);
    expect_fault(&a, 500, 4000, "unknown operation '{" NS_ECHO "}Nope'");
    assert_non_null(strstr(a.response, "<faultcode>soap:Client</faultcode>"));
    exchange_post(&b, false, "/ws/Elsewhere", echo_body("Echo", false), NULL);
    expect_fault(&b, 404, 4000, "no SOAP service");
    exchange_post(&c, false, "/ws/Echo", "<not-soap/>", NULL);
    expect_fault(&c, 500, 4000, "not a SOAP 1.1 envelope");
    free(c.response);
    free(b.response);
    free(a.response);
}

static void a_service_is_offered_only_with_its_feature(void **state)
{
    struct exchange sds = {0}, on = {0}, off = {0};

    set("ANCL_TLS_MANDATORY", "Disabled");
    exchange_get(&sds, false, "/connector.sds");
    assert_int_equal(sds.status, 200);
    assert_non_null(strstr(sds.response, "Name=\"NfdmEcho\""));
    assert_null(strstr(sds.response, "AmtsEcho"));
    exchange_post(&on, false, "/ws/Nfdm", echo_body("Echo", false), NULL);
    assert_int_equal(on.status, 200);
    /* Not enabled: the same answer as a path where no service ever was. */
    exchange_post(&off, false, "/ws/Amts", echo_body("Echo", false), NULL);
    expect_fault(&off, 404, 4000, "no SOAP service at '/ws/Amts'");
    free(off.response);
    free(on.response);
    free(sds.response);
}

static void context_is_required_where_the_operation_says_so(void **state)
{
    struct exchange a = {0}, b = {0};

    set("ANCL_TLS_MANDATORY", "Disabled");
    exchange_post(&a, false, "/ws/Echo", echo_body("EchoCard", false), NULL);
    expect_fault(&a, 500, 4021, "EchoCard needs CCTX:Context");
    exchange_post(&b, false, "/ws/Echo", echo_body("EchoCard", true), NULL);
    assert_int_equal(b.status, 200);
    assert_non_null(strstr(b.response, "<E:Mandant>m1</E:Mandant>"));
    free(b.response);
    free(a.response);
}

static void critical_state_gate_answers_4002_naming_the_condition(void **state)
{
    struct exchange a = {0}, b = {0};

    set("ANCL_TLS_MANDATORY", "Disabled");
    assert_int_equal(ec_raise(w.ecs, EC_SECURITY_LOG_NOT_WRITABLE, NULL, NULL, 0), 1);
    exchange_post(&a, false, "/ws/Echo", echo_body("EchoCard", true), NULL);
    expect_fault(&a, 500, 4002, "EC_Security_Log_Not_Writable");
    assert_non_null(strstr(a.response, "<GERROR:Severity>Fatal</GERROR:Severity>"));
    exchange_post(&b, false, "/ws/Echo", echo_body("Echo", false), NULL);
    assert_int_equal(b.status, 200);
    assert_int_equal(ec_clear(w.ecs, EC_SECURITY_LOG_NOT_WRITABLE, NULL), 1);
    free(b.response);
    free(a.response);
}

static void handler_faults_carry_their_detail(void **state)
{
    struct exchange ex = {0};

    set("ANCL_TLS_MANDATORY", "Disabled");
    exchange_post(&ex, false, "/ws/Echo", echo_body("Fail", false), NULL);
    expect_fault(&ex, 500, 4047, "<GERROR:Detail>CardHandle 'h-17'</GERROR:Detail>");
    assert_non_null(strstr(ex.response, "<faultcode>soap:Server</faultcode>"));
    free(ex.response);
}

static void documents_over_25_mb_are_4280(void **state)
{
    size_t len = SOAP_DOCUMENT_MAX + 1;
    char *body = malloc(len + 1);
    struct exchange ex = {0};

    assert_non_null(body);
    memset(body, ' ', len);
    body[len] = '\0';
    set("ANCL_TLS_MANDATORY", "Disabled");
    exchange_post(&ex, false, "/ws/Echo", body, NULL);
    expect_fault(&ex, 500, 4280, "26214401 bytes");
    free(ex.response);
    free(body);
}

/* ---- calls answered later --------------------------------------------------------------- */

static bool answer_held(void)
{
    if (w.held) {
        struct soap_call *call = w.held;
        xmlTextWriterPtr wr = soap_call_reply_begin(call, NS_ECHO, "E", "LaterResponse");

        w.held = NULL;
        if (wr)
            soap_call_reply_end(call);
    }
    return true;
}

static bool gone_seen(void)
{
    return w.gone > 0;
}

static void a_call_can_be_answered_later(void **state)
{
    char *req;
    struct exchange ex = {0};

    set("ANCL_TLS_MANDATORY", "Disabled");
    req = post("/ws/Echo", echo_body("Later", false), NULL);
    ex.request = req;
    ex.request_len = strlen(req);
    /* The loop answers the held call as soon as the handler kept it. */
    {
        pthread_t t;
        int64_t until = clock_real_mono_ms() + WAIT_MS;

        assert_int_equal(pthread_create(&t, NULL, client_main, &ex), 0);
        while (!atomic_load(&ex.done) && clock_real_mono_ms() < until) {
            (void)event_base_loop(w.base, EVLOOP_ONCE);
            (void)answer_held();
        }
        assert_int_equal(pthread_join(t, NULL), 0);
    }
    assert_int_equal(ex.status, 200);
    assert_non_null(strstr(ex.response, "<E:LaterResponse"));
    assert_int_equal(w.gone, 0);
    free(ex.response);
    free(req);
}

static void a_client_that_leaves_makes_the_call_gone(void **state)
{
    char *req;
    struct exchange ex = {0};

    set("ANCL_TLS_MANDATORY", "Disabled");
    req = post("/ws/Echo", echo_body("Later", false), NULL);
    ex.request = req;
    ex.request_len = strlen(req);
    ex.close_after_send = true;
    run(&ex, gone_seen);
    assert_int_equal(w.gone, 1);
    assert_null(w.held);
    free(req);
}

/* ---- HTTPS and client authentication ---------------------------------------------------- */

static void issue(const char *name, enum soap_key_type type, EVP_PKEY **ret_key, X509 **ret_cert)
{
    uint8_t *der = NULL;
    size_t len = 0;
    const unsigned char *p;
    PKCS12 *p12;
    STACK_OF(X509) *ca = NULL;
    EVP_PKEY *key = soap_client_key_new(type);

    assert_non_null(key);
    assert_int_equal(soap_client_cert_issue(w.srv, name, "pkcs12-pw", key, &der, &len), 0);
    EVP_PKEY_free(key);
    p = der;
    p12 = d2i_PKCS12(NULL, &p, (long)len);
    assert_non_null(p12);
    assert_int_equal(PKCS12_parse(p12, "pkcs12-pw", ret_key, ret_cert, &ca), 1);
    sk_X509_pop_free(ca, X509_free);
    PKCS12_free(p12);
    free(der);
}

static void a_tls_client_that_leaves_makes_the_call_gone(void **state)
{
    char *req;
    struct exchange ex = {0};
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;

    issue("leaver", SOAP_KEY_RSA_2048, &key, &cert);
    ex.key = key;
    ex.cert = cert;
    req = post("/ws/Echo", echo_body("Later", false), NULL);
    ex.tls = true;
    ex.leave_after_ms = 300;
    ex.request = req;
    ex.request_len = strlen(req);
    ex.close_after_send = true;
    run(&ex, gone_seen);
    assert_int_equal(w.gone, 1);
    assert_null(w.held);
    X509_free(cert);
    EVP_PKEY_free(key);
    free(req);
}

static void https_without_a_client_certificate_is_refused_with_an_event(void **state)
{
    struct exchange ex = {0};

    exchange_post(&ex, true, "/ws/Echo", echo_body("Echo", false), NULL);
    /* TLS 1.3 lets the client finish first; either way no HTTP answer comes. */
    assert_true(ex.handshake_failed || ex.status <= 0);
    assert_int_equal(w.auth_failed, 1);
    assert_string_equal(w.auth_mode, "Certificate");
    free(ex.response);
    /* TLS 1.2 ends the same attempt with another alert; it is the same failure. */
    memset(&ex, 0, sizeof(ex));
    ex.max_version = TLS1_2_VERSION;
    exchange_post(&ex, true, "/ws/Echo", echo_body("Echo", false), NULL);
    assert_true(ex.handshake_failed);
    assert_int_equal(w.auth_failed, 2);
    free(ex.response);
}

static void https_with_an_issued_client_certificate_is_served(void **state)
{
    struct exchange a = {0}, b = {0};
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;

    issue("cs1", SOAP_KEY_RSA_2048, &key, &cert);
    a.key = key;
    a.cert = cert;
    exchange_post(&a, true, "/ws/Echo", echo_body("Echo", false), NULL);
    assert_int_equal(a.status, 200);
    assert_non_null(strstr(a.response, "<E:Tls>yes</E:Tls>"));
    X509_free(cert);
    EVP_PKEY_free(key);
    key = NULL;
    cert = NULL;
    /* A brainpool client certificate, in TLS 1.2 (OpenSSL 3.0 has no TLS 1.3 brainpool); the
     * client must offer the curve of its own key, as OpenSSL clients check. */
    issue("cs1-ecc", SOAP_KEY_BRAINPOOL_P256, &key, &cert);
    b.key = key;
    b.cert = cert;
    b.max_version = TLS1_2_VERSION;
    b.groups = "brainpoolP256r1:P-256:X25519";
    exchange_post(&b, true, "/ws/Echo", echo_body("Echo", false), NULL);
    assert_int_equal(b.status, 200);
    assert_int_equal(w.auth_failed, 0);
    X509_free(cert);
    EVP_PKEY_free(key);
    free(b.response);
    free(a.response);
}

/* A self-signed client certificate, as a client system that brings its own would have. */
static void self_signed(const char *cn, EVP_PKEY **ret_key, X509 **ret_cert, char **ret_pem)
{
    static const struct x509_spec spec = {
        .cn = "own client",
        .constraints = "critical,CA:FALSE",
        .key_usage = "critical,digitalSignature",
        .ext_key_usage = "clientAuth",
        .days = 30,
    };
    struct x509_spec s = spec;
    BIO *mem = BIO_new(BIO_s_mem());
    char *data = NULL;
    long len;

    s.cn = cn;
    *ret_key = EVP_EC_gen("P-256");
    assert_non_null(*ret_key);
    assert_int_equal(x509_cert_make(*ret_key, &s, NULL, NULL, ret_cert), 0);
    assert_int_equal(PEM_write_bio_X509(mem, *ret_cert), 1);
    len = BIO_get_mem_data(mem, &data);
    *ret_pem = strndup(data, (size_t)len);
    BIO_free(mem);
}

static void client_certificate_list_decides_who_is_served(void **state)
{
    struct exchange a = {0}, b = {0}, c = {0}, d = {0};
    struct soap_client_cert_info *list = NULL;
    EVP_PKEY *key = NULL, *own_key = NULL;
    X509 *cert = NULL, *own = NULL;
    uint8_t *der = NULL;
    size_t n = 0, len = 0;
    char *pem = NULL;
    bool own_seen = false;

    issue("cs2", SOAP_KEY_BRAINPOOL_P256, &key, &cert);
    assert_int_equal(soap_client_cert_issue(w.srv, "cs2", "pw", key, &der, &len), -EEXIST);
    assert_null(der);
    /* A client system's own certificate: refused until imported, served after. */
    self_signed("own client", &own_key, &own, &pem);
    a.key = own_key;
    a.cert = own;
    exchange_post(&a, true, "/ws/Echo", echo_body("Echo", false), NULL);
    assert_true(a.handshake_failed || a.status <= 0);
    assert_int_equal(w.auth_failed, 1);
    assert_int_equal(soap_client_cert_import(w.srv, "own", pem, strlen(pem)), 0);
    assert_int_equal(soap_client_cert_import(w.srv, "own", pem, strlen(pem)), -EEXIST);
    b.key = own_key;
    b.cert = own;
    exchange_post(&b, true, "/ws/Echo", echo_body("Echo", false), NULL);
    assert_int_equal(b.status, 200);
    assert_int_equal(soap_client_cert_list(w.srv, &list, &n), 0);
    /* Sorted by name; the earlier tests' certificates are there too (one data directory). */
    assert_true(n >= 2);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            assert_true(strcmp(list[i - 1].name, list[i].name) < 0);
        if (strcmp(list[i].name, "cs2") == 0)
            assert_true(list[i].issued);
        if (strcmp(list[i].name, "own") != 0)
            continue;
        assert_false(list[i].issued);
        assert_non_null(strstr(list[i].subject, "CN=own client"));
        assert_true(list[i].not_after_ms > list[i].not_before_ms);
        assert_int_equal(strlen(list[i].fingerprint), 95);
        own_seen = true;
    }
    assert_true(own_seen);
    free(list);
    /* Removed: refused from the next handshake on. */
    assert_int_equal(soap_client_cert_remove(w.srv, "cs2"), 0);
    assert_int_equal(soap_client_cert_remove(w.srv, "cs2"), -ENOENT);
    c.key = key;
    c.cert = cert;
    c.max_version = TLS1_2_VERSION;
    c.groups = "brainpoolP256r1:P-256:X25519";
    exchange_post(&c, true, "/ws/Echo", echo_body("Echo", false), NULL);
    assert_true(c.handshake_failed || c.status <= 0);
    assert_int_equal(w.auth_failed, 2);
    d.key = own_key;
    d.cert = own;
    exchange_post(&d, true, "/ws/Echo", echo_body("Echo", false), NULL);
    assert_int_equal(d.status, 200);
    free(pem);
    X509_free(own);
    EVP_PKEY_free(own_key);
    X509_free(cert);
    EVP_PKEY_free(key);
    free(d.response);
    free(c.response);
    free(b.response);
    free(a.response);
}

static void imports_take_only_client_certificates(void **state)
{
    static const struct x509_spec ca_spec = {
        .cn = "some CA",
        .constraints = "critical,CA:TRUE",
        .key_usage = "critical,keyCertSign",
        .days = 30,
    };
    static const struct x509_spec server_spec = {
        .cn = "a server",
        .constraints = "critical,CA:FALSE",
        .key_usage = "critical,digitalSignature",
        .ext_key_usage = "serverAuth",
        .days = 30,
    };
    const struct x509_spec *specs[] = {&ca_spec, &server_spec};
    EVP_PKEY *key = EVP_EC_gen("P-256");
    static const char junk[] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    struct soap_client_cert_info *list = NULL;
    size_t before = 0, after = 0;

    assert_int_equal(soap_client_cert_list(w.srv, &list, &before), 0);
    free(list);
    for (size_t i = 0; i < ARRAY_SIZE(specs); i++) {
        X509 *cert = NULL;
        BIO *mem = BIO_new(BIO_s_mem());
        char *data = NULL;
        long len;

        assert_int_equal(x509_cert_make(key, specs[i], NULL, NULL, &cert), 0);
        assert_int_equal(PEM_write_bio_X509(mem, cert), 1);
        len = BIO_get_mem_data(mem, &data);
        assert_int_equal(soap_client_cert_import(w.srv, "x", data, (size_t)len), -EBADMSG);
        BIO_free(mem);
        X509_free(cert);
    }
    assert_int_equal(soap_client_cert_import(w.srv, "x", junk, strlen(junk)), -EBADMSG);
    assert_int_equal(soap_client_cert_import(w.srv, "x", "", 0), -EBADMSG);
    assert_int_equal(soap_client_cert_import(w.srv, "../x", junk, strlen(junk)), -EINVAL);
    assert_int_equal(soap_client_cert_list(w.srv, &list, &after), 0);
    assert_int_equal(after, before);
    free(list);
    EVP_PKEY_free(key);
}

static void basic_auth_mode_checks_the_password(void **state)
{
    char good[128], bad[128], plain[64];
    struct exchange a = {0}, b = {0}, c = {0}, d = {0};

    set("ANCL_CAUT_MODE", "Password");
    assert_int_equal(soap_basic_user_set(w.srv, "cs1", "secret-123"), 0);
    (void)snprintf(plain, sizeof(plain), "cs1:secret-123");
    memcpy(good, "Authorization: Basic ", 21);
    (void)EVP_EncodeBlock((unsigned char *)good + 21, (unsigned char *)plain, (int)strlen(plain));
    (void)snprintf(good + strlen(good), sizeof(good) - strlen(good), "\r\n");
    (void)snprintf(plain, sizeof(plain), "cs1:secret-124");
    memcpy(bad, "Authorization: Basic ", 21);
    (void)EVP_EncodeBlock((unsigned char *)bad + 21, (unsigned char *)plain, (int)strlen(plain));
    (void)snprintf(bad + strlen(bad), sizeof(bad) - strlen(bad), "\r\n");
    exchange_post(&a, true, "/ws/Echo", echo_body("Echo", false), good);
    assert_int_equal(a.status, 200);
    exchange_post(&b, true, "/ws/Echo", echo_body("Echo", false), bad);
    assert_int_equal(b.status, 401);
    assert_non_null(strstr(b.response, "WWW-Authenticate: Basic realm=\"konnektord\""));
    assert_int_equal(w.auth_failed, 1);
    assert_string_equal(w.auth_mode, "Password");
    exchange_post(&c, true, "/ws/Echo", echo_body("Echo", false), NULL);
    assert_int_equal(c.status, 401);
    /* The remembered success answers the next call at once. */
    exchange_post(&d, true, "/ws/Echo", echo_body("Echo", false), good);
    assert_int_equal(d.status, 200);
    assert_int_equal(soap_basic_user_set(w.srv, "cs1", NULL), 0);
    free(d.response);
    free(c.response);
    free(b.response);
    free(a.response);
}

static void without_mandatory_client_auth_https_is_open(void **state)
{
    struct exchange ex = {0};

    set("ANCL_CAUT_MANDATORY", "Disabled");
    exchange_post(&ex, true, "/ws/Echo", echo_body("Echo", false), NULL);
    assert_int_equal(ex.status, 200);
    free(ex.response);
}

static void the_server_picks_the_identity_the_client_can_use(void **state)
{
    struct exchange ecc = {0}, rsa = {0};

    set("ANCL_CAUT_MANDATORY", "Disabled");
    ecc.max_version = TLS1_2_VERSION;
    ecc.groups = "brainpoolP256r1";
    ecc.sigalgs = "ECDSA+SHA256";
    exchange_post(&ecc, true, "/ws/Echo", echo_body("Echo", false), NULL);
    assert_false(ecc.handshake_failed);
    assert_string_equal(ecc.server_key, "brainpoolP256r1");
    assert_int_equal(ecc.status, 200);
    rsa.sigalgs = "rsa_pss_rsae_sha256:RSA+SHA256";
    exchange_post(&rsa, true, "/ws/Echo", echo_body("Echo", false), NULL);
    assert_string_equal(rsa.server_key, "RSA");
    assert_int_equal(rsa.status, 200);
    free(rsa.response);
    free(ecc.response);
}

/* ---- connector.sds ---------------------------------------------------------------------- */

static void sds_over_https_lists_the_echo_service(void **state)
{
    char want[128];
    struct exchange ex = {0};

    set("ANCL_CAUT_MANDATORY", "Disabled");
    exchange_get(&ex, true, "/connector.sds");
    assert_int_equal(ex.status, 200);
    (void)snprintf(want, sizeof(want),
                   "<SI:EndpointTLS Location=\"https://127.0.0.1:%u/ws/Echo\"/>", w.https_port);
    assert_non_null(strstr(ex.response, want));
    (void)snprintf(want, sizeof(want), "<SI:Endpoint Location=\"http://127.0.0.1:%u/ws/Echo\"/>",
                   w.http_port);
    assert_non_null(strstr(ex.response, want));
    assert_non_null(strstr(ex.response, "<CONN:TLSMandatory>true</CONN:TLSMandatory>"));
    assert_non_null(
        strstr(ex.response, "<CONN:ClientAutMandatory>false</CONN:ClientAutMandatory>"));
    free(ex.response);
}

static void sds_over_http_needs_dvd_open_or_optional_tls(void **state)
{
    struct exchange a = {0}, b = {0}, c = {0};

    exchange_get(&a, false, "/connector.sds");
    expect_fault(&a, 403, 4000, "TLS is mandatory");
    set("ANCL_DVD_OPEN", "Enabled");
    exchange_get(&b, false, "/connector.sds");
    assert_int_equal(b.status, 200);
    /* DVD_OPEN opens the directory only, not the services. */
    exchange_post(&c, false, "/ws/Echo", echo_body("Echo", false), NULL);
    expect_fault(&c, 403, 4000, NULL);
    free(c.response);
    free(b.response);
    free(a.response);
}

static void sds_advertises_the_configured_host(void **state)
{
    struct exchange ex = {0};

    set("ANCL_TLS_MANDATORY", "Disabled");
    set("MGM_LAN_ADVERTISED_HOST", "konnektor.praxis.example");
    exchange_get(&ex, false, "/connector.sds");
    assert_int_equal(ex.status, 200);
    assert_non_null(strstr(ex.response, "https://konnektor.praxis.example:"));
    assert_null(strstr(ex.response, "127.0.0.1"));
    free(ex.response);
}

static void registering_after_listening_is_refused(void **state)
{
    static const struct soap_service late = {"Late", "x", "urn:x", "1.0.0", "/ws/Late", NULL, NULL};

    assert_int_equal(soap_server_register(w.srv, &late, NULL, 0), -EBUSY);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(plain_http_is_refused_while_tls_is_mandatory, setup, NULL),
        cmocka_unit_test_setup_teardown(plain_http_echo_works_when_tls_is_optional, setup, NULL),
        cmocka_unit_test_setup_teardown(unknown_operations_and_paths_are_refused, setup, NULL),
        cmocka_unit_test_setup_teardown(a_service_is_offered_only_with_its_feature, setup, NULL),
        cmocka_unit_test_setup_teardown(context_is_required_where_the_operation_says_so, setup,
                                        NULL),
        cmocka_unit_test_setup_teardown(critical_state_gate_answers_4002_naming_the_condition,
                                        setup, NULL),
        cmocka_unit_test_setup_teardown(handler_faults_carry_their_detail, setup, NULL),
        cmocka_unit_test_setup_teardown(documents_over_25_mb_are_4280, setup, NULL),
        cmocka_unit_test_setup_teardown(a_call_can_be_answered_later, setup, NULL),
        cmocka_unit_test_setup_teardown(a_client_that_leaves_makes_the_call_gone, setup, NULL),
        cmocka_unit_test_setup_teardown(a_tls_client_that_leaves_makes_the_call_gone, setup, NULL),
        cmocka_unit_test_setup_teardown(https_without_a_client_certificate_is_refused_with_an_event,
                                        setup, NULL),
        cmocka_unit_test_setup_teardown(https_with_an_issued_client_certificate_is_served, setup,
                                        NULL),
        cmocka_unit_test_setup_teardown(client_certificate_list_decides_who_is_served, setup, NULL),
        cmocka_unit_test_setup_teardown(imports_take_only_client_certificates, setup, NULL),
        cmocka_unit_test_setup_teardown(basic_auth_mode_checks_the_password, setup, NULL),
        cmocka_unit_test_setup_teardown(without_mandatory_client_auth_https_is_open, setup, NULL),
        cmocka_unit_test_setup_teardown(the_server_picks_the_identity_the_client_can_use, setup,
                                        NULL),
        cmocka_unit_test_setup_teardown(sds_over_https_lists_the_echo_service, setup, NULL),
        cmocka_unit_test_setup_teardown(sds_over_http_needs_dvd_open_or_optional_tls, setup, NULL),
        cmocka_unit_test_setup_teardown(sds_advertises_the_configured_host, setup, NULL),
        cmocka_unit_test_setup_teardown(registering_after_listening_is_refused, setup, NULL),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
