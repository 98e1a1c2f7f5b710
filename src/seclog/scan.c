/* scan: walking the records of a segment file. The boot-time scan of a segment without a
 * footer (sequence, chain, torn or damaged), and seclog__file_foreach for readers. Both read
 * through one window so that a record that straddles two chunks is still seen whole.
 *
 * This file only reads: segment.c decides what to do with a torn tail or a damaged segment.
 *
 * Invariants:
 *  1. Nothing is read past the window's end (the limit, the footer block or the file's end),
 *     and a parse at offset off sees min(SECLOG__RECORD_MAX, end - off) bytes, so every record
 *     that fits is seen whole and every length is checked against what is really there.
 *  2. Memory is bounded: one window of CHUNK_BYTES + SECLOG__RECORD_MAX per walk.
 *  3. A scan trusts only what it checked: entries must carry the next seq and chain to the hash
 *     before them; a seal must carry the seq and hash of the entry before it.
 *  4. A record with a valid CRC is never called torn (a torn write does not produce one):
 *     if it does not fit the chain, the segment is damaged. An unreadable record is torn only
 *     if nothing after it parses as a record with a higher seq. */
#include "seclog/seclog_internal.h"

#include "base/base.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Readers read 1 MiB at a time: few system calls, bounded memory. */
#define CHUNK_BYTES (1024 * 1024)
/* Offsets of the len and seq words in a record (docs/security-log.md, "Record"). */
#define REC_LEN 0
#define REC_SEQ 16

static uint32_t peek32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t peek64(const uint8_t *p)
{
    return (uint64_t)peek32(p) | (uint64_t)peek32(p + 4) << 32;
}

static uint64_t round_up_4k(uint64_t n)
{
    return (n + 4095) & ~(uint64_t)4095;
}

static uint64_t data_area_end(const struct seclog__seg_header *h)
{
    return (uint64_t)h->segment_bytes - SECLOG__FOOTER_BYTES;
}

/* ---- window: chunked reading in which no record straddles the edge ----------------------- */

struct window {
    int fd;
    uint8_t *buf;
    size_t cap;    /* CHUNK_BYTES + SECLOG__RECORD_MAX */
    uint64_t base; /* file offset of buf[0] */
    size_t have;   /* bytes valid in buf */
    uint64_t end;  /* reading stops here: the limit, lowered to the file's end when met */
};

static int window_init(struct window *w, int fd, uint64_t end)
{
    struct stat st;

    *w = (struct window){.fd = fd, .cap = CHUNK_BYTES + SECLOG__RECORD_MAX, .end = end};
    /* Segments are preallocated, so this only matters for short (damaged) files: their
     * window, and its buffer, end where the file does. */
    if (fstat(fd, &st) < 0)
        return -errno;
    if ((uint64_t)st.st_size < w->end)
        w->end = (uint64_t)st.st_size;
    if (w->end < w->cap)
        w->cap = w->end ? (size_t)w->end : 1;
    w->buf = malloc(w->cap);
    return w->buf ? 0 : -ENOMEM;
}

static void window_done(struct window *w)
{
    free(w->buf);
    w->buf = NULL;
}

/* Points *ret at offset off with *ret_avail bytes up to the window's end, refilling so that at
 * least min(RECORD_MAX, end - off) bytes are there. */
static int window_at(struct window *w, uint64_t off, const uint8_t **ret, size_t *ret_avail)
{
    uint64_t want = off + SECLOG__RECORD_MAX < w->end ? off + SECLOG__RECORD_MAX : w->end;

    *ret_avail = 0;
    if (off >= w->end)
        return 0;
    if (off < w->base || want > w->base + w->have) {
        size_t n = w->end - off < w->cap ? (size_t)(w->end - off) : w->cap;
        size_t got = 0;

        while (got < n) {
            ssize_t k = pread(w->fd, w->buf + got, n - got, (off_t)(off + got));

            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0)
                return -errno;
            if (k == 0)
                break;
            got += (size_t)k;
        }
        w->base = off;
        w->have = got;
        if (got < n)
            w->end = off + got;
        if (off >= w->end)
            return 0;
    }
    *ret = w->buf + (off - w->base);
    *ret_avail = (size_t)((w->base + w->have < w->end ? w->base + w->have : w->end) - off);
    return 0;
}

/* ---- the segment scan ------------------------------------------------------------------- */

struct walk {
    struct seclog__scan s;
    uint64_t next_seq; /* seq the next entry must carry */
    bool bad;          /* stopped at a bad record, not at the zero word */
    bool bad_parsed;   /* ... whose CRC was valid */
    uint32_t bad_len;  /* its claimed length */
    struct seclog__hasher hasher;
};

static void walk_accept(struct walk *k, const struct seclog__parsed *p)
{
    if (p->kind == SECLOG__KIND_ENTRY) {
        /* Earliest and latest entry time, as the writer keeps them: clocks can go back. */
        if (k->s.records == 0 || p->time_ms < k->s.first_ms)
            k->s.first_ms = p->time_ms;
        if (k->s.records == 0 || p->time_ms > k->s.last_ms)
            k->s.last_ms = p->time_ms;
        k->s.records++;
        k->s.last_seq = p->seq;
        k->next_seq = p->seq + 1;
        memcpy(k->s.last_hash, p->hash, SECLOG__HASH_BYTES);
    }
    k->s.end += p->len;
}

static bool walk_fits(struct walk *k, const struct seclog__parsed *p)
{
    if (p->kind == SECLOG__KIND_ENTRY)
        return p->seq == k->next_seq && seclog__chain_check_with(&k->hasher, p, k->s.last_hash);
    return p->seq == k->next_seq - 1 && memcmp(p->hash, k->s.last_hash, SECLOG__HASH_BYTES) == 0;
}

/* Walks records from the header until the zero length word, the end or the first bad one. */
static int walk_records(struct window *w, const struct seclog__seg_header *h, struct walk *k)
{
    k->next_seq = h->first_seq;
    k->s.end = SECLOG__HEADER_BYTES;
    memcpy(k->s.last_hash, h->prev_hash, SECLOG__HASH_BYTES);
    for (;;) {
        struct seclog__parsed p;
        const uint8_t *b = NULL;
        size_t avail;
        int r = window_at(w, k->s.end, &b, &avail);

        if (r < 0)
            return r;
        r = seclog__record_parse(b ? b : (const uint8_t *)"", avail, &p);
        if (r == -ENODATA)
            return 0;
        if (r == 0 && walk_fits(k, &p)) {
            walk_accept(k, &p);
            continue;
        }
        k->bad = true;
        k->bad_parsed = r == 0;
        k->bad_len = avail >= 4 ? peek32(b + REC_LEN) : 0;
        return 0;
    }
}

/* After the walk stopped: does a record beyond the stop parse with a seq above the last good
 * one (then the stop is damage, not a torn write)? Also finds where the last non-zero byte of
 * the data area ends. */
static int walk_beyond(struct window *w, struct walk *k, uint64_t *ret_dirty_end)
{
    static const uint8_t zero8[SECLOG__ALIGN];
    uint64_t last_good = k->next_seq - 1, dirty_end = 0;

    for (uint64_t off = k->s.end; off + SECLOG__ALIGN <= w->end; off += SECLOG__ALIGN) {
        struct seclog__parsed p;
        const uint8_t *b = NULL;
        size_t avail;
        int r = window_at(w, off, &b, &avail);

        if (r < 0)
            return r;
        if (avail < SECLOG__ALIGN)
            break;
        if (memcmp(b, zero8, SECLOG__ALIGN) == 0)
            continue;
        dirty_end = off + SECLOG__ALIGN;
        /* The seq is looked at before the CRC is computed, so junk costs little. */
        if (off == k->s.end || avail < SECLOG__RECORD_FIXED || peek64(b + REC_SEQ) <= last_good)
            continue;
        if (seclog__record_parse(b, avail, &p) == 0) {
            k->s.damaged = true;
            return 0;
        }
    }
    *ret_dirty_end = dirty_end;
    return 0;
}

int seclog__segment_scan(int fd, const struct seclog__seg_header *h, struct seclog__scan *ret)
{
    struct walk k = {.bad = false};
    struct window w = {.buf = NULL};
    uint64_t dirty_end = 0, to;
    int r;

    if (fd < 0 || !h || !ret || h->segment_bytes < SECLOG__SEGMENT_BYTES_MIN)
        return -EINVAL;
    (void)seclog__hasher_init(&k.hasher); /* without it, each record makes its own context */
    r = window_init(&w, fd, data_area_end(h));
    if (r == 0)
        r = walk_records(&w, h, &k);
    if (r < 0)
        goto out;
    if (k.bad_parsed)
        k.s.damaged = true;
    else
        r = walk_beyond(&w, &k, &dirty_end);
    if (r < 0 || k.s.damaged)
        goto out;
    if (k.bad || dirty_end > k.s.end) {
        /* Torn: to a 4 KiB boundary past the bad record's claimed end and past the last
         * non-zero byte, so that no stale byte of the lost batch stays behind. */
        to = k.s.end + (k.bad_len < w.end - k.s.end ? k.bad_len : w.end - k.s.end);
        to = round_up_4k(to > dirty_end ? to : dirty_end);
        k.s.torn_end = to < data_area_end(h) ? to : data_area_end(h);
    }
out:
    window_done(&w);
    seclog__hasher_done(&k.hasher);
    if (r == 0)
        *ret = k.s;
    return r;
}

/* ---- the record walk for readers -------------------------------------------------------- */

int seclog__file_foreach(const char *path, uint64_t limit,
                         int (*fn)(const struct seclog__parsed *p, uint64_t offset, void *arg),
                         void *arg, uint64_t *ret_bad_offset)
{
    struct seclog__seg_header h;
    struct window w = {.buf = NULL};
    const uint8_t *b = NULL;
    uint64_t off = SECLOG__HEADER_BYTES, end;
    size_t avail = 0;
    int fd = -1, r;

    if (!path || !fn)
        return -EINVAL;
    fd = io_open(path, O_RDONLY, 0);
    if (fd < 0)
        return fd;
    /* The header first, through a window of its own size. */
    r = window_init(&w, fd, SECLOG__HEADER_BYTES);
    if (r == 0)
        r = window_at(&w, 0, &b, &avail);
    if (r == 0)
        r = avail == SECLOG__HEADER_BYTES ? seclog__header_decode(b, &h) : -EBADMSG;
    if (r == -EBADMSG && ret_bad_offset)
        *ret_bad_offset = 0;
    window_done(&w);
    if (r < 0)
        goto out;
    end = limit && limit < data_area_end(&h) ? limit : data_area_end(&h);
    r = window_init(&w, fd, end);
    while (r == 0) {
        struct seclog__parsed p;

        r = window_at(&w, off, &b, &avail);
        if (r < 0)
            break;
        r = seclog__record_parse(avail ? b : (const uint8_t *)"", avail, &p);
        if (r == -ENODATA) {
            r = 0;
            break;
        }
        if (r < 0) {
            if (ret_bad_offset)
                *ret_bad_offset = off;
            break;
        }
        if (fn(&p, off, arg) != 0)
            break;
        off += p.len;
    }
out:
    window_done(&w);
    (void)io_close(fd);
    return r;
}
