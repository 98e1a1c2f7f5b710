"""Accounts, roles (TIP1-A_4810), password storage and lockout."""
import sqlite3
import os


def add_user(c, name, role, password="correct-horse-1"):
    return c.api("POST", "/api/v1/users", {"name": name, "role": role, "password": password})


def test_wrong_password_is_refused(connector):
    status, body = connector.request("GET", "/api/v1/status", password="wrong-password")
    assert status == 401 and body["error"]["code"] == "bad_credentials"
    status, _ = connector.request("GET", "/api/v1/status", user="nobody", password="whatever1")
    assert status == 401


def test_repeated_failures_lock_the_account_for_a_growing_time(connector):
    for _ in range(5):
        assert connector.request("GET", "/api/v1/leds", password="wrong-password")[0] == 401
    status, body = connector.request("GET", "/api/v1/leds")
    assert status == 401 and body["error"]["code"] == "locked", body
    # A second, separate account does the clock work while admin is locked.
    # (The lock runs on the connector's clock, the virtual one here.)
    users = os.path.join(connector.data_dir, "config.db")
    db = sqlite3.connect(users)
    locked_first = db.execute("SELECT locked_until_ms FROM users WHERE name='admin'").fetchone()
    db.close()
    assert locked_first[0] > 0


def test_lock_expires_on_the_connector_clock(connector):
    add_user(connector, "clockwork", "Local-Administrator")
    for _ in range(5):
        connector.request("GET", "/api/v1/leds", password="wrong-password")
    assert connector.request("GET", "/api/v1/leds")[1]["error"]["code"] == "locked"
    connector.api("POST", "/control/v1/clock/advance", {"by": "31s"}, user="clockwork",
                  password="correct-horse-1")
    assert connector.request("GET", "/api/v1/leds")[0] == 200
    # After a success the counter starts again: one failure does not lock.
    connector.request("GET", "/api/v1/leds", password="wrong-password")
    assert connector.request("GET", "/api/v1/leds")[0] == 200


def test_lock_doubles_with_each_further_failure(connector):
    add_user(connector, "clockwork", "Local-Administrator")
    for _ in range(5):
        connector.request("GET", "/api/v1/leds", password="wrong-password")
    connector.api("POST", "/control/v1/clock/advance", {"by": "31s"}, user="clockwork",
                  password="correct-horse-1")
    connector.request("GET", "/api/v1/leds", password="wrong-password")  # sixth: 60 s
    connector.api("POST", "/control/v1/clock/advance", {"by": "31s"}, user="clockwork",
                  password="correct-horse-1")
    assert connector.request("GET", "/api/v1/leds")[1]["error"]["code"] == "locked"
    connector.api("POST", "/control/v1/clock/advance", {"by": "30s"}, user="clockwork",
                  password="correct-horse-1")
    assert connector.request("GET", "/api/v1/leds")[0] == 200


def test_super_admin_unlocks_an_account(connector):
    add_user(connector, "lisa", "Local-Administrator")
    for _ in range(5):
        connector.request("GET", "/api/v1/leds", user="lisa", password="wrong-password")
    status, body = connector.request("GET", "/api/v1/leds", user="lisa",
                                     password="correct-horse-1")
    assert body["error"]["code"] == "locked"
    connector.api("POST", "/api/v1/users/lisa/unlock")
    assert connector.request("GET", "/api/v1/leds", user="lisa",
                             password="correct-horse-1")[0] == 200


def test_passwords_are_stored_with_a_slow_kdf(connector):
    db = sqlite3.connect(os.path.join(connector.data_dir, "config.db"))
    (record,) = db.execute("SELECT pwhash FROM users WHERE name='admin'").fetchone()
    db.close()
    algo, iterations, salt, digest = record.split("$")
    assert algo == "pbkdf2-sha256"
    assert int(iterations) >= 600000
    assert len(salt) == 32 and len(digest) == 64
    assert connector.password not in record


def test_local_admin_is_refused_a_super_admin_action(connector):
    add_user(connector, "lisa", "Local-Administrator")
    status, body = connector.request("POST", "/api/v1/users",
                                     {"name": "eve", "role": "Super-Administrator",
                                      "password": "12345678"},
                                     user="lisa", password="correct-horse-1")
    assert status == 403 and body["error"]["code"] == "forbidden"
    # But a Local-Administrator changes settings and the world.
    connector.api("PUT", "/api/v1/settings/LOG_DAYS", {"value": "20"}, user="lisa",
                  password="correct-horse-1")


def test_remote_admin_may_not_change_client_security_settings(connector):
    add_user(connector, "remo", "Remote-Administrator")
    status, body = connector.request("PUT", "/api/v1/settings/ANCL_TLS_MANDATORY",
                                     {"value": "Disabled"}, user="remo",
                                     password="correct-horse-1")
    assert status == 403
    connector.api("PUT", "/api/v1/settings/LOG_DAYS", {"value": "30"}, user="remo",
                  password="correct-horse-1")


def test_user_lifecycle_and_rules(connector):
    add_user(connector, "lisa", "local")
    status, _ = connector.request("POST", "/api/v1/users",
                                  {"name": "lisa", "role": "local", "password": "abcdefgh"})
    assert status == 409
    status, body = connector.request("POST", "/api/v1/users",
                                     {"name": "bob", "role": "local", "password": "short"})
    assert status == 400 and "8 to 128" in body["error"]["message"]
    status, _ = connector.request("POST", "/api/v1/users",
                                  {"name": "bad name!", "role": "local", "password": "abcdefgh"})
    assert status == 400
    status, _ = connector.request("POST", "/api/v1/users",
                                  {"name": "bob", "role": "janitor", "password": "abcdefgh"})
    assert status == 400
    # Own password change, then the old one stops working.
    connector.api("PUT", "/api/v1/users/lisa/password", {"password": "new-password-2"},
                  user="lisa", password="correct-horse-1")
    assert connector.request("GET", "/api/v1/leds", user="lisa",
                             password="correct-horse-1")[0] == 401
    assert connector.request("GET", "/api/v1/leds", user="lisa",
                             password="new-password-2")[0] == 200
    users = [u["name"] for u in connector.api("GET", "/api/v1/users")["users"]]
    assert users == ["admin", "lisa"]
    status, body = connector.request("DELETE", "/api/v1/users/admin")
    assert status == 409
    connector.api("DELETE", "/api/v1/users/lisa")
    assert connector.request("GET", "/api/v1/leds", user="lisa",
                             password="new-password-2")[0] == 401
    changes = [e["params"] for e in connector.events() if e["topic"] == "MGM/ADMINCHANGES"]
    assert {"User": "admin", "RefID": "USER/lisa", "NewVal": "deleted"} in changes
    assert all("new-password-2" not in v for p in changes for v in p.values())


def test_login_failures_are_published_as_security_events(connector):
    connector.request("GET", "/api/v1/leds", password="wrong-password")
    ev = [e for e in connector.events() if e["topic"] == "MGM/LOGIN_FAILED"]
    assert ev and ev[0]["type"] == "Security" and ev[0]["params"]["User"] == "admin"
