"""Store options and URL forms of GCS, Azure and HTTP that a probe found mishandled: credentials
dropped without a word (a URL's user information, obstore's credential_provider), gcs:// URLs the
native engine refused, abfs:// URLs the zarr engine misread, option values object_store panicked
on, untyped option errors of the zarr engine."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from azure_fake import AzureFake, azure_options
from gcs_fake import GcsFake, gcs_options
from store_fixtures import new_azure_container, new_gcs_bucket

import zarrs_cffi
import zarrs_cffi.crud as crud

zarr = pytest.importorskip("zarr")
obstore = pytest.importorskip("obstore")


@pytest.mark.parametrize(
    "url", ["https://alice:Pa55wordSecret@127.0.0.1:9/s.zarr", "http://token@127.0.0.1:9/s"]
)
def test_http_user_information_is_refused_not_dropped(url: str) -> None:
    """object_store's HTTP client sends no basic authentication: the request went out without it
    (401), and zarr-python's FsspecStore read fine until the codec pipeline took it over."""
    for call in (lambda: zarrs_cffi.Store(url), lambda: zarrs_cffi.read(url)):
        with pytest.raises(zarrs_cffi.InvalidArgumentError, match="no basic authentication") as info:
            call()
        assert "Pa55wordSecret" not in str(info.value)
    from zarr.storage import FsspecStore

    pytest.importorskip("aiohttp")
    with pytest.raises(zarrs_cffi.UnsupportedStoreError, match="basic authentication"):
        zarrs_cffi.Store(FsspecStore.from_url(url, read_only=True))


def test_an_obstore_credential_provider_is_unsupported_not_dropped(azure_server: AzureFake) -> None:
    """The provider was dropped and the native store asked the cloud's metadata server; now the
    store is unsupported (the codec pipeline then lets zarr-python's store fetch the chunks)."""
    from obstore.store import AzureStore
    from zarr.storage import ObjectStore

    options = azure_options(azure_server)
    provider_store = AzureStore(
        new_azure_container(azure_server),
        config={
            "azure_storage_endpoint": options["azure_storage_endpoint"],
            "azure_storage_account_name": options["azure_storage_account_name"],
        },
        client_options={"allow_http": True},
        credential_provider=lambda: {"access_key": options["azure_storage_account_key"]},  # type: ignore[arg-type,return-value]
    )
    with pytest.raises(zarrs_cffi.UnsupportedStoreError, match="credential_provider"):
        zarrs_cffi.Store(ObjectStore(provider_store))
    with pytest.raises(zarrs_cffi.UnsupportedStoreError, match="default_headers"):
        zarrs_cffi.Store(
            ObjectStore(
                obstore.store.HTTPStore.from_url(
                    "http://127.0.0.1:9/x", client_options={"default_headers": {"a": "b"}}
                )
            )
        )


def test_gcs_urls_work_on_the_native_engine(gcs_server: GcsFake) -> None:
    """gcs:// was accepted by every parser, then refused by object_store (it knows gs:// only)."""
    bucket = new_gcs_bucket(gcs_server)
    options = gcs_options(gcs_server)
    zarrs_cffi.create_array(
        f"gcs://{bucket}/a", shape=(4,), chunks=(2,), dtype="i2", storage_options=options
    )[...] = 7
    np.testing.assert_array_equal(zarrs_cffi.read(f"gs://{bucket}/a", storage_options=options), [7] * 4)
    np.testing.assert_array_equal(zarrs_cffi.read(f"gcs://{bucket}/a", storage_options=options), [7] * 4)


def test_the_zarr_engine_reads_abfs_urls_naming_container_and_account(azure_server: AzureFake) -> None:
    """abfs://container@account.dfs.core.windows.net/...: the zarr engine took the whole authority
    for the container (NodeNotFoundError, writes to another container)."""
    container = new_azure_container(azure_server)
    options = azure_options(azure_server)
    account = options["azure_storage_account_name"]
    url = f"abfs://{container}@{account}.dfs.core.windows.net/d.zarr"
    group = {"zarr_format": 3, "node_type": "group"}
    crud.create_new_group(group, url, "", engine="zarr", storage_options=options)
    crud.create_new_group(group, url, "g", engine="zarr", storage_options=options)
    for engine in ("zarr", "cffi"):
        assert [p for p, _ in crud.list_children(url, "", engine=engine, storage_options=options)] == ["g"]
        assert crud.read_metadata(f"az://{container}/d.zarr", "g", engine=engine, storage_options=options)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("max_retries", "x", "must be a non-negative integer"),
        ("retry_timeout", "1e19", "must be a number of seconds"),
        ("timeout", "nan", "must be a number of seconds"),
    ],
)
def test_the_zarr_engines_option_errors_are_typed(option: str, value: Any, message: str) -> None:
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match=message):
        crud.read_metadata("s3://bucket/x", "", engine="zarr", storage_options={option: value})


@pytest.mark.parametrize("option", ["google_base_url", "azure_storage_authority_host"])
def test_malformed_url_options_are_invalid_arguments(option: str) -> None:
    """object_store panicked on them at the first request (InternalPanicError)."""
    url = "gs://bucket/x" if option.startswith("google") else "az://container/x"
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match=option):
        zarrs_cffi.Store(url, **{option: "not a url"})


@pytest.mark.parametrize(
    ("url", "first", "second"),
    [
        ("s3://bucket/x", "aws_endpoint", "endpoint"),
        ("s3://bucket/x", "aws_region", "region"),
        ("gs://bucket/x", "google_service_account", "service_account"),
        ("az://container/x", "account_name", "azure_storage_account_name"),
    ],
)
def test_two_spellings_of_one_option_are_refused(url: str, first: str, second: str) -> None:
    """object_store kept whichever spelling came last in key order, silently."""
    value = "http://127.0.0.1:9" if "endpoint" in first else "/nonexistent"
    with pytest.raises(
        zarrs_cffi.InvalidArgumentError, match=f'"{first}" and "{second}" name the same setting'
    ):
        zarrs_cffi.Store(url, **{first: value, second: value})


@pytest.mark.parametrize("value", [0, "0s", "0 ms", 0.0, "0e0", "-0"])
@pytest.mark.parametrize("option", ["timeout", "connect_timeout"])
def test_a_zero_request_timeout_is_refused_by_both_engines(option: str, value: Any) -> None:
    """Every request would fail (after the retries): a mistake, refused naming the option."""
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match=f"{option}.* must be more than 0"):
        zarrs_cffi.Store("s3://bucket/x", **{option: value})
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match=f"{option}.* must be more than 0"):
        crud.read_metadata("s3://bucket/x", "", engine="zarr", storage_options={option: value})


def test_the_zarr_engine_refuses_two_spellings_of_one_option() -> None:
    options = {"aws_endpoint": "http://127.0.0.1:9", "endpoint": "http://127.0.0.1:9"}
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match="name the same setting"):
        crud.read_metadata("s3://bucket/x", "", engine="zarr", storage_options=options)


@pytest.mark.parametrize("engine", ["cffi", "zarr"])
def test_option_names_differing_in_case_only_are_refused(engine: str) -> None:
    """Names are case-insensitive: one of "Region" and "region" was silently dropped."""
    options = {"Region": "eu-west-1", "region": "us-east-1"}
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match="'Region' and 'region' name the same setting"):
        crud.read_metadata("s3://bucket/x", "", engine=engine, storage_options=options)


@pytest.mark.parametrize("value", [-0.0004, "-0.0004", "-1e-300"])
def test_a_tiny_negative_timeout_is_refused(value: Any) -> None:
    """It rounded to -0 ms, which passed the range check: every request then timed out."""
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match="timeout"):
        zarrs_cffi.Store("s3://bucket/x", timeout=value)
