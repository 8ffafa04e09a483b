"""zarrs_cffi.to_dask / from_dask on a real dask.distributed cluster: 2 worker processes on
loopback, a reduction over a 512^3 array and a to_dask-based write, checked against numpy."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import zarrs_cffi

distributed = pytest.importorskip("distributed")

SHAPE = (512, 512, 512)


def _reference() -> np.ndarray:
    # Integers, so reductions in any order are exact and comparable with ==; int16 (256 MiB), values
    # in [-1533, 4088] (doubles still fit), built by broadcasting to keep the test quick.
    z, y, x = (np.arange(n, dtype=np.int16) for n in SHAPE)
    return z[:, None, None] * 7 - y[None, :, None] * 3 + x[None, None, :]


@pytest.fixture(scope="module")
def cluster_client():
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=40,
    )
    with cluster, distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def big_array(tmp_path_factory) -> tuple[str, np.ndarray]:
    path = str(tmp_path_factory.mktemp("dist") / "big.zarr")
    ref = _reference()
    zarrs_cffi.create_group(path)  # a root group, so xarray can open the store as a dataset
    arr = zarrs_cffi.create_array(
        path,
        "/data",
        shape=SHAPE,
        dtype="i2",
        chunks=(128,) * 3,
        compressors=None,
        dimension_names=["z", "y", "x"],
    )
    arr.write((), ref)
    arr.close()
    return path, ref


def test_reduction_over_512_cubed_on_two_worker_processes(cluster_client, big_array):
    path, ref = big_array
    x = zarrs_cffi.to_dask(path, "/data")
    assert x.chunks == ((128,) * 4,) * 3
    # The graph carries locations only: it pickles, with no native handle inside.
    pickle.dumps(x.__dask_graph__())
    total, low, high = cluster_client.compute([x.sum(dtype="i8"), x.min(), x.max()], sync=True)
    assert total == ref.sum(dtype="i8")
    assert (low, high) == (ref.min(), ref.max())
    per_plane = cluster_client.compute(x.mean(axis=(1, 2)), sync=True)
    np.testing.assert_allclose(per_plane, ref.mean(axis=(1, 2)), rtol=1e-12)
    # The workers (other processes) reopened the array by location and read through their own handle.
    opened = cluster_client.run(_arrays_opened_here)
    assert len(opened) == 2 and any(path in keys for keys in opened.values())


def _arrays_opened_here() -> list[str]:
    from zarrs_cffi import dask as zdask

    return [root.url for root, _node, _doc in zdask._OPEN]


def test_to_dask_based_write_on_two_worker_processes(cluster_client, big_array, tmp_path):
    path, ref = big_array
    x = zarrs_cffi.to_dask(path, "/data", chunks=(256, 128, 512))  # multiples of the stored chunks
    out = str(tmp_path / "out.zarr")
    written = zarrs_cffi.from_dask(x * 2 + 1, out, "/doubled", chunks=(128, 128, 128), compute=False)
    cluster_client.compute(written, sync=True)
    result = zarrs_cffi.open_array(out, "/doubled").read()
    assert np.array_equal(result, ref * 2 + 1)
    # store() into part of an existing array, from the workers again.
    target = zarrs_cffi.open_array(out, "/doubled")
    lazy = zarrs_cffi.store(
        -x[:128], target, region=(slice(256, 384), slice(None), slice(None)), compute=False
    )
    cluster_client.compute(lazy, sync=True)
    assert np.array_equal(target.read((slice(256, 384),)), -ref[:128])
    assert np.array_equal(target.read((slice(0, 256),)), ref[:256] * 2 + 1)
    assert np.array_equal(target.read((slice(384, 512),)), ref[384:] * 2 + 1)


def test_xarray_with_chunks_on_two_worker_processes(cluster_client, big_array):
    """xarray's dask blocks read through the backend's lazily opened arrays on the workers."""
    xr = pytest.importorskip("xarray")
    path, ref = big_array
    ds = xr.open_dataset(path, engine="zarrs_cffi", chunks={})
    assert ds.data.chunks == ((128,) * 4,) * 3
    total = cluster_client.compute(ds.data.sum(dtype="i8"), sync=True)
    assert int(total) == ref.sum(dtype="i8")
    plane = cluster_client.compute(ds.data.isel(z=[5, 300]).max("x"), sync=True)
    np.testing.assert_array_equal(plane.values, ref[[5, 300]].max(axis=2))


def test_a_memory_store_on_worker_processes_is_a_typed_error(cluster_client) -> None:
    """A memory:// store lives in one process: a worker process reopening it by name would find an
    empty store of its own and read fill values. The task fails with UnsupportedStoreError instead;
    the creating process (and a threaded scheduler) still reads it."""
    url = "memory://dask-distributed-test"
    values = np.arange(1, 65, dtype="i4").reshape(8, 8)
    try:
        zarrs_cffi.create_array(url, "/a", shape=(8, 8), dtype="int32", chunks=(4, 4))[...] = values
        x = zarrs_cffi.to_dask(url, "/a")
        np.testing.assert_array_equal(x.compute(scheduler="threads"), values)
        with pytest.raises(zarrs_cffi.UnsupportedStoreError, match="in-memory store of process"):
            cluster_client.compute(x).result()
        location = pickle.loads(pickle.dumps(zarrs_cffi.Store(url).location))  # in this process: fine
        assert zarrs_cffi.Store(location).node_exists("/a")
    finally:
        zarrs_cffi.forget_memory_store(url)
