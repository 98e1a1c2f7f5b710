"""Crash test of the updater (docs/update.md): kill -9 the launcher and the core at each step
of an install (download, verify, write-slot, switch, first-boot, health); the connector always
comes back on a complete, verified slot and the next install works. KONN_UPDATE_CRASH_RUNS
sets the number of runs, cycling through the steps (make test: one per step; make soak: 50)."""
import hashlib
import json
import os
import subprocess
import time

from conftest import KONNEKTORD, scaled
from test_update_slots import make_bundle, pki, slots, trust_vendor, wait_slots  # noqa: F401

STEPS = ["download", "verify", "write-slot", "switch", "first-boot", "health"]
RUNS = int(os.environ.get("KONN_UPDATE_CRASH_RUNS", str(len(STEPS))))


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def check_slot_verified(data_dir, slot, root):
    d = os.path.join(data_dir, "fw", f"slot-{slot}")
    assert os.path.exists(os.path.join(d, "complete")), f"slot {slot} is not complete"
    with open(os.path.join(d, "manifest.json")) as f:
        manifest = json.load(f)
    for p in manifest["payloads"]:
        path = os.path.join(d, p["path"])
        assert os.path.getsize(path) == p["size"], p["path"]
        assert sha256_file(path) == p["sha256"], p["path"]
    p7s = os.path.join(d, "manifest.json.p7s")
    if os.path.exists(p7s):
        res = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in",
                              p7s, "-content", os.path.join(d, "manifest.json"), "-CAfile",
                              str(root), "-purpose", "any", "-out", "/dev/null"],
                             capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
    else:  # the factory image: the build itself
        assert manifest["release_notes"] == "factory image"
        assert sha256_file(os.path.join(d, "core", "konnektord")) == sha256_file(KONNEKTORD)
    return manifest["fw_version"]


def test_kill_at_every_step_comes_back_on_a_verified_slot(start_connector, data_dir, pki,
                                                          tmp_path):
    trust_vendor(data_dir, pki)
    crash_file = os.path.join(tmp_path, "crash-at")
    os.environ["KONN_UPDATE_CRASH_FILE"] = crash_file
    port = None
    outcomes = []
    try:
        for run in range(RUNS):
            step = STEPS[run % len(STEPS)]
            c = start_connector(("--health-timeout", "10"), port=port, launcher=True)
            port = c.port
            s = wait_slots(c, lambda s: s["good"], "a good slot")
            before = s["fw_version"]
            with open(crash_file, "w") as f:
                f.write(step)
            bundle = make_bundle(pki, tmp_path, f"0.2.{run}", KONNEKTORD)
            try:
                with open(bundle, "rb") as f:
                    c.request("POST", "/api/v1/update/install-file", raw=f.read(), timeout=60)
            except OSError:
                pass  # the connection died with the core
            c.proc.wait(timeout=scaled(60))
            assert c.proc.returncode == -9, f"{step}: launcher ended with {c.proc.returncode}"
            assert not os.path.exists(crash_file), f"{step}: the crash point was not reached"
            c.stopped = True
            c.log.close()
            # The core dies with its launcher (it killed both); nothing of it may remain.
            time.sleep(0.2)
            c = start_connector(("--health-timeout", "10"), port=port, launcher=True)
            s = wait_slots(c, lambda s: s["good"] and s["running"] == s["active"],
                           f"a good slot after the kill at '{step}'")
            version = check_slot_verified(data_dir, s["active"], pki / "root-cert.pem")
            assert version == s["fw_version"]
            # Before the switch the old firmware stays; after it the new one is committed.
            expected = before if STEPS.index(step) < STEPS.index("switch") else f"0.2.{run}"
            assert version == expected, (step, version, expected)
            staging = [n for n in os.listdir(os.path.join(data_dir, "fw"))
                       if n.endswith(".staging")]
            assert not staging, staging
            outcomes.append((step, s["active"], version))
            c.stop()
    finally:
        del os.environ["KONN_UPDATE_CRASH_FILE"]
    print("update crash:", outcomes)
