"""The paho-style client's settings: everything set before connect() and read at the next
connection attempt (host, port, keepalive, credentials, will, limits, logger), the
transport options (WebSocket path and headers, TLS as ``tls_set``/``tls_set_context`` take
it, proxies), and the client id paho makes up when it has none. The settings live on the
Client; ``_transport`` turns TLS and proxy settings into what the Rust core takes.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, cast

from ferromqtt import _transport
from ferromqtt._client_constants import (
    MQTT_BRIDGE,
    PayloadType,
    WebSocketHeaders,
)
from ferromqtt._client_errors import _fail
from ferromqtt._client_message import _encode_payload
from ferromqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from ferromqtt.properties import Properties

if TYPE_CHECKING:
    from ferromqtt._client_base import _ClientBase
    from ferromqtt.client import Client
else:
    _ClientBase = object  # for type checkers only: see _client_base


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


class _OptionsMixin(_ClientBase):
    """Client settings; part of ``ferromqtt.client.Client``."""

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

    # ---- transport: WebSocket, TLS, proxy ---------------------------------------------
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

    # ---- logging, credentials, will, limits -------------------------------------------
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

    def max_inflight_messages_set(self, inflight: int) -> None:
        self.max_inflight_messages = inflight

    def max_queued_messages_set(self, queue_size: int) -> Client:
        if not isinstance(queue_size, int):
            raise _fail("max_queued_type")
        self.max_queued_messages = queue_size
        return cast("Client", self)  # this mixin is only ever part of a Client

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
