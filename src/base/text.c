/* text: random bytes and passwords, hex, base64, constant-time compare, bounded string
 * helpers. */
#include "base/base.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

int rand_bytes(void *buf, size_t len)
{
    if (len > INT_MAX)
        return -EINVAL;
    return RAND_bytes(buf, (int)len) == 1 ? 0 : -EIO;
}

int rand_password(char *buf, size_t len)
{
    /* No 0/O, 1/l/I: the initial password is read off a screen and typed. 56 symbols give
     * 5.8 bits each; 20 characters are over 116 bits. */
    static const char alphabet[] = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    const size_t n = sizeof(alphabet) - 1;
    unsigned char r;

    for (size_t i = 0; i < len; i++) {
        /* Rejection sampling keeps every symbol equally likely. */
        do {
            if (rand_bytes(&r, 1) < 0)
                return -EIO;
        } while (r >= 256 - (256 % n));
        buf[i] = alphabet[r % n];
    }
    buf[len] = '\0';
    return 0;
}

void hex_encode(const void *data, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = data;

    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 0x0f];
    }
    out[2 * len] = '\0';
}

int base64_decode_max(const char *in, size_t max, uint8_t **ret, size_t *ret_len)
{
    size_t n = strlen(in);
    EVP_ENCODE_CTX *ctx = NULL;
    unsigned char *out = NULL;
    int len1 = 0, len2 = 0;
    int r = -EINVAL;

    if (n > max || n > INT_MAX)
        return -E2BIG;
    ctx = EVP_ENCODE_CTX_new();
    out = malloc(n / 4 * 3 + 4);
    if (!ctx || !out) {
        r = -ENOMEM;
        goto out;
    }
    EVP_DecodeInit(ctx);
    if (EVP_DecodeUpdate(ctx, out, &len1, (const unsigned char *)in, (int)n) < 0 ||
        EVP_DecodeFinal(ctx, out + len1, &len2) < 0)
        goto out;
    *ret = out;
    *ret_len = (size_t)(len1 + len2);
    out = NULL;
    r = 0;
out:
    free(out);
    EVP_ENCODE_CTX_free(ctx);
    return r;
}

bool mem_equal_ct(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}

int str_copy(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);

    if (size == 0)
        return -ENAMETOOLONG;
    if (n >= size) {
        memcpy(dst, src, size - 1);
        dst[size - 1] = '\0';
        return -ENAMETOOLONG;
    }
    memcpy(dst, src, n + 1);
    return 0;
}

int str_to_int64(const char *s, int64_t *ret_value)
{
    char *end = NULL;
    long long v;

    if (!s || !*s)
        return -EINVAL;
    /* strtoll accepts leading blanks; a setting value must be exactly a number. */
    if (*s == ' ' || *s == '\t' || *s == '\n')
        return -EINVAL;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno == ERANGE)
        return -ERANGE;
    if (end == s || *end != '\0')
        return -EINVAL;
    *ret_value = (int64_t)v;
    return 0;
}

int str_split_addr_port(const char *addr_port, char *addr, size_t size, uint16_t *ret_port)
{
    const char *colon = addr_port ? strrchr(addr_port, ':') : NULL;
    const char *a = addr_port;
    size_t alen;
    int64_t port;

    if (!colon || str_to_int64(colon + 1, &port) < 0 || port < 0 || port > 65535)
        return -EINVAL;
    alen = (size_t)(colon - addr_port);
    if (alen >= 2 && a[0] == '[' && a[alen - 1] == ']') {
        a++;
        alen -= 2;
    }
    if (alen == 0 || alen >= size)
        return -EINVAL;
    memcpy(addr, a, alen);
    addr[alen] = '\0';
    *ret_port = (uint16_t)port;
    return 0;
}
