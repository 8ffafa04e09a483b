"""One-shot calls by array path: ``read_into(out, path, region)``, ``read``, ``write``.

Opening an array costs a metadata read and parse, so handles are cached per path. A cached handle
is used only while the array's metadata file is provably unchanged, so a recreated array (other
dtype or shape) is never read through a stale handle:

* the file's (mtime, ctime, size, inode) must match what was seen when the handle was opened, and
* if the file was modified less than ``_SETTLE_NS`` before the last validation, a change within
  the same coarse timestamp tick could hide, so the file's bytes are compared as well.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from .array import Array, Region
from .errors import NodeNotFoundError
from .forksafe import module_lock
from .open import open_array
from .store import root_path
from .store_location import locate


@contextmanager
def _array_at(
    path: Any, storage_options: Mapping[str, Any] | None, *, writing: bool = False
) -> Iterator[Array]:
    """The array at ``path``: a cached handle for local directories (see the module's docstring);
    for URLs and stores a handle opened for this call (a remote array's metadata cannot be checked
    for changes more cheaply than it is read), and for writes to a store opened read-only (a
    ``LocalStore(root, read_only=True)``): its handle refuses them."""
    location = locate(path, storage_options)
    location.check_options_apply()  # as Store() does
    if location.local and not (writing and location.read_only):
        yield cached_array(location.url)
        return
    with open_array(location, engine="cffi") as array:
        yield array


_CACHE_SIZE = 64
_SETTLE_NS = 2_000_000_000  # filesystem timestamps can lag the clock by a tick; 2 s is generous


@dataclass
class _Entry:
    array: Array
    metadata_file: str
    signature: tuple[int, int, int, int]
    content: bytes
    validated_ns: int


_cache: OrderedDict[str, _Entry] = OrderedDict()


def _reset_lock() -> None:
    global _lock
    _lock = threading.Lock()


_lock = module_lock(_reset_lock)


def _metadata_file(path: str) -> str:
    for name in ("zarr.json", ".zarray"):
        candidate = os.path.join(path, name)
        if os.path.exists(candidate):
            return candidate
    raise NodeNotFoundError(f"no array at {path!r} (no zarr.json or .zarray)")


def _signature(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)


def _read_bytes(file: str) -> bytes:
    with open(file, "rb") as fh:
        return fh.read()


def _still_valid(entry: _Entry) -> bool:
    try:
        st = os.stat(entry.metadata_file)
    except OSError:
        return False
    if _signature(st) != entry.signature:
        return False
    now = time.time_ns()
    if st.st_mtime_ns < entry.validated_ns - _SETTLE_NS:
        return True  # any later rewrite would carry a newer timestamp
    if _read_bytes(entry.metadata_file) != entry.content:
        return False
    entry.validated_ns = now
    return True


def cached_array(path: str | os.PathLike[str]) -> Array:
    """An open handle for the array directory ``path``, reused while its metadata is unchanged."""
    key = root_path(path)
    if not locate(key).local:  # a local zip file: opened per call, as remote arrays are
        return open_array(key, engine="cffi")
    with _lock:
        entry = _cache.get(key)
        if entry is not None and not entry.array.closed and _still_valid(entry):
            _cache.move_to_end(key)
            return entry.array
    file = _metadata_file(key)
    validated = time.time_ns()
    try:
        st = os.stat(file)
        content = _read_bytes(file)
    except FileNotFoundError:  # deleted (or being replaced) since _metadata_file found it
        raise NodeNotFoundError(f"no array at {key!r} (its metadata file is gone)") from None
    array = open_array(key, engine="cffi")
    with _lock:
        _cache.pop(key, None)
        _cache[key] = _Entry(array, file, _signature(st), content, validated)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    # Handles dropped from the cache are not closed here: another thread may have just taken one
    # from it for a call (it raised ClosedError). The last reference going frees it (Handle.__del__).
    return array


def clear_cache() -> None:
    """Drop every array handle the one-shot calls (and this process's dask tasks) keep open.

    Call it before deleting or moving arrays by other means, or to release memory. The next
    one-shot call (or task) reopens what it needs. A handle another thread is reading through right now is
    freed when that call returns (CPython frees the others at once; PyPy at its next collection).
    """
    with _lock:
        _cache.clear()
    dask_io = sys.modules.get("zarrs_cffi.dask")
    if dask_io is not None:  # and the arrays dask tasks opened in this process
        dask_io.forget_open_arrays()


def read_into(
    out: np.ndarray, path: Any, region: Region = (), *, storage_options: Mapping[str, Any] | None = None
) -> np.ndarray:
    """Decode ``region`` of the array directory ``path`` into ``out``.

    The opened array is kept for later calls and reopened when its metadata changes.

    >>> out = np.empty((512, 512), dtype="uint16")
    >>> zarrs_cffi.read_into(out, "data.zarr/temperature", (slice(0, 512), slice(0, 512), 7)) is out
    True

    Args:
        out: A writable, C-contiguous ndarray of the array's dtype and the result's shape.
        path: The array's own directory (``"data.zarr/temperature"``), or its URL
            (``"s3://bucket/data.zarr/temperature"``) or store (see :class:`Store`).
        region: numpy basic indexing (ints, slices with any step, one Ellipsis); ``()`` is everything;
            or an orthogonal selection as :attr:`Array.oindex` takes it (integer arrays and lists,
            1-D boolean masks, each indexing its own axis).
        storage_options: Options of an object store URL (see :class:`Store`).

    Returns:
        ``out`` itself.

    Raises:
        NodeNotFoundError: No array at ``path`` (a FileNotFoundError).
        DataTypeMismatchError: ``out`` has another dtype (a TypeError).
        OutputBufferError: ``out`` has another shape than the result, is not C-contiguous, or is
            read-only (a ValueError).
        InvalidIndicesError: The region is out of bounds (an IndexError).
        InvalidSelectionError: The region is neither basic nor orthogonal indexing (a TypeError).
        CodecError: A stored chunk is corrupt or truncated (names its key).
    """
    with _array_at(path, storage_options) as array:
        return array.read_into(out, region)


def read(path: Any, region: Region = (), *, storage_options: Mapping[str, Any] | None = None) -> np.ndarray:
    """Decode ``region`` of the array directory ``path`` into a new array.

    Args:
        path: The array's own directory (``"data.zarr/temperature"``), or its URL
            (``"s3://bucket/data.zarr/temperature"``) or store (see :class:`Store`).
        region: numpy basic indexing (ints, slices with any step, one Ellipsis); ``()`` is everything.
        storage_options: Options of an object store URL (see :class:`Store`).

    Returns:
        A new ndarray of numpy's result shape (int indices drop their axis).

    Raises:
        NodeNotFoundError: No array at ``path`` (a FileNotFoundError).
        InvalidIndicesError: The region is out of bounds (an IndexError).
        InvalidSelectionError: The region is not basic indexing (a TypeError).
        CodecError: A stored chunk is corrupt or truncated (names its key).
    """
    with _array_at(path, storage_options) as array:
        return array.read(region)


def write(path: Any, region: Region, data: Any, *, storage_options: Mapping[str, Any] | None = None) -> None:
    """Store ``data`` into ``region`` of the array directory ``path``.

    Args:
        path: The array's own directory (``"data.zarr/temperature"``), or its URL
            (``"s3://bucket/data.zarr/temperature"``) or store (see :class:`Store`).
        region: numpy basic indexing (ints, slices with any step, one Ellipsis).
        data: Values broadcast to the region's shape and cast to the array's dtype.
        storage_options: Options of an object store URL (see :class:`Store`).

    Raises:
        NodeNotFoundError: No array at ``path`` (a FileNotFoundError).
        InvalidArgumentError: ``data`` cannot be broadcast or cast (a ValueError).
        InvalidIndicesError: The region is out of bounds (an IndexError).
        InvalidSelectionError: The region is not basic indexing (a TypeError).
        CodecError: A stored chunk is corrupt or truncated (names its key).
        ReadOnlyError: The store is read-only (a zip file, an HTTP server; a PermissionError).
    """
    with _array_at(path, storage_options, writing=True) as array:
        array.write(region, data)
