/* Unit tests for the web UI's cookie sessions (session.c): the cookie, the CSRF token, and
 * the end of a session when its account changes. The HTTP side (login, logout, headers) is
 * tests/integration/test_webui_session.py. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mgmt/mgmt_internal.h"

#define TOKEN_HEX 64

struct fixture {
    struct store *store;
    struct mgmt_sessions *sessions;
    struct store_user lisa;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    clock_init(CLOCK_MODE_VIRTUAL);
    assert_int_equal(store_open(":memory:", &f->store), 0);
    (void)str_copy(f->lisa.name, sizeof(f->lisa.name), "lisa");
    f->lisa.role = STORE_ROLE_LOCAL_ADMIN;
    f->lisa.created_ms = 1000;
    /* Any record will do: sessions compare it, they never verify a password. */
    (void)str_copy(f->lisa.pwhash, sizeof(f->lisa.pwhash), "pbkdf2-sha256$1$00$00");
    assert_int_equal(store_user_add(f->store, &f->lisa), 0);
    assert_int_equal(store_user_get(f->store, "lisa", &f->lisa), 0);
    f->sessions = mgmt__sessions_new(f->store);
    assert_non_null(f->sessions);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    mgmt__sessions_free(f->sessions);
    store_close(f->store);
    free(f);
    return 0;
}

static void cookie_of(const char *token, char *out, size_t size)
{
    (void)snprintf(out, size, "theme=light; konn_session=%s; other=1", token);
}

static void a_request_without_the_cookie_is_no_session(void **state)
{
    struct fixture *f = *state;
    struct store_user u;

    assert_int_equal(mgmt__session_check(f->sessions, NULL, NULL, false, &u), 0);
    assert_int_equal(mgmt__session_check(f->sessions, "theme=light", NULL, false, &u), 0);
    assert_int_equal(mgmt__session_check(f->sessions, "konn_session=abc", NULL, false, &u), 0);
    assert_int_equal(mgmt__session_check(f->sessions, "xkonn_session=ab", NULL, false, &u), 0);
}

static void a_new_session_authenticates_by_its_cookie(void **state)
{
    struct fixture *f = *state;
    char token[TOKEN_HEX + 1], csrf[TOKEN_HEX + 1], cookie[160];
    struct store_user u;

    assert_int_equal(mgmt__sessions_add(f->sessions, &f->lisa, token, csrf), 0);
    assert_int_equal(strlen(token), TOKEN_HEX);
    assert_string_not_equal(token, csrf);
    cookie_of(token, cookie, sizeof(cookie));
    assert_int_equal(mgmt__session_check(f->sessions, cookie, NULL, false, &u), 1);
    assert_string_equal(u.name, "lisa");
    assert_int_equal(u.role, STORE_ROLE_LOCAL_ADMIN);
    assert_int_equal(mgmt__sessions_count(f->sessions), 1);
}

static void an_unknown_token_is_refused(void **state)
{
    struct fixture *f = *state;
    char token[TOKEN_HEX + 1], csrf[TOKEN_HEX + 1], cookie[160];
    struct store_user u;

    assert_int_equal(mgmt__sessions_add(f->sessions, &f->lisa, token, csrf), 0);
    token[0] = token[0] == 'a' ? 'b' : 'a';
    cookie_of(token, cookie, sizeof(cookie));
    assert_int_equal(mgmt__session_check(f->sessions, cookie, NULL, false, &u), -EACCES);
}

static void a_state_change_needs_the_csrf_token(void **state)
{
    struct fixture *f = *state;
    char token[TOKEN_HEX + 1], csrf[TOKEN_HEX + 1], wrong[TOKEN_HEX + 1], cookie[160];
    struct store_user u;

    assert_int_equal(mgmt__sessions_add(f->sessions, &f->lisa, token, csrf), 0);
    cookie_of(token, cookie, sizeof(cookie));
    memcpy(wrong, csrf, sizeof(wrong));
    wrong[TOKEN_HEX - 1] = wrong[TOKEN_HEX - 1] == '0' ? '1' : '0';
    assert_int_equal(mgmt__session_check(f->sessions, cookie, NULL, true, &u), -EPERM);
    assert_int_equal(mgmt__session_check(f->sessions, cookie, "login", true, &u), -EPERM);
    assert_int_equal(mgmt__session_check(f->sessions, cookie, wrong, true, &u), -EPERM);
    assert_int_equal(mgmt__session_check(f->sessions, cookie, csrf, true, &u), 1);
    /* Reading needs no token. */
    assert_int_equal(mgmt__session_check(f->sessions, cookie, NULL, false, &u), 1);
}

static void a_new_password_record_ends_the_session(void **state)
{
    struct fixture *f = *state;
    char token[TOKEN_HEX + 1], csrf[TOKEN_HEX + 1], cookie[160];
    struct store_user u = f->lisa;

    assert_int_equal(mgmt__sessions_add(f->sessions, &f->lisa, token, csrf), 0);
    cookie_of(token, cookie, sizeof(cookie));
    (void)str_copy(u.pwhash, sizeof(u.pwhash), "pbkdf2-sha256$1$11$11");
    assert_int_equal(store_user_update(f->store, &u), 0);
    assert_int_equal(mgmt__session_check(f->sessions, cookie, NULL, false, &u), -EACCES);
    /* Ended, not suspended: the old record does not bring it back. */
    assert_int_equal(store_user_update(f->store, &f->lisa), 0);
    assert_int_equal(mgmt__session_check(f->sessions, cookie, NULL, false, &u), -EACCES);
    assert_int_equal(mgmt__sessions_count(f->sessions), 0);
}

static void a_deleted_or_recreated_account_ends_the_session(void **state)
{
    struct fixture *f = *state;
    char token[TOKEN_HEX + 1], csrf[TOKEN_HEX + 1], cookie[160];
    struct store_user u;

    assert_int_equal(mgmt__sessions_add(f->sessions, &f->lisa, token, csrf), 0);
    cookie_of(token, cookie, sizeof(cookie));
    assert_int_equal(store_user_delete(f->store, "lisa"), 0);
    assert_int_equal(mgmt__session_check(f->sessions, cookie, NULL, false, &u), -EACCES);

    /* A factory reset makes a new account of the same name and record: a new creation time. */
    assert_int_equal(store_user_add(f->store, &f->lisa), 0);
    assert_int_equal(store_user_get(f->store, "lisa", &f->lisa), 0);
    assert_int_equal(mgmt__sessions_add(f->sessions, &f->lisa, token, csrf), 0);
    cookie_of(token, cookie, sizeof(cookie));
    u = f->lisa;
    u.created_ms += 1000;
    assert_int_equal(store_user_delete(f->store, "lisa"), 0);
    assert_int_equal(store_user_add(f->store, &u), 0);
    assert_int_equal(store_user_get(f->store, "lisa", &u), 0);
    assert_int_equal(mgmt__session_check(f->sessions, cookie, NULL, false, &u), -EACCES);
}

static void end_all_ends_every_session(void **state)
{
    struct fixture *f = *state;
    char token[TOKEN_HEX + 1], csrf[TOKEN_HEX + 1], cookie[160];
    struct store_user u;

    assert_int_equal(mgmt__sessions_add(f->sessions, &f->lisa, token, csrf), 0);
    assert_int_equal(mgmt__sessions_add(f->sessions, &f->lisa, token, csrf), 0);
    assert_int_equal(mgmt__sessions_count(f->sessions), 2);
    mgmt__sessions_end_all(f->sessions);
    assert_int_equal(mgmt__sessions_count(f->sessions), 0);
    cookie_of(token, cookie, sizeof(cookie));
    assert_int_equal(mgmt__session_check(f->sessions, cookie, NULL, false, &u), -EACCES);
}

static void a_full_table_evicts_the_oldest_login(void **state)
{
    struct fixture *f = *state;
    char first[TOKEN_HEX + 1], token[TOKEN_HEX + 1], csrf[TOKEN_HEX + 1], cookie[160];
    struct store_user u;
    size_t n = 0;

    assert_int_equal(mgmt__sessions_add(f->sessions, &f->lisa, first, csrf), 0);
    /* Fill the table, then one more. */
    while (mgmt__sessions_count(f->sessions) > n) {
        n = mgmt__sessions_count(f->sessions);
        assert_int_equal(mgmt__sessions_add(f->sessions, &f->lisa, token, csrf), 0);
    }
    assert_int_equal(mgmt__sessions_count(f->sessions), n);
    cookie_of(first, cookie, sizeof(cookie));
    assert_int_equal(mgmt__session_check(f->sessions, cookie, NULL, false, &u), -EACCES);
    cookie_of(token, cookie, sizeof(cookie));
    assert_int_equal(mgmt__session_check(f->sessions, cookie, NULL, false, &u), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_request_without_the_cookie_is_no_session, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_new_session_authenticates_by_its_cookie, setup, teardown),
        cmocka_unit_test_setup_teardown(an_unknown_token_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(a_state_change_needs_the_csrf_token, setup, teardown),
        cmocka_unit_test_setup_teardown(a_new_password_record_ends_the_session, setup, teardown),
        cmocka_unit_test_setup_teardown(a_deleted_or_recreated_account_ends_the_session, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(end_all_ends_every_session, setup, teardown),
        cmocka_unit_test_setup_teardown(a_full_table_evicts_the_oldest_login, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
