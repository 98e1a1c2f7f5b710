/* seclog: opening and closing a log, the durable snapshot for readers, status and commands,
 * and the enum tables.
 *
 * Opening (TIP1-A_4508: boot always completes):
 *
 *     mkdir DIR -> list segments -> all but the newest: header + footer only
 *       (bad: set aside, LOG/SEGMENT_SET_ASIDE)
 *     -> the newest: open_tail (scan; torn end zeroed: LOG/TORN_TAIL; damaged: set aside,
 *        LOG/SEGMENT_SET_ASIDE, anchor on the last good entry known)
 *     -> no usable tail: a new segment anchored there (seq 1, zero hash for a new log)
 *     -> seal keys (seal.c) -> reserve -> queue the LOG records -> start the writer
 *
 * Invariants:
 *  1. seclog_open fails only for a bad config, an unusable directory or no memory; disk
 *     trouble in segments ends as set-aside files, LOG records and an unwritable status.
 *  2. Nothing on disk is repaired in place here; damaged segments keep their bytes under
 *     "<name>.damaged".
 *  3. Sequence numbers never go back: a new segment continues after the newest good entry
 *     known at open.
 *  4. A snapshot is taken under the lock in one piece: readers get the published (durable)
 *     limit of every segment and the durable seq that goes with them.
 *
 * Threads: seclog_open/seclog_close run on the loop (the status event belongs to it) and no
 * append may run or start once close has begun; the status, snapshot and command functions
 * are thread-safe. */
#include "seclog/seclog_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/event.h>

#include "base/base.h"

static const char *const severity_names[SECLOG_SEVERITY_MAX] = {"Info", "Warning", "Error",
                                                                "Fatal"};
static const char *const type_names[SECLOG_TYPE_MAX] = {"Operation", "Security", "Infrastructure",
                                                        "Business", "Other"};

const char *seclog_severity_to_string(enum seclog_severity s)
{
    return s < SECLOG_SEVERITY_MAX ? severity_names[s] : "Unknown";
}

int seclog_severity_from_string(const char *s, enum seclog_severity *ret)
{
    for (size_t i = 0; s && i < SECLOG_SEVERITY_MAX; i++) {
        if (strcasecmp(s, severity_names[i]) == 0) {
            *ret = (enum seclog_severity)i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *seclog_type_to_string(enum seclog_type t)
{
    return t < SECLOG_TYPE_MAX ? type_names[t] : "Unknown";
}

/* ---- readers and status ----------------------------------------------------------------- */

void seclog__view_done(struct seclog__view *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++)
        free(v->segs[i].path);
    free(v->segs);
    *v = (struct seclog__view){0};
}

int seclog__snapshot(struct seclog *log, struct seclog__view *ret)
{
    struct seclog__view v = {0};
    int r = 0;

    if (!log || !ret)
        return -EINVAL;
    pthread_mutex_lock(&log->lock);
    v.segs = calloc(log->n_segs ? log->n_segs : 1, sizeof(*v.segs));
    if (!v.segs) {
        r = -ENOMEM;
        goto out;
    }
    for (; v.n < log->n_segs; v.n++) {
        v.segs[v.n] = log->segs[v.n].pub;
        v.segs[v.n].path = strdup(log->segs[v.n].pub.path);
        if (!v.segs[v.n].path) {
            r = -ENOMEM;
            goto out;
        }
    }
    v.durable_seq = log->durable_seq;
    for (size_t i = 0; i < log->n_notes; i++)
        if (log->notes[i].record_seq > log->durable_seq && log->notes[i].upto > v.head_upto)
            v.head_upto = log->notes[i].upto;
    v.dir = log->dir;
    *ret = v;
    v = (struct seclog__view){0};
out:
    pthread_mutex_unlock(&log->lock);
    seclog__view_done(&v);
    return r;
}

void seclog_status_get(struct seclog *log, struct seclog_status *ret)
{
    if (!log || !ret)
        return;
    pthread_mutex_lock(&log->lock);
    ret->writable = log->writable;
    ret->last_error = log->last_error;
    ret->overflow_events = log->overflow_events;
    ret->dropped = log->dropped;
    ret->last_durable_seq = log->durable_seq;
    pthread_mutex_unlock(&log->lock);
}

void seclog_set_retention(struct seclog *log, int64_t retention_ms)
{
    if (!log)
        return;
    pthread_mutex_lock(&log->lock);
    log->retention_ms = retention_ms;
    log->cmd_retention = true;
    pthread_cond_signal(&log->work_cond);
    pthread_mutex_unlock(&log->lock);
}

void seclog_retention_run(struct seclog *log)
{
    if (!log)
        return;
    pthread_mutex_lock(&log->lock);
    log->cmd_retention = true;
    pthread_cond_signal(&log->work_cond);
    pthread_mutex_unlock(&log->lock);
}

/* Runs on the loop after the writer activated the event. */
static void status_cb(evutil_socket_t fd, short what, void *arg)
{
    struct seclog *log = arg;
    struct seclog_status st;

    seclog_status_get(log, &st);
    log->on_status(log, &st, log->arg);
}

/* ---- open and close --------------------------------------------------------------------- */

/* Frees a log whose writer is not running; accepts every half-built state. */
static struct seclog *log_free(struct seclog *log, bool locks_ready)
{
    if (!log)
        return NULL;
    if (locks_ready) {
        /* Durable waiters still inside seclog_append_durable get -EIO; those that timed out
         * meanwhile come for the lock and must leave before it goes away. */
        pthread_mutex_lock(&log->lock);
        log->cmd_stop = true;
        (void)seclog__waiters_settle_locked(log, 0, UINT64_MAX, -EIO, NULL);
        while (log->waiters_leaving > 0)
            pthread_cond_wait(&log->durable_cond, &log->lock);
        pthread_mutex_unlock(&log->lock);
    }
    for (size_t i = 0; i < log->w_batch_n; i++)
        free(log->w_batch[i].rec);
    free(log->w_stage);
    seclog__hasher_done(&log->w_hasher);
    seclog__queue_done(log);
    seclog__fold_done(log);
    /* No footer on the tail: the next open continues in it (a footer would make every
     * restart start a segment, and a few restarts evict a small budget). */
    for (size_t i = 0; i < log->n_segs; i++)
        seclog__segment_free(log->segs[i].seg);
    free(log->segs);
    seclog__trash_done(log);
    seclog__seal_close(log);
    if (log->status_ev)
        event_free(log->status_ev);
    if (locks_ready) {
        pthread_mutex_destroy(&log->lock);
        pthread_cond_destroy(&log->work_cond);
        pthread_cond_destroy(&log->durable_cond);
    }
    free(log->dir);
    free(log->name);
    free(log->key_path);
    free(log);
    return NULL;
}

static int locks_init(struct seclog *log)
{
    pthread_condattr_t attr;
    int r;

    r = pthread_condattr_init(&attr);
    if (r != 0)
        return -r;
    /* Deadlines are on the monotonic clock: wall-clock steps must not stretch a wait. */
    r = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (r == 0)
        r = pthread_mutex_init(&log->lock, NULL);
    if (r == 0 && (r = pthread_cond_init(&log->work_cond, &attr)) != 0)
        pthread_mutex_destroy(&log->lock);
    if (r == 0 && (r = pthread_cond_init(&log->durable_cond, &attr)) != 0) {
        pthread_cond_destroy(&log->work_cond);
        pthread_mutex_destroy(&log->lock);
    }
    pthread_condattr_destroy(&attr);
    return -r;
}

static int config_apply(struct seclog *log, const struct seclog_config *cfg)
{
    uint32_t seg_bytes = cfg->segment_bytes ? cfg->segment_bytes : SECLOG_SEGMENT_BYTES_DEFAULT;
    uint8_t seal[SECLOG__RECORD_FIXED * 2];
    uint8_t zero[SECLOG__HASH_BYTES] = {0};
    size_t seal_len = 0, room;

    if (!cfg->dir || !cfg->dir[0] || seg_bytes % 4096 != 0 ||
        seg_bytes < SECLOG__SEGMENT_BYTES_MIN ||
        cfg->capacity_bytes / seg_bytes < SECLOG__SEGMENTS_MIN || cfg->retention_ms < 0 ||
        cfg->seal_epoch_ms < 0 || cfg->fold_window_ms < 0)
        return -EINVAL;
    if (seclog__seal_encode(0, 0, zero, zero, 0, zero, seal, sizeof(seal), &seal_len) < 0)
        return -EINVAL;
    log->dir = strdup(cfg->dir);
    log->name = strdup(cfg->name ? cfg->name : "seclog");
    log->key_path = cfg->verification_key_path ? strdup(cfg->verification_key_path) : NULL;
    if (!log->dir || !log->name || (cfg->verification_key_path && !log->key_path))
        return -ENOMEM;
    log->capacity_bytes = cfg->capacity_bytes;
    log->segment_bytes = seg_bytes;
    log->segments_max = cfg->capacity_bytes / seg_bytes;
    log->retention_ms = cfg->retention_ms;
    log->fold_window_ms =
        cfg->fold_window_ms ? cfg->fold_window_ms : SECLOG__FOLD_WINDOW_DEFAULT_MS;
    log->w_seal.epoch_ms = cfg->seal_epoch_ms ? cfg->seal_epoch_ms : SECLOG__SEAL_EPOCH_DEFAULT_MS;
    log->seal_len = seal_len;
    /* The largest entry must fit an empty segment together with its seal. */
    room = seg_bytes - SECLOG__HEADER_BYTES - SECLOG__FOOTER_BYTES - seal_len;
    log->record_max = room < SECLOG__RECORD_MAX ? room : SECLOG__RECORD_MAX;
    log->base = cfg->base;
    log->on_status = cfg->on_status;
    log->arg = cfg->arg;
    return 0;
}

/* The scan of the directory at open, below. */
static int open_scan(struct seclog *log, bool *ret_has_data);

int seclog_open(const struct seclog_config *cfg, struct seclog **ret_log)
{
    struct seclog *log = NULL;
    bool locks = false, has_data = false, key_new = false;
    int r;

    if (!cfg || !ret_log)
        return -EINVAL;
    log = calloc(1, sizeof(*log));
    if (!log)
        return -ENOMEM;
    log->gc_signal_at = SIZE_MAX; /* no writer filling a batch yet */
    log->signal_at = 1;           /* the writer waits on an empty ring */
    r = config_apply(log, cfg);
    if (r == 0)
        r = locks_init(log);
    locks = r == 0;
    if (r == 0)
        r = seclog__queue_init(log);
    if (r == 0)
        r = fs_mkdir_p(log->dir, 0700);
    if (r == 0)
        r = rand_bytes(log->boot_id, sizeof(log->boot_id));
    if (r < 0)
        goto out;
    log->writable = true;
    r = open_scan(log, &has_data);
    if (r < 0)
        goto out;
    if (!log->w_tail) {
        r = seclog__tail_create(log);
        if (r == -ENOMEM)
            goto out;
        if (r < 0) {
            /* Boot completes; the writer retries and the status says why. */
            log->writable = false;
            log->last_error = r;
            log_msg(LOG_LEVEL_ERROR, "seclog '%s': cannot create a segment: %s, retrying",
                    log->name, strerror(-r));
        }
    }
    r = seclog__seal_open(log, has_data, &key_new);
    if (r < 0)
        log_msg(LOG_LEVEL_WARNING, "seclog '%s': seal keys unusable (%s), writing without seals",
                log->name, strerror(-r));
    if (key_new)
        (void)seclog__log_record(log, SECLOG_SEVERITY_WARNING, SECLOG_TYPE_SECURITY,
                                 "LOG/SEAL_KEY_NEW", NULL, 0, NULL);
    r = seclog__reserve_update(log, 0);
    if (r == -ENOSPC)
        log_msg(LOG_LEVEL_WARNING, "seclog '%s': no space to reserve the budget, continuing",
                log->name);
    if (log->base && log->on_status) {
        log->status_ev = event_new(log->base, -1, 0, status_cb, log);
        if (!log->status_ev) {
            r = -ENOMEM;
            goto out;
        }
    }
    r = seclog__writer_start(log);
    if (r < 0)
        goto out;
    *ret_log = log;
    log = NULL;
out:
    (void)log_free(log, locks);
    return r;
}

struct seclog *seclog_close(struct seclog *log)
{
    if (!log)
        return NULL;
    seclog__writer_stop(log, false);
    return log_free(log, true);
}

void seclog__crash_for_tests(struct seclog *log)
{
    if (!log)
        return;
    seclog__writer_stop(log, true);
    (void)log_free(log, true);
}

/* ---- the scan at open ------------------------------------------------------------------- */

struct note {
    bool torn;      /* LOG/TORN_TAIL, else LOG/SEGMENT_SET_ASIDE */
    uint64_t index; /* segment */
    uint64_t from, upto, bytes;
};

struct notes {
    struct note *v;
    size_t n, cap;
};

static int note_add(struct notes *ns, struct note nt)
{
    if (ns->n == ns->cap) {
        size_t cap = ns->cap ? 2 * ns->cap : 4;
        struct note *v = realloc(ns->v, cap * sizeof(*v));

        if (!v)
            return -ENOMEM;
        ns->v = v;
        ns->cap = cap;
    }
    ns->v[ns->n++] = nt;
    return 0;
}

static void note_record(struct seclog *log, const struct note *nt)
{
    char index_s[24], a_s[24], b_s[24];
    struct seclog_param p[3] = {{"Segment", index_s}};
    size_t n = 1;

    (void)snprintf(index_s, sizeof(index_s), "%" PRIu64, nt->index);
    if (nt->torn) {
        (void)snprintf(a_s, sizeof(a_s), "%" PRIu64, nt->bytes);
        p[n++] = (struct seclog_param){"Bytes", a_s};
        (void)seclog__log_record(log, SECLOG_SEVERITY_WARNING, SECLOG_TYPE_OPERATION,
                                 "LOG/TORN_TAIL", p, n, NULL);
        return;
    }
    if (nt->from) {
        (void)snprintf(a_s, sizeof(a_s), "%" PRIu64, nt->from);
        p[n++] = (struct seclog_param){"FromSeq", a_s};
    }
    if (nt->upto && nt->upto >= nt->from) {
        (void)snprintf(b_s, sizeof(b_s), "%" PRIu64, nt->upto);
        p[n++] = (struct seclog_param){"UpToSeq", b_s};
    }
    (void)seclog__log_record(log, SECLOG_SEVERITY_ERROR, SECLOG_TYPE_SECURITY,
                             "LOG/SEGMENT_SET_ASIDE", p, n, NULL);
}

/* The anchor for what follows seg: its last entry, or its header's if it has none. */
static void anchor_on(struct seclog *log, const struct seclog__segment *seg)
{
    bool empty = seg->records == 0;

    log->w_last_seq = empty ? seg->hdr.first_seq - 1 : seg->last_seq;
    memcpy(log->w_last_hash, empty ? seg->hdr.prev_hash : seg->last_hash, SECLOG__HASH_BYTES);
}

struct prefix {
    uint64_t first_seq, last_seq;
    uint8_t last_hash[SECLOG__HASH_BYTES];
};

static int prefix_fn(const struct seclog__parsed *p, uint64_t offset, void *arg)
{
    struct prefix *px = arg;

    if (p->kind != SECLOG__KIND_ENTRY)
        return 0;
    if (!px->first_seq)
        px->first_seq = p->seq;
    px->last_seq = p->seq;
    memcpy(px->last_hash, p->hash, SECLOG__HASH_BYTES);
    return 0;
}

/* Reads and checks the header block of the file at path. */
static bool header_read(const char *path, struct seclog__seg_header *ret)
{
    uint8_t *block = malloc(SECLOG__HEADER_BYTES);
    int fd = io_open(path, O_RDONLY, 0);
    bool ok = block && fd >= 0 &&
              pread(fd, block, SECLOG__HEADER_BYTES, 0) == SECLOG__HEADER_BYTES &&
              seclog__header_decode(block, ret) == 0;

    if (fd >= 0)
        (void)io_close(fd);
    free(block);
    return ok;
}

/* Moves the anchor to a damaged tail's last good entry (checked by the tail scan), or to its
 * header if none is good, when that is newer than what the segments before said. */
static void anchor_on_damaged(struct seclog *log, const char *path, uint64_t damaged_at,
                              struct note *nt)
{
    struct seclog__seg_header h;
    struct prefix px = {0};

    if (damaged_at < SECLOG__HEADER_BYTES || !header_read(path, &h))
        return; /* the header itself is bad */
    if (h.first_seq > log->w_last_seq + 1) {
        nt->from = h.first_seq;
        log->w_last_seq = h.first_seq - 1;
        memcpy(log->w_last_hash, h.prev_hash, SECLOG__HASH_BYTES);
    }
    if (damaged_at > SECLOG__HEADER_BYTES &&
        seclog__file_foreach(path, damaged_at, prefix_fn, &px, NULL) == 0 &&
        px.last_seq > log->w_last_seq) {
        nt->from = px.first_seq;
        nt->upto = px.last_seq;
        log->w_last_seq = px.last_seq;
        memcpy(log->w_last_hash, px.last_hash, SECLOG__HASH_BYTES);
    }
}

/* Sets segment index aside; a damaged tail first tells what it still knows. */
static int set_aside(struct seclog *log, uint64_t index, const struct seclog__tail_report *rep,
                     bool tail, struct notes *ns)
{
    struct seclog__segment probe = {.index = index, .fd = -1};
    struct note nt = {.index = index, .from = log->w_last_seq + 1};
    int r;

    probe.path = seclog__segment_path(log->dir, index);
    if (!probe.path)
        return -ENOMEM;
    if (tail && rep->damaged)
        anchor_on_damaged(log, probe.path, rep->damaged_at, &nt);
    r = seclog__segment_set_aside(&probe);
    log_msg(LOG_LEVEL_ERROR, "seclog '%s': segment %" PRIu64 " is damaged, %s", log->name, index,
            r == 0 ? "set aside" : "and could not be set aside");
    free(probe.path);
    return note_add(ns, nt);
}

static int open_one(struct seclog *log, uint64_t index, bool tail, struct notes *ns)
{
    struct seclog__tail_report rep = {0};
    struct seclog__segment *seg = NULL;
    struct note *last = ns->n ? &ns->v[ns->n - 1] : NULL;
    int r;

    r = tail ? seclog__segment_open_tail(log->dir, index, &seg, &rep)
             : seclog__segment_open_closed(log->dir, index, &seg, &rep);
    if (r == -ENOMEM)
        return r;
    if (r < 0)
        return set_aside(log, index, &rep, tail, ns);
    if (rep.torn) {
        log_msg(LOG_LEVEL_WARNING,
                "seclog '%s': torn tail of segment %" PRIu64 " cut (%" PRIu64 " bytes)", log->name,
                index, rep.torn_bytes);
        r = note_add(ns, (struct note){.torn = true, .index = index, .bytes = rep.torn_bytes});
        if (r < 0)
            goto out;
    }
    /* What a set-aside segment before this one held ends where this one starts. */
    if (last && !last->torn && !last->upto && seg->hdr.first_seq > last->from)
        last->upto = seg->hdr.first_seq - 1;
    anchor_on(log, seg);
    if (tail && seg->fd >= 0)
        (void)seclog__segment_sync(seg); /* what we found is what readers may now see */
    r = seclog__segs_add(log, seg);
    if (r < 0)
        goto out;
    if (tail && !seg->closed)
        log->w_tail = seg;
    seg = NULL;
out:
    seclog__segment_free(seg);
    return r;
}

static int open_scan(struct seclog *log, bool *ret_has_data)
{
    struct notes ns = {0};
    uint64_t *idx = NULL;
    size_t n = 0;
    int r;

    r = seclog__dir_list(log->dir, &idx, &n);
    if (r < 0)
        return r;
    log->w_next_index = n ? idx[n - 1] + 1 : 1;
    for (size_t i = 0; i < n; i++) {
        r = open_one(log, idx[i], i == n - 1, &ns);
        if (r < 0)
            goto out;
    }
    log->next_seq = log->w_last_seq + 1;
    log->w_synced_seq = log->w_last_seq;
    log->durable_seq = log->w_last_seq;
    for (size_t i = 0; i < ns.n; i++)
        note_record(log, &ns.v[i]);
    *ret_has_data = n > 0;
out:
    free(ns.v);
    free(idx);
    return r;
}
