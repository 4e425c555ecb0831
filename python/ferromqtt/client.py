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

# This module is the facade: paho's names, __all__, and the Client with its constructor and
# its Rust core. The Client's other parts are mixins, each in its own module:
#   _client_options     settings, transport options (WebSocket, TLS, proxy), client ids
#   _client_connection  connect(), reconnect(), disconnect()
#   _client_messaging   publish(), subscribe(), unsubscribe(), ack()
#   _client_loop        loop(), loop_forever(), loop_start(), external-loop support
#   _client_callbacks   on_* callbacks and the dispatch of core events to them
# and what the Client uses: _client_constants (paho's module-level constants),
# _client_errors (the one failure table, error strings) and _client_message (MQTTMessage,
# MQTTMessageInfo). _client_base declares, for type checkers only, the attributes set below
# and the methods the mixins call on one another.

from __future__ import annotations

# The F401 imports went unused here when the Client's parts moved out; they stay so that
# every name code could reach through this module still resolves (paho's client module has
# most of them too: ``mqtt.time``, ``mqtt.os``).
import importlib.util  # noqa: F401
import logging
import os  # noqa: F401
import socket as _socket
import threading
import time  # noqa: F401
import traceback  # noqa: F401
import uuid
import warnings
from collections import deque
from collections.abc import Iterator  # noqa: F401
from typing import Any, Callable, NamedTuple, Union  # noqa: F401

from ferromqtt import _core, _display, _transport
from ferromqtt._client_callbacks import ConnectFlags, DisconnectFlags, _CallbacksMixin
from ferromqtt._client_connection import _ConnectionMixin
from ferromqtt._client_constants import (
    _CS_NEW,
    AUTH,
    CONNACK,
    CONNACK_ACCEPTED,
    CONNACK_REFUSED_BAD_USERNAME_PASSWORD,
    CONNACK_REFUSED_IDENTIFIER_REJECTED,
    CONNACK_REFUSED_NOT_AUTHORIZED,
    CONNACK_REFUSED_PROTOCOL_VERSION,
    CONNACK_REFUSED_SERVER_UNAVAILABLE,
    CONNECT,
    DISCONNECT,
    EAGAIN,
    HAVE_DNS,
    LOGGING_LEVEL,
    MQTT_BRIDGE,
    MQTT_CLEAN_START_FIRST_ONLY,
    MQTT_CLIENT,
    MQTT_ERR_ACL_DENIED,
    MQTT_ERR_AGAIN,
    MQTT_ERR_AUTH,
    MQTT_ERR_CONN_LOST,
    MQTT_ERR_CONN_REFUSED,
    MQTT_ERR_ERRNO,
    MQTT_ERR_INVAL,
    MQTT_ERR_KEEPALIVE,
    MQTT_ERR_NO_CONN,
    MQTT_ERR_NOMEM,
    MQTT_ERR_NOT_FOUND,
    MQTT_ERR_NOT_SUPPORTED,
    MQTT_ERR_PAYLOAD_SIZE,
    MQTT_ERR_PROTOCOL,
    MQTT_ERR_QUEUE_SIZE,
    MQTT_ERR_SUCCESS,
    MQTT_ERR_TLS,
    MQTT_ERR_UNKNOWN,
    MQTT_LOG_DEBUG,
    MQTT_LOG_ERR,
    MQTT_LOG_INFO,
    MQTT_LOG_NOTICE,
    MQTT_LOG_WARNING,
    PINGREQ,
    PINGRESP,
    PUBACK,
    PUBCOMP,
    PUBLISH,
    PUBREC,
    PUBREL,
    SUBACK,
    SUBSCRIBE,
    UNSUBACK,
    UNSUBSCRIBE,
    CallbackOnConnect,
    CallbackOnConnect_v1,
    CallbackOnConnect_v1_mqtt3,
    CallbackOnConnect_v1_mqtt5,
    CallbackOnConnect_v2,
    CallbackOnConnectFail,
    CallbackOnDisconnect,
    CallbackOnDisconnect_v1,
    CallbackOnDisconnect_v1_mqtt3,
    CallbackOnDisconnect_v1_mqtt5,
    CallbackOnDisconnect_v2,
    CallbackOnLog,
    CallbackOnMessage,
    CallbackOnPreConnect,
    CallbackOnPublish,
    CallbackOnPublish_v1,
    CallbackOnPublish_v2,
    CallbackOnSocket,
    CallbackOnSubscribe,
    CallbackOnSubscribe_v1,
    CallbackOnSubscribe_v1_mqtt3,
    CallbackOnSubscribe_v1_mqtt5,
    CallbackOnSubscribe_v2,
    CallbackOnUnsubscribe,
    CallbackOnUnsubscribe_v1,
    CallbackOnUnsubscribe_v1_mqtt3,
    CallbackOnUnsubscribe_v1_mqtt5,
    CallbackOnUnsubscribe_v2,
    CleanStartOption,
    HTTPHeader,
    MQTTv5,
    MQTTv31,
    MQTTv311,
    PayloadType,
    WebSocketHeaders,
    mqtt_ms_invalid,
    mqtt_ms_publish,
    mqtt_ms_queued,
    mqtt_ms_resend_pubcomp,
    mqtt_ms_resend_pubrel,
    mqtt_ms_send_pubrec,
    mqtt_ms_wait_for_puback,
    mqtt_ms_wait_for_pubcomp,
    mqtt_ms_wait_for_pubrec,
    mqtt_ms_wait_for_pubrel,
    sockpair_data,
    time_func,
)
from ferromqtt._client_errors import (
    _fail,
    connack_string,
    convert_connack_rc_to_reason_code,
    convert_disconnect_error_code_to_reason_code,
    error_string,
)
from ferromqtt._client_loop import _LoopMixin
from ferromqtt._client_message import MQTTMessage, MQTTMessageInfo
from ferromqtt._client_message import _encode_payload as _encode_payload  # aio imports it
from ferromqtt._client_messaging import _MessagingMixin
from ferromqtt._client_options import _base62, _force_bytes, _OptionsMixin
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


def topic_matches_sub(sub: str, topic: str) -> bool:
    """Check whether a topic matches a subscription (``foo/#`` matches ``foo``, and a
    leading wildcard does not match ``$``-topics). The filter is not validated."""
    return _core.topic_matches_sub(sub, topic)


class WebsocketConnectionError(ConnectionError):
    """WebsocketConnectionError is a subclass of ConnectionError."""


# ---------------------------------------------------------------------------------------
# The client
# ---------------------------------------------------------------------------------------


class Client(_OptionsMixin, _ConnectionMixin, _MessagingMixin, _LoopMixin, _CallbacksMixin):
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
