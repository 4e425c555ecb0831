"""Type stubs for the ferromqtt._core extension module."""

import os
from collections.abc import Awaitable
from typing import Any, final

__all__ = [
    "AsyncClientCore",
    "BrokerCore",
    "CAUSE_KEEPALIVE",
    "CAUSE_LOST",
    "CAUSE_PROTOCOL",
    "CAUSE_REFUSED",
    "CAUSE_REQUESTED",
    "CAUSE_SERVER",
    "ClientCore",
    "ConnectionClosedError",
    "EV_CONNACK",
    "EV_DISCONNECTED",
    "EV_LOG",
    "EV_MESSAGE",
    "EV_PUBLISHED",
    "EV_SUBACK",
    "EV_UNSUBACK",
    "MQTTError",
    "ProtocolError",
    "ProxyError",
    "__version__",
    "build_profile",
    "check_tls",
    "passwd_delete",
    "passwd_update",
    "parse_proxy_url",
    "topic_matches_sub",
    "validate_topic_filter",
    "validate_topic_name",
]

__version__: str
#: "release" or "debug": how the extension was compiled (benchmarks need "release").
build_profile: str

def passwd_update(
    path: str | os.PathLike[str], username: str, password: str, create: bool = False
) -> None:
    """Set ``username``'s password in a Mosquitto password file (hashed as
    ``mosquitto_passwd`` does); ``create`` starts from an empty file. ``OSError`` when the
    file cannot be read or written, ``ValueError`` for a bad file or username."""

def passwd_delete(path: str | os.PathLike[str], username: str) -> bool:
    """Remove ``username`` from a Mosquitto password file; whether it was there."""

def topic_matches_sub(sub: str, topic: str) -> bool:
    """Whether ``topic`` matches the subscription filter ``sub`` (no validation, as paho)."""

def validate_topic_name(topic: str) -> None:
    """Raise ValueError unless ``topic`` is a valid MQTT topic name."""

def validate_topic_filter(filter: str) -> None:
    """Raise ValueError unless ``filter`` is a valid MQTT topic filter."""

class MQTTError(Exception):
    """Base class of ferromqtt's errors."""

class ProtocolError(MQTTError):
    """A peer broke the MQTT protocol."""

class ProxyError(ConnectionError):
    """A SOCKS or HTTP proxy could not be reached or refused the tunnel to the broker."""

# (ca_certs, certfile, keyfile, verification (0 full, 1 no host name check, 2 none),
#  tls_version (0 TLS 1.2 and 1.3, 1 TLS 1.2 only, 2 TLS 1.3 only), alpn_protocols,
#  ciphers (an OpenSSL cipher list), keyfile_password)
_TlsArgs = tuple[str | None, str | None, str | None, int, int, list[str], str | None, str | None]
# (proxy_type (1 SOCKS4, 2 SOCKS5, 3 HTTP), host, port, remote_dns, username, password)
_ProxyArgs = tuple[int, str, int, bool, str | None, str | None]

def check_tls(tls: _TlsArgs) -> None:
    """Build the TLS settings of ``tls`` without connecting: bad cipher names, a wrong key
    password or unreadable files raise ssl.SSLError here."""

def parse_proxy_url(url: str) -> _ProxyArgs:
    """mosquitto_pub's ``--proxy`` URL (``socks5h://user:password@host:port``; also socks5,
    socks4a, socks4, http) as a proxy tuple. ValueError for a bad URL."""

# ---- the client core (used by ferromqtt.client) -------------------------------------------
#
# Events from ClientCore.next_events() are tuples whose first item is an EV_* constant:
#   (EV_CONNACK, session_present: bool, rc_v3: int, reason_code: int, properties: bytes | None)
#   (EV_MESSAGE, mid: int, topic: bytes, payload: bytes, qos: int, retain: bool, dup: bool,
#    properties: bytes | None)
#   (EV_PUBLISHED, mid: int, reason_code: int, properties: bytes | None)
#   (EV_SUBACK, mid: int, reason_codes: list[int], properties: bytes | None)
#   (EV_UNSUBACK, mid: int, reason_codes: list[int], properties: bytes | None)
#   (EV_DISCONNECTED, cause: int (a CAUSE_* constant), reason_code: int | None,
#    properties: bytes | None, message: str)
#   (EV_LOG, level: int (paho LogLevel), line: str)
# Properties are MQTT 5 property bytes as paho's Properties.pack()/unpack() use them (with
# the variable byte integer length prefix); None for MQTT 3.x.

EV_CONNACK: int
EV_MESSAGE: int
EV_PUBLISHED: int
EV_SUBACK: int
EV_UNSUBACK: int
EV_DISCONNECTED: int
EV_LOG: int
CAUSE_REQUESTED: int
"""The application called disconnect()."""
CAUSE_SERVER: int
"""The server sent DISCONNECT (MQTT 5)."""
CAUSE_KEEPALIVE: int
"""No PINGRESP (or CONNACK) within the keepalive interval."""
CAUSE_LOST: int
"""The socket closed or failed."""
CAUSE_PROTOCOL: int
"""The server broke the protocol."""
CAUSE_REFUSED: int
"""The CONNACK refused the connection."""

@final
class ClientCore:
    """The Rust half of a paho-compatible client: one MQTT session (packet ids, the
    in-flight window, queued QoS>0 messages, QoS 1/2 state) over any number of
    connections, each run by a task on the process-wide runtime."""

    def __new__(cls, protocol: int = 4, max_inflight: int = 20, max_queued: int = 0) -> ClientCore:
        """A client for MQTT 3.1 (3), 3.1.1 (4) or 5.0 (5). No IO happens here."""

    def connect(
        self,
        host: str,
        port: int,
        keepalive: int,
        client_id: str,
        clean_start: bool,
        connect_timeout: float,
        bind_address: str = "",
        bind_port: int = 0,
        username: str | None = None,
        password: bytes | None = None,
        will: tuple[str, bytes, int, bool, bytes | None] | None = None,
        properties: bytes | None = None,
        protocol: int = 4,
        bridge: bool = False,
        transport: str = "tcp",
        ws_path: str = "/mqtt",
        ws_headers: list[tuple[str, str]] | None = None,
        tls: _TlsArgs | None = None,
        proxy: _ProxyArgs | None = None,
    ) -> None:
        """Connect (within ``connect_timeout`` seconds) and send CONNECT; any previous
        connection is dropped silently. Does not wait for CONNACK. ``transport`` is "tcp",
        "unix" (``host`` is the socket path) or "websockets" (``ws_path``, ``ws_headers``).
        ``tls`` turns TLS (rustls) on; ``proxy`` tunnels through a SOCKS or HTTP proxy.
        Raises OSError (ConnectionRefusedError, socket.gaierror, ssl.SSLError,
        ProxyError, ...), TimeoutError, WebsocketConnectionError, or ValueError for bad
        arguments."""

    def publish(
        self,
        topic: str,
        payload: bytes,
        qos: int = 0,
        retain: bool = False,
        properties: bytes | None = None,
        register: tuple[dict[int, Any], Any] | None = None,
        register_also: tuple[dict[int, Any], Any] | None = None,
    ) -> tuple[int, int]:
        """Publish; returns (rc, mid). rc 0: handed to an open connection; 4: QoS 0
        dropped or QoS>0 queued until connected; 15: queue full; 9: too large. An empty
        topic is allowed for an MQTT 5 Topic Alias. Callable from any thread. With rc 0 (or
        4 for QoS>0), ``register`` then ``register_also`` (each ``(dict, value)``) get
        ``dict[mid] = value`` before the loop thread can see the message complete."""

    def publish_unreported(
        self,
        topic: str,
        payload: bytes,
        retain: bool = False,
        properties: bytes | None = None,
    ) -> tuple[int, int, int | None]:
        """Publish at QoS 0 with no EV_PUBLISHED event; returns (rc, mid, number), with a
        number (rc 0 only) for ``qos0_status`` and ``wait_qos0``."""

    def qos0_status(self, number: int) -> int:
        """0 while a message of ``publish_unreported`` is unwritten, 1 once written, 2 when
        dropped with its connection."""

    def wait_qos0(self, number: int, timeout: float | None = None) -> int:
        """Wait with the GIL released up to ``timeout`` seconds (None: forever) for a
        message of ``publish_unreported`` to be written or dropped; returns its
        ``qos0_status``. Ctrl-C raises KeyboardInterrupt."""

    def subscribe(
        self, topics: list[tuple[str, int, bool, bool, int]], properties: bytes | None = None
    ) -> tuple[int, int | None]:
        """SUBSCRIBE (filter, qos, no_local, retain_as_published, retain_handling) items;
        returns (0, mid), or (4, None) when no connection is open."""

    def unsubscribe(
        self, topics: list[str], properties: bytes | None = None
    ) -> tuple[int, int | None]:
        """UNSUBSCRIBE; returns (0, mid), or (4, None) when no connection is open."""

    def ack(self, acks: list[tuple[int, int]]) -> None:
        """Acknowledge delivered messages: (mid, qos) pairs; QoS 1 PUBACK, QoS 2 PUBCOMP."""

    def disconnect(self, reason_code: int = 0, properties: bytes | None = None) -> bool:
        """Send DISCONNECT and close; False when no connection was open."""

    def abort(self) -> None:
        """Drop the connection without DISCONNECT and without an event."""

    def next_events(
        self,
        timeout: float | None = None,
        max_events: int = 256,
        published: tuple[Any, dict[int, Any], dict[int, Any]] | None = None,
    ) -> tuple[int, list[tuple]]:
        """Wait up to ``timeout`` seconds (None: forever) with the GIL released for events,
        and return how many were taken (at most ``max_events``; 0 on timeout or
        interrupt()) and their tuples. Ctrl-C raises KeyboardInterrupt within ~100 ms.
        With ``published`` = (client, infos, out_messages), the facade and its dicts by
        mid: if the client's ``_on_publish`` is None when the batch is taken, an
        EV_PUBLISHED event is settled here instead of returned (both entries removed, the
        info's ``_set_as_published()`` called)."""

    def is_open(self) -> bool:
        """True while a connection is open (CONNECT sent, not closing)."""

    def is_connected(self) -> bool:
        """True between an accepted CONNACK and the end of the connection."""

    def has_connection(self) -> bool:
        """True while a connection task runs (also while it flushes a requested close)."""

    def set_limits(self, max_inflight: int, max_queued: int) -> None:
        """The in-flight window (0: unlimited) and the queue bound (0: unlimited)."""

    def set_log_enabled(self, enabled: bool) -> None:
        """Whether paho-style log lines are produced as EV_LOG events."""

    def fileno(self) -> int:
        """A descriptor that is readable while events are queued (for external loops)."""

    def assigned_client_id(self) -> str | None:
        """The client id assigned by the server in the last CONNACK (MQTT 5)."""

    def drop_out_messages(self) -> list[tuple[int, str, bytes, int, bool, bytes | None]]:
        """Remove every unacknowledged outgoing QoS>0 message: (mid, topic, payload, qos,
        retain, properties)."""

    def queued_len(self) -> int:
        """QoS>0 messages held, in flight and waiting."""

    def interrupt(self) -> None:
        """Make a next_events() wait in another thread return early."""

    def connection_count(self) -> int:
        """How many connections this client has opened."""

# ---- the asyncio client core (used by ferromqtt.aio) ---------------------------------------

class ConnectionClosedError(MQTTError):
    """The connection ended before the awaited operation completed."""

@final
class AsyncClientCore:
    """The Rust half of ``ferromqtt.aio.Client``: one MQTT session whose operations return
    asyncio awaitables, completed on the running loop with one ``call_soon_threadsafe``
    each. Inbound messages wait in a bounded buffer; when it is full the connection stops
    reading and TCP pushes back on the broker. Awaitables fail with TimeoutError after
    their ``timeout`` (None: no limit), ConnectionClosedError when the connection ends
    first, OSError when the broker cannot be reached."""

    def __new__(
        cls,
        protocol: int = 4,
        max_inflight: int = 20,
        max_queued_outgoing: int = 0,
        max_buffered: int | None = None,
    ) -> AsyncClientCore:
        """A client for MQTT 3.1 (3), 3.1.1 (4) or 5.0 (5); ``max_queued_outgoing`` bounds
        the QoS>0 messages held (0: no bound), ``max_buffered`` the inbound buffer (None or
        0: 1000). No IO happens here."""

    def connect(
        self,
        host: str,
        port: int,
        keepalive: int,
        client_id: str,
        clean_start: bool,
        timeout: float | None,
        bind_address: str = "",
        bind_port: int = 0,
        username: str | None = None,
        password: bytes | None = None,
        will: tuple[str, bytes, int, bool, bytes | None] | None = None,
        properties: bytes | None = None,
        transport: str = "tcp",
        ws_path: str = "/mqtt",
        ws_headers: list[tuple[str, str]] | None = None,
        tls: _TlsArgs | None = None,
        proxy: _ProxyArgs | None = None,
    ) -> Awaitable[tuple[bool, int, int, bytes | None]]:
        """Open the connection (``transport``, ``tls`` and ``proxy`` as for
        ``ClientCore.connect``), send CONNECT and wait for the CONNACK: (session_present,
        rc_v3, reason_code, properties), also when refused (reason_code != 0). Any
        previous connection is dropped first."""

    def publish(
        self,
        topic: str,
        payload: bytes,
        qos: int = 0,
        retain: bool = False,
        properties: bytes | None = None,
        timeout: float | None = None,
    ) -> Awaitable[tuple[int, bytes | None]]:
        """Hand the message to the connection now (publishes keep call order) and wait
        for its PUBACK/PUBCOMP (QoS 1/2) or its write (QoS 0): (reason_code, properties).
        Raises MQTTError at once when no connection is open. With a bounded outgoing queue
        that is full, the message waits for room first (a cancelled wait does not send it)."""

    def subscribe(
        self,
        topics: list[tuple[str, int, bool, bool, int]],
        properties: bytes | None = None,
        timeout: float | None = None,
    ) -> Awaitable[tuple[bytes, bytes | None]]:
        """SUBSCRIBE (filter, qos, no_local, retain_as_published, retain_handling) items
        and wait for the SUBACK: (reason codes, one byte each; properties)."""

    def unsubscribe(
        self, topics: list[str], properties: bytes | None = None, timeout: float | None = None
    ) -> Awaitable[tuple[bytes, bytes | None]]:
        """UNSUBSCRIBE and wait for the UNSUBACK: (reason codes, empty for 3.x;
        properties)."""

    def disconnect(
        self, reason_code: int = 0, properties: bytes | None = None, timeout: float | None = None
    ) -> Awaitable[None]:
        """Send DISCONNECT and wait until the connection has ended (at once when none is
        open); after ``timeout`` the connection is dropped instead."""

    def abort(self) -> None:
        """Drop the connection without DISCONNECT, as a crash would (the broker publishes
        the will); pending calls fail with ConnectionClosedError."""

    def wait_messages(self) -> Awaitable[bool]:
        """True once messages are buffered; False when none are and no connection is open.
        Takes nothing, so a cancelled wait loses no message."""

    def take_messages(
        self, max: int = 256
    ) -> list[tuple[int, str, bytes, int, bool, bool, bytes | None]]:
        """Take up to ``max`` buffered messages, never waiting: (mid, topic, payload, qos,
        retain, dup, properties). QoS 1/2 messages are acknowledged (PUBACK/PUBCOMP)."""

    def buffered(self) -> int:
        """Messages buffered for Python now."""

    def buffer_capacity(self) -> int:
        """The bound of the inbound buffer."""

    def buffer_high_water(self) -> int:
        """Most messages ever buffered at once."""

    def channel_len(self) -> int:
        """Events waiting between the connection task and the buffer, as last seen."""

    @staticmethod
    def channel_capacity() -> int:
        """The bound of the channel between the connection task and the buffer."""

    def close_reason(self) -> tuple[int, int | None, bytes | None, str] | None:
        """Why the last connection ended: (cause (a CAUSE_* constant), reason_code,
        properties, message); None while one is open or before the first."""

    def is_open(self) -> bool:
        """True from connect() until the end of that connection has been seen."""

    def is_connected(self) -> bool:
        """True between an accepted CONNACK and the end of the connection."""

    def pending_calls(self) -> int:
        """Awaited publishes, subscribes and unsubscribes not answered yet."""

    def queued_len(self) -> int:
        """Outgoing QoS>0 messages held by the session, in flight and waiting."""

    def assigned_client_id(self) -> str | None:
        """The client id the broker assigned in its last CONNACK (MQTT 5)."""

@final
class BrokerCore:
    """The broker as Python sees it; ``ferromqtt.broker.Broker`` wraps it."""

    def __new__(cls, options_json: str, hooks: Any | None = None) -> BrokerCore:
        """Validate the options (a JSON object of broker options) without starting.
        ``hooks``: the dispatcher the broker asks (``ferromqtt._broker_hooks._Hooks``:
        ``authenticate``, ``authorize``, ``on_message``, ``on_client_connected``,
        ``on_client_disconnected``), called from worker threads."""

    def set_hooks_installed(self, names: list[str]) -> None:
        """Name the dispatcher's hooks the broker asks (the others cost nothing); takes
        effect at once. ``ValueError`` for an unknown name, ``RuntimeError`` without a
        dispatcher."""

    @staticmethod
    def options_from_toml_file(path: str) -> str:
        """Read a TOML configuration file into the JSON options ``BrokerCore`` takes."""

    @staticmethod
    def options_from_config_file(path: str) -> tuple[str, list[str]]:
        """Read a TOML file or a ``mosquitto.conf`` (by the ``.conf`` extension or its
        content) into (JSON options, warnings about ignored directives with their lines).
        ``ValueError`` names every refused directive with its line."""

    def start(self) -> None:
        """Bind every listener and start serving; return once bound."""

    def stop(self) -> None:
        """Stop serving and return when every task has ended (no-op when stopped)."""

    def is_running(self) -> bool:
        """Whether the broker is serving."""

    def addresses(self) -> list[tuple[str, int]]:
        """The bound (host, port) pairs, in listener order."""

    def reload_tls(self) -> None:
        """Re-read the TLS listeners' certificate, key and CA files (new connections use
        them). ``OSError`` if a file fails (that listener keeps its previous files);
        ``RuntimeError`` when stopped."""

    def reload(self) -> None:
        """Re-read the password file, the ACL file (applied to open connections too) and the
        TLS listeners' files, as Mosquitto does on SIGHUP; connections stay open. ``OSError``
        naming the file if one fails (what failed keeps its previous state); ``RuntimeError``
        when stopped."""

    def stats_json(self) -> str:
        """The ``$SYS`` figures as a JSON object."""

    # Observation: each call is a snapshot from the router; RuntimeError when stopped.
    def clients(self) -> list[tuple[str, tuple[str, int] | None, int, str | None]]:
        """The connected clients as (client_id, (host, port), protocol level, username)."""

    def subscriptions(self) -> list[tuple[str, str, int]]:
        """Every subscription as (client_id, filter, qos), by client id then filter."""

    def retained(self) -> list[tuple[str, bytes]]:
        """The retained messages as (topic, payload), by topic (``$SYS`` left out)."""

    def traffic(self, n: int) -> list[tuple[float, str | None, str, int, bool, int]]:
        """The last ``n`` routed messages (at most 1000) as (timestamp, client_id, topic,
        qos, retain, payload length), oldest first."""

    def wait_for_client(
        self, client_id: str, timeout: float
    ) -> tuple[str, tuple[str, int] | None, int, str | None]:
        """Wait until ``client_id`` is connected and return it as ``clients()`` does;
        raise TimeoutError after ``timeout`` seconds."""
