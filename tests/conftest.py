"""Fixtures shared by the foundation tests (plain helpers live in zarr_oracle.py).

Nothing here is autouse: this file also sits above tests/crud/.

zarr-python (the oracle) is optional here: it needs Python 3.11+, and the core suite also runs on
CPython 3.8-3.10 and PyPy (``make test-legacy``). There, a test module that imports it is reported
as one skip, and the fixtures below copy what zarr-python wrote for them under the default
interpreter (``ZARRS_CFFI_ORACLE_DIR``, see oracle_data.py), or skip without it.
"""

from __future__ import annotations

import importlib.util
import pathlib
import shutil
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from oracle_data import oracle_dir_from_env
from s3_paths import zarr_store_at
from zarr_oracle import ARANGE_8X8, ZARR_MISSING

import zarrs_cffi

# Packages a test module may import that the legacy interpreters do not have: the module is skipped.
OPTIONAL_TEST_PACKAGES = frozenset(
    {
        "zarr",
        "numcodecs",
        "xarray",
        "pandas",
        "dask",
        "distributed",
        "fsspec",
        "s3fs",
        "moto",
        "boto3",
        "obstore",
        "_tracemalloc",
    }
)


class _SkipIfOptionalPackageMissing(pytest.Module):
    """A test module whose import fails because an optional package (zarr-python, ...) is missing is
    reported as skipped, naming the package, instead of as a collection error."""

    def _getobj(self) -> Any:
        try:
            return super()._getobj()
        except self.CollectError as error:
            cause = error.__cause__
            missing = getattr(cause, "name", None) if isinstance(cause, ModuleNotFoundError) else None
            if missing is None or missing.partition(".")[0] not in OPTIONAL_TEST_PACKAGES:
                raise
            reason = (
                ZARR_MISSING if missing.startswith("zarr") else f"needs {missing}, which is not installed"
            )
            pytest.skip(f"{self.path.name} {reason}", allow_module_level=True)


def _prewritten_copy(tmp_path: pathlib.Path, name: str) -> str | None:
    """Without zarr-python: a private copy of oracle array ``name`` from ``ZARRS_CFFI_ORACLE_DIR``
    (skip if that is unset too); with it, None (the caller writes the array itself)."""
    if importlib.util.find_spec("zarr") is not None:
        return None
    root = oracle_dir_from_env()
    if root is None:
        pytest.skip(ZARR_MISSING + " and ZARRS_CFFI_ORACLE_DIR is not set")
    copy = tmp_path / f"{name}.zarr"
    shutil.copytree(root / name, copy)
    return str(copy)


def pytest_pycollect_makemodule(module_path: pathlib.Path, parent: pytest.Collector) -> pytest.Module:
    return _SkipIfOptionalPackageMissing.from_parent(parent, path=module_path)


@pytest.fixture
def arange_path(tmp_path: pathlib.Path) -> str:
    """An 8x8 uint16 array with 4x4 chunks holding arange(64), zstd, written by zarr-python."""
    copy = _prewritten_copy(tmp_path, "arange")
    if copy is not None:
        return copy
    import zarr

    path = tmp_path / "arange.zarr"
    z = zarr.create_array(
        store=zarr_store_at(path), shape=(8, 8), chunks=(4, 4), dtype="uint16", fill_value=0
    )
    z[...] = ARANGE_8X8
    return str(path)


@pytest.fixture
def multichunk_path(tmp_path: pathlib.Path) -> tuple[str, np.ndarray]:
    """A 37x34 int32 array with 8x6 chunks (5x6 chunks, edge chunks included) and its contents."""
    data = np.arange(37 * 34, dtype="int32").reshape(37, 34) * 7 - 500
    copy = _prewritten_copy(tmp_path, "multichunk")
    if copy is not None:
        return copy, data
    import zarr

    path = tmp_path / "multichunk.zarr"
    z = zarr.create_array(
        store=zarr_store_at(path), shape=data.shape, chunks=(8, 6), dtype="int32", fill_value=-1
    )
    z[...] = data
    return str(path), data


@pytest.fixture
def restore_threads() -> Iterator[None]:
    """Puts the thread count back to the default after a test that sets it."""
    yield
    zarrs_cffi.set_num_threads(0)


@pytest.fixture
def read_counter(monkeypatch) -> list[tuple]:
    """Records every native box read (start, shape) made through zarrs_cffi.Array."""
    calls: list[tuple] = []
    original = zarrs_cffi.Array._retrieve_box

    def counting(self, start, shape, out):
        calls.append((tuple(start), tuple(shape)))
        return original(self, start, shape, out)

    monkeypatch.setattr(zarrs_cffi.Array, "_retrieve_box", counting)
    return calls
