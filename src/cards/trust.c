/* trust: the trust space VerifyCertificate checks against, and the check itself.
 *
 * The trust space holds the CAs of the test PKI (roots and component CAs, pki.c) and the CA
 * certificates an administrator imported (the gematik TEST-ONLY CAs: their PKCS#12 files
 * carry only the end-entity certificate, never the chain), kept as one PEM bundle in
 * DATA/trust/imported-cas.pem, which survives a factory reset (DESIGN.md section 8). As the
 * TSL makes every CA it lists a trust anchor, every CA here is one: a chain may end at an
 * intermediate CA without its root (X509_V_FLAG_PARTIAL_CHAIN).
 *
 * A verification (cards_cert_verify) runs in this order, and the first failure decides:
 *   parse (CERT_BAD_FORMAT) -> chain to a CA of the trust space at the verification time,
 *   signatures and validity of every certificate (BUILD_CHAIN_FAILED, CERT_SIG_ERROR,
 *   CERT_EXPIRED) -> the simulated OCSP answer for each certificate of the chain
 *   (revocation.c: revoked at or before the verification time CERT_REVOKED -> INVALID;
 *   unknown CHECK_REVOCATION_FAILED -> INCONCLUSIVE).
 * Roles are the profession OIDs of the Admission extension (1.3.36.8.3.3).
 *
 * Invariants:
 *  1. The store is rebuilt from the lists after every import, so a verification always sees
 *     the current trust space; nothing is cached per certificate (TIP1-A_4523 in spirit).
 *  2. An import is all or nothing: one certificate that is not a CA refuses the whole text.
 *  3. The bundle on disk is written atomically before the import counts (if the write fails
 *     the import fails and memory is unchanged). */
#include "cards/cards_internal.h"

#include "base/base.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

/* Largest bundle of imported CAs read back or accepted at once, in bytes (a TSL's worth of
 * CA certificates is about 300 of 2 KiB). */
#define TRUST_FILE_MAX (2 * 1024 * 1024)
#define TRUST_IMPORTED_FILE "imported-cas.pem"

struct cards__trust {
    char *dir;                 /* DATA/trust */
    STACK_OF(X509) * pki;      /* the test PKI's roots and component CAs */
    STACK_OF(X509) * imported; /* in import order */
    X509_STORE *store;
    struct cards__revs *revs;
};

static const char *const detail_names[CARDS_VERIFY_DETAIL_MAX] = {
    [CARDS_VERIFY_DETAIL_NONE] = "",
    [CARDS_VERIFY_DETAIL_BAD_FORMAT] = "CERT_BAD_FORMAT",
    [CARDS_VERIFY_DETAIL_BUILD_CHAIN] = "BUILD_CHAIN_FAILED",
    [CARDS_VERIFY_DETAIL_SIG_ERROR] = "CERT_SIG_ERROR",
    [CARDS_VERIFY_DETAIL_EXPIRED] = "CERT_EXPIRED",
    [CARDS_VERIFY_DETAIL_REVOKED] = "CERT_REVOKED",
    [CARDS_VERIFY_DETAIL_REVOCATION_CHECK] = "CHECK_REVOCATION_FAILED",
};

const char *cards_verify_detail_to_string(enum cards_verify_detail d)
{
    return d < CARDS_VERIFY_DETAIL_MAX ? detail_names[d] : "";
}

/* Appends every certificate of a PEM text to list. -EBADMSG if it holds none or a block
 * does not parse. */
static int pem_certs(const char *pem, size_t len, STACK_OF(X509) * list)
{
    BIO *bio = len <= INT32_MAX ? BIO_new_mem_buf(pem, (int)len) : NULL;
    size_t found = 0;
    X509 *cert;
    int r = 0;

    if (!bio)
        return -ENOMEM;
    ERR_clear_error();
    while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (!sk_X509_push(list, cert)) {
            X509_free(cert);
            r = -ENOMEM;
            break;
        }
        found++;
    }
    /* The loop ends at the end of the text (PEM_R_NO_START_LINE) or at a damaged block. */
    if (r == 0 && (found == 0 || ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE))
        r = -EBADMSG;
    ERR_clear_error();
    BIO_free(bio);
    return r;
}

static int store_rebuild(struct cards__trust *t)
{
    X509_STORE *store = X509_STORE_new();

    if (!store)
        return -ENOMEM;
    for (int i = 0; i < sk_X509_num(t->pki); i++)
        (void)X509_STORE_add_cert(store, sk_X509_value(t->pki, i));
    for (int i = 0; i < sk_X509_num(t->imported); i++)
        (void)X509_STORE_add_cert(store, sk_X509_value(t->imported, i));
    /* The TSL model: each CA is an anchor. */
    (void)X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
    X509_STORE_free(t->store);
    t->store = store;
    return 0;
}

/* DATA/trust from DATA/world. */
static char *trust_dir_of(const char *world_dir)
{
    const char *slash = strrchr(world_dir, '/');
    char *data = slash ? strndup(world_dir, (size_t)(slash - world_dir)) : strdup(".");
    char *dir = data ? fs_path_join(data[0] ? data : "/", "trust") : NULL;

    free(data);
    return dir;
}

static struct cards__trust *trust_load(struct cards *c)
{
    struct cards__trust *t = calloc(1, sizeof(*t));
    const char *roots = cards_pki_roots_pem(c);
    const char *cas = cards_pki_cas_pem(c);
    char *path = NULL;
    char *text = NULL;
    size_t len = 0;
    int r = -ENOMEM;

    if (!t)
        return NULL;
    t->dir = trust_dir_of(c->world_dir);
    t->pki = sk_X509_new_null();
    t->imported = sk_X509_new_null();
    t->revs = cards__revs_open(c->world_dir);
    path = t->dir ? fs_path_join(t->dir, TRUST_IMPORTED_FILE) : NULL;
    if (!path || !t->pki || !t->imported || !t->revs)
        goto out;
    if (roots)
        (void)pem_certs(roots, strlen(roots), t->pki);
    if (cas)
        (void)pem_certs(cas, strlen(cas), t->pki);
    r = fs_read_all(path, TRUST_FILE_MAX, &text, &len);
    if (r == 0 && len > 0 && pem_certs(text, len, t->imported) < 0)
        log_msg(LOG_LEVEL_WARNING,
                "cards: '%s' holds a damaged certificate; the ones before it are trusted", path);
    else if (r < 0 && r != -ENOENT)
        (void)log_errno(LOG_LEVEL_WARNING, r,
                        "cards: cannot read '%s'; the imported CAs are not trusted", path);
    r = store_rebuild(t);
out:
    free(text);
    free(path);
    if (r < 0)
        t = cards__trust_free(t);
    return t;
}

struct cards__trust *cards__trust_get(struct cards *c)
{
    if (!c->trust)
        c->trust = trust_load(c);
    return c->trust;
}

struct cards__revs *cards__revs_get(struct cards *c)
{
    struct cards__trust *t = cards__trust_get(c);

    return t ? t->revs : NULL;
}

struct cards__trust *cards__trust_free(struct cards__trust *t)
{
    if (!t)
        return NULL;
    X509_STORE_free(t->store);
    sk_X509_pop_free(t->pki, X509_free);
    sk_X509_pop_free(t->imported, X509_free);
    cards__revs_free(t->revs);
    free(t->dir);
    free(t);
    return NULL;
}

/* ---- import ----------------------------------------------------------------------------- */

static bool is_in(STACK_OF(X509) * list, X509 *cert)
{
    for (int i = 0; i < sk_X509_num(list); i++)
        if (X509_cmp(sk_X509_value(list, i), cert) == 0)
            return true;
    return false;
}

/* The imported list as one PEM text (heap). */
static int bundle_pem(STACK_OF(X509) * list, char **ret, size_t *ret_len)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    long len;
    int r = -ENOMEM;

    if (!bio)
        return -ENOMEM;
    for (int i = 0; i < sk_X509_num(list); i++)
        if (!PEM_write_bio_X509(bio, sk_X509_value(list, i)))
            goto out;
    len = BIO_get_mem_data(bio, &data);
    *ret = malloc((size_t)len + 1);
    if (!*ret)
        goto out;
    if (len > 0)
        memcpy(*ret, data, (size_t)len);
    (*ret)[len] = '\0';
    *ret_len = (size_t)len;
    r = 0;
out:
    BIO_free(bio);
    return r;
}

int cards_trust_import_pem(struct cards *c, const char *pem, size_t len, size_t *ret_added)
{
    struct cards__trust *t = cards__trust_get(c);
    STACK_OF(X509) *in = sk_X509_new_null();
    STACK_OF(X509) *next = NULL;
    char *path = NULL;
    char *text = NULL;
    size_t text_len = 0;
    size_t added = 0;
    int r;

    if (!t || !in) {
        r = -ENOMEM;
        goto out;
    }
    r = len > TRUST_FILE_MAX ? -EBADMSG : pem_certs(pem, len, in);
    if (r < 0)
        goto out;
    for (int i = 0; i < sk_X509_num(in); i++) {
        if (X509_check_ca(sk_X509_value(in, i)) < 1) { /* invariant 2 */
            r = -EINVAL;
            goto out;
        }
    }
    r = -ENOMEM;
    next = sk_X509_dup(t->imported);
    if (!next)
        goto out;
    for (int i = 0; i < sk_X509_num(next); i++) /* next owns a reference to each */
        (void)X509_up_ref(sk_X509_value(next, i));
    for (int i = 0; i < sk_X509_num(in); i++) {
        X509 *cert = sk_X509_value(in, i);

        if (is_in(t->pki, cert) || is_in(next, cert))
            continue;
        if (!sk_X509_push(next, cert))
            goto out;
        (void)X509_up_ref(cert);
        added++;
    }
    r = 0;
    if (added > 0) {
        r = fs_mkdir_p(t->dir, 0700);
        path = r == 0 ? fs_path_join(t->dir, TRUST_IMPORTED_FILE) : NULL;
        if (r == 0 && !path)
            r = -ENOMEM;
        if (r == 0)
            r = bundle_pem(next, &text, &text_len);
        if (r == 0)
            r = fs_write_atomic(path, text, text_len, 0644); /* invariant 3 */
        if (r < 0)
            goto out;
        /* Swap: the old list's references go, the new list keeps its own. */
        sk_X509_pop_free(t->imported, X509_free);
        t->imported = next;
        next = NULL;
        r = store_rebuild(t);
    }
    if (r == 0 && ret_added)
        *ret_added = added;
out:
    sk_X509_pop_free(next, X509_free);
    sk_X509_pop_free(in, X509_free);
    free(text);
    free(path);
    return r;
}

/* ---- listing ---------------------------------------------------------------------------- */

size_t cards_trust_count(struct cards *c)
{
    struct cards__trust *t = cards__trust_get(c);

    return t ? (size_t)sk_X509_num(t->pki) + (size_t)sk_X509_num(t->imported) : 0;
}

static int name_text(const X509_NAME *name, char *buf, size_t size)
{
    BIO *bio = BIO_new(BIO_s_mem());
    int n = -1;

    if (bio && X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0)
        n = BIO_read(bio, buf, (int)size - 1);
    BIO_free(bio);
    buf[n > 0 ? n : 0] = '\0';
    return n < 0 ? -ENOMEM : 0;
}

int cards_trust_at(struct cards *c, size_t i, struct cards_trust_ca *ret_ca)
{
    struct cards__trust *t = cards__trust_get(c);
    size_t n_pki = t ? (size_t)sk_X509_num(t->pki) : 0;
    struct cards_trust_ca ca = {0};
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned md_len = 0;
    uint8_t *der = NULL;
    size_t der_len = 0;
    X509 *cert;
    int r;

    if (!t || i >= cards_trust_count(c))
        return -ENOENT;
    cert = i < n_pki ? sk_X509_value(t->pki, (int)i) : sk_X509_value(t->imported, (int)(i - n_pki));
    ca.imported = i >= n_pki;
    r = name_text(X509_get_subject_name(cert), ca.subject, sizeof(ca.subject));
    if (r == 0)
        r = cards__cert_der(cert, &der, &der_len);
    if (r == 0) {
        struct cards_cert_id id;

        r = cards_cert_id_of(der, der_len, &id);
        if (r == 0) {
            (void)str_copy(ca.serial, sizeof(ca.serial), id.serial);
            (void)str_copy(ca.issuer, sizeof(ca.issuer), id.issuer);
        }
    }
    if (r == 0 && X509_digest(cert, EVP_sha256(), md, &md_len) && md_len == 32)
        hex_encode(md, md_len, ca.sha256);
    if (r == 0)
        r = cards__cert_not_after_ms(cert, &ca.not_after_ms);
    free(der);
    if (r == 0)
        *ret_ca = ca;
    return r;
}

/* ---- verification ----------------------------------------------------------------------- */

static enum cards_verify_detail detail_of(int err)
{
    switch (err) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return CARDS_VERIFY_DETAIL_EXPIRED;
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
    case X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY:
        return CARDS_VERIFY_DETAIL_SIG_ERROR;
    case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:
    case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD:
        return CARDS_VERIFY_DETAIL_BAD_FORMAT;
    default: /* no issuer in the trust space, a self-signed stranger, path length, ... */
        return CARDS_VERIFY_DETAIL_BUILD_CHAIN;
    }
}

/* The profession OIDs of the Admission extension. */
static void roles_of(X509 *cert, struct cards_verification *v)
{
    ADMISSION_SYNTAX *adm = X509_get_ext_d2i(cert, NID_x509ExtAdmission, NULL, NULL);
    const STACK_OF(ADMISSIONS) *entries =
        adm ? ADMISSION_SYNTAX_get0_contentsOfAdmissions(adm) : NULL;

    for (int i = 0; entries && i < sk_ADMISSIONS_num(entries); i++) {
        const PROFESSION_INFOS *infos =
            ADMISSIONS_get0_professionInfos(sk_ADMISSIONS_value(entries, i));

        for (int j = 0; infos && j < sk_PROFESSION_INFO_num(infos); j++) {
            const STACK_OF(ASN1_OBJECT) *oids =
                PROFESSION_INFO_get0_professionOIDs(sk_PROFESSION_INFO_value(infos, j));

            for (int k = 0; oids && k < sk_ASN1_OBJECT_num(oids); k++) {
                if (v->n_roles == CARDS_ROLES_MAX)
                    break;
                if (OBJ_obj2txt(v->roles[v->n_roles], CARDS_ROLE_MAX + 1,
                                sk_ASN1_OBJECT_value(oids, k), 1) > 0)
                    v->n_roles++;
            }
        }
    }
    ADMISSION_SYNTAX_free(adm);
}

/* The simulated OCSP answers for the chain: the worst one decides. */
static void revocation_check(struct cards *c, STACK_OF(X509) * chain, int64_t at_ms,
                             struct cards_verification *v)
{
    for (int i = 0; i < sk_X509_num(chain); i++) {
        struct cards_cert_id id;
        uint8_t *der = NULL;
        size_t len = 0;
        int64_t revoked_ms = 0;
        enum cards_revocation st;

        if (cards__cert_der(sk_X509_value(chain, i), &der, &len) < 0)
            continue;
        st = cards_cert_id_of(der, len, &id) == 0 ? cards_revocation_get(c, &id, &revoked_ms)
                                                  : CARDS_REVOCATION_GOOD;
        free(der);
        /* Revoked after the verification time: still valid then (CERT_REVOKED_AFTER). */
        if (st == CARDS_REVOCATION_REVOKED && revoked_ms <= at_ms) {
            v->result = CARDS_VERIFY_INVALID;
            v->detail = CARDS_VERIFY_DETAIL_REVOKED;
            return;
        }
        if (st == CARDS_REVOCATION_UNKNOWN && v->result == CARDS_VERIFY_VALID) {
            v->result = CARDS_VERIFY_INCONCLUSIVE;
            v->detail = CARDS_VERIFY_DETAIL_REVOCATION_CHECK;
        }
    }
}

int cards_cert_verify(struct cards *c, const uint8_t *der, size_t len, int64_t at_ms,
                      struct cards_verification *ret)
{
    struct cards__trust *t = cards__trust_get(c);
    struct cards_verification v = {.result = CARDS_VERIFY_INVALID,
                                   .detail = CARDS_VERIFY_DETAIL_BAD_FORMAT};
    const unsigned char *p = der;
    X509 *cert = NULL;
    X509_STORE_CTX *ctx = NULL;
    int r = -ENOMEM;

    if (!t)
        return -ENOMEM;
    cert = der && len > 0 && len < CARDS__FILE_MAX ? d2i_X509(NULL, &p, (long)len) : NULL;
    if (!cert || p != der + len) {
        ERR_clear_error();
        r = 0;
        goto out;
    }
    roles_of(cert, &v);
    ctx = X509_STORE_CTX_new();
    if (!ctx || !X509_STORE_CTX_init(ctx, t->store, cert, NULL))
        goto out;
    X509_STORE_CTX_set_time(ctx, 0, (time_t)(at_ms / 1000));
    if (X509_verify_cert(ctx) != 1) {
        v.detail = detail_of(X509_STORE_CTX_get_error(ctx));
    } else {
        v.result = CARDS_VERIFY_VALID;
        v.detail = CARDS_VERIFY_DETAIL_NONE;
        revocation_check(c, X509_STORE_CTX_get0_chain(ctx), at_ms, &v);
    }
    ERR_clear_error();
    r = 0;
out:
    X509_STORE_CTX_free(ctx);
    X509_free(cert);
    if (r == 0)
        *ret = v;
    return r;
}
