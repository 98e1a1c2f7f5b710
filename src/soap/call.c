/* call: the life of one SOAP call, from the request evhttp hands over to the one answer.
 *
 *   soap__call_new ──> (auth, parse, dispatch in server.c) ──> handler
 *        │                                                        │
 *        │   reply_begin/reply_end, soap_call_fault, abandon ─────┤
 *        │                                                        v
 *        └── client gone (on_close): evreq = NULL, gone() ──> answer dropped, call freed
 *
 * A call owns its parsed document and its reply buffer; all of it is freed together when
 * the answer is sent or dropped (STYLE.md rule 9).
 *
 * Invariants:
 *  1. A call is answered exactly once; after soap__call_send() (which every answer goes
 *     through) the call is freed and must not be touched.
 *  2. While a call lives, its connection's close callback points at it; the callback is
 *     cleared before the answer is sent, so a kept-alive connection never reaches a freed
 *     call.
 *  3. A fault replaces a half-written reply: the writer and its buffer are discarded first.
 *  4. Fault details never carry errno text or paths (STYLE.md rule 5); they are sanitized to
 *     valid UTF-8 by fault.c.
 *  5. evhttp stops reading a connection once a request is complete, so it cannot see a client
 *     leave while the call waits (Basic check on the worker pool, a PIN typed later). Each
 *     call that is still unanswered when soap__server_on_request() returns therefore watches
 *     its socket for the peer's close (EV_CLOSED, epoll's RDHUP, soap__call_watch) until it
 *     is answered; on close the connection is freed, which runs the close callback. A call
 *     answered within the request callback never waits and needs no watch: that saves two
 *     epoll_ctl calls per request (issue #4). A client that shuts down only its sending
 *     side counts as gone (no SOAP client does); so does a reset, which is how a TLS client
 *     that leaves with unread data (session tickets) ends the connection. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "soap/soap_internal.h"

#define CONTENT_TYPE_XML "text/xml; charset=utf-8"

static void on_close(struct evhttp_connection *evcon, void *arg)
{
    struct soap_call *call = arg;

    call->evreq = NULL;
    /* Last statement: gone() may answer or abandon, which frees the call. */
    if (call->gone)
        call->gone(call, call->gone_arg);
}

/* Has the peer closed or reset the connection? Data waiting to be read (a pipelined request,
 * a TLS alert before the FIN) is not a departure by itself. */
static bool peer_has_left(evutil_socket_t fd, short what)
{
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};

    if (what & EV_CLOSED)
        return true;
    return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* Invariant 5. evhttp_connection_free() runs on_close (which may free the call) and frees the
 * request; nothing here touches the call afterwards. */
static void on_peer_closed(evutil_socket_t fd, short what, void *arg)
{
    struct soap_call *call = arg;
    struct evhttp_connection *evcon;

    if (!peer_has_left(fd, what))
        return; /* edge-triggered: only new data or the hangup wakes it again */
    event_free(call->watch);
    call->watch = NULL;
    if (!call->evreq)
        return;
    evcon = evhttp_request_get_connection(call->evreq);
    log_msg(LOG_LEVEL_DEBUG, "soap: %s closed the connection before the answer", call->peer);
    evhttp_connection_free(evcon);
}

void soap__call_watch(struct soap_call *call)
{
    struct evhttp_connection *evcon =
        call->evreq ? evhttp_request_get_connection(call->evreq) : NULL;
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    struct event_base *base = bev ? bufferevent_get_base(bev) : NULL;
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;

    /* Without early-close support (not epoll) a departure shows only when the answer is
     * written; the call then still ends, just later. */
    if (call->watch || fd < 0 || !base || !(event_base_get_features(base) & EV_FEATURE_EARLY_CLOSE))
        return;
    /* A reset (a TLS client leaving with unread session tickets sends one) reaches epoll as
     * HUP|ERR, which libevent reports as readable, not as EV_CLOSED: so watch EV_READ too,
     * edge-triggered so that data left unread cannot spin the loop. If the bufferevent's own
     * read event is registered level-triggered, libevent refuses the mix: then EV_CLOSED
     * alone, which still sees an orderly close. */
    call->watch =
        event_new(base, fd, EV_CLOSED | EV_READ | EV_ET | EV_PERSIST, on_peer_closed, call);
    if (call->watch && event_add(call->watch, NULL) < 0) {
        event_free(call->watch);
        call->watch = event_new(base, fd, EV_CLOSED, on_peer_closed, call);
        if (call->watch && event_add(call->watch, NULL) < 0) {
            event_free(call->watch);
            call->watch = NULL;
        }
    }
}

static void watch_stop(struct soap_call *call)
{
    if (call->watch)
        event_free(call->watch);
    call->watch = NULL;
}

struct soap_call *soap__call_new(struct soap_server *srv, struct evhttp_request *evreq, bool tls)
{
    struct soap_call *call = calloc(1, sizeof(*call));
    struct soap_call **list = soap__server_calls(srv);
    struct evhttp_connection *evcon = evhttp_request_get_connection(evreq);
    char *addr = NULL;
    uint16_t port = 0;

    if (!call) {
        evhttp_send_error(evreq, 503, "Service Unavailable");
        return NULL;
    }
    call->srv = srv;
    call->evreq = evreq;
    call->tls = tls;
    evhttp_connection_get_peer(evcon, &addr, &port);
    (void)str_copy(call->peer, sizeof(call->peer), addr ? addr : "unknown");
    call->next = *list;
    if (*list)
        (*list)->prev = call;
    *list = call;
    evhttp_connection_set_closecb(evcon, on_close, call);
    return call;
}

static void reply_discard(struct soap_call *call)
{
    if (call->writer)
        xmlFreeTextWriter(call->writer);
    call->writer = NULL;
    if (call->reply_buf)
        xmlBufferFree(call->reply_buf);
    call->reply_buf = NULL;
}

void soap__call_free(struct soap_call *call)
{
    if (!call)
        return;
    if (call->srv) {
        struct soap_call **list = soap__server_calls(call->srv);

        soap__server_forget_call(call->srv, call);
        if (call->prev)
            call->prev->next = call->next;
        else
            *list = call->next;
        if (call->next)
            call->next->prev = call->prev;
    }
    if (call->evreq)
        evhttp_connection_set_closecb(evhttp_request_get_connection(call->evreq), NULL, NULL);
    watch_stop(call);
    reply_discard(call);
    soap__request_done(&call->req);
    free(call);
}

void soap__calls_orphan(struct soap_call **list)
{
    while (*list) {
        struct soap_call *call = *list;

        *list = call->next;
        call->prev = call->next = NULL;
        call->srv = NULL;
        if (call->evreq)
            evhttp_connection_set_closecb(evhttp_request_get_connection(call->evreq), NULL, NULL);
        call->evreq = NULL;
        watch_stop(call);
        if (call->gone)
            call->gone(call, call->gone_arg);
    }
}

static const char *reason_of(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 503:
        return "Service Unavailable";
    default:
        return "Internal Server Error";
    }
}

void soap__call_send(struct soap_call *call, int status, const char *content_type, const void *body,
                     size_t len)
{
    struct evhttp_request *evreq = call->evreq;

    if (evreq) {
        struct evkeyvalq *headers = evhttp_request_get_output_headers(evreq);

        /* Invariants 2 and 5. */
        evhttp_connection_set_closecb(evhttp_request_get_connection(evreq), NULL, NULL);
        watch_stop(call);
        call->evreq = NULL;
        (void)evhttp_add_header(headers, "Content-Type", content_type);
        (void)evhttp_add_header(headers, "Cache-Control", "no-store");
        /* Straight into the request's output buffer: no buffer of our own to allocate. */
        if (evbuffer_add(evhttp_request_get_output_buffer(evreq), body, len) == 0) {
            evhttp_send_reply(evreq, status, reason_of(status), NULL);
        } else {
            /* Nothing sensible fits in no memory: a bare 503 lets the client retry. */
            evhttp_send_error(evreq, 503, "Service Unavailable");
        }
    }
    soap__call_free(call);
}

void soap__call_fault_status(struct soap_call *call, int status, int code, const char *faultcode,
                             const char *detail)
{
    struct soap__fault f = {
        .code = code,
        .detail = detail,
        .instance = call->srv ? soap__server_instance(call->srv) : NULL,
        .faultcode = faultcode,
    };
    char event_id[SOAP__UUID_SIZE];
    xmlBufferPtr buf = NULL;

    reply_discard(call); /* invariant 3 */
    if (soap__fault_format(&f, &buf, event_id) < 0) {
        soap__call_send(call, 503, "text/plain; charset=utf-8", "out of memory\n", 14);
        return;
    }
    log_msg(code == 4001 ? LOG_LEVEL_WARNING : LOG_LEVEL_INFO,
            "soap: %s%s%s from %s answered with gematik error %d (EventID %s)",
            call->req.name ? "'" : "", call->req.name ? call->req.name : "request",
            call->req.name ? "'" : "", call->peer, code, event_id);
    soap__call_send(call, status, CONTENT_TYPE_XML, xmlBufferContent(buf),
                    (size_t)xmlBufferLength(buf));
    xmlBufferFree(buf);
}

/* ---- the handler's side (soap.h) -------------------------------------------------------- */

void soap_call_fault(struct soap_call *call, int code, const char *detail_fmt, ...)
{
    char detail[SOAP__DETAIL_MAX] = "";
    va_list ap;

    if (detail_fmt) {
        va_start(ap, detail_fmt);
        (void)vsnprintf(detail, sizeof(detail), detail_fmt, ap);
        va_end(ap);
    }
    /* WS-I Basic Profile 1.2 R1126: a fault goes with HTTP 500. */
    soap__call_fault_status(call, 500, code, NULL, detail);
}

xmlTextWriterPtr soap_call_reply_begin(struct soap_call *call, const char *ns, const char *prefix,
                                       const char *name)
{
    return soap_call_reply_begin_status(call, ns, prefix, name, SOAP_NS_CONN, "CONN");
}

xmlTextWriterPtr soap_call_reply_begin_status(struct soap_call *call, const char *ns,
                                              const char *prefix, const char *name,
                                              const char *status_ns, const char *status_prefix)
{
    reply_discard(call);
    call->reply_buf = xmlBufferCreate();
    call->writer = call->reply_buf ? xmlNewTextWriterMemory(call->reply_buf, 0) : NULL;
    if (!call->writer || xmlTextWriterStartDocument(call->writer, NULL, "UTF-8", NULL) < 0 ||
        xmlTextWriterStartElementNS(call->writer, BAD_CAST "soap", BAD_CAST "Envelope",
                                    BAD_CAST SOAP_NS_ENV) < 0 ||
        xmlTextWriterStartElementNS(call->writer, BAD_CAST "soap", BAD_CAST "Body", NULL) < 0 ||
        xmlTextWriterStartElementNS(call->writer, BAD_CAST prefix, BAD_CAST name, BAD_CAST ns) <
            0 ||
        xmlTextWriterStartElementNS(call->writer, BAD_CAST status_prefix, BAD_CAST "Status",
                                    BAD_CAST(strcmp(status_ns, ns) == 0 ? NULL : status_ns)) < 0 ||
        xmlTextWriterWriteElementNS(call->writer, BAD_CAST status_prefix, BAD_CAST "Result", NULL,
                                    BAD_CAST "OK") < 0 ||
        xmlTextWriterEndElement(call->writer) < 0) {
        soap_call_fault(call, 4001, "out of memory writing the response");
        return NULL;
    }
    return call->writer;
}

void soap_call_reply_end(struct soap_call *call)
{
    xmlBufferPtr buf = call->reply_buf;

    if (!call->writer || xmlTextWriterEndDocument(call->writer) < 0) {
        soap_call_fault(call, 4001, "the response could not be completed");
        return;
    }
    xmlFreeTextWriter(call->writer); /* flushes into the buffer */
    call->writer = NULL;
    soap__call_send(call, 200, CONTENT_TYPE_XML, xmlBufferContent(buf),
                    (size_t)xmlBufferLength(buf));
}

void soap_call_on_gone(struct soap_call *call, void (*gone)(struct soap_call *call, void *arg),
                       void *arg)
{
    call->gone = gone;
    call->gone_arg = arg;
}

void soap_call_abandon(struct soap_call *call)
{
    /* A client that is still waiting must not hang: it learns that nothing came of it. */
    if (call->evreq)
        soap_call_fault(call, 4001, "the operation was abandoned");
    else
        soap__call_free(call);
}

xmlNodePtr soap_call_operation(struct soap_call *call)
{
    return call->req.op;
}

const struct soap_context *soap_call_context(const struct soap_call *call)
{
    return &call->req.context;
}

const char *soap_call_peer(const struct soap_call *call)
{
    return call->peer;
}

bool soap_call_is_tls(const struct soap_call *call)
{
    return call->tls;
}
