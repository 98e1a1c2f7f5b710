/* cards: the simulated card terminals and cards (DESIGN.md section 7).
 *
 *  - a test PKI generated at first start (DATA/world/pki/: a root and a component CA per
 *    algorithm, RSA-2048 and brainpoolP256r1), from which the demo cards' certificates are
 *    issued with realistic profiles (Telematik-ID, KVNR, professional roles);
 *  - a catalog of cards that can be inserted: the generated demo cards (egk1, hba1, smcb1)
 *    and cards imported from the gematik TEST-ONLY identities (PKCS#12, password "00");
 *  - terminals (one per card-terminal entity of the info model) with slots, connected or not;
 *  - inserted cards with their handles, and each card's PIN objects and counters (used by the
 *    CardService, issue #5); their state machines, the card sessions and the virtual PIN
 *    pads are declared in cards/pin.h.
 * Changes raise CARD/INSERTED, CARD/REMOVED, CT/CONNECTED, CT/DISCONNECTED on the bus, and
 * EC_CardTerminal_Not_Available(ctId) for an active terminal that is not connected.
 * The world (catalog, insertions, PIN counters) persists in DATA/world/world.json.
 *
 * cards knows no SOAP: services translate. Loop-thread only. */
#ifndef KONN_CARDS_H
#define KONN_CARDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "events/events.h"
#include "state/state.h"
#include "store/store.h"

/* CardTypeType of CardServiceCommon.xsd. */
enum cards_type {
    CARDS_TYPE_EGK,
    CARDS_TYPE_HBA_QSIG,
    CARDS_TYPE_HBA,
    CARDS_TYPE_SMC_B,
    CARDS_TYPE_HSM_B,
    CARDS_TYPE_SMC_KT,
    CARDS_TYPE_KVK,
    CARDS_TYPE_ZOD_2_0,
    CARDS_TYPE_UNKNOWN,
    CARDS_TYPE_HBA_X,
    CARDS_TYPE_SM_B,
    CARDS_TYPE_MAX
};

/* "EGK", "HBA-qSig", "HBA", "SMC-B", "HSM-B", "SMC-KT", "KVK", "ZOD_2.0", "UNKNOWN", "HBAx",
 * "SM-B", exactly as the XSD spells them. */
const char *cards_type_to_string(enum cards_type t);
int cards_type_from_string(const char *s, enum cards_type *ret);

#define CARDS_HANDLE_MAX 128
#define CARDS_ICCSN_MAX 20
#define CARDS_NAME_MAX 64
#define CARDS_PINS_MAX 12 /* the eGK has ten (PIN.CH, MRPIN.*, PIN.AMTS_REP) */

/* A PIN object of a card (PIN.CH, PIN.QES, PIN.SMC, MRPIN.home, ...). */
enum cards_pin_state {
    CARDS_PIN_VERIFIABLE,  /* set, counter > 0 */
    CARDS_PIN_TRANSPORT,   /* transport PIN: must be changed first */
    CARDS_PIN_EMPTY,       /* empty PIN: must be set first */
    CARDS_PIN_BLOCKED,     /* counter 0, PUK usable */
    CARDS_PIN_PUK_BLOCKED, /* PUK used up */
    CARDS_PIN_DISABLED,    /* PIN not required */
    CARDS_PIN_STATE_MAX
};

/* "verifiable", "transport", "empty", "blocked", "puk-blocked", "disabled" (world.json and the
 * control API spell them so). */
const char *cards_pin_state_to_string(enum cards_pin_state s);
int cards_pin_state_from_string(const char *s, enum cards_pin_state *ret);

struct cards_pin {
    char name[16]; /* "PIN.CH" */
    char pin[13];  /* current secret, digits; never logged */
    char puk[13];
    enum cards_pin_state state;
    unsigned tries_left;    /* of 3 */
    unsigned puk_uses_left; /* of 10 */
};

/* One card of the catalog (a card that exists, inserted or not). */
struct cards_card {
    char name[CARDS_NAME_MAX + 1]; /* catalog key: "egk1", "hba1", or the import's name */
    enum cards_type type;
    char iccsn[CARDS_ICCSN_MAX + 1];
    char card_version[16];  /* "4.4.0" (COS of a G2.1 card) */
    char holder_name[128];  /* CardHolderName; personal data: never logged */
    char kvnr[11];          /* eGK only */
    char telematik_id[128]; /* HBA, SMC-B */
    int64_t expiry_ms;      /* of the card's AUT certificate */
    bool auto_pin;          /* the virtual PIN pad enters the stored PIN itself (CI) */
    size_t n_pins;
    struct cards_pin pins[CARDS_PINS_MAX];
    /* Where inserted; ct_id "" when not. */
    char ct_id[STORE_ENTITY_ID_MAX + 1];
    unsigned slot;
    char handle[CARDS_HANDLE_MAX + 1];
    int64_t insert_time_ms;
};

/* What a terminal's display shows: DisplayMsg of CardTerminalService.xsd, at most 48
 * characters, i.e. up to 4 * 48 bytes of UTF-8. */
#define CARDS_DISPLAY_MAX (4 * 48)

struct cards_terminal {
    char id[STORE_ENTITY_ID_MAX + 1];
    char name[STORE_ENTITY_ID_MAX + 1];
    unsigned slots;
    bool connected;
    bool active;
    char display[CARDS_DISPLAY_MAX + 1]; /* "" when the display is idle */
};

struct cards;

struct cards_deps {
    struct store *store;
    struct ec_state *ecs;
    struct evt_bus *bus;
    const char *data_dir;
};

/* Loads DATA/world (creating the test PKI and demo cards at first start) and the terminals
 * of the info model. A damaged world file is set aside and a fresh world made, with a
 * warning; the PKI is never regenerated silently (-EBADMSG if it is unusable). */
int cards_open(const struct cards_deps *deps, struct cards **ret_cards);
/* The slow part of a first start, for the worker pool: generates the test PKI and the demo
 * cards (a dozen key pairs, a few seconds) and writes a world.json in which they wait for
 * their terminal. Touches only files under DATA/world: thread-safe, but not concurrently
 * with cards_open() on the same directory. A no-op when DATA/world/world.json exists.
 * Calling it first is optional: cards_open() does the same work itself when needed. */
int cards_prepare(const char *data_dir);
struct cards *cards_close(struct cards *c);

/* Re-reads the terminals from the info model (after a management change): new ones appear
 * connected; removed ones take their cards with them (CARD/REMOVED). */
int cards_sync_terminals(struct cards *c);

/* Terminals and cards. Pointers are borrowed until the next change. */
size_t cards_terminal_count(const struct cards *c);
const struct cards_terminal *cards_terminal_at(const struct cards *c, size_t i);
const struct cards_terminal *cards_terminal_find(const struct cards *c, const char *ct_id);
size_t cards_catalog_count(const struct cards *c);
const struct cards_card *cards_catalog_at(const struct cards *c, size_t i);
const struct cards_card *cards_card_find(const struct cards *c, const char *name);
const struct cards_card *cards_card_by_handle(const struct cards *c, const char *handle);
/* The card in a slot, or NULL. */
const struct cards_card *cards_card_in_slot(const struct cards *c, const char *ct_id,
                                            unsigned slot);
/* Mutable access for the card services (PIN counters); persist with cards_save(). */
struct cards_card *cards_card_by_handle_mut(struct cards *c, const char *handle);
int cards_save(struct cards *c);

/* Inserts a catalog card into a slot (1-based): -ENOENT unknown terminal or card, -EBUSY
 * slot taken or card already inserted elsewhere, -ENOTCONN terminal not connected, -ERANGE
 * bad slot. Raises CARD/INSERTED with CardHandle, CardType, CardVersion, ICCSN, CtID, SlotID,
 * InsertTime, CardHolderName, KVNR (as gemILF_PS lists them). */
int cards_insert(struct cards *c, const char *ct_id, unsigned slot, const char *card_name);
/* Removes the card in a slot (CARD/REMOVED). -ENOENT if the slot is empty. */
int cards_remove(struct cards *c, const char *ct_id, unsigned slot);
/* Connects or disconnects a terminal (CT/CONNECTED, CT/DISCONNECTED; a disconnected active
 * terminal raises EC_CardTerminal_Not_Available(ctId); its cards are removed). */
int cards_terminal_set_connected(struct cards *c, const char *ct_id, bool connected);

/* Imports a gematik test identity (PKCS#12 with password, e.g. "00") as a catalog card
 * named name; its type comes from the certificate profile (eGK, HBA, SMC-B). -EEXIST,
 * -EBADMSG (not a PKCS#12 or wrong password), -EINVAL (unknown profile). */
int cards_import_p12(struct cards *c, const char *name, const void *p12, size_t len,
                     const char *password);

/* Certificates of a card by key reference ("C.CH.AUT", "C.HCI.AUT", "C.HP.QES", ...) and
 * algorithm ("RSA" or "ECC"): DER bytes borrowed until the card is removed from the
 * catalog. -ENOENT if the card has no such certificate. */
int cards_card_certificate(const struct cards *c, const char *card_name, const char *key_ref,
                           const char *algorithm, const uint8_t **ret_der, size_t *ret_len);

/* Shows text on a terminal's display (display.c); "" or NULL clears it. Text longer than
 * CARDS_DISPLAY_MAX bytes is cut at a character boundary. -ENOENT unknown terminal. Not
 * persisted: a display is empty after a restart. */
int cards_terminal_display_set(struct cards *c, const char *ct_id, const char *text);

/* ---- the eGK's DPE container (dpe.c) ----------------------------------------------------
 * DF.DPE/EF.DPE of an eGK: the Datensatz persönliche Erklärungen of the Fachmodul NFDM
 * (digest section 8.2), kept per eGK in world.json and empty at first. EF.DPE holds a 2-byte
 * big-endian length and then that many bytes of the gzip-compressed DPE document; the file
 * has CARDS_DPE_CONTAINER_MAX bytes in the G2.1 eGK image (numberOfOctet 06bd), so a document
 * fits when its compressed form has at most CARDS_DPE_CONTAINER_MAX - 2 bytes. Callers get
 * and give the decompressed document; cards checks no XML. Access rules (PINs, card-to-card
 * authentication) are the caller's business. */
#define CARDS_DPE_CONTAINER_MAX 1725
/* Decompressed documents larger than this are refused (DPE_Document.xsd's fields add up to
 * about 3 KiB; gzip gets at most about 1000:1, so a 1.7 KB container never expands past
 * 2 MB, and this cap stops that early). */
#define CARDS_DPE_DOCUMENT_MAX (64 * 1024)

/* EF.DPE's bytes of a document: -EINVAL for an empty document or one over
 * CARDS_DPE_DOCUMENT_MAX, -E2BIG when it does not fit CARDS_DPE_CONTAINER_MAX compressed,
 * -ENOMEM. buf holds CARDS_DPE_CONTAINER_MAX bytes. */
int cards_dpe_pack(const void *doc, size_t len, uint8_t *buf, size_t *ret_len);
/* The document of EF.DPE's bytes, in a heap buffer the caller frees (NUL-terminated, the
 * NUL not counted). -ENODATA for an empty container (length 0), -EBADMSG for a length past
 * the end, data that is no gzip stream or a document over CARDS_DPE_DOCUMENT_MAX; -ENOMEM. */
int cards_dpe_unpack(const uint8_t *container, size_t len, uint8_t **ret_doc, size_t *ret_len);

/* Reads, writes and erases the DPE of the inserted eGK with this handle; write and erase
 * save the world. -ENOENT: no inserted card of that handle; -EMEDIUMTYPE: it is no eGK;
 * read: -ENODATA when the eGK holds no DPE; the errors of the pack, unpack and save. */
int cards_egk_dpe_read(const struct cards *c, const char *handle, uint8_t **ret_doc,
                       size_t *ret_len);
int cards_egk_dpe_write(struct cards *c, const char *handle, const void *doc, size_t len);
int cards_egk_dpe_erase(struct cards *c, const char *handle);

/* ---- trust space and revocation (trust.c, revocation.c) ---------------------------------
 * The trust space is what VerifyCertificate checks against: the CAs of the test PKI plus CA
 * certificates an administrator imported (the gematik TEST-ONLY CAs; their PKCS#12 files
 * carry no chain), kept in DATA/trust/imported-cas.pem. Every CA of the trust space is a
 * trust anchor, as the TSL makes each listed CA one. The simulated OCSP responder answers
 * per certificate from a table keyed by issuer and serial (DATA/world/revocation.json);
 * certificates not in the table are "good". */

enum cards_revocation {
    CARDS_REVOCATION_GOOD,
    CARDS_REVOCATION_REVOKED,
    CARDS_REVOCATION_UNKNOWN, /* the responder does not know it: no decision possible */
    CARDS_REVOCATION_MAX
};

/* "good", "revoked", "unknown". */
const char *cards_revocation_to_string(enum cards_revocation r);
int cards_revocation_from_string(const char *s, enum cards_revocation *ret);

/* An issuer (RFC 4514 string, as OpenSSL's XN_FLAG_RFC2253 writes it) and serial (lower-case
 * hex without leading zeros) name a certificate for the revocation table. */
#define CARDS_ISSUER_MAX 512
#define CARDS_SERIAL_MAX 64

struct cards_cert_id {
    char issuer[CARDS_ISSUER_MAX + 1];
    char serial[CARDS_SERIAL_MAX + 1];
};

/* Issuer and serial of a DER certificate. -EBADMSG if it is not one, -E2BIG if a name is
 * too long for the fields. */
int cards_cert_id_of(const uint8_t *der, size_t len, struct cards_cert_id *ret_id);

/* Sets the simulated OCSP answer for a certificate; revoking records the connector time as
 * the revocation time; "good" removes the entry. Saved at once. -EINVAL bad id. */
int cards_revocation_set(struct cards *c, const struct cards_cert_id *id,
                         enum cards_revocation status);
/* The answer for a certificate, and when it was revoked (0 unless revoked). */
enum cards_revocation cards_revocation_get(const struct cards *c, const struct cards_cert_id *id,
                                           int64_t *ret_revoked_ms);
/* Entries of the table (every one not "good"), in the order they were set. */
size_t cards_revocation_count(const struct cards *c);
int cards_revocation_at(const struct cards *c, size_t i, struct cards_cert_id *ret_id,
                        enum cards_revocation *ret_status, int64_t *ret_revoked_ms);

/* Imports the CA certificates of a PEM text into the trust space (DATA/trust). Only CA
 * certificates (basicConstraints CA:TRUE) are taken; ones already present are skipped.
 * *ret_added counts the new ones. -EBADMSG: no certificate in the text; -EINVAL: a
 * certificate is not a CA (nothing is imported then). */
int cards_trust_import_pem(struct cards *c, const char *pem, size_t len, size_t *ret_added);

/* One CA of the trust space, for listings. */
struct cards_trust_ca {
    char subject[CARDS_ISSUER_MAX + 1];
    char issuer[CARDS_ISSUER_MAX + 1];
    char serial[CARDS_SERIAL_MAX + 1];
    char sha256[65];
    int64_t not_after_ms;
    bool imported; /* false: the test PKI's */
};
size_t cards_trust_count(struct cards *c);
int cards_trust_at(struct cards *c, size_t i, struct cards_trust_ca *ret_ca);

/* VerifyCertificate's outcome (CertificateService.xsd VerificationResultType). */
enum cards_verify_result { CARDS_VERIFY_VALID, CARDS_VERIFY_INCONCLUSIVE, CARDS_VERIFY_INVALID };

/* Why a certificate is not VALID: CheckCertificateDetailEnum of CertificateServiceCommon.xsd. */
enum cards_verify_detail {
    CARDS_VERIFY_DETAIL_NONE,
    CARDS_VERIFY_DETAIL_BAD_FORMAT,       /* CERT_BAD_FORMAT */
    CARDS_VERIFY_DETAIL_BUILD_CHAIN,      /* BUILD_CHAIN_FAILED */
    CARDS_VERIFY_DETAIL_SIG_ERROR,        /* CERT_SIG_ERROR */
    CARDS_VERIFY_DETAIL_EXPIRED,          /* CERT_EXPIRED (or not yet valid) */
    CARDS_VERIFY_DETAIL_REVOKED,          /* CERT_REVOKED */
    CARDS_VERIFY_DETAIL_REVOCATION_CHECK, /* CHECK_REVOCATION_FAILED: status unknown */
    CARDS_VERIFY_DETAIL_MAX
};

/* "CERT_BAD_FORMAT", ...; "" for NONE. */
const char *cards_verify_detail_to_string(enum cards_verify_detail d);

#define CARDS_ROLES_MAX 8
#define CARDS_ROLE_MAX 100

struct cards_verification {
    enum cards_verify_result result;
    enum cards_verify_detail detail;
    /* Profession OIDs of the admission extension (the certificate's roles). */
    char roles[CARDS_ROLES_MAX][CARDS_ROLE_MAX + 1];
    size_t n_roles;
};

/* Verifies a DER certificate at wall time at_ms against the trust space and the simulated
 * OCSP answers: INVALID for bad format, no chain, a bad signature, outside its validity, or
 * revoked at or before at_ms; INCONCLUSIVE when the responder answers "unknown"; VALID
 * otherwise. Returns 0 (the outcome is in *ret) or -ENOMEM. */
int cards_cert_verify(struct cards *c, const uint8_t *der, size_t len, int64_t at_ms,
                      struct cards_verification *ret);

/* The trust anchors of the test PKI (PEM), for the CertificateService and tests. */
const char *cards_pki_roots_pem(const struct cards *c);
/* The component CAs of the test PKI (PEM, one per algorithm): the intermediates between a
 * card certificate and its root, for building chains. Borrowed until cards_close(). */
const char *cards_pki_cas_pem(const struct cards *c);

#endif
