/* routes_reset: POST /api/v1/factory-reset, the factory reset through the management API
 * (TIP1-A_4820) in two steps: without a token it answers what the reset keeps and resets and a
 * confirmation token; with that token it resets. Only accounts holding USER_RESET_PERMISSION
 * (every Super-Administrator, and those granted it) may; TAB_KON_504-01 allows it in every
 * critical state (gate row GATE_OP_MGMT_FACTORY_RESET).
 *
 * Invariants:
 *  1. The permission is checked against the stored account on every step.
 *  2. The reply of the second step is sent after the reset: it goes to an account that no
 *     longer exists, which is fine, the connection is authenticated already. */
#include "mgmt/mgmt_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const keeps[] = {
    "device identity (DATA/identity: keys, certificates, type plate, LAN client CA)",
    "trust space",
    "security log (with the MGM/FACTORYSETTINGS entry of this reset)",
    "system log",
    "installed firmware (DATA/fw)",
    "simulated world: cards and their PIN states",
};

static const char *const resets[] = {
    "settings (back to their defaults)",
    "info model (back to the demo practice m1/cs1/ws1/ct1)",
    "card terminals and their pairings",
    "administrator accounts (a new initial admin password)",
    "client certificate list (ANCL_CCERT_LIST)",
    "client systems' HTTP Basic users",
    "active administrator sessions",
};

static json_t *list_json(const char *const *v, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static void on_reset_done(int r, const struct mgmt__reset_report *rep, void *arg)
{
    struct mgmt_request *req = arg;

    if (r == -ENOLINK)
        mgmt_reply_error(req, 503, "unavailable",
                         "the security log cannot record the reset now, nothing was changed; "
                         "try again when the log is writable");
    else if (r < 0)
        mgmt_reply_error(req, 500, "internal", "the configuration could not be reset");
    else
        mgmt_reply_json(req, 200,
                        json_pack("{s:s,s:s,s:I}", "new_admin_password_file", rep->password_file,
                                  "admin_user", MGMT_INITIAL_ADMIN, "duration_ms",
                                  (json_int_t)rep->duration_ms));
}

static void post_reset(struct mgmt_request *req, void *arg)
{
    struct mgmt_server *srv = arg;
    const struct mgmt_deps *d = mgmt_server_deps(srv);
    struct mgmt__reset *rs = mgmt__server_reset(srv);
    json_t *body = mgmt_request_body(req);
    json_t *token = body ? json_object_get(body, "confirm_token") : NULL;
    const char *user = mgmt_request_user(req);
    struct store_user u;
    char fresh[33];
    int r;

    /* Invariant 1. */
    if (store_user_get(d->store, user, &u) < 0 ||
        !store_user_has_permission(&u, STORE_PERM_USER_RESET)) {
        mgmt_reply_error(req, 403, "forbidden", "a factory reset needs %s",
                         store_permission_to_string(STORE_PERM_USER_RESET));
        return;
    }
    if (token && !json_is_string(token)) {
        mgmt_reply_error(req, 400, "bad_request", "'confirm_token' must be a string");
        return;
    }
    if (!token) {
        if (mgmt__reset_token_new(rs, user, fresh) < 0) {
            mgmt_reply_error(req, 500, "internal", "no token could be made");
            return;
        }
        mgmt_reply_json(req, 200,
                        json_pack("{s:s,s:i,s:o,s:o}", "confirm_token", fresh, "expires_in_s",
                                  MGMT__RESET_TOKEN_MS / 1000, "keeps",
                                  list_json(keeps, ARRAY_SIZE(keeps)), "resets",
                                  list_json(resets, ARRAY_SIZE(resets))));
        return;
    }
    r = mgmt__reset_token_use(rs, user, json_string_value(token));
    if (r == -ETIME) {
        mgmt_reply_error(req, 409, "conflict",
                         "the confirmation token has expired (it is valid %d s); ask for a new "
                         "one with an empty POST",
                         MGMT__RESET_TOKEN_MS / 1000);
        return;
    }
    if (r < 0) {
        mgmt_reply_error(req, 409, "conflict",
                         "the confirmation token is not the current one for '%s'; ask for a "
                         "new one with an empty POST",
                         user);
        return;
    }
    r = mgmt__reset_run(rs, user, "mgmt-api", on_reset_done, req);
    if (r == -EBUSY)
        mgmt_reply_error(req, 409, "conflict", "a factory reset is running already");
    else if (r < 0)
        mgmt_reply_error(req, 503, "busy", "the reset could not start, try again");
}

static const struct mgmt__route_def routes[] = {
    {MGMT_POST, "/api/v1/factory-reset", STORE_ROLES_ALL, GATE_OP_MGMT_FACTORY_RESET, post_reset},
};

int mgmt__routes_reset_add(struct mgmt_server *srv)
{
    return mgmt__routes_add(srv, routes, ARRAY_SIZE(routes), srv);
}
