"""Memory stays flat over many cycles: open/read/close, reads on one handle, error paths, raw
chunk bytes. Measured in a fresh subprocess (no pytest noise) with RSS (/proc/self/statm) and the
C heap's bytes in use (glibc mallinfo2: the native library allocates through malloc), after a
warm-up. The C example under valgrind is in test_embedding.py.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys
from typing import Any

import pytest

from .conftest import run_python

pytestmark = [
    pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc"),
    # PyPy frees cffi and numpy memory when its GC runs, not per object: the bounds below are
    # calibrated for CPython's reference counting (on PyPy 7.3.11 the heap after gc.collect() stays
    # within ~1 byte per read after warm-up, checked by hand; the JIT grows RSS by itself).
    pytest.mark.skipif(sys.implementation.name != "cpython", reason="memory bounds calibrated for CPython"),
]

MEASURE = r"""
import ctypes, json, os, pathlib, sys
import numpy as np
import zarrs_cffi

root = pathlib.Path(sys.argv[1])
PAGE = os.sysconf("SC_PAGE_SIZE")


class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]


libc = ctypes.CDLL(None)
heap = None
if hasattr(libc, "mallinfo2"):
    libc.mallinfo2.restype = MallInfo2
    heap = lambda: libc.mallinfo2().uordblks + libc.mallinfo2().hblkhd


def rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE


def measure(name, cycles, warmup, body):
    for _ in range(warmup):
        body()
    rss0 = rss()
    marks = [heap() if heap else 0]
    sizes = [cycles // 3, cycles // 3, cycles - 2 * (cycles // 3)]
    for size in sizes:
        for _ in range(size):
            body()
        marks.append(heap() if heap else 0)
    thirds = [(b - a) / size for a, b, size in zip(marks, marks[1:], sizes)]
    print(json.dumps({"phase": name, "cycles": cycles, "rss_growth": rss() - rss0,
                      "heap_growth": (marks[-1] - marks[0]) if heap else None,
                      "heap_thirds": thirds if heap else None}), flush=True)


path = str(root / "a.zarr")
with zarrs_cffi.create_array(path, shape=(64, 64), dtype="float32", chunks=(16, 16)) as a:
    a[...] = np.arange(64 * 64, dtype="float32").reshape(64, 64)
bad = str(root / "bad.zarr")
with zarrs_cffi.create_array(bad, shape=(16, 16), dtype="int32", chunks=(8, 8)) as b:
    b[...] = 1
(root / "bad.zarr" / "c" / "0" / "0").write_bytes(b"garbage")
out = np.empty((16, 16), "float32")


def open_read_close():
    with zarrs_cffi.open_array(path) as arr:
        arr.read_into(out, (slice(8, 24), slice(8, 24)))


measure("open/read/close", 10_000, 500, open_read_close)

held = zarrs_cffi.open_array(path)
small = np.empty((4, 4), "float32")
measure("read on one handle", 10_000, 500, lambda: held.read_into(small, (slice(3, 7), slice(30, 34))))
measure("read_encoded_chunk", 3_000, 200, lambda: held.read_encoded_chunk((1, 2)))
measure("write_chunk", 2_000, 100, lambda: held.write_chunk((3, 3), np.full((16, 16), 2.5, "float32")))

broken = zarrs_cffi.open_array(bad)


def failing_read():
    try:
        broken.read((slice(0, 4), slice(0, 4)))
    except zarrs_cffi.CodecError:
        pass


def failing_open():
    try:
        zarrs_cffi.open_array(root / "missing.zarr")
    except zarrs_cffi.NodeNotFoundError:
        pass


measure("failing read", 3_000, 200, failing_read)
measure("failing open", 3_000, 200, failing_open)
measure("functional read (cached handle)", 5_000, 200, lambda: zarrs_cffi.read_into(small, path, (slice(0, 4), slice(0, 4))))
"""


@pytest.fixture(scope="module")
def phases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    root = tmp_path_factory.mktemp("leaks")
    proc = run_python(MEASURE, str(root), timeout=180)
    assert proc.returncode == 0, f"measurement died ({proc.returncode}): {proc.stderr[-2000:]}"
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return {r["phase"]: r for r in results}


MiB = 2**20


def steady_heap_growth(result: dict[str, Any]) -> float:
    """Heap bytes per cycle over the quietest third of the run. A leak grows the heap in every
    third; a pool thread's one-time state (a zstd context, a reused buffer: up to ~100 KiB) set up
    the first time that thread serves the call, which may be after the warm-up, grows one."""
    return min(result["heap_thirds"])


def test_open_read_close_10000_times_rss_flat(phases: dict[str, dict[str, Any]]) -> None:
    result = phases["open/read/close"]
    assert result["cycles"] == 10_000
    assert result["rss_growth"] < 20 * MiB, result


@pytest.mark.parametrize(
    "phase",
    [
        "read on one handle",
        "read_encoded_chunk",
        "write_chunk",
        "failing read",
        "functional read (cached handle)",
    ],
)
def test_repeated_calls_keep_memory_flat(phases: dict[str, dict[str, Any]], phase: str) -> None:
    result = phases[phase]
    assert result["rss_growth"] < 4 * MiB, result
    if result["heap_growth"] is not None:
        # Allocator noise is a few KiB; a per-call leak of even 16 bytes would show as 10+ KiB.
        assert steady_heap_growth(result) < 8, result


@pytest.mark.parametrize("phase", ["open/read/close", "failing open"])
def test_open_close_native_heap_flat(phases: dict[str, dict[str, Any]], phase: str) -> None:
    result = phases[phase]
    if result["heap_growth"] is None:
        pytest.skip("no mallinfo2 (not glibc)")
    assert result["rss_growth"] < 20 * MiB, result
    assert steady_heap_growth(result) < 8, result


def test_measurement_sees_a_real_leak(tmp_path: pathlib.Path) -> None:
    """The heap probe is sensitive: 100 bytes leaked per cycle shows up."""
    code = MEASURE.split("path = str(root")[0] + (
        "keep = []\n"
        "libc.malloc.restype = ctypes.c_void_p\n"
        "measure('leak', 2000, 10, lambda: keep.append(libc.malloc(100)))\n"
    )
    proc = run_python(code, str(tmp_path), timeout=60)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["heap_growth"] / result["cycles"] >= 100, result
    assert steady_heap_growth(result) >= 100, result
