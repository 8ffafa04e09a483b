"""``Array``: one native array handle, and every read and write on it.

Data flows user call -> selection -> this module -> ``_native`` -> C. Reads decode straight into
the caller's buffer (``zarrsCffiArrayRetrieveSubsetInto``): no intermediate full-size copy.
"""

from __future__ import annotations

import copy
import ctypes
import json
import math
import operator
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

import numpy as np

from . import chunked_io
from ._native import check, check_upstream, ffi, lib, take_string
from .advanced_selection import (
    CoordinateSelection,
    OrthogonalSelection,
    is_advanced,
    normalize_orthogonal,
    orthogonal_from_basic,
)
from .buffers import allocate_result, check_out_buffer, chunk_value, region_value
from .chunk_plan import OrthogonalPlan, point_groups
from .dtypes import numpy_dtype
from .errors import (
    ClosedError,
    InvalidArgumentError,
    InvalidMetadataError,
    NullPointerError,
    ReadOnlyError,
)
from .forksafe import object_lock
from .handles import Handle, address, owner_of
from .indexers import BlockIndex, OrthogonalIndex, VectorizedIndex
from .metadata import chunks_and_shards, parse_fill_value
from .secrets import redact
from .selection import Selection, check_chunk_coords, normalize_selection, simple_box
from .store_location import StoreLocation, locate
from .threads import get_num_threads

_from_buffer = ffi.from_buffer
_BYTES = ffi.typeof("uint8_t[]")
_NULL = ffi.NULL
_retrieve_into = lib.zarrsCffiArrayRetrieveSubsetInto

_NO_REGION = object()  # matches no region

Region = Any  # numpy basic indexing (int, slice, Ellipsis, a tuple of those); read_into: orthogonal too


check_out = check_out_buffer


def cache_capacity(value: object, name: str, *, zero_ok: bool = False) -> int:
    """``value`` as a chunk cache's capacity in bytes: an int (numpy's too, not a bool) from 1 (or
    0 with ``zero_ok``: no cache) to 2**64 - 1, else InvalidArgumentError naming the argument."""
    least = 0 if zero_ok else 1
    if not isinstance(value, (bool, np.bool_)):
        try:
            capacity = operator.index(value)  # type: ignore[arg-type]
        except TypeError:
            pass
        else:
            if least <= capacity < 2**64:
                return capacity
    kind = "a non-negative" if zero_ok else "a positive"
    raise InvalidArgumentError(f"{name} must be {kind} int below 2**64, got {value!r}")


class Array:
    """A Zarr array (v2 or v3) opened through zarrs: one native handle, and every read and write on it.

    Made by :func:`open_array`, :func:`create_array` or :meth:`from_handle`. Close it (or use it in
    a ``with`` block) to release the handle; closing twice is fine.

    >>> arr = zarrs_cffi.open_array("data.zarr", "/temperature")
    >>> out = np.empty((512, 512), arr.dtype)
    >>> arr.read_into(out, (slice(0, 512), slice(0, 512), 7)) is out
    True

    Attributes:
        shape (tuple[int, ...]): The array's shape.
        dtype (numpy.dtype): The (native-endian) numpy dtype of decoded values.
        ndim (int): The number of dimensions.
        chunks (tuple[int, ...]): The chunk shape (the inner chunk shape, if sharded).
        shards (tuple[int, ...] | None): The shard shape, or None if not sharded.
        chunk_grid_shape (tuple[int, ...]): Stored chunks (shards, if sharded) along each dimension.
        metadata (dict): The array's metadata document.
        root (str | None): The store's root directory (None for a wrapped C handle without one).
        node (str): The node path inside the store (``"/"`` for the root).
        read_only (bool): True if writes are refused.
    """

    def __init__(
        self,
        handle: Handle,
        *,
        root: str | StoreLocation | None,
        node: str,
        read_only: bool = False,
    ) -> None:
        self._handle = handle
        # Where the array lives (with the store's options, for reopening in another process).
        self.location: StoreLocation | None = (
            root if isinstance(root, StoreLocation) or root is None else locate(root)
        )
        self.root = None if self.location is None else self.location.url
        self.node = node
        self.read_only = bool(read_only)
        with handle.use() as ptr:
            self.metadata: dict[str, Any] = _metadata_of(ptr)
            ptr = lib.zarrsCffiArrayUpstream(ptr)  # upstream's getters take upstream's handle
            ndim_p = ffi.new("size_t *")
            check_upstream(lib.zarrsArrayGetDimensionality(ptr, ndim_p))
            self.ndim: int = int(ndim_p[0])
            shape_p = ffi.new("uint64_t[]", max(self.ndim, 1))
            check_upstream(lib.zarrsArrayGetShape(ptr, self.ndim, shape_p))
            grid_p = ffi.new("uint64_t[]", max(self.ndim, 1))
            check_upstream(lib.zarrsArrayGetChunkGridShape(ptr, self.ndim, grid_p))
            dtype_p = ffi.new("ZarrsDataType *")
            check_upstream(lib.zarrsArrayGetDataType(ptr, dtype_p))
        self.shape: tuple[int, ...] = tuple(int(shape_p[i]) for i in range(self.ndim))
        self.chunk_grid_shape: tuple[int, ...] = tuple(int(grid_p[i]) for i in range(self.ndim))
        described = self.metadata.get("data_type", self.metadata.get("dtype", ""))
        self.dtype: np.dtype = numpy_dtype(int(dtype_p[0]), str(described))
        self.chunks, self.shards = chunks_and_shards(self.metadata)
        if self.shards is not None:
            _check_subchunks(self.chunks, self.shards)
        # Stored chunks are shards when sharded: chunk I/O and the chunk grid are in those units.
        self._stored_chunk_shape = self.shards or self.chunks
        self._ndim_c = self.ndim
        self._chunk_cache_bytes = 0  # the handle's chunk cache capacity (0: none)
        self._last_box: tuple[Any, ...] = (_NO_REGION,)  # see _small_box

    @property
    def engine(self) -> str:
        """The engine this array's I/O runs through ("cffi": the native library)."""
        return "cffi"

    # -- facts ------------------------------------------------------------------------------------
    @property
    def zarr_format(self) -> int:
        """The Zarr format version of the stored metadata: 3 or 2."""
        return int(self.metadata.get("zarr_format", 3))

    @property
    def fill_value(self) -> Any:
        """The value never-written elements read as, as a numpy scalar of ``dtype``."""
        return parse_fill_value(self.metadata.get("fill_value"), self.dtype)

    @property
    def attrs(self) -> dict[str, Any]:
        """A copy of the user attributes stored in the metadata (changing it changes nothing
        stored; nested values are copied too, so ``metadata`` stays as stored)."""
        return copy.deepcopy(dict(self.metadata.get("attributes") or {}))

    @property
    def size(self) -> int:
        """The number of elements (the product of ``shape``)."""
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        """The decoded size in bytes (``size * dtype.itemsize``)."""
        return self.size * self.dtype.itemsize

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._handle.closed

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d array")
        return self.shape[0]

    def __repr__(self) -> str:
        where = f"{self.root!r}, node={self.node!r}" if self.root else f"node={self.node!r}"
        state = ", closed" if self.closed else ""
        return redact(f"<zarrs_cffi.Array {where} shape={self.shape} dtype={self.dtype}{state}>")

    @property
    def decodes_directly(self) -> bool:
        """True if reads decode with zarrs-cffi's own decoder for common codec chains (``bytes``
        little endian + at most one of zstd/gzip/blosc, optionally sharded; see
        :func:`zarrs_cffi.set_direct_decoding`), False if through zarrs' codec pipeline."""
        return self._native_flag(lib.zarrsCffiArrayDecodesDirectly)

    @property
    def encodes_directly(self) -> bool:
        """True if whole-chunk writes encode with zarrs-cffi's own encoder for common codec
        chains (``bytes`` little endian + at most one of zstd/gzip, optionally sharded; see
        :func:`zarrs_cffi.set_direct_encoding`), False if through zarrs' codec pipeline."""
        return self._native_flag(lib.zarrsCffiArrayEncodesDirectly)

    def _native_flag(self, query: Any) -> bool:
        """A yes/no fact of the open handle, from a ``zarrsCffiArray*(array, int32_t *)`` query."""
        self._check_open()
        flag = ffi.new("int32_t *")
        with self._handle.use() as ptr:
            check(query(ptr, flag))
        return bool(flag[0])

    # -- decoded-chunk cache -----------------------------------------------------------------------
    def enable_chunk_cache(self, max_bytes: int = 256 * 2**20) -> None:
        """Keep up to ``max_bytes`` of decoded chunks (inner chunks, if sharded) for small reads.

        Many small reads of the same chunks then cost a copy instead of a decode. Reads that
        continue the previous one in C order (a chunk-by-chunk scan) also decode the next chunks
        in the background, about 1 MiB (at least one chunk) per thread a call may use (none with
        ``set_num_threads(1)``). Uncompressed chunks of directly decoded, unsharded arrays in a local
        directory are never cached: reads take them from the files (the OS page cache holds them);
        inner chunks of sharded arrays are cached, uncompressed or not. Off by default; enabling it
        again replaces the cache with an empty one.

        Staleness: writes through this Array clear the cache; writes by other handles or processes
        are NOT seen while a chunk stays cached (:meth:`clear_chunk_cache` forgets them), so enable it
        for data that is not being rewritten elsewhere.

        Args:
            max_bytes: The cache's capacity in bytes (default 256 MiB).

        Raises:
            InvalidArgumentError: ``max_bytes`` is not a positive int below 2**64.
        """
        max_bytes = cache_capacity(max_bytes, "max_bytes")
        with self._handle.use() as ptr:
            check(lib.zarrsCffiArraySetChunkCache(ptr, max_bytes))
        self._chunk_cache_bytes = max_bytes

    def disable_chunk_cache(self) -> None:
        """Drop the decoded-chunk cache (if any) and its memory.

        The cache belongs to the native handle, so this drops one enabled from C through
        :meth:`borrow_handle` (``zarrsCffiArraySetChunkCache``) too.

        Raises:
            ClosedError: The array is closed.
        """
        self._check_open()
        # Always asked of the handle (capacity 0: no cache), whoever enabled the cache.
        with self._handle.use() as ptr:
            check(lib.zarrsCffiArraySetChunkCache(ptr, 0))
        self._chunk_cache_bytes = 0

    def clear_chunk_cache(self) -> None:
        """Forget every cached chunk (no-op without a cache).

        Call it after another handle or process rewrote the array. Writes through this Array do this
        themselves.

        Raises:
            ClosedError: The array is closed.
        """
        self._check_open()
        with self._handle.use() as ptr:  # the handle's cache, whoever enabled it (none: no-op)
            check(lib.zarrsCffiArrayClearChunkCache(ptr))

    def chunk_cache_usage(self) -> tuple[int, int]:
        """Report what the decoded-chunk cache holds.

        Returns:
            ``(units, bytes)``: cached chunks (inner chunks, if sharded) and their decoded bytes;
            ``(0, 0)`` without a cache.

        Raises:
            ClosedError: The array is closed.
        """
        self._check_open()
        count, size = ffi.new("size_t *"), ffi.new("size_t *")
        with self._handle.use() as ptr:
            check(lib.zarrsCffiArrayChunkCacheUsage(ptr, count, size))
        return (int(count[0]), int(size[0]))

    # -- lifecycle ---------------------------------------------------------------------------------
    def close(self) -> None:
        """Release the native handle (and its chunk cache).

        Idempotent. Calls in flight on other threads finish first; later calls raise
        :class:`ClosedError`.
        """
        self._handle.close()
        self._chunk_cache_bytes = 0

    def __enter__(self) -> Array:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickles by location: unpickling reopens the array (e.g. in a dask worker).
        if self.location is None:  # only from_handle() without root= has no location
            raise TypeError(
                f"{self!r} wraps a native handle from C (Array.from_handle) with no location, so it "
                "cannot be pickled: pass root= (and node=) to from_handle, or pickle the store "
                "path and node and reopen it with open_array"
            )
        from .engine_array import _reopen_with_engine

        return (_reopen_with_engine, (self.location, self.node, self.read_only, "cffi"))

    # -- region I/O --------------------------------------------------------------------------------
    def read_into(self, out: np.ndarray, region: Region = ()) -> np.ndarray:
        """Decode ``region`` straight into ``out`` and return ``out``.

        Nothing is allocated for a box-shaped region. After a failed read, the contents of ``out``
        are unspecified.

        Args:
            out: A writable, C-contiguous ndarray of the array's dtype and exactly the result's shape.
            region: numpy basic indexing (ints, negative too; slices with any step; one Ellipsis;
                fewer entries than dimensions; ``()`` is the whole array), or an orthogonal
                selection as ``oindex`` takes it (integer arrays and lists, 1-D boolean masks, each
                indexing its own axis; e.g. ``([3, 97], slice(0, 512))`` for rows 3 and 97).

        Returns:
            ``out`` itself.

        Raises:
            DataTypeMismatchError: ``out`` has another dtype (a TypeError).
            OutputBufferError: ``out`` has another shape, is not C-contiguous or is read-only (a
                ValueError).
            InvalidIndicesError: The region is out of bounds (an IndexError).
            InvalidSelectionError: The region is neither basic nor orthogonal indexing (a TypeError).
            CodecError: A stored chunk is corrupt or truncated (names its key).
            ClosedError: The array is closed.
        """
        if self._handle.closed:  # _check_open, inlined: this is the hot path of small reads
            self._check_open()
        box = self._last_box
        if box[0] is not region:
            found = self._small_box(region)
            if found is None:
                return self._read_selection_into(out, region)
            box = found
        # The lean path for small reads: a box of step-1 slices, no Selection object.
        shape = box[1]
        if (
            type(out) is not np.ndarray
            or out.shape != shape
            or (out.dtype is not self.dtype and out.dtype != self.dtype)
            or not out.flags.carray
        ):
            check_out(out, self.dtype, shape)  # raises, naming the failed check
        if box[4]:
            self._retrieve_box(box[2], box[3], out)
        return out

    def _small_box(self, region: Region) -> tuple[Any, ...] | None:
        """``region`` as (region, shape, C start, C shape, nonempty) if it is a box of in-bounds
        step-1 slices, else None. Remembered for the next call: reading the same region object
        again (a tile polled into a reused buffer) skips parsing it. Safe by identity because
        such a region (a tuple of slices of ints) is immutable, and the shape is fixed."""
        found = simple_box(region, self.shape)
        if found is None:
            return None
        start, sizes = found
        c_start, c_shape = ffi.new("uint64_t[]", start), ffi.new("uint64_t[]", sizes)
        box = (region, tuple(sizes), c_start, c_shape, 0 not in sizes)
        self._last_box = box  # one attribute store: threads see the old or the new box whole
        return box

    def _read_selection_into(self, out: np.ndarray, region: Region) -> np.ndarray:
        if is_advanced(region):
            osel = normalize_orthogonal(region, self.shape)
            check_out(out, self.dtype, osel.out_shape)
            self._read_orthogonal_into(out, osel)
            return out
        sel = normalize_selection(region, self.shape)
        check_out(out, self.dtype, sel.out_shape)
        if sel.is_empty:
            return out
        if sel.is_contiguous:
            self._retrieve_box(sel.start, sel.shape, out)
        else:
            self._read_orthogonal_into(out, orthogonal_from_basic(sel))
        return out

    def read(self, region: Region = ()) -> np.ndarray:
        """Decode ``region`` into a new array (also ``arr[region]``).

        Args:
            region: numpy basic indexing: ints (negative too), slices with any step, one Ellipsis,
                fewer entries than dimensions; ``()`` is the whole array.

        Returns:
            A new ndarray of numpy's result shape (int indices drop their axis).

        Raises:
            InvalidArgumentError: The result is too large to allocate (read into your own buffer).
            InvalidIndicesError: The region is out of bounds (an IndexError).
            InvalidSelectionError: The region is not basic indexing (a TypeError).
            CodecError: A stored chunk is corrupt or truncated (names its key).
            ClosedError: The array is closed.
        """
        self._check_open()
        sel = normalize_selection(region, self.shape)
        try:
            out = np.empty(sel.out_shape, self.dtype)
        except (ValueError, MemoryError):
            out = allocate_result(sel.out_shape, self.dtype)  # raises the typed error
        if sel.is_empty:
            return out
        if sel.is_contiguous:
            self._retrieve_box(sel.start, sel.shape, out)
            return out
        # Strided: only the chunks holding selected elements, through at most a chunk of scratch.
        self._read_orthogonal_into(out, orthogonal_from_basic(sel))
        return out

    __getitem__ = read

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if copy is False:  # numpy 2: "never copy", and reading stored data is one (as zarr-python)
            raise InvalidArgumentError(
                "a Zarr array's data is read into a new numpy array: copy=False cannot be met"
            )
        data = self.read()
        return data if dtype is None else data.astype(dtype, copy=False)

    def write(self, region: Region, data: object) -> None:
        """Store ``data`` into ``region`` (also ``arr[region] = data``).

        Whole chunks are encoded and written; partly covered chunks are read, modified and written;
        chunks equal to the fill value are deleted. Each chunk file is replaced atomically.

        Args:
            region: numpy basic indexing: ints (negative too), slices with any step, one Ellipsis,
                fewer entries than dimensions; ``()`` is the whole array.
            data: Values broadcast to the region's shape and cast to the array's dtype like numpy
                assignment.

        Raises:
            ReadOnlyError: The array was opened with ``read_only=True`` (a PermissionError).
            InvalidArgumentError: ``data`` cannot be broadcast or cast (a ValueError).
            InvalidIndicesError: The region is out of bounds (an IndexError).
            InvalidSelectionError: The region is not basic indexing (a TypeError).
            CodecError: A stored chunk is corrupt or truncated (names its key).
            ClosedError: The array is closed.
        """
        self._check_open()
        self._check_writable()
        sel = normalize_selection(region, self.shape)
        value = region_value(data, self.dtype, sel.out_shape)
        if sel.is_empty:
            return
        if sel.is_contiguous:
            self._store_box(sel.start, sel.shape, np.ascontiguousarray(value))
            return
        # Strided: read-modify-write of only the chunks holding selected elements.
        self._write_orthogonal(orthogonal_from_basic(sel), value)

    def __setitem__(self, region: Region, data: object) -> None:
        """Store ``data`` into ``region``: ``arr[region] = data`` is :meth:`write`."""
        self.write(region, data)

    # -- zarr-python's indexing: oindex, vindex, blocks -------------------------------------------
    @property
    def oindex(self) -> OrthogonalIndex:
        """Orthogonal indexing, as zarr-python's ``oindex``: each axis takes an int, a slice, an
        integer array or list, or a 1-D boolean mask, independently of the others (the outer
        product). Reads return a new array; assignment writes (values broadcast).

        >>> arr = zarrs_cffi.open_array("data.zarr", "/temperature")  # 512 x 512 x 8
        >>> arr.oindex[[0, 5, 2], ::10, 3].shape      # rows 0, 5, 2; every tenth column
        (3, 52)
        >>> arr.oindex[np.arange(512) < 4, 0, :] = 1  # a boolean mask of the first axis
        >>> int(arr[0:5, 0, 0].sum())
        4
        """
        return OrthogonalIndex(self)

    @property
    def vindex(self) -> VectorizedIndex:
        """Vectorized (coordinate) indexing, as zarr-python's ``vindex``: one integer array per
        axis, broadcast together, names points (``arr.vindex[[0, 3], [2, 2]]``: elements (0, 2)
        and (3, 2)); or one boolean mask of the array's shape. Reads and assignment."""
        return VectorizedIndex(self)

    @property
    def blocks(self) -> BlockIndex:
        """Block indexing, as zarr-python's ``blocks``: ints and step-1 slices in units of stored
        chunks (shards, if sharded); ``arr.blocks[1, -1]`` is the data of that chunk (edge chunks
        clipped to the array). Reads and assignment."""
        return BlockIndex(self)

    def _read_orthogonal_into(self, out: np.ndarray, sel: OrthogonalSelection) -> None:
        """Read ``sel`` into ``out`` (C-contiguous, of ``sel.out_shape``)."""
        if sel.is_empty:
            return
        keepdims = out.reshape(sel.keepdims_shape)  # a view: out is C-contiguous
        box = sel.box()
        if box is not None:
            self._retrieve_box(box[0], box[1], keepdims)
            return
        if self._chunk_cache_bytes:  # box by box, through the cache
            plan = OrthogonalPlan(sel.axes, self.chunks)
            with self._handle.use() as ptr:  # one hold for every box: a close() meanwhile waits
                chunked_io.read_orthogonal(
                    partial(self._retrieve_with, ptr), keepdims, plan, self._chunk_nbytes, get_num_threads()
                )
            return
        # Slices go as (start, step): no index list as long as the result.
        counts = np.array([len(ax) for ax in sel.axes], dtype=np.uintp)
        starts = np.array([ax.start if isinstance(ax, range) else 0 for ax in sel.axes], dtype=np.uint64)
        # (a one-element range's step is any int, 2**64 included: it does not matter, 1 goes)
        steps = np.array(
            [(ax.step if len(ax) > 1 else 1) if isinstance(ax, range) else 0 for ax in sel.axes],
            dtype=np.int64,
        )
        lists = [_as_uint64(ax) for ax in sel.axes if not isinstance(ax, range)]
        indices = lists[0] if len(lists) == 1 else np.concatenate(lists) if lists else np.empty(0, np.uint64)
        with self._handle.use() as ptr:
            check(
                lib.zarrsCffiArrayRetrieveOrthogonalInto(
                    ptr,
                    self._ndim_c,
                    ffi.from_buffer("size_t[]", counts),
                    ffi.from_buffer("uint64_t[]", starts),
                    ffi.from_buffer("int64_t[]", steps),
                    len(indices),
                    ffi.from_buffer("uint64_t[]", indices),
                    keepdims.nbytes,
                    ffi.from_buffer("uint8_t[]", keepdims, require_writable=True),
                )
            )

    def _write_orthogonal(self, sel: OrthogonalSelection, value: np.ndarray) -> None:
        """Store ``value`` (already of ``sel.out_shape`` and the array's dtype) at ``sel``."""
        if sel.is_empty:
            return
        keepdims = np.ascontiguousarray(value).reshape(sel.keepdims_shape)
        box = sel.box()
        if box is not None:
            self._store_box(box[0], box[1], keepdims)
            return
        self._read_modify_write(chunked_io.write_orthogonal, keepdims, OrthogonalPlan(sel.axes, self.chunks))

    def _read_points_into(self, out: np.ndarray, sel: CoordinateSelection) -> None:
        if sel.is_empty:
            return
        flat = out.reshape(-1)
        if self._chunk_cache_bytes or not sel.coords:  # box by box, through the cache
            groups = point_groups(sel.coords, self.chunks)
            with self._handle.use() as ptr:  # one hold for every box: a close() meanwhile waits
                chunked_io.read_points(
                    partial(self._retrieve_with, ptr), flat, groups, self._chunk_nbytes, get_num_threads()
                )
            return
        coords = np.stack(sel.coords, axis=1).astype(np.uint64, copy=False)  # point by point, C order
        with self._handle.use() as ptr:
            check(
                lib.zarrsCffiArrayRetrievePointsInto(
                    ptr,
                    self._ndim_c,
                    len(flat),
                    ffi.from_buffer("uint64_t[]", np.ascontiguousarray(coords)),
                    flat.nbytes,
                    ffi.from_buffer("uint8_t[]", flat, require_writable=True),
                )
            )

    def _write_points(self, sel: CoordinateSelection, value: np.ndarray) -> None:
        if sel.is_empty:
            return
        flat = np.ascontiguousarray(value).reshape(-1)
        self._read_modify_write(chunked_io.write_points, flat, point_groups(sel.coords, self.chunks))

    def _read_modify_write(self, write: Callable[..., None], values: np.ndarray, layout: Any) -> None:
        """Run a ``chunked_io`` write (``write_orthogonal`` over a plan, ``write_points`` over point
        groups) under the array's write lock, its reads and stores through the pointer the lock
        holds: it finishes whole after a ``close()`` that comes meanwhile."""
        with self._locked_write() as ptr:
            write(
                partial(self._retrieve_with, ptr),
                partial(self._store_with, ptr),
                values,
                layout,
                self.chunks,
                self.shape,
            )

    @contextmanager
    def write_lock(self) -> Iterator[None]:
        """Hold the array's write lock for a read-modify-write of your own, so that no other
        thread's write of the array comes between. Writes on this thread go ahead under it; other
        threads' writes (through any ``Array`` of the same array in this process) wait; reads do not.
        Blocks nest. Other processes are not coordinated. Writing another array inside the block
        waits for that array's lock: take several arrays' locks in one fixed order in every thread,
        or two threads can wait for each other forever.

        >>> with arr.write_lock():  # doctest: +SKIP
        ...     arr[0:10] = arr[0:10] + 1   # no update from another thread is lost in between

        Strided, ``oindex`` and ``vindex`` writes take it themselves.

        The block must end on the thread that entered it (the lock is this thread's).

        Yields:
            None, while the lock is held.

        Raises:
            ClosedError: The array is closed.
        """
        with self._locked_write():
            yield

    @contextmanager
    def _locked_write(self) -> Iterator[Any]:
        """:meth:`write_lock`, yielding the pointer it holds: a read-modify-write made of several
        calls passes it to each (``_retrieve_with``/``_store_with``) and so finishes whole after a
        ``close()`` that comes meanwhile."""
        with self._handle.use() as ptr:
            try:
                # Inside the try: a KeyboardInterrupt raised as the call returns (after the lock
                # was taken while waiting for it) must still release it, or every later write of
                # the array in this process waits forever. On a live handle the call cannot fail,
                # so the finally always ends a write this call began.
                check(lib.zarrsCffiArrayBeginWrite(ptr))
                # A read-modify-write under the lock reads what is stored now: chunks this handle
                # cached before another handle's write would write that write away.
                check(lib.zarrsCffiArrayClearChunkCache(ptr))
                yield ptr
            finally:
                check(lib.zarrsCffiArrayEndWrite(ptr))

    @property
    def _chunk_nbytes(self) -> int:
        return math.prod(self.chunks) * self.dtype.itemsize

    # -- chunk I/O (stored chunks: shards for sharded arrays) ---------------------------------------
    def chunk_shape(self) -> tuple[int, ...]:
        """Return the shape of one stored chunk (the shard shape if sharded).

        Returns:
            The shape; edge chunks are stored full-size too.
        """
        return tuple(self._stored_chunk_shape)

    def read_chunk(self, coords: Sequence[int], out: np.ndarray | None = None) -> np.ndarray:
        """Decode one stored chunk at its full shape.

        Args:
            coords: Chunk-grid coordinates of a stored chunk (a shard, if sharded), one int per
                dimension.
            out: Optional buffer to decode into (writable, C-contiguous, the array's dtype and
                :meth:`chunk_shape`); None allocates a new array.

        Returns:
            The chunk (``out`` if given); a missing chunk reads as the fill value.

        Raises:
            ChunkCoordsTypeError: ``coords`` is not a sequence of ints (a TypeError).
            ChunkCoordsLengthError: Wrong number of coordinates (an IndexError).
            InvalidIndicesError: A coordinate lies outside the chunk grid (an IndexError).
            ClosedError: The array is closed.
            DataTypeMismatchError: ``out`` has another dtype (a TypeError).
            OutputBufferError: ``out`` has the wrong shape or layout (a ValueError).
            CodecError: The stored chunk is corrupt or truncated (names its key).
        """
        c_coords = self._chunk_coords(coords)
        shape = self.chunk_shape()
        out = allocate_result(shape, self.dtype) if out is None else check_out(out, self.dtype, shape)
        buf = ffi.from_buffer("uint8_t[]", out, require_writable=True)
        with self._handle.use() as ptr:
            check(lib.zarrsCffiArrayRetrieveChunkInto(ptr, self._ndim_c, c_coords, out.nbytes, buf))
        return out

    def write_chunk(self, coords: Sequence[int], data: object) -> None:
        """Encode and store one whole chunk.

        A chunk equal to the fill value is deleted instead of stored.

        Args:
            coords: Chunk-grid coordinates of a stored chunk (a shard, if sharded), one int per
                dimension.
            data: The chunk's values, exactly :meth:`chunk_shape`, cast to the array's dtype as
                :meth:`write` casts (a Python int out of the dtype's range is an error).

        Raises:
            ReadOnlyError: The array was opened with ``read_only=True`` (a PermissionError).
            InvalidArgumentError: ``data`` does not have the chunk's shape, or cannot be cast to the
                array's dtype (a ValueError).
            ChunkCoordsTypeError: ``coords`` is not a sequence of ints (a TypeError).
            ChunkCoordsLengthError: Wrong number of coordinates (an IndexError).
            InvalidIndicesError: A coordinate lies outside the chunk grid (an IndexError).
            ClosedError: The array is closed.
        """
        self._check_writable()
        c_coords = self._chunk_coords(coords)
        value = self._whole_chunk(data)
        buf = ffi.from_buffer("uint8_t[]", value)
        with self._handle.use() as ptr:  # (the handle clears its chunk cache)
            check(lib.zarrsCffiArrayStoreChunk(ptr, self._ndim_c, c_coords, value.nbytes, buf))

    def _whole_chunk(self, data: Any) -> np.ndarray:
        """``data`` as one whole chunk: C-contiguous, of the array's dtype; else InvalidArgumentError.
        Cast as region writes cast (a Python int out of range is refused, never wrapped around)."""
        return chunk_value(data, self.dtype, self.chunk_shape())

    def erase_chunk(self, coords: Sequence[int]) -> None:
        """Delete one stored chunk; it then reads as the fill value (no error if absent).

        Args:
            coords: Chunk-grid coordinates of a stored chunk (a shard, if sharded), one int per
                dimension.

        Raises:
            ReadOnlyError: The array was opened with ``read_only=True`` (a PermissionError).
            ChunkCoordsTypeError: ``coords`` is not a sequence of ints (a TypeError).
            ChunkCoordsLengthError: Wrong number of coordinates (an IndexError).
            InvalidIndicesError: A coordinate lies outside the chunk grid (an IndexError).
            ClosedError: The array is closed.
        """
        self._check_writable()
        c_coords = self._chunk_coords(coords)
        with self._handle.use() as ptr:  # (the handle clears its chunk cache)
            check(lib.zarrsCffiArrayEraseChunk(ptr, self._ndim_c, c_coords))

    def read_encoded_chunk(self, coords: Sequence[int]) -> bytes | None:
        """Read one chunk's stored (encoded) bytes, without decoding them.

        Args:
            coords: Chunk-grid coordinates of a stored chunk (a shard, if sharded), one int per
                dimension.

        Returns:
            The stored bytes, or None if the chunk does not exist.

        Raises:
            ChunkCoordsTypeError: ``coords`` is not a sequence of ints (a TypeError).
            ChunkCoordsLengthError: Wrong number of coordinates (an IndexError).
            InvalidIndicesError: A coordinate lies outside the chunk grid (an IndexError).
            ClosedError: The array is closed.
        """
        c_coords = self._chunk_coords(coords)
        data_p = ffi.new("uint8_t **")
        len_p = ffi.new("size_t *")
        with self._handle.use() as ptr:
            check(lib.zarrsCffiArrayRetrieveEncodedChunk(ptr, self._ndim_c, c_coords, data_p, len_p))
        if data_p[0] == ffi.NULL:
            return None
        try:
            return bytes(ffi.buffer(data_p[0], len_p[0]))
        finally:
            lib.zarrsCffiFreeBytes(data_p[0], len_p[0])

    def decode_chunk(self, coords: Sequence[int], encoded: Any, out: np.ndarray | None = None) -> np.ndarray:
        """Decode one chunk's stored bytes, fetched by the caller, with this array's codecs.

        For stores the native library cannot open itself: fetch the bytes through your own store,
        decode them here (no store access).

        Args:
            coords: Chunk-grid coordinates of the chunk (a shard, if sharded), one int per dimension.
            encoded: The chunk's stored bytes (any C-contiguous buffer: bytes, memoryview, a uint8
                array).
            out: Optional buffer to decode into (writable, C-contiguous, the array's dtype and
                :meth:`chunk_shape`, as for :meth:`read_chunk`); None allocates a new array.

        Returns:
            The decoded chunk (``out`` if given).

        Raises:
            InvalidArgumentError: ``encoded`` is not a C-contiguous buffer (a ValueError).
            NotAnArrayError: ``out`` is not a numpy.ndarray (a TypeError and a ValueError).
            DataTypeMismatchError: ``out`` has another dtype (a TypeError).
            OutputBufferError: ``out`` has the wrong shape or layout, or is read-only (a ValueError).
            CodecError: The bytes do not decode with this array's codecs.
            ChunkCoordsTypeError: ``coords`` is not a sequence of ints (a TypeError).
            ChunkCoordsLengthError: Wrong number of coordinates (an IndexError).
            InvalidIndicesError: A coordinate lies outside the chunk grid (an IndexError).
            ClosedError: The array is closed.
        """
        c_coords = self._chunk_coords(coords)
        source = _byte_buffer(encoded, "encoded")
        # The same checks (and errors) as read_chunk's: both decode one whole chunk into ``out``.
        shape = self.chunk_shape()
        out = allocate_result(shape, self.dtype) if out is None else check_out(out, self.dtype, shape)
        target = ffi.from_buffer("uint8_t[]", out, require_writable=True)
        with self._handle.use() as ptr:
            check(
                lib.zarrsCffiArrayDecodeChunk(
                    ptr, self._ndim_c, c_coords, len(source), source, out.nbytes, target
                )
            )
        return out

    def encode_chunk(self, coords: Sequence[int], data: Any) -> bytes:
        """Encode one whole chunk with this array's codecs, without storing it.

        The write-side twin of :meth:`decode_chunk`: store the bytes through your own store. A
        chunk equal to the fill value is encoded too (whether to store it is yours to decide).

        Args:
            coords: Chunk-grid coordinates of the chunk (a shard, if sharded), one int per dimension.
            data: The chunk's values, exactly :meth:`chunk_shape`, cast to the array's dtype as
                :meth:`write` casts (a Python int out of the dtype's range is an error).

        Returns:
            The encoded bytes, as the store would hold them.

        Raises:
            InvalidArgumentError: ``data`` does not have the chunk's shape, or cannot be cast to the
                array's dtype (a ValueError).
            ChunkCoordsTypeError: ``coords`` is not a sequence of ints (a TypeError).
            ChunkCoordsLengthError: Wrong number of coordinates (an IndexError).
            InvalidIndicesError: A coordinate lies outside the chunk grid (an IndexError).
            ClosedError: The array is closed.
        """
        c_coords = self._chunk_coords(coords)
        value = self._whole_chunk(data)
        buf = ffi.from_buffer("uint8_t[]", value)
        data_p = ffi.new("uint8_t **")
        len_p = ffi.new("size_t *")
        with self._handle.use() as ptr:
            check(
                lib.zarrsCffiArrayEncodeChunk(ptr, self._ndim_c, c_coords, value.nbytes, buf, data_p, len_p)
            )
        try:
            return bytes(ffi.buffer(data_p[0], len_p[0]))
        finally:
            lib.zarrsCffiFreeBytes(data_p[0], len_p[0])

    # -- embedding -------------------------------------------------------------------------------
    def lend_handle(self) -> Any:
        """Lend the raw ``ZarrsCffiArray`` to C code; pair every call with :meth:`return_handle`.

        While lent, :meth:`close` defers destruction until the handle is returned. The borrower must
        never destroy it. Prefer :meth:`borrow_handle`, which returns it for you.

        Returns:
            The cffi ``ZarrsCffiArray`` pointer (``zarrsCffiArrayUpstream`` gives upstream's
            ``ZarrsArray`` inside it, for upstream's ``zarrsArray*`` functions).

        Raises:
            ClosedError: The array is closed.
        """
        return self._handle.lend()

    def return_handle(self) -> None:
        """Return a handle lent by :meth:`lend_handle` (destroying it now if :meth:`close` was deferred).

        Raises:
            InvalidArgumentError: No lend is outstanding (more returns than lends); nothing is
                changed, and calls in flight on other threads keep their hold on the handle.
        """
        self._handle.unlend()

    @contextmanager
    def borrow_handle(self) -> Iterator[Any]:
        """Lend the raw ``ZarrsCffiArray`` for the duration of a ``with`` block.

        >>> import ctypes
        >>> c_side = ctypes.CDLL(zarrs_cffi.get_library())  # or your own C code
        >>> c_side.zarrsCffiArrayUpstream.restype = ctypes.c_void_p  # upstream's handle inside ours
        >>> arr, ndim = zarrs_cffi.open_array("data.zarr", "/temperature"), ctypes.c_size_t()
        >>> with arr.borrow_handle() as ptr:  # a cffi ZarrsCffiArray; its address for ctypes:
        ...     upstream = c_side.zarrsCffiArrayUpstream(ctypes.c_void_p(arr.handle_address()))
        ...     c_side.zarrsArrayGetDimensionality(ctypes.c_void_p(upstream), ctypes.byref(ndim))
        0
        >>> ndim.value
        3

        ``close()`` inside (or concurrently with) the block defers destruction to its end. The
        pointer must not be used, stored or destroyed by the borrower after the block.

        Yields:
            The cffi ``ZarrsCffiArray`` pointer (``zarrsCffiArrayUpstream`` gives upstream's
            ``ZarrsArray`` inside it, for upstream's ``zarrsArray*`` functions).

        Raises:
            ClosedError: The array is closed.
        """
        ptr = self.lend_handle()
        try:
            yield ptr
        finally:
            self.return_handle()

    def handle_address(self) -> int:
        """Return the address of the native ``ZarrsCffiArray`` as an int (for ctypes and other FFIs).

        Only valid while the array is open: take it inside :meth:`borrow_handle` when another
        thread may close the array.

        Returns:
            The pointer's address.

        Raises:
            ClosedError: The array is closed.
        """
        ptr = self.lend_handle()
        try:
            return int(ffi.cast("uintptr_t", ptr))
        finally:
            self.return_handle()

    @property
    def owns_handle(self) -> bool:
        """False for a wrapper made by ``from_handle(..., owned=False)``: Python never destroys it."""
        return not isinstance(self._handle, _ForeignHandle)

    @classmethod
    def from_handle(
        cls,
        handle: Any,
        *,
        owned: bool = False,
        root: str | None = None,
        node: str = "/",
        read_only: bool = False,
        upstream: bool | None = None,
    ) -> Array:
        """Wrap an array handle made by C code (in this process, with this package's library).

        The handle is a ``ZarrsCffiArray`` (from ``zarrsCffiOpenArray`` or
        ``zarrsCffiArrayFromMetadata``) or upstream's ``ZarrsArray`` (from ``zarrsOpenArrayRW`` or
        ``zarrsCreateArrayRW``; Python then makes a ``ZarrsCffiArray`` around it with
        ``zarrsCffiArrayFromUpstream``).

        * ``owned=False`` (the default): the caller keeps ownership. Python never destroys the
          handle; ``close()`` (and garbage collection) only forget it. ``close()`` returns once no
          call on another thread is still using the pointer, so the owner may destroy it as soon as
          ``close()`` has returned.
        * ``owned=True``: ownership passes to Python once the arguments are accepted (so also if
          reading the array's facts then fails): ``close()`` or garbage collection destroys it
          (with ``zarrsCffiDestroyArray``), exactly once. The caller must not destroy it. If an
          argument is rejected (a typed error before anything is done), the caller still owns it.

        Args:
            handle: A cffi ``ZarrsCffiArray``, ``ZarrsArray`` or ``void *`` pointer, an int
                address, or a ``ctypes.c_void_p``.
            owned: Whether Python takes ownership (see above).
            root: Where the array lives, for ``repr`` and pickling only (nothing is read from it).
            node: The array's node path, likewise descriptive only.
            read_only: Refuse writes through this wrapper.
            upstream: Whether ``handle`` is upstream's ``ZarrsArray``; None (the default) means
                yes for a cffi ``ZarrsArray`` pointer and no for anything else.

        Returns:
            The wrapping :class:`Array`.

        Raises:
            NullPointerError: ``handle`` is NULL.
            InvalidArgumentError: A malformed handle, or a wrongly typed argument; with
                ``owned=True``, a handle an Array of this process owns already (adopted before, or
                one an Array lent): two owners would destroy it twice.
        """
        ptr, is_upstream = _array_pointer(handle)
        if not isinstance(owned, bool):
            raise InvalidArgumentError(f"owned must be True or False, got {owned!r}")
        if root is not None and not isinstance(root, str):
            raise InvalidArgumentError(f"root must be str or None, got {type(root).__name__}")
        if not isinstance(node, str):
            raise InvalidArgumentError(f"node must be str, got {type(node).__name__}")
        if upstream is not None and not isinstance(upstream, bool):
            raise InvalidArgumentError(f"upstream must be True, False or None, got {upstream!r}")
        what = f"array {node!r} (handle from C)"
        if upstream is not None:
            is_upstream = upstream
        if owned and owner_of(address(ptr)) is not None:
            raise InvalidArgumentError(
                f"{what}: this handle is already owned by an Array of this process (owned=True "
                "given twice, or a handle an Array lent): wrap it with owned=False"
            )
        if is_upstream:
            return cls(_wrap_upstream(ptr, owned, what), root=root, node=node, read_only=read_only)
        ptr = ffi.cast("ZarrsCffiArray", ptr)
        wrapper: Handle = Handle(ptr, _destroy_array, what) if owned else _ForeignHandle(ptr, what)
        return cls(wrapper, root=root, node=node, read_only=read_only)

    # -- internals ---------------------------------------------------------------------------------
    def _check_open(self) -> None:
        # Empty selections return before any native call (where Handle.use() would raise), so
        # region I/O checks here first: a closed array raises for every region, empty or not.
        if self._handle.closed:
            raise ClosedError(f"{self._handle.what} is closed")

    def _check_writable(self) -> None:
        if self.read_only:
            location = self.location
            if location is not None and location.read_only:  # the store's kind, not the caller's choice
                kinds = {"zip": "a zip file", "http": "an HTTP server", "https": "an HTTP server"}
                kind = kinds.get(location.scheme, "a store opened read-only")
                raise ReadOnlyError(f"{self!r} is in {kind}, which is read-only here")
            raise ReadOnlyError(f"{self!r} was opened read-only")

    def _chunk_coords(self, coords: Sequence[int]) -> Any:
        values = check_chunk_coords(coords, self.chunk_grid_shape)
        return ffi.new("uint64_t[]", values) if values else ffi.NULL

    def _retrieve_box(self, start: Sequence[int], shape: Sequence[int], out: np.ndarray) -> None:
        # The hot path of every read: plain acquire/release (no generator context manager).
        ptr = self._handle.acquire()
        try:
            self._retrieve_with(ptr, start, shape, out)
        finally:
            self._handle.release()

    def _retrieve_with(self, ptr: Any, start: Sequence[int], shape: Sequence[int], out: np.ndarray) -> None:
        """Read the box into ``out`` through ``ptr``, which the caller holds.

        cffi turns a list passed for a uint64_t* argument into a temporary C array (read_into's
        remembered box passes prebuilt ones); a 0-d array passes NULL either way. The cffi
        callables are module-level bindings (no attribute lookups on the hot path)."""
        ndim = self._ndim_c
        rc = _retrieve_into(
            ptr,
            ndim,
            start if ndim else _NULL,
            shape if ndim else _NULL,
            out.nbytes,
            _from_buffer(_BYTES, out, True),
        )
        if rc:
            check(rc)

    def _store_box(self, start: Sequence[int], shape: Sequence[int], data: np.ndarray) -> None:
        with self._handle.use() as ptr:  # (the handle clears its chunk cache)
            self._store_with(ptr, start, shape, data)

    def _store_with(self, ptr: Any, start: Sequence[int], shape: Sequence[int], data: np.ndarray) -> None:
        """Store ``data`` at the box through ``ptr``, which the caller holds."""
        buf = ffi.from_buffer("uint8_t[]", data)
        c_start = ffi.new("uint64_t[]", start) if self._ndim_c else ffi.NULL
        c_shape = ffi.new("uint64_t[]", shape) if self._ndim_c else ffi.NULL
        check(lib.zarrsCffiArrayStoreSubset(ptr, self._ndim_c, c_start, c_shape, data.nbytes, buf))


def _check_subchunks(chunks: tuple[int, ...], shards: tuple[int, ...]) -> None:
    """The sharding codec's inner chunk shape must have the array's rank and divide the shard shape
    (Zarr v3 spec). zarrs 0.23 accepts a mismatch when opening, then panics on reads."""
    if len(chunks) != len(shards) or any(
        not isinstance(c, int) or c <= 0 or s % c for c, s in zip(chunks, shards)
    ):
        raise InvalidMetadataError(
            f"sharding_indexed chunk_shape {list(chunks)} must have one entry per dimension "
            f"({len(shards)}) and evenly divide the shard shape {list(shards)}"
        )


_allocate = allocate_result  # the name this helper had here before it moved to buffers.py


def _destroy_array(ptr: Any) -> None:
    lib.zarrsCffiDestroyArray(ptr)


def _wrap_upstream(ptr: Any, owned: bool, what: str) -> Handle:
    """A ``ZarrsCffiArray`` around upstream's handle ``ptr`` (adopting it if ``owned``)."""
    out = ffi.new("ZarrsCffiArray *")
    check(lib.zarrsCffiArrayFromUpstream(ffi.cast("ZarrsArray", ptr), int(owned), out), what)
    if owned:
        handle = Handle(out[0], _destroy_array, what)
        handle.claim(address(ptr))  # destroying ours destroys the adopted upstream handle too
        return handle
    # Python owns the wrapper (destroying it leaves upstream's handle alone), the caller the rest.
    return _ForeignHandle(out[0], what, destroy=_destroy_array)


def _array_pointer(handle: Any) -> tuple[Any, bool]:
    """A ``void *`` from a cffi pointer, an int address or a ctypes ``c_void_p``, and whether it
    is typed as upstream's ``ZarrsArray``."""
    if isinstance(handle, ffi.CData):
        cname = ffi.typeof(handle).cname
        if cname not in _POINTER_TYPES:
            raise InvalidArgumentError(
                f"handle must be a cffi ZarrsCffiArray, ZarrsArray or void * pointer, got {cname!r}"
            )
        if handle == ffi.NULL:
            raise NullPointerError("handle is NULL")
        return ffi.cast("void *", handle), cname == "struct ZarrsArray_T *"
    if isinstance(handle, ctypes.c_void_p):
        if handle.value is None:
            raise NullPointerError("handle is NULL")
        handle = handle.value
    if isinstance(handle, bool) or not isinstance(handle, int):
        raise InvalidArgumentError(
            f"handle must be a cffi ZarrsArray pointer, an int address or a ctypes.c_void_p "
            f"(or a cffi ZarrsCffiArray pointer), got {type(handle).__name__}"
        )
    if handle == 0:
        raise NullPointerError("handle is NULL (address 0)")
    if not 0 < handle < 2 ** (8 * ffi.sizeof("uintptr_t")):
        raise InvalidArgumentError(f"handle address {handle:#x} is not a valid pointer value")
    return ffi.cast("void *", handle), False


_POINTER_TYPES = frozenset({"struct ZarrsCffiArray_T *", "struct ZarrsArray_T *", "void *"})


class _ForeignHandle(Handle):
    """A handle Python does not own: nothing is destroyed, ``close()`` only forgets the pointer.

    ``close()`` waits until calls in flight on *other* threads have returned, so that the owner
    may destroy the pointer as soon as ``close()`` returns. Calls and lends held by the thread
    that closes are not waited for (that would deadlock); the owner must wait for those itself.
    """

    __slots__ = ("_holders", "_lock")

    def __init__(self, ptr: Any, what: str, destroy: Callable[[Any], None] | None = None) -> None:
        # `destroy`: for the wrapper Python made around a caller's upstream handle.
        super().__init__(ptr, destroy or _forget, what, owns=destroy is not None)
        self._lock = object_lock(self, _ForeignHandle._keep_own_holds)
        self._holders: dict[int, int] = {}

    def _keep_own_holds(self) -> None:
        """In a forked child only the forking thread exists: forget the others' calls and lends."""
        me = threading.get_ident()
        self._holders = {me: self._holders[me]} if me in self._holders else {}

    def acquire(self) -> Any:
        me = threading.get_ident()
        with self._lock:
            self._holders[me] = self._holders.get(me, 0) + 1
        try:
            return super().acquire()
        except BaseException:
            self._drop(me)
            raise

    def release(self) -> None:
        self._drop(threading.get_ident())
        super().release()

    def _drop(self, me: int) -> None:
        with self._lock:
            # A lend may be returned by another thread than the one that took it.
            who = me if me in self._holders else next(iter(self._holders), None)
            if who is None:
                return
            left = self._holders[who] - 1
            if left:
                self._holders[who] = left
            else:
                del self._holders[who]

    def close(self) -> None:
        super().close()
        me = threading.get_ident()
        delay = 1e-5
        while True:
            with self._lock:
                others = sum(n for who, n in self._holders.items() if who != me)
            if not others:
                return
            time.sleep(delay)
            delay = min(delay * 2, 1e-3)


def _forget(ptr: Any) -> None:
    """The "destroy" of a handle Python does not own."""


def _metadata_of(ptr: Any) -> dict[str, Any]:
    out = ffi.new("char **")
    check(lib.zarrsCffiArrayGetMetadata(ptr, out), "array metadata")
    # json reads the bare NaN / Infinity zarr-python writes in attributes (handed back as stored).
    doc = json.loads(take_string(out[0]))
    return doc if isinstance(doc, dict) else {}


__all__ = ["Array", "Selection", "check_out"]


def _as_uint64(indices: Any) -> np.ndarray:
    """Non-negative indices as a contiguous uint64 array, without a copy when they are int64."""
    values = np.ascontiguousarray(indices)
    return values.view(np.uint64) if values.dtype == np.int64 else values.astype(np.uint64)


def _byte_buffer(data: Any, name: str) -> Any:
    """A cffi view of the bytes of any C-contiguous buffer (read-only ones too), else
    InvalidArgumentError saying whether ``data`` is no buffer at all or a non-contiguous one."""
    try:
        return ffi.from_buffer("uint8_t[]", data)
    except (TypeError, ValueError):  # not a buffer, or not a contiguous one
        raise InvalidArgumentError(_not_a_byte_buffer(data, name)) from None


def _not_a_byte_buffer(data: Any, name: str) -> str:
    """Why ``data`` cannot be read as bytes in place: no buffer, or one that is not C-contiguous
    (its bytes are not in one run; copying it is left to the caller, who knows the order meant)."""
    try:
        view = memoryview(data)
    except TypeError:
        return (
            f"{name} must be a bytes-like object (bytes, memoryview, a C-contiguous numpy array), "
            f"got {type(data).__name__}"
        )
    return (
        f"{name} must be a C-contiguous buffer, got a non-contiguous {type(data).__name__} of shape "
        f"{view.shape} (pass np.ascontiguousarray(...) or bytes(...))"
    )
