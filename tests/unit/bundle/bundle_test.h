/* Helpers of the bundle unit tests: a test vendor PKI made in memory, temporary directories,
 * and archives rewritten entry by entry (to tamper with a good bundle). Header-only; each
 * test file includes it once. */
#ifndef BUNDLE_TEST_H
#define BUNDLE_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>
#include <openssl/pem.h>

#include "base/base.h"
#include "bundle/bundle_internal.h"

#define DAY_S (24 * 3600)

/* A template for bundle_create. */
static const char test_template[] __attribute__((unused)) =
    "{\"product_vendor_id\": \"KONN\", \"product_code\": "
    "\"KONNEKTD\", \"product_name\": \"konnektord\", "
    "\"hw_version\": \"1.0.0\", \"fw_version\": \"3.5.0\", "
    "\"product_type_version\": \"3.5.0\", \"created\": "
    "\"2026-11-29\", \"fw_priority\": \"Normal\", \"deadline\": "
    "null, \"release_notes\": \"PTV3 eHealth\", \"features\": "
    "[\"VSDM\", \"NFDM\", \"AMTS\", \"QES\"]}";

struct test_pki {
    int64_t now;
    EVP_PKEY *root_key, *other_root_key, *signer_key, *other_key, *expired_key;
    X509 *root, *other_root, *signer, *other, *expired;
    struct bundle_signer *good;     /* chains to root */
    struct bundle_signer *foreign;  /* chains to other_root only */
    struct bundle_signer *stale;    /* chains to root, expired yesterday */
    struct bundle_signer *ca_signs; /* the root's own key: a CA, wrong key usage */
    struct bundle_trust *trust;     /* root */
};

static inline void test_pki_make(struct test_pki *p)
{
    int64_t now = clock_now_ms() / 1000;
    BIO *bio;
    char *pem = NULL;
    long len;

    memset(p, 0, sizeof(*p));
    p->now = now;
    p->root_key = EVP_EC_gen("P-256");
    p->other_root_key = EVP_EC_gen("P-256");
    p->signer_key = EVP_EC_gen("P-256");
    p->other_key = EVP_EC_gen("P-256");
    p->expired_key = EVP_EC_gen("P-256");
    assert_int_equal(bundle__cert_make(p->root_key, "root", "T", true, NULL, NULL, now - DAY_S,
                                       now + 30 * DAY_S, &p->root),
                     0);
    assert_int_equal(bundle__cert_make(p->other_root_key, "other root", "T", true, NULL, NULL,
                                       now - DAY_S, now + 30 * DAY_S, &p->other_root),
                     0);
    assert_int_equal(bundle__cert_make(p->signer_key, "signer", "T", false, p->root, p->root_key,
                                       now - DAY_S, now + 30 * DAY_S, &p->signer),
                     0);
    assert_int_equal(bundle__cert_make(p->other_key, "foreign signer", "T", false, p->other_root,
                                       p->other_root_key, now - DAY_S, now + 30 * DAY_S, &p->other),
                     0);
    assert_int_equal(bundle__cert_make(p->expired_key, "expired signer", "T", false, p->root,
                                       p->root_key, now - 30 * DAY_S, now - DAY_S, &p->expired),
                     0);
    assert_int_equal(bundle__signer_new(p->signer_key, p->signer, NULL, &p->good), 0);
    assert_int_equal(bundle__signer_new(p->other_key, p->other, NULL, &p->foreign), 0);
    assert_int_equal(bundle__signer_new(p->expired_key, p->expired, NULL, &p->stale), 0);
    assert_int_equal(bundle__signer_new(p->root_key, p->root, NULL, &p->ca_signs), 0);
    bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_X509(bio, p->root), 1);
    len = BIO_get_mem_data(bio, &pem);
    p->trust = bundle_trust_new();
    assert_int_equal(bundle_trust_add_pem(p->trust, pem, (size_t)len), 0);
    BIO_free(bio);
}

static inline void test_pki_free(struct test_pki *p)
{
    bundle_trust_free(p->trust);
    bundle_signer_free(p->good);
    bundle_signer_free(p->foreign);
    bundle_signer_free(p->stale);
    bundle_signer_free(p->ca_signs);
    X509_free(p->root);
    X509_free(p->other_root);
    X509_free(p->signer);
    X509_free(p->other);
    X509_free(p->expired);
    EVP_PKEY_free(p->root_key);
    EVP_PKEY_free(p->other_root_key);
    EVP_PKEY_free(p->signer_key);
    EVP_PKEY_free(p->other_key);
    EVP_PKEY_free(p->expired_key);
}

static inline int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)remove(path);
    return 0;
}

static inline void rm_rf(const char *dir)
{
    (void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes len bytes of data to dir/name, creating directories; mode as given. */
static inline void put_file(const char *dir, const char *name, const void *data, size_t len,
                            unsigned mode)
{
    char *path = fs_path_join(dir, name);
    char *slash;

    assert_non_null(path);
    slash = strrchr(path, '/');
    *slash = '\0';
    assert_int_equal(fs_mkdir_p(path, 0755), 0);
    *slash = '/';
    assert_int_equal(fs_write_atomic(path, data, len, mode), 0);
    free(path);
}

/* ---- archives as entry lists ------------------------------------------------------------- */

#define TEST_ENTRIES_MAX 16

struct test_entry {
    char name[300];
    unsigned type; /* AE_IFREG, AE_IFLNK, ... */
    char link[300];
    uint8_t *data;
    size_t len;
};

struct test_archive {
    struct test_entry e[TEST_ENTRIES_MAX];
    size_t n;
};

static inline void test_archive_load(const char *path, struct test_archive *t)
{
    struct archive *a = archive_read_new();
    struct archive_entry *e;

    memset(t, 0, sizeof(*t));
    assert_int_equal(archive_read_support_format_tar(a), ARCHIVE_OK);
    assert_int_equal(archive_read_open_filename(a, path, 10240), ARCHIVE_OK);
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        struct test_entry *x = &t->e[t->n++];

        assert_true(t->n <= TEST_ENTRIES_MAX);
        (void)snprintf(x->name, sizeof(x->name), "%s", archive_entry_pathname(e));
        x->type = archive_entry_filetype(e);
        x->len = (size_t)archive_entry_size(e);
        x->data = malloc(x->len + 1);
        assert_non_null(x->data);
        assert_int_equal(archive_read_data(a, x->data, x->len + 1), (ssize_t)x->len);
        x->data[x->len] = '\0'; /* the manifest is searched as text */
    }
    archive_read_free(a);
}

static inline void test_archive_save(const char *path, const struct test_archive *t)
{
    struct archive *a = archive_write_new();

    assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
    assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
    for (size_t i = 0; i < t->n; i++) {
        const struct test_entry *x = &t->e[i];
        struct archive_entry *e = archive_entry_new();

        archive_entry_set_pathname(e, x->name);
        archive_entry_set_filetype(e, x->type);
        archive_entry_set_perm(e, 0644);
        if (x->type == AE_IFLNK)
            archive_entry_set_symlink(e, x->link);
        archive_entry_set_size(e, x->type == AE_IFREG ? (la_int64_t)x->len : 0);
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        if (x->type == AE_IFREG && x->len)
            assert_int_equal(archive_write_data(a, x->data, x->len), (la_ssize_t)x->len);
        archive_entry_free(e);
    }
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
}

static inline void test_archive_done(struct test_archive *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->e[i].data);
    t->n = 0;
}

static inline struct test_entry *test_archive_find(struct test_archive *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->e[i].name, name) == 0)
            return &t->e[i];
    fail_msg("no entry '%s'", name);
    return NULL;
}

static inline struct test_entry *test_archive_add(struct test_archive *t, const char *name,
                                                  unsigned type, const char *data)
{
    struct test_entry *x = &t->e[t->n++];

    assert_true(t->n <= TEST_ENTRIES_MAX);
    memset(x, 0, sizeof(*x));
    (void)snprintf(x->name, sizeof(x->name), "%s", name);
    x->type = type;
    x->data = (uint8_t *)strdup(data ? data : "");
    x->len = type == AE_IFREG && data ? strlen(data) : 0;
    return x;
}

/* Replaces the manifest entry's bytes and signs them with s. */
static inline void test_archive_resign(struct test_archive *t, const char *manifest,
                                       const struct bundle_signer *s)
{
    struct test_entry *m = test_archive_find(t, BUNDLE_MANIFEST_NAME);
    struct test_entry *sig = test_archive_find(t, BUNDLE_SIGNATURE_NAME);

    if (manifest) {
        free(m->data);
        m->data = (uint8_t *)strdup(manifest);
        m->len = strlen(manifest);
    }
    free(sig->data);
    sig->data = NULL;
    assert_int_equal(bundle__cms_sign(m->data, m->len, s, &sig->data, &sig->len), 0);
}

#endif
