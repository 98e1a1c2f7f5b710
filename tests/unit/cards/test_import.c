/* Unit tests for src/cards/import.c: gematik's TEST-ONLY identities (PKCS#12, password "00")
 * become catalog cards of the right type, with KVNR, Telematik-ID and ICCSN from their
 * certificates, including the old RC2-protected files; bad input is refused cleanly.
 *
 * The identities are read from $KONN_TESTCARDS (default ../shared/testcards beside the
 * repository); the tests that need them skip with a message when the folder is absent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include "cards_test.h"

#define HBA_AUT_ECC "hba/80276001011699901343/Arzt-Meierhofer-C_HP_AUT_E256.p12"
#define HBA_QES_ECC "hba/80276001011699901343/Arzt-Meierhofer-C_HP_QES_E256.p12"
#define EGK_AUT_RSA "egk/80276883110000113311/80276883110000113311-C_CH_AUT_R2048.p12"
#define SMCB_AUT_RSA                                                                               \
    "smcb/80276001011699900861/80276001011699900861-C_SMCB_AUT_R2048_X509/"                        \
    "80276001011699900861-C_SMCB_AUT_R2048_X509.p12"

static const char *testcards_dir(void)
{
    const char *env = getenv("KONN_TESTCARDS");

    return env && env[0] ? env : KONN_TESTCARDS_DEFAULT;
}

/* Reads identities/<rel>; skips the test when the test cards are not there. */
static char *identity_read(const char *rel, size_t *ret_len)
{
    char path[512];
    char *data = NULL;

    (void)snprintf(path, sizeof(path), "%s/identities/%s", testcards_dir(), rel);
    if (!fs_exists(path)) {
        print_message("skipped: the gematik test identities are not at '%s' (set "
                      "KONN_TESTCARDS)\n",
                      testcards_dir());
        skip();
    }
    assert_int_equal(fs_read_all(path, 1024 * 1024, &data, ret_len), 0);
    return data;
}

static void import_hba_ecc_identity(void **state)
{
    struct world *w = *state;
    size_t len = 0;
    char *p12 = identity_read(HBA_AUT_ECC, &len);
    const struct cards_card *card;
    const uint8_t *der = NULL;
    size_t der_len = 0;

    assert_int_equal(cards_import_p12(w->cards, "meierhofer", p12, len, "00"), 0);
    card = cards_card_find(w->cards, "meierhofer");
    assert_non_null(card);
    assert_int_equal(card->type, CARDS_TYPE_HBA);
    assert_string_equal(card->iccsn, "80276001011699901343");
    assert_string_equal(card->telematik_id, "1-1-ARZT-Meierhofer");
    assert_string_equal(card->holder_name, "Arzt Michael Meierhofer TEST-ONLY");
    assert_string_equal(card->kvnr, "");
    assert_int_equal(card->n_pins, 2);
    assert_string_equal(card->pins[0].name, "PIN.CH");
    assert_string_equal(card->pins[1].name, "PIN.QES");
    assert_string_equal(card->pins[1].pin, "123456");
    assert_string_equal(card->ct_id, "");
    assert_int_equal(
        cards_card_certificate(w->cards, "meierhofer", "C.HP.AUT", "ECC", &der, &der_len), 0);
    assert_true(der_len > 100);
    assert_int_equal(
        cards_card_certificate(w->cards, "meierhofer", "C.HP.AUT", "RSA", &der, &der_len), -ENOENT);
    /* The same card again under another name: its ICCSN is taken. */
    free(p12);
    p12 = identity_read(HBA_QES_ECC, &len);
    assert_int_equal(cards_import_p12(w->cards, "meierhofer-qes", p12, len, "00"), -EEXIST);
    free(p12);
}

static void import_egk_rsa_identity_protected_with_rc2(void **state)
{
    struct world *w = *state;
    size_t len = 0;
    char *p12 = identity_read(EGK_AUT_RSA, &len);
    const struct cards_card *card;
    const struct seen_event *ev;

    assert_int_equal(cards_import_p12(w->cards, "schrasser", p12, len, "00"), 0);
    free(p12);
    card = cards_card_find(w->cards, "schrasser");
    assert_non_null(card);
    assert_int_equal(card->type, CARDS_TYPE_EGK);
    assert_string_equal(card->kvnr, "X110406067");
    assert_int_equal(strlen(card->iccsn), 20);
    assert_memory_equal(card->iccsn, "8027699", 7);
    assert_string_equal(card->pins[1].name, "MRPIN.home");
    assert_int_equal(cards_card_certificate(w->cards, "schrasser", "C.CH.AUT", "RSA",
                                            &(const uint8_t *){NULL}, &(size_t){0}),
                     0);
    /* Insertable like any card; the event names the insured. */
    assert_int_equal(cards_insert(w->cards, "ct1", 4, "schrasser"), 0);
    ev = seen_last(&w->seen, "CARD/INSERTED");
    assert_non_null(ev);
    assert_string_equal(seen_param(ev, "KVNR"), "X110406067");
    assert_string_equal(seen_param(ev, "CardType"), "EGK");
}

static void import_smcb_identity_and_keep_it_across_restart(void **state)
{
    struct world *w = *state;
    size_t len = 0;
    char *p12 = identity_read(SMCB_AUT_RSA, &len);
    const struct cards_card *card;
    const uint8_t *der = NULL;
    size_t der_len = 0;
    const unsigned char *p;
    X509 *x;

    assert_int_equal(cards_import_p12(w->cards, "waldesrand", p12, len, "00"), 0);
    free(p12);
    w->cards = cards_close(w->cards);
    assert_int_equal(world_cards_open(w), 0);
    card = cards_card_find(w->cards, "waldesrand");
    assert_non_null(card);
    assert_int_equal(card->type, CARDS_TYPE_SMC_B);
    assert_string_equal(card->iccsn, "80276001011699900861");
    assert_string_equal(card->telematik_id, "5-2-KH-APO-Waldesrand-01");
    assert_int_equal(card->n_pins, 1);
    assert_string_equal(card->pins[0].name, "PIN.SMC");
    assert_int_equal(
        cards_card_certificate(w->cards, "waldesrand", "C.HCI.AUT", "RSA", &der, &der_len), 0);
    p = der;
    x = d2i_X509(NULL, &p, (long)der_len);
    assert_non_null(x);
    assert_int_equal(EVP_PKEY_get_base_id(X509_get0_pubkey(x)), EVP_PKEY_RSA);
    X509_free(x);
    assert_int_equal(cards_catalog_count(w->cards), 4);
}

static void import_refuses_bad_input(void **state)
{
    struct world *w = *state;
    size_t len = 0;
    char *p12 = identity_read(HBA_AUT_ECC, &len);

    assert_int_equal(cards_import_p12(w->cards, "x", p12, len, "wrong"), -EBADMSG);
    assert_int_equal(cards_import_p12(w->cards, "x", "not a pkcs12", 12, "00"), -EBADMSG);
    assert_int_equal(cards_import_p12(w->cards, "hba1", p12, len, "00"), -EEXIST);
    assert_int_equal(cards_import_p12(w->cards, "../x", p12, len, "00"), -EINVAL);
    assert_int_equal(cards_import_p12(w->cards, "", p12, len, "00"), -EINVAL);
    assert_int_equal(cards_import_p12(w->cards, "x", p12, 0, "00"), -EINVAL);
    assert_null(cards_card_find(w->cards, "x"));
    assert_int_equal(cards_catalog_count(w->cards), 3);
    free(p12);
}

/* A PKCS#12 of a certificate that is no eGK, HBA or SMC-B. */
static void import_refuses_unknown_profile(void **state)
{
    struct world *w = *state;
    EVP_PKEY *key = EVP_EC_gen("prime256v1");
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    PKCS12 *p12;
    unsigned char *der = NULL;
    int len;

    assert_non_null(key);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                                (const unsigned char *)"nobody", -1, -1, 0),
                     1);
    assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
    assert_int_equal(X509_set_subject_name(x, name), 1);
    assert_int_equal(X509_set_issuer_name(x, name), 1);
    assert_int_equal(X509_set_pubkey(x, key), 1);
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    p12 = PKCS12_create("00", "nobody", key, x, NULL, 0, 0, 0, 0, 0);
    assert_non_null(p12);
    len = i2d_PKCS12(p12, &der);
    assert_true(len > 0);
    assert_int_equal(cards_import_p12(w->cards, "nobody", der, (size_t)len, "00"), -EINVAL);
    assert_null(cards_card_find(w->cards, "nobody"));
    OPENSSL_free(der);
    PKCS12_free(p12);
    X509_NAME_free(name);
    X509_free(x);
    EVP_PKEY_free(key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(import_hba_ecc_identity, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(import_egk_rsa_identity_protected_with_rc2, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(import_smcb_identity_and_keep_it_across_restart,
                                        world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(import_refuses_bad_input, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(import_refuses_unknown_profile, world_setup,
                                        world_teardown),
    };

    return cmocka_run_group_tests(tests, world_group_setup, world_group_teardown);
}
