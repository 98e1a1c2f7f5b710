/* identity: the management listener's key and certificate.
 *
 * At first start the connector generates an ECDSA P-256 key and a self-signed certificate
 * (10 years, CA:TRUE so that clients can pin it as their only trust anchor) naming localhost,
 * 127.0.0.1, ::1, the connector's host name and the management address. They live in
 * DATA/identity/, which survives a factory reset (DESIGN.md section 8).
 *
 * Invariants:
 *  1. The key file is written with mode 0600, atomically, before the certificate; a start
 *     that finds a key without a certificate generates both again.
 *  2. A stored pair that cannot be parsed or does not match is refused (-EBADMSG), never
 *     silently replaced: the caller decides (bootup raises EC_Secure_KeyStore_Not_Available
 *     and runs on an ephemeral identity). */
#include "mgmt/mgmt_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* Long enough that a test connector never sees it expire; a real device renews. */
#define CERT_VALID_DAYS 3650
#define PEM_MAX (64 * 1024)

static int add_ext(X509 *cert, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    int ok;

    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext)
        return -EINVAL;
    ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -ENOMEM;
}

static bool is_plain_ip(const char *s)
{
    return s && *s && strcmp(s, "0.0.0.0") != 0 && strcmp(s, "::") != 0 &&
           strcmp(s, "127.0.0.1") != 0 && strcmp(s, "::1") != 0 &&
           strspn(s, "0123456789.:abcdefABCDEF") == strlen(s);
}

static int generate(const char *hostname, const char *extra_ip, EVP_PKEY **ret_key, X509 **ret_cert)
{
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    X509_NAME *name;
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    char san[512];
    int r = -ENOMEM;

    key = EVP_EC_gen("P-256");
    if (!key)
        goto out;
    cert = X509_new();
    if (!cert || !X509_set_version(cert, 2))
        goto out;
    if (rand_bytes(serial, sizeof(serial)) < 0) {
        r = -EIO;
        goto out;
    }
    serial[0] &= 0x7f; /* positive */
    bn = BN_bin2bn(serial, sizeof(serial), NULL);
    if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)))
        goto out;
    /* Real time, not the virtual clock: TLS peers check validity against their own. */
    if (!X509_gmtime_adj(X509_getm_notBefore(cert), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(cert), (long)CERT_VALID_DAYS * 86400))
        goto out;
    name = X509_get_subject_name(cert);
    if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"konnektord",
                                    -1, -1, 0) ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)hostname, -1,
                                    -1, 0) ||
        !X509_set_issuer_name(cert, name) || !X509_set_pubkey(cert, key))
        goto out;
    (void)snprintf(san, sizeof(san), "DNS:localhost,DNS:%s,IP:127.0.0.1,IP:::1%s%s", hostname,
                   is_plain_ip(extra_ip) ? ",IP:" : "", is_plain_ip(extra_ip) ? extra_ip : "");
    r = add_ext(cert, NID_subject_alt_name, san);
    if (r == 0)
        r = add_ext(cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
    if (r == 0)
        r = add_ext(cert, NID_key_usage, "critical,digitalSignature,keyCertSign");
    if (r == 0)
        r = add_ext(cert, NID_ext_key_usage, "serverAuth");
    if (r == 0)
        r = add_ext(cert, NID_subject_key_identifier, "hash");
    if (r < 0)
        goto out;
    if (!X509_sign(cert, key, EVP_sha256())) {
        r = -EIO;
        goto out;
    }
    *ret_key = key;
    *ret_cert = cert;
    key = NULL;
    cert = NULL;
    r = 0;
out:
    BN_free(bn);
    X509_free(cert);
    EVP_PKEY_free(key);
    return r;
}

static int pem_to_file(const char *path, unsigned mode, EVP_PKEY *key, X509 *cert)
{
    BIO *mem = BIO_new(BIO_s_mem());
    char *data;
    long len;
    int r;

    if (!mem)
        return -ENOMEM;
    if (key ? !PEM_write_bio_PrivateKey(mem, key, NULL, NULL, 0, NULL, NULL)
            : !PEM_write_bio_X509(mem, cert)) {
        BIO_free(mem);
        return -EIO;
    }
    len = BIO_get_mem_data(mem, &data);
    r = fs_write_atomic(path, data, (size_t)len, mode);
    BIO_free(mem);
    return r;
}

static int load_pair(const char *key_path, const char *cert_path, EVP_PKEY **ret_key,
                     X509 **ret_cert)
{
    char *data = NULL;
    size_t len = 0;
    BIO *bio = NULL;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    int r;

    r = fs_read_all(key_path, PEM_MAX, &data, &len);
    if (r < 0)
        goto out;
    bio = BIO_new_mem_buf(data, (int)len);
    key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    free(data);
    data = NULL;
    r = fs_read_all(cert_path, PEM_MAX, &data, &len);
    if (r < 0)
        goto out;
    bio = BIO_new_mem_buf(data, (int)len);
    cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (!key || !cert || X509_check_private_key(cert, key) != 1) {
        r = -EBADMSG;
        goto out;
    }
    *ret_key = key;
    *ret_cert = cert;
    key = NULL;
    cert = NULL;
out:
    free(data);
    X509_free(cert);
    EVP_PKEY_free(key);
    return r;
}

static int identity_make(EVP_PKEY *key, X509 *cert, struct mgmt_identity **ret_identity)
{
    struct mgmt_identity *id = calloc(1, sizeof(*id));
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    size_t pos = 0;

    if (!id)
        return -ENOMEM;
    id->key = key;
    id->cert = cert;
    if (X509_digest(cert, EVP_sha256(), md, &md_len)) {
        for (unsigned int i = 0; i < md_len && pos + 3 < sizeof(id->fingerprint); i++)
            pos += (size_t)snprintf(id->fingerprint + pos, sizeof(id->fingerprint) - pos,
                                    i ? ":%02X" : "%02X", md[i]);
    }
    *ret_identity = id;
    return 0;
}

int mgmt_identity_ephemeral(const char *hostname, struct mgmt_identity **ret_identity)
{
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    int r = generate(hostname, NULL, &key, &cert);

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
    char *dir = fs_path_join(data_dir, "identity");
    char *key_path = dir ? fs_path_join(dir, "mgmt-key.pem") : NULL;
    char *cert_path = dir ? fs_path_join(dir, "mgmt-cert.pem") : NULL;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    int r = -ENOMEM;

    if (!key_path || !cert_path)
        goto out;
    r = fs_mkdir_p(dir, 0700);
    if (r < 0)
        goto out;
    if (fs_exists(key_path) && fs_exists(cert_path)) {
        r = load_pair(key_path, cert_path, &key, &cert);
        if (r < 0)
            goto out;
    } else {
        r = generate(hostname, extra_ip, &key, &cert);
        if (r == 0)
            r = pem_to_file(key_path, 0600, key, NULL);
        if (r == 0)
            r = pem_to_file(cert_path, 0644, NULL, cert);
        if (r < 0)
            goto out;
        log_msg(LOG_LEVEL_INFO, "mgmt: generated management identity in '%s'", dir);
    }
    r = identity_make(key, cert, ret_identity);
    if (r == 0) {
        key = NULL;
        cert = NULL;
    }
out:
    X509_free(cert);
    EVP_PKEY_free(key);
    free(cert_path);
    free(key_path);
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
