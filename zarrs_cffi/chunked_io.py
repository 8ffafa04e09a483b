"""Carry out a chunk plan: read or write a selection block by block through native box reads.

Each block is decoded into a scratch buffer of at most one chunk (or straight into ``out`` when its
part of ``out`` is contiguous) and copied into place with numpy; writes read-modify-write whole
chunks. Reads run on up to ``get_num_threads()`` threads, the calling thread included, each with
its own scratch buffer, so a read uses the result's memory plus about one chunk per thread.
Writes run on the calling thread, one chunk at a time.

``read_box(start, shape, out)`` and ``write_box(start, shape, data)`` are the array's native box
I/O; this module knows nothing else about arrays.
"""

from __future__ import annotations

import math
import os
import threading
import typing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

from .chunk_plan import Block, OrthogonalPlan, PointGroup, Positions, chunk_region

__all__ = ["read_orthogonal", "read_points", "write_orthogonal", "write_points"]

BoxIO = typing.Callable[[typing.Sequence[int], typing.Sequence[int], np.ndarray], None]
T = TypeVar("T")

# Below this many bytes of chunks to decode, handing blocks to other threads costs more than it
# saves (a hand-off is tens of microseconds, decoding a 64 KiB chunk about as long).
_PARALLEL_MIN_BYTES = 1 << 20


class _Scratch:
    """One thread's reusable buffer for decoded boxes (grown to the largest block, at most a chunk)."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = np.empty(0, np.uint8)

    def array(self, shape: Sequence[int], dtype: np.dtype[Any]) -> np.ndarray:
        nbytes = math.prod(shape) * dtype.itemsize
        if self._buf.nbytes < nbytes:
            self._buf = np.empty(nbytes, np.uint8)
        return self._buf[:nbytes].view(dtype).reshape(shape)


def _orthogonal_index(positions: Sequence[Positions], shape: Sequence[int]) -> tuple[Any, ...]:
    """An index selecting the outer product of ``positions``: as is when at most one axis is an
    array (numpy then indexes orthogonally, slices stay views), else through ``np.ix_``."""
    arrays = 0
    for p in positions:
        if type(p) is not slice:
            arrays += 1
    if arrays <= 1:
        return tuple(positions)
    return np.ix_(
        *[np.arange(*p.indices(n)) if isinstance(p, slice) else p for p, n in zip(positions, shape)]
    )


# -- orthogonal selections ---------------------------------------------------------------------------
def read_orthogonal(
    read_box: BoxIO, out: np.ndarray, plan: OrthogonalPlan, chunk_nbytes: int, threads: int
) -> None:
    """Fill ``out`` (the keep-dims result, C-contiguous) block by block."""

    def read(block: Block, scratch: _Scratch) -> None:
        if block.direct:
            view = out[block.dst]
            if view.flags.c_contiguous:
                read_box(block.start, block.shape, view)
                return
        box = scratch.array(block.shape, out.dtype)
        read_box(block.start, block.shape, box)
        out[_orthogonal_index(block.dst, out.shape)] = box[_orthogonal_index(block.src, box.shape)]

    parallel = plan.max_blocks > 1 and plan.max_blocks * chunk_nbytes >= _PARALLEL_MIN_BYTES
    _run(plan.blocks(), read, threads if parallel else 1)


def write_orthogonal(
    read_box: BoxIO,
    write_box: BoxIO,
    value: np.ndarray,
    plan: OrthogonalPlan,
    chunk_shape: Sequence[int],
    array_shape: Sequence[int],
) -> None:
    """Store ``value`` (the keep-dims result's shape) block by block."""
    scratch = _Scratch()
    for block in plan.blocks():
        values = value[_orthogonal_index(block.dst, value.shape)]
        if block.direct:
            write_box(block.start, block.shape, np.ascontiguousarray(values))
        elif block.covered:
            box = scratch.array(block.shape, value.dtype)
            box[_orthogonal_index(block.src, box.shape)] = values
            write_box(block.start, block.shape, box)
        else:
            # Read-modify-write the whole chunk, so the native store replaces it without decoding
            # it a second time (a partial box store would).
            start, shape = chunk_region(block.start, chunk_shape, array_shape)
            box = scratch.array(shape, value.dtype)
            read_box(start, shape, box)
            inner = box[tuple(slice(b - s, b - s + n) for b, s, n in zip(block.start, start, block.shape))]
            inner[_orthogonal_index(block.src, inner.shape)] = values
            write_box(start, shape, box)


# -- coordinate selections -----------------------------------------------------------------------------
def read_points(
    read_box: BoxIO, out: np.ndarray, groups: list[PointGroup], chunk_nbytes: int, threads: int
) -> None:
    """Fill ``out`` (flat, C-contiguous) with the points, one chunk's points per native call."""

    def read(group: PointGroup, scratch: _Scratch) -> None:
        box = scratch.array(group.shape, out.dtype)
        read_box(group.start, group.shape, box)
        out[group.positions] = box[group.local]

    parallel = len(groups) > 1 and len(groups) * chunk_nbytes >= _PARALLEL_MIN_BYTES
    _run(iter(groups), read, threads if parallel else 1)


def write_points(
    read_box: BoxIO,
    write_box: BoxIO,
    values: np.ndarray,
    groups: list[PointGroup],
    chunk_shape: Sequence[int],
    array_shape: Sequence[int],
) -> None:
    """Store ``values`` (flat) at the points, read-modify-writing each chunk that holds some."""
    scratch = _Scratch()
    for group in groups:
        start, shape = chunk_region(group.start, chunk_shape, array_shape)
        box = scratch.array(shape, values.dtype)
        read_box(start, shape, box)
        inner = box[tuple(slice(b - s, b - s + n) for b, s, n in zip(group.start, start, group.shape))]
        inner[group.local] = values[group.positions]
        write_box(start, shape, box)


# -- threads ----------------------------------------------------------------------------------------------
_END = object()
_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_workers = 0


def _executor(workers: int) -> ThreadPoolExecutor:
    """The shared helper threads (``workers`` of them; rebuilt when the thread count changes)."""
    global _pool, _pool_workers
    with _pool_lock:
        if _pool is None or _pool_workers != workers:
            # The old pool is dropped, not shut down: a call in flight on another thread may still
            # submit to it (a shut-down pool refuses: "cannot schedule new futures after
            # shutdown"). Its threads end when the last call using it lets go of it.
            _pool, _pool_workers = ThreadPoolExecutor(workers, "zarrs-cffi-chunks"), workers
        return _pool


def _forget_pool() -> None:
    # A forked child has none of the parent's threads: start afresh.
    global _pool, _pool_workers, _pool_lock
    _pool, _pool_workers, _pool_lock = None, 0, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool)


def _run(tasks: Iterator[T], work: Callable[[T, _Scratch], None], threads: int) -> None:
    """Run ``work`` on every task, on ``threads`` threads (the caller's one of them), each with its
    own scratch buffer; the first error stops the rest and is raised."""
    if threads <= 1:
        scratch = _Scratch()
        for task in tasks:
            work(task, scratch)
        return
    lock = threading.Lock()
    errors: list[BaseException] = []

    def loop() -> None:
        scratch = _Scratch()
        while not errors:
            try:
                with lock:  # the task iterator is a generator: one thread advances it at a time
                    task = next(tasks, _END)
                if task is _END:
                    return
                work(task, scratch)  # type: ignore[arg-type]
            except BaseException as exc:  # handed to the caller below
                errors.append(exc)
                return

    helpers: list[Future[None]] = [_executor(threads - 1).submit(loop) for _ in range(threads - 1)]
    loop()
    # Helpers still queued (the pool is busy with other calls) are not waited for: the tasks are done.
    for helper in helpers:
        if not helper.cancel():
            helper.result()
    if errors:
        raise errors[0]
