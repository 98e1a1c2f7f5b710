/* format: the bytes of the security log. Records (entries and seals) with their chain hash,
 * the seal's HMAC message, and the segment header and footer blocks; CRC-32C is crc32c.c's.
 * docs/security-log.md is the contract; tests/unit/seclog/test_format.c holds this file to
 * the golden segment in tests/data/seclog/.
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

/* ---- records ---------------------------------------------------------------------------- */

int seclog__entry_measure(const struct seclog_entry *e, struct seclog__entry_lens *ret)
{
    size_t len;

    if (!e || !e->topic || e->severity >= SECLOG_SEVERITY_MAX || e->type >= SECLOG_TYPE_MAX ||
        e->n_params > SECLOG_PARAMS_MAX || (e->n_params > 0 && !e->params))
        return -EINVAL;
    ret->topic = strnlen(e->topic, SECLOG_TOPIC_MAX + 1);
    if (ret->topic == 0 || ret->topic > SECLOG_TOPIC_MAX)
        return -EINVAL;
    len = SECLOG__RECORD_FIXED + ret->topic;
    for (size_t i = 0; i < e->n_params; i++) {
        const struct seclog_param *prm = &e->params[i];
        size_t key_len, value_len;

        if (!prm->key || !prm->value)
            return -EINVAL;
        key_len = strnlen(prm->key, SECLOG_KEY_MAX + 1);
        value_len = strnlen(prm->value, SECLOG_VALUE_MAX + 1);
        if (key_len == 0 || key_len > SECLOG_KEY_MAX || value_len > SECLOG_VALUE_MAX)
            return -EINVAL;
        ret->key[i] = (uint16_t)key_len;
        ret->value[i] = (uint16_t)value_len;
        len += PARAM_HEAD + key_len + value_len;
    }
    ret->len = align_up(len);
    return 0;
}

void seclog__entry_encode_measured(const struct seclog_entry *e,
                                   const struct seclog__entry_lens *lens, int64_t time_ms,
                                   const uint8_t boot_id[SECLOG__BOOT_ID_BYTES], uint8_t *buf)
{
    size_t off;

    /* The fixed part and the padding are zero; the payload covers everything between. */
    memset(buf, 0, SECLOG__RECORD_FIXED);
    memset(buf + lens->len - SECLOG__ALIGN, 0, SECLOG__ALIGN);
    put32(buf + REC_LEN, (uint32_t)lens->len);
    buf[REC_KIND] = SECLOG__KIND_ENTRY;
    buf[REC_SEVERITY] = (uint8_t)e->severity;
    buf[REC_TYPE] = (uint8_t)e->type;
    put16(buf + REC_TOPIC_LEN, (uint16_t)lens->topic);
    put16(buf + REC_N_PARAMS, (uint16_t)e->n_params);
    put64(buf + REC_TIME, (uint64_t)time_ms);
    memcpy(buf + REC_BOOT_ID, boot_id, SECLOG__BOOT_ID_BYTES);
    memcpy(buf + REC_PAYLOAD, e->topic, lens->topic);
    off = REC_PAYLOAD + lens->topic;
    for (size_t i = 0; i < e->n_params; i++) {
        put16(buf + off, lens->key[i]);
        put16(buf + off + 2, lens->value[i]);
        off += PARAM_HEAD;
        memcpy(buf + off, e->params[i].key, lens->key[i]);
        off += lens->key[i];
        memcpy(buf + off, e->params[i].value, lens->value[i]);
        off += lens->value[i];
    }
}

int seclog__entry_encode(const struct seclog_entry *e, int64_t time_ms,
                         const uint8_t boot_id[SECLOG__BOOT_ID_BYTES], uint8_t *buf, size_t size,
                         size_t *ret_len)
{
    struct seclog__entry_lens lens;

    if (!boot_id || !buf || !ret_len || seclog__entry_measure(e, &lens) < 0)
        return -EINVAL;
    if (size < lens.len)
        return -ENOBUFS;
    seclog__entry_encode_measured(e, &lens, time_ms, boot_id, buf);
    *ret_len = lens.len;
    return 0;
}

int seclog__hasher_init(struct seclog__hasher *h)
{
    h->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    h->ctx = EVP_MD_CTX_new();
    if (!h->md || !h->ctx) {
        seclog__hasher_done(h);
        return -ENOMEM;
    }
    return 0;
}

void seclog__hasher_done(struct seclog__hasher *h)
{
    if (!h)
        return;
    EVP_MD_CTX_free(h->ctx);
    EVP_MD_free(h->md);
    h->ctx = NULL;
    h->md = NULL;
}

/* SHA-256(prev_hash || rec[8..48) || rec[80..len)). With a hasher its context is reused (a
 * fresh context and an implicit fetch per record cost about as much as the hash itself);
 * without one a context is made for this call. False only if OpenSSL fails. */
static bool chain_hash(struct seclog__hasher *h, const uint8_t *rec, size_t len,
                       const uint8_t prev_hash[SECLOG__HASH_BYTES], uint8_t out[SECLOG__HASH_BYTES])
{
    struct seclog__hasher own = {0};
    bool ok;

    if (!h || !h->ctx) {
        if (seclog__hasher_init(&own) < 0)
            return false;
        h = &own;
    }
    ok = EVP_DigestInit_ex2(h->ctx, h->md, NULL) == 1 &&
         EVP_DigestUpdate(h->ctx, prev_hash, SECLOG__HASH_BYTES) == 1 &&
         EVP_DigestUpdate(h->ctx, rec + REC_CRC_FROM, REC_HASH - REC_CRC_FROM) == 1 &&
         EVP_DigestUpdate(h->ctx, rec + REC_PAYLOAD, len - REC_PAYLOAD) == 1 &&
         EVP_DigestFinal_ex(h->ctx, out, NULL) == 1;
    seclog__hasher_done(&own);
    return ok;
}

void seclog__record_finish_with(struct seclog__hasher *h, uint8_t *rec, size_t len, uint64_t seq,
                                const uint8_t prev_hash[SECLOG__HASH_BYTES],
                                uint8_t ret_hash[SECLOG__HASH_BYTES])
{
    uint8_t hash[SECLOG__HASH_BYTES];

    if (!rec || !prev_hash || !ret_hash || len < SECLOG__RECORD_FIXED || len > SECLOG__RECORD_MAX)
        return;
    put64(rec + REC_SEQ, seq);
    /* An all-zero hash never chains (SHA-256 has no known zero preimage), so a failed
     * allocation shows up at verification instead of passing silently. */
    if (!chain_hash(h, rec, len, prev_hash, hash))
        memset(hash, 0, sizeof(hash));
    memcpy(rec + REC_HASH, hash, SECLOG__HASH_BYTES);
    memcpy(ret_hash, hash, SECLOG__HASH_BYTES);
    put32(rec + REC_CRC, seclog__crc32c(0, rec + REC_CRC_FROM, len - REC_CRC_FROM));
}

void seclog__record_finish(uint8_t *rec, size_t len, uint64_t seq,
                           const uint8_t prev_hash[SECLOG__HASH_BYTES],
                           uint8_t ret_hash[SECLOG__HASH_BYTES])
{
    seclog__record_finish_with(NULL, rec, len, seq, prev_hash, ret_hash);
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

bool seclog__chain_check_with(struct seclog__hasher *h, const struct seclog__parsed *p,
                              const uint8_t prev_hash[SECLOG__HASH_BYTES])
{
    uint8_t hash[SECLOG__HASH_BYTES];

    if (!p || !p->raw || !prev_hash || p->kind != SECLOG__KIND_ENTRY ||
        p->len < SECLOG__RECORD_FIXED)
        return false;
    if (!chain_hash(h, p->raw, p->len, prev_hash, hash))
        return false;
    return memcmp(hash, p->hash, SECLOG__HASH_BYTES) == 0;
}

bool seclog__chain_check(const struct seclog__parsed *p,
                         const uint8_t prev_hash[SECLOG__HASH_BYTES])
{
    return seclog__chain_check_with(NULL, p, prev_hash);
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
