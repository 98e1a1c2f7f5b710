/* Unit tests for the LEDs: the derivation rules over every input combination, the string
 * tables, the watchdog's liveness check at chosen times and the mirror file. Tests never
 * sleep: liveness is asked at chosen real times, virtual time drives the tick timer. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "base/base.h"
#include "state/state.h"
#include "state/state_internal.h"

#define STALL_MS 2000

struct fixture {
    struct event_base *base;
    char dir[64];
    char *file;
};

static int group_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    clock_init(CLOCK_MODE_VIRTUAL);
    f->base = event_base_new();
    assert_non_null(f->base);
    assert_int_equal(clock_attach(f->base), 0);
    (void)str_copy(f->dir, sizeof(f->dir), "/tmp/test_state_leds.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->file = fs_path_join(f->dir, "run/leds.json");
    assert_non_null(f->file);
    *state = f;
    return 0;
}

static int group_teardown(void **state)
{
    struct fixture *f = *state;
    char *run = fs_path_join(f->dir, "run");

    (void)unlink(f->file);
    (void)rmdir(run);
    (void)rmdir(f->dir);
    free(run);
    free(f->file);
    clock_detach();
    event_base_free(f->base);
    free(f);
    return 0;
}

static void led_derive_follows_the_rules_for_all_inputs(void **state)
{
    int combos = 0;

    for (int booted = 0; booted < 2; booted++)
        for (int fatal = 0; fatal < 2; fatal++)
            for (int alive = 0; alive < 2; alive++)
                for (int vpn = 0; vpn < VPN_STATE_MAX; vpn++)
                    for (int admin = 0; admin < 2; admin++) {
                        struct led_inputs in = {
                            .booted = booted,
                            .fatal = fatal,
                            .loop_alive = alive,
                            .vpn = (enum vpn_state)vpn,
                            .admin_pending = admin,
                        };
                        enum led_mode m[LED_MAX];
                        enum led_mode system, vpn_led;

                        /* DESIGN.md section 6, restated. */
                        if (!alive)
                            system = LED_MODE_OFF;
                        else if (booted && !fatal)
                            system = LED_MODE_ON;
                        else
                            system = LED_MODE_BLINK;
                        vpn_led = vpn == VPN_STATE_UP           ? LED_MODE_ON
                                  : vpn == VPN_STATE_CONNECTING ? LED_MODE_BLINK
                                                                : LED_MODE_OFF;

                        led_derive(&in, m);
                        assert_int_equal(m[LED_POWER], LED_MODE_ON);
                        assert_int_equal(m[LED_SYSTEM], system);
                        assert_int_equal(m[LED_VPN], vpn_led);
                        assert_int_equal(m[LED_SERVICE], admin ? LED_MODE_ON : LED_MODE_OFF);
                        /* Never off while the loop runs (the 2020 units were). */
                        if (alive)
                            assert_int_not_equal(m[LED_SYSTEM], LED_MODE_OFF);
                        combos++;
                    }
    assert_int_equal(combos, 48);
}

static void string_tables_round_trip(void **state)
{
    static const char *const leds[] = {"power", "system", "vpn", "service"};
    static const char *const modes[] = {"off", "on", "blink"};
    static const char *const vpns[] = {"down", "connecting", "up"};

    for (int i = 0; i < LED_MAX; i++)
        assert_string_equal(led_id_to_string(i), leds[i]);
    for (int i = 0; i < LED_MODE_MAX; i++)
        assert_string_equal(led_mode_to_string(i), modes[i]);
    for (int i = 0; i < VPN_STATE_MAX; i++) {
        enum vpn_state v = VPN_STATE_MAX;

        assert_string_equal(vpn_state_to_string(i), vpns[i]);
        assert_int_equal(vpn_state_from_string(vpns[i], &v), 0);
        assert_int_equal(v, i);
    }
    assert_null(led_id_to_string(LED_MAX));
    assert_null(led_mode_to_string(LED_MODE_MAX));
    assert_null(vpn_state_to_string(VPN_STATE_MAX));
    {
        enum vpn_state v = VPN_STATE_UP;

        assert_int_equal(vpn_state_from_string("sideways", &v), -EINVAL);
        assert_int_equal(vpn_state_from_string(NULL, &v), -EINVAL);
        assert_int_equal(v, VPN_STATE_UP);
    }
}

static void panel_new_rejects_tiny_stall(void **state)
{
    assert_null(led_panel_new(NULL, 0));
    assert_null(led_panel_new(NULL, 7));
}

static void loop_alive_at_chosen_times(void **state)
{
    struct led_panel *p = led_panel_new(NULL, STALL_MS);
    enum led_mode m[LED_MAX];
    int64_t before, after;

    assert_non_null(p);
    before = clock_real_mono_ms();
    led_panel_tick(p);
    after = clock_real_mono_ms();

    assert_true(led_panel_loop_alive_at(p, before));
    assert_true(led_panel_loop_alive_at(p, before + STALL_MS));
    assert_false(led_panel_loop_alive_at(p, after + STALL_MS + 1));
    assert_false(led_panel_loop_alive_at(p, after + 10 * STALL_MS));

    /* Virtual time does not count: ten virtual days later the loop is still alive. */
    assert_int_equal(clock_advance(10LL * 86400 * 1000), 0);
    led_panel_get(p, m);
    assert_int_equal(m[LED_SYSTEM], LED_MODE_BLINK); /* alive, not booted */
    assert_int_equal(m[LED_POWER], LED_MODE_ON);
    led_panel_free(p);
}

static void panel_follows_its_inputs(void **state)
{
    struct led_panel *p = led_panel_new(NULL, STALL_MS);
    struct ec_state *st = ec_state_new(NULL);
    enum led_mode m[LED_MAX];

    led_panel_get(p, m);
    assert_int_equal(m[LED_SYSTEM], LED_MODE_BLINK);
    assert_int_equal(m[LED_VPN], LED_MODE_OFF);
    assert_int_equal(m[LED_SERVICE], LED_MODE_OFF);
    assert_int_equal(led_panel_get_vpn(p), VPN_STATE_DOWN);

    led_panel_set_booted(p, true);
    led_panel_set_vpn(p, VPN_STATE_CONNECTING);
    led_panel_get(p, m);
    assert_int_equal(m[LED_SYSTEM], LED_MODE_ON);
    assert_int_equal(m[LED_VPN], LED_MODE_BLINK);
    assert_int_equal(led_panel_get_vpn(p), VPN_STATE_CONNECTING);

    assert_int_equal(ec_raise(st, EC_LOG_OVERFLOW, NULL, NULL, 0), 1);
    assert_int_equal(ec_raise(st, EC_SECURITY_LOG_NOT_WRITABLE, NULL, NULL, 0), 1);
    led_panel_update_from(p, st);
    led_panel_get(p, m);
    assert_int_equal(m[LED_SYSTEM], LED_MODE_BLINK);
    assert_int_equal(m[LED_SERVICE], LED_MODE_ON);

    assert_int_equal(ec_clear(st, EC_SECURITY_LOG_NOT_WRITABLE, NULL), 1);
    led_panel_update_from(p, st);
    led_panel_get(p, m);
    assert_int_equal(m[LED_SYSTEM], LED_MODE_ON);
    assert_int_equal(m[LED_SERVICE], LED_MODE_ON);

    ec_state_free(st);
    led_panel_free(p);
}

static char *read_mirror(const char *file)
{
    char *data = NULL;
    size_t len = 0;

    assert_int_equal(fs_read_all(file, 4096, &data, &len), 0);
    return data;
}

static void mirror_is_written_on_change_only(void **state)
{
    struct fixture *f = *state;
    struct led_panel *p = led_panel_new(f->file, STALL_MS);
    char *data;
    int64_t now;
    char *run = fs_path_join(f->dir, "run");

    assert_int_equal(fs_mkdir_p(run, 0755), 0);
    free(run);
    (void)unlink(f->file);
    led_panel_tick(p);
    now = clock_real_mono_ms();

    assert_int_equal(led__panel_refresh(p, now), 1);
    data = read_mirror(f->file);
    assert_non_null(strstr(data, "{\"power\":\"on\",\"system\":\"blink\",\"vpn\":\"off\","
                                 "\"service\":\"off\",\"loop_alive\":true,\"updated\":\""));
    assert_non_null(strstr(data, "Z\"}"));
    free(data);

    /* Unchanged: not rewritten. */
    assert_int_equal(led__panel_refresh(p, now), 0);

    led_panel_set_booted(p, true);
    led_panel_set_vpn(p, VPN_STATE_UP);
    assert_int_equal(led__panel_refresh(p, now), 1);
    data = read_mirror(f->file);
    assert_non_null(strstr(data, "\"system\":\"on\",\"vpn\":\"on\",\"service\":\"off\","
                                 "\"loop_alive\":true"));
    free(data);

    /* The loop stops ticking: at a time past the stall limit System goes off. */
    assert_int_equal(led__panel_refresh(p, now + 10 * STALL_MS), 1);
    data = read_mirror(f->file);
    assert_non_null(strstr(data, "\"power\":\"on\",\"system\":\"off\""));
    assert_non_null(strstr(data, "\"loop_alive\":false"));
    free(data);
    assert_int_equal(led__panel_refresh(p, now + 11 * STALL_MS), 0);

    led_panel_free(p);
    (void)unlink(f->file);
}

static void refresh_without_file_writes_nothing(void **state)
{
    struct led_panel *p = led_panel_new(NULL, STALL_MS);

    assert_int_equal(led__panel_refresh(p, clock_real_mono_ms()), 0);
    led_panel_free(p);
}

static void watchdog_writes_the_mirror_and_stops_at_once(void **state)
{
    struct fixture *f = *state;
    struct led_panel *p = led_panel_new(f->file, STALL_MS);
    int64_t t0;
    char *data;

    (void)unlink(f->file);
    led_panel_set_booted(p, true);
    assert_int_equal(led_panel_start(p, NULL), 0);
    assert_int_equal(led_panel_start(p, NULL), -EALREADY);
    /* The watchdog's first pass writes before it first waits, so after stop the file is
     * there; stop wakes it instead of waiting out the 100 ms period. */
    t0 = clock_real_mono_ms();
    led_panel_stop(p);
    assert_true(clock_real_mono_ms() - t0 < 1000);
    data = read_mirror(f->file);
    assert_non_null(strstr(data, "\"system\":\"on\""));
    free(data);
    led_panel_stop(p); /* idempotent */
    led_panel_free(p);
}

static void heartbeat_ticks_on_the_real_loop_not_the_virtual_clock(void **state)
{
    struct event_base *base = event_base_new();
    struct led_panel *p = led_panel_new(NULL, STALL_MS);
    enum led_mode m[LED_MAX];
    int64_t start;

    assert_int_equal(led_panel_start(p, base), 0);
    led_panel_set_booted(p, true);
    start = clock_real_mono_ms();
    /* Ten virtual days pass without a heartbeat: the tick is not a clock timer. */
    assert_int_equal(clock_advance(10LL * 86400 * 1000), 0);
    /* The loop's first turn waits for the real tick (STALL_MS / 8) and beats once. */
    assert_int_equal(event_base_loop(base, EVLOOP_ONCE), 0);
    assert_true(clock_real_mono_ms() - start >= STALL_MS / 8 - 5);
    assert_true(led_panel_loop_alive_at(p, clock_real_mono_ms() + STALL_MS - 50));
    led_panel_get(p, m);
    assert_int_equal(m[LED_SYSTEM], LED_MODE_ON);
    led_panel_free(p);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(led_derive_follows_the_rules_for_all_inputs),
        cmocka_unit_test(string_tables_round_trip),
        cmocka_unit_test(panel_new_rejects_tiny_stall),
        cmocka_unit_test(loop_alive_at_chosen_times),
        cmocka_unit_test(panel_follows_its_inputs),
        cmocka_unit_test(mirror_is_written_on_change_only),
        cmocka_unit_test(refresh_without_file_writes_nothing),
        cmocka_unit_test(watchdog_writes_the_mirror_and_stops_at_once),
        cmocka_unit_test(heartbeat_ticks_on_the_real_loop_not_the_virtual_clock),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
