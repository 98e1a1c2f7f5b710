/* Unit tests for the upload reader (upload.c): what evhttp gets to see of a connection's bytes,
 * and what becomes of an upload's body. The reader sits on one end of a bufferevent pair; the
 * test appends "decrypted" bytes to its input buffer as the TLS bufferevent would and reads
 * back what is left there for evhttp. The router's side (the route table, authentication,
 * the server's dependencies) is stubbed in upload_stubs.c, shared with the fuzz target: upload.c
 * is linked without server.c. The HTTP side is tests/integration/test_mgmt_upload.py. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "mgmt/mgmt_internal.h"
#include "upload_stubs.h"

struct fixture {
    char dir[64];
    struct event_base *base;
    struct bufferevent *pair[2];
    SSL_CTX *ctx;
    SSL *ssl;
};

/* ---- helpers ---------------------------------------------------------------------------- */

/* A pair freezes the end of its input buffer (only it appends there); the TLS bufferevent
 * does not, and the test appends as it would. */
static void new_pair(struct fixture *f)
{
    assert_int_equal(bufferevent_pair_new(f->base, 0, f->pair), 0);
    assert_int_equal(bufferevent_enable(f->pair[0], EV_READ), 0);
    assert_int_equal(evbuffer_unfreeze(bufferevent_get_input(f->pair[0]), 0), 0);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    (void)snprintf(f->dir, sizeof(f->dir), "/tmp/konn-test-upload-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    memset(&upload_stub, 0, sizeof(upload_stub));
    upload_stub.deps.data_dir = f->dir;
    f->base = event_base_new();
    new_pair(f);
    f->ctx = SSL_CTX_new(TLS_server_method());
    f->ssl = SSL_new(f->ctx);
    upload_stub.index = mgmt__upload_reader_index_new();
    assert_true(upload_stub.index >= 0);
    (void)str_copy(upload_stub.user.name, sizeof(upload_stub.user.name), "lisa");
    upload_stub.user.role = STORE_ROLE_LOCAL_ADMIN;
    assert_int_equal(mgmt__upload_reader_attach((struct mgmt_server *)f, f->pair[0], f->ssl), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[128];

    io_fault_clear();
    SSL_free(f->ssl); /* frees the reader (the connection goes) */
    bufferevent_free(f->pair[0]);
    bufferevent_free(f->pair[1]);
    event_base_free(f->base);
    SSL_CTX_free(f->ctx);
    (void)snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* The TLS bufferevent decrypted these bytes. */
static void feed(struct fixture *f, const void *data, size_t len)
{
    assert_int_equal(evbuffer_add(bufferevent_get_input(f->pair[0]), data, len), 0);
}

static void feed_str(struct fixture *f, const char *s)
{
    feed(f, s, strlen(s));
}

/* What evhttp would read now (NUL-terminated copy, freed by the caller), consumed. */
static char *evhttp_reads(struct fixture *f)
{
    struct evbuffer *in = bufferevent_get_input(f->pair[0]);
    size_t len = evbuffer_get_length(in);
    char *s = malloc(len + 1);

    assert_non_null(s);
    assert_int_equal(evbuffer_remove(in, s, len), (int)len);
    s[len] = '\0';
    return s;
}

static bool reading(const struct fixture *f)
{
    return (bufferevent_get_enabled(f->pair[0]) & EV_READ) != 0;
}

static char *upload_head(uint64_t length)
{
    char *s = NULL;

    assert_true(asprintf(&s,
                         "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: %llu\r\n"
                         "Expect: 100-continue\r\nAuthorization: Basic bGlzYTpwdw==\r\n\r\n",
                         (unsigned long long)length) > 0);
    return s;
}

#define HEAD_FOR_EVHTTP                                                                            \
    "POST /up HTTP/1.1\r\nHost: x\r\nAuthorization: Basic bGlzYTpwdw==\r\n"                        \
    "Content-Length: 0\r\nConnection: close\r\n\r\n"

static void assert_file(const char *path, const unsigned char *data, size_t len)
{
    FILE *fp = fopen(path, "rb");
    unsigned char *got = malloc(len + 1);

    assert_non_null(fp);
    assert_int_equal(fread(got, 1, len + 1, fp), len);
    assert_memory_equal(got, data, len);
    fclose(fp);
    free(got);
}

/* Takes the connection's upload verdict: accepted, with exactly data in its file, which it
 * then removes. */
static void take_accepted(struct fixture *f, const void *data, size_t len)
{
    struct mgmt__upload up;

    assert_int_equal(mgmt__upload_take((struct mgmt_server *)f, f->ssl, &up), 0);
    assert_int_equal(up.status, 0);
    assert_int_equal(up.size, len);
    assert_file(up.path, data, len);
    unlink(up.path);
    free(up.path);
}

/* ---- tests ------------------------------------------------------------------------------ */

static void requests_that_are_not_uploads_pass_unchanged_however_they_arrive(void **state)
{
    struct fixture *f = *state;
    const char *stream = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                         "POST /b HTTP/1.1\r\nContent-Length: 11\r\n\r\n{\"a\": 1234}"
                         "DELETE /up HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
                         "HEAD /up HTTP/1.1\r\nContent-Length: 3\r\n\r\n"
                         "PUT /up HTTP/1.1\r\ncontent-length: 2\r\n\r\nxy"
                         "GET /up HTTP/1.1\r\nContent-Length: 21\r\n\r\n"
                         "POST /up HTTP/1.1\r\n\r\n";
    size_t len = strlen(stream);
    char *got;

    /* In pieces of 7 bytes that evhttp does not consume in between: what it has not read
     * yet stays in front of the new bytes. */
    for (size_t i = 0; i < len; i += 7)
        feed(f, stream + i, len - i < 7 ? len - i : 7);
    got = evhttp_reads(f);
    assert_string_equal(got, stream);
    free(got);
    /* And byte by byte, consumed as they come. */
    for (size_t i = 0; i < len; i++)
        feed(f, stream + i, 1);
    got = evhttp_reads(f);
    assert_string_equal(got, stream);
    free(got);
    assert_int_equal(upload_stub.auth_calls, 0);
}

static void an_unauthenticated_upload_gets_a_bodiless_head_and_no_body_is_kept(void **state)
{
    struct fixture *f = *state;
    char *head = upload_head(10 * 1024 * 1024), *got;
    struct mgmt__upload up;
    char body[4096] = {0};

    upload_stub.auth_status = 401;
    feed_str(f, head);
    feed(f, body, sizeof(body));
    got = evhttp_reads(f);
    assert_string_equal(got, HEAD_FOR_EVHTTP);
    free(got);
    assert_false(reading(f));
    feed(f, body, sizeof(body)); /* whatever still comes is dropped */
    got = evhttp_reads(f);
    assert_string_equal(got, "");
    free(got);
    assert_int_equal(mgmt__upload_take((struct mgmt_server *)f, f->ssl, &up), 0);
    assert_int_equal(up.status, 401);
    assert_string_equal(up.code, "bad_credentials");
    assert_null(up.path);
    assert_int_equal(upload_stub_downloads(NULL, 0), 0);
    /* The verdict is taken once. */
    assert_int_equal(mgmt__upload_take((struct mgmt_server *)f, f->ssl, &up), -ENOENT);
    free(head);
}

static void an_accepted_upload_is_written_to_a_file_before_evhttp_sees_its_head(void **state)
{
    struct fixture *f = *state;
    size_t len = 200000;
    unsigned char *body = malloc(len);
    char *head = upload_head(len), *got;
    struct mgmt__upload up;
    struct stat st;
    char path[512];

    for (size_t i = 0; i < len; i++)
        body[i] = (unsigned char)(i * 7);
    feed_str(f, head);
    feed(f, body, 100000);
    got = evhttp_reads(f);
    assert_string_equal(got, "");
    free(got);
    assert_int_equal(upload_stub_downloads(path, sizeof(path)), 1);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 100000);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(mgmt__upload_take((struct mgmt_server *)f, f->ssl, &up), -ENOENT);
    feed(f, body + 100000, len - 100000);
    got = evhttp_reads(f);
    assert_string_equal(got, HEAD_FOR_EVHTTP);
    free(got);
    assert_int_equal(mgmt__upload_take((struct mgmt_server *)f, f->ssl, &up), 0);
    assert_int_equal(up.status, 0);
    assert_int_equal(up.size, len);
    assert_string_equal(up.user, "lisa");
    assert_int_equal(up.role, STORE_ROLE_LOCAL_ADMIN);
    assert_string_equal(up.path, path);
    assert_file(up.path, body, len);
    /* Taken: the file is the router's, it outlives the connection. */
    SSL_free(f->ssl);
    f->ssl = NULL;
    assert_int_equal(stat(up.path, &st), 0);
    unlink(up.path);
    free(up.path);
    free(head);
    free(body);
}

static void the_body_waits_while_the_credentials_are_checked(void **state)
{
    struct fixture *f = *state;
    unsigned char body[3000];
    char *head = upload_head(sizeof(body)), *got;

    memset(body, 'b', sizeof(body));
    upload_stub.auth_async = true;
    feed_str(f, head);
    feed(f, body, 1000);
    assert_false(reading(f));
    assert_int_equal(upload_stub_downloads(NULL, 0), 0);
    upload_stub_auth_finish();
    assert_true(reading(f));
    assert_int_equal(upload_stub_downloads(NULL, 0), 1);
    feed(f, body + 1000, sizeof(body) - 1000);
    got = evhttp_reads(f);
    assert_string_equal(got, HEAD_FOR_EVHTTP);
    free(got);
    take_accepted(f, body, sizeof(body));
    free(head);
}

static void an_upload_over_the_limit_or_by_another_role_is_refused(void **state)
{
    struct fixture *f = *state;
    char *head = upload_head(MGMT_UPLOAD_MAX + 1), *got;
    struct mgmt__upload up;

    feed_str(f, head);
    got = evhttp_reads(f);
    assert_string_equal(got, HEAD_FOR_EVHTTP);
    free(got);
    assert_int_equal(mgmt__upload_take((struct mgmt_server *)f, f->ssl, &up), 0);
    assert_int_equal(up.status, 413);
    assert_int_equal(upload_stub_downloads(NULL, 0), 0);
    free(head);

    /* A new connection, a Remote-Administrator. */
    SSL_free(f->ssl);
    f->ssl = SSL_new(f->ctx);
    bufferevent_free(f->pair[0]);
    bufferevent_free(f->pair[1]);
    new_pair(f);
    assert_int_equal(mgmt__upload_reader_attach((struct mgmt_server *)f, f->pair[0], f->ssl), 0);
    upload_stub.user.role = STORE_ROLE_REMOTE_ADMIN;
    head = upload_head(10);
    feed_str(f, head);
    assert_int_equal(mgmt__upload_take((struct mgmt_server *)f, f->ssl, &up), 0);
    assert_int_equal(up.status, 403);
    assert_int_equal(upload_stub_downloads(NULL, 0), 0);
    free(head);
}

static void a_chunked_upload_needs_a_length(void **state)
{
    struct fixture *f = *state;
    struct mgmt__upload up;

    feed_str(f, "POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    assert_int_equal(mgmt__upload_take((struct mgmt_server *)f, f->ssl, &up), 0);
    assert_int_equal(up.status, 411);
}

static void a_full_disk_refuses_the_upload_and_removes_its_file(void **state)
{
    struct fixture *f = *state;
    unsigned char body[30000] = {0};
    char *head = upload_head(sizeof(body)), *got;
    struct mgmt__upload up;

    io_fault_at(IO_OP_PWRITE, 2, ENOSPC);
    feed_str(f, head);
    feed(f, body, 10000);
    feed(f, body, 10000);
    got = evhttp_reads(f);
    assert_string_equal(got, HEAD_FOR_EVHTTP);
    free(got);
    assert_int_equal(mgmt__upload_take((struct mgmt_server *)f, f->ssl, &up), 0);
    assert_int_equal(up.status, 507);
    assert_null(up.path);
    assert_int_equal(upload_stub_downloads(NULL, 0), 0);
    assert_false(reading(f));
    free(head);
}

static void a_connection_gone_mid_upload_leaves_no_file(void **state)
{
    struct fixture *f = *state;
    unsigned char body[5000] = {0};
    char *head = upload_head(100000);

    feed_str(f, head);
    feed(f, body, sizeof(body));
    assert_int_equal(upload_stub_downloads(NULL, 0), 1);
    SSL_free(f->ssl);
    f->ssl = NULL;
    assert_int_equal(upload_stub_downloads(NULL, 0), 0);
    free(head);
}

static void a_connection_gone_while_its_credentials_are_checked_is_freed_after(void **state)
{
    struct fixture *f = *state;
    char *head = upload_head(100);

    upload_stub.auth_async = true;
    feed_str(f, head);
    SSL_free(f->ssl);
    f->ssl = NULL;
    upload_stub_auth_finish(); /* frees the reader (ASan checks) and opens nothing */
    assert_int_equal(upload_stub_downloads(NULL, 0), 0);
    free(head);
}

static void after_a_chunked_body_everything_passes_unread(void **state)
{
    struct fixture *f = *state;
    const char *stream = "POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "3\r\nabc\r\n0\r\n\r\n"
                         "POST /up HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz";
    char *got;

    feed_str(f, stream);
    got = evhttp_reads(f);
    assert_string_equal(got, stream);
    free(got);
    assert_int_equal(upload_stub.auth_calls, 0);
}

static void an_upload_behind_another_request_is_still_read(void **state)
{
    struct fixture *f = *state;
    char *head = upload_head(3), *stream = NULL, *got;

    assert_true(asprintf(&stream, "POST /b HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}%sxyz", head) >
                0);
    feed_str(f, stream);
    got = evhttp_reads(f);
    assert_string_equal(got, "POST /b HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}" HEAD_FOR_EVHTTP);
    free(got);
    take_accepted(f, "xyz", 3);
    free(stream);
    free(head);
}

/* A head near the 32 KiB limit in one-byte reads: found once complete (the search goes on
 * from where it stopped, so its end split over reads is found too), the body still read. */
static void a_long_head_in_one_byte_reads_is_still_read(void **state)
{
    struct fixture *f = *state;
    size_t pad = 30000;
    char *head = NULL, *value = malloc(pad + 1), *got;

    assert_non_null(value);
    memset(value, 'v', pad);
    value[pad] = '\0';
    assert_true(asprintf(&head,
                         "POST /up HTTP/1.1\r\nX-Pad: %s\r\nContent-Length: 3\r\n"
                         "Authorization: Basic bGlzYTpwdw==\r\n\r\nxyz",
                         value) > 0);
    for (size_t i = 0; head[i]; i++)
        feed(f, head + i, 1);
    assert_int_equal(upload_stub.auth_calls, 1);
    got = evhttp_reads(f);
    assert_int_equal(strncmp(got, "POST /up HTTP/1.1\r\nX-Pad: vvv", 29), 0);
    assert_non_null(strstr(got, "\r\nAuthorization: Basic bGlzYTpwdw==\r\n"
                                "Content-Length: 0\r\nConnection: close\r\n\r\n"));
    free(got);
    take_accepted(f, "xyz", 3);
    free(head);
    free(value);
}

/* A NUL in a head ended the parsed text early: the headers after it (its Content-Length)
 * went unseen and a body of 3 bytes became an accepted upload of 0 (found by
 * fuzz_upload_reader). Such a head is evhttp's to judge, as is everything after it. */
static void a_head_with_a_nul_goes_to_evhttp_unread(void **state)
{
    struct fixture *f = *state;
    const char stream[] = "POST /up HTTP/1.1\r\nX-A: b\0c\r\nContent-Length: 3\r\n"
                          "Authorization: Basic bGlzYTpwdw==\r\n\r\nxyz";
    struct evbuffer *in = bufferevent_get_input(f->pair[0]);
    char got[sizeof(stream)];

    feed(f, stream, sizeof(stream) - 1);
    assert_int_equal(upload_stub.auth_calls, 0);
    assert_int_equal(evbuffer_get_length(in), sizeof(stream) - 1);
    assert_int_equal(evbuffer_remove(in, got, sizeof(stream) - 1), (int)sizeof(stream) - 1);
    assert_memory_equal(got, stream, sizeof(stream) - 1);
    assert_int_equal(upload_stub_downloads(NULL, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            requests_that_are_not_uploads_pass_unchanged_however_they_arrive, setup, teardown),
        cmocka_unit_test_setup_teardown(
            an_unauthenticated_upload_gets_a_bodiless_head_and_no_body_is_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(
            an_accepted_upload_is_written_to_a_file_before_evhttp_sees_its_head, setup, teardown),
        cmocka_unit_test_setup_teardown(the_body_waits_while_the_credentials_are_checked, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(an_upload_over_the_limit_or_by_another_role_is_refused,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_chunked_upload_needs_a_length, setup, teardown),
        cmocka_unit_test_setup_teardown(a_full_disk_refuses_the_upload_and_removes_its_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_connection_gone_mid_upload_leaves_no_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            a_connection_gone_while_its_credentials_are_checked_is_freed_after, setup, teardown),
        cmocka_unit_test_setup_teardown(after_a_chunked_body_everything_passes_unread, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(an_upload_behind_another_request_is_still_read, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_long_head_in_one_byte_reads_is_still_read, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_head_with_a_nul_goes_to_evhttp_unread, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
