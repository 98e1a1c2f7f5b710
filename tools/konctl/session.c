/* session: konctl's connection to the daemon. It finds the password, makes the http client on
 * the first request, and turns each request's outcome into an answer or a reported failure.
 *
 * The password comes from, in order: --password, KONCTL_PASSWORD (both placed in struct
 * konctl by main.c), the file named by KONCTL_PASSWORD_FILE, and a prompt with echo off when
 * stdin is a terminal. Without any of them konctl stops with exit code 2 and names the ways.
 *
 * Invariants:
 *  1. No request leaves without a password; --help never asks for one, because nothing is
 *     resolved before the first konctl_call().
 *  2. A password read from a file or the terminal is wiped before its memory is freed.
 *  3. The terminal's echo is restored on every path out of the prompt, signals included. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "http.h"
#include "konctl.h"
#include "output.h"

/* Longest password file read, in bytes: passwords are at most 128 characters. */
#define PASSWORD_FILE_MAX 4096
/* Longest line read at the prompt, in bytes. */
#define PASSWORD_PROMPT_MAX 1024

/* The terminal settings to restore if a signal ends the prompt. A signal handler cannot be
 * given an argument, so this one piece of state is file-global, and set only during the
 * prompt. */
static struct termios prompt_saved;
static volatile sig_atomic_t prompt_active;

static void prompt_on_signal(int sig)
{
    if (prompt_active)
        (void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &prompt_saved);
    (void)signal(sig, SIG_DFL);
    (void)raise(sig);
}

/* Cuts one trailing "\n" or "\r\n". */
static void chomp(char *s)
{
    size_t len = strlen(s);

    if (len > 0 && s[len - 1] == '\n')
        s[--len] = '\0';
    if (len > 0 && s[len - 1] == '\r')
        s[--len] = '\0';
}

static int password_from_file(const char *path, char **ret_password)
{
    char *buf = NULL;
    struct stat st;
    size_t len = 0;
    ssize_t n;
    int fd = -1;
    int r;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        r = -errno;
        konctl_error("cannot open KONCTL_PASSWORD_FILE '%s': %s", path, strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)))
        konctl_hint("'%s' is readable by others; chmod 600 it", path);
    buf = malloc(PASSWORD_FILE_MAX + 1);
    if (!buf) {
        r = -ENOMEM;
        konctl_error("out of memory");
        goto out;
    }
    while (len < PASSWORD_FILE_MAX) {
        n = read(fd, buf + len, PASSWORD_FILE_MAX - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = -errno;
            konctl_error("cannot read KONCTL_PASSWORD_FILE '%s': %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    if (len == PASSWORD_FILE_MAX || strlen(buf) != len) {
        r = -EINVAL;
        konctl_error("KONCTL_PASSWORD_FILE '%s' does not hold a password", path);
        goto out;
    }
    chomp(buf);
    if (!buf[0]) {
        r = -EINVAL;
        konctl_error("KONCTL_PASSWORD_FILE '%s' is empty", path);
        goto out;
    }
    *ret_password = buf;
    buf = NULL;
    r = 0;
out:
    if (buf) {
        explicit_bzero(buf, PASSWORD_FILE_MAX + 1);
        free(buf);
    }
    if (fd >= 0)
        (void)close(fd);
    return r;
}

static int password_prompt(const struct konctl *k, char **ret_password)
{
    static const int signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    struct sigaction sa = {0};
    struct sigaction old_sa[ARRAY_SIZE(signals)];
    struct termios quiet;
    char *buf = NULL;
    bool got;
    int r;

    if (tcgetattr(STDIN_FILENO, &prompt_saved) < 0)
        return -errno;
    buf = calloc(1, PASSWORD_PROMPT_MAX);
    if (!buf)
        return -ENOMEM;

    sa.sa_handler = prompt_on_signal;
    (void)sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < ARRAY_SIZE(signals); i++)
        (void)sigaction(signals[i], &sa, &old_sa[i]);
    quiet = prompt_saved;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    quiet.c_lflag |= ECHONL;
    prompt_active = 1;
    (void)fprintf(stderr, "Password for %s at %s: ", k->user, k->url);
    (void)fflush(stderr);
    (void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    got = fgets(buf, PASSWORD_PROMPT_MAX, stdin) != NULL;
    (void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &prompt_saved);
    prompt_active = 0;
    for (size_t i = 0; i < ARRAY_SIZE(signals); i++)
        (void)sigaction(signals[i], &old_sa[i], NULL);

    if (!got) {
        r = -ENODATA;
        goto out;
    }
    chomp(buf);
    if (!buf[0]) {
        r = -ENODATA;
        goto out;
    }
    *ret_password = buf;
    buf = NULL;
    r = 0;
out:
    if (buf) {
        explicit_bzero(buf, PASSWORD_PROMPT_MAX);
        free(buf);
    }
    return r;
}

static void no_password_help(const struct konctl *k)
{
    konctl_error("no password for '%s'", k->user);
    konctl_hint("give it with --password P, in KONCTL_PASSWORD, or in a file named by "
                "KONCTL_PASSWORD_FILE");
    konctl_hint("the daemon's first start writes admin's password to "
                "DATA/initial-admin-password");
}

/* Returns an exit code. */
static int password_resolve(struct konctl *k)
{
    const char *file = getenv("KONCTL_PASSWORD_FILE");
    int r;

    if (k->password)
        return KONCTL_EXIT_OK;
    if (file && file[0]) {
        r = password_from_file(file, &k->password_owned);
        if (r < 0)
            return KONCTL_EXIT_USAGE;
    } else if (isatty(STDIN_FILENO)) {
        r = password_prompt(k, &k->password_owned);
        if (r < 0) {
            no_password_help(k);
            return KONCTL_EXIT_USAGE;
        }
    } else {
        no_password_help(k);
        return KONCTL_EXIT_USAGE;
    }
    k->password = k->password_owned;
    return KONCTL_EXIT_OK;
}

/* Returns an exit code. */
static int session_open(struct konctl *k)
{
    struct http_config cfg = {0};
    FILE *ca = NULL;
    int r;

    if (k->cacert && !k->insecure) {
        /* Checked here, so that a typo is not reported as a TLS failure. */
        ca = fopen(k->cacert, "re");
        if (!ca) {
            konctl_error("cannot read the CA certificate '%s': %s", k->cacert, strerror(errno));
            konctl_hint("the daemon's certificate is DATA/identity/mgmt-cert.pem");
            return KONCTL_EXIT_USAGE;
        }
        (void)fclose(ca);
    }
    r = password_resolve(k);
    if (r != KONCTL_EXIT_OK)
        return r;
    cfg.url = k->url;
    cfg.user = k->user;
    cfg.password = k->password;
    cfg.cacert = k->cacert;
    cfg.insecure = k->insecure;
    cfg.connect_timeout_ms = KONCTL_CONNECT_TIMEOUT_MS;
    k->http = http_client_new(&cfg);
    if (!k->http) {
        konctl_error("out of memory");
        return KONCTL_EXIT_ERROR;
    }
    return KONCTL_EXIT_OK;
}

int konctl_open(struct konctl *k)
{
    return k->http ? KONCTL_EXIT_OK : session_open(k);
}

static bool result_ok(const struct http_result *res)
{
    return res->fail == HTTP_FAIL_NONE && res->status >= 200 && res->status < 300;
}

/* The end of every request: r is the http_request*() return, res its result. Reports a
 * failure; on success hands the answer's body to *ret_answer (when not NULL). Releases res.
 * Returns an exit code. */
static int call_finish(struct konctl *k, const char *method, const char *path, int r,
                       struct http_result *res, json_t **ret_answer)
{
    if (r < 0) {
        konctl_error("cannot send %s %s: %s", method, path, strerror(-r));
        return KONCTL_EXIT_ERROR;
    }
    if (result_ok(res)) {
        if (ret_answer) {
            *ret_answer = res->body;
            res->body = NULL;
        }
        http_result_done(res);
        return KONCTL_EXIT_OK;
    }
    r = report_failure(stderr, res, http_client_url(k->http));
    http_result_done(res);
    return r;
}

int konctl_call(struct konctl *k, const char *method, const char *path, const json_t *body,
                json_t **ret_answer)
{
    struct http_result res;
    int r;

    r = konctl_open(k);
    if (r != KONCTL_EXIT_OK)
        return r;
    r = http_request(k->http, method, path, body, k->timeout_ms, &res);
    return call_finish(k, method, path, r, &res, ret_answer);
}

int konctl_call_raw(struct konctl *k, const char *method, const char *path, const void *data,
                    size_t len, json_t **ret_answer)
{
    struct http_result res;
    int r;

    r = konctl_open(k);
    if (r != KONCTL_EXIT_OK)
        return r;
    r = http_request_raw(k->http, method, path, data, len, k->timeout_ms, &res);
    return call_finish(k, method, path, r, &res, ret_answer);
}

int konctl_stream(struct konctl *k, const char *method, const char *path, const char *accept,
                  int (*sink)(const char *data, size_t len, void *arg), void *arg)
{
    struct http_result res;
    int r;

    r = konctl_open(k);
    if (r != KONCTL_EXIT_OK)
        return r;
    r = http_request_stream(k->http, method, path, NULL, accept, k->timeout_ms, sink, arg, &res);
    if (r == -ECANCELED)
        return KONCTL_EXIT_ERROR; /* the sink's owner says why */
    if (r >= 0 && !result_ok(&res) && res.streamed) {
        /* Not "no answer": part of it arrived, and the sink has it. */
        konctl_error("the answer from %s broke off: %s", http_client_url(k->http),
                     out_text_clean(res.detail));
        r = report_exit_code(&res);
        http_result_done(&res);
        return r;
    }
    return call_finish(k, method, path, r, &res, NULL);
}

void konctl_done(struct konctl *k)
{
    k->http = http_client_free(k->http);
    if (k->password_owned) {
        explicit_bzero(k->password_owned, strlen(k->password_owned));
        free(k->password_owned);
        k->password_owned = NULL;
    }
    k->password = NULL;
}
