/* context: TUC_KON_000 "Prüfe Zugriffsberechtigung" (TIP1-A_4524-03, digest section 1.3),
 * the access check that runs before every outer operation.
 *
 * Inputs are the call context (Mandant, client system, workplace, user), optionally a card
 * terminal and a card handle, and two flags: the operation needs a card session, and
 * terminals count across all workplaces of the Mandant (mandant-wide). The rules of the lost
 * tables TAB_KON_513..515 are reconstructed from the code catalogue of gemILF_PS:
 *
 *   4021 a mandatory context field (MandantId, ClientSystemId, WorkplaceId) is empty
 *   4004 / 4005 / 4006  unknown Mandant / client system / workplace
 *   4010 / 4011  client system / workplace not assigned to the Mandant
 *   4007 unknown CtId
 *   4012 terminal not reachable: not related (local or remote) to the workplace, or with
 *        SERVICES_CTX_ALL_WORKPLACES to no workplace of the Mandant; also for the terminal
 *        a given card sits in
 *   4008 unknown card handle (the card was removed, or never existed)
 *   4009 an SMC-B (or SM-B, HSM-B) that is not an SM-B_Verwaltet of the Mandant
 *   4003 an HBA (HBA, HBA-qSig, HBAx) with a card session needed but no UserId
 *
 * SM-B_Verwaltet: the relation STORE_REL_MANDANT_SMB (Mandant, ICCSN). The demo practice the
 * store seeds at first start does not relate its SMC-B, and a practice with one Mandant
 * often configures none. So while no SM-B is assigned to any Mandant at all, every SMC-B
 * counts as managed by every Mandant; as soon as an administrator assigns one, the rule
 * holds for all of them. This keeps the demo usable and makes multi-tenant setups strict.
 *
 * Invariants:
 *  1. The check has no side effects and does not log: the caller decides and logs once.
 *  2. The order of the checks is fixed (see services__context_check in the header), so the
 *     same request always gets the same code.
 *  3. Decisions use the current info model and card state (TIP1-A_4523): nothing cached. */
#include <string.h>

#include "services/services_internal.h"

struct reach {
    struct store *st;
    const char *ct_id;
    bool found;
};

static bool ct_related_to_workplace(struct store *st, const char *workplace_id, const char *ct_id)
{
    return store_relation_exists(st, STORE_REL_WORKPLACE_CT_LOCAL, workplace_id, ct_id) ||
           store_relation_exists(st, STORE_REL_WORKPLACE_CT_REMOTE, workplace_id, ct_id);
}

static void reach_workplace(const char *mandant_id, const char *workplace_id, void *arg)
{
    struct reach *r = arg;

    if (!r->found && ct_related_to_workplace(r->st, workplace_id, r->ct_id))
        r->found = true;
}

bool services__ct_is_reachable(struct store *st, const char *mandant_id, const char *workplace_id,
                               const char *ct_id, bool all_workplaces)
{
    struct reach r = {.st = st, .ct_id = ct_id};

    if (!st || !mandant_id || !ct_id)
        return false;
    if (!all_workplaces)
        return workplace_id && ct_related_to_workplace(st, workplace_id, ct_id);
    if (store_relation_foreach(st, STORE_REL_MANDANT_WORKPLACE, mandant_id, NULL, reach_workplace,
                               &r) < 0)
        return false;
    return r.found;
}

static void count_pair(const char *a, const char *b, void *arg)
{
    size_t *n = arg;

    (*n)++;
}

/* SM-B_Verwaltet, with the rule for a connector where none is configured (file comment). */
static bool smb_is_managed(struct store *st, const char *mandant_id, const char *iccsn)
{
    size_t n = 0;

    if (store_relation_exists(st, STORE_REL_MANDANT_SMB, mandant_id, iccsn))
        return true;
    if (store_relation_foreach(st, STORE_REL_MANDANT_SMB, NULL, NULL, count_pair, &n) < 0)
        return false;
    return n == 0;
}

static bool is_smb(enum cards_type t)
{
    return t == CARDS_TYPE_SMC_B || t == CARDS_TYPE_SM_B || t == CARDS_TYPE_HSM_B;
}

static bool is_hba(enum cards_type t)
{
    return t == CARDS_TYPE_HBA || t == CARDS_TYPE_HBA_QSIG || t == CARDS_TYPE_HBA_X;
}

static int check_card(struct store *st, const struct cards *cards, const struct soap_context *ctx,
                      const char *card_handle, unsigned flags)
{
    bool all = flags & SERVICES_CTX_ALL_WORKPLACES;
    const struct cards_card *card = cards ? cards_card_by_handle(cards, card_handle) : NULL;

    if (!card || card->ct_id[0] == '\0')
        return SERVICES_ERR_CARD_HANDLE;
    if (!services__ct_is_reachable(st, ctx->mandant_id, ctx->workplace_id, card->ct_id, all))
        return SERVICES_ERR_CT_NOT_REACHABLE;
    if (is_smb(card->type) && !smb_is_managed(st, ctx->mandant_id, card->iccsn))
        return SERVICES_ERR_SMB_NOT_MANAGED;
    if (is_hba(card->type) && (flags & SERVICES_CTX_NEED_CARD_SESSION) && ctx->user_id[0] == '\0')
        return SERVICES_ERR_NO_USER_ID;
    return 0;
}

int services__context_check(struct store *st, const struct cards *cards,
                            const struct soap_context *ctx, const char *card_handle,
                            const char *ct_id, unsigned flags)
{
    bool all = flags & SERVICES_CTX_ALL_WORKPLACES;

    if (!ctx || !ctx->present || ctx->mandant_id[0] == '\0' || ctx->client_system_id[0] == '\0' ||
        ctx->workplace_id[0] == '\0')
        return SERVICES_ERR_CONTEXT_INCOMPLETE;
    if (!store_entity_exists(st, STORE_ENTITY_MANDANT, ctx->mandant_id))
        return SERVICES_ERR_MANDANT;
    if (!store_entity_exists(st, STORE_ENTITY_CLIENT_SYSTEM, ctx->client_system_id))
        return SERVICES_ERR_CLIENT_SYSTEM;
    if (!store_entity_exists(st, STORE_ENTITY_WORKPLACE, ctx->workplace_id))
        return SERVICES_ERR_WORKPLACE;
    if (!store_relation_exists(st, STORE_REL_MANDANT_CLIENT_SYSTEM, ctx->mandant_id,
                               ctx->client_system_id))
        return SERVICES_ERR_CS_NOT_OF_MANDANT;
    if (!store_relation_exists(st, STORE_REL_MANDANT_WORKPLACE, ctx->mandant_id, ctx->workplace_id))
        return SERVICES_ERR_WP_NOT_OF_MANDANT;
    if (ct_id) {
        if (!store_entity_exists(st, STORE_ENTITY_CARD_TERMINAL, ct_id))
            return SERVICES_ERR_CT_ID;
        if (!services__ct_is_reachable(st, ctx->mandant_id, ctx->workplace_id, ct_id, all))
            return SERVICES_ERR_CT_NOT_REACHABLE;
    }
    if (card_handle)
        return check_card(st, cards, ctx, card_handle, flags);
    return 0;
}
