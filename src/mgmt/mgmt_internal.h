/* Declarations shared by the files of src/mgmt/ and their unit tests only. */
#ifndef KONN_MGMT_INTERNAL_H
#define KONN_MGMT_INTERNAL_H

#include "mgmt/mgmt.h"

#include "base/base.h"
#include "events/events.h"

#include <openssl/types.h>

struct evhttp_request;

struct mgmt_identity {
    EVP_PKEY *key;
    X509 *cert;
    char fingerprint[3 * 32 + 1];
};

/* ---- auth (auth.c, lockout.c) ----------------------------------------------------------- */

/* Lockout policy: after this many consecutive failures the account locks for
 * MGMT_LOCK_BASE_MS, doubling with each further failure up to MGMT_LOCK_MAX_MS. */
#define MGMT_LOCK_AFTER 5
#define MGMT_LOCK_BASE_MS (30 * 1000)
#define MGMT_LOCK_MAX_MS (3600 * 1000)
/* How long verified credentials are remembered (ms of connector time). */
#define MGMT_AUTH_CACHE_MS (5 * 60 * 1000)

/* A record to check unknown users against, so that they cost a full derivation and never
 * match (auth.c invariant 3). Loop thread. */
const char *mgmt__password_dummy_record(void);

/* How long the account stays locked after failed_logins consecutive failures (0: not). */
int64_t mgmt__lock_duration_ms(uint32_t failed_logins);

enum mgmt_auth_result {
    MGMT_AUTH_OK,
    MGMT_AUTH_BAD_CREDENTIALS,
    MGMT_AUTH_LOCKED,
    MGMT_AUTH_BUSY, /* the worker pool refused the job: answer 503 */
    MGMT_AUTH_RESULT_MAX
};

struct mgmt_auth;
typedef void (*mgmt_auth_done_fn)(enum mgmt_auth_result result, const struct store_user *user,
                                  int64_t locked_until_ms, void *arg);

struct mgmt_auth *mgmt__auth_new(struct store *st, struct evt_bus *bus,
                                 struct worker_pool *workers);
struct mgmt_auth *mgmt__auth_free(struct mgmt_auth *a);
/* Checks user and password: at once from the cache or a lock, else on the worker pool. done
 * runs exactly once (possibly before this returns). */
void mgmt__auth_check(struct mgmt_auth *a, const char *user, const char *password,
                      mgmt_auth_done_fn done, void *arg);
/* Forgets cached credentials of a user (password change, delete). */
void mgmt__auth_forget(struct mgmt_auth *a, const char *user);

/* ---- server internals used by the route files ------------------------------------------ */

struct mgmt_auth *mgmt__server_auth(struct mgmt_server *srv);
struct mgmt_auth *mgmt__request_auth(const struct mgmt_request *req);

/* A route table row; the route files register theirs with mgmt__routes_add(). */
struct mgmt__route_def {
    enum mgmt_method method;
    const char *pattern;
    unsigned roles;
    enum gate_op gate;
    mgmt_handler_fn fn;
};

int mgmt__routes_add(struct mgmt_server *srv, const struct mgmt__route_def *defs, size_t n,
                     void *arg);

int mgmt__routes_status_add(struct mgmt_server *srv);
int mgmt__routes_settings_add(struct mgmt_server *srv);
int mgmt__routes_users_add(struct mgmt_server *srv);
int mgmt__routes_log_add(struct mgmt_server *srv);
int mgmt__routes_infomodel_add(struct mgmt_server *srv);
int mgmt__routes_clients_add(struct mgmt_server *srv);
int mgmt__routes_update_add(struct mgmt_server *srv);

/* Publishes MGM/ADMINCHANGES (TIP1-A_5005) and logs it; new_value is never a password. */
void mgmt__admin_change(const struct mgmt_deps *d, const char *user, const char *ref_id,
                        const char *new_value);

/* JSON for one setting (used by list, get and set). */
json_t *mgmt__setting_json(struct store *st, const struct setting_def *def);
/* JSON string of a wall time in ISO form, or JSON null for 0. */
json_t *mgmt__time_json(int64_t wall_ms);
/* The LED panel as {"power": "on", ...}. */
json_t *mgmt__leds_json(struct led_panel *leds);

/* ---- web UI (webui.c, session.c; docs/web-ui.md) --------------------------------------- */

/* One file of src/mgmt/webui/, compiled in by embed.cmake (webui_assets.c). */
struct mgmt__webui_asset {
    const char *name; /* "app.js": served at /ui/app.js; "index.html" also at "/" */
    const char *content_type;
    const unsigned char *data;
    size_t size;
    const char *etag; /* quoted, from SHA-256 of the bytes */
};
extern const struct mgmt__webui_asset mgmt__webui_assets[];
extern const size_t mgmt__webui_n_assets;

/* Serves "/", "/ui/..." and "/ui/session" (before the router, without authentication);
 * false if path is none of them. */
bool mgmt__webui_serve(struct mgmt_server *srv, struct evhttp_request *evreq, const char *path,
                       enum mgmt_method method);
/* Replies with body (stolen; may be NULL) and the web UI's security headers; set_cookie may
 * be NULL. */
void mgmt__webui_reply_json(struct evhttp_request *evreq, int status, json_t *body,
                            const char *set_cookie);

/* The web UI's cookie sessions (session.c). */
struct mgmt_sessions;
struct mgmt_sessions *mgmt__sessions_new(struct store *st);
struct mgmt_sessions *mgmt__sessions_free(struct mgmt_sessions *s);
/* Ends every session (factory reset: each also ends by itself once its account changed). */
void mgmt__sessions_end_all(struct mgmt_sessions *s);
size_t mgmt__sessions_count(struct mgmt_sessions *s);
struct mgmt_sessions *mgmt__server_sessions(struct mgmt_server *srv);
/* Authenticates evreq by its session cookie: 1 with the account in ret_user; 0 if it carries
 * no session cookie; -EACCES if the session is unknown, expired or its account changed;
 * -EPERM if state_changing and X-Konn-CSRF is not the session's CSRF token. */
int mgmt__session_check(struct mgmt_sessions *s, struct evhttp_request *evreq, bool state_changing,
                        struct store_user *ret_user);
/* Answers POST (login), GET (who am I) and DELETE (logout) on /ui/session. */
void mgmt__session_serve(struct mgmt_server *srv, struct evhttp_request *evreq,
                         enum mgmt_method method);

#endif
