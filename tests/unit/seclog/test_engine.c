/* Unit tests for the seclog engine (seclog.c, queue.c, fold.c, stats.c): open and budget,
 * append/close/reopen, durable appends, folding, stats, crash and damage at open. */
#include "engine_test.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

static void open_refuses_a_budget_below_four_segments(void **state)
{
    struct fx *fx = *state;

    fx->cfg.capacity_bytes = 3ull * TEST_SEG_BYTES;
    assert_int_equal(seclog_open(&fx->cfg, &fx->log), -EINVAL);
    fx->cfg.capacity_bytes = 16ull * TEST_SEG_BYTES;
    fx->cfg.segment_bytes = TEST_SEG_BYTES + 100; /* not a multiple of 4096 */
    assert_int_equal(seclog_open(&fx->cfg, &fx->log), -EINVAL);
    assert_null(fx->log);
}

static void open_creates_the_first_segment_and_reserves_the_budget(void **state)
{
    struct fx *fx = *state;
    struct seclog_status st;
    struct seclog__view v;
    char *reserve = fs_path_join(fx->dir, "reserve");
    struct stat sb;

    fx_open(fx);
    assert_int_equal(seclog__snapshot(fx->log, &v), 0);
    assert_int_equal(v.n, 1);
    assert_int_equal(v.segs[0].index, 1);
    assert_int_equal(v.segs[0].first_seq, 1);
    assert_int_equal(v.durable_seq, 0);
    seclog__view_done(&v);
    assert_int_equal(stat(reserve, &sb), 0);
    assert_int_equal(sb.st_size, 15ll * TEST_SEG_BYTES);
    assert_int_equal(stat(fx->dir, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    seclog_status_get(fx->log, &st);
    assert_true(st.writable);
    assert_int_equal(st.last_error, 0);
    free(reserve);
}

static void append_close_reopen_keeps_every_entry_and_the_chain(void **state)
{
    struct fx *fx = *state;
    struct rec_list l;
    uint64_t seq;

    fx_open(fx);
    fx_append_n(fx, "TEST/A", 1000, 20);
    fx_reopen(fx);
    recs_collect(fx->log, &l);
    assert_int_equal(l.n, 1000);
    for (size_t i = 0; i < l.n; i++)
        assert_int_equal(l.v[i].seq, i + 1);
    assert_int_equal(l.durable_seq, 1000);
    recs_free(&l);
    verify_ok(fx->log, NULL);
    seq = fx_mark(fx);
    assert_int_equal(seq, 1001); /* the sequence continues after a reopen */
    verify_ok(fx->log, NULL);
}

static void append_rejects_invalid_entries(void **state)
{
    struct fx *fx = *state;
    struct seclog_param bad = {"", "x"};
    struct seclog_entry no_topic = {.topic = NULL};
    struct seclog_entry empty_key = {.topic = "T", .params = &bad, .n_params = 1};
    struct seclog_entry too_many = {.topic = "T", .params = &bad, .n_params = 17};

    fx_open(fx);
    assert_int_equal(seclog_append(fx->log, &no_topic), -EINVAL);
    assert_int_equal(seclog_append(fx->log, &empty_key), -EINVAL);
    assert_int_equal(seclog_append(fx->log, &too_many), -EINVAL);
    assert_int_equal(seclog_append_durable(fx->log, &no_topic, 100, NULL), -EINVAL);
}

static void durable_append_returns_its_seq_once_synced(void **state)
{
    struct fx *fx = *state;
    struct seclog_status st;
    struct rec_list l;
    uint64_t seq, syncs;

    fx_open(fx);
    fx_append_n(fx, "TEST/A", 10, 10);
    syncs = io_calls(IO_OP_FDATASYNC);
    seq = fx_mark(fx);
    assert_int_equal(seq, 11);
    assert_true(io_calls(IO_OP_FDATASYNC) > syncs); /* it returned after an fdatasync */
    seclog_status_get(fx->log, &st);
    assert_true(st.last_durable_seq >= seq);
    recs_collect(fx->log, &l);
    assert_true(l.durable_seq >= seq);
    assert_non_null(recs_find(&l, "TEST/SYNC", 0));
    assert_int_equal(recs_count(&l, "TEST/A"), 10);
    recs_free(&l);
}

static void identical_entries_fold_into_one_summary(void **state)
{
    struct fx *fx = *state;
    struct seclog_param p[2] = {{"Client", "10.0.0.7"}, {"Reason", "bad password"}};
    struct seclog_entry e = {.severity = SECLOG_SEVERITY_WARNING,
                             .type = SECLOG_TYPE_SECURITY,
                             .topic = "TEST/FLOOD",
                             .params = p,
                             .n_params = 2};
    const struct rec_item *sum;
    struct seclog_stats stats;
    struct rec_list l;
    char buf[64];

    fx_open(fx);
    assert_int_equal(seclog_append(fx->log, &e), 0);
    for (int i = 1; i < 1000; i++)
        assert_int_equal(seclog_append(fx->log, &e), 1);
    assert_int_equal(clock_advance(61000), 0); /* the window closes */
    (void)fx_settle(fx);
    recs_collect(fx->log, &l);
    assert_int_equal(recs_count(&l, "TEST/FLOOD"), 1);
    assert_int_equal(recs_count(&l, "LOG/FOLDED"), 1);
    sum = recs_find(&l, "LOG/FOLDED", 0);
    assert_int_equal(rec_param_u64(sum, "Count"), 999);
    assert_true(rec_param(sum, "Topic", buf, sizeof(buf)));
    assert_string_equal(buf, "TEST/FLOOD");
    assert_true(rec_param(sum, "First", buf, sizeof(buf)));
    assert_true(rec_param(sum, "Last", buf, sizeof(buf)));
    assert_true(rec_param(sum, "Client", buf, sizeof(buf)));
    assert_string_equal(buf, "10.0.0.7");
    assert_true(rec_param(sum, "Reason", buf, sizeof(buf)));
    recs_free(&l);
    assert_int_equal(seclog_stats_get(fx->log, &stats, NULL, NULL), 0);
    assert_int_equal(stats.folded, 999);
    /* After the window, the same entry is written again and opens a new window. */
    assert_int_equal(seclog_append(fx->log, &e), 0);
    assert_int_equal(seclog_append(fx->log, &e), 1);
}

static void entries_with_different_params_are_not_folded(void **state)
{
    struct fx *fx = *state;
    struct seclog_param p = {"Client", NULL};
    struct seclog_entry e = {.topic = "TEST/LOGIN", .params = &p, .n_params = 1};
    struct seclog_entry other_severity = e;
    char client[16];
    struct rec_list l;

    fx_open(fx);
    for (int i = 0; i < 10; i++) {
        (void)snprintf(client, sizeof(client), "10.0.0.%d", i);
        p.value = client;
        assert_int_equal(seclog_append(fx->log, &e), 0);
    }
    other_severity.severity = SECLOG_SEVERITY_ERROR;
    assert_int_equal(seclog_append(fx->log, &other_severity), 0);
    (void)fx_settle(fx);
    recs_collect(fx->log, &l);
    assert_int_equal(recs_count(&l, "TEST/LOGIN"), 11);
    assert_int_equal(recs_count(&l, "LOG/FOLDED"), 0);
    recs_free(&l);
}

static void close_writes_the_summaries_of_open_windows(void **state)
{
    struct fx *fx = *state;
    struct seclog_entry e = {.topic = "TEST/REPEAT"};
    struct rec_list l;

    fx_open(fx);
    for (int i = 0; i < 5; i++)
        assert_int_equal(seclog_append(fx->log, &e), i == 0 ? 0 : 1);
    fx_reopen(fx);
    recs_collect(fx->log, &l);
    assert_int_equal(recs_count(&l, "TEST/REPEAT"), 1);
    assert_int_equal(rec_param_u64(recs_find(&l, "LOG/FOLDED", 0), "Count"), 4);
    recs_free(&l);
    verify_ok(fx->log, NULL);
}

static size_t fold_set_of(const struct seclog_entry *e)
{
    size_t set = 0;

    assert_int_equal(seclog__fold_set_of(e, &set), 0);
    return set;
}

#define COLLIDE_KEYS (SECLOG__FOLD_WAYS + 1)

static void colliding_entries_flush_the_displaced_summary_first(void **state)
{
    struct fx *fx = *state;
    struct seclog_param p[COLLIDE_KEYS];
    struct seclog_entry e[COLLIDE_KEYS];
    char value[COLLIDE_KEYS][16];
    uint64_t folded = 0, counted = 0;
    const struct rec_item *r;
    struct rec_list l;
    int found = 1;

    /* One key more than a set holds, all in the set of the first. */
    for (int i = 0; i < COLLIDE_KEYS; i++) {
        p[i] = (struct seclog_param){"N", value[i]};
        e[i] = (struct seclog_entry){.topic = "TEST/COLLIDE", .params = &p[i], .n_params = 1};
    }
    (void)snprintf(value[0], sizeof(value[0]), "a");
    for (int i = 0; found < COLLIDE_KEYS; i++) {
        (void)snprintf(value[found], sizeof(value[found]), "b%d", i);
        if (fold_set_of(&e[found]) == fold_set_of(&e[0]))
            found++;
        assert_true(i < 1000000);
    }
    fx_open(fx);
    /* k0, k1 k1, k2 k2 k2, ... in turn: a full set gives the window that opened first away,
     * which is always the key that comes next. */
    for (int round = 0; round < 20; round++) {
        const struct seclog_entry *k = &e[round % COLLIDE_KEYS];

        for (int i = 0; i < 1 + round; i++) {
            int rc = seclog_append(fx->log, k);

            assert_int_equal(rc, i == 0 ? 0 : 1);
            folded += rc == 1;
        }
    }
    fx_reopen(fx); /* close flushes the last window */
    recs_collect(fx->log, &l);
    assert_int_equal(recs_count(&l, "TEST/COLLIDE"), 20);
    for (size_t i = 0; (r = recs_find(&l, "LOG/FOLDED", i)); i++)
        counted += rec_param_u64(r, "Count");
    /* Nothing lost: every repeat is in exactly one summary. */
    assert_int_equal(counted, folded);
    /* k1's first window (one repeat) is summed up right before k0's second entry displaces
     * it (k0's first window had no repeat, so it left no summary). */
    r = recs_find(&l, "LOG/FOLDED", 0);
    assert_int_equal(rec_param_u64(r, "Count"), 1);
    assert_int_equal(r->seq + 1, recs_find(&l, "TEST/COLLIDE", COLLIDE_KEYS)->seq);
    recs_free(&l);
}

/* The storm of tests/integration/test_seclog_flood.py: 20 sources, each written once and
 * every repeat counted, so none may give another's window away. */
static void twenty_storm_sources_fold_without_displacing_each_other(void **state)
{
    struct fx *fx = *state;
    char src[32], port[8];
    struct seclog_param p[5] = {{"Src", src},
                                {"Dst", "255.255.255.255"},
                                {"Proto", "UDP"},
                                {"DstPort", port},
                                {"Action", "DROP"}};
    struct seclog_entry e = {.type = SECLOG_TYPE_SECURITY,
                             .topic = "NK/FIREWALL/DROP",
                             .params = p,
                             .n_params = ARRAY_SIZE(p)};
    int written = 0, folded = 0;

    fx_open(fx);
    for (unsigned i = 0; i < 4000; i++) {
        int rc;

        (void)snprintf(src, sizeof(src), "192.168.1.%u", 10 + i % 20);
        (void)snprintf(port, sizeof(port), "%u", i % 2 ? 138u : 137u);
        rc = seclog_append(fx->log, &e);
        assert_true(rc == 0 || rc == 1);
        written += rc == 0;
        folded += rc == 1;
    }
    assert_int_equal(written, 20);
    assert_int_equal(folded, 4000 - 20);
}

/* Small records are queued in blocks the writer hands back for reuse, large ones in heap
 * buffers: across many batches of both, every entry comes back exactly as appended. */
static void recycled_blocks_keep_every_entry_intact(void **state)
{
    struct fx *fx = *state;
    static char value[1200];
    char num[24], got[1200];
    struct seclog_param p[2] = {{"N", num}, {"Value", value}};
    struct seclog_entry e = {.topic = "TEST/BLOCK", .params = p, .n_params = 2};
    struct rec_list l;
    size_t k = 0;

    /* All of it stays, in a few segments (rotations cost syncs, and time). */
    fx->cfg.segment_bytes = 16 * TEST_SEG_BYTES;
    fx->cfg.capacity_bytes = 8ull * fx->cfg.segment_bytes;
    fx_open(fx);
    for (unsigned i = 0; i < 3000; i++) {
        size_t len = (i * 37) % sizeof(value);

        (void)snprintf(num, sizeof(num), "%u", i);
        for (size_t j = 0; j < len; j++)
            value[j] = (char)('a' + (i + j) % 26);
        value[len] = '\0';
        if (i % 500 == 499)
            assert_int_equal(seclog_append_durable(fx->log, &e, TEST_WAIT_MS, NULL), 0);
        else
            assert_int_equal(seclog_append(fx->log, &e), 0);
    }
    (void)fx_settle(fx);
    recs_collect(fx->log, &l);
    for (const struct rec_item *r; (r = recs_find(&l, "TEST/BLOCK", k)); k++) {
        size_t len = (k * 37) % sizeof(value);

        assert_int_equal(rec_param_u64(r, "N"), k);
        assert_true(rec_param(r, "Value", got, sizeof(got)));
        assert_int_equal(strlen(got), len);
        for (size_t j = 0; j < len; j++)
            assert_int_equal(got[j], (char)('a' + (k + j) % 26));
    }
    assert_int_equal(k, 3000);
    recs_free(&l);
    verify_ok(fx->log, NULL);
}

struct topic_seen {
    uint64_t a, b;
};

static void topic_fn(const char *topic, uint64_t count, void *arg)
{
    struct topic_seen *seen = arg;

    if (strcmp(topic, "TEST/A") == 0)
        seen->a = count;
    if (strcmp(topic, "TEST/B") == 0)
        seen->b = count;
}

static void stats_count_topics_and_the_daily_rate(void **state)
{
    struct fx *fx = *state;
    struct topic_seen seen = {0};
    struct seclog_stats st;

    fx_open(fx);
    fx_append_n(fx, "TEST/A", 30, 100);
    fx_append_n(fx, "TEST/B", 12, 100);
    (void)fx_settle(fx);
    assert_int_equal(seclog_stats_get(fx->log, &st, topic_fn, &seen), 0);
    assert_int_equal(seen.a, 30);
    assert_int_equal(seen.b, 12);
    assert_int_equal(st.records, 45);
    assert_int_equal(st.first_seq, 1);
    assert_int_equal(st.last_seq, 45);
    assert_int_equal(st.segments, 1);
    assert_int_equal(st.segments_max, 16);
    assert_int_equal(st.used_bytes, TEST_SEG_BYTES);
    assert_true(st.bytes_per_day > 45 * 100);
    assert_true(st.retention_days_possible > 0);
    assert_true(st.oldest_ms <= st.newest_ms);
    /* A day later the same entries no longer count for the rate. */
    assert_int_equal(clock_advance(TEST_DAY_MS + 1000), 0);
    assert_int_equal(seclog_stats_get(fx->log, &st, NULL, NULL), 0);
    assert_true(st.bytes_per_day == 0);
    assert_true(st.retention_days_possible == 0);
}

#define GROUP_THREADS 8
#define GROUP_APPENDS 40

struct group_producer {
    pthread_t thread;
    struct seclog *log;
    unsigned id;
    uint64_t seqs[GROUP_APPENDS];
    int result;
};

static void *group_producer_main(void *arg)
{
    struct group_producer *p = arg;
    char n[32];
    struct seclog_param prm = {"N", n};
    struct seclog_entry e = {.topic = "TEST/GROUP", .params = &prm, .n_params = 1};

    for (int i = 0; i < GROUP_APPENDS && p->result == 0; i++) {
        (void)snprintf(n, sizeof(n), "%u-%d", p->id, i);
        p->result = seclog_append_durable(p->log, &e, TEST_WAIT_MS, &p->seqs[i]);
    }
    return NULL;
}

/* Producers that each wait for their own record share fdatasyncs (the writer gathers a
 * group); every one of them is acknowledged exactly once, with its own seq, and nothing
 * else changes: the log verifies and holds every record. */
static void concurrent_durable_appends_are_each_acknowledged(void **state)
{
    struct fx *fx = *state;
    struct group_producer *p = calloc(GROUP_THREADS, sizeof(*p));
    uint64_t *all = calloc(GROUP_THREADS * GROUP_APPENDS, sizeof(*all));
    struct rec_list l;
    size_t n = 0;

    assert_non_null(p);
    assert_non_null(all);
    fx_open(fx);
    for (unsigned i = 0; i < GROUP_THREADS; i++) {
        p[i].log = fx->log;
        p[i].id = i;
        assert_int_equal(pthread_create(&p[i].thread, NULL, group_producer_main, &p[i]), 0);
    }
    for (unsigned i = 0; i < GROUP_THREADS; i++) {
        assert_int_equal(pthread_join(p[i].thread, NULL), 0);
        assert_int_equal(p[i].result, 0);
        for (int k = 0; k < GROUP_APPENDS; k++)
            all[n++] = p[i].seqs[k];
    }
    for (size_t i = 0; i < n; i++)
        for (size_t k = i + 1; k < n; k++)
            assert_true(all[i] != all[k]);
    pthread_mutex_lock(&fx->log->lock);
    assert_int_equal(fx->log->waiters_pending, 0);
    assert_null(fx->log->waiters);
    pthread_mutex_unlock(&fx->log->lock);
    recs_collect(fx->log, &l);
    assert_int_equal(recs_count(&l, "TEST/GROUP"), GROUP_THREADS * GROUP_APPENDS);
    recs_free(&l);
    verify_ok(fx->log, NULL);
    free(all);
    free(p);
}

static void crash_keeps_everything_durable(void **state)
{
    struct fx *fx = *state;
    struct rec_list l;
    uint64_t last;

    fx_open(fx);
    fx_append_n(fx, "TEST/A", 500, 50);
    last = fx_mark(fx);
    fx_append_n(fx, "TEST/B", 50, 50); /* may or may not make it */
    seclog__crash_for_tests(fx->log);
    fx->log = NULL;
    fx_open(fx);
    recs_collect(fx->log, &l);
    assert_true(l.n >= last);
    assert_int_equal(recs_count(&l, "TEST/A"), 500);
    for (size_t i = 0; i < last; i++)
        assert_int_equal(l.v[i].seq, i + 1);
    recs_free(&l);
    verify_ok(fx->log, NULL);
    assert_true(fx_mark(fx) > last);
}

/* The end of the records of a segment file: offset after the last one. */
static int end_fn(const struct seclog__parsed *p, uint64_t offset, void *arg)
{
    *(uint64_t *)arg = offset + p->len;
    return 0;
}

static uint64_t records_end(const char *path)
{
    uint64_t end = SECLOG__HEADER_BYTES;

    assert_int_equal(seclog__file_foreach(path, 0, end_fn, &end, NULL), 0);
    return end;
}

static void torn_tail_is_cut_and_recorded(void **state)
{
    struct fx *fx = *state;
    char *path = seclog__segment_path(fx->dir, 1);
    uint8_t junk[200];
    struct rec_list l;
    int fd;

    fx_open(fx);
    fx_append_n(fx, "TEST/A", 20, 10);
    (void)fx_mark(fx);
    seclog__crash_for_tests(fx->log);
    fx->log = NULL;
    /* Half a record: a length word, then garbage, as a write cut by power loss leaves. */
    memset(junk, 0xa5, sizeof(junk));
    junk[0] = 0xf0, junk[1] = 0x01, junk[2] = 0, junk[3] = 0;
    fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, junk, sizeof(junk), (off_t)records_end(path)), sizeof(junk));
    close(fd);
    fx_open(fx);
    (void)fx_settle(fx);
    recs_collect(fx->log, &l);
    assert_int_equal(recs_count(&l, "TEST/A"), 20);
    assert_int_equal(recs_count(&l, "LOG/TORN_TAIL"), 1);
    assert_int_equal(rec_param_u64(recs_find(&l, "LOG/TORN_TAIL", 0), "Segment"), 1);
    assert_true(rec_param_u64(recs_find(&l, "LOG/TORN_TAIL", 0), "Bytes") >= sizeof(junk));
    recs_free(&l);
    verify_ok(fx->log, NULL);
    free(path);
}

/* Offset of the nth record (0-based) of a segment file. */
struct nth_arg {
    size_t n;
    uint64_t offset;
};

static int nth_fn(const struct seclog__parsed *p, uint64_t offset, void *arg)
{
    struct nth_arg *a = arg;

    if (a->n-- == 0) {
        a->offset = offset;
        return 1;
    }
    return 0;
}

static void damaged_tail_is_set_aside_and_the_sequence_continues(void **state)
{
    struct fx *fx = *state;
    char *path = seclog__segment_path(fx->dir, 1), *aside = NULL;
    struct nth_arg at = {.n = 2};
    const struct rec_item *r;
    struct rec_list l;
    uint8_t byte;
    int fd;

    fx_open(fx);
    fx_append_n(fx, "TEST/A", 10, 10);
    (void)fx_mark(fx); /* seqs 1..11 */
    fx->log = seclog_close(fx->log);
    /* Damage the third record; the ones after it stay valid: not a torn write. */
    assert_int_equal(seclog__file_foreach(path, 0, nth_fn, &at, NULL), 0);
    fd = open(path, O_RDWR);
    assert_int_equal(pread(fd, &byte, 1, (off_t)at.offset + SECLOG__RECORD_FIXED + 2), 1);
    byte ^= 0xff;
    assert_int_equal(pwrite(fd, &byte, 1, (off_t)at.offset + SECLOG__RECORD_FIXED + 2), 1);
    close(fd);
    fx_open(fx);
    (void)fx_settle(fx);
    assert_int_equal(asprintf(&aside, "%s.damaged", path), (int)strlen(path) + 8);
    assert_true(fs_exists(aside));
    assert_false(fs_exists(path));
    recs_collect(fx->log, &l);
    r = recs_find(&l, "LOG/SEGMENT_SET_ASIDE", 0);
    assert_non_null(r);
    assert_int_equal(rec_param_u64(r, "Segment"), 1);
    assert_int_equal(rec_param_u64(r, "FromSeq"), 1);
    assert_int_equal(rec_param_u64(r, "UpToSeq"), 2);
    assert_int_equal(r->seq, 3); /* continues after the last good entry */
    recs_free(&l);
    verify_ok(fx->log, NULL); /* the head is accounted for by the set-aside record */
    free(aside);
    free(path);
}

static void severity_and_type_names_round_trip(void **state)
{
    enum seclog_severity s;

    for (int i = 0; i < SECLOG_SEVERITY_MAX; i++) {
        assert_int_equal(seclog_severity_from_string(seclog_severity_to_string(i), &s), 0);
        assert_int_equal(s, i);
    }
    assert_string_equal(seclog_severity_to_string(SECLOG_SEVERITY_FATAL), "Fatal");
    assert_int_equal(seclog_severity_from_string("Loud", &s), -EINVAL);
    assert_string_equal(seclog_type_to_string(SECLOG_TYPE_INFRASTRUCTURE), "Infrastructure");
    assert_string_equal(seclog_type_to_string(SECLOG_TYPE_MAX), "Unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(open_refuses_a_budget_below_four_segments, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(open_creates_the_first_segment_and_reserves_the_budget,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(append_close_reopen_keeps_every_entry_and_the_chain,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(append_rejects_invalid_entries, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(durable_append_returns_its_seq_once_synced, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(identical_entries_fold_into_one_summary, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(entries_with_different_params_are_not_folded, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(close_writes_the_summaries_of_open_windows, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(recycled_blocks_keep_every_entry_intact, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(twenty_storm_sources_fold_without_displacing_each_other,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(colliding_entries_flush_the_displaced_summary_first,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(stats_count_topics_and_the_daily_rate, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(concurrent_durable_appends_are_each_acknowledged, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(crash_keeps_everything_durable, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(torn_tail_is_cut_and_recorded, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(damaged_tail_is_set_aside_and_the_sequence_continues,
                                        fx_setup, fx_teardown),
        cmocka_unit_test(severity_and_type_names_round_trip),
    };

    clock_init(CLOCK_MODE_VIRTUAL);
    log_level_set(LOG_LEVEL_FATAL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
