/* args: the arguments of one konctl command. Global options are main.c's (getopt_long); each
 * command's own words and options come here, as do the checks of values that konctl passes on
 * to the daemon (condition names, durations, times, numbers, roles, severities).
 *
 * It does not talk to the daemon. Values are checked for form only; ranges and names are the
 * daemon's to judge, so konctl and the daemon never disagree about a limit.
 *
 * Invariants:
 *  1. Out-parameters are written only on success.
 *  2. A word that starts with "-" and a digit is a value, never an option, so "settings set
 *     X -1" works without "--".
 *  3. Messages name the offending word in single quotes. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <strings.h>

#include "konctl.h"

static bool is_option(const char *w)
{
    return w[0] == '-' && w[1] != '\0' && !isdigit((unsigned char)w[1]);
}

static struct args_opt *find_opt(struct args_opt *opts, size_t n_opts, const char *name, size_t len)
{
    for (size_t i = 0; i < n_opts; i++)
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
            return &opts[i];
    return NULL;
}

/* konctl's global options (main.c), for a clear message when one follows the command. */
static bool is_global_option(const char *name, size_t len)
{
    static const char *const globals[] = {"url",      "user",  "password", "cacert",
                                          "insecure", "color", "colour",   "version"};

    for (size_t i = 0; i < ARRAY_SIZE(globals); i++)
        if (strlen(globals[i]) == len && strncmp(globals[i], name, len) == 0)
            return true;
    return false;
}

int args_parse(int argc, char **argv, struct args_opt *opts, size_t n_opts, struct args *ret,
               char *err, size_t err_size)
{
    struct args a = {0};
    bool options_done = false;

    for (size_t i = 0; i < n_opts; i++)
        opts[i].value = NULL;
    for (int i = 1; i < argc; i++) {
        const char *w = argv[i];
        const char *name = w + 2;
        const char *eq = NULL;
        struct args_opt *o = NULL;
        size_t len;

        if (options_done || !is_option(w)) {
            if (a.n_pos == ARGS_POS_MAX) {
                (void)snprintf(err, err_size, "too many arguments at '%s'", w);
                return -EINVAL;
            }
            a.pos[a.n_pos++] = w;
            continue;
        }
        if (strcmp(w, "--") == 0) {
            options_done = true;
            continue;
        }
        if (strcmp(w, "-h") == 0 || strcmp(w, "--help") == 0) {
            a.help = true;
            continue;
        }
        if (strcmp(w, "--json") == 0) {
            a.json = true;
            continue;
        }
        if (w[1] != '-') {
            (void)snprintf(err, err_size, "unknown option '%s'", w);
            return -EINVAL;
        }
        eq = strchr(name, '=');
        len = eq ? (size_t)(eq - name) : strlen(name);
        o = find_opt(opts, n_opts, name, len);
        if (!o && is_global_option(name, len)) {
            (void)snprintf(err, err_size, "'--%.*s' goes before the command word", (int)len, name);
            return -EINVAL;
        }
        if (!o) {
            (void)snprintf(err, err_size, "unknown option '--%.*s'", (int)len, name);
            return -EINVAL;
        }
        if (!o->takes_value) {
            if (eq) {
                (void)snprintf(err, err_size, "option '--%s' takes no value", o->name);
                return -EINVAL;
            }
            o->value = "";
        } else if (eq) {
            o->value = eq + 1;
        } else if (i + 1 < argc) {
            o->value = argv[++i];
        } else {
            (void)snprintf(err, err_size, "option '--%s' needs a value", o->name);
            return -EINVAL;
        }
    }
    *ret = a;
    return 0;
}

static bool is_name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

int args_condition_parse(const char *arg, char *name, size_t name_size, char *instance,
                         size_t instance_size)
{
    const char *open = strchr(arg, '(');
    size_t len = strlen(arg);
    size_t name_len = open ? (size_t)(open - arg) : len;
    const char *id = NULL;
    size_t id_len = 0;

    if (name_len == 0)
        return -EINVAL;
    for (size_t i = 0; i < name_len; i++)
        if (!is_name_char(arg[i]))
            return -EINVAL;
    if (open) {
        /* "NAME(ID)": one pair of parentheses, closing at the very end, around a non-empty ID. */
        if (arg[len - 1] != ')')
            return -EINVAL;
        id = open + 1;
        id_len = (size_t)(arg + len - 1 - id);
        if (id_len == 0)
            return -EINVAL;
        for (size_t i = 0; i < id_len; i++) {
            unsigned char ch = (unsigned char)id[i];
            if (ch == '(' || ch == ')' || ch < 0x20 || ch == 0x7f)
                return -EINVAL;
        }
    }
    if (name_len >= name_size || id_len >= instance_size)
        return -ENAMETOOLONG;
    memcpy(name, arg, name_len);
    name[name_len] = '\0';
    if (id_len)
        memcpy(instance, id, id_len);
    instance[id_len] = '\0';
    return 0;
}

/* Reads exactly n digits at *p into *ret and moves *p past them. */
static bool digits_read(const char **p, size_t n, unsigned *ret)
{
    unsigned v = 0;

    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return false;
        v = v * 10 + (unsigned)((*p)[i] - '0');
    }
    *p += n;
    *ret = v;
    return true;
}

/* Moves *p past the character c, if it is there. */
static bool char_read(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

static unsigned month_days(unsigned year, unsigned month)
{
    static const unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

    return month == 2 && leap ? 29 : days[month - 1];
}

/* "YYYY-MM-DDTHH:MM:SS[.F]Z" with F 1 to 9 digits, or "+00:00" for "Z": RFC 3339 in UTC, the
 * forms the daemon reads. A second of 60 is a leap second. */
static int iso_check(const char *s)
{
    unsigned year, month, day, hour, minute, second, digit;
    const char *p = s;
    size_t fraction = 0;

    if (!digits_read(&p, 4, &year) || !char_read(&p, '-') || !digits_read(&p, 2, &month) ||
        !char_read(&p, '-') || !digits_read(&p, 2, &day) || !char_read(&p, 'T') ||
        !digits_read(&p, 2, &hour) || !char_read(&p, ':') || !digits_read(&p, 2, &minute) ||
        !char_read(&p, ':') || !digits_read(&p, 2, &second))
        return -EINVAL;
    if (char_read(&p, '.')) {
        while (digits_read(&p, 1, &digit))
            fraction++;
        if (fraction < 1 || fraction > 9)
            return -EINVAL;
    }
    if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0)
        return -EINVAL;
    if (month < 1 || month > 12 || day < 1 || day > month_days(year, month) || hour > 23 ||
        minute > 59 || second > 60)
        return -EINVAL;
    /* Before 1970 the time in ms would be negative, which the daemon's filters do not take. */
    if (year < 1970)
        return -ERANGE;
    return 0;
}

int args_time_check(const char *s)
{
    uint64_t ms;
    size_t n = 0;

    while (isdigit((unsigned char)s[n]))
        n++;
    if (n == 0 || s[n] != '\0')
        return iso_check(s);
    /* Plain digits: ms since the epoch, kept by the daemon as an int64. */
    return args_uint_parse(s, INT64_MAX, &ms);
}

int args_uint_parse(const char *s, uint64_t max, uint64_t *ret_value)
{
    uint64_t v = 0;

    if (!s[0])
        return -EINVAL;
    for (const char *p = s; *p; p++) {
        unsigned d;

        if (!isdigit((unsigned char)*p))
            return -EINVAL;
        d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    if (v > max)
        return -ERANGE;
    *ret_value = v;
    return 0;
}

int args_duration_check(const char *s)
{
    static const struct {
        char unit;
        uint64_t ms;
    } units[] = {{'s', 1000}, {'m', 60 * 1000}, {'h', 3600 * 1000}, {'d', 86400 * 1000}};
    uint64_t unit_ms = 1000; /* a plain number is seconds */
    uint64_t v = 0;
    bool overflow = false;
    size_t n = 0;

    for (; isdigit((unsigned char)s[n]); n++) {
        unsigned d = (unsigned)(s[n] - '0');

        if (v > (UINT64_MAX - d) / 10)
            overflow = true;
        else
            v = v * 10 + d;
    }
    if (n == 0)
        return -EINVAL;
    if (s[n] != '\0') {
        size_t i;

        for (i = 0; i < ARRAY_SIZE(units); i++)
            if (s[n] == units[i].unit)
                break;
        if (i == ARRAY_SIZE(units) || s[n + 1] != '\0')
            return -EINVAL;
        unit_ms = units[i].ms;
    }
    /* The daemon keeps the length in ms as an int64. */
    if (overflow || v > (uint64_t)INT64_MAX / unit_ms)
        return -ERANGE;
    return 0;
}

const char *args_role_expand(const char *role)
{
    static const struct {
        const char *shorthand;
        const char *name;
    } roles[] = {
        {"local", "Local-Administrator"},
        {"remote", "Remote-Administrator"},
        {"super", "Super-Administrator"},
    };

    for (size_t i = 0; i < ARRAY_SIZE(roles); i++)
        if (strcasecmp(role, roles[i].shorthand) == 0 || strcasecmp(role, roles[i].name) == 0)
            return roles[i].name;
    return role;
}

const char *args_severity_expand(const char *severity)
{
    static const char *const names[] = {"Info", "Warning", "Error", "Fatal"};

    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        if (strcasecmp(severity, names[i]) == 0)
            return names[i];
    return severity;
}

bool args_command(struct konctl *k, int argc, char **argv, struct args_opt *opts, size_t n_opts,
                  size_t min_pos, size_t max_pos, const char *usage, struct args *ret,
                  int *ret_exit)
{
    struct args a;
    char err[256];

    if (args_parse(argc, argv, opts, n_opts, &a, err, sizeof(err)) < 0) {
        konctl_error("%s", err);
        goto usage_error;
    }
    if (a.help) {
        (void)fputs(usage, stdout);
        *ret_exit = KONCTL_EXIT_OK;
        return false;
    }
    if (a.n_pos < min_pos) {
        konctl_error("missing argument to '%s'", argv[0]);
        goto usage_error;
    }
    if (a.n_pos > max_pos) {
        konctl_error("unexpected argument '%s'", a.pos[max_pos]);
        goto usage_error;
    }
    k->json = k->json || a.json;
    *ret = a;
    return true;
usage_error:
    (void)fputs(usage, stderr);
    *ret_exit = KONCTL_EXIT_USAGE;
    return false;
}

int args_subcommand(int argc, char **argv, const char *const *names, size_t n_names,
                    const char *dflt, const char *usage, int *ret_shift, int *ret_exit)
{
    const char *w = argc > 1 ? argv[1] : NULL;

    if (w && (strcmp(w, "-h") == 0 || strcmp(w, "--help") == 0)) {
        (void)fputs(usage, stdout);
        *ret_exit = KONCTL_EXIT_OK;
        return -1;
    }
    if (!w || is_option(w)) {
        for (size_t i = 0; dflt && i < n_names; i++) {
            if (strcmp(names[i], dflt) == 0) {
                *ret_shift = 0;
                return (int)i;
            }
        }
        if (w)
            konctl_error("unknown option '%s'", w);
        else
            konctl_error("'%s' needs a subcommand", argv[0]);
        goto usage_error;
    }
    for (size_t i = 0; i < n_names; i++) {
        if (strcmp(names[i], w) == 0) {
            *ret_shift = 1;
            return (int)i;
        }
    }
    konctl_error("unknown %s command '%s'", argv[0], w);
usage_error:
    (void)fputs(usage, stderr);
    *ret_exit = KONCTL_EXIT_USAGE;
    return -1;
}
