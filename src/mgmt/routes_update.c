/* routes_update: the firmware slots, the update history and installing an uploaded bundle
 * (docs/management-api.md, "Update"; the updater is src/update/).
 *
 *   GET  /api/v1/update/slots         active slot, each slot's firmware, tries, good, fallback
 *   GET  /api/v1/update/history       DATA/fw/history.jsonl as an array, newest last
 *   POST /api/v1/update/install-file  body: the bundle's bytes; 202 when installed (the
 *                                     connector restarts), 422 with the gematik code when
 *                                     refused (4183, 4184, 4185), 409 when one runs
 *
 * Invariants:
 *  1. The gate row is GATE_OP_MGMT_UPDATE, which no critical state refuses (TAB_KON_504-01).
 *  2. The body reaches the handler as a file in DATA/fw/download/ (upload.c streams it there
 *     after authenticating the headers); it is fsynced on the worker pool before the install
 *     reads it, and removed after the install (the slot keeps what it needs). */
#include "mgmt/mgmt_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "update/update.h"

#define HISTORY_MAX 1000 /* entries a reply carries at most, the newest */
#define LOCAL (STORE_ROLE_BIT(STORE_ROLE_LOCAL_ADMIN) | STORE_ROLE_BIT(STORE_ROLE_SUPER_ADMIN))

static struct upd *upd_of(struct mgmt_request *req)
{
    struct upd *u = mgmt_request_deps(req)->upd;

    if (!u)
        mgmt_reply_error(req, 503, "unavailable", "the updater is not running");
    return u;
}

static void reply_text_json(struct mgmt_request *req, int status, const char *text)
{
    json_t *body = json_loads(text, 0, NULL);

    if (!body) {
        mgmt_reply_error(req, 500, "internal", "the updater's answer is not JSON");
        return;
    }
    mgmt_reply_json(req, status, body);
}

static void get_slots(struct mgmt_request *req, void *arg)
{
    struct upd *u = upd_of(req);
    char *text = NULL;

    if (!u)
        return;
    if (upd_slots_format(u, &text) < 0) {
        mgmt_reply_error(req, 500, "internal", "out of memory");
        return;
    }
    reply_text_json(req, 200, text);
    free(text);
}

static void get_history(struct mgmt_request *req, void *arg)
{
    const struct mgmt_deps *d = mgmt_request_deps(req);
    char *text = NULL;
    int r = upd_history_read(d->data_dir, HISTORY_MAX, &text);

    if (r < 0) {
        mgmt_reply_error(req, 500, "internal", "the update history cannot be read");
        return;
    }
    reply_text_json(req, 200, text);
    free(text);
}

struct upload {
    struct mgmt_request *req; /* kept alive by mgmt_request_offload() until it replies */
    struct upd *u;
    char *path; /* the body, as upload.c wrote it to DATA/fw/download/ */
    uint64_t size;
    int result;
    char user[STORE_USER_NAME_MAX + 1];
};

static void upload_free(struct upload *up)
{
    if (up->path)
        (void)unlink(up->path);
    free(up->path);
    free(up);
}

/* Worker: the streamed bytes on disk before the install reads them (invariant 2). */
static void upload_sync(void *arg)
{
    struct upload *up = arg;
    int fd = io_open(up->path, O_RDONLY | O_CLOEXEC, 0);

    if (fd < 0) {
        up->result = fd;
        return;
    }
    up->result = io_fsync(fd);
    (void)io_close(fd);
    if (up->result == 0)
        upd_crash_point(up->u, "download");
}

static void install_done(int code, const char *message, void *arg)
{
    struct upload *up = arg;
    json_t *body;

    if (code == 0) {
        body = json_pack("{s:s,s:s}", "status", "installed", "message", message);
        mgmt__admin_change(mgmt_request_deps(up->req), up->user, "FIRMWARE_INSTALL", message);
        mgmt_reply_json(up->req, 202, body);
    } else {
        body = json_pack("{s:{s:i,s:s,s:s,s:i}}", "error", "status", 422, "code",
                         code == 4185   ? "firmware_group"
                         : code == 4183 ? "integrity"
                                        : "refused",
                         "message", message, "gematik_code", code);
        mgmt_reply_json(up->req, 422, body);
    }
    upload_free(up);
}

static void upload_synced(struct mgmt_request *req, void *arg)
{
    struct upload *up = arg;
    struct upd *u = mgmt_request_deps(req)->upd;
    int r = up->result;

    if (r == 0)
        r = upd_install_start(u, up->path, install_done, up);
    if (r == 0)
        return;
    if (r == -EBUSY)
        mgmt_reply_error(req, 409, "busy", "an install is already running");
    else if (r == -ENOSPC || r == -EDQUOT)
        mgmt_reply_error(req, 507, "insufficient_storage", "the connector's disk is full");
    else
        mgmt_reply_error(req, 500, "internal", "the bundle cannot be stored: %s", strerror(-r));
    upload_free(up);
}

static void post_install_file(struct mgmt_request *req, void *arg)
{
    struct upd *u = upd_of(req);
    struct upload *up;

    if (!u)
        return;
    if (upd_install_is_running(u)) {
        mgmt_reply_error(req, 409, "busy", "an install is already running");
        return;
    }
    /* The pause switch stops every install, manual ones too (docs/update-ksr.md). */
    if (upd_paused_get(mgmt_request_deps(req)->data_dir)) {
        mgmt_reply_error(req, 409, "paused",
                         "updates are paused; 'konctl update resume' allows installs again");
        return;
    }
    up = calloc(1, sizeof(*up));
    if (!up || mgmt_request_upload_take(req, &up->path, &up->size) < 0) {
        free(up);
        mgmt_reply_error(req, 503, "busy", "out of memory");
        return;
    }
    if (up->size == 0) {
        upload_free(up);
        mgmt_reply_error(req, 400, "bad_request", "the body must be the bundle's bytes");
        return;
    }
    up->req = req;
    up->u = u;
    (void)str_copy(up->user, sizeof(up->user), mgmt_request_user(req));
    if (mgmt_request_offload(req, upload_sync, upload_synced, up) < 0)
        upload_free(up);
}

int mgmt__routes_update_add(struct mgmt_server *srv)
{
    static const struct mgmt__route_def routes[] = {
        {MGMT_GET, "/api/v1/update/slots", STORE_ROLES_ALL, GATE_OP_MGMT_LOG_VIEW, get_slots},
        {MGMT_GET, "/api/v1/update/history", STORE_ROLES_ALL, GATE_OP_MGMT_LOG_VIEW, get_history},
    };
    int r = mgmt__routes_add(srv, routes, ARRAY_SIZE(routes), NULL);

    if (r == 0)
        r = mgmt_server_route_raw(srv, MGMT_POST, "/api/v1/update/install-file", LOCAL,
                                  GATE_OP_MGMT_UPDATE, post_install_file, NULL);
    return r;
}
