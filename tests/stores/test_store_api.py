"""Every API of the package on every writable store kind: a local directory, ``memory://`` and S3
(moto on loopback). Where zarr-python can reach the store it is the oracle: it reads what this
package wrote, and this package reads what it wrote."""

from __future__ import annotations

import json
import pathlib
import pickle
import re
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_fixtures import Place, make_place, s3_client

import zarrs_cffi
import zarrs_cffi.crud as crud

zarr = pytest.importorskip("zarr")

DATA = np.arange(24 * 20, dtype="int32").reshape(24, 20) * 3 - 100
LAYOUTS = {
    "plain": {"chunks": (8, 8)},
    "sharded": {"chunks": (4, 4), "shards": (8, 8)},
    "raw": {"chunks": (8, 8), "compressors": None},
}


def _create(place: Place, node: str = "/a", **layout: Any) -> zarrs_cffi.Array:
    layout.setdefault("chunks", (8, 8))
    return zarrs_cffi.create_array(
        place.url, node, shape=DATA.shape, dtype=DATA.dtype, storage_options=place.options, **layout
    )


@pytest.mark.parametrize("layout", LAYOUTS)
def test_write_then_read_everything(place: Place, layout: str) -> None:
    with _create(place, **LAYOUTS[layout]) as arr:
        arr[...] = DATA
        np.testing.assert_array_equal(arr[...], DATA)
        np.testing.assert_array_equal(arr[3:17:2, ::-3], DATA[3:17:2, ::-3])
        out = np.empty((20,), DATA.dtype)
        assert arr.read_into(out, (5,)) is out
        np.testing.assert_array_equal(out, DATA[5])
        np.testing.assert_array_equal(arr.oindex[[1, 7, 20], [0, 19]], DATA[np.ix_([1, 7, 20], [0, 19])])
    with zarrs_cffi.open_array(place.url, "/a", storage_options=place.options, read_only=True) as again:
        np.testing.assert_array_equal(again[...], DATA)
    zstore = place.zarr_store()
    if zstore is not None:  # the oracle reads what we wrote
        np.testing.assert_array_equal(zarr.open_array(zstore, path="a", mode="r")[...], DATA)


@pytest.mark.parametrize("layout", ["plain", "sharded"])
def test_a_many_chunk_write_stores_erases_and_merges(place: Place, layout: str) -> None:
    """One write over many chunks: whole chunks of the fill value are erased (also where nothing
    was stored), other whole chunks replaced, partly covered ones merged with what was there."""
    chunks = {"plain": {"chunks": (8, 8)}, "sharded": {"chunks": (4, 4), "shards": (8, 8)}}[layout]
    with _create(place, fill_value=5, **chunks) as arr:
        arr[:16] = DATA[:16]  # rows 16-23 never written
        region = (slice(4, 24), slice(0, 16))
        new = np.full((20, 16), 5, DATA.dtype)  # rows 8-23: the fill value, whole chunks
        new[:4] = -DATA[4:8, :16]  # rows 4-7: half of the first chunk row
        arr[region] = new
        expected = DATA.copy()
        expected[16:] = 5
        expected[region] = new
        np.testing.assert_array_equal(arr[...], expected)
        for row, col in [(1, 0), (1, 1), (2, 0), (2, 1)]:  # all fill: nothing stored
            assert arr.read_encoded_chunk((row, col)) is None, (row, col)
        assert arr.read_encoded_chunk((0, 0)) is not None  # merged, not the fill value
        assert arr.read_encoded_chunk((1, 2)) is not None  # outside the region: kept
    zstore = place.zarr_store()
    if zstore is not None:
        np.testing.assert_array_equal(zarr.open_array(zstore, path="a", mode="r")[...], expected)


def test_one_shot_calls(place: Place) -> None:
    _create(place).close()
    url = place.url + "/a"
    zarrs_cffi.write(url, (slice(0, 8), slice(None)), DATA[:8], storage_options=place.options)
    np.testing.assert_array_equal(
        zarrs_cffi.read(url, (slice(0, 8),), storage_options=place.options), DATA[:8]
    )
    out = np.empty((8, 20), DATA.dtype)
    zarrs_cffi.read_into(out, url, (slice(0, 8),), storage_options=place.options)
    np.testing.assert_array_equal(out, DATA[:8])
    # Never written: the fill value.
    np.testing.assert_array_equal(zarrs_cffi.read(url, (slice(8, 24),), storage_options=place.options), 0)


def test_chunk_io_and_erase(place: Place) -> None:
    with _create(place, chunks=(8, 8), fill_value=5) as arr:
        arr.write_chunk((1, 1), np.full((8, 8), 9, "int32"))
        np.testing.assert_array_equal(arr.read_chunk((1, 1)), 9)
        assert arr.read_encoded_chunk((1, 1)) is not None
        assert arr.read_encoded_chunk((0, 0)) is None  # missing object: nothing stored
        np.testing.assert_array_equal(arr.read_chunk((0, 0)), 5)  # ... reads as the fill value
        arr.erase_chunk((1, 1))
        assert arr.read_encoded_chunk((1, 1)) is None
        np.testing.assert_array_equal(arr[...], 5)


def test_nodes_groups_listing_and_deletion(place: Place) -> None:
    zarrs_cffi.create_group(place.url, "/", attributes={"title": "t"}, storage_options=place.options)
    zarrs_cffi.create_group(place.url, "/g", storage_options=place.options)
    _create(place, "/g/a").close()
    _create(place, "/b").close()
    with place.store() as store:
        assert store.node_exists("/g/a") and not store.node_exists("/nope")
        assert store.read_metadata("/")["attributes"] == {"title": "t"}
        assert sorted(name for name, _ in store.list_children("/")) == ["b", "g"]
        assert [name for name, _ in store.list_children("/g")] == ["g/a"]
        with pytest.raises(zarrs_cffi.NodeExistsError):
            store.create_node("/b", store.read_metadata("/b"))
        store.delete_node("/g")
        assert not store.node_exists("/g/a") and not store.node_exists("/g")
        assert [name for name, _ in store.list_children("/")] == ["b"]
        with pytest.raises(zarrs_cffi.NodeNotFoundError):
            zarrs_cffi.open_array(place.url, "/g/a", storage_options=place.options)


def test_chunk_cache_sees_other_writers(place: Place) -> None:
    with _create(place, chunks=(4, 4), shards=(8, 8)) as writer:
        writer[...] = DATA
        with zarrs_cffi.open_array(
            place.url, "/a", storage_options=place.options, chunk_cache_bytes=2**20
        ) as cached:
            np.testing.assert_array_equal(cached[0:4, 0:4], DATA[0:4, 0:4])
            writer[...] = DATA + 1  # another handle rewrites every shard
            # A cached decoded chunk may be stale (documented); one never read before is new data,
            # never another chunk's bytes.
            np.testing.assert_array_equal(cached[4:8, 4:8], DATA[4:8, 4:8] + 1)
            cached.clear_chunk_cache()
            np.testing.assert_array_equal(cached[...], DATA + 1)


@pytest.fixture(params=["chunk by chunk", "row groups"])
def streaming(request: pytest.FixtureRequest) -> Iterator[None]:
    """Multi-chunk reads decoded chunk by chunk, or by row groups (as large outputs are)."""
    previous = zarrs_cffi.set_streaming_threshold(0 if request.param == "row groups" else sys.maxsize)
    yield
    zarrs_cffi.set_streaming_threshold(previous)


@pytest.mark.parametrize("key", ["../outside.txt", "a/../../outside.txt", "a//b", "./zarr.json", "a/.", ""])
def test_store_keys_cannot_leave_the_store(tmp_path: pathlib.Path, key: str) -> None:
    """A key with an empty, "." or ".." segment would name a file outside a local store's directory
    (or another key than its text on an object store): refused by get_key and set_key alike."""
    root = tmp_path / "store"
    root.mkdir()
    (tmp_path / "outside.txt").write_bytes(b"not in the store")
    with zarrs_cffi.Store(root) as store:
        with pytest.raises(zarrs_cffi.InvalidArgumentError, match="invalid store key"):
            store.get_key(key)
        with pytest.raises(zarrs_cffi.InvalidArgumentError, match="invalid store key"):
            store.set_key(key, b"escaped")
        store.set_key("a/b", b"inside")  # an ordinary key still works
        assert store.get_key("a/b") == b"inside"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outside.txt", "store"]
    assert (tmp_path / "outside.txt").read_bytes() == b"not in the store"


@pytest.mark.parametrize("threads", [1, 2])
def test_a_corrupt_chunk_fails_a_many_chunk_read_by_name(
    place: Place, threads: int, restore_threads: None, streaming: None
) -> None:
    """Multi-chunk reads of remote stores fetch chunks ahead of the decoding threads: a chunk that
    does not decode still fails the read with a CodecError naming its key, an absent one reads as
    the fill value, and reads that avoid the bad chunk are right."""
    zarrs_cffi.set_num_threads(threads)
    with _create(place, fill_value=7) as arr:
        arr[...] = DATA
        arr.erase_chunk((0, 0))
        with place.store() as store:
            stored = store.get_key("a/c/1/1")
            assert stored is not None
            store.set_key("a/c/1/1", b"\x5a" * len(stored))
        expected = DATA.copy()
        expected[0:8, 0:8] = 7
        out = np.empty_like(DATA)
        with pytest.raises(zarrs_cffi.CodecError, match="c/1/1"):
            arr.read_into(out, (slice(None), slice(None)))
        with pytest.raises(zarrs_cffi.CodecError, match="c/1/1"):
            arr[4:20, 2:18]
        np.testing.assert_array_equal(arr[0:8, :], expected[0:8, :])
        np.testing.assert_array_equal(arr[16:24, :], expected[16:24, :])


def test_pickled_array_reopens_its_store(place: Place) -> None:
    with _create(place) as arr:
        arr[...] = DATA
        clone = pickle.loads(pickle.dumps(arr))
    with clone:
        assert clone.root == arr.root
        np.testing.assert_array_equal(clone[...], DATA)


@pytest.mark.parametrize("engine", ["cffi", "zarr"])
def test_crud_functions(place: Place, engine: str) -> None:
    """The functional CRUD API on the store, through both engines; the other engine reads it back."""
    target: Any = place.url if engine == "cffi" else place.zarr_store()
    if target is None:
        pytest.skip("zarr-python cannot reach zarrs_cffi's memory:// stores")
    if place.options and engine == "cffi":
        target = place.store()
    doc = zarr.create_array(
        zarr.storage.MemoryStore(), shape=DATA.shape, dtype=DATA.dtype, chunks=(8, 8)
    ).metadata
    doc = doc.to_dict()
    crud.create_new_group(
        {"zarr_format": 3, "node_type": "group", "attributes": {}}, target, "", engine=engine
    )
    crud.create_new_array(doc, target, "x", engine=engine)
    crud.write_region(doc, target, "x", np.s_[...], DATA, engine=engine)
    crud.write_chunk(doc, target, "x", (0, 0), np.full((8, 8), 7, "int32"), engine=engine)
    crud.delete_chunk(doc, target, "x", (2, 2), engine=engine)
    expected = DATA.copy()
    expected[:8, :8] = 7
    expected[16:24, 16:20] = 0
    other = "zarr" if engine == "cffi" else "cffi"
    for reader, store_like in (
        (engine, target),
        (other, place.zarr_store() if other == "zarr" else place.store()),
    ):
        if store_like is None:
            continue
        np.testing.assert_array_equal(
            crud.read_region(doc, store_like, "x", np.s_[...], engine=reader), expected
        )
        assert [name for name, _ in crud.list_children(store_like, "", engine=reader)] == ["x"]
        assert crud.read_metadata(store_like, "x", engine=reader)["shape"] == list(DATA.shape)
    crud.delete_node(target, "x", engine=engine)
    with pytest.raises(zarrs_cffi.NodeNotFoundError):
        crud.read_metadata(target, "x", engine=engine)


def test_zarr_python_writes_we_read(place: Place) -> None:
    zstore = place.zarr_store()
    if zstore is None:
        pytest.skip("zarr-python cannot reach zarrs_cffi's memory:// stores")
    written = {}
    for name, kwargs in {
        "v3": {"chunks": (5, 7)},
        "v3_sharded": {"chunks": (4, 4), "shards": (8, 8)},
        "v2": {"chunks": (5, 7), "zarr_format": 2},
    }.items():
        for dtype in ("uint8", "int16", "float32", "float64", "complex64", "bool"):
            values = (DATA % 7).astype(dtype)
            zarr.create_array(zstore, name=f"{name}/{dtype}", shape=values.shape, dtype=dtype, **kwargs)[
                ...
            ] = values
            written[f"{name}/{dtype}"] = values
    for path, values in written.items():
        with zarrs_cffi.open_array(place.url, path, storage_options=place.options) as arr:
            np.testing.assert_array_equal(arr[...], values, err_msg=path)
            np.testing.assert_array_equal(arr[2:19:3, 1:], values[2:19:3, 1:], err_msg=path)


def test_store_repr_and_errors_hide_secrets(s3: tuple[str, dict[str, Any]]) -> None:
    url, options = s3
    secret = options["secret_access_key"]
    with zarrs_cffi.Store(url, **options) as store:
        assert secret not in repr(store) and secret not in repr(store.location)
    with pytest.raises(zarrs_cffi.InvalidArgumentError) as info:
        zarrs_cffi.Store(url, **options, regoin="x")
    assert "regoin" in str(info.value) and secret not in str(info.value)


@pytest.mark.parametrize(
    "url, word",
    [
        ("ftp://host/x", "unsupported store URL scheme"),
        ("s3://", "bucket"),
        ("memory://", "name"),
        ("file://remote/x", "remote host"),
        ("s3://b/x\0y", "NUL"),
        ("s3:bucket/x", "malformed store URL 's3:bucket/x': s3 URLs look like s3://"),
        ("S3:/bucket/x", "malformed store URL"),
        ("gs:b", "malformed store URL"),
        ("s3://bucket/x?versionId=3", "query or fragment"),
        ("memory://m/x#part", "query or fragment"),
    ],
)
def test_malformed_urls_raise_invalid_argument(url: str, word: str) -> None:
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match=re.escape(word)):
        zarrs_cffi.Store(url)


@pytest.mark.parametrize("url", ["s3:bucket/x", "s3:/bucket/x", "gs:b", "s3://bucket/x?y=1"])
def test_mistyped_urls_create_nothing_here_in_python_or_c(
    url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mistyped URL is an error, not a local directory made in the working directory — through
    the Python API and through the C function alike."""
    from zarrs_cffi._native import ffi, lib

    monkeypatch.chdir(tmp_path)
    with pytest.raises(zarrs_cffi.InvalidArgumentError):
        zarrs_cffi.create_group(url)
    out = ffi.new("ZarrsCffiStorage *")
    code = lib.zarrsCffiCreateStorageFromUrl(url.encode(), ffi.NULL, out)
    assert code == lib.ZARRS_CFFI_ERROR_INVALID_ARGUMENT, code
    assert not any(tmp_path.iterdir())


def test_an_option_value_object_store_cannot_parse_is_named() -> None:
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match="storage option allow_http"):
        zarrs_cffi.Store("s3://bucket/x", allow_http=5, region="eu-west-1")


def test_options_are_checked() -> None:
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match="storage option"):
        zarrs_cffi.Store("s3://bucket/x", region=["eu"])
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match="take no storage options"):
        zarrs_cffi.Store("memory://x", region="eu")
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match="max_retries"):
        zarrs_cffi.Store("s3://bucket/x", max_retries="many")


@pytest.mark.parametrize(
    ("options", "named", "why"),
    [
        ({"endpoint": "ht!tp://x"}, "endpoint", "must be an http:// or https:// URL"),
        ({"endpoint": "ftp://127.0.0.1"}, "endpoint", "must be an http:// or https:// URL"),
        ({"aws_endpoint_url": "not a url"}, "aws_endpoint_url", "must be an http:// or https:// URL"),
        ({"session_token": "tok\nen-SECRET"}, "session_token", "holds a control character"),
        ({"secret_access_key": "abc\x07SECRET"}, "secret_access_key", "holds a control character"),
    ],
)
def test_option_values_object_store_would_panic_on_are_refused(
    options: dict[str, str], named: str, why: str
) -> None:
    """object_store unwraps these when it builds a request (a panic, caught as InternalPanicError):
    they are refused up front, naming the option and not showing its value."""
    base = {"endpoint": "http://127.0.0.1:1", "region": "us-east-1", "max_retries": 0}
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match=f'storage option "{named}" {why}') as raised:
        zarrs_cffi.open_array("s3://bucket/x", storage_options={**base, **options})
    assert "SECRET" not in str(raised.value)
    from zarrs_cffi._native import ffi, lib

    out = ffi.new("ZarrsCffiStorage *")
    code = lib.zarrsCffiCreateStorageFromUrl(b"s3://bucket/x", json.dumps({**base, **options}).encode(), out)
    assert code == lib.ZARRS_CFFI_ERROR_INVALID_ARGUMENT, code


def test_zarr_store_objects_map_to_native_stores(place: Place) -> None:
    zstore = place.zarr_store()
    if zstore is None:
        pytest.skip("zarr-python cannot reach zarrs_cffi's memory:// stores")
    _create(place).close()
    zarrs_cffi.write(place.url + "/a", (), DATA, storage_options=place.options)
    with zarrs_cffi.open_array(zstore, "/a") as arr:  # rebuilt natively from the store's config
        np.testing.assert_array_equal(arr[...], DATA)
    with pytest.raises(zarrs_cffi.UnsupportedStoreError, match="MemoryStore"):
        zarrs_cffi.open_array(zarr.storage.MemoryStore(), "/a")


class _Thing:
    pass


class _WrappingBackend(zarr.storage.WrapperStore):  # a user's store class whose name does not say so
    pass


@pytest.mark.parametrize(
    "call",
    [
        lambda target: zarrs_cffi.Store(target),
        lambda target: zarrs_cffi.open_array(target, "/a"),
        lambda target: zarrs_cffi.create_group(target, "/g"),
        lambda target: zarrs_cffi.create_array(target, "/b", shape=(2,), dtype="u1", chunks=(2,)),
        lambda target: zarrs_cffi.read(target),
        lambda target: zarrs_cffi.read_into(np.empty(2, "u1"), target),
        lambda target: zarrs_cffi.write(target, (), 1),
        lambda target: zarrs_cffi.consolidate(target),
        lambda target: zarrs_cffi.crud.read_metadata(target, ""),
        lambda target: zarrs_cffi.crud.list_children(target, ""),
    ],
)
def test_any_other_object_is_an_unsupported_store_naming_its_type(tmp_path: Any, call: Any) -> None:
    """Objects that are neither a path, a URL, a Store nor a store zarrs_cffi maps natively raise
    UnsupportedStoreError naming the type, whatever the class is called (None, numbers and bytes
    are bad paths: InvalidArgumentError, tests/reliability/test_bad_inputs.py)."""
    wrapped = _WrappingBackend(zarr.storage.LocalStore(str(tmp_path)))
    for target, name in ((_Thing(), "_Thing"), (wrapped, "_WrappingBackend")):
        with pytest.raises(zarrs_cffi.UnsupportedStoreError, match=name):
            call(target)
    assert not any(tmp_path.iterdir())


def test_memory_stores_are_shared_by_name_until_forgotten() -> None:
    url = "memory://shared-by-name"
    try:
        zarrs_cffi.create_array(url, "/a", shape=(4,), dtype="u1", chunks=(2,))[...] = [1, 2, 3, 4]
        np.testing.assert_array_equal(zarrs_cffi.read(url + "/a"), [1, 2, 3, 4])
        assert zarrs_cffi.Store("memory://other-name").node_exists("/a") is False
    finally:
        zarrs_cffi.forget_memory_store(url)
    assert zarrs_cffi.Store(url).node_exists("/a") is False


@pytest.mark.parametrize("engine", ["cffi", "zarr"])
def test_crud_functions_take_storage_options(remote: Place, engine: str) -> None:
    """Every function of the CRUD contract, given the store's URL and its storage_options."""
    if engine == "zarr" and remote.kind == "memory":
        pytest.skip("zarr-python cannot reach zarrs_cffi's memory:// stores")
    import asyncio

    import zarrs_cffi.crud.aio as aio

    url, opts = remote.url, {"engine": engine, "storage_options": remote.options}
    doc = zarr.create_array(
        zarr.storage.MemoryStore(), shape=(6,), dtype="int8", chunks=(3,)
    ).metadata.to_dict()
    group = {"zarr_format": 3, "node_type": "group", "attributes": {"n": 1}}
    crud.create_new_group(group, url, "", **opts)
    crud.create_overwrite_group({**group, "attributes": {"n": 2}}, url, "", **opts)
    crud.create_new_array(doc, url, "v", **opts)
    crud.create_overwrite_array(doc, url, "v", **opts)
    crud.write_region(doc, url, "v", np.s_[...], np.arange(6, dtype="int8"), **opts)
    np.testing.assert_array_equal(crud.read_region(doc, url, "v", np.s_[1:5], **opts), [1, 2, 3, 4])
    out = np.empty(2, "int8")
    crud.read_region_into(out, doc, url, "v", np.s_[4:6], **opts)
    np.testing.assert_array_equal(out, [4, 5])
    crud.write_chunk(doc, url, "v", (0,), np.array([7, 8, 9], "int8"), **opts)
    np.testing.assert_array_equal(crud.read_chunk(doc, url, "v", (0,), **opts), [7, 8, 9])
    assert crud.read_encoded_chunk(doc, url, "v", (1,), **opts) is not None
    got = asyncio.run(aio.read_region(doc, url, "v", np.s_[1:5], **opts))
    np.testing.assert_array_equal(got, [8, 9, 3, 4])
    crud.delete_chunk(doc, url, "v", (1,), **opts)
    assert crud.read_encoded_chunk(doc, url, "v", (1,), **opts) is None
    assert crud.read_metadata(url, "", **opts)["attributes"] == {"n": 2}
    assert crud.read_metadata(url, "v", **opts)["shape"] == [6]
    assert [name for name, _ in crud.list_children(url, "", **opts)] == ["v"]
    crud.delete_node(url, "v", **opts)
    assert crud.list_children(url, "", **opts) == []


@pytest.mark.parametrize("kind", ["gcs", "azure"])
def test_denied_missing_and_secret_on_gcs_and_azure(
    kind: str, tmp_path: Any, request: pytest.FixtureRequest
) -> None:
    """On GCS and Azure: a 403 raises a PermissionError naming the URL, a missing node
    NodeNotFoundError, and the secret (service-account key, account key) shows in no message or repr."""
    from azure_fake import EMULATOR_ACCOUNT_KEY
    from gcs_fake import PRIVATE_KEY
    from store_fixtures import make_place

    place = make_place(kind, tmp_path, request)
    server = request.getfixturevalue(f"{kind}_server")
    secret = PRIVATE_KEY if kind == "gcs" else EMULATOR_ACCOUNT_KEY
    _create(place)[...] = DATA
    with zarrs_cffi.Store(place.url, **place.options) as store:
        assert secret not in repr(store) and secret not in repr(store.location)
    with pytest.raises(zarrs_cffi.NodeNotFoundError):
        zarrs_cffi.open_array(place.url, "/missing", storage_options=place.options)
    server.deny = True
    try:
        with pytest.raises(PermissionError) as info:
            zarrs_cffi.read(place.url + "/a", storage_options=place.options)
    finally:
        server.deny = False
    assert place.url in str(info.value) and secret not in str(info.value)
    assert not server.unexpected


def test_gcs_listing_over_many_pages_and_anonymous_reads(
    gcs_server: Any, tmp_path: Any, request: pytest.FixtureRequest
) -> None:
    """Listings follow GCS's continuation tokens (3 entries a page here), and a public bucket reads
    with ``skip_signature`` and the base URL alone (no key)."""
    from store_fixtures import make_place

    place = make_place("gcs", tmp_path, request)
    zarrs_cffi.create_group(place.url, "/g", storage_options=place.options)
    for name in "abcdefg":
        zarrs_cffi.create_group(place.url, f"/g/{name}", storage_options=place.options)
    _create(place, "/g/arr")[...] = DATA
    gcs_server.page_size = 3
    try:
        children = crud.list_children(place.url, "g", storage_options=place.options)
        anonymous = {"google_base_url": gcs_server.endpoint, "skip_signature": True, "allow_http": True}
        np.testing.assert_array_equal(zarrs_cffi.read(place.url + "/g/arr", storage_options=anonymous), DATA)
    finally:
        gcs_server.page_size = 1000
    assert sorted(name for name, _ in children) == sorted(f"g/{n}" for n in [*"abcdefg", "arr"])
    assert not gcs_server.unexpected


def test_obstore_config_it_cannot_report_is_a_typed_error(azure_server: Any) -> None:
    """obstore panics (a BaseException) reading back an AzureStore's config holding allow_http; the
    mapping to a native store turns that into UnsupportedStoreError with the way out."""
    from azure_fake import azure_options
    from obstore.store import AzureStore

    store = zarr.storage.ObjectStore(AzureStore("any", config=azure_options(azure_server)))
    with pytest.raises(zarrs_cffi.UnsupportedStoreError, match="client_options"):
        zarrs_cffi.Store(store)


@pytest.mark.parametrize("kind, expected", [("gcs", ["GET", "GET"]), ("azure", ["HEAD", "GET", "GET"])])
def test_requests_for_one_inner_chunk(
    kind: str, expected: list[str], tmp_path: Any, request: pytest.FixtureRequest
) -> None:
    """One inner chunk of a shard: the index by a suffix range, then the chunk by a ranged GET (GCS);
    Azure has no suffix ranges, so its index costs a HEAD (size, ETag) and a ranged GET of that
    version."""
    import urllib.parse

    from store_fixtures import make_place

    place = make_place(kind, tmp_path, request)
    server = request.getfixturevalue(f"{kind}_server")
    _create(place, chunks=(4, 4), shards=(8, 8))[...] = DATA
    del server.requests[:]
    with zarrs_cffi.open_array(place.url, "/a", storage_options=place.options) as arr:
        np.testing.assert_array_equal(arr[9:11, 1:3], DATA[9:11, 1:3])
    shard = [m for m, path in server.requests if urllib.parse.unquote(path).endswith("/a/c/1/0")]
    assert shard == expected, server.requests


def test_the_short_file_url_names_the_directory(tmp_path: Any) -> None:
    """``file:/abs/path`` (RFC 8089's short form) is the directory, as ``file:///abs/path`` is."""
    zarrs_cffi.create_array(f"file:{tmp_path}/a.zarr", shape=(3,), dtype="u1", chunks=(3,))[...] = 4
    np.testing.assert_array_equal(zarrs_cffi.read(str(tmp_path / "a.zarr")), [4, 4, 4])
    assert zarrs_cffi.Store(f"file:{tmp_path}").location.url == str(tmp_path)


def test_a_store_object_works_in_every_api(place: Place) -> None:
    """A ``Store`` (not a URL) given to create_group / create_array / the one-shot calls /
    open_array / consolidate, on every store kind: what one call writes, the others read."""
    data = np.arange(6 * 7, dtype="int16").reshape(6, 7)
    with place.store() as store:
        zarrs_cffi.create_group(store, attributes={"made": "by a Store"})
        with zarrs_cffi.create_array(store, "/a", shape=data.shape, dtype="int16", chunks=(4, 4)) as a:
            a[...] = data
    with place.store() as store:
        with zarrs_cffi.open_array(store, "/a") as a:
            out = np.empty_like(data)
            a.read_into(out)
            np.testing.assert_array_equal(out, data)
        zarrs_cffi.consolidate(store)
        assert [path for path, _ in store.list_children("/", consolidated=True)] == ["a"]
        assert store.read_metadata("/")["attributes"] == {"made": "by a Store"}
    with place.store() as root:  # a Store of the array itself, for the one-shot calls
        array_url = place.url.rstrip("/") + "/a"
        with zarrs_cffi.Store(array_url, **place.options) as store:
            zarrs_cffi.write(store, (slice(0, 2), slice(0, 3)), -data[:2, :3])
            expected = data.copy()
            expected[:2, :3] *= -1
            np.testing.assert_array_equal(zarrs_cffi.read(store, ()), expected)
            out = np.empty((2, 7), "int16")
            zarrs_cffi.read_into(out, store, (slice(4, 6), slice(None)))
            np.testing.assert_array_equal(out, expected[4:6])
        assert root.node_exists("/a")


@pytest.mark.parametrize(
    "url, options, accepted",
    [
        ("ftp://host/x", {}, ["file://", "s3://", "gs://", "az://", "http://", "zip://", "memory://"]),
        ("s3:/bucket/x", {}, ["s3://", "abfs://", "https://"]),
        ("s3://bucket/x", {"endpoit": "http://x"}, ["endpoint", "region", "access_key_id", "max_retries"]),
    ],
)
def test_bad_urls_and_unknown_options_list_what_is_accepted(
    url: str, options: dict[str, Any], accepted: list[str]
) -> None:
    with pytest.raises(zarrs_cffi.InvalidArgumentError) as raised:
        zarrs_cffi.Store(url, **options)
    message = str(raised.value)
    listed = message.split("accepted:", 1)[1]
    assert all(name in listed for name in accepted), message
    assert "endpoit" in message or not options  # the unknown option is named


# Node names object_store's Path::from would percent-encode (non-ASCII, %, ~, #, ?, *, ")
SPECIAL_NAMES = ["ü", "日本", "x%41", "a b", "t~", "a#b", "a?b", "star*", 'dq"', "p+q"]


@pytest.mark.parametrize("kind", ["s3", "gcs", "azure"])
def test_special_node_names_are_the_keys_zarr_python_uses(
    kind: str, tmp_path: Any, request: pytest.FixtureRequest
) -> None:
    """A node named "ü" is the object "ü/zarr.json", as zarr-python (obstore) and every other client
    name it — once stored as "%C3%BC/zarr.json" (object_store's Path::from spelling), which
    zarr-python could not find and our own listing dropped. Both ways, with listings."""
    place = make_place(kind, tmp_path, request)
    zstore = place.zarr_store()
    zarrs_cffi.create_group(place.url, storage_options=place.options)
    for i, name in enumerate(SPECIAL_NAMES):
        values = np.arange(6, dtype="int16") + i
        zarrs_cffi.create_array(
            place.url, name, shape=(6,), chunks=(4,), dtype="int16", storage_options=place.options
        )[...] = values
        np.testing.assert_array_equal(zarr.open_array(zstore, path=name, mode="r")[...], values)
        zarr.create_array(zstore, name=f"{name}_z", shape=(6,), chunks=(4,), dtype="int16")[...] = -values
        with zarrs_cffi.open_array(place.url, f"{name}_z", storage_options=place.options) as arr:
            np.testing.assert_array_equal(arr[...], -values)
    expected = sorted(SPECIAL_NAMES + [f"{name}_z" for name in SPECIAL_NAMES])
    with place.store() as store:
        assert [path for path, _ in store.list_children("/")] == expected
    assert sorted(zarr.open_group(zstore, mode="r").keys()) == expected
    crud.delete_node(place.url, "ü", storage_options=place.options)
    assert sorted(zarr.open_group(zstore, mode="r").keys()) == [n for n in expected if n != "ü"]


def test_a_special_prefix_is_the_key_prefix_zarr_python_uses(s3: tuple[str, dict[str, Any]]) -> None:
    """A URL's path is percent-decoded (as obstore's from_url reads it), and an obstore store's
    prefix (the key prefix itself) is quoted on its way into a URL: "dätä x%41.zarr" stays itself."""
    url, options = s3
    bucket = url[len("s3://") :].split("/")[0]
    prefix = "dätä x%41.zarr"
    # zarr-python's ObjectStore over obstore's S3Store with that prefix, as the fixtures make it
    zstore = Place("s3", f"s3://{bucket}/{prefix}", options, options["endpoint"]).zarr_store()
    zarr.create_array(zstore, name="a", shape=(3,), dtype="uint8")[...] = [1, 2, 3]
    with zarrs_cffi.open_array(zstore, "a") as arr:  # the zarr-python store object, mapped natively
        np.testing.assert_array_equal(arr[...], [1, 2, 3])
    quoted = f"s3://{bucket}/d%C3%A4t%C3%A4%20x%2541.zarr"
    with zarrs_cffi.open_array(quoted, "a", storage_options=options) as arr:
        np.testing.assert_array_equal(arr[...], [1, 2, 3])
    zarrs_cffi.create_group(f"s3://{bucket}/dätä.zarr", storage_options=options)
    listed = s3_client(options["endpoint"]).list_objects_v2(Bucket=bucket)["Contents"]
    keys = {item["Key"] for item in listed}
    assert keys == {f"{prefix}/zarr.json", f"{prefix}/a/zarr.json", f"{prefix}/a/c/0", "dätä.zarr/zarr.json"}


def test_object_keys_up_to_the_object_stores_limit_work_and_longer_ones_are_refused_unsent(
    remote: Place, capfd: pytest.CaptureFixture[str]
) -> None:
    """S3 and GCS take keys of up to 1,024 bytes, Azure 1,024 characters: a key up to that (the
    URL's path included) is stored, a longer one is an invalid argument before any request — once
    a panic in object_store (a URL past its HTTP client's 64 KiB), now on memory:// too."""
    prefix = remote.url.split("://", 1)[1].partition("/")[2]  # "data.zarr"
    room = 1024 - len(prefix) - len("/") - len("/zarr.json")
    longest, too_long = "g" * room, "h" * (room + 1)
    zarrs_cffi.create_group(remote.url, storage_options=remote.options)
    zarrs_cffi.create_group(remote.url, longest, storage_options=remote.options)
    for name in (too_long, "i" * 100_000):
        with pytest.raises(zarrs_cffi.InvalidArgumentError, match="longer than object stores accept"):
            zarrs_cffi.create_group(remote.url, name, storage_options=remote.options)
    with remote.store() as store:
        with pytest.raises(zarrs_cffi.InvalidArgumentError, match=r"has 100010 characters"):
            store.node_exists("j" * 100_000)
        assert [path for path, _ in store.list_children("/")] == [longest]
    assert "panicked" not in capfd.readouterr().err


@pytest.mark.parametrize(
    "url, options, named",
    [
        ("s3://bucket/" + "p" * 9000, {}, 'store URL "s3://bucket/ppp'),
        ("s3://" + "b" * 9000, {}, 'store URL "s3://bbb'),
        ("https://host/" + "p" * 9000, {}, 'store URL "https://host/ppp'),
        ("s3://bucket/x", {"endpoint": "http://127.0.0.1:1/" + "e" * 9000}, 'storage option "endpoint"'),
        ("s3://bucket/x", {"secret_access_key": "s" * 9000}, 'storage option "secret_access_key"'),
        ("s3://bucket/" + "p" * 1024, {}, "the store's path"),
        ("memory://m/" + "p" * 1024, {}, "the store's path"),
    ],
)
def test_over_long_urls_and_option_values_are_invalid_arguments_in_python_and_c(
    url: str, options: dict[str, Any], named: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """Longer than an HTTP request line servers accept (8 KiB): refused when the store is made,
    naming the URL's start or the option, never the option's value."""
    from zarrs_cffi._native import ffi, lib

    with pytest.raises(zarrs_cffi.InvalidArgumentError, match=re.escape(named)) as raised:
        zarrs_cffi.Store(url, **options)
    assert "s" * 100 not in str(raised.value)
    out = ffi.new("ZarrsCffiStorage *")
    document = json.dumps(options).encode() if options else ffi.NULL
    code = lib.zarrsCffiCreateStorageFromUrl(url.encode(), document, out)
    assert code == lib.ZARRS_CFFI_ERROR_INVALID_ARGUMENT, code
    assert "panicked" not in capfd.readouterr().err


@pytest.mark.parametrize("virtual_hosted", [False, True])
def test_virtual_hosted_style_requests_follow_the_option(virtual_hosted: bool) -> None:
    """Path style puts the bucket in the request's path; virtual-hosted style sends requests to the
    endpoint as given (object_store: then it is the bucket's own endpoint). The request URL shows in
    the error of a dead endpoint."""
    options = {
        "endpoint": "http://127.0.0.1:1",
        "allow_http": True,
        "region": "us-east-1",
        "skip_signature": True,
        "max_retries": 0,
        "virtual_hosted_style_request": virtual_hosted,
    }
    with pytest.raises(zarrs_cffi.StorageError) as raised:
        zarrs_cffi.read("s3://vhbucket/x.zarr", (), storage_options=options)
    path_style = "http://127.0.0.1:1/vhbucket/x.zarr/zarr.json"
    hosted_style = "http://127.0.0.1:1/x.zarr/zarr.json"
    assert (hosted_style if virtual_hosted else path_style) in str(raised.value), raised.value


_NAME_CHARACTERS = "aZ09 -_.%~#?*\"'+=&;:,@!$()[]{}<>|^`üé日本\u00a0€"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    names=st.lists(
        # "." and ".." are no names; "__..." is reserved by the Zarr v3 spec (NodePathError)
        st.text(alphabet=_NAME_CHARACTERS, min_size=1, max_size=6).filter(
            lambda n: n not in (".", "..") and not n.startswith("__")
        ),
        min_size=1,
        max_size=8,
        unique=True,
    ),
    doomed=st.integers(min_value=0, max_value=7),
)
def test_any_node_name_lists_reads_and_deletes_as_itself(names: list[str], doomed: int) -> None:
    """Object keys are turned into object_store paths and back on every call (object_keys.rs); any
    name survives the round trip: listed as itself, read, and deleted without touching a name it
    prefixes ("a" beside "a b")."""
    url = f"memory://names-{uuid.uuid4().hex}/r.zarr"
    try:
        zarrs_cffi.create_group(url)
        for i, name in enumerate(names):
            zarrs_cffi.create_array(url, name, shape=(2,), chunks=(1,), dtype="int32")[...] = i
        with zarrs_cffi.Store(url) as store:
            assert [path for path, _ in store.list_children("/")] == sorted(names)
            for i, name in enumerate(names):
                with zarrs_cffi.open_array(store, name) as arr:
                    assert arr[...].tolist() == [i, i], name
            gone = names[doomed % len(names)]
            crud.delete_node(store, gone)
            assert [path for path, _ in store.list_children("/")] == sorted(set(names) - {gone})
    finally:
        zarrs_cffi.forget_memory_store(url)


def test_children_are_listed_in_path_order_by_every_engine_and_from_consolidated_metadata(
    place: Place,
) -> None:
    """Sorted by path ("a" before "a b", "0" before "0." and "0-"), as the zarr engine and the
    consolidated listing always did; the store's own listing came in prefix order ("a b/" < "a/")."""
    names = ["a b", "a", "0.", "0", "0-", "ü"]
    zarrs_cffi.create_group(place.url, storage_options=place.options)
    for name in names:
        zarrs_cffi.create_group(place.url, name, storage_options=place.options)
    with place.store() as store:
        assert [path for path, _ in store.list_children("/")] == sorted(names)
        zarrs_cffi.consolidate(store)
        assert [path for path, _ in store.list_children("/", consolidated=True)] == sorted(names)
    engines = ["cffi", "zarr"] if place.zarr_store() is not None else ["cffi"]
    for engine in engines:
        target = place.zarr_store() if engine == "zarr" else place.store()
        listed = crud.list_children(target, "", engine=engine)
        assert [path for path, _ in listed] == sorted(names), engine


@pytest.mark.parametrize("engine", ["cffi", "zarr"])
def test_crud_calls_use_their_own_storage_options(s3: tuple[str, dict[str, Any]], engine: str) -> None:
    """The native engine cached array handles by URL alone: after one call, a call with another
    endpoint or other credentials was answered (and written) through the first call's store."""
    url, options = s3
    zarrs_cffi.create_array(url, shape=(4,), chunks=(4,), dtype="u1", storage_options=options)[...] = 5
    doc = crud.read_metadata(url, "", storage_options=options)
    assert crud.read_region(doc, url, "", ..., engine=engine, storage_options=options).tolist() == [5] * 4
    dead = {**options, "endpoint": "http://127.0.0.1:1", "max_retries": 0}
    with pytest.raises(zarrs_cffi.StorageError):
        crud.read_region(doc, url, "", ..., engine=engine, storage_options=dead)
    with pytest.raises(zarrs_cffi.StorageError):
        crud.write_region(doc, url, "", ..., 9, engine=engine, storage_options=dead)
    assert zarrs_cffi.read(url, storage_options=options).tolist() == [5] * 4
