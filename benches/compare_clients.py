"""ferromqtt.client against paho.mqtt.client, through the same paho API, same broker, same run.

Starts Mosquitto (or ferromqtt's broker, --broker) on a free loopback port and measures each
client library in turn, alternating which goes first, over several rounds. Every measurement
runs in a fresh interpreter (this script with --worker), so the libraries never share a
process:

- qos0_publish: publish() at QoS 0 as fast as the loop allows; delivered msg/s counted by a
  separate subscriber (the Rust load generator, `benches/loadgen.rs --scenario count`);
- qos1_publish: QoS 1 with up to 100 messages outstanding; msg/s acknowledged (on_publish);
- receive: the load generator publishes N QoS 0 messages as fast as it can; msg/s into
  on_message and how many never arrived;
- roundtrip: one client publishes and waits for its own message in on_message, one at a time;
  p50/p99 of the round trip.

    python benches/compare_clients.py --rounds 3

The interpreter given by --python needs paho-mqtt 2.2 and ferromqtt (`maturin develop
--release`). See benches/README.md for the figures.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_support import (  # noqa: E402
    REPO,
    BrokerProcess,
    Ferromqtt,
    Mosquitto,
    build_loadgen,
    find_mosquitto,
    fmt,
    median,
    mosquitto_version,
    new_workdir,
    parse_result,
    raise_fd_limit,
    remove_workdir,
    require_release_build,
)

CLIENTS = ("paho", "ferromqtt")
SCENARIOS = ("qos0_publish", "qos1_publish", "receive", "roundtrip")
PAYLOAD = b"x" * 64
QOS1_OUTSTANDING = 100


# ---------------------------------------------------------------------------------------
# Worker side: one client library, one scenario, one JSON line on stdout.


def client_module(name: str) -> Any:
    if name == "paho":
        import paho.mqtt.client as mqtt
    else:
        import ferromqtt.client as mqtt  # type: ignore[no-redef]
    return mqtt


def connected_client(mqtt: Any, port: int) -> Any:
    """A VERSION2 client, connected, its network loop running in loop_start()'s thread."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{uuid.uuid4().hex}")
    connected = threading.Event()
    client.on_connect = lambda *args: connected.set()
    client.connect("127.0.0.1", port, keepalive=60)
    client.loop_start()
    if not connected.wait(10):
        raise RuntimeError("no CONNACK within 10 s")
    return client


def subscribe(client: Any, topic: str, qos: int) -> None:
    done = threading.Event()
    client.on_subscribe = lambda *args: done.set()
    client.subscribe(topic, qos)
    if not done.wait(10):
        raise RuntimeError("no SUBACK within 10 s")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def work_qos0_publish(mqtt: Any, port: int, topic: str, seconds: float) -> dict[str, Any]:
    client = connected_client(mqtt, port)
    cpu0, start = cpu_seconds(), time.perf_counter()
    end = start + seconds
    calls = 0
    while time.perf_counter() < end:
        for _ in range(100):
            client.publish(topic, PAYLOAD, 0)
        calls += 100
    elapsed, cpu = time.perf_counter() - start, cpu_seconds() - cpu0
    client.disconnect()
    client.loop_stop()
    return {"publish_calls": calls, "calls_per_s": calls / elapsed, "client_cpu_s": cpu}


def work_qos1_publish(mqtt: Any, port: int, topic: str, seconds: float) -> dict[str, Any]:
    client = connected_client(mqtt, port)
    acked = 0
    ack = threading.Condition()

    def on_publish(*args: Any) -> None:
        nonlocal acked
        with ack:
            acked += 1
            ack.notify()

    client.on_publish = on_publish
    cpu0, start = cpu_seconds(), time.perf_counter()
    end = start + seconds
    published = 0
    while time.perf_counter() < end:
        with ack:
            while published - acked >= QOS1_OUTSTANDING and time.perf_counter() < end:
                ack.wait(0.1)
        client.publish(topic, PAYLOAD, 1)
        published += 1
    with ack:
        completed = acked
    elapsed, cpu = time.perf_counter() - start, cpu_seconds() - cpu0
    client.disconnect()
    client.loop_stop()
    return {
        "published": published,
        "completed": completed,
        "completed_per_s": completed / elapsed,
        "client_cpu_s": cpu,
        "client_cpu_us_per_msg": cpu * 1e6 / max(completed, 1),
    }


def work_receive(mqtt: Any, port: int, topic: str, messages: int) -> dict[str, Any]:
    client = connected_client(mqtt, port)
    received = payload_bytes = 0
    first = last = 0.0
    done = threading.Event()

    def on_message(client: Any, userdata: Any, message: Any) -> None:
        nonlocal received, payload_bytes, first, last
        last = time.perf_counter()
        if received == 0:
            first = last
        received += 1
        payload_bytes += len(message.payload)
        if received >= messages:
            done.set()

    client.on_message = on_message
    subscribe(client, topic, 0)
    cpu0 = cpu_seconds()
    print(json.dumps({"ready": True}), flush=True)
    # Ends when everything arrived or nothing more has come for 2 s (the broker dropped it).
    seen = -1
    while not done.wait(2.0) and received != seen:
        seen = received
    cpu = cpu_seconds() - cpu0
    client.disconnect()
    client.loop_stop()
    span = last - first
    return {
        "expected": messages,
        "received": received,
        "payload_bytes": payload_bytes,
        "dropped": messages - received,
        "received_per_s": received / span if span > 0 else None,
        "client_cpu_s": cpu,
        "client_cpu_us_per_msg": cpu * 1e6 / max(received, 1),
    }


def work_roundtrip(mqtt: Any, port: int, topic: str, count: int) -> dict[str, Any]:
    client = connected_client(mqtt, port)
    arrived = threading.Event()
    client.on_message = lambda *args: arrived.set()
    subscribe(client, topic, 0)
    samples = []
    warmup = count // 10
    for i in range(count + warmup):
        arrived.clear()
        start = time.perf_counter_ns()
        client.publish(topic, PAYLOAD, 0)
        if not arrived.wait(5):
            raise RuntimeError(f"message {i} did not come back within 5 s")
        if i >= warmup:
            samples.append((time.perf_counter_ns() - start) / 1000)
    client.disconnect()
    client.loop_stop()
    samples.sort()
    return {
        "samples": len(samples),
        "p50_us": samples[len(samples) // 2],
        "p99_us": samples[min(len(samples) - 1, int(len(samples) * 0.99))],
        "max_us": samples[-1],
    }


def worker(args: argparse.Namespace) -> int:
    mqtt = client_module(args.worker)
    work: dict[str, Callable[[], dict[str, Any]]] = {
        "qos0_publish": lambda: work_qos0_publish(mqtt, args.port, args.topic, args.duration),
        "qos1_publish": lambda: work_qos1_publish(mqtt, args.port, args.topic, args.duration),
        "receive": lambda: work_receive(mqtt, args.port, args.topic, args.messages),
        "roundtrip": lambda: work_roundtrip(mqtt, args.port, args.topic, args.roundtrips),
    }
    try:
        result = work[args.scenario]()
    except Exception as error:  # reported to the parent as the result of this run
        result = {"error": f"{type(error).__name__}: {error}"}
    result.update(client=args.worker, scenario=args.scenario)
    print(json.dumps(result), flush=True)
    return 0


# ---------------------------------------------------------------------------------------
# Parent side: the broker, the counter and publisher from the load generator, the table.


class QueuedFerromqtt(Ferromqtt):
    """ferromqtt's broker with another max_queued_messages (a TOML configuration file,
    whose listener replaces the one of ``-p``)."""

    def __init__(self, workdir: Path, python: str, max_queued: int) -> None:
        super().__init__(workdir, python, [], "python")
        self.max_queued = max_queued

    def command(self) -> list[str]:
        config = self.workdir / f"broker-{self.port}.toml"
        config.write_text(
            f"max_queued_messages = {self.max_queued}\n\n"
            f'[[listeners]]\nhost = "127.0.0.1"\nport = {self.port}\n'
        )
        return [self.python, "-m", "ferromqtt", "broker", "-c", str(config)]


class Runner:
    def __init__(self, args: argparse.Namespace, loadgen: str, port: int) -> None:
        self.args = args
        self.loadgen = loadgen
        self.port = port

    def worker_command(self, client: str, scenario: str, topic: str) -> list[str]:
        a = self.args
        return [
            a.python,
            str(Path(__file__).resolve()),
            "--worker",
            client,
            "--scenario",
            scenario,
            "--port",
            str(self.port),
            "--topic",
            topic,
            "--duration",
            str(a.duration),
            "--messages",
            str(a.messages),
            "--roundtrips",
            str(a.roundtrips),
        ]

    def run(self, client: str, scenario: str) -> dict[str, Any]:
        topic = f"bench/clients/{uuid.uuid4().hex}"
        timeout = self.args.duration + 120
        if scenario == "qos0_publish":
            return self.qos0_publish(client, topic, timeout)
        if scenario == "receive":
            return self.receive(client, topic, timeout)
        out = subprocess.run(
            self.worker_command(client, scenario, topic),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return parse_result(out.stdout, out.stderr)

    def qos0_publish(self, client: str, topic: str, timeout: float) -> dict[str, Any]:
        """The counter subscribes first and counts `duration` seconds from the first message;
        the client publishes half a second longer so the window is full."""
        counter = self.loadgen_process(
            ["--scenario", "count", "--topic", topic, "--duration", str(self.args.duration)]
        )
        try:
            self.wait_ready(counter)
            command = self.worker_command(client, "qos0_publish", topic)
            command[command.index("--duration") + 1] = str(self.args.duration + 0.5)
            out = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
            result = parse_result(out.stdout, out.stderr)
            counted = parse_result(counter.communicate(timeout=timeout)[0], "")
        finally:
            stop(counter)
        result["delivered"] = counted.get("received")
        result["delivered_per_s"] = counted.get("received_per_s")
        if "error" in counted:
            result.setdefault("error", "counter: " + counted["error"])
        return result

    def receive(self, client: str, topic: str, timeout: float) -> dict[str, Any]:
        process = subprocess.Popen(
            self.worker_command(client, "receive", topic),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            self.wait_ready(process)
            published = subprocess.run(
                [
                    self.loadgen,
                    "--port",
                    str(self.port),
                    "--scenario",
                    "publish",
                    "--topic",
                    topic,
                    "--messages",
                    str(self.args.messages),
                    "--warmup",
                    "0",
                ],
                capture_output=True,
                text=True,
                timeout=timeout,
            )
            out, err = process.communicate(timeout=timeout)
        finally:
            stop(process)
        result = parse_result(out, err)
        sent = parse_result(published.stdout, published.stderr)
        result["publisher_per_s"] = sent.get("sent_per_s")
        if "error" in sent:
            result.setdefault("error", "publisher: " + sent["error"])
        return result

    def loadgen_process(self, args: list[str]) -> subprocess.Popen[str]:
        command = [self.loadgen, "--port", str(self.port), *args]
        return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)

    @staticmethod
    def wait_ready(process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        line = process.stdout.readline()
        if '"ready"' not in line:
            raise RuntimeError(f"expected a ready line, got {line!r}")


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


ROWS = [
    # label, scenario, field, target as text, check on (ferromqtt, paho, ferromqtt results)
    ("QoS 0 publish: delivered msg/s", "qos0_publish", "delivered_per_s", ">= 10x", 10.0),
    ("QoS 0 publish: publish() calls/s", "qos0_publish", "calls_per_s", "", None),
    ("QoS 1 publish: completed msg/s", "qos1_publish", "completed_per_s", ">= 5x", 5.0),
    ("QoS 1 publish: client CPU us/msg", "qos1_publish", "client_cpu_us_per_msg", "", None),
    ("receive into on_message: msg/s", "receive", "received_per_s", ">= 5x", 5.0),
    ("receive: messages dropped", "receive", "dropped", "0", "none-dropped"),
    ("receive: client CPU us/msg", "receive", "client_cpu_us_per_msg", "", None),
    ("round trip p50 us", "roundtrip", "p50_us", "<= 0.75x", 0.75),
    ("round trip p99 us", "roundtrip", "p99_us", "", None),
]


def table(results: dict[str, dict[str, list[dict[str, Any]]]]) -> str:
    lines = [
        "| measurement | paho-mqtt | ferromqtt | ferromqtt/paho | target | met |",
        "|---|---:|---:|---:|---|---|",
    ]
    for label, scenario, field, target, check in ROWS:
        medians: dict[str, Optional[float]] = {}
        for client in CLIENTS:
            runs = [r for r in results.get(client, {}).get(scenario, []) if "error" not in r]
            medians[client] = median([float(r[field]) for r in runs if r.get(field) is not None])
        p, f = medians["paho"], medians["ferromqtt"]
        ratio = f / p if (p and f is not None) else None
        met = ""
        if check == "none-dropped":
            runs = results.get("ferromqtt", {}).get(scenario, [])
            if runs:
                met = "yes" if all(r.get("dropped") == 0 for r in runs) else "NO"
        elif isinstance(check, float) and ratio is not None:
            ok = ratio <= check if check < 1 else ratio >= check
            met = "yes" if ok else "NO"
        ratio_text = f"{ratio:.2f}x" if ratio is not None else "n/a"
        lines.append(f"| {label} | {fmt(p)} | {fmt(f)} | {ratio_text} | {target} | {met} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument("--broker", choices=("mosquitto", "ferromqtt"), default="mosquitto")
    parser.add_argument("--ferromqtt-runner", choices=("python", "rust"), default="python")
    parser.add_argument(
        "--max-queued",
        type=int,
        help="ferromqtt's broker: max_queued_messages per client (default 1000, beyond which "
        "it drops QoS 0 for a subscriber that falls behind)",
    )
    parser.add_argument("--messages", type=int, default=100_000, help="receive: messages sent")
    parser.add_argument("--roundtrips", type=int, default=2000)
    parser.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"))
    parser.add_argument("--loadgen", help="a built loadgen executable (default: cargo bench)")
    parser.add_argument("--json", help="write every result to this file")
    parser.add_argument("--keep-logs", action="store_true", help="keep the brokers' logs")
    # Worker mode, used by the script itself.
    parser.add_argument("--worker", choices=CLIENTS, help=argparse.SUPPRESS)
    parser.add_argument("--scenario", choices=SCENARIOS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--topic", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    scenarios = [s for s in args.scenarios.split(",") if s]
    clients = [c for c in args.clients.split(",") if c]
    if not set(scenarios) <= set(SCENARIOS) or not set(clients) <= set(CLIENTS):
        parser.error(f"scenarios are among {SCENARIOS}, clients among {CLIENTS}")
    require_release_build(args.python)
    raise_fd_limit()
    mosquitto_path = find_mosquitto()
    if args.broker == "mosquitto" and mosquitto_path is None:
        parser.error("mosquitto is not installed (Debian: apt-get install mosquitto)")
    loadgen = args.loadgen or build_loadgen()
    workdir = new_workdir()
    broker: BrokerProcess
    if args.broker == "mosquitto":
        assert mosquitto_path is not None
        broker = Mosquitto(workdir, mosquitto_path)
    else:
        if args.max_queued is None:
            broker = Ferromqtt(workdir, args.python, [], args.ferromqtt_runner)
        elif args.ferromqtt_runner != "python":
            parser.error("--max-queued needs --ferromqtt-runner python")
        else:
            broker = QueuedFerromqtt(workdir, args.python, args.max_queued)

    load_before = os.getloadavg()
    started = datetime.datetime.now(datetime.timezone.utc)
    results: dict[str, dict[str, list[dict[str, Any]]]] = {c: {} for c in clients}
    broker.start()
    try:
        runner = Runner(args, loadgen, broker.port)
        for round_number in range(args.rounds):
            order = clients if round_number % 2 == 0 else list(reversed(clients))
            print(f"round {round_number + 1}/{args.rounds}", file=sys.stderr, flush=True)
            for scenario in scenarios:
                for client in order:
                    result = runner.run(client, scenario)
                    results[client].setdefault(scenario, []).append(result)
                    print(f"  {scenario:13} {client:10} {json.dumps(result)}", file=sys.stderr)
    finally:
        broker.stop()
        remove_workdir(workdir, args.keep_logs)

    load_after = os.getloadavg()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    broker_name = mosquitto_version(mosquitto_path) if mosquitto_path else args.broker
    if args.broker == "ferromqtt":
        broker_name = "ferromqtt broker"
        if args.max_queued is not None:
            broker_name += f" (max_queued_messages {args.max_queued})"
    print(f"Client comparison, {started:%Y-%m-%d %H:%M} UTC, {args.rounds} rounds alternating")
    print(
        f"broker: {broker_name}; {os.cpu_count()} CPUs (a shared VM), load average "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after; payload {len(PAYLOAD)} B"
    )
    print()
    print(table(results))
    errors = [
        f"{c} {s}: {r['error']}"
        for c, per in results.items()
        for s, runs in per.items()
        for r in runs
        if "error" in r
    ]
    for error in errors:
        print(f"error: {error}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
