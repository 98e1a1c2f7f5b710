/* password: the stored password record and the first administrator account.
 *
 * Record format: "pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>", PBKDF2-HMAC-SHA256 with a
 * 16-byte random salt and a 32-byte output. Iterations are stored per record so that a later
 * release can raise them without invalidating old records.
 *
 * Invariants:
 *  1. No function here logs or returns a password; only the initial one is shown, once.
 *  2. Verification compares in constant time. */
#include "mgmt/mgmt_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

/* OWASP's 2023 figure for PBKDF2-HMAC-SHA256; the issue asks for at least 600,000. */
#define PBKDF2_ITERATIONS 600000
#define SALT_LEN 16
#define HASH_LEN 32
#define INITIAL_PASSWORD_LEN 20

int mgmt_password_check_rules(const char *password, char *ret_msg, size_t msg_size)
{
    size_t n = password ? strlen(password) : 0;

    if (n < MGMT_PASSWORD_MIN || n > MGMT_PASSWORD_MAX) {
        (void)snprintf(ret_msg, msg_size, "a password must have %d to %d characters, got %zu",
                       MGMT_PASSWORD_MIN, MGMT_PASSWORD_MAX, n);
        return -EINVAL;
    }
    return 0;
}

static int derive(const char *password, const unsigned char *salt, size_t salt_len,
                  unsigned iterations, unsigned char out[HASH_LEN])
{
    if (!PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)salt_len, (int)iterations,
                           EVP_sha256(), HASH_LEN, out))
        return -EIO;
    return 0;
}

int mgmt_password_hash(const char *password, char *ret_record, size_t size)
{
    unsigned char salt[SALT_LEN], hash[HASH_LEN];
    char salt_hex[2 * SALT_LEN + 1], hash_hex[2 * HASH_LEN + 1];
    int r;

    r = rand_bytes(salt, sizeof(salt));
    if (r < 0)
        return r;
    r = derive(password, salt, sizeof(salt), PBKDF2_ITERATIONS, hash);
    if (r < 0)
        return r;
    hex_encode(salt, sizeof(salt), salt_hex);
    hex_encode(hash, sizeof(hash), hash_hex);
    if ((size_t)snprintf(ret_record, size, "pbkdf2-sha256$%d$%s$%s", PBKDF2_ITERATIONS, salt_hex,
                         hash_hex) >= size)
        return -ENAMETOOLONG;
    return 0;
}

static int hex_decode(const char *hex, size_t hex_len, unsigned char *out, size_t out_size)
{
    if (hex_len % 2 != 0 || hex_len / 2 > out_size)
        return -EBADMSG;
    for (size_t i = 0; i < hex_len / 2; i++) {
        unsigned v = 0;

        for (size_t j = 0; j < 2; j++) {
            char c = hex[2 * i + j];

            v <<= 4;
            if (c >= '0' && c <= '9')
                v |= (unsigned)(c - '0');
            else if (c >= 'a' && c <= 'f')
                v |= (unsigned)(c - 'a' + 10);
            else
                return -EBADMSG;
        }
        out[i] = (unsigned char)v;
    }
    return (int)(hex_len / 2);
}

int mgmt_password_verify(const char *password, const char *record)
{
    unsigned char salt[64], want[HASH_LEN], got[HASH_LEN];
    const char *p, *salt_hex, *hash_hex;
    int64_t iterations;
    char iter_buf[16];
    int salt_len, r;

    if (strncmp(record, "pbkdf2-sha256$", 14) != 0)
        return -EBADMSG;
    p = record + 14;
    salt_hex = strchr(p, '$');
    if (!salt_hex || (size_t)(salt_hex - p) >= sizeof(iter_buf))
        return -EBADMSG;
    memcpy(iter_buf, p, (size_t)(salt_hex - p));
    iter_buf[salt_hex - p] = '\0';
    salt_hex++;
    hash_hex = strchr(salt_hex, '$');
    if (!hash_hex)
        return -EBADMSG;
    hash_hex++;
    if (str_to_int64(iter_buf, &iterations) < 0 || iterations < 1 || iterations > 100000000)
        return -EBADMSG;
    salt_len = hex_decode(salt_hex, (size_t)(hash_hex - 1 - salt_hex), salt, sizeof(salt));
    if (salt_len < 8 || hex_decode(hash_hex, strlen(hash_hex), want, sizeof(want)) != HASH_LEN)
        return -EBADMSG;
    r = derive(password, salt, (size_t)salt_len, (unsigned)iterations, got);
    if (r < 0)
        return r;
    return mem_equal_ct(want, got, HASH_LEN) ? 1 : 0;
}

const char *mgmt__password_dummy_record(void)
{
    static char record[STORE_USER_HASH_MAX + 1];

    /* Same iterations as a real record, a salt nobody has and a hash no password derives to:
     * checking it costs a full derivation and never matches. */
    if (!record[0])
        (void)snprintf(record, sizeof(record), "pbkdf2-sha256$%d$%0*d$%0*d", PBKDF2_ITERATIONS,
                       2 * SALT_LEN, 0, 2 * HASH_LEN, 0);
    return record;
}

int mgmt_accounts_init(struct store *st, const char *data_dir)
{
    struct store_user u = {0};
    char password[INITIAL_PASSWORD_LEN + 1], line[INITIAL_PASSWORD_LEN + 2];
    char *path = NULL;
    int r;

    if (store_user_count(st) > 0)
        return 0;
    r = rand_password(password, INITIAL_PASSWORD_LEN);
    if (r < 0)
        return r;
    (void)str_copy(u.name, sizeof(u.name), MGMT_INITIAL_ADMIN);
    u.role = STORE_ROLE_SUPER_ADMIN;
    u.created_ms = clock_now_ms();
    r = mgmt_password_hash(password, u.pwhash, sizeof(u.pwhash));
    if (r < 0)
        goto out;
    path = fs_path_join(data_dir, "initial-admin-password");
    if (!path) {
        r = -ENOMEM;
        goto out;
    }
    /* The file first: an account whose password nobody was told would lock the admin out. */
    (void)snprintf(line, sizeof(line), "%s\n", password);
    r = fs_write_atomic(path, line, strlen(line), 0600);
    if (r < 0)
        goto out;
    r = store_user_add(st, &u);
    if (r < 0)
        goto out;
    printf("konnektord: created Super-Administrator '%s' with password %s\n"
           "konnektord: the password is also in %s (mode 0600); change it after first login\n",
           MGMT_INITIAL_ADMIN, password, path);
    (void)fflush(stdout);
    r = 1;
out:
    explicit_bzero(password, sizeof(password));
    explicit_bzero(line, sizeof(line));
    free(path);
    return r;
}
