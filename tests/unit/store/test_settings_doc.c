/* Guards docs/settings.md against drifting from src/store/settings_table.c: every setting has
 * exactly one row whose cells (type, default, range or choices, unit, roles, description) are
 * what the table says, and every row names a setting of the table. KONN_SOURCE_DIR is the
 * repository root, set by tests/unit/store/CMakeLists.txt. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store/store.h"

#define DOC_MAX (256 * 1024)
#define CELLS 7

static char *doc;

static int load_doc(void **state)
{
    FILE *fp = fopen(KONN_SOURCE_DIR "/docs/settings.md", "r");
    size_t n;

    if (!fp)
        return -1;
    doc = calloc(1, DOC_MAX + 1);
    n = doc ? fread(doc, 1, DOC_MAX, fp) : 0;
    (void)fclose(fp);
    return n > 0 ? 0 : -1;
}

static int free_doc(void **state)
{
    free(doc);
    doc = NULL;
    return 0;
}

/* Splits one table line "| a | b |" into trimmed cells; returns how many. */
static size_t split_row(const char *line, size_t len, char cells[][256], size_t max)
{
    size_t n = 0;
    const char *p = line + 1;
    const char *end = line + len;

    while (p < end && n < max) {
        const char *bar = memchr(p, '|', (size_t)(end - p));
        const char *a = p, *b;

        if (!bar)
            break;
        b = bar;
        while (a < b && *a == ' ')
            a++;
        while (b > a && b[-1] == ' ')
            b--;
        (void)snprintf(cells[n++], 256, "%.*s", (int)(b - a), a);
        p = bar + 1;
    }
    return n;
}

/* The cells a row for def must have, in the order of the table header. */
static void expected_row(const struct setting_def *def, char cells[][256])
{
    size_t len = 0;

    (void)snprintf(cells[0], 256, "`%s`", def->name);
    (void)snprintf(cells[1], 256, "%s", setting_type_to_string(def->type));
    (void)snprintf(cells[2], 256, "`%s`", def->default_value);
    switch (def->type) {
    case SETTING_TYPE_BOOL:
        (void)snprintf(cells[3], 256, "Enabled, Disabled");
        break;
    case SETTING_TYPE_INT:
        (void)snprintf(cells[3], 256, "%" PRId64 " to %" PRId64, def->min, def->max);
        break;
    case SETTING_TYPE_ENUM:
        cells[3][0] = '\0';
        for (size_t i = 0; i < SETTING_CHOICES_MAX && def->choices[i]; i++)
            len +=
                (size_t)snprintf(cells[3] + len, 256 - len, "%s%s", i ? ", " : "", def->choices[i]);
        break;
    case SETTING_TYPE_STRING:
    case SETTING_TYPE_URL:
        (void)snprintf(cells[3], 256, "%" PRId64 " to %" PRId64 " characters", def->min, def->max);
        break;
    default:
        (void)snprintf(cells[3], 256, "00:00 to 23:59");
        break;
    }
    (void)snprintf(cells[4], 256, "%s", def->unit ? def->unit : "");
    if (def->roles == STORE_ROLES_ALL) {
        (void)snprintf(cells[5], 256, "all");
    } else {
        len = 0;
        cells[5][0] = '\0';
        for (unsigned r = 0; r < STORE_ROLE_MAX; r++)
            if (def->roles & STORE_ROLE_BIT(r))
                len += (size_t)snprintf(cells[5] + len, 256 - len, "%s%s", len ? ", " : "",
                                        store_role_to_string((enum store_role)r));
    }
    (void)snprintf(cells[6], 256, "%s", def->doc);
}

static void every_setting_has_one_row_that_matches_the_table(void **state)
{
    for (size_t i = 0; i < setting_count(); i++) {
        const struct setting_def *def = setting_def_at(i);
        char want[CELLS][256], got[CELLS][256];
        char key[96];
        const char *row, *eol;

        (void)snprintf(key, sizeof(key), "\n| `%s` |", def->name);
        row = strstr(doc, key);
        if (!row)
            fail_msg("docs/settings.md has no row for %s", def->name);
        assert_null(strstr(row + 1, key));
        row++;
        eol = strchr(row, '\n');
        assert_non_null(eol);
        assert_int_equal(split_row(row, (size_t)(eol - row), got, CELLS), CELLS);
        expected_row(def, want);
        for (size_t c = 0; c < CELLS; c++)
            if (strcmp(got[c], want[c]) != 0)
                fail_msg("docs/settings.md, %s, column %zu: '%s', the table says '%s'", def->name,
                         c + 1, got[c], want[c]);
    }
}

static void every_row_names_a_setting_of_the_table(void **state)
{
    size_t rows = 0;

    for (const char *p = strstr(doc, "\n| `"); p; p = strstr(p + 1, "\n| `")) {
        char cells[1][256];
        char name[256];
        size_t len = strlen(p + 1);
        const char *eol = strchr(p + 1, '\n');

        if (eol)
            len = (size_t)(eol - (p + 1));
        assert_int_equal(split_row(p + 1, len, cells, 1), 1);
        (void)snprintf(name, sizeof(name), "%.*s", (int)strlen(cells[0]) - 2, cells[0] + 1);
        if (!setting_def_find(name))
            fail_msg("docs/settings.md lists '%s', which is not in the settings table", name);
        rows++;
    }
    assert_int_equal(rows, setting_count());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_setting_has_one_row_that_matches_the_table),
        cmocka_unit_test(every_row_names_a_setting_of_the_table),
    };

    return cmocka_run_group_tests(tests, load_doc, free_doc);
}
