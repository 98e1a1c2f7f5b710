/* identity: the LAN listener's TLS identities and the client CA (TIP1-A_4514, TIP1-A_4517,
 * A_21698: RSA-2048 and ECC-256 server identities).
 *
 *   DATA/identity/lan-rsa-key.pem, lan-rsa-cert.pem      RSA-2048, self-signed
 *   DATA/identity/lan-ecc-key.pem, lan-ecc-cert.pem      brainpoolP256r1, self-signed
 *   DATA/identity/lan-client-ca-key.pem, lan-client-ca.pem   P-256 CA that signs the client
 *                                                        certificates the connector issues
 *
 * Both server identities go into one SSL_CTX; OpenSSL picks the one the client can use (its
 * signature algorithms, and in TLS 1.2 its supported groups). OpenSSL 3.0 has no TLS 1.3
 * brainpool signature schemes, so a TLS 1.3 client gets the RSA identity; a TLS 1.2 client
 * that offers brainpoolP256r1 and ECDSA gets the brainpool one.
 *
 * Invariants:
 *  1. A key file is written with mode 0600, atomically, before its certificate; a key
 *     without a certificate is generated again, both of them.
 *  2. A stored pair that cannot be parsed or does not match is refused (-EBADMSG), never
 *     silently replaced: the caller decides.
 *  3. Server certificates name localhost, 127.0.0.1, ::1 and the connector's host name;
 *     they carry CA:TRUE, pathlen 0, so that a client can pin one as its only trust anchor
 *     (as the management identity does).
 *  4. The client CA signs only certificates with extendedKeyUsage clientAuth. Which client
 *     certificates a handshake accepts is the client certificate list's decision
 *     (client_certs.c), not a chain to this CA. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pkcs12.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "soap/soap_internal.h"
#include "x509/x509.h"

/* Long enough that a test connector never sees them expire; a real device renews. */
#define SERVER_CERT_DAYS 3650
#define CA_CERT_DAYS 7300
#define CLIENT_CERT_DAYS 1825

/* TLS 1.2 suites of gemSpec_Krypt (ECDHE with AES-GCM first; the DHE-RSA CBC suites that
 * older practice systems need last). TLS 1.3 suites stay OpenSSL's defaults. */
#define CIPHERS_TLS12                                                                              \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"                                 \
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:"                                     \
    "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:"                                         \
    "ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES256-SHA384:"                                             \
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES128-SHA:DHE-RSA-AES256-SHA"
/* brainpoolP256r1 must be offered for the ECC identity (TLS 1.2); the rest are the defaults. */
#define GROUPS "X25519:P-256:P-384:P-521:brainpoolP256r1:brainpoolP384r1:brainpoolP512r1:X448"
#define SIGALGS                                                                                    \
    "ECDSA+SHA256:ECDSA+SHA384:ECDSA+SHA512:rsa_pss_rsae_sha256:rsa_pss_rsae_sha384:"              \
    "rsa_pss_rsae_sha512:RSA+SHA256:RSA+SHA384:RSA+SHA512"
#define SESSION_ID_CONTEXT "konnektord-lan"

static EVP_PKEY *key_new(enum soap_key_type type)
{
    if (type == SOAP_KEY_RSA_2048)
        return EVP_RSA_gen(2048);
    return EVP_EC_gen("brainpoolP256r1");
}

/* Loads DIR/key_name and DIR/cert_name, or generates both with make() (invariant 1). */
static int pair_load(const char *dir, const char *key_name, const char *cert_name,
                     x509_make_fn make, void *arg, EVP_PKEY **ret_key, X509 **ret_cert)
{
    bool generated = false;
    int r = x509_pair_load(dir, key_name, cert_name, make, arg, ret_key, ret_cert, &generated);

    if (r == 0 && generated)
        log_msg(LOG_LEVEL_INFO, "soap: generated '%s' in '%s'", cert_name, dir);
    return r;
}

struct server_args {
    enum soap_key_type type;
    const char *hostname;
    const char *san;
};

static int make_server(void *arg, EVP_PKEY **ret_key, X509 **ret_cert)
{
    const struct server_args *a = arg;
    struct x509_spec spec = {
        .cn = a->hostname,
        .san = a->san,
        .constraints = "critical,CA:TRUE,pathlen:0",
        .key_usage = a->type == SOAP_KEY_RSA_2048
                         ? "critical,digitalSignature,keyEncipherment,keyCertSign"
                         : "critical,digitalSignature,keyCertSign",
        .ext_key_usage = "serverAuth",
        .days = SERVER_CERT_DAYS,
    };
    EVP_PKEY *key = key_new(a->type);
    int r;

    if (!key)
        return -EIO;
    r = x509_cert_make(key, &spec, NULL, NULL, ret_cert);
    if (r < 0) {
        EVP_PKEY_free(key);
        return r;
    }
    *ret_key = key;
    return 0;
}

static int make_ca(void *arg, EVP_PKEY **ret_key, X509 **ret_cert)
{
    char cn[128];
    struct x509_spec spec = {
        .cn = cn,
        .constraints = "critical,CA:TRUE,pathlen:0",
        .key_usage = "critical,keyCertSign,cRLSign",
        .days = CA_CERT_DAYS,
    };
    EVP_PKEY *key = EVP_EC_gen("P-256");
    int r;

    if (!key)
        return -EIO;
    (void)snprintf(cn, sizeof(cn), "konnektord LAN client CA %s", (const char *)arg);
    r = x509_cert_make(key, &spec, NULL, NULL, ret_cert);
    if (r < 0) {
        EVP_PKEY_free(key);
        return r;
    }
    *ret_key = key;
    return 0;
}

int soap__identity_load(const char *data_dir, const char *hostname, const char *extra_ip,
                        struct soap__identity **ret_id)
{
    struct soap__identity *id = calloc(1, sizeof(*id));
    char *dir = fs_path_join(data_dir, "identity");
    char san[512];
    struct server_args rsa = {SOAP_KEY_RSA_2048, hostname, san};
    struct server_args ecc = {SOAP_KEY_BRAINPOOL_P256, hostname, san};
    int r = -ENOMEM;

    if (!id || !dir)
        goto out;
    r = fs_mkdir_p(dir, 0700);
    if (r < 0)
        goto out;
    r = x509_server_san(hostname, extra_ip, san, sizeof(san));
    if (r < 0)
        goto out;
    r = pair_load(dir, "lan-rsa-key.pem", "lan-rsa-cert.pem", make_server, &rsa, &id->rsa_key,
                  &id->rsa_cert);
    if (r == 0)
        r = pair_load(dir, "lan-ecc-key.pem", "lan-ecc-cert.pem", make_server, &ecc, &id->ecc_key,
                      &id->ecc_cert);
    if (r == 0)
        r = pair_load(dir, "lan-client-ca-key.pem", "lan-client-ca.pem", make_ca, (void *)hostname,
                      &id->ca_key, &id->ca_cert);
    if (r < 0)
        goto out;
    *ret_id = id;
    id = NULL;
out:
    soap__identity_free(id);
    free(dir);
    return r;
}

struct soap__identity *soap__identity_free(struct soap__identity *id)
{
    if (!id)
        return NULL;
    X509_free(id->rsa_cert);
    EVP_PKEY_free(id->rsa_key);
    X509_free(id->ecc_cert);
    EVP_PKEY_free(id->ecc_key);
    X509_free(id->ca_cert);
    EVP_PKEY_free(id->ca_key);
    free(id);
    return NULL;
}

/* ---- TLS context and client certificates ------------------------------------------------ */

SSL_CTX *soap__tls_ctx_new(const struct soap__identity *id)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    if (!ctx)
        return NULL;
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
        SSL_CTX_use_certificate(ctx, id->rsa_cert) != 1 ||
        SSL_CTX_use_PrivateKey(ctx, id->rsa_key) != 1 ||
        SSL_CTX_use_certificate(ctx, id->ecc_cert) != 1 ||
        SSL_CTX_use_PrivateKey(ctx, id->ecc_key) != 1 || SSL_CTX_check_private_key(ctx) != 1 ||
        !SSL_CTX_set1_groups_list(ctx, GROUPS) || !SSL_CTX_set1_sigalgs_list(ctx, SIGALGS) ||
        !SSL_CTX_set_cipher_list(ctx, CIPHERS_TLS12) || !SSL_CTX_set_dh_auto(ctx, 1) ||
        SSL_CTX_set_session_id_context(ctx, (const unsigned char *)SESSION_ID_CONTEXT,
                                       sizeof(SESSION_ID_CONTEXT) - 1) != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify_depth(ctx, 2);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    return ctx;
}

EVP_PKEY *soap_client_key_new(enum soap_key_type type)
{
    return (unsigned)type < SOAP_KEY_TYPE_MAX ? key_new(type) : NULL;
}

int soap__client_p12_make(const struct soap__identity *id, const char *name, const char *password,
                          EVP_PKEY *key, X509 **ret_cert, uint8_t **ret_p12, size_t *ret_len)
{
    bool rsa = key && EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA;
    struct x509_spec spec = {
        .cn = name,
        .constraints = "critical,CA:FALSE",
        .key_usage =
            rsa ? "critical,digitalSignature,keyEncipherment" : "critical,digitalSignature",
        .ext_key_usage = "clientAuth",
        .days = CLIENT_CERT_DAYS,
    };
    size_t plen = password ? strlen(password) : 0;
    X509 *cert = NULL;
    STACK_OF(X509) *chain = NULL;
    PKCS12 *p12 = NULL;
    unsigned char *der = NULL;
    uint8_t *copy = NULL;
    int len, r = -EINVAL;

    if (!key || !soap__client_name_is_valid(name) || plen < 1 || plen > 128)
        goto out;
    r = x509_cert_make(key, &spec, id->ca_cert, id->ca_key, &cert);
    if (r < 0)
        goto out;
    r = -ENOMEM;
    chain = sk_X509_new_null();
    if (!chain || !sk_X509_push(chain, id->ca_cert))
        goto out;
    /* OpenSSL 3 defaults: AES-256-CBC with PBKDF2 for key and certificates, SHA-256 MAC. */
    p12 = PKCS12_create(password, name, key, cert, chain, 0, 0, 0, 0, 0);
    len = p12 ? i2d_PKCS12(p12, &der) : -1;
    if (len <= 0) {
        r = -EIO;
        goto out;
    }
    copy = malloc((size_t)len);
    if (!copy)
        goto out;
    memcpy(copy, der, (size_t)len);
    *ret_p12 = copy;
    *ret_len = (size_t)len;
    *ret_cert = cert;
    cert = NULL;
    r = 0;
out:
    OPENSSL_free(der);
    PKCS12_free(p12);
    sk_X509_free(chain); /* the CA certificate stays the identity's */
    X509_free(cert);
    return r;
}
