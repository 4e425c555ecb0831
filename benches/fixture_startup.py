"""What a test fixture pays for a broker: time from nothing to a first CONNACK.

    python benches/fixture_startup.py [--runs 20]

Each run starts a broker, opens a TCP connection, sends a minimal MQTT 3.1.1 CONNECT and
reads the CONNACK (the same raw bytes for every broker, so no client library is measured),
then stops the broker (not timed). Medians over the runs of:

- ferromqtt: ``Broker(port=0).start()`` in this process;
- mosquitto: a ``mosquitto -c conf`` subprocess on a free port (pytest-mqtt's way, minus
  Docker), connected to as soon as it accepts;
- amqtt: its ``Broker`` in this process's asyncio loop (if amqtt is installed).

Then the import cost: ``python -c "import ferromqtt"`` (and amqtt's broker) in fresh
subprocesses, minus an empty ``python -c pass``; ``-X importtime`` shows the detail.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_support import require_release_build  # noqa: E402

# CONNECT, MQTT 3.1.1, clean session, keepalive 60, client id "bench".
CONNECT = bytes([0x10, 17, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 60, 0, 5]) + b"bench"
CONNACK = bytes([0x20, 2, 0, 0])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def connack(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(CONNECT)
        reply = b""
        while len(reply) < 4:
            chunk = connection.recv(4 - len(reply))
            if not chunk:
                raise ConnectionError("closed before CONNACK")
            reply += chunk
        if reply != CONNACK:
            raise ConnectionError(f"unexpected CONNACK {reply!r}")


def time_ferromqtt() -> float:
    from ferromqtt.broker import Broker

    started = time.perf_counter()
    broker = Broker(port=0).start()
    connack(broker.port)
    elapsed = time.perf_counter() - started
    broker.stop()
    return elapsed


def time_mosquitto(executable: str, workdir: str) -> float:
    port = free_port()
    config = os.path.join(workdir, f"m{port}.conf")
    with open(config, "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
    started = time.perf_counter()
    process = subprocess.Popen(
        [executable, "-c", config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = started + 10
        while True:
            try:
                connack(port)
                break
            except (ConnectionRefusedError, ConnectionResetError):
                if time.perf_counter() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.0002)  # a polling client, as a fixture waiting for the port
        return time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(10)


async def _amqtt_once() -> float:
    from amqtt.broker import Broker

    port = free_port()
    config = {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }
    started = time.perf_counter()
    broker = Broker(config)
    await broker.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(CONNECT)
    reply = await reader.readexactly(4)
    elapsed = time.perf_counter() - started
    if reply != CONNACK:
        raise ConnectionError(f"unexpected CONNACK {reply!r}")
    writer.close()
    await broker.shutdown()
    return elapsed


def import_time(module: str, runs: int) -> float:
    def once(code: str) -> float:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - started

    baseline = statistics.median(once("pass") for _ in range(runs))
    return statistics.median(once(f"import {module}") for _ in range(runs)) - baseline


def report(name: str, samples: list[float]) -> None:
    ms = sorted(s * 1000 for s in samples)
    print(
        f"{name:<34} median {statistics.median(ms):7.2f} ms   "
        f"min {ms[0]:7.2f}   max {ms[-1]:7.2f}   first {samples[0] * 1000:7.2f}   (n={len(ms)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    require_release_build(sys.executable)
    runs: int = args.runs

    print(f"start to first CONNACK, {runs} runs each")
    report("ferromqtt Broker(port=0) in-process", [time_ferromqtt() for _ in range(runs)])

    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if os.path.exists(mosquitto):
        with tempfile.TemporaryDirectory() as workdir:
            samples = [time_mosquitto(mosquitto, workdir) for _ in range(runs)]
        report("mosquitto subprocess", samples)
    else:
        print("mosquitto: not installed, skipped")

    amqtt: Callable[[], Any] | None
    try:
        import amqtt.broker  # noqa: F401

        amqtt = _amqtt_once
    except ImportError:
        amqtt = None
        print("amqtt: not installed, skipped")
    if amqtt is not None:
        import logging

        logging.getLogger("amqtt").setLevel(logging.CRITICAL)
        loop = asyncio.new_event_loop()
        try:
            report(
                "amqtt Broker in-process (asyncio)",
                [loop.run_until_complete(amqtt()) for _ in range(runs)],
            )
        finally:
            loop.close()

    import_runs = max(5, runs // 2)
    print(f"\nimport time in a fresh interpreter (median of {import_runs}, minus `python -c pass`)")
    modules = ["ferromqtt", "ferromqtt.client", "ferromqtt.broker"]
    if amqtt is not None:
        modules.append("amqtt.broker")
    for module in modules:
        print(f"{'import ' + module:<34} {import_time(module, import_runs) * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
