"""The scenario "2020-ehealth-update" (issue #8): a PTV2 connector under a practice's load and
the 2020 event storm takes the PTV3 bundle at MGM_KSR_AUTO_UPDATE_TIME on the virtual clock;
afterwards it stays responsive with its security log at the budget (EC_LOG_OVERFLOW, Service
on, System on, the audit trail verifiable), diagnose names "log_overflow" (never "hung"),
Plan A is applied with --apply, and ten days later the connector is healthy again."""
import json
import os
import subprocess
import time

import pytest

from conftest import KONCTL, KONNEKTORD, free_port, scaled
from test_update_ksr import (Ksr, konctl_local, make_bundle, slot_in, trust_vendor,
                             wait_running)


def practice(c, lan, seconds, workplaces=5):
    return ["scenario", "practice", "--workplaces", str(workplaces), "--seconds", str(seconds),
            "--storm", "30000", "--crypto-ops", "--soap", f"http://127.0.0.1:{lan}", "--json"]


def conditions(c):
    return {x["name"] for x in c.api("GET", "/api/v1/conditions")["conditions"]}


@pytest.mark.skipif(float(os.environ.get("KONN_TIMEOUT_FACTOR", "1")) > 1,
                    reason="gcc build only: it copies konnektord into two bundles and boots three "
                           "cores under load; the parts run under ASan in test_diagnose.py")
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
    trust_vendor(data_dir, pki)
    ksr = Ksr(ksr_dir)
    lan = free_port()
    try:
        c = start_connector(
            ("--setting", f"KSR_URL={ksr.url}", "--setting", "MGM_KSR_AUTODOWNLOAD=Disabled",
             "--setting", "ANCL_TLS_MANDATORY=Disabled", "--setting",
             "ANCL_CAUT_MANDATORY=Disabled", "--setting", "SECLOG_CAPACITY_MB=16",
             "--setting", "SECURITY_LOG_DAYS=10", "--lan-http", f"127.0.0.1:{lan}",
             "--health-timeout", "10"), launcher=True)
        wait_running(c, "0.1.0")
        # The practice's connector runs PTV2.
        res = c.konctl("update", "install", "--file", str(ptv2))
        assert res.returncode == 0, res.stdout + res.stderr
        wait_running(c, "2.0.0")
        c.konctl("update", "check", check=True)
        c.konctl("update", "download", check=True)
        c.api("PUT", "/api/v1/settings/MGM_KSR_AUTO_UPDATE_TIME", {"value": slot_in(c, 30)})
        c.api("PUT", "/api/v1/settings/MGM_KSR_AUTO_UPDATE", {"value": "Enabled"})

        # Monday morning: the practice works, the LAN storms, and the update slot comes.
        env = dict(os.environ, KONCTL_URL=c.url, KONCTL_USER="admin",
                   KONCTL_PASSWORD=c.password, KONCTL_CACERT=c.cert, NO_COLOR="1")
        load = subprocess.Popen([KONCTL, *practice(c, lan, 8)],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        time.sleep(2)
        c.request("POST", "/control/v1/clock/advance", {"by": "1h"}, timeout=60)
        slots = wait_running(c, "3.5.0", seconds=90)
        out, err = load.communicate(timeout=scaled(60))
        assert load.returncode == 0, err
        during = json.loads(out)
        print("during the update:", json.dumps({k: during[k] for k in ("soap", "management")}))
        assert slots["product_type_version"] == "3.5.0"

        # After the update, under the same load: responsive, overflow raised, System on.
        res = c.konctl(*practice(c, lan, 4))
        assert res.returncode == 0, res.stderr
        after = json.loads(res.stdout)
        print("after the update:", json.dumps({k: after[k] for k in ("soap", "management")}))
        for kind in ("soap", "management"):
            assert after[kind]["timeouts"] == 0 and after[kind]["errors"] == 0, after
            assert after[kind]["max_ms"] < scaled(2000), after
        end = time.monotonic() + scaled(20)
        while time.monotonic() < end and "EC_LOG_OVERFLOW" not in conditions(c):
            time.sleep(0.2)
        assert "EC_LOG_OVERFLOW" in conditions(c)
        leds = c.api("GET", "/api/v1/leds")
        assert leds["system"] == "on" and leds["service"] == "on", leds
        with open(os.path.join(data_dir, "seclog-verification-key")) as f:
            key = f.read()
        assert c.api("POST", "/api/v1/log/verify", {"key": key}, timeout=60)["ok"] is True

        # Diagnose: log overflow, never hung; Plan A through konctl.
        res = c.konctl("diagnose", "--json", "--apply", "--soap", f"http://127.0.0.1:{lan}",
                       check=True)
        report = json.loads(res.stdout)
        assert "log_overflow" in report["situations"] and "hung" not in report["situations"]
        applied = {a["name"]: a for a in report["applied"]}
        assert applied["LOG_SUCCESSFUL_CRYPTO_OPS"]["ok"] is True
        assert c.api("GET", "/api/v1/settings/LOG_SUCCESSFUL_CRYPTO_OPS")["value"] == "Disabled"

        # Ten days later the storm has aged out; the admin resets the condition.
        c.konctl("clock", "advance", "10d", check=True)
        c.konctl("clock", "advance", "2h", check=True)
        c.konctl("ec", "reset", "EC_LOG_OVERFLOW", check=True)
        report = json.loads(c.konctl("diagnose", "--json", "--soap",
                                     f"http://127.0.0.1:{lan}", check=True).stdout)
        assert report["situations"] == ["healthy"], report["findings"]
        assert c.api("GET", "/api/v1/status")["product"]["product_type_version"] == "3.5.0"
    finally:
        ksr.stop()
