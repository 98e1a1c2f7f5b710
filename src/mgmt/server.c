/* server: the management HTTPS listener, its router and the life of one request.
 *
 *   accept (TLS 1.2+) -> route match (404/405) -> JSON body (400) -> Basic credentials (401,
 *   possibly waiting for the worker pool) -> role (403) -> critical-state gate (409, 4002)
 *   -> handler -> reply
 *
 * Invariants:
 *  1. Every request gets exactly one reply, or none if its connection went away first.
 *  2. A request whose connection closes while it waits for authentication is only marked
 *     gone; whoever holds it then frees it without replying.
 *  3. Bodies are capped at MGMT_BODY_MAX and headers at MGMT_HEADERS_MAX by evhttp itself,
 *     before authentication. The one exception, an upload route's body, evhttp never sees:
 *     upload.c reads it, after the headers authenticated the caller, into a file (issue #6).
 *  4. Errors never carry errno text or paths (STYLE.md rule 5).
 *  5. A streamed reply writes only in a loop turn that a drain of its own last write started,
 *     or in the turn that writes its status line: the status line leaves with the first chunk
 *     (or the end), never alone. evhttp learns that output drained from the bufferevent's
 *     write callback, which bufferevent_openssl defers to the next loop turn and which runs
 *     whatever evcon->cb holds by then. A status line sent on its own and a first page that
 *     came back from the worker in between made that deferred callback run the page's
 *     continuation (or evhttp_send_done, which stops writing with the body still in the
 *     output buffer: the export stalled after its headers).
 *  6. A chunk's continuation runs at most once, and only when the output buffer is empty. */
#include "mgmt/mgmt_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

/* A settings or user body is a few hundred bytes, a configuration backup some KiB; 64 KiB
 * leaves room and caps what an unauthenticated client makes us buffer (answered 413). */
#define MGMT_BODY_MAX (64 * 1024)
#define MGMT_HEADERS_MAX (16 * 1024)
/* An idle or stuck client is dropped after this many seconds. */
#define MGMT_TIMEOUT_S 30
#define ROUTE_ARGS_MAX 4

struct route {
    enum mgmt_method method;
    char *pattern;
    unsigned roles;
    enum gate_op gate;
    mgmt_handler_fn fn;
    void *arg;
    bool raw; /* the body is bytes for the handler (mgmt_request_body_take), not JSON */
};

struct mgmt_server {
    struct mgmt_deps deps;
    struct mgmt_identity *identity;
    SSL_CTX *ssl_ctx;
    struct evhttp *http;
    struct mgmt_auth *auth;
    struct mgmt_sessions *sessions; /* the web UI's cookie sessions (session.c) */
    struct mgmt__reset *reset;      /* the factory reset (reset.c) */
    struct mgmt__button *button;    /* the hidden reset button, NULL until started */
    int upload_index;               /* SSL ex_data slot of the upload readers (upload.c) */
    struct route *routes;           /* grows with mgmt_server_route(), no fixed cap */
    size_t n_routes, routes_size;
};

struct mgmt_request {
    struct mgmt_server *srv;
    struct evhttp_request *evreq; /* NULL once the connection is gone */
    const struct route *route;
    char *args[ROUTE_ARGS_MAX];
    struct evkeyvalq query;
    bool has_query;
    json_t *body;
    char user[STORE_USER_NAME_MAX + 1];
    enum store_role role;
    void (*more)(struct mgmt_request *req, void *arg); /* streaming: produce the next chunk */
    void *more_arg;
    bool streaming;    /* the reply is a stream: only chunks and the end may follow */
    bool head_pending; /* streaming, but the status line waits for the first write (inv. 5) */
    char *upload_path; /* an upload route's body, until the handler takes it */
    uint64_t upload_size;
};

static const char *const method_names[MGMT_METHOD_MAX] = {"GET", "PUT", "POST", "DELETE"};

const struct mgmt_deps *mgmt_server_deps(const struct mgmt_server *srv)
{
    return &srv->deps;
}

struct mgmt_auth *mgmt__server_auth(struct mgmt_server *srv)
{
    return srv->auth;
}

struct mgmt_sessions *mgmt__server_sessions(struct mgmt_server *srv)
{
    return srv->sessions;
}

struct mgmt__reset *mgmt__server_reset(struct mgmt_server *srv)
{
    return srv->reset;
}

const struct mgmt_identity *mgmt__server_identity(const struct mgmt_server *srv)
{
    return srv->identity;
}

int mgmt__server_upload_index(const struct mgmt_server *srv)
{
    return srv->upload_index;
}

int mgmt_server_button_start(struct mgmt_server *srv)
{
    return srv->button ? 0 : mgmt__button_open(srv, &srv->button);
}

/* ---- requests --------------------------------------------------------------------------- */

static void on_connection_close(struct evhttp_connection *evcon, void *arg)
{
    struct mgmt_request *req = arg;
    void (*more)(struct mgmt_request *, void *) = req->more;

    /* libevent 2.1 (evhttp_connection_incoming_fail) takes a request whose reply has not
     * ended, as a streamed export's, off the leaving client's connection and leaves it to us;
     * nothing uses it any more. On a server shutdown libevent frees its requests itself. */
    if (req->evreq && !evhttp_request_get_connection(req->evreq))
        evhttp_request_free(req->evreq);
    req->evreq = NULL;
    /* A stream waiting for its chunk to drain would wait forever: its continuation runs now,
     * finds the client gone (-EPIPE) and ends the stream, which frees the request. */
    req->more = NULL;
    if (more)
        more(req, req->more_arg);
}

static void request_free(struct mgmt_request *req)
{
    if (!req)
        return;
    for (size_t i = 0; i < ROUTE_ARGS_MAX; i++)
        free(req->args[i]);
    if (req->has_query)
        evhttp_clear_headers(&req->query);
    if (req->upload_path)
        (void)io_unlink(req->upload_path);
    free(req->upload_path);
    json_decref(req->body);
    free(req);
}

static const char *reason_of(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 413:
        return "Payload Too Large";
    case 422:
        return "Unprocessable Entity";
    case 503:
        return "Service Unavailable";
    case 507:
        return "Insufficient Storage";
    default:
        return "Internal Server Error";
    }
}

static void send_json(struct evhttp_request *evreq, int status, json_t *body)
{
    struct evbuffer *buf = evbuffer_new();
    char *text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    struct evkeyvalq *headers = evhttp_request_get_output_headers(evreq);

    (void)evhttp_add_header(headers, "Content-Type", "application/json");
    (void)evhttp_add_header(headers, "Cache-Control", "no-store");
    (void)evhttp_add_header(headers, "X-Content-Type-Options", "nosniff");
    /* The web UI (it sends X-Konn-CSRF) shows its own login, not the browser's Basic dialog. */
    if (status == 401 &&
        !evhttp_find_header(evhttp_request_get_input_headers(evreq), "X-Konn-CSRF"))
        (void)evhttp_add_header(headers, "WWW-Authenticate", "Basic realm=\"konnektord\"");
    if (buf && text) {
        (void)evbuffer_add(buf, text, strlen(text));
        (void)evbuffer_add(buf, "\n", 1);
    }
    evhttp_send_reply(evreq, status, reason_of(status), buf);
    free(text);
    if (buf)
        evbuffer_free(buf);
}

void mgmt_reply_json(struct mgmt_request *req, int status, json_t *body)
{
    if (req->evreq) {
        evhttp_connection_set_closecb(evhttp_request_get_connection(req->evreq), NULL, NULL);
        send_json(req->evreq, status, body ? body : json_object());
    }
    json_decref(body);
    request_free(req);
}

__attribute__((format(printf, 3, 0))) static json_t *error_json(int status, const char *code,
                                                                const char *fmt, va_list ap)
{
    char msg[512];

    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    return json_pack("{s:{s:i,s:s,s:s}}", "error", "status", status, "code", code, "message", msg);
}

void mgmt_reply_error(struct mgmt_request *req, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    json_t *body;

    va_start(ap, fmt);
    body = error_json(status, code, fmt, ap);
    va_end(ap);
    mgmt_reply_json(req, status, body);
}

struct offload {
    struct mgmt_request *req;
    void (*work)(void *arg);
    void (*done)(struct mgmt_request *req, void *arg);
    void *arg;
};

static void offload_work(void *arg)
{
    struct offload *o = arg;

    o->work(o->arg);
}

static void offload_done(void *arg)
{
    struct offload *o = arg;

    o->done(o->req, o->arg);
    free(o);
}

int mgmt_request_offload(struct mgmt_request *req, void (*work)(void *arg),
                         void (*done)(struct mgmt_request *req, void *arg), void *arg)
{
    struct offload *o = calloc(1, sizeof(*o));
    int r;

    if (!o) {
        if (req->streaming)
            mgmt_reply_stream_end(req);
        else
            mgmt_reply_error(req, 503, "busy", "out of memory, try again");
        return -ENOMEM;
    }
    *o = (struct offload){req, work, done, arg};
    r = worker_pool_submit(req->srv->deps.workers, offload_work, offload_done, o);
    if (r < 0) {
        free(o);
        /* A stream has sent its status line already: it can only end. */
        if (req->streaming)
            mgmt_reply_stream_end(req);
        else
            mgmt_reply_error(req, 503, "busy", "too many requests at once, try again in a moment");
    }
    return r;
}

void mgmt_reply_stream_start(struct mgmt_request *req, const char *content_type)
{
    req->streaming = true;
    if (!req->evreq)
        return;
    (void)evhttp_add_header(evhttp_request_get_output_headers(req->evreq), "Content-Type",
                            content_type);
    (void)evhttp_add_header(evhttp_request_get_output_headers(req->evreq), "Cache-Control",
                            "no-store");
    /* Invariant 5: the status line goes out in the same loop turn as the first chunk. */
    req->head_pending = true;
}

/* The connection's output buffer, or NULL once the connection is gone. */
static struct evbuffer *stream_output(struct mgmt_request *req)
{
    struct evhttp_connection *evcon = req->evreq ? evhttp_request_get_connection(req->evreq) : NULL;
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;

    return bev ? bufferevent_get_output(bev) : NULL;
}

static void stream_send_head(struct mgmt_request *req)
{
    if (!req->head_pending)
        return;
    req->head_pending = false;
    evhttp_send_reply_start(req->evreq, 200, "OK");
}

/* evhttp runs this from every later drain too (it never clears evcon->cb): invariant 6. */
static void on_chunk_sent(struct evhttp_connection *evcon, void *arg)
{
    struct mgmt_request *req = arg;
    struct evbuffer *out = stream_output(req);
    void (*more)(struct mgmt_request *, void *) = req->more;

    if (!more || !out || evbuffer_get_length(out) > 0)
        return;
    req->more = NULL;
    more(req, req->more_arg);
}

int mgmt_reply_stream_chunk(struct mgmt_request *req, const void *data, size_t len,
                            void (*more)(struct mgmt_request *req, void *arg), void *arg)
{
    struct evbuffer *buf;

    /* evhttp_send_reply_chunk_with_cb drops a chunk silently without a connection, so the
     * continuation would never run: the caller ends the stream instead. */
    if (!stream_output(req) || len == 0)
        return req->evreq ? -EINVAL : -EPIPE;
    buf = evbuffer_new();
    if (!buf || evbuffer_add(buf, data, len) < 0) {
        if (buf)
            evbuffer_free(buf);
        return -ENOMEM;
    }
    stream_send_head(req);
    req->more = more;
    req->more_arg = arg;
    evhttp_send_reply_chunk_with_cb(req->evreq, buf, more ? on_chunk_sent : NULL, req);
    evbuffer_free(buf);
    return 0;
}

void mgmt_reply_stream_end(struct mgmt_request *req)
{
    req->more = NULL;
    if (req->evreq) {
        evhttp_connection_set_closecb(evhttp_request_get_connection(req->evreq), NULL, NULL);
        stream_send_head(req);
        evhttp_send_reply_end(req->evreq);
    }
    request_free(req);
}

/* For errors before a mgmt_request exists. */
static void reply_raw_error(struct evhttp_request *evreq, int status, const char *code,
                            const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void reply_raw_error(struct evhttp_request *evreq, int status, const char *code,
                            const char *fmt, ...)
{
    va_list ap;
    json_t *body;

    va_start(ap, fmt);
    body = error_json(status, code, fmt, ap);
    va_end(ap);
    send_json(evreq, status, body);
    json_decref(body);
}

const char *mgmt_request_arg(const struct mgmt_request *req, size_t i)
{
    return i < ROUTE_ARGS_MAX ? req->args[i] : NULL;
}

const char *mgmt_request_query(const struct mgmt_request *req, const char *key)
{
    return req->has_query ? evhttp_find_header(&req->query, key) : NULL;
}

json_t *mgmt_request_body(const struct mgmt_request *req)
{
    return req->body;
}

const char *mgmt_request_user(const struct mgmt_request *req)
{
    return req->user;
}

enum store_role mgmt_request_role(const struct mgmt_request *req)
{
    return req->role;
}

const struct mgmt_deps *mgmt_request_deps(const struct mgmt_request *req)
{
    return &req->srv->deps;
}

struct mgmt_auth *mgmt__request_auth(const struct mgmt_request *req)
{
    return req->srv->auth;
}

const char *mgmt_body_string(struct mgmt_request *req, const char *key)
{
    json_t *v = req->body ? json_object_get(req->body, key) : NULL;

    if (!json_is_string(v)) {
        mgmt_reply_error(req, 400, "bad_request", "the body needs a string member '%s'", key);
        return NULL;
    }
    return json_string_value(v);
}

/* ---- routing ---------------------------------------------------------------------------- */

int mgmt_server_route(struct mgmt_server *srv, enum mgmt_method method, const char *pattern,
                      unsigned roles, enum gate_op gate, mgmt_handler_fn fn, void *arg)
{
    struct route *r;

    if (method >= MGMT_METHOD_MAX || gate > GATE_OP_MAX)
        return -EINVAL;
    if (srv->n_routes == srv->routes_size) {
        size_t size = srv->routes_size ? 2 * srv->routes_size : 32;
        struct route *grown = reallocarray(srv->routes, size, sizeof(*grown));

        if (!grown)
            return -ENOMEM;
        srv->routes = grown;
        srv->routes_size = size;
    }
    r = &srv->routes[srv->n_routes];
    *r = (struct route){0};
    r->pattern = strdup(pattern);
    if (!r->pattern)
        return -ENOMEM;
    r->method = method;
    r->roles = roles;
    r->gate = gate;
    r->fn = fn;
    r->arg = arg;
    srv->n_routes++;
    return 0;
}

int mgmt_server_route_raw(struct mgmt_server *srv, enum mgmt_method method, const char *pattern,
                          unsigned roles, enum gate_op gate, mgmt_handler_fn fn, void *arg)
{
    int r = mgmt_server_route(srv, method, pattern, roles, gate, fn, arg);

    if (r == 0)
        srv->routes[srv->n_routes - 1].raw = true;
    return r;
}

static bool path_matches(const char *pattern, const char *path, char *ret_args[ROUTE_ARGS_MAX]);

int mgmt_request_upload_take(struct mgmt_request *req, char **ret_path, uint64_t *ret_size)
{
    if (!req->upload_path)
        return -ENOENT;
    *ret_path = req->upload_path;
    *ret_size = req->upload_size;
    req->upload_path = NULL;
    return 0;
}

int mgmt__route_upload_roles(const struct mgmt_server *srv, enum mgmt_method method,
                             const char *path, unsigned *ret_roles)
{
    for (size_t i = 0; i < srv->n_routes; i++) {
        const struct route *rt = &srv->routes[i];

        if (rt->method == method && path_matches(rt->pattern, path, NULL)) {
            if (!rt->raw)
                return -ENOENT;
            *ret_roles = rt->roles;
            return 0;
        }
    }
    return -ENOENT;
}

int mgmt__routes_add(struct mgmt_server *srv, const struct mgmt__route_def *defs, size_t n,
                     void *arg)
{
    for (size_t i = 0; i < n; i++) {
        int r = mgmt_server_route(srv, defs[i].method, defs[i].pattern, defs[i].roles, defs[i].gate,
                                  defs[i].fn, arg);

        if (r < 0)
            return r;
    }
    return 0;
}

/* Matches path against pattern segment by segment; "*" captures one non-empty segment. */
static bool path_matches(const char *pattern, const char *path, char *ret_args[ROUTE_ARGS_MAX])
{
    size_t n_args = 0;
    const char *p = pattern, *s = path;

    while (*p && *s) {
        const char *pe = strchr(p + 1, '/'), *se = strchr(s + 1, '/');
        size_t pl = pe ? (size_t)(pe - p) : strlen(p), sl = se ? (size_t)(se - s) : strlen(s);

        if (pl == 2 && p[1] == '*') {
            if (sl < 2 || n_args >= ROUTE_ARGS_MAX)
                return false;
            if (ret_args) {
                char *seg = strndup(s + 1, sl - 1);

                ret_args[n_args] = seg ? evhttp_uridecode(seg, 0, NULL) : NULL;
                free(seg);
            }
            n_args++;
        } else if (pl != sl || strncmp(p, s, pl) != 0) {
            return false;
        }
        p += pl;
        s += sl;
    }
    /* A trailing slash on the request is tolerated. */
    return *p == '\0' && (*s == '\0' || strcmp(s, "/") == 0);
}

static int method_of(struct evhttp_request *evreq, enum mgmt_method *ret)
{
    switch (evhttp_request_get_command(evreq)) {
    case EVHTTP_REQ_GET:
        *ret = MGMT_GET;
        return 0;
    case EVHTTP_REQ_PUT:
        *ret = MGMT_PUT;
        return 0;
    case EVHTTP_REQ_POST:
        *ret = MGMT_POST;
        return 0;
    case EVHTTP_REQ_DELETE:
        *ret = MGMT_DELETE;
        return 0;
    default:
        return -EINVAL;
    }
}

/* Decodes "Basic base64(user:password)" into buf; sets *ret_password inside buf. */
static int parse_basic(const char *header, char *buf, size_t size, char **ret_password)
{
    const char *b64;
    size_t len;
    int n;
    char *colon;

    if (!header || strncasecmp(header, "Basic ", 6) != 0)
        return -EINVAL;
    b64 = header + 6;
    while (*b64 == ' ')
        b64++;
    len = strlen(b64);
    if (len == 0 || len % 4 != 0 || len / 4 * 3 + 1 > size)
        return -EINVAL;
    n = EVP_DecodeBlock((unsigned char *)buf, (const unsigned char *)b64, (int)len);
    if (n < 0)
        return -EINVAL;
    /* EVP_DecodeBlock counts padding as zero bytes. */
    if (len >= 1 && b64[len - 1] == '=')
        n--;
    if (len >= 2 && b64[len - 2] == '=')
        n--;
    buf[n] = '\0';
    if (strlen(buf) != (size_t)n)
        return -EINVAL;
    colon = strchr(buf, ':');
    if (!colon)
        return -EINVAL;
    *colon = '\0';
    *ret_password = colon + 1;
    return 0;
}

static void dispatch(struct mgmt_request *req)
{
    const struct route *rt = req->route;
    const struct mgmt_deps *d = &req->srv->deps;
    enum ec_id blocker;

    if (!(rt->roles & STORE_ROLE_BIT(req->role))) {
        mgmt_reply_error(req, 403, "forbidden", "the role %s may not do this",
                         store_role_to_string(req->role));
        return;
    }
    if (rt->gate != GATE_OP_MAX && !gate_allows(d->ecs, rt->gate, &blocker)) {
        json_t *body =
            json_pack("{s:{s:i,s:s,s:s,s:i,s:s}}", "error", "status", 409, "code", "critical_state",
                      "message", "the connector is in a critical operating state", "gematik_code",
                      GATE_REFUSED_CODE, "condition", ec_def_get(blocker)->name);

        mgmt_reply_json(req, 409, body);
        return;
    }
    rt->fn(req, rt->arg);
}

/* auth.c's answer for mgmt__authenticate()'s caller. */
struct authentication {
    mgmt__authenticated_fn done;
    void *arg;
};

static void on_auth_done(enum mgmt_auth_result result, const struct store_user *user,
                         int64_t locked_until_ms, void *arg)
{
    struct authentication a = *(struct authentication *)arg;
    struct mgmt__auth_outcome o = {.status = 401, .code = "bad_credentials"};
    char until[32];

    free(arg);
    switch (result) {
    case MGMT_AUTH_OK:
        o = (struct mgmt__auth_outcome){.user = user};
        break;
    case MGMT_AUTH_LOCKED:
        o.code = "locked";
        (void)snprintf(o.message, sizeof(o.message),
                       "the account is locked after repeated failed logins until %s",
                       clock_format_iso(locked_until_ms, until, sizeof(until)));
        break;
    case MGMT_AUTH_BUSY:
        o.status = 503;
        o.code = "busy";
        (void)snprintf(o.message, sizeof(o.message),
                       "too many logins at once, try again in a moment");
        break;
    default:
        (void)snprintf(o.message, sizeof(o.message), "wrong user name or password");
        break;
    }
    a.done(&o, a.arg);
}

void mgmt__authenticate(struct mgmt_server *srv, const struct evkeyvalq *headers,
                        enum mgmt_method method, mgmt__authenticated_fn done, void *arg)
{
    const char *authorization = evhttp_find_header(headers, "Authorization");
    struct mgmt__auth_outcome o = {.status = 401, .code = "bad_credentials"};
    struct authentication *a;
    struct store_user u;
    char creds[512];
    char *password = NULL;
    int r;

    /* A request without Authorization may carry the web UI's session cookie (session.c). */
    if (!authorization) {
        r = mgmt__session_check(srv->sessions, evhttp_find_header(headers, "Cookie"),
                                evhttp_find_header(headers, "X-Konn-CSRF"), method != MGMT_GET, &u);
        if (r > 0) {
            o = (struct mgmt__auth_outcome){.user = &u};
        } else if (r == -EPERM) {
            o.status = 403;
            o.code = "csrf";
            (void)snprintf(o.message, sizeof(o.message),
                           "the request lacks the session's CSRF token");
        } else if (r < 0) {
            o.code = "session_ended";
            (void)snprintf(o.message, sizeof(o.message), "the session has ended; log in again");
        }
        if (r != 0) {
            done(&o, arg);
            return;
        }
    }
    if (parse_basic(authorization, creds, sizeof(creds), &password) < 0) {
        (void)snprintf(o.message, sizeof(o.message),
                       "this endpoint needs an administrator's user name and password "
                       "(HTTP Basic)");
        done(&o, arg);
        return;
    }
    a = malloc(sizeof(*a));
    if (!a) {
        explicit_bzero(creds, sizeof(creds));
        o.status = 503;
        o.code = "busy";
        (void)snprintf(o.message, sizeof(o.message), "out of memory, try again");
        done(&o, arg);
        return;
    }
    *a = (struct authentication){done, arg};
    mgmt__auth_check(srv->auth, creds, password, on_auth_done, a);
    explicit_bzero(creds, sizeof(creds));
}

static void on_authenticated(const struct mgmt__auth_outcome *o, void *arg)
{
    struct mgmt_request *req = arg;

    /* Invariant 2: the client may have left while auth.c worked. */
    if (!req->evreq) {
        request_free(req);
        return;
    }
    if (o->status != 0) {
        mgmt_reply_error(req, o->status, o->code, "%s", o->message);
        return;
    }
    (void)str_copy(req->user, sizeof(req->user), o->user->name);
    req->role = o->user->role;
    dispatch(req);
}

/* An upload route: upload.c read the body (or refused it) after authenticating the headers
 * the same way; the request evhttp gives us has no body. */
static void serve_upload(struct mgmt_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req->evreq);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    struct mgmt__upload up;

    if (mgmt__upload_take(req->srv, bev ? bufferevent_openssl_get_ssl(bev) : NULL, &up) < 0) {
        mgmt_reply_error(req, 400, "bad_request",
                         "the upload was not read: send it with a Content-Length on a "
                         "connection of its own");
        return;
    }
    if (up.status != 0) {
        mgmt_reply_error(req, up.status, up.code, "%s", up.message);
        return;
    }
    req->upload_path = up.path;
    req->upload_size = up.size;
    (void)str_copy(req->user, sizeof(req->user), up.user);
    req->role = up.role;
    evhttp_connection_set_closecb(evhttp_request_get_connection(req->evreq), on_connection_close,
                                  req);
    dispatch(req);
}

static json_t *parse_body(struct evhttp_request *evreq, char *err, size_t err_size)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(evreq);
    size_t len = evbuffer_get_length(in);
    json_error_t jerr;
    json_t *body;

    if (len == 0)
        return NULL;
    body = json_loadb((const char *)evbuffer_pullup(in, -1), len, JSON_REJECT_DUPLICATES, &jerr);
    if (!body) {
        (void)snprintf(err, err_size, "malformed JSON at line %d, column %d: %s", jerr.line,
                       jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(body)) {
        json_decref(body);
        (void)snprintf(err, err_size, "the body must be a JSON object");
        return NULL;
    }
    return body;
}

static void on_request(struct evhttp_request *evreq, void *arg)
{
    struct mgmt_server *srv = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(evreq);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    struct mgmt_request *req = NULL;
    const struct route *rt = NULL;
    bool path_known = false;
    enum mgmt_method method;
    char err[256] = "";

    if (!path || method_of(evreq, &method) < 0) {
        reply_raw_error(evreq, 405, "method_not_allowed", "use GET, PUT, POST or DELETE");
        return;
    }
    if (mgmt__webui_serve(srv, evreq, path, method))
        return;
    for (size_t i = 0; i < srv->n_routes && !rt; i++) {
        if (!path_matches(srv->routes[i].pattern, path, NULL))
            continue;
        path_known = true;
        if (srv->routes[i].method == method)
            rt = &srv->routes[i];
    }
    if (!rt) {
        if (path_known)
            reply_raw_error(evreq, 405, "method_not_allowed", "%s is not allowed on this path",
                            method_names[method]);
        else
            reply_raw_error(evreq, 404, "not_found", "no such endpoint");
        return;
    }
    req = calloc(1, sizeof(*req));
    if (!req) {
        reply_raw_error(evreq, 503, "busy", "out of memory");
        return;
    }
    req->srv = srv;
    req->evreq = evreq;
    req->route = rt;
    (void)path_matches(rt->pattern, path, req->args);
    TAILQ_INIT(&req->query);
    if (query && evhttp_parse_query_str(query, &req->query) == 0)
        req->has_query = true;
    if (rt->raw) {
        serve_upload(req);
        return;
    }
    if (evbuffer_get_length(evhttp_request_get_input_buffer(evreq)) > MGMT_BODY_MAX) {
        mgmt_reply_error(req, 413, "too_large", "the body exceeds %d bytes", MGMT_BODY_MAX);
        return;
    }
    req->body = parse_body(evreq, err, sizeof(err));
    if (err[0]) {
        mgmt_reply_error(req, 400, "bad_request", "%s", err);
        return;
    }
    /* Invariant 2: authentication may wait for the worker pool while the client leaves. */
    evhttp_connection_set_closecb(evhttp_request_get_connection(evreq), on_connection_close, req);
    mgmt__authenticate(srv, evhttp_request_get_input_headers(evreq), method, on_authenticated, req);
}

/* ---- listener --------------------------------------------------------------------------- */

static struct bufferevent *on_new_connection(struct event_base *base, void *arg)
{
    struct mgmt_server *srv = arg;
    SSL *ssl = SSL_new(srv->ssl_ctx);
    struct bufferevent *bev;

    if (!ssl)
        return NULL;
    bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                         BEV_OPT_CLOSE_ON_FREE);
    if (!bev)
        return NULL;
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    /* Without its reader the connection still serves; an upload on it is refused (400). */
    if (mgmt__upload_reader_attach(srv, bev, ssl) < 0)
        log_msg(LOG_LEVEL_WARNING, "mgmt: out of memory for a connection's upload reader");
    return bev;
}

/* A fatal alert we send ends a failed handshake: that is a security event (issue: TLS and
 * client-authentication failures go to the security log). Runs on the loop. */
static void on_tls_info(const SSL *ssl, int where, int value)
{
    struct mgmt_server *srv = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char peer[INET6_ADDRSTRLEN] = "unknown";
    struct evt_param params[2] = {{"Peer", peer}, {"Alert", SSL_alert_desc_string_long(value)}};
    struct evt_event ev = {.topic = "MGM/TLS_HANDSHAKE_FAILED",
                           .type = EVT_TYPE_SECURITY,
                           .severity = EVT_SEVERITY_WARNING,
                           .params = params,
                           .n_params = 2};

    if (!srv || !(where & SSL_CB_ALERT) || !(where & SSL_CB_WRITE) || (value >> 8) != 2)
        return;
    if (getpeername(SSL_get_fd(ssl), (struct sockaddr *)&ss, &sl) == 0)
        (void)inet_ntop(ss.ss_family,
                        ss.ss_family == AF_INET6 ? (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
                                                 : (void *)&((struct sockaddr_in *)&ss)->sin_addr,
                        peer, sizeof(peer));
    (void)evt_bus_publish(srv->deps.bus, &ev);
}

static SSL_CTX *make_ssl_ctx(const struct mgmt_identity *id)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    if (!ctx)
        return NULL;
    SSL_CTX_set_info_callback(ctx, on_tls_info);
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
        SSL_CTX_use_certificate(ctx, id->cert) != 1 || SSL_CTX_use_PrivateKey(ctx, id->key) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    return ctx;
}

struct mgmt_server *mgmt_server_new(const struct mgmt_deps *deps, struct mgmt_identity *identity)
{
    struct mgmt_server *srv = calloc(1, sizeof(*srv));

    if (!srv)
        return NULL;
    srv->deps = *deps;
    srv->identity = identity;
    srv->auth = mgmt__auth_new(deps->store, deps->bus, deps->workers);
    srv->sessions = mgmt__sessions_new(deps->store);
    srv->reset = mgmt__reset_new(srv);
    srv->ssl_ctx = make_ssl_ctx(identity);
    if (srv->ssl_ctx)
        SSL_CTX_set_app_data(srv->ssl_ctx, srv);
    srv->http = evhttp_new(deps->base);
    srv->upload_index = mgmt__upload_reader_index_new();
    if (!srv->auth || !srv->sessions || !srv->reset || !srv->ssl_ctx || !srv->http ||
        srv->upload_index < 0)
        return mgmt_server_free(srv);
    evhttp_set_max_body_size(srv->http, MGMT_BODY_MAX);
    evhttp_set_max_headers_size(srv->http, MGMT_HEADERS_MAX);
    evhttp_set_timeout(srv->http, MGMT_TIMEOUT_S);
    evhttp_set_bevcb(srv->http, on_new_connection, srv);
    evhttp_set_gencb(srv->http, on_request, srv);
    if (mgmt__routes_status_add(srv) < 0 || mgmt__routes_settings_add(srv) < 0 ||
        mgmt__routes_users_add(srv) < 0 || mgmt__routes_log_add(srv) < 0 ||
        mgmt__routes_infomodel_add(srv) < 0 || mgmt__routes_clients_add(srv) < 0 ||
        mgmt__routes_reset_add(srv) < 0 || mgmt__routes_update_add(srv) < 0 ||
        mgmt__routes_backup_add(srv) < 0)
        return mgmt_server_free(srv);
    return srv;
}

struct mgmt_server *mgmt_server_free(struct mgmt_server *srv)
{
    if (!srv)
        return NULL;
    srv->button = mgmt__button_free(srv->button);
    if (srv->http)
        evhttp_free(srv->http);
    SSL_CTX_free(srv->ssl_ctx);
    mgmt__auth_free(srv->auth);
    mgmt__sessions_free(srv->sessions);
    srv->reset = mgmt__reset_free(srv->reset);
    for (size_t i = 0; i < srv->n_routes; i++)
        free(srv->routes[i].pattern);
    free(srv->routes);
    free(srv);
    return NULL;
}

int mgmt_server_start(struct mgmt_server *srv, const char *addr_port, char *ret_url,
                      size_t url_size)
{
    struct evhttp_bound_socket *sock;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char addr[128];
    uint16_t port;
    int one = 1;
    evutil_socket_t fd;

    if (str_split_addr_port(addr_port, addr, sizeof(addr), &port) < 0)
        return -EINVAL;
    sock = evhttp_bind_socket_with_handle(srv->http, addr, port);
    if (!sock)
        return -EADDRINUSE;
    fd = evhttp_bound_socket_get_fd(sock);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                              : ((struct sockaddr_in *)&ss)->sin_port);
    (void)snprintf(ret_url, url_size, strchr(addr, ':') ? "https://[%s]:%u" : "https://%s:%u", addr,
                   (unsigned)port);
    return 0;
}
