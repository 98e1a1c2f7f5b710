/* update: firmware slots, the launcher, health and rollback (issue #6, docs/update.md).
 *
 *  - bcb: the boot control block DATA/fw/boot.json (active slot, tries left, good flag, the
 *    update in flight, the last fallback), written atomically through base's I/O seam.
 *  - slots: DATA/fw/slot-a/ and slot-b/, each the verified bundle's manifest.json (+ .p7s),
 *    its payloads (core/konnektord is the core executable) and a "complete" marker written
 *    last; the factory image (the running build) in slot A at first start.
 *  - launcher: what `konnektord` without --core runs: the boot loader. It execs the core of
 *    the active slot, waits for its "healthy" report on a pipe (KONN_LAUNCHER_FD), counts
 *    failed attempts and falls back to the other slot after UPD_TRIES.
 *  - health: the core's side: when bootup completed, the listeners accept, retention ran and
 *    the security log committed a record, report the boot's outcome (KSR/UPDATE/END) and tell
 *    the launcher "healthy".
 *  - install: verify a bundle before writing anything, extract it into the inactive slot on
 *    the worker pool, switch the block, restart (UPD_EXIT_RESTART).
 *  - history: DATA/fw/history.jsonl, one JSON line per install, switch, commit, rollback,
 *    refusal (and the KSR client's download and verify records).
 *
 * Errors follow STYLE.md rule 4. Loop-thread only unless a function says otherwise; the
 * launcher functions run in the launcher process, which has no loop. */
#ifndef KONN_UPDATE_H
#define KONN_UPDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bundle_manifest;
struct ec_state;
struct event_base;
struct evt_bus;
struct seclog;
struct worker_pool;

/* The core exits with this status to be started again by the launcher from the (possibly
 * switched) active slot. 75 is EX_TEMPFAIL of sysexits.h: "try again". */
#define UPD_EXIT_RESTART 75
/* Boot attempts of a slot that is not yet good before the launcher falls back. */
#define UPD_TRIES 3
/* How long a core of a slot that is not yet good has to report healthy, default (ms). */
#define UPD_HEALTH_TIMEOUT_MS_DEFAULT 30000
/* The environment variable that carries the health pipe's fd to the core. */
#define UPD_LAUNCHER_FD_ENV "KONN_LAUNCHER_FD"
/* TUC_KON_280: "applying update files failed (<details>)": also the refusals before any
 * write (no room, security log not writable), where the update could not be applied. */
#define UPD_CODE_APPLY_FAILED 4184
/* EC_OTHER_ERROR_STATE's instance raised while the last update was rolled back. */
#define UPD_EC_ROLLBACK_INSTANCE "4"

/* The connector's product identity, as connector.sds shows it: a bundle must be for it. */
#define UPD_PRODUCT_VENDOR_ID "KONND"
#define UPD_PRODUCT_CODE "konnektd"
#define UPD_HW_VERSION "1.0.0"
/* The factory image's features (a PTV5 connector's Fachmodule). */
#define UPD_FACTORY_FEATURES "VSDM", "NFDM", "AMTS", "QES"

#define UPD_VERSION_MAX 12 /* "999.999.999" + NUL, as bundle_manifest's versions */
#define UPD_REASON_MAX 160

enum upd_slot { UPD_SLOT_A, UPD_SLOT_B, UPD_SLOT_MAX };

const char *upd_slot_to_string(enum upd_slot slot); /* "a", "b"; "?" out of range */
int upd_slot_from_string(const char *s, enum upd_slot *ret_slot);
static inline enum upd_slot upd_slot_other(enum upd_slot slot)
{
    return slot == UPD_SLOT_A ? UPD_SLOT_B : UPD_SLOT_A;
}

/* ---- boot control block (bcb.c) ---------------------------------------------------------- */

/* DATA/fw/boot.json. The launcher writes it; the core's install writes it only while it runs
 * (the switch), when the launcher waits. */
struct upd_bcb {
    enum upd_slot active;
    int tries_left; /* attempts left for a slot that is not good; UPD_TRIES after a switch */
    bool good;      /* the active slot's core reported healthy since it became active */
    /* The reason the last attempt of the active slot failed, "" if none. */
    char last_failure[UPD_REASON_MAX];
    /* An install switched to the active slot and its core has not yet been healthy. */
    bool update_pending;
    enum upd_slot update_from_slot;
    char update_from_version[UPD_VERSION_MAX];
    char update_to_version[UPD_VERSION_MAX];
    /* The last fallback: from which slot and version, why, when (launcher wall time). It
     * stays until a later update is committed; reported once the old core logged it. */
    bool fallback;
    enum upd_slot fallback_from_slot;
    char fallback_from_version[UPD_VERSION_MAX];
    char fallback_reason[UPD_REASON_MAX];
    int64_t fallback_time_ms;
    bool fallback_reported;
};

/* Slot a, UPD_TRIES tries, not good, nothing pending. */
void upd_bcb_default(struct upd_bcb *ret_bcb);
/* JSON <-> struct. parse: -EBADMSG on anything unexpected (missing or mistyped field). */
int upd_bcb_parse(const char *json, size_t len, struct upd_bcb *ret_bcb);
int upd_bcb_format(const struct upd_bcb *bcb, char **ret_json);
/* Reads DIR/boot.json. A missing, torn or garbage block gives the default (slot a) and a
 * syslog line, never an error: returns 0 when read, 1 when the default was taken. */
int upd_bcb_load(const char *fw_dir, struct upd_bcb *ret_bcb);
/* Writes DIR/boot.json atomically: DIR/boot.json.tmp, fsync, rename, fsync of DIR, all
 * through base's I/O seam. On failure the old block is still what a load reads. */
int upd_bcb_save(const char *fw_dir, const struct upd_bcb *bcb);

/* ---- slots (slots.c) --------------------------------------------------------------------- */

/* "DATA/fw" as a heap string. */
char *upd_fw_dir(const char *data_dir);
/* "DATA/fw/slot-a" as a heap string. */
char *upd_slot_dir(const char *fw_dir, enum upd_slot slot);
/* Has the slot its "complete" marker (written last by an install)? */
bool upd_slot_is_complete(const char *fw_dir, enum upd_slot slot);
/* Reads and parses the slot's manifest.json. -ENOENT when the slot is not complete. */
int upd_slot_manifest_read(const char *fw_dir, enum upd_slot slot,
                           struct bundle_manifest **ret_manifest);
/* At first start (slot a not complete and slot b not complete): installs the running build
 * (exe, normally /proc/self/exe) as the factory image into slot a with a factory manifest
 * (fw_version KONN_VERSION, product type version KONN_PRODUCT_TYPE_VERSION,
 * UPD_FACTORY_FEATURES). Returns 1 installed, 0 nothing to do, negative errno. */
int upd_slot_install_factory(const char *fw_dir, const char *exe);
/* Removes staging directories a killed install left ("DATA/fw/.slot-b.staging"). */
void upd_slots_cleanup(const char *fw_dir);

/* ---- history (history.c) ----------------------------------------------------------------- */

/* One line of DATA/fw/history.jsonl. Strings may be NULL (left out). */
struct upd_history_entry {
    int64_t time_ms;    /* connector clock; 0: clock_now_ms() */
    const char *action; /* "install", "switch", "commit", "rollback", "refused", "download",
                           "verify", ... */
    const char *from_version;
    const char *to_version;
    const char *slot;   /* the slot concerned, "a" or "b" */
    const char *result; /* "ok", "failed", "refused" */
    int code;           /* gematik code, 0 for none */
    const char *message;
};

/* Appends one line and fsyncs it (O_APPEND; a torn last line from a crash is skipped by
 * readers). Thread-safe (one write(2) per line). */
int upd_history_append(const char *data_dir, const struct upd_history_entry *e);
/* The history as a JSON array text of its lines' objects, newest last, at most max entries
 * (the newest); *ret_json is a heap string. Unparseable lines are skipped. */
int upd_history_read(const char *data_dir, size_t max, char **ret_json);

/* ---- launcher (launcher.c) --------------------------------------------------------------- */

struct upd_launcher_opts {
    const char *data_dir;
    int64_t health_timeout_ms; /* 0: UPD_HEALTH_TIMEOUT_MS_DEFAULT */
    int argc;                  /* konnektord's own arguments, passed to the core after --core */
    char **argv;
};

/* Runs the launcher until the core exits for good; returns the process exit status (the
 * core's, or 1 when no slot can be started). Installs the factory image at first start. */
int upd_launcher_run(const struct upd_launcher_opts *opts);

/* ---- the core's updater (update.c, health.c, install.c) ---------------------------------- */

struct upd;

struct upd_deps {
    struct event_base *base;
    struct worker_pool *workers;
    struct evt_bus *bus;
    struct ec_state *ecs;
    struct seclog **seclog; /* *seclog NULL while the security log is not open */
    const char *data_dir;
    /* Asks the daemon for a clean shutdown with exit status UPD_EXIT_RESTART. */
    void (*restart)(void *arg);
    void *restart_arg;
};

/* Reads the block and the running slot's manifest (the factory defaults when the core runs
 * without a slot, e.g. from the build directory), raises EC_OTHER_ERROR_STATE(4) while a
 * fallback is on record, and takes the health pipe from UPD_LAUNCHER_FD_ENV. */
int upd_new(const struct upd_deps *deps, struct upd **ret_upd);
struct upd *upd_free(struct upd *u);

/* The manifest of the running firmware (borrowed, valid until upd_free). Never NULL. */
const struct bundle_manifest *upd_slot_manifest(const struct upd *u);
/* The running slot (UPD_SLOT_MAX when the core does not run from a slot). */
enum upd_slot upd_running_slot(const struct upd *u);
/* The block as read at start, updated by this core's switch. */
const struct upd_bcb *upd_bcb_get(const struct upd *u);
/* Is an install running (between upd_install_start and its done callback)? */
bool upd_install_is_running(const struct upd *u);

/* Bootup is complete and the listeners are open: checks that each address ("HOST:PORT",
 * NULL-terminated list) accepts a connection, requests a retention run, commits a record to
 * the security log, reports the boot's update outcome (KSR/UPDATE/END, history), then writes
 * "healthy" to the launcher's pipe. Without a launcher it only reports. Retries every 200 ms
 * until done. */
int upd_health_start(struct upd *u, const char *const *addrs);
/* Has the health check passed? */
bool upd_health_is_done(const struct upd *u);

/* Tests only (the crash test, docs/update.md): when the environment variable
 * UPD_CRASH_FILE_ENV names a file whose content is step, the file is removed and this core and
 * its launcher are killed with SIGKILL (a core without a launcher kills only itself). Steps:
 * "download", "verify", "write-slot", "switch", "first-boot", "health". Thread-safe. */
#define UPD_CRASH_FILE_ENV "KONN_UPDATE_CRASH_FILE"
void upd_crash_point(const struct upd *u, const char *step);

/* The JSON of GET /api/v1/update/slots (a heap jansson-free string). */
int upd_slots_format(const struct upd *u, char **ret_json);

typedef void (*upd_install_done_fn)(int code, const char *message, void *arg);

/* Installs the bundle at bundle_path: verifies it against the vendor roots of the trust space
 * (DATA/trust/vendor/ *.pem files) and the firmware group DATA/fw/group.json(+.p7s) when present,
 * before writing anything (4183 integrity, 4185 firmware group); checks free space (bundle
 * size x 2 + 16 MiB) and the security log (4184 refusals); extracts into the inactive slot on
 * the worker pool; switches the block (tries UPD_TRIES, not good), logs KSR/UPDATE/START and
 * history, calls done(0, "...") and then asks the daemon to restart. done runs exactly once
 * on the loop when this returns 0; code 0 or a gematik code (4183, 4184, 4185), message
 * printable. -EBUSY when an install runs, -ENOMEM. Allowed in every critical state. */
int upd_install_start(struct upd *u, const char *bundle_path, upd_install_done_fn done, void *arg);

/* ==== KSR client, update policy, features (ksr_*.c, policy.c, features.c) ================ */
/* The connector's side of the KSR (Konfigurations- und Software-Repository, TUC_KON_280..286,
 * docs/update-ksr.md): list_Updates over SOAP/HTTP(S) against the KSR_URL setting, downloads
 * with HTTP Range into DATA/fw/download/, the conditions and events of what the KSR offers,
 * the daily check and the automatic-update policy on the connector's clock, the pause switch,
 * and the Fachmodule a firmware's features enable. Install itself is upd_install_start(). */

#define UPD_KSR_NS "http://ws.gematik.de/ksr/v1.1"
#define UPD_KSR_SOAP_ACTION "http://ws.gematik.de/ksr/v1.1#ListUpdates"
/* Limits of Konfigurationsdienst.xsd (counts, characters) and of what the client reads. */
#define UPD_KSR_UPDATES_MAX 999
#define UPD_KSR_FILES_MAX 999
#define UPD_KSR_NOTES_MAX 2048         /* ReleaseNotesType */
#define UPD_KSR_NAME_MAX 64            /* ProductName kept (ProductInformation allows 256) */
#define UPD_KSR_ID_MAX 64              /* UpdateID kept */
#define UPD_KSR_FILE_NAME_MAX 128      /* a Filename: one safe path component */
#define UPD_KSR_RESPONSE_MAX (4 << 20) /* 4 MiB: 999 updates with full notes fit */

/* The product a list_Updates asks for (listUpdatesRequest). */
struct upd_ksr_identity {
    char product_vendor_id[6];
    char product_code[9];
    char hw_version[UPD_VERSION_MAX];
    char fw_version[UPD_VERSION_MAX];
};

struct upd_ksr_file {
    char *name;    /* Filename: [A-Za-z0-9._-], 1..128, not starting with '.' */
    uint64_t size; /* FileSize, bytes */
    char *notes;   /* Notes, 0..256 characters */
};

/* One UpdateInformation of a listUpdatesResponse. */
struct upd_ksr_update {
    char update_id[UPD_KSR_ID_MAX + 1];
    char product_vendor_id[6];
    char product_code[9];
    char hw_version[UPD_VERSION_MAX];
    char product_name[UPD_KSR_NAME_MAX + 1];
    char creation_date[11]; /* YYYY-MM-DD */
    char start_date[11];    /* "" when absent */
    char deadline[11];      /* "" when absent */
    char fw_version[UPD_VERSION_MAX];
    bool critical; /* FWPriority "Kritisch" */
    char *release_notes;
    struct upd_ksr_file *files; /* Firmwarefiles: the bundle (the first ending in .kbundle) */
    size_t n_files;
    struct upd_ksr_file *docs; /* Documentationfiles: a firmware group document may be here */
    size_t n_docs;
};

struct upd_ksr_list {
    char *group_release_notes; /* NULL when absent */
    struct upd_ksr_update *updates;
    size_t n_updates;
};

/* Is s a version N.N.N with 1..3 digits each (PI:FWVersion)? */
bool upd_version_is_valid(const char *s);
/* <0, 0, >0 as a is older, equal, newer than b (both valid versions). */
int upd_version_compare(const char *a, const char *b);
/* Is name one safe file name component (Filename as the client stores it)? */
bool upd_file_name_is_safe(const char *name);

/* list_Updates bytes (ksr_xml.c; thread-safe, no state). Parsers go through soap's safe
 * parser, refuse anything outside the XSD's shape (-EBADMSG, the element at fault in err),
 * and -EPROTO for a SOAP fault (its faultstring in err). */
int upd_ksr_request_format(const struct upd_ksr_identity *id, char **ret_xml, size_t *ret_len);
int upd_ksr_request_parse(const void *xml, size_t len, struct upd_ksr_identity *ret_id, char *err,
                          size_t err_size);
int upd_ksr_response_format(const struct upd_ksr_list *list, char **ret_xml, size_t *ret_len);
int upd_ksr_response_parse(const void *xml, size_t len, struct upd_ksr_list **ret_list, char *err,
                           size_t err_size);
struct upd_ksr_list *upd_ksr_list_free(struct upd_ksr_list *list);

/* ---- policy (policy.c): pure functions of the connector's clock, and the pause switch ---- */

/* A time-of-day slot counts as due this long after its time (ms); later it was missed. */
#define UPD_POLICY_SLOT_GRACE_MS (60 * 1000)
/* ... and this long before it: a timer on the monotonic clock may fire a little early. */
#define UPD_POLICY_SLOT_EARLY_MS 1000

/* "HH:MM" (00:00..23:59) into minutes since midnight. -EINVAL. */
int upd_policy_time_parse(const char *hhmm, int *ret_minute);
/* The first wall time strictly after now_ms whose UTC time of day is minute_of_day. */
int64_t upd_policy_next_slot(int64_t now_ms, int minute_of_day);
/* A slot timer for slot_ms fired at now_ms: is it on time (true), or was the slot missed
 * (the clock jumped past it, A_18391: not caught up)? */
bool upd_policy_slot_is_due(int64_t slot_ms, int64_t now_ms);
/* Is the Deadline "YYYY-MM-DD" (00:00 UTC) at or before now_ms (TIP1-A_6025)? "" never. */
bool upd_policy_deadline_passed(const char *deadline, int64_t now_ms);
/* The persisted pause switch (DATA/fw/paused): while set, nothing installs, neither manual
 * nor automatic. */
bool upd_paused_get(const char *data_dir);
int upd_paused_set(const char *data_dir, bool paused);

/* ---- the KSR client (ksr_client.c, ksr_fetch.c, ksr_routes.c) --------------------------- */

struct mgmt_server;
struct store;
struct upd_ksr;

struct upd_ksr_deps {
    struct event_base *base;
    struct store *store; /* KSR_URL, MGM_LU_ONLINE, MGM_KSR_* */
    struct evt_bus *bus;
    struct ec_state *ecs;
    struct upd *upd; /* the installer and the running manifest; NULL: nothing installs */
    const char *data_dir;
};

/* Reads the last answer of the KSR (DATA/fw/ksr/list.xml) and evaluates the conditions for
 * it, then starts the daily check and the automatic-update slot on the connector's clock.
 * Owns a worker thread for the network. */
int upd_ksr_new(const struct upd_ksr_deps *deps, struct upd_ksr **ret_ksr);
/* Stops the timers, aborts a running transfer (its .part file stays for a resume). */
struct upd_ksr *upd_ksr_free(struct upd_ksr *k);

/* code: 0 done, else a negative errno (-EBUSY, -ENOENT, -EHOSTUNREACH, ...) or a gematik code
 * of the install (4183, 4184, 4185); message printable. */
typedef void (*upd_ksr_done_fn)(int code, const char *message, void *arg);
/* Each returns 0 and calls done exactly once on the loop later, or a negative errno with
 * nothing called: -EBUSY (something else runs), -ENOENT (no KSR_URL, nothing to download or
 * no such downloaded version), -EPERM (paused: installs only), -ENETDOWN (MGM_LU_ONLINE off). */
int upd_ksr_check(struct upd_ksr *k, upd_ksr_done_fn done, void *arg);
int upd_ksr_download(struct upd_ksr *k, upd_ksr_done_fn done, void *arg);
int upd_ksr_install(struct upd_ksr *k, const char *version, upd_ksr_done_fn done, void *arg);
int upd_ksr_pause(struct upd_ksr *k, bool paused);
/* GET /api/v1/update/status's JSON (a heap string). */
int upd_ksr_status_format(const struct upd_ksr *k, char **ret_json);
/* The management routes /api/v1/update/{check,status,download,install,pause,resume}. */
int upd_ksr_routes_add(struct upd_ksr *k, struct mgmt_server *srv);

/* ==== end of the KSR section ============================================================= */

#endif
