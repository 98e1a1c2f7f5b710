#!/usr/bin/python3
"""The factory-reset benchmark (bench/README.md, "Factory reset"): how long a factory reset
(TIP1-A_4820) takes on a connector whose security log is full, against the 2 s target and
against the same reset on a connector with an empty log, side by side in one run.

    bench/reset/run.py [--build DIR] [--capacity-mb N] [--rounds N]

Two konnektord processes (--core, temporary data directories, virtual clock):
  full   SECLOG_CAPACITY_MB=N (default 1024: 1 GiB), filled to the budget with distinct
         security events (POST /control/v1/fault/flood, distinct, 100,000 per second) until
         the log's used bytes reach the capacity less one segment, or it reports an overflow
  empty  the default budget, nothing but the bootup entries
Each round requests a confirmation token and confirms it (POST /api/v1/factory-reset twice);
the figure is the wall time of the confirming request as the client sees it, and the
daemon's own duration_ms. After a reset the next round logs in with the new initial password.

Output: "name: value unit" lines (medians over the rounds) on stdout, the ratio full/empty and
the ratio to the 2 s target, and "target_reset_2s: met|missed". Progress goes to stderr.
Exit status 0 when every reset answered 200, 1 otherwise, 2 on bad usage."""
import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import common  # noqa: E402
from common import figure, log, median  # noqa: E402

TARGET_S = 2.0
SEGMENT_BYTES = 4 * 1024 * 1024


class Daemon(common.Daemon):
    def __init__(self, build, name, settings):
        super().__init__(build, tempfile.mkdtemp(prefix=f"konn-bench-reset-{name}-"),
                         settings=settings)
        self.wait_started()

    def api(self, method, path, body=None, timeout=60):
        return self.request(method, path, body, timeout=timeout)

    def stop(self):
        super().stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def fill(d, capacity):
    """Floods distinct security events until the log holds its budget less one segment."""
    want = capacity - SEGMENT_BYTES
    start = time.monotonic()
    while True:
        _, stats = d.api("GET", "/api/v1/log/stats")
        used = stats.get("used_bytes", 0)
        log(f"fill: {used / 2**20:.0f} of {capacity / 2**20:.0f} MiB, "
            f"{stats.get('records', 0)} records, {time.monotonic() - start:.0f} s")
        if used >= want or stats.get("overflow_events", 0) > 0:
            return stats
        status, _ = d.api("POST", "/control/v1/fault/flood",
                          {"topic": "NK/FIREWALL/DROP", "rate": 100000, "seconds": 5,
                           "distinct": True})
        if status != 200:
            raise SystemExit(f"flood refused: {status}")
        time.sleep(5)


def reset_once(d):
    status, first = d.api("POST", "/api/v1/factory-reset")
    if status != 200:
        raise SystemExit(f"token refused: {status} {first}")
    t0 = time.monotonic()
    status, done = d.api("POST", "/api/v1/factory-reset",
                         {"confirm_token": first["confirm_token"]})
    wall = time.monotonic() - t0
    if status != 200:
        raise SystemExit(f"reset refused: {status} {done}")
    d.read_password()
    return wall, done["duration_ms"] / 1000.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--capacity-mb", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    full = empty = None
    try:
        full = Daemon(a.build, "full", [f"SECLOG_CAPACITY_MB={a.capacity_mb}"])
        empty = Daemon(a.build, "empty", [])
        stats = fill(full, a.capacity_mb * 2**20)
        results = {"full": [], "empty": []}
        for r in range(a.rounds):
            for name, d in (("full", full), ("empty", empty)):
                wall, own = reset_once(d)
                results[name].append((wall, own))
                log(f"round {r + 1} {name}: {wall * 1000:.0f} ms (daemon {own * 1000:.0f} ms)")
        _, after = full.api("GET", "/api/v1/log/stats")
        figure("reset_full_log_capacity", a.capacity_mb, "MiB")
        figure("reset_full_log_used", stats["used_bytes"] / 2**20, "MiB")
        figure("reset_full_log_records", stats["records"], "records")
        for name in ("full", "empty"):
            figure(f"reset_{name}_log_wall", 1000 * median(w for w, _ in results[name]), "ms", 1)
            figure(f"reset_{name}_log_daemon", 1000 * median(o for _, o in results[name]), "ms",
                   1)
        wall_full = median(w for w, _ in results["full"])
        wall_empty = median(w for w, _ in results["empty"])
        figure("ratio_full_to_empty", wall_full / wall_empty, "x", 2)
        figure("ratio_full_to_target_2s", wall_full / TARGET_S, "x", 2)
        figure("reset_full_log_entries_kept", after["records"], "records")
        print(f"target_reset_2s: {'met' if wall_full < TARGET_S else 'missed'}", flush=True)
        return 0
    finally:
        for d in (full, empty):
            if d:
                d.stop()


if __name__ == "__main__":
    sys.exit(main())
