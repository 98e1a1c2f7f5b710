/* services_internal: what the files of src/services share; included only by them and their
 * unit tests. Loop-thread only. */
#ifndef KONN_SERVICES_INTERNAL_H
#define KONN_SERVICES_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libxml/tree.h>
#include <libxml/xpath.h>

#include "base/base.h"
#include "cards/cards.h"
#include "events/events.h"
#include "services/services.h"
#include "soap/soap.h"
#include "state/state.h"
#include "store/store.h"

struct bufferevent;
struct soap_call;
struct ssl_ctx_st; /* OpenSSL's SSL_CTX */

/* ---- TUC_KON_000 "Prüfe Zugriffsberechtigung" (context.c) ------------------------------ */

enum services_ctx_flag {
    /* The operation needs a card session: an HBA then needs a UserId (4003). */
    SERVICES_CTX_NEED_CARD_SESSION = 1u << 0,
    /* Evaluate terminals across all workplaces of the Mandant (the mandant-wide attribute). */
    SERVICES_CTX_ALL_WORKPLACES = 1u << 1,
};

/* The gematik codes TUC_KON_000 answers with (digest section 1.3). */
#define SERVICES_ERR_NO_USER_ID 4003
#define SERVICES_ERR_MANDANT 4004
#define SERVICES_ERR_CLIENT_SYSTEM 4005
#define SERVICES_ERR_WORKPLACE 4006
#define SERVICES_ERR_CT_ID 4007
#define SERVICES_ERR_CARD_HANDLE 4008
#define SERVICES_ERR_SMB_NOT_MANAGED 4009
#define SERVICES_ERR_CS_NOT_OF_MANDANT 4010
#define SERVICES_ERR_WP_NOT_OF_MANDANT 4011
#define SERVICES_ERR_CT_NOT_REACHABLE 4012
#define SERVICES_ERR_CONTEXT_INCOMPLETE 4021
/* Other codes the EventService answers with. */
#define SERVICES_ERR_SYNTAX 4000
#define SERVICES_ERR_INTERNAL 4001
/* Subscribe beyond SERVICES_SUBS_MAX. The catalogue has no code for "too many
 * subscriptions"; the limit is a resource the connector ran out of, so 4001 (internal
 * error) with a Detail naming the limit (A_14159 allows 4001 for technical faults). */
#define SERVICES_ERR_SUBS_LIMIT SERVICES_ERR_INTERNAL

/* Checks the call context ctx (may be NULL: 4021) against the info model, and, when given,
 * a terminal (ct_id) and a card (card_handle), both may be NULL. flags: services_ctx_flag.
 * Returns 0 when access is allowed, else the gematik code of the first failed condition, in
 * this order: 4021, 4004, 4005, 4006, 4010, 4011, 4007, 4012, 4008, 4012 (the card's
 * terminal), 4009, 4003. No side effects, no logging. */
int services__context_check(struct store *st, const struct cards *cards,
                            const struct soap_context *ctx, const char *card_handle,
                            const char *ct_id, unsigned flags);

/* Is terminal ct_id related (local or remote) to the workplace, or, with all_workplaces, to
 * any workplace of the Mandant? workplace_id is ignored with all_workplaces. */
bool services__ct_is_reachable(struct store *st, const char *mandant_id, const char *workplace_id,
                               const char *ct_id, bool all_workplaces);

/* ---- subscriptions (subscriptions.c) ---------------------------------------------------- */

/* TIP1-A_4612 asks for at least 999 subscriptions in total; we keep up to 2000 (about 6 KiB
 * each at most, so 12 MiB worst case) and refuse more. */
#define SERVICES_SUBS_MAX 2000
/* gemILF_PS: a subscription lives 25 hours unless renewed. */
#define SERVICES_SUB_LIFETIME_MS (25LL * 3600 * 1000)
/* EventService.xsd: SubscriptionID 64, Topic and Filter 1024 characters. */
#define SERVICES_SUB_ID_MAX 64
#define SERVICES_TOPIC_MAX 1024
#define SERVICES_FILTER_MAX 1024
/* EventTo is an anyURI without a length limit in the XSD; a host name has at most 253
 * characters, so 1024 leaves room for any sensible cetp:// URL. */
#define SERVICES_EVENT_TO_MAX 1024
/* "host:port" with the host as written in EventTo (brackets kept for IPv6). */
#define SERVICES_SINK_MAX 300
#define SERVICES_HOST_MAX 255

struct services_sub {
    char id[SERVICES_SUB_ID_MAX + 1];
    char mandant_id[SOAP_CONTEXT_ID_MAX + 1];
    char client_system_id[SOAP_CONTEXT_ID_MAX + 1];
    char workplace_id[SOAP_CONTEXT_ID_MAX + 1];
    char *event_to;                   /* as the client sent it */
    char sink[SERVICES_SINK_MAX + 1]; /* normalised "host:port": the CETP connection key */
    char *topic;                      /* without trailing '/' */
    char *filter;                     /* NULL when none */
    xmlXPathCompExprPtr filter_comp;  /* compiled filter, NULL when none */
    int64_t termination_ms;           /* wall time (TerminationTime) */
    int64_t deadline_mono_ms;         /* clock_mono_ms() at which it expires */
};

struct services_subs;

/* cap: maximum number of subscriptions (SERVICES_SUBS_MAX in the daemon). */
struct services_subs *services__subs_new(size_t cap);
struct services_subs *services__subs_free(struct services_subs *subs);
/* fn(arg) runs after the expiry timer removed subscriptions (for pruning CETP sinks). */
void services__subs_on_expired(struct services_subs *subs, void (*fn)(void *arg), void *arg);

/* Adds a subscription for the caller in ctx. -EINVAL: EventTo is not cetp://host:port or
 * the topic is empty or too long; -EBADMSG: the filter is too long or no XPath 1.0
 * expression; -ENOSPC: the cap is reached; -ENOMEM. On success *ret_sub (may be NULL) is
 * borrowed until the subscription is removed. */
int services__subs_add(struct services_subs *subs, const struct soap_context *ctx,
                       const char *event_to, const char *topic, const char *filter,
                       const struct services_sub **ret_sub);
/* The subscription of the Mandant with this id, or NULL (also for another Mandant's). */
const struct services_sub *services__subs_find(const struct services_subs *subs,
                                               const char *mandant_id, const char *id);
/* -ENOENT if the Mandant has no subscription with this id. */
int services__subs_remove(struct services_subs *subs, const char *mandant_id, const char *id);
/* Removes the Mandant's subscriptions with this EventTo (compared as sinks); returns how
 * many. -EINVAL if event_to is not a cetp:// URL. */
int services__subs_remove_event_to(struct services_subs *subs, const char *mandant_id,
                                   const char *event_to);
/* Removes every subscription of a sink, of all Mandants; returns how many. */
size_t services__subs_remove_sink(struct services_subs *subs, const char *sink);
/* Extends the lifetime to SERVICES_SUB_LIFETIME_MS from now. -ENOENT as for remove. */
int services__subs_renew(struct services_subs *subs, const char *mandant_id, const char *id,
                         const struct services_sub **ret_sub);

size_t services__subs_count(const struct services_subs *subs);
/* In creation order; borrowed until the next change of the list. */
const struct services_sub *services__subs_at(const struct services_subs *subs, size_t i);
bool services__subs_has_sink(const struct services_subs *subs, const char *sink);

/* First-level (in fact any-level) topic matching: "CARD" matches "CARD" and "CARD/INSERTED",
 * not "CARDS". */
bool services__topic_matches(const char *sub_topic, const char *event_topic);
/* Splits "cetp://host:port" (host: name, IPv4 or [IPv6]; port 1..65535; an optional
 * trailing '/' is allowed) and writes the sink key "host:port" (host lower-cased). -EINVAL. */
int services__event_to_parse(const char *event_to, char *ret_host, size_t host_size,
                             uint16_t *ret_port, char *ret_sink, size_t sink_size);
/* Evaluates the subscription's filter on an EVT:Event document: 1 match (or no filter),
 * 0 no match, -EBADMSG if evaluation fails (treated as no match by callers). */
int services__sub_filter_matches(const struct services_sub *sub, xmlDocPtr event_doc);

/* ---- event messages (event_message.c) ------------------------------------------------- */

/* Is this a topic clients may see? Internal topics (management, security-log internals,
 * system log, per-packet firewall drops, slot bookkeeping) are never delivered. */
bool services__topic_is_public(const char *topic);
/* The EVT:Event document of ev with SubscriptionID "" (set per subscription before
 * formatting). NULL on allocation failure. Free with xmlFreeDoc(). */
xmlDocPtr services__event_doc_new(const struct evt_event *ev);
/* Writes the CETP frame of doc, with SubscriptionID set to sub_id, into a heap buffer.
 * -ENOMEM, or -EINVAL if doc is not from services__event_doc_new(). */
int services__event_frame(xmlDocPtr doc, const char *sub_id, uint8_t **ret_frame, size_t *ret_len);

/* ---- CETP delivery (cetp.c) ------------------------------------------------------------- */

/* Bound on bytes queued per sink: a sink that does not read is cut off (a failed delivery)
 * rather than growing memory. */
#define SERVICES_CETP_QUEUE_MAX (1024 * 1024)
/* Bound over all sinks together, so 2000 slow sinks cannot take 2 GiB. */
#define SERVICES_CETP_QUEUE_TOTAL_MAX (16 * 1024 * 1024)
/* Connect (and TLS handshake) timeout, and the longest a sink may go without taking any
 * queued byte, in ms of connector time. */
#define SERVICES_CETP_TIMEOUT_MS 5000
/* A delivery needs a frame of "CETP" + 4-byte length + the document. */
#define SERVICES_CETP_MAGIC "CETP"

struct services_cetp;

struct services_cetp_deps {
    struct event_base *base;
    struct store *store; /* EVT_MAX_TRY, ANCL_TLS_MANDATORY, info model for CtID events */
    struct services_subs *subs;
    const char *data_dir; /* may be NULL: no client certificate for TLS */
};

struct services_cetp *services__cetp_new(const struct services_cetp_deps *deps);
struct services_cetp *services__cetp_free(struct services_cetp *c);

/* Queues ev to every subscription it matches (topic, Mandant, filter). Never blocks. */
void services__cetp_deliver(struct services_cetp *c, const struct evt_event *ev);
/* Closes the connections of sinks that no longer have a subscription. */
void services__cetp_prune(struct services_cetp *c);
/* Queues ev to the sink of event_to alone, with SubscriptionID sub_id, whatever the
 * subscriptions say (the bootup delivery, boot_sinks.c). The connection stays open until the
 * next prune. -EINVAL: not a cetp:// URL or an internal topic; -ENOMEM. A failed delivery
 * is counted as for any frame, not reported here. */
int services__cetp_deliver_to(struct services_cetp *c, const char *event_to,
                              const struct evt_event *ev, const char *sub_id);

/* cetp_tls.c: a TLS client context for CETP, with the LAN RSA identity of data_dir (may be
 * NULL) as client certificate when it is usable. NULL on allocation failure. */
struct ssl_ctx_st *services__cetp_tls_ctx_new(const char *data_dir);
/* Logs (debug) when the sink's certificate would not have verified. */
void services__cetp_tls_log_peer(struct bufferevent *bev, const char *sink);

/* For tests and diagnostics: the number of sinks, and a sink's consecutive failures (-ENOENT
 * if there is no such sink). */
size_t services__cetp_sink_count(const struct services_cetp *c);
int services__cetp_sink_failures(const struct services_cetp *c, const char *sink);

/* ---- event sinks remembered across a restart (boot_sinks.c) ---------------------------- */

/* At most this many distinct sinks are remembered (twice what a practice plausibly runs;
 * the file stays below 1.2 MiB). */
#define SERVICES_BOOT_SINKS_MAX 1000
/* The SubscriptionID of the bootup frame: EventService.xsd allows any string of at most 64
 * characters; a fixed value that is no UUID never names a real subscription. */
#define SERVICES_BOOT_SUB_ID "BOOTUP"
/* The bus topic that triggers the delivery to remembered sinks. */
#define SERVICES_BOOT_TOPIC "BOOTUP/BOOTUP_COMPLETE"

struct services_boot_sinks;

/* Reads DATA/cetp-sinks.json (data_dir NULL: nothing is read or written). A missing or
 * unreadable file is an empty list (the latter logged). NULL on allocation failure. */
struct services_boot_sinks *services__boot_sinks_new(const char *data_dir);
struct services_boot_sinks *services__boot_sinks_free(struct services_boot_sinks *bs);
/* Remembers the sink of a new subscription and writes the file. -EINVAL: not a cetp://
 * URL; -ENOMEM; the errors of fs_write_atomic() (the list in memory is updated anyway). */
int services__boot_sinks_remember(struct services_boot_sinks *bs, const char *event_to,
                                  const char *mandant_id);
/* After an Unsubscribe: forgets sink ("host:port") unless a subscription in subs still uses
 * it, and writes the file if it changed. Errors as for remember. */
int services__boot_sinks_forget(struct services_boot_sinks *bs, const struct services_subs *subs,
                                const char *sink);
/* Sends ev once to every remembered sink without a subscription in subs, forgets those and
 * writes the file. Errors as for remember. */
int services__boot_sinks_deliver(struct services_boot_sinks *bs, struct services_cetp *cetp,
                                 const struct services_subs *subs, const struct evt_event *ev);
size_t services__boot_sinks_count(const struct services_boot_sinks *bs);

/* ---- the EventService (event_service.c, resources.c) ------------------------------------ */

struct services {
    struct services_deps deps;
    struct services_subs *subs;
    struct services_cetp *cetp;
    struct services_boot_sinks *boot_sinks;
    /* The CARD:Card renderings (card_xml.c); NULL only costs speed. */
    struct services_card_xml *card_xml;
    uint64_t bus_sub_id;
    bool bus_subscribed;
    int64_t started_ms;            /* wall time services_start() ran */
    enum vpn_state vpn;            /* the VPN state last seen on the LED panel */
    int64_t vpn_since_ms;          /* wall time it was first seen */
    int64_t ec_changed_ms[EC_MAX]; /* wall time of each condition's last event, 0 if none */
    struct soap_operation ops[7];  /* registered with the SOAP server; must outlive it */
    struct services_ct *ct;        /* the CardTerminalService (card_terminal_service.c) */
    struct services_certs *certs;  /* the CertificateService (certificate_service.c) */
    struct services_card *card;    /* the CardService (card_service.c) */
    struct services_dpe *dpe;      /* the DPEService of NFDM (dpe_service.c) */
};

/* Registers the EventService's operations with the SOAP server. */
int services__event_service_register(struct services *s);

/* Re-reads the VPN state from the LED panel and notes when it changed. */
void services__vpn_observe(struct services *s);

/* Small xmlTextWriter helpers (resources.c): ns declares the prefix on the element (NULL
 * when an ancestor did). 0 or -EIO. */
int services__xml_start(xmlTextWriterPtr w, const char *prefix, const char *name, const char *ns);
int services__xml_end(xmlTextWriterPtr w);
int services__xml_text(xmlTextWriterPtr w, const char *prefix, const char *name, const char *text);

/* Writers for GetCardTerminals, GetCards and GetResourceInformation. Each returns 0 or
 * -EIO when the writer failed. */
int services__write_card_terminal(struct services *s, xmlTextWriterPtr w,
                                  const struct cards_terminal *t, const char *mandant_id);
int services__write_card(xmlTextWriterPtr w, const struct cards_card *card);
int services__write_connector(struct services *s, xmlTextWriterPtr w);

/* card_xml.c: each inserted card's CARD:Card element, rendered once by services__write_card
 * and kept while the fields it shows stay the same. new: NULL on allocation failure. */
struct services_card_xml;
struct services_card_xml *services__card_xml_new(void);
struct services_card_xml *services__card_xml_free(struct services_card_xml *cx);
/* Writes card as services__write_card() does, from the kept rendering when the card has not
 * changed since (cx NULL: renders directly). 0 or -EIO. */
int services__card_xml_write(struct services_card_xml *cx, xmlTextWriterPtr w,
                             const struct cards_card *card);
/* For tests: how often a kept rendering was used, and how often one was made. */
void services__card_xml_stats(const struct services_card_xml *cx, uint64_t *ret_hits,
                              uint64_t *ret_renderings);

/* ---- CardTerminalService v1.1 and CertificateService v6.0 ------------------------------ */

/* RequestCard without TimeOut waits this long, and at most SERVICES_CT_TIMEOUT_MAX_S (s). */
#define SERVICES_CT_TIMEOUT_DEFAULT_S 20
#define SERVICES_CT_TIMEOUT_MAX_S 3600

/* card_terminal_service.c: registers RequestCard and EjectCard and watches the bus for
 * CARD/INSERTED and CT/DISCONNECTED. stop answers every waiting RequestCard (4001) and
 * frees it all; it accepts s->ct NULL. */
int services__ct_service_start(struct services *s);
void services__ct_service_stop(struct services *s);

/* certificate_service.c: registers ReadCardCertificate, VerifyCertificate and
 * CheckCertificateExpiration; stop frees them (s->certs may be NULL). */
int services__cert_service_start(struct services *s);
void services__cert_service_stop(struct services *s);

/* ---- CardService v8.1.2 (card_service.c) ------------------------------------------------ */

/* Registers VerifyPin, ChangePin, GetPinStatus, UnblockPin, EnablePin and DisablePin. stop
 * abandons every call still waiting for the PIN pad (the client gets 4001) and frees it all;
 * it accepts s->card NULL. */
int services__card_service_start(struct services *s);
void services__card_service_stop(struct services *s);

/* call_helpers.c: helpers the service files share. */
/* Copies text without surrounding XML whitespace. -ENOENT if text is NULL, -E2BIG if it does
 * not fit buf. */
int services__trimmed(const char *text, char *buf, size_t size);
/* Runs TUC_KON_000 (services__context_check); answers the call with a fault naming the field
 * at fault and returns false if access is refused. */
bool services__context_ok(struct services *s, struct soap_call *call, const char *handle,
                          const char *ct_id, unsigned flags);

/* ---- DPEService v1.0 of the Fachmodul NFDM (dpe_service.c, dpe_document.c) -------------- */

/* Registers ReadDPE, WriteDPE and EraseDPE (feature "NFDM": not registered when the running
 * firmware lacks it, soap_server_register); stop frees them (s->dpe may be NULL). */
int services__dpe_service_start(struct services *s);
void services__dpe_service_stop(struct services *s);

/* Room for the reason services__dpe_document_check gives. */
#define SERVICES_DPE_WHY_MAX 320
/* Is doc a DPE (DPE_Document.xsd v1.1: root, namespace, ID_DPE, the parts in order, text
 * limits)? 0, or -EBADMSG (not XML, or not a DPE) and -E2BIG (over CARDS_DPE_DOCUMENT_MAX)
 * with the reason in why, which names elements but never their content; -ENOMEM. */
int services__dpe_document_check(const void *doc, size_t len, char *why, size_t why_size);

#endif
