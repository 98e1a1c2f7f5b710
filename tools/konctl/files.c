/* files: reading the local files konctl sends to the daemon (certificates, PKCS#12). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "konctl.h"

int file_read_all(const char *path, size_t max, char **ret_data, size_t *ret_len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0;
    int r = 0;

    if (!f)
        return -errno;
    buf = malloc(max + 1);
    if (!buf) {
        r = -ENOMEM;
        goto out;
    }
    len = fread(buf, 1, max + 1, f);
    if (ferror(f))
        r = -EIO;
    else if (len > max)
        r = -EFBIG;
out:
    (void)fclose(f);
    if (r < 0) {
        if (buf)
            explicit_bzero(buf, max + 1);
        free(buf);
        return r;
    }
    buf[len] = '\0';
    *ret_data = buf;
    *ret_len = len;
    return 0;
}
