/* profile: what the cards of the simulated world say about themselves: the demo cards of the
 * first start (egk1, hba1, smcb1), their certificate profiles, and the default PIN objects.
 *
 * Sources of the identifiers (all TEST-ONLY values are ours):
 *  - certificatePolicies: read from gematik's test identities in ../shared/testcards/identities
 *    (README.md there): 1.2.276.0.76.4.70 oid_egk_aut (eGK C.CH.AUT), .72 oid_hba_qes,
 *    .74 oid_hba_enc, .75 oid_hba_aut, .76 oid_smc_b_enc, .77 oid_smc_b_aut, .78 oid_smc_b_osig,
 *    .163 oid_policy_gem_or_cp (eGK, SMC-B), 0.4.0.194112.1.2 ETSI QCP-n-qscd (HBA QES).
 *  - admission (1.3.36.8.3.3): profession OIDs .49 oid_versicherter ("Versicherte/-r"), .30
 *    oid_arzt ("Ärztin/Arzt"), .50 oid_praxis_arzt ("Betriebsstätte Arzt"; smartcards.json
 *    names it for "Praxis Peer Graf von Müller"); the Telematik-ID is the registrationNumber
 *    of the professionInfo, as in the test HBAs and SMC-Bs (e.g. "1-1-ARZT-Meierhofer").
 *  - subjects: eGK OU = KVNR (10 characters) and OU = IK of the insurer, SN, GN, CN; HBA one
 *    multi-valued RDN GN + SN + serialNumber "16.<ICCSN>" + CN; SMC-B ST, L, postalCode,
 *    street, serialNumber "16.<ICCSN>", CN = institution, all as the test identities do.
 *
 * Invariants:
 *  1. Every demo card has each of its certificates for RSA and for ECC.
 *  2. A card's Telematik-ID, KVNR and holder name are the ones its certificates carry.
 *  3. Keys are written (0600) before certificates; a card entry is filled only on success. */
#include "cards/cards_internal.h"

#include "base/base.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* Validity of card certificates in days: five years, as a G2.1 card's. */
#define CARD_DAYS (5 * 365)

#define OID_GEM_OR_CP "1.2.276.0.76.4.163"
#define OID_QCP_N_QSCD "0.4.0.194112.1.2"
/* oid_egk_enc (gemSpec_OID); the test identities carry only eGK AUT certificates. */
#define OID_EGK_ENC "1.2.276.0.76.4.68"

/* The version of the card's object system: COS G2.1. */
#define CARD_VERSION "4.4.0"

#define DEFAULT_PIN "123456"
#define DEFAULT_PUK "12345678"
#define DEFAULT_TRIES 3
#define DEFAULT_PUK_USES 10

static const struct cards__demo demos[] = {
    {"smcb1", CARDS_TYPE_SMC_B, "80276001019990000003", "ct1", 1},
    {"hba1", CARDS_TYPE_HBA, "80276001019990000002", "ct1", 2},
    {"egk1", CARDS_TYPE_EGK, "80276001019990000001", "ct1", 3},
};

/* The people and the practice behind the demo cards (TEST-ONLY, invented). */
#define EGK_GIVEN "Erika"
#define EGK_SURNAME "Mustermann"
#define EGK_KVNR "X110000001"
#define EGK_INSURER "konnektord Test-GKV NOT-VALID"
#define EGK_IK "109999999"
#define HBA_GIVEN "Arne"
#define HBA_SURNAME "Testarzt"
#define HBA_CN "Dr. Arne Testarzt TEST-ONLY"
#define HBA_TELEMATIK_ID "1-1-ARZT-Testarzt01"
#define SMCB_CN "Praxis Dr. Arne Testarzt TEST-ONLY"
#define SMCB_TELEMATIK_ID "1-2-PRAXIS-Testarzt01"

size_t cards__demo_count(void)
{
    return ARRAY_SIZE(demos);
}

const struct cards__demo *cards__demo_at(size_t i)
{
    return i < ARRAY_SIZE(demos) ? &demos[i] : NULL;
}

/* One certificate of a card type: key reference, policy and key usage per algorithm. */
struct cert_spec {
    const char *key_ref;
    const char *policy;
    const char *policy2; /* a second policy OID, NULL for none */
    const char *ku_rsa;
    const char *ku_ecc;
    const char *eku;
};

/* Every key reference ReadCardCertificate can name for a card kind (CertRefEnum C.AUT, C.ENC,
 * C.SIG, C.QES; certificate_service.c maps them). */
static const struct cert_spec egk_certs[] = {
    {"C.CH.AUT", "1.2.276.0.76.4.70", OID_GEM_OR_CP, "critical,digitalSignature",
     "critical,digitalSignature", NULL},
    {"C.CH.ENC", OID_EGK_ENC, OID_GEM_OR_CP, "critical,keyEncipherment,dataEncipherment",
     "critical,keyAgreement", NULL},
};

static const struct cert_spec hba_certs[] = {
    {"C.HP.AUT", "1.2.276.0.76.4.75", NULL, "critical,digitalSignature,keyEncipherment",
     "critical,digitalSignature,keyAgreement", "clientAuth,emailProtection"},
    {"C.HP.ENC", "1.2.276.0.76.4.74", NULL, "critical,keyEncipherment,dataEncipherment",
     "critical,keyAgreement", NULL},
    {"C.HP.QES", "1.2.276.0.76.4.72", OID_QCP_N_QSCD, "critical,nonRepudiation",
     "critical,nonRepudiation", NULL},
};

static const struct cert_spec smcb_certs[] = {
    {"C.HCI.AUT", "1.2.276.0.76.4.77", OID_GEM_OR_CP, "critical,digitalSignature,keyEncipherment",
     "critical,digitalSignature", "clientAuth"},
    {"C.HCI.ENC", "1.2.276.0.76.4.76", OID_GEM_OR_CP, "critical,keyEncipherment,dataEncipherment",
     "critical,keyAgreement", NULL},
    {"C.HCI.OSIG", "1.2.276.0.76.4.78", OID_GEM_OR_CP, "critical,nonRepudiation",
     "critical,nonRepudiation", NULL},
};

static void rdn(struct cards__profile *p, const char *field, const char *value, bool same)
{
    p->subject[p->n_subject++] = (struct cards__rdn){field, value, same};
}

/* Subject and admission of a demo card; serial is "16.<ICCSN>" (lives in the caller). */
static void identity(const struct cards__demo *d, const char *serial, struct cards__profile *p,
                     struct cards_card *card)
{
    rdn(p, "C", "DE", false);
    switch (d->type) {
    case CARDS_TYPE_EGK:
        rdn(p, "O", EGK_INSURER, false);
        rdn(p, "OU", EGK_KVNR, false);
        rdn(p, "OU", EGK_IK, false);
        rdn(p, "SN", EGK_SURNAME, false);
        rdn(p, "GN", EGK_GIVEN, false);
        rdn(p, "CN", EGK_GIVEN " " EGK_SURNAME " TEST-ONLY", false);
        p->profession_item = "Versicherte/-r";
        p->profession_oid = "1.2.276.0.76.4.49";
        (void)str_copy(card->holder_name, sizeof(card->holder_name),
                       EGK_GIVEN " " EGK_SURNAME " TEST-ONLY");
        (void)str_copy(card->kvnr, sizeof(card->kvnr), EGK_KVNR);
        break;
    case CARDS_TYPE_HBA:
        rdn(p, "GN", HBA_GIVEN, false);
        rdn(p, "SN", HBA_SURNAME, true);
        rdn(p, "serialNumber", serial, true);
        rdn(p, "CN", HBA_CN, true);
        p->admission_authority_o = "ÄK Berlin";
        p->profession_item = "Ärztin/Arzt";
        p->profession_oid = "1.2.276.0.76.4.30";
        p->registration_number = HBA_TELEMATIK_ID;
        (void)str_copy(card->holder_name, sizeof(card->holder_name), HBA_CN);
        (void)str_copy(card->telematik_id, sizeof(card->telematik_id), HBA_TELEMATIK_ID);
        break;
    default:
        rdn(p, "ST", "Berlin", false);
        rdn(p, "L", "Berlin", false);
        rdn(p, "postalCode", "10117", false);
        rdn(p, "street", "Friedrichstraße 136", false);
        rdn(p, "serialNumber", serial, false);
        rdn(p, "CN", SMCB_CN, false);
        p->admission_authority_o = "KV Berlin";
        p->profession_item = "Betriebsstätte Arzt";
        p->profession_oid = "1.2.276.0.76.4.50";
        p->registration_number = SMCB_TELEMATIK_ID;
        (void)str_copy(card->holder_name, sizeof(card->holder_name), SMCB_CN);
        (void)str_copy(card->telematik_id, sizeof(card->telematik_id), SMCB_TELEMATIK_ID);
        break;
    }
}

/* Writes key and certificate of one issued pair into dir (invariant 3). */
static int pair_store(const char *dir, const struct cards__cert *cert, EVP_PKEY *key)
{
    char name[64];
    char *path = NULL;
    int r;

    cards__cert_file(cert, true, name, sizeof(name));
    path = fs_path_join(dir, name);
    r = path ? cards__key_write(path, key) : -ENOMEM;
    free(path);
    if (r < 0)
        return r;
    cards__cert_file(cert, false, name, sizeof(name));
    path = fs_path_join(dir, name);
    r = path ? fs_write_atomic(path, cert->der, cert->der_len, 0644) : -ENOMEM;
    free(path);
    return r;
}

static int issue_one(struct cards__pki *pki, const struct cards__profile *base,
                     const struct cert_spec *spec, enum cards__alg alg, const char *dir,
                     struct cards__cert *ret_cert, int64_t *ret_not_after_ms)
{
    struct cards__profile p = *base;
    EVP_PKEY *key = NULL;
    X509 *x509 = NULL;
    struct cards__cert cert = {.alg = alg};
    int r;

    p.alg = alg;
    p.policies[p.n_policies++] = spec->policy;
    if (spec->policy2)
        p.policies[p.n_policies++] = spec->policy2;
    p.key_usage = alg == CARDS__ALG_RSA ? spec->ku_rsa : spec->ku_ecc;
    p.ext_key_usage = spec->eku;
    (void)str_copy(cert.key_ref, sizeof(cert.key_ref), spec->key_ref);
    r = cards__pki_issue(pki, &p, &key, &x509);
    if (r == 0)
        r = cards__cert_der(x509, &cert.der, &cert.der_len);
    if (r == 0)
        r = cards__cert_not_after_ms(x509, ret_not_after_ms);
    if (r == 0)
        r = pair_store(dir, &cert, key);
    if (r < 0) {
        free(cert.der);
        goto out;
    }
    *ret_cert = cert;
out:
    EVP_PKEY_free(key);
    X509_free(x509);
    return r;
}

int cards__profile_issue_demo(struct cards__pki *pki, const struct cards__demo *d, const char *dir,
                              struct cards__entry *e)
{
    const struct cert_spec *specs = d->type == CARDS_TYPE_EGK   ? egk_certs
                                    : d->type == CARDS_TYPE_HBA ? hba_certs
                                                                : smcb_certs;
    size_t n_specs = d->type == CARDS_TYPE_EGK   ? ARRAY_SIZE(egk_certs)
                     : d->type == CARDS_TYPE_HBA ? ARRAY_SIZE(hba_certs)
                                                 : ARRAY_SIZE(smcb_certs);
    struct cards__entry out = {0};
    struct cards__profile base = {.days = CARD_DAYS};
    char serial[32];
    int r = 0;

    (void)str_copy(out.card.name, sizeof(out.card.name), d->name);
    (void)str_copy(out.card.iccsn, sizeof(out.card.iccsn), d->iccsn);
    (void)str_copy(out.card.card_version, sizeof(out.card.card_version), CARD_VERSION);
    out.card.type = d->type;
    (void)snprintf(serial, sizeof(serial), "16.%s", d->iccsn);
    identity(d, serial, &base, &out.card);
    cards__pins_default(&out.card);
    /* Invariant 1: each certificate for both algorithms. */
    for (size_t i = 0; r == 0 && i < n_specs; i++) {
        for (int a = 0; r == 0 && a < CARDS__ALG_MAX; a++) {
            int64_t not_after = 0;

            r = issue_one(pki, &base, &specs[i], (enum cards__alg)a, dir, &out.certs[out.n_certs],
                          &not_after);
            if (r == 0)
                out.n_certs++;
            /* The card's expiry is its first AUT certificate's (cards.h). */
            if (r == 0 && i == 0 && a == 0)
                out.card.expiry_ms = not_after;
        }
    }
    if (r < 0) {
        cards__entry_done(&out);
        return r;
    }
    *e = out;
    return 0;
}

int cards__profile_top_up_demo(struct cards__pki *pki, const struct cards__demo *d, const char *dir,
                               struct cards__entry *e)
{
    const struct cert_spec *specs = d->type == CARDS_TYPE_EGK   ? egk_certs
                                    : d->type == CARDS_TYPE_HBA ? hba_certs
                                                                : smcb_certs;
    size_t n_specs = d->type == CARDS_TYPE_EGK   ? ARRAY_SIZE(egk_certs)
                     : d->type == CARDS_TYPE_HBA ? ARRAY_SIZE(hba_certs)
                                                 : ARRAY_SIZE(smcb_certs);
    struct cards__profile base = {.days = CARD_DAYS};
    struct cards_card scratch = {.type = d->type};
    char serial[32];
    int added = 0;

    (void)snprintf(serial, sizeof(serial), "16.%s", d->iccsn);
    identity(d, serial, &base, &scratch); /* the same subject; scratch is not kept */
    for (size_t i = 0; i < n_specs; i++) {
        for (int a = 0; a < CARDS__ALG_MAX; a++) {
            bool have = false;
            int64_t not_after = 0;
            int r;

            for (size_t k = 0; k < e->n_certs && !have; k++)
                have = e->certs[k].alg == (enum cards__alg)a &&
                       strcmp(e->certs[k].key_ref, specs[i].key_ref) == 0;
            if (have)
                continue;
            if (e->n_certs == CARDS__CERTS_MAX)
                return -ENOSPC;
            r = issue_one(pki, &base, &specs[i], (enum cards__alg)a, dir, &e->certs[e->n_certs],
                          &not_after);
            if (r < 0)
                return r;
            e->n_certs++;
            added++;
        }
    }
    return added;
}

void cards__pins_default(struct cards_card *card)
{
    /* gemILF_PS's PIN references of the eGK (digest section 7.7), plus MRPIN.home. */
    static const char *const egk[] = {"PIN.CH",     "MRPIN.home",     "MRPIN.NFD", "MRPIN.NFD_READ",
                                      "MRPIN.DPE",  "MRPIN.DPE_READ", "MRPIN.GDD", "MRPIN.OSE",
                                      "MRPIN.AMTS", "PIN.AMTS_REP"};
    static const char *const hba[] = {"PIN.CH", "PIN.QES"};
    static const char *const smcb[] = {"PIN.SMC"};
    const char *const *names = card->type == CARDS_TYPE_EGK ? egk
                               : card->type == CARDS_TYPE_HBA || card->type == CARDS_TYPE_HBA_QSIG
                                   ? hba
                                   : smcb;
    size_t n = names == egk ? ARRAY_SIZE(egk) : names == hba ? ARRAY_SIZE(hba) : ARRAY_SIZE(smcb);

    card->n_pins = 0;
    for (size_t i = 0; i < n; i++) {
        struct cards_pin *pin = &card->pins[card->n_pins++];

        *pin = (struct cards_pin){.state = CARDS_PIN_VERIFIABLE,
                                  .tries_left = DEFAULT_TRIES,
                                  .puk_uses_left = DEFAULT_PUK_USES};
        (void)str_copy(pin->name, sizeof(pin->name), names[i]);
        (void)str_copy(pin->pin, sizeof(pin->pin), DEFAULT_PIN);
        (void)str_copy(pin->puk, sizeof(pin->puk), DEFAULT_PUK);
    }
}
