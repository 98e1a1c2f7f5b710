/* http: one JSON request to the management API through libcurl. The client holds the
 * connection settings; each request sends an optional JSON body with HTTP Basic credentials
 * and returns the status and the parsed answer, or says why no answer arrived.
 *
 * Not thread-safe. The caller runs curl_global_init() before the first client is made. */
#ifndef KONCTL_HTTP_H
#define KONCTL_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* Why a request got no usable answer. */
enum http_fail {
    HTTP_FAIL_NONE,            /* an HTTP answer arrived (any status) */
    HTTP_FAIL_REFUSED,         /* the connection was refused, or no route to the host */
    HTTP_FAIL_RESOLVE,         /* the host name did not resolve */
    HTTP_FAIL_CONNECT_TIMEOUT, /* no connection (TCP and TLS) within the connect timeout */
    HTTP_FAIL_TIMEOUT,         /* connected, but no complete answer within the request timeout */
    HTTP_FAIL_TLS,             /* TLS handshake or certificate verification failed */
    HTTP_FAIL_CLOSED,          /* the daemon closed or reset the connection without an answer */
    HTTP_FAIL_BAD_URL,         /* the URL is malformed or not http(s) */
    HTTP_FAIL_BAD_ANSWER,      /* a success status without a JSON body, or an oversized answer */
    HTTP_FAIL_OTHER,           /* anything else libcurl reports */
    HTTP_FAIL_MAX
};

/* The text of curl's error buffer (CURL_ERROR_SIZE, checked in http.c). */
#define HTTP_DETAIL_MAX 256

/* Largest answer kept in memory, in bytes: a page of 1000 log entries is the biggest and
 * stays far below unless its entries carry large parameters. A streamed answer (log export)
 * goes to its sink instead and has no limit. */
#define HTTP_ANSWER_MAX (8 * 1024 * 1024)

struct http_result {
    enum http_fail fail;
    long status;        /* HTTP status when fail is HTTP_FAIL_NONE, else 0 */
    json_t *body;       /* the parsed answer (owned), NULL when empty or not JSON */
    bool https;         /* the request went over TLS */
    bool tcp_connected; /* for HTTP_FAIL_CONNECT_TIMEOUT: TCP was up, the TLS handshake hung */
    long timeout_ms;    /* the request timeout that applied */
    int os_errno;  /* for HTTP_FAIL_REFUSED: the connect() error (ECONNREFUSED, EHOSTUNREACH) */
    bool streamed; /* http_request_stream: some of a 2xx body went to the sink */
    char detail[HTTP_DETAIL_MAX]; /* curl's message, or the start of a non-JSON answer */
};

struct http_config {
    const char *url; /* base URL, "https://host:port"; a missing scheme means https */
    const char *user;
    const char *password;
    const char *cacert; /* PEM file to trust instead of the system store, or NULL */
    bool insecure;      /* verify neither certificate nor host name */
    long connect_timeout_ms;
};

struct http_client;

/* Copies cfg. Returns NULL when out of memory. */
struct http_client *http_client_new(const struct http_config *cfg);
struct http_client *http_client_free(struct http_client *c);

/* The normalised base URL (no trailing "/"), valid while the client lives. */
const char *http_client_url(const struct http_client *c);

/* Sends method (GET, POST, PUT, DELETE) to the base URL plus path ("/api/v1/...", already
 * escaped) with body as compact JSON (borrowed, NULL for none) and waits at most timeout_ms.
 * Returns 0 when the exchange ended, successfully or not: ret says how (a transport failure
 * is an outcome, not an error). Returns -ENOMEM or -EINVAL when it could not try; ret is then
 * cleared. Release ret with http_result_done(). */
int http_request(struct http_client *c, const char *method, const char *path, const json_t *body,
                 long timeout_ms, struct http_result *ret);

/* Like http_request with a body of len bytes (application/octet-stream, e.g. a firmware
 * bundle) instead of JSON. data is borrowed. */
int http_request_raw(struct http_client *c, const char *method, const char *path, const void *data,
                     size_t len, long timeout_ms, struct http_result *ret);

/* Receives a streamed answer's body as it arrives, in pieces of any size. Returns 0 to go on,
 * non-zero to stop the transfer. */
typedef int (*http_sink_fn)(const char *data, size_t len, void *arg);

/* Like http_request, for an answer too large to hold (JSON Lines of the log export): a 2xx
 * answer's body goes to sink as it arrives and ret->body stays NULL; any other answer is kept
 * and parsed as for http_request, so its error can be reported. accept is the Accept header's
 * value. idle_timeout_ms limits the time without a byte arriving, not the whole exchange,
 * which may be long. Returns as http_request does, and -ECANCELED when the sink stopped the
 * transfer (ret is then cleared). */
int http_request_stream(struct http_client *c, const char *method, const char *path,
                        const json_t *body, const char *accept, long idle_timeout_ms,
                        http_sink_fn sink, void *arg, struct http_result *ret);

/* Escapes one path segment (a setting or user name). Returns a heap string for free(), or
 * NULL when out of memory. */
char *http_escape(const char *segment);
/* "PREFIX/SEGMENT" with SEGMENT escaped as by http_escape(); NULL when out of memory. */
char *http_path(const char *prefix, const char *segment);

void http_result_done(struct http_result *res);

#endif
