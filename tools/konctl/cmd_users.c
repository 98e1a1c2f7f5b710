/* cmd_users: the administrator accounts (TIP1-A_4810): list, add, passwd, delete, unlock.
 *
 * When no password is given to "add" or "passwd", konctl makes one: 20 characters from
 * /dev/urandom, printed once after the daemon accepted it (cmd_clients.c picks and shows its
 * passwords the same way). Names, roles and password rules are the daemon's to check (400
 * with the rule in the message).
 *
 * Invariants:
 *  1. A generated password is printed only after a successful answer, exactly once, and
 *     wiped from memory afterwards (the request body is wiped by http.c).
 *  2. Every generated character is drawn uniformly from the 62 letters and digits. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h"
#include "konctl.h"
#include "output.h"

static const char users_usage[] =
    "Usage: konctl users list\n"
    "       konctl users add NAME --role ROLE [--password P]\n"
    "       konctl users passwd NAME [--password P]\n"
    "       konctl users delete NAME\n"
    "       konctl users unlock NAME\n"
    "       konctl users permissions NAME [PERMISSION...]\n"
    "\n"
    "list            the accounts with role, failed logins and lock (the default)\n"
    "add NAME        create an account; ROLE is Local-Administrator, Remote-Administrator\n"
    "                or Super-Administrator (or local, remote, super)\n"
    "passwd NAME     set a new password (one's own, or anyone's as Super-Administrator)\n"
    "delete NAME     remove an account (not oneself, not the last Super-Administrator)\n"
    "unlock NAME     lift a lock after failed logins\n"
    "permissions NAME [PERMISSION...]\n"
    "                grant exactly these permissions (none: take all back); the only one is\n"
    "                USER_RESET_PERMISSION, the factory reset, which a Super-Administrator\n"
    "                holds by role\n"
    "\n"
    "Without --password, add and passwd generate a random 20-character password and print it\n"
    "once. Passwords have 8 to 128 characters.\n";

static int password_generate(char *buf, size_t len)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    /* Bytes at or above 248 = 4 * 62 are skipped, so that "% 62" favours no character. */
    const unsigned limit = 4 * (sizeof(alphabet) - 1);
    unsigned char pool[64];
    size_t have = 0;
    size_t used = 0;
    size_t n = 0;
    int fd = -1;
    int r;

    fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        r = -errno;
        goto out;
    }
    while (n < len) {
        if (used == have) {
            ssize_t got = read(fd, pool, sizeof(pool));
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0) {
                r = got < 0 ? -errno : -EIO;
                goto out;
            }
            have = (size_t)got;
            used = 0;
        }
        if (pool[used] < limit)
            buf[n++] = alphabet[pool[used] % (sizeof(alphabet) - 1)];
        used++;
    }
    buf[len] = '\0';
    r = 0;
out:
    explicit_bzero(pool, sizeof(pool));
    if (fd >= 0)
        (void)close(fd);
    return r;
}

/* "/api/v1/users/NAME" plus suffix ("" or "/password", "/unlock"), NAME escaped. */
static char *user_path(const char *name, const char *suffix)
{
    char *escaped = http_escape(name);
    char *path = NULL;
    size_t size;

    if (!escaped)
        return NULL;
    size = strlen("/api/v1/users/") + strlen(escaped) + strlen(suffix) + 1;
    path = malloc(size);
    if (path)
        (void)snprintf(path, size, "/api/v1/users/%s%s", escaped, suffix);
    free(escaped);
    return path;
}

int cmd_users_password_pick(const char *given, char *gen, size_t gen_size, const char **ret)
{
    int r;

    if (given) {
        *ret = given;
        return KONCTL_EXIT_OK;
    }
    r = password_generate(gen, gen_size - 1);
    if (r < 0) {
        konctl_error("cannot read /dev/urandom: %s", strerror(-r));
        return KONCTL_EXIT_ERROR;
    }
    *ret = gen;
    return KONCTL_EXIT_OK;
}

void cmd_users_password_show(const struct konctl *k, json_t *answer, const char *generated)
{
    if (k->json) {
        if (json_is_object(answer))
            (void)json_object_set_new(answer, "generated_password", json_string(generated));
        return;
    }
    (void)printf("password: %s\n", generated);
    (void)printf("(generated; it is shown only this once)\n");
}

static void user_row(struct out_table *t, const json_t *u)
{
    const json_t *locked = json_object_get(u, "locked_until");

    out_table_add_json(t, json_object_get(u, "name"));
    out_table_add_json(t, json_object_get(u, "role"));
    out_table_add_json(t, json_object_get(u, "failed_logins"));
    out_table_add_json(t, json_is_string(locked) && json_string_length(locked) ? locked : NULL);
    out_table_add_json(t, json_object_get(u, "created"));
}

static int users_list(struct konctl *k, int argc, char **argv)
{
    static const char *const headers[] = {"NAME", "ROLE", "FAILED LOGINS", "LOCKED UNTIL",
                                          "CREATED"};
    static const struct konctl_listing listing = {"users", headers, ARRAY_SIZE(headers), user_row,
                                                  NULL};
    struct args a;
    int r;

    if (!args_command(k, argc, argv, NULL, 0, 0, 0, users_usage, &a, &r))
        return r;
    return konctl_list(k, "/api/v1/users", &listing);
}

/* users add and users passwd: both send a password, given or generated. */
static int users_set_password(struct konctl *k, int argc, char **argv, bool add)
{
    struct args_opt opts[] = {{"password", true, NULL}, {"role", true, NULL}};
    char generated[PASSWORD_GEN_LEN + 1] = "";
    const char *password = NULL;
    const char *role = NULL;
    json_t *answer = NULL;
    json_t *body = NULL;
    char *path = NULL;
    struct args a;
    int r;

    /* passwd knows no --role: leave it out of the table. */
    if (!args_command(k, argc, argv, opts, add ? 2 : 1, 1, 1, users_usage, &a, &r))
        return r;
    if (add && !opts[1].value) {
        konctl_error("'users add' needs --role ROLE");
        konctl_hint("roles: Local-Administrator, Remote-Administrator, Super-Administrator");
        return KONCTL_EXIT_USAGE;
    }
    r = cmd_users_password_pick(opts[0].value, generated, sizeof(generated), &password);
    if (r != KONCTL_EXIT_OK)
        return r;
    if (add) {
        role = args_role_expand(opts[1].value);
        body = json_pack("{s:s, s:s, s:s}", "name", a.pos[0], "role", role, "password", password);
        path = strdup("/api/v1/users");
    } else {
        body = json_pack("{s:s}", "password", password);
        path = user_path(a.pos[0], "/password");
    }
    if (!body) {
        /* jansson refuses text that is not UTF-8; running out of memory is the other cause. */
        konctl_error("cannot send the name, role or password: not valid UTF-8");
        r = KONCTL_EXIT_USAGE;
        goto out;
    }
    if (!path) {
        konctl_error("out of memory");
        r = KONCTL_EXIT_ERROR;
        goto out;
    }
    r = konctl_call(k, add ? "POST" : "PUT", path, body, &answer);
    if (r != KONCTL_EXIT_OK)
        goto out;
    if (!k->json && add)
        (void)printf("created user '%s' (%s)\n", a.pos[0], role);
    else if (!k->json)
        (void)printf("changed the password of '%s'\n", a.pos[0]);
    if (generated[0])
        cmd_users_password_show(k, answer, generated);
    if (k->json)
        (void)out_json_print(stdout, answer);
out:
    explicit_bzero(generated, sizeof(generated));
    free(path);
    json_decref(body);
    json_decref(answer);
    return r;
}

/* users delete and users unlock: a name and nothing else. */
static int users_simple(struct konctl *k, int argc, char **argv, const char *method,
                        const char *suffix, const char *done)
{
    char *path = NULL;
    struct args a;
    int r;

    if (!args_command(k, argc, argv, NULL, 0, 1, 1, users_usage, &a, &r))
        return r;
    path = user_path(a.pos[0], suffix);
    r = konctl_send(k, method, path, NULL, "%s user '%s'", done, a.pos[0]);
    free(path);
    return r;
}

/* users permissions NAME [PERMISSION...]: the grants replace the old ones. */
static int users_permissions(struct konctl *k, int argc, char **argv)
{
    json_t *list = json_array(), *body = NULL;
    char *path = NULL;
    struct args a;
    int r;

    if (!args_command(k, argc, argv, NULL, 0, 1, ARGS_POS_MAX, users_usage, &a, &r))
        goto out;
    for (size_t i = 1; i < a.n_pos; i++)
        (void)json_array_append_new(list, json_string(a.pos[i]));
    body = json_pack("{s:O}", "permissions", list);
    path = user_path(a.pos[0], "/permissions");
    if (!body || !path) {
        konctl_error("out of memory");
        r = KONCTL_EXIT_ERROR;
        goto out;
    }
    r = konctl_send(k, "PUT", path, body, "set the permissions of '%s'", a.pos[0]);
out:
    free(path);
    json_decref(body);
    json_decref(list);
    return r;
}

int cmd_users(struct konctl *k, int argc, char **argv)
{
    static const char *const names[] = {"list", "add", "passwd", "delete", "unlock", "permissions"};
    int shift = 0;
    int r;
    int i;

    i = args_subcommand(argc, argv, names, ARRAY_SIZE(names), "list", users_usage, &shift, &r);
    argc -= shift;
    argv += shift;
    switch (i) {
    case 0:
        return users_list(k, argc, argv);
    case 1:
        return users_set_password(k, argc, argv, true);
    case 2:
        return users_set_password(k, argc, argv, false);
    case 3:
        return users_simple(k, argc, argv, "DELETE", "", "deleted");
    case 4:
        return users_simple(k, argc, argv, "POST", "/unlock", "unlocked");
    case 5:
        return users_permissions(k, argc, argv);
    default:
        return r;
    }
}
