/* output: how konctl shows answers. Aligned tables (also used for "key: value" blocks), the
 * LED panel drawn like the front of the device, colour decisions, text of JSON values, and
 * pretty JSON for --json.
 *
 * Pure: everything writes to a FILE * it is given and reads no global state, so tests render
 * into memory streams. Text that came from the daemon has its control characters replaced
 * before it reaches a terminal. */
#ifndef KONCTL_OUTPUT_H
#define KONCTL_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/* ---- colour ----------------------------------------------------------------------------- */

enum out_color_mode {
    OUT_COLOR_AUTO, /* colour when stdout is a terminal and NO_COLOR is not set */
    OUT_COLOR_ALWAYS,
    OUT_COLOR_NEVER,
    OUT_COLOR_MAX
};

/* "auto", "always", "never". Returns 0 or -EINVAL. */
int out_color_mode_from_string(const char *s, enum out_color_mode *ret_mode);

/* Decides colour: always and never win; auto needs a terminal and no NO_COLOR (no_color is
 * getenv("NO_COLOR"); set to a non-empty value it disables colour, as no-color.org says). */
bool out_color_resolve(enum out_color_mode mode, bool is_tty, const char *no_color);

/* ---- text ------------------------------------------------------------------------------- */

/* Replaces control characters (below 0x20, and 0x7f) in s with spaces, in place, so that no
 * text from the daemon can move the cursor or change the terminal. Returns s. */
char *out_text_clean(char *s);

/* Characters in s (UTF-8 code points), the width a terminal gives it. */
size_t out_text_width(const char *s);

/* Human text of a JSON value, cleaned: strings as they are, integers in decimal, reals with %g,
 * true/false, null or missing (v == NULL) as "-", arrays joined with ", ", objects as
 * "key=value" joined with ", " in key order; an empty array or object is "-". Returns a heap string
 * for free(), or NULL when out of memory. */
char *out_json_text(const json_t *v);

/* Formats a number of seconds as "3d 4h 5m 6s", largest unit first, zero parts left out
 * ("0s" for 0, "-" for negative). Returns buf. */
char *out_duration_format(int64_t seconds, char *buf, size_t size);

/* Prints v as JSON with two-space indentation and sorted keys, and a newline; nothing when v
 * is NULL (an empty answer). Returns 0 or -EIO. */
int out_json_print(FILE *f, const json_t *v);

/* ---- the LED panel ---------------------------------------------------------------------- */

/* Draws leds ({"power": "on", "system": "on", "vpn": "blink", "service": "off"}) on one line.
 * With colour: "POWER ●  SYSTEM ●  VPN ◐ blink  SERVICE ○", on in green (service in amber), a
 * blinking LED as ◐ with the ANSI blink attribute followed by the word "blink". Without:
 * "power: on  system: on  vpn: blink  service: off". A missing state shows as "?", an unknown
 * one as its text. Returns 0 or -EIO. */
int out_leds_print(FILE *f, const json_t *leds, bool color);

/* ---- tables ----------------------------------------------------------------------------- */

/* A table of text cells printed with aligned columns; the last column is not padded. Cells are
 * added left to right and wrap to a new row after the last column. An allocation failure is
 * remembered and returned by out_table_print(), so callers check once. */
struct out_table;

/* headers holds n_cols column titles, or is NULL for a table without a header line (a block of
 * "key:" "value" rows). Returns NULL when out of memory. */
struct out_table *out_table_new(size_t n_cols, const char *const *headers);
struct out_table *out_table_free(struct out_table *t);

/* Adds one cell (copied and cleaned; NULL shows as "-"). */
void out_table_add(struct out_table *t, const char *text);
/* Adds one cell holding out_json_text(v). */
void out_table_add_json(struct out_table *t, const json_t *v);
/* Number of complete rows added so far. */
size_t out_table_rows(const struct out_table *t);

/* Prints the table, the header line in bold when color. Returns 0, -ENOMEM if a cell could not
 * be stored, or -EIO. */
int out_table_print(const struct out_table *t, FILE *f, bool color);

#endif
