/* routes_users: administrator accounts (TIP1-A_4810). Only a Super-Administrator manages
 * accounts; every administrator may change their own password. Password hashing runs on the
 * worker pool, and the request is answered when it is done.
 *
 * Invariants:
 *  1. The last Super-Administrator cannot be deleted, and nobody deletes themselves.
 *  2. Changes are published as MGM/ADMINCHANGES with RefID "USER/<name>" and a NewVal that
 *     says what changed, never the password. */
#include "mgmt/mgmt_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUPER STORE_ROLE_BIT(STORE_ROLE_SUPER_ADMIN)

typedef void (*hashed_fn)(struct mgmt_request *req, const char *record, void *ctx);

struct hash_job {
    char *password;
    char record[STORE_USER_HASH_MAX + 1];
    int r;
    hashed_fn then;
    struct store_user user; /* the account being written */
};

static void hash_work(void *arg)
{
    struct hash_job *j = arg;

    j->r = mgmt_password_hash(j->password, j->record, sizeof(j->record));
}

static void hash_job_free(struct hash_job *j)
{
    explicit_bzero(j->password, strlen(j->password));
    free(j->password);
    free(j);
}

static void hash_done(struct mgmt_request *req, void *arg)
{
    struct hash_job *j = arg;

    if (j->r < 0)
        mgmt_reply_error(req, 500, "internal", "the password could not be hashed");
    else
        j->then(req, j->record, &j->user);
    hash_job_free(j);
}

/* Hashes password off the loop, then calls then(req, record, user) on the loop. */
static void hash_then(struct mgmt_request *req, const char *password, const struct store_user *user,
                      hashed_fn then)
{
    struct hash_job *j = calloc(1, sizeof(*j));

    if (!j || !(j->password = strdup(password))) {
        free(j);
        mgmt_reply_error(req, 503, "busy", "out of memory, try again");
        return;
    }
    j->then = then;
    j->user = *user;
    if (mgmt_request_offload(req, hash_work, hash_done, j) < 0)
        hash_job_free(j);
}

/* The permissions the account holds, by its role or by a grant. */
static json_t *permissions_json(const struct store_user *u)
{
    json_t *list = json_array();

    for (unsigned p = 0; p < STORE_PERM_MAX; p++)
        if (store_user_has_permission(u, (enum store_permission)p))
            json_array_append_new(
                list, json_string(store_permission_to_string((enum store_permission)p)));
    return list;
}

static json_t *user_json(const struct store_user *u)
{
    return json_pack("{s:s,s:s,s:i,s:o,s:o,s:o}", "name", u->name, "role",
                     store_role_to_string(u->role), "failed_logins", (int)u->failed_logins,
                     "locked_until",
                     mgmt__time_json(u->locked_until_ms > clock_now_ms() ? u->locked_until_ms : 0),
                     "created", mgmt__time_json(u->created_ms), "permissions", permissions_json(u));
}

/* Reads an optional "permissions" array of names into *ret_mask; replies 400 and returns
 * false on a bad one. */
static bool permissions_arg(struct mgmt_request *req, unsigned *ret_mask)
{
    json_t *list = json_object_get(mgmt_request_body(req), "permissions"), *v;
    unsigned mask = 0;
    size_t i;

    if (list && !json_is_array(list)) {
        mgmt_reply_error(req, 400, "bad_request", "'permissions' must be a list of names");
        return false;
    }
    json_array_foreach(list, i, v)
    {
        enum store_permission p;

        if (store_permission_from_string(json_string_value(v), &p) < 0) {
            mgmt_reply_error(req, 400, "invalid_value", "the only permission is %s",
                             store_permission_to_string(STORE_PERM_USER_RESET));
            return false;
        }
        mask |= STORE_PERM_BIT(p);
    }
    *ret_mask = mask;
    return true;
}

static void add_user_json(const struct store_user *u, void *arg)
{
    json_array_append_new(arg, user_json(u));
}

static void get_users(struct mgmt_request *req, void *arg)
{
    const struct mgmt_deps *d = arg;
    json_t *list = json_array();

    (void)store_user_foreach(d->store, add_user_json, list);
    mgmt_reply_json(req, 200, json_pack("{s:o}", "users", list));
}

static bool password_ok(struct mgmt_request *req, const char *password)
{
    char msg[128];

    if (mgmt_password_check_rules(password, msg, sizeof(msg)) < 0) {
        mgmt_reply_error(req, 400, "invalid_value", "%s", msg);
        return false;
    }
    return true;
}

static void add_hashed(struct mgmt_request *req, const char *record, void *ctx)
{
    const struct mgmt_deps *d = mgmt_request_deps(req);
    struct store_user *u = ctx;
    char ref[STORE_USER_NAME_MAX + 8], what[64];
    int r;

    (void)str_copy(u->pwhash, sizeof(u->pwhash), record);
    r = store_user_add(d->store, u);
    if (r == -EEXIST) {
        mgmt_reply_error(req, 409, "conflict", "a user '%s' exists already", u->name);
        return;
    }
    if (r < 0) {
        mgmt_reply_error(req, 500, "internal", "the user could not be saved");
        return;
    }
    (void)snprintf(ref, sizeof(ref), "USER/%s", u->name);
    (void)snprintf(what, sizeof(what), "created as %s", store_role_to_string(u->role));
    mgmt__admin_change(d, mgmt_request_user(req), ref, what);
    mgmt_reply_json(req, 201, user_json(u));
}

static void post_user(struct mgmt_request *req, void *arg)
{
    const struct mgmt_deps *d = arg;
    const char *name, *role, *password;
    struct store_user u = {0}, existing;

    if (!(name = mgmt_body_string(req, "name")) || !(role = mgmt_body_string(req, "role")) ||
        !(password = mgmt_body_string(req, "password")))
        return;
    if (!store_user_name_is_valid(name)) {
        mgmt_reply_error(req, 400, "invalid_value",
                         "a user name has 1 to %d characters of A-Z a-z 0-9 . _ - and starts "
                         "with a letter or digit, got '%.64s'",
                         STORE_USER_NAME_MAX, name);
        return;
    }
    if (store_role_from_string(role, &u.role) < 0) {
        mgmt_reply_error(req, 400, "invalid_value",
                         "role must be Local-Administrator, Remote-Administrator or "
                         "Super-Administrator, got '%.64s'",
                         role);
        return;
    }
    if (!password_ok(req, password) || !permissions_arg(req, &u.permissions))
        return;
    if (store_user_get(d->store, name, &existing) == 0) {
        mgmt_reply_error(req, 409, "conflict", "a user '%s' exists already", name);
        return;
    }
    (void)str_copy(u.name, sizeof(u.name), name);
    u.created_ms = clock_now_ms();
    hash_then(req, password, &u, add_hashed);
}

/* Loads the account named in the path, or replies 404. */
static bool load_target(struct mgmt_request *req, struct store_user *ret_user)
{
    const char *name = mgmt_request_arg(req, 0);

    if (!name || store_user_get(mgmt_request_deps(req)->store, name, ret_user) < 0) {
        mgmt_reply_error(req, 404, "not_found", "there is no user '%s'", name ? name : "");
        return false;
    }
    return true;
}

static void passwd_hashed(struct mgmt_request *req, const char *record, void *ctx)
{
    const struct mgmt_deps *d = mgmt_request_deps(req);
    struct store_user *want = ctx, u;
    char ref[STORE_USER_NAME_MAX + 8];

    /* Re-read: the account may have changed or gone while the hash ran. */
    if (store_user_get(d->store, want->name, &u) < 0) {
        mgmt_reply_error(req, 404, "not_found", "there is no user '%s'", want->name);
        return;
    }
    (void)str_copy(u.pwhash, sizeof(u.pwhash), record);
    u.failed_logins = 0;
    u.locked_until_ms = 0;
    if (store_user_update(d->store, &u) < 0) {
        mgmt_reply_error(req, 500, "internal", "the password could not be saved");
        return;
    }
    mgmt__auth_forget(mgmt__request_auth(req), u.name);
    (void)snprintf(ref, sizeof(ref), "USER/%s", u.name);
    mgmt__admin_change(d, mgmt_request_user(req), ref, "password changed");
    mgmt_reply_json(req, 200, user_json(&u));
}

static void put_password(struct mgmt_request *req, void *arg)
{
    struct store_user u;
    const char *password;

    if (!load_target(req, &u))
        return;
    if (strcmp(u.name, mgmt_request_user(req)) != 0 &&
        mgmt_request_role(req) != STORE_ROLE_SUPER_ADMIN) {
        mgmt_reply_error(req, 403, "forbidden",
                         "only a Super-Administrator changes another user's password");
        return;
    }
    password = mgmt_body_string(req, "password");
    if (!password || !password_ok(req, password))
        return;
    hash_then(req, password, &u, passwd_hashed);
}

static void post_unlock(struct mgmt_request *req, void *arg)
{
    const struct mgmt_deps *d = arg;
    struct store_user u;
    char ref[STORE_USER_NAME_MAX + 8];

    if (!load_target(req, &u))
        return;
    u.failed_logins = 0;
    u.locked_until_ms = 0;
    if (store_user_update(d->store, &u) < 0) {
        mgmt_reply_error(req, 500, "internal", "the account could not be saved");
        return;
    }
    (void)snprintf(ref, sizeof(ref), "USER/%s", u.name);
    mgmt__admin_change(d, mgmt_request_user(req), ref, "unlocked");
    mgmt_reply_json(req, 200, user_json(&u));
}

/* PUT /api/v1/users/NAME/permissions {"permissions": [...]}: the grants replace the old ones
 * (a Super-Administrator holds every permission by role). */
static void put_permissions(struct mgmt_request *req, void *arg)
{
    const struct mgmt_deps *d = arg;
    struct store_user u;
    char ref[STORE_USER_NAME_MAX + 8], what[96];
    unsigned mask = 0;

    if (!load_target(req, &u))
        return;
    if (!json_is_array(json_object_get(mgmt_request_body(req), "permissions"))) {
        mgmt_reply_error(req, 400, "bad_request", "the body needs a list 'permissions'");
        return;
    }
    if (!permissions_arg(req, &mask))
        return;
    u.permissions = mask;
    if (store_user_update(d->store, &u) < 0) {
        mgmt_reply_error(req, 500, "internal", "the account could not be saved");
        return;
    }
    (void)snprintf(ref, sizeof(ref), "USER/%s", u.name);
    (void)snprintf(what, sizeof(what), "permissions: %s",
                   mask & STORE_PERM_BIT(STORE_PERM_USER_RESET)
                       ? store_permission_to_string(STORE_PERM_USER_RESET)
                       : "none granted");
    mgmt__admin_change(d, mgmt_request_user(req), ref, what);
    mgmt_reply_json(req, 200, user_json(&u));
}

static void delete_user(struct mgmt_request *req, void *arg)
{
    const struct mgmt_deps *d = arg;
    struct store_user u;
    char ref[STORE_USER_NAME_MAX + 8];

    if (!load_target(req, &u))
        return;
    if (strcmp(u.name, mgmt_request_user(req)) == 0) {
        mgmt_reply_error(req, 409, "conflict", "you cannot delete your own account");
        return;
    }
    if (u.role == STORE_ROLE_SUPER_ADMIN &&
        store_user_count_role(d->store, STORE_ROLE_SUPER_ADMIN) <= 1) {
        mgmt_reply_error(req, 409, "conflict", "'%s' is the last Super-Administrator", u.name);
        return;
    }
    if (store_user_delete(d->store, u.name) < 0) {
        mgmt_reply_error(req, 500, "internal", "the user could not be deleted");
        return;
    }
    mgmt__auth_forget(mgmt__request_auth(req), u.name);
    (void)snprintf(ref, sizeof(ref), "USER/%s", u.name);
    mgmt__admin_change(d, mgmt_request_user(req), ref, "deleted");
    mgmt_reply_json(req, 200, json_pack("{s:s}", "deleted", u.name));
}

static const struct mgmt__route_def routes[] = {
    {MGMT_GET, "/api/v1/users", SUPER, GATE_OP_MGMT_OTHER, get_users},
    {MGMT_POST, "/api/v1/users", SUPER, GATE_OP_MGMT_OTHER, post_user},
    {MGMT_PUT, "/api/v1/users/*/password", STORE_ROLES_ALL, GATE_OP_MGMT_OTHER, put_password},
    {MGMT_POST, "/api/v1/users/*/unlock", SUPER, GATE_OP_MGMT_OTHER, post_unlock},
    {MGMT_PUT, "/api/v1/users/*/permissions", SUPER, GATE_OP_MGMT_OTHER, put_permissions},
    {MGMT_DELETE, "/api/v1/users/*", SUPER, GATE_OP_MGMT_OTHER, delete_user},
};

int mgmt__routes_users_add(struct mgmt_server *srv)
{
    return mgmt__routes_add(srv, routes, ARRAY_SIZE(routes), (void *)mgmt_server_deps(srv));
}
