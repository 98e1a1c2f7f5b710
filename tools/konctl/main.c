/* konctl: the command-line tool of konnektord. main parses the global options and the
 * environment, picks the command and hands over; the commands live in cmd_*.c.
 *
 * Invariants:
 *  1. Flags win over the environment, the environment over the defaults.
 *  2. Global options come before the command (getopt stops at the first word that is not an
 *     option), so a command's own options such as "users add --password" never clash.
 *  3. The exit code is the one the command returned, or 1 when stdout could not be written. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "konctl.h"
#include "output.h"

static const char usage_text[] =
    "Usage: konctl [OPTIONS] COMMAND [ARGS...]\n"
    "\n"
    "The command-line tool of konnektord: talks to the daemon's management API over HTTPS.\n"
    "\n"
    "Options (before the command):\n"
    "  --url URL           daemon's management URL (KONCTL_URL; default " KONCTL_DEFAULT_URL ")\n"
    "  --user U            administrator account (KONCTL_USER; default " KONCTL_DEFAULT_USER ")\n"
    "  --password P        its password (KONCTL_PASSWORD, or a file named by\n"
    "                      KONCTL_PASSWORD_FILE; asked for on a terminal otherwise)\n"
    "  --cacert FILE       trust this certificate, e.g. DATA/identity/mgmt-cert.pem\n"
    "                      (KONCTL_CACERT)\n"
    "  -k, --insecure      do not verify the daemon's certificate\n"
    "  --json              print the API's JSON answer (pretty, sorted keys)\n"
    "  --color WHEN        auto, always or never (auto: on a terminal, unless NO_COLOR)\n"
    "  -h, --help          show this help; 'konctl COMMAND --help' for a command\n"
    "  -V, --version       show the version\n"
    "\n"
    "Commands:\n"
    "  status                          product, firmware, host, boot time, uptime, clock,\n"
    "                                  LED panel, active conditions\n"
    "  leds                            the LED panel\n"
    "  ec list [--table]               active error conditions (all 34 with --table)\n"
    "  ec reset NAME[(ID)] [--instance ID]\n"
    "                                  reset a condition\n"
    "  settings get [NAME]             all settings, or one\n"
    "  settings set NAME VALUE         change a setting\n"
    "  users list                      administrator accounts\n"
    "  users add NAME --role ROLE [--password P]\n"
    "  users passwd NAME [--password P]\n"
    "  users delete NAME\n"
    "  users unlock NAME\n"
    "  users permissions NAME [PERMISSION...]\n"
    "                                  grant USER_RESET_PERMISSION (or take it back)\n"
    "  infomodel show                  Mandanten, client systems, workplaces, card\n"
    "                                  terminals and their relations\n"
    "  infomodel add KIND ID [--name N] [--slots N] [--inactive]\n"
    "  infomodel delete KIND ID        (with the entity's relations)\n"
    "  infomodel relate|unrelate REL A B\n"
    "  infomodel set-terminal ID [--name N] [--slots N] [--active|--inactive]\n"
    "  card list                       the simulated cards: type, ICCSN, slot, handle\n"
    "  card insert --ct CT --slot N CARD\n"
    "  card remove --ct CT --slot N    insert a catalog card into a slot, or remove it\n"
    "  card import FILE.p12 --name NAME [--password P]\n"
    "                                  add a gematik test identity as a card\n"
    "  terminal list                   the simulated card terminals and their slots\n"
    "  terminal show ID                one terminal: slots, cards, what its display shows\n"
    "  terminal connect|disconnect ID  connect or cut off a terminal\n"
    "  pin show [--ct CT]              what the PIN pads ask for (card, PIN, display text)\n"
    "  pin type --ct CT DIGITS...      type on a terminal's PIN pad, one value per step\n"
    "  pin cancel --ct CT              cancel the PIN entry (the operation gets 4049)\n"
    "  pin auto --card CARD [on|off]   the card's auto-PIN: the pad enters its stored PIN\n"
    "  cert status|revoke|unrevoke|unknown (--card C --ref R [--alg A] | --file F.pem |\n"
    "       --issuer DN --serial HEX)  the simulated OCSP answer for a certificate\n"
    "  cert list                       certificates whose OCSP answer is not 'good'\n"
    "  trust list                      the CAs VerifyCertificate trusts\n"
    "  trust import FILE.pem           add CA certificates (gematik TEST-ONLY CAs)\n"
    "  client-cert issue NAME --out FILE.p12 [--type rsa|ecc] [--password P]\n"
    "                                  a client certificate for practice software (PKCS#12)\n"
    "  client-user set NAME [--password P]\n"
    "  client-user delete NAME         HTTP Basic credentials of a client system\n"
    "  clock show                      the connector's clock\n"
    "  clock advance DURATION          advance the virtual clock (10d, 2h, 15m, 90s, 90)\n"
    "  vpn show | vpn up | vpn down    the simulated VPN tunnel\n"
    "  events [--since SEQ]            recent internal events\n"
    "  log show [--log L] [--from T] [--to T] [--severity S] [--topic PREFIX]\n"
    "           [--limit N] [--oldest] [--all]\n"
    "                                  security-log (or system-log) entries, a page at a\n"
    "                                  time; * marks those new since your last logout\n"
    "  log export [--log L] [FILTERS] [--output FILE]\n"
    "                                  all matching entries as JSON Lines\n"
    "  log verify [--log L] [--key FILE]\n"
    "                                  check records, hash chain and seals (exit 9 if not)\n"
    "  log stats [--log L]             space, records, retention possible, topics\n"
    "  login                           log in: how many security-log entries are new\n"
    "  logout                          log out: the next login counts from now\n"
    "  fault stall MS                  block the daemon's main loop for MS ms\n"
    "  fault condition NAME[(ID)] on|off\n"
    "                                  raise or clear an error condition\n"
    "  fault seclog-io-error on|off    make security-log writes fail with EIO\n"
    "  fault flood [--topic T] [--rate N] [--seconds S] [--distinct]\n"
    "                                  a storm of security events\n"
    "  fault legacy-log-cleanup on|off [--max-seconds N] [--force]\n"
    "                                  the 2020 fault: a cleanup that hogs the main loop\n"
    "  diagnose [--soap URL] [--data-dir DIR] [--apply]\n"
    "                                  name the situation (healthy, log overflow, hung, ...)\n"
    "                                  and print the recovery plans A, B and C\n"
    "  scenario practice --workplaces N [--seconds S] [--storm RATE] [--crypto-ops]\n"
    "                                  a simulated practice under load, with latency figures\n"
    "  scenario 2020-ehealth-update [--workplaces N] [--soap URL] [--json] ...\n"
    "                                  the 2020 incident: the automatic PTV3 update under\n"
    "                                  that load, phases, restart window, expectations\n"
    "  bundle keygen|create|sign-group|verify ...\n"
    "                                  signed update bundles, on local files (no daemon)\n"
    "  update check|download|status|install [VERSION | --file BUNDLE]|history|pause|resume\n"
    "                                  firmware updates from the KSR, and the pause switch\n"
    "  ksr serve DIR [--listen ADDR:PORT]\n"
    "                                  a KSR to test against, serving the bundles of DIR\n"
    "  config export -o FILE [--include-users]\n"
    "                                  signed, encrypted configuration backup; prints its\n"
    "                                  passphrase once\n"
    "  config import FILE --passphrase P [--yes]\n"
    "                                  show a backup's signer and contents; apply with --yes\n"
    "  button reset --data-dir DIR     the hidden reset button: factory reset with the type\n"
    "                                  plate's credential, when no admin can log in\n"
    "\n"
    "Exit codes:\n"
    "  0  success\n"
    "  1  other error\n"
    "  2  usage error (bad command line, no password, unreadable file)\n"
    "  3  daemon unreachable (connection refused, timeout, TLS failure)\n"
    "  4  bad credentials or account locked (401)\n"
    "  5  value refused (400)\n"
    "  6  forbidden for this role (403)\n"
    "  7  not found (404)\n"
    "  8  conflict or critical state (409)\n"
    "  9  verification failed (log verify, bundle verify: tampered or damaged)\n";

struct command {
    const char *name;
    int (*run)(struct konctl *k, int argc, char **argv);
};

static const struct command commands[] = {
    {"status", cmd_status},
    {"leds", cmd_leds},
    {"ec", cmd_ec},
    {"settings", cmd_settings},
    {"users", cmd_users},
    {"clock", cmd_clock},
    {"vpn", cmd_vpn},
    {"events", cmd_events},
    {"fault", cmd_fault},
    {"log", cmd_log},
    {"login", cmd_login},
    {"logout", cmd_logout},
    {"infomodel", cmd_infomodel},
    {"card", cmd_card},
    {"terminal", cmd_terminal},
    {"pin", cmd_pin},
    {"cert", cmd_cert},
    {"trust", cmd_trust},
    {"client-cert", cmd_client_cert},
    {"client-user", cmd_client_user},
    {"bundle", cmd_bundle},
    {"ksr", cmd_ksr},
    {"update", cmd_update},
    {"config", cmd_config},
    {"button", cmd_button},
    {"diagnose", cmd_diagnose},
    {"scenario", cmd_scenario},
};

static const struct command *command_find(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

/* An environment variable, or NULL when unset or empty. */
static const char *env(const char *name)
{
    const char *v = getenv(name);

    return v && v[0] ? v : NULL;
}

enum { OPT_URL = 256, OPT_USER, OPT_PASSWORD, OPT_CACERT, OPT_JSON, OPT_COLOR };

/* Fills k from argv and the environment. Returns -1 to go on with argv[*ret_index], or an
 * exit code to stop with. */
static int parse_global(int argc, char **argv, struct konctl *k, int *ret_index)
{
    static const struct option options[] = {
        {"url", required_argument, NULL, OPT_URL},
        {"user", required_argument, NULL, OPT_USER},
        {"password", required_argument, NULL, OPT_PASSWORD},
        {"cacert", required_argument, NULL, OPT_CACERT},
        {"insecure", no_argument, NULL, 'k'},
        {"json", no_argument, NULL, OPT_JSON},
        {"color", required_argument, NULL, OPT_COLOR},
        {"colour", required_argument, NULL, OPT_COLOR},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    enum out_color_mode color = OUT_COLOR_AUTO;
    const char *cacert = NULL;
    int c;

    k->url = env("KONCTL_URL");
    k->user = env("KONCTL_USER");
    k->password = env("KONCTL_PASSWORD");
    opterr = 0;
    /* "+": stop at the command word. */
    while ((c = getopt_long(argc, argv, "+:khV", options, NULL)) != -1) {
        switch (c) {
        case OPT_URL:
            k->url = optarg;
            break;
        case OPT_USER:
            k->user = optarg;
            break;
        case OPT_PASSWORD:
            k->password = optarg;
            break;
        case OPT_CACERT:
            cacert = optarg;
            break;
        case 'k':
            k->insecure = true;
            break;
        case OPT_JSON:
            k->json = true;
            break;
        case OPT_COLOR:
            if (out_color_mode_from_string(optarg, &color) < 0) {
                konctl_error("--color takes auto, always or never, not '%s'", optarg);
                return KONCTL_EXIT_USAGE;
            }
            break;
        case 'h':
            (void)fputs(usage_text, stdout);
            return KONCTL_EXIT_OK;
        case 'V':
            (void)printf("konctl %s\n", KONN_VERSION);
            return KONCTL_EXIT_OK;
        case ':':
            konctl_error("option '%s' needs a value", argv[optind - 1]);
            return KONCTL_EXIT_USAGE;
        default:
            if (optopt > 0 && optopt < 256)
                konctl_error("unknown option '-%c'", optopt);
            else
                konctl_error("unknown option '%s'", argv[optind - 1]);
            konctl_hint("'konctl --help' lists the options; a command's own options follow "
                        "the command");
            return KONCTL_EXIT_USAGE;
        }
    }
    if (cacert && k->insecure) {
        konctl_error("--cacert and --insecure exclude each other");
        return KONCTL_EXIT_USAGE;
    }
    k->cacert = cacert ? cacert : (k->insecure ? NULL : env("KONCTL_CACERT"));
    k->url = k->url ? k->url : KONCTL_DEFAULT_URL;
    k->user = k->user ? k->user : KONCTL_DEFAULT_USER;
    k->color = out_color_resolve(color, isatty(STDOUT_FILENO), getenv("NO_COLOR"));
    k->timeout_ms = KONCTL_REQUEST_TIMEOUT_MS;
    *ret_index = optind;
    return -1;
}

/* "konctl help [COMMAND...]" is "konctl COMMAND... --help". */
static int run_help(struct konctl *k, int argc, char **argv)
{
    const struct command *cmd = NULL;
    char *help_argv[ARGS_POS_MAX + 2];
    int n = 0;

    if (argc < 2) {
        (void)fputs(usage_text, stdout);
        return KONCTL_EXIT_OK;
    }
    cmd = command_find(argv[1]);
    if (!cmd || argc - 1 > ARGS_POS_MAX) {
        konctl_error("unknown command '%s'", argv[1]);
        return KONCTL_EXIT_USAGE;
    }
    for (int i = 1; i < argc; i++)
        help_argv[n++] = argv[i];
    help_argv[n++] = (char *)"--help";
    help_argv[n] = NULL;
    return cmd->run(k, n, help_argv);
}

int main(int argc, char **argv)
{
    struct konctl k = {0};
    const struct command *cmd = NULL;
    int index = 0;
    int r;

    r = parse_global(argc, argv, &k, &index);
    if (r >= 0)
        return r;
    if (index >= argc) {
        konctl_error("no command given");
        (void)fputs(usage_text, stderr);
        return KONCTL_EXIT_USAGE;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        konctl_error("cannot initialise libcurl");
        return KONCTL_EXIT_ERROR;
    }
    if (strcmp(argv[index], "help") == 0) {
        r = run_help(&k, argc - index, argv + index);
        goto out;
    }
    cmd = command_find(argv[index]);
    if (!cmd) {
        konctl_error("unknown command '%s'", argv[index]);
        konctl_hint("'konctl --help' lists the commands");
        r = KONCTL_EXIT_USAGE;
        goto out;
    }
    r = cmd->run(&k, argc - index, argv + index);
out:
    konctl_done(&k);
    curl_global_cleanup();
    if (fflush(stdout) != 0 || ferror(stdout)) {
        konctl_error("cannot write the output");
        if (r == KONCTL_EXIT_OK)
            r = KONCTL_EXIT_ERROR;
    }
    return r;
}
