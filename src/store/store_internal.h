/* store internals: shared by db.c, settings.c, settings_table.c, users.c, infomodel.c and
 * infomodel_mem.c, and by the store unit tests. Nothing outside src/store/ and tests/unit/store/
 * includes this file. */
#ifndef KONN_STORE_INTERNAL_H
#define KONN_STORE_INTERNAL_H

#include <sqlite3.h>

#include "store/store.h"

/* The prepared statements, compiled once in store_open() and finalized in store_close(). */
enum store__stmt {
    STORE__STMT_SETTING_LOAD,
    STORE__STMT_SETTING_PUT,
    STORE__STMT_SETTING_CLEAR,
    STORE__STMT_USER_INSERT,
    STORE__STMT_USER_SELECT,
    STORE__STMT_USER_UPDATE,
    STORE__STMT_USER_DELETE,
    STORE__STMT_USER_LIST,
    STORE__STMT_USER_COUNT,
    STORE__STMT_USER_COUNT_ROLE,
    STORE__STMT_BEGIN,
    STORE__STMT_COMMIT,
    STORE__STMT_ROLLBACK,
    STORE__STMT_ENTITY_INSERT,
    STORE__STMT_ENTITY_DELETE,
    STORE__STMT_ENTITY_EXISTS,
    STORE__STMT_ENTITY_LIST,
    STORE__STMT_ENTITY_COUNT,
    STORE__STMT_ENTITY_COUNT_ALL,
    STORE__STMT_ENTITY_CLEAR,
    STORE__STMT_CT_SELECT,
    STORE__STMT_CT_UPDATE,
    STORE__STMT_RELATION_INSERT,
    STORE__STMT_RELATION_DELETE,
    STORE__STMT_RELATION_EXISTS,
    STORE__STMT_RELATION_LIST,
    STORE__STMT_RELATION_CLEAR,
    STORE__STMT_BEGIN_READ,
    STORE__STMT_ENTITY_LOAD,
    STORE__STMT_RELATION_LOAD,
    STORE__STMT_MAX
};

/* Listeners per store: the daemon registers one per subsystem that applies settings (log,
 * events, seclog, mgmt), so 8 leaves room without growing a list at run time. */
#define STORE__LISTENERS_MAX 8

/* How long a write waits for another connection's lock, in ms. The only other writer is an
 * offline tool (backup, konctl check mode); waiting longer would stall the loop thread. */
#define STORE__BUSY_TIMEOUT_MS 1000

struct store__listener {
    store_setting_changed_fn fn;
    void *arg;
};

struct store__value {
    char text[SETTING_VALUE_MAX];
};

struct store {
    sqlite3 *db;
    sqlite3_stmt *stmt[STORE__STMT_MAX];
    /* Current value of every setting, indexed like the table (setting_def_at). Always a
     * valid, normalised value: the stored one, or the default. */
    struct store__value *values;
    struct store__listener listeners[STORE__LISTENERS_MAX];
    size_t n_listeners;
    /* The in-memory copy of the info model (infomodel_mem.c); NULL when not loaded or
     * dropped by a write. */
    struct store__im *im;
};

/* The statement, reset and with its bindings cleared, ready to bind. */
sqlite3_stmt *store__stmt(struct store *st, enum store__stmt which);
/* Maps an SQLite result code to a negative errno: constraint -> -EEXIST, else -EIO. */
int store__sqlite_errno(int rc);

/* An explicit write transaction for a change that takes more than one statement. begin takes
 * the write lock at once (BEGIN IMMEDIATE); -EIO if it cannot. commit returns -EIO and rolls
 * back if the commit fails; rollback never fails (it only ends a transaction that is open). */
int store__tx_begin(struct store *st);
int store__tx_commit(struct store *st);
void store__tx_rollback(struct store *st);
/* A read transaction (deferred BEGIN) for reads that must see one state; end it with commit
 * or rollback. -EIO if it cannot begin. */
int store__tx_begin_read(struct store *st);

/* Position of def in the table (def comes from setting_def_at or setting_def_find). */
size_t store__setting_index(const struct setting_def *def);

/* Fills st->values from the defaults and the settings table of the database. */
int store__settings_load(struct store *st);
/* Sets every cached value back to its default and tells the listeners about each one that
 * changed; for after the settings table was emptied. */
void store__settings_defaults(struct store *st);

/* ---- the info model in memory (infomodel_mem.c) ----------------------------------------- */

/* A growable list of ids (or of (a, b) pairs, two entries each). */
struct store__ids {
    char (*ids)[STORE_ENTITY_ID_MAX + 1];
    size_t n, cap;
};

/* Appends a copy of id (at most STORE_ENTITY_ID_MAX bytes). -ENOMEM. */
int store__ids_add(struct store__ids *l, const char *id);
void store__ids_done(struct store__ids *l);

struct store__im;

struct store__im *store__im_free(struct store__im *im);
/* Drops the copy; every write of the info model calls this before it writes. */
void store__im_invalidate(struct store *st);
/* The copy, loaded first if there is none. NULL inside a transaction or when loading failed
 * (logged at debug level): the caller then reads SQLite. Borrowed until the next write of
 * the info model. */
const struct store__im *store__im_get(struct store *st);

/* The reads of infomodel.c against a copy; ids and kinds are already checked. */
bool store__im_entity_exists(const struct store__im *im, enum store_entity kind, const char *id);
size_t store__im_entity_count(const struct store__im *im, enum store_entity kind);
/* -ENOENT, -EBADMSG (damaged attributes), as store_ct_get. */
int store__im_ct_get(const struct store__im *im, const char *id, struct store_ct *ret_ct);
bool store__im_relation_exists(const struct store__im *im, enum store_relation rel, const char *a,
                               const char *b);
/* Append the ids of a kind, or the pairs of rel matching a and b (NULL: any), in order. */
int store__im_entity_collect(const struct store__im *im, enum store_entity kind,
                             struct store__ids *l);
int store__im_relation_collect(const struct store__im *im, enum store_relation rel, const char *a,
                               const char *b, struct store__ids *l);

#endif
