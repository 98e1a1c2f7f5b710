"""Crash test: kill -9 the daemon during a flood; every durably acknowledged record survives
and the log verifies. KONN_CRASH_RUNS sets the number of runs (make soak: 100)."""
import os
import random
import signal
import time

RUNS = int(os.environ.get("KONN_CRASH_RUNS", "5"))
# Each run floods at most 30,000 entries (about 9 MB): a budget this large never evicts, so
# every acknowledged record must still be there (100 runs of the soak overflowed the default
# 256 MB and lost the first runs' records to eviction, correctly, but not to a crash).
BUDGET = ("--setting", f"SECLOG_CAPACITY_MB={16 + 12 * RUNS}")


def test_kill_during_flood_loses_nothing_acknowledged(start_connector, data_dir):
    rng = random.Random(int(os.environ.get("KONN_CRASH_SEED", "2020")))
    acked = []
    port = None
    for run in range(RUNS):
        c = start_connector(BUDGET, port=port)
        port = c.port
        c.api("POST", "/control/v1/fault/flood",
              {"rate": 20000, "seconds": 30, "distinct": True})
        stop_at = time.monotonic() + rng.uniform(0.2, 1.5)
        n = 0
        while time.monotonic() < stop_at:
            status, body = c.request("POST", "/control/v1/seclog/append",
                                     {"topic": "TEST/ACK", "durable": True,
                                      "params": {"run": str(run), "n": str(n)}})
            if status == 200:
                acked.append((str(run), str(n)))
            n += 1
        os.kill(c.proc.pid, signal.SIGKILL)
        c.proc.wait()
        c.stopped = True
        c.log.close()
    c = start_connector(BUDGET, port=port)
    assert c.api("GET", "/api/v1/log/stats")["first_seq"] == 1  # nothing was evicted
    present = set()
    page = c.api("GET", "/api/v1/log?topic=TEST/ACK&limit=1000&order=oldest")
    while True:
        present.update((e["params"]["run"], e["params"]["n"]) for e in page["entries"])
        if page["next"] is None:
            break
        page = c.api("GET", f"/api/v1/log?topic=TEST/ACK&limit=1000&order=oldest"
                            f"&after={page['next']}")
    missing = [a for a in acked if a not in present]
    assert not missing, f"{len(missing)} acknowledged records lost, e.g. {missing[:5]}"
    assert len(acked) > RUNS
    with open(os.path.join(data_dir, "seclog-verification-key")) as f:
        key = f.read()
    res = c.api("POST", "/api/v1/log/verify", {"key": key})
    assert res["ok"] is True, res
    print(f"crash: {RUNS} kills, {len(acked)} acknowledged records, all present, log verifies")
