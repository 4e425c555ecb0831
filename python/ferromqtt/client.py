"""paho-mqtt 2.2 compatible MQTT client over ferromqtt's Rust core.

``import ferromqtt.client as mqtt`` replaces ``import paho.mqtt.client as mqtt``: the same
names, signatures, return codes, exceptions and callbacks (both callback API versions).
Network IO, keepalive and the QoS flows run in Rust on a background runtime; callbacks run
in the thread that drives the loop (``loop()``, ``loop_forever()``, ``loop_start()``), as
in paho.

Deliberate differences from paho-mqtt 2.2:

* ``Client("PythonPublisher")`` (the 1.x form with a positional client id) runs with
  VERSION1 callbacks and a DeprecationWarning instead of raising TypeError, so 1.x scripts
  run unmodified.
* ``wait_for_publish()`` / ``is_published()`` on a QoS 1/2 message that was queued while
  disconnected (``info.rc == MQTT_ERR_NO_CONN``) wait for its delivery (or the timeout)
  instead of raising RuntimeError.
* An exception raised in a user callback is always logged with its traceback through the
  client's logger (or the "ferromqtt.client" logger when none is enabled); it propagates
  out of ``loop()``/``loop_forever()`` (ending a ``loop_start()`` thread) unless
  ``suppress_exceptions`` is True, as in paho.
* ``socket()`` returns a socket that becomes readable when events are waiting (the network
  connection itself lives in Rust); ``loop_read()`` processes them, ``loop_misc()`` has
  nothing left to do and ``loop_write()`` only ends the write interest: the Rust core has
  written the packets already, but ``on_socket_register_write`` /
  ``on_socket_unregister_write`` fire in paho's order so external loops work unchanged.
* The server's Receive Maximum, Maximum Packet Size and Topic Alias Maximum are honoured and
  inbound topic aliases are resolved (paho leaves ``message.topic`` empty).
* TLS runs in Rust (rustls, no OpenSSL): ``tls_set()`` checks its files with Python's
  ssl module as paho does; ``tls_version`` may be PROTOCOL_TLS_CLIENT (TLS 1.2 and 1.3),
  PROTOCOL_TLSv1_2, ssl.TLSVersion.TLSv1_2 or TLSv1_3 (older versions raise ValueError);
  ``ciphers`` names OpenSSL cipher suites rustls implements (ValueError naming any other);
  ``keyfile_password`` decrypts encrypted PKCS#8 keys (BEGIN ENCRYPTED PRIVATE KEY), not
  legacy OpenSSL-encrypted ones. ``tls_set_context()`` honours an SSLContext's
  verify_mode, check_hostname, loaded CA certificates and minimum/maximum version, not
  client certificates or ciphers loaded into it.
* ``proxy_set()`` takes PySocks' constants (SOCKS4 = 1, SOCKS5 = 2, HTTP = 3) without
  needing PySocks installed; the proxy handshakes run in Rust. Proxy failures raise
  ``ferromqtt.client.ProxyError`` (a ConnectionError) where PySocks raises its own
  ``socks.ProxyError`` (an OSError too).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import socket as _socket
import threading
import time
import traceback
import uuid
import warnings
from collections import deque
from collections.abc import Iterator
from typing import Any, Callable, NamedTuple, Union

from ferromqtt import _core, _display, _transport
from ferromqtt.enums import (
    CallbackAPIVersion,
    ConnackCode,
    LogLevel,
    MessageState,
    MessageType,
    MQTTErrorCode,
    MQTTProtocolVersion,
    PahoClientMode,
)
from ferromqtt.exception import MalformedPacket, MQTTException
from ferromqtt.matcher import MQTTMatcher
from ferromqtt.packettypes import PacketTypes
from ferromqtt.properties import Properties
from ferromqtt.reasoncodes import ReasonCode, ReasonCodes
from ferromqtt.subscribeoptions import SubscribeOptions

_ = MQTTException  # importable from here as before, though paho's client does not have it

__all__ = [  # every name paho-mqtt 2.2's client module defines or re-exports
    "AUTH",
    "CONNACK",
    "CONNACK_ACCEPTED",
    "CONNACK_REFUSED_BAD_USERNAME_PASSWORD",
    "CONNACK_REFUSED_IDENTIFIER_REJECTED",
    "CONNACK_REFUSED_NOT_AUTHORIZED",
    "CONNACK_REFUSED_PROTOCOL_VERSION",
    "CONNACK_REFUSED_SERVER_UNAVAILABLE",
    "CONNECT",
    "CallbackAPIVersion",
    "CallbackOnConnect",
    "CallbackOnConnectFail",
    "CallbackOnConnect_v1",
    "CallbackOnConnect_v1_mqtt3",
    "CallbackOnConnect_v1_mqtt5",
    "CallbackOnConnect_v2",
    "CallbackOnDisconnect",
    "CallbackOnDisconnect_v1",
    "CallbackOnDisconnect_v1_mqtt3",
    "CallbackOnDisconnect_v1_mqtt5",
    "CallbackOnDisconnect_v2",
    "CallbackOnLog",
    "CallbackOnMessage",
    "CallbackOnPreConnect",
    "CallbackOnPublish",
    "CallbackOnPublish_v1",
    "CallbackOnPublish_v2",
    "CallbackOnSocket",
    "CallbackOnSubscribe",
    "CallbackOnSubscribe_v1",
    "CallbackOnSubscribe_v1_mqtt3",
    "CallbackOnSubscribe_v1_mqtt5",
    "CallbackOnSubscribe_v2",
    "CallbackOnUnsubscribe",
    "CallbackOnUnsubscribe_v1",
    "CallbackOnUnsubscribe_v1_mqtt3",
    "CallbackOnUnsubscribe_v1_mqtt5",
    "CallbackOnUnsubscribe_v2",
    "CleanStartOption",
    "Client",
    "ConnackCode",
    "ConnectFlags",
    "DISCONNECT",
    "DisconnectFlags",
    "EAGAIN",
    "HAVE_DNS",
    "HTTPHeader",
    "LOGGING_LEVEL",
    "LogLevel",
    "MQTTErrorCode",
    "MQTTMatcher",
    "MQTTMessage",
    "MQTTMessageInfo",
    "MQTTProtocolVersion",
    "MQTT_BRIDGE",
    "MQTT_CLEAN_START_FIRST_ONLY",
    "MQTT_CLIENT",
    "MQTT_ERR_ACL_DENIED",
    "MQTT_ERR_AGAIN",
    "MQTT_ERR_AUTH",
    "MQTT_ERR_CONN_LOST",
    "MQTT_ERR_CONN_REFUSED",
    "MQTT_ERR_ERRNO",
    "MQTT_ERR_INVAL",
    "MQTT_ERR_KEEPALIVE",
    "MQTT_ERR_NOMEM",
    "MQTT_ERR_NOT_FOUND",
    "MQTT_ERR_NOT_SUPPORTED",
    "MQTT_ERR_NO_CONN",
    "MQTT_ERR_PAYLOAD_SIZE",
    "MQTT_ERR_PROTOCOL",
    "MQTT_ERR_QUEUE_SIZE",
    "MQTT_ERR_SUCCESS",
    "MQTT_ERR_TLS",
    "MQTT_ERR_UNKNOWN",
    "MQTT_LOG_DEBUG",
    "MQTT_LOG_ERR",
    "MQTT_LOG_INFO",
    "MQTT_LOG_NOTICE",
    "MQTT_LOG_WARNING",
    "MQTTv31",
    "MQTTv311",
    "MQTTv5",
    "MalformedPacket",
    "MessageState",
    "MessageType",
    "PINGREQ",
    "PINGRESP",
    "PUBACK",
    "PUBCOMP",
    "PUBLISH",
    "PUBREC",
    "PUBREL",
    "PacketTypes",
    "PahoClientMode",
    "PayloadType",
    "Properties",
    "ReasonCode",
    "ReasonCodes",
    "SUBACK",
    "SUBSCRIBE",
    "SubscribeOptions",
    "UNSUBACK",
    "UNSUBSCRIBE",
    "WebSocketHeaders",
    "WebsocketConnectionError",
    "connack_string",
    "convert_connack_rc_to_reason_code",
    "convert_disconnect_error_code_to_reason_code",
    "error_string",
    "mqtt_ms_invalid",
    "mqtt_ms_publish",
    "mqtt_ms_queued",
    "mqtt_ms_resend_pubcomp",
    "mqtt_ms_resend_pubrel",
    "mqtt_ms_send_pubrec",
    "mqtt_ms_wait_for_puback",
    "mqtt_ms_wait_for_pubcomp",
    "mqtt_ms_wait_for_pubrec",
    "mqtt_ms_wait_for_pubrel",
    "sockpair_data",
    "time_func",
    "topic_matches_sub",
]


# Raised by connect() when a proxy (proxy_set) cannot be reached or refuses the tunnel; a
# ConnectionError, as PySocks' errors that paho lets through are OSErrors.
ProxyError = _core.ProxyError

try:  # paho exposes the optional PySocks module (or None) as client.socks
    import socks  # type: ignore[import-not-found]
except ImportError:
    socks = None

time_func = time.monotonic
# As paho: whether dnspython (connect_srv) is there; found without importing it.
HAVE_DNS = importlib.util.find_spec("dns") is not None
EAGAIN = 11
sockpair_data = b"0"

LOGGING_LEVEL = {
    LogLevel.MQTT_LOG_DEBUG: logging.DEBUG,
    LogLevel.MQTT_LOG_INFO: logging.INFO,
    LogLevel.MQTT_LOG_NOTICE: logging.INFO,
    LogLevel.MQTT_LOG_WARNING: logging.WARNING,
    LogLevel.MQTT_LOG_ERR: logging.ERROR,
}

CONNECT = MessageType.CONNECT
CONNACK = MessageType.CONNACK
PUBLISH = MessageType.PUBLISH
PUBACK = MessageType.PUBACK
PUBREC = MessageType.PUBREC
PUBREL = MessageType.PUBREL
PUBCOMP = MessageType.PUBCOMP
SUBSCRIBE = MessageType.SUBSCRIBE
SUBACK = MessageType.SUBACK
UNSUBSCRIBE = MessageType.UNSUBSCRIBE
UNSUBACK = MessageType.UNSUBACK
PINGREQ = MessageType.PINGREQ
PINGRESP = MessageType.PINGRESP
DISCONNECT = MessageType.DISCONNECT
AUTH = MessageType.AUTH

MQTT_LOG_INFO = LogLevel.MQTT_LOG_INFO
MQTT_LOG_NOTICE = LogLevel.MQTT_LOG_NOTICE
MQTT_LOG_WARNING = LogLevel.MQTT_LOG_WARNING
MQTT_LOG_ERR = LogLevel.MQTT_LOG_ERR
MQTT_LOG_DEBUG = LogLevel.MQTT_LOG_DEBUG

CONNACK_ACCEPTED = ConnackCode.CONNACK_ACCEPTED
CONNACK_REFUSED_PROTOCOL_VERSION = ConnackCode.CONNACK_REFUSED_PROTOCOL_VERSION
CONNACK_REFUSED_IDENTIFIER_REJECTED = ConnackCode.CONNACK_REFUSED_IDENTIFIER_REJECTED
CONNACK_REFUSED_SERVER_UNAVAILABLE = ConnackCode.CONNACK_REFUSED_SERVER_UNAVAILABLE
CONNACK_REFUSED_BAD_USERNAME_PASSWORD = ConnackCode.CONNACK_REFUSED_BAD_USERNAME_PASSWORD
CONNACK_REFUSED_NOT_AUTHORIZED = ConnackCode.CONNACK_REFUSED_NOT_AUTHORIZED

mqtt_ms_invalid = MessageState.MQTT_MS_INVALID
mqtt_ms_publish = MessageState.MQTT_MS_PUBLISH
mqtt_ms_wait_for_puback = MessageState.MQTT_MS_WAIT_FOR_PUBACK
mqtt_ms_wait_for_pubrec = MessageState.MQTT_MS_WAIT_FOR_PUBREC
mqtt_ms_resend_pubrel = MessageState.MQTT_MS_RESEND_PUBREL
mqtt_ms_wait_for_pubrel = MessageState.MQTT_MS_WAIT_FOR_PUBREL
mqtt_ms_resend_pubcomp = MessageState.MQTT_MS_RESEND_PUBCOMP
mqtt_ms_wait_for_pubcomp = MessageState.MQTT_MS_WAIT_FOR_PUBCOMP
mqtt_ms_send_pubrec = MessageState.MQTT_MS_SEND_PUBREC
mqtt_ms_queued = MessageState.MQTT_MS_QUEUED

MQTT_ERR_AGAIN = MQTTErrorCode.MQTT_ERR_AGAIN
MQTT_ERR_SUCCESS = MQTTErrorCode.MQTT_ERR_SUCCESS
MQTT_ERR_NOMEM = MQTTErrorCode.MQTT_ERR_NOMEM
MQTT_ERR_PROTOCOL = MQTTErrorCode.MQTT_ERR_PROTOCOL
MQTT_ERR_INVAL = MQTTErrorCode.MQTT_ERR_INVAL
MQTT_ERR_NO_CONN = MQTTErrorCode.MQTT_ERR_NO_CONN
MQTT_ERR_CONN_REFUSED = MQTTErrorCode.MQTT_ERR_CONN_REFUSED
MQTT_ERR_NOT_FOUND = MQTTErrorCode.MQTT_ERR_NOT_FOUND
MQTT_ERR_CONN_LOST = MQTTErrorCode.MQTT_ERR_CONN_LOST
MQTT_ERR_TLS = MQTTErrorCode.MQTT_ERR_TLS
MQTT_ERR_PAYLOAD_SIZE = MQTTErrorCode.MQTT_ERR_PAYLOAD_SIZE
MQTT_ERR_NOT_SUPPORTED = MQTTErrorCode.MQTT_ERR_NOT_SUPPORTED
MQTT_ERR_AUTH = MQTTErrorCode.MQTT_ERR_AUTH
MQTT_ERR_ACL_DENIED = MQTTErrorCode.MQTT_ERR_ACL_DENIED
MQTT_ERR_UNKNOWN = MQTTErrorCode.MQTT_ERR_UNKNOWN
MQTT_ERR_ERRNO = MQTTErrorCode.MQTT_ERR_ERRNO
MQTT_ERR_QUEUE_SIZE = MQTTErrorCode.MQTT_ERR_QUEUE_SIZE
MQTT_ERR_KEEPALIVE = MQTTErrorCode.MQTT_ERR_KEEPALIVE

MQTTv31 = MQTTProtocolVersion.MQTTv31
MQTTv311 = MQTTProtocolVersion.MQTTv311
MQTTv5 = MQTTProtocolVersion.MQTTv5

MQTT_CLIENT = PahoClientMode.MQTT_CLIENT
MQTT_BRIDGE = PahoClientMode.MQTT_BRIDGE

MQTT_CLEAN_START_FIRST_ONLY = 3

# Typing aliases with paho's names.
PayloadType = Union[str, bytes, bytearray, int, float, None]
HTTPHeader = dict
WebSocketHeaders = Union[Callable[[dict], dict], dict]
CleanStartOption = Union[bool, int]
CallbackOnConnect = Callable[..., None]
CallbackOnConnect_v1 = CallbackOnConnect
CallbackOnConnect_v1_mqtt3 = CallbackOnConnect
CallbackOnConnect_v1_mqtt5 = CallbackOnConnect
CallbackOnConnect_v2 = CallbackOnConnect
CallbackOnConnectFail = Callable[..., None]
CallbackOnDisconnect = Callable[..., None]
CallbackOnDisconnect_v1 = CallbackOnDisconnect
CallbackOnDisconnect_v1_mqtt3 = CallbackOnDisconnect
CallbackOnDisconnect_v1_mqtt5 = CallbackOnDisconnect
CallbackOnDisconnect_v2 = CallbackOnDisconnect
CallbackOnLog = Callable[..., None]
CallbackOnMessage = Callable[..., None]
CallbackOnPreConnect = Callable[..., None]
CallbackOnPublish = Callable[..., None]
CallbackOnPublish_v1 = CallbackOnPublish
CallbackOnPublish_v2 = CallbackOnPublish
CallbackOnSocket = Callable[..., None]
CallbackOnSubscribe = Callable[..., None]
CallbackOnSubscribe_v1 = CallbackOnSubscribe
CallbackOnSubscribe_v1_mqtt3 = CallbackOnSubscribe
CallbackOnSubscribe_v1_mqtt5 = CallbackOnSubscribe
CallbackOnSubscribe_v2 = CallbackOnSubscribe
CallbackOnUnsubscribe = Callable[..., None]
CallbackOnUnsubscribe_v1 = CallbackOnUnsubscribe
CallbackOnUnsubscribe_v1_mqtt3 = CallbackOnUnsubscribe
CallbackOnUnsubscribe_v1_mqtt5 = CallbackOnUnsubscribe
CallbackOnUnsubscribe_v2 = CallbackOnUnsubscribe

_LOG = logging.getLogger("ferromqtt.client")

# ---------------------------------------------------------------------------------------
# Failures: what paho reports as a return code and what it raises. The one table; call
# sites look their failure up here instead of deciding case by case.
# ---------------------------------------------------------------------------------------
_FAILURES: dict[str, MQTTErrorCode | tuple[type[BaseException], str]] = {
    # returned codes
    "publish_qos0_not_connected": MQTT_ERR_NO_CONN,  # message dropped
    "publish_qos_gt0_not_connected": MQTT_ERR_NO_CONN,  # message queued, rc still 4
    "publish_queue_full": MQTT_ERR_QUEUE_SIZE,
    "publish_too_large_for_server": MQTT_ERR_PAYLOAD_SIZE,
    "subscribe_not_connected": MQTT_ERR_NO_CONN,  # returned as (rc, None)
    "unsubscribe_not_connected": MQTT_ERR_NO_CONN,
    "disconnect_not_connected": MQTT_ERR_NO_CONN,
    "loop_not_connected": MQTT_ERR_NO_CONN,
    "loop_start_twice": MQTT_ERR_INVAL,
    "loop_stop_no_thread": MQTT_ERR_INVAL,
    # raised exceptions
    "publish_empty_topic": (ValueError, "Invalid topic."),
    "publish_wildcard": (ValueError, "Publish topic cannot contain wildcards."),
    "publish_topic_too_long": (ValueError, "Publish topic is too long."),
    "invalid_qos": (ValueError, "Invalid QoS level."),
    "payload_too_large": (ValueError, "Payload too large."),
    "payload_type": (TypeError, "payload must be a string, bytearray, int, float or None."),
    "invalid_topic": (ValueError, "Invalid topic."),
    "invalid_filter": (ValueError, "Invalid subscription filter."),
    "empty_topic_list": (ValueError, "Empty topic list"),
    "no_topic": (ValueError, "No topic specified, or incorrect topic type."),
    "options_not_subscribeoptions": (
        ValueError,
        "Subscribe options must be instance of SubscribeOptions class.",
    ),
    "options_and_qos": (ValueError, "Subscribe options and qos parameters cannot be combined."),
    "invalid_host": (ValueError, "Invalid host."),
    "invalid_port": (ValueError, "Invalid port number."),
    "invalid_bind_port": (ValueError, "Invalid bind port number."),
    "invalid_keepalive": (ValueError, "Keepalive must be >=0."),
    "clean_start_v3": (ValueError, "Clean start only applies to MQTT V5"),
    "properties_v3": (ValueError, "Properties only apply to MQTT V5"),
    "clean_session_v5": (ValueError, "Clean session is not used for MQTT 5.0"),
    "clean_session_without_id": (
        ValueError,
        "A client id must be provided if clean session is False.",
    ),
    "will_properties": (
        ValueError,
        "The properties argument must be an instance of the Properties class.",
    ),
    "negative_timeout": (ValueError, "Invalid timeout."),
    "message_callback_none": (ValueError, "sub and callback must both be defined."),
    "message_callback_remove_none": (ValueError, "sub must defined."),
    "max_queued_type": (ValueError, "Invalid queue size."),
    "max_inflight_negative": (ValueError, "Invalid inflight."),
    "wait_queue_full": (ValueError, "Message is not queued due to ERR_QUEUE_SIZE"),
    "proxy_invalid": (ValueError, "proxy_type and/or proxy_addr are invalid."),
    "srv_no_host": (ValueError, "No SRV hosts responded"),
}


def _fail(name: str) -> BaseException:
    """The exception paho raises for the failure `name` (see _FAILURES)."""
    kind, message = _FAILURES[name]  # type: ignore[misc]
    return kind(message)


def _rc(name: str) -> MQTTErrorCode:
    """The return code paho gives for the failure `name` (see _FAILURES)."""
    return _FAILURES[name]  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------
# Module functions
# ---------------------------------------------------------------------------------------
_ERROR_STRINGS = {
    MQTT_ERR_SUCCESS: "No error.",
    MQTT_ERR_NOMEM: "Out of memory.",
    MQTT_ERR_PROTOCOL: "A network protocol error occurred when communicating with the broker.",
    MQTT_ERR_INVAL: "Invalid function arguments provided.",
    MQTT_ERR_NO_CONN: "The client is not currently connected.",
    MQTT_ERR_CONN_REFUSED: "The connection was refused.",
    MQTT_ERR_NOT_FOUND: "Message not found (internal error).",
    MQTT_ERR_CONN_LOST: "The connection was lost.",
    MQTT_ERR_TLS: "A TLS error occurred.",
    MQTT_ERR_PAYLOAD_SIZE: "Payload too large.",
    MQTT_ERR_NOT_SUPPORTED: "This feature is not supported.",
    MQTT_ERR_AUTH: "Authorisation failed.",
    MQTT_ERR_ACL_DENIED: "Access denied by ACL.",
    MQTT_ERR_UNKNOWN: "Unknown error.",
    MQTT_ERR_ERRNO: "Error defined by errno.",
    MQTT_ERR_QUEUE_SIZE: "Message queue full.",
    MQTT_ERR_KEEPALIVE: "Client or broker did not communicate in the keepalive interval.",
}


def error_string(mqtt_errno: MQTTErrorCode | int) -> str:
    """Return the error string associated with an mqtt error number."""
    return _ERROR_STRINGS.get(mqtt_errno, "Unknown error.")  # type: ignore[call-overload]


_CONNACK_STRINGS = {
    CONNACK_ACCEPTED: "Connection Accepted.",
    CONNACK_REFUSED_PROTOCOL_VERSION: "Connection Refused: unacceptable protocol version.",
    CONNACK_REFUSED_IDENTIFIER_REJECTED: "Connection Refused: identifier rejected.",
    CONNACK_REFUSED_SERVER_UNAVAILABLE: "Connection Refused: broker unavailable.",
    CONNACK_REFUSED_BAD_USERNAME_PASSWORD: "Connection Refused: bad user name or password.",
    CONNACK_REFUSED_NOT_AUTHORIZED: "Connection Refused: not authorised.",
}


def connack_string(connack_code: int | ReasonCode) -> str:
    """Return the string associated with a CONNACK result or CONNACK reason code."""
    if isinstance(connack_code, ReasonCode):
        return str(connack_code)
    return _CONNACK_STRINGS.get(connack_code, "Connection Refused: unknown reason.")


_CONNACK_REASON_NAMES = {
    CONNACK_ACCEPTED: "Success",
    CONNACK_REFUSED_PROTOCOL_VERSION: "Unsupported protocol version",
    CONNACK_REFUSED_IDENTIFIER_REJECTED: "Client identifier not valid",
    CONNACK_REFUSED_SERVER_UNAVAILABLE: "Server unavailable",
    CONNACK_REFUSED_BAD_USERNAME_PASSWORD: "Bad user name or password",
    CONNACK_REFUSED_NOT_AUTHORIZED: "Not authorized",
}


def convert_connack_rc_to_reason_code(connack_code: ConnackCode) -> ReasonCode:
    """Convert a MQTTv3 CONNACK result code to the MQTT 5 ReasonCode of the same meaning."""
    name = _CONNACK_REASON_NAMES.get(connack_code, "Unspecified error")
    return ReasonCode(PacketTypes.CONNACK, name)


_DISCONNECT_REASON_NAMES = {
    MQTT_ERR_SUCCESS: "Success",
    MQTT_ERR_KEEPALIVE: "Keep alive timeout",
    MQTT_ERR_CONN_LOST: "Unspecified error",
    MQTT_ERR_PROTOCOL: "Protocol error",
}


def convert_disconnect_error_code_to_reason_code(rc: MQTTErrorCode) -> ReasonCode:
    """Convert an MQTTErrorCode to the DISCONNECT ReasonCode on_disconnect (V2) receives."""
    name = _DISCONNECT_REASON_NAMES.get(rc, "Unspecified error")
    return ReasonCode(PacketTypes.DISCONNECT, name)


def topic_matches_sub(sub: str, topic: str) -> bool:
    """Check whether a topic matches a subscription (``foo/#`` matches ``foo``, and a
    leading wildcard does not match ``$``-topics). The filter is not validated."""
    return _core.topic_matches_sub(sub, topic)


def _base62(num: int, base: str = "", padding: int = 1) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    base = base or digits
    out = []
    while num:
        num, rest = divmod(num, len(base))
        out.append(base[rest])
    while len(out) < padding:
        out.append("0")
    return "".join(reversed(out))


def _force_bytes(s: str | bytes | bytearray) -> bytes | bytearray:
    if isinstance(s, str):
        return s.encode("utf-8")
    return s


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


class ConnectFlags(NamedTuple):
    """Contains additional information passed to `on_connect` callback"""

    session_present: bool


class DisconnectFlags(NamedTuple):
    """Contains additional information passed to `on_disconnect` callback"""

    is_disconnect_packet_from_server: bool


class WebsocketConnectionError(ConnectionError):
    """WebsocketConnectionError is a subclass of ConnectionError."""


# ---------------------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------------------
_INFO_LOCK = threading.Lock()


class MQTTMessageInfo:
    """Returned by publish(): the mid of the message, its rc, and a way to wait until it is
    published. Tuple-like for 1.x code: ``rc, mid = client.publish(...)``."""

    __slots__ = ("_event", "_iterpos", "_published", "_queued", "mid", "rc")

    # Only mid and rc are set at creation (publish() makes one per call); the other slots
    # are read with their defaults until first set: _published False, _event None (the
    # threading.Event of wait_for_publish), _iterpos 0, and _queued False (a QoS>0 message
    # queued while disconnected: rc is 4 but it will be delivered).
    _event: threading.Event | None
    _iterpos: int
    _published: bool
    _queued: bool

    def __init__(self, mid: int):
        self.mid = mid
        self.rc: MQTTErrorCode | int = MQTT_ERR_SUCCESS

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
        event = getattr(self, "_event", None)
        if event is not None:
            event.set()

    def _check_rc(self) -> None:
        if self.rc == MQTT_ERR_QUEUE_SIZE:
            raise _fail("wait_queue_full")
        if self.rc == MQTT_ERR_AGAIN or getattr(self, "_queued", False):
            return
        if self.rc > 0:
            raise RuntimeError(f"Message publish failed: {error_string(self.rc)}")

    def wait_for_publish(self, timeout: float | None = None) -> None:
        """Block until the message is published, or until `timeout` seconds pass."""
        self._check_rc()
        if getattr(self, "_published", False):
            return
        with _INFO_LOCK:  # between waiters: one event per info
            event = getattr(self, "_event", None)
            if event is None:
                event = self._event = threading.Event()
        if not getattr(self, "_published", False):
            deadline = None if timeout is None else time_func() + timeout
            # Slices keep Ctrl-C responsive on every platform.
            while not event.is_set() and not getattr(self, "_published", False):
                remaining = 0.1 if deadline is None else min(0.1, deadline - time_func())
                if remaining <= 0:
                    break
                event.wait(remaining)
        self._check_rc()

    def is_published(self) -> bool:
        """True once the message has been published (QoS 0 written, QoS 1/2 acknowledged)."""
        self._check_rc()
        return getattr(self, "_published", False)


class MQTTMessage:
    """A message, as passed to `on_message`: topic, payload, qos, retain, mid, dup,
    properties (MQTT 5), timestamp (monotonic), state and info."""

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


# ---------------------------------------------------------------------------------------
# The client
# ---------------------------------------------------------------------------------------
_CS_NEW = 0
_CS_CONNECT_ASYNC = 1
_CS_CONNECTING = 2
_CS_CONNECTED = 3
_CS_CONNECTION_LOST = 4
_CS_DISCONNECTING = 5
_CS_DISCONNECTED = 6

_CAUSE_RC = {
    _core.CAUSE_REQUESTED: MQTT_ERR_SUCCESS,
    _core.CAUSE_SERVER: MQTT_ERR_SUCCESS,
    _core.CAUSE_KEEPALIVE: MQTT_ERR_KEEPALIVE,
    _core.CAUSE_LOST: MQTT_ERR_CONN_LOST,
    _core.CAUSE_PROTOCOL: MQTT_ERR_PROTOCOL,
    _core.CAUSE_REFUSED: MQTT_ERR_CONN_REFUSED,
}

_BATCH = 256
_new_message = object.__new__
# Event kinds, read once (the dispatch loop compares every event against them).
_EV_MESSAGE = _core.EV_MESSAGE
_EV_PUBLISHED = _core.EV_PUBLISHED
# rc -> MQTTErrorCode member, without Enum.__call__ on every publish().
_ERR_BY_VALUE = {int(code): code for code in MQTTErrorCode}


def _callback_property(name: str, doc: str) -> property:
    attribute = "_" + name

    def getter(self: Client) -> Any:
        return getattr(self, attribute)

    def setter(self: Client, func: Any) -> None:
        with self._callback_mutex:
            setattr(self, attribute, func)
        if name == "on_log":
            self._update_log_events()

    return property(getter, setter, doc=doc)


def _decorator_factory(name: str) -> Callable[[Client], Callable[[Any], Any]]:
    def factory(self: Client) -> Callable[[Any], Any]:
        def decorator(func: Any) -> Any:
            setattr(self, name, func)
            return func

        return decorator

    factory.__name__ = name[3:] + "_callback"
    factory.__doc__ = f"Decorator: ``@client.{factory.__name__}()`` sets ``{name}``."
    return factory


class Client:
    """MQTT version 5.0, 3.1.1 and 3.1 client with paho-mqtt 2.2's API.

    ``Client(callback_api_version, client_id="", clean_session=None, userdata=None,
    protocol=MQTTv311, transport="tcp", reconnect_on_failure=True, manual_ack=False)``.
    """

    def __init__(
        self,
        callback_api_version: CallbackAPIVersion = CallbackAPIVersion.VERSION1,
        client_id: str | None = "",
        clean_session: bool | None = None,
        userdata: Any = None,
        protocol: MQTTProtocolVersion = MQTTv311,
        transport: str = "tcp",
        reconnect_on_failure: bool = True,
        manual_ack: bool = False,
    ) -> None:
        transport = transport.lower()
        if transport not in ("websockets", "tcp", "unix"):
            raise ValueError(f'transport must be "websockets", "tcp" or "unix", not {transport}')
        if isinstance(callback_api_version, (str, bytes)):
            # 1.x form Client("client-id", clean_session, userdata): paho 2.2 raises
            # TypeError, ferromqtt runs it with VERSION1 callbacks.
            if client_id not in ("", None):
                client_id, clean_session, userdata = (  # type: ignore[assignment]
                    callback_api_version,
                    client_id,
                    clean_session,
                )
            else:
                client_id = callback_api_version  # type: ignore[assignment]
            callback_api_version = CallbackAPIVersion.VERSION1
        if callback_api_version == CallbackAPIVersion.VERSION1:
            warnings.warn(
                "Callback API version 1 is deprecated, update to latest version",
                category=DeprecationWarning,
                stacklevel=2,
            )
        # As paho: the membership test itself raises TypeError for non-members on 3.11.
        if callback_api_version not in CallbackAPIVersion:
            raise ValueError("Unsupported callback API version")
        self._callback_api_version = callback_api_version
        self._manual_ack = manual_ack
        self._transport = transport
        self._protocol = MQTTProtocolVersion(protocol)
        self._userdata = userdata
        self._keepalive = 60
        self._connect_timeout = 5.0
        self._client_mode = MQTT_CLIENT
        self._clean_start: int | bool = MQTT_CLEAN_START_FIRST_ONLY
        self._clean_session = True
        if self._protocol == MQTTv5:
            if clean_session is not None:
                raise _fail("clean_session_v5")
        else:
            if clean_session is None:
                clean_session = True
            if not clean_session and (client_id == "" or client_id is None):
                raise _fail("clean_session_without_id")
            self._clean_session = clean_session
        if client_id == "" or client_id is None:
            if self._protocol == MQTTv31:
                self._client_id = _base62(uuid.uuid4().int, padding=22).encode("utf8")
            else:
                self._client_id = b""
        else:
            self._client_id = _force_bytes(client_id)
        self._username: bytes | None = None
        self._password: bytes | None = None
        self._reconnect_min_delay = 1
        self._reconnect_max_delay = 120
        self._reconnect_delay: int | None = None
        self._reconnect_on_failure = reconnect_on_failure
        self._state = _CS_NEW
        self._max_inflight_messages = 20
        self._max_queued_messages = 0
        self._connect_properties: Properties | None = None
        self._will = False
        self._will_topic = b""
        self._will_payload: bytes | bytearray = b""
        self._will_qos = 0
        self._will_retain = False
        self._will_properties: Properties | None = None
        self._on_message_filtered = MQTTMatcher()
        # Filters with a callback: the matcher is walked only when there are some.
        self._filtered_callbacks: set[str] = set()
        self._host = ""
        self._port = 1883
        self._bind_address = ""
        self._bind_port = 0
        self._callback_mutex = threading.RLock()
        self._loop_mutex = threading.RLock()
        self._thread: threading.Thread | None = None
        self._thread_terminate = False
        self._in_loop = False
        self._logger: logging.Logger | None = None
        self._on_log: Any = None
        self._on_pre_connect: Any = None
        self._on_connect: Any = None
        self._on_connect_fail: Any = None
        self._on_subscribe: Any = None
        self._on_message: Any = None
        self._on_publish: Any = None
        self._on_unsubscribe: Any = None
        self._on_disconnect: Any = None
        self._on_socket_open: Any = None
        self._on_socket_close: Any = None
        self._on_socket_register_write: Any = None
        self._on_socket_unregister_write: Any = None
        self._websocket_path = "/mqtt"
        self._websocket_extra_headers: WebSocketHeaders | None = None
        self._tls = _transport.TlsConfig()
        self._proxy: dict[str, Any] | None = None
        self._mqttv5_first_connect = True
        self.suppress_exceptions = False
        # The Rust core is made on first use: no IO and no threads at construction.
        self._core: Any = None
        self._core_lock = threading.Lock()
        # mid -> MQTTMessageInfo (QoS 0 until written, QoS>0 until acknowledged)
        self._infos: dict[int, MQTTMessageInfo] = {}
        self._out_messages: dict[int, MQTTMessage] = {}
        self._pending_events: deque[tuple[Any, ...]] = deque()
        self._sock: _socket.socket | None = None
        # paho's write interest of external loops: on_socket_register_write fired and
        # on_socket_unregister_write not yet.
        self._registered_write = False
        self._last_batch = 0
        self._dispatching = False

    def __repr__(self) -> str:
        fields = _display.client_fields(self)
        return "<ferromqtt.client.Client " + ", ".join(f"{k}: {v}" for k, v in fields.items()) + ">"

    def _repr_html_(self) -> str:
        return _display.html_table("ferromqtt.client.Client", _display.client_fields(self))

    def __del__(self) -> None:
        core = getattr(self, "_core", None)
        if core is not None:
            core.abort()
        sock = getattr(self, "_sock", None)
        if sock is not None:
            sock.close()

    # ---- the core ---------------------------------------------------------------------
    def _get_core(self) -> Any:
        core = self._core
        if core is None:
            with self._core_lock:
                if self._core is None:
                    self._core = _core.ClientCore(
                        int(self._protocol),
                        self._max_inflight_messages,
                        self._max_queued_messages,
                    )
                    self._core.set_log_enabled(self._log_wanted())
                core = self._core
        return core

    def _log_wanted(self) -> bool:
        return self._on_log is not None or self._logger is not None

    def _update_log_events(self) -> None:
        if self._core is not None:
            self._core.set_log_enabled(self._log_wanted())

    def _has_connection(self) -> bool:
        return self._core is not None and self._core.has_connection()

    # ---- properties -------------------------------------------------------------------
    def _check_not_connected(self, name: str) -> None:
        if self._has_connection():
            raise RuntimeError(f"updating {name} on established connection is not supported")

    @property
    def host(self) -> str:
        """Host to connect to. Settable only while not connected."""
        return self._host

    @host.setter
    def host(self, value: str) -> None:
        self._check_not_connected("host")
        if not value:
            raise _fail("invalid_host")
        self._host = value

    @property
    def port(self) -> int:
        """Broker TCP port. Settable only while not connected."""
        return self._port

    @port.setter
    def port(self, value: int) -> None:
        self._check_not_connected("port")
        if value <= 0:
            raise _fail("invalid_port")
        self._port = value

    @property
    def keepalive(self) -> int:
        """Keepalive in seconds; MQTT 5 Server Keep Alive overrides it."""
        return self._keepalive

    @keepalive.setter
    def keepalive(self, value: int) -> None:
        self._check_not_connected("keepalive")
        if value < 0:
            raise _fail("invalid_keepalive")
        self._keepalive = value

    @property
    def transport(self) -> str:
        """Transport: "tcp", "websockets" or "unix"."""
        return self._transport

    @transport.setter
    def transport(self, value: str) -> None:
        self._check_not_connected("transport")
        self._transport = value

    @property
    def protocol(self) -> MQTTProtocolVersion:
        """Protocol version (read-only)."""
        return self._protocol

    @property
    def connect_timeout(self) -> float:
        """TCP connection timeout in seconds."""
        return self._connect_timeout

    @connect_timeout.setter
    def connect_timeout(self, value: float) -> None:
        self._check_not_connected("connect_timeout")
        if value <= 0.0:
            raise ValueError("timeout must be a positive number")
        self._connect_timeout = value

    @property
    def username(self) -> str | None:
        """The username used to connect to the MQTT broker, or None."""
        if self._username is None:
            return None
        return self._username.decode("utf-8")

    @username.setter
    def username(self, value: str | None) -> None:
        self._check_not_connected("username")
        self._username = None if value is None else value.encode("utf-8")

    @property
    def password(self) -> str | None:
        """The password used to connect to the MQTT broker, or None."""
        if self._password is None:
            return None
        return self._password.decode("utf-8")

    @password.setter
    def password(self, value: str | None) -> None:
        self._check_not_connected("password")
        self._password = None if value is None else _force_bytes(value)  # type: ignore[assignment]

    @property
    def max_inflight_messages(self) -> int:
        """Maximum QoS>0 messages in flight at once (0: unlimited)."""
        return self._max_inflight_messages

    @max_inflight_messages.setter
    def max_inflight_messages(self, value: int) -> None:
        self._check_not_connected("max_inflight_messages")
        if value < 0:
            raise _fail("max_inflight_negative")
        self._max_inflight_messages = value
        if self._core is not None:
            self._core.set_limits(min(value, 65535), self._max_queued_messages)

    @property
    def max_queued_messages(self) -> int:
        """Maximum QoS>0 messages held, in flight and waiting (0: unlimited)."""
        return self._max_queued_messages

    @max_queued_messages.setter
    def max_queued_messages(self, value: int) -> None:
        self._check_not_connected("max_queued_messages")
        if value < 0:
            raise _fail("max_queued_type")
        self._max_queued_messages = value
        if self._core is not None:
            self._core.set_limits(min(self._max_inflight_messages, 65535), value)

    @property
    def will_topic(self) -> str | None:
        """The topic of the will, "" when none is set."""
        return self._will_topic.decode("utf-8")

    @property
    def will_payload(self) -> bytes | bytearray | None:
        """The payload of the will, b"" when none is set."""
        return self._will_payload

    @property
    def logger(self) -> logging.Logger | None:
        return self._logger

    @logger.setter
    def logger(self, value: logging.Logger | None) -> None:
        self._logger = value
        self._update_log_events()

    @property
    def callback_api_version(self) -> CallbackAPIVersion:
        """The callback API version given at construction (read-only)."""
        return self._callback_api_version

    # ---- configuration ----------------------------------------------------------------
    def reinitialise(
        self, client_id: str = "", clean_session: bool = True, userdata: Any = None
    ) -> None:
        if self._core is not None:
            self._core.abort()
        self.__init__(  # type: ignore[misc]
            self._callback_api_version,
            client_id=client_id,
            clean_session=clean_session,
            userdata=userdata,
        )

    def ws_set_options(self, path: str = "/mqtt", headers: WebSocketHeaders | None = None) -> None:
        """WebSocket request path and extra headers (a dict, or a callable that gets the
        default handshake headers and returns the headers to send)."""
        self._websocket_path = path
        if headers is not None and not (isinstance(headers, dict) or callable(headers)):
            raise ValueError(
                "'headers' option to ws_set_options has to be either a dictionary or callable"
            )
        self._websocket_extra_headers = headers

    def _websocket_headers(self) -> list[tuple[str, str]]:
        return _transport.websocket_headers(self._websocket_extra_headers, self._host, self._port)

    def tls_set_context(self, context: Any = None) -> None:
        """Use TLS configured by an ``ssl.SSLContext`` (default: system CAs, host name
        check). Honoured: ``verify_mode`` (CERT_NONE disables verification),
        ``check_hostname``, the CA certificates loaded into it, ``minimum_version`` and
        ``maximum_version``. Client certificates and ciphers must be given to tls_set(),
        since an SSLContext does not expose them. TLS runs in Rust (rustls)."""
        self._tls.set_context(context)

    def tls_set(
        self,
        ca_certs: str | None = None,
        certfile: str | None = None,
        keyfile: str | None = None,
        cert_reqs: Any = None,
        tls_version: int | None = None,
        ciphers: str | None = None,
        keyfile_password: Any = None,
        alpn_protocols: list[str] | None = None,
    ) -> None:
        """Configure TLS as paho does (files are checked here, by Python's ssl module).
        ``tls_version``: PROTOCOL_TLS_CLIENT (default: TLS 1.2 and 1.3),
        PROTOCOL_TLSv1_2, ssl.TLSVersion.TLSv1_2 or TLSv1_3. ``ciphers``: an OpenSSL
        cipher list of suites rustls implements. ``keyfile_password`` decrypts an
        encrypted PKCS#8 key. Anything rustls cannot do raises ValueError naming it."""
        self._tls.set(
            ca_certs,
            certfile,
            keyfile,
            cert_reqs,
            tls_version,
            ciphers,
            keyfile_password,
            alpn_protocols,
        )

    def tls_insecure_set(self, value: bool) -> None:
        """Skip the check of the server's host name (the certificate chain still is)."""
        self._tls.set_insecure(value)

    @property
    def _ssl(self) -> bool:
        return self._tls.configured

    @property
    def _ssl_context(self) -> Any:
        return self._tls.context

    def proxy_set(self, **proxy_args: Any) -> None:
        """Connect through a proxy, as paho (PySocks' keywords): ``proxy_type`` (1 or
        socks.SOCKS4, 2 or socks.SOCKS5, 3 or socks.HTTP), ``proxy_addr``, and optionally
        ``proxy_port`` (default 1080 for SOCKS, 8080 for HTTP), ``proxy_rdns`` (let the
        proxy resolve the broker's name; default True), ``proxy_username``,
        ``proxy_password``. PySocks is not needed."""
        if not _transport.proxy_is_valid(proxy_args):
            raise _fail("proxy_invalid")
        self._proxy = proxy_args

    def _proxy_arguments(self) -> tuple[Any, ...] | None:
        """The core's proxy tuple: proxy_set(), else the mqtt_proxy environment variable
        (as paho); never for a Unix socket."""
        if self._transport == "unix":
            return None
        proxy = self._proxy if self._proxy is not None else _transport.environment_proxy(self._host)
        return _transport.proxy_arguments(proxy)

    def enable_logger(self, logger: logging.Logger | None = None) -> None:
        """Log through `logger` (default: the "paho.mqtt.client" logger, as paho)."""
        if logger is None:
            if self._logger is not None:
                return
            logger = logging.getLogger("paho.mqtt.client")
        self.logger = logger

    def disable_logger(self) -> None:
        self.logger = None

    def username_pw_set(self, username: str | None, password: str | bytes | None = None) -> None:
        """Set a username and optionally a password for broker authentication."""
        self._username = None if username is None else username.encode("utf-8")
        if isinstance(password, str):
            password = password.encode("utf-8")
        self._password = password

    def enable_bridge_mode(self) -> None:
        """Set the bridge bit in CONNECT (Mosquitto bridges)."""
        self._client_mode = MQTT_BRIDGE

    def is_connected(self) -> bool:
        """True between a processed successful CONNACK and the end of the connection."""
        return self._state == _CS_CONNECTED

    def max_inflight_messages_set(self, inflight: int) -> None:
        self.max_inflight_messages = inflight

    def max_queued_messages_set(self, queue_size: int) -> Client:
        if not isinstance(queue_size, int):
            raise _fail("max_queued_type")
        self.max_queued_messages = queue_size
        return self

    def message_retry_set(self, retry: int) -> None:
        """Kept for compatibility: QoS>0 messages are re-sent on reconnect only."""

    def user_data_set(self, userdata: Any) -> None:
        self._userdata = userdata

    def user_data_get(self) -> Any:
        return self._userdata

    def will_set(
        self,
        topic: str,
        payload: PayloadType = None,
        qos: int = 0,
        retain: bool = False,
        properties: Properties | None = None,
    ) -> None:
        """Set a will, sent by the broker if this client disconnects unexpectedly."""
        if topic is None or len(topic) == 0:
            raise _fail("invalid_topic")
        if qos < 0 or qos > 2:
            raise _fail("invalid_qos")
        if properties and not isinstance(properties, Properties):
            raise _fail("will_properties")
        self._will_payload = _encode_payload(payload)
        self._will = True
        self._will_topic = topic.encode("utf-8")
        self._will_qos = qos
        self._will_retain = retain
        self._will_properties = properties

    def will_clear(self) -> None:
        self._will = False
        self._will_topic = b""
        self._will_payload = b""
        self._will_qos = 0
        self._will_retain = False

    def reconnect_delay_set(self, min_delay: int = 1, max_delay: int = 120) -> None:
        self._reconnect_min_delay = min_delay
        self._reconnect_max_delay = max_delay
        self._reconnect_delay = None

    def manual_ack_set(self, on: bool) -> None:
        self._manual_ack = on

    def ack(self, mid: int, qos: int) -> MQTTErrorCode:
        """With manual_ack: acknowledge an inbound message (QoS 1 PUBACK, QoS 2 PUBCOMP)."""
        if self._manual_ack and qos in (1, 2) and self._core is not None:
            self._core.ack([(mid, qos)])
        return MQTT_ERR_SUCCESS

    # ---- connecting -------------------------------------------------------------------
    def connect(
        self,
        host: str,
        port: int = 1883,
        keepalive: int = 60,
        bind_address: str = "",
        bind_port: int = 0,
        clean_start: CleanStartOption = MQTT_CLEAN_START_FIRST_ONLY,
        properties: Properties | None = None,
    ) -> MQTTErrorCode:
        """Connect (blocking until TCP is up and CONNECT is queued; not until CONNACK)."""
        if self._protocol == MQTTv5:
            self._mqttv5_first_connect = True
        else:
            if clean_start != MQTT_CLEAN_START_FIRST_ONLY:
                raise _fail("clean_start_v3")
            if properties:
                raise _fail("properties_v3")
        self.connect_async(host, port, keepalive, bind_address, bind_port, clean_start, properties)
        return self.reconnect()

    def connect_srv(
        self,
        domain: str | None = None,
        keepalive: int = 60,
        bind_address: str = "",
        bind_port: int = 0,
        clean_start: CleanStartOption = MQTT_CLEAN_START_FIRST_ONLY,
        properties: Properties | None = None,
    ) -> MQTTErrorCode:
        """Connect to a broker found by a DNS SRV lookup of ``_mqtt._tcp.<domain>``
        (``_secure-mqtt._tcp`` with TLS; default domain: this host's), trying each answer
        in turn, as paho. Needs dnspython; ValueError when it is missing, when DNS has no
        answer or when no listed broker can be reached."""
        if domain is None:
            domain = _socket.getfqdn()
            domain = domain[domain.find(".") + 1 :]
        for host, port in _transport.srv_targets(domain, self._tls.configured):
            try:
                return self.connect(
                    host, port, keepalive, bind_address, bind_port, clean_start, properties
                )
            except Exception:  # noqa: BLE001  paho tries the next answer on any failure
                pass
        raise _fail("srv_no_host")

    def connect_async(
        self,
        host: str,
        port: int = 1883,
        keepalive: int = 60,
        bind_address: str = "",
        bind_port: int = 0,
        clean_start: CleanStartOption = MQTT_CLEAN_START_FIRST_ONLY,
        properties: Properties | None = None,
    ) -> None:
        """Store the connection parameters; loop_start()/loop_forever() connects."""
        if bind_port < 0:
            raise _fail("invalid_bind_port")
        if self._core is not None:
            self._core.abort()
        self._state = _CS_NEW
        self.host = host
        self.port = port
        self.keepalive = keepalive
        self._bind_address = bind_address
        self._bind_port = bind_port
        self._clean_start = clean_start
        self._connect_properties = properties
        self._state = _CS_CONNECT_ASYNC

    def _clean_for_this_connect(self) -> bool:
        if self._protocol == MQTTv5:
            if self._clean_start == MQTT_CLEAN_START_FIRST_ONLY:
                return self._mqttv5_first_connect
            return bool(self._clean_start)
        return self._clean_session

    def reconnect(self) -> MQTTErrorCode:
        """Reconnect using the stored parameters."""
        if len(self._host) == 0:
            raise _fail("invalid_host")
        if self._port <= 0:
            raise _fail("invalid_port")
        core = self._get_core()
        self._state = _CS_CONNECTING
        if self._sock is not None:
            self._close_socket_object()
        core.abort()
        self._drop_unsent_qos0()
        self._call_simple("on_pre_connect")
        will = None
        if self._will:
            will = (
                self._will_topic.decode("utf-8"),
                bytes(self._will_payload),
                self._will_qos,
                self._will_retain,
                _pack_properties(self._will_properties),
            )
        client_id = self._client_id.decode("utf-8", errors="replace")
        self._easy_log(
            MQTT_LOG_DEBUG,
            "Sending CONNECT (u%d, p%d, wr%d, wq%d, wf%d, c%d, k%d) client_id=%s",
            self._username is not None,
            self._password is not None,
            self._will_retain,
            self._will_qos,
            self._will,
            self._clean_for_this_connect(),
            self._keepalive,
            self._client_id,
        )
        core.connect(
            self._host,
            self._port,
            self._keepalive,
            client_id,
            self._clean_for_this_connect(),
            self._connect_timeout,
            self._bind_address,
            self._bind_port,
            None if self._username is None else self._username.decode("utf-8"),
            None if self._password is None else bytes(self._password),
            will,
            _pack_properties(self._connect_properties) if self._protocol == MQTTv5 else None,
            int(self._protocol),
            self._client_mode == MQTT_BRIDGE,
            self._transport,
            self._websocket_path,
            self._websocket_headers() if self._transport == "websockets" else None,
            self._tls.arguments(),
            self._proxy_arguments(),
        )
        # The socket object is made only when someone looks at it (external loops).
        if self._on_socket_open is not None:
            sock = self.socket()
            if sock is not None:
                self._call_socket_callback("on_socket_open", sock)
        self._want_write()  # CONNECT is queued
        return MQTT_ERR_SUCCESS

    def _drop_unsent_qos0(self) -> None:
        # As paho's reconnect: QoS 0 not yet written is dropped; waiters wake.
        for mid, info in list(self._infos.items()):
            if mid not in self._out_messages:
                info.rc = MQTT_ERR_CONN_LOST
                info._set_as_published()
                del self._infos[mid]

    def disconnect(
        self, reasoncode: ReasonCode | None = None, properties: Properties | None = None
    ) -> MQTTErrorCode:
        """Disconnect cleanly (DISCONNECT, then close). The will is not sent."""
        core = self._core
        if core is None or not core.is_open():
            self._state = _CS_DISCONNECTED
            if core is not None:
                core.interrupt()
            return _rc("disconnect_not_connected")
        self._state = _CS_DISCONNECTING
        code = 0 if reasoncode is None else reasoncode.value
        if not core.disconnect(code, _pack_properties(properties)):
            self._state = _CS_DISCONNECTED
            return _rc("disconnect_not_connected")
        self._want_write()
        if not self._loop_running():
            # As paho without a loop thread: on_disconnect fires inside disconnect().
            self._drain_until_disconnected()
        return MQTT_ERR_SUCCESS

    def _loop_running(self) -> bool:
        return (
            self._in_loop
            or self._dispatching
            or (self._thread is not None and self._thread.is_alive())
        )

    def _drain_until_disconnected(self) -> None:
        deadline = time_func() + max(self._connect_timeout, 1.0)
        while self._state != _CS_DISCONNECTED and time_func() < deadline:
            self._process(max(0.0, deadline - time_func()))

    # ---- messaging --------------------------------------------------------------------
    def publish(
        self,
        topic: str,
        payload: PayloadType = None,
        qos: int = 0,
        retain: bool = False,
        properties: Properties | None = None,
    ) -> MQTTMessageInfo:
        """Publish a message; returns an MQTTMessageInfo (rc, mid, wait_for_publish)."""
        if self._protocol != MQTTv5 and (topic is None or len(topic) == 0):
            raise _fail("publish_empty_topic")
        topic_bytes = topic.encode("utf-8")
        if b"+" in topic_bytes or b"#" in topic_bytes:
            raise _fail("publish_wildcard")
        if len(topic_bytes) > 65535:
            raise _fail("publish_topic_too_long")
        if qos < 0 or qos > 2:
            raise _fail("invalid_qos")
        local_payload = payload if payload.__class__ is bytes else _encode_payload(payload)
        if len(local_payload) > 268435455:
            raise _fail("payload_too_large")
        if local_payload.__class__ is bytearray:
            local_payload = bytes(local_payload)
        core = self._core or self._get_core()
        packed = None
        if properties is not None and self._protocol == MQTTv5:
            packed = bytes(properties.pack())
        if qos > 0:
            return self._publish_tracked(
                core, topic, topic_bytes, local_payload, qos, retain, properties, packed
            )
        info = MQTTMessageInfo(0)
        # _writes_inline(), spelt out: this is the hot path.
        inline = (
            self._thread is None
            and not self._dispatching
            and self._on_socket_register_write is None
        )
        # The core registers the info (see ClientCore.publish) before the loop thread can
        # handle the message's completion.
        rc, mid = core.publish(
            topic, local_payload, 0, retain, packed, None if inline else (self._infos, info)
        )
        info.mid = mid
        if rc:
            info.rc = _ERR_BY_VALUE[rc]
            return info
        if not inline:
            if self._on_socket_register_write is not None:
                self._want_write()
            return info
        # As paho without a loop thread: the message is written at once, so on_publish
        # fires before publish() returns.
        self._handle_published((_core.EV_PUBLISHED, mid, 0, None), info)
        return info

    def _writes_inline(self) -> bool:
        """Whether paho would write a packet from the calling thread (no loop thread, not
        inside a callback, no external-loop write registration)."""
        return (
            self._thread is None
            and not self._dispatching
            and self._on_socket_register_write is None
        )

    def _publish_tracked(
        self,
        core: Any,
        topic: str,
        topic_bytes: bytes,
        local_payload: bytes,
        qos: int,
        retain: bool,
        properties: Properties | None,
        packed: bytes | None,
    ) -> MQTTMessageInfo:
        """QoS 1/2: the message and its info are kept (by mid) until acknowledged."""
        message = MQTTMessage(0, topic_bytes)
        message.timestamp = time_func()
        message.payload = local_payload
        message.qos = qos
        message.retain = retain
        message.properties = properties
        message.state = mqtt_ms_wait_for_puback if qos == 1 else mqtt_ms_wait_for_pubrec
        info = message.info
        # The core registers both, the message first (_handle_published reads it after the
        # info), before the loop thread can handle the acknowledgement.
        rc, mid = core.publish(
            topic,
            local_payload,
            qos,
            retain,
            packed,
            (self._out_messages, message),
            (self._infos, info),
        )
        message.mid = info.mid = mid
        if rc == MQTT_ERR_SUCCESS:
            self._want_write()
            return info
        info.rc = _ERR_BY_VALUE[rc]
        if rc == MQTT_ERR_NO_CONN:
            info._queued = True
            message.state = mqtt_ms_publish
        return info

    def subscribe(
        self,
        topic: Any,
        qos: int = 0,
        options: SubscribeOptions | None = None,
        properties: Properties | None = None,
    ) -> tuple[MQTTErrorCode, int | None]:
        """Subscribe: "t", ("t", qos), [("t", qos), ...]; MQTT 5 also SubscribeOptions."""
        topic_qos_list: list[tuple[str, Any]] | None = None
        if isinstance(topic, tuple):
            if self._protocol == MQTTv5:
                topic, options = topic
                if not isinstance(options, SubscribeOptions):
                    raise _fail("options_not_subscribeoptions")
            else:
                topic, qos = topic
        if isinstance(topic, (bytes, str)):
            if qos < 0 or qos > 2:
                raise _fail("invalid_qos")
            if self._protocol == MQTTv5:
                if options is None:
                    options = SubscribeOptions(qos=qos)
                elif qos != 0:
                    raise _fail("options_and_qos")
                if not isinstance(options, SubscribeOptions):
                    raise _fail("options_not_subscribeoptions")
                topic_qos_list = [(topic, options)]  # type: ignore[list-item]
            else:
                if topic is None or len(topic) == 0:
                    raise _fail("invalid_topic")
                topic_qos_list = [(topic, qos)]  # type: ignore[list-item]
        elif isinstance(topic, list):
            if len(topic) == 0:
                raise _fail("empty_topic_list")
            topic_qos_list = []
            if self._protocol == MQTTv5:
                for t, o in topic:
                    if not isinstance(o, SubscribeOptions):
                        if o < 0 or o > 2:
                            raise _fail("invalid_qos")
                        o = SubscribeOptions(qos=o)
                    topic_qos_list.append((t, o))
            else:
                for t, q in topic:
                    if isinstance(q, SubscribeOptions) or q < 0 or q > 2:
                        raise _fail("invalid_qos")
                    if t is None or len(t) == 0 or not isinstance(t, (bytes, str)):
                        raise _fail("invalid_topic")
                    topic_qos_list.append((t, q))
        if topic_qos_list is None:
            raise _fail("no_topic")
        items = []
        for t, o in topic_qos_list:
            filter_bytes = t.encode("utf-8")  # bytes topic -> AttributeError, as paho
            if not _filter_ok(filter_bytes):
                raise _fail("invalid_filter")
            if isinstance(o, SubscribeOptions):
                items.append((t, o.QoS, o.noLocal, o.retainAsPublished, o.retainHandling))
            else:
                items.append((t, o, False, False, 0))
        if self._core is None or not self._core.is_open():
            return (_rc("subscribe_not_connected"), None)
        try:
            rc, mid = self._core.subscribe(
                items, _pack_properties(properties) if self._protocol == MQTTv5 else None
            )
        except ValueError:
            raise _fail("invalid_filter") from None
        if rc == MQTT_ERR_SUCCESS:
            self._want_write()
        return (MQTTErrorCode(rc), mid)

    def unsubscribe(
        self, topic: str | list[str], properties: Properties | None = None
    ) -> tuple[MQTTErrorCode, int | None]:
        """Unsubscribe from one topic filter or a list of them."""
        topic_list = None
        if topic is None:
            raise _fail("invalid_topic")
        if isinstance(topic, (bytes, str)):
            if len(topic) == 0:
                raise _fail("invalid_topic")
            topic_list = [topic]
        elif isinstance(topic, list):
            topic_list = []
            for t in topic:
                if len(t) == 0 or not isinstance(t, (bytes, str)):
                    raise _fail("invalid_topic")
                topic_list.append(t)
        if topic_list is None:
            raise _fail("no_topic")
        topic_list = [t.decode("utf-8") if isinstance(t, bytes) else t for t in topic_list]
        if self._core is None or not self._core.is_open():
            return (_rc("unsubscribe_not_connected"), None)
        if not topic_list:
            return (MQTT_ERR_SUCCESS, None)
        rc, mid = self._core.unsubscribe(
            topic_list, _pack_properties(properties) if self._protocol == MQTTv5 else None
        )
        if rc == MQTT_ERR_SUCCESS:
            self._want_write()
        return (MQTTErrorCode(rc), mid)

    def drop_out_messages(self) -> list[MQTTMessage]:
        """Remove and return every unacknowledged outgoing QoS>0 message."""
        if self._core is None:
            return []
        dropped = []
        for mid, _topic, _payload, _qos, _retain, _props in self._core.drop_out_messages():
            self._infos.pop(mid, None)
            message = self._out_messages.pop(mid, None)
            if message is not None:
                dropped.append(message)
        return dropped

    # ---- the network loop -------------------------------------------------------------
    def loop(self, timeout: float = 1.0) -> MQTTErrorCode:
        """Process network events for up to `timeout` seconds (one batch)."""
        if timeout < 0.0:
            raise _fail("negative_timeout")
        if not self._has_connection() and not self._pending_events:
            if self._core is None:
                return _rc("loop_not_connected")
            # Events left after the connection ended (e.g. its on_disconnect).
            rc = self._process(0.0)
            return rc if self._last_batch else _rc("loop_not_connected")
        rc = self._process(timeout)
        self._written()  # as paho's loop() ends with loop_write()
        return rc

    def _process(self, timeout: float) -> MQTTErrorCode:
        """Take one batch of events (waiting up to `timeout`) and run its callbacks."""
        with self._loop_mutex:
            if not self._pending_events:
                core = self._core
                if core is None:
                    return MQTT_ERR_NO_CONN
                self._pending_events.extend(core.next_events(timeout, _BATCH))
            self._last_batch = len(self._pending_events)
            if self._last_batch and self._state != _CS_DISCONNECTING:
                # Anything arriving answers what was queued before: that has been written.
                # (After disconnect() the write interest ends as the socket closes.)
                self._written()
            self._dispatching = True
            try:
                return self._dispatch()
            finally:
                self._dispatching = False

    def loop_forever(
        self, timeout: float = 1.0, retry_first_connection: bool = False
    ) -> MQTTErrorCode:
        """Run the network loop until disconnect(), reconnecting after failures."""
        self._in_loop = True
        try:
            return self._loop_forever(timeout, retry_first_connection)
        finally:
            self._in_loop = False

    def _loop_forever(self, timeout: float, retry_first_connection: bool) -> MQTTErrorCode:
        run = True
        while run:
            if self._thread_terminate:
                break
            if self._state == _CS_CONNECT_ASYNC:
                try:
                    self.reconnect()
                except OSError:
                    self._handle_on_connect_fail()
                    if not retry_first_connection:
                        raise
                    self._easy_log(MQTT_LOG_DEBUG, "Connection failed, retrying")
                    self._reconnect_wait()
            else:
                break
        rc = MQTT_ERR_SUCCESS
        while run:
            rc = MQTT_ERR_SUCCESS
            while rc == MQTT_ERR_SUCCESS:
                rc = self._loop_once(timeout)
                if (
                    self._thread_terminate
                    and not self._out_messages
                    and self._state != _CS_DISCONNECTING
                ):
                    rc = MQTT_ERR_NOMEM
                    run = False
            if self._should_exit() or not run or not self._reconnect_on_failure:
                run = False
            else:
                self._reconnect_wait()
                if self._should_exit():
                    run = False
                else:
                    try:
                        self.reconnect()
                    except OSError:
                        self._handle_on_connect_fail()
                        self._easy_log(MQTT_LOG_DEBUG, "Connection failed, retrying")
        return rc

    def _loop_once(self, timeout: float) -> MQTTErrorCode:
        if self._pending_events or self._has_connection():
            rc = self._process(timeout)
            self._written()
            return rc
        if self._core is not None and self._state not in (_CS_CONNECTION_LOST, _CS_DISCONNECTED):
            # The task ended; its last events (on_disconnect) may still be queued.
            rc = self._process(min(timeout, 0.1))
            if rc != MQTT_ERR_SUCCESS:
                return rc
            if not self._has_connection() and not self._pending_events:
                return MQTT_ERR_CONN_LOST
            return rc
        return MQTT_ERR_NO_CONN

    def _should_exit(self) -> bool:
        return self._state in (_CS_DISCONNECTING, _CS_DISCONNECTED) or self._thread_terminate

    def _reconnect_wait(self) -> None:
        now = time_func()
        if self._reconnect_delay is None:
            self._reconnect_delay = self._reconnect_min_delay
        else:
            self._reconnect_delay = min(self._reconnect_delay * 2, self._reconnect_max_delay)
        target = now + self._reconnect_delay
        remaining = target - now
        while not self._should_exit() and remaining > 0:
            # Events (loop_stop, disconnect) cut the wait short; no busy loop.
            if self._core is not None:
                self._process(min(remaining, 1.0))
            else:
                time.sleep(min(remaining, 0.1))
            remaining = target - time_func()

    def loop_start(self) -> MQTTErrorCode:
        """Start a daemon thread running loop_forever(retry_first_connection=True)."""
        if self._thread is not None:
            return _rc("loop_start_twice")
        self._thread_terminate = False
        self._thread = threading.Thread(
            target=self._thread_main,
            name=f"paho-mqtt-client-{self._client_id.decode(errors='replace')}",
        )
        self._thread.daemon = True
        self._thread.start()
        return MQTT_ERR_SUCCESS

    def loop_stop(self) -> MQTTErrorCode:
        """Stop the loop_start() thread (after in-flight messages complete); no disconnect."""
        thread = self._thread
        if thread is None:
            return _rc("loop_stop_no_thread")
        self._thread_terminate = True
        if self._core is not None:
            self._core.interrupt()
        if threading.current_thread() != thread:
            thread.join()
        return MQTT_ERR_SUCCESS

    def _thread_main(self) -> None:
        try:
            self.loop_forever(retry_first_connection=True)
        finally:
            self._thread = None

    # ---- external loop support --------------------------------------------------------
    def socket(self) -> _socket.socket | None:
        """A socket that is readable while events wait (None when not connected)."""
        if not self._has_connection():
            return None
        if self._sock is None:
            fd = self._core.fileno()
            self._sock = _socket.socket(fileno=_dup(fd))
        return self._sock

    def _close_socket_object(self) -> None:
        sock = self._sock
        if sock is not None:
            self._written(sock)
            self._sock = None
            self._call_socket_callback("on_socket_close", sock)
            sock.close()
        self._registered_write = False

    def _want_write(self) -> None:
        """A packet was handed to the connection: as paho's on queueing one, fire
        on_socket_register_write once (until the next unregister) for external loops."""
        if self._on_socket_register_write is None or self._registered_write:
            return
        sock = self._sock or self.socket()
        if sock is None:
            return
        self._registered_write = True
        self._call_socket_callback("on_socket_register_write", sock)

    def _written(self, sock: Any = None) -> None:
        """What was queued has gone to the connection: on_socket_unregister_write, as
        paho's loop_write() does once its buffer is empty."""
        if not self._registered_write:
            return
        self._registered_write = False
        sock = sock or self._sock
        if sock is not None:
            self._call_socket_callback("on_socket_unregister_write", sock)

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """Process the events that are waiting (external loops)."""
        if self._core is None:
            return MQTT_ERR_NO_CONN
        rc = self._process(0.0)
        if not self._last_batch and not self._has_connection():
            return MQTT_ERR_NO_CONN
        return rc

    def loop_write(self) -> MQTTErrorCode:
        """The Rust core writes by itself: this only ends the write interest
        (on_socket_unregister_write), as paho's once its buffer is drained."""
        if not self._has_connection():
            return MQTT_ERR_NO_CONN
        self._written()
        return MQTT_ERR_SUCCESS

    def want_write(self) -> bool:
        """Always False: writes never wait for the application's loop."""
        return False

    def loop_misc(self) -> MQTTErrorCode:
        """Keepalive runs in the Rust core; processes any waiting events."""
        if self._core is None or (not self._has_connection() and not self._pending_events):
            return MQTT_ERR_NO_CONN
        return self._process(0.0)

    # ---- events -> callbacks ----------------------------------------------------------
    def _dispatch(self) -> MQTTErrorCode:
        """Run callbacks for the pending events in order. A callback exception leaves the
        rest for the next loop call and propagates (unless suppress_exceptions)."""
        events = self._pending_events
        acks: list[tuple[int, int]] = []
        rc = MQTT_ERR_SUCCESS
        try:
            while events:
                event = events.popleft()
                kind = event[0]
                if kind == _EV_MESSAGE:
                    self._handle_message(event, acks)
                elif kind == _EV_PUBLISHED:
                    if self._on_publish is None:
                        # _handle_published without a callback to call.
                        mid = event[1]
                        self._out_messages.pop(mid, None)
                        info = self._infos.pop(mid, None)
                        if info is not None:
                            info._set_as_published()
                    else:
                        self._handle_published(event)
                elif kind == _core.EV_CONNACK:
                    self._handle_connack(event)
                elif kind == _core.EV_SUBACK:
                    self._handle_suback(event)
                elif kind == _core.EV_UNSUBACK:
                    self._handle_unsuback(event)
                elif kind == _core.EV_DISCONNECTED:
                    rc = self._handle_disconnected(event)
                elif kind == _core.EV_LOG:
                    self._easy_log(LogLevel(event[1]), "%s", event[2])
        finally:
            if acks and self._core is not None:
                self._core.ack(acks)
                self._want_write()
        return rc

    def _call(self, name: str, func: Any, *args: Any) -> None:
        try:
            func(self, self._userdata, *args)
        except Exception as err:
            self._log_callback_exception(name, err)
            if not self.suppress_exceptions:
                raise

    def _log_callback_exception(self, name: str, err: BaseException) -> None:
        """paho's line goes to on_log; the logger (the client's, else "ferromqtt.client")
        always gets it with the traceback, so no exception is ever lost silently."""
        on_log = self._on_log
        if on_log is not None:
            try:
                on_log(self, self._userdata, MQTT_LOG_ERR, f"Caught exception in {name}: {err}")
            except Exception:  # noqa: BLE001  as paho: on_log exceptions are swallowed
                pass
        logger = self._logger or _LOG
        logger.error(
            "Caught exception in %s: %s\n%s",
            name,
            err,
            "".join(traceback.format_exception(type(err), err, err.__traceback__)).rstrip(),
        )

    def _call_simple(self, name: str) -> None:
        func = getattr(self, name)
        if func is not None:
            self._call(name, func)

    def _call_socket_callback(self, name: str, sock: Any) -> None:
        func = getattr(self, name)
        if func is not None:
            self._call(name, func, sock)

    def _handle_on_connect_fail(self) -> None:
        func = self._on_connect_fail
        if func is not None:
            try:
                func(self, self._userdata)
            except Exception as err:
                self._log_callback_exception("on_connect_fail", err)

    def _easy_log(self, level: LogLevel, fmt: str, *args: Any) -> None:
        on_log = self._on_log
        if on_log is not None:
            try:
                on_log(self, self._userdata, level, fmt % args)
            except Exception:  # noqa: BLE001  as paho: on_log exceptions are swallowed
                pass
        logger = self._logger
        if logger is not None:
            logger.log(LOGGING_LEVEL[level], fmt, *args)

    def _handle_connack(self, event: tuple[Any, ...]) -> None:
        _, session_present, rc_v3, reason_value, props = event
        refused = reason_value != 0
        if self._protocol == MQTTv311 and self._reconnect_on_failure:
            if rc_v3 == CONNACK_REFUSED_PROTOCOL_VERSION:
                self._easy_log(
                    MQTT_LOG_DEBUG,
                    "Received CONNACK (%s, %s), attempting downgrade to MQTT v3.1.",
                    int(session_present),
                    rc_v3,
                )
                self._protocol = MQTTv31
                self.reconnect()
                return
            if rc_v3 == CONNACK_REFUSED_IDENTIFIER_REJECTED and self._client_id == b"":
                self._easy_log(
                    MQTT_LOG_DEBUG,
                    "Received CONNACK (%s, %s), attempting to use non-empty CID",
                    int(session_present),
                    rc_v3,
                )
                self._client_id = _base62(uuid.uuid4().int, padding=22).encode("utf8")
                self.reconnect()
                return
        if not refused:
            self._state = _CS_CONNECTED
            self._reconnect_delay = None
            if self._protocol == MQTTv5 and self._client_id == b"":
                assigned = self._core.assigned_client_id()
                if assigned:
                    self._client_id = assigned.encode("utf-8")
        self._mqttv5_first_connect = False
        if self._protocol == MQTTv5:
            if reason_value == 1:
                reason = ReasonCode(PacketTypes.CONNACK, aName="Unsupported protocol version")
                properties = None
            else:
                reason = ReasonCode(PacketTypes.CONNACK, identifier=reason_value)
                properties = _unpack_properties(PacketTypes.CONNACK, props)
        else:
            reason = convert_connack_rc_to_reason_code(rc_v3)
            properties = None
        func = self._on_connect
        if func is None:
            return
        flags = {"session present": int(session_present)}
        if self._callback_api_version == CallbackAPIVersion.VERSION1:
            if self._protocol == MQTTv5:
                self._call("on_connect", func, flags, reason, properties)
            else:
                self._call("on_connect", func, flags, rc_v3)
        else:
            if properties is None:
                properties = Properties(PacketTypes.CONNACK)
            self._call("on_connect", func, ConnectFlags(bool(session_present)), reason, properties)

    def _handle_message(self, event: tuple[Any, ...], acks: list[tuple[int, int]]) -> None:
        _, mid, topic, payload, qos, retain, dup, props = event
        # MQTTMessage(mid, topic) and its field updates, without the calls.
        message = _new_message(MQTTMessage)
        message.mid = mid
        message._topic = topic
        message.payload = payload
        message.qos = qos
        message.retain = retain
        message.dup = dup
        message.timestamp = time_func()
        message.state = mqtt_ms_wait_for_pubrel if qos == 2 else mqtt_ms_invalid
        message.properties = (
            None if props is None else _unpack_properties(PacketTypes.PUBLISH, props)
        )
        if self._filtered_callbacks:
            self._handle_on_message(message)
        else:
            on_message = self._on_message
            if on_message is not None:
                self._call("on_message", on_message, message)
        if qos and not self._manual_ack:
            acks.append((mid, qos))

    def _handle_on_message(self, message: MQTTMessage) -> None:
        try:
            topic: str | None = message.topic
        except UnicodeDecodeError:
            topic = None
        callbacks = []
        with self._callback_mutex:
            if topic is not None and self._filtered_callbacks:
                callbacks = list(self._on_message_filtered.iter_match(topic))
            on_message = self._on_message if not callbacks else None
        for callback in callbacks:
            self._call(
                f"user defined callback function {getattr(callback, '__name__', callback)}",
                callback,
                message,
            )
        if on_message is not None:
            self._call("on_message", on_message, message)

    def _handle_published(
        self, event: tuple[Any, ...], info: MQTTMessageInfo | None = None
    ) -> None:
        _, mid, reason_value, props = event
        message = None
        if info is None:
            info = self._infos.pop(mid, None)
            message = self._out_messages.pop(mid, None)
        func = self._on_publish
        try:
            if func is not None and info is not None:
                if self._callback_api_version is CallbackAPIVersion.VERSION1:
                    self._call("on_publish", func, mid)
                else:
                    packet_type = (
                        PacketTypes.PUBCOMP
                        if message is not None and message.qos == 2
                        else PacketTypes.PUBACK
                    )
                    reason = ReasonCode(packet_type, identifier=reason_value)
                    properties = _unpack_properties(packet_type, props)
                    if properties is None:
                        properties = Properties(packet_type)
                    self._call("on_publish", func, mid, reason, properties)
        finally:
            if info is not None:
                info._set_as_published()

    def _handle_suback(self, event: tuple[Any, ...]) -> None:
        _, mid, codes, props = event
        func = self._on_subscribe
        if func is None:
            return
        reason_codes = [ReasonCode(PacketTypes.SUBACK, identifier=c) for c in codes]
        properties = _unpack_properties(PacketTypes.SUBACK, props)
        if properties is None:
            properties = Properties(PacketTypes.SUBACK)
        if self._callback_api_version == CallbackAPIVersion.VERSION1:
            if self._protocol == MQTTv5:
                self._call("on_subscribe", func, mid, reason_codes, properties)
            else:
                self._call("on_subscribe", func, mid, tuple(codes))
        else:
            self._call("on_subscribe", func, mid, reason_codes, properties)

    def _handle_unsuback(self, event: tuple[Any, ...]) -> None:
        _, mid, codes, props = event
        func = self._on_unsubscribe
        if func is None:
            return
        reason_codes = [ReasonCode(PacketTypes.UNSUBACK, identifier=c) for c in codes]
        properties = _unpack_properties(PacketTypes.UNSUBACK, props)
        if self._callback_api_version == CallbackAPIVersion.VERSION1:
            if self._protocol == MQTTv5:
                single: Any = reason_codes[0] if len(reason_codes) == 1 else reason_codes
                self._call("on_unsubscribe", func, mid, properties, single)
            else:
                self._call("on_unsubscribe", func, mid)
        else:
            if properties is None:
                properties = Properties(PacketTypes.UNSUBACK)
            self._call("on_unsubscribe", func, mid, reason_codes, properties)

    def _handle_disconnected(self, event: tuple[Any, ...]) -> MQTTErrorCode:
        _, cause, code, props, message = event
        from_server = cause == _core.CAUSE_SERVER
        rc = _CAUSE_RC.get(cause, MQTT_ERR_CONN_LOST)
        if cause == _core.CAUSE_REFUSED and self._protocol == MQTTv5 and not 0 < code < 6:
            # paho: a v5 refusal outside the 3.x CONNACK range is a protocol error.
            rc = MQTT_ERR_PROTOCOL
        if self._state in (_CS_DISCONNECTING, _CS_DISCONNECTED):
            rc = MQTT_ERR_SUCCESS
            self._state = _CS_DISCONNECTED
        elif not from_server:
            # (paho keeps its state after a server DISCONNECT: is_connected() stays True
            # until the next connection attempt.)
            self._state = _CS_CONNECTION_LOST
        if message:
            self._easy_log(MQTT_LOG_ERR, "%s", message)
        # QoS 0 messages never written: they will not be.
        for mid, info in list(self._infos.items()):
            if mid not in self._out_messages:
                info.rc = MQTT_ERR_CONN_LOST
                info._set_as_published()
                del self._infos[mid]
        # As paho: a lost or refused connection closes its socket before on_disconnect;
        # after the DISCONNECT the client wrote, on_disconnect comes first.
        requested = cause == _core.CAUSE_REQUESTED
        if not requested:
            self._close_socket_object()
        try:
            func = self._on_disconnect
            if func is not None:
                reason = None
                properties = None
                if from_server:
                    reason = ReasonCode(PacketTypes.DISCONNECT, identifier=code or 0)
                    properties = _unpack_properties(PacketTypes.DISCONNECT, props)
                if self._callback_api_version == CallbackAPIVersion.VERSION1:
                    if self._protocol == MQTTv5:
                        if from_server:
                            self._call("on_disconnect", func, reason, properties)
                        else:
                            self._call("on_disconnect", func, rc, None)
                    else:
                        self._call("on_disconnect", func, rc)
                else:
                    if reason is None:
                        reason = convert_disconnect_error_code_to_reason_code(rc)
                    if properties is None:
                        properties = Properties(PacketTypes.DISCONNECT)
                    self._call(
                        "on_disconnect", func, DisconnectFlags(from_server), reason, properties
                    )
        finally:
            if requested:
                self._close_socket_object()
        if from_server and self._state != _CS_DISCONNECTED:
            return MQTT_ERR_SUCCESS
        return rc if rc != MQTT_ERR_SUCCESS else MQTT_ERR_NO_CONN

    # ---- callbacks --------------------------------------------------------------------
    on_log = _callback_property("on_log", "on_log(client, userdata, level, buf)")
    on_pre_connect = _callback_property("on_pre_connect", "on_pre_connect(client, userdata)")
    on_connect = _callback_property(
        "on_connect",
        "V1 3.x: (client, userdata, flags, rc); V1 5.0: (client, userdata, flags, "
        "reason_code, properties); V2: (client, userdata, connect_flags, reason_code, "
        "properties)",
    )
    on_connect_fail = _callback_property("on_connect_fail", "on_connect_fail(client, userdata)")
    on_subscribe = _callback_property(
        "on_subscribe",
        "V1 3.x: (client, userdata, mid, granted_qos); V1 5.0 and V2: (client, userdata, "
        "mid, reason_code_list, properties)",
    )
    on_message = _callback_property("on_message", "on_message(client, userdata, message)")
    on_publish = _callback_property(
        "on_publish",
        "V1: (client, userdata, mid); V2: (client, userdata, mid, reason_code, properties)",
    )
    on_unsubscribe = _callback_property(
        "on_unsubscribe",
        "V1 3.x: (client, userdata, mid); V1 5.0: (client, userdata, mid, properties, "
        "reason_codes); V2: (client, userdata, mid, reason_code_list, properties)",
    )
    on_disconnect = _callback_property(
        "on_disconnect",
        "V1 3.x: (client, userdata, rc); V1 5.0: (client, userdata, reason_code, "
        "properties); V2: (client, userdata, disconnect_flags, reason_code, properties)",
    )
    on_socket_open = _callback_property("on_socket_open", "(client, userdata, sock)")
    on_socket_close = _callback_property("on_socket_close", "(client, userdata, sock)")
    on_socket_register_write = _callback_property(
        "on_socket_register_write", "(client, userdata, sock)"
    )
    on_socket_unregister_write = _callback_property(
        "on_socket_unregister_write", "(client, userdata, sock)"
    )

    log_callback = _decorator_factory("on_log")
    pre_connect_callback = _decorator_factory("on_pre_connect")
    connect_callback = _decorator_factory("on_connect")
    connect_fail_callback = _decorator_factory("on_connect_fail")
    subscribe_callback = _decorator_factory("on_subscribe")
    message_callback = _decorator_factory("on_message")
    publish_callback = _decorator_factory("on_publish")
    unsubscribe_callback = _decorator_factory("on_unsubscribe")
    disconnect_callback = _decorator_factory("on_disconnect")
    socket_open_callback = _decorator_factory("on_socket_open")
    socket_close_callback = _decorator_factory("on_socket_close")
    socket_register_write_callback = _decorator_factory("on_socket_register_write")
    socket_unregister_write_callback = _decorator_factory("on_socket_unregister_write")

    def message_callback_add(self, sub: str, callback: CallbackOnMessage) -> None:
        """Register an on_message callback for messages matching the filter `sub`."""
        if callback is None or sub is None:
            raise _fail("message_callback_none")
        with self._callback_mutex:
            self._on_message_filtered[sub] = callback
            self._filtered_callbacks.add(sub)

    def topic_callback(self, sub: str) -> Callable[[CallbackOnMessage], CallbackOnMessage]:
        """Decorator form of message_callback_add."""

        def decorator(func: CallbackOnMessage) -> CallbackOnMessage:
            self.message_callback_add(sub, func)
            return func

        return decorator

    def message_callback_remove(self, sub: str) -> None:
        """Remove the callback registered for `sub` (silent when there is none)."""
        if sub is None:
            raise _fail("message_callback_remove_none")
        with self._callback_mutex:
            try:
                del self._on_message_filtered[sub]
            except KeyError:
                pass
            self._filtered_callbacks.discard(sub)


def _filter_ok(sub: bytes) -> bool:
    """paho's check of a subscription filter before it is sent."""
    if len(sub) == 0 or len(sub) > 65535 or b"#/" in sub:
        return False
    return not any(b"+" in p or b"#" in p for p in sub.split(b"/") if len(p) > 1)


def _dup(fd: int) -> int:
    return os.dup(fd)
