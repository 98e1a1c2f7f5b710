/* call_helpers: small request-side helpers every service shares (EventService, CardService,
 * CardTerminalService, CertificateService, DPEService): trimming element text, and
 * TUC_KON_000 with the refusal
 * written as a fault whose Detail names the field at fault (STYLE.md rule 5: one switch per
 * outcome).
 *
 * Invariants:
 *  1. services__context_ok answers the call exactly when it returns false. */
#include <errno.h>
#include <string.h>

#include "services/services_internal.h"

static bool is_xml_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int services__trimmed(const char *text, char *buf, size_t size)
{
    size_t n;

    if (!text)
        return -ENOENT;
    while (is_xml_space(*text))
        text++;
    n = strlen(text);
    while (n > 0 && is_xml_space(text[n - 1]))
        n--;
    if (n + 1 > size)
        return -E2BIG;
    memcpy(buf, text, n);
    buf[n] = '\0';
    return 0;
}

static void refuse(struct soap_call *call, int code, const struct soap_context *ctx,
                   const char *ct_id, const char *handle)
{
    switch (code) {
    case SERVICES_ERR_CONTEXT_INCOMPLETE:
        soap_call_fault(call, code, "MandantId, ClientSystemId and WorkplaceId are mandatory");
        break;
    case SERVICES_ERR_MANDANT:
        soap_call_fault(call, code, "MandantId '%s' is unknown", ctx->mandant_id);
        break;
    case SERVICES_ERR_CLIENT_SYSTEM:
        soap_call_fault(call, code, "ClientSystemId '%s' is unknown", ctx->client_system_id);
        break;
    case SERVICES_ERR_WORKPLACE:
        soap_call_fault(call, code, "WorkplaceId '%s' is unknown", ctx->workplace_id);
        break;
    case SERVICES_ERR_CS_NOT_OF_MANDANT:
        soap_call_fault(call, code, "ClientSystemId '%s' is not assigned to MandantId '%s'",
                        ctx->client_system_id, ctx->mandant_id);
        break;
    case SERVICES_ERR_WP_NOT_OF_MANDANT:
        soap_call_fault(call, code, "WorkplaceId '%s' is not assigned to MandantId '%s'",
                        ctx->workplace_id, ctx->mandant_id);
        break;
    case SERVICES_ERR_CT_ID:
        soap_call_fault(call, code, "CtId '%s' is unknown", ct_id ? ct_id : "");
        break;
    case SERVICES_ERR_CT_NOT_REACHABLE:
        soap_call_fault(call, code, "the card terminal is not reachable from WorkplaceId '%s'",
                        ctx->workplace_id);
        break;
    case SERVICES_ERR_CARD_HANDLE:
        soap_call_fault(call, code, "CardHandle '%s' is unknown", handle ? handle : "");
        break;
    case SERVICES_ERR_SMB_NOT_MANAGED:
        soap_call_fault(call, code, "CardHandle '%s' is no SM-B managed for MandantId '%s'",
                        handle ? handle : "", ctx->mandant_id);
        break;
    case SERVICES_ERR_NO_USER_ID:
        soap_call_fault(call, code, "UserId is required for CardHandle '%s'", handle ? handle : "");
        break;
    default:
        soap_call_fault(call, code, NULL);
        break;
    }
}

bool services__context_ok(struct services *s, struct soap_call *call, const char *handle,
                          const char *ct_id, unsigned flags)
{
    const struct soap_context *ctx = soap_call_context(call);
    int code = services__context_check(s->deps.store, s->deps.cards, ctx, handle, ct_id, flags);

    if (code == 0)
        return true;
    refuse(call, code, ctx, ct_id, handle);
    return false;
}
