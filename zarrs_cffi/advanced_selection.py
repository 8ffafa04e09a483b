"""Selections beyond numpy basic indexing, as zarr-python defines them: orthogonal (``oindex``),
coordinate and mask (``vindex``) and chunk-block (``blocks``). Pure: a selection and a shape in, a
normalized selection out; no I/O (``chunk_plan`` decides what to read, ``chunked_io`` reads it).

Orthogonal selections index each axis independently, so the result is the outer product::

    >>> sel = normalize_orthogonal(([3, 0, 3], slice(None, None, 2)), (4, 5))
    >>> sel.out_shape, sel.axes[1]
    ((3, 3), range(0, 5, 2))
    >>> import numpy as np
    >>> a = np.arange(20).reshape(4, 5)
    >>> a[np.ix_([3, 0, 3], [0, 2, 4])].tolist() == a[[3, 0, 3]][:, ::2].tolist()
    True

Errors: an index of the wrong type raises :class:`IndexTypeError` (an IndexError and a TypeError);
an index outside the array, a mask of the wrong length and arrays of the wrong shape raise
:class:`InvalidIndicesError` (an IndexError).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any, Union

import numpy as np
from numpy.typing import NDArray

from ._compat import DATACLASS_SLOTS
from .errors import IndexTypeError, InvalidArgumentError, InvalidIndicesError
from .selection import Selection, normalize_selection, type_name

__all__ = [
    "AxisIndex",
    "ascending_run",
    "CoordinateSelection",
    "OrthogonalSelection",
    "is_advanced",
    "normalize_blocks",
    "normalize_coordinates",
    "normalize_orthogonal",
    "orthogonal_from_basic",
]

# The indices one axis selects, in output order: a range (ints and slices: never materialized, so
# a[::2**39] of a (2**40,) array costs nothing) or a 1-D intp array (integer arrays and masks).
AxisIndex = Union[range, NDArray[np.intp]]

_ARRAY_LIKE = (list, tuple, np.ndarray)


@dataclass(frozen=True, **DATACLASS_SLOTS)
class OrthogonalSelection:
    """One :data:`AxisIndex` per array axis; ``dropped`` marks axes indexed by a single integer
    (absent from the result, as in numpy).

    >>> s = normalize_orthogonal((1, [2, 0]), (3, 4))
    >>> s.keepdims_shape, s.out_shape, s.dropped
    ((1, 2), (2,), (True, False))
    """

    axes: tuple[AxisIndex, ...]
    dropped: tuple[bool, ...]

    @property
    def keepdims_shape(self) -> tuple[int, ...]:
        """The result's shape with dropped axes kept as size 1 (what the chunk plan works in)."""
        return tuple(len(ax) for ax in self.axes)

    @property
    def out_shape(self) -> tuple[int, ...]:
        """The result's shape (dropped axes removed)."""
        return tuple(len(ax) for ax, d in zip(self.axes, self.dropped) if not d)

    @property
    def is_empty(self) -> bool:
        """True when nothing is selected (no read or write is needed)."""
        return 0 in self.keepdims_shape

    def box(self) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
        """``(start, shape)`` when every axis selects one ascending run of consecutive indices, so
        the result is a box decoded by one native call straight into ``out``; otherwise None.

        >>> normalize_orthogonal(([4, 5, 6], 1), (8, 8)).box()
        ((4, 1), (3, 1))
        """
        start: list[int] = []
        shape: list[int] = []
        for ax in self.axes:
            run = ascending_run(ax)
            if run is None:
                return None
            start.append(run[0])
            shape.append(run[1])
        return tuple(start), tuple(shape)


@dataclass(frozen=True, **DATACLASS_SLOTS)
class CoordinateSelection:
    """Points, as one flat intp array of indices per axis (all of one length), and the shape the
    result has (the broadcast shape of the coordinate arrays, or ``(count,)`` for a mask)."""

    coords: tuple[NDArray[np.intp], ...]
    out_shape: tuple[int, ...]

    @property
    def is_empty(self) -> bool:
        """True if the selection selects no element."""
        return 0 in self.out_shape


def ascending_run(ax: AxisIndex) -> tuple[int, int] | None:
    """(first, count) if ``ax`` selects first, first+1, ... in this order, else None."""
    n = len(ax)
    if n == 0:
        return None
    if isinstance(ax, range):
        return (ax.start, n) if ax.step == 1 or n == 1 else None
    first = int(ax[0])
    if int(ax[-1]) - first != n - 1:
        return None
    return (first, n) if n <= 2 or bool(np.all(np.diff(ax) == 1)) else None


def is_advanced(selection: object) -> bool:
    """True if ``selection`` holds an array-like index (a list, tuple or ndarray, as the whole
    selection or inside its tuple): orthogonal, not basic, indexing.

    >>> is_advanced((slice(None), [1, 2])), is_advanced((slice(None), 1))
    (True, False)
    """
    items = selection if type(selection) is tuple else (selection,)
    return any(isinstance(item, _ARRAY_LIKE) for item in items)


def orthogonal_from_basic(sel: Selection) -> OrthogonalSelection:
    """The same selection as per-axis ranges (how strided basic selections are read chunk by chunk).

    >>> orthogonal_from_basic(normalize_selection((slice(None, None, -3), 2), (8, 8))).axes
    (range(7, 0, -3), range(2, 3))
    """
    axes: list[AxisIndex] = []
    for b, n, st, c in zip(sel.start, sel.shape, sel.step, sel.count):
        if c == 0:
            axes.append(range(0))
        elif st > 0:
            axes.append(range(b, b + n, st))
        else:
            axes.append(range(b + n - 1, b - 1, st))  # a range never wraps around, unlike a slice
    return OrthogonalSelection(tuple(axes), sel.dropped)


def _expand(selection: object, ndim: int, what: str) -> list[Any]:
    """The selection's items with its one Ellipsis (if any) expanded, padded to ``ndim`` with ``:``."""
    items = selection if type(selection) is tuple else (selection,)
    keys: list[Any] = []
    ellipsis_at = -1
    for item in items:
        if item is Ellipsis:
            if ellipsis_at >= 0:
                raise InvalidIndicesError("an index can only have a single ellipsis ('...')")
            ellipsis_at = len(keys)
        else:
            keys.append(item)
    if len(keys) > ndim:
        raise InvalidIndicesError(
            f"too many indices for {what}: array is {ndim}-dimensional, but {len(keys)} were indexed"
        )
    pad = [slice(None)] * (ndim - len(keys))
    if ellipsis_at >= 0:
        keys[ellipsis_at:ellipsis_at] = pad
    else:
        keys.extend(pad)
    return keys


_EXPECTED = "an integer, a slice, an integer array or a boolean array"


def _integer(item: object, what: str, expected: str = _EXPECTED) -> int:
    """An integer index (Python or numpy int, or anything with __index__ but bool)."""
    if isinstance(item, (bool, np.bool_)):
        raise IndexTypeError(f"{what} takes integers, not booleans, as single indices; got {type_name(item)}")
    try:
        return operator.index(item)  # type: ignore[arg-type]
    except TypeError:
        extra = " (np.newaxis/None is not supported)" if item is None else ""
        raise IndexTypeError(
            f"unsupported index for {what}: expected {expected}, got {type_name(item)}{extra}"
        ) from None


def _as_index_array(item: Any, what: str) -> NDArray[Any]:
    """``item`` (list, tuple or ndarray) as an ndarray of integers or booleans."""
    if isinstance(item, np.ndarray):
        arr = item
    else:
        try:
            arr = np.asarray(item)
        except (TypeError, ValueError) as exc:
            raise IndexTypeError(
                f"{what}: {type_name(item)} index is not a valid index array: {exc}"
            ) from None
        if arr.size == 0 and arr.dtype == np.float64:
            arr = arr.astype(np.intp)  # [] means "no index", as in numpy (asarray makes it float)
    if arr.dtype != np.bool_ and arr.dtype.kind not in "iu":
        raise IndexTypeError(
            f"{what}: arrays used as indices must be of integer or boolean type, got {arr.dtype}"
        )
    return arr


def _checked_indices(arr: NDArray[Any], n: int, axis: int) -> NDArray[np.intp]:
    """Integer indices wrapped (negative count from the end) and bounds-checked, as a new intp
    array of the same shape (the caller's array is never modified)."""
    if arr.size == 0:
        return np.zeros(arr.shape, np.intp)
    lo, hi = int(arr.min()), int(arr.max())
    if lo < -n or hi >= n:
        bad = lo if lo < -n else hi
        raise InvalidIndicesError(f"index {bad} is out of bounds for axis {axis} with size {n}")
    if lo >= 0:
        return arr.astype(np.intp, copy=False)
    out = arr.astype(np.intp, copy=True)  # never modify the caller's array
    out[out < 0] += n
    return out


def normalize_orthogonal(selection: object, shape: tuple[int, ...]) -> OrthogonalSelection:
    """Normalize an orthogonal selection (``oindex``): per axis an integer, a slice, an integer
    array or list (any order, repeats, negative values count from the end) or a 1-D boolean mask of
    the axis' length; one Ellipsis; missing trailing axes mean ``:``.

    Slices may have any non-zero step, negative too (numpy's meaning; zarr-python only takes
    positive steps).

    >>> s = normalize_orthogonal((Ellipsis, [True, False, True]), (2, 3))
    >>> s.axes[0], s.axes[1].tolist()
    (range(0, 2), [0, 2])
    """
    what = "orthogonal indexing"
    keys = _expand(selection, len(shape), what)
    axes: list[AxisIndex] = []
    dropped: list[bool] = []
    # Two passes, so that a wrong type is reported before any bounds problem, wherever it sits.
    typed: list[int | slice | NDArray[Any]] = []
    for key in keys:
        if type(key) is slice:
            typed.append(key)
        elif isinstance(key, _ARRAY_LIKE):
            arr = _as_index_array(key, what)
            typed.append(int(arr) if arr.ndim == 0 and arr.dtype != np.bool_ else arr)
        else:
            typed.append(_integer(key, what))
    for axis, (key, n) in enumerate(zip(typed, shape)):
        if isinstance(key, slice):
            if key.step == 0:
                raise InvalidArgumentError("slice step cannot be zero")
            axes.append(range(*_slice_indices(key, n, what)))
            dropped.append(False)
        elif isinstance(key, int):
            j = key + n if key < 0 else key
            if not 0 <= j < n:
                raise InvalidIndicesError(f"index {key} is out of bounds for axis {axis} with size {n}")
            axes.append(range(j, j + 1))
            dropped.append(True)
        elif key.dtype == np.bool_:
            if key.ndim != 1:
                raise InvalidIndicesError(
                    f"boolean arrays in an orthogonal selection must be 1-dimensional, got shape {key.shape}"
                )
            if key.shape[0] != n:
                raise InvalidIndicesError(
                    f"boolean index of length {key.shape[0]} does not match axis {axis} of size {n}"
                )
            axes.append(np.flatnonzero(key).astype(np.intp, copy=False))
            dropped.append(False)
        else:
            if key.ndim != 1:
                raise InvalidIndicesError(
                    f"integer arrays in an orthogonal selection must be 1-dimensional, got shape {key.shape}"
                )
            axes.append(_checked_indices(key, n, axis))
            dropped.append(False)
    return OrthogonalSelection(tuple(axes), tuple(dropped))


def _slice_indices(key: slice, n: int, what: str) -> tuple[int, int, int]:
    try:
        return key.indices(n)
    except TypeError:
        raise IndexTypeError(f"{what}: slice bounds must be integers or None, got {key!r}") from None


def normalize_coordinates(selection: object, shape: tuple[int, ...]) -> CoordinateSelection:
    """Normalize a vectorized selection (``vindex``): either one integer array (or int) per axis,
    broadcast together, selecting the points they name (result: their broadcast shape; ``(1,)``
    when all are ints, as in zarr-python), or one boolean mask of the array's shape (result: the
    selected elements in C order).

    >>> s = normalize_coordinates(([0, 2], [1, 1]), (3, 3))
    >>> [c.tolist() for c in s.coords], s.out_shape
    ([[0, 2], [1, 1]], (2,))
    """
    what = "vectorized indexing (vindex)"
    ndim = len(shape)
    if ndim == 0:
        raise InvalidIndicesError(
            "vindex needs an array with at least one dimension; use read() for a 0-d array"
        )
    items = selection if type(selection) is tuple else (selection,)
    if len(items) == 1 and isinstance(items[0], _ARRAY_LIKE):
        arr = _as_index_array(items[0], what)
        if arr.dtype == np.bool_:
            if arr.shape != tuple(shape):
                raise InvalidIndicesError(
                    f"a vindex mask must have the array's shape {tuple(shape)}, got {arr.shape}"
                )
            coords = tuple(c.astype(np.intp, copy=False) for c in np.nonzero(arr))
            return CoordinateSelection(coords, (len(coords[0]),))
    if len(items) != ndim:
        raise InvalidIndicesError(
            f"vindex needs one integer array per dimension ({ndim}) or one boolean mask of shape "
            f"{tuple(shape)}, got {len(items)} index{'es' if len(items) != 1 else ''}"
        )
    arrays: list[NDArray[Any]] = []
    for item in items:
        if isinstance(item, _ARRAY_LIKE):
            arr = _as_index_array(item, what)
            if arr.dtype == np.bool_:
                raise IndexTypeError(
                    f"{what}: a boolean array must be the only index (a mask of the array's shape)"
                )
            arrays.append(arr)
        elif isinstance(item, slice) or item is Ellipsis:
            raise IndexTypeError(
                f"{what} takes one integer array per dimension or one boolean mask, not slices or "
                "Ellipsis; use oindex for orthogonal selections with slices"
            )
        else:
            arrays.append(np.asarray(_integer(item, what)))
    checked = [_checked_indices(a, n, axis) for axis, (a, n) in enumerate(zip(arrays, shape))]
    try:
        broadcast = np.broadcast_arrays(*checked)
    except ValueError:
        shapes = ", ".join(str(a.shape) for a in checked)
        raise InvalidIndicesError(
            f"vindex coordinate arrays of shapes {shapes} cannot be broadcast together"
        ) from None
    out_shape = broadcast[0].shape or (1,)
    return CoordinateSelection(tuple(np.ravel(b) for b in broadcast), out_shape)


def normalize_blocks(selection: object, shape: tuple[int, ...], chunk_shape: tuple[int, ...]) -> Selection:
    """Translate a block selection (``blocks``: integers and step-1 slices in units of chunks) into
    the basic selection of the elements those chunks hold, as zarr-python does: an integer keeps
    its axis (one block), negative values count chunks from the end, and a block that starts at or
    beyond the array's end raises InvalidIndicesError.

    >>> normalize_blocks((1, slice(-2, None)), (10, 10), (4, 3)).to_slices()
    (slice(4, 8, 1), slice(6, 10, 1))
    """
    what = "block indexing (blocks)"
    keys = _expand(selection, len(shape), what)
    slices: list[slice] = []
    for axis, (key, n, c) in enumerate(zip(keys, shape, chunk_shape)):
        nchunks = -(-n // c)
        if type(key) is slice:
            if key.step not in (None, 1):
                raise IndexTypeError(f"{what} takes slices with step 1 only, got {key!r}")
            bounds = [key.start, key.stop]
            for i, b in enumerate(bounds):
                if b is not None:
                    b = _integer(b, what, "integers or None as slice bounds")
                    bounds[i] = b + nchunks if b < 0 else b
            start = 0 if bounds[0] is None else bounds[0]
            stop = nchunks if bounds[1] is None else bounds[1]
        elif isinstance(key, _ARRAY_LIKE):
            raise IndexTypeError(f"{what} takes integers and slices, got {type_name(key)}")
        else:
            key = _integer(key, what, "an integer or a slice")
            start = key + nchunks if key < 0 else key
            stop = start + 1
        if not 0 <= start < nchunks:
            raise InvalidIndicesError(f"block {key} is out of bounds for axis {axis} with {nchunks} blocks")
        slices.append(slice(start * c, max(start, min(stop, nchunks)) * c))
    return normalize_selection(tuple(slices), shape)
