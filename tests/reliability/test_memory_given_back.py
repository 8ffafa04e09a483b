"""Per-thread decode and encode buffers are given back after a call: handling chunks far larger
than the buffers' cap (4 MiB each) leaves no lasting memory behind once everything is closed."""

from __future__ import annotations

import pathlib
import platform
import subprocess
import sys

import pytest

SCRIPT = r"""
import gc, sys
import numpy as np
import zarrs_cffi

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096

path = sys.argv[1]
zarrs_cffi.set_num_threads(2)

zarrs_cffi.create_array(path + "/warm", shape=(8,), dtype="float64", chunks=(4,))
zarrs_cffi.write(path + "/warm", (), np.arange(8.0))
zarrs_cffi.read(path + "/warm")
zarrs_cffi.clear_cache()
gc.collect()
start = rss()

a = path + "/big"
zarrs_cffi.create_array(a, shape=(8192, 8192), dtype="float64", chunks=(4096, 4096))
data = np.random.default_rng(0).random((8192, 8192))
with zarrs_cffi.open_array(a) as arr:
    arr[...] = data
    part = arr[1000:5000, 3000:7000]
    assert np.array_equal(part, data[1000:5000, 3000:7000])
    whole = arr[...]
    assert np.array_equal(whole, data)
del data, part, whole
gc.collect()
print(rss() - start)
"""


@pytest.mark.skipif(
    platform.python_implementation() != "CPython",
    reason="measures process memory after gc, which PyPy's collector does not give back at once",
)
def test_large_chunks_leave_no_memory_behind(tmp_path: pathlib.Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    grown = int(result.stdout.split()[-1])
    # Each thread (caller + pool) keeps at most a few buffers of 4 MiB; 128 MiB chunks kept
    # whole would leave hundreds of MiB.
    assert grown < 64 * 2**20, f"RSS stayed {grown / 2**20:.0f} MiB above the start"
