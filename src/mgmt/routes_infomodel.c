/* routes_infomodel: the administration of the info model (TIP1-A_4526): Mandanten, client
 * systems, workplaces and card terminals, and their relations. The rules (id alphabet, slot
 * range, which ends must exist) are the store's; this file turns its answers into JSON
 * errors that name the rule or the missing entity.
 *
 * Invariants:
 *  1. Every administrator reads; only Local- and Super-Administrators change (TIP1-A_4810).
 *  2. Every change that happened is published twice: as MGM/ADMINCHANGES (TIP1-A_5005; RefID
 *     "INFOMODEL/<kind>/<id>", NewVal says what changed), and as MGM/INFOMODEL_CHANGED with
 *     Kind, Id and Change, so that other modules (cards) re-read what they derive from the
 *     model. A request that changes nothing publishes nothing.
 *  3. Each change is one store call, so one transaction: a terminal with attributes is
 *     added whole (store_ct_add), never added and then updated. */
#include "mgmt/mgmt_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define ALL STORE_ROLES_ALL
#define CHANGE (STORE_ROLE_BIT(STORE_ROLE_LOCAL_ADMIN) | STORE_ROLE_BIT(STORE_ROLE_SUPER_ADMIN))

/* "INFOMODEL/card-terminal/<64>" and a NewVal with a terminal's name: both fit. */
#define REF_MAX 128
#define NEWVAL_MAX 192
/* Characters of rejected input echoed in an error: the longest valid id. */
#define SHOWN_MAX (STORE_ENTITY_ID_MAX + 1)

static const char id_rule[] = "1 to 64 characters of A-Z a-z 0-9 . _ -";

/* The keys of GET /api/v1/infomodel, by entity kind. */
static const char *const list_keys[STORE_ENTITY_MAX] = {
    [STORE_ENTITY_MANDANT] = "mandants",
    [STORE_ENTITY_CLIENT_SYSTEM] = "client_systems",
    [STORE_ENTITY_WORKPLACE] = "workplaces",
    [STORE_ENTITY_CARD_TERMINAL] = "card_terminals",
};

/* What an end of a relation is called in messages: its kind, or "ICCSN". */
static const char *end_name(enum store_entity kind)
{
    return kind == STORE_ENTITY_MAX ? "ICCSN" : store_entity_to_string(kind);
}

/* Publishes a change (invariant 2). ref_kind/ref_id name the entity for RefID; ev_kind and
 * ev_id are the Kind and Id of MGM/INFOMODEL_CHANGED. */
static void publish(struct mgmt_request *req, const char *ref_kind, const char *ref_id,
                    const char *new_value, const char *ev_kind, const char *ev_id,
                    const char *change)
{
    const struct mgmt_deps *d = mgmt_request_deps(req);
    struct evt_param params[3] = {{"Kind", ev_kind}, {"Id", ev_id}, {"Change", change}};
    struct evt_event ev = {
        .topic = "MGM/INFOMODEL_CHANGED",
        .type = EVT_TYPE_OPERATION,
        .severity = EVT_SEVERITY_INFO,
        .params = params,
        .n_params = ARRAY_SIZE(params),
    };
    char ref[REF_MAX];

    (void)snprintf(ref, sizeof(ref), "INFOMODEL/%s/%s", ref_kind, ref_id);
    mgmt__admin_change(d, mgmt_request_user(req), ref, new_value);
    (void)evt_bus_publish(d->bus, &ev);
}

/* ---- reading ---------------------------------------------------------------------------- */

static json_t *ct_json(const struct store_ct *ct)
{
    return json_pack("{s:s,s:s,s:i,s:b}", "id", ct->id, "name", ct->name, "slots", (int)ct->slots,
                     "active", ct->active);
}

struct list_ctx {
    struct store *st;
    json_t *list;
};

static void add_id(const char *id, void *arg)
{
    json_array_append_new(arg, json_string(id));
}

static void add_ct(const char *id, void *arg)
{
    struct list_ctx *c = arg;
    struct store_ct ct;

    if (store_ct_get(c->st, id, &ct) == 0)
        json_array_append_new(c->list, ct_json(&ct));
}

static void add_pair(const char *a, const char *b, void *arg)
{
    json_array_append_new(arg, json_pack("[s,s]", a, b));
}

static void get_infomodel(struct mgmt_request *req, void *arg)
{
    const struct mgmt_deps *d = arg;
    json_t *o = json_object();
    json_t *rels = json_object();
    int r = 0;

    for (unsigned i = 0; i < STORE_ENTITY_MAX; i++) {
        struct list_ctx c = {d->store, json_array()};

        if (i == STORE_ENTITY_CARD_TERMINAL)
            r |= store_entity_foreach(d->store, STORE_ENTITY_CARD_TERMINAL, add_ct, &c);
        else
            r |= store_entity_foreach(d->store, (enum store_entity)i, add_id, c.list);
        json_object_set_new(o, list_keys[i], c.list);
    }
    for (unsigned i = 0; i < STORE_REL_MAX; i++) {
        json_t *pairs = json_array();

        r |= store_relation_foreach(d->store, (enum store_relation)i, NULL, NULL, add_pair, pairs);
        json_object_set_new(rels, store_relation_to_string((enum store_relation)i), pairs);
    }
    json_object_set_new(o, "relations", rels);
    if (r != 0) {
        json_decref(o);
        mgmt_reply_error(req, 500, "internal", "the info model could not be read");
        return;
    }
    mgmt_reply_json(req, 200, o);
}

/* ---- checks shared by the handlers ------------------------------------------------------ */

/* Copies rejected input for a message: at most SHOWN_MAX - 1 characters, every byte outside
 * printable ASCII replaced by '?', so that it is safe in JSON and in a log line. */
static const char *quote(const char *s, char shown[SHOWN_MAX])
{
    size_t i = 0;

    for (; s && s[i] && i < SHOWN_MAX - 1; i++)
        shown[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    shown[i] = '\0';
    return shown;
}

/* The kind named in the path, or a 404 naming the kinds there are. */
static bool kind_arg(struct mgmt_request *req, enum store_entity *ret_kind)
{
    const char *s = mgmt_request_arg(req, 0);
    char shown[SHOWN_MAX];

    if (!s || store_entity_from_string(s, ret_kind) < 0) {
        mgmt_reply_error(req, 404, "not_found",
                         "there is no kind '%s' in the info model: use mandant, client-system, "
                         "workplace or card-terminal",
                         quote(s, shown));
        return false;
    }
    return true;
}

/* what: "a mandant id", "b (the client-system)", ... */
static bool id_ok(struct mgmt_request *req, const char *what, const char *id)
{
    char shown[SHOWN_MAX];

    if (store_entity_id_is_valid(id))
        return true;
    mgmt_reply_error(req, 400, "invalid_value", "%s has %s, got '%s'", what, id_rule,
                     quote(id, shown));
    return false;
}

/* Reads the optional name, slots and active of a terminal from the body into ct; sets
 * *ret_given when at least one was there. Replies 400 and returns false for a bad one. */
static bool ct_fields(struct mgmt_request *req, struct store_ct *ct, bool *ret_given)
{
    json_t *body = mgmt_request_body(req);
    json_t *name = json_object_get(body, "name");
    json_t *slots = json_object_get(body, "slots");
    json_t *active = json_object_get(body, "active");

    if (name && (!json_is_string(name) || !store_ct_name_is_valid(json_string_value(name)))) {
        mgmt_reply_error(req, 400, "invalid_value",
                         "name must be text of 1 to %d bytes without control characters",
                         STORE_ENTITY_ID_MAX);
        return false;
    }
    if (slots && (!json_is_integer(slots) || json_integer_value(slots) < 1 ||
                  json_integer_value(slots) > STORE_CT_SLOTS_MAX)) {
        if (json_is_integer(slots))
            mgmt_reply_error(req, 400, "invalid_value",
                             "slots must be a whole number from 1 to %d, got %" JSON_INTEGER_FORMAT,
                             STORE_CT_SLOTS_MAX, json_integer_value(slots));
        else
            mgmt_reply_error(req, 400, "invalid_value", "slots must be a whole number from 1 to %d",
                             STORE_CT_SLOTS_MAX);
        return false;
    }
    if (active && !json_is_boolean(active)) {
        mgmt_reply_error(req, 400, "invalid_value", "active must be true or false");
        return false;
    }
    if (name)
        (void)str_copy(ct->name, sizeof(ct->name), json_string_value(name));
    if (slots)
        ct->slots = (unsigned)json_integer_value(slots);
    if (active)
        ct->active = json_is_true(active);
    *ret_given = name || slots || active;
    return true;
}

/* "name 'Empfang', 4 slots, active": a terminal's attributes for NewVal. */
static void ct_describe(const struct store_ct *ct, char *buf, size_t size)
{
    (void)snprintf(buf, size, "name '%s', %u slot%s, %s", ct->name, ct->slots,
                   ct->slots == 1 ? "" : "s", ct->active ? "active" : "inactive");
}

/* ---- entities --------------------------------------------------------------------------- */

static void post_entity(struct mgmt_request *req, void *arg)
{
    const struct mgmt_deps *d = arg;
    char what[32], newval[NEWVAL_MAX];
    enum store_entity kind;
    struct store_ct ct = {.slots = STORE_CT_SLOTS_DEFAULT, .active = true};
    const char *id;
    json_t *body, *answer;
    bool given = false;
    int r;

    if (!kind_arg(req, &kind) || !(id = mgmt_body_string(req, "id")))
        return;
    body = mgmt_request_body(req);
    (void)snprintf(what, sizeof(what), "a %s id", store_entity_to_string(kind));
    if (!id_ok(req, what, id))
        return;
    if (kind != STORE_ENTITY_CARD_TERMINAL &&
        (json_object_get(body, "name") || json_object_get(body, "slots") ||
         json_object_get(body, "active"))) {
        mgmt_reply_error(req, 400, "invalid_value",
                         "only a card-terminal has a name, slots and active; a %s has only an id",
                         store_entity_to_string(kind));
        return;
    }
    (void)str_copy(ct.id, sizeof(ct.id), id);
    (void)str_copy(ct.name, sizeof(ct.name), id);
    if (!ct_fields(req, &ct, &given))
        return;
    r = kind == STORE_ENTITY_CARD_TERMINAL ? store_ct_add(d->store, &ct)
                                           : store_entity_add(d->store, kind, id);
    if (r == -EEXIST) {
        mgmt_reply_error(req, 409, "conflict", "there is a %s '%s' already",
                         store_entity_to_string(kind), id);
        return;
    }
    if (r < 0) {
        mgmt_reply_error(req, 500, "internal", "the %s could not be saved; nothing changed",
                         store_entity_to_string(kind));
        return;
    }
    if (kind == STORE_ENTITY_CARD_TERMINAL) {
        char attrs[NEWVAL_MAX - 16];

        ct_describe(&ct, attrs, sizeof(attrs));
        (void)snprintf(newval, sizeof(newval), "added (%s)", attrs);
        answer = ct_json(&ct);
    } else {
        (void)snprintf(newval, sizeof(newval), "added");
        answer = json_pack("{s:s}", "id", id);
    }
    publish(req, store_entity_to_string(kind), id, newval, store_entity_to_string(kind), id,
            "added");
    json_object_set_new(answer, "kind", json_string(store_entity_to_string(kind)));
    mgmt_reply_json(req, 201, answer);
}

struct count_ctx {
    size_t n;
};

static void count_pair(const char *a, const char *b, void *arg)
{
    ((struct count_ctx *)arg)->n++;
}

/* How many relations the entity is an end of: what its delete takes along. */
static size_t relations_of(struct store *st, enum store_entity kind, const char *id)
{
    struct count_ctx c = {0};

    for (unsigned i = 0; i < STORE_REL_MAX; i++) {
        enum store_entity ka, kb;

        (void)store_relation_kinds((enum store_relation)i, &ka, &kb);
        if (ka == kind)
            (void)store_relation_foreach(st, (enum store_relation)i, id, NULL, count_pair, &c);
        if (kb == kind)
            (void)store_relation_foreach(st, (enum store_relation)i, NULL, id, count_pair, &c);
    }
    return c.n;
}

static void delete_entity(struct mgmt_request *req, void *arg)
{
    const struct mgmt_deps *d = arg;
    const char *id = mgmt_request_arg(req, 1);
    char what[32], newval[NEWVAL_MAX];
    enum store_entity kind;
    size_t n_rel;
    int r;

    if (!kind_arg(req, &kind))
        return;
    (void)snprintf(what, sizeof(what), "a %s id", store_entity_to_string(kind));
    if (!id || !id_ok(req, what, id))
        return;
    n_rel = relations_of(d->store, kind, id);
    r = store_entity_delete(d->store, kind, id);
    if (r == -ENOENT) {
        mgmt_reply_error(req, 404, "not_found", "there is no %s '%s'", store_entity_to_string(kind),
                         id);
        return;
    }
    if (r < 0) {
        mgmt_reply_error(req, 500, "internal", "the %s could not be deleted; nothing changed",
                         store_entity_to_string(kind));
        return;
    }
    if (n_rel > 0)
        (void)snprintf(newval, sizeof(newval), "deleted with its %zu relation%s", n_rel,
                       n_rel == 1 ? "" : "s");
    else
        (void)snprintf(newval, sizeof(newval), "deleted");
    publish(req, store_entity_to_string(kind), id, newval, store_entity_to_string(kind), id,
            "deleted");
    mgmt_reply_json(req, 200,
                    json_pack("{s:s,s:s,s:b,s:i}", "kind", store_entity_to_string(kind), "id", id,
                              "deleted", 1, "relations_deleted", (int)n_rel));
}

static void put_ct(struct mgmt_request *req, void *arg)
{
    const struct mgmt_deps *d = arg;
    const char *id = mgmt_request_arg(req, 0);
    const char *kind = store_entity_to_string(STORE_ENTITY_CARD_TERMINAL);
    struct store_ct before, ct;
    char newval[NEWVAL_MAX];
    bool given = false, changed;
    json_t *answer;
    int r;

    if (!id || !id_ok(req, "a card-terminal id", id))
        return;
    r = store_ct_get(d->store, id, &before);
    if (r == -ENOENT) {
        mgmt_reply_error(req, 404, "not_found", "there is no card-terminal '%s'", id);
        return;
    }
    if (r < 0) {
        mgmt_reply_error(req, 500, "internal", "the card-terminal could not be read");
        return;
    }
    ct = before;
    if (!ct_fields(req, &ct, &given))
        return;
    if (!given) {
        mgmt_reply_error(req, 400, "bad_request",
                         "the body needs at least one of 'name', 'slots' and 'active'");
        return;
    }
    changed =
        strcmp(ct.name, before.name) != 0 || ct.slots != before.slots || ct.active != before.active;
    if (changed) {
        r = store_ct_update(d->store, &ct);
        if (r == -ENOENT) {
            mgmt_reply_error(req, 404, "not_found", "there is no card-terminal '%s'", id);
            return;
        }
        if (r < 0) {
            mgmt_reply_error(req, 500, "internal",
                             "the card-terminal could not be saved; nothing changed");
            return;
        }
        ct_describe(&ct, newval, sizeof(newval));
        publish(req, kind, id, newval, kind, id, "updated");
    }
    answer = ct_json(&ct);
    json_object_set_new(answer, "kind", json_string(kind));
    json_object_set_new(answer, "changed", json_boolean(changed));
    mgmt_reply_json(req, 200, answer);
}

/* ---- relations -------------------------------------------------------------------------- */

struct rel_args {
    enum store_relation rel;
    enum store_entity ka, kb;
    const char *name, *a, *b;
};

/* Reads and checks {"relation", "a", "b"}; replies 400 and returns false if they are bad. */
static bool rel_body(struct mgmt_request *req, struct rel_args *ret)
{
    char what[48], shown[SHOWN_MAX];
    struct rel_args x;

    if (!(x.name = mgmt_body_string(req, "relation")) || !(x.a = mgmt_body_string(req, "a")) ||
        !(x.b = mgmt_body_string(req, "b")))
        return false;
    if (store_relation_from_string(x.name, &x.rel) < 0) {
        mgmt_reply_error(req, 400, "invalid_value",
                         "relation must be mandant-client-system, mandant-workplace, "
                         "workplace-ct-local, workplace-ct-remote or mandant-smb, got '%s'",
                         quote(x.name, shown));
        return false;
    }
    x.name = store_relation_to_string(x.rel);
    (void)store_relation_kinds(x.rel, &x.ka, &x.kb);
    (void)snprintf(what, sizeof(what), "a (the %s)", end_name(x.ka));
    if (!id_ok(req, what, x.a))
        return false;
    (void)snprintf(what, sizeof(what), "b (the %s)", end_name(x.kb));
    if (!id_ok(req, what, x.b))
        return false;
    *ret = x;
    return true;
}

static json_t *rel_json(const struct rel_args *x)
{
    return json_pack("{s:s,s:s,s:s}", "relation", x->name, "a", x->a, "b", x->b);
}

/* Publishes a relation change: RefID names the a end, Id of the event is "a/b". */
static void publish_rel(struct mgmt_request *req, const struct rel_args *x, bool related)
{
    char newval[NEWVAL_MAX], pair[2 * STORE_ENTITY_ID_MAX + 2];

    (void)snprintf(newval, sizeof(newval), "%s %s (%s)",
                   related ? "related to" : "no longer related to", x->b, x->name);
    (void)snprintf(pair, sizeof(pair), "%s/%s", x->a, x->b);
    publish(req, store_entity_to_string(x->ka), x->a, newval, x->name, pair,
            related ? "related" : "unrelated");
}

static void post_relation(struct mgmt_request *req, void *arg)
{
    const struct mgmt_deps *d = arg;
    const char *missing = NULL;
    struct rel_args x;
    int r;

    if (!rel_body(req, &x))
        return;
    r = store_relation_add(d->store, x.rel, x.a, x.b, &missing);
    switch (r) {
    case 0:
        break;
    case -ENOENT:
        mgmt_reply_error(req, 404, "not_found", "there is no %s '%s'",
                         end_name(missing == x.b ? x.kb : x.ka), missing == x.b ? x.b : x.a);
        return;
    case -EEXIST:
        mgmt_reply_error(req, 409, "conflict", "%s '%s' and %s '%s' are related already (%s)",
                         end_name(x.ka), x.a, end_name(x.kb), x.b, x.name);
        return;
    default:
        mgmt_reply_error(req, 500, "internal", "the relation could not be saved; nothing changed");
        return;
    }
    publish_rel(req, &x, true);
    mgmt_reply_json(req, 201, rel_json(&x));
}

static void delete_relation(struct mgmt_request *req, void *arg)
{
    const struct mgmt_deps *d = arg;
    struct rel_args x;
    json_t *answer;
    int r;

    if (!rel_body(req, &x))
        return;
    r = store_relation_delete(d->store, x.rel, x.a, x.b);
    if (r == -ENOENT) {
        mgmt_reply_error(req, 404, "not_found", "%s '%s' and %s '%s' are not related (%s)",
                         end_name(x.ka), x.a, end_name(x.kb), x.b, x.name);
        return;
    }
    if (r < 0) {
        mgmt_reply_error(req, 500, "internal",
                         "the relation could not be deleted; nothing changed");
        return;
    }
    publish_rel(req, &x, false);
    answer = rel_json(&x);
    json_object_set_new(answer, "deleted", json_true());
    mgmt_reply_json(req, 200, answer);
}

/* The router takes the first row whose path and method match: the fixed path
 * /api/v1/infomodel/relations comes before /api/v1/infomodel/<kind>. */
static const struct mgmt__route_def routes[] = {
    {MGMT_GET, "/api/v1/infomodel", ALL, GATE_OP_MGMT_OTHER, get_infomodel},
    {MGMT_POST, "/api/v1/infomodel/relations", CHANGE, GATE_OP_MGMT_OTHER, post_relation},
    {MGMT_DELETE, "/api/v1/infomodel/relations", CHANGE, GATE_OP_MGMT_OTHER, delete_relation},
    {MGMT_POST, "/api/v1/infomodel/*", CHANGE, GATE_OP_MGMT_OTHER, post_entity},
    {MGMT_PUT, "/api/v1/infomodel/card-terminal/*", CHANGE, GATE_OP_MGMT_OTHER, put_ct},
    {MGMT_DELETE, "/api/v1/infomodel/*/*", CHANGE, GATE_OP_MGMT_OTHER, delete_entity},
};

int mgmt__routes_infomodel_add(struct mgmt_server *srv)
{
    return mgmt__routes_add(srv, routes, ARRAY_SIZE(routes), (void *)mgmt_server_deps(srv));
}
