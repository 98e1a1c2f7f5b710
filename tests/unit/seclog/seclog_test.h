/* Helpers shared by the seclog unit tests that run a real log (test_reader.c, test_verify.c):
 * a log in a temporary directory with small segments, entries written through the engine,
 * and tools to find and change records on disk between a close and the next open. Include
 * after cmocka.h. */
#ifndef KONN_SECLOG_TEST_H
#define KONN_SECLOG_TEST_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "seclog/seclog_internal.h"

#define TLOG_SEG_BYTES (16 * 1024)
#define TLOG_TIME0 1764403200000LL /* 2025-11-29T08:00:00Z */

struct tlog {
    char root[64];
    char *dir, *key_path;
    struct seclog_config cfg;
    struct seclog *log;
};

static inline void tlog_open(struct tlog *t)
{
    assert_int_equal(seclog_open(&t->cfg, &t->log), 0);
}

static inline void tlog_close(struct tlog *t)
{
    t->log = seclog_close(t->log);
}

/* A log of segments_max segments of TLOG_SEG_BYTES, with seals. */
static inline struct tlog *tlog_new(uint64_t segments_max)
{
    struct tlog *t = calloc(1, sizeof(*t));

    assert_non_null(t);
    (void)str_copy(t->root, sizeof(t->root), "/tmp/konn-seclog-XXXXXX");
    assert_non_null(mkdtemp(t->root));
    t->dir = fs_path_join(t->root, "log");
    t->key_path = fs_path_join(t->root, "verification.key");
    t->cfg = (struct seclog_config){.dir = t->dir,
                                    .name = "test",
                                    .capacity_bytes = segments_max * TLOG_SEG_BYTES,
                                    .segment_bytes = TLOG_SEG_BYTES,
                                    .retention_ms = 10LL * 24 * 3600 * 1000,
                                    .verification_key_path = t->key_path};
    tlog_open(t);
    return t;
}

static inline void tlog_free(struct tlog *t)
{
    char cmd[128];

    io_fault_clear();
    tlog_close(t);
    (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->root);
    assert_int_equal(system(cmd), 0);
    free(t->dir);
    free(t->key_path);
    free(t);
}

/* Queues n entries "T/A" and "T/B" in turn, severity i % 4, time TLOG_TIME0 + i s, one
 * parameter Value = "v<i>" padded to value_len, then waits until all are durable. Returns the
 * seq of the first one. */
static inline uint64_t tlog_fill(struct tlog *t, size_t n, size_t value_len)
{
    char value[SECLOG_VALUE_MAX + 1];
    struct seclog_param p = {"Value", value};
    struct seclog_entry e = {.params = &p, .n_params = 1};
    struct seclog_entry sync = {.topic = "SYNC/DONE"};
    uint64_t seq = 0;

    for (size_t i = 0; i < n; i++) {
        int w = snprintf(value, sizeof(value), "v%zu", i);

        memset(value + w, '.', value_len > (size_t)w ? value_len - (size_t)w : 0);
        value[value_len > (size_t)w ? value_len : (size_t)w] = '\0';
        e.topic = i % 2 ? "T/B" : "T/A";
        e.severity = (enum seclog_severity)(i % 4);
        e.time_ms = TLOG_TIME0 + (int64_t)i * 1000;
        assert_int_equal(seclog_append(t->log, &e), 0);
    }
    assert_int_equal(seclog_append_durable(t->log, &sync, 10000, &seq), 0);
    return seq - n;
}

/* Waits until everything queued so far (the engine's own records too) is durable. */
static inline void tlog_sync(struct tlog *t)
{
    struct seclog_entry sync = {.topic = "SYNC/DONE"};

    assert_int_equal(seclog_append_durable(t->log, &sync, 10000, NULL), 0);
}

/* Not inline: gcc -O2 otherwise takes the out-parameter of fs_read_all for a dangling local. */
__attribute__((noinline, unused)) static char *tlog_key(const struct tlog *t)
{
    char *text = NULL;
    size_t len;

    assert_int_equal(fs_read_all(t->key_path, 4096, &text, &len), 0);
    return text;
}

struct tlog_find {
    uint64_t seq;
    enum seclog__kind kind;
    uint64_t offset;
    uint32_t len;
    bool found;
};

static inline int tlog_find_fn(const struct seclog__parsed *p, uint64_t offset, void *arg)
{
    struct tlog_find *f = arg;

    if (p->seq != f->seq || p->kind != f->kind)
        return 0;
    f->offset = offset;
    f->len = p->len;
    f->found = true;
    return 1;
}

/* The path of the segment (in the current snapshot) that holds entry seq; heap string. */
static inline char *tlog_segment_of(struct tlog *t, uint64_t seq, size_t *ret_pos)
{
    struct seclog__view v;
    char *path = NULL;

    assert_int_equal(seclog__snapshot(t->log, &v), 0);
    for (size_t i = 0; i < v.n && !path; i++)
        if (v.segs[i].records > 0 && v.segs[i].first_seq <= seq && seq <= v.segs[i].last_seq) {
            path = strdup(v.segs[i].path);
            if (ret_pos)
                *ret_pos = i;
        }
    seclog__view_done(&v);
    assert_non_null(path);
    return path;
}

/* Flips one bit at byte `at` of the record (kind, seq) in the file; with fix_crc the CRC is
 * made to fit again, so that only the hash chain or the seal can tell. */
static inline void tlog_tamper(const char *path, uint64_t seq, enum seclog__kind kind, size_t at,
                               bool fix_crc)
{
    struct tlog_find f = {.seq = seq, .kind = kind};
    uint8_t rec[SECLOG__RECORD_MAX];
    uint32_t crc;
    int fd;

    assert_int_equal(seclog__file_foreach(path, 0, tlog_find_fn, &f, NULL), 0);
    assert_true(f.found);
    fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, rec, f.len, (off_t)f.offset), (ssize_t)f.len);
    rec[at] ^= 0x01;
    if (fix_crc) {
        crc = seclog__crc32c(0, rec + 8, f.len - 8);
        for (int i = 0; i < 4; i++)
            rec[4 + i] = (uint8_t)(crc >> (8 * i));
    }
    assert_int_equal(pwrite(fd, rec, f.len, (off_t)f.offset), (ssize_t)f.len);
    close(fd);
}

#endif
