"""One-call subscribing, as paho-mqtt's ``paho.mqtt.subscribe``.

``simple()`` subscribes, waits for ``msg_count`` messages and returns them; ``callback()``
subscribes and calls a function for every message until it disconnects the client.
"""

from __future__ import annotations

from typing import Any, Callable

from ferromqtt import client as _client
from ferromqtt.exception import MQTTException
from ferromqtt.publish import _configure

__all__ = ["callback", "simple"]


def _on_connect(client: _client.Client, userdata: dict, flags: Any, reason_code: Any, props: Any):
    if reason_code != 0:
        raise MQTTException(_client.connack_string(reason_code))
    topics = userdata["topics"]
    for topic in topics if isinstance(topics, list) else [topics]:
        client.subscribe(topic, userdata["qos"])


def _on_message_callback(client: _client.Client, userdata: dict, message: _client.MQTTMessage):
    userdata["callback"](client, userdata["userdata"], message)


def _on_message_simple(client: _client.Client, userdata: dict, message: _client.MQTTMessage):
    if userdata["msg_count"] == 0:
        return
    if message.retain and not userdata["retained"]:
        return
    userdata["msg_count"] -= 1
    if userdata["messages"] is None and userdata["msg_count"] == 0:
        userdata["messages"] = message
        client.disconnect()
        return
    userdata["messages"].append(message)
    if userdata["msg_count"] == 0:
        client.disconnect()


def callback(
    callback: Callable[[_client.Client, Any, _client.MQTTMessage], None],
    topics: str | list[str],
    qos: int = 0,
    userdata: Any = None,
    hostname: str = "localhost",
    port: int = 1883,
    client_id: str = "",
    keepalive: int = 60,
    will: dict | None = None,
    auth: dict | None = None,
    tls: Any = None,
    protocol: _client.MQTTProtocolVersion = _client.MQTTv311,
    transport: str = "tcp",
    clean_session: bool | None = True,
    proxy_args: Any | None = None,
) -> None:
    """Subscribe to `topics` and call `callback(client, userdata, message)` for each
    message; returns when the callback disconnects the client."""
    if qos < 0 or qos > 2:
        raise ValueError("qos must be in the range 0-2")
    callback_userdata = {"callback": callback, "topics": topics, "qos": qos, "userdata": userdata}
    client = _client.Client(
        _client.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        userdata=callback_userdata,
        protocol=protocol,
        transport=transport,
        clean_session=clean_session,
    )
    client.enable_logger()
    client.on_message = _on_message_callback
    client.on_connect = _on_connect
    _configure(client, will, auth, tls, proxy_args)
    client.connect(hostname, port, keepalive)
    client.loop_forever()


def simple(
    topics: str | list[str],
    qos: int = 0,
    msg_count: int = 1,
    retained: bool = True,
    hostname: str = "localhost",
    port: int = 1883,
    client_id: str = "",
    keepalive: int = 60,
    will: dict | None = None,
    auth: dict | None = None,
    tls: Any = None,
    protocol: _client.MQTTProtocolVersion = _client.MQTTv311,
    transport: str = "tcp",
    clean_session: bool | None = True,
    proxy_args: Any | None = None,
) -> _client.MQTTMessage | list[_client.MQTTMessage]:
    """Subscribe and return the first message (`msg_count` == 1) or a list of
    `msg_count` messages; `retained=False` skips retained messages."""
    if msg_count < 1:
        raise ValueError("msg_count must be > 0")
    messages: Any = None if msg_count == 1 else []
    if protocol == _client.MQTTv5:
        clean_session = None
    userdata = {"retained": retained, "msg_count": msg_count, "messages": messages}
    callback(
        _on_message_simple,
        topics,
        qos,
        userdata,
        hostname,
        port,
        client_id,
        keepalive,
        will,
        auth,
        tls,
        protocol,
        transport,
        clean_session,
        proxy_args,
    )
    return userdata["messages"]
