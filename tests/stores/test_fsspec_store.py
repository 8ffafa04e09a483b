"""zarr-python's FsspecStore is rebuilt natively from its URL and options: over HTTP (fsspec's HTTP
filesystem, served from a loopback server), and over S3 (s3fs' option names translated)."""

from __future__ import annotations

import pathlib
import re
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from loopback_server import PlainHandler, serve

import zarrs_cffi
from zarrs_cffi.store_location import locate

zarr = pytest.importorskip("zarr")


@pytest.fixture
def served(tmp_path: pathlib.Path) -> Iterator[str]:
    root = tmp_path / "served"
    zarr.create_array(str(root / "data.zarr"), name="a", shape=(10, 6), dtype="int16", chunks=(4, 4))[...] = (
        np.arange(60).reshape(10, 6)
    )
    with serve(root / "data.zarr", PlainHandler) as served:
        yield served.url


def test_fsspec_http_store_reads_natively(served: str) -> None:
    pytest.importorskip("aiohttp")
    from zarr.storage import FsspecStore

    store = FsspecStore.from_url(served, read_only=True)
    location = locate(store)
    assert location.url == served and location.read_only
    with zarrs_cffi.open_array(store, "/a") as arr:
        np.testing.assert_array_equal(arr[...], np.arange(60).reshape(10, 6))
    with pytest.raises(zarrs_cffi.ReadOnlyError):
        zarrs_cffi.open_array(store, "/a").write((0, 0), 1)


def test_the_pipeline_reads_an_fsspec_http_store_natively(
    served: str, monkeypatch: pytest.MonkeyPatch, native_opens: list[str]
) -> None:
    """zarr.open_array on an FsspecStore over HTTP, with the pipeline in strict mode: the native
    library opens the array at the store's URL (no chunk bytes through fsspec)."""
    pytest.importorskip("aiohttp")
    from zarr.storage import FsspecStore

    fetched: list[str] = []
    get = FsspecStore.get

    async def spy_get(self: Any, key: str, *args: Any, **kwargs: Any) -> Any:
        fetched.append(key)
        return await get(self, key, *args, **kwargs)

    monkeypatch.setattr(FsspecStore, "get", spy_get)
    pipeline = {"codec_pipeline.path": "zarrs_cffi.ZarrsCffiCodecPipeline", "codec_pipeline.strict": True}
    with zarr.config.set(pipeline):
        z = zarr.open_array(FsspecStore.from_url(served, read_only=True), path="a", mode="r")
        np.testing.assert_array_equal(z[...], np.arange(60).reshape(10, 6))
        np.testing.assert_array_equal(z[3:9:2, 1], np.arange(60).reshape(10, 6)[3:9:2, 1])
    assert any(root.startswith(f"StoreLocation('{served}") for root in native_opens), native_opens
    assert [key for key in fetched if "/c/" in key] == []  # zarr read only the metadata


def test_fsspec_s3_options_are_translated() -> None:
    # An s3fs filesystem as FsspecStore holds it (s3fs itself is not needed to check the mapping).
    fs = SimpleNamespace(
        protocol=("s3", "s3a"),
        storage_options={
            "key": "AKIA-test",
            "secret": "s3cr3t-value",
            "client_kwargs": {"endpoint_url": "http://127.0.0.1:9000", "region_name": "eu-west-1"},
        },
    )
    FsspecStore = type("FsspecStore", (), {"__module__": "zarr.storage._fsspec"})  # as zarr's
    store = FsspecStore()
    store.fs, store.path, store.read_only = fs, "bucket/data.zarr", False
    location = locate(store)
    assert location.url == "s3://bucket/data.zarr"
    assert location.options_dict() == {
        "access_key_id": "AKIA-test",
        "secret_access_key": "s3cr3t-value",
        "endpoint": "http://127.0.0.1:9000",
        "region": "eu-west-1",
        "allow_http": "true",
    }
    assert "s3cr3t-value" not in repr(location)


def _fsspec_store(protocol: Any, path: str, options: dict[str, Any]) -> Any:
    """A stand-in with the attributes zarr's FsspecStore has (fsspec's filesystems need not be
    installed to check the mapping)."""
    FsspecStore = type("FsspecStore", (), {"__module__": "zarr.storage._fsspec"})  # as zarr's
    store = FsspecStore()
    store.fs = SimpleNamespace(protocol=protocol, storage_options=options)
    store.path, store.read_only = path, False
    return store


@pytest.mark.parametrize(
    "protocol, options, named",
    [
        ("https", {"headers": {"Authorization": "Bearer x"}}, "headers"),
        ("http", {"client_kwargs": {"auth": "x"}, "block_size": 0}, "client_kwargs"),
        (("s3", "s3a"), {"profile": "prod", "anon": False}, "profile"),
        (("s3", "s3a"), {"requester_pays": True}, "requester_pays"),
        (("s3", "s3a"), {"client_kwargs": {"verify": False}}, "client_kwargs['verify']"),
    ],
)
def test_fsspec_options_without_native_equivalent_are_refused(
    protocol: Any, options: dict, named: str
) -> None:
    """An option the native store cannot carry (request headers, a credentials profile...) is
    never dropped silently: the store is unsupported, naming the option."""
    store = _fsspec_store(protocol, "host.example/data.zarr", options)
    with pytest.raises(zarrs_cffi.UnsupportedStoreError, match=re.escape(named)):
        locate(store)


def test_fsspec_options_of_fsspec_itself_are_ignored() -> None:
    """Options that only tune fsspec's own caching, buffering or event loop change nothing natively."""
    store = _fsspec_store(
        ("s3", "s3a"),
        "bucket/data.zarr",
        {"asynchronous": True, "default_block_size": 1 << 20, "username": "AK", "password": "pw-secret"},
    )
    assert locate(store).options_dict() == {"access_key_id": "AK", "secret_access_key": "pw-secret"}
    http = _fsspec_store("https", "https://host.example/data.zarr", {"asynchronous": True, "block_size": 0})
    assert locate(http).url == "https://host.example/data.zarr"


def test_fsspec_http_store_with_headers_is_not_read_without_them(served: str) -> None:
    """zarr-python's FsspecStore with request headers: reading it natively would drop them."""
    pytest.importorskip("aiohttp")
    from zarr.storage import FsspecStore

    store = FsspecStore.from_url(served, storage_options={"headers": {"X-Token": "t"}}, read_only=True)
    with pytest.raises(zarrs_cffi.UnsupportedStoreError, match="headers"):
        zarrs_cffi.open_array(store, "/a")
