/* segment: the segment files of a log directory. Naming and listing them, creating, opening
 * (the tail for appending, others read-only), appending bytes, closing with a footer, setting
 * aside, removing, and the reserve file. Walking records is scan.c's job, record bytes are
 * format.c's; which segment to write, when to sync and what to seal is the engine's.
 *
 * Invariants:
 *  1. A segment file is visible under its name only with a durable header: create writes the
 *     header, fdatasyncs the file and fsyncs the directory, and unlinks the file on any failure.
 *  2. A closed segment (valid footer) is never modified; open_closed never writes at all.
 *  3. Only open_tail changes bytes that were on disk, and only to zero a torn tail: the bytes
 *     from the first bad record on, when nothing after it parses as a later record (scan.c).
 *     Damage before valid data is never repaired in place: -EBADMSG, and the caller sets the
 *     segment aside (robustness-anchors.md, lesson 1d.10).
 *  4. Appends go only to [data_end, segment_bytes - SECLOG__FOOTER_BYTES), 8-byte aligned, and
 *     data_end moves only after the write succeeded.
 *  5. Retention deletes only whole segments (seclog__segment_remove): unlink and directory
 *     fsync, no free space needed.
 *  6. Every write goes through base's I/O seam, so tests can fail any of them. */
#include "seclog/seclog_internal.h"

#include "base/base.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Zeroing (a new segment, a torn tail) writes from this many zero bytes at a time. */
#define ZERO_BYTES 65536
/* "seg-" + 16 hex digits + ".log" */
#define SEG_NAME_LEN 24
/* A directory holding more segment files than this is not one we created. */
#define DIR_LIST_MAX (1u << 20)

static const uint8_t zeros[ZERO_BYTES];

static uint64_t data_area_end(const struct seclog__seg_header *h)
{
    return (uint64_t)h->segment_bytes - SECLOG__FOOTER_BYTES;
}

/* Reads exactly len bytes at off; -EBADMSG if the file ends first. */
static int read_exact(int fd, void *buf, size_t len, uint64_t off)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n = pread(fd, (uint8_t *)buf + got, len - got, (off_t)(off + got));

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EBADMSG;
        got += (size_t)n;
    }
    return 0;
}

/* ---- names and the directory ------------------------------------------------------------ */

char *seclog__segment_path(const char *dir, uint64_t index)
{
    char *out = NULL;

    if (!dir)
        return NULL;
    if (asprintf(&out, "%s/seg-%016llx.log", dir, (unsigned long long)index) < 0)
        return NULL;
    return out;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');

    if (!slash)
        return strdup(".");
    return slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
}

static bool name_to_index(const char *name, uint64_t *ret_index)
{
    uint64_t v = 0;

    if (strlen(name) != SEG_NAME_LEN || strncmp(name, "seg-", 4) != 0 ||
        strcmp(name + 20, ".log") != 0)
        return false;
    for (int i = 4; i < 20; i++) {
        char c = name[i];

        if (c >= '0' && c <= '9')
            v = v << 4 | (uint64_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v << 4 | (uint64_t)(c - 'a' + 10);
        else
            return false;
    }
    *ret_index = v;
    return true;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

int seclog__dir_list(const char *dir, uint64_t **ret_indexes, size_t *ret_n)
{
    DIR *d = NULL;
    uint64_t *v = NULL, index;
    size_t n = 0, cap = 0;
    struct dirent *de;
    int r = 0;

    if (!dir || !ret_indexes || !ret_n)
        return -EINVAL;
    d = opendir(dir);
    if (!d)
        return -errno;
    while ((errno = 0, de = readdir(d))) {
        if (!name_to_index(de->d_name, &index))
            continue;
        if (n == cap) {
            uint64_t *nv;

            cap = cap ? 2 * cap : 16;
            if (cap > DIR_LIST_MAX) {
                r = -E2BIG;
                goto out;
            }
            nv = realloc(v, cap * sizeof(*v));
            if (!nv) {
                r = -ENOMEM;
                goto out;
            }
            v = nv;
        }
        v[n++] = index;
    }
    if (errno != 0) {
        r = -errno;
        goto out;
    }
    if (n > 0)
        qsort(v, n, sizeof(*v), cmp_u64);
    *ret_indexes = v;
    *ret_n = n;
    v = NULL;
out:
    free(v);
    closedir(d);
    return r;
}

/* ---- create ----------------------------------------------------------------------------- */

static struct seclog__segment *segment_new(uint64_t index, char *path,
                                           const struct seclog__seg_header *h)
{
    struct seclog__segment *seg = calloc(1, sizeof(*seg));

    if (!seg)
        return NULL;
    seg->index = index;
    seg->path = path;
    seg->fd = -1;
    seg->hdr = *h;
    seg->data_end = SECLOG__HEADER_BYTES;
    memcpy(seg->last_hash, h->prev_hash, SECLOG__HASH_BYTES);
    return seg;
}

static int zero_range(int fd, uint64_t from, uint64_t to)
{
    for (uint64_t off = from; off < to;) {
        size_t n = to - off < ZERO_BYTES ? (size_t)(to - off) : ZERO_BYTES;
        int r = io_pwrite_all(fd, zeros, n, (int64_t)off);

        if (r < 0)
            return r;
        off += n;
    }
    return 0;
}

int seclog__segment_create(const char *dir, const struct seclog__seg_header *hdr,
                           struct seclog__segment **ret_seg)
{
    uint8_t block[SECLOG__HEADER_BYTES];
    struct seclog__seg_header check;
    struct seclog__segment *seg = NULL;
    char *path = NULL;
    int fd = -1, r;

    if (!dir || !hdr || !ret_seg)
        return -EINVAL;
    /* Whatever decode would refuse, create refuses to write. */
    seclog__header_encode(hdr, block);
    if (seclog__header_decode(block, &check) < 0)
        return -EINVAL;
    path = seclog__segment_path(dir, hdr->index);
    if (!path)
        return -ENOMEM;
    fd = io_open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        r = fd;
        goto out;
    }
    /* fallocate reserves the space (ENOSPC now, not halfway through the segment); the zeros
     * then turn its unwritten extents into written ones. Otherwise every fdatasync that
     * reaches a new block also has to write the extent change: measured, a 4 KiB append +
     * fdatasync took 250 us into unwritten space and 180 us into written space. */
    r = io_fallocate(fd, 0, hdr->segment_bytes);
    if (r == 0)
        r = io_pwrite_all(fd, block, sizeof(block), 0);
    if (r == 0)
        r = zero_range(fd, sizeof(block), hdr->segment_bytes);
    if (r == 0)
        r = io_fdatasync(fd);
    if (r == 0)
        r = io_fsync_dir(dir);
    if (r < 0)
        goto out;
    seg = segment_new(hdr->index, path, hdr);
    if (!seg) {
        r = -ENOMEM;
        goto out;
    }
    seg->fd = fd;
    path = NULL;
    fd = -1;
    *ret_seg = seg;
out:
    if (fd >= 0) {
        (void)io_close(fd);
        /* Invariant 1: a half-made segment must not look like one on the next boot. */
        (void)io_unlink(path);
    }
    free(path);
    return r;
}

/* ---- opening: header, footer, scan ------------------------------------------------------- */

/* Does the footer agree with the header? Entries of a segment have consecutive seqs. */
static bool footer_is_sane(const struct seclog__seg_header *h, const struct seclog__seg_footer *f)
{
    if (f->data_end > data_area_end(h))
        return false;
    if (f->records == 0)
        return true;
    return f->last_seq >= h->first_seq && f->last_seq - h->first_seq + 1 == f->records;
}

/* Reads the header (and the footer, if it is valid and agrees). *ret_has_footer says which. */
static int read_blocks(int fd, uint64_t index, struct seclog__seg_header *ret_h,
                       struct seclog__seg_footer *ret_f, bool *ret_has_footer)
{
    uint8_t *block = malloc(SECLOG__HEADER_BYTES);
    int r;

    if (!block)
        return -ENOMEM;
    r = read_exact(fd, block, SECLOG__HEADER_BYTES, 0);
    if (r == 0)
        r = seclog__header_decode(block, ret_h);
    if (r == 0 && ret_h->index != index)
        r = -EBADMSG;
    if (r < 0)
        goto out;
    *ret_has_footer = read_exact(fd, block, SECLOG__FOOTER_BYTES, data_area_end(ret_h)) == 0 &&
                      seclog__footer_decode(block, ret_f) == 0 && footer_is_sane(ret_h, ret_f);
out:
    free(block);
    return r;
}

static void fill_from_footer(struct seclog__segment *seg, const struct seclog__seg_footer *f)
{
    seg->closed = true;
    seg->data_end = f->data_end;
    seg->last_seq = f->last_seq;
    seg->records = f->records;
    seg->first_ms = f->first_ms;
    seg->last_ms = f->last_ms;
    memcpy(seg->last_hash, f->last_hash, SECLOG__HASH_BYTES);
}

static void fill_from_scan(struct seclog__segment *seg, const struct seclog__scan *s)
{
    seg->data_end = s->end;
    seg->last_seq = s->last_seq;
    seg->records = s->records;
    seg->first_ms = s->first_ms;
    seg->last_ms = s->last_ms;
    memcpy(seg->last_hash, s->last_hash, SECLOG__HASH_BYTES);
}

/* Opens segment index: header, then the footer, else a scan. A tail (writable) gets a torn
 * end zeroed; a closed one is only read. */
static int segment_open(const char *dir, uint64_t index, bool tail,
                        struct seclog__segment **ret_seg, struct seclog__tail_report *report)
{
    struct seclog__tail_report rep = {0};
    struct seclog__seg_header h;
    struct seclog__seg_footer f;
    struct seclog__segment *seg = NULL;
    struct seclog__scan s;
    bool has_footer = false;
    char *path = NULL;
    int fd = -1, r;

    if (!dir || !ret_seg || !report)
        return -EINVAL;
    path = seclog__segment_path(dir, index);
    if (!path)
        return -ENOMEM;
    fd = io_open(path, tail ? O_RDWR : O_RDONLY, 0);
    if (fd < 0) {
        r = fd;
        goto out;
    }
    r = read_blocks(fd, index, &h, &f, &has_footer);
    if (r == -EBADMSG)
        rep.damaged = true; /* damaged_at 0: the header itself */
    if (r < 0)
        goto out;
    seg = segment_new(index, path, &h);
    if (!seg) {
        r = -ENOMEM;
        goto out;
    }
    path = NULL;
    if (has_footer) {
        fill_from_footer(seg, &f);
        goto done;
    }
    r = seclog__segment_scan(fd, &h, &s);
    if (r < 0)
        goto out;
    if (s.damaged) {
        rep.damaged = true;
        rep.damaged_at = s.end;
        r = -EBADMSG;
        goto out;
    }
    fill_from_scan(seg, &s);
    if (!tail) {
        /* Not a tail: its end is where the records end; a torn rest stays as it is. */
        rep.closed_by_scan = true;
        seg->closed = true;
        goto done;
    }
    if (s.torn_end > s.end) {
        r = zero_range(fd, s.end, s.torn_end);
        if (r == 0)
            r = io_fdatasync(fd);
        if (r < 0)
            goto out;
        rep.torn = true;
        rep.torn_bytes = s.torn_end - s.end;
    }
    seg->fd = fd;
    fd = -1;
done:
    *ret_seg = seg;
    seg = NULL;
out:
    if (fd >= 0)
        (void)io_close(fd);
    seg = seclog__segment_free(seg);
    free(path);
    *report = rep;
    return r;
}

int seclog__segment_open_closed(const char *dir, uint64_t index, struct seclog__segment **ret_seg,
                                struct seclog__tail_report *report)
{
    return segment_open(dir, index, false, ret_seg, report);
}

int seclog__segment_open_tail(const char *dir, uint64_t index, struct seclog__segment **ret_seg,
                              struct seclog__tail_report *report)
{
    return segment_open(dir, index, true, ret_seg, report);
}

/* ---- writing and closing ---------------------------------------------------------------- */

uint64_t seclog__segment_room(const struct seclog__segment *seg)
{
    if (!seg || seg->closed || seg->data_end > data_area_end(&seg->hdr))
        return 0;
    return data_area_end(&seg->hdr) - seg->data_end;
}

int seclog__segment_append(struct seclog__segment *seg, const void *data, size_t len)
{
    int r;

    if (!seg || !data || len == 0 || len % SECLOG__ALIGN != 0 || seg->fd < 0 || seg->closed)
        return -EINVAL;
    if (len > seclog__segment_room(seg))
        return -ENOSPC;
    r = io_pwrite_all(seg->fd, data, len, (int64_t)seg->data_end);
    if (r < 0)
        return r;
    seg->data_end += len;
    return 0;
}

int seclog__segment_sync(struct seclog__segment *seg)
{
    if (!seg || seg->fd < 0)
        return -EINVAL;
    return io_fdatasync(seg->fd);
}

int seclog__segment_close(struct seclog__segment *seg)
{
    struct seclog__seg_footer f = {0};
    uint8_t *block = NULL;
    int r;

    if (!seg || seg->fd < 0 || seg->closed)
        return -EINVAL;
    block = malloc(SECLOG__FOOTER_BYTES);
    if (!block)
        return -ENOMEM;
    f.last_seq = seg->last_seq;
    f.records = seg->records;
    f.first_ms = seg->first_ms;
    f.last_ms = seg->last_ms;
    memcpy(f.last_hash, seg->last_hash, SECLOG__HASH_BYTES);
    f.data_end = seg->data_end;
    seclog__footer_encode(&f, block);
    r = io_pwrite_all(seg->fd, block, SECLOG__FOOTER_BYTES, (int64_t)data_area_end(&seg->hdr));
    if (r == 0)
        r = io_fdatasync(seg->fd);
    if (r == 0) {
        seg->closed = true;
        r = io_close(seg->fd);
        seg->fd = -1;
    }
    free(block);
    return r;
}

int seclog__segment_set_aside(struct seclog__segment *seg)
{
    char *to = NULL, *dir = NULL;
    int r;

    if (!seg || !seg->path)
        return -EINVAL;
    if (asprintf(&to, "%s.damaged", seg->path) < 0)
        return -ENOMEM;
    dir = dir_of(seg->path);
    if (!dir) {
        r = -ENOMEM;
        goto out;
    }
    if (seg->fd >= 0) {
        (void)io_close(seg->fd);
        seg->fd = -1;
    }
    r = io_rename(seg->path, to);
    if (r < 0)
        goto out;
    free(seg->path);
    seg->path = to;
    to = NULL;
    seg->closed = true;
    r = io_fsync_dir(dir);
out:
    free(dir);
    free(to);
    return r;
}

int seclog__segment_remove(struct seclog__segment *seg)
{
    char *dir = NULL;
    int r;

    if (!seg || !seg->path)
        return -EINVAL;
    dir = dir_of(seg->path);
    if (!dir)
        return -ENOMEM;
    if (seg->fd >= 0) {
        (void)io_close(seg->fd);
        seg->fd = -1;
    }
    r = io_unlink(seg->path);
    if (r == 0)
        r = io_fsync_dir(dir);
    free(dir);
    return r;
}

struct seclog__segment *seclog__segment_free(struct seclog__segment *seg)
{
    if (!seg)
        return NULL;
    if (seg->fd >= 0)
        (void)io_close(seg->fd);
    free(seg->path);
    free(seg);
    return NULL;
}

/* ---- the reserve ------------------------------------------------------------------------ */

int seclog__reserve_set(const char *dir, uint64_t bytes)
{
    struct stat st;
    char *path = NULL;
    bool created;
    int fd = -1, r;

    if (!dir || bytes > INT64_MAX)
        return -EINVAL;
    path = fs_path_join(dir, "reserve");
    if (!path)
        return -ENOMEM;
    created = !fs_exists(path);
    fd = io_open(path, O_RDWR | O_CREAT, 0600);
    if (fd < 0) {
        r = fd;
        goto out;
    }
    if (fstat(fd, &st) < 0) {
        r = -errno;
        goto out;
    }
    r = 0;
    if ((uint64_t)st.st_size < bytes)
        r = io_fallocate(fd, 0, (int64_t)bytes);
    else if ((uint64_t)st.st_size > bytes)
        r = io_ftruncate(fd, (int64_t)bytes);
    if (r == 0)
        r = io_fsync(fd);
    if (r == 0 && created)
        r = io_fsync_dir(dir);
out:
    if (fd >= 0)
        (void)io_close(fd);
    free(path);
    return r;
}
