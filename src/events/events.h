/* events: the internal event bus (TUC_KON_256 inside the process). Producers publish an event
 * with a topic, type, severity and parameters; subscribers registered for a topic prefix are
 * called synchronously, in subscription order. The bus also keeps the most recent events in a
 * ring with sequence numbers, so the management and control APIs can show them.
 *
 * Loop-thread only. An event and its strings are borrowed for the duration of the handler
 * call; a handler that keeps anything copies it. */
#ifndef KONN_EVENTS_H
#define KONN_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* EventService.xsd EventType. */
enum evt_type {
    EVT_TYPE_OPERATION,
    EVT_TYPE_SECURITY,
    EVT_TYPE_INFRASTRUCTURE,
    EVT_TYPE_BUSINESS,
    EVT_TYPE_OTHER,
    EVT_TYPE_MAX
};

/* EventService.xsd EventSeverity. */
enum evt_severity {
    EVT_SEVERITY_INFO,
    EVT_SEVERITY_WARNING,
    EVT_SEVERITY_ERROR,
    EVT_SEVERITY_FATAL,
    EVT_SEVERITY_MAX
};

const char *evt_type_to_string(enum evt_type type);
int evt_type_from_string(const char *s, enum evt_type *ret_type);
const char *evt_severity_to_string(enum evt_severity severity);
int evt_severity_from_string(const char *s, enum evt_severity *ret_severity);

/* Limits from EventService.xsd: Topic 1024, parameter key 64, value 5000 characters. */
#define EVT_TOPIC_MAX 1024
#define EVT_PARAM_KEY_MAX 64
#define EVT_PARAM_VALUE_MAX 5000
#define EVT_PARAMS_MAX 16

struct evt_param {
    const char *key;
    const char *value;
};

struct evt_event {
    uint64_t seq;    /* set by the bus on publish */
    int64_t time_ms; /* wall time, set by the bus on publish */
    const char *topic;
    enum evt_type type;
    enum evt_severity severity;
    const struct evt_param *params;
    size_t n_params;
};

typedef void (*evt_handler_fn)(const struct evt_event *ev, void *arg);

struct evt_bus;

/* history: how many recent events the ring keeps (0 for none). */
struct evt_bus *evt_bus_new(size_t history);
struct evt_bus *evt_bus_free(struct evt_bus *bus);

/* Calls handler for every event whose topic starts with topic_prefix ("" for all).
 * ret_id (may be NULL) receives an id for evt_bus_unsubscribe(). */
int evt_bus_subscribe(struct evt_bus *bus, const char *topic_prefix, evt_handler_fn handler,
                      void *arg, uint64_t *ret_id);
int evt_bus_unsubscribe(struct evt_bus *bus, uint64_t id);

/* Publishes ev (seq and time_ms are filled in by the bus; the caller's copy is not written).
 * -EINVAL for a topic that is empty or too long, too many parameters, or a key or value over
 * the XSD limits. */
int evt_bus_publish(struct evt_bus *bus, const struct evt_event *ev);

/* Calls fn for each kept event with seq > since_seq, oldest first. Returns the number seen. */
size_t evt_bus_history(const struct evt_bus *bus, uint64_t since_seq,
                       void (*fn)(const struct evt_event *ev, void *arg), void *arg);
/* Sequence number of the newest event (0 before the first). */
uint64_t evt_bus_last_seq(const struct evt_bus *bus);

/* Looks up a parameter by key; NULL if absent. */
const char *evt_event_param(const struct evt_event *ev, const char *key);

#endif
