/* Unit tests for src/cards/trust.c, revocation.c and display.c: every key reference of the
 * demo cards for RSA and ECC, VerifyCertificate's outcomes (VALID with roles, bad format, no
 * chain, expired, revoked before and after the verification time, unknown), importing CA
 * certificates (only CAs, all or nothing, persisted), the revocation table (persisted, a
 * damaged file set aside) and the terminal display. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cards_test.h"

static void reopen(struct world *w)
{
    w->cards = cards_close(w->cards);
    assert_int_equal(world_cards_open(w), 0);
}

static void card_cert(struct world *w, const char *card, const char *ref, const char *alg,
                      const uint8_t **der, size_t *len)
{
    assert_int_equal(cards_card_certificate(w->cards, card, ref, alg, der, len), 0);
}

static struct cards_verification verify_now(struct world *w, const uint8_t *der, size_t len)
{
    struct cards_verification v;

    assert_int_equal(cards_cert_verify(w->cards, der, len, clock_now_ms(), &v), 0);
    return v;
}

/* ---- a foreign PKI made by the test ---------------------------------------------------- */

struct pair {
    EVP_PKEY *key;
    X509 *cert;
};

static void ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *e;

    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    assert_non_null(e);
    assert_int_equal(X509_add_ext(cert, e, -1), 1);
    X509_EXTENSION_free(e);
}

/* A certificate for cn, signed by issuer (NULL: self-signed), valid from now - before_s to
 * now + after_s. */
static struct pair make(const char *cn, const struct pair *issuer, bool ca, long before_s,
                        long after_s)
{
    static long serial = 1000;
    struct pair p = {.key = EVP_EC_gen("P-256"), .cert = X509_new()};
    X509_NAME *name = X509_NAME_new();

    assert_non_null(p.key);
    assert_non_null(p.cert);
    (void)X509_set_version(p.cert, 2);
    (void)ASN1_INTEGER_set(X509_get_serialNumber(p.cert), serial++);
    (void)X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
                                     0);
    (void)X509_set_subject_name(p.cert, name);
    (void)X509_set_issuer_name(p.cert, issuer ? X509_get_subject_name(issuer->cert) : name);
    X509_NAME_free(name);
    (void)X509_time_adj_ex(X509_getm_notBefore(p.cert), 0, -before_s, NULL);
    (void)X509_time_adj_ex(X509_getm_notAfter(p.cert), 0, after_s, NULL);
    (void)X509_set_pubkey(p.cert, p.key);
    ext(p.cert, issuer ? issuer->cert : p.cert, NID_basic_constraints,
        ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    assert_true(X509_sign(p.cert, issuer ? issuer->key : p.key, EVP_sha256()) > 0);
    return p;
}

static void pair_free(struct pair *p)
{
    EVP_PKEY_free(p->key);
    X509_free(p->cert);
}

static char *pem_of(X509 *a, X509 *b)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    long len;
    char *out;

    assert_true(PEM_write_bio_X509(bio, a));
    if (b)
        assert_true(PEM_write_bio_X509(bio, b));
    len = BIO_get_mem_data(bio, &data);
    out = strndup(data, (size_t)len);
    BIO_free(bio);
    return out;
}

static uint8_t *der_of(X509 *x, size_t *len)
{
    unsigned char *der = NULL;
    int n = i2d_X509(x, &der);

    assert_true(n > 0);
    *len = (size_t)n;
    return der;
}

/* ---- tests ------------------------------------------------------------------------------ */

static void every_key_reference_exists_for_rsa_and_ecc(void **state)
{
    static const struct {
        const char *card, *ref;
    } refs[] = {{"egk1", "C.CH.AUT"},   {"egk1", "C.CH.ENC"},   {"hba1", "C.HP.AUT"},
                {"hba1", "C.HP.ENC"},   {"hba1", "C.HP.QES"},   {"smcb1", "C.HCI.AUT"},
                {"smcb1", "C.HCI.ENC"}, {"smcb1", "C.HCI.OSIG"}};
    struct world *w = *state;

    for (size_t i = 0; i < ARRAY_SIZE(refs); i++) {
        for (int a = 0; a < 2; a++) {
            const uint8_t *der = NULL;
            size_t len = 0;

            card_cert(w, refs[i].card, refs[i].ref, a ? "ECC" : "RSA", &der, &len);
            assert_int_equal(verify_now(w, der, len).result, CARDS_VERIFY_VALID);
        }
    }
}

static void demo_certificate_is_valid_with_its_role(void **state)
{
    struct world *w = *state;
    const uint8_t *der = NULL;
    size_t len = 0;
    struct cards_verification v;

    card_cert(w, "hba1", "C.HP.QES", "RSA", &der, &len);
    v = verify_now(w, der, len);
    assert_int_equal(v.result, CARDS_VERIFY_VALID);
    assert_int_equal(v.detail, CARDS_VERIFY_DETAIL_NONE);
    assert_int_equal(v.n_roles, 1);
    assert_string_equal(v.roles[0], "1.2.276.0.76.4.30"); /* oid_arzt */
    card_cert(w, "smcb1", "C.HCI.OSIG", "ECC", &der, &len);
    v = verify_now(w, der, len);
    assert_string_equal(v.roles[0], "1.2.276.0.76.4.50"); /* oid_praxis_arzt */
}

static void garbage_is_invalid_bad_format(void **state)
{
    struct world *w = *state;
    static const uint8_t junk[] = {0x30, 0x03, 0x02, 0x01, 0x05};
    struct cards_verification v = verify_now(w, junk, sizeof(junk));

    assert_int_equal(v.result, CARDS_VERIFY_INVALID);
    assert_int_equal(v.detail, CARDS_VERIFY_DETAIL_BAD_FORMAT);
    assert_string_equal(cards_verify_detail_to_string(v.detail), "CERT_BAD_FORMAT");
}

static void expired_or_not_yet_valid_is_invalid(void **state)
{
    struct world *w = *state;
    const uint8_t *der = NULL;
    size_t len = 0;
    struct cards_verification v;
    const int64_t day = 86400000;

    card_cert(w, "egk1", "C.CH.AUT", "ECC", &der, &len);
    assert_int_equal(cards_cert_verify(w->cards, der, len, clock_now_ms() + 6 * 365 * day, &v), 0);
    assert_int_equal(v.result, CARDS_VERIFY_INVALID);
    assert_int_equal(v.detail, CARDS_VERIFY_DETAIL_EXPIRED);
    assert_int_equal(cards_cert_verify(w->cards, der, len, clock_now_ms() - 2 * day, &v), 0);
    assert_int_equal(v.detail, CARDS_VERIFY_DETAIL_EXPIRED);
}

static void foreign_certificate_verifies_once_its_ca_is_imported(void **state)
{
    struct world *w = *state;
    struct pair root = make("Foreign Root TEST-ONLY", NULL, true, 3600, 86400 * 30);
    struct pair ca = make("Foreign CA TEST-ONLY", &root, true, 3600, 86400 * 30);
    struct pair leaf = make("Foreign Leaf TEST-ONLY", &ca, false, 3600, 86400 * 10);
    size_t n_before = cards_trust_count(w->cards), added = 0, len = 0;
    uint8_t *der = der_of(leaf.cert, &len);
    char *pem = pem_of(ca.cert, NULL);
    struct cards_verification v = verify_now(w, der, len);
    struct cards_trust_ca info;

    assert_int_equal(n_before, 4); /* the test PKI: two roots, two component CAs */
    assert_int_equal(v.result, CARDS_VERIFY_INVALID);
    assert_int_equal(v.detail, CARDS_VERIFY_DETAIL_BUILD_CHAIN);
    /* The intermediate alone is enough: every CA of the trust space is an anchor (TSL). */
    assert_int_equal(cards_trust_import_pem(w->cards, pem, strlen(pem), &added), 0);
    assert_int_equal(added, 1);
    assert_int_equal(verify_now(w, der, len).result, CARDS_VERIFY_VALID);
    /* Importing it again adds nothing. */
    assert_int_equal(cards_trust_import_pem(w->cards, pem, strlen(pem), &added), 0);
    assert_int_equal(added, 0);
    assert_int_equal(cards_trust_count(w->cards), 5);
    assert_int_equal(cards_trust_at(w->cards, 4, &info), 0);
    assert_true(info.imported);
    assert_string_equal(info.subject, "CN=Foreign CA TEST-ONLY");
    assert_int_equal(strlen(info.sha256), 64);
    /* Persisted in DATA/trust. */
    reopen(w);
    assert_int_equal(cards_trust_count(w->cards), 5);
    assert_int_equal(verify_now(w, der, len).result, CARDS_VERIFY_VALID);
    OPENSSL_free(der);
    free(pem);
    pair_free(&leaf);
    pair_free(&ca);
    pair_free(&root);
}

static void import_refuses_a_non_ca_and_imports_nothing(void **state)
{
    struct world *w = *state;
    struct pair root = make("Root Two TEST-ONLY", NULL, true, 3600, 86400);
    struct pair leaf = make("Leaf Two TEST-ONLY", &root, false, 3600, 86400);
    char *pem = pem_of(root.cert, leaf.cert);
    size_t added = 99;

    assert_int_equal(cards_trust_import_pem(w->cards, pem, strlen(pem), &added), -EINVAL);
    assert_int_equal(added, 99);
    assert_int_equal(cards_trust_count(w->cards), 4);
    assert_int_equal(cards_trust_import_pem(w->cards, "no pem here", 11, &added), -EBADMSG);
    free(pem);
    pair_free(&leaf);
    pair_free(&root);
}

static void cert_id_names_issuer_and_hex_serial(void **state)
{
    struct world *w = *state;
    struct pair root = make("Id Root TEST-ONLY", NULL, true, 3600, 86400);
    struct pair leaf = make("Id Leaf TEST-ONLY", &root, false, 3600, 86400);
    size_t len = 0;
    uint8_t *der = der_of(leaf.cert, &len);
    struct cards_cert_id id;
    char expect[16];

    (void)w;
    assert_int_equal(cards_cert_id_of(der, len, &id), 0);
    assert_string_equal(id.issuer, "CN=Id Root TEST-ONLY");
    (void)snprintf(expect, sizeof(expect), "%lx",
                   ASN1_INTEGER_get(X509_get_serialNumber(leaf.cert)));
    assert_string_equal(id.serial, expect);
    assert_int_equal(cards_cert_id_of(der, len - 1, &id), -EBADMSG);
    OPENSSL_free(der);
    pair_free(&leaf);
    pair_free(&root);
}

static void revocation_decides_by_status_and_time(void **state)
{
    struct world *w = *state;
    const uint8_t *der = NULL;
    size_t len = 0;
    struct cards_cert_id id;
    struct cards_verification v;
    int64_t revoked_ms = 0;
    const int64_t now = clock_now_ms();

    card_cert(w, "hba1", "C.HP.AUT", "RSA", &der, &len);
    assert_int_equal(cards_cert_id_of(der, len, &id), 0);
    assert_int_equal(cards_revocation_get(w->cards, &id, NULL), CARDS_REVOCATION_GOOD);
    assert_int_equal(cards_revocation_set(w->cards, &id, CARDS_REVOCATION_REVOKED), 0);
    assert_int_equal(cards_revocation_get(w->cards, &id, &revoked_ms), CARDS_REVOCATION_REVOKED);
    assert_true(revoked_ms >= now);
    v = verify_now(w, der, len);
    assert_int_equal(v.result, CARDS_VERIFY_INVALID);
    assert_int_equal(v.detail, CARDS_VERIFY_DETAIL_REVOKED);
    /* Before the revocation it was valid (CERT_REVOKED_AFTER). */
    assert_int_equal(cards_cert_verify(w->cards, der, len, revoked_ms - 60000, &v), 0);
    assert_int_equal(v.result, CARDS_VERIFY_VALID);
    /* Unknown to the responder: no decision. */
    assert_int_equal(cards_revocation_set(w->cards, &id, CARDS_REVOCATION_UNKNOWN), 0);
    v = verify_now(w, der, len);
    assert_int_equal(v.result, CARDS_VERIFY_INCONCLUSIVE);
    assert_int_equal(v.detail, CARDS_VERIFY_DETAIL_REVOCATION_CHECK);
    assert_int_equal(cards_revocation_count(w->cards), 1);
    /* Persisted; "good" removes the entry. */
    reopen(w);
    assert_int_equal(cards_revocation_get(w->cards, &id, NULL), CARDS_REVOCATION_UNKNOWN);
    assert_int_equal(cards_revocation_set(w->cards, &id, CARDS_REVOCATION_GOOD), 0);
    assert_int_equal(cards_revocation_count(w->cards), 0);
    card_cert(w, "hba1", "C.HP.AUT", "RSA", &der, &len);
    assert_int_equal(verify_now(w, der, len).result, CARDS_VERIFY_VALID);
}

static void revoked_ca_invalidates_what_it_issued(void **state)
{
    struct world *w = *state;
    const uint8_t *der = NULL;
    size_t len = 0;
    struct cards_trust_ca ca;
    struct cards_cert_id id = {0};

    /* Index 3: the ECC component CA (roots first, then CAs, RSA before ECC). */
    assert_int_equal(cards_trust_at(w->cards, 3, &ca), 0);
    (void)str_copy(id.serial, sizeof(id.serial), ca.serial);
    (void)str_copy(id.issuer, sizeof(id.issuer), ca.issuer);
    assert_non_null(strstr(ca.subject, "Component CA ECC"));
    assert_int_equal(cards_revocation_set(w->cards, &id, CARDS_REVOCATION_REVOKED), 0);
    card_cert(w, "smcb1", "C.HCI.AUT", "ECC", &der, &len);
    assert_int_equal(verify_now(w, der, len).detail, CARDS_VERIFY_DETAIL_REVOKED);
    card_cert(w, "smcb1", "C.HCI.AUT", "RSA", &der, &len);
    assert_int_equal(verify_now(w, der, len).result, CARDS_VERIFY_VALID);
}

static void bad_ids_are_refused(void **state)
{
    struct world *w = *state;
    struct cards_cert_id id = {.issuer = "CN=x", .serial = "xyz"};

    assert_int_equal(cards_revocation_set(w->cards, &id, CARDS_REVOCATION_REVOKED), -EINVAL);
    id.issuer[0] = '\0';
    (void)str_copy(id.serial, sizeof(id.serial), "1a");
    assert_int_equal(cards_revocation_set(w->cards, &id, CARDS_REVOCATION_REVOKED), -EINVAL);
}

static void damaged_revocation_file_is_set_aside(void **state)
{
    struct world *w = *state;
    char path[256], aside[300];
    FILE *f;

    (void)snprintf(path, sizeof(path), "%s/world/revocation.json", w->dir);
    (void)snprintf(aside, sizeof(aside), "%s.damaged", path);
    w->cards = cards_close(w->cards);
    f = fopen(path, "w");
    assert_non_null(f);
    (void)fputs("{\"format\": 1, \"entries\": [{\"issuer\": 5}]}", f);
    (void)fclose(f);
    assert_int_equal(world_cards_open(w), 0);
    assert_int_equal(cards_revocation_count(w->cards), 0);
    assert_true(fs_exists(aside));
    assert_false(fs_exists(path));
}

static void display_shows_text_and_cuts_at_a_character(void **state)
{
    struct world *w = *state;
    char long_text[CARDS_DISPLAY_MAX + 8];

    assert_int_equal(cards_terminal_display_set(w->cards, "ct1", "Bitte eGK stecken"), 0);
    assert_string_equal(cards_terminal_find(w->cards, "ct1")->display, "Bitte eGK stecken");
    /* 'ä' is two bytes: a cut at an odd byte must drop the whole character. */
    memset(long_text, 'a', sizeof(long_text));
    for (size_t i = 1; i + 1 < sizeof(long_text); i += 2) {
        long_text[i] = (char)0xc3;
        long_text[i + 1] = (char)0xa4;
    }
    long_text[sizeof(long_text) - 1] = '\0';
    assert_int_equal(cards_terminal_display_set(w->cards, "ct1", long_text), 0);
    assert_true(strlen(cards_terminal_find(w->cards, "ct1")->display) <= CARDS_DISPLAY_MAX);
    assert_int_not_equal((unsigned char)cards_terminal_find(w->cards, "ct1")
                             ->display[strlen(cards_terminal_find(w->cards, "ct1")->display) - 1],
                         0xc3);
    assert_int_equal(cards_terminal_display_set(w->cards, "ct1", NULL), 0);
    assert_string_equal(cards_terminal_find(w->cards, "ct1")->display, "");
    assert_int_equal(cards_terminal_display_set(w->cards, "nope", "x"), -ENOENT);
}

/* A world from before C.CH.ENC existed: the demo eGK gets it at the next open. */
static void older_world_gets_the_new_demo_certificates(void **state)
{
    struct world *w = *state;
    const uint8_t *der = NULL;
    size_t len = 0;
    char path[256];
    json_t *root, *cards, *card, *certs;
    size_t i;

    w->cards = cards_close(w->cards);
    (void)snprintf(path, sizeof(path), "%s/world/world.json", w->dir);
    root = json_load_file(path, 0, NULL);
    assert_non_null(root);
    cards = json_object_get(root, "cards");
    json_array_foreach(cards, i, card)
    {
        if (strcmp(json_string_value(json_object_get(card, "name")), "egk1") != 0)
            continue;
        certs = json_object_get(card, "certificates");
        for (size_t k = json_array_size(certs); k-- > 0;)
            if (strcmp(json_string_value(json_object_get(json_array_get(certs, k), "key_ref")),
                       "C.CH.ENC") == 0)
                assert_int_equal(json_array_remove(certs, k), 0);
        assert_int_equal(json_array_size(certs), 2);
    }
    assert_int_equal(json_dump_file(root, path, 0), 0);
    json_decref(root);
    (void)snprintf(path, sizeof(path), "%s/world/cards/egk1/C.CH.ENC_RSA.der", w->dir);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(world_cards_open(w), 0);
    card_cert(w, "egk1", "C.CH.ENC", "RSA", &der, &len);
    assert_int_equal(verify_now(w, der, len).result, CARDS_VERIFY_VALID);
    card_cert(w, "egk1", "C.CH.ENC", "ECC", &der, &len);
    assert_true(fs_exists(path));
    /* Kept: the next open adds nothing. */
    reopen(w);
    card_cert(w, "egk1", "C.CH.ENC", "ECC", &der, &len);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(every_key_reference_exists_for_rsa_and_ecc, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(demo_certificate_is_valid_with_its_role, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(garbage_is_invalid_bad_format, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(expired_or_not_yet_valid_is_invalid, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(foreign_certificate_verifies_once_its_ca_is_imported,
                                        world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(import_refuses_a_non_ca_and_imports_nothing, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(cert_id_names_issuer_and_hex_serial, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(revocation_decides_by_status_and_time, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(revoked_ca_invalidates_what_it_issued, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(bad_ids_are_refused, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(damaged_revocation_file_is_set_aside, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(display_shows_text_and_cuts_at_a_character, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(older_world_gets_the_new_demo_certificates, world_setup,
                                        world_teardown),
    };

    return cmocka_run_group_tests(tests, world_group_setup, world_group_teardown);
}
