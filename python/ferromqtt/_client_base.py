"""What the paho-style client's mixins may use of one another, for the type checker only.

``ferromqtt.client.Client`` sets its state in its constructor and draws its methods from the
``_client_*`` mixins, which use that state and each other's methods. ``_ClientBase`` declares
both, annotations and signatures only, so that each mixin is checked against the whole
client. The mixins derive from it under ``TYPE_CHECKING`` only: at run time their base is
``object``, so the Client's MRO and attribute lookups are what they would be without it.
"""

# Methods here have signatures, not bodies: the mixins implement them.
# mypy: disable-error-code="empty-body"

from __future__ import annotations

import logging
import socket as _socket
import threading
from collections import deque
from typing import Any

from ferromqtt._client_constants import WebSocketHeaders
from ferromqtt._client_message import MQTTMessage, MQTTMessageInfo
from ferromqtt._transport import TlsConfig
from ferromqtt.enums import (
    CallbackAPIVersion,
    LogLevel,
    MQTTErrorCode,
    MQTTProtocolVersion,
    PahoClientMode,
)
from ferromqtt.matcher import MQTTMatcher
from ferromqtt.properties import Properties


class _ClientBase:
    """The Client's attributes (set in ``Client.__init__``) and the methods one mixin
    calls on another; see ``ferromqtt.client`` for what each part does."""

    # ---- settings (client.py, _client_options) ----------------------------------------
    _callback_api_version: CallbackAPIVersion
    _manual_ack: bool
    _transport: str
    _protocol: MQTTProtocolVersion
    _userdata: Any
    _keepalive: int
    _connect_timeout: float
    _client_mode: PahoClientMode
    _clean_start: int | bool
    _clean_session: bool
    _client_id: bytes
    _username: bytes | None
    _password: bytes | None
    _reconnect_min_delay: int
    _reconnect_max_delay: int
    _reconnect_delay: int | None
    _reconnect_on_failure: bool
    _max_inflight_messages: int
    _max_queued_messages: int
    _connect_properties: Properties | None
    _will: bool
    _will_topic: bytes
    _will_payload: bytes | bytearray
    _will_qos: int
    _will_retain: bool
    _will_properties: Properties | None
    _host: str
    _port: int
    _bind_address: str
    _bind_port: int
    _logger: logging.Logger | None
    _websocket_path: str
    _websocket_extra_headers: WebSocketHeaders | None
    _tls: TlsConfig
    _proxy: dict[str, Any] | None
    suppress_exceptions: bool
    # Properties of _OptionsMixin that the connection sets (they check the value).
    host: str
    port: int
    keepalive: int

    # ---- callbacks (_client_callbacks) ------------------------------------------------
    _callback_mutex: threading.RLock
    _on_message_filtered: MQTTMatcher
    _filtered_callbacks: set[str]
    _on_log: Any
    _on_pre_connect: Any
    _on_connect: Any
    _on_connect_fail: Any
    _on_subscribe: Any
    _on_message: Any
    _on_publish: Any
    _on_unsubscribe: Any
    _on_disconnect: Any
    _on_socket_open: Any
    _on_socket_close: Any
    _on_socket_register_write: Any
    _on_socket_unregister_write: Any

    # ---- connection state, messages in flight, loop -----------------------------------
    _state: int
    _mqttv5_first_connect: bool
    _core: Any
    _core_lock: threading.Lock
    _infos: dict[int, MQTTMessageInfo]
    _out_messages: dict[int, MQTTMessage]
    _pending_events: deque[tuple[Any, ...]]
    _loop_mutex: threading.RLock
    _thread: threading.Thread | None
    _thread_terminate: bool
    _in_loop: bool
    _sock: _socket.socket | None
    _registered_write: bool
    _last_batch: int
    _dispatching: bool

    # ---- methods one part calls on another --------------------------------------------
    # client.py
    def _get_core(self) -> Any: ...
    def _has_connection(self) -> bool: ...
    def _update_log_events(self) -> None: ...

    # _client_options
    def _websocket_headers(self) -> list[tuple[str, str]]: ...
    def _proxy_arguments(self) -> tuple[Any, ...] | None: ...

    # _client_connection
    def reconnect(self) -> MQTTErrorCode: ...

    # _client_loop
    def _process(self, timeout: float) -> MQTTErrorCode: ...
    def socket(self) -> _socket.socket | None: ...
    def _want_write(self) -> None: ...
    def _drop_unsent_qos0(self) -> None: ...
    def _close_socket_object(self) -> None: ...

    # _client_callbacks
    def _dispatch(self) -> MQTTErrorCode: ...
    def _call_simple(self, name: str) -> None: ...
    def _call_socket_callback(self, name: str, sock: Any) -> None: ...
    def _handle_on_connect_fail(self) -> None: ...
    def _easy_log(self, level: LogLevel, fmt: str, *args: Any) -> None: ...
    def _handle_published(
        self, event: tuple[Any, ...], info: MQTTMessageInfo | None = None
    ) -> None: ...
