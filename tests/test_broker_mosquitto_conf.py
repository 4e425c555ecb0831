"""``Broker(config_file=...)`` and ``ferromqtt broker -c`` read Mosquitto's
``mosquitto.conf``: the shared directives apply, ignored ones are warned about with their
line, refused ones stop the start naming their line."""

from __future__ import annotations

import logging
import queue
import shutil
import socket
import subprocess
import sys

import paho.mqtt.client as paho
import pytest

from ferromqtt.broker import Broker

pytestmark = pytest.mark.interop

MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd")
TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def connack(port: int, username: str | None = None, password: str | None = None) -> int:
    reasons: queue.Queue[int] = queue.Queue()
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
    if username is not None:
        client.username_pw_set(username, password)
    client.on_connect = lambda c, u, f, rc, p: reasons.put(rc.value)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        return reasons.get(timeout=TIMEOUT)
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.mark.skipif(MOSQUITTO_PASSWD is None, reason="needs mosquitto_passwd (apt-get install)")
def test_mosquitto_conf_security_and_listener_apply(tmp_path, caplog):  # type: ignore[no-untyped-def]
    passwords = tmp_path / "passwords"
    subprocess.run(
        [MOSQUITTO_PASSWD or "", "-c", "-b", str(passwords), "alice", "apple"],
        check=True,
        timeout=TIMEOUT,
    )
    conf = tmp_path / "broker.conf"
    port = free_port()
    conf.write_text(
        "# as for mosquitto\n"
        "persistence true\n"
        f"listener {port} 127.0.0.1\n"
        f"password_file {passwords}\n"
        "max_keepalive 120\n"
    )
    with caplog.at_level(logging.WARNING, logger="ferromqtt.broker"):
        broker = Broker(config_file=conf)
    assert any("line 2: persistence" in r.getMessage() for r in caplog.records)
    with broker:
        assert broker.addresses == [("127.0.0.1", port)]
        # Mosquitto 2.0: a file with a listener and no allow_anonymous refuses anonymous.
        assert connack(broker.port) == 135
        assert connack(broker.port, "alice", "wrong") == 135
        assert connack(broker.port, "alice", "apple") == 0


def test_refused_directives_are_named_with_their_line(tmp_path):  # type: ignore[no-untyped-def]
    conf = tmp_path / "mosquitto.conf"
    conf.write_text("listener 1883\nallow_anonymous true\nauth_plugin /usr/lib/x.so\n")
    with pytest.raises(ValueError, match="line 3: auth_plugin"):
        Broker(config_file=conf)
    done = subprocess.run(
        [sys.executable, "-m", "ferromqtt", "broker", "-c", str(conf)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 1
    assert "line 3: auth_plugin" in done.stderr


def test_toml_files_are_still_read_as_toml(tmp_path):  # type: ignore[no-untyped-def]
    conf = tmp_path / "broker.toml"
    conf.write_text('max_keepalive = 60\n[[listeners]]\nhost = "127.0.0.1"\nport = 0\n')
    with Broker(config_file=conf) as broker:
        assert connack(broker.port) == 0
