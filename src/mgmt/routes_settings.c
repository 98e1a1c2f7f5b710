/* routes_settings: list, read and change the typed gematik parameters. Validation and the
 * role rules come from the one settings table in src/store; every change is published as
 * MGM/ADMINCHANGES (TIP1-A_5005: User, RefID, NewVal). */
#include "mgmt/mgmt_internal.h"

#include <errno.h>
#include <string.h>

void mgmt__admin_change(const struct mgmt_deps *d, const char *user, const char *ref_id,
                        const char *new_value)
{
    struct evt_param params[3] = {{"User", user}, {"RefID", ref_id}, {"NewVal", new_value}};
    struct evt_event ev = {
        .topic = "MGM/ADMINCHANGES",
        .type = EVT_TYPE_OPERATION,
        .severity = EVT_SEVERITY_INFO,
        .params = params,
        .n_params = ARRAY_SIZE(params),
    };

    (void)evt_bus_publish(d->bus, &ev);
    log_msg(LOG_LEVEL_INFO, "mgmt: '%s' changed %s to '%s'", user, ref_id, new_value);
}

static json_t *roles_json(unsigned roles)
{
    json_t *list = json_array();

    for (size_t i = 0; i < STORE_ROLE_MAX; i++) {
        if (roles & STORE_ROLE_BIT(i))
            json_array_append_new(list, json_string(store_role_to_string((enum store_role)i)));
    }
    return list;
}

json_t *mgmt__setting_json(struct store *st, const struct setting_def *def)
{
    const char *value = def->default_value;
    json_t *o;

    (void)store_setting_get(st, def->name, &value);
    o = json_pack("{s:s,s:s,s:s,s:s,s:o,s:s}", "name", def->name, "type",
                  setting_type_to_string(def->type), "value", value, "default", def->default_value,
                  "roles", roles_json(def->roles), "doc", def->doc);
    if (def->type == SETTING_TYPE_INT || def->type == SETTING_TYPE_STRING ||
        def->type == SETTING_TYPE_URL) {
        json_object_set_new(o, "min", json_integer(def->min));
        json_object_set_new(o, "max", json_integer(def->max));
    }
    if (def->unit)
        json_object_set_new(o, "unit", json_string(def->unit));
    if (def->type == SETTING_TYPE_ENUM || def->type == SETTING_TYPE_BOOL) {
        json_t *choices = json_array();

        if (def->type == SETTING_TYPE_BOOL) {
            json_array_append_new(choices, json_string("Enabled"));
            json_array_append_new(choices, json_string("Disabled"));
        }
        for (size_t i = 0; i < SETTING_CHOICES_MAX && def->choices[i]; i++)
            json_array_append_new(choices, json_string(def->choices[i]));
        json_object_set_new(o, "choices", choices);
    }
    return o;
}

static void get_settings(struct mgmt_request *req, void *arg)
{
    const struct mgmt_deps *d = arg;
    json_t *list = json_array();

    for (size_t i = 0; i < setting_count(); i++)
        json_array_append_new(list, mgmt__setting_json(d->store, setting_def_at(i)));
    mgmt_reply_json(req, 200, json_pack("{s:o}", "settings", list));
}

static const struct setting_def *find_or_404(struct mgmt_request *req)
{
    const char *name = mgmt_request_arg(req, 0);
    const struct setting_def *def = name ? setting_def_find(name) : NULL;

    if (!def)
        mgmt_reply_error(req, 404, "not_found", "there is no setting '%s'", name ? name : "");
    return def;
}

static void get_setting(struct mgmt_request *req, void *arg)
{
    const struct mgmt_deps *d = arg;
    const struct setting_def *def = find_or_404(req);

    if (def)
        mgmt_reply_json(req, 200, mgmt__setting_json(d->store, def));
}

static void put_setting(struct mgmt_request *req, void *arg)
{
    const struct mgmt_deps *d = arg;
    const struct setting_def *def = find_or_404(req);
    const char *value, *now = NULL;
    char msg[256] = "";
    json_t *o;
    int r;

    if (!def)
        return;
    value = mgmt_body_string(req, "value");
    if (!value)
        return;
    r = store_setting_set(d->store, def->name, value, mgmt_request_role(req), msg, sizeof(msg));
    switch (r) {
    case 0:
    case 1:
        break;
    case -EINVAL:
        mgmt_reply_error(req, 400, "invalid_value", "%s", msg);
        return;
    case -EACCES:
        mgmt_reply_error(req, 403, "forbidden", "the role %s may not change %s",
                         store_role_to_string(mgmt_request_role(req)), def->name);
        return;
    default:
        mgmt_reply_error(req, 500, "internal", "the setting could not be saved; nothing changed");
        return;
    }
    if (r == 1 && store_setting_get(d->store, def->name, &now) == 0)
        mgmt__admin_change(d, mgmt_request_user(req), def->name, now);
    o = mgmt__setting_json(d->store, def);
    json_object_set_new(o, "changed", json_boolean(r == 1));
    mgmt_reply_json(req, 200, o);
}

#define ALL STORE_ROLES_ALL

static const struct mgmt__route_def routes[] = {
    {MGMT_GET, "/api/v1/settings", ALL, GATE_OP_MGMT_OTHER, get_settings},
    {MGMT_GET, "/api/v1/settings/*", ALL, GATE_OP_MGMT_OTHER, get_setting},
    /* Each setting names its roles; the store refuses the others with -EACCES. */
    {MGMT_PUT, "/api/v1/settings/*", ALL, GATE_OP_MGMT_OTHER, put_setting},
};

int mgmt__routes_settings_add(struct mgmt_server *srv)
{
    return mgmt__routes_add(srv, routes, ARRAY_SIZE(routes), (void *)mgmt_server_deps(srv));
}
