/* cmd_settings: "settings get" shows all settings as a table or one in detail, "settings set"
 * changes one.
 *
 * The daemon's settings table is the single source of names, types, ranges and roles
 * (STYLE.md rule 11); konctl shows what GET /api/v1/settings says and sends a value as the
 * text the user typed, so no limit is written down twice.
 *
 * Invariants:
 *  1. A value is sent as a JSON string, exactly as typed ({"value": "..."}). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "konctl.h"
#include "output.h"

static const char settings_usage[] =
    "Usage: konctl settings get [NAME]\n"
    "       konctl settings set NAME VALUE\n"
    "\n"
    "get             all settings as a table (the default)\n"
    "get NAME        one setting with its type, range, default, roles and documentation\n"
    "set NAME VALUE  change a setting; the daemon checks the value against its range\n";

/* Short role names for the table column. */
static const char *role_short(const char *role)
{
    if (strcmp(role, "Local-Administrator") == 0)
        return "local";
    if (strcmp(role, "Remote-Administrator") == 0)
        return "remote";
    if (strcmp(role, "Super-Administrator") == 0)
        return "super";
    return role;
}

/* The roles array as "super,local". */
static void roles_text(const json_t *roles, bool shorten, char *buf, size_t size)
{
    const json_t *r = NULL;
    size_t used = 0;
    size_t i;

    buf[0] = '\0';
    json_array_foreach(roles, i, r)
    {
        const char *s = json_string_value(r);
        int w;

        if (!s || used >= size)
            continue;
        w = snprintf(buf + used, size - used, "%s%s", used ? (shorten ? "," : ", ") : "",
                     shorten ? role_short(s) : s);
        if (w > 0)
            used += (size_t)w;
    }
    if (!buf[0])
        (void)snprintf(buf, size, "-");
    out_text_clean(buf);
}

/* What values are allowed: "a|b|c" for choices, "1..100" for a range ("length 1..64" for
 * strings), "" when the type says it all. */
static void allowed_text(const json_t *s, char *buf, size_t size)
{
    const json_t *choices = json_object_get(s, "choices");
    const json_t *min = json_object_get(s, "min");
    const json_t *max = json_object_get(s, "max");
    const char *type = json_string_value(json_object_get(s, "type"));
    const char *prefix = type && strcmp(type, "string") == 0 ? "length " : "";
    char *lo = NULL;
    char *hi = NULL;

    buf[0] = '\0';
    if (json_array_size(choices) > 0) {
        const json_t *c = NULL;
        size_t used = 0;
        size_t i;

        json_array_foreach(choices, i, c)
        {
            int w;

            if (!json_is_string(c) || used >= size)
                continue;
            w = snprintf(buf + used, size - used, "%s%s", used ? "|" : "", json_string_value(c));
            if (w > 0)
                used += (size_t)w;
        }
        out_text_clean(buf);
        return;
    }
    if (json_is_null(min) && json_is_null(max))
        return;
    lo = min && !json_is_null(min) ? out_json_text(min) : NULL;
    hi = max && !json_is_null(max) ? out_json_text(max) : NULL;
    if (lo && hi)
        (void)snprintf(buf, size, "%s%s..%s", prefix, lo, hi);
    else if (lo)
        (void)snprintf(buf, size, "%s>= %s", prefix, lo);
    else if (hi)
        (void)snprintf(buf, size, "%s<= %s", prefix, hi);
    free(lo);
    free(hi);
}

/* An empty unit shows as "-", like a missing one. */
static const json_t *unit_or_null(const json_t *unit)
{
    return json_is_string(unit) && json_string_length(unit) > 0 ? unit : NULL;
}

static int print_all(const struct konctl *k, const json_t *answer)
{
    static const char *const headers[] = {"NAME", "VALUE", "DEFAULT", "ALLOWED", "UNIT", "ROLES"};
    const json_t *settings = json_object_get(answer, "settings");
    struct out_table *t = NULL;
    const json_t *s = NULL;
    char allowed[512];
    char roles[128];
    size_t i;
    int r;

    t = out_table_new(ARRAY_SIZE(headers), headers);
    if (!t)
        return -ENOMEM;
    json_array_foreach(settings, i, s)
    {
        const json_t *unit = json_object_get(s, "unit");

        allowed_text(s, allowed, sizeof(allowed));
        roles_text(json_object_get(s, "roles"), true, roles, sizeof(roles));
        out_table_add_json(t, json_object_get(s, "name"));
        out_table_add_json(t, json_object_get(s, "value"));
        out_table_add_json(t, json_object_get(s, "default"));
        out_table_add(t, allowed[0] ? allowed : "-");
        out_table_add_json(t, unit_or_null(unit));
        out_table_add(t, roles);
    }
    r = out_table_print(t, stdout, k->color);
    out_table_free(t);
    return r == -ENOMEM ? r : 0;
}

static int print_one(const struct konctl *k, const json_t *s)
{
    struct out_table *t = NULL;
    char allowed[512];
    char roles[256];
    int r;

    t = out_table_new(2, NULL);
    if (!t)
        return -ENOMEM;
    allowed_text(s, allowed, sizeof(allowed));
    roles_text(json_object_get(s, "roles"), false, roles, sizeof(roles));
    out_table_add(t, "name:");
    out_table_add_json(t, json_object_get(s, "name"));
    out_table_add(t, "value:");
    out_table_add_json(t, json_object_get(s, "value"));
    out_table_add(t, "default:");
    out_table_add_json(t, json_object_get(s, "default"));
    out_table_add(t, "type:");
    out_table_add_json(t, json_object_get(s, "type"));
    out_table_add(t, "allowed:");
    out_table_add(t, allowed[0] ? allowed : "-");
    out_table_add(t, "unit:");
    out_table_add_json(t, unit_or_null(json_object_get(s, "unit")));
    out_table_add(t, "roles:");
    out_table_add(t, roles);
    out_table_add(t, "doc:");
    out_table_add_json(t, json_object_get(s, "doc"));
    r = out_table_print(t, stdout, k->color);
    out_table_free(t);
    return r == -ENOMEM ? r : 0;
}

/* "/api/v1/settings/NAME" with NAME escaped. */
static char *setting_path(const char *name)
{
    char *escaped = http_escape(name);
    char *path = NULL;
    size_t size;

    if (!escaped)
        return NULL;
    size = strlen("/api/v1/settings/") + strlen(escaped) + 1;
    path = malloc(size);
    if (path)
        (void)snprintf(path, size, "/api/v1/settings/%s", escaped);
    free(escaped);
    return path;
}

static int settings_get(struct konctl *k, int argc, char **argv)
{
    json_t *answer = NULL;
    char *path = NULL;
    struct args a;
    int r;

    if (!args_command(k, argc, argv, NULL, 0, 0, 1, settings_usage, &a, &r))
        return r;
    if (a.n_pos == 1) {
        path = setting_path(a.pos[0]);
        if (!path) {
            r = -ENOMEM;
            goto out;
        }
    }
    r = konctl_call(k, "GET", path ? path : "/api/v1/settings", NULL, &answer);
    if (r != KONCTL_EXIT_OK)
        goto out;
    if (k->json)
        (void)out_json_print(stdout, answer);
    else
        r = path ? print_one(k, answer) : print_all(k, answer);
out:
    if (r < 0) {
        konctl_error("out of memory");
        r = KONCTL_EXIT_ERROR;
    }
    json_decref(answer);
    free(path);
    return r;
}

static int settings_set(struct konctl *k, int argc, char **argv)
{
    json_t *answer = NULL;
    json_t *body = NULL;
    char *path = NULL;
    char *value = NULL;
    struct args a;
    int r;

    if (!args_command(k, argc, argv, NULL, 0, 2, 2, settings_usage, &a, &r))
        return r;
    body = json_pack("{s:s}", "value", a.pos[1]);
    if (!body) {
        /* jansson refuses text that is not UTF-8; running out of memory is the other cause. */
        konctl_error("cannot send the value '%s': it is not valid UTF-8", a.pos[1]);
        r = KONCTL_EXIT_USAGE;
        goto out;
    }
    path = setting_path(a.pos[0]);
    if (!path) {
        r = -ENOMEM;
        goto out;
    }
    r = konctl_call(k, "PUT", path, body, &answer);
    if (r != KONCTL_EXIT_OK)
        goto out;
    if (k->json) {
        (void)out_json_print(stdout, answer);
        goto out;
    }
    value = out_json_text(json_object_get(answer, "value"));
    if (!value) {
        r = -ENOMEM;
        goto out;
    }
    (void)printf("%s = %s (%s)\n", a.pos[0], value,
                 json_is_false(json_object_get(answer, "changed")) ? "unchanged: it already was"
                                                                   : "changed");
out:
    if (r < 0) {
        konctl_error("out of memory");
        r = KONCTL_EXIT_ERROR;
    }
    free(value);
    json_decref(answer);
    json_decref(body);
    free(path);
    return r;
}

int cmd_settings(struct konctl *k, int argc, char **argv)
{
    static const char *const names[] = {"get", "set"};
    int shift = 0;
    int r;
    int i;

    i = args_subcommand(argc, argv, names, ARRAY_SIZE(names), "get", settings_usage, &shift, &r);
    if (i < 0)
        return r;
    if (i == 0)
        return settings_get(k, argc - shift, argv + shift);
    return settings_set(k, argc - shift, argv + shift);
}
