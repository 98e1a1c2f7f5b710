/* Unit tests for src/seclog/segment.c and scan.c: naming and listing, create (with every I/O
 * step failing in turn), append and close, opening tails (torn, damaged, closed) and closed
 * segments, set aside, remove, the reserve, and the chunked record walk. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/base.h"
#include "seclog/seclog_internal.h"

#define SEG_BYTES (64 * 1024)

struct fixture {
    char dir[64];
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));

    (void)str_copy(fx->dir, sizeof(fx->dir), "/tmp/konn-seg-XXXXXX");
    if (!mkdtemp(fx->dir))
        return -1;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    char cmd[128];

    io_fault_clear();
    (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
    if (system(cmd) != 0)
        return -1;
    free(fx);
    return 0;
}

static struct seclog__seg_header header(uint64_t index, uint64_t first_seq, uint32_t bytes)
{
    struct seclog__seg_header h = {.version = SECLOG__FORMAT_VERSION,
                                   .segment_bytes = bytes,
                                   .index = index,
                                   .first_seq = first_seq,
                                   .created_ms = 1000};

    memset(h.boot_id, 0x5a, sizeof(h.boot_id));
    memset(h.prev_hash, 0x33, sizeof(h.prev_hash));
    return h;
}

/* Appends n entries (value of value_len bytes) and keeps the segment's fields as the engine
 * does. Returns the offset of the first one. */
static uint64_t add_entries(struct seclog__segment *seg, size_t n, size_t value_len)
{
    static char value[SECLOG_VALUE_MAX + 1];
    struct seclog_param p = {"Value", value};
    struct seclog_entry e = {.topic = "TEST/ENTRY", .params = &p, .n_params = 1};
    uint8_t *buf = malloc(SECLOG__RECORD_MAX), prev[32];
    uint64_t first = seg->data_end;
    size_t len;

    memset(value, 'v', value_len);
    value[value_len] = '\0';
    for (size_t i = 0; i < n; i++) {
        uint64_t seq = seg->records ? seg->last_seq + 1 : seg->hdr.first_seq;
        int64_t t = 5000 + (int64_t)seq;

        assert_int_equal(
            seclog__entry_encode(&e, t, seg->hdr.boot_id, buf, SECLOG__RECORD_MAX, &len), 0);
        memcpy(prev, seg->last_hash, 32);
        seclog__record_finish(buf, len, seq, prev, seg->last_hash);
        assert_int_equal(seclog__segment_append(seg, buf, len), 0);
        if (seg->records++ == 0)
            seg->first_ms = t;
        seg->last_seq = seq;
        seg->last_ms = t;
    }
    free(buf);
    return first;
}

static struct seclog__segment *new_segment(struct fixture *fx, uint64_t index, uint32_t bytes)
{
    struct seclog__seg_header h = header(index, 1, bytes);
    struct seclog__segment *seg = NULL;

    assert_int_equal(seclog__segment_create(fx->dir, &h, &seg), 0);
    return seg;
}

static uint8_t *read_file(const char *path, size_t *ret_len)
{
    char *data = NULL;

    assert_int_equal(fs_read_all(path, 64 * 1024 * 1024, &data, ret_len), 0);
    return (uint8_t *)data;
}

static void poke(const char *path, uint64_t off, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY);

    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, data, len, (off_t)off), (ssize_t)len);
    close(fd);
}

static void dir_list_names_segments_in_order(void **state)
{
    struct fixture *fx = *state;
    const char *names[] = {"seg-0000000000000003.log",         "seg-0000000000000001.log",
                           "seg-000000000000000a.log.damaged", "reserve",
                           "seg-00000000000000XY.log",         "seg-1.log"};
    uint64_t *v = NULL;
    size_t n = 0;
    char *path = seclog__segment_path(fx->dir, 0x1f);

    assert_string_equal(strrchr(path, '/'), "/seg-000000000000001f.log");
    free(path);
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        path = fs_path_join(fx->dir, names[i]);
        assert_int_equal(fs_write_atomic(path, "", 0, 0600), 0);
        free(path);
    }
    assert_int_equal(seclog__dir_list(fx->dir, &v, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(v[0], 1);
    assert_int_equal(v[1], 3);
    free(v);
}

static void create_preallocates_and_writes_a_durable_header(void **state)
{
    struct fixture *fx = *state;
    struct seclog__segment *seg = new_segment(fx, 7, SEG_BYTES);
    struct seclog__seg_header h;
    struct stat st;
    uint8_t *data;
    size_t len;

    assert_int_equal(stat(seg->path, &st), 0);
    assert_int_equal(st.st_size, SEG_BYTES);
    assert_int_equal(st.st_mode & 0777, 0600);
    data = read_file(seg->path, &len);
    assert_int_equal(seclog__header_decode(data, &h), 0);
    assert_int_equal(h.index, 7);
    assert_int_equal(seg->data_end, SECLOG__HEADER_BYTES);
    assert_int_equal(seg->last_seq, 0);
    assert_memory_equal(seg->last_hash, h.prev_hash, 32);
    assert_int_equal(seclog__segment_room(seg), SEG_BYTES - 8192);
    free(data);
    seg = seclog__segment_free(seg);
}

static void create_refuses_an_existing_segment_and_a_bad_header(void **state)
{
    struct fixture *fx = *state;
    struct seclog__segment *seg = new_segment(fx, 1, SEG_BYTES), *again = NULL;
    struct seclog__seg_header h = header(1, 1, SEG_BYTES);

    assert_int_equal(seclog__segment_create(fx->dir, &h, &again), -EEXIST);
    h = header(2, 1, SEG_BYTES + 100);
    assert_int_equal(seclog__segment_create(fx->dir, &h, &again), -EINVAL);
    h = header(2, 0, SEG_BYTES);
    assert_int_equal(seclog__segment_create(fx->dir, &h, &again), -EINVAL);
    assert_null(again);
    seg = seclog__segment_free(seg);
}

static void create_failing_at_any_step_leaves_no_segment(void **state)
{
    struct fixture *fx = *state;
    const enum io_op ops[] = {IO_OP_OPEN, IO_OP_FALLOCATE, IO_OP_PWRITE, IO_OP_FDATASYNC,
                              IO_OP_FSYNC};

    for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
        struct seclog__seg_header h = header(i + 1, 1, SEG_BYTES);
        struct seclog__segment *seg = NULL;
        char *path = seclog__segment_path(fx->dir, i + 1);

        io_fault_at(ops[i], 1, ops[i] == IO_OP_FALLOCATE ? ENOSPC : EIO);
        assert_int_equal(seclog__segment_create(fx->dir, &h, &seg),
                         ops[i] == IO_OP_FALLOCATE ? -ENOSPC : -EIO);
        assert_null(seg);
        assert_false(fs_exists(path));
        free(path);
        io_fault_clear();
    }
}

static void closed_segment_opens_from_header_and_footer(void **state)
{
    struct fixture *fx = *state;
    struct seclog__segment *seg = new_segment(fx, 1, SEG_BYTES), *back = NULL;
    struct seclog__tail_report rep;
    uint8_t hash[32];

    (void)add_entries(seg, 5, 100);
    memcpy(hash, seg->last_hash, 32);
    assert_int_equal(seclog__segment_close(seg), 0);
    assert_true(seg->closed);
    assert_int_equal(seg->fd, -1);
    assert_int_equal(seclog__segment_append(seg, hash, 8), -EINVAL);
    assert_int_equal(seclog__segment_open_closed(fx->dir, 1, &back, &rep), 0);
    assert_false(rep.closed_by_scan);
    assert_true(back->closed);
    assert_int_equal(back->fd, -1);
    assert_int_equal(back->last_seq, 5);
    assert_int_equal(back->records, 5);
    assert_int_equal(back->first_ms, 5001);
    assert_int_equal(back->last_ms, 5005);
    assert_int_equal(back->data_end, seg->data_end);
    assert_memory_equal(back->last_hash, hash, 32);
    back = seclog__segment_free(back);
    seg = seclog__segment_free(seg);
}

static void open_tail_finds_the_end_and_continues_the_chain(void **state)
{
    struct fixture *fx = *state;
    struct seclog__segment *seg = new_segment(fx, 1, SEG_BYTES), *tail = NULL;
    struct seclog__tail_report rep;

    (void)add_entries(seg, 4, 300);
    assert_int_equal(seclog__segment_sync(seg), 0);
    assert_int_equal(seclog__segment_open_tail(fx->dir, 1, &tail, &rep), 0);
    assert_false(rep.torn || rep.damaged || rep.closed_by_scan);
    assert_false(tail->closed);
    assert_true(tail->fd >= 0);
    assert_int_equal(tail->data_end, seg->data_end);
    assert_int_equal(tail->last_seq, 4);
    assert_int_equal(tail->records, 4);
    assert_memory_equal(tail->last_hash, seg->last_hash, 32);
    seg = seclog__segment_free(seg);
    (void)add_entries(tail, 2, 10);
    tail = seclog__segment_free(tail);
    assert_int_equal(seclog__segment_open_tail(fx->dir, 1, &tail, &rep), 0);
    assert_int_equal(tail->last_seq, 6);
    tail = seclog__segment_free(tail);
}

static void open_tail_cuts_torn_last_record(void **state)
{
    struct fixture *fx = *state;
    struct seclog__segment *seg = new_segment(fx, 1, SEG_BYTES), *tail = NULL;
    struct seclog__tail_report rep;
    uint64_t end, last;
    uint8_t *data;
    size_t len;

    (void)add_entries(seg, 3, 100);
    end = seg->data_end;
    last = add_entries(seg, 1, 4000);
    /* Only the first 2 KiB of the last record reached the disk. */
    data = read_file(seg->path, &len);
    memset(data + last + 2048, 0, seg->data_end - last - 2048);
    poke(seg->path, 0, data, len);
    free(data);
    assert_int_equal(seclog__segment_open_tail(fx->dir, 1, &tail, &rep), 0);
    assert_true(rep.torn);
    assert_false(rep.damaged);
    assert_int_equal(tail->data_end, end);
    assert_int_equal(tail->last_seq, 3);
    assert_true(rep.torn_bytes >= seg->data_end - last);
    assert_int_equal((end + rep.torn_bytes) % 4096, 0);
    data = read_file(seg->path, &len);
    for (uint64_t i = end; i < seg->data_end; i++)
        assert_int_equal(data[i], 0);
    free(data);
    tail = seclog__segment_free(tail);
    assert_int_equal(seclog__segment_open_tail(fx->dir, 1, &tail, &rep), 0);
    assert_false(rep.torn);
    tail = seclog__segment_free(tail);
    seg = seclog__segment_free(seg);
}

static void open_tail_zeroes_stray_bytes_after_the_end(void **state)
{
    struct fixture *fx = *state;
    struct seclog__segment *seg = new_segment(fx, 1, SEG_BYTES), *tail = NULL;
    struct seclog__tail_report rep;

    (void)add_entries(seg, 2, 100);
    /* A later page of a lost batch made it to disk, its first page did not. */
    poke(seg->path, 20000, "stray bytes", 11);
    assert_int_equal(seclog__segment_open_tail(fx->dir, 1, &tail, &rep), 0);
    assert_true(rep.torn);
    assert_int_equal(tail->last_seq, 2);
    assert_int_equal(seg->data_end + rep.torn_bytes, 20480);
    tail = seclog__segment_free(tail);
    assert_int_equal(seclog__segment_open_tail(fx->dir, 1, &tail, &rep), 0);
    assert_false(rep.torn);
    tail = seclog__segment_free(tail);
    seg = seclog__segment_free(seg);
}

static void open_tail_sets_aside_damage_before_valid_data(void **state)
{
    struct fixture *fx = *state;
    struct seclog__segment *seg = new_segment(fx, 1, SEG_BYTES), *tail = NULL;
    struct seclog__tail_report rep;
    uint8_t *before, *after;
    uint64_t bad;
    size_t len, len2;

    (void)add_entries(seg, 2, 100);
    bad = add_entries(seg, 1, 100);
    (void)add_entries(seg, 2, 100);
    poke(seg->path, bad + 100, "X", 1);
    before = read_file(seg->path, &len);
    assert_int_equal(seclog__segment_open_tail(fx->dir, 1, &tail, &rep), -EBADMSG);
    assert_null(tail);
    assert_true(rep.damaged);
    assert_false(rep.torn);
    assert_int_equal(rep.damaged_at, bad);
    after = read_file(seg->path, &len2);
    assert_int_equal(len, len2);
    assert_memory_equal(before, after, len);
    free(before);
    free(after);
    seg = seclog__segment_free(seg);
}

static void open_tail_never_cuts_a_record_with_a_valid_crc(void **state)
{
    struct fixture *fx = *state;
    struct seclog__segment *seg = new_segment(fx, 1, SEG_BYTES), *tail = NULL;
    struct seclog__tail_report rep;
    uint8_t rec[112];
    uint64_t last;
    uint32_t crc;

    (void)add_entries(seg, 2, 10);
    last = add_entries(seg, 1, 10);
    /* The last record (112 bytes) changed and its CRC made to fit: the chain shows it. */
    assert_int_equal(pread(seg->fd, rec, sizeof(rec), (off_t)last), sizeof(rec));
    rec[24] ^= 1;
    crc = seclog__crc32c(0, rec + 8, sizeof(rec) - 8);
    for (int i = 0; i < 4; i++)
        rec[4 + i] = (uint8_t)(crc >> (8 * i));
    poke(seg->path, last, rec, sizeof(rec));
    assert_int_equal(seclog__segment_open_tail(fx->dir, 1, &tail, &rep), -EBADMSG);
    assert_true(rep.damaged);
    assert_int_equal(rep.damaged_at, last);
    seg = seclog__segment_free(seg);
}

static void open_tail_checks_seals_against_the_entry_before_them(void **state)
{
    struct fixture *fx = *state;
    struct seclog__seg_header h = header(2, 10, SEG_BYTES);
    struct seclog__segment *seg = NULL, *tail = NULL;
    struct seclog__tail_report rep;
    uint8_t seal[128], mac[32] = {0}, wrong[32];
    size_t len;

    assert_int_equal(seclog__segment_create(fx->dir, &h, &seg), 0);
    /* A seal first in a segment covers the previous segment's last entry: the anchor. */
    assert_int_equal(
        seclog__seal_encode(9, 1, h.boot_id, h.prev_hash, 1, mac, seal, sizeof(seal), &len), 0);
    assert_int_equal(seclog__segment_append(seg, seal, len), 0);
    (void)add_entries(seg, 2, 10);
    assert_int_equal(
        seclog__seal_encode(11, 1, h.boot_id, seg->last_hash, 1, mac, seal, sizeof(seal), &len), 0);
    assert_int_equal(seclog__segment_append(seg, seal, len), 0);
    assert_int_equal(seclog__segment_open_tail(fx->dir, 2, &tail, &rep), 0);
    assert_int_equal(tail->last_seq, 11);
    assert_int_equal(tail->data_end, seg->data_end);
    tail = seclog__segment_free(tail);
    memset(wrong, 0xee, sizeof(wrong));
    assert_int_equal(seclog__seal_encode(11, 1, h.boot_id, wrong, 1, mac, seal, sizeof(seal), &len),
                     0);
    assert_int_equal(seclog__segment_append(seg, seal, len), 0);
    assert_int_equal(seclog__segment_open_tail(fx->dir, 2, &tail, &rep), -EBADMSG);
    assert_true(rep.damaged);
    seg = seclog__segment_free(seg);
}

static void open_tail_treats_a_tail_with_footer_as_closed(void **state)
{
    struct fixture *fx = *state;
    struct seclog__segment *seg = new_segment(fx, 1, SEG_BYTES), *tail = NULL;
    struct seclog__tail_report rep;

    (void)add_entries(seg, 3, 10);
    assert_int_equal(seclog__segment_close(seg), 0);
    assert_int_equal(seclog__segment_open_tail(fx->dir, 1, &tail, &rep), 0);
    assert_true(tail->closed);
    assert_int_equal(tail->fd, -1);
    assert_int_equal(tail->last_seq, 3);
    assert_int_equal(seclog__segment_room(tail), 0);
    tail = seclog__segment_free(tail);
    seg = seclog__segment_free(seg);
}

static void open_reports_a_bad_header_as_damage(void **state)
{
    struct fixture *fx = *state;
    struct seclog__segment *seg = new_segment(fx, 1, SEG_BYTES), *tail = NULL;
    struct seclog__tail_report rep;

    poke(seg->path, 40, "\xff", 1);
    assert_int_equal(seclog__segment_open_tail(fx->dir, 1, &tail, &rep), -EBADMSG);
    assert_true(rep.damaged);
    assert_int_equal(rep.damaged_at, 0);
    assert_int_equal(seclog__segment_open_closed(fx->dir, 1, &tail, &rep), -EBADMSG);
    assert_int_equal(seclog__segment_open_closed(fx->dir, 9, &tail, &rep), -ENOENT);
    seg = seclog__segment_free(seg);
}

static void open_closed_scans_a_segment_without_footer_and_changes_nothing(void **state)
{
    struct fixture *fx = *state;
    struct seclog__segment *seg = new_segment(fx, 1, SEG_BYTES), *back = NULL;
    struct seclog__tail_report rep;
    uint8_t *before, *after;
    uint64_t end;
    size_t len, len2;

    (void)add_entries(seg, 3, 10);
    end = seg->data_end;
    (void)add_entries(seg, 1, 10);
    poke(seg->path, end + 90, "\1", 1); /* a torn last record */
    before = read_file(seg->path, &len);
    assert_int_equal(seclog__segment_open_closed(fx->dir, 1, &back, &rep), 0);
    assert_true(rep.closed_by_scan);
    assert_false(rep.torn);
    assert_true(back->closed);
    assert_int_equal(back->data_end, end);
    assert_int_equal(back->last_seq, 3);
    after = read_file(seg->path, &len2);
    assert_memory_equal(before, after, len);
    free(before);
    free(after);
    back = seclog__segment_free(back);
    seg = seclog__segment_free(seg);
}

static void append_refuses_what_does_not_fit(void **state)
{
    struct fixture *fx = *state;
    struct seclog__segment *seg = new_segment(fx, 1, SECLOG__SEGMENT_BYTES_MIN);
    uint8_t *big = calloc(1, SECLOG__SEGMENT_BYTES_MIN);

    assert_int_equal(seclog__segment_append(seg, big, seclog__segment_room(seg) + 8), -ENOSPC);
    assert_int_equal(seclog__segment_append(seg, big, 12), -EINVAL);
    io_fault_at(IO_OP_PWRITE, 1, EIO);
    assert_int_equal(seclog__segment_append(seg, big, 64), -EIO);
    assert_int_equal(seg->data_end, SECLOG__HEADER_BYTES);
    assert_int_equal(seclog__segment_append(seg, big, seclog__segment_room(seg)), 0);
    assert_int_equal(seclog__segment_room(seg), 0);
    free(big);
    seg = seclog__segment_free(seg);
}

static void close_failing_leaves_the_segment_open(void **state)
{
    struct fixture *fx = *state;
    struct seclog__segment *seg = new_segment(fx, 1, SEG_BYTES), *back = NULL;
    struct seclog__tail_report rep;

    (void)add_entries(seg, 2, 10);
    io_fault_at(IO_OP_FDATASYNC, 1, EIO);
    assert_int_equal(seclog__segment_close(seg), -EIO);
    assert_false(seg->closed);
    assert_true(seg->fd >= 0);
    assert_int_equal(seclog__segment_close(seg), 0);
    assert_int_equal(seclog__segment_open_closed(fx->dir, 1, &back, &rep), 0);
    assert_int_equal(back->last_seq, 2);
    back = seclog__segment_free(back);
    seg = seclog__segment_free(seg);
}

static void open_tail_failing_to_zero_reports_the_error(void **state)
{
    struct fixture *fx = *state;
    struct seclog__segment *seg = new_segment(fx, 1, SEG_BYTES), *tail = NULL;
    struct seclog__tail_report rep;

    (void)add_entries(seg, 2, 10);
    poke(seg->path, seg->data_end, "\x60\0\0\0junk", 8);
    io_fault_at(IO_OP_PWRITE, 1, EIO);
    assert_int_equal(seclog__segment_open_tail(fx->dir, 1, &tail, &rep), -EIO);
    assert_null(tail);
    assert_false(rep.torn);
    assert_int_equal(seclog__segment_open_tail(fx->dir, 1, &tail, &rep), 0);
    assert_true(rep.torn);
    tail = seclog__segment_free(tail);
    seg = seclog__segment_free(seg);
}

static void set_aside_renames_and_remove_unlinks(void **state)
{
    struct fixture *fx = *state;
    struct seclog__segment *a = new_segment(fx, 1, SEG_BYTES), *b = new_segment(fx, 2, SEG_BYTES);
    uint64_t *v = NULL;
    size_t n;

    assert_int_equal(seclog__segment_set_aside(a), 0);
    assert_non_null(strstr(a->path, "seg-0000000000000001.log.damaged"));
    assert_true(fs_exists(a->path));
    assert_int_equal(a->fd, -1);
    assert_int_equal(seclog__segment_remove(b), 0);
    assert_false(fs_exists(b->path));
    assert_int_equal(seclog__dir_list(fx->dir, &v, &n), 0);
    assert_int_equal(n, 0);
    free(v);
    a = seclog__segment_free(a);
    b = seclog__segment_free(b);
}

static void reserve_set_grows_and_shrinks_the_reserve_file(void **state)
{
    struct fixture *fx = *state;
    char *path = fs_path_join(fx->dir, "reserve");
    struct stat st;

    assert_int_equal(seclog__reserve_set(fx->dir, 1 << 20), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 1 << 20);
    assert_int_equal(seclog__reserve_set(fx->dir, 4096), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 4096);
    io_fault_at(IO_OP_FALLOCATE, 1, ENOSPC);
    assert_int_equal(seclog__reserve_set(fx->dir, 1 << 20), -ENOSPC);
    free(path);
}

struct walk {
    uint64_t n, next_seq, stop_at;
};

static int count_fn(const struct seclog__parsed *p, uint64_t offset, void *arg)
{
    struct walk *w = arg;

    assert_int_equal(p->seq, w->next_seq);
    w->next_seq++;
    w->n++;
    return w->n == w->stop_at;
}

static void file_foreach_sees_records_that_straddle_chunks(void **state)
{
    struct fixture *fx = *state;
    struct seclog__segment *seg = new_segment(fx, 1, 4 * 1024 * 1024);
    struct walk w = {.next_seq = 1};
    uint64_t bad = 0, mid;

    /* 700 records of about 5 KiB: 3.4 MiB, so several chunk edges fall inside records. */
    (void)add_entries(seg, 350, 4999);
    mid = seg->data_end;
    (void)add_entries(seg, 350, 4999);
    assert_int_equal(seclog__file_foreach(seg->path, 0, count_fn, &w, &bad), 0);
    assert_int_equal(w.n, 700);
    w = (struct walk){.next_seq = 1};
    assert_int_equal(seclog__file_foreach(seg->path, mid, count_fn, &w, &bad), 0);
    assert_int_equal(w.n, 350);
    w = (struct walk){.next_seq = 1, .stop_at = 10};
    assert_int_equal(seclog__file_foreach(seg->path, 0, count_fn, &w, &bad), 0);
    assert_int_equal(w.n, 10);
    poke(seg->path, mid + 200, "X", 1);
    w = (struct walk){.next_seq = 1};
    assert_int_equal(seclog__file_foreach(seg->path, 0, count_fn, &w, &bad), -EBADMSG);
    assert_int_equal(bad, mid);
    assert_int_equal(w.n, 350);
    assert_int_equal(seclog__file_foreach("/nonexistent/seg", 0, count_fn, &w, &bad), -ENOENT);
    seg = seclog__segment_free(seg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(dir_list_names_segments_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(create_preallocates_and_writes_a_durable_header, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(create_refuses_an_existing_segment_and_a_bad_header, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(create_failing_at_any_step_leaves_no_segment, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(closed_segment_opens_from_header_and_footer, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(open_tail_finds_the_end_and_continues_the_chain, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(open_tail_cuts_torn_last_record, setup, teardown),
        cmocka_unit_test_setup_teardown(open_tail_zeroes_stray_bytes_after_the_end, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(open_tail_sets_aside_damage_before_valid_data, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(open_tail_never_cuts_a_record_with_a_valid_crc, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(open_tail_checks_seals_against_the_entry_before_them, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(open_tail_treats_a_tail_with_footer_as_closed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(open_reports_a_bad_header_as_damage, setup, teardown),
        cmocka_unit_test_setup_teardown(
            open_closed_scans_a_segment_without_footer_and_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(append_refuses_what_does_not_fit, setup, teardown),
        cmocka_unit_test_setup_teardown(close_failing_leaves_the_segment_open, setup, teardown),
        cmocka_unit_test_setup_teardown(open_tail_failing_to_zero_reports_the_error, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(set_aside_renames_and_remove_unlinks, setup, teardown),
        cmocka_unit_test_setup_teardown(reserve_set_grows_and_shrinks_the_reserve_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(file_foreach_sees_records_that_straddle_chunks, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
