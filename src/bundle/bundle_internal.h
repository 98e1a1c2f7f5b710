/* bundle_internal: declarations shared by the files of src/bundle/ and its unit tests and
 * fuzz target. Not for other modules: they include bundle.h.
 *
 *  - manifest.c: JSON of manifests and firmware-group documents, payload paths.
 *  - sign.c: CMS signing and verification, the trust store, signers.
 *  - reader.c: the one-pass archive reader behind verify and extract.
 *  - writer.c: bundle_create.
 *  - pki.c: certificates of the test vendor PKI. */
#ifndef KONN_BUNDLE_INTERNAL_H
#define KONN_BUNDLE_INTERNAL_H

#include <stdarg.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "base/base.h"
#include "bundle/bundle.h"

/* Pieces payloads are read, hashed and written in, in bytes. */
#define BUNDLE__CHUNK (64 * 1024)

/* Fills r as failed: code, check, and "<check>: <message>". Returns 0 (the verdict is not an
 * error of the function), so callers can "return bundle__fail(...)". */
int bundle__fail(struct bundle_result *r, int code, enum bundle_check check, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Reports a passed (or skipped) check to the caller's callback. */
void bundle__pass(const struct bundle_verify_opts *opts, enum bundle_check check, bool skipped,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* snprintf into err when err_size > 0. */
void bundle__err(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Checks a detached CMS signature (DER) over data: form, signature, chain to opts->trust at
 * opts->now_s, key usage; reports the passed checks through opts->on_check. Returns 0 with r
 * filled (code 0 or 4183), or -ENOMEM. */
int bundle__cms_verify(const void *data, size_t len, const void *p7s, size_t p7s_len,
                       const struct bundle_verify_opts *opts, struct bundle_result *r);

/* Signs data: DER of a detached CMS SignedData, SHA-256, the signer's certificate and chain
 * included. Returns 0, -EIO, -ENOMEM. */
int bundle__cms_sign(const void *data, size_t len, const struct bundle_signer *s, uint8_t **ret_der,
                     size_t *ret_len);

/* Checks a manifest's product identity and firmware group against opts; reports passed and
 * skipped checks. Returns 0 with r filled. */
int bundle__manifest_check_target(const struct bundle_manifest *m,
                                  const struct bundle_verify_opts *opts, struct bundle_result *r);

/* Parses the lower-case hex of 32 bytes. Returns 0 or -EINVAL. */
int bundle__sha256_from_hex(const char *hex, uint8_t out[32]);

/* The one-pass reader (reader.c). Exactly one of fd >= 0 and (data, size) is the input.
 * dest_dir NULL: verify only. skip_signature is for the fuzz target only: it reaches the
 * manifest and payload checks with unsigned input. */
struct bundle__input {
    int fd;
    const void *data;
    size_t size;
    bool skip_signature;
};
int bundle__read(const struct bundle__input *in, const struct bundle_verify_opts *opts,
                 const char *dest_dir, struct bundle_manifest **ret_manifest,
                 struct bundle_result *r);

/* A certificate for key: subject "CN=<cn>, O=<org>", random serial, SHA-256 signature by
 * issuer_key (issuer NULL: self-signed). ca: basicConstraints CA:TRUE and keyUsage
 * keyCertSign, cRLSign; else CA:FALSE, digitalSignature and extendedKeyUsage codeSigning.
 * Returns 0, -EIO, -ENOMEM. */
int bundle__cert_make(EVP_PKEY *key, const char *cn, const char *org, bool ca, X509 *issuer,
                      EVP_PKEY *issuer_key, int64_t not_before_s, int64_t not_after_s,
                      X509 **ret_cert);

/* A signer from parts (the tests' way): takes references, does not steal. chain may be NULL. */
int bundle__signer_new(EVP_PKEY *key, X509 *cert, STACK_OF(X509) * chain,
                       struct bundle_signer **ret_signer);

#endif
