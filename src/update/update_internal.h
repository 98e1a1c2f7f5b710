/* Declarations shared by the files of src/update/ and their unit tests only. */
#ifndef KONN_UPDATE_INTERNAL_H
#define KONN_UPDATE_INTERNAL_H

#include "update/update.h"

#include "base/base.h"
#include "bundle/bundle.h"

#define UPD__BCB_NAME "boot.json"
#define UPD__COMPLETE_NAME "complete"
#define UPD__CORE_PATH "core/konnektord"
#define UPD__HISTORY_NAME "history.jsonl"
#define UPD__SLOT_ENV "KONN_LAUNCHER_SLOT"

/* Removes path and everything below it (links not followed). Missing is fine. */
int upd__rmtree(const char *path);
/* "DATA/fw/.slot-b.staging" as a heap string. */
char *upd__staging_dir(const char *fw_dir, enum upd_slot slot);
/* Reads the bundle's first two entries (manifest.json and its .p7s) into heap buffers. */
int upd__bundle_read_signed_manifest(const char *bundle_path, char **ret_manifest,
                                     size_t *ret_manifest_len, char **ret_p7s, size_t *ret_p7s_len);
/* Writes data to dir/name (created, mode 0644) and fsyncs it, through the I/O seam. */
int upd__file_write(const char *dir, const char *name, const void *data, size_t len);
/* Finishes a slot from its staging directory (payloads already inside): writes manifest.json,
 * its signature (p7s may be NULL for the factory image) and the complete marker, fsyncs,
 * replaces the slot's old directory and renames staging into place; fsyncs fw_dir. */
int upd__slot_commit(const char *fw_dir, enum upd_slot slot, const char *manifest,
                     size_t manifest_len, const char *p7s, size_t p7s_len);
/* The factory manifest for a core of the given size and SHA-256 (size 0 and sha NULL:
 * without payloads, for a core that does not run from a slot). */
int upd__factory_manifest_json(uint64_t core_size, const uint8_t *sha256, char **ret_json);

/* ---- the core's updater (update.c, health.c, install.c) ---- */

struct upd__health;
struct upd__install;

struct upd {
    struct upd_deps deps;
    char *data_dir;
    char *fw;
    struct upd_bcb bcb;               /* as read at start; updated by this core's switch */
    enum upd_slot running;            /* UPD_SLOT_MAX: not started from a slot */
    bool launched;                    /* a launcher started this core */
    struct bundle_manifest *manifest; /* of the running firmware */
    int health_fd;                    /* the launcher's pipe, -1 without a launcher */
    bool health_done;
    struct upd__health *health;
    struct upd__install *install; /* the running install, NULL if none */
};

/* Publishes an event on the bus (loop only). */
void upd__publish(struct upd *u, const char *topic, int severity, const char *const *kv,
                  size_t n_kv);
/* Appends a Security record to the security log (thread-safe; a closed log drops it). */
void upd__seclog(struct seclog *log, const char *topic, int severity, const char *const *kv,
                 size_t n_kv);

struct upd__health *upd__health_free(struct upd__health *h);
struct upd__install *upd__install_free(struct upd__install *in);

#endif
