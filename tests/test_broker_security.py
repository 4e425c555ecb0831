"""The in-process broker with a password file made by the real ``mosquitto_passwd`` and a
Mosquitto ACL file, driven by the real paho-mqtt client in MQTT 3.1, 3.1.1 and 5.0."""

from __future__ import annotations

import queue
import shutil
import subprocess

import paho.mqtt.client as paho
import pytest

from ferromqtt.broker import Broker
from paho_peer import TIMEOUT, VERSION_IDS, VERSIONS, PahoPeer, connack_code, sync_point

pytestmark = pytest.mark.interop

MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd")

ACL = """\
user alice
topic readwrite room/#
topic write secret/#
topic readwrite sync/#

user bob
topic read room/#
topic read secret/#
topic readwrite sync/#

user carol
topic read #
topic deny secret/#
"""

USERS = {"alice": "apple", "bob": "banana", "carol": "cherry"}


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    if MOSQUITTO_PASSWD is None:
        pytest.skip("needs mosquitto_passwd (apt-get install mosquitto)")
    directory = tmp_path_factory.mktemp("security")
    password_file = directory / "passwords"
    for index, (user, password) in enumerate(USERS.items()):
        create = ["-c"] if index == 0 else []
        subprocess.run(
            [MOSQUITTO_PASSWD, *create, "-b", str(password_file), user, password],
            check=True,
            timeout=TIMEOUT,
        )
    acl_file = directory / "acl"
    acl_file.write_text(ACL)
    with Broker(
        port=0,
        sys_interval=0,
        allow_anonymous=False,
        password_file=password_file,
        acl_file=acl_file,
        login_failure_delay_ms=0,
    ) as b:
        yield b


@pytest.fixture(params=VERSIONS, ids=VERSION_IDS)
def version(request):  # type: ignore[no-untyped-def]
    return request.param


def login(broker, version, user, password=None, **kwargs):  # type: ignore[no-untyped-def]
    peer = PahoPeer(broker.port, version, f"{user}-{version}", **kwargs)
    if user != "anonymous":
        peer.client.username_pw_set(user, USERS.get(user) if password is None else password)
    return peer


def connected(broker, version, user, **kwargs):  # type: ignore[no-untyped-def]
    peer = login(broker, version, user, **kwargs)
    assert peer.connect()[1] == 0
    return peer


def test_mosquitto_passwd_users_connect_and_others_are_not_authorized(broker, version):  # type: ignore[no-untyped-def]
    alice = connected(broker, version, "alice")
    alice.disconnect()
    for peer in (
        login(broker, version, "alice", "pear"),
        login(broker, version, "mallory", "x"),
        login(broker, version, "anonymous"),
    ):
        _, reason, _ = peer.connect()
        peer.disconnect()
        # Mosquitto's answer to every refusal: 5 (3.x), 0x87 (5.0); paho names both.
        assert reason == 135, reason
        assert str(reason) == "Not authorized"


def test_acl_refuses_subscriptions_and_drops_refused_publishes(broker, version):  # type: ignore[no-untyped-def]
    alice, bob = connected(broker, version, "alice"), connected(broker, version, "bob")
    granted = bob.subscribe("news/#", 1)
    assert granted[0] == (135 if version == paho.MQTTv5 else 128)
    assert bob.subscribe("room/#", 1)[0] == 1
    assert alice.subscribe("room/#", 1)[0] == 1
    bob.publish("room/from-bob", b"refused", qos=1)  # acknowledged (5.0: 0x87), dropped
    alice.publish("room/from-alice", b"allowed", qos=1)
    sync_point(alice, bob, "sync/bob")
    topics = [alice.messages.get_nowait().topic for _ in range(alice.messages.qsize())]
    assert topics == ["room/from-alice"]
    assert bob.receive().topic == "room/from-alice"
    alice.disconnect()
    bob.disconnect()


def test_acl_filters_retained_and_will_deliveries(broker, version):  # type: ignore[no-untyped-def]
    alice = connected(broker, version, "alice")
    alice.publish(f"secret/kept-{version}", b"s", qos=1, retain=True)
    alice.publish(f"room/kept-{version}", b"r", qos=1, retain=True)
    bob, carol = connected(broker, version, "bob"), connected(broker, version, "carol")
    assert bob.subscribe(f"secret/kept-{version}", 1)[0] == 1
    assert bob.receive().topic == f"secret/kept-{version}"
    assert carol.subscribe(f"+/kept-{version}", 1)[0] == 1
    assert carol.receive().topic == f"room/kept-{version}"

    bob.subscribe("secret/will", 1)
    will = {"topic": "secret/will", "payload": b"gone", "qos": 1}
    dying = connected(broker, version, "alice", will=will)
    carol.subscribe("secret/#", 1)  # carol may subscribe, yet must not receive
    dying.kill()
    assert bob.receive().topic == "secret/will"
    with pytest.raises(queue.Empty):
        carol.messages.get(timeout=0.3)
    for peer in (alice, bob, carol, dying):
        peer.disconnect()


def test_reload_rereads_the_files_and_a_bad_file_keeps_the_previous_ones(tmp_path):  # type: ignore[no-untyped-def]
    from ferromqtt._core import passwd_update

    passwords, acl = tmp_path / "passwords", tmp_path / "acl"
    passwd_update(passwords, "alice", "apple", create=True)
    acl.write_text("user alice\ntopic readwrite a/#\n")
    with Broker(port=0, allow_anonymous=False, password_file=passwords, acl_file=acl) as broker:
        assert connack_code(broker.port, "bob", "banana") == 135
        passwd_update(passwords, "bob", "banana")
        broker.reload()
        assert connack_code(broker.port, "bob", "banana") == 0
        acl.unlink()
        with pytest.raises(OSError, match="acl"):
            broker.reload()
        assert connack_code(broker.port, "bob", "banana") == 0
        assert connack_code(broker.port, "alice", "apple") == 0
