"""Bootup (TIP1-A_4507, TIP1-A_4508) and shutdown of the real daemon."""
import os
import socket
import stat
import time

from conftest import scaled


def connect_refused(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except OSError:
        return True


def test_nothing_answers_during_a_slowed_bootup(start_connector):
    c = start_connector(["--boot-fault", "settings:delay=3000"], wait=False)
    deadline = time.monotonic() + 2.0
    checks = 0
    while time.monotonic() < deadline:
        assert c.proc.poll() is None, c.output()
        assert connect_refused(c.port), "the listener answered before bootup completed"
        checks += 1
        time.sleep(0.1)
    assert checks >= 10
    c.wait_ready()
    status = c.api("GET", "/api/v1/status")
    assert status["booted"] is True
    topics = [e["topic"] for e in c.events()]
    assert topics.count("BOOTUP/BOOTUP_COMPLETE") == 1


def test_bootup_complete_event_is_info_operation(connector):
    ev = [e for e in connector.events() if e["topic"] == "BOOTUP/BOOTUP_COMPLETE"]
    assert len(ev) == 1
    assert ev[0]["type"] == "Operation"
    assert ev[0]["severity"] == "Info"


def test_failing_step_raises_its_condition_and_bootup_completes(start_connector):
    c = start_connector(["--boot-fault", "rng:fail"])
    names = [x["name"] for x in c.api("GET", "/api/v1/conditions")["conditions"]]
    assert "EC_Random_Generator_Not_Reliable" in names
    # A Fatal condition makes System blink; the device is still managed.
    assert c.api("GET", "/api/v1/leds")["system"] == "blink"
    ev = [e for e in c.events()
          if e["topic"] == "OPERATIONAL_STATE/EC_Random_Generator_Not_Reliable"]
    assert ev and ev[0]["params"]["Value"] == "true"


def test_hanging_step_is_cut_off_at_its_deadline(start_connector):
    started = time.monotonic()
    c = start_connector(["--boot-fault", "vpn:hang"])
    took = time.monotonic() - started
    # The vpn step's deadline is 5 s; bootup goes on after it.
    assert took >= 4.5, took
    names = [x["name"] for x in c.api("GET", "/api/v1/conditions")["conditions"]]
    assert "EC_No_VPN_TI_Connection" in names


def test_unusable_config_db_falls_back_to_defaults(start_connector, data_dir):
    os.makedirs(data_dir, exist_ok=True)
    with open(os.path.join(data_dir, "config.db"), "wb") as f:
        f.write(b"this is not a database" * 100)
    c = start_connector()
    conds = c.api("GET", "/api/v1/conditions")["conditions"]
    assert any(x["display"] == "EC_OTHER_ERROR_STATE(1)" for x in conds), conds
    assert c.api("GET", "/api/v1/settings/SECURITY_LOG_DAYS")["value"] == "180"


def test_initial_password_file_is_private_and_kept_across_restarts(start_connector, data_dir):
    c = start_connector()
    path = os.path.join(data_dir, "initial-admin-password")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    first = c.password
    assert len(first) == 20
    c.stop()
    c2 = start_connector(port=c.port)
    assert c2.password == first
    assert c2.api("GET", "/api/v1/status")["booted"] is True


def test_sigterm_shuts_down_cleanly(connector):
    connector.stop(expect_code=0)
    assert "shutting down" in connector.output()


def test_bad_command_line_is_a_usage_error():
    import subprocess
    from conftest import KONNEKTORD
    res = subprocess.run([KONNEKTORD, "--clock", "sometimes"], capture_output=True, text=True,
                         timeout=scaled(10))
    assert res.returncode == 2
    assert "--clock is 'real' or 'virtual'" in res.stderr
    res = subprocess.run([KONNEKTORD, "--help"], capture_output=True, text=True)
    assert res.returncode == 0
    for opt in ("--data", "--mgmt", "--clock", "--boot-fault"):
        assert opt in res.stdout
