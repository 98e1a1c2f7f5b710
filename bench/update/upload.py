#!/usr/bin/python3
"""The upload benchmark (issue #6): what a 60 MiB POST /api/v1/update/install-file costs the
connector, unauthenticated and authenticated, for one build or two side by side (--peer, e.g.
a build from before the fix, where every body up to 64 MiB was buffered before authentication).

Figures per build (medians over --rounds), each from a fresh konnektord (--core):
  upload_unauth_peak_mib   growth of the daemon's peak RSS (VmHWM) while a client without
                           credentials pushes 60 MiB at it until it answers
  upload_unauth_reply_ms   until that client has its answer (401)
  upload_unauth_sent_mib   how much of the body the client got to send before it
  upload_auth_peak_mib     growth of the peak RSS for an authenticated 60 MiB upload (random
                           bytes: the updater reads them all and refuses them, 4183)
  upload_auth_reply_ms     until its answer
Run:  flock /tmp/konn-bench.lock /usr/bin/python3 bench/update/upload.py --build build
"""
import argparse
import os
import shutil
import socket
import ssl
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import common  # noqa: E402
from common import figure, median  # noqa: E402

SIZE = 60 * 1024 * 1024
PATH = "/api/v1/update/install-file"


def peak_kib(d):
    with open(f"/proc/{d.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise SystemExit("no VmHWM")


def unauthenticated(d):
    """(ms to the answer, MiB sent); the answer must be 401."""
    raw = socket.create_connection(("127.0.0.1", d.port), timeout=30)
    with d.ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
        t0 = time.monotonic()
        s.sendall((f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {SIZE}\r\n"
                   "\r\n").encode())
        chunk, sent, sending, reply = b"\0" * 65536, 0, True, b""
        s.setblocking(False)
        while b"\r\n" not in reply and time.monotonic() - t0 < 60:
            try:
                data = s.recv(4096)
                if not data:
                    break
                reply += data
                continue
            except ssl.SSLWantReadError:
                pass
            if sending and sent < SIZE:
                try:
                    sent += s.send(chunk)
                    continue
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                    pass
                except OSError:
                    sending = False  # the server answered and closed
            time.sleep(0.001)
        ms = (time.monotonic() - t0) * 1000
    if not reply.startswith(b"HTTP/1.1 401"):
        raise SystemExit(f"unexpected answer {reply[:40]!r}")
    return ms, sent / 2**20


def measure(build, rounds):
    rows = []
    for _ in range(rounds):
        d = common.Daemon(build, tempfile.mkdtemp(prefix="konn-bench-upload-"))
        try:
            d.wait_started()
            d.request("GET", "/api/v1/status")  # a TLS context and a warm daemon
            base = peak_kib(d)
            unauth_ms, sent = unauthenticated(d)
            mid = peak_kib(d)
            body = os.urandom(SIZE)
            t0 = time.monotonic()
            status, _ = d.request("POST", PATH, raw=body, timeout=300)
            auth_ms = (time.monotonic() - t0) * 1000
            if status != 422:
                raise SystemExit(f"the upload answered {status}")
            rows.append(((mid - base) / 1024, unauth_ms, sent, (peak_kib(d) - mid) / 1024,
                         auth_ms))
        finally:
            d.stop()
            shutil.rmtree(d.data_dir, ignore_errors=True)
    return [median(r[i] for r in rows) for i in range(5)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--peer", help="another build directory, measured in the same run")
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    print(f"# load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} cpus", flush=True)
    builds = [("", a.build)] + ([("peer_", a.peer)] if a.peer else [])
    results = {}
    for prefix, build in builds:
        results[prefix] = measure(build, a.rounds)
        unauth_peak, unauth_ms, sent, auth_peak, auth_ms = results[prefix]
        figure(f"{prefix}upload_unauth_peak_mib", unauth_peak, "MiB", 1)
        figure(f"{prefix}upload_unauth_reply_ms", unauth_ms, "ms")
        figure(f"{prefix}upload_unauth_sent_mib", sent, "MiB", 1)
        figure(f"{prefix}upload_auth_peak_mib", auth_peak, "MiB", 1)
        figure(f"{prefix}upload_auth_reply_ms", auth_ms, "ms")
    if a.peer:
        figure("ratio_auth_reply_peer_to_build", results["peer_"][4] / results[""][4], "x", 2)


if __name__ == "__main__":
    main()
