"""The 2020 incident against a real daemon (issue #8): konctl diagnose names each situation,
produced for real or through the control API (a real rollback of a core that crashes at
boot, too), applies Plan A with --apply, and sees the recovery once the storm's entries age
out on the virtual clock; the legacy-cleanup fault hangs the loop like the 2020 devices
(diagnose names it "hung") and ends with "off", by itself after --max-seconds, or recovers
once Plan A's wait let the young entries age out;
"konctl scenario practice" reports its figures. One file, so that the daemons share one
generated world."""
import json
import os
import subprocess
import time

from conftest import KONCTL, free_port, scaled
from test_update_slots import install, make_bundle, trust_vendor, wait_slots
from test_update_slots import konctl as konctl_local


def diagnose(c, *extra):
    res = c.konctl("diagnose", "--json", "--timeout", "2000", *extra)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def diagnose_soap(c, soap):
    """With the SOAP probe and the patience of practice software (500 ms)."""
    res = c.konctl("diagnose", "--json", "--soap", soap, "--timeout", "500")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def lan_args(port):
    return ["--lan-http", f"127.0.0.1:{port}", "--setting", "ANCL_TLS_MANDATORY=Disabled"]


def fault_entries(c):
    return c.api("GET", "/api/v1/log?topic=MGM/FAULT&limit=20")["entries"]


def wait_for(pred, timeout):
    end = time.monotonic() + scaled(timeout)
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    return pred()


def wait_condition(c, name, active=True, timeout=20):
    end = time.monotonic() + scaled(timeout)
    while time.monotonic() < end:
        names = [x["name"] for x in c.api("GET", "/api/v1/conditions")["conditions"]]
        if (name in names) == active:
            return
        time.sleep(0.1)
    raise AssertionError(f"{name} did not become {'active' if active else 'inactive'}")


def test_down_when_nothing_listens():
    env = dict(os.environ, KONCTL_URL=f"https://127.0.0.1:{free_port()}", KONCTL_USER="admin",
               KONCTL_PASSWORD="x", NO_COLOR="1")
    res = subprocess.run([KONCTL, "-k", "diagnose", "--json", "--timeout", "500"], env=env,
                         capture_output=True, text=True, timeout=scaled(30))
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["situations"] == ["down"]
    assert report["plan_a"]["available"] is False


def test_not_writable_and_blocked_firmware(connector):
    c = connector
    assert diagnose(c)["situations"] == ["healthy"]

    c.konctl("fault", "seclog-io-error", "on", check=True)
    c.api("POST", "/control/v1/seclog/append", {"topic": "TEST/IO", "params": {}})
    wait_condition(c, "EC_Security_Log_Not_Writable")
    report = diagnose(c)
    assert report["situations"] == ["log_not_writable"], report["findings"]
    c.konctl("fault", "seclog-io-error", "off", check=True)
    wait_condition(c, "EC_Security_Log_Not_Writable", active=False)

    c.konctl("fault", "condition", "EC_FW_Not_Valid_Status_Blocked", "on", check=True)
    report = diagnose(c)
    assert report["situations"] == ["firmware_blocked"], report["findings"]
    human = c.konctl("diagnose").stdout
    assert "Situation: firmware_blocked" in human and "konctl update" in human
    c.konctl("fault", "condition", "EC_FW_Not_Valid_Status_Blocked", "off", check=True)
    assert diagnose(c)["situations"] == ["healthy"]


def test_overflow_plan_a_applied_and_recovery_after_the_retention(start_connector):
    c = start_connector(["--setting", "SECLOG_CAPACITY_MB=16", "--setting",
                         "SECURITY_LOG_DAYS=10", "--setting", "LOG_SUCCESSFUL_CRYPTO_OPS=Enabled"])
    # The 2020 storm of successful crypto operations, each one distinct: ~30 MB in 16 MB.
    flood_end = time.monotonic() + 4
    c.api("POST", "/control/v1/fault/flood",
          {"topic": "LOG/CRYPTO_OP", "rate": 40000, "seconds": 4, "distinct": True})
    wait_condition(c, "EC_LOG_OVERFLOW", timeout=30)
    res = c.konctl("diagnose", "--json", "--apply", "--timeout", "2000", check=True)
    report = json.loads(res.stdout)
    assert "log_overflow" in report["situations"], report["findings"]
    plan = report["plan_a"]
    assert plan["available"] is True
    assert plan["dominant"][0]["topic"] == "LOG/CRYPTO_OP"
    applied = {a["name"]: a for a in report["applied"]}
    assert applied["LOG_SUCCESSFUL_CRYPTO_OPS"]["value"] == "Disabled"
    assert applied["LOG_SUCCESSFUL_CRYPTO_OPS"]["ok"] is True
    assert plan["clears_in_days"] is not None and 0 < plan["clears_in_days"] <= 10
    assert any("konctl ec reset EC_LOG_OVERFLOW" in s for s in plan["steps"])
    assert c.api("GET", "/api/v1/settings/LOG_SUCCESSFUL_CRYPTO_OPS")["value"] == "Disabled"

    # Once the storm has aged out (SECURITY_LOG_DAYS on the virtual clock) and the admin reset
    # the condition, the connector is healthy again.
    time.sleep(max(0.0, flood_end + 0.5 - time.monotonic()))  # the flood's 4 s of real time
    c.konctl("clock", "advance", "11d", check=True)
    c.konctl("clock", "advance", "2h", check=True)  # the retention pass runs on the clock

    def aged_out():
        return c.api("GET", "/api/v1/log/stats")["topics"].get("LOG/CRYPTO_OP", 0) < 1000
    end = time.monotonic() + scaled(20)
    while time.monotonic() < end and not aged_out():
        time.sleep(0.2)
    assert aged_out(), c.api("GET", "/api/v1/log/stats")["topics"]
    c.konctl("ec", "reset", "EC_LOG_OVERFLOW", check=True)
    report = diagnose(c)
    assert report["situations"] == ["healthy"], report["findings"]


def test_legacy_fault_hangs_the_loop_until_switched_off(start_connector):
    port = free_port()
    c = start_connector(lan_args(port))
    soap = f"http://127.0.0.1:{port}"

    # Armed without force, it waits for the log's budget: nothing hangs yet.
    on = c.konctl("fault", "legacy-log-cleanup", "on", "--max-seconds", "60", "--json",
                  check=True)
    assert json.loads(on.stdout)["on"] is True
    time.sleep(0.3)
    state = c.api("GET", "/control/v1/fault/legacy-log-cleanup", timeout=5)
    assert state["on"] and not state["hogging"] and state["slices"] == 0

    c.konctl("fault", "legacy-log-cleanup", "on", "--force", "--max-seconds", "60", check=True)
    report = diagnose_soap(c, soap)
    assert "hung" in report["situations"], report["findings"]
    assert report["plan_a"]["available"] is False
    # Calls with a practice software's patience (500 ms) time out.
    assert report["facts"]["management"]["timeouts"] >= 1 or \
        report["facts"]["soap"]["state"] == "timeout", report["facts"]

    t0 = time.monotonic()
    off = c.konctl("fault", "legacy-log-cleanup", "off", check=True)
    assert "off" in off.stdout
    assert time.monotonic() - t0 < scaled(15)
    report = diagnose_soap(c, soap)
    assert report["situations"] == ["healthy"], report["findings"]

    # Every switch is in the security log with the user who made it.
    def logged():
        states = [e["params"]["State"] for e in fault_entries(c)]
        return states.count("on") == 2 and "off" in states
    assert wait_for(logged, 5), fault_entries(c)
    assert all(e["params"]["User"] == "admin" for e in fault_entries(c))


def test_legacy_fault_ends_by_itself_and_refuses_bad_values(connector):
    c = connector
    for body in ({}, {"on": "yes"}, {"on": True, "max_seconds": 0},
                 {"on": True, "max_seconds": 601}, {"on": True, "slice_ms": 5}):
        status, answer = c.request("POST", "/control/v1/fault/legacy-log-cleanup", body)
        assert status == 400, (body, answer)
    assert c.api("GET", "/control/v1/fault/legacy-log-cleanup")["on"] is False

    c.api("POST", "/control/v1/fault/legacy-log-cleanup",
          {"on": True, "force": True, "max_seconds": 1, "slice_ms": 300}, timeout=10)
    # At most 1 s of hogging plus a slice: afterwards it is off and the API is quick again.
    time.sleep(1.3)
    assert wait_for(lambda: not c.api("GET", "/control/v1/fault/legacy-log-cleanup",
                                      timeout=10)["on"], 5)
    t0 = time.monotonic()
    c.api("GET", "/api/v1/leds")
    assert time.monotonic() - t0 < scaled(1)
    assert wait_for(lambda: any(e["params"]["State"] == "ended" for e in fault_entries(c)), 5)


def test_scenario_practice_reports_figures(start_connector):
    port = free_port()
    c = start_connector(lan_args(port))
    res = c.konctl("scenario", "practice", "--workplaces", "3", "--seconds", "2", "--storm",
                   "2000", "--crypto-ops", "--interval", "200", "--json",
                   "--soap", f"http://127.0.0.1:{port}")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["workplaces"] == 3 and report["storm_started"] is True
    assert report["subscriptions"] == 2
    for kind in ("soap", "management"):
        fig = report[kind]
        assert fig["requests"] >= 6, report
        assert fig["errors"] == 0 and fig["timeouts"] == 0, report
        assert 0 < fig["p50_ms"] <= fig["p99_ms"] <= fig["max_ms"]
    assert report["crypto_ops_logged"] >= 6
    assert len(report["per_second"]) >= 2
    # The workplaces the scenario needed were added to the demo practice.
    model = c.api("GET", "/api/v1/infomodel")
    assert {"ws1", "ws2", "ws3"} <= set(model["workplaces"])
    assert ["m1", "ws3"] in model["relations"]["mandant-workplace"]
    assert c.api("GET", "/api/v1/settings/LOG_SUCCESSFUL_CRYPTO_OPS")["value"] == "Enabled"
    topics = c.api("GET", "/api/v1/log/stats")["topics"]
    assert topics.get("LOG/CRYPTO_OP", 0) >= 6 and topics.get("NK/FIREWALL/DROP", 0) > 0

    # The 2020 scenario needs a KSR that offers an update: without one it says so, exits 1
    # and changes nothing.
    res = c.konctl("scenario", "2020-ehealth-update", "--json", "--soap",
                   f"http://127.0.0.1:{port}")
    assert res.returncode == 1 and "scenario 2020-ehealth-update" in res.stderr, res.stderr
    assert c.api("GET", "/api/v1/settings/MGM_KSR_AUTO_UPDATE")["value"] == "Disabled"


def fault_state(c):
    return c.api("GET", "/control/v1/fault/legacy-log-cleanup", timeout=15)


def test_legacy_fault_recovers_by_itself_after_plan_a_once_entries_age_out(start_connector):
    """The issue's proof: with the legacy fault, diagnose names "hung"; Plan A applied through
    konctl (the calls get through between the cleanup's slices) and the wait for the retention
    let the connector recover by itself, with the fault never switched off."""
    port = free_port()
    soap = f"http://127.0.0.1:{port}"
    c = start_connector(["--setting", "SECLOG_CAPACITY_MB=16", "--setting",
                         "SECURITY_LOG_DAYS=10", "--setting", "LOG_SUCCESSFUL_CRYPTO_OPS=Enabled",
                         *lan_args(port)])
    # Armed like a 2020 device: nothing happens until the log is at its budget. Slices of
    # 1 s (not 3) keep the test short; probes with 500 ms of patience still time out.
    c.konctl("fault", "legacy-log-cleanup", "on", "--max-seconds", str(int(scaled(150))),
             "--slice-ms", "1000", check=True)
    flood_end = time.monotonic() + 2
    c.api("POST", "/control/v1/fault/flood",
          {"topic": "LOG/CRYPTO_OP", "rate": 100000, "seconds": 2, "distinct": True})
    assert wait_for(lambda: fault_state(c)["hogging"], 30), fault_state(c)
    report = diagnose_soap(c, soap)
    assert "hung" in report["situations"], report["findings"]
    assert any("konctl settings set LOG_SUCCESSFUL_CRYPTO_OPS Disabled" in s
               for s in report["plan_a"]["steps"]), report["plan_a"]

    # Plan A through konctl, with patience: each call waits for a break between slices.
    c.konctl("settings", "set", "LOG_SUCCESSFUL_CRYPTO_OPS", "Disabled", check=True)
    assert fault_state(c)["hogging"] is True  # still hung: the young entries are all there
    # The wait of Plan A: the storm's entries age out (SECURITY_LOG_DAYS on the virtual clock).
    time.sleep(max(0.0, flood_end + 0.5 - time.monotonic()))
    c.konctl("clock", "advance", "11d", check=True)
    c.konctl("clock", "advance", "2h", check=True)  # the retention pass runs on the clock
    assert wait_for(lambda: not fault_state(c)["on"], 30), fault_state(c)
    states = [e["params"]["State"] for e in fault_entries(c)]
    assert "recovered" in states and "off" not in states, states

    # Responsive again; the overflow stays until an admin resets it, then it is healthy.
    report = diagnose_soap(c, soap)
    assert report["situations"] == ["log_overflow"], report["findings"]
    c.konctl("ec", "reset", "EC_LOG_OVERFLOW", check=True)
    report = diagnose_soap(c, soap)
    assert report["situations"] == ["healthy"], report["findings"]


CRASHING_CORE = b"#!/bin/sh\nkill -SEGV $$\n"


def test_update_rolled_back_for_real(start_connector, data_dir, tmp_path):
    """A bundle whose core crashes at boot: the launcher falls back after three attempts and
    diagnose names update_rolled_back with the plan for it."""
    pki = tmp_path / "pki"
    res = konctl_local("bundle", "keygen", "--out", str(pki), "--vendor", "Test Vendor")
    assert res.returncode == 0, res.stderr
    trust_vendor(data_dir, pki)
    c = start_connector(("--health-timeout", "2"), launcher=True)
    wait_slots(c, lambda s: s["good"], "the factory slot to become good")
    bundles = tmp_path / "bundles"
    bundles.mkdir()
    status, body = install(c, make_bundle(pki, bundles, "0.2.0", CRASHING_CORE))
    assert status == 202, body
    wait_slots(c, lambda s: s["running"] == "a" and s["last_fallback"] and s["good"],
               "the fallback", seconds=60)
    report = diagnose(c)
    assert report["situations"] == ["update_rolled_back"], report["findings"]
    evidence = " ".join(f["evidence"] for f in report["findings"])
    assert "0.2.0" in evidence and "signal 11" in evidence, evidence
    steps = " ".join(report["plan_a"]["steps"])
    assert "konctl update pause" in steps and "konctl update history" in steps, steps
    assert report["plan_a"]["settings"] == []
    human = c.konctl("diagnose").stdout
    assert "Situation: update_rolled_back" in human, human
