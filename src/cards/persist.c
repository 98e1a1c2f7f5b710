/* persist: DATA/world/world.json, the state of the simulated world that is not in the card
 * files: the catalog (without keys: those stay in DATA/world/cards/<name>/), each card's PIN
 * objects and where it is inserted, and whether each terminal is connected.
 *
 *   {"format": 1, "demo_pending": false,
 *    "terminals": [{"id": "ct1", "connected": true}],
 *    "cards": [{"name", "type", "iccsn", "card_version", "holder_name", "kvnr",
 *               "telematik_id", "expiry_ms", "imported", "auto_pin" (optional, false),
 *               "certificates": [{"key_ref": "C.CH.AUT", "algorithm": "RSA"}],
 *               "pins": [{"name", "pin", "puk", "state", "tries_left", "puk_uses_left"}],
 *               "inserted": {"ct", "slot", "handle", "time_ms"} or null,
 *               "dpe": hex of EF.DPE (eGK only; absent while it holds no DPE, dpe.c)}]}
 *
 * Invariants:
 *  1. The file is written atomically (fs_write_atomic, mode 0600: it holds PINs).
 *  2. Loading checks every field; anything missing, mistyped, too long or inconsistent
 *     (duplicate name or ICCSN, a certificate file that cannot be read) makes the whole file
 *     -EBADMSG and leaves the catalog empty, so the caller can set it aside.
 *  3. An unknown "format" is -EBADMSG too: an older daemon never half-reads a newer world. */
#include "cards/cards_internal.h"

#include "base/base.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#define WORLD_FORMAT 1

static const char *const pin_states[CARDS_PIN_STATE_MAX] = {
    [CARDS_PIN_VERIFIABLE] = "verifiable",
    [CARDS_PIN_TRANSPORT] = "transport",
    [CARDS_PIN_EMPTY] = "empty",
    [CARDS_PIN_BLOCKED] = "blocked",
    [CARDS_PIN_PUK_BLOCKED] = "puk-blocked",
    [CARDS_PIN_DISABLED] = "disabled",
};

const char *cards_pin_state_to_string(enum cards_pin_state s)
{
    return s < CARDS_PIN_STATE_MAX ? pin_states[s] : "?";
}

int cards_pin_state_from_string(const char *s, enum cards_pin_state *ret)
{
    for (size_t i = 0; s && i < CARDS_PIN_STATE_MAX; i++) {
        if (strcmp(s, pin_states[i]) == 0) {
            *ret = (enum cards_pin_state)i;
            return 0;
        }
    }
    return -EINVAL;
}

/* ---- save ------------------------------------------------------------------------------- */

static json_t *card_json(const struct cards__entry *e)
{
    const struct cards_card *card = &e->card;
    json_t *certs = json_array();
    json_t *pins = json_array();
    json_t *inserted = card->ct_id[0] ? json_pack("{s:s,s:i,s:s,s:I}", "ct", card->ct_id, "slot",
                                                  (int)card->slot, "handle", card->handle,
                                                  "time_ms", (json_int_t)card->insert_time_ms)
                                      : json_null();

    for (size_t i = 0; certs && i < e->n_certs; i++)
        (void)json_array_append_new(certs,
                                    json_pack("{s:s,s:s}", "key_ref", e->certs[i].key_ref,
                                              "algorithm", cards__alg_to_string(e->certs[i].alg)));
    for (size_t i = 0; pins && i < card->n_pins; i++) {
        const struct cards_pin *p = &card->pins[i];

        (void)json_array_append_new(
            pins, json_pack("{s:s,s:s,s:s,s:s,s:i,s:i}", "name", p->name, "pin", p->pin, "puk",
                            p->puk, "state", cards_pin_state_to_string(p->state), "tries_left",
                            (int)p->tries_left, "puk_uses_left", (int)p->puk_uses_left));
    }
    json_t *o = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:b,s:b,s:o,s:o,s:o}", "name", card->name, "type",
        cards_type_to_string(card->type), "iccsn", card->iccsn, "card_version", card->card_version,
        "holder_name", card->holder_name, "kvnr", card->kvnr, "telematik_id", card->telematik_id,
        "expiry_ms", (json_int_t)card->expiry_ms, "imported", e->imported, "auto_pin",
        card->auto_pin, "certificates", certs, "pins", pins, "inserted", inserted);

    if (o && e->dpe_len > 0) {
        char hex[2 * CARDS_DPE_CONTAINER_MAX + 1];

        hex_encode(e->dpe, e->dpe_len, hex);
        if (json_object_set_new(o, "dpe", json_string(hex)) < 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

int cards__world_save(struct cards *c)
{
    json_t *root = NULL;
    json_t *terms = json_array();
    json_t *cards = json_array();
    char *text = NULL;
    int r = -ENOMEM;

    for (size_t i = 0; terms && i < c->n_terms; i++)
        if (json_array_append_new(terms, json_pack("{s:s,s:b}", "id", c->terms[i].id, "connected",
                                                   c->terms[i].connected)) < 0)
            goto out;
    for (size_t i = 0; cards && i < c->n_cat; i++)
        if (json_array_append_new(cards, card_json(&c->cat[i])) < 0)
            goto out;
    root = json_pack("{s:i,s:b,s:O,s:O}", "format", WORLD_FORMAT, "demo_pending", c->demo_pending,
                     "terminals", terms, "cards", cards);
    text = root ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    if (!text)
        goto out;
    r = fs_write_atomic(c->world_file, text, strlen(text), 0600);
out:
    free(text);
    json_decref(root);
    json_decref(terms);
    json_decref(cards);
    return r;
}

/* ---- load ------------------------------------------------------------------------------- */

/* Copies the string member key of obj into buf; false if absent, not a string or too long. */
static bool get_str(const json_t *obj, const char *key, char *buf, size_t size)
{
    const json_t *v = json_object_get(obj, key);

    return json_is_string(v) && str_copy(buf, size, json_string_value(v)) == 0;
}

static bool get_uint(const json_t *obj, const char *key, unsigned max, unsigned *ret)
{
    const json_t *v = json_object_get(obj, key);

    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
        return false;
    *ret = (unsigned)json_integer_value(v);
    return true;
}

static bool pin_parse(const json_t *o, struct cards_pin *p)
{
    char state[16];

    if (!get_str(o, "name", p->name, sizeof(p->name)) ||
        !get_str(o, "pin", p->pin, sizeof(p->pin)) || !get_str(o, "puk", p->puk, sizeof(p->puk)) ||
        !get_str(o, "state", state, sizeof(state)) ||
        !get_uint(o, "tries_left", 99, &p->tries_left) ||
        !get_uint(o, "puk_uses_left", 99, &p->puk_uses_left))
        return false;
    return cards_pin_state_from_string(state, &p->state) == 0;
}

static bool inserted_parse(const json_t *o, struct cards_card *card)
{
    const json_t *t = json_object_get(o, "time_ms");

    if (json_is_null(o))
        return true;
    if (!get_str(o, "ct", card->ct_id, sizeof(card->ct_id)) || !card->ct_id[0] ||
        !get_uint(o, "slot", STORE_CT_SLOTS_MAX, &card->slot) ||
        !get_str(o, "handle", card->handle, sizeof(card->handle)) || !card->handle[0] ||
        !json_is_integer(t))
        return false;
    card->insert_time_ms = json_integer_value(t);
    return true;
}

/* "dpe": absent, or the hex of an eGK's EF.DPE of at most CARDS_DPE_CONTAINER_MAX bytes. */
static bool dpe_parse(const json_t *dpe, struct cards__entry *e)
{
    unsigned char *bytes;
    long n = 0;
    bool ok;

    if (!dpe)
        return true;
    if (!json_is_string(dpe) || e->card.type != CARDS_TYPE_EGK)
        return false;
    bytes = OPENSSL_hexstr2buf(json_string_value(dpe), &n);
    ok = bytes && n > 0 && (size_t)n <= CARDS_DPE_CONTAINER_MAX;
    if (ok) {
        memcpy(e->dpe, bytes, (size_t)n);
        e->dpe_len = (size_t)n;
    }
    OPENSSL_free(bytes);
    return ok;
}

static bool card_parse(const json_t *o, struct cards__entry *e)
{
    struct cards_card *card = &e->card;
    const json_t *certs = json_object_get(o, "certificates");
    const json_t *pins = json_object_get(o, "pins");
    const json_t *expiry = json_object_get(o, "expiry_ms");
    const json_t *auto_pin = json_object_get(o, "auto_pin"); /* absent in older worlds */
    char type[16];
    char alg[8];

    if (!get_str(o, "name", card->name, sizeof(card->name)) || !cards__name_is_valid(card->name) ||
        !get_str(o, "type", type, sizeof(type)) || cards_type_from_string(type, &card->type) < 0 ||
        !get_str(o, "iccsn", card->iccsn, sizeof(card->iccsn)) || !card->iccsn[0] ||
        !get_str(o, "card_version", card->card_version, sizeof(card->card_version)) ||
        !get_str(o, "holder_name", card->holder_name, sizeof(card->holder_name)) ||
        !get_str(o, "kvnr", card->kvnr, sizeof(card->kvnr)) ||
        !get_str(o, "telematik_id", card->telematik_id, sizeof(card->telematik_id)) ||
        !json_is_integer(expiry) || !json_is_boolean(json_object_get(o, "imported")) ||
        !json_is_array(certs) || json_array_size(certs) > CARDS__CERTS_MAX ||
        !json_is_array(pins) || json_array_size(pins) > CARDS_PINS_MAX ||
        (auto_pin && !json_is_boolean(auto_pin)) ||
        !inserted_parse(json_object_get(o, "inserted"), card))
        return false;
    card->expiry_ms = json_integer_value(expiry);
    card->auto_pin = json_is_true(auto_pin);
    e->imported = json_is_true(json_object_get(o, "imported"));
    for (size_t i = 0; i < json_array_size(certs); i++) {
        const json_t *ce = json_array_get(certs, i);
        struct cards__cert *cert = &e->certs[i];

        if (!get_str(ce, "key_ref", cert->key_ref, sizeof(cert->key_ref)) ||
            !cards__name_is_valid(cert->key_ref) || !get_str(ce, "algorithm", alg, sizeof(alg)) ||
            cards__alg_from_string(alg, &cert->alg) < 0)
            return false;
    }
    e->n_certs = json_array_size(certs);
    if (!dpe_parse(json_object_get(o, "dpe"), e))
        return false;
    for (size_t i = 0; i < json_array_size(pins); i++)
        if (!pin_parse(json_array_get(pins, i), &card->pins[i]))
            return false;
    card->n_pins = json_array_size(pins);
    return true;
}

static int terminals_parse(struct cards *c, const json_t *terms)
{
    if (!json_is_array(terms))
        return -EBADMSG;
    c->terms = calloc(json_array_size(terms) + 1, sizeof(*c->terms));
    if (!c->terms)
        return -ENOMEM;
    for (size_t i = 0; i < json_array_size(terms); i++) {
        const json_t *t = json_array_get(terms, i);
        struct cards_terminal *ct = &c->terms[i];

        if (!get_str(t, "id", ct->id, sizeof(ct->id)) ||
            !json_is_boolean(json_object_get(t, "connected")))
            return -EBADMSG;
        ct->connected = json_is_true(json_object_get(t, "connected"));
        c->n_terms++;
    }
    return 0;
}

static int cards_parse(struct cards *c, const json_t *cards)
{
    if (!json_is_array(cards))
        return -EBADMSG;
    for (size_t i = 0; i < json_array_size(cards); i++) {
        struct cards__entry e = {0};
        int r;

        if (!card_parse(json_array_get(cards, i), &e) || cards__catalog_find(c, e.card.name) ||
            cards__iccsn_is_used(c, e.card.iccsn) ||
            (e.card.ct_id[0] && cards_card_in_slot(c, e.card.ct_id, e.card.slot)))
            return -EBADMSG;
        r = cards__catalog_load_certs(c, &e);
        if (r == 0)
            r = cards__catalog_add(c, &e);
        cards__entry_done(&e);
        if (r < 0)
            return r == -ENOMEM ? r : -EBADMSG;
    }
    return 0;
}

int cards__world_load(struct cards *c)
{
    json_t *root = NULL;
    char *text = NULL;
    size_t len = 0;
    int r;

    r = fs_read_all(c->world_file, CARDS__FILE_MAX, &text, &len);
    if (r == -ENOENT)
        return r;
    if (r < 0)
        return -EBADMSG;
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    if (!root || !json_is_object(root) ||
        json_integer_value(json_object_get(root, "format")) != WORLD_FORMAT ||
        !json_is_boolean(json_object_get(root, "demo_pending"))) {
        r = -EBADMSG;
        goto out;
    }
    c->demo_pending = json_is_true(json_object_get(root, "demo_pending"));
    r = terminals_parse(c, json_object_get(root, "terminals"));
    if (r == 0)
        r = cards_parse(c, json_object_get(root, "cards"));
out:
    if (r < 0) {
        /* Invariant 2: nothing half-loaded. */
        for (size_t i = 0; i < c->n_cat; i++)
            cards__entry_done(&c->cat[i]);
        c->n_cat = 0;
        free(c->terms);
        c->terms = NULL;
        c->n_terms = 0;
        c->demo_pending = false;
    }
    json_decref(root);
    if (text)
        explicit_bzero(text, len); /* PINs */
    free(text);
    return r;
}
