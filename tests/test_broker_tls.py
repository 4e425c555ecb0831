"""TLS listeners of the in-process broker, reached by the real paho-mqtt client and by
mosquitto_pub, with certificates made by ``trustme`` for each test."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess

import paho.mqtt.client as paho
import pytest

from ferromqtt.broker import Broker
from paho_peer import TIMEOUT, VERSION_IDS, VERSIONS, PahoPeer

trustme = pytest.importorskip("trustme", reason="needs trustme (pip install trustme)")

pytestmark = pytest.mark.interop

MOSQUITTO_PUB = shutil.which("mosquitto_pub")
needs_mosquitto_pub = pytest.mark.skipif(
    MOSQUITTO_PUB is None, reason="needs mosquitto_pub (apt-get install mosquitto-clients)"
)


class Pki:
    """A CA, a server certificate for 127.0.0.1 and a client certificate with CN alice."""

    def __init__(self, directory):  # type: ignore[no-untyped-def]
        self.directory = directory
        self.ca = trustme.CA()
        self.cafile = directory / "ca.pem"
        self.certfile = directory / "server.pem"
        self.keyfile = directory / "server.key"
        self.client_cert = directory / "client.pem"
        self.client_key = directory / "client.key"
        self.write()

    def write(self) -> None:
        self.ca.cert_pem.write_to_path(self.cafile)
        server = self.ca.issue_cert("127.0.0.1", "localhost")
        server.cert_chain_pems[0].write_to_path(self.certfile)
        for pem in server.cert_chain_pems[1:]:
            pem.write_to_path(self.certfile, append=True)
        server.private_key_pem.write_to_path(self.keyfile)
        client = self.ca.issue_cert("alice@example.org", common_name="alice")
        client.cert_chain_pems[0].write_to_path(self.client_cert)
        client.private_key_pem.write_to_path(self.client_key)


@pytest.fixture
def pki(tmp_path):  # type: ignore[no-untyped-def]
    return Pki(tmp_path)


@pytest.fixture
def tls_broker(pki):  # type: ignore[no-untyped-def]
    with Broker(port=0, sys_interval=0, certfile=pki.certfile, keyfile=pki.keyfile) as b:
        yield b


def tls_peer(broker, pki, version, client_id, **tls):  # type: ignore[no-untyped-def]
    peer = PahoPeer(broker.port, version, client_id)
    peer.client.tls_set(ca_certs=str(pki.cafile), **tls)
    return peer


def assert_refused_by_verification(broker, cafile):  # type: ignore[no-untyped-def]
    """The handshake a paho client does (ssl with ca_certs) fails certificate checks.
    Python's ssl directly: paho leaves the socket of a failed handshake open."""
    context = ssl.create_default_context(cafile=str(cafile))
    with socket.create_connection((broker.host, broker.port), timeout=TIMEOUT) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            context.wrap_socket(raw, server_hostname=broker.host)


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_paho_exchanges_messages_over_tls(tls_broker, pki, version):  # type: ignore[no-untyped-def]
    sub = tls_peer(tls_broker, pki, version, "sub")
    pub = tls_peer(tls_broker, pki, version, "pub")
    assert sub.connect()[1] == 0
    assert pub.connect()[1] == 0
    assert sub.subscribe("secure/#", 1)[0] == 1
    pub.publish("secure/a", b"x" * 10000, qos=1)
    message = sub.receive()
    assert (message.topic, message.payload) == ("secure/a", b"x" * 10000)
    sub.disconnect()
    pub.disconnect()


def test_a_client_trusting_another_ca_is_refused(tls_broker, tmp_path):  # type: ignore[no-untyped-def]
    (tmp_path / "other").mkdir()
    other = Pki(tmp_path / "other")
    assert_refused_by_verification(tls_broker, other.cafile)


@needs_mosquitto_pub
def test_mosquitto_pub_publishes_over_tls(tls_broker, pki):  # type: ignore[no-untyped-def]
    sub = tls_peer(tls_broker, pki, paho.MQTTv311, "sub")
    assert sub.connect()[1] == 0
    sub.subscribe("from/mosquitto", 0)
    done = subprocess.run(
        [MOSQUITTO_PUB or "", "-h", "127.0.0.1", "-p", str(tls_broker.port)]
        + ["--cafile", str(pki.cafile), "-t", "from/mosquitto", "-m", "hello"],
        capture_output=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, done.stderr
    assert sub.receive().payload == b"hello"
    sub.disconnect()


@needs_mosquitto_pub
def test_required_client_certificate_becomes_the_username(pki):  # type: ignore[no-untyped-def]
    with Broker(
        port=0,
        sys_interval=0,
        certfile=pki.certfile,
        keyfile=pki.keyfile,
        cafile=pki.cafile,
        require_certificate=True,
        use_identity_as_username=True,
    ) as broker:
        base = [MOSQUITTO_PUB or "", "-h", "127.0.0.1", "-p", str(broker.port)]
        base += ["--cafile", str(pki.cafile), "-t", "t", "-i", "certified"]
        without = subprocess.run([*base, "-m", "m"], capture_output=True, timeout=TIMEOUT)
        assert without.returncode != 0
        waiting = subprocess.Popen(
            [*base, "--cert", str(pki.client_cert), "--key", str(pki.client_key)]
            + ["-l"],  # stays connected, reading lines from stdin
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            client = broker.wait_for_client("certified", timeout=TIMEOUT)
            assert client.username == "alice"
        finally:
            assert waiting.stdin is not None
            waiting.stdin.close()
            assert waiting.wait(TIMEOUT) == 0


def test_plain_tcp_to_a_tls_port_is_closed_and_the_broker_keeps_serving(tls_broker, pki):  # type: ignore[no-untyped-def]
    silent = socket.create_connection((tls_broker.host, tls_broker.port), timeout=TIMEOUT)
    plain = socket.create_connection((tls_broker.host, tls_broker.port), timeout=TIMEOUT)
    # An MQTT 3.1.1 CONNECT in clear text: not a TLS ClientHello.
    plain.sendall(bytes([0x10, 0x0C, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 60, 0, 0]))
    received = b""
    try:
        # At most a TLS alert record (type 0x15), then the broker closes the connection.
        while chunk := plain.recv(100):
            received += chunk
    except ConnectionResetError:
        pass
    finally:
        plain.close()
    assert received == b"" or received[0] == 0x15, received
    # A silent connection mid-handshake does not keep others from connecting.
    peer = tls_peer(tls_broker, pki, paho.MQTTv5, "after")
    assert peer.connect()[1] == 0
    peer.disconnect()
    silent.close()


def test_reload_tls_serves_new_certificates(tls_broker, pki):  # type: ignore[no-untyped-def]
    old_ca = pki.directory / "old-ca.pem"
    shutil.copy(pki.cafile, old_ca)
    pki.ca = trustme.CA()
    pki.write()
    tls_broker.reload_tls()
    peer = tls_peer(tls_broker, pki, paho.MQTTv311, "renewed")
    assert peer.connect()[1] == 0
    peer.disconnect()
    assert_refused_by_verification(tls_broker, old_ca)
    pki.keyfile.write_text("not a key")
    with pytest.raises(OSError):
        tls_broker.reload_tls()


def handshake(broker, cafile, alpn=None, cert=None):  # type: ignore[no-untyped-def]
    """A TLS handshake from Python's ssl; returns the negotiated ALPN protocol (or None)
    and closes the connection."""
    context = ssl.create_default_context(cafile=str(cafile))
    if alpn is not None:
        context.set_alpn_protocols(alpn)
    if cert is not None:
        context.load_cert_chain(*cert)
    with socket.create_connection((broker.host, broker.port), timeout=TIMEOUT) as raw:
        with context.wrap_socket(raw, server_hostname=broker.host) as tls:
            # TLS 1.3 reports a refused client certificate after the handshake: one read
            # sees the alert (or the server's close) where a welcome would wait.
            tls.settimeout(0.5)
            try:
                if tls.recv(1) == b"":
                    raise ssl.SSLError("closed by the server")
            except TimeoutError:
                pass
            return tls.selected_alpn_protocol()


def test_alpn_protocols_are_negotiated_and_an_unserved_one_is_refused(pki):  # type: ignore[no-untyped-def]
    with Broker(
        port=0,
        sys_interval=0,
        certfile=pki.certfile,
        keyfile=pki.keyfile,
        alpn_protocols=["mqtt", "x-amzn-mqtt-ca"],
    ) as broker:
        assert handshake(broker, pki.cafile, ["x-amzn-mqtt-ca"]) == "x-amzn-mqtt-ca"
        assert handshake(broker, pki.cafile, ["mqtt", "x-amzn-mqtt-ca"]) == "mqtt"
        assert handshake(broker, pki.cafile) is None  # no ALPN offered: still served
        with pytest.raises(ssl.SSLError, match="NO_APPLICATION_PROTOCOL|no application"):
            handshake(broker, pki.cafile, ["http/1.1"])
        # paho with alpn_protocols exchanges messages after the refused handshake.
        peer = tls_peer(broker, pki, paho.MQTTv5, "alpn", alpn_protocols=["mqtt"])
        assert peer.connect()[1] == 0
        assert peer.subscribe("alpn/#", 1)[0] == 1
        peer.publish("alpn/x", b"over mqtt", qos=1)
        assert peer.receive().payload == b"over mqtt"
        peer.disconnect()


def test_request_certificate_verifies_a_certificate_when_one_is_sent(pki, tmp_path):  # type: ignore[no-untyped-def]
    (tmp_path / "other").mkdir()
    other = Pki(tmp_path / "other")
    with Broker(
        port=0,
        sys_interval=0,
        certfile=pki.certfile,
        keyfile=pki.keyfile,
        cafile=pki.cafile,
        request_certificate=True,
    ) as broker:
        handshake(broker, pki.cafile)  # no certificate: accepted
        handshake(broker, pki.cafile, cert=(pki.client_cert, pki.client_key))
        with pytest.raises((ssl.SSLError, ConnectionError)):
            handshake(broker, pki.cafile, cert=(other.client_cert, other.client_key))
        for client_id, tls in (
            ("anonymous", {}),
            ("certified", {"certfile": str(pki.client_cert), "keyfile": str(pki.client_key)}),
        ):
            peer = tls_peer(broker, pki, paho.MQTTv311, client_id, **tls)
            assert peer.connect()[1] == 0
            peer.disconnect()


def test_request_certificate_with_identity_names_certified_clients_only(pki):  # type: ignore[no-untyped-def]
    with Broker(
        port=0,
        sys_interval=0,
        certfile=pki.certfile,
        keyfile=pki.keyfile,
        cafile=pki.cafile,
        request_certificate=True,
        use_identity_as_username=True,
    ) as broker:
        anonymous = tls_peer(broker, pki, paho.MQTTv5, "anonymous")
        assert anonymous.connect()[1] == 135  # not authorized: no identity to use
        anonymous.disconnect()
        certified = tls_peer(
            broker,
            pki,
            paho.MQTTv5,
            "certified",
            certfile=str(pki.client_cert),
            keyfile=str(pki.client_key),
        )
        assert certified.connect()[1] == 0
        assert broker.wait_for_client("certified", timeout=TIMEOUT).username == "alice"
        certified.disconnect()


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"alpn_protocols": ["mqtt"]}, "alpn_protocols"),  # not a TLS listener
        ({"request_certificate": True}, "request_certificate"),
        ({"alpn_protocols": "mqtt"}, "alpn_protocols"),  # a string, not a list
    ],
)
def test_tls_only_options_on_a_plain_listener_name_themselves(options, named):  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=named):
        Broker(port=0, **options)
