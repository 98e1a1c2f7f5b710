"""CETP delivery (TIP1-A_4594..4596) to an event sink written here from the spec: "CETP",
a 4-byte big-endian length, the UTF-8 EVT:Event. Over HTTP the connector delivers in plain
TCP; with TLS mandatory (the https run) it is the TLS client (TIP1-A_4595). Every message is
validated against EventService.xsd."""
import json
import os
import socket
import tempfile
import time

import pytest
from lxml import etree

from conftest import (DEMO_CONTEXT, EVENT_XSD, KONCTL, NS, CetpReceiver, Connector,
                      EventServiceClient, LanConnector, free_port, have_konctl,
                      require_api_telematik, scaled, schema)

CARD_INSERTED_KEYS = {"CardHandle", "CardType", "CardVersion", "ICCSN", "CtID", "SlotID",
                      "InsertTime", "CardHolderName", "KVNR"}


def parse_event(raw):
    doc = etree.fromstring(raw)
    schema(EVENT_XSD).assertValid(etree.ElementTree(doc))
    params = {p.findtext("EVT:Key", None, NS): p.findtext("EVT:Value", "", NS)
              for p in doc.findall("EVT:Message/EVT:Parameter", NS)}
    return doc, params


def subscribe(es, sink, topic, **extra):
    return es.call("Subscribe", Context=DEMO_CONTEXT, Subscription={
        "EventTo": sink.url, "Topic": topic, **extra})[0].SubscriptionID


def test_card_inserted_reaches_the_sink_with_all_parameters(lan, es, cetp_sink):
    sub_id = subscribe(es, cetp_sink, "CARD/INSERTED")
    try:
        lan.remove("ct1", 3)
        inserted = lan.insert("ct1", 3, "egk1")
        doc, params = parse_event(cetp_sink.next_event())
    finally:
        es.call("Unsubscribe", Context=DEMO_CONTEXT, SubscriptionID=sub_id)
    assert doc.tag == "{%s}Event" % NS["EVT"]
    assert doc.findtext("EVT:Topic", None, NS) == "CARD/INSERTED"
    assert doc.findtext("EVT:Type", None, NS) == "Operation"
    assert doc.findtext("EVT:Severity", None, NS) == "Info"
    assert doc.findtext("EVT:SubscriptionID", None, NS) == sub_id
    assert CARD_INSERTED_KEYS <= set(params)
    assert params["CardType"] == "EGK"
    assert params["CtID"] == "ct1"
    assert params["SlotID"] == "3"
    assert params["CardHandle"] == inserted.get("handle", params["CardHandle"])
    assert not cetp_sink.errors


def test_first_level_topic_gets_every_card_event_on_one_connection(lan, es, cetp_sink):
    sub_id = subscribe(es, cetp_sink, "CARD")
    try:
        lan.remove("ct1", 2)
        lan.insert("ct1", 2, "hba1")
        topics = [parse_event(cetp_sink.next_event())[0].findtext("EVT:Topic", None, NS)
                  for _ in range(2)]
    finally:
        es.call("Unsubscribe", Context=DEMO_CONTEXT, SubscriptionID=sub_id)
    assert topics == ["CARD/REMOVED", "CARD/INSERTED"]


def test_filter_selects_events(lan, es, cetp_sink):
    sub_id = subscribe(es, cetp_sink, "CARD", Filter=(
        "/EVT:Event/EVT:Message/EVT:Parameter[EVT:Key='CardType' and EVT:Value='SMC-B']"))
    try:
        lan.remove("ct1", 3)
        lan.insert("ct1", 3, "egk1")
        lan.remove("ct1", 1)
        lan.insert("ct1", 1, "smcb1")
        first = parse_event(cetp_sink.next_event())
    finally:
        es.call("Unsubscribe", Context=DEMO_CONTEXT, SubscriptionID=sub_id)
    assert first[0].findtext("EVT:Topic", None, NS) == "CARD/REMOVED"
    assert first[1]["CardType"] == "SMC-B"


def test_operational_state_events_reach_the_sink(lan, es, cetp_sink):
    sub_id = subscribe(es, cetp_sink, "OPERATIONAL_STATE")
    try:
        lan.c.api("PUT", "/control/v1/vpn", {"state": "down"})
        doc, params = parse_event(cetp_sink.next_event())
    finally:
        lan.c.api("PUT", "/control/v1/vpn", {"state": "up"})
        lan.c.api("POST", "/control/v1/clock/advance", {"by": "3s"})
        es.call("Unsubscribe", Context=DEMO_CONTEXT, SubscriptionID=sub_id)
    assert doc.findtext("EVT:Topic", None, NS) == "OPERATIONAL_STATE/EC_No_VPN_TI_Connection"
    assert doc.findtext("EVT:Severity", None, NS) == "Error"
    assert params["Value"] == "true"


def test_konctl_card_insert_reaches_the_sink(lan, es, cetp_sink):
    if not have_konctl():
        pytest.skip(f"{KONCTL} not built")
    sub_id = subscribe(es, cetp_sink, "CARD/INSERTED")
    try:
        lan.c.konctl("card", "remove", "--ct", "ct1", "--slot", "3", check=True)
        lan.c.konctl("card", "insert", "--ct", "ct1", "--slot", "3", "egk1", check=True)
        doc, params = parse_event(cetp_sink.next_event())
    finally:
        es.call("Unsubscribe", Context=DEMO_CONTEXT, SubscriptionID=sub_id)
    assert params["CtID"] == "ct1" and params["CardType"] == "EGK"
    assert CARD_INSERTED_KEYS <= set(params)


def test_unreachable_sink_loses_its_subscriptions_after_evt_max_try(lan, es):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: every delivery is refused
    sub_id = es.call("Subscribe", Context=DEMO_CONTEXT, Subscription={
        "EventTo": f"cetp://127.0.0.1:{port}", "Topic": "CARD"})[0].SubscriptionID
    for _ in range(3):  # EVT_MAX_TRY defaults to 3; each event is one failed delivery
        lan.remove("ct1", 3)
        lan.insert("ct1", 3, "egk1")
    deadline = time.monotonic() + scaled(10)
    while time.monotonic() < deadline:
        _, body = es.call("GetSubscription", Context=DEMO_CONTEXT, SubscriptionID=sub_id)
        if not body.findall(".//EVT:Subscription", NS):
            return
        time.sleep(0.05)
    raise AssertionError("the subscription of an unreachable sink was not removed")


def test_sink_of_the_last_run_receives_bootup_complete_after_a_restart():
    """The subscription list is empty after a restart (TIP1-A_4613), yet the practice software
    hears BOOTUP/BOOTUP_COMPLETE (digest section 2.1): the connector remembered the sink in
    DATA/cetp-sinks.json, sends the event once with SubscriptionID "BOOTUP", and forgets it."""
    require_api_telematik()
    http_port, mgmt_port = free_port(), free_port()
    args = ["--lan-http", f"127.0.0.1:{http_port}", "--setting", "ANCL_TLS_MANDATORY=Disabled"]
    sink = CetpReceiver()
    with tempfile.TemporaryDirectory(prefix="konn-interop-") as d:
        c = Connector(d, mgmt_port, args)
        try:
            c.wait_ready()
            es = EventServiceClient(LanConnector(c, "http", http_port, free_port()))
            subscribe(es, sink, "CARD/INSERTED")
            c.stop()
            c = Connector(d, mgmt_port, args)
            c.wait_ready()
            doc, params = parse_event(sink.next_event())
            es = EventServiceClient(LanConnector(c, "http", http_port, free_port()))
            _, body = es.call("GetSubscription", Context=DEMO_CONTEXT)
        finally:
            c.stop()
            sink.close()
        with open(os.path.join(d, "cetp-sinks.json")) as f:
            remembered = json.load(f)["sinks"]
    assert doc.findtext("EVT:Topic", None, NS) == "BOOTUP/BOOTUP_COMPLETE"
    assert doc.findtext("EVT:Type", None, NS) == "Operation"
    assert doc.findtext("EVT:Severity", None, NS) == "Info"
    assert doc.findtext("EVT:SubscriptionID", None, NS) == "BOOTUP"
    assert "FailedSteps" in params
    assert not body.findall(".//EVT:Subscription", NS), "subscriptions must not survive"
    assert remembered == [], "the sink must subscribe again to be remembered"
    assert sink.events.empty() and not sink.errors
