/* cetp_tls: the connector as TLS client of event sinks (TIP1-A_4595).
 *
 * With ANCL_TLS_MANDATORY=Enabled, CETP runs over TLS 1.2 or newer with the connector as the
 * client. The spec asks the connector to authenticate itself if the sink wants it, and says
 * nothing about checking the sink, whose address the client system chose itself: the sink's
 * certificate is therefore not verified, only the outcome of the check is logged at debug
 * level. The client identity is the LAN RSA identity the SOAP listener uses
 * (DATA/identity/lan-rsa-{cert,key}.pem, see soap/identity.c); OpenSSL sends it only when a
 * sink asks for a certificate. ANCL_CAUT_* do not apply to event delivery.
 *
 * Invariants:
 *  1. A context never carries half an identity: a certificate that cannot be used with its
 *     key means a context without one (logged once, when the context is made).
 *  2. Nothing here reads a setting or touches a connection's state. */
#include <stdlib.h>

#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "services/services_internal.h"

static SSL_CTX *ctx_new(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    /* Only so that the log can say whether the sink's certificate would have verified. */
    (void)SSL_CTX_set_default_verify_paths(ctx);
    return ctx;
}

static bool identity_use(SSL_CTX *ctx, const char *data_dir)
{
    char *cert = fs_path_join(data_dir, "identity/lan-rsa-cert.pem");
    char *key = fs_path_join(data_dir, "identity/lan-rsa-key.pem");
    bool ok = false;

    if (cert && key && fs_exists(cert) && fs_exists(key))
        ok = SSL_CTX_use_certificate_chain_file(ctx, cert) == 1 &&
             SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) == 1 &&
             SSL_CTX_check_private_key(ctx) == 1;
    else
        log_msg(LOG_LEVEL_DEBUG, "services: no LAN RSA identity yet, CETP over TLS without a "
                                 "client certificate");
    free(cert);
    free(key);
    return ok;
}

SSL_CTX *services__cetp_tls_ctx_new(const char *data_dir)
{
    SSL_CTX *ctx = ctx_new();

    if (!ctx || !data_dir || identity_use(ctx, data_dir))
        return ctx;
    /* Invariant 1: start over without the identity. */
    log_msg(LOG_LEVEL_WARNING, "services: the LAN RSA identity cannot be used as TLS client "
                               "certificate, connecting to event sinks without one");
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return ctx_new();
}

void services__cetp_tls_log_peer(struct bufferevent *bev, const char *sink)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;

    if (v != X509_V_OK)
        log_msg(LOG_LEVEL_DEBUG,
                "services: certificate of event sink '%s' not verified (%s), delivering anyway",
                sink, X509_verify_cert_error_string(v));
}
