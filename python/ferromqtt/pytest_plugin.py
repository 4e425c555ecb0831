"""pytest fixtures backed by the in-process broker (registered through ``pytest11``).

- ``mqtt_broker``: a fresh broker per test on a free loopback port (a ``Broker``: ``.host``,
  ``.port``, ``.url``), stopped after the test even when it fails. Options through
  ``@pytest.mark.mqtt_broker(max_keepalive=10, retained={"topic": b"payload"})`` or an
  indirect parameter (a dict of the same options).
- ``mqtt_broker_session``: one broker for the whole session (default options). A test
  that asks for it and not for ``mqtt_broker`` gets the fixtures below on that broker.
- ``mqtt_client``: a factory of connected ``ferromqtt.client.Client`` objects
  (``mqtt_client(protocol=MQTTv5, client_id=...)``), disconnected at teardown.
- ``capmqtt``: captures every message through the broker; compatible with pytest-mqtt's
  fixture of that name (``.messages``, ``.records``, ``.publish()``, ``decode_utf8`` by the
  module variable ``capmqtt_decode_utf8`` or the marker of that name), plus
  ``capmqtt.wait_for(topic_filter, count=1, timeout=5)``.
- ``mqtt_settings`` and ``mosquitto``: pytest-mqtt's names for where the broker listens.

Every broker binds port 0, so parallel workers (pytest-xdist) never collide.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, Union

import pytest

from ferromqtt._core import topic_matches_sub
from ferromqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

if TYPE_CHECKING:
    from ferromqtt.broker import Broker
    from ferromqtt.client import Client

__all__ = ["MqttCapture", "MqttClientFactory", "MqttMessage", "MqttSettings"]

#: The type of the ``mqtt_client`` fixture: ``mqtt_client(protocol=..., client_id=...)``.
MqttClientFactory = Callable[..., "Client"]

_WAIT = 5.0


@dataclasses.dataclass(eq=False)
class MqttMessage:
    """One captured message (pytest-mqtt's shape).

    Equal to any ``MqttMessage`` with the same fields, pytest-mqtt's own included, so
    assertions written against ``pytest_mqtt.model.MqttMessage`` keep passing.
    """

    topic: str
    payload: Union[str, bytes]
    userdata: Optional[Any]

    def __eq__(self, other: object) -> bool:
        if type(other).__name__ != "MqttMessage":
            return NotImplemented
        fields = ("topic", "payload", "userdata")
        try:
            return all(getattr(self, f) == getattr(other, f) for f in fields)
        except AttributeError:
            return NotImplemented

    __hash__ = None  # type: ignore[assignment]


@dataclasses.dataclass
class MqttSettings:
    """Where the test broker listens (pytest-mqtt's shape)."""

    host: str
    port: int
    username: str = "guest"
    password: str = "guest"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "mqtt_broker(**options): options of the mqtt_broker fixture's broker"
    )
    config.addinivalue_line(
        "markers", "capmqtt_decode_utf8: capmqtt records payloads as str decoded from UTF-8"
    )


def _start_broker(options: dict[str, Any]) -> Broker:
    # Imported here so that merely having the plugin installed costs nothing.
    from ferromqtt.broker import Broker

    options = dict(options)
    retained: dict[str, Any] = options.pop("retained", {}) or {}
    options.setdefault("port", 0)
    options.setdefault("host", "127.0.0.1")
    broker = Broker(**options).start()
    if retained:
        _preload_retained(broker, retained)
    return broker


def _preload_retained(broker: Broker, retained: dict[str, Any]) -> None:
    import ferromqtt.client as mqtt

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="ferromqtt-preload")
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        for topic, payload in retained.items():
            client.publish(topic, payload, qos=1, retain=True).wait_for_publish(_WAIT)
    finally:
        client.disconnect()
        client.loop_stop()


def _broker_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    options: dict[str, Any] = {}
    marker = request.node.get_closest_marker("mqtt_broker")
    if marker is not None:
        options.update(marker.kwargs)
    param = getattr(request, "param", None)
    if isinstance(param, dict):
        options.update(param)
    return options


@pytest.fixture
def mqtt_broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    """A fresh in-process broker on a free loopback port, stopped after the test."""
    broker = _start_broker(_broker_options(request))
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def mqtt_broker_session() -> Iterator[Broker]:
    """One in-process broker shared by the whole test session."""
    broker = _start_broker({})
    try:
        yield broker
    finally:
        broker.stop()


def _test_broker(request: pytest.FixtureRequest) -> Broker:
    """The broker of this test: the session one when the test asks for
    ``mqtt_broker_session`` and not for ``mqtt_broker``, else a fresh ``mqtt_broker``."""
    names = request.fixturenames
    if "mqtt_broker_session" in names and "mqtt_broker" not in names:
        broker: Broker = request.getfixturevalue("mqtt_broker_session")
    else:
        broker = request.getfixturevalue("mqtt_broker")
    return broker


@pytest.fixture
def mqtt_settings(request: pytest.FixtureRequest) -> MqttSettings:
    """pytest-mqtt's settings fixture: where the test's broker listens."""
    broker = _test_broker(request)
    return MqttSettings(host=broker.host, port=broker.port)


@pytest.fixture
def mosquitto(request: pytest.FixtureRequest) -> tuple[str, int]:
    """pytest-mqtt's broker fixture name: (host, port) of the in-process broker."""
    broker = _test_broker(request)
    return broker.host, broker.port


@pytest.fixture
def mqtt_client(request: pytest.FixtureRequest) -> Iterator[MqttClientFactory]:
    """A factory of connected clients: ``mqtt_client(protocol=MQTTv5, client_id="x")``."""
    import ferromqtt.client as mqtt

    mqtt_broker = _test_broker(request)

    made: list[Client] = []

    def connect(*, protocol: int = mqtt.MQTTv311, client_id: str = "", **kwargs: Any) -> Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=MQTTProtocolVersion(protocol),
            **kwargs,
        )
        connected = threading.Event()
        outcome: list[Any] = []

        def on_connect(c: Any, u: Any, flags: Any, reason_code: Any, props: Any) -> None:
            outcome.append(reason_code)
            connected.set()

        client.on_connect = on_connect
        client.connect(mqtt_broker.host, mqtt_broker.port)
        client.loop_start()
        made.append(client)
        if not connected.wait(_WAIT) or outcome[0] != 0:
            raise AssertionError(f"mqtt_client could not connect: {outcome or 'no CONNACK'}")
        client.on_connect = None
        return client

    yield connect
    for client in made:
        client.disconnect()
        client.loop_stop()


class MqttCapture:
    """Records every message through the broker (a client subscribed to ``#``)."""

    def __init__(self, host: str, port: int, decode_utf8: bool = False) -> None:
        import ferromqtt.client as mqtt

        self._decode_utf8 = decode_utf8
        self._buffer: list[MqttMessage] = []
        self._arrived = threading.Condition()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="")
        self._client.on_message = self._on_message
        subscribed = threading.Event()
        self._client.on_subscribe = lambda *args: subscribed.set()
        self._client.connect(host, port)
        self._client.loop_start()
        self._client.subscribe("#", qos=1)
        if not subscribed.wait(_WAIT):
            self.finalize()
            raise AssertionError("capmqtt could not subscribe to '#'")

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        payload: Union[str, bytes] = msg.payload
        if self._decode_utf8:
            payload = msg.payload.decode("utf-8")
        with self._arrived:
            self._buffer.append(MqttMessage(topic=msg.topic, payload=payload, userdata=userdata))
            self._arrived.notify_all()

    @property
    def messages(self) -> list[MqttMessage]:
        with self._arrived:
            return list(self._buffer)

    @property
    def records(self) -> list[tuple[str, Union[str, bytes], Optional[Any]]]:
        return [(m.topic, m.payload, m.userdata) for m in self.messages]

    def publish(self, topic: str, payload: Any, **kwargs: Any) -> Any:
        """Publish and return once the message has come back through the broker."""
        with self._arrived:
            seen = sum(1 for m in self._buffer if m.topic == topic)
        info = self._client.publish(topic, payload, **kwargs)
        info.wait_for_publish(_WAIT)
        self.wait_for(topic, count=seen + 1, timeout=_WAIT)
        return info

    def wait_for(self, topic_filter: str, count: int = 1, timeout: float = _WAIT) -> list[Any]:
        """Wait until ``count`` messages matching ``topic_filter`` were captured; return them.

        Raises AssertionError listing what did arrive when the timeout passes first.
        """

        def matching() -> list[MqttMessage]:
            return [m for m in self._buffer if topic_matches_sub(topic_filter, m.topic)]

        with self._arrived:
            if not self._arrived.wait_for(lambda: len(matching()) >= count, timeout):
                seen = [(m.topic, m.payload) for m in self._buffer]
                raise AssertionError(
                    f"expected {count} message(s) matching {topic_filter!r} within {timeout} s; "
                    f"captured: {seen}"
                )
            return matching()

    def finalize(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@pytest.fixture
def capmqtt(request: pytest.FixtureRequest, mqtt_settings: MqttSettings) -> Iterator[MqttCapture]:
    """Capture every message through the broker (pytest-mqtt compatible)."""
    decode_utf8 = bool(
        getattr(request.module, "capmqtt_decode_utf8", False)
        or request.node.get_closest_marker("capmqtt_decode_utf8") is not None
    )
    capture = MqttCapture(mqtt_settings.host, mqtt_settings.port, decode_utf8=decode_utf8)
    try:
        yield capture
    finally:
        capture.finalize()
