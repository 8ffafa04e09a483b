"""A read of exactly one whole chunk of a directly decoded array decodes straight into the
output (`region_io::read_whole_chunk`); an uncompressed chunk file large enough is read in
pieces by the calling thread and pool helpers at once (`direct::read_exact_into`), and through a
chunk cache such a read skips the cache (`chunk_cache::bypasses_cache`). Whatever the thread
count, buffer offset or codec, the result must equal zarr-python's, a chunk file of the wrong size
must raise the typed error naming it, and nothing may be left half-written."""

from __future__ import annotations

import pathlib
import time
from collections.abc import Iterator

import numpy as np
import pytest
import zarr
from test_read_threads import run_readers

import zarrs_cffi
from zarrs_cffi import CodecError

# 9 x 128 x 130 int16 = 299,520 bytes a chunk: two whole 128 KiB pieces and a partial third.
SHAPE = (27, 128, 260)
CHUNKS = (9, 128, 130)
THREADS = [1, 2, 3, 7]
COMPRESSORS = {"raw": None, "zstd": "auto", "gzip": zarr.codecs.GzipCodec(level=1)}
ABSENT = (1, 0, 1)  # left unwritten: reads as the fill value


def chunk_region(indices: tuple[int, ...]) -> tuple[slice, ...]:
    return tuple(slice(i * c, (i + 1) * c) for i, c in zip(indices, CHUNKS, strict=True))


def all_chunks() -> list[tuple[int, ...]]:
    grid = [n // c for n, c in zip(SHAPE, CHUNKS, strict=True)]
    return [tuple(int(i) for i in idx) for idx in np.ndindex(*grid)]


def make(path: pathlib.Path, codec: str) -> np.ndarray:
    rng = np.random.default_rng(7)
    data = rng.integers(-30000, 30000, size=SHAPE, dtype=np.int16)
    z = zarr.create_array(
        store=str(path),
        shape=SHAPE,
        chunks=CHUNKS,
        dtype="int16",
        fill_value=-5,
        compressors=COMPRESSORS[codec],
    )
    for idx in all_chunks():
        if idx != ABSENT:
            z[chunk_region(idx)] = data[chunk_region(idx)]
    return np.asarray(z[...])


def buffer_at(offset: int, shape: tuple[int, ...]) -> np.ndarray:
    """An int16 buffer of `shape` starting `offset` bytes past a page boundary."""
    nbytes = int(np.prod(shape)) * 2
    raw = np.full(nbytes + offset + 8192, 0x55, np.uint8)
    start = (-raw.ctypes.data) % 4096 + offset
    return raw[start : start + nbytes].view(np.int16).reshape(shape)


@pytest.fixture
def restore_threads() -> Iterator[None]:
    yield
    zarrs_cffi.set_num_threads(0)


@pytest.mark.parametrize("codec", list(COMPRESSORS))
@pytest.mark.parametrize("threads", THREADS)
def test_every_whole_chunk_matches_at_any_offset(
    tmp_path: pathlib.Path, codec: str, threads: int, restore_threads: None
) -> None:
    expected = make(tmp_path / "a.zarr", codec)
    zarrs_cffi.set_num_threads(threads)
    with zarrs_cffi.open_array(tmp_path / "a.zarr") as arr:
        assert arr.decodes_directly
        for offset in (0, 8, 16, 4096 - 16):
            for idx in all_chunks():
                region = chunk_region(idx)
                out = buffer_at(offset, CHUNKS)
                assert arr.read_into(out, region) is out
                np.testing.assert_array_equal(out, expected[region], err_msg=f"{idx} +{offset}")
        np.testing.assert_array_equal(arr[chunk_region((2, 0, 0))], expected[chunk_region((2, 0, 0))])


@pytest.mark.parametrize("threads", THREADS)
def test_raw_chunks_bypass_the_cache_unless_cached(
    tmp_path: pathlib.Path, threads: int, restore_threads: None
) -> None:
    expected = make(tmp_path / "a.zarr", "raw")
    zarrs_cffi.set_num_threads(threads)
    with zarrs_cffi.open_array(tmp_path / "a.zarr", chunk_cache_bytes=16 << 20) as arr:
        for idx in all_chunks():  # a chunk-by-chunk scan: read from the files, nothing cached
            out = buffer_at(16, CHUNKS)
            arr.read_into(out, chunk_region(idx))
            np.testing.assert_array_equal(out, expected[chunk_region(idx)])
        assert arr.chunk_cache_usage() == (0, 0)
        # A small region caches its chunk; the whole chunk then comes from the cache, the same.
        np.testing.assert_array_equal(arr[0:2, 5:9, 7:11], expected[0:2, 5:9, 7:11])
        assert arr.chunk_cache_usage()[0] == 1
        (tmp_path / "a.zarr" / "c" / "0" / "0" / "0").write_bytes(b"")  # proves the cache served it
        np.testing.assert_array_equal(arr[chunk_region((0, 0, 0))], expected[chunk_region((0, 0, 0))])


@pytest.mark.parametrize("cached", [False, True], ids=["uncached", "cached"])
@pytest.mark.parametrize("threads", THREADS)
def test_a_raw_chunk_file_of_the_wrong_size_raises(
    tmp_path: pathlib.Path, threads: int, cached: bool, restore_threads: None
) -> None:
    expected = make(tmp_path / "a.zarr", "raw")
    chunk_file = tmp_path / "a.zarr" / "c" / "2" / "0" / "1"
    good = chunk_file.read_bytes()
    zarrs_cffi.set_num_threads(threads)
    cache = 16 << 20 if cached else None
    with zarrs_cffi.open_array(tmp_path / "a.zarr", chunk_cache_bytes=cache) as arr:
        for bad in (good[:-1], good[: len(good) // 2], good + b"x"):
            chunk_file.write_bytes(bad)
            out = buffer_at(16, CHUNKS)
            with pytest.raises(CodecError, match="c/2/0/1"):
                arr.read_into(out, chunk_region((2, 0, 1)))
        chunk_file.write_bytes(good)
        out = buffer_at(16, CHUNKS)
        arr.read_into(out, chunk_region((2, 0, 1)))
        np.testing.assert_array_equal(out, expected[chunk_region((2, 0, 1))])


def test_whole_chunk_reads_after_the_pool_fell_asleep(tmp_path: pathlib.Path, restore_threads: None) -> None:
    """Helpers that wake after the caller read every piece must not touch the finished read."""
    expected = make(tmp_path / "a.zarr", "raw")
    zarrs_cffi.set_num_threads(2)
    with zarrs_cffi.open_array(tmp_path / "a.zarr") as arr:
        for pause in (0.0, 0.002, 0.05, 0.0, 0.2, 0.0):
            time.sleep(pause)
            out = np.full(CHUNKS, -1, np.int16)
            arr.read_into(out, chunk_region((0, 0, 1)))
            np.testing.assert_array_equal(out, expected[chunk_region((0, 0, 1))])
            del out  # freed at once: a late helper writing into it would corrupt the next one


def test_python_threads_reading_whole_chunks_at_once(tmp_path: pathlib.Path, restore_threads: None) -> None:
    expected = make(tmp_path / "a.zarr", "raw")
    zarrs_cffi.set_num_threads(2)
    chunks = all_chunks()
    with zarrs_cffi.open_array(tmp_path / "a.zarr") as arr:

        def reader(seed: int) -> None:
            rng = np.random.default_rng(seed)
            for _ in range(30):
                idx = chunks[int(rng.integers(len(chunks)))]
                out = np.empty(CHUNKS, np.int16)
                arr.read_into(out, chunk_region(idx))
                np.testing.assert_array_equal(out, expected[chunk_region(idx)])

        run_readers(reader)


def test_large_raw_chunks_in_a_multi_chunk_read(tmp_path: pathlib.Path, restore_threads: None) -> None:
    """Multi-chunk reads already spread chunks over the threads; each chunk's pieces then stay on
    the thread reading it (nested spreading runs inline), on every thread count."""
    expected = make(tmp_path / "a.zarr", "raw")
    for threads in THREADS:
        zarrs_cffi.set_num_threads(threads)
        with zarrs_cffi.open_array(tmp_path / "a.zarr") as arr:
            for region in [(slice(None),) * 3, (slice(0, 18), slice(None), slice(0, 260)), (slice(3, 20),)]:
                np.testing.assert_array_equal(arr[region], expected[region])
