"""Arrays written by zarr-python 3.1.6 (the oracle) read back identically through every read path:
``Array.read()``, ``Array[...]``, ``Array.read_into``, ``Array.read_chunk`` and the functional
``zarrs_cffi.read`` / ``zarrs_cffi.read_into``.

The arrays have edge chunks (shape not a multiple of the chunks), missing chunks (only part of the
array is written) and non-zero or NaN fill values, across codecs, data types, v2 and v3.
"""

from __future__ import annotations

import math
import pathlib
from typing import Any

import numcodecs
import numpy as np
import pytest
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st
from s3_paths import as_location, zarr_store_at
from zarr.codecs import (
    BloscCodec,
    BytesCodec,
    Crc32cCodec,
    GzipCodec,
    TransposeCodec,
    ZstdCodec,
)
from zarr_oracle import (
    DTYPES,
    SELECTIONS_2D,
    assert_same,
    assert_values,
    chunk_indices,
    padded_chunk,
    sample_data,
    sel_id,
    zarr_write,
)

import zarrs_cffi

SHAPE = (10, 7)
CHUNKS = (4, 3)  # grid (3, 3): the last row and column of chunks are edge chunks
# Written part: rows 0..5, columns 0..4. Chunk row 2 (rows 8, 9) and chunk column 2 (column 6) stay
# missing, so reads there must produce the fill value.
WRITTEN = np.s_[0:6, 0:5]


def check_every_read_path(
    path: str, expected: np.ndarray, *, stored_chunk: tuple[int, ...], fill: Any
) -> None:
    """Assert every read path of zarrs_cffi returns ``expected`` (zarr-python's own reading)."""
    native = expected.dtype.newbyteorder("=")
    zarrs_cffi.clear_cache()
    with zarrs_cffi.open_array(path, read_only=True) as arr:
        assert arr.shape == expected.shape
        assert arr.dtype == native
        assert arr.chunk_shape() == stored_chunk

        assert_same(arr.read(), expected)
        assert_same(np.asarray(arr), expected)

        for sel in SELECTIONS_2D:
            want = np.asarray(expected[sel])
            assert_same(arr[sel], want)
            assert_same(arr.read(sel), want)
            out = np.empty(want.shape, native)
            assert arr.read_into(out, sel) is out
            assert_same(out, want)
            assert_same(zarrs_cffi.read(path, sel), want)
            out2 = np.empty(want.shape, native)
            assert zarrs_cffi.read_into(out2, path, sel) is out2
            assert_same(out2, want)

        grid = tuple(math.ceil(s / c) for s, c in zip(expected.shape, stored_chunk))
        assert arr.chunk_grid_shape == grid
        for coords in chunk_indices(grid):
            want = padded_chunk(expected, coords, stored_chunk, fill)
            assert_same(arr.read_chunk(coords), want)
            out = np.empty(stored_chunk, native)
            assert arr.read_chunk(coords, out=out) is out
            assert_same(out, want)

    # The functional API with no region reads everything.
    assert_same(zarrs_cffi.read(path), expected)


def intended(data: np.ndarray, fill: Any) -> np.ndarray:
    """What the array should hold: ``data`` in WRITTEN, ``fill`` elsewhere (checks the oracle too)."""
    full = np.full(data.shape, fill, dtype=data.dtype)
    full[WRITTEN] = data[WRITTEN]
    return full


# --- v3 codecs -------------------------------------------------------------------------------------
V3_CODECS: dict[str, dict[str, Any]] = {
    "none": {"compressors": None},
    "zstd": {"compressors": ZstdCodec(level=3)},
    "zstd-checksum": {"compressors": ZstdCodec(level=1, checksum=True)},
    "gzip": {"compressors": GzipCodec(level=5)},
    "blosc-lz4-shuffle": {"compressors": BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")},
    "blosc-zstd-bitshuffle": {"compressors": BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle")},
    "blosc-noshuffle": {"compressors": BloscCodec(cname="blosclz", shuffle="noshuffle")},
    "crc32c": {"compressors": Crc32cCodec()},
    "zstd+crc32c": {"compressors": [ZstdCodec(), Crc32cCodec()]},
    "transpose": {"filters": [TransposeCodec(order=(1, 0))], "compressors": None},
    "transpose+gzip": {"filters": [TransposeCodec(order=(1, 0))], "compressors": GzipCodec()},
    "bytes-big-endian": {"serializer": BytesCodec(endian="big"), "compressors": None},
    "big-endian+blosc": {"serializer": BytesCodec(endian="big"), "compressors": BloscCodec(cname="lz4")},
}


@pytest.mark.parametrize("dtype", ["uint16", "float64"])
@pytest.mark.parametrize("codec", list(V3_CODECS))
def test_v3_codecs(tmp_path: pathlib.Path, codec: str, dtype: str) -> None:
    data = sample_data(dtype, SHAPE, seed=1)
    fill = 5 if dtype == "uint16" else -2.5
    path = str(tmp_path / "a.zarr")
    expected = zarr_write(path, data, chunks=CHUNKS, region=WRITTEN, fill_value=fill, **V3_CODECS[codec])
    assert_same(expected, intended(data, fill))
    check_every_read_path(path, expected, stored_chunk=CHUNKS, fill=fill)


@pytest.mark.parametrize(
    ("shards", "chunks", "compressors"),
    [
        ((8, 6), (4, 3), None),
        ((8, 6), (4, 3), ZstdCodec()),
        ((4, 6), (2, 2), BloscCodec(cname="lz4", shuffle="shuffle")),
        ((10, 7), (5, 7), GzipCodec()),
    ],
    ids=["none", "zstd", "blosc-lz4", "one-shard-gzip"],
)
def test_v3_sharded(
    tmp_path: pathlib.Path, shards: tuple[int, int], chunks: tuple[int, int], compressors: Any
) -> None:
    data = sample_data("int32", SHAPE, seed=2)
    path = str(tmp_path / "s.zarr")
    expected = zarr_write(
        path, data, chunks=chunks, shards=shards, region=WRITTEN, fill_value=-7, compressors=compressors
    )
    assert_same(expected, intended(data, -7))
    with zarrs_cffi.open_array(path) as arr:
        assert arr.chunks == chunks
        assert arr.shards == shards
    # Chunk I/O is in stored units: whole shards, padded with the fill value at the edges.
    check_every_read_path(path, expected, stored_chunk=shards, fill=-7)


FILLS: dict[str, list[Any]] = {
    "bool": [True],
    "int8": [-3],
    "int16": [-300],
    "int32": [123456],
    "int64": [-(2**62)],
    "uint8": [200],
    "uint16": [65535],
    "uint32": [2**32 - 1],
    "uint64": [2**64 - 1],
    "float16": [np.nan, 1.5],
    "float32": [np.nan, -np.inf],
    "float64": [np.nan, -0.0, 3.25],
    "complex64": [complex(np.nan, 1.0), complex(1.5, -2.0)],
    "complex128": [complex(2.0, np.nan), complex(-1.0, 0.5)],
}
DTYPE_FILL_CASES = [(dt, fill) for dt in DTYPES for fill in FILLS[dt]]


@pytest.mark.parametrize(("dtype", "fill"), DTYPE_FILL_CASES, ids=[f"{d}-{f}" for d, f in DTYPE_FILL_CASES])
def test_v3_every_dtype(tmp_path: pathlib.Path, dtype: str, fill: Any) -> None:
    data = sample_data(dtype, SHAPE, seed=3)
    path = str(tmp_path / "d.zarr")
    expected = zarr_write(path, data, chunks=CHUNKS, region=WRITTEN, fill_value=fill)
    assert_same(expected, intended(data, fill))
    check_every_read_path(path, expected, stored_chunk=CHUNKS, fill=np.asarray(fill, dtype=dtype))
    with zarrs_cffi.open_array(path) as arr:
        assert_same(np.asarray(arr.fill_value), np.asarray(fill, dtype=dtype))


def test_v3_all_chunks_missing(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "empty.zarr")
    data = np.zeros(SHAPE, "float32")
    expected = zarr_write(path, data, chunks=CHUNKS, region=None, fill_value=np.nan)
    assert np.isnan(expected).all()
    check_every_read_path(path, expected, stored_chunk=CHUNKS, fill=np.float32(np.nan))


# --- v2 -----------------------------------------------------------------------------------------------
V2_COMPRESSORS: dict[str, Any] = {
    "zlib": numcodecs.Zlib(level=4),
    "blosc": numcodecs.Blosc(cname="lz4", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE),
    "none": None,
}
V2_DTYPES = ["<u2", ">u2", ">f8", "<i8", "|u1", ">c16"]


@pytest.mark.parametrize("dtype", V2_DTYPES)
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("compressor", list(V2_COMPRESSORS))
def test_v2(tmp_path: pathlib.Path, compressor: str, order: str, dtype: str) -> None:
    data = sample_data(dtype, SHAPE, seed=4).astype(dtype)
    fill = np.asarray(3, dtype=dtype)
    path = str(tmp_path / "v2.zarr")
    expected = zarr_write(
        path,
        data,
        chunks=CHUNKS,
        region=WRITTEN,
        dtype=dtype,
        fill_value=fill.item(),
        zarr_format=2,
        order=order,
        compressors=V2_COMPRESSORS[compressor],
    )
    assert expected.dtype == np.dtype(dtype)
    assert_values(expected, intended(data, fill))
    check_every_read_path(path, expected, stored_chunk=CHUNKS, fill=fill)


def test_v2_nan_fill(tmp_path: pathlib.Path) -> None:
    data = sample_data(">f4", SHAPE, seed=5).astype(">f4")
    path = str(tmp_path / "v2nan.zarr")
    expected = zarr_write(
        path, data, chunks=CHUNKS, region=WRITTEN, dtype=">f4", fill_value=np.nan, zarr_format=2
    )
    assert np.isnan(expected[9, 6])
    check_every_read_path(path, expected, stored_chunk=CHUNKS, fill=np.float32(np.nan))


def test_v2_nested_dimension_separator(tmp_path: pathlib.Path) -> None:
    data = sample_data("int16", SHAPE, seed=6)
    path = str(tmp_path / "v2nested.zarr")
    expected = zarr_write(
        path,
        data,
        chunks=CHUNKS,
        region=WRITTEN,
        fill_value=-1,
        zarr_format=2,
        chunk_key_encoding={"name": "v2", "separator": "/"},
    )
    assert (as_location(path) / "0" / "0").is_file()
    check_every_read_path(path, expected, stored_chunk=CHUNKS, fill=np.int16(-1))


# --- nested nodes, 1-D / 3-D / 0-d ----------------------------------------------------------------------
def test_array_inside_group(tmp_path: pathlib.Path) -> None:
    root = tmp_path / "root.zarr"
    group = zarr.open_group(zarr_store_at(root), mode="w")
    z = group.create_array("sub/temperature", shape=(6, 5), chunks=(4, 4), dtype="float32", fill_value=1.5)
    data = sample_data("float32", (6, 5))
    z[:3] = data[:3]
    expected = np.asarray(z[...])
    with zarrs_cffi.open_array(root, "/sub/temperature") as arr:
        assert_same(arr.read(), expected)
        assert_same(arr[::-1, 1], expected[::-1, 1])
    with zarrs_cffi.open_array(root, "sub/temperature") as arr:
        assert_same(arr.read(), expected)
    assert_same(zarrs_cffi.read(root / "sub" / "temperature", np.s_[1:, ::2]), expected[1:, ::2])


@pytest.mark.parametrize("shape,chunks", [((13,), (5,)), ((5, 4, 7), (2, 3, 4))])
def test_other_dimensionalities(
    tmp_path: pathlib.Path, shape: tuple[int, ...], chunks: tuple[int, ...]
) -> None:
    data = sample_data("uint32", shape, seed=7)
    path = str(tmp_path / "nd.zarr")
    expected = zarr_write(path, data, chunks=chunks, region=np.s_[: shape[0] // 2 + 1], fill_value=9)
    with zarrs_cffi.open_array(path) as arr:
        assert_same(arr.read(), expected)
        assert_same(arr[..., -1], expected[..., -1])
        assert_same(arr[::-2], expected[::-2])
        for coords in chunk_indices(arr.chunk_grid_shape):
            assert_same(arr.read_chunk(coords), padded_chunk(expected, coords, chunks, np.uint32(9)))


def test_zero_dimensional(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "scalar.zarr")
    z = zarr.create_array(store=zarr_store_at(path), shape=(), dtype="float64", fill_value=0.0)
    z[()] = 42.5
    with zarrs_cffi.open_array(path) as arr:
        assert arr.shape == ()
        assert_same(arr.read(), np.asarray(42.5))
        assert_same(arr[...], np.asarray(42.5))
        assert_same(arr.read_chunk(()), np.asarray(42.5))


def test_zero_size_array(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "empty.zarr")
    zarr.create_array(store=zarr_store_at(path), shape=(0, 4), chunks=(2, 2), dtype="int8")
    with zarrs_cffi.open_array(path) as arr:
        assert arr.shape == (0, 4)
        assert_same(arr.read(), np.zeros((0, 4), "int8"))
        assert_same(arr[:, 1], np.zeros((0,), "int8"))


# --- property-based: random basic selections on a 3-D array ------------------------------------------
@pytest.fixture(scope="module")
def cube(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, np.ndarray]:
    path = str(tmp_path_factory.mktemp("cube") / "cube.zarr")
    data = sample_data("int32", (9, 8, 5), seed=8)
    expected = zarr_write(
        path, data, chunks=(4, 3, 2), region=np.s_[1:8, :5], fill_value=-9, compressors=ZstdCodec()
    )
    return path, expected


def _axis_index(n: int) -> st.SearchStrategy[Any]:
    bound = st.one_of(st.none(), st.integers(-n - 3, n + 3))
    step = st.one_of(st.none(), st.integers(-4, 4).filter(bool))
    return st.one_of(st.integers(-n, n - 1), st.builds(slice, bound, bound, step))


@st.composite
def basic_selections(draw: st.DrawFn, shape: tuple[int, ...]) -> Any:
    """A numpy basic selection on ``shape``: leading axes, optionally an Ellipsis then trailing axes."""
    ndim = len(shape)
    k = draw(st.integers(0, ndim))
    if draw(st.booleans()):
        before = draw(st.integers(0, k))
        head = [draw(_axis_index(n)) for n in shape[:before]]
        tail = [draw(_axis_index(n)) for n in shape[ndim - (k - before) :]] if k > before else []
        items = [*head, Ellipsis, *tail]
    else:
        items = [draw(_axis_index(n)) for n in shape[:k]]
    if len(items) == 1 and draw(st.booleans()):
        return items[0]
    return tuple(items)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_random_selections_match_numpy(cube: tuple[str, np.ndarray], data: st.DataObject) -> None:
    path, expected = cube
    sel = data.draw(basic_selections(expected.shape), label="selection")
    try:
        want = np.asarray(expected[sel])
    except IndexError:
        with pytest.raises(IndexError):
            zarrs_cffi.read(path, sel)
        return
    assert_same(zarrs_cffi.read(path, sel), want)
    out = np.empty(want.shape, want.dtype)
    assert zarrs_cffi.read_into(out, path, sel) is out
    assert_same(out, want)


@pytest.mark.parametrize("sel", SELECTIONS_2D, ids=sel_id)
def test_selections_on_sharded_v3(tmp_path: pathlib.Path, sel: Any) -> None:
    data = sample_data("float32", SHAPE, seed=9)
    path = str(tmp_path / "sh.zarr")
    expected = zarr_write(path, data, chunks=(2, 3), shards=(4, 6), region=WRITTEN, fill_value=np.nan)
    with zarrs_cffi.open_array(path) as arr:
        assert_same(arr[sel], np.asarray(expected[sel]))
