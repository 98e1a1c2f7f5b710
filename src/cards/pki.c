/* pki: the test PKI of the simulated world (DESIGN.md section 7). At first start it generates,
 * per algorithm (RSA-2048 and brainpoolP256r1), a self-signed root "konnektord TEST-ONLY Root
 * RSA|ECC" and a component CA below it "konnektord TEST-ONLY Component CA RSA|ECC", which
 * issues the cards' certificates. The names say TEST-ONLY, as gematik's test CAs do, so that
 * nothing issued here is ever mistaken for a real TI identity.
 *
 * It does not decide what a card certificate says: profile.c fills a cards__profile, and
 * cards__pki_issue() turns it into a key and a certificate.
 *
 * Invariants:
 *  1. DATA/world/pki/ exists complete or not at all: generation writes into pki.tmp/ and
 *     renames it into place; a leftover pki.tmp/ from a crash is removed and started over.
 *  2. An existing pki/ is never regenerated: a missing, unreadable or mismatching file is
 *     -EBADMSG, and the caller decides (cards.h).
 *  3. Private keys are written with mode 0600 and never logged.
 *  4. Only OpenSSL 3 EVP/X509 APIs: no deprecated RSA_* or EC_KEY_* calls. */
#include "cards/cards_internal.h"
#include "x509/x509.h"

#include "base/base.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* Validity in days: roots 20 years, component CAs 10, as the TI's CAs roughly are. */
#define ROOT_DAYS (20 * 365)
#define CA_DAYS (10 * 365)
/* notBefore lies this far back (s), so that a clock a little behind still accepts it. */
#define BACKDATE_S (60 * 60)
#define RSA_BITS 2048
#define ECC_CURVE "brainpoolP256r1"

struct pki_ca {
    EVP_PKEY *root_key, *ca_key;
    X509 *root, *ca;
};

struct cards__pki {
    struct pki_ca ca[CARDS__ALG_MAX];
    char *roots_pem;
    char *cas_pem;
};

static const char *const alg_names[CARDS__ALG_MAX] = {"RSA", "ECC"};
static const char *const alg_files[CARDS__ALG_MAX] = {"rsa", "ecc"};

const char *cards__alg_to_string(enum cards__alg alg)
{
    return alg < CARDS__ALG_MAX ? alg_names[alg] : "?";
}

int cards__alg_from_string(const char *s, enum cards__alg *ret_alg)
{
    for (size_t i = 0; s && i < CARDS__ALG_MAX; i++) {
        if (strcmp(s, alg_names[i]) == 0) {
            *ret_alg = (enum cards__alg)i;
            return 0;
        }
    }
    return -EINVAL;
}

static EVP_PKEY *keygen(enum cards__alg alg)
{
    return alg == CARDS__ALG_RSA ? EVP_RSA_gen(RSA_BITS) : EVP_EC_gen(ECC_CURVE);
}

/* A certificate shell: version 3, serial, validity from the connector's clock, key, subject,
 * issuer (the certificate itself when issuer is NULL). */
static int cert_new(X509_NAME *subject, X509 *issuer, EVP_PKEY *key, int days, X509 **ret_cert)
{
    time_t now = (time_t)(clock_now_ms() / 1000);
    X509 *cert = X509_new();
    int r = -ENOMEM;

    if (!cert)
        goto out;
    if (!X509_set_version(cert, X509_VERSION_3) || x509_set_random_serial(cert) < 0 ||
        !ASN1_TIME_set(X509_getm_notBefore(cert), now - BACKDATE_S) ||
        !ASN1_TIME_set(X509_getm_notAfter(cert), now + (time_t)days * 86400) ||
        !X509_set_pubkey(cert, key) || !X509_set_subject_name(cert, subject) ||
        !X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : subject))
        goto out;
    *ret_cert = cert;
    cert = NULL;
    r = 0;
out:
    X509_free(cert);
    return r;
}

static int ca_make(const char *cn, X509 *issuer, EVP_PKEY *issuer_key, EVP_PKEY *key, int days,
                   const char *constraints, X509 **ret_cert)
{
    X509_NAME *name = X509_NAME_new();
    X509 *cert = NULL;
    int r = -ENOMEM;

    if (!name ||
        !X509_NAME_add_entry_by_txt(name, "C", MBSTRING_UTF8, (const unsigned char *)"DE", -1, -1,
                                    0) ||
        !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                    (const unsigned char *)"konnektord NOT-VALID", -1, -1, 0) ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
                                    0))
        goto out;
    r = cert_new(name, issuer, key, days, &cert);
    if (r < 0)
        goto out;
    r = x509_add_ext(cert, issuer ? issuer : cert, NID_basic_constraints, constraints);
    if (r == 0)
        r = x509_add_ext(cert, issuer ? issuer : cert, NID_key_usage,
                         "critical,keyCertSign,cRLSign");
    if (r == 0)
        r = x509_add_ext(cert, issuer ? issuer : cert, NID_subject_key_identifier, "hash");
    if (r == 0 && issuer)
        r = x509_add_ext(cert, issuer, NID_authority_key_identifier, "keyid:always");
    if (r < 0)
        goto out;
    if (!X509_sign(cert, issuer_key, EVP_sha256())) {
        r = -EIO;
        goto out;
    }
    *ret_cert = cert;
    cert = NULL;
out:
    X509_free(cert);
    X509_NAME_free(name);
    return r;
}

static int cert_write_pem(const char *path, X509 *cert)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    long len;
    int r = -ENOMEM;

    if (!bio || !PEM_write_bio_X509(bio, cert))
        goto out;
    len = BIO_get_mem_data(bio, &data);
    r = fs_write_atomic(path, data, (size_t)len, 0644);
out:
    BIO_free(bio);
    return r;
}

/* Reads one PEM object (a certificate or a private key) from dir/name. */
static int pem_read(const char *dir, const char *name, X509 **ret_cert, EVP_PKEY **ret_key)
{
    char *path = fs_path_join(dir, name);
    char *data = NULL;
    size_t len = 0;
    BIO *bio = NULL;
    int r;

    r = path ? fs_read_all(path, CARDS__FILE_MAX, &data, &len) : -ENOMEM;
    if (r < 0)
        goto out;
    bio = BIO_new_mem_buf(data, (int)len);
    if (ret_cert)
        *ret_cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    else
        *ret_key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    r = (ret_cert ? (void *)*ret_cert : (void *)*ret_key) ? 0 : -EBADMSG;
out:
    BIO_free(bio);
    if (data)
        explicit_bzero(data, len); /* it may hold a private key */
    free(data);
    free(path);
    return r;
}

/* Reads dir/<stem>-<alg>.pem and .key.pem. */
static int pair_read(const char *dir, const char *stem, enum cards__alg alg, X509 **ret_cert,
                     EVP_PKEY **ret_key)
{
    char name[64];
    int r;

    (void)snprintf(name, sizeof(name), "%s-%s.pem", stem, alg_files[alg]);
    r = pem_read(dir, name, ret_cert, NULL);
    if (r < 0)
        return r;
    (void)snprintf(name, sizeof(name), "%s-%s.key.pem", stem, alg_files[alg]);
    return pem_read(dir, name, NULL, ret_key);
}

static int pair_write(const char *dir, const char *stem, enum cards__alg alg, X509 *cert,
                      EVP_PKEY *key)
{
    char name[64];
    char *path = NULL;
    int r;

    /* Key first (mode 0600, invariant 3), then the certificate. */
    (void)snprintf(name, sizeof(name), "%s-%s.key.pem", stem, alg_files[alg]);
    path = fs_path_join(dir, name);
    r = path ? cards__key_write(path, key) : -ENOMEM;
    free(path);
    if (r < 0)
        return r;
    (void)snprintf(name, sizeof(name), "%s-%s.pem", stem, alg_files[alg]);
    path = fs_path_join(dir, name);
    r = path ? cert_write_pem(path, cert) : -ENOMEM;
    free(path);
    return r;
}

static int generate_alg(struct pki_ca *ca, enum cards__alg alg)
{
    char cn[64];
    int r;

    ca->root_key = keygen(alg);
    ca->ca_key = keygen(alg);
    if (!ca->root_key || !ca->ca_key)
        return -EIO;
    (void)snprintf(cn, sizeof(cn), "konnektord TEST-ONLY Root %s", alg_names[alg]);
    r = ca_make(cn, NULL, ca->root_key, ca->root_key, ROOT_DAYS, "critical,CA:TRUE", &ca->root);
    if (r < 0)
        return r;
    (void)snprintf(cn, sizeof(cn), "konnektord TEST-ONLY Component CA %s", alg_names[alg]);
    return ca_make(cn, ca->root, ca->root_key, ca->ca_key, CA_DAYS, "critical,CA:TRUE,pathlen:0",
                   &ca->ca);
}

/* Removes a flat directory of files (the leftover pki.tmp/). */
static void dir_remove(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *ent;

    while (d && (ent = readdir(d))) {
        char *p;

        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
            continue;
        p = fs_path_join(dir, ent->d_name);
        if (p)
            (void)unlink(p);
        free(p);
    }
    if (d)
        (void)closedir(d);
    (void)rmdir(dir);
}

static int generate(struct cards__pki *pki, const char *dir, const char *tmp)
{
    int r;

    dir_remove(tmp); /* invariant 1 */
    r = fs_mkdir_p(tmp, 0700);
    for (int a = 0; r == 0 && a < CARDS__ALG_MAX; a++) {
        r = generate_alg(&pki->ca[a], (enum cards__alg)a);
        if (r == 0)
            r = pair_write(tmp, "root", (enum cards__alg)a, pki->ca[a].root, pki->ca[a].root_key);
        if (r == 0)
            r = pair_write(tmp, "ca", (enum cards__alg)a, pki->ca[a].ca, pki->ca[a].ca_key);
    }
    if (r == 0 && rename(tmp, dir) < 0)
        r = -errno;
    if (r < 0)
        return log_errno(LOG_LEVEL_ERROR, r, "cards: cannot generate the test PKI in '%s'", dir);
    log_msg(LOG_LEVEL_INFO, "cards: generated the test PKI (RSA-2048, brainpoolP256r1) in '%s'",
            dir);
    return 0;
}

static int load(struct cards__pki *pki, const char *dir)
{
    for (int a = 0; a < CARDS__ALG_MAX; a++) {
        struct pki_ca *ca = &pki->ca[a];

        if (pair_read(dir, "root", (enum cards__alg)a, &ca->root, &ca->root_key) < 0 ||
            pair_read(dir, "ca", (enum cards__alg)a, &ca->ca, &ca->ca_key) < 0 ||
            X509_check_private_key(ca->root, ca->root_key) != 1 ||
            X509_check_private_key(ca->ca, ca->ca_key) != 1 ||
            X509_verify(ca->ca, ca->root_key) != 1) {
            log_msg(LOG_LEVEL_ERROR,
                    "cards: the test PKI in '%s' is damaged (%s); it is not regenerated: move "
                    "DATA/world away to start a new world",
                    dir, alg_names[a]);
            return -EBADMSG;
        }
    }
    return 0;
}

/* Concatenated PEM of the roots or of the component CAs. */
static char *pem_of(const struct cards__pki *pki, bool roots)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    char *pem = NULL;
    long len;

    for (int a = 0; bio && a < CARDS__ALG_MAX; a++)
        if (!PEM_write_bio_X509(bio, roots ? pki->ca[a].root : pki->ca[a].ca))
            goto out;
    if (!bio)
        goto out;
    len = BIO_get_mem_data(bio, &data);
    pem = strndup(data, (size_t)len);
out:
    BIO_free(bio);
    return pem;
}

int cards__pki_open(const char *world_dir, struct cards__pki **ret_pki)
{
    struct cards__pki *pki = calloc(1, sizeof(*pki));
    char *dir = fs_path_join(world_dir, "pki");
    char *tmp = fs_path_join(world_dir, "pki.tmp");
    int r = -ENOMEM;

    if (!pki || !dir || !tmp)
        goto out;
    r = fs_exists(dir) ? load(pki, dir) : generate(pki, dir, tmp);
    if (r < 0)
        goto out;
    pki->roots_pem = pem_of(pki, true);
    pki->cas_pem = pem_of(pki, false);
    if (!pki->roots_pem || !pki->cas_pem) {
        r = -ENOMEM;
        goto out;
    }
    *ret_pki = pki;
    pki = NULL;
out:
    cards__pki_free(pki);
    free(tmp);
    free(dir);
    return r;
}

struct cards__pki *cards__pki_free(struct cards__pki *pki)
{
    if (!pki)
        return NULL;
    for (int a = 0; a < CARDS__ALG_MAX; a++) {
        EVP_PKEY_free(pki->ca[a].root_key);
        EVP_PKEY_free(pki->ca[a].ca_key);
        X509_free(pki->ca[a].root);
        X509_free(pki->ca[a].ca);
    }
    free(pki->roots_pem);
    free(pki->cas_pem);
    free(pki);
    return NULL;
}

const char *cards__pki_roots_pem(const struct cards__pki *pki)
{
    return pki->roots_pem;
}

const char *cards__pki_cas_pem(const struct cards__pki *pki)
{
    return pki->cas_pem;
}

/* The admission extension (Common PKI, OID 1.3.36.8.3.3) as gemSpec_PKI uses it: one
 * admission with one professionInfo holding the profession text, its OID and, for HBA and
 * SMC-B, the Telematik-ID as registrationNumber. OpenSSL has the ASN.1 types, so it is
 * built with them rather than as an opaque blob. */
static int add_admission(X509 *cert, const struct cards__profile *prof)
{
    ADMISSION_SYNTAX *adm = ADMISSION_SYNTAX_new();
    ADMISSIONS *entry = ADMISSIONS_new();
    PROFESSION_INFO *info = PROFESSION_INFO_new();
    STACK_OF(ADMISSIONS) *entries = sk_ADMISSIONS_new_null();
    PROFESSION_INFOS *infos = sk_PROFESSION_INFO_new_null();
    STACK_OF(ASN1_STRING) *items = sk_ASN1_STRING_new_null();
    STACK_OF(ASN1_OBJECT) *oids = sk_ASN1_OBJECT_new_null();
    ASN1_STRING *item = ASN1_UTF8STRING_new();
    ASN1_OBJECT *oid = OBJ_txt2obj(prof->profession_oid, 1);
    ASN1_PRINTABLESTRING *reg = NULL;
    GENERAL_NAME *authority = NULL;
    X509_NAME *dir = NULL;
    int r = -ENOMEM;

    if (!adm || !entry || !info || !entries || !infos || !items || !oids || !item || !oid)
        goto out;
    if (!ASN1_STRING_set(item, prof->profession_item, -1) || !sk_ASN1_STRING_push(items, item))
        goto out;
    item = NULL;
    PROFESSION_INFO_set0_professionItems(info, items);
    items = NULL;
    if (!sk_ASN1_OBJECT_push(oids, oid))
        goto out;
    oid = NULL;
    PROFESSION_INFO_set0_professionOIDs(info, oids);
    oids = NULL;
    if (prof->registration_number) {
        reg = ASN1_PRINTABLESTRING_new();
        if (!reg || !ASN1_STRING_set(reg, prof->registration_number, -1))
            goto out;
        PROFESSION_INFO_set0_registrationNumber(info, reg);
        reg = NULL;
    }
    if (!sk_PROFESSION_INFO_push(infos, info))
        goto out;
    info = NULL;
    ADMISSIONS_set0_professionInfos(entry, infos);
    infos = NULL;
    if (!sk_ADMISSIONS_push(entries, entry))
        goto out;
    entry = NULL;
    ADMISSION_SYNTAX_set0_contentsOfAdmissions(adm, entries);
    entries = NULL;
    if (prof->admission_authority_o) {
        dir = X509_NAME_new();
        authority = GENERAL_NAME_new();
        if (!dir || !authority ||
            !X509_NAME_add_entry_by_txt(dir, "C", MBSTRING_UTF8, (const unsigned char *)"DE", -1,
                                        -1, 0) ||
            !X509_NAME_add_entry_by_txt(dir, "O", MBSTRING_UTF8,
                                        (const unsigned char *)prof->admission_authority_o, -1, -1,
                                        0))
            goto out;
        GENERAL_NAME_set0_value(authority, GEN_DIRNAME, dir);
        dir = NULL;
        ADMISSION_SYNTAX_set0_admissionAuthority(adm, authority);
        authority = NULL;
    }
    r = X509_add1_ext_i2d(cert, NID_x509ExtAdmission, adm, 0, X509V3_ADD_DEFAULT) == 1 ? 0
                                                                                       : -EINVAL;
out:
    X509_NAME_free(dir);
    GENERAL_NAME_free(authority);
    ASN1_PRINTABLESTRING_free(reg);
    ASN1_OBJECT_free(oid);
    ASN1_STRING_free(item);
    sk_ASN1_OBJECT_pop_free(oids, ASN1_OBJECT_free);
    sk_ASN1_STRING_pop_free(items, ASN1_STRING_free);
    sk_PROFESSION_INFO_pop_free(infos, PROFESSION_INFO_free);
    sk_ADMISSIONS_pop_free(entries, ADMISSIONS_free);
    PROFESSION_INFO_free(info);
    ADMISSIONS_free(entry);
    ADMISSION_SYNTAX_free(adm);
    return r;
}

/* certificatePolicies with bare policy OIDs (the config-text form needs a config database). */
static int add_policies(X509 *cert, const struct cards__profile *prof)
{
    CERTIFICATEPOLICIES *pols = sk_POLICYINFO_new_null();
    int r = -ENOMEM;

    for (size_t i = 0; pols && i < prof->n_policies; i++) {
        POLICYINFO *pi = POLICYINFO_new();

        if (!pi)
            goto out;
        ASN1_OBJECT_free(pi->policyid);
        pi->policyid = OBJ_txt2obj(prof->policies[i], 1);
        if (!pi->policyid || !sk_POLICYINFO_push(pols, pi)) {
            POLICYINFO_free(pi);
            r = -EINVAL;
            goto out;
        }
    }
    if (pols)
        r = X509_add1_ext_i2d(cert, NID_certificate_policies, pols, 0, X509V3_ADD_DEFAULT) == 1
                ? 0
                : -EINVAL;
out:
    sk_POLICYINFO_pop_free(pols, POLICYINFO_free);
    return r;
}

static int subject_of(const struct cards__profile *prof, X509_NAME **ret_name)
{
    X509_NAME *name = X509_NAME_new();

    if (!name)
        return -ENOMEM;
    for (size_t i = 0; i < prof->n_subject; i++) {
        const struct cards__rdn *rdn = &prof->subject[i];

        if (!X509_NAME_add_entry_by_txt(name, rdn->field, MBSTRING_UTF8,
                                        (const unsigned char *)rdn->value, -1, -1,
                                        rdn->same_rdn && i > 0 ? -1 : 0)) {
            X509_NAME_free(name);
            return -EINVAL;
        }
    }
    *ret_name = name;
    return 0;
}

int cards__pki_issue(struct cards__pki *pki, const struct cards__profile *prof, EVP_PKEY **ret_key,
                     X509 **ret_cert)
{
    struct pki_ca *ca = &pki->ca[prof->alg];
    X509_NAME *subject = NULL;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    int r;

    key = keygen(prof->alg);
    r = key ? subject_of(prof, &subject) : -EIO;
    if (r == 0)
        r = cert_new(subject, ca->ca, key, prof->days, &cert);
    if (r < 0)
        goto out;
    r = x509_add_ext(cert, ca->ca, NID_basic_constraints, "critical,CA:FALSE");
    if (r == 0)
        r = x509_add_ext(cert, ca->ca, NID_key_usage, prof->key_usage);
    if (r == 0 && prof->ext_key_usage)
        r = x509_add_ext(cert, ca->ca, NID_ext_key_usage, prof->ext_key_usage);
    if (r == 0 && prof->n_policies)
        r = add_policies(cert, prof);
    if (r == 0)
        r = x509_add_ext(cert, ca->ca, NID_subject_key_identifier, "hash");
    if (r == 0)
        r = x509_add_ext(cert, ca->ca, NID_authority_key_identifier, "keyid:always");
    if (r == 0 && prof->profession_oid)
        r = add_admission(cert, prof);
    if (r < 0)
        goto out;
    if (!X509_sign(cert, ca->ca_key, EVP_sha256())) {
        r = -EIO;
        goto out;
    }
    *ret_key = key;
    *ret_cert = cert;
    key = NULL;
    cert = NULL;
out:
    X509_NAME_free(subject);
    EVP_PKEY_free(key);
    X509_free(cert);
    return r;
}
