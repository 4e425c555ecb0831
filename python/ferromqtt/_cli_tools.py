"""``ferromqtt pub`` and ``ferromqtt sub``: mosquitto_pub / mosquitto_sub work-alikes.

Options, messages on stderr and exit codes follow mosquitto 2.0's tools, so scripts written
for them keep working. Both tools run one ``ferromqtt.client.Client`` (public API only) with
its network loop in a background thread; the main thread waits on events. Options and their
checks live in ``_cli_options``, output formats (``-F``, ``--json``, ``-d``) in ``_cli_format``.
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
from typing import Any, Callable, Iterator, Optional, Sequence

import ferromqtt.client as mqtt
from ferromqtt import _cli_format, _transport
from ferromqtt._cli_options import (
    VERSIONS,
    Parser,
    UsageError,
    build_properties,
    check_topic_filter,
    check_topic_name,
    common_parser,
    int_option,
    parse,
)
from ferromqtt.packettypes import PacketTypes
from ferromqtt.properties import Properties
from ferromqtt.subscribeoptions import SubscribeOptions

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

    def close(self) -> None:
        """Disconnect (if connected) and stop the network loop."""
        client = self.client
        if client is None:
            return
        if self.connected.is_set() and not self.disconnecting:
            self.disconnecting = True
            client.disconnect(properties=self.props("disconnect"))
        client.loop_stop()


def _run(tool: str, argv: Sequence[str], build: Callable[[], Parser], body: Any) -> int:
    """Parse argv, print mosquitto-style usage errors, run `body(args, groups)`."""
    parser = build()
    try:
        args, groups = parse(parser, argv)
        return int(body(args, groups))
    except UsageError as e:
        quiet = "--quiet" in argv
        if not quiet:
            hint = f"\n\nUse 'ferromqtt {tool} --help' to see usage." if e.show_hint else ""
            print(f"Error: {e}{hint}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, as a C tool killed by SIGPIPE.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR


# -- pub ------------------------------------------------------------------------------------


def _pub_parser() -> Parser:
    parser = common_parser("pub", "Publish one message, a file, or stdin to an MQTT broker.")
    add = parser.add_argument
    add("-m", "--message", action="append", default=[], help="message payload")
    add("-f", "--file", action="append", default=[], help="send a file as the message")
    add("-s", "--stdin-file", action="store_true", help="send all of stdin as one message")
    add("-l", "--stdin-line", action="store_true", help="send each line of stdin as a message")
    add("-n", "--null-message", action="store_true", help="send a zero length message")
    add("-r", "--retain", action="store_true", help="retain the message")
    add("-M", "--max-inflight", help="maximum QoS 1/2 messages in flight")
    add("--repeat", default="1", help="with -m, -f or -s: publish N times")
    add("--repeat-delay", default="0", help="seconds between repeated publishes")
    return parser


def _pub_messages(args: argparse.Namespace, repeat: int) -> Iterator[bytes]:
    """The payloads to publish, read lazily (stdin line by line for -l)."""
    if args.stdin_line:
        for line in sys.stdin.buffer:
            yield line[:-1] if line.endswith(b"\n") else line
        return
    if args.message:
        payload = args.message[0].encode()
    elif args.null_message:
        payload = b""
    elif args.stdin_file:
        payload = sys.stdin.buffer.read()
    else:
        with open(args.file[0], "rb") as f:
            payload = f.read()
    for _ in range(repeat):
        yield payload


def _pub_body(args: argparse.Namespace, groups: list[tuple[str, ...]]) -> int:
    modes = [
        *(True for _ in args.message),
        *(True for _ in args.file),
        args.stdin_file,
        args.stdin_line,
        args.null_message,
    ]
    if sum(modes) > 1:
        raise UsageError("Only one type of message can be sent at once.")
    if len(args.topic) > 1:
        raise UsageError("Only one topic can be given to publish to.")
    if not args.topic or not any(modes):
        raise UsageError("Both topic and message must be supplied.")
    topic = args.topic[0]
    if not check_topic_name(topic):
        raise UsageError(f"Invalid publish topic '{topic}', does it contain '+' or '#'?")
    repeat = int_option(args.repeat, 1, 2**31 - 1, f"Invalid repeat count: {args.repeat}")
    try:
        delay = float(args.repeat_delay)
    except ValueError:
        raise UsageError(f"Invalid repeat delay: {args.repeat_delay}") from None
    session = Session("pub", args, groups)
    session.stop_on_sigterm()
    if args.file and not os.access(args.file[0], os.R_OK):
        session.error(f'Error: Unable to open file "{args.file[0]}".')
        session.error(f'Error loading input file "{args.file[0]}".')
        return EXIT_ERROR
    publisher = _Publisher(session, topic, args.retain, delay)
    if session.connect(lambda: None):
        publisher.run(_pub_messages(args, repeat))
    session.close()
    return session.exit_code


class _Publisher:
    """Publishes each payload once connected and waits for every acknowledgement."""

    def __init__(self, session: Session, topic: str, retain: bool, delay: float) -> None:
        self.session = session
        self.topic = topic
        self.retain = retain
        self.delay = delay
        # Packet ids are reused after 65535 messages, so track what is outstanding, not what
        # is done; `early` holds acknowledgements that came before publish() returned.
        self.outstanding: set[int] = set()
        self.early: set[int] = set()

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        with self.session.changed:
            if mid in self.outstanding:
                self.outstanding.discard(mid)
            else:
                self.early.add(mid)
            self.session.changed.notify_all()

    def _sent(self, mid: int) -> None:
        with self.session.changed:
            if mid in self.early:
                self.early.discard(mid)
            else:
                self.outstanding.add(mid)

    def run(self, payloads: Iterator[bytes]) -> None:
        session = self.session
        session.client.on_publish = self._on_publish
        if not session.wait_for(session.connected.is_set):
            return
        properties = session.props("publish")
        for index, payload in enumerate(payloads):
            if index and self.delay > 0 and session.finished.wait(self.delay):
                return
            info = session.client.publish(
                self.topic, payload, session.qos, self.retain, properties=properties
            )
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                session.finish(
                    EXIT_ERROR, f"Error: Publish returned {int(info.rc)}, disconnecting."
                )
                return
            self._sent(info.mid)
            if session.finished.is_set():
                return
        if session.wait_for(lambda: not self.outstanding):
            session.finish(EXIT_OK)


def run_pub(argv: Sequence[str]) -> int:
    """``ferromqtt pub``: as mosquitto_pub. Returns the exit code."""
    return _run("pub", argv, _pub_parser, _pub_body)


# -- sub ------------------------------------------------------------------------------------


def _sub_parser() -> Parser:
    parser = common_parser("sub", "Subscribe to topics and print the messages that arrive.")
    add = parser.add_argument
    add("-T", "--filter-out", action="append", default=[], help="do not print these topics")
    add("-v", "--verbose", action="store_true", help="print the topic before the payload")
    add("-C", "--count", help="exit after this many messages")
    add("-W", "--timeout", help="exit (code 27) after this many seconds")
    add("-R", "--no-stale", action="store_true", help="do not print retained messages")
    add("--retained-only", action="store_true", help="print only retained messages")
    add("-F", "--format", help="output format (%%t topic, %%p payload, ...: see mosquitto_sub)")
    add("-N", "--no-eol", action="store_true", help="no newline after each message")
    add("-U", "--unsubscribe", action="append", default=[], help="unsubscribe from a topic")
    add("--remove-retained", action="store_true", help="clear the retained messages received")
    add("-E", "--exit-on-subscribe", action="store_true", help="exit once subscribed")
    add("--json", action="store_true", help="print one JSON object per message")
    add("--base64", action="store_true", help="with --json: always base64 the payload")
    return parser


def _sub_body(args: argparse.Namespace, groups: list[tuple[str, ...]]) -> int:
    if not args.topic:
        raise UsageError("You must specify a topic to subscribe to.")
    for topic in args.topic:
        if not check_topic_filter(topic):
            raise UsageError(
                f"Invalid subscription topic '{topic}', are all '+' and '#' wildcards correct?"
            )
    for topic in args.unsubscribe:
        if not check_topic_filter(topic):
            raise UsageError(
                f"Invalid unsubscribe topic '{topic}', are all '+' and '#' wildcards correct?"
            )
    for topic in args.filter_out:
        if not check_topic_filter(topic):
            raise UsageError(
                f"Invalid filter topic '{topic}', are all '+' and '#' wildcards correct?"
            )
    count = None
    if args.count is not None:
        count = int_option(args.count, 1, 2**31 - 1, f'Invalid message count "{args.count}".')
    timeout = None
    if args.timeout is not None:
        timeout = int_option(args.timeout, 1, 3600, f'Invalid timeout "{args.timeout}".')
    session = Session("sub", args, groups)
    session.stop_on_sigterm()
    session.subscribe_filters = list(args.topic)
    subscriber = _Subscriber(session, args, count)
    if session.connect(subscriber.subscribe):
        session.wait_for(lambda: False, timeout)
        if not session.finished.is_set():
            session.finish(EXIT_TIMED_OUT, "Timed out")
    session.close()
    return session.exit_code


class _Subscriber:
    def __init__(self, session: Session, args: argparse.Namespace, count: Optional[int]):
        self.session = session
        self.args = args
        self.remaining = count
        self.formatter = _cli_format.message_formatter(
            fmt=args.format,
            verbose=args.verbose,
            as_json=args.json,
            always_base64=args.base64,
            eol=not args.no_eol,
            on_error=session.error,
        )

    def subscribe(self) -> None:
        session = self.session
        client = session.client
        client.on_message = self.on_message
        client.on_subscribe = self.on_subscribe
        if session.version == mqtt.MQTTv5:
            options = SubscribeOptions(qos=session.qos)
            topics: Any = [(topic, options) for topic in self.args.topic]
        else:
            topics = [(topic, session.qos) for topic in self.args.topic]
        result, _mid = client.subscribe(topics, properties=session.props("subscribe"))
        if result != mqtt.MQTT_ERR_SUCCESS:
            session.finish(EXIT_ERROR, f"Error: {mqtt.error_string(result)}")
        if self.args.unsubscribe:
            client.unsubscribe(self.args.unsubscribe, properties=session.props("unsubscribe"))

    def on_subscribe(self, client: Any, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        session = self.session
        if session.debug:
            codes = ", ".join(str(int(r.value)) for r in reasons)
            print(f"Subscribed (mid: {mid}): {codes}", flush=True)
        if reasons and all(r.is_failure for r in reasons):
            session.error("All subscription requests were denied.")
        if self.args.exit_on_subscribe:
            session.finish(EXIT_OK)

    def on_message(self, client: Any, userdata: Any, message: Any) -> None:
        session = self.session
        if session.finished.is_set() or self.remaining == 0:
            return
        if self.args.retained_only and not message.retain:
            session.finish(EXIT_OK)
            return
        if self.args.no_stale and message.retain:
            return
        if any(mqtt.topic_matches_sub(f, message.topic) for f in self.args.filter_out):
            return
        if self.args.remove_retained and message.retain:
            client.publish(message.topic, None, 1, True)
        try:
            sys.stdout.buffer.write(self.formatter(message))
            sys.stdout.buffer.flush()
        except BrokenPipeError:
            session.finish(EXIT_ERROR)
            return
        if self.remaining is not None:
            self.remaining -= 1
            if self.remaining == 0:
                session.finish(EXIT_OK)


def run_sub(argv: Sequence[str]) -> int:
    """``ferromqtt sub``: as mosquitto_sub. Returns the exit code."""
    return _run("sub", argv, _sub_parser, _sub_body)
