/* mgmt: the management side of the connector.
 *  - identity: the device's management key and certificate (generated at first start).
 *  - server: the HTTPS listener with a small router; every request is authenticated (HTTP
 *    Basic against the admin accounts), checked against its route's roles and against the
 *    critical-state gate, then handed to its handler. Other modules (control) add routes.
 *  - auth: password hashing (PBKDF2-HMAC-SHA256, 600,000 iterations, on the worker pool),
 *    the credential cache and the lockout policy.
 *  - routes: status, LEDs, conditions, settings, users, events, the credentials of client
 *    systems (through soap) under /api/v1/.
 *
 * Loop-thread only. */
#ifndef KONN_MGMT_H
#define KONN_MGMT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "state/state.h"
#include "store/store.h"

struct cards;
struct event_base;
struct seclog;
struct soap_server;
struct upd;
struct worker_pool;

/* ---- identity --------------------------------------------------------------------------- */

struct mgmt_identity;

/* Loads DATA/identity/mgmt-key.pem and mgmt-cert.pem, generating both (ECDSA P-256, a
 * self-signed certificate for localhost, 127.0.0.1, ::1, hostname and extra_ip) when absent.
 * extra_ip may be NULL. */
int mgmt_identity_load(const char *data_dir, const char *hostname, const char *extra_ip,
                       struct mgmt_identity **ret_identity);
/* An identity that lives only in memory, for when the stored one cannot be used. */
int mgmt_identity_ephemeral(const char *hostname, struct mgmt_identity **ret_identity);
struct mgmt_identity *mgmt_identity_free(struct mgmt_identity *id);
/* SHA-256 fingerprint of the certificate, as colon-separated upper-case hex. */
const char *mgmt_identity_fingerprint(const struct mgmt_identity *id);

/* ---- accounts --------------------------------------------------------------------------- */

#define MGMT_PASSWORD_MIN 8
#define MGMT_PASSWORD_MAX 128
#define MGMT_INITIAL_ADMIN "admin"

/* At first start (no users), creates the Super-Administrator "admin" with a random password,
 * writes it to DATA/initial-admin-password (mode 0600) and prints it once on stdout.
 * Returns 1 if created, 0 if users already existed. */
int mgmt_accounts_init(struct store *st, const char *data_dir);

/* Hashes a password into the stored record format. Slow by design: call it off the loop. */
int mgmt_password_hash(const char *password, char *ret_record, size_t size);
/* Checks a password against a record. Slow by design. 1 match, 0 mismatch, <0 bad record. */
int mgmt_password_verify(const char *password, const char *record);
/* -EINVAL with a message in ret_msg if the password breaks the rules (length). */
int mgmt_password_check_rules(const char *password, char *ret_msg, size_t msg_size);

/* ---- server and router ------------------------------------------------------------------ */

struct mgmt_deps {
    struct event_base *base;
    struct store *store;
    struct ec_state *ecs;
    struct evt_bus *bus;
    struct led_panel *leds;
    struct worker_pool *workers;
    struct seclog **seclog; /* the security log; *seclog is NULL while it is not open */
    struct seclog **syslog; /* the system log, likewise */
    struct cards **cards;   /* the simulated world; NULL or *cards NULL until bootup opened it */
    /* The LAN interface (client certificates, Basic users); NULL or *soap NULL while no LAN
     * listener is configured. */
    struct soap_server **soap;
    struct upd *upd; /* the updater (slots, install, history); NULL when it could not start */
    const char *data_dir;
    int64_t boot_time_ms; /* wall time the process started */
    int64_t boot_mono_ms; /* clock_mono_ms() when the process started */
};

enum mgmt_method { MGMT_GET, MGMT_PUT, MGMT_POST, MGMT_DELETE, MGMT_METHOD_MAX };

struct mgmt_server;
struct mgmt_request;

typedef void (*mgmt_handler_fn)(struct mgmt_request *req, void *arg);

struct mgmt_server *mgmt_server_new(const struct mgmt_deps *deps, struct mgmt_identity *identity);
struct mgmt_server *mgmt_server_free(struct mgmt_server *srv);

/* Adds a route. pattern is a path whose segments may be "*" (matches one segment, available
 * through mgmt_request_arg()). roles: STORE_ROLE_BIT mask allowed to call it. gate: the
 * TAB_KON_504-01 row the call belongs to, or GATE_OP_MAX for the simulated world, which is not
 * part of the connector and which no critical state stops. mgmt_server_new() registers the
 * built-in /api/v1 routes itself. */
int mgmt_server_route(struct mgmt_server *srv, enum mgmt_method method, const char *pattern,
                      unsigned roles, enum gate_op gate, mgmt_handler_fn fn, void *arg);

/* The largest body an upload route takes (bytes): a firmware bundle. Every other request,
 * and any request before it is authenticated, is held to 64 KiB (docs/management-api.md). */
#define MGMT_UPLOAD_MAX (256ull * 1024 * 1024)

/* Adds an upload route: its body is not JSON but bytes (up to MGMT_UPLOAD_MAX), e.g. a
 * firmware bundle. The body is read only for a caller who authenticated in the headers and
 * whose role the route allows (else 401/403 before any of it is read); it is streamed into a
 * file under DATA/fw/download/ that the handler takes with mgmt_request_upload_take(). The
 * connection closes after the reply. */
int mgmt_server_route_raw(struct mgmt_server *srv, enum mgmt_method method, const char *pattern,
                          unsigned roles, enum gate_op gate, mgmt_handler_fn fn, void *arg);

/* Binds "ADDR:PORT" (port 0 for any) and starts serving. ret_url receives
 * "https://ADDR:PORT" with the bound port. */
int mgmt_server_start(struct mgmt_server *srv, const char *addr_port, char *ret_url,
                      size_t url_size);

const struct mgmt_deps *mgmt_server_deps(const struct mgmt_server *srv);

/* ---- factory reset: the type plate and the hidden button (TIP1-A_4820) ------------------ */

/* The device's type plate, DATA/identity/type-plate.txt: created at first start with a serial
 * number and a random reset credential; it survives the factory reset. */
#define MGMT_RESET_CREDENTIAL_MAX 64
struct mgmt_type_plate {
    char product[64];
    char serial[32];
    char reset_credential[MGMT_RESET_CREDENTIAL_MAX + 1];
};

/* Opens the hidden button: the Unix socket DATA/run/button.sock (mode 0600: whoever can use it
 * stands at the device) on which a factory reset is requested with the type plate's reset
 * credential, for when no administrator can log in. Creates the type plate if absent. The
 * socket is removed by mgmt_server_free(). Protocol: docs/factory-reset.md. */
int mgmt_server_button_start(struct mgmt_server *srv);

/* ---- request (inside a handler) --------------------------------------------------------- */

/* The i-th "*" segment of the route pattern, URL-decoded. NULL if none. */
const char *mgmt_request_arg(const struct mgmt_request *req, size_t i);
/* A query parameter, URL-decoded; NULL if absent. */
const char *mgmt_request_query(const struct mgmt_request *req, const char *key);
/* The parsed JSON body (borrowed), or NULL when the request had none. */
json_t *mgmt_request_body(const struct mgmt_request *req);
const char *mgmt_request_user(const struct mgmt_request *req);
enum store_role mgmt_request_role(const struct mgmt_request *req);
const struct mgmt_deps *mgmt_request_deps(const struct mgmt_request *req);

/* Replies and ends the request. body is stolen. */
void mgmt_reply_json(struct mgmt_request *req, int status, json_t *body);
void mgmt_reply_error(struct mgmt_request *req, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Runs work(arg) on the worker pool, then done(req, arg) on the loop; done replies. Returns 0;
 * or, if the pool refuses, replies 503 at once (ends the stream of a streaming reply), runs
 * neither and returns a negative errno (the caller still owns arg). */
int mgmt_request_offload(struct mgmt_request *req, void (*work)(void *arg),
                         void (*done)(struct mgmt_request *req, void *arg), void *arg);

/* Streaming replies: start, then chunks, then end (which frees the request). A chunk returns
 * -EPIPE once the client has gone; the caller then calls end. more (may be NULL) runs on the
 * loop when the chunk has been handed to the kernel, to produce the next one. */
void mgmt_reply_stream_start(struct mgmt_request *req, const char *content_type);
int mgmt_reply_stream_chunk(struct mgmt_request *req, const void *data, size_t len,
                            void (*more)(struct mgmt_request *req, void *arg), void *arg);
void mgmt_reply_stream_end(struct mgmt_request *req);

/* Takes the file an upload route's body was written to (not yet fsynced): the caller owns
 * the path (malloc'd) and removes the file when done. -ENOENT if it was taken already. */
int mgmt_request_upload_take(struct mgmt_request *req, char **ret_path, uint64_t *ret_size);

/* Reads a required string member of the body; replies 400 and returns NULL if missing. */
const char *mgmt_body_string(struct mgmt_request *req, const char *key);

#endif
