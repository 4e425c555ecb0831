"""The benchmarks' guard against measuring a debug build of the extension."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import ferromqtt._core as core

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benches"))

import bench_support  # noqa: E402


def test_extension_reports_how_it_was_compiled() -> None:
    assert core.build_profile in ("debug", "release")
    # Asked of another interpreter (here the same one), the answer is the same.
    assert bench_support.extension_build_profile(sys.executable) == core.build_profile


def test_benchmarks_refuse_a_debug_build(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_support, "extension_build_profile", lambda python: "debug")
    with pytest.raises(SystemExit, match=r"debug build; run `maturin develop --release`"):
        bench_support.require_release_build("/opt/some/python")
    monkeypatch.setattr(bench_support, "extension_build_profile", lambda python: "release")
    bench_support.require_release_build("/opt/some/python")


def test_an_interpreter_that_cannot_answer_is_named(tmp_path: Path) -> None:
    without = tmp_path / "python-without-ferromqtt"
    without.write_text("#!/bin/sh\necho \"No module named 'ferromqtt'\" >&2\nexit 1\n")
    without.chmod(0o755)
    with pytest.raises(SystemExit, match="cannot import ferromqtt:\n.*No module named"):
        bench_support.extension_build_profile(str(without))
    missing = tmp_path / "no-such-python"
    with pytest.raises(SystemExit, match=f"cannot run {missing}"):
        bench_support.extension_build_profile(str(missing))
