/* subscriptions: the EventService's subscription list (TIP1-A_4611..4613, digest 7.5).
 *
 * A subscription names an event sink (EventTo, "cetp://host:port"), a topic and optionally
 * an XPath 1.0 filter over the EVT:Event document. It belongs to the Mandant, client system
 * and workplace of the Subscribe call; only callers of the same Mandant can see, renew or
 * remove it. It lives SERVICES_SUB_LIFETIME_MS (25 h) on the connector clock unless renewed;
 * one clock timer, armed for the earliest deadline, removes the expired ones, so advancing
 * the virtual clock ages them like real time.
 *
 * Topic matching: a subscription to "CARD" receives "CARD" and every topic below it
 * ("CARD/INSERTED", "CARD/REMOVED"); "OPERATIONAL_STATE" receives all OPERATIONAL_STATE/<EC>.
 *
 * Filters are compiled at Subscribe and tried once on a sample event, so a syntax error or
 * an unknown namespace prefix is refused there (4000) and not discovered per event. The
 * prefix EVT is bound to the EventService namespace (all elements of EVT:Event are in it):
 *   /EVT:Event/EVT:Message/EVT:Parameter[EVT:Key='CardType' and EVT:Value='EGK']
 * Evaluation is capped at SUBS_XPATH_OP_LIMIT steps: a filter that exceeds it on the sample
 * is refused, one that exceeds it on an event does not match. This bounds what 2000
 * subscriptions can cost one event on the loop.
 *
 * Invariants:
 *  1. The list starts empty (TIP1-A_4613) and never holds more than cap entries.
 *  2. Ids are unique random UUIDs; a removed subscription's pointer is never used again.
 *  3. The expiry timer is pending exactly when the list is not empty, armed for the
 *     earliest deadline_mono_ms. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/xpathInternals.h>

#include "services/services_internal.h"

/* Bounds the work one filter may do on one event (libxml2's XPath operation counter). An
 * event document has a few dozen nodes, so honest filters need a few hundred steps; 2000
 * subscriptions at the cap cost at most 2e7 steps per event. */
#define SUBS_XPATH_OP_LIMIT 10000

struct services_subs {
    struct services_sub **v;
    size_t n;
    size_t cap;
    struct clock_timer *timer;
    void (*on_expired)(void *arg);
    void *on_expired_arg;
};

static struct services_sub *sub_free(struct services_sub *sub)
{
    if (!sub)
        return NULL;
    if (sub->filter_comp)
        xmlXPathFreeCompExpr(sub->filter_comp);
    free(sub->filter);
    free(sub->topic);
    free(sub->event_to);
    free(sub);
    return NULL;
}

static void rearm(struct services_subs *subs)
{
    int64_t first = INT64_MAX;

    for (size_t i = 0; i < subs->n; i++)
        if (subs->v[i]->deadline_mono_ms < first)
            first = subs->v[i]->deadline_mono_ms;
    if (subs->n == 0) {
        clock_timer_stop(subs->timer);
        return;
    }
    first -= clock_mono_ms();
    clock_timer_start(subs->timer, first > 0 ? first : 0);
}

static void remove_at(struct services_subs *subs, size_t i)
{
    sub_free(subs->v[i]);
    memmove(&subs->v[i], &subs->v[i + 1], (subs->n - i - 1) * sizeof(subs->v[0]));
    subs->n--;
}

static void on_expiry_timer(void *arg)
{
    struct services_subs *subs = arg;
    int64_t now = clock_mono_ms();
    size_t removed = 0;

    for (size_t i = 0; i < subs->n;) {
        struct services_sub *sub = subs->v[i];

        if (sub->deadline_mono_ms > now) {
            i++;
            continue;
        }
        log_msg(LOG_LEVEL_INFO,
                "services: subscription '%s' of Mandant '%s' to '%s' expired, removing it", sub->id,
                sub->mandant_id, sub->sink);
        remove_at(subs, i);
        removed++;
    }
    rearm(subs);
    if (removed && subs->on_expired)
        subs->on_expired(subs->on_expired_arg);
}

struct services_subs *services__subs_new(size_t cap)
{
    struct services_subs *subs = calloc(1, sizeof(*subs));

    if (!subs)
        return NULL;
    subs->cap = cap;
    subs->v = calloc(cap ? cap : 1, sizeof(subs->v[0]));
    subs->timer = clock_timer_new(on_expiry_timer, subs);
    if (!subs->v || !subs->timer)
        return services__subs_free(subs);
    return subs;
}

struct services_subs *services__subs_free(struct services_subs *subs)
{
    if (!subs)
        return NULL;
    for (size_t i = 0; i < subs->n; i++)
        sub_free(subs->v[i]);
    subs->timer = clock_timer_free(subs->timer);
    free(subs->v);
    free(subs);
    return NULL;
}

void services__subs_on_expired(struct services_subs *subs, void (*fn)(void *arg), void *arg)
{
    subs->on_expired = fn;
    subs->on_expired_arg = arg;
}

/* ---- EventTo and topics ----------------------------------------------------------------- */

static bool host_char_ok(char c, bool bracketed)
{
    if (bracketed)
        return isxdigit((unsigned char)c) || c == ':' || c == '.';
    return isalnum((unsigned char)c) || c == '-' || c == '.' || c == '_';
}

int services__event_to_parse(const char *event_to, char *ret_host, size_t host_size,
                             uint16_t *ret_port, char *ret_sink, size_t sink_size)
{
    static const char scheme[] = "cetp://";
    const char *p, *host, *host_end, *port_start;
    size_t host_len, port_len;
    bool bracketed;
    int64_t port = 0;
    char port_buf[8], host_buf[SERVICES_HOST_MAX + 1];

    if (!event_to || strlen(event_to) > SERVICES_EVENT_TO_MAX ||
        strncasecmp(event_to, scheme, sizeof(scheme) - 1) != 0)
        return -EINVAL;
    host = event_to + sizeof(scheme) - 1;
    bracketed = host[0] == '[';
    p = bracketed ? host + 1 : host;
    while (*p && host_char_ok(*p, bracketed))
        p++;
    if (bracketed) {
        if (*p != ']')
            return -EINVAL;
        p++;
    }
    host_end = p;
    host_len = (size_t)(host_end - host);
    if (host_len == 0 || host_len > SERVICES_HOST_MAX || (bracketed && host_len < 3) || *p != ':')
        return -EINVAL;
    port_start = ++p;
    while (isdigit((unsigned char)*p))
        p++;
    port_len = (size_t)(p - port_start);
    if (*p == '/')
        p++;
    if (*p != '\0' || port_len == 0 || port_len >= sizeof(port_buf))
        return -EINVAL;
    memcpy(port_buf, port_start, port_len);
    port_buf[port_len] = '\0';
    if (str_to_int64(port_buf, &port) < 0 || port < 1 || port > 65535)
        return -EINVAL;
    for (size_t i = 0; i < host_len; i++)
        host_buf[i] = (char)tolower((unsigned char)host[i]);
    host_buf[host_len] = '\0';
    if (ret_sink &&
        snprintf(ret_sink, sink_size, "%s:%u", host_buf, (unsigned)port) >= (int)sink_size)
        return -EINVAL;
    if (ret_host) {
        /* The address to connect to drops the brackets of an IPv6 literal. */
        size_t off = bracketed ? 1 : 0, len = host_len - 2 * off;

        if (len + 1 > host_size)
            return -EINVAL;
        memcpy(ret_host, host_buf + off, len);
        ret_host[len] = '\0';
    }
    if (ret_port)
        *ret_port = (uint16_t)port;
    return 0;
}

bool services__topic_matches(const char *sub_topic, const char *event_topic)
{
    size_t n = strlen(sub_topic);

    if (n == 0 || strncmp(sub_topic, event_topic, n) != 0)
        return false;
    return event_topic[n] == '\0' || event_topic[n] == '/';
}

/* ---- filters ---------------------------------------------------------------------------- */

static void xpath_error_silent(void *arg, xmlErrorPtr error)
{
    /* A client's bad filter is answered with 4000; libxml2 must not print it on stderr. */
}

static xmlXPathContextPtr xpath_context_new(xmlDocPtr doc)
{
    xmlXPathContextPtr xc = xmlXPathNewContext(doc);

    if (!xc)
        return NULL;
    xc->error = xpath_error_silent;
    xc->opLimit = SUBS_XPATH_OP_LIMIT;
    if (xmlXPathRegisterNs(xc, BAD_CAST "EVT", BAD_CAST SOAP_NS_EVT) != 0) {
        xmlXPathFreeContext(xc);
        return NULL;
    }
    return xc;
}

static int filter_eval(xmlXPathCompExprPtr comp, xmlDocPtr doc)
{
    xmlXPathContextPtr xc = xpath_context_new(doc);
    xmlXPathObjectPtr res = NULL;
    int r;

    if (!xc)
        return -ENOMEM;
    res = xmlXPathCompiledEval(comp, xc);
    r = res ? (xmlXPathCastToBoolean(res) ? 1 : 0) : -EBADMSG;
    xmlXPathFreeObject(res);
    xmlXPathFreeContext(xc);
    return r;
}

int services__sub_filter_matches(const struct services_sub *sub, xmlDocPtr event_doc)
{
    if (!sub->filter_comp)
        return 1;
    return filter_eval(sub->filter_comp, event_doc);
}

/* Compiles a filter and evaluates it once on a sample event of the subscription's topic. */
static int filter_compile(const char *filter, const char *topic, xmlXPathCompExprPtr *ret_comp)
{
    struct evt_param sample_params[] = {{"Key", "Value"}};
    struct evt_event sample = {.topic = topic,
                               .type = EVT_TYPE_OPERATION,
                               .severity = EVT_SEVERITY_INFO,
                               .params = sample_params,
                               .n_params = ARRAY_SIZE(sample_params)};
    xmlXPathContextPtr xc = NULL;
    xmlXPathCompExprPtr comp = NULL;
    xmlDocPtr doc = NULL;
    int r = -ENOMEM;

    if (strlen(filter) > SERVICES_FILTER_MAX)
        return -EBADMSG;
    xc = xpath_context_new(NULL);
    if (!xc)
        goto out;
    comp = xmlXPathCtxtCompile(xc, BAD_CAST filter);
    if (!comp) {
        r = -EBADMSG;
        goto out;
    }
    doc = services__event_doc_new(&sample);
    if (!doc)
        goto out;
    r = filter_eval(comp, doc);
    if (r < 0)
        goto out;
    *ret_comp = comp;
    comp = NULL;
    r = 0;
out:
    xmlFreeDoc(doc);
    if (comp)
        xmlXPathFreeCompExpr(comp);
    xmlXPathFreeContext(xc);
    return r;
}

/* ---- the list --------------------------------------------------------------------------- */

static bool id_is_taken(const struct services_subs *subs, const char *id)
{
    for (size_t i = 0; i < subs->n; i++)
        if (strcmp(subs->v[i]->id, id) == 0)
            return true;
    return false;
}

/* A random UUID (RFC 4122 version 4); 128 random bits make a clash all but impossible, and
 * a clash is retried all the same (invariant 2). */
static int id_generate(const struct services_subs *subs, char *buf, size_t size)
{
    uint8_t b[16];
    char hex[33];
    int r;

    for (int attempt = 0; attempt < 4; attempt++) {
        r = rand_bytes(b, sizeof(b));
        if (r < 0)
            return r;
        b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
        b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* variant 1 */
        hex_encode(b, sizeof(b), hex);
        snprintf(buf, size, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16,
                 hex + 20);
        if (!id_is_taken(subs, buf))
            return 0;
    }
    return -EIO;
}

static void lifetime_start(struct services_sub *sub)
{
    sub->termination_ms = clock_now_ms() + SERVICES_SUB_LIFETIME_MS;
    sub->deadline_mono_ms = clock_mono_ms() + SERVICES_SUB_LIFETIME_MS;
}

int services__subs_add(struct services_subs *subs, const struct soap_context *ctx,
                       const char *event_to, const char *topic, const char *filter,
                       const struct services_sub **ret_sub)
{
    struct services_sub *sub = NULL;
    size_t topic_len = topic ? strlen(topic) : 0;
    int r;

    while (topic_len > 0 && topic[topic_len - 1] == '/')
        topic_len--;
    if (!ctx || topic_len == 0 || strlen(topic) > SERVICES_TOPIC_MAX)
        return -EINVAL;
    if (subs->n >= subs->cap)
        return -ENOSPC;
    sub = calloc(1, sizeof(*sub));
    if (!sub)
        return -ENOMEM;
    r = services__event_to_parse(event_to, NULL, 0, NULL, sub->sink, sizeof(sub->sink));
    if (r < 0)
        goto out;
    r = -ENOMEM;
    sub->event_to = strdup(event_to);
    sub->topic = strndup(topic, topic_len);
    if (!sub->event_to || !sub->topic || (filter && !(sub->filter = strdup(filter))))
        goto out;
    if (filter) {
        r = filter_compile(filter, sub->topic, &sub->filter_comp);
        if (r < 0)
            goto out;
    }
    r = id_generate(subs, sub->id, sizeof(sub->id));
    if (r < 0)
        goto out;
    (void)str_copy(sub->mandant_id, sizeof(sub->mandant_id), ctx->mandant_id);
    (void)str_copy(sub->client_system_id, sizeof(sub->client_system_id), ctx->client_system_id);
    (void)str_copy(sub->workplace_id, sizeof(sub->workplace_id), ctx->workplace_id);
    lifetime_start(sub);
    subs->v[subs->n++] = sub;
    rearm(subs);
    if (ret_sub)
        *ret_sub = sub;
    sub = NULL;
    r = 0;
out:
    sub_free(sub);
    return r;
}

static size_t index_of(const struct services_subs *subs, const char *mandant_id, const char *id)
{
    for (size_t i = 0; i < subs->n; i++)
        if (strcmp(subs->v[i]->id, id) == 0 && strcmp(subs->v[i]->mandant_id, mandant_id) == 0)
            return i;
    return SIZE_MAX;
}

const struct services_sub *services__subs_find(const struct services_subs *subs,
                                               const char *mandant_id, const char *id)
{
    size_t i = index_of(subs, mandant_id, id);

    return i == SIZE_MAX ? NULL : subs->v[i];
}

int services__subs_remove(struct services_subs *subs, const char *mandant_id, const char *id)
{
    size_t i = index_of(subs, mandant_id, id);

    if (i == SIZE_MAX)
        return -ENOENT;
    remove_at(subs, i);
    rearm(subs);
    return 0;
}

int services__subs_remove_event_to(struct services_subs *subs, const char *mandant_id,
                                   const char *event_to)
{
    char sink[SERVICES_SINK_MAX + 1];
    int n = 0;

    if (services__event_to_parse(event_to, NULL, 0, NULL, sink, sizeof(sink)) < 0)
        return -EINVAL;
    for (size_t i = 0; i < subs->n;) {
        if (strcmp(subs->v[i]->sink, sink) == 0 &&
            strcmp(subs->v[i]->mandant_id, mandant_id) == 0) {
            remove_at(subs, i);
            n++;
        } else {
            i++;
        }
    }
    rearm(subs);
    return n;
}

size_t services__subs_remove_sink(struct services_subs *subs, const char *sink)
{
    size_t n = 0;

    for (size_t i = 0; i < subs->n;) {
        if (strcmp(subs->v[i]->sink, sink) == 0) {
            remove_at(subs, i);
            n++;
        } else {
            i++;
        }
    }
    rearm(subs);
    return n;
}

int services__subs_renew(struct services_subs *subs, const char *mandant_id, const char *id,
                         const struct services_sub **ret_sub)
{
    size_t i = index_of(subs, mandant_id, id);

    if (i == SIZE_MAX)
        return -ENOENT;
    lifetime_start(subs->v[i]);
    rearm(subs);
    if (ret_sub)
        *ret_sub = subs->v[i];
    return 0;
}

size_t services__subs_count(const struct services_subs *subs)
{
    return subs->n;
}

const struct services_sub *services__subs_at(const struct services_subs *subs, size_t i)
{
    return i < subs->n ? subs->v[i] : NULL;
}

bool services__subs_has_sink(const struct services_subs *subs, const char *sink)
{
    for (size_t i = 0; i < subs->n; i++)
        if (strcmp(subs->v[i]->sink, sink) == 0)
            return true;
    return false;
}
