/* files: the local files konctl sends to the daemon (certificates, PKCS#12, backups) and
 * writes from its answers, whole or not at all; base64 for both ways. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

char *base64_encode(const unsigned char *data, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((len + 2) / 3 * 4 + 1);
    size_t o = 0;

    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)data[i] << 16;

        if (i + 1 < len)
            v |= (unsigned)data[i + 1] << 8;
        if (i + 2 < len)
            v |= data[i + 2];
        out[o++] = alphabet[(v >> 18) & 63];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? alphabet[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int base64_decode(const char *in, unsigned char **ret, size_t *ret_len)
{
    size_t len = strlen(in), o = 0;
    unsigned char *out;

    if (len == 0 || len % 4 != 0)
        return -EINVAL;
    out = malloc(len / 4 * 3);
    if (!out)
        return -ENOMEM;
    for (size_t i = 0; i < len; i += 4) {
        bool last = i + 4 == len;
        int pad = last && in[i + 3] == '=' ? (in[i + 2] == '=' ? 2 : 1) : 0;
        uint32_t v = 0;

        for (size_t j = 0; j < 4; j++) {
            int d = j >= (size_t)(4 - pad) ? 0 : b64_value(in[i + j]);

            if (d < 0) {
                explicit_bzero(out, len / 4 * 3);
                free(out);
                return -EINVAL;
            }
            v = v << 6 | (uint32_t)d;
        }
        out[o++] = (unsigned char)(v >> 16);
        if (pad < 2)
            out[o++] = (unsigned char)(v >> 8);
        if (pad < 1)
            out[o++] = (unsigned char)v;
    }
    *ret = out;
    *ret_len = o;
    return 0;
}

int file_temp_open(const char *file, char **ret_tmp, int *ret_fd)
{
    size_t size = strlen(file) + sizeof(".XXXXXX");
    char *tmp = malloc(size);
    int fd;

    if (!tmp) {
        konctl_error("out of memory");
        return KONCTL_EXIT_ERROR;
    }
    (void)snprintf(tmp, size, "%s.XXXXXX", file);
    /* mkstemp creates it with mode 0600: the files hold keys, backups and logs. */
    fd = mkstemp(tmp);
    if (fd < 0) {
        konctl_error("cannot create '%s': %s", file, strerror(errno));
        free(tmp);
        return KONCTL_EXIT_USAGE;
    }
    *ret_tmp = tmp;
    *ret_fd = fd;
    return KONCTL_EXIT_OK;
}

int file_commit(int fd, const char *tmp, const char *file, const unsigned char *data, size_t len)
{
    size_t done = 0;
    int r = 0;

    while (done < len && r == 0) {
        ssize_t n = write(fd, data + done, len - done);

        if (n < 0 && errno != EINTR)
            r = -errno;
        else if (n > 0)
            done += (size_t)n;
    }
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (close(fd) < 0 && r == 0)
        r = -errno;
    return file_replace(r, tmp, file);
}

int file_replace(int r, const char *tmp, const char *file)
{
    if (r == 0 && rename(tmp, file) < 0)
        r = -errno;
    if (r < 0) {
        konctl_error("cannot write '%s': %s", file, strerror(-r));
        (void)unlink(tmp);
        return KONCTL_EXIT_ERROR;
    }
    return KONCTL_EXIT_OK;
}

int file_save(const char *file, const unsigned char *data, size_t len)
{
    char *tmp = NULL;
    int fd = -1, r = file_temp_open(file, &tmp, &fd);

    if (r == KONCTL_EXIT_OK)
        r = file_commit(fd, tmp, file, data, len);
    free(tmp);
    return r;
}
