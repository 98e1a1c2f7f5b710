"""CertificateService v6.0 over the LAN interface (issue #5): ReadCardCertificate,
VerifyCertificate and CheckCertificateExpiration, called with python3-zeep through the
gematik CertificateService_v6_0_1.wsdl (schema 6.0.2, with Crypt) and with the npm soap
package, over HTTPS with client authentication. Every response is validated against the
XSD, every fault against TelematikError.xsd.

Covered: every key reference of each demo card for RSA and ECC; verification against the
trust space with the simulated OCSP answers set through the control API and konctl
(revoked: INVALID, unknown: INCONCLUSIVE); gematik TEST-ONLY identities imported from
KONN_TESTCARDS (default ../shared/testcards) with their CAs imported into the trust space
(`konctl trust import`): an SM-B certificate verifies and, revoked, does not; the HBA does
the same when its issuing CA is among the CA files of the test identities (the HBA CAs are
not: the test then says so and skips that part)."""
import base64
import glob
import os

import pytest

from conftest import DEMO_CONTEXT, NS, have_konctl
from service_client import (CERT_NS, CERT_SERVICE, CERTCMN_NS, TESTCARDS, ServiceClient,
                            gematik_ca_chain, node_body, node_missing, require_testcards,
                            run_node)

# CertRef -> the key reference of each demo card (None: the card has none).
KEY_REFS = {
    "egk1": {"C.AUT": "C.CH.AUT", "C.ENC": "C.CH.ENC", "C.SIG": None, "C.QES": None},
    "hba1": {"C.AUT": "C.HP.AUT", "C.ENC": "C.HP.ENC", "C.SIG": None, "C.QES": "C.HP.QES"},
    "smcb1": {"C.AUT": "C.HCI.AUT", "C.ENC": "C.HCI.ENC", "C.SIG": "C.HCI.OSIG", "C.QES": None},
}
ROLE = {"egk1": "1.2.276.0.76.4.49", "hba1": "1.2.276.0.76.4.30", "smcb1": "1.2.276.0.76.4.50"}


# Over HTTPS with client authentication (the defaults) only: the transports themselves are
# covered by the EventService tests, and one connector per module keeps the run short.
pytestmark = pytest.mark.parametrize("lan", ["https"], indirect=True, scope="module")


@pytest.fixture(scope="module")
def certs(lan):
    return ServiceClient(lan, CERT_SERVICE)


def handle_of(lan, name):
    for card in lan.c.api("GET", "/control/v1/cards")["cards"]:
        if card["name"] == name:
            return card["handle"]
    raise AssertionError(f"no card {name}")


def card_der(lan, name, key_ref, alg):
    path = os.path.join(lan.c.data_dir, "world", "cards", name, f"{key_ref}_{alg}.der")
    with open(path, "rb") as f:
        return f.read()


def x(tag):
    return f"{{{CERTCMN_NS}}}{tag}"


def verify(certs, der, **kw):
    _, body = certs.call("VerifyCertificate", Context=DEMO_CONTEXT, X509Certificate=der, **kw)
    result = body.findtext(f"{{{CERT_NS}}}VerificationStatus/{{{CERT_NS}}}VerificationResult")
    roles = [r.text or "" for r in body.iter(f"{{{CERT_NS}}}Role")]
    return result, roles


def set_status(lan, selector, status):
    return lan.c.api("PUT", "/control/v1/certs/status", dict(selector, status=status))


@pytest.mark.parametrize("alg", ["RSA", "ECC"])
@pytest.mark.parametrize("card", sorted(KEY_REFS))
def test_read_card_certificate_for_every_key_reference(certs, lan, card, alg):
    refs = list(KEY_REFS[card])
    _, body = certs.call("ReadCardCertificate", CardHandle=handle_of(lan, card),
                         Context=DEMO_CONTEXT, CertRefList={"CertRef": refs}, Crypt=alg)
    infos = body.findall(f"{x('X509DataInfoList')}/{x('X509DataInfo')}")
    assert [i.findtext(x("CertRef")) for i in infos] == refs
    for info in infos:
        key_ref = KEY_REFS[card][info.findtext(x("CertRef"))]
        data = info.find(x("X509Data"))
        if key_ref is None:
            assert data is None, f"{card} has no certificate for {info.findtext(x('CertRef'))}"
            continue
        der = base64.b64decode(data.findtext(x("X509Certificate")))
        assert der == card_der(lan, card, key_ref, alg)
        assert data.findtext(x("X509SubjectName"))
        serial = data.findtext(f"{x('X509IssuerSerial')}/{x('X509SerialNumber')}")
        assert serial.isdigit()
        issuer = data.findtext(f"{x('X509IssuerSerial')}/{x('X509IssuerName')}")
        assert f"Component CA {alg}" in issuer


def test_read_card_certificate_defaults_to_rsa_and_checks_its_input(certs, lan):
    _, body = certs.call("ReadCardCertificate", CardHandle=handle_of(lan, "hba1"),
                         Context=DEMO_CONTEXT, CertRefList={"CertRef": ["C.QES"]})
    der = base64.b64decode(body.findtext(f".//{x('X509Certificate')}"))
    assert der == card_der(lan, "hba1", "C.HP.QES", "RSA")
    assert certs.fault("ReadCardCertificate", CardHandle="nope", Context=DEMO_CONTEXT,
                       CertRefList={"CertRef": ["C.AUT"]}) == 4008


def test_verify_certificate_of_each_demo_card_is_valid_with_its_role(certs, lan):
    for card, refs in KEY_REFS.items():
        key_ref = refs["C.AUT"]
        for alg in ("RSA", "ECC"):
            assert verify(certs, card_der(lan, card, key_ref, alg)) == ("VALID", [ROLE[card]])


def test_verify_certificate_garbage_and_expiry(certs, lan):
    result, roles = verify(certs, b"\x30\x03\x02\x01\x05")
    assert (result, roles) == ("INVALID", [""]), "no roles: one empty Role (the XSD needs one)"
    der = card_der(lan, "smcb1", "C.HCI.OSIG", "ECC")
    assert verify(certs, der, VerificationTime="2040-01-01T00:00:00Z")[0] == "INVALID"
    assert verify(certs, der, VerificationTime="2020-01-01T00:00:00+01:00")[0] == "INVALID"


def test_revocation_status_decides_verification(certs, lan):
    der = card_der(lan, "hba1", "C.HP.QES", "ECC")
    selector = {"card": "hba1", "key_ref": "C.HP.QES", "algorithm": "ECC"}
    try:
        assert set_status(lan, selector, "revoked")["status"] == "revoked"
        assert verify(certs, der)[0] == "INVALID"
        set_status(lan, selector, "unknown")
        assert verify(certs, der)[0] == "INCONCLUSIVE"
        if have_konctl():
            lan.c.konctl("cert", "revoke", "--card", "hba1", "--ref", "C.HP.QES", "--alg",
                         "ECC", check=True)
            status = lan.c.konctl("cert", "status", "--card", "hba1", "--ref", "C.HP.QES",
                                  "--alg", "ECC", check=True).stdout
            assert status.startswith("revoked")
            assert verify(certs, der)[0] == "INVALID"
            lan.c.konctl("cert", "unrevoke", "--card", "hba1", "--ref", "C.HP.QES", "--alg",
                         "ECC", check=True)
    finally:
        set_status(lan, selector, "good")
    assert verify(certs, der)[0] == "VALID"
    assert lan.c.api("GET", "/control/v1/certs/revocations")["revocations"] == []


def test_check_certificate_expiration(certs, lan):
    _, body = certs.call("CheckCertificateExpiration", Context=DEMO_CONTEXT)
    entries = body.findall(f"{{{CERT_NS}}}CertificateExpiration")
    handles = {e.findtext("CONN:CardHandle", None, NS) for e in entries}
    # The Mandant's HBAx and SM-B, not the eGK: three RSA certificates each.
    assert handles == {handle_of(lan, "hba1"), handle_of(lan, "smcb1")}
    assert len(entries) == 6
    for e in entries:
        assert e.findtext(f"{{{CERT_NS}}}CtID") == "ct1"
        assert len(e.findtext(f"{{{CERT_NS}}}validity")) == 10
    _, body = certs.call("CheckCertificateExpiration", CardHandle=handle_of(lan, "egk1"),
                         Context=DEMO_CONTEXT, Crypt="ECC")
    entries = body.findall(f"{{{CERT_NS}}}CertificateExpiration")
    assert len(entries) == 2
    assert {e.findtext(f"{{{CERT_NS}}}ICCSN") for e in entries} == {"80276001019990000001"}


def condition(lan, name, active):
    lan.c.api("POST", "/control/v1/fault/condition", {"name": name, "active": active})


def test_critical_states_gate_the_operations(certs, lan):
    """TAB_KON_504-01: a TSL beyond its grace period stops VerifyCertificate but not
    ReadCardCertificate; an unwritable security log stops both."""
    der = card_der(lan, "smcb1", "C.HCI.AUT", "RSA")
    read = dict(CardHandle=handle_of(lan, "smcb1"), Context=DEMO_CONTEXT,
                CertRefList={"CertRef": ["C.AUT"]})
    condition(lan, "EC_TSL_Out_Of_Date_Beyond_Grace_Period", True)
    try:
        assert certs.fault("VerifyCertificate", Context=DEMO_CONTEXT, X509Certificate=der) == 4002
        certs.call("ReadCardCertificate", **read)
    finally:
        condition(lan, "EC_TSL_Out_Of_Date_Beyond_Grace_Period", False)
    condition(lan, "EC_Security_Log_Not_Writable", True)
    try:
        assert certs.fault("ReadCardCertificate", **read) == 4002
        assert certs.fault("CheckCertificateExpiration", Context=DEMO_CONTEXT) == 4002
    finally:
        condition(lan, "EC_Security_Log_Not_Writable", False)
    assert verify(certs, der)[0] == "VALID"


def gematik_identity(kind, pattern):
    """(p12 path, certificate DER) of the first test identity matching pattern."""
    from cryptography.hazmat.primitives.serialization import Encoding, pkcs12

    for path in sorted(glob.glob(os.path.join(TESTCARDS, "identities", kind, "**", pattern),
                                 recursive=True)):
        with open(path, "rb") as f:
            data = f.read()
        try:
            _, cert, _ = pkcs12.load_key_and_certificates(data, b"00")
        except ValueError:
            continue
        return path, cert.public_bytes(Encoding.DER)
    pytest.skip(f"no {kind} identity {pattern} in {TESTCARDS}")


def import_and_check(certs, lan, kind, pattern, name, key_ref):
    """Imports a gematik identity and its CAs; it verifies, revoked it does not."""
    require_testcards()
    p12, der = gematik_identity(kind, pattern)
    with open(p12, "rb") as f:
        lan.c.api("POST", "/control/v1/cards/import",
                  {"name": name, "p12_base64": base64.b64encode(f.read()).decode()})
    assert verify(certs, der)[0] == "INVALID", "its CA is not in the trust space yet"
    chain = gematik_ca_chain(der)
    if not chain:
        pytest.skip(f"the issuing CA of {os.path.basename(p12)} is not among the CA files of "
                    f"{TESTCARDS} (gematik ships no HBA CAs with the test identities)")
    pem = os.path.join(lan.c.data_dir, f"{name}-cas.pem")
    with open(pem, "w") as f:
        f.write("".join(chain))
    if have_konctl():
        assert "imported" in lan.c.konctl("trust", "import", pem, check=True).stdout
    else:
        lan.c.api("POST", "/control/v1/trust/import", {"pem": "".join(chain)})
    result, roles = verify(certs, der)
    assert result == "VALID" and roles and roles[0].startswith("1.2.276.0.76.4.")
    # What ReadCardCertificate reads from the imported card is the same certificate.
    lan.insert("ct1", 4, name)
    try:
        _, body = certs.call("ReadCardCertificate", CardHandle=handle_of(lan, name),
                             Context=DEMO_CONTEXT, CertRefList={"CertRef": ["C.AUT"]})
        assert base64.b64decode(body.findtext(f".//{x('X509Certificate')}")) == der
    finally:
        lan.remove("ct1", 4)
    selector = {"card": name, "key_ref": key_ref, "algorithm": "RSA"}
    set_status(lan, selector, "revoked")
    try:
        assert verify(certs, der)[0] == "INVALID"
    finally:
        set_status(lan, selector, "good")


def test_imported_gematik_smcb_certificate_verifies_and_revoked_does_not(certs, lan):
    import_and_check(certs, lan, "smcb", "80276001011699900861-C_SMCB_AUT_R2048_X509.p12",
                     f"gem-smcb-{lan.transport}", "C.HCI.AUT")


def test_imported_gematik_hba_certificate_verifies_and_revoked_does_not(certs, lan):
    import_and_check(certs, lan, "hba", "80276883110000163949-C_HP_AUT_R2048.p12",
                     f"gem-hba-{lan.transport}", "C.HP.AUT")


@pytest.mark.skipif(node_missing() is not None, reason=node_missing() or "")
def test_node_soap_calls_every_operation(certs, lan):
    from lxml import etree

    from service_client import API_TELEMATIK, schema

    hba = handle_of(lan, "hba1")
    der = base64.b64encode(card_der(lan, "hba1", "C.HP.AUT", "ECC")).decode()
    calls = [["ReadCardCertificate", {"CardHandle": hba, "CertRefList": {"CertRef": ["C.AUT",
                                                                                   "C.QES"]},
                                      "Crypt": "ECC"}],
             ["VerifyCertificate", {"X509Certificate": der}],
             ["CheckCertificateExpiration", {"CardHandle": hba}]]
    out = run_node(lan, CERT_SERVICE, calls)
    assert [c["operation"] for c in out] == [c[0] for c in calls]
    xsd = schema(os.path.join(API_TELEMATIK, "conn", CERT_SERVICE["xsd"]))
    for c in out:
        assert c["ok"], c
        request, response = node_body(c["request"]), node_body(c["response"])
        xsd.assertValid(etree.ElementTree(request))
        xsd.assertValid(etree.ElementTree(response))
        assert response.tag == f"{{{CERT_NS}}}{c['operation']}Response"
    read = node_body(out[0]["response"])
    assert len(read.findall(f".//{x('X509Certificate')}")) == 2
    verified = node_body(out[1]["response"])
    assert verified.findtext(f".//{{{CERT_NS}}}VerificationResult") == "VALID"
    assert len(node_body(out[2]["response"]).findall(f"{{{CERT_NS}}}CertificateExpiration")) == 3
