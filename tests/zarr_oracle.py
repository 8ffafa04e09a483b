"""Helpers for the foundation tests: arrays written by zarr-python (the oracle), numpy comparisons,
numpy basic selections to try, and a subprocess runner for inputs that could abort the process."""

from __future__ import annotations

import itertools
import os
import pathlib
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
from s3_paths import zarr_store_at

# The contents of the ``arange_path`` fixture (8x8 uint16, 4x4 chunks).
ARANGE_8X8 = np.arange(64, dtype="uint16").reshape(8, 8)

# Every data type zarrs_cffi supports, as numpy names.
DTYPES = [
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
    "complex64",
    "complex128",
]


class _Ix:
    """``IX[...]`` returns the key itself, so selections can be written in subscript syntax."""

    def __getitem__(self, key: Any) -> Any:
        return key


IX = _Ix()

# Basic selections for a 2-D array of shape (10, 7): ints (incl. negative), slices with steps (incl.
# negative, empty and clamped), Ellipsis and short tuples, numpy integer scalars.
SELECTIONS_2D: list[Any] = [
    IX[()],
    IX[...],
    IX[0],
    IX[-1],
    IX[3],
    IX[2, 5],
    IX[-1, -1],
    IX[-10, 0],
    IX[9, -7],
    IX[:],
    IX[2:9],
    IX[::2],
    IX[::-1],
    IX[8:1:-3],
    IX[-3:],
    IX[:100],
    IX[5:2],
    IX[1:9:3, ::-2],
    IX[..., 2],
    IX[2, ...],
    IX[..., 1:6:2],
    IX[:, -3],
    IX[-1:-11:-1, 6:0:-4],
    IX[(4,)],
    IX[0:0, 3],
    IX[3:4, 4:5],
    IX[1:2, ::3],
    IX[np.int64(3)],
    IX[np.int32(-2), :],
    IX[::-4, np.uint8(6)],
    IX[4:, 3:],
]


ZARR_MISSING = "needs zarr-python 3 (the oracle), which is not installed (it needs Python 3.11+)"


def import_zarr_or_skip() -> Any:
    """zarr-python (the oracle), or skip the calling test where it is missing: it needs Python 3.11+,
    and the core suite also runs on older interpreters (make test-legacy)."""
    import pytest

    return pytest.importorskip("zarr", reason=ZARR_MISSING)


def sel_id(selection: Any) -> str:
    """A readable pytest id for a selection."""
    return repr(selection).replace(" ", "")


def sample_data(dtype: Any, shape: Sequence[int], seed: int = 0) -> np.ndarray:
    """Distinctive values of ``dtype`` (native-endian): full integer ranges, NaN/inf for floats."""
    dt = np.dtype(dtype).newbyteorder("=")
    rng = np.random.default_rng(seed)
    shape = tuple(shape)
    if dt.kind == "b":
        return rng.integers(0, 2, size=shape).astype(bool)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return rng.integers(info.min, info.max, size=shape, dtype=dt, endpoint=True)
    if dt.kind == "f":
        data = (rng.standard_normal(shape) * 1000).astype(dt)
        flat = data.reshape(-1)
        if flat.size >= 3:
            flat[0], flat[1], flat[2] = np.nan, np.inf, -0.0
        return data
    real = rng.standard_normal(shape) * 1000
    imag = rng.standard_normal(shape) * 1000
    data = (real + 1j * imag).astype(dt)
    flat = data.reshape(-1)
    if flat.size >= 2:
        flat[0] = complex(np.nan, 1.0)
        flat[1] = complex(-np.inf, 2.5)
    return data


def zarr_write(
    path: pathlib.Path | str,
    data: np.ndarray,
    *,
    chunks: Sequence[int],
    region: Any = ...,
    **kwargs: Any,
) -> np.ndarray:
    """Write ``data[region]`` into a new zarr-python array at ``path`` (the rest stays unwritten:
    missing chunks) and return what zarr-python reads back: the expected contents."""
    import zarr  # here: the helpers without zarr-python also serve the legacy interpreters' suite

    z = zarr.create_array(
        store=zarr_store_at(path),
        shape=data.shape,
        dtype=kwargs.pop("dtype", data.dtype),
        chunks=tuple(chunks),
        **kwargs,
    )
    if region is not None:
        z[region] = data[region]
    return np.asarray(z[...])


def assert_same(actual: Any, expected: Any) -> None:
    """``actual`` is a native-endian ndarray of ``expected``'s dtype with equal values (NaNs equal)."""
    expected = np.asarray(expected)
    assert isinstance(actual, np.ndarray), f"result is {type(actual).__name__}, not an ndarray"
    native = expected.dtype.newbyteorder("=")
    assert actual.dtype == native, f"dtype {actual.dtype} != {native}"
    assert actual.dtype.isnative, f"result dtype {actual.dtype.str} is not native-endian"
    assert_values(actual, expected)


def assert_values(actual: np.ndarray, expected: np.ndarray) -> None:
    """Equal shapes and values (any byte order); NaNs compare equal, and so do the signs of zeros."""
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape}"
    nan_ok = expected.dtype.kind in "fc"
    if not np.array_equal(actual, expected, equal_nan=nan_ok):
        same = actual == expected
        if nan_ok:
            same |= np.isnan(actual) & np.isnan(expected)
        raise AssertionError(
            f"values differ at {np.argwhere(~same)[:5].tolist()}: {actual!r} != {expected!r}"
        )
    if expected.dtype.kind == "f":
        # -0.0 == 0.0, so compare the sign bits too.
        assert np.array_equal(np.signbit(actual), np.signbit(expected)), "signs of zeros differ"


def chunk_indices(grid: Sequence[int]) -> Iterator[tuple[int, ...]]:
    return itertools.product(*(range(n) for n in grid))


def padded_chunk(
    full: np.ndarray, coords: Sequence[int], chunk_shape: Sequence[int], fill: Any
) -> np.ndarray:
    """The chunk at ``coords`` as zarr stores it: the array's region, padded with ``fill`` past the
    array's edge, at the full chunk shape."""
    out = np.full(tuple(chunk_shape), fill, dtype=full.dtype.newbyteorder("="))
    region = tuple(slice(c * n, min((c + 1) * n, s)) for c, n, s in zip(coords, chunk_shape, full.shape))
    inner = tuple(slice(0, r.stop - r.start) for r in region)
    out[inner] = full[region]
    return out


def run_python(code: str, *args: str, timeout: float = 120, env: dict[str, str] | None = None) -> Any:
    """Run ``code`` in a fresh interpreter (so an abort or crash fails only that run)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def stored_file_bytes(root: pathlib.Path | str) -> int:
    """Bytes of every file below ``root``."""
    total = 0
    for dirpath, _, files in os.walk(root):
        total += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
    return total


def run_forked_child(target: Callable[[Any], None], what: str) -> None:
    """Run ``target(queue)`` in a ``fork``-ed child; fail unless it exits cleanly within a minute
    and puts True on the queue. ``what`` names the work in the failure message."""
    import multiprocessing

    import pytest

    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=target, args=(queue,))
    try:
        child.start()
        child.join(60)
        if child.is_alive():
            child.kill()
            child.join(10)
            pytest.fail(f"the forked child hung {what}")
        assert child.exitcode == 0
        assert queue.get(timeout=10) is True
    finally:
        queue.close()
