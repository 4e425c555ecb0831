"""Broker-side observation: clients(), subscriptions(), retained(), traffic(),
wait_for_client(), and the notebook display of a Broker."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import ferromqtt.client as mqtt
from ferromqtt.broker import Broker, ConnectedClient, RoutedMessage

VERSIONS = [mqtt.MQTTv31, mqtt.MQTTv311, mqtt.MQTTv5]


@pytest.fixture
def broker() -> Iterator[Broker]:
    with Broker(port=0) as running:
        yield running


def connect(broker: Broker, client_id: str, protocol: int = mqtt.MQTTv311, **kw: Any) -> Any:
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol, **kw
    )
    connected = threading.Event()
    client.on_connect = lambda *args: connected.set()
    client.connect(broker.host, broker.port)
    client.loop_start()
    assert connected.wait(5), "no CONNACK"
    return client


def close(client: Any) -> None:
    client.disconnect()
    client.loop_stop()


def subscribe(client: Any, topics: list[tuple[str, int]]) -> None:
    done = threading.Event()
    client.on_subscribe = lambda *args: done.set()
    client.subscribe(topics)
    assert done.wait(5), "no SUBACK"


@pytest.mark.parametrize("version", VERSIONS)
def test_clients_lists_connected_clients_with_address_protocol_and_username(
    broker: Broker, version: int
) -> None:
    assert broker.clients() == {}
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="dev-1", protocol=version)
    client.username_pw_set("alice", "secret")
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        found = broker.wait_for_client("dev-1")
        assert isinstance(found, ConnectedClient)
        assert found.protocol == int(version)
        assert found.username == "alice"
        assert found.address is not None and found.address[0] == "127.0.0.1"
        assert 0 < found.address[1] != broker.port
        assert broker.clients() == {"dev-1": found}
    finally:
        close(client)


def test_wait_for_client_returns_once_the_client_connects(broker: Broker) -> None:
    results: list[ConnectedClient] = []
    waiter = threading.Thread(target=lambda: results.append(broker.wait_for_client("late", 5)))
    waiter.start()
    client = connect(broker, "late")
    waiter.join(10)
    close(client)
    assert [r.client_id for r in results] == ["late"]


def test_wait_for_client_times_out_naming_the_client(broker: Broker) -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="'nobody'|\"nobody\""):
        broker.wait_for_client("nobody", timeout=0.2)
    assert time.monotonic() - started < 3


@pytest.mark.parametrize("version", VERSIONS)
def test_subscriptions_by_client_with_qos(broker: Broker, version: int) -> None:
    client = connect(broker, "sub-1", version)
    try:
        subscribe(client, [("sensors/+/temp", 1), ("alerts/#", 2), ("plain", 0)])
        assert broker.subscriptions() == {"sub-1": {"sensors/+/temp": 1, "alerts/#": 2, "plain": 0}}
    finally:
        close(client)


def test_shared_subscriptions_keep_their_prefix(broker: Broker) -> None:
    client = connect(broker, "worker", mqtt.MQTTv5)
    try:
        subscribe(client, [("$share/pool/jobs/#", 1)])
        assert broker.subscriptions() == {"worker": {"$share/pool/jobs/#": 1}}
    finally:
        close(client)


def test_retained_maps_topics_to_payloads_and_forgets_cleared_ones(broker: Broker) -> None:
    client = connect(broker, "retainer")
    try:
        client.publish("config/a", b"1", qos=1, retain=True).wait_for_publish(5)
        client.publish("config/b", b"\x00\xff", qos=1, retain=True).wait_for_publish(5)
        client.publish("config/a", b"", qos=1, retain=True).wait_for_publish(5)
        assert broker.retained() == {"config/b": b"\x00\xff"}
    finally:
        close(client)


def test_traffic_logs_the_last_routed_messages_oldest_first(broker: Broker) -> None:
    client = connect(broker, "pub")
    try:
        before = time.time()
        for i in range(5):
            client.publish(f"t/{i}", b"x" * i, qos=1, retain=(i == 4)).wait_for_publish(5)
        records = broker.traffic(3)
        assert all(isinstance(r, RoutedMessage) for r in records)
        assert [(r.topic, r.qos, r.retain, r.payload_len, r.client_id) for r in records] == [
            ("t/2", 1, False, 2, "pub"),
            ("t/3", 1, False, 3, "pub"),
            ("t/4", 1, True, 4, "pub"),
        ]
        assert before - 1 <= records[0].timestamp <= records[-1].timestamp <= time.time() + 1
        assert len(broker.traffic()) == 5
        with pytest.raises(ValueError):
            broker.traffic(-1)
    finally:
        close(client)


def test_traffic_log_is_bounded(broker: Broker) -> None:
    client = connect(broker, "flood")
    try:
        infos = [client.publish("f", str(i), qos=1) for i in range(1100)]
        for info in infos:
            info.wait_for_publish(10)
        records = broker.traffic(5000)
        assert len(records) == 1000
        assert records[-1].payload_len == len("1099")
    finally:
        close(client)


def test_observation_of_a_stopped_broker_raises() -> None:
    broker = Broker(port=0)
    for query in (broker.clients, broker.subscriptions, broker.retained, broker.traffic):
        with pytest.raises(RuntimeError, match="not running"):
            query()


def test_starting_on_a_taken_port_says_so(broker: Broker) -> None:
    with pytest.raises(OSError, match="still listening there") as failure:
        Broker(port=broker.port).start()
    assert failure.value.errno is not None and failure.value.errno != 0
    assert broker.is_running


def test_repr_and_html_summarise_the_broker(broker: Broker) -> None:
    client = connect(broker, "viewer")
    try:
        client.publish("a", b"1", qos=1).wait_for_publish(5)
        text = repr(broker)
        assert text.startswith(f"<ferromqtt.Broker {broker.url} up ")
        assert "1 client(s), 1 message(s) in" in text
        page = broker._repr_html_()
        assert broker.url in page and "<table>" in page and "uptime" in page
    finally:
        close(client)
    broker.stop()
    assert repr(broker) == "<ferromqtt.Broker stopped>"
    assert "stopped" in broker._repr_html_()
