"""Where the latency scenario's time goes, per message, for ferromqtt's broker and Mosquitto.

Runs the load generator's latency scenario (one publisher at 2000 msg/s, one subscriber)
against each broker in turn while `perf` records every socket and epoll system call on
the machine, then follows each message through them:

    publish   the publisher's send            -> the broker's epoll_wait returns
    read      the broker's epoll_wait returns -> its read of the PUBLISH returns
    route     that read returns               -> the broker's send to the subscriber
    deliver   the broker's send               -> the subscriber's read returns

and prints the percentiles of each part, pooled over the rounds (alternating which broker
goes first). The broker's own time is `read` + `route` (the row `broker`: Mosquitto's
`read` ends with its first read, of one byte, and its other reads fall in `route`);
`publish` and `deliver` are the kernel's and the load generator's. Tracing costs each
traced call about a microsecond, and Mosquitto makes more traced calls per message (three
reads of the PUBLISH against one), so its `broker` row carries more of that cost.

    python benches/latency_segments.py --rounds 6

Needs `perf` allowed to record system-wide tracepoints (root, or
kernel.perf_event_paranoid = -1), `mosquitto`, and ferromqtt built into --python with
`maturin develop --release`.
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import NamedTuple, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_support import (  # noqa: E402
    REPO,
    BrokerProcess,
    Ferromqtt,
    Mosquitto,
    build_loadgen,
    find_mosquitto,
    new_workdir,
    parse_result,
    quantile,
    raise_fd_limit,
    remove_workdir,
    require_release_build,
)

# x86_64 system call numbers.
SENDS = {1, 20, 44, 46}  # write, writev, sendto, sendmsg
READS = {0, 19, 45, 47}  # read, readv, recvfrom, recvmsg
WAITS = {232, 281, 441}  # epoll_wait, epoll_pwait, epoll_pwait2
PARTS = ("publish", "read", "route", "deliver")
LINE = re.compile(
    r"^\s*(?P<comm>\S.*?)\s+(?P<pid>\d+)/(?P<tid>\d+)\s+(?P<time>[\d.]+):\s+"
    r"raw_syscalls:sys_(?P<kind>enter|exit):\s+NR (?P<nr>\d+)(?: \(.*\)| = (?P<ret>-?\d+))"
)


class Call(NamedTuple):
    time: float
    pid: int
    tid: int
    exit: bool
    nr: int
    ret: int


def perf_command(output: Path) -> list[str]:
    calls = " || ".join(f"id == {nr}" for nr in sorted(SENDS | READS | WAITS))
    events: list[str] = []
    for event in ("raw_syscalls:sys_enter", "raw_syscalls:sys_exit"):
        # --exclude-perf applies to the event before it: without it on each, perf would
        # record its own writes of what it records.
        events += ["-e", event, "--filter", calls, "--exclude-perf"]
    return ["perf", "record", "-q", "-a", "-o", str(output), *events]


def read_calls(data: Path, pids: set[int]) -> list[Call]:
    script = subprocess.run(
        ["perf", "script", "-i", str(data), "-F", "comm,pid,tid,time,event,trace"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    calls = []
    for line in script.stdout.splitlines():
        m = LINE.match(line)
        if m is None or int(m["pid"]) not in pids:
            continue
        calls.append(
            Call(
                float(m["time"]),
                int(m["pid"]),
                int(m["tid"]),
                m["kind"] == "exit",
                int(m["nr"]),
                int(m["ret"] or 0),
            )
        )
    calls.sort()
    return calls


def follow_messages(calls: list[Call], broker: int, loadgen: int) -> list[list[float]]:
    """The four parts (seconds) of each message, in publish order. The publisher is the
    load generator's thread that sends; a message whose calls do not come in the expected
    order (two messages overtaking in the broker) is left out."""
    senders = Counter(c.tid for c in calls if c.pid == loadgen and not c.exit and c.nr in SENDS)
    if not senders:
        return []
    publisher = senders.most_common(1)[0][0]
    steps = [
        lambda c: c.pid == broker and c.exit and c.nr in WAITS and c.ret > 0,
        lambda c: c.pid == broker and c.exit and c.nr in READS and c.ret > 0,
        lambda c: c.pid == broker and not c.exit and c.nr in SENDS,
        lambda c: c.pid == loadgen and c.exit and c.nr in READS and c.ret > 0,
    ]
    messages = []
    times: list[float] = []
    for c in calls:
        if c.pid == loadgen and c.tid == publisher and not c.exit and c.nr in SENDS:
            times = [c.time]
        elif times and steps[len(times) - 1](c):
            times.append(c.time)
            if len(times) == 5:
                messages.append([b - a for a, b in zip(times, times[1:])])
                times = []
    return messages


def measure(
    loadgen: str, broker: BrokerProcess, duration: float, data: Path
) -> tuple[list[list[float]], dict[str, object]]:
    perf = subprocess.Popen(perf_command(data), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        run = subprocess.Popen(
            [loadgen, "--port", str(broker.port), "--scenario", "latency", "--qos", "0",
             "--rate", "2000", "--duration", str(duration), "--broker-pid", str(broker.pid)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        out, err = run.communicate(timeout=duration + 120)
    finally:
        perf.send_signal(signal.SIGINT)
        _, perf_err = perf.communicate(timeout=60)
    if perf.returncode not in (0, -signal.SIGINT):
        raise SystemExit(f"perf record failed: {perf_err.decode(errors='replace').strip()}")
    result = parse_result(out, err)
    messages = follow_messages(read_calls(data, {broker.pid, run.pid}), broker.pid, run.pid)
    # The warm-up's messages are in the trace too.
    return messages[len(messages) // 5 :], result


def percentile(values: list[float], q: float) -> Optional[float]:
    """In microseconds; None when nothing was followed."""
    return quantile(values, q) * 1e6 if values else None


def report(name: str, messages: list[list[float]]) -> None:
    print(f"\n{name}: {len(messages)} messages")
    print(f"  {'part':8} {'p50 us':>8} {'p90 us':>8} {'p99 us':>8}")
    rows = [(part, [m[index] for m in messages]) for index, part in enumerate(PARTS)]
    rows.append(("broker", [m[1] + m[2] for m in messages]))
    rows.append(("total", [sum(m) for m in messages]))
    for part, values in rows:
        cells = "".join(
            f" {v:8.1f}" if v is not None else f" {'n/a':>8}"
            for v in (percentile(values, q) for q in (0.5, 0.9, 0.99))
        )
        print(f"  {part:8}{cells}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per window")
    parser.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"))
    parser.add_argument("--loadgen", help="a built loadgen executable (default: cargo bench)")
    args = parser.parse_args()
    if shutil.which("perf") is None:
        parser.error("perf is not installed (Debian: apt-get install linux-perf)")
    mosquitto = find_mosquitto()
    if mosquitto is None:
        parser.error("mosquitto is not installed (Debian: apt-get install mosquitto)")
    require_release_build(args.python)
    raise_fd_limit()
    loadgen = args.loadgen or build_loadgen()
    workdir = new_workdir()
    brokers: dict[str, BrokerProcess] = {
        "Mosquitto": Mosquitto(workdir, mosquitto),
        "ferromqtt": Ferromqtt(workdir, args.python, [], "python"),
    }
    pooled: dict[str, list[list[float]]] = {name: [] for name in brokers}
    try:
        for broker in brokers.values():
            broker.start()
        with tempfile.TemporaryDirectory() as scratch:
            for round_number in range(args.rounds):
                names = list(brokers) if round_number % 2 == 0 else list(brokers)[::-1]
                for name in names:
                    data = Path(scratch) / "perf.data"
                    messages, result = measure(loadgen, brokers[name], args.duration, data)
                    pooled[name] += messages
                    total = percentile([sum(m) for m in messages], 0.99)
                    print(
                        f"round {round_number + 1} {name:9} followed {len(messages)}, "
                        f"p99 {total or 0:.0f} us traced, {result.get('p99_us')} us "
                        "by the load generator",
                        file=sys.stderr,
                        flush=True,
                    )
    finally:
        for broker in brokers.values():
            broker.stop()
        remove_workdir(workdir, keep=False)
    for name, messages in pooled.items():
        report(name, messages)
    return 0


if __name__ == "__main__":
    sys.exit(main())
