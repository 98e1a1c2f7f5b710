/* state_internal: declarations shared by the files of src/state and their unit tests only.
 * Nothing outside src/state and tests/unit/state includes this header. */
#ifndef KONN_STATE_INTERNAL_H
#define KONN_STATE_INTERNAL_H

#include <stdint.h>

#include "state/state.h"

/* One pass of the LED watchdog at real monotonic time now_ms: derives the modes and, when
 * they differ from what the mirror file shows (or it was never written), rewrites the file.
 * Returns 1 if the file was written, 0 if nothing changed or there is no file, or a
 * negative errno from the write (the next pass tries again). Thread-safe; the watchdog
 * thread calls it every 100 ms, tests call it with chosen times. */
int led__panel_refresh(struct led_panel *p, int64_t now_ms);

#endif
