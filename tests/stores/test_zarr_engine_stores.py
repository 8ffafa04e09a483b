"""engine="zarr" on object stores and HTTP: it reaches a store with the options the native engine
is given, through the same URL forms and defaults, and its failures are this package's typed
errors, never obstore's own exceptions."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest
from azure_fake import AzureFake, azure_options
from loopback_server import PlainHandler, serve
from store_fixtures import Place, new_azure_container

import zarrs_cffi
import zarrs_cffi.crud as crud

pytest.importorskip("zarr")


def test_open_array_with_the_zarr_engine_uses_the_storage_options(place: Place) -> None:
    if place.kind == "memory":
        pytest.skip("memory:// stores live in the native library: engine='zarr' cannot reach them")
    values = np.arange(12, dtype="int16").reshape(3, 4)
    opts = place.options
    zarrs_cffi.create_array(
        place.url, "/t", shape=(3, 4), dtype="int16", chunks=(2, 2), storage_options=opts
    )[...] = values
    with zarrs_cffi.open_array(place.url, "/t", engine="zarr", storage_options=opts) as arr:
        np.testing.assert_array_equal(arr[...], values)
        arr[0, :] = -1
    with place.store() as store, zarrs_cffi.open_array(store, "/t", engine="zarr") as arr:
        np.testing.assert_array_equal(arr[0], [-1] * 4)  # a Store carries its options too


def test_every_zarr_engine_call_raises_typed_errors(azure_server: AzureFake) -> None:
    url = f"az://{new_azure_container(azure_server)}/data.zarr"
    opts = dict(azure_options(azure_server), max_retries=0)
    zarrs_cffi.create_array(url, "/t", shape=(4,), dtype="int16", chunks=(2,), storage_options=opts)[...] = 1
    doc = crud.read_metadata(url, "t", storage_options=opts)
    calls = {
        "read_metadata": lambda: crud.read_metadata(url, "t", engine="zarr", storage_options=opts),
        "list_children": lambda: crud.list_children(url, "", engine="zarr", storage_options=opts),
        "read_chunk": lambda: crud.read_chunk(doc, url, "t", (0,), engine="zarr", storage_options=opts),
        "write_chunk": lambda: crud.write_chunk(
            doc, url, "t", (0,), [2, 2], engine="zarr", storage_options=opts
        ),
        "read_region": lambda: crud.read_region(
            doc, url, "t", (slice(0, 3),), engine="zarr", storage_options=opts
        ),
        "write_region": lambda: crud.write_region(
            doc, url, "t", (slice(0, 3),), 2, engine="zarr", storage_options=opts
        ),
    }
    azure_server.deny = True
    try:
        for name, call in calls.items():
            with pytest.raises(zarrs_cffi.AccessDeniedError):
                call()
                pytest.fail(f"{name} raised nothing")
    finally:
        azure_server.deny = False
    # A store zarr-python cannot even build (no account) is a StorageError, not obstore's.
    with pytest.raises(zarrs_cffi.StorageError):
        crud.read_metadata(url, "t", engine="zarr")


def test_a_plain_http_url_needs_no_options_on_either_engine(tmp_path: pathlib.Path) -> None:
    directory = tmp_path / "served.zarr"
    zarrs_cffi.create_array(directory, "/a", shape=(3,), dtype="u1", chunks=(2,))[...] = [4, 5, 6]
    with serve(directory, PlainHandler) as served:
        for engine in ("cffi", "zarr"):
            assert crud.read_metadata(served.url, "a", engine=engine)["shape"] == [3]
            with zarrs_cffi.open_array(served.url, "/a", engine=engine) as arr:
                np.testing.assert_array_equal(arr[...], [4, 5, 6])
