/* gate: the critical-state gate. TAB_KON_504-01 (gemF_Laufzeitverlängerung_gSMC-K, digest
 * section 2.4) as data: which operation groups may start or run while a Fatal error
 * condition is active (TIP1-A_4510-04).
 *
 * This file decides; it does not answer. The SOAP layer maps a refusal to gematik error
 * 4002 (GATE_REFUSED_CODE), the management API to its JSON error.
 *
 * Invariants:
 *  1. The matrix has one row per enum gate_op in the digest's order and one column per
 *     Fatal condition of TAB_KON_504-01 (eleven); 'x' allows, anything else blocks, so a
 *     damaged row fails closed.
 *  2. A condition that is not Fatal never blocks anything.
 *  3. EC_Firewall_Not_Reliable is not a column: A_16203 makes the connector unusable, so
 *     only software update, log viewing and factory reset stay possible (recovery paths).
 *  4. With several Fatal conditions active, an operation runs only if every one of them
 *     allows it (the intersection); the first blocker in table order is reported.
 *  5. Every SOAP operation name maps to exactly one row. */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "base/base.h"
#include "state/state.h"

/* The columns of TAB_KON_504-01, in the digest's order. */
static const enum ec_id gate_columns[] = {
    EC_SOFTWARE_INTEGRITY_CHECK_FAILED,     /* SWI */
    EC_RANDOM_GENERATOR_NOT_RELIABLE,       /* RNG */
    EC_SECURITY_LOG_NOT_WRITABLE,           /* SLOG */
    EC_TIME_SYNC_PENDING_CRITICAL,          /* TSC */
    EC_TIME_DIFFERENCE_INTOLERABLE,         /* TDI */
    EC_CRL_OUT_OF_DATE,                     /* CRL */
    EC_TSL_OUT_OF_DATE_BEYOND_GRACE_PERIOD, /* TSLG */
    EC_TSL_TRUST_ANCHOR_OUT_OF_DATE,        /* TA */
    EC_SECURE_KEYSTORE_NOT_AVAILABLE,       /* KS */
    EC_FW_NOT_VALID_STATUS_BLOCKED,         /* FWB */
    EC_NK_CERTIFICATE_EXPIRED,              /* NKE */
};

#define GATE_COLUMNS 11
_Static_assert(ARRAY_SIZE(gate_columns) == GATE_COLUMNS, "TAB_KON_504-01 has 11 columns");

/* TAB_KON_504-01: 'x' = allowed, '-' = blocked.
 *                                         SWI RNG SLOG TSC TDI CRL TSLG TA KS FWB NKE */
/* clang-format off */
static const char gate_matrix[GATE_OP_MAX][GATE_COLUMNS + 1] = {
    [GATE_OP_BASE] =               "-xxxxxxxxxx",
    [GATE_OP_REGISTER_FM] =        "---xxxxxxxx",
    [GATE_OP_CARD] =               "-----xxx-x-",
    [GATE_OP_CARD_SESSION] =       "-----x-x---",
    [GATE_OP_SYMMETRIC] =          "---xxxxx-x-",
    [GATE_OP_CERT_INFO] =          "---xxxxx-xx",
    [GATE_OP_TLS_VPN_AUTO] =       "-----------",
    [GATE_OP_CERT_RENEW_MANUAL] =  "----------x",
    [GATE_OP_EVENT_SERVICE] =      "-xxxxxxxxx-",
    [GATE_OP_READ_CERT] =          "-----xxxxx-",
    [GATE_OP_VERIFY_CERT] =        "-----x-xxx-",
    [GATE_OP_NTP_SERVER] =         "-----xxxx--",
    [GATE_OP_MGMT_UPDATE] =        "xxxxxxxxxxx",
    [GATE_OP_MGMT_LOG_VIEW] =      "xxxxxxxxxxx",
    [GATE_OP_MGMT_FACTORY_RESET] = "xxxxxxxxxxx",
    [GATE_OP_MGMT_OTHER] =         "-xxxxxxxxxx",
};
/* clang-format on */

static const char *const gate_op_names[] = {
    [GATE_OP_BASE] = "base",
    [GATE_OP_REGISTER_FM] = "register-fm",
    [GATE_OP_CARD] = "card",
    [GATE_OP_CARD_SESSION] = "card-session",
    [GATE_OP_SYMMETRIC] = "symmetric",
    [GATE_OP_CERT_INFO] = "cert-info",
    [GATE_OP_TLS_VPN_AUTO] = "tls-vpn-auto",
    [GATE_OP_CERT_RENEW_MANUAL] = "cert-renew-manual",
    [GATE_OP_EVENT_SERVICE] = "event-service",
    [GATE_OP_READ_CERT] = "read-cert",
    [GATE_OP_VERIFY_CERT] = "verify-cert",
    [GATE_OP_NTP_SERVER] = "ntp-server",
    [GATE_OP_MGMT_UPDATE] = "mgmt-update",
    [GATE_OP_MGMT_LOG_VIEW] = "mgmt-log-view",
    [GATE_OP_MGMT_FACTORY_RESET] = "mgmt-factory-reset",
    [GATE_OP_MGMT_OTHER] = "mgmt-other",
};

_Static_assert(ARRAY_SIZE(gate_op_names) == GATE_OP_MAX, "one name per enum gate_op");

/* SOAP operation names (WSDL local names, case-sensitive as in XML) and their rows. */
static const struct {
    const char *name;
    enum gate_op op;
} gate_soap_ops[] = {
    /* CardService PIN operations */
    {"VerifyPin", GATE_OP_CARD},
    {"UnblockPin", GATE_OP_CARD},
    {"ChangePin", GATE_OP_CARD},
    {"GetPinStatus", GATE_OP_CARD},
    /* card TUCs (TUC_KON_005/006/018/024/051/200/202/203/209) behind these operations */
    {"EnablePin", GATE_OP_CARD},
    {"DisablePin", GATE_OP_CARD},
    {"RequestCard", GATE_OP_CARD},
    {"EjectCard", GATE_OP_CARD},
    {"AuthorizeSMC", GATE_OP_CARD},
    /* EncryptionService */
    {"EncryptDocument", GATE_OP_CARD},
    {"DecryptDocument", GATE_OP_CARD},
    /* SignatureService */
    {"SignDocument", GATE_OP_CARD},
    {"VerifyDocument", GATE_OP_CARD},
    {"GetJobNumber", GATE_OP_CARD},
    {"StopSignature", GATE_OP_CARD},
    {"ActivateComfortSignature", GATE_OP_CARD},
    {"DeactivateComfortSignature", GATE_OP_CARD},
    {"GetSignatureMode", GATE_OP_CARD},
    /* AuthSignatureService */
    {"ExternalAuthenticate", GATE_OP_CARD},
    /* EventService */
    {"GetCardTerminals", GATE_OP_EVENT_SERVICE},
    {"GetCards", GATE_OP_EVENT_SERVICE},
    {"GetResourceInformation", GATE_OP_EVENT_SERVICE},
    {"Subscribe", GATE_OP_EVENT_SERVICE},
    {"RenewSubscriptions", GATE_OP_EVENT_SERVICE},
    {"Unsubscribe", GATE_OP_EVENT_SERVICE},
    {"GetSubscription", GATE_OP_EVENT_SERVICE},
    /* CertificateService */
    {"ReadCardCertificate", GATE_OP_READ_CERT},
    {"CheckCertificateExpiration", GATE_OP_READ_CERT},
    {"VerifyCertificate", GATE_OP_VERIFY_CERT},
    /* NTP server interface for clients */
    {"I_NTP_Time_Information", GATE_OP_NTP_SERVER},
};

/* The three recovery paths that stay open with EC_Firewall_Not_Reliable (A_16203). */
static bool firewall_allows(enum gate_op op)
{
    return op == GATE_OP_MGMT_UPDATE || op == GATE_OP_MGMT_LOG_VIEW ||
           op == GATE_OP_MGMT_FACTORY_RESET;
}

const char *gate_op_to_string(enum gate_op op)
{
    if ((unsigned)op >= GATE_OP_MAX)
        return NULL;
    return gate_op_names[op];
}

int gate_op_from_string(const char *s, enum gate_op *ret_op)
{
    if (!s || !ret_op)
        return -EINVAL;
    for (size_t i = 0; i < ARRAY_SIZE(gate_op_names); i++) {
        if (strcasecmp(gate_op_names[i], s) == 0) {
            *ret_op = (enum gate_op)i;
            return 0;
        }
    }
    for (size_t i = 0; i < ARRAY_SIZE(gate_soap_ops); i++) {
        if (strcmp(gate_soap_ops[i].name, s) == 0) {
            *ret_op = gate_soap_ops[i].op;
            return 0;
        }
    }
    return -EINVAL;
}

bool gate_cell(enum gate_op op, enum ec_id ec)
{
    const struct ec_def *def = ec_def_get(ec);

    /* Unknown operations and conditions fail closed. */
    if ((unsigned)op >= GATE_OP_MAX || !def)
        return false;
    if (def->severity != EVT_SEVERITY_FATAL)
        return true;
    if (ec == EC_FIREWALL_NOT_RELIABLE)
        return firewall_allows(op);
    for (size_t c = 0; c < GATE_COLUMNS; c++) {
        if (gate_columns[c] == ec)
            return gate_matrix[op][c] == 'x';
    }
    /* A Fatal condition without a column: nothing in TAB_KON_504-01 allows it. */
    return false;
}

bool gate_allows(const struct ec_state *st, enum gate_op op, enum ec_id *ret_blocker)
{
    if (!st || (unsigned)op >= GATE_OP_MAX) {
        if (ret_blocker)
            *ret_blocker = EC_MAX;
        return false;
    }
    for (int id = 0; id < EC_MAX; id++) {
        const struct ec_def *def = ec_def_get((enum ec_id)id);

        /* TIP1-A_4510-04: only Fatal conditions restrict; ec_is_active(NULL) means any
         * instance. */
        if (def->severity != EVT_SEVERITY_FATAL || !ec_is_active(st, def->id, NULL))
            continue;
        if (!gate_cell(op, def->id)) {
            if (ret_blocker)
                *ret_blocker = def->id;
            return false;
        }
    }
    return true;
}
