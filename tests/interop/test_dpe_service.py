"""NFDM's DPEService v1.0 over the LAN interface (docs/nfdm.md), called with zeep through the
gematik conn/nfds/DPEService.wsdl: every response is validated against DPEService.xsd (its
Status is DPE:Status, not CONN:Status), every fault against TelematikError.xsd, and the
document ReadDPE returns against fa/nfds/DPE_Document.xsd.

One connector over plain HTTP: the transports are covered by the other interop modules. The
demo practice: Mandant m1, client system cs1, workplace ws1, ct1 holding smcb1, hba1, egk1;
egk1's auto-PIN is on, so VerifyPin answers at once."""
import base64
import os
import tempfile

import pytest

from conftest import (API_TELEMATIK, DEMO_CONTEXT, NS, ROOT, Connector, LanConnector,
                      free_port, require_api_telematik, scaled, schema, world_template)
from service_client import ServiceClient

DPE_WSDL = os.path.join(API_TELEMATIK, "conn", "nfds", "DPEService.wsdl")
DPE_XSD = os.path.join(API_TELEMATIK, "conn", "nfds", "DPEService.xsd")
DPE_DOC_XSD = os.path.join(API_TELEMATIK, "fa", "nfds", "DPE_Document.xsd")
DPE_BINDING = "{http://ws.gematik.de/conn/nfds/DPEService/WSDL/v1.0}DPEServiceBinding"
DPE_NS = "http://ws.gematik.de/conn/nfds/DPEService/v1.0"
CARD_NS = "http://ws.gematik.de/conn/CardService/v8.1"
HBA_CTX = {**DEMO_CONTEXT, "UserId": "user-1"}
with open(os.path.join(ROOT, "tests", "data", "nfdm", "dpe.xml"), "rb") as _f:
    DPE_DOC = _f.read()  # the DPE of tests/integration/test_nfdm.py

DPE_SERVICE = {
    "wsdl": os.path.join("nfds", "DPEService.wsdl"),
    "xsd": os.path.join("nfds", "DPEService.xsd"),
    "binding": DPE_BINDING,
    "path": "/ws/DPEService",
    "ns": DPE_NS,
}


class DpeClient(ServiceClient):
    """ServiceClient on DPEService.wsdl, whose responses carry DPE:Status."""

    def call(self, operation, **kw):
        """The validated response element of an operation that must succeed."""
        getattr(self.service, operation)(**kw)
        body = self.body(self.history.last_received["envelope"])
        assert body.tag == "{%s}%sResponse" % (DPE_NS, operation)
        assert body[0].tag == "{%s}Status" % DPE_NS, "DPE:Status must come first"
        assert body[0].findtext("{%s}Result" % DPE_NS) == "OK"
        self.schema.assertValid(self.etree.ElementTree(body))
        return body

    def verify_pin(self, handle, pin):
        """VerifyPin through the CardService (a plain envelope: its WSDL is another test's)."""
        envelope = (
            '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
            f'xmlns:CARD="{CARD_NS}" xmlns:CCTX="{NS["CCTX"]}" xmlns:CONN="{NS["CONN"]}" '
            f'xmlns:CARDCMN="{NS["CARDCMN"]}"><soap:Body><CARD:VerifyPin><CCTX:Context>'
            '<CONN:MandantId>m1</CONN:MandantId><CONN:ClientSystemId>cs1</CONN:ClientSystemId>'
            '<CONN:WorkplaceId>ws1</CONN:WorkplaceId></CCTX:Context>'
            f'<CONN:CardHandle>{handle}</CONN:CardHandle><CARDCMN:PinTyp>{pin}</CARDCMN:PinTyp>'
            '</CARD:VerifyPin></soap:Body></soap:Envelope>')
        r = self.session.post(self.base_url + "/ws/CardService", data=envelope.encode(),
                              headers={"Content-Type": "text/xml; charset=utf-8"},
                              timeout=scaled(30))
        assert r.status_code == 200 and b">OK</CARDCMN:PinResult>" in r.content, r.text


@pytest.fixture(scope="module")
def lan():
    require_api_telematik()
    http_port = free_port()
    with tempfile.TemporaryDirectory(prefix="konn-interop-nfdm-") as d:
        c = Connector(d, free_port(), ["--world-template", world_template(), "--lan-http",
                                       f"127.0.0.1:{http_port}", "--setting",
                                       "ANCL_TLS_MANDATORY=Disabled"])
        try:
            c.wait_ready()
            c.konctl("pin", "auto", "--card", "egk1", "on", check=True)
            yield LanConnector(c, "http", http_port, None)
        finally:
            c.stop()


@pytest.fixture(scope="module")
def dpe(lan):
    if not os.path.exists(DPE_WSDL):
        pytest.skip(f"{DPE_WSDL} not found")
    client = DpeClient(lan, DPE_SERVICE)
    client.base_url = lan.base_url
    return client


def handle(lan, card):
    (c,) = [c for c in lan.c.api("GET", "/control/v1/cards")["cards"] if c["name"] == card]
    return c["handle"]


def test_write_read_erase_validate_against_the_gematik_schemas(dpe, lan):
    egk, smcb, hba = handle(lan, "egk1"), handle(lan, "smcb1"), handle(lan, "hba1")
    schema(DPE_DOC_XSD).assertValid(dpe.etree.fromstring(DPE_DOC))  # the sample itself
    # Empty at first: an empty DPEDocument.
    body = dpe.call("ReadDPE", Context=DEMO_CONTEXT, EhcHandle=egk, HpcHandle=smcb,
                    EmergencyIndicator=True, UpdateIndicator=False)
    assert (body.findtext("{%s}DPEDocument" % DPE_NS) or "") == ""
    dpe.verify_pin(egk, "MRPIN.DPE")
    dpe.call("WriteDPE", Context=HBA_CTX, EhcHandle=egk, HpcHandle=hba, DPEDocument=DPE_DOC)
    dpe.verify_pin(egk, "MRPIN.DPE_READ")
    body = dpe.call("ReadDPE", Context=HBA_CTX, EhcHandle=egk, HpcHandle=hba,
                    EmergencyIndicator=False, UpdateIndicator=True)
    returned = base64.b64decode(body.findtext("{%s}DPEDocument" % DPE_NS))
    assert returned == DPE_DOC
    schema(DPE_DOC_XSD).assertValid(dpe.etree.fromstring(returned))
    dpe.call("EraseDPE", Context=DEMO_CONTEXT, EhcHandle=egk, HpcHandle=smcb)


def test_faults_validate_against_telematik_error(dpe, lan):
    egk, smcb, hba = handle(lan, "egk1"), handle(lan, "smcb1"), handle(lan, "hba1")
    assert dpe.fault("ReadDPE", Context=DEMO_CONTEXT, EhcHandle=smcb, HpcHandle=egk,
                     EmergencyIndicator=True, UpdateIndicator=False) == 4209
    assert dpe.fault("ReadDPE", Context=DEMO_CONTEXT, EhcHandle="nope", HpcHandle=smcb,
                     EmergencyIndicator=True, UpdateIndicator=False) == 4008
    dpe.verify_pin(egk, "MRPIN.DPE")
    assert dpe.fault("WriteDPE", Context=DEMO_CONTEXT, EhcHandle=egk, HpcHandle=smcb,
                     DPEDocument=b"<not-a-dpe/>") == 4000
    lan.c.api("POST", "/control/v1/cards/remove", {"ct": "ct1", "slot": 3})
    lan.c.api("POST", "/control/v1/cards/insert", {"ct": "ct1", "slot": 3, "card": "egk1"})
    assert dpe.fault("EraseDPE", Context=DEMO_CONTEXT, EhcHandle=handle(lan, "egk1"),
                     HpcHandle=smcb) == 4085
