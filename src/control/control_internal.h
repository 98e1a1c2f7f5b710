/* Declarations shared by the files of src/control/ and their unit tests only. */
#ifndef KONN_CONTROL_INTERNAL_H
#define KONN_CONTROL_INTERNAL_H

#include "control/control.h"

#include "base/base.h"

/* Who may drive the simulated world: Local- and Super-Administrators. */
#define CONTROL_WORLD_ROLES                                                                        \
    (STORE_ROLE_BIT(STORE_ROLE_LOCAL_ADMIN) | STORE_ROLE_BIT(STORE_ROLE_SUPER_ADMIN))

struct flood;
struct legacy;

struct control {
    struct mgmt_deps deps;
    enum vpn_state vpn;
    bool ti_accepts; /* the simulated TI side accepts the tunnel */
    struct clock_timer *vpn_timer;
    uint64_t fw_blocked_sub; /* bus subscription to EC_FW_Not_Valid_Status_Blocked, 0 none */
    struct flood *flood;     /* the running flood, if any */
    struct legacy *legacy;   /* the legacy-cleanup fault, while on */
};

/* A route of the control API: every one is for CONTROL_WORLD_ROLES and outside the
 * critical-state gate (the simulated world must stay drivable in every state). */
struct control__route {
    enum mgmt_method method;
    const char *pattern;
    mgmt_handler_fn fn;
};

/* routes.c: registers n routes with c as their argument; the first error ends it. */
int control__routes_register(struct control *c, struct mgmt_server *srv,
                             const struct control__route *routes, size_t n);

/* cards_routes.c */
int control__cards_routes_add(struct control *c, struct mgmt_server *srv);

/* cert_routes.c: trust space and simulated OCSP answers. */
int control__cert_routes_add(struct control *c, struct mgmt_server *srv);

/* pinpad_routes.c: the virtual PIN pads, auto-PIN and PIN states (cards/pin.h) */
int control__pinpad_routes_add(struct control *c, struct mgmt_server *srv);

/* faults_log.c */
int control__faults_log_add(struct control *c, struct mgmt_server *srv);
void control__flood_stop(struct control *c);

/* faults_legacy.c: the 2020 legacy-cleanup fault. */
int control__faults_legacy_add(struct control *c, struct mgmt_server *srv);
void control__legacy_stop(struct control *c);

#endif
