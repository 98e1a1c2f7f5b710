/* cmd_ec: the error conditions of TAB_KON_503. "ec list" shows the active ones (or, with
 * --table, the whole table of 34), "ec reset" asks the daemon to end one.
 *
 * Whether a condition may be reset by an administrator is the daemon's decision (409 when
 * only the situation may end it); konctl checks only the form of the name.
 *
 * Invariants:
 *  1. "NAME(ID)" and "NAME --instance ID" send the same request; giving two different IDs is
 *     a usage error, never a silent choice. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "konctl.h"
#include "output.h"

/* Longest condition name and instance id accepted, in bytes with the terminator. */
#define EC_NAME_MAX 128
#define EC_INSTANCE_MAX 128

static const char ec_usage[] =
    "Usage: konctl ec list [--table]\n"
    "       konctl ec reset NAME [--instance ID]\n"
    "       konctl ec reset 'NAME(ID)'\n"
    "\n"
    "list            the active error conditions (GET /api/v1/conditions); the default\n"
    "  --table       all 34 conditions of TAB_KON_503 instead\n"
    "reset NAME      end an active condition that an administrator may reset\n"
    "  --instance ID the instance, e.g. the card terminal; also NAME(ID) as in\n"
    "                'EC_CardTerminal_Not_Available(ct1)'\n";

int cmd_ec_print_active(FILE *f, const json_t *conditions, bool color)
{
    static const char *const headers[] = {"CONDITION", "TYPE",  "SEVERITY",
                                          "SINCE",     "RESET", "PARAMS"};
    struct out_table *t = NULL;
    const json_t *c = NULL;
    size_t i;
    int r;

    if (json_array_size(conditions) == 0) {
        (void)fputs("no active conditions\n", f);
        return 0;
    }
    t = out_table_new(ARRAY_SIZE(headers), headers);
    if (!t)
        return -ENOMEM;
    json_array_foreach(conditions, i, c)
    {
        const json_t *display = json_object_get(c, "display");

        out_table_add_json(t, json_is_string(display) ? display : json_object_get(c, "name"));
        out_table_add_json(t, json_object_get(c, "type"));
        out_table_add_json(t, json_object_get(c, "severity"));
        out_table_add_json(t, json_object_get(c, "since"));
        out_table_add_json(t, json_object_get(c, "reset"));
        out_table_add_json(t, json_object_get(c, "params"));
    }
    r = out_table_print(t, f, color);
    out_table_free(t);
    return r == -ENOMEM ? r : 0;
}

/* The table answer is {"conditions": [...]}; a bare array is accepted as well. */
static int print_table(const struct konctl *k, const json_t *answer)
{
    static const char *const headers[] = {"NAME",  "TYPE",       "SEVERITY",   "DETECTION",
                                          "RESET", "PARAMETERS", "DESCRIPTION"};
    const json_t *rows = json_is_array(answer) ? answer : json_object_get(answer, "conditions");
    struct out_table *t = NULL;
    const json_t *c = NULL;
    size_t i;
    int r;

    t = out_table_new(ARRAY_SIZE(headers), headers);
    if (!t)
        return -ENOMEM;
    json_array_foreach(rows, i, c)
    {
        const json_t *det = json_object_get(c, "detection_s");
        char detection[32];

        out_table_add_json(t, json_object_get(c, "name"));
        out_table_add_json(t, json_object_get(c, "type"));
        out_table_add_json(t, json_object_get(c, "severity"));
        if (json_is_integer(det)) {
            (void)snprintf(detection, sizeof(detection), "%" JSON_INTEGER_FORMAT " s",
                           json_integer_value(det));
            out_table_add(t, detection);
        } else {
            out_table_add_json(t, det);
        }
        out_table_add_json(t, json_object_get(c, "reset"));
        out_table_add_json(t, json_object_get(c, "parameters"));
        out_table_add_json(t, json_object_get(c, "description"));
    }
    r = out_table_print(t, stdout, k->color);
    out_table_free(t);
    return r == -ENOMEM ? r : 0;
}

static int ec_list(struct konctl *k, int argc, char **argv)
{
    struct args_opt opts[] = {{"table", false, NULL}};
    json_t *answer = NULL;
    struct args a;
    bool table;
    int r;

    if (!args_command(k, argc, argv, opts, ARRAY_SIZE(opts), 0, 0, ec_usage, &a, &r))
        return r;
    table = opts[0].value != NULL;
    r = konctl_call(k, "GET", table ? "/api/v1/conditions/table" : "/api/v1/conditions", NULL,
                    &answer);
    if (r != KONCTL_EXIT_OK)
        return r;
    if (k->json) {
        (void)out_json_print(stdout, answer);
    } else if ((table ? print_table(k, answer)
                      : cmd_ec_print_active(stdout, json_object_get(answer, "conditions"),
                                            k->color)) < 0) {
        konctl_error("out of memory");
        r = KONCTL_EXIT_ERROR;
    }
    json_decref(answer);
    return r;
}

static int ec_reset(struct konctl *k, int argc, char **argv)
{
    struct args_opt opts[] = {{"instance", true, NULL}};
    char name[EC_NAME_MAX];
    char instance[EC_INSTANCE_MAX];
    json_t *body = NULL;
    json_t *answer = NULL;
    struct args a;
    int r;

    if (!args_command(k, argc, argv, opts, ARRAY_SIZE(opts), 1, 1, ec_usage, &a, &r))
        return r;
    r = args_condition_parse(a.pos[0], name, sizeof(name), instance, sizeof(instance));
    if (r < 0) {
        konctl_error("'%s' is not a condition name%s", a.pos[0],
                     r == -ENAMETOOLONG ? " (too long)" : "");
        konctl_hint("write NAME or NAME(ID), e.g. EC_LOG_OVERFLOW or "
                    "'EC_CardTerminal_Not_Available(ct1)'");
        return KONCTL_EXIT_USAGE;
    }
    if (opts[0].value) {
        if (instance[0] && strcmp(instance, opts[0].value) != 0) {
            konctl_error("two instances given: '%s' and --instance '%s'", instance, opts[0].value);
            return KONCTL_EXIT_USAGE;
        }
        if (strlen(opts[0].value) >= sizeof(instance)) {
            konctl_error("the instance '%s' is too long", opts[0].value);
            return KONCTL_EXIT_USAGE;
        }
        (void)snprintf(instance, sizeof(instance), "%s", opts[0].value);
    }
    body = json_pack("{s:s, s:s}", "name", name, "instance", instance);
    if (!body) {
        /* jansson refuses text that is not UTF-8; running out of memory is the other cause. */
        konctl_error("cannot send the instance '%s': it is not valid UTF-8", instance);
        return KONCTL_EXIT_USAGE;
    }
    r = konctl_call(k, "POST", "/api/v1/conditions/reset", body, &answer);
    if (r != KONCTL_EXIT_OK)
        goto out;
    if (k->json)
        (void)out_json_print(stdout, answer);
    else if (instance[0])
        (void)printf("reset %s(%s)\n", name, instance);
    else
        (void)printf("reset %s\n", name);
out:
    json_decref(answer);
    json_decref(body);
    return r;
}

int cmd_ec(struct konctl *k, int argc, char **argv)
{
    static const char *const names[] = {"list", "reset"};
    int shift = 0;
    int r;
    int i;

    i = args_subcommand(argc, argv, names, ARRAY_SIZE(names), "list", ec_usage, &shift, &r);
    if (i < 0)
        return r;
    if (i == 0)
        return ec_list(k, argc - shift, argv + shift);
    return ec_reset(k, argc - shift, argv + shift);
}
