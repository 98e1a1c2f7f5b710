/* Unit tests for connector.sds (src/soap/sds.c): the document validates against
 * ServiceDirectory.xsd and lists exactly the registered services and endpoints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "soap/soap_internal.h"
#include "soap_test.h"

static const struct soap_service services[] = {
    {"EventService", "Events and card information",
     "http://ws.gematik.de/conn/EventService/WSDL/v7.2", "7.2.0", "/ws/EventService",
     "/ws/EventService.wsdl", NULL},
    {"CardService", "Cards and PINs", "http://ws.gematik.de/conn/CardService/WSDL/v8.1", "8.1.2",
     "/ws/CardService", NULL, NULL},
    {"EventService", "Events and card information",
     "http://ws.gematik.de/conn/EventService/WSDL/v6.1", "6.1.1", "/ws/EventService61", NULL, NULL},
};

static struct soap__sds_info info(unsigned http_port)
{
    return (struct soap__sds_info){
        .services = services,
        .n_services = ARRAY_SIZE(services),
        .tls_mandatory = true,
        .caut_mandatory = false,
        .host = "192.0.2.10",
        .http_port = http_port,
        .https_port = 8443,
        .product_type_version = "5.2.0",
        .firmware_version = "0.1.0",
        .now_ms = 1795942277000LL,
    };
}

static char *format(const struct soap__sds_info *in, xmlBufferPtr *ret_buf)
{
    assert_int_equal(soap__sds_format(in, ret_buf), 0);
    return (char *)xmlBufferContent(*ret_buf);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;

    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void sds_validates_against_service_directory_xsd(void **state)
{
    char path[1024];
    struct soap__sds_info in = info(8080);
    xmlBufferPtr buf = NULL;
    xmlSchemaPtr schema;
    xmlDocPtr doc;

    if (!api_telematik_file("conn/ServiceDirectory.xsd", path, sizeof(path)))
        skip();
    schema = schema_load(path, NULL);
    assert_non_null(schema);
    (void)format(&in, &buf);
    doc = xml_read(xmlBufferContent(buf), (size_t)xmlBufferLength(buf));
    assert_non_null(doc);
    assert_int_equal(schema_validate_doc(schema, doc), 0);
    xmlFreeDoc(doc);
    xmlBufferFree(buf);
    /* Without an HTTP listener too. */
    in = info(0);
    (void)format(&in, &buf);
    doc = xml_read(xmlBufferContent(buf), (size_t)xmlBufferLength(buf));
    assert_int_equal(schema_validate_doc(schema, doc), 0);
    xmlFreeDoc(doc);
    xmlBufferFree(buf);
    xmlSchemaFree(schema);
}

static void services_of_one_name_are_grouped_into_versions(void **state)
{
    struct soap__sds_info in = info(8080);
    xmlBufferPtr buf = NULL;
    const char *xml = format(&in, &buf);

    assert_int_equal(count(xml, "<SI:Service "), 2);
    assert_int_equal(count(xml, "<SI:Version "), 3);
    assert_non_null(strstr(xml, "Name=\"EventService\""));
    assert_non_null(strstr(xml, "Version=\"6.1.1\""));
    xmlBufferFree(buf);
}

static void endpoints_name_host_ports_and_paths(void **state)
{
    struct soap__sds_info in = info(8080);
    xmlBufferPtr buf = NULL;
    const char *xml = format(&in, &buf);

    assert_non_null(
        strstr(xml, "<SI:Endpoint Location=\"http://192.0.2.10:8080/ws/CardService\"/>"));
    assert_non_null(
        strstr(xml, "<SI:EndpointTLS Location=\"https://192.0.2.10:8443/ws/CardService\"/>"));
    assert_non_null(
        strstr(xml, "<SI:WSDL Location=\"https://192.0.2.10:8443/ws/EventService.wsdl\"/>"));
    assert_int_equal(count(xml, "<SI:WSDL "), 1);
    assert_non_null(strstr(xml, "<CONN:TLSMandatory>true</CONN:TLSMandatory>"));
    assert_non_null(strstr(xml, "<CONN:ClientAutMandatory>false</CONN:ClientAutMandatory>"));
    xmlBufferFree(buf);
}

static void no_http_listener_means_no_endpoint_elements(void **state)
{
    struct soap__sds_info in = info(0);
    xmlBufferPtr buf = NULL;
    const char *xml = format(&in, &buf);

    assert_int_equal(count(xml, "<SI:Endpoint "), 0);
    assert_int_equal(count(xml, "<SI:EndpointTLS "), 3);
    xmlBufferFree(buf);
}

static void product_information_comes_from_the_deps(void **state)
{
    struct soap__sds_info in = info(0);
    xmlBufferPtr buf = NULL;
    const char *xml;

    in.host = "[2001:db8::1]";
    xml = format(&in, &buf);
    assert_non_null(strstr(xml, "<PI:InformationDate>2026-11-29T08:51:17Z</PI:InformationDate>"));
    assert_non_null(strstr(xml, "<PI:ProductType>Konnektor</PI:ProductType>"));
    assert_non_null(strstr(xml, "<PI:ProductTypeVersion>5.2.0</PI:ProductTypeVersion>"));
    assert_non_null(strstr(xml, "<PI:FWVersion>0.1.0</PI:FWVersion>"));
    assert_non_null(strstr(xml, "<PI:ProductVendorID>KONND</PI:ProductVendorID>"));
    assert_non_null(strstr(xml, "https://[2001:db8::1]:8443/ws/EventService"));
    xmlBufferFree(buf);
}

static void versions_outside_the_pattern_become_zero(void **state)
{
    struct soap__sds_info in = info(0);
    xmlBufferPtr buf = NULL;
    const char *xml;

    in.firmware_version = "0.1.0-dirty";
    in.product_type_version = NULL;
    xml = format(&in, &buf);
    assert_non_null(strstr(xml, "<PI:FWVersion>0.0.0</PI:FWVersion>"));
    assert_non_null(strstr(xml, "<PI:ProductTypeVersion>0.0.0</PI:ProductTypeVersion>"));
    xmlBufferFree(buf);
    assert_true(soap__version_is_valid("5.0.0"));
    assert_true(soap__version_is_valid("123.45.6"));
    assert_false(soap__version_is_valid("1234.0.0"));
    assert_false(soap__version_is_valid("1.0"));
    assert_false(soap__version_is_valid("1.0.0."));
    assert_false(soap__version_is_valid(".1.0"));
    assert_false(soap__version_is_valid(""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sds_validates_against_service_directory_xsd),
        cmocka_unit_test(services_of_one_name_are_grouped_into_versions),
        cmocka_unit_test(endpoints_name_host_ports_and_paths),
        cmocka_unit_test(no_http_listener_means_no_endpoint_elements),
        cmocka_unit_test(product_information_comes_from_the_deps),
        cmocka_unit_test(versions_outside_the_pattern_become_zero),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
