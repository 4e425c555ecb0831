"""The connection that ``ferromqtt pub`` and ``ferromqtt sub`` drive: ``Session`` checks the
options both tools share (broker, TLS, proxy, protocol version, client id, session expiry,
credentials, will), connects one ``ferromqtt.client.Client`` (public API only) with its
network loop in a background thread, and records the outcome as mosquitto's tools report it:
the message on stderr and the exit code. The main thread waits on its events.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import ssl
import sys
import threading
from typing import Any, Callable, Optional

import ferromqtt.client as mqtt
from ferromqtt import _cli_format, _transport
from ferromqtt._cli_options import (
    VERSIONS,
    UsageError,
    build_properties,
    check_topic_name,
    int_option,
)
from ferromqtt.packettypes import PacketTypes
from ferromqtt.properties import Properties

# Exit codes of mosquitto's tools (libmosquitto error numbers, or the CONNACK reason code).
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CONNECTION_LOST = 7
EXIT_TLS = 8
EXIT_TIMED_OUT = 27

# --tls-version, mosquitto's spelling (tlsv1.1 is refused by tls_set with a clear message).
_TLS_VERSIONS = {
    "tlsv1.3": ssl.TLSVersion.TLSv1_3,
    "tlsv1.2": ssl.TLSVersion.TLSv1_2,
    "tlsv1.1": ssl.TLSVersion.TLSv1_1,
}

# The MQTT 3.1.1 CONNACK return code of each refusal (the client reports refusals as v5
# reason codes); mosquitto_sub exits with this code.
_V3_CONNACK_CODES = {
    "Unsupported protocol version": 1,
    "Client identifier not valid": 2,
    "Server unavailable": 3,
    "Bad user name or password": 4,
    "Not authorized": 5,
}


class Session:
    """Options shared by pub and sub, and the connected client they drive."""

    def __init__(self, tool: str, args: argparse.Namespace, groups: list[tuple[str, ...]]):
        self.tool = tool
        self.quiet: bool = args.quiet
        self.debug: bool = args.debug
        self.host: str = args.host
        self.tls = args.cafile is not None or args.tls_use_os_certs
        if args.psk is not None or args.psk_identity is not None:
            raise UsageError(
                "TLS-PSK (--psk, --psk-identity) is not supported: ferromqtt's TLS (rustls) "
                "has no pre-shared keys; use certificates (--cafile, --cert, --key)."
            )
        if (args.cert is None) != (args.key is None):
            raise UsageError("Both certfile and keyfile must be provided if one of them is set.")
        if args.cert is not None and not self.tls:
            raise UsageError("--cert needs --cafile or --tls-use-os-certs.")
        self.cafile: Optional[str] = args.cafile
        self.certfile: Optional[str] = args.cert
        self.keyfile: Optional[str] = args.key
        self.insecure: bool = args.insecure
        self.tls_version: Optional[ssl.TLSVersion] = None
        if args.tls_version is not None:
            if args.tls_version not in _TLS_VERSIONS:
                raise UsageError(f"Invalid TLS version given: {args.tls_version}")
            self.tls_version = _TLS_VERSIONS[args.tls_version]
        self.ciphers: Optional[str] = args.ciphers
        # mosquitto_pub takes socks5h:// only; ferromqtt also socks5, socks4(a) and http.
        self.proxy: Optional[dict[str, Any]] = None
        if args.proxy is not None:
            try:
                self.proxy = _transport.proxy_from_url(args.proxy)
            except ValueError as e:
                if "scheme" in str(e):
                    raise UsageError(f"Unsupported proxy protocol: {args.proxy}") from None
                raise UsageError(f"Invalid proxy: {e}") from None
        self.unix: Optional[str] = args.unix
        if self.unix is not None and self.proxy is not None:
            raise UsageError("--proxy cannot be used with --unix.")
        port = args.port if args.port is not None else ("8883" if self.tls else "1883")
        self.port = int_option(port, 1, 65535, f"Invalid port given: {port}")
        self.qos = int_option(args.qos, 0, 2, f"Invalid QoS given: {args.qos}")
        self.keepalive = int_option(
            args.keepalive,
            5,
            65535,
            "Invalid keepalive given, it must be between 5 and 65535 inclusive.",
        )
        version = VERSIONS.get(args.protocol_version.lower())
        if version is None:
            raise UsageError("Invalid protocol version argument given.")
        self.version = version
        if args.id is not None and args.id_prefix is not None:
            raise UsageError("-i and -I argument cannot be used together.")
        self.client_id = args.id or ""
        if args.id_prefix is not None:
            self.client_id = f"{args.id_prefix}{os.getpid()}"
        self.clean = not args.disable_clean_session
        if not self.clean and not self.client_id:
            raise UsageError("You must provide a client id if you are using the -c option.")
        self.session_expiry: Optional[int] = None
        if args.session_expiry_interval is not None:
            text = args.session_expiry_interval
            never = text in ("-1", "∞")
            self.session_expiry = (
                0xFFFFFFFF
                if never
                else int_option(
                    text, 0, 0xFFFFFFFF, f"Invalid session-expiry-interval given: {text}"
                )
            )
        elif not self.clean:
            self.session_expiry = 0xFFFFFFFF
        if args.pw is not None and args.username is None:
            raise UsageError("Problem setting username and/or password.", show_hint=False)
        self.username: Optional[str] = args.username
        self.password: Optional[str] = args.pw
        if args.will_topic is None and (args.will_payload is not None or args.will_retain):
            raise UsageError("Will payload given, but no will topic given.")
        if args.will_topic is not None and not check_topic_name(args.will_topic):
            raise UsageError(f"Invalid will topic '{args.will_topic}', does it contain '+' or '#'?")
        self.will_topic: Optional[str] = args.will_topic
        self.will_payload: Optional[str] = args.will_payload
        self.will_qos = int_option(args.will_qos, 0, 2, f"Invalid will QoS given: {args.will_qos}")
        self.will_retain: bool = args.will_retain
        self.bind_address: str = args.bind_address
        self.max_inflight: Optional[int] = None
        if getattr(args, "max_inflight", None) is not None:
            self.max_inflight = int_option(
                args.max_inflight, 1, 65535, f"Invalid max inflight given: {args.max_inflight}"
            )
        self.properties = build_properties(groups)
        self.client: Any = None
        self.connected = threading.Event()
        self.finished = threading.Event()
        # Notified whenever connected, finished or a publish completes: the main thread
        # waits on it.
        self.changed = threading.Condition()
        self.exit_code = EXIT_OK
        self.disconnecting = False
        self.subscribe_filters: list[str] = []
        self._last_debug = ""

    # -- output -------------------------------------------------------------------------

    def error(self, message: str) -> None:
        if not self.quiet:
            print(message, file=sys.stderr, flush=True)

    def finish(self, exit_code: int, message: Optional[str] = None) -> None:
        """Record the outcome (the first one wins) and wake the main thread."""
        if not self.finished.is_set():
            self.exit_code = exit_code
            if message:
                self.error(message)
        with self.changed:
            self.finished.set()
            self.changed.notify_all()

    def _debug_line(self, text: str) -> None:
        name = self.client_id or "(null)"
        sys.stdout.write(f"Client {name} {text}\n")
        sys.stdout.flush()

    def _on_log(self, client: Any, userdata: Any, level: int, line: str) -> None:
        for text in _cli_format.debug_line(line, self.subscribe_filters, self.qos):
            # CONNECT and DISCONNECT can be logged twice (by the facade and the core).
            if text != self._last_debug or not text.endswith("CONNECT"):
                self._debug_line(text)
            self._last_debug = text

    # -- connection -----------------------------------------------------------------------

    def props(self, command: str) -> Optional[Properties]:
        """The -D properties for `command`, or None (always None before MQTT 5)."""
        if self.version != mqtt.MQTTv5:
            return None
        return self.properties.get(command)

    def connect(self, on_connected: Callable[[], None]) -> bool:
        """Connect and start the network loop; False (with the outcome set) if it failed."""
        v5 = self.version == mqtt.MQTTv5
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=None if v5 else self.clean,
            protocol=self.version,
            transport="tcp" if self.unix is None else "unix",
            # mosquitto_sub reconnects (and subscribes again) after losing the broker;
            # mosquitto_pub gives up.
            reconnect_on_failure=self.tool == "sub",
        )
        client.reconnect_delay_set(1, 30)
        if self.max_inflight is not None:
            client.max_inflight_messages_set(self.max_inflight)
        self.client = client
        if self.username is not None:
            client.username_pw_set(self.username, self.password)
        if self.tls:
            try:
                client.tls_set(
                    self.cafile,
                    self.certfile,
                    self.keyfile,
                    tls_version=self.tls_version,
                    ciphers=self.ciphers,
                )
            except (OSError, ValueError) as e:
                self.finish(EXIT_ERROR, f"Error: Problem setting TLS options: {e}.")
                return False
            if self.insecure:
                client.tls_insecure_set(True)
        if self.proxy is not None:
            client.proxy_set(**self.proxy)
        if self.will_topic is not None:
            client.will_set(
                self.will_topic,
                self.will_payload,
                self.will_qos,
                self.will_retain,
                properties=self.props("will"),
            )
        if self.debug:
            client.on_log = self._on_log

        def on_connect(client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
            if self.debug:
                self._debug_line(f"received CONNACK ({self._connack_code(reason)})")
            if reason.is_failure:
                code = reason.value if v5 else self._connack_code(reason)
                text = str(reason) if v5 else mqtt.connack_string(code)
                message = f"Connection error: {text}"
                if self.tool == "pub":
                    # mosquitto_pub's second line (for 5.0 it reports a protocol error).
                    message += "\nError: The connection was refused."
                self.finish(code, message)
                return
            on_connected()
            with self.changed:
                self.connected.set()
                self.changed.notify_all()

        def on_disconnect(client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
            if self.disconnecting:
                self.finish(self.exit_code)
            elif self.tool == "sub" and self.connected.is_set():
                pass  # the network loop reconnects; on_connect subscribes again
            elif v5 and reason.value >= 0x80 and self.connected.is_set():
                self.finish(reason.value, f"Disconnected by the broker: {reason}")
            else:
                self.finish(EXIT_CONNECTION_LOST, "Error: The connection was lost.")

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        connect_props = self.props("connect")
        if v5 and self.session_expiry is not None:
            connect_props = connect_props or Properties(PacketTypes.CONNECT)
            connect_props.SessionExpiryInterval = self.session_expiry
        host = self.host if self.unix is None else self.unix
        try:
            if v5:
                client.connect(
                    host,
                    self.port,
                    self.keepalive,
                    bind_address=self.bind_address,
                    clean_start=self.clean,
                    properties=connect_props,
                )
            else:
                client.connect(host, self.port, self.keepalive, self.bind_address)
        except socket.gaierror:
            self.finish(EXIT_ERROR, "Unable to connect (Lookup error.).")
            return False
        except ssl.SSLError as e:
            # mosquitto's line, then what the TLS layer said.
            self.finish(EXIT_TLS, f"Error: A TLS error occurred.\n{e}")
            return False
        except OSError as e:
            # "Connection refused", as strerror(3) says it (no "(os error 111)" suffix).
            text = re.sub(r" \(os error \d+\)$", "", str(e.strerror or e))
            self.finish(EXIT_ERROR, f"Error: {text}")
            return False
        client.loop_start()
        return True

    @staticmethod
    def _connack_code(reason: Any) -> int:
        if reason.packetType == PacketTypes.CONNACK and reason.value < 0x80:
            return int(reason.value)
        return _V3_CONNACK_CODES.get(reason.getName(), int(reason.value))

    def stop_on_sigterm(self) -> None:
        """SIGTERM ends the run cleanly (DISCONNECT, exit 0), as with mosquitto's tools."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda _signum, _frame: self.finish(EXIT_OK))

    def wait_for(self, predicate: Callable[[], bool], timeout: Optional[float] = None) -> bool:
        """Wait until `predicate()` holds and the session is not finished: False if it
        finished first or `timeout` passed. Ctrl-C finishes the session cleanly."""
        try:
            with self.changed:
                self.changed.wait_for(lambda: self.finished.is_set() or predicate(), timeout)
        except KeyboardInterrupt:
            self.finish(EXIT_OK)
        return not self.finished.is_set() and predicate()

    def run(self, on_connect: Callable[[], None], body: Callable[[], None]) -> int:
        """Connect, run `body` once the network loop runs, close; the exit code. Ctrl-C at
        any point of it, not only during a wait, ends the run cleanly (DISCONNECT, exit 0):
        the loop thread can print "Subscribed" before the main thread reaches its wait."""
        try:
            if self.connect(on_connect):
                body()
        except KeyboardInterrupt:
            self.finish(EXIT_OK)
        self.close()
        return self.exit_code

    def close(self) -> None:
        """Disconnect (if connected) and stop the network loop."""
        client = self.client
        if client is None:
            return
        if self.connected.is_set() and not self.disconnecting:
            self.disconnecting = True
            client.disconnect(properties=self.props("disconnect"))
        client.loop_stop()
