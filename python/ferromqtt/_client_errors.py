"""How the client reports failures: paho's return codes and exceptions, and their texts.

``_FAILURES`` is the one table of what paho reports as a return code and what it raises;
call sites look their failure up with ``_fail(name)`` / ``_rc(name)`` instead of deciding
case by case. Also paho's module functions that turn codes into strings or ReasonCodes
(``error_string``, ``connack_string``, ``convert_*``), re-exported by ``ferromqtt.client``.
"""

from __future__ import annotations

from ferromqtt._client_constants import (
    CONNACK_ACCEPTED,
    CONNACK_REFUSED_BAD_USERNAME_PASSWORD,
    CONNACK_REFUSED_IDENTIFIER_REJECTED,
    CONNACK_REFUSED_NOT_AUTHORIZED,
    CONNACK_REFUSED_PROTOCOL_VERSION,
    CONNACK_REFUSED_SERVER_UNAVAILABLE,
    MQTT_ERR_ACL_DENIED,
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
)
from ferromqtt.enums import ConnackCode, MQTTErrorCode
from ferromqtt.packettypes import PacketTypes
from ferromqtt.reasoncodes import ReasonCode

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


# paho defines these in its client module, and ferromqtt.client re-exports them: they keep
# that module as theirs, as before they moved here (pickles, help(), documentation tools).
for _function in (
    error_string,
    connack_string,
    convert_connack_rc_to_reason_code,
    convert_disconnect_error_code_to_reason_code,
):
    _function.__module__ = "ferromqtt.client"
del _function
