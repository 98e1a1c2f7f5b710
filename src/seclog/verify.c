/* verify: seclog_verify(), the auditor's check of a whole log. Walks every segment of a
 * snapshot in order and checks, for every record up to each segment's read limit: CRC and
 * lengths, sequence continuity within and across segments, the hash chain (each segment's
 * header must carry the previous segment's last hash), seals (seq and hash of the entry
 * before them, epochs that never go back and, with the verification key, the HMAC under the
 * key of the seal's own epoch), the head against the retention records and the tail against
 * the writer's last durable seq. Stops at the first problem and says what and where.
 *
 * Invariants:
 *  1. Read only: no file is opened for writing, nothing of the engine is changed.
 *  2. The first problem found is the one reported: first_bad_seq is the seq of the first
 *     wrong record, or the first seq that should be there and is not.
 *  3. A seal is checked with the key of its own epoch, derived forward from k0 (never a later
 *     key for an earlier epoch: the lesson of CVE-2023-31439); keys are wiped after use.
 *  4. Work is bounded: one pass over the records, and the key evolves at most EVOLVE_MAX times
 *     from one seal to the next, so a hostile epoch number cannot make verification spin. */
#include "seclog/seclog_internal.h"

#include "base/base.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The writer evolves at most 65536 times per seal (seal.c); allow far more before calling an
 * epoch jump hostile: 2^22 evolutions are about 10 s of HMAC and 120 years of 15-min epochs. */
#define EVOLVE_MAX (1u << 22)
#define STRBUF_BYTES (SECLOG__RECORD_MAX + 64)

/* Engine records that account for entries deleted at the head (retention.c, seclog.c). */
static const char *const head_topics[] = {"LOG/RETENTION", "LOG/EVICTED", "LOG/SEGMENT_SET_ASIDE"};

struct verifier {
    struct seclog_verify_result res;
    bool failed;
    size_t seg_no; /* 1-based number of the segment being walked, for messages */
    bool started;  /* a segment set the expectations below */
    uint64_t next_seq;
    uint8_t hash[SECLOG__HASH_BYTES]; /* last entry's hash, or the first header's anchor */
    uint64_t upto_max;                /* R: the highest UpToSeq of the head records */
    bool any_seal;
    uint64_t last_epoch;
    bool have_key;
    uint64_t key_epoch;
    uint8_t key[SECLOG_KEY_BYTES];
    char *strbuf;
    struct seclog__hasher hasher;
};

__attribute__((format(printf, 3, 4))) static int fail(struct verifier *v, uint64_t seq,
                                                      const char *fmt, ...)
{
    va_list ap;

    if (v->failed)
        return 1;
    v->failed = true;
    v->res.ok = false;
    v->res.first_bad_seq = seq;
    va_start(ap, fmt);
    (void)vsnprintf(v->res.reason, sizeof(v->res.reason), fmt, ap);
    va_end(ap);
    return 1;
}

/* Parses a whole decimal UpToSeq value; false if it is not one. */
static bool parse_seq(const char *s, uint64_t *ret)
{
    uint64_t x = 0;

    if (!*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || x > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
            return false;
        x = x * 10 + (uint64_t)(*s - '0');
    }
    *ret = x;
    return true;
}

/* Notes the UpToSeq of a retention, eviction or set-aside record. */
static void note_head_record(struct verifier *v, const struct seclog__parsed *p)
{
    struct seclog_record rec;
    uint64_t upto;
    bool head = false;

    for (size_t i = 0; i < ARRAY_SIZE(head_topics); i++)
        head |= p->topic_len == strlen(head_topics[i]) &&
                memcmp(p->topic, head_topics[i], p->topic_len) == 0;
    if (!head || seclog__parsed_to_record(p, &rec, v->strbuf, STRBUF_BYTES) < 0)
        return;
    for (size_t i = 0; i < rec.n_params; i++)
        if (strcmp(rec.params[i].key, "UpToSeq") == 0 && parse_seq(rec.params[i].value, &upto) &&
            upto > v->upto_max)
            v->upto_max = upto;
}

static int check_entry(struct verifier *v, const struct seclog__parsed *p)
{
    if (p->seq > v->next_seq)
        return fail(v, v->next_seq, "records %" PRIu64 "..%" PRIu64 " missing in segment %zu",
                    v->next_seq, p->seq - 1, v->seg_no);
    if (p->seq < v->next_seq)
        return fail(v, p->seq,
                    "record %" PRIu64 ": out of sequence after record %" PRIu64
                    " (duplicated or reordered)",
                    p->seq, v->next_seq - 1);
    if (!seclog__chain_check_with(&v->hasher, p, v->hash))
        return fail(v, p->seq,
                    "record %" PRIu64 ": hash does not chain to record %" PRIu64
                    " (changed, inserted or reordered)",
                    p->seq, p->seq - 1);
    if (v->res.records == 0)
        v->res.first_seq = p->seq;
    v->res.records++;
    v->res.last_seq = p->seq;
    v->next_seq = p->seq + 1;
    memcpy(v->hash, p->hash, SECLOG__HASH_BYTES);
    note_head_record(v, p);
    return 0;
}

static int check_seal(struct verifier *v, const struct seclog__parsed *p)
{
    uint8_t mac[SECLOG__HASH_BYTES];

    if (p->seq != v->next_seq - 1 || memcmp(p->hash, v->hash, SECLOG__HASH_BYTES) != 0)
        return fail(v, p->seq, "record %" PRIu64 ": seal does not cover the entry before it",
                    p->seq);
    if (v->any_seal && p->epoch < v->last_epoch)
        return fail(v, p->seq, "record %" PRIu64 ": seal epoch %" PRIu64 " goes back from %" PRIu64,
                    p->seq, p->epoch, v->last_epoch);
    v->any_seal = true;
    v->last_epoch = p->epoch;
    v->res.seals_checked++;
    if (!v->have_key)
        return 0;
    if (p->epoch < v->key_epoch)
        return fail(v, p->seq,
                    "record %" PRIu64 ": seal epoch %" PRIu64
                    " is before the verification key's first epoch %" PRIu64,
                    p->seq, p->epoch, v->key_epoch);
    if (p->epoch - v->key_epoch > EVOLVE_MAX)
        return fail(v, p->seq,
                    "record %" PRIu64 ": seal epoch %" PRIu64 " is implausibly far ahead", p->seq,
                    p->epoch);
    for (; v->key_epoch < p->epoch; v->key_epoch++)
        seclog__seal_key_evolve(v->key);
    seclog__seal_mac(v->key, p->epoch, p->seq, p->hash, p->boot_id, mac);
    if (!mem_equal_ct(mac, p->mac, SECLOG__HASH_BYTES))
        return fail(v, p->seq, "record %" PRIu64 ": seal does not verify (epoch %" PRIu64 ")",
                    p->seq, p->epoch);
    return 0;
}

static int record_fn(const struct seclog__parsed *p, uint64_t offset, void *arg)
{
    struct verifier *v = arg;

    return p->kind == SECLOG__KIND_ENTRY ? check_entry(v, p) : check_seal(v, p);
}

/* Reads the header and, if there is a valid one, the footer of a segment file. */
static int read_blocks(const char *path, struct seclog__seg_header *ret_h,
                       struct seclog__seg_footer *ret_f, bool *ret_has_footer)
{
    uint8_t *block = malloc(SECLOG__HEADER_BYTES);
    int fd = io_open(path, O_RDONLY, 0), r = 0;
    ssize_t n;

    *ret_has_footer = false;
    if (fd < 0 || !block) {
        r = fd < 0 ? fd : -ENOMEM;
        goto out;
    }
    n = pread(fd, block, SECLOG__HEADER_BYTES, 0);
    if (n < 0)
        r = -errno;
    else if (n != SECLOG__HEADER_BYTES || seclog__header_decode(block, ret_h) < 0)
        r = -EBADMSG;
    if (r < 0)
        goto out;
    n = pread(fd, block, SECLOG__FOOTER_BYTES, ret_h->segment_bytes - SECLOG__FOOTER_BYTES);
    *ret_has_footer = n == SECLOG__FOOTER_BYTES && seclog__footer_decode(block, ret_f) == 0;
out:
    if (fd >= 0)
        (void)io_close(fd);
    free(block);
    return r;
}

/* Checks the header against what came before: seq continuity and the hash anchor. */
static int check_header(struct verifier *v, const struct seclog__seg_header *h)
{
    if (!v->started) {
        v->started = true;
        v->next_seq = h->first_seq;
        memcpy(v->hash, h->prev_hash, SECLOG__HASH_BYTES);
        return 0;
    }
    if (h->first_seq > v->next_seq)
        return fail(v, v->next_seq,
                    "records %" PRIu64 "..%" PRIu64 " missing between segment %zu and %zu",
                    v->next_seq, h->first_seq - 1, v->seg_no - 1, v->seg_no);
    if (h->first_seq < v->next_seq)
        return fail(v, h->first_seq,
                    "segment %zu starts at record %" PRIu64 " but segment %zu went up to %" PRIu64
                    " (overlap or reorder)",
                    v->seg_no, h->first_seq, v->seg_no - 1, v->next_seq - 1);
    if (memcmp(h->prev_hash, v->hash, SECLOG__HASH_BYTES) != 0)
        return fail(v, h->first_seq,
                    "segment %zu does not chain to segment %zu (its header's previous hash "
                    "differs)",
                    v->seg_no, v->seg_no - 1);
    return 0;
}

/* Returns 0, 1 when it found a problem (recorded in v), or a negative errno if the file could
 * not be read at all. */
static int walk_segment(struct verifier *v, const struct seclog__view_segment *s)
{
    struct seclog__seg_header h;
    struct seclog__seg_footer f;
    uint64_t bad = 0, records_before = v->res.records;
    bool has_footer;
    int r = read_blocks(s->path, &h, &f, &has_footer);

    if (r == -EBADMSG)
        return fail(v, v->started ? v->next_seq : s->first_seq,
                    "segment %zu (index %" PRIu64 "): header is damaged", v->seg_no, s->index);
    if (r < 0)
        return r;
    if (check_header(v, &h))
        return 0;
    r = seclog__file_foreach(s->path, s->limit, record_fn, v, &bad);
    if (r == -EBADMSG && !v->failed)
        return fail(v, v->next_seq,
                    "segment %zu: record after %" PRIu64 " at offset %" PRIu64
                    " is damaged (bad length or CRC)",
                    v->seg_no, v->next_seq - 1, bad);
    if (r < 0 && r != -EBADMSG)
        return r;
    /* A closed segment's footer must agree with its records. */
    if (!v->failed && has_footer && s->closed && (s->limit == 0 || s->limit >= f.data_end) &&
        (f.records != v->res.records - records_before ||
         (f.records > 0 && (f.last_seq != v->next_seq - 1 ||
                            memcmp(f.last_hash, v->hash, SECLOG__HASH_BYTES) != 0))))
        return fail(v, f.last_seq ? f.last_seq : v->next_seq,
                    "segment %zu: footer (%" PRIu64 " records up to %" PRIu64
                    ") does not match its records",
                    v->seg_no, f.records, f.last_seq);
    return 0;
}

/* The head: entries before the oldest present must be accounted for by a retention record,
 * or by a drop whose record the engine has queued but not yet made durable (head_upto). */
static void check_ends(struct verifier *v, uint64_t durable_seq, uint64_t head_upto)
{
    uint64_t last = v->started ? v->next_seq - 1 : 0;

    if (head_upto > v->upto_max)
        v->upto_max = head_upto;
    if (v->res.records > 0 && v->res.first_seq > 1 && v->res.first_seq > v->upto_max + 1) {
        fail(v, v->upto_max + 1,
             "records %" PRIu64 "..%" PRIu64 " missing at the head, and no retention record "
             "accounts for them",
             v->upto_max + 1, v->res.first_seq - 1);
        return;
    }
    if (last < durable_seq)
        fail(v, last + 1,
             "records %" PRIu64 "..%" PRIu64 " missing at the tail (durable up to %" PRIu64 ")",
             last + 1, durable_seq, durable_seq);
    else if (last > durable_seq)
        fail(v, durable_seq + 1, "records after %" PRIu64 " are present but were never durable",
             durable_seq);
}

int seclog_verify(struct seclog *log, const char *verification_key,
                  struct seclog_verify_result *ret)
{
    struct verifier *v = NULL;
    struct seclog__view view = {0};
    bool have_view = false;
    int64_t epoch_ms;
    int r = 0;

    if (!log || !ret)
        return -EINVAL;
    v = calloc(1, sizeof(*v));
    if (!v)
        return -ENOMEM;
    v->res.ok = true;
    v->res.seals_unchecked = verification_key == NULL;
    if (verification_key) {
        r = seclog__verification_key_parse(verification_key, &v->key_epoch, &epoch_ms, v->key);
        if (r < 0)
            goto out;
        v->have_key = true;
    }
    (void)seclog__hasher_init(&v->hasher); /* without it, each record makes its own context */
    v->strbuf = malloc(STRBUF_BYTES);
    if (!v->strbuf) {
        r = -ENOMEM;
        goto out;
    }
    r = seclog__snapshot(log, &view);
    if (r < 0)
        goto out;
    have_view = true;
    for (size_t i = 0; i < view.n && !v->failed; i++) {
        v->seg_no = i + 1;
        v->res.segments++;
        r = walk_segment(v, &view.segs[i]);
        if (r < 0)
            goto out;
    }
    r = 0;
    if (!v->failed)
        check_ends(v, view.durable_seq, view.head_upto);
    *ret = v->res;
out:
    if (have_view)
        seclog__view_done(&view);
    explicit_bzero(v->key, sizeof(v->key));
    seclog__hasher_done(&v->hasher);
    free(v->strbuf);
    free(v);
    return r;
}
