"""The oracle read battery, every test of tests/test_oracle_read.py, with zarr-python writing its
arrays into buckets on moto's S3 server and zarrs_cffi reading them back by their ``s3://`` URLs
(fixtures in s3_batteries.py)."""

import pathlib

import numpy as np
import pytest

pytest.importorskip("moto")
pytest.importorskip("obstore")
from s3_batteries import s3_env, tmp_path, tmp_path_factory  # noqa: F401  (fixtures)
from s3_paths import S3Path
from store_fixtures import s3_client
from test_oracle_read import *  # noqa: F403  (the battery, collected again here)
from zarr_oracle import zarr_write

import zarrs_cffi


def test_the_battery_reads_from_a_bucket(tmp_path: S3Path, moto_endpoint: str) -> None:  # noqa: F811 (fixture)
    """``tmp_path`` here is a bucket: what zarr-python writes there are objects on moto, and no
    local directory is made."""
    assert isinstance(tmp_path, S3Path)
    zarr_write(tmp_path / "a.zarr", np.arange(6, dtype="int16"), chunks=(4,))
    listing = s3_client(moto_endpoint).list_objects_v2(Bucket=tmp_path.bucket)
    assert {item["Key"] for item in listing["Contents"]} == {"a.zarr/zarr.json", "a.zarr/c/0", "a.zarr/c/1"}
    assert zarrs_cffi.read(tmp_path / "a.zarr").tolist() == list(range(6))
    assert not pathlib.Path("s3:").exists()
