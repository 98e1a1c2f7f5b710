/* daemon: the konnektord process: options, the objects main creates and passes down, and the
 * bootup steps that bring them up. Nothing outside src/daemon/ includes this. */
#ifndef KONN_DAEMON_H
#define KONN_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"
#include "cards/cards.h"
#include "control/control.h"
#include "events/events.h"
#include "mgmt/mgmt.h"
#include "seclog/seclog.h"
#include "services/services.h"
#include "soap/soap.h"
#include "state/state.h"
#include "store/store.h"
#include "update/update.h"

#define DAEMON_BOOT_FAULTS_MAX 8
#define DAEMON_SETTINGS_MAX 32

struct options {
    const char *data_dir;
    const char *mgmt_addr;
    const char *lan_http;       /* "ADDR:PORT" of the plain-HTTP LAN listener, or NULL */
    const char *lan_https;      /* "ADDR:PORT" of the HTTPS LAN listener, or NULL */
    const char *world_template; /* a prepared DATA/world to start from, or NULL */
    enum clock_mode clock;
    const char *boot_faults[DAEMON_BOOT_FAULTS_MAX];
    size_t n_boot_faults;
    const char *settings[DAEMON_SETTINGS_MAX]; /* "NAME=VALUE", applied at bootup */
    size_t n_settings;
    bool core;                 /* --core: run the core, not the launcher */
    int64_t health_timeout_ms; /* --health-timeout: the launcher's, 0 for the default */
};

/* Parses argv. Returns 0 to run, 1 when --help or --version was answered, -EINVAL on a usage
 * error (already reported on stderr). */
int options_parse(int argc, char **argv, struct options *ret_opts);

struct daemon {
    struct options opts;
    struct event_base *base;
    struct evt_bus *bus;
    struct ec_state *ecs;
    struct led_panel *leds;
    struct worker_pool *workers;
    struct store *store;
    struct mgmt_identity *identity;
    struct mgmt_server *mgmt;
    struct control *control;
    struct bootup *bootup;
    struct seclog *seclog, *syslog;
    struct cards *cards;
    int cards_prepare_result;
    struct soap_server *soap;
    struct services *services;
    struct upd *upd;     /* the updater: slots, health, install (NULL if it could not start) */
    struct upd_ksr *ksr; /* the KSR client and update policy (NULL until bootup completed) */
    struct clock_timer *retention_timer, *reopen_timer;
    int64_t reopen_ms;
    uint64_t seclog_overflows_seen, syslog_overflows_seen;
    uint64_t logs_missed_since; /* bus seq when the security log became unavailable; 0 none */
    int64_t boot_time_ms, boot_mono_ms;
    int exit_code;
};

/* Adds the bootup steps (docs/operating-state.md lists them) and starts bootup; the
 * management listener opens only when every step has finished or failed (TIP1-A_4507). */
int boot_steps_start(struct daemon *d);

/* Opens the security and system logs (TUC_KON_272) and routes events and operator messages
 * into them (TUC_KON_271). An open that fails is retried by itself; the error is returned so
 * that bootup raises EC_Security_Log_Not_Writable. */
int logs_start(struct daemon *d);
/* Flushes and closes both logs. */
void logs_stop(struct daemon *d);

#endif
