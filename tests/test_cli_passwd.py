"""``ferromqtt passwd`` against the real ``mosquitto_passwd`` and Mosquitto: each reads and
extends the other's files, and both brokers accept the passwords either tool wrote."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from client_support import MOSQUITTO, Mosquitto
from ferromqtt.broker import Broker
from paho_peer import connack_code

pytestmark = pytest.mark.interop

MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd")
TIMEOUT = 10.0
needs_mosquitto_passwd = pytest.mark.skipif(
    MOSQUITTO_PASSWD is None, reason="needs mosquitto_passwd (apt-get install mosquitto)"
)


def ferro_passwd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ferromqtt", "passwd", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def mosquitto_passwd(*args: str) -> None:
    subprocess.run([MOSQUITTO_PASSWD or "", *args], check=True, timeout=TIMEOUT)


@needs_mosquitto_passwd
def test_mosquitto_passwd_extends_our_file_and_our_broker_accepts_both(tmp_path):  # type: ignore[no-untyped-def]
    path = str(tmp_path / "passwords")
    assert ferro_passwd("-c", "-b", path, "alice", "apple").returncode == 0
    mosquitto_passwd("-b", path, "bob", "banana")
    assert ferro_passwd("-b", path, "erin", "elder").returncode == 0
    mosquitto_passwd("-D", path, "erin")
    users = [line.split(":")[0] for line in Path(path).read_text().splitlines()]
    assert users == ["alice", "bob"]
    with Broker(port=0, sys_interval=0, allow_anonymous=False, password_file=path) as broker:
        assert connack_code(broker.port, "alice", "apple", paho.MQTTv5) == 0
        assert connack_code(broker.port, "bob", "banana", paho.MQTTv5) == 0
        assert connack_code(broker.port, "alice", "banana", paho.MQTTv5) == 135


@needs_mosquitto_passwd
@pytest.mark.skipif(MOSQUITTO is None, reason="needs mosquitto (apt-get install mosquitto)")
def test_mosquitto_accepts_passwords_we_write(tmp_path):  # type: ignore[no-untyped-def]
    path = str(tmp_path / "passwords")
    mosquitto_passwd("-c", "-b", path, "carol", "cherry")
    assert ferro_passwd("-b", path, "dave", "date").returncode == 0
    assert ferro_passwd("-b", path, "carol", "currant").returncode == 0  # a new password
    broker = Mosquitto()
    broker.allow_anonymous = False
    broker.extra_config = f"password_file {path}\n"
    broker.start()
    try:
        assert connack_code(broker.port, "dave", "date", paho.MQTTv5) == 0
        assert connack_code(broker.port, "carol", "currant", paho.MQTTv5) == 0
        assert connack_code(broker.port, "carol", "cherry", paho.MQTTv5) == 135
    finally:
        broker.stop()
        shutil.rmtree(broker.directory, ignore_errors=True)


def test_delete_and_bad_usage_report_errors(tmp_path):  # type: ignore[no-untyped-def]
    path = str(tmp_path / "passwords")
    assert ferro_passwd("-c", "-b", path, "alice", "apple").returncode == 0
    assert ferro_passwd("-D", path, "alice").returncode == 0
    assert Path(path).read_text() == ""
    done = ferro_passwd("-b", path, "bad:name", "x")
    assert done.returncode == 1 and "invalid username" in done.stderr
    done = ferro_passwd("-b", str(tmp_path / "missing"), "alice", "x")
    assert done.returncode == 1 and "cannot read password file" in done.stderr
    assert ferro_passwd("-b", path, "alice").returncode == 1
