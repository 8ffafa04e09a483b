"""Forking while another thread reads: every child's reads finish (no lock of the library, native
or Python, is inherited locked from a thread that does not exist in the child)."""

from __future__ import annotations

import os
import pathlib
import signal
import threading
import time

import numpy as np
import pytest

import zarrs_cffi

FORKS = 2000


def _wait(pid: int, seconds: float) -> int | None:
    """The child's exit status, or None if it is still running after ``seconds`` (then killed)."""
    deadline = time.monotonic() + seconds
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None
        time.sleep(0.0002)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork")
def test_children_forked_while_a_thread_reads_never_hang(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "a.zarr")
    data = np.arange(64 * 64, dtype="uint16").reshape(64, 64)
    zarrs_cffi.create_array(path, shape=data.shape, dtype="uint16", chunks=(8, 8), shards=(32, 32))
    plain = str(tmp_path / "b.zarr")
    zarrs_cffi.create_array(plain, shape=data.shape, dtype="uint16", chunks=(16, 16), compressors=None)
    for target in (path, plain):
        zarrs_cffi.write(target, (), data)
    arr = zarrs_cffi.open_array(path, chunk_cache_bytes=1 << 20)
    stop = threading.Event()

    def read_in_a_loop() -> None:
        rng = np.random.default_rng(0)
        while not stop.is_set():
            r, c = rng.integers(0, 48, size=2)
            arr.read((slice(r, r + 16), slice(c, c + 16)))
            zarrs_cffi.read(plain, (slice(c, c + 16), slice(r, r + 16)))
            zarrs_cffi.open_array(path).close()  # creates and drops a store

    reader = threading.Thread(target=read_in_a_loop)
    reader.start()
    hung, failed = 0, []
    try:
        for k in range(FORKS):
            pid = os.fork()
            if pid == 0:  # the child: read through every path the parent's thread uses
                try:
                    ok = np.array_equal(arr[5:40, 7:50], data[5:40, 7:50])
                    ok &= np.array_equal(zarrs_cffi.read(plain, (slice(0, 64), 3)), data[:, 3])
                    with zarrs_cffi.open_array(path) as again:
                        ok &= np.array_equal(again[...], data)
                    os._exit(0 if ok else 3)
                except BaseException:
                    os._exit(4)
            status = _wait(pid, 30)
            if status is None:
                hung += 1
            elif status != 0:
                failed.append((k, status))
            if hung or len(failed) > 3:
                break
    finally:
        stop.set()
        reader.join()
        arr.close()
    assert hung == 0, f"{hung} forked child(ren) hung"
    assert not failed, f"children that read wrong data or failed (fork, exit code): {failed}"
