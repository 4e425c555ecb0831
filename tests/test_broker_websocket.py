"""WebSocket and Unix socket listeners of the in-process broker, reached by the
real paho-mqtt client with ``transport="websockets"`` (in the clear and over TLS) and
``transport="unix"``."""

from __future__ import annotations

import queue

import paho.mqtt.client as paho
import pytest

from ferromqtt.broker import Broker
from paho_peer import TIMEOUT, VERSION_IDS, VERSIONS

pytestmark = pytest.mark.interop


class WsPeer:
    def __init__(self, port, version, client_id, path="/mqtt", cafile=None):  # type: ignore[no-untyped-def]
        self.client = paho.Client(
            paho.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=version,
            transport="websockets",
        )
        self.client.ws_set_options(path=path)
        if cafile is not None:
            self.client.tls_set(ca_certs=str(cafile))
        self.port = port
        self.connacks: queue.Queue[object] = queue.Queue()
        self.subacks: queue.Queue[list[object]] = queue.Queue()
        self.messages: queue.Queue[paho.MQTTMessage] = queue.Queue()
        self.client.on_connect = lambda c, u, f, rc, p: self.connacks.put(rc)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.subacks.put(rcs)
        self.client.on_message = lambda c, u, m: self.messages.put(m)

    def connect(self) -> object:
        self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()
        return self.connacks.get(timeout=TIMEOUT)

    def disconnect(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_paho_exchanges_messages_over_websockets(version):  # type: ignore[no-untyped-def]
    with Broker(port=0, sys_interval=0, protocol="websockets", path="/mqtt") as broker:
        sub, pub = WsPeer(broker.port, version, "sub"), WsPeer(broker.port, version, "pub")
        assert sub.connect() == 0
        assert pub.connect() == 0
        sub.client.subscribe("ws/#", 1)
        assert sub.subacks.get(timeout=TIMEOUT)[0] == 1
        info = pub.client.publish("ws/a", b"y" * 70000, qos=1)
        info.wait_for_publish(TIMEOUT)
        message = sub.messages.get(timeout=TIMEOUT)
        assert (message.topic, message.payload) == ("ws/a", b"y" * 70000)
        sub.disconnect()
        pub.disconnect()


def test_paho_connects_over_websockets_with_tls(tmp_path):  # type: ignore[no-untyped-def]
    trustme = pytest.importorskip("trustme", reason="needs trustme (pip install trustme)")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1")
    cafile, certfile, keyfile = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    ca.cert_pem.write_to_path(cafile)
    server.cert_chain_pems[0].write_to_path(certfile)
    server.private_key_pem.write_to_path(keyfile)
    with Broker(
        port=0, sys_interval=0, protocol="websockets", certfile=certfile, keyfile=keyfile
    ) as broker:
        peer = WsPeer(broker.port, paho.MQTTv5, "wss", path="/any", cafile=cafile)
        assert peer.connect() == 0
        peer.disconnect()


def test_path_is_only_for_websocket_listeners():  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="path"):
        Broker(port=0, path="/mqtt")


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_paho_exchanges_messages_over_a_unix_socket(tmp_path, version):  # type: ignore[no-untyped-def]
    path = str(tmp_path / "mqtt.sock")
    with Broker(sys_interval=0, unix_socket=path):
        peers = []
        for client_id in ("sub", "pub"):
            client = paho.Client(
                paho.CallbackAPIVersion.VERSION2,
                client_id=client_id,
                protocol=version,
                transport="unix",
            )
            received: queue.Queue[paho.MQTTMessage] = queue.Queue()
            subacks: queue.Queue[list[object]] = queue.Queue()
            client.on_message = lambda c, u, m, received=received: received.put(m)
            client.on_subscribe = lambda c, u, mid, rcs, p, subacks=subacks: subacks.put(rcs)
            assert client.connect(path) == paho.MQTT_ERR_SUCCESS
            client.loop_start()
            peers.append((client, received, subacks))
        (sub, received, subacks), (pub, _, _) = peers
        sub.subscribe("local/#", 1)
        assert subacks.get(timeout=TIMEOUT)[0] == 1
        pub.publish("local/x", b"over a unix socket", qos=1).wait_for_publish(TIMEOUT)
        assert received.get(timeout=TIMEOUT).payload == b"over a unix socket"
        for client, _, _ in peers:
            client.disconnect()
            client.loop_stop()
