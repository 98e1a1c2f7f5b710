"""The management API: status, settings, conditions, errors."""
import socket
import ssl

from conftest import ApiError


def advance(c, by):
    return c.api("POST", "/control/v1/clock/advance", {"by": by})


def test_status_has_product_uptime_leds_and_conditions(connector):
    advance(connector, "3s")
    s = connector.api("GET", "/api/v1/status")
    assert s["product"]["name"] == "konnektord"
    assert s["product"]["firmware"]
    assert s["hostname"] == "konnektor"
    assert s["uptime_s"] >= 3
    assert s["clock"]["mode"] == "virtual"
    assert s["leds"] == {"power": "on", "system": "on", "vpn": "on", "service": "off"}
    assert s["vpn"] == "up"
    assert s["conditions"] == []


def test_settings_round_trip_and_admin_change_event(connector):
    r = connector.api("PUT", "/api/v1/settings/SECURITY_LOG_DAYS", {"value": "30"})
    assert r["value"] == "30" and r["changed"] is True
    assert connector.api("GET", "/api/v1/settings/SECURITY_LOG_DAYS")["value"] == "30"
    again = connector.api("PUT", "/api/v1/settings/SECURITY_LOG_DAYS", {"value": "30"})
    assert again["changed"] is False
    changes = [e for e in connector.events() if e["topic"] == "MGM/ADMINCHANGES"]
    assert len(changes) == 1
    assert changes[0]["params"] == {"User": "admin", "RefID": "SECURITY_LOG_DAYS",
                                    "NewVal": "30"}


def test_every_required_setting_is_listed_with_range(connector):
    names = {s["name"]: s for s in connector.api("GET", "/api/v1/settings")["settings"]}
    for n in ("LOG_LEVEL_SYSLOG", "LOG_DAYS", "SECURITY_LOG_DAYS", "LOG_SUCCESSFUL_CRYPTO_OPS",
              "ANCL_TLS_MANDATORY", "ANCL_CAUT_MANDATORY", "ANCL_CAUT_MODE", "ANCL_DVD_OPEN",
              "EVT_MAX_TRY", "MGM_LU_ONLINE", "MGM_KONN_HOSTNAME", "MGM_KSR_AUTODOWNLOAD",
              "MGM_KSR_AUTO_UPDATE", "MGM_KSR_AUTO_UPDATE_TIME"):
        assert n in names, n
    assert names["SECURITY_LOG_DAYS"]["default"] == "180"
    assert names["SECURITY_LOG_DAYS"]["min"] == 10


def test_invalid_value_is_refused_with_the_allowed_range(connector):
    status, body = connector.request("PUT", "/api/v1/settings/SECURITY_LOG_DAYS", {"value": "5"})
    assert status == 400
    assert body["error"]["code"] == "invalid_value"
    assert "10" in body["error"]["message"] and "730" in body["error"]["message"]
    assert connector.api("GET", "/api/v1/settings/SECURITY_LOG_DAYS")["value"] == "180"
    status, body = connector.request("PUT", "/api/v1/settings/ANCL_TLS_MANDATORY",
                                     {"value": "maybe"})
    assert status == 400 and "Enabled" in body["error"]["message"]


def test_settings_survive_a_restart(start_connector, data_dir):
    c = start_connector()
    c.api("PUT", "/api/v1/settings/MGM_KONN_HOSTNAME", {"value": "praxis-mueller"})
    c.api("PUT", "/api/v1/settings/MGM_KSR_AUTO_UPDATE_TIME", {"value": "02:30"})
    c.stop()
    c2 = start_connector(port=c.port)
    assert c2.api("GET", "/api/v1/status")["hostname"] == "praxis-mueller"
    assert c2.api("GET", "/api/v1/settings/MGM_KSR_AUTO_UPDATE_TIME")["value"] == "02:30"


def test_malformed_json_gets_400_with_a_message(connector):
    status, body = connector.request("PUT", "/api/v1/settings/LOG_DAYS", raw=b'{"value": ')
    assert status == 400
    assert body["error"]["code"] == "bad_request"
    assert "malformed JSON" in body["error"]["message"]
    status, body = connector.request("PUT", "/api/v1/settings/LOG_DAYS", raw=b'["x"]')
    assert status == 400
    status, body = connector.request("PUT", "/api/v1/settings/LOG_DAYS", {"val": "20"})
    assert status == 400 and "'value'" in body["error"]["message"]


def test_unknown_paths_and_methods(connector):
    assert connector.request("GET", "/api/v1/nothing")[0] == 404
    status, body = connector.request("DELETE", "/api/v1/status")
    assert status == 405 and body["error"]["code"] == "method_not_allowed"
    assert connector.request("GET", "/api/v1/settings/NO_SUCH")[0] == 404


def test_no_credentials_get_401(connector):
    status, body = connector.request("GET", "/api/v1/status", user=None)
    assert status == 401 and body["error"]["code"] == "bad_credentials"


def test_tls_below_1_2_is_refused(connector):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    try:
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    except ssl.SSLError:
        pass
    with socket.create_connection(("127.0.0.1", connector.port), timeout=5) as s:
        try:
            with ctx.wrap_socket(s):
                raise AssertionError("a TLS 1.1 handshake succeeded")
        except (ssl.SSLError, ConnectionResetError):
            pass


def test_condition_table_has_all_34(connector):
    table = connector.api("GET", "/api/v1/conditions/table")["conditions"]
    assert len(table) == 34
    overflow = [t for t in table if t["name"] == "EC_LOG_OVERFLOW"][0]
    assert overflow["severity"] == "Warning" and overflow["reset"] == "admin"
    fatal = [t["name"] for t in table if t["severity"] == "Fatal"]
    assert len(fatal) == 12


def test_critical_state_refuses_other_management_with_4002(connector):
    connector.api("POST", "/control/v1/fault/condition",
                  {"name": "EC_Software_Integrity_Check_Failed", "active": True})
    status, body = connector.request("PUT", "/api/v1/settings/LOG_DAYS", {"value": "20"})
    assert status == 409
    assert body["error"]["code"] == "critical_state"
    assert body["error"]["gematik_code"] == 4002
    assert body["error"]["condition"] == "EC_Software_Integrity_Check_Failed"
    # Log viewing (status, conditions) stays available in every critical state.
    assert connector.api("GET", "/api/v1/status")["leds"]["system"] == "blink"
    connector.api("POST", "/control/v1/fault/condition",
                  {"name": "EC_Software_Integrity_Check_Failed", "active": False})
    assert connector.api("PUT", "/api/v1/settings/LOG_DAYS", {"value": "20"})["value"] == "20"


def test_admin_only_condition_is_reset_by_admin_and_lights_service(connector):
    connector.api("POST", "/control/v1/fault/condition", {"name": "EC_LOG_OVERFLOW",
                                                          "active": True})
    assert connector.api("GET", "/api/v1/leds")["service"] == "on"
    # The detector cannot clear it; only an administrator can.
    connector.api("POST", "/control/v1/fault/condition", {"name": "EC_LOG_OVERFLOW",
                                                          "active": False})
    names = [x["name"] for x in connector.api("GET", "/api/v1/conditions")["conditions"]]
    assert "EC_LOG_OVERFLOW" in names
    connector.api("POST", "/api/v1/conditions/reset", {"name": "EC_LOG_OVERFLOW"})
    assert connector.api("GET", "/api/v1/conditions")["conditions"] == []
    assert connector.api("GET", "/api/v1/leds")["service"] == "off"
    values = [e["params"]["Value"] for e in connector.events()
              if e["topic"] == "OPERATIONAL_STATE/EC_LOG_OVERFLOW"]
    assert values == ["true", "false"]


def test_situation_only_condition_cannot_be_reset_by_admin(connector):
    connector.api("PUT", "/control/v1/vpn", {"state": "down"})
    status, body = connector.request("POST", "/api/v1/conditions/reset",
                                     {"name": "EC_No_VPN_TI_Connection"})
    assert status == 409 and "situation" in body["error"]["message"]
    status, body = connector.request("POST", "/api/v1/conditions/reset",
                                     {"name": "EC_NOT_A_CONDITION"})
    assert status == 404


def test_parameterised_conditions_are_distinct_instances(connector):
    for ct in ("ct1", "ct2"):
        connector.api("POST", "/control/v1/fault/condition",
                      {"name": "EC_CardTerminal_Not_Available", "instance": ct, "active": True})
    conds = connector.api("GET", "/api/v1/conditions")["conditions"]
    displays = sorted(x["display"] for x in conds)
    assert displays == ["EC_CardTerminal_Not_Available(ct1)",
                        "EC_CardTerminal_Not_Available(ct2)"]
    ev = [e for e in connector.events()
          if e["topic"] == "OPERATIONAL_STATE/EC_CardTerminal_Not_Available"]
    assert sorted(e["params"]["CtID"] for e in ev) == ["ct1", "ct2"]
    status, _ = connector.request("POST", "/control/v1/fault/condition",
                                  {"name": "EC_CardTerminal_Not_Available", "active": True})
    assert status == 400
