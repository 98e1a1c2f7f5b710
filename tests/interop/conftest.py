"""Fixtures for the interop tests: the real konnektord with its LAN listeners, called with
python3-zeep through the gematik WSDLs, every response validated with lxml against the
gematik XSDs, and a CETP event sink written from the spec (TIP1-A_4596), not from our code.

The connector comes from tests/integration/conftest.py (imported by path); each test module
starts one per transport and shares it between its tests:
  - "http":  plain HTTP, ANCL_TLS_MANDATORY=Disabled; CETP to the sink in plain TCP;
  - "https": HTTPS with TLS and client authentication mandatory (the defaults): the clients
    present a client certificate the connector issued through the management API
    (TIP1-A_4517; LanConnector.client_cert); CETP over TLS.

Environment: KONN_API_TELEMATIK names the api-telematik checkout (default
../shared/api-telematik beside the repository); without it every test is skipped."""
import importlib.util
import os
import queue
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

_spec = importlib.util.spec_from_file_location(
    "integration_conftest", os.path.join(ROOT, "tests", "integration", "conftest.py"))
integration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(integration)
Connector = integration.Connector
free_port = integration.free_port
world_template = integration.world_template
scaled = integration.scaled
KONCTL = integration.KONCTL

# See tests/integration/conftest.py: with both directories in one run, the test modules here
# must import this conftest, not that one.
_THIS = sys.modules.get(__name__)


def pytest_collectstart(collector):
    if isinstance(collector, pytest.Module) and _THIS is not None:
        sys.modules["conftest"] = _THIS

API_TELEMATIK = os.environ.get("KONN_API_TELEMATIK") or os.path.join(
    os.path.dirname(ROOT), "shared", "api-telematik")
EVENT_WSDL = os.path.join(API_TELEMATIK, "conn", "EventService.wsdl")
EVENT_XSD = os.path.join(API_TELEMATIK, "conn", "EventService.xsd")
ERROR_XSD = os.path.join(API_TELEMATIK, "tel", "error", "TelematikError.xsd")

NS = {
    "soap": "http://schemas.xmlsoap.org/soap/envelope/",
    "EVT": "http://ws.gematik.de/conn/EventService/v7.2",
    "CONN": "http://ws.gematik.de/conn/ConnectorCommon/v5.0",
    "CCTX": "http://ws.gematik.de/conn/ConnectorContext/v2.0",
    "CT": "http://ws.gematik.de/conn/CardTerminalInfo/v8.0",
    "CARD": "http://ws.gematik.de/conn/CardService/v8.1",
    "CARDCMN": "http://ws.gematik.de/conn/CardServiceCommon/v2.0",
    "GERROR": "http://ws.gematik.de/tel/error/v2.0",
}
EVENT_BINDING = "{http://ws.gematik.de/conn/EventService/WSDL/v7.2}EventServiceBinding"
DEMO_CONTEXT = {"MandantId": "m1", "ClientSystemId": "cs1", "WorkplaceId": "ws1"}


def require_api_telematik():
    if not os.path.exists(EVENT_WSDL):
        pytest.skip(f"{EVENT_WSDL} not found; set KONN_API_TELEMATIK to an api-telematik "
                    "checkout")


class LanConnector:
    """A Connector plus its LAN endpoint for one transport."""

    def __init__(self, connector, transport, http_port, https_port):
        self.c = connector
        self.transport = transport
        self.tls = transport == "https"
        port = https_port if self.tls else http_port
        self.base_url = f"{transport}://127.0.0.1:{port}"
        self.event_service_url = self.base_url + "/ws/EventService"
        ident = os.path.join(connector.data_dir, "identity")
        # The LAN server certificates are self-signed with CA:TRUE: pin both as trust anchors.
        self.ca_bundle = os.path.join(connector.data_dir, "lan-ca-bundle.pem")
        with open(self.ca_bundle, "w") as out:
            for name in ("lan-rsa-cert.pem", "lan-ecc-cert.pem"):
                path = os.path.join(ident, name)
                if os.path.exists(path):
                    with open(path) as f:
                        out.write(f.read())
        self.lan_rsa_cert = os.path.join(ident, "lan-rsa-cert.pem")
        # Over HTTPS: a client certificate issued through the management API, as PKCS#12
        # (client_p12, opened with client_p12_password) and as PEM files (cert, key).
        self.client_p12 = None
        self.client_p12_password = None
        self.client_cert = None
        if self.tls:
            self.client_p12_password = "interop-client-pw"
            self.client_p12, cert, key = connector.issue_client_cert(
                "interop-client", connector.data_dir, password=self.client_p12_password)
            self.client_cert = (cert, key)

    def insert(self, ct, slot, card):
        return self.c.api("POST", "/control/v1/cards/insert",
                          {"ct": ct, "slot": slot, "card": card})

    def remove(self, ct, slot):
        return self.c.api("POST", "/control/v1/cards/remove", {"ct": ct, "slot": slot})


@pytest.fixture(scope="module", params=["http", "https"])
def lan(request):
    require_api_telematik()
    transport = request.param
    http_port, https_port = free_port(), free_port()
    settings = ["--setting", "ANCL_TLS_MANDATORY=Disabled"] if transport == "http" else []
    with tempfile.TemporaryDirectory(prefix="konn-interop-") as d:
        c = Connector(d, free_port(), ["--world-template", world_template(),
                                       "--lan-http", f"127.0.0.1:{http_port}",
                                       "--lan-https", f"127.0.0.1:{https_port}", *settings])
        try:
            c.wait_ready()
            yield LanConnector(c, transport, http_port, https_port)
        finally:
            c.stop()


class EventServiceClient:
    """zeep on the gematik EventService.wsdl, bound to the connector's LAN URL. Every call's
    raw response is validated against EventService.xsd (faults against TelematikError.xsd)."""

    def __init__(self, lan):
        import requests
        from lxml import etree
        from zeep import Client, Settings
        from zeep.plugins import HistoryPlugin
        from zeep.transports import Transport

        self.etree = etree
        self.history = HistoryPlugin()
        session = requests.Session()
        # REQUESTS_CA_BUNDLE and proxy variables of the environment must not override the
        # pinned LAN certificates or send loopback calls elsewhere.
        session.trust_env = False
        session.verify = lan.ca_bundle if lan.tls else True
        session.cert = lan.client_cert
        settings = Settings(forbid_entities=False)
        self.client = Client(EVENT_WSDL, settings=settings,
                             transport=Transport(session=session, timeout=scaled(30)),
                             plugins=[self.history])
        self.service = self.client.create_service(EVENT_BINDING, lan.event_service_url)
        self.schema = schema(EVENT_XSD)

    def last_response_body(self):
        """The raw Body element of the last response (re-parsed from its bytes)."""
        raw = self.etree.tostring(self.history.last_received["envelope"])
        envelope = self.etree.fromstring(raw)
        body = envelope.find("soap:Body", NS)
        return body[0]

    def call(self, operation, **kw):
        result = getattr(self.service, operation)(**kw)
        body = self.last_response_body()
        assert body.tag == "{%s}%sResponse" % (NS["EVT"], operation)
        assert body[0].tag == "{%s}Status" % NS["CONN"], "CONN:Status must come first"
        self.schema.assertValid(self.etree.ElementTree(body))
        return result, body

    def fault(self, operation, **kw):
        """Calls an operation that must fail; returns (code, GERROR:Error element)."""
        from zeep.exceptions import Fault

        with pytest.raises(Fault):
            getattr(self.service, operation)(**kw)
        body = self.last_response_body()
        assert body.tag == "{%s}Fault" % NS["soap"]
        error = body.find(".//GERROR:Error", NS)
        assert error is not None, "the fault carries no GERROR:Error"
        schema(ERROR_XSD).assertValid(self.etree.ElementTree(error))
        return int(error.findall("GERROR:Trace", NS)[-1].findtext("GERROR:Code", None, NS)), error


_schemas = {}


def schema(path):
    from lxml import etree

    if path not in _schemas:
        _schemas[path] = etree.XMLSchema(etree.parse(path))
    return _schemas[path]


@pytest.fixture(scope="module")
def es(lan):
    return EventServiceClient(lan)


# ---- a CETP event sink (TIP1-A_4596: "CETP" + 4-byte big-endian length + UTF-8 XML) --------

def _read_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


class CetpReceiver:
    """A TCP (or TLS) server on loopback that collects EVT:Event messages."""

    def __init__(self, tls_dir=None, client_ca=None):
        self.events = queue.Queue()
        self.errors = []
        self.peer_certs = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.url = f"cetp://127.0.0.1:{self.port}"
        self.ctx = None
        if tls_dir:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            key, cert = _self_signed(tls_dir)
            self.ctx.load_cert_chain(cert, key)
            if client_ca:
                # Ask for a client certificate: the connector should present its LAN identity.
                self.ctx.verify_mode = ssl.CERT_OPTIONAL
                self.ctx.load_verify_locations(client_ca)
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn):
        try:
            conn.settimeout(None)
            if self.ctx:
                conn = self.ctx.wrap_socket(conn, server_side=True)
                self.peer_certs.append(conn.getpeercert(binary_form=True))
            while True:
                head = _read_exact(conn, 8)
                if head[:4] != b"CETP":
                    self.errors.append(f"bad magic {head[:4]!r}")
                    return
                (length,) = struct.unpack(">I", head[4:])
                self.events.put(_read_exact(conn, length))
        except (EOFError, OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def next_event(self, timeout=10):
        """The next message as bytes; raises queue.Empty when none arrives in time."""
        return self.events.get(timeout=scaled(timeout))

    def close(self):
        self.stopping = True
        self.sock.close()
        self.thread.join(timeout=2)


def _self_signed(d):
    key, cert = os.path.join(d, "sink-key.pem"), os.path.join(d, "sink-cert.pem")
    if not os.path.exists(cert):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "2", "-subj", "/CN=ps.example"],
                       check=True, capture_output=True)
    return key, cert


@pytest.fixture
def cetp_sink(lan, tmp_path):
    """A sink speaking what the connector will use: TLS when TLS is mandatory. It asks for no
    client certificate: the LAN identity the connector would present carries only the
    serverAuth purpose, which Python's ssl refuses as a client certificate; presenting it
    is covered by tests/unit/services/test_cetp.c."""
    r = CetpReceiver(str(tmp_path) if lan.tls else None)
    yield r
    r.close()


def have_konctl():
    return os.access(KONCTL, os.X_OK)
