"""Direct encoding (zarrs-cffi's own encoder for whole chunks of ``bytes`` + zstd/gzip, optionally
inside ``sharding_indexed``): what it writes reads back the same through zarr-python and zarrs'
pipeline, zstd chunks are byte-identical to zarrs' own, chunks (and inner chunks) equal to the
fill value are not stored, other chains fall back to zarrs, and storage failures raise
StorageError naming the key."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import zarr
from test_direct_decoding import CHUNKS, SHAPE
from test_direct_decoding import _layout as decoding_layout
from zarr.codecs import (
    BloscCodec,
    BytesCodec,
    GzipCodec,
    TransposeCodec,
    ZstdCodec,
)
from zarr_oracle import assert_values, sample_data

import zarrs_cffi

FILL = -7


def _compressor(name: str) -> Any:
    if name == "raw":
        return None
    if name.startswith("gzip"):
        return GzipCodec(level=int(name[4:] or 5))
    return ZstdCodec(level=3, checksum=name == "zstdcrc")


def _layout(name: str) -> dict[str, Any]:
    """create_array arguments: "<compressor>" or "sharded-<compressor>-<start|end>[-crc]"."""
    return decoding_layout(name, _compressor)


LAYOUTS = [
    "raw",
    "zstd",
    "zstdcrc",
    "gzip0",
    "gzip1",
    "gzip9",
    "sharded-zstd-end",
    "sharded-gzip5-start-crc",
    "sharded-raw-end-crc",
    "sharded-zstdcrc-start",
]


@pytest.fixture(autouse=True)
def direct_on() -> Iterator[None]:
    previous = zarrs_cffi.set_direct_encoding(True)
    yield
    zarrs_cffi.set_direct_encoding(previous)


def empty_array(path: pathlib.Path, layout: str, dtype: str = "int16", fill: Any = FILL) -> None:
    zarr.create_array(
        store=str(path), shape=SHAPE, chunks=CHUNKS, dtype=dtype, fill_value=fill, **_layout(layout)
    )


def contents(dtype: str = "int16", fill: Any = FILL) -> np.ndarray:
    data = sample_data(dtype, SHAPE, seed=3)
    data[4:8] = fill  # whole stored chunks equal to the fill value: not stored
    data[8:10, 0:3, 0:2] = fill  # inner chunks equal to the fill value: empty in the index
    return data


def chunk_region(coords: tuple[int, ...]) -> tuple[slice, ...]:
    """The part of the array stored chunk ``coords`` holds."""
    return tuple(
        slice(c * n, min((c + 1) * n, size)) for c, n, size in zip(coords, CHUNKS, SHAPE, strict=True)
    )


def stored_keys(path: pathlib.Path) -> dict[str, bytes]:
    chunks = path / "c"
    return {str(f.relative_to(path)): f.read_bytes() for f in sorted(chunks.rglob("*")) if f.is_file()}


def write_with(path: pathlib.Path, layout: str, data: np.ndarray, direct: bool) -> None:
    empty_array(path, layout, str(data.dtype))
    previous = zarrs_cffi.set_direct_encoding(direct)
    try:
        with zarrs_cffi.open_array(path) as arr:
            assert arr.encodes_directly is direct
            arr[...] = data
    finally:
        zarrs_cffi.set_direct_encoding(previous)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_direct_writes_read_back_like_zarrs_writes(tmp_path: pathlib.Path, layout: str) -> None:
    data = contents()
    ours, theirs = tmp_path / "direct.zarr", tmp_path / "pipeline.zarr"
    write_with(ours, layout, data, direct=True)
    write_with(theirs, layout, data, direct=False)
    assert_values(np.asarray(zarr.open_array(str(ours), mode="r")[...]), data)
    zarrs_cffi.set_direct_decoding(False)  # read back through zarrs' pipeline too
    try:
        assert_values(zarrs_cffi.open_array(ours).read(), data)
    finally:
        zarrs_cffi.set_direct_decoding(True)
    # The same chunks are stored (fill-valued chunks of the interior left out by both).
    ours_keys, theirs_keys = stored_keys(ours), stored_keys(theirs)
    assert sorted(ours_keys) == sorted(theirs_keys)
    assert not any(key.startswith("c/1/") for key in ours_keys)  # chunk row 4:8 is all fill
    if layout in ("raw", "zstd", "zstdcrc"):
        assert ours_keys == theirs_keys  # same codec library, same settings: the same bytes


@pytest.mark.parametrize("layout", [name for name in LAYOUTS if name.startswith("sharded")])
def test_whole_shards_inside_a_larger_region(tmp_path: pathlib.Path, layout: str) -> None:
    """A region that starts at a shard boundary away from the origin and covers whole shards (each
    encoded from its place in the region's buffer) and partial ones (read-modify-written): the
    same values and the same stored keys as zarrs' pipeline writes."""
    data = contents()
    region = (slice(CHUNKS[0], SHAPE[0]), slice(0, SHAPE[1]), slice(0, SHAPE[2]))
    written = {}
    for direct in (True, False):
        path = tmp_path / f"direct-{direct}.zarr"
        empty_array(path, layout)
        previous = zarrs_cffi.set_direct_encoding(direct)
        try:
            with zarrs_cffi.open_array(path) as arr:
                arr[region] = data[region]
        finally:
            zarrs_cffi.set_direct_encoding(previous)
        expected = np.full(SHAPE, FILL, data.dtype)
        expected[region] = data[region]
        assert_values(np.asarray(zarr.open_array(str(path), mode="r")[...]), expected)
        written[direct] = sorted(stored_keys(path))
    assert written[True] == written[False]
    assert "c/2/0/0" in written[True]  # a whole shard at (8, 0, 0), at (4, 0, 0) in the region
    assert "c/1/0/0" not in written[True]  # a whole shard of fill values: not stored


@pytest.mark.parametrize("dtype", ["uint8", "int64", "float32", "float64", "complex64", "bool"])
def test_every_plain_dtype_round_trips(tmp_path: pathlib.Path, dtype: str) -> None:
    fill: Any = True if dtype == "bool" else 3
    data = sample_data(dtype, SHAPE, seed=5)
    data[0:4] = fill
    path = tmp_path / "a.zarr"
    empty_array(path, "sharded-gzip5-end", dtype, fill)
    with zarrs_cffi.open_array(path) as arr:
        assert arr.encodes_directly
        arr.write((), data)
        assert_values(arr.read(), data)
    assert_values(np.asarray(zarr.open_array(str(path), mode="r")[...]), data)


@pytest.mark.parametrize("layout", ["zstd", "gzip5", "sharded-zstd-start-crc"])
def test_write_chunk_interior_and_edge_and_fill_erases(tmp_path: pathlib.Path, layout: str) -> None:
    path = tmp_path / "a.zarr"
    empty_array(path, layout)
    full = np.full(SHAPE, FILL, dtype="int16")
    with zarrs_cffi.open_array(path) as arr:
        for coords in [(0, 0, 0), (3, 1, 1)]:  # interior, and the far edge chunk (padded)
            block = sample_data("int16", CHUNKS, seed=sum(coords))
            arr.write_chunk(coords, block)
            region = chunk_region(coords)
            full[region] = block[tuple(slice(0, r.stop - r.start) for r in region)]
        assert_values(arr.read(), full)
        assert (path / "c/0/0/0").is_file()
        arr.write_chunk((0, 0, 0), np.full(CHUNKS, FILL, dtype="int16"))
        assert not (path / "c/0/0/0").exists()  # a fill-valued chunk is erased, as zarrs does
        full[0:4, 0:6, 0:4] = FILL
        assert_values(arr.read(), full)
    assert_values(np.asarray(zarr.open_array(str(path), mode="r")[...]), full)


def test_partial_chunks_overwrite_direct_chunks(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "a.zarr"
    empty_array(path, "sharded-zstd-end")
    data = contents()
    with zarrs_cffi.open_array(path) as arr:
        arr[...] = data
        patch = sample_data("int16", (3, 4, 2), seed=9)
        arr[1:4, 2:6, 1:3] = patch  # inside one shard, read-modify-written by zarrs
        data[1:4, 2:6, 1:3] = patch
        assert_values(arr.read(), data)
    assert_values(np.asarray(zarr.open_array(str(path), mode="r")[...]), data)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"compressors": BloscCodec(cname="lz4", shuffle="shuffle")},
        {"compressors": [ZstdCodec(level=3), GzipCodec(level=1)]},
        {"compressors": ZstdCodec(level=3), "filters": [TransposeCodec(order=(2, 1, 0))]},
        {"compressors": ZstdCodec(level=3), "serializer": BytesCodec(endian="big")},
        {"compressors": None, "zarr_format": 2},
    ],
    ids=["blosc", "two-compressors", "transpose", "big-endian", "v2"],
)
def test_other_chains_go_through_zarrs(tmp_path: pathlib.Path, kwargs: dict[str, Any]) -> None:
    path = tmp_path / "a.zarr"
    zarr.create_array(store=str(path), shape=SHAPE, chunks=CHUNKS, dtype="int16", fill_value=FILL, **kwargs)
    data = contents()
    with zarrs_cffi.open_array(path) as arr:
        assert not arr.encodes_directly
        arr[...] = data
    assert_values(np.asarray(zarr.open_array(str(path), mode="r")[...]), data)


def test_set_direct_encoding_validates_and_reports_the_previous_setting() -> None:
    # The encodes_directly flag on closed arrays and the zarr engine: test_direct_decoding.py.
    assert zarrs_cffi.set_direct_encoding(False) is True
    assert zarrs_cffi.set_direct_encoding(True) is False
    with pytest.raises(zarrs_cffi.InvalidArgumentError):
        zarrs_cffi.set_direct_encoding(1)  # type: ignore[arg-type]


def test_a_failed_store_raises_storage_error_naming_the_key(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "a.zarr"
    empty_array(path, "zstd")
    data = contents()
    with zarrs_cffi.open_array(path) as arr:
        arr[...] = data
        before = stored_keys(path)
        (path / "c" / "2").rename(path / "moved")
        (path / "c" / "2").write_bytes(b"a file where chunk directories belong")
        with pytest.raises(zarrs_cffi.StorageError, match=r"c/2/"):
            arr[...] = data + 1
    # Chunks outside the blocked directory may have been rewritten; none is damaged.
    after = zarr.open_array(str(path), mode="r")
    for key in before:
        if not key.startswith("c/2/"):
            coords = tuple(int(c) for c in key.split("/")[1:])
            region = chunk_region(coords)
            assert np.asarray(after[region]).tolist() in (data[region].tolist(), (data[region] + 1).tolist())


def test_whole_raw_chunks_through_the_chunk_cache(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "a.zarr"
    empty_array(path, "raw")
    data = contents()
    with zarrs_cffi.open_array(path) as arr:
        arr[...] = data
    with zarrs_cffi.open_array(path, chunk_cache_bytes=1 << 20) as arr:
        raw = np.zeros(2 * 4 * 6 * 4 + 64, np.uint8)
        for offset in (0, 16):  # a buffer at an odd place within its page, and one that is not
            out = raw[offset : offset + 2 * 4 * 6 * 4].view("int16").reshape(CHUNKS)
            for coords in [(0, 0, 0), (1, 0, 0), (2, 0, 0)]:  # stored, all-fill (absent), stored
                region = chunk_region(coords)
                arr.read_into(out, region)
                assert_values(out, data[region])
        assert arr.chunk_cache_usage()[0] == 0  # whole uncompressed chunks: read from the files
        assert_values(arr[0:3, 0:3, 0:3], data[0:3, 0:3, 0:3])
        assert arr.chunk_cache_usage()[0] == 0  # part of one: read from its file too
        arr.clear_chunk_cache()
        (path / "c/2/0/0").write_bytes(b"short")
        with pytest.raises(zarrs_cffi.CodecError, match=r"c/2/0/0"):
            arr.read_into(out, (slice(8, 12), slice(0, 6), slice(0, 4)))
