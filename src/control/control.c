/* control: the simulated world's object: creation and teardown. */
#include "control/control_internal.h"

#include <stdlib.h>

struct control *control_new(const struct mgmt_deps *deps)
{
    struct control *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->deps = *deps;
    c->vpn = VPN_STATE_DOWN;
    return c;
}

struct control *control_free(struct control *c)
{
    if (!c)
        return NULL;
    clock_timer_free(c->vpn_timer);
    if (c->fw_blocked_sub)
        (void)evt_bus_unsubscribe(c->deps.bus, c->fw_blocked_sub);
    control__flood_stop(c);
    control__legacy_stop(c);
    free(c);
    return NULL;
}
