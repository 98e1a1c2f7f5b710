/* Unit tests for src/store/infomodel.c and migration 2 of db.c: the info model's entities and
 * relations in a real config.db in a temporary directory. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/base.h"
#include "store/store_internal.h"
#include "store_test.h"
#include "infomodel_test.h"

/* The practice most tests start from: m1 with cs1 and ws1, ws1 with ct1 and ct2. */
static void add_practice(struct store *st)
{
    add(st, STORE_ENTITY_MANDANT, "m1");
    add(st, STORE_ENTITY_CLIENT_SYSTEM, "cs1");
    add(st, STORE_ENTITY_WORKPLACE, "ws1");
    add(st, STORE_ENTITY_CARD_TERMINAL, "ct1");
    add(st, STORE_ENTITY_CARD_TERMINAL, "ct2");
    relate(st, STORE_REL_MANDANT_CLIENT_SYSTEM, "m1", "cs1");
    relate(st, STORE_REL_MANDANT_WORKPLACE, "m1", "ws1");
    relate(st, STORE_REL_WORKPLACE_CT_LOCAL, "ws1", "ct1");
    relate(st, STORE_REL_WORKPLACE_CT_REMOTE, "ws1", "ct2");
}

/* ---- names and rules -------------------------------------------------------------------- */

static void entity_and_relation_names_round_trip(void **state)
{
    enum store_entity kind = STORE_ENTITY_MAX;
    enum store_relation rel = STORE_REL_MAX;

    for (unsigned i = 0; i < STORE_ENTITY_MAX; i++) {
        assert_int_equal(
            store_entity_from_string(store_entity_to_string((enum store_entity)i), &kind), 0);
        assert_int_equal(kind, i);
    }
    for (unsigned i = 0; i < STORE_REL_MAX; i++) {
        assert_int_equal(
            store_relation_from_string(store_relation_to_string((enum store_relation)i), &rel), 0);
        assert_int_equal(rel, i);
    }
    assert_string_equal(store_entity_to_string(STORE_ENTITY_CLIENT_SYSTEM), "client-system");
    assert_string_equal(store_entity_to_string(STORE_ENTITY_CARD_TERMINAL), "card-terminal");
    assert_string_equal(store_relation_to_string(STORE_REL_WORKPLACE_CT_REMOTE),
                        "workplace-ct-remote");
    assert_string_equal(store_relation_to_string(STORE_REL_MANDANT_SMB), "mandant-smb");
    assert_null(store_entity_to_string(STORE_ENTITY_MAX));
    assert_null(store_relation_to_string(STORE_REL_MAX));
    kind = STORE_ENTITY_MAX;
    rel = STORE_REL_MAX;
    assert_int_equal(store_entity_from_string("client_system", &kind), -EINVAL);
    assert_int_equal(store_entity_from_string(NULL, &kind), -EINVAL);
    assert_int_equal(store_relation_from_string("mandant-terminal", &rel), -EINVAL);
    assert_int_equal(kind, STORE_ENTITY_MAX);
    assert_int_equal(rel, STORE_REL_MAX);
}

static void relation_kinds_name_the_kinds_of_both_ends(void **state)
{
    enum store_entity a = STORE_ENTITY_MAX, b = STORE_ENTITY_MAX;

    assert_int_equal(store_relation_kinds(STORE_REL_MANDANT_CLIENT_SYSTEM, &a, &b), 0);
    assert_int_equal(a, STORE_ENTITY_MANDANT);
    assert_int_equal(b, STORE_ENTITY_CLIENT_SYSTEM);
    assert_int_equal(store_relation_kinds(STORE_REL_WORKPLACE_CT_REMOTE, &a, &b), 0);
    assert_int_equal(a, STORE_ENTITY_WORKPLACE);
    assert_int_equal(b, STORE_ENTITY_CARD_TERMINAL);
    /* The ICCSN end is no entity. */
    assert_int_equal(store_relation_kinds(STORE_REL_MANDANT_SMB, &a, &b), 0);
    assert_int_equal(a, STORE_ENTITY_MANDANT);
    assert_int_equal(b, STORE_ENTITY_MAX);
    assert_int_equal(store_relation_kinds(STORE_REL_MAX, &a, &b), -EINVAL);
    assert_int_equal(store_relation_kinds(STORE_REL_MANDANT_SMB, NULL, &b), -EINVAL);
}

static void entity_ids_follow_the_documented_alphabet(void **state)
{
    static const char *const good[] = {"m1", "Praxis_Dr.Meier-2", "-", "0", "a.b"};
    static const char *const bad[] = {"", "a b", "a/b", "a:b", "k\xc3\xb6nig", "a\n"};
    char max[STORE_ENTITY_ID_MAX + 2];

    for (size_t i = 0; i < ARRAY_SIZE(good); i++)
        assert_true(store_entity_id_is_valid(good[i]));
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        assert_false(store_entity_id_is_valid(bad[i]));
    assert_false(store_entity_id_is_valid(NULL));
    memset(max, 'a', STORE_ENTITY_ID_MAX);
    max[STORE_ENTITY_ID_MAX] = '\0';
    assert_true(store_entity_id_is_valid(max));
    max[STORE_ENTITY_ID_MAX] = 'a';
    max[STORE_ENTITY_ID_MAX + 1] = '\0';
    assert_false(store_entity_id_is_valid(max));
}

static void terminal_names_are_text_without_control_characters(void **state)
{
    static const char *const good[] = {"Demo terminal", "Empfang (links)", "K\xc3\xb6ln 1",
                                       "\xe2\x82\xac"};
    static const char *const bad[] = {"",     "tab\there", "bell\a",       "del\x7f", "\xc2\x85",
                                      "\xc3", "\xc0\xaf",  "\xed\xa0\x80", "\xff"};
    char max[STORE_ENTITY_ID_MAX + 2];

    for (size_t i = 0; i < ARRAY_SIZE(good); i++)
        assert_true(store_ct_name_is_valid(good[i]));
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        assert_false(store_ct_name_is_valid(bad[i]));
    assert_false(store_ct_name_is_valid(NULL));
    memset(max, ' ', STORE_ENTITY_ID_MAX);
    max[STORE_ENTITY_ID_MAX] = '\0';
    assert_true(store_ct_name_is_valid(max));
    max[STORE_ENTITY_ID_MAX] = ' ';
    max[STORE_ENTITY_ID_MAX + 1] = '\0';
    assert_false(store_ct_name_is_valid(max));
}

/* ---- entities --------------------------------------------------------------------------- */

static void every_kind_is_added_listed_in_id_order_counted_and_deleted(void **state)
{
    struct fixture *f = *state;
    struct seen s;

    for (unsigned i = 0; i < STORE_ENTITY_MAX; i++) {
        enum store_entity kind = (enum store_entity)i;

        assert_int_equal(store_entity_count(f->st, kind), 0);
        assert_string_equal(ids_of(f->st, kind, &s), "");
        add(f->st, kind, "b2");
        add(f->st, kind, "a1");
        add(f->st, kind, "c3");
        assert_true(store_entity_exists(f->st, kind, "a1"));
        assert_false(store_entity_exists(f->st, kind, "d4"));
        assert_int_equal(store_entity_count(f->st, kind), 3);
        assert_string_equal(ids_of(f->st, kind, &s), "a1 b2 c3");
        assert_int_equal(store_entity_delete(f->st, kind, "b2"), 0);
        assert_false(store_entity_exists(f->st, kind, "b2"));
        assert_int_equal(store_entity_count(f->st, kind), 2);
        assert_string_equal(ids_of(f->st, kind, &s), "a1 c3");
    }
}

static void kinds_keep_their_ids_apart(void **state)
{
    struct fixture *f = *state;

    add(f->st, STORE_ENTITY_MANDANT, "x");
    assert_false(store_entity_exists(f->st, STORE_ENTITY_WORKPLACE, "x"));
    /* The same id as another kind is another entity. */
    add(f->st, STORE_ENTITY_WORKPLACE, "x");
    assert_int_equal(store_entity_delete(f->st, STORE_ENTITY_WORKPLACE, "x"), 0);
    assert_true(store_entity_exists(f->st, STORE_ENTITY_MANDANT, "x"));
}

static void adding_an_existing_id_of_the_same_kind_is_eexist(void **state)
{
    struct fixture *f = *state;

    for (unsigned i = 0; i < STORE_ENTITY_MAX; i++) {
        add(f->st, (enum store_entity)i, "dup");
        assert_int_equal(store_entity_add(f->st, (enum store_entity)i, "dup"), -EEXIST);
        assert_int_equal(store_entity_count(f->st, (enum store_entity)i), 1);
    }
}

static void ids_are_case_sensitive(void **state)
{
    struct fixture *f = *state;

    add(f->st, STORE_ENTITY_MANDANT, "m1");
    add(f->st, STORE_ENTITY_MANDANT, "M1");
    assert_int_equal(store_entity_count(f->st, STORE_ENTITY_MANDANT), 2);
}

static void bad_ids_and_kinds_are_einval_and_store_nothing(void **state)
{
    struct fixture *f = *state;
    static const char *const bad[] = {"", "a b", "m/1", "k\xc3\xb6nig"};
    char long_id[STORE_ENTITY_ID_MAX + 2];

    memset(long_id, 'a', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    for (unsigned i = 0; i < STORE_ENTITY_MAX; i++) {
        enum store_entity kind = (enum store_entity)i;

        for (size_t j = 0; j < ARRAY_SIZE(bad); j++) {
            assert_int_equal(store_entity_add(f->st, kind, bad[j]), -EINVAL);
            assert_int_equal(store_entity_delete(f->st, kind, bad[j]), -EINVAL);
            assert_false(store_entity_exists(f->st, kind, bad[j]));
        }
        assert_int_equal(store_entity_add(f->st, kind, long_id), -EINVAL);
        assert_int_equal(store_entity_add(f->st, kind, NULL), -EINVAL);
        assert_int_equal(store_entity_count(f->st, kind), 0);
    }
    assert_int_equal(store_entity_add(f->st, STORE_ENTITY_MAX, "m1"), -EINVAL);
    assert_int_equal(store_entity_add(NULL, STORE_ENTITY_MANDANT, "m1"), -EINVAL);
    assert_int_equal(store_entity_delete(f->st, STORE_ENTITY_MAX, "m1"), -EINVAL);
    assert_int_equal(store_entity_foreach(f->st, STORE_ENTITY_MAX, remember_id, NULL), -EINVAL);
    assert_int_equal(store_entity_foreach(f->st, STORE_ENTITY_MANDANT, NULL, NULL), -EINVAL);
    assert_int_equal(store_entity_count(f->st, STORE_ENTITY_MAX), 0);
    assert_int_equal(store_entity_count(NULL, STORE_ENTITY_MANDANT), 0);
    assert_false(store_entity_exists(NULL, STORE_ENTITY_MANDANT, "m1"));
}

static void deleting_an_unknown_entity_is_enoent(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(store_entity_delete(f->st, STORE_ENTITY_MANDANT, "m9"), -ENOENT);
    add(f->st, STORE_ENTITY_MANDANT, "m9");
    assert_int_equal(store_entity_delete(f->st, STORE_ENTITY_MANDANT, "m9"), 0);
    assert_int_equal(store_entity_delete(f->st, STORE_ENTITY_MANDANT, "m9"), -ENOENT);
}

static void delete_and_add(const char *id, void *arg)
{
    struct store *st = arg;

    assert_int_equal(store_entity_delete(st, STORE_ENTITY_WORKPLACE, id), 0);
    assert_int_equal(store_entity_add(st, STORE_ENTITY_MANDANT, id), 0);
}

static void foreach_callback_may_change_the_model(void **state)
{
    struct fixture *f = *state;
    struct seen s;

    add(f->st, STORE_ENTITY_WORKPLACE, "w1");
    add(f->st, STORE_ENTITY_WORKPLACE, "w2");
    assert_int_equal(store_entity_foreach(f->st, STORE_ENTITY_WORKPLACE, delete_and_add, f->st), 0);
    assert_int_equal(store_entity_count(f->st, STORE_ENTITY_WORKPLACE), 0);
    assert_string_equal(ids_of(f->st, STORE_ENTITY_MANDANT, &s), "w1 w2");
}

static void damaged_rows_are_skipped_by_foreach(void **state)
{
    struct fixture *f = *state;
    struct seen s;

    add(f->st, STORE_ENTITY_MANDANT, "m1");
    /* Passes the schema's CHECK (length) but not the id alphabet. */
    assert_int_equal(tmpdb_exec(&f->t, "INSERT INTO entities (kind, id) VALUES ('mandant', 'a b')"),
                     SQLITE_OK);
    assert_string_equal(ids_of(f->st, STORE_ENTITY_MANDANT, &s), "m1");
}

/* ---- card terminals --------------------------------------------------------------------- */

static void new_terminal_has_four_active_slots_and_its_id_as_name(void **state)
{
    struct fixture *f = *state;
    struct store_ct ct;

    add(f->st, STORE_ENTITY_CARD_TERMINAL, "ct1");
    assert_int_equal(store_ct_get(f->st, "ct1", &ct), 0);
    assert_string_equal(ct.id, "ct1");
    assert_string_equal(ct.name, "ct1");
    assert_int_equal(ct.slots, 4);
    assert_true(ct.active);
}

static void terminal_added_with_attributes_keeps_them(void **state)
{
    struct fixture *f = *state;
    struct store_ct in = {.id = "ct7", .name = "Empfang", .slots = 2, .active = false}, out;

    assert_int_equal(store_ct_add(f->st, &in), 0);
    assert_int_equal(store_ct_get(f->st, "ct7", &out), 0);
    assert_string_equal(out.name, "Empfang");
    assert_int_equal(out.slots, 2);
    assert_false(out.active);
    assert_int_equal(store_ct_add(f->st, &in), -EEXIST);
    assert_int_equal(store_entity_add(f->st, STORE_ENTITY_CARD_TERMINAL, "ct7"), -EEXIST);
    in.slots = 0;
    (void)str_copy(in.id, sizeof(in.id), "ct8");
    assert_int_equal(store_ct_add(f->st, &in), -EINVAL);
    assert_false(store_entity_exists(f->st, STORE_ENTITY_CARD_TERMINAL, "ct8"));
    assert_int_equal(store_ct_add(f->st, NULL), -EINVAL);
}

static void terminal_update_changes_attributes_within_the_slot_range(void **state)
{
    struct fixture *f = *state;
    struct store_ct ct, got;

    add(f->st, STORE_ENTITY_CARD_TERMINAL, "ct1");
    assert_int_equal(store_ct_get(f->st, "ct1", &ct), 0);
    (void)str_copy(ct.name, sizeof(ct.name), "Behandlungsraum 2");
    ct.slots = STORE_CT_SLOTS_MAX;
    ct.active = false;
    assert_int_equal(store_ct_update(f->st, &ct), 0);
    assert_int_equal(store_ct_get(f->st, "ct1", &got), 0);
    assert_string_equal(got.name, "Behandlungsraum 2");
    assert_int_equal(got.slots, STORE_CT_SLOTS_MAX);
    assert_false(got.active);
    ct.slots = 1;
    assert_int_equal(store_ct_update(f->st, &ct), 0);
    assert_int_equal(store_ct_get(f->st, "ct1", &got), 0);
    assert_int_equal(got.slots, 1);

    /* Out of range or a bad name: refused, the stored terminal unchanged. */
    ct.slots = 0;
    assert_int_equal(store_ct_update(f->st, &ct), -EINVAL);
    ct.slots = STORE_CT_SLOTS_MAX + 1;
    assert_int_equal(store_ct_update(f->st, &ct), -EINVAL);
    ct.slots = 3;
    ct.name[0] = '\0';
    assert_int_equal(store_ct_update(f->st, &ct), -EINVAL);
    assert_int_equal(store_ct_get(f->st, "ct1", &got), 0);
    assert_int_equal(got.slots, 1);
    assert_string_equal(got.name, "Behandlungsraum 2");
    assert_int_equal(store_ct_update(f->st, NULL), -EINVAL);
}

static void unknown_terminal_is_enoent_for_get_and_update(void **state)
{
    struct fixture *f = *state;
    struct store_ct ct = {.id = "ct9", .name = "x", .slots = 4, .active = true}, got;

    assert_int_equal(store_ct_get(f->st, "ct9", &got), -ENOENT);
    assert_int_equal(store_ct_update(f->st, &ct), -ENOENT);
    /* Another kind with that id is no terminal. */
    add(f->st, STORE_ENTITY_WORKPLACE, "ct9");
    assert_int_equal(store_ct_get(f->st, "ct9", &got), -ENOENT);
    assert_int_equal(store_ct_update(f->st, &ct), -ENOENT);
    assert_int_equal(store_ct_get(f->st, "a b", &got), -EINVAL);
    assert_int_equal(store_ct_get(f->st, "ct9", NULL), -EINVAL);
}

/* ---- relations -------------------------------------------------------------------------- */

static void relations_are_added_found_listed_and_deleted(void **state)
{
    struct fixture *f = *state;
    struct seen s;

    add_practice(f->st);
    add(f->st, STORE_ENTITY_WORKPLACE, "ws2");
    relate(f->st, STORE_REL_WORKPLACE_CT_LOCAL, "ws2", "ct1");
    relate(f->st, STORE_REL_WORKPLACE_CT_LOCAL, "ws1", "ct2");
    assert_true(store_relation_exists(f->st, STORE_REL_MANDANT_CLIENT_SYSTEM, "m1", "cs1"));
    assert_false(store_relation_exists(f->st, STORE_REL_MANDANT_WORKPLACE, "m1", "ws2"));
    /* Local and remote are different relations of the same pair kinds. */
    assert_false(store_relation_exists(f->st, STORE_REL_WORKPLACE_CT_REMOTE, "ws1", "ct1"));
    assert_string_equal(pairs_of(f->st, STORE_REL_WORKPLACE_CT_LOCAL, NULL, NULL, &s),
                        "ws1/ct1 ws1/ct2 ws2/ct1");
    assert_string_equal(pairs_of(f->st, STORE_REL_WORKPLACE_CT_LOCAL, "ws1", NULL, &s),
                        "ws1/ct1 ws1/ct2");
    assert_string_equal(pairs_of(f->st, STORE_REL_WORKPLACE_CT_LOCAL, NULL, "ct1", &s),
                        "ws1/ct1 ws2/ct1");
    assert_string_equal(pairs_of(f->st, STORE_REL_WORKPLACE_CT_LOCAL, "ws2", "ct1", &s), "ws2/ct1");
    assert_string_equal(pairs_of(f->st, STORE_REL_WORKPLACE_CT_LOCAL, "ws9", NULL, &s), "");
    assert_string_equal(pairs_of(f->st, STORE_REL_WORKPLACE_CT_REMOTE, NULL, NULL, &s), "ws1/ct2");
    assert_int_equal(store_relation_delete(f->st, STORE_REL_WORKPLACE_CT_LOCAL, "ws1", "ct2"), 0);
    assert_false(store_relation_exists(f->st, STORE_REL_WORKPLACE_CT_LOCAL, "ws1", "ct2"));
    assert_true(store_relation_exists(f->st, STORE_REL_WORKPLACE_CT_REMOTE, "ws1", "ct2"));
    assert_int_equal(store_relation_delete(f->st, STORE_REL_WORKPLACE_CT_LOCAL, "ws1", "ct2"),
                     -ENOENT);
}

static void relating_twice_is_eexist(void **state)
{
    struct fixture *f = *state;

    add_practice(f->st);
    assert_int_equal(store_relation_add(f->st, STORE_REL_MANDANT_CLIENT_SYSTEM, "m1", "cs1", NULL),
                     -EEXIST);
}

static void relation_with_a_missing_end_is_enoent_naming_it(void **state)
{
    struct fixture *f = *state;
    const char *a = "m1", *b = "cs9", *missing = NULL;

    add_practice(f->st);
    assert_int_equal(store_relation_add(f->st, STORE_REL_MANDANT_CLIENT_SYSTEM, a, b, &missing),
                     -ENOENT);
    assert_ptr_equal(missing, b);
    missing = NULL;
    a = "m9";
    b = "cs1";
    assert_int_equal(store_relation_add(f->st, STORE_REL_MANDANT_CLIENT_SYSTEM, a, b, &missing),
                     -ENOENT);
    assert_ptr_equal(missing, a);
    /* Both missing: the first is named. */
    missing = NULL;
    b = "cs9";
    assert_int_equal(store_relation_add(f->st, STORE_REL_MANDANT_CLIENT_SYSTEM, a, b, &missing),
                     -ENOENT);
    assert_ptr_equal(missing, a);
    /* An end of the wrong kind is missing too: cs1 is no workplace. */
    missing = NULL;
    a = "m1";
    b = "cs1";
    assert_int_equal(store_relation_add(f->st, STORE_REL_MANDANT_WORKPLACE, a, b, &missing),
                     -ENOENT);
    assert_ptr_equal(missing, b);
    /* ret_missing may be NULL. */
    assert_int_equal(store_relation_add(f->st, STORE_REL_MANDANT_WORKPLACE, "m1", "ws9", NULL),
                     -ENOENT);
    assert_false(store_relation_exists(f->st, STORE_REL_MANDANT_WORKPLACE, "m1", "ws9"));
}

static void smb_relation_needs_only_the_mandant(void **state)
{
    struct fixture *f = *state;
    const char *missing = NULL;
    struct seen s;

    add(f->st, STORE_ENTITY_MANDANT, "m1");
    relate(f->st, STORE_REL_MANDANT_SMB, "m1", "80276883110000017222");
    assert_true(store_relation_exists(f->st, STORE_REL_MANDANT_SMB, "m1", "80276883110000017222"));
    assert_int_equal(
        store_relation_add(f->st, STORE_REL_MANDANT_SMB, "m2", "80276883110000017222", &missing),
        -ENOENT);
    assert_string_equal(missing, "m2");
    assert_string_equal(pairs_of(f->st, STORE_REL_MANDANT_SMB, NULL, NULL, &s),
                        "m1/80276883110000017222");
}

static void bad_relation_arguments_are_einval(void **state)
{
    struct fixture *f = *state;
    const char *missing = NULL;

    add_practice(f->st);
    assert_int_equal(store_relation_add(f->st, STORE_REL_MAX, "m1", "cs1", &missing), -EINVAL);
    assert_int_equal(
        store_relation_add(f->st, STORE_REL_MANDANT_CLIENT_SYSTEM, "m 1", "cs1", &missing),
        -EINVAL);
    assert_int_equal(
        store_relation_add(f->st, STORE_REL_MANDANT_CLIENT_SYSTEM, "m1", NULL, &missing), -EINVAL);
    assert_null(missing);
    assert_int_equal(store_relation_add(NULL, STORE_REL_MANDANT_CLIENT_SYSTEM, "m1", "cs1", NULL),
                     -EINVAL);
    assert_int_equal(store_relation_delete(f->st, STORE_REL_MAX, "m1", "cs1"), -EINVAL);
    assert_int_equal(store_relation_delete(f->st, STORE_REL_MANDANT_CLIENT_SYSTEM, "", "cs1"),
                     -EINVAL);
    assert_false(store_relation_exists(f->st, STORE_REL_MAX, "m1", "cs1"));
    assert_int_equal(store_relation_foreach(f->st, STORE_REL_MAX, NULL, NULL, remember_pair, NULL),
                     -EINVAL);
    assert_int_equal(store_relation_foreach(f->st, STORE_REL_MANDANT_SMB, NULL, NULL, NULL, NULL),
                     -EINVAL);
}

static void deleting_an_entity_deletes_its_relations_and_no_others(void **state)
{
    struct fixture *f = *state;
    struct seen s;

    add_practice(f->st);
    add(f->st, STORE_ENTITY_MANDANT, "m2");
    relate(f->st, STORE_REL_MANDANT_WORKPLACE, "m2", "ws1");
    relate(f->st, STORE_REL_MANDANT_SMB, "m1", "80276883110000017222");
    /* A Mandant with the workplace's id is not touched by the workplace's delete. */
    add(f->st, STORE_ENTITY_MANDANT, "ws1");
    relate(f->st, STORE_REL_MANDANT_CLIENT_SYSTEM, "ws1", "cs1");

    assert_int_equal(store_entity_delete(f->st, STORE_ENTITY_WORKPLACE, "ws1"), 0);
    assert_string_equal(pairs_of(f->st, STORE_REL_MANDANT_WORKPLACE, NULL, NULL, &s), "");
    assert_string_equal(pairs_of(f->st, STORE_REL_WORKPLACE_CT_LOCAL, NULL, NULL, &s), "");
    assert_string_equal(pairs_of(f->st, STORE_REL_WORKPLACE_CT_REMOTE, NULL, NULL, &s), "");
    assert_string_equal(pairs_of(f->st, STORE_REL_MANDANT_CLIENT_SYSTEM, NULL, NULL, &s),
                        "m1/cs1 ws1/cs1");
    assert_true(store_entity_exists(f->st, STORE_ENTITY_CARD_TERMINAL, "ct1"));

    /* The b end cascades as well, and a Mandant takes its SM-Bs along. */
    assert_int_equal(store_entity_delete(f->st, STORE_ENTITY_CLIENT_SYSTEM, "cs1"), 0);
    assert_string_equal(pairs_of(f->st, STORE_REL_MANDANT_CLIENT_SYSTEM, NULL, NULL, &s), "");
    assert_int_equal(store_entity_delete(f->st, STORE_ENTITY_MANDANT, "m1"), 0);
    assert_string_equal(pairs_of(f->st, STORE_REL_MANDANT_SMB, NULL, NULL, &s), "");
}

static void schema_refuses_relations_to_missing_or_wrong_kinds(void **state)
{
    struct fixture *f = *state;

    add_practice(f->st);
    /* Behind the store's back, with foreign keys on as the store has them. */
    assert_int_not_equal(tmpdb_exec(&f->t, "PRAGMA foreign_keys = ON;"
                                           "INSERT INTO relations (rel, a, b, a_kind, b_kind) "
                                           "VALUES ('mandant-client-system', 'm1', 'cs9', "
                                           "'mandant', 'client-system')"),
                         SQLITE_OK);
    assert_int_not_equal(tmpdb_exec(&f->t, "INSERT INTO relations (rel, a, b, a_kind, b_kind) "
                                           "VALUES ('mandant-client-system', 'm1', 'ws1', "
                                           "'mandant', 'workplace')"),
                         SQLITE_OK);
    assert_int_not_equal(
        tmpdb_exec(&f->t, "INSERT INTO entities (kind, id, slots) VALUES ('mandant', 'm5', 4)"),
        SQLITE_OK);
    assert_int_not_equal(tmpdb_exec(&f->t, "INSERT INTO entities (kind, id, name, slots, active) "
                                           "VALUES ('card-terminal', 'ct5', 'x', 17, 1)"),
                         SQLITE_OK);
}

/* ---- demo practice, reset, persistence -------------------------------------------------- */

static void assert_demo_practice(struct store *st)
{
    struct store_ct ct;

    assert_true(store_entity_exists(st, STORE_ENTITY_MANDANT, "m1"));
    assert_true(store_entity_exists(st, STORE_ENTITY_CLIENT_SYSTEM, "cs1"));
    assert_true(store_entity_exists(st, STORE_ENTITY_WORKPLACE, "ws1"));
    assert_int_equal(store_ct_get(st, "ct1", &ct), 0);
    assert_string_equal(ct.name, "Demo terminal");
    assert_int_equal(ct.slots, 4);
    assert_true(ct.active);
    assert_true(store_relation_exists(st, STORE_REL_MANDANT_CLIENT_SYSTEM, "m1", "cs1"));
    assert_true(store_relation_exists(st, STORE_REL_MANDANT_WORKPLACE, "m1", "ws1"));
    assert_true(store_relation_exists(st, STORE_REL_WORKPLACE_CT_LOCAL, "ws1", "ct1"));
    assert_false(store_relation_exists(st, STORE_REL_WORKPLACE_CT_REMOTE, "ws1", "ct1"));
    for (unsigned i = 0; i < STORE_ENTITY_MAX; i++)
        assert_int_equal(store_entity_count(st, (enum store_entity)i), 1);
}

static void seed_creates_the_demo_practice_once(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(store_infomodel_seed_demo(f->st), 1);
    assert_demo_practice(f->st);
    assert_int_equal(store_infomodel_seed_demo(f->st), 0);
    assert_demo_practice(f->st);
    /* Deleting part of it does not bring it back: the model is not empty. */
    assert_int_equal(store_entity_delete(f->st, STORE_ENTITY_CARD_TERMINAL, "ct1"), 0);
    assert_int_equal(store_infomodel_seed_demo(f->st), 0);
    assert_false(store_entity_exists(f->st, STORE_ENTITY_CARD_TERMINAL, "ct1"));
    assert_int_equal(store_infomodel_seed_demo(NULL), -EINVAL);
}

static void seed_does_nothing_when_any_entity_exists(void **state)
{
    struct fixture *f = *state;

    add(f->st, STORE_ENTITY_CARD_TERMINAL, "kt-empfang");
    assert_int_equal(store_infomodel_seed_demo(f->st), 0);
    assert_false(store_entity_exists(f->st, STORE_ENTITY_MANDANT, "m1"));
    assert_int_equal(store_entity_count(f->st, STORE_ENTITY_CARD_TERMINAL), 1);
}

static void seed_leaves_no_transaction_open(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(store_infomodel_seed_demo(f->st), 1);
    assert_int_equal(store_infomodel_seed_demo(f->st), 0);
    assert_true(sqlite3_get_autocommit(f->st->db));
    /* Another connection can write: no lock is left behind. */
    assert_int_equal(tmpdb_exec(&f->t, "INSERT INTO entities (kind, id) VALUES ('mandant', 'm2')"),
                     SQLITE_OK);
}

static void reset_empties_the_model_and_allows_a_new_seed(void **state)
{
    struct fixture *f = *state;
    struct seen s;

    add_practice(f->st);
    relate(f->st, STORE_REL_MANDANT_SMB, "m1", "80276883110000017222");
    assert_int_equal(store_infomodel_reset(f->st), 0);
    for (unsigned i = 0; i < STORE_ENTITY_MAX; i++)
        assert_int_equal(store_entity_count(f->st, (enum store_entity)i), 0);
    for (unsigned i = 0; i < STORE_REL_MAX; i++)
        assert_string_equal(pairs_of(f->st, (enum store_relation)i, NULL, NULL, &s), "");
    assert_true(sqlite3_get_autocommit(f->st->db));
    /* Resetting an empty model is fine. */
    assert_int_equal(store_infomodel_reset(f->st), 0);
    assert_int_equal(store_infomodel_seed_demo(f->st), 1);
    assert_demo_practice(f->st);
    assert_int_equal(store_infomodel_reset(NULL), -EINVAL);
}

static void model_survives_close_and_reopen(void **state)
{
    struct fixture *f = *state;
    struct store_ct ct = {.id = "ct3", .name = "Labor", .slots = 1, .active = false}, got;
    struct seen s;

    add_practice(f->st);
    assert_int_equal(store_ct_add(f->st, &ct), 0);
    f->st = store_close(f->st);
    assert_int_equal(store_open(f->t.path, &f->st), 0);
    assert_string_equal(ids_of(f->st, STORE_ENTITY_CARD_TERMINAL, &s), "ct1 ct2 ct3");
    assert_int_equal(store_ct_get(f->st, "ct3", &got), 0);
    assert_string_equal(got.name, "Labor");
    assert_int_equal(got.slots, 1);
    assert_false(got.active);
    assert_string_equal(pairs_of(f->st, STORE_REL_WORKPLACE_CT_REMOTE, NULL, NULL, &s), "ws1/ct2");
    assert_true(store_relation_exists(f->st, STORE_REL_MANDANT_WORKPLACE, "m1", "ws1"));
}

/* ---- migration from schema version 1 ---------------------------------------------------- */

/* The schema as the first release wrote it (db.c migration 1), with one user and one
 * setting in it. */
static const char v1_database[] =
    "CREATE TABLE schema_version (id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  version INTEGER NOT NULL);"
    "INSERT INTO schema_version (id, version) VALUES (1, 1);"
    "CREATE TABLE settings (name TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE users ("
    "  name TEXT NOT NULL PRIMARY KEY,"
    "  role TEXT NOT NULL CHECK (role IN ('Local-Administrator', 'Remote-Administrator',"
    "                                     'Super-Administrator')),"
    "  pwhash TEXT NOT NULL,"
    "  failed_logins INTEGER NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),"
    "  locked_until_ms INTEGER NOT NULL DEFAULT 0,"
    "  last_logout_ms INTEGER NOT NULL DEFAULT 0,"
    "  created_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE UNIQUE INDEX users_name_nocase ON users (name COLLATE NOCASE);"
    "INSERT INTO users (name, role, pwhash) VALUES ('admin', 'Super-Administrator', 'x$y');"
    "INSERT INTO settings (name, value) VALUES ('SECURITY_LOG_DAYS', '30');";

static int64_t schema_version(struct store *st)
{
    sqlite3_stmt *s = NULL;
    int64_t v;

    assert_int_equal(sqlite3_prepare_v2(st->db, "SELECT version FROM schema_version", -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

static void version_one_database_is_migrated_and_keeps_its_data(void **state)
{
    struct fixture *f = *state;
    struct store_user u;
    int64_t days = 0;

    f->st = store_close(f->st);
    tmpdb_remove(&f->t);
    assert_int_equal(tmpdb_make(&f->t), 0);
    assert_int_equal(tmpdb_exec(&f->t, v1_database), SQLITE_OK);

    assert_int_equal(store_open(f->t.path, &f->st), 0);
    assert_int_equal(schema_version(f->st), 3);
    assert_int_equal(store_user_get(f->st, "admin", &u), 0);
    assert_int_equal(u.role, STORE_ROLE_SUPER_ADMIN);
    assert_int_equal(store_setting_get_int(f->st, "SECURITY_LOG_DAYS", &days), 0);
    assert_int_equal(days, 30);
    /* The new tables work, with their cascades. */
    assert_int_equal(store_infomodel_seed_demo(f->st), 1);
    assert_demo_practice(f->st);
    assert_int_equal(store_entity_delete(f->st, STORE_ENTITY_MANDANT, "m1"), 0);
    assert_false(store_relation_exists(f->st, STORE_REL_MANDANT_WORKPLACE, "m1", "ws1"));

    /* Reopening migrates nothing more. */
    f->st = store_close(f->st);
    assert_int_equal(store_open(f->t.path, &f->st), 0);
    assert_int_equal(schema_version(f->st), 3);
    assert_true(store_entity_exists(f->st, STORE_ENTITY_WORKPLACE, "ws1"));
}

static void migration_two_runs_again_harmlessly_on_a_version_set_back(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(store_infomodel_seed_demo(f->st), 1);
    f->st = store_close(f->st);
    assert_int_equal(tmpdb_exec(&f->t, "UPDATE schema_version SET version = 1"), SQLITE_OK);
    assert_int_equal(store_open(f->t.path, &f->st), 0);
    assert_int_equal(schema_version(f->st), 3);
    assert_demo_practice(f->st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(entity_and_relation_names_round_trip),
        cmocka_unit_test(relation_kinds_name_the_kinds_of_both_ends),
        cmocka_unit_test(entity_ids_follow_the_documented_alphabet),
        cmocka_unit_test(terminal_names_are_text_without_control_characters),
        cmocka_unit_test_setup_teardown(every_kind_is_added_listed_in_id_order_counted_and_deleted,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(kinds_keep_their_ids_apart, setup, teardown),
        cmocka_unit_test_setup_teardown(adding_an_existing_id_of_the_same_kind_is_eexist, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(ids_are_case_sensitive, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_ids_and_kinds_are_einval_and_store_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(deleting_an_unknown_entity_is_enoent, setup, teardown),
        cmocka_unit_test_setup_teardown(foreach_callback_may_change_the_model, setup, teardown),
        cmocka_unit_test_setup_teardown(damaged_rows_are_skipped_by_foreach, setup, teardown),
        cmocka_unit_test_setup_teardown(new_terminal_has_four_active_slots_and_its_id_as_name,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(terminal_added_with_attributes_keeps_them, setup, teardown),
        cmocka_unit_test_setup_teardown(terminal_update_changes_attributes_within_the_slot_range,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_terminal_is_enoent_for_get_and_update, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(relations_are_added_found_listed_and_deleted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(relating_twice_is_eexist, setup, teardown),
        cmocka_unit_test_setup_teardown(relation_with_a_missing_end_is_enoent_naming_it, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(smb_relation_needs_only_the_mandant, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_relation_arguments_are_einval, setup, teardown),
        cmocka_unit_test_setup_teardown(deleting_an_entity_deletes_its_relations_and_no_others,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(schema_refuses_relations_to_missing_or_wrong_kinds, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(seed_creates_the_demo_practice_once, setup, teardown),
        cmocka_unit_test_setup_teardown(seed_does_nothing_when_any_entity_exists, setup, teardown),
        cmocka_unit_test_setup_teardown(seed_leaves_no_transaction_open, setup, teardown),
        cmocka_unit_test_setup_teardown(reset_empties_the_model_and_allows_a_new_seed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(model_survives_close_and_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(version_one_database_is_migrated_and_keeps_its_data, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(migration_two_runs_again_harmlessly_on_a_version_set_back,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
