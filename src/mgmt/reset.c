/* reset: the factory reset (TIP1-A_4820), shared by the management API and the hidden button.
 *
 *   run -> [worker] new admin password and its record; MGM/FACTORYSETTINGS durable in the
 *          security log -> [loop] config.db to delivery state (store_factory_reset), demo
 *          practice, client credentials (soap), new first administrator, sessions end,
 *          MGM/INFOMODEL_CHANGED so the world follows the terminals -> done
 *
 * What is kept (DESIGN.md section 8): DATA/identity (device keys, type plate, LAN client CA),
 * the trust space, the security and system logs, DATA/fw and the simulated world's cards.
 *
 * Invariants:
 *  1. Nothing is wiped before MGM/FACTORYSETTINGS is on disk: the entry that says who reset
 *     the device survives it. If the log cannot take it, nothing changes (-ENOLINK).
 *  2. One reset at a time; a second one while the first runs is -EBUSY.
 *  3. The slow parts (the PBKDF2 derivation, the fsync) run on the worker pool; the wipe runs
 *     on the loop in one go, so no request sees a half-reset configuration.
 *  4. A confirmation token is single-use, bound to the user who asked for it, and expires
 *     after MGMT__RESET_TOKEN_MS of connector time. */
#include "mgmt/mgmt_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seclog/seclog.h"
#include "soap/soap.h"

/* The entry is one small record; the writer's group commit takes a few ms, a busy disk more. */
#define DURABLE_TIMEOUT_MS 5000

struct mgmt__reset {
    struct mgmt_server *srv;
    bool running;
    char token[33];
    char token_user[STORE_USER_NAME_MAX + 1];
    int64_t token_expires_ms;
};

struct job {
    struct mgmt__reset *rs;
    struct seclog *log;
    char user[STORE_USER_NAME_MAX + 1];
    char via[16];
    char password[MGMT__INITIAL_PASSWORD_LEN + 1];
    char record[STORE_USER_HASH_MAX + 1];
    int64_t start_mono_ms;
    int r;
    mgmt__reset_done_fn done;
    void *arg;
};

struct mgmt__reset *mgmt__reset_new(struct mgmt_server *srv)
{
    struct mgmt__reset *rs = calloc(1, sizeof(*rs));

    if (rs)
        rs->srv = srv;
    return rs;
}

struct mgmt__reset *mgmt__reset_free(struct mgmt__reset *rs)
{
    if (rs)
        explicit_bzero(rs, sizeof(*rs));
    free(rs);
    return NULL;
}

int mgmt__reset_token_new(struct mgmt__reset *rs, const char *user, char ret_token[33])
{
    unsigned char raw[16];
    int r = rand_bytes(raw, sizeof(raw));

    if (r < 0)
        return r;
    hex_encode(raw, sizeof(raw), rs->token);
    (void)str_copy(rs->token_user, sizeof(rs->token_user), user);
    rs->token_expires_ms = clock_now_ms() + MGMT__RESET_TOKEN_MS;
    memcpy(ret_token, rs->token, sizeof(rs->token));
    return 0;
}

int mgmt__reset_token_use(struct mgmt__reset *rs, const char *user, const char *token)
{
    bool match = rs->token[0] && strlen(token) == strlen(rs->token) &&
                 mem_equal_ct(token, rs->token, strlen(rs->token)) &&
                 strcmp(user, rs->token_user) == 0;

    if (!match)
        return -EINVAL;
    /* Invariant 4: used or expired, it is gone. */
    rs->token[0] = '\0';
    return clock_now_ms() > rs->token_expires_ms ? -ETIME : 0;
}

static void job_work(void *arg)
{
    struct job *j = arg;
    struct seclog_param params[2] = {{"User", j->user}, {"Via", j->via}};
    struct seclog_entry e = {.severity = SECLOG_SEVERITY_INFO,
                             .type = SECLOG_TYPE_OPERATION,
                             .topic = "MGM/FACTORYSETTINGS",
                             .params = params,
                             .n_params = ARRAY_SIZE(params)};

    j->r = mgmt__initial_password_make(j->password, j->record);
    if (j->r < 0)
        return;
    /* Invariant 1. */
    j->r = j->log ? seclog_append_durable(j->log, &e, DURABLE_TIMEOUT_MS, NULL) : -ENOLINK;
    if (j->r < 0)
        j->r = -ENOLINK;
}

void mgmt__infomodel_changed_all(const struct mgmt_deps *d, const char *change)
{
    struct evt_param params[3] = {{"Kind", "all"}, {"Id", "*"}, {"Change", change}};
    struct evt_event ev = {.topic = "MGM/INFOMODEL_CHANGED",
                           .type = EVT_TYPE_OPERATION,
                           .severity = EVT_SEVERITY_INFO,
                           .params = params,
                           .n_params = ARRAY_SIZE(params)};

    (void)evt_bus_publish(d->bus, &ev);
}

/* Invariant 3: everything below runs on the loop without returning to it. */
static int wipe(struct job *j, struct mgmt__reset_report *rep)
{
    const struct mgmt_deps *d = mgmt_server_deps(j->rs->srv);
    char *path = NULL;
    int r;

    r = store_factory_reset(d->store);
    if (r < 0)
        return log_errno(LOG_LEVEL_ERROR, r, "mgmt: factory reset: config.db is unchanged");
    /* Delivery state is what the first start makes: the demo practice and one administrator. */
    (void)store_infomodel_seed_demo(d->store);
    r = soap_client_credentials_reset(d->soap ? *d->soap : NULL, d->data_dir);
    if (r < 0)
        (void)log_errno(LOG_LEVEL_ERROR, r,
                        "mgmt: factory reset: not every client credential could be removed");
    r = mgmt__initial_admin_add(d->store, d->data_dir, j->password, j->record);
    if (r < 0)
        return log_errno(LOG_LEVEL_ERROR, r, "mgmt: factory reset: no new first administrator");
    mgmt__auth_forget_all(mgmt__server_auth(j->rs->srv));
    mgmt__sessions_end_all(mgmt__server_sessions(j->rs->srv));
    mgmt__infomodel_changed_all(d, "reset");
    path = fs_path_join(d->data_dir, "initial-admin-password");
    (void)str_copy(rep->password_file, sizeof(rep->password_file), path ? path : "");
    free(path);
    return 0;
}

static void job_done(void *arg)
{
    struct job *j = arg;
    struct mgmt__reset_report rep = {0};
    int r = j->r;

    if (r == 0)
        r = wipe(j, &rep);
    else if (r == -ENOLINK)
        log_msg(LOG_LEVEL_ERROR, "mgmt: factory reset refused: the security log cannot record "
                                 "MGM/FACTORYSETTINGS, nothing changed");
    rep.duration_ms = clock_mono_ms() - j->start_mono_ms;
    if (r == 0)
        log_msg(LOG_LEVEL_INFO, "mgmt: factory reset by '%s' (%s) done in %lld ms", j->user, j->via,
                (long long)rep.duration_ms);
    j->rs->running = false;
    j->done(r, &rep, j->arg);
    explicit_bzero(j, sizeof(*j));
    free(j);
}

int mgmt__reset_run(struct mgmt__reset *rs, const char *user, const char *via,
                    mgmt__reset_done_fn done, void *arg)
{
    const struct mgmt_deps *d = mgmt_server_deps(rs->srv);
    struct job *j;
    int r;

    if (rs->running) /* invariant 2 */
        return -EBUSY;
    j = calloc(1, sizeof(*j));
    if (!j)
        return -ENOMEM;
    j->rs = rs;
    j->log = d->seclog ? *d->seclog : NULL;
    (void)str_copy(j->user, sizeof(j->user), user);
    (void)str_copy(j->via, sizeof(j->via), via);
    j->start_mono_ms = clock_mono_ms();
    j->done = done;
    j->arg = arg;
    rs->token[0] = '\0';
    r = worker_pool_submit(d->workers, job_work, job_done, j);
    if (r < 0) {
        free(j);
        return r;
    }
    rs->running = true;
    return 0;
}
