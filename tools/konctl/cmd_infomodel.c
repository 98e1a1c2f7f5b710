/* cmd_infomodel: the connector's info model (TIP1-A_4526): Mandanten, client systems,
 * workplaces and card terminals, and their relations. "infomodel show" prints an overview;
 * add, delete, relate, unrelate and set-terminal change it.
 *
 * Kinds, relation names, the id alphabet and the slot range are the daemon's to judge (400
 * naming the rule, 404 naming what is missing): konctl checks only the form of numbers and
 * that the options make sense together.
 *
 * Invariants:
 *  1. Only the options given are sent, so the daemon's defaults (a terminal's name is its id,
 *     4 slots, active) apply to the rest.
 *  2. --active and --inactive together are a usage error, never a silent choice. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "konctl.h"
#include "output.h"

/* --slots is checked for form only; the daemon names the range when it refuses. */
#define SLOTS_FORM_MAX 1000000

static const char infomodel_usage[] =
    "Usage: konctl infomodel show\n"
    "       konctl infomodel add KIND ID [--name N] [--slots N] [--inactive]\n"
    "       konctl infomodel delete KIND ID\n"
    "       konctl infomodel relate REL A B\n"
    "       konctl infomodel unrelate REL A B\n"
    "       konctl infomodel set-terminal ID [--name N] [--slots N] [--active|--inactive]\n"
    "\n"
    "show              entities per kind and the relations between them (the default)\n"
    "add KIND ID       add a mandant, client-system, workplace or card-terminal; a terminal\n"
    "                  takes --name (default: its id), --slots (default 4) and --inactive\n"
    "delete KIND ID    delete an entity together with every relation it is part of\n"
    "relate REL A B    relate A to B; REL is mandant-client-system, mandant-workplace,\n"
    "                  workplace-ct-local, workplace-ct-remote or mandant-smb (B: an ICCSN)\n"
    "unrelate REL A B  remove that relation\n"
    "set-terminal ID   change a card terminal's name, slots or whether it is in use\n"
    "\n"
    "Ids have 1 to 64 characters of A-Z a-z 0-9 . _ -\n";

/* "/api/v1/infomodel/SEG1[/SEG2]", the segments escaped. */
static char *infomodel_path(const char *seg1, const char *seg2)
{
    char *e1 = http_escape(seg1);
    char *e2 = seg2 ? http_escape(seg2) : NULL;
    char *path = NULL;
    size_t size;

    if (!e1 || (seg2 && !e2))
        goto out;
    size = strlen("/api/v1/infomodel//") + strlen(e1) + (e2 ? strlen(e2) : 0) + 1;
    path = malloc(size);
    if (path)
        (void)snprintf(path, size, "/api/v1/infomodel/%s%s%s", e1, e2 ? "/" : "", e2 ? e2 : "");
out:
    free(e1);
    free(e2);
    return path;
}

/* A terminal's attributes as "name 'Empfang', 4 slots, active", cleaned for the terminal. */
static void ct_text(const json_t *ct, char *buf, size_t size)
{
    const char *name = json_string_value(json_object_get(ct, "name"));
    json_int_t slots = json_integer_value(json_object_get(ct, "slots"));

    (void)snprintf(buf, size, "name '%s', %lld slot%s, %s", name ? name : "?", (long long)slots,
                   slots == 1 ? "" : "s",
                   json_is_true(json_object_get(ct, "active")) ? "active" : "inactive");
    out_text_clean(buf);
}

/* ---- show ------------------------------------------------------------------------------- */

static int print_entities(const struct konctl *k, const json_t *answer)
{
    static const struct {
        const char *label, *key;
    } lists[] = {
        {"mandants:", "mandants"},
        {"client systems:", "client_systems"},
        {"workplaces:", "workplaces"},
    };
    struct out_table *t = out_table_new(2, NULL);
    int r;

    if (!t)
        return -ENOMEM;
    for (size_t i = 0; i < ARRAY_SIZE(lists); i++) {
        out_table_add(t, lists[i].label);
        out_table_add_json(t, json_object_get(answer, lists[i].key));
    }
    r = out_table_print(t, stdout, k->color);
    out_table_free(t);
    return r == -ENOMEM ? r : 0;
}

static int print_terminals(const struct konctl *k, const json_t *terminals)
{
    static const char *const headers[] = {"CARD TERMINAL", "NAME", "SLOTS", "ACTIVE"};
    struct out_table *t = NULL;
    const json_t *ct = NULL;
    size_t i;
    int r;

    if (json_array_size(terminals) == 0) {
        (void)fputs("no card terminals\n", stdout);
        return 0;
    }
    t = out_table_new(ARRAY_SIZE(headers), headers);
    if (!t)
        return -ENOMEM;
    json_array_foreach(terminals, i, ct)
    {
        out_table_add_json(t, json_object_get(ct, "id"));
        out_table_add_json(t, json_object_get(ct, "name"));
        out_table_add_json(t, json_object_get(ct, "slots"));
        out_table_add(t, json_is_true(json_object_get(ct, "active")) ? "yes" : "no");
    }
    r = out_table_print(t, stdout, k->color);
    out_table_free(t);
    return r == -ENOMEM ? r : 0;
}

static int print_relations(const struct konctl *k, const json_t *relations)
{
    static const char *const headers[] = {"RELATION", "A", "B"};
    struct out_table *t = out_table_new(ARRAY_SIZE(headers), headers);
    const char *rel = NULL;
    json_t *pairs = NULL;
    int r;

    if (!t)
        return -ENOMEM;
    /* In the order the daemon sent: relation names sorted, pairs sorted within each. */
    json_object_foreach((json_t *)relations, rel, pairs)
    {
        const json_t *pair = NULL;
        size_t i;

        json_array_foreach(pairs, i, pair)
        {
            out_table_add(t, rel);
            out_table_add_json(t, json_array_get(pair, 0));
            out_table_add_json(t, json_array_get(pair, 1));
        }
    }
    if (out_table_rows(t) == 0) {
        (void)fputs("no relations\n", stdout);
        r = 0;
    } else {
        r = out_table_print(t, stdout, k->color);
    }
    out_table_free(t);
    return r == -ENOMEM ? r : 0;
}

static int infomodel_show(struct konctl *k, int argc, char **argv)
{
    json_t *answer = NULL;
    struct args a;
    int r;

    if (!args_command(k, argc, argv, NULL, 0, 0, 0, infomodel_usage, &a, &r))
        return r;
    r = konctl_call(k, "GET", "/api/v1/infomodel", NULL, &answer);
    if (r != KONCTL_EXIT_OK)
        return r;
    if (k->json) {
        (void)out_json_print(stdout, answer);
        goto out;
    }
    r = print_entities(k, answer);
    if (r == 0) {
        (void)fputc('\n', stdout);
        r = print_terminals(k, json_object_get(answer, "card_terminals"));
    }
    if (r == 0) {
        (void)fputc('\n', stdout);
        r = print_relations(k, json_object_get(answer, "relations"));
    }
out:
    if (r < 0) {
        konctl_error("out of memory");
        r = KONCTL_EXIT_ERROR;
    }
    json_decref(answer);
    return r;
}

/* ---- changes ---------------------------------------------------------------------------- */

/* Adds the terminal options that were given to body (invariant 1); name and slots are NULL
 * when absent. Returns an exit code. */
static int ct_options(const char *name, const char *slots, bool active, bool inactive, json_t *body)
{
    uint64_t n = 0;

    if (active && inactive) {
        konctl_error("--active and --inactive exclude each other");
        return KONCTL_EXIT_USAGE;
    }
    if (slots && args_uint_parse(slots, SLOTS_FORM_MAX, &n) < 0) {
        konctl_error("--slots takes a whole number, not '%s'", slots);
        return KONCTL_EXIT_USAGE;
    }
    if (name && json_object_set_new(body, "name", json_string(name)) < 0) {
        konctl_error("cannot send the name '%s': it is not valid UTF-8", name);
        return KONCTL_EXIT_USAGE;
    }
    if (slots)
        (void)json_object_set_new(body, "slots", json_integer((json_int_t)n));
    if (active || inactive)
        (void)json_object_set_new(body, "active", json_boolean(active));
    return KONCTL_EXIT_OK;
}

static int infomodel_add(struct konctl *k, int argc, char **argv)
{
    struct args_opt opts[] = {
        {"name", true, NULL}, {"slots", true, NULL}, {"inactive", false, NULL}};
    const char *kind = NULL;
    json_t *answer = NULL;
    json_t *body = NULL;
    char *path = NULL;
    char attrs[192];
    struct args a;
    int r;

    if (!args_command(k, argc, argv, opts, ARRAY_SIZE(opts), 2, 2, infomodel_usage, &a, &r))
        return r;
    body = json_pack("{s:s}", "id", a.pos[1]);
    if (!body) {
        konctl_error("cannot send the id '%s': it is not valid UTF-8", a.pos[1]);
        return KONCTL_EXIT_USAGE;
    }
    r = ct_options(opts[0].value, opts[1].value, false, opts[2].value != NULL, body);
    if (r != KONCTL_EXIT_OK)
        goto out;
    path = infomodel_path(a.pos[0], NULL);
    if (!path) {
        r = -ENOMEM;
        goto out;
    }
    r = konctl_call(k, "POST", path, body, &answer);
    if (r != KONCTL_EXIT_OK)
        goto out;
    if (k->json) {
        (void)out_json_print(stdout, answer);
    } else if (json_object_get(answer, "slots")) {
        ct_text(answer, attrs, sizeof(attrs));
        (void)printf("added card-terminal '%s' (%s)\n", a.pos[1], attrs);
    } else {
        kind = json_string_value(json_object_get(answer, "kind"));
        (void)printf("added %s '%s'\n", kind ? kind : a.pos[0], a.pos[1]);
    }
out:
    if (r < 0) {
        konctl_error("out of memory");
        r = KONCTL_EXIT_ERROR;
    }
    free(path);
    json_decref(body);
    json_decref(answer);
    return r;
}

static int infomodel_delete(struct konctl *k, int argc, char **argv)
{
    json_t *answer = NULL;
    char *path = NULL;
    json_int_t n_rel;
    struct args a;
    int r;

    if (!args_command(k, argc, argv, NULL, 0, 2, 2, infomodel_usage, &a, &r))
        return r;
    path = infomodel_path(a.pos[0], a.pos[1]);
    if (!path) {
        konctl_error("out of memory");
        return KONCTL_EXIT_ERROR;
    }
    r = konctl_call(k, "DELETE", path, NULL, &answer);
    if (r == KONCTL_EXIT_OK && k->json) {
        (void)out_json_print(stdout, answer);
    } else if (r == KONCTL_EXIT_OK) {
        n_rel = json_integer_value(json_object_get(answer, "relations_deleted"));
        if (n_rel > 0)
            (void)printf("deleted %s '%s' and its %lld relation%s\n", a.pos[0], a.pos[1],
                         (long long)n_rel, n_rel == 1 ? "" : "s");
        else
            (void)printf("deleted %s '%s'\n", a.pos[0], a.pos[1]);
    }
    free(path);
    json_decref(answer);
    return r;
}

/* relate and unrelate: the same body, POST or DELETE. */
static int infomodel_relate(struct konctl *k, int argc, char **argv, bool relate)
{
    json_t *body = NULL;
    struct args a;
    int r;

    if (!args_command(k, argc, argv, NULL, 0, 3, 3, infomodel_usage, &a, &r))
        return r;
    body = json_pack("{s:s,s:s,s:s}", "relation", a.pos[0], "a", a.pos[1], "b", a.pos[2]);
    if (!body) {
        konctl_error("cannot send the relation: it is not valid UTF-8");
        return KONCTL_EXIT_USAGE;
    }
    r = konctl_send(k, relate ? "POST" : "DELETE", "/api/v1/infomodel/relations", body,
                    "%s '%s' %s '%s' (%s)", relate ? "related" : "unrelated", a.pos[1],
                    relate ? "to" : "from", a.pos[2], a.pos[0]);
    json_decref(body);
    return r;
}

static int infomodel_set_terminal(struct konctl *k, int argc, char **argv)
{
    struct args_opt opts[] = {{"name", true, NULL},
                              {"slots", true, NULL},
                              {"active", false, NULL},
                              {"inactive", false, NULL}};
    json_t *answer = NULL;
    json_t *body = NULL;
    char *path = NULL;
    char attrs[192];
    struct args a;
    int r;

    if (!args_command(k, argc, argv, opts, ARRAY_SIZE(opts), 1, 1, infomodel_usage, &a, &r))
        return r;
    body = json_object();
    if (!body) {
        r = -ENOMEM;
        goto out;
    }
    r = ct_options(opts[0].value, opts[1].value, opts[2].value != NULL, opts[3].value != NULL,
                   body);
    if (r != KONCTL_EXIT_OK)
        goto out;
    if (json_object_size(body) == 0) {
        konctl_error("'infomodel set-terminal' needs --name, --slots, --active or --inactive");
        (void)fputs(infomodel_usage, stderr);
        r = KONCTL_EXIT_USAGE;
        goto out;
    }
    path = infomodel_path("card-terminal", a.pos[0]);
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
    ct_text(answer, attrs, sizeof(attrs));
    (void)printf("card-terminal '%s': %s (%s)\n", a.pos[0], attrs,
                 json_is_false(json_object_get(answer, "changed")) ? "unchanged: it already was"
                                                                   : "changed");
out:
    if (r < 0) {
        konctl_error("out of memory");
        r = KONCTL_EXIT_ERROR;
    }
    free(path);
    json_decref(body);
    json_decref(answer);
    return r;
}

int cmd_infomodel(struct konctl *k, int argc, char **argv)
{
    static const char *const names[] = {"show",   "add",      "delete",
                                        "relate", "unrelate", "set-terminal"};
    int shift = 0;
    int r;
    int i;

    i = args_subcommand(argc, argv, names, ARRAY_SIZE(names), "show", infomodel_usage, &shift, &r);
    argc -= shift;
    argv += shift;
    switch (i) {
    case 0:
        return infomodel_show(k, argc, argv);
    case 1:
        return infomodel_add(k, argc, argv);
    case 2:
        return infomodel_delete(k, argc, argv);
    case 3:
        return infomodel_relate(k, argc, argv, true);
    case 4:
        return infomodel_relate(k, argc, argv, false);
    case 5:
        return infomodel_set_terminal(k, argc, argv);
    default:
        return r;
    }
}
