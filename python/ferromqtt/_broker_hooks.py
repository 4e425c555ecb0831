"""The broker's hooks: the user's callables, asked by the Rust core through ``_Hooks``.

The core calls ``_Hooks`` from a worker thread (a blocking thread of the client that is
asked about, or the notice thread), never from the routing path. ``_Hooks`` turns the
user's answers into plain values and treats every failure the same way: logged on the
``ferromqtt`` logger with its traceback, then a refusal.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any, Callable, Optional

from ferromqtt._core import validate_topic_name
from ferromqtt.packettypes import PacketTypes
from ferromqtt.properties import Properties
from ferromqtt.reasoncodes import ReasonCode

__all__ = ["HOOK_NAMES", "BrokerMessage"]

HOOK_NAMES = (
    "authenticate",
    "authorize",
    "on_message",
    "on_client_connected",
    "on_client_disconnected",
)

_log = logging.getLogger("ferromqtt")

# MQTT 3.1.1 CONNACK return codes -> the MQTT 5.0 reason codes they stand for.
_V3_CONNACK = {1: 0x84, 2: 0x85, 3: 0x88, 4: 0x86, 5: 0x87}
_NOT_AUTHORIZED = 0x87
_UNSPECIFIED_ERROR = 0x80


class BrokerMessage:
    """A PUBLISH on its way through the broker, as ``on_message`` sees it.

    Change ``topic``, ``payload``, ``qos``, ``retain`` or ``properties`` (MQTT 5
    ``Properties``; None from a 3.x publisher) and return it, or another
    ``BrokerMessage``, to route that instead; return None to drop it. ``client_id`` and
    ``username`` name the publisher.
    """

    __slots__ = ("topic", "payload", "qos", "retain", "properties", "client_id", "username")

    def __init__(
        self,
        topic: str,
        payload: bytes = b"",
        qos: int = 0,
        retain: bool = False,
        properties: Optional[Properties] = None,
        *,
        client_id: str = "",
        username: Optional[str] = None,
    ) -> None:
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
        self.client_id = client_id
        self.username = username

    def __repr__(self) -> str:
        return (
            f"BrokerMessage(topic={self.topic!r}, payload=<{len(self.payload)} bytes>, "
            f"qos={self.qos}, retain={self.retain}, client_id={self.client_id!r})"
        )


def check_hook(name: str, hook: Any) -> Optional[Callable[..., Any]]:
    """The hook as given, or ``TypeError`` naming the option when it cannot be one."""
    if hook is None:
        return None
    if not callable(hook):
        raise TypeError(f"broker hook {name} must be callable or None, not {type(hook).__name__}")
    if inspect.iscoroutinefunction(hook):
        raise TypeError(
            f"broker hook {name} must be a plain function: hooks run in a worker thread, "
            "not in an event loop"
        )
    return hook  # type: ignore[no-any-return]


def _connack_code(answer: Any) -> int:
    """``authenticate``'s answer as a CONNACK reason code (0 = allow)."""
    if answer is True:
        return 0
    if answer is False:
        return _NOT_AUTHORIZED
    if isinstance(answer, str):
        code = ReasonCode(PacketTypes.CONNACK, answer).value
    elif isinstance(answer, int):
        code = _V3_CONNACK.get(answer, answer)
    elif isinstance(getattr(answer, "value", None), int):  # a ReasonCode (ours or paho's)
        code = answer.value
    else:
        raise TypeError(
            f"authenticate returned {type(answer).__name__}; expected a bool, or a CONNACK "
            "ReasonCode, its number or its name"
        )
    if code != 0:
        if code < 0x80:
            raise ValueError(f"authenticate returned {code:#x}, not a CONNACK refusal")
        ReasonCode(PacketTypes.CONNACK, identifier=code)  # raises unless CONNACK carries it
    return int(code)


def _routed(message: Any) -> tuple[str, bytes, int, bool, Optional[bytes]]:
    """``on_message``'s changed message as the core takes it; raises when it is invalid."""
    if not isinstance(message, BrokerMessage):
        raise TypeError(
            f"on_message returned {type(message).__name__}; expected a BrokerMessage or None"
        )
    if not isinstance(message.topic, str):
        raise TypeError(f"BrokerMessage.topic must be str, not {type(message.topic).__name__}")
    validate_topic_name(message.topic)
    payload = message.payload
    if isinstance(payload, str):
        payload = payload.encode()
    elif isinstance(payload, (bytearray, memoryview)):
        payload = bytes(payload)
    elif not isinstance(payload, bytes):
        raise TypeError(f"BrokerMessage.payload must be bytes or str, not {type(payload).__name__}")
    if message.qos not in (0, 1, 2) or isinstance(message.qos, bool):
        raise ValueError(f"BrokerMessage.qos must be 0, 1 or 2, not {message.qos!r}")
    if not isinstance(message.retain, bool):
        raise TypeError(f"BrokerMessage.retain must be bool, not {type(message.retain).__name__}")
    properties = message.properties
    # Properties from ferromqtt.properties or paho.mqtt.properties: both have pack().
    if properties is not None and not callable(getattr(properties, "pack", None)):
        raise TypeError(
            f"BrokerMessage.properties must be Properties or None, not {type(properties).__name__}"
        )
    packed = None if properties is None else bytes(properties.pack())
    return message.topic, payload, int(message.qos), message.retain, packed


class _Hooks:
    """The dispatcher the core calls; holds the user's callables by hook name."""

    def __init__(self) -> None:
        self.callables: dict[str, Callable[..., Any]] = {}

    def installed(self) -> list[str]:
        return list(self.callables)

    def set(self, name: str, hook: Any) -> None:
        checked = check_hook(name, hook)
        if checked is None:
            self.callables.pop(name, None)
        else:
            self.callables[name] = checked

    # Each method below is called by the core only while its hook is installed; the
    # `.get` guards the moment a hook is removed while a call is on its way.

    def authenticate(
        self,
        client_id: str,
        username: Optional[str],
        password: Optional[bytes],
        address: Optional[tuple[str, int]],
    ) -> int:
        hook = self.callables.get("authenticate")
        if hook is None:
            return 0
        try:
            return _connack_code(hook(client_id, username, password))
        except Exception:
            _log.exception(
                "Broker hook authenticate failed for client %r from %s; refused",
                client_id,
                address,
            )
            return _NOT_AUTHORIZED

    def authorize(self, client_id: str, username: Optional[str], action: str, topic: str) -> bool:
        hook = self.callables.get("authorize")
        if hook is None:
            return True
        try:
            answer = hook(client_id, username, action, topic)
            if not isinstance(answer, bool):
                raise TypeError(f"authorize returned {type(answer).__name__}; expected a bool")
            return answer
        except Exception:
            _log.exception(
                "Broker hook authorize failed for client %r (%s %r); refused",
                client_id,
                action,
                topic,
            )
            return False

    def on_message(
        self,
        client_id: str,
        username: Optional[str],
        topic: str,
        payload: bytes,
        qos: int,
        retain: bool,
        properties: Optional[bytes],
    ) -> Any:
        hook = self.callables.get("on_message")
        try:
            unpacked = None
            if properties is not None:
                unpacked = Properties(PacketTypes.PUBLISH)
                unpacked.unpack(properties)
            message = BrokerMessage(
                topic,
                payload,
                qos,
                retain,
                unpacked,
                client_id=client_id,
                username=username,
            )
            if hook is not None:
                message = hook(message)
            return None if message is None else _routed(message)
        except Exception:
            _log.exception(
                "Broker hook on_message failed for a message from %r on %r; dropped",
                client_id,
                topic,
            )
            return _UNSPECIFIED_ERROR

    def on_client_connected(
        self, client_id: str, username: Optional[str], address: Optional[tuple[str, int]]
    ) -> None:
        self._notify("on_client_connected", client_id, username, address)

    def on_client_disconnected(
        self,
        client_id: str,
        username: Optional[str],
        address: Optional[tuple[str, int]],
        reason: str,
    ) -> None:
        self._notify("on_client_disconnected", client_id, username, address, reason)

    def _notify(self, name: str, *args: Any) -> None:
        hook = self.callables.get(name)
        if hook is None:
            return
        try:
            hook(*args)
        except Exception:
            _log.exception("Broker hook %s failed for client %r", name, args[0])
