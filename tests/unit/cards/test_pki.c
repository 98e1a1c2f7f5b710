/* Unit tests for src/cards/pki.c and profile.c: the test PKI is generated once and reused,
 * refused when damaged, and the demo cards' certificates chain to their roots and carry the
 * gematik profiles (policy OIDs, KVNR, Telematik-ID in the admission extension). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "cards_test.h"

static X509 *cert_of(struct world *w, const char *card, const char *key_ref, const char *alg)
{
    const uint8_t *der = NULL;
    size_t len = 0;

    assert_int_equal(cards_card_certificate(w->cards, card, key_ref, alg, &der, &len), 0);
    return d2i_X509(NULL, &der, (long)len);
}

static STACK_OF(X509) * pem_certs(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    STACK_OF(X509) *sk = sk_X509_new_null();
    X509 *x;

    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
        sk_X509_push(sk, x);
    BIO_free(bio);
    return sk;
}

static bool has_policy(X509 *cert, const char *oid)
{
    CERTIFICATEPOLICIES *pols = X509_get_ext_d2i(cert, NID_certificate_policies, NULL, NULL);
    bool found = false;
    char buf[64];

    for (int i = 0; pols && i < sk_POLICYINFO_num(pols); i++)
        if (OBJ_obj2txt(buf, sizeof(buf), sk_POLICYINFO_value(pols, i)->policyid, 1) > 0 &&
            strcmp(buf, oid) == 0)
            found = true;
    CERTIFICATEPOLICIES_free(pols);
    return found;
}

/* registrationNumber and first profession OID of the admission extension. */
static void admission_of(X509 *cert, char *reg, size_t reg_size, char *oid, size_t oid_size)
{
    ADMISSION_SYNTAX *adm = X509_get_ext_d2i(cert, NID_x509ExtAdmission, NULL, NULL);
    const PROFESSION_INFO *pi;
    const ASN1_PRINTABLESTRING *rn;

    assert_non_null(adm);
    pi = sk_PROFESSION_INFO_value(ADMISSIONS_get0_professionInfos(sk_ADMISSIONS_value(
                                      ADMISSION_SYNTAX_get0_contentsOfAdmissions(adm), 0)),
                                  0);
    assert_non_null(pi);
    rn = PROFESSION_INFO_get0_registrationNumber(pi);
    (void)snprintf(reg, reg_size, "%.*s", rn ? ASN1_STRING_length(rn) : 0,
                   rn ? (const char *)ASN1_STRING_get0_data(rn) : "");
    (void)OBJ_obj2txt(oid, (int)oid_size,
                      sk_ASN1_OBJECT_value(PROFESSION_INFO_get0_professionOIDs(pi), 0), 1);
    ADMISSION_SYNTAX_free(adm);
}

static void pki_files_exist_and_keys_are_private(void **state)
{
    struct world *w = *state;
    static const char *const files[] = {"root-rsa", "ca-rsa", "root-ecc", "ca-ecc"};
    char path[256];
    struct stat sb;

    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        (void)snprintf(path, sizeof(path), "%s/world/pki/%s.pem", w->dir, files[i]);
        assert_int_equal(stat(path, &sb), 0);
        (void)snprintf(path, sizeof(path), "%s/world/pki/%s.key.pem", w->dir, files[i]);
        assert_int_equal(stat(path, &sb), 0);
        assert_int_equal(sb.st_mode & 0777, 0600);
    }
    (void)snprintf(path, sizeof(path), "%s/world/cards/hba1/C.HP.QES_ECC.key.pem", w->dir);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
}

static void pki_is_reused_not_regenerated(void **state)
{
    struct world *w = *state;
    char *roots = strdup(cards_pki_roots_pem(w->cards));
    char path[256];
    char *tpl_root = NULL;
    size_t len = 0;

    assert_non_null(roots);
    /* Every copy shares the one PKI the template generated. */
    (void)snprintf(path, sizeof(path), "%s/world/pki/root-ecc.pem", tpl.dir);
    assert_int_equal(fs_read_all(path, 65536, &tpl_root, &len), 0);
    assert_non_null(strstr(roots, tpl_root));
    free(tpl_root);
    assert_non_null(strstr(roots, "BEGIN CERTIFICATE"));
    w->cards = cards_close(w->cards);
    assert_int_equal(world_cards_open(w), 0);
    assert_string_equal(cards_pki_roots_pem(w->cards), roots);
    free(roots);
}

static void pki_damaged_is_refused(void **state)
{
    struct world *w = *state;
    char path[256];
    struct cards *c = NULL;
    struct cards_deps deps = {.store = w->store, .ecs = w->ecs, .bus = w->bus, .data_dir = w->dir};

    w->cards = cards_close(w->cards);
    (void)snprintf(path, sizeof(path), "%s/world/pki/ca-ecc.pem", w->dir);
    assert_int_equal(fs_write_atomic(path, "garbage\n", 8, 0644), 0);
    assert_int_equal(cards_open(&deps, &c), -EBADMSG);
    assert_null(c);
    (void)snprintf(path, sizeof(path), "%s/world/pki/root-rsa.key.pem", w->dir);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(cards_open(&deps, &c), -EBADMSG);
}

static void certificates_chain_to_their_roots(void **state)
{
    struct world *w = *state;
    STACK_OF(X509) *roots = pem_certs(cards_pki_roots_pem(w->cards));
    STACK_OF(X509) *cas = pem_certs(cards_pki_cas_pem(w->cards));
    X509_STORE *store = X509_STORE_new();
    static const struct {
        const char *card, *key_ref;
    } certs[] = {{"egk1", "C.CH.AUT"},   {"hba1", "C.HP.AUT"},   {"hba1", "C.HP.QES"},
                 {"smcb1", "C.HCI.AUT"}, {"smcb1", "C.HCI.ENC"}, {"smcb1", "C.HCI.OSIG"}};
    static const char *const algs[] = {"RSA", "ECC"};

    assert_int_equal(sk_X509_num(roots), 2);
    assert_int_equal(sk_X509_num(cas), 2);
    for (int i = 0; i < sk_X509_num(roots); i++)
        assert_int_equal(X509_STORE_add_cert(store, sk_X509_value(roots, i)), 1);
    for (size_t i = 0; i < ARRAY_SIZE(certs); i++) {
        for (size_t a = 0; a < ARRAY_SIZE(algs); a++) {
            X509 *x = cert_of(w, certs[i].card, certs[i].key_ref, algs[a]);
            X509_STORE_CTX *ctx = X509_STORE_CTX_new();
            EVP_PKEY *pub = X509_get0_pubkey(x);
            X509 *root;

            assert_non_null(x);
            assert_int_equal(X509_STORE_CTX_init(ctx, store, x, cas), 1);
            assert_int_equal(X509_verify_cert(ctx), 1);
            /* The chain stays within its algorithm: RSA card, RSA CA, RSA root. */
            root = sk_X509_value(X509_STORE_CTX_get0_chain(ctx), 2);
            assert_non_null(root);
            assert_int_equal(EVP_PKEY_get_base_id(X509_get0_pubkey(root)),
                             EVP_PKEY_get_base_id(pub));
            assert_int_equal(EVP_PKEY_get_base_id(pub), a == 0 ? EVP_PKEY_RSA : EVP_PKEY_EC);
            if (a == 0)
                assert_int_equal(EVP_PKEY_get_bits(pub), 2048);
            else
                assert_true(EVP_PKEY_is_a(pub, "EC"));
            X509_STORE_CTX_free(ctx);
            X509_free(x);
        }
    }
    X509_STORE_free(store);
    sk_X509_pop_free(roots, X509_free);
    sk_X509_pop_free(cas, X509_free);
}

static void ecc_keys_are_brainpool(void **state)
{
    struct world *w = *state;
    X509 *x = cert_of(w, "smcb1", "C.HCI.AUT", "ECC");
    char curve[64];

    assert_int_equal(EVP_PKEY_get_group_name(X509_get0_pubkey(x), curve, sizeof(curve), NULL), 1);
    assert_string_equal(curve, "brainpoolP256r1");
    X509_free(x);
}

static void egk_profile_carries_kvnr_and_policy(void **state)
{
    struct world *w = *state;
    const struct cards_card *egk = cards_card_find(w->cards, "egk1");
    X509 *x = cert_of(w, "egk1", "C.CH.AUT", "RSA");
    const X509_NAME *subject = X509_get_subject_name(x);
    bool kvnr = false;
    char reg[64], oid[64];

    assert_non_null(egk);
    assert_int_equal(egk->type, CARDS_TYPE_EGK);
    assert_string_equal(egk->kvnr, "X110000001");
    for (int i = -1; (i = X509_NAME_get_index_by_NID(subject, NID_organizationalUnitName, i)) >= 0;)
        kvnr |= strcmp((const char *)ASN1_STRING_get0_data(
                           X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i))),
                       "X110000001") == 0;
    assert_true(kvnr);
    assert_true(has_policy(x, "1.2.276.0.76.4.70"));
    assert_true(has_policy(x, "1.2.276.0.76.4.163"));
    admission_of(x, reg, sizeof(reg), oid, sizeof(oid));
    assert_string_equal(oid, "1.2.276.0.76.4.49");
    assert_string_equal(reg, "");
    assert_int_equal(cards_card_certificate(w->cards, "egk1", "C.HP.AUT", "RSA",
                                            &(const uint8_t *){NULL}, &(size_t){0}),
                     -ENOENT);
    X509_free(x);
}

static void hba_profile_carries_telematik_id(void **state)
{
    struct world *w = *state;
    const struct cards_card *hba = cards_card_find(w->cards, "hba1");
    static const struct {
        const char *key_ref, *policy;
    } certs[] = {{"C.HP.AUT", "1.2.276.0.76.4.75"}, {"C.HP.QES", "1.2.276.0.76.4.72"}};
    char reg[64], oid[64];

    assert_non_null(hba);
    assert_int_equal(hba->type, CARDS_TYPE_HBA);
    assert_string_equal(hba->telematik_id, "1-1-ARZT-Testarzt01");
    assert_string_equal(hba->kvnr, "");
    for (size_t i = 0; i < ARRAY_SIZE(certs); i++) {
        for (int a = 0; a < 2; a++) {
            X509 *x = cert_of(w, "hba1", certs[i].key_ref, a ? "ECC" : "RSA");

            assert_true(has_policy(x, certs[i].policy));
            admission_of(x, reg, sizeof(reg), oid, sizeof(oid));
            assert_string_equal(reg, hba->telematik_id);
            assert_string_equal(oid, "1.2.276.0.76.4.30");
            X509_free(x);
        }
    }
}

static void smcb_profile_carries_telematik_id_and_institution(void **state)
{
    struct world *w = *state;
    const struct cards_card *smcb = cards_card_find(w->cards, "smcb1");
    static const struct {
        const char *key_ref, *policy;
    } certs[] = {{"C.HCI.AUT", "1.2.276.0.76.4.77"},
                 {"C.HCI.ENC", "1.2.276.0.76.4.76"},
                 {"C.HCI.OSIG", "1.2.276.0.76.4.78"}};
    char reg[64], oid[64], cn[128];

    assert_non_null(smcb);
    assert_int_equal(smcb->type, CARDS_TYPE_SMC_B);
    for (size_t i = 0; i < ARRAY_SIZE(certs); i++) {
        X509 *x = cert_of(w, "smcb1", certs[i].key_ref, "RSA");

        assert_true(has_policy(x, certs[i].policy));
        admission_of(x, reg, sizeof(reg), oid, sizeof(oid));
        assert_string_equal(reg, smcb->telematik_id);
        assert_string_equal(oid, "1.2.276.0.76.4.50");
        assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn,
                                              sizeof(cn)) > 0);
        assert_string_equal(cn, smcb->holder_name);
        X509_free(x);
    }
}

static void demo_cards_have_pins_and_unique_iccsns(void **state)
{
    struct world *w = *state;
    static const struct {
        const char *card;
        const char *pins[10];
    } expect[] = {{"egk1",
                   {"PIN.CH", "MRPIN.home", "MRPIN.NFD", "MRPIN.NFD_READ", "MRPIN.DPE",
                    "MRPIN.DPE_READ", "MRPIN.GDD", "MRPIN.OSE", "MRPIN.AMTS", "PIN.AMTS_REP"}},
                  {"hba1", {"PIN.CH", "PIN.QES"}},
                  {"smcb1", {"PIN.SMC"}}};

    assert_int_equal(cards_catalog_count(w->cards), 3);
    for (size_t i = 0; i < ARRAY_SIZE(expect); i++) {
        const struct cards_card *card = cards_card_find(w->cards, expect[i].card);
        size_t n = 0;

        assert_non_null(card);
        assert_int_equal(strlen(card->iccsn), 20);
        assert_memory_equal(card->iccsn, "80276", 5);
        while (n < ARRAY_SIZE(expect[i].pins) && expect[i].pins[n])
            n++;
        assert_string_equal(card->card_version, "4.4.0");
        assert_true(card->expiry_ms > clock_now_ms());
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(card->iccsn, cards_card_find(w->cards, expect[j].card)->iccsn);
        assert_int_equal(card->n_pins, n);
        for (size_t p = 0; p < n; p++) {
            assert_string_equal(card->pins[p].name, expect[i].pins[p]);
            assert_string_equal(card->pins[p].pin, "123456");
            assert_string_equal(card->pins[p].puk, "12345678");
            assert_int_equal(card->pins[p].tries_left, 3);
            assert_int_equal(card->pins[p].puk_uses_left, 10);
            assert_int_equal(card->pins[p].state, CARDS_PIN_VERIFIABLE);
        }
    }
}

static void card_types_round_trip_as_the_xsd_spells_them(void **state)
{
    enum cards_type t;

    for (int i = 0; i < CARDS_TYPE_MAX; i++) {
        assert_int_equal(cards_type_from_string(cards_type_to_string((enum cards_type)i), &t), 0);
        assert_int_equal(t, i);
    }
    assert_string_equal(cards_type_to_string(CARDS_TYPE_HBA_QSIG), "HBA-qSig");
    assert_string_equal(cards_type_to_string(CARDS_TYPE_ZOD_2_0), "ZOD_2.0");
    assert_int_equal(cards_type_from_string("egk", &t), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(pki_files_exist_and_keys_are_private, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(pki_is_reused_not_regenerated, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(pki_damaged_is_refused, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(certificates_chain_to_their_roots, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(ecc_keys_are_brainpool, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(egk_profile_carries_kvnr_and_policy, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(hba_profile_carries_telematik_id, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(smcb_profile_carries_telematik_id_and_institution,
                                        world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(demo_cards_have_pins_and_unique_iccsns, world_setup,
                                        world_teardown),
        cmocka_unit_test(card_types_round_trip_as_the_xsd_spells_them),
    };

    return cmocka_run_group_tests(tests, world_group_setup, world_group_teardown);
}
