"""The classic paho-mqtt publisher tutorial, unchanged but for the import line (and types).

Usage: python tutorial_publisher.py [host [port]]  (or MQTT_HOST / MQTT_PORT)
"""

import os
import sys
from typing import Any

import ferromqtt.client as mqtt  # was: import paho.mqtt.client as mqtt

broker = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("MQTT_HOST", "localhost")
port = int(sys.argv[2]) if len(sys.argv) > 2 else int(os.environ.get("MQTT_PORT", "1883"))


def on_publish(client: mqtt.Client, userdata: Any, mid: int) -> None:
    print("data published, mid", mid)


# paho 1.x form Client(client_id): runs with version 1 callbacks (and a DeprecationWarning)
client = mqtt.Client("PythonPublisher")  # type: ignore[arg-type]
client.on_publish = on_publish  # assign function to callback
client.connect(broker, port)  # establish connection
client.loop_start()  # start the network loop
msg_info = client.publish("house/main-light", "ON", qos=1)  # publish
msg_info.wait_for_publish()  # wait until the broker has it
print("published:", msg_info.is_published())
client.disconnect()  # disconnect gracefully
client.loop_stop()  # stop the loop
