"""The KSR client against `konctl ksr serve` (docs/update-ksr.md): list_Updates, the conditions
and events of what the KSR offers, downloads that resume with HTTP Range, the automatic update
at MGM_KSR_AUTO_UPDATE_TIME on the virtual clock, the pause switch, and a PTV2 connector that
becomes PTV3 (connector.sds and the status)."""
import datetime
import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import KONCTL, KONNEKTORD, free_port, scaled

TEMPLATE = {
    "product_vendor_id": "KONND", "product_code": "konnektd", "product_name": "konnektord",
    "hw_version": "1.0.0", "fw_version": "3.5.0", "product_type_version": "3.5.0",
    "created": "2026-11-29", "fw_priority": "Normal", "deadline": None,
    "release_notes": "PTV3 eHealth: NFDM, eMP/AMTS, QES",
    "features": ["VSDM", "NFDM", "AMTS", "QES"],
}


def konctl_local(*args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KONCTL_")}
    return subprocess.run([KONCTL, *args], env=env, capture_output=True, text=True,
                          timeout=scaled(120))


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    res = konctl_local("bundle", "keygen", "--out", str(d / "pki"), "--vendor", "ACME")
    assert res.returncode == 0, res.stderr
    return d / "pki"


def make_bundle(pki, out, payload=b"\x7fELF test core " * 20000, **fields):
    """A signed bundle at out with TEMPLATE's fields changed by fields; payload is the core."""
    work = out.parent / (out.name + ".src")
    (work / "payloads" / "core").mkdir(parents=True)
    core = work / "payloads" / "core" / "konnektord"
    core.write_bytes(payload)
    core.chmod(0o755)
    template = work / "template.json"
    template.write_text(json.dumps({**TEMPLATE, **fields}))
    res = konctl_local("bundle", "create", str(out), "--manifest", str(template), "--payloads",
                       str(work / "payloads"), "--key", str(pki / "signer-key.pem"), "--cert",
                       str(pki / "signer-cert.pem"))
    assert res.returncode == 0, res.stderr
    shutil.rmtree(work)
    return out


class Ksr:
    def __init__(self, directory, *extra):
        self.log = open(directory.parent / "ksr.log", "w+")
        self.proc = subprocess.Popen([KONCTL, "ksr", "serve", str(directory), *extra],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.url = self.proc.stdout.readline().strip()
        assert self.url.startswith("http://"), self.url

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=scaled(10))
        assert self.proc.returncode == 0, self.output()
        self.log.close()


@pytest.fixture
def ksr_dir(tmp_path):
    d = tmp_path / "ksr"
    d.mkdir()
    return d


@pytest.fixture
def ksr(ksr_dir):
    servers = []

    def start(*extra):
        s = Ksr(ksr_dir, *extra)
        servers.append(s)
        return s
    yield start
    for s in servers:
        s.stop()


def start_with_ksr(start_connector, url, *settings, extra=(), **kw):
    args = ["--setting", f"KSR_URL={url}", "--setting", "MGM_KSR_AUTODOWNLOAD=Disabled"]
    for s in settings:
        args += ["--setting", s]
    return start_connector((*args, *extra), **kw)


def setting(c, name, value):
    c.api("PUT", f"/api/v1/settings/{name}", {"value": value})


def advance(c, by):
    c.api("POST", "/control/v1/clock/advance", {"by": by}, timeout=60)


def active(c):
    return {x["name"] for x in c.api("GET", "/api/v1/conditions")["conditions"]}


def status(c):
    return c.api("GET", "/api/v1/update/status")


def topics(c):
    return [e["topic"] for e in c.events()]


def connector_today(c):
    now = c.api("GET", "/api/v1/status")["clock"]["now_ms"]
    return datetime.datetime.fromtimestamp(now / 1000, datetime.timezone.utc).date()


def test_ksr_serve_offers_only_newer_firmware_for_the_product(pki, ksr_dir, ksr):
    make_bundle(pki, ksr_dir / "konnektord-3.5.0.kbundle")
    make_bundle(pki, ksr_dir / "old.kbundle", fw_version="0.0.9")
    make_bundle(pki, ksr_dir / "other.kbundle", product_code="other")
    s = ksr()
    body = (b'<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/'
            b'envelope/"><s:Body><K:listUpdatesRequest xmlns:K="http://ws.gematik.de/ksr/v1.1">'
            b'<K:ProductVendorID>KONND</K:ProductVendorID><K:ProductCode>konnektd</K:ProductCode>'
            b'<K:HWVersion>1.0.0</K:HWVersion><K:FWVersion>0.1.0</K:FWVersion>'
            b'</K:listUpdatesRequest></s:Body></s:Envelope>')
    req = urllib.request.Request(s.url, data=body, headers={"Content-Type": "text/xml"})
    with urllib.request.urlopen(req, timeout=scaled(10)) as resp:
        answer = resp.read().decode()
    assert answer.count("<KSR:UpdateInformation>") == 1
    assert "<KSR:Filename>konnektord-3.5.0.kbundle</KSR:Filename>" in answer
    # Range: 206 with Content-Range, and 416 past the end.
    size = (ksr_dir / "konnektord-3.5.0.kbundle").stat().st_size
    req = urllib.request.Request(s.url + "konnektord-3.5.0.kbundle",
                                 headers={"Range": "bytes=100-199"})
    with urllib.request.urlopen(req, timeout=scaled(10)) as resp:
        assert resp.status == 206
        assert resp.headers["Content-Range"] == f"bytes 100-199/{size}"
        assert resp.read() == (ksr_dir / "konnektord-3.5.0.kbundle").read_bytes()[100:200]
    req = urllib.request.Request(s.url + "konnektord-3.5.0.kbundle",
                                 headers={"Range": f"bytes={size}-"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=scaled(10))
    assert e.value.code == 416
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(s.url + "..%2Fetc%2Fpasswd", timeout=scaled(10))
    assert e.value.code == 404


def wait_for(what, predicate, seconds=10):
    deadline = time.monotonic() + scaled(seconds)
    while True:
        last = predicate()
        if last:
            return last
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def slot_in(c, minutes):
    """MGM_KSR_AUTO_UPDATE_TIME that lies the given minutes after the connector's now (UTC)."""
    now = c.api("GET", "/api/v1/status")["clock"]["now_ms"]
    t = datetime.datetime.fromtimestamp(now / 1000 + minutes * 60, datetime.timezone.utc)
    return t.strftime("%H:%M")


def trust_vendor(data_dir, pki):
    vendor = os.path.join(data_dir, "trust", "vendor")
    os.makedirs(vendor, exist_ok=True)
    shutil.copy(pki / "root-cert.pem", os.path.join(vendor, "acme.pem"))


def test_check_conditions_events_and_a_download_that_resumes(pki, ksr_dir, ksr,
                                                             start_connector):
    """One connector: an unreachable KSR, then list_Updates with its condition and event, a
    download the KSR breaks every 100000 bytes, then a critical update whose deadline passes
    on the connector's clock (one connector for all: each start costs seconds under ASan)."""
    bundle = make_bundle(pki, ksr_dir / "konnektord-3.5.0.kbundle")
    size = bundle.stat().st_size
    cut = 100000
    s = ksr("--cut-after", str(cut))
    c = start_with_ksr(start_connector, f"http://127.0.0.1:{free_port()}/")
    # Unreachable: a clear error, nothing changes, the next check tries again.
    res = c.konctl("update", "check")
    assert res.returncode == 1 and "cannot be reached" in res.stderr, res.stderr
    st = status(c)
    assert st["state"] == "idle" and st["last_result"].startswith("failed")
    assert "EC_FW_Update_Available" not in active(c)

    setting(c, "KSR_URL", s.url)
    res = c.konctl("update", "check")
    assert res.returncode == 0 and "firmware 3.5.0" in res.stdout, res.stdout + res.stderr
    res = c.konctl("update", "status", check=True)
    assert "3.5.0" in res.stdout and "Normal" in res.stdout
    st = status(c)
    assert st["last_result"].startswith("ok") and [u["version"] for u in st["updates"]] == ["3.5.0"]
    conds = active(c)
    assert "EC_FW_Update_Available" in conds
    assert "EC_Connector_Software_Out_Of_Date" not in conds
    assert "KSR/UPDATES_AVAILABLE" in topics(c)

    # The download breaks after each 100000 bytes and resumes with Range.
    got = []
    for _ in range(size // cut + 2):
        code, body = c.request("POST", "/api/v1/update/download", timeout=60)
        got.append(status(c)["updates"][0]["downloaded_bytes"])
        if code == 200:
            break
        assert code == 502 and "resumes" in body["error"]["message"], body
    assert code == 200, body
    assert got == [min(cut * (i + 1), size) for i in range(-(-size // cut))]
    assert f"range bytes={cut}-" in s.output()
    path = os.path.join(c.data_dir, "fw", "download", "konnektord-3.5.0.kbundle")
    with open(path, "rb") as f:
        assert f.read() == bundle.read_bytes()
    assert status(c)["updates"][0]["downloaded"] is True
    ev = [e for e in c.events() if e["topic"] == "KSR/UPDATE/KONNEKTOR_DOWNLOAD_END"]
    assert len(ev) == 1 and ev[0]["params"]["FirmwareVersion"] == "3.5.0"
    assert ev[0]["params"]["FWPriority"] == "Normal"

    # A critical update whose deadline the daily check sees pass (TIP1-A_6025).
    deadline = connector_today(c) + datetime.timedelta(days=2)
    make_bundle(pki, ksr_dir / "konnektord-3.6.0.kbundle", fw_version="3.6.0",
                fw_priority="Kritisch", deadline=deadline.isoformat())
    c.api("POST", "/api/v1/update/check", timeout=60)
    conds = active(c)
    assert {"EC_FW_Update_Available", "EC_Connector_Software_Out_Of_Date"} <= conds
    assert "EC_FW_Not_Valid_Status_Blocked" not in conds
    advance(c, "3d")
    wait_for("EC_FW_Not_Valid_Status_Blocked",
             lambda: "EC_FW_Not_Valid_Status_Blocked" in active(c))
    assert "OPERATIONAL_STATE/EC_FW_Not_Valid_Status_Blocked" in topics(c)
    # TI connections are torn down and not set up again while blocked.
    assert c.api("GET", "/api/v1/status")["vpn"] == "down"
    advance(c, "10s")
    assert c.api("GET", "/api/v1/status")["vpn"] == "down"


def test_autodownload_firmware_group_and_keep_only_the_newest(pki, ksr_dir, ksr, start_connector,
                                                              data_dir):
    make_bundle(pki, ksr_dir / "konnektord-3.5.0.kbundle")
    group = {"format": 1, "firmware_group_id": "KONND-G", "product_vendor_id": "KONND",
             "product_code": "konnektd", "hw_version": "1.0.0", "firmware_group_version": "2",
             "created": "2026-11-01", "release_notes": "", "fw_versions": ["0.1.0", "3.6.0"]}
    (ksr_dir / "group.json").write_text(json.dumps(group))
    res = konctl_local("bundle", "sign-group", str(ksr_dir / "group.json"), "--key",
                       str(pki / "signer-key.pem"), "--cert", str(pki / "signer-cert.pem"))
    assert res.returncode == 0, res.stderr
    trust_vendor(data_dir, pki)
    s = ksr()
    c = start_with_ksr(start_connector, s.url, "MGM_KSR_AUTODOWNLOAD=Enabled")
    c.api("POST", "/api/v1/update/check", timeout=60)
    # Done when the event is out: the group document follows the bundle.
    wait_for("the automatic download", lambda: "KSR/UPDATE/KONNEKTOR_DOWNLOAD_END" in topics(c))
    # The KSR's group verified and was adopted; 3.5.0 is outside it: 4185 before any write.
    with open(os.path.join(data_dir, "fw", "group.json")) as f:
        assert json.load(f) == group
    code, body = c.request("POST", "/api/v1/update/install", {"version": "3.5.0"}, timeout=60)
    assert code == 422 and body["error"]["gematik_code"] == 4185, body
    assert status(c)["state"] == "idle"
    # A newer package replaces the older one (TIP1-A_4836-02).
    make_bundle(pki, ksr_dir / "konnektord-3.6.0.kbundle", fw_version="3.6.0")
    c.api("POST", "/api/v1/update/check", timeout=60)
    download = os.path.join(c.data_dir, "fw", "download")
    wait_for("only the newest package",
             lambda: sorted(n for n in os.listdir(download) if n.endswith(".kbundle"))
             == ["konnektord-3.6.0.kbundle"])


def test_auto_update_time_missed_slots_and_the_pause_switch(pki, ksr_dir, ksr, start_connector,
                                                            data_dir):
    make_bundle(pki, ksr_dir / "konnektord-3.5.0.kbundle")
    trust_vendor(data_dir, pki)
    s = ksr()
    c = start_with_ksr(start_connector, s.url)
    c.api("POST", "/api/v1/update/check", timeout=60)
    c.konctl("update", "download", check=True)
    now_ms = c.api("GET", "/api/v1/status")["clock"]["now_ms"]
    # A slot that passed before it could run (as if the connector was off) is not caught up:
    # the next one is tomorrow's (A_18391).
    setting(c, "MGM_KSR_AUTO_UPDATE_TIME", slot_in(c, -5))
    setting(c, "MGM_KSR_AUTO_UPDATE", "Enabled")
    nxt = datetime.datetime.fromisoformat(status(c)["next_auto_update"].replace("Z", "+00:00"))
    assert nxt.timestamp() * 1000 > now_ms + 23 * 3600 * 1000
    advance(c, "10m")
    assert status(c)["state"] == "idle" and c.proc.poll() is None

    # Paused: neither a manual install, nor an upload, nor the slot installs.
    res = c.konctl("update", "pause")
    assert res.returncode == 0 and "paused" in res.stdout
    assert status(c)["paused"] is True
    res = c.konctl("update", "install", "3.5.0")
    assert res.returncode == 8 and "paused" in res.stderr, res.stderr
    res = c.konctl("update", "install", "--file", str(ksr_dir / "konnektord-3.5.0.kbundle"))
    assert res.returncode == 8 and "paused" in res.stderr, res.stderr
    setting(c, "MGM_KSR_AUTO_UPDATE_TIME", slot_in(c, 30))
    first = status(c)["next_auto_update"]
    advance(c, "1h")
    st = status(c)
    assert st["state"] == "idle" and st["next_auto_update"] > first
    assert "skipped: paused" in c.output()

    # Resumed: the next day's slot installs it; the core then asks its launcher to restart.
    c.konctl("update", "resume", check=True)
    assert status(c)["paused"] is False
    c.request("POST", "/control/v1/clock/advance", {"by": "1d"}, timeout=60)
    c.proc.wait(timeout=scaled(60))
    c.stop(expect_code=75)
    with open(os.path.join(data_dir, "fw", "boot.json")) as f:
        bcb = json.load(f)
    assert bcb["update"]["to_version"] == "3.5.0", bcb
    assert "automatic update to firmware 3.5.0 started" in c.output()


def sds_ptv(lan):
    with urllib.request.urlopen(f"http://127.0.0.1:{lan}/connector.sds",
                                timeout=scaled(10)) as resp:
        text = resp.read().decode()
    return re.search(r"<PI:ProductTypeVersion>([^<]*)<", text).group(1)


def sds_services(lan):
    with urllib.request.urlopen(f"http://127.0.0.1:{lan}/connector.sds",
                                timeout=scaled(10)) as resp:
        return re.findall(r'<SI:Service Name="([^"]+)"', resp.read().decode())


def emergency_read_dpe(c, lan):
    """NFDM's ReadDPE with EmergencyIndicator (no PIN of the insured needed): (HTTP status,
    body). Feature gating (docs/nfdm.md): without NFDM the path is unknown (404, 4000)."""
    cards = {x["name"]: x["handle"] for x in c.api("GET", "/control/v1/cards")["cards"]}
    body = (
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:DPE="http://ws.gematik.de/conn/nfds/DPEService/v1.0" '
        'xmlns:CCTX="http://ws.gematik.de/conn/ConnectorContext/v2.0" '
        'xmlns:CONN="http://ws.gematik.de/conn/ConnectorCommon/v5.0"><soap:Body><DPE:ReadDPE>'
        '<CCTX:Context><CONN:MandantId>m1</CONN:MandantId><CONN:ClientSystemId>cs1'
        '</CONN:ClientSystemId><CONN:WorkplaceId>ws1</CONN:WorkplaceId></CCTX:Context>'
        f'<CONN:EhcHandle>{cards["egk1"]}</CONN:EhcHandle>'
        f'<CONN:HpcHandle>{cards["smcb1"]}</CONN:HpcHandle>'
        '<DPE:EmergencyIndicator>true</DPE:EmergencyIndicator>'
        '<DPE:UpdateIndicator>false</DPE:UpdateIndicator></DPE:ReadDPE></soap:Body>'
        '</soap:Envelope>').encode()
    req = urllib.request.Request(f"http://127.0.0.1:{lan}/ws/DPEService", data=body,
                                 method="POST",
                                 headers={"Content-Type": "text/xml; charset=utf-8"})
    try:
        with urllib.request.urlopen(req, timeout=scaled(10)) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_running(c, version, seconds=60):
    """Waits across the launcher's restart until the core of version is running and good."""
    deadline = time.monotonic() + scaled(seconds)
    last = None
    while time.monotonic() < deadline:
        assert c.proc.poll() is None, f"the launcher exited:\n{c.output()[-4000:]}"
        try:
            status_code, last = c.request("GET", "/api/v1/update/slots", timeout=5)
            if status_code == 200 and last["fw_version"] == version and last["good"]:
                return last
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"firmware {version} did not come up; last {last}:\n"
                         f"{c.output()[-4000:]}")


@pytest.mark.skipif(float(os.environ.get("KONN_TIMEOUT_FACTOR", "1")) > 1,
                    reason="gcc build only: it copies konnektord into two bundles and boots three "
                           "cores (35 s under ASan); the launcher's own tests run under ASan")
def test_ptv2_connector_updated_to_ptv3_shows_new_ptv_and_features(pki, ksr_dir, ksr,
                                                                   start_connector, data_dir,
                                                                   tmp_path):
    ptv2 = make_bundle(pki, tmp_path / "konnektord-2.0.0.kbundle",
                       payload=open(KONNEKTORD, "rb").read(), fw_version="2.0.0",
                       product_type_version="2.0.0", features=["VSDM"],
                       release_notes="PTV2")
    make_bundle(pki, ksr_dir / "konnektord-3.5.0.kbundle", payload=open(KONNEKTORD, "rb").read())
    trust_vendor(data_dir, pki)
    s = ksr()
    lan = free_port()
    c = start_with_ksr(start_connector, s.url, "ANCL_TLS_MANDATORY=Disabled",
                       "ANCL_CAUT_MANDATORY=Disabled",
                       extra=("--lan-http", f"127.0.0.1:{lan}", "--health-timeout", "10"),
                       launcher=True)
    wait_running(c, "0.1.0")
    # A PTV2 connector: the 2.0.0 bundle through the installer's upload route.
    res = c.konctl("update", "install", "--file", str(ptv2))
    assert res.returncode == 0, res.stdout + res.stderr
    wait_running(c, "2.0.0")
    product = c.api("GET", "/api/v1/status")["product"]
    assert product["product_type_version"] == "2.0.0" and product["features"] == ["VSDM"]
    assert sds_ptv(lan) == "2.0.0"
    # No NFDM on PTV2: the DPEService is neither listed nor served.
    assert "CardService" in sds_services(lan) and "DPEService" not in sds_services(lan)
    http_status, text = emergency_read_dpe(c, lan)
    assert http_status == 404 and "<GERROR:Code>4000</GERROR:Code>" in text, text
    # The KSR offers PTV3: check, download, install.
    c.konctl("update", "check", check=True)
    c.konctl("update", "download", check=True)
    res = c.konctl("update", "install", "3.5.0")
    assert res.returncode == 0, res.stdout + res.stderr
    wait_running(c, "3.5.0")
    product = c.api("GET", "/api/v1/status")["product"]
    assert product["firmware"] == "3.5.0" and product["product_type_version"] == "3.5.0"
    assert product["features"] == ["VSDM", "NFDM", "AMTS", "QES"]
    assert sds_ptv(lan) == "3.5.0"
    # PTV3 brings NFDM: the DPEService is listed and answers.
    assert "DPEService" in sds_services(lan)
    http_status, text = emergency_read_dpe(c, lan)
    assert http_status == 200 and "<DPE:Result>OK</DPE:Result>" in text, text
    res = c.konctl("status", check=True)
    assert "3.5.0" in res.stdout and "VSDM, NFDM, AMTS, QES" in res.stdout
    # Once running, nothing newer is offered: the conditions ended.
    assert "EC_FW_Update_Available" not in active(c)
    assert status(c)["updates"] == []
