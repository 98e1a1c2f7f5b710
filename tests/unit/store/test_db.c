/* Unit tests for src/store/db.c: opening, connection settings, schema versioning, refusal of
 * unusable files, and the role names. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "store/store_internal.h"
#include "store_test.h"

struct fixture {
    struct tmpdb t;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (!f || tmpdb_make(&f->t) < 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    tmpdb_remove(&f->t);
    free(f);
    return 0;
}

/* The first column of the first row of sql on db, as text, into buf. */
static void query_text(sqlite3 *db, const char *sql, char *buf, size_t size)
{
    sqlite3_stmt *s = NULL;

    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    (void)snprintf(buf, size, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
}

static void open_creates_a_private_database_file(void **state)
{
    struct fixture *f = *state;
    struct store *st = NULL;
    struct stat sb;

    assert_int_equal(store_open(f->t.path, &st), 0);
    assert_non_null(st);
    assert_int_equal(stat(f->t.path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    st = store_close(st);
    assert_null(st);
}

static void existing_database_readable_by_others_is_made_private(void **state)
{
    struct fixture *f = *state;
    struct store *st = NULL;
    struct stat sb;

    assert_int_equal(store_open(f->t.path, &st), 0);
    st = store_close(st);
    assert_int_equal(chmod(f->t.path, 0644), 0);
    assert_int_equal(store_open(f->t.path, &st), 0);
    assert_int_equal(stat(f->t.path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    st = store_close(st);
}

static void connection_uses_wal_full_sync_foreign_keys_and_a_busy_timeout(void **state)
{
    struct fixture *f = *state;
    struct store *st = NULL;
    char v[32];

    assert_int_equal(store_open(f->t.path, &st), 0);
    query_text(st->db, "PRAGMA journal_mode", v, sizeof(v));
    assert_string_equal(v, "wal");
    query_text(st->db, "PRAGMA synchronous", v, sizeof(v));
    assert_string_equal(v, "2"); /* FULL */
    query_text(st->db, "PRAGMA foreign_keys", v, sizeof(v));
    assert_string_equal(v, "1");
    query_text(st->db, "PRAGMA busy_timeout", v, sizeof(v));
    assert_string_equal(v, "1000");
    st = store_close(st);
}

static void new_database_records_the_latest_schema_version(void **state)
{
    struct fixture *f = *state;
    struct store *st = NULL;
    char v[32];

    assert_int_equal(store_open(f->t.path, &st), 0);
    /* 1: settings and users; 2: the info model; 3: account permissions. */
    query_text(st->db, "SELECT version FROM schema_version", v, sizeof(v));
    assert_string_equal(v, "3");
    query_text(st->db, "SELECT count(*) FROM schema_version", v, sizeof(v));
    assert_string_equal(v, "1");
    st = store_close(st);
    /* Reopening migrates nothing and keeps the one row. */
    assert_int_equal(store_open(f->t.path, &st), 0);
    query_text(st->db, "SELECT count(*) FROM schema_version", v, sizeof(v));
    assert_string_equal(v, "1");
    st = store_close(st);
}

static void newer_schema_version_is_refused_with_eio(void **state)
{
    struct fixture *f = *state;
    struct store *st = NULL;

    assert_int_equal(store_open(f->t.path, &st), 0);
    st = store_close(st);
    assert_int_equal(tmpdb_exec(&f->t, "UPDATE schema_version SET version = 99"), SQLITE_OK);
    assert_int_equal(store_open(f->t.path, &st), -EIO);
    assert_null(st);
}

static void file_that_is_not_a_database_is_refused_with_eio(void **state)
{
    struct fixture *f = *state;
    struct store *st = NULL;
    FILE *fp = fopen(f->t.path, "w");

    assert_non_null(fp);
    for (int i = 0; i < 64; i++)
        assert_true(fputs("this is not an SQLite database\n", fp) >= 0);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(store_open(f->t.path, &st), -EIO);
    assert_null(st);
}

static void open_in_a_missing_directory_is_eio(void **state)
{
    struct store *st = NULL;

    assert_int_equal(store_open("/nonexistent-konn-dir/sub/config.db", &st), -EIO);
    assert_null(st);
}

static void open_with_bad_arguments_is_einval(void **state)
{
    struct fixture *f = *state;
    struct store *st = NULL;

    assert_int_equal(store_open(NULL, &st), -EINVAL);
    assert_int_equal(store_open("", &st), -EINVAL);
    assert_int_equal(store_open(f->t.path, NULL), -EINVAL);
    assert_null(store_close(NULL));
}

static void role_names_round_trip(void **state)
{
    enum store_role role = STORE_ROLE_MAX;

    for (unsigned i = 0; i < STORE_ROLE_MAX; i++) {
        assert_int_equal(store_role_from_string(store_role_to_string((enum store_role)i), &role),
                         0);
        assert_int_equal(role, i);
    }
    assert_string_equal(store_role_to_string(STORE_ROLE_LOCAL_ADMIN), "Local-Administrator");
    assert_string_equal(store_role_to_string(STORE_ROLE_REMOTE_ADMIN), "Remote-Administrator");
    assert_string_equal(store_role_to_string(STORE_ROLE_SUPER_ADMIN), "Super-Administrator");
    assert_null(store_role_to_string(STORE_ROLE_MAX));
}

static void role_from_string_takes_short_forms_in_any_case(void **state)
{
    enum store_role role = STORE_ROLE_MAX;

    assert_int_equal(store_role_from_string("super-administrator", &role), 0);
    assert_int_equal(role, STORE_ROLE_SUPER_ADMIN);
    assert_int_equal(store_role_from_string("Remote", &role), 0);
    assert_int_equal(role, STORE_ROLE_REMOTE_ADMIN);
    assert_int_equal(store_role_from_string("LOCAL", &role), 0);
    assert_int_equal(role, STORE_ROLE_LOCAL_ADMIN);
    role = STORE_ROLE_MAX;
    assert_int_equal(store_role_from_string("admin", &role), -EINVAL);
    assert_int_equal(store_role_from_string("", &role), -EINVAL);
    assert_int_equal(store_role_from_string(NULL, &role), -EINVAL);
    assert_int_equal(role, STORE_ROLE_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(open_creates_a_private_database_file, setup, teardown),
        cmocka_unit_test_setup_teardown(existing_database_readable_by_others_is_made_private, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            connection_uses_wal_full_sync_foreign_keys_and_a_busy_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(new_database_records_the_latest_schema_version, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(newer_schema_version_is_refused_with_eio, setup, teardown),
        cmocka_unit_test_setup_teardown(file_that_is_not_a_database_is_refused_with_eio, setup,
                                        teardown),
        cmocka_unit_test(open_in_a_missing_directory_is_eio),
        cmocka_unit_test_setup_teardown(open_with_bad_arguments_is_einval, setup, teardown),
        cmocka_unit_test(role_names_round_trip),
        cmocka_unit_test(role_from_string_takes_short_forms_in_any_case),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
