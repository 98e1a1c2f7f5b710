/* Fuzz target for the DPE check of WriteDPE (services/dpe_document.c, STYLE.md rule 15): the
 * input is a document a client on the LAN could send base64-encoded in DPEDocument. It runs
 * the check; a document it accepts then goes through the eGK container as WriteDPE and
 * ReadDPE would (cards_dpe_pack, cards_dpe_unpack) and must come back unchanged. The input
 * is also unpacked as if it were a container, which must never crash or overrun.
 *
 * Built twice by tests/fuzz/CMakeLists.txt: with fuzz_main.c to replay the corpus under CTest,
 * and with clang's -fsanitize=fuzzer as a real fuzzer. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "services/services_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[SERVICES_DPE_WHY_MAX] = "";
    uint8_t container[CARDS_DPE_CONTAINER_MAX];
    uint8_t *doc = NULL;
    size_t n = 0, len = 0;
    int r;

    if (size > 2 * CARDS_DPE_DOCUMENT_MAX)
        return 0;
    if (cards_dpe_unpack(data, size, &doc, &len) == 0 && len > CARDS_DPE_DOCUMENT_MAX)
        abort();
    free(doc);
    doc = NULL;
    r = services__dpe_document_check(data, size, why, sizeof(why));
    if (r < 0 && r != -ENOMEM && why[0] == '\0')
        abort(); /* a refusal always says why */
    if (r == 0 && cards_dpe_pack(data, size, container, &n) == 0) {
        if (cards_dpe_unpack(container, n, &doc, &len) != 0 || len != size ||
            memcmp(doc, data, size) != 0)
            abort();
        free(doc);
    }
    return 0;
}
