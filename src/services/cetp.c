/* cetp: delivery of events to the client systems' event sinks (TIP1-A_4594..4596).
 *
 * For every public event on the bus, each matching subscription (topic, Mandant, filter)
 * gets one frame (event_message.c): ASCII "CETP", the length of the message as a 4-byte
 * big-endian number, and the UTF-8 XML document EVT:Event with that subscription's
 * SubscriptionID. The frame goes to the subscription's sink, "cetp://host:port"
 * (TIP1-A_4594), over TCP, or over TLS with the connector as the TLS client when
 * ANCL_TLS_MANDATORY is Enabled (TIP1-A_4595; the TLS side is in cetp_tls.c). No reply is
 * expected.
 *
 * One connection per sink ("host:port"), opened at the first frame and kept open:
 *
 *        frame queued                    connected (TLS: handshake done)
 *   IDLE --------------> CONNECTING --------------------------------------> OPEN
 *    ^  sink_connect()        |  sink_on_event()                            |
 *    |                        | refused, timeout                            | EOF with nothing
 *    +------------------------+ (sink_fail)                                 | queued: sink_close
 *    +-----------------------------------------------------------------------+ overflow, no
 *                                                                              progress 5 s,
 *                                                                              error: sink_fail
 *
 * A failed delivery (refused, no connection within SERVICES_CETP_TIMEOUT_MS, a queue over
 * SERVICES_CETP_QUEUE_MAX, no byte taken for SERVICES_CETP_TIMEOUT_MS, connection lost with
 * bytes queued) closes the connection and drops what was queued; the next event opens a new
 * one. A queue that empties completely is a success and resets the count. After EVT_MAX_TRY
 * consecutive failures every subscription of the sink is removed (gemILF_PS); this is
 * logged, and no event is published, so delivery can never feed on itself.
 *
 * Invariants:
 *  1. Nothing here blocks the loop: connects are non-blocking, host names go through evdns,
 *     and a sink's queue is bounded; so is the sum over all sinks.
 *  2. A sink with bytes queued has its timer pending (connect or progress timeout).
 *  3. Subscriptions are never removed while services__cetp_deliver() walks them: a sink
 *     that reaches EVT_MAX_TRY there is marked dropped and reaped when the walk ends.
 *  4. Every timeout runs on the connector clock, so a test advances the virtual clock.
 *  5. A name lookup is never cancelled (libevent's cancel and evdns_base_free race); it
 *     outlives its sink if need be and frees itself when answered. One still running when
 *     the loop has stopped for good is abandoned. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "services/services_internal.h"

/* Kernel send buffer per sink connection: events are a few KiB, and a small buffer makes a
 * sink that stops reading visible within a few events instead of after megabytes. */
#define CETP_SNDBUF (64 * 1024)

enum sink_state { SINK_IDLE, SINK_CONNECTING, SINK_OPEN, SINK_STATE_MAX };

struct lookup;

struct sink {
    struct services_cetp *c;
    char key[SERVICES_SINK_MAX + 1];
    char host[SERVICES_HOST_MAX + 1];
    uint16_t port;
    enum sink_state state;
    bool tls;
    bool dropped; /* reached EVT_MAX_TRY while deliver() walked the list (invariant 3) */
    struct bufferevent *bev;
    struct clock_timer *timer;
    unsigned failures;
    uint64_t queued_total; /* bytes handed to this connection */
    uint64_t sent_at_arm;  /* bytes it had taken when the progress timer was armed */
    struct lookup *lookup; /* the name lookup this connection waits for, or NULL */
    struct sink *next;
};

/* A name lookup in flight (evdns). It is never cancelled: a sink that stops waiting just
 * forgets it, and the lookup frees itself when evdns answers (invariant 5). */
struct lookup {
    struct services_cetp *c; /* NULL once the delivery is gone */
    char key[SERVICES_SINK_MAX + 1];
    struct lookup *next;
};

struct services_cetp {
    struct services_cetp_deps deps;
    struct sink *sinks;
    size_t n_sinks;
    struct lookup *lookups;
    SSL_CTX *ssl_ctx;
    struct evdns_base *dns;
    bool in_deliver;
};

/* ---- sinks ------------------------------------------------------------------------------ */

static void sink_close(struct sink *k)
{
    if (k->bev) {
        bufferevent_free(k->bev);
        k->bev = NULL;
    }
    clock_timer_stop(k->timer);
    k->lookup = NULL;
    k->state = SINK_IDLE;
    k->queued_total = 0;
    k->sent_at_arm = 0;
}

static size_t sink_queued(const struct sink *k)
{
    return k->bev ? evbuffer_get_length(bufferevent_get_output(k->bev)) : 0;
}

static void sink_free(struct sink *k)
{
    sink_close(k);
    clock_timer_free(k->timer);
    free(k);
}

static void sink_unlink(struct services_cetp *c, struct sink *k)
{
    for (struct sink **p = &c->sinks; *p; p = &(*p)->next) {
        if (*p == k) {
            *p = k->next;
            c->n_sinks--;
            break;
        }
    }
    sink_free(k);
}

/* Removes a dropped sink and all its subscriptions (never inside deliver, invariant 3). */
static void sink_reap(struct services_cetp *c, struct sink *k)
{
    size_t n = services__subs_remove_sink(c->deps.subs, k->key);

    log_msg(LOG_LEVEL_WARNING,
            "services: removed %zu subscription(s) of event sink '%s' after %u failed deliveries",
            n, k->key, k->failures);
    sink_unlink(c, k);
}

static void reap_dropped(struct services_cetp *c)
{
    struct sink *k = c->sinks, *next;

    for (; k; k = next) {
        next = k->next;
        if (k->dropped)
            sink_reap(c, k);
    }
}

static unsigned max_try(struct services_cetp *c)
{
    int64_t v = 3;

    if (store_setting_get_int(c->deps.store, "EVT_MAX_TRY", &v) < 0 || v < 1)
        v = 3;
    return (unsigned)v;
}

/* One failed delivery: close, count, and drop the sink at EVT_MAX_TRY. */
static void sink_fail(struct sink *k, const char *reason)
{
    struct services_cetp *c = k->c;
    size_t lost = sink_queued(k);
    unsigned limit = max_try(c);

    sink_close(k);
    k->failures++;
    log_msg(LOG_LEVEL_WARNING,
            "services: delivery to event sink '%s' failed (%s), %zu queued byte(s) dropped, "
            "failure %u of %u",
            k->key, reason, lost, k->failures, limit);
    if (k->failures < limit)
        return;
    k->dropped = true;
    if (!c->in_deliver)
        sink_reap(c, k);
}

static void sink_arm_progress(struct sink *k)
{
    k->sent_at_arm = k->queued_total - sink_queued(k);
    clock_timer_start(k->timer, SERVICES_CETP_TIMEOUT_MS);
}

static void sink_on_timer(void *arg)
{
    struct sink *k = arg;
    uint64_t sent;

    if (k->state == SINK_CONNECTING) {
        sink_fail(k, "no connection within 5 s");
        return;
    }
    if (k->state != SINK_OPEN || sink_queued(k) == 0)
        return;
    sent = k->queued_total - sink_queued(k);
    if (sent > k->sent_at_arm) {
        sink_arm_progress(k);
        return;
    }
    sink_fail(k, "the sink took nothing for 5 s");
}

static void sink_on_read(struct bufferevent *bev, void *arg)
{
    /* CETP expects no reply (TIP1-A_4595); whatever a sink sends is discarded. */
    struct evbuffer *in = bufferevent_get_input(bev);

    (void)evbuffer_drain(in, evbuffer_get_length(in));
}

static void sink_on_write(struct bufferevent *bev, void *arg)
{
    struct sink *k = arg;

    /* Called when the queue has emptied: every frame reached the kernel. */
    if (k->state == SINK_OPEN && sink_queued(k) == 0) {
        k->failures = 0;
        clock_timer_stop(k->timer);
    }
}

static void sink_on_event(struct bufferevent *bev, short what, void *arg)
{
    struct sink *k = arg;
    int fd, one = 1, sndbuf = CETP_SNDBUF;
    char reason[128];

    if (what & BEV_EVENT_CONNECTED) {
        k->state = SINK_OPEN;
        fd = (int)bufferevent_getfd(bev);
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
        if (k->tls)
            services__cetp_tls_log_peer(bev, k->key);
        if (sink_queued(k) > 0)
            sink_arm_progress(k);
        else
            clock_timer_stop(k->timer);
        return;
    }
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
        return;
    if (k->state == SINK_OPEN && sink_queued(k) == 0) {
        /* The sink hung up between events: not a failed delivery. */
        sink_close(k);
        return;
    }
    if (what & BEV_EVENT_EOF)
        snprintf(reason, sizeof(reason), "connection closed by the sink");
    else if (k->tls && bufferevent_get_openssl_error(bev))
        snprintf(reason, sizeof(reason), "TLS: %s",
                 ERR_reason_error_string(bufferevent_get_openssl_error(bev)));
    else
        snprintf(reason, sizeof(reason), "%s",
                 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    sink_fail(k, reason);
}

static bool host_is_ip(const char *host, struct sockaddr_storage *ss, socklen_t *len, uint16_t port)
{
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons(port);
        *len = sizeof(*in4);
        return true;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        *len = sizeof(*in6);
        return true;
    }
    return false;
}

/* ---- name lookups ----------------------------------------------------------------------- */

static struct sink *sink_find(struct services_cetp *c, const char *key)
{
    for (struct sink *k = c->sinks; k; k = k->next)
        if (strcmp(k->key, key) == 0)
            return k;
    return NULL;
}

static void lookup_unlink(struct lookup *l)
{
    if (!l->c)
        return;
    for (struct lookup **p = &l->c->lookups; *p; p = &(*p)->next) {
        if (*p == l) {
            *p = l->next;
            break;
        }
    }
    l->c = NULL;
}

static void on_resolved(int err, struct evutil_addrinfo *res, void *arg)
{
    struct lookup *l = arg;
    struct services_cetp *c = l->c;
    struct sink *k = c ? sink_find(c, l->key) : NULL;
    char reason[128];

    lookup_unlink(l);
    /* Only the connection that started this lookup still waits for it. */
    if (k && k->lookup == l && k->state == SINK_CONNECTING && k->bev) {
        k->lookup = NULL;
        if (err != 0) {
            snprintf(reason, sizeof(reason), "cannot resolve the host name: %s",
                     evutil_gai_strerror(err));
            sink_fail(k, reason);
        } else if (bufferevent_socket_connect(k->bev, res->ai_addr, (int)res->ai_addrlen) < 0) {
            sink_fail(k, "cannot start connecting");
        }
    }
    if (res)
        evutil_freeaddrinfo(res);
    free(l);
}

/* Starts resolving k's host (IPv4: libevent connects to one address; use [v6] literals for
 * IPv6). The answer may come at once, from inside this call. */
static int lookup_start(struct sink *k)
{
    struct services_cetp *c = k->c;
    struct evutil_addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct lookup *l;
    char port[8];

    if (!c->dns)
        c->dns = evdns_base_new(c->deps.base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
                                                  EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    l = c->dns ? calloc(1, sizeof(*l)) : NULL;
    if (!l)
        return -ENOMEM;
    l->c = c;
    (void)str_copy(l->key, sizeof(l->key), k->key);
    l->next = c->lookups;
    c->lookups = l;
    k->lookup = l;
    snprintf(port, sizeof(port), "%u", (unsigned)k->port);
    (void)evdns_getaddrinfo(c->dns, k->host, port, &hints, on_resolved, l);
    return 0;
}

static int sink_connect(struct sink *k)
{
    struct services_cetp *c = k->c;
    struct sockaddr_storage ss;
    socklen_t ss_len = 0;
    bool is_ip = host_is_ip(k->host, &ss, &ss_len, k->port);
    bool tls = true;
    SSL *ssl = NULL;

    (void)store_setting_get_bool(c->deps.store, "ANCL_TLS_MANDATORY", &tls);
    k->tls = tls;
    if (tls) {
        if (!c->ssl_ctx && !(c->ssl_ctx = services__cetp_tls_ctx_new(c->deps.data_dir)))
            return -ENOMEM;
        ssl = SSL_new(c->ssl_ctx);
        if (!ssl || (!is_ip && SSL_set_tlsext_host_name(ssl, k->host) != 1)) {
            SSL_free(ssl);
            return -ENOMEM;
        }
        k->bev = bufferevent_openssl_socket_new(c->deps.base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                                BEV_OPT_CLOSE_ON_FREE);
        if (!k->bev) {
            SSL_free(ssl);
            return -ENOMEM;
        }
        bufferevent_openssl_set_allow_dirty_shutdown(k->bev, 1);
    } else {
        k->bev = bufferevent_socket_new(c->deps.base, -1, BEV_OPT_CLOSE_ON_FREE);
        if (!k->bev)
            return -ENOMEM;
    }
    bufferevent_setcb(k->bev, sink_on_read, sink_on_write, sink_on_event, k);
    (void)bufferevent_enable(k->bev, EV_READ | EV_WRITE);
    k->state = SINK_CONNECTING;
    clock_timer_start(k->timer, SERVICES_CETP_TIMEOUT_MS);
    if (!is_ip)
        return lookup_start(k);
    /* An immediate refusal is reported through sink_on_event() on the next loop turn. */
    return bufferevent_socket_connect(k->bev, (struct sockaddr *)&ss, (int)ss_len) < 0
               ? -ECONNREFUSED
               : 0;
}

static struct sink *sink_get(struct services_cetp *c, const char *key, const char *event_to)
{
    struct sink *k = sink_find(c, key);

    if (k)
        return k;
    k = calloc(1, sizeof(*k));
    if (!k)
        return NULL;
    k->c = c;
    k->timer = clock_timer_new(sink_on_timer, k);
    if (!k->timer || services__event_to_parse(event_to, k->host, sizeof(k->host), &k->port, k->key,
                                              sizeof(k->key)) < 0) {
        sink_free(k);
        return NULL;
    }
    k->next = c->sinks;
    c->sinks = k;
    c->n_sinks++;
    return k;
}

static size_t total_queued(const struct services_cetp *c)
{
    size_t n = 0;

    for (const struct sink *k = c->sinks; k; k = k->next)
        n += sink_queued(k);
    return n;
}

/* Queues one frame to a sink; *total tracks the bytes queued over all sinks. */
static void sink_send(struct sink *k, const uint8_t *frame, size_t len, size_t *total)
{
    size_t queued = sink_queued(k);
    int r;

    if (queued + len > SERVICES_CETP_QUEUE_MAX || *total + len > SERVICES_CETP_QUEUE_TOTAL_MAX) {
        *total -= queued;
        sink_fail(k, "queue overflow: the sink does not keep up");
        return;
    }
    if (k->state == SINK_IDLE) {
        unsigned failures = k->failures;

        r = sink_connect(k);
        /* A name lookup can fail at once and report through sink_on_event(): counted. */
        if (k->failures != failures)
            return;
        if (r < 0) {
            sink_fail(k, "cannot start connecting");
            return;
        }
    }
    if (bufferevent_write(k->bev, frame, len) < 0) {
        *total -= sink_queued(k);
        sink_fail(k, "out of memory");
        return;
    }
    k->queued_total += len;
    *total += len;
    if (k->state == SINK_OPEN && !clock_timer_is_pending(k->timer))
        sink_arm_progress(k);
}

/* ---- delivery --------------------------------------------------------------------------- */

struct visibility {
    const char *ct_id; /* the event's terminal, NULL if it names none */
    char mandant_id[SOAP_CONTEXT_ID_MAX + 1];
    bool visible; /* cached answer for mandant_id */
};

/* Events about a terminal reach only Mandants with a workplace that uses the terminal. */
static bool mandant_may_see(struct services_cetp *c, struct visibility *v, const char *mandant_id)
{
    if (!v->ct_id)
        return true;
    if (strcmp(v->mandant_id, mandant_id) != 0) {
        (void)str_copy(v->mandant_id, sizeof(v->mandant_id), mandant_id);
        v->visible = services__ct_is_reachable(c->deps.store, mandant_id, NULL, v->ct_id, true);
    }
    return v->visible;
}

static const char *event_ct_id(const struct evt_event *ev)
{
    for (size_t i = 0; i < ev->n_params; i++)
        if (strcasecmp(ev->params[i].key, "CtID") == 0)
            return ev->params[i].value;
    return NULL;
}

void services__cetp_deliver(struct services_cetp *c, const struct evt_event *ev)
{
    struct visibility vis = {.ct_id = event_ct_id(ev)};
    xmlDocPtr doc = NULL;
    size_t total;

    if (!services__topic_is_public(ev->topic) || services__subs_count(c->deps.subs) == 0)
        return;
    total = total_queued(c);
    c->in_deliver = true;
    for (size_t i = 0; i < services__subs_count(c->deps.subs); i++) {
        const struct services_sub *sub = services__subs_at(c->deps.subs, i);
        struct sink *k;
        uint8_t *frame = NULL;
        size_t len = 0;

        if (!services__topic_matches(sub->topic, ev->topic) ||
            !mandant_may_see(c, &vis, sub->mandant_id))
            continue;
        if (!doc && !(doc = services__event_doc_new(ev))) {
            log_msg(LOG_LEVEL_ERROR, "services: out of memory, event '%s' not delivered",
                    ev->topic);
            break;
        }
        if (services__sub_filter_matches(sub, doc) != 1)
            continue;
        k = sink_get(c, sub->sink, sub->event_to);
        if (!k || k->dropped)
            continue;
        if (services__event_frame(doc, sub->id, &frame, &len) < 0) {
            log_msg(LOG_LEVEL_ERROR, "services: out of memory, event '%s' not delivered to '%s'",
                    ev->topic, k->key);
            continue;
        }
        sink_send(k, frame, len, &total);
        free(frame);
    }
    c->in_deliver = false;
    if (doc)
        xmlFreeDoc(doc);
    reap_dropped(c);
}

int services__cetp_deliver_to(struct services_cetp *c, const char *event_to,
                              const struct evt_event *ev, const char *sub_id)
{
    char key[SERVICES_SINK_MAX + 1];
    xmlDocPtr doc = NULL;
    uint8_t *frame = NULL;
    size_t len = 0, total;
    struct sink *k;
    int r = -EINVAL;

    if (!services__topic_is_public(ev->topic) ||
        services__event_to_parse(event_to, NULL, 0, NULL, key, sizeof(key)) < 0)
        return -EINVAL;
    r = -ENOMEM;
    doc = services__event_doc_new(ev);
    if (!doc || services__event_frame(doc, sub_id, &frame, &len) < 0)
        goto out;
    k = sink_get(c, key, event_to);
    if (!k)
        goto out;
    r = 0;
    if (k->dropped)
        goto out;
    total = total_queued(c);
    /* Not inside deliver: a sink that reaches EVT_MAX_TRY here is reaped at once. */
    sink_send(k, frame, len, &total);
out:
    free(frame);
    if (doc)
        xmlFreeDoc(doc);
    return r;
}

void services__cetp_prune(struct services_cetp *c)
{
    struct sink *k = c->sinks, *next;

    for (; k; k = next) {
        next = k->next;
        if (!services__subs_has_sink(c->deps.subs, k->key))
            sink_unlink(c, k);
    }
}

struct services_cetp *services__cetp_new(const struct services_cetp_deps *deps)
{
    struct services_cetp *c;

    if (!deps || !deps->base || !deps->store || !deps->subs)
        return NULL;
    c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->deps = *deps;
    return c;
}

struct services_cetp *services__cetp_free(struct services_cetp *c)
{
    struct sink *k, *next;

    if (!c)
        return NULL;
    for (k = c->sinks; k; k = next) {
        next = k->next;
        sink_free(k);
    }
    /* Lookups still in flight are answered with DNS_ERR_SHUTDOWN on the next loop turn and
     * free themselves then; they no longer know this object. */
    while (c->lookups)
        lookup_unlink(c->lookups);
    if (c->dns)
        evdns_base_free(c->dns, 1);
    SSL_CTX_free(c->ssl_ctx);
    free(c);
    return NULL;
}

size_t services__cetp_sink_count(const struct services_cetp *c)
{
    return c->n_sinks;
}

int services__cetp_sink_failures(const struct services_cetp *c, const char *sink)
{
    for (const struct sink *k = c->sinks; k; k = k->next)
        if (strcmp(k->key, sink) == 0)
            return (int)k->failures;
    return -ENOENT;
}
