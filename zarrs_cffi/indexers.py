"""``Array.oindex``, ``Array.vindex`` and ``Array.blocks``: zarr-python's indexing accessors.

Each is a thin view of its array: ``__getitem__`` normalizes the selection (``advanced_selection``)
and reads it into a new array, ``__setitem__`` writes; the array does the chunked I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .advanced_selection import (
    CoordinateSelection,
    OrthogonalSelection,
    normalize_blocks,
    normalize_coordinates,
    normalize_orthogonal,
)
from .buffers import allocate_result, region_value
from .selection import Selection

if TYPE_CHECKING:
    from .array import Array

__all__ = ["BlockIndex", "OrthogonalIndex", "VectorizedIndex"]


class _Accessor:
    """A view of one array: selections are normalized by ``_normalize``, read by ``_read_into``
    into a new array and written by ``_write`` (hooks the subclasses name)."""

    __slots__ = ("_array",)

    def __init__(self, array: Array) -> None:
        self._array = array

    def _prepare(self, writing: bool) -> Array:
        array = self._array
        array._check_open()
        if writing:
            array._check_writable()
        return array

    def _normalize(self, selection: Any, array: Array) -> Any:
        raise NotImplementedError

    def _read_into(self, array: Array, out: np.ndarray, sel: Any) -> None:
        raise NotImplementedError

    def _write(self, array: Array, sel: Any, value: np.ndarray) -> None:
        raise NotImplementedError

    def __getitem__(self, selection: Any) -> np.ndarray:
        array = self._prepare(writing=False)
        sel = self._normalize(selection, array)
        out = allocate_result(sel.out_shape, array.dtype)
        self._read_into(array, out, sel)
        return out

    def __setitem__(self, selection: Any, value: Any) -> None:
        array = self._prepare(writing=True)
        sel = self._normalize(selection, array)
        self._write(array, sel, region_value(value, array.dtype, sel.out_shape))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._array!r}>"


class OrthogonalIndex(_Accessor):
    """``arr.oindex[selection]``: orthogonal selection (see :attr:`Array.oindex`).

    >>> arr = zarrs_cffi.open_array("data.zarr", "/temperature")
    >>> arr.oindex[[3, 1], :3, [True] + [False] * 7].shape   # rows 3, 1; first 3 columns; layer 0
    (2, 3, 1)
    """

    __slots__ = ()

    def _normalize(self, selection: Any, array: Array) -> OrthogonalSelection:
        return normalize_orthogonal(selection, array.shape)

    def _read_into(self, array: Array, out: np.ndarray, sel: OrthogonalSelection) -> None:
        array._read_orthogonal_into(out, sel)

    def _write(self, array: Array, sel: OrthogonalSelection, value: np.ndarray) -> None:
        array._write_orthogonal(sel, value)


class VectorizedIndex(_Accessor):
    """``arr.vindex[selection]``: coordinate or mask selection (see :attr:`Array.vindex`).

    >>> arr = zarrs_cffi.open_array("data.zarr", "/temperature")
    >>> arr.vindex[[0, 2, 4], [1, 1, 3], [0, 0, 7]].shape   # three points
    (3,)
    """

    __slots__ = ()

    def _normalize(self, selection: Any, array: Array) -> CoordinateSelection:
        return normalize_coordinates(selection, array.shape)

    def _read_into(self, array: Array, out: np.ndarray, sel: CoordinateSelection) -> None:
        array._read_points_into(out, sel)

    def _write(self, array: Array, sel: CoordinateSelection, value: np.ndarray) -> None:
        array._write_points(sel, value)


class BlockIndex(_Accessor):
    """``arr.blocks[selection]``: chunk-block selection (see :attr:`Array.blocks`).

    >>> arr = zarrs_cffi.open_array("data.zarr", "/temperature")   # chunks of 256 x 256 x 8
    >>> arr.blocks[0, 1].shape   # the data of chunk (0, 1, 0)
    (256, 256, 8)
    """

    __slots__ = ()

    def _normalize(self, selection: Any, array: Array) -> Selection:
        return normalize_blocks(selection, array.shape, array.chunk_shape())

    def _read_into(self, array: Array, out: np.ndarray, sel: Selection) -> None:
        array.read_into(out, sel.to_slices())

    def _write(self, array: Array, sel: Selection, value: np.ndarray) -> None:
        array.write(sel.to_slices(), value)
