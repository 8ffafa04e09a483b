"""Arrays zarrs_cffi writes read back identically in zarr-python 3.1.6 (the oracle): data, shape,
dtype, fill value, attributes and dimension names, for every compressors option, shards, every dtype,
strided and negative-step region writes, whole-chunk writes and erased chunks."""

from __future__ import annotations

import pathlib
from typing import Any

import numcodecs
import numpy as np
import pytest
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st
from s3_paths import as_location, zarr_store_at
from zarr_oracle import DTYPES, IX, SELECTIONS_2D, assert_values, sample_data, sel_id

import zarrs_cffi

SHAPE = (10, 7)
CHUNKS = (4, 3)


def zarr_read(path: str | pathlib.Path, node: str = "") -> Any:
    z = zarr.open_array(store=zarr_store_at(path), path=node, mode="r")
    return z


def chunk_keys(path: pathlib.Path | str) -> set[str]:
    """Chunk keys stored under a v3 array (default encoding: "c/i/j"), in a directory or a bucket."""
    array = as_location(path)
    root = array / "c"
    return {str(p.relative_to(array)) for p in root.rglob("*") if p.is_file()} if root.exists() else set()


COMPRESSORS: dict[str, Any] = {
    "none": None,
    "zstd": "zstd",
    "gzip": "gzip",
    "blosc": "blosc",
    "list": ["zstd"],
    "json-dicts": [
        {
            "name": "blosc",
            "configuration": {
                "cname": "lz4",
                "clevel": 5,
                "shuffle": "shuffle",
                "typesize": 2,
                "blocksize": 0,
            },
        },
        {"name": "crc32c"},
    ],
    "json-gzip": {"name": "gzip", "configuration": {"level": 9}},
}
EXPECTED_CODECS = {
    "none": ["bytes"],
    "zstd": ["bytes", "zstd"],
    "gzip": ["bytes", "gzip"],
    "blosc": ["bytes", "blosc"],
    "list": ["bytes", "zstd"],
    "json-dicts": ["bytes", "blosc", "crc32c"],
    "json-gzip": ["bytes", "gzip"],
}


@pytest.mark.parametrize("compressors", list(COMPRESSORS))
def test_create_array_each_compressor(tmp_path: pathlib.Path, compressors: str) -> None:
    path = tmp_path / "a.zarr"
    data = sample_data("uint16", SHAPE, seed=10)
    arr = zarrs_cffi.create_array(
        path, shape=SHAPE, dtype="uint16", chunks=CHUNKS, compressors=COMPRESSORS[compressors], fill_value=11
    )
    arr[2:9, 1:] = data[2:9, 1:]
    arr.close()
    expected = np.full(SHAPE, 11, "uint16")
    expected[2:9, 1:] = data[2:9, 1:]

    z = zarr_read(path)
    assert z.shape == SHAPE
    assert z.dtype == np.dtype("uint16")
    assert z.fill_value == 11
    assert z.chunks == CHUNKS
    assert [c.to_dict()["name"] for c in z.metadata.codecs] == EXPECTED_CODECS[compressors]
    assert_values(np.asarray(z[...]), expected)
    # Chunk row 0 (rows 0..3) has data only in rows 2, 3; chunk (0, 0) has columns 1, 2 written.
    assert "c/0/0" in chunk_keys(path)


@pytest.mark.parametrize(
    ("shards", "chunks"), [((8, 6), (4, 3)), ((4, 7), (2, 7)), ((10, 7), (5, 7))], ids=str
)
def test_create_array_sharded(
    tmp_path: pathlib.Path, shards: tuple[int, int], chunks: tuple[int, int]
) -> None:
    path = tmp_path / "s.zarr"
    data = sample_data("float32", SHAPE, seed=11)
    with zarrs_cffi.create_array(
        path, shape=SHAPE, dtype="float32", chunks=chunks, shards=shards, fill_value=np.nan
    ) as arr:
        assert arr.shards == shards
        assert arr.chunks == chunks
        arr[...] = data
        arr[0:2, 0:2] = np.nan  # back to the fill value
    z = zarr_read(path)
    assert z.shards == shards
    assert z.chunks == chunks
    assert np.isnan(z.fill_value)
    expected = data.copy()
    expected[0:2, 0:2] = np.nan
    assert_values(np.asarray(z[...]), expected)


FILLS = {
    "bool": True,
    "int8": -128,
    "int16": -2,
    "int32": 2**31 - 1,
    "int64": -(2**63),
    "uint8": 255,
    "uint16": 1234,
    "uint32": 7,
    "uint64": 2**64 - 2,
    "float16": np.nan,
    "float32": -np.inf,
    "float64": -0.0,
    "complex64": complex(np.nan, -1.0),
    "complex128": complex(1.25, np.inf),
}


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_dtype_and_fill_value(tmp_path: pathlib.Path, dtype: str) -> None:
    path = tmp_path / f"{dtype}.zarr"
    data = sample_data(dtype, SHAPE, seed=12)
    fill = FILLS[dtype]
    with zarrs_cffi.create_array(path, shape=SHAPE, dtype=dtype, chunks=CHUNKS, fill_value=fill) as arr:
        arr[:5, 2:] = data[:5, 2:]
    z = zarr_read(path)
    assert z.dtype == np.dtype(dtype)
    assert_values(np.asarray(z.fill_value, dtype=dtype), np.asarray(fill, dtype=dtype))
    expected = np.full(SHAPE, fill, dtype=dtype)
    expected[:5, 2:] = data[:5, 2:]
    assert_values(np.asarray(z[...]), expected)


# (dtype, fill_value, the value it stands for): other spellings of a value the dtype holds exactly.
FITTING_FILLS = [
    ("bool", 1, True),
    ("bool", np.False_, False),
    ("int8", 3.0, 3),
    ("int8", True, 1),
    ("int16", "-5", -5),
    ("uint8", b"7", 7),
    ("uint8", -0.0, 0),
    ("int64", np.int64(-(2**63)), -(2**63)),
    ("uint64", 2**64 - 1, 2**64 - 1),
    ("uint64", np.uint64(2**64 - 1), 2**64 - 1),
    ("float16", "Infinity", np.inf),
    ("float32", 0.1, np.float32(0.1)),  # rounded to the nearest float32, as numpy does
    ("float32", np.float64("nan"), np.nan),
    ("float64", "-Infinity", -np.inf),
    ("float64", 2**70, float(2**70)),
    ("complex64", 1 + 2j, 1 + 2j),
    ("complex128", complex(np.nan, -np.inf), complex(np.nan, -np.inf)),
    ("complex64", 3, 3 + 0j),
]


@pytest.mark.parametrize(("dtype", "fill", "value"), FITTING_FILLS, ids=lambda x: repr(x)[:20])
def test_fill_value_the_dtype_holds_is_stored_unchanged(
    tmp_path: pathlib.Path, dtype: str, fill: Any, value: Any
) -> None:
    path = tmp_path / "fill.zarr"
    with zarrs_cffi.create_array(path, shape=(3,), dtype=dtype, chunks=(2,), fill_value=fill) as arr:
        assert_values(np.asarray(arr.fill_value), np.asarray(value, dtype=dtype))
        assert_values(arr[...], np.full(3, value, dtype=dtype))
    assert_values(np.asarray(zarr_read(path).fill_value, dtype=dtype), np.asarray(value, dtype=dtype))


# (dtype, fill_value): values zarr-python 3.1.6 refuses too (OverflowError / ValueError), which a
# cast would wrap around (70000 -> 4464, -1 -> 255) or truncate (NaN -> 0, 1e20 -> 0).
UNFITTING_FILLS = [
    ("int16", 70000),
    ("uint8", -1),
    ("int16", float("nan")),
    ("int8", 1e20),
    ("int64", 2**63),
    ("uint64", 2**64),
    ("int32", "2.5"),
]


@pytest.mark.parametrize(("dtype", "fill"), UNFITTING_FILLS, ids=lambda x: repr(x)[:20])
def test_fill_value_the_dtype_cannot_hold_is_refused_like_zarr_python(
    tmp_path: pathlib.Path, dtype: str, fill: Any
) -> None:
    path = tmp_path / "fill.zarr"
    with pytest.raises(zarrs_cffi.InvalidArgumentError) as info:
        zarrs_cffi.create_array(path, shape=(3,), dtype=dtype, chunks=(2,), fill_value=fill)
    assert f"fill_value {fill!r} does not fit dtype {dtype}" in str(info.value)
    assert not path.exists(), "nothing is created"
    with pytest.raises((OverflowError, ValueError)):  # the oracle refuses it too (in memory: any tmp_path)
        zarr.create_array(zarr.storage.MemoryStore(), shape=(3,), dtype=dtype, chunks=(2,), fill_value=fill)


@pytest.mark.parametrize(
    ("dtype", "fill"), [("int16", np.float64("nan")), ("float16", 1e10), ("bool", 2), ("int8", 1.5)]
)
def test_fill_value_zarr_python_casts_lossily_is_refused_too(
    tmp_path: pathlib.Path, dtype: str, fill: Any
) -> None:
    """zarr-python 3.1.6 stores these as 0, inf, True and 1; a fill value other than the one asked
    for is refused here whatever the spelling."""
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match=f"does not fit dtype {dtype}"):
        zarrs_cffi.create_array(tmp_path / "f.zarr", shape=(3,), dtype=dtype, chunks=(2,), fill_value=fill)


def test_attributes_and_dimension_names(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "meta.zarr"
    attrs = {"title": "zarrs-cffi", "nested": {"list": [1, 2.5, None, "x"]}, "unicode": "µ°C"}
    with zarrs_cffi.create_array(
        path,
        shape=(4, 5, 6),
        dtype="int16",
        chunks=(2, 5, 3),
        attributes=attrs,
        dimension_names=["time", None, "x"],
    ) as arr:
        assert arr.attrs == attrs
    z = zarr_read(path)
    assert dict(z.attrs) == attrs
    assert z.metadata.dimension_names == ("time", None, "x")
    assert z.shape == (4, 5, 6)
    assert z.fill_value == 0


def test_node_inside_group(tmp_path: pathlib.Path) -> None:
    root = tmp_path / "root.zarr"
    zarrs_cffi.create_group(root, attributes={"kind": "root"})
    with zarrs_cffi.create_array(root, "/grp/arr", shape=(6,), dtype="int64", chunks=(4,)) as arr:
        arr[...] = np.arange(6) - 3
    group = zarr.open_group(zarr_store_at(root), mode="r")
    assert dict(group.attrs) == {"kind": "root"}
    assert_values(np.asarray(group["grp/arr"][...]), np.arange(6) - 3)


# --- region writes -----------------------------------------------------------------------------------------
WRITE_SELECTIONS = [s for s in SELECTIONS_2D if np.empty(SHAPE)[s].size > 0] + [
    IX[::-1, ::-1],
    IX[7:0:-2, ::3],
    IX[..., ::-3],
    IX[-2::-4, 2],
]


@pytest.mark.parametrize("sel", WRITE_SELECTIONS, ids=sel_id)
@pytest.mark.parametrize("how", ["setitem", "write"])
def test_region_writes(tmp_path: pathlib.Path, sel: Any, how: str) -> None:
    path = tmp_path / "w.zarr"
    base = sample_data("int32", SHAPE, seed=13)
    with zarrs_cffi.create_array(path, shape=SHAPE, dtype="int32", chunks=CHUNKS, fill_value=-5) as arr:
        arr[...] = base
        values = np.asarray(sample_data("int32", SHAPE, seed=14)[sel])
        if how == "setitem":
            arr[sel] = values
        else:
            arr.write(sel, values)
    expected = base.copy()
    expected[sel] = values
    assert_values(np.asarray(zarr_read(path)[...]), expected)


def test_broadcast_and_cast_writes(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "b.zarr"
    with zarrs_cffi.create_array(path, shape=SHAPE, dtype="float64", chunks=CHUNKS, fill_value=0) as arr:
        arr[...] = 1.5  # scalar broadcast
        arr[2] = np.arange(7)  # int -> float64
        arr[:, 6] = [9] * 10  # list
        arr[::3, ::-2] = np.arange(4)  # row broadcast into a strided, reversed region
    expected = np.full(SHAPE, 1.5)
    expected[2] = np.arange(7)
    expected[:, 6] = 9
    expected[::3, ::-2] = np.arange(4)
    assert_values(np.asarray(zarr_read(path)[...]), expected)


def test_write_into_zarr_python_v2_arrays(tmp_path: pathlib.Path) -> None:
    """zarrs_cffi writing into v2 arrays zarr-python made (big-endian, F order, zlib)."""
    path = tmp_path / "v2.zarr"
    z = zarr.create_array(
        store=zarr_store_at(path),
        shape=SHAPE,
        chunks=CHUNKS,
        dtype=">f8",
        order="F",
        zarr_format=2,
        compressors=numcodecs.Zlib(level=1),
        fill_value=2.0,
    )
    data = sample_data("float64", SHAPE, seed=15)
    with zarrs_cffi.open_array(path) as arr:
        assert arr.dtype == np.dtype("float64")
        arr[1:8:2, ::-1] = data[1:8:2, ::-1]
    expected = np.full(SHAPE, 2.0)
    expected[1:8:2, ::-1] = data[1:8:2, ::-1]
    assert_values(np.asarray(z[...]), expected)


def test_functional_write(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "f.zarr"
    zarrs_cffi.create_array(path, shape=SHAPE, dtype="uint8", chunks=CHUNKS).close()
    zarrs_cffi.write(path, IX[3:, ::2], 200)
    expected = np.zeros(SHAPE, "uint8")
    expected[3:, ::2] = 200
    assert_values(np.asarray(zarr_read(path)[...]), expected)


# --- chunk writes and erases -------------------------------------------------------------------------------
def test_write_chunk_and_erase_chunk(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "c.zarr"
    with zarrs_cffi.create_array(path, shape=SHAPE, dtype="uint16", chunks=CHUNKS, fill_value=3) as arr:
        assert arr.chunk_grid_shape == (3, 3)
        inner = np.arange(12, dtype="uint16").reshape(4, 3) + 100
        arr.write_chunk((1, 1), inner)
        # An edge chunk is written at full chunk shape; only the part inside the array is visible.
        edge = np.arange(12, dtype="uint16").reshape(4, 3) + 500
        arr.write_chunk((2, 2), edge)
        assert chunk_keys(path) == {"c/1/1", "c/2/2"}
        expected = np.full(SHAPE, 3, "uint16")
        expected[4:8, 3:6] = inner
        expected[8:10, 6:7] = edge[:2, :1]
        assert_values(np.asarray(zarr_read(path)[...]), expected)

        arr.erase_chunk((1, 1))
        arr.erase_chunk((0, 0))  # absent: no error
        assert chunk_keys(path) == {"c/2/2"}
        expected[4:8, 3:6] = 3
        assert_values(np.asarray(zarr_read(path)[...]), expected)
        assert_values(arr.read(), expected)


def test_write_chunk_sharded_writes_a_whole_shard(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "cs.zarr"
    with zarrs_cffi.create_array(
        path, shape=SHAPE, dtype="int8", chunks=(2, 3), shards=(4, 6), fill_value=-1
    ) as arr:
        assert arr.chunk_shape() == (4, 6)
        shard = np.arange(24, dtype="int8").reshape(4, 6)
        arr.write_chunk((0, 1), shard)
    expected = np.full(SHAPE, -1, "int8")
    expected[0:4, 6:7] = shard[:, :1]
    assert_values(np.asarray(zarr_read(path)[...]), expected)


def test_chunk_equal_to_fill_is_not_stored(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "e.zarr"
    with zarrs_cffi.create_array(path, shape=SHAPE, dtype="int16", chunks=CHUNKS, fill_value=4) as arr:
        arr[...] = 4
        arr.write_chunk((0, 0), np.full(CHUNKS, 4, "int16"))
    assert chunk_keys(path) == set()
    assert_values(np.asarray(zarr_read(path)[...]), np.full(SHAPE, 4, "int16"))


# --- property-based: random region writes, mirrored in numpy -----------------------------------------------
@pytest.fixture(scope="module")
def model_array(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[pathlib.Path, zarrs_cffi.Array, np.ndarray]:
    path = tmp_path_factory.mktemp("model") / "m.zarr"
    arr = zarrs_cffi.create_array(path, shape=(9, 8), dtype="int16", chunks=(4, 3), fill_value=-1)
    return path, arr, np.full((9, 8), -1, "int16")


def _axis_slice(n: int) -> st.SearchStrategy[Any]:
    bound = st.one_of(st.none(), st.integers(-n - 2, n + 2))
    step = st.one_of(st.none(), st.integers(-3, 3).filter(bool))
    return st.one_of(st.integers(-n, n - 1), st.builds(slice, bound, bound, step))


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_random_region_writes_round_trip(
    model_array: tuple[pathlib.Path, zarrs_cffi.Array, np.ndarray], data: st.DataObject
) -> None:
    path, arr, model = model_array
    sel = tuple(data.draw(_axis_slice(n)) for n in model.shape)
    shape = model[sel].shape
    seed = data.draw(st.integers(0, 2**16))
    values = np.random.default_rng(seed).integers(-1000, 1000, size=shape, dtype="int16")
    arr[sel] = values
    model[sel] = values
    assert_values(np.asarray(zarr_read(path)[...]), model)
