/* listen: the LAN listeners (HTTP and HTTPS on evhttp), the TLS side of client
 * authentication, and the public calls that need the identities.
 *
 *   soap_server_listen ──> identities (identity.c) ──> one SSL_CTX ──> evhttp per listener
 *   each HTTPS connection ──> on_tls_connection: SSL with the verify mode the ANCL_CAUT_*
 *   settings ask for now ──> handshake (a certificate on the client certificate list, or no
 *   connection)
 *
 * Invariants:
 *  1. The verify mode is chosen per connection from the current settings (server.c
 *     invariant 1); the context itself never changes after listening.
 *  2. A fatal alert we send while a client certificate is required, for a reason that concerns
 *     the certificate, is one failed client authentication (MGM/CLIENT_AUTH_FAILED).
 *  3. Accepted sockets inherit TCP_NODELAY from the listening socket (Linux).
 *  4. The bound URLs are written to DATA/run/lan-http.url and lan-https.url.
 *  5. A client certificate is accepted when it is on the client certificate list and valid
 *     now (client_certs.c); chains are not consulted, so removing it from the list revokes it.
 *     The CertificateRequest names the client CA and the imported certificates' issuers. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>

#include "soap/soap_internal.h"

/* Headers of a SOAP call are a few hundred bytes; Basic credentials fit easily. */
#define HEADERS_MAX (16 * 1024)
/* An idle connection is dropped after this many seconds. evhttp does not read while a call
 * waits for its answer, so a long PIN entry is not cut by it. */
#define TIMEOUT_S 120
#define URL_SIZE 160

/* ---- TLS -------------------------------------------------------------------------------- */

/* Invariant 2: was this fatal alert about the client's certificate? */
static bool is_cert_alert(const SSL *ssl, int desc)
{
    /* bad/unsupported/revoked/expired/unknown certificate, unknown_ca, access_denied,
     * decrypt_error (a bad CertificateVerify), certificate_required (TLS 1.3, none sent). */
    static const int alerts[] = {42, 43, 44, 45, 46, 48, 49, 51, 116};

    /* TLS 1.2 without a certificate ends in handshake_failure while reading it; the same
     * alert elsewhere (no shared cipher) is no authentication failure. */
    if (desc == 40)
        return SSL_get_state(ssl) == TLS_ST_SR_CERT;
    for (size_t i = 0; i < ARRAY_SIZE(alerts); i++)
        if (alerts[i] == desc)
            return true;
    return false;
}

static void on_tls_info(const SSL *ssl, int where, int value)
{
    struct soap_server *srv = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char peer[INET6_ADDRSTRLEN] = "unknown";

    if (!srv || !(where & SSL_CB_ALERT) || !(where & SSL_CB_WRITE) || (value >> 8) != 2)
        return;
    if (!(SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) || !is_cert_alert(ssl, value & 0xff)) {
        log_msg(LOG_LEVEL_DEBUG, "soap: TLS handshake failed: %s",
                SSL_alert_desc_string_long(value));
        return;
    }
    if (getpeername(SSL_get_fd(ssl), (struct sockaddr *)&ss, &sl) == 0)
        soap__addr_to_string(&ss, peer, sizeof(peer));
    soap__auth_failed(srv, peer, "Certificate");
}

static struct bufferevent *on_tls_connection(struct event_base *base, void *arg)
{
    struct soap_server *srv = arg;
    SSL *ssl = SSL_new(srv->ssl_ctx);
    struct soap__lan_settings s;
    struct bufferevent *bev;

    if (!ssl)
        return NULL;
    soap__settings_read(srv, &s);
    /* TIP1-A_4516: a certificate on the list (invariant 5), or no connection. */
    if (s.caut_mandatory && !s.caut_password)
        SSL_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    else
        SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
    bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                         BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        SSL_free(ssl);
        return NULL;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

/* The identities and the client certificate list, loaded together at first use. */
static int ensure_identity(struct soap_server *srv, const char *extra_ip)
{
    const char *hostname = NULL;
    int r;

    if (srv->identity && srv->client_certs)
        return 0;
    if (!srv->identity) {
        if (store_setting_get(srv->deps.store, "MGM_KONN_HOSTNAME", &hostname) < 0 || !hostname)
            hostname = "konnektor";
        r = soap__identity_load(srv->data_dir, hostname, extra_ip, &srv->identity);
        if (r < 0)
            return r;
    }
    return soap__client_certs_load(srv->data_dir, srv->identity->ca_cert, &srv->client_certs);
}

/* Invariant 5: the list decides, not a chain. Runs on the loop (handshakes do). */
static int on_verify_client_cert(X509_STORE_CTX *ctx, void *arg)
{
    struct soap_server *srv = arg;

    if (soap__client_certs_accepts(srv->client_certs, X509_STORE_CTX_get0_cert(ctx)))
        return 1;
    X509_STORE_CTX_set_error(ctx, X509_V_ERR_CERT_REJECTED);
    return 0;
}

/* After each change of the list: the CA names the next CertificateRequest offers. */
static void update_ca_names(struct soap_server *srv)
{
    STACK_OF(X509_NAME) * names;

    if (!srv->ssl_ctx)
        return;
    names = soap__client_certs_ca_names(srv->client_certs);
    if (names)
        SSL_CTX_set_client_CA_list(srv->ssl_ctx, names);
    else
        log_msg(LOG_LEVEL_WARNING, "soap: out of memory, the CA names offered to clients stay");
}

static int write_url(struct soap_server *srv, const char *name, const char *url)
{
    char *dir = fs_path_join(srv->data_dir, "run");
    char *path = dir ? fs_path_join(dir, name) : NULL;
    char line[URL_SIZE + 2];
    int r = -ENOMEM;

    if (path) {
        r = fs_mkdir_p(dir, 0755);
        (void)snprintf(line, sizeof(line), "%s\n", url);
        if (r == 0)
            r = fs_write_atomic(path, line, strlen(line), 0644);
    }
    free(path);
    free(dir);
    return r;
}

static int listener_open(struct soap_server *srv, struct soap__listener *l, bool tls,
                         const char *addr_port, char *ret_url, size_t url_size)
{
    struct evhttp_bound_socket *sock;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char addr[128], url[URL_SIZE];
    uint16_t port;
    int one = 1;
    evutil_socket_t fd;

    if (str_split_addr_port(addr_port, addr, sizeof(addr), &port) < 0)
        return -EINVAL;
    l->srv = srv;
    l->tls = tls;
    l->http = evhttp_new(srv->deps.base);
    if (!l->http)
        return -ENOMEM;
    /* Invariant 4: the cap sits above SOAP_DOCUMENT_MAX so that 4280 is what clients see. */
    evhttp_set_max_body_size(l->http, SOAP_BODY_MAX);
    evhttp_set_max_headers_size(l->http, HEADERS_MAX);
    evhttp_set_timeout(l->http, TIMEOUT_S);
    evhttp_set_allowed_methods(l->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
    (void)evhttp_set_flags(l->http, EVHTTP_SERVER_LINGERING_CLOSE);
    if (tls)
        evhttp_set_bevcb(l->http, on_tls_connection, srv);
    evhttp_set_gencb(l->http, soap__server_on_request, l);
    sock = evhttp_bind_socket_with_handle(l->http, addr, port);
    if (!sock)
        return -EADDRINUSE;
    fd = evhttp_bound_socket_get_fd(sock);
    /* Accepted sockets inherit it (Linux): replies leave without Nagle's delay. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                              : ((struct sockaddr_in *)&ss)->sin_port);
    l->port = port;
    (void)snprintf(url, sizeof(url), strchr(addr, ':') ? "%s://[%s]:%u" : "%s://%s:%u",
                   tls ? "https" : "http", addr, (unsigned)port);
    if (ret_url)
        (void)str_copy(ret_url, url_size, url);
    return write_url(srv, tls ? "lan-https.url" : "lan-http.url", url);
}

int soap_server_listen(struct soap_server *srv, const char *http, const char *https, char *ret_http,
                       size_t http_size, char *ret_https, size_t https_size)
{
    char addr[128];
    uint16_t port;
    int r;

    if (srv->listening)
        return -EBUSY;
    if (!http && !https)
        return -EINVAL;
    if (https) {
        if (str_split_addr_port(https, addr, sizeof(addr), &port) < 0)
            return -EINVAL;
        r = ensure_identity(srv, addr);
        if (r < 0)
            return log_errno(LOG_LEVEL_ERROR, r, "soap: cannot load the LAN TLS identities");
        srv->ssl_ctx = soap__tls_ctx_new(srv->identity);
        if (!srv->ssl_ctx)
            return log_errno(LOG_LEVEL_ERROR, -EIO, "soap: cannot set up the LAN TLS context");
        SSL_CTX_set_app_data(srv->ssl_ctx, srv);
        SSL_CTX_set_info_callback(srv->ssl_ctx, on_tls_info);
        SSL_CTX_set_cert_verify_callback(srv->ssl_ctx, on_verify_client_cert, srv);
        update_ca_names(srv);
        r = listener_open(srv, &srv->secure, true, https, ret_https, https_size);
        if (r < 0)
            return r;
    }
    if (http) {
        r = listener_open(srv, &srv->plain, false, http, ret_http, http_size);
        if (r < 0)
            return r;
    }
    srv->listening = true;
    return 0;
}

int soap_client_cert_issue(struct soap_server *srv, const char *name, const char *password,
                           EVP_PKEY *key, uint8_t **ret_p12, size_t *ret_len)
{
    X509 *cert = NULL;
    uint8_t *p12 = NULL;
    size_t len = 0;
    int r = ensure_identity(srv, NULL);

    if (r < 0)
        return r == -EINVAL ? -EIO : r;
    if (!soap__client_name_is_valid(name))
        return -EINVAL;
    r = soap__client_p12_make(srv->identity, name, password, key, &cert, &p12, &len);
    if (r == 0)
        r = soap__client_certs_add(srv->client_certs, name, cert);
    X509_free(cert);
    if (r < 0) {
        if (p12)
            explicit_bzero(p12, len);
        free(p12);
        return r;
    }
    update_ca_names(srv);
    log_msg(LOG_LEVEL_INFO, "soap: issued a client certificate for '%s'", name);
    *ret_p12 = p12;
    *ret_len = len;
    return 0;
}

int soap_client_cert_import(struct soap_server *srv, const char *name, const char *pem, size_t len)
{
    int r = ensure_identity(srv, NULL);

    if (r < 0)
        return r == -EINVAL ? -EIO : r;
    r = soap__client_certs_import_pem(srv->client_certs, name, pem, len);
    if (r < 0)
        return r;
    update_ca_names(srv);
    log_msg(LOG_LEVEL_INFO, "soap: imported the client certificate '%s'", name);
    return 0;
}

int soap_client_cert_remove(struct soap_server *srv, const char *name)
{
    int r = ensure_identity(srv, NULL);

    if (r < 0)
        return r == -EINVAL ? -EIO : r;
    r = soap__client_certs_remove(srv->client_certs, name);
    if (r < 0)
        return r;
    update_ca_names(srv);
    log_msg(LOG_LEVEL_INFO, "soap: removed the client certificate '%s'", name);
    return 0;
}

int soap_client_cert_list(struct soap_server *srv, struct soap_client_cert_info **ret_list,
                          size_t *ret_n)
{
    int r = ensure_identity(srv, NULL);

    if (r < 0)
        return r == -EINVAL ? -EIO : r;
    return soap__client_certs_list(srv->client_certs, ret_list, ret_n);
}

int soap_client_cert_pem(struct soap_server *srv, const char *name, char **ret_pem)
{
    int r = ensure_identity(srv, NULL);

    if (r < 0)
        return r == -EINVAL ? -EIO : r;
    return soap__client_certs_pem(srv->client_certs, name, ret_pem);
}

/* Unlinks every NAME.pem in dir, also those the list skipped as damaged. */
static int unlink_pems(const char *dir)
{
    struct dirent *ent;
    DIR *d = opendir(dir);
    int r = 0;

    if (!d)
        return errno == ENOENT ? 0 : -errno;
    while ((ent = readdir(d))) {
        size_t n = strlen(ent->d_name);

        if (n > 4 && strcmp(ent->d_name + n - 4, ".pem") == 0 &&
            unlinkat(dirfd(d), ent->d_name, 0) < 0 && errno != ENOENT)
            r = -errno;
    }
    (void)closedir(d);
    return r;
}

int soap_client_credentials_reset(struct soap_server *srv, const char *data_dir)
{
    char *certs = fs_path_join(data_dir, "identity/lan-client-certs");
    char *users = fs_path_join(data_dir, "identity/lan-basic-users");
    int r = -ENOMEM;

    if (!certs || !users)
        goto out;
    r = 0;
    if (srv && srv->client_certs) {
        r = soap__client_certs_clear(srv->client_certs);
        update_ca_names(srv);
    }
    if (r == 0)
        r = unlink_pems(certs);
    if (r == 0 && unlink(users) < 0 && errno != ENOENT)
        r = -errno;
    if (r == 0 && srv) {
        /* Memory follows the file: an empty table, and no remembered successes. */
        struct soap__users *fresh = NULL;

        r = soap__users_load(srv->data_dir, &fresh);
        if (r == 0) {
            soap__users_free(srv->users);
            srv->users = fresh;
        }
    }
out:
    free(users);
    free(certs);
    return r;
}

int soap_basic_user_set(struct soap_server *srv, const char *name, const char *password)
{
    return soap__users_set(srv->users, name, password);
}
