"""Output of ``ferromqtt sub`` and ``-d``: message formats and mosquitto-style debug lines.

``message_formatter`` turns a received ``MQTTMessage`` into the bytes to print: the payload
(default), ``topic payload`` (``-v``), mosquitto_sub's ``-F`` format string, or one JSON
object (``--json``). ``debug_line`` rewrites the client's paho-style log lines ("Sending
PUBLISH (d0, q1, r0, m3), 'a/b', ... (5 bytes)") as mosquitto prints them.
"""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any, Callable, Optional

# Flags, width, precision and conversion of one '%' sequence of -F.
_SPEC = re.compile(rb"%([-0]*)(\d*)(?:\.(\d+))?(.)")
_ESCAPES = {
    ord("\\"): b"\\",
    ord("0"): b"\0",
    ord("a"): b"\a",
    ord("e"): b"\x1b",
    ord("n"): b"\n",
    ord("r"): b"\r",
    ord("t"): b"\t",
    ord("v"): b"\v",
}
# Conversions whose value is a number (zero padding applies) and those a precision cuts.
_NUMERIC = set(b"AEFlmSXx")
_TRUNCATED = set(b"CIRt")


def _iso_time(now: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(now))


def _json_time(now_ns: int) -> str:
    seconds, nanos = divmod(now_ns, 1_000_000_000)
    local = time.localtime(seconds)
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", local)
        + f".{nanos // 1000:06d}"
        + time.strftime("%z", local)
    )


def _properties(message: Any) -> Any:
    """The message's MQTT 5 properties object, or None."""
    props = getattr(message, "properties", None)
    if props is None or props.isEmpty():
        return None
    return props


def _prop(message: Any, name: str) -> Any:
    props = _properties(message)
    return None if props is None else getattr(props, name, None)


def _mosquitto_json(message: Any, now_ns: int, raw_payload: bool) -> bytes:
    """mosquitto_sub's %j / %J object (field names and order as mosquitto prints them)."""
    head: dict[str, Any] = {
        "tst": _json_time(now_ns),
        "topic": message.topic,
        "qos": message.qos,
        "retain": int(message.retain),
        "payloadlen": len(message.payload),
    }
    props = _properties(message)
    if props is not None:
        names = {
            "UserProperty": "user-properties",
            "ContentType": "content-type",
            "MessageExpiryInterval": "message-expiry-interval",
            "PayloadFormatIndicator": "payload-format-indicator",
            "ResponseTopic": "response-topic",
            "CorrelationData": "correlation-data",
            "SubscriptionIdentifier": "subscription-identifier",
            "TopicAlias": "topic-alias",
        }
        out: dict[str, Any] = {}
        for attr, value in props.json().items():
            if attr == "UserProperty":
                value = dict(value)
            out[names.get(attr, attr)] = value
        head["properties"] = out
    text = json.dumps(head, ensure_ascii=False, separators=(",", ":"))[:-1].encode()
    if raw_payload:
        payload = message.payload
    else:
        decoded = message.payload.decode("utf-8", "replace")
        payload = json.dumps(decoded, ensure_ascii=False).encode()
    return text + b',"payload":' + payload + b"}"


def _field(message: Any, conversion: int, now_ns: int, on_error: Callable[[str], None]) -> bytes:
    """The value of one -F conversion; b"" when it does not apply to this message."""
    c = chr(conversion)
    payload: bytes = message.payload
    if c == "t":
        return message.topic.encode()
    if c == "p":
        return payload
    if c == "q":
        return str(message.qos).encode()
    if c == "r":
        return b"1" if message.retain else b"0"
    if c == "m":
        return str(message.mid).encode()
    if c == "l":
        return str(len(payload)).encode()
    if c == "x":
        return payload.hex().encode()
    if c == "X":
        return payload.hex().upper().encode()
    if c == "I":
        return _iso_time(now_ns / 1e9).encode()
    if c == "U":
        seconds, nanos = divmod(now_ns, 1_000_000_000)
        return f"{seconds}.{nanos:09d}".encode()
    if c in "jJ":
        if c == "J":
            try:
                json.loads(payload)
            except ValueError:
                on_error(f"Error: Message payload is not valid JSON on topic {message.topic}.")
                return b""
        return _mosquitto_json(message, now_ns, raw_payload=c == "J")
    simple = {
        "A": "TopicAlias",
        "C": "ContentType",
        "E": "MessageExpiryInterval",
        "F": "PayloadFormatIndicator",
        "R": "ResponseTopic",
    }
    if c in simple:
        value = _prop(message, simple[c])
        return b"" if value is None else str(value).encode()
    if c == "D":
        value = _prop(message, "CorrelationData")
        return b"" if value is None else bytes(value)
    if c == "S":
        value = _prop(message, "SubscriptionIdentifier") or []
        return ",".join(str(v) for v in value).encode()
    if c == "P":
        pairs = _prop(message, "UserProperty") or []
        return " ".join(f"{k}:{v}" for k, v in pairs).encode()
    return b"%" + bytes([conversion])


def _pad(value: bytes, flags: bytes, width: bytes, precision: Optional[bytes], conv: int) -> bytes:
    if precision is not None and conv in _TRUNCATED:
        value = value[: int(precision)]
    if width:
        size = int(width)
        if b"-" in flags:
            value = value.ljust(size)
        elif b"0" in flags and conv in _NUMERIC:
            value = value.rjust(size, b"0")
        else:
            value = value.rjust(size)
    return value


def format_message(
    fmt: bytes, message: Any, now_ns: int, on_error: Callable[[str], None] = lambda _: None
) -> bytes:
    """Apply mosquitto_sub's -F format string to one message."""
    out = bytearray()
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == ord("%"):
            match = _SPEC.match(fmt, i)
            if match is None:
                out += fmt[i:]
                break
            flags, width, precision, conversion = match.groups()
            conv = conversion[0]
            if conv == ord("%"):
                out += b"%"
            else:
                value = _field(message, conv, now_ns, on_error)
                out += _pad(value, flags, width, precision, conv)
            i = match.end()
        elif ch == ord("@") and i + 1 < len(fmt):
            nxt = chr(fmt[i + 1])
            if nxt == "@":
                out += b"@"
            elif nxt == "N":
                out += f"{now_ns % 1_000_000_000:09d}".encode()
            else:
                out += time.strftime("%" + nxt, time.localtime(now_ns / 1e9)).encode()
            i += 2
        elif ch == ord("\\") and i + 1 < len(fmt) and fmt[i + 1] in _ESCAPES:
            out += _ESCAPES[fmt[i + 1]]
            i += 2
        else:
            out.append(ch)
            i += 1
    return bytes(out)


def json_message(message: Any, always_base64: bool = False) -> bytes:
    """``--json``: one object with topic, payload, encoding, qos, retain, mid, properties (v5).

    The payload is text when it is UTF-8 (``"encoding": "utf-8"``), base64 otherwise or with
    ``--base64`` (``"encoding": "base64"``).
    """
    payload: bytes = message.payload
    text: Optional[str] = None
    if not always_base64:
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    data: dict[str, Any] = {"topic": message.topic}
    if text is None:
        data["payload"] = base64.b64encode(payload).decode("ascii")
        data["encoding"] = "base64"
    else:
        data["payload"] = text
        data["encoding"] = "utf-8"
    data.update(qos=message.qos, retain=bool(message.retain), mid=message.mid)
    props = getattr(message, "properties", None)
    if props is not None:
        values = props.json()
        for key, value in values.items():
            if isinstance(value, bytes):
                values[key] = base64.b64encode(value).decode("ascii")
        data["properties"] = values
    return json.dumps(data, ensure_ascii=False).encode()


def message_formatter(
    fmt: Optional[str],
    verbose: bool,
    as_json: bool,
    always_base64: bool,
    eol: bool,
    on_error: Callable[[str], None],
) -> Callable[[Any], bytes]:
    """The function that turns one message into the bytes ``ferromqtt sub`` prints."""
    end = b"\n" if eol else b""
    if as_json:
        return lambda message: json_message(message, always_base64) + end
    if fmt is not None:
        raw = fmt.encode()
        return lambda message: format_message(raw, message, time.time_ns(), on_error) + end
    if verbose:
        # mosquitto_sub -v prints "(null)" for an empty payload.
        return lambda message: message.topic.encode() + b" " + (message.payload or b"(null)") + end
    return lambda message: message.payload + end


_LOG_LINE = re.compile(r"^(Sending|Received) ([A-Z]+)(?: (.*))?$")
_PUBLISH_DETAIL = re.compile(r"^\((d\d, q\d, r\d, m\d+)\), '(.*)', \.\.\. \((\d+) bytes\)$")
_MID = re.compile(r"\(Mid: (\d+)\)|\(d0, m(\d+)\)")


def debug_line(line: str, filters: list[str], qos: int) -> list[str]:
    """mosquitto's ``-d`` lines (after "Client <id> ") for one client log line.

    CONNACK is left out (the caller prints it with the numeric code); lines that are not
    about a packet are left out too.
    """
    match = _LOG_LINE.match(line)
    if match is None:
        return []
    verb, packet, detail = match.group(1).lower(), match.group(2), match.group(3) or ""
    if packet == "CONNACK":
        return []
    if packet == "PUBLISH":
        publish = _PUBLISH_DETAIL.match(detail)
        if publish is None:
            return [f"{verb} PUBLISH"]
        flags, topic, size = publish.groups()
        return [f"{verb} PUBLISH ({flags}, '{topic}', ... ({size} bytes))"]
    mid_match = _MID.search(detail)
    mid = next((g for g in mid_match.groups() if g), "") if mid_match else ""
    if packet == "SUBSCRIBE":
        return [
            f"{verb} SUBSCRIBE (Mid: {mid}, Topic: {f}, QoS: {qos}, Options: 0x00)" for f in filters
        ]
    if packet == "PUBREL":
        return [f"{verb} PUBREL (m{mid})"]
    if mid:
        return [f"{verb} {packet} (Mid: {mid})"]
    return [f"{verb} {packet}"]
