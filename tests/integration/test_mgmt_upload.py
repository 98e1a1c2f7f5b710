"""Uploads to the management API without a pre-authentication body limit (issue #6).

Every management request is held to 64 KiB of body before it is authenticated; only an
authenticated upload route (POST /api/v1/update/install-file) reads more, up to 256 MiB,
streamed into DATA/fw/download/ (src/mgmt/upload.c). These tests speak raw HTTP over TLS where
they need to send a head without its whole body."""
import os
import select
import socket
import ssl
import time

import pytest

from conftest import Connector, basic_auth, free_port, scaled, world_template

PATH = "/api/v1/update/install-file"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def conn(tmp_path_factory):
    d = tmp_path_factory.mktemp("upload")
    c = Connector(str(d), free_port(), ("--world-template", world_template()))
    try:
        c.wait_ready()
        c.api("POST", "/api/v1/users", {"name": "rita", "role": "remote",
                                        "password": "correct-horse-1"})
        yield c
    finally:
        c.stop()


def tls(c):
    raw = socket.create_connection(("127.0.0.1", c.port), timeout=scaled(20))
    return c.context().wrap_socket(raw, server_hostname="127.0.0.1")


def head(length, authorization=None, request=f"POST {PATH}"):
    lines = [f"{request} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {length}",
             "Content-Type: application/octet-stream"]
    if authorization:
        lines.append("Authorization: " + authorization)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_reply(s, data=b""):
    """(status, body bytes) of one reply; the connection may close right after it."""
    s.setblocking(True)
    s.settimeout(scaled(20))
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        assert chunk, f"the connection closed before a reply: {data!r}"
        data += chunk
    top, _, body = data.partition(b"\r\n\r\n")
    lines = top.decode().split("\r\n")
    length = next(int(v) for k, _, v in (line.partition(": ") for line in lines[1:])
                  if k.lower() == "content-length")
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), body


def push_until_reply(s, total):
    """Sends up to total body bytes without blocking until the reply starts (or nothing more
    goes out for a while); returns (bytes sent, the reply's first bytes)."""
    s.setblocking(False)
    chunk = b"\0" * 65536
    sent = 0
    idle_until = time.monotonic() + scaled(3)
    while sent < total and time.monotonic() < idle_until:
        readable, writable, _ = select.select([s], [s], [], 0.1)
        if readable:
            try:
                data = s.recv(65536)  # TLS 1.3 session tickets make it readable too
                if data:
                    return sent, data
            except ssl.SSLWantReadError:
                pass
        if writable:
            try:
                sent += s.send(chunk[:min(len(chunk), total - sent)])
                idle_until = time.monotonic() + scaled(3)
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                pass
            except OSError:
                break  # the server answered and closed: the reply is waiting to be read
    return sent, b""


def rss_kib(c):
    with open(f"/proc/{c.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def downloads(c):
    d = os.path.join(c.data_dir, "fw", "download")
    return os.listdir(d) if os.path.isdir(d) else []


def wait_for(predicate, what, seconds=10):
    deadline = time.monotonic() + scaled(seconds)
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("authorization", [None, basic_auth("nobody", "wrong-password-1")],
                         ids=["no-credentials", "bad-credentials"])
def test_unauthenticated_upload_is_refused_without_reading_its_body(conn, authorization):
    before = rss_kib(conn)
    with tls(conn) as s:
        s.sendall(head(10 * MIB, authorization))
        sent, first = push_until_reply(s, 10 * MIB)
        status, body = read_reply(s, first)
    assert status == 401, body
    assert b"bad_credentials" in body
    # The daemon did not buffer the 10 MiB (generous margin for allocator noise).
    assert rss_kib(conn) - before < 4 * 1024, (before, rss_kib(conn))
    assert downloads(conn) == []


def test_upload_by_a_role_the_route_does_not_allow_is_refused_with_403(conn):
    with tls(conn) as s:
        s.sendall(head(4 * MIB, basic_auth("rita", "correct-horse-1")))
        _, first = push_until_reply(s, 4 * MIB)
        status, body = read_reply(s, first)
    assert status == 403, body
    assert downloads(conn) == []


def test_upload_over_the_limit_is_refused_with_413_before_its_body(conn):
    with tls(conn) as s:
        s.sendall(head(300 * MIB, basic_auth("admin", conn.password)))
        status, body = read_reply(s)
    assert status == 413, body
    assert b"too_large" in body


def test_json_body_over_the_default_limit_is_refused_with_413(conn):
    with tls(conn) as s:
        s.sendall(head(128 * 1024, basic_auth("admin", conn.password),
                       "PUT /api/v1/settings/SECURITY_LOG_DAYS"))
        status, _ = read_reply(s)
    assert status == 413


def test_authenticated_upload_larger_than_the_default_limit_reaches_the_installer(conn):
    status, body = conn.request("POST", PATH, raw=os.urandom(2 * MIB), timeout=60)
    # Not a bundle: the updater reads all of it and refuses it (4183), or is not running.
    assert status in (422, 503), body
    if status == 422:
        assert body["error"]["gematik_code"] == 4183
    wait_for(lambda: downloads(conn) == [], "the upload to be removed")


def test_client_gone_mid_upload_leaves_no_file_and_the_daemon_answers(conn):
    with tls(conn) as s:
        s.sendall(head(8 * MIB, basic_auth("admin", conn.password)))
        s.sendall(b"\1" * (2 * MIB))
        wait_for(lambda: downloads(conn) != [], "the upload's file")
    wait_for(lambda: downloads(conn) == [], "the partial upload to be removed")
    assert conn.api("GET", "/api/v1/status")
