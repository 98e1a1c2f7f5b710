/* cmd_log: the security and system logs (docs/management-api.md, "Logs"). "log show" pages
 * through the entries, "log export" streams them as JSON Lines, "log verify" has the daemon
 * check records, hash chain and seals, "log stats" reports space and retention. "login" and
 * "logout" mark the administrator's session, from which the daemon counts the entries that
 * are new to them (TIP1-A_4996).
 *
 * Nothing here changes or deletes an entry: the API has no way to (TIP1-A_4709). Reading is
 * "log viewing" and works in every critical state. Tables and statistics are drawn by
 * logview.c.
 *
 * Invariants:
 *  1. Filters are checked for form (logview_query_parse) and sent as typed; ranges, log
 *     names and severities are the daemon's to judge.
 *  2. "log show --all" follows "next" only while it moves on in the order asked for; a
 *     cursor that does not is an unusable answer (exit 1), so a faulty daemon cannot make
 *     konctl loop forever.
 *  3. "log export --output FILE" leaves FILE as it was unless the whole export arrived: it
 *     writes a new file (mode 0600) next to FILE and renames it over FILE only at the end.
 *  4. "log verify" exits 9 exactly when the daemon's answer says "ok": false, with --json too.
 *  5. The verification key read for "log verify" is wiped from konctl's memory after use. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "http.h"
#include "konctl.h"
#include "logview.h"
#include "output.h"

/* How long stats, verify and export may take, in ms: the daemon reads the whole log for them
 * (up to SECLOG_CAPACITY_MB, 64 GiB), on a worker thread; for export the limit applies to
 * the time without data, as it streams. */
#define LOG_SCAN_TIMEOUT_MS (10 * 60 * 1000)

/* Largest verification key file read, in bytes: one line of about 120 characters. */
#define KEY_FILE_MAX 4096

/* Where the daemon writes the security log's verification key (docs/konctl.md). */
#define KEY_FILE_HINT "DATA/seclog-verification-key"

/* Pieces the export copies to stdout at a time, in bytes, cleaned of control characters. */
#define EXPORT_CHUNK 4096

static const char log_usage[] =
    "Usage: konctl log show [--log L] [FILTERS] [--limit N] [--oldest] [--all]\n"
    "                       [--before SEQ] [--after SEQ]\n"
    "       konctl log export [--log L] [FILTERS] [--output FILE]\n"
    "       konctl log verify [--log L] [--key FILE]\n"
    "       konctl log stats [--log L]\n"
    "\n"
    "show             entries, newest first, one page (the default); entries written since\n"
    "                 your last logout are marked with *. When there are more, the last line\n"
    "                 is the command for the next page\n"
    "  --limit N      entries per page (1..1000; the daemon's default is 100)\n"
    "  --oldest       oldest first\n"
    "  --all          every page until the end (1000 per page unless --limit)\n"
    "  --before SEQ   start before entry SEQ (newest first: the next page's cursor)\n"
    "  --after SEQ    start after entry SEQ (oldest first: the next page's cursor)\n"
    "export           every matching entry as JSON Lines, oldest first, to stdout\n"
    "  --output FILE  to FILE instead (mode 0600, replaced only once the export is complete)\n"
    "verify           check every record, the hash chain and the seals; exit 9 if the log\n"
    "                 does not verify\n"
    "  --key FILE     the verification key, to check the seals too: the daemon writes it to\n"
    "                 " KEY_FILE_HINT " for you to keep off the device\n"
    "stats            space used of the capacity, records, rates, how many days the space\n"
    "                 holds, entries per topic\n"
    "\n"
    "Every subcommand:\n"
    "  --log L        security (the default) or system\n"
    "Filters of show and export:\n"
    "  --from T       entries from T on: UTC as 2026-11-29T08:00:00Z, or ms since 1970\n"
    "  --to T         entries up to T\n"
    "  --severity S   at least S: Info, Warning, Error or Fatal\n"
    "  --topic P      topics that start with P, e.g. NK/FIREWALL\n";

static const char login_usage[] =
    "Usage: konctl login\n"
    "\n"
    "Logs in (POST /api/v1/session) and says how many security-log entries were written since\n"
    "your last logout (TIP1-A_4996); 'konctl log show' marks them with *.\n";

static const char logout_usage[] =
    "Usage: konctl logout\n"
    "\n"
    "Logs out (DELETE /api/v1/session): the next login counts new security-log entries from\n"
    "now on.\n";

/* Where the options sit in the tables of "log show" and "log export": the filters first. */
enum {
    OPT_LOG,
    OPT_FROM,
    OPT_TO,
    OPT_SEVERITY,
    OPT_TOPIC,
    OPT_LIMIT,              /* show only, from here on */
    OPT_OUTPUT = OPT_LIMIT, /* export only */
    OPT_BEFORE,
    OPT_AFTER,
    OPT_OLDEST,
    OPT_ALL,
    OPT_MAX
};

/* "singular" or "plural" after a count. */
static const char *plural(json_int_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

/* Appends "&key=value" (the first with "?"), value escaped. Returns 0 or -ENOMEM. */
static int query_add(FILE *m, bool *first, const char *key, const char *value)
{
    char *escaped = NULL;

    if (!value)
        return 0;
    escaped = http_escape(value);
    if (!escaped)
        return -ENOMEM;
    (void)fprintf(m, "%c%s=%s", *first ? '?' : '&', key, escaped);
    *first = false;
    free(escaped);
    return 0;
}

static void query_add_seq(FILE *m, bool *first, const char *key, uint64_t value)
{
    if (!value)
        return;
    (void)fprintf(m, "%c%s=%" PRIu64, *first ? '?' : '&', key, value);
    *first = false;
}

/* base plus the filters of q as a query string; page adds limit, order and cursors. Returns
 * a heap string for free(), or NULL when out of memory. */
static char *log_path(const char *base, const struct logview_query *q, bool page)
{
    bool first = true;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = NULL;
    int r = 0;

    m = open_memstream(&buf, &len);
    if (!m)
        return NULL;
    (void)fputs(base, m);
    r |= query_add(m, &first, "log", q->log);
    r |= query_add(m, &first, "from", q->from);
    r |= query_add(m, &first, "to", q->to);
    r |= query_add(m, &first, "severity", q->severity);
    r |= query_add(m, &first, "topic", q->topic);
    if (page) {
        query_add_seq(m, &first, "limit", q->limit);
        r |= query_add(m, &first, "order", q->oldest ? "oldest" : NULL);
        query_add_seq(m, &first, "before", q->before);
        query_add_seq(m, &first, "after", q->after);
    }
    if (fclose(m) != 0 || r != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* Parses the filter options into q; page: also those of a page (show). Returns an exit code. */
static int query_from_opts(const struct args_opt *opts, bool page, struct logview_query *q)
{
    struct logview_options o = {0};
    char err[512];

    o.log = opts[OPT_LOG].value;
    o.from = opts[OPT_FROM].value;
    o.to = opts[OPT_TO].value;
    o.severity = opts[OPT_SEVERITY].value;
    o.topic = opts[OPT_TOPIC].value;
    if (page) {
        o.limit = opts[OPT_LIMIT].value;
        o.before = opts[OPT_BEFORE].value;
        o.after = opts[OPT_AFTER].value;
        o.oldest = opts[OPT_OLDEST].value != NULL;
        o.all = opts[OPT_ALL].value != NULL;
    }
    if (logview_query_parse(&o, q, err, sizeof(err)) < 0) {
        konctl_error("%s", err);
        return KONCTL_EXIT_USAGE;
    }
    return KONCTL_EXIT_OK;
}

/* Characters per line on the terminal, or 0 when stdout is not one (no cutting). */
static size_t terminal_width(void)
{
    struct winsize ws;

    if (!isatty(STDOUT_FILENO))
        return 0;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

static int unusable_answer(const struct konctl *k, const char *what)
{
    konctl_error("the answer from %s is not usable: %s",
                 k->http ? http_client_url(k->http) : k->url, what);
    return KONCTL_EXIT_ERROR;
}

static int out_of_memory(void)
{
    konctl_error("out of memory");
    return KONCTL_EXIT_ERROR;
}

/* One page: the table, its legend and the command for the next page. */
static int show_page(struct konctl *k, const struct logview_query *q)
{
    const char *last_logout = NULL;
    const json_t *entries = NULL;
    struct logview_table table;
    json_t *answer = NULL;
    char *next_cmd = NULL;
    char *path = NULL;
    uint64_t next = 0;
    int r;

    path = log_path("/api/v1/log", q, true);
    if (!path)
        return out_of_memory();
    r = konctl_call(k, "GET", path, NULL, &answer);
    if (r != KONCTL_EXIT_OK)
        goto out;
    if (k->json) {
        (void)out_json_print(stdout, answer);
        goto out;
    }
    if (logview_page_parse(answer, &entries, &next) < 0) {
        r = unusable_answer(k, "no list of entries");
        goto out;
    }
    last_logout = json_string_value(json_object_get(answer, "last_logout"));
    logview_table_init(&table, terminal_width(), k->color);
    if (logview_table_print(&table, stdout, entries) == -ENOMEM ||
        logview_table_finish(&table, stdout, last_logout) == -ENOMEM) {
        r = out_of_memory();
        goto out;
    }
    if (next) {
        next_cmd = logview_next_command(q, next);
        if (!next_cmd) {
            r = out_of_memory();
            goto out;
        }
        (void)printf("next page: %s\n", next_cmd);
    }
out:
    free(next_cmd);
    free(path);
    json_decref(answer);
    return r;
}

/* Whether next moves on from the cursor of the page just read (invariant 2). */
static bool cursor_moves_on(const struct logview_query *q, uint64_t next)
{
    if (q->oldest)
        return next > q->after;
    return q->before == 0 || next < q->before;
}

/* Every page, until "next" is null: one table, or with --json one object. */
static int show_all(struct konctl *k, struct logview_query q)
{
    struct logview_table table;
    char *last_logout = NULL;
    json_t *answer = NULL;
    char *path = NULL;
    size_t count = 0;
    uint64_t next = 0;
    int r = KONCTL_EXIT_OK;

    logview_table_init(&table, terminal_width(), k->color);
    if (k->json)
        (void)logview_json_begin(stdout);
    do {
        const json_t *entries = NULL;
        const char *logout = NULL;

        path = log_path("/api/v1/log", &q, true);
        if (!path) {
            r = out_of_memory();
            goto out;
        }
        r = konctl_call(k, "GET", path, NULL, &answer);
        if (r != KONCTL_EXIT_OK)
            goto out;
        if (logview_page_parse(answer, &entries, &next) < 0) {
            r = unusable_answer(k, "no list of entries");
            goto out;
        }
        if (next && !cursor_moves_on(&q, next)) {
            r = unusable_answer(k, "the next page's cursor does not move on");
            goto out;
        }
        logout = json_string_value(json_object_get(answer, "last_logout"));
        if (logout && !last_logout && !(last_logout = strdup(logout))) {
            r = out_of_memory();
            goto out;
        }
        if ((k->json ? logview_json_add(stdout, entries, &count)
                     : logview_table_print(&table, stdout, entries)) == -ENOMEM) {
            r = out_of_memory();
            goto out;
        }
        if (q.oldest)
            q.after = next;
        else
            q.before = next;
        free(path);
        path = NULL;
        json_decref(answer);
        answer = NULL;
    } while (next);
    if (k->json)
        (void)logview_json_end(stdout, count);
    else
        (void)logview_table_finish(&table, stdout, last_logout);
out:
    free(last_logout);
    free(path);
    json_decref(answer);
    return r;
}

static int log_show(struct konctl *k, int argc, char **argv)
{
    struct args_opt opts[OPT_MAX] = {
        [OPT_LOG] = {"log", true, NULL},        [OPT_FROM] = {"from", true, NULL},
        [OPT_TO] = {"to", true, NULL},          [OPT_SEVERITY] = {"severity", true, NULL},
        [OPT_TOPIC] = {"topic", true, NULL},    [OPT_LIMIT] = {"limit", true, NULL},
        [OPT_BEFORE] = {"before", true, NULL},  [OPT_AFTER] = {"after", true, NULL},
        [OPT_OLDEST] = {"oldest", false, NULL}, [OPT_ALL] = {"all", false, NULL},
    };
    struct logview_query q;
    struct args a;
    int r;

    if (!args_command(k, argc, argv, opts, ARRAY_SIZE(opts), 0, 0, log_usage, &a, &r))
        return r;
    r = query_from_opts(opts, true, &q);
    if (r != KONCTL_EXIT_OK)
        return r;
    if (opts[OPT_ALL].value)
        return show_all(k, q);
    return show_page(k, &q);
}

/* Where the export goes, and what went through. */
struct export_sink {
    FILE *f;
    bool clean;        /* stdout: control characters other than newlines become spaces */
    uint64_t entries;  /* lines that held text */
    size_t line_chars; /* bytes since the last newline */
    int error;         /* errno of a failed write, else 0 */
};

static int export_write(const char *data, size_t len, void *arg)
{
    struct export_sink *s = arg;
    char chunk[EXPORT_CHUNK];

    for (size_t i = 0; i < len; i++) {
        if (data[i] != '\n') {
            s->line_chars++;
        } else if (s->line_chars > 0) {
            s->entries++;
            s->line_chars = 0;
        }
    }
    errno = 0;
    if (!s->clean) {
        if (fwrite(data, 1, len, s->f) != len)
            s->error = errno ? errno : EIO;
        return s->error ? -1 : 0;
    }
    /* Valid JSON has no raw control characters, so cleaning changes no entry; it keeps a
     * faulty daemon from writing escape sequences to a terminal. */
    for (size_t done = 0; done < len && !s->error;) {
        size_t n = len - done < sizeof(chunk) ? len - done : sizeof(chunk);

        for (size_t i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)data[done + i];
            chunk[i] = (ch < 0x20 && ch != '\n') || ch == 0x7f ? ' ' : (char)ch;
        }
        if (fwrite(chunk, 1, n, s->f) != n)
            s->error = errno ? errno : EIO;
        done += n;
    }
    return s->error ? -1 : 0;
}

/* A last line without its newline still counts; it gets one, so the output is JSON Lines. */
static void export_end_line(struct export_sink *s)
{
    if (s->line_chars == 0)
        return;
    s->entries++;
    s->line_chars = 0;
    if (fputc('\n', s->f) == EOF)
        s->error = errno ? errno : EIO;
}

/* Creates FILE.XXXXXX next to FILE for the export, mode 0600: the log is for administrators
 * only. Returns an exit code. */
static int export_file_open(const char *file, char **ret_tmp, FILE **ret_f)
{
    char *tmp = NULL;
    FILE *f = NULL;
    int fd = -1, r = file_temp_open(file, &tmp, &fd);

    if (r != KONCTL_EXIT_OK)
        return r;
    f = fdopen(fd, "w");
    if (!f) {
        konctl_error("cannot write '%s': %s", tmp, strerror(errno));
        (void)close(fd);
        (void)unlink(tmp);
        free(tmp);
        return KONCTL_EXIT_ERROR;
    }
    *ret_tmp = tmp;
    *ret_f = f;
    return KONCTL_EXIT_OK;
}

/* Makes the finished temporary file FILE (invariant 3). Returns an exit code. */
static int export_file_commit(FILE *f, const char *tmp, const char *file)
{
    int r = 0;

    if (fflush(f) != 0 || fsync(fileno(f)) < 0)
        r = -errno;
    if (fclose(f) != 0 && r == 0)
        r = -errno;
    return file_replace(r, tmp, file);
}

static int log_export(struct konctl *k, int argc, char **argv)
{
    struct args_opt opts[OPT_OUTPUT + 1] = {
        [OPT_LOG] = {"log", true, NULL},     [OPT_FROM] = {"from", true, NULL},
        [OPT_TO] = {"to", true, NULL},       [OPT_SEVERITY] = {"severity", true, NULL},
        [OPT_TOPIC] = {"topic", true, NULL}, [OPT_OUTPUT] = {"output", true, NULL},
    };
    const char *file = NULL;
    struct export_sink sink = {0};
    struct logview_query q;
    char *path = NULL;
    char *tmp = NULL;
    struct args a;
    int r;

    if (!args_command(k, argc, argv, opts, ARRAY_SIZE(opts), 0, 0, log_usage, &a, &r))
        return r;
    r = query_from_opts(opts, false, &q);
    if (r != KONCTL_EXIT_OK)
        return r;
    file = opts[OPT_OUTPUT].value;
    path = log_path("/api/v1/log/export", &q, false);
    if (!path)
        return out_of_memory();
    if (file) {
        r = export_file_open(file, &tmp, &sink.f);
        if (r != KONCTL_EXIT_OK)
            goto out;
    } else {
        sink.f = stdout;
        sink.clean = true;
    }
    k->timeout_ms = LOG_SCAN_TIMEOUT_MS;
    r = konctl_stream(k, "GET", path, "application/x-ndjson, application/json", export_write,
                      &sink);
    if (r == KONCTL_EXIT_OK)
        export_end_line(&sink);
    if (sink.error) {
        konctl_error("cannot write %s%s%s: %s", file ? "'" : "", file ? file : "the output",
                     file ? "'" : "", strerror(sink.error));
        r = KONCTL_EXIT_ERROR;
    }
    if (file && r == KONCTL_EXIT_OK) {
        r = export_file_commit(sink.f, tmp, file);
        sink.f = NULL;
        if (r == KONCTL_EXIT_OK)
            (void)fprintf(stderr, "exported %" PRIu64 " %s to %s\n", sink.entries,
                          sink.entries == 1 ? "entry" : "entries", file);
    }
out:
    if (file && sink.f) {
        (void)fclose(sink.f);
        (void)unlink(tmp);
    }
    free(tmp);
    free(path);
    return r;
}

/* Reads the verification key file into *ret_text (heap, wipe before free). Returns an exit
 * code. */
static int key_read(const char *file, char **ret_text)
{
    char *buf = NULL;
    size_t len = 0;
    ssize_t n;
    int fd = -1;
    int r;

    fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        konctl_error("cannot open the key file '%s': %s", file, strerror(errno));
        konctl_hint("the daemon writes the security log's key to " KEY_FILE_HINT);
        return KONCTL_EXIT_USAGE;
    }
    buf = calloc(1, KEY_FILE_MAX + 1);
    if (!buf) {
        r = out_of_memory();
        goto out;
    }
    while (len < KEY_FILE_MAX) {
        n = read(fd, buf + len, KEY_FILE_MAX - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            konctl_error("cannot read the key file '%s': %s", file, strerror(errno));
            r = KONCTL_EXIT_USAGE;
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len == KEY_FILE_MAX || len == 0 || strlen(buf) != len) {
        konctl_error("'%s' does not hold a verification key", file);
        r = KONCTL_EXIT_USAGE;
        goto out;
    }
    *ret_text = buf;
    buf = NULL;
    r = KONCTL_EXIT_OK;
out:
    if (buf) {
        explicit_bzero(buf, KEY_FILE_MAX + 1);
        free(buf);
    }
    (void)close(fd);
    return r;
}

/* "OK: ..." or "TAMPERED: ...", and a note when the seals went unchecked. */
static void print_verify(const json_t *v, bool ok, const char *log, bool key_given)
{
    const json_t *bad = json_object_get(v, "first_bad_seq");
    json_int_t records = json_integer_value(json_object_get(v, "records"));
    json_int_t segments = json_integer_value(json_object_get(v, "segments"));
    json_int_t seals = json_integer_value(json_object_get(v, "seals_checked"));
    char *first = out_json_text(json_object_get(v, "first_seq"));
    char *last = out_json_text(json_object_get(v, "last_seq"));
    char *reason = out_json_text(json_object_get(v, "reason"));
    char *bad_text = out_json_text(bad);

    if (ok) {
        (void)printf("OK: %" JSON_INTEGER_FORMAT " %s in %" JSON_INTEGER_FORMAT
                     " %s, seq %s..%s, %" JSON_INTEGER_FORMAT " %s checked\n",
                     records, plural(records, "record", "records"), segments,
                     plural(segments, "segment", "segments"), first ? first : "?",
                     last ? last : "?", seals, plural(seals, "seal", "seals"));
    } else if (json_is_integer(bad) && json_integer_value(bad) > 0) {
        (void)printf("TAMPERED: first bad record %s: %s\n", bad_text ? bad_text : "?",
                     reason ? reason : "?");
    } else {
        (void)printf("TAMPERED: %s\n", reason ? reason : "?");
    }
    /* The system log has no seals; only the security log's key can be given. */
    if (ok && json_is_true(json_object_get(v, "seals_unchecked")) && !key_given &&
        (!log || strcmp(log, "security") == 0))
        (void)printf("note: the seals were not checked; give the verification key with "
                     "--key " KEY_FILE_HINT "\n");
    free(first);
    free(last);
    free(reason);
    free(bad_text);
}

static int log_verify(struct konctl *k, int argc, char **argv)
{
    struct args_opt opts[] = {{"log", true, NULL}, {"key", true, NULL}};
    const char *log = NULL;
    json_t *answer = NULL;
    json_t *body = NULL;
    json_t *key = NULL;
    char *key_text = NULL;
    struct args a;
    bool ok;
    int r;

    if (!args_command(k, argc, argv, opts, ARRAY_SIZE(opts), 0, 0, log_usage, &a, &r))
        return r;
    log = opts[0].value;
    if (opts[1].value) {
        r = key_read(opts[1].value, &key_text);
        if (r != KONCTL_EXIT_OK)
            return r;
        key = json_string(key_text);
        if (!key) {
            /* jansson takes UTF-8 only; running out of memory is the other cause. */
            konctl_error("'%s' does not hold a verification key (not text)", opts[1].value);
            r = KONCTL_EXIT_USAGE;
            goto out;
        }
    }
    body = json_pack("{s:s}", "log", log ? log : "security");
    if (!body) {
        /* As above: not UTF-8, or out of memory. */
        konctl_error("cannot send the log name '%s': not valid UTF-8", log);
        r = KONCTL_EXIT_USAGE;
        goto out;
    }
    if (key && json_object_set(body, "key", key) < 0) {
        r = out_of_memory();
        goto out;
    }
    k->timeout_ms = LOG_SCAN_TIMEOUT_MS;
    r = konctl_call(k, "POST", "/api/v1/log/verify", body, &answer);
    if (r != KONCTL_EXIT_OK)
        goto out;
    if (!json_is_boolean(json_object_get(answer, "ok"))) {
        r = unusable_answer(k, "no \"ok\" in the verification result");
        goto out;
    }
    ok = json_is_true(json_object_get(answer, "ok"));
    if (k->json)
        (void)out_json_print(stdout, answer);
    else
        print_verify(answer, ok, log, key != NULL);
    r = ok ? KONCTL_EXIT_OK : KONCTL_EXIT_UNVERIFIED;
out:
    if (key) {
        /* jansson keeps its own copy of the key (invariant 5). */
        explicit_bzero((char *)json_string_value(key), json_string_length(key));
        json_decref(key);
    }
    if (key_text) {
        explicit_bzero(key_text, KEY_FILE_MAX + 1);
        free(key_text);
    }
    json_decref(body);
    json_decref(answer);
    return r;
}

static int log_stats(struct konctl *k, int argc, char **argv)
{
    struct args_opt opts[] = {{"log", true, NULL}};
    struct logview_query q = {0};
    json_t *answer = NULL;
    char *path = NULL;
    struct args a;
    int r;

    if (!args_command(k, argc, argv, opts, ARRAY_SIZE(opts), 0, 0, log_usage, &a, &r))
        return r;
    q.log = opts[0].value;
    path = log_path("/api/v1/log/stats", &q, false);
    if (!path)
        return out_of_memory();
    k->timeout_ms = LOG_SCAN_TIMEOUT_MS;
    r = konctl_call(k, "GET", path, NULL, &answer);
    if (r != KONCTL_EXIT_OK)
        goto out;
    if (k->json)
        (void)out_json_print(stdout, answer);
    else if (logview_stats_print(stdout, answer, q.log, k->color) == -ENOMEM)
        r = out_of_memory();
out:
    free(path);
    json_decref(answer);
    return r;
}

int cmd_log(struct konctl *k, int argc, char **argv)
{
    static const char *const names[] = {"show", "export", "verify", "stats"};
    int shift = 0;
    int r;
    int i;

    i = args_subcommand(argc, argv, names, ARRAY_SIZE(names), "show", log_usage, &shift, &r);
    argc -= shift;
    argv += shift;
    switch (i) {
    case 0:
        return log_show(k, argc, argv);
    case 1:
        return log_export(k, argc, argv);
    case 2:
        return log_verify(k, argc, argv);
    case 3:
        return log_stats(k, argc, argv);
    default:
        return r;
    }
}

/* "logged in as U (ROLE); N new security-log entries since your last logout at T". */
static void print_login(const struct konctl *k, const json_t *answer)
{
    const json_t *count = json_object_get(answer, "new_security_entries");
    const json_t *logout = json_object_get(answer, "last_logout");
    char *user = out_json_text(json_object_get(answer, "user"));
    char *role = out_json_text(json_object_get(answer, "role"));
    char *when = out_json_text(logout);
    char *n = out_json_text(count);
    bool one = json_is_integer(count) && json_integer_value(count) == 1;

    /* The daemon stops counting at a limit and says so with "at_least". */
    (void)printf("logged in as %s (%s); %s%s new security-log %s ", user ? user : k->user,
                 role ? role : "?",
                 json_is_true(json_object_get(answer, "at_least")) ? "at least " : "", n ? n : "?",
                 one ? "entry" : "entries");
    if (json_is_string(logout))
        (void)printf("since your last logout at %s\n", when ? when : "?");
    else
        (void)printf("(no logout of yours recorded before)\n");
    if (json_is_integer(count) && json_integer_value(count) > 0)
        (void)printf("'konctl log show' lists them, marked with *\n");
    free(user);
    free(role);
    free(when);
    free(n);
}

int cmd_login(struct konctl *k, int argc, char **argv)
{
    json_t *answer = NULL;
    struct args a;
    int r;

    if (!args_command(k, argc, argv, NULL, 0, 0, 0, login_usage, &a, &r))
        return r;
    r = konctl_call(k, "POST", "/api/v1/session", NULL, &answer);
    if (r != KONCTL_EXIT_OK)
        return r;
    if (k->json)
        (void)out_json_print(stdout, answer);
    else
        print_login(k, answer);
    json_decref(answer);
    return r;
}

/* "logged out U at T; ...", from the answer ({"user", "logged_out"}) where it says. */
static void print_logout(const struct konctl *k, const json_t *answer)
{
    char *user = out_json_text(json_object_get(answer, "user"));
    char *when = out_json_text(json_object_get(answer, "logged_out"));

    if (json_is_string(json_object_get(answer, "logged_out")))
        (void)printf("logged out %s at %s; the next login counts new security-log entries from "
                     "there\n",
                     json_is_string(json_object_get(answer, "user")) && user ? user : k->user,
                     when ? when : "?");
    else
        (void)printf("logged out %s; the next login counts new security-log entries from now\n",
                     k->user);
    free(user);
    free(when);
}

int cmd_logout(struct konctl *k, int argc, char **argv)
{
    json_t *answer = NULL;
    struct args a;
    int r;

    if (!args_command(k, argc, argv, NULL, 0, 0, 0, logout_usage, &a, &r))
        return r;
    r = konctl_call(k, "DELETE", "/api/v1/session", NULL, &answer);
    if (r != KONCTL_EXIT_OK)
        return r;
    if (k->json)
        (void)out_json_print(stdout, answer);
    else
        print_logout(k, answer);
    json_decref(answer);
    return r;
}
