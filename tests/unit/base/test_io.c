/* Unit tests for the I/O seam: plain behaviour, call-N faults, prefix faults. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/base.h"

static char *temp_file(char *dir, const char *name)
{
    assert_non_null(mkdtemp(dir));
    return fs_path_join(dir, name);
}

static void writes_and_syncs_without_faults(void **state)
{
    char dir[] = "/tmp/konn-io-XXXXXX";
    char *path = temp_file(dir, "f");
    char *data = NULL;
    size_t len;
    int fd = io_open(path, O_RDWR | O_CREAT, 0600);

    assert_true(fd >= 0);
    assert_int_equal(io_fallocate(fd, 0, 4096), 0);
    assert_int_equal(io_pwrite_all(fd, "hello", 5, 10), 0);
    assert_int_equal(io_fdatasync(fd), 0);
    assert_int_equal(io_ftruncate(fd, 15), 0);
    assert_int_equal(io_close(fd), 0);
    assert_int_equal(fs_read_all(path, 100, &data, &len), 0);
    assert_int_equal(len, 15);
    assert_memory_equal(data + 10, "hello", 5);
    free(data);
    assert_int_equal(io_unlink(path), 0);
    assert_int_equal(io_fsync_dir(dir), 0);
    free(path);
    rmdir(dir);
}

static void nth_call_fails_once(void **state)
{
    char dir[] = "/tmp/konn-io-XXXXXX";
    char *path = temp_file(dir, "f");
    int fd = io_open(path, O_RDWR | O_CREAT, 0600);

    io_fault_at(IO_OP_FDATASYNC, 2, EIO);
    assert_int_equal(io_fdatasync(fd), 0);
    assert_int_equal(io_fdatasync(fd), -EIO);
    assert_int_equal(io_fdatasync(fd), 0);
    io_fault_at(IO_OP_PWRITE, 1, ENOSPC);
    assert_int_equal(io_pwrite_all(fd, "x", 1, 0), -ENOSPC);
    assert_int_equal(io_pwrite_all(fd, "x", 1, 0), 0);
    io_close(fd);
    unlink(path);
    free(path);
    rmdir(dir);
}

static void prefix_fault_covers_paths_and_their_fds(void **state)
{
    char dir[] = "/tmp/konn-io-XXXXXX";
    char *path = temp_file(dir, "f");
    int fd = io_open(path, O_RDWR | O_CREAT, 0600);
    uint64_t before = io_calls(IO_OP_PWRITE);

    io_fault_prefix(dir, EIO);
    assert_int_equal(io_pwrite_all(fd, "x", 1, 0), -EIO);
    assert_int_equal(io_open(path, O_RDWR, 0600), -EIO);
    assert_int_equal(io_unlink(path), -EIO);
    assert_int_equal(io_calls(IO_OP_PWRITE), before + 1);
    io_fault_clear();
    assert_int_equal(io_pwrite_all(fd, "x", 1, 0), 0);
    io_close(fd);
    assert_int_equal(io_unlink(path), 0);
    free(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(writes_and_syncs_without_faults),
        cmocka_unit_test(nth_call_fails_once),
        cmocka_unit_test(prefix_fault_covers_paths_and_their_fds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
