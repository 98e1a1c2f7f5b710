"""The simulated world: virtual clock with timers, the TI VPN, and the LED watchdog."""
import json
import os
import threading
import time

from conftest import scaled


def advance(c, by):
    return c.api("POST", "/control/v1/clock/advance", {"by": by})


def test_advancing_the_virtual_clock_fires_a_timer(connector):
    # The tunnel's connect timer (2 s of connector time) fires when the clock is advanced.
    connector.api("PUT", "/control/v1/vpn", {"state": "down"})
    connector.api("PUT", "/control/v1/vpn", {"state": "up"})
    assert connector.api("GET", "/control/v1/vpn")["state"] == "connecting"
    assert connector.api("GET", "/api/v1/leds")["vpn"] == "blink"
    before = connector.api("GET", "/control/v1/clock")["now_ms"]
    after = advance(connector, "10d")["now_ms"]
    assert after - before >= 10 * 86400 * 1000
    assert connector.api("GET", "/control/v1/vpn")["state"] == "up"
    assert connector.api("GET", "/api/v1/leds")["vpn"] == "on"


def test_vpn_down_raises_its_condition_and_turns_the_led_off(connector):
    advance(connector, "3s")
    connector.api("PUT", "/control/v1/vpn", {"state": "down"})
    assert connector.api("GET", "/api/v1/leds")["vpn"] == "off"
    names = [x["name"] for x in connector.api("GET", "/api/v1/conditions")["conditions"]]
    assert names == ["EC_No_VPN_TI_Connection"]
    connector.api("PUT", "/control/v1/vpn", {"state": "up"})
    advance(connector, "3s")
    assert connector.api("GET", "/api/v1/conditions")["conditions"] == []
    values = [e["params"]["Value"] for e in connector.events()
              if e["topic"] == "OPERATIONAL_STATE/EC_No_VPN_TI_Connection"]
    assert values[-2:] == ["true", "false"]


def test_offline_connector_has_no_tunnel_and_no_vpn_condition(connector):
    advance(connector, "3s")
    connector.api("PUT", "/api/v1/settings/MGM_LU_ONLINE", {"value": "Disabled"})
    assert connector.api("GET", "/api/v1/leds")["vpn"] == "off"
    assert connector.api("GET", "/api/v1/conditions")["conditions"] == []
    connector.api("PUT", "/api/v1/settings/MGM_LU_ONLINE", {"value": "Enabled"})
    advance(connector, "3s")
    assert connector.api("GET", "/api/v1/leds")["vpn"] == "on"


def test_real_clock_cannot_be_advanced(start_connector):
    c = start_connector(clock="real")
    status, body = c.request("POST", "/control/v1/clock/advance", {"by": "1d"})
    assert status == 409 and "--clock virtual" in body["error"]["message"]
    status, body = c.request("POST", "/control/v1/clock/advance", {"by": "soon"})
    assert status == 400


def read_leds(c):
    with open(os.path.join(c.data_dir, "run", "leds.json")) as f:
        return json.load(f)


def test_watchdog_turns_system_off_while_the_loop_hangs(connector):
    advance(connector, "3s")
    assert read_leds(connector)["system"] == "on"
    t = threading.Thread(target=connector.api,
                         args=("POST", "/control/v1/fault/stall", {"ms": 4000}))
    t.start()
    seen_off = False
    deadline = time.monotonic() + scaled(6)
    while time.monotonic() < deadline and t.is_alive():
        leds = read_leds(connector)
        if leds["system"] == "off":
            seen_off = True
            assert leds["power"] == "on"
            assert leds["loop_alive"] is False
            break
        time.sleep(0.1)
    t.join()
    assert seen_off, "System never went off while the loop was stalled"
    deadline = time.monotonic() + scaled(3)
    while time.monotonic() < deadline and read_leds(connector)["system"] != "on":
        time.sleep(0.05)
    assert read_leds(connector)["system"] == "on"
    assert connector.api("GET", "/api/v1/leds")["system"] == "on"
