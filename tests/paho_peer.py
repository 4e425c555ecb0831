"""A real paho-mqtt client wrapped for tests: every wait is on an event with a timeout."""

from __future__ import annotations

import queue
import socket
from typing import Any, Optional

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

VERSIONS = [paho.MQTTv31, paho.MQTTv311, paho.MQTTv5]
VERSION_IDS = ["v31", "v311", "v5"]
TIMEOUT = 5.0


class PahoPeer:
    """One paho client running its own loop thread; messages land in ``self.messages``."""

    def __init__(
        self,
        port: int,
        version: int,
        client_id: str,
        *,
        clean: bool = True,
        host: str = "127.0.0.1",
        keepalive: int = 60,
        will: Optional[dict[str, Any]] = None,
        session_expiry: Optional[int] = None,
    ) -> None:
        self.port, self.host, self.version, self.keepalive = port, host, version, keepalive
        self.clean = clean
        self.session_expiry = session_expiry
        kwargs: dict[str, Any] = {"client_id": client_id, "protocol": version}
        if version != paho.MQTTv5:
            kwargs["clean_session"] = clean
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, **kwargs)
        if will:
            self.client.will_set(**will)
        self.messages: queue.Queue[paho.MQTTMessage] = queue.Queue()
        self.connacks: queue.Queue[tuple[bool, Any, Any]] = queue.Queue()
        self.subacks: queue.Queue[list[Any]] = queue.Queue()
        self.disconnects: queue.Queue[Any] = queue.Queue()
        self.client.on_connect = lambda c, u, flags, rc, props: self.connacks.put(
            (flags.session_present, rc, props)
        )
        self.client.on_message = lambda c, u, m: self.messages.put(m)
        self.client.on_subscribe = lambda c, u, mid, rcs, props: self.subacks.put(rcs)
        self.client.on_disconnect = lambda c, u, flags, rc, props: self.disconnects.put(rc)

    def connect(self) -> tuple[bool, Any, Any]:
        """Connect and wait for CONNACK; returns (session_present, reason_code, properties)."""
        kwargs: dict[str, Any] = {"keepalive": self.keepalive}
        if self.version == paho.MQTTv5:
            kwargs["clean_start"] = self.clean
            if self.session_expiry is not None:
                props = Properties(PacketTypes.CONNECT)
                props.SessionExpiryInterval = self.session_expiry
                kwargs["properties"] = props
        self.client.connect(self.host, self.port, **kwargs)
        self.client.loop_start()
        return self.connacks.get(timeout=TIMEOUT)

    def subscribe(self, topic: str, qos: int = 0, **kwargs: Any) -> list[Any]:
        rc, _mid = self.client.subscribe(topic, qos, **kwargs)
        assert rc == paho.MQTT_ERR_SUCCESS
        return self.subacks.get(timeout=TIMEOUT)

    def publish(self, topic: str, payload: Any, qos: int = 0, **kwargs: Any) -> None:
        info = self.client.publish(topic, payload, qos, **kwargs)
        info.wait_for_publish(TIMEOUT)
        assert info.is_published(), f"publish to {topic} not acknowledged"

    def receive(self, timeout: float = TIMEOUT) -> paho.MQTTMessage:
        return self.messages.get(timeout=timeout)

    def assert_nothing_received(self, within: float = 0.3) -> None:
        """Bounded check that no message arrives (used after a publish round trip)."""
        try:
            message = self.messages.get(timeout=within)
        except queue.Empty:
            return
        raise AssertionError(f"unexpected message on {message.topic}: {message.payload!r}")

    def kill(self) -> None:
        """Drop the TCP connection without DISCONNECT (as a crashed client would)."""
        sock = self.client.socket()
        if isinstance(sock, socket.socket):
            sock.shutdown(socket.SHUT_RDWR)
        self.client.loop_stop()
        self._release()

    def disconnect(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        self._release()

    def _release(self) -> None:
        # The callbacks hold this peer, which holds the client: without them the client is
        # freed (and paho closes its socket pair) as soon as the test lets go of the peer,
        # not in a garbage collection that would report the sockets as unclosed.
        for name in ("on_connect", "on_message", "on_subscribe", "on_disconnect"):
            setattr(self.client, name, None)


def connack_code(
    port: int,
    username: Optional[str] = None,
    password: Optional[str] = None,
    version: int = paho.MQTTv311,
) -> int:
    """The CONNACK reason code (paho's value: 135 for 3.x's 5 too) a client gets with these
    credentials. No callback holds the client, so it and its sockets go when it returns."""
    reasons: queue.Queue[int] = queue.Queue()
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=version)
    if username is not None:
        client.username_pw_set(username, password)
    client.on_connect = lambda c, u, f, rc, p: reasons.put(rc.value)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        return reasons.get(timeout=TIMEOUT)
    finally:
        client.disconnect()
        client.loop_stop()


def sync_point(subscriber: PahoPeer, publisher: PahoPeer, topic: str = "sync/point") -> None:
    """Round-trip a marker so every earlier publish of ``publisher`` has been routed."""
    subscriber.subscribe(topic, 1)
    publisher.publish(topic, b"marker", qos=1)
    others = []
    while True:
        message = subscriber.receive()
        if message.topic == topic:
            break
        others.append(message)
    for message in others:
        subscriber.messages.put(message)


__all__ = ["PahoPeer", "VERSIONS", "VERSION_IDS", "TIMEOUT", "connack_code", "sync_point"]
