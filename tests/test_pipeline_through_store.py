"""The codec pipeline on stores the native library cannot open (MemoryStore, user stores): zarr's
store moves the chunk bytes, the native library decodes and encodes them. Checked against zarr's
own pipeline on the same data, byte for byte where the encoding is deterministic; and the chunk
codec calls of ``Array`` (``decode_chunk`` / ``encode_chunk``) with their bad inputs."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import zarr
from zarr.core.codec_pipeline import BatchedCodecPipeline
from zarr.storage import MemoryStore

import zarrs_cffi
from zarrs_cffi.array import Array
from zarrs_cffi.errors import NotAnArrayError

OURS = "zarrs_cffi.ZarrsCffiCodecPipeline"
ZARRS_IO = (BatchedCodecPipeline.read, BatchedCodecPipeline.write)  # before any test patches them


@pytest.fixture
def ours() -> Iterator[None]:
    with zarr.config.set({"codec_pipeline.path": OURS}):
        yield


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count native chunk decodes and encodes, and refuse zarr's own chunk I/O."""
    calls = {"decode": 0, "encode": 0}
    decode, encode = Array.decode_chunk, Array.encode_chunk

    def counting_decode(self: Array, *args: Any, **kwargs: Any) -> Any:
        calls["decode"] += 1
        return decode(self, *args, **kwargs)

    def counting_encode(self: Array, *args: Any, **kwargs: Any) -> Any:
        calls["encode"] += 1
        return encode(self, *args, **kwargs)

    async def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("chunk I/O went through zarr's BatchedCodecPipeline")

    monkeypatch.setattr(Array, "decode_chunk", counting_decode)
    monkeypatch.setattr(Array, "encode_chunk", counting_encode)
    monkeypatch.setattr(BatchedCodecPipeline, "read", refuse)
    monkeypatch.setattr(BatchedCodecPipeline, "write", refuse)
    return calls


LAYOUTS: dict[str, dict[str, Any]] = {
    "raw": {"compressors": None},
    "zstd": {"compressors": [zarr.codecs.ZstdCodec(level=3)]},
    "gzip": {"compressors": [zarr.codecs.GzipCodec(level=5)]},
    "blosc": {"compressors": [zarr.codecs.BloscCodec(cname="lz4", shuffle="shuffle")]},
    "v2": {"zarr_format": 2},
}


def _pair(layout: str, dtype: str = "int32") -> tuple[zarr.Array, zarr.Array]:
    """The same array in two MemoryStores: one with zarr's pipeline, one with ours."""
    kwargs = {"shape": (23, 41), "chunks": (6, 10), "dtype": dtype, "fill_value": 7, **LAYOUTS[layout]}
    theirs = zarr.create_array(MemoryStore(), **kwargs)
    with zarr.config.set({"codec_pipeline.path": OURS}):
        mine = zarr.create_array(MemoryStore(), **kwargs)
    return theirs, mine


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_reads_and_writes_match_zarrs_pipeline(layout: str, counted: dict[str, int]) -> None:
    theirs, mine = _pair(layout)
    assert mine._async_array.codec_pipeline.fallback_reason is None
    rng = np.random.default_rng(5)
    data = rng.integers(-1000, 1000, size=(23, 41), dtype="int32")
    writes: list[tuple[Any, Any]] = [
        ((slice(None), slice(None)), data),
        ((slice(3, 17), slice(5, 33)), -data[3:17, 5:33]),  # partial chunks: read-modify-write
        ((slice(0, 6), slice(0, 10)), 7),  # one whole chunk back to the fill value: deleted
        ((20, slice(None, None, 3)), np.arange(14, dtype="int32")),  # strided, a dropped axis
    ]
    for selection, value in writes:
        mine[selection] = value
        with BatchedOk():
            theirs[selection] = value
            expected = theirs[...]
        np.testing.assert_array_equal(mine[...], expected)
    assert counted["encode"] > 0 and counted["decode"] > 0
    # The stores hold the same keys (the fill-value chunk deleted in both)...
    assert sorted(_keys(mine)) == sorted(_keys(theirs))
    assert "c/0/0" not in _keys(mine) and "0.0" not in _keys(mine)
    # ...and zarr's pipeline reads what ours wrote.
    with BatchedOk():
        reread = zarr.open_array(mine.store, mode="r")
        np.testing.assert_array_equal(reread[...], expected)


@pytest.mark.parametrize("layout", ["zstd", "blosc", "v2"])
def test_selections_match_numpy(layout: str, counted: dict[str, int]) -> None:
    _, mine = _pair(layout, dtype="float64")
    data = np.random.default_rng(1).normal(size=(23, 41))
    mine[...] = data
    np.testing.assert_array_equal(mine[2:19:3, ::4], data[2:19:3, ::4])
    np.testing.assert_array_equal(mine.oindex[[0, 5, 22], [1, 40]], data[np.ix_([0, 5, 22], [1, 40])])
    np.testing.assert_array_equal(mine.vindex[[0, 5, 22], [1, 40, 3]], data[[0, 5, 22], [1, 40, 3]])
    np.testing.assert_array_equal(mine[data > 1], data[data > 1])
    np.testing.assert_array_equal(mine.blocks[1, 2], data[6:12, 20:30])
    out = zarr.core.buffer.default_buffer_prototype().nd_buffer.create(shape=(6, 41), dtype="float64")
    mine.get_basic_selection((slice(12, 18), slice(None)), out=out)
    np.testing.assert_array_equal(out.as_numpy_array(), data[12:18])


def test_sharded_arrays_go_to_zarrs_pipeline(ours: None, caplog: Any) -> None:
    """zarr's pipeline reads only the inner chunks a request needs, by range; ours would fetch the
    whole shard through the store."""
    z = zarr.create_array(MemoryStore(), shape=(8, 8), chunks=(2, 2), shards=(4, 4), dtype="uint8")
    z[:] = 3
    assert z[1:3, 5].tolist() == [3, 3]
    reason = z._async_array.codec_pipeline.fallback_reason
    assert "the array is sharded" in reason and "MemoryStore" in reason


def test_missing_chunks_read_as_the_fill_value(ours: None, counted: dict[str, int]) -> None:
    z = zarr.create_array(MemoryStore(), shape=(10,), chunks=(4,), dtype="float32", fill_value=np.nan)
    z[4:8] = 1.5
    assert np.isnan(z[[0, 9]]).all() and z[5] == 1.5
    assert counted["decode"] == 1  # only the stored chunk was decoded


def test_write_empty_chunks_stores_fill_value_chunks(ours: None, counted: dict[str, int]) -> None:
    z = zarr.create_array(
        MemoryStore(),
        shape=(8,),
        chunks=(4,),
        dtype="uint8",
        fill_value=0,
        config={"write_empty_chunks": True},
    )
    z[:] = 0
    assert sorted(_keys(z)) == ["c/0", "c/1"]
    z2 = zarr.create_array(MemoryStore(), shape=(8,), chunks=(4,), dtype="uint8", fill_value=0)
    z2[:] = 0
    assert _keys(z2) == []


@pytest.mark.parametrize("fill", [0.0, -0.0])
def test_negative_zero_is_not_the_fill_value(ours: None, counted: dict[str, int], fill: float) -> None:
    z = zarr.create_array(MemoryStore(), shape=(2,), chunks=(1,), dtype="float32", fill_value=fill)
    z[:] = -fill  # equal as numbers, not as stored bits: zarr stores it
    assert sorted(_keys(z)) == ["c/0", "c/1"]
    assert np.signbit(z[:]).tolist() == [not np.signbit(fill)] * 2


@pytest.mark.parametrize("fill", [0.0, -0.0])
def test_zarr_keeps_negative_zero_chunks_too(fill: float) -> None:
    """docs/zarr-pipeline.md: zarr's own pipeline stores them as well (it compares a zero fill
    value's bits)."""
    theirs = zarr.create_array(MemoryStore(), shape=(2,), chunks=(1,), dtype="float32", fill_value=fill)
    theirs[:] = -fill
    assert sorted(_keys(theirs)) == ["c/0", "c/1"]


def test_resized_arrays_keep_decoding(ours: None, counted: dict[str, int]) -> None:
    z = zarr.create_array(MemoryStore(), shape=(4,), chunks=(2,), dtype="int16")
    z[:] = [1, 2, 3, 4]
    z.append(np.array([5, 6, 7], dtype="int16"))  # new chunks beyond the first grid
    assert z[:].tolist() == [1, 2, 3, 4, 5, 6, 7]


def test_user_store_bytes_go_through_it(ours: None, counted: dict[str, int]) -> None:
    seen: list[str] = []

    class CountingStore(MemoryStore):
        async def get(self, key: str, *args: Any, **kwargs: Any) -> Any:
            seen.append(key)
            return await super().get(key, *args, **kwargs)

    z = zarr.create_array(CountingStore(), shape=(8, 8), chunks=(4, 4), dtype="uint16")
    z[:] = np.arange(64, dtype="uint16").reshape(8, 8)
    seen.clear()
    np.testing.assert_array_equal(z[4:, :4], np.arange(64).reshape(8, 8)[4:, :4])
    assert seen == ["c/1/0"]


@pytest.mark.parametrize("concurrency", [1, 3, 8])
def test_async_concurrency_bounds_the_fetches_through_a_python_store(
    ours: None, counted: dict[str, int], concurrency: int
) -> None:
    """zarr's ``async.concurrency`` caps the chunk gets (and sets) in flight on a Python store."""
    in_flight = {"now": 0, "most": 0}

    class SlowStore(MemoryStore):
        async def _held(self, call: Any) -> Any:
            in_flight["now"] += 1
            in_flight["most"] = max(in_flight["most"], in_flight["now"])
            try:
                await asyncio.sleep(0.005)  # long enough for every allowed request to start
                return await call
            finally:
                in_flight["now"] -= 1

        async def get(self, key: str, *args: Any, **kwargs: Any) -> Any:
            return await self._held(super().get(key, *args, **kwargs))

        async def set(self, key: str, value: Any) -> None:
            await self._held(super().set(key, value))

    data = np.arange(32 * 32, dtype="int32").reshape(32, 32)
    with zarr.config.set({"async.concurrency": concurrency}):
        z = zarr.create_array(SlowStore(), shape=data.shape, chunks=(4, 4), dtype="int32")
        in_flight["most"] = 0
        z[:] = data  # 64 chunks
        most_writing = in_flight["most"]
        in_flight["most"] = 0
        np.testing.assert_array_equal(z[:], data)
    assert in_flight["most"] == concurrency  # reached, never passed
    assert most_writing == concurrency
    assert counted["decode"] == 64 and counted["encode"] == 64


def test_corrupt_chunk_bytes_raise_codec_error(ours: None) -> None:
    store = MemoryStore()
    z = zarr.create_array(
        store, shape=(8,), chunks=(4,), dtype="int64", compressors=[zarr.codecs.ZstdCodec()]
    )
    z[:] = 3
    zarr.core.sync.sync(store.set("c/1", zarr.core.buffer.cpu.Buffer.from_bytes(b"not zstd at all")))
    assert z[:4].tolist() == [3] * 4
    with pytest.raises(zarrs_cffi.CodecError, match="chunk 'c/1' of memory://"):
        z[4:]


# -- Array.decode_chunk / encode_chunk --------------------------------------------------------------
@pytest.fixture
def array(tmp_path: Any) -> Iterator[zarrs_cffi.Array]:
    with zarrs_cffi.create_array(
        str(tmp_path / "a.zarr"),
        "/a",
        shape=(10, 6),
        chunks=(4, 6),
        dtype="uint16",
        fill_value=9,
        compressors="zstd",
    ) as arr:
        yield arr


def test_encode_then_decode_round_trips_and_matches_the_store(array: zarrs_cffi.Array) -> None:
    chunk = np.arange(24, dtype="uint16").reshape(4, 6)
    array.write_chunk((1, 0), chunk)
    stored = array.read_encoded_chunk((1, 0))
    assert stored is not None
    np.testing.assert_array_equal(array.decode_chunk((1, 0), stored), chunk)
    encoded = array.encode_chunk((1, 0), chunk)
    np.testing.assert_array_equal(array.decode_chunk((1, 0), encoded), chunk)
    out = np.empty((4, 6), dtype="uint16")
    assert array.decode_chunk((2, 0), memoryview(encoded), out=out) is out  # the edge chunk too
    np.testing.assert_array_equal(out, chunk)
    # A fill-value chunk is encoded (storing it or not is the caller's choice).
    assert (
        array.decode_chunk((0, 0), array.encode_chunk((0, 0), np.full((4, 6), 9))).tolist() == [[9] * 6] * 4
    )


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda a: a.decode_chunk((0, 0), b"garbage"), zarrs_cffi.CodecError, "decoding chunk"),
        (lambda a: a.decode_chunk((0, 0), 42), zarrs_cffi.InvalidArgumentError, "bytes-like"),
        (
            lambda a: a.decode_chunk((0, 0), np.zeros(64, "uint8")[::2]),
            zarrs_cffi.InvalidArgumentError,
            "encoded must be a C-contiguous buffer, got a non-contiguous ndarray",
        ),
        (
            lambda a: a.decode_chunk((0, 0), b"", out=np.empty((4, 5), "uint16")),
            zarrs_cffi.OutputBufferError,
            "shape",
        ),
        (
            lambda a: a.decode_chunk((0, 0), b"", out=np.empty((4, 6), "int16")),
            zarrs_cffi.DataTypeMismatchError,
            "dtype",
        ),
        (
            lambda a: a.decode_chunk((0, 0), b"", out=np.empty((6, 4), "uint16").T),
            zarrs_cffi.OutputBufferError,
            "C-contiguous",
        ),
        (lambda a: a.decode_chunk((0, 0), b"", out=[0] * 24), NotAnArrayError, "numpy.ndarray"),
        (lambda a: a.decode_chunk((3, 0), b""), zarrs_cffi.InvalidIndicesError, "outside"),
        (lambda a: a.decode_chunk((0,), b""), zarrs_cffi.ChunkCoordsLengthError, None),
        (lambda a: a.encode_chunk((0, 0), np.zeros((4, 5))), zarrs_cffi.InvalidArgumentError, "shape"),
        (lambda a: a.encode_chunk(("x", 0), np.zeros((4, 6))), zarrs_cffi.ChunkCoordsTypeError, None),
    ],
)
def test_bad_input_raises_typed_errors(
    array: zarrs_cffi.Array, call: Any, error: type, match: str | None
) -> None:
    with pytest.raises(error, match=match):
        call(array)


def _read_only_chunk() -> np.ndarray:
    out = np.empty((4, 6), "uint16")
    out.setflags(write=False)
    return out


@pytest.mark.parametrize(
    "out",
    [
        np.empty((4, 6), "int32"),
        np.empty((4, 6), "uint16", order="F"),
        np.empty((4, 12), "uint16")[:, ::2],
        _read_only_chunk(),
        np.empty((6, 4), "uint16"),
        [0] * 24,
        bytearray(48),
    ],
    ids=["dtype", "fortran", "strided", "read-only", "shape", "list", "bytearray"],
)
def test_decode_chunk_checks_out_as_read_chunk_does(array: zarrs_cffi.Array, out: Any) -> None:
    """Both decode one whole chunk into ``out``: the same check, the same class and message."""
    encoded = array.encode_chunk((0, 0), np.ones((4, 6)))
    with pytest.raises(zarrs_cffi.ZarrsError) as read_error:
        array.read_chunk((0, 0), out=out)
    with pytest.raises(zarrs_cffi.ZarrsError) as decode_error:
        array.decode_chunk((0, 0), encoded, out=out)
    assert type(decode_error.value) is type(read_error.value)
    assert str(decode_error.value) == str(read_error.value)
    assert isinstance(decode_error.value, (zarrs_cffi.OutputBufferError, zarrs_cffi.DataTypeMismatchError))


def test_closed_array_raises(array: zarrs_cffi.Array) -> None:
    encoded = array.encode_chunk((0, 0), np.zeros((4, 6)))
    array.close()
    with pytest.raises(zarrs_cffi.ClosedError):
        array.decode_chunk((0, 0), encoded)


# -- helpers ---------------------------------------------------------------------------------------
class BatchedOk:
    """A block where zarr's own pipeline may run although the ``counted`` fixture refuses it."""

    def __enter__(self) -> None:
        self.saved = BatchedCodecPipeline.read, BatchedCodecPipeline.write
        BatchedCodecPipeline.read, BatchedCodecPipeline.write = ZARRS_IO  # type: ignore[method-assign]

    def __exit__(self, *exc: object) -> None:
        BatchedCodecPipeline.read, BatchedCodecPipeline.write = self.saved  # type: ignore[method-assign]


def _keys(z: zarr.Array) -> list[str]:
    """The chunk keys in an array's MemoryStore."""
    return [k for k in z.store._store_dict if not k.endswith((".json", ".zarray", ".zattrs"))]
