"""``ferromqtt pub`` / ``ferromqtt sub`` against a real Mosquitto, side by side with
mosquitto_pub / mosquitto_sub.

Every process runs with a timeout. A subscriber is known to be subscribed when it prints a
retained "ready" message (or, with -d, its "Subscribed (mid: ...)" line), never after a sleep.
The failure cases carry what mosquitto_pub/mosquitto_sub 2.0.11 were seen to print and
return, and the interop tests check those references against the installed tools.
"""

from __future__ import annotations

import json
import os
import pwd
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pytest

TIMEOUT = 15  # seconds, for every process and every line read

MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None
)
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd")
MOSQUITTO_PUB = shutil.which("mosquitto_pub")
MOSQUITTO_SUB = shutil.which("mosquitto_sub")

needs_mosquitto = pytest.mark.skipif(
    MOSQUITTO is None or MOSQUITTO_PASSWD is None,
    reason="needs the mosquitto broker and mosquitto_passwd (apt-get install mosquitto)",
)
needs_mosquitto_clients = pytest.mark.skipif(
    MOSQUITTO_PUB is None or MOSQUITTO_SUB is None,
    reason="needs mosquitto_pub and mosquitto_sub (apt-get install mosquitto-clients)",
)
MOSQUITTO_CLIENTS = [pytest.mark.interop, needs_mosquitto_clients]

FERRO_PUB = [sys.executable, "-m", "ferromqtt", "pub"]
FERRO_SUB = [sys.executable, "-m", "ferromqtt", "sub"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unique(prefix: str = "cli") -> str:
    return f"{prefix}/{uuid.uuid4().hex[:10]}"


class _Lines:
    """Lines of a pipe, read by a thread, taken with a timeout."""

    def __init__(self, stream) -> None:  # type: ignore[no-untyped-def]
        self.queue: queue.Queue[bytes] = queue.Queue()
        self.thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self.thread.start()

    def _pump(self, stream) -> None:  # type: ignore[no-untyped-def]
        for line in iter(stream.readline, b""):
            self.queue.put(line)
        self.queue.put(b"")

    def get(self, timeout: float = TIMEOUT) -> bytes:
        return self.queue.get(timeout=timeout)


@dataclass
class MosquittoBroker:
    host: str
    port: int  # anonymous access
    auth_port: int  # user "alice", password "secret"
    process: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
def mosquitto(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    if MOSQUITTO is None or MOSQUITTO_PASSWD is None:
        pytest.skip("needs the mosquitto broker and mosquitto_passwd (apt-get install mosquitto)")
    directory = tmp_path_factory.mktemp("mosquitto")
    password_file = directory / "passwords"
    subprocess.run(
        [MOSQUITTO_PASSWD, "-c", "-b", str(password_file), "alice", "secret"],
        check=True,
        timeout=TIMEOUT,
    )
    password_file.chmod(0o600)
    port, auth_port = free_port(), free_port()
    config = directory / "mosquitto.conf"
    config.write_text(
        # As root mosquitto would switch to user "mosquitto", who cannot read tmp_path.
        f"user {pwd.getpwuid(os.getuid()).pw_name}\n"
        "per_listener_settings true\n"
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        f"listener {auth_port} 127.0.0.1\n"
        "allow_anonymous false\n"
        f"password_file {password_file}\n"
    )
    process = subprocess.Popen(
        [MOSQUITTO, "-c", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert process.stdout is not None
    log = _Lines(process.stdout)  # keeps draining the log so mosquitto never blocks on it
    try:
        seen = []
        while b" running" not in (line := log.get()):
            seen.append(line)
            assert line, f"mosquitto exited during start-up: {b''.join(seen)!r}"
        yield MosquittoBroker("127.0.0.1", port, auth_port, process)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(TIMEOUT)
        log.thread.join(TIMEOUT)
        process.stdout.close()


@pytest.fixture(
    scope="module",
    params=[
        "ferromqtt",
        pytest.param("mosquitto", marks=[pytest.mark.interop, needs_mosquitto]),
    ],
)
def broker(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Each feature test runs against our own broker and against Mosquitto."""
    if request.param == "mosquitto":
        yield request.getfixturevalue("mosquitto")
        return
    from ferromqtt.broker import Broker

    with Broker(host="127.0.0.1", port=0) as ours:
        if MOSQUITTO_PASSWD is None:
            yield ours
            return
        # As Mosquitto's fixture: a second broker, for user "alice" with password "secret".
        password_file = tmp_path_factory.mktemp("ferromqtt") / "passwords"
        subprocess.run(
            [MOSQUITTO_PASSWD, "-c", "-b", str(password_file), "alice", "secret"],
            check=True,
            timeout=TIMEOUT,
        )
        secured = Broker(
            host="127.0.0.1", port=0, allow_anonymous=False, password_file=password_file
        )
        with secured:
            yield OurBrokers(ours.host, ours.port, secured.port)


@dataclass
class OurBrokers:
    host: str
    port: int  # anonymous access
    auth_port: int  # user "alice", password "secret"


@dataclass
class TlsMosquitto:
    host: str
    port: int
    ca_file: str
    other_ca_file: str  # a CA that did not sign the server's certificate


@pytest.fixture(scope="module")
def tls_mosquitto(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Mosquitto with one TLS listener whose certificate a throw-away CA (trustme) signed."""
    if MOSQUITTO is None:
        pytest.skip("needs the mosquitto broker (apt-get install mosquitto)")
    trustme = pytest.importorskip("trustme", reason="trustme makes the test certificates")
    directory = tmp_path_factory.mktemp("tls")
    ca, other = trustme.CA(), trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    files = {name: str(directory / name) for name in ("ca.pem", "other.pem", "cert", "key")}
    ca.cert_pem.write_to_path(files["ca.pem"])
    other.cert_pem.write_to_path(files["other.pem"])
    server.cert_chain_pems[0].write_to_path(files["cert"])
    server.private_key_pem.write_to_path(files["key"])
    port = free_port()
    config = directory / "mosquitto.conf"
    config.write_text(
        f"user {pwd.getpwuid(os.getuid()).pw_name}\n"
        f"listener {port} 127.0.0.1\nallow_anonymous true\n"
        f"cafile {files['ca.pem']}\ncertfile {files['cert']}\nkeyfile {files['key']}\n"
    )
    process = subprocess.Popen(
        [MOSQUITTO, "-c", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert process.stdout is not None
    log = _Lines(process.stdout)
    try:
        while b" running" not in (line := log.get()):
            assert line, "mosquitto exited during start-up"
        yield TlsMosquitto("127.0.0.1", port, files["ca.pem"], files["other.pem"])
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(TIMEOUT)
        log.thread.join(TIMEOUT)
        process.stdout.close()


def run(argv: list[str], stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, input=stdin, capture_output=True, timeout=TIMEOUT)


def pub(tool: list[str], broker: Any, *args: str, stdin: bytes = b"") -> None:
    done = run([*tool, "-h", broker.host, "-p", str(broker.port), *args], stdin)
    assert (done.returncode, done.stderr) == (0, b""), done


class Subscriber:
    """A running sub tool; `ready` is published retained first so that its first output
    line says the subscription is in place."""

    def __init__(self, tool: list[str], broker: Any, *args: str) -> None:
        self.process = subprocess.Popen(
            [*tool, "-h", broker.host, "-p", str(broker.port), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.lines = _Lines(self.process.stdout)
        self.stderr = b""
        _running.append(self)

    def line(self) -> bytes:
        return self.lines.get()

    def finish(self) -> tuple[int, bytes]:
        """Exit code and stderr once the process ends by itself."""
        try:
            code = self.process.wait(TIMEOUT)
        finally:
            self.close()
        assert self.process.stderr is not None
        return code, self.stderr

    def close(self) -> None:
        """Kill the process (if still running) and close its pipes."""
        if self.process.stdout is None or self.process.stdout.closed:
            return
        self.process.kill()
        self.process.wait(TIMEOUT)
        self.lines.thread.join(TIMEOUT)
        assert self.process.stdout is not None and self.process.stderr is not None
        self.stderr = self.process.stderr.read()
        self.process.stdout.close()
        self.process.stderr.close()


_running: list[Subscriber] = []


@pytest.fixture(autouse=True)
def _close_subscribers():  # type: ignore[no-untyped-def]
    """Whatever a test left running is killed (by its PID) and its pipes closed."""
    yield
    while _running:
        _running.pop().close()


def subscribe_ready(
    sub_tool: list[str], pub_tool: list[str], broker: Any, base: str, *args: str
) -> Subscriber:
    """Start a subscriber on base/# whose first line (checked here) is the retained ready
    message, then return it: everything published afterwards reaches it. `args` must print
    the topic first, then "|"."""
    pub(pub_tool, broker, "-t", f"{base}/ready", "-r", "-m", "ready")
    subscriber = Subscriber(sub_tool, broker, "-t", f"{base}/#", *args)
    assert subscriber.line().startswith(f"{base}/ready|".encode())
    return subscriber


TOOLS = {
    "ferromqtt": (FERRO_PUB, FERRO_SUB),
    "mosquitto": ([MOSQUITTO_PUB or "mosquitto_pub"], [MOSQUITTO_SUB or "mosquitto_sub"]),
}
PAIRS = [
    pytest.param("ferromqtt", "ferromqtt", id="ferromqtt-to-ferromqtt"),
    pytest.param("ferromqtt", "mosquitto", marks=MOSQUITTO_CLIENTS, id="to-mosquitto_sub"),
    pytest.param("mosquitto", "ferromqtt", marks=MOSQUITTO_CLIENTS, id="from-mosquitto_pub"),
]
VERSIONS = ["mqttv31", "mqttv311", "mqttv5"]


# -- round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize("qos", [0, 1, 2])
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("publisher, subscriber", PAIRS)
def test_message_round_trips_at_each_qos_and_version(broker, publisher, subscriber, version, qos):  # type: ignore[no-untyped-def]
    base = unique()
    sub = subscribe_ready(
        TOOLS[subscriber][1],
        TOOLS[publisher][0],
        broker,
        base,
        "-V",
        version,
        "-q",
        str(qos),
        "-C",
        "2",
        "-F",
        "%t|%p",
    )
    pub(TOOLS[publisher][0], broker, "-V", version, "-q", str(qos), "-t", f"{base}/m", "-m", "hé")
    assert sub.line() == f"{base}/m|hé\n".encode()
    assert sub.finish() == (0, b"")


@pytest.mark.parametrize("version", VERSIONS)
def test_sub_prints_qos_retain_and_verbose_topic(broker, version):  # type: ignore[no-untyped-def]
    base = unique()
    pub(FERRO_PUB, broker, "-V", version, "-t", f"{base}/r", "-m", "kept", "-r", "-q", "1")
    done = run([*FERRO_SUB, "-p", str(broker.port), "-V", version, "-q", "2", "-t",
                f"{base}/r", "-C", "1", "-v"])  # fmt: skip
    assert (done.returncode, done.stdout) == (0, f"{base}/r kept\n".encode())
    done = run([*FERRO_SUB, "-p", str(broker.port), "-V", version, "-q", "2", "-t",
                f"{base}/r", "-C", "1", "-F", "%q %r %l", "-N"])  # fmt: skip
    assert (done.returncode, done.stdout) == (0, b"1 1 4")


# -- retained, -R, --retained-only, -T, -C, -W, -E ---------------------------------------------


@pytest.mark.parametrize("tool", ["ferromqtt", pytest.param("mosquitto", marks=MOSQUITTO_CLIENTS)])
def test_no_stale_flag_skips_retained_messages(broker, tool):  # type: ignore[no-untyped-def]
    base = unique()
    pub(FERRO_PUB, broker, "-t", f"{base}/old", "-r", "-m", "stale")
    command = TOOLS[tool][1]
    if tool == "mosquitto":
        # mosquitto_sub flushes messages but not its -d lines.
        command = [shutil.which("stdbuf") or "stdbuf", "-oL", *command]
    sub = Subscriber(command, broker, "-t", f"{base}/#", "-R", "-v", "-C", "1", "-d")
    while not sub.line().startswith(b"Subscribed (mid:"):
        pass
    pub(FERRO_PUB, broker, "-t", f"{base}/new", "-m", "fresh")
    printed = []
    while line := sub.line():
        if not line.startswith(b"Client "):
            printed.append(line)
    assert printed == [f"{base}/new fresh\n".encode()]
    assert sub.finish()[0] == 0


@pytest.mark.parametrize("tool", ["ferromqtt", pytest.param("mosquitto", marks=MOSQUITTO_CLIENTS)])
def test_retained_only_prints_retained_and_exits_on_first_live_message(broker, tool):  # type: ignore[no-untyped-def]
    base = unique()
    pub(FERRO_PUB, broker, "-t", f"{base}/old", "-r", "-m", "stale")
    sub = Subscriber(TOOLS[tool][1], broker, "-t", f"{base}/#", "--retained-only", "-v")
    assert sub.line() == f"{base}/old stale\n".encode()
    pub(FERRO_PUB, broker, "-t", f"{base}/new", "-m", "fresh")
    assert sub.line() == b""  # exited without printing the live message
    assert sub.finish() == (0, b"")


def test_filter_out_topics_are_not_printed_nor_counted(broker):  # type: ignore[no-untyped-def]
    base = unique()
    sub = subscribe_ready(
        FERRO_SUB, FERRO_PUB, broker, base, "-T", f"{base}/skip/#", "-C", "2", "-F", "%t|%p"
    )
    pub(FERRO_PUB, broker, "-t", f"{base}/skip/a", "-m", "no")
    pub(FERRO_PUB, broker, "-t", f"{base}/keep", "-m", "yes")
    assert sub.line() == f"{base}/keep|yes\n".encode()
    assert sub.finish() == (0, b"")


def test_count_stops_after_exactly_that_many_messages(broker):  # type: ignore[no-untyped-def]
    base = unique()
    sub = subscribe_ready(FERRO_SUB, FERRO_PUB, broker, base, "-C", "3", "-F", "%t|%p")
    pub(FERRO_PUB, broker, "-t", f"{base}/n", "-m", "again", "--repeat", "3", "-q", "1")
    assert [sub.line(), sub.line(), sub.line()] == [
        f"{base}/n|again\n".encode(),
        f"{base}/n|again\n".encode(),
        b"",
    ]
    assert sub.finish() == (0, b"")


def test_exit_on_subscribe_returns_once_subscribed(broker):  # type: ignore[no-untyped-def]
    done = run([*FERRO_SUB, "-p", str(broker.port), "-t", unique(), "-E", "-d", "-i", "e1"])
    assert done.returncode == 0
    assert done.stdout.splitlines()[-2:] == [
        b"Subscribed (mid: 1): 0",
        b"Client e1 sending DISCONNECT",
    ]


def test_persistent_session_keeps_messages_while_offline(broker):  # type: ignore[no-untyped-def]
    base, client_id = unique(), uuid.uuid4().hex[:12]
    session = ["-p", str(broker.port), "-V", "5", "-c", "-i", client_id, "-q", "1",
               "-x", "60", "-t", f"{base}/#"]  # fmt: skip
    assert run([*FERRO_SUB, *session, "-E"]).returncode == 0
    pub(FERRO_PUB, broker, "-t", f"{base}/queued", "-m", "kept", "-q", "1")
    done = run([*FERRO_SUB, *session, "-C", "1", "-v"])
    assert (done.returncode, done.stdout) == (0, f"{base}/queued kept\n".encode())


def test_will_is_published_when_the_client_dies(broker):  # type: ignore[no-untyped-def]
    base = unique()
    watcher = subscribe_ready(FERRO_SUB, FERRO_PUB, broker, base, "-F", "%t|%p", "-C", "2")
    doomed = Subscriber(FERRO_SUB, broker, "-t", unique(), "-d", "--will-topic",
                        f"{base}/will", "--will-payload", "gone", "--will-qos", "1")  # fmt: skip
    while not doomed.line().startswith(b"Subscribed (mid:"):
        pass
    doomed.process.kill()
    doomed.process.wait(TIMEOUT)
    assert watcher.line() == f"{base}/will|gone\n".encode()
    assert watcher.finish() == (0, b"")


def test_sub_reconnects_and_subscribes_again_after_the_broker_restarts():  # type: ignore[no-untyped-def]
    """As mosquitto_sub: losing the broker is not the end of a subscription."""
    from ferromqtt.broker import Broker

    first = Broker(host="127.0.0.1", port=0).start()
    port = first.port
    sub = Subscriber(FERRO_SUB, first, "-t", "r/#", "-v", "-C", "1", "-d", "-V", "5")
    second = None
    try:
        while not sub.line().startswith(b"Subscribed (mid:"):
            pass
        first.stop()
        second = Broker(host="127.0.0.1", port=port).start()
        while not sub.line().startswith(b"Subscribed (mid:"):
            pass
        pub(FERRO_PUB, second, "-t", "r/again", "-m", "back")
        printed = [line for line in iter(sub.line, b"") if not line.startswith(b"Client ")]
        assert printed == [b"r/again back\n"]
        assert sub.finish() == (0, b"")
    finally:
        first.stop()
        if second is not None:
            second.stop()


def test_url_option_gives_host_port_and_topic(broker):  # type: ignore[no-untyped-def]
    topic = unique()
    url = f"mqtt://{broker.host}:{broker.port}/{topic}"
    assert run([*FERRO_PUB, "-L", url, "-m", "via url", "-r"]).returncode == 0
    done = run([*FERRO_SUB, "-L", url, "-C", "1", "-v"])
    assert (done.returncode, done.stdout) == (0, f"{topic} via url\n".encode())


def test_remove_retained_clears_each_retained_message_it_receives(broker):  # type: ignore[no-untyped-def]
    base = unique()
    pub(FERRO_PUB, broker, "-t", f"{base}/a", "-r", "-m", "kept")
    done = run([*FERRO_SUB, "-p", str(broker.port), "-t", f"{base}/#", "--remove-retained",
                "-v", "-C", "2"])  # fmt: skip
    # The clearing message comes back (live, empty): -v prints it as "(null)", as mosquitto.
    assert (done.returncode, done.stdout) == (0, f"{base}/a kept\n{base}/a (null)\n".encode())
    pub(FERRO_PUB, broker, "-t", f"{base}/z", "-r", "-m", "sentinel")
    done = run([*FERRO_SUB, "-p", str(broker.port), "-t", f"{base}/#", "-v", "-C", "1"])
    assert (done.returncode, done.stdout) == (0, f"{base}/z sentinel\n".encode())


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("tool", ["ferromqtt", pytest.param("mosquitto", marks=MOSQUITTO_CLIENTS)])
def test_interrupted_sub_disconnects_and_exits_0(broker, tool, signum):  # type: ignore[no-untyped-def]
    command = TOOLS[tool][1]
    if tool == "mosquitto":
        command = [shutil.which("stdbuf") or "stdbuf", "-oL", *command]
    sub = Subscriber(command, broker, "-t", unique(), "-d", "-i", "stopped")
    while not sub.line().startswith(b"Subscribed (mid:"):
        pass
    # The stdbuf wrapper execs mosquitto_sub, so the PID is the tool's either way.
    sub.process.send_signal(signum)
    rest = list(iter(sub.line, b""))
    assert rest[-1] == b"Client stopped sending DISCONNECT\n", rest
    assert sub.finish() == (0, b"")


# -- payload sources -------------------------------------------------------------------------


def test_stdin_line_mode_sends_one_message_per_line(broker):  # type: ignore[no-untyped-def]
    base = unique()
    sub = subscribe_ready(FERRO_SUB, FERRO_PUB, broker, base, "-C", "4", "-F", "%t|%p")
    pub(FERRO_PUB, broker, "-t", f"{base}/l", "-l", "-q", "1", stdin=b"one\n\nthree")
    lines = [sub.line() for _ in range(3)]
    assert lines == [f"{base}/l|{text}\n".encode() for text in ("one", "", "three")]
    assert sub.finish() == (0, b"")


def test_stdin_line_mode_publishes_each_line_as_it_arrives(broker):  # type: ignore[no-untyped-def]
    base = unique()
    sub = subscribe_ready(FERRO_SUB, FERRO_PUB, broker, base, "-C", "3", "-F", "%t|%p")
    publisher = subprocess.Popen(
        [*FERRO_PUB, "-p", str(broker.port), "-t", f"{base}/live", "-l"], stdin=subprocess.PIPE
    )
    assert publisher.stdin is not None
    try:
        for text in (b"first", b"second"):
            publisher.stdin.write(text + b"\n")
            publisher.stdin.flush()
            # Delivered while stdin is still open: not held back until end of input.
            assert sub.line() == f"{base}/live|".encode() + text + b"\n"
        publisher.stdin.close()
        assert publisher.wait(TIMEOUT) == 0
    finally:
        publisher.kill()
        publisher.wait(TIMEOUT)
    sub.close()


def test_stdin_whole_mode_file_and_null_message_keep_bytes_exact(broker, tmp_path: Path):  # type: ignore[no-untyped-def]
    base = unique()
    blob = bytes(range(256)) + b"\n\r\n"
    path = tmp_path / "payload.bin"
    path.write_bytes(blob[::-1])
    sub = subscribe_ready(FERRO_SUB, FERRO_PUB, broker, base, "-C", "4", "-F", "%t|%x")
    pub(FERRO_PUB, broker, "-t", f"{base}/s", "-s", stdin=blob)
    pub(FERRO_PUB, broker, "-t", f"{base}/f", "-f", str(path), "-q", "2")
    pub(FERRO_PUB, broker, "-t", f"{base}/n", "-n")
    assert [sub.line() for _ in range(3)] == [
        f"{base}/s|{blob.hex()}\n".encode(),
        f"{base}/f|{blob[::-1].hex()}\n".encode(),
        f"{base}/n|\n".encode(),
    ]
    assert sub.finish() == (0, b"")


# -- output formats ----------------------------------------------------------------------------

# Format strings whose output does not depend on the time: byte for byte as mosquitto_sub.
FORMATS = [
    "%t|%p|%q|%r|%l|%%",
    "%x|%X|%10t|%-12t|%.3t|%5l|%05l|%-5l|",
    r"tab\there\\ bell\a esc\e @@ end",
    "%P|%C|%F|%R|%D|%S|%A",
]


@pytest.mark.interop
@needs_mosquitto_clients
@pytest.mark.parametrize("fmt", FORMATS)
def test_format_output_is_byte_for_byte_mosquitto_subs(broker, fmt):  # type: ignore[no-untyped-def]
    topic = unique()
    pub(FERRO_PUB, broker, "-V", "5", "-t", topic, "-r", "-m", 'hé"\tllo', "-q", "1",
        "-D", "publish", "user-property", "k", "v", "-D", "publish", "user-property", "k2", "v2",
        "-D", "publish", "content-type", "text/plain", "-D", "publish", "response-topic", "re/ply",
        "-D", "publish", "payload-format-indicator", "1",
        "-D", "publish", "correlation-data", "c0rr")  # fmt: skip
    outputs = []
    for tool in (FERRO_SUB, [MOSQUITTO_SUB or ""]):
        done = run([*tool, "-p", str(broker.port), "-V", "5", "-t", topic, "-C", "1", "-F", fmt])
        assert done.returncode == 0, done
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1]


def test_time_formats_and_mosquitto_json(broker):  # type: ignore[no-untyped-def]
    topic = unique()
    pub(FERRO_PUB, broker, "-t", topic, "-r", "-m", '{"t": 21.5}')
    done = run([*FERRO_SUB, "-p", str(broker.port), "-t", topic, "-C", "1", "-F",
                r"%I\n%U\n@Y @N\n%j\n%J"])  # fmt: skip
    iso, unix, strf, obj, raw, _end = done.stdout.decode().split("\n")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}", iso)
    assert re.fullmatch(r"\d{10}\.\d{9}", unix)
    assert re.fullmatch(r"\d{4} \d{9}", strf)
    assert {k: v for k, v in json.loads(obj).items() if k != "tst"} == {
        "topic": topic, "qos": 0, "retain": 1, "payloadlen": 11, "payload": '{"t": 21.5}'
    }  # fmt: skip
    assert json.loads(raw)["payload"] == {"t": 21.5}


def test_json_output_has_properties_and_base64_for_binary(broker):  # type: ignore[no-untyped-def]
    base = unique()
    pub(FERRO_PUB, broker, "-V", "5", "-t", f"{base}/ready", "-r", "-m", "ready")
    listener = Subscriber(FERRO_SUB, broker, "-V", "5", "-q", "1", "-t", f"{base}/#",
                          "--json", "-C", "2")  # fmt: skip
    first = json.loads(listener.line())
    assert (first["payload"], first["encoding"], first["retain"]) == ("ready", "utf-8", True)
    assert first["properties"] == {}
    binary = bytes([0xFF, 0x00, 0xC3])
    pub(FERRO_PUB, broker, "-V", "5", "-q", "1", "-t", f"{base}/b", "-s",
        "-D", "publish", "user-property", "sensor", "7",
        "-D", "publish", "message-expiry-interval", "60", stdin=binary)  # fmt: skip
    second = json.loads(listener.line())
    assert second["topic"] == f"{base}/b"
    assert (second["payload"], second["encoding"]) == ("/wDD", "base64")
    assert (second["qos"], second["retain"]) == (1, False) and second["mid"] > 0
    assert second["properties"]["UserProperty"] == [["sensor", "7"]]
    assert 0 < second["properties"]["MessageExpiryInterval"] <= 60
    assert listener.finish() == (0, b"")


@pytest.mark.interop
@needs_mosquitto_clients
def test_user_properties_from_pub_reach_a_v5_mosquitto_sub(broker):  # type: ignore[no-untyped-def]
    topic = unique()
    pub(FERRO_PUB, broker, "-V", "mqttv5", "-t", topic, "-r", "-m", "x",
        "-D", "publish", "user-property", "key", "value",
        "-D", "connect", "session-expiry-interval", "10")  # fmt: skip
    done = run([MOSQUITTO_SUB or "", "-p", str(broker.port), "-V", "5", "-t", topic, "-C", "1",
                "-F", "%P %p"])  # fmt: skip
    assert (done.returncode, done.stdout) == (0, b"key:value x\n")


def test_debug_output_names_the_client_and_its_packets(broker):  # type: ignore[no-untyped-def]
    done = run([*FERRO_PUB, "-p", str(broker.port), "-t", unique(), "-m", "x", "-q", "2",
                "-I", "pfx-", "-d"])  # fmt: skip
    assert done.returncode == 0
    lines = done.stdout.decode().splitlines()
    client = re.fullmatch(r"Client (pfx-\d+) sending CONNECT", lines[0])
    assert client, lines
    assert [line.split(" ", 2)[2].split(" (")[0] for line in lines] == [
        "sending CONNECT",
        "received CONNACK",
        "sending PUBLISH",
        "received PUBREC",
        "sending PUBREL",
        "received PUBCOMP",
        "sending DISCONNECT",
    ]


# -- failures: exit codes and messages, as mosquitto_pub / mosquitto_sub 2.0.11 ------------

HINT = "\n\nUse '{tool} --help' to see usage.\n"


@dataclass
class Failure:
    tool: str  # "pub" or "sub"
    args: list[str]  # "{port}" / "{auth_port}" / "{closed_port}" are filled in
    exit_code: int
    stderr: str  # what ferromqtt prints; "{tool}" is the tool's name
    mosquitto_stderr: Optional[str] = None  # when mosquitto prints something else


FAILURES = {
    "no-broker-pub": Failure("pub", ["-p", "{closed_port}", "-t", "a", "-m", "x"], 1,
                             "Error: Connection refused\n"),
    "no-broker-sub": Failure("sub", ["-p", "{closed_port}", "-t", "a"], 1,
                             "Error: Connection refused\n"),
    "bad-password-pub-v311": Failure(
        "pub", ["-p", "{auth_port}", "-t", "a", "-m", "x", "-u", "alice", "-P", "wrong"], 5,
        "Connection error: Connection Refused: not authorised.\n"
        "Error: The connection was refused.\n"),
    "bad-password-pub-v5": Failure(
        "pub", ["-p", "{auth_port}", "-t", "a", "-m", "x", "-u", "alice", "-P", "no", "-V", "5"],
        135, "Connection error: Not authorized\nError: The connection was refused.\n",
        # mosquitto_pub blames the protocol on its second line; ferromqtt says what happened.
        "Connection error: Not authorized\n"
        "Error: A network protocol error occurred when communicating with the broker.\n"),
    "bad-password-sub-v311": Failure(
        "sub", ["-p", "{auth_port}", "-t", "a", "-u", "alice", "-P", "wrong"], 5,
        "Connection error: Connection Refused: not authorised.\n"),
    "no-credentials-sub-v5": Failure(
        "sub", ["-p", "{auth_port}", "-t", "a", "-V", "mqttv5"], 135,
        "Connection error: Not authorized\n"),
    "timeout": Failure("sub", ["-p", "{port}", "-t", "nothing/here", "-W", "1"], 27,
                       "Timed out\n"),
    "wildcard-publish-topic": Failure(
        "pub", ["-p", "{port}", "-t", "a/#", "-m", "x"], 1,
        "Error: Invalid publish topic 'a/#', does it contain '+' or '#'?" + HINT),
    "bad-subscribe-filter": Failure(
        "sub", ["-p", "{port}", "-t", "a/#b"], 1,
        "Error: Invalid subscription topic 'a/#b', are all '+' and '#' wildcards correct?" + HINT),
    "bad-filter-out": Failure(
        "sub", ["-p", "{port}", "-t", "a", "-T", "a+"], 1,
        "Error: Invalid filter topic 'a+', are all '+' and '#' wildcards correct?" + HINT),
    "missing-topic-sub": Failure(
        "sub", ["-p", "{port}"], 1, "Error: You must specify a topic to subscribe to." + HINT),
    # mosquitto_pub also prints its whole usage on stdout.
    "missing-topic-pub": Failure(
        "pub", ["-p", "{port}", "-m", "x"], 1, "Error: Both topic and message must be supplied.\n"
        "\nUse '{tool} --help' to see usage.\n",
        "Error: Both topic and message must be supplied.\n"),
    "bad-qos": Failure("pub", ["-p", "{port}", "-t", "a", "-m", "x", "-q", "3"], 1,
                       "Error: Invalid QoS given: 3" + HINT),
    "two-payloads": Failure(
        "pub", ["-p", "{port}", "-t", "a", "-m", "x", "-n"], 1,
        "Error: Only one type of message can be sent at once." + HINT,
        "Error: Only one type of message can be sent at once.\n" + HINT),
    "bad-property": Failure(
        "pub", ["-p", "{port}", "-t", "a", "-m", "x", "-D", "publish", "bogus", "k"], 1,
        "Error: Invalid property name given in --property argument." + HINT,
        "Error: Invalid property name given in --property argument.\n" + HINT),
    "missing-file": Failure(
        "pub", ["-p", "{port}", "-t", "a", "-f", "/nonexistent/file"], 1,
        'Error: Unable to open file "/nonexistent/file".\n'
        'Error loading input file "/nonexistent/file".\n'),
    "client-id-needed-for-c": Failure(
        "sub", ["-p", "{port}", "-t", "a", "-c"], 1,
        "Error: You must provide a client id if you are using the -c option." + HINT),
    "quiet-hides-errors": Failure("pub", ["-p", "{closed_port}", "-t", "a", "-m", "x", "--quiet"],
                                  1, ""),
}  # fmt: skip


def _failure_argv(case: Failure, command: list[str], broker: Any) -> list[str]:
    auth_port = getattr(broker, "auth_port", 0)
    ports = {"port": broker.port, "auth_port": auth_port, "closed_port": free_port()}
    return [*command, "-h", broker.host, *(a.format(**ports) for a in case.args)]


@pytest.mark.parametrize("name", list(FAILURES))
def test_failure_exit_code_and_message(broker, name):  # type: ignore[no-untyped-def]
    case = FAILURES[name]
    if "{auth_port}" in case.args and not hasattr(broker, "auth_port"):
        pytest.skip("needs mosquitto_passwd to make the password file (apt-get install mosquitto)")
    command = FERRO_PUB if case.tool == "pub" else FERRO_SUB
    done = run(_failure_argv(case, command, broker))
    expected = case.stderr.format(tool=f"ferromqtt {case.tool}")
    assert (done.returncode, done.stderr.decode()) == (case.exit_code, expected)
    assert done.stdout == b""


@pytest.mark.interop
@needs_mosquitto_clients
@pytest.mark.parametrize("name", list(FAILURES))
def test_mosquitto_tools_fail_the_same_way(mosquitto, name):  # type: ignore[no-untyped-def]
    """The references above are what the installed mosquitto_pub/mosquitto_sub do."""
    case = FAILURES[name]
    command = [MOSQUITTO_PUB if case.tool == "pub" else MOSQUITTO_SUB or ""]
    done = run(_failure_argv(case, command, mosquitto))
    expected = (case.mosquitto_stderr or case.stderr).format(tool=f"mosquitto_{case.tool}")
    assert (done.returncode, done.stderr.decode()) == (case.exit_code, expected)


@pytest.mark.interop
def test_tls_round_trip_with_a_ca_file(tls_mosquitto):  # type: ignore[no-untyped-def]
    topic = unique()
    tls = [
        "-h",
        tls_mosquitto.host,
        "-p",
        str(tls_mosquitto.port),
        "--cafile",
        tls_mosquitto.ca_file,
    ]
    done = run([*FERRO_PUB, *tls, "-t", topic, "-m", "over tls", "-r", "-q", "1"])
    assert (done.returncode, done.stderr) == (0, b"")
    done = run([*FERRO_SUB, *tls, "-t", topic, "-C", "1", "-v"])
    assert (done.returncode, done.stdout) == (0, f"{topic} over tls\n".encode())


# (CA, exit code, first stderr line), as mosquitto_pub 2.0.11 ends. When the handshake fails
# inside its connect call, mosquitto_pub says instead (1, "Unable to connect (A TLS error
# occurred.).") (seen in about half of the runs); ferromqtt always reports the first form.
TLS_FAILURES = {
    "unknown-ca": ("other", 8, "Error: A TLS error occurred."),
    "plain-to-tls-listener": (None, 7, "Error: The connection was lost."),
}
MOSQUITTO_TLS_CONNECT_ERROR = (1, "Unable to connect (A TLS error occurred.).")


@pytest.mark.interop
@pytest.mark.parametrize("tool", ["ferromqtt", pytest.param("mosquitto", marks=MOSQUITTO_CLIENTS)])
@pytest.mark.parametrize("name", list(TLS_FAILURES))
def test_tls_failures_exit_as_mosquitto_pub(tls_mosquitto, tool, name):  # type: ignore[no-untyped-def]
    ca, exit_code, first_line = TLS_FAILURES[name]
    argv = [*TOOLS[tool][0], "-h", tls_mosquitto.host, "-p", str(tls_mosquitto.port), "-t", "a",
            "-m", "x"]  # fmt: skip
    if ca is not None:
        argv += ["--cafile", tls_mosquitto.other_ca_file]
    done = run(argv)
    outcome = (done.returncode, done.stderr.decode().splitlines()[0])
    if tool == "mosquitto" and ca is not None:
        assert outcome in ((exit_code, first_line), MOSQUITTO_TLS_CONNECT_ERROR)
    else:
        assert outcome == (exit_code, first_line)


def test_help_lists_mosquitto_options_and_h_is_the_host():  # type: ignore[no-untyped-def]
    done = run([*FERRO_PUB, "--help"])
    assert done.returncode == 0
    for option in (b"-h HOST", b"-D COMMAND", b"--will-topic", b"--repeat-delay"):
        assert option in done.stdout
    done = run([*FERRO_SUB, "-h", "127.0.0.1", "-p", str(free_port()), "-t", "a"])
    assert (done.returncode, done.stderr) == (1, b"Error: Connection refused\n")
