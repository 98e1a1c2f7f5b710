/* Declarations shared by the files of src/mgmt/ and their unit tests only. */
#ifndef KONN_MGMT_INTERNAL_H
#define KONN_MGMT_INTERNAL_H

#include "mgmt/mgmt.h"

#include "base/base.h"
#include "events/events.h"

#include <openssl/types.h>

struct bufferevent;
struct evhttp_request;
struct evkeyvalq;

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

/* Forgets every cached credential (factory reset: every session ends). */
void mgmt__auth_forget_all(struct mgmt_auth *a);

/* ---- the first administrator (password.c) ----------------------------------------------- */

#define MGMT__INITIAL_PASSWORD_LEN 20

/* A random initial password and its record. Slow (one derivation): off the loop. */
int mgmt__initial_password_make(char ret_password[MGMT__INITIAL_PASSWORD_LEN + 1],
                                char ret_record[STORE_USER_HASH_MAX + 1]);
/* Writes DATA/initial-admin-password (mode 0600) first, then adds the Super-Administrator
 * "admin" with record, and prints the password once on stdout. */
int mgmt__initial_admin_add(struct store *st, const char *data_dir, const char *password,
                            const char *record);

/* ---- factory reset (reset.c) ------------------------------------------------------------ */

struct mgmt__reset;

/* What a finished reset reports. */
struct mgmt__reset_report {
    int64_t duration_ms;      /* from the request to the delivery state, connector monotonic */
    char password_file[4096]; /* DATA/initial-admin-password */
};

/* done runs exactly once on the loop when mgmt__reset_run() returned 0: r is 0, or -EIO
 * (config.db could not be reset: nothing changed), -ENOLINK (the security log could not
 * record MGM/FACTORYSETTINGS: nothing changed). */
typedef void (*mgmt__reset_done_fn)(int r, const struct mgmt__reset_report *rep, void *arg);

struct mgmt__reset *mgmt__reset_new(struct mgmt_server *srv);
struct mgmt__reset *mgmt__reset_free(struct mgmt__reset *rs);
/* Runs the factory reset (TIP1-A_4820): user and via ("mgmt-api", "button") go into the
 * MGM/FACTORYSETTINGS entry, written durably before anything is wiped. -EBUSY while another
 * reset runs, -ENOMEM; then done never runs. */
int mgmt__reset_run(struct mgmt__reset *rs, const char *user, const char *via,
                    mgmt__reset_done_fn done, void *arg);
/* Publishes MGM/INFOMODEL_CHANGED for the whole model (Kind all, Id *) with Change change:
 * "reset" after a factory reset, "imported" after a backup import. */
void mgmt__infomodel_changed_all(const struct mgmt_deps *d, const char *change);
/* The confirmation step of the API: a new token for user (replacing the previous one),
 * valid MGMT__RESET_TOKEN_MS of connector time. ret_token holds 33 bytes. */
#define MGMT__RESET_TOKEN_MS (60 * 1000)
int mgmt__reset_token_new(struct mgmt__reset *rs, const char *user, char ret_token[33]);
/* Consumes the token if it is the current one, of user and not expired: 0; else -EINVAL
 * (wrong) or -ETIME (expired). */
int mgmt__reset_token_use(struct mgmt__reset *rs, const char *user, const char *token);

/* ---- the backup file (backup.c; docs/backup-format.md) ---------------------------------- */

/* The largest payload (and ciphertext) a backup may hold: a configuration is kilobytes. */
#define MGMT__BACKUP_MAX (4u * 1024 * 1024)
/* PBKDF2 iterations the connector writes, and the most a reader accepts. */
#define MGMT__BACKUP_ITERATIONS 600000u
#define MGMT__BACKUP_ITERATIONS_MAX 10000000u

/* Who signed a backup, as shown before an import (TIP1-A_4815). */
struct mgmt__backup_signer {
    char subject[256];    /* of the signing certificate, OpenSSL one-line form */
    char fingerprint[97]; /* SHA-256 of that certificate, "AB:CD:..." */
    int64_t signed_ms;    /* the CMS signingTime, wall ms; 0 if absent */
};

/* sign + encrypt, and decrypt + verify. Slow by design (PBKDF2): run them off the loop; they
 * touch only their arguments (thread-safe). Files and payloads are malloc'd for the caller.
 * Errors: -EINVAL bad argument, -EBADMSG not a well-formed backup (header, lengths, CMS),
 * -EKEYREJECTED wrong passphrase or changed ciphertext, -EPROTO signature does not verify,
 * -ENOMEM, -EIO (OpenSSL). max_iterations caps the work a file may ask for. */
int mgmt__backup_seal(const char *json, size_t len, EVP_PKEY *key, X509 *cert,
                      const char *passphrase, uint32_t iterations, uint8_t **ret_file,
                      size_t *ret_len);
int mgmt__backup_open(const uint8_t *file, size_t len, const char *passphrase,
                      uint32_t max_iterations, char **ret_json, size_t *ret_json_len,
                      struct mgmt__backup_signer *ret_signer);
/* The two layers alone, for tests and the fuzz target. */
int mgmt__backup_sign(const char *json, size_t len, EVP_PKEY *key, X509 *cert, uint8_t **ret_der,
                      size_t *ret_len);
int mgmt__backup_verify(const uint8_t *der, size_t len, char **ret_json, size_t *ret_len,
                        struct mgmt__backup_signer *ret_signer);
int mgmt__backup_encrypt(const uint8_t *plain, size_t len, const char *passphrase,
                         uint32_t iterations, uint8_t **ret_file, size_t *ret_len);
int mgmt__backup_decrypt(const uint8_t *file, size_t len, const char *passphrase,
                         uint32_t max_iterations, uint8_t **ret_plain, size_t *ret_len);

/* ---- the backup's payload (backup_payload.c) -------------------------------------------- */

/* A payload checked whole, ready to apply; the members borrow from the payload. */
struct mgmt__backup_plan {
    json_t *settings, *infomodel, *certs, *users; /* certs, users: NULL when absent */
    size_t n_settings, n_entities, n_relations;
};

/* The running configuration as a payload (new reference), with the accounts on request. */
json_t *mgmt__backup_payload_collect(const struct mgmt_deps *d, bool include_users);
/* Checks a payload whole. -EINVAL with the reason in msg. */
int mgmt__backup_plan_check(json_t *payload, struct mgmt__backup_plan *ret_plan, char *msg,
                            size_t size);
/* What an import shows before it applies: signer, time, contents (new reference). */
json_t *mgmt__backup_plan_summary(json_t *payload, const struct mgmt__backup_plan *plan,
                                  const struct mgmt__backup_signer *signer,
                                  const struct mgmt_identity *own);
/* Applies a checked plan on the loop; returns how many client certificates were restored. */
size_t mgmt__backup_plan_apply(struct mgmt_server *srv, const struct mgmt__backup_plan *plan);

/* ---- the hidden button (button.c) ------------------------------------------------------- */

struct mgmt__button;

/* Opens DATA/run/button.sock for srv (reading the type plate, creating it if absent). */
int mgmt__button_open(struct mgmt_server *srv, struct mgmt__button **ret_button);
struct mgmt__button *mgmt__button_free(struct mgmt__button *b);

/* ---- type plate (typeplate.c) ----------------------------------------------------------- */

/* Reads DATA/identity/type-plate.txt, creating it first when absent. */
int mgmt__type_plate_load(const char *data_dir, struct mgmt_type_plate *ret_plate);

/* ---- server internals used by the route files ------------------------------------------ */

struct mgmt__reset *mgmt__server_reset(struct mgmt_server *srv);
/* The device's management identity: key and certificate sign configuration backups. */
const struct mgmt_identity *mgmt__server_identity(const struct mgmt_server *srv);

struct mgmt_auth *mgmt__server_auth(struct mgmt_server *srv);
struct mgmt_auth *mgmt__request_auth(const struct mgmt_request *req);

/* What authenticating a request's headers found. */
struct mgmt__auth_outcome {
    int status;       /* 0: authenticated; else the HTTP status: 401, 403 or 503 */
    const char *code; /* the JSON error code when status != 0 */
    char message[192];
    const struct store_user *user; /* status 0: the account, valid during the callback */
};
typedef void (*mgmt__authenticated_fn)(const struct mgmt__auth_outcome *o, void *arg);

/* The router's authentication of a request by its headers: without an Authorization header
 * the web UI's session cookie (and, when method changes state, its X-Konn-CSRF header), else
 * HTTP Basic through auth.c (possibly on the worker pool). done runs exactly once, possibly
 * before this returns. The role is not checked here. */
void mgmt__authenticate(struct mgmt_server *srv, const struct evkeyvalq *headers,
                        enum mgmt_method method, mgmt__authenticated_fn done, void *arg);

/* The roles an upload route (mgmt_server_route_raw) at method and path allows, or -ENOENT if
 * no upload route matches. */
int mgmt__route_upload_roles(const struct mgmt_server *srv, enum mgmt_method method,
                             const char *path, unsigned *ret_roles);

/* ---- uploads (upload.c) ----------------------------------------------------------------- */

/* An upload route's body as the connection's upload reader left it for the router. */
struct mgmt__upload {
    int status;       /* 0: the body is in path; else the HTTP status to answer */
    const char *code; /* the JSON error code when status != 0 */
    char message[192];
    char *path; /* status 0: the file (malloc'd, owned by whoever holds this) */
    uint64_t size;
    char user[STORE_USER_NAME_MAX + 1];
    enum store_role role;
};

struct mgmt__upload_reader;

/* One per management connection: watches the decrypted bytes of bev (before evhttp reads
 * them) and takes over the body of requests to upload routes. Freed with the connection's
 * SSL object. -ENOMEM. */
int mgmt__upload_reader_attach(struct mgmt_server *srv, struct bufferevent *bev, SSL *ssl);
/* The per-server SSL ex_data slot the readers live in (-1 on failure); call once. */
int mgmt__upload_reader_index_new(void);
/* Moves the upload verdict of the request evhttp has just read on the connection of ssl into
 * ret. -ENOENT if the connection holds none (its body was not read by the upload reader). */
int mgmt__upload_take(struct mgmt_server *srv, SSL *ssl, struct mgmt__upload *ret);
/* The SSL ex_data index of srv's upload readers. */
int mgmt__server_upload_index(const struct mgmt_server *srv);

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
int mgmt__routes_reset_add(struct mgmt_server *srv);
int mgmt__routes_backup_add(struct mgmt_server *srv);

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
/* Authenticates a request by its Cookie header (may be NULL): 1 with the account in ret_user;
 * 0 if it carries no session cookie; -EACCES if the session is unknown, expired or its
 * account changed; -EPERM if state_changing and csrf (the X-Konn-CSRF header, may be NULL) is
 * not the session's CSRF token. */
int mgmt__session_check(struct mgmt_sessions *s, const char *cookie, const char *csrf,
                        bool state_changing, struct store_user *ret_user);
/* A new session for u (after its login): ret_token is the cookie's value, ret_csrf the CSRF
 * token, 64 hex digits each. -EIO if no random bytes could be had. */
int mgmt__sessions_add(struct mgmt_sessions *s, const struct store_user *u, char ret_token[65],
                       char ret_csrf[65]);
/* Answers POST (login), GET (who am I) and DELETE (logout) on /ui/session. */
void mgmt__session_serve(struct mgmt_server *srv, struct evhttp_request *evreq,
                         enum mgmt_method method);

#endif
