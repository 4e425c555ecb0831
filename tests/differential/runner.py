"""Runs one client scenario with a given client module and records what it observed.

A recording holds, in order: the return values of the client calls the scenario makes, every
callback with its arguments normalised to plain comparable values (ReasonCode ->
(packetType, value, name), Properties -> json(), flags -> tuples/dicts), the warnings
raised, and the raw bytes the fake broker received. Two client libraries that behave alike
produce equal recordings.
"""

from __future__ import annotations

import enum
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from .fake_broker import ScriptedBroker, Step

CALLBACKS = (
    "on_connect",
    "on_connect_fail",
    "on_disconnect",
    "on_message",
    "on_publish",
    "on_subscribe",
    "on_unsubscribe",
)
DRIVE_TIMEOUT = 5.0
LOOP_TIMEOUT = 0.05


def normalise(value: Any, client: Any = None) -> Any:
    """A plain value that compares equal across paho-mqtt and ferromqtt."""
    if client is not None and value is client:
        return "<client>"
    kind = type(value).__name__
    if isinstance(value, enum.Enum):
        return (kind, value.name, value.value)
    if kind in ("ReasonCode", "ReasonCodes"):
        return ("ReasonCode", value.packetType, value.value, value.getName())
    if kind == "Properties":
        return ("Properties", value.packetType, normalise(value.json()))
    if kind == "MQTTMessage":
        return (
            "MQTTMessage",
            value.topic,
            value.payload,
            value.qos,
            normalise(value.retain),
            normalise(value.dup),
            value.mid,
            normalise(value.properties),
            normalise(value.state),
        )
    if kind == "MQTTMessageInfo":
        return ("MQTTMessageInfo", normalise(value.rc), normalise(value.mid))
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return (kind, tuple(normalise(item, client) for item in value))
    if isinstance(value, dict):
        return {key: normalise(item, client) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(normalise(item, client) for item in value)
    if isinstance(value, (bool, int, float)):
        return (kind, value)
    return value


@dataclass
class Recording:
    events: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    received: list = field(default_factory=list)
    broker_errors: list = field(default_factory=list)

    def callback_names(self) -> list[str]:
        return [event[1] for event in self.events if event[0] == "callback"]

    def callbacks(self, name: str) -> list:
        return [event[2] for event in self.events if event[:2] == ("callback", name)]


class Session:
    """The client under test, its broker and the recording, handed to a scenario."""

    def __init__(self, module: Any, client: Any, broker: ScriptedBroker, protocol: int):
        self.module = module
        self.client = client
        self.broker = broker
        self.protocol = protocol
        self.recording = Recording()
        self._last_loop_rc: Any = None
        for name in CALLBACKS:
            setattr(client, name, self._recorder(name))

    def _recorder(self, name: str) -> Callable[..., None]:
        def record(*args: Any) -> None:
            args_seen = tuple(normalise(arg, self.client) for arg in args)
            self.recording.events.append(("callback", name, args_seen))

        return record

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Calls a client method and records its return value."""
        result = getattr(self.client, method)(*args, **kwargs)
        self.recording.events.append(("call", method, normalise(result, self.client)))
        return result

    def connect(self, **kwargs: Any) -> Any:
        return self.call("connect", "127.0.0.1", self.broker.port, 60, **kwargs)

    def drive(
        self,
        until: Callable[[], bool],
        what: str,
        timeout: float = DRIVE_TIMEOUT,
        record_loop: bool = True,
    ) -> None:
        """Runs ``client.loop()`` until ``until()`` holds; fails after ``timeout`` seconds.

        Distinct consecutive non-success loop return codes are recorded (unless
        ``record_loop`` is false, for waits whose number of loop calls depends on timing).
        When the client has no connection, waits on the broker's done event instead of
        spinning.
        """
        deadline = time.monotonic() + timeout
        while not until():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; recorded {self.recording}")
            rc = self.client.loop(timeout=LOOP_TIMEOUT)
            if record_loop and rc != 0 and rc != self._last_loop_rc:
                self.recording.events.append(("loop", normalise(rc)))
            self._last_loop_rc = rc
            if rc == self.module.MQTT_ERR_NO_CONN:
                self.broker.done.wait(LOOP_TIMEOUT)

    def until_callback(self, name: str, count: int = 1) -> None:
        self.drive(lambda: len(self.recording.callbacks(name)) >= count, name)

    def until_broker_done(self) -> None:
        # After disconnect() the client may or may not need loop calls to flush: not recorded.
        self.drive(self.broker.done.is_set, "the broker script to finish", record_loop=False)

    def until_mark(self, mark: str) -> None:
        self.drive(self.broker.marks[mark].is_set, f"broker mark {mark!r}")


@dataclass
class Scenario:
    """A client scenario: the broker's script and what the client does against it."""

    name: str
    script: Callable[[int], list[Step]]
    action: Callable[[Session], None]
    expected_callbacks: Callable[[int, int], list[str]]
    versions: tuple[int, ...] = (3, 4, 5)
    client_kwargs: dict = field(default_factory=dict)
    # Scenario-specific assertions on a recording, given (recording, protocol, api version).
    check: Optional[Callable[[Recording, int, int], None]] = None


def run(module: Any, scenario: Scenario, protocol: int, api_version: int) -> Recording:
    """Runs ``scenario`` with the client library ``module``; returns its recording."""
    version = module.CallbackAPIVersion(api_version)
    script = scenario.script(protocol)
    with ScriptedBroker(script, protocol) as broker:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            client = module.Client(
                version,
                client_id=f"diff-{scenario.name}",
                protocol=module.MQTTProtocolVersion(protocol),
                **scenario.client_kwargs,
            )
            session = Session(module, client, broker, protocol)
            try:
                scenario.action(session)
                broker.wait()
            finally:
                _close_quietly(client)
        recording = session.recording
        recording.warnings = [(w.category.__name__, str(w.message)) for w in caught]
    recording.received = [packet.raw for packet in broker.received]
    recording.broker_errors = list(broker.errors)
    return recording


def _close_quietly(client: Any) -> None:
    """Releases the client's socket without adding to the recording."""
    for name in CALLBACKS:
        setattr(client, name, None)
    if client.socket() is not None:
        client.disconnect()
