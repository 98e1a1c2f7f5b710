/* main: konnektord's process: create the loop and the long-lived objects, run bootup, serve
 * until SIGTERM or SIGINT, then tear everything down in reverse order. */
#include "daemon/daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

/* How many recent events the bus keeps for the management API. */
#define EVENT_HISTORY 1024
/* DESIGN.md section 6: System goes off when the loop has not ticked for 2 s. */
#define WATCHDOG_STALL_MS 2000
#define WORKER_THREADS 2

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct daemon *d = arg;

    log_msg(LOG_LEVEL_INFO, "konnektord: %s received, shutting down",
            sig == SIGTERM ? "SIGTERM" : "SIGINT");
    event_base_loopexit(d->base, NULL);
}

/* The updater switched the slot: a clean shutdown, then the launcher starts the new core. */
static void on_update_restart(void *arg)
{
    struct daemon *d = arg;

    log_msg(LOG_LEVEL_INFO, "konnektord: restarting for the firmware update");
    d->exit_code = UPD_EXIT_RESTART;
    event_base_loopexit(d->base, NULL);
}

static void on_conditions_changed(void *arg)
{
    struct daemon *d = arg;

    led_panel_update_from(d->leds, d->ecs);
}

static int create_objects(struct daemon *d)
{
    char *run_dir = fs_path_join(d->opts.data_dir, "run");
    char *leds_file = run_dir ? fs_path_join(run_dir, "leds.json") : NULL;
    char *url_file = NULL;
    int r = -ENOMEM;

    if (!leds_file)
        goto out;
    r = fs_mkdir_p(d->opts.data_dir, 0700);
    if (r == 0)
        r = fs_mkdir_p(run_dir, 0755);
    if (r < 0) {
        log_errno(LOG_LEVEL_FATAL, r, "konnektord: cannot create data directory '%s'",
                  d->opts.data_dir);
        goto out;
    }
    /* A URL left by an earlier run would tell waiting clients we are up before bootup ends. */
    url_file = fs_path_join(run_dir, "mgmt.url");
    if (url_file)
        (void)unlink(url_file);
    r = -ENOMEM;
    d->bus = evt_bus_new(EVENT_HISTORY);
    d->ecs = d->bus ? ec_state_new(d->bus) : NULL;
    d->leds = led_panel_new(leds_file, WATCHDOG_STALL_MS);
    d->workers = worker_pool_new(d->base, WORKER_THREADS);
    if (!d->ecs || !d->leds || !d->workers)
        goto out;
    ec_state_on_change(d->ecs, on_conditions_changed, d);
    r = led_panel_start(d->leds, d->base);
    if (r == 0) {
        struct upd_deps ud = {.base = d->base,
                              .workers = d->workers,
                              .bus = d->bus,
                              .ecs = d->ecs,
                              .seclog = &d->seclog,
                              .data_dir = d->opts.data_dir,
                              .restart = on_update_restart,
                              .restart_arg = d};

        /* Without an updater the connector still runs; it just cannot update. */
        if (upd_new(&ud, &d->upd) < 0)
            log_msg(LOG_LEVEL_ERROR, "konnektord: the updater cannot start, updates disabled");
    }
out:
    free(url_file);
    free(leds_file);
    free(run_dir);
    return r;
}

static void destroy_objects(struct daemon *d)
{
    /* First the pool: its pending completions answer requests and finish boot steps, so
     * everything they touch must still exist. */
    d->workers = worker_pool_free(d->workers);
    d->ksr = upd_ksr_free(d->ksr);
    d->upd = upd_free(d->upd);
    d->services = services_stop(d->services);
    d->soap = soap_server_free(d->soap);
    d->mgmt = mgmt_server_free(d->mgmt);
    d->control = control_free(d->control);
    logs_stop(d);
    d->bootup = bootup_free(d->bootup);
    d->cards = cards_close(d->cards);
    d->identity = mgmt_identity_free(d->identity);
    if (d->leds)
        led_panel_stop(d->leds);
    d->leds = led_panel_free(d->leds);
    d->store = store_close(d->store);
    d->ecs = ec_state_free(d->ecs);
    d->bus = evt_bus_free(d->bus);
}

int main(int argc, char **argv)
{
    struct daemon d = {0};
    struct event *sigterm = NULL, *sigint = NULL;
    int r;

    r = options_parse(argc, argv, &d.opts);
    if (r != 0)
        return r > 0 ? 0 : 2;
    if (!d.opts.core) {
        /* The launcher (docs/update.md): runs the core of the active slot with --core. */
        struct upd_launcher_opts lo = {.data_dir = d.opts.data_dir,
                                       .health_timeout_ms = d.opts.health_timeout_ms,
                                       .argc = argc,
                                       .argv = argv};

        return upd_launcher_run(&lo);
    }
    clock_init(d.opts.clock);
    d.boot_time_ms = clock_now_ms();
    d.boot_mono_ms = clock_mono_ms();
    (void)signal(SIGPIPE, SIG_IGN);
    if (evthread_use_pthreads() < 0 || !(d.base = event_base_new()) || clock_attach(d.base) < 0) {
        fprintf(stderr, "konnektord: cannot create the event loop\n");
        return 1;
    }
    log_msg(LOG_LEVEL_INFO, "konnektord %s starting, data '%s', clock %s", KONN_VERSION,
            d.opts.data_dir, clock_mode_to_string(d.opts.clock));
    sigterm = evsignal_new(d.base, SIGTERM, on_signal, &d);
    sigint = evsignal_new(d.base, SIGINT, on_signal, &d);
    if (!sigterm || !sigint || evsignal_add(sigterm, NULL) < 0 || evsignal_add(sigint, NULL) < 0)
        goto fail;
    if (create_objects(&d) < 0)
        goto fail;
    if (boot_steps_start(&d) < 0)
        goto fail;
    (void)event_base_dispatch(d.base);
    log_msg(LOG_LEVEL_INFO, "konnektord: stopped");
    goto done;
fail:
    d.exit_code = 1;
done:
    destroy_objects(&d);
    if (sigterm)
        event_free(sigterm);
    if (sigint)
        event_free(sigint);
    clock_detach();
    event_base_free(d.base);
    return d.exit_code;
}
