/* backup_payload: what a configuration backup holds (docs/backup-format.md): collecting it
 * from the running connector for an export, checking a decrypted and verified one whole, and
 * applying it. Sealing and opening the file are backup.c's; the routes are routes_backup.c's.
 *
 * Invariants:
 *  1. A payload is checked whole (every setting value against its range, every id, every
 *     terminal's attributes, every account) before anything is applied; a payload that fails
 *     a check changes nothing.
 *  2. Settings this firmware does not know are left out, never stored.
 *  3. Accounts of a backup are added or overwritten; others stay, so that the importing
 *     Super-Administrator keeps a way in. */
#include "mgmt/mgmt_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "soap/soap.h"

#define PAYLOAD_FORMAT "konnektord-config-backup"
#define PAYLOAD_VERSION 1

static const char *const entity_keys[STORE_ENTITY_MAX] = {
    [STORE_ENTITY_MANDANT] = "mandants",
    [STORE_ENTITY_CLIENT_SYSTEM] = "client_systems",
    [STORE_ENTITY_WORKPLACE] = "workplaces",
    [STORE_ENTITY_CARD_TERMINAL] = "card_terminals",
};

/* ---- collecting ------------------------------------------------------------------------- */

static void add_id(const char *id, void *arg)
{
    json_array_append_new(arg, json_string(id));
}

struct ct_ctx {
    struct store *st;
    json_t *list;
};

static void add_ct(const char *id, void *arg)
{
    struct ct_ctx *c = arg;
    struct store_ct ct;

    if (store_ct_get(c->st, id, &ct) == 0)
        json_array_append_new(c->list, json_pack("{s:s,s:s,s:i,s:b}", "id", ct.id, "name", ct.name,
                                                 "slots", (int)ct.slots, "active", ct.active));
}

static void add_pair(const char *a, const char *b, void *arg)
{
    json_array_append_new(arg, json_pack("[s,s]", a, b));
}

static json_t *infomodel_json(struct store *st)
{
    json_t *im = json_object(), *rels = json_object();
    struct ct_ctx c = {st, json_array()};

    for (unsigned k = 0; k < STORE_ENTITY_CARD_TERMINAL; k++) {
        json_t *ids = json_array();

        (void)store_entity_foreach(st, (enum store_entity)k, add_id, ids);
        json_object_set_new(im, entity_keys[k], ids);
    }
    (void)store_entity_foreach(st, STORE_ENTITY_CARD_TERMINAL, add_ct, &c);
    json_object_set_new(im, entity_keys[STORE_ENTITY_CARD_TERMINAL], c.list);
    for (unsigned r = 0; r < STORE_REL_MAX; r++) {
        json_t *pairs = json_array();

        (void)store_relation_foreach(st, (enum store_relation)r, NULL, NULL, add_pair, pairs);
        json_object_set_new(rels, store_relation_to_string((enum store_relation)r), pairs);
    }
    json_object_set_new(im, "relations", rels);
    return im;
}

static void add_user(const struct store_user *u, void *arg)
{
    json_t *perms = json_array();

    for (unsigned p = 0; p < STORE_PERM_MAX; p++)
        if (u->permissions & STORE_PERM_BIT(p))
            json_array_append_new(
                perms, json_string(store_permission_to_string((enum store_permission)p)));
    json_array_append_new(arg, json_pack("{s:s,s:s,s:s,s:o}", "name", u->name, "role",
                                         store_role_to_string(u->role), "pwhash", u->pwhash,
                                         "permissions", perms));
}

static json_t *client_certs_json(struct soap_server *soap)
{
    struct soap_client_cert_info *list = NULL;
    json_t *a = json_array();
    size_t n = 0;

    if (!soap || soap_client_cert_list(soap, &list, &n) < 0)
        return a;
    for (size_t i = 0; i < n; i++) {
        char *pem = NULL;

        if (soap_client_cert_pem(soap, list[i].name, &pem) == 0)
            json_array_append_new(a, json_pack("{s:s,s:s}", "name", list[i].name, "pem", pem));
        free(pem);
    }
    free(list);
    return a;
}

json_t *mgmt__backup_payload_collect(const struct mgmt_deps *d, bool include_users)
{
    json_t *settings = json_object(), *p;
    char when[32];
    struct mgmt_type_plate plate = {0};
    int64_t now = clock_now_ms();

    for (size_t i = 0; i < setting_count(); i++) {
        const struct setting_def *def = setting_def_at(i);
        const char *v = NULL;

        if (store_setting_get(d->store, def->name, &v) == 0)
            json_object_set_new(settings, def->name, json_string(v));
    }
    (void)mgmt__type_plate_load(d->data_dir, &plate);
    p = json_pack("{s:s,s:i,s:s,s:I,s:{s:s,s:s,s:s},s:o,s:o,s:o}", "format", PAYLOAD_FORMAT,
                  "version", PAYLOAD_VERSION, "created", clock_format_iso(now, when, sizeof(when)),
                  "created_ms", (json_int_t)now, "device", "product", "konnektord", "serial",
                  plate.serial, "firmware", KONN_VERSION, "settings", settings, "infomodel",
                  infomodel_json(d->store), "client_certs",
                  client_certs_json(d->soap ? *d->soap : NULL));
    explicit_bzero(&plate, sizeof(plate));
    if (p && include_users) {
        json_t *users = json_array();

        (void)store_user_foreach(d->store, add_user, users);
        json_object_set_new(p, "users", users);
    }
    return p;
}

__attribute__((format(printf, 3, 4))) static int check_fail(char *msg, size_t size, const char *fmt,
                                                            ...)
{
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(msg, size, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static int check_settings(json_t *settings, char *msg, size_t size)
{
    const char *name;
    json_t *v;

    if (!json_is_object(settings))
        return check_fail(msg, size, "%s", "the backup has no settings object");
    json_object_foreach(settings, name, v)
    {
        const struct setting_def *def = setting_def_find(name);
        char norm[SETTING_VALUE_MAX], why[256];

        /* A setting of another firmware version that this one does not know is left out. */
        if (!def)
            continue;
        if (!json_is_string(v) ||
            setting_validate(def, json_string_value(v), norm, sizeof(norm), why, sizeof(why)) < 0)
            return check_fail(msg, size, "the backup's value of setting %s is invalid", name);
    }
    return 0;
}

static int check_infomodel(json_t *im, char *msg, size_t size)
{
    json_t *rels = json_object_get(im, "relations"), *v;
    size_t i;

    if (!json_is_object(im) || !json_is_object(rels))
        return check_fail(msg, size, "%s", "the backup has no info model");
    for (unsigned k = 0; k < STORE_ENTITY_MAX; k++) {
        json_t *list = json_object_get(im, entity_keys[k]);

        if (!json_is_array(list))
            return check_fail(msg, size, "the backup's info model has no list '%s'",
                              entity_keys[k]);
        json_array_foreach(list, i, v)
        {
            const char *id = k == STORE_ENTITY_CARD_TERMINAL
                                 ? json_string_value(json_object_get(v, "id"))
                                 : json_string_value(v);

            if (!store_entity_id_is_valid(id))
                return check_fail(msg, size, "the backup's list '%s' holds an invalid id",
                                  entity_keys[k]);
            if (k == STORE_ENTITY_CARD_TERMINAL) {
                json_int_t slots = json_integer_value(json_object_get(v, "slots"));
                const char *name = json_string_value(json_object_get(v, "name"));

                if (!store_ct_name_is_valid(name) || slots < 1 || slots > STORE_CT_SLOTS_MAX ||
                    !json_is_boolean(json_object_get(v, "active")))
                    return check_fail(msg, size, "the backup's card terminal '%s' is invalid", id);
            }
        }
    }
    return 0;
}

static int check_certs(json_t *certs, char *msg, size_t size)
{
    json_t *v;
    size_t i;

    if (!certs)
        return 0;
    if (!json_is_array(certs))
        return check_fail(msg, size, "%s", "the backup's client_certs is not a list");
    json_array_foreach(certs, i, v)
    {
        if (!json_is_string(json_object_get(v, "name")) ||
            !json_is_string(json_object_get(v, "pem")))
            return check_fail(msg, size, "%s", "a client certificate of the backup is invalid");
    }
    return 0;
}

static int check_users(json_t *users, char *msg, size_t size)
{
    json_t *v;
    size_t i;

    if (!users)
        return 0;
    if (!json_is_array(users))
        return check_fail(msg, size, "%s", "the backup's users is not a list");
    json_array_foreach(users, i, v)
    {
        enum store_role role;
        const char *name = json_string_value(json_object_get(v, "name"));
        const char *hash = json_string_value(json_object_get(v, "pwhash"));

        if (!store_user_name_is_valid(name) ||
            store_role_from_string(json_string_value(json_object_get(v, "role")), &role) < 0 ||
            !hash || strlen(hash) > STORE_USER_HASH_MAX ||
            !json_is_array(json_object_get(v, "permissions")))
            return check_fail(msg, size, "%s", "an account of the backup is invalid");
    }
    return 0;
}

int mgmt__backup_plan_check(json_t *p, struct mgmt__backup_plan *ret, char *msg, size_t size)
{
    struct mgmt__backup_plan pl = {0};
    int r;

    if (!json_is_object(p) ||
        strcmp(json_string_value(json_object_get(p, "format")) ?: "", PAYLOAD_FORMAT) != 0 ||
        json_integer_value(json_object_get(p, "version")) != PAYLOAD_VERSION)
        return check_fail(msg, size, "%s",
                          "the backup's payload is not a konnektord "
                          "configuration of a version this firmware reads");
    pl.settings = json_object_get(p, "settings");
    pl.infomodel = json_object_get(p, "infomodel");
    pl.certs = json_object_get(p, "client_certs");
    pl.users = json_object_get(p, "users");
    r = check_settings(pl.settings, msg, size);
    if (r == 0)
        r = check_infomodel(pl.infomodel, msg, size);
    if (r == 0)
        r = check_certs(pl.certs, msg, size);
    if (r == 0)
        r = check_users(pl.users, msg, size);
    if (r < 0)
        return r;
    pl.n_settings = json_object_size(pl.settings);
    for (unsigned k = 0; k < STORE_ENTITY_MAX; k++)
        pl.n_entities += json_array_size(json_object_get(pl.infomodel, entity_keys[k]));
    for (unsigned rel = 0; rel < STORE_REL_MAX; rel++)
        pl.n_relations +=
            json_array_size(json_object_get(json_object_get(pl.infomodel, "relations"),
                                            store_relation_to_string((enum store_relation)rel)));
    *ret = pl;
    return 0;
}

json_t *mgmt__backup_plan_summary(json_t *p, const struct mgmt__backup_plan *pl,
                                  const struct mgmt__backup_signer *s,
                                  const struct mgmt_identity *own)
{
    json_t *im = pl->infomodel;

    return json_pack(
        "{s:{s:s,s:s,s:o,s:b},s:O,s:O,s:{s:I,s:I,s:I,s:I,s:I,s:I,s:o}}", "signer", "subject",
        s->subject, "fingerprint_sha256", s->fingerprint, "signed", mgmt__time_json(s->signed_ms),
        "this_device", own && strcmp(own->fingerprint, s->fingerprint) == 0, "created",
        json_object_get(p, "created") ?: json_null(), "device",
        json_object_get(p, "device") ?: json_null(), "contains", "settings",
        (json_int_t)pl->n_settings, "mandants",
        (json_int_t)json_array_size(json_object_get(im, "mandants")), "client_systems",
        (json_int_t)json_array_size(json_object_get(im, "client_systems")), "workplaces",
        (json_int_t)json_array_size(json_object_get(im, "workplaces")), "card_terminals",
        (json_int_t)json_array_size(json_object_get(im, "card_terminals")), "client_certs",
        (json_int_t)json_array_size(pl->certs), "users",
        pl->users ? json_integer((json_int_t)json_array_size(pl->users)) : json_null());
}

static void apply_settings(const struct mgmt_deps *d, json_t *settings)
{
    const char *name;
    json_t *v;
    char msg[256];

    (void)store_settings_reset(d->store);
    json_object_foreach(settings, name, v)
    {
        if (setting_def_find(name))
            (void)store_setting_set(d->store, name, json_string_value(v), STORE_ROLE_SUPER_ADMIN,
                                    msg, sizeof(msg));
    }
}

static void apply_infomodel(const struct mgmt_deps *d, json_t *im)
{
    json_t *rels = json_object_get(im, "relations"), *v;
    size_t i;

    (void)store_infomodel_reset(d->store);
    for (unsigned k = 0; k < STORE_ENTITY_MAX; k++) {
        json_array_foreach(json_object_get(im, entity_keys[k]), i, v)
        {
            if (k == STORE_ENTITY_CARD_TERMINAL) {
                struct store_ct ct = {0};

                (void)str_copy(ct.id, sizeof(ct.id), json_string_value(json_object_get(v, "id")));
                (void)str_copy(ct.name, sizeof(ct.name),
                               json_string_value(json_object_get(v, "name")));
                ct.slots = (unsigned)json_integer_value(json_object_get(v, "slots"));
                ct.active = json_is_true(json_object_get(v, "active"));
                (void)store_ct_add(d->store, &ct);
            } else {
                (void)store_entity_add(d->store, (enum store_entity)k, json_string_value(v));
            }
        }
    }
    for (unsigned r = 0; r < STORE_REL_MAX; r++) {
        json_array_foreach(json_object_get(rels, store_relation_to_string((enum store_relation)r)),
                           i, v)
        {
            const char *a = json_string_value(json_array_get(v, 0));
            const char *b = json_string_value(json_array_get(v, 1));

            if (a && b)
                (void)store_relation_add(d->store, (enum store_relation)r, a, b, NULL);
        }
    }
}

static size_t apply_certs(const struct mgmt_deps *d, json_t *certs)
{
    struct soap_server *soap = d->soap ? *d->soap : NULL;
    size_t n = 0, i;
    json_t *v;

    if (!soap)
        return 0;
    (void)soap_client_credentials_reset(soap, d->data_dir);
    json_array_foreach(certs, i, v)
    {
        const char *pem = json_string_value(json_object_get(v, "pem"));

        if (soap_client_cert_import(soap, json_string_value(json_object_get(v, "name")), pem,
                                    strlen(pem)) == 0)
            n++;
    }
    return n;
}

/* Invariant 3. */
static void apply_users(struct mgmt_server *srv, json_t *users)
{
    const struct mgmt_deps *d = mgmt_server_deps(srv);
    json_t *v, *perm;
    size_t i, k;

    json_array_foreach(users, i, v)
    {
        struct store_user u = {0}, old;

        (void)str_copy(u.name, sizeof(u.name), json_string_value(json_object_get(v, "name")));
        (void)store_role_from_string(json_string_value(json_object_get(v, "role")), &u.role);
        (void)str_copy(u.pwhash, sizeof(u.pwhash), json_string_value(json_object_get(v, "pwhash")));
        json_array_foreach(json_object_get(v, "permissions"), k, perm)
        {
            enum store_permission p;

            if (store_permission_from_string(json_string_value(perm), &p) == 0)
                u.permissions |= STORE_PERM_BIT(p);
        }
        u.created_ms = clock_now_ms();
        if (store_user_get(d->store, u.name, &old) == 0) {
            u.created_ms = old.created_ms;
            u.last_logout_ms = old.last_logout_ms;
            (void)store_user_update(d->store, &u);
        } else {
            (void)store_user_add(d->store, &u);
        }
        mgmt__auth_forget(mgmt__server_auth(srv), u.name);
    }
}

size_t mgmt__backup_plan_apply(struct mgmt_server *srv, const struct mgmt__backup_plan *pl)
{
    const struct mgmt_deps *d = mgmt_server_deps(srv);
    size_t certs;

    apply_settings(d, pl->settings);
    apply_infomodel(d, pl->infomodel);
    certs = apply_certs(d, pl->certs);
    if (pl->users)
        apply_users(srv, pl->users);
    mgmt__infomodel_changed_all(d, "imported");
    return certs;
}
