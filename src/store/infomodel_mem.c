/* store/infomodel_mem: an in-memory copy of the info model (entities, card terminal
 * attributes, relations), so that the reads on the SOAP request path (TUC_KON_000 context
 * checks, terminal visibility in GetCards and GetCardTerminals) cost a binary search instead
 * of an SQLite read transaction with its two fcntl locks per statement (issue #4,
 * bench/README.md "SOAP"). infomodel.c answers its reads from here and falls back to SQLite
 * whenever there is no valid copy; this file only loads, searches and frees the copy.
 *
 * Invariants:
 *  1. A copy equals the committed content of config.db as this connection last saw it: it is
 *     loaded only outside a transaction (sqlite3_get_autocommit), in one read transaction,
 *     and every write function of the info model drops it (store__im_invalidate) before it
 *     writes, whether the write then succeeds, fails or is rolled back. The store's own write
 *     functions are the only writers of config.db in the daemon; a change another process
 *     makes while the store is open is seen after the next write of this store or reopen.
 *  2. Rows the SQLite path would not hand out are not in the copy either: an id outside the
 *     alphabet, an unknown kind or relation (store_entity_id_is_valid; infomodel.c
 *     invariant 1). A terminal with damaged attributes is in the copy, marked, so that
 *     store_ct_get answers -EBADMSG as before.
 *  3. Every array is sorted (ids by strcmp, pairs by a then b), which is SQLite's BINARY
 *     order of "ORDER BY", so foreach keeps its order.
 *  4. Nothing hands out a pointer into a copy that outlives the call: foreach collects into
 *     a list before any callback runs (infomodel.c invariant 4). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "store/store_internal.h"

typedef char store__im_id[STORE_ENTITY_ID_MAX + 1];

struct store__im_pair {
    store__im_id a, b;
};

struct store__im_ct {
    struct store_ct ct;
    bool damaged; /* name or slots break the rules: store_ct_get says -EBADMSG */
};

struct store__im {
    store__im_id *ids[STORE_ENTITY_MAX]; /* sorted */
    size_t n_ids[STORE_ENTITY_MAX], cap_ids[STORE_ENTITY_MAX];
    struct store__im_ct *cts; /* sorted by id; the same terminals as ids[CARD_TERMINAL] */
    size_t n_cts, cap_cts;
    struct store__im_pair *pairs[STORE_REL_MAX]; /* sorted by (a, b) */
    size_t n_pairs[STORE_REL_MAX], cap_pairs[STORE_REL_MAX];
};

/* ---- lists ------------------------------------------------------------------------------ */

int store__ids_add(struct store__ids *l, const char *id)
{
    if (l->n == l->cap) {
        size_t ncap = l->cap ? 2 * l->cap : 16;
        store__im_id *grown = realloc(l->ids, ncap * sizeof(*l->ids));

        if (!grown)
            return -ENOMEM;
        l->ids = grown;
        l->cap = ncap;
    }
    (void)str_copy(l->ids[l->n++], sizeof(l->ids[0]), id);
    return 0;
}

void store__ids_done(struct store__ids *l)
{
    free(l->ids);
    *l = (struct store__ids){0};
}

/* Makes room for one more element of size elem in *v (n used, *cap allocated). */
static int grow(void **v, size_t n, size_t *cap, size_t elem)
{
    size_t ncap;
    void *grown;

    if (n < *cap)
        return 0;
    ncap = *cap ? 2 * *cap : 8;
    grown = realloc(*v, ncap * elem);
    if (!grown)
        return -ENOMEM;
    *v = grown;
    *cap = ncap;
    return 0;
}

/* ---- loading ---------------------------------------------------------------------------- */

struct store__im *store__im_free(struct store__im *im)
{
    if (!im)
        return NULL;
    for (unsigned i = 0; i < STORE_ENTITY_MAX; i++)
        free(im->ids[i]);
    for (unsigned i = 0; i < STORE_REL_MAX; i++)
        free(im->pairs[i]);
    free(im->cts);
    free(im);
    return NULL;
}

static int cmp_id(const void *x, const void *y)
{
    return strcmp(x, y);
}

static int cmp_ct(const void *x, const void *y)
{
    const struct store__im_ct *a = x, *b = y;

    return strcmp(a->ct.id, b->ct.id);
}

static int cmp_pair(const void *x, const void *y)
{
    const struct store__im_pair *a = x, *b = y;
    int c = strcmp(a->a, b->a);

    return c ? c : strcmp(a->b, b->b);
}

static const char *column_text(sqlite3_stmt *s, int i)
{
    return (const char *)sqlite3_column_text(s, i);
}

static int add_terminal(struct store__im *im, sqlite3_stmt *s, const char *id)
{
    struct store__im_ct *c;
    const char *name = column_text(s, 2);
    int64_t slots = sqlite3_column_int64(s, 3);
    int r = grow((void **)&im->cts, im->n_cts, &im->cap_cts, sizeof(*im->cts));

    if (r < 0)
        return r;
    c = &im->cts[im->n_cts++];
    *c = (struct store__im_ct){0};
    (void)str_copy(c->ct.id, sizeof(c->ct.id), id);
    c->damaged = !store_ct_name_is_valid(name) || slots < 1 || slots > STORE_CT_SLOTS_MAX;
    if (!c->damaged) {
        (void)str_copy(c->ct.name, sizeof(c->ct.name), name);
        c->ct.slots = (unsigned)slots;
        c->ct.active = sqlite3_column_int(s, 4) != 0;
    }
    return 0;
}

/* One row of "SELECT kind, id, name, slots, active FROM entities". */
static int add_entity(struct store__im *im, sqlite3_stmt *s)
{
    const char *kind_text = column_text(s, 0), *id = column_text(s, 1);
    enum store_entity kind;
    int r;

    if (!kind_text || store_entity_from_string(kind_text, &kind) < 0 ||
        !store_entity_id_is_valid(id)) {
        log_msg(LOG_LEVEL_WARNING, "store: skipping a damaged row of the info model");
        return 0;
    }
    r = grow((void **)&im->ids[kind], im->n_ids[kind], &im->cap_ids[kind], sizeof(store__im_id));
    if (r < 0)
        return r;
    (void)str_copy(im->ids[kind][im->n_ids[kind]++], sizeof(store__im_id), id);
    return kind == STORE_ENTITY_CARD_TERMINAL ? add_terminal(im, s, id) : 0;
}

/* One row of "SELECT rel, a, b FROM relations". */
static int add_pair(struct store__im *im, sqlite3_stmt *s)
{
    const char *rel_text = column_text(s, 0), *a = column_text(s, 1), *b = column_text(s, 2);
    struct store__im_pair *p;
    enum store_relation rel;
    int r;

    if (!rel_text || store_relation_from_string(rel_text, &rel) < 0 ||
        !store_entity_id_is_valid(a) || !store_entity_id_is_valid(b)) {
        log_msg(LOG_LEVEL_WARNING, "store: skipping a damaged row of the info model");
        return 0;
    }
    r = grow((void **)&im->pairs[rel], im->n_pairs[rel], &im->cap_pairs[rel], sizeof(*p));
    if (r < 0)
        return r;
    p = &im->pairs[rel][im->n_pairs[rel]++];
    (void)str_copy(p->a, sizeof(p->a), a);
    (void)str_copy(p->b, sizeof(p->b), b);
    return 0;
}

static int read_rows(struct store *st, enum store__stmt which, struct store__im *im,
                     int (*add)(struct store__im *im, sqlite3_stmt *s))
{
    sqlite3_stmt *s = store__stmt(st, which);
    int rc;
    int r = 0;

    while (r == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW)
        r = add(im, s);
    if (r == 0 && rc != SQLITE_DONE)
        r = store__sqlite_errno(rc);
    (void)sqlite3_reset(s);
    return r;
}

/* Reads the whole info model in one read transaction (invariant 1). */
static int load(struct store *st, struct store__im **ret_im)
{
    struct store__im *im = calloc(1, sizeof(*im));
    int r;

    if (!im)
        return -ENOMEM;
    r = store__tx_begin_read(st);
    if (r < 0)
        goto out;
    r = read_rows(st, STORE__STMT_ENTITY_LOAD, im, add_entity);
    if (r == 0)
        r = read_rows(st, STORE__STMT_RELATION_LOAD, im, add_pair);
    if (r == 0)
        r = store__tx_commit(st);
    else
        store__tx_rollback(st);
    if (r < 0)
        goto out;
    /* Invariant 3. */
    for (unsigned i = 0; i < STORE_ENTITY_MAX; i++)
        if (im->n_ids[i] > 1)
            qsort(im->ids[i], im->n_ids[i], sizeof(store__im_id), cmp_id);
    if (im->n_cts > 1)
        qsort(im->cts, im->n_cts, sizeof(*im->cts), cmp_ct);
    for (unsigned i = 0; i < STORE_REL_MAX; i++)
        if (im->n_pairs[i] > 1)
            qsort(im->pairs[i], im->n_pairs[i], sizeof(struct store__im_pair), cmp_pair);
    *ret_im = im;
    im = NULL;
out:
    (void)store__im_free(im);
    return r;
}

void store__im_invalidate(struct store *st)
{
    st->im = store__im_free(st->im);
}

const struct store__im *store__im_get(struct store *st)
{
    int r;

    if (st->im)
        return st->im;
    /* Inside a transaction the copy would hold uncommitted rows that a rollback takes back;
     * the SQLite path sees them correctly (invariant 1). */
    if (!sqlite3_get_autocommit(st->db))
        return NULL;
    r = load(st, &st->im);
    if (r < 0)
        log_errno(LOG_LEVEL_DEBUG, r,
                  "store: loading the info model into memory failed, "
                  "reading it from SQLite");
    return st->im;
}

/* ---- searching -------------------------------------------------------------------------- */

/* Index of the first id >= key in the sorted ids (n if none). */
static size_t lower_id(const store__im_id *ids, size_t n, const char *key)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (strcmp(ids[mid], key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Index of the first pair >= (a, b) (b NULL: the first with this a), n if none. */
static size_t lower_pair(const struct store__im_pair *p, size_t n, const char *a, const char *b)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(p[mid].a, a);

        if (c == 0 && b)
            c = strcmp(p[mid].b, b);
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

bool store__im_entity_exists(const struct store__im *im, enum store_entity kind, const char *id)
{
    size_t i = lower_id(im->ids[kind], im->n_ids[kind], id);

    return i < im->n_ids[kind] && strcmp(im->ids[kind][i], id) == 0;
}

size_t store__im_entity_count(const struct store__im *im, enum store_entity kind)
{
    return im->n_ids[kind];
}

int store__im_ct_get(const struct store__im *im, const char *id, struct store_ct *ret_ct)
{
    size_t lo = 0, hi = im->n_cts;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(im->cts[mid].ct.id, id);

        if (c == 0) {
            if (im->cts[mid].damaged)
                return -EBADMSG;
            *ret_ct = im->cts[mid].ct;
            return 0;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -ENOENT;
}

bool store__im_relation_exists(const struct store__im *im, enum store_relation rel, const char *a,
                               const char *b)
{
    size_t n = im->n_pairs[rel];
    size_t i = lower_pair(im->pairs[rel], n, a, b);

    return i < n && strcmp(im->pairs[rel][i].a, a) == 0 && strcmp(im->pairs[rel][i].b, b) == 0;
}

int store__im_entity_collect(const struct store__im *im, enum store_entity kind,
                             struct store__ids *l)
{
    for (size_t i = 0; i < im->n_ids[kind]; i++) {
        int r = store__ids_add(l, im->ids[kind][i]);

        if (r < 0)
            return r;
    }
    return 0;
}

int store__im_relation_collect(const struct store__im *im, enum store_relation rel, const char *a,
                               const char *b, struct store__ids *l)
{
    const struct store__im_pair *p = im->pairs[rel];
    size_t n = im->n_pairs[rel];
    /* With a given, its pairs are one run of the sorted array. */
    size_t i = a ? lower_pair(p, n, a, NULL) : 0;

    for (; i < n && (!a || strcmp(p[i].a, a) == 0); i++) {
        int r = 0;

        if (b && strcmp(p[i].b, b) != 0)
            continue;
        r = store__ids_add(l, p[i].a);
        if (r == 0)
            r = store__ids_add(l, p[i].b);
        if (r < 0)
            return r;
    }
    return 0;
}
