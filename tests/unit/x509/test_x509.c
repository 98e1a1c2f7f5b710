/* Unit tests for x509: certificates from a spec, chains, SANs, fingerprints, key pairs. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/x509v3.h>

#include "base/base.h"
#include "x509/x509.h"

static const struct x509_spec ca_spec = {
    .cn = "test CA",
    .constraints = "critical,CA:TRUE,pathlen:0",
    .key_usage = "critical,keyCertSign,cRLSign",
    .days = 30,
};

static const struct x509_spec leaf_spec = {
    .cn = "leaf",
    .san = "DNS:leaf.example",
    .constraints = "critical,CA:FALSE",
    .key_usage = "critical,digitalSignature",
    .ext_key_usage = "clientAuth",
    .days = 30,
};

static int verify(X509 *anchor, X509 *cert)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int ok;

    assert_int_equal(X509_STORE_add_cert(store, anchor), 1);
    assert_int_equal(X509_STORE_CTX_init(ctx, store, cert, NULL), 1);
    ok = X509_verify_cert(ctx);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return ok;
}

static void issued_certificate_chains_to_its_issuer_only(void **state)
{
    EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *other_key = EVP_EC_gen("P-256");
    EVP_PKEY *leaf_key = EVP_EC_gen("P-256");
    X509 *ca = NULL, *other = NULL, *leaf = NULL;

    (void)state;
    assert_int_equal(x509_cert_make(ca_key, &ca_spec, NULL, NULL, &ca), 0);
    assert_int_equal(x509_cert_make(other_key, &ca_spec, NULL, NULL, &other), 0);
    assert_int_equal(x509_cert_make(leaf_key, &leaf_spec, ca, ca_key, &leaf), 0);
    assert_int_equal(X509_check_issued(ca, leaf), X509_V_OK);
    assert_int_equal(verify(ca, leaf), 1);
    assert_int_not_equal(verify(other, leaf), 1);
    assert_int_equal(X509_check_ca(ca), 1);
    assert_int_equal(X509_check_ca(leaf), 0);
    assert_int_equal(X509_check_host(leaf, "leaf.example", 0, 0, NULL), 1);
    X509_free(leaf);
    X509_free(other);
    X509_free(ca);
    EVP_PKEY_free(leaf_key);
    EVP_PKEY_free(other_key);
    EVP_PKEY_free(ca_key);
}

static void bad_extension_value_is_refused(void **state)
{
    struct x509_spec spec = ca_spec;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *cert = NULL;

    (void)state;
    spec.key_usage = "noSuchUsage";
    assert_int_equal(x509_cert_make(key, &spec, NULL, NULL, &cert), -EINVAL);
    assert_null(cert);
    EVP_PKEY_free(key);
}

static void server_san_names_a_specific_address_only(void **state)
{
    char san[256];

    (void)state;
    assert_int_equal(x509_server_san("konn", "10.0.0.5", san, sizeof(san)), 0);
    assert_string_equal(san, "DNS:localhost,DNS:konn,IP:127.0.0.1,IP:::1,IP:10.0.0.5");
    assert_int_equal(x509_server_san("konn", "0.0.0.0", san, sizeof(san)), 0);
    assert_string_equal(san, "DNS:localhost,DNS:konn,IP:127.0.0.1,IP:::1");
    assert_int_equal(x509_server_san("konn", "evil,DNS:x", san, sizeof(san)), 0);
    assert_null(strstr(san, "evil"));
    assert_int_equal(x509_server_san("konn", NULL, san, 10), -ENOSPC);
}

static void fingerprint_is_colon_separated_sha256(void **state)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *cert = NULL;
    char fp[96], small[40];

    (void)state;
    assert_int_equal(x509_cert_make(key, &ca_spec, NULL, NULL, &cert), 0);
    assert_int_equal(x509_fingerprint_sha256(cert, fp, sizeof(fp)), 0);
    assert_int_equal(strlen(fp), 95);
    for (size_t i = 2; i < 95; i += 3)
        assert_int_equal(fp[i], ':');
    assert_int_equal(x509_fingerprint_sha256(cert, small, sizeof(small)), -EINVAL);
    X509_free(cert);
    EVP_PKEY_free(key);
}

static int make_ca(void *arg, EVP_PKEY **ret_key, X509 **ret_cert)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");

    (*(int *)arg)++;
    *ret_key = key;
    return x509_cert_make(key, &ca_spec, NULL, NULL, ret_cert);
}

static void pair_is_generated_once_and_a_mismatch_refused(void **state)
{
    char dir[] = "/tmp/konn-x509-XXXXXX";
    EVP_PKEY *k1 = NULL, *k2 = NULL;
    X509 *c1 = NULL, *c2 = NULL;
    bool gen = false;
    int calls = 0;
    char *cert_path;

    (void)state;
    assert_non_null(mkdtemp(dir));
    assert_int_equal(x509_pair_load(dir, "k.pem", "c.pem", make_ca, &calls, &k1, &c1, &gen), 0);
    assert_true(gen);
    assert_int_equal(x509_pair_load(dir, "k.pem", "c.pem", make_ca, &calls, &k2, &c2, &gen), 0);
    assert_false(gen);
    assert_int_equal(calls, 1);
    assert_int_equal(X509_cmp(c1, c2), 0);
    X509_free(c2);
    EVP_PKEY_free(k2);
    /* Another key's certificate in place of the stored one: refused, not replaced. */
    assert_int_equal(make_ca(&calls, &k2, &c2), 0);
    cert_path = fs_path_join(dir, "c.pem");
    assert_int_equal(x509_pem_to_file(cert_path, 0644, NULL, c2), 0);
    X509_free(c2);
    EVP_PKEY_free(k2);
    assert_int_equal(x509_pair_load(dir, "k.pem", "c.pem", make_ca, &calls, &k2, &c2, &gen),
                     -EBADMSG);
    assert_int_equal(calls, 2);
    assert_int_equal(unlink(cert_path), 0);
    free(cert_path);
    cert_path = fs_path_join(dir, "k.pem");
    assert_int_equal(unlink(cert_path), 0);
    free(cert_path);
    assert_int_equal(rmdir(dir), 0);
    X509_free(c1);
    EVP_PKEY_free(k1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(issued_certificate_chains_to_its_issuer_only),
        cmocka_unit_test(bad_extension_value_is_refused),
        cmocka_unit_test(server_san_names_a_specific_address_only),
        cmocka_unit_test(fingerprint_is_colon_separated_sha256),
        cmocka_unit_test(pair_is_generated_once_and_a_mismatch_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
