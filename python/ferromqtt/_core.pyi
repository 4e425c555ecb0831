"""Type stubs for the ferromqtt._core extension module."""

__all__ = [
    "MQTTError",
    "ProtocolError",
    "__version__",
    "topic_matches_sub",
    "validate_topic_filter",
    "validate_topic_name",
]

__version__: str

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
