/* auth: HTTP Basic credentials of client systems for ANCL_CAUT_MODE=Password (TIP1-A_4516).
 *
 * The file DATA/identity/lan-basic-users holds one "name:record" line per client system, the
 * record being "pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>" (PBKDF2-HMAC-SHA256, 16-byte
 * salt, 32-byte output). It lives beside the LAN identities, not in config.db: the
 * credentials belong to the connector's identity, not to its settings.
 *
 * A check derives the password on the worker pool (it takes tens of milliseconds); a success
 * is remembered for CACHE_MS as an HMAC under a per-process key, so that a client making many
 * calls pays once. Certificate authentication is not here: the TLS handshake does it against
 * the client CA (identity.c, server.c).
 *
 * Invariants:
 *  1. No function logs or returns a password; buffers that held one are wiped.
 *  2. Unknown names cost a full derivation against a record no password matches, so the time
 *     of a refusal does not tell whether the name exists.
 *  3. The file is written whole and atomically (mode 0600) before memory changes: what a check
 *     sees is always what is on disk.
 *  4. The cache remembers only successes and forgets a name when its password changes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "soap/soap_internal.h"

/* Client systems authenticate on every call; this is a compromise between the management
 * API's 600,000 (interactive logins) and a practice system's call rate, paid once per
 * CACHE_MS thanks to the cache. */
#define PBKDF2_ITERATIONS 100000
#define HASH_LEN 32 /* the cache tag: HMAC-SHA256 */
#define RECORD_MAX PW_RECORD_MAX
#define USERS_MAX 1024
#define FILE_MAX (USERS_MAX * (SOAP__USER_NAME_MAX + RECORD_MAX + 2))
/* How long a verified name/password pair is remembered (ms of connector time). */
#define CACHE_MS (5 * 60 * 1000)
#define CACHE_SLOTS 64

struct user {
    char name[SOAP__USER_NAME_MAX + 1];
    char record[RECORD_MAX + 1];
};

struct cache_slot {
    unsigned char tag[HASH_LEN]; /* HMAC(cache_key, name NUL password); all zero when free */
    int64_t until_ms;
};

struct soap__users {
    char *path;
    struct user *v;
    size_t n;
    unsigned char cache_key[32];
    struct cache_slot cache[CACHE_SLOTS];
    size_t cache_next;
};

/* ---- records ---------------------------------------------------------------------------- */

/* Invariant 2: same cost as a real record, never matches (no password derives to zeros). */
static const char *dummy_record(void)
{
    static char record[PW_RECORD_MAX];

    if (!record[0])
        (void)pw_record_dummy(PBKDF2_ITERATIONS, record, sizeof(record));
    return record;
}

static bool name_is_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    return n >= 1 && n <= SOAP__USER_NAME_MAX &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* ---- the file --------------------------------------------------------------------------- */

static struct user *user_find(struct soap__users *users, const char *name)
{
    for (size_t i = 0; i < users->n; i++)
        if (strcmp(users->v[i].name, name) == 0)
            return &users->v[i];
    return NULL;
}

static int parse_line(const char *line, size_t len, struct user *ret)
{
    const char *colon = memchr(line, ':', len);
    size_t nlen = colon ? (size_t)(colon - line) : 0;
    size_t rlen = colon ? len - nlen - 1 : 0;
    struct user u = {0};

    if (!colon || nlen > SOAP__USER_NAME_MAX || rlen == 0 || rlen > RECORD_MAX)
        return -EBADMSG;
    memcpy(u.name, line, nlen);
    memcpy(u.record, colon + 1, rlen);
    if (!name_is_valid(u.name) || strncmp(u.record, "pbkdf2-sha256$", 14) != 0)
        return -EBADMSG;
    *ret = u;
    return 0;
}

int soap__users_load(const char *data_dir, struct soap__users **ret_users)
{
    struct soap__users *users = calloc(1, sizeof(*users));
    char *data = NULL;
    size_t len = 0, lineno = 0;
    int r = -ENOMEM;

    if (!users)
        goto out;
    users->path = fs_path_join(data_dir, "identity/lan-basic-users");
    users->v = calloc(USERS_MAX, sizeof(*users->v));
    if (!users->path || !users->v)
        goto out;
    r = rand_bytes(users->cache_key, sizeof(users->cache_key));
    if (r < 0)
        goto out;
    if (fs_exists(users->path)) {
        r = fs_read_all(users->path, FILE_MAX, &data, &len);
        if (r < 0)
            goto out;
        for (const char *p = data; p < data + len && users->n < USERS_MAX;) {
            const char *eol = memchr(p, '\n', (size_t)(data + len - p));
            size_t l = eol ? (size_t)(eol - p) : (size_t)(data + len - p);

            lineno++;
            if (l > 0 && parse_line(p, l, &users->v[users->n]) == 0)
                users->n++;
            else if (l > 0)
                log_msg(LOG_LEVEL_WARNING, "soap: line %zu of '%s' is damaged, ignoring it", lineno,
                        users->path);
            p += l + 1;
        }
    }
    *ret_users = users;
    users = NULL;
    r = 0;
out:
    free(data);
    soap__users_free(users);
    return r;
}

struct soap__users *soap__users_free(struct soap__users *users)
{
    if (!users)
        return NULL;
    free(users->path);
    if (users->v)
        explicit_bzero(users->v, USERS_MAX * sizeof(*users->v));
    free(users->v);
    explicit_bzero(users, sizeof(*users));
    free(users);
    return NULL;
}

/* Writes the table with u replacing (or added as, or removed as when remove) its name. */
static int users_write(struct soap__users *users, const struct user *u, bool remove)
{
    size_t cap = (users->n + 1) * (SOAP__USER_NAME_MAX + RECORD_MAX + 2) + 1, len = 0;
    char *buf = malloc(cap), *dir = strdup(users->path);
    bool done = false;
    int r = -ENOMEM;

    if (!buf || !dir)
        goto out;
    /* DATA/identity/ may not exist yet: users can be set before the first listen. */
    *strrchr(dir, '/') = '\0';
    r = fs_mkdir_p(dir, 0700);
    if (r < 0)
        goto out;
    for (size_t i = 0; i <= users->n; i++) {
        const struct user *w = i < users->n ? &users->v[i] : NULL;

        if (w && strcmp(w->name, u->name) == 0) {
            done = true;
            if (remove)
                continue;
            w = u;
        } else if (!w) {
            if (done || remove)
                break;
            w = u;
        }
        len += (size_t)snprintf(buf + len, cap - len, "%s:%s\n", w->name, w->record);
    }
    r = fs_write_atomic(users->path, buf, len, 0600);
out:
    if (buf)
        explicit_bzero(buf, cap);
    free(buf);
    free(dir);
    return r;
}

static void cache_forget_all(struct soap__users *users)
{
    /* A tag does not reveal its name; a change forgets every remembered success. */
    memset(users->cache, 0, sizeof(users->cache));
}

int soap__users_set(struct soap__users *users, const char *name, const char *password)
{
    struct user u = {0}, *old;
    size_t plen = password ? strlen(password) : 0;
    int r;

    if (!name_is_valid(name) ||
        (password && (plen < SOAP__PASSWORD_MIN || plen > SOAP__PASSWORD_MAX)))
        return -EINVAL;
    old = user_find(users, name);
    if (!password && !old)
        return -ENOENT;
    if (!old && users->n >= USERS_MAX)
        return -ENOSPC;
    (void)str_copy(u.name, sizeof(u.name), name);
    if (password) {
        r = pw_record_make(password, PBKDF2_ITERATIONS, u.record, sizeof(u.record));
        if (r < 0)
            return r;
    }
    r = users_write(users, &u, !password);
    if (r < 0)
        return r;
    /* Invariant 3: memory follows the file. */
    if (!password) {
        *old = users->v[users->n - 1];
        users->n--;
    } else if (old) {
        *old = u;
    } else {
        users->v[users->n++] = u;
    }
    cache_forget_all(users);
    return 0;
}

/* ---- checks ----------------------------------------------------------------------------- */

int soap__basic_parse(const char *header, char *buf, size_t size, char **ret_password)
{
    const char *b64;
    size_t len;
    int n;
    char *colon;

    if (!header || strncasecmp(header, "Basic ", 6) != 0)
        return -EINVAL;
    b64 = header + 6;
    while (*b64 == ' ')
        b64++;
    len = strlen(b64);
    if (len == 0 || len % 4 != 0 || len / 4 * 3 + 1 > size)
        return -EINVAL;
    n = EVP_DecodeBlock((unsigned char *)buf, (const unsigned char *)b64, (int)len);
    if (n < 0)
        return -EINVAL;
    /* EVP_DecodeBlock counts padding as zero bytes. */
    if (b64[len - 1] == '=')
        n--;
    if (b64[len - 2] == '=')
        n--;
    buf[n] = '\0';
    colon = strlen(buf) == (size_t)n ? strchr(buf, ':') : NULL;
    if (!colon)
        return -EINVAL;
    *colon = '\0';
    *ret_password = colon + 1;
    return 0;
}

/* Invariant 4: the tag covers the record it was verified against, so a success remembered
 * for an old password never matches once the record changed. */
static void cache_tag(const struct soap__users *users, const char *name, const char *password,
                      const char *record, uint8_t tag[SOAP__AUTH_TAG_LEN])
{
    char buf[SOAP__USER_NAME_MAX + 1 + SOAP__PASSWORD_MAX + 1 + RECORD_MAX + 1];
    int len = snprintf(buf, sizeof(buf), "%s%c%s%c%s", name, 0, password, 0, record);
    unsigned int tag_len = SOAP__AUTH_TAG_LEN;

    if (len < 0 || (size_t)len >= sizeof(buf) ||
        !HMAC(EVP_sha256(), users->cache_key, sizeof(users->cache_key), (unsigned char *)buf,
              (size_t)len, tag, &tag_len))
        memset(tag, 0, SOAP__AUTH_TAG_LEN); /* all zero never matches a slot in use */
    explicit_bzero(buf, sizeof(buf));
}

static bool cache_has(const struct soap__users *users, const uint8_t tag[SOAP__AUTH_TAG_LEN])
{
    static const uint8_t zero[SOAP__AUTH_TAG_LEN];
    int64_t now = clock_mono_ms();
    bool hit = false;

    if (mem_equal_ct(tag, zero, sizeof(zero)))
        return false;
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        hit |= users->cache[i].until_ms > now &&
               mem_equal_ct(users->cache[i].tag, tag, SOAP__AUTH_TAG_LEN);
    return hit;
}

void soap__users_remember(struct soap__users *users, const uint8_t tag[SOAP__AUTH_TAG_LEN])
{
    struct cache_slot *slot = &users->cache[users->cache_next++ % CACHE_SLOTS];

    memcpy(slot->tag, tag, SOAP__AUTH_TAG_LEN);
    slot->until_ms = clock_mono_ms() + CACHE_MS;
}

struct job {
    char password[SOAP__PASSWORD_MAX + 1];
    char record[RECORD_MAX + 1];
    bool known;
    bool ok;
    uint8_t tag[SOAP__AUTH_TAG_LEN];
    soap__users_done_fn done;
    void *arg;
};

/* Worker thread: touches nothing but the job. */
static void job_work(void *arg)
{
    struct job *j = arg;

    j->ok = pw_record_verify(j->password, j->record) == 1 && j->known;
}

static void job_done(void *arg)
{
    struct job *j = arg;

    j->done(j->ok, j->tag, j->arg);
    explicit_bzero(j, sizeof(*j));
    free(j);
}

void soap__users_check(struct soap__users *users, struct worker_pool *workers, const char *header,
                       soap__users_done_fn done, void *arg)
{
    static const uint8_t none[SOAP__AUTH_TAG_LEN];
    char buf[SOAP__USER_NAME_MAX + 1 + SOAP__PASSWORD_MAX + 1];
    const struct user *u;
    char *password = NULL;
    struct job *j = NULL;
    uint8_t tag[SOAP__AUTH_TAG_LEN];

    if (soap__basic_parse(header, buf, sizeof(buf), &password) < 0 || !name_is_valid(buf) ||
        strlen(password) > SOAP__PASSWORD_MAX) {
        explicit_bzero(buf, sizeof(buf));
        done(false, none, arg);
        return;
    }
    u = user_find(users, buf);
    cache_tag(users, buf, password, u ? u->record : dummy_record(), tag);
    if (u && cache_has(users, tag)) {
        explicit_bzero(buf, sizeof(buf));
        done(true, tag, arg);
        return;
    }
    j = calloc(1, sizeof(*j));
    if (!j) {
        explicit_bzero(buf, sizeof(buf));
        done(false, none, arg);
        return;
    }
    (void)str_copy(j->password, sizeof(j->password), password);
    (void)str_copy(j->record, sizeof(j->record), u ? u->record : dummy_record());
    explicit_bzero(buf, sizeof(buf));
    j->known = u != NULL;
    memcpy(j->tag, tag, sizeof(tag));
    j->done = done;
    j->arg = arg;
    /* Without a pool (tests) or with a full one, the derivation runs here: slower for this
     * call, but never a refusal that would look like a failed login. */
    if (!workers || worker_pool_submit(workers, job_work, job_done, j) < 0) {
        job_work(j);
        job_done(j);
    }
}
