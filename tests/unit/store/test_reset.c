/* Unit tests for the factory reset of config.db (store/reset.c) and the permissions of
 * administrator accounts (store/users.c, migration 3). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "store/store_internal.h"
#include "store_test.h"

struct fixture {
    struct tmpdb t;
    struct store *st;
    char heard[8][64];
    size_t n_heard;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    assert_int_equal(tmpdb_make(&f->t), 0);
    assert_int_equal(store_open(f->t.path, &f->st), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    store_close(f->st);
    tmpdb_remove(&f->t);
    free(f);
    return 0;
}

static void heard(const char *name, const char *value, void *arg)
{
    struct fixture *f = arg;

    if (f->n_heard < 8)
        (void)snprintf(f->heard[f->n_heard++], sizeof(f->heard[0]), "%s=%s", name, value);
}

static struct store_user user(const char *name, enum store_role role, unsigned perms)
{
    struct store_user u = {.role = role, .permissions = perms, .created_ms = 1};

    (void)snprintf(u.name, sizeof(u.name), "%s", name);
    (void)snprintf(u.pwhash, sizeof(u.pwhash), "pbkdf2-sha256$1$00$00");
    return u;
}

static void factory_reset_empties_everything_and_announces_defaults(void **state)
{
    struct fixture *f = *state;
    struct store_user u = user("bob", STORE_ROLE_LOCAL_ADMIN, 0);
    char msg[256];
    const char *v = NULL;

    assert_int_equal(store_setting_set(f->st, "SECURITY_LOG_DAYS", "30", STORE_ROLE_SUPER_ADMIN,
                                       msg, sizeof(msg)),
                     1);
    assert_int_equal(store_user_add(f->st, &u), 0);
    assert_int_equal(store_infomodel_seed_demo(f->st), 1);
    assert_int_equal(store_entity_add(f->st, STORE_ENTITY_MANDANT, "m9"), 0);
    assert_int_equal(store_setting_on_change(f->st, heard, f), 0);

    assert_int_equal(store_factory_reset(f->st), 0);
    assert_int_equal(store_user_count(f->st), 0);
    assert_int_equal(store_entity_count(f->st, STORE_ENTITY_MANDANT), 0);
    assert_int_equal(store_entity_count(f->st, STORE_ENTITY_CARD_TERMINAL), 0);
    assert_false(store_relation_exists(f->st, STORE_REL_MANDANT_CLIENT_SYSTEM, "m1", "cs1"));
    assert_int_equal(store_setting_get(f->st, "SECURITY_LOG_DAYS", &v), 0);
    assert_string_equal(v, setting_def_find("SECURITY_LOG_DAYS")->default_value);
    /* Exactly the one setting that changed is announced. */
    assert_int_equal(f->n_heard, 1);
    assert_memory_equal(f->heard[0], "SECURITY_LOG_DAYS=", 18);
}

static void factory_reset_survives_a_reopen(void **state)
{
    struct fixture *f = *state;
    struct store_user u = user("bob", STORE_ROLE_LOCAL_ADMIN, 0);

    assert_int_equal(store_user_add(f->st, &u), 0);
    assert_int_equal(store_factory_reset(f->st), 0);
    f->st = store_close(f->st);
    assert_int_equal(store_open(f->t.path, &f->st), 0);
    assert_int_equal(store_user_count(f->st), 0);
}

static void failed_reset_changes_nothing(void **state)
{
    struct fixture *f = *state;
    struct store_user u = user("bob", STORE_ROLE_LOCAL_ADMIN, 0);

    assert_int_equal(store_user_add(f->st, &u), 0);
    /* Another connection holds the write lock: BEGIN IMMEDIATE fails after the busy wait. */
    {
        sqlite3 *db = NULL;

        assert_int_equal(sqlite3_open(f->t.path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(store_factory_reset(f->st), -EIO);
        (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(db);
    }
    assert_int_equal(store_user_count(f->st), 1);
}

static void permissions_are_stored_and_a_super_admin_holds_them_by_role(void **state)
{
    struct fixture *f = *state;
    struct store_user loc =
        user("loc", STORE_ROLE_LOCAL_ADMIN, STORE_PERM_BIT(STORE_PERM_USER_RESET));
    struct store_user sup = user("sup", STORE_ROLE_SUPER_ADMIN, 0);
    struct store_user got;
    enum store_permission p;

    assert_int_equal(store_user_add(f->st, &loc), 0);
    assert_int_equal(store_user_add(f->st, &sup), 0);
    assert_int_equal(store_user_get(f->st, "loc", &got), 0);
    assert_int_equal(got.permissions, STORE_PERM_BIT(STORE_PERM_USER_RESET));
    assert_true(store_user_has_permission(&got, STORE_PERM_USER_RESET));
    got.permissions = 0;
    assert_int_equal(store_user_update(f->st, &got), 0);
    assert_int_equal(store_user_get(f->st, "loc", &got), 0);
    assert_false(store_user_has_permission(&got, STORE_PERM_USER_RESET));
    assert_int_equal(store_user_get(f->st, "sup", &got), 0);
    assert_true(store_user_has_permission(&got, STORE_PERM_USER_RESET));
    assert_string_equal(store_permission_to_string(STORE_PERM_USER_RESET), "USER_RESET_PERMISSION");
    assert_int_equal(store_permission_from_string("USER_RESET_PERMISSION", &p), 0);
    assert_int_equal(p, STORE_PERM_USER_RESET);
    assert_int_equal(store_permission_from_string("user_reset_permission", &p), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(factory_reset_empties_everything_and_announces_defaults,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(factory_reset_survives_a_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_reset_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(permissions_are_stored_and_a_super_admin_holds_them_by_role,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
