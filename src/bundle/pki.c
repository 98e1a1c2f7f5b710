/* pki: the test vendor PKI (docs/update-bundle.md, "Test vendor PKI"): a root CA and a code
 * signing certificate, made at test time so that no private key is ever committed.
 *
 * Invariants:
 *  1. Key files are written with mode 0600 before the certificates, atomically.
 *  2. Certificates carry explicit validity times from the caller, so tests can make expired
 *     or not-yet-valid ones without touching a clock. */
#include "bundle/bundle_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

/* Serial numbers: 127 random bits, positive. */
#define SERIAL_BITS 127

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    int ok;

    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext)
        return -EIO;
    ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok == 1 ? 0 : -ENOMEM;
}

int bundle__cert_make(EVP_PKEY *key, const char *cn, const char *org, bool ca, X509 *issuer,
                      EVP_PKEY *issuer_key, int64_t not_before_s, int64_t not_after_s,
                      X509 **ret_cert)
{
    X509 *cert = X509_new();
    X509_NAME *name = NULL;
    BIGNUM *serial = BN_new();
    int r = 0;

    if (!cert || !serial) {
        r = -ENOMEM;
        goto out;
    }
    if (X509_set_version(cert, 2) != 1 ||
        BN_rand(serial, SERIAL_BITS, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
        !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert))) {
        r = -EIO;
        goto out;
    }
    name = X509_NAME_new();
    if (!name ||
        X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)org, -1, -1,
                                   0) != 1 ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
                                   0) != 1 ||
        X509_set_subject_name(cert, name) != 1 ||
        X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name) != 1 ||
        X509_set_pubkey(cert, key) != 1 ||
        !ASN1_TIME_set(X509_getm_notBefore(cert), (time_t)not_before_s) ||
        !ASN1_TIME_set(X509_getm_notAfter(cert), (time_t)not_after_s)) {
        r = -EIO;
        goto out;
    }
    r = add_ext(cert, issuer ? issuer : cert, NID_basic_constraints,
                ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    if (r == 0)
        r = add_ext(cert, issuer ? issuer : cert, NID_key_usage,
                    ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
    if (r == 0 && !ca)
        r = add_ext(cert, issuer, NID_ext_key_usage, "codeSigning");
    if (r == 0)
        r = add_ext(cert, issuer ? issuer : cert, NID_subject_key_identifier, "hash");
    if (r == 0 && issuer)
        r = add_ext(cert, issuer, NID_authority_key_identifier, "keyid:always");
    if (r < 0)
        goto out;
    if (X509_sign(cert, issuer_key ? issuer_key : key, EVP_sha256()) <= 0) {
        r = -EIO;
        goto out;
    }
    *ret_cert = cert;
    cert = NULL;
out:
    ERR_clear_error();
    X509_NAME_free(name);
    BN_free(serial);
    X509_free(cert);
    return r;
}

/* PEM of a key (key != NULL) or a certificate, written atomically with mode. */
static int pem_write(const char *dir, const char *file, EVP_PKEY *key, X509 *cert, unsigned mode)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *path = fs_path_join(dir, file);
    char *data = NULL;
    long len = 0;
    int r = 0;

    if (!bio || !path) {
        r = -ENOMEM;
        goto out;
    }
    if (key ? PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1
            : PEM_write_bio_X509(bio, cert) != 1) {
        r = -EIO;
        goto out;
    }
    len = BIO_get_mem_data(bio, &data);
    r = fs_write_atomic(path, data, (size_t)len, mode);
out:
    if (data)
        explicit_bzero(data, (size_t)len);
    BIO_free(bio);
    free(path);
    return r;
}

static EVP_PKEY *key_new(bool rsa)
{
    /* brainpoolP256r1 is the curve of the TI's ECC certificates (gemSpec_Krypt). */
    return rsa ? EVP_RSA_gen(3072) : EVP_EC_gen("brainpoolP256r1");
}

int bundle_keygen(const char *dir, const struct bundle_keygen_opts *opts, char *err,
                  size_t err_size)
{
    const char *vendor = opts->vendor && opts->vendor[0] ? opts->vendor : "Test Vendor";
    EVP_PKEY *root_key = NULL, *signer_key = NULL;
    X509 *root = NULL, *signer = NULL;
    int r;

    if (opts->not_after_s <= opts->not_before_s) {
        bundle__err(err, err_size, "the validity ends before it begins");
        return -EINVAL;
    }
    r = fs_mkdir_p(dir, 0700);
    if (r < 0) {
        bundle__err(err, err_size, "cannot create '%s': %s", dir, strerror(-r));
        return r;
    }
    root_key = key_new(opts->rsa);
    signer_key = key_new(opts->rsa);
    if (!root_key || !signer_key) {
        bundle__err(err, err_size, "cannot generate the keys");
        r = -EIO;
        goto out;
    }
    r = bundle__cert_make(root_key, "TEST-ONLY Vendor Root CA", vendor, true, NULL, NULL,
                          opts->not_before_s, opts->not_after_s, &root);
    if (r == 0)
        r = bundle__cert_make(signer_key, "TEST-ONLY Firmware Signing", vendor, false, root,
                              root_key, opts->not_before_s, opts->not_after_s, &signer);
    if (r < 0) {
        bundle__err(err, err_size, "cannot make the certificates: %s", strerror(-r));
        goto out;
    }
    /* Invariant 1: keys first. */
    r = pem_write(dir, "root-key.pem", root_key, NULL, 0600);
    if (r == 0)
        r = pem_write(dir, "signer-key.pem", signer_key, NULL, 0600);
    if (r == 0)
        r = pem_write(dir, "root-cert.pem", NULL, root, 0644);
    if (r == 0)
        r = pem_write(dir, "signer-cert.pem", NULL, signer, 0644);
    if (r < 0)
        bundle__err(err, err_size, "cannot write into '%s': %s", dir, strerror(-r));
out:
    X509_free(signer);
    X509_free(root);
    EVP_PKEY_free(signer_key);
    EVP_PKEY_free(root_key);
    return r;
}
