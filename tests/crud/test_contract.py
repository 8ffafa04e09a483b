"""The functional CRUD contract (zarr-python PR #4064), run against every engine.

zarr-python is the oracle: data written with zarr-python is read through the engine, and data written
through the engine is read back with zarr-python (or straight from the files). The cases reproduce the
PR's differential suite and go beyond it (paths below the root, views, the aio twins, store and
registry errors).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import pathlib
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import pytest
import zarr
from crud_helpers import ARANGE, PR_REGIONS, chunk_file, engine_unavailable, make_array, open_zarr, stored_doc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from zarr.codecs import BloscCodec, BytesCodec, GzipCodec, ZstdCodec

import zarrs_cffi
import zarrs_cffi.crud as crud
import zarrs_cffi.crud.aio as aio
from zarrs_cffi.crud import registry
from zarrs_cffi.engines.zarr_engine import ZarrBackend
from zarrs_cffi.errors import (
    CodecError,
    DataTypeMismatchError,
    InvalidArgumentError,
    InvalidMetadataError,
    NodeExistsError,
    NodeNotFoundError,
    OutputBufferError,
    ReadOnlyError,
    UnsupportedDataTypeError,
    UnsupportedStoreError,
    ZarrsError,
)

Doc = dict[str, Any]

V3_GROUP: Doc = {"zarr_format": 3, "node_type": "group", "attributes": {"kind": "v3 group"}}
V2_GROUP: Doc = {"zarr_format": 2, "attributes": {"kind": "v2 group"}}


IX = np.s_

# The PR's region list, plus a few more (negative steps on both axes, int + negative step).
REGIONS = [
    *PR_REGIONS,
    IX[::-1, ::-3],
    IX[-1, 7:0:-3],
    IX[..., -1],
    IX[1:100, -100:3],
]


def _id(sel: Any) -> str:
    return repr(sel).replace(" ", "")


def _v3_doc(root: pathlib.Path, path: str, **kwargs: Any) -> Doc:
    """A v3 array document made by zarr-python in a scratch store (nothing written at root/path)."""
    scratch = root.parent / "scratch.zarr"
    return make_array(scratch, path, None, overwrite=True, **kwargs)


def _assert_owned_result(result: np.ndarray[Any, Any]) -> None:
    assert isinstance(result, np.ndarray)
    assert result.flags.writeable
    assert result.flags.c_contiguous
    assert result.dtype.isnative
    result[...] = result  # really writable


# ==================================================================================================
# Node lifecycle
# ==================================================================================================
@pytest.mark.parametrize("doc", [V3_GROUP, V2_GROUP], ids=["v3", "v2"])
def test_create_new_group_read_by_zarr(engine: str, root: pathlib.Path, store: str, doc: Doc) -> None:
    crud.create_new_group(doc, store, "g", engine=engine)
    assert crud.read_metadata(store, "g", engine=engine) == doc
    assert stored_doc(root, "g") == doc
    group = zarr.open_group(store=store, path="g", mode="r")
    assert group.metadata.zarr_format == doc["zarr_format"]
    assert dict(group.attrs) == doc["attributes"]


@pytest.mark.parametrize("zarr_format", [3, 2])
def test_create_new_array_then_zarr_writes_engine_reads(
    engine: str, root: pathlib.Path, store: str, zarr_format: int
) -> None:
    doc = _v3_doc(
        root,
        "a",
        shape=(8, 8),
        dtype="uint16",
        fill_value=7,
        zarr_format=zarr_format,
        attributes={"units": "m"},
    )
    crud.create_new_array(doc, store, "a", engine=engine)
    assert crud.read_metadata(store, "a", engine=engine) == doc
    assert stored_doc(root, "a") == doc
    z = open_zarr(root, "a")
    assert z.attrs["units"] == "m"
    z[...] = ARANGE
    np.testing.assert_array_equal(crud.read_region(doc, store, "a", IX[...], engine=engine), ARANGE)


def test_engine_writes_zarr_reads(engine: str, root: pathlib.Path, store: str) -> None:
    doc = _v3_doc(root, "a", shape=(8, 8), dtype="uint16", fill_value=7)
    crud.create_new_array(doc, store, "a", engine=engine)
    crud.write_region(doc, store, "a", IX[...], ARANGE, engine=engine)
    np.testing.assert_array_equal(open_zarr(root, "a")[...], ARANGE)


@pytest.mark.parametrize("existing", ["v3 group", "v3 array", "v2 group", "v2 array"])
@pytest.mark.parametrize("create", ["group", "array"])
def test_create_new_over_existing_node_raises(
    engine: str, root: pathlib.Path, store: str, existing: str, create: str
) -> None:
    fmt: Literal[2, 3] = 2 if existing.startswith("v2") else 3
    if existing.endswith("group"):
        zarr.create_group(store=store, path="n", zarr_format=fmt)
    else:
        make_array(root, "n", ARANGE, zarr_format=fmt)
    before = stored_doc(root, "n")
    doc = V3_GROUP if create == "group" else _v3_doc(root, "n", shape=(2,), chunks=(2,), dtype="int8")
    fn = crud.create_new_group if create == "group" else crud.create_new_array
    with pytest.raises(NodeExistsError) as info:
        fn(doc, store, "n", engine=engine)
    assert isinstance(info.value, ValueError)
    assert "n" in str(info.value)
    assert stored_doc(root, "n") == before


def test_create_new_at_root_over_existing_raises(engine: str, store: str) -> None:
    crud.create_new_group(V3_GROUP, store, "", engine=engine)
    with pytest.raises(NodeExistsError):
        crud.create_new_group(V3_GROUP, store, "", engine=engine)


def test_create_overwrite_group_removes_node_and_children(
    engine: str, root: pathlib.Path, store: str
) -> None:
    zarr.create_group(store=store, path="g")
    make_array(root, "g/a", ARANGE)
    make_array(root, "g/sub/b", ARANGE)
    make_array(root, "gg", ARANGE)  # shares the prefix "g" but is not under "g/"
    crud.create_overwrite_group(V2_GROUP, store, "g", engine=engine)
    assert crud.read_metadata(store, "g", engine=engine) == V2_GROUP
    assert sorted(p.name for p in (root / "g").iterdir()) == [".zattrs", ".zgroup"]
    with pytest.raises(NodeNotFoundError):
        crud.read_metadata(store, "g/a", engine=engine)
    np.testing.assert_array_equal(open_zarr(root, "gg")[...], ARANGE)


def test_create_overwrite_array_replaces_array(engine: str, root: pathlib.Path, store: str) -> None:
    make_array(root, "a", ARANGE)
    new = _v3_doc(root, "a", shape=(3, 5), chunks=(2, 2), dtype="float64", fill_value=1.5)
    crud.create_overwrite_array(new, store, "a", engine=engine)
    assert crud.read_metadata(store, "a", engine=engine) == new
    assert not (root / "a" / "c").exists()  # the old chunks went with the old node
    np.testing.assert_array_equal(open_zarr(root, "a")[...], np.full((3, 5), 1.5))


def test_create_overwrite_when_nothing_exists(engine: str, store: str) -> None:
    crud.create_overwrite_group(V3_GROUP, store, "x/y", engine=engine)
    assert crud.read_metadata(store, "x/y", engine=engine) == V3_GROUP


def test_parents_are_implied(engine: str, root: pathlib.Path, store: str) -> None:
    doc = _v3_doc(root, "a", shape=(4,), chunks=(2,), dtype="int32")
    crud.create_new_array(doc, store, "x/y/a", engine=engine)
    assert not (root / "x" / "zarr.json").exists()
    assert not (root / "zarr.json").exists()
    assert crud.read_metadata(store, "x/y/a", engine=engine) == doc


@pytest.mark.parametrize("fmt", [2, 3])
@pytest.mark.parametrize("create", ["group", "array"])
@pytest.mark.parametrize("overwrite", [False, True], ids=["new", "overwrite"])
@pytest.mark.parametrize("array_at", ["a", ""], ids=["array", "root array"])
def test_nodes_below_an_array_are_refused_and_its_chunks_kept(
    engine: str, root: pathlib.Path, store: str, fmt: int, create: str, overwrite: bool, array_at: str
) -> None:
    """Only groups have children (zarr-python refuses the rest too): a node below an array would sit
    among its chunk keys ("a/c/..." in v3), and overwriting one erased the array's chunks."""
    make_array(root, array_at, ARANGE, zarr_format=fmt)
    before = stored_doc(root, array_at)
    doc = V3_GROUP if create == "group" else _v3_doc(root, "n", shape=(2,), chunks=(2,), dtype="int8")
    kind = "group" if create == "group" else "array"
    fn = getattr(crud, f"create_{'overwrite' if overwrite else 'new'}_{kind}")
    below = [f"{array_at}/c" if array_at else "c", f"{array_at}/x/y" if array_at else "x/y"]
    for path in below:
        with pytest.raises(NodeExistsError, match="only groups have children") as info:
            fn(doc, store, path, engine=engine)
        assert re.search(f"the array ['\"]/?{re.escape(array_at)}['\"]", str(info.value)), info.value
    with pytest.raises(NodeExistsError, match="only groups have children"):
        zarrs_cffi.create_group(store, f"/{below[0]}", engine=engine)
    assert stored_doc(root, array_at) == before
    np.testing.assert_array_equal(open_zarr(root, array_at)[...], ARANGE)
    with pytest.raises(NodeNotFoundError):
        crud.read_metadata(store, below[0], engine=engine)


def test_read_metadata_equals_stored_json(engine: str, root: pathlib.Path, store: str) -> None:
    zarr.create_group(store=store, path="g", attributes={"a": [1, 2]})
    zarr.create_group(store=store, path="g2", zarr_format=2, attributes={"b": "x"})
    make_array(root, "a3", ARANGE, attributes={"c": 1.5})
    make_array(root, "a2", ARANGE, zarr_format=2, attributes={"d": None})
    for path in ["", "g", "g2", "a3", "a2"]:
        assert crud.read_metadata(store, path, engine=engine) == stored_doc(root, path), path
    assert crud.read_metadata(store, "a2", engine=engine)["attributes"] == {"d": None}


def test_read_metadata_missing_raises(engine: str, root: pathlib.Path, store: str) -> None:
    with pytest.raises(NodeNotFoundError):
        crud.read_metadata(store, "a", engine=engine)  # the store does not even exist
    assert not root.exists()  # and reading did not create it
    zarr.create_group(store=store)
    with pytest.raises(FileNotFoundError):  # NodeNotFoundError is a FileNotFoundError
        crud.read_metadata(store, "nope", engine=engine)
    (root / "plain_dir").mkdir()
    with pytest.raises(NodeNotFoundError):
        crud.read_metadata(store, "plain_dir", engine=engine)


def test_delete_node(engine: str, root: pathlib.Path, store: str) -> None:
    zarr.create_group(store=store, path="g")
    make_array(root, "g/a", ARANGE)
    make_array(root, "g/sub/b", ARANGE)
    make_array(root, "gg", ARANGE)
    crud.delete_node(store, "g/a", engine=engine)
    assert not (root / "g" / "a").exists()
    crud.delete_node(store, "g", engine=engine)
    assert not (root / "g").exists()
    with pytest.raises(NodeNotFoundError):
        crud.read_metadata(store, "g/sub/b", engine=engine)
    np.testing.assert_array_equal(open_zarr(root, "gg")[...], ARANGE)


def test_delete_node_v2(engine: str, root: pathlib.Path, store: str) -> None:
    zarr.create_group(store=store, path="g", zarr_format=2)
    make_array(root, "g/a", ARANGE, zarr_format=2)
    crud.delete_node(store, "g", engine=engine)
    assert not (root / "g").exists()


def test_delete_root_node_empties_store(engine: str, root: pathlib.Path, store: str) -> None:
    make_array(root, "a", ARANGE)
    crud.delete_node(store, "", engine=engine)
    assert not root.exists() or list(root.iterdir()) == []


def test_delete_node_missing_raises(engine: str, root: pathlib.Path, store: str) -> None:
    with pytest.raises(NodeNotFoundError):
        crud.delete_node(store, "a", engine=engine)
    make_array(root, "a", ARANGE)
    (root / "a" / "c" / "0").mkdir(parents=True, exist_ok=True)
    with pytest.raises(NodeNotFoundError):  # a directory inside an array is not a node
        crud.delete_node(store, "a/c", engine=engine)


def test_list_children_root(engine: str, root: pathlib.Path, store: str) -> None:
    zarr.create_group(store=store)
    zarr.create_group(store=store, path="g", attributes={"x": 1})
    make_array(root, "a", ARANGE)
    zarr.create_group(store=store, path="v2g", zarr_format=2)
    make_array(root, "v2a", ARANGE, zarr_format=2)
    (root / "not_a_node").mkdir()
    (root / "stray_file").write_bytes(b"x")
    children = crud.list_children(store, "", engine=engine)
    assert [p for p, _ in children] == ["a", "g", "v2a", "v2g"]
    for path, doc in children:
        assert doc == stored_doc(root, path)


def test_list_children_below_root(engine: str, root: pathlib.Path, store: str) -> None:
    # three levels: g -> g/sub -> g/sub/deep, each with an array child
    zarr.create_group(store=store, path="g")
    zarr.create_group(store=store, path="g/sub")
    zarr.create_group(store=store, path="g/sub/deep", zarr_format=2)
    make_array(root, "g/a", ARANGE)
    make_array(root, "g/sub/b", ARANGE, zarr_format=2)
    make_array(root, "g/sub/deep/c", ARANGE)
    expected = {
        "g": ["g/a", "g/sub"],
        "g/sub": ["g/sub/b", "g/sub/deep"],
        "g/sub/deep": ["g/sub/deep/c"],
    }
    for parent, paths in expected.items():
        children = crud.list_children(store, parent, engine=engine)
        assert [p for p, _ in children] == paths
        assert [d for _, d in children] == [stored_doc(root, p) for p in paths]
    # the paths returned are usable as-is
    for path, _ in crud.list_children(store, "g/sub", engine=engine):
        crud.read_metadata(store, path, engine=engine)


def test_list_children_empty_group(engine: str, store: str) -> None:
    crud.create_new_group(V3_GROUP, store, "g", engine=engine)
    assert crud.list_children(store, "g", engine=engine) == []


def test_list_children_missing_or_array_raises(engine: str, root: pathlib.Path, store: str) -> None:
    with pytest.raises(NodeNotFoundError):
        crud.list_children(store, "g", engine=engine)
    make_array(root, "a", ARANGE)
    with pytest.raises(NodeNotFoundError):
        crud.list_children(store, "a", engine=engine)


@pytest.mark.parametrize("group_doc", [V3_GROUP, V2_GROUP], ids=["v3", "v2"])
def test_chunk_io_with_a_group_document_names_the_mistake(engine: str, store: str, group_doc: Doc) -> None:
    """A group's document where an array's belongs: "the node is a group, not an array" (the
    native engine said "data did not match any variant of untagged enum ArrayMetadata", the zarr
    engine "'dtype'"), and nothing is written."""
    crud.create_new_group(group_doc, store, "g", engine=engine)
    doc = crud.read_metadata(store, "g", engine=engine)
    calls: list[Callable[[], Any]] = [
        lambda: crud.read_chunk(doc, store, "g", (0,), engine=engine),
        lambda: crud.read_region(doc, store, "g", IX[0:1], engine=engine),
        lambda: crud.write_chunk(doc, store, "g", (0,), np.zeros(1), engine=engine),
    ]
    for call in calls:
        with pytest.raises(InvalidMetadataError, match="the node is a group, not an array"):
            call()
    assert crud.read_metadata(store, "g", engine=engine) == doc
    if group_doc["zarr_format"] == 3:
        with pytest.raises(InvalidMetadataError, match="the node is a group, not an array"):
            zarrs_cffi.open_array(store, "/g")


def test_v2_group_lifecycle(engine: str, root: pathlib.Path, store: str) -> None:
    crud.create_new_group(V2_GROUP, store, "g", engine=engine)
    assert (root / "g" / ".zgroup").is_file()
    assert json.loads((root / "g" / ".zattrs").read_text()) == V2_GROUP["attributes"]
    assert crud.read_metadata(store, "g", engine=engine) == V2_GROUP
    assert zarr.open_group(store=store, path="g", mode="r").metadata.zarr_format == 2
    doc = _v3_doc(root, "a", shape=(8, 8), dtype="<u2", zarr_format=2)
    crud.create_new_array(doc, store, "g/a", engine=engine)
    assert [p for p, _ in crud.list_children(store, "g", engine=engine)] == ["g/a"]
    crud.delete_node(store, "g", engine=engine)
    with pytest.raises(NodeNotFoundError):
        crud.read_metadata(store, "g", engine=engine)


@pytest.mark.parametrize("path", ["/a", "a/", "a//b", "a/./b", "a/..", "..", ".", "a\x00b", "/"])
def test_invalid_paths_rejected(engine: str, store: str, arange_doc: Doc, path: str) -> None:
    calls: list[Callable[[], Any]] = [
        lambda: crud.create_new_group(V3_GROUP, store, path, engine=engine),
        lambda: crud.read_metadata(store, path, engine=engine),
        lambda: crud.list_children(store, path, engine=engine),
        lambda: crud.delete_node(store, path, engine=engine),
        lambda: crud.read_chunk(arange_doc, store, path, (0, 0), engine=engine),
        lambda: crud.write_region(arange_doc, store, path, IX[...], 0, engine=engine),
    ]
    for call in calls:
        with pytest.raises(InvalidArgumentError):
            call()


def test_non_str_path_rejected(engine: str, store: str) -> None:
    """As open_array rejects a non-str node: an InvalidArgumentError naming the type, on every engine."""
    with pytest.raises(InvalidArgumentError, match="a node path must be a str, got int"):
        crud.read_metadata(store, 3, engine=engine)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="got bytes"):
        crud.delete_node(store, b"a", engine=engine)  # type: ignore[arg-type]


@pytest.mark.parametrize("metadata", ["x", 5, None, [("zarr_format", 3)], {1: "a"}], ids=repr)
def test_metadata_not_a_str_keyed_dict_rejected(
    engine: str, store: str, arange_doc: Doc, metadata: Any
) -> None:
    """The same InvalidMetadataError on every engine (and as Store.create_node raises), never a bare
    TypeError."""
    for call in (
        lambda: crud.read_region(metadata, store, "a", IX[...], engine=engine),
        lambda: crud.read_chunk(metadata, store, "a", (0, 0), engine=engine),
        lambda: crud.create_new_array(metadata, store, "n", engine=engine),
        lambda: crud.create_new_group(metadata, store, "n", engine=engine),
    ):
        with pytest.raises(InvalidMetadataError, match=r"metadata must be a dict|metadata keys must be str"):
            call()


@pytest.mark.parametrize("data_type", ["nope", {"name": "nope", "configuration": {}}, "structured"], ids=repr)
def test_unknown_data_type_is_unsupported_on_every_engine(
    engine: str, root: pathlib.Path, store: str, data_type: Any
) -> None:
    """A well-formed data type name no engine knows: UnsupportedDataTypeError (a TypeError) naming it,
    on the zarr engine as on the native one; a malformed entry stays invalid metadata."""
    doc = {**_v3_doc(root, "a", shape=(4,), chunks=(2,), dtype="int8"), "data_type": data_type}
    for call in (
        lambda: crud.read_region(doc, store, "a", IX[...], engine=engine),
        lambda: crud.create_new_array(doc, store, "a", engine=engine),
    ):
        with pytest.raises(UnsupportedDataTypeError, match=r"nope|structured") as info:
            call()
        assert isinstance(info.value, TypeError)
    assert not (root / "a").exists()
    with pytest.raises(InvalidMetadataError):
        crud.read_region({**doc, "data_type": 5}, store, "a", IX[...], engine=engine)


@pytest.mark.parametrize(
    "change",
    [
        {"chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [0]}}},
        {"chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [-2]}}},
        {"attributes": [1]},
    ],
    ids=["chunk 0", "chunk -2", "attributes list"],
)
def test_documents_zarr_python_would_fail_on_later_are_refused_alike(
    engine: str, root: pathlib.Path, store: str, change: dict[str, Any]
) -> None:
    """zarr-python parses these (a chunk shape of 0 then raises ZeroDivisionError on every read and
    write): every engine refuses them up front with InvalidMetadataError, and creates nothing."""
    doc = {**_v3_doc(root, "a", shape=(4,), chunks=(2,), dtype="int8"), **change}
    for call in (
        lambda: crud.create_new_array(doc, store, "a", engine=engine),
        lambda: crud.read_region(doc, store, "a", IX[...], engine=engine),
        lambda: crud.write_region(doc, store, "a", IX[...], 1, engine=engine),
    ):
        with pytest.raises(InvalidMetadataError):
            call()
    assert not (root / "a").exists()


@pytest.mark.parametrize("mode", ["w", "a"])
def test_zipstore_opened_for_writing_is_read_only(engine: str, tmp_path: pathlib.Path, mode: str) -> None:
    """zarrs_cffi writes no zip files: a zarr-python ZipStore opened for writing (its file not created
    yet) raises ReadOnlyError saying so on every engine, not a missing-file error; create_array too."""
    from zarr.storage import ZipStore

    path = tmp_path / "new.zip"
    target = ZipStore(path, mode=mode)
    for call in (
        lambda: crud.create_new_group(V3_GROUP, target, "", engine=engine),
        lambda: crud.create_overwrite_group(V3_GROUP, target, "g", engine=engine),
        lambda: crud.delete_node(target, "g", engine=engine),
        lambda: zarrs_cffi.create_array(target, "/x", shape=(2,), dtype="int8", chunks=(2,), engine=engine),
        lambda: zarrs_cffi.create_group(target, "/g", engine=engine),
        lambda: zarrs_cffi.consolidate(target),
    ):
        with pytest.raises(ReadOnlyError, match="zip stores are read-only in zarrs_cffi"):
            call()
    assert not path.exists()


def test_invalid_metadata_rejected(engine: str, root: pathlib.Path, store: str) -> None:
    with pytest.raises(InvalidMetadataError):
        crud.create_new_array(V3_GROUP, store, "a", engine=engine)
    with pytest.raises(InvalidMetadataError):
        crud.create_new_group({"zarr_format": 3, "node_type": "array"}, store, "g", engine=engine)
    with pytest.raises(InvalidMetadataError):
        crud.read_chunk({"zarr_format": 3, "node_type": "array"}, store, "a", (0,), engine=engine)
    assert not (root / "a").exists() and not (root / "g").exists()


# ==================================================================================================
# Chunks
# ==================================================================================================
DTYPE_CASES = [
    ("uint8", 3),
    ("int32", 3),
    ("float64", 3),
    ("<u2", 2),
    (">u2", 2),
    (">i4", 2),
]


@pytest.mark.parametrize(("dtype", "zarr_format"), DTYPE_CASES)
def test_read_chunk_dtypes(engine: str, root: pathlib.Path, store: str, dtype: str, zarr_format: int) -> None:
    data = (np.arange(64).reshape(8, 8) * 3 - 20).astype(dtype)
    doc = make_array(root, "a", data, zarr_format=zarr_format)
    for i in range(2):
        for j in range(2):
            chunk = crud.read_chunk(doc, store, "a", (i, j), engine=engine)
            assert chunk.dtype == np.dtype(dtype).newbyteorder("=")
            np.testing.assert_array_equal(chunk, data[4 * i : 4 * i + 4, 4 * j : 4 * j + 4])
            _assert_owned_result(chunk)


@pytest.mark.parametrize(("dtype", "zarr_format"), DTYPE_CASES)
def test_write_chunk_dtypes(
    engine: str, root: pathlib.Path, store: str, dtype: str, zarr_format: int
) -> None:
    doc = make_array(root, "a", None, shape=(8, 8), dtype=dtype, zarr_format=zarr_format)
    data = (np.arange(64).reshape(8, 8) * 3 - 20).astype(dtype)
    for i in range(2):
        for j in range(2):
            crud.write_chunk(
                doc, store, "a", (i, j), data[4 * i : 4 * i + 4, 4 * j : 4 * j + 4], engine=engine
            )
    np.testing.assert_array_equal(open_zarr(root, "a")[...], data)


CODECS = {
    "none": None,
    "gzip": GzipCodec(level=1),
    "zstd": ZstdCodec(level=1),
    "blosc-lz4": BloscCodec(cname="lz4", clevel=1),
}


@pytest.mark.parametrize("codec", list(CODECS))
def test_codecs_round_trip(engine: str, root: pathlib.Path, store: str, codec: str) -> None:
    compressors = None if CODECS[codec] is None else [CODECS[codec]]
    doc = make_array(root, "a", ARANGE, compressors=compressors)
    np.testing.assert_array_equal(crud.read_chunk(doc, store, "a", (1, 0), engine=engine), ARANGE[4:, :4])
    new = np.full((4, 4), 1234, dtype="uint16")
    crud.write_chunk(doc, store, "a", (0, 1), new, engine=engine)
    expected = ARANGE.copy()
    expected[:4, 4:] = new
    np.testing.assert_array_equal(open_zarr(root, "a")[...], expected)


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("compressor", ["none", "zlib"])
def test_v2_orders_and_compressors(
    engine: str, root: pathlib.Path, store: str, order: str, compressor: str
) -> None:
    import numcodecs

    comp = None if compressor == "none" else numcodecs.Zlib(level=1)
    data = np.arange(60, dtype=">i4").reshape(6, 10)
    doc = make_array(root, "a", data, chunks=(4, 4), zarr_format=2, order=order, compressors=comp)
    assert doc["order"] == order
    chunk = crud.read_chunk(doc, store, "a", (0, 1), engine=engine)
    np.testing.assert_array_equal(chunk, data[:4, 4:8])
    _assert_owned_result(chunk)
    np.testing.assert_array_equal(
        crud.read_region(doc, store, "a", IX[1:6, ::-3], engine=engine), data[1:6, ::-3]
    )
    new = -np.arange(16, dtype="int32").reshape(4, 4) - 1
    crud.write_chunk(doc, store, "a", (1, 0), new, engine=engine)
    expected = data.copy()
    expected[4:, :4] = new[:2]
    np.testing.assert_array_equal(open_zarr(root, "a")[...], expected)


def test_v3_big_endian_bytes_codec(engine: str, root: pathlib.Path, store: str) -> None:
    data = np.arange(64, dtype="uint16").reshape(8, 8) * 257
    doc = make_array(root, "a", data, serializer=BytesCodec(endian="big"), compressors=None)
    raw = crud.read_encoded_chunk(doc, store, "a", (0, 0), engine=engine)
    assert raw == data[:4, :4].astype(">u2").tobytes()
    chunk = crud.read_chunk(doc, store, "a", (0, 0), engine=engine)
    assert chunk.dtype.isnative
    np.testing.assert_array_equal(chunk, data[:4, :4])
    crud.write_chunk(doc, store, "a", (1, 1), np.full((4, 4), 258, "uint16"), engine=engine)
    assert chunk_file(root, "a", doc, (1, 1)).read_bytes() == np.full((4, 4), 258, ">u2").tobytes()


def test_sharding_chunk_is_the_shard(engine: str, root: pathlib.Path, store: str) -> None:
    doc = make_array(root, "a", ARANGE, chunks=(2, 2), shards=(4, 4))
    chunk = crud.read_chunk(doc, store, "a", (1, 0), engine=engine)
    assert chunk.shape == (4, 4)
    np.testing.assert_array_equal(chunk, ARANGE[4:, :4])
    with pytest.raises(IndexError):
        crud.read_chunk(doc, store, "a", (2, 0), engine=engine)  # 2x2 shards, not 4x4 inner chunks
    new = np.arange(100, 116, dtype="uint16").reshape(4, 4)
    crud.write_chunk(doc, store, "a", (0, 1), new, engine=engine)
    expected = ARANGE.copy()
    expected[:4, 4:] = new
    np.testing.assert_array_equal(open_zarr(root, "a")[...], expected)


def test_sharding_partially_filled_shard(engine: str, root: pathlib.Path, store: str) -> None:
    doc = make_array(
        root, "a", None, shape=(8, 8), dtype="uint16", chunks=(2, 2), shards=(4, 4), fill_value=7
    )
    z = open_zarr(root, "a")
    z[0:2, 2:4] = 5  # one inner chunk of shard (0, 0)
    expected = np.full((4, 4), 7, "uint16")
    expected[0:2, 2:4] = 5
    np.testing.assert_array_equal(crud.read_chunk(doc, store, "a", (0, 0), engine=engine), expected)


def test_edge_chunk_has_full_shape(engine: str, root: pathlib.Path, store: str) -> None:
    data = np.arange(70, dtype="int32").reshape(10, 7)
    doc = make_array(root, "a", data, chunks=(4, 4), fill_value=-1)
    chunk = crud.read_chunk(doc, store, "a", (2, 1), engine=engine)
    assert chunk.shape == (4, 4)
    expected = np.full((4, 4), -1, "int32")
    expected[:2, :3] = data[8:, 4:]
    np.testing.assert_array_equal(chunk, expected)
    crud.write_chunk(doc, store, "a", (2, 1), np.arange(16, dtype="int32").reshape(4, 4), engine=engine)
    np.testing.assert_array_equal(open_zarr(root, "a")[8:, 4:], np.arange(16).reshape(4, 4)[:2, :3])


def test_missing_chunk_reads_fill(engine: str, root: pathlib.Path, store: str) -> None:
    doc = make_array(root, "a", None, shape=(8, 8), dtype="uint16", fill_value=7)
    chunk = crud.read_chunk(doc, store, "a", (1, 1), engine=engine)
    np.testing.assert_array_equal(chunk, np.full((4, 4), 7))
    _assert_owned_result(chunk)
    np.testing.assert_array_equal(
        crud.read_region(doc, store, "a", IX[3:5, 3:5], engine=engine), np.full((2, 2), 7)
    )


def test_missing_store_reads_fill_without_creating_it(engine: str, root: pathlib.Path, store: str) -> None:
    doc = _v3_doc(root, "a", shape=(8, 8), dtype="float64", fill_value=float("nan"))
    assert np.isnan(crud.read_chunk(doc, store, "a", (0, 0), engine=engine)).all()
    assert np.isnan(crud.read_region(doc, store, "a", IX[1:3], engine=engine)).all()
    assert crud.read_encoded_chunk(doc, store, "a", (0, 0), engine=engine) is None
    crud.delete_chunk(doc, store, "a", (0, 0), engine=engine)
    assert not root.exists()


def test_metadata_view(engine: str, root: pathlib.Path, store: str) -> None:
    doc = make_array(root, "a", ARANGE, compressors=None)
    view = dict(
        doc,
        shape=[8, 16],
        data_type="uint8",
        fill_value=0,
        chunk_grid={"name": "regular", "configuration": {"chunk_shape": [4, 8]}},
    )
    as_bytes = ARANGE.astype("<u2").view("uint8")  # 8x16
    chunk = crud.read_chunk(view, store, "a", (1, 0), engine=engine)
    assert chunk.dtype == np.uint8 and chunk.shape == (4, 8)
    np.testing.assert_array_equal(chunk, as_bytes[4:, :8])
    np.testing.assert_array_equal(
        crud.read_region(view, store, "a", IX[2:7, 3:13], engine=engine), as_bytes[2:7, 3:13]
    )
    # the document is authoritative: the stored zarr.json is not consulted, nor changed
    assert stored_doc(root, "a") == doc


def test_read_chunk_results_are_writable_and_independent(engine: str, store: str, arange_doc: Doc) -> None:
    first = crud.read_chunk(arange_doc, store, "a", (0, 0), engine=engine)
    first[...] = 0
    again = crud.read_chunk(arange_doc, store, "a", (0, 0), engine=engine)
    np.testing.assert_array_equal(again, ARANGE[:4, :4])


@pytest.mark.parametrize("shape", [(4, 3), (3, 4), (16,), (4, 4, 1), ()])
def test_write_chunk_shape_mismatch_raises(
    engine: str, root: pathlib.Path, store: str, arange_doc: Doc, shape: tuple[int, ...]
) -> None:
    before = chunk_file(root, "a", arange_doc, (0, 0)).read_bytes()
    with pytest.raises(ValueError):
        crud.write_chunk(arange_doc, store, "a", (0, 0), np.zeros(shape, "uint16"), engine=engine)
    assert chunk_file(root, "a", arange_doc, (0, 0)).read_bytes() == before


@pytest.mark.parametrize(
    "value",
    [
        pytest.param([[2**20] * 4] * 4, id="int-overflow"),
        pytest.param([[-1] * 4] * 4, id="negative-into-unsigned"),
        pytest.param([["a"] * 4] * 4, id="strings"),
        pytest.param([[None] * 4] * 4, id="None"),
    ],
)
def test_write_chunk_converts_values_as_write_region_does(
    engine: str, root: pathlib.Path, store: str, arange_doc: Doc, value: Any
) -> None:
    """One conversion for chunk and region writes: what ``write_region`` refuses (a Python int the
    uint16 chunk cannot hold, a string) ``write_chunk`` refuses with the same typed error, instead
    of wrapping the int around or raising a bare builtin; nothing is stored."""
    before = chunk_file(root, "a", arange_doc, (0, 0)).read_bytes()
    with pytest.raises(InvalidArgumentError) as by_region:
        crud.write_region(arange_doc, store, "a", IX[0:4, 0:4], value, engine=engine)
    with pytest.raises(InvalidArgumentError) as by_chunk:
        crud.write_chunk(arange_doc, store, "a", (0, 0), value, engine=engine)
    assert str(by_chunk.value) == str(by_region.value)
    assert "cannot be converted to uint16" in str(by_chunk.value)
    assert chunk_file(root, "a", arange_doc, (0, 0)).read_bytes() == before


def test_all_fill_write_drops_the_key(engine: str, root: pathlib.Path, store: str) -> None:
    doc = make_array(root, "a", None, shape=(8, 8), dtype="uint16", fill_value=7)
    crud.write_chunk(doc, store, "a", (0, 0), np.full((4, 4), 7, "uint16"), engine=engine)
    assert not chunk_file(root, "a", doc, (0, 0)).exists()
    assert crud.read_encoded_chunk(doc, store, "a", (0, 0), engine=engine) is None


def test_overwrite_with_fill_removes_the_key(
    engine: str, root: pathlib.Path, store: str, arange_doc: Doc
) -> None:
    path = chunk_file(root, "a", arange_doc, (1, 1))
    assert path.exists()
    crud.write_chunk(arange_doc, store, "a", (1, 1), np.full((4, 4), 7, "uint16"), engine=engine)
    assert not path.exists()
    np.testing.assert_array_equal(open_zarr(root, "a")[4:, 4:], np.full((4, 4), 7))


def test_fill_check_is_nan_aware_and_bit_exact(engine: str, root: pathlib.Path, store: str) -> None:
    doc = make_array(root, "f", None, shape=(4, 4), dtype="float64", fill_value=float("nan"))
    crud.write_chunk(doc, store, "f", (0, 0), np.full((4, 4), 1.0), engine=engine)
    assert chunk_file(root, "f", doc, (0, 0)).exists()
    crud.write_chunk(doc, store, "f", (0, 0), np.full((4, 4), np.nan), engine=engine)
    assert not chunk_file(root, "f", doc, (0, 0)).exists()
    zero = make_array(root, "z", None, shape=(4, 4), dtype="float64", fill_value=0.0)
    crud.write_chunk(zero, store, "z", (0, 0), np.full((4, 4), -0.0), engine=engine)
    assert chunk_file(root, "z", zero, (0, 0)).exists()  # -0.0 is not the fill 0.0


def test_fill_check_on_v2_null_fill(engine: str, root: pathlib.Path, store: str) -> None:
    doc = make_array(root, "a", None, shape=(8, 8), dtype="int32", zarr_format=2, fill_value=None)
    assert doc["fill_value"] is None
    np.testing.assert_array_equal(crud.read_chunk(doc, store, "a", (0, 0), engine=engine), np.zeros((4, 4)))
    crud.write_chunk(doc, store, "a", (0, 0), np.zeros((4, 4), "int32"), engine=engine)
    assert not chunk_file(root, "a", doc, (0, 0)).exists()


def test_encoded_chunk_equals_stored_bytes(engine: str, root: pathlib.Path, store: str) -> None:
    doc = make_array(root, "a", ARANGE, compressors=[ZstdCodec(level=1)])
    for coords in [(0, 0), (1, 1)]:
        raw = crud.read_encoded_chunk(doc, store, "a", coords, engine=engine)
        assert isinstance(raw, bytes)
        assert raw == chunk_file(root, "a", doc, coords).read_bytes()
    crud.delete_chunk(doc, store, "a", (1, 0), engine=engine)
    assert crud.read_encoded_chunk(doc, store, "a", (1, 0), engine=engine) is None


def test_encoded_chunk_v2_and_sharded(engine: str, root: pathlib.Path, store: str) -> None:
    v2 = make_array(root, "v2", ARANGE, zarr_format=2)
    assert (
        crud.read_encoded_chunk(v2, store, "v2", (0, 1), engine=engine)
        == chunk_file(root, "v2", v2, (0, 1)).read_bytes()
    )
    sh = make_array(root, "sh", ARANGE, chunks=(2, 2), shards=(4, 4))
    assert (
        crud.read_encoded_chunk(sh, store, "sh", (1, 1), engine=engine)
        == chunk_file(root, "sh", sh, (1, 1)).read_bytes()
    )


def test_delete_chunk(engine: str, root: pathlib.Path, store: str, arange_doc: Doc) -> None:
    crud.delete_chunk(arange_doc, store, "a", (0, 1), engine=engine)
    assert not chunk_file(root, "a", arange_doc, (0, 1)).exists()
    crud.delete_chunk(arange_doc, store, "a", (0, 1), engine=engine)  # missing: no-op
    expected = ARANGE.copy()
    expected[:4, 4:] = 7
    np.testing.assert_array_equal(open_zarr(root, "a")[...], expected)


@pytest.mark.parametrize(
    ("coords", "error"),
    [
        ((2, 0), IndexError),
        ((0, -1), IndexError),
        ((0,), IndexError),
        ((0, 0, 0), IndexError),
        ((0.0, 0), TypeError),
        ((True, 0), TypeError),
        ("00", TypeError),
    ],
)
def test_bad_chunk_coords(
    engine: str, store: str, arange_doc: Doc, coords: Any, error: type[Exception]
) -> None:
    for call in [crud.read_chunk, crud.read_encoded_chunk, crud.delete_chunk]:
        with pytest.raises(error):
            call(arange_doc, store, "a", coords, engine=engine)
    with pytest.raises(error):
        crud.write_chunk(arange_doc, store, "a", coords, np.zeros((4, 4), "uint16"), engine=engine)


def test_numpy_integer_chunk_coords(engine: str, store: str, arange_doc: Doc) -> None:
    coords: Any = (np.int64(1), np.uint8(0))
    chunk = crud.read_chunk(arange_doc, store, "a", coords, engine=engine)
    np.testing.assert_array_equal(chunk, ARANGE[4:, :4])


def test_corrupt_chunk_raises_codec_error(engine: str, root: pathlib.Path, store: str) -> None:
    doc = make_array(root, "a", ARANGE, compressors=[ZstdCodec(level=1)])
    chunk_file(root, "a", doc, (0, 0)).write_bytes(b"definitely not zstd")
    with pytest.raises(CodecError):
        crud.read_chunk(doc, store, "a", (0, 0), engine=engine)
    # other chunks are unaffected, and an empty selection does no I/O at all
    np.testing.assert_array_equal(crud.read_chunk(doc, store, "a", (1, 1), engine=engine), ARANGE[4:, 4:])
    assert crud.read_region(doc, store, "a", IX[0:0, :], engine=engine).shape == (0, 8)


# ==================================================================================================
# Regions
# ==================================================================================================
@pytest.mark.parametrize("selection", REGIONS, ids=_id)
def test_read_region(engine: str, store: str, arange_doc: Doc, selection: Any) -> None:
    result = crud.read_region(arange_doc, store, "a", selection, engine=engine)
    expected = np.asarray(ARANGE[selection])
    assert result.shape == expected.shape
    assert result.dtype == np.dtype("uint16")
    np.testing.assert_array_equal(result, expected)
    _assert_owned_result(result)


@pytest.mark.parametrize("selection", REGIONS, ids=_id)
def test_read_region_sharded(engine: str, root: pathlib.Path, store: str, selection: Any) -> None:
    doc = make_array(root, "s", ARANGE, chunks=(2, 2), shards=(4, 4))
    np.testing.assert_array_equal(
        crud.read_region(doc, store, "s", selection, engine=engine), ARANGE[selection]
    )


@pytest.mark.parametrize("selection", REGIONS, ids=_id)
def test_write_region(engine: str, root: pathlib.Path, store: str, arange_doc: Doc, selection: Any) -> None:
    expected = ARANGE.copy()
    n = np.asarray(expected[selection]).size
    value = (1000 + np.arange(n)).astype("uint16").reshape(np.shape(expected[selection]))
    expected[selection] = value
    crud.write_region(arange_doc, store, "a", selection, value, engine=engine)
    np.testing.assert_array_equal(open_zarr(root, "a")[...], expected)


def test_write_region_sharded(engine: str, root: pathlib.Path, store: str) -> None:
    doc = make_array(root, "s", ARANGE, chunks=(2, 2), shards=(4, 4))
    expected = ARANGE.copy()
    expected[1:7, 6:0:-2] = 999
    crud.write_region(doc, store, "s", IX[1:7, 6:0:-2], 999, engine=engine)
    np.testing.assert_array_equal(open_zarr(root, "s")[...], expected)


def test_write_region_broadcasts_and_casts(
    engine: str, root: pathlib.Path, store: str, arange_doc: Doc
) -> None:
    crud.write_region(arange_doc, store, "a", IX[2:4, :], np.arange(8), engine=engine)  # int64 -> uint16
    expected = ARANGE.copy()
    expected[2:4, :] = np.arange(8)
    np.testing.assert_array_equal(open_zarr(root, "a")[...], expected)
    with pytest.raises(ValueError):
        crud.write_region(arange_doc, store, "a", IX[2:4, :], np.arange(3), engine=engine)
    np.testing.assert_array_equal(open_zarr(root, "a")[...], expected)


def test_write_region_of_fill_drops_chunks(
    engine: str, root: pathlib.Path, store: str, arange_doc: Doc
) -> None:
    crud.write_region(arange_doc, store, "a", IX[:4, :], 7, engine=engine)
    assert not chunk_file(root, "a", arange_doc, (0, 0)).exists()
    assert not chunk_file(root, "a", arange_doc, (0, 1)).exists()
    assert chunk_file(root, "a", arange_doc, (1, 0)).exists()


def test_write_region_creates_missing_chunks(engine: str, root: pathlib.Path, store: str) -> None:
    doc = make_array(root, "a", None, shape=(8, 8), dtype="uint16", fill_value=7)
    crud.write_region(doc, store, "a", IX[3:5, 3:5], 1, engine=engine)
    expected = np.full((8, 8), 7, "uint16")
    expected[3:5, 3:5] = 1
    np.testing.assert_array_equal(open_zarr(root, "a")[...], expected)


def test_region_too_many_indices(engine: str, store: str, arange_doc: Doc) -> None:
    with pytest.raises(IndexError):
        crud.read_region(arange_doc, store, "a", IX[1, 2, 3], engine=engine)
    with pytest.raises(IndexError):
        crud.write_region(arange_doc, store, "a", IX[1, 2, 3], 0, engine=engine)
    with pytest.raises(IndexError):
        crud.read_region(arange_doc, store, "a", IX[..., 1, ...], engine=engine)


@pytest.mark.parametrize(
    "selection",
    [IX[[1, 2]], IX[np.array([1, 2]), :], IX[ARANGE > 5], IX[None], IX[:, None], IX[True], IX[1.0], IX["a"]],
    ids=["list", "int-array", "mask", "None", "newaxis", "bool", "float", "str"],
)
def test_region_fancy_rejected(
    engine: str, root: pathlib.Path, store: str, arange_doc: Doc, selection: Any
) -> None:
    before = stored_doc(root, "a")
    with pytest.raises(TypeError):
        crud.read_region(arange_doc, store, "a", selection, engine=engine)
    with pytest.raises(TypeError):
        crud.write_region(arange_doc, store, "a", selection, 0, engine=engine)
    np.testing.assert_array_equal(open_zarr(root, "a")[...], ARANGE)
    assert stored_doc(root, "a") == before


@pytest.mark.parametrize("selection", [IX[8], IX[-9], IX[0, 8], IX[:, -9]], ids=_id)
def test_region_out_of_bounds(
    engine: str, root: pathlib.Path, store: str, arange_doc: Doc, selection: Any
) -> None:
    with pytest.raises(IndexError):
        crud.read_region(arange_doc, store, "a", selection, engine=engine)
    with pytest.raises(IndexError):
        crud.write_region(arange_doc, store, "a", selection, 0, engine=engine)
    np.testing.assert_array_equal(open_zarr(root, "a")[...], ARANGE)


def test_region_zero_step(engine: str, store: str, arange_doc: Doc) -> None:
    with pytest.raises(ValueError):
        crud.read_region(arange_doc, store, "a", IX[::0], engine=engine)


@pytest.mark.parametrize("selection", [IX[0:0, :], IX[:, 5:2], IX[3, 2:2], IX[8:]], ids=_id)
def test_empty_selection_does_no_io(
    engine: str, root: pathlib.Path, store: str, arange_doc: Doc, selection: Any
) -> None:
    for coords in [(0, 0), (0, 1), (1, 0), (1, 1)]:
        chunk_file(root, "a", arange_doc, coords).write_bytes(b"garbage")
    result = crud.read_region(arange_doc, store, "a", selection, engine=engine)
    assert result.shape == ARANGE[selection].shape
    assert result.dtype == np.uint16
    crud.write_region(arange_doc, store, "a", selection, 1, engine=engine)
    assert chunk_file(root, "a", arange_doc, (0, 0)).read_bytes() == b"garbage"


def test_zero_size_array(engine: str, root: pathlib.Path, store: str) -> None:
    doc = make_array(root, "e", None, shape=(0, 5), dtype="int16", chunks=(2, 2))
    assert crud.read_region(doc, store, "e", IX[...], engine=engine).shape == (0, 5)
    with pytest.raises(IndexError):
        crud.read_chunk(doc, store, "e", (0, 0), engine=engine)


def test_three_d_region(engine: str, root: pathlib.Path, store: str) -> None:
    data = np.arange(5 * 6 * 7, dtype="float64").reshape(5, 6, 7) / 4
    doc = make_array(root, "c", data, chunks=(2, 4, 3))
    for sel in [IX[1, ..., ::-2], IX[:, 2], IX[::2, 5:0:-2, 6], IX[4, 5, 6], IX[()]]:
        np.testing.assert_array_equal(crud.read_region(doc, store, "c", sel, engine=engine), data[sel])


_SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
_SHAPE = (7, 9)


@_SETTINGS
@given(selection=hnp.basic_indices(_SHAPE, allow_newaxis=False, allow_ellipsis=True))
def test_read_region_matches_numpy(engine: str, root: pathlib.Path, selection: Any) -> None:
    data = np.arange(63, dtype="int16").reshape(_SHAPE) - 30
    store = str(root)
    doc = stored_doc(root, "h") if (root / "h").exists() else make_array(root, "h", data, chunks=(3, 4))
    np.testing.assert_array_equal(
        crud.read_region(doc, store, "h", selection, engine=engine), data[selection]
    )


@_SETTINGS
@given(
    selection=hnp.basic_indices(_SHAPE, allow_newaxis=False, allow_ellipsis=True),
    value=st.integers(-100, 100),
)
def test_write_region_matches_numpy(engine: str, root: pathlib.Path, selection: Any, value: int) -> None:
    data = np.arange(63, dtype="int16").reshape(_SHAPE) - 30
    doc = make_array(root, "h", data, chunks=(3, 4), fill_value=0, overwrite=True)
    expected = data.copy()
    shape = np.shape(expected[selection])
    block = (value + np.arange(int(np.prod(shape)))).astype("int16").reshape(shape)
    expected[selection] = block
    crud.write_region(doc, str(root), "h", selection, block, engine=engine)
    np.testing.assert_array_equal(open_zarr(root, "h")[...], expected)


# --- read_region_into -----------------------------------------------------------------------------
def test_read_region_into_returns_out(engine: str, store: str, arange_doc: Doc) -> None:
    out = np.empty((5, 4), "uint16")
    assert crud.read_region_into(out, arange_doc, store, "a", IX[2:7, 1:5], engine=engine) is out
    np.testing.assert_array_equal(out, ARANGE[2:7, 1:5])
    scalar_out = np.empty((), "uint16")
    assert crud.read_region_into(scalar_out, arange_doc, store, "a", IX[3, 4], engine=engine) is scalar_out
    assert scalar_out == ARANGE[3, 4]
    empty = np.empty((0, 8), "uint16")
    assert crud.read_region_into(empty, arange_doc, store, "a", IX[0:0], engine=engine) is empty


def test_read_region_into_big_endian_array_takes_native_out(
    engine: str, root: pathlib.Path, store: str
) -> None:
    data = np.arange(64, dtype=">u2").reshape(8, 8)
    doc = make_array(root, "b", data, zarr_format=2)
    out = np.empty((8, 8), "=u2")
    crud.read_region_into(out, doc, store, "b", IX[...], engine=engine)
    np.testing.assert_array_equal(out, data)
    with pytest.raises(DataTypeMismatchError):
        crud.read_region_into(np.empty((8, 8), ">u2"), doc, store, "b", IX[...], engine=engine)


@pytest.mark.parametrize(
    ("make_out", "error", "word"),
    [
        (lambda: np.empty((5, 4), "int32"), DataTypeMismatchError, "dtype"),
        (lambda: np.empty((4, 5), "uint16"), OutputBufferError, "shape"),
        (lambda: np.empty((5, 4, 1), "uint16"), OutputBufferError, "shape"),
        (lambda: np.empty((4, 5), "uint16").T, OutputBufferError, "contiguous"),
        (lambda: np.empty((5, 8), "uint16")[:, ::2], OutputBufferError, "contiguous"),
        (lambda: np.broadcast_to(np.empty((1, 4), "uint16"), (5, 4)), OutputBufferError, None),
        (lambda: _read_only(np.empty((5, 4), "uint16")), OutputBufferError, "writ"),
        (lambda: [[0] * 4] * 5, OutputBufferError, "ndarray"),
    ],
    ids=["dtype", "shape", "ndim", "fortran", "strided", "broadcast", "read-only", "list"],
)
def test_read_region_into_rejects_bad_out(
    engine: str,
    store: str,
    arange_doc: Doc,
    make_out: Callable[[], Any],
    error: type[Exception],
    word: str | None,
) -> None:
    with pytest.raises(error, match=word):
        crud.read_region_into(make_out(), arange_doc, store, "a", IX[2:7, 1:5], engine=engine)


def _read_only(a: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    a.flags.writeable = False
    return a


# ==================================================================================================
# Stores
# ==================================================================================================
def test_store_forms(engine: str, root: pathlib.Path, arange_doc: Doc) -> None:
    from zarr.storage import LocalStore

    forms: list[Any] = [str(root), root, LocalStore(root), f"file://{root}"]
    for form in forms:
        np.testing.assert_array_equal(crud.read_region(arange_doc, form, "a", IX[...], engine=engine), ARANGE)
        assert crud.read_metadata(form, "a", engine=engine) == arange_doc


def test_relative_store_path(
    engine: str, root: pathlib.Path, arange_doc: Doc, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(root.parent)
    np.testing.assert_array_equal(
        crud.read_chunk(arange_doc, root.name, "a", (0, 0), engine=engine), ARANGE[:4, :4]
    )


def _all_calls(doc: Doc, store: Any, engine: str) -> dict[str, Callable[[], Any]]:
    e = {"engine": engine}
    return {
        "create_new_group": lambda: crud.create_new_group(V3_GROUP, store, "g", **e),
        "create_overwrite_group": lambda: crud.create_overwrite_group(V3_GROUP, store, "g", **e),
        "create_new_array": lambda: crud.create_new_array(doc, store, "x", **e),
        "create_overwrite_array": lambda: crud.create_overwrite_array(doc, store, "x", **e),
        "read_metadata": lambda: crud.read_metadata(store, "a", **e),
        "delete_node": lambda: crud.delete_node(store, "a", **e),
        "list_children": lambda: crud.list_children(store, "", **e),
        "read_chunk": lambda: crud.read_chunk(doc, store, "a", (0, 0), **e),
        "read_encoded_chunk": lambda: crud.read_encoded_chunk(doc, store, "a", (0, 0), **e),
        "write_chunk": lambda: crud.write_chunk(doc, store, "a", (0, 0), np.zeros((4, 4), "uint16"), **e),
        "delete_chunk": lambda: crud.delete_chunk(doc, store, "a", (0, 0), **e),
        "read_region": lambda: crud.read_region(doc, store, "a", IX[...], **e),
        "read_region_into": lambda: crud.read_region_into(
            np.empty((8, 8), "uint16"), doc, store, "a", IX[...], **e
        ),
        "write_region": lambda: crud.write_region(doc, store, "a", IX[...], 0, **e),
    }


def _unsupported_stores() -> list[Any]:
    from zarr.storage import MemoryStore

    return [{}, {"a/zarr.json": b"{}"}, MemoryStore(), b"/tmp/bytes-path", 42, None, "ftp://host/x.zarr", ""]


@pytest.mark.parametrize(
    "bad_store",
    _unsupported_stores(),
    ids=lambda s: type(s).__name__ + (repr(s)[:12] if isinstance(s, str) else ""),
)
def test_unsupported_store_from_every_method(engine: str, arange_doc: Doc, bad_store: Any) -> None:
    calls = _all_calls(arange_doc, bad_store, engine)
    assert set(calls) == set(crud._facade.__all__)
    for name, call in calls.items():
        with pytest.raises(UnsupportedStoreError) as info:
            call()
        assert isinstance(info.value, TypeError), name
        assert type(bad_store).__name__ in str(info.value) or isinstance(bad_store, str), name


def test_read_only_local_store_rejects_writes(engine: str, root: pathlib.Path, arange_doc: Doc) -> None:
    from zarr.storage import LocalStore

    ro = LocalStore(root, read_only=True)
    writes = [
        "create_new_group",
        "create_overwrite_group",
        "create_new_array",
        "create_overwrite_array",
        "delete_node",
        "write_chunk",
        "delete_chunk",
        "write_region",
    ]
    calls = _all_calls(arange_doc, ro, engine)
    for name in writes:
        with pytest.raises(ReadOnlyError):
            calls[name]()
    np.testing.assert_array_equal(open_zarr(root, "a")[...], ARANGE)
    assert not (root / "g").exists()
    np.testing.assert_array_equal(crud.read_region(arange_doc, ro, "a", IX[...], engine=engine), ARANGE)


# ==================================================================================================
# aio twins
# ==================================================================================================
def test_aio_has_a_twin_of_every_function() -> None:
    for name in crud._facade.__all__:
        sync_fn = getattr(crud, name)
        async_fn = getattr(aio, name)
        assert inspect.iscoroutinefunction(async_fn), name
        assert list(inspect.signature(async_fn).parameters) == list(inspect.signature(sync_fn).parameters), (
            name
        )


def test_aio_round_trip(engine: str, root: pathlib.Path, store: str) -> None:
    doc = _v3_doc(root, "a", shape=(8, 8), dtype="uint16", fill_value=7)

    async def scenario() -> None:
        await aio.create_new_group(V3_GROUP, store, "", engine=engine)
        await aio.create_overwrite_group(V2_GROUP, store, "g", engine=engine)
        await aio.create_new_array(doc, store, "g/a", engine=engine)
        await aio.create_overwrite_array(doc, store, "g/a", engine=engine)
        assert await aio.read_metadata(store, "g/a", engine=engine) == doc
        assert [p for p, _ in await aio.list_children(store, "g", engine=engine)] == ["g/a"]
        # concurrent writes of different chunks, then concurrent reads
        await asyncio.gather(
            *(
                aio.write_chunk(
                    doc, store, "g/a", (i, j), ARANGE[4 * i : 4 * i + 4, 4 * j : 4 * j + 4], engine=engine
                )
                for i in range(2)
                for j in range(2)
            )
        )
        chunks = await asyncio.gather(
            *(aio.read_chunk(doc, store, "g/a", (i, 1), engine=engine) for i in range(2))
        )
        np.testing.assert_array_equal(np.concatenate(chunks), ARANGE[:, 4:])
        assert await aio.read_encoded_chunk(doc, store, "g/a", (0, 0), engine=engine) is not None
        await aio.delete_chunk(doc, store, "g/a", (0, 0), engine=engine)
        await aio.write_region(doc, store, "g/a", IX[4:, ::-1], 1, engine=engine)
        expected = ARANGE.copy()
        expected[:4, :4] = 7
        expected[4:, :] = 1
        np.testing.assert_array_equal(
            await aio.read_region(doc, store, "g/a", IX[...], engine=engine), expected
        )
        out = np.empty((2, 8), "uint16")
        assert await aio.read_region_into(out, doc, store, "g/a", IX[3:5], engine=engine) is out
        np.testing.assert_array_equal(out, expected[3:5])
        await aio.delete_node(store, "g", engine=engine)
        with pytest.raises(NodeNotFoundError):
            await aio.read_metadata(store, "g", engine=engine)
        with pytest.raises(UnsupportedStoreError):
            await aio.read_metadata({}, "", engine=engine)  # type: ignore[arg-type]

    asyncio.run(scenario())


# ==================================================================================================
# Registry
# ==================================================================================================
def test_list_backends_includes_lazy_engines() -> None:
    names = crud.list_backends()
    assert {"cffi", "zarr"} <= set(names)
    assert names == sorted(names)


@pytest.mark.parametrize("call", ["get_backend", "facade"])
def test_unknown_engine_is_value_error_listing_names(store: str, call: str) -> None:
    with pytest.raises(ValueError, match="nope") as info:
        if call == "get_backend":
            crud.get_backend("nope")
        else:
            crud.read_metadata(store, "", engine="nope")
    for name in crud.list_backends():
        assert name in str(info.value)


def test_env_var_selects_default_engine(monkeypatch: pytest.MonkeyPatch, store: str, arange_doc: Doc) -> None:
    monkeypatch.setenv(registry.ENGINE_ENV_VAR, "zarr")
    assert crud.get_backend(None).name == "zarr"
    assert crud.get_backend().name == "zarr"
    np.testing.assert_array_equal(crud.read_region(arange_doc, store, "a", IX[...]), ARANGE)
    monkeypatch.setenv(registry.ENGINE_ENV_VAR, "bogus")
    with pytest.raises(ValueError, match=registry.ENGINE_ENV_VAR):
        crud.get_backend(None)


def test_default_engine_is_cffi(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(registry.ENGINE_ENV_VAR, raising=False)
    if engine_unavailable("cffi") is None:
        assert crud.get_backend(None).name == "cffi"
    else:
        with pytest.raises(ImportError) as info:
            crud.get_backend(None)
        assert isinstance(info.value, ZarrsError)
        assert "cffi" in str(info.value)


class _Recording(ZarrBackend):
    """A backend that records the calls it serves (and then does the real work)."""

    name = "recording"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def read_metadata(self, store: Any, path: str) -> Doc:
        self.calls.append("read_metadata")
        return super().read_metadata(store, path)

    def read_region(self, metadata: Any, store: Any, path: str, selection: Any, out: Any = None) -> Any:
        self.calls.append("read_region")
        return super().read_region(metadata, store, path, selection, out)


def test_backend_object_passed_directly(store: str, arange_doc: Doc) -> None:
    backend = _Recording()
    assert isinstance(backend, crud.CrudBackend)
    assert crud.read_metadata(store, "a", engine=backend) == arange_doc
    out = np.empty((8, 8), "uint16")
    crud.read_region_into(out, arange_doc, store, "a", IX[...], engine=backend)
    assert backend.calls == ["read_metadata", "read_region"]
    assert "recording" not in crud.list_backends()


def test_register_backend(monkeypatch: pytest.MonkeyPatch, store: str, arange_doc: Doc) -> None:
    monkeypatch.setattr(registry, "_BACKENDS", dict(registry._BACKENDS))
    backend = _Recording()
    crud.register_backend("rec", backend)
    assert "rec" in crud.list_backends()
    assert crud.get_backend("rec") is backend
    crud.read_metadata(store, "a", engine="rec")
    assert backend.calls == ["read_metadata"]


def test_register_rejects_non_backends(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_BACKENDS", dict(registry._BACKENDS))
    with pytest.raises(TypeError, match="CrudBackend"):
        crud.register_backend("bad", object())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        crud.register_backend("", ZarrBackend())
    with pytest.raises(TypeError, match="CrudBackend"):
        crud.read_metadata("x", "", engine=object())  # type: ignore[arg-type]


def test_lazy_engine_import_failure_is_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        registry, "_LAZY", {**registry._LAZY, "ghost": "zarrs_cffi.engines.no_such_engine:Ghost"}
    )
    assert "ghost" in crud.list_backends()
    with pytest.raises(crud.BackendUnavailableError, match="ghost") as info:
        crud.get_backend("ghost")
    assert isinstance(info.value, ImportError) and isinstance(info.value, ZarrsError)


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(pathlib.Path(__file__).parents[2])},
    )


def test_import_does_not_import_zarr() -> None:
    proc = _run_python(
        """
        import sys
        import zarrs_cffi.crud, zarrs_cffi.crud.aio, zarrs_cffi.engines.zarr_engine
        assert "zarr" not in sys.modules, sorted(m for m in sys.modules if m.startswith("zarr."))
        print("ok")
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_without_zarr_the_zarr_engine_says_what_to_install() -> None:
    proc = _run_python(
        """
        import sys
        sys.modules["zarr"] = None  # as if zarr-python were not installed
        import zarrs_cffi.crud as crud
        assert "zarr" in crud.list_backends()
        try:
            crud.get_backend("zarr")
        except crud.BackendUnavailableError as err:
            assert isinstance(err, ImportError)
            print(err)
        else:
            raise SystemExit("no error")
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert "pip install" in proc.stdout and "zarr" in proc.stdout


def test_backend_class_instead_of_instance_rejected(store: str) -> None:
    with pytest.raises(TypeError, match="instance"):
        crud.read_metadata(store, "", engine=ZarrBackend)  # type: ignore[arg-type]


# ==================================================================================================
# Store and path helpers
# ==================================================================================================
def test_zarr_path_helpers() -> None:
    from zarrs_cffi.crud.store import check_zarr_path, zarr_path_to_node

    assert zarr_path_to_node("") == "/"
    assert zarr_path_to_node("a/b") == "/a/b"
    assert check_zarr_path("a.b/c-d/é") == "a.b/c-d/é"
    for bad, word in [
        ("/a", "starts"),
        ("a/", "ends"),
        ("a//b", "empty"),
        ("a/../b", '".."'),
        ("a\x00", "NUL"),
    ]:
        with pytest.raises(InvalidArgumentError, match=word):
            zarr_path_to_node(bad)
    with pytest.raises(InvalidArgumentError, match="must be a str, got bytes"):
        check_zarr_path(b"a")


def test_resolve_local_root(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zarr.storage import LocalStore

    from zarrs_cffi.crud.store import resolve_local_root

    monkeypatch.chdir(tmp_path)
    assert resolve_local_root("x.zarr") == tmp_path / "x.zarr"
    assert resolve_local_root(pathlib.Path("x.zarr")) == tmp_path / "x.zarr"
    assert resolve_local_root(LocalStore("x.zarr")) == tmp_path / "x.zarr"
    assert resolve_local_root(f"file://{tmp_path}/x.zarr") == tmp_path / "x.zarr"
    for bad, word in [({}, "dict"), (b"x", "bytes"), ("gs://b/x", "URL"), ("", "empty"), (1.5, "float")]:
        with pytest.raises(UnsupportedStoreError, match=word):
            resolve_local_root(bad)


def test_package_store_handle_is_accepted(engine: str, root: pathlib.Path, arange_doc: Doc) -> None:
    try:
        from zarrs_cffi.store import Store
    except Exception as err:  # the native library is not built
        pytest.skip(f"zarrs_cffi.store unavailable: {err}")
    handle = Store(root)
    np.testing.assert_array_equal(crud.read_region(arange_doc, handle, "a", IX[...], engine=engine), ARANGE)


def test_zero_dimensional_array(engine: str, root: pathlib.Path, store: str) -> None:
    doc = make_array(root, "s", np.array(5, dtype="int64"), chunks=())
    result = crud.read_region(doc, store, "s", IX[...], engine=engine)
    assert result.shape == () and result == 5
    np.testing.assert_array_equal(crud.read_chunk(doc, store, "s", (), engine=engine), np.array(5))
    crud.write_region(doc, store, "s", IX[()], 9, engine=engine)
    assert open_zarr(root, "s")[()] == 9
