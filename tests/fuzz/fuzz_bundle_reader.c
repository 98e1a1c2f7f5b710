/* Fuzz target for the bundle reader (STYLE.md rule 15): the input is what a KSR, a download
 * cache or a USB stick could hand the updater. It runs every parser of bundle bytes: the
 * manifest and firmware-group JSON checks, the CMS signature reader (the input split in two:
 * document and signature), and the one-pass archive reader over the whole input with the
 * signature check skipped, so that mutated archives reach the manifest, path and payload
 * checks instead of stopping at the signature.
 *
 * Built twice by tests/fuzz/CMakeLists.txt: with fuzz_main.c to replay the corpus under CTest,
 * and with clang's -fsanitize=fuzzer as a real fuzzer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "bundle/bundle_internal.h"

/* Larger inputs teach the fuzzer nothing new. */
#define INPUT_MAX (1024 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile size_t sink; /* keeps the reads in use() from being optimised away */

/* Uses every string the parser vouched for, so that a sanitizer sees any overread. */
static void use(const struct bundle_manifest *m)
{
    sink += strlen(m->product_vendor_id) + strlen(m->product_code) + strlen(m->product_name) +
            strlen(m->fw_version) + strlen(m->deadline) + strlen(m->release_notes);
    for (size_t i = 0; i < m->n_features; i++)
        sink += strlen(m->features[i]);
    for (size_t i = 0; i < m->n_payloads; i++) {
        const char *why = NULL;

        if (!bundle_path_is_safe(m->payloads[i].path, &why))
            abort(); /* the parse accepted an unsafe path */
        sink += m->payloads[i].size + m->payloads[i].sha256[31];
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct bundle_trust *trust;
    struct bundle_verify_opts opts = {0};
    struct bundle__input in = {.fd = -1, .data = data, .size = size, .skip_signature = true};
    struct bundle_manifest *m = NULL;
    struct bundle_fwgroup *g = NULL;
    struct bundle_result res;
    char err[BUNDLE_MESSAGE_MAX];

    if (size > INPUT_MAX)
        return 0;
    if (!trust)
        trust = bundle_trust_new(); /* empty: every chain fails, after the parse */
    if (bundle_manifest_parse(data, size, &m, err, sizeof(err)) == 0)
        use(m);
    m = bundle_manifest_free(m);
    if (bundle_fwgroup_parse(data, size, &g, err, sizeof(err)) == 0)
        sink += g->n_fw_versions + strlen(g->release_notes);
    g = bundle_fwgroup_free(g);
    opts.trust = trust;
    res = (struct bundle_result){0};
    (void)bundle__cms_verify(data, size / 2, data + size / 2, size - size / 2, &opts, &res);
    if (bundle__read(&in, &opts, NULL, &m, &res) == 0 && res.code == 0)
        use(m);
    bundle_manifest_free(m);
    return 0;
}
