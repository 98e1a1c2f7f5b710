/* store: the connector's persistent configuration in SQLite (config.db).
 *  - settings: every typed gematik parameter is declared once, in settings_table.c, with its
 *    type, range, default, the roles that may change it and one line of documentation.
 *    Validation, the management API, konctl and docs/settings.md all come from that table.
 *  - users: administrator accounts (name, role, password hash record, lockout counters).
 *    The store keeps the records; hashing and the lockout policy live in mgmt.
 *
 * Every write is one SQLite transaction (WAL, synchronous=FULL), so a consistent
 * configuration set is always persisted (TIP1-A_4813). Loop-thread only. */
#ifndef KONN_STORE_H
#define KONN_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Administrator roles, TIP1-A_4810. */
enum store_role {
    STORE_ROLE_LOCAL_ADMIN,
    STORE_ROLE_REMOTE_ADMIN,
    STORE_ROLE_SUPER_ADMIN,
    STORE_ROLE_MAX
};
#define STORE_ROLE_BIT(r) (1u << (r))
#define STORE_ROLES_ALL                                                                            \
    (STORE_ROLE_BIT(STORE_ROLE_LOCAL_ADMIN) | STORE_ROLE_BIT(STORE_ROLE_REMOTE_ADMIN) |            \
     STORE_ROLE_BIT(STORE_ROLE_SUPER_ADMIN))

/* "Local-Administrator", "Remote-Administrator", "Super-Administrator". */
const char *store_role_to_string(enum store_role role);
/* Accepts the names above, case-insensitively, and "local", "remote", "super". */
int store_role_from_string(const char *s, enum store_role *ret_role);

struct store;

/* Opens (creating if needed) the database at path. -EIO with a logged reason if SQLite
 * cannot open or migrate it. */
int store_open(const char *path, struct store **ret_store);
struct store *store_close(struct store *st);

/* ---- settings --------------------------------------------------------------------------- */

enum setting_type {
    SETTING_TYPE_BOOL,   /* "Enabled" | "Disabled" */
    SETTING_TYPE_INT,    /* decimal, within [min, max] */
    SETTING_TYPE_ENUM,   /* one of choices */
    SETTING_TYPE_STRING, /* 1..max characters of a restricted alphabet (see hostname) */
    SETTING_TYPE_TIME,   /* "HH:MM", 24 h */
    SETTING_TYPE_MAX
};

#define SETTING_CHOICES_MAX 8
#define SETTING_VALUE_MAX 256

struct setting_def {
    const char *name;
    enum setting_type type;
    const char *default_value;
    int64_t min, max;                         /* INT: range; STRING: length range */
    const char *choices[SETTING_CHOICES_MAX]; /* ENUM: NULL-terminated */
    const char *unit;                         /* INT: "days", "MB", ...; else NULL */
    unsigned roles;                           /* STORE_ROLE_BIT mask that may change it */
    const char *doc;                          /* one line */
};

const char *setting_type_to_string(enum setting_type type);

/* The table, in a stable order. */
size_t setting_count(void);
const struct setting_def *setting_def_at(size_t i);
/* NULL if no such setting (names are case-sensitive, as gematik spells them). */
const struct setting_def *setting_def_find(const char *name);

/* Checks a value against its definition. On -EINVAL, ret_msg (size msg_size) says why and
 * names the allowed range, e.g. "SECURITY_LOG_DAYS must be a whole number from 10 to 730
 * (days), got '5'". Normalises BOOL spelling ("enabled" -> "Enabled") into ret_norm. */
int setting_validate(const struct setting_def *def, const char *value, char *ret_norm,
                     size_t norm_size, char *ret_msg, size_t msg_size);

/* Current value (the default when never set). The returned pointer is owned by the store and
 * valid until the next store_setting_set() of that name. -ENOENT for an unknown name. */
int store_setting_get(struct store *st, const char *name, const char **ret_value);
/* Convenience: BOOL as bool, INT as int64. -EINVAL if the setting has another type. */
int store_setting_get_bool(struct store *st, const char *name, bool *ret_value);
int store_setting_get_int(struct store *st, const char *name, int64_t *ret_value);

/* Validates and persists a value. -ENOENT unknown name; -EINVAL invalid (message in ret_msg);
 * -EACCES if role may not change it; -EIO if SQLite fails (nothing changed). Returns 1 if the
 * value changed, 0 if it was already that value. On change, calls the change listeners. */
int store_setting_set(struct store *st, const char *name, const char *value, enum store_role role,
                      char *ret_msg, size_t msg_size);

/* Called after a setting changed, with its name and new (normalised) value. */
typedef void (*store_setting_changed_fn)(const char *name, const char *value, void *arg);
int store_setting_on_change(struct store *st, store_setting_changed_fn fn, void *arg);

/* Returns every setting to its default (factory reset), one transaction. */
int store_settings_reset(struct store *st);

/* ---- users ------------------------------------------------------------------------------ */

#define STORE_USER_NAME_MAX 64
#define STORE_USER_HASH_MAX 256

struct store_user {
    char name[STORE_USER_NAME_MAX + 1];
    enum store_role role;
    char pwhash[STORE_USER_HASH_MAX + 1]; /* opaque record written by mgmt's KDF */
    uint32_t failed_logins;               /* consecutive failures since the last success */
    int64_t locked_until_ms;              /* wall ms; 0 when not locked */
    int64_t last_logout_ms;               /* wall ms of the last logout; 0 never */
    int64_t created_ms;
};

/* User names: 1..64 of [A-Za-z0-9._-], starting with a letter or digit. */
bool store_user_name_is_valid(const char *name);

/* -EEXIST if the name is taken, -EINVAL for a bad name. */
int store_user_add(struct store *st, const struct store_user *u);
/* -ENOENT if unknown. */
int store_user_get(struct store *st, const char *name, struct store_user *ret_user);
/* Replaces every field of the stored record named u->name. -ENOENT if unknown. */
int store_user_update(struct store *st, const struct store_user *u);
int store_user_delete(struct store *st, const char *name);
/* Calls fn for each user in name order. */
int store_user_foreach(struct store *st, void (*fn)(const struct store_user *u, void *arg),
                       void *arg);
size_t store_user_count(struct store *st);
/* Number of users with the given role. */
size_t store_user_count_role(struct store *st, enum store_role role);

#endif
