/* cmd_bundle: vendor tooling for signed update bundles (docs/update-bundle.md). "bundle
 * keygen" makes a test vendor PKI, "bundle create" writes a signed bundle from a manifest
 * template and a payload directory, "bundle sign-group" signs a firmware-group document,
 * "bundle verify" checks a bundle as the connector's updater does, printing each check.
 *
 * Unlike the other commands these talk to no daemon: they work on local files through the
 * bundle library (src/bundle), the same code the updater runs.
 *
 * Invariants:
 *  1. "bundle verify" exits 9 exactly when the bundle (or the group document) does not
 *     verify, with --json too; the failing check's message is printed, and its gematik code
 *     (4183, 4185).
 *  2. Certificate validity is judged at the real time now (base's clock). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "bundle/bundle.h"
#include "konctl.h"
#include "output.h"

/* Default validity of a keygen'd test PKI, in days. */
#define KEYGEN_DAYS_DEFAULT 365
#define KEYGEN_DAYS_MAX (100 * 365)
#define DAY_S (24 * 3600)

static const char bundle_usage[] =
    "Usage: konctl bundle keygen --out DIR [--vendor NAME] [--days N] [--type ecc|rsa]\n"
    "       konctl bundle create OUT.tar --manifest TEMPLATE.json --payloads DIR\n"
    "                            --key KEY.pem --cert CERT.pem [--chain CHAIN.pem]\n"
    "       konctl bundle sign-group GROUP.json --key KEY.pem --cert CERT.pem\n"
    "                            [--chain CHAIN.pem] [--out GROUP.json.p7s]\n"
    "       konctl bundle verify BUNDLE.tar --trust ROOTS.pem [--group GROUP.json]\n"
    "                            [--vendor-id ID --product-code CODE --hw-version V]\n"
    "\n"
    "Signed update bundles (docs/update-bundle.md). These work on local files; no daemon is\n"
    "asked.\n"
    "\n"
    "keygen      a TEST vendor PKI in DIR: root-cert.pem, root-key.pem, signer-cert.pem,\n"
    "            signer-key.pem (keys mode 0600). For tests and CI only\n"
    "  --vendor  organisation in the subjects (default 'Test Vendor')\n"
    "  --days    validity from now (default 365)\n"
    "  --type    ecc (brainpoolP256r1, the default) or rsa (RSA-3072)\n"
    "create      a bundle: the template's fields plus one payload per file below DIR, signed\n"
    "            with KEY and CERT (CHAIN: intermediate certificates to include)\n"
    "sign-group  a detached signature of a firmware-group document (default GROUP.json.p7s)\n"
    "verify      every check in order; exit 9 with the failing check and its gematik code\n"
    "            (4183 integrity, 4185 firmware group) if the bundle does not verify\n"
    "  --trust   PEM file of the vendor root certificates\n"
    "  --group   a firmware-group document; its signature is GROUP.json.p7s\n"
    "  --vendor-id, --product-code, --hw-version\n"
    "            the device the bundle must be for (all three, or none)\n";

static int out_of_memory(void)
{
    konctl_error("out of memory");
    return KONCTL_EXIT_ERROR;
}

/* ---- keygen ------------------------------------------------------------------------------ */

static int bundle_keygen_cmd(struct konctl *k, int argc, char **argv)
{
    struct args_opt opts[] = {
        {"out", true, NULL}, {"vendor", true, NULL}, {"days", true, NULL}, {"type", true, NULL}};
    struct bundle_keygen_opts ko = {0};
    uint64_t days = KEYGEN_DAYS_DEFAULT;
    int64_t now = clock_now_ms() / 1000;
    char err[BUNDLE_MESSAGE_MAX] = "";
    struct args a;
    int r;

    if (!args_command(k, argc, argv, opts, ARRAY_SIZE(opts), 0, 0, bundle_usage, &a, &r))
        return r;
    if (!opts[0].value) {
        konctl_error("bundle keygen needs --out DIR");
        return KONCTL_EXIT_USAGE;
    }
    if (opts[2].value && (args_uint_parse(opts[2].value, KEYGEN_DAYS_MAX, &days) < 0 || !days)) {
        konctl_error("--days takes 1 to %d, not '%s'", KEYGEN_DAYS_MAX, opts[2].value);
        return KONCTL_EXIT_USAGE;
    }
    if (opts[3].value && strcmp(opts[3].value, "ecc") && strcmp(opts[3].value, "rsa")) {
        konctl_error("--type takes ecc or rsa, not '%s'", opts[3].value);
        return KONCTL_EXIT_USAGE;
    }
    ko.vendor = opts[1].value;
    ko.rsa = opts[3].value && strcmp(opts[3].value, "rsa") == 0;
    /* An hour back, so that a verifier whose clock is a little behind accepts it. */
    ko.not_before_s = now - 3600;
    ko.not_after_s = now + (int64_t)days * DAY_S;
    r = bundle_keygen(opts[0].value, &ko, err, sizeof(err));
    if (r < 0) {
        konctl_error("%s", err);
        return KONCTL_EXIT_ERROR;
    }
    if (k->json) {
        json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s}", "dir", opts[0].value, "root_cert",
                              "root-cert.pem", "root_key", "root-key.pem", "signer_cert",
                              "signer-cert.pem", "signer_key", "signer-key.pem");

        if (!j)
            return out_of_memory();
        (void)out_json_print(stdout, j);
        json_decref(j);
    } else {
        (void)printf("test vendor PKI in %s: root-cert.pem (the trust anchor), signer-cert.pem "
                     "and signer-key.pem (to sign), root-key.pem\n",
                     opts[0].value);
    }
    return KONCTL_EXIT_OK;
}

/* ---- create and sign-group --------------------------------------------------------------- */

static int signer_load(struct args_opt *key, struct args_opt *cert, struct args_opt *chain,
                       struct bundle_signer **ret)
{
    char err[BUNDLE_MESSAGE_MAX] = "";

    if (!key->value || !cert->value) {
        konctl_error("signing needs --key KEY.pem and --cert CERT.pem");
        return KONCTL_EXIT_USAGE;
    }
    if (bundle_signer_load(key->value, cert->value, chain->value, ret, err, sizeof(err)) < 0) {
        konctl_error("%s", err);
        return KONCTL_EXIT_USAGE;
    }
    return KONCTL_EXIT_OK;
}

static json_t *manifest_json(const struct bundle_manifest *m)
{
    json_t *features = json_array(), *payloads = json_array(), *j;

    for (size_t i = 0; features && i < m->n_features; i++)
        (void)json_array_append_new(features, json_string(m->features[i]));
    for (size_t i = 0; payloads && i < m->n_payloads; i++) {
        char hex[65];

        hex_encode(m->payloads[i].sha256, sizeof(m->payloads[i].sha256), hex);
        (void)json_array_append_new(payloads,
                                    json_pack("{s:s,s:I,s:s,s:b}", "path", m->payloads[i].path,
                                              "size", (json_int_t)m->payloads[i].size, "sha256",
                                              hex, "executable", m->payloads[i].executable));
    }
    j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s*,s:o,s:o,s:I}", "product_vendor_id",
                  m->product_vendor_id, "product_code", m->product_code, "product_name",
                  m->product_name, "hw_version", m->hw_version, "fw_version", m->fw_version,
                  "product_type_version", m->product_type_version, "created", m->created,
                  "fw_priority", m->critical ? "Kritisch" : "Normal", "deadline",
                  m->deadline[0] ? m->deadline : NULL, "features", features, "payloads", payloads,
                  "total_size", (json_int_t)m->total_size);
    return j;
}

static int bundle_create_cmd(struct konctl *k, int argc, char **argv)
{
    struct args_opt opts[] = {{"manifest", true, NULL},
                              {"payloads", true, NULL},
                              {"key", true, NULL},
                              {"cert", true, NULL},
                              {"chain", true, NULL}};
    struct bundle_manifest *m = NULL;
    struct bundle_signer *s = NULL;
    char err[BUNDLE_MESSAGE_MAX] = "";
    char *tmpl = NULL;
    size_t tmpl_len = 0;
    struct args a;
    int r;

    if (!args_command(k, argc, argv, opts, ARRAY_SIZE(opts), 1, 1, bundle_usage, &a, &r))
        return r;
    if (!opts[0].value || !opts[1].value) {
        konctl_error("bundle create needs --manifest TEMPLATE.json and --payloads DIR");
        return KONCTL_EXIT_USAGE;
    }
    r = file_read_all(opts[0].value, BUNDLE_MANIFEST_MAX, &tmpl, &tmpl_len);
    if (r < 0) {
        konctl_error("cannot read '%s': %s", opts[0].value, strerror(-r));
        return KONCTL_EXIT_USAGE;
    }
    r = signer_load(&opts[2], &opts[3], &opts[4], &s);
    if (r != KONCTL_EXIT_OK)
        goto out;
    if (bundle_create(tmpl, tmpl_len, opts[1].value, s, a.pos[0], &m, err, sizeof(err)) < 0) {
        konctl_error("%s", err[0] ? err : "cannot create the bundle");
        r = KONCTL_EXIT_ERROR;
        goto out;
    }
    if (k->json) {
        json_t *j = manifest_json(m);

        if (!j || json_object_set_new(j, "bundle", json_string(a.pos[0])) < 0) {
            json_decref(j);
            r = out_of_memory();
            goto out;
        }
        (void)out_json_print(stdout, j);
        json_decref(j);
    } else {
        (void)printf("%s: firmware %s for %s/%s hardware %s, %zu payloads, %llu bytes, signed\n",
                     a.pos[0], m->fw_version, m->product_vendor_id, m->product_code, m->hw_version,
                     m->n_payloads, (unsigned long long)m->total_size);
    }
out:
    bundle_manifest_free(m);
    bundle_signer_free(s);
    free(tmpl);
    return r;
}

static int bundle_sign_group_cmd(struct konctl *k, int argc, char **argv)
{
    struct args_opt opts[] = {
        {"key", true, NULL}, {"cert", true, NULL}, {"chain", true, NULL}, {"out", true, NULL}};
    struct bundle_signer *s = NULL;
    char err[BUNDLE_MESSAGE_MAX] = "";
    char *doc = NULL, *out = NULL;
    uint8_t *p7s = NULL;
    size_t doc_len = 0, p7s_len = 0;
    struct args a;
    int r;

    if (!args_command(k, argc, argv, opts, ARRAY_SIZE(opts), 1, 1, bundle_usage, &a, &r))
        return r;
    r = file_read_all(a.pos[0], BUNDLE_MANIFEST_MAX, &doc, &doc_len);
    if (r < 0) {
        konctl_error("cannot read '%s': %s", a.pos[0], strerror(-r));
        return KONCTL_EXIT_USAGE;
    }
    r = signer_load(&opts[0], &opts[1], &opts[2], &s);
    if (r != KONCTL_EXIT_OK)
        goto out;
    if (bundle_fwgroup_sign(doc, doc_len, s, &p7s, &p7s_len, err, sizeof(err)) < 0) {
        konctl_error("%s", err);
        r = KONCTL_EXIT_ERROR;
        goto out;
    }
    if (opts[3].value)
        out = strdup(opts[3].value);
    else if (asprintf(&out, "%s.p7s", a.pos[0]) < 0)
        out = NULL;
    if (!out) {
        r = out_of_memory();
        goto out;
    }
    r = fs_write_atomic(out, p7s, p7s_len, 0644);
    if (r < 0) {
        konctl_error("cannot write '%s': %s", out, strerror(-r));
        r = KONCTL_EXIT_ERROR;
        goto out;
    }
    if (!k->json)
        (void)printf("%s: signature of %s\n", out, a.pos[0]);
    r = KONCTL_EXIT_OK;
out:
    free(out);
    free(p7s);
    free(doc);
    bundle_signer_free(s);
    return r;
}

/* ---- verify ------------------------------------------------------------------------------ */

struct report {
    const struct konctl *k;
    json_t *checks;    /* --json: the passed and skipped checks */
    const char *scope; /* "" for the bundle, "group " for the group document */
};

static void on_check(enum bundle_check check, bool skipped, const char *detail, void *arg)
{
    struct report *rep = arg;
    char name[48];

    (void)snprintf(name, sizeof(name), "%s%s", rep->scope, bundle_check_to_string(check));
    if (rep->checks) {
        (void)json_array_append_new(rep->checks,
                                    json_pack("{s:s,s:s,s:s}", "check", name, "status",
                                              skipped ? "skipped" : "passed", "detail", detail));
        return;
    }
    (void)printf("%-5s %-20s %s\n", skipped ? "skip" : "ok", name, detail);
}

/* Prints the verdict of a failed verification and returns exit 9 (invariant 1). */
static int report_failed(struct report *rep, const struct bundle_result *res)
{
    if (rep->checks) {
        json_t *j = json_pack("{s:b,s:i,s:s+,s:s,s:O}", "ok", 0, "code", res->code, "failed_check",
                              rep->scope, bundle_check_to_string(res->check), "message",
                              res->message, "checks", rep->checks);

        if (!j)
            return out_of_memory();
        (void)out_json_print(stdout, j);
        json_decref(j);
    } else {
        char name[48];

        (void)snprintf(name, sizeof(name), "%s%s", rep->scope, bundle_check_to_string(res->check));
        (void)printf("%-5s %-20s %s\n", "FAIL", name, res->message);
        (void)printf("NOT VERIFIED: gematik code %d (%s)\n", res->code,
                     res->code == BUNDLE_CODE_FIRMWARE_GROUP
                         ? "firmware version outside the valid firmware group"
                         : "integrity check of the update files failed");
    }
    return KONCTL_EXIT_UNVERIFIED;
}

/* Reads and verifies the group document path and path.p7s. Returns an exit code. */
static int group_load(struct report *rep, const char *path, const struct bundle_verify_opts *base,
                      struct bundle_fwgroup **ret)
{
    struct bundle_verify_opts opts = *base;
    struct bundle_result res;
    char *doc = NULL, *p7s = NULL, *sig_path = NULL;
    size_t doc_len = 0, p7s_len = 0;
    int r;

    if (asprintf(&sig_path, "%s.p7s", path) < 0)
        return out_of_memory();
    r = file_read_all(path, BUNDLE_MANIFEST_MAX, &doc, &doc_len);
    if (r == 0)
        r = file_read_all(sig_path, BUNDLE_SIGNATURE_MAX, &p7s, &p7s_len);
    if (r < 0) {
        konctl_error("cannot read '%s': %s", doc ? sig_path : path, strerror(-r));
        r = KONCTL_EXIT_USAGE;
        goto out;
    }
    rep->scope = "group ";
    r = bundle_fwgroup_verify(doc, doc_len, p7s, p7s_len, &opts, ret, &res);
    if (r < 0) {
        konctl_error("cannot verify the group document: %s", strerror(-r));
        r = KONCTL_EXIT_ERROR;
    } else if (res.code) {
        r = report_failed(rep, &res);
    } else {
        r = KONCTL_EXIT_OK;
    }
    rep->scope = "";
out:
    free(sig_path);
    free(doc);
    free(p7s);
    return r;
}

static void print_verified(const struct bundle_manifest *m)
{
    (void)printf("VERIFIED: firmware %s (PTV %s, %s%s%s) for %s/%s hardware %s; features:",
                 m->fw_version, m->product_type_version, m->critical ? "Kritisch" : "Normal",
                 m->deadline[0] ? ", deadline " : "", m->deadline, m->product_vendor_id,
                 m->product_code, m->hw_version);
    for (size_t i = 0; i < m->n_features; i++)
        (void)printf("%s%s", i ? ", " : " ", m->features[i]);
    (void)printf("%s\n", m->n_features ? "" : " none");
}

static int bundle_verify_cmd(struct konctl *k, int argc, char **argv)
{
    struct args_opt opts[] = {{"trust", true, NULL},
                              {"group", true, NULL},
                              {"vendor-id", true, NULL},
                              {"product-code", true, NULL},
                              {"hw-version", true, NULL}};
    struct report rep = {.k = k, .scope = ""};
    struct bundle_verify_opts vo = {.on_check = on_check, .arg = &rep};
    struct bundle_manifest *m = NULL;
    struct bundle_fwgroup *g = NULL;
    struct bundle_trust *trust = NULL;
    struct bundle_result res;
    int n_device;
    struct args a;
    int r;

    if (!args_command(k, argc, argv, opts, ARRAY_SIZE(opts), 1, 1, bundle_usage, &a, &r))
        return r;
    n_device = !!opts[2].value + !!opts[3].value + !!opts[4].value;
    if (!opts[0].value) {
        konctl_error("bundle verify needs --trust ROOTS.pem (the vendor root certificates)");
        return KONCTL_EXIT_USAGE;
    }
    if (n_device != 0 && n_device != 3) {
        konctl_error("--vendor-id, --product-code and --hw-version go together");
        return KONCTL_EXIT_USAGE;
    }
    trust = bundle_trust_new();
    if (!trust)
        return out_of_memory();
    r = bundle_trust_add_file(trust, opts[0].value);
    if (r < 0) {
        konctl_error("cannot use '%s' as trust anchors: %s", opts[0].value,
                     r == -EBADMSG ? "no self-signed CA certificate in PEM" : strerror(-r));
        r = KONCTL_EXIT_USAGE;
        goto out;
    }
    if (k->json) {
        rep.checks = json_array();
        if (!rep.checks) {
            r = out_of_memory();
            goto out;
        }
    }
    vo.trust = trust;
    vo.now_s = clock_now_ms() / 1000; /* invariant 2 */
    vo.product_vendor_id = opts[2].value;
    vo.product_code = opts[3].value;
    vo.hw_version = opts[4].value;
    if (opts[1].value) {
        r = group_load(&rep, opts[1].value, &vo, &g);
        if (r != KONCTL_EXIT_OK)
            goto out;
        vo.group = g;
    }
    r = bundle_verify(a.pos[0], &vo, &m, &res);
    if (r < 0) {
        konctl_error("%s", res.message);
        r = r == -ENOENT || r == -EACCES ? KONCTL_EXIT_USAGE : KONCTL_EXIT_ERROR;
        goto out;
    }
    if (res.code) {
        r = report_failed(&rep, &res);
        goto out;
    }
    if (k->json) {
        json_t *j = json_pack("{s:b,s:n,s:O,s:o}", "ok", 1, "code", "checks", rep.checks,
                              "manifest", manifest_json(m));

        if (!j) {
            r = out_of_memory();
            goto out;
        }
        (void)out_json_print(stdout, j);
        json_decref(j);
    } else {
        print_verified(m);
    }
    r = KONCTL_EXIT_OK;
out:
    json_decref(rep.checks);
    bundle_manifest_free(m);
    bundle_fwgroup_free(g);
    bundle_trust_free(trust);
    return r;
}

int cmd_bundle(struct konctl *k, int argc, char **argv)
{
    static const char *const names[] = {"keygen", "create", "sign-group", "verify"};
    int shift = 0;
    int r;
    int i;

    i = args_subcommand(argc, argv, names, ARRAY_SIZE(names), NULL, bundle_usage, &shift, &r);
    argc -= shift;
    argv += shift;
    switch (i) {
    case 0:
        return bundle_keygen_cmd(k, argc, argv);
    case 1:
        return bundle_create_cmd(k, argc, argv);
    case 2:
        return bundle_sign_group_cmd(k, argc, argv);
    case 3:
        return bundle_verify_cmd(k, argc, argv);
    default:
        return r;
    }
}
