/* Fuzz target for the KSR client's answer parser (STYLE.md rule 15): the input is what a KSR,
 * or anyone between it and the connector, could answer to list_Updates. It runs the answer
 * parser, then, for an accepted answer, uses every string it vouched for, writes the answer
 * back (the test KSR's writer) and parses that again; it also runs the request parser over
 * the same bytes (konctl's test KSR reads requests).
 *
 * Built twice by tests/fuzz/CMakeLists.txt: with fuzz_main.c to replay the corpus under CTest,
 * and with clang's -fsanitize=fuzzer as a real fuzzer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "update/update.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile size_t sink; /* keeps the reads in use() from being optimised away */

static void use(const struct upd_ksr_list *l)
{
    if (l->group_release_notes)
        sink += strlen(l->group_release_notes);
    for (size_t i = 0; i < l->n_updates; i++) {
        const struct upd_ksr_update *u = &l->updates[i];

        if (!upd_version_is_valid(u->fw_version) || !upd_version_is_valid(u->hw_version))
            abort(); /* the parse accepted a version outside N.N.N */
        sink += strlen(u->update_id) + strlen(u->product_name) + strlen(u->deadline) +
                strlen(u->release_notes);
        for (size_t f = 0; f < u->n_files; f++) {
            if (!upd_file_name_is_safe(u->files[f].name))
                abort(); /* the parse accepted a name that could leave the download directory */
            sink += strlen(u->files[f].notes) + u->files[f].size;
        }
        for (size_t f = 0; f < u->n_docs; f++)
            sink += strlen(u->docs[f].name) + strlen(u->docs[f].notes);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct upd_ksr_list *l = NULL, *again = NULL;
    struct upd_ksr_identity id;
    char err[256];
    char *xml = NULL;
    size_t len = 0;

    if (upd_ksr_response_parse(data, size, &l, err, sizeof(err)) == 0) {
        use(l);
        if (upd_ksr_response_format(l, &xml, &len) == 0) {
            if (upd_ksr_response_parse(xml, len, &again, err, sizeof(err)) != 0 ||
                again->n_updates != l->n_updates)
                abort(); /* what the writer wrote, the parser must read back */
            again = upd_ksr_list_free(again);
            free(xml);
        }
        l = upd_ksr_list_free(l);
    }
    if (upd_ksr_request_parse(data, size, &id, err, sizeof(err)) == 0)
        sink += strlen(id.fw_version);
    return 0;
}
