/* scenario: the practice load of "konctl scenario" (cmd_scenario.c), shared by "scenario
 * practice" and "scenario 2020-ehealth-update" (cmd_scenario_2020.c). Internal to konctl.
 *
 * A load is N workplace threads polling GetCards over SOAP and the management status, a CETP
 * sink subscribed to CARD and OPERATIONAL_STATE, and the 2020 storm through the control API.
 * Every request is kept as a sample with its real monotonic start and end, so a caller can
 * cut the run into phases afterwards. Threads: the functions below are for the caller's one
 * thread; the workplaces and the sink only append samples and count. */
#ifndef KONCTL_SCENARIO_H
#define KONCTL_SCENARIO_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

struct http_client;
struct konctl;

#define SCENARIO_SOAP_URL_DEFAULT "http://127.0.0.1:8080"

enum scenario_kind { SCENARIO_SOAP, SCENARIO_MGMT, SCENARIO_KIND_MAX };
enum scenario_outcome { SCENARIO_OK, SCENARIO_TIMEOUT, SCENARIO_ERROR, SCENARIO_OUTCOME_MAX };

/* One request of a workplace; times in real monotonic ms (clock_real_mono_ms()). A timeout
 * counts as the timeout's length. */
struct scenario_sample {
    int64_t start_ms, end_ms;
    double ms;
    enum scenario_outcome outcome;
};

struct scenario_opts {
    uint64_t workplaces;  /* 1..200: ws1..wsN of mandant m1 */
    uint64_t seconds;     /* how long the storm runs */
    uint64_t storm;       /* distinct firewall drops per second; 0: no storm */
    uint64_t interval_ms; /* each workplace polls once per interval */
    uint64_t timeout_ms;  /* each request's timeout */
    bool crypto_ops;      /* enable LOG_SUCCESSFUL_CRYPTO_OPS, a LOG/CRYPTO_OP per poll */
    const char *soap_url; /* the LAN interface */
};

struct scenario_load;

/* Sets the practice up (missing workplaces, the crypto-ops setting, the sink and its
 * subscriptions, the storm for o->seconds) and starts the workplaces; they poll until end_ms
 * (real monotonic) or scenario_load_stop(). k must be open (konctl_open()) and outlive the
 * load; o is copied. Returns NULL after reporting a failure. */
struct scenario_load *scenario_load_start(const struct konctl *k, const struct scenario_opts *o,
                                          int64_t end_ms);

/* Once a second: follows LOG_SUCCESSFUL_CRYPTO_OPS (the workplaces log crypto operations only
 * while it is Enabled), asking with a 300 ms timeout. */
void scenario_load_tick(struct scenario_load *l);

/* After a core restart: starts the storm again for seconds and subscribes the sink again
 * (the new core has neither). Returns whether the storm started. */
bool scenario_load_renew(struct scenario_load *l, uint64_t seconds);

/* Copies kind's samples from index from on (in the order they ended) into *ret (malloc'ed,
 * NULL when there are none) and returns their number; *ret_next gets the index after them. */
size_t scenario_load_samples(struct scenario_load *l, enum scenario_kind kind, size_t from,
                             struct scenario_sample **ret, size_t *ret_next);

/* {"storm_started", "subscriptions", "events_received", "crypto_ops_logged"}. */
json_t *scenario_load_counts(struct scenario_load *l);

/* Stops the workplaces and the sink (the storm ends by its seconds), unsubscribes and frees.
 * Accepts NULL; returns NULL. */
struct scenario_load *scenario_load_stop(struct scenario_load *l);

/* {"requests", "ok", "timeouts", "errors", "p50_ms", "p99_ms", "max_ms"} of the samples that
 * pick (may be NULL: all) accepts; the latencies are null when there are none. NULL when out
 * of memory. */
json_t *scenario_figures(const struct scenario_sample *v, size_t n,
                         bool (*pick)(const struct scenario_sample *s, void *arg), void *arg);

/* "NAME  N requests  p50 .. ms  p99 .. ms  max .. ms  timeouts N  errors N". */
void scenario_figures_print(FILE *f, const char *name, const json_t *fig);

/* A client of k's management URL and credentials (k must be open) whose connects give up
 * after connect_timeout_ms; NULL when out of memory. http_client_free() it. */
struct http_client *scenario_client_new(const struct konctl *k, long connect_timeout_ms);

/* A quiet request: true on 2xx or on allowed (e.g. 409 for "exists"; 0 for none), without
 * reporting anything. body is stolen (may be NULL); the answer's body goes to *ret_body
 * (owned; may be NULL; ret_body may be NULL). */
bool scenario_request(struct http_client *c, const char *method, const char *path, json_t *body,
                      long allowed, long timeout_ms, json_t **ret_body);

/* Parses --name's value into [min, max]; true also when value is NULL (ret untouched). */
bool scenario_number(const char *name, const char *value, uint64_t min, uint64_t max,
                     uint64_t *ret);

/* The 2020 story: "konctl scenario 2020-ehealth-update" (cmd_scenario_2020.c). */
int scenario_2020(struct konctl *k, int argc, char **argv);

#endif
