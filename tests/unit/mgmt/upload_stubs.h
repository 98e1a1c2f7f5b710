/* The router's side of the upload reader (upload.c), stubbed: the route table, the
 * authentication and the server's dependencies. Shared by the unit test (test_upload.c) and
 * the fuzz target (tests/fuzz/fuzz_upload_reader.c), which link upload.c without server.c.
 *
 * The one upload route is POST /up for Local-Administrators. The authentication answers with
 * upload_stub.auth_status (0 accepts upload_stub.user), at once or, with auth_async, when the
 * test calls upload_stub_auth_finish(). */
#ifndef KONN_TESTS_UPLOAD_STUBS_H
#define KONN_TESTS_UPLOAD_STUBS_H

#include <stdbool.h>
#include <stddef.h>

#include "mgmt/mgmt_internal.h"

struct upload_stub {
    struct mgmt_deps deps; /* data_dir: where fw/download/ is made */
    int index;             /* the SSL ex_data index of the readers */
    int auth_status;       /* 0 accepts */
    bool auth_async;
    int auth_calls;
    /* what the pending authentication answers to */
    mgmt__authenticated_fn done;
    void *done_arg;
    /* the evhttp input buffer's length when the authentication started */
    size_t auth_in_len;
    struct bufferevent *bev; /* the connection, for auth_in_len; may be NULL */
    struct store_user user;
};

extern struct upload_stub upload_stub;

/* The files in DATA/fw/download/ (upload_stub.deps.data_dir); the path of the last one listed
 * in ret_path (NULL: not wanted). */
size_t upload_stub_downloads(char *ret_path, size_t path_size);

/* Answers the pending authentication with upload_stub.auth_status. */
void upload_stub_auth_finish(void);

#endif
