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
    SETTING_TYPE_STRING, /* min..max characters: a host name label, or a host name or address */
    SETTING_TYPE_TIME,   /* "HH:MM", 24 h */
    SETTING_TYPE_URL,    /* "" or an http:// or https:// URL of min..max characters */
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

/* Factory reset (TIP1-A_4820): empties settings, users and the info model of config.db in one
 * transaction (all or nothing, so a crash leaves the old or the new configuration), then
 * tells the setting listeners about every value that changed back to its default. Callers
 * create the new first administrator and the demo practice afterwards. -EIO (nothing
 * changed). */
int store_factory_reset(struct store *st);

/* ---- users ------------------------------------------------------------------------------ */

#define STORE_USER_NAME_MAX 64
#define STORE_USER_HASH_MAX 256

/* Permissions a Super-Administrator grants to another account on top of its role
 * (TIP1-A_4810). A Super-Administrator holds every permission. */
enum store_permission {
    STORE_PERM_USER_RESET, /* USER_RESET_PERMISSION: the factory reset (TIP1-A_4820) */
    STORE_PERM_MAX
};
#define STORE_PERM_BIT(p) (1u << (p))
#define STORE_PERMS_ALL (STORE_PERM_BIT(STORE_PERM_MAX) - 1u)

/* "USER_RESET_PERMISSION", as gematik spells it. */
const char *store_permission_to_string(enum store_permission p);
int store_permission_from_string(const char *s, enum store_permission *ret_perm);

struct store_user {
    char name[STORE_USER_NAME_MAX + 1];
    enum store_role role;
    char pwhash[STORE_USER_HASH_MAX + 1]; /* opaque record written by mgmt's KDF */
    uint32_t failed_logins;               /* consecutive failures since the last success */
    int64_t locked_until_ms;              /* wall ms; 0 when not locked */
    int64_t last_logout_ms;               /* wall ms of the last logout; 0 never */
    int64_t created_ms;
    unsigned permissions; /* STORE_PERM_BIT mask granted on top of the role */
};

/* Does the account hold permission p, by its role or by a grant? */
bool store_user_has_permission(const struct store_user *u, enum store_permission p);

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

/* ---- info model (TIP1-A_4522, TIP1-A_4526; digest section 1.3) ------------------------- */

/* The reads below (exists, foreach, count, store_ct_get) are answered from an in-memory copy
 * that every write below drops and the next read reloads (infomodel_mem.c), so the SOAP
 * context checks cost no SQLite transaction. The store is the only writer of config.db while
 * the daemon runs; a change another process makes is seen after this store's next info
 * model write, or after a reopen. */

/* The persistent entities. Ids are 1..64 characters of [A-Za-z0-9._-] (ConnectorContext.xsd
 * allows 64). */
enum store_entity {
    STORE_ENTITY_MANDANT,
    STORE_ENTITY_CLIENT_SYSTEM,
    STORE_ENTITY_WORKPLACE,
    STORE_ENTITY_CARD_TERMINAL,
    STORE_ENTITY_MAX
};

/* The relations between them (n:m unless noted). */
enum store_relation {
    STORE_REL_MANDANT_CLIENT_SYSTEM, /* (mandant, client system) */
    STORE_REL_MANDANT_WORKPLACE,     /* (mandant, workplace) */
    STORE_REL_WORKPLACE_CT_LOCAL,    /* (workplace, card terminal): local terminal */
    STORE_REL_WORKPLACE_CT_REMOTE,   /* (workplace, card terminal): remote-PIN terminal */
    STORE_REL_MANDANT_SMB,           /* (mandant, ICCSN): SM-B_Verwaltet */
    STORE_REL_MAX
};

#define STORE_ENTITY_ID_MAX 64
#define STORE_CT_SLOTS_MAX 16
/* Slots of a terminal added without attributes: a typical eHealth terminal has four. */
#define STORE_CT_SLOTS_DEFAULT 4

/* "mandant", "client-system", "workplace", "card-terminal" */
const char *store_entity_to_string(enum store_entity kind);
int store_entity_from_string(const char *s, enum store_entity *ret_kind);
/* "mandant-client-system", "mandant-workplace", "workplace-ct-local", "workplace-ct-remote",
 * "mandant-smb" */
const char *store_relation_to_string(enum store_relation rel);
int store_relation_from_string(const char *s, enum store_relation *ret_rel);
bool store_entity_id_is_valid(const char *id);
/* The kinds of a relation's ends (a first); *ret_b is STORE_ENTITY_MAX for the ICCSN end of
 * STORE_REL_MANDANT_SMB, which is no entity. -EINVAL for an unknown relation. */
int store_relation_kinds(enum store_relation rel, enum store_entity *ret_a,
                         enum store_entity *ret_b);

/* A card terminal's attributes (the other entities carry only their id). */
struct store_ct {
    char id[STORE_ENTITY_ID_MAX + 1];
    char name[STORE_ENTITY_ID_MAX + 1]; /* display name; defaults to the id */
    unsigned slots;                     /* 1..STORE_CT_SLOTS_MAX */
    bool active;                        /* CT.CORRELATION "aktiv": the connector uses it */
};

/* -EEXIST, -EINVAL (bad id). Adding a card terminal gives it 4 slots, active. */
int store_entity_add(struct store *st, enum store_entity kind, const char *id);
/* Deletes the entity and every relation it is part of. -ENOENT if unknown. */
int store_entity_delete(struct store *st, enum store_entity kind, const char *id);
bool store_entity_exists(struct store *st, enum store_entity kind, const char *id);
int store_entity_foreach(struct store *st, enum store_entity kind,
                         void (*fn)(const char *id, void *arg), void *arg);
size_t store_entity_count(struct store *st, enum store_entity kind);

int store_ct_get(struct store *st, const char *id, struct store_ct *ret_ct);
/* A terminal's display name: 1..64 bytes of UTF-8 text without control characters. */
bool store_ct_name_is_valid(const char *name);
/* Adds a terminal with the given attributes in one transaction. -EEXIST, -EINVAL (bad id,
 * name or slots). */
int store_ct_add(struct store *st, const struct store_ct *ct);
/* Updates name, slots, active of an existing terminal. -ENOENT, -EINVAL (slots range). */
int store_ct_update(struct store *st, const struct store_ct *ct);

/* Both ends must exist (-ENOENT names which is missing through ret_missing, may be NULL),
 * except the ICCSN of STORE_REL_MANDANT_SMB. -EEXIST if already related. */
int store_relation_add(struct store *st, enum store_relation rel, const char *a, const char *b,
                       const char **ret_missing);
/* (*ret_missing is set to a or b itself, a when both are missing; -EINVAL for a bad id.)
 * Delete: -ENOENT if the two are not related. */
int store_relation_delete(struct store *st, enum store_relation rel, const char *a, const char *b);
bool store_relation_exists(struct store *st, enum store_relation rel, const char *a, const char *b);
/* Calls fn(a, b) for each pair; a or b (or both) may be NULL to match any. */
int store_relation_foreach(struct store *st, enum store_relation rel, const char *a, const char *b,
                           void (*fn)(const char *a, const char *b, void *arg), void *arg);

/* First start: creates the demo practice (Mandant m1, client system cs1, workplace ws1,
 * terminal ct1 with 4 slots, related) when the info model is empty. 1 if created. */
int store_infomodel_seed_demo(struct store *st);
/* Factory reset: empties the info model (one transaction). */
int store_infomodel_reset(struct store *st);

#endif
