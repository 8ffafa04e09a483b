"""Object stores configured by the usual environment variables (AWS_*, GOOGLE_*, AZURE_*), with no
storage options: a fresh interpreter per case, so that nothing of this process's environment leaks in
or out. Explicit storage options win over the environment."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest
from azure_fake import AzureFake, azure_options
from gcs_fake import GcsFake, gcs_options
from store_fixtures import CREDENTIALS, new_azure_container, new_bucket, new_gcs_bucket, s3_options

# Creates an array at URL with no storage options (or OPTIONS when given), writes it, reads it back
# by a one-shot call and through a Store, and prints what it saw.
ROUND_TRIP = """
import json, sys
import numpy as np
import zarrs_cffi

url, options = sys.argv[1], json.loads(sys.argv[2])
data = np.arange(120, dtype="int32").reshape(10, 12)
zarrs_cffi.create_array(url, shape=data.shape, chunks=(5, 5), dtype="int32", storage_options=options).close()
zarrs_cffi.write(url, (slice(None), slice(None)), data, storage_options=options)
one_shot = zarrs_cffi.read(url, (slice(None), slice(None)), storage_options=options)
with zarrs_cffi.Store(url, **options) as store:
    through_store = zarrs_cffi.open_array(store).read((slice(2, 7), slice(None)))
print(json.dumps({"one_shot": np.array_equal(one_shot, data),
                  "store": np.array_equal(through_store, data[2:7])}))
"""


def _run(url: str, environment: dict[str, str], options: dict[str, str] | None = None) -> dict[str, bool]:
    # Only the variables given: none of this process's AWS_*, GOOGLE_* or AZURE_* settings.
    prefixes = ("AWS_", "GOOGLE_", "AZURE_", "AZURITE_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(environment)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(ROUND_TRIP), url, json.dumps(options or {})],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _aws_environment(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ALLOW_HTTP": "true",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": CREDENTIALS["access_key_id"],
        "AWS_SECRET_ACCESS_KEY": CREDENTIALS["secret_access_key"],
        "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false",
    }


def test_s3_from_aws_environment_variables(moto_endpoint: str) -> None:
    url = f"s3://{new_bucket(moto_endpoint)}/env.zarr"
    assert _run(url, _aws_environment(moto_endpoint)) == {"one_shot": True, "store": True}


def test_storage_options_win_over_the_environment(moto_endpoint: str) -> None:
    # The environment names an endpoint where nothing listens; the options name moto.
    url = f"s3://{new_bucket(moto_endpoint)}/env.zarr"
    environment = _aws_environment(f"http://127.0.0.1:{_unused_port()}")
    assert _run(url, environment, s3_options(moto_endpoint)) == {"one_shot": True, "store": True}


def test_an_environment_naming_a_dead_endpoint_gives_a_typed_error(moto_endpoint: str) -> None:
    # The control for the two tests above: the environment is what the library follows.
    url = f"s3://{new_bucket(moto_endpoint)}/env.zarr"
    environment = _aws_environment(f"http://127.0.0.1:{_unused_port()}")
    with pytest.raises(AssertionError, match="StorageError"):
        _run(url, environment)


def test_gcs_from_google_environment_variables(gcs_server: GcsFake) -> None:
    url = f"gs://{new_gcs_bucket(gcs_server)}/env.zarr"
    options = gcs_options(gcs_server)
    environment = {
        "GOOGLE_SERVICE_ACCOUNT_KEY": options["google_service_account_key"],
        "GOOGLE_ALLOW_HTTP": "true",
    }
    assert _run(url, environment) == {"one_shot": True, "store": True}


def test_azure_from_azure_environment_variables(azure_server: AzureFake) -> None:
    url = f"az://{new_azure_container(azure_server)}/env.zarr"
    environment = {key.upper(): value for key, value in azure_options(azure_server).items()}
    environment["AZURE_ALLOW_HTTP"] = environment.pop("ALLOW_HTTP")
    assert _run(url, environment) == {"one_shot": True, "store": True}
