/* services: the SOAP services practice software calls on the LAN (DESIGN.md section 4).
 *
 * services_start() registers every implemented service with the SOAP server. So far that is
 * the EventService v7.2 (Systeminformationsdienst, digest section 7.5): GetCardTerminals,
 * GetCards, GetResourceInformation, Subscribe, Unsubscribe, RenewSubscriptions and
 * GetSubscription, each behind the critical-state gate (GATE_OP_EVENT_SERVICE) and the call
 * context check TUC_KON_000. It also starts the delivery of events to the subscribed event
 * sinks over CETP (TIP1-A_4594..4596), which watches every event on the bus. The Fachmodul
 * NFDM's DPEService (ReadDPE, WriteDPE, EraseDPE) is registered with the feature "NFDM": the
 * SOAP server offers it only when the running firmware has that feature (docs/nfdm.md).
 *
 * The subscription list starts empty at every start (TIP1-A_4613); only the event sinks'
 * addresses are kept, in DATA/cetp-sinks.json, so that BOOTUP/BOOTUP_COMPLETE reaches the
 * sinks of the last run once after a restart (digest section 2.1).
 *
 * Loop-thread only. */
#ifndef KONN_SERVICES_H
#define KONN_SERVICES_H

struct event_base;
struct store;
struct ec_state;
struct evt_bus;
struct cards;
struct led_panel;
struct soap_server;
struct worker_pool;

/* Everything is borrowed and must outlive the services object. leds may be NULL (the VPN is
 * then reported Offline); workers may be NULL; cards may be NULL when the simulated world
 * could not be opened (no terminals or cards are reported, card handles answer 4008). */
struct services_deps {
    struct event_base *base;
    struct store *store;
    struct ec_state *ecs;
    struct evt_bus *bus;
    struct cards *cards;
    struct led_panel *leds;
    struct soap_server *soap;
    struct worker_pool *workers;
    const char *data_dir; /* DATA: the LAN TLS identity for CETP over TLS, cetp-sinks.json;
                             NULL: no client certificate, no sinks remembered */
};

struct services;

/* Registers the services with deps->soap (call it before soap_server_listen(); registering
 * later fails with -EBUSY) and subscribes to the event bus for CETP delivery. Needs
 * clock_attach() to have run on deps->base (subscription expiry and delivery timeouts run on
 * the connector clock). -EINVAL if a mandatory dependency is missing, -ENOMEM. */
int services_start(const struct services_deps *deps, struct services **ret_services);

/* Unsubscribes from the bus, closes every CETP connection (queued events are dropped) and
 * frees all subscriptions. Accepts NULL; returns NULL. Call it before the SOAP server, the
 * cards and the store are freed. */
struct services *services_stop(struct services *s);

#endif
