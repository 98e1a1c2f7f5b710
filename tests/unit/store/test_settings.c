/* Unit tests for src/store/settings.c: validation of every type at its boundaries, and
 * get/set/listeners/reset on a real config.db in a temporary directory. */
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

static void reopen(struct fixture *f)
{
    f->st = store_close(f->st);
    assert_int_equal(store_open(f->t.path, &f->st), 0);
}

static void expect_valid(const char *name, const char *value, const char *norm)
{
    char out[SETTING_VALUE_MAX] = "";
    char msg[256] = "";

    assert_int_equal(
        setting_validate(setting_def_find(name), value, out, sizeof(out), msg, sizeof(msg)), 0);
    assert_string_equal(out, norm);
}

static void expect_invalid(const char *name, const char *value)
{
    char out[SETTING_VALUE_MAX] = "untouched";
    char msg[256] = "";

    assert_int_equal(
        setting_validate(setting_def_find(name), value, out, sizeof(out), msg, sizeof(msg)),
        -EINVAL);
    assert_string_equal(out, "untouched");
    /* Every refusal names the setting. */
    assert_non_null(strstr(msg, name));
}

static void expect_message(const char *name, const char *value, const char *want)
{
    char msg[384] = "";

    assert_int_equal(setting_validate(setting_def_find(name), value, NULL, 0, msg, sizeof(msg)),
                     -EINVAL);
    assert_string_equal(msg, want);
}

/* ---- validation ------------------------------------------------------------------------- */

static void security_log_days_accepts_ten_and_730(void **state)
{
    expect_valid("SECURITY_LOG_DAYS", "10", "10");
    expect_valid("SECURITY_LOG_DAYS", "730", "730");
}

static void security_log_days_below_ten_is_refused_with_range(void **state)
{
    expect_message("SECURITY_LOG_DAYS", "5",
                   "SECURITY_LOG_DAYS must be a whole number from 10 to 730 (days), got '5'");
    expect_invalid("SECURITY_LOG_DAYS", "9");
}

static void security_log_days_above_730_is_refused(void **state)
{
    expect_invalid("SECURITY_LOG_DAYS", "731");
}

static void int_refuses_junk_empty_signs_blanks_and_overflow(void **state)
{
    static const char *const bad[] = {"",    "abc", "+10",  " 10",  "10 ", "10.0",
                                      "1e2", "-",   "0x10", "\t10", "-10", "99999999999999999999"};

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        expect_invalid("LOG_DAYS", bad[i]);
    expect_invalid("LOG_DAYS", NULL);
}

static void int_leading_zeros_are_normalised_away(void **state)
{
    expect_valid("LOG_DAYS", "0180", "180");
}

static void seclog_capacity_accepts_16_to_65536_mb_only(void **state)
{
    expect_valid("SECLOG_CAPACITY_MB", "16", "16");
    expect_valid("SECLOG_CAPACITY_MB", "65536", "65536");
    expect_invalid("SECLOG_CAPACITY_MB", "15");
    expect_invalid("SECLOG_CAPACITY_MB", "65537");
}

static void evt_max_try_range_message_has_no_unit(void **state)
{
    expect_valid("EVT_MAX_TRY", "1", "1");
    expect_valid("EVT_MAX_TRY", "100", "100");
    expect_invalid("EVT_MAX_TRY", "101");
    expect_message("EVT_MAX_TRY", "0", "EVT_MAX_TRY must be a whole number from 1 to 100, got '0'");
}

static void bool_accepts_every_spelling_case_insensitively_and_normalises(void **state)
{
    static const char *const yes[] = {"Enabled", "enabled", "ENABLED", "true", "On", "1"};
    static const char *const no[] = {"Disabled", "disabled", "FALSE", "off", "OFF", "0"};

    for (size_t i = 0; i < ARRAY_SIZE(yes); i++)
        expect_valid("ANCL_DVD_OPEN", yes[i], "Enabled");
    for (size_t i = 0; i < ARRAY_SIZE(no); i++)
        expect_valid("ANCL_DVD_OPEN", no[i], "Disabled");
}

static void bool_refuses_junk_and_names_both_spellings(void **state)
{
    static const char *const bad[] = {"", "yes", "Enable", "2", "enabledx", " on"};

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        expect_invalid("MGM_LU_ONLINE", bad[i]);
    expect_message("MGM_LU_ONLINE", "yes", "MGM_LU_ONLINE must be Enabled or Disabled, got 'yes'");
}

static void enum_match_is_case_insensitive_and_normalised(void **state)
{
    expect_valid("LOG_LEVEL_SYSLOG", "warning", "Warning");
    expect_valid("LOG_LEVEL_SYSLOG", "FATAL", "Fatal");
    expect_valid("ANCL_CAUT_MODE", "password", "Password");
}

static void enum_refuses_other_words_and_lists_the_choices(void **state)
{
    expect_message("LOG_LEVEL_SYSLOG", "Debug",
                   "LOG_LEVEL_SYSLOG must be one of Info, Warning, Error, Fatal, got 'Debug'");
    expect_invalid("LOG_LEVEL_SYSLOG", "");
    expect_invalid("LOG_LEVEL_SYSLOG", "Inf");
    expect_invalid("ANCL_CAUT_MODE", "Certificates");
}

static void hostname_accepts_one_to_63_label_characters(void **state)
{
    char max[64];

    memset(max, 'a', 63);
    max[63] = '\0';
    expect_valid("MGM_KONN_HOSTNAME", "k", "k");
    expect_valid("MGM_KONN_HOSTNAME", max, max);
    expect_valid("MGM_KONN_HOSTNAME", "Praxis-Dr-Meier-01", "Praxis-Dr-Meier-01");
}

static void hostname_refuses_empty_64_characters_dash_ends_and_other_characters(void **state)
{
    static const char *const bad[] = {"", "-a", "a-", "a_b", "a.b", "a b", "k\xc3\xb6nig"};
    char over[65];

    memset(over, 'a', 64);
    over[64] = '\0';
    expect_invalid("MGM_KONN_HOSTNAME", over);
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        expect_invalid("MGM_KONN_HOSTNAME", bad[i]);
    expect_message("MGM_KONN_HOSTNAME", "a_b",
                   "MGM_KONN_HOSTNAME must be 1 to 63 characters of A-Z, a-z, 0-9 and '-', not "
                   "starting or ending with '-', got 'a_b'");
}

static void advertised_host_accepts_empty_names_and_addresses(void **state)
{
    static const char *const good[] = {"",           "konnektor",   "praxis.example.org",
                                       "192.0.2.10", "2001:db8::1", "k-1.a-b.de"};
    char max[254];

    for (size_t i = 0; i < ARRAY_SIZE(good); i++)
        expect_valid("MGM_LAN_ADVERTISED_HOST", good[i], good[i]);
    /* 253 characters: four labels of 63 joined by dots. */
    memset(max, 'a', 253);
    max[63] = max[127] = max[191] = '.';
    max[253] = '\0';
    expect_valid("MGM_LAN_ADVERTISED_HOST", max, max);
}

static void advertised_host_refuses_bad_labels_and_other_characters(void **state)
{
    static const char *const bad[] = {"a..b", ".a",  "a.",  "-a.b",     "a-.b",
                                      "a_b",  "a b", "a/b", "http://a", "[::1]"};
    char over[255], label[70];

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        expect_invalid("MGM_LAN_ADVERTISED_HOST", bad[i]);
    memset(over, 'a', 254);
    over[63] = over[127] = over[191] = '.';
    over[254] = '\0';
    expect_invalid("MGM_LAN_ADVERTISED_HOST", over);
    memset(label, 'a', 64);
    (void)snprintf(label + 64, sizeof(label) - 64, ".de");
    expect_invalid("MGM_LAN_ADVERTISED_HOST", label);
    expect_message("MGM_LAN_ADVERTISED_HOST", "a_b",
                   "MGM_LAN_ADVERTISED_HOST must be 0 to 253 characters: a host name (labels of "
                   "A-Z, a-z, 0-9 and '-' joined by '.') or an IP address, got 'a_b'");
}

static void time_accepts_00_00_and_23_59(void **state)
{
    expect_valid("MGM_KSR_AUTO_UPDATE_TIME", "00:00", "00:00");
    expect_valid("MGM_KSR_AUTO_UPDATE_TIME", "23:59", "23:59");
}

static void time_refuses_24_00_12_60_and_other_forms(void **state)
{
    static const char *const bad[] = {"24:00",    "12:60", "3:00",  "03:0", "0300",
                                      "03:00:00", "",      "ab:cd", "-1:00"};

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        expect_invalid("MGM_KSR_AUTO_UPDATE_TIME", bad[i]);
    expect_message("MGM_KSR_AUTO_UPDATE_TIME", "24:00",
                   "MGM_KSR_AUTO_UPDATE_TIME must be a time of day HH:MM from 00:00 to 23:59, "
                   "got '24:00'");
}

static void ksr_url_accepts_empty_and_http_urls_only(void **state)
{
    static const char *const bad[] = {"ftp://ksr/",   "ksr.example",        "http://",
                                      "https://",     "http://a b/",        "file:///etc/passwd",
                                      "http://\x01/", "HTTP://ksr.example/"};

    expect_valid("KSR_URL", "", "");
    expect_valid("KSR_URL", "http://127.0.0.1:8080/", "http://127.0.0.1:8080/");
    expect_valid("KSR_URL", "https://ksr.ti-dienste.de/ksr", "https://ksr.ti-dienste.de/ksr");
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        expect_invalid("KSR_URL", bad[i]);
    expect_message("KSR_URL", "ksr",
                   "KSR_URL must be empty or an http:// or https:// URL of 0 to 255 printable "
                   "characters without blanks, got 'ksr'");
}

static void overlong_value_is_refused_and_shown_cut(void **state)
{
    char value[SETTING_VALUE_MAX + 10];
    char msg[384];

    memset(value, '1', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    assert_int_equal(
        setting_validate(setting_def_find("LOG_DAYS"), value, NULL, 0, msg, sizeof(msg)), -EINVAL);
    assert_non_null(strstr(msg, "got '1111111111111111111111111111111111111111...'"));
}

static void control_characters_and_quotes_are_not_echoed(void **state)
{
    expect_message("ANCL_DVD_OPEN", "x\n'y\x1b",
                   "ANCL_DVD_OPEN must be Enabled or Disabled, got 'x??y?'");
}

static void normalised_value_too_big_for_the_buffer_is_enametoolong(void **state)
{
    char out[4] = "abc";

    assert_int_equal(
        setting_validate(setting_def_find("ANCL_DVD_OPEN"), "on", out, sizeof(out), NULL, 0),
        -ENAMETOOLONG);
    assert_string_equal(out, "abc");
    assert_int_equal(setting_validate(NULL, "on", NULL, 0, NULL, 0), -EINVAL);
}

/* ---- get and set ------------------------------------------------------------------------ */

static void fresh_store_returns_every_default(void **state)
{
    struct fixture *f = *state;
    const char *v = NULL;

    for (size_t i = 0; i < setting_count(); i++) {
        assert_int_equal(store_setting_get(f->st, setting_def_at(i)->name, &v), 0);
        assert_string_equal(v, setting_def_at(i)->default_value);
    }
    assert_int_equal(store_setting_get(f->st, "NO_SUCH_SETTING", &v), -ENOENT);
}

static void typed_getters_convert_and_refuse_other_types(void **state)
{
    struct fixture *f = *state;
    bool b = false;
    int64_t n = 0;

    assert_int_equal(store_setting_get_bool(f->st, "MGM_LU_ONLINE", &b), 0);
    assert_true(b);
    assert_int_equal(store_setting_get_bool(f->st, "ANCL_DVD_OPEN", &b), 0);
    assert_false(b);
    assert_int_equal(store_setting_get_int(f->st, "SECLOG_CAPACITY_MB", &n), 0);
    assert_int_equal(n, 256);
    assert_int_equal(store_setting_get_int(f->st, "MGM_LU_ONLINE", &n), -EINVAL);
    assert_int_equal(store_setting_get_bool(f->st, "LOG_DAYS", &b), -EINVAL);
    assert_int_equal(store_setting_get_int(f->st, "NO_SUCH_SETTING", &n), -ENOENT);
}

static void set_value_survives_close_and_reopen(void **state)
{
    struct fixture *f = *state;
    const char *v = NULL;

    assert_int_equal(store_setting_set(f->st, "LOG_DAYS", "365", STORE_ROLE_LOCAL_ADMIN, NULL, 0),
                     1);
    assert_int_equal(
        store_setting_set(f->st, "ANCL_CAUT_MODE", "password", STORE_ROLE_SUPER_ADMIN, NULL, 0), 1);
    reopen(f);
    assert_int_equal(store_setting_get(f->st, "LOG_DAYS", &v), 0);
    assert_string_equal(v, "365");
    assert_int_equal(store_setting_get(f->st, "ANCL_CAUT_MODE", &v), 0);
    assert_string_equal(v, "Password");
}

static void setting_the_current_value_in_another_spelling_returns_zero(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(
        store_setting_set(f->st, "MGM_LU_ONLINE", "on", STORE_ROLE_LOCAL_ADMIN, NULL, 0), 0);
}

static void set_of_unknown_setting_is_enoent_with_message(void **state)
{
    struct fixture *f = *state;
    char msg[128];

    assert_int_equal(
        store_setting_set(f->st, "LOG_WEEKS", "1", STORE_ROLE_SUPER_ADMIN, msg, sizeof(msg)),
        -ENOENT);
    assert_string_equal(msg, "there is no setting named 'LOG_WEEKS'");
}

static void remote_admin_changing_security_log_days_is_eacces_and_changes_nothing(void **state)
{
    struct fixture *f = *state;
    const char *v = NULL;
    char msg[128];

    assert_int_equal(store_setting_set(f->st, "SECURITY_LOG_DAYS", "365", STORE_ROLE_REMOTE_ADMIN,
                                       msg, sizeof(msg)),
                     -EACCES);
    assert_string_equal(msg, "SECURITY_LOG_DAYS may not be changed by a Remote-Administrator");
    /* Refused before validation: an invalid value gets the same answer. */
    assert_int_equal(
        store_setting_set(f->st, "ANCL_TLS_MANDATORY", "junk", STORE_ROLE_REMOTE_ADMIN, NULL, 0),
        -EACCES);
    reopen(f);
    assert_int_equal(store_setting_get(f->st, "SECURITY_LOG_DAYS", &v), 0);
    assert_string_equal(v, "180");
    assert_int_equal(store_setting_set(f->st, "LOG_DAYS", "30", STORE_ROLE_MAX, NULL, 0), -EINVAL);
}

static void remote_admin_may_change_log_days(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(store_setting_set(f->st, "LOG_DAYS", "30", STORE_ROLE_REMOTE_ADMIN, NULL, 0),
                     1);
}

static void invalid_value_is_einval_and_changes_nothing(void **state)
{
    struct fixture *f = *state;
    const char *v = NULL;
    char msg[128];

    assert_int_equal(store_setting_set(f->st, "SECURITY_LOG_DAYS", "5", STORE_ROLE_LOCAL_ADMIN, msg,
                                       sizeof(msg)),
                     -EINVAL);
    assert_string_equal(msg,
                        "SECURITY_LOG_DAYS must be a whole number from 10 to 730 (days), got '5'");
    assert_int_equal(store_setting_get(f->st, "SECURITY_LOG_DAYS", &v), 0);
    assert_string_equal(v, "180");
}

static int listener_calls;
static char listener_name[64];
static char listener_value[SETTING_VALUE_MAX];

static void record_change(const char *name, const char *value, void *arg)
{
    listener_calls++;
    (void)snprintf(listener_name, sizeof(listener_name), "%s", name);
    (void)snprintf(listener_value, sizeof(listener_value), "%s", value);
    /* arg, when given, records at which call this listener ran. */
    if (arg)
        *(int *)arg = listener_calls;
}

static void listener_runs_once_with_the_normalised_value(void **state)
{
    struct fixture *f = *state;

    listener_calls = 0;
    assert_int_equal(store_setting_on_change(f->st, record_change, NULL), 0);
    assert_int_equal(
        store_setting_set(f->st, "LOG_LEVEL_SYSLOG", "error", STORE_ROLE_LOCAL_ADMIN, NULL, 0), 1);
    assert_int_equal(listener_calls, 1);
    assert_string_equal(listener_name, "LOG_LEVEL_SYSLOG");
    assert_string_equal(listener_value, "Error");
}

static void listener_is_not_called_for_unchanged_refused_or_invalid_values(void **state)
{
    struct fixture *f = *state;

    listener_calls = 0;
    assert_int_equal(store_setting_on_change(f->st, record_change, NULL), 0);
    assert_int_equal(
        store_setting_set(f->st, "LOG_LEVEL_SYSLOG", "INFO", STORE_ROLE_LOCAL_ADMIN, NULL, 0), 0);
    assert_int_equal(
        store_setting_set(f->st, "ANCL_DVD_OPEN", "on", STORE_ROLE_REMOTE_ADMIN, NULL, 0), -EACCES);
    assert_int_equal(store_setting_set(f->st, "LOG_DAYS", "9", STORE_ROLE_LOCAL_ADMIN, NULL, 0),
                     -EINVAL);
    assert_int_equal(listener_calls, 0);
}

static void eight_listeners_run_in_registration_order_and_a_ninth_is_enospc(void **state)
{
    struct fixture *f = *state;
    int order[STORE__LISTENERS_MAX] = {0};

    for (size_t i = 0; i < STORE__LISTENERS_MAX; i++)
        assert_int_equal(store_setting_on_change(f->st, record_change, &order[i]), 0);
    assert_int_equal(store_setting_on_change(f->st, record_change, NULL), -ENOSPC);
    assert_int_equal(store_setting_on_change(f->st, NULL, NULL), -EINVAL);
    listener_calls = 0;
    assert_int_equal(store_setting_set(f->st, "EVT_MAX_TRY", "5", STORE_ROLE_LOCAL_ADMIN, NULL, 0),
                     1);
    assert_int_equal(listener_calls, STORE__LISTENERS_MAX);
    for (size_t i = 0; i < STORE__LISTENERS_MAX; i++)
        assert_int_equal(order[i], (int)i + 1);
}

/* A trigger added by a second connection makes every write to settings fail, the same way a
 * full disk or an I/O error would, without any timing involved. */
static void failed_write_keeps_the_old_value_and_calls_no_listener(void **state)
{
    struct fixture *f = *state;
    const char *v = NULL;
    char msg[128];

    assert_int_equal(tmpdb_exec(&f->t, "CREATE TRIGGER fail_put BEFORE INSERT ON settings "
                                       "BEGIN SELECT RAISE(ABORT, 'injected'); END"),
                     SQLITE_OK);
    listener_calls = 0;
    assert_int_equal(store_setting_on_change(f->st, record_change, NULL), 0);
    assert_int_equal(
        store_setting_set(f->st, "LOG_DAYS", "365", STORE_ROLE_LOCAL_ADMIN, msg, sizeof(msg)),
        -EIO);
    assert_string_equal(msg, "LOG_DAYS could not be stored and is unchanged");
    assert_int_equal(listener_calls, 0);
    assert_int_equal(store_setting_get(f->st, "LOG_DAYS", &v), 0);
    assert_string_equal(v, "180");
    reopen(f);
    assert_int_equal(store_setting_get(f->st, "LOG_DAYS", &v), 0);
    assert_string_equal(v, "180");
}

/* Another connection holds the write lock; with no busy wait the write fails at once. */
static void write_while_another_connection_holds_the_lock_is_eio(void **state)
{
    struct fixture *f = *state;
    sqlite3 *other = NULL;
    const char *v = NULL;

    assert_int_equal(sqlite3_open(f->t.path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_busy_timeout(f->st->db, 0), SQLITE_OK);
    assert_int_equal(store_setting_set(f->st, "EVT_MAX_TRY", "7", STORE_ROLE_LOCAL_ADMIN, NULL, 0),
                     -EIO);
    assert_int_equal(store_settings_reset(f->st), -EIO);
    assert_int_equal(store_setting_get(f->st, "EVT_MAX_TRY", &v), 0);
    assert_string_equal(v, "3");
    assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    /* The lock is gone: the same write now succeeds. */
    assert_int_equal(store_setting_set(f->st, "EVT_MAX_TRY", "7", STORE_ROLE_LOCAL_ADMIN, NULL, 0),
                     1);
}

static void reset_restores_defaults_durably_and_announces_only_changes(void **state)
{
    struct fixture *f = *state;
    const char *v = NULL;

    assert_int_equal(store_setting_set(f->st, "LOG_DAYS", "365", STORE_ROLE_LOCAL_ADMIN, NULL, 0),
                     1);
    assert_int_equal(
        store_setting_set(f->st, "MGM_KONN_HOSTNAME", "praxis1", STORE_ROLE_LOCAL_ADMIN, NULL, 0),
        1);
    listener_calls = 0;
    assert_int_equal(store_setting_on_change(f->st, record_change, NULL), 0);
    assert_int_equal(store_settings_reset(f->st), 0);
    assert_int_equal(listener_calls, 2);
    assert_string_equal(listener_name, "MGM_KONN_HOSTNAME");
    assert_string_equal(listener_value, "konnektor");
    reopen(f);
    for (size_t i = 0; i < setting_count(); i++) {
        assert_int_equal(store_setting_get(f->st, setting_def_at(i)->name, &v), 0);
        assert_string_equal(v, setting_def_at(i)->default_value);
    }
}

static void invalid_stored_value_falls_back_to_the_default(void **state)
{
    struct fixture *f = *state;
    const char *v = NULL;

    assert_int_equal(tmpdb_exec(&f->t, "INSERT INTO settings VALUES ('SECURITY_LOG_DAYS', '5'),"
                                       " ('ANCL_CAUT_MODE', 'password'),"
                                       " ('FM_VSDM_LOG_DAYS', '30')"),
                     SQLITE_OK);
    reopen(f);
    assert_int_equal(store_setting_get(f->st, "SECURITY_LOG_DAYS", &v), 0);
    assert_string_equal(v, "180");
    /* Valid but in another spelling: used, normalised. */
    assert_int_equal(store_setting_get(f->st, "ANCL_CAUT_MODE", &v), 0);
    assert_string_equal(v, "Password");
    /* Unknown names are kept in the file and ignored. */
    assert_int_equal(store_setting_get(f->st, "FM_VSDM_LOG_DAYS", &v), -ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(security_log_days_accepts_ten_and_730),
        cmocka_unit_test(security_log_days_below_ten_is_refused_with_range),
        cmocka_unit_test(security_log_days_above_730_is_refused),
        cmocka_unit_test(int_refuses_junk_empty_signs_blanks_and_overflow),
        cmocka_unit_test(int_leading_zeros_are_normalised_away),
        cmocka_unit_test(seclog_capacity_accepts_16_to_65536_mb_only),
        cmocka_unit_test(evt_max_try_range_message_has_no_unit),
        cmocka_unit_test(bool_accepts_every_spelling_case_insensitively_and_normalises),
        cmocka_unit_test(bool_refuses_junk_and_names_both_spellings),
        cmocka_unit_test(enum_match_is_case_insensitive_and_normalised),
        cmocka_unit_test(enum_refuses_other_words_and_lists_the_choices),
        cmocka_unit_test(hostname_accepts_one_to_63_label_characters),
        cmocka_unit_test(hostname_refuses_empty_64_characters_dash_ends_and_other_characters),
        cmocka_unit_test(advertised_host_accepts_empty_names_and_addresses),
        cmocka_unit_test(advertised_host_refuses_bad_labels_and_other_characters),
        cmocka_unit_test(time_accepts_00_00_and_23_59),
        cmocka_unit_test(time_refuses_24_00_12_60_and_other_forms),
        cmocka_unit_test(ksr_url_accepts_empty_and_http_urls_only),
        cmocka_unit_test(overlong_value_is_refused_and_shown_cut),
        cmocka_unit_test(control_characters_and_quotes_are_not_echoed),
        cmocka_unit_test(normalised_value_too_big_for_the_buffer_is_enametoolong),
        cmocka_unit_test_setup_teardown(fresh_store_returns_every_default, setup, teardown),
        cmocka_unit_test_setup_teardown(typed_getters_convert_and_refuse_other_types, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(set_value_survives_close_and_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(setting_the_current_value_in_another_spelling_returns_zero,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(set_of_unknown_setting_is_enoent_with_message, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            remote_admin_changing_security_log_days_is_eacces_and_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(remote_admin_may_change_log_days, setup, teardown),
        cmocka_unit_test_setup_teardown(invalid_value_is_einval_and_changes_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(listener_runs_once_with_the_normalised_value, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            listener_is_not_called_for_unchanged_refused_or_invalid_values, setup, teardown),
        cmocka_unit_test_setup_teardown(
            eight_listeners_run_in_registration_order_and_a_ninth_is_enospc, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_write_keeps_the_old_value_and_calls_no_listener,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(write_while_another_connection_holds_the_lock_is_eio, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(reset_restores_defaults_durably_and_announces_only_changes,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(invalid_stored_value_falls_back_to_the_default, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
