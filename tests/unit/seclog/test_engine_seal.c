/* Unit tests for seals (seal.c and the writer's sealing): the verification key and seal
 * state files, key evolution, seals that verify across epochs and restarts, and tampering
 * that verification finds. */
#include "engine_test.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define EPOCH_MS (15LL * 60 * 1000)

static char *read_text(const char *path)
{
    char *text = NULL;
    size_t len;

    assert_int_equal(fs_read_all(path, 4096, &text, &len), 0);
    return text;
}

static void fx_open_sealed(struct fx *fx)
{
    fx->cfg.verification_key_path = fx->key_path;
    fx_open(fx);
}

static void new_log_writes_the_verification_key_and_seal_state(void **state)
{
    struct fx *fx = *state;
    char *state_path = fs_path_join(fx->dir, "seal.state"), *key = NULL, *st = NULL;
    uint8_t k0[SECLOG_KEY_BYTES];
    uint64_t epoch0, epoch, now_epoch = (uint64_t)(clock_now_ms() / EPOCH_MS);
    int64_t epoch_ms;
    struct stat sb;
    char hex[2 * SECLOG_KEY_BYTES + 1];

    fx_open_sealed(fx);
    assert_int_equal(stat(fx->key_path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(stat(state_path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    key = read_text(fx->key_path);
    assert_int_equal(seclog__verification_key_parse(key, &epoch0, &epoch_ms, k0), 0);
    assert_int_equal(epoch_ms, EPOCH_MS);
    assert_true(epoch0 == now_epoch || epoch0 == now_epoch + 1);
    /* seal.state holds the current key: k0 itself while the epoch has not moved. */
    st = read_text(state_path);
    assert_int_equal(sscanf(st, "epoch %" SCNu64 " key %64s", &epoch, hex), 2);
    assert_int_equal(epoch, epoch0);
    hex_encode(k0, sizeof(k0), hex);
    assert_non_null(strstr(st, hex));
    explicit_bzero(k0, sizeof(k0));
    free(key);
    free(st);
    free(state_path);
}

static void key_text_parses_only_when_well_formed(void **state)
{
    const char *good = "konnektord-seclog-key v1 42 900000 "
                       "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n";
    const char *bad[] = {
        "",
        "konnektord-seclog-key v2 42 900000 "
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
        "konnektord-seclog-key v1 -42 900000 "
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
        "konnektord-seclog-key v1 42 0 "
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
        "konnektord-seclog-key v1 42 900000 00112233\n",
        "konnektord-seclog-key v1 42 900000 "
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeefg\n",
        "konnektord-seclog-key v1 42 900000 "
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff junk\n",
    };
    uint8_t key[SECLOG_KEY_BYTES];
    uint64_t epoch0;
    int64_t epoch_ms;

    assert_int_equal(seclog__verification_key_parse(good, &epoch0, &epoch_ms, key), 0);
    assert_int_equal(epoch0, 42);
    assert_int_equal(epoch_ms, 900000);
    assert_int_equal(key[0], 0x00);
    assert_int_equal(key[31], 0xff);
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        assert_int_equal(seclog__verification_key_parse(bad[i], &epoch0, &epoch_ms, key), -EINVAL);
    assert_int_equal(seclog__verification_key_parse(NULL, &epoch0, &epoch_ms, key), -EINVAL);
}

static void key_evolution_is_deterministic_and_changes_the_key(void **state)
{
    uint8_t a[SECLOG_KEY_BYTES] = {1, 2, 3}, b[SECLOG_KEY_BYTES] = {1, 2, 3};
    uint8_t orig[SECLOG_KEY_BYTES] = {1, 2, 3}, hash[SECLOG__HASH_BYTES] = {9};
    uint8_t boot[SECLOG__BOOT_ID_BYTES] = {7}, mac1[32], mac2[32];

    seclog__seal_key_evolve(a);
    seclog__seal_key_evolve(b);
    assert_memory_equal(a, b, sizeof(a));
    assert_memory_not_equal(a, orig, sizeof(a));
    seclog__seal_mac(a, 5, 100, hash, boot, mac1);
    seclog__seal_mac(a, 5, 100, hash, boot, mac2);
    assert_memory_equal(mac1, mac2, sizeof(mac1));
    seclog__seal_mac(a, 6, 100, hash, boot, mac2); /* bound to the epoch */
    assert_memory_not_equal(mac1, mac2, sizeof(mac1));
    seclog__seal_mac(orig, 5, 100, hash, boot, mac2);
    assert_memory_not_equal(mac1, mac2, sizeof(mac1));
}

/* Counts seals and checks each with the key of its epoch, derived from k0 like an auditor. */
struct seal_check {
    uint64_t epoch;
    uint8_t key[SECLOG_KEY_BYTES];
    uint64_t seals, max_epoch;
};

static int seal_fn(const struct seclog__parsed *p, uint64_t offset, void *arg)
{
    struct seal_check *c = arg;
    uint8_t mac[SECLOG__HASH_BYTES];

    if (p->kind != SECLOG__KIND_SEAL)
        return 0;
    assert_true(p->epoch >= c->epoch);
    for (; c->epoch < p->epoch; c->epoch++)
        seclog__seal_key_evolve(c->key);
    seclog__seal_mac(c->key, p->epoch, p->seq, p->hash, p->boot_id, mac);
    assert_memory_equal(mac, p->mac, sizeof(mac));
    c->seals++;
    c->max_epoch = p->epoch;
    return 0;
}

static void seals_verify_across_epochs_and_restarts(void **state)
{
    struct fx *fx = *state;
    struct seclog_verify_result res;
    struct seal_check c = {0};
    struct seclog__view v;
    int64_t epoch_ms;
    char *key;

    fx_open_sealed(fx);
    fx_append_n(fx, "TEST/A", 100, 200);
    (void)fx_settle(fx);
    assert_int_equal(clock_advance(EPOCH_MS * 5 + 1000), 0); /* five epochs on */
    fx_append_n(fx, "TEST/B", 100, 200);
    (void)fx_settle(fx);
    fx_reopen(fx);
    fx_append_n(fx, "TEST/C", 10, 200);
    (void)fx_settle(fx);
    key = read_text(fx->key_path);
    assert_int_equal(seclog_verify(fx->log, key, &res), 0);
    assert_true(res.ok);
    assert_false(res.seals_unchecked);
    assert_true(res.seals_checked >= 3);
    /* The same by hand: every seal under the key of its own epoch. */
    assert_int_equal(seclog__verification_key_parse(key, &c.epoch, &epoch_ms, c.key), 0);
    assert_int_equal(seclog__snapshot(fx->log, &v), 0);
    for (size_t i = 0; i < v.n; i++)
        assert_int_equal(seclog__file_foreach(v.segs[i].path, v.segs[i].limit, seal_fn, &c, NULL),
                         0);
    seclog__view_done(&v);
    assert_int_equal(c.seals, res.seals_checked);
    assert_true(c.max_epoch >= (uint64_t)(clock_now_ms() / EPOCH_MS) - 1);
    free(key);
}

static void every_segment_ends_sealed_when_rotating(void **state)
{
    struct fx *fx = *state;
    struct seclog__view v;
    char *key;

    fx_open_sealed(fx);
    fx_append_n(fx, "TEST/A", 200, 1000); /* several segments */
    (void)fx_settle(fx);
    assert_int_equal(seclog__snapshot(fx->log, &v), 0);
    assert_true(v.n >= 3);
    for (size_t i = 0; i < v.n; i++) {
        struct seal_check c = {0};
        int64_t epoch_ms;

        key = read_text(fx->key_path);
        assert_int_equal(seclog__verification_key_parse(key, &c.epoch, &epoch_ms, c.key), 0);
        assert_int_equal(seclog__file_foreach(v.segs[i].path, v.segs[i].limit, seal_fn, &c, NULL),
                         0);
        assert_true(c.seals >= 1);
        free(key);
    }
    seclog__view_done(&v);
}

/* Offset of the first entry with the given seq in path. */
struct find_seq {
    uint64_t seq, offset;
    uint32_t len;
};

static int find_fn(const struct seclog__parsed *p, uint64_t offset, void *arg)
{
    struct find_seq *f = arg;

    if (p->kind == SECLOG__KIND_ENTRY && p->seq == f->seq) {
        f->offset = offset;
        f->len = p->len;
        return 1;
    }
    return 0;
}

/* Changes one byte of entry seq's payload in segment 1; with fix_crc, also recomputes the
 * CRC so that only the hash chain can tell. */
static void tamper(struct fx *fx, uint64_t seq, bool fix_crc)
{
    char *path = seclog__segment_path(fx->dir, 1);
    struct find_seq f = {.seq = seq};
    uint8_t *rec;
    uint32_t crc;
    int fd;

    assert_int_equal(seclog__file_foreach(path, 0, find_fn, &f, NULL), 0);
    assert_true(f.len > 0);
    rec = malloc(f.len);
    fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, rec, f.len, (off_t)f.offset), (ssize_t)f.len);
    rec[SECLOG__RECORD_FIXED + 3] ^= 0x01;
    if (fix_crc) {
        crc = seclog__crc32c(0, rec + 8, f.len - 8);
        memcpy(rec + 4, &crc, 4); /* little-endian host */
    }
    assert_int_equal(pwrite(fd, rec, f.len, (off_t)f.offset), (ssize_t)f.len);
    close(fd);
    free(rec);
    free(path);
}

static void a_modified_record_is_found(void **state)
{
    struct fx *fx = *state;
    struct seclog_verify_result res;
    char *key;

    fx_open_sealed(fx);
    fx_append_n(fx, "TEST/A", 120, 1000); /* segment 1 is closed and not rewritten */
    (void)fx_settle(fx);
    key = read_text(fx->key_path);
    verify_ok(fx->log, key);
    tamper(fx, 10, true); /* CRC made right: only the chain tells */
    assert_int_equal(seclog_verify(fx->log, key, &res), 0);
    assert_false(res.ok);
    assert_int_equal(res.first_bad_seq, 10);
    tamper(fx, 10, true); /* back as it was */
    verify_ok(fx->log, key);
    tamper(fx, 20, false); /* a plain flipped bit: the CRC tells */
    assert_int_equal(seclog_verify(fx->log, key, &res), 0);
    assert_false(res.ok);
    assert_int_equal(res.first_bad_seq, 20);
    free(key);
}

static void seals_do_not_verify_with_another_key(void **state)
{
    struct fx *fx = *state;
    struct seclog_verify_result res;
    char *key, *forged;
    size_t cut;

    fx_open_sealed(fx);
    fx_append_n(fx, "TEST/A", 10, 10);
    (void)fx_settle(fx);
    /* The right epoch0 with a wrong key. */
    key = read_text(fx->key_path);
    forged = strdup(key);
    cut = strlen(forged) - 2;
    forged[cut] = forged[cut] == '0' ? '1' : '0';
    assert_int_equal(seclog_verify(fx->log, forged, &res), 0);
    assert_false(res.ok);
    assert_non_null(strstr(res.reason, "seal"));
    assert_int_equal(seclog_verify(fx->log, "not a key", &res), -EINVAL);
    free(forged);
    free(key);
}

static void a_log_without_seal_state_gets_new_keys_and_a_record(void **state)
{
    struct fx *fx = *state;
    char *state_path = fs_path_join(fx->dir, "seal.state"), *k1, *k2;
    struct rec_list l;

    fx_open_sealed(fx);
    fx_append_n(fx, "TEST/A", 10, 10);
    fx->log = seclog_close(fx->log);
    k1 = read_text(fx->key_path);
    assert_int_equal(unlink(state_path), 0);
    fx_open(fx);
    (void)fx_settle(fx);
    k2 = read_text(fx->key_path);
    assert_string_not_equal(k1, k2);
    assert_true(fs_exists(state_path));
    recs_collect(fx->log, &l);
    assert_int_equal(recs_count(&l, "LOG/SEAL_KEY_NEW"), 1);
    assert_int_equal(recs_count(&l, "TEST/A"), 10);
    recs_free(&l);
    free(k1);
    free(k2);
    free(state_path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(new_log_writes_the_verification_key_and_seal_state,
                                        fx_setup, fx_teardown),
        cmocka_unit_test(key_text_parses_only_when_well_formed),
        cmocka_unit_test(key_evolution_is_deterministic_and_changes_the_key),
        cmocka_unit_test_setup_teardown(seals_verify_across_epochs_and_restarts, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(every_segment_ends_sealed_when_rotating, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(a_modified_record_is_found, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(seals_do_not_verify_with_another_key, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(a_log_without_seal_state_gets_new_keys_and_a_record,
                                        fx_setup, fx_teardown),
    };

    clock_init(CLOCK_MODE_VIRTUAL);
    log_level_set(LOG_LEVEL_FATAL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
