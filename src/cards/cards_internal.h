/* Declarations shared by the files of src/cards/ and their unit tests only.
 *
 *  - pki.c:     the test PKI (roots and component CAs per algorithm) and certificate issuing;
 *  - profile.c: the demo cards, the certificate profiles of eGK, HBA and SMC-B (subject,
 *               policies, admission) and the default PIN objects;
 *  - catalog.c: the catalog of cards, card files (keys, certificates) and lookups;
 *  - import.c:  PKCS#12 import of the gematik test identities;
 *  - world.c:   open/close, terminals, insertions, handles, events, EC_CardTerminal_*;
 *  - persist.c: DATA/world/world.json;
 *  - dpe.c:     the eGK's DPE container (EF.DPE of DF.DPE).
 *
 * Directory layout under DATA/world/ (this is the contract):
 *   pki/root-rsa.pem root-rsa.key.pem ca-rsa.pem ca-rsa.key.pem (and -ecc), keys 0600
 *   cards/<name>/<KEYREF>_<ALG>.der        a card's certificate, e.g. C.CH.AUT_RSA.der
 *   cards/<name>/<KEYREF>_<ALG>.key.pem    its private key (0600)
 *   world.json                             catalog, terminals' connection, insertions, PINs */
#ifndef KONN_CARDS_INTERNAL_H
#define KONN_CARDS_INTERNAL_H

#include "cards/cards.h"

#include <openssl/types.h>

/* A card holds at most this many certificates (SMC-B: AUT, ENC, OSIG for RSA and ECC). */
#define CARDS__CERTS_MAX 8
#define CARDS__KEYREF_MAX 16
/* Largest file read back from DATA/world (a certificate, a key, world.json), in bytes. */
#define CARDS__FILE_MAX (4 * 1024 * 1024)

/* ---- pki.c ------------------------------------------------------------------------------ */

enum cards__alg { CARDS__ALG_RSA, CARDS__ALG_ECC, CARDS__ALG_MAX };

/* "RSA", "ECC" (the algorithm names of cards_card_certificate()). */
const char *cards__alg_to_string(enum cards__alg alg);
int cards__alg_from_string(const char *s, enum cards__alg *ret_alg);

struct cards__pki;

/* Loads DATA/world/pki/, generating it when the directory does not exist. -EBADMSG when it
 * exists but a file is missing, unreadable or does not match (never regenerated silently). */
int cards__pki_open(const char *world_dir, struct cards__pki **ret_pki);
struct cards__pki *cards__pki_free(struct cards__pki *pki);
const char *cards__pki_roots_pem(const struct cards__pki *pki);
const char *cards__pki_cas_pem(const struct cards__pki *pki);

/* One RDN attribute of a subject; same_rdn joins it to the previous one (multi-valued RDN, as
 * gematik writes GN + SN + serialNumber + CN of an HBA). */
struct cards__rdn {
    const char *field; /* OpenSSL short name: "C", "O", "OU", "CN", "GN", "SN", ... */
    const char *value; /* UTF-8 */
    bool same_rdn;
};

#define CARDS__RDN_MAX 10
#define CARDS__POLICIES_MAX 4

/* What a card certificate says. Strings are borrowed for the call. */
struct cards__profile {
    enum cards__alg alg;
    struct cards__rdn subject[CARDS__RDN_MAX];
    size_t n_subject;
    const char *policies[CARDS__POLICIES_MAX]; /* certificatePolicies OIDs */
    size_t n_policies;
    const char *key_usage;     /* X509v3 config text, e.g. "critical,digitalSignature" */
    const char *ext_key_usage; /* NULL for none */
    /* Admission extension (1.3.36.8.3.3, Common PKI); none when profession_oid is NULL. */
    const char *admission_authority_o; /* O= of the admissionAuthority directory name */
    const char *profession_item;       /* "Ärztin/Arzt" */
    const char *profession_oid;        /* "1.2.276.0.76.4.30" */
    const char *registration_number;   /* Telematik-ID (PrintableString), NULL for none */
    int days;                          /* validity */
};

/* Generates a key of the profile's algorithm and a certificate signed by the component CA of
 * that algorithm. ret_key, ret_cert are owned by the caller. */
int cards__pki_issue(struct cards__pki *pki, const struct cards__profile *prof, EVP_PKEY **ret_key,
                     X509 **ret_cert);

/* ---- catalog (catalog.c) ---------------------------------------------------------------- */

struct cards__cert {
    char key_ref[CARDS__KEYREF_MAX]; /* "C.CH.AUT" */
    enum cards__alg alg;
    uint8_t *der;
    size_t der_len;
};

struct cards__entry {
    struct cards_card card;
    bool imported;
    size_t n_certs;
    struct cards__cert certs[CARDS__CERTS_MAX];
    /* eGK only: EF.DPE (dpe.c); dpe_len 0 while the eGK holds no DPE. */
    size_t dpe_len;
    uint8_t dpe[CARDS_DPE_CONTAINER_MAX];
};

/* ---- profile.c -------------------------------------------------------------------------- */

/* The demo cards of the first start. */
struct cards__demo {
    const char *name;
    enum cards_type type;
    const char *iccsn;
    const char *ct_id; /* where the first start inserts it */
    unsigned slot;
};
size_t cards__demo_count(void);
const struct cards__demo *cards__demo_at(size_t i);

/* Fills e (name, type, holder, KVNR or Telematik-ID, PINs) for a demo card and issues its
 * certificates from the PKI, writing keys and certificates into dir. */
int cards__profile_issue_demo(struct cards__pki *pki, const struct cards__demo *d, const char *dir,
                              struct cards__entry *e);

/* Issues the certificates a demo card made by an older version lacks (a key reference added
 * since: eGK C.CH.ENC, HBA C.HP.ENC), for both algorithms, into dir, and appends them to e.
 * Returns how many were added, or a negative errno (-ENOSPC: e is full). */
int cards__profile_top_up_demo(struct cards__pki *pki, const struct cards__demo *d, const char *dir,
                               struct cards__entry *e);

/* The default PIN objects of a card type (PIN "123456", PUK "12345678", 3 tries, 10 PUK
 * uses): eGK PIN.CH and MRPIN.home, HBA PIN.CH and PIN.QES, SMC-B PIN.SMC. */
void cards__pins_default(struct cards_card *card);

/* ---- the world object ------------------------------------------------------------------- */

struct cards {
    struct store *store;
    struct ec_state *ecs;
    struct evt_bus *bus;
    char *world_dir; /* DATA/world */
    char *cards_dir; /* DATA/world/cards */
    char *world_file;
    struct cards__pki *pki;
    struct cards__entry *cat;
    size_t n_cat, cap_cat;
    struct cards_terminal *terms;
    size_t n_terms;
    bool demo_pending; /* the demo cards wait for their terminal (ct1) */
    bool subscribed;
    uint64_t sub_id;
    OSSL_LIB_CTX *p12_ctx; /* default + legacy providers, for old PKCS#12 (import.c) */
    OSSL_PROVIDER *p12_providers[2];
    struct cards__session *sessions; /* session.c */
    size_t n_sessions, cap_sessions;
    struct cards_pin_wait *waits; /* pinpad.c: at most one per terminal */
    struct cards__trust *trust;   /* trust.c: trust space and revocation table */
};

/* trust.c: the trust space and the revocation table of c, loaded at first use (NULL on
 * allocation failure); freed by cards_close(). */
struct cards__trust *cards__trust_get(struct cards *c);
struct cards__trust *cards__trust_free(struct cards__trust *t);

/* revocation.c: the simulated OCSP answers, DATA/world/revocation.json. A missing file is
 * an empty table; a damaged one is set aside (.damaged) with a warning and the table starts
 * empty. NULL on allocation failure. */
struct cards__revs;
struct cards__revs *cards__revs_open(const char *world_dir);
struct cards__revs *cards__revs_free(struct cards__revs *r);
/* trust.c: the table of c (loaded with the trust space), NULL on allocation failure. */
struct cards__revs *cards__revs_get(struct cards *c);

/* ---- PINs (pin.h: pin.c, session.c, pinpad.c) -------------------------------------------- */

/* A session (TIP1-A_4560) that holds security states: one bit per PIN index of its card. */
struct cards__session {
    char handle[CARDS_HANDLE_MAX + 1];
    char key[130]; /* CARDS_SESSION_KEY_MAX */
    uint32_t verified;
};

/* The card leaves its slot: its waiting PIN entry ends (CARD_REMOVED) and its sessions end
 * (TIP1-A_4539). Called before the handle is cleared. */
void cards__pins_card_removed(struct cards *c, const struct cards_card *card);
/* cards_close(): frees sessions and waits; no done() runs. */
void cards__pins_done(struct cards *c);
/* session.c: ends the sessions of a handle. */
void cards__sessions_end(struct cards *c, const char *handle);

/* catalog.c */
/* Writes a private key as unencrypted PKCS#8 PEM, mode 0600, atomically. */
int cards__key_write(const char *path, EVP_PKEY *key);
/* DER of a certificate in a heap buffer (free()). */
int cards__cert_der(X509 *cert, uint8_t **ret_der, size_t *ret_len);
/* notAfter as wall ms. */
int cards__cert_not_after_ms(const X509 *cert, int64_t *ret_ms);
/* Appends an entry (copied; its certificate buffers move into the catalog). */
int cards__catalog_add(struct cards *c, struct cards__entry *e);
struct cards__entry *cards__catalog_find(const struct cards *c, const char *name);
bool cards__iccsn_is_used(const struct cards *c, const char *iccsn);
bool cards__name_is_valid(const char *name);
/* DATA/world/cards/<name> as a heap string, created with mode 0700 when mkdir is set. */
int cards__card_dir(const struct cards *c, const char *name, bool mkdir, char **ret_dir);
/* The file names of a certificate in its card's directory: "C.CH.AUT_RSA.der". */
void cards__cert_file(const struct cards__cert *cert, bool key, char *buf, size_t size);
/* Reads the certificates listed in e (key_ref, alg set; der NULL) from the card's directory. */
int cards__catalog_load_certs(struct cards *c, struct cards__entry *e);
/* Creates the demo cards at first start. */
int cards__catalog_create_demo(struct cards *c);
void cards__entry_done(struct cards__entry *e);

/* import.c: releases the library context of the import. */
void cards__import_done(struct cards *c);

/* persist.c */
/* 0, -ENOENT (no world.json: first start), -EBADMSG (damaged; the caller sets it aside). */
int cards__world_load(struct cards *c);
int cards__world_save(struct cards *c);

#endif
