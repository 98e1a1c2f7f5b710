/* Replays fuzz inputs without libFuzzer (STYLE.md rule 15): every file named on the command
 * line, and every regular file in every directory named, goes once through the target's
 * LLVMFuzzerTestOneInput. CTest runs this over each corpus, so a crash that once made it into
 * the corpus is caught by every build, under ASan and UBSan with KONN_SANITIZE.
 *
 * Exit status: 0 when at least one input ran; 1 on a usage error or an unreadable input. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/base.h"

/* The largest input we replay; libFuzzer's default -max_len is far below this. */
#define INPUT_MAX (16 * 1024 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path, size_t *count)
{
    char *data = NULL;
    size_t len = 0;
    int r = fs_read_all(path, INPUT_MAX, &data, &len);

    if (r < 0) {
        fprintf(stderr, "fuzz_main: cannot read '%s': %s\n", path, strerror(-r));
        return r;
    }
    (void)LLVMFuzzerTestOneInput((const uint8_t *)data, len);
    free(data);
    (*count)++;
    return 0;
}

static int run_dir(const char *dir, size_t *count)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int r = 0;

    if (!d) {
        fprintf(stderr, "fuzz_main: cannot open '%s': %s\n", dir, strerror(errno));
        return -errno;
    }
    while (r == 0 && (de = readdir(d))) {
        struct stat st;
        char *path;

        if (de->d_name[0] == '.')
            continue;
        path = fs_path_join(dir, de->d_name);
        if (!path) {
            r = -ENOMEM;
            break;
        }
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
            r = run_file(path, count);
        free(path);
    }
    closedir(d);
    return r;
}

int main(int argc, char **argv)
{
    size_t count = 0;
    struct stat st;

    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        int r = stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode) ? run_dir(argv[i], &count)
                                                               : run_file(argv[i], &count);

        if (r < 0)
            return 1;
    }
    printf("fuzz_main: %zu inputs ran\n", count);
    return count > 0 ? 0 : 1;
}
