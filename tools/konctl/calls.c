/* calls: the shapes most commands share on top of konctl_call(): a listing printed as a
 * table, and a request whose success is one line of text. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "konctl.h"
#include "output.h"

int konctl_list(struct konctl *k, const char *path, const struct konctl_listing *l)
{
    struct out_table *t = NULL;
    json_t *answer = NULL;
    const json_t *item;
    size_t i;
    int r;

    r = konctl_call(k, "GET", path, NULL, &answer);
    if (r != KONCTL_EXIT_OK)
        return r;
    if (k->json) {
        (void)out_json_print(stdout, answer);
        goto out;
    }
    t = out_table_new(l->n_headers, l->headers);
    if (!t) {
        r = -ENOMEM;
        goto out;
    }
    json_array_foreach(json_object_get(answer, l->member), i, item)
    {
        l->row(t, item);
    }
    if (out_table_rows(t) == 0 && l->empty)
        (void)printf("%s\n", l->empty);
    else if (out_table_print(t, stdout, k->color) == -ENOMEM)
        r = -ENOMEM;
out:
    if (r < 0) {
        konctl_error("out of memory");
        r = KONCTL_EXIT_ERROR;
    }
    out_table_free(t);
    json_decref(answer);
    return r;
}

int konctl_show(struct konctl *k, const char *path,
                int (*print)(const struct konctl *k, const json_t *answer))
{
    json_t *answer = NULL;
    int r = konctl_call(k, "GET", path, NULL, &answer);

    if (r != KONCTL_EXIT_OK)
        return r;
    if (k->json)
        (void)out_json_print(stdout, answer);
    else
        r = print(k, answer);
    json_decref(answer);
    return r;
}

int konctl_send(struct konctl *k, const char *method, const char *path, const json_t *body,
                const char *done_fmt, ...)
{
    json_t *answer = NULL;
    va_list ap;
    int r;

    if (!path) {
        konctl_error("out of memory");
        return KONCTL_EXIT_ERROR;
    }
    r = konctl_call(k, method, path, body, &answer);
    if (r == KONCTL_EXIT_OK && k->json) {
        (void)out_json_print(stdout, answer);
    } else if (r == KONCTL_EXIT_OK) {
        va_start(ap, done_fmt);
        (void)vprintf(done_fmt, ap);
        va_end(ap);
        (void)putchar('\n');
    }
    json_decref(answer);
    return r;
}
