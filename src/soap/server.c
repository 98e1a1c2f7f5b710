/* server: the server object, its services, and the way from a request to its handler
 * (DESIGN.md section 4). The listeners and TLS are in listen.c.
 *
 *   request ──> plain HTTP allowed? (ANCL_TLS_MANDATORY, ANCL_DVD_OPEN; else 403 + 4000)
 *           ──> HTTP Basic (ANCL_CAUT_MODE=Password; else 401)          [auth.c, async]
 *           ──> GET /connector.sds ──> sds.c
 *           ──> POST <service path> ──> size (4280) ──> envelope (4000) ──> operation (4000)
 *               ──> context (4021) ──> gate (4002) ──> handler           [envelope.c, call.c]
 *
 * Invariants:
 *  1. Settings are read per handshake and per request, never cached: a change applies to
 *     the next connection or request.
 *  2. Services are registered before listening and never change afterwards (TIP1-A_4533),
 *     so connector.sds is the same for the whole run. A service whose feature the running
 *     firmware lacks is never registered: one gate for connector.sds and dispatch alike.
 *  3. A failed client authentication publishes MGM/CLIENT_AUTH_FAILED (Security, Warning) with
 *     the peer and the mode, once per attempt.
 *  4. Bodies over SOAP_DOCUMENT_MAX are answered with 4280 as long as evhttp hands them over;
 *     evhttp's own cap (SOAP_BODY_MAX, answered with 413) is only a safety net above that. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>

#include "soap/soap_internal.h"

#define SDS_PATH "/connector.sds"

struct soap_call **soap__server_calls(struct soap_server *srv)
{
    return &srv->calls;
}

void soap__server_forget_call(struct soap_server *srv, const struct soap_call *call)
{
    if (srv->in_request == call)
        srv->in_request = NULL;
}

const char *soap__server_instance(struct soap_server *srv)
{
    const char *v = NULL;

    if (store_setting_get(srv->deps.store, "MGM_KONN_HOSTNAME", &v) < 0 || !v)
        return "";
    (void)str_copy(srv->instance, sizeof(srv->instance), v);
    return srv->instance;
}

/* Invariant 1. A setting that cannot be read counts as its safe value. */
void soap__settings_read(struct soap_server *srv, struct soap__lan_settings *ret)
{
    const char *mode = NULL;
    bool v;

    ret->tls_mandatory = store_setting_get_bool(srv->deps.store, "ANCL_TLS_MANDATORY", &v) < 0 || v;
    ret->caut_mandatory =
        store_setting_get_bool(srv->deps.store, "ANCL_CAUT_MANDATORY", &v) < 0 || v;
    ret->dvd_open = store_setting_get_bool(srv->deps.store, "ANCL_DVD_OPEN", &v) == 0 && v;
    ret->caut_password = store_setting_get(srv->deps.store, "ANCL_CAUT_MODE", &mode) == 0 && mode &&
                         strcmp(mode, "Password") == 0;
}

void soap__auth_failed(struct soap_server *srv, const char *peer, const char *mode)
{
    struct evt_param params[2] = {{"Peer", peer}, {"Mode", mode}};
    struct evt_event ev = {.topic = "MGM/CLIENT_AUTH_FAILED",
                           .type = EVT_TYPE_SECURITY,
                           .severity = EVT_SEVERITY_WARNING,
                           .params = params,
                           .n_params = 2};

    log_msg(LOG_LEVEL_WARNING, "soap: client authentication (%s) of %s failed, refusing", mode,
            peer);
    if (srv->deps.bus)
        (void)evt_bus_publish(srv->deps.bus, &ev);
}

/* ---- addresses -------------------------------------------------------------------------- */

void soap__addr_to_string(const struct sockaddr_storage *ss, char *buf, size_t size)
{
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
    struct in_addr v4;

    if (ss->ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
        memcpy(&v4, &s6->sin6_addr.s6_addr[12], sizeof(v4));
        (void)inet_ntop(AF_INET, &v4, buf, (socklen_t)size);
    } else if (ss->ss_family == AF_INET6) {
        (void)inet_ntop(AF_INET6, &s6->sin6_addr, buf, (socklen_t)size);
    } else {
        (void)inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, buf, (socklen_t)size);
    }
}

/* Host for connector.sds URLs: MGM_LAN_ADVERTISED_HOST, else the address the request came in
 * on (TIP1-A_4528); an IPv6 literal goes in brackets. */
static void advertised_host(struct soap_server *srv, struct evhttp_request *evreq, char *buf,
                            size_t size)
{
    const char *setting = NULL;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char addr[INET6_ADDRSTRLEN] = "127.0.0.1";
    struct bufferevent *bev;

    if (store_setting_get(srv->deps.store, "MGM_LAN_ADVERTISED_HOST", &setting) == 0 && setting &&
        setting[0]) {
        (void)snprintf(buf, size, strchr(setting, ':') ? "[%s]" : "%s", setting);
        return;
    }
    bev = evhttp_connection_get_bufferevent(evhttp_request_get_connection(evreq));
    if (bev && getsockname(bufferevent_getfd(bev), (struct sockaddr *)&ss, &sl) == 0)
        soap__addr_to_string(&ss, addr, sizeof(addr));
    (void)snprintf(buf, size, strchr(addr, ':') ? "[%s]" : "%s", addr);
}

/* ---- dispatch --------------------------------------------------------------------------- */

static void serve_sds(struct soap_call *call, const struct soap__lan_settings *s)
{
    struct soap_server *srv = call->srv;
    char host[SETTING_VALUE_MAX + 2];
    struct soap__sds_info info = {
        .services = srv->services,
        .n_services = srv->n_services,
        .tls_mandatory = s->tls_mandatory,
        .caut_mandatory = s->caut_mandatory,
        .host = host,
        .http_port = srv->plain.http ? srv->plain.port : 0,
        .https_port = srv->secure.http ? srv->secure.port : 0,
        .product_type_version = srv->ptv,
        .firmware_version = srv->fw,
        .now_ms = clock_now_ms(),
    };
    xmlBufferPtr buf = NULL;

    advertised_host(srv, call->evreq, host, sizeof(host));
    if (soap__sds_format(&info, &buf) < 0) {
        soap__call_send(call, 503, "text/plain; charset=utf-8", "out of memory\n", 14);
        return;
    }
    soap__call_send(call, 200, "text/xml; charset=utf-8", xmlBufferContent(buf),
                    (size_t)xmlBufferLength(buf));
    xmlBufferFree(buf);
}

static const struct soap_operation *op_find(const struct soap__ops *ops, const char *ns,
                                            const char *name)
{
    for (size_t i = 0; i < ops->n; i++)
        if (strcmp(ops->v[i].ns, ns) == 0 && strcmp(ops->v[i].name, name) == 0)
            return &ops->v[i];
    return NULL;
}

static bool context_is_complete(const struct soap_context *c)
{
    return c->present && c->mandant_id[0] && c->client_system_id[0] && c->workplace_id[0];
}

static void serve_soap(struct soap_call *call, size_t svc)
{
    struct soap_server *srv = call->srv;
    struct evbuffer *in = evhttp_request_get_input_buffer(call->evreq);
    const char *cl =
        evhttp_find_header(evhttp_request_get_input_headers(call->evreq), "Content-Length");
    size_t len = evbuffer_get_length(in);
    struct soap__refusal why = {0};
    const struct soap_operation *op;
    char detail[SOAP__DETAIL_MAX];
    enum ec_id blocker;
    int64_t declared = 0;

    /* Invariant 4 (TIP1-A_4500-02). */
    if ((cl && str_to_int64(cl, &declared) == 0 && declared > SOAP_DOCUMENT_MAX) ||
        len > SOAP_DOCUMENT_MAX) {
        (void)snprintf(
            detail, sizeof(detail), "the document has %lld bytes, at most %d are processed",
            (long long)(declared > (int64_t)len ? declared : (int64_t)len), SOAP_DOCUMENT_MAX);
        soap__call_fault_status(call, 500, 4280, NULL, detail);
        return;
    }
    if (soap__envelope_parse(evbuffer_pullup(in, -1), len, &call->req, &why) < 0) {
        soap__call_fault_status(call, 500, why.code,
                                why.must_understand ? "soap:MustUnderstand" : NULL, why.detail);
        return;
    }
    op = op_find(&srv->ops[svc], call->req.ns, call->req.name);
    if (!op) {
        (void)snprintf(detail, sizeof(detail), "unknown operation '{%.200s}%.64s' at %s",
                       call->req.ns, call->req.name, srv->services[svc].path);
        soap__call_fault_status(call, 500, 4000, NULL, detail);
        return;
    }
    if (op->needs_context && !context_is_complete(&call->req.context)) {
        soap_call_fault(call, 4021,
                        "%s needs CCTX:Context with MandantId, ClientSystemId and WorkplaceId",
                        op->name);
        return;
    }
    if (op->gate < GATE_OP_MAX && !gate_allows(srv->deps.ecs, op->gate, &blocker)) {
        soap_call_fault(call, GATE_REFUSED_CODE,
                        "the error condition %s blocks %s (TAB_KON_504-01)",
                        ec_def_get(blocker)->name, op->name);
        return;
    }
    call->op = op;
    op->fn(call, op->arg);
}

static void proceed(struct soap_call *call, const struct soap__lan_settings *s)
{
    struct soap_server *srv = call->srv;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(call->evreq);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(call->evreq);
    char detail[SOAP__DETAIL_MAX];

    if (!path)
        path = "";
    if (cmd == EVHTTP_REQ_GET && strcmp(path, SDS_PATH) == 0) {
        serve_sds(call, s);
        return;
    }
    for (size_t i = 0; i < srv->n_services && cmd == EVHTTP_REQ_POST; i++) {
        if (strcmp(srv->services[i].path, path) == 0) {
            serve_soap(call, i);
            return;
        }
    }
    (void)snprintf(detail, sizeof(detail), "no SOAP service at '%.200s'; see %s", path, SDS_PATH);
    soap__call_fault_status(call, 404, 4000, NULL, detail);
}

static void on_auth_done(bool ok, const uint8_t *tag, void *arg)
{
    struct soap_call *call = arg;
    struct evkeyvalq *headers;
    struct soap__lan_settings s;

    if (!call->srv || !call->evreq) {
        soap__call_free(call);
        return;
    }
    if (!ok) {
        soap__auth_failed(call->srv, call->peer, "Password");
        headers = evhttp_request_get_output_headers(call->evreq);
        (void)evhttp_add_header(headers, "WWW-Authenticate",
                                "Basic realm=\"konnektord\", charset=\"UTF-8\"");
        soap__call_send(call, 401, "text/plain; charset=utf-8", "client authentication failed\n",
                        29);
        return;
    }
    soap__users_remember(call->srv->users, tag);
    soap__settings_read(call->srv, &s);
    proceed(call, &s);
}

static void on_request(struct soap__listener *l, struct soap_call *call)
{
    struct soap_server *srv = l->srv;
    struct evhttp_request *evreq = call->evreq;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(evreq);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    bool is_sds =
        path && strcmp(path, SDS_PATH) == 0 && evhttp_request_get_command(evreq) == EVHTTP_REQ_GET;
    struct soap__lan_settings s;

    soap__settings_read(srv, &s);
    if (!l->tls) {
        /* TIP1-A_4515, TIP1-A_4528: plain HTTP only when TLS is not mandatory, or for the
         * service directory when ANCL_DVD_OPEN allows it. Basic credentials are never
         * accepted without TLS, so ANCL_CAUT_* applies to HTTPS only. */
        if (s.tls_mandatory && !(is_sds && s.dvd_open)) {
            soap__call_fault_status(call, 403, 4000, NULL,
                                    "TLS is mandatory (ANCL_TLS_MANDATORY): use HTTPS");
            return;
        }
        proceed(call, &s);
        return;
    }
    if (s.caut_mandatory && s.caut_password) {
        soap__users_check(
            srv->users, srv->deps.workers,
            evhttp_find_header(evhttp_request_get_input_headers(evreq), "Authorization"),
            on_auth_done, call);
        return;
    }
    proceed(call, &s);
}

void soap__server_on_request(struct evhttp_request *evreq, void *arg)
{
    struct soap__listener *l = arg;
    struct soap_server *srv = l->srv;
    struct soap_call *call = soap__call_new(srv, evreq, l->tls);

    if (!call)
        return;
    srv->in_request = call;
    on_request(l, call);
    /* Still unanswered (Basic check on the worker pool, a handler that waits): watch for the
     * client leaving (call.c invariant 5). soap__call_free() cleared in_request otherwise. */
    if (srv->in_request == call)
        soap__call_watch(call);
    srv->in_request = NULL;
}

/* ---- server ----------------------------------------------------------------------------- */

struct soap_server *soap_server_new(const struct soap_deps *deps)
{
    struct soap_server *srv;

    if (!deps || !deps->base || !deps->store || !deps->ecs || !deps->data_dir)
        return NULL;
    srv = calloc(1, sizeof(*srv));
    if (!srv)
        return NULL;
    xmlInitParser();
    srv->deps = *deps;
    srv->data_dir = strdup(deps->data_dir);
    srv->ptv = strdup(deps->product_type_version ? deps->product_type_version : "0.0.0");
    srv->fw = strdup(deps->firmware_version ? deps->firmware_version : KONN_VERSION);
    if (!srv->data_dir || !srv->ptv || !srv->fw || soap__users_load(srv->data_dir, &srv->users) < 0)
        return soap_server_free(srv);
    srv->deps.data_dir = srv->data_dir;
    srv->deps.product_type_version = srv->ptv;
    srv->deps.firmware_version = srv->fw;
    srv->features = calloc(deps->n_features + 1, sizeof(*srv->features));
    if (!srv->features)
        return soap_server_free(srv);
    for (; srv->n_features < deps->n_features; srv->n_features++) {
        srv->features[srv->n_features] = strdup(deps->features[srv->n_features]);
        if (!srv->features[srv->n_features])
            return soap_server_free(srv);
    }
    srv->deps.features = NULL; /* srv->features holds them */
    return srv;
}

static void service_done(struct soap_service *svc, struct soap__ops *ops)
{
    free((char *)svc->name);
    free((char *)svc->abstract);
    free((char *)svc->target_namespace);
    free((char *)svc->version);
    free((char *)svc->path);
    free((char *)svc->wsdl_path);
    free((char *)svc->feature);
    for (size_t i = 0; ops && i < ops->n; i++) {
        free((char *)ops->v[i].ns);
        free((char *)ops->v[i].name);
    }
    if (ops)
        free(ops->v);
}

struct soap_server *soap_server_free(struct soap_server *srv)
{
    if (!srv)
        return NULL;
    /* Handlers holding calls learn that they are gone before the connections close. */
    soap__calls_orphan(&srv->calls);
    if (srv->plain.http)
        evhttp_free(srv->plain.http);
    if (srv->secure.http)
        evhttp_free(srv->secure.http);
    SSL_CTX_free(srv->ssl_ctx);
    soap__client_certs_free(srv->client_certs);
    soap__identity_free(srv->identity);
    soap__users_free(srv->users);
    for (size_t i = 0; i < srv->n_services; i++)
        service_done(&srv->services[i], &srv->ops[i]);
    free(srv->services);
    free(srv->ops);
    for (size_t i = 0; i < srv->n_features; i++)
        free(srv->features[i]);
    free(srv->features);
    free(srv->fw);
    free(srv->ptv);
    free(srv->data_dir);
    free(srv);
    return NULL;
}

static bool has_feature(const struct soap_server *srv, const char *feature)
{
    for (size_t i = 0; i < srv->n_features; i++)
        if (strcmp(srv->features[i], feature) == 0)
            return true;
    return false;
}

static char *dup_or_null(const char *s, bool *ok)
{
    char *d = s ? strdup(s) : NULL;

    if (s && !d)
        *ok = false;
    return d;
}

int soap_server_register(struct soap_server *srv, const struct soap_service *svc,
                         const struct soap_operation *ops, size_t n_ops)
{
    struct soap_service *services;
    struct soap__ops *all_ops, *o;
    struct soap_service copy = {0};
    bool ok = true;

    if (srv->listening)
        return -EBUSY; /* invariant 2 */
    if (!svc || !svc->name || !svc->abstract || !svc->target_namespace || !svc->version ||
        !svc->path || svc->path[0] != '/' || strcmp(svc->path, SDS_PATH) == 0 ||
        (n_ops > 0 && !ops))
        return -EINVAL;
    for (size_t i = 0; i < n_ops; i++)
        if (!ops[i].ns || !ops[i].name || !ops[i].fn)
            return -EINVAL;
    for (size_t i = 0; i < srv->n_services; i++)
        if (strcmp(srv->services[i].path, svc->path) == 0)
            return -EEXIST;
    if (svc->feature && !has_feature(srv, svc->feature)) {
        /* Feature gating (issue #6 item 5): not offered, so not listed and not dispatched. */
        log_msg(LOG_LEVEL_INFO, "soap: %s not offered, the firmware lacks the feature '%s'",
                svc->name, svc->feature);
        return 0;
    }
    services = realloc(srv->services, (srv->n_services + 1) * sizeof(*services));
    if (!services)
        return -ENOMEM;
    srv->services = services;
    all_ops = realloc(srv->ops, (srv->n_services + 1) * sizeof(*all_ops));
    if (!all_ops)
        return -ENOMEM;
    srv->ops = all_ops;
    o = &all_ops[srv->n_services];
    *o = (struct soap__ops){0};
    copy.name = dup_or_null(svc->name, &ok);
    copy.abstract = dup_or_null(svc->abstract, &ok);
    copy.target_namespace = dup_or_null(svc->target_namespace, &ok);
    copy.version = dup_or_null(svc->version, &ok);
    copy.path = dup_or_null(svc->path, &ok);
    copy.wsdl_path = dup_or_null(svc->wsdl_path, &ok);
    copy.feature = dup_or_null(svc->feature, &ok);
    o->v = n_ops ? calloc(n_ops, sizeof(*o->v)) : NULL;
    if (n_ops && !o->v)
        ok = false;
    for (size_t i = 0; ok && i < n_ops; i++) {
        o->v[i] = ops[i];
        o->v[i].ns = dup_or_null(ops[i].ns, &ok);
        o->v[i].name = dup_or_null(ops[i].name, &ok);
        o->n = i + 1;
    }
    if (!ok) {
        service_done(&copy, o);
        return -ENOMEM;
    }
    services[srv->n_services++] = copy;
    return 0;
}
