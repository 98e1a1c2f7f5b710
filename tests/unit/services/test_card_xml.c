/* Unit tests for src/services/card_xml.c: a kept CARD:Card rendering is byte for byte what
 * services__write_card() writes, and any change of a field the element shows renders anew. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libxml/xmlwriter.h>

#include "services/services_internal.h"

static struct cards_card egk(void)
{
    struct cards_card c = {.type = CARDS_TYPE_EGK, .slot = 3};

    (void)str_copy(c.name, sizeof(c.name), "egk1");
    (void)str_copy(c.iccsn, sizeof(c.iccsn), "80276883110000017222");
    (void)str_copy(c.card_version, sizeof(c.card_version), "4.4.0");
    (void)str_copy(c.holder_name, sizeof(c.holder_name), "Jürgen Müller-Öztürk & Söhne <1>");
    (void)str_copy(c.kvnr, sizeof(c.kvnr), "X110411675");
    (void)str_copy(c.ct_id, sizeof(c.ct_id), "ct1");
    (void)str_copy(c.handle, sizeof(c.handle), "b1c3a6de-3f0e-4d3c-9c55-4a4a52a4d001");
    c.insert_time_ms = 1764400000123;
    c.expiry_ms = 1890000000000;
    return c;
}

/* A response-like document with the card written directly (cx NULL) or through cx. */
static char *written(struct services_card_xml *cx, const struct cards_card *card, bool direct)
{
    xmlBufferPtr buf = xmlBufferCreate();
    xmlTextWriterPtr w = xmlNewTextWriterMemory(buf, 0);
    char *text;

    assert_non_null(w);
    assert_true(xmlTextWriterStartDocument(w, NULL, "UTF-8", NULL) >= 0);
    assert_int_equal(services__xml_start(w, "CARD", "Cards", SOAP_NS_CARD), 0);
    if (direct)
        assert_int_equal(services__write_card(w, card), 0);
    else
        assert_int_equal(services__card_xml_write(cx, w, card), 0);
    assert_int_equal(services__xml_end(w), 0);
    assert_true(xmlTextWriterEndDocument(w) >= 0);
    xmlFreeTextWriter(w);
    text = strdup((const char *)xmlBufferContent(buf));
    xmlBufferFree(buf);
    assert_non_null(text);
    return text;
}

static void assert_written_as_directly(struct services_card_xml *cx, const struct cards_card *card)
{
    char *want = written(NULL, card, true);
    char *got = written(cx, card, false);

    assert_string_equal(got, want);
    free(want);
    free(got);
}

static void kept_rendering_equals_the_direct_one(void **state)
{
    struct services_card_xml *cx = services__card_xml_new();
    struct cards_card c = egk();
    uint64_t hits, renderings;
    char *text;

    assert_non_null(cx);
    assert_written_as_directly(cx, &c);
    assert_written_as_directly(cx, &c);
    assert_written_as_directly(cx, &c);
    services__card_xml_stats(cx, &hits, &renderings);
    assert_int_equal(renderings, 1);
    assert_int_equal(hits, 2);
    /* The element is complete and escaped once. */
    text = written(cx, &c, false);
    assert_non_null(strstr(text, "<CARD:Card xmlns:CARDCMN="));
    assert_non_null(strstr(text, " xmlns:CARD=\"" SOAP_NS_CARD "\"><CONN:CardHandle>"));
    assert_non_null(strstr(text, "Söhne &lt;1&gt;</CARD:CardHolderName>"));
    assert_non_null(strstr(text, "</CARD:Card></CARD:Cards>"));
    free(text);
    cx = services__card_xml_free(cx);
    assert_null(cx);
}

static void every_shown_field_change_renders_anew(void **state)
{
    struct services_card_xml *cx = services__card_xml_new();
    struct cards_card c = egk();
    uint64_t hits, renderings;

    assert_written_as_directly(cx, &c);
    c.slot = 4;
    assert_written_as_directly(cx, &c);
    (void)str_copy(c.ct_id, sizeof(c.ct_id), "ct2");
    assert_written_as_directly(cx, &c);
    c.insert_time_ms += 1000;
    assert_written_as_directly(cx, &c);
    (void)str_copy(c.holder_name, sizeof(c.holder_name), "Erika Mustermann");
    assert_written_as_directly(cx, &c);
    (void)str_copy(c.kvnr, sizeof(c.kvnr), "A123456789");
    assert_written_as_directly(cx, &c);
    (void)str_copy(c.iccsn, sizeof(c.iccsn), "80276883110000017223");
    assert_written_as_directly(cx, &c);
    (void)str_copy(c.card_version, sizeof(c.card_version), "4.5.1");
    assert_written_as_directly(cx, &c);
    c.expiry_ms = 0;
    assert_written_as_directly(cx, &c);
    c.type = CARDS_TYPE_HBA;
    assert_written_as_directly(cx, &c);
    (void)str_copy(c.handle, sizeof(c.handle), "another-handle");
    assert_written_as_directly(cx, &c);
    services__card_xml_stats(cx, &hits, &renderings);
    assert_int_equal(renderings, 11);
    assert_int_equal(hits, 0);
    (void)services__card_xml_free(cx);
}

static void many_cards_sharing_slots_are_each_written_right(void **state)
{
    struct services_card_xml *cx = services__card_xml_new();
    struct cards_card cards[150];
    uint64_t hits, renderings;

    for (size_t i = 0; i < ARRAY_SIZE(cards); i++) {
        cards[i] = egk();
        (void)snprintf(cards[i].handle, sizeof(cards[i].handle), "handle-%zu", i);
        cards[i].slot = 1 + (unsigned)(i % 4);
    }
    for (int round = 0; round < 2; round++)
        for (size_t i = 0; i < ARRAY_SIZE(cards); i++)
            assert_written_as_directly(cx, &cards[i]);
    services__card_xml_stats(cx, &hits, &renderings);
    assert_int_equal(hits + renderings, 2 * ARRAY_SIZE(cards));
    (void)services__card_xml_free(cx);
}

static void a_practice_full_of_cards_is_rendered_once(void **state)
{
    struct services_card_xml *cx = services__card_xml_new();
    struct cards_card cards[24];
    uint64_t hits, renderings;

    for (size_t i = 0; i < ARRAY_SIZE(cards); i++) {
        cards[i] = egk();
        (void)snprintf(cards[i].handle, sizeof(cards[i].handle), "%032zx", 0x5eed0000 + i * 7919);
    }
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < ARRAY_SIZE(cards); i++)
            assert_written_as_directly(cx, &cards[i]);
    services__card_xml_stats(cx, &hits, &renderings);
    assert_int_equal(renderings, ARRAY_SIZE(cards));
    assert_int_equal(hits, 2 * ARRAY_SIZE(cards));
    (void)services__card_xml_free(cx);
}

static void without_a_cache_the_card_is_written_directly(void **state)
{
    struct cards_card c = egk();

    assert_written_as_directly(NULL, &c);
    assert_null(services__card_xml_free(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kept_rendering_equals_the_direct_one),
        cmocka_unit_test(every_shown_field_change_renders_anew),
        cmocka_unit_test(many_cards_sharing_slots_are_each_written_right),
        cmocka_unit_test(a_practice_full_of_cards_is_rendered_once),
        cmocka_unit_test(without_a_cache_the_card_is_written_directly),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
