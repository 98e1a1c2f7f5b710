"""EventService v7.2 over the LAN interface, called through the gematik WSDL with zeep, over
HTTP and over HTTPS (the `lan` fixture runs every test once per transport). Every response
is validated against EventService.xsd, every fault against TelematikError.xsd.

The connector's first start brings the demo practice: Mandant m1, client system cs1,
workplace ws1 with terminal ct1 (4 slots) holding smcb1 (slot 1), hba1 (2) and egk1 (3)."""
import datetime

from conftest import DEMO_CONTEXT, NS

CTX = DEMO_CONTEXT


def texts(element, path):
    return [e.text for e in element.findall(path, NS)]


def test_get_card_terminals_lists_the_demo_terminal(es):
    result, body = es.call("GetCardTerminals", Context=CTX)
    assert texts(body, ".//CT:CardTerminal/CARDCMN:CtId") == ["ct1"]
    terminal = body.find(".//CT:CardTerminal", NS)
    assert terminal.findtext("CT:Slots", None, NS) == "4"
    assert terminal.findtext("CT:Connected", None, NS) == "true"
    assert texts(terminal, "CONN:WorkplaceIds/CONN:WorkplaceId") == ["ws1"]
    assert result.CardTerminals.CardTerminal[0].CtId == "ct1"


def test_get_card_terminals_mandant_wide(es):
    _, body = es.call("GetCardTerminals", Context=CTX, **{"mandant-wide": True})
    assert texts(body, ".//CT:CardTerminal/CARDCMN:CtId") == ["ct1"]


def test_get_cards_lists_the_demo_cards(es):
    _, body = es.call("GetCards", Context=CTX)
    cards = {c.findtext("CARDCMN:CardType", None, NS): c for c in body.findall(".//CARD:Card", NS)}
    assert set(cards) == {"SMC-B", "HBA", "EGK"}
    egk = cards["EGK"]
    assert egk.findtext("CARDCMN:CtId", None, NS) == "ct1"
    assert egk.findtext("CARDCMN:SlotId", None, NS) == "3"
    assert len(egk.findtext("CONN:CardHandle", None, NS)) > 0
    assert len(egk.findtext("CARD:Kvnr", None, NS)) == 10


def test_get_cards_filters_by_card_type_and_slot(es):
    _, body = es.call("GetCards", Context=CTX, CardType="HBA")
    assert texts(body, ".//CARD:Card/CARDCMN:CardType") == ["HBA"]
    _, body = es.call("GetCards", Context=CTX, CtId="ct1", SlotId=1)
    assert texts(body, ".//CARD:Card/CARDCMN:CardType") == ["SMC-B"]


def test_get_cards_of_an_unknown_terminal_is_4007(es):
    code, _ = es.fault("GetCards", Context=CTX, CtId="no-such-ct")
    assert code == 4007


def test_unknown_mandant_is_4004(es):
    code, error = es.fault("GetCardTerminals",
                           Context={**CTX, "MandantId": "unknown-mandant"})
    assert code == 4004
    assert "unknown-mandant" in (error.findtext(".//GERROR:Detail", "", NS))


def test_get_resource_information_reports_vpn_and_operating_state(lan, es):
    _, body = es.call("GetResourceInformation", Context=CTX)
    connector = body.find("CONN:Connector", NS)
    assert connector.findtext("CONN:VPNTIStatus/CONN:ConnectionStatus", None, NS) == "Online"
    assert connector.findtext("CONN:VPNSISStatus/CONN:ConnectionStatus", None, NS) == "Offline"
    assert body.find("CARD:Card", NS) is None
    lan.c.api("PUT", "/control/v1/vpn", {"state": "down"})
    try:
        _, body = es.call("GetResourceInformation", Context=CTX)
        connector = body.find("CONN:Connector", NS)
        assert connector.findtext("CONN:VPNTIStatus/CONN:ConnectionStatus", None, NS) == "Offline"
        states = {s.findtext("CONN:ErrorCondition", None, NS): s
                  for s in connector.findall("CONN:OperatingState/CONN:ErrorState", NS)}
        vpn = states["EC_No_VPN_TI_Connection"]
        assert vpn.findtext("CONN:Value", None, NS) == "true"
        assert vpn.findtext("CONN:Severity", None, NS) == "Error"
        assert vpn.findtext("CONN:Type", None, NS) == "Operation"
    finally:
        lan.c.api("PUT", "/control/v1/vpn", {"state": "up"})
        lan.c.api("POST", "/control/v1/clock/advance", {"by": "3s"})


def test_get_resource_information_of_a_card(es):
    _, cards = es.call("GetCards", Context=CTX, CardType="EGK")
    handle = cards.findtext(".//CARD:Card/CONN:CardHandle", None, NS)
    _, body = es.call("GetResourceInformation", Context=CTX, CardHandle=handle)
    assert body.findtext("CARD:Card/CONN:CardHandle", None, NS) == handle
    assert body.findtext("CT:CardTerminal/CARDCMN:CtId", None, NS) == "ct1"
    assert body.find("CONN:Connector", NS) is not None
    code, _ = es.fault("GetResourceInformation", Context=CTX, CardHandle="0" * 32)
    assert code == 4008


def test_subscribe_get_renew_unsubscribe(lan, es):
    result, body = es.call("Subscribe", Context=CTX, Subscription={
        "EventTo": "cetp://127.0.0.1:9", "Topic": "CARD"})
    sub_id = result.SubscriptionID
    assert body.findtext("EVT:SubscriptionID", None, NS) == sub_id
    first_termination = result.TerminationTime
    lifetime = first_termination - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(hours=24) < lifetime <= datetime.timedelta(hours=25, minutes=1)

    _, body = es.call("GetSubscription", Context=CTX, SubscriptionID=sub_id)
    assert texts(body, ".//EVT:Subscription/EVT:SubscriptionID") == [sub_id]
    assert texts(body, ".//EVT:Subscription/EVT:Topic") == ["CARD"]

    lan.c.api("POST", "/control/v1/clock/advance", {"by": "2h"})
    result, body = es.call("RenewSubscriptions", Context=CTX, SubscriptionID=[sub_id])
    renewal = result.SubscribeRenewals.SubscriptionRenewal[0]
    assert renewal.SubscriptionID == sub_id
    assert renewal.TerminationTime > first_termination

    es.call("Unsubscribe", Context=CTX, SubscriptionID=sub_id)
    _, body = es.call("GetSubscription", Context=CTX, **{"mandant-wide": True})
    assert sub_id not in texts(body, ".//EVT:Subscription/EVT:SubscriptionID")
    code, _ = es.fault("Unsubscribe", Context=CTX, SubscriptionID=sub_id)
    assert code == 4000


def test_unsubscribe_by_event_to(es):
    ids = [es.call("Subscribe", Context=CTX, Subscription={
        "EventTo": "cetp://127.0.0.1:10", "Topic": topic})[0].SubscriptionID
        for topic in ("CARD", "CT", "OPERATIONAL_STATE")]
    es.call("Unsubscribe", Context=CTX, EventTo="cetp://127.0.0.1:10")
    _, body = es.call("GetSubscription", Context=CTX, **{"mandant-wide": True})
    listed = texts(body, ".//EVT:Subscription/EVT:SubscriptionID")
    assert not set(ids) & set(listed)


def test_subscription_expires_after_25_hours_of_connector_time(lan, es):
    sub_id = es.call("Subscribe", Context=CTX, Subscription={
        "EventTo": "cetp://127.0.0.1:11", "Topic": "CARD"})[0].SubscriptionID
    lan.c.api("POST", "/control/v1/clock/advance", {"by": "25h"})
    _, body = es.call("GetSubscription", Context=CTX, SubscriptionID=sub_id)
    assert texts(body, ".//EVT:Subscription") == []
    code, _ = es.fault("RenewSubscriptions", Context=CTX, SubscriptionID=[sub_id])
    assert code == 4000


def test_invalid_filter_and_event_to_are_4000(es):
    code, _ = es.fault("Subscribe", Context=CTX, Subscription={
        "EventTo": "cetp://127.0.0.1:9", "Topic": "CARD", "Filter": "/EVT:Event["})
    assert code == 4000
    code, _ = es.fault("Subscribe", Context=CTX, Subscription={
        "EventTo": "cetp://127.0.0.1", "Topic": "CARD"})
    assert code == 4000
