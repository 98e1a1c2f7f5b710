/* Unit tests for src/seclog/verify.c: seclog_verify() over a real log of small segments, intact
 * and after the changes an attacker or a broken disk would make between a close and the next
 * open: a changed record, a forged seal, a deleted segment at the head or in the middle. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "seclog_test.h"

#define N 120 /* entries: about six 16 KiB segments with their seals */

static int setup(void **state)
{
    struct tlog *t = tlog_new(64);

    (void)tlog_fill(t, N / 2, 300);
    /* Half an hour later: two seal epochs on, so verification must evolve the key. */
    assert_int_equal(clock_advance(30 * 60 * 1000), 0);
    (void)tlog_fill(t, N / 2, 300);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    tlog_free(*state);
    return 0;
}

static void verify_passes_an_intact_log_with_and_without_the_key(void **state)
{
    struct tlog *t = *state;
    struct seclog_verify_result res;
    struct seclog_status st;
    char *key = tlog_key(t);

    assert_int_equal(seclog_verify(t->log, key, &res), 0);
    assert_true(res.ok);
    assert_string_equal(res.reason, "");
    assert_int_equal(res.first_bad_seq, 0);
    assert_false(res.seals_unchecked);
    assert_true(res.seals_checked > 0);
    assert_true(res.segments >= 4);
    assert_int_equal(res.first_seq, 1);
    seclog_status_get(t->log, &st);
    assert_int_equal(res.last_seq, st.last_durable_seq);
    assert_int_equal(res.records, res.last_seq);
    assert_int_equal(seclog_verify(t->log, NULL, &res), 0);
    assert_true(res.ok);
    assert_true(res.seals_unchecked);
    free(key);
}

static void verify_rejects_a_malformed_key(void **state)
{
    struct tlog *t = *state;
    struct seclog_verify_result res;

    assert_int_equal(seclog_verify(t->log, "konnektord-seclog-key v1 1 2 zz", &res), -EINVAL);
    assert_int_equal(seclog_verify(NULL, NULL, &res), -EINVAL);
}

static void verify_fails_seals_under_a_wrong_key(void **state)
{
    struct tlog *t = *state;
    struct seclog_verify_result res;
    char *key = tlog_key(t);
    char *hex = strrchr(key, ' ') + 1;

    hex[0] = hex[0] == '0' ? '1' : '0';
    assert_int_equal(seclog_verify(t->log, key, &res), 0);
    assert_false(res.ok);
    assert_non_null(strstr(res.reason, "seal does not verify"));
    assert_true(res.first_bad_seq > 0);
    free(key);
}

/* The remaining tests change the log on disk; each works on a log of its own. */

static void verify_names_a_changed_record(void **state)
{
    struct tlog *t = tlog_new(64);
    struct seclog_verify_result res;
    uint64_t first = tlog_fill(t, N, 300), victim = first + N / 2;
    char *path = tlog_segment_of(t, victim, NULL), want[128];

    tlog_close(t);
    tlog_tamper(path, victim, SECLOG__KIND_ENTRY, 81, true); /* a topic byte, CRC fixed */
    tlog_open(t);
    assert_int_equal(seclog_verify(t->log, NULL, &res), 0);
    assert_false(res.ok);
    assert_int_equal(res.first_bad_seq, victim);
    (void)snprintf(want, sizeof(want),
                   "record %llu: hash does not chain to record %llu (changed, inserted or "
                   "reordered)",
                   (unsigned long long)victim, (unsigned long long)victim - 1);
    assert_string_equal(res.reason, want);
    free(path);
    tlog_free(t);
}

static void verify_names_a_damaged_record(void **state)
{
    struct tlog *t = tlog_new(64);
    struct seclog_verify_result res;
    uint64_t first = tlog_fill(t, N, 300), victim = first + N / 2;
    char *path = tlog_segment_of(t, victim, NULL);

    tlog_close(t);
    tlog_tamper(path, victim, SECLOG__KIND_ENTRY, 81, false);
    tlog_open(t);
    assert_int_equal(seclog_verify(t->log, NULL, &res), 0);
    assert_false(res.ok);
    assert_int_equal(res.first_bad_seq, victim);
    assert_non_null(strstr(res.reason, "is damaged (bad length or CRC)"));
    free(path);
    tlog_free(t);
}

static void verify_finds_a_forged_seal_only_with_the_key(void **state)
{
    struct tlog *t = tlog_new(64);
    struct seclog_verify_result res;
    uint64_t first = tlog_fill(t, N, 300), victim = first + N / 2;
    char *path = tlog_segment_of(t, victim, NULL), *key = tlog_key(t);
    struct tlog_find f = {.seq = victim, .kind = SECLOG__KIND_SEAL};

    tlog_close(t);
    /* tlog_fill queues in one go: find a seal at or after the victim in its segment. */
    while (f.seq < first + N && seclog__file_foreach(path, 0, tlog_find_fn, &f, NULL) == 0 &&
           !f.found)
        f.seq++;
    assert_true(f.found);
    tlog_tamper(path, f.seq, SECLOG__KIND_SEAL, 100, true); /* a MAC byte, CRC fixed */
    tlog_open(t);
    assert_int_equal(seclog_verify(t->log, NULL, &res), 0);
    assert_true(res.ok);
    assert_int_equal(seclog_verify(t->log, key, &res), 0);
    assert_false(res.ok);
    assert_int_equal(res.first_bad_seq, f.seq);
    assert_non_null(strstr(res.reason, "seal does not verify (epoch "));
    free(key);
    free(path);
    tlog_free(t);
}

static void verify_names_records_missing_between_segments(void **state)
{
    struct tlog *t = tlog_new(64);
    struct seclog_verify_result res;
    uint64_t first = tlog_fill(t, N, 300);
    size_t pos = 0;
    char *path = tlog_segment_of(t, first + N / 2, &pos), want[96];

    tlog_close(t);
    assert_true(pos > 0);
    assert_int_equal(unlink(path), 0);
    tlog_open(t);
    assert_int_equal(seclog_verify(t->log, NULL, &res), 0);
    assert_false(res.ok);
    (void)snprintf(want, sizeof(want), "missing between segment %zu and %zu", pos, pos + 1);
    assert_non_null(strstr(res.reason, want));
    assert_true(res.first_bad_seq <= first + N / 2);
    free(path);
    tlog_free(t);
}

static void verify_requires_a_record_for_a_missing_head(void **state)
{
    struct tlog *t = tlog_new(64);
    struct seclog_verify_result res;
    uint64_t first = tlog_fill(t, N, 300);
    char *path = tlog_segment_of(t, first, NULL);

    tlog_close(t);
    assert_int_equal(unlink(path), 0);
    tlog_open(t);
    assert_int_equal(seclog_verify(t->log, NULL, &res), 0);
    assert_false(res.ok);
    assert_int_equal(res.first_bad_seq, 1);
    assert_non_null(strstr(res.reason, "missing at the head"));
    free(path);
    tlog_free(t);
}

static void verify_accepts_a_head_removed_by_eviction(void **state)
{
    struct tlog *t = tlog_new(4); /* 4 segments: the fill must evict */
    struct seclog_verify_result res;
    char *key = tlog_key(t);

    (void)tlog_fill(t, 2 * N, 300);
    /* The record of the last eviction is queued behind the fill. */
    tlog_sync(t);
    assert_int_equal(seclog_verify(t->log, key, &res), 0);
    if (!res.ok)
        print_message("reason: %s\n", res.reason);
    assert_true(res.ok);
    assert_true(res.first_seq > 1);
    assert_true(res.segments <= 4);
    free(key);
    tlog_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(verify_passes_an_intact_log_with_and_without_the_key),
        cmocka_unit_test(verify_rejects_a_malformed_key),
        cmocka_unit_test(verify_fails_seals_under_a_wrong_key),
        cmocka_unit_test(verify_names_a_changed_record),
        cmocka_unit_test(verify_names_a_damaged_record),
        cmocka_unit_test(verify_finds_a_forged_seal_only_with_the_key),
        cmocka_unit_test(verify_names_records_missing_between_segments),
        cmocka_unit_test(verify_requires_a_record_for_a_missing_head),
        cmocka_unit_test(verify_accepts_a_head_removed_by_eviction),
    };

    clock_init(CLOCK_MODE_VIRTUAL);
    return cmocka_run_group_tests(tests, setup, teardown);
}
