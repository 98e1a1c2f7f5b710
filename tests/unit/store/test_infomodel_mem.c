/* Unit tests for src/store/infomodel_mem.c: the in-memory copy of the info model answers the
 * reads without SQLite, equals what SQLite answers, and never shows a write that was rolled
 * back or misses one that was committed. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "base/base.h"
#include "store/store_internal.h"
#include "store_test.h"
#include "infomodel_test.h"

/* How many times the store's prepared statements have run so far. */
static uint64_t statement_runs(struct store *st)
{
    uint64_t n = 0;

    for (unsigned i = 0; i < STORE__STMT_MAX; i++)
        n += (uint64_t)sqlite3_stmt_status(st->stmt[i], SQLITE_STMTSTATUS_RUN, 0);
    return n;
}

/* Two Mandanten, workplaces and terminals, added out of order. */
static void add_practice(struct store *st)
{
    add(st, STORE_ENTITY_MANDANT, "m2");
    add(st, STORE_ENTITY_MANDANT, "m1");
    add(st, STORE_ENTITY_CLIENT_SYSTEM, "cs1");
    add(st, STORE_ENTITY_WORKPLACE, "ws3");
    add(st, STORE_ENTITY_WORKPLACE, "ws1");
    add(st, STORE_ENTITY_WORKPLACE, "ws2");
    add(st, STORE_ENTITY_CARD_TERMINAL, "ct2");
    add(st, STORE_ENTITY_CARD_TERMINAL, "ct1");
    relate(st, STORE_REL_MANDANT_CLIENT_SYSTEM, "m1", "cs1");
    relate(st, STORE_REL_MANDANT_WORKPLACE, "m2", "ws3");
    relate(st, STORE_REL_MANDANT_WORKPLACE, "m1", "ws2");
    relate(st, STORE_REL_MANDANT_WORKPLACE, "m1", "ws1");
    relate(st, STORE_REL_WORKPLACE_CT_LOCAL, "ws2", "ct1");
    relate(st, STORE_REL_WORKPLACE_CT_LOCAL, "ws1", "ct2");
    relate(st, STORE_REL_WORKPLACE_CT_LOCAL, "ws1", "ct1");
    relate(st, STORE_REL_WORKPLACE_CT_REMOTE, "ws3", "ct2");
    relate(st, STORE_REL_MANDANT_SMB, "m1", "80276883110000017222");
}

/* Everything the read functions say about the practice, as one string. */
static void describe(struct store *st, char *out, size_t size)
{
    static const char *const ids[] = {NULL, "m1", "m2", "ws1", "ws2", "ct1", "ct2", "cs1", "x"};
    struct seen s;
    struct store_ct ct;
    size_t len = 0;

    out[0] = '\0';
    for (unsigned k = 0; k < STORE_ENTITY_MAX; k++) {
        len += (size_t)snprintf(out + len, size - len, "[%s #%zu: %s]", store_entity_to_string(k),
                                store_entity_count(st, k), ids_of(st, k, &s));
        for (size_t i = 1; i < ARRAY_SIZE(ids); i++)
            len +=
                (size_t)snprintf(out + len, size - len, "%d", store_entity_exists(st, k, ids[i]));
    }
    for (unsigned r = 0; r < STORE_REL_MAX; r++) {
        for (size_t i = 0; i < ARRAY_SIZE(ids); i++) {
            for (size_t j = 0; j < ARRAY_SIZE(ids); j++) {
                len += (size_t)snprintf(out + len, size - len, "(%s)",
                                        pairs_of(st, r, ids[i], ids[j], &s));
                if (ids[i] && ids[j])
                    len += (size_t)snprintf(out + len, size - len, "%d",
                                            store_relation_exists(st, r, ids[i], ids[j]));
            }
        }
    }
    for (size_t i = 1; i < ARRAY_SIZE(ids); i++) {
        int r = store_ct_get(st, ids[i], &ct);

        len += (size_t)snprintf(out + len, size - len, "{%d %s %s %u %d}", r, r == 0 ? ct.id : "",
                                r == 0 ? ct.name : "", r == 0 ? ct.slots : 0, r == 0 && ct.active);
    }
    assert_true(len < size);
}

static void reads_run_no_statement_once_loaded(void **state)
{
    struct fixture *f = *state;
    char text[16384];
    uint64_t before;

    add_practice(f->st);
    describe(f->st, text, sizeof(text)); /* loads the copy after the last write */
    before = statement_runs(f->st);
    describe(f->st, text, sizeof(text));
    assert_true(store_relation_exists(f->st, STORE_REL_WORKPLACE_CT_LOCAL, "ws1", "ct2"));
    assert_int_equal(statement_runs(f->st), before);
}

static void memory_answers_as_sqlite_does(void **state)
{
    struct fixture *f = *state;
    static char from_memory[16384], from_sqlite[16384];

    add_practice(f->st);
    describe(f->st, from_memory, sizeof(from_memory));
    /* Inside a transaction, with the copy dropped, every read goes to SQLite. */
    assert_int_equal(store__tx_begin(f->st), 0);
    store__im_invalidate(f->st);
    assert_null(store__im_get(f->st));
    describe(f->st, from_sqlite, sizeof(from_sqlite));
    store__tx_rollback(f->st);
    assert_string_equal(from_memory, from_sqlite);
    assert_non_null(strstr(from_memory, "(ws1/ct1 ws1/ct2 ws2/ct1)"));
    assert_non_null(store__im_get(f->st));
}

static void every_write_is_seen_by_the_next_read(void **state)
{
    struct fixture *f = *state;
    struct store_ct ct = {.id = "ct1", .name = "Empfang", .slots = 2, .active = false};
    struct seen s;

    add_practice(f->st);
    assert_false(store_relation_exists(f->st, STORE_REL_WORKPLACE_CT_REMOTE, "ws2", "ct2"));
    relate(f->st, STORE_REL_WORKPLACE_CT_REMOTE, "ws2", "ct2");
    assert_true(store_relation_exists(f->st, STORE_REL_WORKPLACE_CT_REMOTE, "ws2", "ct2"));
    assert_int_equal(store_relation_delete(f->st, STORE_REL_WORKPLACE_CT_LOCAL, "ws1", "ct1"), 0);
    assert_false(store_relation_exists(f->st, STORE_REL_WORKPLACE_CT_LOCAL, "ws1", "ct1"));
    assert_int_equal(store_ct_update(f->st, &ct), 0);
    assert_int_equal(store_ct_get(f->st, "ct1", &ct), 0);
    assert_string_equal(ct.name, "Empfang");
    assert_int_equal(ct.slots, 2);
    assert_false(ct.active);
    /* A delete cascades in the copy as in the tables. */
    assert_int_equal(store_entity_delete(f->st, STORE_ENTITY_WORKPLACE, "ws1"), 0);
    assert_false(store_entity_exists(f->st, STORE_ENTITY_WORKPLACE, "ws1"));
    assert_string_equal(pairs_of(f->st, STORE_REL_WORKPLACE_CT_LOCAL, NULL, NULL, &s), "ws2/ct1");
    assert_string_equal(pairs_of(f->st, STORE_REL_MANDANT_WORKPLACE, "m1", NULL, &s), "m1/ws2");
    assert_int_equal(store_infomodel_reset(f->st), 0);
    assert_false(store_entity_exists(f->st, STORE_ENTITY_MANDANT, "m1"));
    assert_int_equal(store_entity_count(f->st, STORE_ENTITY_CARD_TERMINAL), 0);
    assert_int_equal(store_infomodel_seed_demo(f->st), 1);
    assert_true(store_relation_exists(f->st, STORE_REL_WORKPLACE_CT_LOCAL, "ws1", "ct1"));
}

static void a_rolled_back_seed_leaves_nothing_in_memory(void **state)
{
    struct fixture *f = *state;

    /* The seed adds the entities, then fails at its first relation and rolls back. */
    assert_int_equal(tmpdb_exec(&f->t, "CREATE TRIGGER no_relations BEFORE INSERT ON relations "
                                       "BEGIN SELECT RAISE(ABORT, 'refused'); END"),
                     SQLITE_OK);
    assert_true(store_infomodel_seed_demo(f->st) < 0);
    assert_true(sqlite3_get_autocommit(f->st->db));
    assert_false(store_entity_exists(f->st, STORE_ENTITY_MANDANT, "m1"));
    assert_int_equal(store_entity_count(f->st, STORE_ENTITY_CARD_TERMINAL), 0);
    assert_non_null(store__im_get(f->st));
}

static void damaged_terminal_attributes_stay_ebadmsg(void **state)
{
    struct fixture *f = *state;
    struct store_ct ct;
    struct seen s;

    /* A name with a control character passes the schema's length CHECK. */
    assert_int_equal(tmpdb_exec(&f->t, "INSERT INTO entities (kind, id, name, slots, active) "
                                       "VALUES ('card-terminal', 'ct9', char(7), 4, 1);"
                                       "INSERT INTO entities (kind, id) VALUES ('mandant', 'a b')"),
                     SQLITE_OK);
    f->st = store_close(f->st);
    assert_int_equal(store_open(f->t.path, &f->st), 0);
    assert_non_null(store__im_get(f->st));
    assert_true(store_entity_exists(f->st, STORE_ENTITY_CARD_TERMINAL, "ct9"));
    assert_int_equal(store_ct_get(f->st, "ct9", &ct), -EBADMSG);
    assert_string_equal(ids_of(f->st, STORE_ENTITY_MANDANT, &s), "");
}

static void another_connections_change_is_seen_after_the_next_write(void **state)
{
    struct fixture *f = *state;

    add(f->st, STORE_ENTITY_MANDANT, "m1");
    assert_true(store_entity_exists(f->st, STORE_ENTITY_MANDANT, "m1"));
    assert_int_equal(tmpdb_exec(&f->t, "INSERT INTO entities (kind, id) VALUES ('mandant', 'm7')"),
                     SQLITE_OK);
    /* Invariant 1 of infomodel_mem.c: the daemon's store is the only writer. */
    assert_false(store_entity_exists(f->st, STORE_ENTITY_MANDANT, "m7"));
    add(f->st, STORE_ENTITY_MANDANT, "m8");
    assert_true(store_entity_exists(f->st, STORE_ENTITY_MANDANT, "m7"));
}

static void many_entities_are_found_by_binary_search(void **state)
{
    struct fixture *f = *state;
    char id[16], b[16];

    assert_int_equal(store__tx_begin(f->st), 0);
    for (int i = 299; i >= 0; i--) {
        (void)snprintf(id, sizeof(id), "w%d", i);
        add(f->st, STORE_ENTITY_WORKPLACE, id);
        (void)snprintf(b, sizeof(b), "t%d", i);
        add(f->st, STORE_ENTITY_CARD_TERMINAL, b);
        if (i % 3 == 0)
            relate(f->st, STORE_REL_WORKPLACE_CT_LOCAL, id, b);
    }
    assert_int_equal(store__tx_commit(f->st), 0);
    assert_int_equal(store_entity_count(f->st, STORE_ENTITY_WORKPLACE), 300);
    for (int i = 0; i < 300; i++) {
        (void)snprintf(id, sizeof(id), "w%d", i);
        (void)snprintf(b, sizeof(b), "t%d", i);
        assert_true(store_entity_exists(f->st, STORE_ENTITY_WORKPLACE, id));
        assert_false(store_entity_exists(f->st, STORE_ENTITY_MANDANT, id));
        assert_int_equal(store_relation_exists(f->st, STORE_REL_WORKPLACE_CT_LOCAL, id, b),
                         i % 3 == 0);
    }
    assert_false(store_entity_exists(f->st, STORE_ENTITY_WORKPLACE, "w300"));
    assert_false(store_entity_exists(f->st, STORE_ENTITY_WORKPLACE, "a"));
    assert_false(store_entity_exists(f->st, STORE_ENTITY_WORKPLACE, "z"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(reads_run_no_statement_once_loaded, setup, teardown),
        cmocka_unit_test_setup_teardown(memory_answers_as_sqlite_does, setup, teardown),
        cmocka_unit_test_setup_teardown(every_write_is_seen_by_the_next_read, setup, teardown),
        cmocka_unit_test_setup_teardown(a_rolled_back_seed_leaves_nothing_in_memory, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(damaged_terminal_attributes_stay_ebadmsg, setup, teardown),
        cmocka_unit_test_setup_teardown(another_connections_change_is_seen_after_the_next_write,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(many_entities_are_found_by_binary_search, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
