"""``Broker(config_file=...)`` and ``ferromqtt broker -c`` read Mosquitto's
``mosquitto.conf``: the shared directives apply, ignored ones are warned about with their
line, refused ones stop the start naming their line."""

from __future__ import annotations

import getpass
import logging
import queue
import shutil
import socket
import subprocess
import sys
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.client import topic_matches_sub

from client_support import MOSQUITTO, CliBroker, Mosquitto
from ferromqtt.broker import Broker
from paho_peer import VERSION_IDS, VERSIONS, PahoPeer, connack_code, sync_point

pytestmark = pytest.mark.interop

MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd")
TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


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
        assert connack_code(broker.port) == 135
        assert connack_code(broker.port, "alice", "wrong") == 135
        assert connack_code(broker.port, "alice", "apple") == 0


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
        assert connack_code(broker.port) == 0


# -- side by side: one mosquitto.conf, the real Mosquitto and `ferromqtt broker -c` --------

SIDE_BY_SIDE_USERS = {"alice": "apple", "bob": "banana", "watcher": "eyes"}

SIDE_BY_SIDE_ACL = """\
user alice
topic readwrite room/#
topic read news/#
topic readwrite sync/#

user bob
topic read room/#
topic write news/#
topic deny room/private
topic readwrite sync/#

user watcher
topic read #

pattern readwrite clients/%c/#
pattern write users/%u/outbox
"""

SIDE_BY_SIDE_CONF = """\
# One file for both brokers; only the port differs.
listener {port} 127.0.0.1
allow_anonymous false
password_file {password_file}
acl_file {acl_file}
# As root Mosquitto would switch to user "mosquitto", who cannot read tmp_path.
user {user}
log_dest stderr
log_type error
log_type warning
log_type notice
log_type information
"""


def side_by_side_filters(client_id: str) -> list[str]:
    return [
        "room/#",
        "room/a",
        "room/+",
        "news/#",
        "#",
        "+/a",
        f"clients/{client_id}/#",
        "clients/someone-else/#",
        "users/alice/outbox",
    ]


def side_by_side_topics(client_id: str, user: str) -> list[str]:
    return [
        "room/a",
        "room/private",
        "news/a",
        f"clients/{client_id}/status",
        "clients/someone-else/status",
        f"users/{user}/outbox",
        "users/someone-else/outbox",
        "elsewhere",
    ]


def side_by_side_decisions(port: int, version: int) -> dict[str, Any]:
    """CONNACK, SUBACK and PUBACK codes and the messages each user received, from the
    broker on ``port``, driven by the real paho-mqtt client."""
    tag = {paho.MQTTv31: "v31", paho.MQTTv311: "v311", paho.MQTTv5: "v5"}[version]
    decisions: dict[str, Any] = {}
    for user, password in [
        ("alice", "apple"),
        ("alice", "pear"),
        ("mallory", "x"),
        ("anonymous", None),
    ]:
        username = None if user == "anonymous" else user
        decisions[f"connack {user}/{password}"] = connack_code(port, username, password, version)

    peers: dict[str, PahoPeer] = {}
    pubacks: dict[str, queue.Queue[int]] = {}
    for user, password in SIDE_BY_SIDE_USERS.items():
        peer = PahoPeer(port, version, f"{user}-{tag}")
        peer.client.username_pw_set(user, password)
        acks: queue.Queue[int] = queue.Queue()
        peer.client.on_publish = lambda c, u, mid, rc, props, acks=acks: acks.put(rc.value)
        assert peer.connect()[1] == 0, user
        peers[user], pubacks[user] = peer, acks
    assert peers["watcher"].subscribe("#", 1)[0] == 1
    for user in ("alice", "bob"):
        client_id = f"{user}-{tag}"
        for topic_filter in side_by_side_filters(client_id):
            code = peers[user].subscribe(topic_filter, 1)[0]
            decisions[f"suback {user} {topic_filter.replace(client_id, '%c')}"] = int(code.value)
    for user in ("alice", "bob"):
        client_id = f"{user}-{tag}"
        for topic in side_by_side_topics(client_id, user):
            peers[user].publish(topic, f"from {user}".encode(), qos=1)
            code = pubacks[user].get(timeout=TIMEOUT)
            decisions[f"puback {user} {topic.replace(client_id, '%c')}"] = code
    for user, peer in peers.items():
        # Its own marker comes after everything already routed to it.
        sync_point(peer, peers["alice"] if user == "watcher" else peer, f"sync/{user}-{tag}")
        received = []
        while not peer.messages.empty():
            message = peer.messages.get_nowait()
            if not message.topic.startswith("sync/"):
                received.append(f"{message.payload.decode()} on {message.topic}")
        # Which messages, not how many copies: for overlapping subscriptions Mosquitto sends
        # an MQTT 5 client one copy per subscription, ferromqtt one in all (both allowed).
        decisions[f"received by {user}"] = sorted({r.replace(f"-{tag}", "-%v") for r in received})
    for peer in peers.values():
        peer.disconnect()
    return decisions


@pytest.mark.skipif(
    MOSQUITTO is None or MOSQUITTO_PASSWD is None,
    reason="needs mosquitto and mosquitto_passwd (apt-get install mosquitto)",
)
@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_one_mosquitto_conf_gives_the_same_decisions_in_both_brokers(tmp_path, version):  # type: ignore[no-untyped-def]
    password_file = tmp_path / "passwords"
    for index, (user, password) in enumerate(SIDE_BY_SIDE_USERS.items()):
        create = ["-c"] if index == 0 else []
        subprocess.run(
            [MOSQUITTO_PASSWD or "", *create, "-b", str(password_file), user, password],
            check=True,
            timeout=TIMEOUT,
        )
    password_file.chmod(0o600)
    acl_file = tmp_path / "acl"
    acl_file.write_text(SIDE_BY_SIDE_ACL)
    template = (
        SIDE_BY_SIDE_CONF.replace("{password_file}", str(password_file))
        .replace("{acl_file}", str(acl_file))
        .replace("{user}", getpass.getuser())
    )
    mosquitto = Mosquitto()
    mosquitto.config_template = template
    mosquitto.start()
    try:
        expected = side_by_side_decisions(mosquitto.port, version)
    finally:
        mosquitto.stop()
        shutil.rmtree(mosquitto.directory, ignore_errors=True)
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(template.replace("{port}", str(free_port())))
    ferro = CliBroker(conf)
    try:
        got = side_by_side_decisions(ferro.port, version)
    finally:
        assert ferro.stop() == 0
    refused = 135 if version == paho.MQTTv5 else 128
    # The one deliberate difference (src/auth/acl.rs, Access::Subscribe): Mosquitto 2.0
    # grants every subscription and filters deliveries; ferromqtt refuses a filter no
    # message could ever be delivered through. Mosquitto delivered nothing through these.
    refused_here = {
        "suback alice clients/someone-else/#",
        "suback alice users/alice/outbox",
        "suback bob news/#",
        "suback bob clients/someone-else/#",
        "suback bob users/alice/outbox",
    }
    for key in refused_here:
        assert (expected[key], got[key]) == (1, refused), key
        user, topic_filter = key.split()[1:]
        delivered = [r.split(" on ")[1] for r in expected[f"received by {user}"]]
        assert not [t for t in delivered if topic_matches_sub(topic_filter, t)], key
        expected[key] = got[key]
    differences = {k: (got.get(k), v) for k, v in expected.items() if got.get(k) != v}
    assert not differences, f"ferromqtt vs Mosquitto: {differences}"
    assert got == expected
    # The table decides something: refusals and acceptances of every kind.
    assert got["connack alice/apple"] == 0 and got["connack alice/pear"] == 135
    assert got["suback alice room/#"] == 1
    assert "from bob on news/a" in got["received by watcher"]
    assert "from bob on room/a" not in got["received by watcher"]
    assert "from bob on users/bob/outbox" in got["received by watcher"]
    assert "from bob on users/someone-else/outbox" not in got["received by watcher"]
