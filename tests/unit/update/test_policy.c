/* Unit tests for policy.c: the automatic update's time-of-day slots (A_18390), no catch-up of
 * missed slots (A_18391), the deadline of a critical update (TIP1-A_6025), the pause switch. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../test_tmp.h"
#include "update/update.h"

#define MIN_MS (60LL * 1000)
#define DAY_MS (24LL * 3600 * 1000)
/* 2026-11-29T00:00:00Z */
#define MIDNIGHT 1795910400000LL

static void time_of_day_parses_hh_mm_only(void **state)
{
    int m = -1;

    assert_int_equal(upd_policy_time_parse("03:00", &m), 0);
    assert_int_equal(m, 180);
    assert_int_equal(upd_policy_time_parse("23:59", &m), 0);
    assert_int_equal(m, 23 * 60 + 59);
    assert_int_equal(upd_policy_time_parse("24:00", &m), -EINVAL);
    assert_int_equal(upd_policy_time_parse("3:00", &m), -EINVAL);
    assert_int_equal(upd_policy_time_parse("03-00", &m), -EINVAL);
    assert_int_equal(upd_policy_time_parse(NULL, &m), -EINVAL);
}

static void next_slot_is_today_or_tomorrow_never_now(void **state)
{
    /* 02:00: today's 03:00. */
    assert_int_equal(upd_policy_next_slot(MIDNIGHT + 120 * MIN_MS, 180), MIDNIGHT + 180 * MIN_MS);
    /* Exactly 03:00 (the slot firing): tomorrow's. */
    assert_int_equal(upd_policy_next_slot(MIDNIGHT + 180 * MIN_MS, 180),
                     MIDNIGHT + DAY_MS + 180 * MIN_MS);
    /* 04:00: tomorrow's. */
    assert_int_equal(upd_policy_next_slot(MIDNIGHT + 240 * MIN_MS, 180),
                     MIDNIGHT + DAY_MS + 180 * MIN_MS);
    /* Midnight slot at 23:59:59.999. */
    assert_int_equal(upd_policy_next_slot(MIDNIGHT + DAY_MS - 1, 0), MIDNIGHT + DAY_MS);
}

static void a_slot_fired_late_was_missed(void **state)
{
    int64_t slot = MIDNIGHT + 180 * MIN_MS;

    assert_true(upd_policy_slot_is_due(slot, slot));
    assert_true(upd_policy_slot_is_due(slot, slot + UPD_POLICY_SLOT_GRACE_MS));
    /* The clock jumped past the slot (A_18391): not caught up. */
    assert_false(upd_policy_slot_is_due(slot, slot + UPD_POLICY_SLOT_GRACE_MS + 1));
    assert_false(upd_policy_slot_is_due(slot, slot + 3 * 3600 * 1000LL));
    /* A timer may fire a little early (monotonic and wall clock round apart). */
    assert_true(upd_policy_slot_is_due(slot, slot - 1));
    assert_false(upd_policy_slot_is_due(slot, slot - UPD_POLICY_SLOT_EARLY_MS - 1));
}

static void deadline_passes_at_its_midnight(void **state)
{
    assert_false(upd_policy_deadline_passed("2026-11-30", MIDNIGHT + DAY_MS - 1));
    assert_true(upd_policy_deadline_passed("2026-11-30", MIDNIGHT + DAY_MS));
    assert_true(upd_policy_deadline_passed("2026-11-29", MIDNIGHT));
    assert_false(upd_policy_deadline_passed("", MIDNIGHT));
    assert_false(upd_policy_deadline_passed("garbage", MIDNIGHT));
    assert_false(upd_policy_deadline_passed(NULL, MIDNIGHT));
}

static void pause_switch_is_persisted(void **state)
{
    char dir[] = "/tmp/konn-policy-XXXXXX";

    assert_non_null(mkdtemp(dir));

    assert_false(upd_paused_get(dir));
    assert_int_equal(upd_paused_set(dir, true), 0);
    assert_true(upd_paused_get(dir));
    assert_int_equal(upd_paused_set(dir, true), 0);
    assert_int_equal(upd_paused_set(dir, false), 0);
    assert_false(upd_paused_get(dir));
    assert_int_equal(upd_paused_set(dir, false), 0);
    test_tmp_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(time_of_day_parses_hh_mm_only),
        cmocka_unit_test(next_slot_is_today_or_tomorrow_never_now),
        cmocka_unit_test(a_slot_fired_late_was_missed),
        cmocka_unit_test(deadline_passes_at_its_midnight),
        cmocka_unit_test(pause_switch_is_persisted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
