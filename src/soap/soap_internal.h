/* Declarations shared by the files of src/soap/ and their unit tests only. */
#ifndef KONN_SOAP_INTERNAL_H
#define KONN_SOAP_INTERNAL_H

#include "soap/soap.h"

#include "base/base.h"
#include "events/events.h"

#include <openssl/types.h>
#include <openssl/x509.h>

struct event;
struct evhttp;
struct evhttp_request;
struct sockaddr_storage;

/* SOAP 1.2, refused with a clear text (A_15601: base services speak SOAP 1.1). */
#define SOAP__NS_ENV12 "http://www.w3.org/2003/05/soap-envelope"
/* Elements deeper than this below the document root are refused with 4000. No gematik
 * message nests anywhere near it; libxml2's own cap (256) stays as a second line. */
#define SOAP__DEPTH_MAX 100
/* Room for a fault's Detail text. */
#define SOAP__DETAIL_MAX 512
/* "8-4-4-4-12" plus NUL. */
#define SOAP__UUID_SIZE 37

/* ---- errors.c --------------------------------------------------------------------------- */

/* True for codes that blame the request (faultcode soap:Client): 4000, 4021, 4280, 4281. */
bool soap__error_is_client(int code);
/* The n-th row of the table (tests walk it); NULL past the end. */
const struct soap_error_def *soap__error_at(size_t i);

/* ---- fault.c ---------------------------------------------------------------------------- */

struct soap__fault {
    int code;              /* gematik code; 4001 is used for one not in the table */
    const char *detail;    /* Trace/Detail text or NULL; non-UTF-8 bytes become '?' */
    const char *instance;  /* Trace/Instance: the connector's name; NULL for "" */
    const char *faultcode; /* NULL: soap:Client or soap:Server by code */
};

/* Writes a whole SOAP 1.1 envelope carrying the fault into a new buffer (the caller frees it
 * with xmlBufferFree). ret_event_id (SOAP__UUID_SIZE, may be NULL) receives the trace's
 * EventID, which the caller logs so that the LogReference can be found. -ENOMEM. */
int soap__fault_format(const struct soap__fault *f, xmlBufferPtr *ret_buf, char *ret_event_id);
/* A random (version 4) UUID in lower-case hex; -EIO if the generator fails. */
int soap__uuid(char out[SOAP__UUID_SIZE]);
/* Copies src into dst (size bytes), replacing bytes that are not valid UTF-8 or are control
 * characters other than tab and newline by '?', and cutting at a character boundary. */
void soap__text_sanitize(const char *src, char *dst, size_t size);

/* ---- envelope.c ------------------------------------------------------------------------- */

/* A parsed request: the document and what dispatch needs from it. */
struct soap__request {
    xmlDocPtr doc;
    xmlNodePtr op; /* the one element child of soap:Body */
    const char *ns;
    const char *name;
    struct soap_context context;
};

/* Why a request was refused, for the fault. */
struct soap__refusal {
    int code;
    bool must_understand; /* faultcode soap:MustUnderstand (SOAP 1.1 section 4.2.3) */
    char detail[SOAP__DETAIL_MAX];
};

/* Parses a request safely (no DTD, no entities, no network, UTF-8 only, depth-limited) and
 * checks the SOAP 1.1 envelope and the call context. Comments and processing instructions are
 * dropped and adjacent text nodes merged, so every element has at most one text node between
 * its element children. On 0, *ret_req owns the document (soap__request_done frees it). On
 * -EBADMSG (bad input: 4000 or 4021), -E2BIG (over SOAP_DOCUMENT_MAX: 4280) or -ENOMEM
 * (4001), *reterr says why and *ret_req is untouched. */
int soap__envelope_parse(const void *data, size_t len, struct soap__request *ret_req,
                         struct soap__refusal *reterr);
void soap__request_done(struct soap__request *req);

/* ---- identity.c ------------------------------------------------------------------------- */

struct soap__identity {
    EVP_PKEY *rsa_key;
    X509 *rsa_cert;
    EVP_PKEY *ecc_key; /* brainpoolP256r1 */
    X509 *ecc_cert;
    EVP_PKEY *ca_key; /* the LAN client CA (TIP1-A_4517) */
    X509 *ca_cert;
};

/* Loads DATA/identity/lan-{rsa,ecc}-{key,cert}.pem and lan-client-ca{,-key}.pem, generating
 * what is missing. hostname and extra_ip (may be NULL) go into the server certificates'
 * subjectAltName next to localhost, 127.0.0.1 and ::1. -EBADMSG if a stored pair is damaged
 * (never silently replaced). */
int soap__identity_load(const char *data_dir, const char *hostname, const char *extra_ip,
                        struct soap__identity **ret_id);
struct soap__identity *soap__identity_free(struct soap__identity *id);
/* One server context with both identities (OpenSSL picks by the client's signature
 * algorithms and groups), TLS 1.2 minimum, brainpoolP256r1 among the groups. Client
 * certificates are checked against the list (listen.c sets the callback). NULL on failure. */
SSL_CTX *soap__tls_ctx_new(const struct soap__identity *id);
/* soap_client_cert_issue() without the list: a certificate for a client system's key, signed
 * by the client CA, and the PKCS#12 (malloc'd) of key, certificate and CA. */
int soap__client_p12_make(const struct soap__identity *id, const char *name, const char *password,
                          EVP_PKEY *key, X509 **ret_cert, uint8_t **ret_p12, size_t *ret_len);

/* ---- client_certs.c: the client certificate list (ANCL_CCERT_LIST) ---------------------- */

struct soap__client_certs;

bool soap__client_name_is_valid(const char *s);
/* Reads DATA/identity/lan-client-certs/ (created when missing); ca is the LAN client CA (a
 * reference is taken), used to tell issued certificates from imported ones. */
int soap__client_certs_load(const char *data_dir, X509 *ca, struct soap__client_certs **ret_cc);
struct soap__client_certs *soap__client_certs_free(struct soap__client_certs *cc);
/* Lists cert under name (a reference is taken). -EINVAL, -EEXIST, -ENOSPC, -EBADMSG (a CA
 * certificate or not for clientAuth), -EIO. */
int soap__client_certs_add(struct soap__client_certs *cc, const char *name, X509 *cert);
int soap__client_certs_import_pem(struct soap__client_certs *cc, const char *name, const char *pem,
                                  size_t len);
int soap__client_certs_remove(struct soap__client_certs *cc, const char *name);
/* Removes every entry, files first (factory reset). Stops at the first file that cannot be
 * removed (that entry stays, invariant 2). */
int soap__client_certs_clear(struct soap__client_certs *cc);
/* The certificate of an entry as PEM, malloc'd. -ENOENT, -ENOMEM. */
int soap__client_certs_pem(const struct soap__client_certs *cc, const char *name, char **ret_pem);
/* The CA names a CertificateRequest offers: the LAN client CA and the issuers of imported
 * certificates, so that clients choosing a certificate by them find theirs. NULL: -ENOMEM. */
STACK_OF(X509_NAME) * soap__client_certs_ca_names(const struct soap__client_certs *cc);
/* Is cert on the list and valid now (real time)? */
bool soap__client_certs_accepts(const struct soap__client_certs *cc, X509 *cert);
int soap__client_certs_list(const struct soap__client_certs *cc,
                            struct soap_client_cert_info **ret_list, size_t *ret_n);

/* ---- auth.c: HTTP Basic users of ANCL_CAUT_MODE=Password -------------------------------- */

#define SOAP__USER_NAME_MAX 64
#define SOAP__PASSWORD_MIN 8
#define SOAP__PASSWORD_MAX 128

struct soap__users;

/* Reads DATA/identity/lan-basic-users (absent: no users). Damaged lines are skipped with a
 * warning. */
int soap__users_load(const char *data_dir, struct soap__users **ret_users);
struct soap__users *soap__users_free(struct soap__users *users);
int soap__users_set(struct soap__users *users, const char *name, const char *password);

#define SOAP__AUTH_TAG_LEN 32

/* Checks "Authorization: Basic ..." (header may be NULL). done runs exactly once: at once for
 * a cached success or a malformed header, else after a PBKDF2 derivation on the worker pool
 * (or inline without one). Unknown names cost a derivation too. On success the caller, if it
 * still exists, hands tag to soap__users_remember() so that the next call is cheap. */
typedef void (*soap__users_done_fn)(bool ok, const uint8_t *tag, void *arg);
void soap__users_check(struct soap__users *users, struct worker_pool *workers, const char *header,
                       soap__users_done_fn done, void *arg);
void soap__users_remember(struct soap__users *users, const uint8_t tag[SOAP__AUTH_TAG_LEN]);
/* Decodes "Basic base64(user:password)" into buf; points *ret_password into buf. */
int soap__basic_parse(const char *header, char *buf, size_t size, char **ret_password);

/* ---- sds.c ------------------------------------------------------------------------------ */

struct soap__sds_info {
    const struct soap_service *services;
    size_t n_services;
    bool tls_mandatory;
    bool caut_mandatory;
    const char *host;    /* as it goes into a URL: "192.0.2.1", "[2001:db8::1]", "konnektor" */
    unsigned http_port;  /* 0: no HTTP listener, no Endpoint elements */
    unsigned https_port; /* 0: no HTTPS listener (EndpointTLS is required: then port 443) */
    const char *product_type_version;
    const char *firmware_version;
    int64_t now_ms;
};

/* Writes connector.sds (ServiceDirectory.xsd v3.1) into a new buffer. -ENOMEM. */
int soap__sds_format(const struct soap__sds_info *info, xmlBufferPtr *ret_buf);
/* True for "N.N.N" with 1..3 digits each (ProductInformation.xsd versions). */
bool soap__version_is_valid(const char *s);

/* ---- call.c and server.c: the life of one call ------------------------------------------ */

struct soap_call {
    struct soap_server *srv;       /* NULL once the server is gone */
    struct evhttp_request *evreq;  /* NULL once the client is gone */
    struct soap_call *prev, *next; /* the server's live calls */
    bool tls;
    char peer[64];
    struct soap__request req;
    const struct soap_operation *op;
    xmlBufferPtr reply_buf;
    xmlTextWriterPtr writer;
    void (*gone)(struct soap_call *call, void *arg);
    void *gone_arg;
    struct event *watch; /* the peer's close while the call waits (EV_CLOSED) */
};

/* A new call for evreq, linked into the server's list. NULL on allocation failure (the
 * request has then been answered with 503). */
struct soap_call *soap__call_new(struct soap_server *srv, struct evhttp_request *evreq, bool tls);
/* Watches the call's socket for the client leaving (call.c invariant 5); for a call that
 * waits. Idempotent; without epoll's early close it does nothing. */
void soap__call_watch(struct soap_call *call);
/* Sends body with status (if the client is still there) and frees the call. */
void soap__call_send(struct soap_call *call, int status, const char *content_type, const void *body,
                     size_t len);
/* Answers with a fault under the given HTTP status and frees the call. */
void soap__call_fault_status(struct soap_call *call, int status, int code, const char *faultcode,
                             const char *detail);
/* Frees a call without answering (its client is gone). */
void soap__call_free(struct soap_call *call);
/* Server teardown: every live call loses its server and client; gone callbacks run. */
void soap__calls_orphan(struct soap_call **list);

/* server.c, for call.c */
struct soap_call **soap__server_calls(struct soap_server *srv);
/* The call is being freed: soap__server_on_request() must not watch it. */
void soap__server_forget_call(struct soap_server *srv, const struct soap_call *call);
/* Trace/Instance of faults: the connector's host name (MGM_KONN_HOSTNAME). */
const char *soap__server_instance(struct soap_server *srv);

/* ---- server.c and listen.c: the server object ------------------------------------------- */

struct soap__listener {
    struct soap_server *srv;
    struct evhttp *http;
    bool tls;
    unsigned port;
};

struct soap__ops {
    struct soap_operation *v;
    size_t n;
};

struct soap_server {
    struct soap_deps deps;
    char *data_dir, *ptv, *fw;
    char **features; /* the running firmware's, owned (soap_deps) */
    size_t n_features;
    struct soap_service *services; /* strings owned */
    struct soap__ops *ops;         /* per service; ns and name owned */
    size_t n_services;
    bool listening;
    struct soap__listener plain, secure;
    struct soap__identity *identity;
    struct soap__client_certs *client_certs; /* loaded with the identity */
    SSL_CTX *ssl_ctx;
    struct soap__users *users;
    struct soap_call *calls;
    struct soap_call *in_request; /* the call soap__server_on_request() handles; NULL if freed */
    char instance[SETTING_VALUE_MAX];
};

/* The ANCL_* settings as they are now (read per handshake and per request). */
struct soap__lan_settings {
    bool tls_mandatory, caut_mandatory, caut_password, dvd_open;
};

void soap__settings_read(struct soap_server *srv, struct soap__lan_settings *ret);
/* Logs and publishes MGM/CLIENT_AUTH_FAILED (Security, Warning; Peer, Mode). */
void soap__auth_failed(struct soap_server *srv, const char *peer, const char *mode);
/* The text of an address; an IPv4-mapped IPv6 address is written as IPv4. */
void soap__addr_to_string(const struct sockaddr_storage *ss, char *buf, size_t size);
/* evhttp's callback for both listeners (arg: the soap__listener). */
void soap__server_on_request(struct evhttp_request *evreq, void *arg);

#endif
