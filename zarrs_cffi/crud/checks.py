"""Argument checks shared by every engine, so all of them reject bad input with the same error types.

Pure numpy; no I/O. An engine calls these before it touches the store or the native library.
``chunk_value`` and ``region_value`` come from :mod:`zarrs_cffi.buffers`, shared with ``Array``: a
value is converted (or refused, with the same error) alike by every chunk and region write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from zarrs_cffi._compat import zip_strict
from zarrs_cffi.buffers import check_out_buffer, chunk_value, region_value
from zarrs_cffi.errors import InvalidMetadataError
from zarrs_cffi.selection import check_chunk_coords, type_name

__all__ = [
    "check_chunk_coords",
    "check_metadata_doc",
    "check_out_buffer",
    "chunk_value",
    "fill_beyond_edge",
    "is_fill_chunk",
    "native_dtype",
    "region_value",
    "touched_chunks",
]


def native_dtype(dtype: np.dtype[Any]) -> np.dtype[Any]:
    """``dtype`` in native byte order (data crosses native-endian; on-disk order is the codecs' job).

    >>> native_dtype(np.dtype(">u2")) == np.dtype("=u2")
    True
    """
    return dtype if dtype.isnative else dtype.newbyteorder("=")


def check_metadata_doc(metadata: Any) -> dict[str, Any]:
    """Return ``metadata`` as a plain dict; InvalidMetadataError (a ValueError) if it is not a mapping
    with str keys, as ``Store.create_node`` rejects such a document."""
    if not isinstance(metadata, Mapping):
        raise InvalidMetadataError(f"metadata must be a dict (the JSON document), got {type_name(metadata)}")
    doc = dict(metadata)
    if not all(isinstance(k, str) for k in doc):
        raise InvalidMetadataError("metadata keys must be str")
    return {key: _without_numpy(value) for key, value in doc.items()}


def _without_numpy(value: Any) -> Any:
    """``value`` with numpy scalars and arrays (a shape from ``arr.shape`` arithmetic holds
    ``np.int64``) as the plain values they stand for, so that both engines take the same documents
    (zarr-python refused a ``np.uint16`` fill value the native engine took, and the other way
    round for a ``np.int64`` in a shape)."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    if isinstance(value, dict):
        return {key: _without_numpy(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):  # a plain list: what JSON makes of any sequence
        return [_without_numpy(item) for item in value]
    return value


def fill_beyond_edge(
    chunk: NDArray[Any], coords: Sequence[int], array_shape: Sequence[int], fill_value: Any
) -> NDArray[Any]:
    """``chunk`` (at grid ``coords``) with its elements beyond the array's bounds set to the fill value.

    An edge chunk is stored at full chunk shape, but only its in-bounds part is array data: keeping the
    rest as fill makes what is stored (and whether it is stored at all) depend on the data alone, as
    zarr-python does when it writes a whole edge chunk. Returns ``chunk`` itself if it is not an edge
    chunk.

    >>> fill_beyond_edge(np.array([4, 9]), (1,), (3,), 0).tolist()
    [4, 0]
    """
    inside = tuple(
        slice(0, max(0, min(n, size - c * n))) for c, n, size in zip_strict(coords, chunk.shape, array_shape)
    )
    if all(sl.stop == n for sl, n in zip_strict(inside, chunk.shape)):
        return chunk
    out = np.empty_like(chunk)
    out[...] = np.asarray(fill_value, dtype=chunk.dtype)
    out[inside] = chunk[inside]
    return out


def touched_chunks(
    start: Sequence[int], step: Sequence[int], count: Sequence[int], chunk_shape: Sequence[int]
) -> list[tuple[int, ...]]:
    """Grid coordinates of the chunks holding at least one element of a strided selection, given per
    axis as its lowest index ``start``, ``step`` (only its size matters) and element ``count``.

    >>> touched_chunks((1,), (-3,), (3,), (2,))  # elements 1, 4, 7 of chunks of 2
    [(0,), (2,), (3,)]
    """
    per_axis: list[list[int]] = []
    for b, st, n, c in zip_strict(start, step, count, chunk_shape):
        if n == 0:
            return []
        last = b + (n - 1) * abs(st)
        if abs(st) <= c:  # no chunk skipped between the first and the last element
            per_axis.append(list(range(b // c, last // c + 1)))
        else:  # at most one element per chunk, so this loop is no longer than the chunk grid
            per_axis.append([(b + k * abs(st)) // c for k in range(n)])
    return [
        tuple(axis[i] for axis, i in zip_strict(per_axis, idx)) for idx in np.ndindex(*map(len, per_axis))
    ]


def is_fill_chunk(chunk: NDArray[Any], fill_value: Any) -> bool:
    """True if every element of ``chunk`` equals ``fill_value``: bit-for-bit, except that any NaN
    matches a NaN fill (so ``-0.0`` is not a ``0.0`` fill, as in zarrs and zarr-python).

    >>> is_fill_chunk(np.full(3, np.nan), np.nan), is_fill_chunk(np.array([-0.0]), 0.0)
    (True, False)
    """
    fill = np.asarray(fill_value, dtype=chunk.dtype)
    if chunk.size == 0:
        return True
    if chunk.dtype.kind in "OUT":
        return bool(np.all(chunk == fill))
    same = _bits(chunk) == _bits(np.broadcast_to(fill, chunk.shape))
    if chunk.dtype.kind in "fc":
        same |= np.isnan(chunk) & np.isnan(fill)
    return bool(np.all(same))


def _bits(a: NDArray[Any]) -> NDArray[Any]:
    """``a``'s elements as opaque byte strings (void dtype), for bit-exact comparison."""
    a = np.ascontiguousarray(a)
    return a.view(np.dtype(f"V{a.dtype.itemsize}"))
