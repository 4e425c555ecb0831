"""Helpers for the client tests: a real Mosquitto on a free loopback port, and a recorder
of callbacks that tests wait on (queues with timeouts, never sleeps)."""

from __future__ import annotations

import getpass
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from typing import Any

import pytest

MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None
)
WAIT = 10.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mosquitto:
    """A mosquitto process started from a generated config, stopped by its PID."""

    def __init__(self) -> None:
        self.directory = tempfile.mkdtemp(prefix="ferromqtt-mosquitto-")
        self.port = 0
        self.unix_path = os.path.join(self.directory, "mqtt.sock")
        # More listeners or options, appended to the generated config.
        self.extra_config = ""
        # A whole mosquitto.conf used in place of the generated one; "{port}" in it becomes
        # the port. It must log "running" to stderr (Mosquitto's default) and, as root, name
        # a `user` that can read its files.
        self.config_template: str | None = None
        self.allow_anonymous = True
        self.log: list[str] = []
        self.process: subprocess.Popen[str] | None = None

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def start(self, port: int | None = None) -> None:
        self.log = []
        for _ in range(5):
            self.port = port or _free_port()
            config = os.path.join(self.directory, "mosquitto.conf")
            with open(config, "w") as f:
                f.write(self._config_text())
            self._launch(config)
            if self._wait_running():
                return
            self.stop()
        raise RuntimeError("mosquitto did not start:\n" + "".join(self.log))

    def _config_text(self) -> str:
        if self.config_template is not None:
            return self.config_template.replace("{port}", str(self.port))
        return (
            f"listener {self.port} 127.0.0.1\n"
            f"allow_anonymous {str(self.allow_anonymous).lower()}\n"
            # A Unix socket listener too (as root, mosquitto would drop to a user that
            # cannot create the socket file here).
            f"user {getpass.getuser()}\nlistener 0 {self.unix_path}\n"
            f"{self.extra_config}"
            "log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n"
            "log_type information\n"
        )

    def _launch(self, config: str) -> None:
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", config],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def _wait_running(self) -> bool:
        """Reads mosquitto's log until it says it runs (or it exits)."""
        assert self.process is not None and self.process.stdout is not None
        timer = threading.Timer(WAIT, self.process.kill)
        timer.start()
        try:
            for line in self.process.stdout:
                self.log.append(line)
                if "running" in line:
                    self._drainer = threading.Thread(target=self._drain, daemon=True)
                    self._drainer.start()
                    return True
                if "Error" in line:
                    return False
            return False
        finally:
            timer.cancel()

    def _drain(self) -> None:
        process = self.process
        if process is not None and process.stdout is not None:
            try:
                for _ in process.stdout:
                    pass
            except (ValueError, OSError):  # stop() closed the pipe first
                pass

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(WAIT)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(WAIT)
        # The process has exited: its log pipe ends, so the reader finishes on its own
        # before the pipe is closed here.
        drainer = getattr(self, "_drainer", None)
        if drainer is not None:
            drainer.join(WAIT)
        if process.stdout is not None:
            process.stdout.close()

    def pause(self) -> None:
        """The broker stops answering (SIGSTOP) without closing any socket."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)


@pytest.fixture
def mosquitto_broker():
    if MOSQUITTO is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    broker = Mosquitto()
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(broker.directory, ignore_errors=True)


class Recorder:
    """Records every callback of a client as (name, args) into a queue; `wait(name)`
    returns the args of the next such callback (skipping others, which are kept)."""

    NAMES = (
        "on_connect",
        "on_disconnect",
        "on_message",
        "on_publish",
        "on_subscribe",
        "on_unsubscribe",
        "on_connect_fail",
    )

    def __init__(self, client: Any) -> None:
        self.events: queue.Queue[tuple[str, tuple[Any, ...]]] = queue.Queue()
        self.seen: list[tuple[str, tuple[Any, ...]]] = []
        for name in self.NAMES:
            setattr(client, name, self._record(name))

    def _record(self, name: str):
        def record(*args: Any) -> None:
            self.events.put((name, args[2:]))

        return record

    def wait(self, name: str, timeout: float = WAIT) -> tuple[Any, ...]:
        for index, (seen_name, args) in enumerate(self.seen):
            if seen_name == name:
                del self.seen[index]
                return args
        while True:
            seen_name, args = self.events.get(timeout=timeout)
            if seen_name == name:
                return args
            self.seen.append((seen_name, args))

    def names(self) -> list[str]:
        """Every callback name recorded so far, in order (drains the queue)."""
        while True:
            try:
                self.seen.append(self.events.get_nowait())
            except queue.Empty:
                return [name for name, _ in self.seen]


def round_trip(client: Any, host: str, port: int, payload: bytes = b"secret") -> Recorder:
    """Connect, subscribe, publish QoS 1 and receive it back, then disconnect and stop the
    loop; returns the recorder of the callbacks."""
    recorder = Recorder(client)
    client.connect(host, port)
    client.loop_start()
    try:
        assert recorder.wait("on_connect")[1] == 0
        topic = f"round-trip/{uuid.uuid4().hex[:8]}"
        client.subscribe(topic, 1)
        recorder.wait("on_subscribe")
        client.publish(topic, payload, qos=1)
        assert recorder.wait("on_message")[0].payload == payload
        client.disconnect()
    finally:
        client.loop_stop()
    return recorder


class FerroBroker:
    """ferromqtt's own in-process broker with the part of Mosquitto's interface the client
    tests use (host, port, start(port), stop())."""

    def __init__(self) -> None:
        self.port = 0
        self.broker = None

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def start(self, port: int | None = None) -> None:
        from ferromqtt.broker import Broker

        self.broker = Broker(port=port or 0).start()
        self.port = self.broker.port

    def stop(self) -> None:
        broker, self.broker = self.broker, None
        if broker is not None:
            broker.stop()


class CliBroker:
    """`ferromqtt broker -c FILE` as a subprocess, its log read by a thread into a queue (so
    the broker never blocks on a full pipe); stopped with SIGTERM by its PID."""

    def __init__(self, config_file: str | os.PathLike[str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ferromqtt", "broker", "-c", os.fspath(config_file)],
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            # The command's own line: "Opening listen socket on HOST port PORT."
            line = self.wait_for(" port ")
            self.port = int(line.split()[-1].rstrip("."))
        except BaseException:
            self.stop()
            raise

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line)
        self.lines.put("")

    def wait_for(self, text: str, timeout: float = WAIT) -> str:
        """The next log line containing ``text``; AssertionError if the broker exits or
        ``timeout`` passes first."""
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no {text!r} in the log: {''.join(self.log)}") from None
            self.log.append(line)
            if not line:
                raise AssertionError(f"broker exited before {text!r}: {''.join(self.log)}")
            if text in line:
                return line

    def signal(self, signum: int) -> None:
        os.kill(self.process.pid, signum)

    def stop(self) -> int:
        """SIGTERM, then the exit code."""
        if self.process.poll() is None:
            self.signal(signal.SIGTERM)
        try:
            code = self.process.wait(WAIT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(WAIT)
        self._reader.join(WAIT)
        if self.process.stderr is not None:
            self.process.stderr.close()
        return code


@pytest.fixture(params=["mosquitto", "ferromqtt"])
def any_broker(request):
    """Mosquitto and ferromqtt's broker in turn."""
    if request.param == "mosquitto":
        if MOSQUITTO is None:
            pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
        broker: Any = Mosquitto()
    else:
        broker = FerroBroker()
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
        if isinstance(broker, Mosquitto):
            shutil.rmtree(broker.directory, ignore_errors=True)
