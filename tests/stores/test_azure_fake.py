"""The Azure Blob fake (azure_fake.py) against the client that uses it: obstore (object_store 0.14.2).

Each test checks behaviour object_store relies on: ranges, errors, listing pages, batch deletes,
conditions, block uploads, and the 403s of a denied or unsigned request; one round-trips an array
through zarrs_cffi.
"""

from __future__ import annotations

import http.client
import urllib.parse
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from azure_fake import AzureFake, azure_options

import zarrs_cffi

obstore = pytest.importorskip("obstore")
from obstore.exceptions import (  # noqa: E402  (after the importorskip)
    AlreadyExistsError,
    NotModifiedError,
    PermissionDeniedError,
    PreconditionError,
)
from obstore.store import AzureStore  # noqa: E402


@pytest.fixture
def fake() -> Iterator[AzureFake]:
    with AzureFake(page_size=2) as server:
        server.create_container("data")
        yield server
        assert not server.unexpected


def store_for(fake: AzureFake, **config: Any) -> Any:
    """An obstore AzureStore on the fake's container ``data``.

    ``allow_http`` goes in client_options: obstore takes it in ``config`` too, but its
    ``AzureStore.config`` getter then panics ("Expected config prefix to start with azure_").
    """
    settings: Any = {key: value for key, value in azure_options(fake).items() if key != "allow_http"}
    settings.update(config)
    return AzureStore("data", config=settings, client_options={"allow_http": True})


def raw_request(
    fake: AzureFake, method: str, path: str, headers: dict[str, str] | None = None
) -> http.client.HTTPResponse:
    """A signed-looking request (the fake checks the SharedKey prefix, not the signature)."""
    parsed = urllib.parse.urlsplit(fake.endpoint)
    connection = http.client.HTTPConnection(parsed.hostname or "", parsed.port, timeout=10)
    sent = {"Authorization": f"SharedKey {fake.account}:c2lnbmF0dXJl", **(headers or {})}
    connection.request(method, parsed.path + path, headers=sent)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def test_range_get_and_head(fake: AzureFake) -> None:
    store = store_for(fake)
    data = bytes(range(100))
    obstore.put(store, "dir/blob", data)
    assert bytes(obstore.get_range(store, "dir/blob", start=10, end=20)) == data[10:20]
    result = obstore.get(store, "dir/blob", options={"range": {"offset": 95}})
    assert bytes(result.bytes()) == data[95:]
    assert result.range == (95, 100)
    # A range past the end is clamped by the server (Content-Range says what was sent).
    assert bytes(obstore.get(store, "dir/blob", options={"range": (90, 200)}).bytes()) == data[90:]
    assert [bytes(b) for b in obstore.get_ranges(store, "dir/blob", starts=[0, 50], ends=[3, 52])] == [
        data[0:3],
        data[50:52],
    ]
    meta = obstore.head(store, "dir/blob")
    assert meta["size"] == 100
    assert meta["e_tag"].startswith('"0x')
    # Ranges object_store does not send: a suffix (its Azure client refuses them) and a start
    # past the end, which Azure answers with 416 and Content-Range "bytes */size".
    suffix = raw_request(fake, "GET", "/data/dir/blob", {"x-ms-range": "bytes=-5"})
    assert (suffix.status, suffix.getheader("Content-Range")) == (206, "bytes 95-99/100")
    past = raw_request(fake, "GET", "/data/dir/blob", {"Range": "bytes=100-"})
    assert (past.status, past.getheader("Content-Range")) == (416, "bytes */100")
    assert past.getheader("x-ms-error-code") == "InvalidRange"


def test_missing_blob_is_404(fake: AzureFake) -> None:
    store = store_for(fake)
    with pytest.raises(FileNotFoundError, match="BlobNotFound"):
        obstore.get(store, "nope")
    with pytest.raises(FileNotFoundError):
        obstore.head(store, "nope")
    response = raw_request(fake, "GET", "/data/nope")
    assert response.status == 404
    assert response.getheader("x-ms-error-code") == "BlobNotFound"
    missing_container = raw_request(fake, "GET", "/other/blob")
    assert (missing_container.status, missing_container.getheader("x-ms-error-code")) == (
        404,
        "ContainerNotFound",
    )


def test_list_with_delimiter_and_pages(fake: AzureFake) -> None:
    store = store_for(fake)
    names = ["a/1", "a/2", "a/b/3", "c", "d/4", "e", "f"]
    for name in names:
        obstore.put(store, name, name.encode())
    listed = obstore.list_with_delimiter(store)
    assert listed["common_prefixes"] == ["a", "d"]
    assert [o["path"] for o in listed["objects"]] == ["c", "e", "f"]
    assert [o["size"] for o in listed["objects"]] == [1, 1, 1]
    below = obstore.list_with_delimiter(store, "a")
    assert (below["common_prefixes"], [o["path"] for o in below["objects"]]) == (["a/b"], ["a/1", "a/2"])
    before = len(fake.requests)
    assert sorted(o["path"] for o in obstore.list(store).collect()) == names
    pages = [path for method, path in fake.requests[before:] if "comp=list" in path]
    assert len(pages) == 4  # 7 blobs, 2 a page
    assert all("marker=" in path for path in pages[1:])
    # startFrom (list with offset) is inclusive on Azure; object_store drops the offset itself.
    assert [o["path"] for o in obstore.list(store, offset="d/4").collect()] == ["e", "f"]


def test_bulk_delete(fake: AzureFake) -> None:
    store = store_for(fake)
    for name in ["x/1", "x/2", "x/3", "y"]:
        obstore.put(store, name, b"data")
    before = len(fake.requests)
    obstore.delete(store, ["x/1", "x/2", "y"])
    assert fake.keys("data") == ["x/3"]
    sent = fake.requests[before:]
    assert [method for method, _ in sent] == ["POST"] + ["BATCH DELETE"] * 3
    assert "comp=batch" in sent[0][1]
    # A missing blob's part answers 404: the others are still deleted.
    with pytest.raises(FileNotFoundError, match="The specified blob does not exist"):
        obstore.delete(store, ["x/3", "missing"])
    assert fake.keys("data") == []


def test_conditions_and_put_modes(fake: AzureFake) -> None:
    store = store_for(fake)
    first = obstore.put(store, "k", b"one", mode="create")
    with pytest.raises(AlreadyExistsError):
        obstore.put(store, "k", b"two", mode="create")
    with pytest.raises(NotModifiedError):
        obstore.get(store, "k", options={"if_none_match": first["e_tag"]})
    with pytest.raises(PreconditionError):
        obstore.get(store, "k", options={"if_match": '"0x1"'})
    second = obstore.put(store, "k", b"two", mode={"e_tag": first["e_tag"]})
    assert second["e_tag"] != first["e_tag"]
    with pytest.raises(PreconditionError):
        obstore.put(store, "k", b"three", mode={"e_tag": first["e_tag"]})
    assert fake.get("data", "k") == b"two"
    obstore.copy(store, "k", "k2")
    with pytest.raises(AlreadyExistsError):
        obstore.copy(store, "k", "k2", overwrite=False)
    assert fake.get("data", "k2") == b"two"


def test_block_upload(fake: AzureFake) -> None:
    store = store_for(fake)
    data = np.random.default_rng(0).integers(0, 256, 12 * 1024 * 1024, dtype=np.uint8).tobytes()
    before = len(fake.requests)
    obstore.put(store, "big", data, use_multipart=True, chunk_size=5 * 1024 * 1024)
    queries = [path.partition("?")[2] for _, path in fake.requests[before:]]
    assert sum(query.startswith("comp=block&") for query in queries) == 3
    assert queries[-1] == "comp=blocklist"
    assert fake.get("data", "big") == data
    assert obstore.head(store, "big")["size"] == len(data)


def test_deny_is_permission_denied(fake: AzureFake) -> None:
    store = store_for(fake)
    obstore.put(store, "k", b"v")
    fake.deny = True
    with pytest.raises(PermissionDeniedError, match="AuthorizationFailure"):
        obstore.get(store, "k")
    with pytest.raises(PermissionDeniedError):
        obstore.put(store, "k", b"w")
    fake.deny = False
    assert fake.get("data", "k") == b"v"


def test_missing_authorization_is_403(fake: AzureFake) -> None:
    obstore.put(store_for(fake), "k", b"v")
    unsigned = store_for(fake, skip_signature=True)
    with pytest.raises(PermissionDeniedError, match="AuthenticationFailed"):
        obstore.get(unsigned, "k")
    fake.allow_anonymous = True
    assert bytes(obstore.get(unsigned, "k").bytes()) == b"v"


def test_unsupported_request_is_recorded(fake: AzureFake) -> None:
    response = raw_request(fake, "GET", "/data/k?comp=tags")
    assert response.status == 400
    assert fake.unexpected == [
        "GET /devstoreaccount1/data/k?comp=tags: unsupported blob operation (query ['comp'])"
    ]
    fake.unexpected.clear()


def test_zarrs_cffi_round_trip(fake: AzureFake) -> None:
    options: dict[str, Any] = dict(azure_options(fake))
    values = np.arange(10000, dtype="uint16").reshape(100, 100)
    array = zarrs_cffi.create_array(
        "az://data/x.zarr/a", shape=(100, 100), chunks=(30, 30), dtype="uint16", storage_options=options
    )
    array[...] = values
    assert np.array_equal(zarrs_cffi.open_array("az://data/x.zarr/a", storage_options=options)[...], values)
    assert len(fake.keys("data")) == 1 + 16  # zarr.json and 4 x 4 chunks
    with zarrs_cffi.Store("az://data/x.zarr", **options) as store:
        store.delete_node("/a")
    assert fake.keys("data") == []


@pytest.mark.parametrize(
    "url",
    [
        "az://data/forms.zarr",
        "azure://data/forms.zarr",
        "adl://data/forms.zarr",
        "abfs://data/forms.zarr",  # fsspec's form: abfs://<container>/<path>
        "abfss://data/forms.zarr",
        "abfs://data@devstoreaccount1.dfs.core.windows.net/forms.zarr",  # Hadoop's form
    ],
)
def test_every_azure_url_form_names_the_container_and_prefix(fake: AzureFake, url: str) -> None:
    options: dict[str, Any] = dict(azure_options(fake))
    values = np.arange(20, dtype="int16").reshape(4, 5)
    zarrs_cffi.create_array(url, shape=(4, 5), chunks=(2, 5), dtype="int16", storage_options=options).close()
    zarrs_cffi.write(url, (slice(None), slice(None)), values, storage_options=options)
    assert fake.keys("data") == ["forms.zarr/c/0/0", "forms.zarr/c/1/0", "forms.zarr/zarr.json"]
    assert np.array_equal(zarrs_cffi.read(url, (slice(None), slice(None)), storage_options=options), values)
