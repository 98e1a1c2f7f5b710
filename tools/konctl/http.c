/* http: one JSON request to the management API through libcurl's easy interface.
 *
 * It does not print anything and does not know what a status means to the user: report.c
 * turns a result into messages and exit codes.
 *
 * Invariants:
 *  1. Every request has a deadline: the connect timeout covers TCP and the TLS handshake, and
 *     timeout_ms covers the whole exchange (for a streamed answer: any time without a byte
 *     arriving). libcurl never follows redirects and speaks only http and https.
 *  2. TLS is 1.2 or newer, verified against --cacert alone when given (the daemon's self-made
 *     certificate is pinned, the system store is not consulted), and not verified at all only
 *     with --insecure.
 *  3. An answer is read into a buffer of at most HTTP_ANSWER_MAX bytes; a longer one aborts
 *     the transfer. Only the body of a streamed 2xx answer bypasses the buffer, for its sink.
 *  4. A result has fail == HTTP_FAIL_NONE exactly when an HTTP status arrived. A 2xx answer
 *     that is not empty and not JSON is turned into HTTP_FAIL_BAD_ANSWER. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "http.h"
#include "konctl.h"

_Static_assert(HTTP_DETAIL_MAX >= CURL_ERROR_SIZE, "detail must hold curl's error buffer");

struct http_client {
    char *url; /* normalised: scheme present, no trailing "/" */
    char *user;
    char *password;
    char *cacert;
    bool insecure;
    long connect_timeout_ms;
};

struct buffer {
    char *data;
    size_t len;
    size_t cap;
    bool too_large;
    /* Streaming: a 2xx body goes to sink instead (http_request_stream). */
    CURL *handle;
    http_sink_fn sink;
    void *sink_arg;
    bool sink_stopped;
    bool streamed; /* the sink got some of the body */
};

/* How one request differs between http_request and http_request_stream. */
struct request {
    const char *accept; /* the Accept header's value */
    long timeout_ms;    /* whole exchange, or without progress when streaming */
    http_sink_fn sink;  /* NULL: keep the answer in the buffer */
    void *sink_arg;
    const void *raw; /* a body of bytes instead of JSON (http_request_raw), or NULL */
    size_t raw_len;
};

static char *dup_or_null(const char *s, bool *failed)
{
    char *d = NULL;

    if (!s)
        return NULL;
    d = strdup(s);
    if (!d)
        *failed = true;
    return d;
}

/* "host:port" gets "https://"; trailing slashes and white space go. */
static char *url_normalise(const char *url)
{
    const char *scheme = strstr(url, "://") ? "" : "https://";
    size_t len = strlen(url);
    char *out = NULL;
    size_t size;

    while (len > 0 && (url[len - 1] == '/' || url[len - 1] == '\n' || url[len - 1] == ' '))
        len--;
    size = strlen(scheme) + len + 1;
    out = malloc(size);
    if (!out)
        return NULL;
    (void)snprintf(out, size, "%s%.*s", scheme, (int)len, url);
    return out;
}

struct http_client *http_client_new(const struct http_config *cfg)
{
    struct http_client *c = NULL;
    bool failed = false;

    c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->url = url_normalise(cfg->url);
    c->user = dup_or_null(cfg->user, &failed);
    c->password = dup_or_null(cfg->password, &failed);
    c->cacert = dup_or_null(cfg->cacert, &failed);
    c->insecure = cfg->insecure;
    c->connect_timeout_ms = cfg->connect_timeout_ms;
    if (!c->url || failed)
        return http_client_free(c);
    return c;
}

struct http_client *http_client_free(struct http_client *c)
{
    if (!c)
        return NULL;
    free(c->url);
    free(c->user);
    if (c->password) {
        explicit_bzero(c->password, strlen(c->password));
        free(c->password);
    }
    free(c->cacert);
    free(c);
    return NULL;
}

const char *http_client_url(const struct http_client *c)
{
    return c->url;
}

char *http_path(const char *prefix, const char *segment)
{
    char *escaped = http_escape(segment);
    char *path = NULL;
    size_t size;

    if (!escaped)
        return NULL;
    size = strlen(prefix) + 1 + strlen(escaped) + 1;
    path = malloc(size);
    if (path)
        (void)snprintf(path, size, "%s/%s", prefix, escaped);
    free(escaped);
    return path;
}

char *http_escape(const char *segment)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = strlen(segment);
    char *out = NULL;
    size_t j = 0;

    /* Each byte becomes at most three characters. */
    out = malloc(len * 3 + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)segment[i];
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            out[j++] = (char)ch;
        } else {
            out[j++] = '%';
            out[j++] = hex[ch >> 4];
            out[j++] = hex[ch & 0x0f];
        }
    }
    out[j] = '\0';
    return out;
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct buffer *b = userdata;
    size_t n = size * nmemb;
    size_t need;
    char *grown = NULL;
    long status = 0;

    if (b->sink) {
        /* The status line has arrived before any byte of the body. */
        (void)curl_easy_getinfo(b->handle, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200 && status < 300) {
            b->streamed = true;
            if (b->sink(ptr, n, b->sink_arg) != 0) {
                b->sink_stopped = true;
                return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
            }
            return n;
        }
    }
    if (n > HTTP_ANSWER_MAX - b->len) {
        b->too_large = true;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    need = b->len + n + 1;
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < need)
            cap *= 2;
        grown = realloc(b->data, cap);
        if (!grown)
            return 0;
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static enum http_fail classify(CURL *h, CURLcode rc, const char *errbuf, bool *tcp_connected)
{
    curl_off_t connect_us = 0;
    curl_off_t tls_us = 0;
    char *scheme = NULL;

    switch (rc) {
    case CURLE_COULDNT_CONNECT:
        return HTTP_FAIL_REFUSED;
    case CURLE_COULDNT_RESOLVE_HOST:
        return HTTP_FAIL_RESOLVE;
    case CURLE_OPERATION_TIMEDOUT:
        /* Connected (and, for https, through the handshake) means the answer was late. */
        (void)curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &connect_us);
        (void)curl_easy_getinfo(h, CURLINFO_APPCONNECT_TIME_T, &tls_us);
        (void)curl_easy_getinfo(h, CURLINFO_SCHEME, &scheme);
        if (connect_us == 0)
            return HTTP_FAIL_CONNECT_TIMEOUT;
        if (scheme && strcasecmp(scheme, "https") == 0 && tls_us == 0) {
            *tcp_connected = true;
            return HTTP_FAIL_CONNECT_TIMEOUT;
        }
        return HTTP_FAIL_TIMEOUT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_USE_SSL_FAILED:
        return HTTP_FAIL_TLS;
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
        return HTTP_FAIL_CLOSED;
    case CURLE_UNSUPPORTED_PROTOCOL:
        /* Also what curl says when a TLS listener answers a plain http:// request. */
        if (strstr(errbuf, "HTTP/0.9"))
            return HTTP_FAIL_BAD_ANSWER;
        return HTTP_FAIL_BAD_URL;
    case CURLE_URL_MALFORMAT:
        return HTTP_FAIL_BAD_URL;
    default:
        return HTTP_FAIL_OTHER;
    }
}

/* Keeps the start of a non-JSON answer for the error message, on one line. */
static void keep_text(struct http_result *res, const char *data, size_t len)
{
    size_t n = len < sizeof(res->detail) - 1 ? len : sizeof(res->detail) - 1;

    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)data[i];
        res->detail[i] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
    }
    res->detail[n] = '\0';
}

static void parse_answer(struct http_result *res, const struct buffer *b)
{
    json_error_t jerr;

    if (b->len == 0)
        return;
    res->body = json_loadb(b->data, b->len, JSON_DECODE_ANY, &jerr);
    if (res->body)
        return;
    if (res->status >= 200 && res->status < 300) {
        res->fail = HTTP_FAIL_BAD_ANSWER;
        (void)snprintf(res->detail, sizeof(res->detail), "invalid JSON at line %d: %s", jerr.line,
                       jerr.text);
        return;
    }
    keep_text(res, b->data, b->len);
}

static struct curl_slist *header_add(struct curl_slist *list, const char *line, bool *failed)
{
    struct curl_slist *grown = curl_slist_append(list, line);

    if (!grown) {
        *failed = true;
        return list;
    }
    return grown;
}

static int set_options(CURL *h, const struct http_client *c, struct curl_slist *headers,
                       const struct request *req, char *errbuf)
{
    CURLcode rc = CURLE_OK;

    rc |= curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    rc |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    rc |= curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    rc |= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    rc |= curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    rc |= curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
    if (req->sink) {
        /* A stream ends when nothing arrives for timeout_ms (less than 1 byte/s that long). */
        rc |= curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 0L);
        rc |= curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        rc |= curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME,
                               req->timeout_ms >= 2000 ? req->timeout_ms / 1000 : 1L);
    } else {
        rc |= curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, req->timeout_ms);
    }
    rc |= curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    rc |= curl_easy_setopt(h, CURLOPT_USERAGENT, "konctl/" KONN_VERSION);
    rc |= curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    rc |= curl_easy_setopt(h, CURLOPT_USERNAME, c->user ? c->user : "");
    rc |= curl_easy_setopt(h, CURLOPT_PASSWORD, c->password ? c->password : "");
    rc |= curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (c->insecure) {
        rc |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        rc |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    } else if (c->cacert) {
        rc |= curl_easy_setopt(h, CURLOPT_CAINFO, c->cacert);
        rc |= curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
    }
    return rc == CURLE_OK ? 0 : -EINVAL;
}

static int set_method(CURL *h, const char *method, const char *payload)
{
    CURLcode rc = CURLE_OK;

    if (strcmp(method, "GET") == 0 && !payload)
        return curl_easy_setopt(h, CURLOPT_HTTPGET, 1L) == CURLE_OK ? 0 : -EINVAL;
    if (strcmp(method, "POST") != 0)
        rc |= curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (payload || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
        /* POST and PUT always carry a body, empty if none, so Content-Length is 0. */
        rc |= curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload ? payload : "");
        rc |= curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)(payload ? strlen(payload) : 0));
    }
    return rc == CURLE_OK ? 0 : -EINVAL;
}

static int perform(struct http_client *c, const char *method, const char *path, const json_t *body,
                   const struct request *req, struct http_result *ret)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    struct buffer answer = {0};
    struct curl_slist *headers = NULL;
    bool failed = false;
    char *payload = NULL;
    char *full_url = NULL;
    char *accept = NULL;
    size_t url_size;
    size_t accept_size;
    CURL *h = NULL;
    CURLcode rc;
    int r;

    memset(ret, 0, sizeof(*ret));
    if (body) {
        payload = json_dumps(body, JSON_COMPACT);
        if (!payload) {
            r = -ENOMEM;
            goto out;
        }
    }
    url_size = strlen(c->url) + strlen(path) + 1;
    full_url = malloc(url_size);
    if (!full_url) {
        r = -ENOMEM;
        goto out;
    }
    (void)snprintf(full_url, url_size, "%s%s", c->url, path);

    accept_size = strlen("Accept: ") + strlen(req->accept) + 1;
    accept = malloc(accept_size);
    if (!accept) {
        r = -ENOMEM;
        goto out;
    }
    (void)snprintf(accept, accept_size, "Accept: %s", req->accept);
    headers = header_add(headers, accept, &failed);
    if (payload)
        headers = header_add(headers, "Content-Type: application/json", &failed);
    else if (req->raw)
        headers = header_add(headers, "Content-Type: application/octet-stream", &failed);
    /* No "Expect: 100-continue" round trip for our small bodies. */
    headers = header_add(headers, "Expect:", &failed);
    if (failed) {
        r = -ENOMEM;
        goto out;
    }

    h = curl_easy_init();
    if (!h) {
        r = -ENOMEM;
        goto out;
    }
    answer.handle = h;
    answer.sink = req->sink;
    answer.sink_arg = req->sink_arg;
    r = set_options(h, c, headers, req, errbuf);
    if (r < 0)
        goto out;
    r = set_method(h, method, payload);
    if (r == 0 && req->raw &&
        (curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->raw_len) != CURLE_OK ||
         curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->raw) != CURLE_OK))
        r = -EINVAL;
    if (r < 0)
        goto out;
    if (curl_easy_setopt(h, CURLOPT_URL, full_url) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &answer) != CURLE_OK) {
        r = -EINVAL;
        goto out;
    }
    ret->https = strncasecmp(full_url, "https:", 6) == 0;
    ret->timeout_ms = req->timeout_ms;

    rc = curl_easy_perform(h);
    ret->streamed = answer.streamed;
    if (rc == CURLE_WRITE_ERROR && answer.sink_stopped) {
        r = -ECANCELED;
        goto out;
    }
    if (rc == CURLE_WRITE_ERROR && answer.too_large) {
        ret->fail = HTTP_FAIL_BAD_ANSWER;
        (void)snprintf(ret->detail, sizeof(ret->detail), "the answer is larger than %d bytes",
                       HTTP_ANSWER_MAX);
    } else if (rc == CURLE_WRITE_ERROR) {
        r = -ENOMEM;
        goto out;
    } else if (rc != CURLE_OK) {
        ret->fail = classify(h, rc, errbuf, &ret->tcp_connected);
        (void)snprintf(ret->detail, sizeof(ret->detail), "%s",
                       errbuf[0] ? errbuf : curl_easy_strerror(rc));
        if (ret->fail == HTTP_FAIL_REFUSED) {
            long os_errno = 0;
            (void)curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
            ret->os_errno = (int)os_errno;
        }
    } else {
        ret->fail = HTTP_FAIL_NONE;
        (void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &ret->status);
        parse_answer(ret, &answer);
    }
    r = 0;
out:
    if (r < 0)
        http_result_done(ret);
    if (h)
        curl_easy_cleanup(h);
    curl_slist_free_all(headers);
    free(accept);
    free(full_url);
    if (payload) {
        /* The body may carry a password (users add, users passwd) or the verification key of
         * the security log (log verify). */
        explicit_bzero(payload, strlen(payload));
        free(payload);
    }
    free(answer.data);
    return r;
}

int http_request(struct http_client *c, const char *method, const char *path, const json_t *body,
                 long timeout_ms, struct http_result *ret)
{
    const struct request req = {.accept = "application/json", .timeout_ms = timeout_ms};

    return perform(c, method, path, body, &req, ret);
}

int http_request_raw(struct http_client *c, const char *method, const char *path, const void *data,
                     size_t len, long timeout_ms, struct http_result *ret)
{
    const struct request req = {
        .accept = "application/json", .timeout_ms = timeout_ms, .raw = data, .raw_len = len};

    return perform(c, method, path, NULL, &req, ret);
}

int http_request_stream(struct http_client *c, const char *method, const char *path,
                        const json_t *body, const char *accept, long idle_timeout_ms,
                        http_sink_fn sink, void *arg, struct http_result *ret)
{
    const struct request req = {
        .accept = accept, .timeout_ms = idle_timeout_ms, .sink = sink, .sink_arg = arg};

    return perform(c, method, path, body, &req, ret);
}

void http_result_done(struct http_result *res)
{
    if (res->body)
        json_decref(res->body);
    memset(res, 0, sizeof(*res));
}
