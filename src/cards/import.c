/* import: a gematik test identity (PKCS#12, password "00") becomes a catalog card. One
 * PKCS#12 holds one key and certificate; the card's type and the certificate's key reference
 * come from its profile:
 *  1. certificatePolicies (gemSpec_PKI OIDs, as listed in profile.c): .70 eGK C.CH.AUT, .68
 *     eGK C.CH.ENC, .72 HBA C.HP.QES, .74 C.HP.ENC, .75 C.HP.AUT, .76 SMC-B C.HCI.ENC, .77
 *     C.HCI.AUT, .78 C.HCI.OSIG;
 *  2. else the subject and admission conventions: profession OID .49 (Versicherte/-r) or an OU
 *     shaped like a KVNR means eGK; the issuing CA's name ("EGK", "HBA", "SMCB") the others;
 *     the key usage picks AUT, ENC or QES/OSIG.
 * Holder name is the subject's CN, the KVNR an OU of 10 characters (letter + 9 digits), the
 * Telematik-ID the admission's registrationNumber, the ICCSN the digits after the "NN." of the
 * subject's serialNumber (eGKs carry none: a fresh "8027699..." number is made up).
 *
 * Many test identities protect their certificates with RC2-40 (pbeWithSHA1And40BitRC2-CBC),
 * which OpenSSL 3 keeps in its legacy provider. The legacy provider is loaded into a library
 * context of our own that is the thread's default only while the file is parsed, so the rest
 * of the process (TLS above all) never sees legacy algorithms.
 *
 * Invariants:
 *  1. Nothing is written unless the whole identity was understood; the catalog entry is added
 *     after its files are on disk.
 *  2. The thread's default library context is restored on every path.
 *  3. Neither the password nor the holder's name is logged. */
#include "cards/cards_internal.h"

#include "base/base.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pkcs12.h>
#include <openssl/provider.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* Largest PKCS#12 accepted, in bytes: the test identities have 3 to 5 KiB. */
#define P12_MAX (256 * 1024)
#define IMPORT_CARD_VERSION "4.4.0"

static const struct {
    const char *oid;
    enum cards_type type;
    const char *key_ref;
} policy_map[] = {
    {"1.2.276.0.76.4.70", CARDS_TYPE_EGK, "C.CH.AUT"},
    {"1.2.276.0.76.4.68", CARDS_TYPE_EGK, "C.CH.ENC"},
    {"1.2.276.0.76.4.72", CARDS_TYPE_HBA, "C.HP.QES"},
    {"1.2.276.0.76.4.74", CARDS_TYPE_HBA, "C.HP.ENC"},
    {"1.2.276.0.76.4.75", CARDS_TYPE_HBA, "C.HP.AUT"},
    {"1.2.276.0.76.4.76", CARDS_TYPE_SMC_B, "C.HCI.ENC"},
    {"1.2.276.0.76.4.77", CARDS_TYPE_SMC_B, "C.HCI.AUT"},
    {"1.2.276.0.76.4.78", CARDS_TYPE_SMC_B, "C.HCI.OSIG"},
};

#define OID_VERSICHERTER "1.2.276.0.76.4.49"

/* What the certificate says about its card. */
struct facts {
    enum cards_type type;
    const char *key_ref;
    char profession_oid[64];
};

static bool is_kvnr(const char *s)
{
    if (strlen(s) != 10 || !isupper((unsigned char)s[0]))
        return false;
    for (int i = 1; i < 10; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

static bool from_policies(const X509 *cert, struct facts *f)
{
    CERTIFICATEPOLICIES *pols = X509_get_ext_d2i(cert, NID_certificate_policies, NULL, NULL);
    bool found = false;
    char oid[64];

    for (int i = 0; pols && !found && i < sk_POLICYINFO_num(pols); i++) {
        if (OBJ_obj2txt(oid, sizeof(oid), sk_POLICYINFO_value(pols, i)->policyid, 1) <= 0)
            continue;
        for (size_t m = 0; m < ARRAY_SIZE(policy_map); m++) {
            if (strcmp(oid, policy_map[m].oid) == 0) {
                f->type = policy_map[m].type;
                f->key_ref = policy_map[m].key_ref;
                found = true;
                break;
            }
        }
    }
    CERTIFICATEPOLICIES_free(pols);
    return found;
}

/* Reads the admission: the first profession OID and registrationNumber (Telematik-ID). */
static void admission(const X509 *cert, struct facts *f, struct cards_card *card)
{
    ADMISSION_SYNTAX *adm = X509_get_ext_d2i(cert, NID_x509ExtAdmission, NULL, NULL);
    const STACK_OF(ADMISSIONS) *entries =
        adm ? ADMISSION_SYNTAX_get0_contentsOfAdmissions(adm) : NULL;

    for (int i = 0; entries && i < sk_ADMISSIONS_num(entries); i++) {
        const PROFESSION_INFOS *infos =
            ADMISSIONS_get0_professionInfos(sk_ADMISSIONS_value(entries, i));

        for (int j = 0; infos && j < sk_PROFESSION_INFO_num(infos); j++) {
            const PROFESSION_INFO *pi = sk_PROFESSION_INFO_value(infos, j);
            const ASN1_PRINTABLESTRING *reg = PROFESSION_INFO_get0_registrationNumber(pi);
            const STACK_OF(ASN1_OBJECT) *oids = PROFESSION_INFO_get0_professionOIDs(pi);

            if (reg && !card->telematik_id[0] &&
                (size_t)ASN1_STRING_length(reg) < sizeof(card->telematik_id))
                (void)snprintf(card->telematik_id, sizeof(card->telematik_id), "%.*s",
                               ASN1_STRING_length(reg), (const char *)ASN1_STRING_get0_data(reg));
            if (oids && sk_ASN1_OBJECT_num(oids) > 0 && !f->profession_oid[0])
                (void)OBJ_obj2txt(f->profession_oid, sizeof(f->profession_oid),
                                  sk_ASN1_OBJECT_value(oids, 0), 1);
        }
    }
    ADMISSION_SYNTAX_free(adm);
}

/* Copies the UTF-8 text of every entry nid of name to fn until it returns true. */
static bool name_each(const X509_NAME *name, int nid, bool (*fn)(const char *s, void *arg),
                      void *arg)
{
    bool done = false;

    for (int i = -1; !done && (i = X509_NAME_get_index_by_NID(name, nid, i)) >= 0;) {
        unsigned char *utf8 = NULL;
        int len =
            ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));

        if (len >= 0)
            done = fn((const char *)utf8, arg);
        OPENSSL_free(utf8);
    }
    return done;
}

static bool take_kvnr(const char *s, void *arg)
{
    struct cards_card *card = arg;

    if (!is_kvnr(s))
        return false;
    (void)str_copy(card->kvnr, sizeof(card->kvnr), s);
    return true;
}

/* Copies UTF-8 text, cutting a long one at a character boundary so that it stays valid
 * UTF-8 (world.json and the events need it). */
static void utf8_copy(char *dst, size_t size, const char *src)
{
    size_t len;

    if (str_copy(dst, size, src) == 0)
        return;
    len = strlen(dst);
    while (len > 0 && ((unsigned char)dst[len - 1] & 0xc0) == 0x80)
        len--; /* continuation bytes of the cut character */
    if (len > 0 && ((unsigned char)dst[len - 1] & 0x80))
        len--; /* its lead byte */
    dst[len] = '\0';
}

static bool take_cn(const char *s, void *arg)
{
    struct cards_card *card = arg;

    utf8_copy(card->holder_name, sizeof(card->holder_name), s);
    return true;
}

/* "16.80276001011699901343" -> "80276001011699901343" (10 to 20 digits). */
static bool take_iccsn(const char *s, void *arg)
{
    struct cards_card *card = arg;
    const char *dot = strchr(s, '.');
    const char *digits = dot ? dot + 1 : s;
    size_t n = strlen(digits);

    if (n < 10 || n > CARDS_ICCSN_MAX || strspn(digits, "0123456789") != n)
        return false;
    (void)str_copy(card->iccsn, sizeof(card->iccsn), digits);
    return true;
}

static bool issuer_says(const X509 *cert, const char *word)
{
    char buf[256];

    return X509_NAME_oneline(X509_get_issuer_name(cert), buf, sizeof(buf)) &&
           strstr(buf, word) != NULL;
}

/* Fills type, key reference and card facts from the certificate. -EINVAL if unknown. */
static int analyse(const X509 *cert, struct facts *f, struct cards_card *card)
{
    const X509_NAME *subject = X509_get_subject_name(cert);
    uint32_t ku = X509_get_key_usage((X509 *)cert);
    bool known = from_policies(cert, f);

    admission(cert, f, card);
    (void)name_each(subject, NID_commonName, take_cn, card);
    (void)name_each(subject, NID_serialNumber, take_iccsn, card);
    (void)name_each(subject, NID_organizationalUnitName, take_kvnr, card);
    if (!known) {
        if (strcmp(f->profession_oid, OID_VERSICHERTER) == 0 || card->kvnr[0] ||
            issuer_says(cert, "EGK"))
            f->type = CARDS_TYPE_EGK;
        else if (issuer_says(cert, "HBA"))
            f->type = CARDS_TYPE_HBA;
        else if (issuer_says(cert, "SMCB"))
            f->type = CARDS_TYPE_SMC_B;
        else
            return -EINVAL;
        if (f->type == CARDS_TYPE_EGK)
            f->key_ref = "C.CH.AUT";
        else if (ku & KU_NON_REPUDIATION)
            f->key_ref = f->type == CARDS_TYPE_HBA ? "C.HP.QES" : "C.HCI.OSIG";
        else if (!(ku & KU_DIGITAL_SIGNATURE))
            f->key_ref = f->type == CARDS_TYPE_HBA ? "C.HP.ENC" : "C.HCI.ENC";
        else
            f->key_ref = f->type == CARDS_TYPE_HBA ? "C.HP.AUT" : "C.HCI.AUT";
    }
    if (f->type != CARDS_TYPE_EGK)
        card->kvnr[0] = '\0';
    return 0;
}

static int alg_of(EVP_PKEY *key, enum cards__alg *ret)
{
    int id = EVP_PKEY_get_base_id(key);

    if (id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS)
        *ret = CARDS__ALG_RSA;
    else if (id == EVP_PKEY_EC)
        *ret = CARDS__ALG_ECC;
    else
        return -EINVAL;
    return 0;
}

/* eGK certificates carry no ICCSN: make up an unused 20-digit one, "8027699" + 13 random. */
static int iccsn_make(const struct cards *c, char *buf, size_t size)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        unsigned char raw[13];

        if (rand_bytes(raw, sizeof(raw)) < 0)
            return -EIO;
        (void)snprintf(buf, size, "8027699");
        for (size_t i = 0; i < sizeof(raw); i++)
            buf[7 + i] = (char)('0' + raw[i] % 10);
        buf[7 + sizeof(raw)] = '\0';
        if (!cards__iccsn_is_used(c, buf))
            return 0;
    }
    return -EEXIST;
}

/* The library context with the legacy provider (created on first use). */
static OSSL_LIB_CTX *p12_ctx(struct cards *c)
{
    if (c->p12_ctx)
        return c->p12_ctx;
    c->p12_ctx = OSSL_LIB_CTX_new();
    c->p12_providers[0] = c->p12_ctx ? OSSL_PROVIDER_load(c->p12_ctx, "default") : NULL;
    if (!c->p12_providers[0]) {
        cards__import_done(c);
        return NULL;
    }
    /* Without it only PBES2/AES files can be read; say so, go on. */
    c->p12_providers[1] = OSSL_PROVIDER_load(c->p12_ctx, "legacy");
    if (!c->p12_providers[1])
        log_msg(LOG_LEVEL_WARNING, "cards: OpenSSL's legacy provider is missing; PKCS#12 "
                                   "files protected with RC2 or 3DES cannot be imported");
    return c->p12_ctx;
}

void cards__import_done(struct cards *c)
{
    /* Providers are unloaded before their context goes, or the legacy provider's child
     * context outlives it. */
    for (size_t i = 0; i < ARRAY_SIZE(c->p12_providers); i++) {
        if (c->p12_providers[i])
            (void)OSSL_PROVIDER_unload(c->p12_providers[i]);
        c->p12_providers[i] = NULL;
    }
    OSSL_LIB_CTX_free(c->p12_ctx);
    c->p12_ctx = NULL;
}

/* Parses, understands and stores the identity (run with the p12 context as default). */
static int import_parsed(struct cards *c, const char *name, const void *p12, size_t len,
                         const char *password, struct cards__entry *e)
{
    const unsigned char *p = p12;
    PKCS12 *pk = d2i_PKCS12(NULL, &p, (long)len);
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    struct facts f = {.type = CARDS_TYPE_UNKNOWN};
    struct cards__cert *cc = &e->certs[0];
    char file[64];
    char *dir = NULL;
    char *path = NULL;
    int r = -EBADMSG;

    if (!pk || !PKCS12_parse(pk, password ? password : "", &key, &cert, NULL) || !key || !cert)
        goto out;
    r = analyse(cert, &f, &e->card);
    if (r == 0)
        r = alg_of(key, &cc->alg);
    if (r < 0)
        goto out;
    if (cards__iccsn_is_used(c, e->card.iccsn)) {
        r = -EEXIST;
        goto out;
    }
    if (!e->card.iccsn[0]) {
        r = iccsn_make(c, e->card.iccsn, sizeof(e->card.iccsn));
        if (r < 0)
            goto out;
    }
    (void)str_copy(e->card.name, sizeof(e->card.name), name);
    (void)str_copy(e->card.card_version, sizeof(e->card.card_version), IMPORT_CARD_VERSION);
    (void)str_copy(cc->key_ref, sizeof(cc->key_ref), f.key_ref);
    e->card.type = f.type;
    e->imported = true;
    cards__pins_default(&e->card);
    r = cards__cert_not_after_ms(cert, &e->card.expiry_ms);
    if (r == 0)
        r = cards__cert_der(cert, &cc->der, &cc->der_len);
    if (r < 0)
        goto out;
    e->n_certs = 1;
    /* Invariant 1: files first, key before certificate. */
    r = cards__card_dir(c, name, true, &dir);
    if (r < 0)
        goto out;
    cards__cert_file(cc, true, file, sizeof(file));
    path = fs_path_join(dir, file);
    r = path ? cards__key_write(path, key) : -ENOMEM;
    free(path);
    if (r < 0)
        goto out;
    cards__cert_file(cc, false, file, sizeof(file));
    path = fs_path_join(dir, file);
    r = path ? fs_write_atomic(path, cc->der, cc->der_len, 0644) : -ENOMEM;
    free(path);
out:
    free(dir);
    X509_free(cert);
    EVP_PKEY_free(key);
    PKCS12_free(pk);
    return r;
}

int cards_import_p12(struct cards *c, const char *name, const void *p12, size_t len,
                     const char *password)
{
    struct cards__entry e = {0};
    OSSL_LIB_CTX *ctx;
    OSSL_LIB_CTX *prev;
    int r;

    if (!cards__name_is_valid(name) || !p12 || len == 0 || len > P12_MAX)
        return -EINVAL;
    if (cards__catalog_find(c, name))
        return -EEXIST;
    ctx = p12_ctx(c);
    if (!ctx)
        return -ENOMEM;
    prev = OSSL_LIB_CTX_set0_default(ctx);
    r = import_parsed(c, name, p12, len, password, &e);
    (void)OSSL_LIB_CTX_set0_default(prev); /* invariant 2 */
    if (r == 0)
        r = cards__catalog_add(c, &e);
    cards__entry_done(&e);
    if (r < 0)
        return r;
    log_msg(LOG_LEVEL_DEBUG, "cards: imported '%s' (%s, %s %s)", name,
            cards_type_to_string(c->cat[c->n_cat - 1].card.type),
            c->cat[c->n_cat - 1].certs[0].key_ref,
            cards__alg_to_string(c->cat[c->n_cat - 1].certs[0].alg));
    return cards__world_save(c);
}
