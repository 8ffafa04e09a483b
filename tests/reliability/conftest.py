"""Helpers for the reliability tests: a ctypes view of the shipped library (the "C side" of
handle exchange), a bounded subprocess runner, and small array fixtures."""

from __future__ import annotations

import ctypes
import json
import os
import pathlib
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import zarrs_cffi

REPO = pathlib.Path(__file__).resolve().parents[2]
PYTHON = sys.executable


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes tens of seconds (still runs by default)")


# --- the library as C code sees it -----------------------------------------------------------------
_VP = ctypes.c_void_p
_PVP = ctypes.POINTER(ctypes.c_void_p)
_U64P = ctypes.POINTER(ctypes.c_uint64)
_SIGNATURES: dict[str, tuple[Any, list[Any]]] = {
    "zarrsCffiCreateStorageFilesystem": (ctypes.c_int32, [ctypes.c_char_p, _PVP]),
    "zarrsCffiOpenArray": (ctypes.c_int32, [_VP, ctypes.c_char_p, _PVP]),
    "zarrsCffiArrayRetrieveSubsetInto": (
        ctypes.c_int32,
        [_VP, ctypes.c_size_t, _U64P, _U64P, ctypes.c_size_t, _VP],
    ),
    "zarrsCffiArrayStoreChunk": (ctypes.c_int32, [_VP, ctypes.c_size_t, _U64P, ctypes.c_size_t, _VP]),
    "zarrsCffiArrayEraseChunk": (ctypes.c_int32, [_VP, ctypes.c_size_t, _U64P]),
    "zarrsCffiLastError": (_VP, []),
    "zarrsCffiVersion": (_VP, []),
    "zarrsArrayGetDimensionality": (ctypes.c_int32, [_VP, ctypes.POINTER(ctypes.c_size_t)]),
    "zarrsDestroyArray": (ctypes.c_int32, [_VP]),
    "zarrsCffiDestroyArray": (ctypes.c_int32, [_VP]),
    "zarrsCffiDestroyStorage": (ctypes.c_int32, [_VP]),
    "zarrsDestroyStorage": (ctypes.c_int32, [_VP]),
    "zarrsFreeString": (ctypes.c_int32, [_VP]),
}


class CSide:
    """The shipped library through ctypes: what an embedding C program (or another FFI) calls.

    ``ctypes.CDLL(zarrs_cffi.get_library())`` opens the very file the cffi module linked against,
    so the dynamic loader hands back the already-loaded instance: one library, shared state.
    """

    def __init__(self) -> None:
        self.lib = ctypes.CDLL(zarrs_cffi.get_library())
        for name, (restype, argtypes) in _SIGNATURES.items():
            fn = getattr(self.lib, name)
            fn.restype = restype
            fn.argtypes = argtypes

    @staticmethod
    def u64(values: list[int]) -> Any:
        return (ctypes.c_uint64 * max(len(values), 1))(*values)

    def last_error(self) -> str:
        ptr = self.lib.zarrsCffiLastError()
        try:
            return ctypes.string_at(ptr).decode()
        finally:
            self.lib.zarrsFreeString(ptr)

    def open_array(self, root: str | os.PathLike[str], node: str = "/") -> int:
        """Open an array entirely on the C side; returns the ``ZarrsArray`` address (caller owns)."""
        storage = ctypes.c_void_p()
        rc = self.lib.zarrsCffiCreateStorageFilesystem(os.fspath(root).encode(), ctypes.byref(storage))
        assert rc == 0, self.last_error()
        array = ctypes.c_void_p()
        try:
            rc = self.lib.zarrsCffiOpenArray(storage, node.encode(), ctypes.byref(array))
            assert rc == 0, self.last_error()
        finally:
            self.lib.zarrsCffiDestroyStorage(storage)  # the array keeps its own reference to the store
        assert array.value
        return int(array.value)

    def read(self, address: int, start: list[int], shape: list[int], dtype: Any) -> np.ndarray:
        out = np.empty(shape, dtype)
        rc = self.lib.zarrsCffiArrayRetrieveSubsetInto(
            address, len(shape), self.u64(start), self.u64(shape), out.nbytes, out.ctypes.data
        )
        if rc:
            raise AssertionError(f"C read failed with {rc}: {self.last_error()}")
        return out

    def store_chunk(self, address: int, coords: list[int], data: np.ndarray) -> None:
        data = np.ascontiguousarray(data)
        rc = self.lib.zarrsCffiArrayStoreChunk(
            address, len(coords), self.u64(coords), data.nbytes, data.ctypes.data
        )
        if rc:
            raise AssertionError(f"C write failed with {rc}: {self.last_error()}")

    def destroy_array(self, address: int) -> None:
        assert self.lib.zarrsCffiDestroyArray(address) == 0


@pytest.fixture(scope="session")
def cside() -> CSide:
    return CSide()


# --- arrays -------------------------------------------------------------------------------------------
ARANGE = np.arange(64, dtype="uint16").reshape(8, 8)


@pytest.fixture
def arange_zarr(tmp_path: pathlib.Path) -> str:
    """An 8x8 uint16 array, 4x4 chunks, zstd, holding arange(64) (written by zarrs_cffi)."""
    path = str(tmp_path / "arange.zarr")
    with zarrs_cffi.create_array(path, shape=(8, 8), dtype="uint16", chunks=(4, 4)) as arr:
        arr[...] = ARANGE
    return path


# --- subprocesses ---------------------------------------------------------------------------------
def run_python(
    code: str,
    *args: str,
    timeout: float = 60,
    cwd: str | os.PathLike[str] | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (this venv); a crash shows up as a signal return code."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [PYTHON, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=full_env,
    )


def json_lines(stdout: str) -> Iterator[dict[str, Any]]:
    for line in stdout.splitlines():
        if line.startswith("{"):
            yield json.loads(line)
