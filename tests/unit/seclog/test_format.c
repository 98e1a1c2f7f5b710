/* Unit tests for src/seclog/format.c and crc32c.c: CRC-32C (the fast versions against the
 * bytewise reference), record encoding and hostile-input parsing,
 * seals, header and footer blocks, and the golden segment tests/data/seclog/golden-v1.seg
 * that docs/security-log.md describes byte by byte. KONN_SOURCE_DIR is the repository root.
 *
 * The golden file is rebuilt here from fixed inputs and must match byte for byte, so a change
 * of the format fails this test until format, doc and golden file change together. To write
 * a new golden file: KONN_SECLOG_GOLDEN_OUT=path ./test_seclog_format. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base/base.h"
#include "seclog/seclog_internal.h"

#define GOLDEN_PATH KONN_SOURCE_DIR "/tests/data/seclog/golden-v1.seg"
#define GOLDEN_BYTES (16 * 1024)
#define GOLDEN_CREATED_MS 1764403200000LL /* 2025-11-29T08:00:00Z */

static const uint8_t boot_id[SECLOG__BOOT_ID_BYTES] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};
static const uint8_t zero_hash[SECLOG__HASH_BYTES];

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
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

/* Makes the CRC right again after a test changed bytes, so that parse sees the change. */
static void recrc(uint8_t *rec)
{
    uint32_t len = get32(rec);

    put32(rec + 4, seclog__crc32c(0, rec + 8, len - 8));
}

/* Encodes and finishes one entry; returns its length. */
static size_t entry(uint8_t *buf, size_t size, const char *topic, const struct seclog_param *params,
                    size_t n, uint64_t seq, int64_t time_ms, const uint8_t prev[32],
                    uint8_t hash[32])
{
    struct seclog_entry e = {.severity = SECLOG_SEVERITY_WARNING,
                             .type = SECLOG_TYPE_SECURITY,
                             .topic = topic,
                             .params = params,
                             .n_params = n};
    size_t len = 0;

    assert_int_equal(seclog__entry_encode(&e, time_ms, boot_id, buf, size, &len), 0);
    seclog__record_finish(buf, len, seq, prev, hash);
    return len;
}

static void crc32c_matches_the_castagnoli_check_value(void **state)
{
    assert_int_equal(seclog__crc32c(0, "123456789", 9), 0xe3069283);
    assert_int_equal(seclog__crc32c(seclog__crc32c(0, "1234", 4), "56789", 5), 0xe3069283);
    assert_int_equal(seclog__crc32c(0, "", 0), 0);
}

/* Random data at every alignment and many lengths, whole and split in two calls: slice-by-8,
 * the SSE4.2 version (where the CPU has it) and the dispatcher all equal the bytewise one. */
static void crc32c_fast_versions_match_the_bytewise_reference(void **state)
{
    enum { DATA = 4096 + 64 };
    uint8_t *data = malloc(DATA);
    bool hw = seclog__crc32c_hw_is_available();
    size_t lens[] = {0, 1, 3, 7, 8, 9, 15, 16, 17, 63, 64, 65, 120, 255, 256, 257, 1000, 4096};

    assert_non_null(data);
    assert_int_equal(rand_bytes(data, DATA), 0);
    for (size_t off = 0; off < 16; off++) {
        for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
            const uint8_t *p = data + off;
            size_t len = lens[i], cut = len / 3;
            uint32_t want = seclog__crc32c_bytewise(0, p, len);
            uint32_t seed = 0x12345678u + (uint32_t)off;

            assert_int_equal(seclog__crc32c_sliced(0, p, len), want);
            assert_int_equal(seclog__crc32c(0, p, len), want);
            assert_int_equal(
                seclog__crc32c_sliced(seclog__crc32c_sliced(0, p, cut), p + cut, len - cut), want);
            /* A running CRC (as the header and footer blocks use) from any start value. */
            assert_int_equal(seclog__crc32c_sliced(seed, p, len),
                             seclog__crc32c_bytewise(seed, p, len));
            if (!hw)
                continue;
            assert_int_equal(seclog__crc32c_hw(0, p, len), want);
            assert_int_equal(seclog__crc32c_hw(seclog__crc32c_hw(0, p, cut), p + cut, len - cut),
                             want);
            assert_int_equal(seclog__crc32c_hw(seed, p, len),
                             seclog__crc32c_bytewise(seed, p, len));
        }
    }
    assert_int_equal(seclog__crc32c_bytewise(0, "123456789", 9), 0xe3069283);
    assert_int_equal(seclog__crc32c_sliced(0, "123456789", 9), 0xe3069283);
    free(data);
}

/* One hasher reused over many records gives the hashes a fresh context per record gives. */
static void record_finish_with_a_reused_hasher_equals_one_shot(void **state)
{
    struct seclog__hasher h = {0};
    uint8_t a[256], b[256], prev_a[SECLOG__HASH_BYTES] = {0}, prev_b[SECLOG__HASH_BYTES] = {0};
    uint8_t hash_a[SECLOG__HASH_BYTES], hash_b[SECLOG__HASH_BYTES];
    struct seclog__parsed p;

    assert_int_equal(seclog__hasher_init(&h), 0);
    for (uint64_t seq = 1; seq <= 50; seq++) {
        size_t len = 0;
        char v[32];
        struct seclog_param prm = {"N", v};
        struct seclog_entry e = {.topic = "TEST/HASH", .params = &prm, .n_params = 1};

        (void)snprintf(v, sizeof(v), "%" PRIu64, seq * 7919);
        assert_int_equal(seclog__entry_encode(&e, 1000, boot_id, a, sizeof(a), &len), 0);
        memcpy(b, a, len);
        seclog__record_finish_with(&h, a, len, seq, prev_a, hash_a);
        seclog__record_finish(b, len, seq, prev_b, hash_b);
        assert_memory_equal(a, b, len);
        assert_memory_equal(hash_a, hash_b, SECLOG__HASH_BYTES);
        assert_int_equal(seclog__record_parse(a, len, &p), 0);
        assert_true(seclog__chain_check_with(&h, &p, prev_a));
        assert_false(seclog__chain_check_with(&h, &p, hash_a));
        memcpy(prev_a, hash_a, SECLOG__HASH_BYTES);
        memcpy(prev_b, hash_b, SECLOG__HASH_BYTES);
    }
    seclog__hasher_done(&h);
    seclog__hasher_done(&h); /* twice is fine */
}

static void entry_encode_puts_fields_at_documented_offsets(void **state)
{
    struct seclog_param p[] = {{"Key", "value"}};
    uint8_t buf[256], hash[32];
    size_t len = entry(buf, sizeof(buf), "A/B", p, 1, 0x0102030405060708ULL, -2, zero_hash, hash);

    /* 80 fixed + 3 topic + 4 + 3 + 5 = 95, padded to 96. */
    assert_int_equal(len, 96);
    assert_int_equal(get32(buf), 96);
    assert_int_equal(buf[8], SECLOG__KIND_ENTRY);
    assert_int_equal(buf[9], SECLOG_SEVERITY_WARNING);
    assert_int_equal(buf[10], SECLOG_TYPE_SECURITY);
    assert_int_equal(buf[11], 0);
    assert_int_equal(buf[12] | buf[13] << 8, 3);
    assert_int_equal(buf[14] | buf[15] << 8, 1);
    assert_int_equal(buf[16], 0x08);
    assert_int_equal(buf[23], 0x01);
    assert_int_equal(buf[24], 0xfe); /* -2, little-endian two's complement */
    assert_int_equal(buf[31], 0xff);
    assert_memory_equal(buf + 32, boot_id, 16);
    assert_memory_equal(buf + 48, hash, 32);
    assert_memory_equal(buf + 80, "A/B\3\0\5\0Keyvalue\0", 16);
    assert_int_equal(get32(buf + 4), seclog__crc32c(0, buf + 8, 88));
}

static void entry_encode_rejects_entries_outside_the_limits(void **state)
{
    static char big[SECLOG_VALUE_MAX + 2];
    struct seclog_param p[SECLOG_PARAMS_MAX + 1];
    struct seclog_entry e = {.topic = "T", .params = p};
    uint8_t *buf = malloc(SECLOG__RECORD_MAX);
    size_t len;

    for (size_t i = 0; i < ARRAY_SIZE(p); i++)
        p[i] = (struct seclog_param){"k", "v"};
    memset(big, 'x', sizeof(big) - 1);
    e.n_params = SECLOG_PARAMS_MAX + 1;
    assert_int_equal(seclog__entry_encode(&e, 0, boot_id, buf, SECLOG__RECORD_MAX, &len), -EINVAL);
    e.n_params = 1;
    e.topic = "";
    assert_int_equal(seclog__entry_encode(&e, 0, boot_id, buf, SECLOG__RECORD_MAX, &len), -EINVAL);
    e.topic = big + (sizeof(big) - 1 - SECLOG_TOPIC_MAX - 1); /* 1025 bytes */
    assert_int_equal(seclog__entry_encode(&e, 0, boot_id, buf, SECLOG__RECORD_MAX, &len), -EINVAL);
    e.topic = "T";
    p[0].key = "";
    assert_int_equal(seclog__entry_encode(&e, 0, boot_id, buf, SECLOG__RECORD_MAX, &len), -EINVAL);
    p[0].key = big + (sizeof(big) - 1 - SECLOG_KEY_MAX - 1); /* 65 bytes */
    assert_int_equal(seclog__entry_encode(&e, 0, boot_id, buf, SECLOG__RECORD_MAX, &len), -EINVAL);
    p[0].key = "k";
    p[0].value = big; /* 5001 bytes */
    assert_int_equal(seclog__entry_encode(&e, 0, boot_id, buf, SECLOG__RECORD_MAX, &len), -EINVAL);
    p[0].value = NULL;
    assert_int_equal(seclog__entry_encode(&e, 0, boot_id, buf, SECLOG__RECORD_MAX, &len), -EINVAL);
    p[0].value = big + 1; /* exactly 5000 bytes is fine */
    assert_int_equal(seclog__entry_encode(&e, 0, boot_id, buf, SECLOG__RECORD_MAX, &len), 0);
    e.severity = SECLOG_SEVERITY_MAX;
    assert_int_equal(seclog__entry_encode(&e, 0, boot_id, buf, SECLOG__RECORD_MAX, &len), -EINVAL);
    e.severity = SECLOG_SEVERITY_INFO;
    assert_int_equal(seclog__entry_encode(&e, 0, boot_id, buf, 100, &len), -ENOBUFS);
    free(buf);
}

static void largest_entry_fits_record_max_and_parses(void **state)
{
    static char topic[SECLOG_TOPIC_MAX + 1], key[SECLOG_KEY_MAX + 1], value[SECLOG_VALUE_MAX + 1];
    struct seclog_param p[SECLOG_PARAMS_MAX];
    struct seclog__parsed parsed;
    uint8_t *buf = malloc(SECLOG__RECORD_MAX), hash[32];
    size_t len;

    memset(topic, 't', SECLOG_TOPIC_MAX);
    memset(key, 'k', SECLOG_KEY_MAX);
    memset(value, 'v', SECLOG_VALUE_MAX);
    for (size_t i = 0; i < ARRAY_SIZE(p); i++)
        p[i] = (struct seclog_param){key, value};
    len = entry(buf, SECLOG__RECORD_MAX, topic, p, ARRAY_SIZE(p), 9, 0, zero_hash, hash);
    assert_true(len <= SECLOG__RECORD_MAX);
    assert_int_equal(seclog__record_parse(buf, len, &parsed), 0);
    assert_int_equal(parsed.n_params, SECLOG_PARAMS_MAX);
    assert_true(seclog__chain_check(&parsed, zero_hash));
    free(buf);
}

static void record_finish_chains_and_parse_round_trips(void **state)
{
    struct seclog_param p[] = {{"CardHandle", "card-1"}, {"Empty", ""}};
    uint8_t buf[512], h1[32], h2[32];
    struct seclog__parsed a, b;
    size_t n1 = entry(buf, sizeof(buf), "X/ONE", NULL, 0, 1, 10, zero_hash, h1);
    size_t n2 = entry(buf + n1, sizeof(buf) - n1, "X/TWO", p, 2, 2, 20, h1, h2);

    assert_int_equal(seclog__record_parse(buf, sizeof(buf), &a), 0);
    assert_int_equal(a.len, n1);
    assert_int_equal(a.seq, 1);
    assert_int_equal(a.time_ms, 10);
    assert_memory_equal(a.hash, h1, 32);
    assert_true(seclog__chain_check(&a, zero_hash));
    assert_int_equal(seclog__record_parse(buf + n1, n2, &b), 0);
    assert_int_equal(b.kind, SECLOG__KIND_ENTRY);
    assert_int_equal(b.topic_len, 5);
    assert_memory_equal(b.topic, "X/TWO", 5);
    assert_int_equal(b.n_params, 2);
    assert_int_equal(b.params_len, 4 + 10 + 6 + 4 + 5);
    assert_true(seclog__chain_check(&b, h1));
    assert_false(seclog__chain_check(&b, zero_hash));
}

static void chain_check_detects_a_changed_byte_even_with_a_fresh_crc(void **state)
{
    uint8_t buf[128], hash[32];
    struct seclog__parsed p;
    size_t len = entry(buf, sizeof(buf), "X/ONE", NULL, 0, 1, 10, zero_hash, hash);

    buf[24] ^= 1; /* the time */
    recrc(buf);
    assert_int_equal(seclog__record_parse(buf, len, &p), 0);
    assert_false(seclog__chain_check(&p, zero_hash));
}

static void parse_returns_enodata_on_zero_length_word(void **state)
{
    uint8_t buf[128] = {0};
    struct seclog__parsed p;

    assert_int_equal(seclog__record_parse(buf, sizeof(buf), &p), -ENODATA);
    assert_int_equal(seclog__record_parse(buf, 2, &p), -ENODATA);
}

static void parse_rejects_length_past_buffer(void **state)
{
    uint8_t buf[128], hash[32];
    struct seclog__parsed p;
    size_t len = entry(buf, sizeof(buf), "X/ONE", NULL, 0, 1, 10, zero_hash, hash);

    assert_int_equal(seclog__record_parse(buf, len - 8, &p), -EBADMSG);
    put32(buf, 0xfffffff8);
    assert_int_equal(seclog__record_parse(buf, sizeof(buf), &p), -EBADMSG);
}

static void parse_rejects_bad_lengths(void **state)
{
    uint8_t *buf = calloc(1, SECLOG__RECORD_MAX + 64), hash[32];
    struct seclog__parsed p;
    size_t len = entry(buf, 128, "X/ONE", NULL, 0, 1, 10, zero_hash, hash);

    put32(buf, 72); /* below the fixed part */
    assert_int_equal(seclog__record_parse(buf, 128, &p), -EBADMSG);
    put32(buf, (uint32_t)len + 4); /* not a multiple of 8 */
    assert_int_equal(seclog__record_parse(buf, 128, &p), -EBADMSG);
    put32(buf, SECLOG__RECORD_MAX + 8); /* above the limit, even with the bytes there */
    recrc(buf);
    assert_int_equal(seclog__record_parse(buf, SECLOG__RECORD_MAX + 64, &p), -EBADMSG);
    free(buf);
}

static void parse_rejects_bad_crc(void **state)
{
    uint8_t buf[128], hash[32];
    struct seclog__parsed p;
    size_t len = entry(buf, sizeof(buf), "X/ONE", NULL, 0, 1, 10, zero_hash, hash);

    buf[len - 1] ^= 0x80;
    assert_int_equal(seclog__record_parse(buf, len, &p), -EBADMSG);
}

static void parse_rejects_inner_lengths_that_do_not_sum(void **state)
{
    struct seclog_param prm[] = {{"Key", "value"}};
    uint8_t buf[256], orig[256], hash[32];
    struct seclog__parsed p;
    size_t len = entry(orig, sizeof(orig), "A/B", prm, 1, 1, 0, zero_hash, hash);
    /* Each case changes one field; all of them keep len and fix the CRC. */
    struct {
        size_t off;
        uint16_t value;
    } cases[] = {
        {12, 0},    /* topic_len 0 */
        {12, 20},   /* topic runs into the parameters */
        {12, 2000}, /* topic past the record */
        {14, 0},    /* a parameter left over */
        {14, 2},    /* a parameter missing */
        {14, 17},   /* more than 16 */
        {83, 0},    /* key_len 0 */
        {83, 2},    /* lengths short of the padding: non-zero bytes left */
        {85, 100},  /* value past the record */
        {9, 4},     /* severity out of range (a byte) */
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        memcpy(buf, orig, len);
        if (cases[i].off == 9)
            buf[9] = (uint8_t)cases[i].value;
        else
            put16(buf + cases[i].off, cases[i].value);
        recrc(buf);
        assert_int_equal(seclog__record_parse(buf, len, &p), -EBADMSG);
    }
    memcpy(buf, orig, len);
    buf[len - 1] = 1; /* padding must be zero */
    recrc(buf);
    assert_int_equal(seclog__record_parse(buf, len, &p), -EBADMSG);
}

static void parse_rejects_nul_in_text_zero_seq_and_unknown_kind(void **state)
{
    uint8_t buf[128], orig[128], hash[32];
    struct seclog__parsed p;
    size_t len = entry(orig, sizeof(orig), "X/ONE", NULL, 0, 1, 10, zero_hash, hash);
    size_t offs[] = {81, 16, 8};
    uint8_t vals[] = {0, 0, 3};

    for (size_t i = 0; i < ARRAY_SIZE(offs); i++) {
        memcpy(buf, orig, len);
        buf[offs[i]] = vals[i];
        if (offs[i] == 16)
            memset(buf + 16, 0, 8);
        recrc(buf);
        assert_int_equal(seclog__record_parse(buf, len, &p), -EBADMSG);
    }
}

static void seal_round_trips_and_its_message_is_76_bytes(void **state)
{
    uint8_t buf[128], msg[128], hash[32], mac[32];
    struct seclog__parsed p;
    size_t len;

    memset(hash, 0xab, sizeof(hash));
    memset(mac, 0xcd, sizeof(mac));
    assert_int_equal(seclog__seal_encode(5, 77, boot_id, hash, 9, mac, buf, sizeof(buf), &len), 0);
    assert_int_equal(len, 120);
    assert_int_equal(seclog__record_parse(buf, len, &p), 0);
    assert_int_equal(p.kind, SECLOG__KIND_SEAL);
    assert_int_equal(p.seq, 5);
    assert_int_equal(p.time_ms, 77);
    assert_int_equal(p.epoch, 9);
    assert_memory_equal(p.hash, hash, 32);
    assert_memory_equal(p.mac, mac, 32);
    assert_false(seclog__chain_check(&p, zero_hash)); /* seals are not in the chain */
    assert_int_equal(seclog__seal_encode(0, 77, boot_id, hash, 9, mac, msg, sizeof(msg), &len), 0);
    assert_int_equal(seclog__record_parse(msg, len, &p), -EBADMSG); /* seq 0 is never on disk */
    assert_int_equal(seclog__seal_encode(5, 77, boot_id, hash, 9, mac, buf, 119, &len), -ENOBUFS);
    assert_int_equal(seclog__seal_message(9, 5, hash, boot_id, msg), 76);
    assert_memory_equal(msg, "konn-seal-v1\x09\0\0\0\0\0\0\0\x05\0\0\0\0\0\0\0", 28);
    assert_memory_equal(msg + 28, hash, 32);
    assert_memory_equal(msg + 60, boot_id, 16);
    buf[12] = 1; /* a seal has no topic */
    recrc(buf);
    assert_int_equal(seclog__record_parse(buf, len, &p), -EBADMSG);
}

static void parsed_to_record_copies_strings_and_checks_room(void **state)
{
    struct seclog_param prm[] = {{"CardHandle", "card-1"}, {"Empty", ""}};
    uint8_t buf[256], hash[32];
    char strbuf[64];
    struct seclog__parsed p;
    struct seclog_record r;

    (void)entry(buf, sizeof(buf), "X/TWO", prm, 2, 4, 40, zero_hash, hash);
    assert_int_equal(seclog__record_parse(buf, sizeof(buf), &p), 0);
    assert_int_equal(seclog__parsed_to_record(&p, &r, strbuf, sizeof(strbuf)), 0);
    assert_int_equal(r.seq, 4);
    assert_int_equal(r.time_ms, 40);
    assert_int_equal(r.severity, SECLOG_SEVERITY_WARNING);
    assert_int_equal(r.type, SECLOG_TYPE_SECURITY);
    assert_string_equal(r.topic, "X/TWO");
    assert_int_equal(r.n_params, 2);
    assert_string_equal(r.params[0].key, "CardHandle");
    assert_string_equal(r.params[0].value, "card-1");
    assert_string_equal(r.params[1].key, "Empty");
    assert_string_equal(r.params[1].value, "");
    assert_int_equal(seclog__parsed_to_record(&p, &r, strbuf, 20), -ENOBUFS);
}

static void header_and_footer_round_trip_and_refuse_damage(void **state)
{
    struct seclog__seg_header h = {.version = 1,
                                   .segment_bytes = 65536,
                                   .index = 3,
                                   .first_seq = 100,
                                   .created_ms = 5},
                              h2;
    struct seclog__seg_footer f = {.last_seq = 110,
                                   .records = 11,
                                   .first_ms = 1,
                                   .last_ms = 2,
                                   .data_end = 8192},
                              f2;
    uint8_t block[4096];

    memset(h.prev_hash, 0x11, 32);
    seclog__header_encode(&h, block);
    assert_memory_equal(block, "KONNSLOG", 8);
    assert_int_equal(seclog__header_decode(block, &h2), 0);
    assert_memory_equal(&h, &h2, sizeof(h));
    block[4095] = 1; /* reserved bytes are under the CRC */
    assert_int_equal(seclog__header_decode(block, &h2), -EBADMSG);
    h.incompat_flags = 1;
    seclog__header_encode(&h, block);
    assert_int_equal(seclog__header_decode(block, &h2), -EBADMSG);
    h.incompat_flags = 0;
    h.compat_flags = 0x80; /* unknown compatible flags are fine */
    seclog__header_encode(&h, block);
    assert_int_equal(seclog__header_decode(block, &h2), 0);
    h.version = 2;
    seclog__header_encode(&h, block);
    assert_int_equal(seclog__header_decode(block, &h2), -EBADMSG);

    seclog__footer_encode(&f, block);
    assert_memory_equal(block, "KONNSEND", 8);
    assert_int_equal(seclog__footer_decode(block, &f2), 0);
    assert_memory_equal(&f, &f2, sizeof(f));
    block[0] = 'X';
    assert_int_equal(seclog__footer_decode(block, &f2), -EBADMSG);
    f.records = 0; /* records 0 with a last seq */
    seclog__footer_encode(&f, block);
    assert_int_equal(seclog__footer_decode(block, &f2), -EBADMSG);
}

/* ---- the golden segment ----------------------------------------------------------------- */

static void golden_build(uint8_t *img)
{
    struct seclog__seg_header h = {.version = 1,
                                   .segment_bytes = GOLDEN_BYTES,
                                   .index = 1,
                                   .first_seq = 1,
                                   .created_ms = GOLDEN_CREATED_MS};
    struct seclog__seg_footer f = {.last_seq = 3, .records = 3};
    struct seclog_param p2[] = {{"CardHandle", "card-1"}, {"Tries", "2"}};
    struct seclog_param p3[] = {{"Detail", ""}};
    struct seclog_entry e1 = {
        .severity = SECLOG_SEVERITY_INFO, .type = SECLOG_TYPE_OPERATION, .topic = "LOG/STARTED"};
    struct seclog_entry e2 = {.severity = SECLOG_SEVERITY_WARNING,
                              .type = SECLOG_TYPE_SECURITY,
                              .topic = "CARD/PIN/VERIFY_FAILED",
                              .params = p2,
                              .n_params = 2};
    struct seclog_entry e3 = {.severity = SECLOG_SEVERITY_ERROR,
                              .type = SECLOG_TYPE_INFRASTRUCTURE,
                              .topic = "LOG/NOTE",
                              .params = p3,
                              .n_params = 1};
    uint8_t key[32], msg[76], mac[32], hash[32], prev[32];
    unsigned mac_len = 0;
    size_t off = SECLOG__HEADER_BYTES, len;

    memset(img, 0, GOLDEN_BYTES);
    memcpy(h.boot_id, boot_id, 16);
    seclog__header_encode(&h, img);
    assert_int_equal(seclog__entry_encode(&e1, GOLDEN_CREATED_MS + 1000, boot_id, img + off,
                                          GOLDEN_BYTES - off, &len),
                     0);
    seclog__record_finish(img + off, len, 1, zero_hash, hash);
    off += len;
    assert_int_equal(seclog__entry_encode(&e2, GOLDEN_CREATED_MS + 2000, boot_id, img + off,
                                          GOLDEN_BYTES - off, &len),
                     0);
    memcpy(prev, hash, 32);
    seclog__record_finish(img + off, len, 2, prev, hash);
    off += len;
    /* The seal's key is 32 bytes of 0x42; the MAC is plain HMAC-SHA256 of the message. */
    memset(key, 0x42, sizeof(key));
    assert_int_equal(seclog__seal_message(7, 2, hash, boot_id, msg), 76);
    assert_non_null(HMAC(EVP_sha256(), key, 32, msg, 76, mac, &mac_len));
    assert_int_equal(seclog__seal_encode(2, GOLDEN_CREATED_MS + 2000, boot_id, hash, 7, mac,
                                         img + off, GOLDEN_BYTES - off, &len),
                     0);
    off += len;
    assert_int_equal(seclog__entry_encode(&e3, GOLDEN_CREATED_MS + 3000, boot_id, img + off,
                                          GOLDEN_BYTES - off, &len),
                     0);
    memcpy(prev, hash, 32);
    seclog__record_finish(img + off, len, 3, prev, hash);
    off += len;
    f.first_ms = GOLDEN_CREATED_MS + 1000;
    f.last_ms = GOLDEN_CREATED_MS + 3000;
    memcpy(f.last_hash, hash, 32);
    f.data_end = off;
    seclog__footer_encode(&f, img + GOLDEN_BYTES - SECLOG__FOOTER_BYTES);
}

static uint8_t *golden_load(void)
{
    FILE *fp = fopen(GOLDEN_PATH, "rb");
    uint8_t *img = malloc(GOLDEN_BYTES + 1);

    assert_non_null(fp);
    assert_int_equal(fread(img, 1, GOLDEN_BYTES + 1, fp), GOLDEN_BYTES);
    (void)fclose(fp);
    return img;
}

static void golden_segment_is_rebuilt_byte_for_byte(void **state)
{
    uint8_t *want = malloc(GOLDEN_BYTES), *have;
    const char *out = getenv("KONN_SECLOG_GOLDEN_OUT");

    golden_build(want);
    if (out) {
        FILE *fp = fopen(out, "wb");

        assert_non_null(fp);
        assert_int_equal(fwrite(want, 1, GOLDEN_BYTES, fp), GOLDEN_BYTES);
        assert_int_equal(fclose(fp), 0);
    }
    have = golden_load();
    assert_memory_equal(have, want, GOLDEN_BYTES);
    free(want);
    free(have);
}

static void golden_segment_parses_with_exact_fields(void **state)
{
    uint8_t *img = golden_load(), prev[32] = {0};
    static const uint32_t offs[] = {4096, 4192, 4328, 4448};
    static const uint32_t lens[] = {96, 136, 120, 104};
    struct seclog__seg_header h;
    struct seclog__seg_footer f;
    struct seclog__parsed p[4];
    struct seclog_record r;
    char strbuf[256];

    assert_int_equal(seclog__header_decode(img, &h), 0);
    assert_int_equal(h.version, 1);
    assert_int_equal(h.segment_bytes, GOLDEN_BYTES);
    assert_int_equal(h.index, 1);
    assert_int_equal(h.first_seq, 1);
    assert_int_equal(h.created_ms, GOLDEN_CREATED_MS);
    assert_memory_equal(h.boot_id, boot_id, 16);
    assert_memory_equal(h.prev_hash, zero_hash, 32);
    assert_int_equal(get32(img + 12), 104); /* header_size */
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(seclog__record_parse(img + offs[i], GOLDEN_BYTES - 4096 - offs[i], &p[i]),
                         0);
        assert_int_equal(p[i].len, lens[i]);
    }
    assert_int_equal(seclog__record_parse(img + 4552, GOLDEN_BYTES - 4096 - 4552, &p[0]), -ENODATA);
    assert_int_equal(seclog__record_parse(img + offs[0], 4096, &p[0]), 0);
    for (size_t i = 0; i < 4; i++) {
        if (i == 2)
            continue;
        assert_true(seclog__chain_check(&p[i], prev));
        memcpy(prev, p[i].hash, 32);
    }
    assert_int_equal(p[1].seq, 2);
    assert_int_equal(seclog__parsed_to_record(&p[1], &r, strbuf, sizeof(strbuf)), 0);
    assert_string_equal(r.topic, "CARD/PIN/VERIFY_FAILED");
    assert_int_equal(r.severity, SECLOG_SEVERITY_WARNING);
    assert_int_equal(r.time_ms, GOLDEN_CREATED_MS + 2000);
    assert_string_equal(r.params[1].key, "Tries");
    assert_string_equal(r.params[1].value, "2");
    assert_int_equal(p[2].kind, SECLOG__KIND_SEAL);
    assert_int_equal(p[2].seq, 2);
    assert_int_equal(p[2].epoch, 7);
    assert_memory_equal(p[2].hash, p[1].hash, 32);
    assert_int_equal(p[3].seq, 3);
    assert_int_equal(p[3].severity, SECLOG_SEVERITY_ERROR);
    assert_int_equal(seclog__footer_decode(img + GOLDEN_BYTES - 4096, &f), 0);
    assert_int_equal(f.last_seq, 3);
    assert_int_equal(f.records, 3);
    assert_int_equal(f.first_ms, GOLDEN_CREATED_MS + 1000);
    assert_int_equal(f.last_ms, GOLDEN_CREATED_MS + 3000);
    assert_int_equal(f.data_end, 4552);
    assert_memory_equal(f.last_hash, p[3].hash, 32);
    free(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crc32c_matches_the_castagnoli_check_value),
        cmocka_unit_test(crc32c_fast_versions_match_the_bytewise_reference),
        cmocka_unit_test(record_finish_with_a_reused_hasher_equals_one_shot),
        cmocka_unit_test(entry_encode_puts_fields_at_documented_offsets),
        cmocka_unit_test(entry_encode_rejects_entries_outside_the_limits),
        cmocka_unit_test(largest_entry_fits_record_max_and_parses),
        cmocka_unit_test(record_finish_chains_and_parse_round_trips),
        cmocka_unit_test(chain_check_detects_a_changed_byte_even_with_a_fresh_crc),
        cmocka_unit_test(parse_returns_enodata_on_zero_length_word),
        cmocka_unit_test(parse_rejects_length_past_buffer),
        cmocka_unit_test(parse_rejects_bad_lengths),
        cmocka_unit_test(parse_rejects_bad_crc),
        cmocka_unit_test(parse_rejects_inner_lengths_that_do_not_sum),
        cmocka_unit_test(parse_rejects_nul_in_text_zero_seq_and_unknown_kind),
        cmocka_unit_test(seal_round_trips_and_its_message_is_76_bytes),
        cmocka_unit_test(parsed_to_record_copies_strings_and_checks_room),
        cmocka_unit_test(header_and_footer_round_trip_and_refuse_damage),
        cmocka_unit_test(golden_segment_is_rebuilt_byte_for_byte),
        cmocka_unit_test(golden_segment_parses_with_exact_fields),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
