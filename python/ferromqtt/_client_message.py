"""Messages of the paho-style client: ``MQTTMessage`` (what ``on_message`` gets and
``publish()`` keeps until acknowledged), ``MQTTMessageInfo`` (what ``publish()`` returns),
and the conversions a message's payload and MQTT 5 properties go through on their way to
and from the Rust core. Both classes keep ``__module__ == "ferromqtt.client"``, where paho
defines them, so pickles and reprs name ``ferromqtt.client``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from ferromqtt import _display
from ferromqtt._client_constants import (
    MQTT_ERR_AGAIN,
    MQTT_ERR_CONN_LOST,
    MQTT_ERR_QUEUE_SIZE,
    MQTT_ERR_SUCCESS,
    PayloadType,
    mqtt_ms_invalid,
)
from ferromqtt._client_constants import (
    now as _now,
)
from ferromqtt._client_errors import _fail, error_string
from ferromqtt.enums import MQTTErrorCode
from ferromqtt.properties import Properties


def _encode_payload(payload: PayloadType) -> bytes | bytearray:
    if isinstance(payload, str):
        return payload.encode("utf-8")
    if isinstance(payload, (int, float)):
        return str(payload).encode("ascii")
    if payload is None:
        return b""
    if isinstance(payload, (bytes, bytearray)):
        return payload
    raise _fail("payload_type")


def _pack_properties(properties: Properties | None) -> bytes | None:
    if properties is None:
        return None
    return bytes(properties.pack())


def _unpack_properties(packet_type: int, data: bytes | None) -> Properties | None:
    if data is None:
        return None
    properties = Properties(packet_type)
    properties.unpack(data)
    return properties


_INFO_LOCK = threading.Lock()


class MQTTMessageInfo:
    """Returned by publish(): the mid of the message, its rc, and a way to wait until it is
    published. Tuple-like for 1.x code: ``rc, mid = client.publish(...)``."""

    __module__ = "ferromqtt.client"
    __slots__ = (
        "_event",
        "_iterpos",
        "_ledger",
        "_number",
        "_published",
        "_queued",
        "mid",
        "rc",
    )

    # All set at creation but _iterpos (read with its default 0 until set) and _number
    # (set with _ledger), since reading an unset slot raises, and catching that on every
    # publish is expensive: _event is the threading.Event of wait_for_publish (made by its
    # first call), _queued marks a QoS>0 message queued while disconnected (rc is 4 but
    # it will be delivered). A QoS 0 message published with no on_publish to call has
    # _ledger (the client's core) and _number: no event reports it, its state is asked
    # for by is_published() and wait_for_publish() (so rc becomes MQTT_ERR_CONN_LOST for
    # a message dropped with its connection only when one of them is called).
    _event: threading.Event | None
    _ledger: Any
    _number: int
    _iterpos: int
    _published: bool
    _queued: bool

    def __init__(self, mid: int):
        self.mid = mid
        self.rc: MQTTErrorCode | int = MQTT_ERR_SUCCESS
        self._event = None
        self._published = False
        self._queued = False
        self._ledger = None

    def __str__(self) -> str:
        return str((self.rc, self.mid))

    def __iter__(self) -> Iterator[MQTTErrorCode | int]:
        self._iterpos = 0
        return self

    def __next__(self) -> MQTTErrorCode | int:
        return self.next()

    def next(self) -> MQTTErrorCode | int:
        position = getattr(self, "_iterpos", 0)
        if position == 0:
            self._iterpos = 1
            return self.rc
        if position == 1:
            self._iterpos = 2
            return self.mid
        raise StopIteration

    def __getitem__(self, index: int) -> MQTTErrorCode | int:
        if index == 0:
            return self.rc
        if index == 1:
            return self.mid
        raise IndexError("index out of range")

    def _set_as_published(self) -> None:
        # No lock: wait_for_publish() makes its event before it looks at _published, and
        # this reads the event after setting it (each step atomic under the GIL).
        self._published = True
        event = self._event
        if event is not None:
            event.set()

    def _check_rc(self) -> None:
        if self.rc == MQTT_ERR_QUEUE_SIZE:
            raise _fail("wait_queue_full")
        if self.rc == MQTT_ERR_AGAIN or self._queued:
            return
        if self.rc > 0:
            raise RuntimeError(f"Message publish failed: {error_string(self.rc)}")

    def _settle(self, status: int) -> None:
        """Takes the core's qos0_status of a message it numbered: 1 written, 2 dropped."""
        if status == 0:
            return
        if status == 2:
            self.rc = MQTT_ERR_CONN_LOST
        self._published = True
        self._ledger = None

    def wait_for_publish(self, timeout: float | None = None) -> None:
        """Block until the message is published, or until `timeout` seconds pass."""
        self._check_rc()
        # First, as paho: a timeout that is not a number raises TypeError even then.
        deadline = None if timeout is None else _now() + timeout
        if self._published:
            return
        ledger = self._ledger
        if ledger is not None:
            self._settle(ledger.wait_qos0(self._number, timeout))
            self._check_rc()
            return
        with _INFO_LOCK:  # between waiters: one event per info
            event = self._event
            if event is None:
                event = self._event = threading.Event()
        if not self._published:
            # Slices keep Ctrl-C responsive on every platform.
            while not event.is_set() and not self._published:
                remaining = 0.1 if deadline is None else min(0.1, deadline - _now())
                if remaining <= 0:
                    break
                event.wait(remaining)
        self._check_rc()

    def is_published(self) -> bool:
        """True once the message has been published (QoS 0 written, QoS 1/2 acknowledged)."""
        ledger = self._ledger
        if ledger is not None:
            self._settle(ledger.qos0_status(self._number))
        self._check_rc()
        return self._published


class MQTTMessage:
    """A message, as passed to `on_message`: topic, payload, qos, retain, mid, dup,
    properties (MQTT 5), timestamp (monotonic), state and info."""

    __module__ = "ferromqtt.client"
    __slots__ = (
        "_topic",
        "dup",
        "info",
        "mid",
        "payload",
        "properties",
        "qos",
        "retain",
        "state",
        "timestamp",
    )

    def __init__(self, mid: int = 0, topic: bytes = b""):
        self.timestamp = 0.0
        self.state = mqtt_ms_invalid
        self.dup = False
        self.mid = mid
        self._topic = topic
        self.payload: bytes | bytearray = b""
        self.qos = 0
        self.retain = False
        self.info = MQTTMessageInfo(mid)
        self.properties: Properties | None = None

    def __getattr__(self, name: str) -> Any:
        # Only for unset slots: received messages get their `info` on first use.
        if name == "info":
            info = self.info = MQTTMessageInfo(self.mid)
            return info
        raise AttributeError(
            f"{type(self).__name__!r} object has no attribute {name!r}", name=name, obj=self
        )

    def __eq__(self, other: object) -> bool:
        if isinstance(other, self.__class__):
            return self.mid == other.mid
        return False

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    @property
    def topic(self) -> str:
        return self._topic.decode("utf-8")

    def __repr__(self) -> str:  # payload preview capped at _display.PREVIEW_BYTES
        fields = _display.message_fields(self)
        return "<MQTTMessage " + " ".join(f"{k}={v}" for k, v in fields.items()) + ">"

    def _repr_html_(self) -> str:
        return _display.html_table("MQTTMessage", _display.message_fields(self))

    @topic.setter
    def topic(self, value: bytes) -> None:
        self._topic = value
