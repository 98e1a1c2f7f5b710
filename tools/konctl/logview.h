/* logview: how konctl shows the security and system logs (docs/management-api.md, "Logs"):
 * the filters of "log show" and the command line for its next page, the table of entries with
 * the marker for new ones, "--json --all" as one object, and the statistics.
 *
 * Pure: everything writes to a FILE * it is given and reads no global state, so tests render
 * into memory streams. Text from the daemon is cleaned of control characters before it is
 * printed. */
#ifndef KONCTL_LOGVIEW_H
#define KONCTL_LOGVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/* The largest page the daemon sends (limit 1..1000): the page size of "log show --all". */
#define LOGVIEW_PAGE_MAX 1000

/* ---- the filters ------------------------------------------------------------------------ */

/* The options of "log show" and "log export" as typed; NULL when absent. */
struct logview_options {
    const char *log;
    const char *from;
    const char *to;
    const char *severity;
    const char *topic;
    const char *limit;
    const char *before;
    const char *after;
    bool oldest;
    bool all;
};

/* One request of GET /api/v1/log. Strings are borrowed from the options (or, for severity,
 * from args_severity_expand). */
struct logview_query {
    const char *log;      /* "security", "system"; NULL: the daemon's default (security) */
    const char *from;     /* ISO 8601 UTC or ms, as typed; NULL: open */
    const char *to;       /* likewise */
    const char *severity; /* the minimum; NULL: any */
    const char *topic;    /* a prefix; NULL: any */
    uint64_t limit;       /* entries per page; 0: the daemon's default (100) */
    uint64_t before;      /* cursor, newest first: entries before this seq; 0: from the end */
    uint64_t after;       /* cursor, oldest first: entries after this seq; 0: from the start */
    bool oldest;          /* oldest first instead of newest first */
};

/* Checks the options for form and fills ret: times with args_time_check, the limit (a number
 * from 1; with all and no limit, LOGVIEW_PAGE_MAX) and cursors with args_uint_parse, the
 * severity through args_severity_expand. Ranges are the daemon's to judge. Returns 0, or
 * -EINVAL with a message naming the option in err; ret is written only on success. */
int logview_query_parse(const struct logview_options *o, struct logview_query *ret, char *err,
                        size_t err_size);

/* The command that shows the page after this one: "konctl log show" with the filters of q
 * and the cursor next (--before when newest first, --after when oldest first), each value
 * quoted for a POSIX shell where needed. Returns a heap string for free(), or NULL when out
 * of memory. */
char *logview_next_command(const struct logview_query *q, uint64_t next);

/* Reads one page of GET /api/v1/log: ret_entries gets the "entries" array (borrowed from
 * answer), ret_next the cursor of the next page, 0 when "next" is null or missing (the last
 * page). Returns 0, or -EBADMSG when entries is not an array or next not a positive integer;
 * the out-parameters are written only on success. */
int logview_page_parse(const json_t *answer, const json_t **ret_entries, uint64_t *ret_next);

/* ---- the table of entries --------------------------------------------------------------- */

/* An entry's parameters as "key=value" joined by spaces, in the order the daemon sent them.
 * A value that is empty or holds a blank or control character, a '"' or a '\' is written in
 * double quotes, with '"' and '\' escaped by '\'; a value that is not a string is written as
 * out_json_text() does. No parameters: "-". Returns a heap string for free() (cleaned), or NULL
 * when out of memory. */
char *logview_params_text(const json_t *params);

/* Columns of the table: SEQ, TIME, SEVERITY, TOPIC, PARAMS. */
#define LOGVIEW_COLS 5

/* The table of entries, printed page by page. Column widths only grow from page to page, so
 * that the pages of "log show --all" line up as long as no later value is wider. Every row
 * starts with the marker column: "*" for an entry the daemon flags "new" (written after the
 * caller's last logout), else a blank. */
struct logview_table {
    size_t width[LOGVIEW_COLS]; /* widest cell so far, in characters; the last is not padded */
    size_t max_width;           /* lines are cut to this many characters ("…"); 0: never */
    bool color;                 /* header line in bold */
    bool header_done;
    uint64_t rows;     /* entries printed */
    uint64_t new_rows; /* of which flagged new */
};

/* max_width is the terminal's width when stdout is a terminal, else 0. */
void logview_table_init(struct logview_table *t, size_t max_width, bool color);

/* Prints entries (a JSON array of entry objects; missing fields show as "-"), with the header
 * line before the first row ever printed. Returns 0, -ENOMEM or -EIO. */
int logview_table_print(struct logview_table *t, FILE *f, const json_t *entries);

/* Ends the table: "no entries" when none was printed, and the legend of the marker when any
 * entry was new, naming last_logout (the answer's "last_logout", borrowed, NULL when null).
 * Returns 0 or -EIO. */
int logview_table_finish(const struct logview_table *t, FILE *f, const char *last_logout);

/* ---- --json --all ----------------------------------------------------------------------- */

/* "log show --all --json" prints {"entries": [...]} of every page without holding them all:
 * begin, then add each page's entries array, then end. The text is exactly what
 * out_json_print() prints for the whole object (two-space indent, sorted keys). count (set
 * to 0 before the first add) counts the entries written. Each returns 0, -ENOMEM or -EIO. */
int logview_json_begin(FILE *f);
int logview_json_add(FILE *f, const json_t *entries, size_t *count);
int logview_json_end(FILE *f, size_t count);

/* ---- statistics ------------------------------------------------------------------------- */

/* Prints GET /api/v1/log/stats for the log named log (NULL: security): space used of the
 * capacity in bytes, MiB and percent, segments, records, the seq range, oldest and newest,
 * dropped, folded, overflow events, bytes per day; then "retention possible: N days
 * (setting: M days)" and a warning line when N < M; then the entries per topic, most first.
 * Returns 0, -ENOMEM or -EIO. */
int logview_stats_print(FILE *f, const json_t *stats, const char *log, bool color);

#endif
