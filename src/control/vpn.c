/* vpn: the simulated TI VPN tunnel of the network connector.
 *
 *          set(up), online         timer CONTROL_VPN_CONNECT_MS
 *   DOWN ------------------> CONNECTING ------------------------> UP
 *    ^  ^                        |                                 |
 *    |  +------ set(down) -------+--------- set(down) -------------+
 *    +--------- MGM_LU_ONLINE=Disabled (from any state) -----------+
 *
 * Transitions: vpn_enter() is the only function that changes the state.
 * Invariants:
 *  1. EC_No_VPN_TI_Connection is active exactly when the state is not UP and MGM_LU_ONLINE is
 *     Enabled (A_17085: never raised offline). It is raised at once, within the 300 s of
 *     TAB_KON_503, while the tunnel is down or still connecting.
 *  2. The VPN LED follows the state (led_panel_set_vpn) on every transition.
 *  3. While EC_FW_Not_Valid_Status_Blocked is active (a critical update past its deadline,
 *     TIP1-A_6025) the tunnel is torn down and not set up again, as when the TI refuses it. */
#include "control/control_internal.h"

#include <errno.h>
#include <string.h>

static void vpn_enter(struct control *c, enum vpn_state next)
{
    bool online = false;

    (void)store_setting_get_bool(c->deps.store, "MGM_LU_ONLINE", &online);
    if (next == VPN_STATE_CONNECTING)
        clock_timer_start(c->vpn_timer, CONTROL_VPN_CONNECT_MS);
    else
        clock_timer_stop(c->vpn_timer);
    if (c->vpn != next)
        log_msg(LOG_LEVEL_INFO, "control: TI VPN %s -> %s", vpn_state_to_string(c->vpn),
                vpn_state_to_string(next));
    c->vpn = next;
    led_panel_set_vpn(c->deps.leds, next);
    if (online && next != VPN_STATE_UP)
        (void)ec_raise(c->deps.ecs, EC_NO_VPN_TI_CONNECTION, NULL, NULL, 0);
    else
        (void)ec_clear(c->deps.ecs, EC_NO_VPN_TI_CONNECTION, NULL);
}

static void on_connected(void *arg)
{
    struct control *c = arg;

    vpn_enter(c, c->ti_accepts ? VPN_STATE_UP : VPN_STATE_DOWN);
}

static void reconsider(struct control *c)
{
    bool online = false;

    (void)store_setting_get_bool(c->deps.store, "MGM_LU_ONLINE", &online);
    if (!online || !c->ti_accepts ||
        ec_is_active(c->deps.ecs, EC_FW_NOT_VALID_STATUS_BLOCKED, NULL))
        vpn_enter(c, VPN_STATE_DOWN);
    else if (c->vpn == VPN_STATE_DOWN)
        vpn_enter(c, VPN_STATE_CONNECTING);
}

static void on_setting_changed(const char *name, const char *value, void *arg)
{
    if (strcmp(name, "MGM_LU_ONLINE") == 0)
        reconsider(arg);
}

static void on_fw_blocked(const struct evt_event *ev, void *arg)
{
    reconsider(arg);
}

int control_vpn_start(struct control *c)
{
    int r;

    c->vpn_timer = clock_timer_new(on_connected, c);
    if (!c->vpn_timer)
        return -ENOMEM;
    r = store_setting_on_change(c->deps.store, on_setting_changed, c);
    if (r < 0)
        return r;
    if (c->deps.bus) {
        r = evt_bus_subscribe(c->deps.bus, "OPERATIONAL_STATE/EC_FW_Not_Valid_Status_Blocked",
                              on_fw_blocked, c, &c->fw_blocked_sub);
        if (r < 0)
            return r;
    }
    c->ti_accepts = true;
    c->vpn = VPN_STATE_DOWN;
    reconsider(c);
    /* reconsider() leaves DOWN when offline; make the LED and condition match anyway. */
    if (c->vpn == VPN_STATE_DOWN)
        vpn_enter(c, VPN_STATE_DOWN);
    return 0;
}

void control_vpn_set(struct control *c, bool want_up)
{
    c->ti_accepts = want_up;
    reconsider(c);
}

enum vpn_state control_vpn_get(const struct control *c)
{
    return c->vpn;
}
