/* Unit tests for src/services/event_message.c: which topics leave the connector, the
 * EVT:Event document and its CETP frame (TIP1-A_4596). */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <libxml/parser.h>
#include <libxml/xpathInternals.h>

#include "services_test.h"

/* The string value of an XPath over a frame's message (EVT bound). Caller frees. */
static char *xpath_string(xmlDocPtr doc, const char *expr)
{
    xmlXPathContextPtr xc = xmlXPathNewContext(doc);
    xmlXPathObjectPtr res;
    xmlChar *s;
    char *out;

    assert_non_null(xc);
    assert_int_equal(xmlXPathRegisterNs(xc, BAD_CAST "EVT", BAD_CAST SOAP_NS_EVT), 0);
    res = xmlXPathEvalExpression(BAD_CAST expr, xc);
    assert_non_null(res);
    s = xmlXPathCastToString(res);
    out = strdup((const char *)s);
    xmlFree(s);
    xmlXPathFreeObject(res);
    xmlXPathFreeContext(xc);
    return out;
}

static void assert_xpath(xmlDocPtr doc, const char *expr, const char *want)
{
    char *got = xpath_string(doc, expr);

    assert_string_equal(got, want);
    free(got);
}

static xmlDocPtr frame_parse(const uint8_t *frame, size_t len)
{
    uint32_t be;
    xmlDocPtr doc;

    assert_true(len > 8);
    assert_memory_equal(frame, "CETP", 4);
    memcpy(&be, frame + 4, 4);
    assert_int_equal(ntohl(be), len - 8);
    doc = xmlReadMemory((const char *)frame + 8, (int)(len - 8), NULL, NULL, XML_PARSE_NONET);
    assert_non_null(doc);
    return doc;
}

static void frame_is_magic_big_endian_length_and_event(void **state)
{
    struct evt_param params[] = {
        {"CardHandle", "0123abcd"},
        {"CardType", "EGK"},
        {"ICCSN", "80276883110000095711"},
        {"CtID", "ct1"},
        {"SlotID", "3"},
        {"InsertTime", "2026-11-29T08:51:17Z"},
        {"CardHolderName", "Müller & <Söhne>"},
        {"KVNR", "X110411675"},
    };
    struct evt_event ev = {.topic = "CARD/INSERTED",
                           .type = EVT_TYPE_OPERATION,
                           .severity = EVT_SEVERITY_INFO,
                           .params = params,
                           .n_params = ARRAY_SIZE(params)};
    xmlDocPtr doc = services__event_doc_new(&ev), parsed;
    uint8_t *frame = NULL;
    size_t len = 0;

    assert_non_null(doc);
    assert_int_equal(services__event_frame(doc, "sub-1", &frame, &len), 0);
    parsed = frame_parse(frame, len);
    assert_string_equal((const char *)xmlDocGetRootElement(parsed)->name, "Event");
    assert_string_equal((const char *)xmlDocGetRootElement(parsed)->ns->href, SOAP_NS_EVT);
    assert_xpath(parsed, "/EVT:Event/EVT:Topic", "CARD/INSERTED");
    assert_xpath(parsed, "/EVT:Event/EVT:Type", "Operation");
    assert_xpath(parsed, "/EVT:Event/EVT:Severity", "Info");
    assert_xpath(parsed, "/EVT:Event/EVT:SubscriptionID", "sub-1");
    assert_xpath(parsed, "count(/EVT:Event/EVT:Message/EVT:Parameter)", "8");
    assert_xpath(parsed, "/EVT:Event/EVT:Message/EVT:Parameter[EVT:Key='CardHolderName']/EVT:Value",
                 "Müller & <Söhne>");
    assert_xpath(parsed, "/EVT:Event/EVT:Message/EVT:Parameter[7]/EVT:Key", "CardHolderName");
    /* The element order of EventService.xsd. */
    assert_xpath(parsed, "name(/EVT:Event/*[1])", "EVT:Topic");
    assert_xpath(parsed, "name(/EVT:Event/*[4])", "EVT:SubscriptionID");
    assert_xpath(parsed, "name(/EVT:Event/*[5])", "EVT:Message");
    xmlFreeDoc(parsed);
    free(frame);
    /* The same document framed for another subscription carries only that id. */
    assert_int_equal(services__event_frame(doc, "sub-2", &frame, &len), 0);
    parsed = frame_parse(frame, len);
    assert_xpath(parsed, "/EVT:Event/EVT:SubscriptionID", "sub-2");
    xmlFreeDoc(parsed);
    free(frame);
    xmlFreeDoc(doc);
}

static void event_without_parameters_has_empty_message(void **state)
{
    struct evt_event ev = {.topic = "BOOTUP/BOOTUP_COMPLETE",
                           .type = EVT_TYPE_OPERATION,
                           .severity = EVT_SEVERITY_INFO};
    xmlDocPtr doc = services__event_doc_new(&ev), parsed;
    uint8_t *frame = NULL;
    size_t len = 0;

    assert_int_equal(services__event_frame(doc, "s", &frame, &len), 0);
    parsed = frame_parse(frame, len);
    assert_xpath(parsed, "count(/EVT:Event/EVT:Message)", "1");
    assert_xpath(parsed, "count(/EVT:Event/EVT:Message/*)", "0");
    xmlFreeDoc(parsed);
    free(frame);
    xmlFreeDoc(doc);
}

static void bad_bytes_in_values_become_question_marks(void **state)
{
    struct evt_param params[] = {{"A", "ok\x01\x7f-\xff\xfe-\xc3\xa4"}, {"B", "tab\there\r\n"}};
    struct evt_event ev = {.topic = "X/Y",
                           .type = EVT_TYPE_SECURITY,
                           .severity = EVT_SEVERITY_FATAL,
                           .params = params,
                           .n_params = ARRAY_SIZE(params)};
    xmlDocPtr doc = services__event_doc_new(&ev), parsed;
    uint8_t *frame = NULL;
    size_t len = 0;

    assert_int_equal(services__event_frame(doc, "s", &frame, &len), 0);
    parsed = frame_parse(frame, len);
    assert_xpath(parsed, "/EVT:Event/EVT:Message/EVT:Parameter[1]/EVT:Value",
                 "ok?\x7f-?"
                 "?-\xc3\xa4");
    assert_xpath(parsed, "/EVT:Event/EVT:Type", "Security");
    assert_xpath(parsed, "/EVT:Event/EVT:Severity", "Fatal");
    xmlFreeDoc(parsed);
    free(frame);
    xmlFreeDoc(doc);
}

static void internal_topics_never_leave_the_connector(void **state)
{
    static const char *const public_topics[] = {
        "CARD/INSERTED",          "CARD/REMOVED",
        "CT/CONNECTED",           "CT/DISCONNECTED",
        "BOOTUP/BOOTUP_COMPLETE", "OPERATIONAL_STATE/EC_LOG_OVERFLOW",
        "NETWORK/VPN_TI/UP",      "MGM/LU_CHANGED/LU_ONLINE",
        "KSR/UPDATES_AVAILABLE",
    };
    static const char *const internal_topics[] = {
        "MGM/INFOMODEL_CHANGED", "MGM/LOGIN",    "MGM/LOGIN_FAILED",
        "MGM/ADMINCHANGES",      "SYSLOG",       "SYSLOG/services",
        "LOG/EVICTED",           "USER/admin",   "NK/FIREWALL/DROP",
        "CT/SLOT_IN_USE",        "CT/SLOT_FREE",
    };

    for (size_t i = 0; i < ARRAY_SIZE(public_topics); i++)
        assert_true(services__topic_is_public(public_topics[i]));
    for (size_t i = 0; i < ARRAY_SIZE(internal_topics); i++)
        assert_false(services__topic_is_public(internal_topics[i]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(frame_is_magic_big_endian_length_and_event),
        cmocka_unit_test(event_without_parameters_has_empty_message),
        cmocka_unit_test(bad_bytes_in_values_become_question_marks),
        cmocka_unit_test(internal_topics_never_leave_the_connector),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
