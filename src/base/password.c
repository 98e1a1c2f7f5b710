/* password: stored password records, "pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>"
 * (PBKDF2-HMAC-SHA256, 16-byte random salt, 32-byte output). The iterations are stored per
 * record so that a later release can raise them without invalidating old records.
 *
 * Invariants:
 *  1. Nothing here logs or keeps a password.
 *  2. Verification compares in constant time. */
#include "base/base.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#define PREFIX "pbkdf2-sha256$"
#define SALT_LEN 16
#define HASH_LEN 32
#define ITERATIONS_MAX 100000000

static int derive(const char *password, const unsigned char *salt, size_t salt_len,
                  unsigned iterations, unsigned char out[HASH_LEN])
{
    if (!PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)salt_len, (int)iterations,
                           EVP_sha256(), HASH_LEN, out))
        return -EIO;
    return 0;
}

int pw_record_make(const char *password, unsigned iterations, char *ret_record, size_t size)
{
    unsigned char salt[SALT_LEN], hash[HASH_LEN];
    char salt_hex[2 * SALT_LEN + 1], hash_hex[2 * HASH_LEN + 1];
    int r;

    if (!password || iterations < 1 || iterations > ITERATIONS_MAX)
        return -EINVAL;
    r = rand_bytes(salt, sizeof(salt));
    if (r == 0)
        r = derive(password, salt, sizeof(salt), iterations, hash);
    if (r < 0)
        return r;
    hex_encode(salt, sizeof(salt), salt_hex);
    hex_encode(hash, sizeof(hash), hash_hex);
    if ((size_t)snprintf(ret_record, size, PREFIX "%u$%s$%s", iterations, salt_hex, hash_hex) >=
        size)
        return -ENAMETOOLONG;
    return 0;
}

int pw_record_dummy(unsigned iterations, char *ret_record, size_t size)
{
    /* A salt nobody has and a hash no password derives to. */
    if ((size_t)snprintf(ret_record, size, PREFIX "%u$%0*d$%0*d", iterations, 2 * SALT_LEN, 0,
                         2 * HASH_LEN, 0) >= size)
        return -ENAMETOOLONG;
    return 0;
}

/* Lower-case hex only (as pw_record_make() writes it); returns the byte count. */
static int hex_decode(const char *hex, size_t hex_len, unsigned char *out, size_t out_size)
{
    if (hex_len % 2 != 0 || hex_len / 2 > out_size)
        return -EBADMSG;
    for (size_t i = 0; i < hex_len; i++) {
        char c = hex[i];
        unsigned v;

        if (c >= '0' && c <= '9')
            v = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = (unsigned)(c - 'a' + 10);
        else
            return -EBADMSG;
        if (i % 2 == 0)
            out[i / 2] = (unsigned char)(v << 4);
        else
            out[i / 2] |= (unsigned char)v;
    }
    return (int)(hex_len / 2);
}

int pw_record_verify(const char *password, const char *record)
{
    unsigned char salt[64], want[HASH_LEN], got[HASH_LEN];
    const char *iter, *salt_hex, *hash_hex;
    char iter_buf[16];
    int64_t iterations;
    int salt_len, r;

    if (!password || !record || strncmp(record, PREFIX, strlen(PREFIX)) != 0)
        return -EBADMSG;
    iter = record + strlen(PREFIX);
    salt_hex = strchr(iter, '$');
    hash_hex = salt_hex ? strchr(salt_hex + 1, '$') : NULL;
    if (!hash_hex || (size_t)(salt_hex - iter) >= sizeof(iter_buf))
        return -EBADMSG;
    memcpy(iter_buf, iter, (size_t)(salt_hex - iter));
    iter_buf[salt_hex - iter] = '\0';
    salt_hex++;
    hash_hex++;
    if (str_to_int64(iter_buf, &iterations) < 0 || iterations < 1 || iterations > ITERATIONS_MAX)
        return -EBADMSG;
    salt_len = hex_decode(salt_hex, (size_t)(hash_hex - 1 - salt_hex), salt, sizeof(salt));
    if (salt_len < 8 || hex_decode(hash_hex, strlen(hash_hex), want, sizeof(want)) != HASH_LEN)
        return -EBADMSG;
    r = derive(password, salt, (size_t)salt_len, (unsigned)iterations, got);
    if (r < 0)
        return r;
    return mem_equal_ct(want, got, HASH_LEN) ? 1 : 0;
}
