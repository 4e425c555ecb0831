"""ferromqtt: MQTT for Python with a Rust core.

A drop-in paho-mqtt client (``import ferromqtt.client as mqtt``) and a conforming MQTT
broker that starts inside a Python process.
"""

from ferromqtt._core import __version__
from ferromqtt.exception import MQTTException

__all__ = ["MQTTException", "__version__"]
