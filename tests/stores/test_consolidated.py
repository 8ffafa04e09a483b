"""Consolidated metadata: written by zarrs_cffi.consolidate in zarr-python's forms (v3 inline in the
root zarr.json, v2 .zmetadata), read by zarr-python, and used for listing on read-only stores."""

from __future__ import annotations

import json
import pathlib
import zipfile
from typing import Any

import numpy as np
import pytest
from store_fixtures import Place

import zarrs_cffi

zarr = pytest.importorskip("zarr")


def _hierarchy(place: Place) -> None:
    zarrs_cffi.create_group(place.url, attributes={"title": "t"}, storage_options=place.options)
    zarrs_cffi.create_group(place.url, "/g", attributes={"x": 1}, storage_options=place.options)
    for node in ("/a", "/g/b"):
        zarrs_cffi.create_array(
            place.url, node, shape=(6,), dtype="int16", chunks=(3,), storage_options=place.options
        )[...] = np.arange(6)


def test_consolidate_writes_what_zarr_python_reads(place: Place) -> None:
    _hierarchy(place)
    documents = zarrs_cffi.consolidate(place.url, storage_options=place.options)
    assert sorted(documents) == ["a", "g", "g/b"]
    with place.store() as store:
        root = json.loads(store.get_key("zarr.json") or b"")
        assert root["attributes"] == {"title": "t"}
        assert sorted(root["consolidated_metadata"]["metadata"]) == ["a", "g", "g/b"]
        # Listing from it gives what listing the store gives.
        assert store.list_children("/", consolidated=True) == store.list_children("/", consolidated=False)
        assert [p for p, _ in store.list_children("/g", consolidated=True)] == ["g/b"]
    zstore = place.zarr_store()
    if zstore is not None:
        group = zarr.open_consolidated(zstore, mode="r")
        assert sorted(name for name, _ in group.members(max_depth=None)) == ["a", "g", "g/b"]
        np.testing.assert_array_equal(group["g/b"][...], np.arange(6))


def test_consolidated_listing_is_one_request_and_works_on_read_only_stores(tmp_path: pathlib.Path) -> None:
    directory = tmp_path / "h.zarr"
    _hierarchy(Place("local", str(directory)))
    zarrs_cffi.consolidate(directory)
    archive = tmp_path / "h.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(directory).as_posix())
    with zarrs_cffi.Store(archive) as store:
        assert store.read_only
        assert [p for p, _ in store.list_children("/")] == ["a", "g"]
        with pytest.raises(zarrs_cffi.NodeNotFoundError):
            store.list_children("/nope")
        with pytest.raises(zarrs_cffi.ReadOnlyError):
            store.set_key("zarr.json", b"{}")


def test_v2_consolidated(tmp_path: pathlib.Path) -> None:
    root = tmp_path / "v2.zarr"
    group = zarr.open_group(root, mode="w", zarr_format=2)
    group.attrs["t"] = 1
    group.create_array("a", shape=(4,), dtype="u1", chunks=(2,))[...] = [1, 2, 3, 4]
    group.create_group("g").create_array("b", shape=(2,), dtype="f4", chunks=(2,))
    documents = zarrs_cffi.consolidate(root)
    assert sorted(documents) == ["a", "g", "g/b"]
    flat = json.loads((root / ".zmetadata").read_text())
    assert flat["zarr_consolidated_format"] == 1 and "a/.zarray" in flat["metadata"]
    assert ".zattrs" in flat["metadata"]
    assert sorted(name for name, _ in zarr.open_consolidated(root, mode="r").members(max_depth=None)) == [
        "a",
        "g",
        "g/b",
    ]
    with zarrs_cffi.Store(root, consolidated=True) as store:
        children = dict(store.list_children("/"))
        assert sorted(children) == ["a", "g"]
        assert children["a"]["shape"] == [4]


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_consolidated_listing_gives_the_documents_a_plain_listing_gives(
    tmp_path: pathlib.Path, zarr_format: int
) -> None:
    """zarr-python's consolidated entries of nested groups carry an empty ``consolidated_metadata``
    block that the groups' own documents lack: listings show the documents as stored."""
    root = tmp_path / "c.zarr"
    group = zarr.open_group(root, mode="w", zarr_format=zarr_format)
    group.create_group("sub").create_group("deep")
    group["sub"].create_array("a", shape=(2,), dtype="i1")
    zarr.consolidate_metadata(root)
    for node in ("/", "/sub"):
        with zarrs_cffi.Store(root, consolidated=True) as consolidated, zarrs_cffi.Store(root) as plain:
            plain_children = dict(plain.list_children(node, consolidated=False))
            assert dict(consolidated.list_children(node)) == plain_children
            assert all("consolidated_metadata" not in doc for doc in plain_children.values())


def test_consolidated_true_without_metadata_raises(place: Place) -> None:
    _hierarchy(place)
    store = zarrs_cffi.Store(place.url, consolidated=True, **place.options)
    with store, pytest.raises(zarrs_cffi.InvalidArgumentError, match="no consolidated metadata"):
        store.list_children("/")


def test_keys_round_trip(place: Place) -> None:
    with place.store() as store:
        assert store.get_key("some/key") is None
        store.set_key("some/key", b"\x00value")
        assert store.get_key("some/key") == b"\x00value"
        with pytest.raises(zarrs_cffi.InvalidArgumentError):
            store.get_key("/bad//key")


def test_consolidate_refuses_an_array_root(place: Place) -> None:
    kwargs: Any = {"storage_options": place.options}
    zarrs_cffi.create_array(place.url, shape=(2,), dtype="u1", chunks=(2,), **kwargs).close()
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match="array"):
        zarrs_cffi.consolidate(place.url, **kwargs)


def test_a_node_under_an_implied_group_is_not_consolidated(place: Place) -> None:
    """Parents are implied at the store level (and in the CRUD API): creating /x/y there leaves /x
    without a document. Consolidated metadata keeps to what listing reaches (consolidate() does not
    reach x/y either), so zarr-python still opens the store: it refuses consolidated metadata that
    holds x/y but no x."""
    from zarrs_cffi.metadata import array_document

    _hierarchy(place)
    zarrs_cffi.consolidate(place.url, storage_options=place.options)
    with place.store() as store:
        store.create_node("/x/y", array_document(shape=(2,), dtype="u1", chunks=(2,)))
    zarrs_cffi.create_array(
        place.url, "/g/z", shape=(2,), dtype="u1", chunks=(2,), storage_options=place.options
    )
    with place.store() as store:
        root = json.loads(store.get_key("zarr.json") or b"")
        assert sorted(root["consolidated_metadata"]["metadata"]) == ["a", "g", "g/b", "g/z"]
        assert store.list_children("/", consolidated=True) == store.list_children("/", consolidated=False)
        np.testing.assert_array_equal(zarrs_cffi.open_array(store, "/x/y")[...], [0, 0])
    assert sorted(zarrs_cffi.consolidate(place.url, storage_options=place.options)) == [
        "a",
        "g",
        "g/b",
        "g/z",
    ]
    zstore = place.zarr_store()
    if zstore is not None:
        group = zarr.open_consolidated(zstore, mode="r")
        assert sorted(name for name, _ in group.members(max_depth=None)) == ["a", "g", "g/b", "g/z"]


def test_create_array_writes_the_parents_into_consolidated_metadata(place: Place) -> None:
    """create_array writes missing parent groups (as zarr-python does), each kept in the
    consolidated metadata, which zarr-python then opens with the whole new branch."""
    _hierarchy(place)
    zarrs_cffi.consolidate(place.url, storage_options=place.options)
    zarrs_cffi.create_array(
        place.url, "/x/y/z", shape=(2,), dtype="u1", chunks=(2,), storage_options=place.options
    )
    with place.store() as store:
        root = json.loads(store.get_key("zarr.json") or b"")
        assert sorted(root["consolidated_metadata"]["metadata"]) == ["a", "g", "g/b", "x", "x/y", "x/y/z"]
        assert store.list_children("/x", consolidated=True) == store.list_children("/x", consolidated=False)
    zstore = place.zarr_store()
    if zstore is not None:
        group = zarr.open_consolidated(zstore, mode="r")
        assert sorted(name for name, _ in group.members(max_depth=None)) == [
            "a",
            "g",
            "g/b",
            "x",
            "x/y",
            "x/y/z",
        ]


def test_listing_uses_consolidated_metadata_and_our_writes_keep_it_true(place: Place) -> None:
    _hierarchy(place)
    zarrs_cffi.consolidate(place.url, storage_options=place.options)
    zarrs_cffi.create_group(place.url, "/g/h", storage_options=place.options)
    zarrs_cffi.create_array(
        place.url, "/c", shape=(2,), dtype="u1", chunks=(2,), storage_options=place.options
    )
    with place.store() as store:
        store.delete_node("/a")
        listed = store.list_children("/")  # from the consolidated metadata (the default)
        assert listed == store.list_children("/", consolidated=True)
        assert listed == store.list_children("/", consolidated=False)
        assert [p for p, _ in listed] == ["c", "g"]
        assert [p for p, _ in store.list_children("/g")] == ["g/b", "g/h"]
        # A node another writer adds without consolidating is not listed (zarr-python's rule too).
        store.set_key("x/zarr.json", b'{"zarr_format": 3, "node_type": "group", "attributes": {}}')
        assert [p for p, _ in store.list_children("/")] == ["c", "g"]
        assert [p for p, _ in store.list_children("/", consolidated=False)] == ["c", "g", "x"]


def test_crud_engines_and_consolidated_metadata(place: Place) -> None:
    """crud with engine="cffi" keeps consolidated metadata true, as zarrs_cffi's own calls do;
    engine="zarr" does what zarr-python does: the node is there, listed after `consolidate`."""
    from zarrs_cffi import crud

    if place.kind == "memory":
        pytest.skip("memory:// stores live in the native library: engine='zarr' cannot reach them")
    _hierarchy(place)
    zarrs_cffi.consolidate(place.url, storage_options=place.options)
    group = {"zarr_format": 3, "node_type": "group"}
    opts = {"storage_options": place.options}
    crud.create_new_group(group, place.url, "native", engine="cffi", **opts)
    crud.create_new_group(group, place.url, "by_zarr", engine="zarr", **opts)
    crud.delete_node(place.url, "a", engine="cffi", **opts)
    with place.store() as store:
        assert [p for p, _ in store.list_children("/")] == ["g", "native"]
        zarrs_cffi.consolidate(place.url, storage_options=place.options)
        assert [p for p, _ in store.list_children("/")] == ["by_zarr", "g", "native"]
