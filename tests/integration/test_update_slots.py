"""Firmware slots, the launcher, health and rollback (docs/update.md): konnektord started as the
launcher installs an uploaded bundle into the inactive slot, restarts into it, commits it when
it becomes healthy, and falls back to the old slot when the new core crashes or never becomes
healthy. Bundles that do not verify change nothing on disk.

The crash test kills -9 the launcher and the core at each step of an install (download,
verify, write-slot, switch, first-boot, health): the connector always comes back on a complete,
verified slot. KONN_UPDATE_CRASH_RUNS sets the number of runs, cycling through the steps
(make test: one per step; make soak: 50)."""
import hashlib
import json
import os
import shutil
import subprocess
import time

import pytest

from conftest import KONCTL, KONNEKTORD, scaled

# A new real core must be healthy within this (s); sanitizer builds boot slower.
HEALTH_TIMEOUT_S = int(scaled(30))
# For the core that never becomes healthy (a script: no sanitizer to wait for).
HANG_TIMEOUT_S = 2
FACTORY_VERSION = "0.1.0"

TEMPLATE = {
    "product_vendor_id": "KONND", "product_code": "konnektd", "product_name": "konnektord",
    "hw_version": "1.0.0", "fw_version": "0.2.0", "product_type_version": "5.0.0",
    "created": "2026-11-29", "fw_priority": "Normal", "deadline": None,
    "release_notes": "test firmware", "features": ["VSDM", "NFDM", "AMTS", "QES", "EPA"],
}

STEPS = ["download", "verify", "write-slot", "switch", "first-boot", "health"]
CRASH_RUNS = int(os.environ.get("KONN_UPDATE_CRASH_RUNS", str(len(STEPS))))

CRASHING_CORE = b"#!/bin/sh\nkill -SEGV $$\n"
HANGING_CORE = b"#!/bin/sh\nexec sleep 600\n"


def konctl(*args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KONCTL_")}
    return subprocess.run([KONCTL, *args], env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("vendor") / "pki"
    res = konctl("bundle", "keygen", "--out", str(d), "--vendor", "Test Vendor")
    assert res.returncode == 0, res.stderr
    return d


def make_bundle(pki, out_dir, version, core, **fields):
    """A signed bundle whose core/konnektord is core (bytes, or a path to copy)."""
    payloads = out_dir / f"payloads-{version}-{len(os.listdir(out_dir))}"
    (payloads / "core").mkdir(parents=True)
    target = payloads / "core" / "konnektord"
    if isinstance(core, bytes):
        target.write_bytes(core)
    else:
        shutil.copyfile(core, target)
    target.chmod(0o755)
    template = out_dir / f"template-{version}.json"
    template.write_text(json.dumps(dict(TEMPLATE, fw_version=version, **fields)))
    bundle = out_dir / f"fw-{version}-{len(os.listdir(out_dir))}.kbundle"
    res = konctl("bundle", "create", str(bundle), "--manifest", str(template),
                 "--payloads", str(payloads), "--key", str(pki / "signer-key.pem"),
                 "--cert", str(pki / "signer-cert.pem"))
    assert res.returncode == 0, res.stderr
    return bundle


def trust_vendor(data_dir, pki):
    d = os.path.join(data_dir, "trust", "vendor")
    os.makedirs(d, exist_ok=True)
    shutil.copyfile(pki / "root-cert.pem", os.path.join(d, "test-vendor.pem"))


def start(start_connector, data_dir, pki, health_timeout=HEALTH_TIMEOUT_S):
    trust_vendor(data_dir, pki)
    c = start_connector(("--health-timeout", str(health_timeout)), launcher=True)
    wait_slots(c, lambda s: s["good"], "the factory slot to become good")
    return c


def slots(c):
    status, body = c.request("GET", "/api/v1/update/slots", timeout=5)
    return body if status == 200 else None


def wait_slots(c, predicate, what, seconds=30):
    """Polls the slots across restarts (the listener is away while the core restarts)."""
    deadline = time.monotonic() + scaled(seconds)
    last = None
    while time.monotonic() < deadline:
        assert c.proc.poll() is None, f"the launcher exited:\n{c.output()}"
        try:
            last = slots(c)
        except OSError:
            last = None
        if last and predicate(last):
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last {last}:\n{c.output()[-4000:]}")


def history(c):
    return c.api("GET", "/api/v1/update/history")


def seclog(c, topic):
    return c.api("GET", f"/api/v1/log?topic={topic}&limit=100")["entries"]


def fw_tree(data_dir):
    """What the install could have touched: the slots and the block (not the history and not
    the uploaded file)."""
    out = {}
    root = os.path.join(data_dir, "fw")
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        if rel.startswith("download"):
            continue
        for name in filenames:
            if rel == "." and name == "history.jsonl":
                continue
            with open(os.path.join(dirpath, name), "rb") as f:
                out[os.path.join(rel, name)] = f.read()
    return out


def install(c, bundle):
    with open(bundle, "rb") as f:
        return c.request("POST", "/api/v1/update/install-file", raw=f.read(), timeout=60)


def test_first_start_installs_the_factory_image_and_a_tampered_bundle_changes_nothing(
        start_connector, data_dir, pki, tmp_path):
    c = start(start_connector, data_dir, pki)
    s = slots(c)
    assert s["active"] == "a" and s["running"] == "a" and s["tries_left"] == 3
    a, b = s["slots"]
    assert a["complete"] and a["fw_version"] == FACTORY_VERSION and "VSDM" in a["features"]
    assert not b["complete"]
    assert os.access(os.path.join(data_dir, "fw", "slot-a", "core", "konnektord"), os.X_OK)
    # A tampered bundle: 4183, nothing on disk changes.
    bundle = make_bundle(pki, tmp_path, "0.2.0", KONNEKTORD)
    data = bytearray(bundle.read_bytes())
    data[-20000] ^= 0x01  # a byte of the core payload (the archive ends with 10 KiB of zeros)
    bundle.write_bytes(bytes(data))
    before = fw_tree(data_dir)
    status, body = install(c, bundle)
    assert status == 422, body
    assert body["error"]["gematik_code"] == 4183
    assert fw_tree(data_dir) == before
    h = history(c)
    assert h[-1]["action"] == "refused" and h[-1]["code"] == 4183
    ends = seclog(c, "KSR/UPDATE/END")
    assert ends and ends[-1]["params"]["ErrorCode"] == "4183"
    assert seclog(c, "KSR/UPDATE/START")
    assert slots(c)["running"] == "a"
    c.stop()
    assert c.proc.returncode == 0  # SIGTERM reached the core through the launcher


def test_bundle_outside_the_firmware_group_is_refused_with_4185(start_connector, data_dir, pki,
                                                                tmp_path):
    group = {"format": 1, "firmware_group_id": "G1", "product_vendor_id": "KONND",
             "product_code": "konnektd", "hw_version": "1.0.0",
             "firmware_group_version": "1", "created": "2026-11-01", "release_notes": "",
             "fw_versions": ["0.1.0", "0.3.0"]}
    fw = os.path.join(data_dir, "fw")
    os.makedirs(fw, exist_ok=True)
    with open(os.path.join(fw, "group.json"), "w") as f:
        json.dump(group, f)
    res = konctl("bundle", "sign-group", os.path.join(fw, "group.json"),
                 "--key", str(pki / "signer-key.pem"), "--cert", str(pki / "signer-cert.pem"))
    assert res.returncode == 0, res.stderr
    c = start(start_connector, data_dir, pki)
    before = fw_tree(data_dir)
    status, body = install(c, make_bundle(pki, tmp_path, "0.2.0", KONNEKTORD))
    assert status == 422, body
    assert body["error"]["gematik_code"] == 4185
    assert fw_tree(data_dir) == before
    assert history(c)[-1]["code"] == 4185


def test_good_bundle_installs_switches_and_is_committed(start_connector, data_dir, pki,
                                                        tmp_path):
    c = start(start_connector, data_dir, pki)
    status, body = install(c, make_bundle(pki, tmp_path, "0.2.0", KONNEKTORD))
    assert status == 202, body
    s = wait_slots(c, lambda s: s["running"] == "b" and s["good"], "the new firmware")
    assert s["active"] == "b" and s["fw_version"] == "0.2.0" and "EPA" in s["features"]
    assert not s["update_pending"] and s["last_fallback"] is None
    assert s["slots"][0]["fw_version"] == FACTORY_VERSION  # the old slot is kept
    assert os.path.exists(os.path.join(data_dir, "fw", "slot-b", "manifest.json.p7s"))
    assert [e["action"] for e in history(c)][-3:] == ["install", "switch", "commit"]
    ends = seclog(c, "KSR/UPDATE/END")
    assert ends[-1]["params"]["Result"] == "Success"
    assert ends[-1]["params"]["FWVersion"] == "0.2.0"
    assert not os.listdir(os.path.join(data_dir, "fw", "download"))
    c.stop()
    assert c.proc.returncode == 0


@pytest.mark.parametrize("core,reason", [
    (CRASHING_CORE, "crashed at boot (signal 11)"),
    (HANGING_CORE, f"not healthy within {HANG_TIMEOUT_S} s"),
])
def test_failing_firmware_falls_back_to_the_old_slot(start_connector, data_dir, pki, tmp_path,
                                                     core, reason):
    c = start(start_connector, data_dir, pki, HANG_TIMEOUT_S)
    status, body = install(c, make_bundle(pki, tmp_path, "0.2.0", core))
    assert status == 202, body
    started = time.monotonic()
    s = wait_slots(c, lambda s: s["running"] == "a" and s["last_fallback"] and s["good"],
                   "the fallback", seconds=60)
    assert s["active"] == "a" and s["fw_version"] == FACTORY_VERSION
    fb = s["last_fallback"]
    assert fb["from_slot"] == "b" and fb["from_version"] == "0.2.0" and fb["reason"] == reason
    if core == HANGING_CORE:  # three attempts of HANG_TIMEOUT_S each, not more
        assert time.monotonic() - started < scaled(3 * HANG_TIMEOUT_S + 20)
    out = c.output()
    assert out.count("update: the core of slot b") == 3, out[-3000:]
    h = history(c)
    assert h[-1]["action"] == "rollback" and h[-1]["code"] == 4184
    assert h[-1]["message"] == reason
    ends = seclog(c, "KSR/UPDATE/END")
    assert ends[-1]["params"]["ErrorCode"] == "4184" and ends[-1]["params"]["Reason"] == reason
    conds = c.api("GET", "/api/v1/conditions")["conditions"]
    assert any(x["display"] == "EC_OTHER_ERROR_STATE(4)" for x in conds), conds
    events = [e for e in c.events() if e["topic"] == "KSR/UPDATE/END"]
    assert events and events[-1]["params"]["Result"] == "Failure"
    c.stop()
    assert c.proc.returncode == 0


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def check_slot_verified(data_dir, slot, root):
    """The slot is complete, its payloads match the manifest, and the manifest's signature
    verifies (openssl cms) or it is the factory image of this build. Returns its version."""
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
    else:
        assert manifest["release_notes"] == "factory image"
        assert sha256_file(os.path.join(d, "core", "konnektord")) == sha256_file(KONNEKTORD)
    return manifest["fw_version"]


def test_kill_at_every_install_step_comes_back_on_a_verified_slot(start_connector, data_dir,
                                                                  pki, tmp_path):
    crash_file = os.path.join(tmp_path, "crash-at")
    os.environ["KONN_UPDATE_CRASH_FILE"] = crash_file
    args = ("--health-timeout", str(HEALTH_TIMEOUT_S))
    outcomes = []
    try:
        c = start(start_connector, data_dir, pki)
        for run in range(CRASH_RUNS):
            step = STEPS[run % len(STEPS)]
            before = slots(c)["fw_version"]
            with open(crash_file, "w") as f:
                f.write(step)
            bundle = make_bundle(pki, tmp_path, f"0.2.{run}", KONNEKTORD)
            try:
                install(c, bundle)
            except OSError:
                pass  # the connection died with the core
            c.proc.wait(timeout=scaled(60))
            assert c.proc.returncode == -9, f"{step}: launcher ended with {c.proc.returncode}"
            assert not os.path.exists(crash_file), f"{step}: the crash point was not reached"
            c.stopped = True
            c.log.close()
            c = start_connector(args, port=c.port, launcher=True)
            s = wait_slots(c, lambda s: s["good"] and s["running"] == s["active"],
                           f"a good slot after the kill at '{step}'")
            version = check_slot_verified(data_dir, s["active"], pki / "root-cert.pem")
            assert version == s["fw_version"]
            # Before the switch the old firmware stays; after it the new one is committed.
            expected = before if STEPS.index(step) < STEPS.index("switch") else f"0.2.{run}"
            assert version == expected, (step, version, expected)
            assert not [n for n in os.listdir(os.path.join(data_dir, "fw"))
                        if n.endswith(".staging")]
            outcomes.append((step, s["active"], version))
    finally:
        del os.environ["KONN_UPDATE_CRASH_FILE"]
    print("update crash:", outcomes)
