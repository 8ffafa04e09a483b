"""Oracle battery for the xarray backend: datasets written by ``Dataset.to_zarr`` (Zarr v2 and v3,
consolidated or not) must open with ``engine="zarrs_cffi"`` identical to xarray's own
``engine="zarr"``: lazily and loaded, whole and sliced, with the same encoding."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

xr = pytest.importorskip("xarray")

pytestmark = pytest.mark.filterwarnings(
    "ignore::RuntimeWarning", "ignore::UserWarning", "ignore::FutureWarning"
)

ENCODING_KEYS = (
    "chunks",
    "preferred_chunks",
    "shards",
    "dtype",
    "fill_value",
    "units",
    "calendar",
    "_FillValue",
    "scale_factor",
    "add_offset",
    "compressors",
    "filters",
    "serializer",
)


def _numeric_dataset() -> xr.Dataset:
    """Every numeric type, bool, NaN fill values, a time and a string coordinate, several chunks."""
    rng = np.random.default_rng(7)
    n_time, n_x = 13, 10
    temp = rng.normal(size=(n_time, n_x)).astype("f4")
    temp[2, 3] = temp[7, :] = np.nan
    data = {
        "temp": (("time", "x"), temp, {"units": "K", "long_name": "temperature"}),
        "flag": (("x",), rng.random(n_x) > 0.5),
        "station": (("x",), np.array([f"st{i}" * (i % 3 + 1) for i in range(n_x)])),
        "lag": (("time",), np.arange(n_time).astype("timedelta64[h]")),
    }
    for dtype in ("i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f8", "c8", "c16"):
        data[f"v_{dtype}"] = (("time", "x"), (rng.random((n_time, n_x)) * 100).astype(dtype))
    ds = xr.Dataset(
        data,
        coords={
            "time": pd.date_range("2001-03-01", periods=n_time, freq="6h"),
            "x": np.arange(n_x) * 10.0,
            "label": (("x",), np.array([f"label-{i}" for i in range(n_x)], dtype=object)),
        },
        attrs={"title": "oracle", "history": "written by to_zarr"},
    )
    for name in ds.variables:
        if ds[name].ndim == 2:
            ds[name].encoding["chunks"] = (4, 3)
    return ds


def _packed_dataset() -> xr.Dataset:
    """Packed integers with scale_factor/add_offset and _FillValue, bytes and fixed-width unicode."""
    values = np.array([[1.5, np.nan, 2.5, 3.0], [10.0, 11.5, np.nan, -4.0]] * 3)
    ds = xr.Dataset(
        {
            "packed": (("y", "z"), values),
            "names": (("z",), np.array([b"ab", b"c", b"", b"defg"])),
            "codes": (("z",), np.array(["\u00e9", "\u00fc\u00df", "", "\u65e5\u672c\u8a9e!"], dtype="U4")),
        },
        coords={"y": np.arange(6, dtype="i2"), "z": [0.5, 1.5, 2.5, 3.5]},
    )
    ds.packed.encoding = {
        "dtype": "int16",
        "scale_factor": 0.5,
        "add_offset": 1.0,
        "_FillValue": -999,
        "chunks": (4, 3),
    }
    return ds


def _sharded_dataset() -> xr.Dataset:
    data = np.arange(24 * 20, dtype="f8").reshape(24, 20)
    data[5:9, 3] = np.nan
    ds = xr.Dataset({"field": (("a", "b"), data)}, coords={"a": np.arange(24), "b": np.arange(20) * 0.25})
    ds.field.encoding = {"chunks": (4, 5), "shards": (8, 10)}
    return ds


BUILDERS = {"numeric": _numeric_dataset, "packed": _packed_dataset, "sharded": _sharded_dataset}
CASES = [
    (kind, fmt, consolidated)
    for kind in BUILDERS
    for fmt in (2, 3)
    for consolidated in (True, False)
    if not (kind == "sharded" and fmt == 2)  # sharding is a v3 codec
]


@pytest.fixture(
    scope="module", params=CASES, ids=[f"{k}-v{f}-{'cons' if c else 'plain'}" for k, f, c in CASES]
)
def written(request, tmp_path_factory) -> str:
    kind, fmt, consolidated = request.param
    path = str(tmp_path_factory.mktemp("xr") / f"{kind}.zarr")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        BUILDERS[kind]().to_zarr(path, zarr_format=fmt, consolidated=consolidated)
    return path


def _open_both(path: str, **kwargs):
    return (
        xr.open_dataset(path, engine="zarr", **kwargs),
        xr.open_dataset(path, engine="zarrs_cffi", **kwargs),
    )


def _assert_same_encoding(expected: xr.Dataset, actual: xr.Dataset) -> None:
    for name, var in expected.variables.items():
        for key in ENCODING_KEYS:
            want, got = var.encoding.get(key), actual[name].encoding.get(key)
            # dtypes compare by value ('<i8' from zarr-python's v2 metadata is int64); codecs by repr
            same = got == want if isinstance(want, np.dtype) else repr(got) == repr(want)
            assert same, f"{name}.encoding[{key!r}]: {got!r} != {want!r}"


def test_lazy_open_is_identical(written):
    expected, actual = _open_both(written)
    assert all(
        not v._in_memory for v in actual.variables.values() if v.dims not in ((d,) for d in actual.dims)
    )
    xr.testing.assert_identical(expected, actual)
    _assert_same_encoding(expected, actual)
    assert actual.encoding == expected.encoding or actual.encoding == {}


def test_loaded_is_identical(written):
    expected, actual = _open_both(written)
    xr.testing.assert_identical(expected.load(), actual.load())


SELECTIONS = {
    "numeric": [
        {"time": slice(1, 11, 3)},
        {"time": [12, 0, 5], "x": [9, 1, 1]},
        {"x": 4},
        {"time": slice(None, None, -2), "x": slice(2, 9)},
        {"time": [], "x": slice(0, 3)},
    ],
    "packed": [{"y": [5, 0], "z": slice(1, 3)}, {"y": -1, "z": [3, 0]}, {"z": slice(2, 2)}],
    "sharded": [{"a": slice(3, 21), "b": [0, 19, 7]}, {"a": 13}, {"a": [23, 0], "b": slice(None, None, 3)}],
}


def test_sliced_is_identical(written):
    expected, actual = _open_both(written)
    kind = next(k for k in SELECTIONS if written.endswith(f"{k}.zarr"))
    for selection in SELECTIONS[kind]:
        xr.testing.assert_identical(expected.isel(selection), actual.isel(selection))
        xr.testing.assert_identical(expected.isel(selection).load(), actual.load().isel(selection))


def test_decoding_switched_off_is_identical(written):
    options = {
        "mask_and_scale": False,
        "decode_times": False,
        "decode_timedelta": False,
        "concat_characters": False,
    }
    expected, actual = _open_both(written, **options)
    xr.testing.assert_identical(expected, actual)


def test_dask_chunks_are_identical(written):
    pytest.importorskip("dask")
    expected, actual = _open_both(written, chunks={})
    for name, var in expected.data_vars.items():
        assert actual[name].chunks == var.chunks, name
    xr.testing.assert_identical(expected.compute(), actual.compute())


@pytest.mark.parametrize("fmt", [2, 3])
@pytest.mark.parametrize("consolidated", [True, False])
def test_groups_and_datatree_are_identical(tmp_path, fmt, consolidated):
    path = str(tmp_path / "tree.zarr")
    root, inner = _packed_dataset(), _numeric_dataset()[["temp", "station"]]
    deeper = xr.Dataset({"w": ("k", np.arange(5.0))}, attrs={"level": 2})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree = xr.DataTree.from_dict({"/": root, "/inner": inner, "/inner/deeper": deeper})
        tree.to_zarr(path, zarr_format=fmt, consolidated=consolidated)
    for group in ("inner", "/inner/deeper"):
        expected, actual = _open_both(path, group=group)
        xr.testing.assert_identical(expected, actual)
    expected_tree = xr.open_datatree(path, engine="zarr")
    actual_tree = xr.open_datatree(path, engine="zarrs_cffi")
    xr.testing.assert_identical(expected_tree, actual_tree)
    xr.testing.assert_identical(
        xr.open_datatree(path, engine="zarr", group="inner"),
        xr.open_datatree(path, engine="zarrs_cffi", group="inner"),
    )


@pytest.mark.parametrize("fmt", [2, 3])
def test_native_datetime_types_are_identical(tmp_path, fmt):
    """Times stored as Zarr's own datetime64/timedelta64 data types (not CF-encoded integers)."""
    zarr = pytest.importorskip("zarr")
    path = str(tmp_path / "times.zarr")
    group = zarr.open_group(path, mode="w", zarr_format=fmt)
    stamps = np.array(["2000-01-01T00", "NaT", "2001-06-30T12", "1969-12-31T23"], dtype="M8[s]")
    for name, values in {"when": stamps, "took": np.array([1, -2, 3, 4], dtype="m8[ms]")}.items():
        arr = group.create_array(
            name,
            shape=values.shape,
            dtype=values.dtype,
            chunks=(3,),
            dimension_names=["t"] if fmt == 3 else None,
        )
        arr[:] = values
        if fmt == 2:
            arr.attrs["_ARRAY_DIMENSIONS"] = ["t"]
    expected, actual = _open_both(path)
    xr.testing.assert_identical(expected, actual)
    xr.testing.assert_identical(expected.isel(t=[3, 1]), actual.isel(t=[3, 1]))
    assert actual.when.dtype == expected.when.dtype


def test_v2_times_without_fill_value_read_chunks_never_written_as_nat(tmp_path):
    """zarr-python reads them as NaT; read as int64 with no fill value they were the epoch / 0."""
    zarr = pytest.importorskip("zarr")
    path = str(tmp_path / "times.zarr")
    group = zarr.open_group(path, mode="w", zarr_format=2)
    for name, dtype in {"when": "M8[s]", "took": "m8[ms]"}.items():
        arr = group.create_array(name, shape=(4,), dtype=dtype, chunks=(2,), fill_value=None)
        arr[:2] = np.array([1, 2]).astype(dtype)  # chunk 1 never written
        arr.attrs["_ARRAY_DIMENSIONS"] = ["t"]
    expected, actual = _open_both(path)
    xr.testing.assert_identical(expected, actual)
    assert np.isnat(actual.when.values[2:]).all() and np.isnat(actual.took.values[2:]).all()


def test_groups_spelled_with_extra_slashes_and_open_groups_keys(tmp_path):
    path = str(tmp_path / "g.zarr")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        xr.Dataset({"v": ("x", [1, 2])}).to_zarr(path, group="sub", zarr_format=3, consolidated=False)
        xr.Dataset({"w": ("y", [3, 4])}).to_zarr(
            path, group="sub/deep", zarr_format=3, mode="a", consolidated=False
        )
    for group in ("sub/deep/", "/sub/deep/", "sub//deep"):
        expected, actual = _open_both(path, group=group)
        xr.testing.assert_identical(expected, actual)
    for group in (None, "sub", "/sub/deep", "/", ""):  # "/": keys "." and "sub", as xarray's
        expected_groups = xr.open_groups(path, engine="zarr", group=group)
        actual_groups = xr.open_groups(path, engine="zarrs_cffi", group=group)
        assert sorted(actual_groups) == sorted(expected_groups)
        for key, dataset in expected_groups.items():
            xr.testing.assert_identical(dataset, actual_groups[key])


def test_a_variable_with_a_codec_the_library_lacks_is_named_and_can_be_dropped(tmp_path):
    """As docs/xarray-dask.md says: InvalidMetadataError naming the variable; drop_variables skips it."""
    numcodecs = pytest.importorskip("numcodecs")
    path = str(tmp_path / "l.zarr")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        xr.Dataset({"packed": ("x", np.arange(4.0)), "plain": ("x", np.arange(4))}).to_zarr(
            path, zarr_format=2, consolidated=False, encoding={"packed": {"compressors": [numcodecs.LZMA()]}}
        )
    import zarrs_cffi

    with pytest.raises(zarrs_cffi.InvalidMetadataError, match="variable 'packed'"):
        xr.open_dataset(path, engine="zarrs_cffi")
    expected, actual = _open_both(path, drop_variables="packed")
    xr.testing.assert_identical(expected, actual)


def test_v2_netcdf_bookkeeping_attributes_are_hidden_and_nczarr_dimensions_read(tmp_path):
    """As xarray's zarr engine: v2 variable attributes named ``_nc*`` (NCZarr, netCDF-C) are
    hidden, and a v2 array without ``_ARRAY_DIMENSIONS`` takes NCZarr's ``dimrefs``."""
    zarr = pytest.importorskip("zarr")
    import json
    import pathlib

    path = str(tmp_path / "nc.zarr")
    group = zarr.open_group(path, mode="w", zarr_format=2)
    named = group.create_array("v", shape=(3,), dtype="f4", chunks=(3,))
    named[:] = [1, 2, 3]
    named.attrs.update(
        {"_ARRAY_DIMENSIONS": ["x"], "_nczarr_attr": {"types": {}}, "_NCProperties": "v=2", "units": "m"}
    )
    by_nczarr = group.create_array("w", shape=(3, 2), dtype="i2", chunks=(3, 2))
    by_nczarr[:] = 5
    zarray = pathlib.Path(path, "w", ".zarray")
    doc = json.loads(zarray.read_text())
    doc["_NCZARR_ARRAY"] = {"dimrefs": ["/x", "/y"], "storage": "chunked"}
    zarray.write_text(json.dumps(doc))
    expected, actual = _open_both(path, consolidated=False)
    xr.testing.assert_identical(expected, actual)
    assert actual.v.attrs == {"units": "m"} and actual.w.dims == ("x", "y")
    zarr.consolidate_metadata(path)  # (zarr-python's .zmetadata leaves _NCZARR_ARRAY out)
    for consolidated in (None, True):
        expected, actual = _open_both(path, consolidated=consolidated)
        xr.testing.assert_identical(expected, actual)


def test_load_async_reads_string_variables_too(tmp_path):
    import asyncio

    path = str(tmp_path / "s.zarr")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        xr.Dataset({"s": ("x", np.array(["a", "bb"], dtype=object)), "n": ("x", [1.0, 2.0])}).to_zarr(
            path, zarr_format=3, consolidated=False
        )
    expected = xr.open_dataset(path, engine="zarr").load()
    loaded = asyncio.run(xr.open_dataset(path, engine="zarrs_cffi").load_async())
    xr.testing.assert_identical(expected, loaded)
