"""connect_srv() as paho: a DNS SRV lookup through dnspython, answered by a tiny UDP DNS
server on 127.0.0.1 written here (RFC 1035 messages, RFC 2782 SRV records)."""

from __future__ import annotations

import socket
import struct
import sys
import threading

import pytest

import ferromqtt.client as mqtt
from client_support import Recorder, _free_port

dns_resolver = pytest.importorskip("dns.resolver", reason="connect_srv needs dnspython")

DOMAIN = "example.test"
SRV, NXDOMAIN = 33, 3


def _name(text: str) -> bytes:
    labels = [label for label in text.rstrip(".").split(".") if label]
    return b"".join(bytes([len(label)]) + label.encode() for label in labels) + b"\0"


class TinyDns:
    """Answers SRV questions from ``records``: name -> [(priority, weight, port, target)];
    any other name gets NXDOMAIN. ``questions`` lists (name, type) as asked."""

    def __init__(self, records: dict[str, list[tuple[int, int, int, str]]]) -> None:
        self.records = records
        self.questions: list[tuple[str, int]] = []
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.closing = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            query, client = self.socket.recvfrom(4096)
            if self.closing:
                return
            self.socket.sendto(self._answer(query), client)

    def _answer(self, query: bytes) -> bytes:
        (query_id,) = struct.unpack("!H", query[:2])
        labels, offset = [], 12
        while query[offset]:
            length = query[offset]
            labels.append(query[offset + 1 : offset + 1 + length].decode())
            offset += 1 + length
        qtype, _ = struct.unpack("!HH", query[offset + 1 : offset + 5])
        question = query[12 : offset + 5]
        name = ".".join(labels)
        self.questions.append((name, qtype))
        answers = self.records.get(name) if qtype == SRV else None
        flags = 0x8180 if answers is not None else 0x8180 | NXDOMAIN
        body = b""
        for priority, weight, port, target in answers or []:
            rdata = struct.pack("!HHH", priority, weight, port) + _name(target)
            body += b"\xc0\x0c" + struct.pack("!HHIH", SRV, 1, 60, len(rdata)) + rdata
        header = struct.pack("!HHHHHH", query_id, flags, 1, len(answers or []), 0, 0)
        return header + question + body

    def close(self) -> None:
        # A datagram wakes the thread blocked in recvfrom (closing the socket would not).
        self.closing = True
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as waker:
            waker.sendto(b"", ("127.0.0.1", self.port))
        self.thread.join(5)
        self.socket.close()


@pytest.fixture
def dns_server(monkeypatch):
    servers: list[TinyDns] = []

    def start(records):  # type: ignore[no-untyped-def]
        server = TinyDns(records)
        servers.append(server)
        resolver = dns_resolver.Resolver(configure=False)
        resolver.nameservers = ["127.0.0.1"]
        resolver.port = server.port
        resolver.lifetime = 5.0
        monkeypatch.setattr(dns_resolver, "default_resolver", resolver)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.mark.parametrize("protocol", [mqtt.MQTTv31, mqtt.MQTTv311, mqtt.MQTTv5])
def test_connect_srv_tries_each_answer_until_one_connects(mqtt_broker, dns_server, protocol):
    dead = _free_port()
    server = dns_server(
        {
            f"_mqtt._tcp.{DOMAIN}": [
                (10, 5, dead, "localhost."),
                (20, 5, mqtt_broker.port, "localhost."),
            ]
        }
    )
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=protocol)
    recorder = Recorder(client)
    assert client.connect_srv(DOMAIN) == mqtt.MQTT_ERR_SUCCESS
    client.loop_start()
    try:
        assert recorder.wait("on_connect")[1] == 0
        assert client.port == mqtt_broker.port
        client.disconnect()
    finally:
        client.loop_stop()
    assert server.questions == [(f"_mqtt._tcp.{DOMAIN}", SRV)]


def test_connect_srv_asks_for_secure_mqtt_with_tls(dns_server):
    server = dns_server({})
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.tls_set()
    with pytest.raises(ValueError, match=f"No answer/NXDOMAIN for SRV in {DOMAIN}"):
        client.connect_srv(DOMAIN)
    assert server.questions == [(f"_secure-mqtt._tcp.{DOMAIN}", SRV)]


def test_connect_srv_fails_as_paho_when_no_answer_connects(dns_server):
    dns_server({f"_mqtt._tcp.{DOMAIN}": [(0, 0, _free_port(), "localhost.")]})
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    with pytest.raises(ValueError, match="No SRV hosts responded"):
        client.connect_srv(DOMAIN)


def test_connect_srv_without_dnspython_raises_value_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "dns", None)
    monkeypatch.setitem(sys.modules, "dns.resolver", None)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    with pytest.raises(ValueError, match='try "pip install dnspython"'):
        client.connect_srv(DOMAIN)
