/* control: the control API of the simulated world under /control/v1/ (DESIGN.md section 7):
 * the virtual clock, the simulated TI VPN tunnel and faults. Tests and konctl drive the
 * world through it; the connector itself only sees its effects (conditions, LEDs, time).
 *
 * Loop-thread only. */
#ifndef KONN_CONTROL_H
#define KONN_CONTROL_H

#include <stdbool.h>

#include "mgmt/mgmt.h"

struct control;

/* How long the simulated tunnel takes to come up (ms of connector time). */
#define CONTROL_VPN_CONNECT_MS 2000

struct control *control_new(const struct mgmt_deps *deps);
struct control *control_free(struct control *c);

/* Adds the /control/v1 routes to the management server. */
int control_routes_add(struct control *c, struct mgmt_server *srv);

/* The simulated TI side: is the tunnel reachable? Starting: the VPN client connects when
 * MGM_LU_ONLINE is Enabled. */
int control_vpn_start(struct control *c);
/* want_up: the TI side accepts the tunnel (up) or drops it (down). */
void control_vpn_set(struct control *c, bool want_up);
enum vpn_state control_vpn_get(const struct control *c);

#endif
