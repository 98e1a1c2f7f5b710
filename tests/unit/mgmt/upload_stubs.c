/* The router's side of the upload reader, stubbed (upload_stubs.h). */
#include "upload_stubs.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

struct upload_stub upload_stub;

const struct mgmt_deps *mgmt_server_deps(const struct mgmt_server *srv)
{
    (void)srv;
    return &upload_stub.deps;
}

int mgmt__server_upload_index(const struct mgmt_server *srv)
{
    (void)srv;
    return upload_stub.index;
}

int mgmt__route_upload_roles(const struct mgmt_server *srv, enum mgmt_method method,
                             const char *path, unsigned *ret_roles)
{
    (void)srv;
    if (method != MGMT_POST || strcmp(path, "/up") != 0)
        return -ENOENT;
    *ret_roles = STORE_ROLE_BIT(STORE_ROLE_LOCAL_ADMIN);
    return 0;
}

void upload_stub_auth_finish(void)
{
    struct mgmt__auth_outcome o = {.status = upload_stub.auth_status, .code = "bad_credentials"};
    mgmt__authenticated_fn done = upload_stub.done;

    if (!done)
        abort(); /* no authentication is pending */
    upload_stub.done = NULL;
    if (upload_stub.auth_status == 0)
        o.user = &upload_stub.user;
    else
        (void)snprintf(o.message, sizeof(o.message), "wrong user name or password");
    done(&o, upload_stub.done_arg);
}

void mgmt__authenticate(struct mgmt_server *srv, const struct evkeyvalq *headers,
                        enum mgmt_method method, mgmt__authenticated_fn done, void *arg)
{
    (void)srv, (void)headers;
    if (method != MGMT_POST || upload_stub.done)
        abort(); /* only POST /up is an upload route; one authentication at a time */
    upload_stub.auth_calls++;
    upload_stub.done = done;
    upload_stub.done_arg = arg;
    upload_stub.auth_in_len =
        upload_stub.bev ? evbuffer_get_length(bufferevent_get_input(upload_stub.bev)) : 0;
    if (!upload_stub.auth_async)
        upload_stub_auth_finish();
}

size_t upload_stub_downloads(char *ret_path, size_t path_size)
{
    char dir[4096];
    DIR *d;
    struct dirent *e;
    size_t n = 0;

    if (snprintf(dir, sizeof(dir), "%s/fw/download", upload_stub.deps.data_dir) >= (int)sizeof(dir))
        abort();
    d = opendir(dir);
    if (!d)
        return 0;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') {
            if (ret_path &&
                snprintf(ret_path, path_size, "%s/%s", dir, e->d_name) >= (int)path_size)
                abort();
            n++;
        }
    closedir(d);
    return n;
}
