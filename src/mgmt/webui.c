/* webui: serves the management web UI (docs/web-ui.md) from the management listener: the page
 * at "/", its files at "/ui/NAME", and the login session at "/ui/session" (session.c).
 *
 * The files of src/mgmt/webui/ are compiled into the binary (embed.cmake writes
 * webui_assets.c at build time), so the daemon never reads the source tree.
 *
 * Invariants:
 *  1. Every answer from here carries the security headers of SECURITY_HEADERS: a strict
 *     Content-Security-Policy (only this origin's files; no inline script or style; no
 *     framing), nosniff, X-Frame-Options DENY and no Referer.
 *  2. Static files are public (the login page must load before a login); nothing here reads
 *     state, so no critical state stops it. Everything with data goes through the router. */
#include "mgmt/mgmt_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

static const char *const security_headers[][2] = {
    {"Content-Security-Policy",
     "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
     "frame-ancestors 'none'"},
    {"X-Content-Type-Options", "nosniff"},
    {"X-Frame-Options", "DENY"},
    {"Referrer-Policy", "no-referrer"},
    {"Cross-Origin-Opener-Policy", "same-origin"},
};

static void add_security_headers(struct evkeyvalq *out)
{
    for (size_t i = 0; i < ARRAY_SIZE(security_headers); i++)
        (void)evhttp_add_header(out, security_headers[i][0], security_headers[i][1]);
}

void mgmt__webui_reply_json(struct evhttp_request *evreq, int status, json_t *body,
                            const char *set_cookie)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(evreq);
    struct evbuffer *buf = evbuffer_new();
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

    add_security_headers(out);
    (void)evhttp_add_header(out, "Content-Type", "application/json");
    (void)evhttp_add_header(out, "Cache-Control", "no-store");
    if (set_cookie)
        (void)evhttp_add_header(out, "Set-Cookie", set_cookie);
    if (buf && text) {
        (void)evbuffer_add(buf, text, strlen(text));
        (void)evbuffer_add(buf, "\n", 1);
    }
    evhttp_send_reply(evreq, status, status == 200 ? "OK" : "Error", buf);
    free(text);
    if (buf)
        evbuffer_free(buf);
    json_decref(body);
}

static const struct mgmt__webui_asset *asset_find(const char *name)
{
    for (size_t i = 0; i < mgmt__webui_n_assets; i++) {
        if (strcmp(mgmt__webui_assets[i].name, name) == 0)
            return &mgmt__webui_assets[i];
    }
    return NULL;
}

static void send_asset(struct evhttp_request *evreq, const struct mgmt__webui_asset *a)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(evreq);
    const char *inm = evhttp_find_header(evhttp_request_get_input_headers(evreq), "If-None-Match");
    struct evbuffer *buf;

    add_security_headers(out);
    /* Revalidate every time: the ETag makes that one small 304 after an update of the UI. */
    (void)evhttp_add_header(out, "Cache-Control", "no-cache");
    (void)evhttp_add_header(out, "ETag", a->etag);
    if (inm && strcmp(inm, a->etag) == 0) {
        evhttp_send_reply(evreq, 304, "Not Modified", NULL);
        return;
    }
    (void)evhttp_add_header(out, "Content-Type", a->content_type);
    buf = evbuffer_new();
    if (!buf || evbuffer_add_reference(buf, a->data, a->size, NULL, NULL) < 0) {
        if (buf)
            evbuffer_free(buf);
        evhttp_send_error(evreq, 503, "Service Unavailable");
        return;
    }
    evhttp_send_reply(evreq, 200, "OK", buf);
    evbuffer_free(buf);
}

bool mgmt__webui_serve(struct mgmt_server *srv, struct evhttp_request *evreq, const char *path,
                       enum mgmt_method method)
{
    const struct mgmt__webui_asset *a;

    if (strcmp(path, "/ui/session") == 0) {
        mgmt__session_serve(srv, evreq, method);
        return true;
    }
    if (strcmp(path, "/") == 0)
        a = asset_find("index.html");
    else if (strncmp(path, "/ui/", 4) == 0)
        a = asset_find(path + 4);
    else
        return false;
    if (!a) {
        mgmt__webui_reply_json(evreq, 404,
                               json_pack("{s:{s:i,s:s,s:s}}", "error", "status", 404, "code",
                                         "not_found", "message", "no such file of the web UI"),
                               NULL);
        return true;
    }
    if (method != MGMT_GET) {
        mgmt__webui_reply_json(evreq, 405,
                               json_pack("{s:{s:i,s:s,s:s}}", "error", "status", 405, "code",
                                         "method_not_allowed", "message",
                                         "the web UI's files are read with GET"),
                               NULL);
        return true;
    }
    send_asset(evreq, a);
    return true;
}
