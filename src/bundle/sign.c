/* sign: detached CMS signatures over manifests and firmware-group documents, the trust store
 * of vendor roots, and signers (key, certificate, chain).
 *
 * Invariants:
 *  1. A signature verifies only if it is a DER SignedData with no trailing bytes, detached,
 *     over id-data, with exactly one SignerInfo whose digest is SHA-256, -384 or -512, and
 *     the signature over the exact bytes checks out.
 *  2. The signer's certificate must chain to a root of the trust store at opts->now_s with
 *     OpenSSL's security level 2 (no SHA-1, no RSA below 2048 bits), using only the
 *     certificates inside the signature as intermediates.
 *  3. The signer's certificate is no CA, has keyUsage with digitalSignature, and, when it has
 *     an extendedKeyUsage, codeSigning in it. */
#include "bundle/bundle_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

struct bundle_trust {
    X509_STORE *store;
    size_t n_roots;
};

struct bundle_signer {
    EVP_PKEY *key;
    X509 *cert;
    STACK_OF(X509) * chain;
};

/* The last OpenSSL error as text, and the error queue cleared. */
static const char *ossl_error(char *buf, size_t size)
{
    unsigned long e = ERR_peek_last_error();

    if (e == 0)
        (void)snprintf(buf, size, "no detail");
    else
        ERR_error_string_n(e, buf, size);
    ERR_clear_error();
    return buf;
}

/* ---- trust ------------------------------------------------------------------------------- */

struct bundle_trust *bundle_trust_new(void)
{
    struct bundle_trust *t = calloc(1, sizeof(*t));

    if (!t)
        return NULL;
    t->store = X509_STORE_new();
    if (!t->store) {
        free(t);
        return NULL;
    }
    return t;
}

struct bundle_trust *bundle_trust_free(struct bundle_trust *t)
{
    if (!t)
        return NULL;
    X509_STORE_free(t->store);
    free(t);
    return NULL;
}

size_t bundle_trust_count(const struct bundle_trust *t)
{
    return t->n_roots;
}

int bundle_trust_add_pem(struct bundle_trust *t, const void *pem, size_t len)
{
    BIO *bio = NULL;
    X509 *cert = NULL;
    size_t added = 0;
    int r = 0;

    if (len > INT32_MAX)
        return -EBADMSG;
    bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio)
        return -ENOMEM;
    while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
        /* A vendor root: a CA that signed itself (X509_check_issued on itself). */
        if (X509_check_ca(cert) != 1 || X509_check_issued(cert, cert) != X509_V_OK) {
            r = -EBADMSG;
            goto out;
        }
        if (X509_STORE_add_cert(t->store, cert) != 1) {
            r = -ENOMEM;
            goto out;
        }
        X509_free(cert);
        cert = NULL;
        added++;
    }
    /* The loop ends with "no start line" at the end of the text. */
    ERR_clear_error();
    if (added == 0)
        r = -EBADMSG;
    t->n_roots += added;
out:
    X509_free(cert);
    BIO_free(bio);
    ERR_clear_error();
    return r;
}

int bundle_trust_add_file(struct bundle_trust *t, const char *path)
{
    char *pem = NULL;
    size_t len = 0;
    int r = fs_read_all(path, BUNDLE_MANIFEST_MAX, &pem, &len);

    if (r < 0)
        return r;
    r = bundle_trust_add_pem(t, pem, len);
    free(pem);
    return r;
}

/* ---- signers ----------------------------------------------------------------------------- */

int bundle__signer_new(EVP_PKEY *key, X509 *cert, STACK_OF(X509) * chain,
                       struct bundle_signer **ret_signer)
{
    struct bundle_signer *s = calloc(1, sizeof(*s));

    if (!s)
        return -ENOMEM;
    if (chain)
        s->chain = X509_chain_up_ref(chain);
    else
        s->chain = sk_X509_new_null();
    if (!s->chain || EVP_PKEY_up_ref(key) != 1) {
        sk_X509_pop_free(s->chain, X509_free);
        free(s);
        return -ENOMEM;
    }
    s->key = key;
    if (X509_up_ref(cert) != 1) {
        (void)bundle_signer_free(s);
        return -ENOMEM;
    }
    s->cert = cert;
    *ret_signer = s;
    return 0;
}

struct bundle_signer *bundle_signer_free(struct bundle_signer *s)
{
    if (!s)
        return NULL;
    EVP_PKEY_free(s->key);
    X509_free(s->cert);
    sk_X509_pop_free(s->chain, X509_free);
    free(s);
    return NULL;
}

/* Reads a PEM file into a memory BIO; the file's bytes are wiped (it may hold a key). */
static int pem_bio(const char *path, BIO **ret)
{
    char *data = NULL;
    size_t len = 0;
    BIO *bio;
    int r = fs_read_all(path, BUNDLE_MANIFEST_MAX, &data, &len);

    if (r < 0)
        return r;
    bio = BIO_new(BIO_s_mem());
    if (!bio || BIO_write(bio, data, (int)len) != (int)len) {
        BIO_free(bio);
        r = -ENOMEM;
    } else {
        *ret = bio;
    }
    explicit_bzero(data, len);
    free(data);
    return r;
}

/* OpenSSL's password callback: none. Without it, OpenSSL would ask on the terminal. */
static int no_password(char *buf, int size, int rwflag, void *arg)
{
    return -1;
}

int bundle_signer_load(const char *key_path, const char *cert_path, const char *chain_path,
                       struct bundle_signer **ret_signer, char *err, size_t err_size)
{
    STACK_OF(X509) *chain = NULL;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL, *c = NULL;
    BIO *bio = NULL;
    int r;

    r = pem_bio(key_path, &bio);
    if (r < 0) {
        bundle__err(err, err_size, "cannot read the key '%s': %s", key_path, strerror(-r));
        goto out;
    }
    key = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
    BIO_free(bio);
    bio = NULL;
    if (!key) {
        bundle__err(err, err_size, "'%s' holds no PEM private key (or one with a password)",
                    key_path);
        r = -EBADMSG;
        goto out;
    }
    r = pem_bio(cert_path, &bio);
    if (r < 0) {
        bundle__err(err, err_size, "cannot read the certificate '%s': %s", cert_path, strerror(-r));
        goto out;
    }
    cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    bio = NULL;
    if (!cert || X509_check_private_key(cert, key) != 1) {
        bundle__err(err, err_size, "'%s' holds no PEM certificate for the key '%s'", cert_path,
                    key_path);
        r = -EBADMSG;
        goto out;
    }
    chain = sk_X509_new_null();
    if (!chain) {
        r = -ENOMEM;
        goto out;
    }
    if (chain_path) {
        r = pem_bio(chain_path, &bio);
        if (r < 0) {
            bundle__err(err, err_size, "cannot read the chain '%s': %s", chain_path, strerror(-r));
            goto out;
        }
        while ((c = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
            if (!sk_X509_push(chain, c)) {
                X509_free(c);
                r = -ENOMEM;
                goto out;
            }
        }
        if (sk_X509_num(chain) == 0) {
            bundle__err(err, err_size, "'%s' holds no PEM certificate", chain_path);
            r = -EBADMSG;
            goto out;
        }
    }
    r = bundle__signer_new(key, cert, chain, ret_signer);
out:
    ERR_clear_error();
    BIO_free(bio);
    sk_X509_pop_free(chain, X509_free);
    X509_free(cert);
    EVP_PKEY_free(key);
    return r;
}

/* ---- signing ----------------------------------------------------------------------------- */

int bundle__cms_sign(const void *data, size_t len, const struct bundle_signer *s, uint8_t **ret_der,
                     size_t *ret_len)
{
    const int flags = CMS_DETACHED | CMS_BINARY | CMS_NOSMIMECAP | CMS_PARTIAL;
    CMS_ContentInfo *cms = NULL;
    unsigned char *der = NULL;
    BIO *in = NULL;
    int n, r = 0;

    if (len > INT32_MAX)
        return -EINVAL;
    in = BIO_new_mem_buf(data, (int)len);
    cms = CMS_sign(NULL, NULL, NULL, NULL, flags);
    if (!in || !cms) {
        r = -ENOMEM;
        goto out;
    }
    if (!CMS_add1_signer(cms, s->cert, s->key, EVP_sha256(), flags)) {
        r = -EIO;
        goto out;
    }
    for (int i = 0; i < sk_X509_num(s->chain); i++)
        if (CMS_add1_cert(cms, sk_X509_value(s->chain, i)) != 1) {
            r = -EIO;
            goto out;
        }
    if (CMS_final(cms, in, NULL, flags) != 1) {
        r = -EIO;
        goto out;
    }
    n = i2d_CMS_ContentInfo(cms, &der);
    if (n <= 0) {
        r = -EIO;
        goto out;
    }
    *ret_der = malloc((size_t)n);
    if (!*ret_der) {
        r = -ENOMEM;
        goto out;
    }
    memcpy(*ret_der, der, (size_t)n);
    *ret_len = (size_t)n;
out:
    ERR_clear_error();
    OPENSSL_free(der);
    CMS_ContentInfo_free(cms);
    BIO_free(in);
    return r;
}

/* ---- verification ------------------------------------------------------------------------ */

static void subject_text(X509 *cert, char *buf, size_t size)
{
    X509_NAME_oneline(X509_get_subject_name(cert), buf, (int)size);
}

/* Invariant 1: the form of the SignedData and its digest. Returns 0 with r filled. */
static int check_form(CMS_ContentInfo *cms, struct bundle_result *r)
{
    STACK_OF(CMS_SignerInfo) *infos = CMS_get0_SignerInfos(cms);
    const ASN1_OBJECT *obj = NULL;
    X509_ALGOR *dig = NULL;
    int nid;

    if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed)
        return bundle__fail(r, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_SIGNATURE,
                            "the .p7s is CMS but no SignedData");
    if (CMS_is_detached(cms) != 1)
        return bundle__fail(r, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_SIGNATURE,
                            "the SignedData carries content; it must be detached");
    if (OBJ_obj2nid(CMS_get0_eContentType(cms)) != NID_pkcs7_data)
        return bundle__fail(r, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_SIGNATURE,
                            "the signed content type is not id-data");
    if (sk_CMS_SignerInfo_num(infos) != 1)
        return bundle__fail(r, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_SIGNATURE,
                            "%d signers; exactly one is allowed", sk_CMS_SignerInfo_num(infos));
    CMS_SignerInfo_get0_algs(sk_CMS_SignerInfo_value(infos, 0), NULL, NULL, &dig, NULL);
    if (dig)
        X509_ALGOR_get0(&obj, NULL, NULL, dig);
    nid = obj ? OBJ_obj2nid(obj) : NID_undef;
    if (nid != NID_sha256 && nid != NID_sha384 && nid != NID_sha512)
        return bundle__fail(r, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_SIGNATURE,
                            "digest %s is not allowed (SHA-256, -384 or -512)",
                            nid == NID_undef ? "unknown" : OBJ_nid2sn(nid));
    return 0;
}

/* Invariant 2. Returns 0 with r filled, or -ENOMEM. */
static int check_chain(X509 *leaf, STACK_OF(X509) * certs, const struct bundle_verify_opts *opts,
                       struct bundle_result *r)
{
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    X509_VERIFY_PARAM *param;
    char subject[256], root[256] = "?";
    int ok, e, depth;

    if (!ctx || X509_STORE_CTX_init(ctx, opts->trust->store, leaf, certs) != 1) {
        X509_STORE_CTX_free(ctx);
        return -ENOMEM;
    }
    param = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_time(param, (time_t)opts->now_s);
    X509_VERIFY_PARAM_set_auth_level(param, 2);
    ok = X509_verify_cert(ctx);
    if (ok != 1) {
        X509 *bad = X509_STORE_CTX_get_current_cert(ctx);

        e = X509_STORE_CTX_get_error(ctx);
        depth = X509_STORE_CTX_get_error_depth(ctx);
        subject_text(bad ? bad : leaf, subject, sizeof(subject));
        (void)bundle__fail(r, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_CHAIN, "'%s' (depth %d): %s",
                           subject, depth, X509_verify_cert_error_string(e));
    } else {
        STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);

        subject_text(sk_X509_value(chain, sk_X509_num(chain) - 1), root, sizeof(root));
        bundle__pass(opts, BUNDLE_CHECK_CHAIN, false, "%d certificates up to the root '%s'",
                     sk_X509_num(chain), root);
    }
    X509_STORE_CTX_free(ctx);
    ERR_clear_error();
    return 0;
}

/* Invariant 3. Returns 0 with r filled. */
static int check_key_usage(X509 *leaf, const struct bundle_verify_opts *opts,
                           struct bundle_result *r)
{
    uint32_t flags = X509_get_extension_flags(leaf);

    if (X509_check_ca(leaf) != 0)
        return bundle__fail(r, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_KEY_USAGE,
                            "the signer's certificate is a CA; a signing certificate must not "
                            "be");
    if (!(flags & EXFLAG_KUSAGE) || !(X509_get_key_usage(leaf) & KU_DIGITAL_SIGNATURE))
        return bundle__fail(r, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_KEY_USAGE,
                            "the signer's certificate lacks keyUsage digitalSignature");
    if ((flags & EXFLAG_XKUSAGE) && !(X509_get_extended_key_usage(leaf) & XKU_CODE_SIGN))
        return bundle__fail(r, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_KEY_USAGE,
                            "the signer's extendedKeyUsage lacks codeSigning");
    bundle__pass(opts, BUNDLE_CHECK_KEY_USAGE, false, "digitalSignature%s",
                 (flags & EXFLAG_XKUSAGE) ? ", codeSigning" : "");
    return 0;
}

int bundle__cms_verify(const void *data, size_t len, const void *p7s, size_t p7s_len,
                       const struct bundle_verify_opts *opts, struct bundle_result *r)
{
    const int flags = CMS_DETACHED | CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY;
    const unsigned char *p = p7s;
    CMS_ContentInfo *cms = NULL;
    STACK_OF(X509) *signers = NULL, *certs = NULL;
    char subject[256], why[256];
    BIO *content = NULL;
    X509 *leaf;
    int ret = 0;

    if (len > INT32_MAX || p7s_len > BUNDLE_SIGNATURE_MAX)
        return bundle__fail(r, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_SIGNATURE,
                            "document or signature too large");
    cms = d2i_CMS_ContentInfo(NULL, &p, (long)p7s_len);
    if (!cms || p != (const unsigned char *)p7s + p7s_len) {
        (void)bundle__fail(r, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_SIGNATURE,
                           "the .p7s is no DER CMS structure%s", cms ? " (trailing bytes)" : "");
        goto out;
    }
    (void)check_form(cms, r);
    if (r->code)
        goto out;
    content = BIO_new_mem_buf(data, (int)len);
    if (!content) {
        ret = -ENOMEM;
        goto out;
    }
    if (CMS_verify(cms, NULL, NULL, content, NULL, flags) != 1) {
        (void)bundle__fail(r, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_SIGNATURE,
                           "the signature does not match the signed bytes (%s)",
                           ossl_error(why, sizeof(why)));
        goto out;
    }
    signers = CMS_get0_signers(cms);
    leaf = signers && sk_X509_num(signers) == 1 ? sk_X509_value(signers, 0) : NULL;
    if (!leaf) {
        (void)bundle__fail(r, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_SIGNATURE,
                           "the signer's certificate is not in the signature");
        goto out;
    }
    subject_text(leaf, subject, sizeof(subject));
    bundle__pass(opts, BUNDLE_CHECK_SIGNATURE, false, "signed by '%s'", subject);
    certs = CMS_get1_certs(cms);
    ret = check_chain(leaf, certs, opts, r);
    if (ret < 0 || r->code)
        goto out;
    (void)check_key_usage(leaf, opts, r);
out:
    ERR_clear_error();
    sk_X509_pop_free(certs, X509_free);
    sk_X509_free(signers);
    BIO_free(content);
    CMS_ContentInfo_free(cms);
    return ret;
}

int bundle_fwgroup_verify(const void *doc, size_t doc_len, const void *p7s, size_t p7s_len,
                          const struct bundle_verify_opts *opts, struct bundle_fwgroup **ret_group,
                          struct bundle_result *ret_result)
{
    struct bundle_fwgroup *g = NULL;
    char err[BUNDLE_MESSAGE_MAX] = "";
    int r;

    *ret_result = (struct bundle_result){.check = BUNDLE_CHECK_MAX};
    if (doc_len > BUNDLE_MANIFEST_MAX)
        return bundle__fail(ret_result, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_MANIFEST,
                            "group: larger than %d bytes", BUNDLE_MANIFEST_MAX);
    r = bundle__cms_verify(doc, doc_len, p7s, p7s_len, opts, ret_result);
    if (r < 0 || ret_result->code)
        return r;
    r = bundle_fwgroup_parse(doc, doc_len, &g, err, sizeof(err));
    if (r == -EBADMSG)
        return bundle__fail(ret_result, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_MANIFEST, "%s", err);
    if (r < 0)
        return r;
    bundle__pass(opts, BUNDLE_CHECK_MANIFEST, false,
                 "group '%s' version %s for %s/%s hardware %s, %zu firmware versions", g->group_id,
                 g->group_version, g->product_vendor_id, g->product_code, g->hw_version,
                 g->n_fw_versions);
    if (ret_group)
        *ret_group = g;
    else
        bundle_fwgroup_free(g);
    return 0;
}

int bundle_fwgroup_sign(const void *doc, size_t doc_len, const struct bundle_signer *signer,
                        uint8_t **ret_p7s, size_t *ret_len, char *err, size_t err_size)
{
    struct bundle_fwgroup *g = NULL;
    int r = bundle_fwgroup_parse(doc, doc_len, &g, err, err_size);

    if (r < 0)
        return r;
    bundle_fwgroup_free(g);
    r = bundle__cms_sign(doc, doc_len, signer, ret_p7s, ret_len);
    if (r < 0)
        bundle__err(err, err_size, "cannot sign the group document: %s", strerror(-r));
    return r;
}
