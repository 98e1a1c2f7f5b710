/* client_certs: the list of client certificates the HTTPS listener accepts when client
 * systems authenticate with certificates (ANCL_CCERT_LIST, TIP1-A_4517, TIP1-A_4518-02).
 *
 * The list holds the certificates the connector issued (signed by its LAN client CA) and the
 * certificates an administrator imported for client systems that bring their own. Each lives
 * in DATA/identity/lan-client-certs/NAME.pem. A handshake is accepted only when the client's
 * certificate is, byte for byte, one of them and valid now: removing an entry revokes it for
 * every later connection (connections already open keep running until they close).
 *
 * Invariants:
 *  1. A name is 1..64 characters of [A-Za-z0-9._-] and names at most one certificate;
 *     adding an existing name is refused (-EEXIST): replacing means removing first.
 *  2. The file is written before the entry is listed and removed before it is unlisted; when
 *     writing or removing fails, the list stays as it was, so memory and disk agree.
 *  3. Only end-entity certificates are listed (no CA:TRUE), each parsed when added; damaged
 *     files are skipped with a warning at load, never deleted. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "soap/soap_internal.h"
#include "x509/x509.h"

#define DIR_NAME "identity/lan-client-certs"
#define ENTRIES_MAX 1024
#define PEM_MAX (64 * 1024)

struct entry {
    char name[SOAP_CLIENT_NAME_MAX + 1];
    X509 *cert;
    unsigned char fp[32]; /* SHA-256 of the DER */
};

struct soap__client_certs {
    char *dir;
    X509 *ca; /* the connector's client CA, to tell issued from imported */
    struct entry *v;
    size_t n;
};

bool soap__client_name_is_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    return n >= 1 && n <= SOAP_CLIENT_NAME_MAX &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

static struct entry *find(struct soap__client_certs *cc, const char *name)
{
    for (size_t i = 0; i < cc->n; i++)
        if (strcmp(cc->v[i].name, name) == 0)
            return &cc->v[i];
    return NULL;
}

static int fingerprint(X509 *cert, unsigned char fp[32])
{
    unsigned int len = 0;

    return X509_digest(cert, EVP_sha256(), fp, &len) && len == 32 ? 0 : -EIO;
}

/* Invariant 3. */
static int check_end_entity(X509 *cert)
{
    if (X509_check_ca(cert) != 0)
        return -EBADMSG;
    if ((X509_get_extension_flags(cert) & EXFLAG_XKUSAGE) &&
        !(X509_get_extended_key_usage(cert) & XKU_SSL_CLIENT))
        return -EBADMSG;
    return 0;
}

static int append(struct soap__client_certs *cc, const char *name, X509 *cert)
{
    struct entry *v;
    int r;

    if (cc->n >= ENTRIES_MAX)
        return -ENOSPC;
    v = realloc(cc->v, (cc->n + 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    cc->v = v;
    r = fingerprint(cert, v[cc->n].fp);
    if (r < 0)
        return r;
    (void)str_copy(v[cc->n].name, sizeof(v[cc->n].name), name);
    v[cc->n].cert = cert;
    cc->n++;
    return 0;
}

static X509 *pem_parse(const char *pem, size_t len)
{
    BIO *bio = len <= INT32_MAX ? BIO_new_mem_buf(pem, (int)len) : NULL;
    X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;

    BIO_free(bio);
    return cert;
}

static void load_file(struct soap__client_certs *cc, const char *file)
{
    char name[SOAP_CLIENT_NAME_MAX + 8];
    size_t n = strlen(file);
    char *path = NULL, *data = NULL;
    size_t len = 0;
    X509 *cert = NULL;
    int r;

    if (n < 5 || n - 4 >= sizeof(name) || strcmp(file + n - 4, ".pem") != 0)
        return;
    memcpy(name, file, n - 4);
    name[n - 4] = '\0';
    if (!soap__client_name_is_valid(name) || find(cc, name))
        return;
    path = fs_path_join(cc->dir, file);
    r = path ? fs_read_all(path, PEM_MAX, &data, &len) : -ENOMEM;
    if (r == 0) {
        cert = pem_parse(data, len);
        r = cert ? check_end_entity(cert) : -EBADMSG;
    }
    if (r == 0)
        r = append(cc, name, cert);
    if (r < 0) {
        log_errno(LOG_LEVEL_WARNING, r, "soap: client certificate '%s' skipped", file);
        X509_free(cert);
    }
    free(data);
    free(path);
}

int soap__client_certs_load(const char *data_dir, X509 *ca, struct soap__client_certs **ret_cc)
{
    struct soap__client_certs *cc = calloc(1, sizeof(*cc));
    struct dirent *ent;
    DIR *d;
    int r = -ENOMEM;

    if (!cc)
        return -ENOMEM;
    cc->dir = fs_path_join(data_dir, DIR_NAME);
    if (!cc->dir || !X509_up_ref(ca))
        goto fail;
    cc->ca = ca;
    r = fs_mkdir_p(cc->dir, 0700);
    if (r < 0)
        goto fail;
    d = opendir(cc->dir);
    if (!d) {
        r = -errno;
        goto fail;
    }
    while ((ent = readdir(d)))
        load_file(cc, ent->d_name);
    (void)closedir(d);
    *ret_cc = cc;
    return 0;
fail:
    soap__client_certs_free(cc);
    return r;
}

struct soap__client_certs *soap__client_certs_free(struct soap__client_certs *cc)
{
    if (!cc)
        return NULL;
    for (size_t i = 0; i < cc->n; i++)
        X509_free(cc->v[i].cert);
    free(cc->v);
    X509_free(cc->ca);
    free(cc->dir);
    free(cc);
    return NULL;
}

int soap__client_certs_add(struct soap__client_certs *cc, const char *name, X509 *cert)
{
    char file[SOAP_CLIENT_NAME_MAX + 8];
    char *path;
    int r;

    if (!soap__client_name_is_valid(name))
        return -EINVAL;
    if (find(cc, name))
        return -EEXIST;
    if (cc->n >= ENTRIES_MAX)
        return -ENOSPC;
    r = check_end_entity(cert);
    if (r < 0)
        return r;
    (void)snprintf(file, sizeof(file), "%s.pem", name);
    path = fs_path_join(cc->dir, file);
    if (!path)
        return -ENOMEM;
    r = x509_pem_to_file(path, 0644, NULL, cert); /* invariant 2 */
    if (r == 0 && !X509_up_ref(cert))
        r = -ENOMEM;
    if (r == 0) {
        r = append(cc, name, cert);
        if (r < 0) {
            X509_free(cert);
            (void)unlink(path);
        }
    }
    free(path);
    return r;
}

int soap__client_certs_import_pem(struct soap__client_certs *cc, const char *name, const char *pem,
                                  size_t len)
{
    X509 *cert;
    int r;

    if (!soap__client_name_is_valid(name))
        return -EINVAL;
    cert = pem_parse(pem, len);
    if (!cert)
        return -EBADMSG;
    r = soap__client_certs_add(cc, name, cert);
    X509_free(cert);
    return r;
}

int soap__client_certs_remove(struct soap__client_certs *cc, const char *name)
{
    char file[SOAP_CLIENT_NAME_MAX + 8];
    struct entry *e = soap__client_name_is_valid(name) ? find(cc, name) : NULL;
    char *path;
    int r = 0;

    if (!e)
        return -ENOENT;
    (void)snprintf(file, sizeof(file), "%s.pem", name);
    path = fs_path_join(cc->dir, file);
    if (!path)
        return -ENOMEM;
    if (unlink(path) < 0 && errno != ENOENT) /* invariant 2 */
        r = log_errno(LOG_LEVEL_ERROR, -errno,
                      "soap: client certificate '%s' cannot be removed, it stays listed", name);
    free(path);
    if (r < 0)
        return r;
    X509_free(e->cert);
    *e = cc->v[--cc->n];
    return 0;
}

int soap__client_certs_clear(struct soap__client_certs *cc)
{
    int r = 0;

    /* From the end: remove moves the last entry into the freed place. */
    while (cc->n > 0 && r == 0) {
        char name[SOAP_CLIENT_NAME_MAX + 1];

        (void)str_copy(name, sizeof(name), cc->v[cc->n - 1].name);
        r = soap__client_certs_remove(cc, name);
    }
    return r;
}

int soap__client_certs_pem(const struct soap__client_certs *cc, const char *name, char **ret_pem)
{
    const struct entry *e = NULL;
    BIO *bio = NULL;
    char *data = NULL, *pem = NULL;
    long len;
    int r = -ENOENT;

    for (size_t i = 0; i < cc->n && !e; i++)
        if (strcmp(cc->v[i].name, name) == 0)
            e = &cc->v[i];
    if (!e)
        return r;
    r = -ENOMEM;
    bio = BIO_new(BIO_s_mem());
    if (!bio || !PEM_write_bio_X509(bio, e->cert))
        goto out;
    len = BIO_get_mem_data(bio, &data);
    pem = len > 0 ? strndup(data, (size_t)len) : NULL;
    if (!pem)
        goto out;
    *ret_pem = pem;
    r = 0;
out:
    BIO_free(bio);
    return r;
}

bool soap__client_certs_accepts(const struct soap__client_certs *cc, X509 *cert)
{
    unsigned char fp[32];

    if (!cc || !cert || fingerprint(cert, fp) < 0)
        return false;
    if (X509_cmp_current_time(X509_get0_notBefore(cert)) >= 0 ||
        X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0)
        return false;
    for (size_t i = 0; i < cc->n; i++)
        if (mem_equal_ct(cc->v[i].fp, fp, sizeof(fp)))
            return true;
    return false;
}

static bool names_have(STACK_OF(X509_NAME) * names, const X509_NAME *name)
{
    for (int i = 0; i < sk_X509_NAME_num(names); i++)
        if (X509_NAME_cmp(sk_X509_NAME_value(names, i), name) == 0)
            return true;
    return false;
}

STACK_OF(X509_NAME) * soap__client_certs_ca_names(const struct soap__client_certs *cc)
{
    STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();

    for (size_t i = 0; names && i <= cc->n; i++) {
        const X509_NAME *name =
            i == cc->n ? X509_get_subject_name(cc->ca) : X509_get_issuer_name(cc->v[i].cert);
        X509_NAME *copy;

        if (names_have(names, name))
            continue;
        copy = X509_NAME_dup(name);
        if (!copy || !sk_X509_NAME_push(names, copy)) {
            X509_NAME_free(copy);
            sk_X509_NAME_pop_free(names, X509_NAME_free);
            return NULL;
        }
    }
    return names;
}

static int64_t asn1_time_ms(const ASN1_TIME *t)
{
    struct tm tm;

    if (!t || !ASN1_TIME_to_tm(t, &tm))
        return 0;
    return (int64_t)timegm(&tm) * 1000;
}

static void info_of(const struct soap__client_certs *cc, const struct entry *e,
                    struct soap_client_cert_info *ret)
{
    EVP_PKEY *ca_key = X509_get0_pubkey(cc->ca);
    const ASN1_INTEGER *serial = X509_get0_serialNumber(e->cert);
    BIGNUM *bn = serial ? ASN1_INTEGER_to_BN(serial, NULL) : NULL;
    char *hex = bn ? BN_bn2hex(bn) : NULL;

    memset(ret, 0, sizeof(*ret));
    (void)str_copy(ret->name, sizeof(ret->name), e->name);
    ret->issued = ca_key && X509_check_issued(cc->ca, e->cert) == X509_V_OK &&
                  X509_verify(e->cert, ca_key) == 1;
    (void)X509_NAME_oneline(X509_get_subject_name(e->cert), ret->subject, sizeof(ret->subject));
    (void)X509_NAME_oneline(X509_get_issuer_name(e->cert), ret->issuer, sizeof(ret->issuer));
    (void)str_copy(ret->serial, sizeof(ret->serial), hex ? hex : "");
    ret->not_before_ms = asn1_time_ms(X509_get0_notBefore(e->cert));
    ret->not_after_ms = asn1_time_ms(X509_get0_notAfter(e->cert));
    (void)x509_fingerprint_sha256(e->cert, ret->fingerprint, sizeof(ret->fingerprint));
    OPENSSL_free(hex);
    BN_free(bn);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct soap_client_cert_info *)a)->name,
                  ((const struct soap_client_cert_info *)b)->name);
}

int soap__client_certs_list(const struct soap__client_certs *cc,
                            struct soap_client_cert_info **ret_list, size_t *ret_n)
{
    struct soap_client_cert_info *list = calloc(cc->n ? cc->n : 1, sizeof(*list));

    if (!list)
        return -ENOMEM;
    for (size_t i = 0; i < cc->n; i++)
        info_of(cc, &cc->v[i], &list[i]);
    qsort(list, cc->n, sizeof(*list), by_name);
    *ret_list = list;
    *ret_n = cc->n;
    return 0;
}
