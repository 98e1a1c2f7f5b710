/* update: the core's updater object: what the running core knows about its firmware (the
 * block as read at start, the running slot and its manifest), the status for the management
 * API, and the event and security-log helpers of health.c and install.c.
 *
 * Invariants:
 *  1. upd_slot_manifest() is never NULL: a core that does not run from a slot (started with
 *     --core from the build directory) reports the factory manifest of its build.
 *  2. EC_OTHER_ERROR_STATE(4) is active while the block records a fallback that no later
 *     update has ended. */
#include "update/update_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "events/events.h"
#include "seclog/seclog.h"
#include "state/state.h"

_Static_assert((int)SECLOG_SEVERITY_FATAL == (int)EVT_SEVERITY_FATAL, "severity order");

void upd__publish(struct upd *u, const char *topic, int severity, const char *const *kv,
                  size_t n_kv)
{
    struct evt_param p[EVT_PARAMS_MAX];
    struct evt_event ev = {.topic = topic,
                           .type = EVT_TYPE_OPERATION,
                           .severity = (enum evt_severity)severity,
                           .params = p};

    for (size_t i = 0; i + 1 < n_kv && ev.n_params < EVT_PARAMS_MAX; i += 2)
        p[ev.n_params++] = (struct evt_param){kv[i], kv[i + 1]};
    if (u->deps.bus)
        (void)evt_bus_publish(u->deps.bus, &ev);
}

void upd__seclog(struct seclog *log, const char *topic, int severity, const char *const *kv,
                 size_t n_kv)
{
    struct seclog_param p[SECLOG_PARAMS_MAX];
    struct seclog_entry e = {.severity = (enum seclog_severity)severity,
                             .type = SECLOG_TYPE_SECURITY,
                             .topic = topic,
                             .params = p};

    for (size_t i = 0; i + 1 < n_kv && e.n_params < SECLOG_PARAMS_MAX; i += 2)
        p[e.n_params++] = (struct seclog_param){kv[i], kv[i + 1]};
    if (log)
        (void)seclog_append(log, &e);
}

static int factory_manifest(struct bundle_manifest **ret)
{
    char *json = NULL, err[128];
    int r = upd__factory_manifest_json(0, NULL, &json);

    if (r == 0)
        r = bundle_manifest_parse(json, strlen(json), ret, err, sizeof(err));
    free(json);
    return r;
}

int upd_new(const struct upd_deps *deps, struct upd **ret_upd)
{
    struct upd *u = calloc(1, sizeof(*u));
    const char *fd_env = getenv(UPD_LAUNCHER_FD_ENV);
    const char *slot_env = getenv(UPD__SLOT_ENV);
    int64_t fd = -1;
    int r = -ENOMEM;

    if (!u)
        return r;
    u->deps = *deps;
    u->health_fd = -1;
    u->running = UPD_SLOT_MAX;
    u->data_dir = strdup(deps->data_dir);
    u->fw = upd_fw_dir(deps->data_dir);
    if (!u->data_dir || !u->fw)
        goto fail;
    if (fd_env && str_to_int64(fd_env, &fd) == 0 && fd > 2 && fcntl((int)fd, F_GETFD) >= 0) {
        u->health_fd = (int)fd;
        (void)fcntl(u->health_fd, F_SETFD, FD_CLOEXEC);
    }
    /* What a child of this core (none today) should not inherit. */
    (void)unsetenv(UPD_LAUNCHER_FD_ENV);
    (void)upd_bcb_load(u->fw, &u->bcb);
    u->launched = slot_env != NULL;
    if (slot_env && upd_slot_from_string(slot_env, &u->running) < 0)
        u->running = UPD_SLOT_MAX;
    (void)unsetenv(UPD__SLOT_ENV);
    if (u->running == UPD_SLOT_MAX || upd_slot_manifest_read(u->fw, u->running, &u->manifest) < 0) {
        r = factory_manifest(&u->manifest);
        if (r < 0)
            goto fail;
    }
    if (u->bcb.update_pending && u->running == u->bcb.active)
        upd_crash_point(u, "first-boot");
    /* Invariant 2: the admin sees the rollback until a later update succeeds. */
    if (u->bcb.fallback && !(u->bcb.update_pending && u->running == u->bcb.active)) {
        struct evt_param p[2] = {{"FWVersion", u->bcb.fallback_from_version},
                                 {"Reason", u->bcb.fallback_reason}};

        (void)ec_raise(deps->ecs, EC_OTHER_ERROR_STATE, UPD_EC_ROLLBACK_INSTANCE, p, 2);
    }
    *ret_upd = u;
    return 0;
fail:
    (void)upd_free(u);
    return r;
}

void upd_crash_point(const struct upd *u, const char *step)
{
    const char *file = getenv(UPD_CRASH_FILE_ENV);
    char *want = NULL;
    size_t len = 0;

    if (!file || fs_read_all(file, 64, &want, &len) < 0)
        return;
    if (strcmp(want, step) == 0 && unlink(file) == 0) {
        log_msg(LOG_LEVEL_WARNING, "update: crash test: killed at step '%s'", step);
        if (u->launched)
            (void)kill(getppid(), SIGKILL);
        (void)raise(SIGKILL);
    }
    free(want);
}

struct upd *upd_free(struct upd *u)
{
    if (!u)
        return NULL;
    u->install = upd__install_free(u->install);
    u->health = upd__health_free(u->health);
    if (u->health_fd >= 0)
        (void)close(u->health_fd);
    u->manifest = bundle_manifest_free(u->manifest);
    free(u->fw);
    free(u->data_dir);
    free(u);
    return NULL;
}

const struct bundle_manifest *upd_slot_manifest(const struct upd *u)
{
    return u->manifest;
}

enum upd_slot upd_running_slot(const struct upd *u)
{
    return u->running;
}

const struct upd_bcb *upd_bcb_get(const struct upd *u)
{
    return &u->bcb;
}

bool upd_install_is_running(const struct upd *u)
{
    return u->install != NULL;
}

bool upd_health_is_done(const struct upd *u)
{
    return u->health_done;
}

static json_t *slot_json(const struct upd *u, enum upd_slot s)
{
    struct bundle_manifest *m = NULL;
    json_t *o = json_pack("{s:s,s:b,s:b}", "slot", upd_slot_to_string(s), "complete",
                          upd_slot_is_complete(u->fw, s), "active", u->bcb.active == s);
    json_t *feats;

    if (!o || upd_slot_manifest_read(u->fw, s, &m) < 0)
        return o;
    feats = json_array();
    for (size_t i = 0; feats && i < m->n_features; i++)
        (void)json_array_append_new(feats, json_string(m->features[i]));
    (void)json_object_set_new(o, "fw_version", json_string(m->fw_version));
    (void)json_object_set_new(o, "product_type_version", json_string(m->product_type_version));
    (void)json_object_set_new(o, "created", json_string(m->created));
    (void)json_object_set_new(o, "features", feats ? feats : json_array());
    m = bundle_manifest_free(m);
    return o;
}

int upd_slots_format(const struct upd *u, char **ret_json)
{
    struct upd_bcb b;
    const struct bundle_manifest *m = u->manifest;
    json_t *root, *slots = json_array(), *feats = json_array(), *fb = json_null();
    char *text = NULL;

    /* The launcher may have changed the block since start (good, tries): show the disk. */
    if (upd_bcb_load(u->fw, &b) != 0)
        b = u->bcb;
    for (int s = 0; slots && s < UPD_SLOT_MAX; s++)
        (void)json_array_append_new(slots, slot_json(u, (enum upd_slot)s));
    for (size_t i = 0; feats && i < m->n_features; i++)
        (void)json_array_append_new(feats, json_string(m->features[i]));
    if (b.fallback)
        fb = json_pack("{s:s,s:s,s:s,s:I}", "from_slot", upd_slot_to_string(b.fallback_from_slot),
                       "from_version", b.fallback_from_version, "reason", b.fallback_reason,
                       "time_ms", (json_int_t)b.fallback_time_ms);
    root = json_pack("{s:s,s:s?,s:s,s:s,s:o,s:i,s:b,s:s,s:b,s:b,s:o,s:o}", "active",
                     upd_slot_to_string(b.active), "running",
                     u->running < UPD_SLOT_MAX ? upd_slot_to_string(u->running) : NULL,
                     "fw_version", m->fw_version, "product_type_version", m->product_type_version,
                     "features", feats ? feats : json_array(), "tries_left", b.tries_left, "good",
                     b.good, "last_failure", b.last_failure, "update_pending", b.update_pending,
                     "installing", u->install != NULL, "last_fallback", fb ? fb : json_null(),
                     "slots", slots ? slots : json_array());
    if (root)
        text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(root);
    if (!text)
        return -ENOMEM;
    *ret_json = text;
    return 0;
}
