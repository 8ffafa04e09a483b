"""zarrs_cffi.to_dask / from_dask / store on dask's threaded scheduler (the distributed cluster
test is tests/test_dask_distributed.py)."""

from __future__ import annotations

import pickle
import time

import numpy as np
import pytest

import zarrs_cffi

da = pytest.importorskip("dask.array")
import dask  # noqa: E402


@pytest.fixture
def stored(tmp_path) -> tuple[str, np.ndarray]:
    """A 37x50 float64 array in 8x16 chunks (edge chunks on both axes)."""
    path = str(tmp_path / "src.zarr")
    data = np.random.default_rng(3).normal(size=(37, 50))
    zarrs_cffi.create_array(path, "/a", shape=data.shape, dtype="f8", chunks=(8, 16)).write((), data)
    return path, data


def test_blocks_default_to_stored_chunks_each_one_native_read(stored, read_counter):
    path, data = stored
    x = zarrs_cffi.to_dask(path, "/a")
    assert x.chunks == ((8, 8, 8, 8, 5), (16, 16, 16, 2))
    assert x.dtype == data.dtype
    assert read_counter == []  # lazy
    np.testing.assert_array_equal(x.compute(scheduler="threads"), data)
    assert sorted(read_counter) == sorted(
        ((i, j), (min(8, 37 - i), min(16, 50 - j))) for i in range(0, 37, 8) for j in range(0, 50, 16)
    )


def test_sharded_arrays_block_by_shard(tmp_path):
    path = str(tmp_path / "sharded.zarr")
    data = np.arange(40 * 30, dtype="u2").reshape(40, 30)
    arr = zarrs_cffi.create_array(path, shape=data.shape, dtype="u2", chunks=(5, 5), shards=(20, 15))
    arr.write((), data)
    x = zarrs_cffi.to_dask(arr)
    assert x.chunks == ((20, 20), (15, 15))
    np.testing.assert_array_equal(x.compute(), data)


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        ((16, 32), ((16, 16, 5), (32, 18))),
        ((-1, 48), ((37,), (48, 2))),
        ({1: -1}, ((8, 8, 8, 8, 5), (50,))),
        (24, ((24, 13), (24, 24, 2))),  # not multiples: still correct, chunks decoded twice
    ],
)
def test_chunks_may_ask_for_other_block_shapes(stored, chunks, expected):
    path, data = stored
    x = zarrs_cffi.to_dask(path, "/a", chunks=chunks)
    assert x.chunks == expected
    np.testing.assert_array_equal(x.compute(), data)
    assert float(x.sum().compute()) == pytest.approx(data.sum())


def test_slices_and_reductions_match_numpy(stored):
    path, data = stored
    x = zarrs_cffi.to_dask(zarrs_cffi.open_array(path, "/a"))
    np.testing.assert_array_equal(x[3:30:4, ::-7].compute(), data[3:30:4, ::-7])
    np.testing.assert_allclose(x.mean(axis=0).compute(), data.mean(axis=0))
    assert x.name == zarrs_cffi.to_dask(path, "/a").name  # deterministic: same array, same graph keys


def test_graph_pickles_without_handles(stored):
    path, data = stored
    x = zarrs_cffi.to_dask(path, "/a")
    restored = pickle.loads(pickle.dumps(x))
    np.testing.assert_array_equal(restored.compute(scheduler="sync"), data)
    assert b"cdata" not in pickle.dumps(dict(x.__dask_graph__()))


def test_from_dask_writes_chunk_aligned_in_parallel(tmp_path, stored):
    path, data = stored
    x = zarrs_cffi.to_dask(path, "/a") * 2 - 1
    out = str(tmp_path / "out.zarr")
    arr = zarrs_cffi.from_dask(x, out, "/b", dimension_names=["y", "x"], attributes={"k": 1})
    assert arr.chunk_shape() == (8, 16)
    assert arr.metadata["dimension_names"] == ["y", "x"] and arr.attrs == {"k": 1}
    np.testing.assert_array_equal(zarrs_cffi.open_array(out, "/b").read(), data * 2 - 1)
    sharded = zarrs_cffi.from_dask(x.rechunk((16, 32)), out, "/s", chunks=(8, 16), shards=(16, 32))
    np.testing.assert_array_equal(sharded.read(), data * 2 - 1)


def test_from_dask_compute_false_writes_only_when_computed(tmp_path):
    x = da.full((10, 10), 7, dtype="i4", chunks=5)
    out = str(tmp_path / "lazy.zarr")
    pending = zarrs_cffi.from_dask(x, out, fill_value=-1, compute=False)
    assert (zarrs_cffi.open_array(out).read() == -1).all()
    dask.compute(pending)
    assert (zarrs_cffi.open_array(out).read() == 7).all()


def test_from_dask_refuses_irregular_blocks(tmp_path):
    x = da.zeros((10,), chunks=((3, 4, 3),))
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match="irregular"):
        zarrs_cffi.from_dask(x, str(tmp_path / "irr.zarr"))


def test_store_refuses_blocks_that_would_race_on_a_chunk(tmp_path, stored):
    _, data = stored
    target = zarrs_cffi.create_array(str(tmp_path / "t.zarr"), shape=(37, 50), dtype="f8", chunks=(8, 16))
    misaligned = da.from_array(data, chunks=(12, 16))
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match=r"axis 0.*race"):
        zarrs_cffi.store(misaligned, target)
    assert (target.read() == 0).all()  # nothing written
    # Region writes: boundaries between blocks must be chunk boundaries of the target.
    zarrs_cffi.store(
        da.from_array(data[:16, :32], chunks=(8, 16)), target, region=(slice(8, 24), slice(16, 48))
    )
    np.testing.assert_array_equal(target.read((slice(8, 24), slice(16, 48))), data[:16, :32])
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match="axis 1"):
        zarrs_cffi.store(
            da.from_array(data[:8, :32], chunks=(8, 16)), target, region=(slice(0, 8), slice(4, 36))
        )
    # One block inside one chunk touches no other block's chunk: allowed.
    zarrs_cffi.store(da.ones((3, 5), chunks=(3, 5)), target, region=(slice(1, 4), slice(2, 7)))
    assert (target.read((slice(1, 4), slice(2, 7))) == 1).all()


def test_store_argument_errors(tmp_path, stored):
    path, data = stored
    x = da.from_array(data, chunks=(8, 16))
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match="cannot fill region"):
        zarrs_cffi.store(x, path, "/a", region=(slice(0, 10), slice(0, 50)))
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match="step-1"):
        zarrs_cffi.store(x, path, "/a", region=(slice(0, 37), slice(0, 50, 2)))
    with pytest.raises(zarrs_cffi.ReadOnlyError):
        zarrs_cffi.store(x, zarrs_cffi.open_array(path, "/a", read_only=True))
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match="cannot store"):
        zarrs_cffi.store(da.from_array(data.astype("c16"), chunks=(8, 16)), path, "/a")


def test_to_dask_errors(tmp_path, stored):
    path, _ = stored
    with pytest.raises(zarrs_cffi.UnsupportedStoreError, match="unsupported store URL scheme 'ftp'"):
        zarrs_cffi.to_dask("ftp://host/a.zarr")
    with pytest.raises(zarrs_cffi.UnsupportedStoreError, match="dict"):
        zarrs_cffi.to_dask({})
    with pytest.raises(zarrs_cffi.NodeNotFoundError):
        zarrs_cffi.to_dask(path, "/missing")
    engine_array = zarrs_cffi.open_array(path, "/a", engine="zarr")
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match="native engine"):
        zarrs_cffi.to_dask(engine_array)


def test_zarr_v2_arrays_read_and_write(tmp_path):
    zarr = pytest.importorskip("zarr")
    path = str(tmp_path / "v2.zarr")
    data = np.arange(70, dtype=">i4").reshape(10, 7)
    z = zarr.create_array(path, shape=data.shape, chunks=(4, 3), dtype=">i4", zarr_format=2, fill_value=None)
    z[:] = data
    x = zarrs_cffi.to_dask(path)
    assert x.chunks == ((4, 4, 2), (3, 3, 1)) and x.dtype == np.dtype("int32")
    assert int(x.sum().compute()) == int(data.sum())
    zarrs_cffi.store(x * 2, path)
    np.testing.assert_array_equal(zarr.open_array(path)[:], data * 2)


def test_arrays_opened_for_tasks_are_bounded_and_cleared(tmp_path):
    """A process reading many arrays in turn keeps at most 64 open for dask tasks (it kept every
    one, with a memory:// store's data, for the life of the process); clear_cache drops them."""
    from zarrs_cffi import dask as dask_io

    zarrs_cffi.clear_cache()
    for i in range(dask_io._OPEN_MAX + 6):
        path = tmp_path / f"a{i}.zarr"
        zarrs_cffi.create_array(path, shape=(4,), dtype="u1", chunks=(2,))[...] = i
        assert int(zarrs_cffi.to_dask(path).sum().compute()) == 4 * i
    assert len(dask_io._OPEN) == dask_io._OPEN_MAX
    zarrs_cffi.clear_cache()
    assert dask_io._OPEN == {}


def test_from_dask_refuses_misaligned_blocks_before_creating(tmp_path):
    """Nothing created (a retry then works), and with overwrite=True the old array is kept."""
    x = da.arange(20, chunks=5)
    with pytest.raises(zarrs_cffi.InvalidArgumentError):
        zarrs_cffi.from_dask(x, tmp_path / "a.zarr", "/a", chunks=(10,))
    assert not (tmp_path / "a.zarr").exists()
    arr = zarrs_cffi.from_dask(x.rechunk(10), tmp_path / "a.zarr", "/a", chunks=(10,))
    np.testing.assert_array_equal(arr[...], np.arange(20))
    with pytest.raises(zarrs_cffi.InvalidArgumentError):
        zarrs_cffi.from_dask(x * 0, tmp_path / "a.zarr", "/a", chunks=(10,), overwrite=True)
    np.testing.assert_array_equal(zarrs_cffi.read(tmp_path / "a.zarr" / "a"), np.arange(20))


def test_to_dask_chunks_by_axis_take_negative_axes_and_refuse_others(tmp_path):
    path = tmp_path / "a.zarr"
    zarrs_cffi.create_array(path, shape=(10, 6), dtype="u1", chunks=(5, 3)).close()
    assert zarrs_cffi.to_dask(path, chunks={-1: 2}).chunks == ((5, 5), (2, 2, 2))
    for bad in ({2: 2}, {-3: 2}, {"x": 2}):
        with pytest.raises(zarrs_cffi.InvalidArgumentError, match="names axes"):
            zarrs_cffi.to_dask(path, chunks=bad)


def test_numpy_int_chunks_are_checked_before_anything_is_written(tmp_path):
    """chunks=/shards= of numpy ints skipped the alignment check: with overwrite=True the old
    array was erased, then the write refused."""
    x = da.arange(20, chunks=5)
    arr = zarrs_cffi.from_dask(x.rechunk(10), tmp_path / "a.zarr", "/a", chunks=(10,))
    for options in (
        {"chunks": (np.int64(10),)},
        {"chunks": (np.int64(5),), "shards": (np.int64(10),)},
        {"chunks": 10},  # one int for every axis: the check was skipped
        {"chunks": 5, "shards": np.int64(10)},
    ):
        with pytest.raises(zarrs_cffi.InvalidArgumentError, match=r"chunk"):
            zarrs_cffi.from_dask(x * 0, tmp_path / "a.zarr", "/a", overwrite=True, **options)
        np.testing.assert_array_equal(zarrs_cffi.read(tmp_path / "a.zarr" / "a"), np.arange(20))
    arr.close()


def test_store_clears_the_targets_chunk_cache(tmp_path):
    """The blocks go through handles of their own: the target Array's cache kept the old chunk."""
    arr = zarrs_cffi.create_array(tmp_path / "c.zarr", shape=(8, 8), chunks=(4, 4), dtype="i4")
    arr.enable_chunk_cache(1 << 20)
    arr[...] = 0
    assert int(arr[0:4, 0:4].sum()) == 0  # one chunk cached
    zarrs_cffi.store(da.ones((8, 8), dtype="i4", chunks=(4, 4)), arr)
    assert int(arr[...].sum()) == 64


def test_a_failed_store_clears_the_targets_chunk_cache_too(tmp_path):
    """A block failed, others were stored: the target's cache must not keep their old values."""
    arr = zarrs_cffi.create_array(tmp_path / "c.zarr", shape=(8, 8), chunks=(4, 4), dtype="i4")
    arr[...] = 0
    arr.enable_chunk_cache(1 << 20)
    assert int(arr[...].sum()) == 0  # every chunk cached

    def fail_on_the_last_block(block, block_info=None):
        if block_info[0]["chunk-location"] == (1, 1):
            time.sleep(0.5)  # the other blocks are stored meanwhile
            raise RuntimeError("this block cannot be computed")
        return block

    x = da.ones((8, 8), dtype="i4", chunks=(4, 4)).map_blocks(fail_on_the_last_block, dtype="i4")
    with dask.config.set(scheduler="threads", num_workers=4), pytest.raises(RuntimeError, match="cannot be"):
        zarrs_cffi.store(x, arr, compute=True)
    stored = zarrs_cffi.read(tmp_path / "c.zarr")
    assert stored.sum() > 0  # some blocks were stored before the failure
    np.testing.assert_array_equal(arr[...], stored)  # not the cached zeros


def test_a_closed_array_is_refused(tmp_path):
    arr = zarrs_cffi.create_array(tmp_path / "d.zarr", shape=(4,), chunks=(2,), dtype="i4")
    arr.close()
    with pytest.raises(zarrs_cffi.ClosedError):
        zarrs_cffi.store(da.ones(4, dtype="i4", chunks=2), arr)
    with pytest.raises(zarrs_cffi.ClosedError):
        zarrs_cffi.to_dask(arr)
