/* bench_http_ceiling: the HTTP ceiling of this machine for the SOAP benchmark (bench/README.md,
 * "SOAP"): the evhttp server of the peer-baseline study (Area 2) in house style. One libevent
 * evhttp loop on one thread answers every POST with the same 1,536-byte SOAP-shaped XML body;
 * it parses nothing, so what konnektord needs beyond it is the cost of its SOAP work.
 *
 *     bench_http_ceiling [PORT]
 *
 * Listens on 127.0.0.1:PORT (default 0: a free port) and prints "listening 127.0.0.1:PORT"
 * on stdout once it accepts connections. SIGTERM or SIGINT ends it with status 0.
 *
 * Invariants:
 *  1. Every POST gets 200 with the fixed body (by reference, never copied) and
 *     "Content-Type: text/xml; charset=utf-8"; other methods get 405.
 *  2. The listening socket has TCP_NODELAY, which accepted sockets inherit on Linux, as
 *     konnektord's LAN listeners do; keep-alive is evhttp's default; bodies over 1 MiB are
 *     refused. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#define BODY_LEN 1536          /* bytes: the 1.5 KB of the baselines' Area 2 */
#define MAX_BODY (1024 * 1024) /* bytes: a load request is 564 */
#define PORT_MAX 65535

static char body[BODY_LEN];

/* A well-formed SOAP 1.1 envelope, padded to BODY_LEN with an XML comment. */
static void body_init(void)
{
    static const char head[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
        "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>"
        "<EVT:GetCardsResponse xmlns:EVT=\"http://ws.gematik.de/conn/EventService/v7.2\"/><!--";
    static const char tail[] = "--></soap:Body></soap:Envelope>";
    size_t hl = sizeof(head) - 1, tl = sizeof(tail) - 1;

    _Static_assert(sizeof(head) - 1 + sizeof(tail) - 1 < BODY_LEN, "body too small");
    memcpy(body, head, hl);
    memset(body + hl, 'x', BODY_LEN - hl - tl);
    memcpy(body + BODY_LEN - tl, tail, tl);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);

    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        evhttp_send_error(req, 405, NULL);
        return;
    }
    (void)evbuffer_drain(in, evbuffer_get_length(in));
    (void)evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                            "text/xml; charset=utf-8");
    (void)evbuffer_add_reference(evhttp_request_get_output_buffer(req), body, BODY_LEN, NULL, NULL);
    evhttp_send_reply(req, 200, "OK", NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)event_base_loopexit(arg, NULL);
}

static int parse_port(const char *s, uint16_t *ret_port)
{
    char *end = NULL;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0 || v > PORT_MAX)
        return -EINVAL;
    *ret_port = (uint16_t)v;
    return 0;
}

/* The port the kernel gave the listening socket, or 0. */
static unsigned bound_port(evutil_socket_t fd)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);

    if (getsockname(fd, (struct sockaddr *)&sin, &len) < 0 || sin.sin_family != AF_INET)
        return 0;
    return ntohs(sin.sin_port);
}

int main(int argc, char **argv)
{
    struct event_base *base = NULL;
    struct evhttp *http = NULL;
    struct evhttp_bound_socket *bound = NULL;
    struct event *sigterm = NULL, *sigint = NULL;
    uint16_t port = 0;
    evutil_socket_t fd;
    int one = 1, r = 1;

    if (argc > 2 || (argc == 2 && parse_port(argv[1], &port) < 0)) {
        fprintf(stderr, "usage: bench_http_ceiling [PORT]\n");
        return 2;
    }
    (void)signal(SIGPIPE, SIG_IGN);
    body_init();

    base = event_base_new();
    http = base ? evhttp_new(base) : NULL;
    if (!http) {
        fprintf(stderr, "bench_http_ceiling: cannot create the event loop\n");
        goto out;
    }
    evhttp_set_gencb(http, on_request, NULL);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_POST | EVHTTP_REQ_GET);
    evhttp_set_max_body_size(http, MAX_BODY);
    bound = evhttp_bind_socket_with_handle(http, "127.0.0.1", port);
    if (!bound) {
        fprintf(stderr, "bench_http_ceiling: cannot listen on 127.0.0.1:%u: %s\n", (unsigned)port,
                strerror(errno));
        goto out;
    }
    fd = evhttp_bound_socket_get_fd(bound);
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
        fprintf(stderr, "bench_http_ceiling: TCP_NODELAY: %s\n", strerror(errno));
        goto out;
    }
    sigterm = evsignal_new(base, SIGTERM, on_signal, base);
    sigint = evsignal_new(base, SIGINT, on_signal, base);
    if (!sigterm || !sigint || evsignal_add(sigterm, NULL) < 0 || evsignal_add(sigint, NULL) < 0) {
        fprintf(stderr, "bench_http_ceiling: cannot watch signals\n");
        goto out;
    }

    printf("listening 127.0.0.1:%u\n", bound_port(fd));
    (void)fflush(stdout);
    if (event_base_dispatch(base) < 0) {
        fprintf(stderr, "bench_http_ceiling: event loop failed\n");
        goto out;
    }
    r = 0;
out:
    if (sigint)
        event_free(sigint);
    if (sigterm)
        event_free(sigterm);
    if (http)
        evhttp_free(http);
    if (base)
        event_base_free(base);
    return r;
}
