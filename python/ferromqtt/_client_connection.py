"""Connecting and disconnecting the paho-style client: connect() / connect_async() /
connect_srv() store the parameters, reconnect() hands them with the settings to the Rust
core (which opens the connection and sends CONNECT), and disconnect() ends it. What the
server answers comes back as events (see ``_client_callbacks``).
"""

from __future__ import annotations

import socket as _socket
from typing import TYPE_CHECKING

from ferromqtt import _transport
from ferromqtt._client_constants import (
    _CS_CONNECT_ASYNC,
    _CS_CONNECTED,
    _CS_CONNECTING,
    _CS_DISCONNECTED,
    _CS_DISCONNECTING,
    _CS_NEW,
    MQTT_BRIDGE,
    MQTT_CLEAN_START_FIRST_ONLY,
    MQTT_ERR_CONN_LOST,
    MQTT_ERR_SUCCESS,
    MQTT_LOG_DEBUG,
    CleanStartOption,
    MQTTv5,
)
from ferromqtt._client_constants import (
    now as _now,
)
from ferromqtt._client_errors import _fail, _rc
from ferromqtt._client_message import _pack_properties
from ferromqtt.enums import MQTTErrorCode
from ferromqtt.properties import Properties
from ferromqtt.reasoncodes import ReasonCode

if TYPE_CHECKING:
    from ferromqtt._client_base import _ClientBase
else:
    _ClientBase = object  # for type checkers only: see _client_base


class _ConnectionMixin(_ClientBase):
    """Connecting and disconnecting; part of ``ferromqtt.client.Client``."""

    def is_connected(self) -> bool:
        """True between a processed successful CONNACK and the end of the connection."""
        return self._state == _CS_CONNECTED

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
        deadline = _now() + max(self._connect_timeout, 1.0)
        while self._state != _CS_DISCONNECTED and _now() < deadline:
            self._process(max(0.0, deadline - _now()))
