/* ksr_fetch: the KSR client's network I/O with libcurl, run on the KSR client's own worker
 * thread (never on the loop): the list_Updates POST (TUC_KON_282) and file downloads that
 * resume with HTTP Range (TIP1-A_7220).
 *
 * Invariants:
 *  1. Every transfer has a connect timeout and a low-speed limit, and stops when the caller's
 *     stop flag is set (daemon shutdown), so a KSR that hangs never holds the thread for long.
 *  2. An answer body is read into memory only up to its cap (UPD_KSR_RESPONSE_MAX); a download
 *     appends to DIR/NAME.part only, and DIR/NAME appears by one rename when the file has its
 *     announced size. A server that ignores Range (200 instead of 206) makes the client start
 *     the file over, never append a second copy.
 *  3. Errors come back as a negative errno plus a printable message naming the URL's host
 *     part; nothing here logs (the loop decides and logs once). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "base/base.h"
#include "update/ksr_internal.h"

/* Seconds: connecting, and the time a transfer may stay below LOW_SPEED bytes/s. */
#define CONNECT_TIMEOUT_S 15L
#define LOW_SPEED_BYTES 1L
#define LOW_SPEED_TIME_S 60L
/* The list_Updates exchange as a whole, seconds. */
#define LIST_TIMEOUT_S 60L

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t size, const char *fmt, ...)
{
    va_list ap;

    if (err && size) {
        va_start(ap, fmt);
        (void)vsnprintf(err, size, fmt, ap);
        va_end(ap);
        for (char *p = err; *p; p++)
            if (*p < 0x20 || *p > 0x7e)
                *p = '?';
    }
    return 0;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    const atomic_bool *stop = arg;

    return atomic_load(stop) ? 1 : 0;
}

static void common_options(CURL *c, const char *url, const atomic_bool *stop)
{
    (void)curl_easy_setopt(c, CURLOPT_URL, url);
    (void)curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    (void)curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
    (void)curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, LOW_SPEED_BYTES);
    (void)curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, LOW_SPEED_TIME_S);
    (void)curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    (void)curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    (void)curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    (void)curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    (void)curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)stop);
}

/* ---- list_Updates ------------------------------------------------------------------------ */

struct membuf {
    char *data;
    size_t len;
    bool too_big;
};

static size_t on_body(char *ptr, size_t size, size_t n, void *arg)
{
    struct membuf *b = arg;
    size_t add = size * n;
    char *grown;

    if (b->len + add > UPD_KSR_RESPONSE_MAX) {
        b->too_big = true;
        return 0;
    }
    grown = realloc(b->data, b->len + add + 1);
    if (!grown)
        return 0;
    memcpy(grown + b->len, ptr, add);
    b->data = grown;
    b->len += add;
    b->data[b->len] = '\0';
    return add;
}

int upd__ksr_fetch_list(const char *url, const struct upd_ksr_identity *id, const atomic_bool *stop,
                        struct upd_ksr_list **ret_list, char *err, size_t err_size)
{
    struct membuf body = {0};
    struct curl_slist *headers = NULL;
    char *request = NULL;
    size_t request_len = 0;
    long status = 0;
    CURL *c = NULL;
    CURLcode cc;
    int r;

    r = upd_ksr_request_format(id, &request, &request_len);
    if (r < 0) {
        (void)fail(err, err_size, "out of memory");
        goto out;
    }
    c = curl_easy_init();
    headers = curl_slist_append(NULL, "Content-Type: text/xml; charset=utf-8");
    headers =
        headers ? curl_slist_append(headers, "SOAPAction: \"" UPD_KSR_SOAP_ACTION "\"") : NULL;
    if (!c || !headers) {
        r = -ENOMEM;
        (void)fail(err, err_size, "out of memory");
        goto out;
    }
    common_options(c, url, stop);
    (void)curl_easy_setopt(c, CURLOPT_TIMEOUT, LIST_TIMEOUT_S);
    (void)curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    (void)curl_easy_setopt(c, CURLOPT_POSTFIELDS, request);
    (void)curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)request_len);
    (void)curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    (void)curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    cc = curl_easy_perform(c);
    if (body.too_big) {
        r = -EFBIG;
        (void)fail(err, err_size, "the KSR's answer is larger than %d bytes", UPD_KSR_RESPONSE_MAX);
        goto out;
    }
    if (cc != CURLE_OK) {
        r = cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -EHOSTUNREACH;
        (void)fail(err, err_size, "the KSR at '%.128s' cannot be reached: %s", url,
                   curl_easy_strerror(cc));
        goto out;
    }
    (void)curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    /* A SOAP fault comes with status 500; the parser reads it. */
    if (status != 200 && status != 500) {
        r = -EPROTO;
        (void)fail(err, err_size, "the KSR at '%.128s' answered HTTP %ld", url, status);
        goto out;
    }
    r = upd_ksr_response_parse(body.data ? body.data : "", body.len, ret_list, err, err_size);
out:
    curl_slist_free_all(headers);
    if (c)
        curl_easy_cleanup(c);
    free(request);
    free(body.data);
    return r;
}

/* ---- downloads --------------------------------------------------------------------------- */

struct download {
    int fd;
    int64_t offset; /* where the next byte goes */
    uint64_t limit; /* the announced size: no more is written */
    long status;    /* checked at the first body byte */
    bool restart;   /* the server sent the whole file: start over at 0 */
    bool too_big;
    int io_error;
    CURL *c;
};

static size_t on_file(char *ptr, size_t size, size_t n, void *arg)
{
    struct download *d = arg;
    size_t add = size * n;
    int r;

    if (d->status == 0) {
        (void)curl_easy_getinfo(d->c, CURLINFO_RESPONSE_CODE, &d->status);
        if (d->status == 200 && d->offset > 0) {
            /* Range was ignored: the body is the file from its first byte. */
            d->restart = true;
            d->offset = 0;
            if (io_ftruncate(d->fd, 0) < 0) {
                d->io_error = -EIO;
                return 0;
            }
        }
        if (d->status != 200 && d->status != 206)
            return 0;
    }
    if ((uint64_t)d->offset + add > d->limit) {
        d->too_big = true;
        return 0;
    }
    r = io_pwrite_all(d->fd, ptr, add, d->offset);
    if (r < 0) {
        d->io_error = r;
        return 0;
    }
    d->offset += (int64_t)add;
    return add;
}

int upd__ksr_fetch_file(const char *url, const char *dir, const char *name, uint64_t size,
                        const atomic_bool *stop, uint64_t *ret_have, char *err, size_t err_size)
{
    struct download d = {.fd = -1, .limit = size};
    char *part = NULL, *final = NULL, *part_name = NULL;
    char range[48];
    struct stat st;
    CURLcode cc;
    int r = 0;

    if (asprintf(&part_name, "%s.part", name) < 0) {
        part_name = NULL;
        r = -ENOMEM;
        goto out;
    }
    part = fs_path_join(dir, part_name);
    final = fs_path_join(dir, name);
    if (!part || !final) {
        r = -ENOMEM;
        goto out;
    }
    if (stat(final, &st) == 0 && (uint64_t)st.st_size == size) {
        *ret_have = size;
        goto out;
    }
    d.fd = io_open(part, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (d.fd < 0) {
        r = d.fd;
        (void)fail(err, err_size, "cannot open the download file: %s", strerror(-r));
        goto out;
    }
    if (fstat(d.fd, &st) < 0) {
        r = -errno;
        goto out;
    }
    d.offset = (uint64_t)st.st_size > size ? 0 : (int64_t)st.st_size;
    if ((uint64_t)st.st_size > size && io_ftruncate(d.fd, 0) < 0) {
        r = -EIO;
        goto out;
    }
    if ((uint64_t)d.offset < size) {
        d.c = curl_easy_init();
        if (!d.c) {
            r = -ENOMEM;
            goto out;
        }
        common_options(d.c, url, stop);
        (void)curl_easy_setopt(d.c, CURLOPT_WRITEFUNCTION, on_file);
        (void)curl_easy_setopt(d.c, CURLOPT_WRITEDATA, &d);
        if (d.offset > 0) {
            (void)snprintf(range, sizeof(range), "%lld-", (long long)d.offset);
            (void)curl_easy_setopt(d.c, CURLOPT_RANGE, range);
        }
        cc = curl_easy_perform(d.c);
        if (d.status == 0)
            (void)curl_easy_getinfo(d.c, CURLINFO_RESPONSE_CODE, &d.status);
        if (d.io_error) {
            r = d.io_error;
            (void)fail(err, err_size, "writing the download failed: %s", strerror(-r));
        } else if (d.too_big) {
            r = -EBADMSG;
            (void)fail(err, err_size, "'%s' is larger than the %llu bytes the KSR announced", name,
                       (unsigned long long)size);
        } else if (d.status != 0 && d.status != 200 && d.status != 206) {
            r = -EPROTO;
            (void)fail(err, err_size, "the KSR answered HTTP %ld for '%s'", d.status, name);
        } else if (cc != CURLE_OK) {
            r = -EAGAIN;
            (void)fail(err, err_size,
                       "the download of '%s' stopped after %lld of %llu bytes (%s); it resumes "
                       "from there",
                       name, (long long)d.offset, (unsigned long long)size, curl_easy_strerror(cc));
        }
    }
    if (r == 0 && (uint64_t)d.offset != size) {
        r = -EAGAIN;
        (void)fail(err, err_size, "'%s' has %lld of %llu bytes; the download resumes from there",
                   name, (long long)d.offset, (unsigned long long)size);
    }
    if (r == 0 && (r = io_fsync(d.fd)) == 0 && (r = io_rename(part, final)) == 0)
        r = io_fsync_dir(dir);
    if (r == 0)
        *ret_have = size;
    else if (ret_have)
        *ret_have = (uint64_t)(d.offset > 0 ? d.offset : 0);
out:
    if (d.c)
        curl_easy_cleanup(d.c);
    if (d.fd >= 0)
        (void)io_close(d.fd);
    free(part);
    free(final);
    free(part_name);
    return r;
}

int upd__ksr_resolve(const char *base_url, const char *name, char **ret_url)
{
    CURLU *u = curl_url();
    char *out = NULL;
    int r = -EINVAL;

    if (!u)
        return -ENOMEM;
    if (curl_url_set(u, CURLUPART_URL, base_url, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_URL, name, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_URL, &out, 0) == CURLUE_OK) {
        *ret_url = strdup(out);
        r = *ret_url ? 0 : -ENOMEM;
    }
    curl_free(out);
    curl_url_cleanup(u);
    return r;
}
