/* store/settings: validating, reading and writing settings, and telling listeners about
 * changes. The definitions live in settings_table.c; this file applies them. It does not
 * apply a setting's effect (log level, retention, ...): the subsystems that own those effects
 * register change listeners.
 *
 * Invariants:
 *  1. st->values holds, for every setting, a valid value in normalised spelling: the stored
 *     one, or the default when none is stored or the stored one is invalid (a database edited
 *     by hand; logged as a warning at open, the row itself is left alone).
 *  2. A set writes SQLite first, as one statement in autocommit mode (one transaction), and
 *     updates st->values only after the write succeeded: a failed write changes nothing that
 *     any reader can see (TIP1-A_4813).
 *  3. Listeners run only after the cache holds the new value, once per setting that actually
 *     changed, in registration order, with the normalised value. An unchanged value is
 *     neither written nor announced.
 *  4. The role check comes before validation, so a role that may not change a setting learns
 *     nothing about which values it would accept.
 *  5. Messages name the setting and its allowed values and show the rejected value in single
 *     quotes, cut to QUOTE_MAX characters with non-printable bytes replaced by '?', so that
 *     they are safe to log and to return over the management API. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/base.h"
#include "store/store_internal.h"

/* Characters of a rejected value shown in a message: enough to recognise a typo, too few to
 * flood a log line with whatever was pasted. */
#define QUOTE_MAX 40
/* RFC 1123: a label has at most 63 characters. */
#define LABEL_MAX 63

/* ---- validation ------------------------------------------------------------------------- */

/* Copies value for display in a message (see invariant 5). buf holds QUOTE_MAX + 4. */
static void quote_value(const char *value, char *buf, size_t size)
{
    size_t n = 0;

    for (const char *p = value; *p && n < QUOTE_MAX && n + 1 < size; p++) {
        unsigned char c = (unsigned char)*p;
        buf[n++] = (c < 0x20 || c >= 0x7f || c == '\'') ? '?' : (char)c;
    }
    buf[n] = '\0';
    if (value[n] != '\0' && n + 4 <= size)
        memcpy(buf + n, "...", 4);
}

/* Appends to buf at *len like snprintf; stops quietly when buf is full. */
static void append(char *buf, size_t size, size_t *len, const char *s)
{
    size_t n = strlen(s);

    if (*len >= size)
        return;
    if (n >= size - *len)
        n = size - *len - 1;
    memcpy(buf + *len, s, n);
    *len += n;
    buf[*len] = '\0';
}

/* Describes what def accepts, e.g. "a whole number from 10 to 730 (days)". */
static void describe_rule(const struct setting_def *def, char *buf, size_t size)
{
    size_t len = 0;

    buf[0] = '\0';
    switch (def->type) {
    case SETTING_TYPE_BOOL:
        append(buf, size, &len, "Enabled or Disabled");
        break;
    case SETTING_TYPE_INT:
        if (def->unit)
            (void)snprintf(buf, size, "a whole number from %" PRId64 " to %" PRId64 " (%s)",
                           def->min, def->max, def->unit);
        else
            (void)snprintf(buf, size, "a whole number from %" PRId64 " to %" PRId64, def->min,
                           def->max);
        break;
    case SETTING_TYPE_ENUM:
        append(buf, size, &len, "one of ");
        for (size_t i = 0; i < SETTING_CHOICES_MAX && def->choices[i]; i++) {
            if (i > 0)
                append(buf, size, &len, ", ");
            append(buf, size, &len, def->choices[i]);
        }
        break;
    case SETTING_TYPE_STRING:
        if (def->max > LABEL_MAX)
            (void)snprintf(buf, size,
                           "%" PRId64 " to %" PRId64 " characters: a host name (labels of A-Z, "
                           "a-z, 0-9 and '-' joined by '.') or an IP address",
                           def->min, def->max);
        else
            (void)snprintf(buf, size,
                           "%" PRId64 " to %" PRId64 " characters of A-Z, a-z, 0-9 and '-', "
                           "not starting or ending with '-'",
                           def->min, def->max);
        break;
    case SETTING_TYPE_TIME:
        append(buf, size, &len, "a time of day HH:MM from 00:00 to 23:59");
        break;
    case SETTING_TYPE_URL:
        (void)snprintf(buf, size,
                       "empty or an http:// or https:// URL of %" PRId64 " to %" PRId64
                       " printable characters without blanks",
                       def->min, def->max);
        break;
    case SETTING_TYPE_MAX:
        break;
    }
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alnum(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool check_bool(const char *v, char *norm, size_t size)
{
    static const char *const yes[] = {"Enabled", "true", "on", "1"};
    static const char *const no[] = {"Disabled", "false", "off", "0"};

    for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return str_copy(norm, size, "Enabled") == 0;
        if (strcasecmp(v, no[i]) == 0)
            return str_copy(norm, size, "Disabled") == 0;
    }
    return false;
}

static bool check_int(const struct setting_def *def, const char *v, char *norm, size_t size)
{
    int64_t x;

    /* Only an optional minus and digits: str_to_int64 (strtoll) would also take "+5" and
     * leading whitespace other than blanks. */
    for (const char *p = (*v == '-') ? v + 1 : v; *p; p++)
        if (!is_digit(*p))
            return false;
    if (str_to_int64(v, &x) < 0 || x < def->min || x > def->max)
        return false;
    /* Normalised: "0180" is stored as "180". */
    return snprintf(norm, size, "%" PRId64, x) < (int)size;
}

static bool check_enum(const struct setting_def *def, const char *v, char *norm, size_t size)
{
    for (size_t i = 0; i < SETTING_CHOICES_MAX && def->choices[i]; i++)
        if (strcasecmp(v, def->choices[i]) == 0)
            return str_copy(norm, size, def->choices[i]) == 0;
    return false;
}

/* A host name label (RFC 1123 section 2.1): letters, digits and '-', not at either end. */
static bool is_label(const char *v, size_t n)
{
    if (n == 0 || n > LABEL_MAX || v[0] == '-' || v[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_alnum(v[i]) && v[i] != '-')
            return false;
    return true;
}

/* A host name (labels joined by '.') or an IPv4 or IPv6 address. */
static bool is_host(const char *v)
{
    unsigned char addr[sizeof(struct in6_addr)];
    const char *p = v;

    if (inet_pton(AF_INET, v, addr) == 1 || inet_pton(AF_INET6, v, addr) == 1)
        return true;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);

        if (!is_label(p, n))
            return false;
        if (!dot)
            return true;
        p = dot + 1;
    }
}

/* STRING settings of at most LABEL_MAX characters are host name labels (MGM_KONN_HOSTNAME);
 * longer ones are host names or addresses (MGM_LAN_ADVERTISED_HOST). Empty only when min is 0. */
static bool check_string(const struct setting_def *def, const char *v, char *norm, size_t size)
{
    size_t n = strlen(v);

    if ((int64_t)n < def->min || (int64_t)n > def->max)
        return false;
    if (n > 0 && !(def->max > LABEL_MAX ? is_host(v) : is_label(v, n)))
        return false;
    return str_copy(norm, size, v) == 0;
}

/* URL settings: empty, or http(s)://HOST... of printable ASCII without blanks (curl parses the
 * rest when it is used). */
static bool check_url(const struct setting_def *def, const char *v, char *norm, size_t size)
{
    size_t n = strlen(v);

    if ((int64_t)n < def->min || (int64_t)n > def->max)
        return false;
    if (n > 0 && strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (v[i] <= ' ' || v[i] > '~')
            return false;
    if (n > 0 && v[strncmp(v, "http://", 7) == 0 ? 7 : 8] == '\0')
        return false;
    return str_copy(norm, size, v) == 0;
}

static bool check_time(const char *v, char *norm, size_t size)
{
    if (strlen(v) != 5 || !is_digit(v[0]) || !is_digit(v[1]) || v[2] != ':' || !is_digit(v[3]) ||
        !is_digit(v[4]))
        return false;
    if ((v[0] - '0') * 10 + (v[1] - '0') > 23 || (v[3] - '0') * 10 + (v[4] - '0') > 59)
        return false;
    return str_copy(norm, size, v) == 0;
}

/* ret_norm and ret_msg may be NULL (check only). ret_norm is written only on success;
 * -ENAMETOOLONG if the normalised value does not fit in norm_size. */
int setting_validate(const struct setting_def *def, const char *value, char *ret_norm,
                     size_t norm_size, char *ret_msg, size_t msg_size)
{
    char norm[SETTING_VALUE_MAX] = "";
    char rule[160];
    char shown[QUOTE_MAX + 4];
    bool ok = false;

    if (ret_msg && msg_size > 0)
        ret_msg[0] = '\0';
    if (!def)
        return -EINVAL;
    if (!value)
        value = "";
    /* Overlong values are refused before parsing; no valid value comes near the limit. */
    if (strnlen(value, SETTING_VALUE_MAX) < SETTING_VALUE_MAX) {
        switch (def->type) {
        case SETTING_TYPE_BOOL:
            ok = check_bool(value, norm, sizeof(norm));
            break;
        case SETTING_TYPE_INT:
            ok = check_int(def, value, norm, sizeof(norm));
            break;
        case SETTING_TYPE_ENUM:
            ok = check_enum(def, value, norm, sizeof(norm));
            break;
        case SETTING_TYPE_STRING:
            ok = check_string(def, value, norm, sizeof(norm));
            break;
        case SETTING_TYPE_TIME:
            ok = check_time(value, norm, sizeof(norm));
            break;
        case SETTING_TYPE_URL:
            ok = check_url(def, value, norm, sizeof(norm));
            break;
        case SETTING_TYPE_MAX:
            break;
        }
    }
    if (!ok) {
        if (ret_msg && msg_size > 0) {
            describe_rule(def, rule, sizeof(rule));
            quote_value(value, shown, sizeof(shown));
            (void)snprintf(ret_msg, msg_size, "%s must be %s, got '%s'", def->name, rule, shown);
        }
        return -EINVAL;
    }
    if (ret_norm) {
        if (strlen(norm) >= norm_size)
            return -ENAMETOOLONG;
        memcpy(ret_norm, norm, strlen(norm) + 1);
    }
    return 0;
}

/* ---- the store's settings --------------------------------------------------------------- */

int store__settings_load(struct store *st)
{
    char norm[SETTING_VALUE_MAX];
    char msg[384];
    char shown[QUOTE_MAX + 4];
    sqlite3_stmt *s = NULL;
    int rc;
    int r = 0;

    for (size_t i = 0; i < setting_count(); i++)
        (void)str_copy(st->values[i].text, sizeof(st->values[i].text),
                       setting_def_at(i)->default_value);
    s = store__stmt(st, STORE__STMT_SETTING_LOAD);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(s, 0);
        const char *value = (const char *)sqlite3_column_text(s, 1);
        const struct setting_def *def = setting_def_find(name);

        if (!def) {
            /* A setting of a newer or older build: kept in the database, not used. */
            quote_value(name ? name : "", shown, sizeof(shown));
            log_msg(LOG_LEVEL_DEBUG, "store: ignoring unknown stored setting '%s'", shown);
            continue;
        }
        if (setting_validate(def, value, norm, sizeof(norm), msg, sizeof(msg)) < 0) {
            log_msg(LOG_LEVEL_WARNING,
                    "store: stored value is invalid (%s), using the default '%s'", msg,
                    def->default_value);
            continue;
        }
        memcpy(st->values[store__setting_index(def)].text, norm, strlen(norm) + 1);
    }
    if (rc != SQLITE_DONE)
        r = store__sqlite_errno(rc) == -ENOMEM ? -ENOMEM : -EIO;
    (void)sqlite3_reset(s);
    return r;
}

static void notify(struct store *st, const struct setting_def *def)
{
    char value[SETTING_VALUE_MAX];

    /* A copy: a listener that sets the same setting again must not change what the
     * listeners after it are told about this change. */
    memcpy(value, st->values[store__setting_index(def)].text, sizeof(value));
    for (size_t i = 0; i < st->n_listeners; i++)
        st->listeners[i].fn(def->name, value, st->listeners[i].arg);
}

int store_setting_get(struct store *st, const char *name, const char **ret_value)
{
    const struct setting_def *def;

    if (!st || !name || !ret_value)
        return -EINVAL;
    def = setting_def_find(name);
    if (!def)
        return -ENOENT;
    *ret_value = st->values[store__setting_index(def)].text;
    return 0;
}

int store_setting_get_bool(struct store *st, const char *name, bool *ret_value)
{
    const struct setting_def *def = setting_def_find(name);
    const char *v = NULL;
    int r;

    r = store_setting_get(st, name, &v);
    if (r < 0)
        return r;
    if (def->type != SETTING_TYPE_BOOL)
        return -EINVAL;
    *ret_value = strcmp(v, "Enabled") == 0;
    return 0;
}

int store_setting_get_int(struct store *st, const char *name, int64_t *ret_value)
{
    const struct setting_def *def = setting_def_find(name);
    const char *v = NULL;
    int r;

    r = store_setting_get(st, name, &v);
    if (r < 0)
        return r;
    if (def->type != SETTING_TYPE_INT)
        return -EINVAL;
    /* The cache holds only validated values (invariant 1), so this cannot fail. */
    return str_to_int64(v, ret_value);
}

static int write_value(struct store *st, const char *name, const char *value)
{
    sqlite3_stmt *s = store__stmt(st, STORE__STMT_SETTING_PUT);
    int rc;

    if (sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(s, 2, value, -1, SQLITE_STATIC) != SQLITE_OK)
        rc = SQLITE_NOMEM;
    else
        rc = sqlite3_step(s);
    if (rc != SQLITE_DONE)
        log_msg(LOG_LEVEL_DEBUG, "store: writing %s failed: %s", name, sqlite3_errmsg(st->db));
    (void)sqlite3_reset(s);
    (void)sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE ? 0 : -EIO;
}

int store_setting_set(struct store *st, const char *name, const char *value, enum store_role role,
                      char *ret_msg, size_t msg_size)
{
    char norm[SETTING_VALUE_MAX];
    char shown[QUOTE_MAX + 4];
    const struct setting_def *def;
    struct store__value *cur;
    int r;

    if (ret_msg && msg_size > 0)
        ret_msg[0] = '\0';
    if (!st || !name || (unsigned)role >= STORE_ROLE_MAX)
        return -EINVAL;
    def = setting_def_find(name);
    if (!def) {
        quote_value(name, shown, sizeof(shown));
        if (ret_msg && msg_size > 0)
            (void)snprintf(ret_msg, msg_size, "there is no setting named '%s'", shown);
        return -ENOENT;
    }
    if (!(def->roles & STORE_ROLE_BIT(role))) {
        if (ret_msg && msg_size > 0)
            (void)snprintf(ret_msg, msg_size, "%s may not be changed by a %s", def->name,
                           store_role_to_string(role));
        return -EACCES;
    }
    r = setting_validate(def, value, norm, sizeof(norm), ret_msg, msg_size);
    if (r < 0)
        return r;
    cur = &st->values[store__setting_index(def)];
    if (strcmp(cur->text, norm) == 0)
        return 0;
    r = write_value(st, def->name, norm);
    if (r < 0) {
        if (ret_msg && msg_size > 0)
            (void)snprintf(ret_msg, msg_size, "%s could not be stored and is unchanged", def->name);
        return r;
    }
    memcpy(cur->text, norm, strlen(norm) + 1);
    notify(st, def);
    return 1;
}

int store_setting_on_change(struct store *st, store_setting_changed_fn fn, void *arg)
{
    if (!st || !fn)
        return -EINVAL;
    if (st->n_listeners >= STORE__LISTENERS_MAX)
        return -ENOSPC;
    st->listeners[st->n_listeners].fn = fn;
    st->listeners[st->n_listeners].arg = arg;
    st->n_listeners++;
    return 0;
}

/* Deletes every stored value (a missing row means the default), then announces each setting
 * whose current value was not already its default. */
int store_settings_reset(struct store *st)
{
    sqlite3_stmt *s;
    int rc;

    if (!st)
        return -EINVAL;
    s = store__stmt(st, STORE__STMT_SETTING_CLEAR);
    rc = sqlite3_step(s);
    if (rc != SQLITE_DONE)
        log_msg(LOG_LEVEL_DEBUG, "store: resetting settings failed: %s", sqlite3_errmsg(st->db));
    (void)sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return -EIO;
    store__settings_defaults(st);
    return 0;
}

void store__settings_defaults(struct store *st)
{
    for (size_t i = 0; i < setting_count(); i++) {
        const struct setting_def *def = setting_def_at(i);

        if (strcmp(st->values[i].text, def->default_value) == 0)
            continue;
        (void)str_copy(st->values[i].text, sizeof(st->values[i].text), def->default_value);
        notify(st, def);
    }
}
