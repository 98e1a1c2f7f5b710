/* logview: the filters, pages, table and statistics of "konctl log" (logview.h).
 *
 * It does not talk to the daemon: cmd_log.c sends the requests and hands the answers here.
 *
 * Invariants:
 *  1. Every piece of daemon text passes through out_text_clean() before it is printed.
 *  2. A value typed by the user goes back on a printed command line (the next page's) only
 *     quoted for a POSIX shell, so that copying the line runs the same query.
 *  3. Column widths count characters (UTF-8 code points), as output.c does; a line cut to the
 *     terminal's width is cut between characters, never inside one. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "konctl.h"
#include "logview.h"
#include "output.h"

#define ANSI_RESET "\033[0m"
#define ANSI_BOLD "\033[1m"

/* What ends a line cut to the terminal's width. */
#define CUT_MARK "…"

/* Bytes in 1 MiB, for the statistics. */
#define MIB (1024.0 * 1024.0)

/* ---- the filters ------------------------------------------------------------------------ */

int logview_query_parse(const struct logview_options *o, struct logview_query *ret, char *err,
                        size_t err_size)
{
    const struct {
        const char *name;
        const char *value;
    } times[] = {{"from", o->from}, {"to", o->to}};
    struct logview_query q = {0};

    for (size_t i = 0; i < ARRAY_SIZE(times); i++) {
        int r;

        if (!times[i].value)
            continue;
        r = args_time_check(times[i].value);
        if (r < 0) {
            (void)snprintf(err, err_size,
                           "--%s takes a UTC time like 2026-11-29T08:00:00Z or ms since 1970, "
                           "not '%s'%s",
                           times[i].name, times[i].value, r == -ERANGE ? " (out of range)" : "");
            return -EINVAL;
        }
    }
    if (o->limit && (args_uint_parse(o->limit, INT64_MAX, &q.limit) < 0 || q.limit == 0)) {
        (void)snprintf(err, err_size, "--limit takes a number of entries from 1, not '%s'",
                       o->limit);
        return -EINVAL;
    }
    if (o->before && args_uint_parse(o->before, INT64_MAX, &q.before) < 0) {
        (void)snprintf(err, err_size, "--before takes a sequence number, not '%s'", o->before);
        return -EINVAL;
    }
    if (o->after && args_uint_parse(o->after, INT64_MAX, &q.after) < 0) {
        (void)snprintf(err, err_size, "--after takes a sequence number, not '%s'", o->after);
        return -EINVAL;
    }
    if (o->all && !o->limit)
        q.limit = LOGVIEW_PAGE_MAX; /* fewer round trips; the daemon's default is 100 */
    q.log = o->log;
    q.from = o->from;
    q.to = o->to;
    q.severity = o->severity ? args_severity_expand(o->severity) : NULL;
    q.topic = o->topic;
    q.oldest = o->oldest;
    *ret = q;
    return 0;
}

static bool is_shell_safe(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("-_./:=@%+,", c) != NULL;
}

/* One word for a POSIX shell: as it is when that is safe, else in single quotes, with each
 * single quote written as '\''. Control characters become spaces (the line is one line). */
static void shell_word(FILE *m, const char *s)
{
    bool safe = s[0] != '\0';

    for (const char *p = s; *p && safe; p++)
        safe = is_shell_safe(*p);
    if (safe) {
        (void)fputs(s, m);
        return;
    }
    (void)fputc('\'', m);
    for (const char *p = s; *p; p++) {
        unsigned char ch = (unsigned char)*p;

        if (ch == '\'')
            (void)fputs("'\\''", m);
        else
            (void)fputc(ch < 0x20 || ch == 0x7f ? ' ' : ch, m);
    }
    (void)fputc('\'', m);
}

static void shell_option(FILE *m, const char *name, const char *value)
{
    if (!value)
        return;
    (void)fprintf(m, " --%s ", name);
    shell_word(m, value);
}

char *logview_next_command(const struct logview_query *q, uint64_t next)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = NULL;

    m = open_memstream(&buf, &len);
    if (!m)
        return NULL;
    (void)fputs("konctl log show", m);
    shell_option(m, "log", q->log);
    shell_option(m, "from", q->from);
    shell_option(m, "to", q->to);
    shell_option(m, "severity", q->severity);
    shell_option(m, "topic", q->topic);
    if (q->limit)
        (void)fprintf(m, " --limit %" PRIu64, q->limit);
    if (q->oldest) {
        (void)fputs(" --oldest", m);
        if (q->before)
            (void)fprintf(m, " --before %" PRIu64, q->before);
        (void)fprintf(m, " --after %" PRIu64, next);
    } else {
        if (q->after)
            (void)fprintf(m, " --after %" PRIu64, q->after);
        (void)fprintf(m, " --before %" PRIu64, next);
    }
    if (fclose(m) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

int logview_page_parse(const json_t *answer, const json_t **ret_entries, uint64_t *ret_next)
{
    const json_t *entries = json_object_get(answer, "entries");
    const json_t *next = json_object_get(answer, "next");

    if (!json_is_array(entries))
        return -EBADMSG;
    if (next && !json_is_null(next) && (!json_is_integer(next) || json_integer_value(next) <= 0))
        return -EBADMSG;
    *ret_entries = entries;
    *ret_next = json_is_integer(next) ? (uint64_t)json_integer_value(next) : 0;
    return 0;
}

/* ---- the table of entries --------------------------------------------------------------- */

/* Empty, or holding what would split or blur the "key=value" list: blanks (control
 * characters become blanks when cleaned), quotes, backslashes. */
static bool needs_quotes(const char *s)
{
    if (s[0] == '\0')
        return true;
    for (const char *p = s; *p; p++) {
        unsigned char ch = (unsigned char)*p;

        if (ch <= 0x20 || ch == 0x7f || ch == '"' || ch == '\\')
            return true;
    }
    return false;
}

static void param_value(FILE *m, const json_t *v)
{
    const char *s = json_string_value(v);
    char *text = NULL;

    if (!s) {
        text = out_json_text(v);
        (void)fputs(text ? text : "?", m);
        free(text);
        return;
    }
    if (!needs_quotes(s)) {
        (void)fputs(s, m);
        return;
    }
    (void)fputc('"', m);
    for (const char *p = s; *p; p++) {
        if (*p == '"' || *p == '\\')
            (void)fputc('\\', m);
        (void)fputc(*p, m);
    }
    (void)fputc('"', m);
}

char *logview_params_text(const json_t *params)
{
    const char *key = NULL;
    json_t *value = NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = NULL;
    bool any = false;

    m = open_memstream(&buf, &len);
    if (!m)
        return NULL;
    /* The daemon's order: that of the record's parameters. */
    json_object_foreach((json_t *)params, key, value)
    {
        (void)fprintf(m, "%s%s=", any ? " " : "", key);
        param_value(m, value);
        any = true;
    }
    if (!any)
        (void)fputs("-", m);
    if (fclose(m) != 0) {
        free(buf);
        return NULL;
    }
    return out_text_clean(buf);
}

/* The column titles, and the fields of an entry shown in the columns before PARAMS. */
static const char *const table_headers[LOGVIEW_COLS] = {"SEQ", "TIME", "SEVERITY", "TOPIC",
                                                        "PARAMS"};
static const char *const table_fields[LOGVIEW_COLS - 1] = {"seq", "time", "severity", "topic"};

void logview_table_init(struct logview_table *t, size_t max_width, bool color)
{
    memset(t, 0, sizeof(*t));
    t->max_width = max_width;
    t->color = color;
    for (size_t i = 0; i < LOGVIEW_COLS; i++)
        t->width[i] = out_text_width(table_headers[i]);
}

/* Writes s to f cut to max characters (0: no limit), ending in CUT_MARK when cut. */
static void put_cut(FILE *f, const char *s, size_t max)
{
    size_t chars = 0;
    size_t i;

    if (max == 0 || out_text_width(s) <= max) {
        (void)fputs(s, f);
        return;
    }
    /* Up to the start of character number max, leaving one column for the mark. */
    for (i = 0; s[i]; i++) {
        if (((unsigned char)s[i] & 0xc0) != 0x80 && chars++ == max - 1)
            break;
    }
    (void)fwrite(s, 1, i, f);
    (void)fputs(CUT_MARK, f);
}

/* One line: the marker column, then the cells, SEQ aligned right and the rest left. */
static int print_row(const struct logview_table *t, FILE *f, char marker, const char *const *cells,
                     bool bold)
{
    char *line = NULL;
    size_t len = 0;
    FILE *m = NULL;

    m = open_memstream(&line, &len);
    if (!m)
        return -ENOMEM;
    (void)fprintf(m, "%c ", marker);
    for (size_t col = 0; col < LOGVIEW_COLS; col++) {
        size_t pad = t->width[col] - out_text_width(cells[col]);

        if (col == 0)
            (void)fprintf(m, "%*s%s", (int)pad, "", cells[col]);
        else if (col + 1 < LOGVIEW_COLS)
            (void)fprintf(m, "%s%*s", cells[col], (int)pad, "");
        else
            (void)fputs(cells[col], m);
        if (col + 1 < LOGVIEW_COLS)
            (void)fputs("  ", m);
    }
    if (fclose(m) != 0) {
        free(line);
        return -ENOMEM;
    }
    if (bold)
        (void)fputs(ANSI_BOLD, f);
    put_cut(f, line, t->max_width);
    if (bold)
        (void)fputs(ANSI_RESET, f);
    (void)fputc('\n', f);
    free(line);
    return ferror(f) ? -EIO : 0;
}

static void cells_free(char **cells, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(cells[i]);
}

int logview_table_print(struct logview_table *t, FILE *f, const json_t *entries)
{
    size_t n = json_array_size(entries);
    char **cells = NULL;
    const json_t *e = NULL;
    size_t i;
    int r = 0;

    if (n == 0)
        return 0;
    cells = calloc(n * LOGVIEW_COLS, sizeof(*cells));
    if (!cells)
        return -ENOMEM;
    json_array_foreach(entries, i, e)
    {
        char **row = &cells[i * LOGVIEW_COLS];

        for (size_t col = 0; col < LOGVIEW_COLS - 1; col++)
            row[col] = out_json_text(json_object_get(e, table_fields[col]));
        row[LOGVIEW_COLS - 1] = logview_params_text(json_object_get(e, "params"));
        for (size_t col = 0; col < LOGVIEW_COLS; col++) {
            if (!row[col]) {
                r = -ENOMEM;
                goto out;
            }
            if (out_text_width(row[col]) > t->width[col])
                t->width[col] = out_text_width(row[col]);
        }
    }
    if (!t->header_done) {
        r = print_row(t, f, ' ', table_headers, t->color);
        if (r < 0)
            goto out;
        t->header_done = true;
    }
    json_array_foreach(entries, i, e)
    {
        bool is_new = json_is_true(json_object_get(e, "new"));

        r = print_row(t, f, is_new ? '*' : ' ', (const char *const *)&cells[i * LOGVIEW_COLS],
                      false);
        if (r < 0)
            goto out;
        t->rows++;
        t->new_rows += is_new;
    }
out:
    cells_free(cells, n * LOGVIEW_COLS);
    free(cells);
    return r;
}

int logview_table_finish(const struct logview_table *t, FILE *f, const char *last_logout)
{
    char when[128];

    if (t->rows == 0)
        (void)fputs("no entries\n", f);
    if (t->new_rows > 0 && last_logout) {
        (void)snprintf(when, sizeof(when), "%s", last_logout);
        (void)fprintf(f, "* written since your last logout at %s\n", out_text_clean(when));
    } else if (t->new_rows > 0) {
        (void)fputs("* written since your last logout\n", f);
    }
    return ferror(f) ? -EIO : 0;
}

/* ---- --json --all ----------------------------------------------------------------------- */

int logview_json_begin(FILE *f)
{
    (void)fputs("{\n  \"entries\": [", f);
    return ferror(f) ? -EIO : 0;
}

int logview_json_add(FILE *f, const json_t *entries, size_t *count)
{
    const json_t *e = NULL;
    size_t i;

    json_array_foreach(entries, i, e)
    {
        char *text = json_dumps(e, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENCODE_ANY);

        if (!text)
            return -ENOMEM;
        /* Two levels deeper than on its own: inside the object, inside the array. */
        (void)fputs(*count ? ",\n    " : "\n    ", f);
        for (const char *p = text; *p; p++) {
            (void)fputc(*p, f);
            if (*p == '\n')
                (void)fputs("    ", f);
        }
        free(text);
        (*count)++;
    }
    return ferror(f) ? -EIO : 0;
}

int logview_json_end(FILE *f, size_t count)
{
    (void)fputs(count ? "\n  ]\n}\n" : "]\n}\n", f);
    return ferror(f) ? -EIO : 0;
}

/* ---- statistics ------------------------------------------------------------------------- */

/* A JSON number as a double; false when v is not a number. */
static bool number_get(const json_t *v, double *ret)
{
    if (!json_is_number(v))
        return false;
    *ret = json_number_value(v);
    return true;
}

static void add_row(struct out_table *t, const char *key, const char *value)
{
    out_table_add(t, key);
    out_table_add(t, value);
}

static void add_row_json(struct out_table *t, const char *key, const json_t *value)
{
    out_table_add(t, key);
    out_table_add_json(t, value);
}

/* "12897280 of 268435456 bytes (12.3 of 256.0 MiB, 4.8%)". */
static void add_row_used(struct out_table *t, const json_t *stats)
{
    const json_t *used = json_object_get(stats, "used_bytes");
    const json_t *cap = json_object_get(stats, "capacity_bytes");
    char *used_text = out_json_text(used);
    char *cap_text = out_json_text(cap);
    char text[256];
    double u;
    double c;

    if (number_get(used, &u) && number_get(cap, &c) && c > 0)
        (void)snprintf(text, sizeof(text), "%s of %s bytes (%.1f of %.1f MiB, %.1f%%)",
                       used_text ? used_text : "?", cap_text ? cap_text : "?", u / MIB, c / MIB,
                       100.0 * u / c);
    else
        (void)snprintf(text, sizeof(text), "%s of %s bytes", used_text ? used_text : "?",
                       cap_text ? cap_text : "?");
    add_row(t, "used:", text);
    free(used_text);
    free(cap_text);
}

/* "A of B" from two fields. */
static void add_row_pair(struct out_table *t, const char *key, const json_t *a, const json_t *b,
                         const char *sep)
{
    char *a_text = out_json_text(a);
    char *b_text = out_json_text(b);
    char text[128];

    (void)snprintf(text, sizeof(text), "%s%s%s", a_text ? a_text : "?", sep, b_text ? b_text : "?");
    add_row(t, key, text);
    free(a_text);
    free(b_text);
}

/* "1234567 (1.2 MiB)". */
static void add_row_rate(struct out_table *t, const json_t *rate)
{
    char text[128];
    double v;

    if (!number_get(rate, &v)) {
        add_row_json(t, "bytes per day:", rate);
        return;
    }
    (void)snprintf(text, sizeof(text), "%.0f (%.1f MiB)", v, v / MIB);
    add_row(t, "bytes per day:", text);
}

/* The settings that govern a log, for the warning (docs/settings.md). */
static void log_settings(const char *log, const char **ret_days, const char **ret_capacity)
{
    if (log && strcmp(log, "system") == 0) {
        *ret_days = "LOG_DAYS";
        *ret_capacity = "SYSLOG_CAPACITY_MB";
    } else {
        *ret_days = "SECURITY_LOG_DAYS";
        *ret_capacity = "SECLOG_CAPACITY_MB";
    }
}

/* Whole days, rounded down: the log keeps every one of them. d >= 0. */
static double days_down(double d)
{
    /* Beyond 1e15 days there is no fraction worth dropping, and the cast would overflow. */
    return d < 1e15 ? (double)(int64_t)d : d;
}

/* "retention possible: N days (setting: M days)" and, when N < M, the warning. */
static void print_retention(FILE *f, const json_t *stats, const char *log)
{
    const json_t *setting = json_object_get(stats, "retention_days_setting");
    char *setting_text = out_json_text(setting);
    const char *days_name;
    const char *capacity_name;
    double possible;
    double set;

    log_settings(log, &days_name, &capacity_name);
    if (!number_get(json_object_get(stats, "retention_days_possible"), &possible) ||
        possible <= 0) {
        /* The daemon sends 0 until entries of the last 24 h give a rate. */
        (void)fprintf(f, "retention possible: unknown, no rate yet (setting: %s days)\n",
                      setting_text ? setting_text : "?");
        free(setting_text);
        return;
    }
    (void)fprintf(f, "retention possible: %.0f days (setting: %s days)\n", days_down(possible),
                  setting_text ? setting_text : "?");
    if (number_get(setting, &set) && possible < set)
        (void)fprintf(f,
                      "warning: at this rate the space holds only %.0f of the %.0f days of %s;\n"
                      "         entries are evicted before their time (EC_LOG_OVERFLOW): raise "
                      "%s\n",
                      days_down(possible), set, days_name, capacity_name);
    free(setting_text);
}

struct topic_count {
    const char *topic;
    json_int_t count;
};

/* Most entries first; equal counts by name, so the order is stable. */
static int topic_cmp(const void *a, const void *b)
{
    const struct topic_count *x = a;
    const struct topic_count *y = b;

    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return strcmp(x->topic, y->topic);
}

static int print_topics(FILE *f, const json_t *topics, bool color)
{
    static const char *const headers[] = {"TOPIC", "ENTRIES"};
    size_t n = json_object_size(topics);
    struct topic_count *list = NULL;
    struct out_table *t = NULL;
    const char *key = NULL;
    json_t *value = NULL;
    size_t i = 0;
    int r;

    if (n == 0) {
        (void)fputs("no topics\n", f);
        return ferror(f) ? -EIO : 0;
    }
    list = calloc(n, sizeof(*list));
    t = out_table_new(ARRAY_SIZE(headers), headers);
    if (!list || !t) {
        r = -ENOMEM;
        goto out;
    }
    json_object_foreach((json_t *)topics, key, value)
    {
        list[i].topic = key;
        list[i].count = json_is_integer(value) ? json_integer_value(value) : 0;
        i++;
    }
    qsort(list, n, sizeof(*list), topic_cmp);
    for (i = 0; i < n; i++) {
        out_table_add(t, list[i].topic);
        out_table_add_json(t, json_object_get(topics, list[i].topic));
    }
    r = out_table_print(t, f, color);
out:
    out_table_free(t);
    free(list);
    return r;
}

int logview_stats_print(FILE *f, const json_t *stats, const char *log, bool color)
{
    struct out_table *t = NULL;
    int r;

    t = out_table_new(2, NULL);
    if (!t)
        return -ENOMEM;
    add_row(t, "log:", log ? log : "security");
    add_row_used(t, stats);
    add_row_pair(t, "segments:", json_object_get(stats, "segments"),
                 json_object_get(stats, "segments_max"), " of ");
    add_row_json(t, "records:", json_object_get(stats, "records"));
    add_row_pair(t, "seq:", json_object_get(stats, "first_seq"), json_object_get(stats, "last_seq"),
                 "..");
    add_row_json(t, "oldest:", json_object_get(stats, "oldest"));
    add_row_json(t, "newest:", json_object_get(stats, "newest"));
    add_row_json(t, "dropped:", json_object_get(stats, "dropped"));
    add_row_json(t, "folded:", json_object_get(stats, "folded"));
    add_row_json(t, "overflow events:", json_object_get(stats, "overflow_events"));
    add_row_rate(t, json_object_get(stats, "bytes_per_day"));
    r = out_table_print(t, f, color);
    out_table_free(t);
    if (r < 0)
        return r;
    (void)fputc('\n', f);
    print_retention(f, stats, log);
    (void)fputc('\n', f);
    return print_topics(f, json_object_get(stats, "topics"), color);
}
