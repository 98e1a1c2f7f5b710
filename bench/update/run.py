#!/usr/bin/python3
"""The update benchmark (bench/README.md, "Update"): konnektord started as the launcher
(docs/update.md) with a temporary data directory, a test vendor PKI and bundles made from the
build's own konnektord.

Figures (medians over --rounds):
  update_install_reply_ms      POST /api/v1/update/install-file until its 202: upload, verify,
                               extract into the inactive slot, switch the block
  update_install_switch_ms     POST until the new core runs from the other slot and is healthy
                               (adds: clean shutdown, launcher restart, bootup, health check)
  update_crash_to_service_ms   a bundle whose core crashes at boot (SIGSEGV): POST reply until
                               the old slot serves again (3 failed boots, fallback, old core
                               healthy); target < 5000 ms
  update_hang_to_service_ms    a core that never becomes healthy: the same with 3 health
                               timeouts of --health-timeout s each (stated on its own line)
  update_fallback_to_service_ms  the last failed boot until the old slot serves again, from the
                               launcher's and core's log lines; target < 5000 ms
Run:  flock /tmp/konn-bench.lock /usr/bin/python3 bench/update/run.py --build build
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import common  # noqa: E402
from common import figure, median  # noqa: E402

TEMPLATE = {
    "product_vendor_id": "KONND", "product_code": "konnektd", "product_name": "konnektord",
    "hw_version": "1.0.0", "fw_version": "0.2.0", "product_type_version": "5.0.0",
    "created": "2026-11-29", "fw_priority": "Normal", "deadline": None,
    "release_notes": "bench firmware", "features": ["VSDM", "NFDM", "AMTS", "QES"],
}
CRASHING_CORE = b"#!/bin/sh\nkill -SEGV $$\n"
HANGING_CORE = b"#!/bin/sh\nexec sleep 600\n"
TARGET_MS = 5000


class Launcher(common.Daemon):
    def __init__(self, build, work, health_timeout):
        data = os.path.join(work, "data")
        os.makedirs(os.path.join(data, "trust", "vendor"))
        shutil.copyfile(os.path.join(work, "pki", "root-cert.pem"),
                        os.path.join(data, "trust", "vendor", "bench.pem"))
        # --clock real: launcher and core stamp their log lines on one time base.
        super().__init__(build, data, core=False, clock="real",
                         args=("--health-timeout", str(health_timeout)),
                         log_path=os.path.join(work, "konnektord.log"))
        self.wait(lambda s: s["good"], 120)

    def slots(self):
        try:
            status, body = self.request("GET", "/api/v1/update/slots", timeout=5)
            return body if status == 200 else None
        except (OSError, ValueError):
            return None

    def wait(self, predicate, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.check_running()
            if os.path.exists(os.path.join(self.data_dir, "initial-admin-password")):
                s = self.slots()
                if s and predicate(s):
                    return s
            time.sleep(0.01)
        sys.exit(f"timed out, see {self.log_path}")

    def install(self, bundle):
        with open(bundle, "rb") as f:
            data = f.read()
        t0 = time.monotonic()
        status, body = self.request("POST", "/api/v1/update/install-file", raw=data)
        if status != 202:
            sys.exit(f"install answered {status}: {body}")
        return t0, time.monotonic()


def konctl(build, *args):
    res = subprocess.run([os.path.join(build, "konctl"), *args], capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"konctl {' '.join(args)}: {res.stderr}")


def make_bundle(build, work, version, core):
    payloads = os.path.join(work, f"payloads-{version}")
    os.makedirs(os.path.join(payloads, "core"))
    target = os.path.join(payloads, "core", "konnektord")
    if isinstance(core, bytes):
        with open(target, "wb") as f:
            f.write(core)
    else:
        shutil.copyfile(core, target)
    os.chmod(target, 0o755)
    template = os.path.join(work, f"template-{version}.json")
    with open(template, "w") as f:
        json.dump(dict(TEMPLATE, fw_version=version), f)
    bundle = os.path.join(work, f"fw-{version}.kbundle")
    pki = os.path.join(work, "pki")
    konctl(build, "bundle", "create", bundle, "--manifest", template, "--payloads", payloads,
           "--key", os.path.join(pki, "signer-key.pem"), "--cert",
           os.path.join(pki, "signer-cert.pem"))
    return bundle


def log_times(path, pattern):
    """Wall times (s) of the log lines matching pattern: "2026-11-29T15:18:41.705Z ..."."""
    out = []
    with open(path, errors="replace") as f:
        for line in f:
            m = re.match(r"\d{4}-\d\d-\d\dT(\d\d):(\d\d):(\d\d\.\d+)Z", line)
            if m and re.search(pattern, line):
                h, mi, s = m.groups()
                out.append(int(h) * 3600 + int(mi) * 60 + float(s))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--health-timeout", type=int, default=3)
    args = ap.parse_args()
    binary = os.path.join(args.build, "konnektord")
    print(f"# load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} cpus; binary "
          f"{os.path.getsize(binary) // 1024} KiB", flush=True)
    work = tempfile.mkdtemp(prefix="konn-bench-update-")
    try:
        konctl(args.build, "bundle", "keygen", "--out", os.path.join(work, "pki"))
        lnch = Launcher(args.build, work, args.health_timeout)
        reply, switch, crash, hang, fallback = [], [], [], [], []
        n = 0
        for _ in range(args.rounds):
            n += 1
            t0, t1 = lnch.install(make_bundle(args.build, work, f"0.2.{n}", binary))
            running = lnch.slots()["running"]
            lnch.wait(lambda s: s["running"] != running and s["good"], 120)
            t2 = time.monotonic()
            reply.append((t1 - t0) * 1000)
            switch.append((t2 - t0) * 1000)
        for core, into in ((CRASHING_CORE, crash), (HANGING_CORE, hang)):
            for _ in range(args.rounds):
                n += 1
                before = lnch.slots()["running"]
                _, t1 = lnch.install(make_bundle(args.build, work, f"0.2.{n}", core))
                lnch.wait(lambda s: s["running"] == before and s["good"] and
                          s["last_fallback"] and
                          s["last_fallback"]["from_version"] == f"0.2.{n}", 120)
                into.append((time.monotonic() - t1) * 1000)
                # From the launcher's fallback line to the old core's healthy line.
                fb = log_times(lnch.log_path, r"falling back to slot")
                ok = log_times(lnch.log_path, r"update: firmware .* healthy in slot")
                if fb and ok and ok[-1] >= fb[-1]:
                    fallback.append((ok[-1] - fb[-1]) * 1000)
        lnch.stop()
        figure("update_install_reply_ms", median(reply), "ms")
        figure("update_install_switch_ms", median(switch), "ms")
        figure("update_crash_to_service_ms", median(crash), "ms")
        print(f"# update_hang_to_service_ms: health timeout {args.health_timeout} s, 3 attempts",
              flush=True)
        figure("update_hang_to_service_ms", median(hang), "ms")
        if fallback:
            figure("update_fallback_to_service_ms", median(fallback), "ms")
        print(f"target_crash_to_service_under_{TARGET_MS}ms: "
              f"{'met' if median(crash) < TARGET_MS else 'missed'}")
        if fallback:
            print(f"target_fallback_to_service_under_{TARGET_MS}ms: "
                  f"{'met' if median(fallback) < TARGET_MS else 'missed'}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
