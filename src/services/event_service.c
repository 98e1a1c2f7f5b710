/* event_service: the seven operations of the EventService v7.2 (Systeminformationsdienst,
 * digest section 7.5): GetCardTerminals, GetCards, GetResourceInformation, Subscribe,
 * Unsubscribe, RenewSubscriptions, GetSubscription.
 *
 * Each runs behind the critical-state gate (row GATE_OP_EVENT_SERVICE, checked by soap
 * before the handler) and then TUC_KON_000 (services__context_check); a refusal becomes a
 * SOAP fault with the gematik code. Every response starts with CONN:Status (written by
 * soap_call_reply_begin) followed by the elements of EventService.xsd in order.
 *
 * Decisions where the spec is silent or its tables were lost:
 *  - mandant-wide=false limits GetCardTerminals and GetCards to the terminals of the calling
 *    workplace (local or remote), true to those of every workplace of the Mandant.
 *  - Subscriptions belong to the Mandant: Unsubscribe and RenewSubscriptions act on any of
 *    the Mandant's subscriptions; another Mandant's id counts as unknown. GetSubscription
 *    lists those made with the caller's Mandant, client system and workplace, or with
 *    mandant-wide=true all of the Mandant's.
 *  - An unknown SubscriptionID in Unsubscribe is refused with 4000 (it names one object);
 *    an EventTo without subscriptions unsubscribes nothing and answers OK (it names a set).
 *  - RenewSubscriptions renews the known ids and leaves the unknown ones out of
 *    SubscribeRenewals (logged); the XSD needs at least one SubscriptionRenewal, so a call
 *    with no known id at all is refused with 4000 and the client subscribes anew.
 *  - More than SERVICES_SUBS_MAX subscriptions: SERVICES_ERR_SUBS_LIMIT (see the header).
 *  - GetResourceInformation returns the Card when CardHandle, Iccsn or CtId+SlotId name an
 *    inserted card, the CardTerminal when CtId is given or a card was found, and always the
 *    Connector.
 *
 * Invariants:
 *  1. A handler answers exactly once: a fault, or a reply begun and ended.
 *  2. The context check runs before anything is read or changed for the caller. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "services/services_internal.h"

/* RenewSubscriptions takes at most 1000 ids (EventService.xsd). */
#define RENEW_IDS_MAX 1000

static const struct soap_service event_service = {
    .name = "EventService",
    .abstract = "Systeminformationsdienst: card terminals, cards, operating state, events",
    .target_namespace = "http://ws.gematik.de/conn/EventService/WSDL/v7.2",
    .version = "7.2.0",
    .path = "/ws/EventService",
    .wsdl_path = NULL,
};

/* ---- request helpers -------------------------------------------------------------------- */

static bool attr_is_true(xmlNodePtr node, const char *name)
{
    const char *v = soap_attr(node, name);
    char b[8];

    return v && services__trimmed(v, b, sizeof(b)) == 0 &&
           (strcmp(b, "true") == 0 || strcmp(b, "1") == 0);
}

static void reply_end(struct soap_call *call, const char *op, int r)
{
    if (r < 0)
        log_msg(LOG_LEVEL_ERROR, "services: writing the %sResponse failed, reply incomplete", op);
    soap_call_reply_end(call);
}

/* Optional CARDCMN:CtId and CARDCMN:SlotId; 4000 answered on a bad value. slot 0: none. */
static bool parse_ct_slot(struct soap_call *call, xmlNodePtr op, char *ct_id, size_t ct_size,
                          unsigned *ret_slot, bool *ret_has_ct)
{
    char slot_text[16];
    int64_t slot = 0;
    int r;

    r = services__trimmed(soap_child_text(op, SOAP_NS_CARDCMN, "CtId"), ct_id, ct_size);
    *ret_has_ct = r == 0;
    if (r == -E2BIG || (r == 0 && ct_id[0] == '\0')) {
        soap_call_fault(call, SERVICES_ERR_SYNTAX, "CtId must have 1 to 64 characters");
        return false;
    }
    r = services__trimmed(soap_child_text(op, SOAP_NS_CARDCMN, "SlotId"), slot_text,
                          sizeof(slot_text));
    if (r != -ENOENT &&
        (r < 0 || str_to_int64(slot_text, &slot) < 0 || slot < 1 || slot > STORE_CT_SLOTS_MAX)) {
        soap_call_fault(call, SERVICES_ERR_SYNTAX, "SlotId must be a slot number from 1 to %d",
                        STORE_CT_SLOTS_MAX);
        return false;
    }
    if (slot > 0 && !*ret_has_ct) {
        soap_call_fault(call, SERVICES_ERR_SYNTAX, "SlotId needs a CtId");
        return false;
    }
    *ret_slot = (unsigned)slot;
    return true;
}

/* ---- GetCardTerminals, GetCards, GetResourceInformation ---------------------------------- */

static bool terminal_visible(struct services *s, const struct soap_context *ctx, const char *ct_id,
                             bool wide)
{
    return services__ct_is_reachable(s->deps.store, ctx->mandant_id, ctx->workplace_id, ct_id,
                                     wide);
}

static void on_get_card_terminals(struct soap_call *call, void *arg)
{
    struct services *s = arg;
    xmlNodePtr op = soap_call_operation(call);
    const struct soap_context *ctx = soap_call_context(call);
    bool wide = attr_is_true(op, "mandant-wide");
    xmlTextWriterPtr w;
    int r = 0;

    if (!services__context_ok(s, call, NULL, NULL, wide ? SERVICES_CTX_ALL_WORKPLACES : 0))
        return;
    w = soap_call_reply_begin(call, SOAP_NS_EVT, "EVT", "GetCardTerminalsResponse");
    if (!w)
        return;
    r |= services__xml_start(w, "CT", "CardTerminals", SOAP_NS_CT);
    for (size_t i = 0; s->deps.cards && i < cards_terminal_count(s->deps.cards); i++) {
        const struct cards_terminal *t = cards_terminal_at(s->deps.cards, i);

        if (terminal_visible(s, ctx, t->id, wide))
            r |= services__write_card_terminal(s, w, t, ctx->mandant_id);
    }
    r |= services__xml_end(w);
    reply_end(call, "GetCardTerminals", r);
}

static void on_get_cards(struct soap_call *call, void *arg)
{
    struct services *s = arg;
    xmlNodePtr op = soap_call_operation(call);
    const struct soap_context *ctx = soap_call_context(call);
    bool wide = attr_is_true(op, "mandant-wide"), has_ct = false, has_type = false;
    char ct_id[STORE_ENTITY_ID_MAX + 1] = "", type_text[32];
    enum cards_type type = CARDS_TYPE_UNKNOWN;
    unsigned slot = 0;
    xmlTextWriterPtr w;
    int r;

    if (!parse_ct_slot(call, op, ct_id, sizeof(ct_id), &slot, &has_ct))
        return;
    r = services__trimmed(soap_child_text(op, SOAP_NS_CARDCMN, "CardType"), type_text,
                          sizeof(type_text));
    has_type = r == 0;
    if (r == -E2BIG || (has_type && cards_type_from_string(type_text, &type) < 0)) {
        soap_call_fault(call, SERVICES_ERR_SYNTAX, "CardType is not a CardTypeType");
        return;
    }
    if (!services__context_ok(s, call, NULL, has_ct ? ct_id : NULL,
                              wide ? SERVICES_CTX_ALL_WORKPLACES : 0))
        return;
    w = soap_call_reply_begin(call, SOAP_NS_EVT, "EVT", "GetCardsResponse");
    if (!w)
        return;
    r = services__xml_start(w, "CARD", "Cards", SOAP_NS_CARD);
    for (size_t i = 0; s->deps.cards && i < cards_catalog_count(s->deps.cards); i++) {
        const struct cards_card *card = cards_catalog_at(s->deps.cards, i);

        if (card->ct_id[0] == '\0' || (has_ct && strcmp(card->ct_id, ct_id) != 0) ||
            (slot && card->slot != slot) || (has_type && card->type != type) ||
            !terminal_visible(s, ctx, card->ct_id, wide))
            continue;
        r |= services__card_xml_write(s->card_xml, w, card);
    }
    r |= services__xml_end(w);
    reply_end(call, "GetCards", r);
}

static const struct cards_card *card_by_iccsn(const struct cards *cards, const char *iccsn)
{
    for (size_t i = 0; cards && i < cards_catalog_count(cards); i++) {
        const struct cards_card *card = cards_catalog_at(cards, i);

        if (card->ct_id[0] && strcmp(card->iccsn, iccsn) == 0)
            return card;
    }
    return NULL;
}

static void on_get_resource_information(struct soap_call *call, void *arg)
{
    struct services *s = arg;
    xmlNodePtr op = soap_call_operation(call);
    char ct_id[STORE_ENTITY_ID_MAX + 1] = "", iccsn[CARDS_ICCSN_MAX + 1] = "";
    char handle[CARDS_HANDLE_MAX + 1] = "";
    const struct cards_card *card = NULL;
    const struct cards_terminal *term = NULL;
    bool has_ct = false;
    unsigned slot = 0;
    xmlTextWriterPtr w;
    int r, r_iccsn;

    if (!parse_ct_slot(call, op, ct_id, sizeof(ct_id), &slot, &has_ct))
        return;
    r = services__trimmed(soap_child_text(op, SOAP_NS_CONN, "CardHandle"), handle, sizeof(handle));
    r_iccsn =
        services__trimmed(soap_child_text(op, SOAP_NS_CARDCMN, "Iccsn"), iccsn, sizeof(iccsn));
    if (r == -E2BIG || r_iccsn == -E2BIG) {
        soap_call_fault(call, SERVICES_ERR_SYNTAX, "CardHandle or Iccsn too long");
        return;
    }
    /* Which card: by handle, else by ICCSN, else the one in CtId/SlotId (may be empty). */
    if (handle[0]) {
        card = s->deps.cards ? cards_card_by_handle(s->deps.cards, handle) : NULL;
    } else if (iccsn[0]) {
        card = card_by_iccsn(s->deps.cards, iccsn);
        if (!card) {
            soap_call_fault(call, SERVICES_ERR_CARD_HANDLE, "no inserted card has Iccsn '%s'",
                            iccsn);
            return;
        }
    } else if (slot && s->deps.cards) {
        card = cards_card_in_slot(s->deps.cards, ct_id, slot);
    }
    if (card && !handle[0])
        (void)str_copy(handle, sizeof(handle), card->handle);
    if (!services__context_ok(s, call, handle[0] ? handle : NULL, has_ct ? ct_id : NULL, 0))
        return;
    term = s->deps.cards ? cards_terminal_find(s->deps.cards, has_ct ? ct_id
                                                              : card ? card->ct_id
                                                                     : "")
                         : NULL;
    if (term && slot > term->slots) {
        soap_call_fault(call, SERVICES_ERR_SYNTAX, "SlotId %u: CtId '%s' has %u slots", slot,
                        term->id, term->slots);
        return;
    }
    w = soap_call_reply_begin(call, SOAP_NS_EVT, "EVT", "GetResourceInformationResponse");
    if (!w)
        return;
    r = 0;
    if (card)
        r |= services__card_xml_write(s->card_xml, w, card);
    if (term)
        r |= services__write_card_terminal(s, w, term, soap_call_context(call)->mandant_id);
    r |= services__write_connector(s, w);
    reply_end(call, "GetResourceInformation", r);
}

/* ---- Subscribe, Unsubscribe, RenewSubscriptions, GetSubscription ------------------------- */

static int write_subscription(xmlTextWriterPtr w, const struct services_sub *sub)
{
    char when[32];
    int r = 0;

    r |= services__xml_start(w, "EVT", "Subscription", NULL);
    r |= services__xml_text(w, "EVT", "SubscriptionID", sub->id);
    r |= services__xml_text(w, "EVT", "TerminationTime",
                            soap_datetime(sub->termination_ms, when, sizeof(when)));
    r |= services__xml_text(w, "EVT", "EventTo", sub->event_to);
    r |= services__xml_text(w, "EVT", "Topic", sub->topic);
    if (sub->filter)
        r |= services__xml_text(w, "EVT", "Filter", sub->filter);
    r |= services__xml_end(w);
    return r ? -EIO : 0;
}

static void subscribe_fault(struct soap_call *call, int r)
{
    switch (r) {
    case -EINVAL:
        soap_call_fault(call, SERVICES_ERR_SYNTAX,
                        "EventTo must be cetp://host:port and Topic 1 to 1024 characters");
        break;
    case -EBADMSG:
        soap_call_fault(call, SERVICES_ERR_SYNTAX,
                        "Filter is no XPath 1.0 expression over EVT:Event of at most 1024 "
                        "characters (prefix EVT)");
        break;
    case -ENOSPC:
        soap_call_fault(call, SERVICES_ERR_SUBS_LIMIT,
                        "the connector holds its maximum of %d subscriptions", SERVICES_SUBS_MAX);
        break;
    default:
        soap_call_fault(call, SERVICES_ERR_INTERNAL, NULL);
        break;
    }
}

static void on_subscribe(struct soap_call *call, void *arg)
{
    struct services *s = arg;
    xmlNodePtr op = soap_call_operation(call);
    const struct soap_context *ctx = soap_call_context(call);
    xmlNodePtr subn = soap_child(op, SOAP_NS_EVT, "Subscription");
    char event_to[SERVICES_EVENT_TO_MAX + 1], topic[SERVICES_TOPIC_MAX + 1], when[32];
    const char *filter = subn ? soap_child_text(subn, SOAP_NS_EVT, "Filter") : NULL;
    const struct services_sub *sub = NULL;
    xmlTextWriterPtr w;
    int r;

    if (!services__context_ok(s, call, NULL, NULL, 0))
        return;
    r = subn ? services__trimmed(soap_child_text(subn, SOAP_NS_EVT, "EventTo"), event_to,
                                 sizeof(event_to))
             : -ENOENT;
    if (r == 0)
        r = services__trimmed(soap_child_text(subn, SOAP_NS_EVT, "Topic"), topic, sizeof(topic));
    if (r == -ENOENT) {
        soap_call_fault(call, SERVICES_ERR_SYNTAX, "Subscription needs EventTo and Topic");
        return;
    }
    if (r < 0) {
        subscribe_fault(call, -EINVAL);
        return;
    }
    /* An empty Filter element filters nothing. */
    if (filter && strspn(filter, " \t\r\n") == strlen(filter))
        filter = NULL;
    r = services__subs_add(s->subs, ctx, event_to, topic, filter, &sub);
    if (r < 0) {
        subscribe_fault(call, r);
        return;
    }
    log_msg(LOG_LEVEL_INFO,
            "services: subscription '%s' of Mandant '%s', client system '%s' to '%s' for "
            "topic '%s'%s",
            sub->id, sub->mandant_id, sub->client_system_id, sub->sink, sub->topic,
            sub->filter ? " with filter" : "");
    r = services__boot_sinks_remember(s->boot_sinks, sub->event_to, sub->mandant_id);
    if (r < 0)
        log_errno(LOG_LEVEL_WARNING, r,
                  "services: cannot remember event sink '%s' for the next start, it will not "
                  "hear BOOTUP_COMPLETE",
                  sub->sink);
    w = soap_call_reply_begin(call, SOAP_NS_EVT, "EVT", "SubscribeResponse");
    if (!w)
        return;
    r = services__xml_text(w, "EVT", "SubscriptionID", sub->id);
    r |= services__xml_text(w, "EVT", "TerminationTime",
                            soap_datetime(sub->termination_ms, when, sizeof(when)));
    reply_end(call, "Subscribe", r);
}

static void on_unsubscribe(struct soap_call *call, void *arg)
{
    struct services *s = arg;
    xmlNodePtr op = soap_call_operation(call);
    const struct soap_context *ctx = soap_call_context(call);
    char id[SERVICES_SUB_ID_MAX + 1], event_to[SERVICES_EVENT_TO_MAX + 1];
    char sink[SERVICES_SINK_MAX + 1] = "";
    const struct services_sub *sub;
    int r_id, r_to, r;
    xmlTextWriterPtr w;

    if (!services__context_ok(s, call, NULL, NULL, 0))
        return;
    r_id = services__trimmed(soap_child_text(op, SOAP_NS_EVT, "SubscriptionID"), id, sizeof(id));
    r_to =
        services__trimmed(soap_child_text(op, SOAP_NS_EVT, "EventTo"), event_to, sizeof(event_to));
    if ((r_id == 0) == (r_to == 0) || r_id == -E2BIG || r_to == -E2BIG) {
        soap_call_fault(call, SERVICES_ERR_SYNTAX, "give either SubscriptionID or EventTo");
        return;
    }
    if (r_id == 0) {
        sub = services__subs_find(s->subs, ctx->mandant_id, id);
        if (sub)
            (void)str_copy(sink, sizeof(sink), sub->sink);
        r = services__subs_remove(s->subs, ctx->mandant_id, id);
        if (r < 0) {
            soap_call_fault(call, SERVICES_ERR_SYNTAX, "SubscriptionID '%s' is unknown", id);
            return;
        }
        log_msg(LOG_LEVEL_INFO, "services: subscription '%s' of Mandant '%s' unsubscribed", id,
                ctx->mandant_id);
    } else {
        r = services__subs_remove_event_to(s->subs, ctx->mandant_id, event_to);
        if (r < 0) {
            soap_call_fault(call, SERVICES_ERR_SYNTAX, "EventTo must be cetp://host:port");
            return;
        }
        log_msg(LOG_LEVEL_INFO, "services: %d subscription(s) of Mandant '%s' to '%s' unsubscribed",
                r, ctx->mandant_id, event_to);
        (void)services__event_to_parse(event_to, NULL, 0, NULL, sink, sizeof(sink));
    }
    services__cetp_prune(s->cetp);
    /* The sink is forgotten with its last subscription (expiry keeps it, boot_sinks.c). */
    r = services__boot_sinks_forget(s->boot_sinks, s->subs, sink);
    if (r < 0)
        log_errno(LOG_LEVEL_WARNING, r,
                  "services: cannot forget event sink '%s', it may hear BOOTUP_COMPLETE at the "
                  "next start",
                  sink);
    w = soap_call_reply_begin(call, SOAP_NS_EVT, "EVT", "UnsubscribeResponse");
    if (w)
        reply_end(call, "Unsubscribe", 0);
}

static bool is_evt_element(xmlNodePtr n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && n->ns && xmlStrEqual(n->ns->href, BAD_CAST SOAP_NS_EVT) &&
           xmlStrEqual(n->name, BAD_CAST name);
}

static void on_renew_subscriptions(struct soap_call *call, void *arg)
{
    struct services *s = arg;
    xmlNodePtr op = soap_call_operation(call);
    const struct soap_context *ctx = soap_call_context(call);
    char id[SERVICES_SUB_ID_MAX + 1], when[32];
    size_t n_ids = 0, n_known = 0;
    xmlTextWriterPtr w;
    xmlChar *text;
    int r = 0;

    if (!services__context_ok(s, call, NULL, NULL, 0))
        return;
    /* Check the count before renewing anything; then renew; then write what was renewed. */
    for (xmlNodePtr n = op->children; n; n = n->next)
        n_ids += is_evt_element(n, "SubscriptionID");
    if (n_ids == 0 || n_ids > RENEW_IDS_MAX) {
        soap_call_fault(call, SERVICES_ERR_SYNTAX, "give 1 to %d SubscriptionID elements",
                        RENEW_IDS_MAX);
        return;
    }
    for (xmlNodePtr n = op->children; n; n = n->next) {
        if (!is_evt_element(n, "SubscriptionID"))
            continue;
        text = xmlNodeGetContent(n);
        r = services__trimmed((const char *)text, id, sizeof(id));
        xmlFree(text);
        if (r == 0 && services__subs_renew(s->subs, ctx->mandant_id, id, NULL) == 0)
            n_known++;
    }
    if (n_known < n_ids)
        log_msg(LOG_LEVEL_INFO,
                "services: RenewSubscriptions of Mandant '%s': %zu unknown SubscriptionID(s) "
                "left out",
                ctx->mandant_id, n_ids - n_known);
    if (n_known == 0) {
        soap_call_fault(call, SERVICES_ERR_SYNTAX, "no SubscriptionID is known (expired?)");
        return;
    }
    w = soap_call_reply_begin(call, SOAP_NS_EVT, "EVT", "RenewSubscriptionsResponse");
    if (!w)
        return;
    r = services__xml_start(w, "EVT", "SubscribeRenewals", NULL);
    for (xmlNodePtr n = op->children; n; n = n->next) {
        const struct services_sub *sub;

        if (!is_evt_element(n, "SubscriptionID"))
            continue;
        text = xmlNodeGetContent(n);
        sub = services__trimmed((const char *)text, id, sizeof(id)) == 0
                  ? services__subs_find(s->subs, ctx->mandant_id, id)
                  : NULL;
        xmlFree(text);
        if (!sub)
            continue;
        r |= services__xml_start(w, "EVT", "SubscriptionRenewal", NULL);
        r |= services__xml_text(w, "EVT", "SubscriptionID", sub->id);
        r |= services__xml_text(w, "EVT", "TerminationTime",
                                soap_datetime(sub->termination_ms, when, sizeof(when)));
        r |= services__xml_end(w);
    }
    r |= services__xml_end(w);
    reply_end(call, "RenewSubscriptions", r);
}

static void on_get_subscription(struct soap_call *call, void *arg)
{
    struct services *s = arg;
    xmlNodePtr op = soap_call_operation(call);
    const struct soap_context *ctx = soap_call_context(call);
    bool wide = attr_is_true(op, "mandant-wide");
    char id[SERVICES_SUB_ID_MAX + 1];
    int r_id;
    xmlTextWriterPtr w;
    int r;

    if (!services__context_ok(s, call, NULL, NULL, 0))
        return;
    r_id = services__trimmed(soap_child_text(op, SOAP_NS_EVT, "SubscriptionID"), id, sizeof(id));
    if (r_id == -E2BIG) {
        soap_call_fault(call, SERVICES_ERR_SYNTAX, "SubscriptionID has at most 64 characters");
        return;
    }
    w = soap_call_reply_begin(call, SOAP_NS_EVT, "EVT", "GetSubscriptionResponse");
    if (!w)
        return;
    r = services__xml_start(w, "EVT", "Subscriptions", NULL);
    for (size_t i = 0; i < services__subs_count(s->subs); i++) {
        const struct services_sub *sub = services__subs_at(s->subs, i);

        if (strcmp(sub->mandant_id, ctx->mandant_id) != 0 ||
            (r_id == 0 && strcmp(sub->id, id) != 0))
            continue;
        if (!wide && (strcmp(sub->client_system_id, ctx->client_system_id) != 0 ||
                      strcmp(sub->workplace_id, ctx->workplace_id) != 0))
            continue;
        r |= write_subscription(w, sub);
    }
    r |= services__xml_end(w);
    reply_end(call, "GetSubscription", r);
}

/* ---- registration ----------------------------------------------------------------------- */

int services__event_service_register(struct services *s)
{
    static const struct {
        const char *name;
        soap_handler_fn fn;
    } table[] = {
        {"GetCardTerminals", on_get_card_terminals},
        {"GetCards", on_get_cards},
        {"GetResourceInformation", on_get_resource_information},
        {"Subscribe", on_subscribe},
        {"Unsubscribe", on_unsubscribe},
        {"RenewSubscriptions", on_renew_subscriptions},
        {"GetSubscription", on_get_subscription},
    };

    _Static_assert(ARRAY_SIZE(table) == ARRAY_SIZE(((struct services *)0)->ops),
                   "one slot per EventService operation");
    for (size_t i = 0; i < ARRAY_SIZE(table); i++)
        s->ops[i] = (struct soap_operation){.ns = SOAP_NS_EVT,
                                            .name = table[i].name,
                                            .gate = GATE_OP_EVENT_SERVICE,
                                            .needs_context = true,
                                            .fn = table[i].fn,
                                            .arg = s};
    return soap_server_register(s->deps.soap, &event_service, s->ops, ARRAY_SIZE(s->ops));
}
