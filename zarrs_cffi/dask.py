"""dask arrays over Zarr arrays: ``to_dask`` reads, ``from_dask`` / ``store`` write.

Each block is one native ``read`` (or ``write``) of a whole stored chunk (shard, if sharded) or of
a box of them. Graphs hold the array's *location* (root, node, metadata document), never a live
handle: each process (a dask.distributed worker) reopens the array once from the document and
keeps it. dask itself is imported when these functions are called, not by ``import zarrs_cffi``.

>>> x = zarrs_cffi.to_dask("data.zarr", "/temperature")
>>> float(x.mean().compute())   # an empty array: its fill value, 0
0.0
"""

from __future__ import annotations

import json
import operator
import os
import threading
import typing
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Optional, Union

import numpy as np

from .array import Array
from .create import create_array
from .errors import ClosedError, InvalidArgumentError
from .forksafe import module_lock
from .location import store_location
from .open import open_array
from .store import Store
from .store_location import StoreLocation

if TYPE_CHECKING:
    import dask.array as da

ArrayOrUrl = Union[Array, str, "os.PathLike[str]", Any]
Options = Optional[typing.Mapping[str, Any]]


def to_dask(
    array_or_url: ArrayOrUrl, node: str = "/", chunks: Any = None, *, storage_options: Options = None
) -> da.Array:
    """A lazy ``dask.array`` over a Zarr array: an open :class:`~zarrs_cffi.Array`, or the path of a
    local store (``node`` names the array inside it).

    Blocks default to whole stored chunks (shards, for sharded arrays), each read by one native
    call. Multiples of the stored chunk shape keep every block a whole-chunk read; other block
    shapes are correct but decode the chunks they cut more than once.

    Args:
        array_or_url: An open array, or a store: a path, a URL (``s3://``, ``gs://``, ``az://``,
            ``http(s)://``, ``zip://``, ``memory://``) or a store object (see :class:`Store`).
        node: The array's node in the store (ignored for an open array).
        chunks: Block shape: anything dask's ``normalize_chunks`` takes (ints, tuples, ``-1``,
            ``"auto"``), or a ``{axis: size}`` dict whose other axes keep the stored chunks.
        storage_options: Options of a store URL (see :class:`Store`); workers get them too.

    Returns:
        A ``dask.array.Array``; workers reopen the array by location (no handle is pickled).

    Raises:
        UnsupportedStoreError: ``array_or_url`` is not an array or a store.
        NodeNotFoundError: There is no array at ``node``.

    >>> x = zarrs_cffi.to_dask("data.zarr", "/temperature", chunks=(128, 512, 8))
    >>> x.numblocks
    (4, 1, 1)
    """
    import dask.array as da
    from dask.array.core import normalize_chunks
    from dask.base import tokenize

    source = ArrayLocation.of(array_or_url, node, writable=False, storage_options=storage_options)
    array = source.open()
    stored = array.chunk_shape()
    if isinstance(chunks, dict):  # axes it does not name keep the stored chunks
        ndim = len(stored)
        wrong = [axis for axis in chunks if type(axis) is not int or not -ndim <= axis < ndim]
        if wrong:
            raise InvalidArgumentError(f"chunks names axes {wrong} of a {ndim}-dimensional array")
        by_axis = {axis % ndim: size for axis, size in chunks.items()}  # -1: the last, as dask's
        chunks = tuple(by_axis.get(axis, size) for axis, size in enumerate(stored))
    blocks = normalize_chunks(
        stored if chunks is None else chunks,
        array.shape,
        dtype=array.dtype,
        previous_chunks=stored,
    )
    name = f"zarrs-cffi-{tokenize(source.root, source.node, source.document_json, blocks)}"
    meta = np.empty((0,) * array.ndim, array.dtype)
    return da.from_array(source, chunks=blocks, name=name, lock=False, meta=meta, inline_array=False)


def store(
    x: da.Array,
    target: ArrayOrUrl,
    node: str = "/",
    *,
    region: Sequence[slice] | None = None,
    compute: bool = True,
    storage_options: Options = None,
) -> Any:
    """Write the dask array ``x`` into ``target`` at ``region``, blocks in parallel, with no lock.

    Every boundary between two blocks must fall on a stored chunk (shard) boundary: two blocks
    sharing a chunk would each read-modify-write it and one would lose. ``x.rechunk(...)`` fixes
    misaligned blocks.

    Args:
        x: The data; its dtype must cast to the array's within its kind (numpy's ``same_kind``).
        target: An open writable :class:`~zarrs_cffi.Array`, or a store's path or URL.
        node: The array's node in the store (ignored for an open array).
        region: Step-1 slices, one per axis, where ``x`` goes (the whole array by default).
        compute: Write now (True), or return the lazy dask object that writes when computed.
        storage_options: Options of a store URL (see :class:`Store`).

    Returns:
        None, or with ``compute=False`` the lazy dask object (``dask.compute(it)`` writes; then
        call ``target.clear_chunk_cache()`` if ``target`` is an Array with a chunk cache).

    Raises:
        InvalidArgumentError: Misaligned blocks, a shape or dtype that does not fit; raised before
            anything is written.
        ReadOnlyError: The array is open read-only.
        StorageError: A block could not be stored. dask raises the first task's error at once:
            blocks already being written by other threads may still land afterwards, and blocks
            stored before stay stored (a write of many blocks is not one transaction).

    >>> import dask.array as da
    >>> arr = zarrs_cffi.create_array("twice.zarr", shape=(512, 512, 8), dtype="uint16", chunks=(256, 256, 8))
    >>> zarrs_cffi.store(da.ones((512, 512, 8), dtype="uint16", chunks=(256, 256, 8)) * 2, arr)
    >>> int(arr[0, 0, 0])
    2
    """
    import dask.array as da

    location = ArrayLocation.of(target, node, writable=True, storage_options=storage_options)
    array = location.open()
    box = _region_box(region, array.shape)
    if tuple(stop - start for start, stop in box) != tuple(x.shape):
        raise InvalidArgumentError(f"a dask array of shape {x.shape} cannot fill region {_show(box)}")
    if np.dtype(x.dtype) != array.dtype and not np.can_cast(x.dtype, array.dtype, "same_kind"):
        raise InvalidArgumentError(f"cannot store {x.dtype} data into a {array.dtype} array")
    _check_aligned(x.chunks, box, array.chunk_shape(), array.shape)
    slices = tuple(slice(start, stop) for start, stop in box)
    try:
        result = da.store(x, location, regions=slices if box else None, lock=False, compute=compute)  # type: ignore[arg-type]
    finally:
        if compute and isinstance(target, Array):
            # The blocks went through handles of their own: the target's chunk cache held the old
            # data (also when a block failed: the others may have been stored).
            target.clear_chunk_cache()
    return None if compute else result


def from_dask(
    x: da.Array,
    path: str | os.PathLike[str],
    node: str = "/",
    *,
    chunks: Sequence[int] | None = None,
    compute: bool = True,
    **create_options: Any,
) -> Any:
    """Create a Zarr v3 array at ``node`` of the local store ``path`` and write ``x`` into it in
    parallel (see :func:`store`; the array is created at once even with ``compute=False``).

    Args:
        x: The data.
        path: The local store's directory.
        node: Where the array goes in the store.
        chunks: The stored chunk shape; by default ``x``'s block shape, which must then be regular
            (all blocks equal but the last along each axis). With ``shards`` in
            ``create_options``, blocks must be whole shards.
        compute: Write now (True), or return the lazy dask object that writes when computed.
        **create_options: :func:`~zarrs_cffi.create_array`'s (``shards``, ``compressors``,
            ``fill_value``, ``attributes``, ``dimension_names``, ``overwrite``).

    Returns:
        The open array, or with ``compute=False`` the lazy dask object that writes when computed.

    Raises:
        InvalidArgumentError: Irregular or misaligned blocks (before anything is written).
        NodeExistsError: An array exists at ``node`` and ``overwrite`` is not set.

    >>> import dask.array as da
    >>> x = da.arange(4096, dtype="int32", chunks=1024).reshape(64, 64).rechunk((16, 64))
    >>> arr = zarrs_cffi.from_dask(x, "out.zarr", "/x", compressors="zstd")
    >>> arr.chunks, int(arr[63, 63])
    ((16, 64), 4095)
    """
    if chunks is None:
        irregular = [i for i, axis in enumerate(x.chunks) if len(set(axis[:-1])) > 1 or axis[-1] > axis[0]]
        if irregular:
            raise InvalidArgumentError(
                f"x has irregular blocks along axes {irregular} ({x.chunks}); pass chunks= or call "
                "x.rechunk(...) first so that blocks can map to Zarr chunks"
            )
        chunks = tuple(max(axis[0], 1) if axis else 1 for axis in x.chunks)
    # Alignment before creating: a refused write must not leave an empty array (nor, with
    # overwrite=True, erase the one that was there). Malformed shapes are create_array's to refuse.
    stored = create_options.get("shards") or chunks
    if _positive_int(stored):  # one length for every axis, as create_array takes it
        stored = (operator.index(stored),) * x.ndim  # type: ignore[arg-type]
    if isinstance(stored, Sequence) and len(stored) == x.ndim and all(_positive_int(c) for c in stored):
        _check_aligned(x.chunks, [(0, n) for n in x.shape], tuple(stored), x.shape)
    where = store_location(path, create_options.pop("storage_options", None))
    array = create_array(where, node, shape=x.shape, dtype=x.dtype, chunks=chunks, **create_options)
    written = store(x, array, compute=compute)
    return array if compute else written


def _positive_int(value: object) -> bool:
    """An int (numpy's too, not a bool) of at least 1: a stored chunk length create_array takes."""
    if isinstance(value, (bool, np.bool_)):
        return False
    try:
        return operator.index(value) > 0  # type: ignore[arg-type]
    except TypeError:
        return False


class ArrayLocation:
    """Where an array lives (root, node, metadata document): what dask graphs carry instead of a
    handle. Reading (``__getitem__``) and writing (``__setitem__``) reopen the array from the
    document once per process, so a worker never reads through another array's metadata."""

    def __init__(self, root: StoreLocation, node: str, document_json: str, writable: bool) -> None:
        self.root, self.node, self.document_json, self.writable = root, node, document_json, writable
        document = json.loads(document_json)
        self.shape = tuple(document["shape"])
        self.ndim = len(self.shape)

    @property
    def dtype(self) -> np.dtype[Any]:
        """The array's dtype (opening it: a worker opens it in its first task, not when unpickling,
        so that an error such as another process's memory:// store fails that task)."""
        return self.open().dtype

    @classmethod
    def of(
        cls, array_or_url: ArrayOrUrl, node: str, *, writable: bool, storage_options: Options = None
    ) -> ArrayLocation:
        """Where ``array_or_url`` lives (root, node, metadata), checked for writing if ``writable``."""
        if isinstance(array_or_url, Array):
            array = array_or_url
            if array.engine != "cffi":
                raise InvalidArgumentError(
                    f"dask I/O runs on the native engine; {array!r} uses {array.engine!r}"
                )
            if array.closed:  # (its location would still open: the close must mean something)
                raise ClosedError(f"{array!r} is closed")
            if array.location is None:
                raise InvalidArgumentError(
                    f"{array!r} has no location (made from a handle): it cannot be reopened"
                )
            if writable and array.read_only:
                array._check_writable()  # raises ReadOnlyError
            return cls(array.location, array.node, json.dumps(array.metadata), writable)
        root = store_location(array_or_url, storage_options)
        with open_array(root, node) as array:  # read-only if the store is (a zip, LocalStore(read_only=True))
            if writable and array.read_only:
                array._check_writable()  # raises ReadOnlyError
            return cls(root, array.node, json.dumps(array.metadata), writable)

    def open(self) -> Array:
        """This process's open array for this location (opened on first use, then kept)."""
        key = (self.root, self.node, self.document_json)
        array = _OPEN.get(key)
        if array is None or array.closed:
            with _OPEN_LOCK:
                array = _OPEN.get(key)
                if array is None or array.closed:
                    with Store(self.root) as opened:
                        handle = opened.array_handle_from_metadata(self.node, json.loads(self.document_json))
                    array = Array(handle, root=self.root, node=self.node, read_only=self.root.read_only)
                    _OPEN[key] = array
                    while len(_OPEN) > _OPEN_MAX:
                        # Dropped, not closed: a task on another thread may be reading through
                        # it; the last reference going frees it (with a memory:// store's data).
                        _OPEN.pop(next(iter(_OPEN)))
        return array

    def __getitem__(self, region: Any) -> np.ndarray:
        return self.open().read(region)

    def __setitem__(self, region: Any, data: Any) -> None:
        self.open().write(region, data)

    def __dask_tokenize__(self) -> tuple[StoreLocation, str, str]:
        return (self.root, self.node, self.document_json)

    def __reduce__(self) -> tuple[Any, ...]:
        return (ArrayLocation, (self.root, self.node, self.document_json, self.writable))


# Arrays opened by this process, by location, like a file-handle cache: few distinct arrays are
# used per process (a worker). The oldest go beyond _OPEN_MAX, and zarrs_cffi.clear_cache()
# drops them all, so a process that reads many arrays in turn does not keep every one.
_OPEN: dict[tuple[StoreLocation, str, str], Array] = {}
_OPEN_MAX = 64


def forget_open_arrays() -> None:
    """Drop the arrays this process opened for dask tasks (reopened on the next task)."""
    with _OPEN_LOCK:
        _OPEN.clear()


def _forget_open_arrays() -> None:
    # A forked child: the parent's threads may have held the lock; its handles stay usable.
    global _OPEN_LOCK
    _OPEN_LOCK = threading.Lock()


_OPEN_LOCK = module_lock(_forget_open_arrays)


def _region_box(region: Sequence[slice] | None, shape: tuple[int, ...]) -> list[tuple[int, int]]:
    if region is None:
        return [(0, n) for n in shape]
    if isinstance(region, slice):
        region = (region,)
    if not isinstance(region, Sequence) or len(region) != len(shape):
        raise InvalidArgumentError(f"region must be one slice per dimension of {shape}, got {region!r}")
    box = []
    for axis, (item, n) in enumerate(zip(region, shape)):
        if not isinstance(item, slice) or item.step not in (None, 1):
            raise InvalidArgumentError(f"region entry {axis} must be a step-1 slice, got {item!r}")
        start, stop, _ = item.indices(n)
        box.append((start, max(start, stop)))
    return box


def _check_aligned(
    blocks: tuple[tuple[int, ...], ...],
    box: list[tuple[int, int]],
    stored: tuple[int, ...],
    shape: tuple[int, ...],
) -> None:
    """Every boundary between two blocks must be a stored-chunk boundary (or the array's end)."""
    for axis, (sizes, (start, _), chunk, n) in enumerate(zip(blocks, box, stored, shape)):
        edge = start
        for size in sizes[:-1]:
            edge += size
            if edge % chunk and edge != n:
                raise InvalidArgumentError(
                    f"dask blocks along axis {axis} ({sizes}, from offset {start}) end at {edge}, inside a "
                    f"stored chunk of {chunk}: parallel writes would race on that chunk; rechunk to "
                    f"multiples of {chunk} (e.g. x.rechunk({{{axis}: {chunk}}}))"
                )


def _show(box: list[tuple[int, int]]) -> str:
    return "[" + ", ".join(f"{a}:{b}" for a, b in box) + "]"
