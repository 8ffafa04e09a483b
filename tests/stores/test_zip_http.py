"""Read-only stores: zip archives and plain HTTP servers, with zarr-python as the oracle.

* Zip: a hierarchy written by zarr-python (v3 with zstd, v3 sharded, v2 with the default compressor,
  nested groups with attributes) is zipped with :mod:`zipfile` (stored and deflated) or written by
  zarr-python's ``ZipStore`` directly, and read by ``zip://`` URL, by plain ``.zip`` path and through
  a ``ZipStore`` object. Every write raises :class:`zarrs_cffi.ReadOnlyError` and leaves the archive's
  bytes as they were.
* HTTP: the same hierarchy served on loopback by ``http.server`` (a server per fixture, shut down at
  teardown), both as is (no Range support: partial reads are cut from whole objects) and by a
  handler that answers ``Range: bytes=...`` with 206. Listing (PROPFIND) is not available on such a
  server: it must fail with a typed error.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import pathlib
import re
import socket
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest
from loopback_server import PlainHandler, Served, serve

import zarrs_cffi
import zarrs_cffi.cli
import zarrs_cffi.crud as crud

zarr = pytest.importorskip("zarr")

# --- the hierarchy ----------------------------------------------------------------------------------
SHAPE = (13, 11)
DTYPES = ("uint8", "int16", "float32", "float64", "bool", "complex64")
LAYOUTS: dict[str, dict[str, Any]] = {
    "plain": {"chunks": (5, 4), "compressors": zarr.codecs.ZstdCodec(level=3)},
    "sharded": {"chunks": (4, 4), "shards": (8, 8)},
    "v2": {"chunks": (5, 4), "zarr_format": 2},  # zarr-python's default v2 compressor
}
# Groups (zarr path -> (zarr_format, attributes)); "" is the root.
GROUPS: dict[str, tuple[int, dict[str, Any]]] = {
    "": (3, {"title": "read-only stores", "level": 0}),
    "plain": (3, {"layout": "plain"}),
    "sharded": (3, {"layout": "sharded"}),
    "v2": (2, {"layout": "v2"}),
    "nested": (3, {"level": 1}),
    "nested/deeper": (3, {"level": 2, "tags": ["a", "b"]}),
    "nested/deeper/deepest": (3, {"level": 3, "empty": {}}),
}
SPARSE = "nested/deeper/deepest/sparse"  # 1-d, fill value -1, only elements 10..19 written
SPARSE_WRITTEN = slice(10, 20)

REGIONS_2D = [
    np.s_[...],
    np.s_[2:9, 1:10],
    np.s_[1:12:3, ::4],
    np.s_[::-2, 3:0:-1],
    np.s_[4],
    np.s_[-1, ::5],
    np.s_[12, 10],
    np.s_[5:5, :],
    np.s_[..., 7],
    np.s_[3:4, -3:],
]
REGIONS_1D = [np.s_[...], np.s_[8:23], np.s_[::7], np.s_[::-3], np.s_[15], np.s_[40:], np.s_[0:0]]

OPTS = {"allow_http": True}  # the default for http:// URLs; given explicitly it must work too


def _values(dtype: str, shape: tuple[int, ...], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    kind = np.dtype(dtype).kind
    if kind == "b":
        return rng.random(shape) > 0.5
    if kind == "c":
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
    if kind == "f":
        return (rng.standard_normal(shape) * 100).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)


def array_nodes() -> list[str]:
    return [f"{layout}/{dtype}" for layout in LAYOUTS for dtype in DTYPES] + [SPARSE]


def array_attributes(node: str) -> dict[str, Any]:
    return {"node": node, "units": "m"}


def build_tree(store: Any) -> dict[str, np.ndarray]:
    """Write the hierarchy with zarr-python into ``store``; return what each array holds."""
    for path, (fmt, attributes) in GROUPS.items():
        zarr.create_group(store, path=path or None, zarr_format=fmt, attributes=attributes)
    written: dict[str, np.ndarray] = {}
    for seed, node in enumerate(array_nodes()):
        if node == SPARSE:
            arr = zarr.create_array(
                store,
                name=node,
                shape=(50,),
                dtype="int16",
                chunks=(7,),
                fill_value=-1,
                attributes=array_attributes(node),
            )
            expected = np.full((50,), -1, "int16")
            expected[SPARSE_WRITTEN] = np.arange(10, 20, dtype="int16") * 7
            arr[SPARSE_WRITTEN] = expected[SPARSE_WRITTEN]
        else:
            layout, dtype = node.split("/")
            expected = _values(dtype, SHAPE, seed)
            arr = zarr.create_array(
                store,
                name=node,
                shape=SHAPE,
                dtype=dtype,
                attributes=array_attributes(node),
                **LAYOUTS[layout],
            )
            arr[...] = expected
        written[node] = expected
    return written


def expected_children(group: str) -> list[str]:
    """The store-relative paths of a group's direct children, sorted."""
    prefix = f"{group}/" if group else ""
    nodes = [*GROUPS, *array_nodes()]
    return sorted(n for n in nodes if n and n.startswith(prefix) and "/" not in n[len(prefix) :])


def node_type(doc: dict[str, Any]) -> str:
    return str(doc.get("node_type") or ("array" if "shape" in doc else "group"))


def zarr_read_all(store: Any) -> dict[str, np.ndarray]:
    """zarr-python's reading of every array of the hierarchy."""
    return {node: zarr.open_array(store, path=node, mode="r")[...] for node in array_nodes()}


def regions_for(shape: tuple[int, ...]) -> list[Any]:
    return REGIONS_2D if len(shape) == 2 else REGIONS_1D


def assert_reads_like(arr: zarrs_cffi.Array, expected: np.ndarray, label: str) -> None:
    """Whole array, regions, read_into and orthogonal indexing all equal ``expected``."""
    assert arr.shape == expected.shape, label
    assert arr.dtype == expected.dtype, label
    np.testing.assert_array_equal(arr[...], expected, err_msg=label)
    for region in regions_for(expected.shape):
        want = expected[region]
        np.testing.assert_array_equal(arr[region], want, err_msg=f"{label} {region}")
        out = np.empty(want.shape, expected.dtype)
        assert arr.read_into(out, region) is out
        np.testing.assert_array_equal(out, want, err_msg=f"{label} read_into {region}")
    if expected.ndim == 2:
        rows, cols = [0, 5, 12], [1, 10]
        np.testing.assert_array_equal(arr.oindex[rows, cols], expected[np.ix_(rows, cols)], err_msg=label)
    else:
        np.testing.assert_array_equal(arr.oindex[[0, 14, 49]], expected[[0, 14, 49]], err_msg=label)


def chunk_shape(doc: dict[str, Any]) -> tuple[int, ...]:
    """The shape of one stored chunk (a shard, if sharded) from a v3 or v2 document."""
    if doc.get("zarr_format") == 2:
        return tuple(doc["chunks"])
    return tuple(doc["chunk_grid"]["configuration"]["chunk_shape"])


def expected_chunk(
    expected: np.ndarray, shape: tuple[int, ...], coords: tuple[int, ...], fill: Any
) -> np.ndarray:
    """The chunk at ``coords`` of ``expected`` at its full shape (the fill value past the edge)."""
    chunk = np.full(shape, fill, expected.dtype)
    src = tuple(slice(c * n, min((c + 1) * n, size)) for c, n, size in zip(coords, shape, expected.shape))
    chunk[tuple(slice(0, s.stop - s.start) for s in src)] = expected[src]
    return chunk


def zip_directory(source: pathlib.Path, dest: pathlib.Path, compression: int) -> pathlib.Path:
    with zipfile.ZipFile(dest, "w", compression) as zf:
        for path in sorted(source.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(source).as_posix())
    return dest


def tree_digest(root: pathlib.Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def collect_failures(ops: list[tuple[str, Callable[[], Any]]], expected: type) -> list[str]:
    """Run every operation; return those that did not raise ``expected``."""
    failures = []
    for label, op in ops:
        try:
            op()
        except expected:
            continue
        except Exception as exc:
            failures.append(f"{label}: {type(exc).__module__}.{type(exc).__name__}: {exc}")
        else:
            failures.append(f"{label}: no error")
    return failures


def group_doc() -> dict[str, Any]:
    return {"zarr_format": 3, "node_type": "group", "attributes": {}}


def write_ops(target: Any, options: dict[str, Any] | None = None) -> list[tuple[str, Callable[[], Any]]]:
    """Every way of writing to the store ``target`` (which holds the hierarchy)."""
    opts = options or {}
    kw: dict[str, Any] = {"storage_options": opts} if opts else {}

    def on_array(node: str, action: Callable[[zarrs_cffi.Array], Any], **open_kw: Any) -> Callable[[], Any]:
        def run() -> None:
            with zarrs_cffi.open_array(target, node, **kw, **open_kw) as arr:
                action(arr)

        return run

    def on_store(action: Callable[[zarrs_cffi.Store], Any]) -> Callable[[], Any]:
        def run() -> None:
            with zarrs_cffi.Store(target, **opts) as store:
                action(store)

        return run

    def chunk_of(arr: zarrs_cffi.Array) -> np.ndarray:
        return np.zeros_like(arr.read_chunk((0, 0)))

    ops: list[tuple[str, Callable[[], Any]]] = [
        (
            "create_array",
            lambda: zarrs_cffi.create_array(target, "/new", shape=(4,), dtype="u1", chunks=(2,), **kw),
        ),
        (
            "create_array overwrite",
            lambda: zarrs_cffi.create_array(
                target, "/plain/int16", shape=(4,), dtype="u1", chunks=(2,), overwrite=True, **kw
            ),
        ),
        ("create_group", lambda: zarrs_cffi.create_group(target, "/newgroup", **kw)),
        ("create_group overwrite", lambda: zarrs_cffi.create_group(target, "/nested", overwrite=True, **kw)),
        ("setitem all", on_array("/plain/int16", lambda a: a.__setitem__(Ellipsis, 0))),
        ("setitem point", on_array("/plain/float32", lambda a: a.__setitem__((1, 2), 5))),
        ("setitem strided", on_array("/sharded/int16", lambda a: a.__setitem__(np.s_[::2, 3], 1))),
        ("setitem v2", on_array("/v2/float64", lambda a: a.__setitem__(np.s_[0:3], 1.5))),
        ("oindex setitem", on_array("/plain/uint8", lambda a: a.oindex.__setitem__(([0, 2], [1]), 3))),
        ("write_chunk", on_array("/plain/int16", lambda a: a.write_chunk((0, 0), chunk_of(a)))),
        ("write_chunk sharded", on_array("/sharded/float64", lambda a: a.write_chunk((0, 0), chunk_of(a)))),
        ("erase_chunk", on_array("/plain/int16", lambda a: a.erase_chunk((0, 0)))),
        ("erase_chunk v2", on_array("/v2/int16", lambda a: a.erase_chunk((1, 1)))),
        ("erase_chunk sparse", on_array(f"/{SPARSE}", lambda a: a.erase_chunk((2,)))),
        (
            "setitem read_only=False",
            on_array("/plain/complex64", lambda a: a.__setitem__((0, 0), 1j), read_only=False),
        ),
        ("Store.create_node", on_store(lambda s: s.create_node("/made", group_doc()))),
        (
            "Store.create_node overwrite",
            on_store(lambda s: s.create_node("/plain", group_doc(), overwrite=True)),
        ),
        ("Store.delete_node", on_store(lambda s: s.delete_node("/plain/int16"))),
        ("Store.delete_node root", on_store(lambda s: s.delete_node("/"))),
        ("Store.set_key", on_store(lambda s: s.set_key("plain/extra", b"x"))),
        ("consolidate", lambda: zarrs_cffi.consolidate(target, **kw)),
    ]
    crud_store = target  # the CRUD API takes the URL or store object itself
    with zarrs_cffi.Store(target, **opts) as store:
        doc = store.read_metadata("/plain/int16")
    values = np.ones(SHAPE, "int16")
    for engine in ("cffi", "zarr"):
        ops += [
            (
                f"crud.create_new_group {engine}",
                functools.partial(crud.create_new_group, group_doc(), crud_store, "cg", engine=engine),
            ),
            (
                f"crud.create_overwrite_group {engine}",
                functools.partial(
                    crud.create_overwrite_group, group_doc(), crud_store, "nested", engine=engine
                ),
            ),
            (
                f"crud.create_new_array {engine}",
                functools.partial(crud.create_new_array, doc, crud_store, "ca", engine=engine),
            ),
            (
                f"crud.create_overwrite_array {engine}",
                functools.partial(crud.create_overwrite_array, doc, crud_store, "plain/int16", engine=engine),
            ),
            (
                f"crud.write_region {engine}",
                functools.partial(
                    crud.write_region, doc, crud_store, "plain/int16", np.s_[...], values, engine=engine
                ),
            ),
            (
                f"crud.write_chunk {engine}",
                functools.partial(
                    crud.write_chunk, doc, crud_store, "plain/int16", (0, 0), values[:5, :4], engine=engine
                ),
            ),
            (
                f"crud.delete_chunk {engine}",
                functools.partial(crud.delete_chunk, doc, crud_store, "plain/int16", (0, 0), engine=engine),
            ),
            (
                f"crud.delete_node {engine}",
                functools.partial(crud.delete_node, crud_store, "plain", engine=engine),
            ),
        ]
    return ops


# --- zip --------------------------------------------------------------------------------------------
@dataclass
class Zips:
    source: pathlib.Path  # the directory store that was zipped
    data: dict[str, np.ndarray]  # what each array holds
    paths: dict[str, pathlib.Path]  # zip kind -> archive
    oracle: dict[str, dict[str, np.ndarray]]  # zip kind -> zarr-python's reading of each array
    single: dict[str, pathlib.Path]  # zip kind -> archive whose root is one array
    single_data: np.ndarray  # what the single array holds


ZIP_KINDS = ["stored", "deflated", "zipstore"]
READ_KINDS = ZIP_KINDS  # deflated archives too (rc-zip's deflate feature)
ACCESS = ["zip-url", "path", "pathlib", "zipstore-object"]


def zip_target(path: pathlib.Path, access: str) -> Any:
    if access == "zip-url":
        return f"zip://{path}"
    if access == "path":
        return str(path)
    if access == "pathlib":
        return path
    return zarr.storage.ZipStore(path, mode="r")


def _zip_with_zarr(path: pathlib.Path, write: Callable[[Any], Any]) -> Any:
    store = zarr.storage.ZipStore(path, mode="w")
    try:
        return write(store)
    finally:
        store.close()


def _read_zip_with_zarr(path: pathlib.Path, read: Callable[[Any], Any]) -> Any:
    store = zarr.storage.ZipStore(path, mode="r")
    try:
        return read(store)
    finally:
        store.close()


@pytest.fixture(scope="module")
def zips(tmp_path_factory: pytest.TempPathFactory) -> Zips:
    base = tmp_path_factory.mktemp("zips")
    source = base / "tree.zarr"
    data = build_tree(str(source))
    paths = {
        "stored": zip_directory(source, base / "stored.zip", zipfile.ZIP_STORED),
        "deflated": zip_directory(source, base / "deflated.zip", zipfile.ZIP_DEFLATED),
    }
    paths["zipstore"] = base / "zipstore.zip"
    zipstore_data = _zip_with_zarr(paths["zipstore"], build_tree)
    for node, values in zipstore_data.items():
        np.testing.assert_array_equal(values, data[node])
    oracle = {kind: _read_zip_with_zarr(path, zarr_read_all) for kind, path in paths.items()}
    for kind, path in paths.items():
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
        assert len(names) == len(set(names)), f"{kind}: duplicate entries"
        for node, values in oracle[kind].items():
            np.testing.assert_array_equal(values, data[node], err_msg=f"zarr-python, {kind}, {node}")

    single_dir = base / "single.zarr"
    single_data = _values("int16", SHAPE, 99)
    zarr.create_array(str(single_dir), shape=SHAPE, dtype="int16", chunks=(4, 4), shards=(8, 8))[...] = (
        single_data
    )

    def write_single(store: Any) -> None:
        zarr.create_array(store, shape=SHAPE, dtype="int16", chunks=(4, 4), shards=(8, 8))[...] = single_data

    single = {
        "stored": zip_directory(single_dir, base / "single-stored.zip", zipfile.ZIP_STORED),
        "deflated": zip_directory(single_dir, base / "single-deflated.zip", zipfile.ZIP_DEFLATED),
        "zipstore": base / "single-zipstore.zip",
    }
    _zip_with_zarr(single["zipstore"], write_single)
    return Zips(source, data, paths, oracle, single, single_data)


def zip_state(path: pathlib.Path) -> tuple[bytes, int, int, list[str]]:
    """The archive's bytes, size, mtime, and what lies next to it."""
    st = path.stat()
    return path.read_bytes(), st.st_size, st.st_mtime_ns, sorted(os.listdir(path.parent))


@pytest.mark.parametrize("access", ACCESS)
@pytest.mark.parametrize("kind", READ_KINDS)
def test_zip_arrays_read_like_zarr_python(zips: Zips, kind: str, access: str) -> None:
    target = zip_target(zips.paths[kind], access)
    for node, expected in zips.oracle[kind].items():
        with zarrs_cffi.open_array(target, node) as arr:
            assert arr.read_only
            assert_reads_like(arr, expected, f"{kind}/{access}/{node}")
    with zarrs_cffi.open_array(target, "/plain/float32") as arr:  # node style and zarr style
        np.testing.assert_array_equal(arr[...], zips.data["plain/float32"])


@pytest.mark.parametrize("kind", READ_KINDS)
def test_zip_chunks_read_like_zarr_python(zips: Zips, kind: str) -> None:
    target = zip_target(zips.paths[kind], "zip-url")
    for node in array_nodes():
        expected = zips.oracle[kind][node]
        fill = -1 if node == SPARSE else 0
        with zarrs_cffi.open_array(target, node) as arr, zarrs_cffi.Store(target) as store:
            doc = store.read_metadata(node)
            shape = chunk_shape(doc)
            coords_list = [(0, 0), (1, 1), (2, 2)] if expected.ndim == 2 else [(0,), (1,), (2,), (7,)]
            for coords in coords_list:
                if any(c * n >= s for c, n, s in zip(coords, shape, expected.shape)):
                    continue
                want = expected_chunk(expected, shape, coords, fill)
                np.testing.assert_array_equal(arr.read_chunk(coords), want, err_msg=f"{node} {coords}")
                np.testing.assert_array_equal(
                    crud.read_chunk(doc, target, node, coords), want, err_msg=f"crud {node} {coords}"
                )
    # The sparse array's chunks 0, 4..7 were never written: they read as the fill value.
    with zarrs_cffi.open_array(target, SPARSE) as arr:
        assert arr.read_encoded_chunk((0,)) is None
        np.testing.assert_array_equal(arr.read_chunk((0,)), -1)
        assert arr.read_encoded_chunk((2,)) is not None


@pytest.mark.parametrize("access", ["zip-url", "path", "zipstore-object"])
@pytest.mark.parametrize("kind", READ_KINDS)
def test_zip_crud_reads(zips: Zips, kind: str, access: str) -> None:
    target = zip_target(zips.paths[kind], access)
    for node in ("plain/int16", "sharded/complex64", "v2/bool", SPARSE):
        expected = zips.oracle[kind][node]
        doc = crud.read_metadata(target, node)
        assert doc["shape"] == list(expected.shape)
        for region in regions_for(expected.shape)[:4]:
            np.testing.assert_array_equal(crud.read_region(doc, target, node, region), expected[region])
            out = np.empty(expected[region].shape, expected.dtype)
            assert crud.read_region_into(out, doc, target, node, region) is out
            np.testing.assert_array_equal(out, expected[region])
        coords = (2,) if node == SPARSE else (0, 0)  # the sparse array's chunk 0 was never written
        assert crud.read_encoded_chunk(doc, target, node, coords) is not None
        if node == SPARSE:
            assert crud.read_encoded_chunk(doc, target, node, (0,)) is None
    names = [name for name, _ in crud.list_children(target, "")]
    assert names == expected_children("")


@pytest.mark.parametrize("access", ["zip-url", "path", "zipstore-object"])
@pytest.mark.parametrize("kind", READ_KINDS)
def test_zip_hierarchy(zips: Zips, kind: str, access: str) -> None:
    target = zip_target(zips.paths[kind], access)
    with zarrs_cffi.Store(target) as store:
        assert store.read_only
        for group, (fmt, attributes) in GROUPS.items():
            node = "/" + group
            assert store.node_exists(node), node
            doc = store.read_metadata(node)
            assert node_type(doc) == "group", node
            assert doc["zarr_format"] == fmt, node
            assert doc.get("attributes", {}) == attributes, node
            children = store.list_children(node)
            assert [name for name, _ in children] == expected_children(group), node
            for name, child in children:
                assert child == store.read_metadata(name), name
        for array in array_nodes():
            doc = store.read_metadata(array)
            assert node_type(doc) == "array", array
            assert doc["shape"] == list(zips.data[array].shape), array
            assert doc["attributes"] == array_attributes(array), array
            assert doc["zarr_format"] == (2 if array.startswith("v2/") else 3), array
            assert store.node_exists("/" + array) and store.node_exists(array)
        for missing in ("/nope", "/plain/nope", "/nested/deeper/nope", "/plain/int16/c"):
            assert not store.node_exists(missing), missing


@pytest.mark.parametrize("access", ["zip-url", "path", "zipstore-object"])
@pytest.mark.parametrize("kind", READ_KINDS)
def test_zip_missing_nodes(zips: Zips, kind: str, access: str) -> None:
    target = zip_target(zips.paths[kind], access)
    for node in ("/nope", "/plain/nope", "/nested/deeper/deepest/nope"):
        with pytest.raises(zarrs_cffi.NodeNotFoundError):
            zarrs_cffi.open_array(target, node)
        with zarrs_cffi.Store(target) as store:
            with pytest.raises(zarrs_cffi.NodeNotFoundError):
                store.read_metadata(node)
            with pytest.raises(zarrs_cffi.NodeNotFoundError):
                store.list_children(node)
        with pytest.raises(zarrs_cffi.NodeNotFoundError):
            crud.read_metadata(target, node.lstrip("/"))
        with pytest.raises(zarrs_cffi.NodeNotFoundError):
            crud.list_children(target, node.lstrip("/"))


@pytest.mark.parametrize("access", ["zip-url", "path", "pathlib", "zipstore-object"])
def test_missing_zip_file(tmp_path: pathlib.Path, access: str) -> None:
    missing = tmp_path / "absent.zip"
    target = zip_target(missing, access)
    errors = (zarrs_cffi.NodeNotFoundError, zarrs_cffi.StorageError)
    with pytest.raises(errors, match=re.escape("absent.zip")):
        zarrs_cffi.Store(target).node_exists("/")
    with pytest.raises(errors, match=re.escape("absent.zip")):
        zarrs_cffi.open_array(target, "/a")
    with pytest.raises(errors, match=re.escape("absent.zip")):
        zarrs_cffi.read(target)
    with pytest.raises(errors, match=re.escape("absent.zip")):
        crud.read_metadata(target, "")
    with pytest.raises((*errors, zarrs_cffi.ReadOnlyError)):
        zarrs_cffi.create_group(target)
    assert not missing.exists()  # no archive appears


@pytest.mark.parametrize(
    "content",
    [b"this is not a zip archive\n", b"", b"PK\x03\x04" + b"\0" * 40, "truncated"],
    ids=["text", "empty", "zip-magic-only", "truncated"],
)
@pytest.mark.parametrize("access", ["zip-url", "path", "zipstore-object"])
def test_non_zip_file_named_zip(zips: Zips, tmp_path: pathlib.Path, content: Any, access: str) -> None:
    fake = tmp_path / "fake.zip"
    if content == "truncated":
        whole = zips.paths["stored"].read_bytes()
        content = whole[: len(whole) // 2]
    fake.write_bytes(content)
    target = zip_target(fake, access)
    for call in (
        lambda: zarrs_cffi.Store(target).node_exists("/"),
        lambda: zarrs_cffi.open_array(target, "/plain/int16"),
        lambda: zarrs_cffi.read(target),
        lambda: crud.read_metadata(target, "plain"),
    ):
        with pytest.raises(zarrs_cffi.StorageError, match=re.escape("fake.zip")):
            call()
    assert fake.read_bytes() == content


def test_zip_without_zarr_data(tmp_path: pathlib.Path) -> None:
    archive = tmp_path / "other.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("readme.txt", "no zarr here")
    with zarrs_cffi.Store(archive) as store:
        assert not store.node_exists("/")
        with pytest.raises(zarrs_cffi.NodeNotFoundError):
            store.read_metadata("/")
    with pytest.raises(zarrs_cffi.NodeNotFoundError):
        zarrs_cffi.open_array(archive)


@pytest.mark.parametrize("access", ACCESS)
@pytest.mark.parametrize("kind", READ_KINDS)
def test_zip_writes_raise_read_only_and_change_nothing(zips: Zips, kind: str, access: str) -> None:
    path = zips.paths[kind]
    before = zip_state(path)
    target = zip_target(path, access)
    failures = collect_failures(write_ops(target), zarrs_cffi.ReadOnlyError)
    assert not failures, "\n".join(failures)
    assert zip_state(path) == before
    with zarrs_cffi.open_array(target, "/plain/int16") as arr:  # still the old data
        np.testing.assert_array_equal(arr[...], zips.data["plain/int16"])
    assert issubclass(zarrs_cffi.ReadOnlyError, PermissionError)


@pytest.mark.parametrize("kind", ["LocalStore", "ObjectStore"])
def test_read_only_store_objects_refuse_every_write(tmp_path: pathlib.Path, kind: str) -> None:
    """A zarr store opened read-only maps to a directory the native library could write: every
    write through zarrs_cffi (store, array, one-shot, CRUD, consolidate) still raises ReadOnlyError
    and changes nothing."""
    directory = tmp_path / "tree.zarr"
    data = build_tree(str(directory))
    before = tree_digest(directory)

    def read_only(path: pathlib.Path) -> Any:
        if kind == "LocalStore":
            return zarr.storage.LocalStore(str(path), read_only=True)
        from obstore.store import LocalStore as ObstoreLocal

        return zarr.storage.ObjectStore(ObstoreLocal(str(path)), read_only=True)

    target = read_only(directory)
    array_target = read_only(directory / "plain" / "int16")  # the one-shot calls take the array's own store
    ops = [
        *write_ops(target),
        ("one-shot write", lambda: zarrs_cffi.write(array_target, (slice(0, 2),), 7)),
        ("one-shot write all", lambda: zarrs_cffi.write(array_target, (), 0)),
    ]
    da = pytest.importorskip("dask.array")
    blocks = da.zeros(SHAPE, dtype="int16", chunks=(5, 4))  # the stored chunks' shape
    ops.append(("dask store", lambda: zarrs_cffi.store(blocks, target, "/plain/int16")))
    failures = collect_failures(ops, zarrs_cffi.ReadOnlyError)
    assert not failures, "\n".join(failures)
    assert tree_digest(directory) == before
    np.testing.assert_array_equal(zarrs_cffi.read(array_target), data["plain/int16"])  # reads still work


@pytest.mark.parametrize("mode", ["a", "w"])
def test_writable_zipstore_object_is_still_read_only(zips: Zips, mode: str) -> None:
    """A ZipStore opened for writing by zarr-python is read-only here too; the archive is untouched
    (the object is never opened, so mode="w" does not truncate it either)."""
    path = zips.paths["stored"]
    before = zip_state(path)
    target = zarr.storage.ZipStore(path, mode=mode)
    failures = collect_failures(write_ops(target), zarrs_cffi.ReadOnlyError)
    assert not failures, "\n".join(failures)
    assert zip_state(path) == before


@pytest.mark.parametrize("access", ACCESS)
@pytest.mark.parametrize("kind", READ_KINDS)
def test_zip_one_shot_calls(zips: Zips, kind: str, access: str) -> None:
    """read / read_into / write on an archive whose root is one (sharded) array."""
    path = zips.single[kind]
    target = zip_target(path, access)
    expected = zips.single_data
    np.testing.assert_array_equal(zarrs_cffi.read(target), expected)
    for region in REGIONS_2D:
        np.testing.assert_array_equal(zarrs_cffi.read(target, region), expected[region], err_msg=str(region))
        out = np.empty(expected[region].shape, expected.dtype)
        assert zarrs_cffi.read_into(out, target, region) is out
        np.testing.assert_array_equal(out, expected[region], err_msg=str(region))
    before = zip_state(path)
    ops: list[tuple[str, Callable[[], Any]]] = [
        ("write", lambda: zarrs_cffi.write(target, (slice(0, 2),), 7)),
        ("write all", lambda: zarrs_cffi.write(target, (), np.zeros(SHAPE, "int16"))),
        (
            "create_array overwrite",
            lambda: zarrs_cffi.create_array(target, shape=(2,), dtype="u1", chunks=(2,), overwrite=True),
        ),
    ]
    failures = collect_failures(ops, zarrs_cffi.ReadOnlyError)
    assert not failures, "\n".join(failures)
    assert zip_state(path) == before
    np.testing.assert_array_equal(zarrs_cffi.read(target), expected)


@pytest.mark.parametrize("access", ["zip-url", "path", "zipstore-object"])
@pytest.mark.parametrize("kind", ZIP_KINDS)
def test_zarr_engine_reads_zip_files(zips: Zips, kind: str, access: str) -> None:
    """The "zarr" CRUD engine (zarr-python's ZipStore) reads every kind of archive, deflated too."""
    target = zip_target(zips.paths[kind], access)
    for node in ("plain/int16", "sharded/float32", "v2/complex64", SPARSE):
        doc = crud.read_metadata(target, node, engine="zarr")
        if kind != "deflated":
            assert doc == crud.read_metadata(target, node, engine="cffi")
        np.testing.assert_array_equal(
            crud.read_region(doc, target, node, np.s_[...], engine="zarr"), zips.data[node], err_msg=node
        )
        coords = (2,) if node == SPARSE else (1, 1)
        want = expected_chunk(zips.data[node], chunk_shape(doc), coords, -1 if node == SPARSE else 0)
        np.testing.assert_array_equal(crud.read_chunk(doc, target, node, coords, engine="zarr"), want)
    assert [n for n, _ in crud.list_children(target, "", engine="zarr")] == expected_children("")


# --- HTTP -------------------------------------------------------------------------------------------
class RangeHandler(PlainHandler):
    """Also answers ``Range: bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` with 206 Partial Content."""

    def send_head(self) -> Any:
        header = self.headers.get("Range")
        path = self.translate_path(self.path)
        if not header or not os.path.isfile(path):
            return super().send_head()
        size = os.path.getsize(path)
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", header.strip())
        if match is None or match.group(1) == match.group(2) == "":
            self.send_error(416)
            return None
        first, last = match.groups()
        if first == "":
            start, end = max(0, size - int(last)), size - 1
        else:
            start, end = int(first), min(int(last), size - 1) if last else size - 1
        if start >= size or start > end:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        with open(path, "rb") as f:
            f.seek(start)
            body = f.read(end - start + 1)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        return io.BytesIO(body)


@dataclass
class Tree:
    directory: pathlib.Path
    data: dict[str, np.ndarray]
    oracle: dict[str, np.ndarray]  # zarr-python's reading of the directory


def make_tree(directory: pathlib.Path) -> Tree:
    data = build_tree(str(directory))
    oracle = zarr_read_all(str(directory))
    for node, values in oracle.items():
        np.testing.assert_array_equal(values, data[node])
    return Tree(directory, data, oracle)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    return make_tree(tmp_path_factory.mktemp("http") / "data.zarr")


@pytest.fixture(scope="module")
def ranged(tree: Tree) -> Iterator[Served]:
    with serve(tree.directory, RangeHandler) as served:
        yield served


@pytest.fixture(scope="module")
def plain(tree: Tree) -> Iterator[Served]:
    with serve(tree.directory, PlainHandler) as served:
        yield served


def test_http_arrays_read_like_zarr_python(ranged: Served, tree: Tree) -> None:
    start = len(ranged.seen)
    for node, expected in tree.oracle.items():
        with zarrs_cffi.open_array(ranged.url, node, storage_options=OPTS) as arr:
            assert arr.read_only
            assert_reads_like(arr, expected, node)
        url = f"{ranged.url}/{node}"
        np.testing.assert_array_equal(zarrs_cffi.read(url, storage_options=OPTS), expected, err_msg=node)
        region = regions_for(expected.shape)[2]
        np.testing.assert_array_equal(zarrs_cffi.read(url, region, storage_options=OPTS), expected[region])
        out = np.empty(expected[region].shape, expected.dtype)
        assert zarrs_cffi.read_into(out, url, region, storage_options=OPTS) is out
        np.testing.assert_array_equal(out, expected[region], err_msg=node)
    requests = ranged.seen[start:]
    assert {method for method, _, _ in requests} <= {"GET", "HEAD"}
    assert any(status == 206 for _, _, status in requests)  # partial reads of the shards


def test_http_chunks_and_crud_reads(ranged: Served, tree: Tree) -> None:
    with zarrs_cffi.Store(ranged.url, **OPTS) as store:
        for node in array_nodes():
            expected = tree.oracle[node]
            doc = crud.read_metadata(store, node)
            assert doc == zarrs_cffi.Store(tree.directory).read_metadata(node)
            shape = chunk_shape(doc)
            coords = (1,) * expected.ndim
            want = expected_chunk(expected, shape, coords, -1 if node == SPARSE else 0)
            np.testing.assert_array_equal(crud.read_chunk(doc, store, node, coords), want, err_msg=node)
            with zarrs_cffi.open_array(store, node) as arr:
                np.testing.assert_array_equal(arr.read_chunk(coords), want, err_msg=node)
            region = regions_for(expected.shape)[1]
            np.testing.assert_array_equal(crud.read_region(doc, store, node, region), expected[region])
            # The zarr engine (zarr-python over obstore) reads the same bytes.
            np.testing.assert_array_equal(
                crud.read_region(doc, store, node, region, engine="zarr"), expected[region], err_msg=node
            )


def test_http_node_queries(ranged: Served, tree: Tree) -> None:
    local = zarrs_cffi.Store(tree.directory)
    with zarrs_cffi.Store(ranged.url, **OPTS) as store:
        assert store.read_only
        for node in [*GROUPS, *array_nodes()]:
            assert store.node_exists("/" + node), node
            assert store.read_metadata(node) == local.read_metadata(node), node
        assert store.read_metadata("/")["attributes"] == GROUPS[""][1]
        assert store.read_metadata("nested/deeper")["attributes"] == GROUPS["nested/deeper"][1]
        for missing in ("/nope", "/plain/nope", "/plain/int16/c"):
            assert not store.node_exists(missing), missing


def test_cli_info_of_an_http_array(ranged: Served, tree: Tree, capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m zarrs_cffi info`` of an array on an HTTP server: it summed the stored bytes by
    listing, which such a server cannot do, and failed (exit 1) on an array that opens fine."""
    node = array_nodes()[0]
    assert zarrs_cffi.cli.main(["info", ranged.url, node]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^stored\s+unknown \(HTTP servers cannot list", out, re.MULTILINE), out
    assert re.search(rf"^shape\s+{re.escape(str(tree.oracle[node].shape))}$", out, re.MULTILINE), out
    assert not [request for request in ranged.seen if request[0] == "PROPFIND"]


def test_http_listing_is_a_typed_error(ranged: Served) -> None:
    """A plain HTTP server cannot list (object_store lists with WebDAV PROPFIND): a StorageError."""
    with zarrs_cffi.Store(ranged.url, **OPTS, max_retries=0) as store:
        for node in ("/", "/plain", "/nested/deeper"):
            with pytest.raises(zarrs_cffi.StorageError, match="PROPFIND") as raised:
                store.list_children(node)
            # The message says what to do, without the server's HTML error page.
            message = str(raised.value)
            assert "consolidated metadata" in message and "501" in message, message
            assert "<html" not in message.lower() and "<!doctype" not in message.lower(), message
        with pytest.raises(zarrs_cffi.StorageError):
            crud.list_children(store, "")
        assert store.node_exists("/plain")  # the store still works
    # With the default retries too.
    with zarrs_cffi.Store(ranged.url, **OPTS) as store, pytest.raises(zarrs_cffi.StorageError):
        store.list_children("/")
    assert any(method == "PROPFIND" and status == 501 for method, _, status in ranged.seen)


def test_http_zarr_engine_listing_is_a_typed_error(ranged: Served) -> None:
    """The "zarr" engine (obstore) fails the same way: a StorageError, not obstore's own error."""
    store = zarrs_cffi.Store(ranged.url, **OPTS, max_retries=0)
    with store, pytest.raises(zarrs_cffi.StorageError, match="PROPFIND") as raised:
        crud.list_children(store, "", engine="zarr")
    # Without the server's HTML error page and obstore's debug dump, as the native engine words it.
    message = str(raised.value)
    assert "501" in message and "HTML page left out" in message, message
    assert "<html" not in message.lower() and "Debug source" not in message and "\n" not in message, message


def test_http_missing_nodes(ranged: Served) -> None:
    for node in ("/nope", "/plain/nope", "/nested/deeper/deepest/nope"):
        with pytest.raises(zarrs_cffi.NodeNotFoundError):
            zarrs_cffi.open_array(ranged.url, node, storage_options=OPTS)
        with pytest.raises(zarrs_cffi.NodeNotFoundError):
            zarrs_cffi.read(ranged.url + node, storage_options=OPTS)
        with zarrs_cffi.Store(ranged.url, **OPTS) as store:
            with pytest.raises(zarrs_cffi.NodeNotFoundError):
                store.read_metadata(node)
            with pytest.raises(zarrs_cffi.NodeNotFoundError):
                crud.read_metadata(store, node.lstrip("/"))
    with pytest.raises(zarrs_cffi.NodeNotFoundError):  # a store URL with nothing behind it
        zarrs_cffi.open_array(ranged.url.rsplit("/", 1)[0] + "/absent.zarr", storage_options=OPTS)


def test_http_missing_chunk_reads_as_fill_value(tmp_path: pathlib.Path) -> None:
    tree = make_tree(tmp_path / "data.zarr")
    deleted = {
        "plain/int16": ("c/1/2", np.s_[5:10, 8:11]),
        "sharded/float32": ("c/1/0", np.s_[8:13, 0:8]),  # a whole shard
        "v2/uint8": ("1.2", np.s_[5:10, 8:11]),
    }
    for node, (key, _) in deleted.items():
        (tree.directory / node / key).unlink()
    with serve(tree.directory, RangeHandler) as served:
        for node, (key, region) in deleted.items():
            oracle = zarr.open_array(str(tree.directory), path=node, mode="r")[...]  # zarr-python, after
            expected = tree.data[node].copy()
            expected[region] = 0
            np.testing.assert_array_equal(oracle, expected, err_msg=node)
            with zarrs_cffi.open_array(served.url, node, storage_options=OPTS) as arr:
                np.testing.assert_array_equal(arr[...], expected, err_msg=node)
                np.testing.assert_array_equal(arr[region], 0, err_msg=node)
                coords = tuple(int(c) for c in re.findall(r"\d+", key))
                assert arr.read_encoded_chunk(coords) is None, node
                assert not arr.read_chunk(coords).any(), node
        assert any(status == 404 for _, _, status in served.seen)


def test_http_writes_raise_read_only_and_change_nothing(ranged: Served, tree: Tree) -> None:
    before = tree_digest(tree.directory)
    start = len(ranged.seen)
    failures = collect_failures(write_ops(ranged.url, OPTS), zarrs_cffi.ReadOnlyError)
    url = f"{ranged.url}/plain/int16"
    failures += collect_failures(
        [
            ("write", lambda: zarrs_cffi.write(url, (slice(0, 2),), 7, storage_options=OPTS)),
            ("write all", lambda: zarrs_cffi.write(url, (), 0, storage_options=OPTS)),
        ],
        zarrs_cffi.ReadOnlyError,
    )
    assert not failures, "\n".join(failures)
    assert tree_digest(tree.directory) == before
    assert {method for method, _, _ in ranged.seen[start:]} <= {"GET", "HEAD"}  # never a PUT/DELETE
    np.testing.assert_array_equal(zarrs_cffi.read(url, storage_options=OPTS), tree.data["plain/int16"])


def test_http_storage_options(ranged: Served, tree: Tree) -> None:
    url = f"{ranged.url}/sharded/int16"
    expected = tree.data["sharded/int16"]
    for options in (
        {"timeout": 5},
        {"timeout": "5s"},
        {"timeout": 2.5, "connect_timeout": 1},
        {"max_retries": 0, "retry_timeout": 5},
        {"allow_http": "true", "timeout": "500ms"},
    ):
        np.testing.assert_array_equal(
            zarrs_cffi.read(url, storage_options={**OPTS, **options}), expected, err_msg=str(options)
        )
        with zarrs_cffi.Store(ranged.url, **{**OPTS, **options}) as store:
            assert store.node_exists("/sharded/int16")
    for bad, word in (("tiemout", "tiemout"), ("region", "region"), ("endpiont", "endpiont")):
        with pytest.raises(zarrs_cffi.InvalidArgumentError, match=word):
            zarrs_cffi.Store(ranged.url, **OPTS, **{bad: "5"})
        with pytest.raises(zarrs_cffi.InvalidArgumentError, match=word):
            zarrs_cffi.read(url, storage_options={**OPTS, bad: "5"})
        with pytest.raises(zarrs_cffi.InvalidArgumentError, match=word):
            zarrs_cffi.open_array(ranged.url, "/plain/int16", storage_options={**OPTS, bad: "5"})
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match="soon"):
        zarrs_cffi.Store(ranged.url, **OPTS, timeout="soon")
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match="timeout"):
        zarrs_cffi.Store(ranged.url, **OPTS, timeout=[5])


def test_http_url_without_allow_http(ranged: Served, tree: Tree) -> None:
    """An http:// URL is plain HTTP by choice: allowed without options; allow_http=False refuses
    it with a typed error."""
    np.testing.assert_array_equal(zarrs_cffi.read(f"{ranged.url}/plain/int16"), tree.data["plain/int16"])
    with zarrs_cffi.Store(ranged.url) as store:
        assert store.node_exists("/sharded/uint8")
        with zarrs_cffi.open_array(store, "/sharded/uint8") as arr:
            np.testing.assert_array_equal(arr[2:9, 1:10], tree.data["sharded/uint8"][2:9, 1:10])
    for refuse in (False, "false"):
        with pytest.raises(zarrs_cffi.StorageError):
            zarrs_cffi.read(f"{ranged.url}/plain/int16", storage_options={"allow_http": refuse})


def test_http_zarr_store_objects(ranged: Served, tree: Tree) -> None:
    obstore = pytest.importorskip("obstore.store")
    zstore = zarr.storage.ObjectStore(
        obstore.HTTPStore.from_url(ranged.url, client_options={"allow_http": True}), read_only=True
    )
    for node in ("plain/float64", "sharded/complex64", "v2/int16"):
        expected = zarr.open_array(zstore, path=node, mode="r")[...]  # zarr-python over HTTP
        np.testing.assert_array_equal(expected, tree.data[node])
        with zarrs_cffi.open_array(zstore, node) as arr:
            assert_reads_like(arr, expected, node)
    with pytest.raises(zarrs_cffi.ReadOnlyError):
        zarrs_cffi.open_array(zstore, "/plain/int16")[0, 0] = 1
    with pytest.raises(zarrs_cffi.ReadOnlyError):
        zarrs_cffi.create_group(zstore, "/made")


def test_http_unreachable_server_is_a_storage_error() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/data.zarr"
    with pytest.raises(zarrs_cffi.StorageError):
        zarrs_cffi.Store(url, **OPTS, max_retries=0, timeout=2).node_exists("/")
    with pytest.raises(zarrs_cffi.StorageError):
        zarrs_cffi.open_array(url, "/a", storage_options={**OPTS, "max_retries": 0})


# --- a server without Range support -------------------------------------------------------------------
def test_plain_server_whole_object_reads(plain: Served, tree: Tree) -> None:
    """Whole objects (metadata, unsharded chunks) are read with plain GETs: no Range support needed."""
    for node in [n for n in array_nodes() if not n.startswith("sharded/")]:
        with zarrs_cffi.open_array(plain.url, node, storage_options=OPTS) as arr:
            np.testing.assert_array_equal(arr[...], tree.oracle[node], err_msg=node)
    with zarrs_cffi.Store(plain.url, **OPTS) as store:
        assert store.read_metadata("/")["attributes"] == GROUPS[""][1]


def test_plain_server_zarr_python_reads_unsharded_arrays(plain: Served, tree: Tree) -> None:
    """The oracle for the test above: zarr-python over obstore reads the unsharded arrays."""
    obstore = pytest.importorskip("obstore.store")
    zstore = zarr.storage.ObjectStore(
        obstore.HTTPStore.from_url(plain.url, client_options={"allow_http": True}), read_only=True
    )
    for node in ("plain/int16", "v2/float32", SPARSE):
        np.testing.assert_array_equal(zarr.open_array(zstore, path=node, mode="r")[...], tree.data[node])


def test_plain_server_reads_every_array(plain: Served, tree: Tree) -> None:
    """A server that ignores Range answers a partial read with the whole object; the part is cut
    from it. Sharded arrays (index and inner chunks are ranges) raised StorageError "Range request
    not supported" before."""
    with zarrs_cffi.Store(plain.url, **OPTS, max_retries=0) as store:
        assert store.node_exists("/plain/int16")  # HEAD needs no Range
        assert not store.node_exists("/nope")
    for node in array_nodes():
        with zarrs_cffi.open_array(plain.url, node, storage_options={**OPTS, "max_retries": 0}) as arr:
            assert_reads_like(arr, tree.oracle[node], node)
    assert {method for method, _, _ in plain.seen} <= {"GET", "HEAD"}


def test_plain_server_sharded_reads_ask_for_whole_objects_after_a_refusal(tree: Tree) -> None:
    """Once the server has answered a Range request with the whole object, the store asks it for
    whole objects only: no request per part that the server would answer whole anyway."""
    ranges: list[str | None] = []

    class RecordingHandler(PlainHandler):
        def do_GET(self) -> None:
            ranges.append(self.headers.get("Range"))
            super().do_GET()

    node = "sharded/int16"
    expected = tree.oracle[node]
    with serve(tree.directory, RecordingHandler) as served, zarrs_cffi.Store(served.url, **OPTS) as store:
        with zarrs_cffi.open_array(store, node) as arr:
            np.testing.assert_array_equal(arr[1:3, 1:3], expected[1:3, 1:3])
            assert any(ranges), "the first partial read tries a Range request"
            before = len(ranges)
            for region in REGIONS_2D:
                np.testing.assert_array_equal(arr[region], expected[region], err_msg=str(region))
            assert len(ranges) > before and not any(ranges[before:]), ranges[before:]
        with zarrs_cffi.open_array(store, node, chunk_cache_bytes=1 << 20) as cached:
            np.testing.assert_array_equal(cached[5:7, 2:9], expected[5:7, 2:9])
        doc = crud.read_metadata(store, node)
        np.testing.assert_array_equal(
            crud.read_region(doc, store, node, np.s_[3:12, 4:6]), expected[3:12, 4:6]
        )


def test_servers_are_on_loopback_only(ranged: Served, plain: Served) -> None:
    for served in (ranged, plain):
        assert served.server.server_address[0] == "127.0.0.1"
        assert served.url.startswith("http://127.0.0.1:")


def test_http_special_node_names_and_paths_are_requested_as_they_are(tmp_path: pathlib.Path) -> None:
    """Node names and a URL path that object_store's Path::from would percent-encode twice ("ü"
    requested as "%25C3%25BC"): the server is asked for the files themselves."""
    root = tmp_path / "dätä x.zarr"
    names = ["ü", "日本", "x%41", "a b", "t~#?", 'dq"*']
    for i, name in enumerate(names):
        zarr.create_array(str(root), name=name, shape=(5,), chunks=(2,), dtype="int16")[...] = (
            np.arange(5) + i
        )
    with serve(tmp_path, RangeHandler) as served:
        url = f"{served.url}/d%C3%A4t%C3%A4%20x.zarr"
        for i, name in enumerate(names):
            with zarrs_cffi.open_array(url, name) as arr:
                np.testing.assert_array_equal(arr[...], np.arange(5) + i, err_msg=name)


def test_a_huge_error_body_is_shortened_in_the_message(tree: Tree) -> None:
    """object_store quotes a server's whole error body: 2 MB of it made a 2 MB exception message.
    Its start (what failed) and its end (this library's hints) are kept."""

    class HugeErrors(PlainHandler):
        def do_GET(self) -> None:
            if self.path.endswith("/c/0/0"):
                body = b"x" * 2_000_000
                self.send_response(500)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                super().do_GET()

    once = {"max_retries": 0}
    with serve(tree.directory, HugeErrors) as served, pytest.raises(zarrs_cffi.StorageError) as raised:
        zarrs_cffi.open_array(served.url, "plain/int16", storage_options=once)[0:1, 0:1]
    message = str(raised.value)
    assert len(message) < 10_000 and "bytes left out" in message, len(message)
    assert "500" in message and "c/0/0" in message, message[:300]
