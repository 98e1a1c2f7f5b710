/* services: starts and stops the SOAP services and the event delivery behind them.
 *
 * services_start() creates the (empty, TIP1-A_4613) subscription list, the CETP delivery,
 * registers the EventService with the SOAP server and subscribes to every event on the bus.
 * The bus handler notes when conditions change (for GetResourceInformation's ValidFrom),
 * watches the VPN state, and hands the event to CETP delivery; BOOTUP/BOOTUP_COMPLETE also
 * goes to the event sinks remembered from the last run (boot_sinks.c).
 *
 * Invariants:
 *  1. After services_start() returns an error, nothing stays registered with the bus and
 *     nothing is allocated. The SOAP registration cannot be undone, so it is the last step:
 *     soap_server_register() either registers all operations or none.
 *  2. services_stop() unsubscribes from the bus first, so no event arrives half torn down. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "services/services_internal.h"

#define OPERATIONAL_STATE_PREFIX "OPERATIONAL_STATE/"

void services__vpn_observe(struct services *s)
{
    enum vpn_state now = s->deps.leds ? led_panel_get_vpn(s->deps.leds) : VPN_STATE_DOWN;

    if (now != s->vpn) {
        s->vpn = now;
        s->vpn_since_ms = clock_now_ms();
    }
}

static void note_condition_change(struct services *s, const struct evt_event *ev)
{
    const char *name = ev->topic + strlen(OPERATIONAL_STATE_PREFIX);
    enum ec_id id;

    if (ec_id_from_string(name, &id) == 0 && id < EC_MAX)
        s->ec_changed_ms[id] = ev->time_ms;
}

static void on_event(const struct evt_event *ev, void *arg)
{
    struct services *s = arg;

    if (strncmp(ev->topic, OPERATIONAL_STATE_PREFIX, strlen(OPERATIONAL_STATE_PREFIX)) == 0)
        note_condition_change(s, ev);
    services__vpn_observe(s);
    services__cetp_deliver(s->cetp, ev);
    /* After a restart the sinks of the last run hear that the connector is back (digest
     * section 2.1, TIP1-A_4613); they then subscribe again. */
    if (strcmp(ev->topic, SERVICES_BOOT_TOPIC) == 0 &&
        services__boot_sinks_count(s->boot_sinks) > 0) {
        int r = services__boot_sinks_deliver(s->boot_sinks, s->cetp, s->subs, ev);

        if (r < 0)
            log_errno(LOG_LEVEL_WARNING, r,
                      "services: cannot clear the remembered event sinks, they may hear "
                      "'%s' again at the next start",
                      ev->topic);
    }
}

static void on_subscriptions_expired(void *arg)
{
    struct services *s = arg;

    services__cetp_prune(s->cetp);
}

int services_start(const struct services_deps *deps, struct services **ret_services)
{
    struct services *s = NULL;
    struct services_cetp_deps cd;
    int r = -EINVAL;

    if (!deps || !deps->base || !deps->store || !deps->ecs || !deps->bus || !deps->soap ||
        !ret_services)
        return -EINVAL;
    s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->deps = *deps;
    s->started_ms = clock_now_ms();
    s->vpn = deps->leds ? led_panel_get_vpn(deps->leds) : VPN_STATE_DOWN;
    s->vpn_since_ms = s->started_ms;
    r = -ENOMEM;
    s->subs = services__subs_new(SERVICES_SUBS_MAX);
    if (!s->subs)
        goto fail;
    cd = (struct services_cetp_deps){
        .base = deps->base, .store = deps->store, .subs = s->subs, .data_dir = deps->data_dir};
    s->cetp = services__cetp_new(&cd);
    s->boot_sinks = services__boot_sinks_new(deps->data_dir);
    s->card_xml = services__card_xml_new(); /* NULL only makes GetCards slower */
    if (!s->cetp || !s->boot_sinks)
        goto fail;
    services__subs_on_expired(s->subs, on_subscriptions_expired, s);
    r = evt_bus_subscribe(deps->bus, "", on_event, s, &s->bus_sub_id);
    if (r < 0)
        goto fail;
    s->bus_subscribed = true;
    r = services__event_service_register(s);
    if (r < 0) {
        log_errno(LOG_LEVEL_ERROR, r, "services: cannot register the EventService");
        goto fail;
    }
    log_msg(LOG_LEVEL_INFO, "services: EventService 7.2 registered, subscription list empty");
    r = services__ct_service_start(s);
    if (r == 0)
        r = services__cert_service_start(s);
    if (r == 0)
        r = services__card_service_start(s);
    if (r == 0)
        r = services__dpe_service_start(s);
    if (r < 0) {
        log_errno(LOG_LEVEL_ERROR, r,
                  "services: cannot register the CardTerminalService, CertificateService, "
                  "CardService or DPEService");
        goto fail;
    }
    *ret_services = s;
    return 0;
fail:
    services_stop(s);
    return r;
}

struct services *services_stop(struct services *s)
{
    if (!s)
        return NULL;
    if (s->bus_subscribed)
        (void)evt_bus_unsubscribe(s->deps.bus, s->bus_sub_id);
    services__ct_service_stop(s);
    services__cert_service_stop(s);
    services__card_service_stop(s);
    services__dpe_service_stop(s);
    s->cetp = services__cetp_free(s->cetp);
    s->boot_sinks = services__boot_sinks_free(s->boot_sinks);
    s->card_xml = services__card_xml_free(s->card_xml);
    s->subs = services__subs_free(s->subs);
    free(s);
    return NULL;
}
