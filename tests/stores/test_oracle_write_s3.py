"""The oracle write battery, every test of tests/test_oracle_write.py, with zarrs_cffi writing into
buckets on moto's S3 server by ``s3://`` URL and zarr-python (through obstore) reading back
(fixtures in s3_batteries.py)."""

import numpy as np
import pytest

pytest.importorskip("moto")
pytest.importorskip("obstore")
from s3_batteries import s3_env, tmp_path, tmp_path_factory  # noqa: F401  (fixtures)
from s3_paths import S3Path
from store_fixtures import s3_client
from test_oracle_write import *  # noqa: F403  (the battery, collected again here)

import zarrs_cffi


def test_the_battery_writes_into_a_bucket(tmp_path: S3Path, moto_endpoint: str) -> None:  # noqa: F811 (fixture)
    """``tmp_path`` here is a bucket: what zarrs_cffi writes there are objects on moto."""
    assert isinstance(tmp_path, S3Path)
    with zarrs_cffi.create_array(tmp_path / "w.zarr", shape=(6,), chunks=(4,), dtype="int16") as arr:
        arr[...] = np.arange(6, dtype="int16")
    listing = s3_client(moto_endpoint).list_objects_v2(Bucket=tmp_path.bucket)
    assert {item["Key"] for item in listing["Contents"]} == {"w.zarr/zarr.json", "w.zarr/c/0", "w.zarr/c/1"}
