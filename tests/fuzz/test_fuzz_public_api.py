"""A bounded run of the atheris fuzz target (``make fuzz`` runs it for 200,000 inputs), and a
replay of the seed corpus in strict mode. Skipped when atheris is not installed."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
TARGET = HERE / "fuzz_public_api.py"
CORPUS = HERE / "corpus"

pytest.importorskip("atheris", reason="atheris is not installed (pip install atheris)")


def _fuzz(args: list[str], cwd: pathlib.Path, timeout: float, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TARGET), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, "RUST_BACKTRACE": "0", **env},
    )


def _assert_clean(proc: subprocess.CompletedProcess[str]) -> None:
    tail = proc.stderr[-6000:]
    assert proc.returncode == 0, f"fuzz target failed ({proc.returncode}):\n{tail}"
    for marker in ("ERROR: libFuzzer", "Uncaught Python exception", "deadly signal"):
        assert marker not in proc.stderr, tail


def test_bounded_fuzz_run(tmp_path: pathlib.Path) -> None:
    """2,000 inputs (seeded from the corpus, new units go to a scratch directory), capped in time."""
    scratch = tmp_path / "new-units"
    scratch.mkdir()
    proc = _fuzz(
        [
            str(scratch),
            str(CORPUS),
            "-runs=2000",
            "-seed=1",
            "-max_len=4096",
            "-len_control=0",
            "-max_total_time=45",
            "-rss_limit_mb=2048",
            f"-artifact_prefix={tmp_path}/",
        ],
        cwd=tmp_path,
        timeout=120,
    )
    _assert_clean(proc)
    assert "Done 2000 runs" in proc.stderr or "DONE" in proc.stderr, proc.stderr[-2000:]
    assert not list(tmp_path.glob("crash-*")) and not list(tmp_path.glob("oom-*"))


def test_corpus_replays_cleanly_in_strict_mode(tmp_path: pathlib.Path) -> None:
    """Every corpus input (seeds and former findings) passes with untyped builtins and caught
    panics counted as findings."""
    inputs = sorted(str(p) for p in CORPUS.iterdir())
    assert inputs
    proc = _fuzz(inputs, tmp_path, 120, ZARRS_FUZZ_STRICT="1", ZARRS_FUZZ_PANIC_IS_FINDING="1")
    _assert_clean(proc)
    assert proc.stderr.count("Executed ") == len(inputs), proc.stderr[-2000:]
