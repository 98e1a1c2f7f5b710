/* certificate_service: the CertificateService v6.0 (WSDL 6.0.1 with schema 6.0.2, which adds
 * the optional Crypt parameter; digest section 7.8): ReadCardCertificate, VerifyCertificate
 * and CheckCertificateExpiration.
 *
 *  - ReadCardCertificate (CardHandle, Context, CertRefList, Crypt?) reads the certificates a
 *    card holds for the references of CertRefEnum, mapped per card kind:
 *        C.AUT  eGK C.CH.AUT   HBA C.HP.AUT   SMC-B C.HCI.AUT
 *        C.ENC  eGK C.CH.ENC   HBA C.HP.ENC   SMC-B C.HCI.ENC
 *        C.SIG  -              -              SMC-B C.HCI.OSIG
 *        C.QES  -              HBA C.HP.QES   -
 *    A reference the card does not have answers an X509DataInfo with the CertRef alone (the
 *    XSD makes X509Data optional for that). Gate GATE_OP_READ_CERT.
 *  - VerifyCertificate (Context, X509Certificate, VerificationTime?) checks against the trust
 *    space and the simulated OCSP answers (cards.h, trust.c): VerificationResult VALID,
 *    INCONCLUSIVE or INVALID, and RoleList with the profession OIDs of the certificate's
 *    Admission. The XSD needs at least one Role: a certificate without any gets one empty
 *    Role. Gate GATE_OP_VERIFY_CERT.
 *  - CheckCertificateExpiration (CardHandle?, Context, Crypt?) lists, for the card named, or
 *    else for every inserted HBAx and SM-B the Mandant reaches (from any of its workplaces),
 *    each certificate's expiry: CtID, CardHandle, ICCSN, subject_commonName, serialNumber,
 *    validity (xs:date of notAfter). Gate GATE_OP_READ_CERT.
 *
 * Decisions where the spec is silent or its tables were lost:
 *  - Crypt defaults to RSA: the parameter came with schema 6.0.2 as optional, so a client of
 *    6.0 or 6.0.1, which sends none, keeps getting the RSA certificates it got before.
 *  - X509IssuerName and X509SubjectName are RFC 4514 strings, X509SerialNumber is decimal
 *    (as XML Signature's X509IssuerSerial writes them).
 *  - VerificationTime without a zone is UTC; absent, the connector's time.
 *  - The gSMC-K's own certificates (named by the XSD's documentation) are not simulated as a
 *    card, so CheckCertificateExpiration lists only HBAx and SM-B.
 *  - X509Certificate that is not base64 is a syntax error (4000); base64 that is no
 *    certificate is INVALID (CERT_BAD_FORMAT).
 *
 * Invariants:
 *  1. A handler answers exactly once.
 *  2. The context check runs before anything is read for the caller. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "services/services_internal.h"

#define NS_CERT "http://ws.gematik.de/conn/CertificateService/v6.0"
#define NS_CERTCMN "http://ws.gematik.de/conn/CertificateServiceCommon/v2.0"
/* A certificate sent to VerifyCertificate is at most this long in base64 (a TI certificate
 * has 1 to 2 KiB; this leaves room for large test certificates). */
#define CERT_B64_MAX (64 * 1024)
/* The gematik code for a card type the operation cannot serve. */
#define ERR_CARD_TYPE 4209

static const struct soap_service cert_service = {
    .name = "CertificateService",
    .abstract = "Zertifikatsdienst: read, verify and check the expiry of certificates",
    .target_namespace = "http://ws.gematik.de/conn/CertificateService/WSDL/v6.0",
    .version = "6.0.1",
    .path = "/ws/CertificateService",
    .wsdl_path = NULL,
};

struct services_certs {
    struct services *s;
    struct soap_operation ops[3];
};

/* Every key reference a card may hold (cards.h). */
static const char *const all_key_refs[] = {"C.CH.AUT", "C.CH.ENC",  "C.HP.AUT",  "C.HP.ENC",
                                           "C.HP.QES", "C.HCI.AUT", "C.HCI.ENC", "C.HCI.OSIG"};

static bool is_hba(enum cards_type t)
{
    return t == CARDS_TYPE_HBA || t == CARDS_TYPE_HBA_QSIG || t == CARDS_TYPE_HBA_X;
}

static bool is_smb(enum cards_type t)
{
    return t == CARDS_TYPE_SMC_B || t == CARDS_TYPE_SM_B || t == CARDS_TYPE_HSM_B;
}

/* The card's key reference for a CertRefEnum value (file comment), or NULL. */
static const char *key_ref_of(enum cards_type t, const char *cert_ref)
{
    static const struct {
        const char *cert_ref, *egk, *hba, *smb;
    } map[] = {
        {"C.AUT", "C.CH.AUT", "C.HP.AUT", "C.HCI.AUT"},
        {"C.ENC", "C.CH.ENC", "C.HP.ENC", "C.HCI.ENC"},
        {"C.SIG", NULL, NULL, "C.HCI.OSIG"},
        {"C.QES", NULL, "C.HP.QES", NULL},
    };

    for (size_t i = 0; i < ARRAY_SIZE(map); i++) {
        if (strcmp(map[i].cert_ref, cert_ref) != 0)
            continue;
        return t == CARDS_TYPE_EGK ? map[i].egk
               : is_hba(t)         ? map[i].hba
               : is_smb(t)         ? map[i].smb
                                   : NULL;
    }
    return NULL;
}

static bool cert_ref_is_valid(const char *s)
{
    return strcmp(s, "C.AUT") == 0 || strcmp(s, "C.ENC") == 0 || strcmp(s, "C.SIG") == 0 ||
           strcmp(s, "C.QES") == 0;
}

/* Crypt (optional): "RSA" (the default) or "ECC"; answers 4000 and returns false if bad. */
static bool parse_crypt(struct soap_call *call, xmlNodePtr op, const char **ret_alg)
{
    char text[8];
    int r = services__trimmed(soap_child_text(op, NS_CERT, "Crypt"), text, sizeof(text));

    if (r == -ENOENT) {
        *ret_alg = "RSA";
        return true;
    }
    if (r == 0 && (strcmp(text, "RSA") == 0 || strcmp(text, "ECC") == 0)) {
        *ret_alg = text[0] == 'R' ? "RSA" : "ECC";
        return true;
    }
    soap_call_fault(call, SERVICES_ERR_SYNTAX, "Crypt must be RSA or ECC");
    return false;
}

/* ---- certificate facts ------------------------------------------------------------------ */

struct cert_facts {
    char issuer[CARDS_ISSUER_MAX + 1];
    char subject[CARDS_ISSUER_MAX + 1];
    char cn[256];
    char serial[128];   /* decimal */
    char not_after[40]; /* xs:date (sized for any int the format may see) */
};

static void name_text(const X509_NAME *name, char *buf, size_t size)
{
    BIO *bio = BIO_new(BIO_s_mem());
    int n = -1;

    if (bio && X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0)
        n = BIO_read(bio, buf, (int)size - 1);
    BIO_free(bio);
    buf[n > 0 ? n : 0] = '\0';
}

static void cn_text(const X509_NAME *name, char *buf, size_t size)
{
    int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    unsigned char *utf8 = NULL;
    int len =
        i >= 0 ? ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)))
               : -1;

    buf[0] = '\0';
    if (len >= 0)
        (void)snprintf(buf, size, "%.*s", len, (const char *)utf8);
    OPENSSL_free(utf8);
}

static int facts_of(const uint8_t *der, size_t len, struct cert_facts *f)
{
    const unsigned char *p = der;
    X509 *cert = d2i_X509(NULL, &p, (long)len);
    BIGNUM *bn = NULL;
    char *dec = NULL;
    struct tm tm;
    int r = -EBADMSG;

    if (!cert)
        return -EBADMSG;
    name_text(X509_get_issuer_name(cert), f->issuer, sizeof(f->issuer));
    name_text(X509_get_subject_name(cert), f->subject, sizeof(f->subject));
    cn_text(X509_get_subject_name(cert), f->cn, sizeof(f->cn));
    bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
    dec = bn ? BN_bn2dec(bn) : NULL;
    if (dec && str_copy(f->serial, sizeof(f->serial), dec) == 0 &&
        ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm)) {
        (void)snprintf(f->not_after, sizeof(f->not_after), "%04d-%02d-%02d", tm.tm_year + 1900,
                       tm.tm_mon + 1, tm.tm_mday);
        r = 0;
    }
    OPENSSL_free(dec);
    BN_free(bn);
    X509_free(cert);
    return r;
}

static int write_base64(xmlTextWriterPtr w, const char *prefix, const char *name,
                        const uint8_t *der, size_t len)
{
    int r = services__xml_start(w, prefix, name, NULL);

    if (len > INT32_MAX || xmlTextWriterWriteBase64(w, (const char *)der, 0, (int)len) < 0)
        r = -EIO;
    r |= services__xml_end(w);
    return r ? -EIO : 0;
}

/* ---- ReadCardCertificate ---------------------------------------------------------------- */

static int write_data_info(xmlTextWriterPtr w, const char *cert_ref, const uint8_t *der, size_t len)
{
    struct cert_facts f;
    int r = 0;

    r |= services__xml_start(w, "CERTCMN", "X509DataInfo", NULL);
    r |= services__xml_text(w, "CERTCMN", "CertRef", cert_ref);
    if (der && facts_of(der, len, &f) == 0) {
        r |= services__xml_start(w, "CERTCMN", "X509Data", NULL);
        r |= services__xml_start(w, "CERTCMN", "X509IssuerSerial", NULL);
        r |= services__xml_text(w, "CERTCMN", "X509IssuerName", f.issuer);
        r |= services__xml_text(w, "CERTCMN", "X509SerialNumber", f.serial);
        r |= services__xml_end(w);
        r |= services__xml_text(w, "CERTCMN", "X509SubjectName", f.subject);
        r |= write_base64(w, "CERTCMN", "X509Certificate", der, len);
        r |= services__xml_end(w);
    }
    r |= services__xml_end(w);
    return r ? -EIO : 0;
}

static void on_read_card_certificate(struct soap_call *call, void *arg)
{
    struct services_certs *cs = arg;
    struct services *s = cs->s;
    xmlNodePtr op = soap_call_operation(call);
    xmlNodePtr list = soap_child(op, NS_CERT, "CertRefList");
    char handle[CARDS_HANDLE_MAX + 1] = "";
    const struct cards_card *card;
    const char *alg = "RSA";
    xmlTextWriterPtr w;
    size_t n_refs = 0;
    int r;

    r = services__trimmed(soap_child_text(op, SOAP_NS_CONN, "CardHandle"), handle, sizeof(handle));
    if (r < 0 || !handle[0]) {
        soap_call_fault(call, SERVICES_ERR_SYNTAX, "ReadCardCertificate needs a CardHandle");
        return;
    }
    for (xmlNodePtr c = list ? list->children : NULL; c; c = c->next) {
        char ref[16];

        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (!c->ns || strcmp((const char *)c->ns->href, NS_CERT) != 0 ||
            strcmp((const char *)c->name, "CertRef") != 0 ||
            services__trimmed((const char *)(c->children ? c->children->content : NULL), ref,
                              sizeof(ref)) < 0 ||
            !cert_ref_is_valid(ref)) {
            soap_call_fault(call, SERVICES_ERR_SYNTAX,
                            "CertRefList holds CertRef elements of C.AUT, C.ENC, C.SIG, C.QES");
            return;
        }
        n_refs++;
    }
    if (n_refs == 0) {
        soap_call_fault(call, SERVICES_ERR_SYNTAX, "CertRefList needs at least one CertRef");
        return;
    }
    if (!parse_crypt(call, op, &alg) || !services__context_ok(s, call, handle, NULL, 0))
        return;
    card = cards_card_by_handle(s->deps.cards, handle);
    if (card->type != CARDS_TYPE_EGK && !is_hba(card->type) && !is_smb(card->type)) {
        soap_call_fault(call, ERR_CARD_TYPE, "a card of type %s holds no X.509 certificates",
                        cards_type_to_string(card->type));
        return;
    }
    w = soap_call_reply_begin(call, NS_CERT, "CERT", "ReadCardCertificateResponse");
    if (!w)
        return;
    r = services__xml_start(w, "CERTCMN", "X509DataInfoList", NS_CERTCMN);
    for (xmlNodePtr c = list->children; c; c = c->next) {
        const char *text =
            c->type == XML_ELEMENT_NODE && c->children ? (const char *)c->children->content : NULL;
        const uint8_t *der = NULL;
        const char *key_ref;
        size_t len = 0;
        char ref[16];

        if (c->type != XML_ELEMENT_NODE || services__trimmed(text, ref, sizeof(ref)) < 0)
            continue;
        key_ref = key_ref_of(card->type, ref);
        if (!key_ref ||
            cards_card_certificate(s->deps.cards, card->name, key_ref, alg, &der, &len) < 0)
            der = NULL;
        r |= write_data_info(w, ref, der, len);
    }
    r |= services__xml_end(w);
    if (r < 0)
        log_msg(LOG_LEVEL_ERROR, "services: writing the ReadCardCertificateResponse failed");
    soap_call_reply_end(call);
}

/* ---- VerifyCertificate ------------------------------------------------------------------ */

/* Base64 with any whitespace into a heap buffer. -EINVAL if it is not base64. */
/* xs:dateTime: "...Z", "...+01:00", or no zone (UTC). -EINVAL. */
static int datetime_parse(const char *text, int64_t *ret_ms)
{
    char buf[48];
    size_t n = strlen(text);
    int64_t offset_ms = 0;
    int64_t ms;

    if (n < 19 || n >= sizeof(buf) - 1)
        return -EINVAL;
    memcpy(buf, text, n + 1);
    if (n > 19 && (buf[n - 6] == '+' || buf[n - 6] == '-') && buf[n - 3] == ':') {
        int64_t hh = (buf[n - 5] - '0') * 10 + (buf[n - 4] - '0');
        int64_t mm = (buf[n - 2] - '0') * 10 + (buf[n - 1] - '0');

        offset_ms = (hh * 60 + mm) * 60000 * (buf[n - 6] == '-' ? -1 : 1);
        buf[n - 6] = 'Z';
        buf[n - 5] = '\0';
    } else if (buf[n - 1] != 'Z') {
        buf[n] = 'Z';
        buf[n + 1] = '\0';
    }
    if (clock_parse_iso(buf, &ms) < 0)
        return -EINVAL;
    *ret_ms = ms - offset_ms;
    return 0;
}

static void on_verify_certificate(struct soap_call *call, void *arg)
{
    static const char *const results[] = {
        [CARDS_VERIFY_VALID] = "VALID",
        [CARDS_VERIFY_INCONCLUSIVE] = "INCONCLUSIVE",
        [CARDS_VERIFY_INVALID] = "INVALID",
    };
    struct services_certs *cs = arg;
    struct services *s = cs->s;
    xmlNodePtr op = soap_call_operation(call);
    const char *b64 = soap_child_text(op, NS_CERTCMN, "X509Certificate");
    const char *when = soap_child_text(op, NS_CERT, "VerificationTime");
    struct cards_verification v = {.result = CARDS_VERIFY_INVALID};
    char when_text[48];
    int64_t at_ms = clock_now_ms();
    uint8_t *der = NULL;
    size_t len = 0;
    xmlTextWriterPtr w;
    int r;

    if (!b64 || base64_decode_max(b64, CERT_B64_MAX, &der, &len) < 0) {
        soap_call_fault(call, SERVICES_ERR_SYNTAX, "X509Certificate must be base64");
        goto out;
    }
    if (when && (services__trimmed(when, when_text, sizeof(when_text)) < 0 ||
                 datetime_parse(when_text, &at_ms) < 0)) {
        soap_call_fault(call, SERVICES_ERR_SYNTAX, "VerificationTime must be an xs:dateTime");
        goto out;
    }
    if (!services__context_ok(s, call, NULL, NULL, 0))
        goto out;
    if (!s->deps.cards || cards_cert_verify(s->deps.cards, der, len, at_ms, &v) < 0) {
        soap_call_fault(call, SERVICES_ERR_INTERNAL, "the certificate could not be checked");
        goto out;
    }
    log_msg(LOG_LEVEL_DEBUG, "services: VerifyCertificate: %s%s%s", results[v.result],
            v.detail ? " " : "", cards_verify_detail_to_string(v.detail));
    w = soap_call_reply_begin(call, NS_CERT, "CERT", "VerifyCertificateResponse");
    if (!w)
        goto out;
    r = services__xml_start(w, "CERT", "VerificationStatus", NULL);
    r |= services__xml_text(w, "CERT", "VerificationResult", results[v.result]);
    r |= services__xml_end(w);
    r |= services__xml_start(w, "CERT", "RoleList", NULL);
    for (size_t i = 0; i < v.n_roles; i++)
        r |= services__xml_text(w, "CERT", "Role", v.roles[i]);
    if (v.n_roles == 0)
        r |= services__xml_text(w, "CERT", "Role", "");
    r |= services__xml_end(w);
    if (r < 0)
        log_msg(LOG_LEVEL_ERROR, "services: writing the VerifyCertificateResponse failed");
    soap_call_reply_end(call);
out:
    free(der);
}

/* ---- CheckCertificateExpiration --------------------------------------------------------- */

static int write_expirations(xmlTextWriterPtr w, const struct cards *cards,
                             const struct cards_card *card, const char *alg)
{
    int r = 0;

    for (size_t i = 0; i < ARRAY_SIZE(all_key_refs); i++) {
        const uint8_t *der = NULL;
        struct cert_facts f;
        size_t len = 0;

        if (cards_card_certificate(cards, card->name, all_key_refs[i], alg, &der, &len) < 0 ||
            facts_of(der, len, &f) < 0)
            continue;
        r |= services__xml_start(w, "CERT", "CertificateExpiration", NULL);
        r |= services__xml_text(w, "CERT", "CtID", card->ct_id);
        if (xmlTextWriterWriteElementNS(w, BAD_CAST "CONN", BAD_CAST "CardHandle",
                                        BAD_CAST SOAP_NS_CONN, BAD_CAST card->handle) < 0)
            r = -EIO;
        r |= services__xml_text(w, "CERT", "ICCSN", card->iccsn);
        r |= services__xml_text(w, "CERT", "subject_commonName", f.cn);
        r |= services__xml_text(w, "CERT", "serialNumber", f.serial);
        r |= services__xml_text(w, "CERT", "validity", f.not_after);
        r |= services__xml_end(w);
    }
    return r ? -EIO : 0;
}

static void on_check_certificate_expiration(struct soap_call *call, void *arg)
{
    struct services_certs *cs = arg;
    struct services *s = cs->s;
    xmlNodePtr op = soap_call_operation(call);
    const struct soap_context *ctx = soap_call_context(call);
    char handle[CARDS_HANDLE_MAX + 1] = "";
    const char *alg = "RSA";
    xmlTextWriterPtr w;
    int r;

    r = services__trimmed(soap_child_text(op, SOAP_NS_CONN, "CardHandle"), handle, sizeof(handle));
    if (r == -E2BIG || (r == 0 && !handle[0])) {
        soap_call_fault(call, SERVICES_ERR_SYNTAX, "CardHandle must have 1 to 128 characters");
        return;
    }
    if (!parse_crypt(call, op, &alg) ||
        !services__context_ok(s, call, handle[0] ? handle : NULL, NULL, 0))
        return;
    w = soap_call_reply_begin(call, NS_CERT, "CERT", "CheckCertificateExpirationResponse");
    if (!w)
        return;
    r = 0;
    if (handle[0]) {
        r |= write_expirations(w, s->deps.cards, cards_card_by_handle(s->deps.cards, handle), alg);
    } else {
        for (size_t i = 0; s->deps.cards && i < cards_catalog_count(s->deps.cards); i++) {
            const struct cards_card *card = cards_catalog_at(s->deps.cards, i);

            /* The Mandant's HBAx and SM-B: inserted, reachable from one of its workplaces, an
             * SM-B managed for it (TUC_KON_000 on the card, all workplaces). */
            if (!card->ct_id[0] || (!is_hba(card->type) && !is_smb(card->type)) ||
                services__context_check(s->deps.store, s->deps.cards, ctx, card->handle, NULL,
                                        SERVICES_CTX_ALL_WORKPLACES) != 0)
                continue;
            r |= write_expirations(w, s->deps.cards, card, alg);
        }
    }
    if (r < 0)
        log_msg(LOG_LEVEL_ERROR, "services: writing the CheckCertificateExpirationResponse failed");
    soap_call_reply_end(call);
}

/* ---- start and stop --------------------------------------------------------------------- */

int services__cert_service_start(struct services *s)
{
    struct services_certs *cs = calloc(1, sizeof(*cs));

    if (!cs)
        return -ENOMEM;
    cs->s = s;
    s->certs = cs;
    cs->ops[0] = (struct soap_operation){NS_CERT, "ReadCardCertificate",    GATE_OP_READ_CERT,
                                         true,    on_read_card_certificate, cs};
    cs->ops[1] = (struct soap_operation){NS_CERT, "VerifyCertificate",   GATE_OP_VERIFY_CERT,
                                         true,    on_verify_certificate, cs};
    cs->ops[2] =
        (struct soap_operation){NS_CERT, "CheckCertificateExpiration",    GATE_OP_READ_CERT,
                                true,    on_check_certificate_expiration, cs};
    return soap_server_register(s->deps.soap, &cert_service, cs->ops, ARRAY_SIZE(cs->ops));
}

void services__cert_service_stop(struct services *s)
{
    free(s->certs);
    s->certs = NULL;
}
