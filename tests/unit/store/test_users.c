/* Unit tests for src/store/users.c: administrator records in a real config.db in a temporary
 * directory. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/base.h"
#include "store/store_internal.h"
#include "store_test.h"

struct fixture {
    struct tmpdb t;
    struct store *st;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (!f || tmpdb_make(&f->t) < 0 || store_open(f->t.path, &f->st) < 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    f->st = store_close(f->st);
    tmpdb_remove(&f->t);
    free(f);
    return 0;
}

static struct store_user make_user(const char *name, enum store_role role)
{
    struct store_user u = {0};

    (void)snprintf(u.name, sizeof(u.name), "%s", name);
    u.role = role;
    (void)snprintf(u.pwhash, sizeof(u.pwhash), "pbkdf2-sha256$600000$salt$%s", name);
    u.created_ms = 1764403877123;
    return u;
}

static void add(struct fixture *f, const char *name, enum store_role role)
{
    struct store_user u = make_user(name, role);

    assert_int_equal(store_user_add(f->st, &u), 0);
}

static void assert_user_equal(const struct store_user *a, const struct store_user *b)
{
    assert_string_equal(a->name, b->name);
    assert_int_equal(a->role, b->role);
    assert_string_equal(a->pwhash, b->pwhash);
    assert_int_equal(a->failed_logins, b->failed_logins);
    assert_int_equal(a->locked_until_ms, b->locked_until_ms);
    assert_int_equal(a->last_logout_ms, b->last_logout_ms);
    assert_int_equal(a->created_ms, b->created_ms);
}

static void user_names_follow_the_documented_alphabet(void **state)
{
    static const char *const good[] = {"a", "admin", "a.b_c-d", "9lives", "Dr.Meier"};
    static const char *const bad[] = {"", ".a", "-a", "_a", "a b", "a/b", "a:b", "k\xc3\xb6nig"};
    char max[STORE_USER_NAME_MAX + 2];

    for (size_t i = 0; i < ARRAY_SIZE(good); i++)
        assert_true(store_user_name_is_valid(good[i]));
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        assert_false(store_user_name_is_valid(bad[i]));
    assert_false(store_user_name_is_valid(NULL));
    memset(max, 'a', STORE_USER_NAME_MAX);
    max[STORE_USER_NAME_MAX] = '\0';
    assert_true(store_user_name_is_valid(max));
    max[STORE_USER_NAME_MAX] = 'a';
    max[STORE_USER_NAME_MAX + 1] = '\0';
    assert_false(store_user_name_is_valid(max));
}

static void added_user_comes_back_with_every_field(void **state)
{
    struct fixture *f = *state;
    struct store_user u = make_user("admin", STORE_ROLE_SUPER_ADMIN);
    struct store_user got;

    u.failed_logins = UINT32_MAX;
    u.locked_until_ms = 1764403907123;
    u.last_logout_ms = 1764403000000;
    memset(u.pwhash, 'h', STORE_USER_HASH_MAX);
    u.pwhash[STORE_USER_HASH_MAX] = '\0';
    assert_int_equal(store_user_add(f->st, &u), 0);
    assert_int_equal(store_user_get(f->st, "admin", &got), 0);
    assert_user_equal(&got, &u);
}

static void adding_an_existing_name_is_eexist(void **state)
{
    struct fixture *f = *state;
    struct store_user u = make_user("admin", STORE_ROLE_LOCAL_ADMIN);

    add(f, "admin", STORE_ROLE_SUPER_ADMIN);
    assert_int_equal(store_user_add(f->st, &u), -EEXIST);
    assert_int_equal(store_user_count(f->st), 1);
}

static void names_differing_only_in_case_are_the_same_account_name(void **state)
{
    struct fixture *f = *state;
    struct store_user u = make_user("Admin", STORE_ROLE_LOCAL_ADMIN);
    struct store_user got;

    add(f, "admin", STORE_ROLE_SUPER_ADMIN);
    assert_int_equal(store_user_add(f->st, &u), -EEXIST);
    /* Looked up exactly: "ADMIN" is not "admin". */
    assert_int_equal(store_user_get(f->st, "ADMIN", &got), -ENOENT);
}

static void bad_name_role_or_hash_is_einval(void **state)
{
    struct fixture *f = *state;
    struct store_user u = make_user("-admin", STORE_ROLE_SUPER_ADMIN);
    struct store_user got;

    assert_int_equal(store_user_add(f->st, &u), -EINVAL);
    u = make_user("admin", STORE_ROLE_MAX);
    assert_int_equal(store_user_add(f->st, &u), -EINVAL);
    u = make_user("admin", STORE_ROLE_SUPER_ADMIN);
    memset(u.pwhash, 'h', sizeof(u.pwhash)); /* not terminated */
    assert_int_equal(store_user_add(f->st, &u), -EINVAL);
    assert_int_equal(store_user_add(f->st, NULL), -EINVAL);
    assert_int_equal(store_user_get(f->st, "a b", &got), -EINVAL);
    assert_int_equal(store_user_delete(f->st, ""), -EINVAL);
    assert_int_equal(store_user_count(f->st), 0);
}

static void unknown_user_is_enoent_for_get_update_and_delete(void **state)
{
    struct fixture *f = *state;
    struct store_user u = make_user("ghost", STORE_ROLE_LOCAL_ADMIN);
    struct store_user got = make_user("untouched", STORE_ROLE_LOCAL_ADMIN);

    assert_int_equal(store_user_get(f->st, "ghost", &got), -ENOENT);
    assert_string_equal(got.name, "untouched");
    assert_int_equal(store_user_update(f->st, &u), -ENOENT);
    assert_int_equal(store_user_delete(f->st, "ghost"), -ENOENT);
}

static void update_replaces_every_field(void **state)
{
    struct fixture *f = *state;
    struct store_user u = make_user("ops", STORE_ROLE_LOCAL_ADMIN);
    struct store_user got;

    add(f, "ops", STORE_ROLE_LOCAL_ADMIN);
    u.role = STORE_ROLE_REMOTE_ADMIN;
    (void)snprintf(u.pwhash, sizeof(u.pwhash), "new-hash");
    u.failed_logins = 5;
    u.locked_until_ms = 42;
    u.last_logout_ms = 43;
    u.created_ms = 44;
    assert_int_equal(store_user_update(f->st, &u), 0);
    assert_int_equal(store_user_get(f->st, "ops", &got), 0);
    assert_user_equal(&got, &u);
}

static void delete_removes_the_user_once(void **state)
{
    struct fixture *f = *state;
    struct store_user got;

    add(f, "ops", STORE_ROLE_LOCAL_ADMIN);
    assert_int_equal(store_user_delete(f->st, "ops"), 0);
    assert_int_equal(store_user_get(f->st, "ops", &got), -ENOENT);
    assert_int_equal(store_user_delete(f->st, "ops"), -ENOENT);
}

struct seen {
    char names[8][STORE_USER_NAME_MAX + 1];
    size_t n;
    struct store *st;
};

static void remember(const struct store_user *u, void *arg)
{
    struct seen *s = arg;

    if (s->n < ARRAY_SIZE(s->names))
        (void)snprintf(s->names[s->n++], sizeof(s->names[0]), "%s", u->name);
}

static void remember_and_delete(const struct store_user *u, void *arg)
{
    struct seen *s = arg;

    remember(u, arg);
    assert_int_equal(store_user_delete(s->st, u->name), 0);
}

static void foreach_visits_users_in_name_order(void **state)
{
    struct fixture *f = *state;
    struct seen s = {.n = 0};

    add(f, "zeta", STORE_ROLE_LOCAL_ADMIN);
    add(f, "alpha", STORE_ROLE_SUPER_ADMIN);
    add(f, "mu", STORE_ROLE_REMOTE_ADMIN);
    assert_int_equal(store_user_foreach(f->st, remember, &s), 0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.names[0], "alpha");
    assert_string_equal(s.names[1], "mu");
    assert_string_equal(s.names[2], "zeta");
    assert_int_equal(store_user_foreach(f->st, NULL, &s), -EINVAL);
}

static void foreach_callback_may_delete_users(void **state)
{
    struct fixture *f = *state;
    struct seen s = {.n = 0, .st = f->st};

    for (int i = 0; i < 5; i++) {
        char name[8];

        (void)snprintf(name, sizeof(name), "u%d", i);
        add(f, name, STORE_ROLE_LOCAL_ADMIN);
    }
    assert_int_equal(store_user_foreach(f->st, remember_and_delete, &s), 0);
    assert_int_equal(s.n, 5);
    assert_int_equal(store_user_count(f->st), 0);
}

static void counts_follow_adds_updates_and_deletes(void **state)
{
    struct fixture *f = *state;
    struct store_user u = make_user("b", STORE_ROLE_SUPER_ADMIN);

    assert_int_equal(store_user_count(f->st), 0);
    add(f, "a", STORE_ROLE_SUPER_ADMIN);
    add(f, "b", STORE_ROLE_LOCAL_ADMIN);
    add(f, "c", STORE_ROLE_LOCAL_ADMIN);
    assert_int_equal(store_user_count(f->st), 3);
    assert_int_equal(store_user_count_role(f->st, STORE_ROLE_SUPER_ADMIN), 1);
    assert_int_equal(store_user_count_role(f->st, STORE_ROLE_LOCAL_ADMIN), 2);
    assert_int_equal(store_user_count_role(f->st, STORE_ROLE_REMOTE_ADMIN), 0);
    assert_int_equal(store_user_update(f->st, &u), 0);
    assert_int_equal(store_user_count_role(f->st, STORE_ROLE_SUPER_ADMIN), 2);
    assert_int_equal(store_user_delete(f->st, "a"), 0);
    assert_int_equal(store_user_count_role(f->st, STORE_ROLE_SUPER_ADMIN), 1);
    assert_int_equal(store_user_count_role(f->st, STORE_ROLE_MAX), 0);
}

static void users_survive_close_and_reopen(void **state)
{
    struct fixture *f = *state;
    struct store_user want = make_user("admin", STORE_ROLE_SUPER_ADMIN);
    struct store_user got;

    add(f, "admin", STORE_ROLE_SUPER_ADMIN);
    f->st = store_close(f->st);
    assert_int_equal(store_open(f->t.path, &f->st), 0);
    assert_int_equal(store_user_get(f->st, "admin", &got), 0);
    assert_user_equal(&got, &want);
}

/* A row edited by hand so that it no longer fits struct store_user. */
static void damaged_row_is_ebadmsg_for_get_and_skipped_by_foreach(void **state)
{
    struct fixture *f = *state;
    struct seen s = {.n = 0};
    struct store_user got;

    add(f, "good", STORE_ROLE_LOCAL_ADMIN);
    assert_int_equal(tmpdb_exec(&f->t, "INSERT INTO users (name, role, pwhash, failed_logins) "
                                       "VALUES ('bad', 'Local-Administrator', 'x', 5000000000),"
                                       " ('bad name', 'Local-Administrator', 'x', 0)"),
                     SQLITE_OK);
    assert_int_equal(store_user_get(f->st, "bad", &got), -EBADMSG);
    assert_int_equal(store_user_foreach(f->st, remember, &s), 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.names[0], "good");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(user_names_follow_the_documented_alphabet),
        cmocka_unit_test_setup_teardown(added_user_comes_back_with_every_field, setup, teardown),
        cmocka_unit_test_setup_teardown(adding_an_existing_name_is_eexist, setup, teardown),
        cmocka_unit_test_setup_teardown(names_differing_only_in_case_are_the_same_account_name,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(bad_name_role_or_hash_is_einval, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_user_is_enoent_for_get_update_and_delete, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(update_replaces_every_field, setup, teardown),
        cmocka_unit_test_setup_teardown(delete_removes_the_user_once, setup, teardown),
        cmocka_unit_test_setup_teardown(foreach_visits_users_in_name_order, setup, teardown),
        cmocka_unit_test_setup_teardown(foreach_callback_may_delete_users, setup, teardown),
        cmocka_unit_test_setup_teardown(counts_follow_adds_updates_and_deletes, setup, teardown),
        cmocka_unit_test_setup_teardown(users_survive_close_and_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(damaged_row_is_ebadmsg_for_get_and_skipped_by_foreach,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
