/* ksr_routes: the management API of the KSR client (docs/management-api.md, "Updates"):
 *
 *   POST /api/v1/update/check      ask the KSR now (answers when the check is done)
 *   GET  /api/v1/update/status     state, offered updates, pause switch, slots
 *   POST /api/v1/update/download   download the newest offered update (answers when done)
 *   POST /api/v1/update/install    {"version": "3.5.0"}: install a downloaded update
 *   POST /api/v1/update/pause      stop every install, manual and automatic
 *   POST /api/v1/update/resume     allow installs again
 *
 * Every route is "software update" in the critical-state gate (TAB_KON_504-01): allowed in
 * every critical state. Reading the status is open to every role; acting needs a local or
 * super administrator (TIP1-A_5657-02: updates are released by the operator's admin).
 *
 * Invariants:
 *  1. A request that starts an operation is answered exactly once, from the operation's done
 *     callback; refusals (busy, nothing to do, paused) are answered at once with 409 or 404.
 *  2. Every change (check, download, install, pause, resume) is an MGM/ADMINCHANGES-like
 *     log line naming the administrator. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "mgmt/mgmt.h"
#include "update/update.h"

#define LOCAL (STORE_ROLE_BIT(STORE_ROLE_LOCAL_ADMIN) | STORE_ROLE_BIT(STORE_ROLE_SUPER_ADMIN))

static void reply_done(int code, const char *message, void *arg)
{
    struct mgmt_request *req = arg;

    if (code == 0) {
        mgmt_reply_json(req, 200, json_pack("{s:b,s:s}", "ok", 1, "message", message));
        return;
    }
    if (code >= 4000) {
        /* A gematik code of TUC_KON_280 (4183, 4184, 4185): the install was refused; the
         * same shape as POST /api/v1/update/install-file's refusal. */
        mgmt_reply_json(req, 422,
                        json_pack("{s:{s:i,s:s,s:s,s:i}}", "error", "status", 422, "code",
                                  code == 4185   ? "firmware_group"
                                  : code == 4183 ? "integrity"
                                                 : "refused",
                                  "message", message, "gematik_code", code));
        return;
    }
    mgmt_reply_error(req, 502, "ksr_failed", "%s", message);
}

/* Answers a refusal of upd_ksr_check/download/install at once. */
static void reply_refused(struct mgmt_request *req, int r, const char *what)
{
    switch (r) {
    case -EBUSY:
        mgmt_reply_error(req, 409, "busy",
                         "another update operation is running; try again "
                         "when 'konctl update status' shows idle");
        break;
    case -EPERM:
        mgmt_reply_error(req, 409, "paused",
                         "updates are paused; 'konctl update resume' allows installs again");
        break;
    case -ENETDOWN:
        mgmt_reply_error(req, 409, "offline",
                         "MGM_LU_ONLINE is Disabled: the connector does not contact the KSR");
        break;
    case -ENOENT:
        mgmt_reply_error(req, 404, "not_found", "%s", what);
        break;
    case -EINVAL:
        mgmt_reply_error(req, 400, "invalid_value", "the version must be N.N.N");
        break;
    case -ENOSPC:
        mgmt_reply_error(req, 507, "no_space",
                         "the data file system lacks room for the download and a reserve of "
                         "64 MiB for the logs");
        break;
    case -ENOTSUP:
        mgmt_reply_error(req, 409, "no_installer", "this core runs without the installer");
        break;
    default:
        mgmt_reply_error(req, 500, "internal", "the update operation could not start: %s",
                         strerror(-r));
        break;
    }
}

static void post_check(struct mgmt_request *req, void *arg)
{
    int r = upd_ksr_check(arg, reply_done, req);

    if (r < 0)
        reply_refused(req, r, "no KSR is configured (setting KSR_URL)");
    else
        log_msg(LOG_LEVEL_INFO, "update: '%s' asked the KSR for updates", mgmt_request_user(req));
}

static void post_download(struct mgmt_request *req, void *arg)
{
    int r = upd_ksr_download(arg, reply_done, req);

    if (r < 0)
        reply_refused(req, r,
                      "no update to download: none is offered, or KSR_URL is empty ('konctl "
                      "update check' first)");
    else
        log_msg(LOG_LEVEL_INFO, "update: '%s' started a download", mgmt_request_user(req));
}

static void post_install(struct mgmt_request *req, void *arg)
{
    const char *version = mgmt_body_string(req, "version");
    int r;

    if (!version)
        return;
    r = upd_ksr_install(arg, version, reply_done, req);
    if (r < 0)
        reply_refused(req, r,
                      "firmware is neither offered as an update nor downloaded ('konctl update "
                      "status')");
    else
        log_msg(LOG_LEVEL_INFO, "update: '%s' started the install of firmware '%s'",
                mgmt_request_user(req), version);
}

static void set_pause(struct mgmt_request *req, struct upd_ksr *k, bool paused)
{
    int r = upd_ksr_pause(k, paused);

    if (r < 0) {
        mgmt_reply_error(req, 500, "internal", "the pause switch could not be written");
        return;
    }
    log_msg(LOG_LEVEL_INFO, "update: '%s' %s installs", mgmt_request_user(req),
            paused ? "paused" : "resumed");
    mgmt_reply_json(req, 200,
                    json_pack("{s:b,s:b,s:s}", "ok", 1, "paused", paused, "message",
                              paused ? "updates paused: nothing installs until 'update resume'"
                                     : "updates resumed"));
}

static void post_pause(struct mgmt_request *req, void *arg)
{
    set_pause(req, arg, true);
}

static void post_resume(struct mgmt_request *req, void *arg)
{
    set_pause(req, arg, false);
}

static void get_status(struct mgmt_request *req, void *arg)
{
    char *text = NULL;
    json_t *o = NULL;

    if (upd_ksr_status_format(arg, &text) == 0)
        o = json_loads(text, 0, NULL);
    free(text);
    if (!o) {
        mgmt_reply_error(req, 500, "internal", "out of memory");
        return;
    }
    mgmt_reply_json(req, 200, o);
}

int upd_ksr_routes_add(struct upd_ksr *k, struct mgmt_server *srv)
{
    static const struct {
        enum mgmt_method method;
        const char *pattern;
        unsigned roles;
        mgmt_handler_fn fn;
    } routes[] = {
        {MGMT_POST, "/api/v1/update/check", LOCAL, post_check},
        {MGMT_GET, "/api/v1/update/status", STORE_ROLES_ALL, get_status},
        {MGMT_POST, "/api/v1/update/download", LOCAL, post_download},
        {MGMT_POST, "/api/v1/update/install", LOCAL, post_install},
        {MGMT_POST, "/api/v1/update/pause", LOCAL, post_pause},
        {MGMT_POST, "/api/v1/update/resume", LOCAL, post_resume},
    };
    int r;

    for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
        r = mgmt_server_route(srv, routes[i].method, routes[i].pattern, routes[i].roles,
                              GATE_OP_MGMT_UPDATE, routes[i].fn, k);
        if (r < 0)
            return r;
    }
    return 0;
}
