"""Real servers on loopback for the store tests, started and stopped by the tests themselves.

* ``moto_endpoint`` (session): moto's S3 server (``ThreadedMotoServer`` on 127.0.0.1, port 0);
  ``s3`` gives each test a fresh bucket as ``(url, storage_options)``.
* ``gcs_server`` (session): a GCS XML API server on loopback (gcs_fake.py: GCS's emulators cannot
  be installed here); ``gcs_options`` gives the storage_options that reach it.
* ``azure_server`` (session): an Azure Blob server on loopback (azure_fake.py: Azurite cannot be
  installed here); ``azure_options`` gives the storage_options that reach it.
* ``place``: each writable store kind in turn (local directory, ``memory://``, S3 on moto, GCS,
  Azure), as
  a :class:`Place` that also hands out a zarr-python store over the same data (the oracle).
"""

from __future__ import annotations

import itertools
import os
import pathlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from azure_fake import AzureFake, azure_options
from gcs_fake import GcsFake, gcs_options

import zarrs_cffi

# Dummy credentials for moto; object_store and boto3 read them from the environment too.
CREDENTIALS = {"access_key_id": "testing-key", "secret_access_key": "testing-secret-value"}
_buckets = itertools.count()
_memories = itertools.count()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """The endpoint URL of a moto S3 server on loopback, for the whole session."""
    server_module = pytest.importorskip("moto.server")
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def gcs_server() -> Iterator[GcsFake]:
    """A GCS XML API server on loopback, for the whole session."""
    with GcsFake() as server:
        yield server


def new_gcs_bucket(server: GcsFake) -> str:
    name = f"bucket-{os.getpid()}-{next(_buckets)}"
    server.create_bucket(name)
    return name


@pytest.fixture(scope="session")
def azure_server() -> Iterator[AzureFake]:
    """An Azure Blob server on loopback, for the whole session."""
    with AzureFake() as server:
        yield server


def new_azure_container(server: AzureFake) -> str:
    name = f"container-{os.getpid()}-{next(_buckets)}"
    server.create_container(name)
    return name


def s3_options(endpoint: str, **extra: Any) -> dict[str, Any]:
    """storage_options for the moto server: endpoint, region, dummy keys, plain HTTP, path style."""
    return {
        "endpoint": endpoint,
        "region": "us-east-1",
        "allow_http": True,
        "virtual_hosted_style_request": False,
        **CREDENTIALS,
        **extra,
    }


def s3_client(endpoint: str) -> Any:
    """A boto3 client of the moto server at ``endpoint``, with the dummy credentials."""
    boto3 = pytest.importorskip("boto3")
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=CREDENTIALS["access_key_id"],
        aws_secret_access_key=CREDENTIALS["secret_access_key"],
    )


def new_bucket(endpoint: str) -> str:
    """Create a fresh bucket on the moto server and return its name."""
    name = f"bucket-{os.getpid()}-{next(_buckets)}"
    s3_client(endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3(moto_endpoint: str) -> tuple[str, dict[str, Any]]:
    """A fresh, empty S3 bucket on moto: ``(url of a prefix in it, storage_options)``."""
    return f"s3://{new_bucket(moto_endpoint)}/data.zarr", s3_options(moto_endpoint)


@dataclass
class Place:
    """One store under test: where it is, how to open it, and zarr-python's view of it."""

    kind: str
    url: str
    options: dict[str, Any] = field(default_factory=dict)
    endpoint: str | None = None

    def store(self) -> zarrs_cffi.Store:
        """A new native handle on the store."""
        return zarrs_cffi.Store(self.url, **self.options)

    def zarr_store(self) -> Any:
        """zarr-python's store over the same data (None where zarr-python cannot reach it)."""
        if self.kind == "local":
            from zarr.storage import LocalStore

            return LocalStore(self.url)
        if self.kind == "s3":
            from obstore.store import S3Store
            from zarr.storage import ObjectStore

            bucket, _, prefix = self.url[len("s3://") :].partition("/")
            return ObjectStore(
                S3Store(
                    bucket,
                    prefix=prefix,
                    endpoint=self.endpoint,
                    region="us-east-1",
                    client_options={"allow_http": True},
                    virtual_hosted_style_request=False,
                    **CREDENTIALS,
                )
            )
        if self.kind in ("gcs", "azure"):
            from obstore.store import AzureStore, GCSStore
            from zarr.storage import ObjectStore

            container, _, prefix = self.url.split("://", 1)[1].partition("/")
            # allow_http is a client option to obstore (in an AzureStore's config it breaks the
            # store's config read-back).
            config = {k: v for k, v in self.options.items() if k != "allow_http"}
            kind = GCSStore if self.kind == "gcs" else AzureStore
            return ObjectStore(
                kind(container, prefix=prefix, config=config, client_options={"allow_http": True})
            )
        return None


def make_place(kind: str, tmp_path: pathlib.Path, request: pytest.FixtureRequest) -> Place:
    if kind == "local":
        return Place("local", str(tmp_path / "data.zarr"))
    if kind == "memory":
        name = f"memory://test-{os.getpid()}-{next(_memories)}"
        request.addfinalizer(lambda: zarrs_cffi.forget_memory_store(name))
        return Place("memory", f"{name}/data.zarr")
    if kind == "gcs":
        server: GcsFake = request.getfixturevalue("gcs_server")
        return Place("gcs", f"gs://{new_gcs_bucket(server)}/data.zarr", gcs_options(server), server.endpoint)
    if kind == "azure":
        azure: AzureFake = request.getfixturevalue("azure_server")
        return Place(
            "azure", f"az://{new_azure_container(azure)}/data.zarr", azure_options(azure), azure.endpoint
        )
    endpoint = request.getfixturevalue("moto_endpoint")
    return Place("s3", f"s3://{new_bucket(endpoint)}/data.zarr", s3_options(endpoint), endpoint)


@pytest.fixture(params=["local", "memory", "s3", "gcs", "azure"])
def place(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Place:
    """Each writable store kind in turn."""
    return make_place(request.param, tmp_path, request)


@pytest.fixture(params=["memory", "s3", "gcs", "azure"])
def remote(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Place:
    """Each non-local writable store kind in turn."""
    return make_place(request.param, tmp_path, request)


@pytest.fixture
def native_opens(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The roots the pipeline opens native arrays on (it falls back to zarr's pipeline otherwise)."""
    from zarrs_cffi import zarr_pipeline

    opened: list[Any] = []
    real = zarr_pipeline._open_native

    def spy(root: Any, *args: Any) -> Any:
        opened.append(repr(root))
        return real(root, *args)

    monkeypatch.setattr(zarr_pipeline, "_open_native", spy)
    return opened
