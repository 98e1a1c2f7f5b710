/* reader: seclog_query(), the filtered walk over durable entries, oldest or newest first.
 *
 * The engine hands out a snapshot of the segments (seclog__snapshot): each with a read limit
 * below which everything is durable, plus the last durable seq. This file reads the files
 * itself, through seclog__file_foreach, and never touches the engine's state.
 *
 * Invariants:
 *  1. Only entries (never seals) with seq <= the snapshot's durable_seq reach the callback,
 *     and each at most once, in seq order (ascending, or descending for newest_first).
 *  2. A damaged record ends the walk of its segment only: the query goes on with the next
 *     one (docs/security-log.md, "Rules for readers"). A segment that vanished meanwhile
 *     (retention) is skipped the same way.
 *  3. Memory is bounded by one segment: newest-first keeps the offsets of one segment's
 *     matches (at most twice the remaining limit) and re-reads each record by offset.
 *  4. The callback never runs with a lock held; the snapshot is released before returning. */
#include "seclog/seclog_internal.h"

#include "base/base.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Room for every string of the largest record plus their terminators (format.c). */
#define STRBUF_BYTES (SECLOG__RECORD_MAX + 64)

struct query {
    const struct seclog_filter *f;
    size_t prefix_len;
    uint64_t durable_seq;
    int (*fn)(const struct seclog_record *r, void *arg);
    void *arg;
    char *strbuf;
    uint8_t *recbuf; /* newest first: one record read back by offset */
    size_t emitted;
    bool stop;
    int error;
    uint64_t *offs; /* newest first: offsets of one segment's matches, ascending */
    size_t n_offs, cap_offs;
};

static bool matches(const struct query *q, const struct seclog__parsed *p)
{
    const struct seclog_filter *f = q->f;

    if (p->kind != SECLOG__KIND_ENTRY || p->seq > q->durable_seq || p->seq <= f->after_seq)
        return false;
    if (f->before_seq && p->seq >= f->before_seq)
        return false;
    if ((f->from_ms && p->time_ms < f->from_ms) || (f->to_ms && p->time_ms > f->to_ms))
        return false;
    if (f->min_severity >= 0 && p->severity < f->min_severity)
        return false;
    return q->prefix_len == 0 ||
           (p->topic_len >= q->prefix_len && memcmp(p->topic, f->topic_prefix, q->prefix_len) == 0);
}

/* Hands one record to the callback; sets q->stop at the limit or when the callback asks. */
static void emit(struct query *q, const struct seclog__parsed *p)
{
    struct seclog_record rec;
    int r = seclog__parsed_to_record(p, &rec, q->strbuf, STRBUF_BYTES);

    if (r < 0) {
        q->error = r;
        q->stop = true;
        return;
    }
    q->emitted++;
    if (q->fn(&rec, q->arg) != 0 || (q->f->limit && q->emitted >= q->f->limit))
        q->stop = true;
}

/* Could the segment hold a match? Uses only the seq range, which is ordered. */
static bool segment_may_match(const struct query *q, const struct seclog__view_segment *s)
{
    if (s->records == 0 || !s->path || s->last_seq <= q->f->after_seq ||
        s->first_seq > q->durable_seq)
        return false;
    return q->f->before_seq == 0 || s->first_seq < q->f->before_seq;
}

static int forward_fn(const struct seclog__parsed *p, uint64_t offset, void *arg)
{
    struct query *q = arg;

    if (p->kind == SECLOG__KIND_ENTRY &&
        (p->seq > q->durable_seq || (q->f->before_seq && p->seq >= q->f->before_seq)))
        return 1; /* entries are in seq order: nothing later in this segment matches */
    if (matches(q, p))
        emit(q, p);
    return q->stop;
}

/* Newest first: remembers offsets; with a limit, only the newest ones can be needed. */
static int collect_fn(const struct seclog__parsed *p, uint64_t offset, void *arg)
{
    struct query *q = arg;
    size_t keep = q->f->limit ? q->f->limit - q->emitted : 0;

    if (p->kind == SECLOG__KIND_ENTRY &&
        (p->seq > q->durable_seq || (q->f->before_seq && p->seq >= q->f->before_seq)))
        return 1;
    if (!matches(q, p))
        return 0;
    if (keep && q->n_offs == 2 * keep) {
        memmove(q->offs, q->offs + keep, keep * sizeof(*q->offs));
        q->n_offs = keep;
    }
    if (q->n_offs == q->cap_offs) {
        size_t cap = q->cap_offs ? 2 * q->cap_offs : 256;
        uint64_t *v = realloc(q->offs, cap * sizeof(*v));

        if (!v) {
            q->error = -ENOMEM;
            return 1;
        }
        q->offs = v;
        q->cap_offs = cap;
    }
    q->offs[q->n_offs++] = offset;
    return 0;
}

/* Reads the collected records back, newest first. A record that no longer parses (the file
 * changed under us) is skipped like any damaged record. */
static int emit_backwards(struct query *q, const struct seclog__view_segment *s)
{
    int fd = io_open(s->path, O_RDONLY, 0);

    if (fd < 0)
        return fd == -ENOENT ? 0 : fd;
    for (size_t i = q->n_offs; i > 0 && !q->stop; i--) {
        uint64_t off = q->offs[i - 1];
        size_t want =
            s->limit - off < SECLOG__RECORD_MAX ? (size_t)(s->limit - off) : SECLOG__RECORD_MAX;
        struct seclog__parsed p;
        ssize_t n;

        do {
            n = pread(fd, q->recbuf, want, (off_t)off);
        } while (n < 0 && errno == EINTR);
        if (n > 0 && seclog__record_parse(q->recbuf, (size_t)n, &p) == 0 && matches(q, &p))
            emit(q, &p);
    }
    (void)io_close(fd);
    return 0;
}

static int query_segment(struct query *q, const struct seclog__view_segment *s)
{
    uint64_t bad = 0;
    int r;

    if (!q->f->newest_first) {
        r = seclog__file_foreach(s->path, s->limit, forward_fn, q, &bad);
    } else {
        q->n_offs = 0;
        r = seclog__file_foreach(s->path, s->limit, collect_fn, q, &bad);
        if (q->error == 0 && (r == 0 || r == -EBADMSG || r == -ENOENT)) {
            int r2 = emit_backwards(q, s);

            r = r2 < 0 ? r2 : r;
        }
    }
    if (q->error < 0)
        return q->error;
    /* Invariant 2: damage or a vanished segment costs only that segment. */
    return r == -EBADMSG || r == -ENOENT ? 0 : r;
}

int seclog_query(struct seclog *log, const struct seclog_filter *f,
                 int (*fn)(const struct seclog_record *r, void *arg), void *arg)
{
    static const struct seclog_filter any = {.min_severity = -1};
    struct seclog__view v = {0};
    struct query q = {0};
    bool have_view = false;
    int r;

    if (!log || !fn)
        return -EINVAL;
    q.f = f ? f : &any;
    q.fn = fn;
    q.arg = arg;
    q.prefix_len = q.f->topic_prefix ? strnlen(q.f->topic_prefix, SECLOG_TOPIC_MAX + 1) : 0;
    if (q.prefix_len > SECLOG_TOPIC_MAX)
        return -EINVAL;
    q.strbuf = malloc(STRBUF_BYTES);
    q.recbuf = q.f->newest_first ? malloc(SECLOG__RECORD_MAX) : NULL;
    if (!q.strbuf || (q.f->newest_first && !q.recbuf)) {
        r = -ENOMEM;
        goto out;
    }
    r = seclog__snapshot(log, &v);
    if (r < 0)
        goto out;
    have_view = true;
    q.durable_seq = v.durable_seq;
    for (size_t i = 0; i < v.n && !q.stop && r == 0; i++) {
        const struct seclog__view_segment *s = &v.segs[q.f->newest_first ? v.n - 1 - i : i];

        if (segment_may_match(&q, s))
            r = query_segment(&q, s);
    }
    if (r == 0)
        r = q.emitted > INT_MAX ? INT_MAX : (int)q.emitted;
out:
    if (have_view)
        seclog__view_done(&v);
    free(q.offs);
    free(q.recbuf);
    free(q.strbuf);
    return r;
}
