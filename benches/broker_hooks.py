"""The cost of Python broker hooks: broker throughput with and without them, same run.

Each mode runs the in-process broker (`ferromqtt.broker.Broker`) in its own Python child
process on a free loopback port, and `benches/loadgen.rs` drives it (fan-in, 8 publishers
to 1 subscriber). Modes alternate within each round; the table gives medians.

- `none`: no hooks (the figure to compare with);
- `on_message`: an `on_message` that returns the message unchanged;
- `on_message_modify`: an `on_message` that returns a new `BrokerMessage` with a copy of
  the payload;
- `authorize`: an `authorize` that allows everything (asked per PUBLISH).

    python benches/broker_hooks.py --rounds 3 --duration 5

Needs ferromqtt built into the interpreter given by --python (`maturin develop --release`).
See benches/README.md ("Broker hooks") for the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_support import (  # noqa: E402
    BrokerProcess,
    build_loadgen,
    fmt,
    median,
    new_workdir,
    raise_fd_limit,
    read_status_kb,
    remove_workdir,
    require_release_build,
    run_loadgen,
)

MODES = ["none", "on_message", "on_message_modify", "authorize"]
SCENARIOS: dict[str, list[str]] = {
    "fanin_qos0": ["--scenario", "fanin", "--qos", "0", "--publishers", "8"],
    "fanin_qos1": ["--scenario", "fanin", "--qos", "1", "--publishers", "8", "--window", "32"],
}


def serve(port: int, mode: str) -> None:
    """The child process: one broker with the mode's hooks until SIGTERM."""
    import signal
    import threading

    from ferromqtt.broker import Broker, BrokerMessage

    def passthrough(message: BrokerMessage) -> BrokerMessage:
        return message

    def modify(message: BrokerMessage) -> BrokerMessage:
        payload = bytearray(message.payload)  # a copy, as a rewrite would make
        return BrokerMessage(message.topic, payload, message.qos, message.retain)  # type: ignore[arg-type]

    hooks: dict[str, Any] = {
        "none": {},
        "on_message": {"on_message": passthrough},
        "on_message_modify": {"on_message": modify},
        "authorize": {"authorize": lambda client_id, username, action, topic: True},
    }[mode]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with Broker(port=port, sys_interval=0, **hooks):
        print(f"Opening listen socket on port {port}.", flush=True)
        stop.wait()


class HookedBroker(BrokerProcess):
    """This script in `--serve` mode, from the given interpreter."""

    def __init__(self, workdir: Path, python: str, mode: str) -> None:
        self.name = f"ferromqtt-{mode}"
        super().__init__(workdir)
        self.python = python
        self.mode = mode

    def command(self) -> list[str]:
        script = str(Path(__file__).resolve())
        return [self.python, script, "--serve", str(self.port), "--mode", self.mode]


def figure(result: dict[str, Any], field: str) -> Optional[float]:
    value = result.get(field)
    return float(value) if "error" not in result and isinstance(value, (int, float)) else None


def median_of(results: list[dict[str, Any]], field: str) -> Optional[float]:
    return median([v for v in (figure(r, field) for r in results) if v is not None])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=MODES, default="none", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--keep-logs", action="store_true")
    parser.add_argument("--json", action="store_true", help="print every run as JSON too")
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve, args.mode)
        return 0

    modes = [m for m in args.modes.split(",") if m]
    scenarios = [s for s in args.scenarios.split(",") if s]
    require_release_build(args.python)
    raise_fd_limit()
    loadgen = build_loadgen()
    workdir = new_workdir()
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        mode: {scenario: [] for scenario in scenarios} for mode in modes
    }
    try:
        for round_index in range(args.rounds):
            # Alternate the order, so drift in machine load is shared between the modes.
            order = modes if round_index % 2 == 0 else list(reversed(modes))
            for scenario in scenarios:
                for mode in order:
                    broker = HookedBroker(workdir, args.python, mode)
                    broker.start()
                    try:
                        extra = ["--duration", str(args.duration)]
                        result = run_loadgen(
                            loadgen,
                            broker.port,
                            SCENARIOS[scenario] + extra,
                            broker.pid,
                            args.duration + 120,
                        )
                        result["broker_hwm_mb"] = read_status_kb(broker.pid, "VmHWM") / 1024
                    finally:
                        broker.stop()
                    result["load_average"] = os.getloadavg()[0]
                    runs[mode][scenario].append(result)
                    delivered = fmt(figure(result, "delivered_per_s"))
                    print(
                        f"round {round_index + 1} {scenario} {mode}: {delivered} msg/s "
                        f"(load {result['load_average']:.2f})",
                        file=sys.stderr,
                    )
    finally:
        remove_workdir(workdir, args.keep_logs)

    # QoS 0 fan-in overfills the one subscriber's queue: what is dropped there is published
    # but not delivered, so the broker's CPU time per *published* message is the cost.
    print(
        "| scenario | hooks | published msg/s | delivered msg/s | delivered vs none "
        "| broker CPU us/published | load avg |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for scenario in scenarios:
        baseline = median_of(runs.get("none", {}).get(scenario, []), "delivered_per_s")
        for mode in modes:
            results = runs[mode][scenario]
            sent = median_of(results, "sent_per_s")
            rate = median_of(results, "delivered_per_s")
            cpu = median_of(results, "broker_cpu_us_per_published")
            load = median([r["load_average"] for r in results])
            ratio = f"{rate / baseline:.2f}x" if rate and baseline else "n/a"
            print(
                f"| {scenario} | {mode} | {fmt(sent)} | {fmt(rate)} | {ratio} | {fmt(cpu)} "
                f"| {fmt(load)} |"
            )
    if args.json:
        print(json.dumps(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
