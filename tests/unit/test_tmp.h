/* Temporary directories of the unit tests: removed whole, so that a test run leaves nothing
 * in /tmp. Shared by the test programs of every module ("../test_tmp.h"). */
#ifndef KONN_TEST_TMP_H
#define KONN_TEST_TMP_H

#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

static inline int test_tmp_remove_one(const char *path, const struct stat *sb, int flag,
                                      struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Removes dir and everything below it, links not followed; errors are ignored. */
static inline void test_tmp_remove(const char *dir)
{
    (void)nftw(dir, test_tmp_remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
