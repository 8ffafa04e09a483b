"""The synchronous functional CRUD API: resolve the engine, delegate to its backend.

Names and argument order follow zarr-python PR #4064 (whose functions were async; the async twins
are in :mod:`zarrs_cffi.crud.aio`).
"""

from __future__ import annotations

from typing import Any, Union

from numpy.typing import NDArray

from zarrs_cffi.crud.protocol import ChunkCoords, CrudBackend, MetadataDoc, StoreLike
from zarrs_cffi.crud.registry import get_backend

__all__ = [
    "create_new_array",
    "create_new_group",
    "create_overwrite_array",
    "create_overwrite_group",
    "delete_chunk",
    "delete_node",
    "list_children",
    "read_chunk",
    "read_encoded_chunk",
    "read_metadata",
    "read_region",
    "read_region_into",
    "write_chunk",
    "write_region",
]

Engine = Union[str, CrudBackend, None]  # typing.Union: evaluated at runtime (3.8)


# --- node lifecycle -------------------------------------------------------------------------------
def create_new_group(metadata: MetadataDoc, store: StoreLike, path: str, *, engine: Engine = None) -> None:
    """Create a group from its metadata document; NodeExistsError if a node is already at ``path``.

    >>> create_new_group({"zarr_format": 3, "node_type": "group"}, "/tmp/x.zarr", "g")  # doctest: +SKIP
    """
    get_backend(engine).create_group(metadata, store, path, overwrite=False)


def create_overwrite_group(
    metadata: MetadataDoc, store: StoreLike, path: str, *, engine: Engine = None
) -> None:
    """Create a group, first removing any node at ``path`` and all its children."""
    get_backend(engine).create_group(metadata, store, path, overwrite=True)


def create_new_array(metadata: MetadataDoc, store: StoreLike, path: str, *, engine: Engine = None) -> None:
    """Create an array from its metadata document (v3 ``zarr.json`` or v2 ``.zarray`` dict);
    NodeExistsError if a node is already at ``path``.

    >>> create_new_array(read_metadata("/tmp/src.zarr", "a"), "/tmp/dst.zarr", "a")  # doctest: +SKIP
    """
    get_backend(engine).create_array(metadata, store, path, overwrite=False)


def create_overwrite_array(
    metadata: MetadataDoc, store: StoreLike, path: str, *, engine: Engine = None
) -> None:
    """Create an array, first removing any node at ``path`` and all its children."""
    get_backend(engine).create_array(metadata, store, path, overwrite=True)


def read_metadata(store: StoreLike, path: str, *, engine: Engine = None) -> MetadataDoc:
    """The node's stored metadata document (v2: ``.zattrs`` merged under ``"attributes"``).

    >>> read_metadata("/tmp/x.zarr", "g")  # doctest: +SKIP
    {'zarr_format': 3, 'node_type': 'group'}
    """
    return get_backend(engine).read_metadata(store, path)


def delete_node(store: StoreLike, path: str, *, engine: Engine = None) -> None:
    """Delete the node at ``path`` and everything under it; NodeNotFoundError if there is none."""
    get_backend(engine).delete_node(store, path)


def list_children(store: StoreLike, path: str, *, engine: Engine = None) -> list[tuple[str, MetadataDoc]]:
    """The group's direct child nodes as ``(child_path, metadata_doc)`` pairs sorted by path, where
    ``child_path`` is store-relative (``"g/sub"``, never a bare ``"sub"``).

    >>> list_children("/tmp/x.zarr", "g")  # doctest: +SKIP
    [('g/a', {...}), ('g/sub', {...})]
    """
    return get_backend(engine).list_children(store, path)


# --- chunk I/O ------------------------------------------------------------------------------------
def read_chunk(
    metadata: MetadataDoc,
    store: StoreLike,
    path: str,
    chunk_coords: ChunkCoords,
    *,
    engine: Engine = None,
) -> NDArray[Any]:
    """Decode one chunk into a new writable array of the full chunk shape; missing -> fill value.

    >>> read_chunk(meta, "/tmp/x.zarr", "a", (0, 1))  # doctest: +SKIP
    """
    return get_backend(engine).read_chunk(metadata, store, path, chunk_coords)


def read_encoded_chunk(
    metadata: MetadataDoc,
    store: StoreLike,
    path: str,
    chunk_coords: ChunkCoords,
    *,
    engine: Engine = None,
) -> bytes | None:
    """The chunk's stored (encoded) bytes, or None if the chunk is not stored."""
    return get_backend(engine).read_encoded_chunk(metadata, store, path, chunk_coords)


def write_chunk(
    metadata: MetadataDoc,
    store: StoreLike,
    path: str,
    chunk_coords: ChunkCoords,
    value: Any,
    *,
    engine: Engine = None,
) -> None:
    """Encode and store one chunk; ``value`` must have the chunk shape (else ValueError). In an edge
    chunk, elements beyond the array's bounds are stored as the fill value. A chunk equal to the fill
    value is not stored (its key is deleted).

    >>> write_chunk(meta, "/tmp/x.zarr", "a", (0, 0), np.ones((4, 4), "u2"))  # doctest: +SKIP
    """
    get_backend(engine).write_chunk(metadata, store, path, chunk_coords, value)


def delete_chunk(
    metadata: MetadataDoc,
    store: StoreLike,
    path: str,
    chunk_coords: ChunkCoords,
    *,
    engine: Engine = None,
) -> None:
    """Delete one chunk (reads then return the fill value); a missing chunk is a no-op."""
    get_backend(engine).delete_chunk(metadata, store, path, chunk_coords)


# --- region I/O -----------------------------------------------------------------------------------
def read_region(
    metadata: MetadataDoc, store: StoreLike, path: str, selection: Any, *, engine: Engine = None
) -> NDArray[Any]:
    """``array[selection]`` for numpy basic indexing, as a new writable C-contiguous ndarray.

    Out of bounds or too many indices raise IndexError; lists, arrays, masks and None raise TypeError.

    >>> read_region(meta, "/tmp/x.zarr", "a", np.s_[2:7, ::-2])  # doctest: +SKIP
    """
    return get_backend(engine).read_region(metadata, store, path, selection)


def read_region_into(
    out: NDArray[Any],
    metadata: MetadataDoc,
    store: StoreLike,
    path: str,
    selection: Any,
    *,
    engine: Engine = None,
) -> NDArray[Any]:
    """Decode ``array[selection]`` into ``out`` and return ``out``.

    ``out`` must be a C-contiguous, writable ndarray of the array's (native-endian) dtype and the
    result's shape; otherwise OutputBufferError or DataTypeMismatchError says which check failed.

    >>> buf = np.empty((5, 4), "u2")  # doctest: +SKIP
    >>> read_region_into(buf, meta, "/tmp/x.zarr", "a", np.s_[2:7, 1:5]) is buf  # doctest: +SKIP
    True
    """
    return get_backend(engine).read_region(metadata, store, path, selection, out=out)


def write_region(
    metadata: MetadataDoc,
    store: StoreLike,
    path: str,
    selection: Any,
    value: Any,
    *,
    engine: Engine = None,
) -> None:
    """``array[selection] = value`` (``value`` broadcast to the selection; partial chunks are
    read-modified-written).

    >>> write_region(meta, "/tmp/x.zarr", "a", np.s_[:, 3], 0)  # doctest: +SKIP
    """
    get_backend(engine).write_region(metadata, store, path, selection, value)
