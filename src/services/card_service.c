/* card_service: the CardService v8.1.2 (digest section 7.7; CardService_v8_1_2.wsdl with
 * CardService_v8_1_3.xsd): VerifyPin, ChangePin, GetPinStatus, UnblockPin, EnablePin and
 * DisablePin for the PIN objects of eGK, HBA and SMC-B (PIN.CH, PIN.QES, PIN.SMC, MRPIN.*).
 *
 * Each operation runs behind the critical-state gate (GATE_OP_CARD, checked by soap) and
 * TUC_KON_000 with the card handle and a card session (an HBA needs a UserId, 4003). The
 * PIN state machines, the card sessions (TIP1-A_4560) and the virtual PIN pad live in cards
 * (cards/pin.h); this file maps their outcome to the XSD and to gematik codes in one switch
 * (refusal_code), and holds the SOAP calls that wait for a PIN:
 *
 *   handler ──cards_pin_start: 0──> answer at once
 *      │ 1: the PIN pad of the card's terminal waits; the call is kept (pending)
 *      ├──on_pin_done (typed, timeout 4043, cancel 4049, card pulled 4008)──> answer
 *      ├──on_gone (the client left)──> cards_pin_wait_cancel, soap_call_abandon
 *      └──services__card_service_stop──> cards_pin_wait_cancel, soap_call_abandon
 *
 * Other refusals: 4072 for a PIN reference the card does not have, 4060 when the terminal's
 * PIN pad already waits for another entry, 4209 for card types without PIN operations
 * (KVK, UNKNOWN, ...), 4000 for a missing or too long element.
 *
 * Security log: every finished PIN operation except a status query publishes LOG/PIN_OP
 * (type Security, so the security log takes it; LOG/ topics never reach event sinks) with
 * the operation, PIN reference, card type, terminal and slot, Mandant and the result; a
 * success only when LOG_SUCCESSFUL_CRYPTO_OPS is on, a wrong or blocked PIN always (Warning).
 * Never a PIN, ICCSN, KVNR or name (TIP1-A_4710).
 *
 * Invariants:
 *  1. A call is answered exactly once: at once, from on_pin_done, or abandoned (on_gone,
 *     stop). A pending entry is unlinked before its call is answered.
 *  2. REJECTED, NOWBLOCKED, WASBLOCKED and TRANSPORT_PIN are technically OK: CONN:Status OK
 *     with the PinResult (gemILF_PS).
 *  3. The PIN itself never passes through here: it is typed on the pad. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cards/pin.h"
#include "services/services_internal.h"

#define TOPIC_PIN_OP "LOG/PIN_OP"
/* CONN:CardHandle (ConnectorCommon.xsd) and CARDCMN:PinTyp (CardServiceCommon.xsd). */
#define PIN_TYP_MAX 64

static const struct soap_service card_service = {
    .name = "CardService",
    .abstract = "Kartendienst: PIN verification, change, unblock, status, enable and disable",
    .target_namespace = "http://ws.gematik.de/conn/CardService/WSDL/v8.1",
    .version = "8.1.2",
    .path = "/ws/CardService",
    .wsdl_path = NULL,
};

struct pending {
    struct pending *next;
    struct services_card *cs;
    struct soap_call *call;
    enum cards_pin_op op;
    char handle[CARDS_HANDLE_MAX + 1];
    char pin_name[PIN_TYP_MAX + 1];
    char mandant_id[SOAP_CONTEXT_ID_MAX + 1];
};

struct services_card {
    struct services *s;
    struct soap_operation ops[6];
    struct pending *pending;
};

/* ---- answers ---------------------------------------------------------------------------- */

/* STYLE.md rule 5: one switch from outcome to gematik code. */
static int refusal_code(enum cards_pin_refusal why)
{
    switch (why) {
    case CARDS_PIN_REFUSAL_BLOCKED:
        return 4063;
    case CARDS_PIN_REFUSAL_PUK_BLOCKED:
        return 4064;
    case CARDS_PIN_REFUSAL_CHANGE_FIRST:
        return 4065;
    case CARDS_PIN_REFUSAL_NEW_MISMATCH:
        return 4067;
    case CARDS_PIN_REFUSAL_NEW_LENGTH:
        return 4068;
    case CARDS_PIN_REFUSAL_NOT_ALLOWED:
        return 4085;
    case CARDS_PIN_REFUSAL_TIMEOUT:
        return 4043;
    case CARDS_PIN_REFUSAL_ABORTED:
        return 4049;
    case CARDS_PIN_REFUSAL_CARD_REMOVED:
        return SERVICES_ERR_CARD_HANDLE;
    default:
        return SERVICES_ERR_INTERNAL;
    }
}

static const char *refusal_detail(enum cards_pin_refusal why)
{
    switch (why) {
    case CARDS_PIN_REFUSAL_BLOCKED:
        return "the PIN is blocked; unblock it with the PUK";
    case CARDS_PIN_REFUSAL_PUK_BLOCKED:
        return "the PUK of this PIN is used up";
    case CARDS_PIN_REFUSAL_CHANGE_FIRST:
        return "the PIN is a transport or empty PIN; set it with ChangePin first";
    case CARDS_PIN_REFUSAL_NEW_MISMATCH:
        return "the new PIN and its repetition typed on the PIN pad differ";
    case CARDS_PIN_REFUSAL_NEW_LENGTH:
        return "a new PIN has 6 to 8 digits";
    case CARDS_PIN_REFUSAL_NOT_ALLOWED:
        return "the card's access conditions do not allow this for the PIN";
    case CARDS_PIN_REFUSAL_TIMEOUT:
        return "nothing was typed on the PIN pad in time";
    case CARDS_PIN_REFUSAL_ABORTED:
        return "the PIN entry was cancelled on the PIN pad";
    case CARDS_PIN_REFUSAL_CARD_REMOVED:
        return "the card was removed during the PIN entry";
    default:
        return NULL;
    }
}

static const char *response_name(enum cards_pin_op op)
{
    switch (op) {
    case CARDS_PIN_OP_VERIFY:
        return "VerifyPinResponse";
    case CARDS_PIN_OP_CHANGE:
        return "ChangePinResponse";
    case CARDS_PIN_OP_UNBLOCK:
    case CARDS_PIN_OP_UNBLOCK_NEW_PIN:
        return "UnblockPinResponse";
    case CARDS_PIN_OP_ENABLE:
        return "EnablePinResponse";
    case CARDS_PIN_OP_DISABLE:
        return "DisablePinResponse";
    default:
        return "GetPinStatusResponse";
    }
}

/* LOG/PIN_OP for the security log (file comment). */
static void log_pin_op(struct services *s, enum cards_pin_op op, const char *handle,
                       const char *pin_name, const char *mandant_id,
                       const struct cards_pin_outcome *out)
{
    const struct cards_card *card =
        s->deps.cards ? cards_card_by_handle(s->deps.cards, handle) : NULL;
    bool ok = out->refusal == CARDS_PIN_REFUSAL_NONE && out->result == CARDS_PIN_RESULT_OK;
    bool log_ok = false;
    char slot[16] = "";
    const char *result = out->refusal == CARDS_PIN_REFUSAL_NONE
                             ? cards_pin_result_to_string(out->result)
                             : "REFUSED";
    char code[16] = "";
    struct evt_param params[8];
    size_t n = 0;
    struct evt_event ev = {.topic = TOPIC_PIN_OP, .type = EVT_TYPE_SECURITY};

    if (op == CARDS_PIN_OP_STATUS || !s->deps.bus)
        return;
    if (ok && (store_setting_get_bool(s->deps.store, "LOG_SUCCESSFUL_CRYPTO_OPS", &log_ok) < 0 ||
               !log_ok))
        return;
    if (card)
        (void)snprintf(slot, sizeof(slot), "%u", card->slot);
    if (out->refusal != CARDS_PIN_REFUSAL_NONE)
        (void)snprintf(code, sizeof(code), "%d", refusal_code(out->refusal));
    params[n++] = (struct evt_param){"Operation", cards_pin_op_to_string(op)};
    params[n++] = (struct evt_param){"PinRef", pin_name};
    params[n++] = (struct evt_param){"CardType", card ? cards_type_to_string(card->type) : ""};
    params[n++] = (struct evt_param){"CtID", card ? card->ct_id : ""};
    params[n++] = (struct evt_param){"SlotID", slot};
    params[n++] = (struct evt_param){"MandantId", mandant_id};
    params[n++] = (struct evt_param){"Result", result};
    if (code[0])
        params[n++] = (struct evt_param){"Code", code};
    ev.severity = ok ? EVT_SEVERITY_INFO : EVT_SEVERITY_WARNING;
    ev.params = params;
    ev.n_params = n;
    (void)evt_bus_publish(s->deps.bus, &ev);
}

static void answer(struct soap_call *call, enum cards_pin_op op,
                   const struct cards_pin_outcome *out)
{
    char left[16];
    xmlTextWriterPtr w;
    int r;

    if (out->refusal != CARDS_PIN_REFUSAL_NONE) {
        const char *detail = refusal_detail(out->refusal);

        if (detail)
            soap_call_fault(call, refusal_code(out->refusal), "%s", detail);
        else
            soap_call_fault(call, refusal_code(out->refusal), NULL);
        return;
    }
    (void)snprintf(left, sizeof(left), "%u", out->left_tries);
    w = soap_call_reply_begin(call, SOAP_NS_CARD, "CARD", response_name(op));
    if (!w)
        return;
    if (op == CARDS_PIN_OP_STATUS) {
        /* Local elements of GetPinStatusResponse: in the CARD namespace. */
        r = services__xml_text(w, "CARD", "PinStatus", cards_pin_status_to_string(out->status));
        r |= services__xml_text(w, "CARD", "LeftTries", left);
    } else {
        /* PinResponseType lives in CardServiceCommon: PinResult and LeftTries are CARDCMN. */
        r = services__xml_start(w, "CARDCMN", "PinResult", SOAP_NS_CARDCMN);
        r |= xmlTextWriterWriteString(w, BAD_CAST cards_pin_result_to_string(out->result)) < 0;
        r |= services__xml_end(w);
        r |= services__xml_start(w, "CARDCMN", "LeftTries", SOAP_NS_CARDCMN);
        r |= xmlTextWriterWriteString(w, BAD_CAST left) < 0;
        r |= services__xml_end(w);
    }
    if (r)
        log_msg(LOG_LEVEL_ERROR, "services: writing the %s failed, reply incomplete",
                response_name(op));
    soap_call_reply_end(call);
}

/* ---- pending calls ---------------------------------------------------------------------- */

static void pending_unlink(struct services_card *cs, struct pending *p)
{
    for (struct pending **pp = &cs->pending; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            return;
        }
    }
}

static void on_pin_done(const struct cards_pin_outcome *out, void *arg)
{
    struct pending *p = arg;
    struct services_card *cs = p->cs;

    pending_unlink(cs, p); /* invariant 1 */
    log_pin_op(cs->s, p->op, p->handle, p->pin_name, p->mandant_id, out);
    soap_call_on_gone(p->call, NULL, NULL);
    answer(p->call, p->op, out);
    free(p);
}

static void on_gone(struct soap_call *call, void *arg)
{
    struct pending *p = arg;
    struct services_card *cs = p->cs;

    log_msg(LOG_LEVEL_INFO, "services: the client left while %s waited for the PIN pad",
            cards_pin_op_to_string(p->op));
    pending_unlink(cs, p);
    if (cs->s->deps.cards)
        cards_pin_wait_cancel(cs->s->deps.cards, p);
    free(p);
    soap_call_abandon(call);
}

/* ---- the operations --------------------------------------------------------------------- */

static bool has_pin_operations(enum cards_type t)
{
    switch (t) {
    case CARDS_TYPE_EGK:
    case CARDS_TYPE_HBA:
    case CARDS_TYPE_HBA_QSIG:
    case CARDS_TYPE_HBA_X:
    case CARDS_TYPE_SMC_B:
    case CARDS_TYPE_SM_B:
        return true;
    default:
        return false;
    }
}

/* Reads CardHandle and PinTyp; answers 4000 and returns false when one is missing or too
 * long. */
static bool parse_request(struct soap_call *call, char *handle, char *pin_name)
{
    xmlNodePtr op = soap_call_operation(call);
    int r = services__trimmed(soap_child_text(op, SOAP_NS_CONN, "CardHandle"), handle,
                              CARDS_HANDLE_MAX + 1);

    if (r < 0 || handle[0] == '\0') {
        soap_call_fault(call, SERVICES_ERR_SYNTAX, "CardHandle must have 1 to %d characters",
                        CARDS_HANDLE_MAX);
        return false;
    }
    r = services__trimmed(soap_child_text(op, SOAP_NS_CARDCMN, "PinTyp"), pin_name,
                          PIN_TYP_MAX + 1);
    if (r < 0 || pin_name[0] == '\0') {
        soap_call_fault(call, SERVICES_ERR_SYNTAX, "PinTyp must have 1 to %d characters",
                        PIN_TYP_MAX);
        return false;
    }
    return true;
}

static bool set_new_pin_requested(struct soap_call *call)
{
    char b[8];

    return services__trimmed(soap_child_text(soap_call_operation(call), SOAP_NS_CARD, "SetNewPin"),
                             b, sizeof(b)) == 0 &&
           (strcmp(b, "true") == 0 || strcmp(b, "1") == 0);
}

static void run(struct services_card *cs, struct soap_call *call, enum cards_pin_op op)
{
    struct services *s = cs->s;
    const struct soap_context *ctx = soap_call_context(call);
    char handle[CARDS_HANDLE_MAX + 1];
    char pin_name[PIN_TYP_MAX + 1];
    char key[CARDS_SESSION_KEY_MAX];
    const struct cards_card *card;
    struct cards_pin_outcome out;
    struct pending *p = NULL;
    struct cards_pin_request req;
    int r;

    if (!parse_request(call, handle, pin_name))
        return;
    if (op == CARDS_PIN_OP_UNBLOCK && set_new_pin_requested(call))
        op = CARDS_PIN_OP_UNBLOCK_NEW_PIN;
    if (!services__context_ok(s, call, handle, NULL, SERVICES_CTX_NEED_CARD_SESSION))
        return;
    card = cards_card_by_handle(s->deps.cards, handle); /* the check found it */
    if (!card || !has_pin_operations(card->type)) {
        soap_call_fault(call, 4209, "%s is not offered for cards of type %s",
                        cards_pin_op_to_string(op), card ? cards_type_to_string(card->type) : "?");
        return;
    }
    if (cards_session_key(card->type, ctx->mandant_id, ctx->client_system_id, ctx->user_id, key,
                          sizeof(key)) < 0) {
        soap_call_fault(call, SERVICES_ERR_INTERNAL, "the card session key does not fit");
        return;
    }
    p = calloc(1, sizeof(*p));
    if (!p) {
        soap_call_fault(call, SERVICES_ERR_INTERNAL, "out of memory");
        return;
    }
    *p = (struct pending){.cs = cs, .call = call, .op = op};
    (void)str_copy(p->handle, sizeof(p->handle), handle);
    (void)str_copy(p->pin_name, sizeof(p->pin_name), pin_name);
    (void)str_copy(p->mandant_id, sizeof(p->mandant_id), ctx->mandant_id);
    req = (struct cards_pin_request){
        .handle = handle, .pin_name = pin_name, .session_key = key, .op = op};
    r = cards_pin_start(s->deps.cards, &req, on_pin_done, p, &out);
    switch (r) {
    case 1:
        p->next = cs->pending;
        cs->pending = p;
        soap_call_on_gone(call, on_gone, p);
        return;
    case 0:
        log_pin_op(s, op, handle, pin_name, ctx->mandant_id, &out);
        answer(call, op, &out);
        break;
    case -ENOKEY:
        soap_call_fault(call, 4072, "the card has no PIN '%s'", pin_name);
        break;
    case -ENOENT:
        soap_call_fault(call, SERVICES_ERR_CARD_HANDLE, "CardHandle '%s' is unknown", handle);
        break;
    case -EBUSY:
        soap_call_fault(call, 4060, "the PIN pad of terminal '%s' waits for another entry",
                        card->ct_id);
        break;
    default:
        soap_call_fault(call, SERVICES_ERR_INTERNAL, "the PIN operation could not start");
        break;
    }
    free(p);
}

static void on_verify(struct soap_call *call, void *arg)
{
    run(arg, call, CARDS_PIN_OP_VERIFY);
}

static void on_change(struct soap_call *call, void *arg)
{
    run(arg, call, CARDS_PIN_OP_CHANGE);
}

static void on_status(struct soap_call *call, void *arg)
{
    run(arg, call, CARDS_PIN_OP_STATUS);
}

static void on_unblock(struct soap_call *call, void *arg)
{
    run(arg, call, CARDS_PIN_OP_UNBLOCK);
}

static void on_enable(struct soap_call *call, void *arg)
{
    run(arg, call, CARDS_PIN_OP_ENABLE);
}

static void on_disable(struct soap_call *call, void *arg)
{
    run(arg, call, CARDS_PIN_OP_DISABLE);
}

/* ---- registration ----------------------------------------------------------------------- */

int services__card_service_start(struct services *s)
{
    static const struct {
        const char *name;
        soap_handler_fn fn;
    } table[] = {
        {"VerifyPin", on_verify},   {"ChangePin", on_change}, {"GetPinStatus", on_status},
        {"UnblockPin", on_unblock}, {"EnablePin", on_enable}, {"DisablePin", on_disable},
    };
    struct services_card *cs;

    _Static_assert(ARRAY_SIZE(table) == ARRAY_SIZE(((struct services_card *)0)->ops),
                   "one slot per CardService operation");
    /* Registered even without a simulated world: connector.sds stays the same and every
     * card handle then answers 4008 (services.h). */
    cs = calloc(1, sizeof(*cs));
    if (!cs)
        return -ENOMEM;
    cs->s = s;
    for (size_t i = 0; i < ARRAY_SIZE(table); i++)
        cs->ops[i] = (struct soap_operation){.ns = SOAP_NS_CARD,
                                             .name = table[i].name,
                                             .gate = GATE_OP_CARD,
                                             .needs_context = true,
                                             .fn = table[i].fn,
                                             .arg = cs};
    s->card = cs;
    return soap_server_register(s->deps.soap, &card_service, cs->ops, ARRAY_SIZE(cs->ops));
}

void services__card_service_stop(struct services *s)
{
    struct services_card *cs = s ? s->card : NULL;

    if (!cs)
        return;
    while (cs->pending) {
        struct pending *p = cs->pending;

        cs->pending = p->next;
        if (s->deps.cards)
            cards_pin_wait_cancel(s->deps.cards, p);
        soap_call_on_gone(p->call, NULL, NULL);
        soap_call_abandon(p->call);
        free(p);
    }
    free(cs);
    s->card = NULL;
}
