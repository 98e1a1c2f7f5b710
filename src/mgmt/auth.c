/* auth: checks administrator credentials without blocking the loop.
 *
 * A check is answered at once when the account is locked or the credentials are in the cache;
 * otherwise PBKDF2 runs on the worker pool and the outcome is applied on the loop, re-reading
 * the account then (another check may have changed it meanwhile).
 *
 * Invariants:
 *  1. done() runs exactly once per check.
 *  2. The cache holds HMAC-SHA256(per-boot key, user NUL password), never a password, and an
 *     entry lives at most MGMT_AUTH_CACHE_MS of connector time.
 *  3. An unknown user costs the same key derivation as a known one (no user-name oracle).
 *  4. A locked account is refused before any derivation, even with the right password.
 *  5. Every derivation outcome is published: MGM/LOGIN (Security, Info) on success,
 *     MGM/LOGIN_FAILED (Security, Warning) on failure; never with the password. */
#include "mgmt/mgmt_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define CACHE_SLOTS 32
#define DIGEST_LEN 32

struct cache_entry {
    char user[STORE_USER_NAME_MAX + 1];
    unsigned char digest[DIGEST_LEN];
    int64_t expires_mono_ms;
};

struct mgmt_auth {
    struct store *store;
    struct evt_bus *bus;
    struct worker_pool *workers;
    unsigned char boot_key[32];
    struct cache_entry cache[CACHE_SLOTS];
};

struct job {
    struct mgmt_auth *auth;
    char user[STORE_USER_NAME_MAX + 1];
    char *password;
    char record[STORE_USER_HASH_MAX + 1];
    bool known;
    int verdict; /* from mgmt_password_verify, set on the worker */
    mgmt_auth_done_fn done;
    void *arg;
};

int64_t mgmt__lock_duration_ms(uint32_t failed_logins)
{
    int64_t ms = MGMT_LOCK_BASE_MS;

    if (failed_logins < MGMT_LOCK_AFTER)
        return 0;
    for (uint32_t i = MGMT_LOCK_AFTER; i < failed_logins && ms < MGMT_LOCK_MAX_MS; i++)
        ms *= 2;
    return ms < MGMT_LOCK_MAX_MS ? ms : MGMT_LOCK_MAX_MS;
}

struct mgmt_auth *mgmt__auth_new(struct store *st, struct evt_bus *bus, struct worker_pool *workers)
{
    struct mgmt_auth *a = calloc(1, sizeof(*a));

    if (!a)
        return NULL;
    a->store = st;
    a->bus = bus;
    a->workers = workers;
    if (rand_bytes(a->boot_key, sizeof(a->boot_key)) < 0) {
        free(a);
        return NULL;
    }
    return a;
}

struct mgmt_auth *mgmt__auth_free(struct mgmt_auth *a)
{
    if (a) {
        explicit_bzero(a, sizeof(*a));
        free(a);
    }
    return NULL;
}

static void digest_of(const struct mgmt_auth *a, const char *user, const char *password,
                      unsigned char out[DIGEST_LEN])
{
    unsigned int len = DIGEST_LEN;
    size_t ulen = strlen(user), plen = strlen(password);
    unsigned char *msg = malloc(ulen + 1 + plen);

    if (!msg) {
        memset(out, 0, DIGEST_LEN);
        return;
    }
    memcpy(msg, user, ulen + 1);
    memcpy(msg + ulen + 1, password, plen);
    if (!HMAC(EVP_sha256(), a->boot_key, sizeof(a->boot_key), msg, ulen + 1 + plen, out, &len))
        memset(out, 0, DIGEST_LEN);
    explicit_bzero(msg, ulen + 1 + plen);
    free(msg);
}

static struct cache_entry *cache_find(struct mgmt_auth *a, const char *user)
{
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        if (a->cache[i].user[0] && strcmp(a->cache[i].user, user) == 0)
            return &a->cache[i];
    }
    return NULL;
}

static void cache_put(struct mgmt_auth *a, const char *user, const char *password)
{
    struct cache_entry *e = cache_find(a, user);

    if (!e) {
        /* Reuse the slot that expires first. */
        e = &a->cache[0];
        for (size_t i = 1; i < CACHE_SLOTS; i++) {
            if (a->cache[i].expires_mono_ms < e->expires_mono_ms)
                e = &a->cache[i];
        }
    }
    (void)str_copy(e->user, sizeof(e->user), user);
    digest_of(a, user, password, e->digest);
    e->expires_mono_ms = clock_mono_ms() + MGMT_AUTH_CACHE_MS;
}

void mgmt__auth_forget(struct mgmt_auth *a, const char *user)
{
    struct cache_entry *e = cache_find(a, user);

    if (e)
        memset(e, 0, sizeof(*e));
}

void mgmt__auth_forget_all(struct mgmt_auth *a)
{
    explicit_bzero(a->cache, sizeof(a->cache));
}

static bool cache_hit(struct mgmt_auth *a, const char *user, const char *password)
{
    struct cache_entry *e = cache_find(a, user);
    unsigned char d[DIGEST_LEN];

    if (!e || e->expires_mono_ms <= clock_mono_ms())
        return false;
    digest_of(a, user, password, d);
    return mem_equal_ct(d, e->digest, DIGEST_LEN);
}

static void publish_login(struct mgmt_auth *a, const char *user, bool ok, const char *reason)
{
    struct evt_param params[2] = {{"User", user}, {"Reason", reason}};
    struct evt_event ev = {
        .topic = ok ? "MGM/LOGIN" : "MGM/LOGIN_FAILED",
        .type = EVT_TYPE_SECURITY,
        .severity = ok ? EVT_SEVERITY_INFO : EVT_SEVERITY_WARNING,
        .params = params,
        .n_params = ok ? 1 : 2,
    };

    (void)evt_bus_publish(a->bus, &ev);
}

/* A success ends a run of failures, from the cache as from a derivation. */
static void clear_failures(struct mgmt_auth *a, struct store_user *u)
{
    if (u->failed_logins != 0 || u->locked_until_ms != 0) {
        u->failed_logins = 0;
        u->locked_until_ms = 0;
        (void)store_user_update(a->store, u);
    }
}

static void job_work(void *arg)
{
    struct job *j = arg;

    j->verdict = mgmt_password_verify(j->password, j->record);
}

static void job_free(struct job *j)
{
    if (j->password) {
        explicit_bzero(j->password, strlen(j->password));
        free(j->password);
    }
    free(j);
}

/* Applies a derivation outcome to the account as it is now (invariant: re-read). */
static void job_done(void *arg)
{
    struct job *j = arg;
    struct mgmt_auth *a = j->auth;
    struct store_user u;
    bool known = j->known && store_user_get(a->store, j->user, &u) == 0;
    int64_t now = clock_now_ms();

    if (known && j->verdict == 1 && strcmp(u.pwhash, j->record) == 0) {
        if (u.locked_until_ms > now) {
            j->done(MGMT_AUTH_LOCKED, &u, u.locked_until_ms, j->arg);
            goto out;
        }
        clear_failures(a, &u);
        cache_put(a, j->user, j->password);
        publish_login(a, j->user, true, NULL);
        j->done(MGMT_AUTH_OK, &u, 0, j->arg);
        goto out;
    }
    if (j->verdict < 0)
        log_msg(LOG_LEVEL_ERROR, "mgmt: password record of '%s' is damaged, refusing", j->user);
    if (known) {
        int64_t lock;

        u.failed_logins++;
        lock = mgmt__lock_duration_ms(u.failed_logins);
        if (lock > 0)
            u.locked_until_ms = now + lock;
        (void)store_user_update(a->store, &u);
        if (lock > 0)
            log_msg(LOG_LEVEL_WARNING,
                    "mgmt: account '%s' locked for %lld s after %u failed logins", u.name,
                    (long long)(lock / 1000), u.failed_logins);
    }
    publish_login(a, j->user, false, known ? "wrong password" : "unknown user");
    j->done(MGMT_AUTH_BAD_CREDENTIALS, NULL, 0, j->arg);
out:
    job_free(j);
}

void mgmt__auth_check(struct mgmt_auth *a, const char *user, const char *password,
                      mgmt_auth_done_fn done, void *arg)
{
    struct store_user u;
    struct job *j;
    bool known;

    if (!user || !password || !*user) {
        done(MGMT_AUTH_BAD_CREDENTIALS, NULL, 0, arg);
        return;
    }
    known = store_user_name_is_valid(user) && store_user_get(a->store, user, &u) == 0;
    if (known && u.locked_until_ms > clock_now_ms()) {
        done(MGMT_AUTH_LOCKED, &u, u.locked_until_ms, arg);
        return;
    }
    if (known && cache_hit(a, user, password)) {
        clear_failures(a, &u);
        done(MGMT_AUTH_OK, &u, 0, arg);
        return;
    }
    j = calloc(1, sizeof(*j));
    if (!j || !(j->password = strdup(password))) {
        free(j);
        done(MGMT_AUTH_BUSY, NULL, 0, arg);
        return;
    }
    j->auth = a;
    j->known = known;
    (void)str_copy(j->user, sizeof(j->user), user);
    (void)str_copy(j->record, sizeof(j->record), known ? u.pwhash : mgmt__password_dummy_record());
    j->done = done;
    j->arg = arg;
    if (worker_pool_submit(a->workers, job_work, job_done, j) < 0) {
        job_free(j);
        done(MGMT_AUTH_BUSY, NULL, 0, arg);
    }
}
