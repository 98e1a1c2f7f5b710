/* revocation: the simulated OCSP responder. Tests and support engineers set, per certificate,
 * what the responder answers (good, revoked, unknown) through the control API; VerifyCertificate
 * (trust.c) asks it for every certificate of a chain. A certificate is named by its issuer
 * (RFC 4514) and serial (lower-case hex), as OCSP's CertID names it by issuer and serial.
 *
 * DATA/world/revocation.json:
 *   {"format": 1, "entries": [{"issuer": "CN=...,O=...,C=DE", "serial": "1a2b",
 *                              "status": "revoked", "revoked_ms": 1795000000000}]}
 *
 * Invariants:
 *  1. The table holds only answers other than "good": setting "good" removes the entry, so a
 *     certificate the table does not name is good.
 *  2. Every change is written at once (fs_write_atomic); when writing fails the change stays
 *     in memory and a warning says it is lost at restart (as world.json, world.c).
 *  3. A damaged file is set aside as revocation.json.damaged and the table starts empty; the
 *     connector never refuses to start over it. */
#include "cards/cards_internal.h"

#include "base/base.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/x509.h>

#define REVS_FORMAT 1
/* Entries kept at most: a test or a support session sets a handful; this bounds the file. */
#define REVS_MAX 4096
/* Largest revocation.json read back, in bytes (REVS_MAX entries of about 700 bytes). */
#define REVS_FILE_MAX (4 * 1024 * 1024)

struct rev {
    struct cards_cert_id id;
    enum cards_revocation status;
    int64_t revoked_ms;
};

struct cards__revs {
    char *path;
    struct rev *v;
    size_t n, cap;
};

static const char *const status_names[CARDS_REVOCATION_MAX] = {
    [CARDS_REVOCATION_GOOD] = "good",
    [CARDS_REVOCATION_REVOKED] = "revoked",
    [CARDS_REVOCATION_UNKNOWN] = "unknown",
};

const char *cards_revocation_to_string(enum cards_revocation r)
{
    return r < CARDS_REVOCATION_MAX ? status_names[r] : "?";
}

int cards_revocation_from_string(const char *s, enum cards_revocation *ret)
{
    for (size_t i = 0; s && i < CARDS_REVOCATION_MAX; i++) {
        if (strcmp(s, status_names[i]) == 0) {
            *ret = (enum cards_revocation)i;
            return 0;
        }
    }
    return -EINVAL;
}

/* ---- certificate ids -------------------------------------------------------------------- */

int cards_cert_id_of(const uint8_t *der, size_t len, struct cards_cert_id *ret_id)
{
    const unsigned char *p = der;
    X509 *cert = len > 0 && len < CARDS__FILE_MAX ? d2i_X509(NULL, &p, (long)len) : NULL;
    struct cards_cert_id id = {0};
    BIO *bio = NULL;
    BIGNUM *bn = NULL;
    char *hex = NULL;
    int n;
    int r = -EBADMSG;

    if (!cert || p != der + len)
        goto out;
    r = -ENOMEM;
    bio = BIO_new(BIO_s_mem());
    if (!bio)
        goto out;
    /* RFC 4514 order (most specific first), UTF-8 kept as is. */
    if (X509_NAME_print_ex(bio, X509_get_issuer_name(cert), 0,
                           XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0)
        goto out;
    n = BIO_read(bio, id.issuer, CARDS_ISSUER_MAX + 1);
    if (n < 0 || n > CARDS_ISSUER_MAX || BIO_pending(bio) > 0) {
        r = -E2BIG;
        goto out;
    }
    id.issuer[n] = '\0';
    bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
    hex = bn ? BN_bn2hex(bn) : NULL;
    if (!hex)
        goto out;
    for (char *h = hex; *h; h++)
        *h = (char)(*h >= 'A' && *h <= 'F' ? *h - 'A' + 'a' : *h);
    /* BN_bn2hex writes whole bytes ("03ee"), "0" for zero and a "-" for negative serials
     * (seen in the wild): keep the sign, drop leading zeros. */
    {
        char *digits = hex[0] == '-' ? hex + 1 : hex;
        char *first = digits;

        while (first[0] == '0' && first[1])
            first++;
        memmove(digits, first, strlen(first) + 1);
    }
    r = str_copy(id.serial, sizeof(id.serial), hex) < 0 ? -E2BIG : 0;
    if (r == 0)
        *ret_id = id;
out:
    OPENSSL_free(hex);
    BN_free(bn);
    BIO_free(bio);
    X509_free(cert);
    return r;
}

static bool id_is_valid(const struct cards_cert_id *id)
{
    size_t n = strlen(id->serial);

    if (!id->issuer[0] || n == 0)
        return false;
    for (size_t i = id->serial[0] == '-' ? 1 : 0; i < n; i++)
        if (!strchr("0123456789abcdef", id->serial[i]))
            return false;
    return true;
}

static struct rev *find(const struct cards__revs *t, const struct cards_cert_id *id)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->v[i].id.serial, id->serial) == 0 &&
            strcmp(t->v[i].id.issuer, id->issuer) == 0)
            return &t->v[i];
    return NULL;
}

/* ---- file ------------------------------------------------------------------------------- */

static int save(const struct cards__revs *t)
{
    json_t *entries = json_array();
    json_t *root = NULL;
    char *text = NULL;
    int r = -ENOMEM;

    for (size_t i = 0; entries && i < t->n; i++)
        if (json_array_append_new(entries,
                                  json_pack("{s:s,s:s,s:s,s:I}", "issuer", t->v[i].id.issuer,
                                            "serial", t->v[i].id.serial, "status",
                                            cards_revocation_to_string(t->v[i].status),
                                            "revoked_ms", (json_int_t)t->v[i].revoked_ms)) < 0)
            goto out;
    root = entries ? json_pack("{s:i,s:O}", "format", REVS_FORMAT, "entries", entries) : NULL;
    text = root ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    if (text)
        r = fs_write_atomic(t->path, text, strlen(text), 0600);
out:
    free(text);
    json_decref(root);
    json_decref(entries);
    return r;
}

static int append(struct cards__revs *t, const struct rev *e)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 16;
        struct rev *v = realloc(t->v, cap * sizeof(*v));

        if (!v)
            return -ENOMEM;
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n++] = *e;
    return 0;
}

/* -EBADMSG for anything but the documented shape. */
static int parse(struct cards__revs *t, const char *text, size_t len)
{
    json_t *root = json_loadb(text, len, 0, NULL);
    json_t *entries = root ? json_object_get(root, "entries") : NULL;
    const json_t *o;
    size_t i;
    int r = -EBADMSG;

    if (!json_is_integer(json_object_get(root, "format")) ||
        json_integer_value(json_object_get(root, "format")) != REVS_FORMAT ||
        !json_is_array(entries) || json_array_size(entries) > REVS_MAX)
        goto out;
    json_array_foreach(entries, i, o)
    {
        const json_t *ms = json_object_get(o, "revoked_ms");
        const char *issuer = json_string_value(json_object_get(o, "issuer"));
        const char *serial = json_string_value(json_object_get(o, "serial"));
        struct rev e = {0};

        if (!issuer || !serial || !json_is_integer(ms) ||
            str_copy(e.id.issuer, sizeof(e.id.issuer), issuer) < 0 ||
            str_copy(e.id.serial, sizeof(e.id.serial), serial) < 0 || !id_is_valid(&e.id) ||
            cards_revocation_from_string(json_string_value(json_object_get(o, "status")),
                                         &e.status) < 0 ||
            e.status == CARDS_REVOCATION_GOOD || find(t, &e.id))
            goto out;
        e.revoked_ms = json_integer_value(ms);
        if (append(t, &e) < 0) {
            r = -ENOMEM;
            goto out;
        }
    }
    r = 0;
out:
    json_decref(root);
    if (r < 0)
        t->n = 0;
    return r;
}

struct cards__revs *cards__revs_open(const char *world_dir)
{
    struct cards__revs *t = calloc(1, sizeof(*t));
    char *text = NULL;
    size_t len = 0;
    int r;

    if (!t)
        return NULL;
    t->path = fs_path_join(world_dir, "revocation.json");
    if (!t->path)
        return cards__revs_free(t);
    r = fs_read_all(t->path, REVS_FILE_MAX, &text, &len);
    if (r == 0)
        r = parse(t, text, len);
    free(text);
    if (r == -ENOMEM)
        return cards__revs_free(t);
    if (r < 0 && r != -ENOENT) {
        /* Invariant 3. */
        char *aside = NULL;

        if (asprintf(&aside, "%s.damaged", t->path) >= 0 && rename(t->path, aside) == 0)
            log_msg(LOG_LEVEL_WARNING,
                    "cards: '%s' is damaged; set aside as '%s', every certificate is good again",
                    t->path, aside);
        free(aside);
    }
    return t;
}

struct cards__revs *cards__revs_free(struct cards__revs *t)
{
    if (!t)
        return NULL;
    free(t->v);
    free(t->path);
    free(t);
    return NULL;
}

/* ---- cards.h ---------------------------------------------------------------------------- */

int cards_revocation_set(struct cards *c, const struct cards_cert_id *id,
                         enum cards_revocation status)
{
    struct cards__revs *t = cards__revs_get(c);
    struct rev *e;
    int r;

    if (!id || !id_is_valid(id) || status >= CARDS_REVOCATION_MAX)
        return -EINVAL;
    if (!t)
        return -ENOMEM;
    e = find(t, id);
    if (status == CARDS_REVOCATION_GOOD) {
        if (!e)
            return 0;
        memmove(e, e + 1, (size_t)(t->v + t->n - (e + 1)) * sizeof(*e)); /* invariant 1 */
        t->n--;
    } else if (e) {
        if (e->status != status)
            e->revoked_ms = status == CARDS_REVOCATION_REVOKED ? clock_now_ms() : 0;
        e->status = status;
    } else {
        struct rev add = {.id = *id, .status = status};

        if (t->n >= REVS_MAX)
            return -ENOSPC;
        add.revoked_ms = status == CARDS_REVOCATION_REVOKED ? clock_now_ms() : 0;
        r = append(t, &add);
        if (r < 0)
            return r;
    }
    r = save(t);
    if (r < 0) /* invariant 2 */
        (void)log_errno(LOG_LEVEL_WARNING, r,
                        "cards: cannot save the revocation table; the change is lost at restart");
    return 0;
}

enum cards_revocation cards_revocation_get(const struct cards *c, const struct cards_cert_id *id,
                                           int64_t *ret_revoked_ms)
{
    struct cards__revs *t = cards__revs_get((struct cards *)c);
    const struct rev *e = t && id ? find(t, id) : NULL;

    if (ret_revoked_ms)
        *ret_revoked_ms = e ? e->revoked_ms : 0;
    return e ? e->status : CARDS_REVOCATION_GOOD;
}

size_t cards_revocation_count(const struct cards *c)
{
    const struct cards__revs *t = cards__revs_get((struct cards *)c);

    return t ? t->n : 0;
}

int cards_revocation_at(const struct cards *c, size_t i, struct cards_cert_id *ret_id,
                        enum cards_revocation *ret_status, int64_t *ret_revoked_ms)
{
    const struct cards__revs *t = cards__revs_get((struct cards *)c);

    if (!t || i >= t->n)
        return -ENOENT;
    if (ret_id)
        *ret_id = t->v[i].id;
    if (ret_status)
        *ret_status = t->v[i].status;
    if (ret_revoked_ms)
        *ret_revoked_ms = t->v[i].revoked_ms;
    return 0;
}
