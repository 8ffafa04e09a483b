"""Errors: every native result code maps to an exception class, errors carry ``.code`` and a useful
message, and each error path (Python layer and native layer) raises the right class."""

from __future__ import annotations

import json
import pathlib
import re
import threading
import warnings

import numpy as np
import pytest
from zarr_oracle import import_zarr_or_skip

import zarrs_cffi
from zarrs_cffi import _native, crud, errors
from zarrs_cffi._native import ffi, lib

RESULT_CODE_NAMES = sorted(n for n in dir(lib) if n.startswith(("ZARRS_ERROR_", "ZARRS_CFFI_ERROR_")))

# Builtin bases promised by the docstrings, so ``except FileNotFoundError`` etc. work.
BUILTIN_BASES: dict[str, type[Exception]] = {
    "ZARRS_ERROR_NULL_PTR": ValueError,
    "ZARRS_ERROR_STORAGE": OSError,
    "ZARRS_ERROR_ARRAY": ValueError,
    "ZARRS_ERROR_BUFFER_LENGTH": ValueError,
    "ZARRS_ERROR_INVALID_INDICES": IndexError,
    "ZARRS_ERROR_NODE_PATH": ValueError,
    "ZARRS_ERROR_STORE_PREFIX": ValueError,
    "ZARRS_ERROR_INVALID_METADATA": ValueError,
    "ZARRS_ERROR_STORAGE_CAPABILITY": OSError,
    "ZARRS_ERROR_UNKNOWN_CHUNK_GRID_SHAPE": ValueError,
    "ZARRS_ERROR_UNKNOWN_INTERSECTING_CHUNKS": ValueError,
    "ZARRS_ERROR_UNSUPPORTED_DATA_TYPE": TypeError,
    "ZARRS_ERROR_GROUP": ValueError,
    "ZARRS_ERROR_INCOMPATIBLE_DIMENSIONALITY": ValueError,
    "ZARRS_CFFI_ERROR_NODE_NOT_FOUND": FileNotFoundError,
    "ZARRS_CFFI_ERROR_NODE_EXISTS": ValueError,
    "ZARRS_CFFI_ERROR_INVALID_ARGUMENT": ValueError,
    "ZARRS_CFFI_ERROR_CODEC": ValueError,
    "ZARRS_CFFI_ERROR_PANIC": RuntimeError,
}


# --- the code -> class table -------------------------------------------------------------------------------
def test_result_codes_found() -> None:
    # 14 upstream codes, at least 5 of zarrs-cffi's own.
    assert sum(n.startswith("ZARRS_ERROR_") for n in RESULT_CODE_NAMES) == 14
    assert sum(n.startswith("ZARRS_CFFI_ERROR_") for n in RESULT_CODE_NAMES) >= 5
    assert lib.ZARRS_SUCCESS == 0


@pytest.mark.parametrize("name", RESULT_CODE_NAMES)
def test_every_code_mapped(name: str) -> None:
    code = int(getattr(lib, name))
    assert code != 0
    assert code in _native.CODE_TO_CLASS, f"{name} ({code}) has no exception class"
    cls = _native.CODE_TO_CLASS[code]
    assert issubclass(cls, zarrs_cffi.ZarrsError)
    assert errors.CODE_NAME_TO_CLASS[name] is cls
    assert issubclass(cls, BUILTIN_BASES.get(name, Exception))
    assert getattr(zarrs_cffi, cls.__name__) is cls, "exception classes are exported"

    for checker in (_native.check, _native.check_upstream):
        with pytest.raises(cls) as info:
            checker(code)
        assert info.value.code == code
        assert str(info.value), "the message is never empty"
    with pytest.raises(cls, match="while testing") as info:
        _native.check(code, "while testing")
    assert info.value.code == code


def test_codes_are_distinct() -> None:
    codes = [int(getattr(lib, n)) for n in RESULT_CODE_NAMES]
    assert len(set(codes)) == len(codes)


def test_no_stale_names_in_table() -> None:
    assert set(errors.CODE_NAME_TO_CLASS) == set(RESULT_CODE_NAMES)


def test_success_does_not_raise() -> None:
    _native.check(lib.ZARRS_SUCCESS)
    _native.check_upstream(lib.ZARRS_SUCCESS)


def test_unknown_code_raises_base_class_with_code() -> None:
    with pytest.raises(zarrs_cffi.ZarrsError) as info:
        _native.check(-9999)
    assert type(info.value) is zarrs_cffi.ZarrsError
    assert info.value.code == -9999


def test_error_code_attribute_defaults() -> None:
    assert zarrs_cffi.ZarrsError("x").code == 0
    assert zarrs_cffi.CodecError("x", 7).code == 7
    assert str(zarrs_cffi.CodecError("some message", 7)) == "some message"


# --- native error paths, called directly ------------------------------------------------------------------
@pytest.fixture
def array(tmp_path: pathlib.Path) -> zarrs_cffi.Array:
    arr = zarrs_cffi.create_array(tmp_path / "e.zarr", shape=(8, 8), dtype="uint16", chunks=(4, 4))
    yield arr
    arr.close()


def _code(name: str) -> int:
    return int(getattr(lib, name))


def test_native_region_errors(array: zarrs_cffi.Array) -> None:
    out = np.empty((4, 4), "uint16")
    buf = ffi.from_buffer("uint8_t[]", out, require_writable=True)
    ptr = array.lend_handle()
    try:
        cases = [
            (
                lambda: lib.zarrsCffiArrayRetrieveSubsetInto(ptr, 1, [0], [4], 32, buf),
                zarrs_cffi.DimensionalityError,
                "ZARRS_ERROR_INCOMPATIBLE_DIMENSIONALITY",
                "dimensions",
            ),
            (
                lambda: lib.zarrsCffiArrayRetrieveSubsetInto(ptr, 2, [6, 0], [4, 4], 32, buf),
                zarrs_cffi.InvalidIndicesError,
                "ZARRS_ERROR_INVALID_INDICES",
                "out of bounds",
            ),
            (
                lambda: lib.zarrsCffiArrayRetrieveSubsetInto(ptr, 2, [0, 0], [4, 4], 30, buf),
                zarrs_cffi.BufferLengthError,
                "ZARRS_ERROR_BUFFER_LENGTH",
                "30 bytes, expected 32",
            ),
            (
                lambda: lib.zarrsCffiArrayRetrieveSubsetInto(ffi.NULL, 2, [0, 0], [4, 4], 32, buf),
                zarrs_cffi.NullPointerError,
                "ZARRS_ERROR_NULL_PTR",
                "NULL",
            ),
            (
                lambda: lib.zarrsCffiArrayRetrieveSubsetInto(ptr, 2, [0, 0], [4, 4], 32, ffi.NULL),
                zarrs_cffi.InvalidArgumentError,
                "ZARRS_CFFI_ERROR_INVALID_ARGUMENT",
                "pOut is NULL",
            ),
            (
                lambda: lib.zarrsCffiArrayEraseChunk(ptr, 2, [5, 0]),
                zarrs_cffi.InvalidIndicesError,
                "ZARRS_ERROR_INVALID_INDICES",
                "chunk grid",
            ),
            (
                lambda: lib.zarrsCffiArrayEraseChunk(ptr, 3, [0, 0, 0]),
                zarrs_cffi.DimensionalityError,
                "ZARRS_ERROR_INCOMPATIBLE_DIMENSIONALITY",
                "3 entries",
            ),
            (
                lambda: lib.zarrsCffiArrayStoreChunk(ptr, 2, [0, 0], 3, buf),
                zarrs_cffi.BufferLengthError,
                "ZARRS_ERROR_BUFFER_LENGTH",
                "3 bytes",
            ),
        ]
        for call, cls, name, text in cases:
            rc = call()
            assert rc == _code(name)
            with pytest.raises(cls, match=text) as info:
                _native.check(rc)
            assert info.value.code == _code(name)
    finally:
        array.return_handle()
    # The handle is intact after all those errors.
    np.testing.assert_array_equal(array.read(), np.zeros((8, 8), "uint16"))


def test_native_store_errors(tmp_path: pathlib.Path) -> None:
    store = zarrs_cffi.Store(tmp_path / "s.zarr")
    with store._handle.use() as ptr:
        cases = [
            (
                lambda: lib.zarrsCffiNodeExists(ptr, b"no-slash", ffi.new("bool *")),
                zarrs_cffi.NodePathError,
                "invalid node path",
            ),
            (
                lambda: lib.zarrsCffiNodeExists(ptr, b"/\xff", ffi.new("bool *")),
                zarrs_cffi.InvalidArgumentError,
                "UTF-8",
            ),
            (
                lambda: lib.zarrsCffiNodeExists(ptr, ffi.NULL, ffi.new("bool *")),
                zarrs_cffi.InvalidArgumentError,
                "NULL",
            ),
            (
                lambda: lib.zarrsCffiCreateNode(ptr, b"/x", b"{nope", False),
                zarrs_cffi.InvalidMetadataError,
                "not JSON",
            ),
            (lambda: lib.zarrsCffiDeleteNode(ptr, b"/nothing"), zarrs_cffi.NodeNotFoundError, "/nothing"),
            (
                lambda: lib.zarrsCffiReadNodeMetadata(ptr, b"/nothing", ffi.new("char **")),
                zarrs_cffi.NodeNotFoundError,
                "/nothing",
            ),
        ]
        for call, cls, text in cases:
            rc = call()
            assert rc != 0
            with pytest.raises(cls, match=text) as info:
                _native.check(rc)
            assert info.value.code == rc
    store.close()


def test_upstream_storage_is_not_ours(tmp_path: pathlib.Path) -> None:
    """A store from upstream's zarrsCreateStorageFilesystem is another handle type: the cffi
    layer refuses it before any C code runs (this library's functions take ZarrsCffiStorage)."""
    p = ffi.new("ZarrsStorage *")
    _native.check_upstream(lib.zarrsCreateStorageFilesystem(str(tmp_path).encode(), p))
    try:
        with pytest.raises(TypeError):
            lib.zarrsCffiStoredBytes(p[0], b"/", ffi.new("uint64_t *"))
    finally:
        lib.zarrsDestroyStorage(p[0])


def test_upstream_errors_get_class_from_code() -> None:
    rc = lib.zarrsArrayGetDimensionality(ffi.NULL, ffi.new("size_t *"))
    with pytest.raises(zarrs_cffi.NullPointerError) as info:
        _native.check_upstream(rc)
    assert info.value.code == _code("ZARRS_ERROR_NULL_PTR")


# --- public API error paths ---------------------------------------------------------------------------------
def test_missing_array(tmp_path: pathlib.Path) -> None:
    missing = tmp_path / "missing.zarr"
    with pytest.raises(zarrs_cffi.NodeNotFoundError) as info:
        zarrs_cffi.open_array(missing)
    assert isinstance(info.value, FileNotFoundError)
    assert info.value.code == _code("ZARRS_CFFI_ERROR_NODE_NOT_FOUND")
    assert str(missing) in str(info.value)

    with pytest.raises(FileNotFoundError, match=r"missing\.zarr"):
        zarrs_cffi.read(missing)
    with pytest.raises(FileNotFoundError):
        zarrs_cffi.read_into(np.empty(3), missing)
    with pytest.raises(FileNotFoundError):
        zarrs_cffi.write(missing, (), 1)


def test_missing_node_in_existing_store(arange_path: str) -> None:
    with pytest.raises(zarrs_cffi.NodeNotFoundError, match="/not/here") as info:
        zarrs_cffi.open_array(arange_path, "/not/here")
    assert info.value.code == _code("ZARRS_CFFI_ERROR_NODE_NOT_FOUND")


def test_node_exists(arange_path: str) -> None:
    zarr = import_zarr_or_skip()
    with pytest.raises(zarrs_cffi.NodeExistsError, match="already exists") as info:
        zarrs_cffi.create_array(arange_path, shape=(2,), dtype="int8", chunks=(2,))
    assert info.value.code == _code("ZARRS_CFFI_ERROR_NODE_EXISTS")
    assert isinstance(info.value, ValueError)
    # Nothing was changed: zarr-python still reads the original array.
    assert zarr.open_array(arange_path, mode="r").shape == (8, 8)
    with zarrs_cffi.create_array(arange_path, shape=(2,), dtype="int8", chunks=(2,), overwrite=True) as arr:
        assert arr.shape == (2,)
    assert zarr.open_array(arange_path, mode="r").dtype == np.dtype("int8")


def test_codec_error_names_chunk_key(arange_path: str) -> None:
    pathlib.Path(arange_path, "c", "1", "0").write_bytes(b"\x00garbage\x00" * 3)
    with zarrs_cffi.open_array(arange_path) as arr:
        with pytest.raises(zarrs_cffi.CodecError, match=r'"c/1/0"') as info:
            arr.read()
        assert info.value.code == _code("ZARRS_CFFI_ERROR_CODEC")
        with pytest.raises(zarrs_cffi.CodecError, match=r'"c/1/0"'):
            arr.read_chunk((1, 0))
        # Other chunks still decode.
        np.testing.assert_array_equal(arr[:4], np.arange(32).reshape(4, 8))


def test_unknown_codec_is_invalid_metadata(arange_path: str) -> None:
    meta = pathlib.Path(arange_path, "zarr.json")
    doc = json.loads(meta.read_text())
    doc["codecs"] = [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "no-such-codec"}]
    meta.write_text(json.dumps(doc))
    with pytest.raises(zarrs_cffi.InvalidMetadataError, match="no-such-codec") as info:
        zarrs_cffi.open_array(arange_path)
    assert info.value.code == _code("ZARRS_ERROR_INVALID_METADATA")


@pytest.mark.parametrize("content", ["{not json", '{"zarr_format": 3, "node_type": "array", "shape": "x"}'])
def test_bad_metadata_is_invalid_metadata(tmp_path: pathlib.Path, content: str) -> None:
    node = tmp_path / "bad.zarr"
    node.mkdir()
    (node / "zarr.json").write_text(content)
    with pytest.raises(zarrs_cffi.InvalidMetadataError) as info:
        zarrs_cffi.open_array(node)
    assert info.value.code == _code("ZARRS_ERROR_INVALID_METADATA")


def test_unsupported_dtype_from_zarr_python(tmp_path: pathlib.Path) -> None:
    zarr = import_zarr_or_skip()
    path = tmp_path / "strings.zarr"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zarr-python warns that string arrays are not in the v3 spec
        zarr.create_array(store=str(path), shape=(3,), chunks=(2,), dtype=str)
    with pytest.raises(zarrs_cffi.UnsupportedDataTypeError, match="not supported") as info:
        zarrs_cffi.open_array(path)
    assert isinstance(info.value, TypeError)


@pytest.mark.parametrize("dtype", ["i4,f8", [("x", "<u2"), ("y", ">f4")]], ids=["str", "fields"])
def test_v2_structured_dtype_is_unsupported_not_invalid(tmp_path: pathlib.Path, dtype: object) -> None:
    """zarrs' v2 parser rejects a structured dtype (a list of fields) as malformed metadata; the
    document is valid Zarr, so it is reported as the unsupported data type it is, named, and with the
    code of the native unsupported-data-type error."""
    zarr = import_zarr_or_skip()
    path = tmp_path / "records.zarr"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zarr-python warns that structured types are not in the spec
        zarr.create_array(store=str(path), shape=(3,), chunks=(2,), dtype=dtype, zarr_format=2)
    stored = json.loads((path / ".zarray").read_text())["dtype"]
    with pytest.raises(zarrs_cffi.UnsupportedDataTypeError, match="structured data type") as info:
        zarrs_cffi.open_array(path)
    assert json.dumps(stored) in str(info.value) and "records.zarr" in str(info.value)
    assert isinstance(info.value, TypeError)
    assert info.value.code == _code("ZARRS_ERROR_UNSUPPORTED_DATA_TYPE")
    document = crud.read_metadata(str(path), "")
    with pytest.raises(zarrs_cffi.UnsupportedDataTypeError, match="structured data type"):
        crud.read_region(document, str(path), "", ..., engine="cffi")  # the same from a document


@pytest.mark.parametrize("dtype", ["<U2", "|S3", "<M8[s]"])
def test_v2_types_zarrs_refuses_as_malformed_are_unsupported(tmp_path: pathlib.Path, dtype: str) -> None:
    """A v2 string type with no fill value failed in zarrs' fill-value parser: InvalidMetadataError
    for a valid document. It is the unsupported data type it is, named."""
    path = tmp_path / "a.zarr"
    path.mkdir()
    document = {
        "zarr_format": 2,
        "shape": [2],
        "chunks": [2],
        "dtype": dtype,
        "compressor": None,
        "fill_value": None,
        "filters": None,
        "order": "C",
    }
    (path / ".zarray").write_text(json.dumps(document))
    with pytest.raises(
        zarrs_cffi.UnsupportedDataTypeError, match=f"data type {re.escape(dtype)} is not supported"
    ):
        zarrs_cffi.open_array(path)
    with pytest.raises(zarrs_cffi.UnsupportedDataTypeError):
        crud.read_region(document, str(path), "", ..., engine="cffi")


def test_read_only_array_rejects_writes(arange_path: str) -> None:
    with zarrs_cffi.open_array(arange_path, read_only=True) as arr:
        for write in (
            lambda: arr.write((0, 0), 1),
            lambda: arr.__setitem__(np.s_[:], 1),
            lambda: arr.write_chunk((0, 0), np.zeros((4, 4), "uint16")),
            lambda: arr.erase_chunk((0, 0)),
        ):
            with pytest.raises(zarrs_cffi.ReadOnlyError, match="read-only") as info:
                write()
            assert isinstance(info.value, PermissionError)
        assert arr[0, 1] == 1


def test_write_data_errors(arange_path: str) -> None:
    with zarrs_cffi.open_array(arange_path) as arr:
        with pytest.raises(zarrs_cffi.InvalidArgumentError, match="broadcast"):
            arr[0:2] = np.zeros((3, 8))
        with pytest.raises(zarrs_cffi.InvalidArgumentError, match="converted"):
            arr[0] = "not a number"
        assert arr[0, 0] == 0 and arr[1, 0] == 8


def test_selection_errors_are_builtin_classes(arange_path: str) -> None:
    with zarrs_cffi.open_array(arange_path) as arr:
        with pytest.raises(IndexError, match="out of bounds"):
            arr[8]
        with pytest.raises(IndexError, match="too many indices"):
            arr[0, 0, 0]
        with pytest.raises(TypeError, match="basic indexing"):
            arr[[0, 1]]
        with pytest.raises(ValueError, match="step"):
            arr[::0]


def test_messages_are_per_thread(tmp_path: pathlib.Path) -> None:
    """Two threads failing at once each get the message of their own failure."""
    paths = [tmp_path / "t0" / "missing-zero", tmp_path / "t1" / "missing-one"]
    bad: list[str] = []
    barrier = threading.Barrier(2)

    def worker(i: int) -> None:
        store = zarrs_cffi.Store(paths[i])
        barrier.wait()
        for _ in range(300):
            with store._handle.use() as ptr:
                rc = lib.zarrsCffiReadNodeMetadata(ptr, f"/node{i}".encode(), ffi.new("char **"))
            try:
                _native.check(rc)
            except zarrs_cffi.NodeNotFoundError as exc:
                if f"/node{i}" not in str(exc) or f"/node{1 - i}" in str(exc):
                    bad.append(str(exc))
        store.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not bad, bad[:3]


# --- chunk coordinates: one check, the same classes in every API ---------------------------------------------
BAD_CHUNK_COORDS = [
    ((0,), zarrs_cffi.ChunkCoordsLengthError),
    ((0, 0, 0), zarrs_cffi.ChunkCoordsLengthError),
    ((2, 0), zarrs_cffi.InvalidIndicesError),
    ((0, -1), zarrs_cffi.InvalidIndicesError),
    ((0.0, 0), zarrs_cffi.ChunkCoordsTypeError),
    ((True, 0), zarrs_cffi.ChunkCoordsTypeError),
    ("00", zarrs_cffi.ChunkCoordsTypeError),
    (5, zarrs_cffi.ChunkCoordsTypeError),
]


def test_chunk_coords_error_classes_keep_both_meanings() -> None:
    # Before they were unified, the object API raised DimensionalityError / InvalidArgumentError
    # (ValueErrors) and the CRUD backend IndexError / TypeError: callers catching either still work.
    length, kind = zarrs_cffi.ChunkCoordsLengthError, zarrs_cffi.ChunkCoordsTypeError
    for base in (zarrs_cffi.InvalidIndicesError, zarrs_cffi.DimensionalityError, IndexError, ValueError):
        assert issubclass(length, base)
    for base in (zarrs_cffi.InvalidArgumentError, TypeError, ValueError):
        assert issubclass(kind, base)


@pytest.mark.parametrize(("coords", "error"), BAD_CHUNK_COORDS, ids=repr)
def test_chunk_coords_errors_same_in_every_api(
    tmp_path: pathlib.Path, coords: object, error: type[Exception]
) -> None:
    from zarrs_cffi import crud

    zarr = import_zarr_or_skip()
    root = tmp_path / "data.zarr"
    zarr.create_array(str(root), name="a", shape=(8, 8), chunks=(4, 4), dtype="uint16", fill_value=0)[...] = 1
    doc = json.loads((root / "a" / "zarr.json").read_text())
    chunk = np.zeros((4, 4), "uint16")
    calls = []
    with zarrs_cffi.open_array(root, "/a") as arr, zarrs_cffi.open_array(
        root, "/a", engine="zarr"
    ) as on_zarr:
        for array in (arr, on_zarr):  # (engine="zarr" arrays raised a plain TypeError for an int)
            calls += [
                array.read_chunk,
                array.read_encoded_chunk,
                array.erase_chunk,
                lambda c, a=array: a.write_chunk(c, chunk),
            ]
        for engine in ("cffi", "zarr"):
            calls += [
                lambda c, e=engine: crud.read_chunk(doc, str(root), "a", c, engine=e),
                lambda c, e=engine: crud.delete_chunk(doc, str(root), "a", c, engine=e),
                lambda c, e=engine: crud.write_chunk(doc, str(root), "a", c, chunk, engine=e),
            ]
        for call in calls:
            with pytest.raises(error) as info:
                call(coords)
            assert type(info.value) is error, (call, info.value)
            assert "chunk" in str(info.value)
    # Nothing was written or erased by the rejected calls.
    assert (zarr.open_array(str(root), path="a", mode="r")[...] == 1).all()


def test_thread_counts_the_pool_cannot_start_are_refused_by_the_c_function() -> None:
    """zarrsCffiSetThreadCount(SIZE_MAX) was accepted, and the next read started threads until the
    process was killed: above 4096 (Python's own limit) it is an invalid argument, nothing changed."""
    before = lib.zarrsCffiThreadCount()
    for threads in (2**64 - 1, 4097):
        assert lib.zarrsCffiSetThreadCount(threads) == lib.ZARRS_CFFI_ERROR_INVALID_ARGUMENT
        with pytest.raises(
            zarrs_cffi.InvalidArgumentError, match=f"thread count {threads} is above the limit of 4096"
        ):
            _native.check(lib.zarrsCffiSetThreadCount(threads))
        assert lib.zarrsCffiThreadCount() == before


@pytest.mark.parametrize(("shape", "chunk"), [(2**64 - 1, 2**23), (2**64 - 5, 8), (2**63 + 1, 2**63)])
def test_a_chunk_grid_ending_beyond_2_64_is_refused(tmp_path: pathlib.Path, shape: int, chunk: int) -> None:
    """The last chunk of such a shape ends past 2^64: zarrs' u64 chunk arithmetic wrapped and a read
    of it crashed the process (SIGSEGV). Opening, creating and reading from a document refuse it."""
    doc = {
        "zarr_format": 3, "node_type": "array", "shape": [shape], "data_type": "uint8",
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [chunk]}},
        "chunk_key_encoding": {"name": "default"}, "fill_value": 0,
        "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
    }  # fmt: skip
    (tmp_path / "zarr.json").write_text(json.dumps(doc))
    why = "the last chunk would end beyond 2\\^64 elements"
    with pytest.raises(zarrs_cffi.InvalidMetadataError, match=why):
        zarrs_cffi.open_array(str(tmp_path))
    with pytest.raises(zarrs_cffi.ZarrsError, match=why):
        crud.read_region(doc, str(tmp_path), "", (slice(shape - 1, shape),))
    with pytest.raises(zarrs_cffi.ZarrsError, match=why):
        crud.create_new_array(doc, str(tmp_path), "new")
    assert not (tmp_path / "new" / "zarr.json").exists()
    # The largest shape whose chunks end within 2^64 opens and reads its last element.
    doc["shape"] = [(2**64 - 1) // chunk * chunk]
    (tmp_path / "zarr.json").write_text(json.dumps(doc))
    with zarrs_cffi.open_array(str(tmp_path)) as arr:
        assert arr[arr.shape[0] - 1] == 0
