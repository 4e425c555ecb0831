"""What the paho-style client sends once connected: publish() (QoS 0 fire and forget, QoS 1/2
tracked by mid until acknowledged), subscribe(), unsubscribe(), and the acknowledgements of
manual_ack. Arguments are checked here as paho checks them; the packets are built and sent
by the Rust core.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ferromqtt import _core
from ferromqtt._client_constants import (
    MQTT_ERR_NO_CONN,
    MQTT_ERR_SUCCESS,
    MQTTv5,
    PayloadType,
    mqtt_ms_publish,
    mqtt_ms_wait_for_puback,
    mqtt_ms_wait_for_pubrec,
)
from ferromqtt._client_constants import (
    now as _now,
)
from ferromqtt._client_errors import _fail, _rc
from ferromqtt._client_message import (
    MQTTMessage,
    MQTTMessageInfo,
    _encode_payload,
    _pack_properties,
)
from ferromqtt.enums import MQTTErrorCode
from ferromqtt.properties import Properties
from ferromqtt.subscribeoptions import SubscribeOptions

if TYPE_CHECKING:
    from ferromqtt._client_base import _ClientBase
else:
    _ClientBase = object  # for type checkers only: see _client_base

# rc -> MQTTErrorCode member, without Enum.__call__ on every publish().
_ERR_BY_VALUE = {int(code): code for code in MQTTErrorCode}


class _MessagingMixin(_ClientBase):
    """Publishing, subscribing, acknowledging; part of ``ferromqtt.client.Client``."""

    def publish(
        self,
        topic: str,
        payload: PayloadType = None,
        qos: int = 0,
        retain: bool = False,
        properties: Properties | None = None,
    ) -> MQTTMessageInfo:
        """Publish a message; returns an MQTTMessageInfo (rc, mid, wait_for_publish)."""
        if self._protocol != MQTTv5 and (topic is None or len(topic) == 0):
            raise _fail("publish_empty_topic")
        topic_bytes = topic.encode("utf-8")
        # On the str: `bytes in bytes` first tries its argument as an int, and raises and
        # catches a TypeError each time.
        if "+" in topic or "#" in topic:
            raise _fail("publish_wildcard")
        if len(topic_bytes) > 65535:
            raise _fail("publish_topic_too_long")
        if qos < 0 or qos > 2:
            raise _fail("invalid_qos")
        local_payload = payload if payload.__class__ is bytes else _encode_payload(payload)
        if len(local_payload) > 268435455:
            raise _fail("payload_too_large")
        if local_payload.__class__ is bytearray:
            local_payload = bytes(local_payload)
        core = self._core or self._get_core()
        packed = None
        if properties is not None and self._protocol == MQTTv5:
            packed = bytes(properties.pack())
        if qos > 0:
            return self._publish_tracked(
                core, topic, topic_bytes, local_payload, qos, retain, properties, packed
            )
        info = MQTTMessageInfo(0)
        # _writes_inline(), spelt out: this is the hot path.
        inline = (
            self._thread is None
            and not self._dispatching
            and self._on_socket_register_write is None
        )
        if not inline and self._on_publish is None:
            # No on_publish to call: the core reports nothing, the info asks it when read.
            rc, mid, number = core.publish_unreported(topic, local_payload, retain, packed)
        else:
            # The core registers the info (see ClientCore.publish) before the loop thread
            # can handle the message's completion.
            rc, mid = core.publish(
                topic, local_payload, 0, retain, packed, None if inline else (self._infos, info)
            )
            number = None
        info.mid = mid
        if rc:
            info.rc = _ERR_BY_VALUE[rc]
            return info
        if number is not None:
            info._ledger = core
            info._number = number
        if not inline:
            if self._on_socket_register_write is not None:
                self._want_write()
            return info
        # As paho without a loop thread: the message is written at once, so on_publish
        # fires before publish() returns.
        self._handle_published((_core.EV_PUBLISHED, mid, 0, None), info)
        return info

    def _writes_inline(self) -> bool:
        """Whether paho would write a packet from the calling thread (no loop thread, not
        inside a callback, no external-loop write registration)."""
        return (
            self._thread is None
            and not self._dispatching
            and self._on_socket_register_write is None
        )

    def _publish_tracked(
        self,
        core: Any,
        topic: str,
        topic_bytes: bytes,
        local_payload: bytes,
        qos: int,
        retain: bool,
        properties: Properties | None,
        packed: bytes | None,
    ) -> MQTTMessageInfo:
        """QoS 1/2: the message and its info are kept (by mid) until acknowledged."""
        message = MQTTMessage(0, topic_bytes)
        message.timestamp = _now()
        message.payload = local_payload
        message.qos = qos
        message.retain = retain
        message.properties = properties
        message.state = mqtt_ms_wait_for_puback if qos == 1 else mqtt_ms_wait_for_pubrec
        info = message.info
        # The core registers both, the message first (_handle_published reads it after the
        # info), before the loop thread can handle the acknowledgement.
        rc, mid = core.publish(
            topic,
            local_payload,
            qos,
            retain,
            packed,
            (self._out_messages, message),
            (self._infos, info),
        )
        message.mid = info.mid = mid
        if rc == MQTT_ERR_SUCCESS:
            self._want_write()
            return info
        info.rc = _ERR_BY_VALUE[rc]
        if rc == MQTT_ERR_NO_CONN:
            info._queued = True
            message.state = mqtt_ms_publish
        return info

    def subscribe(
        self,
        topic: Any,
        qos: int = 0,
        options: SubscribeOptions | None = None,
        properties: Properties | None = None,
    ) -> tuple[MQTTErrorCode, int | None]:
        """Subscribe: "t", ("t", qos), [("t", qos), ...]; MQTT 5 also SubscribeOptions."""
        topic_qos_list: list[tuple[str, Any]] | None = None
        if isinstance(topic, tuple):
            if self._protocol == MQTTv5:
                topic, options = topic
                if not isinstance(options, SubscribeOptions):
                    raise _fail("options_not_subscribeoptions")
            else:
                topic, qos = topic
        if isinstance(topic, (bytes, str)):
            if qos < 0 or qos > 2:
                raise _fail("invalid_qos")
            if self._protocol == MQTTv5:
                if options is None:
                    options = SubscribeOptions(qos=qos)
                elif qos != 0:
                    raise _fail("options_and_qos")
                if not isinstance(options, SubscribeOptions):
                    raise _fail("options_not_subscribeoptions")
                topic_qos_list = [(topic, options)]  # type: ignore[list-item]
            else:
                if topic is None or len(topic) == 0:
                    raise _fail("invalid_topic")
                topic_qos_list = [(topic, qos)]  # type: ignore[list-item]
        elif isinstance(topic, list):
            if len(topic) == 0:
                raise _fail("empty_topic_list")
            topic_qos_list = []
            if self._protocol == MQTTv5:
                for t, o in topic:
                    if not isinstance(o, SubscribeOptions):
                        if o < 0 or o > 2:
                            raise _fail("invalid_qos")
                        o = SubscribeOptions(qos=o)
                    topic_qos_list.append((t, o))
            else:
                for t, q in topic:
                    if isinstance(q, SubscribeOptions) or q < 0 or q > 2:
                        raise _fail("invalid_qos")
                    if t is None or len(t) == 0 or not isinstance(t, (bytes, str)):
                        raise _fail("invalid_topic")
                    topic_qos_list.append((t, q))
        if topic_qos_list is None:
            raise _fail("no_topic")
        items = []
        for t, o in topic_qos_list:
            filter_bytes = t.encode("utf-8")  # bytes topic -> AttributeError, as paho
            if not _filter_ok(filter_bytes):
                raise _fail("invalid_filter")
            if isinstance(o, SubscribeOptions):
                items.append((t, o.QoS, o.noLocal, o.retainAsPublished, o.retainHandling))
            else:
                items.append((t, o, False, False, 0))
        if self._core is None or not self._core.is_open():
            return (_rc("subscribe_not_connected"), None)
        try:
            rc, mid = self._core.subscribe(
                items, _pack_properties(properties) if self._protocol == MQTTv5 else None
            )
        except ValueError:
            raise _fail("invalid_filter") from None
        if rc == MQTT_ERR_SUCCESS:
            self._want_write()
        return (MQTTErrorCode(rc), mid)

    def unsubscribe(
        self, topic: str | list[str], properties: Properties | None = None
    ) -> tuple[MQTTErrorCode, int | None]:
        """Unsubscribe from one topic filter or a list of them."""
        topic_list = None
        if topic is None:
            raise _fail("invalid_topic")
        if isinstance(topic, (bytes, str)):
            if len(topic) == 0:
                raise _fail("invalid_topic")
            topic_list = [topic]
        elif isinstance(topic, list):
            topic_list = []
            for t in topic:
                if len(t) == 0 or not isinstance(t, (bytes, str)):
                    raise _fail("invalid_topic")
                topic_list.append(t)
        if topic_list is None:
            raise _fail("no_topic")
        topic_list = [t.decode("utf-8") if isinstance(t, bytes) else t for t in topic_list]
        if self._core is None or not self._core.is_open():
            return (_rc("unsubscribe_not_connected"), None)
        if not topic_list:
            return (MQTT_ERR_SUCCESS, None)
        rc, mid = self._core.unsubscribe(
            topic_list, _pack_properties(properties) if self._protocol == MQTTv5 else None
        )
        if rc == MQTT_ERR_SUCCESS:
            self._want_write()
        return (MQTTErrorCode(rc), mid)

    def drop_out_messages(self) -> list[MQTTMessage]:
        """Remove and return every unacknowledged outgoing QoS>0 message."""
        if self._core is None:
            return []
        dropped = []
        for mid, _topic, _payload, _qos, _retain, _props in self._core.drop_out_messages():
            self._infos.pop(mid, None)
            message = self._out_messages.pop(mid, None)
            if message is not None:
                dropped.append(message)
        return dropped

    def ack(self, mid: int, qos: int) -> MQTTErrorCode:
        """With manual_ack: acknowledge an inbound message (QoS 1 PUBACK, QoS 2 PUBCOMP)."""
        if self._manual_ack and qos in (1, 2) and self._core is not None:
            self._core.ack([(mid, qos)])
        return MQTT_ERR_SUCCESS


def _filter_ok(sub: bytes) -> bool:
    """paho's check of a subscription filter before it is sent."""
    if len(sub) == 0 or len(sub) > 65535 or b"#/" in sub:
        return False
    return not any(b"+" in p or b"#" in p for p in sub.split(b"/") if len(p) > 1)
