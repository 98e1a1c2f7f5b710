/* cmd_ksr: "konctl ksr serve DIR", a KSR (Konfigurations- und Software-Repository) to test the
 * connector's KSR client against, so that the whole update path runs on one machine.
 *
 *   POST /            list_Updates (Konfigurationsdienst.wsdl 1.1): one UpdateInformation per
 *                     bundle in DIR for the request's ProductVendorID, ProductCode and
 *                     HWVersion whose firmware is newer than the request's FWVersion
 *   GET  /NAME        the file DIR/NAME, with HTTP Range (206, 416), for the downloads
 *
 * A bundle is any regular file of DIR whose first archive entry is a manifest that
 * bundle_manifest_parse() accepts; the manifest gives the UpdateInformation's fields (its
 * signature is the connector's business, not this server's). A firmware-group document in DIR
 * (group.json and group.json.p7s) is offered as Documentationfiles of every update. DIR is read
 * again on every list_Updates, so a test can add bundles while the server runs.
 *
 * Test options: --cut-after N ends every file answer after N body bytes (the connection
 * closes), so that a client must resume with Range.
 *
 * Invariants:
 *  1. Only plain names of regular files directly in DIR are served (upd_file_name_is_safe):
 *     no path leaves DIR, no symbolic link is followed.
 *  2. The server runs in the foreground until SIGTERM or SIGINT and prints its URL first. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "base/base.h"
#include "bundle/bundle.h"
#include "konctl.h"
#include "update/update.h"

#define DEFAULT_LISTEN "127.0.0.1:0"
#define GROUP_DOC "group.json"
#define GROUP_SIG "group.json.p7s"
#define REQUEST_MAX (64 * 1024) /* a listUpdatesRequest is a few hundred bytes */

static const char ksr_usage[] =
    "Usage: konctl ksr serve DIR [--listen ADDR:PORT] [--cut-after BYTES]\n"
    "\n"
    "A KSR to test against: serves list_Updates (SOAP, POST /) from the update bundles in\n"
    "DIR and the files of DIR (GET /NAME, with HTTP Range). Prints its URL, then runs until\n"
    "SIGTERM or SIGINT.\n"
    "\n"
    "  --listen     address and port (default 127.0.0.1 and any free port)\n"
    "  --cut-after  end every file answer after BYTES body bytes (tests of resumed downloads)\n";

struct ksr {
    const char *dir;
    uint64_t cut_after; /* 0: never */
    struct event_base *base;
};

/* ---- the bundles of DIR ----------------------------------------------------------------- */

/* Reads the manifest (the first entry) of a bundle without checking its signature. */
static int manifest_peek(const char *path, struct bundle_manifest **ret_m)
{
    struct archive *a = archive_read_new();
    struct archive_entry *e = NULL;
    char *buf = NULL;
    la_ssize_t n;
    int r = -EBADMSG;

    if (!a)
        return -ENOMEM;
    (void)archive_read_support_format_tar(a);
    if (archive_read_open_filename(a, path, 16384) != ARCHIVE_OK ||
        archive_read_next_header(a, &e) != ARCHIVE_OK ||
        strcmp(archive_entry_pathname(e), BUNDLE_MANIFEST_NAME) != 0 ||
        archive_entry_size(e) <= 0 || archive_entry_size(e) > BUNDLE_MANIFEST_MAX)
        goto out;
    buf = malloc((size_t)archive_entry_size(e));
    if (!buf) {
        r = -ENOMEM;
        goto out;
    }
    n = archive_read_data(a, buf, (size_t)archive_entry_size(e));
    if (n != archive_entry_size(e))
        goto out;
    r = bundle_manifest_parse(buf, (size_t)n, ret_m, NULL, 0);
out:
    free(buf);
    archive_read_free(a);
    return r;
}

static bool is_regular(const char *dir, const char *name, uint64_t *ret_size)
{
    char *path = fs_path_join(dir, name);
    struct stat st;
    bool ok = path && lstat(path, &st) == 0 && S_ISREG(st.st_mode);

    if (ok && ret_size)
        *ret_size = (uint64_t)st.st_size;
    free(path);
    return ok;
}

static int file_entry(struct upd_ksr_file *f, const char *name, uint64_t size, const char *notes)
{
    f->name = strdup(name);
    f->notes = strdup(notes);
    f->size = size;
    return f->name && f->notes ? 0 : -ENOMEM;
}

/* Adds the bundle DIR/name to l if it is for id and newer. */
static int add_bundle(struct ksr *s, const char *name, const struct upd_ksr_identity *id,
                      bool group, struct upd_ksr_list *l)
{
    struct bundle_manifest *m = NULL;
    struct upd_ksr_update *u;
    uint64_t size = 0, gsize = 0, psize = 0;
    char *path = fs_path_join(s->dir, name);
    int r = 0;

    if (!path)
        return -ENOMEM;
    if (!is_regular(s->dir, name, &size) || manifest_peek(path, &m) < 0)
        goto out;
    if (strcmp(m->product_vendor_id, id->product_vendor_id) != 0 ||
        strcmp(m->product_code, id->product_code) != 0 ||
        strcmp(m->hw_version, id->hw_version) != 0 ||
        upd_version_compare(m->fw_version, id->fw_version) <= 0 ||
        l->n_updates == UPD_KSR_UPDATES_MAX)
        goto out;
    u = &l->updates[l->n_updates++];
    (void)snprintf(u->update_id, sizeof(u->update_id), "%s_%s_%s", m->product_code, m->fw_version,
                   m->created);
    for (char *p = u->update_id; *p; p++)
        if (*p == '.' || *p == '-')
            *p = '_';
    (void)str_copy(u->product_vendor_id, sizeof(u->product_vendor_id), m->product_vendor_id);
    (void)str_copy(u->product_code, sizeof(u->product_code), m->product_code);
    (void)str_copy(u->hw_version, sizeof(u->hw_version), m->hw_version);
    (void)str_copy(u->product_name, sizeof(u->product_name), m->product_name);
    (void)str_copy(u->creation_date, sizeof(u->creation_date), m->created);
    (void)str_copy(u->deadline, sizeof(u->deadline), m->deadline);
    (void)str_copy(u->fw_version, sizeof(u->fw_version), m->fw_version);
    u->critical = m->critical;
    u->release_notes = strdup(m->release_notes);
    u->files = calloc(1, sizeof(*u->files));
    if (!u->release_notes || !u->files) {
        r = -ENOMEM;
        goto out;
    }
    u->n_files = 1;
    r = file_entry(&u->files[0], name, size, "update bundle");
    if (r == 0 && group && is_regular(s->dir, GROUP_DOC, &gsize) &&
        is_regular(s->dir, GROUP_SIG, &psize)) {
        u->docs = calloc(2, sizeof(*u->docs));
        if (!u->docs) {
            r = -ENOMEM;
            goto out;
        }
        u->n_docs = 2;
        r = file_entry(&u->docs[0], GROUP_DOC, gsize, "FirmwareGroupInformation");
        if (r == 0)
            r = file_entry(&u->docs[1], GROUP_SIG, psize, "FirmwareGroupInformation signature");
    }
out:
    bundle_manifest_free(m);
    free(path);
    return r;
}

static int list_for(struct ksr *s, const struct upd_ksr_identity *id, struct upd_ksr_list **ret)
{
    struct upd_ksr_list *l = calloc(1, sizeof(*l));
    bool group = is_regular(s->dir, GROUP_DOC, NULL) && is_regular(s->dir, GROUP_SIG, NULL);
    DIR *d = NULL;
    struct dirent *de;
    int r = 0;

    if (!l)
        return -ENOMEM;
    l->updates = calloc(UPD_KSR_UPDATES_MAX, sizeof(*l->updates));
    d = opendir(s->dir);
    if (!l->updates || !d) {
        r = l->updates ? -errno : -ENOMEM;
        goto out;
    }
    while (r == 0 && (de = readdir(d)))
        if (upd_file_name_is_safe(de->d_name) && strcmp(de->d_name, GROUP_DOC) != 0 &&
            strcmp(de->d_name, GROUP_SIG) != 0)
            r = add_bundle(s, de->d_name, id, group, l);
    if (group && l->n_updates)
        l->group_release_notes = strdup("firmware group document: " GROUP_DOC);
out:
    if (d)
        closedir(d);
    if (r < 0) {
        upd_ksr_list_free(l);
        return r;
    }
    *ret = l;
    return 0;
}

/* ---- HTTP ------------------------------------------------------------------------------- */

static void reply_text(struct evhttp_request *req, int code, const char *reason, const char *text)
{
    struct evbuffer *b = evbuffer_new();

    if (b)
        evbuffer_add_printf(b, "%s\n", text);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; charset=utf-8");
    evhttp_send_reply(req, code, reason, b);
    if (b)
        evbuffer_free(b);
}

static void reply_fault(struct evhttp_request *req, const char *why)
{
    struct evbuffer *b = evbuffer_new();

    if (b)
        evbuffer_add_printf(b,
                            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soap:Envelope "
                            "xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>"
                            "<soap:Fault><faultcode>soap:Client</faultcode><faultstring>%s"
                            "</faultstring></soap:Fault></soap:Body></soap:Envelope>",
                            why);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/xml; charset=utf-8");
    evhttp_send_reply(req, 500, "Internal Server Error", b);
    if (b)
        evbuffer_free(b);
}

static void serve_list(struct ksr *s, struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    struct upd_ksr_identity id;
    struct upd_ksr_list *l = NULL;
    struct evbuffer *out = NULL;
    char *xml = NULL, err[256] = "";
    size_t xml_len = 0;
    unsigned char *body;
    int r;

    if (len > REQUEST_MAX) {
        reply_fault(req, "request too large");
        return;
    }
    body = evbuffer_pullup(in, (ev_ssize_t)len);
    r = upd_ksr_request_parse(body ? (const char *)body : "", len, &id, err, sizeof(err));
    if (r < 0) {
        fprintf(stderr, "ksr: refused a request: %s\n", err);
        reply_fault(req, "not a listUpdatesRequest");
        return;
    }
    r = list_for(s, &id, &l);
    if (r == 0)
        r = upd_ksr_response_format(l, &xml, &xml_len);
    out = r == 0 ? evbuffer_new() : NULL;
    if (!out) {
        reply_fault(req, "the KSR could not read its directory");
        goto out;
    }
    fprintf(stderr, "ksr: list_Updates %s/%s/%s from %s: %zu update(s)\n", id.product_vendor_id,
            id.product_code, id.hw_version, id.fw_version, l->n_updates);
    evbuffer_add(out, xml, xml_len);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/xml; charset=utf-8");
    evhttp_send_reply(req, 200, "OK", out);
out:
    if (out)
        evbuffer_free(out);
    free(xml);
    upd_ksr_list_free(l);
}

/* Parses "bytes=START-" or "bytes=START-END". -EINVAL for anything else (served whole). */
static int range_parse(const char *h, uint64_t *ret_start, uint64_t *ret_end, bool *ret_has_end)
{
    char *end = NULL;
    unsigned long long a, b = 0;

    if (strncmp(h, "bytes=", 6) != 0 || h[6] < '0' || h[6] > '9')
        return -EINVAL;
    errno = 0;
    a = strtoull(h + 6, &end, 10);
    if (errno || *end != '-')
        return -EINVAL;
    if (end[1] == '\0') {
        *ret_has_end = false;
    } else {
        const char *p = end + 1;

        if (*p < '0' || *p > '9')
            return -EINVAL;
        b = strtoull(p, &end, 10);
        if (errno || *end != '\0' || b < a)
            return -EINVAL;
        *ret_has_end = true;
    }
    *ret_start = a;
    *ret_end = b;
    return 0;
}

static void serve_file(struct ksr *s, struct evhttp_request *req, const char *name)
{
    struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
    const char *range = evhttp_find_header(evhttp_request_get_input_headers(req), "Range");
    uint64_t size = 0, start = 0, end = 0, len;
    bool has_end = false, partial = false;
    struct evbuffer *out = NULL;
    char *path = NULL, hdr[96];
    int fd = -1;

    if (!upd_file_name_is_safe(name) || !is_regular(s->dir, name, &size)) {
        reply_text(req, 404, "Not Found", "no such file");
        return;
    }
    if (range && range_parse(range, &start, &end, &has_end) == 0) {
        if (start >= size) {
            (void)snprintf(hdr, sizeof(hdr), "bytes */%" PRIu64, size);
            evhttp_add_header(oh, "Content-Range", hdr);
            reply_text(req, 416, "Range Not Satisfiable", "range not satisfiable");
            return;
        }
        if (!has_end || end >= size)
            end = size - 1;
        partial = true;
    } else {
        end = size ? size - 1 : 0;
    }
    len = size ? end - start + 1 : 0;
    path = fs_path_join(s->dir, name);
    fd = path ? open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) : -1;
    out = evbuffer_new();
    if (fd < 0 || !out) {
        reply_text(req, 500, "Internal Server Error", "cannot read the file");
        goto out;
    }
    (void)snprintf(hdr, sizeof(hdr), "%" PRIu64, len);
    evhttp_add_header(oh, "Content-Length", hdr);
    evhttp_add_header(oh, "Content-Type", "application/octet-stream");
    evhttp_add_header(oh, "Accept-Ranges", "bytes");
    if (partial) {
        (void)snprintf(hdr, sizeof(hdr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, start, end,
                       size);
        evhttp_add_header(oh, "Content-Range", hdr);
    }
    if (s->cut_after && len > s->cut_after) {
        /* The test's broken connection: fewer bytes than Content-Length, then close. */
        len = s->cut_after;
        evhttp_add_header(oh, "Connection", "close");
    }
    fprintf(stderr, "ksr: GET %s range %s: %" PRIu64 " bytes from %" PRIu64 "\n", name,
            range ? range : "-", len, start);
    if (len && evbuffer_add_file(out, fd, (ev_off_t)start, (ev_off_t)len) == 0)
        fd = -1; /* the buffer owns it */
    evhttp_send_reply(req, partial ? 206 : 200, partial ? "Partial Content" : "OK", out);
out:
    if (out)
        evbuffer_free(out);
    if (fd >= 0)
        close(fd);
    free(path);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct ksr *s = arg;
    const char *uri = evhttp_request_get_uri(req);
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);

    if (cmd == EVHTTP_REQ_POST) {
        serve_list(s, req);
        return;
    }
    if ((cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD) && uri && uri[0] == '/' &&
        !strchr(uri, '?')) {
        serve_file(s, req, uri + 1);
        return;
    }
    reply_text(req, 405, "Method Not Allowed", "POST / or GET /NAME");
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    event_base_loopbreak(arg);
}

static int ksr_serve_cmd(struct konctl *k, int argc, char **argv)
{
    struct args_opt opts[] = {{"listen", true, NULL}, {"cut-after", true, NULL}};
    struct ksr s = {0};
    struct evhttp *http = NULL;
    struct evhttp_bound_socket *sock;
    struct event *sigterm = NULL, *sigint = NULL;
    char addr[256];
    uint16_t port = 0;
    struct args a;
    int r;

    if (!args_command(k, argc, argv, opts, ARRAY_SIZE(opts), 1, 1, ksr_usage, &a, &r))
        return r;
    s.dir = a.pos[0];
    if (opts[1].value && args_uint_parse(opts[1].value, UINT64_MAX, &s.cut_after) < 0) {
        konctl_error("--cut-after must be a number of bytes, got '%s'", opts[1].value);
        return KONCTL_EXIT_USAGE;
    }
    if (str_split_addr_port(opts[0].value ? opts[0].value : DEFAULT_LISTEN, addr, sizeof(addr),
                            &port) < 0) {
        konctl_error("--listen must be ADDR:PORT, got '%s'", opts[0].value);
        return KONCTL_EXIT_USAGE;
    }
    if (!fs_exists(s.dir)) {
        konctl_error("'%s' does not exist", s.dir);
        return KONCTL_EXIT_USAGE;
    }
    (void)signal(SIGPIPE, SIG_IGN);
    s.base = event_base_new();
    http = s.base ? evhttp_new(s.base) : NULL;
    if (!http) {
        konctl_error("out of memory");
        r = KONCTL_EXIT_ERROR;
        goto out;
    }
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
    evhttp_set_gencb(http, on_request, &s);
    sock = evhttp_bind_socket_with_handle(http, addr, port);
    if (!sock) {
        konctl_error("cannot listen on %s:%u", addr, port);
        r = KONCTL_EXIT_ERROR;
        goto out;
    }
    {
        struct sockaddr_storage ss;
        ev_socklen_t sl = sizeof(ss);
        char host[64];

        if (getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&ss, &sl) == 0)
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        (void)snprintf(host, sizeof(host), strchr(addr, ':') ? "[%s]" : "%s", addr);
        printf("http://%s:%u/\n", host, port);
        fflush(stdout);
    }
    sigterm = evsignal_new(s.base, SIGTERM, on_signal, s.base);
    sigint = evsignal_new(s.base, SIGINT, on_signal, s.base);
    if (!sigterm || !sigint || evsignal_add(sigterm, NULL) < 0 || evsignal_add(sigint, NULL) < 0) {
        konctl_error("cannot watch signals");
        r = KONCTL_EXIT_ERROR;
        goto out;
    }
    (void)event_base_dispatch(s.base);
    r = KONCTL_EXIT_OK;
out:
    if (sigterm)
        event_free(sigterm);
    if (sigint)
        event_free(sigint);
    if (http)
        evhttp_free(http);
    if (s.base)
        event_base_free(s.base);
    return r;
}

int cmd_ksr(struct konctl *k, int argc, char **argv)
{
    static const char *const names[] = {"serve"};
    int shift = 0;
    int r;
    int i;

    i = args_subcommand(argc, argv, names, ARRAY_SIZE(names), NULL, ksr_usage, &shift, &r);
    if (i != 0)
        return r;
    return ksr_serve_cmd(k, argc - shift, argv + shift);
}
