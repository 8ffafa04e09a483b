"""Streamed reads (``set_streaming_threshold``): large multi-chunk reads of directly decoded,
unsharded arrays decode the chunks lying side by side along the last axis together and write the
output's rows across them with cache-bypassing stores. Values must equal zarr-python's for every
codec, dtype, region and output placement; no byte outside the output may change; concurrent
reads into neighbouring parts of one buffer must not disturb each other."""

from __future__ import annotations

import pathlib
import sys
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import zarr
from test_direct_decoding import _layout
from zarr_oracle import assert_values, sample_data

import zarrs_cffi
from zarrs_cffi import CodecError, InvalidArgumentError

# Narrow chunks (7 elements: 7 to 112 bytes a row) so that cache lines straddle chunks, and edge
# chunks on every axis.
SHAPE = (9, 37, 101)
CHUNKS = (4, 5, 7)
DTYPES = ["uint8", "int16", "float32", "float64", "complex128"]
LAYOUTS = ["raw", "zstd", "gzip", "blosc"]
DEFAULT_THRESHOLD = 16 << 20


@pytest.fixture(autouse=True)
def stream_everything() -> Iterator[None]:
    previous = zarrs_cffi.set_streaming_threshold(0)
    yield
    zarrs_cffi.set_streaming_threshold(previous)


def make_array(path: pathlib.Path, layout: str, dtype: str, shape: tuple[int, ...] = SHAPE) -> np.ndarray:
    """An array with unwritten (fill-valued) chunks; returns its contents as zarr-python reads them."""
    chunks = CHUNKS[-len(shape) :]
    z = zarr.create_array(
        store=str(path), shape=shape, chunks=chunks, dtype=dtype, fill_value=0, **_layout(layout)
    )
    data = sample_data(dtype, shape, seed=len(layout))
    z[: shape[0] - 1] = data[: shape[0] - 1]  # the last row of chunks stays unwritten
    return np.asarray(z[...])


REGIONS = [
    (slice(None),) * 3,
    (slice(1, 8), slice(3, 36), slice(2, 99)),  # unaligned on every axis
    (slice(0, 9), slice(4, 6), slice(0, 101)),  # one chunk tall, many wide
    (slice(2, 7), slice(0, 37), slice(50, 55)),  # inside one chunk along the last axis
    (slice(5, 9), slice(30, 37), slice(90, 101)),  # edge chunks only
]


def read_at_offset(arr: Any, region: tuple[slice, ...], offset: int) -> np.ndarray:
    """Read ``region`` into a view ``offset`` bytes into a sentinel-filled buffer, check that no
    byte around the view changed, and return the view."""
    shape = tuple(len(range(*s.indices(n))) for s, n in zip(region, arr.shape, strict=True))
    itemsize = arr.dtype.itemsize
    nbytes = int(np.prod(shape)) * itemsize
    raw = np.full(offset + nbytes + 128, 0xA5, dtype=np.uint8)
    out = raw[offset : offset + nbytes].view(arr.dtype).reshape(shape)
    arr.read_into(out, region)
    assert (raw[:offset] == 0xA5).all(), "bytes before the output changed"
    assert (raw[offset + nbytes :] == 0xA5).all(), "bytes after the output changed"
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_streamed_reads_match_zarr_python(tmp_path: pathlib.Path, layout: str, dtype: str) -> None:
    expected = make_array(tmp_path / "a.zarr", layout, dtype)
    with zarrs_cffi.open_array(tmp_path / "a.zarr") as arr:
        assert arr.decodes_directly
        for region in REGIONS:
            # Every placement of the output within a cache line (in whole elements).
            for offset in range(0, 64 + arr.dtype.itemsize, arr.dtype.itemsize):
                assert_values(read_at_offset(arr, region, offset), expected[region])


@pytest.mark.parametrize("shape", [(3001,), (61, 203)], ids=["1-d", "2-d"])
def test_streamed_reads_of_1d_and_2d_arrays(tmp_path: pathlib.Path, shape: tuple[int, ...]) -> None:
    expected = make_array(tmp_path / "a.zarr", "zstd", "int16", shape)
    with zarrs_cffi.open_array(tmp_path / "a.zarr") as arr:
        for offset in (0, 2, 16, 62):
            assert_values(read_at_offset(arr, (slice(None),) * len(shape), offset), expected)
            inner = tuple(slice(3, n - 4) for n in shape)
            assert_values(read_at_offset(arr, inner, offset), expected[inner])


def test_streamed_and_cached_reads_agree(tmp_path: pathlib.Path) -> None:
    """The same reads with streaming off (threshold sys.maxsize) give the same values."""
    make_array(tmp_path / "a.zarr", "blosc", "float32")
    with zarrs_cffi.open_array(tmp_path / "a.zarr") as arr:
        streamed = [read_at_offset(arr, region, 4).copy() for region in REGIONS]
        assert zarrs_cffi.set_streaming_threshold(sys.maxsize) == 0
        cached = [read_at_offset(arr, region, 4) for region in REGIONS]
    for ours, theirs in zip(streamed, cached, strict=True):
        assert_values(ours, theirs)


def test_concurrent_reads_into_neighbouring_parts_of_one_buffer(tmp_path: pathlib.Path) -> None:
    """Threads reading into parts of one buffer that share cache lines (the parts meet 6 bytes
    into a line) write only their own bytes."""
    expected = make_array(tmp_path / "a.zarr", "raw", "int16")
    raw = np.full(SHAPE[2] * 2 * SHAPE[0] * SHAPE[1] + 64, 0x5A, dtype=np.uint8)
    out = raw[6 : 6 + expected.nbytes].view(np.int16).reshape(SHAPE)
    errors: list[BaseException] = []
    with zarrs_cffi.open_array(tmp_path / "a.zarr") as arr:

        def read_rows(rows: slice) -> None:
            try:
                for _ in range(20):
                    arr.read_into(out[rows], (rows, slice(None), slice(None)))
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)

        # Each row of the output is 37 * 101 * 2 bytes: not a multiple of 64, so neighbours
        # share lines.
        parts = [slice(i, i + 1) for i in range(SHAPE[0])]
        threads = [threading.Thread(target=read_rows, args=(rows,)) for rows in parts]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors, errors
    assert_values(out, expected)
    assert (raw[:6] == 0x5A).all() and (raw[6 + expected.nbytes :] == 0x5A).all()


def test_a_read_at_the_default_threshold_streams_the_right_values(tmp_path: pathlib.Path) -> None:
    """A 16 MiB read (the default threshold) of an uncompressed array, into numpy's own buffer
    and one 8 bytes off."""
    zarrs_cffi.set_streaming_threshold(DEFAULT_THRESHOLD)
    shape = (4096, 4096)
    data = sample_data("uint8", shape, seed=3)
    z = zarr.create_array(store=str(tmp_path / "big.zarr"), shape=shape, chunks=(512, 320), dtype="uint8")
    z[...] = data
    with zarrs_cffi.open_array(tmp_path / "big.zarr") as arr:
        assert_values(arr.read(), data)
        assert_values(read_at_offset(arr, (slice(None),) * 2, 8), data)


def test_a_corrupt_chunk_in_a_streamed_read_names_its_key(tmp_path: pathlib.Path) -> None:
    make_array(tmp_path / "a.zarr", "zstd", "int16")
    (tmp_path / "a.zarr" / "c" / "1" / "2" / "3").write_bytes(b"not zstd at all")
    with zarrs_cffi.open_array(tmp_path / "a.zarr") as arr, pytest.raises(CodecError, match="c/1/2/3"):
        arr.read()


def test_set_streaming_threshold_validates_and_returns_the_previous_one() -> None:
    assert zarrs_cffi.set_streaming_threshold(12345) == 0
    assert zarrs_cffi.set_streaming_threshold(sys.maxsize) == 12345
    for bad in (-1, True, 1.5, "16", sys.maxsize + 1):
        with pytest.raises(InvalidArgumentError, match="nbytes"):
            zarrs_cffi.set_streaming_threshold(bad)  # type: ignore[arg-type]
    assert zarrs_cffi.set_streaming_threshold(DEFAULT_THRESHOLD) == sys.maxsize
