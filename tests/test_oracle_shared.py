"""The core API against arrays zarr-python wrote (oracle_data.py): every interpreter of
``make test-legacy`` reads the same directory, written once under the default interpreter, so
CPython 3.8-3.10 and PyPy are checked against zarr-python without being able to run it.

Covered without zarr-python: open_array, read / read_into / Array indexing, chunk I/O, writes into a
copy (read back against numpy), the functional CRUD API with engine="cffi", and the CLI.
"""

from __future__ import annotations

import importlib.util
import json
import pathlib
import shutil
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from oracle_data import CASES, case_data, oracle_dir_from_env, write_oracle
from zarr_oracle import SELECTIONS_2D, assert_values, chunk_indices, padded_chunk, sel_id

import zarrs_cffi
import zarrs_cffi.crud as crud

CASE_IDS = [case["name"] for case in CASES]
# Cases on which every basic selection of zarr_oracle.SELECTIONS_2D (shape (10, 7)) is tried.
SELECTION_CASES = ["v3_int32", "v3_float64", "v3_bigendian", "v3_transpose", "v2_blosc", "v2_bigendian"]


@pytest.fixture(scope="session")
def oracle_root(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """The oracle directory: ZARRS_CFFI_ORACLE_DIR, else written here with zarr-python, else skip."""
    root = oracle_dir_from_env()
    if root is not None:
        return root
    if importlib.util.find_spec("zarr") is None:
        pytest.skip("needs zarr-python (Python 3.11+) or ZARRS_CFFI_ORACLE_DIR (see tests/oracle_data.py)")
    return write_oracle(tmp_path_factory.mktemp("oracle"))


def expected_of(root: pathlib.Path, name: str) -> np.ndarray:
    return np.load(root / f"{name}.npy", allow_pickle=False)


def writable_copy(root: pathlib.Path, name: str, tmp_path: pathlib.Path) -> str:
    target = tmp_path / f"{name}.zarr"
    shutil.copytree(root / name, target)
    return str(target)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_open_and_read_whole(oracle_root: pathlib.Path, case: dict[str, Any]) -> None:
    expected = expected_of(oracle_root, case["name"])
    with zarrs_cffi.open_array(oracle_root / case["name"], read_only=True) as arr:
        assert arr.shape == tuple(case["shape"])
        assert arr.dtype == np.dtype(case["dtype"]).newbyteorder("=")
        assert arr.zarr_format == case["zarr_format"]
        assert arr.chunks == tuple(case["chunks"])
        assert arr.shards == (tuple(case["shards"]) if case["shards"] else None)
        whole = arr[...]
    assert whole.dtype.isnative
    assert_values(whole, expected)
    assert_values(zarrs_cffi.read(str(oracle_root / case["name"])), expected)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_read_into_caller_buffer(oracle_root: pathlib.Path, case: dict[str, Any]) -> None:
    expected = expected_of(oracle_root, case["name"])
    region = tuple(slice(1, n) for n in expected.shape)  # all but the first row/column/...
    out = np.full(expected[region].shape, 99, dtype=expected.dtype.newbyteorder("="))
    result = zarrs_cffi.read_into(out, str(oracle_root / case["name"]), region)
    assert result is out
    assert_values(out, expected[region])


@pytest.mark.parametrize("selection", SELECTIONS_2D, ids=sel_id)
@pytest.mark.parametrize("name", SELECTION_CASES)
def test_basic_selections(oracle_root: pathlib.Path, name: str, selection: Any) -> None:
    expected = expected_of(oracle_root, name)
    with zarrs_cffi.open_array(oracle_root / name, read_only=True) as arr:
        assert_values(np.asarray(arr[selection]), expected[selection])


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_read_every_stored_chunk(oracle_root: pathlib.Path, case: dict[str, Any]) -> None:
    expected = expected_of(oracle_root, case["name"])
    fill = np.nan if case["fill_value"] == "NaN" else case["fill_value"]
    with zarrs_cffi.open_array(oracle_root / case["name"], read_only=True) as arr:
        stored = arr.chunk_shape()
        assert stored == tuple(case["shards"] or case["chunks"])
        for coords in chunk_indices(arr.chunk_grid_shape):
            chunk = arr.read_chunk(coords)
            assert_values(chunk, padded_chunk(expected, coords, stored, fill))


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_write_into_a_copy(oracle_root: pathlib.Path, case: dict[str, Any], tmp_path: pathlib.Path) -> None:
    """Region writes and a chunk write into zarr-python's array, read back against numpy."""
    expected = expected_of(oracle_root, case["name"]).copy()
    path = writable_copy(oracle_root, case["name"], tmp_path)
    new = case_data({**case, "seed": case["seed"] + 1})
    region = tuple(slice(0, (n + 1) // 2) for n in expected.shape)
    zarrs_cffi.write(path, region, new[region])
    expected[region] = new[region]
    with zarrs_cffi.open_array(path) as arr:
        assert_values(arr[...], expected)
        if arr.ndim:
            last = tuple(n - 1 for n in arr.chunk_grid_shape)
            chunk = np.zeros(arr.chunk_shape(), dtype=arr.dtype)
            arr.write_chunk(last, chunk)
            assert_values(arr.read_chunk(last), chunk)


@pytest.mark.parametrize("name", ["v3_uint16", "v3_sharded", "v2_zlib"])
def test_crud_with_the_cffi_engine(oracle_root: pathlib.Path, name: str, tmp_path: pathlib.Path) -> None:
    expected = expected_of(oracle_root, name).copy()
    store = str(tmp_path / "store")
    zarr_format = 2 if name.startswith("v2") else 3
    group = {"zarr_format": 2} if zarr_format == 2 else {"zarr_format": 3, "node_type": "group"}
    crud.create_new_group(group, store, "", engine="cffi")
    shutil.copytree(oracle_root / name, pathlib.Path(store, "node"))
    meta = crud.read_metadata(store, "node", engine="cffi")
    assert meta["zarr_format"] == zarr_format
    assert [child for child, _ in crud.list_children(store, "", engine="cffi")] == ["node"]
    assert_values(crud.read_region(meta, store, "node", np.s_[2:7, 1:5], engine="cffi"), expected[2:7, 1:5])
    out = np.empty((3, expected.shape[1]), dtype=expected.dtype.newbyteorder("="))
    crud.read_region_into(out, meta, store, "node", np.s_[1:4, :], engine="cffi")
    assert_values(out, expected[1:4])
    row = np.arange(expected.shape[1])
    crud.write_region(meta, store, "node", np.s_[0, :], row, engine="cffi")
    expected[0, :] = row
    assert_values(crud.read_region(meta, store, "node", np.s_[...], engine="cffi"), expected)
    crud.delete_node(store, "node", engine="cffi")
    assert crud.list_children(store, "", engine="cffi") == []


def test_cli_info_on_an_oracle_array(oracle_root: pathlib.Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "zarrs_cffi", "info", str(oracle_root / "v3_sharded")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "int32" in proc.stdout and "16" in proc.stdout


def test_manifest_lists_every_case(oracle_root: pathlib.Path) -> None:
    manifest = json.loads((oracle_root / "manifest.json").read_text())
    assert [case["name"] for case in manifest["cases"]] == CASE_IDS
    for case in CASES:
        assert (oracle_root / case["name"]).is_dir() and (oracle_root / f"{case['name']}.npy").is_file()


@pytest.mark.parametrize("name", ["v3_float32", "v3_sharded_gzip", "v2_blosc"])
def test_crud_chunk_cycle_with_the_cffi_engine(
    oracle_root: pathlib.Path, name: str, tmp_path: pathlib.Path
) -> None:
    """A new array made from zarr-python's metadata document: chunks written, read (also encoded and
    through crud.aio), deleted; the copy reads like the original once every chunk is copied."""
    import asyncio

    import zarrs_cffi.crud.aio as aio

    source = crud.read_metadata(str(oracle_root), name, engine="cffi")
    store = str(tmp_path / "copy.zarr")
    crud.create_new_array(source, store, "a", engine="cffi")
    with pytest.raises(zarrs_cffi.NodeExistsError):
        crud.create_new_array(source, store, "a", engine="cffi")
    meta = crud.read_metadata(store, "a", engine="cffi")
    with zarrs_cffi.open_array(oracle_root / name, read_only=True) as original:
        grid = original.chunk_grid_shape
        for coords in chunk_indices(grid):
            chunk = crud.read_chunk(source, str(oracle_root), name, coords, engine="cffi")
            assert_values(chunk, original.read_chunk(coords))
            crud.write_chunk(meta, store, "a", coords, chunk, engine="cffi")
        expected = original[...]
    assert_values(crud.read_region(meta, store, "a", np.s_[...], engine="cffi"), expected)
    assert_values(asyncio.run(aio.read_region(meta, store, "a", np.s_[1:3], engine="cffi")), expected[1:3])
    first = (0,) * len(grid)
    assert crud.read_encoded_chunk(meta, store, "a", first, engine="cffi")  # stored bytes
    crud.delete_chunk(meta, store, "a", first, engine="cffi")
    assert crud.read_encoded_chunk(meta, store, "a", first, engine="cffi") is None
