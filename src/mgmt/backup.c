/* backup: the configuration backup file (TIP1-A_4814 to TIP1-A_4816), docs/backup-format.md.
 * This file only turns a JSON payload into a sealed file and back; what the payload holds
 * and how it is applied is routes_backup.c's.
 *
 *   seal: JSON -> CMS SignedData (attached, signed with the device key, signingTime) ->
 *         AES-256-GCM under PBKDF2-HMAC-SHA256(passphrase, salt) -> header + ciphertext + tag
 *   open: the reverse; every length is checked before use, the tag before anything is
 *         parsed, the signature before the JSON is handed out.
 *
 * Invariants:
 *  1. The 64-byte header is the GCM's additional data: a changed field fails the tag.
 *  2. A reader trusts no length: the ciphertext length must be exactly what the file holds
 *     and at most MGMT__BACKUP_MAX; the iterations must lie in [ITER_MIN, max_iterations].
 *  3. Nothing decrypted is parsed before the tag checked out; nothing signed is returned
 *     before the signature verified. Wrong passphrase and tampered ciphertext cannot be told
 *     apart (both -EKEYREJECTED); a bad signature is -EPROTO; a malformed file -EBADMSG.
 *  4. The passphrase is never stored: only the caller sees it. */
#include "mgmt/mgmt_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#define MAGIC "KONNBAK1"
#define FORMAT_VERSION 1
#define HEADER_LEN 64
#define KDF_PBKDF2_SHA256 1
#define SALT_LEN 16
#define IV_LEN 12
#define TAG_LEN 16
#define KEY_LEN 32
/* Below this a PBKDF2 gives a guesser too little work even for a random passphrase. */
#define ITER_MIN 10000

_Static_assert(8 + 2 + 2 + 4 + 1 + 3 + 4 + SALT_LEN + IV_LEN + 4 + 8 == HEADER_LEN,
               "header layout");

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return ((uint32_t)get16(p) << 16) | get16(p + 2);
}

static uint64_t get64(const uint8_t *p)
{
    return ((uint64_t)get32(p) << 32) | get32(p + 4);
}

static int derive(const char *passphrase, const uint8_t *salt, uint32_t iterations,
                  uint8_t key[KEY_LEN])
{
    return PKCS5_PBKDF2_HMAC(passphrase, (int)strlen(passphrase), salt, SALT_LEN, (int)iterations,
                             EVP_sha256(), KEY_LEN, key) == 1
               ? 0
               : -EIO;
}

/* AES-256-GCM in either direction. out holds len bytes. Decryption: -EKEYREJECTED when the
 * tag does not match. */
static int gcm(bool enc, const uint8_t key[KEY_LEN], const uint8_t *iv, const uint8_t *aad,
               const uint8_t *in, size_t len, uint8_t *out, uint8_t tag[TAG_LEN])
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, r = -EIO;

    if (!ctx || len > INT32_MAX)
        goto out;
    if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, IV_LEN, NULL) != 1 ||
        EVP_CipherInit_ex(ctx, NULL, NULL, key, iv, enc) != 1 ||
        EVP_CipherUpdate(ctx, NULL, &n, aad, HEADER_LEN) != 1 ||
        (len > 0 && EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1))
        goto out;
    if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) != 1)
        goto out;
    if (EVP_CipherFinal_ex(ctx, out + (len > 0 ? n : 0), &n) != 1) {
        r = enc ? -EIO : -EKEYREJECTED;
        goto out;
    }
    if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) != 1)
        goto out;
    r = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    return r;
}

int mgmt__backup_encrypt(const uint8_t *plain, size_t len, const char *passphrase,
                         uint32_t iterations, uint8_t **ret_file, size_t *ret_len)
{
    uint8_t key[KEY_LEN], *file = NULL, *h;
    size_t total = HEADER_LEN + len + TAG_LEN;
    int r = -EINVAL;

    if (!plain || !passphrase || len > MGMT__BACKUP_MAX || iterations < ITER_MIN)
        return r;
    file = calloc(1, total);
    if (!file)
        return -ENOMEM;
    h = file;
    memcpy(h, MAGIC, 8);
    put16(h + 8, FORMAT_VERSION);
    put16(h + 10, HEADER_LEN);
    put32(h + 12, 0); /* flags: none defined */
    h[16] = KDF_PBKDF2_SHA256;
    put32(h + 20, iterations);
    r = rand_bytes(h + 24, SALT_LEN + IV_LEN);
    if (r < 0)
        goto out;
    put32(h + 56, (uint32_t)((uint64_t)len >> 32));
    put32(h + 60, (uint32_t)len);
    r = derive(passphrase, h + 24, iterations, key);
    if (r == 0)
        r = gcm(true, key, h + 24 + SALT_LEN, h, plain, len, file + HEADER_LEN,
                file + HEADER_LEN + len);
    if (r < 0)
        goto out;
    *ret_file = file;
    *ret_len = total;
    file = NULL;
out:
    explicit_bzero(key, sizeof(key));
    free(file);
    return r;
}

int mgmt__backup_decrypt(const uint8_t *file, size_t len, const char *passphrase,
                         uint32_t max_iterations, uint8_t **ret_plain, size_t *ret_len)
{
    uint8_t key[KEY_LEN], tag[TAG_LEN], *plain = NULL;
    uint64_t clen;
    uint32_t iterations;
    int r = -EBADMSG;

    if (!file || !passphrase)
        return -EINVAL;
    /* Invariant 2. */
    if (len < HEADER_LEN + TAG_LEN || memcmp(file, MAGIC, 8) != 0)
        return r;
    if (get16(file + 8) != FORMAT_VERSION || get16(file + 10) != HEADER_LEN ||
        get32(file + 12) != 0 || file[16] != KDF_PBKDF2_SHA256)
        return r;
    iterations = get32(file + 20);
    clen = get64(file + 56);
    if (iterations < ITER_MIN || iterations > max_iterations || clen > MGMT__BACKUP_MAX ||
        clen != len - HEADER_LEN - TAG_LEN)
        return r;
    plain = malloc(clen + 1);
    if (!plain)
        return -ENOMEM;
    memcpy(tag, file + HEADER_LEN + clen, TAG_LEN);
    r = derive(passphrase, file + 24, iterations, key);
    if (r == 0)
        r = gcm(false, key, file + 24 + SALT_LEN, file, file + HEADER_LEN, clen, plain, tag);
    explicit_bzero(key, sizeof(key));
    if (r < 0) {
        explicit_bzero(plain, clen);
        free(plain);
        return r;
    }
    *ret_plain = plain;
    *ret_len = clen;
    return 0;
}

int mgmt__backup_sign(const char *json, size_t len, EVP_PKEY *key, X509 *cert, uint8_t **ret_der,
                      size_t *ret_len)
{
    BIO *in = len <= INT32_MAX ? BIO_new_mem_buf(json, (int)len) : NULL;
    CMS_ContentInfo *cms = NULL;
    unsigned char *der = NULL;
    int n, r = -EIO;

    if (!in)
        return -ENOMEM;
    /* Attached content, the signer's certificate included, signed attributes with
     * signingTime (TIP1-A_4815: the signed data carry a time stamp). */
    cms = CMS_sign(cert, key, NULL, in, CMS_BINARY);
    if (!cms)
        goto out;
    n = i2d_CMS_ContentInfo(cms, &der);
    if (n <= 0)
        goto out;
    *ret_der = (uint8_t *)der;
    *ret_len = (size_t)n;
    der = NULL;
    r = 0;
out:
    OPENSSL_free(der);
    CMS_ContentInfo_free(cms);
    BIO_free(in);
    return r;
}

static int64_t signing_time_ms(CMS_SignerInfo *si)
{
    int i = CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1);
    X509_ATTRIBUTE *attr = i >= 0 ? CMS_signed_get_attr(si, i) : NULL;
    ASN1_TYPE *t = attr ? X509_ATTRIBUTE_get0_type(attr, 0) : NULL;
    struct tm tm;

    if (!t || (t->type != V_ASN1_UTCTIME && t->type != V_ASN1_GENERALIZEDTIME) ||
        ASN1_TIME_to_tm((const ASN1_TIME *)t->value.asn1_string, &tm) != 1)
        return 0;
    return (int64_t)timegm(&tm) * 1000;
}

int mgmt__backup_verify(const uint8_t *der, size_t len, char **ret_json, size_t *ret_len,
                        struct mgmt__backup_signer *ret_signer)
{
    const unsigned char *p = der;
    CMS_ContentInfo *cms = len <= INT32_MAX ? d2i_CMS_ContentInfo(NULL, &p, (long)len) : NULL;
    STACK_OF(X509) *signers = NULL;
    STACK_OF(CMS_SignerInfo) * infos;
    BIO *out = NULL;
    struct mgmt__backup_signer s = {0};
    unsigned char md[32];
    unsigned int md_len = 0;
    char *data = NULL, *json = NULL;
    long n;
    int r = -EBADMSG;

    if (!cms || p != der + len || OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed)
        goto out;
    infos = CMS_get0_SignerInfos(cms);
    if (!infos || sk_CMS_SignerInfo_num(infos) != 1)
        goto out;
    out = BIO_new(BIO_s_mem());
    if (!out) {
        r = -ENOMEM;
        goto out;
    }
    /* The signer is a device, not a chain we could check: its certificate travels in the
     * file and is shown to the administrator, who confirms it (TIP1-A_4815). */
    if (CMS_verify(cms, NULL, NULL, NULL, out, CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY) != 1) {
        r = -EPROTO;
        goto out;
    }
    signers = CMS_get0_signers(cms);
    if (!signers || sk_X509_num(signers) != 1)
        goto out;
    (void)X509_NAME_oneline(X509_get_subject_name(sk_X509_value(signers, 0)), s.subject,
                            sizeof(s.subject));
    if (X509_digest(sk_X509_value(signers, 0), EVP_sha256(), md, &md_len) != 1 || md_len != 32)
        goto out;
    for (unsigned i = 0; i < md_len; i++)
        (void)snprintf(s.fingerprint + 3 * i, 4, i + 1 < md_len ? "%02X:" : "%02X", md[i]);
    s.signed_ms = signing_time_ms(sk_CMS_SignerInfo_value(infos, 0));
    n = BIO_get_mem_data(out, &data);
    if (n <= 0 || (size_t)n > MGMT__BACKUP_MAX)
        goto out;
    json = malloc((size_t)n + 1);
    if (!json) {
        r = -ENOMEM;
        goto out;
    }
    memcpy(json, data, (size_t)n);
    json[n] = '\0';
    *ret_json = json;
    *ret_len = (size_t)n;
    *ret_signer = s;
    json = NULL;
    r = 0;
out:
    free(json);
    sk_X509_free(signers);
    BIO_free(out);
    CMS_ContentInfo_free(cms);
    return r;
}

int mgmt__backup_seal(const char *json, size_t len, EVP_PKEY *key, X509 *cert,
                      const char *passphrase, uint32_t iterations, uint8_t **ret_file,
                      size_t *ret_len)
{
    uint8_t *der = NULL;
    size_t der_len = 0;
    int r = mgmt__backup_sign(json, len, key, cert, &der, &der_len);

    if (r == 0)
        r = mgmt__backup_encrypt(der, der_len, passphrase, iterations, ret_file, ret_len);
    free(der);
    return r;
}

int mgmt__backup_open(const uint8_t *file, size_t len, const char *passphrase,
                      uint32_t max_iterations, char **ret_json, size_t *ret_json_len,
                      struct mgmt__backup_signer *ret_signer)
{
    uint8_t *der = NULL;
    size_t der_len = 0;
    int r = mgmt__backup_decrypt(file, len, passphrase, max_iterations, &der, &der_len);

    if (r < 0)
        return r;
    r = mgmt__backup_verify(der, der_len, ret_json, ret_json_len, ret_signer);
    explicit_bzero(der, der_len);
    free(der);
    return r;
}
