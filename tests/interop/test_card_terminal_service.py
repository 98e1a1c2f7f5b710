"""CardTerminalService v1.1 over the LAN interface (issue #5): RequestCard and EjectCard,
called with python3-zeep through the gematik CardTerminalService.wsdl and with the npm soap
package, over plain HTTP. Every response is validated against CardTerminalService.xsd,
every fault against TelematikError.xsd.

A RequestCard for an empty slot waits: the test holds the call in a thread, sees the display
text through the control API (and konctl), and answers it with `konctl card insert`; another
waits out its TimeOut on the virtual clock (4094); one whose client leaves frees the
terminal."""
import threading
import time

import pytest

from conftest import DEMO_CONTEXT, NS, have_konctl, scaled
from service_client import (CT_SERVICE, CTS_NS, ServiceClient, node_body, node_missing,
                            run_node)


# Over plain HTTP only (test_certificate_service.py runs over HTTPS): the transports
# themselves are covered by the EventService tests, and one connector per module keeps the
# run short. A client leaving over TLS is covered by tests/unit/soap/test_server.c and
# tests/integration/test_pin.py.
pytestmark = pytest.mark.parametrize("lan", ["http"], indirect=True, scope="module")


@pytest.fixture(scope="module")
def cts(lan):
    return ServiceClient(lan, CT_SERVICE)


def slot(ct, n):
    return {"CtId": ct, "SlotId": n}


def display(lan, ct="ct1"):
    return lan.c.api("GET", f"/control/v1/terminals/{ct}")["display"]


def card_in(lan, ct, n):
    for t in lan.c.api("GET", "/control/v1/terminals")["terminals"]:
        for c in t["cards"]:
            if t["id"] == ct and c["slot"] == n:
                return c
    return None


def wait_for(pred, what, timeout=10):
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Pending:
    """A SOAP call made in a thread; .result() joins it."""

    def __init__(self, fn):
        self.value = None
        self.error = None
        self.thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self.thread.start()

    def _run(self, fn):
        try:
            self.value = fn()
        except BaseException as e:  # noqa: B902 - re-raised in the test's thread
            self.error = e

    def result(self, timeout=30):
        self.thread.join(scaled(timeout))
        assert not self.thread.is_alive(), "the call did not end"
        if self.error:
            raise self.error
        return self.value


def test_request_card_answers_at_once_for_an_inserted_card(cts, lan):
    result, body = cts.call("RequestCard", Context=DEMO_CONTEXT, Slot=slot("ct1", 2),
                            CardType="HBA")
    assert body.findtext(f"{{{CTS_NS}}}AlreadyInserted") == "true"
    assert body.findtext("CARD:Card/CARDCMN:CardType", None, NS) == "HBA"
    assert body.findtext("CARD:Card/CARDCMN:SlotId", None, NS) == "2"
    assert display(lan) == "", "an answered RequestCard leaves the display idle"


def test_request_card_of_the_wrong_type_is_refused(cts):
    assert cts.fault("RequestCard", Context=DEMO_CONTEXT, Slot=slot("ct1", 1),
                     CardType="EGK") == 4051


def test_request_card_checks_context_terminal_and_slot(cts):
    assert cts.fault("RequestCard", Context=dict(DEMO_CONTEXT, MandantId="nobody"),
                     Slot=slot("ct1", 1)) == 4004
    assert cts.fault("RequestCard", Context=DEMO_CONTEXT, Slot=slot("ct9", 1)) == 4007
    assert cts.fault("RequestCard", Context=DEMO_CONTEXT, Slot=slot("ct1", 9)) == 4000


def test_request_card_waits_until_a_card_is_inserted(cts, lan):
    lan.remove("ct1", 3)
    pending = Pending(lambda: cts.call("RequestCard", Context=DEMO_CONTEXT,
                                       Slot=slot("ct1", 3), CardType="EGK",
                                       DisplayMsg="Bitte eGK stecken", TimeOut=60))
    # The terminal shows the text while the call waits (control API and konctl).
    wait_for(lambda: display(lan) == "Bitte eGK stecken", "the display text")
    if have_konctl():
        shown = lan.c.konctl("terminal", "show", "ct1", check=True).stdout
        assert "Bitte eGK stecken" in shown
        lan.c.konctl("card", "insert", "--ct", "ct1", "--slot", "3", "egk1", check=True)
    else:
        lan.insert("ct1", 3, "egk1")
    _, body = pending.result()
    assert body.findtext(f"{{{CTS_NS}}}AlreadyInserted") == "false"
    assert body.findtext("CARD:Card/CARDCMN:CardType", None, NS) == "EGK"
    assert body.findtext("CARD:Card/CONN:CardHandle", None, NS) == card_in(lan, "ct1", 3)["handle"]
    assert display(lan) == ""


def test_request_card_times_out_on_the_connector_clock(cts, lan):
    pending = Pending(lambda: cts.fault("RequestCard", Context=DEMO_CONTEXT,
                                        Slot=slot("ct1", 4), TimeOut=30))
    wait_for(lambda: display(lan) != "", "the default display text")
    assert display(lan) == "Bitte Karte stecken"
    # A second request at the same terminal finds the display busy.
    assert cts.fault("RequestCard", Context=DEMO_CONTEXT, Slot=slot("ct1", 4)) == 4060
    lan.c.api("POST", "/control/v1/clock/advance", {"by": "31s"})
    assert pending.result() == 4094
    assert display(lan) == ""


def test_request_card_of_a_client_that_leaves_ends_cleanly(cts, lan):
    import http.client

    envelope = (
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:CCTX="http://ws.gematik.de/conn/ConnectorContext/v2.0" '
        'xmlns:CONN="http://ws.gematik.de/conn/ConnectorCommon/v5.0" '
        'xmlns:CARDCMN="http://ws.gematik.de/conn/CardServiceCommon/v2.0" '
        f'xmlns:CTS="{CTS_NS}"><soap:Body><CTS:RequestCard><CCTX:Context>'
        '<CONN:MandantId>m1</CONN:MandantId><CONN:ClientSystemId>cs1</CONN:ClientSystemId>'
        '<CONN:WorkplaceId>ws1</CONN:WorkplaceId></CCTX:Context><CTS:Slot>'
        '<CARDCMN:CtId>ct1</CARDCMN:CtId><CARDCMN:SlotId>4</CARDCMN:SlotId></CTS:Slot>'
        '<CTS:DisplayMsg>Gleich weg</CTS:DisplayMsg><CTS:TimeOut>600</CTS:TimeOut>'
        '</CTS:RequestCard></soap:Body></soap:Envelope>')
    port = int(lan.base_url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=scaled(30))
    conn.request("POST", CT_SERVICE["path"], envelope.encode(),
                 {"Content-Type": "text/xml; charset=utf-8"})
    wait_for(lambda: display(lan) == "Gleich weg", "the display text")
    conn.close()  # the client goes away without waiting for the answer
    wait_for(lambda: display(lan) == "", "the display to clear after the client left")
    # The terminal is free again: a new request is not refused as busy.
    pending = Pending(lambda: cts.fault("RequestCard", Context=DEMO_CONTEXT,
                                        Slot=slot("ct1", 4), TimeOut=5))
    wait_for(lambda: display(lan) != "", "the next request's display text")
    lan.c.api("POST", "/control/v1/clock/advance", {"by": "6s"})
    assert pending.result() == 4094


def test_request_card_ends_when_the_terminal_disconnects(cts, lan):
    pending = Pending(lambda: cts.fault("RequestCard", Context=DEMO_CONTEXT,
                                        Slot=slot("ct1", 4), TimeOut=60))
    wait_for(lambda: display(lan) != "", "the display text")
    lan.c.api("PUT", "/control/v1/terminals/ct1", {"connected": False})
    try:
        assert pending.result() == 4040
    finally:
        lan.c.api("PUT", "/control/v1/terminals/ct1", {"connected": True})
    # The demo cards do not come back by themselves: put them in again for later tests.
    for n, card in ((1, "smcb1"), (2, "hba1"), (3, "egk1")):
        if card_in(lan, "ct1", n) is None:
            lan.insert("ct1", n, card)


def test_critical_state_stops_request_and_eject(cts, lan):
    lan.c.api("POST", "/control/v1/fault/condition",
              {"name": "EC_Security_Log_Not_Writable", "active": True})
    try:
        assert cts.fault("RequestCard", Context=DEMO_CONTEXT, Slot=slot("ct1", 1)) == 4002
        assert cts.fault("EjectCard", Context=DEMO_CONTEXT, Slot=slot("ct1", 1)) == 4002
    finally:
        lan.c.api("POST", "/control/v1/fault/condition",
                  {"name": "EC_Security_Log_Not_Writable", "active": False})
    assert card_in(lan, "ct1", 1)["card"] == "smcb1"


def test_eject_card_by_handle_and_by_slot(cts, lan):
    handle = card_in(lan, "ct1", 3)["handle"]
    cts.call("EjectCard", Context=DEMO_CONTEXT, CardHandle=handle)
    assert card_in(lan, "ct1", 3) is None
    # The handle died with the card.
    assert cts.fault("EjectCard", Context=DEMO_CONTEXT, CardHandle=handle) == 4008
    lan.insert("ct1", 3, "egk1")
    cts.call("EjectCard", Context=DEMO_CONTEXT, Slot=slot("ct1", 3))
    assert card_in(lan, "ct1", 3) is None
    # An empty slot: nothing to do, OK.
    cts.call("EjectCard", Context=DEMO_CONTEXT, Slot=slot("ct1", 3))
    lan.insert("ct1", 3, "egk1")


def test_connector_sds_lists_the_card_terminal_service(cts, lan):
    from lxml import etree

    r = cts.session.get(lan.base_url + "/connector.sds", timeout=scaled(30))
    assert r.status_code == 200
    names = [s.get("Name") for s in etree.fromstring(r.content).iter("{*}Service")]
    assert "CardTerminalService" in names and "CertificateService" in names


@pytest.mark.skipif(node_missing() is not None, reason=node_missing() or "")
def test_node_soap_calls_both_operations(lan):
    from lxml import etree

    from service_client import API_TELEMATIK, schema
    import os

    calls = [["RequestCard", {"Slot": slot("ct1", 1), "CardType": "SMC-B"}],
             ["EjectCard", {"Slot": slot("ct1", 4)}]]
    out = run_node(lan, CT_SERVICE, calls)
    assert [c["operation"] for c in out] == ["RequestCard", "EjectCard"]
    xsd = schema(os.path.join(API_TELEMATIK, "conn", CT_SERVICE["xsd"]))
    for c in out:
        assert c["ok"], c
        request, response = node_body(c["request"]), node_body(c["response"])
        xsd.assertValid(etree.ElementTree(request))
        xsd.assertValid(etree.ElementTree(response))
        assert response.tag == f"{{{CTS_NS}}}{c['operation']}Response"
    first = node_body(out[0]["response"])
    assert first.findtext(f"{{{CTS_NS}}}AlreadyInserted") == "true"
    assert first.findtext("CARD:Card/CARDCMN:CardType", None, NS) == "SMC-B"
