/* x509: certificate building and PEM key pairs for the connector's own TLS identities. */
#include "x509/x509.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "base/base.h"

#define PEM_MAX (64 * 1024)

int x509_add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    int ok;

    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext)
        return -EINVAL;
    ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -ENOMEM;
}

int x509_set_random_serial(X509 *cert)
{
    unsigned char serial[16];
    BIGNUM *bn;
    int r;

    r = rand_bytes(serial, sizeof(serial));
    if (r < 0)
        return r;
    serial[0] &= 0x7f; /* positive */
    serial[0] |= 0x01; /* never shorter than 16 bytes, never zero */
    bn = BN_bin2bn(serial, sizeof(serial), NULL);
    r = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) ? 0 : -ENOMEM;
    BN_free(bn);
    return r;
}

static int add_extensions(X509 *cert, const struct x509_spec *spec, X509 *issuer)
{
    X509 *signer = issuer ? issuer : cert;
    int r = x509_add_ext(cert, signer, NID_basic_constraints, spec->constraints);

    if (r == 0)
        r = x509_add_ext(cert, signer, NID_key_usage, spec->key_usage);
    if (r == 0 && spec->ext_key_usage)
        r = x509_add_ext(cert, signer, NID_ext_key_usage, spec->ext_key_usage);
    if (r == 0 && spec->san)
        r = x509_add_ext(cert, signer, NID_subject_alt_name, spec->san);
    if (r == 0)
        r = x509_add_ext(cert, signer, NID_subject_key_identifier, "hash");
    if (r == 0 && issuer)
        r = x509_add_ext(cert, issuer, NID_authority_key_identifier, "keyid:always");
    return r;
}

int x509_cert_make(EVP_PKEY *key, const struct x509_spec *spec, X509 *issuer, EVP_PKEY *issuer_key,
                   X509 **ret_cert)
{
    X509 *cert = X509_new();
    X509_NAME *name;
    int r = -ENOMEM;

    if (!cert || !X509_set_version(cert, 2))
        goto out;
    r = x509_set_random_serial(cert);
    if (r < 0)
        goto out;
    r = -ENOMEM;
    if (!X509_gmtime_adj(X509_getm_notBefore(cert), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(cert), spec->days * 86400))
        goto out;
    name = X509_get_subject_name(cert);
    if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"konnektord",
                                    -1, -1, 0) ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)spec->cn, -1,
                                    -1, 0) ||
        !X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name) ||
        !X509_set_pubkey(cert, key))
        goto out;
    r = add_extensions(cert, spec, issuer);
    if (r < 0)
        goto out;
    if (!X509_sign(cert, issuer ? issuer_key : key, EVP_sha256())) {
        r = -EIO;
        goto out;
    }
    *ret_cert = cert;
    cert = NULL;
    r = 0;
out:
    X509_free(cert);
    return r;
}

int x509_pem_to_file(const char *path, unsigned mode, EVP_PKEY *key, X509 *cert)
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

int x509_pair_read(const char *key_path, const char *cert_path, EVP_PKEY **ret_key, X509 **ret_cert)
{
    char *kdata = NULL, *cdata = NULL;
    size_t klen = 0, clen = 0;
    BIO *bio = NULL;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    int r;

    r = fs_read_all(key_path, PEM_MAX, &kdata, &klen);
    if (r == 0)
        r = fs_read_all(cert_path, PEM_MAX, &cdata, &clen);
    if (r < 0)
        goto out;
    bio = BIO_new_mem_buf(kdata, (int)klen);
    key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    bio = BIO_new_mem_buf(cdata, (int)clen);
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
    if (kdata)
        explicit_bzero(kdata, klen);
    free(kdata);
    free(cdata);
    X509_free(cert);
    EVP_PKEY_free(key);
    return r;
}

int x509_pair_load(const char *dir, const char *key_name, const char *cert_name, x509_make_fn make,
                   void *arg, EVP_PKEY **ret_key, X509 **ret_cert, bool *ret_generated)
{
    char *key_path = fs_path_join(dir, key_name);
    char *cert_path = fs_path_join(dir, cert_name);
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    bool generated = false;
    int r = -ENOMEM;

    if (!key_path || !cert_path)
        goto out;
    if (fs_exists(key_path) && fs_exists(cert_path)) {
        r = x509_pair_read(key_path, cert_path, &key, &cert);
    } else {
        r = make(arg, &key, &cert);
        if (r == 0)
            r = x509_pem_to_file(key_path, 0600, key, NULL);
        if (r == 0)
            r = x509_pem_to_file(cert_path, 0644, NULL, cert);
        generated = true;
    }
    if (r < 0)
        goto out;
    *ret_key = key;
    *ret_cert = cert;
    if (ret_generated)
        *ret_generated = generated;
    key = NULL;
    cert = NULL;
out:
    X509_free(cert);
    EVP_PKEY_free(key);
    free(cert_path);
    free(key_path);
    return r;
}

static bool is_specific_ip(const char *s)
{
    return s && *s && strcmp(s, "0.0.0.0") != 0 && strcmp(s, "::") != 0 &&
           strcmp(s, "127.0.0.1") != 0 && strcmp(s, "::1") != 0 &&
           strspn(s, "0123456789.:abcdefABCDEF") == strlen(s);
}

int x509_server_san(const char *hostname, const char *extra_ip, char *buf, size_t size)
{
    bool ip = is_specific_ip(extra_ip);
    int n = snprintf(buf, size, "DNS:localhost,DNS:%s,IP:127.0.0.1,IP:::1%s%s", hostname,
                     ip ? ",IP:" : "", ip ? extra_ip : "");

    return n < 0 || (size_t)n >= size ? -ENOSPC : 0;
}

int x509_fingerprint_sha256(X509 *cert, char *buf, size_t size)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    size_t pos = 0;

    if (size < 3 * 32)
        return -EINVAL;
    if (!X509_digest(cert, EVP_sha256(), md, &md_len))
        return -EIO;
    buf[0] = '\0';
    for (unsigned int i = 0; i < md_len; i++)
        pos += (size_t)snprintf(buf + pos, size - pos, i ? ":%02X" : "%02X", md[i]);
    return 0;
}
