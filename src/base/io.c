/* io: the seam for durable file I/O, with fault injection for tests and the fault API.
 *
 * Invariants:
 *  1. Without an armed fault every function is the plain system call (plus EINTR retry).
 *  2. A fault armed for call N fails exactly that call, once.
 *  3. The prefix fault also covers fds opened through io_open under the prefix, even when the
 *     fault is armed after the open: io_open remembers each fd's path in a fixed table. */
#include "base/base.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Enough for every segment, state and database file a process keeps open at once. */
#define TRACKED_FDS 1024
#define PREFIX_MAX 4096

static _Atomic uint64_t calls[IO_OP_MAX];
static _Atomic uint64_t fail_at[IO_OP_MAX]; /* absolute call number that fails; 0 none */
static _Atomic int fail_err[IO_OP_MAX];

static pthread_mutex_t prefix_lock = PTHREAD_MUTEX_INITIALIZER;
static char prefix[PREFIX_MAX];
static _Atomic int prefix_err;
static char *fd_path[TRACKED_FDS]; /* under prefix_lock */

void io_fault_at(enum io_op op, uint64_t nth, int err)
{
    if (op >= IO_OP_MAX)
        return;
    atomic_store(&fail_err[op], err);
    atomic_store(&fail_at[op], nth ? atomic_load(&calls[op]) + nth : 0);
}

void io_fault_prefix(const char *p, int err)
{
    pthread_mutex_lock(&prefix_lock);
    if (p)
        (void)str_copy(prefix, sizeof(prefix), p);
    else
        prefix[0] = '\0';
    atomic_store(&prefix_err, p ? err : 0);
    pthread_mutex_unlock(&prefix_lock);
}

uint64_t io_calls(enum io_op op)
{
    return op < IO_OP_MAX ? atomic_load(&calls[op]) : 0;
}

void io_fault_clear(void)
{
    for (size_t i = 0; i < IO_OP_MAX; i++)
        atomic_store(&fail_at[i], 0);
    io_fault_prefix(NULL, 0);
}

/* Is path (or, for path NULL, the file behind fd) under the fault prefix? */
static bool under_prefix(const char *path, int fd)
{
    bool under = false;

    if (atomic_load(&prefix_err) == 0)
        return false;
    pthread_mutex_lock(&prefix_lock);
    if (!path && fd >= 0 && fd < TRACKED_FDS)
        path = fd_path[fd];
    if (path && prefix[0])
        under = strncmp(path, prefix, strlen(prefix)) == 0;
    pthread_mutex_unlock(&prefix_lock);
    return under;
}

/* Counts the call and returns the injected error for it, or 0. */
static int injected(enum io_op op, const char *path, int fd)
{
    uint64_t n = atomic_fetch_add(&calls[op], 1) + 1;
    uint64_t at = atomic_load(&fail_at[op]);
    int err = atomic_load(&prefix_err);

    if (at != 0 && n == at) {
        atomic_store(&fail_at[op], 0);
        return -atomic_load(&fail_err[op]);
    }
    if (err != 0 && under_prefix(path, fd))
        return -err;
    return 0;
}

int io_open(const char *path, int flags, unsigned mode)
{
    bool writes = (flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC)) != 0;
    int r = writes ? injected(IO_OP_OPEN, path, -1) : 0;
    int fd;

    if (!writes)
        atomic_fetch_add(&calls[IO_OP_OPEN], 1);
    if (r < 0)
        return r;
    do {
        fd = open(path, flags | O_CLOEXEC, (mode_t)mode);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return -errno;
    if (fd < TRACKED_FDS) {
        pthread_mutex_lock(&prefix_lock);
        free(fd_path[fd]);
        fd_path[fd] = strdup(path);
        pthread_mutex_unlock(&prefix_lock);
    }
    return fd;
}

int io_close(int fd)
{
    if (fd >= 0 && fd < TRACKED_FDS) {
        pthread_mutex_lock(&prefix_lock);
        free(fd_path[fd]);
        fd_path[fd] = NULL;
        pthread_mutex_unlock(&prefix_lock);
    }
    return close(fd) < 0 ? -errno : 0;
}

int io_pwrite_all(int fd, const void *data, size_t len, int64_t offset)
{
    const char *p = data;
    int r = injected(IO_OP_PWRITE, NULL, fd);

    if (r < 0)
        return r;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, (off_t)offset);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EIO;
        p += n;
        len -= (size_t)n;
        offset += n;
    }
    return 0;
}

int io_fdatasync(int fd)
{
    int r = injected(IO_OP_FDATASYNC, NULL, fd);

    if (r < 0)
        return r;
    return fdatasync(fd) < 0 ? -errno : 0;
}

int io_fsync(int fd)
{
    int r = injected(IO_OP_FSYNC, NULL, fd);

    if (r < 0)
        return r;
    return fsync(fd) < 0 ? -errno : 0;
}

int io_fallocate(int fd, int64_t offset, int64_t len)
{
    int r = injected(IO_OP_FALLOCATE, NULL, fd);

    if (r < 0)
        return r;
    r = posix_fallocate(fd, (off_t)offset, (off_t)len);
    return r ? -r : 0;
}

int io_ftruncate(int fd, int64_t len)
{
    int r = injected(IO_OP_FTRUNCATE, NULL, fd);

    if (r < 0)
        return r;
    return ftruncate(fd, (off_t)len) < 0 ? -errno : 0;
}

int io_rename(const char *from, const char *to)
{
    int r = injected(IO_OP_RENAME, to, -1);

    if (r < 0)
        return r;
    return rename(from, to) < 0 ? -errno : 0;
}

int io_unlink(const char *path)
{
    int r = injected(IO_OP_UNLINK, path, -1);

    if (r < 0)
        return r;
    return unlink(path) < 0 ? -errno : 0;
}

int io_fsync_dir(const char *dir)
{
    int fd, r;

    do {
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return -errno;
    r = injected(IO_OP_FSYNC, dir, -1);
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    close(fd);
    return r;
}
