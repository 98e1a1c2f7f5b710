"""The info model (TIP1-A_4522, TIP1-A_4526) against the real daemon: the demo practice of a
first start, changes through the management API and konctl, the errors and exit codes that
name the rule or the missing entity, the roles, and the audit trail (MGM/ADMINCHANGES in the
security log, MGM/INFOMODEL_CHANGED on the bus), and that every change reaches the SOAP
context check (TUC_KON_000) of the very next call."""
import json
import re
import time

from conftest import free_port, scaled, soap_get_cards

EXIT_USAGE = 2
EXIT_REFUSED = 5
EXIT_FORBIDDEN = 6
EXIT_NOT_FOUND = 7
EXIT_CONFLICT = 8

BASE = "/api/v1/infomodel"
RELATIONS = ("mandant-client-system", "mandant-workplace", "workplace-ct-local",
             "workplace-ct-remote", "mandant-smb")
DEMO_CT = {"id": "ct1", "name": "Demo terminal", "slots": 4, "active": True}
PASSWORD = "correct-horse-1"


def model(c):
    return c.api("GET", BASE)


def ok(c, *args, **kw):
    """Runs konctl, requires exit 0, returns stdout."""
    return c.konctl(*args, check=True, **kw).stdout


def add_user(c, name, role):
    c.api("POST", "/api/v1/users", {"name": name, "role": role, "password": PASSWORD})


def relate(c, rel, a, b):
    return c.request("POST", BASE + "/relations", {"relation": rel, "a": a, "b": b})


def error_of(status_body, status):
    got, body = status_body
    assert got == status, body
    return body["error"]


def wait_for(predicate, seconds=5, what="condition"):
    deadline = time.monotonic() + scaled(seconds)
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


# ---- the demo practice -------------------------------------------------------------------


def test_first_start_creates_the_demo_practice(connector):
    m = model(connector)
    assert m["mandants"] == ["m1"]
    assert m["client_systems"] == ["cs1"]
    assert m["workplaces"] == ["ws1"]
    assert m["card_terminals"] == [DEMO_CT]
    assert sorted(m["relations"]) == sorted(RELATIONS)
    assert m["relations"]["mandant-client-system"] == [["m1", "cs1"]]
    assert m["relations"]["mandant-workplace"] == [["m1", "ws1"]]
    assert m["relations"]["workplace-ct-local"] == [["ws1", "ct1"]]
    assert m["relations"]["workplace-ct-remote"] == []
    assert m["relations"]["mandant-smb"] == []


def test_demo_practice_is_not_recreated_once_changed(start_connector):
    c = start_connector()
    c.api("DELETE", BASE + "/card-terminal/ct1")
    c.stop()
    c = start_connector()
    m = model(c)
    assert m["card_terminals"] == []
    assert m["mandants"] == ["m1"]


# ---- changes through the API -------------------------------------------------------------


def test_entities_and_relations_are_added_and_deleted(connector):
    assert connector.api("POST", BASE + "/mandant", {"id": "m2"}) == {"kind": "mandant",
                                                                     "id": "m2"}
    connector.api("POST", BASE + "/client-system", {"id": "cs2"})
    connector.api("POST", BASE + "/workplace", {"id": "ws2"})
    status, body = relate(connector, "mandant-client-system", "m2", "cs2")
    assert status == 201 and body == {"relation": "mandant-client-system", "a": "m2", "b": "cs2"}
    assert relate(connector, "mandant-workplace", "m2", "ws2")[0] == 201
    assert relate(connector, "workplace-ct-remote", "ws2", "ct1")[0] == 201
    assert relate(connector, "mandant-smb", "m2", "80276883110000017222")[0] == 201
    m = model(connector)
    assert m["mandants"] == ["m1", "m2"]
    assert ["m2", "cs2"] in m["relations"]["mandant-client-system"]
    assert m["relations"]["workplace-ct-remote"] == [["ws2", "ct1"]]
    assert m["relations"]["mandant-smb"] == [["m2", "80276883110000017222"]]

    # Deleting a Mandant takes its relations along, and no others.
    answer = connector.api("DELETE", BASE + "/mandant/m2")
    assert answer == {"kind": "mandant", "id": "m2", "deleted": True, "relations_deleted": 3}
    m = model(connector)
    assert m["mandants"] == ["m1"]
    assert m["relations"]["mandant-client-system"] == [["m1", "cs1"]]
    assert m["relations"]["mandant-workplace"] == [["m1", "ws1"]]
    assert m["relations"]["mandant-smb"] == []
    assert m["relations"]["workplace-ct-remote"] == [["ws2", "ct1"]]

    status, body = connector.request("DELETE", BASE + "/relations",
                                     {"relation": "workplace-ct-remote", "a": "ws2", "b": "ct1"})
    assert status == 200 and body["deleted"] is True
    assert model(connector)["relations"]["workplace-ct-remote"] == []


def test_card_terminal_is_added_with_attributes_and_updated(connector):
    status, body = connector.request("POST", BASE + "/card-terminal",
                                     {"id": "ct2", "name": "Empfang", "slots": 2,
                                      "active": False})
    assert status == 201
    assert body == {"kind": "card-terminal", "id": "ct2", "name": "Empfang", "slots": 2,
                    "active": False}
    body = connector.api("PUT", BASE + "/card-terminal/ct2", {"slots": 16, "active": True})
    assert (body["name"], body["slots"], body["active"], body["changed"]) == ("Empfang", 16,
                                                                             True, True)
    body = connector.api("PUT", BASE + "/card-terminal/ct2", {"slots": 16})
    assert body["changed"] is False
    # Without attributes a terminal is named after its id, with 4 active slots.
    connector.api("POST", BASE + "/card-terminal", {"id": "ct3"})
    cts = {ct["id"]: ct for ct in model(connector)["card_terminals"]}
    assert cts["ct3"] == {"id": "ct3", "name": "ct3", "slots": 4, "active": True}
    assert cts["ct2"]["slots"] == 16


def test_changes_survive_a_restart(start_connector):
    c = start_connector()
    c.api("POST", BASE + "/workplace", {"id": "ws-empfang"})
    c.api("POST", BASE + "/card-terminal", {"id": "ct-empfang", "name": "Empfang", "slots": 1})
    assert relate(c, "workplace-ct-local", "ws-empfang", "ct-empfang")[0] == 201
    c.stop()
    c = start_connector()
    m = model(c)
    assert "ws-empfang" in m["workplaces"]
    assert {"id": "ct-empfang", "name": "Empfang", "slots": 1, "active": True} in \
        m["card_terminals"]
    assert ["ws-empfang", "ct-empfang"] in m["relations"]["workplace-ct-local"]


# ---- errors ------------------------------------------------------------------------------


def test_bad_values_are_400_naming_the_rule(connector):
    e = error_of(connector.request("POST", BASE + "/mandant", {"id": "m 2"}), 400)
    assert e["code"] == "invalid_value"
    assert "1 to 64 characters of A-Z a-z 0-9 . _ -" in e["message"] and "'m 2'" in e["message"]
    e = error_of(connector.request("POST", BASE + "/card-terminal", {"id": "ct9", "slots": 17}),
                 400)
    assert e["code"] == "invalid_value" and "1 to 16" in e["message"] and "17" in e["message"]
    e = error_of(connector.request("PUT", BASE + "/card-terminal/ct1", {"slots": 0}), 400)
    assert "1 to 16" in e["message"]
    e = error_of(connector.request("PUT", BASE + "/card-terminal/ct1", {"active": "yes"}), 400)
    assert "true or false" in e["message"]
    e = error_of(connector.request("POST", BASE + "/mandant", {"id": "m3", "slots": 2}), 400)
    assert "only a card-terminal" in e["message"]
    e = error_of(relate(connector, "mandant-terminal", "m1", "ct1"), 400)
    assert "workplace-ct-local" in e["message"]
    e = error_of(connector.request("POST", BASE + "/mandant", {}), 400)
    assert e["code"] == "bad_request" and "'id'" in e["message"]
    # Nothing of that was stored.
    m = model(connector)
    assert m["mandants"] == ["m1"] and m["card_terminals"] == [DEMO_CT]


def test_missing_things_are_404_naming_them(connector):
    e = error_of(relate(connector, "mandant-client-system", "m1", "cs9"), 404)
    assert e["code"] == "not_found" and "client-system 'cs9'" in e["message"]
    e = error_of(relate(connector, "mandant-workplace", "m9", "ws1"), 404)
    assert "mandant 'm9'" in e["message"]
    e = error_of(connector.request("DELETE", BASE + "/workplace/ws9"), 404)
    assert "workplace 'ws9'" in e["message"]
    e = error_of(connector.request("PUT", BASE + "/card-terminal/ct9", {"slots": 2}), 404)
    assert "card-terminal 'ct9'" in e["message"]
    e = error_of(connector.request("POST", BASE + "/printer", {"id": "p1"}), 404)
    assert "'printer'" in e["message"] and "card-terminal" in e["message"]
    e = error_of(connector.request("DELETE", BASE + "/relations",
                                   {"relation": "workplace-ct-remote", "a": "ws1", "b": "ct1"}),
                 404)
    assert "not related" in e["message"]


def test_duplicates_are_409(connector):
    e = error_of(connector.request("POST", BASE + "/mandant", {"id": "m1"}), 409)
    assert e["code"] == "conflict" and "mandant 'm1'" in e["message"]
    e = error_of(connector.request("POST", BASE + "/card-terminal", {"id": "ct1"}), 409)
    assert "card-terminal 'ct1'" in e["message"]
    e = error_of(relate(connector, "mandant-client-system", "m1", "cs1"), 409)
    assert "related already" in e["message"]
    # The same id as another kind is a different entity.
    assert connector.request("POST", BASE + "/workplace", {"id": "m1"})[0] == 201


# ---- roles -------------------------------------------------------------------------------


def test_remote_administrator_reads_but_may_not_change(connector):
    add_user(connector, "auditor", "Remote-Administrator")
    status, body = connector.request("GET", BASE, user="auditor", password=PASSWORD)
    assert status == 200 and body["mandants"] == ["m1"]
    for method, path, body in (("POST", BASE + "/mandant", {"id": "m2"}),
                               ("DELETE", BASE + "/mandant/m1", None),
                               ("PUT", BASE + "/card-terminal/ct1", {"slots": 2}),
                               ("POST", BASE + "/relations",
                                {"relation": "mandant-workplace", "a": "m1", "b": "ws1"}),
                               ("DELETE", BASE + "/relations",
                                {"relation": "mandant-workplace", "a": "m1", "b": "ws1"})):
        status, answer = connector.request(method, path, body, user="auditor", password=PASSWORD)
        assert status == 403, (method, path, answer)
    res = connector.konctl("infomodel", "add", "mandant", "m2", user="auditor", password=PASSWORD)
    assert res.returncode == EXIT_FORBIDDEN, res.stderr
    assert model(connector)["mandants"] == ["m1"]


def test_local_administrator_changes(connector):
    add_user(connector, "lisa", "Local-Administrator")
    status, _ = connector.request("POST", BASE + "/mandant", {"id": "m2"}, user="lisa",
                                  password=PASSWORD)
    assert status == 201
    ok(connector, "infomodel", "relate", "mandant-workplace", "m2", "ws1", user="lisa",
       password=PASSWORD)
    assert ["m2", "ws1"] in model(connector)["relations"]["mandant-workplace"]


# ---- audit trail and internal event ------------------------------------------------------


def test_changes_are_admin_changes_in_the_security_log(connector):
    connector.api("POST", BASE + "/mandant", {"id": "m7"})
    assert relate(connector, "mandant-client-system", "m7", "cs1")[0] == 201
    connector.api("POST", BASE + "/card-terminal", {"id": "ct7", "name": "Labor"})
    connector.api("PUT", BASE + "/card-terminal/ct7", {"active": False})
    connector.api("DELETE", BASE + "/mandant/m7")
    mine = ("INFOMODEL/mandant/m7", "INFOMODEL/card-terminal/ct7")

    def changes():
        entries = connector.api("GET", "/api/v1/log?topic=MGM/ADMINCHANGES&limit=100"
                                "&order=oldest")["entries"]
        params = [e["params"] for e in entries if e["params"]["RefID"] in mine]
        return params if len(params) >= 5 else None

    params = wait_for(changes, what="five info model changes in the security log")
    assert params == [
        {"User": "admin", "RefID": "INFOMODEL/mandant/m7", "NewVal": "added"},
        {"User": "admin", "RefID": "INFOMODEL/mandant/m7",
         "NewVal": "related to cs1 (mandant-client-system)"},
        {"User": "admin", "RefID": "INFOMODEL/card-terminal/ct7",
         "NewVal": "added (name 'Labor', 4 slots, active)"},
        {"User": "admin", "RefID": "INFOMODEL/card-terminal/ct7",
         "NewVal": "name 'Labor', 4 slots, inactive"},
        {"User": "admin", "RefID": "INFOMODEL/mandant/m7", "NewVal": "deleted with its 1 relation"},
    ]


def test_changes_raise_infomodel_changed_for_other_modules(connector):
    since = connector.events()[-1]["seq"]
    connector.api("POST", BASE + "/card-terminal", {"id": "ct2"})
    connector.api("PUT", BASE + "/card-terminal/ct2", {"slots": 4})  # unchanged: no event
    connector.api("PUT", BASE + "/card-terminal/ct2", {"name": "Labor"})
    assert relate(connector, "workplace-ct-local", "ws1", "ct2")[0] == 201
    connector.api("DELETE", BASE + "/card-terminal/ct2")
    events = [e for e in connector.events(since) if e["topic"] == "MGM/INFOMODEL_CHANGED"]
    assert [e["params"] for e in events] == [
        {"Kind": "card-terminal", "Id": "ct2", "Change": "added"},
        {"Kind": "card-terminal", "Id": "ct2", "Change": "updated"},
        {"Kind": "workplace-ct-local", "Id": "ws1/ct2", "Change": "related"},
        {"Kind": "card-terminal", "Id": "ct2", "Change": "deleted"},
    ]
    assert {(e["type"], e["severity"]) for e in events} == {("Operation", "Info")}


# ---- konctl ------------------------------------------------------------------------------


def test_konctl_show_prints_entities_terminals_and_relations(connector):
    out = ok(connector, "infomodel", "show")
    assert re.search(r"^mandants:\s+m1$", out, re.M), out
    assert re.search(r"^client systems:\s+cs1$", out, re.M), out
    assert re.search(r"^workplaces:\s+ws1$", out, re.M), out
    assert re.search(r"^ct1\s+Demo terminal\s+4\s+yes$", out, re.M), out
    assert re.search(r"^mandant-client-system\s+m1\s+cs1$", out, re.M), out
    assert re.search(r"^workplace-ct-local\s+ws1\s+ct1$", out, re.M), out
    # "infomodel" alone is "infomodel show".
    assert ok(connector, "infomodel") == out


def test_konctl_show_json_is_the_api_answer(connector):
    assert json.loads(ok(connector, "infomodel", "show", "--json")) == model(connector)


def test_konctl_changes_the_model(connector):
    assert ok(connector, "infomodel", "add", "mandant", "m2").strip() == "added mandant 'm2'"
    out = ok(connector, "infomodel", "add", "card-terminal", "ct2", "--name", "Empfang",
             "--slots", "2", "--inactive")
    assert out.strip() == "added card-terminal 'ct2' (name 'Empfang', 2 slots, inactive)"
    out = ok(connector, "infomodel", "relate", "mandant-workplace", "m2", "ws1")
    assert out.strip() == "related 'm2' to 'ws1' (mandant-workplace)"
    ok(connector, "infomodel", "relate", "workplace-ct-local", "ws1", "ct2")
    out = ok(connector, "infomodel", "set-terminal", "ct2", "--active", "--slots", "3")
    assert out.strip() == "card-terminal 'ct2': name 'Empfang', 3 slots, active (changed)"
    out = ok(connector, "infomodel", "set-terminal", "ct2", "--slots", "3")
    assert "unchanged" in out
    out = ok(connector, "infomodel", "unrelate", "mandant-workplace", "m2", "ws1")
    assert out.strip() == "unrelated 'm2' from 'ws1' (mandant-workplace)"
    out = ok(connector, "infomodel", "delete", "card-terminal", "ct2")
    assert out.strip() == "deleted card-terminal 'ct2' and its 1 relation"
    m = model(connector)
    assert m["mandants"] == ["m1", "m2"]
    assert [ct["id"] for ct in m["card_terminals"]] == ["ct1"]
    assert m["relations"]["mandant-workplace"] == [["m1", "ws1"]]


def test_konctl_exit_codes_name_the_kind_of_failure(connector):
    cases = [
        (("infomodel", "add", "mandant", "m 2"), EXIT_REFUSED, "A-Z a-z 0-9"),
        (("infomodel", "set-terminal", "ct1", "--slots", "17"), EXIT_REFUSED, "1 to 16"),
        (("infomodel", "relate", "mandant-ct", "m1", "ct1"), EXIT_REFUSED, "relation must be"),
        (("infomodel", "delete", "workplace", "ws9"), EXIT_NOT_FOUND, "workplace 'ws9'"),
        (("infomodel", "relate", "mandant-client-system", "m1", "cs9"), EXIT_NOT_FOUND,
         "client-system 'cs9'"),
        (("infomodel", "unrelate", "workplace-ct-remote", "ws1", "ct1"), EXIT_NOT_FOUND,
         "not related"),
        (("infomodel", "add", "mandant", "m1"), EXIT_CONFLICT, "mandant 'm1'"),
        (("infomodel", "relate", "workplace-ct-local", "ws1", "ct1"), EXIT_CONFLICT,
         "related already"),
        (("infomodel", "set-terminal", "ct1", "--active", "--inactive"), EXIT_USAGE,
         "exclude each other"),
        (("infomodel", "set-terminal", "ct1"), EXIT_USAGE, "needs --name"),
        (("infomodel", "add", "card-terminal", "ct9", "--slots", "four"), EXIT_USAGE,
         "whole number"),
        (("infomodel", "add", "mandant"), EXIT_USAGE, "missing argument"),
    ]
    for args, code, text in cases:
        res = connector.konctl(*args)
        assert res.returncode == code, (args, res.returncode, res.stderr)
        assert text in res.stderr, (args, res.stderr)
    assert model(connector)["card_terminals"] == [DEMO_CT]


# ---- what the SOAP context check sees ------------------------------------------------------

GETCARDS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:EVT="http://ws.gematik.de/conn/EventService/v7.2" '
    'xmlns:CCTX="http://ws.gematik.de/conn/ConnectorContext/v2.0" '
    'xmlns:CONN="http://ws.gematik.de/conn/ConnectorCommon/v5.0"><soap:Body>'
    '<EVT:GetCards mandant-wide="{wide}"><CCTX:Context><CONN:MandantId>m1</CONN:MandantId>'
    '<CONN:ClientSystemId>cs1</CONN:ClientSystemId><CONN:WorkplaceId>ws1</CONN:WorkplaceId>'
    '</CCTX:Context></EVT:GetCards></soap:Body></soap:Envelope>')


def get_cards(lan_url, wide=False):
    """GetCards of the demo context: (gematik code or 0, the CtIds of the cards listed)."""
    return soap_get_cards(lan_url, GETCARDS.replace("{wide}", "true" if wide else "false"))


def test_relation_changes_reach_the_soap_context_check_at_once(start_connector):
    port = free_port()
    c = start_connector(["--lan-http", f"127.0.0.1:{port}",
                         "--setting", "ANCL_TLS_MANDATORY=Disabled"])
    lan = f"http://127.0.0.1:{port}"
    assert get_cards(lan) == (0, ["ct1", "ct1", "ct1"])

    # The terminal leaves the workplace: its cards are no longer the workplace's to see.
    c.api("DELETE", BASE + "/relations", {"relation": "workplace-ct-local", "a": "ws1",
                                          "b": "ct1"})
    assert get_cards(lan) == (0, [])
    # Remote-PIN terminals count too, and a second workplace of the Mandant counts only
    # mandant-wide.
    assert relate(c, "workplace-ct-remote", "ws1", "ct1")[0] == 201
    assert get_cards(lan) == (0, ["ct1", "ct1", "ct1"])
    c.api("DELETE", BASE + "/relations", {"relation": "workplace-ct-remote", "a": "ws1",
                                          "b": "ct1"})
    c.api("POST", BASE + "/workplace", {"id": "ws2"})
    assert relate(c, "mandant-workplace", "m1", "ws2")[0] == 201
    assert relate(c, "workplace-ct-local", "ws2", "ct1")[0] == 201
    assert get_cards(lan) == (0, [])
    assert get_cards(lan, wide=True) == (0, ["ct1", "ct1", "ct1"])

    # The context itself: 4010 and 4011 as soon as the relations go, 4004 for a deleted
    # Mandant, and back to normal once the practice is rebuilt.
    c.api("DELETE", BASE + "/relations", {"relation": "mandant-client-system", "a": "m1",
                                          "b": "cs1"})
    assert get_cards(lan)[0] == 4010
    assert relate(c, "mandant-client-system", "m1", "cs1")[0] == 201
    c.api("DELETE", BASE + "/relations", {"relation": "mandant-workplace", "a": "m1",
                                          "b": "ws1"})
    assert get_cards(lan)[0] == 4011
    c.api("DELETE", BASE + "/mandant/m1")
    assert get_cards(lan)[0] == 4004
    c.api("POST", BASE + "/mandant", {"id": "m1"})
    for rel, a, b in (("mandant-client-system", "m1", "cs1"), ("mandant-workplace", "m1", "ws1"),
                      ("workplace-ct-local", "ws1", "ct1")):
        assert relate(c, rel, a, b)[0] == 201
    assert get_cards(lan) == (0, ["ct1", "ct1", "ct1"])
