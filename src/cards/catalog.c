/* catalog: the cards that exist in the simulated world, inserted or not: the demo cards of the
 * first start and imported identities. Each card has a directory DATA/world/cards/<name>/
 * with its certificates (DER) and keys (PEM, 0600); the catalog itself (names, types, PIN
 * objects, where a card is) persists in world.json (persist.c). The helpers that write a
 * key or turn a certificate into DER and an expiry live here too.
 *
 * Invariants:
 *  1. Names are unique and safe as a directory name (1..64 of [A-Za-z0-9._-], starting with a
 *     letter or digit); ICCSNs are unique.
 *  2. An entry's certificates are in memory as DER from open to close, so lookups never touch
 *     the disk; the files are the persistent copy.
 *  3. The array only grows (a realloc may move it): pointers handed out are borrowed "until
 *     the next change", as cards.h says. */
#include "cards/cards_internal.h"

#include "base/base.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

static const char *const type_names[CARDS_TYPE_MAX] = {
    [CARDS_TYPE_EGK] = "EGK",         [CARDS_TYPE_HBA_QSIG] = "HBA-qSig",
    [CARDS_TYPE_HBA] = "HBA",         [CARDS_TYPE_SMC_B] = "SMC-B",
    [CARDS_TYPE_HSM_B] = "HSM-B",     [CARDS_TYPE_SMC_KT] = "SMC-KT",
    [CARDS_TYPE_KVK] = "KVK",         [CARDS_TYPE_ZOD_2_0] = "ZOD_2.0",
    [CARDS_TYPE_UNKNOWN] = "UNKNOWN", [CARDS_TYPE_HBA_X] = "HBAx",
    [CARDS_TYPE_SM_B] = "SM-B",
};

const char *cards_type_to_string(enum cards_type t)
{
    return t < CARDS_TYPE_MAX ? type_names[t] : "UNKNOWN";
}

int cards_type_from_string(const char *s, enum cards_type *ret)
{
    for (size_t i = 0; s && i < CARDS_TYPE_MAX; i++) {
        if (strcmp(s, type_names[i]) == 0) {
            *ret = (enum cards_type)i;
            return 0;
        }
    }
    return -EINVAL;
}

bool cards__name_is_valid(const char *name)
{
    size_t len = name ? strlen(name) : 0;

    if (len == 0 || len > CARDS_NAME_MAX || !isalnum((unsigned char)name[0]))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)name[i]) && !strchr("._-", name[i]))
            return false;
    return true;
}

void cards__entry_done(struct cards__entry *e)
{
    for (size_t i = 0; i < e->n_certs; i++) {
        free(e->certs[i].der);
        e->certs[i].der = NULL;
    }
    e->n_certs = 0;
}

int cards__catalog_add(struct cards *c, struct cards__entry *e)
{
    if (c->n_cat == c->cap_cat) {
        size_t cap = c->cap_cat ? 2 * c->cap_cat : 8;
        struct cards__entry *cat = realloc(c->cat, cap * sizeof(*cat));

        if (!cat)
            return -ENOMEM;
        c->cat = cat;
        c->cap_cat = cap;
    }
    c->cat[c->n_cat++] = *e;
    /* The buffers moved into the catalog. */
    for (size_t i = 0; i < e->n_certs; i++)
        e->certs[i].der = NULL;
    e->n_certs = 0;
    return 0;
}

/* Like strchr, it takes a const catalog and returns a mutable entry. */
struct cards__entry *cards__catalog_find(const struct cards *c, const char *name)
{
    for (size_t i = 0; name && i < c->n_cat; i++)
        if (strcmp(c->cat[i].card.name, name) == 0)
            return &c->cat[i];
    return NULL;
}

bool cards__iccsn_is_used(const struct cards *c, const char *iccsn)
{
    for (size_t i = 0; i < c->n_cat; i++)
        if (strcmp(c->cat[i].card.iccsn, iccsn) == 0)
            return true;
    return false;
}

int cards__card_dir(const struct cards *c, const char *name, bool mkdir, char **ret_dir)
{
    char *dir;
    int r;

    if (!cards__name_is_valid(name))
        return -EINVAL;
    dir = fs_path_join(c->cards_dir, name);
    if (!dir)
        return -ENOMEM;
    if (mkdir) {
        r = fs_mkdir_p(dir, 0700);
        if (r < 0) {
            free(dir);
            return r;
        }
    }
    *ret_dir = dir;
    return 0;
}

void cards__cert_file(const struct cards__cert *cert, bool key, char *buf, size_t size)
{
    (void)snprintf(buf, size, "%s_%s%s", cert->key_ref, cards__alg_to_string(cert->alg),
                   key ? ".key.pem" : ".der");
}

int cards__catalog_load_certs(struct cards *c, struct cards__entry *e)
{
    char *dir = NULL;
    int r;

    r = cards__card_dir(c, e->card.name, false, &dir);
    for (size_t i = 0; r == 0 && i < e->n_certs; i++) {
        struct cards__cert *cert = &e->certs[i];
        char name[64];
        char *path;
        char *data = NULL;
        size_t len = 0;

        cards__cert_file(cert, false, name, sizeof(name));
        path = fs_path_join(dir, name);
        r = path ? fs_read_all(path, CARDS__FILE_MAX, &data, &len) : -ENOMEM;
        free(path);
        if (r < 0)
            break;
        cert->der = (uint8_t *)data;
        cert->der_len = len;
    }
    free(dir);
    return r;
}

int cards__catalog_create_demo(struct cards *c)
{
    int r = 0;

    for (size_t i = 0; r == 0 && i < cards__demo_count(); i++) {
        const struct cards__demo *d = cards__demo_at(i);
        struct cards__entry e = {0};
        char *dir = NULL;

        if (cards__catalog_find(c, d->name) || cards__iccsn_is_used(c, d->iccsn))
            continue;
        r = cards__card_dir(c, d->name, true, &dir);
        if (r == 0)
            r = cards__profile_issue_demo(c->pki, d, dir, &e);
        if (r == 0)
            r = cards__catalog_add(c, &e);
        cards__entry_done(&e);
        free(dir);
    }
    if (r < 0)
        return log_errno(LOG_LEVEL_ERROR, r, "cards: cannot create the demo cards");
    log_msg(LOG_LEVEL_INFO, "cards: created the demo cards (eGK egk1, HBA hba1, SMC-B smcb1)");
    return 0;
}

/* ---- card files ------------------------------------------------------------------------- */

int cards__key_write(const char *path, EVP_PKEY *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    long len;
    int r = -ENOMEM;

    if (!bio || !PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL))
        goto out;
    len = BIO_get_mem_data(bio, &data);
    r = fs_write_atomic(path, data, (size_t)len, 0600);
out:
    BIO_free(bio);
    return r;
}

int cards__cert_der(X509 *cert, uint8_t **ret_der, size_t *ret_len)
{
    int len = i2d_X509(cert, NULL);
    unsigned char *der;
    unsigned char *p;

    if (len <= 0)
        return -EINVAL;
    der = malloc((size_t)len);
    if (!der)
        return -ENOMEM;
    p = der;
    (void)i2d_X509(cert, &p);
    *ret_der = der;
    *ret_len = (size_t)len;
    return 0;
}

int cards__cert_not_after_ms(const X509 *cert, int64_t *ret_ms)
{
    struct tm tm;

    if (!ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm))
        return -EBADMSG;
    *ret_ms = (int64_t)timegm(&tm) * 1000;
    return 0;
}

/* ---- lookups (cards.h) ------------------------------------------------------------------ */

size_t cards_catalog_count(const struct cards *c)
{
    return c->n_cat;
}

const struct cards_card *cards_catalog_at(const struct cards *c, size_t i)
{
    return i < c->n_cat ? &c->cat[i].card : NULL;
}

const struct cards_card *cards_card_find(const struct cards *c, const char *name)
{
    const struct cards__entry *e = cards__catalog_find(c, name);

    return e ? &e->card : NULL;
}

struct cards_card *cards_card_by_handle_mut(struct cards *c, const char *handle)
{
    for (size_t i = 0; handle && handle[0] && i < c->n_cat; i++)
        if (c->cat[i].card.ct_id[0] && strcmp(c->cat[i].card.handle, handle) == 0)
            return &c->cat[i].card;
    return NULL;
}

const struct cards_card *cards_card_by_handle(const struct cards *c, const char *handle)
{
    return cards_card_by_handle_mut((struct cards *)c, handle);
}

const struct cards_card *cards_card_in_slot(const struct cards *c, const char *ct_id, unsigned slot)
{
    for (size_t i = 0; ct_id && i < c->n_cat; i++)
        if (c->cat[i].card.ct_id[0] && strcmp(c->cat[i].card.ct_id, ct_id) == 0 &&
            c->cat[i].card.slot == slot)
            return &c->cat[i].card;
    return NULL;
}

int cards_card_certificate(const struct cards *c, const char *card_name, const char *key_ref,
                           const char *algorithm, const uint8_t **ret_der, size_t *ret_len)
{
    const struct cards__entry *e = cards__catalog_find(c, card_name);
    enum cards__alg alg;

    if (!e || !key_ref || cards__alg_from_string(algorithm, &alg) < 0)
        return -ENOENT;
    for (size_t i = 0; i < e->n_certs; i++) {
        if (e->certs[i].alg == alg && strcmp(e->certs[i].key_ref, key_ref) == 0) {
            *ret_der = e->certs[i].der;
            *ret_len = e->certs[i].der_len;
            return 0;
        }
    }
    return -ENOENT;
}

const char *cards_pki_roots_pem(const struct cards *c)
{
    return cards__pki_roots_pem(c->pki);
}

const char *cards_pki_cas_pem(const struct cards *c)
{
    return cards__pki_cas_pem(c->pki);
}
