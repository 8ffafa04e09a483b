"""Fixtures shared by the foundation tests (plain helpers live in zarr_oracle.py).

Nothing here is autouse: this file also sits above tests/crud/.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import numpy as np
import pytest
import zarr
from zarr_oracle import ARANGE_8X8

import zarrs_cffi


@pytest.fixture
def arange_path(tmp_path: pathlib.Path) -> str:
    """An 8x8 uint16 array with 4x4 chunks holding arange(64), zstd, written by zarr-python."""
    path = tmp_path / "arange.zarr"
    z = zarr.create_array(store=str(path), shape=(8, 8), chunks=(4, 4), dtype="uint16", fill_value=0)
    z[...] = ARANGE_8X8
    return str(path)


@pytest.fixture
def multichunk_path(tmp_path: pathlib.Path) -> tuple[str, np.ndarray]:
    """A 37x34 int32 array with 8x6 chunks (5x6 chunks, edge chunks included) and its contents."""
    path = tmp_path / "multichunk.zarr"
    data = np.arange(37 * 34, dtype="int32").reshape(37, 34) * 7 - 500
    z = zarr.create_array(store=str(path), shape=data.shape, chunks=(8, 6), dtype="int32", fill_value=-1)
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
