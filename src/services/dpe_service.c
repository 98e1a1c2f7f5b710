/* dpe_service: the DPEService v1.0 of the Fachmodul NFDM (digest section 8.2; DPEService.wsdl
 * and DPEService.xsd of conn/nfds): ReadDPE, WriteDPE and EraseDPE of the eGK's Datensatz
 * persönliche Erklärungen, offered only when the running firmware has the feature "NFDM"
 * (soap_service.feature; docs/nfdm.md).
 *
 *   request ──> EhcHandle, HpcHandle, the operation's fields (4000)
 *           ──> TUC_KON_000 for both cards (4004..4021; the HBA needs a UserId, 4003)
 *           ──> card types: EhcHandle an eGK, HpcHandle an HBA or SMC-B (4209)
 *           ──> card-to-card authentication eGK <-> HBA/SMC-B: simulated, always succeeds
 *           ──> the insured's PIN state on the eGK (4085 when not verified):
 *                 ReadDPE  MRPIN.DPE_READ, not needed with EmergencyIndicator true
 *                 WriteDPE MRPIN.DPE, EraseDPE MRPIN.DPE
 *           ──> WriteDPE: the document is a DPE (dpe_document.c; 4000) and fits EF.DPE (4280)
 *           ──> cards: EF.DPE read, written or erased ──> DPE:Status OK (+ DPEDocument)
 *
 * An eGK without a DPE answers ReadDPE with an empty DPEDocument (the XSD requires the
 * element; nothing is on the card). Each finished operation publishes LOG/FM/NFDM/DPE_READ,
 * DPE_WRITE or DPE_ERASE (type Security, so the security log keeps it; LOG/ topics never
 * reach event sinks) with the HPC's type, the eGK's terminal and slot, Mandant, Emergency,
 * Result and, for a refusal after the card checks, the code. Never a KVNR, ICCSN, name, card
 * handle or document content.
 *
 * Invariants:
 *  1. A handler answers exactly once, at once (no PIN pad: the PINs were verified earlier
 *     through the CardService).
 *  2. The context check of both cards runs before anything about them is answered.
 *  3. The request keeps copies of what the security log needs: answering frees the call. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cards/pin.h"
#include "services/services_internal.h"

#define NS_DPE "http://ws.gematik.de/conn/nfds/DPEService/v1.0"
#define TOPIC_PREFIX "LOG/FM/NFDM/"
/* The gematik codes this service answers with beyond TUC_KON_000 (digest section 7.3). */
#define ERR_CARD_TYPE 4209
#define ERR_ACCESS 4085
#define ERR_TOO_LARGE 4280
/* A DPEDocument in base64: CARDS_DPE_DOCUMENT_MAX bytes, 4 characters per 3, plus line
 * breaks a client may add. */
#define DPE_B64_MAX (CARDS_DPE_DOCUMENT_MAX / 3 * 4 + 4 + CARDS_DPE_DOCUMENT_MAX / 32)

static const struct soap_service dpe_service = {
    .name = "DPEService",
    .abstract = "Fachmodul NFDM: read, write and erase the personal declarations (DPE) on the eGK",
    .target_namespace = "http://ws.gematik.de/conn/nfds/DPEService/WSDL/v1.0",
    .version = "1.0.0",
    .path = "/ws/DPEService",
    .wsdl_path = NULL,
    .feature = "NFDM",
};

enum dpe_op { DPE_OP_READ, DPE_OP_WRITE, DPE_OP_ERASE, DPE_OP_MAX };

static const struct {
    const char *response;
    const char *topic;
    const char *pin; /* the eGK PIN the operation needs */
} op_info[DPE_OP_MAX] = {
    [DPE_OP_READ] = {"ReadDPEResponse", TOPIC_PREFIX "DPE_READ", "MRPIN.DPE_READ"},
    [DPE_OP_WRITE] = {"WriteDPEResponse", TOPIC_PREFIX "DPE_WRITE", "MRPIN.DPE"},
    [DPE_OP_ERASE] = {"EraseDPEResponse", TOPIC_PREFIX "DPE_ERASE", "MRPIN.DPE"},
};

struct services_dpe {
    struct services *s;
    struct soap_operation ops[DPE_OP_MAX];
};

/* What one call asks for. */
struct dpe_request {
    enum dpe_op op;
    char ehc[CARDS_HANDLE_MAX + 1];
    char hpc[CARDS_HANDLE_MAX + 1];
    char mandant_id[SOAP_CONTEXT_ID_MAX + 1]; /* copied: the call's is gone once answered */
    bool emergency;                           /* ReadDPE */
    uint8_t *doc;                             /* WriteDPE, decoded; freed by the caller */
    size_t doc_len;
    const struct cards_card *egk, *hpc_card; /* after the checks */
};

/* ---- the security log ------------------------------------------------------------------- */

/* code 0: done. The file comment lists what goes in and what never does. */
static void log_dpe(struct services *s, const struct dpe_request *rq, int code)
{
    char slot[16] = "", code_text[16] = "";
    struct evt_param params[8];
    size_t n = 0;
    struct evt_event ev = {.topic = op_info[rq->op].topic, .type = EVT_TYPE_SECURITY};

    if (!s->deps.bus)
        return;
    (void)snprintf(slot, sizeof(slot), "%u", rq->egk->slot);
    if (code)
        (void)snprintf(code_text, sizeof(code_text), "%d", code);
    params[n++] = (struct evt_param){"CtID", rq->egk->ct_id};
    params[n++] = (struct evt_param){"SlotID", slot};
    params[n++] = (struct evt_param){"HpcType", cards_type_to_string(rq->hpc_card->type)};
    params[n++] = (struct evt_param){"MandantId", rq->mandant_id};
    if (rq->op == DPE_OP_READ)
        params[n++] = (struct evt_param){"Emergency", rq->emergency ? "true" : "false"};
    params[n++] = (struct evt_param){"Result", code ? "REFUSED" : "OK"};
    if (code)
        params[n++] = (struct evt_param){"Code", code_text};
    ev.severity = code ? EVT_SEVERITY_WARNING : EVT_SEVERITY_INFO;
    ev.params = params;
    ev.n_params = n;
    (void)evt_bus_publish(s->deps.bus, &ev);
}

/* ---- request ---------------------------------------------------------------------------- */

static bool read_handle(struct soap_call *call, const char *name, char *buf)
{
    int r = services__trimmed(soap_child_text(soap_call_operation(call), SOAP_NS_CONN, name), buf,
                              CARDS_HANDLE_MAX + 1);

    if (r < 0 || buf[0] == '\0') {
        soap_call_fault(call, SERVICES_ERR_SYNTAX, "%s must have 1 to %d characters", name,
                        CARDS_HANDLE_MAX);
        return false;
    }
    return true;
}

/* xs:boolean: "true", "false", "1", "0". */
static bool read_bool(struct soap_call *call, const char *name, bool *ret)
{
    char b[8];

    if (services__trimmed(soap_child_text(soap_call_operation(call), NS_DPE, name), b, sizeof(b)) ==
        0) {
        if (strcmp(b, "true") == 0 || strcmp(b, "1") == 0) {
            *ret = true;
            return true;
        }
        if (strcmp(b, "false") == 0 || strcmp(b, "0") == 0) {
            *ret = false;
            return true;
        }
    }
    soap_call_fault(call, SERVICES_ERR_SYNTAX, "%s must be true or false", name);
    return false;
}

static bool read_document(struct soap_call *call, struct dpe_request *rq)
{
    const char *b64 = soap_child_text(soap_call_operation(call), NS_DPE, "DPEDocument");
    int r;

    if (!b64) {
        soap_call_fault(call, SERVICES_ERR_SYNTAX, "DPEDocument is missing");
        return false;
    }
    r = base64_decode_max(b64, DPE_B64_MAX, &rq->doc, &rq->doc_len);
    if (r == -E2BIG) {
        soap_call_fault(call, ERR_TOO_LARGE, "the DPE has more than %d bytes",
                        CARDS_DPE_DOCUMENT_MAX);
        return false;
    }
    if (r == -ENOMEM) {
        soap_call_fault(call, SERVICES_ERR_INTERNAL, "out of memory");
        return false;
    }
    if (r < 0 || rq->doc_len == 0) {
        soap_call_fault(call, SERVICES_ERR_SYNTAX, "DPEDocument must be a base64 DPE document");
        return false;
    }
    return true;
}

static bool parse_request(struct soap_call *call, struct dpe_request *rq)
{
    bool update = false;

    if (!read_handle(call, "EhcHandle", rq->ehc) || !read_handle(call, "HpcHandle", rq->hpc))
        return false;
    switch (rq->op) {
    case DPE_OP_READ:
        /* UpdateIndicator only says why the DPE is read; it changes nothing here. */
        return read_bool(call, "EmergencyIndicator", &rq->emergency) &&
               read_bool(call, "UpdateIndicator", &update);
    case DPE_OP_WRITE:
        return read_document(call, rq);
    default:
        return true;
    }
}

/* ---- checks ----------------------------------------------------------------------------- */

static bool is_hpc(enum cards_type t)
{
    return t == CARDS_TYPE_HBA || t == CARDS_TYPE_HBA_QSIG || t == CARDS_TYPE_SMC_B;
}

/* Invariant 2, then the card types. Sets rq->egk and rq->hpc_card. */
static bool cards_ok(struct services *s, struct soap_call *call, struct dpe_request *rq)
{
    if (!services__context_ok(s, call, rq->ehc, NULL, 0) ||
        !services__context_ok(s, call, rq->hpc, NULL, SERVICES_CTX_NEED_CARD_SESSION))
        return false;
    rq->egk = cards_card_by_handle(s->deps.cards, rq->ehc); /* the checks found both */
    rq->hpc_card = cards_card_by_handle(s->deps.cards, rq->hpc);
    if (!rq->egk || rq->egk->type != CARDS_TYPE_EGK) {
        soap_call_fault(call, ERR_CARD_TYPE,
                        "EhcHandle must name an eGK, '%s' is a card of type %s", rq->ehc,
                        rq->egk ? cards_type_to_string(rq->egk->type) : "?");
        return false;
    }
    if (!rq->hpc_card || !is_hpc(rq->hpc_card->type)) {
        soap_call_fault(call, ERR_CARD_TYPE,
                        "HpcHandle must name an HBA or SMC-B, '%s' is a card of type %s", rq->hpc,
                        rq->hpc_card ? cards_type_to_string(rq->hpc_card->type) : "?");
        return false;
    }
    return true;
}

/* The insured's PIN state on the eGK (file comment); the eGK has one session per card. */
static bool pin_ok(struct services *s, struct soap_call *call, const struct dpe_request *rq)
{
    const struct soap_context *ctx = soap_call_context(call);
    const char *pin = op_info[rq->op].pin;
    char key[CARDS_SESSION_KEY_MAX];

    if (rq->op == DPE_OP_READ && rq->emergency)
        return true;
    if (cards_session_key(CARDS_TYPE_EGK, ctx->mandant_id, ctx->client_system_id, ctx->user_id, key,
                          sizeof(key)) == 0 &&
        cards_session_is_verified(s->deps.cards, rq->ehc, key, pin))
        return true;
    log_dpe(s, rq, ERR_ACCESS);
    soap_call_fault(call, ERR_ACCESS,
                    "%s of the eGK '%s' is not verified; verify it with CardService.VerifyPin "
                    "first",
                    pin, rq->ehc);
    return false;
}

/* ---- the operations --------------------------------------------------------------------- */

static void answer(struct soap_call *call, const struct dpe_request *rq, const uint8_t *doc,
                   size_t len)
{
    xmlTextWriterPtr w =
        soap_call_reply_begin_status(call, NS_DPE, "DPE", op_info[rq->op].response, NS_DPE, "DPE");
    int r = 0;

    if (!w)
        return;
    if (rq->op == DPE_OP_READ) {
        r = services__xml_start(w, "DPE", "DPEDocument", NULL);
        if (len > 0 &&
            (len > INT32_MAX || xmlTextWriterWriteBase64(w, (const char *)doc, 0, (int)len) < 0))
            r = -EIO;
        r |= services__xml_end(w);
    }
    if (r)
        log_msg(LOG_LEVEL_ERROR, "services: writing the %s failed, reply incomplete",
                op_info[rq->op].response);
    soap_call_reply_end(call);
}

/* One switch from the cards outcome to the gematik code (STYLE.md rule 5). */
static void refuse(struct services *s, struct soap_call *call, const struct dpe_request *rq, int r)
{
    int code;

    switch (r) {
    case -E2BIG:
        code = ERR_TOO_LARGE;
        soap_call_fault(call, code,
                        "the DPE does not fit EF.DPE of the eGK (%d bytes, compressed with its "
                        "2-byte length)",
                        CARDS_DPE_CONTAINER_MAX);
        break;
    case -ENOENT:
        code = SERVICES_ERR_CARD_HANDLE;
        soap_call_fault(call, code, "EhcHandle '%s' is unknown", rq->ehc);
        break;
    case -EBADMSG:
        code = SERVICES_ERR_INTERNAL;
        soap_call_fault(call, code, "the DPE container of the eGK is damaged");
        break;
    default:
        code = SERVICES_ERR_INTERNAL;
        soap_call_fault(call, code, "the eGK could not be accessed");
        break;
    }
    log_dpe(s, rq, code);
}

static void run(struct services_dpe *sd, struct soap_call *call, enum dpe_op op)
{
    struct services *s = sd->s;
    struct dpe_request rq = {.op = op};
    uint8_t *doc = NULL;
    size_t len = 0;
    char why[SERVICES_DPE_WHY_MAX];
    int r = 0;

    (void)str_copy(rq.mandant_id, sizeof(rq.mandant_id), soap_call_context(call)->mandant_id);
    if (!parse_request(call, &rq) || !cards_ok(s, call, &rq) || !pin_ok(s, call, &rq))
        goto out;
    switch (op) {
    case DPE_OP_READ:
        r = cards_egk_dpe_read(s->deps.cards, rq.ehc, &doc, &len);
        if (r == -ENODATA)
            r = 0; /* no DPE on the eGK: an empty DPEDocument */
        break;
    case DPE_OP_WRITE:
        r = services__dpe_document_check(rq.doc, rq.doc_len, why, sizeof(why));
        if (r == -EBADMSG || r == -E2BIG) {
            log_dpe(s, &rq, SERVICES_ERR_SYNTAX);
            soap_call_fault(call, SERVICES_ERR_SYNTAX, "DPEDocument: %s", why);
            goto out;
        }
        if (r == 0)
            r = cards_egk_dpe_write(s->deps.cards, rq.ehc, rq.doc, rq.doc_len);
        break;
    default:
        r = cards_egk_dpe_erase(s->deps.cards, rq.ehc);
        break;
    }
    if (r < 0) {
        refuse(s, call, &rq, r);
        goto out;
    }
    log_dpe(s, &rq, 0);
    answer(call, &rq, doc, len);
out:
    if (doc)
        explicit_bzero(doc, len);
    free(doc);
    if (rq.doc)
        explicit_bzero(rq.doc, rq.doc_len);
    free(rq.doc);
}

static void on_read(struct soap_call *call, void *arg)
{
    run(arg, call, DPE_OP_READ);
}

static void on_write(struct soap_call *call, void *arg)
{
    run(arg, call, DPE_OP_WRITE);
}

static void on_erase(struct soap_call *call, void *arg)
{
    run(arg, call, DPE_OP_ERASE);
}

/* ---- registration ----------------------------------------------------------------------- */

int services__dpe_service_start(struct services *s)
{
    static const struct {
        const char *name;
        soap_handler_fn fn;
    } table[DPE_OP_MAX] = {
        [DPE_OP_READ] = {"ReadDPE", on_read},
        [DPE_OP_WRITE] = {"WriteDPE", on_write},
        [DPE_OP_ERASE] = {"EraseDPE", on_erase},
    };
    struct services_dpe *sd;

    /* Registered even without a simulated world, like the CardService: every card handle
     * then answers 4008. */
    sd = calloc(1, sizeof(*sd));
    if (!sd)
        return -ENOMEM;
    sd->s = s;
    for (size_t i = 0; i < DPE_OP_MAX; i++)
        sd->ops[i] = (struct soap_operation){.ns = NS_DPE,
                                             .name = table[i].name,
                                             .gate = GATE_OP_CARD,
                                             .needs_context = true,
                                             .fn = table[i].fn,
                                             .arg = sd};
    s->dpe = sd;
    return soap_server_register(s->deps.soap, &dpe_service, sd->ops, DPE_OP_MAX);
}

void services__dpe_service_stop(struct services *s)
{
    if (!s || !s->dpe)
        return;
    free(s->dpe);
    s->dpe = NULL;
}
