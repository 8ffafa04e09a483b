"""Direct decoding (zarrs-cffi's own decoder for ``bytes`` + zstd/gzip/blosc, optionally inside
``sharding_indexed``): the same values as zarr-python and as zarrs' codec pipeline for every read
path, the fallback for other chains, and corrupt stored bytes raise CodecError naming the file."""

from __future__ import annotations

import json
import pathlib
import struct
from collections.abc import Callable, Iterator
from typing import Any

import numcodecs
import numpy as np
import pytest
import zarr
from zarr.codecs import (
    BloscCodec,
    BytesCodec,
    Crc32cCodec,
    GzipCodec,
    ShardingCodec,
    TransposeCodec,
    ZstdCodec,
)
from zarr_oracle import assert_values, run_python, sample_data

import zarrs_cffi

SHAPE = (13, 11, 5)
CHUNKS = (4, 6, 4)  # stored chunks (shards when sharded): edge chunks on every axis
INNER = (2, 3, 2)


def _compressor(name: str) -> Any:
    return {
        "raw": None,
        "zstd": ZstdCodec(level=3, checksum=True),
        "gzip": GzipCodec(level=5),
        "blosc": BloscCodec(cname="lz4", shuffle="shuffle"),
    }[name]


def _layout(name: str, compressor: Callable[[str], Any] = _compressor) -> dict[str, Any]:
    """create_array arguments for a layout "<compressor>" or "sharded-<compressor>-<start|end>[-crc]"
    (``compressor`` turns a compressor's name into its codec)."""
    parts = name.split("-")
    if parts[0] != "sharded":
        return {"compressors": compressor(parts[0])}
    inner = [BytesCodec()] + ([] if parts[1] == "raw" else [compressor(parts[1])])
    index = [BytesCodec()] + ([Crc32cCodec()] if "crc" in parts else [])
    return {
        "compressors": None,
        "serializer": ShardingCodec(
            chunk_shape=INNER, codecs=inner, index_codecs=index, index_location=parts[2]
        ),
    }


LAYOUTS = [
    "raw",
    "zstd",
    "gzip",
    "blosc",
    "sharded-zstd-end",
    "sharded-gzip-start-crc",
    "sharded-raw-end-crc",
    "sharded-blosc-start",
]
FILLS = {"uint8": 3, "int16": -7, "float32": 1.5, "float64": -2.25, "complex64": 1 + 2j, "bool": True}


def make_array(path: pathlib.Path, layout: str, dtype: str = "int16") -> np.ndarray:
    """Write an array with missing chunks (and missing inner chunks) and return its contents as
    zarr-python reads them."""
    fill = FILLS[dtype]
    data = sample_data(dtype, SHAPE, seed=len(layout))
    data[4:8] = fill  # whole stored chunks equal to the fill value: not written
    data[9:11, 0:3] = fill  # inner chunks equal to the fill value: empty in the shard index
    z = zarr.create_array(
        store=str(path), shape=SHAPE, chunks=CHUNKS, dtype=dtype, fill_value=fill, **_layout(layout)
    )
    z[0:12] = data[0:12]  # the last row of chunks stays unwritten
    return np.asarray(z[...])


@pytest.fixture(autouse=True)
def direct_on() -> Iterator[None]:
    previous = zarrs_cffi.set_direct_decoding(True)
    yield
    zarrs_cffi.set_direct_decoding(previous)


def regions() -> list[tuple[slice, ...]]:
    return [
        (slice(None),) * 3,  # everything: several shards, read whole
        (slice(1, 12), slice(2, 10), slice(1, 4)),  # unaligned, many chunks
        (slice(3, 9), slice(5, 7), slice(0, 5)),  # small, across chunk edges
        (slice(12, 13), slice(0, 11), slice(4, 5)),  # edge chunks only
    ]


def read_everything(path: str) -> list[np.ndarray]:
    """The array through every read path: regions, stored chunks, a cached chunk-by-chunk scan
    and cached small regions."""
    results = []
    with zarrs_cffi.open_array(path) as arr:
        for region in regions():
            results.append(arr[region])
            out = np.zeros(results[-1].shape, arr.dtype)
            arr.read_into(out, region)
            results.append(out)
        grid = [-(-n // c) for n, c in zip(SHAPE, CHUNKS, strict=True)]
        results.extend(arr.read_chunk(coords) for coords in np.ndindex(*grid))
    with zarrs_cffi.open_array(path, chunk_cache_bytes=1 << 20) as arr:
        for start in np.ndindex(*[-(-n // 2) for n in SHAPE]):
            results.append(arr[tuple(slice(2 * s, 2 * s + 2) for s in start)])
        for start in np.ndindex(4, 4, 2):
            results.append(arr[tuple(slice(3 * s, 3 * s + 3) for s in start)])
    return results


@pytest.mark.parametrize("layout", LAYOUTS)
def test_direct_reads_match_zarr_python_and_zarrs(tmp_path: pathlib.Path, layout: str) -> None:
    path = tmp_path / "a.zarr"
    expected = make_array(path, layout)
    with zarrs_cffi.open_array(path) as arr:
        assert arr.decodes_directly
        for region in regions():
            assert_values(arr[region], expected[region])
        assert_values(arr.read(), expected)
    direct = read_everything(str(path))
    zarrs_cffi.set_direct_decoding(False)
    with zarrs_cffi.open_array(path) as arr:
        assert not arr.decodes_directly
    pipeline = read_everything(str(path))
    assert len(direct) == len(pipeline)
    for ours, theirs in zip(direct, pipeline, strict=True):
        assert_values(ours, theirs)


@pytest.mark.parametrize("dtype", sorted(FILLS))
@pytest.mark.parametrize("layout", ["zstd", "sharded-blosc-start"])
def test_direct_reads_every_plain_dtype(tmp_path: pathlib.Path, layout: str, dtype: str) -> None:
    path = tmp_path / "a.zarr"
    expected = make_array(path, layout, dtype)
    with zarrs_cffi.open_array(path, chunk_cache_bytes=1 << 20) as arr:
        assert arr.decodes_directly
        assert_values(arr.read(), expected)
        assert_values(arr[1:12, 2:10, 1:4], expected[1:12, 2:10, 1:4])
        assert_values(arr[3:5, 4:6, 1:3], expected[3:5, 4:6, 1:3])  # through the cache


def parts_of_single_chunks(
    rng: np.random.Generator, count: int, chunks: tuple[int, ...] = CHUNKS
) -> Iterator[tuple[slice, ...]]:
    """Random regions each inside one chunk of shape ``chunks`` (edge chunks clipped)."""
    grid = [-(-n // c) for n, c in zip(SHAPE, chunks, strict=True)]
    for _ in range(count):
        region = []
        for g, c, n in zip(grid, chunks, SHAPE, strict=True):
            k = int(rng.integers(0, g))
            lo, hi = k * c, min((k + 1) * c, n)
            a = int(rng.integers(lo, hi))
            region.append(slice(a, int(rng.integers(a + 1, hi + 1))))
        yield tuple(region)


@pytest.mark.parametrize("dtype", ["int16", "float64", "bool"])
@pytest.mark.parametrize(
    "layout", ["zstd", "gzip", "blosc", "sharded-zstd-end", "sharded-gzip-start-crc", "sharded-raw-end-crc"]
)
def test_uncached_part_of_one_chunk(
    tmp_path: pathlib.Path, layout: str, dtype: str, restore_threads: None
) -> None:
    """A region inside one compressed chunk (or inner chunk of a shard), uncached: the chunk is
    decoded whole into scratch and the part copied out; interior, edge and absent (fill value)
    chunks, into buffers at offsets."""
    path = tmp_path / "a.zarr"
    expected = make_array(path, layout, dtype)
    rng = np.random.default_rng(len(layout) + len(dtype))
    with zarrs_cffi.open_array(path) as arr:
        assert arr.decodes_directly
        for threads in (1, 2):
            zarrs_cffi.set_num_threads(threads)
            for region in parts_of_single_chunks(rng, 60, INNER if layout.startswith("sharded") else CHUNKS):
                assert_values(arr[region], expected[region])
                shape = expected[region].shape
                backing = np.zeros(int(np.prod(shape)) + 3, arr.dtype)
                out = backing[3:].reshape(shape)  # 3 elements into its allocation
                arr.read_into(out, region)
                assert_values(out, expected[region])
                assert not backing[:3].any()  # nothing written before the buffer


@pytest.mark.parametrize("compressor", [None, "zstd", "gzip", "blosc"])
def test_zarr_v2_arrays_decode_directly(tmp_path: pathlib.Path, compressor: str | None) -> None:
    """Zarr v2 in C order without filters: chunks hold the compressor's format of the plain bytes."""
    path = tmp_path / "v2.zarr"
    data = sample_data("int16", SHAPE, seed=9)
    codecs = {
        None: None,
        "zstd": numcodecs.Zstd(level=1),
        "gzip": numcodecs.GZip(level=1),
        "blosc": numcodecs.Blosc(cname="lz4", shuffle=numcodecs.Blosc.SHUFFLE),
    }
    z = zarr.create_array(
        store=str(path),
        shape=SHAPE,
        chunks=CHUNKS,
        dtype="int16",
        fill_value=0,
        zarr_format=2,
        compressors=codecs[compressor],
    )
    z[: SHAPE[0] // 2] = data[: SHAPE[0] // 2]  # the rest stays absent: fill value
    expected = np.asarray(z[...])
    with zarrs_cffi.open_array(path) as arr:
        assert arr.decodes_directly
        assert_values(arr.read(), expected)
        rng = np.random.default_rng(4)
        for region in parts_of_single_chunks(rng, 20, CHUNKS):
            assert_values(arr[region], expected[region])
        previous = zarrs_cffi.set_direct_decoding(False)
        try:
            assert_values(arr.read(), expected)
        finally:
            zarrs_cffi.set_direct_decoding(previous)


def _rewrite_codecs(path: pathlib.Path, edit: Callable[[dict[str, Any]], None]) -> None:
    meta = path / "zarr.json"
    doc = json.loads(meta.read_text())
    edit(doc)
    meta.write_text(json.dumps(doc))


@pytest.mark.parametrize(
    "kind",
    [
        "big-endian",
        "transpose",
        "two-compressors",
        "crc32c-on-chunks",
        "v2-f-order",
        "inner-sharding-big-endian-index",
    ],
)
def test_other_chains_fall_back_to_zarrs(tmp_path: pathlib.Path, kind: str) -> None:
    path = tmp_path / "a.zarr"
    data = sample_data("int16", SHAPE, seed=3)
    kwargs: dict[str, Any] = {"compressors": None}
    if kind == "big-endian":
        kwargs = {"serializer": BytesCodec(endian="big"), "compressors": ZstdCodec()}
    elif kind == "transpose":
        kwargs = {"filters": [TransposeCodec(order=(2, 1, 0))], "compressors": ZstdCodec()}
    elif kind == "two-compressors":
        kwargs = {"compressors": [ZstdCodec(), GzipCodec()]}
    elif kind == "crc32c-on-chunks":
        kwargs = {"compressors": [ZstdCodec(), Crc32cCodec()]}
    elif kind == "v2-f-order":
        kwargs = {"zarr_format": 2, "compressors": None, "order": "F"}
    else:
        kwargs = {
            "compressors": None,
            "serializer": ShardingCodec(
                chunk_shape=INNER, codecs=[BytesCodec()], index_codecs=[BytesCodec(endian="big")]
            ),
        }
    z = zarr.create_array(store=str(path), shape=SHAPE, chunks=CHUNKS, dtype="int16", fill_value=0, **kwargs)
    z[...] = data
    with zarrs_cffi.open_array(path, chunk_cache_bytes=1 << 20) as arr:
        assert not arr.decodes_directly
        assert_values(arr.read(), data)
        assert_values(arr[3:5, 4:6, 1:3], data[3:5, 4:6, 1:3])


def test_set_direct_decoding_validates_and_reports_the_previous_setting() -> None:
    assert zarrs_cffi.set_direct_decoding(False) is True
    assert zarrs_cffi.set_direct_decoding(True) is False
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match="enabled must be a bool"):
        zarrs_cffi.set_direct_decoding(1)  # type: ignore[arg-type]


@pytest.mark.parametrize("flag", ["decodes_directly", "encodes_directly"])
def test_direct_flags_on_a_closed_array_and_the_zarr_engine(tmp_path: pathlib.Path, flag: str) -> None:
    path = tmp_path / "a.zarr"
    make_array(path, "zstd")
    arr = zarrs_cffi.open_array(path)
    arr.close()
    with pytest.raises(zarrs_cffi.ClosedError):
        _ = getattr(arr, flag)
    with zarrs_cffi.open_array(path, engine="zarr") as other:
        assert getattr(other, flag) is False


# -- corrupt stored bytes ---------------------------------------------------------------------------

SHARD_KEY = "c/0/0/0"
ENTRIES = int(np.prod([c // i for c, i in zip(CHUNKS, INNER, strict=True)]))


def _shard(path: pathlib.Path) -> pathlib.Path:
    return path / "c" / "0" / "0" / "0"


def _index_at(data: bytes, start: bool, crc: bool) -> int:
    size = ENTRIES * 16 + (4 if crc else 0)
    return 0 if start else len(data) - size


def _set_entry(path: pathlib.Path, start: bool, crc: bool, entry: int, offset: int, length: int) -> None:
    shard = _shard(path)
    data = bytearray(shard.read_bytes())
    at = _index_at(bytes(data), start, crc) + 16 * entry
    data[at : at + 16] = struct.pack("<QQ", offset, length)
    shard.write_bytes(bytes(data))


def _every_read_fails(path: pathlib.Path, match: str) -> None:
    """Whole reads (shard files read whole), small reads (index, then byte ranges) and cached
    reads of the damaged shard raise CodecError naming its key; other shards still read."""
    with zarrs_cffi.open_array(path) as arr:
        with pytest.raises(zarrs_cffi.CodecError, match=match) as info:
            arr.read()
        assert SHARD_KEY in str(info.value)
        with pytest.raises(zarrs_cffi.CodecError, match=match) as info:
            arr[0:4, 0:3, 0:2]  # two of the shard's eight inner chunks
        assert SHARD_KEY in str(info.value)
        arr[4:8, 6:11, 0:5]  # another shard is intact
    with zarrs_cffi.open_array(path, chunk_cache_bytes=1 << 20) as arr:
        with pytest.raises(zarrs_cffi.CodecError, match=match) as info:
            arr[0:2, 0:3, 0:2]
        assert SHARD_KEY in str(info.value)


def test_shard_index_checksum_mismatch(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "a.zarr"
    make_array(path, "sharded-gzip-start-crc")
    shard = _shard(path)
    data = bytearray(shard.read_bytes())
    data[3] ^= 0xFF  # inside the index (at the start)
    shard.write_bytes(bytes(data))
    _every_read_fails(path, "checksum")


@pytest.mark.parametrize(
    ("offset", "length", "match"),
    [
        (10**9, 8, "past the end"),  # beyond the file
        (0, 2**63, "shard index gives"),  # an absurd length, refused before any allocation
        (2**64 - 8, 16, "shard index gives"),  # offset + length overflows
    ],
)
def test_shard_index_pointing_outside_the_shard(
    tmp_path: pathlib.Path, offset: int, length: int, match: str
) -> None:
    path = tmp_path / "a.zarr"
    make_array(path, "sharded-zstd-end")
    _set_entry(path, start=False, crc=False, entry=0, offset=offset, length=length)
    _every_read_fails(path, match)


def test_shard_shorter_than_its_index(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "a.zarr"
    make_array(path, "sharded-zstd-end")
    _shard(path).write_bytes(b"\x01" * 20)
    _every_read_fails(path, "shorter than its index")


@pytest.mark.parametrize("layout", ["sharded-zstd-end", "sharded-blosc-start", "sharded-gzip-start-crc"])
def test_corrupt_inner_chunk(tmp_path: pathlib.Path, layout: str) -> None:
    path = tmp_path / "a.zarr"
    make_array(path, layout)
    start, crc = "start" in layout, "crc" in layout
    shard = _shard(path)
    data = bytearray(shard.read_bytes())
    at = _index_at(bytes(data), start, crc)
    offset, length = struct.unpack_from("<QQ", data, at)  # inner chunk 0 of the shard
    data[offset : offset + length] = b"\xa5" * length
    shard.write_bytes(bytes(data))
    _every_read_fails(path, "stored data is corrupt")


def _stream_of_length(tmp_path: pathlib.Path, layout: str, n: int) -> bytes:
    """A well-formed stored chunk of ``n`` int16 values."""
    other = tmp_path / f"other{n}.zarr"
    z = zarr.create_array(
        store=str(other), shape=(n,), chunks=(n,), dtype="int16", fill_value=0, **_layout(layout)
    )
    z[...] = np.arange(1, n + 1, dtype="int16")
    return (other / "c" / "0").read_bytes()


CORRUPTIONS = [
    (layout, damage)
    for layout in ("zstd", "gzip", "blosc")
    for damage in ("garbage", "truncated", "shorter", "longer", "checksum")
    if (layout, damage) != ("blosc", "checksum")  # blosc stores no checksum
]


@pytest.mark.parametrize(("layout", "damage"), CORRUPTIONS)
def test_corrupt_chunk(tmp_path: pathlib.Path, layout: str, damage: str) -> None:
    path = tmp_path / "a.zarr"
    expected = make_array(path, layout)
    chunk = path / "c" / "0" / "0" / "0"
    stored = chunk.read_bytes()
    chunk_values = int(np.prod(CHUNKS))
    if damage == "garbage":
        chunk.write_bytes(b"\x5a" * len(stored))
    elif damage == "truncated":
        chunk.write_bytes(stored[: len(stored) // 2])
    elif damage in ("shorter", "longer"):
        # A well-formed stream of another chunk's size: decodes, but to the wrong length.
        n = 3 if damage == "shorter" else chunk_values + 1
        chunk.write_bytes(_stream_of_length(tmp_path, layout, n))
    else:
        # The stream decodes to the right length, but its checksum (zstd: content checksum,
        # the last 4 bytes; gzip: the CRC-32 before the length) does not match.
        at = len(stored) - (4 if layout == "zstd" else 8)
        chunk.write_bytes(stored[:at] + bytes([stored[at] ^ 0xFF]) + stored[at + 1 :])
    for cache in (0, 1 << 20):
        with zarrs_cffi.open_array(path, chunk_cache_bytes=cache) as arr:
            with pytest.raises(zarrs_cffi.CodecError, match="c/0/0/0"):
                arr[0:8, 0:8, 0:5]  # several chunks: the direct path
            with pytest.raises(zarrs_cffi.CodecError, match="c/0/0/0"):
                arr[0:2, 0:2, 0:2]
            assert_values(arr[4:13, 6:11], expected[4:13, 6:11])


def test_a_repaired_shard_reads_again_through_the_same_cache(tmp_path: pathlib.Path) -> None:
    """A failed shard load is not remembered (only good shard indexes are kept until a clear)."""
    path = tmp_path / "a.zarr"
    expected = make_array(path, "sharded-gzip-start-crc")
    shard = _shard(path)
    good = shard.read_bytes()
    shard.write_bytes(bytes([good[0] ^ 0xFF]) + good[1:])
    with zarrs_cffi.open_array(path, chunk_cache_bytes=1 << 20) as arr:
        with pytest.raises(zarrs_cffi.CodecError, match="checksum"):
            arr[0:2, 0:3, 0:2]
        shard.write_bytes(good)
        assert_values(arr[0:2, 0:3, 0:2], expected[0:2, 0:3, 0:2])


@pytest.mark.parametrize("layout", ["raw", "zstd", "sharded-raw-end-crc", "sharded-zstd-end"])
def test_direct_reads_through_an_upstream_store(tmp_path: pathlib.Path, layout: str) -> None:
    """A store from upstream's zarrsCreateStorageFilesystem is read through zarrs' storage API
    (not this library's file reads), with the same results."""
    from zarrs_cffi._native import ffi, lib

    path = tmp_path / "a.zarr"
    expected = make_array(path, layout)
    storage = ffi.new("ZarrsStorage *")
    assert lib.zarrsCreateStorageFilesystem(str(path).encode(), storage) == 0
    out = ffi.new("ZarrsArray *")
    try:
        assert lib.zarrsOpenArrayRW(storage[0], b"/", out) == 0
    finally:
        lib.zarrsDestroyStorage(storage[0])
    with zarrs_cffi.Array.from_handle(out[0], owned=True, root=str(path)) as arr:
        assert arr.decodes_directly  # through zarrs' storage API: no files known
        assert_values(arr.read(), expected)
        for region in regions():
            assert_values(arr[region], expected[region])
        arr.enable_chunk_cache(1 << 20)
        assert_values(arr[0:4, 0:3, 0:2], expected[0:4, 0:3, 0:2])


@pytest.mark.parametrize("layout", ["raw", "zstd", "sharded-zstd-end"])
def test_a_stored_value_larger_than_memory_is_refused(tmp_path: pathlib.Path, layout: str) -> None:
    """A (sparse) 64 GiB chunk or shard file: CodecError, not an allocation that aborts. Run in
    a child process, so a regression fails this test instead of killing the run."""
    path = tmp_path / "a.zarr"
    make_array(path, layout)
    with open(path / "c" / "0" / "0" / "0", "r+b") as f:
        f.truncate(64 << 30)
    code = """
        import sys, zarrs_cffi
        with zarrs_cffi.open_array(sys.argv[1]) as arr:
            # Several chunks, then part of one chunk or inner chunk.
            for region in ((slice(0, 8), slice(0, 8)), (slice(0, 2), slice(0, 3), slice(0, 2))):
                try:
                    arr[region]
                except (zarrs_cffi.CodecError, zarrs_cffi.StorageError) as e:
                    assert "c/0/0/0" in str(e), e
                    print("refused:", type(e).__name__, e)
                else:
                    print("read")
    """
    run = run_python(code, str(path))
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("refused: CodecError"), run.stdout
    # The one-chunk read too: a part of an uncompressed chunk is read from the file only after
    # its size was checked (as for any wrong-size uncompressed chunk).
    assert lines[1].startswith("refused: CodecError" if layout == "raw" else "refused:"), run.stdout


@pytest.mark.parametrize("page_position", [0, 2, 16, 30, 4094])
def test_large_uncompressed_chunks_into_buffers_at_page_positions(
    tmp_path: pathlib.Path, page_position: int, restore_threads: None
) -> None:
    """Whole uncompressed chunks of 410 KiB (read in 128 KiB pieces by the caller and a helper
    with two threads, in one read with one; a last piece and copy block of odd length) into
    buffers starting 0-4094 bytes into a memory page: on CPUs with the slow relative alignment
    (AMD Zen 1-4) those 1-31 bytes in go through an aligned buffer and a copy in small blocks."""
    path = tmp_path / "a.zarr"
    shape, chunks = (600, 700), (300, 700)  # 420,000-byte chunks: not a multiple of the blocks
    data = sample_data("uint16", shape, seed=11)
    zarr.create_array(store=str(path), shape=shape, chunks=chunks, dtype="uint16", compressors=None)[...] = (
        data
    )
    nbytes = 300 * 700 * 2
    backing = np.zeros(nbytes + 3 * 4096, np.uint8)
    start = 4096 + (page_position - backing.ctypes.data) % 4096
    out = backing[start : start + nbytes].view(np.uint16).reshape(300, 700)
    assert out.ctypes.data % 4096 == page_position
    with zarrs_cffi.open_array(path) as arr:
        assert arr.decodes_directly
        for threads in (1, 2):
            zarrs_cffi.set_num_threads(threads)
            for row in (0, 300):
                region = (slice(row, row + 300), slice(0, 700))
                backing[:] = 0
                arr.read_into(out, region)
                np.testing.assert_array_equal(out, data[region])
                assert not backing[:start].any() and not backing[start + nbytes :].any()
