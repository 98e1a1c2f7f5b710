/* reader: the one pass over a bundle behind bundle_verify() and bundle_extract_payloads().
 *
 * The archive is read front to back exactly once: the manifest and its signature (the first
 * two entries, held in memory within their limits), then the payloads, streamed through
 * SHA-256 in BUNDLE__CHUNK pieces and, when extracting, into a temporary directory.
 *
 * Invariants:
 *  1. Nothing is written anywhere before the archive, signature, chain, key-usage, manifest,
 *     product and firmware-group checks have passed (TUC_KON_280: verify before touching).
 *  2. Memory does not grow with payload size: at most the manifest, the signature and one
 *     chunk are held.
 *  3. Every archive entry after the first two is a regular file (no link, directory, device
 *     or FIFO) named "payload/<path>" for a path of the manifest, seen once, with the
 *     manifest's size and SHA-256; every manifest path is seen; after the end-of-archive
 *     blocks only zero padding follows (trailer). Anything else is 4183.
 *  4. Extraction: dest_dir appears (by one rename) only after invariant 3 held for the whole
 *     archive and every file and directory below it was fsynced; on any failure the temporary
 *     directory is removed and dest_dir does not exist. */
#include "bundle/bundle_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

/* Room left free beyond the payloads when extracting, in bytes: directories and metadata. */
#define EXTRACT_SPARE (16 * 1024 * 1024)

struct reader {
    struct archive *a;
    const struct bundle_verify_opts *opts;
    struct bundle_result *r;
    struct bundle_manifest *m;
    bool *seen;       /* per manifest payload */
    uint8_t *chunk;   /* BUNDLE__CHUNK bytes */
    const char *dest; /* extraction target, or NULL */
    char *tmp;        /* the temporary directory while extracting */
    const struct bundle__input *in;
    int64_t start; /* offset of the archive in in->fd; -1 when the fd cannot seek */
};

/* The archive's error as text. */
static const char *archive_why(struct archive *a)
{
    const char *s = archive_error_string(a);

    return s ? s : "unreadable";
}

/* Reads the next header. Returns 1 with *ret_entry, 0 at the end, or -1 with r failed. */
static int next_entry(struct reader *rd, enum bundle_check check, struct archive_entry **ret_entry)
{
    int ar = archive_read_next_header(rd->a, ret_entry);
    int fmt;

    if (ar == ARCHIVE_EOF)
        return 0;
    if (ar != ARCHIVE_OK) {
        (void)bundle__fail(rd->r, BUNDLE_CODE_INTEGRITY, check,
                           "the archive is damaged or truncated (%s)", archive_why(rd->a));
        return -1;
    }
    fmt = archive_format(rd->a);
    if (fmt != ARCHIVE_FORMAT_TAR_USTAR && fmt != ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE &&
        fmt != ARCHIVE_FORMAT_TAR_PAX_RESTRICTED) {
        (void)bundle__fail(rd->r, BUNDLE_CODE_INTEGRITY, check,
                           "the archive is %s, not POSIX ustar or pax",
                           archive_format_name(rd->a) ? archive_format_name(rd->a) : "unknown");
        return -1;
    }
    return 1;
}

/* Why an entry is not a plain regular file, or NULL when it is. */
static const char *entry_kind_problem(struct archive_entry *e)
{
    if (archive_entry_hardlink(e))
        return "a hard link";
    switch (archive_entry_filetype(e)) {
    case AE_IFREG:
        return archive_entry_size_is_set(e) ? NULL : "a file without a size";
    case AE_IFLNK:
        return "a symbolic link";
    case AE_IFDIR:
        return "a directory";
    case AE_IFCHR:
    case AE_IFBLK:
        return "a device file";
    case AE_IFIFO:
        return "a FIFO";
    default:
        return "not a regular file";
    }
}

/* Reads one of the first two entries (name, at most max bytes) into a heap buffer. Returns 0
 * (r failed when the entry is wrong), or -ENOMEM. */
static int read_small(struct reader *rd, const char *name, size_t max, uint8_t **ret_data,
                      size_t *ret_len)
{
    struct archive_entry *e = NULL;
    const char *path, *kind;
    uint8_t *data = NULL;
    size_t len = 0;
    int64_t size;
    ssize_t n;
    int got = next_entry(rd, BUNDLE_CHECK_ARCHIVE, &e);

    if (got < 0)
        return 0;
    if (got == 0)
        return bundle__fail(rd->r, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_ARCHIVE,
                            "the archive ends before '%s'", name);
    path = archive_entry_pathname(e);
    if (!path || strcmp(path, name) != 0)
        return bundle__fail(rd->r, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_ARCHIVE,
                            "entry '%s' where '%s' must be", path ? path : "?", name);
    kind = entry_kind_problem(e);
    if (kind)
        return bundle__fail(rd->r, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_ARCHIVE,
                            "'%s' is %s, not a regular file", name, kind);
    size = archive_entry_size(e);
    if (size < 0 || (uint64_t)size > max)
        return bundle__fail(rd->r, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_ARCHIVE,
                            "'%s' has %lld bytes; at most %zu are allowed", name, (long long)size,
                            max);
    data = malloc((size_t)size + 1);
    if (!data)
        return -ENOMEM;
    while ((n = archive_read_data(rd->a, data + len, (size_t)size + 1 - len)) > 0) {
        len += (size_t)n;
        if (len > (size_t)size)
            break;
    }
    if (n < 0 || len != (size_t)size) {
        free(data);
        return bundle__fail(rd->r, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_ARCHIVE,
                            "'%s' is truncated (%s)", name,
                            n < 0 ? archive_why(rd->a) : "fewer bytes than its header says");
    }
    *ret_data = data;
    *ret_len = len;
    return 0;
}

/* ---- extraction -------------------------------------------------------------------------- */

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)remove(path);
    return 0;
}

/* Creates the temporary sibling of dest after checking room (invariant 1 holds by now). */
static int extract_begin(struct reader *rd)
{
    char *copy = strdup(rd->dest);
    struct statvfs vfs;
    struct stat st;
    const char *parent;
    int r = 0;

    if (!copy)
        return -ENOMEM;
    parent = dirname(copy);
    if (lstat(rd->dest, &st) == 0) {
        r = -EEXIST;
        goto out;
    }
    if (statvfs(parent, &vfs) < 0) {
        r = -errno;
        goto out;
    }
    if ((uint64_t)vfs.f_bavail * vfs.f_frsize < rd->m->total_size + EXTRACT_SPARE) {
        r = -ENOSPC;
        goto out;
    }
    if (asprintf(&rd->tmp, "%s.tmp-XXXXXX", rd->dest) < 0) {
        rd->tmp = NULL;
        r = -ENOMEM;
        goto out;
    }
    if (!mkdtemp(rd->tmp)) {
        r = -errno;
        free(rd->tmp);
        rd->tmp = NULL;
    }
out:
    free(copy);
    return r;
}

/* Opens tmp/path for writing, creating its directories. Returns the fd or a negative errno. */
static int extract_open(struct reader *rd, const struct bundle_payload *p)
{
    char *full = fs_path_join(rd->tmp, p->path);
    size_t base = strlen(rd->tmp) + 1;
    int fd;

    if (!full)
        return -ENOMEM;
    /* The manifest's paths are safe and no path is a directory of another (manifest.c
     * invariant 3), so every component below tmp is ours to create. */
    for (char *s = full + base; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(full, 0755) < 0 && errno != EEXIST) {
            fd = -errno;
            free(full);
            return fd;
        }
        *s = '/';
    }
    fd = io_open(full, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                 p->executable ? 0755 : 0644);
    free(full);
    /* The manifest's mode, whatever the umask: the slot's files must run as the vendor built
     * them. */
    if (fd >= 0 && fchmod(fd, p->executable ? 0755 : 0644) < 0) {
        int r = -errno;

        (void)io_close(fd);
        return r;
    }
    return fd;
}

/* fsyncs every directory below tmp (deepest first does not matter: all are synced before
 * the rename), renames tmp to dest and fsyncs dest's parent. */
static int extract_commit(struct reader *rd)
{
    char *copy = NULL;
    int r;

    for (size_t i = 0; i < rd->m->n_payloads; i++) {
        char *dir = fs_path_join(rd->tmp, rd->m->payloads[i].path);

        if (!dir)
            return -ENOMEM;
        /* Each payload's own directories, from its parent up to tmp. Directories shared by
         * several payloads are synced more than once; 999 payloads at most. */
        for (char *s = strrchr(dir, '/'); s && s > dir + strlen(rd->tmp); s = strrchr(dir, '/')) {
            *s = '\0';
            r = io_fsync_dir(dir);
            if (r < 0) {
                free(dir);
                return r;
            }
        }
        free(dir);
    }
    r = io_fsync_dir(rd->tmp);
    if (r < 0)
        return r;
    r = io_rename(rd->tmp, rd->dest);
    if (r < 0)
        return r;
    free(rd->tmp);
    rd->tmp = NULL;
    copy = strdup(rd->dest);
    if (!copy)
        return -ENOMEM;
    r = io_fsync_dir(dirname(copy));
    free(copy);
    return r;
}

/* ---- payloads ---------------------------------------------------------------------------- */

/* Streams one payload entry (invariant 3). Returns 0 (r failed on a mismatch) or an I/O
 * error of the extraction. */
static int payload_entry(struct reader *rd, struct archive_entry *e)
{
    const struct bundle_payload *p = NULL;
    const char *name = archive_entry_pathname(e);
    const char *kind = entry_kind_problem(e), *why = NULL, *path;
    uint8_t digest[32];
    EVP_MD_CTX *md = NULL;
    uint64_t got = 0;
    size_t idx = 0;
    ssize_t n;
    int fd = -1, r = 0;

    if (!name)
        return bundle__fail(rd->r, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_PAYLOADS,
                            "an entry has no readable name");
    if (kind)
        return bundle__fail(rd->r, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_PAYLOADS,
                            "entry '%s' is %s; only regular files are allowed", name, kind);
    if (strncmp(name, BUNDLE_PAYLOAD_DIR, strlen(BUNDLE_PAYLOAD_DIR)) != 0)
        return bundle__fail(rd->r, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_PAYLOADS,
                            "entry '%s' is outside '" BUNDLE_PAYLOAD_DIR "'", name);
    path = name + strlen(BUNDLE_PAYLOAD_DIR);
    if (!bundle_path_is_safe(path, &why))
        return bundle__fail(rd->r, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_PAYLOADS,
                            "entry '%s' has an unsafe path: %s", name, why);
    for (idx = 0; idx < rd->m->n_payloads; idx++)
        if (strcmp(rd->m->payloads[idx].path, path) == 0)
            break;
    if (idx == rd->m->n_payloads)
        return bundle__fail(rd->r, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_PAYLOADS,
                            "entry '%s' is not named by the manifest", name);
    p = &rd->m->payloads[idx];
    if (rd->seen[idx])
        return bundle__fail(rd->r, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_PAYLOADS,
                            "'%s' appears twice in the archive", p->path);
    rd->seen[idx] = true;
    if ((uint64_t)archive_entry_size(e) != p->size)
        return bundle__fail(rd->r, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_PAYLOADS,
                            "'%s' has %lld bytes, the manifest says %llu", p->path,
                            (long long)archive_entry_size(e), (unsigned long long)p->size);
    md = EVP_MD_CTX_new();
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        r = -ENOMEM;
        goto out;
    }
    if (rd->tmp) {
        fd = extract_open(rd, p);
        if (fd < 0) {
            r = fd;
            goto out;
        }
    }
    while ((n = archive_read_data(rd->a, rd->chunk, BUNDLE__CHUNK)) > 0) {
        if (got + (uint64_t)n > p->size)
            break;
        if (EVP_DigestUpdate(md, rd->chunk, (size_t)n) != 1) {
            r = -ENOMEM;
            goto out;
        }
        if (fd >= 0) {
            r = io_pwrite_all(fd, rd->chunk, (size_t)n, (int64_t)got);
            if (r < 0)
                goto out;
        }
        got += (uint64_t)n;
    }
    if (n < 0 || got != p->size) {
        (void)bundle__fail(rd->r, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_PAYLOADS,
                           "'%s' is truncated after %llu of %llu bytes (%s)", p->path,
                           (unsigned long long)got, (unsigned long long)p->size,
                           n < 0 ? archive_why(rd->a) : "short entry");
        goto out;
    }
    if (EVP_DigestFinal_ex(md, digest, NULL) != 1) {
        r = -ENOMEM;
        goto out;
    }
    if (!mem_equal_ct(digest, p->sha256, sizeof(digest))) {
        (void)bundle__fail(rd->r, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_PAYLOADS,
                           "'%s': SHA-256 differs from the manifest's", p->path);
        goto out;
    }
    if (fd >= 0)
        r = io_fsync(fd);
out:
    if (fd >= 0)
        (void)io_close(fd);
    EVP_MD_CTX_free(md);
    return r;
}

/* Invariant 3's "nothing else": after the end-of-archive blocks only the zero padding of the
 * last tar record (at most 10240 bytes; a chunk is allowed) may follow, so that no data rides
 * along unnamed. Not checked for an fd that cannot seek (a pipe). Returns 0 (r failed when
 * something follows) or -EIO. */
static int trailer(struct reader *rd)
{
    int64_t end = archive_filter_bytes(rd->a, 0);
    const uint8_t *rest = NULL;
    size_t n = 0;

    if (rd->in->fd < 0) {
        if (end >= 0 && (uint64_t)end < rd->in->size) {
            rest = (const uint8_t *)rd->in->data + end;
            n = rd->in->size - (size_t)end;
        }
    } else if (rd->start >= 0) {
        ssize_t got;

        do {
            got = pread(rd->in->fd, rd->chunk, BUNDLE__CHUNK, (off_t)(rd->start + end));
        } while (got < 0 && errno == EINTR);
        if (got < 0)
            return -errno;
        rest = rd->chunk;
        n = (size_t)got;
        if (n == BUNDLE__CHUNK)
            return bundle__fail(rd->r, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_PAYLOADS,
                                "more than %d bytes follow the end of the archive",
                                BUNDLE__CHUNK - 1);
    }
    if (n > BUNDLE__CHUNK)
        return bundle__fail(rd->r, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_PAYLOADS,
                            "%zu bytes follow the end of the archive", n);
    for (size_t i = 0; i < n; i++)
        if (rest[i] != 0)
            return bundle__fail(rd->r, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_PAYLOADS,
                                "data follows the end of the archive (offset %lld)",
                                (long long)(end + (int64_t)i));
    return 0;
}

static int payloads(struct reader *rd)
{
    struct archive_entry *e = NULL;
    int got, r;

    while ((got = next_entry(rd, BUNDLE_CHECK_PAYLOADS, &e)) > 0) {
        r = payload_entry(rd, e);
        if (r < 0 || rd->r->code)
            return r;
    }
    if (got < 0)
        return 0;
    r = trailer(rd);
    if (r < 0 || rd->r->code)
        return r;
    for (size_t i = 0; i < rd->m->n_payloads; i++)
        if (!rd->seen[i])
            return bundle__fail(rd->r, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_PAYLOADS,
                                "'%s' of the manifest is missing from the archive",
                                rd->m->payloads[i].path);
    bundle__pass(rd->opts, BUNDLE_CHECK_PAYLOADS, false, "%zu payloads, %llu bytes, SHA-256 match",
                 rd->m->n_payloads, (unsigned long long)rd->m->total_size);
    return 0;
}

/* ---- the pass ---------------------------------------------------------------------------- */

static int open_archive(struct reader *rd, const struct bundle__input *in)
{
    rd->a = archive_read_new();
    if (!rd->a)
        return -ENOMEM;
    /* Tar only, uncompressed (docs/update-bundle.md, "Basics"): no decompressor is reachable
     * from a bundle. */
    if (archive_read_support_format_tar(rd->a) != ARCHIVE_OK)
        return -ENOMEM;
    if (in->fd >= 0) {
        if (archive_read_open_fd(rd->a, in->fd, BUNDLE__CHUNK) != ARCHIVE_OK)
            return bundle__fail(rd->r, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_ARCHIVE,
                                "cannot read the archive (%s)", archive_why(rd->a));
    } else if (archive_read_open_memory(rd->a, in->data, in->size) != ARCHIVE_OK) {
        return bundle__fail(rd->r, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_ARCHIVE,
                            "cannot read the archive (%s)", archive_why(rd->a));
    }
    return 0;
}

/* Manifest, signature and the checks on them (invariant 1). Returns 0 (r may have failed). */
static int front(struct reader *rd, const struct bundle__input *in)
{
    uint8_t *manifest = NULL, *p7s = NULL;
    size_t manifest_len = 0, p7s_len = 0;
    char err[BUNDLE_MESSAGE_MAX] = "";
    int r;

    r = read_small(rd, BUNDLE_MANIFEST_NAME, BUNDLE_MANIFEST_MAX, &manifest, &manifest_len);
    if (r < 0 || rd->r->code)
        goto out;
    r = read_small(rd, BUNDLE_SIGNATURE_NAME, BUNDLE_SIGNATURE_MAX, &p7s, &p7s_len);
    if (r < 0 || rd->r->code)
        goto out;
    bundle__pass(rd->opts, BUNDLE_CHECK_ARCHIVE, false,
                 "tar; manifest %zu bytes, signature %zu bytes", manifest_len, p7s_len);
    if (!in->skip_signature) {
        r = bundle__cms_verify(manifest, manifest_len, p7s, p7s_len, rd->opts, rd->r);
        if (r < 0 || rd->r->code)
            goto out;
    }
    r = bundle_manifest_parse(manifest, manifest_len, &rd->m, err, sizeof(err));
    if (r == -EBADMSG) {
        r = bundle__fail(rd->r, BUNDLE_CODE_INTEGRITY, BUNDLE_CHECK_MANIFEST, "%s", err);
        goto out;
    }
    if (r < 0)
        goto out;
    bundle__pass(rd->opts, BUNDLE_CHECK_MANIFEST, false,
                 "%s/%s '%s' firmware %s, hardware %s, PTV %s, %zu payloads",
                 rd->m->product_vendor_id, rd->m->product_code, rd->m->product_name,
                 rd->m->fw_version, rd->m->hw_version, rd->m->product_type_version,
                 rd->m->n_payloads);
    r = bundle__manifest_check_target(rd->m, rd->opts, rd->r);
out:
    free(manifest);
    free(p7s);
    return r;
}

int bundle__read(const struct bundle__input *in, const struct bundle_verify_opts *opts,
                 const char *dest_dir, struct bundle_manifest **ret_manifest,
                 struct bundle_result *r)
{
    struct reader rd = {.opts = opts, .r = r, .dest = dest_dir, .in = in, .start = -1};
    int ret;

    *r = (struct bundle_result){.check = BUNDLE_CHECK_MAX};
    if (!opts || (!opts->trust && !in->skip_signature))
        return -EINVAL;
    rd.chunk = malloc(BUNDLE__CHUNK);
    if (!rd.chunk) {
        ret = -ENOMEM;
        goto out;
    }
    if (in->fd >= 0) {
        off_t at = lseek(in->fd, 0, SEEK_CUR);

        rd.start = at < 0 ? -1 : (int64_t)at;
    }
    ret = open_archive(&rd, in);
    if (ret < 0 || r->code)
        goto out;
    ret = front(&rd, in);
    if (ret < 0 || r->code)
        goto out;
    rd.seen = calloc(rd.m->n_payloads + 1, sizeof(*rd.seen));
    if (!rd.seen) {
        ret = -ENOMEM;
        goto out;
    }
    if (dest_dir) {
        ret = extract_begin(&rd);
        if (ret < 0)
            goto out;
    }
    ret = payloads(&rd);
    if (ret < 0 || r->code)
        goto out;
    if (dest_dir) {
        ret = extract_commit(&rd);
        if (ret < 0)
            goto out;
    }
    if (ret_manifest) {
        *ret_manifest = rd.m;
        rd.m = NULL;
    }
out:
    if (ret < 0 && r->message[0] == '\0')
        (void)snprintf(r->message, sizeof(r->message), "%s: %s", dest_dir ? "extract" : "verify",
                       strerror(-ret));
    if (rd.tmp) {
        (void)nftw(rd.tmp, remove_one, 16, FTW_DEPTH | FTW_PHYS);
        free(rd.tmp);
    }
    if (rd.a)
        archive_read_free(rd.a);
    free(rd.seen);
    free(rd.chunk);
    bundle_manifest_free(rd.m);
    return ret;
}

int bundle_verify_fd(int fd, const struct bundle_verify_opts *opts,
                     struct bundle_manifest **ret_manifest, struct bundle_result *ret_result)
{
    struct bundle__input in = {.fd = fd};

    return bundle__read(&in, opts, NULL, ret_manifest, ret_result);
}

int bundle_verify(const char *path, const struct bundle_verify_opts *opts,
                  struct bundle_manifest **ret_manifest, struct bundle_result *ret_result)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int r;

    if (fd < 0) {
        r = -errno;
        *ret_result = (struct bundle_result){.check = BUNDLE_CHECK_MAX};
        (void)snprintf(ret_result->message, sizeof(ret_result->message), "cannot open '%s': %s",
                       path, strerror(-r));
        return r;
    }
    r = bundle_verify_fd(fd, opts, ret_manifest, ret_result);
    (void)close(fd);
    return r;
}

int bundle_extract_payloads(const char *path, const struct bundle_verify_opts *opts,
                            const char *dest_dir, struct bundle_manifest **ret_manifest,
                            struct bundle_result *ret_result)
{
    struct bundle__input in = {.fd = -1};
    int r;

    in.fd = open(path, O_RDONLY | O_CLOEXEC);
    if (in.fd < 0) {
        r = -errno;
        *ret_result = (struct bundle_result){.check = BUNDLE_CHECK_MAX};
        (void)snprintf(ret_result->message, sizeof(ret_result->message), "cannot open '%s': %s",
                       path, strerror(-r));
        return r;
    }
    r = bundle__read(&in, opts, dest_dir, ret_manifest, ret_result);
    (void)close(in.fd);
    return r;
}
