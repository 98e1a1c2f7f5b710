/* Unit tests for the file helpers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/base.h"
#include "../test_tmp.h"

static void atomic_write_replaces_content_with_mode(void **state)
{
    char dir[] = "/tmp/konn-fs-XXXXXX";
    char *path, *data = NULL;
    size_t len = 0;
    struct stat st;

    assert_non_null(mkdtemp(dir));
    path = fs_path_join(dir, "secret");
    assert_int_equal(fs_write_atomic(path, "one", 3, 0600), 0);
    assert_int_equal(fs_write_atomic(path, "second", 6, 0600), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(fs_read_all(path, 1024, &data, &len), 0);
    assert_int_equal(len, 6);
    assert_string_equal(data, "second");
    free(data);
    assert_int_equal(fs_read_all(path, 3, &data, &len), -EFBIG);
    unlink(path);
    free(path);
    rmdir(dir);
}

static void mkdir_p_creates_parents_and_accepts_existing(void **state)
{
    char dir[] = "/tmp/konn-fs-XXXXXX";
    char *deep;

    assert_non_null(mkdtemp(dir));
    deep = fs_path_join(dir, "a/b/c");
    assert_int_equal(fs_mkdir_p(deep, 0700), 0);
    assert_true(fs_exists(deep));
    assert_int_equal(fs_mkdir_p(deep, 0700), 0);
    free(deep);
    test_tmp_remove(dir);
}

static void read_of_missing_file_is_enoent(void **state)
{
    char *data = NULL;
    size_t len = 0;

    assert_int_equal(fs_read_all("/nonexistent/konn/file", 10, &data, &len), -ENOENT);
    assert_null(data);
}

static void copy_tree_copies_files_and_modes_and_refuses_links(void **state)
{
    char dir[] = "/tmp/konn-fs-XXXXXX";
    char *src, *sub, *f1, *f2, *dst, *c1, *c2, *data = NULL, *link;
    size_t len;
    struct stat st;

    assert_non_null(mkdtemp(dir));
    src = fs_path_join(dir, "src");
    sub = fs_path_join(dir, "src/pki");
    f1 = fs_path_join(dir, "src/world.json");
    f2 = fs_path_join(dir, "src/pki/key.pem");
    dst = fs_path_join(dir, "dst");
    c1 = fs_path_join(dir, "dst/world.json");
    c2 = fs_path_join(dir, "dst/pki/key.pem");
    assert_int_equal(fs_mkdir_p(sub, 0700), 0);
    assert_int_equal(fs_write_atomic(f1, "{}", 2, 0644), 0);
    assert_int_equal(fs_write_atomic(f2, "secret", 6, 0600), 0);
    assert_int_equal(fs_copy_tree(src, dst), 0);
    assert_int_equal(fs_read_all(c2, 100, &data, &len), 0);
    assert_string_equal(data, "secret");
    free(data);
    assert_int_equal(stat(c2, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(c1, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    link = fs_path_join(dir, "src/link");
    assert_int_equal(symlink("/etc/passwd", link), 0);
    assert_int_equal(fs_copy_tree(src, dst), -EINVAL);
    assert_int_equal(fs_copy_tree(f1, dst), -ENOTDIR);
    free(link);
    free(src);
    free(sub);
    free(f1);
    free(f2);
    free(dst);
    free(c1);
    free(c2);
    test_tmp_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(atomic_write_replaces_content_with_mode),
        cmocka_unit_test(mkdir_p_creates_parents_and_accepts_existing),
        cmocka_unit_test(read_of_missing_file_is_enoent),
        cmocka_unit_test(copy_tree_copies_files_and_modes_and_refuses_links),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
