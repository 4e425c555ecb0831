"""ferromqtt's broker against Mosquitto, same load generator, same run.

Starts Mosquitto (default settings but the listener and `max_connections -1`) and
`python -m ferromqtt broker` on two free loopback ports, runs every scenario of
`benches/loadgen.rs` against each, alternating which broker goes first, over several rounds,
and prints the medians, the ratio ferromqtt/Mosquitto and whether each target of the broker
issue is met. Idle-connection memory and the fan-in QoS 1 peak memory are measured on
brokers started for them.

    python benches/compare_brokers.py --rounds 3

Needs `mosquitto` on PATH (or /usr/sbin) and ferromqtt built into the interpreter given by
--python (`maturin develop --release`). See benches/README.md for the figures.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import sys
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
    idle_memory,
    median,
    mosquitto_version,
    new_workdir,
    quantile,
    raise_fd_limit,
    read_status_kb,
    remove_workdir,
    require_release_build,
    run_loadgen,
)

# name -> load generator arguments (the port, duration and broker PID are added per run).
SCENARIOS: dict[str, list[str]] = {
    "fanin_qos0": ["--scenario", "fanin", "--qos", "0", "--publishers", "8"],
    "fanin_qos1": ["--scenario", "fanin", "--qos", "1", "--publishers", "8", "--window", "32"],
    "fanout_qos0": ["--scenario", "fanout", "--qos", "0", "--subscribers", "100"],
    "pairs_qos1": ["--scenario", "pairs", "--qos", "1", "--pairs", "50", "--window", "32"],
    "latency_qos0": ["--scenario", "latency", "--qos", "0", "--rate", "2000"],
}
ALL = [*SCENARIOS, "idle"]
# Scenarios whose peak memory is reported run on a broker started for them, so its
# high-water mark is theirs, not that of whatever scenario ran before.
OWN_BROKER = {"fanin_qos1"}


# One row of the table: label, scenario, how to read the figure from a result, the target as
# text, and a check on (ferromqtt median, Mosquitto median, ferromqtt results).
Check = Callable[[float, float, list[dict[str, Any]]], bool]


def row(
    label: str, scenario: str, field: str, target: str, check: Optional[Check]
) -> dict[str, Any]:
    return {"label": label, "scenario": scenario, "field": field, "target": target, "check": check}


def all_complete(results: list[dict[str, Any]]) -> bool:
    return bool(results) and all(r.get("complete") is True for r in results)


ROWS = [
    row(
        "fan-in QoS 0, 8 -> 1: delivered msg/s",
        "fanin_qos0",
        "delivered_per_s",
        ">= 1.5x",
        lambda f, m, _: f >= 1.5 * m,
    ),
    row(
        "fan-in QoS 0: broker CPU us/msg",
        "fanin_qos0",
        "broker_cpu_us_per_msg",
        "< 1x",
        lambda f, m, _: f < m,
    ),
    row(
        "fan-in QoS 1, 8 -> 1: delivered msg/s",
        "fanin_qos1",
        "delivered_per_s",
        "> 1x, all",
        lambda f, m, rs: f > m and all_complete(rs),
    ),
    row(
        "fan-in QoS 1: share of acked msgs delivered",
        "fanin_qos1",
        "delivered_share",
        "1.0",
        lambda f, m, rs: all_complete(rs),
    ),
    row("fan-in QoS 1: broker peak RSS MB", "fanin_qos1", "broker_hwm_mb", "bounded", None),
    row(
        "fan-in QoS 1: broker RSS growth MB (peak - at start)",
        "fanin_qos1",
        "broker_growth_mb",
        "bounded",
        None,
    ),
    row(
        "fan-out QoS 0, 1 -> 100: delivered msg/s",
        "fanout_qos0",
        "delivered_per_s",
        ">= 1.5x",
        lambda f, m, _: f >= 1.5 * m,
    ),
    row(
        "fan-out QoS 0: broker CPU us/msg",
        "fanout_qos0",
        "broker_cpu_us_per_msg",
        "< 1x",
        lambda f, m, _: f < m,
    ),
    row(
        "50 QoS 1 pairs: delivered msg/s",
        "pairs_qos1",
        "delivered_per_s",
        ">= 1.5x",
        lambda f, m, _: f >= 1.5 * m,
    ),
    row(
        "50 QoS 1 pairs: broker CPU us/msg",
        "pairs_qos1",
        "broker_cpu_us_per_msg",
        "< 1x",
        lambda f, m, _: f < m,
    ),
    row("latency at 2000 msg/s: p50 us", "latency_qos0", "p50_us", "", None),
    row(
        "latency at 2000 msg/s: p99 us",
        "latency_qos0",
        "p99_us",
        "<= 1x",
        lambda f, m, _: f <= m,
    ),
    row(
        "latency at 2000 msg/s: p999 us",
        "latency_qos0",
        "p999_us",
        "< 5000 us",
        lambda f, m, _: f < 5000,
    ),
    row(
        "idle connections: bytes each (RSS)",
        "idle",
        "bytes_per_connection",
        "<= 2x",
        lambda f, m, _: f <= 2 * m,
    ),
    row("idle connections: seconds to connect all", "idle", "connect_s", "", None),
]


def figure(result: dict[str, Any], field: str) -> Optional[float]:
    if "error" in result:
        return None
    if field == "delivered_share":
        acked = result.get("total_acked") or 0
        return (result.get("unique_received", 0) / acked) if acked else None
    value = result.get(field)
    return float(value) if isinstance(value, (int, float)) else None


def paired_ratios(
    results: dict[str, dict[str, list[dict[str, Any]]]], scenario: str, field: str
) -> list[float]:
    """ferromqtt/Mosquitto for windows run next to each other (the n-th of each broker):
    both windows of a pair saw the machine in much the same state."""
    ferro = results.get("ferromqtt", {}).get(scenario, [])
    mosq = results.get("mosquitto", {}).get(scenario, [])
    ratios = []
    for f_run, m_run in zip(ferro, mosq):
        f, m = figure(f_run, field), figure(m_run, field)
        if f is not None and m:
            ratios.append(f / m)
    return ratios


def sign_test(lower: int, pairs: int) -> str:
    """How likely so uneven a split of `pairs` paired windows is if neither broker were
    faster (each window a coin toss): the two-sided exact binomial probability."""
    tail = min(lower, pairs - lower)
    p = min(1.0, 2 * sum(math.comb(pairs, k) for k in range(tail + 1)) / 2**pairs)
    return f"sign test p = {p:.3f}"


def table(results: dict[str, dict[str, list[dict[str, Any]]]], brokers: list[str]) -> str:
    both = "mosquitto" in brokers and "ferromqtt" in brokers
    lines = [
        "| scenario | Mosquitto | ferromqtt | ferromqtt/Mosquitto | target | met |",
        "|---|---:|---:|---:|---|---|",
    ]
    for r in ROWS:
        per_broker: dict[str, Optional[float]] = {}
        for broker in ("mosquitto", "ferromqtt"):
            runs = results.get(broker, {}).get(r["scenario"], [])
            values = [v for v in (figure(x, r["field"]) for x in runs) if v is not None]
            per_broker[broker] = median(values)
        m, f = per_broker["mosquitto"], per_broker["ferromqtt"]
        ratio = f / m if (both and m and f is not None) else None
        met = ""
        if r["check"] is not None and f is not None and (m is not None or not both):
            runs = results.get("ferromqtt", {}).get(r["scenario"], [])
            met = "yes" if r["check"](f, m if m is not None else 0.0, runs) else "NO"
        ratio_text = f"{ratio:.2f}x" if ratio is not None else "n/a"
        lines.append(
            f"| {r['label']} | {fmt(m)} | {fmt(f)} | {ratio_text} | {r['target']} | {met} |"
        )
    return "\n".join(lines)


def run_scenario(
    loadgen: str, broker: BrokerProcess, name: str, args: argparse.Namespace
) -> dict[str, Any]:
    duration = args.latency_duration if name == "latency_qos0" else args.duration
    extra = ["--duration", str(duration)]
    timeout = duration + 120
    result = run_loadgen(loadgen, broker.port, SCENARIOS[name] + extra, broker.pid, timeout)
    result["broker_hwm_mb"] = read_status_kb(broker.pid, "VmHWM") / 1024
    result["broker_rss_mb"] = read_status_kb(broker.pid, "VmRSS") / 1024
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument(
        "--latency-windows",
        type=int,
        default=4,
        help="latency windows per broker and round (alternating pairs: a stall of the "
        "machine spoils one window, not the median)",
    )
    parser.add_argument(
        "--latency-duration", type=float, default=2.0, help="seconds per latency window"
    )
    parser.add_argument("--scenarios", default=",".join(ALL), help=f"subset of {ALL}")
    parser.add_argument("--brokers", default="mosquitto,ferromqtt")
    parser.add_argument("--connections", type=int, default=10_000, help="idle connections")
    parser.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"))
    parser.add_argument("--ferromqtt-arg", action="append", default=[], help="extra CLI argument")
    parser.add_argument(
        "--ferromqtt-runner",
        choices=("python", "rust"),
        default="python",
        help="python -m ferromqtt broker, or the same broker in a Rust process",
    )
    parser.add_argument("--loadgen", help="a built loadgen executable (default: cargo bench)")
    parser.add_argument("--json", help="write every result to this file")
    parser.add_argument("--keep-logs", action="store_true", help="keep the brokers' logs")
    args = parser.parse_args()
    scenarios = [s for s in args.scenarios.split(",") if s]
    brokers = [b for b in args.brokers.split(",") if b]
    unknown = set(scenarios) - set(ALL)
    if unknown or not set(brokers) <= {"mosquitto", "ferromqtt"}:
        parser.error(f"unknown scenarios {sorted(unknown)} or brokers {brokers}")

    if "ferromqtt" in brokers and args.ferromqtt_runner == "python":
        require_release_build(args.python)
    fd_limit = raise_fd_limit()
    mosquitto_path = find_mosquitto()
    if "mosquitto" in brokers and mosquitto_path is None:
        parser.error("mosquitto is not installed (Debian: apt-get install mosquitto)")
    loadgen = args.loadgen or build_loadgen()
    workdir = new_workdir()

    def make(name: str) -> BrokerProcess:
        if name == "mosquitto":
            assert mosquitto_path is not None
            return Mosquitto(workdir, mosquitto_path)
        return Ferromqtt(workdir, args.python, args.ferromqtt_arg, args.ferromqtt_runner)

    load_before = os.getloadavg()
    started = datetime.datetime.now(datetime.timezone.utc)
    results: dict[str, dict[str, list[dict[str, Any]]]] = {b: {} for b in brokers}
    running: dict[str, BrokerProcess] = {}

    def record(broker: str, scenario: str, result: dict[str, Any]) -> None:
        results[broker].setdefault(scenario, []).append(result)
        summary = {k: result.get(k) for k in ("delivered_per_s", "p99_us", "error") if k in result}
        print(f"  {scenario:13} {broker:10} {json.dumps(summary)}", file=sys.stderr, flush=True)

    try:
        traffic = [s for s in scenarios if s in SCENARIOS]
        if set(traffic) - OWN_BROKER:
            for name in brokers:
                running[name] = make(name)
                running[name].start()
        for round_number in range(args.rounds):
            order = brokers if round_number % 2 == 0 else list(reversed(brokers))
            print(f"round {round_number + 1}/{args.rounds}", file=sys.stderr, flush=True)
            for scenario in traffic:
                repeats = args.latency_windows if scenario == "latency_qos0" else 1
                for repeat in range(repeats):
                    pair = order if repeat % 2 == 0 else list(reversed(order))
                    for name in pair:
                        if scenario in OWN_BROKER:
                            own = make(name)
                            own.start()
                            try:
                                at_start = read_status_kb(own.pid, "VmRSS") / 1024
                                result = run_scenario(loadgen, own, scenario, args)
                            finally:
                                own.stop()
                            result["broker_growth_mb"] = result["broker_hwm_mb"] - at_start
                        else:
                            result = run_scenario(loadgen, running[name], scenario, args)
                        record(name, scenario, result)
            if "idle" in scenarios:
                for name in order:
                    fresh = make(name)
                    fresh.start()
                    try:
                        timeout = 180.0
                        result = idle_memory(loadgen, fresh, args.connections, 3.0, timeout)
                    finally:
                        fresh.stop()
                    record(name, "idle", result)
    finally:
        for broker in running.values():
            broker.stop()
        remove_workdir(workdir, args.keep_logs)

    load_after = os.getloadavg()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    print(f"Broker comparison, {started:%Y-%m-%d %H:%M} UTC, {args.rounds} rounds alternating")
    print(f"ferromqtt broker run by: {args.ferromqtt_runner}")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs (a shared VM), "
        f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after; "
        f"fd limit {fd_limit}"
    )
    if mosquitto_path:
        print(
            f"{mosquitto_version(mosquitto_path)}; payload 64 B; {args.duration} s windows"
            f" (latency: {args.latency_windows} x {args.latency_duration} s per round)"
        )
    print()
    print(table(results, brokers))
    paired = paired_ratios(results, "latency_qos0", "p99_us")
    if paired:
        lower = sum(1 for r in paired if r < 1)
        print(
            f"\nlatency p99, windows paired in time: ferromqtt/Mosquitto median "
            f"{statistics.median(paired):.2f}x over {len(paired)} pairs (quartiles "
            f"{quantile(paired, 0.25):.2f}x-{quantile(paired, 0.75):.2f}x); ferromqtt "
            f"lower in {lower} ({sign_test(lower, len(paired))})"
        )
    errors = [
        f"{b} {s}: {r['error']}"
        for b, rs in results.items()
        for s, runs in rs.items()
        for r in runs
        if "error" in r
    ]
    for error in errors:
        print(f"error: {error}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
