"""One-call publishing, as paho-mqtt's ``paho.mqtt.publish``.

``single()`` publishes one message and ``multiple()`` a list of them: each connects, sends
the messages one after the other (the next one once the previous is complete), disconnects
and returns. A refused connection raises ``MQTTException``; network errors propagate.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from typing import Any

from ferromqtt import client as _client
from ferromqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from ferromqtt.exception import MQTTException
from ferromqtt.properties import Properties
from ferromqtt.reasoncodes import ReasonCode

__all__ = ["multiple", "single"]

_ = (Properties, ReasonCode)  # paho's module exposes them too


def _publish_next(client: _client.Client) -> None:
    message = client.user_data_get().popleft()
    if isinstance(message, dict):
        client.publish(**message)
    elif isinstance(message, (tuple, list)):
        client.publish(*message)
    else:
        raise TypeError("message must be a dict, tuple, or list")


def _on_connect(client: _client.Client, userdata: Any, flags: Any, reason_code: Any, props: Any):
    if reason_code != 0:
        raise MQTTException(_client.connack_string(reason_code))
    if userdata:
        _publish_next(client)


def _on_publish(client: _client.Client, userdata: Any, mid: int, reason_code: Any, props: Any):
    if userdata:
        _publish_next(client)
    else:
        client.disconnect()


def _configure(
    client: _client.Client,
    will: dict | None,
    auth: dict | None,
    tls: Any,
    proxy_args: dict | None,
) -> None:
    """Applies the will/auth/tls/proxy arguments shared by publish and subscribe helpers."""
    if proxy_args is not None:
        client.proxy_set(**proxy_args)
    if auth:
        username = auth.get("username")
        if not username:
            raise KeyError("The 'username' key was not found, this is required for auth")
        client.username_pw_set(username, auth.get("password"))
    if will is not None:
        client.will_set(**will)
    if tls is not None:
        if isinstance(tls, dict):
            insecure = tls.pop("insecure", False)
            client.tls_set(**tls)
            if insecure:
                client.tls_insecure_set(insecure)
        else:
            client.tls_set_context(tls)


def multiple(
    msgs: Any,
    hostname: str = "localhost",
    port: int = 1883,
    client_id: str = "",
    keepalive: int = 60,
    will: dict | None = None,
    auth: dict | None = None,
    tls: Any = None,
    protocol: MQTTProtocolVersion = _client.MQTTv311,
    transport: str = "tcp",
    proxy_args: Any | None = None,
) -> None:
    """Publish messages (dicts with "topic", "payload", "qos", "retain", or tuples in that
    order), then disconnect. Blocks until every message is complete."""
    if not isinstance(msgs, Iterable):
        raise TypeError("msgs must be an iterable")
    if len(msgs) == 0:  # type: ignore[arg-type]
        raise ValueError("msgs is empty")
    client = _client.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        userdata=collections.deque(msgs),
        protocol=protocol,
        transport=transport,
    )
    client.enable_logger()
    client.on_publish = _on_publish
    client.on_connect = _on_connect
    _configure(client, will, auth, tls, proxy_args)
    client.connect(hostname, port, keepalive)
    client.loop_forever()


def single(
    topic: str,
    payload: _client.PayloadType = None,
    qos: int = 0,
    retain: bool = False,
    hostname: str = "localhost",
    port: int = 1883,
    client_id: str = "",
    keepalive: int = 60,
    will: dict | None = None,
    auth: dict | None = None,
    tls: Any = None,
    protocol: MQTTProtocolVersion = _client.MQTTv311,
    transport: str = "tcp",
    proxy_args: Any | None = None,
) -> None:
    """Publish one message, then disconnect. Blocks until the message is complete."""
    message = {"topic": topic, "payload": payload, "qos": qos, "retain": retain}
    multiple(
        [message],
        hostname,
        port,
        client_id,
        keepalive,
        will,
        auth,
        tls,
        protocol,
        transport,
        proxy_args,
    )
