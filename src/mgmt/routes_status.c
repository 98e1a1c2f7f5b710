/* routes_status: what an administrator reads about the device: status, LEDs, the operating
 * state (active conditions, the TAB_KON_503 table, admin reset) and the recent events.
 * Reading is "log viewing" in TAB_KON_504-01, allowed in every critical state; a reset is
 * "everything else". */
#include "mgmt/mgmt_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bundle/bundle.h"
#include "update/update.h"

#define PRODUCT_VENDOR "konnektord project"
#define PRODUCT_NAME "konnektord"
#define PRODUCT_HARDWARE "virtual"

json_t *mgmt__time_json(int64_t wall_ms)
{
    char buf[32];

    return wall_ms ? json_string(clock_format_iso(wall_ms, buf, sizeof(buf))) : json_null();
}

json_t *mgmt__leds_json(struct led_panel *leds)
{
    enum led_mode modes[LED_MAX];
    json_t *o = json_object();

    led_panel_get(leds, modes);
    for (size_t i = 0; i < LED_MAX; i++)
        json_object_set_new(o, led_id_to_string((enum led_id)i),
                            json_string(led_mode_to_string(modes[i])));
    return o;
}

static void add_condition(const struct ec_instance_view *v, void *arg)
{
    const struct ec_def *def = ec_def_get(v->id);
    json_t *params = json_object();
    char display[EC_INSTANCE_MAX + 128];

    for (size_t i = 0; i < v->n_params; i++)
        json_object_set_new(params, v->params[i].key, json_string(v->params[i].value));
    if (v->instance[0])
        (void)snprintf(display, sizeof(display), "%s(%s)", def->name, v->instance);
    else
        (void)str_copy(display, sizeof(display), def->name);
    json_array_append_new(arg, json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:s}", "name", def->name,
                                         "instance", v->instance, "display", display, "type",
                                         evt_type_to_string(def->type), "severity",
                                         evt_severity_to_string(def->severity), "since",
                                         mgmt__time_json(v->since_ms), "params", params, "reset",
                                         ec_reset_to_string(def->reset)));
}

static json_t *conditions_json(const struct ec_state *ecs)
{
    json_t *list = json_array();

    ec_foreach_active(ecs, add_condition, list);
    return list;
}

static json_t *clock_json(void)
{
    return json_pack("{s:s,s:o,s:I,s:I}", "mode", clock_mode_to_string(clock_mode_get()), "now",
                     mgmt__time_json(clock_now_ms()), "now_ms", (json_int_t)clock_now_ms(),
                     "offset_ms", (json_int_t)clock_offset_ms());
}

/* The running firmware's features (the Fachmodule it offers, issue #6 item 5). */
static json_t *features_json(const struct bundle_manifest *m)
{
    json_t *list = json_array();

    for (size_t i = 0; m && i < m->n_features; i++)
        json_array_append_new(list, json_string(m->features[i]));
    return list;
}

static void get_status(struct mgmt_request *req, void *arg)
{
    const struct mgmt_deps *d = arg;
    const struct bundle_manifest *m = d->upd ? upd_slot_manifest(d->upd) : NULL;
    const char *hostname = "";

    (void)store_setting_get(d->store, "MGM_KONN_HOSTNAME", &hostname);
    mgmt_reply_json(req, 200,
                    json_pack("{s:{s:s,s:s,s:s,s:s,s:s,s:s,s:o},s:s,s:o,s:I,s:b,s:o,s:o,s:s,s:o}",
                              "product", "vendor", PRODUCT_VENDOR, "name", PRODUCT_NAME, "version",
                              KONN_VERSION, "firmware", m ? m->fw_version : KONN_VERSION,
                              "hardware", PRODUCT_HARDWARE, "product_type_version",
                              m ? m->product_type_version : KONN_PRODUCT_TYPE_VERSION, "features",
                              features_json(m), "hostname", hostname, "boot_time",
                              mgmt__time_json(d->boot_time_ms), "uptime_s",
                              (json_int_t)((clock_mono_ms() - d->boot_mono_ms) / 1000), "booted", 1,
                              "clock", clock_json(), "leds", mgmt__leds_json(d->leds), "vpn",
                              vpn_state_to_string(led_panel_get_vpn(d->leds)), "conditions",
                              conditions_json(d->ecs)));
}

static void get_leds(struct mgmt_request *req, void *arg)
{
    const struct mgmt_deps *d = arg;

    mgmt_reply_json(req, 200, mgmt__leds_json(d->leds));
}

static void get_conditions(struct mgmt_request *req, void *arg)
{
    const struct mgmt_deps *d = arg;

    mgmt_reply_json(req, 200, json_pack("{s:o}", "conditions", conditions_json(d->ecs)));
}

static void get_condition_table(struct mgmt_request *req, void *arg)
{
    json_t *list = json_array();

    for (size_t i = 0; i < EC_MAX; i++) {
        const struct ec_def *def = ec_def_get((enum ec_id)i);
        json_t *params = json_array();

        if (def->instance_param)
            json_array_append_new(params, json_string(def->instance_param));
        for (size_t k = 0; k < EC_PARAMS_MAX && def->params[k]; k++)
            json_array_append_new(params, json_string(def->params[k]));
        json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:s,s:I,s:b,s:o,s:s}", "name",
                                              def->name, "description", def->description, "type",
                                              evt_type_to_string(def->type), "severity",
                                              evt_severity_to_string(def->severity), "detection_s",
                                              (json_int_t)(def->detection_ms / 1000),
                                              "parameterised", def->parameterised, "parameters",
                                              params, "reset", ec_reset_to_string(def->reset)));
    }
    mgmt_reply_json(req, 200, json_pack("{s:o}", "conditions", list));
}

static void post_condition_reset(struct mgmt_request *req, void *arg)
{
    const struct mgmt_deps *d = arg;
    const char *name = mgmt_body_string(req, "name");
    json_t *inst =
        mgmt_request_body(req) ? json_object_get(mgmt_request_body(req), "instance") : NULL;
    const char *instance = json_is_string(inst) ? json_string_value(inst) : "";
    enum ec_id id;
    int r;

    if (!name)
        return;
    if (ec_id_from_string(name, &id) < 0) {
        mgmt_reply_error(req, 404, "not_found", "'%s' is not an error condition of TAB_KON_503",
                         name);
        return;
    }
    r = ec_reset(d->ecs, id, ec_def_get(id)->parameterised ? instance : NULL);
    if (r == -EPERM) {
        mgmt_reply_error(req, 409, "conflict",
                         "%s ends only when its situation ends; an administrator cannot reset it",
                         ec_def_get(id)->name);
        return;
    }
    if (r == -ENOENT || r == -EINVAL) {
        mgmt_reply_error(req, 404, "not_found", "%s%s%s%s is not active", ec_def_get(id)->name,
                         instance[0] ? "(" : "", instance, instance[0] ? ")" : "");
        return;
    }
    if (r < 0) {
        mgmt_reply_error(req, 500, "internal", "the reset failed");
        return;
    }
    log_msg(LOG_LEVEL_INFO, "mgmt: '%s' reset %s", mgmt_request_user(req), ec_def_get(id)->name);
    mgmt_reply_json(req, 200, json_pack("{s:b,s:s}", "reset", 1, "name", ec_def_get(id)->name));
}

static void add_event(const struct evt_event *ev, void *arg)
{
    json_t *params = json_object();

    for (size_t i = 0; i < ev->n_params; i++)
        json_object_set_new(params, ev->params[i].key, json_string(ev->params[i].value));
    json_array_append_new(arg, json_pack("{s:I,s:o,s:s,s:s,s:s,s:o}", "seq", (json_int_t)ev->seq,
                                         "time", mgmt__time_json(ev->time_ms), "topic", ev->topic,
                                         "type", evt_type_to_string(ev->type), "severity",
                                         evt_severity_to_string(ev->severity), "params", params));
}

static void get_events(struct mgmt_request *req, void *arg)
{
    const struct mgmt_deps *d = arg;
    const char *since = mgmt_request_query(req, "since");
    int64_t from = 0;
    json_t *list;

    if (since && (str_to_int64(since, &from) < 0 || from < 0)) {
        mgmt_reply_error(req, 400, "invalid_value", "since must be a sequence number, got '%s'",
                         since);
        return;
    }
    list = json_array();
    (void)evt_bus_history(d->bus, (uint64_t)from, add_event, list);
    mgmt_reply_json(
        req, 200,
        json_pack("{s:o,s:I}", "events", list, "last_seq", (json_int_t)evt_bus_last_seq(d->bus)));
}

#define ALL STORE_ROLES_ALL
#define LOCAL (STORE_ROLE_BIT(STORE_ROLE_LOCAL_ADMIN) | STORE_ROLE_BIT(STORE_ROLE_SUPER_ADMIN))

static const struct mgmt__route_def routes[] = {
    {MGMT_GET, "/api/v1/status", ALL, GATE_OP_MGMT_LOG_VIEW, get_status},
    {MGMT_GET, "/api/v1/leds", ALL, GATE_OP_MGMT_LOG_VIEW, get_leds},
    {MGMT_GET, "/api/v1/conditions", ALL, GATE_OP_MGMT_LOG_VIEW, get_conditions},
    {MGMT_GET, "/api/v1/conditions/table", ALL, GATE_OP_MGMT_LOG_VIEW, get_condition_table},
    {MGMT_POST, "/api/v1/conditions/reset", LOCAL, GATE_OP_MGMT_OTHER, post_condition_reset},
    {MGMT_GET, "/api/v1/events", ALL, GATE_OP_MGMT_LOG_VIEW, get_events},
};

int mgmt__routes_status_add(struct mgmt_server *srv)
{
    return mgmt__routes_add(srv, routes, ARRAY_SIZE(routes), (void *)mgmt_server_deps(srv));
}
