/* health: the core tells the launcher it is healthy, and reports how its boot ended an update.
 *
 * Healthy (issue #6) means: bootup complete (the caller starts the check at completion), the
 * management and SOAP listeners accept a connection, retention ran once and the security log
 * committed a record. The check runs on the worker pool (connects, a durable append) and is
 * retried every HEALTH_RETRY_MS until it passes.
 *
 * Invariants:
 *  1. "healthy" is written at most once, and only after the boot's report (KSR/UPDATE/END of
 *     a committed update or of a rollback) is durable in the security log and the history: the
 *     launcher then marks the report done (launcher.c mark_good), so a report is logged at
 *     least once and, unless the core dies in between, exactly once.
 *  2. Retention is requested before the durable record is queued: the writer applies a
 *     pending retention before it takes the next batch, so the record's commit proves the
 *     retention ran.
 *  3. The check sends nothing to the listeners (no probe connection): it would be logged as a
 *     failed TLS handshake. */
#include "update/update_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "events/events.h"
#include "seclog/seclog.h"
#include "state/state.h"

#define HEALTH_RETRY_MS 200
#define DURABLE_TIMEOUT_MS 5000
#define ADDRS_MAX 4

enum report { REPORT_NONE, REPORT_COMMIT, REPORT_ROLLBACK };

struct upd__health {
    struct upd *u;
    struct event *timer;
    char *addrs[ADDRS_MAX];
    size_t n_addrs;
    bool busy;
    /* the job (worker side reads these and the copies below only) */
    struct seclog *log;
    enum report report;
    struct upd_bcb bcb;
    char running_version[UPD_VERSION_MAX];
    char slot[4];
    char *data_dir;
    int result;
    char failure[160];
};

struct upd__health *upd__health_free(struct upd__health *h)
{
    if (!h)
        return NULL;
    if (h->timer)
        event_free(h->timer);
    for (size_t i = 0; i < h->n_addrs; i++)
        free(h->addrs[i]);
    free(h->data_dir);
    free(h);
    return NULL;
}

/* Is a TCP socket listening on the port (any address, IPv4 or IPv6)? */
static bool port_listens(const char *table, uint16_t port)
{
    FILE *fp = fopen(table, "re");
    char line[512];
    bool found = false;

    if (!fp)
        return false;
    while (!found && fgets(line, sizeof(line), fp)) {
        unsigned local_port = 0, state = 0;
        char *colon = strchr(line, ':'); /* after the slot number */
        char *local = colon ? strchr(colon + 1, ':') : NULL;

        /* "  0: 0100007F:1F90 00000000:0000 0A ...": local address:port, remote, state. */
        if (local && sscanf(local + 1, "%x %*s %x", &local_port, &state) == 2 &&
            local_port == port && state == 0x0A)
            found = true;
    }
    (void)fclose(fp);
    return found;
}

/* Invariant 3: a listener accepts when the kernel lists its socket in LISTEN state; the
 * kernel completes a client's handshake for it, which is all a probing connect would show.
 * A probe would look like a failed TLS handshake to the listener (a security-log record). */
static int listener_check(const char *addr_port)
{
    char host[256];
    uint16_t port = 0;
    int r = str_split_addr_port(addr_port, host, sizeof(host), &port);

    if (r < 0)
        return r;
    if (port_listens("/proc/net/tcp", port) || port_listens("/proc/net/tcp6", port))
        return 0;
    return -ECONNREFUSED;
}

/* Worker: the listeners, then the report and the durable record. */
static void check_work(void *arg)
{
    struct upd__health *h = arg;
    const struct upd_bcb *b = &h->bcb;
    char code[8];
    int r = 0;

    h->failure[0] = '\0';
    for (size_t i = 0; i < h->n_addrs && r == 0; i++) {
        r = listener_check(h->addrs[i]);
        if (r < 0)
            (void)snprintf(h->failure, sizeof(h->failure), "'%s' does not listen: %s", h->addrs[i],
                           strerror(-r));
    }
    if (r == 0 && h->report == REPORT_COMMIT) {
        const char *kv[] = {"Target",       "Konnektor",           "Result",
                            "Success",      "FWVersion",           b->update_to_version,
                            "OldFWVersion", b->update_from_version};

        upd__seclog(h->log, "KSR/UPDATE/END", EVT_SEVERITY_INFO, kv, ARRAY_SIZE(kv));
        (void)upd_history_append(h->data_dir,
                                 &(struct upd_history_entry){.action = "commit",
                                                             .from_version = b->update_from_version,
                                                             .to_version = b->update_to_version,
                                                             .slot = h->slot,
                                                             .result = "ok",
                                                             .message = "the new firmware "
                                                                        "booted healthy"});
    } else if (r == 0 && h->report == REPORT_ROLLBACK) {
        const char *kv[] = {"Target",          "Konnektor",
                            "Result",          "Failure",
                            "ErrorCode",       code,
                            "FWVersion",       h->running_version,
                            "FailedFWVersion", b->fallback_from_version,
                            "Reason",          b->fallback_reason};

        (void)snprintf(code, sizeof(code), "%d", UPD_CODE_APPLY_FAILED);
        upd__seclog(h->log, "KSR/UPDATE/END", EVT_SEVERITY_ERROR, kv, ARRAY_SIZE(kv));
        (void)upd_history_append(
            h->data_dir, &(struct upd_history_entry){.action = "rollback",
                                                     .from_version = b->fallback_from_version,
                                                     .to_version = h->running_version,
                                                     .slot = h->slot,
                                                     .result = "failed",
                                                     .code = UPD_CODE_APPLY_FAILED,
                                                     .message = b->fallback_reason});
    }
    if (r == 0) {
        const char *kv[] = {"Slot", h->slot, "FWVersion", h->running_version};
        struct seclog_param p[2] = {{kv[0], kv[1]}, {kv[2], kv[3]}};
        struct seclog_entry e = {.severity = SECLOG_SEVERITY_INFO,
                                 .type = SECLOG_TYPE_OPERATION,
                                 .topic = "UPDATE/BOOT_HEALTHY",
                                 .params = p,
                                 .n_params = 2};

        r = seclog_append_durable(h->log, &e, DURABLE_TIMEOUT_MS, NULL);
        if (r == 0)
            upd_crash_point(h->u, "health");
        if (r < 0)
            (void)snprintf(h->failure, sizeof(h->failure), "the security log did not commit: %s",
                           strerror(-r));
    }
    h->result = r;
}

static void schedule(struct upd__health *h, int64_t ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

    (void)evtimer_add(h->timer, &tv);
}

static void report_on_loop(struct upd__health *h)
{
    struct upd *u = h->u;
    const struct upd_bcb *b = &h->bcb;
    char code[8];

    if (h->report == REPORT_COMMIT) {
        const char *kv[] = {"Target",  "Konnektor", "Result",
                            "Success", "FWVersion", b->update_to_version};

        upd__publish(u, "KSR/UPDATE/END", EVT_SEVERITY_INFO, kv, ARRAY_SIZE(kv));
        (void)ec_clear(u->deps.ecs, EC_OTHER_ERROR_STATE, UPD_EC_ROLLBACK_INSTANCE);
        log_msg(LOG_LEVEL_INFO, "update: firmware %s committed in slot %s", b->update_to_version,
                h->slot);
    } else if (h->report == REPORT_ROLLBACK) {
        const char *kv[] = {"Target",    "Konnektor",
                            "Result",    "Failure",
                            "ErrorCode", code,
                            "FWVersion", b->fallback_from_version,
                            "Reason",    b->fallback_reason};

        (void)snprintf(code, sizeof(code), "%d", UPD_CODE_APPLY_FAILED);
        upd__publish(u, "KSR/UPDATE/END", EVT_SEVERITY_ERROR, kv, ARRAY_SIZE(kv));
        log_msg(LOG_LEVEL_ERROR, "update: firmware %s was rolled back: %s",
                b->fallback_from_version, b->fallback_reason);
    }
}

static void check_done(void *arg)
{
    struct upd__health *h = arg;
    struct upd *u = h->u;

    h->busy = false;
    if (h->result < 0) {
        log_msg(LOG_LEVEL_DEBUG, "update: not yet healthy (%s), checking again",
                h->failure[0] ? h->failure : "listeners");
        schedule(h, HEALTH_RETRY_MS);
        return;
    }
    report_on_loop(h);
    u->health_done = true;
    if (u->health_fd >= 0) {
        /* Invariant 1: the report is durable; a launcher that left makes this EPIPE. */
        ssize_t n = write(u->health_fd, "healthy\n", 8);

        (void)n;
        (void)close(u->health_fd);
        u->health_fd = -1;
    }
    log_msg(LOG_LEVEL_INFO, "update: firmware %s healthy%s%s", h->running_version,
            h->slot[0] ? " in slot " : "", h->slot);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct upd__health *h = arg;
    struct upd *u = h->u;
    struct seclog *log = u->deps.seclog ? *u->deps.seclog : NULL;

    if (h->busy || u->health_done)
        return;
    if (!log) {
        schedule(h, HEALTH_RETRY_MS);
        return;
    }
    h->log = log;
    seclog_retention_run(log); /* invariant 2 */
    h->busy = true;
    if (worker_pool_submit(u->deps.workers, check_work, check_done, h) < 0) {
        h->busy = false;
        schedule(h, HEALTH_RETRY_MS);
    }
}

int upd_health_start(struct upd *u, const char *const *addrs)
{
    struct upd__health *h;
    const struct upd_bcb *b = &u->bcb;

    if (u->health)
        return -EALREADY;
    h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->u = u;
    u->health = h;
    h->timer = evtimer_new(u->deps.base, on_timer, h);
    h->data_dir = strdup(u->data_dir);
    if (!h->timer || !h->data_dir)
        return -ENOMEM;
    for (size_t i = 0; addrs && addrs[i] && h->n_addrs < ADDRS_MAX; i++) {
        h->addrs[h->n_addrs] = strdup(addrs[i]);
        if (!h->addrs[h->n_addrs])
            return -ENOMEM;
        h->n_addrs++;
    }
    h->bcb = *b;
    (void)str_copy(h->running_version, sizeof(h->running_version), u->manifest->fw_version);
    (void)str_copy(h->slot, sizeof(h->slot),
                   u->running < UPD_SLOT_MAX ? upd_slot_to_string(u->running) : "");
    /* What this boot reports: a commit when it runs the slot an install switched to, a
     * rollback when the launcher fell back and no core has reported it yet. */
    if (b->update_pending && u->running == b->active && u->health_fd >= 0)
        h->report = REPORT_COMMIT;
    else if (b->fallback && !b->fallback_reported && u->running == b->active)
        h->report = REPORT_ROLLBACK;
    schedule(h, 0);
    return 0;
}
