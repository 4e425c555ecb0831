"""How a Client and an MQTTMessage show themselves in a REPL or a notebook."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

import ferromqtt.client as mqtt
from ferromqtt.broker import Broker


@pytest.fixture
def broker() -> Iterator[Broker]:
    with Broker(port=0) as running:
        yield running


@pytest.mark.parametrize("version", [mqtt.MQTTv31, mqtt.MQTTv311, mqtt.MQTTv5])
def test_client_shows_state_server_and_id(broker: Broker, version: int) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="shown", protocol=version)
    assert repr(client).startswith("<ferromqtt.client.Client state: new, server: -:1883")
    connected = threading.Event()
    client.on_connect = lambda *args: connected.set()
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        assert connected.wait(5)
        text = repr(client)
        assert f"state: connected, server: 127.0.0.1:{broker.port}, client id: shown" in text
        assert f"protocol: {mqtt.MQTTProtocolVersion(version).name}" in text
        page = client._repr_html_()
        assert "<table>" in page and "connected" in page and f":{broker.port}" in page
    finally:
        client.disconnect()
        client.loop_stop()
    assert "state: disconnected" in repr(client)


def received_message(broker: Broker, payload: bytes) -> Any:
    got: list[Any] = []
    arrived, subscribed = threading.Event(), threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_message = lambda c, u, m: (got.append(m), arrived.set())
    client.on_subscribe = lambda *args: subscribed.set()
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        client.subscribe("shown/#", qos=1)
        assert subscribed.wait(5)
        client.publish("shown/<b>", payload, qos=1, retain=True).wait_for_publish(5)
        assert arrived.wait(5)
    finally:
        client.disconnect()
        client.loop_stop()
    return got[0]


def test_message_shows_topic_qos_retain_and_payload(broker: Broker) -> None:
    message = received_message(broker, b"21.5")
    assert repr(message) == (
        "<MQTTMessage topic=shown/<b> qos=1 retain=False mid=1 payload=b'21.5'>"
    )
    page = message._repr_html_()
    assert "shown/&lt;b&gt;" in page and "<b>MQTTMessage</b>" in page


def test_huge_payloads_are_previewed_not_dumped(broker: Broker) -> None:
    message = received_message(broker, b"A" * 1_000_000)
    text = repr(message)
    assert len(text) < 400
    assert text.endswith("'... (1000000 bytes)>")
    assert ("A" * 200) in text and ("A" * 201) not in text
    assert len(message._repr_html_()) < 1000
