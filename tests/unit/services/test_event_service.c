/* Unit tests for the EventService operations (event_service.c, resources.c, services.c) through
 * the real SOAP server on loopback HTTP: the seven operations, their faults, the context check
 * and the gate in front of them, every response validated against EventService.xsd when the
 * api-telematik checkout is there, and CETP delivery of a real CARD/INSERTED. */
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
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <libxml/parser.h>
#include <libxml/xmlschemas.h>
#include <libxml/xpathInternals.h>

#include "services_test.h"

#define NS_SOAP "http://schemas.xmlsoap.org/soap/envelope/"
#define CTX_M1_WS1 "m1", "cs1", "ws1"

static struct event_base *base;
static struct practice P;
static struct soap_server *srv;
static struct services *svc;
static uint16_t http_port;
static xmlSchemaPtr event_schema; /* NULL when the api-telematik checkout is absent */

/* ---- loop, HTTP client, XML ------------------------------------------------------------- */

/* Posts an EventService request whose body element is op_xml (CCTX/CONN/CARDCMN/EVT bound). */
static void post(struct answer *a, const char *op_xml)
{
    static const char head[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                               "<soap:Envelope xmlns:soap=\"" NS_SOAP "\" xmlns:EVT=\"" SOAP_NS_EVT
                               "\" xmlns:CCTX=\"" SOAP_NS_CCTX "\" xmlns:CONN=\"" SOAP_NS_CONN
                               "\" xmlns:CARDCMN=\"" SOAP_NS_CARDCMN "\"><soap:Body>";
    struct evhttp_connection *conn = evhttp_connection_base_new(base, NULL, "127.0.0.1", http_port);
    struct evhttp_request *req = evhttp_request_new(test_answer_on_done, a);
    struct evkeyvalq *h;

    memset(a, 0, sizeof(*a));
    assert_non_null(conn);
    assert_non_null(req);
    h = evhttp_request_get_output_headers(req);
    (void)evhttp_add_header(h, "Host", "127.0.0.1");
    (void)evhttp_add_header(h, "Content-Type", "text/xml; charset=utf-8");
    (void)evhttp_add_header(h, "SOAPAction", "\"\"");
    (void)evbuffer_add_printf(evhttp_request_get_output_buffer(req),
                              "%s%s</soap:Body></soap:Envelope>", head, op_xml);
    assert_int_equal(evhttp_make_request(conn, req, EVHTTP_REQ_POST, "/ws/EventService"), 0);
    assert_true(test_pump_until(base, test_answered, a));
    evhttp_connection_free(conn);
    assert_non_null(a->doc);
    a->body = test_first_element(xmlDocGetRootElement(a->doc)->children); /* Body */
    assert_non_null(a->body);
    a->body = test_first_element(a->body->children);
    assert_non_null(a->body);
}

static void answer_done(struct answer *a)
{
    xmlFreeDoc(a->doc);
    a->doc = NULL;
}

static char *xpath(struct answer *a, const char *expr)
{
    return answer_xpath(a->doc, expr);
}

static void assert_xpath(struct answer *a, const char *expr, const char *want)
{
    answer_assert_xpath(a->doc, expr, want);
}

/* The response element is valid per EventService.xsd and starts with CONN:Status. */
static void assert_valid_response(struct answer *a, const char *name)
{
    xmlSchemaValidCtxtPtr vctx;

    assert_int_equal(a->status, 200);
    assert_string_equal((const char *)a->body->name, name);
    assert_string_equal((const char *)a->body->ns->href, SOAP_NS_EVT);
    assert_xpath(a, "local-name(/soap:Envelope/soap:Body/*/*[1])", "Status");
    assert_xpath(a, "/soap:Envelope/soap:Body/*/CONN:Status/CONN:Result", "OK");
    if (!event_schema)
        return;
    vctx = xmlSchemaNewValidCtxt(event_schema);
    xmlSchemaSetValidStructuredErrors(vctx, answer_print_schema_error, NULL);
    assert_int_equal(xmlSchemaValidateOneElement(vctx, a->body), 0);
    xmlSchemaFreeValidCtxt(vctx);
}

static void assert_fault(struct answer *a, int code)
{
    char want[16];

    snprintf(want, sizeof(want), "%d", code);
    assert_int_equal(a->status, 500);
    assert_string_equal((const char *)a->body->name, "Fault");
    assert_xpath(a, "string(//GERROR:Error/GERROR:Trace[last()]/GERROR:Code)", want);
}

/* A body element with the context; extra is inserted after it, attrs into the start tag. */
static const char *op(const char *name, const char *attrs, const char *m, const char *cs,
                      const char *wp, const char *extra)
{
    static char buf[8192];

    snprintf(buf, sizeof(buf),
             "<EVT:%s%s><CCTX:Context><CONN:MandantId>%s</CONN:MandantId>"
             "<CONN:ClientSystemId>%s</CONN:ClientSystemId><CONN:WorkplaceId>%s"
             "</CONN:WorkplaceId></CCTX:Context>%s</EVT:%s>",
             name, attrs, m, cs, wp, extra, name);
    return buf;
}

/* ---- fixture ---------------------------------------------------------------------------- */

static void setting(const char *name, const char *value)
{
    char msg[256];

    assert_true(store_setting_set(P.store, name, value, STORE_ROLE_SUPER_ADMIN, msg, sizeof(msg)) >=
                0);
}

static int group_setup(void **state)
{
    struct soap_deps sd;
    struct services_deps deps;
    char url[128], path[512];
    const char *api = getenv("KONN_API_TELEMATIK");
    int r = practice_make(&P, true);

    if (r < 0)
        return r;
    setting("ANCL_TLS_MANDATORY", "Disabled");
    sd = (struct soap_deps){
        .base = base, .store = P.store, .ecs = P.ecs, .bus = P.bus, .data_dir = P.dir};
    srv = soap_server_new(&sd);
    if (!srv)
        return -1;
    deps = (struct services_deps){.base = base,
                                  .store = P.store,
                                  .ecs = P.ecs,
                                  .bus = P.bus,
                                  .cards = P.cards,
                                  .soap = srv,
                                  .data_dir = P.dir};
    r = services_start(&deps, &svc);
    if (r == 0)
        r = soap_server_listen(srv, "127.0.0.1:0", NULL, url, sizeof(url), NULL, 0);
    if (r < 0)
        return r;
    {
        int64_t port = 0;

        if (str_to_int64(strrchr(url, ':') + 1, &port) < 0)
            return -1;
        http_port = (uint16_t)port;
    }
    snprintf(path, sizeof(path), "%s/conn/EventService.xsd",
             api && api[0] ? api : KONN_API_TELEMATIK);
    if (fs_exists(path)) {
        xmlSchemaParserCtxtPtr pctx = xmlSchemaNewParserCtxt(path);

        event_schema = pctx ? xmlSchemaParse(pctx) : NULL;
        xmlSchemaFreeParserCtxt(pctx);
    }
    if (!event_schema)
        printf("SKIP schema validation: %s not usable; set KONN_API_TELEMATIK\n", path);
    return 0;
}

static int group_teardown(void **state)
{
    svc = services_stop(svc);
    srv = soap_server_free(srv);
    practice_done(&P);
    if (event_schema)
        xmlSchemaFree(event_schema);
    return 0;
}

/* ---- GetCardTerminals, GetCards ---------------------------------------------------------- */

static void card_terminals_of_the_workplace_or_the_mandant(void **state)
{
    struct answer a;

    post(&a, op("GetCardTerminals", "", CTX_M1_WS1, ""));
    assert_valid_response(&a, "GetCardTerminalsResponse");
    /* ws1 has ct1 local and ct3 remote. */
    assert_xpath(&a, "count(//CT:CardTerminal)", "2");
    assert_xpath(&a, "//CT:CardTerminal[1]/CARDCMN:CtId", "ct1");
    assert_xpath(&a, "//CT:CardTerminal[1]/CONN:WorkplaceIds/CONN:WorkplaceId", "ws1");
    assert_xpath(&a, "//CT:CardTerminal[1]/CT:Slots", "4");
    assert_xpath(&a, "//CT:CardTerminal[1]/CT:Connected", "true");
    assert_xpath(&a,
                 "//CT:CardTerminal[1]/PI:ProductInformation/PI:ProductTypeInformation/"
                 "PI:ProductType",
                 "KT");
    assert_xpath(&a, "//CT:CardTerminal[2]/CARDCMN:CtId", "ct3");
    answer_done(&a);
    post(&a, op("GetCardTerminals", " mandant-wide=\"true\"", CTX_M1_WS1, ""));
    assert_valid_response(&a, "GetCardTerminalsResponse");
    assert_xpath(&a, "count(//CT:CardTerminal)", "3");
    assert_xpath(&a, "count(//CT:CardTerminal[CARDCMN:CtId='ct4'])", "0");
    answer_done(&a);
    post(&a, op("GetCardTerminals", "", "m2", "cs2", "ws3", ""));
    assert_valid_response(&a, "GetCardTerminalsResponse");
    assert_xpath(&a, "count(//CT:CardTerminal)", "0");
    answer_done(&a);
}

static void cards_with_filters(void **state)
{
    struct answer a;

    post(&a, op("GetCards", "", CTX_M1_WS1, ""));
    assert_valid_response(&a, "GetCardsResponse");
    assert_xpath(&a, "count(//CARD:Cards/CARD:Card)", "3");
    answer_done(&a);
    post(&a, op("GetCards", "", CTX_M1_WS1, "<CARDCMN:CardType>EGK</CARDCMN:CardType>"));
    assert_valid_response(&a, "GetCardsResponse");
    assert_xpath(&a, "count(//CARD:Card)", "1");
    assert_xpath(&a, "//CARD:Card/CARDCMN:CtId", "ct1");
    assert_xpath(&a, "//CARD:Card/CARDCMN:SlotId", "3");
    assert_xpath(&a, "string-length(//CARD:Card/CARD:Kvnr)", "10");
    assert_xpath(&a, "string-length(//CARD:Card/CARDCMN:Iccsn)", "20");
    answer_done(&a);
    post(&a, op("GetCards", "", CTX_M1_WS1,
                "<CARDCMN:CtId>ct1</CARDCMN:CtId><CARDCMN:SlotId>2</CARDCMN:SlotId>"));
    assert_valid_response(&a, "GetCardsResponse");
    assert_xpath(&a, "//CARD:Card/CARDCMN:CardType", "HBA");
    answer_done(&a);
    post(&a, op("GetCards", " mandant-wide=\"true\"", "m1", "cs1", "ws2",
                "<CARDCMN:CtId>ct1</CARDCMN:CtId>"));
    assert_valid_response(&a, "GetCardsResponse");
    assert_xpath(&a, "count(//CARD:Card)", "3");
    answer_done(&a);
}

static void cards_refusals(void **state)
{
    struct answer a;

    post(&a, op("GetCards", "", "m1", "cs1", "ws2", "<CARDCMN:CtId>ct1</CARDCMN:CtId>"));
    assert_fault(&a, 4012);
    answer_done(&a);
    post(&a, op("GetCards", "", CTX_M1_WS1, "<CARDCMN:CtId>nope</CARDCMN:CtId>"));
    assert_fault(&a, 4007);
    answer_done(&a);
    post(&a, op("GetCards", "", CTX_M1_WS1, "<CARDCMN:SlotId>1</CARDCMN:SlotId>"));
    assert_fault(&a, 4000);
    answer_done(&a);
    post(&a, op("GetCards", "", CTX_M1_WS1, "<CARDCMN:CardType>Kreditkarte</CARDCMN:CardType>"));
    assert_fault(&a, 4000);
    answer_done(&a);
    post(&a, op("GetCards", "", "mX", "cs1", "ws1", ""));
    assert_fault(&a, 4004);
    answer_done(&a);
    post(&a, op("GetCards", "", "m1", "cs2", "ws1", ""));
    assert_fault(&a, 4010);
    answer_done(&a);
}

/* ---- GetResourceInformation -------------------------------------------------------------- */

static void resource_information_of_the_connector(void **state)
{
    struct evt_param p = {"Protokoll", "Sicherheitsprotokoll"};
    struct answer a;

    post(&a, op("GetResourceInformation", "", CTX_M1_WS1, ""));
    assert_valid_response(&a, "GetResourceInformationResponse");
    assert_xpath(&a, "count(//CARD:Card)", "0");
    assert_xpath(&a, "count(//CT:CardTerminal)", "0");
    assert_xpath(&a, "//CONN:Connector/CONN:VPNTIStatus/CONN:ConnectionStatus", "Offline");
    assert_xpath(&a, "//CONN:Connector/CONN:VPNSISStatus/CONN:ConnectionStatus", "Offline");
    /* Nothing active: every condition without instances is listed with Value false. */
    assert_xpath(&a, "count(//CONN:ErrorState[CONN:Value='true'])", "0");
    assert_xpath(&a, "//CONN:ErrorState[CONN:ErrorCondition='EC_LOG_OVERFLOW']/CONN:Value",
                 "false");
    answer_done(&a);
    assert_int_equal(ec_raise(P.ecs, EC_LOG_OVERFLOW, NULL, &p, 1), 1);
    assert_int_equal(ec_raise(P.ecs, EC_CARDTERMINAL_NOT_AVAILABLE, "ct9", NULL, 0), 1);
    post(&a, op("GetResourceInformation", "", CTX_M1_WS1, ""));
    assert_valid_response(&a, "GetResourceInformationResponse");
    assert_xpath(&a, "count(//CONN:ErrorState)", "2");
    assert_xpath(&a, "//CONN:ErrorState[CONN:ErrorCondition='EC_LOG_OVERFLOW']/CONN:Severity",
                 "Warning");
    assert_xpath(&a, "//CONN:ErrorState[CONN:ErrorCondition='EC_LOG_OVERFLOW']/CONN:Type",
                 "Operation");
    assert_xpath(&a, "//CONN:ErrorState[CONN:ErrorCondition='EC_LOG_OVERFLOW']/CONN:Value", "true");
    assert_xpath(&a,
                 "count(//CONN:ErrorState[CONN:ErrorCondition="
                 "'EC_CardTerminal_Not_Available(ct9)'])",
                 "1");
    answer_done(&a);
    assert_int_equal(ec_reset(P.ecs, EC_LOG_OVERFLOW, NULL), 0);
    assert_int_equal(ec_clear(P.ecs, EC_CARDTERMINAL_NOT_AVAILABLE, "ct9"), 1);
}

static void resource_information_of_a_card_and_its_terminal(void **state)
{
    const struct cards_card *egk = cards_card_find(P.cards, "egk1");
    char extra[256];
    struct answer a;

    snprintf(extra, sizeof(extra), "<CONN:CardHandle>%s</CONN:CardHandle>", egk->handle);
    post(&a, op("GetResourceInformation", "", CTX_M1_WS1, extra));
    assert_valid_response(&a, "GetResourceInformationResponse");
    assert_xpath(&a, "//CARD:Card/CONN:CardHandle", egk->handle);
    assert_xpath(&a, "//CARD:Card/CARDCMN:CardType", "EGK");
    assert_xpath(&a, "//CT:CardTerminal/CARDCMN:CtId", "ct1");
    assert_xpath(&a, "count(//CONN:Connector)", "1");
    answer_done(&a);
    snprintf(extra, sizeof(extra), "<CARDCMN:Iccsn>%s</CARDCMN:Iccsn>", egk->iccsn);
    post(&a, op("GetResourceInformation", "", CTX_M1_WS1, extra));
    assert_valid_response(&a, "GetResourceInformationResponse");
    assert_xpath(&a, "//CARD:Card/CONN:CardHandle", egk->handle);
    answer_done(&a);
    post(&a, op("GetResourceInformation", "", CTX_M1_WS1,
                "<CARDCMN:CtId>ct1</CARDCMN:CtId><CARDCMN:SlotId>4</CARDCMN:SlotId>"));
    assert_valid_response(&a, "GetResourceInformationResponse");
    assert_xpath(&a, "count(//CARD:Card)", "0");
    assert_xpath(&a, "//CT:CardTerminal/CARDCMN:CtId", "ct1");
    answer_done(&a);
}

static void resource_information_refusals(void **state)
{
    struct answer a;

    post(&a, op("GetResourceInformation", "", CTX_M1_WS1,
                "<CONN:CardHandle>00000000000000000000000000000000</CONN:CardHandle>"));
    assert_fault(&a, 4008);
    answer_done(&a);
    post(&a, op("GetResourceInformation", "", CTX_M1_WS1,
                "<CARDCMN:Iccsn>80276000000000000000</CARDCMN:Iccsn>"));
    assert_fault(&a, 4008);
    answer_done(&a);
    post(&a,
         op("GetResourceInformation", "", "m1", "cs1", "ws2", "<CARDCMN:CtId>ct1</CARDCMN:CtId>"));
    assert_fault(&a, 4012);
    answer_done(&a);
    post(&a, op("GetResourceInformation", "", CTX_M1_WS1,
                "<CARDCMN:CtId>ct1</CARDCMN:CtId><CARDCMN:SlotId>9</CARDCMN:SlotId>"));
    assert_fault(&a, 4000);
    answer_done(&a);
}

/* ---- subscriptions ---------------------------------------------------------------------- */

static char *subscribe(const char *m, const char *cs, const char *wp, const char *event_to,
                       const char *topic)
{
    char extra[512];
    struct answer a;
    char *id;

    snprintf(extra, sizeof(extra),
             "<EVT:Subscription><EVT:EventTo>%s</EVT:EventTo><EVT:Topic>%s</EVT:Topic>"
             "</EVT:Subscription>",
             event_to, topic);
    post(&a, op("Subscribe", "", m, cs, wp, extra));
    assert_valid_response(&a, "SubscribeResponse");
    id = xpath(&a, "//EVT:SubscribeResponse/EVT:SubscriptionID");
    assert_int_equal(strlen(id), 36);
    answer_done(&a);
    return id;
}

static void subscription_lifecycle(void **state)
{
    char *id = subscribe(CTX_M1_WS1, "cetp://127.0.0.1:1", "CARD"), extra[256], *t1, *t2;
    struct answer a;

    snprintf(extra, sizeof(extra), "<EVT:SubscriptionID>%s</EVT:SubscriptionID>", id);
    post(&a, op("GetSubscription", "", CTX_M1_WS1, extra));
    assert_valid_response(&a, "GetSubscriptionResponse");
    assert_xpath(&a, "count(//EVT:Subscriptions/EVT:Subscription)", "1");
    assert_xpath(&a, "//EVT:Subscription/EVT:EventTo", "cetp://127.0.0.1:1");
    assert_xpath(&a, "//EVT:Subscription/EVT:Topic", "CARD");
    t1 = xpath(&a, "//EVT:Subscription/EVT:TerminationTime");
    answer_done(&a);
    assert_int_equal(clock_advance(3600 * 1000), 0);
    post(&a, op("RenewSubscriptions", "", CTX_M1_WS1, extra));
    assert_valid_response(&a, "RenewSubscriptionsResponse");
    assert_xpath(&a, "//EVT:SubscriptionRenewal/EVT:SubscriptionID", id);
    t2 = xpath(&a, "//EVT:SubscriptionRenewal/EVT:TerminationTime");
    assert_true(strcmp(t2, t1) > 0);
    answer_done(&a);
    post(&a, op("Unsubscribe", "", CTX_M1_WS1, extra));
    assert_valid_response(&a, "UnsubscribeResponse");
    answer_done(&a);
    post(&a, op("Unsubscribe", "", CTX_M1_WS1, extra));
    assert_fault(&a, 4000);
    answer_done(&a);
    post(&a, op("RenewSubscriptions", "", CTX_M1_WS1, extra));
    assert_fault(&a, 4000);
    answer_done(&a);
    free(t1);
    free(t2);
    free(id);
}

static void renew_leaves_unknown_ids_out(void **state)
{
    char *id = subscribe(CTX_M1_WS1, "cetp://127.0.0.1:1", "CT"), extra[512];
    struct answer a;

    snprintf(extra, sizeof(extra),
             "<EVT:SubscriptionID>unknown</EVT:SubscriptionID>"
             "<EVT:SubscriptionID>%s</EVT:SubscriptionID>",
             id);
    post(&a, op("RenewSubscriptions", "", CTX_M1_WS1, extra));
    assert_valid_response(&a, "RenewSubscriptionsResponse");
    assert_xpath(&a, "count(//EVT:SubscriptionRenewal)", "1");
    answer_done(&a);
    /* Another Mandant's caller cannot renew it either. */
    snprintf(extra, sizeof(extra), "<EVT:SubscriptionID>%s</EVT:SubscriptionID>", id);
    post(&a, op("RenewSubscriptions", "", "m2", "cs2", "ws3", extra));
    assert_fault(&a, 4000);
    answer_done(&a);
    post(&a, op("Unsubscribe", "", CTX_M1_WS1, "<EVT:EventTo>cetp://127.0.0.1:1</EVT:EventTo>"));
    assert_valid_response(&a, "UnsubscribeResponse");
    answer_done(&a);
    free(id);
}

static void get_subscription_is_scoped_to_the_caller(void **state)
{
    char *a1 = subscribe(CTX_M1_WS1, "cetp://127.0.0.1:2", "CARD");
    char *a2 = subscribe("m1", "cs1", "ws2", "cetp://127.0.0.1:2", "CARD");
    char *b1 = subscribe("m2", "cs2", "ws3", "cetp://127.0.0.1:2", "CARD");
    struct answer a;

    post(&a, op("GetSubscription", "", CTX_M1_WS1, ""));
    assert_valid_response(&a, "GetSubscriptionResponse");
    assert_xpath(&a, "count(//EVT:Subscription)", "1");
    assert_xpath(&a, "//EVT:Subscription/EVT:SubscriptionID", a1);
    answer_done(&a);
    post(&a, op("GetSubscription", " mandant-wide=\"true\"", CTX_M1_WS1, ""));
    assert_valid_response(&a, "GetSubscriptionResponse");
    assert_xpath(&a, "count(//EVT:Subscription)", "2");
    answer_done(&a);
    post(&a, op("GetSubscription", " mandant-wide=\"true\"", "m2", "cs2", "ws3", ""));
    assert_xpath(&a, "count(//EVT:Subscription)", "1");
    assert_xpath(&a, "//EVT:Subscription/EVT:SubscriptionID", b1);
    answer_done(&a);
    post(&a, op("Unsubscribe", "", CTX_M1_WS1, "<EVT:EventTo>cetp://127.0.0.1:2</EVT:EventTo>"));
    assert_valid_response(&a, "UnsubscribeResponse");
    answer_done(&a);
    post(&a, op("GetSubscription", " mandant-wide=\"true\"", CTX_M1_WS1, ""));
    assert_xpath(&a, "count(//EVT:Subscription)", "0");
    answer_done(&a);
    post(&a, op("Unsubscribe", "", "m2", "cs2", "ws3",
                "<EVT:EventTo>cetp://127.0.0.1:2</EVT:EventTo>"));
    answer_done(&a);
    free(a1);
    free(a2);
    free(b1);
}

static void subscribe_refusals(void **state)
{
    struct answer a;

    post(&a, op("Subscribe", "", CTX_M1_WS1,
                "<EVT:Subscription><EVT:EventTo>http://x:1</EVT:EventTo>"
                "<EVT:Topic>CARD</EVT:Topic></EVT:Subscription>"));
    assert_fault(&a, 4000);
    answer_done(&a);
    post(&a, op("Subscribe", "", CTX_M1_WS1,
                "<EVT:Subscription><EVT:EventTo>cetp://x:1</EVT:EventTo>"
                "<EVT:Topic>CARD</EVT:Topic><EVT:Filter>/EVT:Event[</EVT:Filter>"
                "</EVT:Subscription>"));
    assert_fault(&a, 4000);
    answer_done(&a);
    post(&a, op("Subscribe", "", "m1", "cs1", "ws3",
                "<EVT:Subscription><EVT:EventTo>cetp://x:1</EVT:EventTo>"
                "<EVT:Topic>CARD</EVT:Topic></EVT:Subscription>"));
    assert_fault(&a, 4011);
    answer_done(&a);
}

static void critical_state_blocks_the_event_service(void **state)
{
    struct answer a;

    assert_int_equal(ec_raise(P.ecs, EC_SOFTWARE_INTEGRITY_CHECK_FAILED, NULL, NULL, 0), 1);
    post(&a, op("GetCardTerminals", "", CTX_M1_WS1, ""));
    assert_fault(&a, 4002);
    answer_done(&a);
    assert_int_equal(ec_clear(P.ecs, EC_SOFTWARE_INTEGRITY_CHECK_FAILED, NULL), 1);
    /* The security log not writable does not block it (TAB_KON_504-01). */
    assert_int_equal(ec_raise(P.ecs, EC_SECURITY_LOG_NOT_WRITABLE, NULL, NULL, 0), 1);
    post(&a, op("GetCardTerminals", "", CTX_M1_WS1, ""));
    assert_valid_response(&a, "GetCardTerminalsResponse");
    answer_done(&a);
    assert_int_equal(ec_clear(P.ecs, EC_SECURITY_LOG_NOT_WRITABLE, NULL), 1);
}

/* ---- CETP end to end -------------------------------------------------------------------- */

struct sink {
    struct evconnlistener *l;
    struct bufferevent *bev;
    struct evbuffer *data;
};

static void sink_read(struct bufferevent *bev, void *arg)
{
    struct sink *s = arg;

    (void)evbuffer_add_buffer(s->data, bufferevent_get_input(bev));
}

static void sink_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                        void *arg)
{
    struct sink *s = arg;

    s->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(s->bev, sink_read, NULL, NULL, s);
    (void)bufferevent_enable(s->bev, EV_READ);
}

static bool sink_has_frame(void *arg)
{
    struct sink *s = arg;
    uint8_t head[8];
    uint32_t be;

    if (evbuffer_copyout(s->data, head, 8) < 8)
        return false;
    memcpy(&be, head + 4, 4);
    return evbuffer_get_length(s->data) >= 8 + (size_t)ntohl(be);
}

static void card_inserted_reaches_the_sink_with_all_parameters(void **state)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sin);
    struct sink s = {.data = evbuffer_new()};
    static const char *const keys[] = {"CardHandle", "CardType",       "CardVersion",
                                       "ICCSN",      "CtID",           "SlotID",
                                       "InsertTime", "CardHolderName", "KVNR"};
    char to[64], *id, xpath_buf[256];
    struct answer a = {0};
    xmlSchemaValidCtxtPtr vctx;
    uint32_t be;
    char *xml;

    s.l = evconnlistener_new_bind(base, sink_accept, &s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
                                  4, (struct sockaddr *)&sin, sizeof(sin));
    assert_non_null(s.l);
    assert_int_equal(getsockname(evconnlistener_get_fd(s.l), (struct sockaddr *)&sin, &sl), 0);
    snprintf(to, sizeof(to), "cetp://127.0.0.1:%u", ntohs(sin.sin_port));
    id = subscribe(CTX_M1_WS1, to, "CARD");
    /* egk1 sits in slot 3 since the first start: take it out (CARD/REMOVED), put it back. */
    assert_int_equal(cards_remove(P.cards, "ct1", 3), 0);
    assert_true(test_pump_until(base, sink_has_frame, &s));
    (void)evbuffer_drain(s.data, evbuffer_get_length(s.data));
    assert_int_equal(cards_insert(P.cards, "ct1", 3, "egk1"), 0);
    assert_true(test_pump_until(base, sink_has_frame, &s));
    assert_int_equal(evbuffer_remove(s.data, &be, 4), 4);
    assert_int_equal(evbuffer_remove(s.data, &be, 4), 4);
    xml = malloc(ntohl(be) + 1);
    assert_int_equal(evbuffer_remove(s.data, xml, ntohl(be)), (int)ntohl(be));
    a.doc = xmlReadMemory(xml, (int)ntohl(be), NULL, NULL, XML_PARSE_NONET);
    free(xml);
    assert_non_null(a.doc);
    assert_xpath(&a, "/EVT:Event/EVT:Topic", "CARD/INSERTED");
    assert_xpath(&a, "/EVT:Event/EVT:SubscriptionID", id);
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        snprintf(xpath_buf, sizeof(xpath_buf), "count(//EVT:Parameter[EVT:Key='%s'])", keys[i]);
        assert_xpath(&a, xpath_buf, "1");
    }
    assert_xpath(&a, "//EVT:Parameter[EVT:Key='CtID']/EVT:Value", "ct1");
    assert_xpath(&a, "//EVT:Parameter[EVT:Key='SlotID']/EVT:Value", "3");
    if (event_schema) {
        vctx = xmlSchemaNewValidCtxt(event_schema);
        assert_int_equal(xmlSchemaValidateDoc(vctx, a.doc), 0);
        xmlSchemaFreeValidCtxt(vctx);
    }
    answer_done(&a);
    snprintf(xpath_buf, sizeof(xpath_buf), "<EVT:EventTo>%s</EVT:EventTo>", to);
    post(&a, op("Unsubscribe", "", CTX_M1_WS1, xpath_buf));
    assert_valid_response(&a, "UnsubscribeResponse");
    answer_done(&a);
    bufferevent_free(s.bev);
    evconnlistener_free(s.l);
    evbuffer_free(s.data);
    free(id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(card_terminals_of_the_workplace_or_the_mandant),
        cmocka_unit_test(cards_with_filters),
        cmocka_unit_test(cards_refusals),
        cmocka_unit_test(resource_information_of_the_connector),
        cmocka_unit_test(resource_information_of_a_card_and_its_terminal),
        cmocka_unit_test(resource_information_refusals),
        cmocka_unit_test(subscription_lifecycle),
        cmocka_unit_test(renew_leaves_unknown_ids_out),
        cmocka_unit_test(get_subscription_is_scoped_to_the_caller),
        cmocka_unit_test(subscribe_refusals),
        cmocka_unit_test(critical_state_blocks_the_event_service),
        cmocka_unit_test(card_inserted_reaches_the_sink_with_all_parameters),
    };
    int r;

    clock_init(CLOCK_MODE_VIRTUAL);
    log_level_set(LOG_LEVEL_ERROR);
    base = event_base_new();
    if (!base || clock_attach(base) < 0)
        return 1;
    r = cmocka_run_group_tests(tests, group_setup, group_teardown);
    clock_detach();
    event_base_free(base);
    xmlCleanupParser();
    return r;
}
