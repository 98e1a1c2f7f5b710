/* routes: the /control/v1 endpoints: virtual clock, simulated VPN, faults. They belong to the
 * simulated world, not to the connector, so no critical state stops them (gate GATE_OP_MAX);
 * only Local- and Super-Administrators may drive the world. */
#include "control/control_internal.h"

#include <errno.h>
#include <string.h>
#include <time.h>

/* A stall longer than this is no watchdog test any more, just a hung test run. */
#define STALL_MAX_MS 30000

static json_t *clock_json(void)
{
    char now[32];

    return json_pack("{s:s,s:s,s:I,s:I}", "mode", clock_mode_to_string(clock_mode_get()), "now",
                     clock_format_iso(clock_now_ms(), now, sizeof(now)), "now_ms",
                     (json_int_t)clock_now_ms(), "offset_ms", (json_int_t)clock_offset_ms());
}

static void get_clock(struct mgmt_request *req, void *arg)
{
    mgmt_reply_json(req, 200, clock_json());
}

static void post_clock_advance(struct mgmt_request *req, void *arg)
{
    const char *by = mgmt_body_string(req, "by");
    int64_t ms;
    int r;

    if (!by)
        return;
    r = duration_parse_ms(by, &ms);
    if (r < 0) {
        mgmt_reply_error(req, 400, "invalid_value",
                         "by must be a duration like 90s, 15m, 2h or 10d (at most 3650d), got "
                         "'%.32s'",
                         by);
        return;
    }
    r = clock_advance(ms);
    if (r == -EPERM) {
        mgmt_reply_error(req, 409, "conflict",
                         "the connector runs on the real clock; start it with --clock virtual");
        return;
    }
    log_msg(LOG_LEVEL_INFO, "control: '%s' advanced the virtual clock by %s",
            mgmt_request_user(req), by);
    mgmt_reply_json(req, 200, clock_json());
}

static void get_vpn(struct mgmt_request *req, void *arg)
{
    struct control *c = arg;

    mgmt_reply_json(req, 200,
                    json_pack("{s:s,s:b}", "state", vpn_state_to_string(control_vpn_get(c)),
                              "ti_accepts", c->ti_accepts));
}

static void put_vpn(struct mgmt_request *req, void *arg)
{
    struct control *c = arg;
    const char *state = mgmt_body_string(req, "state");

    if (!state)
        return;
    if (strcmp(state, "up") != 0 && strcmp(state, "down") != 0) {
        mgmt_reply_error(req, 400, "invalid_value", "state must be 'up' or 'down', got '%.32s'",
                         state);
        return;
    }
    control_vpn_set(c, strcmp(state, "up") == 0);
    get_vpn(req, arg);
}

static void post_stall(struct mgmt_request *req, void *arg)
{
    json_t *v = mgmt_request_body(req) ? json_object_get(mgmt_request_body(req), "ms") : NULL;
    json_int_t ms = json_is_integer(v) ? json_integer_value(v) : -1;
    struct timespec ts;

    if (ms < 0 || ms > STALL_MAX_MS) {
        mgmt_reply_error(req, 400, "invalid_value", "ms must be a whole number from 0 to %d",
                         STALL_MAX_MS);
        return;
    }
    log_msg(LOG_LEVEL_WARNING, "control: '%s' stalls the main loop for %lld ms (fault)",
            mgmt_request_user(req), (long long)ms);
    /* The point of this fault is to block the loop; nanosleep is the honest way to do it. */
    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
    mgmt_reply_json(req, 200, json_pack("{s:I}", "stalled_ms", ms));
}

/* A detector may pass its own parameters (TAB_KON_503's lists) with a raise. */
#define EC_RAISE_PARAMS_MAX 8

/* Reads the optional "params" object of a condition fault; borrowed strings. */
static bool condition_params(json_t *body, struct evt_param *ret, size_t *ret_n)
{
    json_t *params = body ? json_object_get(body, "params") : NULL;
    const char *key;
    json_t *v;
    size_t n = 0;

    if (!params)
        return true;
    if (!json_is_object(params) || json_object_size(params) > EC_RAISE_PARAMS_MAX)
        return false;
    json_object_foreach(params, key, v)
    {
        if (!json_is_string(v))
            return false;
        ret[n++] = (struct evt_param){key, json_string_value(v)};
    }
    *ret_n = n;
    return true;
}

/* Raises or clears any TAB_KON_503 condition, as its detector would, so that tests and
 * practice-software teams can put the connector into any operating state. */
static void post_condition(struct mgmt_request *req, void *arg)
{
    struct control *c = arg;
    const char *name = mgmt_body_string(req, "name");
    json_t *body = mgmt_request_body(req);
    json_t *active = body ? json_object_get(body, "active") : NULL;
    json_t *inst = body ? json_object_get(body, "instance") : NULL;
    const char *instance = json_is_string(inst) ? json_string_value(inst) : NULL;
    struct evt_param params[EC_RAISE_PARAMS_MAX];
    size_t n_params = 0;
    enum ec_id id;
    int r;

    if (!name)
        return;
    if (!json_is_boolean(active)) {
        mgmt_reply_error(req, 400, "bad_request", "the body needs a boolean member 'active'");
        return;
    }
    if (ec_id_from_string(name, &id) < 0) {
        mgmt_reply_error(req, 404, "not_found", "'%.128s' is not an error condition of TAB_KON_503",
                         name);
        return;
    }
    if (ec_def_get(id)->parameterised != (instance && *instance)) {
        mgmt_reply_error(req, 400, "invalid_value",
                         ec_def_get(id)->parameterised ? "%s needs an instance (its %s)"
                                                       : "%s takes no instance%s",
                         ec_def_get(id)->name,
                         ec_def_get(id)->instance_param ? ec_def_get(id)->instance_param : "");
        return;
    }
    if (!condition_params(body, params, &n_params)) {
        mgmt_reply_error(req, 400, "bad_request", "params must be an object of at most %d strings",
                         EC_RAISE_PARAMS_MAX);
        return;
    }
    r = json_is_true(active) ? ec_raise(c->deps.ecs, id, instance, params, n_params)
                             : ec_clear(c->deps.ecs, id, instance);
    if (r < 0) {
        mgmt_reply_error(req, 400, "invalid_value", "the condition could not be changed");
        return;
    }
    log_msg(LOG_LEVEL_WARNING, "control: '%s' %s %s (fault)", mgmt_request_user(req),
            json_is_true(active) ? "raised" : "cleared", ec_def_get(id)->name);
    mgmt_reply_json(req, 200,
                    json_pack("{s:s,s:b,s:b}", "name", ec_def_get(id)->name, "active",
                              ec_is_active(c->deps.ecs, id, instance), "changed", r == 1));
}

static const struct control__route routes[] = {
    {MGMT_GET, "/control/v1/clock", get_clock},
    {MGMT_POST, "/control/v1/clock/advance", post_clock_advance},
    {MGMT_GET, "/control/v1/vpn", get_vpn},
    {MGMT_PUT, "/control/v1/vpn", put_vpn},
    {MGMT_POST, "/control/v1/fault/stall", post_stall},
    {MGMT_POST, "/control/v1/fault/condition", post_condition},
};

int control__routes_register(struct control *c, struct mgmt_server *srv,
                             const struct control__route *list, size_t n)
{
    int r = 0;

    for (size_t i = 0; r == 0 && i < n; i++)
        r = mgmt_server_route(srv, list[i].method, list[i].pattern, CONTROL_WORLD_ROLES,
                              GATE_OP_MAX, list[i].fn, c);
    return r;
}

int control_routes_add(struct control *c, struct mgmt_server *srv)
{
    int r = control__routes_register(c, srv, routes, ARRAY_SIZE(routes));

    if (r == 0)
        r = control__faults_log_add(c, srv);
    if (r == 0)
        r = control__faults_legacy_add(c, srv);
    if (r == 0)
        r = control__cards_routes_add(c, srv);
    if (r == 0)
        r = control__cert_routes_add(c, srv);
    if (r == 0)
        r = control__pinpad_routes_add(c, srv);
    return r;
}
