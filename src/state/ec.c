/* ec: the set of active error-condition instances, and the OPERATIONAL_STATE events that
 * report every change of it (TIP1-A_4509, TIP1-A_4512-04).
 *
 * The definitions (name, type, severity, reset policy) come from ec_table.c; what may run
 * while a condition is active is decided in gate.c. This file owns no timers and does no
 * detection: detectors call ec_raise() and ec_clear(), administrators ec_reset().
 *
 *   inactive --ec_raise()--> active --ec_clear() (policy != admin)--> inactive
 *                              |  ^ ec_raise(): parameters updated, no event
 *                              '-----ec_reset() (policy != situation)--> inactive
 *
 * Invariants:
 *  1. The instance array is sorted by (id, instance) and holds no duplicates; its length
 *     never exceeds EC_INSTANCES_MAX (-ENOSPC), and n_by_id[] counts it per condition.
 *  2. A plain condition has at most one instance, named ""; a parameterised condition never
 *     has an instance named "". Instance names have 1..EC_INSTANCE_MAX printable characters.
 *  3. Every transition between inactive and active publishes exactly one event
 *     "OPERATIONAL_STATE/<Name>" with Value, Bedeutung, the instance parameter and the raise
 *     parameters; an update of an active instance publishes none.
 *  4. The set is changed before the event is published, and the event's strings are copies,
 *     so a handler may change the set again without touching freed memory.
 *  5. Stored parameters always fit one event: with Value, Bedeutung and the instance
 *     parameter they stay within EVT_PARAMS_MAX and the XSD key and value limits. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "state/state.h"

/* Upper bound on active instances: far above 34 conditions times a practice's terminals,
 * low enough that a misbehaving detector cannot grow the set without limit. */
#define EC_INSTANCES_MAX 1024
/* Value, Bedeutung and the instance parameter precede the raise parameters in an event. */
#define EC_FIXED_PARAMS 3
#define EC_RAISE_PARAMS_MAX (EVT_PARAMS_MAX - EC_FIXED_PARAMS)
#define TOPIC_PREFIX "OPERATIONAL_STATE/"

struct ec_inst {
    enum ec_id id;
    char instance[EC_INSTANCE_MAX + 1];
    int64_t since_ms;
    struct evt_param *params; /* keys and values are heap copies */
    size_t n_params;
};

struct ec_state {
    struct evt_bus *bus; /* borrowed, may be NULL (no events) */
    struct ec_inst **inst;
    size_t n_inst;
    size_t cap_inst;
    size_t n_by_id[EC_MAX];
    void (*on_change)(void *arg);
    void *on_change_arg;
};

static void params_free(struct evt_param *params, size_t n)
{
    if (!params)
        return;
    for (size_t i = 0; i < n; i++) {
        free((char *)params[i].key);
        free((char *)params[i].value);
    }
    free(params);
}

static int params_dup(const struct evt_param *in, size_t n, struct evt_param **ret_params)
{
    struct evt_param *out = NULL;
    int r = 0;

    if (n == 0) {
        *ret_params = NULL;
        return 0;
    }
    out = calloc(n, sizeof(*out));
    if (!out)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        out[i].key = strdup(in[i].key);
        out[i].value = strdup(in[i].value);
        if (!out[i].key || !out[i].value) {
            r = -ENOMEM;
            goto out;
        }
    }
    *ret_params = out;
    out = NULL;
out:
    params_free(out, n);
    return r;
}

static void inst_free(struct ec_inst *inst)
{
    if (!inst)
        return;
    params_free(inst->params, inst->n_params);
    free(inst);
}

/* Checks id and instance against the definition and normalises the instance to "" for a
 * plain condition. */
static int check_instance(enum ec_id id, const char *instance, const char **ret_instance)
{
    const struct ec_def *def = ec_def_get(id);
    size_t len;

    if (!def)
        return -EINVAL;
    if (!instance)
        instance = "";
    len = strlen(instance);
    if (def->parameterised != (len > 0))
        return -EINVAL;
    if (len > EC_INSTANCE_MAX)
        return -EINVAL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)instance[i];
        /* Instance names end up in event parameters and log lines: no control characters. */
        if (c < 0x20 || c == 0x7f)
            return -EINVAL;
    }
    *ret_instance = instance;
    return 0;
}

static int check_params(const struct ec_def *def, const struct evt_param *params, size_t n)
{
    if (n > 0 && !params)
        return -EINVAL;
    if (n > EC_RAISE_PARAMS_MAX)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        const char *k = params[i].key;
        const char *v = params[i].value;

        if (!k || !v || k[0] == '\0')
            return -EINVAL;
        if (strlen(k) > EVT_PARAM_KEY_MAX || strlen(v) > EVT_PARAM_VALUE_MAX)
            return -EINVAL;
        /* The fixed parameters are the state's to set, not the detector's. */
        if (strcmp(k, "Value") == 0 || strcmp(k, "Bedeutung") == 0)
            return -EINVAL;
        if (def->instance_param && strcmp(k, def->instance_param) == 0)
            return -EINVAL;
    }
    return 0;
}

static int inst_cmp(enum ec_id id, const char *instance, const struct ec_inst *inst)
{
    if (id != inst->id)
        return id < inst->id ? -1 : 1;
    return strcmp(instance, inst->instance);
}

/* Binary search. Returns true and the index if found, else false and the insert position. */
static bool find(const struct ec_state *st, enum ec_id id, const char *instance, size_t *ret_pos)
{
    size_t lo = 0, hi = st->n_inst;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = inst_cmp(id, instance, st->inst[mid]);

        if (c == 0) {
            *ret_pos = mid;
            return true;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    *ret_pos = lo;
    return false;
}

/* Publishes the change of one instance. inst has already left or joined the set; the
 * event carries copies of its strings (invariant 4). */
static void publish(struct ec_state *st, const struct ec_inst *inst, bool value)
{
    const struct ec_def *def = ec_def_get(inst->id);
    struct evt_param ev_params[EVT_PARAMS_MAX];
    struct evt_param *copy = NULL;
    char instance[EC_INSTANCE_MAX + 1];
    char topic[sizeof(TOPIC_PREFIX) + 128];
    struct evt_event ev = {0};
    size_t n_copy = inst->n_params; /* inst may be freed by a handler (invariant 4) */
    size_t n = 0;
    int r;

    if (!st->bus)
        return;
    r = params_dup(inst->params, n_copy, &copy);
    if (r < 0) {
        log_errno(LOG_LEVEL_ERROR, r, "state: cannot report %s=%s", def->name,
                  value ? "true" : "false");
        return;
    }
    (void)str_copy(instance, sizeof(instance), inst->instance);
    (void)snprintf(topic, sizeof(topic), "%s%s", TOPIC_PREFIX, def->name);

    ev_params[n++] = (struct evt_param){"Value", value ? "true" : "false"};
    ev_params[n++] = (struct evt_param){"Bedeutung", def->description};
    if (def->instance_param)
        ev_params[n++] = (struct evt_param){def->instance_param, instance};
    for (size_t i = 0; i < n_copy; i++)
        ev_params[n++] = copy[i];

    ev.topic = topic;
    ev.type = def->type;
    ev.severity = def->severity;
    ev.params = ev_params;
    ev.n_params = n;
    /* From here on inst is not touched: a handler may have changed the set. */
    r = evt_bus_publish(st->bus, &ev);
    if (r < 0)
        log_errno(LOG_LEVEL_ERROR, r, "state: cannot publish '%s'", topic);
    params_free(copy, n_copy);
}

static void notify(struct ec_state *st)
{
    if (st->on_change)
        st->on_change(st->on_change_arg);
}

struct ec_state *ec_state_new(struct evt_bus *bus)
{
    struct ec_state *st = calloc(1, sizeof(*st));

    if (!st)
        return NULL;
    st->bus = bus;
    return st;
}

struct ec_state *ec_state_free(struct ec_state *st)
{
    if (!st)
        return NULL;
    for (size_t i = 0; i < st->n_inst; i++)
        inst_free(st->inst[i]);
    free(st->inst);
    free(st);
    return NULL;
}

int ec_raise(struct ec_state *st, enum ec_id id, const char *instance,
             const struct evt_param *params, size_t n_params)
{
    struct ec_inst *inst = NULL;
    struct evt_param *copy = NULL;
    size_t pos;
    int r;

    if (!st)
        return -EINVAL;
    r = check_instance(id, instance, &instance);
    if (r < 0)
        return r;
    r = check_params(ec_def_get(id), params, n_params);
    if (r < 0)
        return r;
    r = params_dup(params, n_params, &copy);
    if (r < 0)
        return r;

    if (find(st, id, instance, &pos)) {
        /* Already active: the detector refreshes its parameters, nothing changes state. */
        inst = st->inst[pos];
        params_free(inst->params, inst->n_params);
        inst->params = copy;
        inst->n_params = n_params;
        return 0;
    }

    if (st->n_inst >= EC_INSTANCES_MAX) {
        r = -ENOSPC;
        goto out;
    }
    if (st->n_inst == st->cap_inst) {
        size_t cap = st->cap_inst ? st->cap_inst * 2 : 16;
        struct ec_inst **grown = reallocarray(st->inst, cap, sizeof(*grown));

        if (!grown) {
            r = -ENOMEM;
            goto out;
        }
        st->inst = grown;
        st->cap_inst = cap;
    }
    inst = calloc(1, sizeof(*inst));
    if (!inst) {
        r = -ENOMEM;
        goto out;
    }
    inst->id = id;
    (void)str_copy(inst->instance, sizeof(inst->instance), instance);
    inst->since_ms = clock_now_ms();
    inst->params = copy;
    inst->n_params = n_params;
    copy = NULL;

    memmove(&st->inst[pos + 1], &st->inst[pos], (st->n_inst - pos) * sizeof(*st->inst));
    st->inst[pos] = inst;
    st->n_inst++;
    st->n_by_id[id]++;

    publish(st, inst, true);
    notify(st);
    r = 1;
out:
    params_free(copy, n_params);
    return r;
}

/* Takes the instance at pos out of the set, reports it and frees it. */
static void remove_at(struct ec_state *st, size_t pos)
{
    struct ec_inst *inst = st->inst[pos];

    memmove(&st->inst[pos], &st->inst[pos + 1], (st->n_inst - pos - 1) * sizeof(*st->inst));
    st->n_inst--;
    st->n_by_id[inst->id]--;
    publish(st, inst, false);
    inst_free(inst);
    notify(st);
}

int ec_clear(struct ec_state *st, enum ec_id id, const char *instance)
{
    size_t pos;
    int r;

    if (!st)
        return -EINVAL;
    r = check_instance(id, instance, &instance);
    if (r < 0)
        return r;
    if (!find(st, id, instance, &pos))
        return 0;
    /* EC_LOG_OVERFLOW and EC_CRYPTOPERATION_ALARM outlive their situation: an administrator
     * must see them (TAB_KON_503). */
    if (ec_def_get(id)->reset == EC_RESET_ADMIN_ONLY)
        return 0;
    remove_at(st, pos);
    return 1;
}

int ec_reset(struct ec_state *st, enum ec_id id, const char *instance)
{
    size_t pos;
    int r;

    if (!st)
        return -EINVAL;
    r = check_instance(id, instance, &instance);
    if (r < 0)
        return r;
    if (ec_def_get(id)->reset == EC_RESET_SITUATION)
        return -EPERM;
    if (!find(st, id, instance, &pos))
        return -ENOENT;
    remove_at(st, pos);
    return 0;
}

/* instance NULL or "" asks for any instance, which for a plain condition is its only one. */
bool ec_is_active(const struct ec_state *st, enum ec_id id, const char *instance)
{
    size_t pos;

    if (!st || (unsigned)id >= EC_MAX)
        return false;
    if (!instance || instance[0] == '\0')
        return st->n_by_id[id] > 0;
    if (!ec_def_get(id)->parameterised)
        return false;
    return find(st, id, instance, &pos);
}

size_t ec_count_active(const struct ec_state *st)
{
    return st ? st->n_inst : 0;
}

void ec_foreach_active(const struct ec_state *st,
                       void (*fn)(const struct ec_instance_view *v, void *arg), void *arg)
{
    if (!st || !fn)
        return;
    for (size_t i = 0; i < st->n_inst; i++) {
        const struct ec_inst *inst = st->inst[i];
        struct ec_instance_view v = {
            .id = inst->id,
            .instance = inst->instance,
            .since_ms = inst->since_ms,
            .params = inst->params,
            .n_params = inst->n_params,
        };
        fn(&v, arg);
    }
}

bool ec_has_fatal(const struct ec_state *st)
{
    if (!st)
        return false;
    for (size_t id = 0; id < EC_MAX; id++) {
        if (st->n_by_id[id] > 0 && ec_def_get(id)->severity == EVT_SEVERITY_FATAL)
            return true;
    }
    return false;
}

bool ec_has_admin_pending(const struct ec_state *st)
{
    if (!st)
        return false;
    for (size_t id = 0; id < EC_MAX; id++) {
        if (st->n_by_id[id] > 0 && ec_def_get(id)->reset == EC_RESET_ADMIN_ONLY)
            return true;
    }
    return false;
}

void ec_state_on_change(struct ec_state *st, void (*fn)(void *arg), void *arg)
{
    if (!st)
        return;
    st->on_change = fn;
    st->on_change_arg = arg;
}
