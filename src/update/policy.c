/* policy: when the KSR client acts, as pure functions of the connector's clock: the time of
 * day of automatic updates (A_18390), the rule that a missed slot is not caught up (A_18391),
 * the deadline of a critical update (TIP1-A_6025), and the persisted pause switch.
 *
 * Time of day is UTC: the connector's clock has no time zone setting, and UTC gives every
 * day 24 hours (no slot is skipped or doubled by a daylight-saving change).
 *
 * Invariants:
 *  1. upd_policy_next_slot() is strictly after now: a slot that fires schedules the next
 *     day's, never itself again.
 *  2. A slot counts as due only from UPD_POLICY_SLOT_EARLY_MS before (timers run on the
 *     monotonic clock, which may round a millisecond away from the wall clock) to
 *     UPD_POLICY_SLOT_GRACE_MS after its time. A timer that
 *     fires later (the wall clock jumped past the slot, or the loop was stalled) runs nothing
 *     and the next day's slot is scheduled: missed slots are not caught up (A_18391). A
 *     daemon that was off during its slot computes the next slot from now, so it too skips.
 *  3. The pause switch is the file DATA/fw/paused: present means paused. It is created and
 *     removed through base's I/O seam with a directory fsync, so it survives a crash. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "update/update.h"

#define DAY_MS (24LL * 3600 * 1000)
#define PAUSED_NAME "paused"

int upd_policy_time_parse(const char *hhmm, int *ret_minute)
{
    if (!hhmm || strlen(hhmm) != 5 || hhmm[2] != ':')
        return -EINVAL;
    for (int i = 0; i < 5; i++)
        if (i != 2 && (hhmm[i] < '0' || hhmm[i] > '9'))
            return -EINVAL;
    int h = (hhmm[0] - '0') * 10 + (hhmm[1] - '0');
    int m = (hhmm[3] - '0') * 10 + (hhmm[4] - '0');

    if (h > 23 || m > 59)
        return -EINVAL;
    *ret_minute = h * 60 + m;
    return 0;
}

int64_t upd_policy_next_slot(int64_t now_ms, int minute_of_day)
{
    int64_t day = now_ms >= 0 ? now_ms / DAY_MS : (now_ms - DAY_MS + 1) / DAY_MS;
    int64_t slot = day * DAY_MS + (int64_t)minute_of_day * 60 * 1000;

    while (slot <= now_ms)
        slot += DAY_MS;
    return slot;
}

bool upd_policy_slot_is_due(int64_t slot_ms, int64_t now_ms)
{
    return now_ms >= slot_ms - UPD_POLICY_SLOT_EARLY_MS &&
           now_ms - slot_ms <= UPD_POLICY_SLOT_GRACE_MS;
}

bool upd_policy_deadline_passed(const char *deadline, int64_t now_ms)
{
    struct tm tm = {0};
    time_t t;
    char *end;

    if (!deadline || !deadline[0])
        return false;
    end = strptime(deadline, "%Y-%m-%d", &tm);
    if (!end || *end)
        return false;
    t = timegm(&tm);
    return (int64_t)t * 1000 <= now_ms;
}

static char *paused_path(const char *data_dir)
{
    char *fw = fs_path_join(data_dir, "fw");
    char *p = fw ? fs_path_join(fw, PAUSED_NAME) : NULL;

    free(fw);
    return p;
}

bool upd_paused_get(const char *data_dir)
{
    char *p = paused_path(data_dir);
    bool paused = p && fs_exists(p);

    free(p);
    return paused;
}

int upd_paused_set(const char *data_dir, bool paused)
{
    char *fw = fs_path_join(data_dir, "fw");
    char *p = paused_path(data_dir);
    int r;

    if (!fw || !p) {
        r = -ENOMEM;
        goto out;
    }
    r = fs_mkdir_p(fw, 0755);
    if (r < 0)
        goto out;
    if (paused) {
        r = fs_write_atomic(p, "paused\n", 7, 0644);
    } else {
        r = io_unlink(p);
        if (r == -ENOENT)
            r = 0;
        if (r == 0)
            r = io_fsync_dir(fw);
    }
out:
    free(fw);
    free(p);
    return r;
}
