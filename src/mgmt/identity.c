/* identity: the management listener's key and certificate.
 *
 * At first start the connector generates an ECDSA P-256 key and a self-signed certificate
 * (10 years, CA:TRUE so that clients can pin it as their only trust anchor) naming localhost,
 * 127.0.0.1, ::1, the connector's host name and the management address. They live in
 * DATA/identity/, which survives a factory reset (DESIGN.md section 8).
 *
 * Invariants:
 *  1. The key file is written with mode 0600, atomically, before the certificate; a start
 *     that finds a key without a certificate generates both again (x509_pair_load()).
 *  2. A stored pair that cannot be parsed or does not match is refused (-EBADMSG), never
 *     silently replaced: the caller decides (bootup raises EC_Secure_KeyStore_Not_Available
 *     and runs on an ephemeral identity). */
#include "mgmt/mgmt_internal.h"

#include <errno.h>
#include <stdlib.h>

#include "x509/x509.h"

/* Long enough that a test connector never sees it expire; a real device renews. */
#define CERT_VALID_DAYS 3650

struct make_args {
    const char *hostname;
    const char *extra_ip;
};

static int generate(void *arg, EVP_PKEY **ret_key, X509 **ret_cert)
{
    const struct make_args *a = arg;
    char san[512];
    struct x509_spec spec = {
        .cn = a->hostname,
        .san = san,
        .constraints = "critical,CA:TRUE,pathlen:0",
        .key_usage = "critical,digitalSignature,keyCertSign",
        .ext_key_usage = "serverAuth",
        .days = CERT_VALID_DAYS,
    };
    EVP_PKEY *key;
    int r = x509_server_san(a->hostname, a->extra_ip, san, sizeof(san));

    if (r < 0)
        return r;
    key = EVP_EC_gen("P-256");
    if (!key)
        return -ENOMEM;
    r = x509_cert_make(key, &spec, NULL, NULL, ret_cert);
    if (r < 0) {
        EVP_PKEY_free(key);
        return r;
    }
    *ret_key = key;
    return 0;
}

static int identity_make(EVP_PKEY *key, X509 *cert, struct mgmt_identity **ret_identity)
{
    struct mgmt_identity *id = calloc(1, sizeof(*id));

    if (!id)
        return -ENOMEM;
    id->key = key;
    id->cert = cert;
    (void)x509_fingerprint_sha256(cert, id->fingerprint, sizeof(id->fingerprint));
    *ret_identity = id;
    return 0;
}

int mgmt_identity_ephemeral(const char *hostname, struct mgmt_identity **ret_identity)
{
    struct make_args args = {hostname, NULL};
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    int r = generate(&args, &key, &cert);

    if (r < 0)
        return r;
    r = identity_make(key, cert, ret_identity);
    if (r < 0) {
        X509_free(cert);
        EVP_PKEY_free(key);
    }
    return r;
}

int mgmt_identity_load(const char *data_dir, const char *hostname, const char *extra_ip,
                       struct mgmt_identity **ret_identity)
{
    struct make_args args = {hostname, extra_ip};
    char *dir = fs_path_join(data_dir, "identity");
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    bool generated = false;
    int r = -ENOMEM;

    if (!dir)
        goto out;
    r = fs_mkdir_p(dir, 0700);
    if (r == 0)
        r = x509_pair_load(dir, "mgmt-key.pem", "mgmt-cert.pem", generate, &args, &key, &cert,
                           &generated);
    if (r < 0)
        goto out;
    if (generated)
        log_msg(LOG_LEVEL_INFO, "mgmt: generated management identity in '%s'", dir);
    r = identity_make(key, cert, ret_identity);
    if (r == 0) {
        key = NULL;
        cert = NULL;
    }
out:
    X509_free(cert);
    EVP_PKEY_free(key);
    free(dir);
    return r;
}

struct mgmt_identity *mgmt_identity_free(struct mgmt_identity *id)
{
    if (!id)
        return NULL;
    X509_free(id->cert);
    EVP_PKEY_free(id->key);
    free(id);
    return NULL;
}

const char *mgmt_identity_fingerprint(const struct mgmt_identity *id)
{
    return id->fingerprint;
}
