/* Unit tests for src/cards/world.c and persist.c: terminals from the info model, insertion and
 * removal with their events and exact parameters, handles, slot errors, disconnection and
 * EC_CardTerminal_Not_Available, and the world surviving close and open. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>

#include "cards_test.h"

static bool is_hex32(const char *s)
{
    return strlen(s) == 32 && strspn(s, "0123456789abcdef") == 32;
}

static void reopen(struct world *w)
{
    w->cards = cards_close(w->cards);
    w->seen.n = 0;
    assert_int_equal(world_cards_open(w), 0);
}

static void first_start_inserts_demo_cards_silently(void **state)
{
    struct world *w = *state;
    static const char *const in_slot[] = {NULL, "smcb1", "hba1", "egk1", NULL};

    /* The template's first start and this copy's open published nothing. */
    assert_int_equal(tpl.seen.n, 0);
    assert_int_equal(w->seen.n, 0);
    for (unsigned slot = 1; slot <= 4; slot++) {
        const struct cards_card *card = cards_card_in_slot(w->cards, "ct1", slot);

        if (!in_slot[slot]) {
            assert_null(card);
            continue;
        }
        assert_non_null(card);
        assert_string_equal(card->name, in_slot[slot]);
        assert_true(is_hex32(card->handle));
        assert_ptr_equal(cards_card_by_handle(w->cards, card->handle), card);
    }
    assert_int_equal(cards_terminal_count(w->cards), 1);
    assert_string_equal(cards_terminal_at(w->cards, 0)->id, "ct1");
    assert_string_equal(cards_terminal_at(w->cards, 0)->name, "ct1");
    assert_int_equal(cards_terminal_at(w->cards, 0)->slots, 4);
    assert_true(cards_terminal_at(w->cards, 0)->connected);
    assert_true(cards_terminal_at(w->cards, 0)->active);
}

/* Rewrites world.json as a first start without ct1 would have left it. */
static void make_demo_pending(struct world *w)
{
    char path[128];
    json_t *root;
    json_t *card;
    size_t i;

    (void)snprintf(path, sizeof(path), "%s/world/world.json", w->dir);
    root = json_load_file(path, 0, NULL);
    assert_non_null(root);
    assert_int_equal(json_object_set_new(root, "demo_pending", json_true()), 0);
    assert_int_equal(json_object_set_new(root, "terminals", json_array()), 0);
    json_array_foreach(json_object_get(root, "cards"), i, card)
        assert_int_equal(json_object_set_new(card, "inserted", json_null()), 0);
    assert_int_equal(json_dump_file(root, path, 0), 0);
    json_decref(root);
}

static void demo_cards_wait_for_ct1(void **state)
{
    struct world *w = *state;
    struct evt_event changed = {.topic = "MGM/INFOMODEL_CHANGED",
                                .type = EVT_TYPE_OPERATION,
                                .severity = EVT_SEVERITY_INFO};

    w->cards = cards_close(w->cards);
    make_demo_pending(w);
    assert_int_equal(store_entity_delete(w->store, STORE_ENTITY_CARD_TERMINAL, "ct1"), 0);
    assert_int_equal(world_cards_open(w), 0);
    assert_int_equal(cards_terminal_count(w->cards), 0);
    assert_null(cards_card_in_slot(w->cards, "ct1", 1));
    /* ct1 appears: the world follows the info model's change event. */
    assert_int_equal(store_entity_add(w->store, STORE_ENTITY_CARD_TERMINAL, "ct1"), 0);
    assert_int_equal(evt_bus_publish(w->bus, &changed), 0);
    assert_int_equal(seen_count(&w->seen, "CT/CONNECTED"), 1);
    assert_int_equal(seen_count(&w->seen, "CARD/INSERTED"), 3);
    assert_string_equal(cards_card_in_slot(w->cards, "ct1", 1)->name, "smcb1");
    assert_string_equal(cards_card_in_slot(w->cards, "ct1", 2)->name, "hba1");
    assert_string_equal(cards_card_in_slot(w->cards, "ct1", 3)->name, "egk1");
    /* Only once: a restart does not insert them again. */
    assert_int_equal(cards_remove(w->cards, "ct1", 2), 0);
    reopen(w);
    assert_null(cards_card_in_slot(w->cards, "ct1", 2));
}

static void insert_raises_card_inserted_with_exact_parameters(void **state)
{
    struct world *w = *state;
    static const char *const keys[] = {"CardHandle", "CardType",       "CardVersion",
                                       "ICCSN",      "CtID",           "SlotID",
                                       "InsertTime", "CardHolderName", "KVNR"};
    const struct cards_card *hba = cards_card_find(w->cards, "hba1");
    const struct seen_event *ev;
    int64_t t;

    assert_int_equal(cards_remove(w->cards, "ct1", 2), 0);
    assert_int_equal(cards_insert(w->cards, "ct1", 4, "hba1"), 0);
    ev = seen_last(&w->seen, "CARD/INSERTED");
    assert_non_null(ev);
    assert_int_equal(ev->n_params, ARRAY_SIZE(keys));
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
        assert_string_equal(ev->keys[i], keys[i]);
    assert_string_equal(seen_param(ev, "CardHandle"), hba->handle);
    assert_true(is_hex32(seen_param(ev, "CardHandle")));
    assert_string_equal(seen_param(ev, "CardType"), "HBA");
    assert_string_equal(seen_param(ev, "CardVersion"), "4.4.0");
    assert_string_equal(seen_param(ev, "ICCSN"), hba->iccsn);
    assert_string_equal(seen_param(ev, "CtID"), "ct1");
    assert_string_equal(seen_param(ev, "SlotID"), "4");
    assert_int_equal(clock_parse_iso(seen_param(ev, "InsertTime"), &t), 0);
    assert_int_equal(t, hba->insert_time_ms);
    assert_string_equal(seen_param(ev, "CardHolderName"), "Dr. Arne Testarzt TEST-ONLY");
    assert_string_equal(seen_param(ev, "KVNR"), "");
    /* The eGK names its insured. */
    assert_int_equal(cards_remove(w->cards, "ct1", 3), 0);
    assert_int_equal(cards_insert(w->cards, "ct1", 3, "egk1"), 0);
    ev = seen_last(&w->seen, "CARD/INSERTED");
    assert_string_equal(seen_param(ev, "CardType"), "EGK");
    assert_string_equal(seen_param(ev, "KVNR"), "X110000001");
    assert_string_equal(seen_param(ev, "CardHolderName"), "Erika Mustermann TEST-ONLY");
}

static void remove_raises_card_removed_with_the_handle(void **state)
{
    struct world *w = *state;
    char handle[CARDS_HANDLE_MAX + 1];
    const struct seen_event *ev;

    (void)str_copy(handle, sizeof(handle), cards_card_in_slot(w->cards, "ct1", 1)->handle);
    assert_int_equal(cards_remove(w->cards, "ct1", 1), 0);
    ev = seen_last(&w->seen, "CARD/REMOVED");
    assert_non_null(ev);
    assert_string_equal(seen_param(ev, "CardHandle"), handle);
    assert_string_equal(seen_param(ev, "CardType"), "SMC-B");
    assert_string_equal(seen_param(ev, "SlotID"), "1");
    assert_string_equal(seen_param(ev, "CtID"), "ct1");
    assert_null(cards_card_by_handle(w->cards, handle));
    assert_null(cards_card_in_slot(w->cards, "ct1", 1));
    assert_string_equal(cards_card_find(w->cards, "smcb1")->ct_id, "");
    assert_int_equal(cards_remove(w->cards, "ct1", 1), -ENOENT);
}

static void handles_are_new_on_every_insertion(void **state)
{
    struct world *w = *state;
    char handles[4][CARDS_HANDLE_MAX + 1];

    for (int i = 0; i < 4; i++) {
        assert_int_equal(cards_remove(w->cards, "ct1", 3), 0);
        assert_int_equal(cards_insert(w->cards, "ct1", 3, "egk1"), 0);
        (void)str_copy(handles[i], sizeof(handles[i]), cards_card_find(w->cards, "egk1")->handle);
        assert_true(is_hex32(handles[i]));
        for (int j = 0; j < i; j++)
            assert_string_not_equal(handles[i], handles[j]);
        for (unsigned s = 1; s <= 2; s++)
            assert_string_not_equal(handles[i], cards_card_in_slot(w->cards, "ct1", s)->handle);
    }
    assert_null(cards_card_by_handle(w->cards, handles[0]));
    assert_non_null(cards_card_by_handle_mut(w->cards, handles[3]));
}

static void slot_errors_are_distinct(void **state)
{
    struct world *w = *state;

    assert_int_equal(cards_insert(w->cards, "ct1", 0, "hba1"), -ERANGE);
    assert_int_equal(cards_insert(w->cards, "ct1", 5, "hba1"), -ERANGE);
    assert_int_equal(cards_insert(w->cards, "ct1", 1, "hba1"), -EBUSY); /* smcb1 is there */
    assert_int_equal(cards_insert(w->cards, "ct1", 4, "hba1"), -EBUSY); /* already in slot 2 */
    assert_int_equal(cards_insert(w->cards, "ct1", 4, "nosuchcard"), -ENOENT);
    assert_int_equal(cards_insert(w->cards, "ct9", 4, "hba1"), -ENOENT);
    assert_int_equal(cards_remove(w->cards, "ct1", 4), -ENOENT);
    assert_int_equal(cards_remove(w->cards, "ct9", 1), -ENOENT);
    assert_int_equal(cards_terminal_set_connected(w->cards, "ct9", false), -ENOENT);
    assert_int_equal(seen_count(&w->seen, "CARD/INSERTED"), 0);
}

static void disconnect_removes_cards_and_raises_the_condition(void **state)
{
    struct world *w = *state;
    const struct seen_event *ev;

    assert_int_equal(cards_terminal_set_connected(w->cards, "ct1", false), 0);
    assert_int_equal(seen_count(&w->seen, "CARD/REMOVED"), 3);
    ev = seen_last(&w->seen, "CT/DISCONNECTED");
    assert_non_null(ev);
    assert_int_equal(ev->n_params, 2);
    assert_string_equal(seen_param(ev, "CtID"), "ct1");
    assert_string_equal(seen_param(ev, "CtName"), "ct1");
    assert_true(ec_is_active(w->ecs, EC_CARDTERMINAL_NOT_AVAILABLE, "ct1"));
    assert_int_equal(seen_count(&w->seen, "OPERATIONAL_STATE/EC_CardTerminal_Not_Available"), 1);
    for (unsigned s = 1; s <= 4; s++)
        assert_null(cards_card_in_slot(w->cards, "ct1", s));
    assert_int_equal(cards_insert(w->cards, "ct1", 1, "smcb1"), -ENOTCONN);
    /* Again: nothing changes, nothing is published. */
    w->seen.n = 0;
    assert_int_equal(cards_terminal_set_connected(w->cards, "ct1", false), 0);
    assert_int_equal(w->seen.n, 0);
    assert_int_equal(cards_terminal_set_connected(w->cards, "ct1", true), 0);
    ev = seen_last(&w->seen, "CT/CONNECTED");
    assert_non_null(ev);
    assert_string_equal(seen_param(ev, "CtID"), "ct1");
    assert_false(ec_is_active(w->ecs, EC_CARDTERMINAL_NOT_AVAILABLE, "ct1"));
    assert_int_equal(cards_insert(w->cards, "ct1", 1, "smcb1"), 0);
}

static void inactive_terminal_raises_no_condition(void **state)
{
    struct world *w = *state;
    struct store_ct ct;

    assert_int_equal(store_ct_get(w->store, "ct1", &ct), 0);
    ct.active = false;
    assert_int_equal(store_ct_update(w->store, &ct), 0);
    assert_int_equal(cards_sync_terminals(w->cards), 0);
    assert_int_equal(cards_terminal_set_connected(w->cards, "ct1", false), 0);
    assert_false(ec_is_active(w->ecs, EC_CARDTERMINAL_NOT_AVAILABLE, "ct1"));
    /* Made active while disconnected: now it is missed. */
    ct.active = true;
    assert_int_equal(store_ct_update(w->store, &ct), 0);
    assert_int_equal(cards_sync_terminals(w->cards), 0);
    assert_true(ec_is_active(w->ecs, EC_CARDTERMINAL_NOT_AVAILABLE, "ct1"));
}

static void sync_follows_the_info_model(void **state)
{
    struct world *w = *state;
    struct store_ct ct;

    assert_int_equal(store_entity_add(w->store, STORE_ENTITY_CARD_TERMINAL, "ct2"), 0);
    assert_int_equal(cards_sync_terminals(w->cards), 0);
    assert_int_equal(cards_terminal_count(w->cards), 2);
    assert_string_equal(seen_param(seen_last(&w->seen, "CT/CONNECTED"), "CtID"), "ct2");
    assert_int_equal(cards_remove(w->cards, "ct1", 2), 0);
    assert_int_equal(cards_insert(w->cards, "ct2", 1, "hba1"), 0);
    /* Deleted: its card goes with it. */
    assert_int_equal(store_entity_delete(w->store, STORE_ENTITY_CARD_TERMINAL, "ct2"), 0);
    assert_int_equal(cards_sync_terminals(w->cards), 0);
    assert_int_equal(cards_terminal_count(w->cards), 1);
    assert_string_equal(seen_param(seen_last(&w->seen, "CARD/REMOVED"), "CtID"), "ct2");
    assert_string_equal(seen_param(seen_last(&w->seen, "CT/DISCONNECTED"), "CtID"), "ct2");
    assert_string_equal(cards_card_find(w->cards, "hba1")->ct_id, "");
    /* Fewer slots: the card beyond them is removed. */
    assert_int_equal(store_ct_get(w->store, "ct1", &ct), 0);
    ct.slots = 2;
    assert_int_equal(store_ct_update(w->store, &ct), 0);
    assert_int_equal(cards_sync_terminals(w->cards), 0);
    assert_int_equal(cards_terminal_find(w->cards, "ct1")->slots, 2);
    assert_string_equal(seen_param(seen_last(&w->seen, "CARD/REMOVED"), "ICCSN"),
                        cards_card_find(w->cards, "egk1")->iccsn);
    assert_null(cards_card_in_slot(w->cards, "ct1", 3));
    assert_non_null(cards_card_in_slot(w->cards, "ct1", 1));
}

static void world_persists_across_close_and_open(void **state)
{
    struct world *w = *state;
    char handle[CARDS_HANDLE_MAX + 1];
    struct cards_card *hba;

    assert_int_equal(cards_remove(w->cards, "ct1", 2), 0);
    assert_int_equal(cards_insert(w->cards, "ct1", 4, "hba1"), 0);
    hba = cards_card_by_handle_mut(w->cards, cards_card_find(w->cards, "hba1")->handle);
    assert_non_null(hba);
    (void)str_copy(handle, sizeof(handle), hba->handle);
    hba->pins[1].tries_left = 1;
    hba->pins[1].state = CARDS_PIN_BLOCKED;
    assert_int_equal(cards_save(w->cards), 0);
    assert_int_equal(store_entity_add(w->store, STORE_ENTITY_CARD_TERMINAL, "ct2"), 0);
    assert_int_equal(cards_sync_terminals(w->cards), 0);
    assert_int_equal(cards_terminal_set_connected(w->cards, "ct2", false), 0);

    /* A restart: new condition set, same data directory. */
    w->cards = cards_close(w->cards);
    w->ecs = ec_state_free(w->ecs);
    w->ecs = ec_state_new(w->bus);
    assert_non_null(w->ecs);
    w->seen.n = 0;
    assert_int_equal(world_cards_open(w), 0);
    /* Silent, except that the missing terminal is a condition again. */
    assert_int_equal(w->seen.n, 1);
    assert_string_equal(w->seen.ev[0].topic, "OPERATIONAL_STATE/EC_CardTerminal_Not_Available");
    assert_int_equal(seen_count(&w->seen, "CT/CONNECTED"), 0);
    hba = cards_card_by_handle_mut(w->cards, handle);
    assert_non_null(hba);
    assert_string_equal(hba->name, "hba1");
    assert_int_equal(hba->slot, 4);
    assert_int_equal(hba->pins[1].tries_left, 1);
    assert_int_equal(hba->pins[1].state, CARDS_PIN_BLOCKED);
    assert_string_equal(hba->pins[1].name, "PIN.QES");
    assert_false(cards_terminal_find(w->cards, "ct2")->connected);
    assert_true(cards_terminal_find(w->cards, "ct1")->connected);
    assert_true(ec_is_active(w->ecs, EC_CARDTERMINAL_NOT_AVAILABLE, "ct2"));
    assert_string_equal(cards_card_in_slot(w->cards, "ct1", 3)->name, "egk1");
}

static void damaged_world_file_is_set_aside(void **state)
{
    struct world *w = *state;
    char path[128];

    w->cards = cards_close(w->cards);
    (void)snprintf(path, sizeof(path), "%s/world/world.json", w->dir);
    assert_int_equal(fs_write_atomic(path, "{\"format\": 1, \"cards\": [", 25, 0600), 0);
    assert_int_equal(world_cards_open(w), 0);
    (void)snprintf(path, sizeof(path), "%s/world/world.json.damaged", w->dir);
    assert_true(fs_exists(path));
    /* A fresh world from the same PKI, the demo cards back in ct1. */
    assert_int_equal(cards_catalog_count(w->cards), 3);
    assert_string_equal(cards_card_in_slot(w->cards, "ct1", 2)->name, "hba1");
    assert_int_equal(seen_count(&w->seen, "CARD/INSERTED"), 0);
}

static void prepare_does_the_first_start_off_the_loop(void **state)
{
    struct world *w = *state;
    char path[128];

    w->cards = cards_close(w->cards);
    /* With a world: nothing to do. */
    assert_int_equal(cards_prepare(w->dir), 0);
    (void)snprintf(path, sizeof(path), "%s/world/world.json", w->dir);
    assert_int_equal(unlink(path), 0);
    /* Without: the demo cards are made (from the existing PKI) and wait for ct1. */
    assert_int_equal(cards_prepare(w->dir), 0);
    assert_true(fs_exists(path));
    assert_int_equal(cards_prepare(NULL), -EINVAL);
    assert_int_equal(world_cards_open(w), 0);
    assert_int_equal(w->seen.n, 0);
    assert_string_equal(cards_card_in_slot(w->cards, "ct1", 1)->name, "smcb1");
    assert_string_equal(cards_card_in_slot(w->cards, "ct1", 3)->name, "egk1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(first_start_inserts_demo_cards_silently, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(demo_cards_wait_for_ct1, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(insert_raises_card_inserted_with_exact_parameters,
                                        world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(remove_raises_card_removed_with_the_handle, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(handles_are_new_on_every_insertion, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(slot_errors_are_distinct, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(disconnect_removes_cards_and_raises_the_condition,
                                        world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(inactive_terminal_raises_no_condition, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(sync_follows_the_info_model, world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(world_persists_across_close_and_open, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(damaged_world_file_is_set_aside, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(prepare_does_the_first_start_off_the_loop, world_setup,
                                        world_teardown),
    };

    return cmocka_run_group_tests(tests, world_group_setup, world_group_teardown);
}
