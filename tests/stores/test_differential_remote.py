"""The CRUD differential state machine (tests/crud/test_differential.py) on object stores: the cffi
engine and zarr-python (through obstore) each get a fresh bucket — on moto's S3 server, on the GCS
server (gcs_fake.py) and on the Azure Blob server (azure_fake.py) — receive the same random operations, and after every step must hold the
same objects, metadata and data."""

from __future__ import annotations

import atexit
import os
import pathlib
import sys
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "crud"))
pytest.importorskip("moto")
pytest.importorskip("obstore")
import test_differential
from azure_fake import AzureFake, azure_options
from gcs_fake import GcsFake, gcs_options
from store_fixtures import new_azure_container, new_bucket, new_gcs_bucket, s3_options

from zarrs_cffi.store_location import StoreLocation, locate

_servers: dict[Any, Any] = {}


def _moto_endpoint() -> str:
    """One moto server for this module's machine runs (hypothesis builds machines outside fixtures)."""
    if "moto" not in _servers:
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        atexit.register(server.stop)
        host, port = server.get_host_and_port()
        _servers["moto"] = f"http://{host}:{port}"
    return str(_servers["moto"])


Fake = TypeVar("Fake", GcsFake, AzureFake)


def _fake(kind: type[Fake]) -> Fake:
    """One server of ``kind`` for this module's machine runs, stopped at exit."""
    if kind not in _servers:
        _servers[kind] = kind().start()
        atexit.register(_servers[kind].stop)
    server: Fake = _servers[kind]
    return server


def _s3_root(engine: str) -> StoreLocation:
    endpoint = _moto_endpoint()
    return locate(f"s3://{new_bucket(endpoint)}/{engine}.zarr", s3_options(endpoint))


def _gcs_root(engine: str) -> StoreLocation:
    server = _fake(GcsFake)
    return locate(f"gs://{new_gcs_bucket(server)}/{engine}.zarr", gcs_options(server))


def _azure_root(engine: str) -> StoreLocation:
    server = _fake(AzureFake)
    return locate(f"az://{new_azure_container(server)}/{engine}.zarr", azure_options(server))


class S3DifferentialMachine(test_differential.DifferentialMachine):
    def __init__(self) -> None:
        super().__init__()
        self.roots = {engine: _s3_root(engine) for engine in test_differential.ENGINES}  # type: ignore[assignment]


class GcsDifferentialMachine(test_differential.DifferentialMachine):
    def __init__(self) -> None:
        super().__init__()
        self.roots = {engine: _gcs_root(engine) for engine in test_differential.ENGINES}  # type: ignore[assignment]


class AzureDifferentialMachine(test_differential.DifferentialMachine):
    def __init__(self) -> None:
        super().__init__()
        self.roots = {engine: _azure_root(engine) for engine in test_differential.ENGINES}  # type: ignore[assignment]


_SETTINGS = settings(
    max_examples=int(os.environ.get("ZARRS_CFFI_S3_DIFFERENTIAL_EXAMPLES", "12")),
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
TestS3DifferentialMachine = S3DifferentialMachine.TestCase
TestS3DifferentialMachine.settings = _SETTINGS
TestGcsDifferentialMachine = GcsDifferentialMachine.TestCase
TestGcsDifferentialMachine.settings = _SETTINGS
TestAzureDifferentialMachine = AzureDifferentialMachine.TestCase
TestAzureDifferentialMachine.settings = _SETTINGS
