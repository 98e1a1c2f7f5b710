"""What the Python benchmarks share (bench/reset/run.py, bench/update/run.py): starting and
stopping a konnektord on a loopback port, calling its management API as admin, and printing
figures as "name: value unit" lines (bench/README.md).

A script imports it with its own folder's parent on sys.path:

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import common
"""
import base64
import json
import os
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request


def log(msg):
    """Progress, on stderr (stdout carries only figures)."""
    print(msg, file=sys.stderr, flush=True)


def figure(name, value, unit, decimals=0):
    print(f"{name}: {value:.{decimals}f} {unit}", flush=True)


def median(values):
    return statistics.median(list(values))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    """One konnektord with data in data_dir: the core alone (core=True, as the tests run it)
    or the launcher with its slots (docs/update.md). Starts at once; wait_started() waits for
    the management URL."""

    def __init__(self, build, data_dir, core=True, clock="virtual", settings=(), args=(),
                 log_path=None):
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.log_path = log_path or os.path.join(data_dir, "konnektord.log")
        self.password = None
        self.ctx = None
        cmd = [os.path.join(build, "konnektord"), *(("--core",) if core else ()), "--data",
               data_dir, "--mgmt", f"127.0.0.1:{self.port}", "--clock", clock, *args]
        for s in settings:
            cmd += ["--setting", s]
        os.makedirs(data_dir, exist_ok=True)
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)

    def check_running(self):
        if self.proc.poll() is not None:
            raise SystemExit(f"konnektord exited with {self.proc.returncode}, see "
                             f"{self.log_path}")

    def wait_started(self, seconds=120):
        url_file = os.path.join(self.data_dir, "run", "mgmt.url")
        deadline = time.monotonic() + seconds
        while not os.path.exists(url_file):
            self.check_running()
            if time.monotonic() > deadline:
                raise SystemExit(f"konnektord did not start, see {self.log_path}")
            time.sleep(0.05)
        self.read_password()
        return self

    def read_password(self):
        """The admin password: the initial one (again after a factory reset)."""
        with open(os.path.join(self.data_dir, "initial-admin-password")) as f:
            self.password = f.read().strip()

    def request(self, method, path, body=None, raw=None, timeout=60):
        """(status, parsed JSON) as admin; body is JSON, raw bytes. Never raises for HTTP
        errors."""
        if self.password is None:
            self.read_password()
        if self.ctx is None:
            self.ctx = ssl.create_default_context(
                cafile=os.path.join(self.data_dir, "identity", "mgmt-cert.pem"))
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                            else None)
        req = urllib.request.Request(self.url + path, data=data, method=method)
        token = base64.b64encode(f"admin:{self.password}".encode()).decode()
        req.add_header("Authorization", "Basic " + token)
        if body is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=timeout) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def stop(self, seconds=60):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=seconds)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
