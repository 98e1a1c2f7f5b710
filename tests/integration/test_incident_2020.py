"""The scenario "2020-ehealth-update" (issue #8) through its command, `konctl scenario
2020-ehealth-update --json`: a PTV2 connector under a practice's load and the 2020 event storm
takes the PTV3 bundle at MGM_KSR_AUTO_UPDATE_TIME on the virtual clock. The command reports
the phases before, across and after the update restart; the connector never fails a request
while it is serving, the restart window is short, EC_LOG_OVERFLOW is raised, Service and
System are on and the audit trail verifies. Then diagnose names "log_overflow" (never "hung"),
Plan A is applied with --apply, and ten days later the connector is healthy again."""
import json
import os
import subprocess

from conftest import FACTOR, KONCTL, KONNEKTORD, free_port, scaled
from test_update_ksr import Ksr, konctl_local, make_bundle, trust_vendor, wait_running

# Under ASan (FACTOR > 1) fewer workplaces and a lighter storm keep the run near a minute.
WORKPLACES = 5 if FACTOR == 1 else 3
STORM = 30000 if FACTOR == 1 else 20000


def scenario_2020(c, lan, key_file):
    env = dict(os.environ, KONCTL_URL=c.url, KONCTL_USER="admin", KONCTL_PASSWORD=c.password,
               KONCTL_CACERT=c.cert, NO_COLOR="1")
    args = ["scenario", "2020-ehealth-update", "--json", "--workplaces", str(WORKPLACES),
            "--storm", str(STORM), "--soap", f"http://127.0.0.1:{lan}",
            "--timeout", str(int(scaled(2000))), "--before", "2", "--after", "3",
            "--update-timeout", str(int(scaled(90))), "--budget-timeout", str(int(scaled(30))),
            "--max-unreachable", str(int(scaled(10000))),
            # Bounded by the request timeout: the machine is shared and noisy (the figures
            # in docs/incident-2020.md come from quieter runs).
            "--p99-limit", str(int(scaled(2000))), "--key", key_file]
    return subprocess.run([KONCTL, *args], env=env, capture_output=True, text=True,
                          timeout=scaled(240))


def test_2020_ehealth_update_under_load(start_connector, data_dir, tmp_path):
    pki = tmp_path / "pki"
    res = konctl_local("bundle", "keygen", "--out", str(pki), "--vendor", "ACME")
    assert res.returncode == 0, res.stderr
    ksr_dir = tmp_path / "ksr"
    ksr_dir.mkdir()
    core = open(KONNEKTORD, "rb").read()
    ptv2 = make_bundle(pki, tmp_path / "konnektord-2.0.0.kbundle", payload=core,
                       fw_version="2.0.0", product_type_version="2.0.0", features=["VSDM"],
                       release_notes="PTV2")
    make_bundle(pki, ksr_dir / "konnektord-3.5.0.kbundle", payload=core)
    del core
    trust_vendor(data_dir, pki)
    ksr = Ksr(ksr_dir)
    lan = free_port()
    soap = f"http://127.0.0.1:{lan}"
    try:
        c = start_connector(
            ("--setting", f"KSR_URL={ksr.url}", "--setting", "MGM_KSR_AUTODOWNLOAD=Disabled",
             "--setting", "ANCL_TLS_MANDATORY=Disabled", "--setting",
             "ANCL_CAUT_MANDATORY=Disabled", "--setting", "SECLOG_CAPACITY_MB=16",
             "--setting", "SECURITY_LOG_DAYS=10", "--lan-http", f"127.0.0.1:{lan}",
             "--health-timeout", str(int(scaled(10)))), launcher=True)
        wait_running(c, "0.1.0")
        # The practice's connector runs PTV2.
        res = c.konctl("update", "install", "--file", str(ptv2))
        assert res.returncode == 0, res.stdout + res.stderr
        wait_running(c, "2.0.0")

        # Monday morning: the practice works, the LAN storms, and the update slot comes.
        res = scenario_2020(c, lan, os.path.join(data_dir, "seclog-verification-key"))
        report = json.loads(res.stdout)
        print("scenario:", json.dumps({k: report[k] for k in ("phases", "restart",
                                                              "seconds_to_budget")}))
        assert res.returncode == 0, res.stderr
        assert report["ok"] is True
        assert all(e["ok"] for e in report["expectations"]), report["expectations"]
        assert report["firmware"]["before"]["product_type_version"] == "2.0.0"
        assert report["firmware"]["after"]["product_type_version"] == "3.5.0"
        assert report["firmware"]["after"]["fw_version"] == "3.5.0"

        phases = {p["name"]: p for p in report["phases"]}
        assert list(phases) == ["before", "across_update", "after"]
        for name, phase in phases.items():
            for kind in ("soap", "management"):
                fig = phase[kind]
                # Not one timeout or error while the connector was serving.
                assert fig["timeouts"] == 0 and fig["errors"] == 0, (name, kind, fig)
                if name != "across_update":  # under ASan the restart may fill it
                    assert fig["requests"] > 0, (name, kind, fig)
                    # Only requests in flight when the window opened or closed overlap it.
                    assert fig["restart"]["requests"] <= WORKPLACES, (name, kind, fig)
                assert fig["requests"] == 0 or fig["max_ms"] < scaled(2000), (name, kind, fig)
        # The restart was seen, short, and its failures are reported apart.
        restart = report["restart"]
        assert restart["seen"] is True and 0 < restart["unreachable_ms"] < scaled(10000), restart
        across = phases["across_update"]
        failed_in_restart = sum(across[k]["restart"]["timeouts"] + across[k]["restart"]["errors"]
                                for k in ("soap", "management"))
        print("failed in the restart window:", failed_in_restart)
        assert report["seconds_to_budget"] is not None
        assert report["leds"]["system"] == "on" and report["leds"]["service"] == "on"
        assert report["verify"]["ok"] is True and report["verify"]["seals_checked"] > 0
        assert report["load"]["storm_started"] is True

        # Diagnose: log overflow, never hung; Plan A through konctl.
        res = c.konctl("diagnose", "--json", "--apply", "--soap", soap, check=True)
        report = json.loads(res.stdout)
        assert "log_overflow" in report["situations"] and "hung" not in report["situations"]
        applied = {a["name"]: a for a in report["applied"]}
        assert applied["LOG_SUCCESSFUL_CRYPTO_OPS"]["ok"] is True
        assert c.api("GET", "/api/v1/settings/LOG_SUCCESSFUL_CRYPTO_OPS")["value"] == "Disabled"

        # Ten days later the storm has aged out; the admin resets the condition.
        c.konctl("clock", "advance", "10d", check=True)
        c.konctl("clock", "advance", "2h", check=True)
        c.konctl("ec", "reset", "EC_LOG_OVERFLOW", check=True)
        report = json.loads(c.konctl("diagnose", "--json", "--soap", soap, check=True).stdout)
        assert report["situations"] == ["healthy"], report["findings"]
        assert c.api("GET", "/api/v1/status")["product"]["product_type_version"] == "3.5.0"
    finally:
        ksr.stop()
