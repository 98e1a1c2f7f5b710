/* seal: forward-secure HMAC keys and the seal records that close each batch.
 *
 * Key schedule (Marson/Poettering style, simplified to a hash chain): epoch e covers the wall
 * time [e * epoch_ms, (e + 1) * epoch_ms). k0 belongs to epoch0, the epoch the log got its
 * keys in; key_{e+1} = HMAC-SHA256(key_e, "konn-seal-evolve"). The admin takes k0 off the
 * device (the verification key file); the device keeps only the current key, in
 * DIR/seal.state ("epoch <n> key <hex>"). A thief of today's key cannot forge yesterday's
 * seals, because evolving is one-way.
 *
 * A seal is HMAC(key_epoch, seclog__seal_message(epoch, seq, hash, boot_id)) over the last
 * entry of a batch; the entry's hash covers the whole chain before it.
 *
 * Invariants:
 *  1. The epoch never goes back: current = max(previous, floor(now / epoch_ms)), so a clock
 *     that jumps backwards keeps sealing with the newest key.
 *  2. A new key is persisted (seal.state, atomically, through the I/O seam) before it is used,
 *     and every older key is wiped from memory with explicit_bzero.
 *  3. One seal evolves the key at most EVOLVE_MAX times, so a wild clock jump costs bounded
 *     CPU per batch; the epoch then catches up over the following batches.
 *  4. If the keys cannot be made or stored, the log runs unsealed rather than not at all.
 *
 * Threads: the key functions and the parser are pure and thread-safe; seclog__seal_open()
 * runs in seclog_open() before the writer starts; seclog__seal_build() on the writer only. */
#include "seclog/seclog_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base/base.h"

#define EVOLVE_TAG "konn-seal-evolve"
#define KEY_FILE_TAG "konnektord-seclog-key v1 "
#define STATE_NAME "seal.state"
#define STATE_TMP_NAME "seal.state.tmp"
#define STATE_MAX 256        /* bytes of seal.state: "epoch <20 digits> key <64 hex>\n" */
#define EVOLVE_MAX 65536     /* evolutions per seal: ~50 ms of HMAC, ~1.9 years of epochs */
#define SEAL_MESSAGE_MAX 128 /* seclog__seal_message() writes 76 bytes */

void seclog__seal_key_evolve(uint8_t key[SECLOG_KEY_BYTES])
{
    uint8_t next[SECLOG__HASH_BYTES];
    unsigned int len = sizeof(next);

    if (!HMAC(EVP_sha256(), key, SECLOG_KEY_BYTES, (const unsigned char *)EVOLVE_TAG,
              strlen(EVOLVE_TAG), next, &len)) {
        /* Fail closed: a key that is not the successor must not look like one. */
        log_msg(LOG_LEVEL_DEBUG, "seclog: HMAC failed while evolving the seal key");
        explicit_bzero(key, SECLOG_KEY_BYTES);
        return;
    }
    memcpy(key, next, SECLOG_KEY_BYTES);
    explicit_bzero(next, sizeof(next));
}

void seclog__seal_mac(const uint8_t key[SECLOG_KEY_BYTES], uint64_t epoch, uint64_t seq,
                      const uint8_t hash[SECLOG__HASH_BYTES],
                      const uint8_t boot_id[SECLOG__BOOT_ID_BYTES],
                      uint8_t ret_mac[SECLOG__HASH_BYTES])
{
    uint8_t msg[SEAL_MESSAGE_MAX];
    size_t len = seclog__seal_message(epoch, seq, hash, boot_id, msg);
    unsigned int mac_len = SECLOG__HASH_BYTES;

    if (!HMAC(EVP_sha256(), key, SECLOG_KEY_BYTES, msg, len, ret_mac, &mac_len))
        memset(ret_mac, 0, SECLOG__HASH_BYTES); /* never verifies */
}

/* Parses an unsigned decimal at *p, moving *p past it. */
static int parse_u64(const char **p, uint64_t *ret)
{
    uint64_t v = 0;
    const char *s = *p;

    if (*s < '0' || *s > '9')
        return -EINVAL;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
            return -EINVAL;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *p = s;
    *ret = v;
    return 0;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes exactly SECLOG_KEY_BYTES bytes of hex at *p, moving *p past them. */
static int parse_key(const char **p, uint8_t key[SECLOG_KEY_BYTES])
{
    const char *s = *p;

    for (size_t i = 0; i < SECLOG_KEY_BYTES; i++) {
        int hi = hex_value(s[2 * i]), lo = hi < 0 ? -1 : hex_value(s[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            explicit_bzero(key, SECLOG_KEY_BYTES);
            return -EINVAL;
        }
        key[i] = (uint8_t)(hi << 4 | lo);
    }
    *p = s + 2 * SECLOG_KEY_BYTES;
    return 0;
}

/* Only whitespace may follow the last field. */
static bool only_space(const char *s)
{
    for (; *s; s++)
        if (*s != '\n' && *s != '\r' && *s != ' ' && *s != '\t')
            return false;
    return true;
}

int seclog__verification_key_parse(const char *text, uint64_t *ret_epoch0, int64_t *ret_epoch_ms,
                                   uint8_t ret_key[SECLOG_KEY_BYTES])
{
    uint8_t key[SECLOG_KEY_BYTES];
    uint64_t epoch0, epoch_ms;
    const char *p = text;
    int r = -EINVAL;

    if (!p || strncmp(p, KEY_FILE_TAG, strlen(KEY_FILE_TAG)) != 0)
        return -EINVAL;
    p += strlen(KEY_FILE_TAG);
    if (parse_u64(&p, &epoch0) < 0 || *p++ != ' ' || parse_u64(&p, &epoch_ms) < 0 || *p++ != ' ' ||
        epoch_ms == 0 || epoch_ms > INT64_MAX)
        goto out;
    if (parse_key(&p, key) < 0 || !only_space(p))
        goto out;
    *ret_epoch0 = epoch0;
    *ret_epoch_ms = (int64_t)epoch_ms;
    memcpy(ret_key, key, SECLOG_KEY_BYTES);
    r = 0;
out:
    explicit_bzero(key, sizeof(key));
    return r;
}

static int state_parse(const char *text, uint64_t *ret_epoch, uint8_t ret_key[SECLOG_KEY_BYTES])
{
    const char *p = text;
    uint64_t epoch;

    if (strncmp(p, "epoch ", 6) != 0)
        return -EINVAL;
    p += 6;
    if (parse_u64(&p, &epoch) < 0 || strncmp(p, " key ", 5) != 0)
        return -EINVAL;
    p += 5;
    if (parse_key(&p, ret_key) < 0)
        return -EINVAL;
    if (!only_space(p)) {
        explicit_bzero(ret_key, SECLOG_KEY_BYTES);
        return -EINVAL;
    }
    *ret_epoch = epoch;
    return 0;
}

/* Replaces DIR/seal.state atomically through the I/O seam: temp, fdatasync, rename, fsync of
 * the directory. */
static int state_write(struct seclog *log, uint64_t epoch, const uint8_t key[SECLOG_KEY_BYTES])
{
    char hex[2 * SECLOG_KEY_BYTES + 1], text[STATE_MAX];
    char *path = fs_path_join(log->dir, STATE_NAME), *tmp = fs_path_join(log->dir, STATE_TMP_NAME);
    int fd = -1, r, n;

    if (!path || !tmp) {
        r = -ENOMEM;
        goto out;
    }
    hex_encode(key, SECLOG_KEY_BYTES, hex);
    n = snprintf(text, sizeof(text), "epoch %" PRIu64 " key %s\n", epoch, hex);
    fd = io_open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        r = fd;
        goto out;
    }
    r = io_pwrite_all(fd, text, (size_t)n, 0);
    if (r == 0)
        r = io_fdatasync(fd);
    (void)io_close(fd);
    if (r == 0)
        r = io_rename(tmp, path);
    if (r == 0)
        r = io_fsync_dir(log->dir);
    else
        (void)io_unlink(tmp);
out:
    explicit_bzero(hex, sizeof(hex));
    explicit_bzero(text, sizeof(text));
    free(tmp);
    free(path);
    return r;
}

/* Makes k0 for the epoch now, writes the verification key file for the admin and seal.state. */
static int keys_new(struct seclog *log)
{
    struct seclog__sealer *s = &log->w_seal;
    char hex[2 * SECLOG_KEY_BYTES + 1], text[STATE_MAX];
    uint8_t k0[SECLOG_KEY_BYTES];
    int64_t now = clock_now_ms();
    uint64_t epoch0 = now > 0 ? (uint64_t)(now / s->epoch_ms) : 0;
    int r, n;

    r = rand_bytes(k0, sizeof(k0));
    if (r < 0)
        goto out;
    hex_encode(k0, sizeof(k0), hex);
    n = snprintf(text, sizeof(text), KEY_FILE_TAG "%" PRIu64 " %" PRId64 " %s\n", epoch0,
                 s->epoch_ms, hex);
    /* The key file lives outside DIR (the admin collects it), so base's helper suffices. */
    r = fs_write_atomic(log->key_path, text, (size_t)n, 0600);
    if (r < 0)
        goto out;
    r = state_write(log, epoch0, k0);
    if (r < 0)
        goto out;
    s->epoch = epoch0;
    memcpy(s->key, k0, sizeof(k0));
    s->enabled = true;
out:
    explicit_bzero(k0, sizeof(k0));
    explicit_bzero(hex, sizeof(hex));
    explicit_bzero(text, sizeof(text));
    return r;
}

int seclog__seal_open(struct seclog *log, bool log_has_data, bool *ret_key_new)
{
    struct seclog__sealer *s = &log->w_seal;
    char *path = NULL, *text = NULL;
    size_t len = 0;
    bool had_state;
    int r;

    s->enabled = false;
    if (!log->key_path) {
        *ret_key_new = false;
        return 0;
    }
    path = fs_path_join(log->dir, STATE_NAME);
    if (!path)
        return -ENOMEM;
    r = fs_read_all(path, STATE_MAX, &text, &len);
    had_state = r != -ENOENT;
    if (r == 0 && state_parse(text, &s->epoch, s->key) == 0) {
        s->enabled = true;
        *ret_key_new = false;
        goto out;
    }
    /* No usable state: new keys. For a log with data that is worth a record, since seals
     * before it verify only with the old verification key. */
    r = keys_new(log);
    if (r == 0)
        *ret_key_new = log_has_data || had_state;
out:
    if (text)
        explicit_bzero(text, len);
    free(text);
    free(path);
    return r;
}

/* Moves the epoch up to now (bounded by EVOLVE_MAX), persisting the new key before use. */
static int epoch_update(struct seclog *log)
{
    struct seclog__sealer *s = &log->w_seal;
    int64_t now = clock_now_ms();
    uint64_t target = now > 0 ? (uint64_t)(now / s->epoch_ms) : 0, steps;
    uint8_t next[SECLOG_KEY_BYTES];
    int r;

    if (target <= s->epoch)
        return 0;
    steps = target - s->epoch < EVOLVE_MAX ? target - s->epoch : EVOLVE_MAX;
    memcpy(next, s->key, sizeof(next));
    for (uint64_t i = 0; i < steps; i++)
        seclog__seal_key_evolve(next);
    r = state_write(log, s->epoch + steps, next);
    if (r == 0) {
        memcpy(s->key, next, sizeof(next));
        s->epoch += steps;
    }
    explicit_bzero(next, sizeof(next));
    return r;
}

int seclog__seal_build(struct seclog *log, uint64_t seq, const uint8_t hash[SECLOG__HASH_BYTES],
                       uint8_t *buf, size_t size, size_t *ret_len)
{
    struct seclog__sealer *s = &log->w_seal;
    uint8_t mac[SECLOG__HASH_BYTES];
    int r;

    if (!s->enabled)
        return -ENOKEY;
    r = epoch_update(log);
    if (r < 0)
        return r; /* the old key stays; this batch is sealed by a later one */
    seclog__seal_mac(s->key, s->epoch, seq, hash, log->boot_id, mac);
    return seclog__seal_encode(seq, clock_now_ms(), log->boot_id, hash, s->epoch, mac, buf, size,
                               ret_len);
}

void seclog__seal_close(struct seclog *log)
{
    explicit_bzero(log->w_seal.key, sizeof(log->w_seal.key));
    log->w_seal.enabled = false;
}
