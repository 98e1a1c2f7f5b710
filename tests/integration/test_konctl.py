"""konctl against the real daemon: output, exit codes (docs/konctl.md) and the hints that
name the next step. Every test runs the built konctl binary; the harness sets KONCTL_URL,
KONCTL_USER, KONCTL_PASSWORD, KONCTL_CACERT and NO_COLOR."""
import json
import re
import subprocess

from conftest import free_port

EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_AUTH = 4
EXIT_REFUSED = 5
EXIT_FORBIDDEN = 6
EXIT_NOT_FOUND = 7
EXIT_CONFLICT = 8

LISA_PASSWORD = "correct-horse-1"


def ok(c, *args, **kw):
    """Runs konctl, requires exit 0, returns stdout."""
    return c.konctl(*args, check=True, **kw).stdout


def add_lisa(c, role="local"):
    ok(c, "users", "add", "lisa", "--role", role, "--password", LISA_PASSWORD)


def active_conditions(c):
    return [x.get("display", x["name"]) for x in c.api("GET", "/api/v1/conditions")["conditions"]]


# ---- status and LEDs ---------------------------------------------------------------------


def test_status_shows_hostname_and_led_panel(connector):
    out = ok(connector, "status")
    hostname = connector.api("GET", "/api/v1/status")["hostname"]
    assert re.search(r"^hostname:\s+" + re.escape(hostname) + "$", out, re.M), out
    for word in ("power: on", "system: on", "vpn: on", "service: off"):
        assert word in out, out
    assert "no active conditions" in out


def test_status_json_is_the_api_answer_with_leds(connector):
    answer = json.loads(ok(connector, "--json", "status"))
    leds = answer["leds"]
    assert (leds["power"], leds["system"], leds["vpn"], leds["service"]) == ("on", "on", "on",
                                                                           "off")
    assert answer["booted"] is True
    assert answer["conditions"] == []


def test_leds_without_colour_prints_words(connector):
    out = ok(connector, "leds")
    assert out.strip() == "power: on  system: on  vpn: on  service: off"
    assert "\x1b[" not in out


def test_leds_with_colour_always_draws_the_panel_with_ansi_escapes(connector):
    out = ok(connector, "--color", "always", "leds")
    assert "\x1b[" in out
    for word in ("POWER", "SYSTEM", "VPN", "SERVICE"):
        assert word in out, out


# ---- settings ----------------------------------------------------------------------------


def test_settings_get_shows_the_default_security_log_days(connector):
    out = ok(connector, "settings", "get", "SECURITY_LOG_DAYS")
    assert re.search(r"^value:\s+180$", out, re.M), out
    assert re.search(r"^allowed:\s+10\.\.730$", out, re.M), out


def test_settings_set_changes_what_get_shows(connector):
    out = ok(connector, "settings", "set", "SECURITY_LOG_DAYS", "30")
    assert "SECURITY_LOG_DAYS = 30" in out and "changed" in out
    out = ok(connector, "settings", "get", "SECURITY_LOG_DAYS")
    assert re.search(r"^value:\s+30$", out, re.M), out


def test_settings_set_out_of_range_exits_5_and_names_the_range(connector):
    res = connector.konctl("settings", "set", "SECURITY_LOG_DAYS", "5")
    assert res.returncode == EXIT_REFUSED
    assert "SECURITY_LOG_DAYS" in res.stderr
    assert re.search(r"10(\.\.| to )730", res.stderr), res.stderr
    assert re.search(r"^value:\s+180$", ok(connector, "settings", "get", "SECURITY_LOG_DAYS"),
                     re.M)


def test_settings_set_in_critical_state_exits_8_with_gematik_4002(connector):
    ok(connector, "fault", "condition", "EC_Software_Integrity_Check_Failed", "on")
    res = connector.konctl("settings", "set", "LOG_DAYS", "20")
    assert res.returncode == EXIT_CONFLICT
    assert "4002" in res.stderr
    assert "EC_Software_Integrity_Check_Failed" in res.stderr


# ---- credentials and connection ------------------------------------------------------------


def test_wrong_password_exits_4(connector):
    res = connector.konctl("status", password="wrong-password")
    assert res.returncode == EXIT_AUTH
    assert "wrong user name or password" in res.stderr
    assert res.stdout == ""


def test_locked_account_exits_4_and_says_locked(connector):
    add_lisa(connector)
    for _ in range(5):
        assert connector.konctl("leds", user="lisa",
                                password="wrong-password").returncode == EXIT_AUTH
    res = connector.konctl("leds", user="lisa", password=LISA_PASSWORD)
    assert res.returncode == EXIT_AUTH
    assert "locked" in res.stderr
    assert "konctl users unlock" in res.stderr


def test_closed_port_exits_3_as_unreachable(connector):
    url = f"https://127.0.0.1:{free_port()}"
    res = connector.konctl("status", env_extra={"KONCTL_URL": url})
    assert res.returncode == EXIT_UNREACHABLE
    assert "cannot connect" in res.stderr and url in res.stderr


def test_missing_cacert_exits_3_with_a_cacert_hint(connector):
    # An empty KONCTL_CACERT counts as unset: the system store does not know the daemon.
    res = connector.konctl("status", env_extra={"KONCTL_CACERT": ""})
    assert res.returncode == EXIT_UNREACHABLE
    assert "TLS" in res.stderr
    assert "--cacert" in res.stderr


def test_wrong_cacert_exits_3_with_a_cacert_hint(connector, tmp_path):
    cert = tmp_path / "other-cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(tmp_path / "other.key"),
                    "-out", str(cert), "-subj", "/CN=127.0.0.1", "-days", "1"],
                   check=True, capture_output=True)
    res = connector.konctl("status", env_extra={"KONCTL_CACERT": str(cert)})
    assert res.returncode == EXIT_UNREACHABLE
    assert "certificate" in res.stderr
    assert "--cacert" in res.stderr


# ---- users -------------------------------------------------------------------------------


def test_local_administrator_is_forbidden_to_add_users(connector):
    add_lisa(connector, role="local")
    res = connector.konctl("users", "add", "bob", "--role", "local", "--password",
                           "correct-horse-2", user="lisa", password=LISA_PASSWORD)
    assert res.returncode == EXIT_FORBIDDEN
    assert "Local-Administrator" in res.stderr
    assert "bob" not in ok(connector, "users", "list")


def test_users_add_without_password_prints_one_that_works(connector):
    out = ok(connector, "users", "add", "gen", "--role", "remote")
    assert "created user 'gen' (Remote-Administrator)" in out
    m = re.search(r"^password: (\S+)$", out, re.M)
    assert m, out
    assert len(m.group(1)) == 20
    out = ok(connector, "leds", user="gen", password=m.group(1))
    assert "power: on" in out


def test_users_passwd_replaces_the_password(connector):
    add_lisa(connector)
    out = ok(connector, "users", "passwd", "lisa", "--password", "new-horse-123")
    assert "changed the password of 'lisa'" in out
    assert connector.konctl("leds", user="lisa",
                            password=LISA_PASSWORD).returncode == EXIT_AUTH
    assert "power: on" in ok(connector, "leds", user="lisa", password="new-horse-123")


def test_users_delete_removes_the_account(connector):
    add_lisa(connector)
    assert "deleted user 'lisa'" in ok(connector, "users", "delete", "lisa")
    assert not re.search(r"^lisa\s", ok(connector, "users", "list"), re.M)
    res = connector.konctl("leds", user="lisa", password=LISA_PASSWORD)
    assert res.returncode == EXIT_AUTH


def test_users_unlock_lets_a_locked_account_in_again(connector):
    add_lisa(connector)
    for _ in range(5):
        connector.konctl("leds", user="lisa", password="wrong-password")
    assert "locked" in connector.konctl("leds", user="lisa", password=LISA_PASSWORD).stderr
    assert "unlocked user 'lisa'" in ok(connector, "users", "unlock", "lisa")
    assert "power: on" in ok(connector, "leds", user="lisa", password=LISA_PASSWORD)


# ---- clock, VPN, conditions ----------------------------------------------------------------


def test_clock_advance_moves_clock_show(connector):
    def now_ms():
        out = ok(connector, "clock", "show")
        assert re.search(r"^mode:\s+virtual$", out, re.M), out
        return int(re.search(r"^now_ms:\s+(\d+)$", out, re.M).group(1))

    before = now_ms()
    out = ok(connector, "clock", "advance", "10d")
    assert "10d" in out
    assert now_ms() - before >= 10 * 86400 * 1000


def test_vpn_down_shows_its_condition_in_ec_list(connector):
    assert "vpn: down" in ok(connector, "vpn", "down")
    out = ok(connector, "ec", "list")
    assert re.search(r"^EC_No_VPN_TI_Connection\s+Operation\s+Error\s", out, re.M), out


def test_vpn_down_turns_the_vpn_led_off(connector):
    ok(connector, "vpn", "down")
    assert "vpn: off" in ok(connector, "leds")


def test_ec_reset_of_a_situation_condition_exits_8(connector):
    ok(connector, "vpn", "down")
    res = connector.konctl("ec", "reset", "EC_No_VPN_TI_Connection")
    assert res.returncode == EXIT_CONFLICT
    assert "EC_No_VPN_TI_Connection" in res.stderr and "situation" in res.stderr
    assert active_conditions(connector) == ["EC_No_VPN_TI_Connection"]


def test_ec_reset_of_an_unknown_condition_exits_7(connector):
    res = connector.konctl("ec", "reset", "NOPE")
    assert res.returncode == EXIT_NOT_FOUND
    assert "'NOPE'" in res.stderr


def test_fault_condition_with_instance_shows_in_ec_list(connector):
    out = ok(connector, "fault", "condition", "EC_CardTerminal_Not_Available(ct1)", "on")
    assert out == "raised EC_CardTerminal_Not_Available(ct1)\n"
    out = ok(connector, "ec", "list")
    assert re.search(r"^EC_CardTerminal_Not_Available\(ct1\)\s+Operation\s+Error\s", out,
                     re.M), out


def test_fault_condition_off_clears_it(connector):
    ok(connector, "fault", "condition", "EC_CardTerminal_Not_Available(ct1)", "on")
    out = ok(connector, "fault", "condition", "EC_CardTerminal_Not_Available(ct1)", "off")
    assert out == "cleared EC_CardTerminal_Not_Available(ct1)\n"
    assert "no active conditions" in ok(connector, "ec", "list")


def test_fault_condition_twice_says_it_was_already_raised(connector):
    ok(connector, "fault", "condition", "EC_Software_Integrity_Check_Failed", "on")
    out = ok(connector, "fault", "condition", "EC_Software_Integrity_Check_Failed", "on")
    assert out == "EC_Software_Integrity_Check_Failed was already raised\n"


def test_fault_condition_off_leaves_an_admin_only_condition_raised(connector):
    ok(connector, "fault", "condition", "EC_LOG_OVERFLOW", "on")
    out = ok(connector, "fault", "condition", "EC_LOG_OVERFLOW", "off")
    assert "EC_LOG_OVERFLOW is still raised" in out and "ec reset" in out
    assert active_conditions(connector) == ["EC_LOG_OVERFLOW"]


def test_fault_condition_json_prints_the_answer(connector):
    out = ok(connector, "--json", "fault", "condition", "EC_CardTerminal_Not_Available(ct1)",
             "on")
    assert json.loads(out) == {"name": "EC_CardTerminal_Not_Available", "active": True,
                               "changed": True}


def test_fault_condition_without_its_instance_exits_5(connector):
    res = connector.konctl("fault", "condition", "EC_CardTerminal_Not_Available", "on")
    assert res.returncode == EXIT_REFUSED
    assert "needs an instance" in res.stderr
    assert active_conditions(connector) == []


def test_fault_condition_of_an_unknown_name_exits_7(connector):
    res = connector.konctl("fault", "condition", "NOPE", "on")
    assert res.returncode == EXIT_NOT_FOUND
    assert "'NOPE'" in res.stderr


def test_fault_condition_needs_on_or_off(connector):
    res = connector.konctl("fault", "condition", "EC_LOG_OVERFLOW", "maybe")
    assert res.returncode == EXIT_USAGE
    assert "'maybe' is neither on nor off" in res.stderr
    assert active_conditions(connector) == []


# ---- events and usage ------------------------------------------------------------------------


def test_events_since_0_lists_bootup_complete(connector):
    out = ok(connector, "events", "--since", "0")
    assert re.search(r"^\d+\s+\S+\s+BOOTUP/BOOTUP_COMPLETE\s+Operation\s+Info\s", out, re.M), out
    assert re.search(r"^last seq: \d+", out, re.M), out


def test_settings_set_without_value_is_a_usage_error(connector):
    res = connector.konctl("settings", "set", "ONLY_NAME")
    assert res.returncode == EXIT_USAGE
    assert "missing argument" in res.stderr
    assert "Usage: konctl settings" in res.stderr


def test_unknown_command_is_a_usage_error(connector):
    res = connector.konctl("nonsense")
    assert res.returncode == EXIT_USAGE
    assert "unknown command 'nonsense'" in res.stderr
    assert "konctl --help" in res.stderr
