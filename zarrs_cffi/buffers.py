"""Checks on a caller's output buffer and on values to write, shared by ``Array`` and every CRUD
engine so that all of them reject bad input with the same error, naming what was wrong."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import DataTypeMismatchError, InvalidArgumentError, NotAnArrayError, OutputBufferError


def check_out_buffer(out: Any, dtype: np.dtype[Any], shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
    """Return ``out`` if it can receive a result of ``dtype`` and ``shape`` in place.

    Checked in this order: a numpy.ndarray (NotAnArrayError), the dtype (DataTypeMismatchError, a
    TypeError), the shape, C-contiguity, writability (OutputBufferError, a ValueError).
    """
    if not isinstance(out, np.ndarray):
        raise NotAnArrayError(f"out must be a numpy.ndarray, got {type(out).__name__}")
    if out.dtype != dtype:
        raise DataTypeMismatchError(f"out has dtype {out.dtype}, the array's dtype is {dtype}")
    if out.shape != tuple(shape):
        raise OutputBufferError(f"out has shape {out.shape}, the selection's result has shape {tuple(shape)}")
    if not out.flags.c_contiguous:
        raise OutputBufferError("out is not C-contiguous; pass a C-contiguous array (np.ascontiguousarray)")
    if not out.flags.writeable:
        raise OutputBufferError("out is read-only; pass a writable array")
    return out


# numpy 1.x only warns (DeprecationWarning) about a Python int out of the dtype's range and wraps it
# around; numpy 2 raises OverflowError. region_value gives both the numpy 2 behaviour.
_NUMPY_1 = int(np.__version__.split(".")[0]) < 2


def _check_python_ints_in_range(value: Any, dtype: np.dtype[Any]) -> None:
    """Raise InvalidArgumentError if ``value`` (not a numpy array or scalar: those are cast, wrapping,
    as numpy assignment does) holds integers outside ``dtype``'s range."""
    if isinstance(value, (np.ndarray, np.generic)):
        return
    try:
        probe = np.asarray(value)
    except (TypeError, ValueError, OverflowError):
        return  # np.asarray(value, dtype) reports it below
    if probe.dtype.kind not in "iu" or probe.size == 0:
        return  # floats, bools, complex: cast as numpy does; huge ints (object): OverflowError below
    info = np.iinfo(dtype)
    lowest, highest = int(probe.min()), int(probe.max())
    if lowest < info.min or highest > info.max:
        bad = lowest if lowest < info.min else highest
        raise InvalidArgumentError(
            f"data cannot be converted to {dtype}: Python integer {bad} out of bounds for {dtype}"
        )


def cast_value(value: Any, dtype: np.dtype[Any]) -> np.ndarray[Any, Any]:
    """``value`` as an array of ``dtype``, cast like numpy assignment (``a[...] = value``).

    Failures, including a Python int out of the dtype's range (which numpy assignment rejects), raise
    InvalidArgumentError (a ValueError). Region and chunk writes both cast through here, so one
    value is accepted or refused alike by every write.

    >>> cast_value([1, 2], np.dtype("u1")).dtype
    dtype('uint8')
    """
    if _NUMPY_1 and dtype.kind in "iu":
        _check_python_ints_in_range(value, dtype)
    try:
        # np.asarray(value, dtype) casts as ``a[...] = value`` does: a Python int out of range is an
        # error (OverflowError in numpy), where asarray(value).astype(dtype) would wrap it around.
        return np.asarray(value, dtype=dtype)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidArgumentError(f"data cannot be converted to {dtype}: {exc}") from None


def region_value(value: Any, dtype: np.dtype[Any], shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
    """``value`` cast to ``dtype`` like numpy assignment and broadcast to ``shape`` (a read-only view).

    Failures, including a Python int out of the dtype's range (which numpy assignment rejects), raise
    InvalidArgumentError (a ValueError), as the native engine's region writes do.

    >>> region_value(3, np.dtype("u1"), (2, 2)).shape
    (2, 2)
    >>> region_value([[[1, 2]]], np.dtype("u1"), (2,)).tolist()
    [1, 2]
    """
    arr = cast_value(value, dtype)
    extra = arr.ndim - len(shape)
    # (not into one element, shape (): numpy refuses "an array element with a sequence" there)
    if extra > 0 and shape and all(n == 1 for n in arr.shape[:extra]):
        arr = arr.reshape(arr.shape[extra:])  # leading length-1 axes, as numpy assignment drops them
    try:
        return np.broadcast_to(arr, shape)
    except ValueError:
        raise InvalidArgumentError(
            f"data of shape {arr.shape} cannot be broadcast to the region's shape {shape}"
        ) from None


def chunk_value(value: Any, dtype: np.dtype[Any], chunk_shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
    """``value`` as one whole chunk: C-contiguous, of ``dtype`` and exactly ``chunk_shape`` (no
    broadcasting), cast as :func:`cast_value` casts region writes.

    A wrong shape or a value the dtype cannot hold raises InvalidArgumentError (a ValueError).

    >>> chunk_value([[1, 2]], np.dtype("u1"), (1, 2)).tolist()
    [[1, 2]]
    """
    chunk_shape = tuple(chunk_shape)
    try:
        arr = cast_value(value, dtype)
    except InvalidArgumentError:
        # Of a value both misshapen and uncastable (a str for a chunk), the shape is the likelier
        # mistake: name it first.
        _check_chunk_shape(_shape_or_none(value), chunk_shape)
        raise
    _check_chunk_shape(arr.shape, chunk_shape)
    # Not np.ascontiguousarray: it turns a 0-d array (the chunk of a 0-d array) into shape (1,).
    return np.asarray(arr, order="C")


def _shape_or_none(value: Any) -> tuple[int, ...] | None:
    """numpy's shape of ``value``, or None if numpy cannot make an array of it (a ragged list)."""
    try:
        return tuple(np.shape(value))
    except (TypeError, ValueError):
        return None


def _check_chunk_shape(shape: tuple[int, ...] | None, chunk_shape: tuple[int, ...]) -> None:
    if shape is not None and shape != chunk_shape:
        raise InvalidArgumentError(
            f"chunk data has shape {shape}, chunks of this array have shape {chunk_shape}"
        )


def allocate_result(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A new result buffer; a size numpy cannot allocate raises a typed error saying how large."""
    try:
        return np.empty(shape, dtype)
    except (ValueError, MemoryError) as exc:
        nbytes = math.prod(shape) * dtype.itemsize
        raise InvalidArgumentError(
            f"a result of shape {tuple(shape)} and dtype {dtype} needs {nbytes} bytes, which cannot be "
            f"allocated ({type(exc).__name__}: {exc}); read a smaller region or into your own buffer"
        ) from None
