/* Fuzz target for the segment reader (STYLE.md rule 15): the input is a segment image, as an
 * attacker with write access to the log directory, or a broken disk, could leave it. It runs
 * everything that reads segment bytes: the header and footer decoders, the record parser at
 * every record boundary and at every 8-byte offset (as the torn-tail search does), the chain
 * check and the record view, and, through a memory file, the chunked walk readers use
 * (seclog__file_foreach) and the boot-time scan (seclog__segment_scan).
 *
 * Built twice by tests/fuzz/CMakeLists.txt: with fuzz_main.c to replay the corpus under CTest,
 * and with clang's -fsanitize=fuzzer as a real fuzzer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/base.h"
#include "seclog/seclog_internal.h"

/* Larger inputs teach the fuzzer nothing new and slow the 8-byte sweep down. */
#define INPUT_MAX (1024 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char strbuf[SECLOG__RECORD_MAX + 64];
static volatile size_t sink; /* keeps the reads in use() from being optimised away */

/* Uses every byte the parser vouched for, so that a sanitizer sees any overread. */
static void use(const struct seclog__parsed *p, const uint8_t prev[SECLOG__HASH_BYTES])
{
    struct seclog_record rec;

    if (p->kind != SECLOG__KIND_ENTRY)
        return;
    (void)seclog__chain_check(p, prev);
    if (seclog__parsed_to_record(p, &rec, strbuf, sizeof(strbuf)) < 0)
        abort(); /* parse accepted it, so the view must work */
    sink += strlen(rec.topic);
    for (size_t i = 0; i < rec.n_params; i++)
        sink += strlen(rec.params[i].key) + strlen(rec.params[i].value);
}

static int walk_fn(const struct seclog__parsed *p, uint64_t offset, void *arg)
{
    use(p, p->hash);
    return 0;
}

/* The file-based readers, over the image in a memory file. */
static void through_a_file(const uint8_t *data, size_t size, const struct seclog__seg_header *h)
{
    struct seclog__scan scan;
    char path[64];
    uint64_t bad = 0;
    int fd = memfd_create("segment", MFD_CLOEXEC);

    if (fd < 0)
        return;
    if (write(fd, data, size) == (ssize_t)size) {
        (void)snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        (void)seclog__file_foreach(path, 0, walk_fn, NULL, &bad);
        (void)seclog__file_foreach(path, size / 2, walk_fn, NULL, &bad);
        if (h)
            (void)seclog__segment_scan(fd, h, &scan);
    }
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct seclog__seg_header h;
    struct seclog__seg_footer f;
    struct seclog__parsed p;
    uint8_t prev[SECLOG__HASH_BYTES] = {0};
    bool have_header;
    size_t end, off;

    if (size > INPUT_MAX)
        return 0;
    have_header = size >= SECLOG__HEADER_BYTES && seclog__header_decode(data, &h) == 0;
    end = size;
    if (have_header) {
        memcpy(prev, h.prev_hash, sizeof(prev));
        if ((uint64_t)h.segment_bytes - SECLOG__FOOTER_BYTES < end)
            end = h.segment_bytes - SECLOG__FOOTER_BYTES;
        if (h.segment_bytes <= size)
            (void)seclog__footer_decode(data + h.segment_bytes - SECLOG__FOOTER_BYTES, &f);
    }
    /* Record by record, as the readers walk. Without a header, from the start. */
    for (off = have_header ? SECLOG__HEADER_BYTES : 0; off < end; off += p.len) {
        if (seclog__record_parse(data + off, end - off, &p) < 0)
            break;
        use(&p, prev);
        if (p.kind == SECLOG__KIND_ENTRY)
            memcpy(prev, p.hash, sizeof(prev));
    }
    /* At every 8-byte offset, as the torn-tail search does. */
    for (off = 0; off + SECLOG__ALIGN <= size; off += SECLOG__ALIGN)
        if (seclog__record_parse(data + off, size - off, &p) == 0)
            use(&p, prev);
    through_a_file(data, size, have_header ? &h : NULL);
    return 0;
}
