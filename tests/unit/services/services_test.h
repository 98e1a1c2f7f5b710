/* Helpers shared by the services unit tests: a practice in a temporary directory.
 *
 * The info model (config.db) holds two Mandanten: m1 with client system cs1 and workplaces
 * ws1 (card terminal ct1 local, ct3 remote) and ws2 (ct2 local); m2 with cs2 and ws3 (no
 * terminal). cs3 and ws4 exist but belong to no Mandant; ct4 belongs to no workplace. The
 * cards' first start inserts the demo cards into ct1: smcb1 in slot 1, hba1 in 2, egk1 in 3.
 * Generating the test PKI costs a dozen key generations, so a test program makes the
 * practice once, in its group setup. */
#ifndef KONN_SERVICES_TEST_H
#define KONN_SERVICES_TEST_H

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <libxml/parser.h>
#include <libxml/xpathInternals.h>

#include "services/services_internal.h"
#include "../test_tmp.h"

struct practice {
    char dir[64];
    struct store *store;
    struct evt_bus *bus;
    struct ec_state *ecs;
    struct cards *cards;
};

static inline int practice_relate(struct store *st, enum store_relation rel, const char *a,
                                  const char *b)
{
    int r = store_relation_add(st, rel, a, b, NULL);

    return r == -EEXIST ? 0 : r;
}

/* The info model of the file comment (without cards). */
static inline int practice_seed(struct store *st)
{
    static const struct {
        enum store_entity kind;
        const char *id;
    } entities[] = {
        {STORE_ENTITY_MANDANT, "m1"},        {STORE_ENTITY_MANDANT, "m2"},
        {STORE_ENTITY_CLIENT_SYSTEM, "cs1"}, {STORE_ENTITY_CLIENT_SYSTEM, "cs2"},
        {STORE_ENTITY_CLIENT_SYSTEM, "cs3"}, {STORE_ENTITY_WORKPLACE, "ws1"},
        {STORE_ENTITY_WORKPLACE, "ws2"},     {STORE_ENTITY_WORKPLACE, "ws3"},
        {STORE_ENTITY_WORKPLACE, "ws4"},     {STORE_ENTITY_CARD_TERMINAL, "ct1"},
        {STORE_ENTITY_CARD_TERMINAL, "ct2"}, {STORE_ENTITY_CARD_TERMINAL, "ct3"},
        {STORE_ENTITY_CARD_TERMINAL, "ct4"},
    };
    static const struct {
        enum store_relation rel;
        const char *a, *b;
    } relations[] = {
        {STORE_REL_MANDANT_CLIENT_SYSTEM, "m1", "cs1"},
        {STORE_REL_MANDANT_CLIENT_SYSTEM, "m2", "cs2"},
        {STORE_REL_MANDANT_WORKPLACE, "m1", "ws1"},
        {STORE_REL_MANDANT_WORKPLACE, "m1", "ws2"},
        {STORE_REL_MANDANT_WORKPLACE, "m2", "ws3"},
        {STORE_REL_WORKPLACE_CT_LOCAL, "ws1", "ct1"},
        {STORE_REL_WORKPLACE_CT_REMOTE, "ws1", "ct3"},
        {STORE_REL_WORKPLACE_CT_LOCAL, "ws2", "ct2"},
    };
    int r = 0;

    for (size_t i = 0; r == 0 && i < ARRAY_SIZE(entities); i++) {
        r = store_entity_add(st, entities[i].kind, entities[i].id);
        if (r == -EEXIST)
            r = 0;
    }
    for (size_t i = 0; r == 0 && i < ARRAY_SIZE(relations); i++)
        r = practice_relate(st, relations[i].rel, relations[i].a, relations[i].b);
    return r;
}

static inline void practice_done(struct practice *p)
{
    p->cards = cards_close(p->cards);
    p->store = store_close(p->store);
    p->ecs = ec_state_free(p->ecs);
    p->bus = evt_bus_free(p->bus);
    if (p->dir[0])
        test_tmp_remove(p->dir);
    p->dir[0] = '\0';
}

/* with_cards: also open the cards (and generate the PKI and the demo cards). */
static inline int practice_make(struct practice *p, bool with_cards)
{
    struct cards_deps deps;
    char path[128];
    int r;

    memset(p, 0, sizeof(*p));
    (void)snprintf(p->dir, sizeof(p->dir), "/tmp/konn-services-XXXXXX");
    if (!mkdtemp(p->dir))
        return -errno;
    (void)snprintf(path, sizeof(path), "%s/config.db", p->dir);
    p->bus = evt_bus_new(0);
    p->ecs = p->bus ? ec_state_new(p->bus) : NULL;
    if (!p->ecs)
        return -ENOMEM;
    r = store_open(path, &p->store);
    if (r == 0)
        r = practice_seed(p->store);
    if (r == 0 && with_cards) {
        deps = (struct cards_deps){
            .store = p->store, .ecs = p->ecs, .bus = p->bus, .data_dir = p->dir};
        r = cards_open(&deps, &p->cards);
    }
    return r;
}

static inline struct soap_context practice_ctx(const char *mandant, const char *cs, const char *wp,
                                               const char *user)
{
    struct soap_context ctx = {.present = true};

    (void)str_copy(ctx.mandant_id, sizeof(ctx.mandant_id), mandant);
    (void)str_copy(ctx.client_system_id, sizeof(ctx.client_system_id), cs);
    (void)str_copy(ctx.workplace_id, sizeof(ctx.workplace_id), wp);
    (void)str_copy(ctx.user_id, sizeof(ctx.user_id), user ? user : "");
    return ctx;
}

/* Runs the loop until done(arg) is true, or 10 s passed (returns false then). */
#ifdef cmocka_unit_test
static inline bool test_pump_until(struct event_base *base, bool (*done)(void *arg), void *arg)
{
    int64_t deadline = clock_real_mono_ms() + 10000;

    while (!done(arg)) {
        struct timeval tv = {0, 20000};

        if (clock_real_mono_ms() > deadline)
            return false;
        (void)event_base_loopexit(base, &tv);
        (void)event_base_loop(base, EVLOOP_ONCE);
    }
    return true;
}

/* A SOAP answer an evhttp client request collects (test_answer_on_done is its callback). */
struct answer {
    bool done;
    int status;
    xmlDocPtr doc;
    xmlNodePtr body;                /* the Body's first element */
    struct evhttp_connection *conn; /* kept open by callers that send without waiting */
};

static inline void test_answer_on_done(struct evhttp_request *req, void *arg)
{
    struct answer *a = arg;
    struct evbuffer *in;

    a->done = true;
    if (!req)
        return;
    a->status = evhttp_request_get_response_code(req);
    in = evhttp_request_get_input_buffer(req);
    a->doc = xmlReadMemory((const char *)evbuffer_pullup(in, -1), (int)evbuffer_get_length(in),
                           NULL, NULL, XML_PARSE_NONET);
}

static inline bool test_answered(void *arg)
{
    return ((struct answer *)arg)->done;
}

static inline xmlNodePtr test_first_element(xmlNodePtr n)
{
    for (; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE)
            return n;
    return NULL;
}
#endif

/* The text of an XPath 1.0 expression on an answer, with the gematik prefixes soap, EVT,
 * CONN, CT, CARD, CARDCMN, GERROR and PI bound. The caller frees it. For test programs that
 * include cmocka.h before this header. */
#ifdef cmocka_unit_test
static inline char *answer_xpath(xmlDocPtr doc, const char *expr)
{
    static const char *const ns[][2] = {
        {"soap", "http://schemas.xmlsoap.org/soap/envelope/"},
        {"EVT", SOAP_NS_EVT},
        {"CONN", SOAP_NS_CONN},
        {"CT", SOAP_NS_CT},
        {"CARD", SOAP_NS_CARD},
        {"CARDCMN", SOAP_NS_CARDCMN},
        {"GERROR", SOAP_NS_GERROR},
        {"PI", SOAP_NS_PI},
    };
    xmlXPathContextPtr xc = xmlXPathNewContext(doc);
    xmlXPathObjectPtr res;
    xmlChar *s;
    char *out;

    for (size_t i = 0; i < ARRAY_SIZE(ns); i++)
        assert_int_equal(xmlXPathRegisterNs(xc, BAD_CAST ns[i][0], BAD_CAST ns[i][1]), 0);
    res = xmlXPathEvalExpression(BAD_CAST expr, xc);
    assert_non_null(res);
    s = xmlXPathCastToString(res);
    out = strdup((const char *)s);
    xmlFree(s);
    xmlXPathFreeObject(res);
    xmlXPathFreeContext(xc);
    return out;
}

static inline void answer_assert_xpath(xmlDocPtr doc, const char *expr, const char *want)
{
    char *got = answer_xpath(doc, expr);

    if (strcmp(got, want) != 0)
        fail_msg("%s: got '%s', want '%s'", expr, got, want);
    free(got);
}

static inline void answer_print_schema_error(void *ctx, xmlErrorPtr e)
{
    (void)ctx;
    printf("schema: %s", e->message ? e->message : "?\n");
}
#endif

#endif
