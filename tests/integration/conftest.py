"""Fixtures for the integration tests: each test starts the real konnektord on a free
loopback port with a fresh data directory and the virtual clock, and talks to it only over
HTTPS (the management and control APIs) and through konctl.

Environment: KONNEKTORD and KONCTL name the binaries (CTest sets them); KONN_TIMEOUT_FACTOR
scales every wait (default 1; the sanitizer build uses more)."""
import atexit
import base64
import json
import os
import random
import re
import signal
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
KONNEKTORD = os.environ.get("KONNEKTORD", os.path.join(ROOT, "build", "konnektord"))
KONCTL = os.environ.get("KONCTL", os.path.join(ROOT, "build", "konctl"))
FACTOR = float(os.environ.get("KONN_TIMEOUT_FACTOR", "1"))
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")

# Test modules import helpers with "from conftest import ...". When one pytest run covers both
# tests/integration and tests/interop, both conftest.py files are the module "conftest" and
# the one loaded last would serve every test module; each directory's modules get their own
# (pytest_collectstart below runs for the modules under this conftest's directory only).
_THIS = sys.modules.get(__name__)


def pytest_collectstart(collector):
    if isinstance(collector, pytest.Module) and _THIS is not None:
        sys.modules["conftest"] = _THIS


def scaled(seconds):
    return seconds * FACTOR


# Ports for the daemons under test come from below Linux's ephemeral range (32768-60999):
# a port the kernel hands out for bind(0) is also what it gives the next outgoing
# connection (a konctl call, a CETP sink, a test client), so "free" ports from there were
# sometimes taken again before konnektord could listen on them (EADDRINUSE, under ctest -j2).
_PORT_LOW, _PORT_HIGH = 20000, 32000
_ports_given = set()


def free_port():
    rng = random.SystemRandom()
    for _ in range(1000):
        port = rng.randint(_PORT_LOW, _PORT_HIGH)
        if port in _ports_given:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _ports_given.add(port)
        return port
    raise RuntimeError(f"no free port in {_PORT_LOW}-{_PORT_HIGH}")


def soap_get_cards(lan_url, envelope):
    """Posts a GetCards envelope to the EventService: (gematik code or 0, the CtIds of the
    cards listed, sorted)."""
    req = urllib.request.Request(lan_url + "/ws/EventService", data=envelope.encode(),
                                 method="POST",
                                 headers={"Content-Type": "text/xml; charset=utf-8"})
    try:
        with urllib.request.urlopen(req, timeout=scaled(30)) as resp:
            text = resp.read().decode()
    except urllib.error.HTTPError as e:
        text = e.read().decode()
    code = re.search(r"<GERROR:Code>(\d+)</GERROR:Code>", text)
    return (int(code.group(1)) if code else 0,
            sorted(re.findall(r"<CARDCMN:CtId>([^<]*)</CARDCMN:CtId>", text)))


def log_entries(c, topic, n=0, limit=1000):
    """The security-log entries of topic (at most limit, oldest first), once there are at
    least n (the log writes asynchronously; gives up after 10 s and returns what it has)."""
    deadline = time.monotonic() + scaled(10)
    while True:
        found = c.api("GET", f"/api/v1/log?topic={topic}&limit={limit}&order=oldest")["entries"]
        if len(found) >= n or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def pkcs12_to_pem(p12, password, out_dir, stem):
    """Splits a PKCS#12 file with the openssl CLI into out_dir/stem-cert.pem (the client
    certificate alone) and out_dir/stem-key.pem (its key, unencrypted, mode 0600); returns
    (cert, key)."""
    cert = os.path.join(out_dir, f"{stem}-cert.pem")
    key = os.path.join(out_dir, f"{stem}-key.pem")
    env = dict(os.environ, KONN_P12_PASSWORD=password)
    for out, args in ((cert, ["-clcerts", "-nokeys"]), (key, ["-nocerts", "-nodes"])):
        subprocess.run(["openssl", "pkcs12", "-in", p12, "-passin", "env:KONN_P12_PASSWORD",
                        *args, "-out", out], env=env, check=True, capture_output=True)
    os.chmod(key, 0o600)
    return cert, key


def basic_auth(user, password):
    """The value of an Authorization header for HTTP Basic."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class ApiError(Exception):
    def __init__(self, status, body):
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


class Connector:
    """One running konnektord."""

    def __init__(self, data_dir, port, extra_args=(), clock="virtual", launcher=False):
        self.data_dir = data_dir
        self.port = port
        self.url = f"https://127.0.0.1:{port}"
        os.makedirs(data_dir, exist_ok=True)
        self.log_path = os.path.join(data_dir, "konnektord.log")
        self.log = open(self.log_path, "wb")
        self.stopped = False
        # A URL file from an earlier run in this directory must not count as "ready".
        stale = os.path.join(data_dir, "run", "mgmt.url")
        if os.path.exists(stale):
            os.unlink(stale)
        # --core: the tests talk to the core itself and kill or inspect its pid; only the
        # update tests start the launcher (launcher=True, docs/update.md).
        self.proc = subprocess.Popen(
            [KONNEKTORD, *(() if launcher else ("--core",)), "--data", data_dir, "--mgmt", f"127.0.0.1:{port}",
             "--clock", clock, *extra_args],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.password = None
        self.clock = clock
        self.cert = os.path.join(data_dir, "identity", "mgmt-cert.pem")

    def wait_ready(self, timeout=20):
        url_file = os.path.join(self.data_dir, "run", "mgmt.url")
        deadline = time.monotonic() + scaled(timeout)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"konnektord exited with {self.proc.returncode}:\n"
                                     + self.output())
            if os.path.exists(url_file):
                with open(url_file) as f:
                    written = f.read().strip()
                assert written == self.url, (
                    f"{url_file} names {written!r}, not {self.url!r}:\n" + self.output())
                with open(os.path.join(self.data_dir, "initial-admin-password")) as f:
                    self.password = f.read().strip()
                if self.clock == "virtual":
                    # Let the simulated TI tunnel finish connecting (2 s of connector time).
                    self.api("POST", "/control/v1/clock/advance", {"by": "3s"})
                return self
            time.sleep(0.05)
        raise AssertionError("konnektord did not finish bootup:\n" + self.output())

    def output(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def context(self):
        ctx = ssl.create_default_context(cafile=self.cert)
        return ctx

    def request(self, method, path, body=None, user="admin", password=None, raw=None,
                timeout=30):
        """Returns (status, parsed JSON). Never raises for HTTP errors."""
        password = self.password if password is None else password
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                            else None)
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if user is not None:
            req.add_header("Authorization", basic_auth(user, password))
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, context=self.context(),
                                        timeout=scaled(timeout)) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as e:
            text = e.read()
            try:
                return e.code, json.loads(text)
            except ValueError:
                return e.code, {"raw": text.decode("utf-8", "replace")}

    def api(self, method, path, body=None, **kw):
        """Like request() but raises ApiError unless the status is 2xx."""
        status, data = self.request(method, path, body, **kw)
        if status // 100 != 2:
            raise ApiError(status, data)
        return data

    def konctl(self, *args, user="admin", password=None, check=False, env_extra=None):
        env = dict(os.environ)
        env.update({"KONCTL_URL": self.url, "KONCTL_USER": user,
                    "KONCTL_PASSWORD": self.password if password is None else password,
                    "KONCTL_CACERT": self.cert, "NO_COLOR": "1"})
        if env_extra:
            env.update(env_extra)
        res = subprocess.run([KONCTL, *args], env=env, capture_output=True, text=True,
                             timeout=scaled(60))
        if check and res.returncode != 0:
            raise AssertionError(f"konctl {' '.join(args)} failed ({res.returncode}):\n"
                                 f"{res.stdout}\n{res.stderr}")
        return res

    def issue_client_cert(self, name, out_dir, password="client-cert-pw", key_type="rsa"):
        """Issues a client certificate for the LAN interface through the management API
        (POST /api/v1/client-certs), writes it to out_dir/NAME.p12 and splits it into PEM
        files. Returns (p12, cert_pem, key_pem)."""
        answer = self.api("POST", "/api/v1/client-certs",
                          {"name": name, "password": password, "type": key_type})
        p12 = os.path.join(out_dir, f"{name}.p12")
        with open(p12, "wb") as f:
            f.write(base64.b64decode(answer["p12_base64"]))
        return (p12, *pkcs12_to_pem(p12, password, out_dir, name))

    def events(self, since=0):
        return self.api("GET", f"/api/v1/events?since={since}")["events"]

    def stop(self, expect_code=0):
        if self.stopped:
            return
        self.stopped = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=scaled(20))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("konnektord did not stop on SIGTERM:\n" + self.output())
        out = self.output()
        self.log.close()
        for marker in SANITIZER_MARKERS:
            assert marker not in out, f"sanitizer report in konnektord output:\n{out}"
        assert self.proc.returncode == expect_code, (
            f"konnektord exited with {self.proc.returncode}, expected {expect_code}:\n{out}")


_world_template = None


def make_world_template(data):
    """Generates a simulated world (test PKI and demo cards) by a first start of a connector
    on the empty directory data, and leaves only data/world; returns its path."""
    c = Connector(data, free_port())
    try:
        c.wait_ready()
    finally:
        c.stop()
    for name in os.listdir(data):  # only the world is copied from here
        if name != "world":
            path = os.path.join(data, name)
            if os.path.isdir(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
    return os.path.join(data, "world")


def world_template():
    """The world every connector starts from a copy of, so that it does not generate keys.
    CTest generates it once per run (the fixture test `world_template`, KONN_WORLD_TEMPLATE);
    a test run by hand generates its own on first use."""
    global _world_template
    if _world_template is None:
        shared = os.environ.get("KONN_WORLD_TEMPLATE")
        if shared and os.path.isdir(shared):
            _world_template = shared
            return _world_template
        root = tempfile.mkdtemp(prefix="konn-world-")
        # Removed when the test process ends: each first start reserves the logs' budgets
        # (about 320 MiB), which would otherwise pile up in /tmp run after run.
        atexit.register(shutil.rmtree, root, True)
        _world_template = make_world_template(os.path.join(root, "data"))
    return _world_template


@pytest.fixture(scope="module")
def small_log_connector():
    """One connector for a whole test module, with a fresh world and a 16 MB security log
    (one start instead of two, and a small budget starts faster)."""
    with tempfile.TemporaryDirectory(prefix="konn-it-") as d:
        conn = Connector(d, free_port(), ("--setting", "SECLOG_CAPACITY_MB=16"))
        try:
            conn.wait_ready()
            yield conn
        finally:
            conn.stop()


@pytest.fixture
def data_dir():
    with tempfile.TemporaryDirectory(prefix="konn-it-") as d:
        yield d


@pytest.fixture
def start_connector(data_dir):
    """Factory: start_connector(extra_args=(), wait=True) -> Connector. Stops all at teardown
    and fails the test on a non-zero exit or a sanitizer report."""
    started = []

    def start(extra_args=(), wait=True, clock="virtual", port=None, data=None, fresh_world=False,
              launcher=False):
        if not fresh_world:
            extra_args = ("--world-template", world_template(), *extra_args)
        c = Connector(data or data_dir, port or free_port(), extra_args, clock, launcher)
        started.append(c)
        if wait:
            c.wait_ready()
        return c

    yield start
    for c in started:
        c.stop()


@pytest.fixture
def connector(start_connector):
    return start_connector()
