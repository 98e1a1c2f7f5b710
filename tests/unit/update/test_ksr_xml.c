/* Unit tests for ksr_xml.c: the list_Updates request and answer, good, malformed and hostile
 * answers (Konfigurationsdienst.xsd's shape, limits, DTDs, faults). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "update/update.h"

#define ENV_START                                                                                  \
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"                                                   \
    "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" "                           \
    "xmlns:K=\"http://ws.gematik.de/ksr/v1.1\"><s:Body>"
#define ENV_END "</s:Body></s:Envelope>"

#define UPDATE_START(version, prio)                                                                \
    "<K:UpdateInformation><K:UpdateID>u_1</K:UpdateID><K:ProductVendorID>KONND</"                  \
    "K:ProductVendorID>"                                                                           \
    "<K:ProductCode>konnektd</K:ProductCode><K:HWVersion>1.0.0</K:HWVersion>"                      \
    "<K:ProductName>konnektord</K:ProductName><K:CreationDate>2026-11-29</K:CreationDate>"         \
    "<K:DeploymentInformation><K:Deadline>2026-12-31</K:Deadline></K:DeploymentInformation>"       \
    "<K:Firmware><K:FWVersion>" version "</K:FWVersion><K:FWPriority>" prio "</K:FWPriority>"
#define FILE_ENTRY(name, size)                                                                     \
    "<K:Firmwarefiles><K:Filename>" name "</K:Filename><K:FileSize>" size                          \
    "</K:FileSize><K:Notes>n</K:Notes></K:Firmwarefiles>"
#define UPDATE_END                                                                                 \
    "<K:FirmwareReleaseNotes>PTV3: NFDM</K:FirmwareReleaseNotes></K:Firmware>"                     \
    "<K:UpdateInformationSignature/></K:UpdateInformation>"

static const char good[] = ENV_START
    "<K:listUpdatesResponse><K:FirmwareGroupReleaseNotes>group "
    "7</K:FirmwareGroupReleaseNotes>" UPDATE_START("3.5.0", "Kritisch")
        FILE_ENTRY("konnektord-3.5.0.kbundle", "123456") UPDATE_END UPDATE_START("3.6.1", "Normal")
            UPDATE_END "</K:listUpdatesResponse>" ENV_END;

static int parse(const char *xml, struct upd_ksr_list **ret, char *err, size_t size)
{
    return upd_ksr_response_parse(xml, strlen(xml), ret, err, size);
}

static void response_good_is_read_field_by_field(void **state)
{
    struct upd_ksr_list *l = NULL;
    char err[256] = "";

    assert_int_equal(parse(good, &l, err, sizeof(err)), 0);
    assert_string_equal(l->group_release_notes, "group 7");
    assert_int_equal(l->n_updates, 2);
    assert_string_equal(l->updates[0].update_id, "u_1");
    assert_string_equal(l->updates[0].product_vendor_id, "KONND");
    assert_string_equal(l->updates[0].product_code, "konnektd");
    assert_string_equal(l->updates[0].fw_version, "3.5.0");
    assert_true(l->updates[0].critical);
    assert_string_equal(l->updates[0].deadline, "2026-12-31");
    assert_string_equal(l->updates[0].start_date, "");
    assert_int_equal(l->updates[0].n_files, 1);
    assert_string_equal(l->updates[0].files[0].name, "konnektord-3.5.0.kbundle");
    assert_int_equal(l->updates[0].files[0].size, 123456);
    assert_string_equal(l->updates[0].release_notes, "PTV3: NFDM");
    assert_false(l->updates[1].critical);
    assert_int_equal(l->updates[1].n_files, 0);
    l = upd_ksr_list_free(l);
    assert_null(l);
}

static void response_round_trips_through_the_writer(void **state)
{
    struct upd_ksr_list *l = NULL, *again = NULL;
    char *xml = NULL;
    size_t len = 0;

    assert_int_equal(parse(good, &l, NULL, 0), 0);
    assert_int_equal(upd_ksr_response_format(l, &xml, &len), 0);
    assert_int_equal(upd_ksr_response_parse(xml, len, &again, NULL, 0), 0);
    assert_int_equal(again->n_updates, 2);
    assert_string_equal(again->updates[0].files[0].name, "konnektord-3.5.0.kbundle");
    assert_string_equal(again->updates[0].deadline, "2026-12-31");
    assert_true(again->updates[0].critical);
    free(xml);
    upd_ksr_list_free(l);
    upd_ksr_list_free(again);
}

static void response_empty_list_is_fine(void **state)
{
    struct upd_ksr_list *l = NULL;

    assert_int_equal(parse(ENV_START "<K:listUpdatesResponse/>" ENV_END, &l, NULL, 0), 0);
    assert_int_equal(l->n_updates, 0);
    assert_null(l->group_release_notes);
    upd_ksr_list_free(l);
}

static void response_malformed_is_refused_with_the_element(void **state)
{
    static const struct {
        const char *xml, *why;
    } cases[] = {
        {ENV_START "<K:listUpdatesResponse>" UPDATE_START("3.5", "Normal") UPDATE_END
         "</K:listUpdatesResponse>" ENV_END,
         "FWVersion"},
        {ENV_START "<K:listUpdatesResponse>" UPDATE_START("3.5.0", "Dringend") UPDATE_END
         "</K:listUpdatesResponse>" ENV_END,
         "FWPriority"},
        {ENV_START "<K:listUpdatesResponse>" UPDATE_START("3.5.0", "Normal")
             FILE_ENTRY("../../etc/passwd", "1") UPDATE_END "</K:listUpdatesResponse>" ENV_END,
         "Filename"},
        {ENV_START "<K:listUpdatesResponse>" UPDATE_START("3.5.0", "Normal")
             FILE_ENTRY("a.kbundle", "-1") UPDATE_END "</K:listUpdatesResponse>" ENV_END,
         "FileSize"},
        {ENV_START "<K:listUpdatesResponse>" UPDATE_START("3.5.0", "Normal")
             FILE_ENTRY("a.kbundle", "12345678901") UPDATE_END "</K:listUpdatesResponse>" ENV_END,
         "FileSize"},
        {ENV_START "<K:listUpdatesResponse><K:Extra/></K:listUpdatesResponse>" ENV_END, "Extra"},
        {ENV_START "<K:listUpdatesResponse>text</K:listUpdatesResponse>" ENV_END, "text"},
        {ENV_START "<K:listUpdatesRequest/>" ENV_END, "listUpdatesResponse"},
        {ENV_START "<listUpdatesResponse/>" ENV_END, "namespace"},
        {"<notxml", "well-formed"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct upd_ksr_list *l = NULL;
        char err[256] = "";
        int r = parse(cases[i].xml, &l, err, sizeof(err));

        if (r != -EBADMSG)
            fail_msg("case %zu: %d (%s)", i, r, err);
        assert_null(l);
        assert_true(err[0] != '\0');
    }
}

static void response_hostile_xml_is_refused(void **state)
{
    static const char *const cases[] = {
        "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>"
        "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>&e;"
        "</s:Body></s:Envelope>",
        "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b "
        "\"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]><x>&b;</x>",
    };
    char deep[8192] = ENV_START;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct upd_ksr_list *l = NULL;

        assert_int_equal(parse(cases[i], &l, NULL, 0), -EBADMSG);
        assert_null(l);
    }
    for (int i = 0; i < 500; i++)
        strcat(deep, "<a>");
    {
        struct upd_ksr_list *l = NULL;

        assert_int_equal(parse(deep, &l, NULL, 0), -EBADMSG);
    }
}

static void response_oversized_is_refused_before_parsing(void **state)
{
    size_t len = UPD_KSR_RESPONSE_MAX + 1;
    char *big = malloc(len);
    struct upd_ksr_list *l = NULL;
    char err[128];

    assert_non_null(big);
    memset(big, ' ', len);
    assert_int_equal(upd_ksr_response_parse(big, len, &l, err, sizeof(err)), -EBADMSG);
    assert_non_null(strstr(err, "bytes"));
    free(big);
}

static void response_fault_is_eproto_with_its_text(void **state)
{
    struct upd_ksr_list *l = NULL;
    char err[256];

    assert_int_equal(parse(ENV_START "<s:Fault><faultcode>s:Server</faultcode><faultstring>no "
                                     "such product</faultstring></s:Fault>" ENV_END,
                           &l, err, sizeof(err)),
                     -EPROTO);
    assert_non_null(strstr(err, "no such product"));
}

static void request_round_trips(void **state)
{
    struct upd_ksr_identity id = {"KONND", "konnektd", "1.0.0", "2.1.0"}, back;
    char *xml = NULL, err[128] = "";
    size_t len = 0;

    assert_int_equal(upd_ksr_request_format(&id, &xml, &len), 0);
    assert_non_null(strstr(xml, "<KSR:FWVersion>2.1.0</KSR:FWVersion>"));
    assert_int_equal(upd_ksr_request_parse(xml, len, &back, err, sizeof(err)), 0);
    assert_string_equal(back.product_vendor_id, "KONND");
    assert_string_equal(back.product_code, "konnektd");
    assert_string_equal(back.hw_version, "1.0.0");
    assert_string_equal(back.fw_version, "2.1.0");
    free(xml);
    assert_int_equal(upd_ksr_request_parse(ENV_START "<K:listUpdatesRequest/>" ENV_END,
                                           strlen(ENV_START "<K:listUpdatesRequest/>" ENV_END),
                                           &back, err, sizeof(err)),
                     -EBADMSG);
}

static void versions_compare_numerically(void **state)
{
    assert_true(upd_version_compare("3.10.0", "3.9.9") > 0);
    assert_true(upd_version_compare("2.0.0", "10.0.0") < 0);
    assert_int_equal(upd_version_compare("1.2.3", "1.2.3"), 0);
    assert_true(upd_version_is_valid("999.0.1"));
    assert_false(upd_version_is_valid("1.2"));
    assert_false(upd_version_is_valid("1.2.3.4"));
    assert_false(upd_version_is_valid("1000.0.0"));
    assert_false(upd_version_is_valid(""));
    assert_true(upd_file_name_is_safe("konnektord-3.5.0.kbundle"));
    assert_false(upd_file_name_is_safe(".."));
    assert_false(upd_file_name_is_safe("a/b"));
    assert_false(upd_file_name_is_safe(""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(response_good_is_read_field_by_field),
        cmocka_unit_test(response_round_trips_through_the_writer),
        cmocka_unit_test(response_empty_list_is_fine),
        cmocka_unit_test(response_malformed_is_refused_with_the_element),
        cmocka_unit_test(response_hostile_xml_is_refused),
        cmocka_unit_test(response_oversized_is_refused_before_parsing),
        cmocka_unit_test(response_fault_is_eproto_with_its_text),
        cmocka_unit_test(request_round_trips),
        cmocka_unit_test(versions_compare_numerically),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
