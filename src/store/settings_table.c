/* store/settings_table: the one table of the connector's settings. Each setting is declared
 * here once, with its type, default, range or choices, unit, the roles that may change it and
 * one line of documentation. Validation (settings.c), the management API, konctl and
 * docs/settings.md all read this table; nothing retypes it. This file holds data and lookups
 * only: no validation, no I/O.
 *
 * Invariants:
 *  1. Names are unique and spelled as gematik spells them (case-sensitive).
 *  2. Every default passes setting_validate() and is already in normalised spelling
 *     (test_settings checks both).
 *  3. The order is stable; store->values and the management API index by it. A new setting
 *     is appended to the group it belongs to, never renamed: stored rows are keyed by name.
 *  4. ENUM choices leave at least one NULL slot, so the list is NULL-terminated.
 *  5. Local-Administrator and Super-Administrator may change every setting. */
#include <string.h>

#include "base/base.h"
#include "store/store_internal.h"

/* Roles that may change a setting. Remote administrators get only the operational settings
 * listed with ROLES_ALL below: security-relevant client settings (ANCL_*), the security log
 * and the online switch stay with local administrators, because the gematik rights list for
 * remote sessions (TAB_KON_655, see TIP1-A_4810 and TIP1-A_7280) is lost and the safe reading
 * is that a remote session cannot weaken how the connector protects itself or its clients. */
#define ROLES_LOCAL                                                                                \
    (STORE_ROLE_BIT(STORE_ROLE_LOCAL_ADMIN) | STORE_ROLE_BIT(STORE_ROLE_SUPER_ADMIN))
#define ROLES_ALL STORE_ROLES_ALL

static const struct setting_def settings[] = {
    /* ---- logging (TIP1-A_4717, TIP1-A_4712) ---- */
    {
        .name = "LOG_LEVEL_SYSLOG",
        .type = SETTING_TYPE_ENUM,
        .default_value = "Info",
        .choices = {"Info", "Warning", "Error", "Fatal"},
        .roles = ROLES_ALL,
        .doc = "Minimum severity written to the system log.",
    },
    {
        .name = "LOG_DAYS",
        .type = SETTING_TYPE_INT,
        .default_value = "180",
        .min = 10,
        .max = 730,
        .unit = "days",
        .roles = ROLES_ALL,
        .doc = "How long system-log entries are kept.",
    },
    {
        /* Minimum 10 days is the rule real connectors apply in the field; gemSpec_Kon's own
         * range is lost. */
        .name = "SECURITY_LOG_DAYS",
        .type = SETTING_TYPE_INT,
        .default_value = "180",
        .min = 10,
        .max = 730,
        .unit = "days",
        .roles = ROLES_LOCAL,
        .doc = "How long security-log entries are kept.",
    },
    {
        /* The whole budget is reserved at start, so that a full disk cannot silence the
         * security log later (EC_LOG_OVERFLOW instead of lost records). */
        .name = "SECLOG_CAPACITY_MB",
        .type = SETTING_TYPE_INT,
        .default_value = "256",
        .min = 16,
        .max = 65536,
        .unit = "MB",
        .roles = ROLES_LOCAL,
        .doc = "Disk space reserved for the security log at start.",
    },
    {
        /* The system log has a budget of its own, so that chatter cannot take the security
         * log's space (DESIGN.md section 5). */
        .name = "SYSLOG_CAPACITY_MB",
        .type = SETTING_TYPE_INT,
        .default_value = "64",
        .min = 16,
        .max = 65536,
        .unit = "MB",
        .roles = ROLES_LOCAL,
        .doc = "Disk space reserved for the system log at start.",
    },
    {
        .name = "LOG_SUCCESSFUL_CRYPTO_OPS",
        .type = SETTING_TYPE_BOOL,
        .default_value = "Disabled",
        .roles = ROLES_ALL,
        .doc = "Write a security-log record for every successful crypto operation (TIP1-A_4712).",
    },
    /* ---- client systems (TIP1-A_4518-02, TAB_KON_506-01) ---- */
    {
        .name = "ANCL_TLS_MANDATORY",
        .type = SETTING_TYPE_BOOL,
        .default_value = "Enabled",
        .roles = ROLES_LOCAL,
        .doc = "Client systems must connect over TLS; plain HTTP is refused (TIP1-A_4515).",
    },
    {
        .name = "ANCL_CAUT_MANDATORY",
        .type = SETTING_TYPE_BOOL,
        .default_value = "Enabled",
        .roles = ROLES_LOCAL,
        .doc = "Client systems must authenticate (see ANCL_CAUT_MODE).",
    },
    {
        .name = "ANCL_CAUT_MODE",
        .type = SETTING_TYPE_ENUM,
        .default_value = "Certificate",
        .choices = {"Certificate", "Password"},
        .roles = ROLES_LOCAL,
        .doc = "How client systems authenticate when ANCL_CAUT_MANDATORY is Enabled.",
    },
    {
        .name = "ANCL_DVD_OPEN",
        .type = SETTING_TYPE_BOOL,
        .default_value = "Disabled",
        .roles = ROLES_LOCAL,
        .doc = "connector.sds is also served over plain HTTP (TIP1-A_4528).",
    },
    /* ---- events (TIP1-A_4611) ---- */
    {
        .name = "EVT_MAX_TRY",
        .type = SETTING_TYPE_INT,
        .default_value = "3",
        .min = 1,
        .max = 100,
        .roles = ROLES_ALL,
        .doc = "Failed CETP deliveries after which a sink's subscriptions are dropped.",
    },
    /* ---- management (TIP1-A_4811, TIP1-A_4821-02, TIP1-A_4835-02) ---- */
    {
        .name = "MGM_LU_ONLINE",
        .type = SETTING_TYPE_BOOL,
        .default_value = "Enabled",
        .roles = ROLES_LOCAL,
        .doc = "Online feature set: connections to the TI and SIS (VPN, NTP, TSL, KSR).",
    },
    {
        /* A host name label (RFC 1123): letters, digits and '-', not at either end. */
        .name = "MGM_KONN_HOSTNAME",
        .type = SETTING_TYPE_STRING,
        .default_value = "konnektor",
        .min = 1,
        .max = 63,
        .roles = ROLES_LOCAL,
        .doc = "The connector's name: its host name, shown in the management UI.",
    },
    {
        .name = "MGM_KSR_AUTODOWNLOAD",
        .type = SETTING_TYPE_BOOL,
        .default_value = "Enabled",
        .roles = ROLES_ALL,
        .doc = "Download available update packages from the KSR automatically.",
    },
    {
        .name = "MGM_KSR_AUTO_UPDATE",
        .type = SETTING_TYPE_BOOL,
        .default_value = "Disabled",
        .roles = ROLES_ALL,
        .doc = "Install downloaded updates automatically at MGM_KSR_AUTO_UPDATE_TIME.",
    },
    {
        .name = "MGM_KSR_AUTO_UPDATE_TIME",
        .type = SETTING_TYPE_TIME,
        .default_value = "03:00",
        .roles = ROLES_ALL,
        .doc = "Time of day (connector time, 24 h) at which automatic updates run (A_18390).",
    },
    {
        /* The KSR's address is learned during VPN setup in the field (TUC_VPN-ZD_0001); the
         * simulated TI has no such step, so an administrator sets it. */
        .name = "KSR_URL",
        .type = SETTING_TYPE_URL,
        .default_value = "",
        .min = 0,
        .max = 255,
        .roles = ROLES_LOCAL,
        .doc = "list_Updates endpoint of the KSR; its files are fetched relative to it. Empty: "
               "no KSR.",
    },
    {
        /* TIP1-A_4528: behind NAT the address a client reached is not the one it should use. */
        .name = "MGM_LAN_ADVERTISED_HOST",
        .type = SETTING_TYPE_STRING,
        .default_value = "",
        .min = 0,
        .max = 253,
        .roles = ROLES_LOCAL,
        .doc = "Host name or address connector.sds advertises (NAT); empty: the address the "
               "client connected to.",
    },
};

static const char *const type_names[SETTING_TYPE_MAX] = {
    [SETTING_TYPE_BOOL] = "bool",     [SETTING_TYPE_INT] = "int",   [SETTING_TYPE_ENUM] = "enum",
    [SETTING_TYPE_STRING] = "string", [SETTING_TYPE_TIME] = "time", [SETTING_TYPE_URL] = "url",
};

const char *setting_type_to_string(enum setting_type type)
{
    if ((unsigned)type >= SETTING_TYPE_MAX)
        return NULL;
    return type_names[type];
}

size_t setting_count(void)
{
    return ARRAY_SIZE(settings);
}

const struct setting_def *setting_def_at(size_t i)
{
    if (i >= ARRAY_SIZE(settings))
        return NULL;
    return &settings[i];
}

const struct setting_def *setting_def_find(const char *name)
{
    if (!name)
        return NULL;
    /* A few dozen entries: a linear scan is cheaper than keeping an index in sync. */
    for (size_t i = 0; i < ARRAY_SIZE(settings); i++)
        if (strcmp(settings[i].name, name) == 0)
            return &settings[i];
    return NULL;
}

size_t store__setting_index(const struct setting_def *def)
{
    return (size_t)(def - settings);
}
