"""``ferromqtt pub`` and ``ferromqtt sub``: mosquitto_pub / mosquitto_sub work-alikes.

Options, messages on stderr and exit codes follow mosquitto 2.0's tools, so scripts written
for them keep working. Both tools run one ``ferromqtt.client.Client`` (public API only) with
its network loop in a background thread; the main thread waits on events. The connection
they share and their exit codes live in ``_cli_session``, options and their checks in
``_cli_options``, output formats (``-F``, ``--json``, ``-d``) in ``_cli_format``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Callable, Iterator, Optional, Sequence

import ferromqtt.client as mqtt
from ferromqtt import _cli_format
from ferromqtt._cli_options import (
    Parser,
    UsageError,
    check_topic_filter,
    check_topic_name,
    common_parser,
    int_option,
    parse,
)
from ferromqtt._cli_session import EXIT_ERROR, EXIT_OK, EXIT_TIMED_OUT, Session
from ferromqtt.subscribeoptions import SubscribeOptions


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
    return session.run(lambda: None, lambda: publisher.run(_pub_messages(args, repeat)))


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

    def until_done() -> None:
        session.wait_for(lambda: False, timeout)
        if not session.finished.is_set():
            session.finish(EXIT_TIMED_OUT, "Timed out")

    return session.run(subscriber.subscribe, until_done)


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
