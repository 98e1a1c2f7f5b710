"""The 2020 fault on purpose (issue #8): "konctl fault legacy-log-cleanup" makes the connector
hog its main loop like the 2020 devices, diagnose names it "hung", and the fault ends with
"off" or by itself; every switch is in the security log. Also "konctl scenario practice"
reporting its figures against a real connector."""
import json
import time

from conftest import free_port, scaled


def lan_args(port):
    return ["--lan-http", f"127.0.0.1:{port}", "--setting", "ANCL_TLS_MANDATORY=Disabled"]


def diagnose(c, soap, *extra):
    res = c.konctl("diagnose", "--json", "--soap", soap, "--timeout", "500", *extra)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def fault_entries(c):
    return c.api("GET", "/api/v1/log?topic=MGM/FAULT&limit=20")["entries"]


def wait_for(pred, timeout):
    end = time.monotonic() + scaled(timeout)
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    return pred()


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
    report = diagnose(c, soap)
    assert "hung" in report["situations"], report["findings"]
    assert report["plan_a"]["available"] is False
    # Calls with a practice software's patience (500 ms) time out.
    assert report["facts"]["management"]["timeouts"] >= 1 or \
        report["facts"]["soap"]["state"] == "timeout", report["facts"]

    t0 = time.monotonic()
    off = c.konctl("fault", "legacy-log-cleanup", "off", check=True)
    assert "off" in off.stdout
    assert time.monotonic() - t0 < scaled(15)
    report = diagnose(c, soap)
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
