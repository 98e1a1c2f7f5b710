/* konctl: declarations shared by the files of the command-line tool. konctl is a client of the
 * management API (docs/management-api.md): it talks JSON over HTTPS through libcurl and
 * jansson. From src/ it uses only the self-contained bundle library ("konctl bundle").
 *
 *  - konctl_exit: the process exit codes, one per kind of outcome (docs/konctl.md).
 *  - struct konctl: the parsed command line and the session with the daemon (session.c).
 *  - args_*: parsing of a command's own arguments (args.c, pure, unit-tested).
 *  - report_*: turning a failed request into "konctl: ..." lines and an exit code (report.c,
 *    pure, unit-tested).
 *  - cmd_*: one entry point per top-level command (cmd_*.c).
 *
 * Single-threaded. Strings called "borrowed" point into argv or the environment and live as
 * long as the process. */
#ifndef KONCTL_H
#define KONCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

struct http_client;
struct http_result;

#ifndef KONN_VERSION
#define KONN_VERSION "unknown"
#endif

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- exit codes ------------------------------------------------------------------------- */

enum konctl_exit {
    KONCTL_EXIT_OK = 0,
    KONCTL_EXIT_ERROR = 1,       /* anything not listed below */
    KONCTL_EXIT_USAGE = 2,       /* bad command line, no password, unreadable file */
    KONCTL_EXIT_UNREACHABLE = 3, /* refused, timed out, TLS failure, closed without answer */
    KONCTL_EXIT_AUTH = 4,        /* 401: bad credentials or account locked */
    KONCTL_EXIT_REFUSED = 5,     /* 400 (and 413): the daemon refused a value */
    KONCTL_EXIT_FORBIDDEN = 6,   /* 403: the role may not do this */
    KONCTL_EXIT_NOT_FOUND = 7,   /* 404 */
    KONCTL_EXIT_CONFLICT = 8,    /* 409: conflict or critical state */
    KONCTL_EXIT_UNVERIFIED = 9,  /* "log verify", "bundle verify": verification failed */
    KONCTL_EXIT_MAX
};

/* ---- the session (session.c) ------------------------------------------------------------ */

/* Defaults of the command line. */
#define KONCTL_DEFAULT_URL "https://127.0.0.1:8443"
#define KONCTL_DEFAULT_USER "admin"

/* Timeouts in ms: connecting (TCP and TLS handshake), and the whole request. */
#define KONCTL_CONNECT_TIMEOUT_MS 5000
#define KONCTL_REQUEST_TIMEOUT_MS 30000

struct konctl {
    const char *url;          /* borrowed */
    const char *user;         /* borrowed */
    const char *password;     /* borrowed from argv/env, or password_owned; NULL until resolved */
    char *password_owned;     /* read from KONCTL_PASSWORD_FILE or the terminal; wiped when freed */
    const char *cacert;       /* borrowed; NULL for the system trust store */
    bool insecure;            /* skip certificate and host name verification */
    bool json;                /* print the API's JSON instead of human text */
    bool color;               /* ANSI colour on stdout, resolved from --color */
    long timeout_ms;          /* request timeout; a command may widen it before its call */
    struct http_client *http; /* created by the first konctl_call() */
};

/* Sends one request and reports a failure. path starts with "/" and is already escaped; body
 * is borrowed and may be NULL. On success returns KONCTL_EXIT_OK and sets *ret_answer to the
 * parsed answer (owned by the caller, NULL if the answer was empty). On failure prints
 * "konctl: ..." and hints to stderr and returns the exit code; *ret_answer is untouched. The
 * first call resolves the password (flag, env, file, terminal prompt). */
int konctl_call(struct konctl *k, const char *method, const char *path, const json_t *body,
                json_t **ret_answer);

/* Resolves the password and checks the CA file without sending anything, for commands that
 * talk through http.h themselves (diagnose and scenario judge transport failures on their
 * own). Returns an exit code, after reporting a failure. */
int konctl_open(struct konctl *k);

/* Like konctl_call with a body of len bytes (application/octet-stream) instead of JSON. */
int konctl_call_raw(struct konctl *k, const char *method, const char *path, const void *data,
                    size_t len, json_t **ret_answer);

/* Like konctl_call without a body, for an answer too large to hold (the log export's JSON
 * Lines): a successful answer's body goes to sink as it arrives (see http_sink_fn in http.h),
 * and k->timeout_ms limits the time without data rather than the whole exchange. accept is
 * the Accept header's value. Returns an exit code; a failure is reported as by konctl_call,
 * except when sink stopped the transfer: then KONCTL_EXIT_ERROR, and the sink's owner says
 * why. */
int konctl_stream(struct konctl *k, const char *method, const char *path, const char *accept,
                  int (*sink)(const char *data, size_t len, void *arg), void *arg);

/* How konctl_list() prints a listing: one table row per element of the answer's array
 * member, filled by row() with one out_table_add*() per header; empty (may be NULL) is printed
 * instead of a table without rows. */
struct out_table;
struct konctl_listing {
    const char *member;
    const char *const *headers;
    size_t n_headers;
    void (*row)(struct out_table *t, const json_t *item);
    const char *empty;
};

/* GET path, then the answer as JSON (--json) or as a table. Returns an exit code. */
int konctl_list(struct konctl *k, const char *path, const struct konctl_listing *l);

/* GET path, then the answer as JSON (--json) or through print (which returns an exit code).
 * Returns an exit code. */
int konctl_show(struct konctl *k, const char *path,
                int (*print)(const struct konctl *k, const json_t *answer));

/* Sends one request (body may be NULL); on success prints the answer (--json) or the line
 * done_fmt makes. path NULL (out of memory building it) is reported. Returns an exit code. */
int konctl_send(struct konctl *k, const char *method, const char *path, const json_t *body,
                const char *done_fmt, ...) __attribute__((format(printf, 5, 6)));

/* Releases the session's resources (not the struct, which main keeps on the stack). */
void konctl_done(struct konctl *k);

/* ---- command arguments (args.c) --------------------------------------------------------- */

/* Positional arguments a command may take. */
#define ARGS_POS_MAX 8

/* One option of a command, written as --name VALUE, --name=VALUE or (flags) --name. */
struct args_opt {
    const char *name; /* without the dashes */
    bool takes_value;
    const char *value; /* out: the value (borrowed), "" for a flag given; NULL if absent */
};

struct args {
    const char *pos[ARGS_POS_MAX]; /* borrowed from argv */
    size_t n_pos;
    bool help; /* -h or --help was given */
    bool json; /* --json was given after the command */
};

/* Parses argv[1..argc) of one command (argv[0] is the command word). Every command knows -h,
 * --help and --json. "--" ends the options; "-" and words like "-5" are positional, so that a
 * negative value needs no "--". A repeated option keeps its last value. Returns 0, or -EINVAL
 * with a message in err (unknown option, missing value, too many positional arguments). */
int args_parse(int argc, char **argv, struct args_opt *opts, size_t n_opts, struct args *ret,
               char *err, size_t err_size);

/* Splits "NAME" or "NAME(ID)" (as in EC_CardTerminal_Not_Available(ct1)) into name and
 * instance ("" when none). NAME is A-Z a-z 0-9 _; ID is any printable text without "(" and
 * ")". Returns 0, -EINVAL for bad syntax, -ENAMETOOLONG if a part does not fit its buffer. */
int args_condition_parse(const char *arg, char *name, size_t name_size, char *instance,
                         size_t instance_size);

/* Checks a duration for POST /control/v1/clock/advance before it is passed on unchanged:
 * digits with an optional unit s, m, h or d (plain number = seconds), whose length in ms fits
 * an int64. Returns 0, -EINVAL for bad syntax, -ERANGE for too long. */
int args_duration_check(const char *s);

/* Checks a time for the log filters (--from, --to) before it is passed on unchanged: either
 * ms since the Unix epoch (digits, at most INT64_MAX) or ISO 8601 in UTC as the daemon writes
 * it, "2026-11-29T08:00:00Z" with an optional fraction of 1 to 9 digits ("...:00.123Z"), where
 * "+00:00" may stand for "Z". The date must exist (no 30 February) and the year lie in
 * 1970..9999. Returns 0, -EINVAL for bad syntax or a date or time that does not exist,
 * -ERANGE for a number or year out of range. */
int args_time_check(const char *s);

/* Parses a whole unsigned decimal number no larger than max. Returns 0, -EINVAL, -ERANGE. */
int args_uint_parse(const char *s, uint64_t max, uint64_t *ret_value);

/* Maps "local", "remote", "super" (any case) to the role names of TIP1-A_4810; any other text
 * is returned unchanged, for the daemon to judge. */
const char *args_role_expand(const char *role);

/* Maps a severity in any case ("warning") to the daemon's spelling ("Warning"): Info,
 * Warning, Error, Fatal. Any other text is returned unchanged, for the daemon to judge. */
const char *args_severity_expand(const char *severity);

/* Parses a command's arguments (args_parse) and handles the common cases: prints usage to
 * stdout for --help (*ret_exit = 0), reports a usage error for bad arguments or a positional
 * count outside [min_pos, max_pos] (*ret_exit = 2), and ORs --json into k->json. Returns true
 * when the command should go on. usage is the command's help text. */
bool args_command(struct konctl *k, int argc, char **argv, struct args_opt *opts, size_t n_opts,
                  size_t min_pos, size_t max_pos, const char *usage, struct args *ret,
                  int *ret_exit);

/* Picks a subcommand: returns the index of argv[1] in names (*ret_shift = 1: the subcommand
 * sees argv + 1), or the index of dflt when argv[1] is absent or an option other than --help
 * (*ret_shift = 0; dflt may be NULL for none). Otherwise prints usage (to stdout for --help,
 * else to stderr after an error) and returns -1 with the exit code in *ret_exit. */
int args_subcommand(int argc, char **argv, const char *const *names, size_t n_names,
                    const char *dflt, const char *usage, int *ret_shift, int *ret_exit);

/* ---- reporting (report.c) --------------------------------------------------------------- */

/* Print "konctl: <message>" and "hint: <message>" lines to stderr. */
void konctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void konctl_hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The exit code for an HTTP status (2xx gives KONCTL_EXIT_OK). */
int report_exit_from_status(long status);

/* The exit code for a finished request: transport failure or HTTP status. */
int report_exit_code(const struct http_result *res);

/* Prints the failure of a request to f: "konctl: <message>" with the server's message when it
 * sent one, then "hint: ..." lines where they help. url is the daemon's URL, for messages.
 * Returns the exit code (report_exit_code). */
int report_failure(FILE *f, const struct http_result *res, const char *url);

/* ---- local files (files.c) -------------------------------------------------------------- */

/* Reads a whole file of at most max bytes into a NUL-terminated heap buffer (the caller
 * frees it; wipe it first if it holds a secret). 0, -EFBIG, -ENOMEM, -EIO or fopen's -errno. */
int file_read_all(const char *path, size_t max, char **ret_data, size_t *ret_len);

/* Creates FILE.XXXXXX next to FILE, mode 0600, for a file written whole or not at all; the
 * caller frees *ret_tmp. Returns an exit code (konctl_error() reported a failure). */
int file_temp_open(const char *file, char **ret_tmp, int *ret_fd);

/* Writes data to fd, syncs and closes it, and renames tmp to file. Closes fd and removes tmp
 * on failure too. Returns an exit code. */
int file_commit(int fd, const char *tmp, const char *file, const unsigned char *data, size_t len);

/* The end of a temporary file already synced and closed, r how that went: renamed to file
 * when r is 0, else removed with a message. Returns an exit code. */
int file_replace(int r, const char *tmp, const char *file);

/* file_temp_open() and file_commit(): FILE holds data whole, mode 0600, or is left as it was.
 * Returns an exit code. */
int file_save(const char *file, const unsigned char *data, size_t len);

/* Standard base64 with padding, no line breaks. Returns a heap string or NULL. */
char *base64_encode(const unsigned char *data, size_t len);

/* Decodes standard base64 with padding and no line breaks into a heap buffer. Returns 0,
 * -EINVAL when the text is not such base64 or is empty, or -ENOMEM. */
int base64_decode(const char *in, unsigned char **ret, size_t *ret_len);

/* ---- commands (cmd_*.c) ----------------------------------------------------------------- */

/* Each runs one top-level command; argv[0] is the command word. Returns an exit code. */
int cmd_status(struct konctl *k, int argc, char **argv);
int cmd_leds(struct konctl *k, int argc, char **argv);
int cmd_events(struct konctl *k, int argc, char **argv);
int cmd_ec(struct konctl *k, int argc, char **argv);
int cmd_settings(struct konctl *k, int argc, char **argv);
int cmd_users(struct konctl *k, int argc, char **argv);
int cmd_clock(struct konctl *k, int argc, char **argv);
int cmd_vpn(struct konctl *k, int argc, char **argv);
int cmd_fault(struct konctl *k, int argc, char **argv);
int cmd_log(struct konctl *k, int argc, char **argv);
int cmd_login(struct konctl *k, int argc, char **argv);
int cmd_logout(struct konctl *k, int argc, char **argv);
int cmd_infomodel(struct konctl *k, int argc, char **argv);
int cmd_card(struct konctl *k, int argc, char **argv);
int cmd_terminal(struct konctl *k, int argc, char **argv);
int cmd_pin(struct konctl *k, int argc, char **argv);
int cmd_cert(struct konctl *k, int argc, char **argv);
int cmd_trust(struct konctl *k, int argc, char **argv);
int cmd_client_cert(struct konctl *k, int argc, char **argv);
int cmd_client_user(struct konctl *k, int argc, char **argv);
int cmd_bundle(struct konctl *k, int argc, char **argv);
int cmd_ksr(struct konctl *k, int argc, char **argv);
int cmd_update(struct konctl *k, int argc, char **argv);
int cmd_config(struct konctl *k, int argc, char **argv);
int cmd_button(struct konctl *k, int argc, char **argv);
int cmd_diagnose(struct konctl *k, int argc, char **argv);
int cmd_scenario(struct konctl *k, int argc, char **argv);
/* "fault legacy-log-cleanup" (cmd_diagnose.c). */
int cmd_fault_legacy(struct konctl *k, int argc, char **argv);

/* Prints active conditions (a JSON array of condition objects) as a table, or "no active
 * conditions". Shared by "status" and "ec list" (cmd_ec.c). Returns 0 or -ENOMEM. */
int cmd_ec_print_active(FILE *f, const json_t *conditions, bool color);

/* Length of a password konctl generates: 20 of 62 characters are about 119 bits. */
#define PASSWORD_GEN_LEN 20

/* Takes the password given (--password), or when given is NULL generates gen_size - 1 letters
 * and digits from /dev/urandom into gen (cmd_users.c invariant 2). *ret points to one of the
 * two. Returns an exit code, after reporting a failure. Shared by "users" and the client
 * credentials (cmd_clients.c). */
int cmd_users_password_pick(const char *given, char *gen, size_t gen_size, const char **ret);
/* Prints a generated password once: into answer as "generated_password" with --json (the
 * caller prints answer), else as a line of its own with a note that it is not shown again. */
void cmd_users_password_show(const struct konctl *k, json_t *answer, const char *generated);

#endif
