/* password: the administrators' password records (base's pw_record_*, 600,000 iterations),
 * the password rules and the first administrator account.
 *
 * Invariant: no function here logs or returns a password; only the initial one is shown,
 * once. */
#include "mgmt/mgmt_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* OWASP's 2023 figure for PBKDF2-HMAC-SHA256; the issue asks for at least 600,000. */
#define PBKDF2_ITERATIONS 600000

int mgmt_password_check_rules(const char *password, char *ret_msg, size_t msg_size)
{
    size_t n = password ? strlen(password) : 0;

    if (n < MGMT_PASSWORD_MIN || n > MGMT_PASSWORD_MAX) {
        (void)snprintf(ret_msg, msg_size, "a password must have %d to %d characters, got %zu",
                       MGMT_PASSWORD_MIN, MGMT_PASSWORD_MAX, n);
        return -EINVAL;
    }
    return 0;
}

int mgmt_password_hash(const char *password, char *ret_record, size_t size)
{
    return pw_record_make(password, PBKDF2_ITERATIONS, ret_record, size);
}

int mgmt_password_verify(const char *password, const char *record)
{
    return pw_record_verify(password, record);
}

const char *mgmt__password_dummy_record(void)
{
    static char record[STORE_USER_HASH_MAX + 1];

    /* Same iterations as a real record: checking it costs a full derivation, never matches. */
    if (!record[0])
        (void)pw_record_dummy(PBKDF2_ITERATIONS, record, sizeof(record));
    return record;
}

int mgmt_accounts_init(struct store *st, const char *data_dir)
{
    char password[MGMT__INITIAL_PASSWORD_LEN + 1], record[STORE_USER_HASH_MAX + 1];
    int r;

    if (store_user_count(st) > 0)
        return 0;
    r = mgmt__initial_password_make(password, record);
    if (r == 0)
        r = mgmt__initial_admin_add(st, data_dir, password, record);
    explicit_bzero(password, sizeof(password));
    return r < 0 ? r : 1;
}

int mgmt__initial_password_make(char ret_password[MGMT__INITIAL_PASSWORD_LEN + 1],
                                char ret_record[STORE_USER_HASH_MAX + 1])
{
    int r = rand_password(ret_password, MGMT__INITIAL_PASSWORD_LEN);

    if (r == 0)
        r = mgmt_password_hash(ret_password, ret_record, STORE_USER_HASH_MAX + 1);
    return r;
}

int mgmt__initial_admin_add(struct store *st, const char *data_dir, const char *password,
                            const char *record)
{
    struct store_user u = {0};
    char line[MGMT__INITIAL_PASSWORD_LEN + 2];
    char *path = NULL;
    int r;

    (void)str_copy(u.name, sizeof(u.name), MGMT_INITIAL_ADMIN);
    u.role = STORE_ROLE_SUPER_ADMIN;
    u.created_ms = clock_now_ms();
    r = str_copy(u.pwhash, sizeof(u.pwhash), record);
    if (r < 0)
        goto out;
    path = fs_path_join(data_dir, "initial-admin-password");
    if (!path) {
        r = -ENOMEM;
        goto out;
    }
    /* The file first: an account whose password nobody was told would lock the admin out. */
    (void)snprintf(line, sizeof(line), "%s\n", password);
    r = fs_write_atomic(path, line, strlen(line), 0600);
    if (r < 0)
        goto out;
    r = store_user_add(st, &u);
    if (r < 0)
        goto out;
    printf("konnektord: created Super-Administrator '%s' with password %s\n"
           "konnektord: the password is also in %s (mode 0600); change it after first login\n",
           MGMT_INITIAL_ADMIN, password, path);
    (void)fflush(stdout);
out:
    explicit_bzero(line, sizeof(line));
    free(path);
    return r;
}
