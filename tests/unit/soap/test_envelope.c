/* Unit tests for soap's safe parser (src/soap/envelope.c): SOAP 1.1 envelopes with any
 * prefixes, refusals of SOAP 1.2, DTDs (XXE, billion laughs), deep nesting, other encodings,
 * and the call context. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "soap/soap_internal.h"

#define NS_EVT "http://ws.gematik.de/conn/EventService/v7.2"

#define CONTEXT                                                                                    \
    "<CCTX:Context xmlns:CCTX='" SOAP_NS_CCTX "' xmlns:CONN='" SOAP_NS_CONN "'>"                   \
    "<CONN:MandantId>m1</CONN:MandantId><CONN:ClientSystemId>cs1</CONN:ClientSystemId>"            \
    "<CONN:WorkplaceId>ws1</CONN:WorkplaceId></CCTX:Context>"

#define GET_CARDS                                                                                  \
    "<?xml version='1.0' encoding='UTF-8'?>"                                                       \
    "<soapenv:Envelope xmlns:soapenv='" SOAP_NS_ENV "'><soapenv:Header/><soapenv:Body>"            \
    "<evt:GetCards xmlns:evt='" NS_EVT "' mandant-wide='true'>" CONTEXT                            \
    "<evt:CardType>SMC-B</evt:CardType></evt:GetCards></soapenv:Body></soapenv:Envelope>"

static struct soap__request req;
static struct soap__refusal why;

static int teardown(void **state)
{
    soap__request_done(&req);
    return 0;
}

static int parse(const char *xml)
{
    memset(&why, 0, sizeof(why));
    return soap__envelope_parse(xml, strlen(xml), &req, &why);
}

static void expect_refusal(const char *xml, int code, const char *detail_part)
{
    int r = parse(xml);

    if (r == 0)
        fail_msg("accepted: %s", xml);
    assert_int_equal(why.code, code);
    if (detail_part && !strstr(why.detail, detail_part))
        fail_msg("detail '%s' does not mention '%s'", why.detail, detail_part);
    assert_null(req.doc);
}

/* A one-operation envelope around body (with the soap prefix "s"). */
static char *wrap(const char *body)
{
    static char buf[8192];

    (void)snprintf(buf, sizeof(buf), "<s:Envelope xmlns:s='%s'><s:Body>%s</s:Body></s:Envelope>",
                   SOAP_NS_ENV, body);
    return buf;
}

/* ---- envelopes -------------------------------------------------------------------------- */

static void get_cards_with_prefixes_yields_operation_and_context(void **state)
{
    assert_int_equal(parse(GET_CARDS), 0);
    assert_string_equal(req.ns, NS_EVT);
    assert_string_equal(req.name, "GetCards");
    assert_true(req.context.present);
    assert_string_equal(req.context.mandant_id, "m1");
    assert_string_equal(req.context.client_system_id, "cs1");
    assert_string_equal(req.context.workplace_id, "ws1");
    assert_string_equal(req.context.user_id, "");
    assert_string_equal(soap_child_text(req.op, NS_EVT, "CardType"), "SMC-B");
    assert_null(soap_child_text(req.op, NS_EVT, "CtId"));
    assert_string_equal(soap_attr(req.op, "mandant-wide"), "true");
    assert_null(soap_attr(req.op, "nope"));
}

static void default_namespaces_work_as_well_as_prefixes(void **state)
{
    const char *xml = "<Envelope xmlns='" SOAP_NS_ENV "'><Body><GetCards xmlns='" NS_EVT "'>"
                      "<Context xmlns='" SOAP_NS_CCTX "'><MandantId xmlns='" SOAP_NS_CONN
                      "'>m1</MandantId><ClientSystemId xmlns='" SOAP_NS_CONN
                      "'>cs1</ClientSystemId><WorkplaceId xmlns='" SOAP_NS_CONN
                      "'>ws1</WorkplaceId><UserId xmlns='" SOAP_NS_CONN "'>u1</UserId>"
                      "</Context></GetCards></Body></Envelope>";

    assert_int_equal(parse(xml), 0);
    assert_string_equal(req.name, "GetCards");
    assert_string_equal(req.context.mandant_id, "m1");
    assert_string_equal(req.context.user_id, "u1");
}

static void whitespace_comments_and_crlf_are_fine(void **state)
{
    const char *xml = "\xef\xbb\xbf<?xml version='1.0' encoding='utf-8'?>\r\n<!-- hello -->\r\n"
                      "<s:Envelope xmlns:s='" SOAP_NS_ENV "'>\r\n  <s:Body>\r\n    "
                      "<e:Op xmlns:e='urn:x'><e:V>a<!-- c -->b</e:V><e:W><![CDATA[<x>]]></e:W>"
                      "</e:Op>\r\n  </s:Body>\r\n</s:Envelope>\r\n";

    assert_int_equal(parse(xml), 0);
    assert_string_equal(req.name, "Op");
    assert_false(req.context.present);
    /* Comments dropped, text merged, CDATA as text. */
    assert_string_equal(soap_child_text(req.op, "urn:x", "V"), "ab");
    assert_string_equal(soap_child_text(req.op, "urn:x", "W"), "<x>");
}

static void soap12_is_refused_with_a_clear_text(void **state)
{
    expect_refusal("<e:Envelope xmlns:e='http://www.w3.org/2003/05/soap-envelope'><e:Body>"
                   "<x:Op xmlns:x='urn:x'/></e:Body></e:Envelope>",
                   4000, "SOAP 1.2 is not supported");
}

static void other_roots_and_bodies_are_refused(void **state)
{
    expect_refusal("<Envelope><Body/></Envelope>", 4000, "not a SOAP 1.1 envelope");
    expect_refusal("<s:Envelope xmlns:s='" SOAP_NS_ENV "'/>", 4000, "no soap:Body");
    expect_refusal(wrap(""), 4000, "soap:Body is empty");
    expect_refusal(wrap("<x:A xmlns:x='urn:x'/><x:B xmlns:x='urn:x'/>"), 4000, "exactly one");
    expect_refusal(wrap("<A/>"), 4000, "no namespace");
    expect_refusal(wrap("text<x:A xmlns:x='urn:x'/>"), 4000, "text outside");
    expect_refusal("<s:Envelope xmlns:s='" SOAP_NS_ENV "'><s:Body><x:A xmlns:x='urn:x'/>"
                   "</s:Body><s:Header/></s:Envelope>",
                   4000, "unexpected element 'Header'");
    expect_refusal("<s:Envelope xmlns:s='" SOAP_NS_ENV "'><s:Body><x:A xmlns:x='urn:x'/>"
                   "</s:Body><s:Body/></s:Envelope>",
                   4000, "unexpected element 'Body'");
}

static void malformed_xml_and_empty_bodies_are_refused(void **state)
{
    expect_refusal(wrap("<x:A xmlns:x='urn:x'>"), 4000, "not well-formed XML (line 1");
    expect_refusal("", 4000, "no body");
    expect_refusal("   ", 4000, NULL);
    expect_refusal(wrap("<x:A xmlns:x='urn:x'>&undefined;</x:A>"), 4000, NULL);
}

static void must_understand_headers_are_refused_others_ignored(void **state)
{
    const char *ok = "<s:Envelope xmlns:s='" SOAP_NS_ENV "'><s:Header><w:To xmlns:w='urn:w'>"
                     "x</w:To><w:Id xmlns:w='urn:w' s:mustUnderstand='0'/></s:Header>"
                     "<s:Body><x:A xmlns:x='urn:x'/></s:Body></s:Envelope>";
    const char *mu = "<s:Envelope xmlns:s='" SOAP_NS_ENV "'><s:Header><w:Sec xmlns:w='urn:w' "
                     "s:mustUnderstand='1'/></s:Header><s:Body><x:A xmlns:x='urn:x'/></s:Body>"
                     "</s:Envelope>";

    assert_int_equal(parse(ok), 0);
    soap__request_done(&req);
    expect_refusal(mu, 4000, "'Sec' must be understood");
    assert_true(why.must_understand);
}

static void processing_instructions_are_refused(void **state)
{
    expect_refusal(wrap("<?evil stuff?><x:A xmlns:x='urn:x'/>"), 4000, "processing instructions");
}

/* ---- hostile documents ------------------------------------------------------------------ */

static void doctype_is_refused(void **state)
{
    expect_refusal("<!DOCTYPE s:Envelope><s:Envelope xmlns:s='" SOAP_NS_ENV "'><s:Body>"
                   "<x:A xmlns:x='urn:x'/></s:Body></s:Envelope>",
                   4000, "DOCTYPE");
}

static void xxe_is_refused_without_reading_the_file(void **state)
{
    expect_refusal("<?xml version='1.0'?><!DOCTYPE r [<!ENTITY xxe SYSTEM 'file:///etc/passwd'>]>"
                   "<s:Envelope xmlns:s='" SOAP_NS_ENV "'><s:Body><x:A xmlns:x='urn:x'>&xxe;"
                   "</x:A></s:Body></s:Envelope>",
                   4000, "DOCTYPE");
    expect_refusal(
        "<!DOCTYPE r SYSTEM 'http://192.0.2.1/evil.dtd'><s:Envelope xmlns:s='" SOAP_NS_ENV
        "'><s:Body><x:A xmlns:x='urn:x'/></s:Body></s:Envelope>",
        4000, "DOCTYPE");
}

static void billion_laughs_is_refused_quickly(void **state)
{
    char xml[4096];
    size_t n = 0;
    int64_t start = clock_real_mono_ms();

    n += (size_t)snprintf(xml + n, sizeof(xml) - n, "<!DOCTYPE lolz [<!ENTITY lol 'lol'>");
    for (int i = 1; i < 10; i++) {
        char prev[8];

        if (i == 1)
            (void)str_copy(prev, sizeof(prev), "lol");
        else
            (void)snprintf(prev, sizeof(prev), "lol%d", i - 1);
        n += (size_t)snprintf(xml + n, sizeof(xml) - n, "<!ENTITY lol%d '", i);
        for (int j = 0; j < 10; j++)
            n += (size_t)snprintf(xml + n, sizeof(xml) - n, "&%s;", prev);
        n += (size_t)snprintf(xml + n, sizeof(xml) - n, "'>");
    }
    n += (size_t)snprintf(xml + n, sizeof(xml) - n,
                          "]><s:Envelope xmlns:s='%s'><s:Body><x:A xmlns:x='urn:x'>&lol9;</x:A>"
                          "</s:Body></s:Envelope>",
                          SOAP_NS_ENV);
    expect_refusal(xml, 4000, "DOCTYPE");
    assert_true(clock_real_mono_ms() - start < 1000);
}

static char *nested(size_t depth)
{
    size_t cap = strlen(SOAP_NS_ENV) + 128 + depth * 16;
    char *xml = malloc(cap);
    size_t n;

    assert_non_null(xml);
    n = (size_t)snprintf(xml, cap, "<s:Envelope xmlns:s='%s'><s:Body><x:A xmlns:x='urn:x'>",
                         SOAP_NS_ENV);
    for (size_t i = 0; i < depth; i++)
        n += (size_t)snprintf(xml + n, cap - n, "<x:d>");
    for (size_t i = 0; i < depth; i++)
        n += (size_t)snprintf(xml + n, cap - n, "</x:d>");
    (void)snprintf(xml + n, cap - n, "</x:A></s:Body></s:Envelope>");
    return xml;
}

static void ten_thousand_deep_nesting_is_refused_quickly(void **state)
{
    char *xml = nested(10000);
    int64_t start = clock_real_mono_ms();

    expect_refusal(xml, 4000, "deeper than 100");
    assert_true(clock_real_mono_ms() - start < 1000);
    free(xml);
}

static void depth_up_to_the_limit_is_accepted(void **state)
{
    /* Envelope, Body and A are three levels; 97 more make 100. */
    char *ok = nested(SOAP__DEPTH_MAX - 3), *over = nested(SOAP__DEPTH_MAX - 2);

    assert_int_equal(parse(ok), 0);
    soap__request_done(&req);
    expect_refusal(over, 4000, "deeper than 100");
    free(over);
    free(ok);
}

static void other_encodings_are_refused(void **state)
{
    static const char utf16[] = "\xff\xfe<\0s\0";

    expect_refusal("<?xml version='1.0' encoding='ISO-8859-1'?>"
                   "<s:Envelope xmlns:s='" SOAP_NS_ENV "'><s:Body><x:A xmlns:x='urn:x'>\xe4"
                   "</x:A></s:Body></s:Envelope>",
                   4000, "declares 'ISO-8859-1'");
    assert_int_equal(soap__envelope_parse(utf16, sizeof(utf16) - 1, &req, &why), -EBADMSG);
    assert_int_equal(why.code, 4000);
    assert_non_null(strstr(why.detail, "UTF-16"));
    /* Undeclared but not UTF-8. */
    expect_refusal(wrap("<x:A xmlns:x='urn:x'>\xe4</x:A>"), 4000, "not well-formed");
}

static void oversize_documents_are_4280(void **state)
{
    size_t len = SOAP_DOCUMENT_MAX + 1;
    char *big = calloc(1, len);

    assert_non_null(big);
    assert_int_equal(soap__envelope_parse(big, len, &req, &why), -E2BIG);
    assert_int_equal(why.code, 4280);
    free(big);
}

/* ---- call context ----------------------------------------------------------------------- */

static char *with_context(const char *fields)
{
    static char buf[8192];
    char op[7000];

    (void)snprintf(op, sizeof(op),
                   "<x:Op xmlns:x='urn:x'><c:Context xmlns:c='%s' xmlns:n='%s'>%s</c:Context>"
                   "</x:Op>",
                   SOAP_NS_CCTX, SOAP_NS_CONN, fields);
    (void)snprintf(buf, sizeof(buf), "%s", wrap(op));
    return buf;
}

static void missing_fields_leave_empty_strings(void **state)
{
    assert_int_equal(parse(with_context("<n:MandantId>m1</n:MandantId>")), 0);
    assert_true(req.context.present);
    assert_string_equal(req.context.mandant_id, "m1");
    assert_string_equal(req.context.workplace_id, "");
}

static void sixty_four_characters_fit_sixty_five_do_not(void **state)
{
    char fields[512], id[70];

    memset(id, 'a', 64);
    id[64] = '\0';
    (void)snprintf(fields, sizeof(fields), "<n:MandantId>%s</n:MandantId>", id);
    assert_int_equal(parse(with_context(fields)), 0);
    assert_string_equal(req.context.mandant_id, id);
    soap__request_done(&req);
    id[64] = 'a';
    id[65] = '\0';
    (void)snprintf(fields, sizeof(fields), "<n:WorkplaceId>%s</n:WorkplaceId>", id);
    expect_refusal(with_context(fields), 4000, "Context/WorkplaceId is longer than 64");
}

static void multibyte_ids_over_64_bytes_are_refused(void **state)
{
    char fields[512];
    size_t n = (size_t)snprintf(fields, sizeof(fields), "<n:UserId>");

    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(fields + n, sizeof(fields) - n, "\xc3\xa4");
    (void)snprintf(fields + n, sizeof(fields) - n, "</n:UserId>");
    expect_refusal(with_context(fields), 4000, "64 bytes");
}

static void unknown_duplicate_and_nested_context_elements_are_refused(void **state)
{
    expect_refusal(with_context("<n:Foo>x</n:Foo>"), 4000, "unexpected element 'Foo'");
    expect_refusal(with_context("<n:MandantId>a</n:MandantId><n:MandantId>b</n:MandantId>"), 4000,
                   "more than one MandantId");
    expect_refusal(with_context("<n:MandantId><n:X/></n:MandantId>"), 4000, "text only");
    expect_refusal(with_context("<MandantId>a</MandantId>"), 4000, "unexpected element");
    expect_refusal(wrap("<x:Op xmlns:x='urn:x'><c:Context xmlns:c='" SOAP_NS_CCTX "'/>"
                        "<c:Context xmlns:c='" SOAP_NS_CCTX "'/></x:Op>"),
                   4000, "more than one CCTX:Context");
}

static void context_elsewhere_than_a_direct_child_is_not_the_context(void **state)
{
    assert_int_equal(parse(wrap("<x:Op xmlns:x='urn:x'><x:In><c:Context xmlns:c='" SOAP_NS_CCTX
                                "'/></x:In></x:Op>")),
                     0);
    assert_false(req.context.present);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(get_cards_with_prefixes_yields_operation_and_context, teardown),
        cmocka_unit_test_teardown(default_namespaces_work_as_well_as_prefixes, teardown),
        cmocka_unit_test_teardown(whitespace_comments_and_crlf_are_fine, teardown),
        cmocka_unit_test_teardown(soap12_is_refused_with_a_clear_text, teardown),
        cmocka_unit_test_teardown(other_roots_and_bodies_are_refused, teardown),
        cmocka_unit_test_teardown(malformed_xml_and_empty_bodies_are_refused, teardown),
        cmocka_unit_test_teardown(must_understand_headers_are_refused_others_ignored, teardown),
        cmocka_unit_test_teardown(processing_instructions_are_refused, teardown),
        cmocka_unit_test_teardown(doctype_is_refused, teardown),
        cmocka_unit_test_teardown(xxe_is_refused_without_reading_the_file, teardown),
        cmocka_unit_test_teardown(billion_laughs_is_refused_quickly, teardown),
        cmocka_unit_test_teardown(ten_thousand_deep_nesting_is_refused_quickly, teardown),
        cmocka_unit_test_teardown(depth_up_to_the_limit_is_accepted, teardown),
        cmocka_unit_test_teardown(other_encodings_are_refused, teardown),
        cmocka_unit_test_teardown(oversize_documents_are_4280, teardown),
        cmocka_unit_test_teardown(missing_fields_leave_empty_strings, teardown),
        cmocka_unit_test_teardown(sixty_four_characters_fit_sixty_five_do_not, teardown),
        cmocka_unit_test_teardown(multibyte_ids_over_64_bytes_are_refused, teardown),
        cmocka_unit_test_teardown(unknown_duplicate_and_nested_context_elements_are_refused,
                                  teardown),
        cmocka_unit_test_teardown(context_elsewhere_than_a_direct_child_is_not_the_context,
                                  teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
