/* store/users: the administrator accounts in the users table of config.db. The store keeps
 * the records as mgmt hands them over; it does not hash passwords, count failures or decide
 * about lockouts (mgmt does), and it does not protect the last Super-Administrator (mgmt's
 * rule, since only mgmt knows who is asking).
 *
 * Invariants:
 *  1. Every stored name satisfies store_user_name_is_valid(); names are unique ignoring case
 *     (index users_name_nocase) but looked up exactly, so "Admin" does not log in as "admin".
 *  2. Each call is one SQL statement in autocommit mode: one transaction, all or nothing.
 *  3. A row that does not fit struct store_user (role unknown, name or hash too long, counter
 *     out of range; only possible if the file was edited) is reported as -EBADMSG by get and
 *     skipped with a warning by foreach, never truncated into a different account.
 *  4. foreach reads all users before it calls fn, so fn may add, change or delete users. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "store/store_internal.h"

/* Column order of STORE__STMT_USER_SELECT and _LIST (USER_COLUMNS in db.c), and the
 * parameter order of _INSERT and _UPDATE. */
enum {
    COL_NAME,
    COL_ROLE,
    COL_PWHASH,
    COL_FAILED_LOGINS,
    COL_LOCKED_UNTIL,
    COL_LAST_LOGOUT,
    COL_CREATED,
    COL_PERMISSIONS,
};

static const char *const permission_names[STORE_PERM_MAX] = {
    [STORE_PERM_USER_RESET] = "USER_RESET_PERMISSION",
};

const char *store_permission_to_string(enum store_permission p)
{
    return (unsigned)p < STORE_PERM_MAX ? permission_names[p] : NULL;
}

int store_permission_from_string(const char *s, enum store_permission *ret_perm)
{
    for (unsigned i = 0; s && i < STORE_PERM_MAX; i++) {
        if (strcmp(s, permission_names[i]) == 0) {
            *ret_perm = (enum store_permission)i;
            return 0;
        }
    }
    return -EINVAL;
}

bool store_user_has_permission(const struct store_user *u, enum store_permission p)
{
    return u && (unsigned)p < STORE_PERM_MAX &&
           (u->role == STORE_ROLE_SUPER_ADMIN || (u->permissions & STORE_PERM_BIT(p)));
}

bool store_user_name_is_valid(const char *name)
{
    size_t n;

    if (!name)
        return false;
    n = strnlen(name, STORE_USER_NAME_MAX + 1);
    if (n == 0 || n > STORE_USER_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
            return false;
    }
    return true;
}

/* A record mgmt may store: a valid name and role, a terminated hash. */
static bool user_is_valid(const struct store_user *u)
{
    return u && store_user_name_is_valid(u->name) && (unsigned)u->role < STORE_ROLE_MAX &&
           strnlen(u->pwhash, sizeof(u->pwhash)) < sizeof(u->pwhash);
}

static int bind_user(sqlite3_stmt *s, const struct store_user *u)
{
    /* SQLite numbers parameters from 1. */
    if (sqlite3_bind_text(s, COL_NAME + 1, u->name, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(s, COL_ROLE + 1, store_role_to_string(u->role), -1, SQLITE_STATIC) !=
            SQLITE_OK ||
        sqlite3_bind_text(s, COL_PWHASH + 1, u->pwhash, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(s, COL_FAILED_LOGINS + 1, u->failed_logins) != SQLITE_OK ||
        sqlite3_bind_int64(s, COL_LOCKED_UNTIL + 1, u->locked_until_ms) != SQLITE_OK ||
        sqlite3_bind_int64(s, COL_LAST_LOGOUT + 1, u->last_logout_ms) != SQLITE_OK ||
        sqlite3_bind_int64(s, COL_CREATED + 1, u->created_ms) != SQLITE_OK ||
        sqlite3_bind_int64(s, COL_PERMISSIONS + 1, u->permissions & STORE_PERMS_ALL) != SQLITE_OK)
        return -ENOMEM;
    return 0;
}

/* Reads the current row of s into ret_user; -EBADMSG if it does not fit (invariant 3). */
static int read_user(sqlite3_stmt *s, struct store_user *ret_user)
{
    struct store_user u = {0};
    const char *name = (const char *)sqlite3_column_text(s, COL_NAME);
    const char *role = (const char *)sqlite3_column_text(s, COL_ROLE);
    const char *pwhash = (const char *)sqlite3_column_text(s, COL_PWHASH);
    int64_t failed = sqlite3_column_int64(s, COL_FAILED_LOGINS);

    if (!store_user_name_is_valid(name) || !role || store_role_from_string(role, &u.role) < 0 ||
        !pwhash || str_copy(u.pwhash, sizeof(u.pwhash), pwhash) < 0 || failed < 0 ||
        failed > UINT32_MAX)
        return -EBADMSG;
    (void)str_copy(u.name, sizeof(u.name), name);
    u.failed_logins = (uint32_t)failed;
    u.locked_until_ms = sqlite3_column_int64(s, COL_LOCKED_UNTIL);
    u.last_logout_ms = sqlite3_column_int64(s, COL_LAST_LOGOUT);
    u.created_ms = sqlite3_column_int64(s, COL_CREATED);
    u.permissions = (unsigned)sqlite3_column_int64(s, COL_PERMISSIONS) & STORE_PERMS_ALL;
    *ret_user = u;
    return 0;
}

/* Runs a write statement that binds a whole user (insert, update). */
static int write_user(struct store *st, enum store__stmt which, const struct store_user *u)
{
    sqlite3_stmt *s = store__stmt(st, which);
    int rc;
    int r;

    r = bind_user(s, u);
    if (r < 0)
        goto out;
    rc = sqlite3_step(s);
    if (rc != SQLITE_DONE) {
        log_msg(LOG_LEVEL_DEBUG, "store: writing user '%s' failed: %s", u->name,
                sqlite3_errmsg(st->db));
        r = store__sqlite_errno(rc);
        goto out;
    }
    if (sqlite3_changes(st->db) == 0)
        r = -ENOENT;
out:
    (void)sqlite3_reset(s);
    (void)sqlite3_clear_bindings(s);
    return r;
}

int store_user_add(struct store *st, const struct store_user *u)
{
    if (!st || !user_is_valid(u))
        return -EINVAL;
    /* A constraint here is the primary key or users_name_nocase: -EEXIST. */
    return write_user(st, STORE__STMT_USER_INSERT, u);
}

int store_user_update(struct store *st, const struct store_user *u)
{
    int r;

    if (!st || !user_is_valid(u))
        return -EINVAL;
    r = write_user(st, STORE__STMT_USER_UPDATE, u);
    /* No unique column changes in an update, so a constraint is not "exists". */
    return r == -EEXIST ? -EIO : r;
}

/* -EINVAL for an invalid name: it cannot be stored (invariant 1), so it was never added. */
int store_user_get(struct store *st, const char *name, struct store_user *ret_user)
{
    sqlite3_stmt *s;
    int rc;
    int r;

    if (!st || !store_user_name_is_valid(name) || !ret_user)
        return -EINVAL;
    s = store__stmt(st, STORE__STMT_USER_SELECT);
    if (sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC) != SQLITE_OK) {
        r = -ENOMEM;
        goto out;
    }
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        r = read_user(s, ret_user);
    else if (rc == SQLITE_DONE)
        r = -ENOENT;
    else
        r = store__sqlite_errno(rc);
out:
    (void)sqlite3_reset(s);
    (void)sqlite3_clear_bindings(s);
    return r;
}

int store_user_delete(struct store *st, const char *name)
{
    sqlite3_stmt *s;
    int rc;
    int r = 0;

    if (!st || !store_user_name_is_valid(name))
        return -EINVAL;
    s = store__stmt(st, STORE__STMT_USER_DELETE);
    if (sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC) != SQLITE_OK) {
        r = -ENOMEM;
        goto out;
    }
    rc = sqlite3_step(s);
    if (rc != SQLITE_DONE)
        r = -EIO;
    else if (sqlite3_changes(st->db) == 0)
        r = -ENOENT;
out:
    (void)sqlite3_reset(s);
    (void)sqlite3_clear_bindings(s);
    return r;
}

int store_user_foreach(struct store *st, void (*fn)(const struct store_user *u, void *arg),
                       void *arg)
{
    struct store_user *users = NULL;
    size_t n = 0, cap = 0;
    sqlite3_stmt *s;
    int rc;
    int r = 0;

    if (!st || !fn)
        return -EINVAL;
    s = store__stmt(st, STORE__STMT_USER_LIST);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 8;
            struct store_user *grown = realloc(users, ncap * sizeof(*users));

            if (!grown) {
                r = -ENOMEM;
                goto out;
            }
            users = grown;
            cap = ncap;
        }
        if (read_user(s, &users[n]) < 0) {
            log_msg(LOG_LEVEL_WARNING, "store: skipping a damaged row of the users table");
            continue;
        }
        n++;
    }
    if (rc != SQLITE_DONE) {
        r = store__sqlite_errno(rc);
        goto out;
    }
    /* Reset before the callbacks: no read transaction stays open while fn runs. */
    (void)sqlite3_reset(s);
    for (size_t i = 0; i < n; i++)
        fn(&users[i], arg);
out:
    (void)sqlite3_reset(s);
    free(users);
    return r;
}

/* Runs a count(*) statement; 0 if it fails (logged at debug level). */
static size_t count_rows(struct store *st, sqlite3_stmt *s)
{
    size_t n = 0;
    int rc = sqlite3_step(s);

    if (rc == SQLITE_ROW && sqlite3_column_int64(s, 0) > 0)
        n = (size_t)sqlite3_column_int64(s, 0);
    else if (rc != SQLITE_ROW)
        log_msg(LOG_LEVEL_DEBUG, "store: counting users failed: %s", sqlite3_errmsg(st->db));
    (void)sqlite3_reset(s);
    (void)sqlite3_clear_bindings(s);
    return n;
}

size_t store_user_count(struct store *st)
{
    if (!st)
        return 0;
    return count_rows(st, store__stmt(st, STORE__STMT_USER_COUNT));
}

size_t store_user_count_role(struct store *st, enum store_role role)
{
    sqlite3_stmt *s;

    if (!st || (unsigned)role >= STORE_ROLE_MAX)
        return 0;
    s = store__stmt(st, STORE__STMT_USER_COUNT_ROLE);
    if (sqlite3_bind_text(s, 1, store_role_to_string(role), -1, SQLITE_STATIC) != SQLITE_OK)
        return 0;
    return count_rows(st, s);
}
