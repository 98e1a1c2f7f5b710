"""konctl diagnose against a real daemon (issue #8): each situation produced for real or
through the control API, Plan A applied with --apply, and the recovery once the storm's
entries age out on the virtual clock. ("hung" is in test_legacy_fault.py.)"""
import json
import os
import subprocess
import time

from conftest import KONCTL, free_port, scaled


def diagnose(c, *extra):
    res = c.konctl("diagnose", "--json", "--timeout", "2000", *extra)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


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
    flood_end = time.monotonic() + 6
    c.api("POST", "/control/v1/fault/flood",
          {"topic": "LOG/CRYPTO_OP", "rate": 30000, "seconds": 6, "distinct": True})
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
    time.sleep(max(0.0, flood_end + 0.5 - time.monotonic()))  # the flood's 6 s of real time
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
