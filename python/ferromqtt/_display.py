"""How brokers, clients and messages show themselves in a REPL or a notebook: short text
for ``repr()``, a small table for ``_repr_html_()``, and payload previews that never dump
a large payload (at most ``PREVIEW_BYTES`` of it are shown)."""

from __future__ import annotations

from typing import Any

PREVIEW_BYTES = 200

_CLIENT_STATES = {
    0: "new",
    1: "connecting (async)",
    2: "connecting",
    3: "connected",
    4: "connection lost",
    5: "disconnecting",
    6: "disconnected",
}


def payload_preview(payload: Any, limit: int = PREVIEW_BYTES) -> str:
    """``b'...'`` of the first ``limit`` bytes, then how many bytes there are in all."""
    data = bytes(payload) if isinstance(payload, (bytes, bytearray, memoryview)) else payload
    if not isinstance(data, bytes):
        return repr(data)[: limit + 2]
    if len(data) <= limit:
        return repr(data)
    return f"{data[:limit]!r}... ({len(data)} bytes)"


def html_table(title: str, rows: dict[str, Any]) -> str:
    import html  # only notebooks need it: kept out of `import ferromqtt.client`

    cells = "".join(
        f"<tr><th style='text-align:left'>{html.escape(name)}</th>"
        f"<td style='text-align:left'><code>{html.escape(str(value))}</code></td></tr>"
        for name, value in rows.items()
    )
    return f"<b>{html.escape(title)}</b><table>{cells}</table>"


def client_fields(client: Any) -> dict[str, Any]:
    """What a Client shows: read with defaults, so a changed attribute never breaks repr."""
    client_id = getattr(client, "_client_id", b"")
    if isinstance(client_id, bytes):
        client_id = client_id.decode("utf-8", "replace")
    fields: dict[str, Any] = {
        "state": _CLIENT_STATES.get(getattr(client, "_state", -1), "unknown"),
        "server": f"{getattr(client, '_host', '') or '-'}:{getattr(client, '_port', '')}",
        "client id": client_id or "(assigned by the server)",
        "protocol": getattr(getattr(client, "_protocol", None), "name", "?"),
    }
    subscriptions = getattr(client, "_subscriptions", None)
    if subscriptions is not None:
        fields["subscriptions"] = ", ".join(sorted(subscriptions)) or "none"
    filtered = getattr(client, "_filtered_callbacks", None)
    if filtered:
        fields["topic callbacks"] = ", ".join(sorted(filtered))
    fields["messages in flight"] = len(getattr(client, "_infos", ()))
    return fields


def message_fields(message: Any) -> dict[str, Any]:
    try:
        topic = message.topic
    except UnicodeDecodeError:
        topic = repr(message._topic)
    return {
        "topic": topic,
        "qos": message.qos,
        "retain": message.retain,
        "mid": message.mid,
        "payload": payload_preview(message.payload),
    }
