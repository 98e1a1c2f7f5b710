/* upload: the body of an upload route (mgmt_server_route_raw), read only after the headers
 * authenticated the caller and streamed into a file, never held in memory (issue #6).
 *
 * libevent 2.1 reads a request's body before the router sees the request, up to one limit
 * per listener, and offers no hook between headers and body for server requests
 * (evhttp_set_newreqcb() came with 2.2; evhttp_request_set_header_cb() and _chunked_cb()
 * need the request object, which 2.1 hands out only once the body is in). So this file
 * watches the decrypted bytes of each connection before evhttp does: a callback on the TLS
 * bufferevent's input buffer moves every newly read byte into a staging buffer and gives
 * evhttp back what it may see.
 *
 *   HEAD --(a head that is not an upload)--> PASS (its body, Content-Length bytes) --> HEAD
 *   HEAD --(an upload's head)--> AUTH (reading paused; mgmt__authenticate() and the role)
 *   AUTH --(refused: 401/403/411/413, or no file)--> DONE   (the head goes to evhttp)
 *   AUTH --(accepted: file opened)--> BODY (bytes to the file) --(all in)--> DONE (head)
 *   BODY --(write error: 507 disk full, else 503)--> DONE (head)
 *   HEAD --(chunked body, head too long or unparseable)--> THROUGH (everything to evhttp)
 *
 * The head given to evhttp for an upload says "Content-Length: 0" and "Connection: close":
 * the router answers it with the verdict this file keeps for it (mgmt__upload_take()).
 *
 * Invariants:
 *  1. No byte of an upload's body is read before the caller is authenticated and its role
 *     allowed; a refused upload's body is never read (reading stays paused until the
 *     connection closes after the reply).
 *  2. What is staged is bounded: a head by HEAD_MAX, a paused connection by one TLS read;
 *     body bytes go to the file as they arrive.
 *  3. evhttp sees the bytes of a connection in order; after an upload's head it sees
 *     nothing more (the connection closes after the reply).
 *  4. The partial file of an upload that did not complete is removed when the connection
 *     goes (the reader is freed with the connection's SSL object); a complete one belongs
 *     to the router once taken, else it is removed likewise.
 *  5. File writes run on the loop (page cache); the handler fsyncs on the worker pool. */
#include "mgmt/mgmt_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/ssl.h>

/* The longest request head scanned (request line and headers, bytes): evhttp's own header
 * limit is 16 KiB; a longer head goes to evhttp unread, which refuses it. */
#define HEAD_MAX (32 * 1024)

enum reader_state { R_HEAD, R_PASS, R_AUTH, R_BODY, R_DONE, R_THROUGH };

struct mgmt__upload_reader {
    struct mgmt_server *srv;
    struct bufferevent *bev;
    struct evbuffer *staged; /* read, not yet given to evhttp nor written */
    enum reader_state state;
    uint64_t left;  /* R_PASS, R_BODY: body bytes still to come */
    size_t scanned; /* R_HEAD: staged bytes searched, that start no end of a head */
    bool busy;      /* our own changes to the input buffer: not new bytes */
    bool in_read;   /* inside a read: the bufferevent runs evhttp's read callback after us */
    bool auth_pending, gone;
    /* the upload of the current head */
    char *head; /* the head for evhttp */
    size_t head_len;
    enum mgmt_method method;
    unsigned roles;
    uint64_t length; /* its Content-Length */
    bool chunked;
    int fd;
    struct mgmt__upload up;
    bool has_verdict;
};

static void reader_free(struct mgmt__upload_reader *rd)
{
    if (rd->fd >= 0)
        (void)io_close(rd->fd);
    /* Invariant 4: whatever file is still ours goes with the connection. */
    if (rd->up.path)
        (void)io_unlink(rd->up.path);
    free(rd->up.path);
    free(rd->head);
    if (rd->staged)
        evbuffer_free(rd->staged);
    free(rd);
}

static void reader_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                           void *argp)
{
    struct mgmt__upload_reader *rd = ptr;

    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    if (!rd)
        return;
    /* An authentication on the worker pool still holds it: its callback frees it. */
    if (rd->auth_pending)
        rd->gone = true;
    else
        reader_free(rd);
}

int mgmt__upload_reader_index_new(void)
{
    return SSL_get_ex_new_index(0, NULL, NULL, NULL, reader_ex_free);
}

/* ---- the verdict ------------------------------------------------------------------------ */

__attribute__((format(printf, 4, 5))) static void refuse(struct mgmt__upload_reader *rd, int status,
                                                         const char *code, const char *fmt, ...)
{
    va_list ap;

    rd->up.status = status;
    rd->up.code = code;
    va_start(ap, fmt);
    (void)vsnprintf(rd->up.message, sizeof(rd->up.message), fmt, ap);
    va_end(ap);
    if (rd->fd >= 0)
        (void)io_close(rd->fd);
    rd->fd = -1;
    if (rd->up.path)
        (void)io_unlink(rd->up.path);
    free(rd->up.path);
    rd->up.path = NULL;
}

/* Gives evhttp the upload's head; the router finds the verdict with it (invariant 3). */
static void release_head(struct mgmt__upload_reader *rd)
{
    struct evbuffer *in = bufferevent_get_input(rd->bev);

    rd->has_verdict = true;
    rd->state = R_DONE;
    rd->busy = true;
    (void)evbuffer_add(in, rd->head, rd->head_len);
    rd->busy = false;
    free(rd->head);
    rd->head = NULL;
    /* Invariant 1: nothing more is read from this connection. */
    (void)bufferevent_disable(rd->bev, EV_READ);
    if (!rd->in_read)
        bufferevent_trigger(rd->bev, EV_READ, BEV_OPT_DEFER_CALLBACKS);
}

static int file_open(struct mgmt__upload_reader *rd)
{
    const char *data_dir = mgmt_server_deps(rd->srv)->data_dir;
    unsigned char id[8];
    char dir[4096], hex[17];
    int r;

    if (snprintf(dir, sizeof(dir), "%s/fw/download", data_dir) >= (int)sizeof(dir))
        return -ENAMETOOLONG;
    r = fs_mkdir_p(dir, 0700);
    if (r == 0)
        r = rand_bytes(id, sizeof(id));
    if (r < 0)
        return r;
    hex_encode(id, sizeof(id), hex);
    if (asprintf(&rd->up.path, "%s/upload-%s.kbundle", dir, hex) < 0) {
        rd->up.path = NULL;
        return -ENOMEM;
    }
    r = io_open(rd->up.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (r < 0) {
        free(rd->up.path);
        rd->up.path = NULL;
        return r;
    }
    rd->fd = r;
    return 0;
}

static void refuse_io(struct mgmt__upload_reader *rd, int r)
{
    log_msg(LOG_LEVEL_WARNING, "mgmt: an upload cannot be stored (%s), refusing it", strerror(-r));
    if (r == -ENOSPC || r == -EDQUOT)
        refuse(rd, 507, "insufficient_storage", "the connector's disk is full");
    else
        refuse(rd, 503, "unavailable", "the upload cannot be stored, try again later");
}

/* ---- the state machine ------------------------------------------------------------------ */

static void run(struct mgmt__upload_reader *rd);

/* Writes up to rd->left staged bytes to the file; finishes the upload when all are in. */
static void body_write(struct mgmt__upload_reader *rd)
{
    while (rd->left > 0 && evbuffer_get_length(rd->staged) > 0) {
        struct evbuffer_iovec v;
        size_t n;
        int r;

        if (evbuffer_peek(rd->staged, -1, NULL, &v, 1) < 1)
            break;
        n = v.iov_len < rd->left ? v.iov_len : (size_t)rd->left;
        r = io_pwrite_all(rd->fd, v.iov_base, n, (int64_t)rd->up.size);
        if (r < 0) {
            refuse_io(rd, r);
            release_head(rd);
            return;
        }
        (void)evbuffer_drain(rd->staged, n);
        rd->up.size += n;
        rd->left -= n;
    }
    if (rd->left > 0)
        return;
    (void)io_close(rd->fd);
    rd->fd = -1;
    release_head(rd);
}

static void on_authenticated(const struct mgmt__auth_outcome *o, void *arg)
{
    struct mgmt__upload_reader *rd = arg;
    int r;

    rd->auth_pending = false;
    if (rd->gone) {
        reader_free(rd);
        return;
    }
    if (o->status != 0) {
        refuse(rd, o->status, o->code, "%s", o->message);
    } else if (!(rd->roles & STORE_ROLE_BIT(o->user->role))) {
        refuse(rd, 403, "forbidden", "the role %s may not do this",
               store_role_to_string(o->user->role));
    } else if (rd->chunked) {
        refuse(rd, 411, "length_required", "an upload needs a Content-Length");
    } else if (rd->length > MGMT_UPLOAD_MAX) {
        refuse(rd, 413, "too_large", "the upload exceeds %llu bytes", MGMT_UPLOAD_MAX);
    } else if ((r = file_open(rd)) < 0) {
        refuse_io(rd, r);
    } else {
        (void)str_copy(rd->up.user, sizeof(rd->up.user), o->user->name);
        rd->up.role = o->user->role;
        rd->left = rd->length;
        rd->state = R_BODY;
        (void)bufferevent_enable(rd->bev, EV_READ);
        if (!rd->in_read)
            run(rd);
        return;
    }
    release_head(rd);
}

static enum mgmt_method method_parse(const char *s, bool *ret_has_body)
{
    static const char *const names[MGMT_METHOD_MAX] = {"GET", "PUT", "POST", "DELETE"};

    /* As evhttp_method_may_have_body() of libevent 2.1.12: every method but HEAD and TRACE
     * carries the body its Content-Length announces (GET and DELETE too). */
    *ret_has_body = strcmp(s, "HEAD") != 0 && strcmp(s, "TRACE") != 0;
    for (int m = 0; m < MGMT_METHOD_MAX; m++)
        if (strcmp(s, names[m]) == 0)
            return (enum mgmt_method)m;
    return MGMT_METHOD_MAX;
}

static bool header_is(const char *line, size_t len, const char *name)
{
    size_t n = strlen(name);

    return len > n && line[n] == ':' && strncasecmp(line, name, n) == 0;
}

/* Parses one head (text, NUL-terminated, CRLF lines) into the request line, the headers and
 * the head evhttp gets for an upload (without the body's framing). -EBADMSG if evhttp will
 * have to judge it. */
static int head_parse(struct mgmt__upload_reader *rd, char *text, struct evkeyvalq *headers,
                      char **ret_method, char **ret_target)
{
    char *line = text, *next, *sp1, *sp2;
    struct evbuffer *out = evbuffer_new();
    int r = -EBADMSG;

    if (!out)
        return -ENOMEM;
    while (line[0] == '\r' && line[1] == '\n')
        line += 2;
    next = strstr(line, "\r\n");
    sp1 = next ? memchr(line, ' ', (size_t)(next - line)) : NULL;
    sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(next - sp1 - 1)) : NULL;
    if (!sp2)
        goto out;
    (void)evbuffer_add(out, line, (size_t)(next - line) + 2);
    *sp1 = '\0';
    *sp2 = '\0';
    *ret_method = line;
    *ret_target = sp1 + 1;
    for (line = next + 2; (next = strstr(line, "\r\n")) && next != line; line = next + 2) {
        size_t len = (size_t)(next - line);
        char *colon = memchr(line, ':', len), *value;

        if (!colon || line[0] == ' ' || line[0] == '\t')
            goto out;
        if (!header_is(line, len, "Content-Length") && !header_is(line, len, "Transfer-Encoding") &&
            !header_is(line, len, "Expect") && !header_is(line, len, "Connection"))
            (void)evbuffer_add(out, line, len + 2);
        *next = '\0';
        *colon = '\0';
        for (value = colon + 1; *value == ' ' || *value == '\t'; value++)
            ;
        for (char *e = next; e > value && (e[-1] == ' ' || e[-1] == '\t'); e--)
            e[-1] = '\0';
        if (evhttp_add_header(headers, line, value) < 0)
            goto out;
    }
    (void)evbuffer_add_printf(out, "Content-Length: 0\r\nConnection: close\r\n\r\n");
    rd->head_len = evbuffer_get_length(out);
    free(rd->head);
    rd->head = malloc(rd->head_len);
    if (!rd->head) {
        r = -ENOMEM;
        goto out;
    }
    (void)evbuffer_remove(out, rd->head, rd->head_len);
    r = 0;
out:
    evbuffer_free(out);
    return r;
}

static int length_parse(const char *s, uint64_t *ret)
{
    uint64_t v = 0;

    if (!s || !*s)
        return s ? -EBADMSG : -ENOENT;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
            return -EBADMSG;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *ret = v;
    return 0;
}

/* Looks at the next head: passes it on, or starts an upload. false: wait for more bytes. */
static bool head_next(struct mgmt__upload_reader *rd, struct evbuffer *in)
{
    struct evbuffer_ptr end, from;
    struct evkeyvalq headers;
    struct evhttp_uri *uri = NULL;
    const char *te, *path;
    char *text = NULL, *method_s = NULL, *target = NULL;
    size_t len;
    bool has_body = false;
    uint64_t length = 0;
    int r;

    /* A head that comes in small reads is searched once, not once per read: from where the
     * last search stopped, in one chain (pulled up when it grows, amortised O(1) per byte). */
    if (evbuffer_ptr_set(rd->staged, &from, rd->scanned, EVBUFFER_PTR_SET) < 0)
        (void)evbuffer_ptr_set(rd->staged, &from, 0, EVBUFFER_PTR_SET);
    end = evbuffer_search(rd->staged, "\r\n\r\n", 4, &from);
    if (end.pos < 0 || end.pos > HEAD_MAX) {
        len = evbuffer_get_length(rd->staged);
        if (end.pos < 0 && len <= HEAD_MAX) {
            rd->scanned = len > 3 ? len - 3 : 0;
            (void)evbuffer_pullup(rd->staged, -1);
            return false;
        }
        rd->state = R_THROUGH;
        return true;
    }
    rd->scanned = 0;
    len = (size_t)end.pos + 4;
    TAILQ_INIT(&headers);
    text = malloc(len + 1);
    if (!text) {
        rd->state = R_THROUGH;
        return true;
    }
    (void)evbuffer_copyout(rd->staged, text, len);
    text[len] = '\0';
    /* A NUL would end the text early and hide the headers after it (a Content-Length among
     * them): evhttp, which reads the head line by line, judges such a head. */
    r = memchr(text, '\0', len) ? -EBADMSG : head_parse(rd, text, &headers, &method_s, &target);
    if (r == 0) {
        rd->method = method_parse(method_s, &has_body);
        uri = evhttp_uri_parse_with_flags(target, EVHTTP_URI_NONCONFORMANT);
        te = evhttp_find_header(&headers, "Transfer-Encoding");
        rd->chunked = te && strcasecmp(te, "chunked") == 0; /* as evhttp_get_body() */
        r = length_parse(evhttp_find_header(&headers, "Content-Length"), &length);
        if (r == -ENOENT)
            r = 0;
    }
    path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (r == 0 && path && rd->method != MGMT_METHOD_MAX &&
        mgmt__route_upload_roles(rd->srv, rd->method, path, &rd->roles) == 0) {
        /* Invariant 1: the head waits with reading paused until the caller is known. */
        (void)evbuffer_drain(rd->staged, len);
        rd->length = length;
        rd->state = R_AUTH;
        rd->auth_pending = true;
        (void)bufferevent_disable(rd->bev, EV_READ);
        mgmt__authenticate(rd->srv, &headers, rd->method, on_authenticated, rd);
    } else {
        (void)evbuffer_remove_buffer(rd->staged, in, len);
        if (r < 0 || (has_body && rd->chunked)) {
            rd->state = R_THROUGH; /* evhttp judges it; the bodies are its own from here */
        } else if (has_body && length > 0) {
            rd->left = length;
            rd->state = R_PASS;
        }
    }
    if (uri)
        evhttp_uri_free(uri);
    evhttp_clear_headers(&headers);
    free(text);
    return true;
}

/* Moves staged bytes on as the state allows. Runs with rd->busy set. */
static void run_staged(struct mgmt__upload_reader *rd, struct evbuffer *in)
{
    for (;;) {
        size_t avail = evbuffer_get_length(rd->staged);
        size_t n;

        switch (rd->state) {
        case R_HEAD:
            if (avail == 0 || !head_next(rd, in))
                return;
            break;
        case R_PASS:
            n = avail < rd->left ? avail : (size_t)rd->left;
            if (n == 0)
                return;
            (void)evbuffer_remove_buffer(rd->staged, in, n);
            rd->left -= n;
            if (rd->left == 0)
                rd->state = R_HEAD;
            break;
        case R_BODY:
            body_write(rd);
            return;
        case R_THROUGH:
            (void)evbuffer_add_buffer(in, rd->staged);
            return;
        case R_DONE:
            (void)evbuffer_drain(rd->staged, avail);
            return;
        case R_AUTH:
        default:
            return;
        }
    }
}

/* After an authentication that finished outside a read: stage on from where it stopped. */
static void run(struct mgmt__upload_reader *rd)
{
    struct evbuffer *in = bufferevent_get_input(rd->bev);
    size_t before = evbuffer_get_length(in);

    rd->busy = true;
    run_staged(rd, in);
    rd->busy = false;
    if (rd->state != R_DONE && evbuffer_get_length(in) > before)
        bufferevent_trigger(rd->bev, EV_READ, BEV_OPT_DEFER_CALLBACKS);
}

/* The TLS bufferevent decrypted n_added bytes at the end of its input buffer. */
static void on_input(struct evbuffer *in, const struct evbuffer_cb_info *info, void *arg)
{
    struct mgmt__upload_reader *rd = arg;
    size_t len = evbuffer_get_length(in), keep;

    if (rd->busy || info->n_added == 0 || rd->state == R_THROUGH)
        return;
    rd->busy = true;
    rd->in_read = true;
    /* Bytes evhttp has not consumed yet stay in front; the new ones are staged. */
    keep = info->n_added < len ? len - info->n_added : 0;
    if (keep == 0) {
        (void)evbuffer_add_buffer(rd->staged, in);
    } else {
        struct evbuffer *front = evbuffer_new();

        if (front) {
            (void)evbuffer_remove_buffer(in, front, keep);
            (void)evbuffer_add_buffer(rd->staged, in);
            (void)evbuffer_add_buffer(in, front);
            evbuffer_free(front);
        } else {
            /* Out of memory: the order of the bytes cannot be kept, so the connection reads
             * nothing more and times out. */
            rd->state = R_DONE;
        }
    }
    run_staged(rd, in);
    /* Invariant 2: a paused connection stages at most what one read brought. */
    if (rd->state == R_AUTH || rd->state == R_DONE)
        (void)bufferevent_disable(rd->bev, EV_READ);
    rd->in_read = false;
    rd->busy = false;
}

int mgmt__upload_reader_attach(struct mgmt_server *srv, struct bufferevent *bev, SSL *ssl)
{
    struct mgmt__upload_reader *rd = calloc(1, sizeof(*rd));

    if (!rd)
        return -ENOMEM;
    rd->srv = srv;
    rd->bev = bev;
    rd->fd = -1;
    rd->staged = evbuffer_new();
    if (!rd->staged || !SSL_set_ex_data(ssl, mgmt__server_upload_index(srv), rd)) {
        reader_free(rd);
        return -ENOMEM;
    }
    if (!evbuffer_add_cb(bufferevent_get_input(bev), on_input, rd)) {
        (void)SSL_set_ex_data(ssl, mgmt__server_upload_index(srv), NULL);
        reader_free(rd);
        return -ENOMEM;
    }
    return 0;
}

int mgmt__upload_take(struct mgmt_server *srv, SSL *ssl, struct mgmt__upload *ret)
{
    struct mgmt__upload_reader *rd =
        ssl ? SSL_get_ex_data(ssl, mgmt__server_upload_index(srv)) : NULL;

    if (!rd || !rd->has_verdict)
        return -ENOENT;
    *ret = rd->up;
    rd->up.path = NULL;
    rd->has_verdict = false;
    return 0;
}
