"""The CRUD layer where its two engines and its async twins met trouble: a write racing the NaN
fill check, cancelled async calls, node names that are metadata keys, numpy values in documents,
the OSErrors of zarr's LocalStore, the native backend's store cache, writers killed mid-write."""

from __future__ import annotations

import asyncio
import pathlib
import threading
import time
from typing import Any

import numpy as np
import pytest

import zarrs_cffi
import zarrs_cffi.crud as crud
import zarrs_cffi.crud.aio as aio
from zarrs_cffi._compat import to_thread
from zarrs_cffi.array import Array


def _zarr_engine_available() -> bool:
    try:
        import zarr  # noqa: F401
    except ImportError:  # (no zarr-python 3 on Python < 3.11)
        return False
    return True


NEEDS_ZARR = pytest.mark.skipif(not _zarr_engine_available(), reason="the zarr engine needs zarr-python")
ENGINES = ["cffi", pytest.param("zarr", marks=NEEDS_ZARR)]


def v3_doc(shape: list[Any], chunks: list[Any], dtype: str = "uint16", fill: Any = 0) -> dict[str, Any]:
    return {
        "zarr_format": 3,
        "node_type": "array",
        "shape": shape,
        "data_type": dtype,
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": chunks}},
        "chunk_key_encoding": {"name": "default"},
        "fill_value": fill,
        "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
    }


def test_a_write_between_the_nan_fill_check_and_the_erase_is_kept(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The native engine erases a chunk of NaNs after a write (any NaN equals a NaN fill). Another
    thread's write landing between that check and the erase was erased with the chunk."""
    store = str(tmp_path / "s.zarr")
    doc = v3_doc([4, 4], [4, 4], "float32", "NaN")
    crud.create_new_array(doc, store, "a")
    real_erase = Array.erase_chunk
    other = threading.Thread(target=crud.write_region, args=(doc, store, "a", (3, 0), 5.0))

    def erase_after_another_write(self: Array, coords: Any) -> None:
        other.start()
        other.join(timeout=1.0)  # it waits for this write's lock now; it did not before
        real_erase(self, coords)

    monkeypatch.setattr(Array, "erase_chunk", erase_after_another_write)
    # A NaN with a payload: stored by zarrs (not bit-identical to the fill), then erased here.
    payload_nan = np.array([0x7FC00001], dtype=np.uint32).view(np.float32)[0]
    crud.write_region(doc, store, "a", (slice(0, 3), slice(None)), payload_nan)
    assert other.ident is not None, "the erase was not reached"
    monkeypatch.undo()
    other.join(timeout=30)
    assert crud.read_region(doc, store, "a", (3, 0)) == 5.0


def test_a_cancelled_call_has_finished_its_work_when_it_ends() -> None:
    """A thread cannot be stopped: a cancelled call waits for its work, so nothing is written
    after the caller sees CancelledError (asyncio.to_thread returns at once and lets it run on)."""
    finished: list[float] = []

    def work() -> None:
        time.sleep(0.3)
        finished.append(time.monotonic())

    async def main() -> None:
        task = asyncio.ensure_future(to_thread(work))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert len(finished) == 1 and finished[0] <= time.monotonic()

    asyncio.run(main())


@pytest.mark.parametrize("engine", ENGINES)
def test_a_cancelled_read_into_no_longer_writes_out(
    tmp_path: pathlib.Path, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("zarr") if engine == "zarr" else None
    from zarrs_cffi.crud import _facade

    store = str(tmp_path / "s.zarr")
    doc = v3_doc([64, 64], [16, 16])
    crud.create_new_array(doc, store, "a", engine=engine)
    crud.write_region(doc, store, "a", ..., 7)
    real = _facade.read_region_into

    def slow_read_into(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.3)  # still running when the timeout cancels the call
        return real(*args, **kwargs)

    monkeypatch.setattr(_facade, "read_region_into", slow_read_into)

    async def main() -> None:
        out = np.zeros((64, 64), "uint16")
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(aio.read_region_into(out, doc, store, "a", ..., engine=engine), 0.05)
        assert (out == 7).all()  # the read ended before the call did
        out[...] = 0  # the caller reuses the buffer
        await asyncio.sleep(0.5)
        assert not out.any()

    asyncio.run(main())


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", ["zarr.json", ".zarray", "g/.zattrs", "zarr.json/x", ".zmetadata"])
def test_nodes_cannot_take_a_metadata_key_name(tmp_path: pathlib.Path, engine: str, name: str) -> None:
    """A v2 child named .zarray broke its parent's listing on the native engine; one named
    zarr.json was half created before an error."""
    pytest.importorskip("zarr") if engine == "zarr" else None
    store = tmp_path / "s.zarr"
    crud.create_new_group({"zarr_format": 2}, str(store), "", engine=engine)
    crud.create_new_group({"zarr_format": 2}, str(store), "g", engine=engine)
    before = sorted(p.relative_to(store) for p in store.rglob("*"))
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match="metadata key"):
        crud.create_new_array(v3_doc([2], [2]), str(store), name, engine=engine)
    assert sorted(p.relative_to(store) for p in store.rglob("*")) == before
    with zarrs_cffi.Store(store) as opened, pytest.raises(
        zarrs_cffi.InvalidArgumentError, match="metadata key"
    ):
        opened.create_node(name, {"zarr_format": 2})


@pytest.mark.parametrize("engine", ENGINES)
def test_numpy_values_in_documents_are_taken_by_both_engines(tmp_path: pathlib.Path, engine: str) -> None:
    pytest.importorskip("zarr") if engine == "zarr" else None
    store = str(tmp_path / "s.zarr")
    shape = np.array([4, 4]) // 2 * 2  # np.int64 values
    doc = v3_doc([shape[0], shape[1]], list(np.array([2, 2])), fill=np.uint16(3))
    crud.create_new_array(doc, store, "a", engine=engine)
    np.testing.assert_array_equal(crud.read_region(doc, store, "a", ..., engine=engine), np.full((4, 4), 3))
    assert crud.read_metadata(store, "a")["shape"] == [4, 4]


def test_os_errors_of_zarr_python_stores_are_typed(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("zarr")
    store = tmp_path / "s.zarr"
    crud.create_new_group({"zarr_format": 3, "node_type": "group"}, str(store), "", engine="zarr")
    (store / "plain").write_bytes(b"a file where a group would go")
    with pytest.raises(zarrs_cffi.StorageError, match="NotADirectoryError"):
        crud.create_new_array(v3_doc([2], [2]), str(store), "plain/a", engine="zarr")


def test_the_native_backends_store_cache_is_bounded(tmp_path: pathlib.Path) -> None:
    from zarrs_cffi.engines import cffi_engine

    backend = cffi_engine.CffiBackend()
    for i in range(cffi_engine._MAX_CACHED_STORES + 10):
        with pytest.raises(zarrs_cffi.NodeNotFoundError):
            backend.read_metadata(str(tmp_path / f"s{i}.zarr"), "")
    assert len(backend._stores) == cffi_engine._MAX_CACHED_STORES


def test_a_temporary_file_left_by_a_killed_writer_is_ignored(tmp_path: pathlib.Path) -> None:
    """What docs/guide/stores.md says of a writer killed mid-write."""
    store = tmp_path / "s.zarr"
    zarrs_cffi.create_group(store)
    arr = zarrs_cffi.create_array(store, "/a", shape=(4,), dtype="u1", chunks=(2,))
    arr[...] = [1, 2, 3, 4]
    (store / "a" / "c" / ".0.zarrs-cffi-tmp.4242.7").write_bytes(b"half a chunk")
    np.testing.assert_array_equal(zarrs_cffi.open_array(store, "/a")[...], [1, 2, 3, 4])
    assert [path for path, _ in zarrs_cffi.Store(store).list_children("/")] == ["a"]
    assert [path for path, _ in crud.list_children(str(store), "")] == ["a"]


@pytest.mark.parametrize("engine", ENGINES)
def test_nodes_below_a_broken_root_document_are_created_and_deleted(
    tmp_path: pathlib.Path, engine: str
) -> None:
    """The native engine keeps consolidated metadata true after creates and deletes; a root
    ``zarr.json`` that is not JSON holds none, and the change it had made was reported as failed
    (InvalidMetadataError after the node was created or deleted). zarr-python's engine goes on."""
    pytest.importorskip("zarr") if engine == "zarr" else None
    store = str(tmp_path / "s.zarr")
    group = {"zarr_format": 3, "node_type": "group", "attributes": {}}
    crud.create_new_group(group, store, "")
    crud.create_new_group(group, store, "old")
    (tmp_path / "s.zarr" / "zarr.json").write_text("{not json")
    crud.create_new_group(group, store, "new", engine=engine)
    crud.delete_node(store, "old", engine=engine)
    assert sorted(p.name for p in (tmp_path / "s.zarr").iterdir()) == ["new", "zarr.json"]
    assert crud.read_metadata(store, "new", engine=engine)["node_type"] == "group"


def _waits_for(lock_holder: Any, call: Any) -> bool:
    """Whether ``call`` (on another thread) waits while ``lock_holder`` (a context manager) is held."""
    done = threading.Event()
    thread = threading.Thread(target=lambda: (call(), done.set()))
    with lock_holder:
        thread.start()
        waited = not done.wait(0.5)
    thread.join(timeout=30)
    assert done.is_set()
    return waited


def test_the_zarr_engines_write_lock_keeps_out_chunk_writes_and_symlinked_spellings(
    tmp_path: pathlib.Path,
) -> None:
    """write_lock() of an engine="zarr" array took the lock only region writes take: another
    thread's write_chunk/delete_chunk landed inside a read-modify-write. And the lock went by the
    path's text: through a symlink, another lock."""
    pytest.importorskip("zarr")
    store = str(tmp_path / "s.zarr")
    doc = v3_doc([4, 4], [2, 2])
    crud.create_new_array(doc, store, "a", engine="zarr")
    arr = zarrs_cffi.open_array(store, "/a", engine="zarr")
    (tmp_path / "link").symlink_to(tmp_path)
    linked = str(tmp_path / "link" / "s.zarr")
    for call in [
        lambda: crud.write_chunk(doc, store, "a", (0, 0), np.ones((2, 2), "uint16"), engine="zarr"),
        lambda: crud.delete_chunk(doc, store, "a", (0, 0), engine="zarr"),
        lambda: crud.write_region(doc, linked, "a", (0, 0), 5, engine="zarr"),
    ]:
        assert _waits_for(arr.write_lock(), call)
    arr.close()


def test_dask_and_xarray_store_errors_are_also_invalid_arguments() -> None:
    """to_dask turned a malformed URL's InvalidArgumentError into UnsupportedStoreError only."""
    pytest.importorskip("dask")
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match="user information") as info:
        zarrs_cffi.to_dask("s3://AKIA:pa55word9@bucket/x")
    assert isinstance(info.value, zarrs_cffi.UnsupportedStoreError)
    assert "pa55word9" not in str(info.value)


def _zstd_doc(shape: list[int], chunks: list[int]) -> dict[str, Any]:
    doc = v3_doc(shape, chunks)
    doc["codecs"].append({"name": "zstd", "configuration": {"level": 1, "checksum": False}})
    return doc


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("damage", ["not zstd", "gzip", "crc32c"])
def test_a_damaged_chunk_is_a_codec_error_in_region_reads_and_writes(
    tmp_path: pathlib.Path, engine: str, damage: str
) -> None:
    """zarr-python raised RuntimeError (zstd), OSError (gzip: then StorageError) or ValueError
    (a checksum) from region calls; the native engine and read_chunk raise CodecError."""
    store = str(tmp_path / "s.zarr")
    doc = _zstd_doc([4, 4], [2, 2])
    if damage == "gzip":
        doc["codecs"][-1] = {"name": "gzip", "configuration": {"level": 1}}
    elif damage == "crc32c":
        doc["codecs"][-1] = {"name": "crc32c"}
    crud.create_new_array(doc, store, "a", engine=engine)
    crud.write_region(doc, store, "a", ..., np.arange(16, dtype="uint16").reshape(4, 4), engine=engine)
    chunk = tmp_path / "s.zarr" / "a" / "c" / "0" / "0"
    stored = chunk.read_bytes()
    chunk.write_bytes(stored[:-1] + bytes([stored[-1] ^ 0xFF]) if damage == "crc32c" else b"not a chunk")
    for call in (
        lambda: crud.read_region(doc, store, "a", ..., engine=engine),
        lambda: crud.write_region(doc, store, "a", (0, 0), 5, engine=engine),  # reads the chunk first
    ):
        with pytest.raises(zarrs_cffi.CodecError):
            call()
    assert crud.read_region(doc, store, "a", (slice(2, 4), slice(2, 4)), engine=engine).tolist() == [
        [10, 11],
        [14, 15],
    ]


@NEEDS_ZARR
def test_the_zarr_engine_refuses_backslashes_it_would_read_as_slashes(tmp_path: pathlib.Path) -> None:
    """zarr-python reads "a\\b" as "a/b": the zarr engine wrote the node's data into another
    node's chunks. The native engine keeps such names as they are."""
    store = str(tmp_path / "s.zarr")
    doc = v3_doc([4], [4])
    for path in ("a/b", "a\\b"):
        crud.create_new_array(doc, store, path, engine="cffi")
    crud.write_region(doc, store, "a/b", ..., [1, 2, 3, 4], engine="cffi")
    crud.write_region(doc, store, "a\\b", ..., [9, 9, 9, 9], engine="cffi")
    assert crud.read_region(doc, store, "a/b", ..., engine="cffi").tolist() == [1, 2, 3, 4]
    assert crud.read_region(doc, store, "a\\b", ..., engine="cffi").tolist() == [9, 9, 9, 9]
    for call in (
        lambda: crud.create_new_array(doc, store, "x\\y", engine="zarr"),
        lambda: crud.write_region(doc, store, "a\\b", ..., 7, engine="zarr"),
        lambda: crud.read_region(doc, store, "a\\b", ..., engine="zarr"),
        lambda: crud.write_chunk(doc, store, "a\\b", (0,), [7, 7, 7, 7], engine="zarr"),
        lambda: crud.read_metadata(store, "a\\b", engine="zarr"),
        lambda: crud.delete_node(store, "a\\b", engine="zarr"),
    ):
        with pytest.raises(zarrs_cffi.InvalidArgumentError, match="zarr-python reads it as '/'"):
            call()
    assert crud.read_region(doc, store, "a/b", ..., engine="cffi").tolist() == [1, 2, 3, 4]
    assert not (tmp_path / "s.zarr" / "x").exists()


@pytest.mark.parametrize("engine", ENGINES)
def test_storage_options_with_a_local_directory_are_refused_by_both_engines(
    tmp_path: pathlib.Path, engine: str
) -> None:
    store = str(tmp_path / "s.zarr")
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match="local directories take no storage options"):
        crud.create_new_group(
            {"zarr_format": 3, "node_type": "group"},
            store,
            "",
            engine=engine,
            storage_options={"region": "x"},
        )
    assert not (tmp_path / "s.zarr").exists()


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    "doc",
    [
        {"zarr_format": 2, "attributes": None},
        {"zarr_format": 3, "node_type": "group", "attributes": [1]},
        {"node_type": "group"},
        {"zarr_format": 3.0, "node_type": "group"},
    ],
    ids=["v2-null-attributes", "v3-list-attributes", "no-format", "float-format"],
)
def test_group_documents_neither_engine_could_read_back_are_refused(
    tmp_path: pathlib.Path, engine: str, doc: dict[str, Any]
) -> None:
    store = str(tmp_path / "s.zarr")
    crud.create_new_group({"zarr_format": 3, "node_type": "group"}, store, "", engine="cffi")
    with pytest.raises(zarrs_cffi.InvalidMetadataError):
        crud.create_new_group(doc, store, "g", engine=engine)
    assert [name for name, _ in crud.list_children(store, "", engine=engine)] == []


@pytest.mark.parametrize("engine", ENGINES)
def test_damaged_bz2_chunks_are_codec_errors_and_damaged_zip_members_storage_errors(
    tmp_path: pathlib.Path, engine: str
) -> None:
    """Told apart by where they fail, not by type: bz2 raises an OSError for damaged data (was a
    StorageError from the zarr engine), a zip member's damaged deflate stream is the store's
    failure (zlib.error: was a CodecError, or untyped from read_chunk)."""
    import zipfile

    store = str(tmp_path / "s.zarr")
    v2 = {"zarr_format": 2, "shape": [4], "chunks": [2], "dtype": "<u2", "fill_value": 0, "order": "C"}
    bz2_doc = {**v2, "compressor": {"id": "bz2", "level": 1}, "filters": None}
    crud.create_new_array(bz2_doc, store, "b", engine=engine)
    crud.write_region(bz2_doc, store, "b", ..., np.arange(1, 5, dtype="u2"), engine=engine)
    (tmp_path / "s.zarr" / "b" / "0").write_bytes(b"not bzip2 data at all")
    for call in (
        lambda: crud.read_region(bz2_doc, store, "b", ..., engine=engine),
        lambda: crud.write_region(bz2_doc, store, "b", (0,), 5, engine=engine),
        lambda: crud.read_chunk(bz2_doc, store, "b", (0,), engine=engine),
    ):
        with pytest.raises(zarrs_cffi.CodecError):
            call()

    raw = v3_doc([64], [64])
    crud.create_new_array(raw, store, "r", engine=engine)
    crud.write_region(raw, store, "r", ..., np.arange(64, dtype="uint16"), engine=engine)
    archive = tmp_path / "s.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted((tmp_path / "s.zarr").rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(tmp_path / "s.zarr").as_posix())
    with zipfile.ZipFile(archive) as zf:
        member = zf.getinfo("r/c/0")
    data = bytearray(archive.read_bytes())
    start = member.header_offset + 30 + len(member.filename.encode()) + len(member.extra)
    for i in range(start, start + member.compress_size):
        data[i] ^= 0x55  # the member's deflate stream, damaged
    archive.write_bytes(bytes(data))
    for call in (
        lambda: crud.read_region(raw, str(archive), "r", ..., engine=engine),
        lambda: crud.read_chunk(raw, str(archive), "r", (0,), engine=engine),
    ):
        with pytest.raises(zarrs_cffi.StorageError):
            call()
