/* card_terminal_service: the CardTerminalService v1.1 (digest section 7.7): RequestCard and
 * EjectCard on the simulated card terminals.
 *
 * RequestCard (Context, Slot{CtId, SlotId}, CardType?, DisplayMsg?, TimeOut?) answers at once
 * with AlreadyInserted=true and the Card when the slot holds a card of the requested type.
 * With the slot empty it holds the call (soap_call_on_gone), shows DisplayMsg (or a default
 * text) on the terminal's display and waits for CARD/INSERTED into that slot, or until
 * TimeOut seconds of connector time pass (base clock timers: the virtual clock drives them).
 *
 *   RequestCard, slot empty ──> WAITING (display shows the text, timer armed)
 *     WAITING ── CARD/INSERTED into the slot, right type ──> AlreadyInserted=false + Card
 *     WAITING ── CARD/INSERTED into the slot, wrong type ──> 4051
 *     WAITING ── timer (TimeOut) ──────────────────────────> 4094
 *     WAITING ── CT/DISCONNECTED of the terminal ──────────> 4040
 *     WAITING ── client gone ──────────────────────────────> abandoned, nothing sent
 *     WAITING ── services stop ────────────────────────────> 4001 (soap_call_abandon)
 *   every exit from WAITING goes through wait_end(): timer stopped, display cleared
 *   (TIP1-A_6725) unless another text (a PIN pad's prompt) replaced ours meanwhile, the
 *   wait unlinked and freed; then the call is answered.
 *
 * EjectCard (Context, CardHandle | Slot, DisplayMsg?, TimeOut?) removes the card from its slot
 * (CARD/REMOVED): the simulated user takes it out at once, so neither the text nor the
 * timeout comes into play. An empty slot answers OK: what EjectCard wants is already so.
 *
 * Decisions where the spec is silent or its tables were lost:
 *  - Timeout code: the digest's catalogue names no code of its own for RequestCard; the
 *    closest one it lists is 4094 "card access timeout" (4043 is the PIN entry's), so a
 *    RequestCard that sees no card in time answers 4094.
 *  - TimeOut is in seconds (gemILF_PS); absent: SERVICES_CT_TIMEOUT_DEFAULT_S; larger than
 *    SERVICES_CT_TIMEOUT_MAX_S is cut to it; 0 does not wait (4094 at once with an empty slot).
 *  - One waiting RequestCard per terminal: it owns the display; a second one answers 4060
 *    (resource busy: display).
 *  - A disconnected terminal answers 4040 (connection to the terminal failed), at the start
 *    or while waiting. A slot number outside the terminal's slots is a syntax error (4000).
 *  - Default display texts (TAB_KON_727 lost) [R]: "Bitte Karte stecken".
 *  - CardType HBAx matches HBA and HBA-qSig, SM-B matches SMC-B and HSM-B (CardTypeType).
 *
 * Invariants:
 *  1. A handler answers exactly once or holds the call in exactly one wait; a wait answers
 *     exactly once (or abandons) and is freed when it does.
 *  2. The context check (TUC_KON_000) runs before anything is read or changed for the caller;
 *     the gate (GATE_OP_CARD) runs before the handler (soap). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/services_internal.h"

#define NS_CTS "http://ws.gematik.de/conn/CardTerminalService/v1.1"
/* Characters of DisplayMsg (CardTerminalService.xsd maxLength). */
#define DISPLAY_MSG_MAX 48
#define DEFAULT_REQUEST_TEXT "Bitte Karte stecken"

/* gematik codes of this service (beyond TUC_KON_000's). */
#define ERR_CT_CONNECTION 4040
#define ERR_WRONG_CARD_TYPE 4051
#define ERR_RESOURCE_BUSY 4060
#define ERR_TIMEOUT 4094

static const struct soap_service ct_service = {
    .name = "CardTerminalService",
    .abstract = "Kartenterminaldienst: request and eject cards",
    .target_namespace = "http://ws.gematik.de/conn/CardTerminalService/WSDL/v1.1",
    .version = "1.1.0",
    .path = "/ws/CardTerminalService",
    .wsdl_path = NULL,
};

struct wait {
    struct services_ct *ct;
    struct soap_call *call;
    char ct_id[STORE_ENTITY_ID_MAX + 1];
    unsigned slot;
    bool has_type;
    enum cards_type type;
    struct clock_timer *timer;
    char shown[CARDS_DISPLAY_MAX + 1]; /* the text put on the terminal's display */
    struct wait *next;
};

struct services_ct {
    struct services *s;
    struct soap_operation ops[2];
    struct wait *waits;
    uint64_t sub_card, sub_ct;
    bool subscribed_card, subscribed_ct;
};

/* ---- helpers ---------------------------------------------------------------------------- */

static size_t utf8_chars(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            n++;
    return n;
}

static bool type_matches(enum cards_type want, enum cards_type have)
{
    if (want == have)
        return true;
    if (want == CARDS_TYPE_HBA_X)
        return have == CARDS_TYPE_HBA || have == CARDS_TYPE_HBA_QSIG;
    if (want == CARDS_TYPE_SM_B)
        return have == CARDS_TYPE_SMC_B || have == CARDS_TYPE_HSM_B;
    return false;
}

/* Reads CT:Slot {CARDCMN:CtId, CARDCMN:SlotId}; answers 4000 and returns false if bad. */
static bool parse_slot(struct soap_call *call, xmlNodePtr slot_node, char *ct_id, size_t ct_size,
                       unsigned *ret_slot)
{
    char text[16];
    int64_t slot = 0;
    int r = services__trimmed(soap_child_text(slot_node, SOAP_NS_CARDCMN, "CtId"), ct_id, ct_size);

    if (r < 0 || ct_id[0] == '\0') {
        soap_call_fault(call, SERVICES_ERR_SYNTAX, "Slot needs a CtId of 1 to 64 characters");
        return false;
    }
    r = services__trimmed(soap_child_text(slot_node, SOAP_NS_CARDCMN, "SlotId"), text,
                          sizeof(text));
    if (r < 0 || str_to_int64(text, &slot) < 0 || slot < 1 || slot > STORE_CT_SLOTS_MAX) {
        soap_call_fault(call, SERVICES_ERR_SYNTAX, "Slot needs a SlotId from 1 to %d",
                        STORE_CT_SLOTS_MAX);
        return false;
    }
    *ret_slot = (unsigned)slot;
    return true;
}

/* DisplayMsg (optional): at most 48 characters. NULL text when absent. */
static bool parse_display(struct soap_call *call, xmlNodePtr op, const char **ret_text)
{
    const char *text = soap_child_text(op, NS_CTS, "DisplayMsg");

    if (text && utf8_chars(text) > DISPLAY_MSG_MAX) {
        soap_call_fault(call, SERVICES_ERR_SYNTAX, "DisplayMsg has more than %d characters",
                        DISPLAY_MSG_MAX);
        return false;
    }
    *ret_text = text;
    return true;
}

/* TimeOut (optional, seconds). */
static bool parse_timeout(struct soap_call *call, xmlNodePtr op, int64_t *ret_s)
{
    char text[32];
    int64_t v = SERVICES_CT_TIMEOUT_DEFAULT_S;
    int r = services__trimmed(soap_child_text(op, NS_CTS, "TimeOut"), text, sizeof(text));

    if (r == -E2BIG || (r == 0 && (str_to_int64(text, &v) < 0 || v < 0))) {
        /* A nonNegativeInteger too large for int64 is still a wish to wait long. */
        if (r == 0 && strspn(text, "0123456789") == strlen(text) && text[0]) {
            v = SERVICES_CT_TIMEOUT_MAX_S;
        } else {
            soap_call_fault(call, SERVICES_ERR_SYNTAX, "TimeOut must be a whole number of seconds");
            return false;
        }
    }
    *ret_s = v > SERVICES_CT_TIMEOUT_MAX_S ? SERVICES_CT_TIMEOUT_MAX_S : v;
    return true;
}

/* The terminal of ct_id if connected; answers 4040 or 4000 (slot out of range) otherwise. */
static const struct cards_terminal *terminal_usable(struct services *s, struct soap_call *call,
                                                    const char *ct_id, unsigned slot)
{
    const struct cards_terminal *t =
        s->deps.cards ? cards_terminal_find(s->deps.cards, ct_id) : NULL;

    if (!t || !t->connected) {
        soap_call_fault(call, ERR_CT_CONNECTION, "card terminal '%s' is not connected", ct_id);
        return NULL;
    }
    if (slot > t->slots) {
        soap_call_fault(call, SERVICES_ERR_SYNTAX,
                        "SlotId %u: card terminal '%s' has slots 1 to %u", slot, ct_id, t->slots);
        return NULL;
    }
    return t;
}

static void reply_card(struct soap_call *call, const struct cards_card *card, bool already)
{
    xmlTextWriterPtr w = soap_call_reply_begin(call, NS_CTS, "CTS", "RequestCardResponse");
    int r = 0;

    if (!w)
        return;
    r |= services__xml_text(w, "CTS", "AlreadyInserted", already ? "true" : "false");
    r |= services__write_card(w, card);
    if (r < 0)
        log_msg(LOG_LEVEL_ERROR, "services: writing the RequestCardResponse failed");
    soap_call_reply_end(call);
}

/* ---- waiting ---------------------------------------------------------------------------- */

/* Clears the display unless another text (a PIN pad's prompt) replaced ours meanwhile. */
static void display_clear(struct cards *cards, const struct wait *w)
{
    const struct cards_terminal *t = cards ? cards_terminal_find(cards, w->ct_id) : NULL;

    if (t && strcmp(t->display, w->shown) == 0)
        (void)cards_terminal_display_set(cards, w->ct_id, NULL);
}

/* Every exit from WAITING (file comment). The call is the caller's to answer. */
static struct soap_call *wait_end(struct wait *w)
{
    struct services_ct *ct = w->ct;
    struct soap_call *call = w->call;

    for (struct wait **p = &ct->waits; *p; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            break;
        }
    }
    clock_timer_free(w->timer);
    display_clear(ct->s->deps.cards, w);
    soap_call_on_gone(call, NULL, NULL);
    free(w);
    return call;
}

static void on_timeout(void *arg)
{
    struct wait *w = arg;
    char ct_id[STORE_ENTITY_ID_MAX + 1];
    unsigned slot = w->slot;
    struct soap_call *call;

    (void)str_copy(ct_id, sizeof(ct_id), w->ct_id);
    call = wait_end(w);
    soap_call_fault(call, ERR_TIMEOUT, "no card was inserted into slot %u of '%s' in time", slot,
                    ct_id);
}

static void on_gone(struct soap_call *call, void *arg)
{
    struct wait *w = arg;

    log_msg(LOG_LEVEL_DEBUG, "services: RequestCard for %s slot %u ended: the client left",
            w->ct_id, w->slot);
    soap_call_abandon(wait_end(w));
}

static struct wait *wait_find(struct services_ct *ct, const char *ct_id)
{
    for (struct wait *w = ct->waits; w && ct_id; w = w->next)
        if (strcmp(w->ct_id, ct_id) == 0)
            return w;
    return NULL;
}

static void on_card_event(const struct evt_event *ev, void *arg)
{
    struct services_ct *ct = arg;
    struct wait *w = wait_find(ct, evt_event_param(ev, "CtID"));
    const char *slot_text = evt_event_param(ev, "SlotID");
    const char *handle = evt_event_param(ev, "CardHandle");
    const struct cards_card *card;
    struct soap_call *call;
    int64_t slot = 0;

    if (strcmp(ev->topic, "CARD/INSERTED") != 0 || !w || !slot_text ||
        str_to_int64(slot_text, &slot) < 0 || slot != (int64_t)w->slot)
        return;
    card = ct->s->deps.cards ? cards_card_by_handle(ct->s->deps.cards, handle) : NULL;
    if (!card)
        return;
    if (w->has_type && !type_matches(w->type, card->type)) {
        enum cards_type want = w->type;

        call = wait_end(w);
        soap_call_fault(call, ERR_WRONG_CARD_TYPE, "a card of type %s was inserted, not %s",
                        cards_type_to_string(card->type), cards_type_to_string(want));
        return;
    }
    call = wait_end(w);
    reply_card(call, card, false);
}

static void on_ct_event(const struct evt_event *ev, void *arg)
{
    struct services_ct *ct = arg;
    struct wait *w;

    if (strcmp(ev->topic, "CT/DISCONNECTED") != 0)
        return;
    w = wait_find(ct, evt_event_param(ev, "CtID"));
    if (w) {
        char ct_id[STORE_ENTITY_ID_MAX + 1];

        (void)str_copy(ct_id, sizeof(ct_id), w->ct_id);
        soap_call_fault(wait_end(w), ERR_CT_CONNECTION,
                        "card terminal '%s' was disconnected while waiting for a card", ct_id);
    }
}

/* ---- RequestCard, EjectCard ------------------------------------------------------------- */

static void on_request_card(struct soap_call *call, void *arg)
{
    struct services_ct *ct = arg;
    struct services *s = ct->s;
    xmlNodePtr op = soap_call_operation(call);
    char ct_id[STORE_ENTITY_ID_MAX + 1] = "", type_text[32];
    const char *display = NULL;
    const struct cards_card *card;
    enum cards_type type = CARDS_TYPE_UNKNOWN;
    bool has_type;
    unsigned slot = 0;
    int64_t timeout_s = 0;
    struct wait *w;
    int r;

    if (!parse_slot(call, soap_child(op, NS_CTS, "Slot"), ct_id, sizeof(ct_id), &slot))
        return;
    r = services__trimmed(soap_child_text(op, SOAP_NS_CARDCMN, "CardType"), type_text,
                          sizeof(type_text));
    has_type = r == 0;
    if (r == -E2BIG || (has_type && cards_type_from_string(type_text, &type) < 0)) {
        soap_call_fault(call, SERVICES_ERR_SYNTAX, "CardType is not a CardTypeType");
        return;
    }
    if (!parse_display(call, op, &display) || !parse_timeout(call, op, &timeout_s))
        return;
    if (!services__context_ok(s, call, NULL, ct_id, 0) || !terminal_usable(s, call, ct_id, slot))
        return;
    card = cards_card_in_slot(s->deps.cards, ct_id, slot);
    if (card) {
        if (has_type && !type_matches(type, card->type))
            soap_call_fault(call, ERR_WRONG_CARD_TYPE, "slot %u of '%s' holds a card of type %s",
                            slot, ct_id, cards_type_to_string(card->type));
        else
            reply_card(call, card, true);
        return;
    }
    if (wait_find(ct, ct_id)) {
        soap_call_fault(call, ERR_RESOURCE_BUSY,
                        "another RequestCard is waiting at card terminal '%s'", ct_id);
        return;
    }
    if (timeout_s == 0) {
        soap_call_fault(call, ERR_TIMEOUT, "slot %u of '%s' is empty (TimeOut 0)", slot, ct_id);
        return;
    }
    w = calloc(1, sizeof(*w));
    if (w)
        w->timer = clock_timer_new(on_timeout, w);
    if (!w || !w->timer) {
        free(w);
        soap_call_fault(call, SERVICES_ERR_INTERNAL, "out of memory");
        return;
    }
    *w = (struct wait){.ct = ct,
                       .call = call,
                       .slot = slot,
                       .has_type = has_type,
                       .type = type,
                       .timer = w->timer,
                       .next = ct->waits};
    (void)str_copy(w->ct_id, sizeof(w->ct_id), ct_id);
    ct->waits = w;
    (void)cards_terminal_display_set(s->deps.cards, ct_id,
                                     display && display[0] ? display : DEFAULT_REQUEST_TEXT);
    (void)str_copy(w->shown, sizeof(w->shown), cards_terminal_find(s->deps.cards, ct_id)->display);
    soap_call_on_gone(call, on_gone, w);
    clock_timer_start(w->timer, timeout_s * 1000);
    log_msg(LOG_LEVEL_DEBUG, "services: RequestCard waits up to %lld s for a card in %s slot %u",
            (long long)timeout_s, ct_id, slot);
}

static void on_eject_card(struct soap_call *call, void *arg)
{
    struct services_ct *ct = arg;
    struct services *s = ct->s;
    xmlNodePtr op = soap_call_operation(call);
    xmlNodePtr slot_node = soap_child(op, NS_CTS, "Slot");
    char ct_id[STORE_ENTITY_ID_MAX + 1] = "", handle[CARDS_HANDLE_MAX + 1] = "";
    const struct cards_card *card = NULL;
    const char *display = NULL;
    int64_t timeout_s = 0;
    unsigned slot = 0;
    xmlTextWriterPtr w;
    int r;

    r = services__trimmed(soap_child_text(op, SOAP_NS_CONN, "CardHandle"), handle, sizeof(handle));
    if (r == -E2BIG || (r == 0 && !handle[0]) || (r == -ENOENT && !slot_node)) {
        soap_call_fault(call, SERVICES_ERR_SYNTAX, "EjectCard needs a CardHandle or a Slot");
        return;
    }
    if (!handle[0] && !parse_slot(call, slot_node, ct_id, sizeof(ct_id), &slot))
        return;
    if (!parse_display(call, op, &display) || !parse_timeout(call, op, &timeout_s))
        return;
    if (!services__context_ok(s, call, handle[0] ? handle : NULL, handle[0] ? NULL : ct_id, 0))
        return;
    if (handle[0]) {
        card = cards_card_by_handle(s->deps.cards, handle);
        (void)str_copy(ct_id, sizeof(ct_id), card->ct_id);
        slot = card->slot;
    } else {
        if (!terminal_usable(s, call, ct_id, slot))
            return;
        card = cards_card_in_slot(s->deps.cards, ct_id, slot);
    }
    if (card) {
        log_msg(LOG_LEVEL_DEBUG, "services: EjectCard takes the card out of %s slot %u", ct_id,
                slot);
        (void)cards_remove(s->deps.cards, ct_id, slot); /* CARD/REMOVED */
    }
    w = soap_call_reply_begin(call, NS_CTS, "CTS", "EjectCardResponse");
    if (w)
        soap_call_reply_end(call);
}

/* ---- start and stop --------------------------------------------------------------------- */

int services__ct_service_start(struct services *s)
{
    struct services_ct *ct = calloc(1, sizeof(*ct));
    int r;

    if (!ct)
        return -ENOMEM;
    ct->s = s;
    s->ct = ct;
    ct->ops[0] =
        (struct soap_operation){NS_CTS, "RequestCard", GATE_OP_CARD, true, on_request_card, ct};
    ct->ops[1] =
        (struct soap_operation){NS_CTS, "EjectCard", GATE_OP_CARD, true, on_eject_card, ct};
    r = evt_bus_subscribe(s->deps.bus, "CARD/", on_card_event, ct, &ct->sub_card);
    ct->subscribed_card = r == 0;
    if (r == 0)
        r = evt_bus_subscribe(s->deps.bus, "CT/", on_ct_event, ct, &ct->sub_ct);
    ct->subscribed_ct = ct->subscribed_card && r == 0;
    if (r == 0)
        r = soap_server_register(s->deps.soap, &ct_service, ct->ops, ARRAY_SIZE(ct->ops));
    return r;
}

void services__ct_service_stop(struct services *s)
{
    struct services_ct *ct = s->ct;

    if (!ct)
        return;
    if (ct->subscribed_card)
        (void)evt_bus_unsubscribe(s->deps.bus, ct->sub_card);
    if (ct->subscribed_ct)
        (void)evt_bus_unsubscribe(s->deps.bus, ct->sub_ct);
    /* Invariant 1: a client still waiting learns that nothing came of it (4001). */
    while (ct->waits)
        soap_call_abandon(wait_end(ct->waits));
    free(ct);
    s->ct = NULL;
}
