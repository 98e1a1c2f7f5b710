"""The virtual PIN pad through konctl (issue #5): `konctl pin show|type|cancel|auto` against
a real daemon whose CardService call waits for the PIN, the auto-PIN setting surviving a
restart, and what reaches the security log (LOG/PIN_OP, never a PIN or card number).

The SOAP calls here are plain HTTP POSTs of hand-written envelopes; the schema checks of the
answers are in tests/interop/test_card_service.py."""
import json
import os
import re
import socket
import ssl
import threading
import time
import tempfile
import urllib.request

import pytest

from conftest import Connector, free_port, scaled, world_template

EXIT_USAGE, EXIT_NOT_FOUND, EXIT_CONFLICT = 2, 7, 8
CARD_NS = "http://ws.gematik.de/conn/CardService/v8.1"


def soap_envelope(operation, handle, pin_ref, user_id="u1"):
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
        f'xmlns:CARD="{CARD_NS}" '
        'xmlns:CCTX="http://ws.gematik.de/conn/ConnectorContext/v2.0" '
        'xmlns:CONN="http://ws.gematik.de/conn/ConnectorCommon/v5.0" '
        'xmlns:CARDCMN="http://ws.gematik.de/conn/CardServiceCommon/v2.0"><soap:Body>'
        f'<CARD:{operation}><CCTX:Context><CONN:MandantId>m1</CONN:MandantId>'
        '<CONN:ClientSystemId>cs1</CONN:ClientSystemId><CONN:WorkplaceId>ws1</CONN:WorkplaceId>'
        f'<CONN:UserId>{user_id}</CONN:UserId></CCTX:Context>'
        f'<CONN:CardHandle>{handle}</CONN:CardHandle><CARDCMN:PinTyp>{pin_ref}</CARDCMN:PinTyp>'
        f'</CARD:{operation}></soap:Body></soap:Envelope>').encode()


def soap(lan_url, operation, handle, pin_ref, user_id="u1"):
    """Posts a CardService operation with the demo context; returns (status, body text)."""
    envelope = soap_envelope(operation, handle, pin_ref, user_id)
    req = urllib.request.Request(lan_url + "/ws/CardService", data=envelope, method="POST",
                                 headers={"Content-Type": "text/xml; charset=utf-8",
                                          "SOAPAction": f'"{CARD_NS}#{operation}"'})
    try:
        with urllib.request.urlopen(req, timeout=scaled(60)) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, ConnectionError) as e:
        return None, str(e)


def pin_result(body):
    m = re.search(r"<CARDCMN:PinResult[^>]*>(\w+)</CARDCMN:PinResult>", body)
    return m.group(1) if m else None


class Waiting:
    """A SOAP call in a thread, waiting for the PIN pad."""

    def __init__(self, *args, **kw):
        self.answer = None
        self.thread = threading.Thread(target=self._run, args=args, kwargs=kw, daemon=True)
        self.thread.start()

    def _run(self, *args, **kw):
        self.answer = soap(*args, **kw)

    def join(self):
        self.thread.join(timeout=scaled(60))
        assert not self.thread.is_alive(), "the SOAP call never came back"
        return self.answer


@pytest.fixture(scope="module")
def shared():
    """One connector for the module (daemon starts are the slow part under ASan); each test
    leaves the PIN pad idle and uses its own PIN objects."""
    port, tls_port = free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="konn-it-pin-") as d:
        c = Connector(d, free_port(), ["--world-template", world_template(), "--lan-http",
                                       f"127.0.0.1:{port}", "--lan-https",
                                       f"127.0.0.1:{tls_port}", "--setting",
                                       "ANCL_TLS_MANDATORY=Disabled", "--setting",
                                       "ANCL_CAUT_MANDATORY=Disabled"])
        try:
            c.wait_ready()
            c.tls_port = tls_port
            yield c, f"http://127.0.0.1:{port}"
        finally:
            c.stop()


@pytest.fixture
def lan(shared):
    c, _ = shared
    yield shared
    assert not c.api("GET", "/control/v1/pinpad/ct1")["waiting"], "a test left the pad busy"


def handle(c, card):
    (entry,) = [x for x in c.api("GET", "/control/v1/cards")["cards"] if x["name"] == card]
    return entry["handle"]


def wait_for_pad(c):
    deadline = time.monotonic() + scaled(20)
    while time.monotonic() < deadline:
        if c.api("GET", "/control/v1/pinpad/ct1")["waiting"]:
            return
        time.sleep(0.02)
    raise AssertionError("the PIN pad never asked")


def test_pin_show_and_type_answer_a_waiting_verify(lan):
    c, url = lan
    res = c.konctl("pin", "show")
    assert res.returncode == 0 and res.stdout.strip() == "ct1: waits for no entry"
    call = Waiting(url, "VerifyPin", handle(c, "hba1"), "PIN.CH")
    wait_for_pad(c)
    res = c.konctl("pin", "show", "--ct", "ct1")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith('ct1: "PIN.CH eingeben" (VerifyPin of PIN.CH on card \'hba1\', '
                                 'step 1 of 1, until ')
    shown = json.loads(c.konctl("pin", "show", "--json").stdout)["pinpads"]
    assert [(p["ct"], p["card"], p["pin"]) for p in shown] == [("ct1", "hba1", "PIN.CH")]
    assert call.thread.is_alive()
    res = c.konctl("pin", "type", "--ct", "ct1", "123456")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "typed on the PIN pad of ct1; the entry is complete"
    status, body = call.join()
    assert status == 200 and pin_result(body) == "OK"


def test_pin_type_takes_one_value_per_step(lan):
    c, url = lan
    call = Waiting(url, "ChangePin", handle(c, "egk1"), "MRPIN.GDD")
    wait_for_pad(c)
    res = c.konctl("pin", "type", "--ct", "ct1", "123456")
    assert res.returncode == 0
    assert '"Neue MRPIN.GDD eingeben"' in res.stdout and "step 2 of 3" in res.stdout
    res = c.konctl("pin", "type", "--ct", "ct1", "7654321", "7654321")
    assert res.returncode == 0, res.stderr
    status, body = call.join()
    assert status == 200 and pin_result(body) == "OK"


def test_pin_type_and_cancel_errors(lan):
    c, url = lan
    res = c.konctl("pin", "type", "--ct", "ct1", "123456")
    assert res.returncode == EXIT_CONFLICT and "waits for no entry" in res.stderr
    assert c.konctl("pin", "type", "--ct", "ct9", "123456").returncode == EXIT_NOT_FOUND
    assert c.konctl("pin", "type", "--ct", "ct1", "12ab").returncode == EXIT_USAGE
    assert c.konctl("pin", "type", "123456").returncode == EXIT_USAGE
    assert c.konctl("pin", "cancel", "--ct", "ct1").returncode == EXIT_CONFLICT
    call = Waiting(url, "VerifyPin", handle(c, "hba1"), "PIN.QES")
    wait_for_pad(c)
    res = c.konctl("pin", "cancel", "--ct", "ct1")
    assert res.returncode == 0 and res.stdout.strip() == "cancelled the PIN entry on ct1"
    status, body = call.join()
    assert status == 500 and "<GERROR:Code>4049</GERROR:Code>" in body


def test_pin_auto_answers_without_typing_and_is_saved(lan):
    c, url = lan
    res = c.konctl("pin", "auto", "--card", "hba1", "on")
    assert res.returncode == 0 and res.stdout.strip() == "auto-PIN of card 'hba1' is on"
    status, body = soap(url, "VerifyPin", handle(c, "hba1"), "PIN.CH")
    assert status == 200 and pin_result(body) == "OK"
    assert c.konctl("pin", "auto", "--card", "nope", "on").returncode == EXIT_NOT_FOUND
    assert c.konctl("pin", "auto", "--card", "hba1", "maybe").returncode == EXIT_USAGE
    with open(os.path.join(c.data_dir, "world", "world.json")) as f:
        cards = {x["name"]: x for x in json.load(f)["cards"]}
    assert cards["hba1"]["auto_pin"] is True and cards["egk1"]["auto_pin"] is False
    # The restart itself (world.json read back) is covered by tests/unit/cards/test_pin.c.
    res = c.konctl("pin", "auto", "--card", "hba1", "off")
    assert res.returncode == 0 and res.stdout.strip() == "auto-PIN of card 'hba1' is off"


def test_wrong_pin_reaches_the_security_log_without_personal_data(lan):
    c, url = lan
    call = Waiting(url, "VerifyPin", handle(c, "egk1"), "MRPIN.DPE")
    wait_for_pad(c)
    assert c.konctl("pin", "type", "--ct", "ct1", "999999").returncode == 0
    status, body = call.join()
    assert pin_result(body) == "REJECTED"
    iccsn = [x for x in c.api("GET", "/control/v1/cards")["cards"] if x["name"] == "egk1"][0][
        "iccsn"]
    deadline = time.monotonic() + scaled(10)
    entries = []
    while not entries and time.monotonic() < deadline:
        entries = c.api("GET", "/api/v1/log?topic=LOG/PIN_OP&limit=10").get("entries", [])
        time.sleep(0.05)
    assert entries, "no LOG/PIN_OP in the security log"
    text = json.dumps(entries)
    assert "REJECTED" in text and "MRPIN.DPE" in text and "VerifyPin" in text
    assert "999999" not in text and iccsn not in text


def test_critical_state_refuses_pin_operations_with_4002(lan):
    c, url = lan
    c.api("POST", "/control/v1/fault/condition",
          {"name": "EC_Security_Log_Not_Writable", "active": True})
    try:
        status, body = soap(url, "GetPinStatus", handle(c, "egk1"), "PIN.CH")
        assert status == 500 and "<GERROR:Code>4002</GERROR:Code>" in body
    finally:
        c.api("POST", "/control/v1/fault/condition",
              {"name": "EC_Security_Log_Not_Writable", "active": False})
    status, body = soap(url, "GetPinStatus", handle(c, "egk1"), "PIN.CH")
    assert status == 200 and "<CARD:PinStatus" in body


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_client_leaving_frees_the_pin_pad(lan, tls):
    """Over TLS the client leaves with the server's session tickets unread, so its kernel
    resets the connection instead of closing it: that must free the pad as well."""
    c, url = lan
    host, port = url.rsplit("/", 1)[-1].split(":")
    body = soap_envelope("VerifyPin", handle(c, "hba1"), "PIN.CH")
    s = socket.create_connection((host, c.tls_port if tls else int(port)), timeout=scaled(10))
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # the transport, not the server's identity, is tested
        s = ctx.wrap_socket(s)
    s.sendall(b"POST /ws/CardService HTTP/1.1\r\nHost: " + host.encode() +
              b"\r\nContent-Type: text/xml; charset=utf-8\r\nSOAPAction: \"\"\r\n"
              b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    wait_for_pad(c)
    s.close()
    deadline = time.monotonic() + scaled(10)
    while c.api("GET", "/control/v1/pinpad/ct1")["waiting"]:
        assert time.monotonic() < deadline, "the PIN pad still waits for a client that left"
        time.sleep(0.02)
    # The pad takes the next entry.
    call = Waiting(url, "VerifyPin", handle(c, "hba1"), "PIN.CH")
    wait_for_pad(c)
    assert c.konctl("pin", "type", "--ct", "ct1", "123456").returncode == 0
    assert pin_result(call.join()[1]) == "OK"


def test_stopping_the_daemon_answers_a_waiting_call(shared):
    """Last in this file: it stops the module's connector."""
    c, url = shared
    call = Waiting(url, "VerifyPin", handle(c, "egk1"), "PIN.CH")
    wait_for_pad(c)
    c.stop()  # exit status 0 and no sanitizer report, or stop() fails
    status, body = call.join()
    # Shutting down, the connector may answer 4001 or just close the connection; the client
    # must not hang either way.
    assert status is None or (status == 500 and "<GERROR:Code>4001</GERROR:Code>" in body)
