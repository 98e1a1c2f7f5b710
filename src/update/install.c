/* install: a bundle into the inactive slot, then the switch and the restart (TUC_KON_280).
 *
 *   upd_install_start ── KSR/UPDATE/START ──> check_work (worker): trust, firmware group,
 *   verify (writes nothing), core present, free space, security log
 *      ├─ refused ──> finish(): KSR/UPDATE/END failure 4183/4184/4185, history, done(code)
 *      └─ ok ──> write_work (worker): extract into .slot-X.staging, manifest, complete,
 *               rename to slot-X, switch the block, history
 *            ├─ failed ──> finish(): 4184, the old slot stays active
 *            └─ ok ──> finish(): done(0), and after RESTART_DELAY_MS the daemon restarts
 *
 * Invariants:
 *  1. Nothing is written before the bundle verified (bundle_verify writes nothing), and the
 *     active slot is never written: the target is the slot the running core did not start
 *     from.
 *  2. The block is switched only after the slot is complete (slots.c invariant 1).
 *  3. An install is refused while the security log cannot take its records
 *     (EC_Security_Log_Not_Writable or the log closed) or the disk lacks room: an update
 *     nobody can audit, or one that fills the disk the log lives on, puts the device at risk.
 *  4. done runs exactly once, on the loop; the gate never refuses an install (TAB_KON_504-01:
 *     software update is allowed in every critical state). */
#include "update/update_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <event2/event.h>

#include "events/events.h"
#include "seclog/seclog.h"
#include "state/state.h"

#define SPACE_MARGIN (16ULL * 1024 * 1024) /* bytes beyond 2x the bundle: logs keep room */
#define RESTART_DELAY_MS 300 /* lets the management reply leave before the listener closes */
#define GROUP_NAME "group.json"
#define GROUP_SIG_NAME "group.json.p7s"
#define MESSAGE_MAX (BUNDLE_MESSAGE_MAX + 128)

struct upd__install {
    struct upd *u;
    upd_install_done_fn done;
    void *arg;
    struct event *restart_timer;
    /* the job: the worker reads and writes these only */
    char *bundle;
    char *data_dir;
    char *fw;
    enum upd_slot target, from_slot;
    int64_t now_s;
    bool log_ok;
    char from_version[UPD_VERSION_MAX];
    char to_version[UPD_VERSION_MAX];
    int code;
    char message[MESSAGE_MAX];
};

struct upd__install *upd__install_free(struct upd__install *in)
{
    if (!in)
        return NULL;
    if (in->restart_timer)
        event_free(in->restart_timer);
    free(in->bundle);
    free(in->data_dir);
    free(in->fw);
    free(in);
    return NULL;
}

static int refuse(struct upd__install *in, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int refuse(struct upd__install *in, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(in->message, sizeof(in->message), fmt, ap);
    va_end(ap);
    in->code = code;
    return 0;
}

/* The vendor roots: every *.pem of DATA/trust/vendor/. */
static int load_trust(const char *data_dir, struct bundle_trust **ret)
{
    char *dir = fs_path_join(data_dir, "trust/vendor");
    struct bundle_trust *t = bundle_trust_new();
    DIR *d = dir ? opendir(dir) : NULL;
    struct dirent *de;

    if (!t) {
        free(dir);
        if (d)
            (void)closedir(d);
        return -ENOMEM;
    }
    while (d && (de = readdir(d))) {
        size_t n = strlen(de->d_name);
        char *path;

        if (n < 5 || strcmp(de->d_name + n - 4, ".pem") != 0)
            continue;
        path = fs_path_join(dir, de->d_name);
        if (path && bundle_trust_add_file(t, path) < 0)
            log_msg(LOG_LEVEL_WARNING, "update: '%s' is no vendor root, ignoring", path);
        free(path);
    }
    if (d)
        (void)closedir(d);
    free(dir);
    *ret = t;
    return 0;
}

/* The firmware group DATA/fw/group.json (+ .p7s), verified; *ret NULL when none is set. */
static int load_group(struct upd__install *in, const struct bundle_verify_opts *opts,
                      struct bundle_fwgroup **ret)
{
    char *doc_path = fs_path_join(in->fw, GROUP_NAME);
    char *sig_path = fs_path_join(in->fw, GROUP_SIG_NAME);
    char *doc = NULL, *sig = NULL;
    size_t doc_len = 0, sig_len = 0;
    struct bundle_result res;
    int r = -ENOMEM;

    *ret = NULL;
    if (!doc_path || !sig_path)
        goto out;
    r = fs_read_all(doc_path, BUNDLE_MANIFEST_MAX, &doc, &doc_len);
    if (r == -ENOENT) {
        r = 0;
        goto out;
    }
    if (r == 0)
        r = fs_read_all(sig_path, BUNDLE_SIGNATURE_MAX, &sig, &sig_len);
    if (r < 0) {
        r = refuse(in, BUNDLE_CODE_FIRMWARE_GROUP, "firmware group: cannot read '%s': %s",
                   r == -ENOENT ? GROUP_SIG_NAME : GROUP_NAME, strerror(-r));
        goto out;
    }
    r = bundle_fwgroup_verify(doc, doc_len, sig, sig_len, opts, ret, &res);
    if (r == 0 && res.code != 0)
        r = refuse(in, BUNDLE_CODE_FIRMWARE_GROUP, "firmware group document: %s", res.message);
out:
    free(sig);
    free(doc);
    free(sig_path);
    free(doc_path);
    return r;
}

static bool has_core(const struct bundle_manifest *m)
{
    for (size_t i = 0; i < m->n_payloads; i++) {
        if (strcmp(m->payloads[i].path, UPD__CORE_PATH) == 0 && m->payloads[i].executable)
            return true;
    }
    return false;
}

static void verify_opts(struct bundle_verify_opts *o, const struct bundle_trust *t,
                        const struct bundle_fwgroup *g, int64_t now_s)
{
    *o = (struct bundle_verify_opts){.trust = t,
                                     .now_s = now_s,
                                     .group = g,
                                     .product_vendor_id = UPD_PRODUCT_VENDOR_ID,
                                     .product_code = UPD_PRODUCT_CODE,
                                     .hw_version = UPD_HW_VERSION};
}

/* Worker: every check before anything is written (invariants 1 and 3). */
static void check_work(void *arg)
{
    struct upd__install *in = arg;
    struct bundle_trust *trust = NULL;
    struct bundle_fwgroup *group = NULL;
    struct bundle_manifest *m = NULL;
    struct bundle_verify_opts opts;
    struct bundle_result res;
    struct statvfs vfs;
    struct stat st;
    int r;

    in->code = 0;
    r = load_trust(in->data_dir, &trust);
    if (r == 0 && bundle_trust_count(trust) == 0)
        r = refuse(in, BUNDLE_CODE_INTEGRITY,
                   "chain: no vendor root in the trust space (DATA/trust/vendor/*.pem)");
    if (r < 0 || in->code)
        goto out;
    verify_opts(&opts, trust, NULL, in->now_s);
    r = load_group(in, &opts, &group);
    if (r < 0 || in->code)
        goto out;
    verify_opts(&opts, trust, group, in->now_s);
    r = bundle_verify(in->bundle, &opts, &m, &res);
    if (r < 0) {
        r = refuse(in, BUNDLE_CODE_INTEGRITY, "%s", res.message);
        goto out;
    }
    if (res.code) {
        r = refuse(in, res.code, "%s", res.message);
        goto out;
    }
    (void)str_copy(in->to_version, sizeof(in->to_version), m->fw_version);
    upd_crash_point(in->u, "verify");
    if (!has_core(m)) {
        r = refuse(in, UPD_CODE_APPLY_FAILED,
                   "the bundle carries no executable '" UPD__CORE_PATH "', refusing it");
        goto out;
    }
    if (!in->log_ok) {
        r = refuse(in, UPD_CODE_APPLY_FAILED,
                   "the security log cannot take the update's records "
                   "(EC_Security_Log_Not_Writable); install refused until it is writable");
        goto out;
    }
    if (stat(in->bundle, &st) == 0 && statvfs(in->fw, &vfs) == 0) {
        unsigned long long have = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
        unsigned long long need = (unsigned long long)st.st_size * 2 + SPACE_MARGIN;

        if (have < need)
            r = refuse(in, UPD_CODE_APPLY_FAILED,
                       "not enough free space for the update: %llu MiB needed, %llu MiB free",
                       need >> 20, have >> 20);
    }
out:
    if (r < 0)
        (void)refuse(in, UPD_CODE_APPLY_FAILED, "the bundle could not be checked: %s",
                     strerror(-r));
    m = bundle_manifest_free(m);
    group = bundle_fwgroup_free(group);
    trust = bundle_trust_free(trust);
}

static int switch_block(struct upd__install *in)
{
    struct upd_bcb b;

    (void)upd_bcb_load(in->fw, &b);
    b.active = in->target;
    b.tries_left = UPD_TRIES;
    b.good = false;
    b.last_failure[0] = '\0';
    b.update_pending = true;
    b.update_from_slot = in->from_slot;
    (void)str_copy(b.update_from_version, sizeof(b.update_from_version), in->from_version);
    (void)str_copy(b.update_to_version, sizeof(b.update_to_version), in->to_version);
    return upd_bcb_save(in->fw, &b);
}

/* Worker: the slot, then the switch (invariant 2). */
static void write_work(void *arg)
{
    struct upd__install *in = arg;
    struct bundle_trust *trust = NULL;
    struct bundle_fwgroup *group = NULL;
    struct bundle_verify_opts opts;
    struct bundle_result res = {0};
    char *staging = upd__staging_dir(in->fw, in->target);
    char *man = NULL, *p7s = NULL;
    size_t man_len = 0, p7s_len = 0;
    const char *slot = upd_slot_to_string(in->target);
    int r = staging ? load_trust(in->data_dir, &trust) : -ENOMEM;

    verify_opts(&opts, trust, NULL, in->now_s);
    if (r == 0)
        r = load_group(in, &opts, &group);
    if (r < 0 || in->code)
        goto out;
    verify_opts(&opts, trust, group, in->now_s);
    r = upd__rmtree(staging);
    /* Verifies again in the same pass: the file may have changed since the check. */
    if (r == 0)
        r = bundle_extract_payloads(in->bundle, &opts, staging, NULL, &res);
    if (r == 0 && res.code) {
        (void)refuse(in, res.code, "%s", res.message);
        goto out;
    }
    if (r == 0)
        upd_crash_point(in->u, "write-slot");
    if (r == 0)
        r = upd__bundle_read_signed_manifest(in->bundle, &man, &man_len, &p7s, &p7s_len);
    if (r == 0)
        r = upd__slot_commit(in->fw, in->target, man, man_len, p7s, p7s_len);
    if (r == 0)
        r = switch_block(in);
    if (r == 0)
        upd_crash_point(in->u, "switch");
    if (r == 0) {
        (void)snprintf(in->message, sizeof(in->message),
                       "firmware %s installed into slot %s, restarting", in->to_version, slot);
        (void)upd_history_append(in->data_dir,
                                 &(struct upd_history_entry){.action = "install",
                                                             .from_version = in->from_version,
                                                             .to_version = in->to_version,
                                                             .slot = slot,
                                                             .result = "ok",
                                                             .message = in->message});
        (void)upd_history_append(in->data_dir,
                                 &(struct upd_history_entry){.action = "switch",
                                                             .from_version = in->from_version,
                                                             .to_version = in->to_version,
                                                             .slot = slot,
                                                             .result = "ok",
                                                             .message = "active slot switched"});
    }
out:
    if (r < 0) {
        (void)refuse(in, UPD_CODE_APPLY_FAILED,
                     "applying update files failed (writing slot %s: %s); slot %s stays active",
                     slot, strerror(-r), upd_slot_to_string(in->from_slot));
        if (staging)
            (void)upd__rmtree(staging);
    }
    free(p7s);
    free(man);
    free(staging);
    group = bundle_fwgroup_free(group);
    trust = bundle_trust_free(trust);
}

static void on_restart(evutil_socket_t fd, short what, void *arg)
{
    struct upd *u = arg;

    if (u->deps.restart)
        u->deps.restart(u->deps.restart_arg);
}

static void finish(struct upd__install *in)
{
    struct upd *u = in->u;
    upd_install_done_fn done = in->done;
    void *arg = in->arg;
    char code[8];

    if (in->code) {
        const char *kv[] = {"Target", "Konnektor", "Result",    "Failure",   "ErrorCode",
                            code,     "Reason",    in->message, "FWVersion", in->to_version};

        (void)snprintf(code, sizeof(code), "%d", in->code);
        upd__publish(u, "KSR/UPDATE/END", EVT_SEVERITY_ERROR, kv, ARRAY_SIZE(kv));
        upd__seclog(u->deps.seclog ? *u->deps.seclog : NULL, "KSR/UPDATE/END", EVT_SEVERITY_ERROR,
                    kv, ARRAY_SIZE(kv));
        (void)upd_history_append(
            u->data_dir,
            &(struct upd_history_entry){.action = "refused",
                                        .from_version = in->from_version,
                                        .to_version = in->to_version[0] ? in->to_version : NULL,
                                        .result = "refused",
                                        .code = in->code,
                                        .message = in->message});
        log_msg(LOG_LEVEL_ERROR, "update: install refused (%d): %s", in->code, in->message);
        u->install = NULL;
        done(in->code, in->message, arg);
        (void)upd__install_free(in);
        return;
    }
    u->bcb.active = in->target;
    u->bcb.good = false;
    u->bcb.update_pending = true;
    log_msg(LOG_LEVEL_INFO, "update: %s", in->message);
    /* u->install stays: a second install while the daemon restarts is refused (-EBUSY). */
    in->restart_timer = evtimer_new(u->deps.base, on_restart, u);
    if (in->restart_timer) {
        struct timeval tv = {.tv_sec = 0, .tv_usec = RESTART_DELAY_MS * 1000};

        (void)evtimer_add(in->restart_timer, &tv);
    } else if (u->deps.restart) {
        u->deps.restart(u->deps.restart_arg);
    }
    done(0, in->message, arg);
}

static void write_done(void *arg)
{
    finish(arg);
}

static void check_done(void *arg)
{
    struct upd__install *in = arg;

    if (!in->code && worker_pool_submit(in->u->deps.workers, write_work, write_done, in) == 0)
        return;
    if (!in->code)
        (void)refuse(in, UPD_CODE_APPLY_FAILED, "the worker pool is busy, try again");
    finish(in);
}

int upd_install_start(struct upd *u, const char *bundle_path, upd_install_done_fn done, void *arg)
{
    struct upd__install *in;
    struct seclog *log = u->deps.seclog ? *u->deps.seclog : NULL;
    const char *kv[] = {"Target", "Konnektor", "FWVersion", u->manifest->fw_version};
    int r;

    if (u->install)
        return -EBUSY;
    in = calloc(1, sizeof(*in));
    if (!in)
        return -ENOMEM;
    in->u = u;
    in->done = done;
    in->arg = arg;
    in->bundle = strdup(bundle_path);
    in->data_dir = strdup(u->data_dir);
    in->fw = strdup(u->fw);
    if (!in->bundle || !in->data_dir || !in->fw) {
        (void)upd__install_free(in);
        return -ENOMEM;
    }
    /* Invariant 1: the slot the running core did not start from. */
    in->from_slot = u->running < UPD_SLOT_MAX ? u->running : u->bcb.active;
    in->target = upd_slot_other(in->from_slot);
    in->now_s = clock_now_ms() / 1000;
    in->log_ok = log && !ec_is_active(u->deps.ecs, EC_SECURITY_LOG_NOT_WRITABLE, NULL);
    (void)str_copy(in->from_version, sizeof(in->from_version), u->manifest->fw_version);
    r = worker_pool_submit(u->deps.workers, check_work, check_done, in);
    if (r < 0) {
        (void)upd__install_free(in);
        return r;
    }
    u->install = in;
    upd__publish(u, "KSR/UPDATE/START", EVT_SEVERITY_INFO, kv, ARRAY_SIZE(kv));
    upd__seclog(log, "KSR/UPDATE/START", EVT_SEVERITY_INFO, kv, ARRAY_SIZE(kv));
    return 0;
}
