"""The management web UI in a real browser (issue #7, item 3): webui_scenario.js drives
Debian's chromium headless with playwright-core (npm, pinned in package-lock.json) against a
konnektord started here. Screenshots go to KONN_ARTEFACTS (CTest: the build's
tests/browser/artefacts/).

Needs node, chromium and tests/browser/node_modules (scripts/install-deps installs them);
without any of them the test skips and says which is missing."""
import importlib.util
import os
import shutil
import subprocess
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CHROMIUM = os.environ.get("KONN_CHROMIUM", "/usr/bin/chromium")
ARTEFACTS = os.environ.get("KONN_ARTEFACTS", os.path.join(HERE, "artefacts"))

_spec = importlib.util.spec_from_file_location(
    "integration_conftest", os.path.join(ROOT, "tests", "integration", "conftest.py"))
integration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(integration)


def missing():
    """Why the browser test cannot run, or None."""
    if shutil.which("node") is None:
        return "node not found; run scripts/install-deps"
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} not found; run scripts/install-deps (Debian's chromium)"
    if not os.path.exists(os.path.join(HERE, "node_modules", "playwright-core", "package.json")):
        return (f"playwright-core is not installed in {HERE}; run scripts/install-deps "
                "(npm ci)")
    return None


@pytest.mark.skipif(missing() is not None, reason=missing() or "")
def test_webui_scenario():
    with tempfile.TemporaryDirectory(prefix="konn-browser-") as d:
        c = integration.Connector(d, integration.free_port(),
                                  ("--world-template", integration.world_template(),
                                   "--setting", "SECLOG_CAPACITY_MB=16"))
        try:
            c.wait_ready()
            env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
            env.update({"KONN_URL": c.url, "KONN_PASSWORD": c.password, "KONN_CACERT": c.cert,
                        "KONN_ARTEFACTS": ARTEFACTS, "KONN_CHROMIUM": CHROMIUM,
                        "KONN_TIMEOUT_FACTOR": str(integration.FACTOR)})
            res = subprocess.run([shutil.which("node"), os.path.join(HERE, "webui_scenario.js")],
                                 env=env, capture_output=True, text=True,
                                 timeout=integration.scaled(120))
            print(res.stdout)
            assert res.returncode == 0, (
                f"webui_scenario.js failed ({res.returncode}); screenshots in {ARTEFACTS}:\n"
                f"{res.stdout}\n{res.stderr}\n{c.output()[-4000:]}")
        finally:
            c.stop()
