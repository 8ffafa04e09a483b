"""The C embedding example (csrc/examples/read_write_example.c) against an array written from Python:
its printed region matches numpy, the chunk it writes is what zarrs_cffi and zarr-python read back,
and it reports an out-of-grid chunk as an error line rather than crashing."""

from __future__ import annotations

import importlib.util
import os
import pathlib
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import zarrs_cffi
from zarrs_cffi._native import lib

REPO = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "csrc" / "examples"
EXAMPLE = EXAMPLES / "read_write_example"


@pytest.fixture(scope="module")
def example() -> pathlib.Path:
    """The built example; built here (like `make c-example`) if missing or older than its inputs."""
    return build_example()


def build_example() -> pathlib.Path:
    """Build the example if it is missing or older than its inputs (skips without make or cc)."""
    inputs = [EXAMPLES / "read_write_example.c", pathlib.Path(zarrs_cffi.get_include()) / "zarrs_cffi.h"]
    stale = not EXAMPLE.exists() or any(p.stat().st_mtime > EXAMPLE.stat().st_mtime for p in inputs)
    if stale:
        if shutil.which("make") is None or shutil.which(os.environ.get("CC", "cc")) is None:
            pytest.skip("make or a C compiler is missing")
        build = subprocess.run(
            ["make", "-C", str(EXAMPLES), f"PYTHON={sys.executable}"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert build.returncode == 0, f"building the C example failed:\n{build.stdout}\n{build.stderr}"
    assert os.access(EXAMPLE, os.X_OK)
    return EXAMPLE


def run_example(example: pathlib.Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(example), *args], capture_output=True, text=True, timeout=60)


def _source_array(root: pathlib.Path, node: str = "/") -> np.ndarray:
    data = (np.arange(64, dtype="uint16").reshape(8, 8) * 3 + 11).astype("uint16")
    with zarrs_cffi.create_array(
        root, node, shape=(8, 8), dtype="uint16", chunks=(4, 4), fill_value=0
    ) as arr:
        arr[...] = data
    return data


def test_read_write_example(example: pathlib.Path, tmp_path: pathlib.Path) -> None:
    root = tmp_path / "c.zarr"
    data = _source_array(root)
    result = run_example(example, str(root), "/")
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"

    # "region r c value" lines: the 4x4 region at the origin, as read by C into its own buffer.
    region = np.full((4, 4), -1, dtype=np.int64)
    for r, c, v in re.findall(r"^region (\d+) (\d+) (\d+)$", result.stdout, flags=re.M):
        region[int(r), int(c)] = int(v)
    assert (region >= 0).all(), f"not every region element was printed:\n{result.stdout}"
    np.testing.assert_array_equal(region, data[:4, :4])

    # The chunk C wrote: 1000 + linear index within the chunk, the rest untouched.
    assert "wrote chunk 0 0 of 4x4" in result.stdout
    expected = data.copy()
    expected[:4, :4] = 1000 + np.arange(16, dtype="uint16").reshape(4, 4)
    with zarrs_cffi.open_array(root) as arr:
        np.testing.assert_array_equal(arr.read(), expected)
        np.testing.assert_array_equal(arr.read_chunk((0, 0)), expected[:4, :4])
    if importlib.util.find_spec("zarr") is not None:  # the oracle needs Python 3.11+ (make test-legacy)
        import zarr

        np.testing.assert_array_equal(np.asarray(zarr.open_array(str(root), mode="r")[...]), expected)

    # The deliberate error: erasing chunk (2**30, 0) is outside the grid.
    code = int(lib.ZARRS_ERROR_INVALID_INDICES)
    match = re.search(rf"^expected error {code}: (.+)$", result.stdout, flags=re.M)
    assert match, f"no 'expected error {code}: ...' line in:\n{result.stdout}"
    assert "chunk grid" in match.group(1) and str(2**30) in match.group(1)


def test_example_on_nested_node(example: pathlib.Path, tmp_path: pathlib.Path) -> None:
    root = tmp_path / "nested.zarr"
    zarrs_cffi.create_group(root)
    data = _source_array(root, "/group/array")
    result = run_example(example, str(root), "/group/array")
    assert result.returncode == 0, result.stderr
    printed = [int(v) for v in re.findall(r"^region \d+ \d+ (\d+)$", result.stdout, flags=re.M)]
    assert printed == data[:4, :4].ravel().tolist()


def test_example_reports_missing_array(example: pathlib.Path, tmp_path: pathlib.Path) -> None:
    result = run_example(example, str(tmp_path / "missing.zarr"), "/")
    assert result.returncode == 1
    code = int(lib.ZARRS_CFFI_ERROR_NODE_NOT_FOUND)
    assert f"zarrsCffiOpenArray failed with code {code}" in result.stderr
    assert "no array" in result.stderr


def test_example_rejects_wrong_dtype(example: pathlib.Path, tmp_path: pathlib.Path) -> None:
    root = tmp_path / "f.zarr"
    zarrs_cffi.create_array(root, shape=(8, 8), dtype="float32", chunks=(4, 4)).close()
    result = run_example(example, str(root), "/")
    assert result.returncode == 1
    assert "expected a 2-D uint16 array" in result.stderr


def test_example_usage(example: pathlib.Path) -> None:
    result = run_example(example)
    assert result.returncode == 2
    assert "usage" in result.stderr
