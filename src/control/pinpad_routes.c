/* pinpad_routes: the /control/v1 endpoints of the virtual PIN pads (cards/pin.h): what each
 * terminal's PIN pad asks for, typing on it, cancelling on it, a card's auto-PIN setting, and
 * putting a PIN object into a state (transport, empty, ...) for tests. Like the other control
 * routes they belong to the simulated world: no critical state stops them (GATE_OP_MAX), and
 * only Local- and Super-Administrators may drive them.
 *
 *   GET  /control/v1/pinpad                    every terminal's pad
 *   GET  /control/v1/pinpad/{ct}               one pad
 *   POST /control/v1/pinpad/{ct}/type          {"pin": "123456"}: the current step
 *   POST /control/v1/pinpad/{ct}/cancel        the cancel key (the operation gets 4049)
 *   GET  /control/v1/cards/{card}/auto-pin
 *   PUT  /control/v1/cards/{card}/auto-pin     {"enabled": true}
 *   PUT  /control/v1/cards/{card}/pins/{pin}   {"state": "transport"}
 *
 * Invariants:
 *  1. Until bootup has opened the world every route answers 503.
 *  2. What is typed is never logged or echoed; answers show the pad as it is afterwards.
 *  3. Errors: unknown terminal, card or PIN 404; a pad that waits for nothing 409; digits
 *     that are not 1 to 12 decimal digits, or a bad body, 400. */
#include "control/control_internal.h"

#include "cards/pin.h"

#include <errno.h>
#include <string.h>

static struct cards *world(struct control *c, struct mgmt_request *req)
{
    if (c->deps.cards && *c->deps.cards)
        return *c->deps.cards;
    mgmt_reply_error(req, 503, "unavailable",
                     "the simulated card world is not open yet (the connector is booting)");
    return NULL;
}

static json_t *pad_json(const char *ct_id, const struct cards_pinpad_view *v)
{
    char deadline[32];

    if (!v->waiting)
        return json_pack("{s:s,s:b}", "ct", ct_id, "waiting", false);
    return json_pack("{s:s,s:b,s:s,s:s,s:s,s:s,s:s,s:i,s:i,s:s}", "ct", ct_id, "waiting", true,
                     "card", v->card, "card_type", cards_type_to_string(v->card_type), "pin",
                     v->pin_name, "operation", cards_pin_op_to_string(v->op), "display", v->display,
                     "step", (int)v->step, "steps", (int)v->steps, "deadline",
                     clock_format_iso(v->deadline_ms, deadline, sizeof(deadline)));
}

static void reply_pad(struct mgmt_request *req, struct cards *w, const char *ct_id, int status,
                      bool with_done, bool done)
{
    struct cards_pinpad_view v;
    json_t *j;

    if (cards_pinpad_view(w, ct_id, &v) < 0) {
        mgmt_reply_error(req, 404, "not_found", "no card terminal '%.64s'", ct_id);
        return;
    }
    j = pad_json(ct_id, &v);
    if (j && with_done)
        (void)json_object_set_new(j, "completed", json_boolean(done));
    mgmt_reply_json(req, status, j);
}

static void get_pads(struct mgmt_request *req, void *arg)
{
    struct cards *w = world(arg, req);
    json_t *pads;

    if (!w)
        return;
    pads = json_array();
    for (size_t i = 0; pads && i < cards_terminal_count(w); i++) {
        const char *id = cards_terminal_at(w, i)->id;
        struct cards_pinpad_view v;

        if (cards_pinpad_view(w, id, &v) == 0)
            (void)json_array_append_new(pads, pad_json(id, &v));
    }
    mgmt_reply_json(req, 200, json_pack("{s:o}", "pinpads", pads));
}

static void get_pad(struct mgmt_request *req, void *arg)
{
    struct cards *w = world(arg, req);

    if (w)
        reply_pad(req, w, mgmt_request_arg(req, 0), 200, false, false);
}

static void pad_error(struct mgmt_request *req, int r, const char *ct_id)
{
    if (r == -ENOENT)
        mgmt_reply_error(req, 404, "not_found", "no card terminal '%.64s'", ct_id);
    else if (r == -EAGAIN)
        mgmt_reply_error(req, 409, "conflict", "the PIN pad of '%.64s' waits for no entry", ct_id);
    else
        mgmt_reply_error(req, 400, "invalid_value", "pin must be 1 to %d decimal digits",
                         CARDS_PIN_ENTRY_MAX);
}

static void post_type(struct mgmt_request *req, void *arg)
{
    struct cards *w = world(arg, req);
    const char *ct_id = mgmt_request_arg(req, 0);
    const char *pin;
    bool done = false;
    int r;

    if (!w || !(pin = mgmt_body_string(req, "pin")))
        return;
    r = cards_pinpad_type(w, ct_id, pin, &done);
    if (r < 0) {
        pad_error(req, r, ct_id);
        return;
    }
    /* Invariant 2: no digits in the log. */
    log_msg(LOG_LEVEL_INFO, "control: '%s' typed on the PIN pad of %s%s", mgmt_request_user(req),
            ct_id, done ? " (entry complete)" : "");
    reply_pad(req, w, ct_id, 200, true, done);
}

static void post_cancel(struct mgmt_request *req, void *arg)
{
    struct cards *w = world(arg, req);
    const char *ct_id = mgmt_request_arg(req, 0);
    int r;

    if (!w)
        return;
    r = cards_pinpad_cancel(w, ct_id);
    if (r < 0) {
        pad_error(req, r, ct_id);
        return;
    }
    log_msg(LOG_LEVEL_INFO, "control: '%s' cancelled the PIN entry on %s", mgmt_request_user(req),
            ct_id);
    reply_pad(req, w, ct_id, 200, false, false);
}

static json_t *auto_pin_json(const struct cards_card *card)
{
    return json_pack("{s:s,s:b}", "card", card->name, "auto_pin", card->auto_pin);
}

static void get_auto_pin(struct mgmt_request *req, void *arg)
{
    struct cards *w = world(arg, req);
    const char *name = mgmt_request_arg(req, 0);
    const struct cards_card *card = w ? cards_card_find(w, name) : NULL;

    if (!w)
        return;
    if (!card) {
        mgmt_reply_error(req, 404, "not_found", "no card '%.64s' in the catalog", name);
        return;
    }
    mgmt_reply_json(req, 200, auto_pin_json(card));
}

static void put_auto_pin(struct mgmt_request *req, void *arg)
{
    struct cards *w = world(arg, req);
    const char *name = mgmt_request_arg(req, 0);
    json_t *body = mgmt_request_body(req);
    json_t *enabled = body ? json_object_get(body, "enabled") : NULL;
    int r;

    if (!w)
        return;
    if (!json_is_boolean(enabled)) {
        mgmt_reply_error(req, 400, "bad_request", "the body needs a boolean member 'enabled'");
        return;
    }
    r = cards_card_set_auto_pin(w, name, json_is_true(enabled));
    if (r == -ENOENT) {
        mgmt_reply_error(req, 404, "not_found", "no card '%.64s' in the catalog", name);
        return;
    }
    if (r < 0)
        log_msg(LOG_LEVEL_WARNING,
                "control: cannot save the world; auto-PIN of '%s' is lost "
                "at restart",
                name);
    log_msg(LOG_LEVEL_INFO, "control: '%s' turned auto-PIN of card '%s' %s", mgmt_request_user(req),
            name, json_is_true(enabled) ? "on" : "off");
    mgmt_reply_json(req, 200, auto_pin_json(cards_card_find(w, name)));
}

static void put_pin_state(struct mgmt_request *req, void *arg)
{
    struct cards *w = world(arg, req);
    const char *name = mgmt_request_arg(req, 0);
    const char *pin = mgmt_request_arg(req, 1);
    const char *state_text;
    enum cards_pin_state state;
    int r;

    if (!w || !(state_text = mgmt_body_string(req, "state")))
        return;
    if (cards_pin_state_from_string(state_text, &state) < 0) {
        mgmt_reply_error(req, 400, "invalid_value",
                         "state must be verifiable, transport, empty, blocked, puk-blocked or "
                         "disabled, got '%.32s'",
                         state_text);
        return;
    }
    r = cards_card_set_pin_state(w, name, pin, state);
    if (r == -ENOENT || r == -ENOKEY) {
        mgmt_reply_error(req, 404, "not_found",
                         r == -ENOENT ? "no card '%.64s' in the catalog"
                                      : "card '%.64s' has no PIN '%.32s'",
                         name, pin);
        return;
    }
    log_msg(LOG_LEVEL_INFO, "control: '%s' set %s of card '%s' to %s", mgmt_request_user(req), pin,
            name, cards_pin_state_to_string(state));
    mgmt_reply_json(
        req, 200,
        json_pack("{s:s,s:s,s:s,s:i,s:i}", "card", name, "pin", pin, "state",
                  cards_pin_state_to_string(state), "tries_left",
                  state == CARDS_PIN_BLOCKED || state == CARDS_PIN_PUK_BLOCKED ? 0
                                                                               : CARDS_PIN_TRIES,
                  "puk_uses_left", state == CARDS_PIN_PUK_BLOCKED ? 0 : CARDS_PIN_PUK_USES));
}

static const struct control__route routes[] = {
    {MGMT_GET, "/control/v1/pinpad", get_pads},
    {MGMT_GET, "/control/v1/pinpad/*", get_pad},
    {MGMT_POST, "/control/v1/pinpad/*/type", post_type},
    {MGMT_POST, "/control/v1/pinpad/*/cancel", post_cancel},
    {MGMT_GET, "/control/v1/cards/*/auto-pin", get_auto_pin},
    {MGMT_PUT, "/control/v1/cards/*/auto-pin", put_auto_pin},
    {MGMT_PUT, "/control/v1/cards/*/pins/*", put_pin_state},
};

int control__pinpad_routes_add(struct control *c, struct mgmt_server *srv)
{
    return control__routes_register(c, srv, routes, ARRAY_SIZE(routes));
}
