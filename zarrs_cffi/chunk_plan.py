"""Which chunks a selection touches, and what to copy where: the plan by which every selection that
is not a box is read and written, so that only chunks holding selected elements are decoded, each
through a buffer of at most one chunk. Pure: no I/O (``chunked_io`` carries a plan out).

Per axis, the selected indices are grouped by the chunk they fall in (:func:`axis_parts`). A block
is one part per axis: the smallest box, inside one chunk, around the selected elements that chunk
holds, with where each of them goes in the result. A strided thumbnail ``a[::256, ::256, ::256]``
of an array with 64**3 chunks is one block of one element per chunk it hits (1 chunk in 64).

    >>> [(p.start, p.size, p.src, p.dst) for p in axis_parts(range(1, 10, 3), 4)]
    [(1, 1, slice(0, 1, 3), slice(0, 1, None)), (4, 4, slice(0, 4, 3), slice(1, 3, None))]
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Union

import numpy as np
from numpy.typing import NDArray

from ._compat import DATACLASS_SLOTS
from .advanced_selection import AxisIndex, ascending_run

__all__ = ["AxisPart", "Block", "OrthogonalPlan", "PointGroup", "axis_parts", "chunk_region", "point_groups"]

# Where a part's elements are (in its span, or on the output axis): a slice when they are evenly
# spaced (numpy then copies with views), else an index array.
Positions = Union[slice, NDArray[np.intp]]


@dataclass(frozen=True, **DATACLASS_SLOTS)
class AxisPart:
    """The selected indices of one axis that fall in one chunk.

    ``start``/``size``: the smallest span holding them; ``src``: their positions in that span, in
    output order; ``dst``: their positions on the output axis.
    """

    start: int
    size: int
    src: Positions
    dst: Positions
    # Computed once: a part takes part in many blocks.
    direct: bool = field(init=False)
    """True when the span is copied as is to consecutive output positions (no reordering)."""
    covered: bool = field(init=False)
    """True when every index of the span is selected (a write needs not read it first)."""

    def __post_init__(self) -> None:
        direct = (
            _is_run(self.src, 0, self.size) and isinstance(self.dst, slice) and self.dst.step in (None, 1)
        )
        if isinstance(self.src, slice):
            covered = self.size == 1 or abs(self.src.step or 1) == 1
        else:
            covered = len(np.unique(self.src)) == self.size
        object.__setattr__(self, "direct", direct)
        object.__setattr__(self, "covered", covered)


@dataclass(frozen=True, **DATACLASS_SLOTS)
class Block:
    """One native box read (or write): ``start``/``shape`` on the array, and per axis ``src``
    (positions in the box) and ``dst`` (positions in the keep-dims result)."""

    start: tuple[int, ...]
    shape: tuple[int, ...]
    src: tuple[Positions, ...]
    dst: tuple[Positions, ...]
    direct: bool
    covered: bool


def _is_run(pos: Positions, first: int, count: int) -> bool:
    return (
        isinstance(pos, slice) and pos.start == first and pos.stop == first + count and pos.step in (None, 1)
    )


def _as_positions(values: NDArray[np.intp]) -> Positions:
    """``values`` as a slice when they are evenly spaced ascending (numpy copies slices fastest)."""
    n = len(values)
    first = int(values[0])
    if n == 1:
        return slice(first, first + 1, 1)
    step = int(values[1]) - first
    if step >= 1 and int(values[-1]) - first == step * (n - 1) and bool(np.all(np.diff(values) == step)):
        return slice(first, int(values[-1]) + 1, step)
    return values


def axis_parts(index: AxisIndex, chunk: int) -> list[AxisPart]:
    """Group one axis' selected indices (a range, or an intp array in any order with repeats) by
    the chunk of length ``chunk`` they fall in; the parts come in ascending chunk order.

    >>> [(p.start, p.size, p.src, p.dst) for p in axis_parts(np.array([6, 1, 6, 2]), 4)]
    [(1, 2, slice(0, 2, 1), slice(1, 4, 2)), (6, 1, array([0, 0]), slice(0, 3, 2))]
    """
    if isinstance(index, range):
        return _range_parts(index, chunk)
    if len(index) == 0:
        return []
    order: NDArray[np.intp] | None = None  # None: already ascending, output position = position
    ordered = index
    if len(index) > 1 and not bool(np.all(index[1:] >= index[:-1])):
        order = np.argsort(index, kind="stable").astype(np.intp, copy=False)
        ordered = index[order]
    chunk_ids = ordered // chunk
    cuts = (np.flatnonzero(chunk_ids[1:] != chunk_ids[:-1]) + 1).tolist()
    del chunk_ids
    parts = []
    for a, b in zip([0, *cuts], [*cuts, len(ordered)]):
        values = ordered[a:b]
        lo = int(values[0])
        dst = slice(a, b, 1) if order is None else _as_positions(order[a:b])
        parts.append(AxisPart(lo, int(values[-1]) + 1 - lo, _as_positions(values - lo), dst))
    return parts


def _range_parts(index: range, chunk: int) -> list[AxisPart]:
    """:func:`axis_parts` of a range, in O(chunks hit): a[::2**39] of (2**40,) is two parts."""
    first, step, count = index.start, index.step, len(index)
    parts = []
    j = 0
    while j < count:
        i = first + j * step
        base = (i // chunk) * chunk
        if step > 0:
            last = min(count - 1, (base + chunk - 1 - first) // step)
            lo, hi = i, first + last * step + 1
            src = slice(0, hi - lo, step)
        else:
            last = min(count - 1, j + (i - base) // -step)
            lo, hi = first + last * step, i + 1
            src = slice(hi - 1 - lo, None, step)  # descending to 0 exactly: hi - 1 - lo is a multiple of step
        parts.append(AxisPart(lo, hi - lo, src, slice(j, last + 1)))
        j = last + 1
    return parts


class OrthogonalPlan:
    """The blocks of an orthogonal selection (``axes``: one :data:`AxisIndex` per array axis).

    Every block lies in one chunk, except where a run of consecutive indices can be read straight
    into a contiguous part of ``out`` by one native call (no scratch; the native library decodes
    its chunks in parallel): trailing axes that each select one ascending run are then taken whole
    rather than split by chunk, and on the last other axis, parts that continue each other (in the
    array and in the result) are merged, e.g. each run of consecutive rows in ``a.oindex[rows, :]``
    or of consecutive indices in ``a.oindex[index]`` is one call.
    """

    def __init__(self, axes: Sequence[AxisIndex], chunk_shape: Sequence[int]) -> None:
        self.out_shape = tuple(len(ax) for ax in axes)
        self.parts = [axis_parts(ax, c) for ax, c in zip(axes, chunk_shape)]
        tail = len(axes)
        runs: list[tuple[int, int]] = []
        while tail > 0:
            run = ascending_run(axes[tail - 1])
            if run is None:
                break
            runs.insert(0, run)
            tail -= 1
        self._tail = tail
        self._whole_tail = tuple(AxisPart(s, n, slice(0, n, 1), slice(0, n, 1)) for s, n in runs)
        self._last_lead = _continuing_groups(self.parts[tail - 1]) if tail else []

    @property
    def max_blocks(self) -> int:
        """The number of chunk-sized blocks (an upper bound on :meth:`blocks`)."""
        return math.prod(len(p) for p in self.parts)

    def blocks(self) -> Iterator[Block]:
        """The blocks, in C order of their chunks."""
        tail = self._tail
        if tail == 0:
            yield _block(self._whole_tail)
            return
        for lead in itertools.product(*self.parts[: tail - 1]):
            for group in self._last_lead:
                if len(group) > 1:
                    first, last = group[0], group[-1]
                    size = last.start + last.size - first.start
                    dst = slice(first.dst.start, last.dst.stop, 1)  # type: ignore[union-attr]
                    merged = (*lead, AxisPart(first.start, size, slice(0, size, 1), dst))
                    if self._fits(merged):
                        yield _block((*merged, *self._whole_tail))
                        continue
                for part in group:
                    yield from self._blocks_of((*lead, part))

    def _blocks_of(self, lead: tuple[AxisPart, ...]) -> Iterator[Block]:
        if self._fits(lead):
            yield _block((*lead, *self._whole_tail))
        else:
            for rest in itertools.product(*self.parts[self._tail :]):
                yield _block((*lead, *rest))

    def _fits(self, lead: tuple[AxisPart, ...]) -> bool:
        """True if ``lead`` (parts of the leading axes) with the whole tail is one contiguous
        range of ``out`` copied as is: all parts direct, and after the first axis with more than
        one position, every axis taken whole."""
        if not all(p.direct for p in lead):
            return False
        partial_allowed = True
        for p, n in zip(lead, self.out_shape):
            if not partial_allowed and p.size != n:
                return False
            if p.size > 1:
                partial_allowed = False
        return True


def _continuing_groups(parts: list[AxisPart]) -> list[list[AxisPart]]:
    """``parts`` grouped into runs of direct parts that continue each other in the array and in
    the result (candidates for one merged read); every other part alone."""
    groups: list[list[AxisPart]] = []
    for part in parts:
        if groups and part.direct:
            prev = groups[-1][-1]
            if (
                prev.direct and prev.start + prev.size == part.start and prev.dst.stop == part.dst.start  # type: ignore[union-attr]
            ):
                groups[-1].append(part)
                continue
        groups.append([part])
    return groups


def _block(parts: tuple[AxisPart, ...]) -> Block:
    # One pass, no generator expressions: this runs once per block (per chunk read).
    starts, sizes, srcs, dsts = [], [], [], []
    direct = covered = True
    for p in parts:
        starts.append(p.start)
        sizes.append(p.size)
        srcs.append(p.src)
        dsts.append(p.dst)
        direct = direct and p.direct
        covered = covered and p.covered
    return Block(tuple(starts), tuple(sizes), tuple(srcs), tuple(dsts), direct, covered)


@dataclass(frozen=True, **DATACLASS_SLOTS)
class PointGroup:
    """The points of a coordinate selection that fall in one chunk: the smallest box holding them
    (``start``/``shape``), their positions in it (``local``, one array per axis) and in the flat
    result (``positions``)."""

    start: tuple[int, ...]
    shape: tuple[int, ...]
    local: tuple[NDArray[np.intp], ...]
    positions: Positions


def point_groups(coords: Sequence[NDArray[np.intp]], chunk_shape: Sequence[int]) -> list[PointGroup]:
    """Group points (one flat index array per axis) by chunk, chunks in C order.

    >>> g = point_groups((np.array([5, 0, 4]), np.array([1, 1, 3])), (4, 4))
    >>> [(x.start, x.shape, [c.tolist() for c in x.local], x.positions) for x in g]
    [((0, 1), (1, 1), [[0], [0]], slice(1, 2, 1)), ((4, 1), (2, 3), [[1, 0], [0, 2]], slice(0, 3, 2))]
    """
    count = len(coords[0]) if coords else 0
    if count == 0:
        return []
    chunk_ids = [c // n for c, n in zip(coords, chunk_shape)]
    order = np.lexsort(chunk_ids[::-1]).astype(np.intp, copy=False)  # the last key sorts first
    changed = np.zeros(count - 1, dtype=bool)
    for ids in chunk_ids:
        ordered = ids[order]
        changed |= ordered[1:] != ordered[:-1]
    cuts = (np.flatnonzero(changed) + 1).tolist()
    groups = []
    for a, b in zip([0, *cuts], [*cuts, count]):
        positions = order[a:b]
        points = [c[positions] for c in coords]
        lo = [int(p.min()) for p in points]
        hi = [int(p.max()) + 1 for p in points]
        groups.append(
            PointGroup(
                tuple(lo),
                tuple(h - s for h, s in zip(hi, lo)),
                tuple(p - s for p, s in zip(points, lo)),
                _as_positions(positions),
            )
        )
    return groups


def chunk_region(
    start: Sequence[int], chunk_shape: Sequence[int], array_shape: Sequence[int]
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(start, shape)`` of the chunk holding the element at ``start``, clipped to the array.

    >>> chunk_region((5, 9), (4, 4), (10, 10))
    ((4, 8), (4, 2))
    """
    first = tuple((b // c) * c for b, c in zip(start, chunk_shape))
    return first, tuple(min(c, n - f) for f, c, n in zip(first, chunk_shape, array_shape))
