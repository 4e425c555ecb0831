"""The classic paho-mqtt subscriber tutorial, unchanged but for the import line (and types).

Usage: python tutorial_subscriber.py [host [port]]  (or MQTT_HOST / MQTT_PORT)
"""

import os
import sys
from typing import Any

import ferromqtt.client as mqtt  # was: import paho.mqtt.client as mqtt

broker = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("MQTT_HOST", "localhost")
port = int(sys.argv[2]) if len(sys.argv) > 2 else int(os.environ.get("MQTT_PORT", "1883"))


# The callback for when the client receives a CONNACK response from the server.
def on_connect(client: mqtt.Client, userdata: Any, flags: dict[str, Any], rc: int) -> None:
    print("Connected with result code " + str(rc), flush=True)

    # Subscribing in on_connect() means that if we lose the connection and
    # reconnect then subscriptions will be renewed.
    client.subscribe("house/#")


# The callback for when a PUBLISH message is received from the server.
def on_message(client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
    print(msg.topic + " " + str(msg.payload), flush=True)


client = mqtt.Client()
client.on_connect = on_connect
client.on_message = on_message

client.connect(broker, port, 60)

# Blocking call that processes network traffic, dispatches callbacks and
# handles reconnecting.
client.loop_forever()
