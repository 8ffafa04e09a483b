"""A read of exactly one whole chunk of a directly decoded array decodes straight into the
output (`region_io::read_in_one_chunk`); an uncompressed chunk file large enough is read in
pieces by the calling thread and pool helpers at once (`direct::read_exact_into`), and through a
chunk cache such a read skips the cache (`chunk_cache::whole_uncached_unit`; uncompressed chunks
are never cached, see test_raw_part_reads.py). Whatever the thread
count, buffer offset or codec, the result must equal zarr-python's, a chunk file of the wrong size
must raise the typed error naming it, and nothing may be left half-written."""

from __future__ import annotations

import pathlib
import time

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


def buffer_at(offset: int, shape: tuple[int, ...], dtype: str = "int16") -> np.ndarray:
    """A buffer of `shape` starting `offset` bytes past a page boundary."""
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    raw = np.full(nbytes + offset + 8192, 0x55, np.uint8)
    start = (-raw.ctypes.data) % 4096 + offset
    return raw[start : start + nbytes].view(dtype).reshape(shape)


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
def test_raw_chunks_are_read_from_their_files_not_cached(
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
        # Parts of chunks (one, and several) come from the files too.
        for region in [np.s_[0:2, 5:9, 7:11], np.s_[16:20, 120:128, 100:129], np.s_[3:5, 0:4, 125:135]]:
            np.testing.assert_array_equal(arr[region], expected[region])
        assert arr.chunk_cache_usage() == (0, 0)
        file = tmp_path / "a.zarr" / "c" / "0" / "0" / "0"
        file.write_bytes(bytes(file.stat().st_size))  # rewritten elsewhere: seen at once
        assert not arr[0:2, 5:9, 7:11].any()
        assert not arr[chunk_region((0, 0, 0))].any()
        # An absent chunk's fill value is not cached either: a chunk written later is seen at once.
        fill_part = np.s_[10:12, 3:5, 140:150]
        np.testing.assert_array_equal(arr[fill_part], expected[fill_part])
        assert arr.chunk_cache_usage() == (0, 0)
        (tmp_path / "a.zarr" / "c" / "1" / "0" / "1").write_bytes(bytes(file.stat().st_size))
        assert not arr[fill_part].any()
        assert not arr[chunk_region(ABSENT)].any()


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


# Blosc chunks of several blocks decode block by block (`blosc_blocks`): 8 x 128 x 128 elements a
# chunk in 4 blocks (numcodecs scales the block size asked for by the type size).
BLOSC_SHAPE = (16, 128, 256)
BLOSC_CHUNKS = (8, 128, 128)


def make_blosc(path: pathlib.Path, dtype: str, shuffle: str, blocksize: int = 32768) -> np.ndarray:
    rng = np.random.default_rng(11)
    data = (rng.normal(size=BLOSC_SHAPE) * 50).astype(dtype)
    data[:, :64] = 3  # compressible parts, beside incompressible ones
    z = zarr.create_array(
        store=str(path),
        shape=BLOSC_SHAPE,
        chunks=BLOSC_CHUNKS,
        dtype=dtype,
        fill_value=-2,
        compressors=zarr.codecs.BloscCodec(cname="lz4", clevel=5, shuffle=shuffle, blocksize=blocksize),
    )
    z[:8] = data[:8]
    z[8:, :, :128] = data[8:, :, :128]  # chunk (1, 0, 1) stays absent
    return np.asarray(z[...])


def blosc_chunks() -> list[tuple[int, ...]]:
    return [(0, 0, 0), (0, 0, 1), (1, 0, 0), (1, 0, 1)]


def blosc_region(indices: tuple[int, ...]) -> tuple[slice, ...]:
    return tuple(slice(i * c, (i + 1) * c) for i, c in zip(indices, BLOSC_CHUNKS, strict=True))


def blosc_header(chunk: bytes) -> tuple[int, int, list[int]]:
    """(nbytes, blocksize, block starts) of a blosc 1.x buffer."""
    nbytes, blocksize = int.from_bytes(chunk[4:8], "little"), int.from_bytes(chunk[8:12], "little")
    count = -(-nbytes // blocksize)
    starts = [int.from_bytes(chunk[16 + 4 * j : 20 + 4 * j], "little") for j in range(count)]
    return nbytes, blocksize, starts


@pytest.mark.parametrize("shuffle", ["shuffle", "bitshuffle", "noshuffle"])
@pytest.mark.parametrize("dtype", ["int16", "float32", "float64"])
@pytest.mark.parametrize("threads", THREADS)
def test_blosc_chunks_of_several_blocks(
    tmp_path: pathlib.Path, dtype: str, shuffle: str, threads: int, restore_threads: None
) -> None:
    expected = make_blosc(tmp_path / "b.zarr", dtype, shuffle)
    chunk = (tmp_path / "b.zarr" / "c" / "0" / "0" / "0").read_bytes()
    assert len(blosc_header(chunk)[2]) == 4  # several blocks: the block-by-block path
    zarrs_cffi.set_num_threads(threads)
    for cache in (None, 8 << 20):
        with zarrs_cffi.open_array(tmp_path / "b.zarr", chunk_cache_bytes=cache) as arr:
            for offset in (0, 16):
                for idx in blosc_chunks():
                    out = buffer_at(offset, BLOSC_CHUNKS, dtype)
                    arr.read_into(out, blosc_region(idx))
                    np.testing.assert_array_equal(out, expected[blosc_region(idx)], err_msg=str(idx))
            np.testing.assert_array_equal(arr[...], expected)  # multi-chunk: blocks stay inline
            np.testing.assert_array_equal(arr[2:13, 5:100, 60:200], expected[2:13, 5:100, 60:200])


@pytest.mark.parametrize("threads", [1, 2])
def test_blosc_whole_chunks_through_the_cache(
    tmp_path: pathlib.Path, threads: int, restore_threads: None
) -> None:
    """With helpers, whole blosc chunks of several blocks skip the cache; on one thread (no
    helpers to split the blocks over) they are cached like any chunk."""
    expected = make_blosc(tmp_path / "b.zarr", "int16", "shuffle")
    zarrs_cffi.set_num_threads(threads)
    with zarrs_cffi.open_array(tmp_path / "b.zarr", chunk_cache_bytes=8 << 20) as arr:
        for idx in blosc_chunks():
            np.testing.assert_array_equal(arr[blosc_region(idx)], expected[blosc_region(idx)])
        assert arr.chunk_cache_usage()[0] == (0 if threads > 1 else 4)


@pytest.mark.parametrize("blocksize", [0, 100_000], ids=["one-block", "partial-last-block"])
def test_blosc_chunks_the_block_path_does_not_take(
    tmp_path: pathlib.Path, blocksize: int, restore_threads: None
) -> None:
    expected = make_blosc(tmp_path / "b.zarr", "int16", "shuffle", blocksize=blocksize)
    nbytes, size, _ = blosc_header((tmp_path / "b.zarr" / "c" / "0" / "0" / "0").read_bytes())
    assert nbytes == size or nbytes % size  # one block, or a partial last one: decoded whole
    zarrs_cffi.set_num_threads(2)
    with zarrs_cffi.open_array(tmp_path / "b.zarr", chunk_cache_bytes=8 << 20) as arr:
        for idx in blosc_chunks():
            np.testing.assert_array_equal(arr[blosc_region(idx)], expected[blosc_region(idx)])


def test_blosc_blocks_stored_out_of_order(tmp_path: pathlib.Path, restore_threads: None) -> None:
    """A block ends where the next one in the file starts, whatever the order of the starts."""
    expected = make_blosc(tmp_path / "b.zarr", "int16", "shuffle")
    path = tmp_path / "b.zarr" / "c" / "0" / "0" / "0"
    chunk = path.read_bytes()
    _, _, starts = blosc_header(chunk)
    ends = [*starts[1:], len(chunk)]
    blocks = [chunk[s:e] for s, e in zip(starts, ends, strict=True)]
    order = list(reversed(range(len(blocks))))  # stored last block first
    body, new_starts, at = b"", [0] * len(blocks), starts[0]
    for j in order:
        new_starts[j] = at
        body += blocks[j]
        at += len(blocks[j])
    head = chunk[:16] + b"".join(s.to_bytes(4, "little") for s in new_starts)
    path.write_bytes(head + body)
    for threads in THREADS:
        zarrs_cffi.set_num_threads(threads)
        with zarrs_cffi.open_array(tmp_path / "b.zarr") as arr:
            np.testing.assert_array_equal(arr[blosc_region((0, 0, 0))], expected[blosc_region((0, 0, 0))])


@pytest.mark.parametrize("threads", THREADS)
def test_corrupt_blosc_blocks_raise(tmp_path: pathlib.Path, threads: int, restore_threads: None) -> None:
    make_blosc(tmp_path / "b.zarr", "int16", "shuffle")
    path = tmp_path / "b.zarr" / "c" / "0" / "0" / "1"
    good = path.read_bytes()
    _, _, starts = blosc_header(good)
    bad_block = bytearray(good)
    bad_block[starts[2] : starts[2] + 4] = (10**9).to_bytes(4, "little")  # a split's size: too large
    bad_start = bytearray(good)
    bad_start[24:28] = (len(good) + 5).to_bytes(4, "little")  # block 2 starts past the end
    zarrs_cffi.set_num_threads(threads)
    with zarrs_cffi.open_array(tmp_path / "b.zarr", chunk_cache_bytes=8 << 20) as arr:
        for bad in (bytes(bad_block), bytes(bad_start), good[:-3], good[: starts[1]]):
            path.write_bytes(bad)
            with pytest.raises(CodecError, match="c/0/0/1"):
                arr.read_into(np.empty(BLOSC_CHUNKS, "int16"), blosc_region((0, 0, 1)))
        # The chunk beside it still reads.
        arr.read_into(np.empty(BLOSC_CHUNKS, "int16"), blosc_region((0, 0, 0)))
