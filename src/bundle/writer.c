/* writer: bundle_create(), the vendor's side. Walks the payload directory, hashes every file,
 * completes and signs the manifest, and writes the archive (docs/update-bundle.md).
 *
 * Invariants:
 *  1. What is written is what was hashed: each payload is hashed twice, when the manifest is
 *     made and while it is copied into the archive, and a difference fails the creation
 *     (-EAGAIN) instead of producing a bundle that cannot verify.
 *  2. The manifest is checked by bundle_manifest_parse() before it is signed, so a bundle
 *     this file writes never fails the manifest check.
 *  3. The output appears at out_path only complete and fsynced (temporary file, rename,
 *     directory fsync); a failed creation leaves no file behind.
 *  4. Entries carry no owner, time or mode beyond 0644/0755, so the same input gives the same
 *     archive. */
#include "bundle/bundle_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <openssl/evp.h>

/* Directory levels below payload_dir; deeper trees are refused. */
#define WALK_DEPTH_MAX 16

struct file_list {
    char **paths; /* relative to payload_dir */
    size_t n;
};

static const char *archive_why_text(struct archive *a)
{
    const char *s = archive_error_string(a);

    return s ? s : "unknown error";
}

static void file_list_done(struct file_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->paths[i]);
    free(l->paths);
}

/* Collects the regular files below dir/rel. Returns 0, -EINVAL with err, -ENOMEM, -errno. */
static int walk(const char *root, const char *rel, int depth, struct file_list *l, char *err,
                size_t err_size)
{
    char *dir = rel[0] ? fs_path_join(root, rel) : strdup(root);
    struct dirent *de;
    DIR *d = NULL;
    int r = 0;

    if (!dir)
        return -ENOMEM;
    if (depth > WALK_DEPTH_MAX) {
        bundle__err(err, err_size, "'%s' is more than %d levels deep", dir, WALK_DEPTH_MAX);
        r = -EINVAL;
        goto out;
    }
    d = opendir(dir);
    if (!d) {
        r = -errno;
        bundle__err(err, err_size, "cannot read the directory '%s': %s", dir, strerror(-r));
        goto out;
    }
    while (r == 0 && (de = readdir(d))) {
        char *sub = NULL, *full = NULL;
        const char *why = NULL;
        struct stat st;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (rel[0] ? asprintf(&sub, "%s/%s", rel, de->d_name) < 0
                   : asprintf(&sub, "%s", de->d_name) < 0) {
            r = -ENOMEM;
            break;
        }
        full = fs_path_join(root, sub);
        if (!full) {
            free(sub);
            r = -ENOMEM;
            break;
        }
        if (lstat(full, &st) < 0) {
            r = -errno;
            bundle__err(err, err_size, "cannot stat '%s': %s", full, strerror(-r));
        } else if (S_ISDIR(st.st_mode)) {
            r = walk(root, sub, depth + 1, l, err, err_size);
        } else if (!S_ISREG(st.st_mode)) {
            bundle__err(err, err_size,
                        "'%s' is not a regular file or directory (links and "
                        "special files cannot be payloads)",
                        full);
            r = -EINVAL;
        } else if (!bundle_path_is_safe(sub, &why)) {
            bundle__err(err, err_size, "the payload name '%s' is unsafe: %s", sub, why);
            r = -EINVAL;
        } else if (l->n >= BUNDLE_PAYLOADS_MAX) {
            bundle__err(err, err_size, "more than %d payload files", BUNDLE_PAYLOADS_MAX);
            r = -EINVAL;
        } else {
            char **grown = realloc(l->paths, (l->n + 1) * sizeof(*grown));

            if (!grown) {
                r = -ENOMEM;
            } else {
                l->paths = grown;
                l->paths[l->n++] = sub;
                sub = NULL;
            }
        }
        free(sub);
        free(full);
    }
out:
    if (d)
        closedir(d);
    free(dir);
    return r;
}

static int path_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Opens a payload for reading without following links; *ret_st gets its status. */
static int payload_open(const char *root, const char *rel, struct stat *ret_st)
{
    char *full = fs_path_join(root, rel);
    int fd, r;

    if (!full)
        return -ENOMEM;
    fd = open(full, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    r = fd < 0 ? -errno : 0;
    free(full);
    if (r < 0)
        return r;
    if (fstat(fd, ret_st) < 0 || !S_ISREG(ret_st->st_mode)) {
        (void)close(fd);
        return -EINVAL;
    }
    return fd;
}

/* Reads fd to its end through SHA-256, and, when a is set, into the archive's current entry.
 * *ret_len gets the bytes read. Returns 0, -EIO, -ENOMEM. */
static int hash_copy(int fd, struct archive *a, uint8_t *chunk, uint8_t digest[32],
                     uint64_t *ret_len)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint64_t total = 0;
    ssize_t n;
    int r = 0;

    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        r = -ENOMEM;
        goto out;
    }
    while ((n = read(fd, chunk, BUNDLE__CHUNK)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            r = -errno;
            goto out;
        }
        if (EVP_DigestUpdate(md, chunk, (size_t)n) != 1) {
            r = -ENOMEM;
            goto out;
        }
        if (a && archive_write_data(a, chunk, (size_t)n) != n) {
            r = -EIO;
            goto out;
        }
        total += (uint64_t)n;
    }
    if (EVP_DigestFinal_ex(md, digest, NULL) != 1)
        r = -ENOMEM;
    *ret_len = total;
out:
    EVP_MD_CTX_free(md);
    return r;
}

/* The manifest: template plus payload entries, formatted with sorted keys. */
static int manifest_make(const void *tmpl, size_t tmpl_len, const char *root,
                         const struct file_list *l, uint8_t *chunk, char **ret_json, char *err,
                         size_t err_size)
{
    json_t *obj = NULL, *arr = NULL;
    json_error_t je;
    char *json = NULL;
    int r = 0;

    obj = json_loadb(tmpl, tmpl_len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(obj)) {
        bundle__err(err, err_size, "the manifest template is not a JSON object (line %d: %s)",
                    je.line, obj ? "not an object" : je.text);
        r = -EINVAL;
        goto out;
    }
    if (json_object_get(obj, "payloads")) {
        bundle__err(err, err_size,
                    "the manifest template must not list 'payloads'; they "
                    "come from the payload directory");
        r = -EINVAL;
        goto out;
    }
    if (!json_object_get(obj, "format") && json_object_set_new(obj, "format", json_integer(1))) {
        r = -ENOMEM;
        goto out;
    }
    arr = json_array();
    if (!arr || json_object_set(obj, "payloads", arr) < 0) {
        r = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < l->n; i++) {
        uint8_t digest[32];
        char hex[65];
        struct stat st;
        uint64_t len = 0;
        int fd = payload_open(root, l->paths[i], &st);

        if (fd < 0) {
            bundle__err(err, err_size, "cannot open the payload '%s': %s", l->paths[i],
                        strerror(-fd));
            r = fd;
            goto out;
        }
        r = hash_copy(fd, NULL, chunk, digest, &len);
        (void)close(fd);
        if (r < 0) {
            bundle__err(err, err_size, "cannot read the payload '%s': %s", l->paths[i],
                        strerror(-r));
            goto out;
        }
        hex_encode(digest, sizeof(digest), hex);
        if (json_array_append_new(arr, json_pack("{s:s,s:I,s:s,s:b}", "path", l->paths[i], "size",
                                                 (json_int_t)len, "sha256", hex, "executable",
                                                 (st.st_mode & S_IXUSR) != 0)) < 0) {
            r = -ENOMEM;
            goto out;
        }
    }
    json = json_dumps(obj, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (!json) {
        r = -ENOMEM;
        goto out;
    }
    *ret_json = json;
out:
    json_decref(arr);
    json_decref(obj);
    return r;
}

/* Adds one regular-file entry with its data from memory. */
static int add_entry(struct archive *a, const char *name, const void *data, size_t len,
                     unsigned mode)
{
    struct archive_entry *e = archive_entry_new();
    int r = 0;

    if (!e)
        return -ENOMEM;
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, mode);
    archive_entry_set_size(e, (la_int64_t)len);
    if (archive_write_header(a, e) != ARCHIVE_OK)
        r = -EIO;
    else if (data && len && archive_write_data(a, data, len) != (la_ssize_t)len)
        r = -EIO;
    archive_entry_free(e);
    return r;
}

/* Copies the payloads into the archive, checking each against the manifest (invariant 1). */
static int add_payloads(struct archive *a, const char *root, const struct bundle_manifest *m,
                        uint8_t *chunk, char *err, size_t err_size)
{
    for (size_t i = 0; i < m->n_payloads; i++) {
        const struct bundle_payload *p = &m->payloads[i];
        char *name = NULL;
        uint8_t digest[32];
        uint64_t len = 0;
        struct stat st;
        int fd, r;

        if (asprintf(&name, BUNDLE_PAYLOAD_DIR "%s", p->path) < 0)
            return -ENOMEM;
        r = add_entry(a, name, NULL, p->size, p->executable ? 0755 : 0644);
        free(name);
        if (r < 0) {
            bundle__err(err, err_size, "cannot write the archive: %s", archive_why_text(a));
            return r;
        }
        fd = payload_open(root, p->path, &st);
        if (fd < 0) {
            bundle__err(err, err_size, "cannot open the payload '%s': %s", p->path, strerror(-fd));
            return fd;
        }
        r = hash_copy(fd, a, chunk, digest, &len);
        (void)close(fd);
        if (r < 0) {
            bundle__err(err, err_size, "cannot copy the payload '%s': %s", p->path, strerror(-r));
            return r;
        }
        if (len != p->size || memcmp(digest, p->sha256, sizeof(digest)) != 0) {
            bundle__err(err, err_size, "the payload '%s' changed while the bundle was made",
                        p->path);
            return -EAGAIN;
        }
    }
    return 0;
}

int bundle_create(const void *template_json, size_t template_len, const char *payload_dir,
                  const struct bundle_signer *signer, const char *out_path,
                  struct bundle_manifest **ret_manifest, char *err, size_t err_size)
{
    struct file_list files = {0};
    struct bundle_manifest *m = NULL;
    struct archive *a = NULL;
    uint8_t *chunk = NULL, *p7s = NULL;
    char *json = NULL, *tmp = NULL, *copy = NULL;
    size_t p7s_len = 0;
    int fd = -1, r;

    chunk = malloc(BUNDLE__CHUNK);
    if (!chunk) {
        r = -ENOMEM;
        goto out;
    }
    r = walk(payload_dir, "", 0, &files, err, err_size);
    if (r < 0)
        goto out;
    if (files.n > 1)
        qsort(files.paths, files.n, sizeof(*files.paths), path_cmp);
    r = manifest_make(template_json, template_len, payload_dir, &files, chunk, &json, err,
                      err_size);
    if (r < 0)
        goto out;
    r = bundle_manifest_parse(json, strlen(json), &m, err, err_size); /* invariant 2 */
    if (r < 0)
        goto out;
    r = bundle__cms_sign(json, strlen(json), signer, &p7s, &p7s_len);
    if (r < 0) {
        bundle__err(err, err_size, "cannot sign the manifest: %s", strerror(-r));
        goto out;
    }
    if (asprintf(&tmp, "%s.tmp-%ld", out_path, (long)getpid()) < 0) {
        tmp = NULL;
        r = -ENOMEM;
        goto out;
    }
    fd = io_open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        r = fd;
        bundle__err(err, err_size, "cannot create '%s': %s", tmp, strerror(-r));
        goto out;
    }
    a = archive_write_new();
    if (!a || archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
        archive_write_add_filter_none(a) != ARCHIVE_OK ||
        archive_write_open_fd(a, fd) != ARCHIVE_OK) {
        r = -ENOMEM;
        goto out;
    }
    r = add_entry(a, BUNDLE_MANIFEST_NAME, json, strlen(json), 0644);
    if (r == 0)
        r = add_entry(a, BUNDLE_SIGNATURE_NAME, p7s, p7s_len, 0644);
    if (r < 0) {
        bundle__err(err, err_size, "cannot write the archive: %s", archive_why_text(a));
        goto out;
    }
    r = add_payloads(a, payload_dir, m, chunk, err, err_size);
    if (r < 0)
        goto out;
    if (archive_write_close(a) != ARCHIVE_OK) {
        bundle__err(err, err_size, "cannot finish the archive: %s", archive_why_text(a));
        r = -EIO;
        goto out;
    }
    r = io_fsync(fd);
    if (r == 0)
        r = io_close(fd);
    fd = -1;
    if (r == 0)
        r = io_rename(tmp, out_path);
    if (r < 0) {
        bundle__err(err, err_size, "cannot write '%s': %s", out_path, strerror(-r));
        goto out;
    }
    free(tmp);
    tmp = NULL;
    copy = strdup(out_path);
    r = copy ? io_fsync_dir(dirname(copy)) : -ENOMEM;
    if (r < 0)
        goto out;
    if (ret_manifest) {
        *ret_manifest = m;
        m = NULL;
    }
out:
    if (a)
        archive_write_free(a);
    if (fd >= 0)
        (void)io_close(fd);
    if (tmp) {
        (void)unlink(tmp);
        free(tmp);
    }
    free(copy);
    free(p7s);
    free(json);
    free(chunk);
    bundle_manifest_free(m);
    file_list_done(&files);
    return r;
}
