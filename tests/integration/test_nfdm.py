"""The Fachmodul NFDM's DPEService (docs/nfdm.md) against a real daemon: ReadDPE, WriteDPE and
EraseDPE with and without the insured's PINs, the emergency read, wrong card types, bad
documents, what the security log keeps (never the KVNR or the document), and feature gating
by the running firmware (the factory image has NFDM; the PTV2 -> PTV3 case is in
test_update_ksr.py).

The demo practice: Mandant m1, client system cs1, workplace ws1, ct1 holding smcb1 (slot 1),
hba1 (2) and egk1 (3). egk1's auto-PIN is switched on, so VerifyPin answers at once; each
test that needs an eGK without security states re-inserts it (the card's sessions end).
The XSD checks of the answers are in tests/interop/test_dpe_service.py."""
import base64
import json
import os
import random
import re
import tempfile
import urllib.error
import urllib.request

import pytest

from conftest import Connector, free_port, log_entries, scaled, world_template

DPE_NS = "http://ws.gematik.de/conn/nfds/DPEService/v1.0"
CARD_NS = "http://ws.gematik.de/conn/CardService/v8.1"
KVNR = "X110411675"
# A DPE valid against DPE_Document.xsd v1.1 (the interop test checks it with the XSD); its
# KVNR and names must never reach the security log or world.json in clear.
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "nfdm",
                       "dpe.xml"), "rb") as _f:
    DPE_DOC = _f.read()


def envelope(ns, prefix, operation, inner, user_id="u1"):
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
        f'xmlns:{prefix}="{ns}" '
        'xmlns:CCTX="http://ws.gematik.de/conn/ConnectorContext/v2.0" '
        'xmlns:CONN="http://ws.gematik.de/conn/ConnectorCommon/v5.0" '
        'xmlns:CARDCMN="http://ws.gematik.de/conn/CardServiceCommon/v2.0"><soap:Body>'
        f'<{prefix}:{operation}><CCTX:Context><CONN:MandantId>m1</CONN:MandantId>'
        '<CONN:ClientSystemId>cs1</CONN:ClientSystemId><CONN:WorkplaceId>ws1</CONN:WorkplaceId>'
        + (f'<CONN:UserId>{user_id}</CONN:UserId>' if user_id else '') + '</CCTX:Context>'
        f'{inner}</{prefix}:{operation}></soap:Body></soap:Envelope>').encode()


def post(url, path, body):
    """(HTTP status, gematik code or 0, body text)."""
    req = urllib.request.Request(url + path, data=body, method="POST",
                                 headers={"Content-Type": "text/xml; charset=utf-8"})
    try:
        with urllib.request.urlopen(req, timeout=scaled(30)) as resp:
            status, text = resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    codes = re.findall(r"<GERROR:Code>(\d+)</GERROR:Code>", text)
    return status, int(codes[-1]) if codes else 0, text


def dpe(url, operation, ehc, hpc, emergency=None, document=None, user_id="u1", raw_doc=None):
    inner = f"<CONN:EhcHandle>{ehc}</CONN:EhcHandle><CONN:HpcHandle>{hpc}</CONN:HpcHandle>"
    if operation == "ReadDPE":
        inner += (f"<DPE:EmergencyIndicator>{'true' if emergency else 'false'}"
                  "</DPE:EmergencyIndicator><DPE:UpdateIndicator>false</DPE:UpdateIndicator>")
    if operation == "WriteDPE":
        text = raw_doc if raw_doc is not None else base64.b64encode(document).decode()
        inner += f"<DPE:DPEDocument>{text}</DPE:DPEDocument>"
    return post(url, "/ws/DPEService", envelope(DPE_NS, "DPE", operation, inner, user_id))


def document_of(text):
    m = re.search(r"<DPE:DPEDocument[^>]*>([^<]*)</DPE:DPEDocument>|<DPE:DPEDocument/>", text)
    assert m, text
    return base64.b64decode(m.group(1) or "")


def verify_pin(url, handle, pin):
    inner = (f"<CONN:CardHandle>{handle}</CONN:CardHandle>"
             f"<CARDCMN:PinTyp>{pin}</CARDCMN:PinTyp>")
    status, code, text = post(url, "/ws/CardService",
                              envelope(CARD_NS, "CARD", "VerifyPin", inner))
    assert status == 200 and re.search(r"<CARDCMN:PinResult[^>]*>OK<", text), text


@pytest.fixture(scope="module")
def shared():
    """One connector for the module, started like the factory image (all features)."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="konn-it-nfdm-") as d:
        c = Connector(d, free_port(), ["--world-template", world_template(), "--lan-http",
                                       f"127.0.0.1:{port}", "--setting",
                                       "ANCL_TLS_MANDATORY=Disabled", "--setting",
                                       "ANCL_CAUT_MANDATORY=Disabled"])
        try:
            c.wait_ready()
            c.konctl("pin", "auto", "--card", "egk1", "on", check=True)
            yield c, f"http://127.0.0.1:{port}"
        finally:
            c.stop()


def handle(c, card):
    (entry,) = [x for x in c.api("GET", "/control/v1/cards")["cards"] if x["name"] == card]
    return entry["handle"]


@pytest.fixture
def lan(shared):
    """The shared connector with egk1 freshly inserted: no PIN of it verified."""
    c, url = shared
    c.api("POST", "/control/v1/cards/remove", {"ct": "ct1", "slot": 3})
    c.api("POST", "/control/v1/cards/insert", {"ct": "ct1", "slot": 3, "card": "egk1"})
    return c, url, handle(c, "egk1"), handle(c, "hba1"), handle(c, "smcb1")


def test_connector_sds_lists_the_dpe_service_of_the_factory_image(shared):
    _, url = shared
    with urllib.request.urlopen(url + "/connector.sds", timeout=scaled(10)) as resp:
        text = resp.read().decode()
    assert 'Name="DPEService"' in text
    assert 'TargetNamespace="http://ws.gematik.de/conn/nfds/DPEService/WSDL/v1.0"' in text
    assert "/ws/DPEService" in text


def test_write_read_erase_with_the_insureds_pins(lan):
    c, url, egk, hba, smcb = lan
    verify_pin(url, egk, "MRPIN.DPE")
    status, code, text = dpe(url, "WriteDPE", egk, smcb, document=DPE_DOC)
    assert (status, code) == (200, 0), text
    assert re.search(r"<DPE:Status[^>]*><DPE:Result>OK</DPE:Result></DPE:Status>", text)
    # Stored compressed in the world, never as plain text.
    with open(os.path.join(c.data_dir, "world", "world.json")) as f:
        stored = {x["name"]: x for x in json.load(f)["cards"]}["egk1"]["dpe"]
    raw = bytes.fromhex(stored)
    assert raw[2:4] == b"\x1f\x8b" and int.from_bytes(raw[:2], "big") == len(raw) - 2
    assert KVNR.encode() not in raw
    verify_pin(url, egk, "MRPIN.DPE_READ")
    status, code, text = dpe(url, "ReadDPE", egk, hba)
    assert (status, code) == (200, 0), text
    assert document_of(text) == DPE_DOC
    status, code, text = dpe(url, "EraseDPE", egk, hba)
    assert (status, code) == (200, 0), text
    status, code, text = dpe(url, "ReadDPE", egk, hba)
    assert (status, code) == (200, 0) and document_of(text) == b""


def test_without_the_pins_access_is_refused_but_the_emergency_read_works(lan):
    c, url, egk, hba, smcb = lan
    status, code, text = dpe(url, "WriteDPE", egk, hba, document=DPE_DOC)
    assert (status, code) == (500, 4085) and "MRPIN.DPE of the eGK" in text
    assert dpe(url, "EraseDPE", egk, hba)[:2] == (500, 4085)
    status, code, text = dpe(url, "ReadDPE", egk, hba)
    assert (status, code) == (500, 4085) and "MRPIN.DPE_READ" in text
    # MRPIN.DPE_READ alone does not allow writing.
    verify_pin(url, egk, "MRPIN.DPE_READ")
    assert dpe(url, "WriteDPE", egk, hba, document=DPE_DOC)[:2] == (500, 4085)
    # Emergency: no PIN of the insured; a new card session.
    c.api("POST", "/control/v1/cards/remove", {"ct": "ct1", "slot": 3})
    c.api("POST", "/control/v1/cards/insert", {"ct": "ct1", "slot": 3, "card": "egk1"})
    egk = handle(c, "egk1")
    status, code, text = dpe(url, "ReadDPE", egk, smcb, emergency=True)
    assert (status, code) == (200, 0), text


def test_wrong_card_types_and_unknown_handles(lan):
    c, url, egk, hba, smcb = lan
    assert dpe(url, "ReadDPE", hba, smcb, emergency=True)[:2] == (500, 4209)
    status, code, text = dpe(url, "ReadDPE", egk, egk, emergency=True)
    assert (status, code) == (500, 4209) and "HpcHandle must name an HBA or SMC-B" in text
    assert dpe(url, "ReadDPE", "no-such-card", hba, emergency=True)[:2] == (500, 4008)
    assert dpe(url, "ReadDPE", egk, "no-such-card", emergency=True)[:2] == (500, 4008)
    # An HBA works in the card session of a user: without UserId 4003.
    assert dpe(url, "ReadDPE", egk, hba, emergency=True, user_id=None)[:2] == (500, 4003)
    assert dpe(url, "ReadDPE", egk, smcb, emergency=True, user_id=None)[:2] == (200, 0)


def random_text(n):
    """n random CJK characters: 3 bytes of UTF-8 each, and about 14 bits of entropy, so gzip
    cannot shrink them much. The schema counts characters, not bytes."""
    rng = random.SystemRandom()
    return "".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(n))


def address(tag):
    return (f"<{tag}><NFDM:Adresse><NFDM:Postleitzahl>12345</NFDM:Postleitzahl>"
            f"<NFDM:Ort>{random_text(40)}</NFDM:Ort><NFDM:Strasse>{random_text(46)}"
            "</NFDM:Strasse><NFDM:Hausnummer>1</NFDM:Hausnummer></NFDM:Adresse>"
            f"</{tag}>")


def full_dpe():
    """A DPE within every limit of the schema, with every part, all text random: about 2 KB
    compressed, more than EF.DPE holds."""
    doc = DPE_DOC.decode()
    parts = (
        f"<DPE_Versicherter_Einwilligung><DPE_VE_Arzt_Nachname>{random_text(45)}"
        f"</DPE_VE_Arzt_Nachname><DPE_VE_Arzt_Vorname>{random_text(45)}</DPE_VE_Arzt_Vorname>"
        + address("DPE_VE_Ablageort") + "</DPE_Versicherter_Einwilligung>"
        '<DPE_Gewebe_Organspendeerklaerung DPE_GO_letzte_Aktualisierung="2026-11-01">'
        + address("DPE_GO_Ablageort") +
        f"<DPE_GO_Beschreibung>{random_text(200)}</DPE_GO_Beschreibung>"
        "</DPE_Gewebe_Organspendeerklaerung>"
        '<DPE_Vorsorgevollmacht DPE_VV_letzte_Aktualisierung="2026-11-01">'
        + address("DPE_VV_Ablageort") +
        f"<DPE_VV_Beschreibung>{random_text(200)}</DPE_VV_Beschreibung>"
        "<DPE_VV_Bevollmaechtigter>"
        f"<DPE_VV_Name_Bevollmaechtigter>{random_text(45)}</DPE_VV_Name_Bevollmaechtigter>"
        f"<DPE_VV_Vorname_Bevollmaechtigter>{random_text(45)}"
        "</DPE_VV_Vorname_Bevollmaechtigter>"
        "<DPE_VV_Telefon_Bevollmaechtigter>030 1234567</DPE_VV_Telefon_Bevollmaechtigter>"
        + address("DPE_VV_Adresse_Bevollmaechtigter") +
        "</DPE_VV_Bevollmaechtigter></DPE_Vorsorgevollmacht>")
    doc = doc.replace("<DPE_Patientenverfuegung", parts + "<DPE_Patientenverfuegung")
    doc = doc.replace("Patientenverfuegung beim Hausarzt", random_text(200))
    return doc.encode()


DOCTYPE_DPE = (b'<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE x [<!ENTITY e "e">]>'
               + DPE_DOC[DPE_DOC.index(b"?>") + 2:])


@pytest.mark.parametrize("doc,raw,detail", [
    (b"not xml at all", None, "not well-formed XML"),
    (b"<DPE_Document DPE_Version='1'/>", None, "root element must be DPE_Document"),
    (DPE_DOC.replace(b'ID_DPE="1.2.276.0.76.7.9"', b'ID_DPE="1.2.3"'), None, "ID_DPE"),
    (DPE_DOC.replace(b"Mustermann", b"M" * 46), None, "Nachname has more than 45"),
    (DPE_DOC.replace(b"<DPE_Patientenverfuegung", b"<Other/><DPE_Patientenverfuegung"), None,
     "unexpected element 'Other'"),
    (None, "%%% not base64 %%%", "base64"),
    (DOCTYPE_DPE, None, "DOCTYPE"),
], ids=["not-xml", "wrong-root", "wrong-oid", "too-long", "unknown-part", "not-base64",
        "doctype"])
def test_write_refuses_bad_documents_with_4000(lan, doc, raw, detail):
    c, url, egk, hba, smcb = lan
    verify_pin(url, egk, "MRPIN.DPE")
    status, code, text = dpe(url, "WriteDPE", egk, hba, document=doc, raw_doc=raw)
    assert (status, code) == (500, 4000), text
    assert detail in text, text


def test_a_dpe_too_large_for_ef_dpe_is_4280(lan):
    c, url, egk, hba, smcb = lan
    verify_pin(url, egk, "MRPIN.DPE")
    status, code, text = dpe(url, "WriteDPE", egk, hba, document=full_dpe())
    assert (status, code) == (500, 4280), text
    assert "does not fit EF.DPE" in text


def test_the_security_log_keeps_the_access_but_no_personal_data(lan):
    c, url, egk, hba, smcb = lan
    verify_pin(url, egk, "MRPIN.DPE")
    assert dpe(url, "WriteDPE", egk, smcb, document=DPE_DOC)[:2] == (200, 0)
    assert dpe(url, "ReadDPE", egk, smcb)[:2] == (500, 4085)
    writes = log_entries(c, "LOG/FM/NFDM/DPE_WRITE", 1)
    reads = log_entries(c, "LOG/FM/NFDM/DPE_READ", 1)
    assert writes and reads
    text = json.dumps(writes + reads)
    assert "SMC-B" in text and "REFUSED" in text and "4085" in text
    iccsn = [x for x in c.api("GET", "/control/v1/cards")["cards"] if x["name"] == "egk1"][0][
        "iccsn"]
    for secret in (KVNR, "Mustermann", "Erika", iccsn, egk):
        assert secret not in text
