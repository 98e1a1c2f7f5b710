"""The web UI's files and its cookie session (docs/web-ui.md), without a browser: security
headers, ETag revalidation, the login with its lockout answer, the CSRF token on every state
change, logout, and a session that ends when its account's password changes. The browser
scenario itself is tests/browser."""
import http.client
import json
import re
import socket

import pytest

from conftest import scaled


@pytest.fixture(scope="module")
def c(small_log_connector):
    return small_log_connector


def call(c, method, path, body=None, headers=None):
    """Returns (status, headers as a dict of lists with lower-case names, body as bytes)."""
    conn = http.client.HTTPSConnection("127.0.0.1", c.port, context=c.context(),
                                       timeout=scaled(30))
    data = json.dumps(body).encode() if body is not None else None
    hdrs = dict(headers or {})
    if data is not None:
        hdrs["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=hdrs)
    resp = conn.getresponse()
    out = {}
    for k, v in resp.getheaders():
        out.setdefault(k.lower(), []).append(v)
    raw = resp.read()
    conn.close()
    return resp.status, out, raw


def login(c, user="admin", password=None):
    """Logs in through /ui/session; returns (cookie header value, csrf token)."""
    status, hdrs, raw = call(c, "POST", "/ui/session",
                             {"user": user, "password": password or c.password},
                             {"X-Konn-CSRF": "login"})
    assert status == 200, raw
    cookie = hdrs["set-cookie"][0]
    return cookie.split(";")[0], json.loads(raw)["csrf"]


def test_page_is_served_with_strict_security_headers(c):
    status, hdrs, raw = call(c, "GET", "/")
    assert status == 200
    assert hdrs["content-type"] == ["text/html; charset=utf-8"]
    csp = hdrs["content-security-policy"][0]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert hdrs["x-frame-options"] == ["DENY"]
    assert hdrs["x-content-type-options"] == ["nosniff"]
    assert b'src="/ui/app.js"' in raw
    for name, ctype in (("app.js", "text/javascript; charset=utf-8"),
                        ("style.css", "text/css; charset=utf-8")):
        status, hdrs, _ = call(c, "GET", "/ui/" + name)
        assert status == 200 and hdrs["content-type"] == [ctype]


def test_an_unchanged_file_answers_304_to_its_etag(c):
    _, hdrs, _ = call(c, "GET", "/ui/app.js")
    etag = hdrs["etag"][0]
    status, _, raw = call(c, "GET", "/ui/app.js", headers={"If-None-Match": etag})
    assert status == 304 and raw == b""
    assert call(c, "GET", "/ui/app.js", headers={"If-None-Match": '"other"'})[0] == 200


def test_unknown_file_and_other_methods_are_refused(c):
    assert call(c, "GET", "/ui/nope.js")[0] == 404
    assert call(c, "POST", "/ui/app.js", {})[0] == 405


def test_login_sets_a_strict_cookie_that_authenticates_the_api(c):
    cookie, csrf = login(c)
    status, hdrs, raw = call(c, "POST", "/ui/session", {"user": "admin", "password": c.password},
                             {"X-Konn-CSRF": "login"})
    attrs = hdrs["set-cookie"][0]
    assert re.match(r"konn_session=[0-9a-f]{64};", attrs)
    for a in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/"):
        assert a in attrs
    status, _, raw = call(c, "GET", "/api/v1/leds", headers={"Cookie": cookie})
    assert status == 200 and json.loads(raw)["power"] == "on"
    status, _, raw = call(c, "GET", "/ui/session", headers={"Cookie": cookie})
    assert status == 200 and json.loads(raw)["csrf"] == csrf


def test_a_login_needs_the_csrf_header(c):
    status, _, raw = call(c, "POST", "/ui/session", {"user": "admin", "password": c.password})
    assert status == 403 and json.loads(raw)["error"]["code"] == "csrf"


def test_a_state_change_needs_the_session_csrf_token(c):
    cookie, csrf = login(c)
    path, body = "/api/v1/settings/SECURITY_LOG_DAYS", {"value": "40"}
    for bad in ({}, {"X-Konn-CSRF": "0" * 64}):
        status, _, raw = call(c, "PUT", path, body, {"Cookie": cookie, **bad})
        assert status == 403 and json.loads(raw)["error"]["code"] == "csrf"
    status, _, raw = call(c, "PUT", path, body, {"Cookie": cookie, "X-Konn-CSRF": csrf})
    assert status == 200 and json.loads(raw)["value"] == "40"


def test_the_ui_gets_no_basic_prompt_and_a_forged_cookie_nothing(c):
    status, hdrs, _ = call(c, "GET", "/api/v1/status", headers={"X-Konn-CSRF": "x"})
    assert status == 401 and "www-authenticate" not in hdrs
    status, hdrs, _ = call(c, "GET", "/api/v1/status")
    assert status == 401 and "www-authenticate" in hdrs
    status, _, raw = call(c, "GET", "/api/v1/status",
                          headers={"Cookie": "konn_session=" + "ab" * 32})
    assert status == 401 and json.loads(raw)["error"]["code"] == "session_ended"


def test_logout_ends_the_session(c):
    cookie, csrf = login(c)
    assert call(c, "DELETE", "/ui/session", headers={"Cookie": cookie})[0] == 403
    status, hdrs, _ = call(c, "DELETE", "/ui/session",
                           headers={"Cookie": cookie, "X-Konn-CSRF": csrf})
    assert status == 200 and "Max-Age=0" in hdrs["set-cookie"][0]
    assert call(c, "GET", "/api/v1/leds", headers={"Cookie": cookie})[0] == 401
    assert call(c, "GET", "/ui/session", headers={"Cookie": cookie})[0] == 401


# The last two change the admin account: they run last (pytest keeps the file's order).
def test_a_new_password_ends_the_accounts_sessions(c):
    cookie, _ = login(c)
    assert call(c, "GET", "/api/v1/leds", headers={"Cookie": cookie})[0] == 200
    c.api("PUT", "/api/v1/users/admin/password", {"password": "second-password"})
    c.password = "second-password"
    assert call(c, "GET", "/api/v1/leds", headers={"Cookie": cookie})[0] == 401


def test_the_locking_failure_says_how_long_the_lock_lasts(c):
    for i in range(4):
        status, _, raw = call(c, "POST", "/ui/session", {"user": "admin", "password": "wrong"},
                              {"X-Konn-CSRF": "login"})
        assert status == 401 and json.loads(raw)["error"]["code"] == "bad_credentials"
    status, _, raw = call(c, "POST", "/ui/session", {"user": "admin", "password": "wrong"},
                          {"X-Konn-CSRF": "login"})
    err = json.loads(raw)["error"]
    assert status == 401 and err["code"] == "locked"
    assert err["retry_after_s"] == 30 and err["locked_until"]


def test_a_client_that_leaves_during_its_login_costs_nothing(start_connector):
    """The login's password check runs on the worker pool; a client that leaves meanwhile
    must cost neither a crash nor a leak (libevent notices the client's absence only when the
    answer is written, and then frees the request itself). The connector is stopped here, so
    a sanitizer report under ASan fails this test."""
    c = start_connector()
    body = json.dumps({"user": "admin", "password": c.password}).encode()
    for _ in range(10):
        conn = http.client.HTTPSConnection("127.0.0.1", c.port, context=c.context(),
                                           timeout=scaled(30))
        conn.request("POST", "/ui/session", body=body,
                     headers={"Content-Type": "application/json", "X-Konn-CSRF": "login"})
        conn.sock.shutdown(socket.SHUT_RDWR)  # gone before the answer
        conn.close()
    cookie, _ = login(c)  # the connector goes on serving logins
    assert cookie.startswith("konn_session=")
    c.stop()
