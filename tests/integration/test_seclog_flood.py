"""A 2020-style event storm against a tiny security-log budget: the connector keeps answering,
raises EC_LOG_OVERFLOW, lights Service, keeps System on, and is idle afterwards."""
import os
import statistics
import threading
import time

from conftest import scaled


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_flood_overflows_a_tiny_budget_without_hurting_the_api(start_connector):
    c = start_connector(["--setting", "SECLOG_CAPACITY_MB=16"])
    # Distinct events defeat folding: 30,000/s for 10 s is ~50 MB against a 16 MB budget.
    c.api("POST", "/control/v1/fault/flood",
          {"rate": 30000, "seconds": 10, "distinct": True})
    latencies = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        status, leds = c.request("GET", "/api/v1/leds")
        latencies.append(time.monotonic() - t0)
        assert status == 200
        time.sleep(0.02)
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(f"flood: mgmt p99 {p99 * 1000:.1f} ms over {len(latencies)} requests, "
          f"median {statistics.median(latencies) * 1000:.1f} ms")
    # The 100 ms p99 target is a figure for bench/ (a quiet machine); here, on a shared and
    # possibly sanitized build, the test proves the API keeps answering throughout.
    assert latencies[-1] < scaled(2.0), f"slowest {latencies[-1] * 1000:.0f} ms"

    def overflowed():
        names = [x["name"] for x in c.api("GET", "/api/v1/conditions")["conditions"]]
        return "EC_LOG_OVERFLOW" in names

    end = time.monotonic() + scaled(20)
    while time.monotonic() < end and not overflowed():
        time.sleep(0.1)
    assert overflowed()
    leds = c.api("GET", "/api/v1/leds")
    assert leds["service"] == "on" and leds["system"] == "on"
    evicted = c.api("GET", "/api/v1/log?topic=LOG/EVICTED&limit=5")["entries"]
    assert evicted and evicted[0]["params"]["Overflow"] == "true"
    stats = c.api("GET", "/api/v1/log/stats")
    assert stats["used_bytes"] <= stats["capacity_bytes"]
    assert stats["overflow_events"] >= 1
    with open(os.path.join(c.data_dir, "seclog-verification-key")) as f:
        key = f.read()
    assert c.api("POST", "/api/v1/log/verify", {"key": key})["ok"] is True

    # After the storm the daemon is idle: no busy loop.
    time.sleep(scaled(1))
    before = cpu_seconds(c.proc.pid)
    time.sleep(2)
    used = cpu_seconds(c.proc.pid) - before
    print(f"flood: cpu after the storm {used:.3f} s in 2 s")
    assert used < 0.2, f"{used:.2f} s of CPU in 2 s of idle"

    # Only an administrator ends the overflow condition.
    c.api("POST", "/api/v1/conditions/reset", {"name": "EC_LOG_OVERFLOW"})
    assert c.api("GET", "/api/v1/leds")["service"] == "off"


def test_identical_storm_events_fold_into_summaries(connector):
    connector.api("POST", "/control/v1/fault/flood", {"rate": 2000, "seconds": 2})
    time.sleep(2.5)
    connector.api("POST", "/control/v1/clock/advance", {"by": "2m"})
    connector.api("POST", "/control/v1/seclog/append",
                  {"topic": "TEST/AFTER", "params": {}, "durable": True})
    deadline = time.monotonic() + scaled(5)
    summaries = []
    while time.monotonic() < deadline:
        summaries = connector.api("GET", "/api/v1/log?topic=LOG/FOLDED&limit=1000")["entries"]
        if summaries:
            break
        time.sleep(0.1)
    drops = connector.api("GET", "/api/v1/log?topic=NK/FIREWALL/DROP&limit=1000")["entries"]
    folded = sum(int(s["params"]["Count"]) for s in summaries)
    # 4000 events from 20 distinct sources (each with its own port): each is written once,
    # the repeats are counted in summaries, and nothing is lost.
    assert len(drops) == 20, len(drops)
    assert len(drops) + folded == 4000, (len(drops), folded)
