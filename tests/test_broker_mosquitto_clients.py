"""mosquitto_pub and mosquitto_sub (Debian mosquitto-clients) through the in-process broker."""

from __future__ import annotations

import shutil
import subprocess

import paho.mqtt.client as paho
import pytest

from ferromqtt.broker import Broker
from paho_peer import PahoPeer

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(
        shutil.which("mosquitto_pub") is None or shutil.which("mosquitto_sub") is None,
        reason="mosquitto_pub/mosquitto_sub missing: install the Debian package mosquitto-clients",
    ),
]

CLI_VERSIONS = [("mqttv311", paho.MQTTv311), ("mqttv5", paho.MQTTv5)]


@pytest.fixture
def broker():
    with Broker(port=0) as b:
        yield b


@pytest.mark.parametrize("cli_version,paho_version", CLI_VERSIONS)
@pytest.mark.parametrize("qos", ["0", "1", "2"])
def test_mosquitto_pub_reaches_a_subscriber(broker, cli_version, paho_version, qos):
    sub = PahoPeer(broker.port, paho_version, "listener")
    sub.connect()
    sub.subscribe("cli/+", 2)
    subprocess.run(
        ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-V", cli_version,
         "-q", qos, "-t", "cli/in", "-m", "from mosquitto_pub", "-i", "cli-pub"],
        check=True, timeout=10, capture_output=True,
    )  # fmt: skip
    message = sub.receive()
    assert (message.topic, message.payload, message.qos) == (
        "cli/in",
        b"from mosquitto_pub",
        int(qos),
    )


@pytest.mark.parametrize("cli_version,paho_version", CLI_VERSIONS)
def test_mosquitto_sub_receives_retained_then_live(broker, cli_version, paho_version):
    pub = PahoPeer(broker.port, paho_version, "speaker")
    pub.connect()
    pub.publish("cli/out", b"retained hello", qos=1, retain=True)
    sub = subprocess.Popen(
        ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-V", cli_version,
         "-t", "cli/#", "-q", "1", "-C", "2", "-W", "10", "-v", "-i", "cli-sub"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        first = sub.stdout.readline()  # retained message: the subscription is in place
        assert first == "cli/out retained hello\n"
        pub.publish("cli/live", b"live hello", qos=1)
        out, err = sub.communicate(timeout=10)
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait()
    assert sub.returncode == 0, err
    assert out == "cli/live live hello\n"
