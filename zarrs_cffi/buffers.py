"""The checks on a caller's output buffer, shared by ``Array.read_into`` and every CRUD engine so
that all of them reject a bad ``out`` with the same error, naming the check that failed."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import DataTypeMismatchError, NotAnArrayError, OutputBufferError


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
