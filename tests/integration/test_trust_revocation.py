"""The trust space and the simulated OCSP responder behind VerifyCertificate, through the
control API and konctl: `konctl trust list|import`, `konctl cert
status|revoke|unrevoke|unknown|list`, and `konctl terminal show` with the display text.
Both the imported CAs (DATA/trust) and the OCSP answers (DATA/world/revocation.json)
survive a restart. The tests share one connector (restarted once), in file order."""
import os
import subprocess
import tempfile

import pytest

from conftest import KONCTL, Connector, free_port, world_template

pytestmark = pytest.mark.skipif(not os.access(KONCTL, os.X_OK), reason="konctl not built")


class Shared:
    """The module's connector; restart() replaces it by one on the same data directory."""

    def __init__(self, d):
        self.c = Connector(d, free_port(), ["--world-template", world_template()])
        self.c.wait_ready()

    def restart(self):
        self.c.stop()
        self.c = Connector(self.c.data_dir, self.c.port,
                           ["--world-template", world_template()]).wait_ready()
        return self.c


@pytest.fixture(scope="module")
def shared():
    with tempfile.TemporaryDirectory(prefix="konn-it-") as d:
        s = Shared(d)
        try:
            yield s
        finally:
            s.c.stop()


def make_cert(d, name, ca):
    """A self-signed P-256 certificate (CA or not) as PEM; returns its path."""
    key, cert = os.path.join(d, f"{name}.key"), os.path.join(d, f"{name}.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "30", "-subj", f"/CN={name} TEST-ONLY", "-addext",
                    "basicConstraints=critical,CA:" + ("TRUE" if ca else "FALSE")],
                   check=True, capture_output=True)
    return cert


def test_trust_import_adds_only_cas(shared, tmp_path):
    c = shared.c
    listed = c.konctl("trust", "list", check=True).stdout
    assert listed.count("test-pki") == 4
    assert "konnektord TEST-ONLY Root RSA" in listed
    ca = make_cert(str(tmp_path), "Practice CA", True)
    out = c.konctl("trust", "import", ca, check=True).stdout
    assert "imported 1 new CA certificate(s); the trust space holds 5" in out
    assert "imported 0 new" in c.konctl("trust", "import", ca, check=True).stdout
    leaf = make_cert(str(tmp_path), "Some Leaf", False)
    res = c.konctl("trust", "import", leaf)
    assert res.returncode == 5 and "only CA certificates" in res.stderr
    res = c.konctl("trust", "import", os.path.join(str(tmp_path), "missing.pem"))
    assert res.returncode == 2


def test_cert_status_is_set_by_card_file_or_issuer(shared, tmp_path):
    c = shared.c
    sel = ["--card", "hba1", "--ref", "C.HP.QES", "--alg", "ECC"]
    assert c.konctl("cert", "status", *sel, check=True).stdout.startswith("good (serial ")
    assert c.konctl("cert", "list", check=True).stdout.strip() == "every certificate is good"
    out = c.konctl("cert", "revoke", *sel, check=True).stdout
    assert out.startswith("revoked") and "revoked at" in out
    answer = c.api("POST", "/control/v1/certs/status",
                   {"card": "hba1", "key_ref": "C.HP.QES", "algorithm": "ECC"})
    assert answer["status"] == "revoked"
    # The same certificate named by issuer and serial, and by its PEM file.
    by_id = ["--issuer", answer["issuer"], "--serial", answer["serial"].upper()]
    assert c.konctl("cert", "status", *by_id, check=True).stdout.startswith("revoked")
    der = os.path.join(c.data_dir, "world", "cards", "hba1", "C.HP.QES_ECC.der")
    pem = os.path.join(str(tmp_path), "qes.pem")
    subprocess.run(["openssl", "x509", "-inform", "DER", "-in", der, "-out", pem], check=True)
    assert c.konctl("cert", "status", "--file", pem, check=True).stdout.startswith("revoked")
    c.konctl("cert", "unknown", "--card", "smcb1", "--ref", "C.HCI.OSIG", check=True)
    listed = c.konctl("cert", "list", check=True).stdout
    assert "revoked" in listed and "unknown" in listed


def test_trust_and_answers_survive_a_restart(shared):
    c = shared.restart()
    cas = c.api("GET", "/control/v1/trust")["cas"]
    imported = [x for x in cas if x["source"] == "imported"]
    assert [x["subject"] for x in imported] == ["CN=Practice CA TEST-ONLY"]
    assert len(imported[0]["sha256"]) == 64 and imported[0]["not_after"]
    sel = ["--card", "hba1", "--ref", "C.HP.QES", "--alg", "ECC"]
    revs = c.api("GET", "/control/v1/certs/revocations")["revocations"]
    assert sorted(r["status"] for r in revs) == ["revoked", "unknown"]
    c.konctl("cert", "unrevoke", *sel, check=True)
    assert c.konctl("cert", "status", *sel, check=True).stdout.startswith("good")
    assert [r["status"] for r in c.api("GET", "/control/v1/certs/revocations")["revocations"]] \
        == ["unknown"]


def test_cert_commands_report_what_is_wrong(shared):
    connector = shared.c
    res = connector.konctl("cert", "revoke", "--card", "nope", "--ref", "C.HP.QES")
    assert res.returncode == 7 and "no card 'nope'" in res.stderr
    res = connector.konctl("cert", "revoke", "--card", "egk1", "--ref", "C.HP.QES")
    assert res.returncode == 7 and "has no certificate" in res.stderr
    res = connector.konctl("cert", "revoke")
    assert res.returncode == 2
    res = connector.konctl("cert", "status", "--card", "egk1", "--ref", "C.CH.AUT", "--issuer",
                           "CN=x", "--serial", "1")
    assert res.returncode == 2
    status, body = connector.request("PUT", "/control/v1/certs/status",
                                     {"issuer": "CN=x", "serial": "zz", "status": "revoked"})
    assert status == 400
    status, body = connector.request("PUT", "/control/v1/certs/status",
                                     {"card": "egk1", "key_ref": "C.CH.AUT", "status": "maybe"})
    assert status == 400


def test_terminal_show_has_the_display(shared):
    connector = shared.c
    t = connector.api("GET", "/control/v1/terminals/ct1")
    assert t["display"] == "" and t["slots"] == 4
    assert all("display" in x for x in connector.api("GET", "/control/v1/terminals")["terminals"])
    out = connector.konctl("terminal", "show", "ct1", check=True).stdout
    assert "display:    -" in out and "1:smcb1 2:hba1 3:egk1" in out
    assert connector.konctl("terminal", "show", "ct9").returncode == 7
