/* dpe: the eGK's DPE container, EF.DPE of DF.DPE (cards.h). Packs a document into the
 * container's bytes (2-byte big-endian length, then the gzip stream), unpacks it, and keeps
 * it per eGK in the catalog entry, which persist.c writes into world.json.
 *
 * It knows no XML and no access rules: the NFDM service checks the document and the PINs.
 *
 * Invariants:
 *  1. An entry's container is either empty (dpe_len 0) or a complete pack of a document: it
 *     is replaced only by a whole new pack, never edited in place.
 *  2. Unpacking never produces more than CARDS_DPE_DOCUMENT_MAX bytes, whatever the
 *     container says (a gzip bomb stops at the cap with -EBADMSG).
 *  3. Nothing here logs the document (it is personal data). */
#include "cards/cards_internal.h"

#include "base/base.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

/* zlib's windowBits for a gzip header and trailer (RFC 1952) with a 32 KiB window. */
#define GZIP_WINDOW_BITS (15 + 16)
/* EF.DPE starts with the length of the compressed document in 2 bytes. */
#define LENGTH_BYTES 2

int cards_dpe_pack(const void *doc, size_t len, uint8_t *buf, size_t *ret_len)
{
    z_stream z = {0};
    int zr;

    if (!doc || len == 0 || len > CARDS_DPE_DOCUMENT_MAX)
        return -EINVAL;
    if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, GZIP_WINDOW_BITS, 9, Z_DEFAULT_STRATEGY) !=
        Z_OK)
        return -ENOMEM;
    z.next_in = (Bytef *)(uintptr_t)doc;
    z.avail_in = (uInt)len;
    z.next_out = buf + LENGTH_BYTES;
    z.avail_out = CARDS_DPE_CONTAINER_MAX - LENGTH_BYTES;
    zr = deflate(&z, Z_FINISH);
    (void)deflateEnd(&z);
    if (zr != Z_STREAM_END)
        return zr == Z_OK || zr == Z_BUF_ERROR ? -E2BIG : -ENOMEM;
    buf[0] = (uint8_t)(z.total_out >> 8);
    buf[1] = (uint8_t)(z.total_out & 0xff);
    *ret_len = LENGTH_BYTES + z.total_out;
    return 0;
}

int cards_dpe_unpack(const uint8_t *container, size_t len, uint8_t **ret_doc, size_t *ret_len)
{
    z_stream z = {0};
    uint8_t *out = NULL;
    size_t stored;
    int zr, r = -EBADMSG;

    if (len < LENGTH_BYTES)
        return len == 0 ? -ENODATA : -EBADMSG;
    stored = (size_t)container[0] << 8 | container[1];
    if (stored == 0)
        return -ENODATA;
    if (stored > len - LENGTH_BYTES)
        return -EBADMSG;
    /* Invariant 2: one byte more than the cap tells "too large" from "exactly the cap". */
    out = malloc(CARDS_DPE_DOCUMENT_MAX + 2);
    if (!out)
        return -ENOMEM;
    if (inflateInit2(&z, GZIP_WINDOW_BITS) != Z_OK) {
        free(out);
        return -ENOMEM;
    }
    z.next_in = (Bytef *)(uintptr_t)(container + LENGTH_BYTES);
    z.avail_in = (uInt)stored;
    z.next_out = out;
    z.avail_out = CARDS_DPE_DOCUMENT_MAX + 1;
    zr = inflate(&z, Z_FINISH);
    if (zr == Z_STREAM_END && z.total_out > 0 && z.total_out <= CARDS_DPE_DOCUMENT_MAX) {
        out[z.total_out] = '\0';
        *ret_doc = out;
        *ret_len = z.total_out;
        out = NULL;
        r = 0;
    } else if (zr == Z_MEM_ERROR) {
        r = -ENOMEM;
    }
    (void)inflateEnd(&z);
    free(out);
    return r;
}

/* The catalog entry of an inserted eGK. -ENOENT, -EMEDIUMTYPE. */
static int egk_entry(const struct cards *c, const char *handle, struct cards__entry **ret)
{
    const struct cards_card *card = cards_card_by_handle(c, handle);
    struct cards__entry *e = card ? cards__catalog_find(c, card->name) : NULL;

    if (!e)
        return -ENOENT;
    if (e->card.type != CARDS_TYPE_EGK)
        return -EMEDIUMTYPE;
    *ret = e;
    return 0;
}

int cards_egk_dpe_read(const struct cards *c, const char *handle, uint8_t **ret_doc,
                       size_t *ret_len)
{
    struct cards__entry *e = NULL;
    int r = egk_entry(c, handle, &e);

    if (r < 0)
        return r;
    return cards_dpe_unpack(e->dpe, e->dpe_len, ret_doc, ret_len);
}

/* Invariant 1: the new container replaces the old one whole; on a failed save the old one
 * comes back, so memory and world.json agree. */
static int replace(struct cards *c, struct cards__entry *e, const uint8_t *container, size_t len)
{
    uint8_t old[CARDS_DPE_CONTAINER_MAX];
    size_t old_len = e->dpe_len;
    int r;

    memcpy(old, e->dpe, old_len);
    memcpy(e->dpe, container, len);
    e->dpe_len = len;
    r = cards__world_save(c);
    if (r < 0) {
        memcpy(e->dpe, old, old_len);
        e->dpe_len = old_len;
    }
    explicit_bzero(old, sizeof(old));
    return r;
}

int cards_egk_dpe_write(struct cards *c, const char *handle, const void *doc, size_t len)
{
    uint8_t container[CARDS_DPE_CONTAINER_MAX];
    struct cards__entry *e = NULL;
    size_t n = 0;
    int r = egk_entry(c, handle, &e);

    if (r == 0)
        r = cards_dpe_pack(doc, len, container, &n);
    if (r == 0)
        r = replace(c, e, container, n);
    explicit_bzero(container, sizeof(container));
    return r;
}

int cards_egk_dpe_erase(struct cards *c, const char *handle)
{
    struct cards__entry *e = NULL;
    int r = egk_entry(c, handle, &e);

    static const uint8_t empty[1] = {0};

    if (r < 0)
        return r;
    return replace(c, e, empty, 0);
}
