"""The exceptions of the asyncio client (``ferromqtt.aio``), in aiomqtt's hierarchy:
``MqttError`` and, below it, the errors that carry an MQTT reason code or a paho error code
(a refused CONNACK, the loss of the connection) and the error of a reentrant
``async with``. They are public as ``ferromqtt.aio.*`` and keep that ``__module__``.
"""

from __future__ import annotations

from typing import Any

from ferromqtt.client import error_string
from ferromqtt.reasoncodes import ReasonCode


class MqttError(Exception):
    """Base class of the errors this client raises."""


class MqttCodeError(MqttError):
    """An error with an MQTT reason code or a paho error code in ``rc``."""

    def __init__(self, rc: int | ReasonCode | None, *args: Any) -> None:
        super().__init__(*args)
        self.rc = rc

    def __str__(self) -> str:
        if isinstance(self.rc, ReasonCode):
            return f"[code:{self.rc.value}] {self.rc!s}"
        if isinstance(self.rc, int):
            return f"[code:{self.rc}] {error_string(self.rc)}"
        return f"[code:{self.rc}] {super().__str__()}"


class MqttConnectError(MqttCodeError):
    """The broker refused the connection (CONNACK with a failure code)."""

    def __init__(self, rc: ReasonCode) -> None:
        super().__init__(rc, "Connection refused")


class MqttConnectionLostError(MqttCodeError):
    """The connection ended without ``disconnect()``: the socket closed, keepalive expired,
    the broker sent DISCONNECT (``rc`` is its ReasonCode) or broke the protocol. Reconnect
    with ``async with client:`` again."""


class MqttReentrantError(MqttError):
    """``async with client`` while the client is already connected."""


# Public in ferromqtt.aio: tracebacks and pickles name that module.
for _public in (
    MqttError,
    MqttCodeError,
    MqttConnectError,
    MqttConnectionLostError,
    MqttReentrantError,
):
    _public.__module__ = "ferromqtt.aio"
del _public
