"""The xarray backend's own behaviour: registration, laziness, outer indexing, pickling by
location, thread safety, and typed errors for what it cannot open."""

from __future__ import annotations

import importlib.metadata
import pathlib
import pickle
import sys
import threading
import warnings

import numpy as np
import pytest

import zarrs_cffi
from zarrs_cffi import xarray_arrays

xr = pytest.importorskip("xarray")
from xarray.core import indexing  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning")


@pytest.fixture
def cube_path(tmp_path) -> tuple[str, np.ndarray]:
    """A v3 dataset: a 3-d float field in 4x5x6 chunks, with coordinates."""
    data = np.arange(10 * 12 * 14, dtype="f8").reshape(10, 12, 14) / 7
    ds = xr.Dataset(
        {"field": (("t", "y", "x"), data, {"units": "m"})},
        coords={"t": np.arange(10), "y": np.arange(12) * 2.0, "x": np.arange(14) - 7},
    )
    ds.field.encoding["chunks"] = (4, 5, 6)
    path = str(tmp_path / "cube.zarr")
    ds.to_zarr(path, zarr_format=3, consolidated=False)
    return path, data


def _backend_array(variable):
    """The backend array under xarray's wrappers (CopyOnWrite, LazilyIndexed, ...)."""
    data = variable.variable._data
    while not isinstance(data, xarray_arrays.NativeBackendArray):
        data = data.array
    return data


def test_entry_point_is_registered():
    names = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="xarray.backends")}
    assert names["zarrs_cffi"] == "zarrs_cffi.xarray_backend:ZarrsCffiBackendEntrypoint"
    assert "zarrs_cffi" in xr.backends.list_engines()


def test_importing_the_package_imports_neither_xarray_nor_dask():
    import subprocess

    code = "import sys, zarrs_cffi; print(sorted(m for m in ('xarray', 'dask', 'distributed') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_nothing_is_read_until_asked_and_then_one_read_per_request(cube_path, read_counter):
    path, data = cube_path
    ds = xr.open_dataset(path, engine="zarrs_cffi")
    index_reads = len(read_counter)  # xarray loads dimension coordinates for its indexes
    assert index_reads <= 3 and all(len(shape) == 1 for _, shape in read_counter)
    assert not ds.field.variable._in_memory
    sub = ds.field.isel(t=slice(2, 9), x=3)
    assert len(read_counter) == index_reads
    np.testing.assert_array_equal(sub.values, data[2:9, :, 3])
    assert read_counter[index_reads:] == [((2, 0, 3), (7, 12, 1))]


def test_outer_indexing_decodes_only_the_chunks_holding_selected_elements(cube_path, read_counter):
    path, data = cube_path
    # x chunk 1 (x = 6..11) holds no selected element: make every chunk of it garbage.
    for chunk in pathlib.Path(path, "field", "c").glob("*/*/1"):
        chunk.write_bytes(b"not a chunk")
    ds = xr.open_dataset(path, engine="zarrs_cffi")
    before = len(read_counter)
    got = ds.field.isel(t=[7, 2, 2, 5], y=slice(1, 11, 4), x=[13, 0]).values
    np.testing.assert_array_equal(got, data[np.ix_([7, 2, 2, 5], range(1, 11, 4), [13, 0])])
    sparse = ds.field.isel(t=[9, 0, -1], x=[1, 12]).values
    np.testing.assert_array_equal(sparse, data[np.ix_([9, 0, 9], range(12), [1, 12])])
    assert read_counter[before:] == []  # one native orthogonal read each, no box-by-box reads
    with pytest.raises(zarrs_cffi.CodecError):
        ds.field.isel(x=[7]).load()


def test_empty_outer_selection(cube_path):
    path, _ = cube_path
    ds = xr.open_dataset(path, engine="zarrs_cffi")
    assert ds.field.isel(t=[], x=[1]).shape == (0, 12, 1)


def test_backend_array_pickles_by_location(cube_path):
    path, data = cube_path
    ds = xr.open_dataset(path, engine="zarrs_cffi")
    backend_array = _backend_array(ds.field)
    assert isinstance(backend_array, xarray_arrays.NativeBackendArray)
    payload = pickle.dumps(backend_array)
    assert b"ZarrsArray" not in payload and b"cdata" not in payload
    clone = pickle.loads(payload)
    assert clone._array is None  # reopened lazily, not carried
    np.testing.assert_array_equal(
        clone[indexing.BasicIndexer((1, slice(None), slice(2, 4)))], data[1, :, 2:4]
    )
    restored = pickle.loads(pickle.dumps(ds))
    xr.testing.assert_identical(restored.load(), ds.load())


def test_concurrent_reads_from_threads(cube_path):
    path, data = cube_path
    field = xr.open_dataset(path, engine="zarrs_cffi").field
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(20):
                t = (i + j) % 10
                np.testing.assert_array_equal(field.isel(t=t, x=[j % 14, 0]).values, data[t][:, [j % 14, 0]])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_dask_chunks_read_one_block_per_native_call(cube_path, read_counter):
    pytest.importorskip("dask")
    path, data = cube_path
    ds = xr.open_dataset(path, engine="zarrs_cffi", chunks={})
    assert ds.field.chunks == ((4, 4, 2), (5, 5, 2), (6, 6, 2))
    before = len(read_counter)
    np.testing.assert_array_equal(ds.field.values, data)
    assert len(read_counter) - before == 27
    assert sorted(read_counter[before:])[0] == ((0, 0, 0), (4, 5, 6))


def test_paths_and_file_urls(cube_path):
    path, data = cube_path
    for where in (pathlib.Path(path), f"file://{path}", path + "/"):
        np.testing.assert_array_equal(xr.open_dataset(where, engine="zarrs_cffi").field.values, data)


def test_v2_dimension_attribute_is_removed_from_attrs(tmp_path):
    path = str(tmp_path / "v2.zarr")
    xr.Dataset({"a": (("p", "q"), np.ones((2, 3)), {"note": "kept"})}).to_zarr(path, zarr_format=2)
    ds = xr.open_dataset(path, engine="zarrs_cffi")
    assert ds.a.dims == ("p", "q")
    assert ds.a.attrs == {"note": "kept"}


@pytest.mark.parametrize("fmt", [2, 3])
def test_use_zarr_fill_value_as_mask(tmp_path, fmt):
    """Default as xarray's zarr engine (the Zarr fill value masks in v2 only); the keyword overrides
    it (xarray's own engine ignores the keyword in open_dataset, so the override is checked directly)."""
    zarr = pytest.importorskip("zarr")
    path = str(tmp_path / "fill.zarr")
    group = zarr.open_group(path, mode="w", zarr_format=fmt)
    dims = ["d"] if fmt == 3 else None
    arr = group.create_array("v", shape=(4,), chunks=(2,), dtype="i2", fill_value=-5, dimension_names=dims)
    arr[:2] = [1, -5]
    if fmt == 2:
        arr.attrs["_ARRAY_DIMENSIONS"] = ["d"]
    expected = xr.open_dataset(path, engine="zarr")
    xr.testing.assert_identical(expected, xr.open_dataset(path, engine="zarrs_cffi"))
    assert xr.open_dataset(path, engine="zarrs_cffi").v.encoding.get("fill_value") == expected.v.encoding.get(
        "fill_value"
    )
    masked = xr.open_dataset(path, engine="zarrs_cffi", use_zarr_fill_value_as_mask=True).v
    np.testing.assert_array_equal(masked.values, [1, np.nan, np.nan, np.nan])
    raw = xr.open_dataset(path, engine="zarrs_cffi", use_zarr_fill_value_as_mask=False).v
    assert raw.values.tolist() == [1, -5, -5, -5] and raw.dtype == np.int16


def test_unsupported_urls_and_storage_options_raise_typed_errors(cube_path):
    path, _ = cube_path
    for url, word in (("ftp://host/data.zarr", "scheme"), ("file://remote-host/x.zarr", "remote host")):
        with pytest.raises(zarrs_cffi.UnsupportedStoreError, match=word):
            xr.open_dataset(url, engine="zarrs_cffi")
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match="local directories take no storage options"):
        xr.open_dataset(path, engine="zarrs_cffi", storage_options={"anon": True})
    with pytest.raises(zarrs_cffi.UnsupportedStoreError, match="dict"):
        xr.open_dataset({}, engine="zarrs_cffi")


def test_missing_store_group_and_format_errors(cube_path, tmp_path):
    path, _ = cube_path
    with pytest.raises(FileNotFoundError):
        xr.open_dataset(str(tmp_path / "absent.zarr"), engine="zarrs_cffi")
    with pytest.raises(zarrs_cffi.NodeNotFoundError):
        xr.open_dataset(path, engine="zarrs_cffi", group="nope")
    with pytest.raises(zarrs_cffi.GroupError, match="is an array"):
        xr.open_dataset(path, engine="zarrs_cffi", group="field")
    with pytest.raises(zarrs_cffi.InvalidMetadataError, match="consolidated"):
        xr.open_dataset(path, engine="zarrs_cffi", consolidated=True)
    with pytest.raises(zarrs_cffi.InvalidMetadataError, match="zarr_format=2"):
        xr.open_dataset(path, engine="zarrs_cffi", zarr_format=2)


def test_consolidated_metadata_is_used_when_present(tmp_path):
    """A v2 array added after consolidation is invisible to both engines (they read the listing)."""
    zarr = pytest.importorskip("zarr")
    path = str(tmp_path / "cons.zarr")
    xr.Dataset({"a": ("d", np.arange(3))}).to_zarr(path, zarr_format=2, consolidated=True)
    late = zarr.open_group(path, mode="a", zarr_format=2).create_array("late", shape=(3,), dtype="i4")
    late.attrs["_ARRAY_DIMENSIONS"] = ["d"]
    for engine in ("zarr", "zarrs_cffi"):
        assert set(xr.open_dataset(path, engine=engine).data_vars) == {"a"}
        assert set(xr.open_dataset(path, engine=engine, consolidated=False).data_vars) == {"a", "late"}


@pytest.mark.parametrize("fmt", [2, 3])
def test_unreadable_data_type_names_the_variable(tmp_path, fmt):
    zarr = pytest.importorskip("zarr")
    path = str(tmp_path / "rec.zarr")
    group = zarr.open_group(path, mode="w", zarr_format=fmt)
    for name, dtype in (("records", [("a", "i4"), ("b", "f8")]), ("plain", "i4")):
        arr = group.create_array(name, shape=(3,), dtype=dtype, dimension_names=["d"] if fmt == 3 else None)
        if fmt == 2:
            arr.attrs["_ARRAY_DIMENSIONS"] = ["d"]
    with pytest.raises(zarrs_cffi.UnsupportedDataTypeError, match="variable 'records'"):
        xr.open_dataset(path, engine="zarrs_cffi")
    assert list(xr.open_dataset(path, engine="zarrs_cffi", drop_variables="records").data_vars) == ["plain"]


def test_missing_dimension_names_name_the_variable(tmp_path):
    zarr = pytest.importorskip("zarr")
    path = str(tmp_path / "nodims.zarr")
    zarr.open_group(path, mode="w", zarr_format=2).create_array("anon", shape=(3,), dtype="i4")
    with pytest.raises(zarrs_cffi.InvalidMetadataError, match=r"'anon'.*_ARRAY_DIMENSIONS"):
        xr.open_dataset(path, engine="zarrs_cffi")


def test_strings_without_zarr_python_raise_naming_the_variable(tmp_path, monkeypatch):
    path = str(tmp_path / "str.zarr")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        xr.Dataset({"names": ("d", np.array(["a", "bc"], dtype=object)), "n": ("d", [1, 2])}).to_zarr(path)
    monkeypatch.setitem(sys.modules, "zarr", None)  # import zarr now raises ImportError
    with pytest.raises(zarrs_cffi.UnsupportedDataTypeError, match=r"variable 'names'.*zarr-python"):
        xr.open_dataset(path, engine="zarrs_cffi")
    assert xr.open_dataset(path, engine="zarrs_cffi", drop_variables=["names"]).n.values.tolist() == [1, 2]
