/* session: cookie sessions for the web UI, beside HTTP Basic (docs/web-ui.md).
 *
 *   POST   /ui/session {"user", "password"} -> mgmt__auth_check (the same lockout, cache and
 *          MGM/LOGIN events as every Basic login) -> 200 {"user", "role", "csrf"} + cookie
 *   GET    /ui/session -> the same for the cookie's session, or 401
 *   DELETE /ui/session -> ends the session and clears the cookie
 *
 * The cookie is "konn_session=<64 hex>; Path=/; Secure; HttpOnly; SameSite=Strict". A request
 * to the router (/api/v1, /control/v1) without an Authorization header is authenticated by it
 * (server.c). The TIP1-A_4996 login answer and the logout record stay where they are
 * (POST and DELETE /api/v1/session, routes_log.c): the page calls them with its cookie.
 *
 * Invariants:
 *  1. The table holds SHA-256 of each token, never the token; lookups compare in constant
 *     time.
 *  2. A session is bound to its account as it was at login (password record and creation
 *     time): a new password, a deleted account or a factory reset (which makes a new admin)
 *     ends it at its next request.
 *  3. A PUT, POST or DELETE authenticated by the cookie carries X-Konn-CSRF equal to the
 *     session's CSRF token, a second secret the page learns from a JSON answer that no other
 *     origin can read. The login carries X-Konn-CSRF too (any value): a cross-origin page
 *     cannot send that header without a CORS preflight, which this server never grants.
 *  4. A session ends SESSION_IDLE_MS after its last request or SESSION_MAX_MS after its login
 *     (monotonic time); at most SESSIONS_MAX live at once, a new login evicts the oldest. */
#include "mgmt/mgmt_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <openssl/sha.h>

/* An admin UI tab left open polls every 2 s; 15 min without a request means nobody is there. */
#define SESSION_IDLE_MS (15 * 60 * 1000)
/* A working day: after that even an active session logs in again. */
#define SESSION_MAX_MS (8 * 3600 * 1000)
/* Administrators are few; 64 leaves room for several browsers each. */
#define SESSIONS_MAX 64
#define TOKEN_LEN 32 /* bytes of randomness in a token and in a CSRF token */
#define TOKEN_HEX (2 * TOKEN_LEN)
#define COOKIE_NAME "konn_session"
#define COOKIE_ATTRS "Path=/; Secure; HttpOnly; SameSite=Strict"

struct session {
    bool used;
    unsigned char token_digest[SHA256_DIGEST_LENGTH];
    char csrf[TOKEN_HEX + 1];
    char user[STORE_USER_NAME_MAX + 1];
    unsigned char record_digest[SHA256_DIGEST_LENGTH]; /* the password record at login */
    int64_t account_created_ms;
    int64_t login_mono_ms;
    int64_t last_mono_ms;
};

struct mgmt_sessions {
    struct store *store;
    struct session table[SESSIONS_MAX];
};

struct mgmt_sessions *mgmt__sessions_new(struct store *st)
{
    struct mgmt_sessions *s = calloc(1, sizeof(*s));

    if (s)
        s->store = st;
    return s;
}

struct mgmt_sessions *mgmt__sessions_free(struct mgmt_sessions *s)
{
    if (s) {
        explicit_bzero(s, sizeof(*s));
        free(s);
    }
    return NULL;
}

static void session_end(struct session *se)
{
    explicit_bzero(se, sizeof(*se));
}

void mgmt__sessions_end_all(struct mgmt_sessions *s)
{
    for (size_t i = 0; i < SESSIONS_MAX; i++)
        session_end(&s->table[i]);
}

size_t mgmt__sessions_count(struct mgmt_sessions *s)
{
    size_t n = 0;

    for (size_t i = 0; i < SESSIONS_MAX; i++)
        n += s->table[i].used;
    return n;
}

static const char *header_of(struct evhttp_request *evreq, const char *name)
{
    return evhttp_find_header(evhttp_request_get_input_headers(evreq), name);
}

/* The value of the konn_session cookie in a Cookie header (may be NULL) if it is 64 hex
 * digits, copied into out. */
static bool cookie_token(const char *h, char out[TOKEN_HEX + 1])
{
    const char *p = h;
    size_t n = strlen(COOKIE_NAME);

    while (p && *p) {
        while (*p == ' ' || *p == ';')
            p++;
        if (strncmp(p, COOKIE_NAME, n) == 0 && p[n] == '=') {
            size_t len = strcspn(p + n + 1, "; ");

            if (len != TOKEN_HEX || strspn(p + n + 1, "0123456789abcdef") < TOKEN_HEX)
                return false;
            memcpy(out, p + n + 1, TOKEN_HEX);
            out[TOKEN_HEX] = '\0';
            return true;
        }
        p = strchr(p, ';');
    }
    return false;
}

static struct session *find_live(struct mgmt_sessions *s, const char *token)
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    struct session *found = NULL;
    int64_t now = clock_mono_ms();

    (void)SHA256((const unsigned char *)token, strlen(token), d);
    /* Every slot is compared, so the time does not tell which one matched. */
    for (size_t i = 0; i < SESSIONS_MAX; i++) {
        struct session *se = &s->table[i];

        if (se->used && mem_equal_ct(se->token_digest, d, sizeof(d)))
            found = se;
    }
    if (found && (now - found->last_mono_ms > SESSION_IDLE_MS ||
                  now - found->login_mono_ms > SESSION_MAX_MS)) {
        session_end(found);
        found = NULL;
    }
    return found;
}

/* Invariant 2: the account must still be the one that logged in. */
static bool account_unchanged(struct mgmt_sessions *s, const struct session *se,
                              struct store_user *ret_user)
{
    unsigned char d[SHA256_DIGEST_LENGTH];

    if (store_user_get(s->store, se->user, ret_user) < 0)
        return false;
    (void)SHA256((const unsigned char *)ret_user->pwhash, strlen(ret_user->pwhash), d);
    return mem_equal_ct(d, se->record_digest, sizeof(d)) &&
           ret_user->created_ms == se->account_created_ms;
}

int mgmt__session_check(struct mgmt_sessions *s, const char *cookie, const char *csrf,
                        bool state_changing, struct store_user *ret_user)
{
    char token[TOKEN_HEX + 1];
    struct session *se;
    struct store_user u;

    if (!cookie_token(cookie, token))
        return 0;
    se = find_live(s, token);
    explicit_bzero(token, sizeof(token));
    if (!se)
        return -EACCES;
    if (!account_unchanged(s, se, &u)) {
        session_end(se);
        return -EACCES;
    }
    if (state_changing &&
        (!csrf || strlen(csrf) != TOKEN_HEX || !mem_equal_ct(csrf, se->csrf, TOKEN_HEX)))
        return -EPERM;
    se->last_mono_ms = clock_mono_ms();
    *ret_user = u;
    return 1;
}

/* ---- /ui/session ------------------------------------------------------------------------ */

static json_t *error_body(int status, const char *code, const char *msg)
{
    return json_pack("{s:{s:i,s:s,s:s}}", "error", "status", status, "code", code, "message", msg);
}

/* A new session for u; writes its token into ret_token. */
static struct session *session_new(struct mgmt_sessions *s, const struct store_user *u,
                                   char ret_token[TOKEN_HEX + 1])
{
    unsigned char raw[TOKEN_LEN];
    struct session *se = NULL;

    for (size_t i = 0; i < SESSIONS_MAX && !se; i++) {
        if (!s->table[i].used)
            se = &s->table[i];
    }
    if (!se) {
        /* Invariant 4: the oldest login goes. */
        se = &s->table[0];
        for (size_t i = 1; i < SESSIONS_MAX; i++) {
            if (s->table[i].login_mono_ms < se->login_mono_ms)
                se = &s->table[i];
        }
    }
    session_end(se);
    if (rand_bytes(raw, sizeof(raw)) < 0)
        return NULL;
    hex_encode(raw, sizeof(raw), ret_token);
    (void)SHA256((const unsigned char *)ret_token, TOKEN_HEX, se->token_digest);
    if (rand_bytes(raw, sizeof(raw)) < 0) {
        session_end(se);
        return NULL;
    }
    hex_encode(raw, sizeof(raw), se->csrf);
    explicit_bzero(raw, sizeof(raw));
    (void)str_copy(se->user, sizeof(se->user), u->name);
    (void)SHA256((const unsigned char *)u->pwhash, strlen(u->pwhash), se->record_digest);
    se->account_created_ms = u->created_ms;
    se->login_mono_ms = se->last_mono_ms = clock_mono_ms();
    se->used = true;
    return se;
}

int mgmt__sessions_add(struct mgmt_sessions *s, const struct store_user *u,
                       char ret_token[TOKEN_HEX + 1], char ret_csrf[TOKEN_HEX + 1])
{
    struct session *se = session_new(s, u, ret_token);

    if (!se)
        return -EIO;
    memcpy(ret_csrf, se->csrf, TOKEN_HEX + 1);
    return 0;
}

static json_t *session_json(const struct session *se, const struct store_user *u)
{
    return json_pack("{s:s,s:s,s:s,s:i}", "user", u->name, "role", store_role_to_string(u->role),
                     "csrf", se->csrf, "idle_timeout_s", SESSION_IDLE_MS / 1000);
}

struct login {
    struct mgmt_sessions *sessions;
    struct evhttp_request *evreq; /* NULL once the connection is gone */
    char user[STORE_USER_NAME_MAX + 1];
};

static void on_login_close(struct evhttp_connection *evcon, void *arg)
{
    struct login *l = arg;

    l->evreq = NULL;
}

static void reply_locked(struct evhttp_request *evreq, int64_t locked_until_ms)
{
    char until[32], msg[160];
    int64_t left_s = (locked_until_ms - clock_now_ms() + 999) / 1000;
    json_t *body;

    (void)snprintf(msg, sizeof(msg),
                   "the account is locked after repeated failed logins until %s; try again in "
                   "%lld s",
                   clock_format_iso(locked_until_ms, until, sizeof(until)),
                   (long long)(left_s > 0 ? left_s : 1));
    body = error_body(401, "locked", msg);
    json_object_set_new(json_object_get(body, "error"), "locked_until",
                        mgmt__time_json(locked_until_ms));
    json_object_set_new(json_object_get(body, "error"), "retry_after_s",
                        json_integer(left_s > 0 ? left_s : 1));
    mgmt__webui_reply_json(evreq, 401, body, NULL);
}

static void on_login_done(enum mgmt_auth_result result, const struct store_user *user,
                          int64_t locked_until_ms, void *arg)
{
    struct login *l = arg;
    struct store_user now;
    struct session *se;
    char token[TOKEN_HEX + 1], cookie[TOKEN_HEX + 128];

    if (!l->evreq)
        goto out;
    evhttp_connection_set_closecb(evhttp_request_get_connection(l->evreq), NULL, NULL);
    switch (result) {
    case MGMT_AUTH_OK:
        se = session_new(l->sessions, user, token);
        if (!se) {
            mgmt__webui_reply_json(l->evreq, 503,
                                   error_body(503, "busy", "no session could be made, try again"),
                                   NULL);
            break;
        }
        (void)snprintf(cookie, sizeof(cookie), COOKIE_NAME "=%s; " COOKIE_ATTRS, token);
        explicit_bzero(token, sizeof(token));
        mgmt__webui_reply_json(l->evreq, 200, session_json(se, user), cookie);
        explicit_bzero(cookie, sizeof(cookie));
        break;
    case MGMT_AUTH_LOCKED:
        reply_locked(l->evreq, locked_until_ms);
        break;
    case MGMT_AUTH_BUSY:
        mgmt__webui_reply_json(l->evreq, 503,
                               error_body(503, "busy", "too many logins at once, try again"), NULL);
        break;
    default:
        /* The failure that locks the account says so at once, not only at the next try. */
        if (store_user_get(l->sessions->store, l->user, &now) == 0 &&
            now.locked_until_ms > clock_now_ms()) {
            reply_locked(l->evreq, now.locked_until_ms);
            break;
        }
        mgmt__webui_reply_json(
            l->evreq, 401, error_body(401, "bad_credentials", "wrong user name or password"), NULL);
        break;
    }
out:
    free(l);
}

static void post_login(struct mgmt_server *srv, struct evhttp_request *evreq)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(evreq);
    size_t len = evbuffer_get_length(in);
    json_t *body = NULL, *user, *password;
    struct login *l = NULL;

    if (!header_of(evreq, "X-Konn-CSRF")) {
        mgmt__webui_reply_json(
            evreq, 403, error_body(403, "csrf", "a login needs the X-Konn-CSRF header"), NULL);
        return;
    }
    if (len > 0)
        body = json_loadb((const char *)evbuffer_pullup(in, -1), len, 0, NULL);
    user = json_object_get(body, "user");
    password = json_object_get(body, "password");
    if (!json_is_string(user) || !json_is_string(password)) {
        mgmt__webui_reply_json(
            evreq, 400,
            error_body(400, "bad_request", "the body needs string members 'user' and 'password'"),
            NULL);
        goto out;
    }
    l = calloc(1, sizeof(*l));
    if (!l) {
        mgmt__webui_reply_json(evreq, 503, error_body(503, "busy", "out of memory"), NULL);
        goto out;
    }
    l->sessions = mgmt__server_sessions(srv);
    l->evreq = evreq;
    (void)str_copy(l->user, sizeof(l->user), json_string_value(user));
    evhttp_connection_set_closecb(evhttp_request_get_connection(evreq), on_login_close, l);
    /* done runs exactly once and frees l (auth.c invariant 1). */
    mgmt__auth_check(mgmt__server_auth(srv), json_string_value(user), json_string_value(password),
                     on_login_done, l);
out:
    json_decref(body);
}

static void get_current(struct mgmt_server *srv, struct evhttp_request *evreq)
{
    struct mgmt_sessions *s = mgmt__server_sessions(srv);
    char token[TOKEN_HEX + 1];
    struct session *se =
        cookie_token(header_of(evreq, "Cookie"), token) ? find_live(s, token) : NULL;
    struct store_user u;

    explicit_bzero(token, sizeof(token));
    if (se && !account_unchanged(s, se, &u)) {
        session_end(se);
        se = NULL;
    }
    if (!se) {
        mgmt__webui_reply_json(evreq, 401, error_body(401, "no_session", "not logged in"), NULL);
        return;
    }
    se->last_mono_ms = clock_mono_ms();
    mgmt__webui_reply_json(evreq, 200, session_json(se, &u), NULL);
}

static void delete_current(struct mgmt_server *srv, struct evhttp_request *evreq)
{
    struct mgmt_sessions *s = mgmt__server_sessions(srv);
    char token[TOKEN_HEX + 1];
    struct session *se =
        cookie_token(header_of(evreq, "Cookie"), token) ? find_live(s, token) : NULL;
    const char *csrf = header_of(evreq, "X-Konn-CSRF");

    explicit_bzero(token, sizeof(token));
    /* Invariant 3: another origin must not log the admin out either. */
    if (se && (!csrf || strlen(csrf) != TOKEN_HEX || !mem_equal_ct(csrf, se->csrf, TOKEN_HEX))) {
        mgmt__webui_reply_json(
            evreq, 403, error_body(403, "csrf", "the request lacks the session's CSRF token"),
            NULL);
        return;
    }
    if (se)
        session_end(se);
    mgmt__webui_reply_json(evreq, 200, json_pack("{s:b}", "logged_out", 1),
                           COOKIE_NAME "=; Max-Age=0; " COOKIE_ATTRS);
}

void mgmt__session_serve(struct mgmt_server *srv, struct evhttp_request *evreq,
                         enum mgmt_method method)
{
    switch (method) {
    case MGMT_POST:
        post_login(srv, evreq);
        return;
    case MGMT_GET:
        get_current(srv, evreq);
        return;
    case MGMT_DELETE:
        delete_current(srv, evreq);
        return;
    default:
        mgmt__webui_reply_json(
            evreq, 405,
            error_body(405, "method_not_allowed", "use POST, GET or DELETE on /ui/session"), NULL);
        return;
    }
}
