/* fs: small file helpers: create directories, write a file atomically, read a file whole.
 *
 * Invariant: fs_write_atomic() leaves either the old or the new content at path, never a mix,
 * and the new content is durable (file and directory fsynced) when it returns 0. */
#include "base/base.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool fs_exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

char *fs_path_join(const char *dir, const char *name)
{
    char *out = NULL;

    if (asprintf(&out, "%s/%s", dir, name) < 0)
        return NULL;
    return out;
}

int fs_mkdir_p(const char *path, unsigned mode)
{
    char *copy = strdup(path);
    int r = 0;

    if (!copy)
        return -ENOMEM;
    for (char *p = copy + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;

            *p = '\0';
            if (mkdir(copy, (mode_t)mode) < 0 && errno != EEXIST) {
                r = -errno;
                goto out;
            }
            *p = saved;
            if (saved == '\0')
                break;
        }
    }
out:
    free(copy);
    return r;
}

static int fsync_dir_of(const char *path)
{
    char *copy = strdup(path);
    int fd = -1, r = 0;

    if (!copy)
        return -ENOMEM;
    fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        r = -errno;
        goto out;
    }
    if (fsync(fd) < 0)
        r = -errno;
out:
    if (fd >= 0)
        close(fd);
    free(copy);
    return r;
}

int fs_write_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
    char *tmp = NULL;
    const char *p = data;
    int fd = -1, r = 0;

    if (asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0)
        return -ENOMEM;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
    if (fd < 0) {
        r = -errno;
        goto out;
    }
    /* open() applies the umask; the caller's mode (e.g. 0600 for secrets) is the contract. */
    if (fchmod(fd, (mode_t)mode) < 0) {
        r = -errno;
        goto out;
    }
    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            r = -errno;
            goto out;
        }
        p += n;
        len -= (size_t)n;
    }
    if (fsync(fd) < 0) {
        r = -errno;
        goto out;
    }
    if (close(fd) < 0) {
        fd = -1;
        r = -errno;
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) < 0) {
        r = -errno;
        goto out;
    }
    r = fsync_dir_of(path);
out:
    if (fd >= 0)
        close(fd);
    if (r < 0)
        (void)unlink(tmp);
    free(tmp);
    return r;
}

int fs_read_all(const char *path, size_t max_len, char **ret_data, size_t *ret_len)
{
    char *buf = NULL;
    size_t len = 0;
    struct stat st;
    int fd, r = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0) {
        r = -errno;
        goto out;
    }
    if ((size_t)st.st_size > max_len) {
        r = -EFBIG;
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        r = -ENOMEM;
        goto out;
    }
    while (len < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = -errno;
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    *ret_data = buf;
    *ret_len = len;
    buf = NULL;
out:
    free(buf);
    close(fd);
    return r;
}

/* Deep enough for any data directory, shallow enough that a loop cannot recurse for long. */
#define COPY_DEPTH_MAX 16
#define COPY_FILE_MAX (64 * 1024 * 1024)

static int copy_tree(const char *from, const char *to, int depth)
{
    DIR *dir = NULL;
    struct dirent *de;
    struct stat st;
    int r;

    if (depth > COPY_DEPTH_MAX)
        return -ELOOP;
    if (lstat(from, &st) < 0)
        return -errno;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    r = fs_mkdir_p(to, st.st_mode & 07777);
    if (r < 0)
        return r;
    dir = opendir(from);
    if (!dir)
        return -errno;
    while (r == 0 && (de = readdir(dir))) {
        char *src, *dst;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        src = fs_path_join(from, de->d_name);
        dst = fs_path_join(to, de->d_name);
        if (!src || !dst)
            r = -ENOMEM;
        else if (lstat(src, &st) < 0)
            r = -errno;
        else if (S_ISDIR(st.st_mode))
            r = copy_tree(src, dst, depth + 1);
        else if (S_ISREG(st.st_mode)) {
            char *data = NULL;
            size_t len = 0;

            r = fs_read_all(src, COPY_FILE_MAX, &data, &len);
            if (r == 0)
                r = fs_write_atomic(dst, data, len, st.st_mode & 07777);
            free(data);
        } else {
            r = -EINVAL;
        }
        free(src);
        free(dst);
    }
    closedir(dir);
    return r;
}

int fs_copy_tree(const char *from, const char *to)
{
    return copy_tree(from, to, 0);
}
