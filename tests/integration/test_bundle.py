"""konctl bundle keygen|create|sign-group|verify: vendor tooling for signed update bundles
(docs/update-bundle.md). These commands work on local files, so no daemon is started."""
import io
import json
import os
import subprocess
import tarfile

import pytest

from conftest import KONCTL

TEMPLATE = {
    "product_vendor_id": "KONN", "product_code": "KONNEKTD", "product_name": "konnektord",
    "hw_version": "1.0.0", "fw_version": "3.5.0", "product_type_version": "3.5.0",
    "created": "2026-11-29", "fw_priority": "Normal", "deadline": None,
    "release_notes": "PTV3 eHealth", "features": ["VSDM", "NFDM", "AMTS", "QES"],
}

GROUP = {
    "format": 1, "firmware_group_id": "KONN-G1", "product_vendor_id": "KONN",
    "product_code": "KONNEKTD", "hw_version": "1.0.0", "firmware_group_version": "7",
    "created": "2026-11-01", "release_notes": "", "fw_versions": ["3.4.0", "3.5.0"],
}


def konctl(*args):
    # No daemon: the bundle commands must not need a password or a URL.
    env = {k: v for k, v in os.environ.items() if not k.startswith("KONCTL_")}
    return subprocess.run([KONCTL, *args], env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def vendor(tmp_path):
    """A keygen'd test PKI, a payload directory, a template and a good bundle."""
    pki = tmp_path / "pki"
    res = konctl("bundle", "keygen", "--out", str(pki), "--vendor", "ACME")
    assert res.returncode == 0, res.stderr
    payloads = tmp_path / "payloads"
    (payloads / "core").mkdir(parents=True)
    (payloads / "core" / "konnektord").write_bytes(b"\x7fELF core " * 100)
    (payloads / "core" / "konnektord").chmod(0o755)
    (payloads / "ptv.json").write_text('{"ptv": "3.5.0"}')
    template = tmp_path / "template.json"
    template.write_text(json.dumps(TEMPLATE))
    bundle = tmp_path / "b.tar"
    res = konctl("bundle", "create", str(bundle), "--manifest", str(template),
                 "--payloads", str(payloads), "--key", str(pki / "signer-key.pem"),
                 "--cert", str(pki / "signer-cert.pem"))
    assert res.returncode == 0, res.stderr
    return {"dir": tmp_path, "pki": pki, "bundle": bundle, "template": template,
            "payloads": payloads, "trust": pki / "root-cert.pem"}


def verify(v, bundle=None, *extra):
    return konctl("bundle", "verify", str(bundle or v["bundle"]), "--trust", str(v["trust"]),
                  *extra)


def rewrite(src, dst, change):
    """Copies the tar src to dst, entry by entry through change(info, data) -> list of
    (info, data) pairs."""
    with tarfile.open(src) as t, tarfile.open(dst, "w", format=tarfile.PAX_FORMAT) as out:
        for m in t.getmembers():
            data = t.extractfile(m).read() if m.isfile() else None
            for info, d in change(m, data):
                info.size = len(d) if d is not None else 0
                out.addfile(info, io.BytesIO(d) if d is not None else None)


def test_keygen_writes_keys_private_and_certificates(vendor):
    pki = vendor["pki"]
    assert oct((pki / "signer-key.pem").stat().st_mode & 0o777) == "0o600"
    assert oct((pki / "root-key.pem").stat().st_mode & 0o777) == "0o600"
    assert "BEGIN CERTIFICATE" in (pki / "root-cert.pem").read_text()


def test_good_bundle_verifies_and_prints_every_check(vendor):
    res = verify(vendor)
    assert res.returncode == 0, res.stdout + res.stderr
    for check in ("archive", "signature", "chain", "key-usage", "manifest", "payloads"):
        assert any(l.startswith("ok") and check in l for l in res.stdout.splitlines()), check
    assert "VERIFIED: firmware 3.5.0" in res.stdout
    assert "VSDM, NFDM, AMTS, QES" in res.stdout


def test_bundle_layout_is_manifest_signature_payloads(vendor):
    with tarfile.open(vendor["bundle"]) as t:
        names = t.getnames()
        modes = {m.name: m.mode for m in t.getmembers()}
    assert names == ["manifest.json", "manifest.json.p7s", "payload/core/konnektord",
                     "payload/ptv.json"]
    assert modes["payload/core/konnektord"] == 0o755


def test_verify_json_reports_the_manifest(vendor):
    res = verify(vendor, None, "--json")
    assert res.returncode == 0, res.stderr
    answer = json.loads(res.stdout)
    assert answer["ok"] is True and answer["code"] is None
    assert answer["manifest"]["features"] == ["VSDM", "NFDM", "AMTS", "QES"]
    assert answer["manifest"]["payloads"][0]["path"] == "core/konnektord"
    assert answer["manifest"]["payloads"][0]["size"] == 1000


def test_tampered_payload_fails_with_4183(vendor):
    bad = vendor["dir"] / "bad.tar"

    def flip(info, data):
        if info.name == "payload/core/konnektord":
            data = data[:10] + bytes([data[10] ^ 1]) + data[11:]
        return [(info, data)]
    rewrite(vendor["bundle"], bad, flip)
    res = verify(vendor, bad)
    assert res.returncode == 9, res.stdout + res.stderr
    assert "FAIL  payloads" in res.stdout
    assert "'core/konnektord': SHA-256 differs" in res.stdout
    assert "gematik code 4183" in res.stdout


def test_tampered_manifest_fails_the_signature(vendor):
    bad = vendor["dir"] / "bad.tar"

    def edit(info, data):
        if info.name == "manifest.json":
            data = data.replace(b'"AMTS"', b'"EPA1"')
        return [(info, data)]
    rewrite(vendor["bundle"], bad, edit)
    res = verify(vendor, bad, "--json")
    assert res.returncode == 9
    answer = json.loads(res.stdout)
    assert answer["ok"] is False and answer["code"] == 4183
    assert answer["failed_check"] == "signature"
    assert [c["check"] for c in answer["checks"]] == ["archive"]


def test_symlink_entry_fails(vendor):
    bad = vendor["dir"] / "bad.tar"

    def add_link(info, data):
        out = [(info, data)]
        if info.name == "payload/ptv.json":
            link = tarfile.TarInfo("payload/core/evil")
            link.type = tarfile.SYMTYPE
            link.linkname = "/etc/shadow"
            out.append((link, None))
        return out
    rewrite(vendor["bundle"], bad, add_link)
    res = verify(vendor, bad)
    assert res.returncode == 9
    assert "'payload/core/evil' is a symbolic link" in res.stdout


def test_foreign_vendor_root_fails_the_chain(vendor):
    other = vendor["dir"] / "other-pki"
    assert konctl("bundle", "keygen", "--out", str(other)).returncode == 0
    res = konctl("bundle", "verify", str(vendor["bundle"]), "--trust",
                 str(other / "root-cert.pem"))
    assert res.returncode == 9
    assert "FAIL  chain" in res.stdout


def test_firmware_group_decides_with_4185(vendor):
    d = vendor["dir"]
    for name, versions in (("in.json", ["3.4.0", "3.5.0"]), ("out.json", ["3.4.0", "3.6.0"])):
        (d / name).write_text(json.dumps(dict(GROUP, fw_versions=versions)))
        res = konctl("bundle", "sign-group", str(d / name),
                     "--key", str(vendor["pki"] / "signer-key.pem"),
                     "--cert", str(vendor["pki"] / "signer-cert.pem"))
        assert res.returncode == 0, res.stderr
        assert (d / (name + ".p7s")).exists()
    res = verify(vendor, None, "--group", str(d / "in.json"))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "firmware 3.5.0 is in group 'KONN-G1'" in res.stdout
    res = verify(vendor, None, "--group", str(d / "out.json"))
    assert res.returncode == 9
    assert "FAIL  firmware-group" in res.stdout and "gematik code 4185" in res.stdout
    # Someone widens the signed list by hand: the group's signature no longer matches.
    (d / "in.json").write_text(json.dumps(dict(GROUP, fw_versions=["3.5.0", "9.9.9"])))
    res = verify(vendor, None, "--group", str(d / "in.json"))
    assert res.returncode == 9
    assert "FAIL  group signature" in res.stdout and "4183" in res.stdout


def test_other_device_fails_with_4185(vendor):
    res = verify(vendor, None, "--vendor-id", "KONN", "--product-code", "KONNEKTD",
                 "--hw-version", "2.0.0")
    assert res.returncode == 9
    assert "FAIL  product" in res.stdout and "4185" in res.stdout


def test_create_refuses_a_symlink_among_the_payloads(vendor):
    os.symlink("/etc/passwd", vendor["payloads"] / "passwd")
    out = vendor["dir"] / "c.tar"
    res = konctl("bundle", "create", str(out), "--manifest", str(vendor["template"]),
                 "--payloads", str(vendor["payloads"]),
                 "--key", str(vendor["pki"] / "signer-key.pem"),
                 "--cert", str(vendor["pki"] / "signer-cert.pem"))
    assert res.returncode == 1
    assert "not a regular file" in res.stderr
    assert not out.exists()


def test_usage_errors_exit_2(vendor):
    assert konctl("bundle", "verify", str(vendor["bundle"])).returncode == 2
    res = konctl("bundle", "verify", str(vendor["dir"] / "nope.tar"), "--trust",
                 str(vendor["trust"]))
    assert res.returncode == 2 and "cannot open" in res.stderr
    # A signing certificate is no root: it cannot be a trust anchor.
    res = konctl("bundle", "verify", str(vendor["bundle"]), "--trust",
                 str(vendor["pki"] / "signer-cert.pem"))
    assert res.returncode == 2 and "no self-signed CA" in res.stderr
    assert konctl("bundle", "frobnicate").returncode == 2
    res = konctl("bundle", "--help")
    assert res.returncode == 0 and "sign-group" in res.stdout
