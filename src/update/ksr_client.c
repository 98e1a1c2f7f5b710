/* ksr_client: the connector's KSR client on the loop (TUC_KON_280..286): what the KSR offers,
 * the conditions and events that follow from it, downloads, installs through
 * upd_install_start(), the daily check (TIP1-A_4836-02) and the automatic update at
 * MGM_KSR_AUTO_UPDATE_TIME (A_18390, A_18391). Network I/O runs on the client's own worker
 * thread (ksr_fetch.c); everything here runs on the loop.
 *
 *            check()                 download()               install()
 *   IDLE ------------> CHECKING    IDLE -------> DOWNLOADING  IDLE -------> INSTALLING
 *     ^   on_checked()    |          ^  on_downloaded() |       ^  on_installed()  |
 *     +-------------------+          +------------------+       +------------------+
 *
 * One operation at a time (-EBUSY otherwise). An automatic run chains them: the slot timer
 * starts a download when the newest update is not yet on disk and installs when it is.
 *
 * Files (DATA/fw/): ksr/list.xml, the last answer of the KSR (so that conditions and status
 * survive a restart); download/NAME, the newest update's bundle with the KSR's file name
 * (download/NAME.part while incomplete; older downloads are removed, TIP1-A_4836-02);
 * download/group.json(+.p7s) a firmware-group document the KSR offered, copied to
 * fw/group.json(+.p7s), which the installer checks, only after it verified against the vendor
 * roots for this product; paused, the pause switch (policy.c).
 *
 * Invariants:
 *  1. The conditions follow the last answer and the running version, evaluated after every
 *     check, at start and daily: EC_FW_Update_Available while a newer firmware is offered,
 *     EC_Connector_Software_Out_Of_Date while a newer critical one is, and
 *     EC_FW_Not_Valid_Status_Blocked while a newer critical one is past its Deadline
 *     (TIP1-A_6025, connector clock).
 *  2. A failed check or download changes neither the last answer nor the conditions; it is
 *     logged once with the reason, and the next daily check tries again.
 *  3. Nothing installs while paused, neither manual nor automatic; update routes pass the gate
 *     in every critical state (GATE_OP_MGMT_UPDATE).
 *  4. KSR/UPDATE/START and END are the installer's (install.c, health.c); this file publishes
 *     KSR/UPDATES_AVAILABLE and KSR/UPDATE/KONNEKTOR_DOWNLOAD_END. */
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <jansson.h>

#include "base/base.h"
#include "bundle/bundle.h"
#include "events/events.h"
#include "state/state.h"
#include "store/store.h"
#include "update/ksr_internal.h"

/* The daily check (TIP1-A_4836-02), and the first one after start (ms of connector time): not
 * at once, so that bootup and the health check run undisturbed. */
#define CHECK_PERIOD_MS (24LL * 3600 * 1000)
#define FIRST_CHECK_MS (5LL * 60 * 1000)
#define MESSAGE_MAX 512
/* Space a download leaves free on the data file system (bytes): room for the logs. */
#define DOWNLOAD_RESERVE_BYTES (64ULL << 20)
#define GROUP_DOC "group.json"
#define GROUP_SIG "group.json.p7s"

enum ksr_state { KSR_IDLE, KSR_CHECKING, KSR_DOWNLOADING, KSR_INSTALLING, KSR_STATE_MAX };

static const char *const state_names[KSR_STATE_MAX] = {"idle", "checking", "downloading",
                                                       "installing"};

struct upd_ksr {
    struct upd_ksr_deps deps;
    char *data_dir, *fw_dir, *ksr_dir, *download_dir;
    struct worker_pool *net; /* one thread: list_Updates and downloads */
    atomic_bool stop;
    enum ksr_state state;
    struct upd_ksr_list *list; /* the last answer, NULL before the first */
    int64_t last_check_ms;     /* 0: never (this run) */
    char last_result[MESSAGE_MAX];
    struct clock_timer *check_timer, *slot_timer;
    int64_t next_check_ms, slot_ms; /* wall times; slot_ms 0 when auto update is off */
    bool auto_run;                  /* the slot's run: install after the download */
    bool slot_deferred;             /* the slot fired while busy: run it when idle */
    upd_ksr_done_fn done;
    void *done_arg;
};

/* ---- helpers ---------------------------------------------------------------------------- */

static const struct bundle_manifest *running(const struct upd_ksr *k)
{
    return k->deps.upd ? upd_slot_manifest(k->deps.upd) : NULL;
}

static void identity_get(const struct upd_ksr *k, struct upd_ksr_identity *id)
{
    const struct bundle_manifest *m = running(k);

    *id = (struct upd_ksr_identity){0};
    (void)str_copy(id->product_vendor_id, sizeof(id->product_vendor_id),
                   m ? m->product_vendor_id : UPD_PRODUCT_VENDOR_ID);
    (void)str_copy(id->product_code, sizeof(id->product_code),
                   m ? m->product_code : UPD_PRODUCT_CODE);
    (void)str_copy(id->hw_version, sizeof(id->hw_version), m ? m->hw_version : UPD_HW_VERSION);
    (void)str_copy(id->fw_version, sizeof(id->fw_version), m ? m->fw_version : KONN_VERSION);
}

/* Is u an update of this connector to a newer firmware? */
static bool is_applicable(const struct upd_ksr *k, const struct upd_ksr_update *u)
{
    struct upd_ksr_identity id;

    identity_get(k, &id);
    return strcmp(u->product_vendor_id, id.product_vendor_id) == 0 &&
           strcmp(u->product_code, id.product_code) == 0 &&
           strcmp(u->hw_version, id.hw_version) == 0 &&
           upd_version_compare(u->fw_version, id.fw_version) > 0;
}

/* The newest applicable update, or NULL. */
static const struct upd_ksr_update *newest(const struct upd_ksr *k)
{
    const struct upd_ksr_update *best = NULL;

    for (size_t i = 0; k->list && i < k->list->n_updates; i++) {
        const struct upd_ksr_update *u = &k->list->updates[i];

        if (is_applicable(k, u) &&
            (!best || upd_version_compare(u->fw_version, best->fw_version) > 0))
            best = u;
    }
    return best;
}

/* The bundle of an update: its first Firmwarefiles entry. */
static const struct upd_ksr_file *bundle_file(const struct upd_ksr_update *u)
{
    return u->n_files ? &u->files[0] : NULL;
}

static uint64_t bytes_on_disk(const struct upd_ksr *k, const char *name, bool *ret_complete)
{
    char *path = fs_path_join(k->download_dir, name), *part = NULL;
    struct stat st;
    uint64_t have = 0;

    *ret_complete = false;
    if (path && stat(path, &st) == 0) {
        *ret_complete = true;
        have = (uint64_t)st.st_size;
    } else if (path && asprintf(&part, "%s.part", path) >= 0) {
        if (stat(part, &st) == 0)
            have = (uint64_t)st.st_size;
        free(part);
    }
    free(path);
    return have;
}

static bool is_downloaded(const struct upd_ksr *k, const struct upd_ksr_update *u)
{
    const struct upd_ksr_file *f = bundle_file(u);
    bool complete = false;

    return f && bytes_on_disk(k, f->name, &complete) == f->size && complete;
}

static void publish(struct upd_ksr *k, const char *topic, const struct evt_param *p, size_t n)
{
    struct evt_event ev = {.topic = topic,
                           .type = EVT_TYPE_OPERATION,
                           .severity = EVT_SEVERITY_INFO,
                           .params = p,
                           .n_params = n};

    if (k->deps.bus)
        (void)evt_bus_publish(k->deps.bus, &ev);
}

/* A BOOL setting; a failed read is logged and gives the setting's documented default (the
 * settings table), so a broken store neither hides the failure nor picks a value by chance. */
static bool setting_bool(const struct upd_ksr *k, const char *name)
{
    const struct setting_def *def;
    bool value = false;
    int r = store_setting_get_bool(k->deps.store, name, &value);

    if (r == 0)
        return value;
    def = setting_def_find(name);
    value = def && def->default_value && strcmp(def->default_value, "Enabled") == 0;
    log_msg(LOG_LEVEL_WARNING, "update: the setting '%s' cannot be read (%s), using its default %s",
            name, strerror(-r), value ? "Enabled" : "Disabled");
    return value;
}

static void run_slot(struct upd_ksr *k);

static void finish(struct upd_ksr *k, int code, const char *message)
{
    upd_ksr_done_fn done = k->done;
    void *arg = k->done_arg;

    k->state = KSR_IDLE;
    k->done = NULL;
    k->done_arg = NULL;
    if (done)
        done(code, message, arg);
    if (k->slot_deferred && k->state == KSR_IDLE && !atomic_load(&k->stop)) {
        k->slot_deferred = false;
        run_slot(k);
    }
}

/* ---- conditions ------------------------------------------------------------------------- */

static void evaluate(struct upd_ksr *k)
{
    bool available = false, critical = false, blocked = false;
    int64_t now = clock_now_ms();

    for (size_t i = 0; k->list && i < k->list->n_updates; i++) {
        const struct upd_ksr_update *u = &k->list->updates[i];

        if (!is_applicable(k, u))
            continue;
        available = true;
        if (u->critical) {
            critical = true;
            if (upd_policy_deadline_passed(u->deadline, now))
                blocked = true;
        }
    }
    if (!k->deps.ecs)
        return;
    if (available)
        (void)ec_raise(k->deps.ecs, EC_FW_UPDATE_AVAILABLE, NULL, NULL, 0);
    else
        (void)ec_clear(k->deps.ecs, EC_FW_UPDATE_AVAILABLE, NULL);
    if (critical)
        (void)ec_raise(k->deps.ecs, EC_CONNECTOR_SOFTWARE_OUT_OF_DATE, NULL, NULL, 0);
    else
        (void)ec_clear(k->deps.ecs, EC_CONNECTOR_SOFTWARE_OUT_OF_DATE, NULL);
    if (blocked && !ec_is_active(k->deps.ecs, EC_FW_NOT_VALID_STATUS_BLOCKED, NULL))
        log_msg(LOG_LEVEL_ERROR,
                "update: a critical firmware update is past its deadline; TI access is "
                "blocked until it is installed (TIP1-A_6025)");
    if (blocked)
        (void)ec_raise(k->deps.ecs, EC_FW_NOT_VALID_STATUS_BLOCKED, NULL, NULL, 0);
    else
        (void)ec_clear(k->deps.ecs, EC_FW_NOT_VALID_STATUS_BLOCKED, NULL);
}

/* ---- check (TUC_KON_282) ---------------------------------------------------------------- */

struct check_job {
    struct upd_ksr *k;
    char *url;
    struct upd_ksr_identity id;
    struct upd_ksr_list *list;
    int r;
    char err[MESSAGE_MAX];
};

static void check_work(void *arg)
{
    struct check_job *j = arg;

    j->r = upd__ksr_fetch_list(j->url, &j->id, &j->k->stop, &j->list, j->err, sizeof(j->err));
}

static int save_answer(struct upd_ksr *k)
{
    char *xml = NULL, *path = NULL;
    size_t len = 0;
    int r;

    r = fs_mkdir_p(k->ksr_dir, 0755);
    if (r == 0)
        r = upd_ksr_response_format(k->list, &xml, &len);
    path = r == 0 ? fs_path_join(k->ksr_dir, "list.xml") : NULL;
    if (r == 0)
        r = path ? fs_write_atomic(path, xml, len, 0644) : -ENOMEM;
    free(path);
    free(xml);
    return r;
}

static int start_download(struct upd_ksr *k);

static void check_done(void *arg)
{
    struct check_job *j = arg;
    struct upd_ksr *k = j->k;
    const struct upd_ksr_update *u;
    char msg[MESSAGE_MAX];

    k->last_check_ms = clock_now_ms();
    if (j->r < 0) {
        (void)snprintf(k->last_result, sizeof(k->last_result), "failed: %.480s", j->err);
        log_msg(LOG_LEVEL_WARNING, "update: list_Updates failed: %s; retrying at the next check",
                j->err);
        finish(k, j->r, k->last_result);
        goto out;
    }
    upd_ksr_list_free(k->list);
    k->list = j->list;
    j->list = NULL;
    (void)save_answer(k);
    evaluate(k);
    u = newest(k);
    if (u) {
        struct evt_param p[] = {{"FirmwareVersion", u->fw_version},
                                {"FWPriority", u->critical ? "Kritisch" : "Normal"},
                                {"Deadline", u->deadline}};

        (void)snprintf(msg, sizeof(msg), "firmware %s (%s%s%s) is offered", u->fw_version,
                       u->critical ? "Kritisch" : "Normal", u->deadline[0] ? ", deadline " : "",
                       u->deadline);
        publish(k, "KSR/UPDATES_AVAILABLE", p, ARRAY_SIZE(p));
        log_msg(LOG_LEVEL_INFO, "update: the KSR offers firmware %s", u->fw_version);
    } else {
        (void)snprintf(msg, sizeof(msg), "no newer firmware is offered");
    }
    (void)snprintf(k->last_result, sizeof(k->last_result), "ok: %.480s", msg);
    finish(k, 0, msg);
    if (u && !is_downloaded(k, u) && !atomic_load(&k->stop)) {
        if (setting_bool(k, "MGM_KSR_AUTODOWNLOAD"))
            (void)start_download(k);
    }
out:
    upd_ksr_list_free(j->list);
    free(j->url);
    free(j);
}

static int start_check(struct upd_ksr *k)
{
    struct check_job *j = NULL;
    const char *url = "";
    int r;

    if (k->state != KSR_IDLE)
        return -EBUSY;
    (void)store_setting_get(k->deps.store, "KSR_URL", &url);
    if (!url || !url[0])
        return -ENOENT;
    if (!setting_bool(k, "MGM_LU_ONLINE"))
        return -ENETDOWN;
    j = calloc(1, sizeof(*j));
    if (!j || !(j->url = strdup(url))) {
        free(j);
        return -ENOMEM;
    }
    j->k = k;
    identity_get(k, &j->id);
    r = worker_pool_submit(k->net, check_work, check_done, j);
    if (r < 0) {
        free(j->url);
        free(j);
        return r;
    }
    k->state = KSR_CHECKING;
    return 0;
}

/* Runs start() with done as the operation's callback (set first: an install may finish before
 * upd_install_start() returns). */
static int run(struct upd_ksr *k, int (*start)(struct upd_ksr *k, const char *version),
               const char *version, upd_ksr_done_fn done, void *arg)
{
    int r;

    if (k->state != KSR_IDLE)
        return -EBUSY;
    k->done = done;
    k->done_arg = arg;
    r = start(k, version);
    if (r < 0) {
        k->done = NULL;
        k->done_arg = NULL;
    }
    return r;
}

static int check_op(struct upd_ksr *k, const char *unused)
{
    return start_check(k);
}

int upd_ksr_check(struct upd_ksr *k, upd_ksr_done_fn done, void *arg)
{
    return run(k, check_op, NULL, done, arg);
}

/* ---- download --------------------------------------------------------------------------- */

struct download_job {
    struct upd_ksr *k;
    char *url, *dir, *name, *group_url, *group_sig_url;
    uint64_t size, have, group_size, group_sig_size; /* sizes as the KSR announced them */
    char fw_version[UPD_VERSION_MAX];
    int r;
    char err[MESSAGE_MAX];
};

/* Removes every file of the download directory but keep and keep.part (only the newest
 * package is kept, TIP1-A_4836-02) and the installer's uploads ("upload-*", in use by
 * POST /api/v1/update/install-file). */
static void prune(const char *dir, const char *keep)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t n = strlen(keep);

    if (!d)
        return;
    while ((de = readdir(d))) {
        char *path;

        if (de->d_name[0] == '.' || strncmp(de->d_name, "upload-", 7) == 0 ||
            (strncmp(de->d_name, keep, n) == 0 &&
             (de->d_name[n] == '\0' || strcmp(de->d_name + n, ".part") == 0)))
            continue;
        path = fs_path_join(dir, de->d_name);
        if (path)
            (void)io_unlink(path);
        free(path);
    }
    closedir(d);
}

static void download_work(void *arg)
{
    struct download_job *j = arg;
    uint64_t have = 0;

    prune(j->dir, j->name);
    j->r = upd__ksr_fetch_file(j->url, j->dir, j->name, j->size, &j->k->stop, &j->have, j->err,
                               sizeof(j->err));
    /* The group document is small: fetched whole each time (the old copies go first); its
     * failure is not the bundle's: the installer then checks against the group it has. */
    if (j->r == 0 && j->group_url) {
        static const char *const names[] = {GROUP_DOC, GROUP_DOC ".part", GROUP_SIG,
                                            GROUP_SIG ".part"};
        char e[MESSAGE_MAX];

        for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
            char *path = fs_path_join(j->dir, names[i]);

            if (path)
                (void)io_unlink(path);
            free(path);
        }
        if (upd__ksr_fetch_file(j->group_url, j->dir, GROUP_DOC, j->group_size, &j->k->stop, &have,
                                e, sizeof(e)) == 0)
            (void)upd__ksr_fetch_file(j->group_sig_url, j->dir, GROUP_SIG, j->group_sig_size,
                                      &j->k->stop, &have, e, sizeof(e));
    }
}

/* Is g newer than the group document at path (or is there none)? FirmwareGroupVersion is at
 * most 5 characters: compared as a number when both are digits, else any other value counts
 * as newer only if it differs (the vendor's signature vouches for it). The same or an older
 * group is never adopted again: a KSR cannot roll the group back to re-allow withdrawn
 * firmware. */
static bool group_is_newer(const char *path, const struct bundle_fwgroup *g)
{
    struct bundle_fwgroup *cur = NULL;
    char *data = NULL;
    size_t len = 0;
    int64_t a = 0, b = 0;
    bool newer = true;

    if (fs_read_all(path, BUNDLE_MANIFEST_MAX, &data, &len) == 0 &&
        bundle_fwgroup_parse(data, len, &cur, NULL, 0) == 0) {
        if (str_to_int64(g->group_version, &a) == 0 && str_to_int64(cur->group_version, &b) == 0)
            newer = a > b;
        else
            newer = strcmp(g->group_version, cur->group_version) != 0;
    }
    bundle_fwgroup_free(cur);
    free(data);
    return newer;
}

/* Verifies a downloaded firmware-group document against the vendor roots and, when it is for
 * this product and newer, makes it the one the installer checks (DATA/fw/group.json). */
static void adopt_group(struct upd_ksr *k)
{
    char *doc_path = fs_path_join(k->download_dir, GROUP_DOC);
    char *sig_path = fs_path_join(k->download_dir, GROUP_SIG);
    char *doc = NULL, *sig = NULL, *pattern = NULL, *dst = NULL;
    size_t doc_len = 0, sig_len = 0;
    struct bundle_trust *trust = bundle_trust_new();
    struct bundle_fwgroup *g = NULL;
    struct bundle_result res = {0};
    struct upd_ksr_identity id;
    glob_t gl = {0};

    if (!doc_path || !sig_path || !trust ||
        fs_read_all(doc_path, BUNDLE_MANIFEST_MAX, &doc, &doc_len) < 0 ||
        fs_read_all(sig_path, BUNDLE_SIGNATURE_MAX, &sig, &sig_len) < 0 ||
        asprintf(&pattern, "%s/trust/vendor/*.pem", k->data_dir) < 0)
        goto out;
    if (glob(pattern, 0, NULL, &gl) == 0)
        for (size_t i = 0; i < gl.gl_pathc; i++)
            (void)bundle_trust_add_file(trust, gl.gl_pathv[i]);
    {
        struct bundle_verify_opts o = {.trust = trust, .now_s = clock_now_ms() / 1000};

        if (bundle_fwgroup_verify(doc, doc_len, sig, sig_len, &o, &g, &res) < 0 || res.code) {
            log_msg(LOG_LEVEL_WARNING,
                    "update: the KSR's firmware group document does not verify (%s), ignoring "
                    "it",
                    res.message);
            goto out;
        }
    }
    identity_get(k, &id);
    if (strcmp(g->product_vendor_id, id.product_vendor_id) != 0 ||
        strcmp(g->product_code, id.product_code) != 0 || strcmp(g->hw_version, id.hw_version) != 0)
        goto out;
    dst = fs_path_join(k->fw_dir, GROUP_DOC);
    if (!dst || !group_is_newer(dst, g))
        goto out;
    /* Document, then signature: a crash between the two leaves a pair that does not verify,
     * which the installer refuses (4185) rather than trusting a mismatched pair; the next
     * download writes both again. */
    if (fs_write_atomic(dst, doc, doc_len, 0644) == 0) {
        char *dst_sig = fs_path_join(k->fw_dir, GROUP_SIG);

        if (dst_sig)
            (void)fs_write_atomic(dst_sig, sig, sig_len, 0644);
        free(dst_sig);
        log_msg(LOG_LEVEL_INFO, "update: firmware group '%s' version '%s' from the KSR adopted",
                g->group_id, g->group_version);
    }
out:
    if (gl.gl_pathv)
        globfree(&gl);
    bundle_fwgroup_free(g);
    bundle_trust_free(trust);
    free(doc_path);
    free(sig_path);
    free(doc);
    free(sig);
    free(pattern);
    free(dst);
}

static int start_install(struct upd_ksr *k, const char *version);

static void download_done(void *arg)
{
    struct download_job *j = arg;
    struct upd_ksr *k = j->k;
    const struct upd_ksr_update *u = NULL;
    char msg[MESSAGE_MAX];
    bool chain = k->auto_run;

    k->auto_run = false;
    if (j->r < 0) {
        log_msg(LOG_LEVEL_WARNING, "update: download of firmware %s failed: %s", j->fw_version,
                j->err);
        (void)snprintf(k->last_result, sizeof(k->last_result), "download failed: %.480s", j->err);
        finish(k, j->r, j->err);
        goto out;
    }
    if (j->group_url)
        adopt_group(k);
    for (size_t i = 0; k->list && i < k->list->n_updates; i++)
        if (strcmp(k->list->updates[i].fw_version, j->fw_version) == 0)
            u = &k->list->updates[i];
    if (u) {
        /* TIP1-A_4836-02: one event per downloaded package. */
        struct evt_param p[] = {{"ProductVendorID", u->product_vendor_id},
                                {"ProductCode", u->product_code},
                                {"ProductName", u->product_name},
                                {"FirmwareVersion", u->fw_version},
                                {"Deadline", u->deadline},
                                {"FWPriority", u->critical ? "Kritisch" : "Normal"},
                                {"FirmwareReleaseNotes", u->release_notes ? u->release_notes : ""}};

        publish(k, "KSR/UPDATE/KONNEKTOR_DOWNLOAD_END", p, ARRAY_SIZE(p));
    }
    if (k->deps.upd) {
        struct upd_history_entry e = {
            .action = "download", .to_version = j->fw_version, .result = "ok", .message = j->name};

        (void)upd_history_append(k->data_dir, &e);
    }
    (void)snprintf(msg, sizeof(msg), "firmware %s downloaded (%llu bytes)", j->fw_version,
                   (unsigned long long)j->size);
    log_msg(LOG_LEVEL_INFO, "update: %s", msg);
    (void)snprintf(k->last_result, sizeof(k->last_result), "ok: %.480s", msg);
    if (chain && !atomic_load(&k->stop)) {
        /* The slot's run goes on to the install; the caller's done runs after it. */
        k->state = KSR_IDLE;
        if (start_install(k, j->fw_version) < 0)
            finish(k, 0, msg);
        goto out;
    }
    finish(k, 0, msg);
out:
    free(j->url);
    free(j->dir);
    free(j->name);
    free(j->group_url);
    free(j->group_sig_url);
    free(j);
}

/* Is there room for the rest of the download and DOWNLOAD_RESERVE_BYTES besides? A KSR that
 * announces a huge file must not fill the disk the security log lives on. */
static int room_for(struct upd_ksr *k, const struct upd_ksr_file *f)
{
    bool complete = false;
    uint64_t have = bytes_on_disk(k, f->name, &complete);
    struct statvfs vfs;

    if (statvfs(k->download_dir, &vfs) < 0)
        return -errno;
    if ((uint64_t)vfs.f_bavail * vfs.f_frsize <
        f->size - (have < f->size ? have : f->size) + DOWNLOAD_RESERVE_BYTES) {
        log_msg(LOG_LEVEL_WARNING,
                "update: no room for the download of '%s' (%llu bytes), not started", f->name,
                (unsigned long long)f->size);
        return -ENOSPC;
    }
    return 0;
}

static int start_download(struct upd_ksr *k)
{
    const struct upd_ksr_update *u = newest(k);
    const struct upd_ksr_file *f = u ? bundle_file(u) : NULL;
    struct download_job *j = NULL;
    const char *url = "";
    bool has_doc = false, has_sig = false;
    int r;

    if (k->state != KSR_IDLE)
        return -EBUSY;
    if (!f)
        return -ENOENT;
    (void)store_setting_get(k->deps.store, "KSR_URL", &url);
    if (!url || !url[0])
        return -ENOENT;
    r = fs_mkdir_p(k->download_dir, 0755);
    if (r < 0)
        return r;
    r = room_for(k, f);
    if (r < 0)
        return r;
    j = calloc(1, sizeof(*j));
    if (!j)
        return -ENOMEM;
    j->k = k;
    j->size = f->size;
    (void)str_copy(j->fw_version, sizeof(j->fw_version), u->fw_version);
    j->dir = strdup(k->download_dir);
    j->name = strdup(f->name);
    r = j->dir && j->name ? upd__ksr_resolve(url, f->name, &j->url) : -ENOMEM;
    for (size_t i = 0; i < u->n_docs; i++) {
        if (strcmp(u->docs[i].name, GROUP_DOC) == 0 && u->docs[i].size <= BUNDLE_MANIFEST_MAX) {
            has_doc = true;
            j->group_size = u->docs[i].size;
        }
        if (strcmp(u->docs[i].name, GROUP_SIG) == 0 && u->docs[i].size <= BUNDLE_SIGNATURE_MAX) {
            has_sig = true;
            j->group_sig_size = u->docs[i].size;
        }
    }
    if (r == 0 && has_doc && has_sig) {
        r = upd__ksr_resolve(url, GROUP_DOC, &j->group_url);
        if (r == 0)
            r = upd__ksr_resolve(url, GROUP_SIG, &j->group_sig_url);
    }
    if (r == 0)
        r = worker_pool_submit(k->net, download_work, download_done, j);
    if (r < 0) {
        free(j->url);
        free(j->dir);
        free(j->name);
        free(j->group_url);
        free(j->group_sig_url);
        free(j);
        return r;
    }
    k->state = KSR_DOWNLOADING;
    return 0;
}

static int download_op(struct upd_ksr *k, const char *unused)
{
    return start_download(k);
}

int upd_ksr_download(struct upd_ksr *k, upd_ksr_done_fn done, void *arg)
{
    return run(k, download_op, NULL, done, arg);
}

/* ---- install ---------------------------------------------------------------------------- */

static void install_done(int code, const char *message, void *arg)
{
    struct upd_ksr *k = arg;

    (void)snprintf(k->last_result, sizeof(k->last_result), "%s: %.480s",
                   code ? "install failed" : "installed", message ? message : "");
    finish(k, code, message ? message : "");
}

static int start_install(struct upd_ksr *k, const char *version)
{
    const struct upd_ksr_update *u = NULL;
    char *path = NULL;
    int r;

    if (k->state != KSR_IDLE)
        return -EBUSY;
    if (upd_paused_get(k->data_dir))
        return -EPERM;
    if (!k->deps.upd)
        return -ENOTSUP;
    for (size_t i = 0; k->list && i < k->list->n_updates; i++)
        if (strcmp(k->list->updates[i].fw_version, version) == 0 &&
            is_applicable(k, &k->list->updates[i]))
            u = &k->list->updates[i];
    if (!u || !is_downloaded(k, u))
        return -ENOENT;
    path = fs_path_join(k->download_dir, bundle_file(u)->name);
    if (!path)
        return -ENOMEM;
    k->state = KSR_INSTALLING;
    r = upd_install_start(k->deps.upd, path, install_done, k);
    if (r < 0)
        k->state = KSR_IDLE;
    free(path);
    return r;
}

int upd_ksr_install(struct upd_ksr *k, const char *version, upd_ksr_done_fn done, void *arg)
{
    if (!version || !upd_version_is_valid(version))
        return -EINVAL;
    return run(k, start_install, version, done, arg);
}

int upd_ksr_pause(struct upd_ksr *k, bool paused)
{
    int r = upd_paused_set(k->data_dir, paused);

    if (r == 0)
        log_msg(LOG_LEVEL_INFO, "update: installs %s", paused ? "paused" : "resumed");
    return r;
}

/* ---- policy timers ---------------------------------------------------------------------- */

static void on_check_timer(void *arg)
{
    struct upd_ksr *k = arg;
    int r;

    k->next_check_ms = clock_now_ms() + CHECK_PERIOD_MS;
    clock_timer_start(k->check_timer, CHECK_PERIOD_MS);
    /* TIP1-A_6025 is a daily duty of its own: the deadline passes without a new answer. */
    evaluate(k);
    r = start_check(k);
    if (r < 0 && r != -ENOENT && r != -ENETDOWN)
        log_msg(LOG_LEVEL_INFO, "update: the daily KSR check was skipped: %s", strerror(-r));
}

/* Schedules the first slot strictly after from_ms (now, or the slot that just fired, so that
 * a timer firing a millisecond early does not schedule the same slot again). */
static void arm_slot_after(struct upd_ksr *k, int64_t from_ms)
{
    const char *hhmm = "03:00";
    bool on;
    int minute = 0;
    int64_t now = clock_now_ms();

    clock_timer_stop(k->slot_timer);
    k->slot_ms = 0;
    on = setting_bool(k, "MGM_KSR_AUTO_UPDATE");
    (void)store_setting_get(k->deps.store, "MGM_KSR_AUTO_UPDATE_TIME", &hhmm);
    if (!on || upd_policy_time_parse(hhmm, &minute) < 0)
        return;
    k->slot_ms = upd_policy_next_slot(from_ms > now ? from_ms : now, minute);
    clock_timer_start(k->slot_timer, k->slot_ms - now);
}

static void arm_slot(struct upd_ksr *k)
{
    arm_slot_after(k, clock_now_ms());
}

/* The slot's run: install the newest update if it is downloaded, else download it first. */
static void run_slot(struct upd_ksr *k)
{
    const struct upd_ksr_update *u = newest(k);
    int r = 0;

    if (!u)
        return;
    if (upd_paused_get(k->data_dir)) {
        log_msg(LOG_LEVEL_INFO, "update: automatic update of firmware %s skipped: paused",
                u->fw_version);
        return;
    }
    if (k->state != KSR_IDLE) {
        /* A check or download is under way: the slot's run follows when it ends. */
        k->slot_deferred = true;
        return;
    }
    if (is_downloaded(k, u)) {
        r = start_install(k, u->fw_version);
    } else {
        r = start_download(k);
        if (r == 0)
            k->auto_run = true;
    }
    if (r < 0)
        log_msg(LOG_LEVEL_WARNING, "update: automatic update of firmware %s not started: %s",
                u->fw_version, strerror(-r));
    else
        log_msg(LOG_LEVEL_INFO, "update: automatic update to firmware %s started (A_18390)",
                u->fw_version);
}

static void on_slot_timer(void *arg)
{
    struct upd_ksr *k = arg;
    int64_t slot = k->slot_ms, now = clock_now_ms();

    arm_slot_after(k, slot);
    if (!upd_policy_slot_is_due(slot, now)) {
        /* A_18391: the clock jumped past the slot; the next day's slot runs instead. */
        log_msg(LOG_LEVEL_INFO, "update: the automatic update slot was missed; not caught up");
        return;
    }
    run_slot(k);
}

static void on_setting(const char *name, const char *value, void *arg)
{
    struct upd_ksr *k = arg;

    if (strcmp(name, "MGM_KSR_AUTO_UPDATE") == 0 || strcmp(name, "MGM_KSR_AUTO_UPDATE_TIME") == 0)
        arm_slot(k);
}

/* ---- status ----------------------------------------------------------------------------- */

static json_t *time_json(int64_t ms)
{
    char buf[32];

    return ms ? json_string(clock_format_iso(ms, buf, sizeof(buf))) : json_null();
}

static json_t *update_json(const struct upd_ksr *k, const struct upd_ksr_update *u)
{
    const struct upd_ksr_file *f = bundle_file(u);
    bool complete = false;
    uint64_t have = f ? bytes_on_disk(k, f->name, &complete) : 0;

    return json_pack("{s:s,s:s,s:o,s:s,s:s,s:o,s:I,s:I,s:b}", "version", u->fw_version, "priority",
                     u->critical ? "Kritisch" : "Normal", "deadline",
                     u->deadline[0] ? json_string(u->deadline) : json_null(), "product_name",
                     u->product_name, "release_notes", u->release_notes ? u->release_notes : "",
                     "file", f ? json_string(f->name) : json_null(), "size",
                     (json_int_t)(f ? f->size : 0), "downloaded_bytes", (json_int_t)have,
                     "downloaded", f && complete && have == f->size);
}

static json_t *running_json(const struct upd_ksr *k)
{
    const struct bundle_manifest *m = running(k);
    json_t *features = json_array();

    for (size_t i = 0; m && i < m->n_features; i++)
        json_array_append_new(features, json_string(m->features[i]));
    return json_pack("{s:s,s:s,s:o}", "fw_version", m ? m->fw_version : KONN_VERSION,
                     "product_type_version", m ? m->product_type_version : "", "features",
                     features);
}

int upd_ksr_status_format(const struct upd_ksr *k, char **ret_json)
{
    json_t *o, *updates = json_array(), *slots = NULL;
    const char *url = "";
    char *text = NULL, *s = NULL;
    bool autodl, autoup;
    const char *when = "";

    (void)store_setting_get(k->deps.store, "KSR_URL", &url);
    autodl = setting_bool(k, "MGM_KSR_AUTODOWNLOAD");
    autoup = setting_bool(k, "MGM_KSR_AUTO_UPDATE");
    (void)store_setting_get(k->deps.store, "MGM_KSR_AUTO_UPDATE_TIME", &when);
    for (size_t i = 0; k->list && i < k->list->n_updates; i++)
        if (is_applicable(k, &k->list->updates[i]))
            json_array_append_new(updates, update_json(k, &k->list->updates[i]));
    if (k->deps.upd && upd_slots_format(k->deps.upd, &s) == 0)
        slots = json_loads(s, 0, NULL);
    free(s);
    o = json_pack("{s:s,s:b,s:s,s:o,s:o,s:s,s:o,s:o,s:b,s:b,s:s,s:o,s:o}", "state",
                  state_names[k->state], "paused", upd_paused_get(k->data_dir), "ksr_url", url,
                  "running", running_json(k), "last_check", time_json(k->last_check_ms),
                  "last_result", k->last_result, "next_check", time_json(k->next_check_ms),
                  "next_auto_update", time_json(k->slot_ms), "auto_download", autodl, "auto_update",
                  autoup, "auto_update_time", when, "updates", updates, "slots",
                  slots ? slots : json_null());
    if (o)
        text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!text)
        return -ENOMEM;
    *ret_json = text;
    return 0;
}

/* ---- lifetime --------------------------------------------------------------------------- */

static void load_answer(struct upd_ksr *k)
{
    char *path = fs_path_join(k->ksr_dir, "list.xml"), *xml = NULL;
    size_t len = 0;

    if (path && fs_read_all(path, UPD_KSR_RESPONSE_MAX, &xml, &len) == 0 &&
        upd_ksr_response_parse(xml, len, &k->list, NULL, 0) < 0)
        log_msg(LOG_LEVEL_WARNING, "update: the stored KSR answer is unreadable, ignoring it");
    free(xml);
    free(path);
}

int upd_ksr_new(const struct upd_ksr_deps *deps, struct upd_ksr **ret_ksr)
{
    struct upd_ksr *k = calloc(1, sizeof(*k));
    int r = -ENOMEM;

    if (!k)
        return -ENOMEM;
    k->deps = *deps;
    atomic_init(&k->stop, false);
    k->data_dir = strdup(deps->data_dir);
    k->fw_dir = fs_path_join(deps->data_dir, "fw");
    k->ksr_dir = k->fw_dir ? fs_path_join(k->fw_dir, "ksr") : NULL;
    k->download_dir = k->fw_dir ? fs_path_join(k->fw_dir, "download") : NULL;
    k->net = worker_pool_new(deps->base, 1);
    k->check_timer = clock_timer_new(on_check_timer, k);
    k->slot_timer = clock_timer_new(on_slot_timer, k);
    if (!k->data_dir || !k->ksr_dir || !k->download_dir || !k->net || !k->check_timer ||
        !k->slot_timer)
        goto fail;
    r = store_setting_on_change(deps->store, on_setting, k);
    if (r < 0)
        goto fail;
    load_answer(k);
    evaluate(k);
    k->next_check_ms = clock_now_ms() + FIRST_CHECK_MS;
    clock_timer_start(k->check_timer, FIRST_CHECK_MS);
    arm_slot(k);
    *ret_ksr = k;
    return 0;
fail:
    upd_ksr_free(k);
    return r;
}

struct upd_ksr *upd_ksr_free(struct upd_ksr *k)
{
    if (!k)
        return NULL;
    atomic_store(&k->stop, true);
    /* The caller of a running operation (a management request) goes away with the daemon. */
    k->done = NULL;
    k->done_arg = NULL;
    /* Runs the pending done() callbacks: they only touch k, which is still whole. */
    k->net = worker_pool_free(k->net);
    k->check_timer = clock_timer_free(k->check_timer);
    k->slot_timer = clock_timer_free(k->slot_timer);
    upd_ksr_list_free(k->list);
    free(k->data_dir);
    free(k->fw_dir);
    free(k->ksr_dir);
    free(k->download_dir);
    free(k);
    return NULL;
}
