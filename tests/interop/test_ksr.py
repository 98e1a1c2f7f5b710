"""konctl ksr serve, the KSR the KSR client is tested against, called with python3-zeep through
gematik's Konfigurationsdienst.wsdl: its list_Updates answer must be what the WSDL and
Konfigurationsdienst.xsd describe, so that the connector's tests run against a KSR that speaks
the real interface (and the connector's parser reads the real shape)."""
import json
import os
import subprocess

import pytest

from conftest import API_TELEMATIK, KONCTL, scaled, schema

KSR_WSDL = os.path.join(API_TELEMATIK, "ksr", "Konfigurationsdienst.wsdl")
KSR_XSD = os.path.join(API_TELEMATIK, "ksr", "Konfigurationsdienst.xsd")
KSR_NS = "http://ws.gematik.de/ksr/v1.1"

pytestmark = pytest.mark.skipif(not os.path.exists(KSR_WSDL),
                                reason=f"no api-telematik checkout at {API_TELEMATIK}")

TEMPLATE = {
    "product_vendor_id": "KONND", "product_code": "konnektd", "product_name": "konnektord",
    "hw_version": "1.0.0", "fw_version": "3.5.0", "product_type_version": "3.5.0",
    "created": "2026-11-29", "fw_priority": "Kritisch", "deadline": "2026-12-31",
    "release_notes": "PTV3 eHealth", "features": ["VSDM", "NFDM", "AMTS", "QES"],
}


def konctl(*args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KONCTL_")}
    return subprocess.run([KONCTL, *args], env=env, capture_output=True, text=True,
                          timeout=scaled(120))


@pytest.fixture(scope="module")
def ksr(tmp_path_factory):
    d = tmp_path_factory.mktemp("ksr")
    assert konctl("bundle", "keygen", "--out", str(d / "pki")).returncode == 0
    (d / "payloads" / "core").mkdir(parents=True)
    (d / "payloads" / "core" / "konnektord").write_bytes(b"core" * 1000)
    (d / "template.json").write_text(json.dumps(TEMPLATE))
    (d / "dir").mkdir()
    res = konctl("bundle", "create", str(d / "dir" / "konnektord-3.5.0.kbundle"), "--manifest",
                 str(d / "template.json"), "--payloads", str(d / "payloads"), "--key",
                 str(d / "pki" / "signer-key.pem"), "--cert", str(d / "pki" / "signer-cert.pem"))
    assert res.returncode == 0, res.stderr
    proc = subprocess.Popen([KONCTL, "ksr", "serve", str(d / "dir")], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    url = proc.stdout.readline().strip()
    yield url
    proc.terminate()
    assert proc.wait(timeout=scaled(10)) == 0


def zeep_client(url):
    import zeep
    from zeep.plugins import HistoryPlugin

    history = HistoryPlugin()
    client = zeep.Client(KSR_WSDL, plugins=[history])
    service = client.create_service("{http://ws.gematik.de/ksr/WSDL/v1.1}"
                                    "KonfigurationsdienstBinding", url)
    return service, history


def assert_valid(history):
    """The last answer's body element, as sent, against Konfigurationsdienst.xsd."""
    import copy

    from lxml import etree

    body = history.last_received["envelope"].find(
        "{http://schemas.xmlsoap.org/soap/envelope/}Body")[0]
    assert body.tag == f"{{{KSR_NS}}}listUpdatesResponse"
    schema(KSR_XSD).assertValid(etree.ElementTree(copy.deepcopy(body)))


def test_zeep_list_updates_reads_the_offered_update(ksr):
    service, history = zeep_client(ksr)
    answer = service.list_Updates(ProductVendorID="KONND", ProductCode="konnektd",
                                  HWVersion="1.0.0", FWVersion="0.1.0")
    updates = answer.UpdateInformation
    assert len(updates) == 1
    u = updates[0]
    assert u.Firmware.FWVersion == "3.5.0" and u.Firmware.FWPriority == "Kritisch"
    assert str(u.DeploymentInformation.Deadline) == "2026-12-31"
    assert u.Firmware.Firmwarefiles[0].Filename == "konnektord-3.5.0.kbundle"
    # The answer as sent, against the schema.
    assert_valid(history)


def test_zeep_list_updates_for_another_product_or_a_newer_firmware_is_empty(ksr):
    service, history = zeep_client(ksr)
    for args in ({"ProductCode": "other"}, {"FWVersion": "3.5.0"}):
        answer = service.list_Updates(**{"ProductVendorID": "KONND", "ProductCode": "konnektd",
                                         "HWVersion": "1.0.0", "FWVersion": "0.1.0", **args})
        assert not answer or not answer.UpdateInformation
        assert_valid(history)
