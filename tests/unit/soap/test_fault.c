/* Unit tests for the SOAP fault writer (src/soap/fault.c): the output validates against the
 * SOAP 1.1 envelope and TelematikError.xsd, and says what the table says. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "soap/soap_internal.h"
#include "soap_test.h"

struct fault_doc {
    xmlBufferPtr buf;
    xmlDocPtr doc;
    char event_id[SOAP__UUID_SIZE];
};

static void fault_make(const struct soap__fault *f, struct fault_doc *fd)
{
    memset(fd, 0, sizeof(*fd));
    assert_int_equal(soap__fault_format(f, &fd->buf, fd->event_id), 0);
    fd->doc = xml_read(xmlBufferContent(fd->buf), (size_t)xmlBufferLength(fd->buf));
    assert_non_null(fd->doc);
}

static void fault_done(struct fault_doc *fd)
{
    xmlFreeDoc(fd->doc);
    xmlBufferFree(fd->buf);
}

/* Text of the first node matching an XPath with prefixes s (envelope) and g (GERROR). */
static char *xpath_text(xmlDocPtr doc, const char *expr)
{
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    xmlXPathObjectPtr res;
    char *text = NULL;

    assert_non_null(ctx);
    (void)xmlXPathRegisterNs(ctx, BAD_CAST "s", BAD_CAST SOAP_NS_ENV);
    (void)xmlXPathRegisterNs(ctx, BAD_CAST "g", BAD_CAST SOAP_NS_GERROR);
    res = xmlXPathEvalExpression(BAD_CAST expr, ctx);
    if (res && res->nodesetval && res->nodesetval->nodeNr > 0)
        text = (char *)xmlNodeGetContent(res->nodesetval->nodeTab[0]);
    xmlXPathFreeObject(res);
    xmlXPathFreeContext(ctx);
    return text;
}

static void expect_text(xmlDocPtr doc, const char *expr, const char *want)
{
    char *got = xpath_text(doc, expr);

    if (!got)
        fail_msg("no node for %s", expr);
    if (strcmp(got, want) != 0)
        fail_msg("%s: got '%s', want '%s'", expr, got, want);
    xmlFree(got);
}

static bool is_uuid(const char *s)
{
    if (strlen(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-')
        return false;
    return s[14] == '4' && strchr("89ab", s[19]);
}

static void fault_validates_against_envelope_and_telematik_error(void **state)
{
    char gerror[1024], envelope[1024], wrapper[4096];
    struct soap__fault f = {
        .code = 4002, .detail = "EC_Security_Log_Not_Writable", .instance = "konnektor"};
    struct fault_doc fd;
    xmlSchemaPtr both, gerror_only;
    xmlDocPtr error_doc;
    xmlNodePtr error_el;

    if (!api_telematik_file("tel/error/TelematikError.xsd", gerror, sizeof(gerror)))
        skip();
    (void)snprintf(envelope, sizeof(envelope), "%s/soap-envelope-1.1.xsd", KONN_SOAP_TEST_DATA);
    (void)snprintf(wrapper, sizeof(wrapper),
                   "<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema' "
                   "targetNamespace='urn:konnektord:test'>"
                   "<xs:import namespace='%s' schemaLocation='%s'/>"
                   "<xs:import namespace='%s' schemaLocation='%s'/></xs:schema>",
                   SOAP_NS_ENV, envelope, SOAP_NS_GERROR, gerror);
    both = schema_load(NULL, wrapper);
    gerror_only = schema_load(gerror, NULL);
    assert_non_null(both);
    assert_non_null(gerror_only);
    fault_make(&f, &fd);
    assert_int_equal(schema_validate_doc(both, fd.doc), 0);
    /* Lax wildcards validate what they know; check GERROR:Error strictly on its own too. */
    error_doc = xmlNewDoc(BAD_CAST "1.0");
    error_el = xmlDocCopyNode(
        xmlDocGetRootElement(fd.doc)->children->children->children->next->next->children, error_doc,
        1);
    assert_non_null(error_el);
    assert_string_equal((const char *)error_el->name, "Error");
    (void)xmlDocSetRootElement(error_doc, error_el);
    assert_int_equal(schema_validate_doc(gerror_only, error_doc), 0);
    xmlFreeDoc(error_doc);
    fault_done(&fd);
    xmlSchemaFree(gerror_only);
    xmlSchemaFree(both);
}

static void trace_carries_the_table_row_and_the_detail(void **state)
{
    struct soap__fault f = {
        .code = 4002, .detail = "EC_Security_Log_Not_Writable", .instance = "konnektor"};
    const struct soap_error_def *d = soap_error_def(4002);
    struct fault_doc fd;
    char *id, *msg;

    fault_make(&f, &fd);
    expect_text(fd.doc, "/s:Envelope/s:Body/s:Fault/faultcode", "soap:Server");
    expect_text(fd.doc, "/s:Envelope/s:Body/s:Fault/faultstring", d->text);
    expect_text(fd.doc, "//g:Trace/g:Code", "4002");
    expect_text(fd.doc, "//g:Trace/g:Severity", "Fatal");
    expect_text(fd.doc, "//g:Trace/g:ErrorType", "Security");
    expect_text(fd.doc, "//g:Trace/g:ErrorText", d->text);
    expect_text(fd.doc, "//g:Trace/g:CompType", "Konnektor");
    expect_text(fd.doc, "//g:Trace/g:Instance", "konnektor");
    expect_text(fd.doc, "//g:Trace/g:Detail", "EC_Security_Log_Not_Writable");
    expect_text(fd.doc, "//g:Trace/g:EventID", fd.event_id);
    expect_text(fd.doc, "//g:Trace/g:LogReference", fd.event_id);
    assert_true(is_uuid(fd.event_id));
    msg = xpath_text(fd.doc, "//g:Error/g:MessageID");
    assert_true(is_uuid(msg));
    assert_string_not_equal(msg, fd.event_id);
    id = xpath_text(fd.doc, "//g:Error/g:Timestamp");
    assert_int_equal(strlen(id), 20);
    assert_int_equal(id[19], 'Z');
    xmlFree(id);
    xmlFree(msg);
    fault_done(&fd);
}

static void input_errors_are_client_faults(void **state)
{
    static const int client[] = {4000, 4021, 4280};
    struct fault_doc fd;

    for (size_t i = 0; i < ARRAY_SIZE(client); i++) {
        struct soap__fault f = {.code = client[i]};

        fault_make(&f, &fd);
        expect_text(fd.doc, "/s:Envelope/s:Body/s:Fault/faultcode", "soap:Client");
        fault_done(&fd);
    }
}

static void explicit_faultcode_wins(void **state)
{
    struct soap__fault f = {.code = 4000, .faultcode = "soap:MustUnderstand"};
    struct fault_doc fd;

    fault_make(&f, &fd);
    expect_text(fd.doc, "/s:Envelope/s:Body/s:Fault/faultcode", "soap:MustUnderstand");
    fault_done(&fd);
}

static void unknown_code_becomes_4001_with_the_number_in_detail(void **state)
{
    struct soap__fault f = {.code = 12345, .detail = "vendor"};
    struct fault_doc fd;

    fault_make(&f, &fd);
    expect_text(fd.doc, "//g:Trace/g:Code", "4001");
    expect_text(fd.doc, "//g:Trace/g:Detail", "unlisted code 12345: vendor");
    fault_done(&fd);
}

static void no_detail_means_no_detail_element(void **state)
{
    struct soap__fault f = {.code = 4001};
    struct fault_doc fd;
    char *d;

    fault_make(&f, &fd);
    d = xpath_text(fd.doc, "//g:Trace/g:Detail");
    assert_null(d);
    expect_text(fd.doc, "//g:Trace/g:Instance", "");
    fault_done(&fd);
}

static void bad_bytes_in_detail_still_give_well_formed_xml(void **state)
{
    struct soap__fault f = {.code = 4000, .detail = "a\xff\x01<b>&\xc3\xa4\xed\xa0\x80"};
    struct fault_doc fd;

    fault_make(&f, &fd); /* parses, or fault_make fails */
    expect_text(fd.doc, "//g:Trace/g:Detail",
                "a?"
                "?<b>&\xc3\xa4?"
                "?"
                "?");
    fault_done(&fd);
}

static void sanitize_cuts_at_character_boundaries(void **state)
{
    char out[4];

    soap__text_sanitize("\xc3\xa4\xc3\xa4", out, sizeof(out));
    assert_string_equal(out, "\xc3\xa4");
    soap__text_sanitize(NULL, out, sizeof(out));
    assert_string_equal(out, "");
    soap__text_sanitize("tab\there", out, sizeof(out));
    assert_string_equal(out, "tab");
}

static void datetime_is_xs_datetime_in_utc(void **state)
{
    char buf[32];

    assert_string_equal(soap_datetime(0, buf, sizeof(buf)), "1970-01-01T00:00:00Z");
    assert_string_equal(soap_datetime(1795942277123LL, buf, sizeof(buf)), "2026-11-29T08:51:17Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fault_validates_against_envelope_and_telematik_error),
        cmocka_unit_test(trace_carries_the_table_row_and_the_detail),
        cmocka_unit_test(input_errors_are_client_faults),
        cmocka_unit_test(explicit_faultcode_wins),
        cmocka_unit_test(unknown_code_becomes_4001_with_the_number_in_detail),
        cmocka_unit_test(no_detail_means_no_detail_element),
        cmocka_unit_test(bad_bytes_in_detail_still_give_well_formed_xml),
        cmocka_unit_test(sanitize_cuts_at_character_boundaries),
        cmocka_unit_test(datetime_is_xs_datetime_in_utc),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
