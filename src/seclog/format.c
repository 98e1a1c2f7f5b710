/* format: the bytes of the security log. CRC-32C, records (entries and seals), the seal's
 * HMAC message, and the segment header and footer blocks. docs/security-log.md is the
 * contract; tests/unit/seclog/test_format.c holds this file to the golden segment in
 * tests/data/seclog/.
 *
 * This file only turns structs into bytes and back. It does no I/O, keeps no state and knows
 * nothing of segments as files, keys or threads; every function is thread-safe.
 *
 * Invariants:
 *  1. Every integer on disk is little-endian and sits at the offset named below; the
 *     _Static_asserts tie those offsets to the sizes in seclog_internal.h.
 *  2. A record is 8-byte aligned in length, between SECLOG__RECORD_FIXED and
 *     SECLOG__RECORD_MAX bytes, and its CRC-32C covers bytes 8..len.
 *  3. seclog__record_parse() reads no byte outside [buf, buf + avail) and accepts a record only
 *     if its length, CRC, kind and every inner length agree exactly, so the pointers it returns
 *     are safe to use up to their lengths.
 *  4. An entry's chain hash covers everything of it but the len, crc and hash words:
 *     SHA-256(prev_hash || bytes 8..48 || bytes 80..len). A seal is not part of the chain.
 *  5. Reserved bytes are written as zero; readers ignore them (the block CRCs still cover
 *     them). */
#include "seclog/seclog_internal.h"

#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

/* ---- record layout (docs/security-log.md, "Record") ---------------------------------------- */
#define REC_LEN 0
#define REC_CRC 4
#define REC_KIND 8
#define REC_SEVERITY 9
#define REC_TYPE 10
#define REC_FLAGS 11
#define REC_TOPIC_LEN 12
#define REC_N_PARAMS 14
#define REC_SEQ 16
#define REC_TIME 24
#define REC_BOOT_ID 32
#define REC_HASH 48
#define REC_PAYLOAD 80
#define REC_CRC_FROM 8 /* the CRC covers the record from here to its end */
#define PARAM_HEAD 4   /* u16 key_len, u16 value_len before each key and value */

#define SEAL_EPOCH REC_PAYLOAD
#define SEAL_MAC (SEAL_EPOCH + 8)
#define SEAL_LEN (SEAL_MAC + SECLOG__HASH_BYTES)

_Static_assert(REC_BOOT_ID + SECLOG__BOOT_ID_BYTES == REC_HASH, "boot id ends at the hash");
_Static_assert(REC_HASH + SECLOG__HASH_BYTES == SECLOG__RECORD_FIXED, "hash ends the fixed part");
_Static_assert(REC_PAYLOAD == SECLOG__RECORD_FIXED, "payload follows the fixed part");
_Static_assert(SEAL_LEN == 120 && SEAL_LEN % SECLOG__ALIGN == 0, "a seal is 120 bytes, aligned");
_Static_assert(SECLOG__RECORD_MAX % SECLOG__ALIGN == 0, "the record limit is aligned");
_Static_assert(SECLOG__RECORD_MAX >=
                   SECLOG__RECORD_FIXED + SECLOG_TOPIC_MAX +
                       SECLOG_PARAMS_MAX * (PARAM_HEAD + SECLOG_KEY_MAX + SECLOG_VALUE_MAX),
               "the largest entry fits the record limit");
_Static_assert(SECLOG__RECORD_MAX <= UINT32_MAX, "the length word holds any record");
_Static_assert(SECLOG_TOPIC_MAX <= UINT16_MAX && SECLOG_VALUE_MAX <= UINT16_MAX,
               "topic and value lengths fit their u16 words");

/* ---- seal message ----------------------------------------------------------------------- */
#define SEAL_TAG "konn-seal-v1"
#define SEAL_TAG_LEN 12
#define SEAL_MSG_LEN (SEAL_TAG_LEN + 8 + 8 + SECLOG__HASH_BYTES + SECLOG__BOOT_ID_BYTES)
_Static_assert(sizeof(SEAL_TAG) - 1 == SEAL_TAG_LEN, "the seal tag is 12 bytes");
_Static_assert(SEAL_MSG_LEN == 76, "the header promises a 76-byte seal message");

/* ---- header block (docs/security-log.md, "Segment header") ------------------------------- */
#define HDR_MAGIC "KONNSLOG"
#define HDR_VERSION 8
#define HDR_SIZE 12 /* bytes of defined fields; readers ignore what lies past them */
#define HDR_COMPAT 16
#define HDR_INCOMPAT 20
#define HDR_SEGMENT_BYTES 24
#define HDR_CRC 28
#define HDR_INDEX 32
#define HDR_FIRST_SEQ 40
#define HDR_CREATED 48
#define HDR_BOOT_ID 56
#define HDR_PREV_HASH 72
#define HDR_SIZE_V1 (HDR_PREV_HASH + SECLOG__HASH_BYTES)
_Static_assert(sizeof(HDR_MAGIC) - 1 == HDR_VERSION, "the magic is 8 bytes");
_Static_assert(HDR_BOOT_ID + SECLOG__BOOT_ID_BYTES == HDR_PREV_HASH, "boot id, then prev hash");
_Static_assert(HDR_SIZE_V1 == 104 && HDR_SIZE_V1 <= SECLOG__HEADER_BYTES, "header fits");

/* ---- footer block (docs/security-log.md, "Segment footer") ------------------------------- */
#define FTR_MAGIC "KONNSEND"
#define FTR_SIZE 8
#define FTR_CRC 12
#define FTR_LAST_SEQ 16
#define FTR_RECORDS 24
#define FTR_FIRST_MS 32
#define FTR_LAST_MS 40
#define FTR_LAST_HASH 48
#define FTR_DATA_END 80
#define FTR_SIZE_V1 (FTR_DATA_END + 8)
_Static_assert(sizeof(FTR_MAGIC) - 1 == FTR_SIZE, "the magic is 8 bytes");
_Static_assert(FTR_LAST_HASH + SECLOG__HASH_BYTES == FTR_DATA_END, "last hash, then data end");
_Static_assert(FTR_SIZE_V1 == 88 && FTR_SIZE_V1 <= SECLOG__FOOTER_BYTES, "footer fits");

/* Feature flags this version knows. An unknown incompatible flag makes a segment unreadable;
 * unknown compatible flags are ignored. Version 1 defines none. */
#define INCOMPAT_KNOWN 0u

/* ---- little-endian helpers -------------------------------------------------------------- */

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

static size_t align_up(size_t n)
{
    return (n + SECLOG__ALIGN - 1) & ~(size_t)(SECLOG__ALIGN - 1);
}

/* ---- CRC-32C ---------------------------------------------------------------------------- */

/* Castagnoli polynomial 0x82F63B78 (reflected), one entry per byte value. */
static const uint32_t crc_table[256] = {
    0x00000000, 0xf26b8303, 0xe13b70f7, 0x1350f3f4, 0xc79a971f, 0x35f1141c, 0x26a1e7e8, 0xd4ca64eb,
    0x8ad958cf, 0x78b2dbcc, 0x6be22838, 0x9989ab3b, 0x4d43cfd0, 0xbf284cd3, 0xac78bf27, 0x5e133c24,
    0x105ec76f, 0xe235446c, 0xf165b798, 0x030e349b, 0xd7c45070, 0x25afd373, 0x36ff2087, 0xc494a384,
    0x9a879fa0, 0x68ec1ca3, 0x7bbcef57, 0x89d76c54, 0x5d1d08bf, 0xaf768bbc, 0xbc267848, 0x4e4dfb4b,
    0x20bd8ede, 0xd2d60ddd, 0xc186fe29, 0x33ed7d2a, 0xe72719c1, 0x154c9ac2, 0x061c6936, 0xf477ea35,
    0xaa64d611, 0x580f5512, 0x4b5fa6e6, 0xb93425e5, 0x6dfe410e, 0x9f95c20d, 0x8cc531f9, 0x7eaeb2fa,
    0x30e349b1, 0xc288cab2, 0xd1d83946, 0x23b3ba45, 0xf779deae, 0x05125dad, 0x1642ae59, 0xe4292d5a,
    0xba3a117e, 0x4851927d, 0x5b016189, 0xa96ae28a, 0x7da08661, 0x8fcb0562, 0x9c9bf696, 0x6ef07595,
    0x417b1dbc, 0xb3109ebf, 0xa0406d4b, 0x522bee48, 0x86e18aa3, 0x748a09a0, 0x67dafa54, 0x95b17957,
    0xcba24573, 0x39c9c670, 0x2a993584, 0xd8f2b687, 0x0c38d26c, 0xfe53516f, 0xed03a29b, 0x1f682198,
    0x5125dad3, 0xa34e59d0, 0xb01eaa24, 0x42752927, 0x96bf4dcc, 0x64d4cecf, 0x77843d3b, 0x85efbe38,
    0xdbfc821c, 0x2997011f, 0x3ac7f2eb, 0xc8ac71e8, 0x1c661503, 0xee0d9600, 0xfd5d65f4, 0x0f36e6f7,
    0x61c69362, 0x93ad1061, 0x80fde395, 0x72966096, 0xa65c047d, 0x5437877e, 0x4767748a, 0xb50cf789,
    0xeb1fcbad, 0x197448ae, 0x0a24bb5a, 0xf84f3859, 0x2c855cb2, 0xdeeedfb1, 0xcdbe2c45, 0x3fd5af46,
    0x7198540d, 0x83f3d70e, 0x90a324fa, 0x62c8a7f9, 0xb602c312, 0x44694011, 0x5739b3e5, 0xa55230e6,
    0xfb410cc2, 0x092a8fc1, 0x1a7a7c35, 0xe811ff36, 0x3cdb9bdd, 0xceb018de, 0xdde0eb2a, 0x2f8b6829,
    0x82f63b78, 0x709db87b, 0x63cd4b8f, 0x91a6c88c, 0x456cac67, 0xb7072f64, 0xa457dc90, 0x563c5f93,
    0x082f63b7, 0xfa44e0b4, 0xe9141340, 0x1b7f9043, 0xcfb5f4a8, 0x3dde77ab, 0x2e8e845f, 0xdce5075c,
    0x92a8fc17, 0x60c37f14, 0x73938ce0, 0x81f80fe3, 0x55326b08, 0xa759e80b, 0xb4091bff, 0x466298fc,
    0x1871a4d8, 0xea1a27db, 0xf94ad42f, 0x0b21572c, 0xdfeb33c7, 0x2d80b0c4, 0x3ed04330, 0xccbbc033,
    0xa24bb5a6, 0x502036a5, 0x4370c551, 0xb11b4652, 0x65d122b9, 0x97baa1ba, 0x84ea524e, 0x7681d14d,
    0x2892ed69, 0xdaf96e6a, 0xc9a99d9e, 0x3bc21e9d, 0xef087a76, 0x1d63f975, 0x0e330a81, 0xfc588982,
    0xb21572c9, 0x407ef1ca, 0x532e023e, 0xa145813d, 0x758fe5d6, 0x87e466d5, 0x94b49521, 0x66df1622,
    0x38cc2a06, 0xcaa7a905, 0xd9f75af1, 0x2b9cd9f2, 0xff56bd19, 0x0d3d3e1a, 0x1e6dcdee, 0xec064eed,
    0xc38d26c4, 0x31e6a5c7, 0x22b65633, 0xd0ddd530, 0x0417b1db, 0xf67c32d8, 0xe52cc12c, 0x1747422f,
    0x49547e0b, 0xbb3ffd08, 0xa86f0efc, 0x5a048dff, 0x8ecee914, 0x7ca56a17, 0x6ff599e3, 0x9d9e1ae0,
    0xd3d3e1ab, 0x21b862a8, 0x32e8915c, 0xc083125f, 0x144976b4, 0xe622f5b7, 0xf5720643, 0x07198540,
    0x590ab964, 0xab613a67, 0xb831c993, 0x4a5a4a90, 0x9e902e7b, 0x6cfbad78, 0x7fab5e8c, 0x8dc0dd8f,
    0xe330a81a, 0x115b2b19, 0x020bd8ed, 0xf0605bee, 0x24aa3f05, 0xd6c1bc06, 0xc5914ff2, 0x37faccf1,
    0x69e9f0d5, 0x9b8273d6, 0x88d28022, 0x7ab90321, 0xae7367ca, 0x5c18e4c9, 0x4f48173d, 0xbd23943e,
    0xf36e6f75, 0x0105ec76, 0x12551f82, 0xe03e9c81, 0x34f4f86a, 0xc69f7b69, 0xd5cf889d, 0x27a40b9e,
    0x79b737ba, 0x8bdcb4b9, 0x988c474d, 0x6ae7c44e, 0xbe2da0a5, 0x4c4623a6, 0x5f16d052, 0xad7d5351,
};

uint32_t seclog__crc32c(uint32_t crc, const void *data, size_t len)
{
    const uint8_t *p = data;

    if (!p)
        return crc;
    crc = ~crc;
    for (size_t i = 0; i < len; i++)
        crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* ---- records ---------------------------------------------------------------------------- */

static bool entry_is_valid(const struct seclog_entry *e, size_t *ret_len)
{
    size_t topic_len, len;

    if (!e || !e->topic || e->severity >= SECLOG_SEVERITY_MAX || e->type >= SECLOG_TYPE_MAX ||
        e->n_params > SECLOG_PARAMS_MAX || (e->n_params > 0 && !e->params))
        return false;
    topic_len = strnlen(e->topic, SECLOG_TOPIC_MAX + 1);
    if (topic_len == 0 || topic_len > SECLOG_TOPIC_MAX)
        return false;
    len = SECLOG__RECORD_FIXED + topic_len;
    for (size_t i = 0; i < e->n_params; i++) {
        const struct seclog_param *prm = &e->params[i];
        size_t key_len, value_len;

        if (!prm->key || !prm->value)
            return false;
        key_len = strnlen(prm->key, SECLOG_KEY_MAX + 1);
        value_len = strnlen(prm->value, SECLOG_VALUE_MAX + 1);
        if (key_len == 0 || key_len > SECLOG_KEY_MAX || value_len > SECLOG_VALUE_MAX)
            return false;
        len += PARAM_HEAD + key_len + value_len;
    }
    *ret_len = align_up(len);
    return true;
}

int seclog__entry_encode(const struct seclog_entry *e, int64_t time_ms,
                         const uint8_t boot_id[SECLOG__BOOT_ID_BYTES], uint8_t *buf, size_t size,
                         size_t *ret_len)
{
    size_t len, topic_len, off;

    if (!boot_id || !buf || !ret_len || !entry_is_valid(e, &len))
        return -EINVAL;
    if (size < len)
        return -ENOBUFS;
    memset(buf, 0, len);
    topic_len = strlen(e->topic);
    put32(buf + REC_LEN, (uint32_t)len);
    buf[REC_KIND] = SECLOG__KIND_ENTRY;
    buf[REC_SEVERITY] = (uint8_t)e->severity;
    buf[REC_TYPE] = (uint8_t)e->type;
    put16(buf + REC_TOPIC_LEN, (uint16_t)topic_len);
    put16(buf + REC_N_PARAMS, (uint16_t)e->n_params);
    put64(buf + REC_TIME, (uint64_t)time_ms);
    memcpy(buf + REC_BOOT_ID, boot_id, SECLOG__BOOT_ID_BYTES);
    memcpy(buf + REC_PAYLOAD, e->topic, topic_len);
    off = REC_PAYLOAD + topic_len;
    for (size_t i = 0; i < e->n_params; i++) {
        size_t key_len = strlen(e->params[i].key);
        size_t value_len = strlen(e->params[i].value);

        put16(buf + off, (uint16_t)key_len);
        put16(buf + off + 2, (uint16_t)value_len);
        off += PARAM_HEAD;
        memcpy(buf + off, e->params[i].key, key_len);
        off += key_len;
        memcpy(buf + off, e->params[i].value, value_len);
        off += value_len;
    }
    *ret_len = len;
    return 0;
}

/* SHA-256(prev_hash || rec[8..48) || rec[80..len)). False only if OpenSSL fails to allocate. */
static bool chain_hash(const uint8_t *rec, size_t len, const uint8_t prev_hash[SECLOG__HASH_BYTES],
                       uint8_t out[SECLOG__HASH_BYTES])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
              EVP_DigestUpdate(ctx, prev_hash, SECLOG__HASH_BYTES) == 1 &&
              EVP_DigestUpdate(ctx, rec + REC_CRC_FROM, REC_HASH - REC_CRC_FROM) == 1 &&
              EVP_DigestUpdate(ctx, rec + REC_PAYLOAD, len - REC_PAYLOAD) == 1 &&
              EVP_DigestFinal_ex(ctx, out, NULL) == 1;

    EVP_MD_CTX_free(ctx);
    return ok;
}

void seclog__record_finish(uint8_t *rec, size_t len, uint64_t seq,
                           const uint8_t prev_hash[SECLOG__HASH_BYTES],
                           uint8_t ret_hash[SECLOG__HASH_BYTES])
{
    uint8_t hash[SECLOG__HASH_BYTES];

    if (!rec || !prev_hash || !ret_hash || len < SECLOG__RECORD_FIXED || len > SECLOG__RECORD_MAX)
        return;
    put64(rec + REC_SEQ, seq);
    /* An all-zero hash never chains (SHA-256 has no known zero preimage), so a failed
     * allocation shows up at verification instead of passing silently. */
    if (!chain_hash(rec, len, prev_hash, hash))
        memset(hash, 0, sizeof(hash));
    memcpy(rec + REC_HASH, hash, SECLOG__HASH_BYTES);
    memcpy(ret_hash, hash, SECLOG__HASH_BYTES);
    put32(rec + REC_CRC, seclog__crc32c(0, rec + REC_CRC_FROM, len - REC_CRC_FROM));
}

int seclog__seal_encode(uint64_t seq, int64_t time_ms, const uint8_t boot_id[SECLOG__BOOT_ID_BYTES],
                        const uint8_t hash[SECLOG__HASH_BYTES], uint64_t epoch,
                        const uint8_t mac[SECLOG__HASH_BYTES], uint8_t *buf, size_t size,
                        size_t *ret_len)
{
    /* seq 0 is allowed here (the engine sizes seals with it); parse refuses it on disk. */
    if (!boot_id || !hash || !mac || !buf || !ret_len)
        return -EINVAL;
    if (size < SEAL_LEN)
        return -ENOBUFS;
    memset(buf, 0, SEAL_LEN);
    put32(buf + REC_LEN, SEAL_LEN);
    buf[REC_KIND] = SECLOG__KIND_SEAL;
    put64(buf + REC_SEQ, seq);
    put64(buf + REC_TIME, (uint64_t)time_ms);
    memcpy(buf + REC_BOOT_ID, boot_id, SECLOG__BOOT_ID_BYTES);
    memcpy(buf + REC_HASH, hash, SECLOG__HASH_BYTES);
    put64(buf + SEAL_EPOCH, epoch);
    memcpy(buf + SEAL_MAC, mac, SECLOG__HASH_BYTES);
    put32(buf + REC_CRC, seclog__crc32c(0, buf + REC_CRC_FROM, SEAL_LEN - REC_CRC_FROM));
    *ret_len = SEAL_LEN;
    return 0;
}

size_t seclog__seal_message(uint64_t epoch, uint64_t seq, const uint8_t hash[SECLOG__HASH_BYTES],
                            const uint8_t boot_id[SECLOG__BOOT_ID_BYTES], uint8_t *out)
{
    if (!hash || !boot_id || !out)
        return 0;
    memcpy(out, SEAL_TAG, SEAL_TAG_LEN);
    put64(out + SEAL_TAG_LEN, epoch);
    put64(out + SEAL_TAG_LEN + 8, seq);
    memcpy(out + SEAL_TAG_LEN + 16, hash, SECLOG__HASH_BYTES);
    memcpy(out + SEAL_TAG_LEN + 16 + SECLOG__HASH_BYTES, boot_id, SECLOG__BOOT_ID_BYTES);
    return SEAL_MSG_LEN;
}

/* Checks an entry's payload: topic, then exactly n_params (key, value) pairs, then zero
 * padding to len. Text must hold no NUL byte, since readers hand it out as C strings. */
static int entry_payload_check(const uint8_t *rec, uint32_t len, struct seclog__parsed *p)
{
    size_t off = REC_PAYLOAD + p->topic_len;

    if (p->topic_len == 0 || p->topic_len > SECLOG_TOPIC_MAX || p->n_params > SECLOG_PARAMS_MAX ||
        p->severity >= SECLOG_SEVERITY_MAX || p->type >= SECLOG_TYPE_MAX || off > len ||
        memchr(rec + REC_PAYLOAD, 0, p->topic_len))
        return -EBADMSG;
    p->topic = rec + REC_PAYLOAD;
    p->params = rec + off;
    for (uint16_t i = 0; i < p->n_params; i++) {
        size_t key_len, value_len;

        if (len - off < PARAM_HEAD)
            return -EBADMSG;
        key_len = get16(rec + off);
        value_len = get16(rec + off + 2);
        off += PARAM_HEAD;
        if (key_len == 0 || key_len > SECLOG_KEY_MAX || value_len > SECLOG_VALUE_MAX ||
            len - off < key_len + value_len || memchr(rec + off, 0, key_len + value_len))
            return -EBADMSG;
        off += key_len + value_len;
    }
    p->params_len = off - (size_t)(p->params - rec);
    if (align_up(off) != len)
        return -EBADMSG;
    for (size_t i = off; i < len; i++)
        if (rec[i] != 0)
            return -EBADMSG;
    return 0;
}

int seclog__record_parse(const uint8_t *buf, size_t avail, struct seclog__parsed *ret)
{
    struct seclog__parsed p = {0};
    uint32_t len;
    int r;

    if (!buf || !ret)
        return -EINVAL;
    if (avail < 4)
        return -ENODATA;
    len = get32(buf + REC_LEN);
    if (len == 0)
        return -ENODATA;
    if (len < SECLOG__RECORD_FIXED || len % SECLOG__ALIGN != 0 || len > SECLOG__RECORD_MAX ||
        len > avail)
        return -EBADMSG;
    if (seclog__crc32c(0, buf + REC_CRC_FROM, len - REC_CRC_FROM) != get32(buf + REC_CRC))
        return -EBADMSG;
    p.kind = buf[REC_KIND];
    p.len = len;
    p.seq = get64(buf + REC_SEQ);
    p.time_ms = (int64_t)get64(buf + REC_TIME);
    memcpy(p.boot_id, buf + REC_BOOT_ID, SECLOG__BOOT_ID_BYTES);
    p.severity = buf[REC_SEVERITY];
    p.type = buf[REC_TYPE];
    p.flags = buf[REC_FLAGS];
    memcpy(p.hash, buf + REC_HASH, SECLOG__HASH_BYTES);
    p.topic_len = get16(buf + REC_TOPIC_LEN);
    p.n_params = get16(buf + REC_N_PARAMS);
    p.raw = buf;
    if (p.seq == 0)
        return -EBADMSG;
    if (p.kind == SECLOG__KIND_ENTRY) {
        r = entry_payload_check(buf, len, &p);
        if (r < 0)
            return r;
    } else if (p.kind == SECLOG__KIND_SEAL) {
        if (len != SEAL_LEN || p.topic_len != 0 || p.n_params != 0)
            return -EBADMSG;
        p.epoch = get64(buf + SEAL_EPOCH);
        memcpy(p.mac, buf + SEAL_MAC, SECLOG__HASH_BYTES);
    } else {
        return -EBADMSG;
    }
    *ret = p;
    return 0;
}

bool seclog__chain_check(const struct seclog__parsed *p,
                         const uint8_t prev_hash[SECLOG__HASH_BYTES])
{
    uint8_t hash[SECLOG__HASH_BYTES];

    if (!p || !p->raw || !prev_hash || p->kind != SECLOG__KIND_ENTRY ||
        p->len < SECLOG__RECORD_FIXED)
        return false;
    if (!chain_hash(p->raw, p->len, prev_hash, hash))
        return false;
    return memcmp(hash, p->hash, SECLOG__HASH_BYTES) == 0;
}

/* Copies n bytes as a NUL-terminated string at strbuf + *used. */
static const char *copy_str(char *strbuf, size_t *used, const uint8_t *src, size_t n)
{
    char *dst = strbuf + *used;

    memcpy(dst, src, n);
    dst[n] = '\0';
    *used += n + 1;
    return dst;
}

int seclog__parsed_to_record(const struct seclog__parsed *p, struct seclog_record *ret,
                             char *strbuf, size_t strbuf_size)
{
    struct seclog_record rec = {0};
    const uint8_t *q;
    size_t need, used = 0;

    if (!p || !ret || !strbuf || p->kind != SECLOG__KIND_ENTRY || !p->topic ||
        p->n_params > SECLOG_PARAMS_MAX || (p->n_params > 0 && !p->params))
        return -EINVAL;
    /* Every key and value gets a NUL; the length words they replace cover those bytes. */
    need = (size_t)p->topic_len + 1 + p->params_len;
    if (need > strbuf_size)
        return -ENOBUFS;
    rec.seq = p->seq;
    rec.time_ms = p->time_ms;
    memcpy(rec.boot_id, p->boot_id, SECLOG__BOOT_ID_BYTES);
    rec.severity = (enum seclog_severity)p->severity;
    rec.type = (enum seclog_type)p->type;
    rec.topic = copy_str(strbuf, &used, p->topic, p->topic_len);
    q = p->params;
    for (uint16_t i = 0; i < p->n_params; i++) {
        size_t key_len, value_len;

        if ((size_t)(q - p->params) + PARAM_HEAD > p->params_len)
            return -EINVAL;
        key_len = get16(q);
        value_len = get16(q + 2);
        q += PARAM_HEAD;
        if ((size_t)(q - p->params) + key_len + value_len > p->params_len)
            return -EINVAL;
        rec.params[i].key = copy_str(strbuf, &used, q, key_len);
        q += key_len;
        rec.params[i].value = copy_str(strbuf, &used, q, value_len);
        q += value_len;
    }
    rec.n_params = p->n_params;
    *ret = rec;
    return 0;
}

/* ---- header and footer blocks ----------------------------------------------------------- */

static uint32_t block_crc(const uint8_t *block, size_t size, size_t crc_off)
{
    static const uint8_t zero[4];
    uint32_t crc = seclog__crc32c(0, block, crc_off);

    crc = seclog__crc32c(crc, zero, sizeof(zero));
    return seclog__crc32c(crc, block + crc_off + 4, size - crc_off - 4);
}

void seclog__header_encode(const struct seclog__seg_header *h, uint8_t out[SECLOG__HEADER_BYTES])
{
    if (!h || !out)
        return;
    memset(out, 0, SECLOG__HEADER_BYTES);
    memcpy(out, HDR_MAGIC, HDR_VERSION);
    put32(out + HDR_VERSION, h->version);
    put32(out + HDR_SIZE, HDR_SIZE_V1);
    put32(out + HDR_COMPAT, h->compat_flags);
    put32(out + HDR_INCOMPAT, h->incompat_flags);
    put32(out + HDR_SEGMENT_BYTES, h->segment_bytes);
    put64(out + HDR_INDEX, h->index);
    put64(out + HDR_FIRST_SEQ, h->first_seq);
    put64(out + HDR_CREATED, (uint64_t)h->created_ms);
    memcpy(out + HDR_BOOT_ID, h->boot_id, SECLOG__BOOT_ID_BYTES);
    memcpy(out + HDR_PREV_HASH, h->prev_hash, SECLOG__HASH_BYTES);
    put32(out + HDR_CRC, block_crc(out, SECLOG__HEADER_BYTES, HDR_CRC));
}

int seclog__header_decode(const uint8_t in[SECLOG__HEADER_BYTES], struct seclog__seg_header *ret)
{
    struct seclog__seg_header h = {0};
    uint32_t size;

    if (!in || !ret)
        return -EINVAL;
    if (memcmp(in, HDR_MAGIC, HDR_VERSION) != 0 ||
        get32(in + HDR_CRC) != block_crc(in, SECLOG__HEADER_BYTES, HDR_CRC))
        return -EBADMSG;
    h.version = get32(in + HDR_VERSION);
    size = get32(in + HDR_SIZE);
    h.compat_flags = get32(in + HDR_COMPAT);
    h.incompat_flags = get32(in + HDR_INCOMPAT);
    h.segment_bytes = get32(in + HDR_SEGMENT_BYTES);
    h.index = get64(in + HDR_INDEX);
    h.first_seq = get64(in + HDR_FIRST_SEQ);
    h.created_ms = (int64_t)get64(in + HDR_CREATED);
    memcpy(h.boot_id, in + HDR_BOOT_ID, SECLOG__BOOT_ID_BYTES);
    memcpy(h.prev_hash, in + HDR_PREV_HASH, SECLOG__HASH_BYTES);
    if (h.version == 0 || h.version > SECLOG__FORMAT_VERSION || size < HDR_SIZE_V1 ||
        size > SECLOG__HEADER_BYTES || (h.incompat_flags & ~INCOMPAT_KNOWN) != 0 ||
        h.segment_bytes % 4096 != 0 || h.segment_bytes < SECLOG__SEGMENT_BYTES_MIN ||
        h.first_seq == 0)
        return -EBADMSG;
    *ret = h;
    return 0;
}

void seclog__footer_encode(const struct seclog__seg_footer *f, uint8_t out[SECLOG__FOOTER_BYTES])
{
    if (!f || !out)
        return;
    memset(out, 0, SECLOG__FOOTER_BYTES);
    memcpy(out, FTR_MAGIC, FTR_SIZE);
    put32(out + FTR_SIZE, FTR_SIZE_V1);
    put64(out + FTR_LAST_SEQ, f->last_seq);
    put64(out + FTR_RECORDS, f->records);
    put64(out + FTR_FIRST_MS, (uint64_t)f->first_ms);
    put64(out + FTR_LAST_MS, (uint64_t)f->last_ms);
    memcpy(out + FTR_LAST_HASH, f->last_hash, SECLOG__HASH_BYTES);
    put64(out + FTR_DATA_END, f->data_end);
    put32(out + FTR_CRC, block_crc(out, SECLOG__FOOTER_BYTES, FTR_CRC));
}

int seclog__footer_decode(const uint8_t in[SECLOG__FOOTER_BYTES], struct seclog__seg_footer *ret)
{
    struct seclog__seg_footer f = {0};
    uint32_t size;

    if (!in || !ret)
        return -EINVAL;
    if (memcmp(in, FTR_MAGIC, FTR_SIZE) != 0 ||
        get32(in + FTR_CRC) != block_crc(in, SECLOG__FOOTER_BYTES, FTR_CRC))
        return -EBADMSG;
    size = get32(in + FTR_SIZE);
    f.last_seq = get64(in + FTR_LAST_SEQ);
    f.records = get64(in + FTR_RECORDS);
    f.first_ms = (int64_t)get64(in + FTR_FIRST_MS);
    f.last_ms = (int64_t)get64(in + FTR_LAST_MS);
    memcpy(f.last_hash, in + FTR_LAST_HASH, SECLOG__HASH_BYTES);
    f.data_end = get64(in + FTR_DATA_END);
    if (size < FTR_SIZE_V1 || size > SECLOG__FOOTER_BYTES || f.data_end < SECLOG__HEADER_BYTES ||
        f.data_end % SECLOG__ALIGN != 0 || (f.records == 0) != (f.last_seq == 0) ||
        f.records > f.last_seq)
        return -EBADMSG;
    *ret = f;
    return 0;
}
