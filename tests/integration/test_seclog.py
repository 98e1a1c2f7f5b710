"""The security log and the system log as an administrator and an auditor see them."""
import json
import os
import time
import urllib.request

from conftest import basic_auth, scaled


def log_entries(c, **query):
    q = "&".join(f"{k}={v}" for k, v in query.items())
    return c.api("GET", "/api/v1/log?" + q)["entries"]


def wait_for(predicate, seconds=5, what="condition"):
    deadline = time.monotonic() + scaled(seconds)
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def verification_key(c):
    with open(os.path.join(c.data_dir, "seclog-verification-key")) as f:
        return f.read()


def test_login_failures_and_admin_changes_are_in_the_security_log(connector):
    connector.request("GET", "/api/v1/leds", password="wrong-password")
    connector.api("PUT", "/api/v1/settings/LOG_DAYS", {"value": "20"})
    topics = wait_for(lambda: {e["topic"]: e for e in log_entries(connector, limit=1000)}
                      if "MGM/ADMINCHANGES" in {e["topic"] for e in log_entries(connector)}
                      else None, what="MGM/ADMINCHANGES in the log")
    assert topics["MGM/LOGIN_FAILED"]["params"]["User"] == "admin"
    assert topics["MGM/ADMINCHANGES"]["params"] == {"User": "admin", "RefID": "LOG_DAYS",
                                                    "NewVal": "20"}
    assert topics["MGM/ADMINCHANGES"]["severity"] == "Info"


def test_bootup_is_in_the_system_log(connector):
    entries = wait_for(lambda: [e for e in log_entries(connector, log="system", limit=1000)
                                if e["topic"] == "BOOTUP/BOOTUP_COMPLETE"],
                       what="BOOTUP_COMPLETE in the system log")
    assert entries[0]["type"] == "Operation"


def test_no_personal_data_reaches_the_security_log(connector):
    connector.api("POST", "/control/v1/fault/condition",
                  {"name": "EC_NK_Certificate_Expiring", "active": True,
                   "params": {"Iccsn": "80276883110000017222", "Serial": "4711"}})
    entry = wait_for(lambda: [e for e in log_entries(connector, topic="OPERATIONAL_STATE/")
                              if e["topic"].endswith("EC_NK_Certificate_Expiring")],
                     what="the condition in the log")[0]
    assert entry["params"]["Serial"] == "4711"
    assert "80276883110000017222" not in json.dumps(entry)
    # The live event keeps it: only the log must not.
    ev = [e for e in connector.events() if e["topic"].endswith("EC_NK_Certificate_Expiring")]
    assert ev[0]["params"]["Iccsn"] == "80276883110000017222"


def test_paging_filters_and_cursor(connector):
    for i in range(25):
        connector.api("POST", "/control/v1/seclog/append",
                      {"topic": "TEST/PAGE", "params": {"i": str(i)}, "durable": True})
    page1 = connector.api("GET", "/api/v1/log?topic=TEST/PAGE&limit=10")
    assert [e["params"]["i"] for e in page1["entries"]] == [str(i) for i in range(24, 14, -1)]
    page2 = connector.api("GET", f"/api/v1/log?topic=TEST/PAGE&limit=10&before={page1['next']}")
    assert [e["params"]["i"] for e in page2["entries"]] == [str(i) for i in range(14, 4, -1)]
    oldest = connector.api("GET", "/api/v1/log?topic=TEST/PAGE&limit=5&order=oldest")
    assert [e["params"]["i"] for e in oldest["entries"]] == ["0", "1", "2", "3", "4"]
    assert connector.api("GET", "/api/v1/log?severity=Fatal")["entries"] == []
    status, body = connector.request("GET", "/api/v1/log?severity=Loud")
    assert status == 400
    status, body = connector.request("GET", "/api/v1/log?from=yesterday")
    assert status == 400 and "2026-11-29T08:00:00Z" in body["error"]["message"]


def test_export_is_json_lines_of_every_entry(connector):
    # 2500 distinct events cross the export's page size (1000) twice.
    connector.api("POST", "/control/v1/fault/flood",
                  {"topic": "TEST/EXPORT", "rate": 2500, "seconds": 1, "distinct": True})
    wait_for(lambda: any(e["topic"] == "SYSLOG/control" and "ended" in e["params"]["Message"]
                         for e in log_entries(connector, log="system", limit=50)),
             what="the flood to end")
    connector.api("POST", "/control/v1/seclog/append",
                  {"topic": "TEST/EXPORT-END", "params": {}, "durable": True})
    req = urllib.request.Request(connector.url + "/api/v1/log/export?topic=TEST/EXPORT")
    req.add_header("Authorization", basic_auth("admin", connector.password))
    with urllib.request.urlopen(req, context=connector.context(), timeout=scaled(30)) as resp:
        assert resp.headers["Content-Type"] == "application/x-ndjson"
        lines = resp.read().decode().splitlines()
    entries = [json.loads(line) for line in lines]
    flood = [e for e in entries if e["topic"] == "TEST/EXPORT"]
    assert len(flood) == 2500
    assert sorted(int(e["params"]["N"]) for e in flood) == list(range(2500))
    assert entries[-1]["topic"] == "TEST/EXPORT-END"
    seqs = [e["seq"] for e in entries]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_log_verifies_with_the_verification_key(connector):
    for i in range(10):
        connector.api("POST", "/control/v1/seclog/append",
                      {"topic": "TEST/V", "params": {"i": str(i)}, "durable": True})
    res = connector.api("POST", "/api/v1/log/verify", {"key": verification_key(connector)})
    assert res["ok"] is True, res
    assert res["seals_checked"] >= 1 and res["seals_unchecked"] is False
    assert res["records"] >= 10
    res = connector.api("POST", "/api/v1/log/verify", {})
    assert res["ok"] is True and res["seals_unchecked"] is True
    status, _ = connector.request("POST", "/api/v1/log/verify", {"key": "not a key"})
    assert status == 400


def test_stats_count_topics_and_project_retention(connector):
    for i in range(5):
        connector.api("POST", "/control/v1/seclog/append",
                      {"topic": "TEST/STATS", "params": {"i": str(i)}, "durable": True})
    s = connector.api("GET", "/api/v1/log/stats")
    assert s["topics"]["TEST/STATS"] == 5
    assert s["capacity_bytes"] == 256 * 1024 * 1024
    assert 0 < s["used_bytes"] <= s["capacity_bytes"]
    assert s["retention_days_setting"] == 180
    assert s["retention_days_possible"] > 180


def test_login_points_out_entries_since_the_last_logout(connector):
    first = connector.api("POST", "/api/v1/session")
    assert first["user"] == "admin" and first["last_logout"] is None
    assert first["new_security_entries"] > 0
    connector.api("DELETE", "/api/v1/session")
    connector.api("POST", "/control/v1/clock/advance", {"by": "1s"})
    for i in range(3):
        connector.api("POST", "/control/v1/seclog/append",
                      {"topic": "TEST/NEW", "params": {"i": str(i)}, "durable": True})
    again = connector.api("POST", "/api/v1/session")
    assert again["last_logout"] is not None
    # The three entries, plus the login of this very session (MGM/LOGIN after logout).
    assert 3 <= again["new_security_entries"] <= 5, again
    page = connector.api("GET", "/api/v1/log?topic=TEST/NEW")
    assert all(e["new"] for e in page["entries"])


def test_io_error_makes_the_log_not_writable_and_it_recovers_by_itself(connector):
    connector.api("POST", "/control/v1/fault/seclog-io-error", {"on": True})
    connector.api("POST", "/control/v1/seclog/append", {"topic": "TEST/IO", "params": {}})

    def active():
        names = [x["name"] for x in connector.api("GET", "/api/v1/conditions")["conditions"]]
        return "EC_Security_Log_Not_Writable" in names

    started = time.monotonic()
    wait_for(active, what="EC_Security_Log_Not_Writable")
    assert time.monotonic() - started < scaled(2)
    assert connector.api("GET", "/api/v1/leds")["system"] == "blink"
    # Log viewing and other management keep working in this critical state.
    assert connector.api("GET", "/api/v1/status")["booted"] is True
    connector.api("PUT", "/api/v1/settings/LOG_DAYS", {"value": "25"})
    connector.api("POST", "/control/v1/fault/seclog-io-error", {"on": False})
    wait_for(lambda: not active(), seconds=10, what="the condition to clear")
    assert connector.api("GET", "/api/v1/leds")["system"] == "on"
    res = connector.api("POST", "/api/v1/log/verify", {"key": verification_key(connector)})
    assert res["ok"] is True, res


def test_retention_removes_only_entries_older_than_the_setting(start_connector):
    c = start_connector(["--setting", "SECURITY_LOG_DAYS=10"])
    c.api("POST", "/control/v1/seclog/append",
          {"topic": "TEST/OLD", "params": {}, "durable": True})
    c.api("POST", "/control/v1/clock/advance", {"by": "11d"})
    c.api("POST", "/control/v1/seclog/append",
          {"topic": "TEST/NEW", "params": {}, "durable": True})
    c.api("POST", "/control/v1/clock/advance", {"by": "2h"})
    wait_for(lambda: not log_entries(c, topic="TEST/OLD"), what="the old entry to expire")
    assert len(log_entries(c, topic="TEST/NEW")) == 1
    retention = log_entries(c, topic="LOG/RETENTION")
    assert retention and retention[0]["params"]["Overflow"] == "false"
    assert c.api("POST", "/api/v1/log/verify", {"key": verification_key(c)})["ok"] is True
    names = [x["name"] for x in c.api("GET", "/api/v1/conditions")["conditions"]]
    assert "EC_LOG_OVERFLOW" not in names
