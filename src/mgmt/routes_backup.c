/* routes_backup: export and import of the whole configuration (TIP1-A_4814 to TIP1-A_4816).
 *
 *   POST /api/v1/config/export {"include_users": false}
 *       -> {"passphrase", "file_name", "backup_b64", "size", "contains"}
 *   POST /api/v1/config/import {"backup_b64", "passphrase", "confirm": false}
 *       -> what the backup holds, who signed it and when; with "confirm": true it is applied.
 *
 * The payload (docs/backup-format.md): settings, the info model with its card terminals (the
 * terminal pairings), the client certificate list and, on request, the administrator accounts
 * with their password records. backup_payload.c collects, checks and applies it; backup.c
 * seals and opens the file; this file answers the requests.
 *
 * Invariants:
 *  1. The passphrase is made here, returned once and forgotten (TIP1-A_4816: >= 16 random
 *     characters); the connector keeps no copy.
 *  2. Sealing and opening (PBKDF2, CMS) run on the worker pool; collecting and applying run on
 *     the loop.
 *  3. An import is checked whole (every setting value, every id, every relation's ends, every
 *     certificate name) before anything is changed; a payload that fails a check changes
 *     nothing.
 *  4. Export and import are logged as MGM/CONFIG_EXIMPORT (Operation, Info) with the user,
 *     the direction and, for an import, the signer. */
#include "mgmt/mgmt_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#define EXPORT_ROLES                                                                               \
    (STORE_ROLE_BIT(STORE_ROLE_LOCAL_ADMIN) | STORE_ROLE_BIT(STORE_ROLE_SUPER_ADMIN))
#define SUPER STORE_ROLE_BIT(STORE_ROLE_SUPER_ADMIN)
/* 24 characters of rand_password's 32-letter alphabet: 120 bits. */
#define PASSPHRASE_LEN 24

static void publish_eximport(const struct mgmt_deps *d, const char *user, const char *direction,
                             const char *detail)
{
    struct evt_param params[3] = {{"User", user}, {"Direction", direction}, {"Detail", detail}};
    struct evt_event ev = {.topic = "MGM/CONFIG_EXIMPORT",
                           .type = EVT_TYPE_OPERATION,
                           .severity = EVT_SEVERITY_INFO,
                           .params = params,
                           .n_params = ARRAY_SIZE(params)};

    (void)evt_bus_publish(d->bus, &ev);
    log_msg(LOG_LEVEL_INFO, "mgmt: '%s' configuration %s (%s)", user, direction, detail);
}

/* ---- export ----------------------------------------------------------------------------- */

struct export_job {
    const struct mgmt_identity *id;
    char *json;
    char passphrase[PASSPHRASE_LEN + 1];
    uint8_t *file;
    size_t len;
    bool include_users;
    int r;
};

static void export_work(void *arg)
{
    struct export_job *j = arg;

    j->r = rand_password(j->passphrase, PASSPHRASE_LEN);
    if (j->r == 0)
        j->r = mgmt__backup_seal(j->json, strlen(j->json), j->id->key, j->id->cert, j->passphrase,
                                 MGMT__BACKUP_ITERATIONS, &j->file, &j->len);
}

static char *base64_of(const uint8_t *data, size_t len)
{
    size_t out_len = 4 * ((len + 2) / 3) + 1;
    char *out = len <= INT32_MAX / 2 ? malloc(out_len) : NULL;

    if (out)
        (void)EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return out;
}

static void export_done(struct mgmt_request *req, void *arg)
{
    struct export_job *j = arg;
    const struct mgmt_deps *d = mgmt_request_deps(req);
    struct mgmt_type_plate plate = {0};
    char name[128], stamp[32];
    char *b64 = j->r == 0 ? base64_of(j->file, j->len) : NULL;

    if (!b64) {
        mgmt_reply_error(req, 500, "internal", "the backup could not be made");
        goto out;
    }
    (void)mgmt__type_plate_load(d->data_dir, &plate);
    (void)clock_format_iso(clock_now_ms(), stamp, sizeof(stamp));
    for (char *p = stamp; *p; p++)
        if (*p == ':' || *p == '-')
            memmove(p, p + 1, strlen(p));
    (void)snprintf(name, sizeof(name), "konnektord-%s-%s.kbak",
                   plate.serial[0] ? plate.serial : "config", stamp);
    explicit_bzero(&plate, sizeof(plate));
    publish_eximport(d, mgmt_request_user(req), "export",
                     j->include_users ? "with users" : "without users");
    /* Invariant 1: the only copy of the passphrase leaves here. */
    mgmt_reply_json(req, 200,
                    json_pack("{s:s,s:s,s:s,s:I,s:b}", "passphrase", j->passphrase, "file_name",
                              name, "backup_b64", b64, "size", (json_int_t)j->len, "include_users",
                              j->include_users));
out:
    free(b64);
    free(j->file);
    if (j->json)
        explicit_bzero(j->json, strlen(j->json));
    free(j->json);
    explicit_bzero(j, sizeof(*j));
    free(j);
}

static void post_export(struct mgmt_request *req, void *arg)
{
    struct mgmt_server *srv = arg;
    const struct mgmt_deps *d = mgmt_server_deps(srv);
    json_t *body = mgmt_request_body(req);
    json_t *inc = body ? json_object_get(body, "include_users") : NULL;
    struct export_job *j;
    json_t *p;

    if (inc && !json_is_boolean(inc)) {
        mgmt_reply_error(req, 400, "bad_request", "'include_users' must be true or false");
        return;
    }
    /* Password records are user-management data (TAB_KON_655): a Super-Administrator's. */
    if (json_is_true(inc) && mgmt_request_role(req) != STORE_ROLE_SUPER_ADMIN) {
        mgmt_reply_error(req, 403, "forbidden",
                         "only a Super-Administrator exports the administrator accounts");
        return;
    }
    j = calloc(1, sizeof(*j));
    p = j ? mgmt__backup_payload_collect(d, json_is_true(inc)) : NULL;
    if (j && p)
        j->json = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(p);
    if (!j || !j->json) {
        free(j);
        mgmt_reply_error(req, 503, "busy", "out of memory, try again");
        return;
    }
    j->id = mgmt__server_identity(srv);
    j->include_users = json_is_true(inc);
    if (mgmt_request_offload(req, export_work, export_done, j) < 0) {
        free(j->json);
        free(j);
    }
}

/* ---- import ----------------------------------------------------------------------------- */

struct import_job {
    struct mgmt_server *srv;
    uint8_t *file;
    size_t len;
    char *passphrase;
    bool confirm;
    char *json;
    size_t json_len;
    struct mgmt__backup_signer signer;
    int r;
};

static void import_job_free(struct import_job *j)
{
    if (!j)
        return;
    if (j->passphrase)
        explicit_bzero(j->passphrase, strlen(j->passphrase));
    free(j->passphrase);
    free(j->file);
    if (j->json)
        explicit_bzero(j->json, j->json_len);
    free(j->json);
    free(j);
}

static void import_work(void *arg)
{
    struct import_job *j = arg;

    j->r = mgmt__backup_open(j->file, j->len, j->passphrase, MGMT__BACKUP_ITERATIONS_MAX, &j->json,
                             &j->json_len, &j->signer);
}

static void import_done(struct mgmt_request *req, void *arg)
{
    struct import_job *j = arg;
    const struct mgmt_deps *d = mgmt_request_deps(req);
    json_t *p = NULL, *summary;
    struct mgmt__backup_plan pl = {0};
    char msg[256], detail[400];
    size_t certs;

    switch (j->r) {
    case 0:
        break;
    case -EKEYREJECTED:
        mgmt_reply_error(req, 400, "invalid_value",
                         "the passphrase is wrong or the backup was changed after it was made");
        goto out;
    case -EPROTO:
        mgmt_reply_error(req, 400, "invalid_value",
                         "the backup's signature does not verify: it was changed after signing");
        goto out;
    case -EBADMSG:
        mgmt_reply_error(req, 400, "invalid_value",
                         "this is not a konnektord configuration backup, or it is truncated");
        goto out;
    default:
        mgmt_reply_error(req, 500, "internal", "the backup could not be read");
        goto out;
    }
    p = json_loadb(j->json, j->json_len, JSON_REJECT_DUPLICATES, NULL);
    if (mgmt__backup_plan_check(p, &pl, msg, sizeof(msg)) < 0) {
        mgmt_reply_error(req, 400, "invalid_value", "%s", msg);
        goto out;
    }
    summary = mgmt__backup_plan_summary(p, &pl, &j->signer, mgmt__server_identity(j->srv));
    if (!j->confirm) {
        json_object_set_new(summary, "applied", json_false());
        mgmt_reply_json(req, 200, summary);
        goto out;
    }
    certs = mgmt__backup_plan_apply(j->srv, &pl);
    (void)snprintf(detail, sizeof(detail), "signer %s, %zu client certificate(s)%s",
                   j->signer.subject, certs, pl.users ? ", with users" : "");
    publish_eximport(d, mgmt_request_user(req), "import", detail);
    json_object_set_new(summary, "applied", json_true());
    mgmt_reply_json(req, 200, summary);
out:
    json_decref(p);
    import_job_free(j);
}

static void post_import(struct mgmt_request *req, void *arg)
{
    json_t *body = mgmt_request_body(req);
    json_t *confirm = body ? json_object_get(body, "confirm") : NULL;
    const char *b64, *passphrase;
    struct import_job *j;
    size_t b64_len;
    int n;

    if (!(b64 = mgmt_body_string(req, "backup_b64")) ||
        !(passphrase = mgmt_body_string(req, "passphrase")))
        return;
    if (confirm && !json_is_boolean(confirm)) {
        mgmt_reply_error(req, 400, "bad_request", "'confirm' must be true or false");
        return;
    }
    b64_len = strlen(b64);
    if (b64_len == 0 || b64_len % 4 != 0 || b64_len > INT32_MAX) {
        mgmt_reply_error(req, 400, "invalid_value", "'backup_b64' is not base64");
        return;
    }
    j = calloc(1, sizeof(*j));
    if (!j || !(j->file = malloc(b64_len / 4 * 3 + 1)) || !(j->passphrase = strdup(passphrase))) {
        import_job_free(j);
        mgmt_reply_error(req, 503, "busy", "out of memory, try again");
        return;
    }
    n = EVP_DecodeBlock(j->file, (const unsigned char *)b64, (int)b64_len);
    if (n < 0) {
        import_job_free(j);
        mgmt_reply_error(req, 400, "invalid_value", "'backup_b64' is not base64");
        return;
    }
    /* EVP_DecodeBlock counts padding as zero bytes. */
    j->len = (size_t)n - (b64[b64_len - 1] == '=') - (b64_len >= 2 && b64[b64_len - 2] == '=');
    j->srv = arg;
    j->confirm = json_is_true(confirm);
    if (mgmt_request_offload(req, import_work, import_done, j) < 0)
        import_job_free(j);
}

static const struct mgmt__route_def routes[] = {
    {MGMT_POST, "/api/v1/config/export", EXPORT_ROLES, GATE_OP_MGMT_OTHER, post_export},
    {MGMT_POST, "/api/v1/config/import", SUPER, GATE_OP_MGMT_OTHER, post_import},
};

int mgmt__routes_backup_add(struct mgmt_server *srv)
{
    return mgmt__routes_add(srv, routes, ARRAY_SIZE(routes), srv);
}
