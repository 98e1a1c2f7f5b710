/* ec_table: the one table of the 34 error conditions of TAB_KON_503 (gemSpec_Kon, as
 * re-published in gemF_Laufzeitverlängerung_gSMC-K, digest section 2.3).
 *
 * This file holds data and lookups only; the set of active instances lives in ec.c, the
 * critical-state matrix in gate.c, and docs/operating-state.md describes the same table.
 *
 * Invariants:
 *  1. The table has exactly EC_MAX entries, in enum ec_id order, and entry i has id i
 *     (designated initialisers, the _Static_assert below and test_ec_table.c).
 *  2. Every name is spelled as TAB_KON_503 spells it; names are unique even when letter
 *     case is ignored, so ec_id_from_string() is case-insensitive without ambiguity.
 *  3. The Fatal conditions are exactly #5, 21-30 and 34 (twelve); only those feed the gate.
 *  4. Exactly the EC_CardTerminal_* conditions and EC_OTHER_ERROR_STATE are parameterised,
 *     and each parameterised condition names its instance parameter.
 *  5. Only EC_LOG_OVERFLOW and EC_CRYPTOPERATION_ALARM wait for an administrator; the three
 *     time states may also be ended by an admin time correction (TIP1-A_4794). */
#include <errno.h>
#include <stddef.h>
#include <strings.h>

#include "base/base.h"
#include "state/state.h"

/* Maximum detection times of TAB_KON_503, in ms. */
#define DETECT_1S (1000LL)
#define DETECT_10S (10LL * 1000)
#define DETECT_1MIN (60LL * 1000)
#define DETECT_300S (300LL * 1000)
#define DETECT_1DAY (24LL * 60 * 60 * 1000)
#define DETECT_7DAYS (7LL * DETECT_1DAY)

#define OP EVT_TYPE_OPERATION
#define SEC EVT_TYPE_SECURITY

/* clang-format off */
static const struct ec_def ec_table[] = {
    [EC_CARDTERMINAL_SOFTWARE_OUT_OF_DATE] = {
        EC_CARDTERMINAL_SOFTWARE_OUT_OF_DATE, "EC_CardTerminal_Software_Out_Of_Date",
        "The firmware of a managed card terminal is not current.",
        OP, EVT_SEVERITY_INFO, DETECT_1DAY, true, "CtID", {NULL}, EC_RESET_SITUATION},
    [EC_CARDTERMINAL_GSMC_KT_CERTIFICATE_EXPIRES_SOON] = {
        EC_CARDTERMINAL_GSMC_KT_CERTIFICATE_EXPIRES_SOON,
        "EC_CardTerminal_gSMC-KT_Certificate_Expires_Soon",
        "The certificate of the gSMC-KT in a card terminal expires in less than five weeks.",
        OP, EVT_SEVERITY_INFO, DETECT_7DAYS, true, "CtID", {NULL}, EC_RESET_SITUATION},
    [EC_CONNECTOR_SOFTWARE_OUT_OF_DATE] = {
        EC_CONNECTOR_SOFTWARE_OUT_OF_DATE, "EC_Connector_Software_Out_Of_Date",
        "The configuration and software repository offers a newer connector firmware "
        "with priority critical.",
        OP, EVT_SEVERITY_INFO, DETECT_1DAY, false, NULL, {NULL}, EC_RESET_SITUATION},
    [EC_FW_UPDATE_AVAILABLE] = {
        EC_FW_UPDATE_AVAILABLE, "EC_FW_Update_Available",
        "The configuration and software repository offers a newer firmware for the "
        "connector or a card terminal.",
        OP, EVT_SEVERITY_INFO, DETECT_1DAY, false, NULL, {NULL}, EC_RESET_SITUATION},
    [EC_FW_NOT_VALID_STATUS_BLOCKED] = {
        EC_FW_NOT_VALID_STATUS_BLOCKED, "EC_FW_Not_Valid_Status_Blocked",
        "The firmware must be updated: a critical update is past its deadline and access "
        "to the TI is forbidden.",
        SEC, EVT_SEVERITY_FATAL, DETECT_1DAY, false, NULL, {NULL}, EC_RESET_SITUATION},
    [EC_TIME_SYNC_NOT_SUCCESSFUL] = {
        EC_TIME_SYNC_NOT_SUCCESSFUL, "EC_Time_Sync_Not_Successful",
        "The last time synchronisation attempt failed.",
        OP, EVT_SEVERITY_INFO, DETECT_1S, false, NULL,
        {"LastSyncAttempt", "LastSyncSuccess", NULL}, EC_RESET_SITUATION},
    [EC_TSL_UPDATE_NOT_SUCCESSFUL] = {
        EC_TSL_UPDATE_NOT_SUCCESSFUL, "EC_TSL_Update_Not_Successful",
        "The last TSL update failed from both the TI and the Internet; the current trust "
        "anchors stay in use.",
        OP, EVT_SEVERITY_INFO, DETECT_1S, false, NULL, {"LastUpdateTSL", NULL},
        EC_RESET_SITUATION},
    [EC_TSL_EXPIRING] = {
        EC_TSL_EXPIRING, "EC_TSL_Expiring",
        "The TSL reaches its NextUpdate time within seven days.",
        SEC, EVT_SEVERITY_INFO, DETECT_1DAY, false, NULL, {"NextUpdateTSL", NULL},
        EC_RESET_SITUATION},
    [EC_BNETZA_VL_UPDATE_NOT_SUCCESSFUL] = {
        EC_BNETZA_VL_UPDATE_NOT_SUCCESSFUL, "EC_BNetzA_VL_Update_Not_Successful",
        "The last update of the BNetzA trusted list failed.",
        OP, EVT_SEVERITY_INFO, DETECT_1S, false, NULL, {"LastUpdateBNetzAVL", NULL},
        EC_RESET_SITUATION},
    [EC_BNETZA_VL_NOT_VALID] = {
        EC_BNETZA_VL_NOT_VALID, "EC_BNetzA_VL_not_valid",
        "The BNetzA trusted list is past its NextUpdate time.",
        SEC, EVT_SEVERITY_WARNING, DETECT_1DAY, false, NULL, {"NextUpdateBNetzAVL", NULL},
        EC_RESET_SITUATION},
    [EC_TSL_TRUST_ANCHOR_EXPIRING] = {
        EC_TSL_TRUST_ANCHOR_EXPIRING, "EC_TSL_Trust_Anchor_Expiring",
        "The TI trust anchor expires within 30 days.",
        SEC, EVT_SEVERITY_INFO, DETECT_1DAY, false, NULL, {"ExpiringDateTrustAnchor", NULL},
        EC_RESET_SITUATION},
    [EC_LOG_OVERFLOW] = {
        EC_LOG_OVERFLOW, "EC_LOG_OVERFLOW",
        "The rolling log storage had to delete entries younger than their retention period; "
        "only an administrator can reset this.",
        OP, EVT_SEVERITY_WARNING, DETECT_1S, false, NULL, {"Protokoll", NULL},
        EC_RESET_ADMIN_ONLY},
    [EC_CRL_EXPIRING] = {
        EC_CRL_EXPIRING, "EC_CRL_Expiring",
        "The CRL reaches its NextUpdate time within three days.",
        SEC, EVT_SEVERITY_WARNING, DETECT_1DAY, false, NULL, {"ExpiringDateCRL", NULL},
        EC_RESET_SITUATION},
    [EC_TIME_SYNC_PENDING_WARNING] = {
        EC_TIME_SYNC_PENDING_WARNING, "EC_Time_Sync_Pending_Warning",
        "No successful time synchronisation for longer than NTP_WARN_PERIOD days.",
        SEC, EVT_SEVERITY_WARNING, DETECT_1DAY, false, NULL, {"LastSyncSuccess", NULL},
        EC_RESET_ADMIN_OR_SITUATION},
    [EC_TSL_OUT_OF_DATE_WITHIN_GRACE_PERIOD] = {
        EC_TSL_OUT_OF_DATE_WITHIN_GRACE_PERIOD, "EC_TSL_Out_Of_Date_Within_Grace_Period",
        "The TSL is past its NextUpdate time but within the grace period, and no newer TSL "
        "is available.",
        SEC, EVT_SEVERITY_WARNING, DETECT_1DAY, false, NULL,
        {"NextUpdateTSL", "GracePeriodTSL", NULL}, EC_RESET_SITUATION},
    [EC_CARDTERMINAL_NOT_AVAILABLE] = {
        EC_CARDTERMINAL_NOT_AVAILABLE, "EC_CardTerminal_Not_Available",
        "A card terminal marked active cannot be reached.",
        OP, EVT_SEVERITY_ERROR, DETECT_1S, true, "CtID", {NULL}, EC_RESET_SITUATION},
    [EC_NO_VPN_TI_CONNECTION] = {
        EC_NO_VPN_TI_CONNECTION, "EC_No_VPN_TI_Connection",
        "There is no VPN tunnel to the TI.",
        OP, EVT_SEVERITY_ERROR, DETECT_300S, false, NULL, {NULL}, EC_RESET_SITUATION},
    [EC_NO_VPN_SIS_CONNECTION] = {
        EC_NO_VPN_SIS_CONNECTION, "EC_No_VPN_SIS_Connection",
        "There is no VPN tunnel to the secure internet service.",
        OP, EVT_SEVERITY_ERROR, DETECT_300S, false, NULL, {NULL}, EC_RESET_SITUATION},
    [EC_NO_ONLINE_CONNECTION] = {
        EC_NO_ONLINE_CONNECTION, "EC_No_Online_Connection",
        "The services in the transport network cannot be reached.",
        OP, EVT_SEVERITY_ERROR, DETECT_10S, false, NULL, {NULL}, EC_RESET_SITUATION},
    [EC_IP_ADRESSES_NOT_AVAILABLE] = {
        EC_IP_ADRESSES_NOT_AVAILABLE, "EC_IP_Adresses_Not_Available",
        "The network connector's IP addresses are missing or wrong.",
        SEC, EVT_SEVERITY_ERROR, DETECT_1S, false, NULL, {NULL}, EC_RESET_SITUATION},
    [EC_CRL_OUT_OF_DATE] = {
        EC_CRL_OUT_OF_DATE, "EC_CRL_Out_Of_Date",
        "The CRL is past its NextUpdate time.",
        SEC, EVT_SEVERITY_FATAL, DETECT_1DAY, false, NULL, {"NextUpdateCRL", NULL},
        EC_RESET_SITUATION},
    [EC_FIREWALL_NOT_RELIABLE] = {
        EC_FIREWALL_NOT_RELIABLE, "EC_Firewall_Not_Reliable",
        "The firewall rules could not be generated or loaded; the connector is unusable.",
        SEC, EVT_SEVERITY_FATAL, DETECT_1S, false, NULL, {NULL}, EC_RESET_SITUATION},
    [EC_RANDOM_GENERATOR_NOT_RELIABLE] = {
        EC_RANDOM_GENERATOR_NOT_RELIABLE, "EC_Random_Generator_Not_Reliable",
        "The random generator cannot deliver the required entropy.",
        SEC, EVT_SEVERITY_FATAL, DETECT_1S, false, NULL, {NULL}, EC_RESET_SITUATION},
    [EC_SECURE_KEYSTORE_NOT_AVAILABLE] = {
        EC_SECURE_KEYSTORE_NOT_AVAILABLE, "EC_Secure_KeyStore_Not_Available",
        "The gSMC-K or the trust store is not available.",
        SEC, EVT_SEVERITY_FATAL, DETECT_1S, false, NULL, {NULL}, EC_RESET_SITUATION},
    [EC_SECURITY_LOG_NOT_WRITABLE] = {
        EC_SECURITY_LOG_NOT_WRITABLE, "EC_Security_Log_Not_Writable",
        "The security log cannot be written.",
        OP, EVT_SEVERITY_FATAL, DETECT_1S, false, NULL, {NULL}, EC_RESET_SITUATION},
    [EC_SOFTWARE_INTEGRITY_CHECK_FAILED] = {
        EC_SOFTWARE_INTEGRITY_CHECK_FAILED, "EC_Software_Integrity_Check_Failed",
        "An internal integrity check of the active components failed.",
        SEC, EVT_SEVERITY_FATAL, DETECT_1DAY, false, NULL, {NULL}, EC_RESET_SITUATION},
    [EC_TIME_DIFFERENCE_INTOLERABLE] = {
        EC_TIME_DIFFERENCE_INTOLERABLE, "EC_Time_Difference_Intolerable",
        "Local time and NTP time differed by more than NTP_MAX_TIMEDIFFERENCE at the last "
        "synchronisation.",
        SEC, EVT_SEVERITY_FATAL, DETECT_1S, false, NULL,
        {"NtpTimedifference", "NtpMaxAllowedTimedifference", NULL},
        EC_RESET_ADMIN_OR_SITUATION},
    [EC_TIME_SYNC_PENDING_CRITICAL] = {
        EC_TIME_SYNC_PENDING_CRITICAL, "EC_Time_Sync_Pending_Critical",
        "No successful time synchronisation for longer than NTP_GRACE_PERIOD days.",
        SEC, EVT_SEVERITY_FATAL, DETECT_1DAY, false, NULL,
        {"LastSyncSuccess", "NtpGracePeriod", NULL}, EC_RESET_ADMIN_OR_SITUATION},
    [EC_TSL_TRUST_ANCHOR_OUT_OF_DATE] = {
        EC_TSL_TRUST_ANCHOR_OUT_OF_DATE, "EC_TSL_Trust_Anchor_Out_Of_Date",
        "The TI trust anchor has expired.",
        SEC, EVT_SEVERITY_FATAL, DETECT_1DAY, false, NULL, {"ExpiringDateTrustAnchor", NULL},
        EC_RESET_SITUATION},
    [EC_TSL_OUT_OF_DATE_BEYOND_GRACE_PERIOD] = {
        EC_TSL_OUT_OF_DATE_BEYOND_GRACE_PERIOD, "EC_TSL_Out_Of_Date_Beyond_Grace_Period",
        "The TSL is past its NextUpdate time plus the grace period, and no newer TSL is "
        "available.",
        SEC, EVT_SEVERITY_FATAL, DETECT_1DAY, false, NULL,
        {"NextUpdateTSL", "GracePeriodTSL", NULL}, EC_RESET_SITUATION},
    [EC_CRYPTOPERATION_ALARM] = {
        EC_CRYPTOPERATION_ALARM, "EC_CRYPTOPERATION_ALARM",
        "Misuse detection counted more cryptographic operations in the last 10 minutes than "
        "the alarm value allows; only an administrator can reset this.",
        SEC, EVT_SEVERITY_WARNING, DETECT_1MIN, false, NULL,
        {"Operation", "Count", "Arbeitsplatz", NULL}, EC_RESET_ADMIN_ONLY},
    /* Vendor-specific: type, severity and parameters are ours to choose. Type Operation,
     * severity Error so that it is signalled but never blocks (not Fatal); numbered from 1. */
    [EC_OTHER_ERROR_STATE] = {
        EC_OTHER_ERROR_STATE, "EC_OTHER_ERROR_STATE",
        "A vendor-specific error state.",
        OP, EVT_SEVERITY_ERROR, DETECT_1DAY, true, "No", {NULL}, EC_RESET_SITUATION},
    [EC_NK_CERTIFICATE_EXPIRING] = {
        EC_NK_CERTIFICATE_EXPIRING, "EC_NK_Certificate_Expiring",
        "The C.NK.VPN certificate expires within 180 days.",
        SEC, EVT_SEVERITY_WARNING, DETECT_1DAY, false, NULL, {"Iccsn", "Serial", NULL},
        EC_RESET_SITUATION},
    [EC_NK_CERTIFICATE_EXPIRED] = {
        EC_NK_CERTIFICATE_EXPIRED, "EC_NK_Certificate_Expired",
        "The C.NK.VPN certificate has expired.",
        SEC, EVT_SEVERITY_FATAL, DETECT_1DAY, false, NULL, {"Iccsn", "Serial", NULL},
        EC_RESET_SITUATION},
};
/* clang-format on */

_Static_assert(ARRAY_SIZE(ec_table) == EC_MAX, "TAB_KON_503 has one entry per enum ec_id");
_Static_assert(EC_MAX == 34, "TAB_KON_503 lists 34 error conditions");

static const char *const reset_names[] = {
    [EC_RESET_SITUATION] = "situation",
    [EC_RESET_ADMIN_ONLY] = "admin",
    [EC_RESET_ADMIN_OR_SITUATION] = "admin-or-situation",
};

_Static_assert(ARRAY_SIZE(reset_names) == EC_RESET_MAX, "one name per enum ec_reset");

const struct ec_def *ec_def_get(enum ec_id id)
{
    if ((unsigned)id >= EC_MAX)
        return NULL;
    return &ec_table[id];
}

int ec_id_from_string(const char *name, enum ec_id *ret_id)
{
    if (!name || !ret_id)
        return -EINVAL;
    for (size_t i = 0; i < ARRAY_SIZE(ec_table); i++) {
        if (strcasecmp(ec_table[i].name, name) == 0) {
            *ret_id = ec_table[i].id;
            return 0;
        }
    }
    return -EINVAL;
}

const char *ec_reset_to_string(enum ec_reset reset)
{
    if ((unsigned)reset >= EC_RESET_MAX)
        return NULL;
    return reset_names[reset];
}
