"""Client credentials of practice software for the LAN interface (TIP1-A_4517, TIP1-A_4516):
client certificates issued as PKCS#12 through konctl and the management API, and HTTP Basic
client users, each checked by calling GET /connector.sds over HTTPS with Python's ssl.

Three connectors, each shared by the tests of its kind: one with ANCL_CAUT_MODE=Certificate,
one with ANCL_CAUT_MODE=Password (TLS and client authentication mandatory in both, the
defaults), and one without a LAN interface."""
import http.client
import json
import os
import re
import socket
import ssl
import stat
import subprocess
import tempfile
import time

import pytest

from conftest import Connector, basic_auth, free_port, pkcs12_to_pem, scaled

EXIT_ERROR = 1
EXIT_REFUSED = 5
EXIT_FORBIDDEN = 6
EXIT_NOT_FOUND = 7
EXIT_CONFLICT = 8

P12_PASSWORD = "pvs-p12-secret-1"
BASIC_PASSWORD = "pvs-basic-secret-1"


class Lan:
    """A connector with an HTTPS LAN listener, and a way to call it."""

    def __init__(self, c, port):
        self.c = c
        self.port = port
        ident = os.path.join(c.data_dir, "identity")
        # The LAN server certificates are self-signed with CA:TRUE: pin both.
        self.ca_bundle = os.path.join(c.data_dir, "lan-ca-bundle.pem")
        with open(self.ca_bundle, "w") as out:
            for name in ("lan-rsa-cert.pem", "lan-ecc-cert.pem"):
                with open(os.path.join(ident, name)) as f:
                    out.write(f.read())
        self.ecc_cert = os.path.join(ident, "lan-ecc-cert.pem")

    def context(self, cert=None, tls12_brainpool=False):
        ctx = ssl.create_default_context(cafile=self.ca_bundle)
        if cert:
            ctx.load_cert_chain(*cert)
        if tls12_brainpool:
            # OpenSSL 3.0 has no TLS 1.3 brainpool signature schemes: a brainpool client
            # certificate needs TLS 1.2, with brainpoolP256r1 among the groups.
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            ctx.set_ecdh_curve("brainpoolP256r1")
        return ctx

    def get_sds(self, ctx, headers=None):
        """GET /connector.sds; returns (status, body, the connection's socket)."""
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=ctx,
                                           timeout=scaled(30))
        try:
            conn.request("GET", "/connector.sds", headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.read(), conn.sock
        finally:
            conn.close()


def start_lan(data_dir, mode):
    port = free_port()
    c = Connector(data_dir, free_port(), ["--lan-https", f"127.0.0.1:{port}",
                                          "--setting", f"ANCL_CAUT_MODE={mode}"])
    c.wait_ready()
    return Lan(c, port)


@pytest.fixture(scope="module")
def cert_lan():
    with tempfile.TemporaryDirectory(prefix="konn-it-") as d:
        lan = start_lan(d, "Certificate")
        try:
            yield lan
        finally:
            lan.c.stop()


@pytest.fixture(scope="module")
def basic_lan():
    with tempfile.TemporaryDirectory(prefix="konn-it-") as d:
        lan = start_lan(d, "Password")
        try:
            yield lan
        finally:
            lan.c.stop()


def ok(c, *args):
    return c.konctl(*args, check=True).stdout


def wait_for(fn, timeout=10):
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        result = fn()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def log_entries(c, topic=None):
    query = f"topic={topic}&limit=1000" if topic else "limit=1000"
    return c.api("GET", "/api/v1/log?" + query)["entries"]


def auth_failures(c, since):
    """MGM/CLIENT_AUTH_FAILED events on the bus after sequence number since."""
    return [e for e in c.events(since) if e["topic"] == "MGM/CLIENT_AUTH_FAILED"]


def admin_change(c, ref_id):
    """The newest MGM/ADMINCHANGES entry for ref_id in the security log."""
    return wait_for(lambda: next((e for e in log_entries(c, "MGM/ADMINCHANGES")
                                  if e["params"].get("RefID") == ref_id), None))


def issue(lan, tmp_path, name, *extra):
    """konctl client-cert issue NAME --out tmp/NAME.p12 ...; returns (p12, cert, key)."""
    p12 = str(tmp_path / f"{name}.p12")
    ok(lan.c, "client-cert", "issue", name, "--out", p12, *extra)
    password = extra[extra.index("--password") + 1]
    return (p12, *pkcs12_to_pem(p12, password, str(tmp_path), name))


def basic(user, password):
    return {"Authorization": basic_auth(user, password)}


def refused(lan, ctx):
    """Calls connector.sds and returns what refused it: a TLS or connection error, or a
    4xx status. Fails if the call succeeded."""
    try:
        status, _, _ = lan.get_sds(ctx)
    except (ssl.SSLError, ConnectionError, http.client.HTTPException) as e:
        return e
    assert 400 <= status < 500, f"connector.sds answered {status} without authentication"
    return status


# ---- certificates (ANCL_CAUT_MODE=Certificate) -------------------------------------------


def test_issued_rsa_certificate_opens_connector_sds(cert_lan, tmp_path):
    p12, cert, key = issue(cert_lan, tmp_path, "praxis-pvs", "--password", P12_PASSWORD)
    assert stat.S_IMODE(os.stat(p12).st_mode) == 0o600
    assert [f for f in os.listdir(tmp_path) if ".p12." in f] == [], "temporary file left"
    status, body, _ = cert_lan.get_sds(cert_lan.context((cert, key)))
    assert status == 200
    assert b"ServiceDirectory" in body and b"EventService" in body


def test_issued_certificate_names_the_client_and_the_lan_ca(cert_lan, tmp_path):
    _, cert, _ = issue(cert_lan, tmp_path, "pvs.cn-check", "--password", P12_PASSWORD)
    text = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-text"], check=True,
                          capture_output=True, text=True).stdout
    assert "CN = pvs.cn-check" in text
    assert "LAN client CA" in text
    assert "TLS Web Client Authentication" in text
    assert "RSA Public-Key: (2048 bit)" in text or "Public-Key: (2048 bit)" in text


def test_issue_is_recorded_without_the_password(cert_lan, tmp_path):
    issue(cert_lan, tmp_path, "pvs-audit", "--password", P12_PASSWORD)
    entry = admin_change(cert_lan.c, "CLIENTCERT/pvs-audit")
    assert entry["params"] == {"User": "admin", "RefID": "CLIENTCERT/pvs-audit",
                               "NewVal": "issued (RSA)"}
    assert P12_PASSWORD not in json.dumps(log_entries(cert_lan.c))
    assert P12_PASSWORD not in cert_lan.c.output()


def test_generated_password_is_printed_once_and_opens_the_file(cert_lan, tmp_path):
    p12 = str(tmp_path / "pvs-gen.p12")
    out = ok(cert_lan.c, "client-cert", "issue", "pvs-gen", "--out", p12)
    passwords = re.findall(r"^password: (\S+)$", out, re.M)
    assert len(passwords) == 1 and re.fullmatch(r"[A-Za-z0-9]{20}", passwords[0]), out
    cert, key = pkcs12_to_pem(p12, passwords[0], str(tmp_path), "pvs-gen")
    status, _, _ = cert_lan.get_sds(cert_lan.context((cert, key)))
    assert status == 200


def test_ecc_certificate_opens_connector_sds_over_tls12_brainpool(cert_lan, tmp_path):
    _, cert, key = issue(cert_lan, tmp_path, "pvs-ecc", "--type", "ecc",
                         "--password", P12_PASSWORD)
    text = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-text"], check=True,
                          capture_output=True, text=True).stdout
    assert "brainpoolP256r1" in text
    status, _, _ = cert_lan.get_sds(cert_lan.context((cert, key), tls12_brainpool=True))
    assert status == 200
    assert admin_change(cert_lan.c, "CLIENTCERT/pvs-ecc")["params"]["NewVal"] == "issued (ECC)"


def test_ecc_handshake_uses_the_brainpool_server_identity(cert_lan, tmp_path):
    _, cert, key = issue(cert_lan, tmp_path, "pvs-ecc2", "--type", "ecc",
                         "--password", P12_PASSWORD)
    ctx = cert_lan.context((cert, key), tls12_brainpool=True)
    raw = socket.create_connection(("127.0.0.1", cert_lan.port), timeout=scaled(30))
    with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
        assert s.version() == "TLSv1.2"
        assert "ECDSA" in s.cipher()[0]
        with open(cert_lan.ecc_cert) as f:
            assert s.getpeercert(binary_form=True) == ssl.PEM_cert_to_DER_cert(f.read())


def test_without_client_certificate_the_call_is_refused_and_logged(cert_lan):
    since = cert_lan.c.api("GET", "/api/v1/events?since=0")["last_seq"]
    refused(cert_lan, cert_lan.context())
    (event,) = wait_for(lambda: auth_failures(cert_lan.c, since))
    assert event["params"] == {"Mode": "Certificate", "Peer": "127.0.0.1"}
    assert event["type"] == "Security"
    # The security log folds identical entries within a minute (docs/security-log.md), so
    # an earlier refusal in this module may stand for this one.
    entries = wait_for(lambda: log_entries(cert_lan.c, "MGM/CLIENT_AUTH_FAILED"))
    assert entries[0]["params"] == {"Mode": "Certificate", "Peer": "127.0.0.1"}
    assert entries[0]["severity"] == "Warning"


def test_certificate_of_another_ca_is_refused_and_counted(cert_lan, tmp_path):
    key, cert = str(tmp_path / "self-key.pem"), str(tmp_path / "self-cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=praxis-pvs",
                    "-addext", "extendedKeyUsage=clientAuth"], check=True, capture_output=True)
    since = cert_lan.c.api("GET", "/api/v1/events?since=0")["last_seq"]
    refused(cert_lan, cert_lan.context((cert, key)))
    assert len(wait_for(lambda: auth_failures(cert_lan.c, since))) == 1


def self_signed(tmp_path, name, eku="clientAuth"):
    key, cert = str(tmp_path / f"{name}-key.pem"), str(tmp_path / f"{name}-cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", f"/CN={name}", "-addext", f"extendedKeyUsage={eku}",
                    "-addext", "basicConstraints=critical,CA:FALSE"],
                   check=True, capture_output=True)
    return cert, key


def listed(lan):
    return {c["name"]: c for c in json.loads(ok(lan.c, "--json", "client-cert", "list"))
            ["client_certs"]}


def test_imported_own_certificate_is_served_until_removed(cert_lan, tmp_path):
    cert, key = self_signed(tmp_path, "pvs-own")
    refused(cert_lan, cert_lan.context((cert, key)))
    out = ok(cert_lan.c, "client-cert", "import", "pvs-own", cert)
    assert "imported the client certificate 'pvs-own'" in out
    status, _, _ = cert_lan.get_sds(cert_lan.context((cert, key)))
    assert status == 200
    entry = listed(cert_lan)["pvs-own"]
    assert entry["origin"] == "imported"
    assert "CN=pvs-own" in entry["subject"]
    fp = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-fingerprint", "-sha256"],
                        check=True, capture_output=True, text=True).stdout
    assert entry["fingerprint_sha256"] == fp.strip().split("=", 1)[1]
    assert admin_change(cert_lan.c, "CLIENTCERT/pvs-own")["params"]["NewVal"] == "imported"
    ok(cert_lan.c, "client-cert", "remove", "pvs-own")
    assert "pvs-own" not in listed(cert_lan)
    refused(cert_lan, cert_lan.context((cert, key)))
    assert admin_change(cert_lan.c, "CLIENTCERT/pvs-own")["params"]["NewVal"] == "removed"
    res = cert_lan.c.konctl("client-cert", "remove", "pvs-own")
    assert res.returncode == EXIT_NOT_FOUND, res.stderr


def test_removed_issued_certificate_is_refused_and_the_name_can_be_reissued(cert_lan, tmp_path):
    _, cert, key = issue(cert_lan, tmp_path, "pvs-revoke", "--password", P12_PASSWORD)
    assert listed(cert_lan)["pvs-revoke"]["origin"] == "issued"
    res = cert_lan.c.konctl("client-cert", "issue", "pvs-revoke", "--out",
                            str(tmp_path / "again.p12"), "--password", P12_PASSWORD)
    assert res.returncode == EXIT_CONFLICT and "remove it first" in res.stderr, res.stderr
    assert not os.path.exists(tmp_path / "again.p12")
    ok(cert_lan.c, "client-cert", "remove", "pvs-revoke")
    refused(cert_lan, cert_lan.context((cert, key)))
    (tmp_path / "new").mkdir()
    _, cert2, key2 = issue(cert_lan, tmp_path / "new", "pvs-revoke", "--password", P12_PASSWORD)
    status, _, _ = cert_lan.get_sds(cert_lan.context((cert2, key2)))
    assert status == 200


def test_import_refuses_what_is_no_client_certificate(cert_lan, tmp_path):
    server_cert, _ = self_signed(tmp_path, "a-server", eku="serverAuth")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    for f in (server_cert, str(junk)):
        res = cert_lan.c.konctl("client-cert", "import", "pvs-bad", f)
        assert res.returncode == EXIT_REFUSED, res.stderr
    res = cert_lan.c.konctl("client-cert", "import", "pvs-bad", str(tmp_path / "missing.pem"))
    assert res.returncode != 0 and "cannot read" in res.stderr
    assert "pvs-bad" not in listed(cert_lan)


def test_bad_name_type_and_password_are_refused(cert_lan, tmp_path):
    out = str(tmp_path / "x.p12")
    for args in (["bad name", "--password", P12_PASSWORD],
                 ["pvs", "--type", "dsa", "--password", P12_PASSWORD],
                 ["pvs", "--password", "short"]):
        res = cert_lan.c.konctl("client-cert", "issue", *args, "--out", out)
        assert res.returncode == EXIT_REFUSED, res.stderr
    assert not os.listdir(tmp_path), "a refused issue left a file"
    status, body = cert_lan.c.request("POST", "/api/v1/client-certs",
                                      {"name": "x" * 65, "password": P12_PASSWORD})
    assert status == 400 and "1 to 64" in body["error"]["message"]


def test_remote_administrator_may_not_issue(cert_lan, tmp_path):
    ok(cert_lan.c, "users", "add", "remote1", "--role", "remote", "--password", "remote-pw-1")
    res = cert_lan.c.konctl("client-cert", "issue", "pvs-r", "--out", str(tmp_path / "r.p12"),
                            "--password", P12_PASSWORD, user="remote1", password="remote-pw-1")
    assert res.returncode == EXIT_FORBIDDEN, res.stderr
    assert not os.listdir(tmp_path)


# ---- Basic client users (ANCL_CAUT_MODE=Password) ----------------------------------------


def test_basic_user_opens_connector_sds(basic_lan):
    ok(basic_lan.c, "client-user", "set", "praxis-pvs", "--password", BASIC_PASSWORD)
    status, body, _ = basic_lan.get_sds(basic_lan.context(),
                                        basic("praxis-pvs", BASIC_PASSWORD))
    assert status == 200 and b"ServiceDirectory" in body


def test_basic_wrong_password_is_401(basic_lan):
    ok(basic_lan.c, "client-user", "set", "pvs-wrong", "--password", BASIC_PASSWORD)
    status, _, _ = basic_lan.get_sds(basic_lan.context(), basic("pvs-wrong", "not-the-pw-1"))
    assert status == 401


def test_basic_user_change_is_recorded_without_the_password(basic_lan):
    ok(basic_lan.c, "client-user", "set", "pvs-audit", "--password", BASIC_PASSWORD)
    entry = admin_change(basic_lan.c, "CLIENTUSER/pvs-audit")
    assert entry["params"]["NewVal"] == "password set"
    assert BASIC_PASSWORD not in json.dumps(log_entries(basic_lan.c))
    assert BASIC_PASSWORD not in basic_lan.c.output()


def test_deleted_basic_user_is_refused(basic_lan):
    ok(basic_lan.c, "client-user", "set", "pvs-gone", "--password", BASIC_PASSWORD)
    assert "deleted client user 'pvs-gone'" in ok(basic_lan.c, "client-user", "delete",
                                                  "pvs-gone")
    assert admin_change(basic_lan.c, "CLIENTUSER/pvs-gone")["params"]["NewVal"] == "deleted"
    status, _, _ = basic_lan.get_sds(basic_lan.context(), basic("pvs-gone", BASIC_PASSWORD))
    assert status == 401
    res = basic_lan.c.konctl("client-user", "delete", "pvs-gone")
    assert res.returncode == EXIT_NOT_FOUND, res.stderr


def test_generated_basic_password_works(basic_lan):
    out = ok(basic_lan.c, "client-user", "set", "pvs-gen")
    (password,) = re.findall(r"^password: (\S+)$", out, re.M)
    status, _, _ = basic_lan.get_sds(basic_lan.context(), basic("pvs-gen", password))
    assert status == 200


# ---- without a LAN interface -------------------------------------------------------------


def test_without_lan_interface_issue_is_503(connector, tmp_path):
    status, body = connector.request("POST", "/api/v1/client-certs",
                                     {"name": "pvs", "password": P12_PASSWORD})
    assert status == 503 and body["error"]["code"] == "unavailable"
    res = connector.konctl("client-cert", "issue", "pvs", "--out", str(tmp_path / "pvs.p12"),
                           "--password", P12_PASSWORD)
    assert res.returncode == EXIT_ERROR and "LAN interface is not enabled" in res.stderr
    assert not os.listdir(tmp_path)
    status, _ = connector.request("PUT", "/api/v1/client-basic-users/pvs",
                                  {"password": BASIC_PASSWORD})
    assert status == 503
    status, _ = connector.request("DELETE", "/api/v1/client-basic-users/pvs")
    assert status == 503
