/* bundle: signed update bundles and firmware-group documents (docs/update-bundle.md).
 *
 * A bundle is an uncompressed POSIX tar archive: manifest.json, then manifest.json.p7s (a
 * detached CMS SignedData over the manifest's exact bytes, by a vendor signing key whose
 * certificate chains to a vendor root of the trust space), then the payload files as
 * "payload/<path>". A firmware-group document is a JSON file with a detached CMS signature
 * made the same way ("group.json" and "group.json.p7s").
 *
 * What this module does: verify a bundle in one streaming pass with bounded memory
 * (bundle_verify), extract its payloads into a directory that appears only when everything
 * verified (bundle_extract_payloads), verify firmware-group documents, and, for vendor tooling
 * and tests, create bundles, sign group documents and make a test vendor PKI. It does not
 * know slots, the KSR or the daemon: the updater and konctl build on it.
 *
 * Errors (STYLE.md rule 4): functions return 0 or a negative errno for "could not do the job"
 * (-ENOENT, -ENOMEM, -EIO, ...). A bundle that does not verify is not an error of the
 * function: verify and extract return 0 and fill struct bundle_result with the gematik code
 * (4183 integrity, 4185 firmware group, TUC_KON_280), the failing check and a message.
 *
 * Thread-safe: no global state; each object is used by one thread at a time. Time for
 * certificate validity is passed in (now_s), so the daemon can use its virtual clock. */
#ifndef KONN_BUNDLE_H
#define KONN_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* gematik error codes of TUC_KON_280 a verification can end with. */
#define BUNDLE_CODE_INTEGRITY 4183      /* integrity check of the update files failed */
#define BUNDLE_CODE_FIRMWARE_GROUP 4185 /* FW version outside the valid firmware group */

/* The archive's fixed entries and the payloads' directory in it. */
#define BUNDLE_MANIFEST_NAME "manifest.json"
#define BUNDLE_SIGNATURE_NAME "manifest.json.p7s"
#define BUNDLE_PAYLOAD_DIR "payload/"

/* Limits (bytes, counts) every reader enforces before allocating. */
#define BUNDLE_MANIFEST_MAX (1024 * 1024) /* manifest.json and group documents */
#define BUNDLE_SIGNATURE_MAX (64 * 1024)  /* a .p7s: signer certificate, chain, signature */
#define BUNDLE_PAYLOADS_MAX 999           /* KSR FirmwareStructType: 0..999 Firmwarefiles */
#define BUNDLE_FEATURES_MAX 32
#define BUNDLE_FW_VERSIONS_MAX 999           /* FirmwareGroupInformation: 1..999 FWVersion */
#define BUNDLE_PATH_MAX 255                  /* a payload path, without "payload/" */
#define BUNDLE_PAYLOAD_SIZE_MAX (1ULL << 40) /* 1 TiB: far above any firmware, below overflow */
#define BUNDLE_MESSAGE_MAX 512

/* The checks, in the order a verification makes them. */
enum bundle_check {
    BUNDLE_CHECK_ARCHIVE,        /* a tar whose first entries are manifest and signature */
    BUNDLE_CHECK_SIGNATURE,      /* the CMS signature over the manifest's bytes */
    BUNDLE_CHECK_CHAIN,          /* the signer's certificate chains to a vendor root at now_s */
    BUNDLE_CHECK_KEY_USAGE,      /* the signer's certificate may sign code */
    BUNDLE_CHECK_MANIFEST,       /* every field present, typed, within its limits; safe paths */
    BUNDLE_CHECK_PRODUCT,        /* vendor, product code, hardware version as expected */
    BUNDLE_CHECK_FIRMWARE_GROUP, /* the firmware version is in the firmware group */
    BUNDLE_CHECK_PAYLOADS,       /* each payload once, right size and SHA-256, nothing else */
    BUNDLE_CHECK_MAX
};

/* "archive", "signature", "chain", "key-usage", "manifest", "product", "firmware-group",
 * "payloads"; "unknown" for values out of range. */
const char *bundle_check_to_string(enum bundle_check check);

/* The verdict of a verification. */
struct bundle_result {
    int code;                /* 0 verified, BUNDLE_CODE_INTEGRITY or BUNDLE_CODE_FIRMWARE_GROUP */
    enum bundle_check check; /* the check that failed; BUNDLE_CHECK_MAX when verified */
    /* "payloads: 'core/konnektord': SHA-256 differs ...": printable ASCII only (names from
     * the bundle have other bytes replaced by '?'), safe for terminals, logs and JSON. */
    char message[BUNDLE_MESSAGE_MAX];
};

/* Called once for each check that passed (skipped true: not made, e.g. no firmware group
 * given) with a line of detail ("signed by 'CN=...'", printable ASCII), in the order of enum
 * bundle_check. */
typedef void (*bundle_check_fn)(enum bundle_check check, bool skipped, const char *detail,
                                void *arg);

/* ---- trust: the vendor roots ------------------------------------------------------------ */

struct bundle_trust;

struct bundle_trust *bundle_trust_new(void);
struct bundle_trust *bundle_trust_free(struct bundle_trust *t);
/* Adds every certificate of a PEM text. Each must be a CA certificate (basicConstraints
 * CA:TRUE) and self-signed. -EBADMSG if there is none or one is not a CA root, -ENOMEM. */
int bundle_trust_add_pem(struct bundle_trust *t, const void *pem, size_t len);
/* bundle_trust_add_pem() with a file's content; fs errors (-ENOENT, -EFBIG above 1 MiB). */
int bundle_trust_add_file(struct bundle_trust *t, const char *path);
/* How many roots t holds. */
size_t bundle_trust_count(const struct bundle_trust *t);

/* ---- manifest --------------------------------------------------------------------------- */

struct bundle_payload {
    char *path;    /* relative, "core/konnektord": see docs/update-bundle.md, "Paths" */
    uint64_t size; /* bytes */
    uint8_t sha256[32];
    bool executable; /* extracted with mode 0755, else 0644 */
};

/* A parsed, checked manifest. Read-only for callers; strings are NUL-terminated and their
 * lengths are within the documented limits. Vocabulary of the KSR (Konfigurationsdienst.xsd,
 * ProductInformation.xsd). */
struct bundle_manifest {
    int format;                    /* 1 */
    char product_vendor_id[6];     /* ProductVendorID, 1..5 of [A-Za-z0-9_] */
    char product_code[9];          /* ProductCode, 1..8 of [A-Za-z0-9_] */
    char product_name[65];         /* ProductName, 1..64 printable ASCII */
    char hw_version[12];           /* HWVersion, "1.0.0" */
    char fw_version[12];           /* FWVersion, "3.5.0" */
    char product_type_version[12]; /* PTV, "5.0.0" */
    char created[11];              /* CreationDate, "2026-11-29" */
    bool critical;                 /* FWPriority "Kritisch" (else "Normal") */
    char deadline[11];             /* Deadline "2026-12-31", or "" for none */
    char *release_notes;           /* FirmwareReleaseNotes, 0..2048 bytes of UTF-8 */
    char **features;               /* enabled Fachmodule/features, e.g. "VSDM", "NFDM" */
    size_t n_features;
    struct bundle_payload *payloads;
    size_t n_payloads;
    uint64_t total_size; /* sum of the payload sizes */
};

/* Parses and checks manifest JSON (every field present, typed, within its limits, no unknown
 * field, safe and unique payload paths). Returns 0, -EBADMSG with a message in err (which
 * field, why), -ENOMEM. */
int bundle_manifest_parse(const void *json, size_t len, struct bundle_manifest **ret_manifest,
                          char *err, size_t err_size);
struct bundle_manifest *bundle_manifest_free(struct bundle_manifest *m);
/* Is the feature (e.g. "NFDM") enabled by the manifest? */
bool bundle_manifest_has_feature(const struct bundle_manifest *m, const char *feature);

/* Is path a safe relative payload path: 1..255 bytes, components of [A-Za-z0-9._-] separated
 * by single "/", none "." or "..", no leading or trailing "/"? why (may be NULL) gets the
 * reason when not. */
bool bundle_path_is_safe(const char *path, const char **why);

/* ---- firmware groups -------------------------------------------------------------------- */

/* A parsed, checked firmware-group document (FirmwareGroupInformation). */
struct bundle_fwgroup {
    int format;        /* 1 */
    char group_id[65]; /* FirmwareGroupID, 1..64 printable ASCII */
    char product_vendor_id[6];
    char product_code[9];
    char hw_version[12];
    char group_version[6]; /* FirmwareGroupVersion, 1..5 characters */
    char created[11];
    char *release_notes;     /* FirmwareGroupReleaseNotes, 0..2048 bytes */
    char (*fw_versions)[12]; /* the firmware versions that may be installed */
    size_t n_fw_versions;    /* 1..999 */
};

int bundle_fwgroup_parse(const void *json, size_t len, struct bundle_fwgroup **ret_group, char *err,
                         size_t err_size);
struct bundle_fwgroup *bundle_fwgroup_free(struct bundle_fwgroup *g);
bool bundle_fwgroup_has_version(const struct bundle_fwgroup *g, const char *fw_version);

/* ---- verification ----------------------------------------------------------------------- */

struct bundle_verify_opts {
    const struct bundle_trust *trust; /* the vendor roots; required */
    int64_t now_s;                    /* certificate validity at this time, s since 1970 */
    /* A verified firmware group (bundle_fwgroup_verify), or NULL to skip that check. The
     * updater always gives one; vendor tooling may not have it. */
    const struct bundle_fwgroup *group;
    /* The identity the bundle must be for (the connector's own), or all NULL to skip. */
    const char *product_vendor_id;
    const char *product_code;
    const char *hw_version;
    bundle_check_fn on_check; /* may be NULL */
    void *arg;
};

/* Verifies the bundle at path in one pass, writing nothing anywhere, with memory bounded by
 * the manifest and signature limits (payloads stream through SHA-256 in 64 KiB pieces).
 * Returns 0 with *ret_result filled: code 0 when every check passed, and then *ret_manifest
 * (may be NULL) gets the manifest (the caller frees it). Negative errno when the file could
 * not be opened or memory ran out (*ret_result then holds a message too). */
int bundle_verify(const char *path, const struct bundle_verify_opts *opts,
                  struct bundle_manifest **ret_manifest, struct bundle_result *ret_result);

/* bundle_verify() on an open file, read from its current offset and not closed. On an fd that
 * cannot seek (a pipe) the check for data after the end of the archive is left out. */
int bundle_verify_fd(int fd, const struct bundle_verify_opts *opts,
                     struct bundle_manifest **ret_manifest, struct bundle_result *ret_result);

/* Verifies the bundle exactly as bundle_verify() does, in the same single pass, and extracts
 * its payloads into dest_dir (which must not exist; its parent must). Nothing is written
 * before the signature, chain, manifest, product and firmware-group checks passed; payloads
 * are written into a temporary sibling "<dest_dir>.tmp-XXXXXX", each file fsynced, and only
 * when every payload verified are the directories fsynced and the temporary directory renamed
 * to dest_dir (and its parent fsynced). On any failure the temporary directory is removed and
 * dest_dir does not exist. Returns like bundle_verify(); besides, -EEXIST if dest_dir exists,
 * -ENOSPC if the file system lacks room for the payloads, or an I/O error of the writes (all
 * file I/O goes through base's I/O seam). */
int bundle_extract_payloads(const char *path, const struct bundle_verify_opts *opts,
                            const char *dest_dir, struct bundle_manifest **ret_manifest,
                            struct bundle_result *ret_result);

/* Verifies a firmware-group document and its detached signature (checks signature, chain,
 * key usage and manifest, the last meaning the group's schema) against opts->trust at
 * opts->now_s; opts->group and the product fields are ignored. Returns like bundle_verify(),
 * *ret_group (when verified) owned by the caller. */
int bundle_fwgroup_verify(const void *doc, size_t doc_len, const void *p7s, size_t p7s_len,
                          const struct bundle_verify_opts *opts, struct bundle_fwgroup **ret_group,
                          struct bundle_result *ret_result);

/* ---- creation (vendor tooling) ---------------------------------------------------------- */

/* A signing key, its certificate and the chain up to (not including) the root. */
struct bundle_signer;

/* Loads PEM files; chain_path may be NULL. Checks that key and certificate belong together.
 * Returns 0, -EBADMSG with a message in err, fs errors. */
int bundle_signer_load(const char *key_path, const char *cert_path, const char *chain_path,
                       struct bundle_signer **ret_signer, char *err, size_t err_size);
struct bundle_signer *bundle_signer_free(struct bundle_signer *s);

/* Writes a bundle to out_path (atomically: temporary file, fsync, rename, directory fsync):
 * the manifest is the template (JSON with every field but "payloads"; "format" may be
 * left out) plus one payload entry per regular file below payload_dir, in byte order of
 * their paths, each with size, SHA-256 and the executable bit of its owner. Symbolic links,
 * other special files, unsafe names and changes of a file while it is read are refused.
 * The finished manifest is checked by bundle_manifest_parse() before it is signed.
 * *ret_manifest (may be NULL) gets the manifest. Returns 0, -EINVAL/-EBADMSG with a message in
 * err, -EAGAIN if a payload changed while it was read, fs errors. */
int bundle_create(const void *template_json, size_t template_len, const char *payload_dir,
                  const struct bundle_signer *signer, const char *out_path,
                  struct bundle_manifest **ret_manifest, char *err, size_t err_size);

/* Checks a firmware-group document (bundle_fwgroup_parse) and signs it: *ret_p7s is the DER
 * of a detached CMS SignedData over doc's exact bytes (free() it). Returns 0, -EBADMSG with a
 * message in err, -EIO if signing failed, -ENOMEM. */
int bundle_fwgroup_sign(const void *doc, size_t doc_len, const struct bundle_signer *signer,
                        uint8_t **ret_p7s, size_t *ret_len, char *err, size_t err_size);

/* ---- test vendor PKI -------------------------------------------------------------------- */

struct bundle_keygen_opts {
    const char *vendor;   /* organisation in the subjects, e.g. "Test Vendor" */
    bool rsa;             /* RSA-3072 instead of ECDSA brainpoolP256r1 */
    int64_t not_before_s; /* validity of both certificates, s since 1970 */
    int64_t not_after_s;
};

/* Makes a test vendor PKI in dir (created): a root CA (root-cert.pem, root-key.pem) and a
 * signing certificate it issues (signer-cert.pem, signer-key.pem; keyUsage digitalSignature,
 * extendedKeyUsage codeSigning). Keys are written with mode 0600. For tests and CI only: the
 * keys are as safe as dir. Returns 0, -EINVAL/-EIO with a message in err, fs errors. */
int bundle_keygen(const char *dir, const struct bundle_keygen_opts *opts, char *err,
                  size_t err_size);

#endif
