"""The tutorial scripts in examples/ run against a test broker and print what they should."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import client_support
from client_support import WAIT

pytestmark = pytest.mark.interop
mosquitto_broker = client_support.mosquitto_broker

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_tutorial_publisher_reaches_tutorial_subscriber(mosquitto_broker):
    port = str(mosquitto_broker.port)
    env = dict(os.environ, MQTT_HOST="127.0.0.1", MQTT_PORT=port)
    subscriber = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "tutorial_subscriber.py")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert subscriber.stdout is not None
        assert subscriber.stdout.readline().strip() == "Connected with result code 0"
        publisher = subprocess.run(
            [sys.executable, str(EXAMPLES / "tutorial_publisher.py"), "127.0.0.1", port],
            capture_output=True,
            text=True,
            timeout=WAIT,
        )
        assert publisher.returncode == 0, publisher.stderr
        assert publisher.stdout.splitlines() == ["data published, mid 1", "published: True"]
        # The 1.x constructor form warns instead of failing.
        assert "DeprecationWarning" in publisher.stderr
        assert subscriber.stdout.readline().strip() == "house/main-light b'ON'"
    finally:
        if subscriber.poll() is None:
            os.kill(subscriber.pid, signal.SIGTERM)
        subscriber.wait(WAIT)
        for stream in (subscriber.stdout, subscriber.stderr):
            if stream is not None:
                stream.close()
