"""konctl's log commands against the real daemon, and tamper evidence seen from outside."""
import glob
import json
import os
import struct
import time

from conftest import scaled


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def mark(c, topic, n):
    for i in range(n):
        c.api("POST", "/control/v1/seclog/append",
              {"topic": topic, "params": {"i": str(i)}, "durable": True})


def key_file(c):
    return os.path.join(c.data_dir, "seclog-verification-key")


def test_log_show_lists_entries_newest_first(connector):
    mark(connector, "TEST/SHOW", 3)
    res = connector.konctl("log", "show", "--topic", "TEST/SHOW")
    assert res.returncode == 0, res.stderr
    lines = [l for l in res.stdout.splitlines() if "TEST/SHOW" in l]
    assert len(lines) == 3
    assert "i=2" in lines[0] and "i=0" in lines[2]


def test_log_export_writes_json_lines_to_a_file(connector, tmp_path):
    mark(connector, "TEST/EXP", 4)
    out = tmp_path / "export.jsonl"
    res = connector.konctl("log", "export", "--topic", "TEST/EXP", "--output", str(out))
    assert res.returncode == 0, res.stderr
    rows = [json.loads(l) for l in out.read_text().splitlines()]
    assert [r["params"]["i"] for r in rows] == ["0", "1", "2", "3"]
    assert "exported 4 entries" in res.stderr


def test_log_verify_passes_and_checks_seals_with_the_key(connector):
    mark(connector, "TEST/VER", 3)
    res = connector.konctl("log", "verify", "--key", key_file(connector))
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.startswith("OK:")
    res = connector.konctl("log", "verify")
    assert res.returncode == 0
    assert "--key" in res.stdout + res.stderr


def test_log_stats_show_capacity_and_retention(connector):
    mark(connector, "TEST/STAT", 2)
    res = connector.konctl("log", "stats")
    assert res.returncode == 0, res.stderr
    assert "TEST/STAT" in res.stdout
    assert "180 days" in res.stdout


def test_login_counts_entries_since_the_last_logout(connector):
    res = connector.konctl("logout")
    assert res.returncode == 0, res.stderr
    connector.api("POST", "/control/v1/clock/advance", {"by": "1s"})
    mark(connector, "TEST/LOGIN", 2)
    res = connector.konctl("login")
    assert res.returncode == 0, res.stderr
    assert "logged in as admin" in res.stdout
    count = int(res.stdout.split(";")[1].split()[0])
    assert 2 <= count <= 4, res.stdout


def test_io_error_fault_through_konctl(connector):
    assert connector.konctl("fault", "seclog-io-error", "on").returncode == 0
    mark_status = connector.request("POST", "/control/v1/seclog/append",
                                     {"topic": "TEST/IO", "params": {}})
    assert mark_status[0] == 200
    deadline = time.monotonic() + scaled(3)
    while time.monotonic() < deadline:
        if "EC_Security_Log_Not_Writable" in connector.konctl("ec", "list").stdout:
            break
        time.sleep(0.1)
    assert "EC_Security_Log_Not_Writable" in connector.konctl("ec", "list").stdout
    assert connector.konctl("fault", "seclog-io-error", "off").returncode == 0


def tamper_first_record_of(segment, topic):
    """Changes one byte of the first record whose topic is topic and fixes its CRC, so that
    only the hash chain can tell. Returns the record's seq."""
    with open(segment, "r+b") as f:
        data = bytearray(f.read())
        off = 4096
        while off < len(data) - 4096:
            length = struct.unpack_from("<I", data, off)[0]
            if length == 0:
                break
            topic_len = struct.unpack_from("<H", data, off + 12)[0]
            if data[off + 8] == 1 and data[off + 80:off + 80 + topic_len] == topic.encode():
                seq = struct.unpack_from("<Q", data, off + 16)[0]
                data[off + 80 + topic_len - 1] ^= 0x01
                body = bytes(data[off + 8:off + length])
                struct.pack_into("<I", data, off + 4, crc32c(body))
                f.seek(0)
                f.write(data)
                return seq
            off += length
    raise AssertionError(f"no {topic} record in {segment}")


def test_verify_names_the_first_changed_record(start_connector, data_dir):
    c = start_connector()
    # Enough distinct events to fill the first 4 MiB segment, so that the record we change is
    # in a closed segment that boot does not read.
    mark(c, "TEST/TARGET", 1)
    c.api("POST", "/control/v1/fault/flood", {"rate": 40000, "seconds": 1, "distinct": True})
    time.sleep(scaled(2))
    mark(c, "TEST/AFTER", 1)
    segments = sorted(glob.glob(os.path.join(data_dir, "seclog", "seg-*.log")))
    assert len(segments) >= 2, "the flood did not fill a segment"
    c.stop()
    seq = tamper_first_record_of(segments[0], "TEST/TARGET")
    c2 = start_connector(port=c.port)
    res = c2.konctl("log", "verify", "--key", key_file(c2))
    assert res.returncode == 9, res.stdout + res.stderr
    assert f"first bad record {seq}" in res.stdout, res.stdout
