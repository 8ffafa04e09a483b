"""zarr-python's per-chunk selections as native region reads and writes (pure numpy, no zarr, no I/O).

zarr's indexers hand a codec pipeline, for every chunk touched, a selection *within the chunk*
(ints, slices with a step, or integer arrays shaped by ``np.ix_``) and the matching selection of the
output. The native library decodes axis-aligned boxes of the array, so each chunk selection becomes
the smallest box that holds it (only chunks holding selected elements are read, and memory stays
proportional to one chunk) plus a selector of the selected elements within that box.

When every chunk's box *is* its selection and the boxes tile one box of the array, the whole request
is one native call into zarr's ``out`` buffer (:func:`whole_region`).

>>> import numpy as np
>>> box = plan_chunk((8, 0), (slice(1, 7, 3), np.array([2, 5])))
>>> box.region, box.local[0], box.local[1].tolist()
((slice(9, 13, None), slice(2, 6, None)), slice(None, None, 3), [0, 3])
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

__all__ = ["ChunkBox", "UnsupportedSelection", "bounding_region", "is_basic", "plan_chunk", "whole_region"]

# One region entry per array dimension: an int (the dimension is dropped from the result, as in
# numpy basic indexing) or a step-1 slice in array coordinates.
RegionItem = Union[int, slice]


class UnsupportedSelection(Exception):
    """A selection form this planner does not translate (the caller falls back to zarr's pipeline)."""


@dataclass(frozen=True)
class ChunkBox:
    """The native region for one chunk's selection.

    ``region``: per dimension an int (dropped) or a step-1 slice, in array coordinates.
    ``local``: the selector of the selected elements within the region's read result, or None when
    the region is exactly the selection (then it is read or written in place).
    """

    region: tuple[RegionItem, ...]
    local: tuple[Any, ...] | None

    @property
    def size(self) -> int:
        """Elements in the region."""
        return math.prod(r.stop - r.start for r in self.region if isinstance(r, slice))


def _as_int(item: object) -> int | None:
    """``item`` as a Python int if it is an integer scalar (not a bool), else None."""
    if isinstance(item, (bool, np.bool_, np.ndarray)):
        return None
    try:
        return operator.index(item)  # type: ignore[arg-type]
    except TypeError:
        return None


def plan_chunk(origin: Sequence[int], chunk_selection: Any) -> ChunkBox | None:
    """The region of the array holding ``chunk_selection`` of the chunk at ``origin``, or None if
    the selection is empty. Raises :class:`UnsupportedSelection` for forms it does not know.

    >>> plan_chunk((10,), (slice(2, 9, 3),))
    ChunkBox(region=(slice(12, 19, None),), local=(slice(None, None, 3),))
    >>> plan_chunk((10, 4), (3, slice(0, 4, 1)))
    ChunkBox(region=(13, slice(4, 8, None)), local=None)
    """
    selection = chunk_selection if isinstance(chunk_selection, tuple) else (chunk_selection,)
    if len(selection) != len(origin):
        raise UnsupportedSelection(f"chunk selection {chunk_selection!r} for a {len(origin)}-d array")
    has_array = any(isinstance(s, np.ndarray) for s in selection)
    region: list[RegionItem] = []
    local: list[Any] = []
    exact = True
    for offset, item in zip(origin, selection):
        # Slices first: they are most items, and _as_int finds a slice out by an exception.
        if isinstance(item, slice):
            start, stop, step = item.start or 0, item.stop, item.step or 1
            if stop is None or start < 0 or stop < 0 or step < 1:
                raise UnsupportedSelection(f"slice {item!r} is not normalised")
            count = len(range(start, stop, step))
            if count == 0:
                return None
            last = start + (count - 1) * step
            region.append(slice(offset + start, offset + last + 1))
            if step == 1 or count == 1:
                local.append(slice(None))
            else:
                local.append(slice(None, None, step))
                exact = False
            continue
        index = _as_int(item)
        if index is not None:
            if has_array or index < 0:
                # np.ix_ selections keep every axis as an array; an int beside them is not a form
                # zarr produces, so do not guess its meaning.
                raise UnsupportedSelection(f"integer {index} beside index arrays in {chunk_selection!r}")
            region.append(offset + index)
        elif isinstance(item, np.ndarray) and item.dtype.kind in "iu":
            if item.size == 0:
                return None
            low, high = int(item.min()), int(item.max())
            if low < 0:
                raise UnsupportedSelection(f"negative index {low} in a chunk selection")
            region.append(slice(offset + low, offset + high + 1))
            local.append(item - low)
            exact = False
        else:
            raise UnsupportedSelection(f"chunk selection item of type {type(item).__name__}")
    return ChunkBox(tuple(region), None if exact else tuple(local))


def is_basic(selection: Any) -> bool:
    """True if indexing with ``selection`` (a tuple of slices and ints) gives a view."""
    items = selection if isinstance(selection, tuple) else (selection,)
    return all(isinstance(s, slice) or _as_int(s) is not None for s in items)


def _basic_out(out_selection: Any) -> tuple[Any, ...] | None:
    """``out_selection`` as a tuple of step-1 (start, stop) pairs, or None if it is not one."""
    selection = out_selection if isinstance(out_selection, tuple) else (out_selection,)
    pairs: list[Any] = []
    for item in selection:
        if not isinstance(item, slice) or item.step not in (None, 1):
            return None
        pairs.append((item.start or 0, item.stop))
    return tuple(pairs)


def bounding_region(boxes: Sequence[ChunkBox]) -> tuple[RegionItem, ...] | None:
    """The one region the boxes tile exactly, or None if they do not form a single box.

    Checked, not assumed: every box is its own selection, all drop the same int dimensions at the
    same index, and their sizes add up to the bounding box's size (chunks are disjoint, so the
    boxes then cover it exactly once).

    >>> bounding_region([plan_chunk((0,), (slice(2, 4),)), plan_chunk((4,), (slice(0, 3),))])
    (slice(2, 7, None),)
    """
    if not boxes:
        return None
    first = boxes[0].region
    dropped = [isinstance(r, int) for r in first]
    low = [r if isinstance(r, int) else r.start for r in first]
    high = [r + 1 if isinstance(r, int) else r.stop for r in first]
    for box in boxes:
        if box.local is not None or len(box.region) != len(first):
            return None
        for d, r in enumerate(box.region):
            if isinstance(r, int):
                if not dropped[d] or r != first[d]:
                    return None
            elif dropped[d]:
                return None
            else:
                low[d] = min(low[d], r.start)
                high[d] = max(high[d], r.stop)
    region = tuple(first[d] if dropped[d] else slice(low[d], high[d]) for d in range(len(first)))
    if sum(b.size for b in boxes) != ChunkBox(region, None).size:
        return None
    return region


def whole_region(
    boxes: Sequence[ChunkBox], out_selections: Sequence[Any], out_shape: tuple[int, ...]
) -> tuple[RegionItem, ...] | None:
    """One region covering every chunk's box if together they are a single box of the array
    (:func:`bounding_region`) laid out exactly as ``out`` (of ``out_shape``) expects it: its kept
    dimensions are ``out_shape`` and each chunk's output selection is where its box lies in it.
    Else None.
    """
    found = region_in_out(boxes, out_selections)
    if found is None:
        return None
    region, where = found
    if any(w.start != 0 or w.stop != n for w, n in zip(where, out_shape)) or len(where) != len(out_shape):
        return None
    return region


def region_in_out(
    boxes: Sequence[ChunkBox], out_selections: Sequence[Any]
) -> tuple[tuple[RegionItem, ...], tuple[slice, ...]] | None:
    """The region the boxes tile (:func:`bounding_region`) and the box of ``out`` their output
    selections tile in the same arrangement (each chunk's box at the same offset from it), or
    None: then the region is read or written in one call from that part of ``out``.

    >>> region_in_out([plan_chunk((4,), (slice(0, 4),))], [(slice(0, 4),)])
    ((slice(4, 8, None),), (slice(0, 4, None),))
    """
    region = bounding_region(boxes)
    if region is None:
        return None
    kept = [r for r in region if isinstance(r, slice)]
    offset: tuple[int, ...] | None = None
    for box, out_selection in zip(boxes, out_selections):
        pairs = _basic_out(out_selection)
        spans = [r for r in box.region if isinstance(r, slice)]
        if pairs is None or len(pairs) != len(spans):
            return None
        if any(stop - start != r.stop - r.start for (start, stop), r in zip(pairs, spans)):
            return None
        shift = tuple(start - r.start for (start, _), r in zip(pairs, spans))
        if offset is None:
            offset = shift
        elif shift != offset:
            return None
    assert offset is not None
    return region, tuple(slice(k.start + o, k.stop + o) for k, o in zip(kept, offset))
