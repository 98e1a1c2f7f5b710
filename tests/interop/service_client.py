"""Helpers of the CardTerminalService and CertificateService interop tests: a zeep client on
any gematik WSDL whose every raw response is validated against the service's XSD (faults
against TelematikError.xsd), the node-soap runner (node/ct_cert_client.js) and the gematik
test identities (KONN_TESTCARDS, default ../shared/testcards beside the repository)."""
import glob
import json
import os
import shutil
import subprocess

import pytest

from conftest import API_TELEMATIK, ERROR_XSD, HERE, NS, ROOT, scaled, schema

TESTCARDS = os.environ.get("KONN_TESTCARDS") or os.path.join(
    os.path.dirname(ROOT), "shared", "testcards")
NODE_DIR = os.path.join(HERE, "node")
NODE_CLIENT = os.path.join(NODE_DIR, "ct_cert_client.js")

CTS_NS = "http://ws.gematik.de/conn/CardTerminalService/v1.1"
CERT_NS = "http://ws.gematik.de/conn/CertificateService/v6.0"
CERTCMN_NS = "http://ws.gematik.de/conn/CertificateServiceCommon/v2.0"

CT_SERVICE = {
    "wsdl": "CardTerminalService.wsdl",
    "xsd": "CardTerminalService.xsd",
    "binding": "{http://ws.gematik.de/conn/CardTerminalService/WSDL/v1.1}"
               "CardTerminalServiceBinding",
    "path": "/ws/CardTerminalService",
    "ns": CTS_NS,
}
# WSDL 6.0.1 imports schema 6.0.2, which has the Crypt parameter; the responses must be
# valid against CertificateService.xsd (6.0.1) as well, which has the same responses.
CERT_SERVICE = {
    "wsdl": "CertificateService_v6_0_1.wsdl",
    "xsd": "CertificateService_v6_0_2.xsd",
    "response_xsds": ["CertificateService.xsd"],
    "binding": "{http://ws.gematik.de/conn/CertificateService/WSDL/v6.0}"
               "CertificateServiceBinding",
    "path": "/ws/CertificateService",
    "ns": CERT_NS,
}


class ServiceClient:
    """zeep on one gematik service of the connector in `lan`."""

    def __init__(self, lan, service):
        import requests
        from lxml import etree
        from zeep import Client, Settings
        from zeep.plugins import HistoryPlugin
        from zeep.transports import Transport

        self.etree = etree
        self.service_def = service
        self.history = HistoryPlugin()
        session = requests.Session()
        session.trust_env = False
        session.verify = lan.ca_bundle if lan.tls else True
        session.cert = lan.client_cert
        self.session = session
        wsdl = os.path.join(API_TELEMATIK, "conn", service["wsdl"])
        self.client = Client(wsdl, settings=Settings(forbid_entities=False),
                             transport=Transport(session=session, timeout=scaled(60)),
                             plugins=[self.history])
        self.service = self.client.create_service(service["binding"],
                                                  lan.base_url + service["path"])
        self.schema = schema(os.path.join(API_TELEMATIK, "conn", service["xsd"]))
        self.response_schemas = [schema(os.path.join(API_TELEMATIK, "conn", x))
                                 for x in service.get("response_xsds", [])]

    def body(self, envelope):
        raw = self.etree.tostring(envelope)
        return self.etree.fromstring(raw).find("soap:Body", NS)[0]

    def call(self, operation, **kw):
        """Calls an operation that must succeed; returns (zeep result, validated body)."""
        result = getattr(self.service, operation)(**kw)
        body = self.body(self.history.last_received["envelope"])
        assert body.tag == "{%s}%sResponse" % (self.service_def["ns"], operation)
        assert body[0].tag == "{%s}Status" % NS["CONN"], "CONN:Status must come first"
        self.schema.assertValid(self.etree.ElementTree(body))
        for extra in self.response_schemas:
            extra.assertValid(self.etree.ElementTree(body))
        return result, body

    def fault(self, operation, **kw):
        """Calls an operation that must fail; returns its last gematik code."""
        from zeep.exceptions import Fault

        with pytest.raises(Fault):
            getattr(self.service, operation)(**kw)
        body = self.body(self.history.last_received["envelope"])
        assert body.tag == "{%s}Fault" % NS["soap"]
        error = body.find(".//GERROR:Error", NS)
        assert error is not None, "the fault carries no GERROR:Error"
        schema(ERROR_XSD).assertValid(self.etree.ElementTree(error))
        return int(error.findall("GERROR:Trace", NS)[-1].findtext("GERROR:Code", None, NS))


def node_missing():
    if shutil.which("node") is None:
        return "node not found; run scripts/install-deps"
    if not os.path.exists(os.path.join(NODE_DIR, "node_modules", "soap", "package.json")):
        return f"the npm soap module is not installed in {NODE_DIR}; run scripts/install-deps"
    return None


def run_node(lan, service, calls):
    """Runs the calls [(operation, args)] with node-soap; returns one dict per call with
    "operation", "ok", "request" and "response" (raw XML)."""
    args = [shutil.which("node"), NODE_CLIENT, lan.base_url + service["path"],
            "--wsdl", service["wsdl"], "--calls", json.dumps(calls)]
    if lan.tls:
        args += ["--ca", lan.ca_bundle, "--pfx", lan.client_p12,
                 "--passphrase", lan.client_p12_password]
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["KONN_API_TELEMATIK"] = API_TELEMATIK
    res = subprocess.run(args, env=env, capture_output=True, text=True, timeout=scaled(120))
    assert res.returncode == 0, f"ct_cert_client.js failed:\n{res.stdout}\n{res.stderr}"
    return [json.loads(line) for line in res.stdout.splitlines() if line.strip()]


def node_body(xml_text):
    from lxml import etree

    envelope = etree.fromstring(xml_text.encode("utf-8"))
    return envelope.find("soap:Body", NS)[0]


def require_testcards():
    if not os.path.isdir(os.path.join(TESTCARDS, "identities")):
        pytest.skip(f"{TESTCARDS} has no gematik test identities; set KONN_TESTCARDS")


def gematik_ca_chain(cert_pem_path_or_der):
    """The PEM texts of the issuing CA and its root for a certificate, from the CA files
    that come with the test identities, or [] when its issuer is not among them."""
    from cryptography import x509

    data = cert_pem_path_or_der
    cert = x509.load_der_x509_certificate(data)
    by_subject = {}
    for path in glob.glob(os.path.join(TESTCARDS, "identities", "**", "GEM.*.pem"),
                          recursive=True):
        with open(path, "rb") as f:
            pem = f.read()
        try:
            ca = x509.load_pem_x509_certificate(pem)
        except ValueError:
            continue
        by_subject.setdefault(ca.subject.rfc4514_string(), pem)
    chain = []
    issuer = cert.issuer.rfc4514_string()
    while issuer in by_subject and len(chain) < 4:
        pem = by_subject[issuer]
        chain.append(pem.decode().rstrip("\n") + "\n")  # some files end without one
        ca = x509.load_pem_x509_certificate(pem)
        if ca.issuer == ca.subject:
            break
        issuer = ca.issuer.rfc4514_string()
    return chain
