/* cards_routes: the /control/v1 endpoints of the simulated card terminals and cards: the
 * catalog and where each card is, the terminals, inserting and removing cards, importing a
 * gematik test identity (PKCS#12) and connecting or disconnecting a terminal. Like the other
 * control routes they belong to the simulated world: no critical state stops them
 * (GATE_OP_MAX), and only Local- and Super-Administrators may drive them.
 *
 * Invariants:
 *  1. Until bootup has opened the world (deps.cards NULL or *deps.cards NULL) every route
 *     answers 503.
 *  2. Each errno of cards.h maps to one status here: -ENOENT 404, -EBUSY and -ENOTCONN and
 *     -EEXIST 409, -ERANGE and -EBADMSG and -EINVAL 400; the message names the terminal,
 *     slot and card, and for a taken slot the card in it.
 *  3. Answers never carry PINs, PUKs or keys; the holder's name appears (the admin drives
 *     the simulated world), but no log line carries it. */
#include "control/control_internal.h"

#include "cards/cards.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A PKCS#12 key store in base64: a test identity has a few KiB; 1 MiB is plenty. */
#define P12_B64_MAX (1024 * 1024)

/* Key references and algorithms a card may have certificates for (cards.h). */
static const char *const key_refs[] = {"C.CH.AUT", "C.CH.ENC",  "C.HP.AUT",  "C.HP.ENC",
                                       "C.HP.QES", "C.HCI.AUT", "C.HCI.ENC", "C.HCI.OSIG"};
static const char *const algorithms[] = {"RSA", "ECC"};

/* The world, or NULL after answering 503 (invariant 1). */
static struct cards *world(struct control *c, struct mgmt_request *req)
{
    if (c->deps.cards && *c->deps.cards)
        return *c->deps.cards;
    mgmt_reply_error(req, 503, "unavailable",
                     "the simulated card world is not open yet (the connector is booting)");
    return NULL;
}

static json_t *time_json(int64_t ms)
{
    char buf[32];

    return ms ? json_string(clock_format_iso(ms, buf, sizeof(buf))) : json_null();
}

static json_t *card_json(const struct cards *w, const struct cards_card *card)
{
    json_t *pins = json_array();
    json_t *certs = json_array();
    json_t *where = card->ct_id[0]
                        ? json_pack("{s:s,s:i}", "ct", card->ct_id, "slot", (int)card->slot)
                        : json_null();

    for (size_t i = 0; pins && i < card->n_pins; i++)
        (void)json_array_append_new(
            pins, json_pack("{s:s,s:s,s:i,s:i}", "name", card->pins[i].name, "state",
                            cards_pin_state_to_string(card->pins[i].state), "tries_left",
                            (int)card->pins[i].tries_left, "puk_uses_left",
                            (int)card->pins[i].puk_uses_left));
    for (size_t k = 0; certs && k < ARRAY_SIZE(key_refs); k++) {
        for (size_t a = 0; a < ARRAY_SIZE(algorithms); a++) {
            const uint8_t *der = NULL;
            size_t len = 0;

            if (cards_card_certificate(w, card->name, key_refs[k], algorithms[a], &der, &len) == 0)
                (void)json_array_append_new(certs, json_pack("{s:s,s:s}", "key_ref", key_refs[k],
                                                             "algorithm", algorithms[a]));
        }
    }
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:s?,s:o,s:o,s:o}", "name", card->name,
                     "type", cards_type_to_string(card->type), "iccsn", card->iccsn, "card_version",
                     card->card_version, "holder_name", card->holder_name, "kvnr", card->kvnr,
                     "telematik_id", card->telematik_id, "expiry", time_json(card->expiry_ms),
                     "where", where, "handle", card->ct_id[0] ? card->handle : NULL, "insert_time",
                     time_json(card->ct_id[0] ? card->insert_time_ms : 0), "pins", pins,
                     "certificates", certs);
}

static json_t *terminal_json(const struct cards *w, const struct cards_terminal *t)
{
    json_t *cards = json_array();

    for (unsigned s = 1; cards && s <= t->slots; s++) {
        const struct cards_card *card = cards_card_in_slot(w, t->id, s);

        if (card)
            (void)json_array_append_new(
                cards, json_pack("{s:i,s:s,s:s,s:s}", "slot", (int)s, "card", card->name, "type",
                                 cards_type_to_string(card->type), "handle", card->handle));
    }
    return json_pack("{s:s,s:s,s:i,s:b,s:b,s:s,s:o}", "id", t->id, "name", t->name, "slots",
                     (int)t->slots, "connected", t->connected, "active", t->active, "display",
                     t->display, "cards", cards);
}

static void get_cards(struct mgmt_request *req, void *arg)
{
    struct cards *w = world(arg, req);
    json_t *list = json_array();

    for (size_t i = 0; w && list && i < cards_catalog_count(w); i++)
        (void)json_array_append_new(list, card_json(w, cards_catalog_at(w, i)));
    if (w)
        mgmt_reply_json(req, 200, json_pack("{s:o}", "cards", list));
    else
        json_decref(list);
}

static void get_terminals(struct mgmt_request *req, void *arg)
{
    struct cards *w = world(arg, req);
    json_t *list = json_array();

    for (size_t i = 0; w && list && i < cards_terminal_count(w); i++)
        (void)json_array_append_new(list, terminal_json(w, cards_terminal_at(w, i)));
    if (w)
        mgmt_reply_json(req, 200, json_pack("{s:o}", "terminals", list));
    else
        json_decref(list);
}

/* Reads "ct" and "slot" of the body; replies 400 and returns false if missing. */
static bool slot_of(struct mgmt_request *req, const char **ret_ct, unsigned *ret_slot)
{
    json_t *body = mgmt_request_body(req);
    json_t *slot = body ? json_object_get(body, "slot") : NULL;
    const char *ct = mgmt_body_string(req, "ct");

    if (!ct)
        return false;
    if (!json_is_integer(slot) || json_integer_value(slot) < 0 ||
        json_integer_value(slot) > STORE_CT_SLOTS_MAX) {
        mgmt_reply_error(req, 400, "bad_request", "the body needs a whole number 'slot' (1..%d)",
                         STORE_CT_SLOTS_MAX);
        return false;
    }
    *ret_ct = ct;
    *ret_slot = (unsigned)json_integer_value(slot);
    return true;
}

static void post_insert(struct mgmt_request *req, void *arg)
{
    struct cards *w = world(arg, req);
    const struct cards_terminal *t;
    const struct cards_card *card;
    const char *ct = NULL;
    const char *name;
    unsigned slot = 0;
    int r;

    if (!w || !slot_of(req, &ct, &slot) || !(name = mgmt_body_string(req, "card")))
        return;
    t = cards_terminal_find(w, ct);
    card = cards_card_find(w, name);
    r = cards_insert(w, ct, slot, name);
    switch (r) {
    case 0:
        log_msg(LOG_LEVEL_INFO, "control: '%s' inserted '%s' into %s slot %u",
                mgmt_request_user(req), name, ct, slot);
        mgmt_reply_json(req, 200, card_json(w, cards_card_find(w, name)));
        return;
    case -ENOENT:
        if (!t)
            mgmt_reply_error(req, 404, "not_found", "no card terminal '%.64s'", ct);
        else
            mgmt_reply_error(req, 404, "not_found", "no card '%.64s' in the catalog", name);
        return;
    case -ENOTCONN:
        mgmt_reply_error(req, 409, "conflict", "card terminal '%s' is disconnected", ct);
        return;
    case -ERANGE:
        mgmt_reply_error(req, 400, "invalid_value", "card terminal '%s' has slots 1 to %u, not %u",
                         ct, t->slots, slot);
        return;
    case -EBUSY:
        if (card->ct_id[0])
            mgmt_reply_error(req, 409, "conflict", "card '%s' is already in %s slot %u", name,
                             card->ct_id, card->slot);
        else
            mgmt_reply_error(req, 409, "conflict",
                             "slot %u of '%s' holds card '%s'; remove it first", slot, ct,
                             cards_card_in_slot(w, ct, slot)->name);
        return;
    default:
        mgmt_reply_error(req, 500, "internal", "the card could not be inserted");
        return;
    }
}

static void post_remove(struct mgmt_request *req, void *arg)
{
    struct cards *w = world(arg, req);
    const struct cards_card *card;
    json_t *answer;
    const char *ct = NULL;
    unsigned slot = 0;

    if (!w || !slot_of(req, &ct, &slot))
        return;
    if (!cards_terminal_find(w, ct)) {
        mgmt_reply_error(req, 404, "not_found", "no card terminal '%.64s'", ct);
        return;
    }
    card = cards_card_in_slot(w, ct, slot);
    if (!card) {
        mgmt_reply_error(req, 404, "not_found", "slot %u of '%s' is empty", slot, ct);
        return;
    }
    answer = card_json(w, card); /* as it was in the slot */
    (void)cards_remove(w, ct, slot);
    log_msg(LOG_LEVEL_INFO, "control: '%s' removed '%s' from %s slot %u", mgmt_request_user(req),
            json_string_value(json_object_get(answer, "name")), ct, slot);
    mgmt_reply_json(req, 200, json_pack("{s:o}", "removed", answer));
}

static void post_import(struct mgmt_request *req, void *arg)
{
    struct cards *w = world(arg, req);
    json_t *body = mgmt_request_body(req);
    json_t *pw = body ? json_object_get(body, "password") : NULL;
    const char *name;
    const char *b64;
    unsigned char *p12 = NULL;
    size_t len = 0;
    int r;

    if (!w || !(name = mgmt_body_string(req, "name")) ||
        !(b64 = mgmt_body_string(req, "p12_base64")))
        return;
    if (pw && !json_is_string(pw)) {
        mgmt_reply_error(req, 400, "bad_request", "'password' must be a string (default \"00\")");
        return;
    }
    if (base64_decode_max(b64, P12_B64_MAX, &p12, &len) < 0 || len == 0) {
        mgmt_reply_error(req, 400, "invalid_value", "p12_base64 is not base64 text");
        return;
    }
    r = cards_import_p12(w, name, p12, len, pw ? json_string_value(pw) : "00");
    explicit_bzero(p12, len); /* it holds a private key */
    free(p12);
    if (r == 0) {
        log_msg(LOG_LEVEL_INFO, "control: '%s' imported card '%s' (%s)", mgmt_request_user(req),
                name, cards_type_to_string(cards_card_find(w, name)->type));
        mgmt_reply_json(req, 201, card_json(w, cards_card_find(w, name)));
    } else if (r == -EEXIST && cards_card_find(w, name)) {
        mgmt_reply_error(req, 409, "conflict", "the catalog already has a card '%.64s'", name);
    } else if (r == -EEXIST) {
        mgmt_reply_error(req, 409, "conflict",
                         "the catalog already has a card with this identity's ICCSN");
    } else if (r == -EBADMSG) {
        mgmt_reply_error(req, 400, "invalid_value",
                         "not a PKCS#12 file, or the password is wrong (gematik's test "
                         "identities use \"00\")");
    } else if (r == -EINVAL) {
        mgmt_reply_error(req, 400, "invalid_value",
                         "'%.64s' is not a card name (1..64 of A-Z a-z 0-9 . _ -), or the "
                         "certificate is neither an eGK, HBA nor SMC-B profile",
                         name);
    } else {
        mgmt_reply_error(req, 500, "internal", "the identity could not be stored");
    }
}

/* One terminal, with what its display shows (CardTerminalService RequestCard). */
static void get_terminal(struct mgmt_request *req, void *arg)
{
    struct cards *w = world(arg, req);
    const char *id = mgmt_request_arg(req, 0);
    const struct cards_terminal *t = w ? cards_terminal_find(w, id) : NULL;

    if (!w)
        return;
    if (!t) {
        mgmt_reply_error(req, 404, "not_found", "no card terminal '%.64s'", id);
        return;
    }
    mgmt_reply_json(req, 200, terminal_json(w, t));
}

static void put_terminal(struct mgmt_request *req, void *arg)
{
    struct cards *w = world(arg, req);
    const char *id = mgmt_request_arg(req, 0);
    json_t *body = mgmt_request_body(req);
    json_t *connected = body ? json_object_get(body, "connected") : NULL;

    if (!w)
        return;
    if (!json_is_boolean(connected)) {
        mgmt_reply_error(req, 400, "bad_request", "the body needs a boolean member 'connected'");
        return;
    }
    if (cards_terminal_set_connected(w, id, json_is_true(connected)) < 0) {
        mgmt_reply_error(req, 404, "not_found", "no card terminal '%.64s'", id);
        return;
    }
    log_msg(LOG_LEVEL_INFO, "control: '%s' %s card terminal %s", mgmt_request_user(req),
            json_is_true(connected) ? "connected" : "disconnected", id);
    mgmt_reply_json(req, 200, terminal_json(w, cards_terminal_find(w, id)));
}

static const struct control__route routes[] = {
    {MGMT_GET, "/control/v1/cards", get_cards},
    {MGMT_POST, "/control/v1/cards/insert", post_insert},
    {MGMT_POST, "/control/v1/cards/remove", post_remove},
    {MGMT_POST, "/control/v1/cards/import", post_import},
    {MGMT_GET, "/control/v1/terminals", get_terminals},
    {MGMT_GET, "/control/v1/terminals/*", get_terminal},
    {MGMT_PUT, "/control/v1/terminals/*", put_terminal},
};

int control__cards_routes_add(struct control *c, struct mgmt_server *srv)
{
    return control__routes_register(c, srv, routes, ARRAY_SIZE(routes));
}
