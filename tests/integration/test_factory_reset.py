"""Factory reset (TIP1-A_4820, issue #7): through the management API with a confirmation
token, and through the hidden button (DATA/run/button.sock) with the type plate's reset
credential. Checked item by item: what goes back to delivery state and what is kept."""
import hashlib
import json
import os
import socket
import stat
import subprocess

import pytest

from conftest import Connector, free_port, log_entries, scaled, world_template

RESET = "/api/v1/factory-reset"


def tree_digest(root, skip=()):
    """{relative path: sha256} of the regular files below root, minus the names in skip."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        dirnames[:] = [d for d in dirnames if os.path.normpath(os.path.join(rel_dir, d)) not in skip]
        for name in filenames:
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if rel in skip:
                continue
            with open(os.path.join(dirpath, name), "rb") as f:
                out[rel] = hashlib.sha256(f.read()).hexdigest()
    return out


def reset_via_api(c, user="admin", password=None):
    first = c.api("POST", RESET, None, user=user, password=password)
    return c.api("POST", RESET, {"confirm_token": first["confirm_token"]}, user=user,
                 password=password)


def read(path):
    with open(path) as f:
        return f.read()


def configure(c, tmp_path):
    """Changes one of everything a reset must take back."""
    c.api("PUT", "/api/v1/settings/SECURITY_LOG_DAYS", {"value": "30"})
    c.api("POST", "/api/v1/infomodel/mandant", {"id": "m9"})
    c.api("POST", "/api/v1/infomodel/card-terminal", {"id": "ct9", "name": "Labor", "slots": 2})
    c.api("POST", "/api/v1/infomodel/relations", {"relation": "mandant-workplace", "a": "m9",
                                                  "b": "ws1"})
    c.api("POST", "/api/v1/users", {"name": "bob", "role": "Local-Administrator",
                                    "password": "bob-password-1"})
    c.api("POST", "/api/v1/client-certs", {"name": "pvs1", "password": "client-cert-pw"})
    c.api("PUT", "/api/v1/client-basic-users/pvs2", {"password": "basic-pw-123"})


def assert_delivery_state(c, old_password):
    # Settings: back to their defaults.
    days = c.api("GET", "/api/v1/settings/SECURITY_LOG_DAYS")
    assert days["value"] == days["default"] != "30"
    # Info model: the demo practice of the first start, nothing added.
    im = c.api("GET", "/api/v1/infomodel")
    assert im["mandants"] == ["m1"] and im["workplaces"] == ["ws1"]
    assert [t["id"] for t in im["card_terminals"]] == ["ct1"]
    assert im["relations"]["mandant-workplace"] == [["m1", "ws1"]]
    # Users: only the new admin; the old password is refused.
    assert [u["name"] for u in c.api("GET", "/api/v1/users")["users"]] == ["admin"]
    assert c.request("GET", "/api/v1/status", password=old_password)[0] == 401
    assert c.request("GET", "/api/v1/status", user="bob", password="bob-password-1")[0] == 401
    # Client certificates and Basic users are gone, on disk too.
    assert c.api("GET", "/api/v1/client-certs")["client_certs"] == []
    assert os.listdir(os.path.join(c.data_dir, "identity", "lan-client-certs")) == []
    assert not os.path.exists(os.path.join(c.data_dir, "identity", "lan-basic-users"))
    # Terminals follow the info model: ct9 is gone from the world.
    assert [t["id"] for t in c.api("GET", "/control/v1/terminals")["terminals"]] == ["ct1"]


def snapshot(c):
    """What a reset must keep, for comparison afterwards."""
    d = c.data_dir
    return {
        "identity": tree_digest(os.path.join(d, "identity"),
                                skip={"lan-client-certs", "lan-basic-users"}),
        "fw": tree_digest(os.path.join(d, "fw")),
        "trust": c.api("GET", "/control/v1/trust"),
        "trust_dir": tree_digest(os.path.join(d, "trust")),
        "cards": [(k["name"], k["iccsn"], k["where"]) for k in
                  c.api("GET", "/control/v1/cards")["cards"]],
        "admin_changes": log_entries(c, "MGM/ADMINCHANGES", 1),
    }


def assert_kept(c, before):
    after = snapshot(c)
    assert after["identity"] == before["identity"]
    assert "type-plate.txt" in after["identity"] and "mgmt-key.pem" in after["identity"]
    assert after["fw"] == before["fw"] and "marker" in after["fw"]
    assert after["trust"] == before["trust"] and after["trust_dir"] == before["trust_dir"]
    assert after["cards"] == before["cards"]
    # The security log keeps every entry from before the reset.
    old = {e["seq"] for e in before["admin_changes"]}
    assert old and old <= {e["seq"] for e in after["admin_changes"]}


def test_api_reset_returns_to_delivery_state_and_keeps_identity_log_firmware_world(
        start_connector, tmp_path):
    lan = free_port()
    c = start_connector(["--lan-http", f"127.0.0.1:{lan}"])
    configure(c, tmp_path)
    os.makedirs(os.path.join(c.data_dir, "fw"), exist_ok=True)
    with open(os.path.join(c.data_dir, "fw", "marker"), "w") as f:
        f.write("installed firmware\n")
    old_password = c.password
    before = snapshot(c)

    first = c.api("POST", RESET)
    assert first["expires_in_s"] == 60 and len(first["confirm_token"]) >= 16
    assert any("security log" in k for k in first["keeps"])
    assert any("settings" in r for r in first["resets"])
    done = c.api("POST", RESET, {"confirm_token": first["confirm_token"]})
    assert done["new_admin_password_file"] == os.path.join(c.data_dir, "initial-admin-password")
    assert 0 <= done["duration_ms"] < scaled(10) * 1000

    new_password = read(done["new_admin_password_file"]).strip()
    assert new_password and new_password != old_password
    assert stat.S_IMODE(os.stat(done["new_admin_password_file"]).st_mode) == 0o600
    c.password = new_password
    assert_delivery_state(c, old_password)
    assert_kept(c, before)
    entries = log_entries(c, "MGM/FACTORYSETTINGS")
    assert len(entries) == 1
    assert entries[0]["params"] == {"User": "admin", "Via": "mgmt-api"}
    assert entries[0]["type"] == "Operation" and entries[0]["severity"] == "Info"
    res = c.konctl("log", "verify")
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One connector for the refusal tests below, which run in this order: the token test
    changes nothing, the button back-off test and the permission test end with a reset each.
    (A start costs seconds under the sanitizers.)"""
    c = Connector(str(tmp_path_factory.mktemp("shared")), free_port(),
                  ["--world-template", world_template()])
    try:
        c.wait_ready()
        yield c
    finally:
        c.stop()


def relogin(c):
    c.password = read(os.path.join(c.data_dir, "initial-admin-password")).strip()


def test_wrong_or_expired_token_is_refused_and_changes_nothing(shared):
    c = shared
    c.api("PUT", "/api/v1/settings/SECURITY_LOG_DAYS", {"value": "30"})
    c.api("POST", RESET)
    status, body = c.request("POST", RESET, {"confirm_token": "0" * 32})
    assert status == 409 and "not the current one" in body["error"]["message"]
    # A wrong try used the token up: ask again, then let it expire.
    token = c.api("POST", RESET)["confirm_token"]
    c.api("POST", "/control/v1/clock/advance", {"by": "61s"})
    status, body = c.request("POST", RESET, {"confirm_token": token})
    assert status == 409 and "expired" in body["error"]["message"]
    status, _ = c.request("POST", RESET, {"confirm_token": 5})
    assert status == 400
    assert c.api("GET", "/api/v1/settings/SECURITY_LOG_DAYS")["value"] == "30"
    assert log_entries(c, "MGM/FACTORYSETTINGS") == []


def test_reset_is_refused_while_the_security_log_cannot_record_it(shared):
    c = shared
    c.api("POST", "/control/v1/fault/seclog-io-error", {"on": True})
    try:
        token = c.api("POST", RESET)["confirm_token"]
        status, body = c.request("POST", RESET, {"confirm_token": token})
        assert status == 503 and "nothing was changed" in body["error"]["message"]
    finally:
        c.api("POST", "/control/v1/fault/seclog-io-error", {"on": False})
    assert c.api("GET", "/api/v1/settings/SECURITY_LOG_DAYS")["value"] == "30"
    assert c.request("GET", "/api/v1/status")[0] == 200  # the same admin password


def test_hidden_button_backs_off_after_repeated_wrong_credentials(shared):
    c = shared
    sock = os.path.join(c.data_dir, "run", "button.sock")
    for _ in range(3):
        assert button(c, "--socket", sock, "--credential", "guess").returncode == 4
    # Locked now: even the right credential is refused until the back-off has passed.
    res = button(c, "--data-dir", c.data_dir)
    assert res.returncode == 4 and "locked until" in res.stderr
    c.api("POST", "/control/v1/clock/advance", {"by": "31s"})
    res = button(c, "--data-dir", c.data_dir)
    assert res.returncode == 0, res.stdout + res.stderr
    relogin(c)
    assert len(log_entries(c, "MGM/BUTTON_RESET_REFUSED", 4)) == 4


def test_reset_needs_user_reset_permission(shared):
    c = shared
    c.api("POST", "/api/v1/users", {"name": "loc", "role": "Local-Administrator",
                                    "password": "loc-password-1"})
    status, body = c.request("POST", RESET, user="loc", password="loc-password-1")
    assert status == 403 and "USER_RESET_PERMISSION" in body["error"]["message"]
    admin = next(u for u in c.api("GET", "/api/v1/users")["users"] if u["name"] == "admin")
    assert admin["permissions"] == ["USER_RESET_PERMISSION"]

    c.konctl("users", "permissions", "loc", "USER_RESET_PERMISSION", check=True)
    loc = next(u for u in c.api("GET", "/api/v1/users")["users"] if u["name"] == "loc")
    assert loc["permissions"] == ["USER_RESET_PERMISSION"]
    status, _ = c.request("PUT", "/api/v1/users/loc/permissions", {"permissions": ["ROOT"]})
    assert status == 400
    done = reset_via_api(c, user="loc", password="loc-password-1")
    assert done["duration_ms"] >= 0
    relogin(c)
    assert log_entries(c, "MGM/FACTORYSETTINGS", 2)[-1]["params"] == {"User": "loc",
                                                                       "Via": "mgmt-api"}
    assert c.request("GET", "/api/v1/status", user="loc", password="loc-password-1")[0] == 401


def button(c, *extra):
    return subprocess.run([os.environ["KONCTL"], "button", "reset", *extra],
                          capture_output=True, text=True, timeout=scaled(60),
                          env=dict(os.environ, NO_COLOR="1"))


def test_hidden_button_resets_when_every_admin_is_locked_out(connector):
    c = connector
    sock = os.path.join(c.data_dir, "run", "button.sock")
    plate = read(os.path.join(c.data_dir, "identity", "type-plate.txt"))
    assert stat.S_ISSOCK(os.stat(sock).st_mode)
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
    assert "Serial: KON-" in plate and "Reset-Credential: " in plate
    c.api("PUT", "/api/v1/settings/SECURITY_LOG_DAYS", {"value": "30"})
    old_password = c.password
    # Nobody can log in any more: the only admin is locked.
    for _ in range(5):
        c.request("GET", "/api/v1/status", password="wrong-password")
    status, body = c.request("GET", "/api/v1/status")
    assert status == 401 and body["error"]["code"] == "locked"

    res = button(c, "--socket", sock, "--credential", "not-the-credential")
    assert res.returncode == 4, res.stdout + res.stderr
    assert "type plate" in res.stderr

    res = button(c, "--data-dir", c.data_dir)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "delivery state" in res.stdout
    relogin(c)
    assert c.password != old_password
    assert c.api("GET", "/api/v1/settings/SECURITY_LOG_DAYS")["value"] != "30"
    refused = log_entries(c, "MGM/BUTTON_RESET_REFUSED", 1)
    assert refused and refused[0]["type"] == "Security"
    assert refused[0]["params"]["Reason"] == "wrong credential"
    resets = log_entries(c, "MGM/FACTORYSETTINGS")
    assert [e["params"] for e in resets] == [{"User": "hidden-button", "Via": "button"}]
    # The type plate survives, so its credential works again.
    assert read(os.path.join(c.data_dir, "identity", "type-plate.txt")) == plate
    # The socket goes with the daemon.
    c.stop()
    assert not os.path.exists(sock)

