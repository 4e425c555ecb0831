"""Callbacks of the paho-style client, in both callback API versions: the on_* properties
and their decorators, topic callbacks (message_callback_add), and the dispatcher that turns
each batch of Rust core events (CONNACK, messages, acknowledgements, disconnection, log
lines) into the arguments paho passes for the client's protocol and callback API version.
A callback's exception is logged and re-raised from the loop unless suppress_exceptions.
"""

from __future__ import annotations

import logging
import traceback
import uuid
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

from ferromqtt import _core
from ferromqtt._client_constants import (
    _CS_CONNECTED,
    _CS_CONNECTION_LOST,
    _CS_DISCONNECTED,
    _CS_DISCONNECTING,
    CONNACK_REFUSED_IDENTIFIER_REJECTED,
    CONNACK_REFUSED_PROTOCOL_VERSION,
    LOGGING_LEVEL,
    MQTT_ERR_CONN_LOST,
    MQTT_ERR_CONN_REFUSED,
    MQTT_ERR_KEEPALIVE,
    MQTT_ERR_NO_CONN,
    MQTT_ERR_PROTOCOL,
    MQTT_ERR_SUCCESS,
    MQTT_LOG_DEBUG,
    MQTT_LOG_ERR,
    CallbackOnMessage,
    MQTTv5,
    MQTTv31,
    MQTTv311,
    mqtt_ms_invalid,
    mqtt_ms_wait_for_pubrel,
)
from ferromqtt._client_constants import (
    now as _now,
)
from ferromqtt._client_errors import (
    _fail,
    convert_connack_rc_to_reason_code,
    convert_disconnect_error_code_to_reason_code,
)
from ferromqtt._client_message import MQTTMessage, MQTTMessageInfo, _unpack_properties
from ferromqtt._client_options import _base62
from ferromqtt.enums import CallbackAPIVersion, LogLevel, MQTTErrorCode
from ferromqtt.packettypes import PacketTypes
from ferromqtt.properties import Properties
from ferromqtt.reasoncodes import ReasonCode

if TYPE_CHECKING:
    from ferromqtt._client_base import _ClientBase
    from ferromqtt.client import Client
else:
    _ClientBase = object  # for type checkers only: see _client_base

_LOG = logging.getLogger("ferromqtt.client")


class ConnectFlags(NamedTuple):
    """Contains additional information passed to `on_connect` callback"""

    session_present: bool


class DisconnectFlags(NamedTuple):
    """Contains additional information passed to `on_disconnect` callback"""

    is_disconnect_packet_from_server: bool


# Where paho defines them; also for pickles and reprs. Set here, not in the class bodies,
# where type checkers would take __module__ for a field of the tuple.
ConnectFlags.__module__ = "ferromqtt.client"
DisconnectFlags.__module__ = "ferromqtt.client"


_CAUSE_RC = {
    _core.CAUSE_REQUESTED: MQTT_ERR_SUCCESS,
    _core.CAUSE_SERVER: MQTT_ERR_SUCCESS,
    _core.CAUSE_KEEPALIVE: MQTT_ERR_KEEPALIVE,
    _core.CAUSE_LOST: MQTT_ERR_CONN_LOST,
    _core.CAUSE_PROTOCOL: MQTT_ERR_PROTOCOL,
    _core.CAUSE_REFUSED: MQTT_ERR_CONN_REFUSED,
}

_new_message = object.__new__
# Event kinds, read once (the dispatch loop compares every event against them).
_EV_MESSAGE = _core.EV_MESSAGE
_EV_PUBLISHED = _core.EV_PUBLISHED


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


class _CallbacksMixin(_ClientBase):
    """Callbacks and event dispatch; part of ``ferromqtt.client.Client``."""

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
                    # Without an on_publish the core settles these itself (next_events).
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
        message.timestamp = _now()
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
        self._drop_unsent_qos0()
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
