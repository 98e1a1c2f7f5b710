/* routes_clients: the credentials of client systems (practice software) for the LAN
 * interface: client certificates issued as PKCS#12 (TIP1-A_4517), and the HTTP Basic users of
 * ANCL_CAUT_MODE=Password (TIP1-A_4516). soap owns the client CA, the keys and the users file;
 * this file checks the request, calls soap, records the change and answers.
 *
 *   GET    /api/v1/client-certs              the client certificate list (ANCL_CCERT_LIST)
 *   POST   /api/v1/client-certs              {"name", "password", "type"}  201, the PKCS#12
 *   PUT    /api/v1/client-certs/NAME         {"pem"}   201: a client system's own certificate
 *   DELETE /api/v1/client-certs/NAME                   200 (404 unknown): refused from now on
 *   PUT    /api/v1/client-basic-users/NAME   {"password"}                  200
 *   DELETE /api/v1/client-basic-users/NAME                                 200 (404 unknown)
 *
 * An issue makes the key on the worker pool (RSA-2048 takes 0.1 to 1 s) and signs on the loop.
 * Setting a Basic user's password derives PBKDF2 inside soap, on the loop (about 50 ms).
 *
 * Invariants:
 *  1. Only Local- and Super-Administrators call these routes (TIP1-A_4810); their gate class
 *     is "everything else" (TAB_KON_504-01).
 *  2. No password is logged, published or answered: an issue answers with the PKCS#12 the
 *     password protects, never with the password.
 *  3. Every change is published as MGM/ADMINCHANGES (TIP1-A_5005): RefID "CLIENTCERT/<name>"
 *     with NewVal "issued (RSA)", "issued (ECC)", "imported" or "removed", RefID
 *     "CLIENTUSER/<name>" with "password set" or "deleted". A request that changes nothing
 *     publishes nothing.
 *  4. Without a LAN interface every route answers 503 and changes nothing.
 *  5. Our copies of the PKCS#12 are wiped before they are freed. */
#include "mgmt/mgmt_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "soap/soap.h"

#define CHANGE (STORE_ROLE_BIT(STORE_ROLE_LOCAL_ADMIN) | STORE_ROLE_BIT(STORE_ROLE_SUPER_ADMIN))

/* Client names: soap's rule (soap.h), also the CN of an issued certificate. */
#define CLIENT_NAME_MAX 64
/* "CLIENTCERT/" or "CLIENTUSER/" and a name. */
#define REF_MAX (16 + CLIENT_NAME_MAX)

static const char name_rule[] = "1 to 64 characters of A-Z a-z 0-9 . _ -";

/* The key types of the API, by soap's enum. */
static const char *const key_type_names[SOAP_KEY_TYPE_MAX] = {
    [SOAP_KEY_RSA_2048] = "rsa",
    [SOAP_KEY_BRAINPOOL_P256] = "ecc",
};

/* The NewVal of an issue (invariant 3). */
static const char *const key_type_changes[SOAP_KEY_TYPE_MAX] = {
    [SOAP_KEY_RSA_2048] = "issued (RSA)",
    [SOAP_KEY_BRAINPOOL_P256] = "issued (ECC)",
};

static int key_type_from_string(const char *s, enum soap_key_type *ret_type)
{
    for (size_t i = 0; i < SOAP_KEY_TYPE_MAX; i++) {
        if (strcmp(s, key_type_names[i]) == 0) {
            *ret_type = (enum soap_key_type)i;
            return 0;
        }
    }
    return -EINVAL;
}

/* The LAN server, or NULL after answering 503 (invariant 4). */
static struct soap_server *lan(struct mgmt_request *req)
{
    const struct mgmt_deps *d = mgmt_request_deps(req);

    if (d->soap && *d->soap)
        return *d->soap;
    mgmt_reply_error(req, 503, "unavailable",
                     "the LAN interface is not enabled (konnektord --lan-http or --lan-https)");
    return NULL;
}

static bool name_ok(struct mgmt_request *req, const char *name)
{
    size_t n = name ? strlen(name) : 0;

    if (n >= 1 && n <= CLIENT_NAME_MAX &&
        strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n)
        return true;
    mgmt_reply_error(req, 400, "invalid_value", "a client name has %s, got '%.64s'", name_rule,
                     name ? name : "");
    return false;
}

static bool password_ok(struct mgmt_request *req, const char *password)
{
    char msg[128];

    if (mgmt_password_check_rules(password, msg, sizeof(msg)) < 0) {
        mgmt_reply_error(req, 400, "invalid_value", "%s", msg);
        return false;
    }
    return true;
}

/* "type" is optional and defaults to "rsa". Replies 400 and returns false if it is bad. */
static bool key_type_ok(struct mgmt_request *req, enum soap_key_type *ret_type)
{
    json_t *v = json_object_get(mgmt_request_body(req), "type");

    if (!v) {
        *ret_type = SOAP_KEY_RSA_2048;
        return true;
    }
    if (!json_is_string(v)) {
        mgmt_reply_error(req, 400, "bad_request", "the member 'type' must be a string");
        return false;
    }
    if (key_type_from_string(json_string_value(v), ret_type) < 0) {
        mgmt_reply_error(req, 400, "invalid_value",
                         "type must be rsa (RSA-2048) or ecc (brainpoolP256r1), got '%.16s'",
                         json_string_value(v));
        return false;
    }
    return true;
}

static void admin_change(struct mgmt_request *req, const char *kind, const char *name,
                         const char *new_value)
{
    char ref[REF_MAX];

    (void)snprintf(ref, sizeof(ref), "%s/%s", kind, name);
    mgmt__admin_change(mgmt_request_deps(req), mgmt_request_user(req), ref, new_value);
}

/* Standard base64 with padding, no line breaks, in a heap string; NULL when out of memory. */
static char *base64_encode(const uint8_t *data, size_t len, size_t *ret_size)
{
    size_t size = (len + 2) / 3 * 4 + 1;
    char *out;

    if (len > (size_t)INT_MAX / 4 * 3)
        return NULL;
    out = malloc(size);
    if (out)
        (void)EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    *ret_size = size;
    return out;
}

/* The key is made on the worker pool; the rest (signing, the list, PKCS#12) on the loop. */
struct issue_job {
    enum soap_key_type type;
    EVP_PKEY *key; /* NULL until work() made it, or when it failed */
    char name[CLIENT_NAME_MAX + 1];
    char *password; /* wiped before it is freed */
};

static void issue_job_free(struct issue_job *job)
{
    if (job->password) {
        explicit_bzero(job->password, strlen(job->password));
        free(job->password);
    }
    EVP_PKEY_free(job->key);
    free(job);
}

static void issue_work(void *arg)
{
    struct issue_job *job = arg;

    job->key = soap_client_key_new(job->type);
}

static void issue_done(struct mgmt_request *req, void *arg)
{
    struct issue_job *job = arg;
    struct soap_server *soap = NULL;
    uint8_t *p12 = NULL;
    size_t len = 0, b64_size = 0;
    char *b64 = NULL;
    json_t *body = NULL;
    int r = job->key ? 0 : -EIO;

    /* The LAN server lives as long as the daemon; checked again all the same. */
    if (!(soap = lan(req)))
        goto out;
    if (r == 0)
        r = soap_client_cert_issue(soap, job->name, job->password, job->key, &p12, &len);
    if (r == -EEXIST) {
        mgmt_reply_error(req, 409, "conflict",
                         "there is a client certificate '%s' already; remove it first", job->name);
        goto out;
    }
    if (r == -ENOSPC) {
        mgmt_reply_error(req, 409, "conflict", "the client certificate list is full (1024)");
        goto out;
    }
    if (r < 0) {
        log_errno(LOG_LEVEL_ERROR, r, "mgmt: no client certificate for '%s'", job->name);
        mgmt_reply_error(req, 500, "internal", "the client certificate could not be issued");
        goto out;
    }
    b64 = base64_encode(p12, len, &b64_size);
    if (b64)
        body = json_pack("{s:s,s:s,s:s}", "name", job->name, "type", key_type_names[job->type],
                         "p12_base64", b64);
    /* The certificate is listed: say so even if the answer cannot be built. */
    admin_change(req, "CLIENTCERT", job->name, key_type_changes[job->type]);
    if (!body) {
        mgmt_reply_error(req, 503, "busy",
                         "out of memory; the certificate was listed: remove it and try again");
        goto out;
    }
    mgmt_reply_json(req, 201, body);
out:
    if (b64)
        explicit_bzero(b64, b64_size);
    free(b64);
    if (p12)
        explicit_bzero(p12, len);
    free(p12);
    issue_job_free(job);
}

static void post_client_cert(struct mgmt_request *req, void *arg)
{
    const char *name = NULL, *password = NULL;
    enum soap_key_type type = SOAP_KEY_RSA_2048;
    struct issue_job *job;

    /* Each check replies and frees req when it fails: nothing of req is read after one. */
    if (!lan(req) || !(name = mgmt_body_string(req, "name")) ||
        !(password = mgmt_body_string(req, "password")) || !key_type_ok(req, &type) ||
        !name_ok(req, name) || !password_ok(req, password))
        return;
    job = calloc(1, sizeof(*job));
    if (job)
        job->password = strdup(password);
    if (!job || !job->password) {
        free(job);
        mgmt_reply_error(req, 503, "busy", "out of memory, try again");
        return;
    }
    job->type = type;
    (void)str_copy(job->name, sizeof(job->name), name);
    if (mgmt_request_offload(req, issue_work, issue_done, job) < 0)
        issue_job_free(job);
}

static json_t *cert_info_json(const struct soap_client_cert_info *c)
{
    char nb[32], na[32];

    return json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "name", c->name, "origin",
        c->issued ? "issued" : "imported", "subject", c->subject, "issuer", c->issuer, "serial",
        c->serial, "not_before", clock_format_iso(c->not_before_ms, nb, sizeof(nb)), "not_after",
        clock_format_iso(c->not_after_ms, na, sizeof(na)), "fingerprint_sha256", c->fingerprint);
}

static void get_client_certs(struct mgmt_request *req, void *arg)
{
    struct soap_server *soap = NULL;
    struct soap_client_cert_info *list = NULL;
    json_t *certs = NULL;
    size_t n = 0;
    int r;

    if (!(soap = lan(req)))
        return;
    r = soap_client_cert_list(soap, &list, &n);
    if (r < 0) {
        log_errno(LOG_LEVEL_ERROR, r, "mgmt: the client certificate list cannot be read");
        mgmt_reply_error(req, 500, "internal", "the client certificate list cannot be read");
        return;
    }
    certs = json_array();
    for (size_t i = 0; certs && i < n; i++)
        if (json_array_append_new(certs, cert_info_json(&list[i])) < 0)
            certs = (json_decref(certs), NULL);
    free(list);
    if (!certs) {
        mgmt_reply_error(req, 503, "busy", "out of memory, try again");
        return;
    }
    mgmt_reply_json(req, 200, json_pack("{s:o}", "client_certs", certs));
}

static void put_client_cert(struct mgmt_request *req, void *arg)
{
    const char *name = mgmt_request_arg(req, 0);
    struct soap_server *soap = NULL;
    const char *pem = NULL;
    int r;

    if (!(soap = lan(req)) || !name_ok(req, name) || !(pem = mgmt_body_string(req, "pem")))
        return;
    r = soap_client_cert_import(soap, name, pem, strlen(pem));
    switch (r) {
    case 0:
        break;
    case -EBADMSG:
        mgmt_reply_error(req, 400, "invalid_value",
                         "'pem' must hold one PEM certificate of a client system (not a CA, and "
                         "for clientAuth if it restricts its extended key usage)");
        return;
    case -EEXIST:
        mgmt_reply_error(req, 409, "conflict",
                         "there is a client certificate '%s' already; remove it first", name);
        return;
    case -ENOSPC:
        mgmt_reply_error(req, 409, "conflict", "the client certificate list is full (1024)");
        return;
    default:
        log_errno(LOG_LEVEL_ERROR, r, "mgmt: the client certificate '%s' cannot be imported", name);
        mgmt_reply_error(req, 500, "internal", "the client certificate could not be imported");
        return;
    }
    admin_change(req, "CLIENTCERT", name, "imported");
    mgmt_reply_json(req, 201, json_pack("{s:s}", "name", name));
}

static void delete_client_cert(struct mgmt_request *req, void *arg)
{
    const char *name = mgmt_request_arg(req, 0);
    struct soap_server *soap = NULL;
    int r;

    if (!(soap = lan(req)) || !name_ok(req, name))
        return;
    r = soap_client_cert_remove(soap, name);
    if (r == -ENOENT) {
        mgmt_reply_error(req, 404, "not_found", "there is no client certificate '%s'", name);
        return;
    }
    if (r < 0) {
        mgmt_reply_error(req, 500, "internal", "the client certificate could not be removed");
        return;
    }
    admin_change(req, "CLIENTCERT", name, "removed");
    mgmt_reply_json(req, 200, json_pack("{s:s}", "deleted", name));
}

static void put_client_user(struct mgmt_request *req, void *arg)
{
    const char *name = mgmt_request_arg(req, 0);
    struct soap_server *soap = NULL;
    const char *password = NULL;
    int r;

    /* Each check replies and frees req when it fails: nothing of req is read after one. */
    if (!(soap = lan(req)) || !name_ok(req, name) ||
        !(password = mgmt_body_string(req, "password")) || !password_ok(req, password))
        return;
    r = soap_basic_user_set(soap, name, password);
    switch (r) {
    case 0:
        break;
    case -ENOSPC:
        mgmt_reply_error(req, 409, "conflict",
                         "the connector holds no more client users; delete one first");
        return;
    default:
        log_errno(LOG_LEVEL_ERROR, r, "mgmt: the client user '%s' cannot be saved", name);
        mgmt_reply_error(req, 500, "internal", "the client user could not be saved");
        return;
    }
    admin_change(req, "CLIENTUSER", name, "password set");
    mgmt_reply_json(req, 200, json_pack("{s:s}", "name", name));
}

static void delete_client_user(struct mgmt_request *req, void *arg)
{
    const char *name = mgmt_request_arg(req, 0);
    struct soap_server *soap = NULL;
    int r;

    if (!(soap = lan(req)) || !name_ok(req, name))
        return;
    r = soap_basic_user_set(soap, name, NULL);
    switch (r) {
    case 0:
        break;
    case -ENOENT:
        mgmt_reply_error(req, 404, "not_found", "there is no client user '%s'", name);
        return;
    default:
        log_errno(LOG_LEVEL_ERROR, r, "mgmt: the client user '%s' cannot be deleted", name);
        mgmt_reply_error(req, 500, "internal", "the client user could not be deleted");
        return;
    }
    admin_change(req, "CLIENTUSER", name, "deleted");
    mgmt_reply_json(req, 200, json_pack("{s:s}", "deleted", name));
}

static const struct mgmt__route_def routes[] = {
    {MGMT_GET, "/api/v1/client-certs", CHANGE, GATE_OP_MGMT_OTHER, get_client_certs},
    {MGMT_POST, "/api/v1/client-certs", CHANGE, GATE_OP_MGMT_OTHER, post_client_cert},
    {MGMT_PUT, "/api/v1/client-certs/*", CHANGE, GATE_OP_MGMT_OTHER, put_client_cert},
    {MGMT_DELETE, "/api/v1/client-certs/*", CHANGE, GATE_OP_MGMT_OTHER, delete_client_cert},
    {MGMT_PUT, "/api/v1/client-basic-users/*", CHANGE, GATE_OP_MGMT_OTHER, put_client_user},
    {MGMT_DELETE, "/api/v1/client-basic-users/*", CHANGE, GATE_OP_MGMT_OTHER, delete_client_user},
};

int mgmt__routes_clients_add(struct mgmt_server *srv)
{
    return mgmt__routes_add(srv, routes, ARRAY_SIZE(routes), (void *)mgmt_server_deps(srv));
}
