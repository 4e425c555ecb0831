"""What both comparison scripts share: brokers, the load generator, figures and tables.

Each broker runs as a child process on its own free loopback port, with its output in a log
file; it counts as started once it logs its listening socket. Only processes started here are
stopped, by PID. The load generator is `benches/loadgen.rs`, built once with `cargo bench
--no-run` and then run directly so that cargo is not in the measurements.
"""

from __future__ import annotations

import functools
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

REPO = Path(__file__).resolve().parent.parent
MOSQUITTO_CANDIDATES = ("mosquitto", "/usr/sbin/mosquitto")


def raise_fd_limit() -> int:
    """Raise RLIMIT_NOFILE to the hard limit; children (brokers, loadgen) inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_mosquitto() -> Optional[str]:
    for candidate in MOSQUITTO_CANDIDATES:
        path = shutil.which(candidate)
        if path:
            return path
    return None


def mosquitto_version(path: str) -> str:
    out = subprocess.run([path, "-h"], capture_output=True, text=True, timeout=10)
    first = (out.stdout or out.stderr).splitlines()
    return first[0] if first else "mosquitto (unknown version)"


@functools.cache
def build_bench(name: str) -> str:
    """Build a harness-less bench target (release) and return the path of its executable."""
    env = dict(os.environ)
    env.setdefault("CARGO_TARGET_DIR", str(REPO / "target"))
    cmd = ["cargo", "bench", "--bench", name, "--no-run", "--message-format=json"]
    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        raise RuntimeError(f"building the {name} bench failed")
    for line in out.stdout.splitlines():
        message = json.loads(line)
        target = message.get("target", {})
        if target.get("name") == name and message.get("executable"):
            return str(message["executable"])
    raise RuntimeError(f"cargo did not report the {name} executable")


def build_loadgen() -> str:
    return build_bench("loadgen")


def extension_build_profile(python: str) -> str:
    """How the ferromqtt extension that `python` imports was compiled: "release" or "debug"."""
    code = "import ferromqtt._core as core; print(core.build_profile)"
    try:
        out = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60)
    except OSError as e:
        raise SystemExit(f"cannot run {python}: {e}") from e
    if out.returncode != 0:
        raise SystemExit(f"{python} cannot import ferromqtt:\n{out.stderr.strip()}")
    return out.stdout.strip()


def require_release_build(python: str) -> None:
    """Stop before measuring a debug build of ferromqtt (about twice the CPU per message:
    every figure would be wrong). `scripts/test.sh` leaves a debug build in `.venv`."""
    profile = extension_build_profile(python)
    if profile != "release":
        raise SystemExit(
            f"ferromqtt in {python} is a {profile} build; "
            "run `maturin develop --release` with that interpreter first"
        )


def read_status_kb(pid: int, field: str) -> int:
    """A `kB` field of /proc/PID/status, such as VmRSS or VmHWM."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


class BrokerProcess:
    """A broker child process: started on a free loopback port, stopped by PID."""

    name = "broker"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = 0
        self.process: Optional[subprocess.Popen[bytes]] = None
        self.log_path = workdir / f"{self.name}.log"

    def command(self) -> list[str]:
        raise NotImplementedError

    def is_ready(self, log: str) -> bool:
        """Whether the log shows the listening socket on our port."""
        return any(
            "listen socket" in line and (f"port {self.port}" in line or f":{self.port}" in line)
            for line in log.splitlines()
        )

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"{self.name} is not running")
        return self.process.pid

    def start(self, timeout: float = 30.0) -> None:
        self.port = free_port()
        command = self.command()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start:\n{self.log_tail()}")
            if self.is_ready(self.log_path.read_text(errors="replace")):
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"{self.name} did not log its listen socket within {timeout} s")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Mosquitto(BrokerProcess):
    """Mosquitto with its default settings but for the listener and max_connections."""

    name = "mosquitto"

    def __init__(self, workdir: Path, executable: str) -> None:
        super().__init__(workdir)
        self.executable = executable

    def command(self) -> list[str]:
        config = self.workdir / f"mosquitto-{self.port}.conf"
        config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\nmax_connections -1\n"
        )
        return [self.executable, "-c", str(config)]


class Ferromqtt(BrokerProcess):
    """ferromqtt's broker: `python -m ferromqtt broker` from the given interpreter (a
    `maturin develop --release` virtualenv), or with `runner` = "rust" the same broker in a
    plain Rust process (`benches/serve_broker.rs`)."""

    name = "ferromqtt"

    def __init__(self, workdir: Path, python: str, extra_args: list[str], runner: str) -> None:
        super().__init__(workdir)
        self.python = python
        self.extra_args = extra_args
        self.executable = build_bench("serve_broker") if runner == "rust" else None

    def command(self) -> list[str]:
        if self.executable is not None:
            return [self.executable, "--port", str(self.port), *self.extra_args]
        return [self.python, "-m", "ferromqtt", "broker", "-p", str(self.port), *self.extra_args]


def run_loadgen(
    loadgen: str, port: int, args: list[str], broker_pid: Optional[int], timeout: float
) -> dict[str, Any]:
    """Run one scenario; returns the generator's JSON line (with "error" on failure)."""
    command = [loadgen, "--port", str(port), *args]
    if broker_pid is not None:
        command += ["--broker-pid", str(broker_pid)]
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"loadgen did not finish within {timeout} s"}
    return parse_result(out.stdout, out.stderr)


def parse_result(stdout: str, stderr: str) -> dict[str, Any]:
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            result: dict[str, Any] = json.loads(line)
            return result
    return {"error": (stderr or stdout).strip()[-500:] or "loadgen printed no result"}


def idle_memory(
    loadgen: str, broker: BrokerProcess, connections: int, hold: float, timeout: float
) -> dict[str, Any]:
    """Open `connections` idle connections to a freshly started broker and read its VmRSS
    before they open and while they are held."""
    before_kb = read_status_kb(broker.pid, "VmRSS")
    command = [
        loadgen,
        "--port",
        str(broker.port),
        "--scenario",
        "idle",
        "--connections",
        str(connections),
        "--hold",
        str(hold),
        "--broker-pid",
        str(broker.pid),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        result = parse_result(line, "")
        if "error" not in result:
            after_kb = read_status_kb(broker.pid, "VmRSS")
            opened = max(int(result.get("connected", 0)), 1)
            result["rss_before_kb"] = before_kb
            result["rss_after_kb"] = after_kb
            result["bytes_per_connection"] = (after_kb - before_kb) * 1024 / opened
        process.wait(timeout=timeout)
        return result
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def new_workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="ferromqtt-bench-"))


def median(values: list[float]) -> Optional[float]:
    return statistics.median(values) if values else None


def quantile(values: list[float], q: float) -> float:
    """The value below which a share `q` of `values` falls (the nearest rank, no
    interpolation): what the load generator reports as p50/p99."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def fmt(value: Optional[float]) -> str:
    """A figure for a table: thousands separators for large values, 3 digits for small."""
    if value is None:
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def remove_workdir(workdir: Path, keep: bool) -> None:
    """Remove the brokers' configurations and logs, or say where they are."""
    if keep:
        print(f"broker logs kept in {workdir}", file=sys.stderr)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
