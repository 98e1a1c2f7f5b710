/* report: what the user reads when a request fails, and the exit code that goes with it.
 *
 * The management API sends every error as {"error": {"status", "code", "message"}} (409
 * critical_state adds "gematik_code" and "condition"); konctl prints the daemon's message as
 * it is, and adds a "hint:" line where konctl knows a next step. Transport failures say which
 * kind they are: refused, timed out, TLS, closed.
 *
 * Pure: writes to the FILE * it is given; sends nothing.
 *
 * Invariants:
 *  1. One exit code per outcome, from report_exit_code() alone (docs/konctl.md lists them).
 *  2. Text from the daemon is cleaned of control characters before it is printed.
 *  3. Every failure prints exactly one "konctl:" line first; hints follow. */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "http.h"
#include "konctl.h"
#include "output.h"

/* Where the daemon keeps what the hints point to (docs/management-api.md). */
#define HINT_CACERT "DATA/identity/mgmt-cert.pem"

static void vline(FILE *f, const char *prefix, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void vline(FILE *f, const char *prefix, const char *fmt, va_list ap)
{
    (void)fputs(prefix, f);
    (void)vfprintf(f, fmt, ap);
    (void)fputc('\n', f);
}

static void line(FILE *f, const char *prefix, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void line(FILE *f, const char *prefix, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vline(f, prefix, fmt, ap);
    va_end(ap);
}

void konctl_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vline(stderr, "konctl: ", fmt, ap);
    va_end(ap);
}

void konctl_hint(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vline(stderr, "hint: ", fmt, ap);
    va_end(ap);
}

int report_exit_from_status(long status)
{
    if (status >= 200 && status < 300)
        return KONCTL_EXIT_OK;
    switch (status) {
    case 400:
    case 413: /* a value too large to send is a refused value too */
        return KONCTL_EXIT_REFUSED;
    case 401:
        return KONCTL_EXIT_AUTH;
    case 403:
        return KONCTL_EXIT_FORBIDDEN;
    case 404:
        return KONCTL_EXIT_NOT_FOUND;
    case 409:
        return KONCTL_EXIT_CONFLICT;
    default:
        return KONCTL_EXIT_ERROR;
    }
}

int report_exit_code(const struct http_result *res)
{
    switch (res->fail) {
    case HTTP_FAIL_NONE:
        return report_exit_from_status(res->status);
    case HTTP_FAIL_REFUSED:
    case HTTP_FAIL_RESOLVE:
    case HTTP_FAIL_CONNECT_TIMEOUT:
    case HTTP_FAIL_TIMEOUT:
    case HTTP_FAIL_TLS:
    case HTTP_FAIL_CLOSED:
        return KONCTL_EXIT_UNREACHABLE;
    case HTTP_FAIL_BAD_URL:
        return KONCTL_EXIT_USAGE;
    default:
        return KONCTL_EXIT_ERROR;
    }
}

/* Copies a daemon string into buf, cleaned; fallback when it is missing or empty. */
static const char *daemon_text(const json_t *v, const char *fallback, char *buf, size_t size)
{
    const char *s = json_string_value(v);

    if (!s || !s[0])
        return fallback;
    (void)snprintf(buf, size, "%s", s);
    return out_text_clean(buf);
}

static void report_transport(FILE *f, const struct http_result *res, const char *url)
{
    char detail[HTTP_DETAIL_MAX];

    (void)snprintf(detail, sizeof(detail), "%s", res->detail);
    out_text_clean(detail);
    switch (res->fail) {
    case HTTP_FAIL_REFUSED:
        line(f, "konctl: ", "cannot connect to %s: %s", url,
             res->os_errno ? strerror(res->os_errno) : detail);
        line(f, "hint: ", "%s",
             "is konnektord running? It writes its listener's URL to DATA/run/mgmt.url; "
             "pass it with --url or KONCTL_URL");
        break;
    case HTTP_FAIL_RESOLVE:
        line(f, "konctl: ", "cannot resolve the host of %s: %s", url, detail);
        line(f, "hint: ", "%s", "check --url (or KONCTL_URL)");
        break;
    case HTTP_FAIL_CONNECT_TIMEOUT:
        if (res->tcp_connected) {
            /* The kernel accepted the connection; the daemon never did the handshake. */
            line(f, "konctl: ", "no TLS handshake with %s within %d s (connect timeout)", url,
                 KONCTL_CONNECT_TIMEOUT_MS / 1000);
            line(f, "hint: ", "%s",
                 "the port is open but nothing answers; the daemon's main loop may be stalled");
            break;
        }
        line(f, "konctl: ", "no connection to %s within %d s (connect timeout)", url,
             KONCTL_CONNECT_TIMEOUT_MS / 1000);
        line(f, "hint: ", "%s", "check the address and port in --url, and that nothing drops them");
        break;
    case HTTP_FAIL_TIMEOUT:
        line(f, "konctl: ", "no answer from %s within %ld s (request timeout)", url,
             res->timeout_ms / 1000);
        line(f, "hint: ", "%s",
             "the daemon accepted the connection but did not answer; its main loop may be "
             "stalled (the System LED goes off then)");
        break;
    case HTTP_FAIL_TLS:
        line(f, "konctl: ", "TLS failure talking to %s: %s", url, detail);
        if (strstr(detail, "wrong version number"))
            line(f, "hint: ", "%s", "that port does not speak TLS; is it the mgmt listener?");
        else
            line(f, "hint: ",
                 "trust the daemon's certificate with --cacert " HINT_CACERT " (or KONCTL_CACERT)");
        break;
    case HTTP_FAIL_CLOSED:
        line(f, "konctl: ", "%s closed the connection without an answer: %s", url, detail);
        if (strncmp(url, "http://", 7) == 0)
            line(f, "hint: ", "%s", "the mgmt listener speaks HTTPS; use an https:// URL");
        else
            line(f, "hint: ", "%s", "the daemon may have stopped; see its log");
        break;
    case HTTP_FAIL_BAD_URL:
        line(f, "konctl: ", "unusable URL '%s': %s", url, detail);
        line(f, "hint: ", "%s", "use --url https://HOST:PORT");
        break;
    case HTTP_FAIL_BAD_ANSWER:
        line(f, "konctl: ", "the answer from %s is not usable: %s", url, detail);
        /* curl's words for binary (TLS) bytes where an HTTP status line belongs. */
        if (strncmp(url, "http://", 7) == 0 && strstr(detail, "HTTP/0.9"))
            line(f, "hint: ", "%s", "the mgmt listener speaks HTTPS; use an https:// URL");
        break;
    default:
        line(f, "konctl: ", "the request to %s failed: %s", url, detail);
        break;
    }
}

/* The "condition" of a critical_state error: a name, or an object with a display name. */
static const char *condition_text(const json_t *cond, char *buf, size_t size)
{
    if (json_is_object(cond)) {
        const json_t *name = json_object_get(cond, "display");
        if (!json_is_string(name))
            name = json_object_get(cond, "name");
        return daemon_text(name, "unknown", buf, size);
    }
    return daemon_text(cond, "unknown", buf, size);
}

static void report_status(FILE *f, const struct http_result *res)
{
    const json_t *err = json_object_get(res->body, "error");
    const char *code = json_string_value(json_object_get(err, "code"));
    char fallback[64];
    char message[1024];
    char cond[256];
    const char *msg;
    const json_t *gcode = NULL;

    (void)snprintf(fallback, sizeof(fallback), "the daemon answered HTTP %ld", res->status);
    if (!err && res->detail[0])
        msg = res->detail; /* not JSON: the start of the text, already cleaned */
    else
        msg = daemon_text(json_object_get(err, "message"), fallback, message, sizeof(message));
    line(f, "konctl: ", "%s", msg);

    switch (res->status) {
    case 401:
        if (code && strcmp(code, "locked") == 0) {
            line(f, "hint: ", "%s",
                 "a Super-Administrator can lift the lock with 'konctl users unlock NAME'");
        } else {
            line(f, "hint: ", "%s",
                 "check the user (--user, KONCTL_USER) and the password (--password, "
                 "KONCTL_PASSWORD or KONCTL_PASSWORD_FILE)");
            line(f, "hint: ", "%s", "admin's first password is in DATA/initial-admin-password");
        }
        break;
    case 403:
        line(f, "hint: ", "%s", "the account's role may not do this; ask a Super-Administrator");
        break;
    case 405:
        line(f, "hint: ", "%s", "konctl and konnektord may be of different versions");
        break;
    case 409:
        if (!code || strcmp(code, "critical_state") != 0)
            break;
        /* The gate's fields sit in the error object; accept them at the top level too. */
        gcode = json_object_get(err, "gematik_code");
        if (!gcode)
            gcode = json_object_get(res->body, "gematik_code");
        line(f, "konctl: ",
             "refused in critical state: gematik code %" JSON_INTEGER_FORMAT ", condition %s",
             json_is_integer(gcode) ? json_integer_value(gcode) : (json_int_t)4002,
             condition_text(json_object_get(err, "condition")
                                ? json_object_get(err, "condition")
                                : json_object_get(res->body, "condition"),
                            cond, sizeof(cond)));
        line(f, "hint: ", "%s", "'konctl ec list' shows the active conditions");
        break;
    case 503:
        line(f, "hint: ", "%s", "the daemon is busy; try again in a moment");
        break;
    default:
        if (res->status >= 500)
            line(f, "hint: ", "%s", "the daemon failed to handle the request; see its log");
        break;
    }
}

int report_failure(FILE *f, const struct http_result *res, const char *url)
{
    if (res->fail == HTTP_FAIL_NONE)
        report_status(f, res);
    else
        report_transport(f, res, url);
    return report_exit_code(res);
}
