/* Unit tests for the LAN TLS identities and client certificates (src/soap/identity.c). One
 * identity is generated for the whole group: RSA key generation is the slow part. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pkcs12.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "soap/soap_internal.h"
#include "soap_test.h"

static char dir[] = "/tmp/konn-soap-id-XXXXXX";
static struct soap__identity *id;

static int group_setup(void **state)
{
    if (!mkdtemp(dir))
        return -1;
    return soap__identity_load(dir, "praxis1", "192.0.2.7", &id);
}

static int group_teardown(void **state)
{
    soap__identity_free(id);
    rm_rf(dir);
    return 0;
}

static void first_load_writes_six_files_keys_private(void **state)
{
    static const char *const keys[] = {"lan-rsa-key.pem", "lan-ecc-key.pem",
                                       "lan-client-ca-key.pem"};
    static const char *const certs[] = {"lan-rsa-cert.pem", "lan-ecc-cert.pem",
                                        "lan-client-ca.pem"};
    char path[512];
    struct stat st;

    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        (void)snprintf(path, sizeof(path), "%s/identity/%s", dir, keys[i]);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        (void)snprintf(path, sizeof(path), "%s/identity/%s", dir, certs[i]);
        assert_int_equal(stat(path, &st), 0);
    }
}

static void second_load_reuses_the_stored_identities(void **state)
{
    struct soap__identity *again = NULL;

    assert_int_equal(soap__identity_load(dir, "other-name", NULL, &again), 0);
    assert_int_equal(X509_cmp(id->rsa_cert, again->rsa_cert), 0);
    assert_int_equal(X509_cmp(id->ecc_cert, again->ecc_cert), 0);
    assert_int_equal(X509_cmp(id->ca_cert, again->ca_cert), 0);
    soap__identity_free(again);
}

static void keys_are_rsa_2048_and_brainpool(void **state)
{
    char group[64];
    size_t len = 0;

    assert_int_equal(EVP_PKEY_get_base_id(id->rsa_key), EVP_PKEY_RSA);
    assert_int_equal(EVP_PKEY_get_bits(id->rsa_key), 2048);
    assert_int_equal(EVP_PKEY_get_base_id(id->ecc_key), EVP_PKEY_EC);
    assert_int_equal(EVP_PKEY_get_group_name(id->ecc_key, group, sizeof(group), &len), 1);
    assert_string_equal(group, "brainpoolP256r1");
}

static void server_certificates_name_the_host_and_loopback(void **state)
{
    X509 *certs[] = {id->rsa_cert, id->ecc_cert};

    for (size_t i = 0; i < ARRAY_SIZE(certs); i++) {
        assert_int_equal(X509_check_host(certs[i], "localhost", 0, 0, NULL), 1);
        assert_int_equal(X509_check_host(certs[i], "praxis1", 0, 0, NULL), 1);
        assert_int_equal(X509_check_ip_asc(certs[i], "127.0.0.1", 0), 1);
        assert_int_equal(X509_check_ip_asc(certs[i], "::1", 0), 1);
        assert_int_equal(X509_check_ip_asc(certs[i], "192.0.2.7", 0), 1);
        assert_int_equal(X509_check_host(certs[i], "elsewhere", 0, 0, NULL), 0);
    }
}

static void damaged_certificate_is_refused_not_replaced(void **state)
{
    char other[] = "/tmp/konn-soap-id2-XXXXXX";
    struct soap__identity *a = NULL;
    char path[512];

    assert_non_null(mkdtemp(other));
    (void)snprintf(path, sizeof(path), "%s/identity", other);
    assert_int_equal(fs_mkdir_p(path, 0700), 0);
    /* A stored RSA pair that does not parse. */
    (void)snprintf(path, sizeof(path), "%s/identity/lan-rsa-key.pem", other);
    assert_int_equal(fs_write_atomic(path, "garbage", 7, 0600), 0);
    (void)snprintf(path, sizeof(path), "%s/identity/lan-rsa-cert.pem", other);
    assert_int_equal(fs_write_atomic(path, "garbage", 7, 0644), 0);
    assert_int_equal(soap__identity_load(other, "praxis1", NULL, &a), -EBADMSG);
    assert_null(a);
    rm_rf(other);
}

static void tls_context_holds_both_identities(void **state)
{
    SSL_CTX *ctx = soap__tls_ctx_new(id);
    int n = 0;

    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
    for (int r = SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_FIRST); r == 1;
         r = SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_NEXT))
        n++;
    assert_int_equal(n, 2);
    SSL_CTX_free(ctx);
}

static void issue_and_check(enum soap_key_type type, int want_base_id)
{
    uint8_t *p12_der = NULL;
    size_t len = 0;
    const unsigned char *p;
    PKCS12 *p12;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    STACK_OF(X509) *ca = NULL;
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *vctx = X509_STORE_CTX_new();
    EVP_PKEY *new_key = soap_client_key_new(type);
    X509 *listed = NULL;

    assert_non_null(new_key);
    assert_int_equal(
        soap__client_p12_make(id, "cs1.praxis", "geheim", new_key, &listed, &p12_der, &len), 0);
    p = p12_der;
    p12 = d2i_PKCS12(NULL, &p, (long)len);
    assert_non_null(p12);
    assert_int_equal(PKCS12_parse(p12, "wrong", &key, &cert, &ca), 0);
    assert_int_equal(PKCS12_parse(p12, "geheim", &key, &cert, &ca), 1);
    assert_int_equal(EVP_PKEY_get_base_id(key), want_base_id);
    assert_int_equal(X509_check_private_key(cert, key), 1);
    assert_int_equal(EVP_PKEY_eq(key, new_key), 1);
    assert_int_equal(X509_cmp(cert, listed), 0);
    /* It verifies as a TLS client certificate against the client CA. */
    assert_int_equal(X509_STORE_add_cert(store, id->ca_cert), 1);
    assert_int_equal(X509_STORE_CTX_init(vctx, store, cert, NULL), 1);
    assert_int_equal(X509_STORE_CTX_set_purpose(vctx, X509_PURPOSE_SSL_CLIENT), 1);
    assert_int_equal(X509_verify_cert(vctx), 1);
    X509_STORE_CTX_free(vctx);
    X509_STORE_free(store);
    sk_X509_pop_free(ca, X509_free);
    X509_free(cert);
    X509_free(listed);
    EVP_PKEY_free(key);
    EVP_PKEY_free(new_key);
    PKCS12_free(p12);
    free(p12_der);
}

static void client_certificates_come_as_pkcs12_rsa(void **state)
{
    issue_and_check(SOAP_KEY_RSA_2048, EVP_PKEY_RSA);
}

static void client_certificates_come_as_pkcs12_brainpool(void **state)
{
    issue_and_check(SOAP_KEY_BRAINPOOL_P256, EVP_PKEY_EC);
}

static void client_certificate_arguments_are_checked(void **state)
{
    uint8_t *p12 = NULL;
    size_t len = 0;
    EVP_PKEY *key = soap_client_key_new(SOAP_KEY_BRAINPOOL_P256);
    X509 *cert = NULL;

    assert_null(soap_client_key_new(SOAP_KEY_TYPE_MAX));
    assert_int_equal(soap__client_p12_make(id, "", "pw", key, &cert, &p12, &len), -EINVAL);
    assert_int_equal(soap__client_p12_make(id, "a b", "pw", key, &cert, &p12, &len), -EINVAL);
    assert_int_equal(soap__client_p12_make(id, "cs1", "", key, &cert, &p12, &len), -EINVAL);
    assert_int_equal(soap__client_p12_make(id, "cs1", "pw", NULL, &cert, &p12, &len), -EINVAL);
    assert_null(p12);
    assert_null(cert);
    EVP_PKEY_free(key);
}

static void listed_client_certificates_survive_a_reload(void **state)
{
    struct soap__client_certs *cc = NULL;
    struct soap_client_cert_info *list = NULL;
    EVP_PKEY *key = soap_client_key_new(SOAP_KEY_BRAINPOOL_P256);
    X509 *cert = NULL;
    uint8_t *p12 = NULL;
    size_t len = 0, n = 0;
    char *bad;

    assert_int_equal(soap__client_p12_make(id, "cs9", "pw", key, &cert, &p12, &len), 0);
    assert_int_equal(soap__client_certs_load(dir, id->ca_cert, &cc), 0);
    assert_int_equal(soap__client_certs_add(cc, "cs9", cert), 0);
    assert_true(soap__client_certs_accepts(cc, cert));
    assert_false(soap__client_certs_accepts(cc, id->ca_cert));
    cc = soap__client_certs_free(cc);
    /* A damaged file is skipped, not deleted, and does not stop the others. */
    bad = fs_path_join(dir, "identity/lan-client-certs/broken.pem");
    assert_int_equal(fs_write_atomic(bad, "junk", 4, 0644), 0);
    assert_int_equal(soap__client_certs_load(dir, id->ca_cert, &cc), 0);
    assert_true(soap__client_certs_accepts(cc, cert));
    assert_int_equal(soap__client_certs_list(cc, &list, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].name, "cs9");
    assert_true(list[0].issued);
    assert_true(fs_exists(bad));
    assert_int_equal(soap__client_certs_remove(cc, "cs9"), 0);
    assert_false(soap__client_certs_accepts(cc, cert));
    cc = soap__client_certs_free(cc);
    assert_int_equal(soap__client_certs_load(dir, id->ca_cert, &cc), 0);
    assert_false(soap__client_certs_accepts(cc, cert));
    soap__client_certs_free(cc);
    free(list);
    free(bad);
    free(p12);
    X509_free(cert);
    EVP_PKEY_free(key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(first_load_writes_six_files_keys_private),
        cmocka_unit_test(second_load_reuses_the_stored_identities),
        cmocka_unit_test(keys_are_rsa_2048_and_brainpool),
        cmocka_unit_test(server_certificates_name_the_host_and_loopback),
        cmocka_unit_test(damaged_certificate_is_refused_not_replaced),
        cmocka_unit_test(tls_context_holds_both_identities),
        cmocka_unit_test(client_certificates_come_as_pkcs12_rsa),
        cmocka_unit_test(client_certificates_come_as_pkcs12_brainpool),
        cmocka_unit_test(client_certificate_arguments_are_checked),
        cmocka_unit_test(listed_client_certificates_survive_a_reload),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
