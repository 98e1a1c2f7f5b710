/* leds: the four front LEDs (DESIGN.md section 6) and the watchdog that keeps them honest.
 *
 * led_derive() is the rule, pure. The panel holds the live inputs (set on the loop thread),
 * a loop timer that ticks every stall_ms / 8 as the main loop's heartbeat, and a watchdog
 * thread that wakes every 100 ms, derives the modes against the real monotonic clock and
 * mirrors them into a JSON file when they change. The watchdog never touches loop state:
 * only the inputs under the mutex and the atomic last tick.
 *
 * Invariants:
 *  1. Power is on whenever the process runs; System is off only when the loop has not ticked
 *     for more than stall_ms of real time. A running loop never shows System off (the 2020
 *     units did).
 *  2. The liveness check uses clock_real_mono_ms(): advancing the virtual clock never makes
 *     the loop look dead, and a hung loop is seen even while virtual time stands still.
 *  3. The inputs are read and written only under p->lock, which is never held across I/O;
 *     the loop thread never waits for the disk.
 *  4. The mirror file is written only by led__panel_refresh() under p->write_lock, always
 *     atomically (fs_write_atomic), and only when the modes or liveness differ from what
 *     it last wrote successfully.
 *  5. led_panel_stop() wakes the watchdog at once (condition variable on CLOCK_MONOTONIC)
 *     and joins it; after it returns no thread of the panel runs. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "state/state.h"
#include "state/state_internal.h"

#include <event2/event.h>

/* How often the watchdog re-derives the modes, in ms: well under a person's reaction to a
 * blinking LED, and cheap (one mutex, no I/O unless something changed). */
#define WATCHDOG_PERIOD_MS 100
/* The loop ticks eight times per stall period, so one late tick never looks like a stall. */
#define TICKS_PER_STALL 8
/* Below this a tick would be due every 0 ms. */
#define STALL_MIN_MS TICKS_PER_STALL
#define MIRROR_MAX 256

struct led_panel {
    char *file; /* NULL: no mirror */
    int64_t stall_ms;
    struct event *tick_event;     /* persistent, real time: the heartbeat of the real loop */
    _Atomic int64_t last_tick_ms; /* clock_real_mono_ms() of the last tick */

    pthread_mutex_t lock; /* guards in, stop, kick */
    pthread_cond_t wake;  /* CLOCK_MONOTONIC */
    struct led_inputs in; /* loop_alive unused: derived from last_tick_ms */
    bool stop;
    bool kick; /* an input changed: refresh before the period ends */
    pthread_t thread;
    bool thread_running; /* loop thread only */

    pthread_mutex_t write_lock; /* guards the mirror state below */
    bool mirrored;
    enum led_mode mirror_modes[LED_MAX];
    bool mirror_alive;
    int mirror_error; /* last write error, to log a failure once, not every 100 ms */
};

static const char *const led_id_names[] = {
    [LED_POWER] = "power",
    [LED_SYSTEM] = "system",
    [LED_VPN] = "vpn",
    [LED_SERVICE] = "service",
};
static const char *const led_mode_names[] = {
    [LED_MODE_OFF] = "off",
    [LED_MODE_ON] = "on",
    [LED_MODE_BLINK] = "blink",
};
static const char *const vpn_state_names[] = {
    [VPN_STATE_DOWN] = "down",
    [VPN_STATE_CONNECTING] = "connecting",
    [VPN_STATE_UP] = "up",
};

_Static_assert(ARRAY_SIZE(led_id_names) == LED_MAX, "one name per LED");
_Static_assert(ARRAY_SIZE(led_mode_names) == LED_MODE_MAX, "one name per LED mode");
_Static_assert(ARRAY_SIZE(vpn_state_names) == VPN_STATE_MAX, "one name per VPN state");

const char *led_id_to_string(enum led_id id)
{
    return (unsigned)id < LED_MAX ? led_id_names[id] : NULL;
}

const char *led_mode_to_string(enum led_mode mode)
{
    return (unsigned)mode < LED_MODE_MAX ? led_mode_names[mode] : NULL;
}

const char *vpn_state_to_string(enum vpn_state state)
{
    return (unsigned)state < VPN_STATE_MAX ? vpn_state_names[state] : NULL;
}

int vpn_state_from_string(const char *s, enum vpn_state *ret_state)
{
    if (!s || !ret_state)
        return -EINVAL;
    for (size_t i = 0; i < ARRAY_SIZE(vpn_state_names); i++) {
        if (strcmp(vpn_state_names[i], s) == 0) {
            *ret_state = (enum vpn_state)i;
            return 0;
        }
    }
    return -EINVAL;
}

void led_derive(const struct led_inputs *in, enum led_mode ret_modes[LED_MAX])
{
    /* Power: this code runs, so the process is alive. */
    ret_modes[LED_POWER] = LED_MODE_ON;

    if (!in->loop_alive)
        ret_modes[LED_SYSTEM] = LED_MODE_OFF;
    else if (!in->booted || in->fatal)
        ret_modes[LED_SYSTEM] = LED_MODE_BLINK;
    else
        ret_modes[LED_SYSTEM] = LED_MODE_ON;

    switch (in->vpn) {
    case VPN_STATE_UP:
        ret_modes[LED_VPN] = LED_MODE_ON;
        break;
    case VPN_STATE_CONNECTING:
        ret_modes[LED_VPN] = LED_MODE_BLINK;
        break;
    default:
        ret_modes[LED_VPN] = LED_MODE_OFF;
        break;
    }

    ret_modes[LED_SERVICE] = in->admin_pending ? LED_MODE_ON : LED_MODE_OFF;
}

bool led_panel_loop_alive_at(struct led_panel *p, int64_t now_ms)
{
    int64_t last = atomic_load(&p->last_tick_ms);

    /* A tick newer than now (the caller read its clock first) is alive too. */
    return now_ms - last <= p->stall_ms;
}

void led_panel_tick(struct led_panel *p)
{
    atomic_store(&p->last_tick_ms, clock_real_mono_ms());
}

/* Derives the modes at now_ms; returns liveness. Takes p->lock. */
static bool derive_at(struct led_panel *p, int64_t now_ms, enum led_mode ret_modes[LED_MAX])
{
    struct led_inputs in;

    pthread_mutex_lock(&p->lock);
    in = p->in;
    pthread_mutex_unlock(&p->lock);
    in.loop_alive = led_panel_loop_alive_at(p, now_ms);
    led_derive(&in, ret_modes);
    return in.loop_alive;
}

void led_panel_get(struct led_panel *p, enum led_mode ret_modes[LED_MAX])
{
    (void)derive_at(p, clock_real_mono_ms(), ret_modes);
}

static int mirror_format(const enum led_mode modes[LED_MAX], bool alive, char *buf, size_t size,
                         size_t *ret_len)
{
    char updated[40];
    int n;

    (void)clock_format_iso(clock_now_ms(), updated, sizeof(updated));
    n = snprintf(buf, size,
                 "{\"power\":\"%s\",\"system\":\"%s\",\"vpn\":\"%s\",\"service\":\"%s\","
                 "\"loop_alive\":%s,\"updated\":\"%s\"}\n",
                 led_mode_to_string(modes[LED_POWER]), led_mode_to_string(modes[LED_SYSTEM]),
                 led_mode_to_string(modes[LED_VPN]), led_mode_to_string(modes[LED_SERVICE]),
                 alive ? "true" : "false", updated);
    if (n < 0 || (size_t)n >= size)
        return -ENOBUFS;
    *ret_len = (size_t)n;
    return 0;
}

int led__panel_refresh(struct led_panel *p, int64_t now_ms)
{
    enum led_mode modes[LED_MAX];
    char buf[MIRROR_MAX];
    size_t len = 0;
    bool alive;
    int r = 0;

    alive = derive_at(p, now_ms, modes);

    pthread_mutex_lock(&p->write_lock);
    if (!p->file)
        goto out;
    if (p->mirrored && p->mirror_alive == alive &&
        memcmp(p->mirror_modes, modes, sizeof(modes)) == 0)
        goto out;
    r = mirror_format(modes, alive, buf, sizeof(buf), &len);
    if (r == 0)
        r = fs_write_atomic(p->file, buf, len, 0644);
    if (r < 0) {
        /* The watchdog decides here: log the first failure of a kind, retry next pass. */
        if (r != p->mirror_error)
            log_errno(LOG_LEVEL_WARNING, r, "state: cannot write LED mirror '%s', retrying",
                      p->file);
        p->mirror_error = r;
        goto out;
    }
    if (p->mirror_error != 0)
        log_msg(LOG_LEVEL_INFO, "state: LED mirror '%s' written again", p->file);
    p->mirror_error = 0;
    p->mirrored = true;
    p->mirror_alive = alive;
    memcpy(p->mirror_modes, modes, sizeof(modes));
    r = 1;
out:
    pthread_mutex_unlock(&p->write_lock);
    return r;
}

static void *watchdog_main(void *arg)
{
    struct led_panel *p = arg;

    for (;;) {
        struct timespec until;
        int64_t deadline;
        bool stop;

        (void)led__panel_refresh(p, clock_real_mono_ms());

        /* clock_real_mono_ms() reads CLOCK_MONOTONIC, the clock of p->wake. */
        deadline = clock_real_mono_ms() + WATCHDOG_PERIOD_MS;
        until.tv_sec = (time_t)(deadline / 1000);
        until.tv_nsec = (long)(deadline % 1000) * 1000000L;

        pthread_mutex_lock(&p->lock);
        while (!p->stop && !p->kick) {
            if (pthread_cond_timedwait(&p->wake, &p->lock, &until) == ETIMEDOUT)
                break;
        }
        p->kick = false;
        stop = p->stop;
        pthread_mutex_unlock(&p->lock);
        if (stop)
            break;
    }
    return NULL;
}

/* On real time, not the clock's timers: the watchdog measures the process, and a jump of the
 * virtual clock must not fire millions of heartbeats. */
static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    led_panel_tick(arg);
}

/* Each setter changes its input under the lock and kicks the watchdog, so the mirror
 * follows within one wake-up instead of one period. */
void led_panel_set_booted(struct led_panel *p, bool booted)
{
    pthread_mutex_lock(&p->lock);
    p->in.booted = booted;
    p->kick = true;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
}

void led_panel_set_vpn(struct led_panel *p, enum vpn_state vpn)
{
    pthread_mutex_lock(&p->lock);
    p->in.vpn = vpn;
    p->kick = true;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
}

enum vpn_state led_panel_get_vpn(struct led_panel *p)
{
    enum vpn_state vpn;

    pthread_mutex_lock(&p->lock);
    vpn = p->in.vpn;
    pthread_mutex_unlock(&p->lock);
    return vpn;
}

void led_panel_update_from(struct led_panel *p, const struct ec_state *st)
{
    bool fatal = ec_has_fatal(st);
    bool admin = ec_has_admin_pending(st);

    pthread_mutex_lock(&p->lock);
    p->in.fatal = fatal;
    p->in.admin_pending = admin;
    p->kick = true;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
}

struct led_panel *led_panel_new(const char *file, int64_t stall_ms)
{
    struct led_panel *p = NULL;
    pthread_condattr_t attr;
    bool attr_ok = false, lock_ok = false, wake_ok = false, write_ok = false;

    if (stall_ms < STALL_MIN_MS)
        return NULL;
    p = calloc(1, sizeof(*p));
    if (!p)
        goto fail;
    p->stall_ms = stall_ms;
    p->in.vpn = VPN_STATE_DOWN;
    atomic_init(&p->last_tick_ms, clock_real_mono_ms());
    if (file) {
        p->file = strdup(file);
        if (!p->file)
            goto fail;
    }
    if (pthread_condattr_init(&attr) != 0)
        goto fail;
    attr_ok = true;
    if (pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0)
        goto fail;
    if (pthread_cond_init(&p->wake, &attr) != 0)
        goto fail;
    wake_ok = true;
    if (pthread_mutex_init(&p->lock, NULL) != 0)
        goto fail;
    lock_ok = true;
    if (pthread_mutex_init(&p->write_lock, NULL) != 0)
        goto fail;
    write_ok = true;
    (void)pthread_condattr_destroy(&attr);
    return p;

fail:
    if (attr_ok)
        (void)pthread_condattr_destroy(&attr);
    if (p) {
        if (write_ok)
            pthread_mutex_destroy(&p->write_lock);
        if (lock_ok)
            pthread_mutex_destroy(&p->lock);
        if (wake_ok)
            pthread_cond_destroy(&p->wake);
        free(p->file);
        free(p);
    }
    return NULL;
}

/* Creates the directory of the mirror file (DATA/run/). */
static int mirror_dir_create(const char *file)
{
    const char *slash = strrchr(file, '/');
    char *dir = NULL;
    int r;

    if (!slash || slash == file)
        return 0;
    dir = strndup(file, (size_t)(slash - file));
    if (!dir)
        return -ENOMEM;
    r = fs_mkdir_p(dir, 0755);
    free(dir);
    return r;
}

int led_panel_start(struct led_panel *p, struct event_base *base)
{
    int r;

    if (!p)
        return -EINVAL;
    if (p->thread_running)
        return -EALREADY;
    if (p->file) {
        r = mirror_dir_create(p->file);
        if (r < 0)
            return r;
    }
    if (base && !p->tick_event) {
        p->tick_event = event_new(base, -1, EV_PERSIST, tick_cb, p);
        if (!p->tick_event)
            return -ENOMEM;
    }
    pthread_mutex_lock(&p->lock);
    p->stop = false;
    p->kick = false;
    pthread_mutex_unlock(&p->lock);

    led_panel_tick(p);
    r = -pthread_create(&p->thread, NULL, watchdog_main, p);
    if (r < 0)
        return r;
    p->thread_running = true;
    if (p->tick_event) {
        int64_t period = p->stall_ms / TICKS_PER_STALL;
        struct timeval tv = {(time_t)(period / 1000), (suseconds_t)((period % 1000) * 1000)};

        (void)event_add(p->tick_event, &tv);
    }
    return 0;
}

void led_panel_stop(struct led_panel *p)
{
    if (!p)
        return;
    if (p->tick_event)
        (void)event_del(p->tick_event);
    if (!p->thread_running)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
    (void)pthread_join(p->thread, NULL);
    p->thread_running = false;
}

struct led_panel *led_panel_free(struct led_panel *p)
{
    if (!p)
        return NULL;
    led_panel_stop(p);
    if (p->tick_event)
        event_free(p->tick_event);
    pthread_mutex_destroy(&p->write_lock);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    free(p->file);
    free(p);
    return NULL;
}
