"""asyncio MQTT client with aiomqtt's shape, over ferromqtt's Rust core.

::

    async with Client("127.0.0.1", 1883) as client:
        await client.subscribe("sensors/#", qos=1)
        await client.publish("sensors/a", b"21.5", qos=1)   # returns once PUBACK arrived
        async for message in client.messages:
            print(message.topic, message.payload)

Network IO, keepalive and the QoS flows run on ferromqtt's background runtime, never
holding the GIL; no thread is started per client. Each awaitable completes on the event
loop with one ``call_soon_threadsafe``, and inbound messages cross in batches: one wake-up
of the loop takes every message buffered by then.

Differences from aiomqtt 2.x (whose names and signatures this module keeps):

* Inbound messages are never discarded: ``max_queued_incoming_messages`` bounds a buffer
  (default 1000); when it is full the client stops reading the socket and TCP pushes back
  on the broker, so a consumer that does not read cannot make memory grow. Acknowledgements
  arrive on the same socket behind those messages: a client that subscribes should read
  its messages (in a task of its own) for its publishes to complete.
* ``publish()`` raises ``MqttCodeError`` when an MQTT 5 PUBACK/PUBREC refuses the message
  (reason code >= 0x80). With ``max_queued_outgoing_messages`` set, a publish on a full
  queue waits for room instead of failing.
* The loss of the connection raises ``MqttConnectionLostError`` (a ``MqttCodeError``) from
  pending calls and from the message iterator; reconnecting is the user's job, as in aiomqtt.
* ``client.messages.filtered(*wildcards)`` iterates over the messages matching any of the
  filters (others are consumed and skipped).
* TLS (``tls_context``, ``tls_params``, ``tls_insecure``), WebSocket (``transport=
  "websockets"``, ``websocket_path``, ``websocket_headers``), Unix sockets
  (``transport="unix"``, ``hostname`` is the socket path) and proxies (``proxy=
  ProxySettings(...)``) run on the same Rust transport as ``ferromqtt.client``, with the
  same rules (see ``Client.tls_set`` there). ``tls_params`` is applied when the client
  is made, not at the first connect. Socket options and ``queue_type`` are not available
  (NotImplementedError when set).
"""

# This module has the Client, its constructor's values (ProtocolVersion, Will) and the
# conversion of its arguments. The other names it exports live in modules of their own:
#   _aio_errors     MqttError and its subclasses
#   _aio_message    Wildcard, Topic, Message, MessagesIterator
#   _aio_transport  TLSParameters, ProxySettings and the checks of the TLS, proxy and
#                   WebSocket arguments
# Each of those classes keeps __module__ == "ferromqtt.aio". AsyncIterator and error_string
# went unused here when they moved; they stay importable from this module (noqa: F401).

from __future__ import annotations

import asyncio
import collections
import dataclasses
import enum
import logging
import math
import ssl
import uuid
from collections.abc import AsyncIterator, Iterable  # noqa: F401
from types import TracebackType
from typing import Any, Optional, Union

from ferromqtt import _aio_message, _aio_transport, _core, _transport
from ferromqtt._aio_errors import (
    MqttCodeError,
    MqttConnectError,
    MqttConnectionLostError,
    MqttError,
    MqttReentrantError,
)
from ferromqtt._aio_message import (
    Message,
    MessagesIterator,
    Topic,
    TopicLike,
    Wildcard,
    WildcardLike,
)
from ferromqtt._aio_transport import ProxySettings, TLSParameters
from ferromqtt.client import (
    MQTT_CLEAN_START_FIRST_ONLY,
    _base62,
    _encode_payload,
    convert_connack_rc_to_reason_code,
    error_string,  # noqa: F401
)
from ferromqtt.enums import MQTTErrorCode
from ferromqtt.packettypes import PacketTypes
from ferromqtt.properties import Properties
from ferromqtt.reasoncodes import ReasonCode
from ferromqtt.subscribeoptions import SubscribeOptions

__all__ = [
    "Client",
    "Message",
    "MessagesIterator",
    "MqttCodeError",
    "MqttConnectError",
    "MqttConnectionLostError",
    "MqttError",
    "MqttReentrantError",
    "ProtocolVersion",
    "ProxySettings",
    "TLSParameters",
    "Topic",
    "TopicLike",
    "Wildcard",
    "WildcardLike",
    "Will",
]

MQTT_LOGGER = logging.getLogger("mqtt")

PayloadType = Union[str, bytes, bytearray, int, float, None]

# Messages taken from the core per wake-up of the event loop.
_BATCH = 256
_MAX_TOPIC_LENGTH = 65535


# ---- values --------------------------------------------------------------------------------
class ProtocolVersion(enum.IntEnum):
    """The MQTT protocol versions (the values of paho's MQTTv31, MQTTv311, MQTTv5)."""

    V31 = 3
    V311 = 4
    V5 = 5


@dataclasses.dataclass(frozen=True)
class Will:
    """The message the broker publishes when the client disappears without DISCONNECT."""

    topic: str
    payload: PayloadType = None
    qos: int = 0
    retain: bool = False
    properties: Optional[Properties] = None


class Client:
    """Asynchronous context manager for one connection to an MQTT broker (aiomqtt's API).

    ``async with Client(...) as client`` connects and waits for the CONNACK (raising
    ``MqttConnectError`` when refused, ``MqttError`` when the broker cannot be reached);
    leaving the block disconnects. The client can be entered again after it left (or after
    the connection was lost), not while it is connected.
    """

    def __init__(
        self,
        hostname: str,
        port: int = 1883,
        *,
        username: str | None = None,
        password: str | bytes | None = None,
        logger: logging.Logger | None = None,
        identifier: str | None = None,
        queue_type: type | None = None,
        protocol: ProtocolVersion | int | None = None,
        will: Will | None = None,
        clean_session: bool | None = None,
        transport: str = "tcp",
        timeout: float | None = None,
        keepalive: int = 60,
        bind_address: str = "",
        bind_port: int = 0,
        clean_start: int | bool = MQTT_CLEAN_START_FIRST_ONLY,
        max_queued_incoming_messages: int | None = None,
        max_queued_outgoing_messages: int | None = None,
        max_inflight_messages: int | None = None,
        max_concurrent_outgoing_calls: int | None = None,
        properties: Properties | None = None,
        tls_context: ssl.SSLContext | None = None,
        tls_params: TLSParameters | None = None,
        tls_insecure: bool | None = None,
        proxy: ProxySettings | None = None,
        socket_options: Iterable[Any] | None = None,
        websocket_path: str | None = None,
        websocket_headers: Any = None,
    ) -> None:
        unsupported = {
            "queue_type": queue_type is not None,
            "socket_options": bool(socket_options),
        }
        for name, used in unsupported.items():
            if used:
                raise NotImplementedError(f"{name} is not available yet in ferromqtt.aio")
        if transport not in ("tcp", "websockets", "unix"):
            raise ValueError('transport must be "websockets", "tcp" or "unix"')
        self._transport = transport
        self._tls = _aio_transport.tls_config(tls_context, tls_params, tls_insecure)
        self._proxy = _aio_transport.proxy_arguments(proxy)
        _aio_transport.check_websocket_headers(websocket_headers)
        self._websocket_path = "/mqtt" if websocket_path is None else websocket_path
        self._websocket_headers = websocket_headers
        self._protocol = ProtocolVersion(protocol if protocol is not None else 4)
        if self._protocol != ProtocolVersion.V5 and clean_session is None:
            clean_session = True
        if identifier is None or identifier == "":
            identifier = ""
            if self._protocol == ProtocolVersion.V31:
                identifier = _base62(uuid.uuid4().int, padding=22)
        if self._protocol != ProtocolVersion.V5 and not clean_session and not identifier:
            raise ValueError("A client id must be provided if clean session is False.")
        if will is not None and not 0 <= will.qos <= 2:
            raise ValueError("Invalid QoS level.")
        self._hostname = hostname
        self._port = port
        self._username = username
        if isinstance(password, str):
            password = password.encode("utf-8")
        self._password = password
        self._logger = logger if logger is not None else MQTT_LOGGER
        self._identifier = identifier
        self._will = will
        self._clean_session = clean_session
        self._clean_start = clean_start
        self._first_connect = True
        self.timeout = 10.0 if timeout is None else timeout
        self._keepalive = keepalive
        self._bind_address = bind_address
        self._bind_port = bind_port
        self._properties = properties
        self._core = _core.AsyncClientCore(
            int(self._protocol),
            20 if max_inflight_messages is None else max_inflight_messages,
            max_queued_outgoing_messages or 0,
            None
            if max_queued_incoming_messages is None or max_queued_incoming_messages <= 0
            else max_queued_incoming_messages,
        )
        self._inbox: collections.deque[Message] = collections.deque()
        self._connected = False
        self._outgoing_calls_sem = (
            asyncio.Semaphore(max_concurrent_outgoing_calls)
            if max_concurrent_outgoing_calls is not None
            else None
        )

    # ---- properties --------------------------------------------------------------------
    @property
    def identifier(self) -> str:
        """The client identifier (for MQTT 5, the one the broker assigned when it was empty)."""
        if not self._identifier and self._protocol == ProtocolVersion.V5:
            return self._core.assigned_client_id() or ""
        return self._identifier

    @property
    def messages(self) -> MessagesIterator:
        """Dynamic view of the client's inbound messages."""
        return MessagesIterator(self)

    # ---- connection --------------------------------------------------------------------
    async def __aenter__(self) -> Client:
        if self._connected or self._core.is_open():
            raise MqttReentrantError("The client context manager is reusable, but not reentrant")
        self._connected = True
        try:
            await self._connect()
        except BaseException:
            self._connected = False
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._connected = False
        await self._core.disconnect(0, None, self._timeout(None))

    async def _connect(self) -> None:
        if self._protocol == ProtocolVersion.V5:
            if self._clean_start == MQTT_CLEAN_START_FIRST_ONLY:
                clean = self._first_connect
            else:
                clean = bool(self._clean_start)
        else:
            clean = bool(self._clean_session)
        will = None
        if self._will is not None:
            will = (
                self._will.topic,
                bytes(_encode_payload(self._will.payload)),
                self._will.qos,
                self._will.retain,
                _pack(self._will.properties, self._protocol),
            )
        try:
            session_present, rc_v3, reason_value, props = await self._core.connect(
                self._hostname,
                self._port,
                self._keepalive,
                self._identifier,
                clean,
                self._timeout(None),
                self._bind_address,
                self._bind_port,
                self._username,
                self._password,
                will,
                _pack(self._properties, self._protocol),
                self._transport,
                self._websocket_path,
                _transport.websocket_headers(self._websocket_headers, self._hostname, self._port)
                if self._transport == "websockets"
                else None,
                self._tls.arguments(),
                None if self._transport == "unix" else self._proxy,
            )
        except _core.ConnectionClosedError:
            raise self._lost_error("Connection closed before CONNACK") from None
        except OSError as exc:  # refused, unreachable, unknown host, timed out
            raise MqttError(str(exc) or "Operation timed out") from None
        self._first_connect = False
        if reason_value != 0:
            if self._protocol == ProtocolVersion.V5:
                reason = ReasonCode(PacketTypes.CONNACK, identifier=reason_value)
            else:
                reason = convert_connack_rc_to_reason_code(rc_v3)
            raise MqttConnectError(reason)
        self.session_present = bool(session_present)
        self.connack_properties = _unpack(PacketTypes.CONNACK, props)

    def _timeout(self, timeout: float | None) -> float | None:
        value = self.timeout if timeout is None else timeout
        return None if value == math.inf else value

    def _lost_error(self, message: str) -> MqttError:
        """The error for an operation the end of the connection interrupted."""
        reason = self._core.close_reason()
        if reason is None:
            return MqttCodeError(MQTTErrorCode.MQTT_ERR_NO_CONN, message)
        cause, code, props, detail = reason
        if cause == _core.CAUSE_REQUESTED:
            return MqttCodeError(MQTTErrorCode.MQTT_ERR_NO_CONN, message)
        if cause == _core.CAUSE_SERVER:
            rc: int | ReasonCode = ReasonCode(PacketTypes.DISCONNECT, identifier=code or 0)
        elif cause == _core.CAUSE_KEEPALIVE:
            rc = MQTTErrorCode.MQTT_ERR_KEEPALIVE
        elif cause == _core.CAUSE_PROTOCOL:
            rc = MQTTErrorCode.MQTT_ERR_PROTOCOL
        else:
            rc = MQTTErrorCode.MQTT_ERR_CONN_LOST
        error = MqttConnectionLostError(rc, message)
        error.properties = _unpack(PacketTypes.DISCONNECT, props)  # type: ignore[attr-defined]
        error.detail = detail  # type: ignore[attr-defined]
        return error

    async def _call(self, awaitable: Any) -> Any:
        """Awaits a core operation, turning its failures into this module's errors."""
        try:
            return await awaitable
        except TimeoutError:
            raise MqttError("Operation timed out") from None
        except _core.ConnectionClosedError:
            raise self._lost_error("Disconnected before the operation completed") from None

    def _check_connected(self, what: str) -> None:
        if not self._core.is_open():
            raise self._lost_error(f"Could not {what}")

    # ---- operations --------------------------------------------------------------------
    async def publish(
        self,
        /,
        topic: str,
        payload: PayloadType = None,
        qos: int = 0,
        retain: bool = False,
        properties: Properties | None = None,
        *args: Any,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        """Publish and wait until the broker acknowledged it (QoS 1 PUBACK, QoS 2 PUBCOMP)
        or, for QoS 0, until it was written. Cancelling the wait does not take the message
        back once it was handed to the connection."""
        if args or kwargs:
            raise TypeError("unexpected arguments to publish()")
        if not 0 <= qos <= 2:
            raise ValueError("Invalid QoS level.")
        if isinstance(topic, Topic):
            topic = topic.value
        if self._protocol != ProtocolVersion.V5 and not topic:
            raise ValueError("Invalid topic.")
        data = _encode_payload(payload)
        self._check_connected("publish message")
        sem = self._outgoing_calls_sem
        if sem is not None:
            await sem.acquire()
        try:
            try:
                awaitable = self._core.publish(
                    topic,
                    data,
                    qos,
                    retain,
                    _pack(properties, self._protocol),
                    self._timeout(timeout),
                )
            except _core.MQTTError:
                raise self._lost_error("Could not publish message") from None
            reason_value, _props = await self._call(awaitable)
        finally:
            if sem is not None:
                sem.release()
        if reason_value >= 0x80:
            raise MqttCodeError(
                ReasonCode(PacketTypes.PUBACK, identifier=reason_value), "Publish refused"
            )

    async def subscribe(
        self,
        /,
        topic: Any,
        qos: int = 0,
        options: SubscribeOptions | None = None,
        properties: Properties | None = None,
        *args: Any,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> list[ReasonCode]:
        """Subscribe to ``"filter"``, ``("filter", qos)``, ``("filter", SubscribeOptions)``
        or a list of them; returns the SUBACK's reason codes (granted QoS or failure)."""
        if args or kwargs:
            raise TypeError("unexpected arguments to subscribe()")
        items = _subscriptions(topic, qos, options, self._protocol)
        self._check_connected("subscribe to topic")
        sem = self._outgoing_calls_sem
        if sem is not None:
            await sem.acquire()
        try:
            try:
                awaitable = self._core.subscribe(
                    items, _pack(properties, self._protocol), self._timeout(timeout)
                )
            except _core.MQTTError:
                raise self._lost_error("Could not subscribe to topic") from None
            codes, _props = await self._call(awaitable)
        finally:
            if sem is not None:
                sem.release()
        return [ReasonCode(PacketTypes.SUBACK, identifier=code) for code in codes]

    async def unsubscribe(
        self,
        /,
        topic: str | list[str],
        properties: Properties | None = None,
        *args: Any,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        """Unsubscribe from one topic filter or a list of them; returns on UNSUBACK."""
        if args or kwargs:
            raise TypeError("unexpected arguments to unsubscribe()")
        topics = [topic] if isinstance(topic, (str, Wildcard)) else list(topic)
        filters = [t.value if isinstance(t, Wildcard) else t for t in topics]
        if not filters or not all(isinstance(t, str) and t for t in filters):
            raise ValueError("Invalid topic.")
        self._check_connected("unsubscribe from topic")
        sem = self._outgoing_calls_sem
        if sem is not None:
            await sem.acquire()
        try:
            try:
                awaitable = self._core.unsubscribe(
                    filters, _pack(properties, self._protocol), self._timeout(timeout)
                )
            except _core.MQTTError:
                raise self._lost_error("Could not unsubscribe from topic") from None
            await self._call(awaitable)
        finally:
            if sem is not None:
                sem.release()

    async def _next_message(self) -> Message:
        inbox = self._inbox
        core = self._core
        while True:
            if inbox:
                return inbox.popleft()
            batch = core.take_messages(_BATCH)
            if batch:
                inbox.extend(map(Message._from_core, batch))
                continue
            # Waits without taking anything: a cancelled wait loses no message.
            if not await core.wait_messages():
                raise self._lost_error("Disconnected during message iteration")


# MessagesIterator's annotations name the Client, which its module imports only for type
# checkers (the modules would import each other): give it the name for get_type_hints().
_aio_message.Client = Client  # type: ignore[attr-defined]


def _pack(properties: Properties | None, protocol: ProtocolVersion) -> bytes | None:
    if properties is None or protocol != ProtocolVersion.V5:
        return None
    return bytes(properties.pack())


def _unpack(packet_type: int, data: bytes | None) -> Properties | None:
    if data is None:
        return None
    properties = Properties(packet_type)
    properties.unpack(data)
    return properties


def _subscriptions(
    topic: Any, qos: int, options: SubscribeOptions | None, protocol: ProtocolVersion
) -> list[tuple[str, int, bool, bool, int]]:
    """(filter, qos, no_local, retain_as_published, retain_handling) items, as paho reads
    the forms subscribe() accepts."""
    if isinstance(topic, (str, Wildcard)):
        entries: list[tuple[Any, Any]] = [(topic, options if options is not None else qos)]
        if options is not None and qos != 0:
            raise ValueError("Subscribe options and qos parameters cannot be combined.")
    elif isinstance(topic, tuple):
        entries = [topic]
    elif isinstance(topic, list) and topic:
        entries = list(topic)
    else:
        raise ValueError("Invalid subscription")
    items = []
    for entry in entries:
        name, how = entry
        if isinstance(name, Wildcard):
            name = name.value
        if not isinstance(name, str) or not name:
            raise ValueError("Invalid topic.")
        if isinstance(how, SubscribeOptions):
            if protocol != ProtocolVersion.V5:
                raise ValueError("Subscribe options need MQTT 5")
            items.append(
                (name, how.QoS, bool(how.noLocal), bool(how.retainAsPublished), how.retainHandling)
            )
        else:
            if not isinstance(how, int) or not 0 <= how <= 2:
                raise ValueError("Invalid QoS level.")
            items.append((name, how, False, False, 0))
    return items
