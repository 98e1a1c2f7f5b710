/* bus: the internal event bus and its history ring.
 *
 * Invariants:
 *  1. Handlers run synchronously in subscription order, on the loop thread.
 *  2. A handler may subscribe or unsubscribe (itself or others) while being called: removal
 *     only marks the entry, and marked entries are swept after the outermost publish.
 *  3. The ring holds deep copies; a history reader never sees a borrowed pointer.
 *  4. seq grows by one per published event and is never reused. */
#include "events/events.h"

#include "base/base.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct subscription {
    uint64_t id;
    char *prefix;
    size_t prefix_len;
    evt_handler_fn handler;
    void *arg;
    bool removed;
    struct subscription *next;
};

/* A deep copy of one event for the history ring. */
struct kept_event {
    struct evt_event ev;
    struct evt_param params[EVT_PARAMS_MAX];
    char *strings; /* topic, then key\0value\0 pairs, one allocation */
};

struct evt_bus {
    struct subscription *subs;
    uint64_t next_sub_id;
    unsigned publishing; /* nesting depth of evt_bus_publish */
    uint64_t seq;
    struct kept_event *ring;
    size_t ring_size, ring_next, ring_used;
};

static const char *const type_names[EVT_TYPE_MAX] = {"Operation", "Security", "Infrastructure",
                                                     "Business", "Other"};
static const char *const severity_names[EVT_SEVERITY_MAX] = {"Info", "Warning", "Error", "Fatal"};

const char *evt_type_to_string(enum evt_type type)
{
    return type < EVT_TYPE_MAX ? type_names[type] : "Other";
}

int evt_type_from_string(const char *s, enum evt_type *ret_type)
{
    for (size_t i = 0; s && i < EVT_TYPE_MAX; i++) {
        if (strcasecmp(s, type_names[i]) == 0) {
            *ret_type = (enum evt_type)i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *evt_severity_to_string(enum evt_severity severity)
{
    return severity < EVT_SEVERITY_MAX ? severity_names[severity] : "Info";
}

int evt_severity_from_string(const char *s, enum evt_severity *ret_severity)
{
    for (size_t i = 0; s && i < EVT_SEVERITY_MAX; i++) {
        if (strcasecmp(s, severity_names[i]) == 0) {
            *ret_severity = (enum evt_severity)i;
            return 0;
        }
    }
    return -EINVAL;
}

struct evt_bus *evt_bus_new(size_t history)
{
    struct evt_bus *bus = calloc(1, sizeof(*bus));

    if (!bus)
        return NULL;
    if (history > 0) {
        bus->ring = calloc(history, sizeof(*bus->ring));
        if (!bus->ring) {
            free(bus);
            return NULL;
        }
        bus->ring_size = history;
    }
    bus->next_sub_id = 1;
    return bus;
}

struct evt_bus *evt_bus_free(struct evt_bus *bus)
{
    if (!bus)
        return NULL;
    while (bus->subs) {
        struct subscription *s = bus->subs;

        bus->subs = s->next;
        free(s->prefix);
        free(s);
    }
    for (size_t i = 0; i < bus->ring_size; i++)
        free(bus->ring[i].strings);
    free(bus->ring);
    free(bus);
    return NULL;
}

int evt_bus_subscribe(struct evt_bus *bus, const char *topic_prefix, evt_handler_fn handler,
                      void *arg, uint64_t *ret_id)
{
    struct subscription *s, **tail;

    if (!bus || !topic_prefix || !handler)
        return -EINVAL;
    s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->prefix = strdup(topic_prefix);
    if (!s->prefix) {
        free(s);
        return -ENOMEM;
    }
    s->prefix_len = strlen(topic_prefix);
    s->handler = handler;
    s->arg = arg;
    s->id = bus->next_sub_id++;
    for (tail = &bus->subs; *tail; tail = &(*tail)->next)
        ;
    *tail = s;
    if (ret_id)
        *ret_id = s->id;
    return 0;
}

static void sweep(struct evt_bus *bus)
{
    struct subscription **p = &bus->subs;

    while (*p) {
        struct subscription *s = *p;

        if (s->removed) {
            *p = s->next;
            free(s->prefix);
            free(s);
        } else {
            p = &s->next;
        }
    }
}

int evt_bus_unsubscribe(struct evt_bus *bus, uint64_t id)
{
    for (struct subscription *s = bus->subs; s; s = s->next) {
        if (s->id == id && !s->removed) {
            s->removed = true;
            if (bus->publishing == 0)
                sweep(bus);
            return 0;
        }
    }
    return -ENOENT;
}

static int check_event(const struct evt_event *ev)
{
    size_t n;

    if (!ev || !ev->topic)
        return -EINVAL;
    n = strlen(ev->topic);
    if (n == 0 || n > EVT_TOPIC_MAX)
        return -EINVAL;
    if (ev->n_params > EVT_PARAMS_MAX || (ev->n_params > 0 && !ev->params))
        return -EINVAL;
    if (ev->type >= EVT_TYPE_MAX || ev->severity >= EVT_SEVERITY_MAX)
        return -EINVAL;
    for (size_t i = 0; i < ev->n_params; i++) {
        const struct evt_param *p = &ev->params[i];

        if (!p->key || !p->value || !*p->key || strlen(p->key) > EVT_PARAM_KEY_MAX ||
            strlen(p->value) > EVT_PARAM_VALUE_MAX)
            return -EINVAL;
    }
    return 0;
}

/* Copies ev into the ring slot; on allocation failure the slot is left empty. */
static void keep(struct evt_bus *bus, const struct evt_event *ev)
{
    struct kept_event *k;
    size_t len;
    char *p;

    if (bus->ring_size == 0)
        return;
    k = &bus->ring[bus->ring_next];
    bus->ring_next = (bus->ring_next + 1) % bus->ring_size;
    if (bus->ring_used < bus->ring_size)
        bus->ring_used++;
    free(k->strings);
    memset(k, 0, sizeof(*k));
    len = strlen(ev->topic) + 1;
    for (size_t i = 0; i < ev->n_params; i++)
        len += strlen(ev->params[i].key) + strlen(ev->params[i].value) + 2;
    k->strings = malloc(len);
    if (!k->strings)
        return;
    p = k->strings;
    k->ev = *ev;
    k->ev.topic = p;
    p = stpcpy(p, ev->topic) + 1;
    for (size_t i = 0; i < ev->n_params; i++) {
        k->params[i].key = p;
        p = stpcpy(p, ev->params[i].key) + 1;
        k->params[i].value = p;
        p = stpcpy(p, ev->params[i].value) + 1;
    }
    k->ev.params = k->params;
}

int evt_bus_publish(struct evt_bus *bus, const struct evt_event *ev)
{
    struct evt_event e;
    int r = check_event(ev);

    if (r < 0)
        return r;
    e = *ev;
    e.seq = ++bus->seq;
    e.time_ms = clock_now_ms();
    keep(bus, &e);
    bus->publishing++;
    for (struct subscription *s = bus->subs; s; s = s->next) {
        if (s->removed || strncmp(e.topic, s->prefix, s->prefix_len) != 0)
            continue;
        s->handler(&e, s->arg);
    }
    if (--bus->publishing == 0)
        sweep(bus);
    return 0;
}

size_t evt_bus_history(const struct evt_bus *bus, uint64_t since_seq,
                       void (*fn)(const struct evt_event *ev, void *arg), void *arg)
{
    size_t seen = 0;
    size_t start =
        (bus->ring_next + bus->ring_size - bus->ring_used) % (bus->ring_size ? bus->ring_size : 1);

    for (size_t i = 0; i < bus->ring_used; i++) {
        const struct kept_event *k = &bus->ring[(start + i) % bus->ring_size];

        if (!k->strings || k->ev.seq <= since_seq)
            continue;
        fn(&k->ev, arg);
        seen++;
    }
    return seen;
}

uint64_t evt_bus_last_seq(const struct evt_bus *bus)
{
    return bus->seq;
}

const char *evt_event_param(const struct evt_event *ev, const char *key)
{
    for (size_t i = 0; i < ev->n_params; i++) {
        if (strcmp(ev->params[i].key, key) == 0)
            return ev->params[i].value;
    }
    return NULL;
}
