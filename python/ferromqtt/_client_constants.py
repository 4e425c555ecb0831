"""paho's module-level constants for ``ferromqtt.client``, and the client's connection states.

The names paho-mqtt 2.2's client module defines as aliases (message types, log levels,
CONNACK codes, ``mqtt_ms_*`` message states, ``MQTT_ERR_*`` codes, protocol versions), its
typing aliases, and the values it computes at import. ``ferromqtt.client`` re-exports them;
the client's other modules import them from here.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import time
from typing import Callable, Union

from ferromqtt.enums import (
    ConnackCode,
    LogLevel,
    MessageState,
    MessageType,
    MQTTErrorCode,
    MQTTProtocolVersion,
    PahoClientMode,
)

time_func = time.monotonic


def now() -> float:
    """``time_func()`` as ``ferromqtt.client`` has it at the moment of the call: code that
    replaces ``mqtt.time_func`` (as paho's users and tests do) changes the client's clock."""
    client = sys.modules.get("ferromqtt.client")
    return (time_func if client is None else client.time_func)()


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

# The client's connection state (Client._state); _display names each one.
_CS_NEW = 0
_CS_CONNECT_ASYNC = 1
_CS_CONNECTING = 2
_CS_CONNECTED = 3
_CS_CONNECTION_LOST = 4
_CS_DISCONNECTING = 5
_CS_DISCONNECTED = 6
