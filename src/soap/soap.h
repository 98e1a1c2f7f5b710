/* soap: the LAN interface that practice software talks to (DESIGN.md section 4).
 *
 *   evhttp (HTTP and HTTPS; TLS 1.2+, an RSA-2048 and a brainpoolP256r1 identity on one
 *   context, TCP_NODELAY) -> client authentication per ANCL_* -> size cap (25 MB, 4280) ->
 *   libxml2 parse with safe options (no DTD, no entities, no network) -> SOAP 1.1 envelope ->
 *   dispatch on the body element's namespace and local name -> call context (CCTX) parsed ->
 *   critical-state gate (4002) -> handler -> reply written with xmlTextWriter, or a SOAP fault
 *   carrying GERROR:Error with a trace (TelematikError.xsd).
 *
 * It also serves connector.sds (ServiceDirectory.xsd) from the registered services.
 * soap knows gematik error codes; it does not know cards or subscriptions: services do.
 * Loop-thread only. */
#ifndef KONN_SOAP_H
#define KONN_SOAP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libxml/tree.h>
#include <libxml/xmlwriter.h>

#include "state/state.h"
#include "store/store.h"

struct event_base;
struct evp_pkey_st; /* OpenSSL's EVP_PKEY */
struct worker_pool;

/* Namespaces of the gematik interfaces (api-telematik). */
#define SOAP_NS_ENV "http://schemas.xmlsoap.org/soap/envelope/"
#define SOAP_NS_CONN "http://ws.gematik.de/conn/ConnectorCommon/v5.0"
#define SOAP_NS_CCTX "http://ws.gematik.de/conn/ConnectorContext/v2.0"
#define SOAP_NS_GERROR "http://ws.gematik.de/tel/error/v2.0"
#define SOAP_NS_EVT "http://ws.gematik.de/conn/EventService/v7.2"
#define SOAP_NS_CARD "http://ws.gematik.de/conn/CardService/v8.1"
#define SOAP_NS_CARDCMN "http://ws.gematik.de/conn/CardServiceCommon/v2.0"
#define SOAP_NS_CT "http://ws.gematik.de/conn/CardTerminalInfo/v8.0"
/* connector.sds: api-telematik's ServiceDirectory.xsd is v3.1 (it imports ProductInformation
 * v1.1); the digest's "v3.0" names the older schema. */
#define SOAP_NS_SDS "http://ws.gematik.de/conn/ServiceDirectory/v3.1"
#define SOAP_NS_PI "http://ws.gematik.de/int/version/ProductInformation/v1.1"
#define SOAP_NS_SI "http://ws.gematik.de/conn/ServiceInformation/v2.0"

/* TIP1-A_4500-02: documents up to 25 MB are processed, larger ones are not (4280). */
#define SOAP_BODY_MAX (26214400 + 1024 * 1024)
#define SOAP_DOCUMENT_MAX 26214400

/* ---- gematik errors (TelematikError.xsd, error catalogue of gemILF_PS) ------------------- */

struct soap_error_def {
    int code;
    const char *severity;   /* "Info", "Warning", "Error", "Fatal" */
    const char *error_type; /* "Security", "Technical", "Infrastructure", "Business" */
    const char *text;       /* the catalogue's text, English paraphrase */
};

/* The one table of gematik codes this connector answers with; NULL for an unknown code. */
const struct soap_error_def *soap_error_def(int code);

/* ---- call context (ConnectorContext.xsd, TUC_KON_000 inputs) ---------------------------- */

#define SOAP_CONTEXT_ID_MAX 64

struct soap_context {
    bool present;
    char mandant_id[SOAP_CONTEXT_ID_MAX + 1];
    char client_system_id[SOAP_CONTEXT_ID_MAX + 1];
    char workplace_id[SOAP_CONTEXT_ID_MAX + 1];
    char user_id[SOAP_CONTEXT_ID_MAX + 1]; /* "" when absent */
};

/* ---- server, services, operations ------------------------------------------------------- */

struct soap_server;
struct soap_call;

typedef void (*soap_handler_fn)(struct soap_call *call, void *arg);

struct soap_operation {
    const char *ns;     /* namespace of the body element */
    const char *name;   /* its local name, e.g. "GetCards" */
    enum gate_op gate;  /* the TAB_KON_504-01 row; checked before the handler runs */
    bool needs_context; /* CCTX:Context is required (else 4021 before the handler) */
    soap_handler_fn fn;
    void *arg;
};

/* One service as connector.sds lists it (ServiceInformation.xsd). */
struct soap_service {
    const char *name;             /* "EventService" */
    const char *abstract;         /* one line */
    const char *target_namespace; /* "http://ws.gematik.de/conn/EventService/WSDL/v7.2" */
    const char *version;          /* "7.2.0" */
    const char *path;             /* "/ws/EventService" */
    const char *wsdl_path;        /* "/ws/EventService.wsdl" or NULL */
    /* The firmware feature that enables it ("NFDM" for a Fachmodul's service), NULL for a
     * base service, which is always offered (soap_server_register). */
    const char *feature;
};

struct soap_deps {
    struct event_base *base;
    struct store *store;
    struct ec_state *ecs;
    struct evt_bus *bus;
    struct worker_pool *workers;
    const char *data_dir;
    /* Product information for connector.sds (PTV, versions, vendor). */
    const char *product_type_version; /* e.g. "5.0.0" */
    const char *firmware_version;
    /* The running firmware's features (its manifest's "features", issue #6 item 5): a
     * service with a feature is offered only when it is among them. Copied. */
    const char *const *features;
    size_t n_features;
};

/* base, store, ecs and data_dir are required (NULL otherwise); bus (no events) and workers
 * (PBKDF2 of HTTP Basic checks then runs on the loop) may be NULL. */
struct soap_server *soap_server_new(const struct soap_deps *deps);
struct soap_server *soap_server_free(struct soap_server *srv);

/* Registers a service and its operations (all share the service's path). Call before
 * listening; later calls are refused (-EBUSY) so that connector.sds never changes after
 * bootup (TIP1-A_4533). Feature gating: a service whose feature the running firmware does not
 * have is not registered (returns 0, logs it): connector.sds does not list it and its path
 * answers like any unknown path (HTTP 404 with gematik code 4000). */
int soap_server_register(struct soap_server *srv, const struct soap_service *svc,
                         const struct soap_operation *ops, size_t n_ops);

/* Opens the LAN listeners. http and https are "ADDR:PORT" (port 0: any) or NULL for none.
 * The TLS identities (RSA-2048 and brainpoolP256r1) are loaded from DATA/identity/lan-*.pem
 * or generated at first start. The bound URLs are written to ret_http/ret_https (may be
 * NULL) and to DATA/run/lan-http.url and lan-https.url. */
int soap_server_listen(struct soap_server *srv, const char *http, const char *https, char *ret_http,
                       size_t http_size, char *ret_https, size_t https_size);

/* Host that connector.sds advertises: the MGM_LAN_ADVERTISED_HOST setting when set, else the
 * address the request came in on. */

/* ---- client authentication (TIP1-A_4516, TIP1-A_4517) ------------------------------------ */

/* Key types of client certificates the connector issues (TIP1-A_4517: RSA-2048 or ECC-256). */
enum soap_key_type {
    SOAP_KEY_RSA_2048,
    SOAP_KEY_BRAINPOOL_P256, /* brainpoolP256r1, signed with ECDSA-SHA256 */
    SOAP_KEY_TYPE_MAX
};

/* The client certificate list ANCL_CCERT_LIST (TIP1-A_4517, TIP1-A_4518-02): with
 * ANCL_CAUT_MODE=Certificate the HTTPS listener accepts exactly the certificates in it that
 * are valid now: those the connector issued and those an administrator imported. Each has a
 * name (the client system's: 1..64 characters of [A-Za-z0-9._-]) and is kept in
 * DATA/identity/lan-client-certs/NAME.pem. Removing one refuses it from the next handshake on.
 * The calls below load the identities at first use. */
#define SOAP_CLIENT_NAME_MAX 64

struct soap_client_cert_info {
    char name[SOAP_CLIENT_NAME_MAX + 1];
    bool issued;                    /* signed by the connector's LAN client CA; false: imported */
    char subject[256], issuer[256]; /* OpenSSL one-line form */
    char serial[80];                /* hex */
    int64_t not_before_ms, not_after_ms;
    char fingerprint[96]; /* SHA-256, "AB:CD:..." */
};

/* A new key of the given type for soap_client_cert_issue(). Slow for RSA (0.1 to 1 s) and
 * thread-safe: run it on the worker pool. NULL on failure. Free with EVP_PKEY_free(). */
struct evp_pkey_st *soap_client_key_new(enum soap_key_type type);

/* Issues a client certificate for key (from soap_client_key_new(); borrowed) to client system
 * name: CN = name, extendedKeyUsage clientAuth, 5 years, signed by the connector's LAN client
 * CA (DATA/identity/lan-client-ca.pem, generated at first use), puts it on the list and
 * returns it with its key and the CA as PKCS#12 protected by password (AES-256, PBKDF2).
 * password: 1..128 characters. *ret_p12 is the caller's to free(). -EINVAL for a bad
 * argument, -EEXIST if the name is on the list, -ENOSPC if the list is full (1024), -EIO if
 * OpenSSL or the files fail. */
int soap_client_cert_issue(struct soap_server *srv, const char *name, const char *password,
                           struct evp_pkey_st *key, uint8_t **ret_p12, size_t *ret_len);
/* Puts a client system's own certificate (PEM) on the list. -EINVAL bad name, -EBADMSG not a
 * PEM certificate, or a CA certificate, or one whose extendedKeyUsage excludes clientAuth;
 * -EEXIST, -ENOSPC, -EIO as above. */
int soap_client_cert_import(struct soap_server *srv, const char *name, const char *pem, size_t len);
/* Takes a certificate off the list. -ENOENT if there is none of that name. */
int soap_client_cert_remove(struct soap_server *srv, const char *name);
/* The list, sorted by name, in a malloc'd array the caller frees. -ENOMEM, -EIO. */
int soap_client_cert_list(struct soap_server *srv, struct soap_client_cert_info **ret_list,
                          size_t *ret_n);

/* The certificate of a list entry as PEM (malloc'd, the caller frees), for the configuration
 * backup. -ENOENT, -ENOMEM, -EIO. */
int soap_client_cert_pem(struct soap_server *srv, const char *name, char **ret_pem);

/* Factory reset (TIP1-A_4820): empties the client certificate list and the HTTP Basic client
 * users, on disk and, when srv is not NULL, in memory (refused from the next handshake or
 * request on). srv may be NULL when no LAN listener runs: then only the files under data_dir
 * go. The LAN client CA stays (it belongs to the device). -errno of a file that could not be
 * removed (what was removed stays removed). */
int soap_client_credentials_reset(struct soap_server *srv, const char *data_dir);

/* Sets (password non-NULL) or removes (password NULL) a client system's HTTP Basic credentials
 * for ANCL_CAUT_MODE=Password. Kept as "name:PBKDF2 record" lines in
 * DATA/identity/lan-basic-users (mode 0600, written atomically); never in the settings.
 * name: 1..64 characters of [A-Za-z0-9._-]; password: 8..128 characters. Blocks the loop for
 * one PBKDF2 derivation. -EINVAL bad argument, -ENOENT removing an unknown name, -EIO. */
int soap_basic_user_set(struct soap_server *srv, const char *name, const char *password);

/* ---- inside a handler ------------------------------------------------------------------- */

/* The operation element of the request body (borrowed, valid until the call ends). */
xmlNodePtr soap_call_operation(struct soap_call *call);
const struct soap_context *soap_call_context(const struct soap_call *call);
/* Text of the first child element of parent with this namespace and local name; NULL if
 * absent. Borrowed until the call ends. */
const char *soap_child_text(xmlNodePtr parent, const char *ns, const char *name);
xmlNodePtr soap_child(xmlNodePtr parent, const char *ns, const char *name);
/* An attribute's value (no namespace), or NULL. */
const char *soap_attr(xmlNodePtr node, const char *name);
/* The peer's address ("192.0.2.1") and whether the call came over TLS. */
const char *soap_call_peer(const struct soap_call *call);
bool soap_call_is_tls(const struct soap_call *call);

/* Starts the reply: envelope, body and the response element (in ns, with prefix, named
 * name), then CONN:Status with Result OK. The handler writes the rest of the response's
 * children with the returned writer and calls soap_call_reply_end(). NULL on allocation
 * failure (the call has then been answered with a 4001 fault). */
xmlTextWriterPtr soap_call_reply_begin(struct soap_call *call, const char *ns, const char *prefix,
                                       const char *name);
/* The same for a response whose Status element is of another namespace: a Fachmodul's own
 * (DPE:Status of DPEService.xsd, whose Result is "OK" too), written as status_prefix:Status. */
xmlTextWriterPtr soap_call_reply_begin_status(struct soap_call *call, const char *ns,
                                              const char *prefix, const char *name,
                                              const char *status_ns, const char *status_prefix);
void soap_call_reply_end(struct soap_call *call);

/* Answers with a SOAP fault carrying GERROR:Error whose trace ends in code (from the table;
 * 4001 if unknown). detail (printf-style, may be NULL) goes into the trace's Detail: it names
 * the element or handle at fault, never errno text or paths (STYLE.md rule 5). */
void soap_call_fault(struct soap_call *call, int code, const char *detail_fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A handler that answers later (a PIN typed on the pad) keeps the call; if the client goes
 * away first, gone() runs (may be NULL) and the call must then be answered (the answer is
 * dropped) or abandoned with soap_call_abandon(). Abandoning a call whose client still waits
 * answers it with 4001. After soap_server_free() every call still held is gone (gone() runs)
 * and must still be answered or abandoned. */
void soap_call_on_gone(struct soap_call *call, void (*gone)(struct soap_call *call, void *arg),
                       void *arg);
void soap_call_abandon(struct soap_call *call);

/* Writes an xs:dateTime ("2026-11-29T08:51:17Z") of a wall time into buf (32 bytes). */
char *soap_datetime(int64_t wall_ms, char *buf, size_t size);

/* ---- XML and SOAP documents from elsewhere ------------------------------------------------ */

/* Parses an XML document that is no SOAP message (a Fachmodul's payload, e.g. a DPE) with the
 * safe parser and its checks (no DTD, no entities, no processing instructions, no network,
 * UTF-8 only, depth-limited; comments dropped). On 0, *ret_doc is owned by the caller
 * (xmlFreeDoc). -EBADMSG (detail in err), -E2BIG over SOAP_DOCUMENT_MAX, -ENOMEM.
 * Thread-safe. */
int soap_xml_parse(const void *data, size_t len, xmlDocPtr *ret_doc, char *err, size_t err_size);

/* Parses a SOAP 1.1 document that did not come in on the LAN listener (a KSR answer, a KSR
 * request in konctl's test KSR) with the same safe parser and checks (no DTD, no entities, no
 * network, UTF-8 only, depth-limited, one body element). On 0, *ret_doc is owned by the caller
 * (xmlFreeDoc) and *ret_body is its body element. -EBADMSG (detail in err), -E2BIG over
 * SOAP_DOCUMENT_MAX, -ENOMEM. Thread-safe. */
int soap_document_parse(const void *data, size_t len, xmlDocPtr *ret_doc, xmlNodePtr *ret_body,
                        char *err, size_t err_size);

#endif
