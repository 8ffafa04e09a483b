"""Multi-chunk reads of directly decoded arrays run on the calling thread beside pool helpers,
each thread taking its own contiguous run of chunks and then the back of the others' runs
(`pool::for_each_with_helpers`). Whatever the thread count, and whether or not the helpers are
asleep when the read starts, every chunk must be decoded exactly once into its place, and an
error in any chunk must surface as the typed error naming it."""

from __future__ import annotations

import pathlib
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from test_direct_decoding import make_array

import zarrs_cffi
from zarrs_cffi import CodecError

THREADS = [1, 2, 3, 7, 64]  # 64: more threads than chunks in some regions
LAYOUTS = ["raw", "zstd", "blosc", "sharded-zstd-end", "sharded-raw-end-crc"]
REGIONS = [
    (slice(None),) * 3,
    (slice(1, 12), slice(2, 10), slice(1, 5)),
    (slice(3, 9), slice(0, 11), slice(0, 3)),
]


@pytest.fixture(params=[0, 1 << 62], ids=["streamed", "chunkwise"])
def streaming(request: pytest.FixtureRequest) -> Iterator[None]:
    previous = zarrs_cffi.set_streaming_threshold(request.param)
    yield
    zarrs_cffi.set_streaming_threshold(previous)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("threads", THREADS)
def test_reads_match_on_any_thread_count(
    tmp_path: pathlib.Path, layout: str, threads: int, streaming: None, restore_threads: None
) -> None:
    expected = make_array(tmp_path / "a.zarr", layout)
    zarrs_cffi.set_num_threads(threads)
    with zarrs_cffi.open_array(tmp_path / "a.zarr") as arr:
        for region in REGIONS:
            out = np.full(expected[region].shape, -1, expected.dtype)
            arr.read_into(out, region=region)
            np.testing.assert_array_equal(out, expected[region])


def test_reads_after_the_pool_fell_asleep(tmp_path: pathlib.Path, restore_threads: None) -> None:
    """Helpers that wake after the caller took every chunk must not touch the finished read."""
    expected = make_array(tmp_path / "a.zarr", "zstd")
    zarrs_cffi.set_num_threads(2)
    with zarrs_cffi.open_array(tmp_path / "a.zarr") as arr:
        for pause in (0.0, 0.002, 0.05, 0.0, 0.2):
            time.sleep(pause)
            out = np.full(expected.shape, -1, expected.dtype)
            arr.read_into(out, region=(slice(None),) * 3)
            np.testing.assert_array_equal(out, expected)
            del out  # freed at once: a late helper writing into it would corrupt the next one


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("layout", ["zstd", "sharded-zstd-end"])
def test_a_corrupt_chunk_fails_the_read_on_any_thread_count(
    tmp_path: pathlib.Path, layout: str, threads: int, restore_threads: None
) -> None:
    make_array(tmp_path / "a.zarr", layout)
    (tmp_path / "a.zarr" / "c" / "0" / "1" / "0").write_bytes(b"not a chunk")
    zarrs_cffi.set_num_threads(threads)
    with zarrs_cffi.open_array(tmp_path / "a.zarr") as arr:
        for _ in range(3):
            with pytest.raises(CodecError, match="c/0/1/0"):
                arr.read()
        # The chunks around it still read.
        out = np.zeros((4, 6, 4), "int16")
        arr.read_into(out, region=(slice(0, 4), slice(0, 6), slice(0, 4)))


def run_readers(reader: Callable[[int], None], count: int = 4) -> None:
    """Run `reader(seed)` on `count` Python threads at once; re-raise the first failure here."""
    failures: list[BaseException] = []

    def guarded(seed: int) -> None:
        try:
            reader(seed)
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=guarded, args=(seed,)) for seed in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures[0]


def test_concurrent_callers_each_with_helpers(tmp_path: pathlib.Path, restore_threads: None) -> None:
    """Several Python threads reading at once, each call spreading over the shared pool."""
    expected = make_array(tmp_path / "a.zarr", "blosc")
    zarrs_cffi.set_num_threads(2)
    with zarrs_cffi.open_array(tmp_path / "a.zarr") as arr:

        def reader(seed: int) -> None:
            rng = np.random.default_rng(seed)
            for _ in range(40):
                lo = rng.integers(0, [12, 10, 4])
                hi = [int(rng.integers(a + 1, n + 1)) for a, n in zip(lo, expected.shape)]
                region = tuple(slice(int(a), b) for a, b in zip(lo, hi))
                out = np.empty(expected[region].shape, expected.dtype)
                arr.read_into(out, region=region)
                np.testing.assert_array_equal(out, expected[region])

        run_readers(reader)


@pytest.mark.parametrize(
    "value, threads, warns",
    [("3", 3, False), ("+5", 5, False), ("abc", None, True), ("0", None, True), (" 4", None, True)],
)
def test_num_threads_environment_variable(value: str, threads: int | None, warns: bool) -> None:
    """ZARRS_CFFI_NUM_THREADS sets the default thread count; a value the native library ignores
    (not a positive integer as Rust parses one) warns instead of passing silently."""
    import os
    import subprocess
    import sys

    code = "import zarrs_cffi; print(zarrs_cffi.get_num_threads())"

    def run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-W", "always", "-c", code], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done

    unset = {key: text for key, text in os.environ.items() if key != "ZARRS_CFFI_NUM_THREADS"}
    default = int(run(unset).stdout)  # one per core the process may use
    done = run({**unset, "ZARRS_CFFI_NUM_THREADS": value})
    assert int(done.stdout) == (threads if threads is not None else default), done
    assert ("ZARRS_CFFI_NUM_THREADS" in done.stderr and "RuntimeWarning" in done.stderr) == warns, done.stderr


def test_a_call_in_flight_keeps_its_helper_pool_when_the_thread_count_changes() -> None:
    """set_num_threads on another thread replaces the helper pool; a call that took the old pool
    still submits to it (it raised "cannot schedule new futures after shutdown")."""
    from zarrs_cffi import chunked_io

    pool = chunked_io._executor(2)
    assert chunked_io._executor(3) is not pool  # what a read after set_num_threads(3) does
    assert pool.submit(lambda: 5).result(timeout=30) == 5


POOL_SIZES = """
import os, sys, time
import numpy as np
import zarrs_cffi

def pool_threads():
    names = [open(f"/proc/self/task/{t}/comm").read().strip() for t in os.listdir("/proc/self/task")]
    return sum(name.startswith("zarrs-cffi-") for name in names)

arr = zarrs_cffi.create_array(sys.argv[1], shape=(64, 64), dtype="u2", chunks=(8, 8))
arr[...] = 1
sizes = []
for threads in (12, 2):
    zarrs_cffi.set_num_threads(threads)
    assert int(arr[...].sum()) == 64 * 64
    # A new pool thread takes its name once it runs: on a busy machine, some time after the read.
    deadline = time.monotonic() + 20
    while pool_threads() < 12 and time.monotonic() < deadline:
        time.sleep(0.05)
    sizes.append(pool_threads())
print(*sizes)
"""


@pytest.mark.skipif(not pathlib.Path("/proc/self/task").is_dir(), reason="Linux /proc")
def test_the_pool_keeps_the_threads_it_grew_to(tmp_path: pathlib.Path) -> None:
    """What docs/guide/threads.md says: the pool grows to the largest count asked for and keeps
    those threads when the count is lowered."""
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-c", POOL_SIZES, str(tmp_path / "a.zarr")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    grown, after_lowering = map(int, run.stdout.split())
    # (>= 12, not >= grown: a short-lived thread of the library, named like the pool's, may be
    # counted in the first sample)
    assert grown >= 12 and after_lowering >= 12, run.stdout
