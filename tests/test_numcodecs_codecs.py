"""numcodecs codecs zarrs lacks, as zarr-python writes them.

Zarr v3 arrays written with ``zarr.codecs.numcodecs`` name their codecs ``numcodecs.<id>``;
``zstd``, ``gzip``, ``blosc``, ``crc32c``, ``crc32`` and ``lz4`` under those names could not be
opened. Zarr v2 arrays with numcodecs' ``LZ4`` compressor or the ``crc32`` / ``crc32c`` filters
could not either. Each now reads what zarr-python wrote, and what zarrs-cffi writes reads back in
zarr-python (the oracle), through both CRUD engines.
"""

from __future__ import annotations

import json
import pathlib
import shutil
from typing import Any

import numcodecs
import numpy as np
import pytest
import zarr
import zarr.codecs.numcodecs as nc

import zarrs_cffi
from zarrs_cffi import crud

pytestmark = pytest.mark.filterwarnings("ignore:Numcodecs codecs are not in the Zarr version 3")

V3_CODECS = {
    "zstd": lambda: nc.Zstd(),
    "zstd-level-checksum": lambda: nc.Zstd(level=7, checksum=True),
    "gzip": lambda: nc.GZip(),
    "gzip-level": lambda: nc.GZip(level=9),
    "blosc": lambda: nc.Blosc(),
    "blosc-zstd-bitshuffle": lambda: nc.Blosc(cname="zstd", clevel=3, shuffle=2),
    "blosc-autoshuffle": lambda: nc.Blosc(shuffle=-1),
    "crc32c": lambda: nc.CRC32C(),
    "crc32c-start": lambda: nc.CRC32C(location="start"),
    "crc32": lambda: nc.CRC32(),
    "crc32-end": lambda: nc.CRC32(location="end"),
    "lz4": lambda: nc.LZ4(),
    "lz4-acceleration": lambda: nc.LZ4(acceleration=10),
    # zarrs' own numcodecs names, for the documented list.
    "zlib": lambda: nc.Zlib(level=3),
    "bz2": lambda: nc.BZ2(level=2),
    # Stored as {} (numcodecs' default level): zarrs' own codecs refused that.
    "zlib-default": lambda: nc.Zlib(),
    "bz2-default": lambda: nc.BZ2(),
    "adler32": lambda: nc.Adler32(),
    "fletcher32": lambda: nc.Fletcher32(),
    "shuffle": lambda: nc.Shuffle(elementsize=4),
}

V2_COMPRESSORS = {
    "lz4": lambda: numcodecs.LZ4(),
    "lz4-acceleration": lambda: numcodecs.LZ4(acceleration=5),
    "crc32c": lambda: numcodecs.CRC32C(),
    "crc32": lambda: numcodecs.CRC32(),
    "crc32-end": lambda: numcodecs.CRC32(location="end"),
}

SHAPE, CHUNKS = (30, 20), (8, 7)


def sample(dtype: str = "int32") -> np.ndarray[Any, Any]:
    rng = np.random.default_rng(7)
    return (rng.integers(0, 50, size=SHAPE) * np.arange(SHAPE[1])).astype(dtype)


def written_by_zarr(
    path: pathlib.Path, zarr_format: int, codec: Any, dtype: str = "int32"
) -> np.ndarray[Any, Any]:
    arr = zarr.create_array(
        str(path), shape=SHAPE, chunks=CHUNKS, dtype=dtype, zarr_format=zarr_format,
        compressors=[codec], filters=None, fill_value=0,
    )  # fmt: skip
    data = sample(dtype)
    arr[...] = data
    return data


@pytest.mark.parametrize("name", V3_CODECS)
def test_v3_numcodecs_names_read_and_write(tmp_path: pathlib.Path, name: str) -> None:
    path = tmp_path / "a.zarr"
    data = written_by_zarr(path, 3, V3_CODECS[name]())
    stored = json.loads((path / "zarr.json").read_text())["codecs"][-1]["name"]
    assert stored.startswith("numcodecs."), stored
    np.testing.assert_array_equal(zarrs_cffi.read(str(path)), data)
    with zarrs_cffi.open_array(str(path)) as arr:
        np.testing.assert_array_equal(arr[3:17, 5:], data[3:17, 5:])
        # A partial write (read-modify-write of the chunks it touches) and a whole-chunk one.
        arr[2:11, 4:9] = -1
        arr[8:16, 7:14] = 5
    data[2:11, 4:9] = -1
    data[8:16, 7:14] = 5
    np.testing.assert_array_equal(zarr.open_array(str(path))[...], data)


def test_v3_numcodecs_bitround_filter(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "a.zarr"
    arr = zarr.create_array(
        str(path), shape=SHAPE, chunks=CHUNKS, dtype="float32", filters=[nc.BitRound(keepbits=6)]
    )
    arr[...] = sample("float32") / 7
    np.testing.assert_array_equal(zarrs_cffi.read(str(path)), arr[...])
    zarrs_cffi.write(str(path), (slice(0, 4), slice(None)), np.float32(1 / 3))
    np.testing.assert_array_equal(zarr.open_array(str(path))[:4], zarrs_cffi.read(str(path), (slice(0, 4),)))
    assert zarrs_cffi.read(str(path), (0, 0)) != np.float32(1 / 3)  # rounded to 6 mantissa bits


@pytest.mark.parametrize(
    ("dtype", "astype"),
    [("float32", "int16"), ("<f4", "<i2"), ("f4", "u1"), ("<f4", "|u1"), ("float32", "uint8")],
)
def test_v3_fixedscaleoffset_with_numpy_type_names(tmp_path: pathlib.Path, dtype: str, astype: str) -> None:
    """zarr-python stores the names the user passed; numpy's names ("float32") read as type strings."""
    path = tmp_path / "a.zarr"
    arr = zarr.create_array(
        str(path), shape=(20,), chunks=(7,), dtype="float32",
        filters=[nc.FixedScaleOffset(offset=1, scale=10, dtype=dtype, astype=astype)],
    )  # fmt: skip
    arr[...] = np.linspace(1, 5, 20)
    np.testing.assert_array_equal(zarrs_cffi.read(str(path)), arr[...])
    zarrs_cffi.write(str(path), (slice(0, 3),), np.float32(2.345))
    np.testing.assert_array_equal(zarr.open_array(str(path))[:3], np.float32(2.3))


def test_v2_fixedscaleoffset_to_uint8_and_int8(tmp_path: pathlib.Path) -> None:
    """numcodecs stores astype uint8 as "|u1" (zarrs read only "u1") and int8 as "|i1" (zarrs'
    own fixedscaleoffset lacks int8): both read as zarr-python reads them."""
    for astype, spelled in [("u1", "|u1"), ("i1", "|i1")]:
        path = tmp_path / f"{astype}.zarr"
        fso = numcodecs.FixedScaleOffset(offset=1, scale=10, dtype="<f4", astype=astype)
        arr = zarr.create_array(str(path), shape=(20,), chunks=(7,), dtype="f4", zarr_format=2, filters=[fso])
        arr[...] = np.linspace(1, 5, 20)
        assert json.loads((path / ".zarray").read_text())["filters"][0]["astype"] == spelled
        np.testing.assert_array_equal(zarrs_cffi.read(str(path)), arr[...])


@pytest.mark.parametrize("zarr_format", [2, 3])
@pytest.mark.parametrize(
    ("dtype", "astype"),
    [
        ("<i8", None),
        ("<i8", "<i2"),
        ("|u1", None),
        ("<u4", "<i1"),
        ("<f4", None),
        ("<f8", None),
        ("<f2", None),  # differences and sums rounded in float16, as numpy computes them
        ("int16", None),
    ],
)
def test_delta_filter(tmp_path: pathlib.Path, zarr_format: int, dtype: str, astype: str | None) -> None:
    """numcodecs' Delta: first element, then differences (wrapping for integers), as astype.
    Float deltas round, so the oracle is zarr-python making the same write on a copy."""
    ours, theirs = tmp_path / "ours.zarr", tmp_path / "theirs.zarr"
    array_dtype = np.dtype(dtype)
    config: dict[str, Any] = {"dtype": dtype} if astype is None else {"dtype": dtype, "astype": astype}
    delta = numcodecs.Delta(**config) if zarr_format == 2 else nc.Delta(**config)
    arr = zarr.create_array(
        str(ours), shape=SHAPE, chunks=CHUNKS, dtype=array_dtype, zarr_format=zarr_format,
        filters=[delta], compressors=None, fill_value=0,
    )  # fmt: skip
    rng = np.random.default_rng(3)
    if array_dtype.kind == "f":
        data = rng.normal(size=SHAPE).astype(array_dtype)
    else:  # small steps when astype is narrower than dtype
        data = np.cumsum(rng.integers(0, 4 if astype else 200, size=SHAPE), axis=1).astype(array_dtype)
    arr[...] = data
    shutil.copytree(ours, theirs)
    np.testing.assert_array_equal(zarrs_cffi.read(str(ours)), arr[...])
    value = np.ascontiguousarray(arr[3:9, 2:16][::-1])
    zarrs_cffi.write(str(ours), (slice(3, 9), slice(2, 16)), value)
    zarr.open_array(str(theirs))[3:9, 2:16] = value
    np.testing.assert_array_equal(zarr.open_array(str(ours))[...], zarr.open_array(str(theirs))[...])
    np.testing.assert_array_equal(zarrs_cffi.read(str(ours)), zarr.open_array(str(theirs))[...])


def test_delta_refuses_a_first_value_astype_cannot_hold(tmp_path: pathlib.Path) -> None:
    """numcodecs stores a chunk's first value as astype with numpy's item assignment, which raises
    OverflowError for 300 into int8: the write is refused here too (it stored 44 and read 44)."""
    path = tmp_path / "a.zarr"
    arr = zarr.create_array(
        str(path), shape=(4,), chunks=(2,), dtype="i8", zarr_format=2, compressors=None,
        filters=[numcodecs.Delta(dtype="i8", astype="i1")],
    )  # fmt: skip
    with pytest.raises(OverflowError):
        arr[:2] = [300, 301]  # the oracle
    with pytest.raises(zarrs_cffi.CodecError, match="first value 300 is out of bounds for astype int8"):
        zarrs_cffi.write(str(path), (slice(0, 2),), np.array([300, 301]))
    assert not (path / "0").exists()
    data = np.array([100, 400, -128, 127])
    zarrs_cffi.write(str(path), (slice(0, 4),), data)  # the differences wrap (lossy, as numcodecs)
    delta = numcodecs.Delta(dtype="i8", astype="i1")
    expected = np.concatenate([delta.decode(delta.encode(data[:2])), delta.decode(delta.encode(data[2:]))])
    np.testing.assert_array_equal(zarr.open_array(str(path))[...], expected)
    assert expected.tolist() == [100, 144, -128, -129]


def test_delta_pairs_numcodecs_does_differently_are_refused(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "a.zarr"
    arr = zarr.create_array(
        str(path),
        shape=(8,),
        chunks=(4,),
        dtype="f8",
        zarr_format=2,
        filters=[numcodecs.Delta("f8", astype="f4")],
    )
    arr[...] = 1.5
    with pytest.raises(zarrs_cffi.InvalidMetadataError, match=r"numcodecs\.delta"):
        zarrs_cffi.read(str(path))


def stored_files(path: pathlib.Path) -> dict[str, bytes]:
    return {str(f.relative_to(path)): f.read_bytes() for f in sorted(path.rglob("*")) if f.is_file()}


CAST_FILTERS = {
    # Quantize: round to a power-of-two fraction keeping `digits` decimals, then store as astype.
    "quantize-f8": ("f8", lambda: numcodecs.Quantize(digits=2, dtype="f8"), lambda: nc.Quantize(digits=2)),
    "quantize-f4": ("f4", lambda: numcodecs.Quantize(digits=4, dtype="f4"), lambda: nc.Quantize(digits=4)),
    "quantize-f8-as-f4": (
        "f8",
        lambda: numcodecs.Quantize(digits=1, dtype="f8", astype="f4"),
        None,  # zarr-python's v3 wrapper keeps the array's type after quantize: astype is lost
    ),
    "quantize-negative-digits": ("f8", lambda: numcodecs.Quantize(digits=-1, dtype="f8"), None),
    # AsType: numpy's astype both ways.
    "astype-f8-as-f4": (
        "f8",
        lambda: numcodecs.AsType(encode_dtype="f4", decode_dtype="f8"),
        lambda: nc.AsType(encode_dtype="f4", decode_dtype="f8"),
    ),
    "astype-i8-as-i2": (
        "i8",
        lambda: numcodecs.AsType(encode_dtype="i2", decode_dtype="i8"),
        lambda: nc.AsType(encode_dtype="i2", decode_dtype="i8"),
    ),
    "astype-f4-as-u1": (
        "f4",
        lambda: numcodecs.AsType(encode_dtype="u1", decode_dtype="f4"),
        lambda: nc.AsType(encode_dtype="u1", decode_dtype="f4"),
    ),
    "astype-u8-as-f8": ("u8", lambda: numcodecs.AsType(encode_dtype="f8", decode_dtype="u8"), None),
    # float16: quantized in float16 arithmetic (as numpy multiplies a float16 array), and cast to
    # and from it.
    "quantize-f2": ("f2", lambda: numcodecs.Quantize(digits=1, dtype="f2"), lambda: nc.Quantize(digits=1)),
    "astype-f8-as-f2": (
        "f8",
        lambda: numcodecs.AsType(encode_dtype="f2", decode_dtype="f8"),
        lambda: nc.AsType(encode_dtype="f2", decode_dtype="f8"),
    ),
    "astype-f2-as-i1": (
        "f2",
        lambda: numcodecs.AsType(encode_dtype="i1", decode_dtype="f2"),
        lambda: nc.AsType(encode_dtype="i1", decode_dtype="f2"),
    ),
    # FixedScaleOffset: np.around((x - offset) * scale) (half to even) cast to astype, wrapping;
    # decoded in float64 from integers, in the float type itself from floats.
    "fixedscaleoffset-f8-as-i4-ties": (
        "f8",
        lambda: numcodecs.FixedScaleOffset(offset=0, scale=1, dtype="f8", astype="i4"),
        lambda: nc.FixedScaleOffset(offset=0, scale=1, dtype="f8", astype="i4"),
    ),
    "fixedscaleoffset-f4-as-u1": (
        "f4",
        lambda: numcodecs.FixedScaleOffset(offset=1, scale=10, dtype="f4", astype="u1"),
        lambda: nc.FixedScaleOffset(offset=1, scale=10, dtype="f4", astype="u1"),
    ),
    "fixedscaleoffset-f8-as-i1": (
        "f8",
        lambda: numcodecs.FixedScaleOffset(offset=-2.5, scale=0.5, dtype="f8", astype="i1"),
        lambda: nc.FixedScaleOffset(offset=-2.5, scale=0.5, dtype="f8", astype="i1"),
    ),
    "fixedscaleoffset-f2-as-i2": (
        "f2",
        lambda: numcodecs.FixedScaleOffset(offset=0.1, scale=100, dtype="f2", astype="i2"),
        lambda: nc.FixedScaleOffset(offset=0.1, scale=100, dtype="f2", astype="i2"),
    ),
    "fixedscaleoffset-i4-as-i2": (
        "i4",
        lambda: numcodecs.FixedScaleOffset(offset=100, scale=2, dtype="i4", astype="i2"),
        lambda: nc.FixedScaleOffset(offset=100, scale=2, dtype="i4", astype="i2"),
    ),
    "fixedscaleoffset-i2-as-f4": (
        "i2",
        lambda: numcodecs.FixedScaleOffset(offset=0.5, scale=3.3, dtype="i2", astype="f4"),
        lambda: nc.FixedScaleOffset(offset=0.5, scale=3.3, dtype="i2", astype="f4"),
    ),
}


def cast_sample(dtype: str) -> np.ndarray[Any, Any]:
    rng = np.random.default_rng(11)
    if np.dtype(dtype).kind == "f":
        values = rng.normal(scale=40, size=SHAPE)
        values[0, :4] = [0.5, 1.5, -2.5, 300.7]  # halves to even; out of uint8's range
        return values.astype(dtype)
    if dtype == "u8":
        return (rng.integers(0, 2**62, size=SHAPE).astype("u8") * 3) | 1
    return rng.integers(-20000, 20000, size=SHAPE).astype(dtype)


@pytest.mark.parametrize(
    ("name", "zarr_format"),
    # zarr-python's v3 wrappers cannot write the filters without a v3 constructor here.
    [(name, 2) for name in CAST_FILTERS] + [(name, 3) for name, f in CAST_FILTERS.items() if f[2]],
)
def test_quantize_and_astype_filters(tmp_path: pathlib.Path, name: str, zarr_format: int) -> None:
    """Lossy filters: what zarr-python reads back of its own write is the oracle, and a write
    here stores the very bytes zarr-python stores for the same data (same casts, same rounding)."""
    dtype, v2_filter, v3_filter = CAST_FILTERS[name]
    ours, theirs = tmp_path / "ours.zarr", tmp_path / "theirs.zarr"
    arr = zarr.create_array(
        str(theirs), shape=SHAPE, chunks=CHUNKS, dtype=dtype, zarr_format=zarr_format,
        filters=[v2_filter() if zarr_format == 2 else v3_filter()],  # type: ignore[misc]
        compressors=None, fill_value=0,
    )  # fmt: skip
    data = cast_sample(dtype)
    shutil.copytree(theirs, ours)
    arr[...] = data
    expected = arr[...]
    assert not np.array_equal(expected, data) or dtype == "i8"  # the filter changed something
    np.testing.assert_array_equal(zarrs_cffi.read(str(theirs)), expected)
    zarrs_cffi.write(str(ours), ..., data)
    assert stored_files(ours) == stored_files(theirs)
    # A partial write: read-modify-write through the filter both ways, as zarr-python does it.
    value = np.ascontiguousarray(data[3:9, 2:16][::-1])
    zarrs_cffi.write(str(ours), (slice(3, 9), slice(2, 16)), value)
    zarr.open_array(str(theirs), mode="r+")[3:9, 2:16] = value
    assert stored_files(ours) == stored_files(theirs)


def test_cast_filters_refuse_what_numcodecs_refuses(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "a.zarr"
    zarr.create_array(
        str(path), shape=(8,), chunks=(4,), dtype="f8", zarr_format=2,
        filters=[numcodecs.Quantize(digits=2, dtype="f8")], compressors=None,
    )  # fmt: skip
    document = json.loads((path / ".zarray").read_text())
    for bad, message in [
        ({"id": "quantize", "dtype": "<i4", "digits": 2}, "only floating point"),
        ({"id": "quantize", "dtype": "<f8"}, "digits is missing"),
        ({"id": "astype", "encode_dtype": ">f4", "decode_dtype": "<f8"}, "unsupported data type"),
        ({"id": "astype", "decode_dtype": "<f8"}, "encode_dtype is missing"),
    ]:
        document["filters"] = [bad]
        (path / ".zarray").write_text(json.dumps(document))
        with pytest.raises(zarrs_cffi.InvalidMetadataError, match=rf"numcodecs\.{bad['id']}.*{message}"):
            zarrs_cffi.read(str(path))
    # A filter for another type than the array's: found when a stored chunk is decoded or encoded.
    document["filters"] = [{"id": "quantize", "dtype": "<f4", "digits": 2}]
    (path / ".zarray").write_text(json.dumps(document))
    (path / "0").write_bytes(np.arange(4, dtype="f4").tobytes())
    with pytest.raises(
        zarrs_cffi.CodecError, match=r"numcodecs\.quantize: .*float64 is not the filter's float32"
    ):
        zarrs_cffi.read(str(path))
    with pytest.raises(zarrs_cffi.CodecError, match=r"float64 is not the filter's float32"):
        zarrs_cffi.write(str(path), (slice(0, 4),), np.ones(4))
    assert (path / "0").read_bytes() == np.arange(4, dtype="f4").tobytes()  # left as it was


@pytest.mark.parametrize("name", V2_COMPRESSORS)
def test_v2_numcodecs_compressors_read_and_write(tmp_path: pathlib.Path, name: str) -> None:
    path = tmp_path / "a.zarr"
    data = written_by_zarr(path, 2, V2_COMPRESSORS[name]())
    np.testing.assert_array_equal(zarrs_cffi.read(str(path)), data)
    zarrs_cffi.write(str(path), (slice(20, 25), slice(None)), np.full((5, 20), 9, dtype="int32"))
    data[20:25] = 9
    np.testing.assert_array_equal(zarr.open_array(str(path))[...], data)
    np.testing.assert_array_equal(zarrs_cffi.read(str(path)), data)


def test_v2_lz4_chunks_are_numcodecs_lz4(tmp_path: pathlib.Path) -> None:
    """A chunk zarrs-cffi writes decodes with numcodecs' own LZ4 into the chunk's bytes."""
    path = tmp_path / "a.zarr"
    written_by_zarr(path, 2, numcodecs.LZ4())
    block = np.arange(56, dtype="int32").reshape(CHUNKS)
    zarrs_cffi.write(str(path), (slice(0, 8), slice(0, 7)), block)
    raw = numcodecs.LZ4().decode((path / "0.0").read_bytes())
    assert bytes(raw) == block.tobytes()


def test_v3_lz4_inside_shards(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "a.zarr"
    arr = zarr.create_array(
        str(path), shape=SHAPE, chunks=(4, 7), shards=(8, 14), dtype="int32", compressors=[nc.LZ4()]
    )
    data = sample()
    arr[...] = data
    np.testing.assert_array_equal(zarrs_cffi.read(str(path)), data)
    np.testing.assert_array_equal(zarrs_cffi.read(str(path), (slice(5, 6), 3)), data[5:6, 3])


@pytest.mark.parametrize("engine", ["cffi", "zarr"])
def test_crud_engines_agree_on_numcodecs_arrays(tmp_path: pathlib.Path, engine: str) -> None:
    """Created by the engine from a document with numcodecs codecs; zarr-python reads the result."""
    metadata = {
        "zarr_format": 3, "node_type": "array", "shape": list(SHAPE), "data_type": "int32",
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(CHUNKS)}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": 0,
        "codecs": [
            {"name": "bytes", "configuration": {"endian": "little"}},
            {"name": "numcodecs.lz4", "configuration": {"acceleration": 1}},
            {"name": "numcodecs.crc32", "configuration": {}},
        ],
        "attributes": {},
    }  # fmt: skip
    store = str(tmp_path / "s.zarr")
    crud.create_new_array(metadata, store, "a", engine=engine)
    data = sample()
    crud.write_region(metadata, store, "a", np.s_[:, :], data, engine=engine)
    np.testing.assert_array_equal(
        crud.read_region(metadata, store, "a", np.s_[1:29, 2:], engine=engine), data[1:29, 2:]
    )
    assert crud.read_metadata(store, "a", engine=engine)["codecs"] == metadata["codecs"]
    np.testing.assert_array_equal(zarr.open_array(store, path="a")[...], data)


@pytest.mark.parametrize("name", ["crc32", "crc32-end", "crc32c", "crc32c-start"])
def test_checksums_catch_a_flipped_byte(tmp_path: pathlib.Path, name: str) -> None:
    path = tmp_path / "a.zarr"
    written_by_zarr(path, 3, V3_CODECS[name]())
    chunk = path / "c" / "0" / "0"
    value = bytearray(chunk.read_bytes())
    value[len(value) // 2] ^= 0x5A
    chunk.write_bytes(bytes(value))
    with pytest.raises(zarrs_cffi.CodecError, match="checksum"):
        zarrs_cffi.read(str(path))
    chunk.write_bytes(bytes(value[:3]))  # shorter than the checksum
    with pytest.raises(zarrs_cffi.CodecError):
        zarrs_cffi.read(str(path))


def test_truncated_lz4_chunks_raise_a_typed_error(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "a.zarr"
    written_by_zarr(path, 3, nc.LZ4())
    chunk = path / "c" / "0" / "0"
    value = chunk.read_bytes()
    for cut in (value[:3], value[:-5]):  # shorter than its header; a block cut short
        chunk.write_bytes(cut)
        with pytest.raises(zarrs_cffi.CodecError, match="lz4"):
            zarrs_cffi.read(str(path))


def test_lz4_header_claiming_a_huge_chunk_is_refused(tmp_path: pathlib.Path) -> None:
    """The stated length is data: it must not decide an allocation (nor a crash)."""
    path = tmp_path / "a.zarr"
    written_by_zarr(path, 2, numcodecs.LZ4())
    chunk = path / "0.0"
    chunk.write_bytes((2**32 - 1).to_bytes(4, "little") + chunk.read_bytes()[4:])
    with pytest.raises(zarrs_cffi.CodecError, match="lz4"):
        zarrs_cffi.read(str(path))


@pytest.mark.parametrize(
    ("codec", "why"),
    [
        ({"name": "numcodecs.zstd", "configuration": {"level": "high"}}, "numcodecs.zstd"),
        ({"name": "numcodecs.blosc", "configuration": {"cname": "nope"}}, "numcodecs.blosc"),
        ({"name": "numcodecs.crc32", "configuration": {"location": "middle"}}, "numcodecs.crc32"),
        ({"name": "numcodecs.lzma", "configuration": {}}, "numcodecs.lzma"),
        ({"name": "numcodecs.jenkins_lookup3", "configuration": {}}, "numcodecs.jenkins_lookup3"),
        ({"name": "numcodecs.delta", "configuration": {"dtype": ">i4"}}, "numcodecs.delta"),
    ],
)
def test_bad_or_unknown_numcodecs_configurations_name_the_codec(
    tmp_path: pathlib.Path, codec: Any, why: str
) -> None:
    path = tmp_path / "a.zarr"
    written_by_zarr(path, 3, nc.Zstd())
    document = json.loads((path / "zarr.json").read_text())
    document["codecs"][-1] = codec
    (path / "zarr.json").write_text(json.dumps(document))
    with pytest.raises(zarrs_cffi.InvalidMetadataError, match=why):
        zarrs_cffi.open_array(str(path))


WHOLE_CHUNK_FILTERS = {
    "delta": (lambda m: m.Delta(dtype="<i4"), "int32", 5),
    "delta-astype": (lambda m: m.Delta(dtype="<i4", astype="<i2"), "int32", 5),
    "fixedscaleoffset": (
        lambda m: m.FixedScaleOffset(offset=1, scale=10, dtype="<f8", astype="<i4"),
        "float64",
        2.5,
    ),
    "quantize": (lambda m: m.Quantize(digits=2, dtype="<f8"), "float64", 2.5),
    "astype": (lambda m: m.AsType(encode_dtype="<i2", decode_dtype="<i4"), "int32", 5),
}


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("zarr_format", [2, 3])
@pytest.mark.parametrize("name", WHOLE_CHUNK_FILTERS)
def test_parts_of_chunks_behind_whole_chunk_filters(
    tmp_path: pathlib.Path, name: str, zarr_format: int, order: str
) -> None:
    """Filters that decode whole chunks only, with a fill value that is not 0, a chunk never
    written and a chunk shape that is not square: every part of every chunk reads as zarr-python
    reads it. A missing chunk read in part came back as the filter's decoding of fill values
    (delta: their running sum), and behind order "F" reads of a part raised CodecError."""
    factory, dtype, fill = WHOLE_CHUNK_FILTERS[name]
    path = tmp_path / "a.zarr"
    module = numcodecs if zarr_format == 2 else nc
    with zarr.config.set({"array.order": order}):
        z = zarr.create_array(
            path,
            shape=(6, 8),
            chunks=(3, 4),
            dtype=dtype,
            fill_value=fill,
            zarr_format=zarr_format,
            filters=[factory(module)],
            compressors=None,
        )
    if zarr_format == 3 and order == "F":  # v3 has no order: a transpose before the filter
        doc = json.loads((path / "zarr.json").read_text())
        doc["codecs"].insert(0, {"name": "transpose", "configuration": {"order": [1, 0]}})
        (path / "zarr.json").write_text(json.dumps(doc))
        z = zarr.open_array(path)
    z[0:3, 0:8] = np.arange(24).reshape(3, 8)  # chunks (0, 0) and (0, 1); (1, *) never written
    expected = z[...]
    a = zarrs_cffi.open_array(path)
    for region in [(2, 1), (4, 5), (slice(1, 5), slice(2, 7)), (slice(3, 6), slice(0, 3)), (5,)]:
        np.testing.assert_array_equal(a[region], expected[region], err_msg=str(region))
    np.testing.assert_array_equal(a.oindex[[0, 4], [1, 6]], expected[np.ix_([0, 4], [1, 6])])
    np.testing.assert_array_equal(a.vindex[[0, 4, 5], [1, 6, 7]], expected[[0, 4, 5], [1, 6, 7]])
    np.testing.assert_array_equal(zarrs_cffi.read(path, (4, slice(None))), expected[4])
    with zarr.config.set({"codec_pipeline.path": "zarrs_cffi.ZarrsCffiCodecPipeline"}):
        np.testing.assert_array_equal(zarr.open_array(path)[3:5, 1:3], expected[3:5, 1:3])


@pytest.mark.parametrize(
    "make",
    [
        lambda: numcodecs.FixedScaleOffset(offset=0, scale=10, dtype=">f8", astype=">i4"),
        lambda: numcodecs.AsType(encode_dtype=">f4", decode_dtype=">f8"),
        lambda: numcodecs.Quantize(digits=2, dtype=">f8"),
        lambda: numcodecs.Delta(dtype=">f8"),
    ],
)
def test_big_endian_filter_types_are_refused_and_the_pipeline_falls_back(
    tmp_path: pathlib.Path, make: Any
) -> None:
    """As docs/guide/arrays.md says: InvalidMetadataError naming the type; zarr's pipeline reads them."""
    path = tmp_path / "a.zarr"
    z = zarr.create_array(
        path, shape=(4,), chunks=(4,), dtype=">f8", zarr_format=2, filters=[make()], compressors=None
    )
    z[...] = [1.25, 2.5, 3.75, 5.0]
    with pytest.raises(zarrs_cffi.InvalidMetadataError, match=r">f8|>f4|>i4"):
        zarrs_cffi.open_array(path)
    with zarr.config.set({"codec_pipeline.path": "zarrs_cffi.ZarrsCffiCodecPipeline"}):
        np.testing.assert_array_equal(zarr.open_array(path)[...], z[...])
