#!/usr/bin/python3
"""The SOAP benchmark (bench/README.md, "SOAP"): konnektord's EventService GetCards against
two peers, side by side in one run, each under the same wrk load.

    bench/soap/run.py [--build DIR] [--seconds N] [--warmup N] [--rounds N] [--profile]

Servers, each started fresh for every round on a free loopback port:
  ceiling          bench_http_ceiling: bare libevent evhttp, a fixed 1.5 KB body, no parsing
  node             bench/soap/node_server.js: the npm `soap` package serving GetCards from the
                   gematik EventService.wsdl with a schema-valid answer
  konnektord_http  konnektord --lan-http, ANCL_TLS_MANDATORY and ANCL_CAUT_MANDATORY Disabled
  konnektord_https konnektord --lan-https, TLS mandatory, ANCL_CAUT_MANDATORY Disabled
konnektord runs with a temporary data directory and the virtual clock, like the tests.

Load: wrk -t2 -c16 (keep-alive), a 2 s warm-up that is not counted, then a 10 s run with
--latency, posting bench/soap/getcards.xml (GetCards, demo context m1/cs1/ws1) through
getcards.lua. Before the load one request checks the answer: 200, and for node and konnektord
CONN:Result OK and a Body valid against EventService.xsd.

Output: one "name: value unit" line per figure on stdout (medians over the rounds): requests/s,
p50 and p99 latency, VmRSS after the run, server CPU (cores, and CPU time per request, which
other load on the machine disturbs less than requests/s), the response size, and two noise
figures: the most CPU that other processes took during a measured run (other jobs on the
machine; wrk's own CPU is left out) and the most host steal; then the ratios and one
"target_<name>: met|missed" line per target. Per-round details go to stderr. --profile runs
`perf record` on konnektord during the HTTP run and prints its top symbols to stderr (the
figures of that run are then perturbed).

Exit status: 0 when every server answered every request with 2xx, whether or not the targets
were met; 1 otherwise; 2 on bad usage or a missing tool. Without node, its soap module or the
api-telematik checkout (KONN_API_TELEMATIK) the node peer is skipped with a message."""
import argparse
import base64
import json
import os
import re
import resource
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
API_TELEMATIK = os.environ.get("KONN_API_TELEMATIK") or os.path.join(
    os.path.dirname(ROOT), "shared", "api-telematik")
EVENT_WSDL = os.path.join(API_TELEMATIK, "conn", "EventService.wsdl")
EVENT_XSD = os.path.join(API_TELEMATIK, "conn", "EventService.xsd")
NODE_MODULES = os.path.join(ROOT, "tests", "interop", "node", "node_modules")
REQUEST = os.path.join(HERE, "getcards.xml")
LUA = os.path.join(HERE, "getcards.lua")
SOAP_ACTION = '"http://ws.gematik.de/conn/EventService/v7.2#GetCards"'
PATH = "/ws/EventService"
NS = {
    "soap": "http://schemas.xmlsoap.org/soap/envelope/",
    "EVT": "http://ws.gematik.de/conn/EventService/v7.2",
    "CONN": "http://ws.gematik.de/conn/ConnectorCommon/v5.0",
}

WRK_THREADS = 2
WRK_CONNECTIONS = 16
START_TIMEOUT = 30  # seconds: konnektord bootup or node-soap parsing the WSDL
STOP_TIMEOUT = 20  # seconds: SIGTERM to exit
MIB = 1024 * 1024
NOISE_CPU = 0.1  # cores: other processes above this during a run make its figures suspect

# Targets (bench/README.md): konnektord over plain HTTP reaches half the ceiling's requests/s;
# p99 under 5 ms and VmRSS under 30 MB (10^6 bytes) after the load, over HTTP and HTTPS.
TARGET_CEILING_SHARE = 0.5
TARGET_P99_MS = 5.0
TARGET_RSS_BYTES = 30 * 1000 * 1000


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def figure(name, value, unit, decimals):
    print(f"{name}: {value:.{decimals}f} {unit}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid, field):
    """A "kB" field of /proc/PID/status in bytes, or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def proc_cpu_seconds(pid):
    """utime + stime of all threads of PID, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_jiffies():
    """(total, busy, steal) of the "cpu" line of /proc/stat; busy leaves out idle, iowait
    and steal."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return sum(v), sum(v) - v[3] - v[4] - v[7], v[7]


def children_cpu_seconds():
    """CPU of the waited-for children so far: wrk, since servers are reaped only at stop."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def read_listening_line(proc, name, timeout):
    """Waits for "listening ADDR:PORT" on the server's stdout; returns the port."""
    deadline = time.monotonic() + timeout
    os.set_blocking(proc.stdout.fileno(), False)
    buf = b""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode} before listening")
        chunk = proc.stdout.read()
        if chunk:
            buf += chunk
            m = re.search(rb"listening 127\.0\.0\.1:(\d+)\n", buf)
            if m:
                return int(m.group(1))
        time.sleep(0.02)
    raise RuntimeError(f"{name} did not start listening within {timeout} s")


class Server:
    """A server under test: name, pid, url, the context to probe it with, stop()."""

    validate = True

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError(f"{self.name} did not stop on SIGTERM")
        if self.proc.returncode != 0:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}")

    @property
    def pid(self):
        return self.proc.pid

    def ssl_context(self):
        return None


class Ceiling(Server):
    name = "ceiling"
    validate = False  # a fixed SOAP-shaped body, not an EventService answer

    def __init__(self, binary, work):
        self.proc = subprocess.Popen([binary, "0"], stdout=subprocess.PIPE,
                                     stderr=open(os.path.join(work, "ceiling.log"), "wb"))
        port = read_listening_line(self.proc, self.name, 5)
        self.url = f"http://127.0.0.1:{port}{PATH}"


class NodePeer(Server):
    name = "node"

    def __init__(self, node, work):
        env = dict(os.environ, KONN_API_TELEMATIK=API_TELEMATIK)
        self.proc = subprocess.Popen([node, os.path.join(HERE, "node_server.js"), "0"],
                                     stdout=subprocess.PIPE, env=env,
                                     stderr=open(os.path.join(work, "node.log"), "wb"))
        port = read_listening_line(self.proc, self.name, START_TIMEOUT)
        self.url = f"http://127.0.0.1:{port}{PATH}"


class Konnektord(Server):
    def __init__(self, binary, work, tls):
        self.name = "konnektord_https" if tls else "konnektord_http"
        self.tls = tls
        self.data = os.path.join(work, self.name)
        os.mkdir(self.data)
        port = free_port()
        settings = ["ANCL_CAUT_MANDATORY=Disabled"]
        if not tls:
            settings.append("ANCL_TLS_MANDATORY=Disabled")
        lan = ["--lan-https" if tls else "--lan-http", f"127.0.0.1:{port}"]
        # --core: perf profiles this pid, and the launcher adds nothing to a SOAP call.
        args = [binary, "--core", "--data", self.data, "--mgmt", "127.0.0.1:0", "--clock",
                "virtual", *lan]
        for s in settings:
            args += ["--setting", s]
        self.proc = subprocess.Popen(args, stdout=open(self.data + ".log", "wb"),
                                     stderr=subprocess.STDOUT)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{port}{PATH}"
        self.wait_ready()

    def wait_ready(self):
        url_file = os.path.join(self.data, "run", "mgmt.url")
        deadline = time.monotonic() + START_TIMEOUT
        while not os.path.exists(url_file):
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see "
                                   f"{self.data}.log")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not finish bootup")
            time.sleep(0.05)
        with open(url_file) as f:
            mgmt = f.read().strip()
        with open(os.path.join(self.data, "initial-admin-password")) as f:
            password = f.read().strip()
        # Let the simulated TI tunnel finish connecting (2 s of connector time), as the
        # integration tests do, so that the connector is in its normal operating state.
        ctx = ssl.create_default_context(
            cafile=os.path.join(self.data, "identity", "mgmt-cert.pem"))
        req = urllib.request.Request(mgmt + "/control/v1/clock/advance", method="POST",
                                     data=json.dumps({"by": "3s"}).encode())
        req.add_header("Content-Type", "application/json")
        req.add_header("Authorization", "Basic " + base64.b64encode(
            f"admin:{password}".encode()).decode())
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            resp.read()

    def ssl_context(self):
        if not self.tls:
            return None
        ident = os.path.join(self.data, "identity")
        ctx = ssl.create_default_context()
        for name in ("lan-rsa-cert.pem", "lan-ecc-cert.pem"):
            if os.path.exists(os.path.join(ident, name)):
                ctx.load_verify_locations(os.path.join(ident, name))
        return ctx


def probe(server, body, schema):
    """One GetCards request; returns the response size in bytes. Raises on a bad answer."""
    req = urllib.request.Request(server.url, data=body, method="POST")
    req.add_header("Content-Type", "text/xml; charset=utf-8")
    req.add_header("SOAPAction", SOAP_ACTION)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                         urllib.request.HTTPSHandler(context=server.ssl_context()))
    try:
        with opener.open(req, timeout=10) as resp:
            data = resp.read()
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"{server.name} answered {e.code}: {e.read()[:400]!r}") from None
    if server.validate:
        from lxml import etree

        envelope = etree.fromstring(data)
        (answer,) = envelope.find("soap:Body", NS)
        result = answer.findtext("CONN:Status/CONN:Result", None, NS)
        if answer.tag != "{%s}GetCardsResponse" % NS["EVT"] or result != "OK":
            raise RuntimeError(f"{server.name} answered {answer.tag} with result {result!r}")
        if schema is not None:
            schema.assertValid(etree.ElementTree(answer))
    return len(data)


LATENCY_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def parse_wrk(text):
    """Requests/s, p50 and p99 in ms, non-2xx count and socket errors from wrk's output."""
    def latency(pct):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        return float(m.group(1)) * LATENCY_UNITS[m.group(2)]

    rps = float(re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       text)
    return {
        "requests": rps,
        "p50": latency(50),
        "p99": latency(99),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(int(g) for g in errors.groups()) if errors else 0,
    }


def wrk(url, seconds, latency):
    args = ["wrk", f"-t{WRK_THREADS}", f"-c{WRK_CONNECTIONS}", f"-d{seconds}s", "-s", LUA]
    if latency:
        args.append("--latency")
    res = subprocess.run(args + [url, "--", REQUEST], capture_output=True, text=True,
                         timeout=seconds + 60)
    if res.returncode != 0:
        raise RuntimeError(f"wrk failed ({res.returncode}): {res.stderr}")
    return res.stdout


def perf_start(pid, work):
    out = os.path.join(work, "perf.data")
    proc = subprocess.Popen(["perf", "record", "-F", "499", "--call-graph", "dwarf", "-p",
                             str(pid), "-o", out],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, out


def perf_report(proc, out):
    """Self time per library, then inclusive time per function (callers included)."""
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    for how in (["--no-children", "--sort", "dso"],
                ["--children", "--sort", "symbol", "--percent-limit", "3"]):
        res = subprocess.run(["perf", "report", "-i", out, "--stdio", "-g", "none", *how],
                             capture_output=True, text=True, timeout=600)
        log("\n".join(line.rstrip(" -") for line in res.stdout.splitlines()
                      if line.strip() and not line.startswith("#")))


def measure(server, args, work, schema, body, profile):
    size = probe(server, body, schema)
    wrk(server.url, args.warmup, latency=False)
    total0, busy0, steal0 = cpu_jiffies()
    cpu0, wrk0 = proc_cpu_seconds(server.pid), children_cpu_seconds()
    t0 = time.monotonic()
    prof = perf_start(server.pid, work) if profile else None
    out = wrk(server.url, args.seconds, latency=True)
    elapsed = time.monotonic() - t0
    cpu1, wrk1 = proc_cpu_seconds(server.pid), children_cpu_seconds()
    total1, busy1, steal1 = cpu_jiffies()
    fig = parse_wrk(out)
    fig["rss"] = proc_status(server.pid, "VmRSS")
    fig["hwm"] = proc_status(server.pid, "VmHWM")
    fig["cpu"] = (cpu1 - cpu0) / elapsed
    fig["wrk_cpu"] = (wrk1 - wrk0) / elapsed
    # Everything else that ran meanwhile (other jobs on the machine, perf): the noise.
    busy = (busy1 - busy0) / os.sysconf("SC_CLK_TCK") / elapsed
    fig["other_cpu"] = max(0.0, busy - fig["cpu"] - fig["wrk_cpu"])
    fig["steal"] = 100.0 * (steal1 - steal0) / max(1, total1 - total0)
    fig["bytes"] = size
    if prof:
        perf_report(*prof)
    log(f"{server.name}: {fig['requests']:.0f} req/s, p50 {fig['p50']:.3f} ms, p99 "
        f"{fig['p99']:.3f} ms, VmRSS {fig['rss'] / MIB:.1f} MiB (VmHWM {fig['hwm'] / MIB:.1f}),"
        f" CPU server {fig['cpu']:.2f} wrk {fig['wrk_cpu']:.2f} other {fig['other_cpu']:.2f} "
        f"cores, steal {fig['steal']:.1f} %, non-2xx "
        f"{fig['non2xx']}, socket errors {fig['socket_errors']}, response {size} B")
    return fig


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"),
                    help="the CMake build directory (default build)")
    ap.add_argument("--seconds", type=int, default=10, help="measured run (default 10)")
    ap.add_argument("--warmup", type=int, default=2, help="warm-up run (default 2)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds of all servers, figures are medians (default 3)")
    ap.add_argument("--profile", action="store_true",
                    help="perf record konnektord during the HTTP run (perturbs its figures)")
    args = ap.parse_args()
    if not (1 <= args.seconds <= 600 and 1 <= args.warmup <= 60 and 1 <= args.rounds <= 20):
        ap.error("--seconds 1..600, --warmup 1..60, --rounds 1..20")

    konnektord = os.path.join(args.build, "konnektord")
    ceiling = os.path.join(args.build, "bench", "bench_http_ceiling")
    for path in (konnektord, ceiling):
        if not os.access(path, os.X_OK):
            log(f"bench/soap: {path} not found; build the 'benchmarks' target first")
            return 2
    if shutil.which("wrk") is None:
        log("bench/soap: wrk not found; run scripts/install-deps")
        return 2
    if args.profile and shutil.which("perf") is None:
        log("bench/soap: perf not found (Debian package linux-perf)")
        return 2
    node = shutil.which("node")
    skip_node = None
    if node is None:
        skip_node = "node not found; run scripts/install-deps"
    elif not os.path.exists(os.path.join(NODE_MODULES, "soap", "package.json")):
        skip_node = f"the npm soap module is missing in {NODE_MODULES}; run scripts/install-deps"
    elif not os.path.exists(EVENT_WSDL):
        skip_node = f"{EVENT_WSDL} not found; set KONN_API_TELEMATIK"
    if skip_node:
        log(f"bench/soap: skipping the node peer: {skip_node}")
    schema = None
    if os.path.exists(EVENT_XSD):
        from lxml import etree

        schema = etree.XMLSchema(etree.parse(EVENT_XSD))
    else:
        log(f"bench/soap: {EVENT_XSD} not found, answers are not schema-checked")
    with open(REQUEST, "rb") as f:
        body = f.read()

    starters = [("ceiling", lambda w: Ceiling(ceiling, w))]
    if not skip_node:
        starters.append(("node", lambda w: NodePeer(node, w)))
    starters += [("konnektord_http", lambda w: Konnektord(konnektord, w, tls=False)),
                 ("konnektord_https", lambda w: Konnektord(konnektord, w, tls=True))]
    results = {name: [] for name, _ in starters}
    log(f"bench/soap: wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS}, {args.warmup} s warm-up, "
        f"{args.seconds} s measured, {args.rounds} round(s), {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="konn-bench-soap-") as work:
        for r in range(args.rounds):
            log(f"bench/soap: round {r + 1}")
            for name, start in starters:
                round_dir = os.path.join(work, f"r{r}-{name}")
                os.mkdir(round_dir)
                server = start(round_dir)
                try:
                    profile = args.profile and name == "konnektord_http" and r == 0
                    results[name].append(measure(server, args, round_dir, schema, body,
                                                 profile))
                finally:
                    server.stop()

    def med(name, key):
        return statistics.median(f[key] for f in results[name])

    ok = True
    for name in results:
        figure(f"{name}_requests", med(name, "requests"), "req/s", 0)
        figure(f"{name}_p50", med(name, "p50"), "ms", 3)
        figure(f"{name}_p99", med(name, "p99"), "ms", 3)
        figure(f"{name}_rss", med(name, "rss") / MIB, "MiB", 1)
        figure(f"{name}_cpu", med(name, "cpu"), "cores", 2)
        figure(f"{name}_cpu_per_request",
               statistics.median(f["cpu"] / f["requests"] * 1e6 for f in results[name]), "us", 1)
        figure(f"{name}_response", med(name, "bytes"), "B", 0)
        figure(f"{name}_other_cpu_max", max(f["other_cpu"] for f in results[name]), "cores", 2)
        figure(f"{name}_steal_max", max(f["steal"] for f in results[name]), "%", 1)
        bad = sum(f["non2xx"] + f["socket_errors"] for f in results[name])
        if bad:
            log(f"bench/soap: {name}: {bad} non-2xx answers or socket errors")
            ok = False

    k_http = med("konnektord_http", "requests")
    if "node" in results:
        figure("ratio_konnektord_vs_node", k_http / med("node", "requests"), "x", 2)
    figure("ratio_konnektord_vs_ceiling", k_http / med("ceiling", "requests"), "x", 2)
    figure("ratio_konnektord_https_vs_http", med("konnektord_https", "requests") / k_http, "x", 2)

    konn = ("konnektord_http", "konnektord_https")
    targets = {
        "half_of_ceiling": k_http >= TARGET_CEILING_SHARE * med("ceiling", "requests"),
        "p99_under_5ms": all(med(n, "p99") < TARGET_P99_MS for n in konn),
        "rss_under_30mb": all(med(n, "rss") < TARGET_RSS_BYTES for n in konn),
    }
    for name, met in targets.items():
        print(f"target_{name}: {'met' if met else 'missed'}", flush=True)
    noisy = [n for n in results if max(f["other_cpu"] for f in results[n]) > NOISE_CPU]
    if noisy:
        log(f"bench/soap: other processes took more than {NOISE_CPU} cores during the runs "
            f"of {', '.join(noisy)}: the figures are not those of a quiet machine")
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        log(f"bench/soap: {e}")
        sys.exit(1)
