/* button: the hidden reset button, the vendor-specific factory reset path of TIP1-A_4820 that
 * works when no administrator can log in. It is a Unix socket, DATA/run/button.sock, mode 0600
 * in a directory of the daemon's user: only someone at the device (root or the daemon's user)
 * reaches it. A request carries the reset credential from the type plate
 * (DATA/identity/type-plate.txt); the reset itself is reset.c's.
 *
 * Protocol: the client sends one line of JSON, {"op": "factory-reset", "credential": "..."},
 * at most BUTTON_LINE_MAX bytes; the daemon answers one line of JSON and closes:
 *   {"ok": true, "new_admin_password_file": "...", "admin_user": "admin", "duration_ms": N}
 *   {"ok": false, "error": "bad_credential" | "locked" | "busy" | "bad_request" | "failed",
 *    "message": "..."}
 *
 * Invariants:
 *  1. A wrong credential is refused, counted, and written to the security log
 *     (MGM/BUTTON_RESET_REFUSED, Security, Warning). After BUTTON_FREE_FAILURES consecutive
 *     failures every request is refused until a back-off of connector time has passed
 *     (BUTTON_LOCK_BASE_MS, doubling, at most BUTTON_LOCK_MAX_MS), even the right one.
 *  2. The credential is compared in constant time and never logged.
 *  3. The socket file is created with mode 0600 before it listens, and removed when the
 *     button closes. */
#include "mgmt/mgmt_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

/* A request is a credential and a word: 1 KiB is plenty and caps abuse. */
#define BUTTON_LINE_MAX 1024
#define BUTTON_FREE_FAILURES 3
#define BUTTON_LOCK_BASE_MS (30 * 1000)
#define BUTTON_LOCK_MAX_MS (3600 * 1000)
/* A client that says nothing is dropped after this many seconds. */
#define BUTTON_TIMEOUT_S 30

struct mgmt__button {
    struct mgmt_server *srv;
    struct evconnlistener *listener;
    char *path;
    struct mgmt_type_plate plate;
    uint32_t failures;
    int64_t locked_until_ms;
};

struct conn {
    struct mgmt__button *b;
    struct bufferevent *bev; /* NULL once the client has gone while a reset runs */
    bool resetting;
};

static void conn_free(struct conn *c)
{
    if (c->bev)
        bufferevent_free(c->bev);
    free(c);
}

static void on_flushed(struct bufferevent *bev, void *arg)
{
    if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        conn_free(arg);
}

/* The client went away before the answer was written. */
static void on_gone(struct bufferevent *bev, short what, void *arg)
{
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
        conn_free(arg);
}

/* Sends the answer and closes once it is written. body is stolen. */
static void answer(struct conn *c, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

    json_decref(body);
    if (!c->bev || !text) {
        free(text);
        conn_free(c);
        return;
    }
    (void)bufferevent_write(c->bev, text, strlen(text));
    (void)bufferevent_write(c->bev, "\n", 1);
    free(text);
    bufferevent_setcb(c->bev, NULL, on_flushed, on_gone, c);
    (void)bufferevent_disable(c->bev, EV_READ);
}

static void refuse(struct conn *c, const char *code, const char *message)
{
    answer(c, json_pack("{s:b,s:s,s:s}", "ok", 0, "error", code, "message", message));
}

static void publish_refused(struct mgmt__button *b, const char *reason)
{
    char count[16];
    struct evt_param params[2] = {{"Reason", reason}, {"Failures", count}};
    struct evt_event ev = {.topic = "MGM/BUTTON_RESET_REFUSED",
                           .type = EVT_TYPE_SECURITY,
                           .severity = EVT_SEVERITY_WARNING,
                           .params = params,
                           .n_params = ARRAY_SIZE(params)};

    (void)snprintf(count, sizeof(count), "%u", (unsigned)b->failures);
    (void)evt_bus_publish(mgmt_server_deps(b->srv)->bus, &ev);
    log_msg(LOG_LEVEL_WARNING, "mgmt: hidden button: reset refused (%s, %u failure(s) in a row)",
            reason, (unsigned)b->failures);
}

static void on_reset_done(int r, const struct mgmt__reset_report *rep, void *arg)
{
    struct conn *c = arg;

    c->resetting = false;
    if (r == -ENOLINK)
        refuse(c, "failed",
               "the security log cannot record the reset now, nothing was changed; try again");
    else if (r < 0)
        refuse(c, "failed", "the configuration could not be reset");
    else
        answer(c, json_pack("{s:b,s:s,s:s,s:I}", "ok", 1, "new_admin_password_file",
                            rep->password_file, "admin_user", MGMT_INITIAL_ADMIN, "duration_ms",
                            (json_int_t)rep->duration_ms));
}

static bool credential_ok(const struct mgmt__button *b, const char *given)
{
    size_t n = strlen(b->plate.reset_credential);

    /* Invariant 2: the length is no secret (it is printed on every plate alike). */
    return strlen(given) == n && mem_equal_ct(given, b->plate.reset_credential, n);
}

static void handle(struct conn *c, const char *line, size_t len)
{
    struct mgmt__button *b = c->b;
    json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
    const char *op = json_string_value(json_object_get(req, "op"));
    const char *cred = json_string_value(json_object_get(req, "credential"));
    char msg[160], until[32];
    int r;

    if (!op || strcmp(op, "factory-reset") != 0 || !cred) {
        refuse(c, "bad_request",
               "send {\"op\": \"factory-reset\", \"credential\": \"...\"} on one line");
        goto out;
    }
    if (b->locked_until_ms > clock_now_ms()) { /* invariant 1 */
        (void)snprintf(msg, sizeof(msg), "too many wrong credentials, locked until %s",
                       clock_format_iso(b->locked_until_ms, until, sizeof(until)));
        publish_refused(b, "locked");
        refuse(c, "locked", msg);
        goto out;
    }
    if (!credential_ok(b, cred)) {
        b->failures++;
        if (b->failures >= BUTTON_FREE_FAILURES) {
            uint32_t shift = b->failures - BUTTON_FREE_FAILURES;
            int64_t lock = shift >= 7 ? BUTTON_LOCK_MAX_MS : BUTTON_LOCK_BASE_MS << shift;

            b->locked_until_ms =
                clock_now_ms() + (lock > BUTTON_LOCK_MAX_MS ? BUTTON_LOCK_MAX_MS : lock);
        }
        publish_refused(b, "wrong credential");
        refuse(c, "bad_credential", "the reset credential is not the one on the type plate");
        goto out;
    }
    b->failures = 0;
    r = mgmt__reset_run(mgmt__server_reset(b->srv), "hidden-button", "button", on_reset_done, c);
    if (r == 0) {
        c->resetting = true;
        (void)bufferevent_disable(c->bev, EV_READ);
    } else {
        refuse(c, "busy",
               r == -EBUSY ? "a factory reset is running already"
                           : "the reset could not start, try again");
    }
out:
    json_decref(req);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len = 0;
    char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);

    if (!line) {
        if (evbuffer_get_length(in) > BUTTON_LINE_MAX)
            refuse(c, "bad_request", "the request line is too long");
        return;
    }
    if (len > BUTTON_LINE_MAX)
        refuse(c, "bad_request", "the request line is too long");
    else
        handle(c, line, len);
    explicit_bzero(line, len);
    free(line);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;

    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)))
        return;
    if (c->resetting) { /* on_reset_done frees it */
        bufferevent_free(c->bev);
        c->bev = NULL;
        return;
    }
    conn_free(c);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                      void *arg)
{
    struct mgmt__button *b = arg;
    struct timeval tv = {BUTTON_TIMEOUT_S, 0};
    struct conn *c = calloc(1, sizeof(*c));

    if (c)
        c->bev = bufferevent_socket_new(evconnlistener_get_base(l), fd, BEV_OPT_CLOSE_ON_FREE);
    if (!c || !c->bev) {
        free(c);
        (void)close(fd);
        return;
    }
    c->b = b;
    bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
    bufferevent_set_timeouts(c->bev, &tv, &tv);
    (void)bufferevent_enable(c->bev, EV_READ);
}

struct mgmt__button *mgmt__button_free(struct mgmt__button *b)
{
    if (!b)
        return NULL;
    if (b->listener) {
        evconnlistener_free(b->listener);
        (void)unlink(b->path); /* invariant 3 */
    }
    free(b->path);
    explicit_bzero(&b->plate, sizeof(b->plate));
    free(b);
    return NULL;
}

/* Invariant 3: bind, make the file 0600, only then listen. */
static int open_socket(const char *path, evutil_socket_t *ret_fd)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd, r;

    if (strlen(path) >= sizeof(sun.sun_path))
        return -ENAMETOOLONG;
    memcpy(sun.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    /* A socket file left by a run that was killed. */
    if (unlink(path) < 0 && errno != ENOENT) {
        r = -errno;
        goto fail;
    }
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || chmod(path, 0600) < 0) {
        r = -errno;
        goto fail;
    }
    *ret_fd = fd;
    return 0;
fail:
    (void)close(fd);
    return r;
}

int mgmt__button_open(struct mgmt_server *srv, struct mgmt__button **ret_button)
{
    const struct mgmt_deps *d = mgmt_server_deps(srv);
    struct mgmt__button *b = calloc(1, sizeof(*b));
    evutil_socket_t fd = -1;
    int r = -ENOMEM;

    if (!b)
        return -ENOMEM;
    b->srv = srv;
    b->path = fs_path_join(d->data_dir, "run/button.sock");
    if (!b->path)
        goto fail;
    r = mgmt__type_plate_load(d->data_dir, &b->plate);
    if (r < 0) {
        (void)log_errno(LOG_LEVEL_ERROR, r, "mgmt: the type plate cannot be read");
        goto fail;
    }
    r = open_socket(b->path, &fd);
    if (r < 0) {
        (void)log_errno(LOG_LEVEL_ERROR, r, "mgmt: the hidden button '%s' cannot be opened",
                        b->path);
        goto fail;
    }
    b->listener = evconnlistener_new(d->base, on_accept, b, LEV_OPT_CLOSE_ON_FREE, 4, fd);
    if (!b->listener) {
        (void)close(fd);
        (void)unlink(b->path);
        r = -EIO;
        goto fail;
    }
    *ret_button = b;
    return 0;
fail:
    mgmt__button_free(b);
    return r;
}
