/* Unit tests for the CardService (card_service.c) through the real SOAP server on loopback
 * HTTP: a call that waits for the virtual PIN pad and is answered when the PIN is typed, the
 * gematik codes of each refusal, the timeout on the virtual clock, a client that leaves while
 * waiting, the gate, and LOG/PIN_OP without personal data. Responses are validated against
 * CardService_v8_1_3.xsd when the api-telematik checkout is there. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <libxml/parser.h>
#include <libxml/xmlschemas.h>
#include <libxml/xpathInternals.h>

#include "cards/pin.h"
#include "services_test.h"

#define NS_SOAP "http://schemas.xmlsoap.org/soap/envelope/"

static struct event_base *base;
static struct practice P;
static struct soap_server *srv;
static struct services *svc;
static uint16_t http_port;
static xmlSchemaPtr card_schema; /* NULL when the api-telematik checkout is absent */

/* ---- loop, HTTP client, XML ------------------------------------------------------------- */

static const char *handle_of(const char *card)
{
    const struct cards_card *c = cards_card_find(P.cards, card);

    assert_non_null(c);
    return c->handle;
}

/* Sends a CardService request without waiting for its answer. */
static void send_op(struct answer *a, const char *name, const char *m, const char *user,
                    const char *card, const char *pin, const char *extra)
{
    static const char head[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
        "<soap:Envelope xmlns:soap=\"" NS_SOAP "\" xmlns:CARD=\"" SOAP_NS_CARD
        "\" xmlns:CCTX=\"" SOAP_NS_CCTX "\" xmlns:CONN=\"" SOAP_NS_CONN
        "\" xmlns:CARDCMN=\"" SOAP_NS_CARDCMN "\"><soap:Body>";
    struct evhttp_request *req = evhttp_request_new(test_answer_on_done, a);
    struct evkeyvalq *h;

    memset(a, 0, sizeof(*a));
    a->conn = evhttp_connection_base_new(base, NULL, "127.0.0.1", http_port);
    assert_non_null(a->conn);
    assert_non_null(req);
    h = evhttp_request_get_output_headers(req);
    (void)evhttp_add_header(h, "Host", "127.0.0.1");
    (void)evhttp_add_header(h, "Content-Type", "text/xml; charset=utf-8");
    (void)evhttp_add_header(h, "SOAPAction", "\"\"");
    (void)evbuffer_add_printf(
        evhttp_request_get_output_buffer(req),
        "%s<CARD:%s><CCTX:Context><CONN:MandantId>%s</CONN:MandantId>"
        "<CONN:ClientSystemId>cs1</CONN:ClientSystemId><CONN:WorkplaceId>ws1</CONN:WorkplaceId>"
        "%s%s%s</CCTX:Context><CONN:CardHandle>%s</CONN:CardHandle>"
        "<CARDCMN:PinTyp>%s</CARDCMN:PinTyp>%s</CARD:%s></soap:Body></soap:Envelope>",
        head, name, m, user ? "<CONN:UserId>" : "", user ? user : "", user ? "</CONN:UserId>" : "",
        card, pin, extra ? extra : "", name);
    assert_int_equal(evhttp_make_request(a->conn, req, EVHTTP_REQ_POST, "/ws/CardService"), 0);
}

static void wait_answer(struct answer *a)
{
    assert_true(test_pump_until(base, test_answered, a));
    evhttp_connection_free(a->conn);
    a->conn = NULL;
    assert_non_null(a->doc);
    a->body = test_first_element(xmlDocGetRootElement(a->doc)->children);
    assert_non_null(a->body);
    a->body = test_first_element(a->body->children);
    assert_non_null(a->body);
}

static void call(struct answer *a, const char *name, const char *m, const char *user,
                 const char *card, const char *pin, const char *extra)
{
    send_op(a, name, m, user, card, pin, extra);
    wait_answer(a);
}

static void answer_done(struct answer *a)
{
    xmlFreeDoc(a->doc);
    a->doc = NULL;
}

static void assert_xpath(struct answer *a, const char *expr, const char *want)
{
    answer_assert_xpath(a->doc, expr, want);
}

/* A valid PinResponseType with this result and counter (or GetPinStatusResponse when
 * result is NULL). */
static void assert_pin_answer(struct answer *a, const char *name, const char *result,
                              const char *status, const char *left)
{
    xmlSchemaValidCtxtPtr vctx;

    assert_int_equal(a->status, 200);
    assert_string_equal((const char *)a->body->name, name);
    assert_string_equal((const char *)a->body->ns->href, SOAP_NS_CARD);
    assert_xpath(a, "/soap:Envelope/soap:Body/*/CONN:Status/CONN:Result", "OK");
    if (result) {
        assert_xpath(a, "string(/soap:Envelope/soap:Body/*/CARDCMN:PinResult)", result);
        assert_xpath(a, "string(/soap:Envelope/soap:Body/*/CARDCMN:LeftTries)", left);
    } else {
        assert_xpath(a, "string(/soap:Envelope/soap:Body/*/CARD:PinStatus)", status);
        assert_xpath(a, "string(/soap:Envelope/soap:Body/*/CARD:LeftTries)", left);
    }
    if (!card_schema)
        return;
    vctx = xmlSchemaNewValidCtxt(card_schema);
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

static bool pad_waits(void *arg)
{
    struct cards_pinpad_view v;

    return cards_pinpad_view(P.cards, "ct1", &v) == 0 && v.waiting == *(bool *)arg;
}

static void wait_for_pad(bool waiting)
{
    assert_true(test_pump_until(base, pad_waits, &waiting));
}

/* ---- LOG/PIN_OP on the bus -------------------------------------------------------------- */

struct logged {
    int n;
    char text[2048]; /* all parameters of the last one, "key=value;" */
};

static struct logged logged;

static void on_pin_op(const struct evt_event *ev, void *arg)
{
    struct logged *l = arg;
    size_t o = 0;

    assert_int_equal(ev->type, EVT_TYPE_SECURITY);
    l->n++;
    l->text[0] = '\0';
    for (size_t i = 0; i < ev->n_params && o < sizeof(l->text); i++)
        o += (size_t)snprintf(l->text + o, sizeof(l->text) - o, "%s=%s;", ev->params[i].key,
                              ev->params[i].value);
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
    int64_t port = 0;
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
    if (r < 0 || str_to_int64(strrchr(url, ':') + 1, &port) < 0)
        return -1;
    http_port = (uint16_t)port;
    if (evt_bus_subscribe(P.bus, "LOG/PIN_OP", on_pin_op, &logged, NULL) < 0)
        return -1;
    snprintf(path, sizeof(path), "%s/conn/CardService_v8_1_3.xsd",
             api && api[0] ? api : KONN_API_TELEMATIK);
    if (fs_exists(path)) {
        xmlSchemaParserCtxtPtr pctx = xmlSchemaNewParserCtxt(path);

        card_schema = pctx ? xmlSchemaParse(pctx) : NULL;
        xmlSchemaFreeParserCtxt(pctx);
    }
    if (!card_schema)
        printf("SKIP schema validation: %s not usable; set KONN_API_TELEMATIK\n", path);
    return 0;
}

static int group_teardown(void **state)
{
    svc = services_stop(svc);
    srv = soap_server_free(srv);
    practice_done(&P);
    if (card_schema)
        xmlSchemaFree(card_schema);
    return 0;
}

/* ---- tests ------------------------------------------------------------------------------ */

static void verify_waits_for_the_pad_and_answers_ok(void **state)
{
    struct answer a;

    send_op(&a, "VerifyPin", "m1", "u1", handle_of("hba1"), "PIN.CH", NULL);
    wait_for_pad(true);
    assert_false(a.done);
    assert_int_equal(cards_pinpad_type(P.cards, "ct1", "123456", NULL), 0);
    wait_answer(&a);
    assert_pin_answer(&a, "VerifyPinResponse", "OK", NULL, "3");
    answer_done(&a);
    call(&a, "GetPinStatus", "m1", "u1", handle_of("hba1"), "PIN.CH", NULL);
    assert_pin_answer(&a, "GetPinStatusResponse", NULL, "VERIFIED", "3");
    answer_done(&a);
    call(&a, "GetPinStatus", "m1", "u2", handle_of("hba1"), "PIN.CH", NULL);
    assert_pin_answer(&a, "GetPinStatusResponse", NULL, "VERIFIABLE", "3");
    answer_done(&a);
}

static void wrong_pin_is_rejected_and_logged_without_personal_data(void **state)
{
    const struct cards_card *egk = cards_card_find(P.cards, "egk1");
    struct answer a;
    int before = logged.n;

    send_op(&a, "VerifyPin", "m1", NULL, handle_of("egk1"), "MRPIN.DPE", NULL);
    wait_for_pad(true);
    assert_int_equal(cards_pinpad_type(P.cards, "ct1", "999999", NULL), 0);
    wait_answer(&a);
    assert_pin_answer(&a, "VerifyPinResponse", "REJECTED", NULL, "2");
    answer_done(&a);
    assert_int_equal(logged.n, before + 1);
    assert_non_null(strstr(logged.text, "Operation=VerifyPin;PinRef=MRPIN.DPE;CardType=EGK;"));
    assert_non_null(strstr(logged.text, "Result=REJECTED;"));
    assert_null(strstr(logged.text, "999999"));
    assert_null(strstr(logged.text, egk->iccsn));
    assert_null(strstr(logged.text, egk->kvnr));
    /* A success is logged only with LOG_SUCCESSFUL_CRYPTO_OPS. */
    setting("LOG_SUCCESSFUL_CRYPTO_OPS", "Disabled");
    send_op(&a, "VerifyPin", "m1", NULL, handle_of("egk1"), "MRPIN.DPE", NULL);
    wait_for_pad(true);
    assert_int_equal(cards_pinpad_type(P.cards, "ct1", "123456", NULL), 0);
    wait_answer(&a);
    assert_pin_answer(&a, "VerifyPinResponse", "OK", NULL, "3");
    answer_done(&a);
    assert_int_equal(logged.n, before + 1);
    setting("LOG_SUCCESSFUL_CRYPTO_OPS", "Enabled");
    send_op(&a, "VerifyPin", "m1", NULL, handle_of("egk1"), "MRPIN.DPE", NULL);
    wait_for_pad(true);
    assert_int_equal(cards_pinpad_type(P.cards, "ct1", "123456", NULL), 0);
    wait_answer(&a);
    answer_done(&a);
    assert_int_equal(logged.n, before + 2);
    assert_non_null(strstr(logged.text, "Result=OK;"));
    setting("LOG_SUCCESSFUL_CRYPTO_OPS", "Disabled");
}

static void refusals_carry_their_gematik_codes(void **state)
{
    struct answer a;

    call(&a, "VerifyPin", "m1", NULL, handle_of("egk1"), "PIN.NOPE", NULL);
    assert_fault(&a, 4072);
    answer_done(&a);
    call(&a, "VerifyPin", "m1", NULL, handle_of("hba1"), "PIN.CH", NULL);
    assert_fault(&a, 4003);
    answer_done(&a);
    call(&a, "GetPinStatus", "m1", NULL, "no-such-handle", "PIN.CH", NULL);
    assert_fault(&a, 4008);
    answer_done(&a);
    call(&a, "DisablePin", "m1", NULL, handle_of("smcb1"), "PIN.SMC", NULL);
    assert_fault(&a, 4085);
    answer_done(&a);
    call(&a, "UnblockPin", "m1", "u1", handle_of("hba1"), "PIN.QES",
         "<CARD:SetNewPin>true</CARD:SetNewPin>");
    assert_fault(&a, 4085);
    answer_done(&a);
    call(&a, "VerifyPin", "m1", NULL, "", "PIN.CH", NULL);
    assert_fault(&a, 4000);
    answer_done(&a);
}

static void second_entry_is_4060_and_cancel_is_4049(void **state)
{
    struct answer first, second;

    send_op(&first, "VerifyPin", "m1", "u1", handle_of("hba1"), "PIN.QES", NULL);
    wait_for_pad(true);
    call(&second, "ChangePin", "m1", NULL, handle_of("egk1"), "PIN.CH", NULL);
    assert_fault(&second, 4060);
    answer_done(&second);
    assert_int_equal(cards_pinpad_cancel(P.cards, "ct1"), 0);
    wait_answer(&first);
    assert_fault(&first, 4049);
    answer_done(&first);
}

static void timeout_on_the_virtual_clock_is_4043(void **state)
{
    struct answer a;

    send_op(&a, "UnblockPin", "m1", NULL, handle_of("egk1"), "MRPIN.GDD", NULL);
    wait_for_pad(true);
    assert_int_equal(clock_advance(CARDS_PINPAD_TIMEOUT_MS + 1), 0);
    wait_answer(&a);
    assert_fault(&a, 4043);
    answer_done(&a);
}

static void client_leaving_frees_the_pad(void **state)
{
    struct answer a;

    send_op(&a, "VerifyPin", "m1", NULL, handle_of("egk1"), "PIN.CH", NULL);
    wait_for_pad(true);
    evhttp_connection_free(a.conn); /* the client goes away; test_answer_on_done never runs */
    wait_for_pad(false);
    assert_false(a.done);
}

static void card_pulled_during_entry_is_4008(void **state)
{
    const struct cards_card *smcb = cards_card_find(P.cards, "smcb1");
    unsigned slot = smcb->slot;
    struct answer a;

    send_op(&a, "VerifyPin", "m1", NULL, handle_of("smcb1"), "PIN.SMC", NULL);
    wait_for_pad(true);
    assert_int_equal(cards_remove(P.cards, "ct1", slot), 0);
    wait_answer(&a);
    assert_fault(&a, 4008);
    answer_done(&a);
    assert_int_equal(cards_insert(P.cards, "ct1", slot, "smcb1"), 0);
}

static void critical_state_blocks_pin_operations(void **state)
{
    struct answer a;

    assert_int_equal(ec_raise(P.ecs, EC_SECURITY_LOG_NOT_WRITABLE, NULL, NULL, 0), 1);
    call(&a, "GetPinStatus", "m1", NULL, handle_of("egk1"), "PIN.CH", NULL);
    assert_fault(&a, 4002);
    answer_done(&a);
    assert_int_equal(ec_clear(P.ecs, EC_SECURITY_LOG_NOT_WRITABLE, NULL), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(verify_waits_for_the_pad_and_answers_ok),
        cmocka_unit_test(wrong_pin_is_rejected_and_logged_without_personal_data),
        cmocka_unit_test(refusals_carry_their_gematik_codes),
        cmocka_unit_test(second_entry_is_4060_and_cancel_is_4049),
        cmocka_unit_test(timeout_on_the_virtual_clock_is_4043),
        cmocka_unit_test(client_leaving_frees_the_pad),
        cmocka_unit_test(card_pulled_during_entry_is_4008),
        cmocka_unit_test(critical_state_blocks_pin_operations),
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
