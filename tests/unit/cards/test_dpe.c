/* Unit tests of src/cards/dpe.c: the eGK's DPE container (EF.DPE) packs and unpacks a
 * document, keeps to its limits, and is kept per eGK in world.json. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <zlib.h>

#include "cards_test.h"

#define DOC "<DPE_Document DPE_Version=\"1.1\"/>"

static void pack_then_unpack_gives_the_document_back(void **state)
{
    uint8_t buf[CARDS_DPE_CONTAINER_MAX];
    uint8_t *doc = NULL;
    size_t n = 0, len = 0;

    (void)state;
    assert_int_equal(cards_dpe_pack(DOC, strlen(DOC), buf, &n), 0);
    /* 2-byte big-endian length, then a gzip stream (magic 1f 8b). */
    assert_int_equal((size_t)(buf[0] << 8 | buf[1]), n - 2);
    assert_int_equal(buf[2], 0x1f);
    assert_int_equal(buf[3], 0x8b);
    assert_int_equal(cards_dpe_unpack(buf, n, &doc, &len), 0);
    assert_int_equal(len, strlen(DOC));
    assert_string_equal((char *)doc, DOC);
    free(doc);
    /* Trailing bytes after the stored length (the rest of the file) are ignored. */
    memset(buf + n, 0, 10);
    assert_int_equal(cards_dpe_unpack(buf, n + 10, &doc, &len), 0);
    free(doc);
}

static void pack_refuses_empty_oversized_and_incompressible(void **state)
{
    uint8_t buf[CARDS_DPE_CONTAINER_MAX];
    size_t big = CARDS_DPE_DOCUMENT_MAX + 1;
    uint8_t *doc = calloc(1, big);
    size_t n = 0;

    (void)state;
    assert_non_null(doc);
    assert_int_equal(cards_dpe_pack(DOC, 0, buf, &n), -EINVAL);
    assert_int_equal(cards_dpe_pack(doc, big, buf, &n), -EINVAL);
    /* Zeros compress well: the whole allowed size fits. */
    assert_int_equal(cards_dpe_pack(doc, CARDS_DPE_DOCUMENT_MAX, buf, &n), 0);
    assert_true(n <= CARDS_DPE_CONTAINER_MAX);
    /* 4 KiB of random bytes do not fit 1723 bytes of gzip. */
    assert_int_equal(rand_bytes(doc, 4096), 0);
    assert_int_equal(cards_dpe_pack(doc, 4096, buf, &n), -E2BIG);
    free(doc);
}

static void unpack_refuses_damage_and_expansion_past_the_cap(void **state)
{
    uint8_t buf[CARDS_DPE_CONTAINER_MAX] = {0};
    size_t big = CARDS_DPE_DOCUMENT_MAX + 100;
    uint8_t *zeros = calloc(1, big);
    uint8_t *doc = NULL;
    size_t len = 0;
    z_stream z = {0};

    (void)state;
    assert_non_null(zeros);
    assert_int_equal(cards_dpe_unpack(buf, 0, &doc, &len), -ENODATA);
    assert_int_equal(cards_dpe_unpack(buf, sizeof(buf), &doc, &len), -ENODATA);
    buf[0] = 0x10; /* 4096 bytes stored, but the container has fewer */
    assert_int_equal(cards_dpe_unpack(buf, sizeof(buf), &doc, &len), -EBADMSG);
    buf[0] = 0;
    buf[1] = 4;
    memcpy(buf + 2, "junk", 4);
    assert_int_equal(cards_dpe_unpack(buf, 6, &doc, &len), -EBADMSG);
    /* A valid gzip stream that expands past CARDS_DPE_DOCUMENT_MAX (a small bomb). */
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 31, 9, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = zeros;
    z.avail_in = (uInt)big;
    z.next_out = buf + 2;
    z.avail_out = sizeof(buf) - 2;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    buf[0] = (uint8_t)(z.total_out >> 8);
    buf[1] = (uint8_t)z.total_out;
    assert_int_equal(cards_dpe_unpack(buf, 2 + z.total_out, &doc, &len), -EBADMSG);
    (void)deflateEnd(&z);
    assert_null(doc);
    free(zeros);
}

static const char *handle_of(struct world *w, const char *name)
{
    return cards_card_find(w->cards, name)->handle;
}

static void egk_keeps_its_dpe_across_a_restart_and_erase_empties_it(void **state)
{
    struct world *w = *state;
    uint8_t *doc = NULL;
    size_t len = 0;
    char handle[CARDS_HANDLE_MAX + 1];

    (void)str_copy(handle, sizeof(handle), handle_of(w, "egk1"));
    assert_int_equal(cards_egk_dpe_read(w->cards, handle, &doc, &len), -ENODATA);
    assert_int_equal(cards_egk_dpe_write(w->cards, handle, DOC, strlen(DOC)), 0);
    /* Only an eGK holds a DPE; an unknown handle is no card. */
    assert_int_equal(cards_egk_dpe_write(w->cards, handle_of(w, "hba1"), DOC, strlen(DOC)),
                     -EMEDIUMTYPE);
    assert_int_equal(cards_egk_dpe_read(w->cards, "no-such-handle", &doc, &len), -ENOENT);
    w->cards = cards_close(w->cards);
    assert_int_equal(world_cards_open(w), 0);
    assert_int_equal(cards_egk_dpe_read(w->cards, handle, &doc, &len), 0);
    assert_string_equal((char *)doc, DOC);
    free(doc);
    assert_int_equal(cards_egk_dpe_erase(w->cards, handle), 0);
    w->cards = cards_close(w->cards);
    assert_int_equal(world_cards_open(w), 0);
    assert_int_equal(cards_egk_dpe_read(w->cards, handle, &doc, &len), -ENODATA);
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(pack_then_unpack_gives_the_document_back),
        cmocka_unit_test(pack_refuses_empty_oversized_and_incompressible),
        cmocka_unit_test(unpack_refuses_damage_and_expansion_past_the_cap),
    };
    const struct CMUnitTest world[] = {
        cmocka_unit_test_setup_teardown(egk_keeps_its_dpe_across_a_restart_and_erase_empties_it,
                                        world_setup, world_teardown),
    };
    int failed;

    clock_init(CLOCK_MODE_VIRTUAL);
    log_level_set(LOG_LEVEL_WARNING);
    failed = cmocka_run_group_tests_name("dpe", pure, NULL, NULL);
    return failed +
           cmocka_run_group_tests_name("dpe_world", world, world_group_setup, world_group_teardown);
}
