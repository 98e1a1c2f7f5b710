/* slots: the firmware slots DATA/fw/slot-a/ and slot-b/ and how one comes to be.
 *
 * A slot holds manifest.json (+ manifest.json.p7s for a bundle's), the payloads
 * (core/konnektord is the core) and the marker "complete".
 *
 * Invariants:
 *  1. A slot directory is either complete (every file fsynced, "complete" written last) or
 *     absent: it is built in "DATA/fw/.slot-X.staging" and renamed into place, and a boot
 *     removes staging directories a killed install left.
 *  2. Only the inactive slot is ever replaced (the caller's duty: install.c picks the slot
 *     the running core did not start from).
 *  3. The factory image is the running build with a manifest the build makes itself (no
 *     signature: it is what the device was delivered with). */
#include "update/update_internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#define COPY_CHUNK (64 * 1024) /* bytes per read while copying the factory core */

char *upd_fw_dir(const char *data_dir)
{
    return fs_path_join(data_dir, "fw");
}

char *upd_slot_dir(const char *fw_dir, enum upd_slot slot)
{
    char *out = NULL;

    if (asprintf(&out, "%s/slot-%s", fw_dir, upd_slot_to_string(slot)) < 0)
        return NULL;
    return out;
}

char *upd__staging_dir(const char *fw_dir, enum upd_slot slot)
{
    char *out = NULL;

    if (asprintf(&out, "%s/.slot-%s.staging", fw_dir, upd_slot_to_string(slot)) < 0)
        return NULL;
    return out;
}

bool upd_slot_is_complete(const char *fw_dir, enum upd_slot slot)
{
    char *dir = upd_slot_dir(fw_dir, slot);
    char *marker = dir ? fs_path_join(dir, UPD__COMPLETE_NAME) : NULL;
    bool ok = marker && fs_exists(marker);

    free(marker);
    free(dir);
    return ok;
}

int upd_slot_manifest_read(const char *fw_dir, enum upd_slot slot,
                           struct bundle_manifest **ret_manifest)
{
    char *dir = upd_slot_dir(fw_dir, slot);
    char *path = dir ? fs_path_join(dir, BUNDLE_MANIFEST_NAME) : NULL;
    char *data = NULL, err[128];
    size_t len = 0;
    int r;

    if (!path) {
        r = -ENOMEM;
        goto out;
    }
    if (!upd_slot_is_complete(fw_dir, slot)) {
        r = -ENOENT;
        goto out;
    }
    r = fs_read_all(path, BUNDLE_MANIFEST_MAX, &data, &len);
    if (r == 0)
        r = bundle_manifest_parse(data, len, ret_manifest, err, sizeof(err));
out:
    free(data);
    free(path);
    free(dir);
    return r;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (flag == FTW_DP)
        return rmdir(path) < 0 ? -1 : 0;
    return io_unlink(path) < 0 ? -1 : 0;
}

int upd__rmtree(const char *path)
{
    struct stat st;

    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0)
        return errno ? -errno : -EIO;
    return 0;
}

void upd_slots_cleanup(const char *fw_dir)
{
    for (int s = 0; s < UPD_SLOT_MAX; s++) {
        char *staging = upd__staging_dir(fw_dir, (enum upd_slot)s);

        if (staging && fs_exists(staging)) {
            log_msg(LOG_LEVEL_INFO, "update: removing '%s' left by an interrupted install",
                    staging);
            (void)upd__rmtree(staging);
        }
        free(staging);
    }
}

int upd__file_write(const char *dir, const char *name, const void *data, size_t len)
{
    char *path = fs_path_join(dir, name);
    int fd, r;

    if (!path)
        return -ENOMEM;
    fd = io_open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    free(path);
    if (fd < 0)
        return fd;
    r = io_pwrite_all(fd, data, len, 0);
    if (r == 0)
        r = io_fsync(fd);
    (void)io_close(fd);
    return r;
}

int upd__slot_commit(const char *fw_dir, enum upd_slot slot, const char *manifest,
                     size_t manifest_len, const char *p7s, size_t p7s_len)
{
    char *staging = upd__staging_dir(fw_dir, slot);
    char *dir = upd_slot_dir(fw_dir, slot);
    char *core_dir = staging ? fs_path_join(staging, "core") : NULL;
    int r = -ENOMEM;

    if (!staging || !dir || !core_dir)
        goto out;
    r = upd__file_write(staging, BUNDLE_MANIFEST_NAME, manifest, manifest_len);
    if (r == 0 && p7s)
        r = upd__file_write(staging, BUNDLE_SIGNATURE_NAME, p7s, p7s_len);
    if (r == 0 && fs_exists(core_dir))
        r = io_fsync_dir(core_dir);
    /* Invariant 1: the marker is written last, then the directory entries are made durable. */
    if (r == 0)
        r = upd__file_write(staging, UPD__COMPLETE_NAME, "1\n", 2);
    if (r == 0)
        r = io_fsync_dir(staging);
    if (r == 0)
        r = upd__rmtree(dir);
    if (r == 0)
        r = io_rename(staging, dir);
    if (r == 0)
        r = io_fsync_dir(fw_dir);
out:
    free(core_dir);
    free(dir);
    free(staging);
    return r;
}

int upd__factory_manifest_json(uint64_t core_size, const uint8_t *sha256, char **ret_json)
{
    static const char *const features[] = {UPD_FACTORY_FEATURES};
    char today[40] = "2026-01-01", hex[65];
    json_t *root, *feats = json_array(), *payloads = json_array();
    char *text = NULL;

    (void)clock_format_iso(clock_now_ms(), today, sizeof(today));
    today[10] = '\0';
    for (size_t i = 0; feats && i < ARRAY_SIZE(features); i++)
        (void)json_array_append_new(feats, json_string(features[i]));
    if (sha256 && payloads) {
        hex_encode(sha256, 32, hex);
        (void)json_array_append_new(payloads, json_pack("{s:s,s:I,s:s,s:b}", "path", UPD__CORE_PATH,
                                                        "size", (json_int_t)core_size, "sha256",
                                                        hex, "executable", 1));
    }
    root = json_pack("{s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:n,s:s,s:o,s:o}", "format", 1,
                     "product_vendor_id", UPD_PRODUCT_VENDOR_ID, "product_code", UPD_PRODUCT_CODE,
                     "product_name", "konnektord", "hw_version", UPD_HW_VERSION, "fw_version",
                     KONN_VERSION, "product_type_version", KONN_PRODUCT_TYPE_VERSION, "created",
                     today, "fw_priority", "Normal", "deadline", "release_notes", "factory image",
                     "features", feats, "payloads", payloads);
    if (root)
        text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(root);
    if (!text)
        return -ENOMEM;
    *ret_json = text;
    return 0;
}

/* Copies exe to staging/core/konnektord (0755), fsynced, hashing it on the way. */
static int copy_core(const char *exe, const char *staging, uint64_t *ret_size, uint8_t sha[32])
{
    char *core_dir = fs_path_join(staging, "core");
    char *dst = core_dir ? fs_path_join(core_dir, "konnektord") : NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char *buf = malloc(COPY_CHUNK);
    int in = -1, out = -1, r = -ENOMEM;
    uint64_t off = 0;
    unsigned int mdlen = 0;

    if (!dst || !md || !buf || !EVP_DigestInit_ex(md, EVP_sha256(), NULL))
        goto out;
    r = fs_mkdir_p(core_dir, 0755);
    if (r < 0)
        goto out;
    in = open(exe, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        r = -errno;
        goto out;
    }
    out = io_open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
    if (out < 0) {
        r = out;
        goto out;
    }
    for (;;) {
        ssize_t n = read(in, buf, COPY_CHUNK);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = -errno;
            goto out;
        }
        if (n == 0)
            break;
        r = io_pwrite_all(out, buf, (size_t)n, (int64_t)off);
        if (r < 0)
            goto out;
        (void)EVP_DigestUpdate(md, buf, (size_t)n);
        off += (uint64_t)n;
    }
    r = fchmod(out, 0755) < 0 ? -errno : io_fsync(out);
    if (r == 0 && !EVP_DigestFinal_ex(md, sha, &mdlen))
        r = -EIO;
    if (r == 0)
        *ret_size = off;
out:
    if (out >= 0)
        (void)io_close(out);
    if (in >= 0)
        (void)close(in);
    free(buf);
    EVP_MD_CTX_free(md);
    free(dst);
    free(core_dir);
    return r;
}

int upd_slot_install_factory(const char *fw_dir, const char *exe)
{
    char *staging = NULL, *json = NULL;
    uint8_t sha[32];
    uint64_t size = 0;
    int r;

    if (upd_slot_is_complete(fw_dir, UPD_SLOT_A) || upd_slot_is_complete(fw_dir, UPD_SLOT_B))
        return 0;
    staging = upd__staging_dir(fw_dir, UPD_SLOT_A);
    if (!staging)
        return -ENOMEM;
    r = upd__rmtree(staging);
    if (r == 0)
        r = fs_mkdir_p(staging, 0755);
    if (r == 0)
        r = copy_core(exe, staging, &size, sha);
    if (r == 0)
        r = upd__factory_manifest_json(size, sha, &json);
    if (r == 0)
        r = upd__slot_commit(fw_dir, UPD_SLOT_A, json, strlen(json), NULL, 0);
    if (r < 0)
        (void)upd__rmtree(staging);
    free(json);
    free(staging);
    return r < 0 ? r : 1;
}

static int read_entry(struct archive *a, const char *name, size_t max, char **ret, size_t *ret_len)
{
    struct archive_entry *e;
    la_int64_t size;
    char *buf;

    if (archive_read_next_header(a, &e) != ARCHIVE_OK)
        return -EBADMSG;
    size = archive_entry_size(e);
    if (strcmp(archive_entry_pathname(e), name) != 0 || size < 0 || (uint64_t)size > max)
        return -EBADMSG;
    buf = malloc((size_t)size + 1);
    if (!buf)
        return -ENOMEM;
    if (archive_read_data(a, buf, (size_t)size) != (la_ssize_t)size) {
        free(buf);
        return -EBADMSG;
    }
    buf[size] = '\0';
    *ret = buf;
    *ret_len = (size_t)size;
    return 0;
}

int upd__bundle_read_signed_manifest(const char *bundle_path, char **ret_manifest,
                                     size_t *ret_manifest_len, char **ret_p7s, size_t *ret_p7s_len)
{
    struct archive *a = archive_read_new();
    char *m = NULL, *p = NULL;
    size_t mlen = 0, plen = 0;
    int r = -ENOMEM;

    if (!a)
        return r;
    (void)archive_read_support_format_tar(a);
    if (archive_read_open_filename(a, bundle_path, COPY_CHUNK) != ARCHIVE_OK) {
        r = -EIO;
        goto out;
    }
    r = read_entry(a, BUNDLE_MANIFEST_NAME, BUNDLE_MANIFEST_MAX, &m, &mlen);
    if (r == 0)
        r = read_entry(a, BUNDLE_SIGNATURE_NAME, BUNDLE_SIGNATURE_MAX, &p, &plen);
    if (r == 0) {
        *ret_manifest = m;
        *ret_manifest_len = mlen;
        *ret_p7s = p;
        *ret_p7s_len = plen;
        m = p = NULL;
    }
out:
    free(m);
    free(p);
    archive_read_free(a);
    return r;
}
