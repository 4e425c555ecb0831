"""Command line: ``python -m ferromqtt broker|pub|sub|demo`` (also the ``ferromqtt`` script).

Uses only the public API. ``pub`` and ``sub`` take mosquitto_pub's and mosquitto_sub's
options (``-h`` is the host there, ``--help`` the help); they live in ``_cli_tools``.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import signal
import sys
import threading
from typing import Optional, Sequence

from ferromqtt import __version__


def _configure_logging(verbose: bool) -> None:
    # Mosquitto-style lines: "<unix time>: <message>".
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(created)d: %(message)s",
    )


# glibc's M_ARENA_MAX (malloc.h): how many malloc arenas the process's threads share.
_M_ARENA_MAX = -8


def _limit_malloc_arenas() -> None:
    """Lets the standalone broker's threads share two glibc malloc arenas instead of up to
    eight per core, as servers are commonly run (MALLOC_ARENA_MAX=2): about 80 bytes less
    per idle connection (benches/README.md). A MALLOC_ARENA_MAX in the environment wins;
    an in-process Broker leaves its host process's allocator alone."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return
    try:
        # ValueError where the name is unknown (not glibc).
        if not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"):
            return
        import ctypes

        ctypes.CDLL(None).mallopt(_M_ARENA_MAX, 2)
    except (ValueError, OSError, AttributeError):
        pass


def _run_broker(args: argparse.Namespace) -> int:
    # Before the broker's runtime starts its threads.
    _limit_malloc_arenas()
    from ferromqtt.broker import Broker

    _configure_logging(args.verbose)
    log = logging.getLogger("ferromqtt")
    try:
        if args.config:
            broker = Broker(config_file=args.config)
        else:
            broker = Broker(host=args.host, port=args.port)
        broker.start()
    except (ValueError, OSError) as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1
    log.info("ferromqtt version %s running", __version__)
    for host, port in broker.addresses:
        log.info("Opening listen socket on %s port %d.", host, port)

    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        log.info("ferromqtt version %s terminating", __version__)
        stop.set()

    def reload(signum: int, _frame: object) -> None:
        # As Mosquitto: password, ACL and TLS files re-read, connections kept; a file that
        # fails leaves the previous state in force (the broker logs which).
        try:
            broker.reload()
        except OSError as e:
            log.error("Error: reload failed: %s", e)

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, reload)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        broker.stop()
    return 0


def _run_demo(_args: argparse.Namespace) -> int:
    """Start an in-process broker, subscribe, publish, and show the message arriving."""
    import ferromqtt.client as mqtt
    from ferromqtt.broker import Broker

    with Broker(port=0) as broker:
        print(f"broker listening on {broker.host}:{broker.port}")
        arrived = threading.Event()
        subscribed = threading.Event()

        def on_subscribe(client, userdata, mid, reason_codes, properties):  # type: ignore[no-untyped-def]
            subscribed.set()

        def on_message(client, userdata, message):  # type: ignore[no-untyped-def]
            print(f"received on {message.topic!r}: {message.payload.decode()} (qos {message.qos})")
            arrived.set()

        subscriber = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="demo-sub")
        subscriber.on_subscribe = on_subscribe
        subscriber.on_message = on_message
        subscriber.connect(broker.host, broker.port)
        subscriber.loop_start()
        subscriber.subscribe("demo/#", qos=1)
        if not subscribed.wait(5):
            print("subscription was not acknowledged", file=sys.stderr)
            return 1

        publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="demo-pub")
        publisher.connect(broker.host, broker.port)
        publisher.loop_start()
        info = publisher.publish("demo/greeting", "hello from ferromqtt", qos=1)
        info.wait_for_publish(5)
        print(f"published mid {info.mid}: {'acknowledged' if info.is_published() else 'pending'}")
        ok = arrived.wait(5)
        publisher.disconnect()
        publisher.loop_stop()
        subscriber.disconnect()
        subscriber.loop_stop()
        stats = broker.stats()
        print(f"broker stats: {stats}")
    print("demo finished" if ok else "message did not arrive")
    return 0 if ok else 1


def _run_pub(argv: Sequence[str]) -> int:
    from ferromqtt._cli_tools import run_pub

    return run_pub(argv)


def _run_sub(argv: Sequence[str]) -> int:
    from ferromqtt._cli_tools import run_sub

    return run_sub(argv)


def _run_passwd(args: argparse.Namespace) -> int:
    """mosquitto_passwd's -c, -b and -D on a Mosquitto password file."""
    from ferromqtt._core import passwd_delete, passwd_update

    try:
        if args.delete:
            if args.create or args.batch or args.password is not None:
                print("Error: -D takes only a file and a username.", file=sys.stderr)
                return 1
            if not passwd_delete(args.file, args.username):
                print(f"Warning: User {args.username} not found in password file.")
            return 0
        if args.batch:
            if args.password is None:
                print("Error: -b needs a password.", file=sys.stderr)
                return 1
            password = args.password
        else:
            password = getpass.getpass("Password: ")
            if getpass.getpass("Reenter password: ") != password:
                print("Error: Passwords do not match.", file=sys.stderr)
                return 1
        passwd_update(args.file, args.username, password, create=args.create)
    except (OSError, ValueError) as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    return 0


# Commands that parse their own options, mosquitto-style (-h is the host, not the help).
_TOOLS = {"pub": _run_pub, "sub": _run_sub}


def main(argv: Optional[Sequence[str]] = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] in _TOOLS:
        return _TOOLS[arguments[0]](arguments[1:])
    parser = argparse.ArgumentParser(prog="ferromqtt", description="MQTT broker and tools")
    parser.add_argument("--version", action="version", version=f"ferromqtt {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    broker = commands.add_parser("broker", help="run an MQTT broker")
    broker.add_argument(
        "-c", "--config", help="configuration file: TOML, or Mosquitto's mosquitto.conf"
    )
    broker.add_argument("-p", "--port", type=int, default=1883, help="port (default 1883)")
    broker.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    broker.add_argument("-v", "--verbose", action="store_true", help="log every packet event")
    broker.set_defaults(run=_run_broker)

    # Listed for --help only: main() hands their arguments to _TOOLS before parsing.
    commands.add_parser("pub", help="publish messages (mosquitto_pub's options)", add_help=False)
    commands.add_parser(
        "sub", help="print received messages (mosquitto_sub's options)", add_help=False
    )

    passwd = commands.add_parser(
        "passwd", help="manage a Mosquitto password file (mosquitto_passwd's options)"
    )
    passwd.add_argument("-c", dest="create", action="store_true", help="create a new file")
    passwd.add_argument(
        "-b", dest="batch", action="store_true", help="take the password from the command line"
    )
    passwd.add_argument("-D", dest="delete", action="store_true", help="delete the user")
    passwd.add_argument("file", help="password file")
    passwd.add_argument("username")
    passwd.add_argument("password", nargs="?", help="the password (with -b)")
    passwd.set_defaults(run=_run_passwd)

    demo = commands.add_parser("demo", help="in-process broker + client publish/subscribe demo")
    demo.set_defaults(run=_run_demo)

    args = parser.parse_args(arguments)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
