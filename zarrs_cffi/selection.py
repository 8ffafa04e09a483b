"""Turn a numpy *basic indexing* selection into the contiguous box a native region read needs.

The native library can only decode a contiguous, axis-aligned box (``start`` + ``shape``). Every basic
selection (ints, slices with any step, one Ellipsis) is a strided subset of such a box, so we read the
bounding box and then take a zero-copy view of it::

    >>> sel = normalize_selection((slice(None, None, -3), 2), (8, 8))
    >>> sel.start, sel.shape, sel.out_shape
    ((1, 2), (7, 1), (3,))
    >>> import numpy as np
    >>> a = np.arange(64).reshape(8, 8)
    >>> box = a[1:8, 2:3]                       # what the native call would decode
    >>> sel.from_box(box).tolist() == a[::-3, 2].tolist()
    True

numpy's semantics are the oracle; anything beyond basic indexing (lists, arrays, bool masks, None)
is rejected with InvalidSelectionError (a TypeError) rather than silently meaning something different.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._compat import DATACLASS_SLOTS, zip_strict
from .errors import (
    ChunkCoordsLengthError,
    ChunkCoordsTypeError,
    InvalidArgumentError,
    InvalidIndicesError,
    InvalidSelectionError,
)

__all__ = ["Selection", "normalize_selection"]

# Shared so padding does not allocate a new slice object per axis.
_FULL = slice(None)


@dataclass(frozen=True, **DATACLASS_SLOTS)
class Selection:
    """A normalized basic selection on an array of known shape.

    All tuples have one entry per *array* dimension (Ellipsis expanded, short tuples padded). An
    integer index appears as a dropped axis with ``shape == count == 1`` and ``step == 1``.

    >>> s = normalize_selection((3, slice(1, 8, 2)), (8, 8))
    >>> s.start, s.shape, s.step, s.count, s.dropped, s.out_shape
    ((3, 1), (1, 7), (1, 2), (1, 4), (True, False), (4,))
    """

    start: tuple[int, ...]
    shape: tuple[int, ...]
    step: tuple[int, ...]
    count: tuple[int, ...]
    dropped: tuple[bool, ...]
    out_shape: tuple[int, ...]

    @property
    def is_contiguous(self) -> bool:
        """True when the bounding box *is* the result (up to dropped size-1 axes): no striding needed.

        >>> normalize_selection((slice(2, 5), 1), (8, 8)).is_contiguous
        True
        """
        return all(st == 1 or c <= 1 for st, c in zip(self.step, self.count))

    @property
    def is_empty(self) -> bool:
        """True when the result has no elements (so no native read is needed).

        >>> normalize_selection(slice(3, 3), (8,)).is_empty
        True
        """
        return 0 in self.count

    @property
    def box_shape_keepdims(self) -> tuple[int, ...]:
        """Shape of the buffer to decode the bounding box into (same as ``shape``; dropped axes kept as 1).

        >>> normalize_selection((2, slice(None)), (4, 5)).box_shape_keepdims
        (1, 5)
        """
        return self.shape

    def from_box(self, box: NDArray[Any]) -> NDArray[Any]:
        """Return a view of ``box`` (the decoded bounding box) holding exactly ``array[selection]``.

        Unlike numpy, a selection of only ints gives a 0-d array view, not a scalar, so the result is
        always an ndarray sharing ``box``'s memory.

        >>> s = normalize_selection(slice(6, 1, -2), (8,))
        >>> s.from_box(np.arange(2, 7)).tolist()
        [6, 4, 2]
        """
        if box.shape != self.shape:
            raise ValueError(f"box has shape {box.shape}, expected {self.shape}")
        # The box starts at the lowest selected index and ends at the highest, and its extent is a
        # multiple of the step, so slice(None, None, step) hits exactly the selected elements in
        # order, for negative steps too (it starts at the box's last element, the first selected).
        idx: list[int | slice] = [0 if d else slice(None, None, st) for d, st in zip(self.dropped, self.step)]
        # The trailing Ellipsis keeps an all-int selection a 0-d view instead of a copied scalar.
        return box[(*idx, Ellipsis)]

    def to_slices(self) -> tuple[slice | int, ...]:
        """An equivalent selection on the full array: non-negative ints and slices, no Ellipsis.

        >>> normalize_selection((-1, slice(None, None, -1)), (4, 3)).to_slices()
        (3, slice(2, None, -1))
        """
        out: list[slice | int] = []
        for b, n, st, c, d in zip(self.start, self.shape, self.step, self.count, self.dropped):
            if d:
                out.append(b)
            elif c == 0:
                out.append(slice(0, 0, st))
            elif st > 0:
                out.append(slice(b, b + n, st))
            else:
                # Going down, the first selected index is the box's top; the stop is one below the
                # box, but -1 would wrap around, so use None when the box starts at 0.
                out.append(slice(b + n - 1, b - 1 if b > 0 else None, st))
        return tuple(out)


def type_name(item: object) -> str:
    """``item``'s type for error messages: ``int``, ``numpy.float64`` (module kept unless builtin)."""
    t = type(item)
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _unsupported(item: object) -> InvalidSelectionError:
    extra = " (np.newaxis/None is not supported)" if item is None else ""
    if isinstance(item, (list, tuple, np.ndarray)):
        # numpy's meaning of several index arrays (points) differs from zarr-python's orthogonal
        # one, so [] refuses them and names the explicit forms.
        extra = (
            "; for integer arrays and masks use arr.oindex[...] (orthogonal), arr.vindex[...] "
            "(points) or read_into (orthogonal)"
        )
    return InvalidSelectionError(
        "only integers, slices (`:`) and Ellipsis (`...`) are supported (basic indexing); "
        f"got {type_name(item)}{extra}"
    )


def _coerce(item: object) -> int:
    """Slow path for entries that are not a plain int/slice/Ellipsis: accept only int-likes."""
    # bool has __index__, but numpy treats True/False as a 0-d mask (adds an axis): refuse it
    # rather than silently meaning something different.
    if isinstance(item, (bool, np.bool_)):
        raise InvalidSelectionError(
            "boolean indices are masks in numpy and are not supported (basic indexing only); "
            f"got {type_name(item)}"
        )
    # A 0-d integer array has __index__, but numpy treats arrays as advanced indexing.
    if isinstance(item, np.ndarray):
        raise _unsupported(item)
    try:
        return operator.index(item)  # type: ignore[arg-type]
    except TypeError:
        raise _unsupported(item) from None


def _slice_indices(key: slice, n: int) -> tuple[int, int, int]:
    """``key.indices(n)``, but a bound that is not an int-like (``1.0:3``, ``'x':``) raises
    InvalidSelectionError (a TypeError), as a float or string index does, not a bare TypeError."""
    try:
        return key.indices(n)
    except TypeError:
        raise InvalidSelectionError(
            f"slice bounds must be integers or None (basic indexing); got {key!r}"
        ) from None


def normalize_selection(selection: object, shape: tuple[int, ...]) -> Selection:
    """Normalize a basic numpy selection against ``shape``.

    Raises TypeError for anything but ints, slices and one Ellipsis; IndexError for out-of-range ints,
    too many indices or several Ellipses; ValueError for a zero slice step.

    >>> normalize_selection((Ellipsis, -1), (2, 3, 4)).start
    (0, 0, 3)
    """
    items = selection if isinstance(selection, tuple) else (selection,)

    # Pass 1: type checks and Ellipsis search. Done before any bounds check so a bad entry type is
    # reported as TypeError regardless of where it sits. Identity tests, not ==, because == on an
    # array entry would broadcast.
    keys: list[int | slice] = []
    ellipsis_at = -1
    n_ellipsis = 0
    for item in items:
        t = type(item)
        # Exact types on the fast path: bool (an int subclass) must take the slow path.
        if t is int or t is slice:
            keys.append(item)
        elif item is Ellipsis:
            n_ellipsis += 1
            ellipsis_at = len(keys)
        else:
            keys.append(_coerce(item))
    if n_ellipsis > 1:
        raise InvalidIndicesError("an index can only have a single ellipsis ('...')")

    ndim = len(shape)
    if len(keys) > ndim:
        raise InvalidIndicesError(
            f"too many indices for array: array is {ndim}-dimensional, but {len(keys)} were indexed"
        )
    if len(keys) < ndim:
        pad = [_FULL] * (ndim - len(keys))
        if ellipsis_at >= 0:
            keys[ellipsis_at:ellipsis_at] = pad
        else:
            keys.extend(pad)

    # Pass 2: per-axis normalization, pure Python ints (arbitrary size, so no OverflowError).
    starts: list[int] = []
    sizes: list[int] = []
    steps: list[int] = []
    counts: list[int] = []
    dropped: list[bool] = []
    out_shape: list[int] = []
    for axis, (key, n) in enumerate(zip(keys, shape)):
        if type(key) is slice:
            # slice.indices clamps like numpy and raises ValueError for a zero step.
            if key.step == 0:
                raise InvalidArgumentError("slice step cannot be zero")
            first, stop, step = _slice_indices(key, n)
            c = len(range(first, stop, step))
            if c == 0:
                starts.append(0)
                sizes.append(0)
            else:
                last = first + (c - 1) * step
                if step > 0:
                    starts.append(first)
                    sizes.append(last - first + 1)
                else:
                    starts.append(last)
                    sizes.append(first - last + 1)
            steps.append(step)
            counts.append(c)
            dropped.append(False)
            out_shape.append(c)
        else:
            i: int = key
            j = i + n if i < 0 else i
            if not 0 <= j < n:
                raise InvalidIndicesError(f"index {i} is out of bounds for axis {axis} with size {n}")
            starts.append(j)
            sizes.append(1)
            steps.append(1)
            counts.append(1)
            dropped.append(True)

    return Selection(
        tuple(starts),
        tuple(sizes),
        tuple(steps),
        tuple(counts),
        tuple(dropped),
        tuple(out_shape),
    )


def simple_box(selection: Any, shape: tuple[int, ...]) -> tuple[list[int], list[int]] | None:
    """Fast path for the most common small read: a tuple of one step-1 slice per dimension with
    in-bounds, non-negative (or None) bounds. Returns (start, shape) of the box, which is then
    also the result's shape, or None when the general :func:`normalize_selection` is needed.

    >>> simple_box((slice(2, 4), slice(None, 3)), (8, 8))
    ([2, 0], [2, 3])
    """
    if type(selection) is not tuple or len(selection) != len(shape):
        return None
    starts: list[int] = []
    sizes: list[int] = []
    for key, n in zip(selection, shape):
        if type(key) is not slice:
            return None
        start, stop, step = key.start, key.stop, key.step
        if step is not None and (type(step) is not int or step != 1):  # (1.0: refused by the general path)
            return None
        if start is None:
            start = 0
        elif type(start) is not int or start < 0:
            return None
        if stop is None:
            stop = n
        elif type(stop) is not int or stop > n:
            return None
        if stop < start:
            return None
        starts.append(start)
        sizes.append(stop - start)
    return starts, sizes


def check_chunk_coords(chunk_coords: Any, grid_shape: Sequence[int]) -> tuple[int, ...]:
    """Validate chunk-grid coordinates against the grid and return them as a tuple of ints.

    Every call taking chunk coordinates checks them here (``Array.read_chunk`` and the other chunk
    methods, the functional CRUD backend, both engines), so all raise the same errors:
    ChunkCoordsTypeError (a TypeError) for anything but a sequence of integers, bools included;
    ChunkCoordsLengthError (an IndexError and a DimensionalityError) for the wrong number of them;
    InvalidIndicesError (an IndexError) for one outside the grid (no negative wrap-around).

    >>> check_chunk_coords([1, 0], (2, 2))
    (1, 0)
    >>> check_chunk_coords((2, 0), (2, 2))
    Traceback (most recent call last):
    ...
    zarrs_cffi.errors.InvalidIndicesError: chunk coordinate 2 is outside the chunk grid (2, 2) (axis 0)
    """
    if isinstance(chunk_coords, (str, bytes)) or not isinstance(chunk_coords, (Sequence, np.ndarray)):
        raise ChunkCoordsTypeError(f"chunk coordinates must be a sequence of integers, got {chunk_coords!r}")
    coords: list[int] = []
    for c in chunk_coords:
        if isinstance(c, (bool, np.bool_)):
            raise ChunkCoordsTypeError(f"chunk coordinates must be integers, got {type_name(c)} {c!r}")
        try:
            coords.append(operator.index(c))
        except TypeError:
            raise ChunkCoordsTypeError(
                f"chunk coordinates must be integers, got {type_name(c)} {c!r}"
            ) from None
    result = tuple(coords)
    grid = tuple(grid_shape)
    if len(result) != len(grid):
        raise ChunkCoordsLengthError(
            f"chunk coordinates {result} have {len(result)} entries, the array has {len(grid)} dimensions"
        )
    for axis, (c, n) in enumerate(zip_strict(result, grid)):
        if not 0 <= c < n:
            raise InvalidIndicesError(f"chunk coordinate {c} is outside the chunk grid {grid} (axis {axis})")
    return result
