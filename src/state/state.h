/* state: the operating state of the connector.
 *  - ec_*:    the 34 error conditions of TAB_KON_503 (one table) and the set of active
 *             instances; every change raises OPERATIONAL_STATE/<EC> on the event bus
 *             (TIP1-A_4512-04).
 *  - gate_*:  the critical-state gate, TAB_KON_504-01 as data (TIP1-A_4510-04).
 *  - led_*:   the four front LEDs derived from the state, and the watchdog thread that turns
 *             System off when the main loop stops ticking (DESIGN.md section 6).
 *  - bootup_*: the bootup sequence with per-step deadlines (TIP1-A_4507, TIP1-A_4508).
 *
 * Loop-thread only, except where a function says "thread-safe". */
#ifndef KONN_STATE_H
#define KONN_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "events/events.h"

struct event_base;

/* ---- error conditions (TAB_KON_503) ----------------------------------------------------- */

/* In table order (digest section 2.3). */
enum ec_id {
    EC_CARDTERMINAL_SOFTWARE_OUT_OF_DATE,
    EC_CARDTERMINAL_GSMC_KT_CERTIFICATE_EXPIRES_SOON,
    EC_CONNECTOR_SOFTWARE_OUT_OF_DATE,
    EC_FW_UPDATE_AVAILABLE,
    EC_FW_NOT_VALID_STATUS_BLOCKED,
    EC_TIME_SYNC_NOT_SUCCESSFUL,
    EC_TSL_UPDATE_NOT_SUCCESSFUL,
    EC_TSL_EXPIRING,
    EC_BNETZA_VL_UPDATE_NOT_SUCCESSFUL,
    EC_BNETZA_VL_NOT_VALID,
    EC_TSL_TRUST_ANCHOR_EXPIRING,
    EC_LOG_OVERFLOW,
    EC_CRL_EXPIRING,
    EC_TIME_SYNC_PENDING_WARNING,
    EC_TSL_OUT_OF_DATE_WITHIN_GRACE_PERIOD,
    EC_CARDTERMINAL_NOT_AVAILABLE,
    EC_NO_VPN_TI_CONNECTION,
    EC_NO_VPN_SIS_CONNECTION,
    EC_NO_ONLINE_CONNECTION,
    EC_IP_ADRESSES_NOT_AVAILABLE,
    EC_CRL_OUT_OF_DATE,
    EC_FIREWALL_NOT_RELIABLE,
    EC_RANDOM_GENERATOR_NOT_RELIABLE,
    EC_SECURE_KEYSTORE_NOT_AVAILABLE,
    EC_SECURITY_LOG_NOT_WRITABLE,
    EC_SOFTWARE_INTEGRITY_CHECK_FAILED,
    EC_TIME_DIFFERENCE_INTOLERABLE,
    EC_TIME_SYNC_PENDING_CRITICAL,
    EC_TSL_TRUST_ANCHOR_OUT_OF_DATE,
    EC_TSL_OUT_OF_DATE_BEYOND_GRACE_PERIOD,
    EC_CRYPTOPERATION_ALARM,
    EC_OTHER_ERROR_STATE,
    EC_NK_CERTIFICATE_EXPIRING,
    EC_NK_CERTIFICATE_EXPIRED,
    EC_MAX
};

/* Who may end a condition besides the detector seeing the situation end. */
enum ec_reset {
    EC_RESET_SITUATION,          /* only the detector clears it when the situation ends */
    EC_RESET_ADMIN_ONLY,         /* only an administrator clears it (EC_LOG_OVERFLOW, ...) */
    EC_RESET_ADMIN_OR_SITUATION, /* the detector, or an admin correction (time states) */
    EC_RESET_MAX
};

#define EC_PARAMS_MAX 4
#define EC_INSTANCE_MAX 64

struct ec_def {
    enum ec_id id;
    const char *name;        /* "EC_LOG_OVERFLOW", as TAB_KON_503 spells it */
    const char *description; /* Bedeutung, English paraphrase */
    enum evt_type type;
    enum evt_severity severity;
    int64_t detection_ms;       /* maximum detection time */
    bool parameterised;         /* instances carry an id, e.g. EC_CardTerminal_Not_Available(ct1) */
    const char *instance_param; /* name of the instance parameter ("CtID"), NULL if none */
    const char *params[EC_PARAMS_MAX]; /* further parameter names, NULL-terminated */
    enum ec_reset reset;
};

const struct ec_def *ec_def_get(enum ec_id id);
/* Accepts the TAB_KON_503 name in any letter case ("ec_log_overflow" too). */
int ec_id_from_string(const char *name, enum ec_id *ret_id);
const char *ec_reset_to_string(enum ec_reset reset);

/* A view of one active instance, valid until the next change of the set. */
struct ec_instance_view {
    enum ec_id id;
    const char *instance; /* "" for conditions without instances */
    int64_t since_ms;     /* wall time it became active */
    const struct evt_param *params;
    size_t n_params;
};

struct ec_state;

struct ec_state *ec_state_new(struct evt_bus *bus);
struct ec_state *ec_state_free(struct ec_state *st);

/* Raises a condition (instance "" or NULL unless parameterised; a parameterised condition
 * needs an instance). params are copied; raising an active instance again updates its
 * parameters and raises no event. Returns 1 if it became active, 0 if it already was. */
int ec_raise(struct ec_state *st, enum ec_id id, const char *instance,
             const struct evt_param *params, size_t n_params);
/* The detector says the situation has ended. Admin-only conditions stay active (returns 0).
 * Returns 1 if cleared, 0 if not active or not the detector's to clear. */
int ec_clear(struct ec_state *st, enum ec_id id, const char *instance);
/* An administrator resets a condition. -EPERM if TAB_KON_503 does not allow it (the
 * condition ends only with its situation), -ENOENT if not active. */
int ec_reset(struct ec_state *st, enum ec_id id, const char *instance);

bool ec_is_active(const struct ec_state *st, enum ec_id id, const char *instance);
size_t ec_count_active(const struct ec_state *st);
/* Calls fn for each active instance in table order, then instance order. */
void ec_foreach_active(const struct ec_state *st,
                       void (*fn)(const struct ec_instance_view *v, void *arg), void *arg);
/* True if any active condition has severity Fatal. */
bool ec_has_fatal(const struct ec_state *st);
/* True if any active condition waits for an administrator (EC_RESET_ADMIN_ONLY). */
bool ec_has_admin_pending(const struct ec_state *st);
/* Registers fn to be called after every change of the set (for the LEDs). One listener. */
void ec_state_on_change(struct ec_state *st, void (*fn)(void *arg), void *arg);

/* ---- critical-state gate (TAB_KON_504-01) ---------------------------------------------- */

/* The rows of TAB_KON_504-01, in the digest's order. */
enum gate_op {
    GATE_OP_BASE,        /* TUC_KON_000, TUC_KON_256, TUC_KON_271, CETP interface */
    GATE_OP_REGISTER_FM, /* TUC_KON_041 */
    GATE_OP_CARD, /* card TUCs, PIN ops, Encrypt/Decrypt, Sign/Verify, ExternalAuthenticate */
    GATE_OP_CARD_SESSION,      /* TUC_KON_026 */
    GATE_OP_SYMMETRIC,         /* TUC_KON_072/073 */
    GATE_OP_CERT_INFO,         /* TUC_KON_034 */
    GATE_OP_TLS_VPN_AUTO,      /* TUC_KON_110, IPsec TI/SIS, TUC_KON_410/411 automatic */
    GATE_OP_CERT_RENEW_MANUAL, /* TUC_KON_410/411 manual */
    GATE_OP_EVENT_SERVICE, /* GetCardTerminals, GetCards, GetResourceInformation, Subscribe, ... */
    GATE_OP_READ_CERT,     /* ReadCardCertificate, CheckCertificateExpiration */
    GATE_OP_VERIFY_CERT,   /* VerifyCertificate */
    GATE_OP_NTP_SERVER,    /* I_NTP_Time_Information */
    GATE_OP_MGMT_UPDATE,   /* management: software update */
    GATE_OP_MGMT_LOG_VIEW, /* management: log viewing (and status, LEDs, conditions) */
    GATE_OP_MGMT_FACTORY_RESET, /* management: factory reset */
    GATE_OP_MGMT_OTHER,         /* management: everything else */
    GATE_OP_MAX
};

const char *gate_op_to_string(enum gate_op op);
/* Accepts a row name ("card", "event-service", ...) or a SOAP operation name ("VerifyPin",
 * "GetCards", ...) and returns its row. */
int gate_op_from_string(const char *s, enum gate_op *ret_op);

/* One cell of the matrix: may op run while the Fatal condition ec is active? Conditions
 * that are not Fatal allow everything. EC_Firewall_Not_Reliable is not a column of
 * TAB_KON_504-01: A_16203 makes the connector unusable, so it allows only the three
 * recovery paths (update, log viewing, factory reset). */
bool gate_cell(enum gate_op op, enum ec_id ec);

/* The intersection over all active Fatal conditions. On refusal, ret_blocker (may be NULL)
 * names the first blocking condition; the caller answers gematik error 4002. */
bool gate_allows(const struct ec_state *st, enum gate_op op, enum ec_id *ret_blocker);

/* gematik code for a refusal by the gate (TAB_KON_502). */
#define GATE_REFUSED_CODE 4002

/* ---- LEDs (DESIGN.md section 6) --------------------------------------------------------- */

enum led_id { LED_POWER, LED_SYSTEM, LED_VPN, LED_SERVICE, LED_MAX };
enum led_mode { LED_MODE_OFF, LED_MODE_ON, LED_MODE_BLINK, LED_MODE_MAX };
enum vpn_state { VPN_STATE_DOWN, VPN_STATE_CONNECTING, VPN_STATE_UP, VPN_STATE_MAX };

const char *led_id_to_string(enum led_id id);          /* "power", "system", "vpn", "service" */
const char *led_mode_to_string(enum led_mode mode);    /* "off", "on", "blink" */
const char *vpn_state_to_string(enum vpn_state state); /* "down", "connecting", "up" */
int vpn_state_from_string(const char *s, enum vpn_state *ret_state);

struct led_inputs {
    bool booted;     /* bootup complete */
    bool fatal;      /* a Fatal condition is active */
    bool loop_alive; /* the main loop ticked within the watchdog limit */
    enum vpn_state vpn;
    bool admin_pending; /* a condition waits for an administrator */
};

/* Pure: the LED modes for the inputs. Power is on whenever the process runs. System: off when
 * the loop is not alive, blinking while booting or with a Fatal condition, else on. VPN: on
 * up, blinking connecting, off down. Service: on when an admin is needed. */
void led_derive(const struct led_inputs *in, enum led_mode ret_modes[LED_MAX]);

/* The LED panel: the live inputs, a watchdog thread, and a file that mirrors the panel the way
 * a device's front shows it, so it can be read even when the loop hangs. */
struct led_panel;

/* file: path of the mirror file (JSON, written atomically on every change), may be NULL.
 * stall_ms: how long the loop may go without a tick before System goes off (2000). */
struct led_panel *led_panel_new(const char *file, int64_t stall_ms);
/* Starts the watchdog thread and, when base is given, a real-time loop timer that ticks every
 * stall_ms / 8 (without a base the caller ticks). */
int led_panel_start(struct led_panel *p, struct event_base *base);
void led_panel_stop(struct led_panel *p);
struct led_panel *led_panel_free(struct led_panel *p);

void led_panel_set_booted(struct led_panel *p, bool booted);
void led_panel_set_vpn(struct led_panel *p, enum vpn_state vpn);
/* The VPN state last set (what the VPN LED shows). */
enum vpn_state led_panel_get_vpn(struct led_panel *p);
/* Re-reads fatal and admin_pending from the condition set. */
void led_panel_update_from(struct led_panel *p, const struct ec_state *st);
/* The main loop's heartbeat (the panel's own timer calls it). Thread-safe. */
void led_panel_tick(struct led_panel *p);
/* Current modes. Thread-safe. */
void led_panel_get(struct led_panel *p, enum led_mode ret_modes[LED_MAX]);
/* For the watchdog and its tests: is the loop alive at real monotonic time now_ms? */
bool led_panel_loop_alive_at(struct led_panel *p, int64_t now_ms);

/* ---- bootup (TIP1-A_4507, TIP1-A_4508) -------------------------------------------------- */

/* A step reports completion with bootup_step_done(); it may do so from its run function or
 * later from a loop callback. A step that misses its deadline or reports an error raises its
 * condition and bootup goes on; a late report is ignored. */
struct bootup;
struct bootup_step;

typedef void (*bootup_run_fn)(struct bootup *b, void *arg);
typedef void (*bootup_complete_fn)(struct bootup *b, void *arg);

struct bootup *bootup_new(struct ec_state *ecs, struct evt_bus *bus);
struct bootup *bootup_free(struct bootup *b);

/* Appends a step. fail_ec (EC_MAX for none) is raised when the step fails or times out;
 * fail_instance names the instance of a parameterised condition (else NULL). */
int bootup_add_step(struct bootup *b, const char *name, int64_t deadline_ms, enum ec_id fail_ec,
                    const char *fail_instance, bootup_run_fn run, void *arg);
/* Runs the steps in order; complete() runs after the last, right before
 * BOOTUP/BOOTUP_COMPLETE is published. */
int bootup_start(struct bootup *b, bootup_complete_fn complete, void *arg);
/* r: 0 for success, a negative errno for failure. Reports for the step that is running now;
 * ignored when no step runs. */
void bootup_step_done(struct bootup *b, int r);
/* For a step that reports later, from a loop callback: take the running step in its run
 * function and report with bootup_step_report(), so that a report arriving after the step's
 * deadline is ignored instead of ending the step that runs by then. The pointer is borrowed
 * and stays valid until bootup_free(); NULL when no step runs. */
struct bootup_step *bootup_step_current(struct bootup *b);
void bootup_step_report(struct bootup *b, struct bootup_step *step, int r);
bool bootup_is_complete(const struct bootup *b);
/* How many steps failed or timed out. */
size_t bootup_failed_steps(const struct bootup *b);

/* Test hook: "NAME:fail", "NAME:hang" or "NAME:delay=MS" makes that step misbehave. */
int bootup_set_fault(struct bootup *b, const char *spec);

#endif
