/* x509: the key and certificate chores the connector's own identities share (management
 * listener, LAN listeners, LAN client CA): building a certificate from a short spec, reading
 * and writing PEM key pairs, and a pair that is loaded from DATA or generated at first use.
 *
 * The card PKI (src/cards) builds its gematik profiles itself and uses the extension and
 * serial helpers from here. Thread-safe (no state). */
#ifndef KONN_X509_H
#define KONN_X509_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* What a certificate says. Extension values use OpenSSL's configuration syntax
 * ("critical,CA:TRUE,pathlen:0"). */
struct x509_spec {
    const char *cn;            /* subject CN; the subject also carries O=konnektord */
    const char *san;           /* subjectAltName, or NULL */
    const char *constraints;   /* basicConstraints */
    const char *key_usage;     /* keyUsage */
    const char *ext_key_usage; /* extendedKeyUsage, or NULL */
    long days;                 /* valid from an hour ago for this many days */
};

/* Makes a certificate for key per spec with a random positive 127-bit serial, signed with
 * SHA-256 by issuer_key (issuer NULL: self-signed with key). Validity is on the real clock,
 * not the connector's: TLS peers check it against their own. Adds subjectKeyIdentifier, and
 * authorityKeyIdentifier when an issuer is given. -EINVAL for a bad extension value, -EIO if
 * signing fails, -ENOMEM. */
int x509_cert_make(EVP_PKEY *key, const struct x509_spec *spec, X509 *issuer, EVP_PKEY *issuer_key,
                   X509 **ret_cert);

/* Adds one extension in OpenSSL's configuration syntax, with issuer (cert itself when
 * self-signed) as the issuer for keyid references. -EINVAL for a bad value, -ENOMEM. */
int x509_add_ext(X509 *cert, X509 *issuer, int nid, const char *value);
/* A random positive serial of 16 bytes (127 bits of randomness). -EIO, -ENOMEM. */
int x509_set_random_serial(X509 *cert);

/* Writes the private key (key != NULL) or else the certificate as PEM to path, atomically,
 * with mode. -ENOMEM, -EIO, or fs_write_atomic()'s error. */
int x509_pem_to_file(const char *path, unsigned mode, EVP_PKEY *key, X509 *cert);

/* Reads a PEM key and certificate and checks that they belong together. -EBADMSG if either
 * cannot be parsed or they do not match; fs_read_all()'s error (-ENOENT, ...) otherwise. The
 * key file's bytes are wiped after parsing. */
int x509_pair_read(const char *key_path, const char *cert_path, EVP_PKEY **ret_key,
                   X509 **ret_cert);

/* Generates a key and its certificate (for x509_pair_load()). */
typedef int (*x509_make_fn)(void *arg, EVP_PKEY **ret_key, X509 **ret_cert);

/* Loads DIR/key_name and DIR/cert_name, or, when either is missing, generates both with
 * make(arg) and writes the key (mode 0600) before the certificate (0644), so a start that
 * finds a key without its certificate generates both again. A stored pair that cannot be
 * read or does not match is refused (-EBADMSG), never silently replaced. *ret_generated
 * (may be NULL) tells whether the pair is new. */
int x509_pair_load(const char *dir, const char *key_name, const char *cert_name, x509_make_fn make,
                   void *arg, EVP_PKEY **ret_key, X509 **ret_cert, bool *ret_generated);

/* The subjectAltName of a server identity: localhost, hostname, 127.0.0.1, ::1 and, when it
 * is a specific IP address (not a wildcard or loopback), extra_ip (may be NULL). -ENOSPC if
 * it does not fit. */
int x509_server_san(const char *hostname, const char *extra_ip, char *buf, size_t size);

/* "AB:CD:..." SHA-256 fingerprint of cert's DER; size must be at least 96. -EINVAL, -EIO. */
int x509_fingerprint_sha256(X509 *cert, char *buf, size_t size);

#endif
