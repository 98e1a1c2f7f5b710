/* cmd_button: "konctl button reset", the hidden reset button (TIP1-A_4820's vendor-specific
 * factory reset path, docs/factory-reset.md). It talks to the daemon's Unix socket
 * DATA/run/button.sock, not to the management API, so it works when no administrator can
 * log in; it needs to run at the device (the socket is mode 0600) and the reset credential
 * from the type plate DATA/identity/type-plate.txt.
 *
 * Invariants:
 *  1. The credential is sent only over the local socket and never printed.
 *  2. The answer is the daemon's one line of JSON; konctl maps its "error" to an exit code. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "konctl.h"
#include "output.h"

/* The reset itself takes about a second (one PBKDF2 derivation, an fsync); a slow machine or
 * a sanitizer build more. */
#define BUTTON_TIMEOUT_S 60
#define ANSWER_MAX 4096
#define PLATE_MAX 4096

static const char button_usage[] =
    "Usage: konctl button reset (--data-dir DIR | --socket PATH) [--credential C]\n"
    "\n"
    "The hidden reset button: a factory reset for when no administrator can log in\n"
    "(docs/factory-reset.md). Runs at the device: DIR/run/button.sock is mode 0600.\n"
    "\n"
    "--data-dir    the connector's data directory: the socket is DIR/run/button.sock and the\n"
    "              credential is read from the type plate DIR/identity/type-plate.txt\n"
    "--socket      the socket, when it is elsewhere (then --credential is needed)\n"
    "--credential  the reset credential printed on the type plate\n";

/* The Reset-Credential line of the type plate into buf. 0 or a negative errno. */
static int plate_credential(const char *dir, char *buf, size_t size)
{
    size_t plen = strlen(dir) + sizeof("/identity/type-plate.txt");
    char *path = malloc(plen), *data = NULL, *line;
    size_t len = 0;
    int r = -ENOMEM;

    if (!path)
        return r;
    (void)snprintf(path, plen, "%s/identity/type-plate.txt", dir);
    r = file_read_all(path, PLATE_MAX, &data, &len);
    free(path);
    if (r < 0)
        return r;
    r = -ENOENT;
    for (line = data; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        const char *key = "Reset-Credential:";
        size_t n;

        if (strncmp(line, key, strlen(key)) != 0)
            continue;
        line += strlen(key);
        line += strspn(line, " ");
        n = strcspn(line, "\r\n ");
        if (n > 0 && n < size) {
            memcpy(buf, line, n);
            buf[n] = '\0';
            r = 0;
        }
        break;
    }
    explicit_bzero(data, len);
    free(data);
    return r;
}

/* Sends request on the socket at path and reads the answer line. Returns an exit code. */
static int exchange(const char *path, const char *request, char *answer, size_t size)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    struct timeval tv = {BUTTON_TIMEOUT_S, 0};
    size_t got = 0;
    int fd;

    if (strlen(path) >= sizeof(sun.sun_path)) {
        konctl_error("the socket path '%s' is too long", path);
        return KONCTL_EXIT_USAGE;
    }
    memcpy(sun.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        konctl_error("cannot reach the hidden button at '%s': %s", path, strerror(errno));
        konctl_hint("is konnektord running with this data directory, and are you its user?");
        if (fd >= 0)
            (void)close(fd);
        return KONCTL_EXIT_UNREACHABLE;
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (send(fd, request, strlen(request), MSG_NOSIGNAL) < 0) {
        konctl_error("cannot send to '%s': %s", path, strerror(errno));
        (void)close(fd);
        return KONCTL_EXIT_UNREACHABLE;
    }
    while (got + 1 < size) {
        ssize_t n = recv(fd, answer + got, size - 1 - got, 0);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    answer[got] = '\0';
    (void)close(fd);
    if (got == 0) {
        konctl_error("the hidden button closed without an answer");
        return KONCTL_EXIT_UNREACHABLE;
    }
    return KONCTL_EXIT_OK;
}

static int exit_of(const char *error)
{
    if (!error)
        return KONCTL_EXIT_ERROR;
    if (strcmp(error, "bad_credential") == 0 || strcmp(error, "locked") == 0)
        return KONCTL_EXIT_AUTH;
    if (strcmp(error, "busy") == 0)
        return KONCTL_EXIT_CONFLICT;
    if (strcmp(error, "bad_request") == 0)
        return KONCTL_EXIT_REFUSED;
    return KONCTL_EXIT_ERROR;
}

static int button_reset(struct konctl *k, int argc, char **argv)
{
    struct args_opt opts[] = {
        {"data-dir", true, NULL}, {"socket", true, NULL}, {"credential", true, NULL}};
    char cred[128] = "", answer[ANSWER_MAX], *sock = NULL;
    json_t *req = NULL, *ans = NULL;
    char *text = NULL;
    struct args a;
    int r;

    if (!args_command(k, argc, argv, opts, ARRAY_SIZE(opts), 0, 0, button_usage, &a, &r))
        return r;
    if (!opts[0].value == !opts[1].value) {
        konctl_error("'button reset' needs --data-dir DIR or --socket PATH");
        return KONCTL_EXIT_USAGE;
    }
    if (opts[2].value) {
        r = snprintf(cred, sizeof(cred), "%s", opts[2].value) < (int)sizeof(cred) ? 0 : -EINVAL;
    } else if (opts[0].value) {
        r = plate_credential(opts[0].value, cred, sizeof(cred));
        if (r < 0)
            konctl_error("cannot read the reset credential from '%s/identity/type-plate.txt': %s",
                         opts[0].value, strerror(-r));
    } else {
        konctl_error("with --socket, give the type plate's credential with --credential");
        r = -EINVAL;
    }
    if (r < 0)
        return KONCTL_EXIT_USAGE;
    if (opts[0].value) {
        size_t n = strlen(opts[0].value) + sizeof("/run/button.sock");

        sock = malloc(n);
        if (sock)
            (void)snprintf(sock, n, "%s/run/button.sock", opts[0].value);
    } else {
        sock = strdup(opts[1].value);
    }
    req = json_pack("{s:s,s:s}", "op", "factory-reset", "credential", cred);
    text = req ? json_dumps(req, JSON_COMPACT) : NULL;
    if (!sock || !text || strlen(text) + 2 > sizeof(answer)) {
        konctl_error("out of memory");
        r = KONCTL_EXIT_ERROR;
        goto out;
    }
    (void)snprintf(answer, sizeof(answer), "%s\n", text);
    explicit_bzero(text, strlen(text));
    r = exchange(sock, answer, answer, sizeof(answer));
    if (r != KONCTL_EXIT_OK)
        goto out;
    ans = json_loads(answer, 0, NULL);
    if (!json_is_object(ans)) {
        konctl_error("the hidden button answered something konctl does not understand");
        r = KONCTL_EXIT_ERROR;
        goto out;
    }
    if (k->json) {
        (void)out_json_print(stdout, ans);
    } else if (json_is_true(json_object_get(ans, "ok"))) {
        (void)printf("factory reset done in %lld ms: the connector is in delivery state\n"
                     "log in as '%s' with the new password in %s\n",
                     (long long)json_integer_value(json_object_get(ans, "duration_ms")),
                     json_string_value(json_object_get(ans, "admin_user")),
                     json_string_value(json_object_get(ans, "new_admin_password_file")));
    }
    if (!json_is_true(json_object_get(ans, "ok"))) {
        if (!k->json)
            konctl_error("%s", json_string_value(json_object_get(ans, "message"))
                                   ?: "the reset was refused");
        r = exit_of(json_string_value(json_object_get(ans, "error")));
    }
out:
    explicit_bzero(cred, sizeof(cred));
    explicit_bzero(answer, sizeof(answer));
    json_decref(ans);
    json_decref(req);
    free(text);
    free(sock);
    return r;
}

int cmd_button(struct konctl *k, int argc, char **argv)
{
    static const char *const names[] = {"reset"};
    int shift = 0, r;
    int i = args_subcommand(argc, argv, names, ARRAY_SIZE(names), NULL, button_usage, &shift, &r);

    argc -= shift;
    argv += shift;
    return i == 0 ? button_reset(k, argc, argv) : r;
}
