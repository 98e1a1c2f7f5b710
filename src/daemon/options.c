/* options: konnektord's command line. */
#include "daemon/daemon.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out, "Usage: konnektord [OPTIONS]\n"
                 "An open TI connector (Konnektor) for development and CI.\n"
                 "\n"
                 "  --data DIR             data directory (default ./var)\n"
                 "  --mgmt ADDR:PORT       management and control HTTPS listener\n"
                 "                         (default 127.0.0.1:8443; port 0 picks a free one,\n"
                 "                         written to DIR/run/mgmt.url after bootup)\n"
                 "  --lan-http ADDR:PORT   the LAN SOAP interface over plain HTTP (default: none)\n"
                 "  --lan-https ADDR:PORT  the LAN SOAP interface over HTTPS (default: none);\n"
                 "                         connector.sds is served on both\n"
                 "  --world-template DIR   at first start, take the simulated world (test PKI,\n"
                 "                         cards) from DIR, e.g. another connector's DATA/world,\n"
                 "                         instead of generating a new one: CI keeps one PKI\n"
                 "  --clock real|virtual   time source (default real); the virtual clock can be\n"
                 "                         advanced through the control API\n"
                 "  --setting NAME=VALUE   set a setting at start, checked and recorded like an\n"
                 "                         administrator's change (repeatable), e.g.\n"
                 "                         --setting SECLOG_CAPACITY_MB=16\n"
                 "  --boot-fault STEP:KIND make a bootup step misbehave, for tests; KIND is fail,\n"
                 "                         hang or delay=MS (repeatable)\n"
                 "  --core                 run the connector's core directly; without it\n"
                 "                         konnektord is the launcher that runs the core of\n"
                 "                         the active firmware slot DIR/fw/slot-a|b and falls\n"
                 "                         back to the other slot (docs/update.md)\n"
                 "  --health-timeout S     launcher: seconds a new firmware has to become\n"
                 "                         healthy (default 30)\n"
                 "  --help                 show this help\n"
                 "  --version              show the version\n"
                 "\n"
                 "Files: DIR/initial-admin-password (first start), DIR/identity/mgmt-cert.pem,\n"
                 "DIR/config.db, DIR/run/leds.json (the front LEDs).\n");
}

int options_parse(int argc, char **argv, struct options *ret_opts)
{
    static const struct option longopts[] = {
        {"data", required_argument, NULL, 'd'},
        {"mgmt", required_argument, NULL, 'm'},
        {"clock", required_argument, NULL, 'c'},
        {"boot-fault", required_argument, NULL, 'f'},
        {"setting", required_argument, NULL, 's'},
        {"lan-http", required_argument, NULL, 'l'},
        {"lan-https", required_argument, NULL, 'L'},
        {"world-template", required_argument, NULL, 'w'},
        {"core", no_argument, NULL, 'C'},
        {"health-timeout", required_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct options o = {
        .data_dir = "./var", .mgmt_addr = "127.0.0.1:8443", .clock = CLOCK_MODE_REAL};
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            o.data_dir = optarg;
            break;
        case 'm':
            if (!strchr(optarg, ':')) {
                fprintf(stderr, "konnektord: --mgmt needs ADDR:PORT, got '%s'\n", optarg);
                return -EINVAL;
            }
            o.mgmt_addr = optarg;
            break;
        case 'l':
        case 'L':
            if (!strchr(optarg, ':')) {
                fprintf(stderr, "konnektord: --lan-http%s needs ADDR:PORT, got '%s'\n",
                        c == 'L' ? "s" : "", optarg);
                return -EINVAL;
            }
            if (c == 'l')
                o.lan_http = optarg;
            else
                o.lan_https = optarg;
            break;
        case 'w':
            o.world_template = optarg;
            break;
        case 'c':
            if (clock_mode_from_string(optarg, &o.clock) < 0) {
                fprintf(stderr, "konnektord: --clock is 'real' or 'virtual', got '%s'\n", optarg);
                return -EINVAL;
            }
            break;
        case 'f':
            if (o.n_boot_faults >= DAEMON_BOOT_FAULTS_MAX) {
                fprintf(stderr, "konnektord: at most %d --boot-fault options\n",
                        DAEMON_BOOT_FAULTS_MAX);
                return -EINVAL;
            }
            o.boot_faults[o.n_boot_faults++] = optarg;
            break;
        case 's':
            if (!strchr(optarg, '=') || o.n_settings >= DAEMON_SETTINGS_MAX) {
                fprintf(stderr, "konnektord: --setting needs NAME=VALUE (at most %d), got '%s'\n",
                        DAEMON_SETTINGS_MAX, optarg);
                return -EINVAL;
            }
            o.settings[o.n_settings++] = optarg;
            break;
        case 'C':
            o.core = true;
            break;
        case 'H': {
            int64_t sec = 0;

            if (str_to_int64(optarg, &sec) < 0 || sec < 1 || sec > 3600) {
                fprintf(stderr, "konnektord: --health-timeout needs 1..3600 seconds, got '%s'\n",
                        optarg);
                return -EINVAL;
            }
            o.health_timeout_ms = sec * 1000;
            break;
        }
        case 'h':
            usage(stdout);
            return 1;
        case 'V':
            printf("konnektord %s\n", KONN_VERSION);
            return 1;
        default:
            usage(stderr);
            return -EINVAL;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "konnektord: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return -EINVAL;
    }
    *ret_opts = o;
    return 0;
}
