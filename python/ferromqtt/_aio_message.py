"""Topics and inbound messages of the asyncio client (``ferromqtt.aio``): ``Wildcard`` (a
topic filter) and ``Topic`` (a topic name), checked by the Rust core's rules; ``Message``,
made from the core's message tuples with its topic and MQTT 5 properties converted on first
access; and ``MessagesIterator``, the view of a client's inbox that ``client.messages``
gives. All are public as ``ferromqtt.aio.*`` and keep that ``__module__``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Union

from ferromqtt import _core
from ferromqtt.packettypes import PacketTypes
from ferromqtt.properties import Properties

if TYPE_CHECKING:
    from ferromqtt.aio import Client


@dataclasses.dataclass(frozen=True)
class Wildcard:
    """A topic filter (may hold ``+`` and ``#``): can be subscribed to, not published to."""

    value: str

    def __str__(self) -> str:
        return self.value

    def __post_init__(self) -> None:
        if not isinstance(self.value, str):
            raise TypeError("Wildcard must be of type str")
        try:
            _core.validate_topic_filter(self.value)
        except ValueError:
            raise ValueError(f"Invalid wildcard: {self.value}") from None


@dataclasses.dataclass(frozen=True)
class Topic(Wildcard):
    """A topic name: can be published and subscribed to."""

    def __post_init__(self) -> None:
        if not isinstance(self.value, str):
            raise TypeError("Topic must be of type str")
        try:
            _core.validate_topic_name(self.value)
        except ValueError:
            raise ValueError(f"Invalid topic: {self.value}") from None

    def matches(self, wildcard: WildcardLike) -> bool:
        """Whether this topic matches ``wildcard`` (a ``$share/<group>/`` prefix is
        ignored; a leading wildcard does not match a ``$`` topic)."""
        value = wildcard.value if isinstance(wildcard, Wildcard) else Wildcard(wildcard).value
        if value.startswith("$share/"):
            value = value.split("/", 2)[2] if value.count("/") >= 2 else ""
        return _core.topic_matches_sub(value, self.value)


TopicLike = Union[str, Topic]
WildcardLike = Union[str, Wildcard]


def _trusted_topic(value: str) -> Topic:
    """A Topic for a name the core has already validated."""
    topic = object.__new__(Topic)
    object.__setattr__(topic, "value", value)
    return topic


class Message:
    """A message received from the broker (yielded by ``client.messages``).

    ``topic`` is a :class:`Topic`, ``payload`` bytes, ``properties`` a Properties object
    for MQTT 5 (None for 3.x). ``mid`` is the packet id (0 for QoS 0).
    """

    __slots__ = ("_topic", "payload", "qos", "retain", "mid", "_properties", "_raw_properties")

    def __init__(
        self,
        topic: TopicLike,
        payload: bytes,
        qos: int,
        retain: bool,
        mid: int,
        properties: Properties | None,
    ) -> None:
        self._topic: Topic | str = topic if isinstance(topic, Topic) else Topic(topic)
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.mid = mid
        self._properties = properties
        self._raw_properties: bytes | None = None

    @classmethod
    def _from_core(cls, item: tuple[Any, ...]) -> Message:
        mid, topic, payload, qos, retain, _dup, raw = item
        message = cls.__new__(cls)
        message._topic = topic  # becomes a Topic on first access
        message.payload = payload
        message.qos = qos
        message.retain = retain
        message.mid = mid
        message._properties = None
        message._raw_properties = raw
        return message

    @property
    def topic(self) -> Topic:
        topic = self._topic
        if isinstance(topic, str):
            topic = self._topic = _trusted_topic(topic)
        return topic

    @topic.setter
    def topic(self, value: TopicLike) -> None:
        self._topic = value if isinstance(value, Topic) else Topic(value)

    @property
    def properties(self) -> Properties | None:
        if self._raw_properties is not None:
            properties = Properties(PacketTypes.PUBLISH)
            properties.unpack(self._raw_properties)
            self._properties, self._raw_properties = properties, None
        return self._properties

    @properties.setter
    def properties(self, value: Properties | None) -> None:
        self._properties, self._raw_properties = value, None

    def __lt__(self, other: Message) -> bool:
        return self.mid < other.mid

    def __repr__(self) -> str:
        return (
            f"Message(topic={str(self.topic)!r}, payload=<{len(self.payload)} bytes>, "
            f"qos={self.qos}, retain={self.retain}, mid={self.mid})"
        )


class MessagesIterator:
    """Dynamic view of the client's inbound messages: ``async for message in it``.

    Every iterator of one client reads the same stream. Cancelling a task that waits here
    loses no message. When the connection has ended and every buffered message has been
    read, iteration raises ``MqttConnectionLostError`` (lost) or ``MqttError`` (after
    ``disconnect``).
    """

    def __init__(self, client: Client) -> None:
        self._client = client

    def __aiter__(self) -> AsyncIterator[Message]:
        return self

    async def __anext__(self) -> Message:
        return await self._client._next_message()

    def __len__(self) -> int:
        """Messages received and not yet read."""
        client = self._client
        return len(client._inbox) + client._core.buffered()

    async def filtered(self, *wildcards: WildcardLike) -> AsyncIterator[Message]:
        """Only the messages whose topic matches one of ``wildcards`` (paho's
        ``topic_matches_sub`` rules); the others are consumed and skipped."""
        filters = [Wildcard(w) if isinstance(w, str) else w for w in wildcards]
        while True:
            message = await self._client._next_message()
            topic = message.topic
            if any(topic.matches(w) for w in filters):
                yield message


# Public in ferromqtt.aio, which these classes name in reprs, pickles and documentation. Set
# here rather than in the class bodies: a dataclass looks its __module__ up in sys.modules.
for _public in (Wildcard, Topic, Message, MessagesIterator):
    _public.__module__ = "ferromqtt.aio"
del _public
