"""The CRUD differential state machine (tests/crud/test_differential.py) on S3: the cffi engine and
zarr-python (through obstore) each get a fresh bucket on moto, receive the same random operations,
and after every step must hold the same objects, metadata and data."""

from __future__ import annotations

import atexit
import os
import pathlib
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "crud"))
pytest.importorskip("moto")
pytest.importorskip("obstore")
import test_differential
from store_fixtures import new_bucket, s3_options

from zarrs_cffi.store_location import locate

_server: dict[str, Any] = {}


def _endpoint() -> str:
    """One moto server for this module's machine runs (hypothesis builds machines outside fixtures)."""
    if "endpoint" not in _server:
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        atexit.register(server.stop)
        host, port = server.get_host_and_port()
        _server["endpoint"] = f"http://{host}:{port}"
    return str(_server["endpoint"])


class S3DifferentialMachine(test_differential.DifferentialMachine):
    def __init__(self) -> None:
        super().__init__()
        endpoint = _endpoint()
        self.roots = {  # type: ignore[assignment]
            engine: locate(f"s3://{new_bucket(endpoint)}/{engine}.zarr", s3_options(endpoint))
            for engine in test_differential.ENGINES
        }


TestS3DifferentialMachine = S3DifferentialMachine.TestCase
TestS3DifferentialMachine.settings = settings(
    max_examples=int(os.environ.get("ZARRS_CFFI_S3_DIFFERENTIAL_EXAMPLES", "12")),
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
