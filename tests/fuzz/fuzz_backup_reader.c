/* Fuzz target for the configuration backup reader (STYLE.md rule 15): the input is a file an
 * administrator hands to POST /api/v1/config/import. It runs both layers: the encrypted
 * container (header checks, lengths, PBKDF2 with the passphrase "fuzz", AES-256-GCM) over the
 * whole input, and the CMS SignedData reader over the whole input, so that mutations reach the
 * signature and content parsing without having to pass the GCM tag.
 *
 * The seeds in corpus/backup_reader/ are sealed with the passphrase "fuzz" and 10,000
 * iterations, the least a reader accepts; the target allows no more, so that each input costs
 * at most one cheap derivation.
 *
 * Built twice by tests/fuzz/CMakeLists.txt: with fuzz_main.c to replay the corpus under CTest,
 * and with clang's -fsanitize=fuzzer as a real fuzzer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mgmt/mgmt_internal.h"

#define FUZZ_PASSPHRASE "fuzz"
#define FUZZ_ITERATIONS 10000u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile size_t sink; /* keeps the reads below from being optimised away */

static void use(const char *json, size_t len, const struct mgmt__backup_signer *s)
{
    if (strlen(json) > len || strlen(s->subject) >= sizeof(s->subject) ||
        strlen(s->fingerprint) >= sizeof(s->fingerprint))
        abort(); /* the reader handed out something it did not terminate */
    sink += len + (size_t)s->signed_ms;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mgmt__backup_signer s;
    uint8_t *plain = NULL;
    size_t plain_len = 0, json_len = 0;
    char *json = NULL;

    if (mgmt__backup_decrypt(data, size, FUZZ_PASSPHRASE, FUZZ_ITERATIONS, &plain, &plain_len) ==
        0) {
        if (mgmt__backup_verify(plain, plain_len, &json, &json_len, &s) == 0)
            use(json, json_len, &s);
        free(json);
        json = NULL;
        free(plain);
    }
    if (mgmt__backup_verify(data, size, &json, &json_len, &s) == 0)
        use(json, json_len, &s);
    free(json);
    return 0;
}
