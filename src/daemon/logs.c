/* logs: the Protokollierungsdienst of konnektord (TUC_KON_271/272): opens the security log
 * and the system log on the seclog engine, routes events and operator messages into them, and
 * turns the engine's status into operating-state conditions.
 *
 * Routing (TUC_KON_271): every event of type Security, and the management events the spec
 * names (MGM/ADMINCHANGES, MGM/CONFIG_EXIMPORT, MGM/FACTORYSETTINGS), go to the security log;
 * every other event and every operator message at or above LOG_LEVEL_SYSLOG go to the system
 * log.
 *
 * Invariants:
 *  1. No personal data reaches the security log (TIP1-A_4710): parameters that can carry an
 *     ICCSN, KVNR or a name are replaced before the append.
 *  2. The security log not writable <=> EC_Security_Log_Not_Writable is active; the engine
 *     retries by itself, and an open that failed is retried on a bounded back-off.
 *  3. Every eviction of entries younger than their retention raises EC_LOG_OVERFLOW
 *     (Protokoll names the log); only an administrator resets it.
 *  4. Events published before the logs opened (bootup) are taken from the bus history, so
 *     bootup is in the log too. */
#include "daemon/daemon.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Retention is applied hourly on the connector's clock (and at once when settings change). */
#define RETENTION_PERIOD_MS (3600 * 1000)
/* A failed open is retried after 5 s, doubling up to 5 min. */
#define REOPEN_FIRST_MS 5000
#define REOPEN_MAX_MS (300 * 1000)
#define MS_PER_DAY (86400LL * 1000)
#define MB (1024ULL * 1024)

static const char *const personal_keys[] = {"ICCSN", "Iccsn",          "Karte", "KVNR",
                                            "Kvnr",  "CardHolderName", "Name",  "PatientName"};

static bool is_personal(const char *key)
{
    for (size_t i = 0; i < ARRAY_SIZE(personal_keys); i++) {
        if (strcmp(key, personal_keys[i]) == 0)
            return true;
    }
    return false;
}

static bool goes_to_security_log(const struct evt_event *ev)
{
    return ev->type == EVT_TYPE_SECURITY || strcmp(ev->topic, "MGM/ADMINCHANGES") == 0 ||
           strcmp(ev->topic, "MGM/CONFIG_EXIMPORT") == 0 ||
           strcmp(ev->topic, "MGM/FACTORYSETTINGS") == 0;
}

/* seclog's enums follow EventService.xsd in the same order as events.h. */
_Static_assert((int)SECLOG_SEVERITY_FATAL == (int)EVT_SEVERITY_FATAL, "severity order");
_Static_assert((int)SECLOG_TYPE_OTHER == (int)EVT_TYPE_OTHER, "type order");

static void append_event(struct daemon *d, const struct evt_event *ev)
{
    struct seclog_param params[SECLOG_PARAMS_MAX];
    struct seclog_entry e = {
        .time_ms = ev->time_ms,
        .severity = (enum seclog_severity)ev->severity,
        .type = (enum seclog_type)ev->type,
        .topic = ev->topic,
        .params = params,
    };
    bool security = goes_to_security_log(ev);

    for (size_t i = 0; i < ev->n_params && i < SECLOG_PARAMS_MAX; i++) {
        params[i].key = ev->params[i].key;
        params[i].value = security && is_personal(ev->params[i].key) ? "(personal data removed)"
                                                                     : ev->params[i].value;
        e.n_params++;
    }
    if (security) {
        if (d->seclog)
            (void)seclog_append(d->seclog, &e);
    } else if (d->syslog && (int)ev->severity + 1 >= (int)log_level_get()) {
        /* log levels are Debug, Info, ...: severity Info (0) is level Info (1). */
        (void)seclog_append(d->syslog, &e);
    }
}

static void on_event(const struct evt_event *ev, void *arg)
{
    append_event(arg, ev);
}

static void replay_event(const struct evt_event *ev, void *arg)
{
    append_event(arg, ev);
}

static void replay_security(const struct evt_event *ev, void *arg)
{
    struct daemon *d = arg;

    if (goes_to_security_log(ev) && d->seclog)
        append_event(d, ev);
}

/* Operator messages, from any thread (base's log sink). The engine's own messages stay out of
 * the engine, so that a log that cannot write does not feed itself. */
static void on_log_line(enum log_level level, const char *message, void *arg)
{
    struct daemon *d = arg;
    const char *colon = strchr(message, ':');
    char topic[64] = "SYSLOG";
    struct seclog_param param = {"Message", message};
    struct seclog_entry e = {
        .type = SECLOG_TYPE_OPERATION, .topic = topic, .params = &param, .n_params = 1};

    if (level == LOG_LEVEL_DEBUG || !d->syslog || strncmp(message, "seclog", 6) == 0)
        return;
    if (colon && colon > message && (size_t)(colon - message) < 32 &&
        !memchr(message, ' ', (size_t)(colon - message)))
        (void)snprintf(topic, sizeof(topic), "SYSLOG/%.*s", (int)(colon - message), message);
    e.severity = level >= LOG_LEVEL_FATAL     ? SECLOG_SEVERITY_FATAL
                 : level == LOG_LEVEL_ERROR   ? SECLOG_SEVERITY_ERROR
                 : level == LOG_LEVEL_WARNING ? SECLOG_SEVERITY_WARNING
                                              : SECLOG_SEVERITY_INFO;
    (void)seclog_append(d->syslog, &e);
}

static void on_status(struct seclog *log, const struct seclog_status *st, void *arg)
{
    struct daemon *d = arg;
    bool security = log == d->seclog;
    uint64_t *seen = security ? &d->seclog_overflows_seen : &d->syslog_overflows_seen;

    if (security) {
        if (!st->writable)
            (void)ec_raise(d->ecs, EC_SECURITY_LOG_NOT_WRITABLE, NULL, NULL, 0);
        else
            (void)ec_clear(d->ecs, EC_SECURITY_LOG_NOT_WRITABLE, NULL);
    }
    if (st->overflow_events > *seen) {
        struct evt_param p = {"Protokoll", security ? "Sicherheitsprotokoll" : "Systemprotokoll"};

        *seen = st->overflow_events;
        (void)ec_raise(d->ecs, EC_LOG_OVERFLOW, NULL, &p, 1);
    }
}

static int64_t days_setting_ms(struct daemon *d, const char *name)
{
    int64_t days = 180;

    (void)store_setting_get_int(d->store, name, &days);
    return days * MS_PER_DAY;
}

static int open_one(struct daemon *d, const char *sub, const char *name, const char *cap_setting,
                    const char *days_setting, const char *key_file, struct seclog **ret)
{
    char *dir = fs_path_join(d->opts.data_dir, sub);
    char *key_path = key_file ? fs_path_join(d->opts.data_dir, key_file) : NULL;
    int64_t cap_mb = 256;
    struct seclog_config cfg = {0};
    int r;

    if (!dir || (key_file && !key_path)) {
        r = -ENOMEM;
        goto out;
    }
    (void)store_setting_get_int(d->store, cap_setting, &cap_mb);
    cfg.dir = dir;
    cfg.name = name;
    cfg.capacity_bytes = (uint64_t)cap_mb * MB;
    cfg.retention_ms = days_setting_ms(d, days_setting);
    cfg.verification_key_path = key_path;
    cfg.base = d->base;
    cfg.on_status = on_status;
    cfg.arg = d;
    r = seclog_open(&cfg, ret);
    if (r < 0)
        log_errno(LOG_LEVEL_ERROR, r, "logs: the %s log in '%s' cannot be opened", name, dir);
out:
    free(key_path);
    free(dir);
    return r;
}

static void on_retention_timer(void *arg)
{
    struct daemon *d = arg;

    if (d->seclog)
        seclog_retention_run(d->seclog);
    if (d->syslog)
        seclog_retention_run(d->syslog);
    clock_timer_start(d->retention_timer, RETENTION_PERIOD_MS);
}

static void on_setting_changed(const char *name, const char *value, void *arg)
{
    struct daemon *d = arg;

    if (strcmp(name, "SECURITY_LOG_DAYS") == 0 && d->seclog) {
        seclog_set_retention(d->seclog, days_setting_ms(d, name));
        seclog_retention_run(d->seclog);
    } else if (strcmp(name, "LOG_DAYS") == 0 && d->syslog) {
        seclog_set_retention(d->syslog, days_setting_ms(d, name));
        seclog_retention_run(d->syslog);
    }
}

static int open_logs(struct daemon *d)
{
    int r = 0;

    if (!d->syslog)
        (void)open_one(d, "syslog", "system", "SYSLOG_CAPACITY_MB", "LOG_DAYS", NULL, &d->syslog);
    if (!d->seclog)
        r = open_one(d, "seclog", "security", "SECLOG_CAPACITY_MB", "SECURITY_LOG_DAYS",
                     "seclog-verification-key", &d->seclog);
    if (d->seclog) {
        d->reopen_ms = 0;
        (void)ec_clear(d->ecs, EC_SECURITY_LOG_NOT_WRITABLE, NULL);
        /* What happened while it was closed is still in the bus history (invariant 4). */
        if (d->logs_missed_since)
            (void)evt_bus_history(d->bus, d->logs_missed_since - 1, replay_security, d);
        d->logs_missed_since = 0;
    } else if (!d->logs_missed_since) {
        d->logs_missed_since = evt_bus_last_seq(d->bus) + 1;
    }
    return r;
}

static void on_reopen_timer(void *arg)
{
    struct daemon *d = arg;

    if (open_logs(d) < 0) {
        d->reopen_ms = d->reopen_ms * 2 > REOPEN_MAX_MS ? REOPEN_MAX_MS : d->reopen_ms * 2;
        clock_timer_start(d->reopen_timer, d->reopen_ms);
    }
}

int logs_start(struct daemon *d)
{
    int r;

    d->retention_timer = clock_timer_new(on_retention_timer, d);
    d->reopen_timer = clock_timer_new(on_reopen_timer, d);
    if (!d->retention_timer || !d->reopen_timer)
        return -ENOMEM;
    r = evt_bus_subscribe(d->bus, "", on_event, d, NULL);
    if (r == 0)
        r = store_setting_on_change(d->store, on_setting_changed, d);
    if (r < 0)
        return r;
    /* Bootup so far is in the bus history; the logs get it now (invariant 4). */
    r = open_logs(d);
    d->logs_missed_since = 0;
    (void)evt_bus_history(d->bus, 0, replay_event, d);
    if (!d->seclog)
        d->logs_missed_since = 1;
    log_sink_set(on_log_line, d);
    clock_timer_start(d->retention_timer, RETENTION_PERIOD_MS);
    if (r < 0) {
        d->reopen_ms = REOPEN_FIRST_MS;
        clock_timer_start(d->reopen_timer, d->reopen_ms);
    }
    return r;
}

void logs_stop(struct daemon *d)
{
    log_sink_set(NULL, NULL);
    d->retention_timer = clock_timer_free(d->retention_timer);
    d->reopen_timer = clock_timer_free(d->reopen_timer);
    d->seclog = seclog_close(d->seclog);
    d->syslog = seclog_close(d->syslog);
}
