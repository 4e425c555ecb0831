"""A scripted fake MQTT broker on a real 127.0.0.1 socket, and a tiny hand-written codec.

The broker accepts one connection and follows a script: ``Expect`` reads one packet from
the client (recording its raw bytes and checking its type), ``Send`` writes raw bytes (fixed,
or built from the packets received so far, e.g. to echo a packet id), ``Close`` closes the
socket and ``ExpectClose`` waits for the client to close. The codec here is written from the
MQTT specification and shares nothing with ferromqtt's, so one codec bug cannot hide another.
"""

from __future__ import annotations

import socket
import struct
import threading
from dataclasses import dataclass, field
from typing import Callable, Union

PACKET_NAMES = {
    1: "CONNECT",
    2: "CONNACK",
    3: "PUBLISH",
    4: "PUBACK",
    5: "PUBREC",
    6: "PUBREL",
    7: "PUBCOMP",
    8: "SUBSCRIBE",
    9: "SUBACK",
    10: "UNSUBSCRIBE",
    11: "UNSUBACK",
    12: "PINGREQ",
    13: "PINGRESP",
    14: "DISCONNECT",
    15: "AUTH",
}
MQTT_V31, MQTT_V311, MQTT_V5 = 3, 4, 5
STEP_TIMEOUT = 5.0


# ------------------------------------------------------------------------------ encoding


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        value, digit = divmod(value, 128)
        out.append(digit | (0x80 if value else 0))
        if not value:
            return bytes(out)


def utf8(text: str | bytes) -> bytes:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return struct.pack("!H", len(data)) + data


def frame(first_byte: int, body: bytes) -> bytes:
    return bytes([first_byte]) + varint(len(body)) + body


def no_properties(version: int) -> bytes:
    return b"\x00" if version == MQTT_V5 else b""


def properties(*items: bytes) -> bytes:
    """An MQTT 5 property block from items made by the ``prop_*`` helpers."""
    body = b"".join(items)
    return varint(len(body)) + body


def prop_int(identifier: int, value: int, size: int) -> bytes:
    return bytes([identifier]) + value.to_bytes(size, "big")


def prop_utf8(identifier: int, text: str) -> bytes:
    return bytes([identifier]) + utf8(text)


def prop_pair(identifier: int, key: str, value: str) -> bytes:
    return bytes([identifier]) + utf8(key) + utf8(value)


def connack(
    version: int, code: int, session_present: bool = False, props: bytes = b"\x00"
) -> bytes:
    tail = props if version == MQTT_V5 else b""
    return frame(0x20, bytes([int(session_present), code]) + tail)


def suback(version: int, packet_id: int, codes: list[int]) -> bytes:
    return frame(0x90, struct.pack("!H", packet_id) + no_properties(version) + bytes(codes))


def ack(kind: int, version: int, packet_id: int, reason: int = 0, props: bytes = b"\x00") -> bytes:
    """PUBACK (4), PUBREC (5), PUBREL (6) or PUBCOMP (7); v5 carries the reason code."""
    first = (kind << 4) | (0x02 if kind == 6 else 0)
    body = struct.pack("!H", packet_id)
    if version == MQTT_V5:
        body += bytes([reason]) + props
    return frame(first, body)


def publish(
    version: int,
    topic: str,
    payload: bytes,
    qos: int = 0,
    packet_id: int = 0,
    retain: bool = False,
    dup: bool = False,
    properties: bytes = b"\x00",
) -> bytes:
    first = 0x30 | (int(dup) << 3) | (qos << 1) | int(retain)
    body = utf8(topic)
    if qos:
        body += struct.pack("!H", packet_id)
    if version == MQTT_V5:
        body += properties
    return frame(first, body + payload)


def disconnect(version: int, reason: int = 0) -> bytes:
    return frame(0xE0, bytes([reason, 0]) if version == MQTT_V5 else b"")


# ------------------------------------------------------------------------------ decoding


def read_varint(data: bytes, offset: int) -> tuple[int, int]:
    value, shift = 0, 0
    for _ in range(4):
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, offset
    raise ValueError("variable byte integer longer than 4 bytes")


def read_utf8(data: bytes, offset: int) -> tuple[bytes, int]:
    (length,) = struct.unpack_from("!H", data, offset)
    end = offset + 2 + length
    if end > len(data):
        raise ValueError("string runs past the packet")
    return data[offset + 2 : end], end


def skip_properties(data: bytes, offset: int) -> tuple[bytes, int]:
    length, start = read_varint(data, offset)
    return data[start : start + length], start + length


@dataclass
class Packet:
    """A decoded client packet: type name, fixed-header flags and the fields that matter."""

    name: str
    flags: int
    raw: bytes
    fields: dict = field(default_factory=dict)


def decode(raw: bytes, version: int) -> Packet:
    """Decodes one complete packet the client sent (raises ValueError when malformed)."""
    kind, flags = raw[0] >> 4, raw[0] & 0x0F
    length, start = read_varint(raw, 1)
    body = raw[start:]
    if len(body) != length:
        raise ValueError(f"remaining length {length} but {len(body)} bytes")
    name = PACKET_NAMES.get(kind, f"reserved({kind})")
    fields: dict = {}
    if name == "CONNECT":
        protocol, offset = read_utf8(body, 0)
        level, connect_flags = body[offset], body[offset + 1]
        (keepalive,) = struct.unpack_from("!H", body, offset + 2)
        offset += 4
        if level == MQTT_V5:
            fields["properties"], offset = skip_properties(body, offset)
        client_id, offset = read_utf8(body, offset)
        fields.update(
            protocol=protocol,
            level=level,
            connect_flags=connect_flags,
            keepalive=keepalive,
            client_id=client_id,
        )
        if connect_flags & 0x04:
            if level == MQTT_V5:
                fields["will_properties"], offset = skip_properties(body, offset)
            fields["will_topic"], offset = read_utf8(body, offset)
            fields["will_payload"], offset = read_utf8(body, offset)
        if connect_flags & 0x80:
            fields["username"], offset = read_utf8(body, offset)
        if connect_flags & 0x40:
            fields["password"], offset = read_utf8(body, offset)
        fields["trailing"] = body[offset:]
    elif name == "PUBLISH":
        topic, offset = read_utf8(body, 0)
        qos = (flags >> 1) & 0x03
        fields.update(topic=topic, qos=qos, retain=bool(flags & 1), dup=bool(flags & 8))
        if qos:
            (fields["packet_id"],) = struct.unpack_from("!H", body, offset)
            offset += 2
        if version == MQTT_V5:
            fields["properties"], offset = skip_properties(body, offset)
        fields["payload"] = body[offset:]
    elif name in ("PUBACK", "PUBREC", "PUBREL", "PUBCOMP"):
        (fields["packet_id"],) = struct.unpack_from("!H", body, 0)
        fields["reason"] = body[2] if len(body) > 2 else 0
    elif name in ("SUBSCRIBE", "UNSUBSCRIBE"):
        (fields["packet_id"],) = struct.unpack_from("!H", body, 0)
        offset = 2
        if version == MQTT_V5:
            fields["properties"], offset = skip_properties(body, offset)
        filters = []
        while offset < len(body):
            topic_filter, offset = read_utf8(body, offset)
            if name == "SUBSCRIBE":
                filters.append((topic_filter, body[offset]))
                offset += 1
            else:
                filters.append(topic_filter)
        fields["filters"] = filters
    elif name == "DISCONNECT":
        fields["reason"] = body[0] if body else 0
        fields["properties"] = skip_properties(body, 1)[0] if len(body) > 1 else b""
    return Packet(name, flags, raw, fields)


# ------------------------------------------------------------------------------ script


@dataclass
class Expect:
    """Read one packet from the client; it must be of type ``name``."""

    name: str


@dataclass
class Send:
    """Write bytes: fixed, or ``data(received_packets)`` built from what came in."""

    data: Union[bytes, Callable[[list[Packet]], bytes]]


@dataclass
class Close:
    """Close the connection from the broker side."""


@dataclass
class ExpectClose:
    """Wait until the client closes the connection (no more packets)."""


@dataclass
class Mark:
    """Set ``broker.marks[name]`` when the script reaches this point."""

    name: str


Step = Union[Expect, Send, Close, ExpectClose, Mark]


def reply_to_last(builder: Callable[[int], bytes]) -> Send:
    """A Send whose bytes use the packet id of the last packet received."""
    return Send(lambda received: builder(received[-1].fields["packet_id"]))


class ScriptedBroker:
    """Listens on 127.0.0.1 (free port), serves one client by ``script``, in a thread.

    ``received`` holds the client's packets in order, ``errors`` what went against the
    script, ``done`` is set when the script has finished (or failed).
    """

    def __init__(self, script: list[Step], version: int):
        self.script = script
        self.version = version
        self.received: list[Packet] = []
        self.errors: list[str] = []
        self.done = threading.Event()
        self.marks = {step.name: threading.Event() for step in script if isinstance(step, Mark)}
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(STEP_TIMEOUT)
        self.port = self._listener.getsockname()[1]
        self._connection: socket.socket | None = None
        self._buffer = b""
        self._thread = threading.Thread(target=self._run, name="scripted-broker", daemon=True)

    def __enter__(self) -> ScriptedBroker:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def stop(self) -> None:
        self._listener.close()
        if self._connection is not None:
            try:
                self._connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(STEP_TIMEOUT * 2)

    def wait(self, timeout: float = STEP_TIMEOUT * 2) -> bool:
        return self.done.wait(timeout)

    # -- thread

    def _run(self) -> None:
        try:
            connection, _ = self._listener.accept()
        except OSError as error:
            self.errors.append(f"no client connected: {error!r}")
            self.done.set()
            return
        self._connection = connection
        connection.settimeout(STEP_TIMEOUT)
        with connection:
            try:
                for index, step in enumerate(self.script):
                    self._perform(index, step, connection)
            except (OSError, ValueError) as error:
                self.errors.append(f"{type(error).__name__}: {error}")
        self.done.set()

    def _perform(self, index: int, step: Step, connection: socket.socket) -> None:
        if isinstance(step, Expect):
            raw = self._read_packet(connection)
            if raw is None:
                raise ValueError(f"step {index}: connection closed, expected {step.name}")
            packet = decode(raw, self.version)
            self.received.append(packet)
            if packet.name != step.name:
                raise ValueError(f"step {index}: expected {step.name}, got {packet.name}")
        elif isinstance(step, Send):
            data = step.data(self.received) if callable(step.data) else step.data
            connection.sendall(data)
        elif isinstance(step, Close):
            connection.shutdown(socket.SHUT_RDWR)
            connection.close()
        elif isinstance(step, ExpectClose):
            raw = self._read_packet(connection)
            if raw is not None:
                packet = decode(raw, self.version)
                self.received.append(packet)
                raise ValueError(f"step {index}: expected close, got {packet.name}")
        elif isinstance(step, Mark):
            self.marks[step.name].set()

    def _read_exactly(self, connection: socket.socket, count: int) -> bytes | None:
        while len(self._buffer) < count:
            try:
                chunk = connection.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return None
            self._buffer += chunk
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def _read_packet(self, connection: socket.socket) -> bytes | None:
        header = self._read_exactly(connection, 2)
        if header is None:
            return None
        raw = header
        while raw[-1] & 0x80:
            if len(raw) > 5:
                raise ValueError("remaining length longer than 4 bytes")
            more = self._read_exactly(connection, 1)
            if more is None:
                return None
            raw += more
        length, _ = read_varint(raw, 1)
        body = self._read_exactly(connection, length)
        if body is None:
            return None
        return raw + body
