"""Configuration backup and restore (TIP1-A_4814 to TIP1-A_4816, issue #7): export on one
connector, import on a second, fresh one (the replacement-device path), which then serves the
restored call context."""
import base64
import os
import re

import pytest

from conftest import Connector, free_port, log_entries, soap_get_cards, world_template

GETCARDS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:EVT="http://ws.gematik.de/conn/EventService/v7.2" '
    'xmlns:CCTX="http://ws.gematik.de/conn/ConnectorContext/v2.0" '
    'xmlns:CONN="http://ws.gematik.de/conn/ConnectorCommon/v5.0"><soap:Body>'
    '<EVT:GetCards mandant-wide="false"><CCTX:Context><CONN:MandantId>m5</CONN:MandantId>'
    '<CONN:ClientSystemId>cs5</CONN:ClientSystemId><CONN:WorkplaceId>ws5</CONN:WorkplaceId>'
    '</CCTX:Context></EVT:GetCards></soap:Body></soap:Envelope>')


def get_cards(lan_url):
    """GetCards in the context m5/cs5/ws5: (gematik code or 0, the CtIds of the cards)."""
    return soap_get_cards(lan_url, GETCARDS)


def lan_args(port):
    return ["--lan-http", f"127.0.0.1:{port}", "--setting", "ANCL_TLS_MANDATORY=Disabled"]


def configure(c):
    for kind, ident in (("mandant", "m5"), ("client-system", "cs5"), ("workplace", "ws5")):
        c.api("POST", f"/api/v1/infomodel/{kind}", {"id": ident})
    for rel, a, b in (("mandant-client-system", "m5", "cs5"), ("mandant-workplace", "m5", "ws5"),
                      ("workplace-ct-local", "ws5", "ct1")):
        c.api("POST", "/api/v1/infomodel/relations", {"relation": rel, "a": a, "b": b})
    c.api("POST", "/api/v1/infomodel/card-terminal", {"id": "ct7", "name": "Labor", "slots": 2,
                                                      "active": False})
    c.api("PUT", "/api/v1/settings/SECURITY_LOG_DAYS", {"value": "45"})
    c.api("POST", "/api/v1/client-certs", {"name": "pvs1", "password": "client-cert-pw"})
    c.api("POST", "/api/v1/users", {"name": "bob", "role": "Local-Administrator",
                                    "password": "bob-password-1",
                                    "permissions": ["USER_RESET_PERMISSION"]})


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """One configured connector for the module (configuring costs key and password
    derivations) and its backup with users. The tests only read its configuration."""
    a = Connector(str(tmp_path_factory.mktemp("a")), free_port(),
                  ["--world-template", world_template(), *lan_args(free_port())])
    try:
        a.wait_ready()
        configure(a)
        yield a, a.api("POST", "/api/v1/config/export", {"include_users": True})
    finally:
        a.stop()


def test_export_then_import_on_a_fresh_connector_restores_its_service(exported, start_connector,
                                                                      tmp_path):
    a, backup = exported
    assert len(backup["passphrase"]) >= 16
    assert backup["file_name"].endswith(".kbak") and backup["include_users"] is True
    raw = base64.b64decode(backup["backup_b64"])
    assert raw[:8] == b"KONNBAK1" and len(raw) == backup["size"]
    # The passphrase is nowhere on the device.
    for root, dirs, files in os.walk(a.data_dir):
        dirs[:] = [d for d in dirs if d not in ("seclog", "syslog", "world")]
        for name in files:
            path = os.path.join(root, name)
            if not os.path.isfile(path) or os.path.getsize(path) > 1 << 20:
                continue
            with open(path, "rb") as f:
                assert backup["passphrase"].encode() not in f.read(), name
    assert log_entries(a, "MGM/CONFIG_EXIMPORT", 1, limit=100)[-1]["params"]["Direction"] == "export"

    port = free_port()
    b = start_connector(lan_args(port), data=str(tmp_path / "b"))
    lan = f"http://127.0.0.1:{port}"
    assert get_cards(lan)[0] != 0  # m5 is unknown here

    body = {"backup_b64": backup["backup_b64"], "passphrase": backup["passphrase"]}
    shown = b.api("POST", "/api/v1/config/import", body)
    assert shown["applied"] is False
    assert shown["signer"]["this_device"] is False
    assert shown["signer"]["subject"] and ":" in shown["signer"]["fingerprint_sha256"]
    assert shown["signer"]["signed"] and shown["created"]
    assert shown["contains"]["mandants"] == 2 and shown["contains"]["card_terminals"] == 2
    assert shown["contains"]["client_certs"] == 1 and shown["contains"]["users"] == 2
    assert get_cards(lan)[0] != 0  # nothing applied yet

    done = b.api("POST", "/api/v1/config/import", dict(body, confirm=True))
    assert done["applied"] is True
    assert get_cards(lan) == (0, ["ct1", "ct1", "ct1"])
    # The backup's accounts replace those of the same name: admin has a's password now.
    assert b.request("GET", "/api/v1/status")[0] == 401
    b.password = a.password
    im = b.api("GET", "/api/v1/infomodel")
    assert im["mandants"] == ["m1", "m5"]
    assert {"id": "ct7", "name": "Labor", "slots": 2, "active": False} in im["card_terminals"]
    assert b.api("GET", "/api/v1/settings/SECURITY_LOG_DAYS")["value"] == "45"
    assert [x["name"] for x in b.api("GET", "/api/v1/client-certs")["client_certs"]] == ["pvs1"]
    # Accounts come along with their password records and grants.
    bob = b.api("GET", "/api/v1/status", user="bob", password="bob-password-1")
    assert bob["booted"] is True
    users = {u["name"]: u for u in b.api("GET", "/api/v1/users")["users"]}
    assert users["bob"]["permissions"] == ["USER_RESET_PERMISSION"]
    logged = log_entries(b, "MGM/CONFIG_EXIMPORT", 1, limit=100)
    assert [e["params"]["Direction"] for e in logged] == ["import"]
    assert logged[0]["params"]["User"] == "admin"


def test_import_refuses_wrong_passphrase_tampering_and_truncation(exported):
    a, backup = exported
    raw = bytearray(base64.b64decode(backup["backup_b64"]))

    def imp(data, passphrase=backup["passphrase"]):
        return a.request("POST", "/api/v1/config/import",
                         {"backup_b64": base64.b64encode(bytes(data)).decode(),
                          "passphrase": passphrase, "confirm": True})

    status, body = imp(raw, "wrong-passphrase-123456")
    assert status == 400 and "passphrase is wrong" in body["error"]["message"]
    tampered = bytearray(raw)
    tampered[100] ^= 1
    status, body = imp(tampered)
    assert status == 400 and "changed after it was made" in body["error"]["message"]
    status, body = imp(raw[:50])
    assert status == 400 and "truncated" in body["error"]["message"]
    status, body = a.request("POST", "/api/v1/config/import",
                             {"backup_b64": "!!!!", "passphrase": "x"})
    assert status == 400
    # This connector's own backup verifies and says so.
    shown = a.api("POST", "/api/v1/config/import", {"backup_b64": backup["backup_b64"],
                                                    "passphrase": backup["passphrase"]})
    assert shown["signer"]["this_device"] is True


def test_import_needs_a_super_administrator_and_users_need_one_to_export(exported):
    a, backup = exported
    body = {"backup_b64": backup["backup_b64"], "passphrase": backup["passphrase"]}
    status, _ = a.request("POST", "/api/v1/config/import", body, user="bob",
                          password="bob-password-1")
    assert status == 403
    status, _ = a.request("POST", "/api/v1/config/export", {"include_users": True}, user="bob",
                          password="bob-password-1")
    assert status == 403
    plain = a.api("POST", "/api/v1/config/export", {}, user="bob", password="bob-password-1")
    assert plain["include_users"] is False


def test_konctl_config_export_and_import(exported, tmp_path):
    a, _ = exported
    out = tmp_path / "config.kbak"
    res = a.konctl("config", "export", "-o", str(out))
    assert res.returncode == 0, res.stdout + res.stderr
    passphrase = re.search(r"passphrase: (\S+)", res.stdout).group(1)
    assert oct(os.stat(out).st_mode & 0o777) == "0o600"
    res = a.konctl("config", "import", str(out), "--passphrase", passphrase)
    assert res.returncode == 0 and "not applied" in res.stdout and "(this device)" in res.stdout
    res = a.konctl("config", "import", str(out), "--passphrase", passphrase, "--yes")
    assert res.returncode == 0 and "applied" in res.stdout, res.stdout + res.stderr
    res = a.konctl("config", "import", str(out), "--passphrase", "nope-nope-nope-nope")
    assert res.returncode == 5, res.stdout + res.stderr
