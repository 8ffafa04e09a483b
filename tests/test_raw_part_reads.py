"""Reads of part of an uncompressed chunk (`direct::Plan::copy_raw_part`, and
`read_raw_part_in_place` in streamed reads): only the chunk's slabs along the first axis that the
part covers are read from the file — each slab's wanted bytes on
their own when the gaps between them are large (>= 8 KiB on AMD CPUs, >= 4 KiB on others), else in one read — after the file's
size has been checked. Such chunks are never cached by the decoded-chunk cache (the operating
system's page cache holds them). Results must equal zarr-python's for any region, shape, dtype,
thread count and buffer placement, with or without the cache; a wrong-size file raises the typed
error naming its key even where the bytes of the part are intact."""

from __future__ import annotations

import pathlib
import sys
from collections.abc import Iterator

import numpy as np
import pytest
import zarr
from test_read_threads import run_readers
from test_whole_chunk_reads import buffer_at
from zarr_oracle import run_python

import zarrs_cffi
from zarrs_cffi import CodecError

# name: (shape, chunks, dtype). Edge chunks everywhere (shapes are no multiple of the chunks).
# "planes" has 8 KiB slabs (narrow parts are read slab by slab on Intel, merged on AMD),
# "wide-planes" 32 KiB slabs (narrow parts slab by slab on every CPU, wide ones merged), "rows"
# 2.2 KiB slabs (merged), "line" 1-D (a slab is one element).
LAYOUTS = {
    "line": ((1000,), (96,), "float64"),
    "rows": ((70, 2100), (16, 1100), "int16"),
    "planes": ((12, 70, 70), (5, 64, 64), "int16"),
    "wide-planes": ((9, 130, 140), (4, 128, 128), "int16"),
    "4d": ((7, 9, 10, 11), (3, 4, 5, 6), "uint8"),
}
FILL = 3
ABSENT_REGION_OF = {
    "line": np.s_[96:192],
    "rows": np.s_[16:32],
    "planes": np.s_[5:10],
    "wide-planes": np.s_[4:8],
    "4d": np.s_[3:6],
}


def make(path: pathlib.Path, layout: str) -> np.ndarray:
    """An uncompressed array written by zarr-python, one row of chunks left absent."""
    shape, chunks, dtype = LAYOUTS[layout]
    rng = np.random.default_rng(len(layout))
    if np.dtype(dtype).kind == "f":
        data = rng.standard_normal(shape).astype(dtype)
    else:  # every byte of an element varies
        info = np.iinfo(dtype)
        data = rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
    z = zarr.create_array(
        store=str(path), shape=shape, chunks=chunks, dtype=dtype, fill_value=FILL, compressors=None
    )
    z[...] = data
    absent = ABSENT_REGION_OF[layout]
    stop = min(absent.stop, shape[0])
    for idx in np.ndindex(*[-(-n // c) for n, c in zip(shape[1:], chunks[1:], strict=True)]):
        key = pathlib.Path(path, "c", str(absent.start // chunks[0]), *map(str, idx))
        key.unlink()
    data[absent.start : stop] = FILL
    return data


def random_regions(shape: tuple[int, ...], chunks: tuple[int, ...], count: int, seed: int) -> list:
    """Small and chunk-crossing regions, at edges too."""
    rng = np.random.default_rng(seed)
    regions = []
    for _ in range(count):
        region = []
        for n, c in zip(shape, chunks, strict=True):
            size = int(rng.integers(1, min(n, 2 * c) + 1))
            start = int(rng.integers(0, n - size + 1))
            region.append(slice(start, start + size))
        regions.append(tuple(region))
    return regions


@pytest.fixture(params=[False, True], ids=["plain", "streamed"])
def streamed(request: pytest.FixtureRequest) -> Iterator[None]:
    """Multi-chunk reads chunk by chunk, or by row groups (`row_groups`, where a part of a chunk
    is read into its place in the group's chunk buffer)."""
    previous = zarrs_cffi.set_streaming_threshold(0 if request.param else sys.maxsize)
    yield
    zarrs_cffi.set_streaming_threshold(previous)


@pytest.mark.parametrize("cached", [False, True], ids=["uncached", "cached"])
@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_random_parts_match_zarr_python(
    tmp_path: pathlib.Path, layout: str, threads: int, cached: bool, restore_threads: None, streamed: None
) -> None:
    expected = make(tmp_path / "a.zarr", layout)
    shape, chunks, dtype = LAYOUTS[layout]
    zarrs_cffi.set_num_threads(threads)
    cache = 64 << 20 if cached else None
    with zarrs_cffi.open_array(tmp_path / "a.zarr", chunk_cache_bytes=cache) as arr:
        assert arr.decodes_directly
        for k, region in enumerate(random_regions(shape, chunks, 150, seed=threads)):
            want = expected[region]
            out = buffer_at((0, 8, 16, 4080)[k % 4], want.shape, dtype)
            assert arr.read_into(out, region) is out
            np.testing.assert_array_equal(out, want, err_msg=str(region))
        if cached:  # only the absent chunks' fill values were cached
            count, _ = arr.chunk_cache_usage()
            grid_rest = int(np.prod([-(-n // c) for n, c in zip(shape[1:], chunks[1:], strict=True)]))
            assert count <= grid_rest


NARROW_AND_WIDE_PARTS = {
    "planes": [
        np.s_[0:5, 3:4, 10:12],  # 4 bytes of each of 5 slabs
        np.s_[1:4, 0:64, 0:1],  # one column: each slab's span is nearly all of it
        np.s_[0:5, 63:64, 63:64],  # the last element of every slab
        np.s_[2:3, 0:64, 0:64],  # one whole slab
        np.s_[10:12, 60:70, 60:70],  # an edge chunk's part
    ],
    "wide-planes": [
        np.s_[0:4, 5:6, 7:9],  # 4 bytes of each of 4 slabs 32 KiB apart
        np.s_[1:4, 100:128, 3:120],  # ~7 KiB of each slab at its end: gaps ~25 KiB
        np.s_[0:4, 0:127, 0:128],  # all but the last row of each slab: gaps of 256 bytes
        np.s_[0:4, 127:128, 127:128],  # the last element of every slab
        np.s_[6:9, 128:130, 128:140],  # an edge chunk's part
    ],
}


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("layout", list(NARROW_AND_WIDE_PARTS))
def test_narrow_parts_of_large_slabs_are_read_slab_by_slab(
    tmp_path: pathlib.Path, layout: str, threads: int, restore_threads: None
) -> None:
    """Parts whose slabs lie far apart but need a few bytes each (separate reads), next to parts
    wide enough for one read, and whole slabs."""
    expected = make(tmp_path / "a.zarr", layout)
    zarrs_cffi.set_num_threads(threads)
    with zarrs_cffi.open_array(tmp_path / "a.zarr") as arr:
        for region in NARROW_AND_WIDE_PARTS[layout]:
            np.testing.assert_array_equal(arr[region], expected[region], err_msg=str(region))


@pytest.mark.parametrize("cached", [False, True], ids=["uncached", "cached"])
def test_a_wrong_size_file_fails_every_part_read(tmp_path: pathlib.Path, cached: bool) -> None:
    expected = make(tmp_path / "a.zarr", "planes")
    chunk_file = tmp_path / "a.zarr" / "c" / "0" / "0" / "0"
    good = chunk_file.read_bytes()
    cache = 16 << 20 if cached else None
    with zarrs_cffi.open_array(tmp_path / "a.zarr", chunk_cache_bytes=cache) as arr:
        for bad in (good[:-2], good[: len(good) // 2], good + b"tail", b""):
            chunk_file.write_bytes(bad)
            # Inside the intact bytes, past them, and across into the next chunk.
            for region in (np.s_[0:1, 0:2, 0:3], np.s_[4:5, 60:62, 1:3], np.s_[3:7, 5:6, 5:6]):
                with pytest.raises(CodecError, match=r"c/0/0/0.*corrupt"):
                    arr[region]
            np.testing.assert_array_equal(arr[0:2, 64:70, 0:5], expected[0:2, 64:70, 0:5])
        chunk_file.write_bytes(good)
        np.testing.assert_array_equal(arr[0:1, 0:2, 0:3], expected[0:1, 0:2, 0:3])
        assert arr.chunk_cache_usage() == (0, 0)


def test_absent_chunks_read_as_the_fill_value(tmp_path: pathlib.Path) -> None:
    expected = make(tmp_path / "a.zarr", "rows")
    with zarrs_cffi.open_array(tmp_path / "a.zarr") as arr:
        part = arr[17:20, 1000:1200]
        assert (part == FILL).all()
        np.testing.assert_array_equal(arr[14:18, 1090:1110], expected[14:18, 1090:1110])


def test_python_threads_reading_parts_at_once(tmp_path: pathlib.Path, restore_threads: None) -> None:
    expected = make(tmp_path / "a.zarr", "planes")
    shape, chunks, _ = LAYOUTS["planes"]
    zarrs_cffi.set_num_threads(2)
    with zarrs_cffi.open_array(tmp_path / "a.zarr", chunk_cache_bytes=1 << 20) as arr:

        def reader(seed: int) -> None:
            for region in random_regions(shape, chunks, 100, seed=100 + seed):
                np.testing.assert_array_equal(arr[region], expected[region], err_msg=str(region))

        run_readers(reader)


def test_empty_regions_from_c_read_nothing(tmp_path: pathlib.Path) -> None:
    """The C API takes any shape, zero sizes included (Python returns before calling): such a call
    succeeds and writes nothing, on both read paths. In a child process: an empty box once reached
    the row copy and crashed the process."""
    make(tmp_path / "a.zarr", "planes")
    code = """
        import sys, zarrs_cffi
        from zarrs_cffi._native import ffi, lib
        with zarrs_cffi.open_array(sys.argv[1]) as arr:
            buf = ffi.new("uint8_t[]", [0x55] * 16)
            with arr._handle.use() as ptr:
                for cache_bytes in (0, 1 << 20):  # uncached, then through the handle's cache
                    print(lib.zarrsCffiArraySetChunkCache(ptr, cache_bytes))
                    for start, shape in [([0, 0, 0], [0, 4, 4]), ([1, 2, 3], [2, 0, 2]), ([0, 0, 0], [0, 0, 0])]:
                        print(lib.zarrsCffiArrayRetrieveSubsetInto(ptr, 3, start, shape, 0, buf))
            print(ffi.buffer(buf)[:] == b"\\x55" * 16)
    """
    run = run_python(code, str(tmp_path / "a.zarr"))
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.split() == ["0"] * 8 + ["True"], run.stdout
