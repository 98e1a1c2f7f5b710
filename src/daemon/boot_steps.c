/* boot_steps: the bootup sequence of konnektord (TIP1-A_4508): each step brings up one part,
 * has a deadline and names the condition raised when it fails. A failed part is replaced by a
 * safe stand-in so that bootup always completes and an administrator can get in:
 *
 *   step        deadline  on failure                          stand-in
 *   settings    10 s      EC_OTHER_ERROR_STATE(1)             settings in memory, defaults
 *   logs        10 s      EC_Security_Log_Not_Writable        reopened on a back-off
 *   accounts    10 s      EC_OTHER_ERROR_STATE(2)             (created again at completion)
 *   rng         5 s       EC_Random_Generator_Not_Reliable    -
 *   identity    10 s      EC_Secure_KeyStore_Not_Available    an ephemeral key and certificate
 *   cards       60 s      EC_OTHER_ERROR_STATE(3)             no simulated cards (503 on the
 *                                                             control API)
 *   vpn         5 s       EC_No_VPN_TI_Connection             -
 *
 * Only when all have finished does the management listener open (TIP1-A_4507), followed by
 * BOOTUP/BOOTUP_COMPLETE. */
#include "daemon/daemon.h"
#include "bundle/bundle.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#define STEP_DEADLINE_MS 10000
#define QUICK_DEADLINE_MS 5000
/* Generating the test PKI at first start takes seconds, more under a sanitizer. */
#define CARDS_DEADLINE_MS 60000

static void ensure_store(struct daemon *d)
{
    if (!d->store && store_open(":memory:", &d->store) < 0)
        log_msg(LOG_LEVEL_FATAL, "konnektord: no settings store, not even in memory");
}

static void apply_log_level(const char *name, const char *value, void *arg)
{
    enum log_level level;

    if (strcmp(name, "LOG_LEVEL_SYSLOG") == 0 && log_level_from_string(value, &level) == 0)
        log_level_set(level);
}

/* --setting NAME=VALUE: CI starts a connector with the settings it needs, checked and
 * recorded like any administrator's change. */
static int apply_cmdline_settings(struct daemon *d)
{
    for (size_t i = 0; i < d->opts.n_settings; i++) {
        const char *eq = strchr(d->opts.settings[i], '=');
        char name[64], msg[256] = "";
        const char *now = NULL;
        int r;

        if (!eq || (size_t)(eq - d->opts.settings[i]) >= sizeof(name))
            return -EINVAL;
        memcpy(name, d->opts.settings[i], (size_t)(eq - d->opts.settings[i]));
        name[eq - d->opts.settings[i]] = '\0';
        r = store_setting_set(d->store, name, eq + 1, STORE_ROLE_SUPER_ADMIN, msg, sizeof(msg));
        if (r < 0) {
            fprintf(stderr, "konnektord: --setting %s: %s\n", d->opts.settings[i],
                    r == -ENOENT ? "no such setting" : msg);
            return r;
        }
        if (r == 1 && store_setting_get(d->store, name, &now) == 0) {
            struct evt_param p[3] = {{"User", "command-line"}, {"RefID", name}, {"NewVal", now}};
            struct evt_event ev = {.topic = "MGM/ADMINCHANGES",
                                   .type = EVT_TYPE_OPERATION,
                                   .severity = EVT_SEVERITY_INFO,
                                   .params = p,
                                   .n_params = 3};

            (void)evt_bus_publish(d->bus, &ev);
        }
    }
    return 0;
}

static void step_settings(struct bootup *b, void *arg)
{
    struct daemon *d = arg;
    char *path = fs_path_join(d->opts.data_dir, "config.db");
    const char *level = NULL;
    int r = path ? store_open(path, &d->store) : -ENOMEM;

    free(path);
    if (r < 0)
        log_msg(LOG_LEVEL_ERROR, "konnektord: config.db cannot be used, running on defaults");
    ensure_store(d);
    /* Delivery state: a demo practice, so that practice software finds a Mandant, a client
     * system, a workplace and a terminal to call with (issue #4). */
    if (d->store && store_infomodel_seed_demo(d->store) == 1)
        log_msg(LOG_LEVEL_INFO, "konnektord: created the demo practice m1/cs1/ws1 with ct1");
    if (d->store && apply_cmdline_settings(d) < 0) {
        /* A CI job that asked for settings it did not get must not run on. */
        d->exit_code = 2;
        event_base_loopexit(d->base, NULL);
    }
    if (d->store) {
        (void)store_setting_on_change(d->store, apply_log_level, d);
        if (store_setting_get(d->store, "LOG_LEVEL_SYSLOG", &level) == 0)
            apply_log_level("LOG_LEVEL_SYSLOG", level, d);
    }
    bootup_step_done(b, r);
}

static void step_logs(struct bootup *b, void *arg)
{
    struct daemon *d = arg;

    ensure_store(d);
    bootup_step_done(b, d->store ? logs_start(d) : -EIO);
}

static void step_accounts(struct bootup *b, void *arg)
{
    struct daemon *d = arg;
    int r;

    ensure_store(d);
    r = d->store ? mgmt_accounts_init(d->store, d->opts.data_dir) : -EIO;
    bootup_step_done(b, r < 0 ? r : 0);
}

static void step_rng(struct bootup *b, void *arg)
{
    unsigned char a[32], c[32];
    int r = rand_bytes(a, sizeof(a));

    /* A generator that repeats itself is as broken as one that fails. */
    if (r == 0)
        r = rand_bytes(c, sizeof(c));
    if (r == 0 && memcmp(a, c, sizeof(a)) == 0)
        r = -EIO;
    bootup_step_done(b, r);
}

static const char *mgmt_host(const struct daemon *d, char *buf, size_t size)
{
    const char *colon = strrchr(d->opts.mgmt_addr, ':');
    size_t n = colon ? (size_t)(colon - d->opts.mgmt_addr) : 0;

    if (n >= size)
        n = size - 1;
    memcpy(buf, d->opts.mgmt_addr, n);
    buf[n] = '\0';
    return buf;
}

static const char *hostname_of(struct daemon *d)
{
    const char *host = "konnektor";

    if (d->store)
        (void)store_setting_get(d->store, "MGM_KONN_HOSTNAME", &host);
    return host;
}

static void step_identity(struct bootup *b, void *arg)
{
    struct daemon *d = arg;
    char host[128];
    int r = mgmt_identity_load(d->opts.data_dir, hostname_of(d), mgmt_host(d, host, sizeof(host)),
                               &d->identity);

    if (r < 0)
        log_errno(LOG_LEVEL_ERROR, r, "konnektord: the management identity cannot be used");
    bootup_step_done(b, r);
}

/* The first start generates the test PKI and the demo cards (seconds of key generation):
 * on the worker pool, so the loop keeps ticking; the world opens on the loop afterwards. */
static void cards_prepare_work(void *arg)
{
    struct daemon *d = arg;
    char *world = fs_path_join(d->opts.data_dir, "world");

    d->cards_prepare_result = world ? 0 : -ENOMEM;
    /* --world-template: the same PKI and cards as the template, no key generation. */
    if (world && d->opts.world_template && !fs_exists(world))
        d->cards_prepare_result = fs_copy_tree(d->opts.world_template, world);
    if (d->cards_prepare_result == 0)
        d->cards_prepare_result = cards_prepare(d->opts.data_dir);
    free(world);
}

static void cards_prepare_done(void *arg)
{
    struct daemon *d = arg;
    struct cards_deps deps = {
        .store = d->store, .ecs = d->ecs, .bus = d->bus, .data_dir = d->opts.data_dir};
    int r = d->cards_prepare_result;

    if (r == 0)
        r = cards_open(&deps, &d->cards);
    if (r < 0)
        log_errno(LOG_LEVEL_ERROR, r, "konnektord: the simulated cards cannot be opened");
    bootup_step_done(d->bootup, r);
}

static void step_cards(struct bootup *b, void *arg)
{
    struct daemon *d = arg;
    int r;

    ensure_store(d);
    if (!d->store) {
        bootup_step_done(b, -EIO);
        return;
    }
    r = worker_pool_submit(d->workers, cards_prepare_work, cards_prepare_done, d);
    if (r < 0)
        bootup_step_done(b, r);
}

static struct mgmt_deps deps_of(struct daemon *d)
{
    return (struct mgmt_deps){
        .base = d->base,
        .store = d->store,
        .ecs = d->ecs,
        .bus = d->bus,
        .leds = d->leds,
        .workers = d->workers,
        .seclog = &d->seclog,
        .syslog = &d->syslog,
        .cards = &d->cards,
        .soap = &d->soap,
        .upd = d->upd,
        .data_dir = d->opts.data_dir,
        .boot_time_ms = d->boot_time_ms,
        .boot_mono_ms = d->boot_mono_ms,
    };
}

static void ensure_control(struct daemon *d)
{
    struct mgmt_deps deps;

    ensure_store(d);
    deps = deps_of(d);
    if (!d->control && d->store)
        d->control = control_new(&deps);
}

static void step_vpn(struct bootup *b, void *arg)
{
    struct daemon *d = arg;

    ensure_control(d);
    bootup_step_done(b, d->control ? control_vpn_start(d->control) : -ENOMEM);
}

static int write_url(const struct daemon *d, const char *url)
{
    char *dir = fs_path_join(d->opts.data_dir, "run");
    char *path = dir ? fs_path_join(dir, "mgmt.url") : NULL;
    char line[300];
    int r = -ENOMEM;

    if (path) {
        (void)snprintf(line, sizeof(line), "%s\n", url);
        r = fs_write_atomic(path, line, strlen(line), 0644);
    }
    free(path);
    free(dir);
    return r;
}

/* The KSR client and update policy (docs/update-ksr.md) with its management routes. Without
 * it the connector runs on; it only cannot fetch updates. */
static void ksr_start(struct daemon *d)
{
    struct upd_ksr_deps kd = {.base = d->base,
                              .store = d->store,
                              .bus = d->bus,
                              .ecs = d->ecs,
                              .upd = d->upd,
                              .data_dir = d->opts.data_dir};

    if (d->ksr || !d->store)
        return;
    if (upd_ksr_new(&kd, &d->ksr) < 0 || upd_ksr_routes_add(d->ksr, d->mgmt) < 0)
        log_msg(LOG_LEVEL_ERROR, "konnektord: the KSR client cannot start, no KSR updates");
}

/* The LAN side: the SOAP server with every service registered (connector.sds is complete at
 * the end of bootup, TIP1-A_4533), then its listeners. */
static int lan_start(struct daemon *d, char *http, char *https, size_t size)
{
    struct soap_deps sd = {.base = d->base,
                           .store = d->store,
                           .ecs = d->ecs,
                           .bus = d->bus,
                           .workers = d->workers,
                           .data_dir = d->opts.data_dir,
                           .product_type_version = KONN_PRODUCT_TYPE_VERSION,
                           .firmware_version = KONN_VERSION};
    const struct bundle_manifest *running = d->upd ? upd_slot_manifest(d->upd) : NULL;
    /* Without an updater the core runs as the build it is: the factory image's features. */
    static const char *const factory_features[] = {UPD_FACTORY_FEATURES};
    struct services_deps vd;
    int r;

    if (!d->opts.lan_http && !d->opts.lan_https)
        return 0;
    /* connector.sds shows the running firmware's product type version, and its features
     * decide which Fachmodule are offered (issue #6 item 5, docs/nfdm.md). */
    sd.features = factory_features;
    sd.n_features = ARRAY_SIZE(factory_features);
    if (running) {
        sd.product_type_version = running->product_type_version;
        sd.firmware_version = running->fw_version;
        sd.features = (const char *const *)running->features;
        sd.n_features = running->n_features;
    }
    d->soap = soap_server_new(&sd);
    if (!d->soap)
        return -ENOMEM;
    vd = (struct services_deps){.base = d->base,
                                .store = d->store,
                                .ecs = d->ecs,
                                .bus = d->bus,
                                .cards = d->cards,
                                .leds = d->leds,
                                .soap = d->soap,
                                .workers = d->workers,
                                .data_dir = d->opts.data_dir};
    r = services_start(&vd, &d->services);
    if (r < 0)
        return log_errno(LOG_LEVEL_FATAL, r, "konnektord: the LAN services cannot start");
    r = soap_server_listen(d->soap, d->opts.lan_http, d->opts.lan_https, http, size, https, size);
    if (r < 0)
        return log_errno(LOG_LEVEL_FATAL, r, "konnektord: cannot open the LAN listeners");
    if (http[0])
        printf("konnektord: LAN (SOAP) at %s/connector.sds\n", http);
    if (https[0])
        printf("konnektord: LAN (SOAP over TLS) at %s/connector.sds\n", https);
    return 0;
}

/* Everything is initialised (or stood in for): open the listener, then BOOTUP_COMPLETE. */
static void on_complete(struct bootup *b, void *arg)
{
    struct daemon *d = arg;
    struct mgmt_deps deps;
    char url[256], http[256] = "", https[256] = "";
    int r;

    ensure_control(d);
    if (!d->store || !d->control)
        goto fatal;
    /* A logs step that never ran (it hung) still gets its logs, or their retry timer. */
    if (!d->retention_timer)
        (void)logs_start(d);
    if (store_user_count(d->store) == 0)
        (void)mgmt_accounts_init(d->store, d->opts.data_dir);
    if (!d->identity && mgmt_identity_ephemeral(hostname_of(d), &d->identity) < 0)
        goto fatal;
    deps = deps_of(d);
    d->mgmt = mgmt_server_new(&deps, d->identity);
    if (!d->mgmt || control_routes_add(d->control, d->mgmt) < 0)
        goto fatal;
    ksr_start(d);
    r = lan_start(d, http, https, sizeof(http));
    if (r < 0)
        goto fatal;
    r = mgmt_server_start(d->mgmt, d->opts.mgmt_addr, url, sizeof(url));
    if (r < 0) {
        log_errno(LOG_LEVEL_FATAL, r, "konnektord: cannot listen on '%s'", d->opts.mgmt_addr);
        goto fatal;
    }
    /* The hidden button (TIP1-A_4820), before the URL tells clients we are up; without it
     * the API's reset still works. */
    if (mgmt_server_button_start(d->mgmt) < 0)
        log_msg(LOG_LEVEL_ERROR, "konnektord: the hidden reset button is not available");
    (void)write_url(d, url);
    led_panel_set_booted(d->leds, true);
    if (d->upd) {
        /* Healthy once these accept (docs/update.md); "https://HOST:PORT" -> "HOST:PORT". */
        const char *addrs[4] = {NULL};
        size_t n = 0;

        addrs[n++] = strstr(url, "://") ? strstr(url, "://") + 3 : url;
        if (http[0])
            addrs[n++] = strstr(http, "://") ? strstr(http, "://") + 3 : http;
        if (https[0])
            addrs[n++] = strstr(https, "://") ? strstr(https, "://") + 3 : https;
        if (upd_health_start(d->upd, addrs) < 0)
            log_msg(LOG_LEVEL_ERROR, "konnektord: the health check cannot start");
    }
    printf("konnektord: management at %s/ (certificate %s/identity/mgmt-cert.pem)\n", url,
           d->opts.data_dir);
    printf("konnektord: bootup complete, %zu step(s) failed\n", bootup_failed_steps(b));
    (void)fflush(stdout);
    return;
fatal:
    /* Without a management listener nobody could reach or recover the device. */
    d->exit_code = 1;
    event_base_loopexit(d->base, NULL);
}

int boot_steps_start(struct daemon *d)
{
    int r;

    d->bootup = bootup_new(d->ecs, d->bus);
    if (!d->bootup)
        return -ENOMEM;
    r = bootup_add_step(d->bootup, "settings", STEP_DEADLINE_MS, EC_OTHER_ERROR_STATE, "1",
                        step_settings, d);
    if (r == 0)
        r = bootup_add_step(d->bootup, "logs", STEP_DEADLINE_MS, EC_SECURITY_LOG_NOT_WRITABLE, NULL,
                            step_logs, d);
    if (r == 0)
        r = bootup_add_step(d->bootup, "accounts", STEP_DEADLINE_MS, EC_OTHER_ERROR_STATE, "2",
                            step_accounts, d);
    if (r == 0)
        r = bootup_add_step(d->bootup, "rng", QUICK_DEADLINE_MS, EC_RANDOM_GENERATOR_NOT_RELIABLE,
                            NULL, step_rng, d);
    if (r == 0)
        r = bootup_add_step(d->bootup, "identity", STEP_DEADLINE_MS,
                            EC_SECURE_KEYSTORE_NOT_AVAILABLE, NULL, step_identity, d);
    if (r == 0)
        r = bootup_add_step(d->bootup, "cards", CARDS_DEADLINE_MS, EC_OTHER_ERROR_STATE, "3",
                            step_cards, d);
    if (r == 0)
        r = bootup_add_step(d->bootup, "vpn", QUICK_DEADLINE_MS, EC_NO_VPN_TI_CONNECTION, NULL,
                            step_vpn, d);
    for (size_t i = 0; r == 0 && i < d->opts.n_boot_faults; i++) {
        r = bootup_set_fault(d->bootup, d->opts.boot_faults[i]);
        if (r < 0)
            fprintf(stderr,
                    "konnektord: bad --boot-fault '%s' (STEP:fail|hang|delay=MS with "
                    "STEP one of settings, logs, accounts, rng, identity, cards, vpn)\n",
                    d->opts.boot_faults[i]);
    }
    if (r == 0)
        r = bootup_start(d->bootup, on_complete, d);
    return r;
}
