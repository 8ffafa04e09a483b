"""Threads on one array: disjoint writers, readers beside a writer, and close() racing calls.

Native calls release the GIL, so these threads really run inside the library at the same time.
Each test runs for a bounded time (about 2 s at most).
"""

from __future__ import annotations

import pathlib
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

import zarrs_cffi

N_THREADS = 8
CHUNK = (16, 16)
GRID = (8, 8)  # 64 chunks: thread t owns the chunks whose linear index % 8 == t
SHAPE = (CHUNK[0] * GRID[0], CHUNK[1] * GRID[1])


def _chunk_region(index: int) -> tuple[slice, slice]:
    i, j = divmod(index, GRID[1])
    return slice(i * CHUNK[0], (i + 1) * CHUNK[0]), slice(j * CHUNK[1], (j + 1) * CHUNK[1])


def _pattern(index: int, generation: int) -> np.ndarray:
    """Distinct contents per chunk and generation (never all fill, so the chunk is stored)."""
    base = np.arange(CHUNK[0] * CHUNK[1], dtype="uint32").reshape(CHUNK)
    return base + np.uint32(index * 1_000_000 + generation * 1_000 + 1)


def _run_threads(targets: list[Callable[[], None]], timeout: float = 20) -> None:
    errors: list[BaseException] = []

    def wrap(fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        return run

    threads = [threading.Thread(target=wrap(fn), daemon=True) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if errors:
        raise errors[0]


@pytest.fixture
def shared(tmp_path: pathlib.Path) -> str:
    path = str(tmp_path / "shared.zarr")
    with zarrs_cffi.create_array(path, shape=SHAPE, dtype="uint32", chunks=CHUNK, fill_value=0) as arr:
        for index in range(GRID[0] * GRID[1]):
            arr[_chunk_region(index)] = _pattern(index, 0)
    return path


def test_disjoint_chunk_writers_and_readers(shared: str) -> None:
    """8 threads each rewrite and re-read their own chunks of one handle for ~2 s."""
    arr = zarrs_cffi.open_array(shared)
    deadline = time.monotonic() + 2.0
    final: dict[int, int] = {}
    rounds = [0] * N_THREADS

    def worker(t: int) -> Callable[[], None]:
        mine = [i for i in range(GRID[0] * GRID[1]) if i % N_THREADS == t]

        def run() -> None:
            generation = 0
            out = np.empty(CHUNK, "uint32")
            while time.monotonic() < deadline:
                generation += 1
                for n, index in enumerate(mine):
                    data = _pattern(index, generation)
                    if (generation + n) % 2:
                        arr.write_chunk(divmod(index, GRID[1]), data)
                    else:
                        arr[_chunk_region(index)] = data
                    arr.read_into(out, _chunk_region(index))
                    np.testing.assert_array_equal(out, data)
                    np.testing.assert_array_equal(arr.read_chunk(divmod(index, GRID[1])), data)
            for index in mine:
                final[index] = generation
            rounds[t] = generation

        return run

    _run_threads([worker(t) for t in range(N_THREADS)])
    arr.close()
    assert min(rounds) >= 2, rounds
    # Every chunk, through a fresh handle: exactly the last generation its owner wrote.
    with zarrs_cffi.open_array(shared) as check:
        whole = check.read()
        for index, generation in final.items():
            np.testing.assert_array_equal(whole[_chunk_region(index)], _pattern(index, generation))
    assert len(final) == GRID[0] * GRID[1]


def test_readers_beside_a_writer_rewriting_other_chunks(shared: str) -> None:
    """Readers of the left half see it unchanged; readers of the right half (being rewritten) see
    each chunk whole: one generation's contents, never a mix (writes are atomic per chunk)."""
    arr = zarrs_cffi.open_array(shared)
    half = GRID[1] // 2
    left = [i for i in range(GRID[0] * GRID[1]) if i % GRID[1] < half]
    right = [i for i in range(GRID[0] * GRID[1]) if i % GRID[1] >= half]
    stop = threading.Event()
    reads = [0, 0]

    def writer() -> None:
        generation = 0
        try:
            while not stop.is_set():
                generation += 1
                for index in right:
                    arr.write_chunk(divmod(index, GRID[1]), _pattern(index, generation))
        finally:
            stop.set()

    def steady_reader() -> None:
        expected = arr.read((slice(None), slice(0, half * CHUNK[1])))
        while not stop.is_set():
            got = arr.read((slice(None), slice(0, half * CHUNK[1])))
            np.testing.assert_array_equal(got, expected)
            reads[0] += 1

    def changing_reader() -> None:
        other = zarrs_cffi.open_array(shared, read_only=True)  # a second handle on the same store
        try:
            while not stop.is_set():
                for source in (arr, other):
                    index = right[reads[1] % len(right)]
                    got = source.read(_chunk_region(index))
                    generation, rest = divmod(int(got[0, 0]) - index * 1_000_000 - 1, 1_000)
                    assert rest == 0, f"chunk {index} holds foreign data"
                    np.testing.assert_array_equal(got, _pattern(index, generation), f"torn chunk {index}")
                    reads[1] += 1
        finally:
            other.close()

    timer = threading.Timer(2.0, stop.set)
    timer.start()
    try:
        _run_threads([writer, steady_reader, steady_reader, changing_reader, changing_reader])
    finally:
        timer.cancel()
        arr.close()
    assert reads[0] > 0 and reads[1] > 0
    with zarrs_cffi.open_array(shared) as check:
        for index in left:
            np.testing.assert_array_equal(check[_chunk_region(index)], _pattern(index, 0))


@pytest.mark.parametrize("round_", range(3))
def test_close_while_other_threads_are_in_calls(shared: str, round_: int) -> None:
    """Calls racing close() either finish with correct data or raise ClosedError; never crash."""
    arr = zarrs_cffi.open_array(shared)
    expected = arr.read()
    started = threading.Barrier(N_THREADS + 1)
    outcomes: list[str] = []

    def worker(t: int) -> Callable[[], None]:
        def run() -> None:
            out = np.empty(SHAPE, "uint32")
            started.wait()
            done = 0
            while True:
                try:
                    if t % 4 == 0:
                        arr.read_into(out)
                        np.testing.assert_array_equal(out, expected)
                    elif t % 4 == 1:
                        index = (t + done) % (GRID[0] * GRID[1])
                        np.testing.assert_array_equal(
                            arr.read_chunk(divmod(index, GRID[1])), expected[_chunk_region(index)]
                        )
                    elif t % 4 == 2:
                        index = t  # rewrites its own chunk with the same data
                        arr.write_chunk(divmod(index, GRID[1]), expected[_chunk_region(index)])
                    else:
                        assert arr.read_encoded_chunk((t % GRID[0], 0)) is not None
                    done += 1
                except zarrs_cffi.ClosedError:
                    outcomes.append("closed")
                    break
            # Once closed, every later call raises too.
            with pytest.raises(zarrs_cffi.ClosedError):
                arr.read((0, 0))

        return run

    threads = [worker(t) for t in range(N_THREADS)]

    def closer() -> None:
        started.wait()
        time.sleep(0.05 + 0.05 * round_)
        arr.close()

    _run_threads([*threads, closer])
    assert outcomes == ["closed"] * N_THREADS
    assert arr.closed
    with pytest.raises(zarrs_cffi.ClosedError):
        arr.write_chunk((0, 0), expected[_chunk_region(0)])
    # The store is intact.
    with zarrs_cffi.open_array(shared) as check:
        np.testing.assert_array_equal(check.read(), expected)


def test_close_races_calls_on_a_c_owned_handle(shared: str) -> None:
    """An unowned wrapper closed while threads are in calls: after close() returns no call is in
    flight, so the C owner may destroy the handle at once."""
    from .conftest import CSide

    cside = CSide()
    address = cside.open_array(shared)
    arr = zarrs_cffi.Array.from_handle(address)
    expected = arr.read()
    started = threading.Barrier(5)
    ended: list[str] = []

    def reader() -> None:
        out = np.empty(SHAPE, "uint32")
        started.wait()
        while True:
            try:
                arr.read_into(out)
            except zarrs_cffi.ClosedError:
                ended.append("closed")
                return
            np.testing.assert_array_equal(out, expected)

    def closer() -> None:
        started.wait()
        time.sleep(0.1)
        arr.close()
        cside.destroy_array(address)  # safe at once: Python no longer touches it

    _run_threads([reader, reader, reader, reader, closer])
    assert ended == ["closed"] * 4


def test_a_call_refused_after_close_does_not_hide_another_threads_call_in_flight() -> None:
    """A call refused because the handle is closed undid its count of calls in flight twice, the
    second time taking off another thread's: close() of a C-owned handle then returned while that
    thread was still in its call, and the owner destroyed the handle under it (seen once on PyPy as
    InternalPanicError "entered unreachable code" in test_close_races_calls_on_a_c_owned_handle)."""
    from zarrs_cffi.array import _ForeignHandle

    handle = _ForeignHandle(object(), "array")
    in_call, call_done = threading.Event(), threading.Event()

    def caller() -> None:  # a call in flight on another thread
        handle.acquire()
        in_call.set()
        call_done.wait()
        handle.release()

    calling = threading.Thread(target=caller)
    calling.start()
    in_call.wait()
    closing = threading.Thread(target=handle.close)  # waits for the call in flight
    closing.start()
    while not handle.closed:
        time.sleep(0.001)
    with pytest.raises(zarrs_cffi.ClosedError):
        handle.acquire()  # refused: must not count off the caller's call
    closing.join(0.5)
    still_waiting = closing.is_alive()
    call_done.set()
    calling.join()
    closing.join()
    assert still_waiting, "close() returned while another thread was in a call"
