/* store internals: shared by db.c, settings.c, settings_table.c, users.c and infomodel.c, and by
 * the store unit tests. Nothing outside src/store/ and tests/unit/store/ includes this file. */
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

/* Position of def in the table (def comes from setting_def_at or setting_def_find). */
size_t store__setting_index(const struct setting_def *def);

/* Fills st->values from the defaults and the settings table of the database. */
int store__settings_load(struct store *st);

#endif
