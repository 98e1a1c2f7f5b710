/* routes_clients: the credentials of client systems (practice software) for the LAN
 * interface: client certificates issued as PKCS#12 (TIP1-A_4517), and the HTTP Basic users of
 * ANCL_CAUT_MODE=Password (TIP1-A_4516). soap owns the client CA, the keys and the users file;
 * this file checks the request, calls soap, records the change and answers.
 *
 *   POST   /api/v1/client-certs              {"name", "password", "type"}  201, the PKCS#12
 *   PUT    /api/v1/client-basic-users/NAME   {"password"}                  200
 *   DELETE /api/v1/client-basic-users/NAME                                 200 (404 unknown)
 *
 * soap's calls are loop-only (soap.h), so the key generation and the PBKDF2 derivation run on
 * the loop, inside soap, and stall it for as long (RSA-2048: typically 0.1 to 0.4 s). They
 * cannot be handed to the worker pool from here: a worker must touch nothing but its argument,
 * and soap_client_cert_issue() reads, and at its first use loads, the server's identities.
 *
 * Invariants:
 *  1. Only Local- and Super-Administrators call these routes (TIP1-A_4810); their gate class
 *     is "everything else" (TAB_KON_504-01).
 *  2. No password is logged, published or answered: an issue answers with the PKCS#12 the
 *     password protects, never with the password.
 *  3. Every change is published as MGM/ADMINCHANGES (TIP1-A_5005): RefID "CLIENTCERT/<name>"
 *     with NewVal "issued (RSA)" or "issued (ECC)", RefID "CLIENTUSER/<name>" with "password
 *     set" or "deleted". A request that fails publishes nothing.
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

static void post_client_cert(struct mgmt_request *req, void *arg)
{
    struct soap_server *soap = NULL;
    const char *name = NULL, *password = NULL;
    enum soap_key_type type = SOAP_KEY_RSA_2048;
    uint8_t *p12 = NULL;
    size_t len = 0, b64_size = 0;
    char *b64 = NULL;
    json_t *body = NULL;
    int r;

    /* Each check replies and frees req when it fails: nothing of req is read after one. */
    if (!(soap = lan(req)) || !(name = mgmt_body_string(req, "name")) ||
        !(password = mgmt_body_string(req, "password")) || !key_type_ok(req, &type) ||
        !name_ok(req, name) || !password_ok(req, password))
        return;
    r = soap_client_cert_issue(soap, name, password, type, &p12, &len);
    if (r < 0) {
        log_errno(LOG_LEVEL_ERROR, r, "mgmt: no client certificate for '%s'", name);
        mgmt_reply_error(req, 500, "internal", "the client certificate could not be issued");
        return;
    }
    b64 = base64_encode(p12, len, &b64_size);
    if (b64)
        body = json_pack("{s:s,s:s,s:s}", "name", name, "type", key_type_names[type], "p12_base64",
                         b64);
    if (!body) {
        mgmt_reply_error(req, 503, "busy", "out of memory, try again");
        goto out;
    }
    admin_change(req, "CLIENTCERT", name, key_type_changes[type]);
    mgmt_reply_json(req, 201, body);
out:
    if (b64)
        explicit_bzero(b64, b64_size);
    free(b64);
    if (p12)
        explicit_bzero(p12, len);
    free(p12);
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
    {MGMT_POST, "/api/v1/client-certs", CHANGE, GATE_OP_MGMT_OTHER, post_client_cert},
    {MGMT_PUT, "/api/v1/client-basic-users/*", CHANGE, GATE_OP_MGMT_OTHER, put_client_user},
    {MGMT_DELETE, "/api/v1/client-basic-users/*", CHANGE, GATE_OP_MGMT_OTHER, delete_client_user},
};

int mgmt__routes_clients_add(struct mgmt_server *srv)
{
    return mgmt__routes_add(srv, routes, ARRAY_SIZE(routes), (void *)mgmt_server_deps(srv));
}
