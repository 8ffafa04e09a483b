"""xarray (engine="zarrs_cffi") and dask on S3 (moto): datasets written by xarray through zarr-python
read back identically by URL with storage_options, and dask arrays read and written by URL; worker
processes of dask.distributed reopen the array by its location, options included."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from store_fixtures import Place

xr = pytest.importorskip("xarray")
da = pytest.importorskip("dask.array")
pytest.importorskip("zarr")

import zarrs_cffi  # noqa: E402


@pytest.fixture
def s3_place(moto_endpoint: str) -> Place:
    from store_fixtures import new_bucket, s3_options

    return Place("s3", f"s3://{new_bucket(moto_endpoint)}/ds.zarr", s3_options(moto_endpoint), moto_endpoint)


def test_xarray_reads_a_dataset_on_s3(s3_place: Place) -> None:
    data = np.arange(6 * 8, dtype="float32").reshape(6, 8)
    expected = xr.Dataset(
        {"t": (("y", "x"), data), "flag": ("x", np.arange(8, dtype="int16"))},
        coords={"x": np.arange(8) * 10},
        attrs={"title": "on s3"},
    )
    expected.to_zarr(s3_place.zarr_store(), mode="w", consolidated=True)
    got = xr.open_dataset(s3_place.url, engine="zarrs_cffi", storage_options=s3_place.options)
    xr.testing.assert_identical(got.load(), xr.open_dataset(s3_place.zarr_store(), engine="zarr").load())
    assert got.attrs["title"] == "on s3"


def test_dask_reads_and_writes_by_url(s3_place: Place) -> None:
    values = np.arange(32 * 16, dtype="int32").reshape(32, 16)
    zarrs_cffi.create_array(
        s3_place.url,
        "/a",
        shape=values.shape,
        dtype=values.dtype,
        chunks=(8, 8),
        storage_options=s3_place.options,
    )[...] = values
    x = zarrs_cffi.to_dask(s3_place.url, "/a", storage_options=s3_place.options)
    assert x.numblocks == (4, 2)
    assert int(x.sum().compute(scheduler="threads")) == int(values.sum())
    out = zarrs_cffi.from_dask(x * 2, s3_place.url, "/b", storage_options=s3_place.options)
    np.testing.assert_array_equal(out[...], values * 2)
    np.testing.assert_array_equal(
        zarrs_cffi.read(s3_place.url + "/b", storage_options=s3_place.options), values * 2
    )


def test_dask_distributed_workers_reopen_s3_arrays(s3_place: Place) -> None:
    distributed = pytest.importorskip("distributed")
    values = np.arange(64 * 64, dtype="uint16").reshape(64, 64)
    zarrs_cffi.create_array(
        s3_place.url,
        "/a",
        shape=values.shape,
        dtype=values.dtype,
        chunks=(16, 16),
        storage_options=s3_place.options,
    )[...] = values
    x = zarrs_cffi.to_dask(s3_place.url, "/a", storage_options=s3_place.options)
    kwargs: dict[str, Any] = {
        "n_workers": 2,
        "threads_per_worker": 1,
        "processes": True,
        "dashboard_address": None,
    }
    with distributed.LocalCluster(**kwargs) as cluster, distributed.Client(cluster) as client:
        total = client.compute(x.sum(dtype="i8"), sync=True)
    assert total == values.sum(dtype="i8")
