/* Fuzz target for the management listener's upload reader (STYLE.md rule 15; upload.c): the
 * decrypted bytes of one connection, read before anyone is authenticated. The reader sits on a
 * bufferevent pair as in tests/unit/mgmt/test_upload.c, with the router stubbed by the same
 * tests/unit/mgmt/upload_stubs.c (the one upload route is POST /up).
 *
 * The input: byte 0 holds flags (FLAG_*: the authentication refuses, answers later, the user is
 * a Remote-Administrator, evhttp reads between chunks, the router takes the verdict, the disk
 * fills, the connection goes before a late answer); byte 1 seeds the chunk sizes (1 to 2^k
 * bytes, k = byte 1 % 17); the rest is the stream, appended chunk by chunk as the TLS
 * bufferevent would, with the event loop run between chunks. Nothing is appended while reading
 * is disabled (a TLS bufferevent reads nothing then); a late answer comes at that point.
 *
 * Checked, besides ASan and UBSan:
 *  - without an upload, what evhttp got is the stream in order, and what it did not get is
 *    one incomplete head of at most 32 KiB;
 *  - with an upload at offset p, evhttp got the stream up to p, then at most the upload's
 *    rewritten head (ending in "Content-Length: 0", "Connection: close"), never body bytes;
 *  - no file exists while the credentials are checked; a refused upload leaves no file; an
 *    accepted one holds exactly the bytes after its head;
 *  - once the connection is freed, no file is left in fw/download/ unless the router took it.
 *
 * Built twice by tests/fuzz/CMakeLists.txt: with fuzz_main.c to replay the corpus under CTest,
 * and with clang's -fsanitize=fuzzer as a real fuzzer. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "../unit/mgmt/upload_stubs.h"

/* upload.c's HEAD_MAX: the longest head it scans. */
#define UPLOAD_HEAD_MAX (32 * 1024)
#define CLOSE_SUFFIX "Content-Length: 0\r\nConnection: close\r\n\r\n"

enum {
    FLAG_REFUSE = 1 << 0,   /* the authentication answers 401 */
    FLAG_ASYNC = 1 << 1,    /* it answers once reading is paused, not at once */
    FLAG_REMOTE = 1 << 2,   /* the user is a Remote-Administrator: 403 */
    FLAG_CONSUME = 1 << 3,  /* evhttp reads its input after every chunk */
    FLAG_TAKE = 1 << 4,     /* the router takes the verdict at the end */
    FLAG_DISKFULL = 1 << 5, /* one of the first four writes fails with ENOSPC */
    FLAG_GONE = 1 << 6,     /* a pending authentication answers after the connection went */
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct {
    char dir[64];
    char download[128];
    struct event_base *base;
    SSL_CTX *ctx;
} w;

static void world_remove(void)
{
    char fw[96];

    (void)rmdir(w.download);
    (void)snprintf(fw, sizeof(fw), "%s/fw", w.dir);
    (void)rmdir(fw);
    (void)rmdir(w.dir);
}

static void world_init(void)
{
    if (w.base)
        return;
    (void)snprintf(w.dir, sizeof(w.dir), "/tmp/konn-fuzz-upload-XXXXXX");
    if (!mkdtemp(w.dir))
        abort();
    (void)snprintf(w.download, sizeof(w.download), "%s/fw/download", w.dir);
    w.base = event_base_new();
    w.ctx = SSL_CTX_new(TLS_server_method());
    upload_stub.index = mgmt__upload_reader_index_new();
    if (!w.base || !w.ctx || upload_stub.index < 0)
        abort();
    (void)atexit(world_remove);
}

#define check(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_upload_reader: %s:%d: %s\n", __FILE__, __LINE__, #cond);         \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void check_file(const char *path, const uint8_t *data, size_t len)
{
    FILE *fp = fopen(path, "rb");
    uint8_t *got = malloc(len + 1);

    check(fp && got);
    check(fread(got, 1, len + 1, fp) == len);
    check(memcmp(got, data, len) == 0);
    fclose(fp);
    free(got);
}

static uint32_t next_rand(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* The connection's end as evhttp would see it and what became of its upload. */
struct conn {
    struct bufferevent *pair[2];
    SSL *ssl;
    struct evbuffer *seen; /* what evhttp read */
    size_t upload_at;      /* the stream offset of the upload's head (auth_calls 1) */
    const uint8_t *stream;
    size_t fed;
};

static bool reading(const struct conn *c)
{
    return (bufferevent_get_enabled(c->pair[0]) & EV_READ) != 0;
}

/* Appends the stream in chunks; returns when all is in or reading stopped for good. */
static void feed(struct conn *c, const uint8_t *stream, size_t len, unsigned flags, uint8_t seed)
{
    struct evbuffer *in = bufferevent_get_input(c->pair[0]);
    uint32_t x = 0x9e3779b9u ^ seed;
    size_t max = (size_t)1 << (seed % 17);

    c->stream = stream;
    while (c->fed < len) {
        size_t n = 1 + next_rand(&x) % max, seen = evbuffer_get_length(c->seen);
        int calls = upload_stub.auth_calls;

        if (!reading(c)) {
            if (!upload_stub.done || (flags & FLAG_GONE))
                return; /* the verdict's reply closes the connection */
            upload_stub_auth_finish();
            continue;
        }
        if (n > len - c->fed)
            n = len - c->fed;
        check(evbuffer_add(in, stream + c->fed, n) == 0);
        c->fed += n;
        if (upload_stub.auth_calls != calls)
            c->upload_at = seen + upload_stub.auth_in_len;
        if (flags & FLAG_CONSUME)
            check(evbuffer_add_buffer(c->seen, in) == 0);
        (void)event_base_loop(w.base, EVLOOP_NONBLOCK);
        /* Invariant 1: no file before the caller is known. */
        if (upload_stub.done)
            check(upload_stub_downloads(NULL, 0) == 0);
    }
}

/* What evhttp got, with no upload on the connection. */
static void check_no_upload(const struct conn *c, const uint8_t *seen, size_t seen_len)
{
    const uint8_t *rest = c->stream + seen_len;
    size_t rest_len = c->fed - seen_len;

    check(seen_len <= c->fed);
    check(memcmp(seen, c->stream, seen_len) == 0);
    /* What is held back is one head still incomplete. */
    check(rest_len <= UPLOAD_HEAD_MAX);
    check(!memmem(rest, rest_len, "\r\n\r\n", 4));
    check(upload_stub_downloads(NULL, 0) == 0);
}

/* The first Content-Length of the head at s (the reader accepted it: digits, maybe blanks). */
static uint64_t head_length(const uint8_t *s, size_t len)
{
    static const char name[] = "\r\ncontent-length:";
    const size_t n = sizeof(name) - 1;
    uint64_t v = 0;
    size_t i = 0;

    while (i + n <= len && strncasecmp((const char *)s + i, name, n) != 0)
        i++;
    if (i + n > len)
        return 0;
    for (i += n; i < len && (s[i] == ' ' || s[i] == '\t'); i++)
        ;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
        v = v * 10 + (uint64_t)(s[i] - '0');
    return v;
}

/* What evhttp got and what became of the body, with an upload's head at c->upload_at. */
static void check_upload(struct conn *c, const uint8_t *seen, size_t seen_len, unsigned flags)
{
    size_t p = c->upload_at, head_end, suffix = strlen(CLOSE_SUFFIX);
    const uint8_t *end;
    struct mgmt__upload up = {0};
    char path[512];
    int r;

    check(p <= c->fed && seen_len >= p);
    check(memcmp(seen, c->stream, p) == 0);
    end = memmem(c->stream + p, c->fed - p, "\r\n\r\n", 4);
    check(end);
    head_end = (size_t)(end - c->stream) + 4;
    r = (flags & FLAG_TAKE) ? mgmt__upload_take((struct mgmt_server *)&w, c->ssl, &up) : -ENOENT;
    if (seen_len == p) {
        /* No verdict yet: evhttp waits. Once the caller is known, the body is still coming
         * and all of it that came is in the file. */
        check(r == -ENOENT);
        if (upload_stub.done) {
            check(upload_stub_downloads(NULL, 0) == 0);
            return;
        }
        check(reading(c));
        check(head_end + head_length(c->stream + p, head_end - p) > c->fed);
        check(upload_stub_downloads(path, sizeof(path)) == 1);
        check_file(path, c->stream + head_end, c->fed - head_end);
        return;
    }
    /* The verdict: the rewritten head and nothing after it (invariants 1 and 3). */
    check(!reading(c));
    check(seen_len - p >= suffix && seen_len - p <= head_end - p + suffix);
    check(memcmp(seen + seen_len - suffix, CLOSE_SUFFIX, suffix) == 0);
    check(memmem(seen + p, seen_len - p, "\r\n\r\n", 4) == seen + seen_len - 4);
    if (!(flags & FLAG_TAKE))
        return;
    check(r == 0);
    if (up.status != 0) {
        check(!up.path);
        check(upload_stub_downloads(NULL, 0) == 0);
        return;
    }
    check(up.path && !(flags & (FLAG_REFUSE | FLAG_REMOTE)));
    check(upload_stub_downloads(path, sizeof(path)) == 1 && strcmp(path, up.path) == 0);
    check(up.size == head_length(c->stream + p, head_end - p));
    check(head_end + up.size <= c->fed);
    check_file(up.path, c->stream + head_end, (size_t)up.size);
    check(strcmp(up.user, "lisa") == 0 && up.role == STORE_ROLE_LOCAL_ADMIN);
    /* Taken: the file is the router's and outlives the connection. */
    SSL_free(c->ssl);
    c->ssl = NULL;
    check(upload_stub_downloads(NULL, 0) == 1);
    check(unlink(up.path) == 0);
    free(up.path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct conn c = {0};
    unsigned flags;
    uint8_t seed;
    const uint8_t *seen;
    size_t seen_len;

    if (size < 2)
        return 0;
    world_init();
    flags = data[0];
    seed = data[1];
    upload_stub.deps.data_dir = w.dir;
    upload_stub.auth_status = (flags & FLAG_REFUSE) ? 401 : 0;
    upload_stub.auth_async = (flags & FLAG_ASYNC) != 0;
    upload_stub.auth_calls = 0;
    upload_stub.done = NULL;
    (void)snprintf(upload_stub.user.name, sizeof(upload_stub.user.name), "lisa");
    upload_stub.user.role =
        (flags & FLAG_REMOTE) ? STORE_ROLE_REMOTE_ADMIN : STORE_ROLE_LOCAL_ADMIN;
    if (flags & FLAG_DISKFULL)
        io_fault_at(IO_OP_PWRITE, 1 + seed % 4, ENOSPC);

    /* A pair freezes the end of its input buffer; the TLS bufferevent does not. */
    check(bufferevent_pair_new(w.base, 0, c.pair) == 0);
    check(bufferevent_enable(c.pair[0], EV_READ) == 0);
    check(evbuffer_unfreeze(bufferevent_get_input(c.pair[0]), 0) == 0);
    upload_stub.bev = c.pair[0];
    c.ssl = SSL_new(w.ctx);
    c.seen = evbuffer_new();
    check(c.ssl && c.seen);
    check(mgmt__upload_reader_attach((struct mgmt_server *)&w, c.pair[0], c.ssl) == 0);

    feed(&c, data + 2, size - 2, flags, seed);
    (void)event_base_loop(w.base, EVLOOP_NONBLOCK);
    check(evbuffer_add_buffer(c.seen, bufferevent_get_input(c.pair[0])) == 0);
    seen_len = evbuffer_get_length(c.seen);
    seen = seen_len ? evbuffer_pullup(c.seen, -1) : (const uint8_t *)"";
    check(seen);
    check(upload_stub.auth_calls <= 1);
    if (upload_stub.auth_calls == 0)
        check_no_upload(&c, seen, seen_len);
    else
        check_upload(&c, seen, seen_len, flags);

    /* The connection goes (invariant 4); a pending authentication answers after it. */
    SSL_free(c.ssl);
    if (upload_stub.done)
        upload_stub_auth_finish();
    check(upload_stub_downloads(NULL, 0) == 0);
    io_fault_clear();
    upload_stub.bev = NULL;
    bufferevent_free(c.pair[0]);
    bufferevent_free(c.pair[1]);
    evbuffer_free(c.seen);
    (void)event_base_loop(w.base, EVLOOP_NONBLOCK); /* the pair's deferred frees */
    return 0;
}
