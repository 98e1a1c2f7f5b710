/* cmd_clients: the credentials of client systems (practice software) for the connector's LAN
 * interface. "client-cert issue" has the daemon issue a client certificate and writes the
 * PKCS#12 it answers with to a file (TIP1-A_4517, ANCL_CAUT_MODE=Certificate); "client-user"
 * sets or deletes the HTTP Basic credentials of a client system (ANCL_CAUT_MODE=Password).
 *
 * Without --password, konctl generates the password as "users add" does (cmd_users.c) and
 * prints it once, after the daemon accepted it and, for a certificate, the file is written.
 *
 * Invariants:
 *  1. The PKCS#12 reaches FILE whole or not at all: it is written to a new file next to FILE
 *     (mode 0600, created before the request, so an unwritable place costs no certificate),
 *     flushed to disk and renamed over FILE only then.
 *  2. konctl checks only the form of what it sends; names, key types and password rules are
 *     the daemon's to judge (exit 5 with the rule in the message).
 *  3. The decoded PKCS#12 is wiped from memory before it is freed, as is a generated password
 *     (the request body is wiped by http.c). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h"
#include "konctl.h"
#include "output.h"

static const char client_cert_usage[] =
    "Usage: konctl client-cert issue NAME --out FILE.p12 [--type rsa|ecc] [--password P]\n"
    "       konctl client-cert list\n"
    "       konctl client-cert import NAME FILE.pem\n"
    "       konctl client-cert remove NAME\n"
    "\n"
    "The client certificate list (ANCL_CCERT_LIST). With ANCL_CAUT_MODE=Certificate the LAN\n"
    "interface accepts exactly the certificates on it that are valid now.\n"
    "\n"
    "issue NAME   have the connector issue a client certificate for client system NAME (the\n"
    "             certificate's CN), put it on the list and write it with its key and the\n"
    "             issuing CA as PKCS#12 to FILE.p12 (mode 0600)\n"
    "list         the certificates on the list: issued or imported, subject, expiry\n"
    "import NAME  put a client system's own certificate (PEM) on the list\n"
    "remove NAME  take a certificate off the list: refused from the next connection on\n"
    "\n"
    "--type       rsa (RSA-2048, the default) or ecc (brainpoolP256r1)\n"
    "--password   the PKCS#12 password, 8 to 128 characters; without it konctl generates 20\n"
    "             random letters and digits and prints them once\n";

static const char client_user_usage[] =
    "Usage: konctl client-user set NAME [--password P]\n"
    "       konctl client-user delete NAME\n"
    "\n"
    "The HTTP Basic credentials of client systems, used when ANCL_CAUT_MODE is Password.\n"
    "\n"
    "set NAME     create client user NAME or give it a new password (8 to 128 characters;\n"
    "             without --password konctl generates one and prints it once)\n"
    "delete NAME  remove client user NAME\n";

/* ---- client-cert ------------------------------------------------------------------------ */

/* Writes the answer's PKCS#12 to file through tmp and fd (closed either way). Returns an
 * exit code. */
static int p12_save(const json_t *answer, int fd, const char *tmp, const char *file)
{
    const char *b64 = json_string_value(json_object_get(answer, "p12_base64"));
    unsigned char *p12 = NULL;
    size_t len = 0;
    int r;

    r = b64 ? base64_decode(b64, &p12, &len) : -EINVAL;
    if (r < 0) {
        if (r == -ENOMEM)
            konctl_error("out of memory");
        else
            konctl_error("the daemon's answer holds no PKCS#12");
        (void)close(fd);
        (void)unlink(tmp);
        return KONCTL_EXIT_ERROR;
    }
    r = file_commit(fd, tmp, file, p12, len);
    explicit_bzero(p12, len);
    free(p12);
    return r;
}

static int client_cert_issue(struct konctl *k, int argc, char **argv)
{
    struct args_opt opts[] = {{"out", true, NULL}, {"type", true, NULL}, {"password", true, NULL}};
    char generated[PASSWORD_GEN_LEN + 1] = "";
    const char *password = NULL;
    const char *file = NULL;
    json_t *answer = NULL;
    json_t *body = NULL;
    char *tmp = NULL;
    int fd = -1;
    struct args a;
    int r;

    if (!args_command(k, argc, argv, opts, ARRAY_SIZE(opts), 1, 1, client_cert_usage, &a, &r))
        return r;
    file = opts[0].value;
    if (!file || !file[0]) {
        konctl_error("'client-cert issue' needs --out FILE.p12 for the certificate");
        return KONCTL_EXIT_USAGE;
    }
    r = cmd_users_password_pick(opts[2].value, generated, sizeof(generated), &password);
    if (r != KONCTL_EXIT_OK)
        return r;
    /* Without --type the daemon's default applies (invariant 2). */
    body = opts[1].value ? json_pack("{s:s, s:s, s:s}", "name", a.pos[0], "password", password,
                                     "type", opts[1].value)
                         : json_pack("{s:s, s:s}", "name", a.pos[0], "password", password);
    if (!body) {
        /* jansson refuses text that is not UTF-8; running out of memory is the other cause. */
        konctl_error("cannot send the name, type or password: not valid UTF-8");
        r = KONCTL_EXIT_USAGE;
        goto out;
    }
    r = file_temp_open(file, &tmp, &fd);
    if (r != KONCTL_EXIT_OK)
        goto out;
    r = konctl_call(k, "POST", "/api/v1/client-certs", body, &answer);
    if (r != KONCTL_EXIT_OK) {
        (void)close(fd);
        (void)unlink(tmp);
        goto out;
    }
    r = p12_save(answer, fd, tmp, file);
    if (r != KONCTL_EXIT_OK)
        goto out;
    if (k->json) {
        /* The key is in the file: the printed answer names the file instead. */
        (void)json_object_del(answer, "p12_base64");
        (void)json_object_set_new(answer, "file", json_string(file));
    } else {
        char *type = out_json_text(json_object_get(answer, "type"));

        (void)printf("issued a client certificate for '%s' (%s) to '%s'\n", a.pos[0],
                     type ? type : "-", file);
        free(type);
    }
    if (generated[0])
        cmd_users_password_show(k, answer, generated);
    if (k->json)
        (void)out_json_print(stdout, answer);
out:
    explicit_bzero(generated, sizeof(generated));
    free(tmp);
    json_decref(body);
    json_decref(answer);
    return r;
}

static void client_cert_row(struct out_table *t, const json_t *c)
{
    out_table_add_json(t, json_object_get(c, "name"));
    out_table_add_json(t, json_object_get(c, "origin"));
    out_table_add_json(t, json_object_get(c, "subject"));
    out_table_add_json(t, json_object_get(c, "not_after"));
}

static int client_cert_list(struct konctl *k, int argc, char **argv)
{
    static const char *const headers[] = {"NAME", "ORIGIN", "SUBJECT", "NOT AFTER"};
    static const struct konctl_listing listing = {"client_certs", headers, ARRAY_SIZE(headers),
                                                  client_cert_row, "no client certificates"};
    struct args a;
    int r;

    if (!args_command(k, argc, argv, NULL, 0, 0, 0, client_cert_usage, &a, &r))
        return r;
    return konctl_list(k, "/api/v1/client-certs", &listing);
}

/* A PEM certificate is a few KiB; a chain file a little more. */
#define PEM_FILE_MAX (256 * 1024)

static int client_cert_import(struct konctl *k, int argc, char **argv)
{
    json_t *answer = NULL, *body = NULL;
    char *pem = NULL, *path = NULL;
    size_t len = 0;
    struct args a;
    int r;

    if (!args_command(k, argc, argv, NULL, 0, 2, 2, client_cert_usage, &a, &r))
        return r;
    r = file_read_all(a.pos[1], PEM_FILE_MAX, &pem, &len);
    if (r < 0) {
        konctl_error("cannot read '%s': %s", a.pos[1],
                     r == -EFBIG ? "larger than 256 KiB, not a certificate" : strerror(-r));
        return KONCTL_EXIT_USAGE;
    }
    body = json_pack("{s:s%}", "pem", pem, len);
    path = http_path("/api/v1/client-certs", a.pos[0]);
    if (!body || !path) {
        konctl_error("cannot send '%s': not a text file", a.pos[1]);
        r = KONCTL_EXIT_USAGE;
        goto out;
    }
    r = konctl_call(k, "PUT", path, body, &answer);
    if (r != KONCTL_EXIT_OK)
        goto out;
    if (k->json)
        (void)out_json_print(stdout, answer);
    else
        (void)printf("imported the client certificate '%s' from '%s'\n", a.pos[0], a.pos[1]);
out:
    free(path);
    free(pem);
    json_decref(body);
    json_decref(answer);
    return r;
}

static int client_cert_remove(struct konctl *k, int argc, char **argv)
{
    char *path = NULL;
    struct args a;
    int r;

    if (!args_command(k, argc, argv, NULL, 0, 1, 1, client_cert_usage, &a, &r))
        return r;
    path = http_path("/api/v1/client-certs", a.pos[0]);
    r = konctl_send(k, "DELETE", path, NULL, "removed the client certificate '%s'", a.pos[0]);
    free(path);
    return r;
}

int cmd_client_cert(struct konctl *k, int argc, char **argv)
{
    static const char *const names[] = {"issue", "list", "import", "remove"};
    int shift = 0;
    int r;
    int i;

    i = args_subcommand(argc, argv, names, ARRAY_SIZE(names), NULL, client_cert_usage, &shift, &r);
    argc -= shift;
    argv += shift;
    switch (i) {
    case 0:
        return client_cert_issue(k, argc, argv);
    case 1:
        return client_cert_list(k, argc, argv);
    case 2:
        return client_cert_import(k, argc, argv);
    case 3:
        return client_cert_remove(k, argc, argv);
    default:
        return r;
    }
}

/* ---- client-user ------------------------------------------------------------------------ */

static char *client_user_path(const char *name)
{
    return http_path("/api/v1/client-basic-users", name);
}

static int client_user_set(struct konctl *k, int argc, char **argv)
{
    struct args_opt opts[] = {{"password", true, NULL}};
    char generated[PASSWORD_GEN_LEN + 1] = "";
    const char *password = NULL;
    json_t *answer = NULL;
    json_t *body = NULL;
    char *path = NULL;
    struct args a;
    int r;

    if (!args_command(k, argc, argv, opts, ARRAY_SIZE(opts), 1, 1, client_user_usage, &a, &r))
        return r;
    r = cmd_users_password_pick(opts[0].value, generated, sizeof(generated), &password);
    if (r != KONCTL_EXIT_OK)
        return r;
    body = json_pack("{s:s}", "password", password);
    if (!body) {
        konctl_error("cannot send the password: not valid UTF-8");
        r = KONCTL_EXIT_USAGE;
        goto out;
    }
    path = client_user_path(a.pos[0]);
    if (!path) {
        konctl_error("out of memory");
        r = KONCTL_EXIT_ERROR;
        goto out;
    }
    r = konctl_call(k, "PUT", path, body, &answer);
    if (r != KONCTL_EXIT_OK)
        goto out;
    if (!k->json)
        (void)printf("set the password of client user '%s'\n", a.pos[0]);
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

static int client_user_delete(struct konctl *k, int argc, char **argv)
{
    char *path = NULL;
    struct args a;
    int r;

    if (!args_command(k, argc, argv, NULL, 0, 1, 1, client_user_usage, &a, &r))
        return r;
    path = client_user_path(a.pos[0]);
    r = konctl_send(k, "DELETE", path, NULL, "deleted client user '%s'", a.pos[0]);
    free(path);
    return r;
}

int cmd_client_user(struct konctl *k, int argc, char **argv)
{
    static const char *const names[] = {"set", "delete"};
    int shift = 0;
    int r;
    int i;

    i = args_subcommand(argc, argv, names, ARRAY_SIZE(names), NULL, client_user_usage, &shift, &r);
    argc -= shift;
    argv += shift;
    switch (i) {
    case 0:
        return client_user_set(k, argc, argv);
    case 1:
        return client_user_delete(k, argc, argv);
    default:
        return r;
    }
}
