/* Unit tests for src/seclog/reader.c: seclog_query() over a real log of small segments,
 * oldest and newest first, with every filter, paging by seq, and damaged segments. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "seclog_test.h"

#define N 120 /* entries: about six 16 KiB segments with their seals */

struct seen {
    uint64_t seq[4 * N];
    size_t n;
    size_t stop_after; /* 0: never ask to stop */
    bool bad_value;
};

static int seen_fn(const struct seclog_record *r, void *arg)
{
    struct seen *s = arg;
    char want[32];

    if (r->n_params == 1) {
        (void)snprintf(want, sizeof(want), "v%zu", (size_t)(r->time_ms - TLOG_TIME0) / 1000);
        s->bad_value |= strncmp(r->params[0].value, want, strlen(want)) != 0;
    }
    if (s->n < ARRAY_SIZE(s->seq))
        s->seq[s->n] = r->seq;
    s->n++;
    return s->stop_after && s->n >= s->stop_after;
}

static int setup(void **state)
{
    struct tlog *t = tlog_new(64);

    (void)tlog_fill(t, N, 300);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    tlog_free(*state);
    return 0;
}

static struct seclog_filter mine(void)
{
    return (struct seclog_filter){.min_severity = -1, .topic_prefix = "T/"};
}

static void query_returns_durable_entries_oldest_first(void **state)
{
    struct tlog *t = *state;
    struct seclog_filter f = mine();
    struct seclog_status st;
    struct seen s = {.n = 0};
    struct seclog__view v;

    assert_int_equal(seclog_query(t->log, &f, seen_fn, &s), N);
    assert_int_equal(s.n, N);
    assert_false(s.bad_value);
    seclog_status_get(t->log, &st);
    for (size_t i = 0; i < s.n; i++) {
        assert_true(s.seq[i] <= st.last_durable_seq);
        if (i > 0)
            assert_int_equal(s.seq[i], s.seq[i - 1] + 1);
    }
    assert_int_equal(seclog__snapshot(t->log, &v), 0);
    assert_true(v.n >= 4); /* the walk crossed segments */
    seclog__view_done(&v);
    /* Without a filter, the engine's own records come too, and seals never do. */
    s.n = 0;
    assert_true(seclog_query(t->log, NULL, seen_fn, &s) > N);
}

static void query_filters_by_time_severity_and_topic(void **state)
{
    struct tlog *t = *state;
    struct seclog_filter f = mine();
    struct seen s = {.n = 0};

    f.from_ms = TLOG_TIME0 + 10 * 1000;
    f.to_ms = TLOG_TIME0 + 19 * 1000;
    assert_int_equal(seclog_query(t->log, &f, seen_fn, &s), 10);
    f = mine();
    f.min_severity = SECLOG_SEVERITY_ERROR;
    assert_int_equal(seclog_query(t->log, &f, seen_fn, &s), N / 2);
    f = mine();
    f.topic_prefix = "T/B";
    assert_int_equal(seclog_query(t->log, &f, seen_fn, &s), N / 2);
    f.topic_prefix = "T/BX";
    assert_int_equal(seclog_query(t->log, &f, seen_fn, &s), 0);
}

static void query_pages_oldest_first_with_after_seq_and_limit(void **state)
{
    struct tlog *t = *state;
    struct seclog_filter f = mine();
    struct seen all = {.n = 0}, page;
    int r;

    f.limit = 7;
    do {
        page = (struct seen){.n = 0};
        r = seclog_query(t->log, &f, seen_fn, &page);
        assert_true(r >= 0 && r <= 7);
        for (int i = 0; i < r; i++)
            all.seq[all.n++] = page.seq[i];
        if (r > 0)
            f.after_seq = page.seq[r - 1];
    } while (r == 7);
    assert_int_equal(all.n, N);
    for (size_t i = 1; i < all.n; i++)
        assert_int_equal(all.seq[i], all.seq[i - 1] + 1);
}

static void query_pages_newest_first_with_before_seq_and_limit(void **state)
{
    struct tlog *t = *state;
    struct seclog_filter f = mine();
    struct seen all = {.n = 0}, page;
    int r;

    f.newest_first = true;
    f.limit = 9;
    do {
        page = (struct seen){.n = 0};
        r = seclog_query(t->log, &f, seen_fn, &page);
        assert_true(r >= 0 && r <= 9);
        for (int i = 0; i < r; i++)
            all.seq[all.n++] = page.seq[i];
        if (r > 0)
            f.before_seq = page.seq[r - 1];
    } while (r == 9);
    assert_int_equal(all.n, N);
    for (size_t i = 1; i < all.n; i++)
        assert_int_equal(all.seq[i], all.seq[i - 1] - 1);
    /* Newest first without a limit gives the same entries, reversed. */
    page = (struct seen){.n = 0};
    f.limit = 0;
    f.before_seq = 0;
    assert_int_equal(seclog_query(t->log, &f, seen_fn, &page), N);
    assert_memory_equal(page.seq, all.seq, N * sizeof(uint64_t));
}

static void query_stops_when_the_callback_asks(void **state)
{
    struct tlog *t = *state;
    struct seclog_filter f = mine();
    struct seen s = {.stop_after = 3};

    assert_int_equal(seclog_query(t->log, &f, seen_fn, &s), 3);
    s = (struct seen){.stop_after = 3};
    f.newest_first = true;
    assert_int_equal(seclog_query(t->log, &f, seen_fn, &s), 3);
    assert_int_equal(seclog_query(NULL, &f, seen_fn, &s), -EINVAL);
    assert_int_equal(seclog_query(t->log, &f, NULL, &s), -EINVAL);
}

static void query_skips_a_damaged_segment_and_goes_on(void **state)
{
    struct tlog *t = *state;
    struct seclog_filter f = mine();
    struct seen before = {.n = 0}, fwd = {.n = 0}, back = {.n = 0};
    uint64_t first, victim;
    size_t pos;
    char *path;
    int r;

    assert_int_equal(seclog_query(t->log, &f, seen_fn, &before), N);
    first = before.seq[0];
    victim = first + N / 3;
    path = tlog_segment_of(t, victim, &pos);
    assert_true(pos > 0);
    tlog_close(t);
    /* A flipped topic byte without a fresh CRC: the record no longer parses. */
    tlog_tamper(path, victim, SECLOG__KIND_ENTRY, 81, false);
    tlog_open(t);
    r = seclog_query(t->log, &f, seen_fn, &fwd);
    assert_int_equal(r, fwd.n);
    assert_true(fwd.n < N);
    assert_int_equal(fwd.seq[fwd.n - 1], before.seq[N - 1]); /* later segments still come */
    for (size_t i = 0; i < fwd.n; i++)
        assert_true(fwd.seq[i] != victim);
    f.newest_first = true;
    assert_int_equal(seclog_query(t->log, &f, seen_fn, &back), fwd.n);
    for (size_t i = 0; i < back.n; i++)
        assert_int_equal(back.seq[i], fwd.seq[fwd.n - 1 - i]);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(query_returns_durable_entries_oldest_first),
        cmocka_unit_test(query_filters_by_time_severity_and_topic),
        cmocka_unit_test(query_pages_oldest_first_with_after_seq_and_limit),
        cmocka_unit_test(query_pages_newest_first_with_before_seq_and_limit),
        cmocka_unit_test(query_stops_when_the_callback_asks),
        cmocka_unit_test(query_skips_a_damaged_segment_and_goes_on),
    };

    clock_init(CLOCK_MODE_VIRTUAL);
    return cmocka_run_group_tests(tests, setup, teardown);
}
