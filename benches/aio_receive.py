"""Messages received per second by ferromqtt.aio (``async for``) against the paho-style
``ferromqtt.client`` (``on_message`` on the ``loop_start()`` thread), in the same run,
from the same Mosquitto: alternating rounds, medians. aiomqtt (over paho-mqtt) runs as a
reference when it is installed, and the asyncio client also under uvloop when that is.

Each round isolates the receiving side: the subscriber's persistent session is offline
while a publisher fills Mosquitto's queue for it with N messages; the subscriber then
connects and the clock runs from the connect call until its code has seen the N-th
message (each message's payload is read). Mosquitto then sends as fast as the client reads.
Besides messages per second (wall clock), the CPU time the receiving process used per
message (all its threads, the Rust runtime's included) is reported: it varies less when
other processes compete for the cores.

    python benches/aio_receive.py [--messages 50000] [--rounds 5] [--qos 0] [--payload 64]

Needs mosquitto (``/usr/sbin/mosquitto`` or on PATH) and the extension built in release
mode (``maturin develop --release``) for meaningful figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import ferromqtt.aio as aio
import ferromqtt.client as mqtt

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_support import require_release_build  # noqa: E402

TOPIC = "bench/receive"
WAIT = 120.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mosquitto:
    """A mosquitto process that queues without limits for offline persistent sessions."""

    def __init__(self) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not os.path.exists(binary):
            sys.exit("mosquitto is not installed (apt-get install mosquitto)")
        self.directory = tempfile.mkdtemp(prefix="ferromqtt-bench-")
        self.port = free_port()
        config = os.path.join(self.directory, "mosquitto.conf")
        with open(config, "w") as f:
            f.write(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n")
            f.write("max_queued_messages 0\nmax_queued_bytes 0\nmax_inflight_messages 0\n")
            f.write("queue_qos0_messages true\npersistence false\n")
            f.write("log_dest stderr\nlog_type error\nlog_type information\n")
        self.process = subprocess.Popen(
            [binary, "-c", config], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if "running" in line:
                break
        else:
            sys.exit("mosquitto did not start")
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        try:
            for _ in self.process.stdout or ():
                pass
        except ValueError:
            pass

    def stop(self) -> None:
        os.kill(self.process.pid, signal.SIGTERM)
        self.process.wait(10)
        shutil.rmtree(self.directory, ignore_errors=True)


def fill(port: int, count: int, qos: int, payload: bytes) -> None:
    """Publishes `count` messages; returns once Mosquitto has queued all of them."""
    publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-publisher")
    publisher.max_queued_messages_set(0)
    publisher.max_inflight_messages_set(1000)
    publisher.connect("127.0.0.1", port)
    publisher.loop_start()
    for _ in range(count):
        publisher.publish(TOPIC, payload, qos)
    # One connection is handled in order: this PUBACK means every message was routed.
    publisher.publish("bench/flush", b"", 1).wait_for_publish(WAIT)
    publisher.disconnect()
    publisher.loop_stop()


# ---- the receivers: each subscribes once (persistent session), then runs rounds -----------
def paho_style_subscribe(port: int, qos: int) -> None:
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id="bench-ferromqtt-client", clean_session=False
    )
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.subscribe(TOPIC, qos)
    client.disconnect()
    client.loop_stop()


def paho_style_round(port: int, count: int) -> tuple[float, float]:
    done = threading.Event()
    seen = 0

    def on_message(client: Any, userdata: Any, message: Any) -> None:
        nonlocal seen
        message.payload  # noqa: B018 (read, as the asyncio consumer does)
        seen += 1
        if seen == count:
            done.set()

    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id="bench-ferromqtt-client", clean_session=False
    )
    client.on_message = on_message
    start, cpu = time.perf_counter(), time.process_time()
    client.connect("127.0.0.1", port)
    client.loop_start()
    if not done.wait(WAIT):
        sys.exit(f"ferromqtt.client received {seen} of {count}")
    elapsed = (time.perf_counter() - start, time.process_time() - cpu)
    client.disconnect()
    client.loop_stop()
    return elapsed


def aio_client(port: int) -> aio.Client:
    return aio.Client(
        "127.0.0.1",
        port,
        identifier="bench-ferromqtt-aio",
        clean_session=False,
        timeout=WAIT,
    )


async def aio_subscribe(port: int, qos: int) -> None:
    async with aio_client(port) as client:
        await client.subscribe(TOPIC, qos)


async def aio_round(port: int, count: int) -> tuple[float, float]:
    start, cpu = time.perf_counter(), time.process_time()
    seen = 0
    async with aio_client(port) as client:
        async for message in client.messages:
            message.payload  # noqa: B018
            seen += 1
            if seen == count:
                break
        return time.perf_counter() - start, time.process_time() - cpu


def loop_runner(factory: Callable[[], asyncio.AbstractEventLoop] | None) -> Callable[[Any], Any]:
    def run(coroutine: Any) -> Any:
        loop = factory() if factory is not None else asyncio.new_event_loop()
        try:
            return loop.run_until_complete(coroutine)
        finally:
            loop.close()

    return run


def aiomqtt_receivers() -> tuple[Callable[..., Any], Callable[..., Any]] | None:
    try:
        import aiomqtt
    except ImportError:
        return None

    def make(port: int) -> Any:
        return aiomqtt.Client(
            "127.0.0.1", port, identifier="bench-aiomqtt", clean_session=False, timeout=WAIT
        )

    async def subscribe(port: int, qos: int) -> None:
        async with make(port) as client:
            await client.subscribe(TOPIC, qos)

    async def one_round(port: int, count: int) -> tuple[float, float]:
        start, cpu = time.perf_counter(), time.process_time()
        seen = 0
        async with make(port) as client:
            async for message in client.messages:
                message.payload  # noqa: B018
                seen += 1
                if seen == count:
                    break
            return time.perf_counter() - start, time.process_time() - cpu

    return subscribe, one_round


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--qos", type=int, default=0, choices=[0, 1, 2])
    parser.add_argument("--payload", type=int, default=64, help="payload size in bytes")
    args = parser.parse_args()
    require_release_build(sys.executable)
    payload = b"x" * args.payload

    receivers: dict[
        str, tuple[Callable[[int, int], None], Callable[[int, int], tuple[float, float]]]
    ] = {}
    asyncio_run = loop_runner(None)
    receivers["ferromqtt.aio async for"] = (
        lambda port, qos: asyncio_run(aio_subscribe(port, qos)),
        lambda port, count: asyncio_run(aio_round(port, count)),
    )
    try:
        import uvloop

        uvloop_run = loop_runner(uvloop.new_event_loop)
        receivers["ferromqtt.aio async for (uvloop)"] = (
            lambda port, qos: uvloop_run(aio_subscribe(port, qos)),
            lambda port, count: uvloop_run(aio_round(port, count)),
        )
    except ImportError:
        pass
    receivers["ferromqtt.client on_message"] = (paho_style_subscribe, paho_style_round)
    reference = aiomqtt_receivers()
    if reference is not None:
        subscribe, one_round = reference
        receivers["aiomqtt (paho-mqtt) async for"] = (
            lambda port, qos: asyncio_run(subscribe(port, qos)),
            lambda port, count: asyncio_run(one_round(port, count)),
        )

    broker = Mosquitto()
    try:
        for subscribe_once, _ in receivers.values():
            subscribe_once(broker.port, args.qos)
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in receivers}
        for round_number in range(args.rounds):
            # Alternate the order so that no receiver always runs right after another.
            names = list(receivers)
            if round_number % 2:
                names.reverse()
            for name in names:
                fill(broker.port, args.messages, args.qos, payload)
                times[name].append(receivers[name][1](broker.port, args.messages))
    finally:
        broker.stop()

    print(
        f"{args.messages} messages of {args.payload} bytes, QoS {args.qos}, "
        f"{args.rounds} rounds, Python {sys.version.split()[0]}"
    )
    print(f"{'receiver':<36} {'median msg/s':>13} {'min':>9} {'max':>9} {'CPU us/msg':>11}")
    for name, rounds in times.items():
        rates = [args.messages / wall for wall, _ in rounds]
        cpu = statistics.median(used for _, used in rounds) / args.messages * 1e6
        print(
            f"{name:<36} {statistics.median(rates):>13,.0f} "
            f"{min(rates):>9,.0f} {max(rates):>9,.0f} {cpu:>11.1f}"
        )


if __name__ == "__main__":
    main()
