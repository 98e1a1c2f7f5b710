/* cmd_config: "konctl config export|import", the configuration backup of TIP1-A_4814 to
 * TIP1-A_4816 (docs/backup-format.md). export writes the daemon's sealed backup to a file and
 * prints the passphrase once; import shows what a backup holds and who signed it, and applies
 * it only with --yes (TIP1-A_4815: explicit confirmation).
 *
 * Invariants:
 *  1. The backup reaches FILE whole or not at all (a new file, mode 0600, renamed over FILE).
 *  2. konctl never opens the backup: decryption and the signature check are the daemon's.
 *  3. The passphrase is printed once, to stdout, and never written to a file. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "konctl.h"
#include "output.h"

/* The daemon takes request bodies up to 64 KiB: a backup of about 46 KiB, base64-encoded. */
#define BACKUP_FILE_MAX (47 * 1024)

static const char config_usage[] =
    "Usage: konctl config export -o|--output FILE [--include-users]\n"
    "       konctl config import FILE --passphrase P [--yes]\n"
    "\n"
    "The configuration backup (docs/backup-format.md): settings, info model, card terminals,\n"
    "client certificates and, with --include-users, the administrator accounts; signed with\n"
    "the device key and encrypted under a random passphrase.\n"
    "\n"
    "export  write the backup to FILE (mode 0600) and print its passphrase once: keep it apart\n"
    "        from the file, the connector does not keep it\n"
    "import  show who signed the backup, when, and what it holds; with --yes apply it\n"
    "        (a Super-Administrator's)\n";

static int config_export(struct konctl *k, int argc, char **argv)
{
    static char output_opt[] = "--output";
    struct args_opt opts[] = {{"output", true, NULL}, {"include-users", false, NULL}};
    json_t *body = NULL, *answer = NULL;
    unsigned char *data = NULL;
    const char *b64, *pass;
    size_t len = 0;
    struct args a;
    int r;

    /* -o is the short form of --output (args_parse knows only long options). */
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-o") == 0)
            argv[i] = output_opt;
    if (!args_command(k, argc, argv, opts, ARRAY_SIZE(opts), 0, 0, config_usage, &a, &r))
        return r;
    if (!opts[0].value || !opts[0].value[0]) {
        konctl_error("'config export' needs -o FILE for the backup");
        return KONCTL_EXIT_USAGE;
    }
    body = json_pack("{s:b}", "include_users", opts[1].value != NULL);
    r = konctl_call(k, "POST", "/api/v1/config/export", body, &answer);
    if (r != KONCTL_EXIT_OK)
        goto out;
    b64 = json_string_value(json_object_get(answer, "backup_b64"));
    pass = json_string_value(json_object_get(answer, "passphrase"));
    if (!b64 || !pass || base64_decode(b64, &data, &len) < 0) {
        konctl_error("the daemon's answer holds no backup");
        r = KONCTL_EXIT_ERROR;
        goto out;
    }
    r = file_save(opts[0].value, data, len); /* invariant 1 */
    if (r != KONCTL_EXIT_OK)
        goto out;
    if (k->json) {
        (void)json_object_del(answer, "backup_b64");
        (void)json_object_set_new(answer, "file", json_string(opts[0].value));
        r = out_json_print(stdout, answer) < 0 ? KONCTL_EXIT_ERROR : KONCTL_EXIT_OK;
    } else {
        /* Invariant 3. */
        (void)printf("wrote the configuration backup to '%s' (%zu bytes%s)\n"
                     "passphrase: %s\n"
                     "keep the passphrase apart from the file: it is shown only now\n",
                     opts[0].value, len, opts[1].value ? ", with administrator accounts" : "",
                     pass);
    }
out:
    free(data);
    json_decref(answer);
    json_decref(body);
    return r;
}

static void print_summary(const json_t *s)
{
    const json_t *signer = json_object_get(s, "signer"), *c = json_object_get(s, "contains");
    const char *keys[] = {"settings",       "mandants",     "client_systems", "workplaces",
                          "card_terminals", "client_certs", "users"};

    (void)printf("signed by:    %s%s\n", json_string_value(json_object_get(signer, "subject")),
                 json_is_true(json_object_get(signer, "this_device")) ? " (this device)" : "");
    (void)printf("fingerprint:  %s\n",
                 json_string_value(json_object_get(signer, "fingerprint_sha256")));
    (void)printf("signed at:    %s\n", json_string_value(json_object_get(signer, "signed")) ?: "-");
    (void)printf("created:      %s\n", json_string_value(json_object_get(s, "created")) ?: "-");
    (void)printf("contains:    ");
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        const json_t *v = json_object_get(c, keys[i]);

        if (json_is_integer(v))
            (void)printf(" %s %lld", keys[i], (long long)json_integer_value(v));
    }
    (void)printf("\n");
}

static int config_import(struct konctl *k, int argc, char **argv)
{
    struct args_opt opts[] = {{"passphrase", true, NULL}, {"yes", false, NULL}};
    json_t *body = NULL, *answer = NULL;
    char *data = NULL, *b64 = NULL;
    size_t len = 0;
    struct args a;
    int r;

    if (!args_command(k, argc, argv, opts, ARRAY_SIZE(opts), 1, 1, config_usage, &a, &r))
        return r;
    if (!opts[0].value) {
        konctl_error("'config import' needs --passphrase P (printed by 'config export')");
        return KONCTL_EXIT_USAGE;
    }
    r = file_read_all(a.pos[0], BACKUP_FILE_MAX, &data, &len);
    if (r < 0) {
        konctl_error("cannot read '%s': %s", a.pos[0],
                     r == -EFBIG ? "larger than a backup can be" : strerror(-r));
        return KONCTL_EXIT_USAGE;
    }
    b64 = base64_encode((const unsigned char *)data, len);
    body = b64 ? json_pack("{s:s,s:s,s:b}", "backup_b64", b64, "passphrase", opts[0].value,
                           "confirm", opts[1].value != NULL)
               : NULL;
    if (!body) {
        konctl_error("out of memory");
        r = KONCTL_EXIT_ERROR;
        goto out;
    }
    k->timeout_ms = KONCTL_REQUEST_TIMEOUT_MS * 2;
    r = konctl_call(k, "POST", "/api/v1/config/import", body, &answer);
    if (r != KONCTL_EXIT_OK)
        goto out;
    if (k->json) {
        r = out_json_print(stdout, answer) < 0 ? KONCTL_EXIT_ERROR : KONCTL_EXIT_OK;
        goto out;
    }
    print_summary(answer);
    if (json_is_true(json_object_get(answer, "applied")))
        (void)printf("applied: the configuration of the backup is active now\n");
    else
        (void)printf("not applied: check the signer above, then run again with --yes\n");
out:
    json_decref(answer);
    json_decref(body);
    free(b64);
    free(data);
    return r;
}

int cmd_config(struct konctl *k, int argc, char **argv)
{
    static const char *const names[] = {"export", "import"};
    int shift = 0, r;
    int i = args_subcommand(argc, argv, names, ARRAY_SIZE(names), NULL, config_usage, &shift, &r);

    argc -= shift;
    argv += shift;
    switch (i) {
    case 0:
        return config_export(k, argc, argv);
    case 1:
        return config_import(k, argc, argv);
    default:
        return r;
    }
}
