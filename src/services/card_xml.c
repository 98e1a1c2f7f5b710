/* card_xml: the serialised CARD:Card element of each inserted card, kept until the card
 * changes, so that GetCards and GetResourceInformation copy bytes instead of running
 * libxml2's text writer for every card of every call (issue #4: the writer took 16 % of
 * konnektord's CPU in the GetCards benchmark, bench/README.md "SOAP").
 *
 * The cache is 4-way set-associative: a card's set is the FNV-1a hash of its handle modulo
 * CARD_XML_SETS, and within the set it takes the way that holds its handle, else an empty
 * one, else the one used least recently. An entry keeps a copy of every field
 * services__write_card() reads and is used only when all of them equal the card's current
 * ones; anything else (the card removed and inserted again, a changed field) renders the
 * element anew and replaces the entry. So no event has to reach the cache for it to stay
 * right, and more cards than ways in one set only cost renderings.
 *
 * Invariants:
 *  1. The bytes of an entry are exactly what services__write_card() writes for a card with
 *     the entry's fields: a complete element that declares every prefix it uses (resources.c
 *     invariant 1), so they can be written raw below any parent.
 *  2. At most CARD_XML_SETS * CARD_XML_WAYS entries exist; each holds at most one
 *     rendering, and a handle is in at most one entry. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/xmlwriter.h>

#include "services/services_internal.h"

/* Sets and ways: a practice has a few terminals with 4 slots each; 16 x 4 entries keep every
 * card of up to about 30 inserted ones and cost at most 64 renderings (~1.2 KiB each). */
#define CARD_XML_SETS 16
#define CARD_XML_WAYS 4

/* The fields of struct cards_card that services__write_card() reads. */
struct card_key {
    char handle[CARDS_HANDLE_MAX + 1];
    enum cards_type type;
    char card_version[sizeof(((struct cards_card *)0)->card_version)];
    char iccsn[CARDS_ICCSN_MAX + 1];
    char ct_id[STORE_ENTITY_ID_MAX + 1];
    unsigned slot;
    int64_t insert_time_ms;
    char holder_name[sizeof(((struct cards_card *)0)->holder_name)];
    char kvnr[sizeof(((struct cards_card *)0)->kvnr)];
    int64_t expiry_ms;
};

struct card_xml_entry {
    struct card_key key;
    xmlChar *xml; /* NULL: the entry is empty */
    int len;
    uint64_t used; /* cx->clock at the last use */
};

struct services_card_xml {
    struct card_xml_entry entries[CARD_XML_SETS][CARD_XML_WAYS];
    uint64_t clock; /* counts uses, for least-recently-used replacement */
    uint64_t hits, renderings;
};

struct services_card_xml *services__card_xml_new(void)
{
    return calloc(1, sizeof(struct services_card_xml));
}

struct services_card_xml *services__card_xml_free(struct services_card_xml *cx)
{
    if (!cx)
        return NULL;
    for (size_t i = 0; i < CARD_XML_SETS; i++)
        for (size_t j = 0; j < CARD_XML_WAYS; j++)
            xmlFree(cx->entries[i][j].xml);
    free(cx);
    return NULL;
}

/* The entry for handle: the way holding it, else an empty one, else the least recently used. */
static struct card_xml_entry *entry_for(struct services_card_xml *cx, const char *handle)
{
    uint64_t h = 14695981039346656037ULL; /* FNV-1a 64 offset basis */
    struct card_xml_entry *set, *pick;

    for (const char *p = handle; *p; p++) {
        h ^= (uint8_t)*p;
        h *= 1099511628211ULL;
    }
    set = cx->entries[h % CARD_XML_SETS];
    pick = &set[0];
    for (size_t i = 0; i < CARD_XML_WAYS; i++) {
        if (set[i].xml && strcmp(set[i].key.handle, handle) == 0)
            return &set[i];
        if (pick->xml && (!set[i].xml || set[i].used < pick->used))
            pick = &set[i];
    }
    return pick;
}

static void key_of(const struct cards_card *card, struct card_key *key)
{
    memset(key, 0, sizeof(*key));
    (void)str_copy(key->handle, sizeof(key->handle), card->handle);
    key->type = card->type;
    (void)str_copy(key->card_version, sizeof(key->card_version), card->card_version);
    (void)str_copy(key->iccsn, sizeof(key->iccsn), card->iccsn);
    (void)str_copy(key->ct_id, sizeof(key->ct_id), card->ct_id);
    key->slot = card->slot;
    key->insert_time_ms = card->insert_time_ms;
    (void)str_copy(key->holder_name, sizeof(key->holder_name), card->holder_name);
    (void)str_copy(key->kvnr, sizeof(key->kvnr), card->kvnr);
    key->expiry_ms = card->expiry_ms;
}

static bool key_matches(const struct card_key *key, const struct cards_card *card)
{
    return key->type == card->type && key->slot == card->slot &&
           key->insert_time_ms == card->insert_time_ms && key->expiry_ms == card->expiry_ms &&
           strcmp(key->handle, card->handle) == 0 && strcmp(key->ct_id, card->ct_id) == 0 &&
           strcmp(key->iccsn, card->iccsn) == 0 &&
           strcmp(key->card_version, card->card_version) == 0 &&
           strcmp(key->holder_name, card->holder_name) == 0 && strcmp(key->kvnr, card->kvnr) == 0;
}

/* Renders the card's element on a writer of its own (invariant 1). */
static int render(const struct cards_card *card, xmlChar **ret_xml, int *ret_len)
{
    xmlBufferPtr buf = xmlBufferCreate();
    xmlTextWriterPtr w = buf ? xmlNewTextWriterMemory(buf, 0) : NULL;
    int r = -ENOMEM;

    if (!w)
        goto out;
    r = services__write_card(w, card);
    if (r == 0 && xmlTextWriterFlush(w) < 0)
        r = -EIO;
    xmlFreeTextWriter(w);
    if (r < 0)
        goto out;
    *ret_len = xmlBufferLength(buf);
    *ret_xml = xmlBufferDetach(buf);
    r = *ret_xml ? 0 : -ENOMEM;
out:
    if (buf)
        xmlBufferFree(buf);
    return r;
}

int services__card_xml_write(struct services_card_xml *cx, xmlTextWriterPtr w,
                             const struct cards_card *card)
{
    struct card_xml_entry *e;
    xmlChar *xml = NULL;
    int len = 0;

    if (!cx)
        return services__write_card(w, card);
    e = entry_for(cx, card->handle);
    if (!e->xml || !key_matches(&e->key, card)) {
        /* Without memory for a rendering, the card is still answered, just not kept. */
        if (render(card, &xml, &len) < 0)
            return services__write_card(w, card);
        xmlFree(e->xml);
        key_of(card, &e->key);
        e->xml = xml;
        e->len = len;
        cx->renderings++;
    } else {
        cx->hits++;
    }
    e->used = ++cx->clock;
    return xmlTextWriterWriteRawLen(w, e->xml, e->len) < 0 ? -EIO : 0;
}

void services__card_xml_stats(const struct services_card_xml *cx, uint64_t *ret_hits,
                              uint64_t *ret_renderings)
{
    *ret_hits = cx ? cx->hits : 0;
    *ret_renderings = cx ? cx->renderings : 0;
}
