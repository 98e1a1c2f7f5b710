/* store/db: opens config.db, brings its schema up to date, prepares the statements the other
 * store files use, and closes it again. Also the administrator role names. This file does not
 * know what a setting or a user means; settings.c and users.c do.
 *
 * Invariants:
 *  1. The connection runs with journal_mode=WAL, synchronous=FULL and foreign_keys=ON, so a
 *     committed transaction survives a power cut and a crash mid-write leaves the previous
 *     consistent configuration (TIP1-A_4813).
 *  2. schema_version holds exactly one row: the number of migrations applied. Migrations are
 *     append-only; all pending ones run with the version bump in one transaction, so a crash
 *     leaves the old version, which the next open migrates again.
 *  3. A database with a newer schema than this build knows is refused, never downgraded.
 *  4. Every statement is prepared once in store_open(); callers take it through store__stmt(),
 *     which hands it out reset, and reset it again when done so no read transaction stays
 *     open between calls.
 *  5. config.db holds password hashes: it is mode 0600 from the moment it exists, and an
 *     existing one is made 0600 at open; SQLite gives the -wal and -shm files the mode of the
 *     database. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "store/store_internal.h"

/* ---- roles ------------------------------------------------------------------------------ */

static const char *const role_names[STORE_ROLE_MAX] = {
    [STORE_ROLE_LOCAL_ADMIN] = "Local-Administrator",
    [STORE_ROLE_REMOTE_ADMIN] = "Remote-Administrator",
    [STORE_ROLE_SUPER_ADMIN] = "Super-Administrator",
};

/* Short forms for the command line ("konctl user add --role super"). */
static const char *const role_short_names[STORE_ROLE_MAX] = {
    [STORE_ROLE_LOCAL_ADMIN] = "local",
    [STORE_ROLE_REMOTE_ADMIN] = "remote",
    [STORE_ROLE_SUPER_ADMIN] = "super",
};

const char *store_role_to_string(enum store_role role)
{
    if ((unsigned)role >= STORE_ROLE_MAX)
        return NULL;
    return role_names[role];
}

int store_role_from_string(const char *s, enum store_role *ret_role)
{
    if (!s || !ret_role)
        return -EINVAL;
    for (unsigned i = 0; i < STORE_ROLE_MAX; i++) {
        if (strcasecmp(s, role_names[i]) == 0 || strcasecmp(s, role_short_names[i]) == 0) {
            *ret_role = (enum store_role)i;
            return 0;
        }
    }
    return -EINVAL;
}

/* ---- schema ----------------------------------------------------------------------------- */

/* Migration N (1-based) takes the schema from version N-1 to N. Append only; never edit one
 * that has shipped. */
static const char *const migrations[] = {
    /* 1: settings hold only values an administrator set; a missing row means the default, so
     * a factory reset is one DELETE. User names are unique case-insensitively, so "admin" and
     * "Admin" cannot both exist and be confused in logs, but are looked up exactly. */
    "CREATE TABLE settings ("
    "  name TEXT NOT NULL PRIMARY KEY,"
    "  value TEXT NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE users ("
    "  name TEXT NOT NULL PRIMARY KEY,"
    "  role TEXT NOT NULL CHECK (role IN ('Local-Administrator', 'Remote-Administrator',"
    "                                     'Super-Administrator')),"
    "  pwhash TEXT NOT NULL,"
    "  failed_logins INTEGER NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),"
    "  locked_until_ms INTEGER NOT NULL DEFAULT 0,"
    "  last_logout_ms INTEGER NOT NULL DEFAULT 0,"
    "  created_ms INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE UNIQUE INDEX users_name_nocase ON users (name COLLATE NOCASE);",
    /* 2: the info model (TIP1-A_4522). An entity is unique per kind, so a Mandant and a
     * workplace may share an id, as the call context keeps them apart. Only card terminals
     * carry attributes. A relation names the kinds of its ends in a_kind and b_kind (fixed
     * per rel by the CHECK) so that foreign keys can point at (kind, id): deleting an entity
     * deletes its relations, and no relation can point at a missing entity. The ICCSN end of
     * mandant-smb is no entity: its b_kind is NULL, which SQLite's foreign keys skip.
     * IF NOT EXISTS keeps the step harmless on a file whose version row was set back. */
    "CREATE TABLE IF NOT EXISTS entities ("
    "  kind TEXT NOT NULL CHECK (kind IN ('mandant', 'client-system', 'workplace',"
    "                                     'card-terminal')),"
    "  id TEXT NOT NULL CHECK (length(id) BETWEEN 1 AND 64),"
    "  name TEXT,"
    "  slots INTEGER,"
    "  active INTEGER,"
    "  PRIMARY KEY (kind, id),"
    "  CHECK (CASE WHEN kind = 'card-terminal'"
    "         THEN length(name) BETWEEN 1 AND 64 AND slots BETWEEN 1 AND 16 AND active IN (0, 1)"
    "         ELSE name IS NULL AND slots IS NULL AND active IS NULL END)"
    ") WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS relations ("
    "  rel TEXT NOT NULL,"
    "  a TEXT NOT NULL,"
    "  b TEXT NOT NULL,"
    "  a_kind TEXT NOT NULL,"
    "  b_kind TEXT,"
    "  PRIMARY KEY (rel, a, b),"
    "  CHECK (CASE rel"
    "         WHEN 'mandant-client-system' THEN a_kind = 'mandant' AND b_kind IS 'client-system'"
    "         WHEN 'mandant-workplace' THEN a_kind = 'mandant' AND b_kind IS 'workplace'"
    "         WHEN 'workplace-ct-local' THEN a_kind = 'workplace' AND b_kind IS 'card-terminal'"
    "         WHEN 'workplace-ct-remote' THEN a_kind = 'workplace' AND b_kind IS 'card-terminal'"
    "         WHEN 'mandant-smb' THEN a_kind = 'mandant' AND b_kind IS NULL"
    "         ELSE 0 END),"
    "  FOREIGN KEY (a_kind, a) REFERENCES entities (kind, id) ON DELETE CASCADE,"
    "  FOREIGN KEY (b_kind, b) REFERENCES entities (kind, id) ON DELETE CASCADE"
    ") WITHOUT ROWID;"
    /* The cascades look relations up by either end. */
    "CREATE INDEX IF NOT EXISTS relations_a ON relations (a_kind, a);"
    "CREATE INDEX IF NOT EXISTS relations_b ON relations (b_kind, b);",
    /* 3: permissions a Super-Administrator grants to other accounts on top of their role
     * (TIP1-A_4810, e.g. USER_RESET_PERMISSION for the factory reset), as a bit mask of
     * enum store_permission. */
    "ALTER TABLE users ADD permissions INTEGER NOT NULL DEFAULT 0 CHECK (permissions >= 0);",
};

/* A migration that SQLite cannot write idempotently (ALTER TABLE ... ADD) has a probe here: when
 * it returns a row, the step is done already (a version row set back) and only the version is
 * recorded. */
static const char *const migration_done_probe[ARRAY_SIZE(migrations)] = {
    [2] = "SELECT 1 FROM pragma_table_info('users') WHERE name = 'permissions'",
};

#define USER_COLUMNS                                                                               \
    "name, role, pwhash, failed_logins, locked_until_ms, last_logout_ms, created_ms, permissions"

static const char *const stmt_sql[STORE__STMT_MAX] = {
    [STORE__STMT_SETTING_LOAD] = "SELECT name, value FROM settings",
    [STORE__STMT_SETTING_PUT] = "INSERT INTO settings (name, value) VALUES (?1, ?2) "
                                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    [STORE__STMT_SETTING_CLEAR] = "DELETE FROM settings",
    [STORE__STMT_USER_INSERT] = "INSERT INTO users (" USER_COLUMNS ") "
                                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [STORE__STMT_USER_SELECT] = "SELECT " USER_COLUMNS " FROM users WHERE name = ?1",
    [STORE__STMT_USER_UPDATE] = "UPDATE users SET role = ?2, pwhash = ?3, failed_logins = ?4, "
                                "locked_until_ms = ?5, last_logout_ms = ?6, created_ms = ?7, "
                                "permissions = ?8 "
                                "WHERE name = ?1",
    [STORE__STMT_USER_DELETE] = "DELETE FROM users WHERE name = ?1",
    [STORE__STMT_USER_LIST] = "SELECT " USER_COLUMNS " FROM users ORDER BY name",
    [STORE__STMT_USER_COUNT] = "SELECT count(*) FROM users",
    [STORE__STMT_USER_COUNT_ROLE] = "SELECT count(*) FROM users WHERE role = ?1",
    [STORE__STMT_BEGIN] = "BEGIN IMMEDIATE",
    [STORE__STMT_COMMIT] = "COMMIT",
    [STORE__STMT_ROLLBACK] = "ROLLBACK",
    [STORE__STMT_ENTITY_INSERT] = "INSERT INTO entities (kind, id, name, slots, active) "
                                  "VALUES (?1, ?2, ?3, ?4, ?5)",
    [STORE__STMT_ENTITY_DELETE] = "DELETE FROM entities WHERE kind = ?1 AND id = ?2",
    [STORE__STMT_ENTITY_EXISTS] = "SELECT 1 FROM entities WHERE kind = ?1 AND id = ?2",
    [STORE__STMT_ENTITY_LIST] = "SELECT id FROM entities WHERE kind = ?1 ORDER BY id",
    [STORE__STMT_ENTITY_COUNT] = "SELECT count(*) FROM entities WHERE kind = ?1",
    [STORE__STMT_ENTITY_COUNT_ALL] = "SELECT count(*) FROM entities",
    [STORE__STMT_ENTITY_CLEAR] = "DELETE FROM entities",
    [STORE__STMT_CT_SELECT] = "SELECT id, name, slots, active FROM entities "
                              "WHERE kind = 'card-terminal' AND id = ?1",
    [STORE__STMT_CT_UPDATE] = "UPDATE entities SET name = ?2, slots = ?3, active = ?4 "
                              "WHERE kind = 'card-terminal' AND id = ?1",
    [STORE__STMT_RELATION_INSERT] = "INSERT INTO relations (rel, a, b, a_kind, b_kind) "
                                    "VALUES (?1, ?2, ?3, ?4, ?5)",
    [STORE__STMT_RELATION_DELETE] = "DELETE FROM relations WHERE rel = ?1 AND a = ?2 AND b = ?3",
    [STORE__STMT_RELATION_EXISTS] = "SELECT 1 FROM relations WHERE rel = ?1 AND a = ?2 AND b = ?3",
    [STORE__STMT_RELATION_LIST] = "SELECT a, b FROM relations WHERE rel = ?1 "
                                  "AND (?2 IS NULL OR a = ?2) AND (?3 IS NULL OR b = ?3) "
                                  "ORDER BY a, b",
    [STORE__STMT_RELATION_CLEAR] = "DELETE FROM relations",
    [STORE__STMT_BEGIN_READ] = "BEGIN",
    [STORE__STMT_ENTITY_LOAD] = "SELECT kind, id, name, slots, active FROM entities",
    [STORE__STMT_RELATION_LOAD] = "SELECT rel, a, b FROM relations",
};

int store__sqlite_errno(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return 0;
    case SQLITE_CONSTRAINT:
        return -EEXIST;
    case SQLITE_NOMEM:
        return -ENOMEM;
    default:
        return -EIO;
    }
}

sqlite3_stmt *store__stmt(struct store *st, enum store__stmt which)
{
    sqlite3_stmt *s = st->stmt[which];

    /* reset reports the error of the last step, which its caller already handled. */
    (void)sqlite3_reset(s);
    (void)sqlite3_clear_bindings(s);
    return s;
}

/* Runs one of the transaction statements, which take no parameters and return no rows. */
static int step_once(struct store *st, enum store__stmt which)
{
    sqlite3_stmt *s = store__stmt(st, which);
    int rc = sqlite3_step(s);

    if (rc != SQLITE_DONE)
        log_msg(LOG_LEVEL_DEBUG, "store: '%s' failed: %s", sqlite3_sql(s), sqlite3_errmsg(st->db));
    (void)sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : -EIO;
}

int store__tx_begin(struct store *st)
{
    return step_once(st, STORE__STMT_BEGIN);
}

int store__tx_begin_read(struct store *st)
{
    return step_once(st, STORE__STMT_BEGIN_READ);
}

int store__tx_commit(struct store *st)
{
    int r = step_once(st, STORE__STMT_COMMIT);

    /* A failed COMMIT (SQLITE_BUSY, I/O) can leave the transaction open. */
    if (r < 0)
        store__tx_rollback(st);
    return r;
}

void store__tx_rollback(struct store *st)
{
    if (!sqlite3_get_autocommit(st->db))
        (void)step_once(st, STORE__STMT_ROLLBACK);
}

static int exec_sql(sqlite3 *db, const char *path, const char *what, const char *sql)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

    if (rc != SQLITE_OK) {
        log_msg(LOG_LEVEL_ERROR, "store: '%s': %s failed: %s", path, what, sqlite3_errmsg(db));
        return -EIO;
    }
    return 0;
}

static int read_version(sqlite3 *db, int64_t *ret_version)
{
    sqlite3_stmt *s = NULL;
    int64_t version = 0;
    int rc;
    int r = 0;

    rc = sqlite3_prepare_v2(db, "SELECT version FROM schema_version WHERE id = 1", -1, &s, NULL);
    if (rc != SQLITE_OK) {
        r = -EIO;
        goto out;
    }
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        version = sqlite3_column_int64(s, 0);
    else if (rc != SQLITE_DONE)
        r = -EIO;
    if (r == 0)
        *ret_version = version;
out:
    sqlite3_finalize(s);
    return r;
}

/* Does sql return a row? */
static int probe(sqlite3 *db, const char *sql, bool *ret_found)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return -EIO;
    *ret_found = rc == SQLITE_ROW;
    return 0;
}

static int migrate(sqlite3 *db, const char *path)
{
    const int64_t latest = (int64_t)ARRAY_SIZE(migrations);
    int64_t version = 0;
    char sql[96];
    int r;

    /* IMMEDIATE: two processes opening a fresh database must not both run migration 1. */
    r = exec_sql(db, path, "begin", "BEGIN IMMEDIATE");
    if (r < 0)
        return r;
    r = exec_sql(db, path, "creating schema_version",
                 "CREATE TABLE IF NOT EXISTS schema_version ("
                 "  id INTEGER PRIMARY KEY CHECK (id = 1),"
                 "  version INTEGER NOT NULL)");
    if (r < 0)
        goto out;
    r = read_version(db, &version);
    if (r < 0) {
        log_msg(LOG_LEVEL_ERROR, "store: '%s': reading schema_version failed: %s", path,
                sqlite3_errmsg(db));
        goto out;
    }
    if (version < 0 || version > latest) {
        log_msg(LOG_LEVEL_ERROR,
                "store: '%s' has schema version %" PRId64 ", this build knows up to %" PRId64
                ", refusing to open it",
                path, version, latest);
        r = -EIO;
        goto out;
    }
    /* Invariant 2: every pending step in this one transaction. */
    for (int64_t v = version; v < latest; v++) {
        bool done = false;

        r = migration_done_probe[v] ? probe(db, migration_done_probe[v], &done) : 0;
        if (r == 0 && !done)
            r = exec_sql(db, path, "migration", migrations[v]);
        if (r < 0)
            goto out;
        (void)snprintf(
            sql, sizeof(sql),
            "INSERT OR REPLACE INTO schema_version (id, version) VALUES (1, %" PRId64 ")", v + 1);
        r = exec_sql(db, path, "recording schema version", sql);
        if (r < 0)
            goto out;
    }
    r = exec_sql(db, path, "commit", "COMMIT");
out:
    if (r < 0)
        (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return r;
}

static int configure(sqlite3 *db, const char *path)
{
    sqlite3_stmt *s = NULL;
    const char *mode;
    int r;

    (void)sqlite3_extended_result_codes(db, 1);
    (void)sqlite3_busy_timeout(db, STORE__BUSY_TIMEOUT_MS);
    r = exec_sql(db, path, "setting pragmas",
                 "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL");
    if (r < 0)
        return r;
    /* journal_mode answers with the mode it ended up in; a file system without shared
     * memory keeps the rollback journal, which is just as safe, only slower. */
    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &s, NULL) != SQLITE_OK ||
        sqlite3_step(s) != SQLITE_ROW) {
        log_msg(LOG_LEVEL_ERROR, "store: '%s': setting WAL mode failed: %s", path,
                sqlite3_errmsg(db));
        r = -EIO;
        goto out;
    }
    mode = (const char *)sqlite3_column_text(s, 0);
    if (!mode || strcmp(mode, "wal") != 0)
        log_msg(LOG_LEVEL_WARNING, "store: '%s' cannot use WAL mode, using journal mode '%s'", path,
                mode ? mode : "?");
out:
    sqlite3_finalize(s);
    return r;
}

/* Creates the file with mode 0600 before SQLite does (SQLite would use 0644 less the umask),
 * and takes group and other access away from an existing one (invariant 5). */
static int make_private(const char *path)
{
    struct stat sb;
    int fd;
    int r = 0;

    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        (void)log_errno(LOG_LEVEL_ERROR, -errno, "store: cannot open '%s'", path);
        return -EIO;
    }
    if (fstat(fd, &sb) < 0) {
        r = log_errno(LOG_LEVEL_ERROR, -errno, "store: cannot stat '%s'", path);
        goto out;
    }
    if ((sb.st_mode & 077) != 0) {
        log_msg(LOG_LEVEL_WARNING, "store: '%s' was readable by others, making it mode 0600", path);
        if (fchmod(fd, 0600) < 0)
            r = log_errno(LOG_LEVEL_ERROR, -errno, "store: cannot make '%s' private", path);
    }
out:
    (void)close(fd);
    return r < 0 ? -EIO : 0;
}

int store_open(const char *path, struct store **ret_store)
{
    struct store *st = NULL;
    int r;

    if (!path || !*path || !ret_store)
        return -EINVAL;
    st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    r = make_private(path);
    if (r < 0)
        goto out;
    if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        log_msg(LOG_LEVEL_ERROR, "store: cannot open '%s': %s", path,
                st->db ? sqlite3_errmsg(st->db) : "out of memory");
        r = -EIO;
        goto out;
    }
    r = configure(st->db, path);
    if (r < 0)
        goto out;
    r = migrate(st->db, path);
    if (r < 0)
        goto out;
    for (unsigned i = 0; i < STORE__STMT_MAX; i++) {
        if (sqlite3_prepare_v3(st->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &st->stmt[i],
                               NULL) != SQLITE_OK) {
            log_msg(LOG_LEVEL_ERROR, "store: '%s': preparing statement %u failed: %s", path, i,
                    sqlite3_errmsg(st->db));
            r = -EIO;
            goto out;
        }
    }
    st->values = calloc(setting_count(), sizeof(*st->values));
    if (!st->values) {
        r = -ENOMEM;
        goto out;
    }
    r = store__settings_load(st);
    if (r < 0) {
        log_msg(LOG_LEVEL_ERROR, "store: '%s': reading settings failed: %s", path,
                sqlite3_errmsg(st->db));
        goto out;
    }
    /* The info model's reads come from memory from now on (infomodel_mem.c); if this load
     * fails they read SQLite and the next read tries again. */
    (void)store__im_get(st);
    *ret_store = st;
    st = NULL;
    r = 0;
out:
    (void)store_close(st);
    return r;
}

struct store *store_close(struct store *st)
{
    if (!st)
        return NULL;
    for (unsigned i = 0; i < STORE__STMT_MAX; i++)
        (void)sqlite3_finalize(st->stmt[i]);
    /* With every statement finalized, close cannot fail with SQLITE_BUSY; in WAL mode the
     * last connection checkpoints and removes the -wal file here. */
    (void)sqlite3_close(st->db);
    (void)store__im_free(st->im);
    free(st->values);
    free(st);
    return NULL;
}
