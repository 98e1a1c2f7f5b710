"""CardService v8.1.2 over the LAN interface (issue #5): VerifyPin, ChangePin, GetPinStatus,
UnblockPin, EnablePin and DisablePin, called through the gematik CardService_v8_1_2.wsdl with
zeep and with the npm `soap` package, over HTTP and HTTPS (the `lan` fixture runs every test
once per transport). Every response is validated against CardService_v8_1_3.xsd (the schema
that WSDL imports; CardService.xsd is 8.1.0 and has no EnablePin), every fault against
TelematikError.xsd.

PINs are typed on the virtual PIN pad of terminal ct1 through the control API (or konctl)
while the SOAP call waits in a thread. The demo practice: Mandant m1, client system cs1,
workplace ws1, ct1 holding smcb1 (slot 1), hba1 (2) and egk1 (3); every PIN is 123456, every
PUK 12345678. Each test uses its own PIN object (or restores what it changed), so the tests
of a module share one connector."""
import json
import os
import shutil
import subprocess
import threading
import time

import pytest

from conftest import API_TELEMATIK, DEMO_CONTEXT, ERROR_XSD, HERE, NS, have_konctl, scaled, schema

CARD_WSDL = os.path.join(API_TELEMATIK, "conn", "CardService_v8_1_2.wsdl")
CARD_XSD = os.path.join(API_TELEMATIK, "conn", "CardService_v8_1_3.xsd")
CARD_BINDING = "{http://ws.gematik.de/conn/CardService/WSDL/v8.1}CardServiceBinding"
OPERATIONS = ["GetPinStatus", "VerifyPin", "ChangePin", "UnblockPin", "DisablePin", "EnablePin"]
CTX = DEMO_CONTEXT
HBA_CTX = {**DEMO_CONTEXT, "UserId": "user-1"}
PIN, PUK = "123456", "12345678"


class CardServiceClient:
    """zeep on CardService_v8_1_2.wsdl; every raw response validated against the XSD."""

    def __init__(self, lan):
        import requests
        from lxml import etree
        from zeep import Settings
        from zeep.transports import Transport

        self.lan = lan
        self.etree = etree
        self.local = threading.local()
        session = requests.Session()
        session.trust_env = False
        session.verify = lan.ca_bundle if lan.tls else True
        session.cert = lan.client_cert
        self.session = session
        self.client_args = (Settings(forbid_entities=False),
                            Transport(session=session, timeout=scaled(120)))
        self.schema = schema(CARD_XSD)

    def _service(self):
        """One zeep client per thread: the history of a waiting call stays its own."""
        from zeep import Client
        from zeep.plugins import HistoryPlugin

        if not hasattr(self.local, "service"):
            self.local.history = HistoryPlugin()
            settings, transport = self.client_args
            client = Client(CARD_WSDL, settings=settings, transport=transport,
                            plugins=[self.local.history])
            self.local.service = client.create_service(CARD_BINDING,
                                                       self.lan.base_url + "/ws/CardService")
        return self.local.service

    def _last_body(self):
        raw = self.etree.tostring(self.local.history.last_received["envelope"])
        return self.etree.fromstring(raw).find("soap:Body", NS)[0]

    def call(self, operation, **kw):
        """Returns the response element (validated) or, for a fault, the gematik code."""
        from zeep.exceptions import Fault

        service = self._service()
        try:
            getattr(service, operation)(**kw)
        except Fault:
            body = self._last_body()
            assert body.tag == "{%s}Fault" % NS["soap"]
            error = body.find(".//GERROR:Error", NS)
            schema(ERROR_XSD).assertValid(self.etree.ElementTree(error))
            return int(error.findall("GERROR:Trace", NS)[-1].findtext("GERROR:Code", None, NS))
        body = self._last_body()
        assert body.tag == "{%s}%sResponse" % (NS["CARD"], operation)
        assert body[0].tag == "{%s}Status" % NS["CONN"], "CONN:Status must come first"
        assert body.findtext("CONN:Status/CONN:Result", None, NS) == "OK"
        self.schema.assertValid(self.etree.ElementTree(body))
        return body


def result_of(body):
    assert not isinstance(body, int), f"expected a response, got gematik error {body}"
    return (body.findtext("CARDCMN:PinResult", None, NS),
            int(body.findtext("CARDCMN:LeftTries", "-1", NS)))


def status_of(body):
    assert not isinstance(body, int), f"expected a response, got gematik error {body}"
    return body.findtext("CARD:PinStatus", None, NS), int(body.findtext("CARD:LeftTries", "-1",
                                                                        NS))


@pytest.fixture(scope="module")
def cs(lan):
    if not os.path.exists(CARD_WSDL):
        pytest.skip(f"{CARD_WSDL} not found")
    return CardServiceClient(lan)


def handle(lan, card):
    cards = lan.c.api("GET", "/control/v1/cards")["cards"]
    (c,) = [c for c in cards if c["name"] == card]
    assert c["handle"], f"{card} is not inserted"
    return c["handle"]


def pad(lan, ct="ct1"):
    return lan.c.api("GET", f"/control/v1/pinpad/{ct}")


def wait_for_pad(lan, ct="ct1", timeout=20):
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        p = pad(lan, ct)
        if p["waiting"]:
            return p
        time.sleep(0.02)
    raise AssertionError(f"the PIN pad of {ct} never asked for a PIN")


def type_pin(lan, digits, ct="ct1"):
    return lan.c.api("POST", f"/control/v1/pinpad/{ct}/type", {"pin": digits})


class Pending:
    """A SOAP call running in a thread while the test drives the PIN pad."""

    def __init__(self, cs, operation, **kw):
        self.result = None
        self.error = None
        self.thread = threading.Thread(target=self._run, args=(cs, operation, kw), daemon=True)
        self.thread.start()

    def _run(self, cs, operation, kw):
        try:
            self.result = cs.call(operation, **kw)
        except Exception as e:  # reported by join()
            self.error = e

    def join(self):
        self.thread.join(timeout=scaled(60))
        assert not self.thread.is_alive(), "the SOAP call did not come back"
        if self.error:
            raise self.error
        return self.result


def typed(cs, lan, operation, entries, **kw):
    """Calls operation and types entries (one per PIN pad step) while it waits."""
    call = Pending(cs, operation, **kw)
    for digits in entries:
        wait_for_pad(lan)
        type_pin(lan, digits)
    return call.join()


def set_pin_state(lan, card, pin, state):
    lan.c.api("PUT", f"/control/v1/cards/{card}/pins/{pin}", {"state": state})


# ---- the tests -------------------------------------------------------------------------------

def test_connector_sds_lists_the_card_service(cs, lan):
    r = cs.session.get(lan.base_url + "/connector.sds", timeout=scaled(30))
    assert r.status_code == 200
    from lxml import etree

    doc = etree.fromstring(r.content)
    services = {s.get("Name"): s for s in doc.iter("{*}Service")}
    assert "CardService" in services and "EventService" in services
    versions = [v.get("Version") for v in services["CardService"].iter("{*}Version")]
    assert versions == ["8.1.2"]


def test_get_pin_status_of_each_demo_card(cs, lan):
    egk, hba, smcb = handle(lan, "egk1"), handle(lan, "hba1"), handle(lan, "smcb1")
    assert status_of(cs.call("GetPinStatus", Context=CTX, CardHandle=egk,
                             PinTyp="PIN.CH")) == ("VERIFIABLE", 3)
    assert status_of(cs.call("GetPinStatus", Context=HBA_CTX, CardHandle=hba,
                             PinTyp="PIN.QES")) == ("VERIFIABLE", 3)
    assert status_of(cs.call("GetPinStatus", Context=CTX, CardHandle=smcb,
                             PinTyp="PIN.SMC"))[0] in ("VERIFIABLE", "VERIFIED")


def test_verify_pin_waits_until_the_pin_is_typed(cs, lan):
    hba = handle(lan, "hba1")
    call = Pending(cs, "VerifyPin", Context=HBA_CTX, CardHandle=hba, PinTyp="PIN.CH")
    shown = wait_for_pad(lan)
    assert (shown["card"], shown["pin"], shown["operation"]) == ("hba1", "PIN.CH", "VerifyPin")
    assert shown["display"] == "PIN.CH eingeben" and shown["step"] == 1
    assert call.thread.is_alive(), "VerifyPin answered before the PIN was typed"
    if have_konctl():
        res = lan.c.konctl("pin", "type", "--ct", "ct1", PIN)
        assert res.returncode == 0, res.stderr
    else:
        type_pin(lan, PIN)
    assert result_of(call.join()) == ("OK", 3)
    assert not pad(lan)["waiting"]
    # TIP1-A_4560: the HBA session is per client system and user.
    assert status_of(cs.call("GetPinStatus", Context=HBA_CTX, CardHandle=hba,
                             PinTyp="PIN.CH"))[0] == "VERIFIED"
    other = {**HBA_CTX, "UserId": "user-2"}
    assert status_of(cs.call("GetPinStatus", Context=other, CardHandle=hba,
                             PinTyp="PIN.CH"))[0] == "VERIFIABLE"


def test_three_wrong_pins_block_and_the_puk_unblocks(cs, lan):
    egk = handle(lan, "egk1")
    args = dict(Context=CTX, CardHandle=egk, PinTyp="MRPIN.DPE")
    assert result_of(typed(cs, lan, "VerifyPin", ["000000"], **args)) == ("REJECTED", 2)
    assert result_of(typed(cs, lan, "VerifyPin", ["111111"], **args)) == ("REJECTED", 1)
    assert result_of(typed(cs, lan, "VerifyPin", ["222222"], **args)) == ("NOWBLOCKED", 0)
    # Blocked: answered at once, technically OK.
    assert result_of(cs.call("VerifyPin", **args)) == ("WASBLOCKED", 0)
    assert status_of(cs.call("GetPinStatus", **args)) == ("BLOCKED", 0)
    assert cs.call("EnablePin", **args) == 4063
    pending = Pending(cs, "UnblockPin", **args)
    assert wait_for_pad(lan)["display"] == "PUK zu MRPIN.DPE eingeben"
    type_pin(lan, PUK)
    assert result_of(pending.join()) == ("OK", 3)
    assert status_of(cs.call("GetPinStatus", **args)) == ("VERIFIABLE", 3)
    assert result_of(typed(cs, lan, "VerifyPin", [PIN], **args)) == ("OK", 3)


def test_smcb_verified_for_m1_is_not_verified_for_m2(cs, lan):
    c = lan.c
    if c.request("POST", "/api/v1/infomodel/mandant", {"id": "m2"})[0] == 201:
        for rel, a, b in (("mandant-client-system", "m2", "cs1"),
                          ("mandant-workplace", "m2", "ws1")):
            c.api("POST", "/api/v1/infomodel/relations", {"relation": rel, "a": a, "b": b})
    smcb = handle(lan, "smcb1")
    m2 = {**CTX, "MandantId": "m2"}
    assert result_of(typed(cs, lan, "VerifyPin", [PIN], Context=CTX, CardHandle=smcb,
                           PinTyp="PIN.SMC")) == ("OK", 3)
    assert status_of(cs.call("GetPinStatus", Context=CTX, CardHandle=smcb,
                             PinTyp="PIN.SMC"))[0] == "VERIFIED"
    assert status_of(cs.call("GetPinStatus", Context=m2, CardHandle=smcb,
                             PinTyp="PIN.SMC"))[0] == "VERIFIABLE"
    # A wrong PIN for m2 leaves m1's state alone; the counter is the card's.
    assert result_of(typed(cs, lan, "VerifyPin", ["999999"], Context=m2, CardHandle=smcb,
                           PinTyp="PIN.SMC")) == ("REJECTED", 2)
    assert status_of(cs.call("GetPinStatus", Context=CTX, CardHandle=smcb,
                             PinTyp="PIN.SMC")) == ("VERIFIED", 2)
    assert result_of(typed(cs, lan, "VerifyPin", [PIN], Context=m2, CardHandle=smcb,
                           PinTyp="PIN.SMC")) == ("OK", 3)


def test_change_pin_and_its_refusals(cs, lan):
    egk = handle(lan, "egk1")
    args = dict(Context=CTX, CardHandle=egk, PinTyp="MRPIN.GDD")
    assert typed(cs, lan, "ChangePin", [PIN, "654321", "654320"], **args) == 4067
    assert typed(cs, lan, "ChangePin", [PIN, "12345", "12345"], **args) == 4068
    assert result_of(typed(cs, lan, "ChangePin", [PIN, "654321", "654321"], **args)) == ("OK", 3)
    assert result_of(typed(cs, lan, "VerifyPin", [PIN], **args)) == ("REJECTED", 2)
    assert result_of(typed(cs, lan, "ChangePin", ["654321", PIN, PIN], **args)) == ("OK", 3)


def test_transport_and_empty_pins_must_be_changed_first(cs, lan):
    egk = handle(lan, "egk1")
    set_pin_state(lan, "egk1", "MRPIN.AMTS", "transport")
    args = dict(Context=CTX, CardHandle=egk, PinTyp="MRPIN.AMTS")
    assert status_of(cs.call("GetPinStatus", **args))[0] == "TRANSPORT_PIN"
    assert result_of(cs.call("VerifyPin", **args)) == ("TRANSPORT_PIN", 3)
    call = Pending(cs, "ChangePin", **args)
    assert wait_for_pad(lan)["display"] == "Transport-PIN MRPIN.AMTS eingeben"
    for digits in (PIN, "246810", "246810"):
        wait_for_pad(lan)
        type_pin(lan, digits)
    assert result_of(call.join()) == ("OK", 3)
    assert status_of(cs.call("GetPinStatus", **args))[0] == "VERIFIED"

    set_pin_state(lan, "egk1", "PIN.AMTS_REP", "empty")
    args = dict(Context=CTX, CardHandle=egk, PinTyp="PIN.AMTS_REP")
    assert status_of(cs.call("GetPinStatus", **args))[0] == "EMPTY_PIN"
    assert cs.call("VerifyPin", **args) == 4065
    assert cs.call("UnblockPin", **args) == 4065
    assert result_of(typed(cs, lan, "ChangePin", ["135790", "135790"], **args)) == ("OK", 3)


def test_unblock_with_a_new_pin_and_not_for_pin_qes(cs, lan):
    egk, hba = handle(lan, "egk1"), handle(lan, "hba1")
    set_pin_state(lan, "egk1", "MRPIN.OSE", "blocked")
    args = dict(Context=CTX, CardHandle=egk, PinTyp="MRPIN.OSE")
    assert result_of(typed(cs, lan, "UnblockPin", [PUK, "112233", "112233"], SetNewPin=True,
                           **args)) == ("OK", 3)
    assert result_of(typed(cs, lan, "VerifyPin", ["112233"], **args)) == ("OK", 3)
    assert cs.call("UnblockPin", Context=HBA_CTX, CardHandle=hba, PinTyp="PIN.QES",
                   SetNewPin=True) == 4085
    set_pin_state(lan, "egk1", "MRPIN.OSE", "puk-blocked")
    assert cs.call("UnblockPin", **args) == 4064


def test_disable_and_enable_the_egk_pin(cs, lan):
    egk, hba = handle(lan, "egk1"), handle(lan, "hba1")
    args = dict(Context=CTX, CardHandle=egk, PinTyp="PIN.CH")
    assert result_of(typed(cs, lan, "DisablePin", [PIN], **args)) == ("OK", 3)
    assert status_of(cs.call("GetPinStatus", **args))[0] == "DISABLED"
    assert result_of(cs.call("VerifyPin", **args)) == ("OK", 3)  # nothing to type
    assert result_of(typed(cs, lan, "EnablePin", [PIN], **args)) == ("OK", 3)
    assert status_of(cs.call("GetPinStatus", **args))[0] == "VERIFIED"
    assert cs.call("DisablePin", Context=HBA_CTX, CardHandle=hba, PinTyp="PIN.CH") == 4085


def test_context_and_reference_refusals(cs, lan):
    egk, hba = handle(lan, "egk1"), handle(lan, "hba1")
    assert cs.call("VerifyPin", Context=CTX, CardHandle=egk, PinTyp="PIN.NOPE") == 4072
    assert cs.call("VerifyPin", Context=CTX, CardHandle=hba, PinTyp="PIN.CH") == 4003
    assert cs.call("GetPinStatus", Context=CTX, CardHandle="no-such-handle",
                   PinTyp="PIN.CH") == 4008


def test_timeout_on_the_virtual_clock_is_4043(cs, lan):
    hba = handle(lan, "hba1")
    call = Pending(cs, "VerifyPin", Context=HBA_CTX, CardHandle=hba, PinTyp="PIN.QES")
    wait_for_pad(lan)
    lan.c.api("POST", "/control/v1/clock/advance", {"by": "61s"})
    assert call.join() == 4043
    assert not pad(lan)["waiting"]


def test_one_entry_per_terminal_and_cancel(cs, lan):
    egk, hba = handle(lan, "egk1"), handle(lan, "hba1")
    first = Pending(cs, "VerifyPin", Context=HBA_CTX, CardHandle=hba, PinTyp="PIN.QES")
    wait_for_pad(lan)
    assert cs.call("VerifyPin", Context=CTX, CardHandle=egk, PinTyp="PIN.CH") == 4060
    lan.c.api("POST", "/control/v1/pinpad/ct1/cancel")
    assert first.join() == 4049


def test_auto_pin_answers_without_typing(cs, lan):
    smcb = handle(lan, "smcb1")
    lan.c.api("PUT", "/control/v1/cards/smcb1/auto-pin", {"enabled": True})
    try:
        assert result_of(cs.call("VerifyPin", Context=CTX, CardHandle=smcb,
                                 PinTyp="PIN.SMC")) == ("OK", 3)
    finally:
        lan.c.api("PUT", "/control/v1/cards/smcb1/auto-pin", {"enabled": False})


def test_pulling_the_card_ends_the_entry_and_the_terminal_stays_usable(cs, lan):
    egk = handle(lan, "egk1")
    call = Pending(cs, "VerifyPin", Context=CTX, CardHandle=egk, PinTyp="MRPIN.NFD_READ")
    wait_for_pad(lan)
    lan.remove("ct1", 3)
    assert call.join() == 4008
    lan.insert("ct1", 3, "egk1")
    egk = handle(lan, "egk1")
    assert result_of(typed(cs, lan, "VerifyPin", [PIN], Context=CTX, CardHandle=egk,
                           PinTyp="MRPIN.NFD_READ")) == ("OK", 3)


# ---- the same operations through node-soap ---------------------------------------------------

NODE_DIR = os.path.join(HERE, "node")


def node_missing():
    if shutil.which("node") is None:
        return "node not found; run scripts/install-deps"
    if not os.path.exists(os.path.join(NODE_DIR, "node_modules", "soap", "package.json")):
        return "the npm soap module is not installed; run scripts/install-deps (npm ci)"
    return None


@pytest.fixture(scope="module")
def node_calls(cs, lan):
    """card_client.js makes all six calls on egk1's PIN.CH with auto-PIN on; this side types
    the new PIN of ChangePin (the same PIN again) when the pad asks for it."""
    if node_missing():
        pytest.skip(node_missing())
    egk = handle(lan, "egk1")
    lan.c.api("PUT", "/control/v1/cards/egk1/auto-pin", {"enabled": True})
    args = [shutil.which("node"), os.path.join(NODE_DIR, "card_client.js"),
            lan.base_url + "/ws/CardService", "--handle", egk]
    if lan.tls:
        args += ["--ca", lan.ca_bundle, "--pfx", lan.client_p12, "--passphrase",
                 lan.client_p12_password]
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["KONN_API_TELEMATIK"] = API_TELEMATIK
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + scaled(60)
        while proc.poll() is None and time.monotonic() < deadline:
            if pad(lan)["waiting"]:
                type_pin(lan, PIN)
            time.sleep(0.02)
        out, err = proc.communicate(timeout=scaled(60))
    finally:
        lan.c.api("PUT", "/control/v1/cards/egk1/auto-pin", {"enabled": False})
    assert proc.returncode == 0, f"card_client.js failed:\n{out}\n{err}"
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def body_child(xml_text):
    from lxml import etree

    envelope = etree.fromstring(xml_text.encode("utf-8"))
    return envelope.find("soap:Body", NS)[0]


def test_node_soap_makes_all_six_calls(node_calls):
    assert [c["operation"] for c in node_calls] == OPERATIONS
    assert [(c["operation"], c.get("error")) for c in node_calls if not c["ok"]] == []


@pytest.mark.parametrize("operation", OPERATIONS)
def test_node_soap_request_and_response_are_schema_valid(node_calls, operation):
    from lxml import etree

    (call,) = [c for c in node_calls if c["operation"] == operation]
    request = body_child(call["request"])
    assert request.tag == "{%s}%s" % (NS["CARD"], operation)
    schema(CARD_XSD).assertValid(etree.ElementTree(request))
    body = body_child(call["response"])
    assert body.tag == "{%s}%sResponse" % (NS["CARD"], operation)
    schema(CARD_XSD).assertValid(etree.ElementTree(body))
    if operation == "GetPinStatus":
        assert body.findtext("CARD:PinStatus", None, NS) in ("VERIFIABLE", "VERIFIED")
    else:
        assert body.findtext("CARDCMN:PinResult", None, NS) == "OK"
