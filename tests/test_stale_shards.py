"""A shard rewritten by another handle: a cached handle never reads one inner chunk's bytes as
another's, nor fails on valid data (its kept shard index is checked against the file now
stored), and an uncached read racing a writer gets the old or the new data, never a mix."""

from __future__ import annotations

import pathlib
import threading
from collections.abc import Iterator

import numpy as np
import pytest

import zarrs_cffi


@pytest.fixture(params=[True, False], ids=["direct", "pipeline"])
def direct(request: pytest.FixtureRequest) -> Iterator[bool]:
    previous = zarrs_cffi.set_direct_decoding(request.param)
    yield request.param
    zarrs_cffi.set_direct_decoding(previous)


@pytest.mark.parametrize("compressors", [None, "zstd", "gzip"])
def test_cached_handle_after_shard_rewrite(
    tmp_path: pathlib.Path, compressors: str | None, direct: bool
) -> None:
    path = str(tmp_path / "a.zarr")
    zarrs_cffi.create_array(
        path, shape=(8,), dtype="uint32", chunks=(2,), shards=(8,), compressors=compressors
    )
    with zarrs_cffi.open_array(path) as writer:
        writer[...] = np.array([0, 0, 1, 1, 2, 2, 3, 3], dtype="uint32")
    cached = zarrs_cffi.open_array(path, chunk_cache_bytes=1 << 20)
    try:
        np.testing.assert_array_equal(cached[2:4], [1, 1])
        with zarrs_cffi.open_array(path) as writer:
            writer[...] = np.array([9, 9, 1, 1, 2, 2, 3, 3], dtype="uint32")
        # Old and new value of a[4:6] are both [2, 2]: anything else is another chunk's bytes.
        np.testing.assert_array_equal(cached[4:6], [2, 2])
        np.testing.assert_array_equal(cached[0:2], [9, 9])  # never cached: the new data
    finally:
        cached.close()


def test_cached_handle_sees_a_shard_written_after_its_absence(tmp_path: pathlib.Path, direct: bool) -> None:
    path = str(tmp_path / "a.zarr")
    zarrs_cffi.create_array(path, shape=(16,), dtype="int16", chunks=(2,), shards=(8,), fill_value=-1)
    with zarrs_cffi.open_array(path, chunk_cache_bytes=1 << 20) as cached:
        np.testing.assert_array_equal(cached[8:10], [-1, -1])  # the shard is absent
        with zarrs_cffi.open_array(path) as writer:
            writer[8:16] = np.arange(8, dtype="int16")
        np.testing.assert_array_equal(cached[10:12], [2, 3])  # another inner chunk of that shard


def test_cached_handle_sees_uncompressed_chunks_written_after_their_absence(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "a.zarr")
    zarrs_cffi.create_array(path, shape=(8, 8), dtype="uint8", chunks=(4, 4), compressors=None, fill_value=7)
    with zarrs_cffi.open_array(path, chunk_cache_bytes=1 << 20) as cached:
        np.testing.assert_array_equal(cached[0:2, 0:2], np.full((2, 2), 7))
        with zarrs_cffi.open_array(path) as writer:
            writer[...] = np.arange(64, dtype="uint8").reshape(8, 8)
        np.testing.assert_array_equal(cached[0:2, 0:2], np.arange(64).reshape(8, 8)[0:2, 0:2])


@pytest.mark.parametrize("compressors", [None, "zstd"])
@pytest.mark.parametrize("cache", [0, 1 << 20], ids=["uncached", "cached"])
def test_reader_racing_a_shard_rewriter(tmp_path: pathlib.Path, compressors: str | None, cache: int) -> None:
    """Every inner chunk a read returns comes from one write, and an uncached read of one shard
    file from one write (old or new) altogether: its index and inner chunks are read from one open
    file."""
    race_a_shard_rewriter(str(tmp_path / "a.zarr"), compressors, cache, one_write_per_read=not cache)


def race_a_shard_rewriter(
    path: str, compressors: str | None, cache: int, *, one_write_per_read: bool
) -> None:
    """Read regions of up to four inner chunks of one shard while another handle rewrites it: write
    n stores elements n * 1000 + noise (noise or none, alternately, so inner chunks change size and
    their offsets move). Every inner chunk a read returns must come from one write; with
    ``one_write_per_read``, the whole read too."""
    zarrs_cffi.create_array(
        path, shape=(64, 64), dtype="uint32", chunks=(8, 8), shards=(64, 64), compressors=compressors
    )
    with zarrs_cffi.open_array(path) as writer:
        writer[...] = np.zeros((64, 64), dtype="uint32")
    stop = threading.Event()
    errors: list[BaseException] = []

    def rewrite() -> None:
        noise = np.random.default_rng(1).integers(0, 1000, size=(64, 64), dtype="uint32")
        try:
            with zarrs_cffi.open_array(path) as writer:
                for n in range(1, 400):
                    if stop.is_set():
                        return
                    writer[...] = n * 1000 + (noise if n % 2 else 0)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    thread = threading.Thread(target=rewrite)
    thread.start()
    rng = np.random.default_rng(5)
    try:
        with zarrs_cffi.open_array(path, chunk_cache_bytes=cache) as reader:
            for _ in range(1500):
                r0, c0 = rng.integers(0, 56, size=2)
                part = reader[r0 : r0 + 9, c0 : c0 + 9] // 1000  # spans up to four inner chunks
                if not one_write_per_read:
                    # e.g. inner chunks cached at different times.
                    split_r, split_c = 8 - r0 % 8, 8 - c0 % 8
                    for rows in (part[:split_r], part[split_r:]):
                        for piece in (rows[:, :split_c], rows[:, split_c:]):
                            assert np.unique(piece).size <= 1, f"one inner chunk mixes writes {piece}"
                else:
                    assert np.unique(part).size == 1, f"a mix of writes: {np.unique(part)}"
                if not thread.is_alive():
                    break
    finally:
        stop.set()
        thread.join()
    assert not errors, errors
