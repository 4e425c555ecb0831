"""ferromqtt.aio keeps aiomqtt's names and signatures: every name aiomqtt exports that
ferromqtt.aio implements, and the parameters (names, order, kinds, defaults) of the client's
methods, the message and the will, compared with the installed aiomqtt."""

from __future__ import annotations

import inspect
import typing

import pytest

import ferromqtt.aio as aio

aiomqtt = pytest.importorskip("aiomqtt", reason="aiomqtt is not installed (pip install aiomqtt)")

# aiomqtt exports that have no counterpart here yet (transports not available).
NOT_PROVIDED = {"ProxySettings", "TLSParameters", "__version__", "__version_tuple__"}
SIGNATURES = [
    ("Client", "__init__"),
    ("Client", "publish"),
    ("Client", "subscribe"),
    ("Client", "unsubscribe"),
    ("Client", "__aenter__"),
    ("Client", "__aexit__"),
    ("MessagesIterator", "__anext__"),
    ("MessagesIterator", "__len__"),
    ("Message", "__init__"),
    ("Topic", "matches"),
]


def test_every_exported_name_exists():
    missing = [n for n in aiomqtt.__all__ if n not in NOT_PROVIDED and not hasattr(aio, n)]
    assert missing == []


@pytest.mark.parametrize(("cls", "method"), SIGNATURES)
def test_signatures_match(cls, method):
    theirs = inspect.signature(getattr(getattr(aiomqtt, cls), method))
    ours = inspect.signature(getattr(getattr(aio, cls), method))
    expected = [(p.name, p.kind, _plain(p.default)) for p in theirs.parameters.values()]
    actual = [(p.name, p.kind, _plain(p.default)) for p in ours.parameters.values()]
    assert actual == expected


def test_every_public_annotation_resolves():
    """typing.get_type_hints (used by documentation tools and runtime checkers) can resolve
    every public class's and function's annotations, across the modules aio is made of."""
    unresolved = []
    for name in aio.__all__:
        obj = getattr(aio, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue  # type aliases such as TopicLike
        members = [obj]
        if inspect.isclass(obj):
            members += [m for n, m in vars(obj).items() if callable(m) and not n.startswith("__")]
            members.append(obj.__init__)
        for member in members:
            try:
                typing.get_type_hints(member)
            except Exception as error:
                unresolved.append(f"{name}.{getattr(member, '__name__', member)}: {error!r}")
    assert unresolved == []


def test_will_and_exceptions_have_aiomqtt_shape():
    fields = [(f.name, f.default) for f in aio.Will.__dataclass_fields__.values()]
    expected = [(f.name, f.default) for f in aiomqtt.Will.__dataclass_fields__.values()]
    assert fields == expected
    assert issubclass(aio.MqttCodeError, aio.MqttError)
    assert issubclass(aio.MqttConnectError, aio.MqttCodeError)
    assert issubclass(aio.MqttConnectionLostError, aio.MqttCodeError)
    assert [p.name for p in aio.ProtocolVersion] == [p.name for p in aiomqtt.ProtocolVersion]
    assert [int(p) for p in aio.ProtocolVersion] == [int(p) for p in aiomqtt.ProtocolVersion]


def _plain(value: object) -> object:
    """paho's enum defaults and ours compare by value."""
    return int(value) if isinstance(value, int) else value
