/* cmd_cert: the trust space and the simulated OCSP responder of the control API
 * (/control/v1/trust, /control/v1/certs): what VerifyCertificate of the CertificateService
 * checks against. "cert" sets and shows the answer for one certificate (good, revoked,
 * unknown); "trust" lists the CAs and imports gematik TEST-ONLY CA certificates.
 *
 * Invariants:
 *  1. konctl checks only the form of what it sends (one way of naming the certificate, a
 *     readable file); the daemon decides and names the problem (exit 7 unknown card or
 *     certificate, 5 refused).
 *  2. What is printed comes from the daemon's answer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "konctl.h"
#include "output.h"

/* Largest PEM file sent, in bytes: the daemon takes request bodies up to 64 KiB, and JSON
 * escaping of the line breaks adds a little. */
#define PEM_FILE_MAX (56 * 1024)

static const char cert_usage[] =
    "Usage: konctl cert status CERT\n"
    "       konctl cert revoke CERT\n"
    "       konctl cert unrevoke CERT\n"
    "       konctl cert unknown CERT\n"
    "       konctl cert list\n"
    "\n"
    "CERT names one certificate, in one of three ways:\n"
    "  --card NAME --ref KEYREF [--alg RSA|ECC]   a catalog card's certificate, e.g.\n"
    "                                            --card hba1 --ref C.HP.QES (RSA default)\n"
    "  --file CERT.pem                            a certificate in PEM\n"
    "  --issuer DN --serial HEX                   issuer and serial, as 'cert list' shows\n"
    "\n"
    "status    what the simulated OCSP responder answers for it: good, revoked, unknown\n"
    "revoke    answer 'revoked' from now on (VerifyCertificate: INVALID)\n"
    "unrevoke  answer 'good' again (the default for every certificate)\n"
    "unknown   answer 'unknown' (VerifyCertificate: INCONCLUSIVE)\n"
    "list      every certificate whose answer is not 'good' (the default)\n";

static const char trust_usage[] =
    "Usage: konctl trust list\n"
    "       konctl trust import FILE.pem\n"
    "\n"
    "list    the CAs VerifyCertificate trusts: the test PKI's and the imported ones (default)\n"
    "import  add the CA certificates of FILE.pem (e.g. gematik's TEST-ONLY CAs, whose test\n"
    "        identities carry no chain); certificates that are no CA are refused (exit 5)\n";

/* The selector body of the certificate the options name. Returns an exit code. */
static int selector_body(struct args_opt *o, json_t **ret)
{
    /* o: card, ref, alg, file, issuer, serial */
    bool by_card = o[0].value, by_file = o[3].value, by_issuer = o[4].value || o[5].value;
    char *pem = NULL;
    size_t pem_len = 0;
    json_t *body;
    int r;

    if (by_card + by_file + by_issuer != 1) {
        konctl_error("name the certificate one way: --card and --ref, --file, or --issuer and "
                     "--serial");
        return KONCTL_EXIT_USAGE;
    }
    if (by_card && !o[1].value) {
        konctl_error("--card needs --ref KEYREF (C.CH.AUT, C.HP.QES, C.HCI.OSIG, ...)");
        return KONCTL_EXIT_USAGE;
    }
    if (by_issuer && (!o[4].value || !o[5].value)) {
        konctl_error("--issuer and --serial go together");
        return KONCTL_EXIT_USAGE;
    }
    if (by_file) {
        r = file_read_all(o[3].value, PEM_FILE_MAX, &pem, &pem_len);
        if (r < 0) {
            konctl_error("cannot read '%s': %s", o[3].value,
                         r == -EFBIG ? "larger than 56 KiB" : strerror(-r));
            return KONCTL_EXIT_USAGE;
        }
        body = json_pack("{s:s}", "pem", pem);
        free(pem);
    } else if (by_card) {
        body = json_pack("{s:s,s:s,s:s}", "card", o[0].value, "key_ref", o[1].value, "algorithm",
                         o[2].value ? o[2].value : "RSA");
    } else {
        body = json_pack("{s:s,s:s}", "issuer", o[4].value, "serial", o[5].value);
    }
    if (!body) {
        konctl_error("cannot send the certificate's name: not valid UTF-8");
        return KONCTL_EXIT_USAGE;
    }
    *ret = body;
    return KONCTL_EXIT_OK;
}

static void status_print(const json_t *a)
{
    const char *status = json_string_value(json_object_get(a, "status"));
    const char *at = json_string_value(json_object_get(a, "revoked_at"));

    (void)printf("%s (serial %s, issuer %s)", status ? status : "?",
                 json_string_value(json_object_get(a, "serial"))
                     ? json_string_value(json_object_get(a, "serial"))
                     : "?",
                 json_string_value(json_object_get(a, "issuer"))
                     ? json_string_value(json_object_get(a, "issuer"))
                     : "?");
    if (at)
        (void)printf(", revoked at %s", at);
    (void)printf("\n");
}

/* cert status / revoke / unrevoke / unknown. set: the status to set, NULL to show. */
static int cert_status(struct konctl *k, int argc, char **argv, const char *set)
{
    struct args_opt opts[] = {{"card", true, NULL}, {"ref", true, NULL},    {"alg", true, NULL},
                              {"file", true, NULL}, {"issuer", true, NULL}, {"serial", true, NULL}};
    json_t *answer = NULL;
    json_t *body = NULL;
    struct args a;
    int r;

    if (!args_command(k, argc, argv, opts, ARRAY_SIZE(opts), 0, 0, cert_usage, &a, &r))
        return r;
    r = selector_body(opts, &body);
    if (r != KONCTL_EXIT_OK)
        return r;
    if (set && json_object_set_new(body, "status", json_string(set)) < 0) {
        konctl_error("out of memory");
        r = KONCTL_EXIT_ERROR;
        goto out;
    }
    r = konctl_call(k, set ? "PUT" : "POST", "/control/v1/certs/status", body, &answer);
    if (r != KONCTL_EXIT_OK)
        goto out;
    if (k->json)
        (void)out_json_print(stdout, answer);
    else
        status_print(answer);
out:
    json_decref(body);
    json_decref(answer);
    return r;
}

static void revocation_row(struct out_table *t, const json_t *row)
{
    out_table_add_json(t, json_object_get(row, "status"));
    out_table_add_json(t, json_object_get(row, "serial"));
    out_table_add_json(t, json_object_get(row, "revoked_at"));
    out_table_add_json(t, json_object_get(row, "issuer"));
}

static int cert_list(struct konctl *k, int argc, char **argv)
{
    static const char *const headers[] = {"STATUS", "SERIAL", "REVOKED AT", "ISSUER"};
    static const struct konctl_listing listing = {"revocations", headers, ARRAY_SIZE(headers),
                                                  revocation_row, "every certificate is good"};
    struct args a;
    int r;

    if (!args_command(k, argc, argv, NULL, 0, 0, 0, cert_usage, &a, &r))
        return r;
    return konctl_list(k, "/control/v1/certs/revocations", &listing);
}

int cmd_cert(struct konctl *k, int argc, char **argv)
{
    static const char *const names[] = {"list", "status", "revoke", "unrevoke", "unknown"};
    int shift = 0;
    int r;
    int i;

    i = args_subcommand(argc, argv, names, ARRAY_SIZE(names), "list", cert_usage, &shift, &r);
    argc -= shift;
    argv += shift;
    switch (i) {
    case 0:
        return cert_list(k, argc, argv);
    case 1:
        return cert_status(k, argc, argv, NULL);
    case 2:
        return cert_status(k, argc, argv, "revoked");
    case 3:
        return cert_status(k, argc, argv, "good");
    case 4:
        return cert_status(k, argc, argv, "unknown");
    default:
        return r;
    }
}

/* ---- trust ------------------------------------------------------------------------------ */

static void trust_row(struct out_table *t, const json_t *row)
{
    out_table_add_json(t, json_object_get(row, "source"));
    out_table_add_json(t, json_object_get(row, "not_after"));
    out_table_add_json(t, json_object_get(row, "subject"));
}

static int trust_list(struct konctl *k, int argc, char **argv)
{
    static const char *const headers[] = {"SOURCE", "NOT AFTER", "SUBJECT"};
    static const struct konctl_listing listing = {"cas", headers, ARRAY_SIZE(headers), trust_row,
                                                  NULL};
    struct args a;
    int r;

    if (!args_command(k, argc, argv, NULL, 0, 0, 0, trust_usage, &a, &r))
        return r;
    return konctl_list(k, "/control/v1/trust", &listing);
}

static int trust_import(struct konctl *k, int argc, char **argv)
{
    json_t *answer = NULL;
    json_t *body = NULL;
    char *pem = NULL;
    size_t pem_len = 0;
    struct args a;
    int r;

    if (!args_command(k, argc, argv, NULL, 0, 1, 1, trust_usage, &a, &r))
        return r;
    r = file_read_all(a.pos[0], PEM_FILE_MAX, &pem, &pem_len);
    if (r < 0) {
        konctl_error("cannot read '%s': %s", a.pos[0],
                     r == -EFBIG ? "larger than 56 KiB" : strerror(-r));
        return KONCTL_EXIT_USAGE;
    }
    body = json_pack("{s:s}", "pem", pem);
    free(pem);
    if (!body) {
        konctl_error("'%s' is not a PEM text (not valid UTF-8)", a.pos[0]);
        return KONCTL_EXIT_USAGE;
    }
    r = konctl_call(k, "POST", "/control/v1/trust/import", body, &answer);
    if (r == KONCTL_EXIT_OK && k->json)
        (void)out_json_print(stdout, answer);
    else if (r == KONCTL_EXIT_OK)
        (void)printf("imported %" JSON_INTEGER_FORMAT " new CA certificate(s); the trust space "
                     "holds %zu\n",
                     json_integer_value(json_object_get(answer, "added")),
                     json_array_size(json_object_get(answer, "cas")));
    json_decref(body);
    json_decref(answer);
    return r;
}

int cmd_trust(struct konctl *k, int argc, char **argv)
{
    static const char *const names[] = {"list", "import"};
    int shift = 0;
    int r;
    int i;

    i = args_subcommand(argc, argv, names, ARRAY_SIZE(names), "list", trust_usage, &shift, &r);
    argc -= shift;
    argv += shift;
    switch (i) {
    case 0:
        return trust_list(k, argc, argv);
    case 1:
        return trust_import(k, argc, argv);
    default:
        return r;
    }
}
