/* store/infomodel: the persistent part of the connector's information model (TIP1-A_4522,
 * TIP1-A_4526; digest section 1.3): Mandanten, client systems, workplaces and card terminals,
 * and the relations between them, in the entities and relations tables of config.db. It does
 * not decide who may change them (mgmt does) and does not evaluate access (TUC_KON_000 reads
 * the relations through this file's functions).
 *
 * Invariants:
 *  1. Every stored id satisfies store_entity_id_is_valid(); a card terminal also has a valid
 *     name and 1..STORE_CT_SLOTS_MAX slots. The schema's CHECKs repeat the rules, so a row
 *     that breaks them can only come from a file edited by hand; such rows are skipped.
 *  2. A relation's ends exist (foreign keys, migration 2), except the ICCSN end of
 *     mandant-smb. Deleting an entity deletes its relations in the same statement.
 *  3. Every change is one transaction: a single statement in autocommit mode, or, for seed
 *     and reset, one BEGIN IMMEDIATE ... COMMIT that is rolled back on any failure.
 *  4. foreach reads all rows before it calls fn, so fn may change the info model.
 *  5. Reads come from the in-memory copy (infomodel_mem.c) when there is one, else from
 *     SQLite, with the same answers; every write drops the copy before it writes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/base.h"
#include "store/store_internal.h"

static const char *const entity_names[STORE_ENTITY_MAX] = {
    [STORE_ENTITY_MANDANT] = "mandant",
    [STORE_ENTITY_CLIENT_SYSTEM] = "client-system",
    [STORE_ENTITY_WORKPLACE] = "workplace",
    [STORE_ENTITY_CARD_TERMINAL] = "card-terminal",
};

/* The kinds of a relation's ends; STORE_ENTITY_MAX marks an end that is no entity. These
 * match the CHECK of the relations table in db.c. */
static const struct {
    const char *name;
    enum store_entity a, b;
} relations[STORE_REL_MAX] = {
    [STORE_REL_MANDANT_CLIENT_SYSTEM] = {"mandant-client-system", STORE_ENTITY_MANDANT,
                                         STORE_ENTITY_CLIENT_SYSTEM},
    [STORE_REL_MANDANT_WORKPLACE] = {"mandant-workplace", STORE_ENTITY_MANDANT,
                                     STORE_ENTITY_WORKPLACE},
    [STORE_REL_WORKPLACE_CT_LOCAL] = {"workplace-ct-local", STORE_ENTITY_WORKPLACE,
                                      STORE_ENTITY_CARD_TERMINAL},
    [STORE_REL_WORKPLACE_CT_REMOTE] = {"workplace-ct-remote", STORE_ENTITY_WORKPLACE,
                                       STORE_ENTITY_CARD_TERMINAL},
    [STORE_REL_MANDANT_SMB] = {"mandant-smb", STORE_ENTITY_MANDANT, STORE_ENTITY_MAX},
};

/* ---- names and rules -------------------------------------------------------------------- */

const char *store_entity_to_string(enum store_entity kind)
{
    if ((unsigned)kind >= STORE_ENTITY_MAX)
        return NULL;
    return entity_names[kind];
}

int store_entity_from_string(const char *s, enum store_entity *ret_kind)
{
    if (!s || !ret_kind)
        return -EINVAL;
    for (unsigned i = 0; i < STORE_ENTITY_MAX; i++) {
        if (strcasecmp(s, entity_names[i]) == 0) {
            *ret_kind = (enum store_entity)i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *store_relation_to_string(enum store_relation rel)
{
    if ((unsigned)rel >= STORE_REL_MAX)
        return NULL;
    return relations[rel].name;
}

int store_relation_from_string(const char *s, enum store_relation *ret_rel)
{
    if (!s || !ret_rel)
        return -EINVAL;
    for (unsigned i = 0; i < STORE_REL_MAX; i++) {
        if (strcasecmp(s, relations[i].name) == 0) {
            *ret_rel = (enum store_relation)i;
            return 0;
        }
    }
    return -EINVAL;
}

int store_relation_kinds(enum store_relation rel, enum store_entity *ret_a,
                         enum store_entity *ret_b)
{
    if ((unsigned)rel >= STORE_REL_MAX || !ret_a || !ret_b)
        return -EINVAL;
    *ret_a = relations[rel].a;
    *ret_b = relations[rel].b;
    return 0;
}

bool store_entity_id_is_valid(const char *id)
{
    size_t n;

    if (!id)
        return false;
    n = strnlen(id, STORE_ENTITY_ID_MAX + 1);
    if (n == 0 || n > STORE_ENTITY_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* Length of the UTF-8 sequence starting at s (at most n bytes available), or 0 if it is not
 * a well-formed one (no overlong forms, surrogates or code points above U+10FFFF). */
static size_t utf8_sequence(const unsigned char *s, size_t n)
{
    uint32_t cp;
    size_t len;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2;
        cp = s[0] & 0x1fu;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3;
        cp = s[0] & 0x0fu;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4;
        cp = s[0] & 0x07u;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

bool store_ct_name_is_valid(const char *name)
{
    const unsigned char *s = (const unsigned char *)name;
    size_t n;

    if (!name)
        return false;
    n = strnlen(name, STORE_ENTITY_ID_MAX + 1);
    if (n == 0 || n > STORE_ENTITY_ID_MAX)
        return false;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_sequence(s + i, n - i);

        /* Control characters could rewrite a terminal or a log line (C0, DEL, C1). */
        if (len == 0 || s[i] < 0x20 || s[i] == 0x7f || (s[i] == 0xc2 && s[i + 1] < 0xa0))
            return false;
        i += len;
    }
    return true;
}

static bool ct_is_valid(const struct store_ct *ct)
{
    return ct && store_entity_id_is_valid(ct->id) && store_ct_name_is_valid(ct->name) &&
           ct->slots >= 1 && ct->slots <= STORE_CT_SLOTS_MAX;
}

/* ---- statements ------------------------------------------------------------------------- */

static void done(sqlite3_stmt *s)
{
    (void)sqlite3_reset(s);
    (void)sqlite3_clear_bindings(s);
}

/* Binds the text parameters of s in order (1, 2, ...); NULL binds SQL NULL. */
static int bind_texts(sqlite3_stmt *s, const char *const *texts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc = texts[i] ? sqlite3_bind_text(s, (int)i + 1, texts[i], -1, SQLITE_STATIC)
                          : sqlite3_bind_null(s, (int)i + 1);

        if (rc != SQLITE_OK)
            return -ENOMEM;
    }
    return 0;
}

/* Runs a write statement whose parameters are all text. 0, -ENOENT if it changed no row,
 * -EEXIST for a unique or primary key conflict, -EIO otherwise. */
static int write_texts(struct store *st, enum store__stmt which, const char *const *texts, size_t n)
{
    sqlite3_stmt *s = store__stmt(st, which);
    int rc;
    int r;

    store__im_invalidate(st);
    r = bind_texts(s, texts, n);
    if (r < 0)
        goto out;
    rc = sqlite3_step(s);
    if (rc != SQLITE_DONE) {
        log_msg(LOG_LEVEL_DEBUG, "store: '%s' failed: %s", sqlite3_sql(s), sqlite3_errmsg(st->db));
        /* Only a key conflict means "exists"; a CHECK or foreign key is a broken rule. */
        r = rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE ? -EEXIST : -EIO;
        goto out;
    }
    if (sqlite3_changes(st->db) == 0)
        r = -ENOENT;
out:
    done(s);
    return r;
}

/* Whether a statement with text parameters yields a row. */
static bool has_row(struct store *st, enum store__stmt which, const char *const *texts, size_t n)
{
    sqlite3_stmt *s = store__stmt(st, which);
    bool found = bind_texts(s, texts, n) == 0 && sqlite3_step(s) == SQLITE_ROW;

    done(s);
    return found;
}

/* Runs a count(*) statement with text parameters; 0 if it fails (logged at debug level). */
static size_t count_rows(struct store *st, enum store__stmt which, const char *const *texts,
                         size_t n)
{
    sqlite3_stmt *s = store__stmt(st, which);
    size_t count = 0;
    int rc = SQLITE_NOMEM;

    if (bind_texts(s, texts, n) == 0)
        rc = sqlite3_step(s);
    if (rc == SQLITE_ROW && sqlite3_column_int64(s, 0) > 0)
        count = (size_t)sqlite3_column_int64(s, 0);
    else if (rc != SQLITE_ROW)
        log_msg(LOG_LEVEL_DEBUG, "store: counting info model rows failed: %s",
                sqlite3_errmsg(st->db));
    done(s);
    return count;
}

/* ---- entities --------------------------------------------------------------------------- */

static int insert_ct(struct store *st, const struct store_ct *ct)
{
    sqlite3_stmt *s = store__stmt(st, STORE__STMT_ENTITY_INSERT);
    int rc = SQLITE_NOMEM;
    int r = 0;

    store__im_invalidate(st);
    if (sqlite3_bind_text(s, 1, entity_names[STORE_ENTITY_CARD_TERMINAL], -1, SQLITE_STATIC) ==
            SQLITE_OK &&
        sqlite3_bind_text(s, 2, ct->id, -1, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_bind_text(s, 3, ct->name, -1, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_bind_int64(s, 4, ct->slots) == SQLITE_OK &&
        sqlite3_bind_int(s, 5, ct->active ? 1 : 0) == SQLITE_OK)
        rc = sqlite3_step(s);
    if (rc != SQLITE_DONE) {
        log_msg(LOG_LEVEL_DEBUG, "store: adding card terminal '%s' failed: %s", ct->id,
                sqlite3_errmsg(st->db));
        r = rc == SQLITE_CONSTRAINT_PRIMARYKEY ? -EEXIST : -EIO;
    }
    done(s);
    return r;
}

int store_ct_add(struct store *st, const struct store_ct *ct)
{
    if (!st || !ct_is_valid(ct))
        return -EINVAL;
    return insert_ct(st, ct);
}

/* Fills a terminal with the defaults of store_entity_add: the id as name, 4 slots, active. */
static void ct_defaults(struct store_ct *ct, const char *id)
{
    *ct = (struct store_ct){.slots = STORE_CT_SLOTS_DEFAULT, .active = true};
    (void)str_copy(ct->id, sizeof(ct->id), id);
    (void)str_copy(ct->name, sizeof(ct->name), id);
}

int store_entity_add(struct store *st, enum store_entity kind, const char *id)
{
    struct store_ct ct;

    if (!st || (unsigned)kind >= STORE_ENTITY_MAX || !store_entity_id_is_valid(id))
        return -EINVAL;
    if (kind == STORE_ENTITY_CARD_TERMINAL) {
        ct_defaults(&ct, id);
        return insert_ct(st, &ct);
    }
    /* name, slots and active stay NULL: only terminals have attributes. */
    return write_texts(st, STORE__STMT_ENTITY_INSERT,
                       (const char *const[]){entity_names[kind], id, NULL, NULL, NULL}, 5);
}

int store_entity_delete(struct store *st, enum store_entity kind, const char *id)
{
    if (!st || (unsigned)kind >= STORE_ENTITY_MAX || !store_entity_id_is_valid(id))
        return -EINVAL;
    /* ON DELETE CASCADE removes the relations in the same statement (invariant 2). */
    return write_texts(st, STORE__STMT_ENTITY_DELETE, (const char *const[]){entity_names[kind], id},
                       2);
}

bool store_entity_exists(struct store *st, enum store_entity kind, const char *id)
{
    const struct store__im *im;

    if (!st || (unsigned)kind >= STORE_ENTITY_MAX || !store_entity_id_is_valid(id))
        return false;
    im = store__im_get(st);
    if (im)
        return store__im_entity_exists(im, kind, id);
    return has_row(st, STORE__STMT_ENTITY_EXISTS, (const char *const[]){entity_names[kind], id}, 2);
}

/* Reads every row of a list statement into l, taking columns 0..n_cols-1 of each row as ids.
 * A row with an invalid id is skipped with a warning (invariant 1). */
static int read_ids(struct store *st, sqlite3_stmt *s, size_t n_cols, struct store__ids *l)
{
    int rc;
    int r = 0;

    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        bool ok = true;

        for (size_t i = 0; i < n_cols; i++)
            ok = ok && store_entity_id_is_valid((const char *)sqlite3_column_text(s, (int)i));
        if (!ok) {
            log_msg(LOG_LEVEL_WARNING, "store: skipping a damaged row of the info model");
            continue;
        }
        for (size_t i = 0; i < n_cols && r == 0; i++)
            r = store__ids_add(l, (const char *)sqlite3_column_text(s, (int)i));
        if (r < 0)
            return r;
    }
    return rc == SQLITE_DONE ? 0 : store__sqlite_errno(rc);
}

int store_entity_foreach(struct store *st, enum store_entity kind,
                         void (*fn)(const char *id, void *arg), void *arg)
{
    const struct store__im *im;
    struct store__ids l = {0};
    sqlite3_stmt *s;
    int r;

    if (!st || (unsigned)kind >= STORE_ENTITY_MAX || !fn)
        return -EINVAL;
    im = store__im_get(st);
    if (im) {
        r = store__im_entity_collect(im, kind, &l);
    } else {
        s = store__stmt(st, STORE__STMT_ENTITY_LIST);
        r = bind_texts(s, (const char *const[]){entity_names[kind]}, 1);
        if (r == 0)
            r = read_ids(st, s, 1, &l);
        /* Reset before the callbacks: no read transaction stays open while fn runs. */
        done(s);
    }
    for (size_t i = 0; r == 0 && i < l.n; i++)
        fn(l.ids[i], arg);
    store__ids_done(&l);
    return r;
}

size_t store_entity_count(struct store *st, enum store_entity kind)
{
    const struct store__im *im;

    if (!st || (unsigned)kind >= STORE_ENTITY_MAX)
        return 0;
    im = store__im_get(st);
    if (im)
        return store__im_entity_count(im, kind);
    return count_rows(st, STORE__STMT_ENTITY_COUNT, (const char *const[]){entity_names[kind]}, 1);
}

/* ---- card terminals --------------------------------------------------------------------- */

int store_ct_get(struct store *st, const char *id, struct store_ct *ret_ct)
{
    const struct store__im *im;
    struct store_ct ct = {0};
    sqlite3_stmt *s;
    int64_t slots;
    int rc;
    int r = 0;

    if (!st || !store_entity_id_is_valid(id) || !ret_ct)
        return -EINVAL;
    im = store__im_get(st);
    if (im)
        return store__im_ct_get(im, id, ret_ct);
    s = store__stmt(st, STORE__STMT_CT_SELECT);
    if (bind_texts(s, (const char *const[]){id}, 1) < 0) {
        r = -ENOMEM;
        goto out;
    }
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        r = -ENOENT;
        goto out;
    }
    if (rc != SQLITE_ROW) {
        r = store__sqlite_errno(rc);
        goto out;
    }
    slots = sqlite3_column_int64(s, 2);
    if (str_copy(ct.id, sizeof(ct.id), (const char *)sqlite3_column_text(s, 0)) < 0 ||
        str_copy(ct.name, sizeof(ct.name), (const char *)sqlite3_column_text(s, 1)) < 0 ||
        slots < 1 || slots > STORE_CT_SLOTS_MAX) {
        r = -EBADMSG;
        goto out;
    }
    ct.slots = (unsigned)slots;
    ct.active = sqlite3_column_int(s, 3) != 0;
    if (!ct_is_valid(&ct)) {
        r = -EBADMSG;
        goto out;
    }
    *ret_ct = ct;
out:
    done(s);
    return r;
}

int store_ct_update(struct store *st, const struct store_ct *ct)
{
    sqlite3_stmt *s;
    int rc = SQLITE_NOMEM;
    int r = 0;

    if (!st || !ct_is_valid(ct))
        return -EINVAL;
    store__im_invalidate(st);
    s = store__stmt(st, STORE__STMT_CT_UPDATE);
    if (sqlite3_bind_text(s, 1, ct->id, -1, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_bind_text(s, 2, ct->name, -1, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_bind_int64(s, 3, ct->slots) == SQLITE_OK &&
        sqlite3_bind_int(s, 4, ct->active ? 1 : 0) == SQLITE_OK)
        rc = sqlite3_step(s);
    if (rc != SQLITE_DONE) {
        log_msg(LOG_LEVEL_DEBUG, "store: updating card terminal '%s' failed: %s", ct->id,
                sqlite3_errmsg(st->db));
        r = -EIO;
    } else if (sqlite3_changes(st->db) == 0) {
        r = -ENOENT;
    }
    done(s);
    return r;
}

/* ---- relations -------------------------------------------------------------------------- */

static bool relation_args_are_valid(struct store *st, enum store_relation rel, const char *a,
                                    const char *b)
{
    return st && (unsigned)rel < STORE_REL_MAX && store_entity_id_is_valid(a) &&
           store_entity_id_is_valid(b);
}

int store_relation_add(struct store *st, enum store_relation rel, const char *a, const char *b,
                       const char **ret_missing)
{
    const char *b_kind;

    if (!relation_args_are_valid(st, rel, a, b))
        return -EINVAL;
    /* The foreign keys would refuse a missing end too, but not say which one. */
    if (!store_entity_exists(st, relations[rel].a, a)) {
        if (ret_missing)
            *ret_missing = a;
        return -ENOENT;
    }
    if (relations[rel].b != STORE_ENTITY_MAX && !store_entity_exists(st, relations[rel].b, b)) {
        if (ret_missing)
            *ret_missing = b;
        return -ENOENT;
    }
    b_kind = relations[rel].b == STORE_ENTITY_MAX ? NULL : entity_names[relations[rel].b];
    return write_texts(
        st, STORE__STMT_RELATION_INSERT,
        (const char *const[]){relations[rel].name, a, b, entity_names[relations[rel].a], b_kind},
        5);
}

int store_relation_delete(struct store *st, enum store_relation rel, const char *a, const char *b)
{
    if (!relation_args_are_valid(st, rel, a, b))
        return -EINVAL;
    return write_texts(st, STORE__STMT_RELATION_DELETE,
                       (const char *const[]){relations[rel].name, a, b}, 3);
}

bool store_relation_exists(struct store *st, enum store_relation rel, const char *a, const char *b)
{
    const struct store__im *im;

    if (!relation_args_are_valid(st, rel, a, b))
        return false;
    im = store__im_get(st);
    if (im)
        return store__im_relation_exists(im, rel, a, b);
    return has_row(st, STORE__STMT_RELATION_EXISTS,
                   (const char *const[]){relations[rel].name, a, b}, 3);
}

int store_relation_foreach(struct store *st, enum store_relation rel, const char *a, const char *b,
                           void (*fn)(const char *a, const char *b, void *arg), void *arg)
{
    const struct store__im *im;
    struct store__ids l = {0};
    sqlite3_stmt *s;
    int r;

    if (!st || (unsigned)rel >= STORE_REL_MAX || !fn)
        return -EINVAL;
    /* An invalid id cannot be stored (invariant 1): it matches nothing. */
    if ((a && !store_entity_id_is_valid(a)) || (b && !store_entity_id_is_valid(b)))
        return 0;
    im = store__im_get(st);
    if (im) {
        r = store__im_relation_collect(im, rel, a, b, &l);
    } else {
        s = store__stmt(st, STORE__STMT_RELATION_LIST);
        r = bind_texts(s, (const char *const[]){relations[rel].name, a, b}, 3);
        if (r == 0)
            r = read_ids(st, s, 2, &l);
        done(s);
    }
    for (size_t i = 0; r == 0 && i + 1 < l.n; i += 2)
        fn(l.ids[i], l.ids[i + 1], arg);
    store__ids_done(&l);
    return r;
}

/* ---- demo practice and factory reset ---------------------------------------------------- */

/* The demo practice of a first start: one of each entity, related as a small practice is. */
static int seed_rows(struct store *st)
{
    static const struct {
        enum store_relation rel;
        const char *a, *b;
    } rels[] = {
        {STORE_REL_MANDANT_CLIENT_SYSTEM, "m1", "cs1"},
        {STORE_REL_MANDANT_WORKPLACE, "m1", "ws1"},
        {STORE_REL_WORKPLACE_CT_LOCAL, "ws1", "ct1"},
    };
    struct store_ct ct;
    int r;

    ct_defaults(&ct, "ct1");
    (void)str_copy(ct.name, sizeof(ct.name), "Demo terminal");
    if ((r = store_entity_add(st, STORE_ENTITY_MANDANT, "m1")) < 0 ||
        (r = store_entity_add(st, STORE_ENTITY_CLIENT_SYSTEM, "cs1")) < 0 ||
        (r = store_entity_add(st, STORE_ENTITY_WORKPLACE, "ws1")) < 0 ||
        (r = store_ct_add(st, &ct)) < 0)
        return r;
    for (size_t i = 0; i < ARRAY_SIZE(rels); i++) {
        r = store_relation_add(st, rels[i].rel, rels[i].a, rels[i].b, NULL);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Whether the entities table is empty (relations cannot exist without entities). */
static int model_is_empty(struct store *st, bool *ret_empty)
{
    sqlite3_stmt *s = store__stmt(st, STORE__STMT_ENTITY_COUNT_ALL);
    int rc = sqlite3_step(s);
    int r = 0;

    if (rc == SQLITE_ROW)
        *ret_empty = sqlite3_column_int64(s, 0) == 0;
    else
        r = store__sqlite_errno(rc);
    done(s);
    return r;
}

int store_infomodel_seed_demo(struct store *st)
{
    bool empty = false;
    int r;

    if (!st)
        return -EINVAL;
    r = store__tx_begin(st);
    if (r < 0)
        return r;
    /* Checked inside the transaction: nobody can add an entity between check and seed. */
    r = model_is_empty(st, &empty);
    if (r < 0 || !empty)
        goto out;
    r = seed_rows(st);
    if (r < 0) {
        log_msg(LOG_LEVEL_DEBUG, "store: seeding the demo practice failed: %s",
                sqlite3_errmsg(st->db));
        /* The model was empty: a conflict here is a broken file, not "exists". */
        r = r == -EEXIST ? -EIO : r;
        goto out;
    }
    r = store__tx_commit(st);
    if (r == 0)
        r = 1;
out:
    /* Ends the transaction unless the commit did (rollback is a no-op then). */
    if (r <= 0)
        store__tx_rollback(st);
    return r;
}

int store_infomodel_reset(struct store *st)
{
    /* Relations first: the cascade would remove them as well, but this way the order does
     * not depend on foreign keys being enabled on the connection. */
    static const enum store__stmt steps[] = {STORE__STMT_RELATION_CLEAR, STORE__STMT_ENTITY_CLEAR};
    int r;

    if (!st)
        return -EINVAL;
    r = store__tx_begin(st);
    if (r < 0)
        return r;
    for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
        r = write_texts(st, steps[i], NULL, 0);
        /* An empty table is no failure. */
        if (r < 0 && r != -ENOENT) {
            r = -EIO;
            goto out;
        }
    }
    r = store__tx_commit(st);
out:
    if (r < 0)
        store__tx_rollback(st);
    return r;
}
