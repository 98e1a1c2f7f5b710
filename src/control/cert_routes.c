/* cert_routes: the trust space and the simulated OCSP responder behind VerifyCertificate
 * (cards.h, trust.c, revocation.c):
 *
 *   GET  /control/v1/trust                the CAs of the trust space
 *   POST /control/v1/trust/import         {"pem"}: import CA certificates (gematik TEST-ONLY)
 *   GET  /control/v1/certs/revocations    every answer that is not "good"
 *   POST /control/v1/certs/status         SELECTOR: what the responder answers for it
 *   PUT  /control/v1/certs/status         SELECTOR + {"status": good|revoked|unknown}
 *
 * SELECTOR names one certificate: {"card", "key_ref", "algorithm" (default "RSA")} for a
 * catalog card's certificate, {"pem"} for a certificate in PEM, or {"issuer", "serial"}
 * (RFC 4514 issuer as the answers show it, serial in hex).
 *
 * Like the other control routes they belong to the simulated world (no critical state stops
 * them, GATE_OP_MAX); only Local- and Super-Administrators may call them. Importing CAs
 * changes what the connector trusts, so it is logged at info with the count.
 *
 * Invariants:
 *  1. Until bootup has opened the world every route answers 503 (as cards_routes.c).
 *  2. A refused import changes nothing (cards_trust_import_pem is all or nothing). */
#include "control/control_internal.h"

#include "cards/cards.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

static struct cards *world(struct control *c, struct mgmt_request *req)
{
    if (c->deps.cards && *c->deps.cards)
        return *c->deps.cards;
    mgmt_reply_error(req, 503, "unavailable",
                     "the simulated card world is not open yet (the connector is booting)");
    return NULL;
}

static json_t *time_json(int64_t ms)
{
    char buf[32];

    return ms ? json_string(clock_format_iso(ms, buf, sizeof(buf))) : json_null();
}

static json_t *ca_json(const struct cards_trust_ca *ca)
{
    return json_pack("{s:s,s:s,s:s,s:o,s:s}", "subject", ca->subject, "serial", ca->serial,
                     "sha256", ca->sha256, "not_after", time_json(ca->not_after_ms), "source",
                     ca->imported ? "imported" : "test-pki");
}

static json_t *trust_json(struct cards *w)
{
    json_t *list = json_array();

    for (size_t i = 0; list && i < cards_trust_count(w); i++) {
        struct cards_trust_ca ca;

        if (cards_trust_at(w, i, &ca) == 0)
            (void)json_array_append_new(list, ca_json(&ca));
    }
    return list;
}

static void get_trust(struct mgmt_request *req, void *arg)
{
    struct cards *w = world(arg, req);

    if (w)
        mgmt_reply_json(req, 200, json_pack("{s:o}", "cas", trust_json(w)));
}

static void post_trust_import(struct mgmt_request *req, void *arg)
{
    struct cards *w = world(arg, req);
    const char *pem;
    size_t added = 0;
    int r;

    if (!w || !(pem = mgmt_body_string(req, "pem")))
        return;
    r = cards_trust_import_pem(w, pem, strlen(pem), &added);
    switch (r) {
    case 0:
        log_msg(LOG_LEVEL_INFO, "control: '%s' imported %zu CA certificate(s) into the trust space",
                mgmt_request_user(req), added);
        mgmt_reply_json(req, 201,
                        json_pack("{s:I,s:o}", "added", (json_int_t)added, "cas", trust_json(w)));
        return;
    case -EBADMSG:
        mgmt_reply_error(req, 400, "invalid_value",
                         "pem holds no certificate, or a damaged one (PEM 'CERTIFICATE' blocks)");
        return;
    case -EINVAL:
        mgmt_reply_error(req, 400, "invalid_value",
                         "only CA certificates (basicConstraints CA:TRUE) go into the trust "
                         "space; nothing was imported");
        return;
    default:
        mgmt_reply_error(req, 500, "internal", "the CA certificates could not be stored");
        return;
    }
}

/* The certificate a PEM text holds first, as DER (heap). */
static int pem_to_der(const char *pem, uint8_t **ret, size_t *ret_len)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    unsigned char *der = NULL;
    int len = cert ? i2d_X509(cert, &der) : -1;

    X509_free(cert);
    BIO_free(bio);
    if (len <= 0)
        return -EBADMSG;
    *ret = malloc((size_t)len);
    if (*ret)
        memcpy(*ret, der, (size_t)len);
    OPENSSL_free(der);
    *ret_len = (size_t)len;
    return *ret ? 0 : -ENOMEM;
}

static const char *body_str(json_t *body, const char *key)
{
    return json_string_value(json_object_get(body, key));
}

/* Reads the SELECTOR of the body (file comment); replies and returns false if it names no
 * certificate. */
static bool selector(struct cards *w, struct mgmt_request *req, struct cards_cert_id *ret_id)
{
    json_t *body = mgmt_request_body(req);
    const char *card = body_str(body, "card");
    const char *pem = body_str(body, "pem");
    const char *issuer = body_str(body, "issuer");
    const char *serial = body_str(body, "serial");
    struct cards_cert_id id = {0};

    if (card) {
        const char *key_ref = body_str(body, "key_ref");
        const char *alg = body_str(body, "algorithm") ? body_str(body, "algorithm") : "RSA";
        const uint8_t *der = NULL;
        size_t len = 0;

        if (!cards_card_find(w, card)) {
            mgmt_reply_error(req, 404, "not_found", "no card '%.64s' in the catalog", card);
            return false;
        }
        if (!key_ref || cards_card_certificate(w, card, key_ref, alg, &der, &len) < 0) {
            mgmt_reply_error(req, 404, "not_found",
                             "card '%.64s' has no certificate '%.16s' for %.8s (key_ref, "
                             "algorithm RSA or ECC)",
                             card, key_ref ? key_ref : "", alg);
            return false;
        }
        if (cards_cert_id_of(der, len, &id) < 0) {
            mgmt_reply_error(req, 500, "internal", "the card's certificate cannot be read");
            return false;
        }
    } else if (pem) {
        uint8_t *der = NULL;
        size_t len = 0;
        int r = pem_to_der(pem, &der, &len);

        if (r == 0)
            r = cards_cert_id_of(der, len, &id);
        free(der);
        if (r < 0) {
            mgmt_reply_error(req, 400, "invalid_value", "pem holds no readable certificate");
            return false;
        }
    } else if (issuer && serial) {
        size_t n = 0;

        for (const char *p = serial; *p; p++)
            if (!strchr(":", *p) && n < CARDS_SERIAL_MAX)
                id.serial[n++] = (char)(*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
        id.serial[n] = '\0';
        /* Leading zeros are not part of the number. */
        while (id.serial[0] == '0' && id.serial[1])
            memmove(id.serial, id.serial + 1, strlen(id.serial));
        if (str_copy(id.issuer, sizeof(id.issuer), issuer) < 0) {
            mgmt_reply_error(req, 400, "invalid_value", "issuer is too long");
            return false;
        }
    } else {
        mgmt_reply_error(req, 400, "bad_request",
                         "name the certificate by card + key_ref (+ algorithm), by pem, or by "
                         "issuer + serial");
        return false;
    }
    *ret_id = id;
    return true;
}

static json_t *status_json(struct cards *w, const struct cards_cert_id *id)
{
    int64_t revoked_ms = 0;
    enum cards_revocation st = cards_revocation_get(w, id, &revoked_ms);

    return json_pack("{s:s,s:s,s:s,s:o}", "issuer", id->issuer, "serial", id->serial, "status",
                     cards_revocation_to_string(st), "revoked_at", time_json(revoked_ms));
}

static void post_status(struct mgmt_request *req, void *arg)
{
    struct cards *w = world(arg, req);
    struct cards_cert_id id;

    if (w && selector(w, req, &id))
        mgmt_reply_json(req, 200, status_json(w, &id));
}

static void put_status(struct mgmt_request *req, void *arg)
{
    struct cards *w = world(arg, req);
    const char *text = body_str(mgmt_request_body(req), "status");
    enum cards_revocation st;
    struct cards_cert_id id;
    int r;

    if (!w)
        return;
    if (!text || cards_revocation_from_string(text, &st) < 0) {
        mgmt_reply_error(req, 400, "invalid_value", "status must be good, revoked or unknown");
        return;
    }
    if (!selector(w, req, &id))
        return;
    r = cards_revocation_set(w, &id, st);
    if (r == -EINVAL) {
        mgmt_reply_error(req, 400, "invalid_value", "serial must be hexadecimal");
        return;
    }
    if (r < 0) {
        mgmt_reply_error(req, r == -ENOSPC ? 409 : 500, r == -ENOSPC ? "conflict" : "internal",
                         "the revocation table %s",
                         r == -ENOSPC ? "is full" : "could not be changed");
        return;
    }
    log_msg(LOG_LEVEL_INFO, "control: '%s' set the OCSP answer for serial %s to %s",
            mgmt_request_user(req), id.serial, cards_revocation_to_string(st));
    mgmt_reply_json(req, 200, status_json(w, &id));
}

static void get_revocations(struct mgmt_request *req, void *arg)
{
    struct cards *w = world(arg, req);
    json_t *list = json_array();

    for (size_t i = 0; w && list && i < cards_revocation_count(w); i++) {
        struct cards_cert_id id;
        enum cards_revocation st;
        int64_t ms;

        if (cards_revocation_at(w, i, &id, &st, &ms) == 0)
            (void)json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:o}", "issuer", id.issuer,
                                                        "serial", id.serial, "status",
                                                        cards_revocation_to_string(st),
                                                        "revoked_at", time_json(ms)));
    }
    if (w)
        mgmt_reply_json(req, 200, json_pack("{s:o}", "revocations", list));
    else
        json_decref(list);
}

static const struct control__route routes[] = {
    {MGMT_GET, "/control/v1/trust", get_trust},
    {MGMT_POST, "/control/v1/trust/import", post_trust_import},
    {MGMT_GET, "/control/v1/certs/revocations", get_revocations},
    {MGMT_POST, "/control/v1/certs/status", post_status},
    {MGMT_PUT, "/control/v1/certs/status", put_status},
};

int control__cert_routes_add(struct control *c, struct mgmt_server *srv)
{
    return control__routes_register(c, srv, routes, ARRAY_SIZE(routes));
}
