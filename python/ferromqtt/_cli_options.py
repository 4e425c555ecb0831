"""Command-line options of ``ferromqtt pub`` / ``ferromqtt sub``, checked as mosquitto does.

An argparse parser with mosquitto's option letters (``-h`` is the host), ``-D`` property
groups taken out of argv beforehand (3 words, 4 for user-property), ``-L`` URLs, and the
checks whose failures print mosquitto's messages (through ``UsageError``).
"""

from __future__ import annotations

import argparse
import urllib.parse
from typing import Any, Sequence

import ferromqtt.client as mqtt
from ferromqtt.packettypes import PacketTypes
from ferromqtt.properties import Properties

VERSIONS = {
    "mqttv31": mqtt.MQTTv31,
    "31": mqtt.MQTTv31,
    "mqttv311": mqtt.MQTTv311,
    "311": mqtt.MQTTv311,
    "mqttv5": mqtt.MQTTv5,
    "5": mqtt.MQTTv5,
}

# -D: mosquitto's property names -> (paho attribute, value kind).
_PROPERTY_NAMES = {
    "payload-format-indicator": ("PayloadFormatIndicator", "byte"),
    "message-expiry-interval": ("MessageExpiryInterval", "int32"),
    "content-type": ("ContentType", "str"),
    "response-topic": ("ResponseTopic", "str"),
    "correlation-data": ("CorrelationData", "bytes"),
    "subscription-identifier": ("SubscriptionIdentifier", "varint"),
    "session-expiry-interval": ("SessionExpiryInterval", "int32"),
    "authentication-method": ("AuthenticationMethod", "str"),
    "authentication-data": ("AuthenticationData", "bytes"),
    "request-problem-information": ("RequestProblemInformation", "byte"),
    "will-delay-interval": ("WillDelayInterval", "int32"),
    "request-response-information": ("RequestResponseInformation", "byte"),
    "receive-maximum": ("ReceiveMaximum", "int16"),
    "topic-alias-maximum": ("TopicAliasMaximum", "int16"),
    "topic-alias": ("TopicAlias", "int16"),
    "maximum-packet-size": ("MaximumPacketSize", "int32"),
    "user-property": ("UserProperty", "pair"),
}
_RANGES = {"byte": (0, 0xFF), "int16": (0, 0xFFFF), "int32": (0, 0xFFFFFFFF)}
_RANGES["varint"] = (1, 268_435_455)

# -D: which properties each command accepts (mosquitto_pub(1), PROPERTIES).
_PROPERTY_COMMANDS = {
    "connect": (
        PacketTypes.CONNECT,
        {
            "authentication-data",
            "authentication-method",
            "maximum-packet-size",
            "receive-maximum",
            "request-problem-information",
            "request-response-information",
            "session-expiry-interval",
            "topic-alias-maximum",
            "user-property",
        },
    ),
    "publish": (
        PacketTypes.PUBLISH,
        {
            "content-type",
            "correlation-data",
            "message-expiry-interval",
            "payload-format-indicator",
            "response-topic",
            "topic-alias",
            "user-property",
        },
    ),
    "subscribe": (PacketTypes.SUBSCRIBE, {"subscription-identifier", "user-property"}),
    "unsubscribe": (PacketTypes.UNSUBSCRIBE, {"user-property"}),
    "disconnect": (PacketTypes.DISCONNECT, {"session-expiry-interval", "user-property"}),
    "will": (
        PacketTypes.WILLMESSAGE,
        {
            "content-type",
            "correlation-data",
            "message-expiry-interval",
            "payload-format-indicator",
            "response-topic",
            "user-property",
            "will-delay-interval",
        },
    ),
}


class UsageError(Exception):
    """A bad command line; the message is printed as mosquitto prints it."""

    def __init__(self, message: str, show_hint: bool = True) -> None:
        super().__init__(message)
        self.show_hint = show_hint


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse's hook: never returns
        if message.startswith("unrecognized arguments: "):
            message = f"Unknown option '{message.split(': ', 1)[1].split()[0]}'."
        elif "expected one argument" in message:
            option = message.split(":")[0].replace("argument ", "").split("/")[0]
            message = f"{option} argument given but no value specified."
        raise UsageError(message)


def common_parser(tool: str, description: str) -> Parser:
    # -h is the host, as in mosquitto: --help is the only help flag.
    parser = Parser(prog=f"ferromqtt {tool}", description=description, add_help=False)
    add = parser.add_argument
    add("--help", action="help", help="show this help and exit")
    add("-h", "--host", default="localhost", help="broker host (default localhost)")
    add("-p", "--port", help="broker port (default 1883, 8883 with TLS)")
    add("-t", "--topic", action="append", default=[], help="MQTT topic")
    add("-q", "--qos", default="0", help="quality of service level (0, 1 or 2; default 0)")
    add("-i", "--id", help="client id (default: assigned by the broker)")
    add("-I", "--id-prefix", help="client id: this prefix followed by the process id")
    add("-u", "--username", help="user name")
    add("-P", "--pw", help="password")
    add("-k", "--keepalive", default="60", help="keep alive in seconds (default 60)")
    add("-V", "--protocol-version", default="mqttv311", help="mqttv31, mqttv311 or mqttv5")
    add("--cafile", help="TLS: trust the CA certificates in this PEM file")
    add("--tls-use-os-certs", action="store_true", help="TLS: trust the system's CAs")
    add("--cert", help="TLS: client certificate (PEM)")
    add("--key", help="TLS: client private key (PEM)")
    add("--insecure", action="store_true", help="TLS: do not check the server's host name")
    add("--tls-version", help="TLS: tlsv1.3 or tlsv1.2 (default: both)")
    add("--ciphers", help="TLS: OpenSSL cipher list, e.g. ECDHE-ECDSA-AES256-GCM-SHA384")
    add("--psk", help="TLS-PSK key (not supported: rustls has no TLS-PSK)")
    add("--psk-identity", help="TLS-PSK identity (not supported: rustls has no TLS-PSK)")
    add("--proxy", help="SOCKS5 proxy: socks5h://[USER[:PASSWORD]@]HOST[:PORT]")
    add("--unix", help="connect to this Unix socket instead of -h/-p")
    add("-L", "--url", help="mqtt://[USER[:PASSWORD]@]HOST[:PORT]/TOPIC")
    add("-A", "--bind-address", default="", help="local address to connect from")
    add("-c", "--disable-clean-session", action="store_true", help="persistent session")
    add("-x", "--session-expiry-interval", help="MQTT 5 session expiry (-1: never)")
    add("-d", "--debug", action="store_true", help="print packet traffic")
    add("--quiet", action="store_true", help="do not print error messages")
    add("--will-topic", help="topic of the client's will")
    add("--will-payload", help="payload of the will")
    add("--will-qos", default="0", help="QoS of the will")
    add("--will-retain", action="store_true", help="retain the will")
    parser.epilog = (
        "-D COMMAND IDENTIFIER VALUE (or --property) sets an MQTT 5 property; COMMAND is "
        "connect, publish, subscribe, unsubscribe, disconnect or will; user-property takes "
        "a KEY and a VALUE. Exit status: 0, or the CONNACK reason code when the broker "
        "refuses the connection, 27 when -W expires, 1 for other errors."
    )
    return parser


def apply_url(args: argparse.Namespace) -> None:
    """-L: host, port, credentials and topic from one mqtt:// URL (as mosquitto)."""
    if args.url is None:
        return
    url = urllib.parse.urlsplit(args.url)
    if url.scheme != "mqtt":
        raise UsageError("unsupported URL scheme.", show_hint=True)
    topic = urllib.parse.unquote(url.path[1:])
    if not topic:
        raise UsageError("Invalid URL for -L argument specified - topic missing.")
    args.host = url.hostname or args.host
    try:
        port = url.port
    except ValueError:
        raise UsageError(f"Invalid port given: {url.netloc}") from None
    if port is not None:
        args.port = str(port)
    if url.username is not None:
        args.username = urllib.parse.unquote(url.username)
    if url.password is not None:
        args.pw = urllib.parse.unquote(url.password)
    args.topic.insert(0, topic)


def split_properties(argv: Sequence[str]) -> tuple[list[str], list[tuple[str, ...]]]:
    """Take the -D groups out of argv: 3 words, or 4 for user-property, as mosquitto does."""
    rest: list[str] = []
    groups: list[tuple[str, ...]] = []
    i = 0
    while i < len(argv):
        if argv[i] in ("-D", "--property"):
            size = 4 if i + 2 < len(argv) and argv[i + 2] == "user-property" else 3
            group = tuple(argv[i + 1 : i + 1 + size])
            if len(group) < size:
                raise UsageError("--property argument given but not enough arguments specified.")
            groups.append(group)
            i += 1 + size
        else:
            rest.append(argv[i])
            i += 1
    return rest, groups


def property_value(name: str, kind: str, words: tuple[str, ...]) -> Any:
    if kind == "pair":
        return (words[0], words[1])
    if kind == "str":
        return words[0]
    if kind == "bytes":
        return words[0].encode()
    low, high = _RANGES[kind]
    try:
        value = int(words[0])
    except ValueError:
        value = -1
    if not low <= value <= high:
        raise UsageError(f"Property value ({words[0]}) out of range for property {name}.")
    return value


def build_properties(groups: list[tuple[str, ...]]) -> dict[str, Properties]:
    properties: dict[str, Properties] = {}
    for command, name, *words in groups:
        if command not in _PROPERTY_COMMANDS:
            raise UsageError("Invalid command given in --property argument.")
        if name not in _PROPERTY_NAMES:
            raise UsageError("Invalid property name given in --property argument.")
        packet_type, allowed = _PROPERTY_COMMANDS[command]
        if name not in allowed:
            raise UsageError(f"{name} property not allowed for {command} in --property argument.")
        attribute, kind = _PROPERTY_NAMES[name]
        value = property_value(name, kind, tuple(words))
        props = properties.setdefault(command, Properties(packet_type))
        try:
            setattr(props, attribute, value)
        except Exception as e:  # noqa: BLE001  the properties module raises MQTTException
            raise UsageError(f"Invalid value for property {name}: {e}") from None
    return properties


def int_option(text: str, low: int, high: int, message: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise UsageError(message) from None
    if not low <= value <= high:
        raise UsageError(message)
    return value


def check_topic_name(topic: str) -> bool:
    """A valid PUBLISH topic: not empty, no wildcards, no NUL, at most 65535 bytes."""
    return bool(topic) and not any(c in topic for c in "+#\0") and len(topic.encode()) <= 65535


def check_topic_filter(topic_filter: str) -> bool:
    """A valid SUBSCRIBE filter: '+' fills a whole level, '#' only as the whole last level."""
    if not topic_filter or "\0" in topic_filter or len(topic_filter.encode()) > 65535:
        return False
    levels = topic_filter.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            return False
        if "+" in level and level != "+":
            return False
    return True


def parse(parser: Parser, argv: Sequence[str]) -> tuple[argparse.Namespace, Any]:
    """The parsed options and the -D groups (command, name, value words) of `argv`."""
    rest, groups = split_properties(argv)
    args = parser.parse_args(rest)
    apply_url(args)
    return args, groups
