/* output: tables, the LED panel, colour and JSON printing for konctl.
 *
 * It does not talk to the daemon and does not decide what to show; the cmd_*.c files pick the
 * fields and hand them here.
 *
 * Invariants:
 *  1. Every piece of daemon text passes through out_text_clean() before it is printed, so it
 *     cannot carry terminal escape sequences.
 *  2. ANSI sequences are written only when the caller passes color = true, and every coloured
 *     run ends with a reset.
 *  3. Column widths count characters (UTF-8 code points), not bytes, so "●" and umlauts align. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "konctl.h"
#include "output.h"

#define ANSI_RESET "\033[0m"
#define ANSI_BOLD "\033[1m"
#define ANSI_BLINK "\033[5m"
#define ANSI_GREEN "\033[32m"
#define ANSI_AMBER "\033[33m" /* yellow: the closest of the 8 basic colours to amber */

/* ---- colour ----------------------------------------------------------------------------- */

int out_color_mode_from_string(const char *s, enum out_color_mode *ret_mode)
{
    static const char *const names[OUT_COLOR_MAX] = {"auto", "always", "never"};

    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        if (strcmp(s, names[i]) == 0) {
            *ret_mode = (enum out_color_mode)i;
            return 0;
        }
    }
    return -EINVAL;
}

bool out_color_resolve(enum out_color_mode mode, bool is_tty, const char *no_color)
{
    switch (mode) {
    case OUT_COLOR_ALWAYS:
        return true;
    case OUT_COLOR_NEVER:
        return false;
    default:
        return is_tty && !(no_color && no_color[0] != '\0');
    }
}

/* ---- text ------------------------------------------------------------------------------- */

char *out_text_clean(char *s)
{
    for (char *p = s; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch < 0x20 || ch == 0x7f)
            *p = ' ';
    }
    return s;
}

static void write_json_text(FILE *m, const json_t *v);

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Key order, so that the output is stable whatever order the daemon sent. */
static void write_json_object(FILE *m, const json_t *v)
{
    const char **keys = NULL;
    const char *key = NULL;
    json_t *item = NULL;
    size_t n = json_object_size(v);
    size_t k = 0;

    keys = calloc(n ? n : 1, sizeof(*keys));
    if (!keys) {
        (void)fputs("?", m);
        return;
    }
    json_object_foreach((json_t *)v, key, item) keys[k++] = key;
    qsort(keys, n, sizeof(*keys), cmp_str);
    for (k = 0; k < n; k++) {
        (void)fprintf(m, "%s%s=", k ? ", " : "", keys[k]);
        write_json_text(m, json_object_get(v, keys[k]));
    }
    free(keys);
}

static void write_json_text(FILE *m, const json_t *v)
{
    json_t *item = NULL;
    size_t i;

    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_STRING:
        (void)fwrite(json_string_value(v), 1, json_string_length(v), m);
        break;
    case JSON_INTEGER:
        (void)fprintf(m, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        (void)fprintf(m, "%g", json_real_value(v));
        break;
    case JSON_TRUE:
        (void)fputs("true", m);
        break;
    case JSON_FALSE:
        (void)fputs("false", m);
        break;
    case JSON_ARRAY:
        if (json_array_size(v) == 0)
            (void)fputs("-", m);
        json_array_foreach(v, i, item)
        {
            if (i > 0)
                (void)fputs(", ", m);
            write_json_text(m, item);
        }
        break;
    case JSON_OBJECT:
        if (json_object_size(v) == 0)
            (void)fputs("-", m);
        write_json_object(m, v);
        break;
    default:
        (void)fputs("-", m);
        break;
    }
}

char *out_json_text(const json_t *v)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = NULL;

    m = open_memstream(&buf, &len);
    if (!m)
        return NULL;
    write_json_text(m, v);
    if (fclose(m) != 0) {
        free(buf);
        return NULL;
    }
    return out_text_clean(buf);
}

char *out_duration_format(int64_t seconds, char *buf, size_t size)
{
    static const struct {
        int64_t seconds;
        const char *unit;
    } units[] = {{86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}};
    size_t used = 0;

    if (size == 0)
        return buf;
    buf[0] = '\0';
    if (seconds < 0) {
        (void)snprintf(buf, size, "-");
        return buf;
    }
    if (seconds == 0) {
        (void)snprintf(buf, size, "0s");
        return buf;
    }
    for (size_t i = 0; i < ARRAY_SIZE(units) && used < size; i++) {
        int64_t n = seconds / units[i].seconds;
        int w;

        seconds %= units[i].seconds;
        if (n == 0)
            continue;
        w = snprintf(buf + used, size - used, "%s%" PRId64 "%s", used ? " " : "", n, units[i].unit);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    return buf;
}

int out_json_print(FILE *f, const json_t *v)
{
    if (!v)
        return 0; /* an empty answer prints nothing */
    if (json_dumpf(v, f, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENCODE_ANY) != 0)
        return -EIO;
    return fputc('\n', f) == EOF ? -EIO : 0;
}

/* ---- the LED panel ---------------------------------------------------------------------- */

enum led_state { LED_OFF, LED_ON, LED_BLINK, LED_UNKNOWN, LED_MAX };

static enum led_state led_state_from_string(const char *s)
{
    if (!s)
        return LED_UNKNOWN;
    if (strcmp(s, "on") == 0)
        return LED_ON;
    if (strcmp(s, "off") == 0)
        return LED_OFF;
    if (strcmp(s, "blink") == 0)
        return LED_BLINK;
    return LED_UNKNOWN;
}

/* The four LEDs from left to right, as on the device's front. */
static const struct {
    const char *key;   /* field of GET /api/v1/leds */
    const char *label; /* printed in colour mode */
    const char *color; /* ANSI colour when lit */
} leds_front[] = {
    {"power", "POWER", ANSI_GREEN},
    {"system", "SYSTEM", ANSI_GREEN},
    {"vpn", "VPN", ANSI_GREEN},
    {"service", "SERVICE", ANSI_AMBER},
};

/* Copies the daemon's text for an unknown state, cleaned and cut to fit. */
static const char *unknown_text(const char *s, char *buf, size_t size)
{
    if (!s || !s[0])
        return "?";
    (void)snprintf(buf, size, "%s", s);
    return out_text_clean(buf);
}

int out_leds_print(FILE *f, const json_t *leds, bool color)
{
    char unknown[32];

    for (size_t i = 0; i < ARRAY_SIZE(leds_front); i++) {
        const char *s = json_string_value(json_object_get(leds, leds_front[i].key));
        enum led_state st = led_state_from_string(s);
        const char *sep = i ? "  " : "";

        if (!color) {
            (void)fprintf(f, "%s%s: %s", sep, leds_front[i].key,
                          st == LED_UNKNOWN ? unknown_text(s, unknown, sizeof(unknown)) : s);
            continue;
        }
        switch (st) {
        case LED_ON:
            (void)fprintf(f, "%s%s %s●" ANSI_RESET, sep, leds_front[i].label, leds_front[i].color);
            break;
        case LED_OFF:
            (void)fprintf(f, "%s%s ○", sep, leds_front[i].label);
            break;
        case LED_BLINK:
            (void)fprintf(f, "%s%s " ANSI_BLINK "%s◐" ANSI_RESET " blink", sep, leds_front[i].label,
                          leds_front[i].color);
            break;
        default:
            /* "VPN ?" when missing, "VPN ? flash" for a state konctl does not know. */
            (void)fprintf(f, "%s%s ?%s%s", sep, leds_front[i].label, s && s[0] ? " " : "",
                          s && s[0] ? unknown_text(s, unknown, sizeof(unknown)) : "");
            break;
        }
    }
    if (fputc('\n', f) == EOF || ferror(f))
        return -EIO;
    return 0;
}

/* ---- tables ----------------------------------------------------------------------------- */

struct out_table {
    size_t n_cols;
    bool has_header;
    char **cells; /* row-major; the header, if any, is row 0 */
    size_t n_cells;
    size_t cap;
    int error; /* first allocation failure, reported by out_table_print() */
};

static void table_push(struct out_table *t, char *cell)
{
    char **grown = NULL;

    if (t->error < 0 || !cell) {
        free(cell);
        t->error = t->error < 0 ? t->error : -ENOMEM;
        return;
    }
    if (t->n_cells == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 32;
        grown = realloc(t->cells, cap * sizeof(*t->cells));
        if (!grown) {
            free(cell);
            t->error = -ENOMEM;
            return;
        }
        t->cells = grown;
        t->cap = cap;
    }
    t->cells[t->n_cells++] = cell;
}

struct out_table *out_table_new(size_t n_cols, const char *const *headers)
{
    struct out_table *t = NULL;

    t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->n_cols = n_cols ? n_cols : 1;
    if (headers) {
        t->has_header = true;
        for (size_t i = 0; i < n_cols; i++)
            table_push(t, strdup(headers[i]));
        if (t->error < 0)
            return out_table_free(t);
    }
    return t;
}

struct out_table *out_table_free(struct out_table *t)
{
    if (!t)
        return NULL;
    for (size_t i = 0; i < t->n_cells; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
    return NULL;
}

void out_table_add(struct out_table *t, const char *text)
{
    char *cell = strdup(text ? text : "-");

    table_push(t, cell ? out_text_clean(cell) : NULL);
}

void out_table_add_json(struct out_table *t, const json_t *v)
{
    table_push(t, out_json_text(v));
}

size_t out_table_rows(const struct out_table *t)
{
    return t->n_cells / t->n_cols - (t->has_header ? 1 : 0);
}

/* Bytes that do not continue a UTF-8 sequence. */
size_t out_text_width(const char *s)
{
    size_t w = 0;

    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    return w;
}

int out_table_print(const struct out_table *t, FILE *f, bool color)
{
    size_t *width = NULL;
    size_t n_rows = t->n_cells / t->n_cols; /* an incomplete last row is left out */
    int r = 0;

    if (t->error < 0)
        return t->error;
    width = calloc(t->n_cols, sizeof(*width));
    if (!width)
        return -ENOMEM;
    for (size_t i = 0; i < n_rows * t->n_cols; i++) {
        size_t w = out_text_width(t->cells[i]);
        if (w > width[i % t->n_cols])
            width[i % t->n_cols] = w;
    }
    for (size_t row = 0; row < n_rows; row++) {
        char **cells = &t->cells[row * t->n_cols];
        bool bold = color && t->has_header && row == 0;
        size_t end = t->n_cols;

        /* No padding after the last cell with text: lines carry no trailing blanks. */
        while (end > 1 && cells[end - 1][0] == '\0')
            end--;
        if (bold)
            (void)fputs(ANSI_BOLD, f);
        for (size_t col = 0; col < end; col++) {
            (void)fputs(cells[col], f);
            if (col + 1 < end)
                (void)fprintf(f, "%*s", (int)(width[col] - out_text_width(cells[col]) + 2), "");
        }
        if (bold)
            (void)fputs(ANSI_RESET, f);
        (void)fputc('\n', f);
    }
    if (ferror(f))
        r = -EIO;
    free(width);
    return r;
}
