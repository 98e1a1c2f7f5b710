/* Helpers shared by the info-model tests (test_infomodel.c, test_infomodel_mem.c): a store
 * on a temporary database per test, and the ids or pairs a foreach hands over, joined as
 * "a b c" or "a/b c/d". Include after cmocka.h and store_test.h. */
#ifndef KONN_INFOMODEL_TEST_H
#define KONN_INFOMODEL_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"

struct fixture {
    struct tmpdb t;
    struct store *st;
};

static inline int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (!f || tmpdb_make(&f->t) < 0 || store_open(f->t.path, &f->st) < 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static inline int teardown(void **state)
{
    struct fixture *f = *state;

    f->st = store_close(f->st);
    tmpdb_remove(&f->t);
    free(f);
    return 0;
}

struct seen {
    char text[1024];
};

static inline void seen_add(struct seen *s, const char *item)
{
    size_t len = strlen(s->text);

    (void)snprintf(s->text + len, sizeof(s->text) - len, "%s%s", len ? " " : "", item);
}

static inline void remember_id(const char *id, void *arg)
{
    seen_add(arg, id);
}

static inline void remember_pair(const char *a, const char *b, void *arg)
{
    char pair[2 * STORE_ENTITY_ID_MAX + 2];

    (void)snprintf(pair, sizeof(pair), "%s/%s", a, b);
    seen_add(arg, pair);
}

static inline const char *ids_of(struct store *st, enum store_entity kind, struct seen *s)
{
    s->text[0] = '\0';
    assert_int_equal(store_entity_foreach(st, kind, remember_id, s), 0);
    return s->text;
}

static inline const char *pairs_of(struct store *st, enum store_relation rel, const char *a,
                                   const char *b, struct seen *s)
{
    s->text[0] = '\0';
    assert_int_equal(store_relation_foreach(st, rel, a, b, remember_pair, s), 0);
    return s->text;
}

static inline void add(struct store *st, enum store_entity kind, const char *id)
{
    assert_int_equal(store_entity_add(st, kind, id), 0);
}

static inline void relate(struct store *st, enum store_relation rel, const char *a, const char *b)
{
    assert_int_equal(store_relation_add(st, rel, a, b, NULL), 0);
}

#endif
