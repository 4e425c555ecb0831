"""An MQTT 3.1/3.1.1/5.0 broker that runs inside this Python process.

    with Broker(port=0) as broker:          # port 0: a free port, read back as broker.port
        ...                                 # clients connect to broker.host, broker.port

Options use Mosquitto's configuration names (``max_connections``, ``max_keepalive``,
``max_packet_size``, ``max_queued_messages``, ``max_inflight_messages``, ``sys_interval``,
``persistent_client_expiration``, ``allow_zero_length_clientid``, ``retain_available``,
``allow_anonymous``, ``password_file``, ``acl_file``, ...) and the abuse limits
``max_connections_per_address``, ``max_connection_rate``, ``max_subscriptions_per_client``
and ``max_topic_levels``. TLS: ``certfile``, ``keyfile``,
``keyfile_password`` (an encrypted PKCS#8 key), ``cafile``, ``require_certificate``,
``request_certificate`` (verify a client certificate when one is sent),
``use_identity_as_username``, ``alpn_protocols`` (e.g. ``["mqtt"]``), ``tls_version``
(``"tlsv1.2"``: 1.2 and 1.3, the default; ``"tlsv1.3"``: 1.3 only), ``ciphers`` (an
OpenSSL cipher list); WebSocket:
``protocol="websockets"``, ``path``; ``unix_socket`` (a path, in place of host and port)
(these apply to the listener of ``host`` and ``port``;
``listeners=[{...}]`` sets several).
A wrong name or value raises ``ValueError`` naming it.

Hooks (keyword arguments, or attributes set at any time, also while running; None
removes one) let Python decide what the files allow, and see or change messages:

- ``authenticate(client_id, username, password) -> bool | reason``: after the password
  file allowed the CONNECT (``password`` is bytes or None). True allows; False refuses
  with "not authorized"; a CONNACK ``ReasonCode``, its number (MQTT 5, or the 3.x return
  codes 1-5) or its name refuses with that (3.x clients get the matching return code).
- ``authorize(client_id, username, action, topic) -> bool``: after the ACL file allowed
  it; ``action`` is ``"publish"`` (a topic name; will topics too, at CONNECT) or
  ``"subscribe"`` (a topic filter). Refusals answer as the ACL file's do: PUBACK/PUBREC
  0x87 (3.x: dropped silently), SUBACK 0x87 (3.x: 0x80). Deliveries are not asked about:
  decide what a client may receive when it subscribes (the ACL file's ``read`` rules
  still apply to every delivery).
- ``on_message(message) -> BrokerMessage | None``: every PUBLISH the files and
  ``authorize`` allowed, before it is routed or retained (not wills, ``$SYS`` or
  ``$delayed`` releases); return it (changed or not) or another ``BrokerMessage`` to route
  that, None to drop it (a QoS 1/2 publisher is still acknowledged with success).
- ``on_client_connected(client_id, username, address)`` and
  ``on_client_disconnected(client_id, username, address, reason)``: notices, called in
  order on one thread of their own; ``address`` is (host, port), None on a Unix socket;
  ``reason`` is one of "disconnected", "connection lost", "keep alive timeout",
  "protocol error", "taken over", "server shutting down". ``stop()`` returns after the
  last clients' ``on_client_disconnected``.

A file's refusal is final: the hook is not asked. A hook that raises, or answers with the
wrong type, is logged (logger ``ferromqtt``, with traceback) and counts as a refusal; for
``on_message`` the message is dropped and an MQTT 5 publisher gets 0x80 (unspecified
error). The questions run in a worker thread for the client asked about and only that
client waits for the answer: a slow hook never holds up other clients' traffic.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import threading
import time
from typing import Any, Callable, NamedTuple, Optional

from ferromqtt import _display
from ferromqtt._broker_hooks import HOOK_NAMES, BrokerMessage, _Hooks
from ferromqtt._core import BrokerCore

__all__ = ["Broker", "BrokerMessage", "ConnectedClient", "RoutedMessage"]

# Options of one listener (Mosquitto's names), accepted as keywords for the default one.
_LISTENER_OPTIONS = (
    "certfile",
    "keyfile",
    "keyfile_password",
    "cafile",
    "tls_version",
    "ciphers",
    "require_certificate",
    "request_certificate",
    "alpn_protocols",
    "use_identity_as_username",
    "protocol",
    "path",
    "unix_socket",
)


class ConnectedClient(NamedTuple):
    """A client connected to the broker (``Broker.clients()``)."""

    client_id: str
    address: Optional[tuple[str, int]]
    protocol: int
    """The protocol level: 3 (MQTT 3.1), 4 (3.1.1) or 5."""
    username: Optional[str]


class RoutedMessage(NamedTuple):
    """A message the broker routed (``Broker.traffic()``); the payload is not kept."""

    timestamp: float
    """Seconds since the Unix epoch."""
    client_id: Optional[str]
    """The publisher; None for wills (and when its session has already ended)."""
    topic: str
    qos: int
    retain: bool
    payload_len: int


class _Hook:
    """A hook as an attribute of ``Broker``: setting it takes effect at once."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, broker: Optional[Broker], owner: Optional[type] = None) -> Any:
        if broker is None:
            return self
        return broker._hooks.callables.get(self.name)

    def __set__(self, broker: Broker, hook: Optional[Callable[..., Any]]) -> None:
        broker._hooks.set(self.name, hook)
        broker._core.set_hooks_installed(broker._hooks.installed())


class Broker:
    """An in-process MQTT broker.

    ``start()`` returns once every listener is bound; ``stop()`` returns when every task
    has ended. Usable as a context manager (``with Broker() as b:``, and
    ``async with Broker() as b:`` in a coroutine). Hooks (see the module documentation)
    are keyword arguments or attributes: ``broker.on_message = fn``.
    """

    authenticate = _Hook()
    """``authenticate(client_id, username, password) -> bool | reason``, or None."""
    authorize = _Hook()
    """``authorize(client_id, username, action, topic) -> bool``, or None."""
    on_message = _Hook()
    """``on_message(message: BrokerMessage) -> BrokerMessage | None``, or None."""
    on_client_connected = _Hook()
    """``on_client_connected(client_id, username, address)``, or None."""
    on_client_disconnected = _Hook()
    """``on_client_disconnected(client_id, username, address, reason)``, or None."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1883,
        *,
        config_file: Optional[str | os.PathLike[str]] = None,
        authenticate: Optional[Callable[..., Any]] = None,
        authorize: Optional[Callable[..., Any]] = None,
        on_message: Optional[Callable[..., Any]] = None,
        on_client_connected: Optional[Callable[..., Any]] = None,
        on_client_disconnected: Optional[Callable[..., Any]] = None,
        **options: Any,
    ) -> None:
        hooks = _Hooks()
        given = (authenticate, authorize, on_message, on_client_connected, on_client_disconnected)
        for name, hook in zip(HOOK_NAMES, given):
            hooks.set(name, hook)  # TypeError naming the option, before anything starts
        if config_file is not None:
            options_json, warnings = BrokerCore.options_from_config_file(os.fspath(config_file))
            settings = json.loads(options_json)
            for warning in warnings:
                logging.getLogger("ferromqtt.broker").warning("%s", warning)
        else:
            settings = {"listeners": [{"host": host, "port": port}]}
        if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
            raise ValueError(f"invalid broker option port: {port!r} (0..65535)")
        # Paths (password_file, acl_file, certfile, ...) may be given as os.PathLike.
        options = {k: os.fspath(v) if isinstance(v, os.PathLike) else v for k, v in options.items()}
        # Listener options given as keywords apply to the listener of host and port.
        listener_options = {k: options.pop(k) for k in _LISTENER_OPTIONS if k in options}
        if listener_options:
            if config_file is not None:
                raise ValueError(
                    f"{', '.join(listener_options)}: set per listener in the configuration file"
                )
            settings["listeners"][0].update(listener_options)
        settings.update(options)
        self._hooks = hooks
        self._core = BrokerCore(json.dumps(settings), hooks)
        self._core.set_hooks_installed(hooks.installed())
        self._stopped = threading.Event()
        self._stopped.set()
        self._started_at: Optional[float] = None

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> Broker:
        """Bind the listeners and start serving. Returns self once bound."""
        try:
            self._core.start()
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                # A notebook cell run twice lands here: say what to do about it.
                raise OSError(
                    e.errno,
                    f"{e.strerror}; is another broker (an earlier run of this code?) still "
                    "listening there? Stop it with .stop() or use port=0 for a free port",
                ) from None
            raise
        self._started_at = time.monotonic()
        self._stopped.clear()
        return self

    def stop(self) -> None:
        """Stop serving: v5 clients get DISCONNECT 0x8B; returns when every task ended."""
        self._core.stop()
        self._stopped.set()

    def serve_forever(self) -> None:
        """Start if needed and serve until ``stop()`` is called or Ctrl-C."""
        if not self._core.is_running():
            self.start()
        try:
            while not self._stopped.wait(0.5):
                pass
        finally:
            self.stop()

    @property
    def is_running(self) -> bool:
        return self._core.is_running()

    def __enter__(self) -> Broker:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def __aenter__(self) -> Broker:
        """``async with Broker() as b:`` starts in a worker thread: the event loop keeps
        running while the listeners bind."""
        await asyncio.get_running_loop().run_in_executor(None, self.start)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.stop)

    # -- where it listens ----------------------------------------------------------------
    @property
    def addresses(self) -> list[tuple[str, int]]:
        """Every bound (host, port), in listener order."""
        return [tuple(a) for a in self._core.addresses()]  # type: ignore[misc]

    @property
    def host(self) -> str:
        return self._first_address()[0]

    @property
    def port(self) -> int:
        return self._first_address()[1]

    @property
    def url(self) -> str:
        host, port = self._first_address()
        return f"mqtt://{'[' + host + ']' if ':' in host else host}:{port}"

    def _first_address(self) -> tuple[str, int]:
        addresses = self._core.addresses()
        if not addresses:
            raise RuntimeError("broker is not running")
        return addresses[0][0], addresses[0][1]

    # -- figures -------------------------------------------------------------------------
    def reload_tls(self) -> None:
        """Re-read the TLS listeners' certificate, key and CA files; new connections use
        them, open ones keep theirs. ``OSError`` if a file cannot be used (that listener
        keeps its previous files)."""
        self._core.reload_tls()

    def reload(self) -> None:
        """Re-read the password file, the ACL file (applied to open connections too) and the
        TLS listeners' files, as Mosquitto does on SIGHUP; connections stay open. ``OSError``
        naming the file if one cannot be used (what failed keeps its previous state)."""
        self._core.reload()

    def stats(self) -> dict[str, Any]:
        """The ``$SYS`` figures (clients, messages, bytes, subscriptions, retained...)."""
        result: dict[str, Any] = json.loads(self._core.stats_json())
        return result

    # -- observation (for tests and notebooks); RuntimeError when not running ------------
    def clients(self) -> dict[str, ConnectedClient]:
        """The connected clients by client id."""
        return {c[0]: ConnectedClient(*c) for c in self._core.clients()}

    def subscriptions(self) -> dict[str, dict[str, int]]:
        """Every session's subscriptions: client id -> {filter: QoS}."""
        found: dict[str, dict[str, int]] = {}
        for client_id, topic_filter, qos in self._core.subscriptions():
            found.setdefault(client_id, {})[topic_filter] = qos
        return found

    def retained(self) -> dict[str, bytes]:
        """The retained messages: topic -> payload (``$SYS`` topics left out)."""
        return dict(self._core.retained())

    def traffic(self, n: int = 100) -> list[RoutedMessage]:
        """The last ``n`` messages routed (the broker keeps 1000), oldest first."""
        if n < 0:
            raise ValueError(f"n must be >= 0, not {n}")
        return [RoutedMessage(*r) for r in self._core.traffic(n)]

    def wait_for_client(self, client_id: str, timeout: float = 5.0) -> ConnectedClient:
        """Wait until a client with this id is connected; TimeoutError after ``timeout``."""
        return ConnectedClient(*self._core.wait_for_client(client_id, timeout))

    # -- display -------------------------------------------------------------------------
    def _summary(self) -> Optional[dict[str, Any]]:
        if not self._core.is_running():
            return None
        stats = self.stats()
        uptime = time.monotonic() - (self._started_at or time.monotonic())
        return {
            "url": self.url,
            "uptime": f"{uptime:.1f} s",
            "clients": stats["clients_connected"],
            "messages received": stats["messages_received"],
            "messages sent": stats["messages_sent"],
            "retained": len(self.retained()),
            "subscriptions": stats["subscriptions_count"],
        }

    def __repr__(self) -> str:
        summary = self._summary()
        if summary is None:
            return "<ferromqtt.Broker stopped>"
        return (
            f"<ferromqtt.Broker {summary['url']} up {summary['uptime']}, "
            f"{summary['clients']} client(s), {summary['messages received']} message(s) in, "
            f"{summary['messages sent']} out>"
        )

    def _repr_html_(self) -> str:
        summary = self._summary()
        if summary is None:
            return "<b>ferromqtt.Broker</b> (stopped)"
        return _display.html_table("ferromqtt.Broker (running)", summary)
