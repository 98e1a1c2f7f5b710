/* Unit tests for src/services/dpe_document.c: WriteDPE's structure check of DPE_Document.xsd
 * v1.1 accepts a DPE, refuses each kind of deviation, counts field limits in characters, and
 * never echoes the document's content in its reason. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "services/services_internal.h"

#define HEAD                                                                                       \
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"                                                   \
    "<DPE_Document xmlns=\"http://ws.gematik.de/fa/nfds/DPE_Document/v1.1\" "                      \
    "xmlns:NFDM=\"http://ws.gematik.de/fa/nfds/common/NFDM_Common/v1.1\" DPE_Version=\"1.1.0\">"   \
    "<Persoenliche_Erklaerungen ID_DPE=\"1.2.276.0.76.7.9\" "                                      \
    "DPE_letzte_Aktualisierung_time=\"10:15:00\" DPE_letzte_Aktualisierung_date=\"2026-11-29\">"
#define INSURED                                                                                    \
    "<DPE_Versicherter><NFDM:Versicherter><NFDM:Versicherten_ID>X110411675"                        \
    "</NFDM:Versicherten_ID><NFDM:Nachname>%s</NFDM:Nachname></NFDM:Versicherter>"                 \
    "</DPE_Versicherter>"
#define PV                                                                                         \
    "<DPE_Patientenverfuegung DPE_PV_letzte_Aktualisierung=\"2026-11-01\">"                        \
    "<DPE_PV_Beschreibung>beim Hausarzt</DPE_PV_Beschreibung></DPE_Patientenverfuegung>"
#define GO                                                                                         \
    "<DPE_Gewebe_Organspendeerklaerung DPE_GO_letzte_Aktualisierung=\"2026-11-01\">"               \
    "<DPE_GO_Beschreibung>Ausweis</DPE_GO_Beschreibung></DPE_Gewebe_Organspendeerklaerung>"
#define TAIL "</Persoenliche_Erklaerungen></DPE_Document>"

static char doc[8192];
static char why[SERVICES_DPE_WHY_MAX];

/* HEAD + INSURED (with name) + parts + TAIL into doc; returns the check's result. */
static int check(const char *name, const char *parts)
{
    int n = snprintf(doc, sizeof(doc), HEAD INSURED "%s" TAIL, name, parts);

    assert_true(n > 0 && (size_t)n < sizeof(doc));
    why[0] = '\0';
    return services__dpe_document_check(doc, strlen(doc), why, sizeof(why));
}

static int check_text(const char *text)
{
    why[0] = '\0';
    return services__dpe_document_check(text, strlen(text), why, sizeof(why));
}

static void a_dpe_with_parts_in_schema_order_passes(void **state)
{
    (void)state;
    assert_int_equal(check("Mustermann", ""), 0);
    assert_int_equal(check("Mustermann", GO PV), 0);
}

static void parts_out_of_order_twice_or_unknown_are_refused(void **state)
{
    (void)state;
    assert_int_equal(check("Mustermann", PV GO), -EBADMSG);
    assert_non_null(strstr(why, "unexpected element 'DPE_Gewebe_Organspendeerklaerung'"));
    assert_int_equal(check("Mustermann", PV PV), -EBADMSG);
    assert_int_equal(check("Mustermann", "<Other/>"), -EBADMSG);
}

static void root_namespace_and_attributes_are_checked(void **state)
{
    (void)state;
    assert_int_equal(check_text("<DPE_Document DPE_Version=\"1\"/>"), -EBADMSG);
    assert_non_null(strstr(why, "root element must be DPE_Document"));
    (void)check("Mustermann", "");
    memcpy(strstr(doc, "1.2.276.0.76.7.9"), "9.9.9", 5);
    assert_int_equal(check_text(doc), -EBADMSG);
    assert_non_null(strstr(why, "ID_DPE"));
    (void)check("Mustermann", "");
    memcpy(strstr(doc, "DPE_Version="), "XPE_Version=", 12);
    assert_int_equal(check_text(doc), -EBADMSG);
    assert_non_null(strstr(why, "DPE_Version"));
}

static void limits_count_characters_and_the_reason_hides_the_content(void **state)
{
    char name[2 * 46 + 1];

    (void)state;
    for (int i = 0; i < 46; i++)
        memcpy(name + 2 * i, "\xc3\xa4", 2);
    /* 45 umlauts are 90 bytes but 45 characters: allowed. */
    name[2 * 45] = '\0';
    assert_int_equal(check(name, ""), 0);
    name[2 * 45] = '\xc3';
    name[2 * 46] = '\0';
    assert_int_equal(check(name, ""), -EBADMSG);
    assert_string_equal(why, "Nachname has more than 45 characters");
    assert_null(strstr(why, "\xc3\xa4"));
}

static void not_xml_doctype_and_oversize_are_refused(void **state)
{
    static char big[CARDS_DPE_DOCUMENT_MAX + 2];

    (void)state;
    assert_int_equal(check_text("not xml"), -EBADMSG);
    assert_non_null(strstr(why, "not well-formed XML"));
    assert_int_equal(check_text("<!DOCTYPE x [<!ENTITY e \"Mustermann\">]><DPE_Document/>"),
                     -EBADMSG);
    assert_non_null(strstr(why, "DOCTYPE"));
    memset(big, ' ', sizeof(big) - 1);
    assert_int_equal(services__dpe_document_check(big, sizeof(big) - 1, why, sizeof(why)), -E2BIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_dpe_with_parts_in_schema_order_passes),
        cmocka_unit_test(parts_out_of_order_twice_or_unknown_are_refused),
        cmocka_unit_test(root_namespace_and_attributes_are_checked),
        cmocka_unit_test(limits_count_characters_and_the_reason_hides_the_content),
        cmocka_unit_test(not_xml_doctype_and_oversize_are_refused),
    };

    return cmocka_run_group_tests_name("dpe_document", tests, NULL, NULL);
}
