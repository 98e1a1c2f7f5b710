"""EventService v7.2 called by a second, independent SOAP stack: the npm `soap` package
(node-soap) through the gematik EventService.wsdl, over HTTP and over HTTPS (the `lan`
fixture runs every test once per transport). tests/interop/node/event_client.js makes all
seven calls with the demo context and prints each raw request and response; here every one
is validated against EventService.xsd with lxml.

Needs node and tests/interop/node/node_modules (scripts/install-deps runs `npm ci` there);
without them the tests skip. Over HTTPS the client pins the connector's LAN certificates and
checks the host name, and presents the PKCS#12 client certificate that conftest.py had the
management API issue (lan.client_p12), when the fixture has one."""
import json
import os
import shutil
import subprocess

import pytest

from conftest import API_TELEMATIK, EVENT_XSD, HERE, NS, scaled, schema

NODE_DIR = os.path.join(HERE, "node")
CLIENT = os.path.join(NODE_DIR, "event_client.js")
OPERATIONS = ["GetCardTerminals", "GetCards", "GetResourceInformation", "Subscribe",
              "GetSubscription", "RenewSubscriptions", "Unsubscribe"]


def node_missing():
    """Why the node client cannot run, or None."""
    if shutil.which("node") is None:
        return "node not found; run scripts/install-deps"
    if not os.path.exists(os.path.join(NODE_DIR, "node_modules", "soap", "package.json")):
        return (f"the npm soap module is not installed in {NODE_DIR}; "
                "run scripts/install-deps (npm ci)")
    return None


# Decided before the `lan` fixture starts any connector.
pytestmark = pytest.mark.skipif(node_missing() is not None, reason=node_missing() or "")


def run_client(lan):
    """Runs event_client.js against the connector; returns its JSON lines as dicts."""
    args = [shutil.which("node"), CLIENT, lan.event_service_url]
    if lan.tls:
        args += ["--ca", lan.ca_bundle]
        # The client certificate the connector issued through the management API, when the
        # fixture has one (client authentication mandatory); the PKCS#12 as delivered.
        if getattr(lan, "client_p12", None):
            args += ["--pfx", lan.client_p12, "--passphrase", lan.client_p12_password]
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["KONN_API_TELEMATIK"] = API_TELEMATIK
    res = subprocess.run(args, env=env, capture_output=True, text=True, timeout=scaled(60))
    assert res.returncode == 0, (f"event_client.js failed ({res.returncode}):\n"
                                 f"{res.stdout}\n{res.stderr}\n{lan.c.output()}")
    return [json.loads(line) for line in res.stdout.splitlines() if line.strip()]


def body_child(xml_text):
    """The single child of soap:Body, re-parsed from the raw bytes."""
    from lxml import etree

    envelope = etree.fromstring(xml_text.encode("utf-8"))
    assert envelope.tag == "{%s}Envelope" % NS["soap"]
    body = envelope.find("soap:Body", NS)
    assert body is not None and len(body) == 1, "soap:Body must hold exactly one element"
    return body[0]


@pytest.fixture(scope="module")
def calls(lan):
    return run_client(lan)


def test_node_soap_makes_all_seven_calls_without_a_fault(calls):
    assert [c["operation"] for c in calls] == OPERATIONS
    failed = [(c["operation"], c.get("status"), c.get("error"), c["response"])
              for c in calls if not c["ok"]]
    assert failed == []


@pytest.mark.parametrize("operation", OPERATIONS)
def test_node_soap_response_is_schema_valid(calls, operation):
    from lxml import etree

    (call,) = [c for c in calls if c["operation"] == operation]
    body = body_child(call["response"])
    assert body.tag == "{%s}%sResponse" % (NS["EVT"], operation)
    assert body[0].tag == "{%s}Status" % NS["CONN"], "CONN:Status must come first"
    assert body.findtext("CONN:Status/CONN:Result", None, NS) == "OK"
    schema(EVENT_XSD).assertValid(etree.ElementTree(body))


@pytest.mark.parametrize("operation", OPERATIONS)
def test_node_soap_request_is_schema_valid(calls, operation):
    """What node-soap sent must be valid too, or the response tests would prove less: the
    connector would be answering requests the schema forbids."""
    from lxml import etree

    (call,) = [c for c in calls if c["operation"] == operation]
    body = body_child(call["request"])
    assert body.tag == "{%s}%s" % (NS["EVT"], operation)
    schema(EVENT_XSD).assertValid(etree.ElementTree(body))


def test_node_soap_sees_the_demo_cards_and_its_subscription(calls):
    by_op = {c["operation"]: body_child(c["response"]) for c in calls}
    types = [e.text for e in by_op["GetCards"].findall(".//CARD:Card/CARDCMN:CardType", NS)]
    assert sorted(types) == ["EGK", "HBA", "SMC-B"]
    terminals = by_op["GetCardTerminals"].findall(".//CT:CardTerminal/CARDCMN:CtId", NS)
    assert [e.text for e in terminals] == ["ct1"]
    sub_id = by_op["Subscribe"].findtext("EVT:SubscriptionID", None, NS)
    listed = by_op["GetSubscription"].findall(".//EVT:Subscription", NS)
    assert [s.findtext("EVT:SubscriptionID", None, NS) for s in listed] == [sub_id]
    assert listed[0].findtext("EVT:EventTo", None, NS) == "cetp://127.0.0.1:9"
    renewed = by_op["RenewSubscriptions"].findall(".//EVT:SubscriptionRenewal", NS)
    assert [r.findtext("EVT:SubscriptionID", None, NS) for r in renewed] == [sub_id]
