"""The synchronous functional CRUD API: resolve the engine, delegate to its backend.

Names and argument order follow zarr-python PR #4064 (whose functions were async; the async twins
are in :mod:`zarrs_cffi.crud.aio`).
"""

from __future__ import annotations

import typing
from typing import Any, Optional, Union

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
Options = Optional[typing.Mapping[str, Any]]


def _located(store: StoreLike, storage_options: Options) -> StoreLike:
    """``store`` with its URL's options attached (a StoreLocation), or unchanged without options."""
    if storage_options is None:
        return store
    from zarrs_cffi.store_location import locate

    return locate(store, storage_options)


# --- node lifecycle -------------------------------------------------------------------------------
def create_new_group(
    metadata: MetadataDoc,
    store: StoreLike,
    path: str,
    *,
    engine: Engine = None,
    storage_options: Options = None,
) -> None:
    """Create a group from its metadata document.

    >>> create_new_group({"zarr_format": 3, "node_type": "group"}, "/tmp/x.zarr", "g")  # doctest: +SKIP

    Args:
        metadata: The group's document (v3 ``zarr.json`` or v2 ``.zgroup`` as a dict).
        store: A local directory, a store URL (``s3://``, ``gs://``, ``az://``, ``http(s)://``,
            ``zip://``, ``memory://``), a :class:`zarrs_cffi.Store` or a zarr-python store.
        path: Zarr-style node path: ``""`` for the root, ``"a/b"`` for a child.
        engine: ``"cffi"`` (native), ``"zarr"`` (zarr-python), a :class:`CrudBackend`, or None
            (``ZARRS_CFFI_ENGINE``, else ``"cffi"``).
        storage_options: Options of a store URL (``endpoint``, ``region``, keys...; see
            :class:`zarrs_cffi.Store`).

    Raises:
        NodeExistsError: A node (array or group) already exists at ``path``.
        InvalidMetadataError: ``metadata`` is not a valid group document.
        UnsupportedStoreError: ``store`` has no native counterpart (names its type).
        UnknownEngineError: ``engine`` names no registered engine (a ValueError).
        InvalidEngineError: ``engine`` is neither a name nor a backend (a TypeError).
        BackendUnavailableError: The engine's dependency (e.g. zarr-python) is missing.
    """
    store = _located(store, storage_options)
    get_backend(engine).create_group(metadata, store, path, overwrite=False)


def create_overwrite_group(
    metadata: MetadataDoc,
    store: StoreLike,
    path: str,
    *,
    engine: Engine = None,
    storage_options: Options = None,
) -> None:
    """Create a group, first removing any node at ``path`` and all its children.

    Args:
        metadata: The group's document (v3 ``zarr.json`` or v2 ``.zgroup`` as a dict).
        store: A local directory, a store URL (``s3://``, ``gs://``, ``az://``, ``http(s)://``,
            ``zip://``, ``memory://``), a :class:`zarrs_cffi.Store` or a zarr-python store.
        path: Zarr-style node path: ``""`` for the root, ``"a/b"`` for a child.
        engine: ``"cffi"`` (native), ``"zarr"`` (zarr-python), a :class:`CrudBackend`, or None
            (``ZARRS_CFFI_ENGINE``, else ``"cffi"``).
        storage_options: Options of a store URL (``endpoint``, ``region``, keys...; see
            :class:`zarrs_cffi.Store`).

    Raises:
        InvalidMetadataError: ``metadata`` is not a valid group document.
        StorageError: The old node could not be removed or the document written.
        UnsupportedStoreError: ``store`` has no native counterpart (names its type).
        UnknownEngineError: ``engine`` names no registered engine (a ValueError).
        InvalidEngineError: ``engine`` is neither a name nor a backend (a TypeError).
        BackendUnavailableError: The engine's dependency (e.g. zarr-python) is missing.
    """
    store = _located(store, storage_options)
    get_backend(engine).create_group(metadata, store, path, overwrite=True)


def create_new_array(
    metadata: MetadataDoc,
    store: StoreLike,
    path: str,
    *,
    engine: Engine = None,
    storage_options: Options = None,
) -> None:
    """Create an array from its metadata document (no chunks are written).

    >>> create_new_array(read_metadata("/tmp/src.zarr", "a"), "/tmp/dst.zarr", "a")  # doctest: +SKIP

    Args:
        metadata: The node's metadata document (v3 ``zarr.json`` or v2 ``.zarray`` as a dict).
            Authoritative: array routines never re-read it from the store.
        store: A local directory, a store URL (``s3://``, ``gs://``, ``az://``, ``http(s)://``,
            ``zip://``, ``memory://``), a :class:`zarrs_cffi.Store` or a zarr-python store.
        path: Zarr-style node path: ``""`` for the root, ``"a/b"`` for a child.
        engine: ``"cffi"`` (native), ``"zarr"`` (zarr-python), a :class:`CrudBackend`, or None
            (``ZARRS_CFFI_ENGINE``, else ``"cffi"``).
        storage_options: Options of a store URL (``endpoint``, ``region``, keys...; see
            :class:`zarrs_cffi.Store`).

    Raises:
        NodeExistsError: A node (array or group) already exists at ``path``.
        InvalidMetadataError: ``metadata`` is not a valid array document.
        UnsupportedStoreError: ``store`` has no native counterpart (names its type).
        UnknownEngineError: ``engine`` names no registered engine (a ValueError).
        InvalidEngineError: ``engine`` is neither a name nor a backend (a TypeError).
        BackendUnavailableError: The engine's dependency (e.g. zarr-python) is missing.
    """
    store = _located(store, storage_options)
    get_backend(engine).create_array(metadata, store, path, overwrite=False)


def create_overwrite_array(
    metadata: MetadataDoc,
    store: StoreLike,
    path: str,
    *,
    engine: Engine = None,
    storage_options: Options = None,
) -> None:
    """Create an array, first removing any node at ``path`` and all its children.

    Args:
        metadata: The node's metadata document (v3 ``zarr.json`` or v2 ``.zarray`` as a dict).
            Authoritative: array routines never re-read it from the store.
        store: A local directory, a store URL (``s3://``, ``gs://``, ``az://``, ``http(s)://``,
            ``zip://``, ``memory://``), a :class:`zarrs_cffi.Store` or a zarr-python store.
        path: Zarr-style node path: ``""`` for the root, ``"a/b"`` for a child.
        engine: ``"cffi"`` (native), ``"zarr"`` (zarr-python), a :class:`CrudBackend`, or None
            (``ZARRS_CFFI_ENGINE``, else ``"cffi"``).
        storage_options: Options of a store URL (``endpoint``, ``region``, keys...; see
            :class:`zarrs_cffi.Store`).

    Raises:
        InvalidMetadataError: ``metadata`` is not a valid array document.
        StorageError: The old node could not be removed or the document written.
        UnsupportedStoreError: ``store`` has no native counterpart (names its type).
        UnknownEngineError: ``engine`` names no registered engine (a ValueError).
        InvalidEngineError: ``engine`` is neither a name nor a backend (a TypeError).
        BackendUnavailableError: The engine's dependency (e.g. zarr-python) is missing.
    """
    store = _located(store, storage_options)
    get_backend(engine).create_array(metadata, store, path, overwrite=True)


def read_metadata(
    store: StoreLike, path: str, *, engine: Engine = None, storage_options: Options = None
) -> MetadataDoc:
    """Read a node's stored metadata document.

    >>> read_metadata("/tmp/x.zarr", "g")  # doctest: +SKIP
    {'zarr_format': 3, 'node_type': 'group'}

    Args:
        store: A local directory, a store URL (``s3://``, ``gs://``, ``az://``, ``http(s)://``,
            ``zip://``, ``memory://``), a :class:`zarrs_cffi.Store` or a zarr-python store.
        path: Zarr-style node path: ``""`` for the root, ``"a/b"`` for a child.
        engine: ``"cffi"`` (native), ``"zarr"`` (zarr-python), a :class:`CrudBackend`, or None
            (``ZARRS_CFFI_ENGINE``, else ``"cffi"``).
        storage_options: Options of a store URL (``endpoint``, ``region``, keys...; see
            :class:`zarrs_cffi.Store`).

    Returns:
        The document as a dict (v2: ``.zattrs`` merged under ``"attributes"``).

    Raises:
        NodeNotFoundError: No array or group at ``path`` (a FileNotFoundError).
        InvalidMetadataError: The stored document is not valid JSON or not a valid node.
        UnsupportedStoreError: ``store`` has no native counterpart (names its type).
        UnknownEngineError: ``engine`` names no registered engine (a ValueError).
        InvalidEngineError: ``engine`` is neither a name nor a backend (a TypeError).
        BackendUnavailableError: The engine's dependency (e.g. zarr-python) is missing.
    """
    store = _located(store, storage_options)
    return get_backend(engine).read_metadata(store, path)


def delete_node(
    store: StoreLike, path: str, *, engine: Engine = None, storage_options: Options = None
) -> None:
    """Delete the node at ``path`` and everything under it.

    Args:
        store: A local directory, a store URL (``s3://``, ``gs://``, ``az://``, ``http(s)://``,
            ``zip://``, ``memory://``), a :class:`zarrs_cffi.Store` or a zarr-python store.
        path: Zarr-style node path: ``""`` for the root, ``"a/b"`` for a child.
        engine: ``"cffi"`` (native), ``"zarr"`` (zarr-python), a :class:`CrudBackend`, or None
            (``ZARRS_CFFI_ENGINE``, else ``"cffi"``).
        storage_options: Options of a store URL (``endpoint``, ``region``, keys...; see
            :class:`zarrs_cffi.Store`).

    Raises:
        NodeNotFoundError: No array or group at ``path`` (a FileNotFoundError).
        UnsupportedStoreError: ``store`` has no native counterpart (names its type).
        UnknownEngineError: ``engine`` names no registered engine (a ValueError).
        InvalidEngineError: ``engine`` is neither a name nor a backend (a TypeError).
        BackendUnavailableError: The engine's dependency (e.g. zarr-python) is missing.
    """
    store = _located(store, storage_options)
    get_backend(engine).delete_node(store, path)


def list_children(
    store: StoreLike, path: str, *, engine: Engine = None, storage_options: Options = None
) -> list[tuple[str, MetadataDoc]]:
    """List a group's direct children.

    >>> list_children("/tmp/x.zarr", "g")  # doctest: +SKIP
    [('g/a', {...}), ('g/sub', {...})]

    Args:
        store: A local directory, a store URL (``s3://``, ``gs://``, ``az://``, ``http(s)://``,
            ``zip://``, ``memory://``), a :class:`zarrs_cffi.Store` or a zarr-python store.
        path: Zarr-style node path: ``""`` for the root, ``"a/b"`` for a child.
        engine: ``"cffi"`` (native), ``"zarr"`` (zarr-python), a :class:`CrudBackend`, or None
            (``ZARRS_CFFI_ENGINE``, else ``"cffi"``).
        storage_options: Options of a store URL (``endpoint``, ``region``, keys...; see
            :class:`zarrs_cffi.Store`).

    Returns:
        ``(child_path, metadata_doc)`` pairs sorted by path, where ``child_path`` is
        store-relative (``"g/sub"``, never a bare ``"sub"``).

    Raises:
        NodeNotFoundError: No group at ``path`` (a FileNotFoundError).
        UnsupportedStoreError: ``store`` has no native counterpart (names its type).
        UnknownEngineError: ``engine`` names no registered engine (a ValueError).
        InvalidEngineError: ``engine`` is neither a name nor a backend (a TypeError).
        BackendUnavailableError: The engine's dependency (e.g. zarr-python) is missing.
    """
    store = _located(store, storage_options)
    return get_backend(engine).list_children(store, path)


# --- chunk I/O ------------------------------------------------------------------------------------
def read_chunk(
    metadata: MetadataDoc,
    store: StoreLike,
    path: str,
    chunk_coords: ChunkCoords,
    *,
    engine: Engine = None,
    storage_options: Options = None,
) -> NDArray[Any]:
    """Decode one stored chunk (a shard, if sharded) at its full shape.

    >>> read_chunk(meta, "/tmp/x.zarr", "a", (0, 1))  # doctest: +SKIP

    Args:
        metadata: The node's metadata document (v3 ``zarr.json`` or v2 ``.zarray`` as a dict).
            Authoritative: array routines never re-read it from the store.
        store: A local directory, a store URL (``s3://``, ``gs://``, ``az://``, ``http(s)://``,
            ``zip://``, ``memory://``), a :class:`zarrs_cffi.Store` or a zarr-python store.
        path: Zarr-style node path: ``""`` for the root, ``"a/b"`` for a child.
        chunk_coords: Chunk-grid coordinates, one non-negative int per dimension.
        engine: ``"cffi"`` (native), ``"zarr"`` (zarr-python), a :class:`CrudBackend`, or None
            (``ZARRS_CFFI_ENGINE``, else ``"cffi"``).
        storage_options: Options of a store URL (``endpoint``, ``region``, keys...; see
            :class:`zarrs_cffi.Store`).

    Returns:
        A new writable array of the chunk's shape; a missing chunk reads as the fill value.

    Raises:
        ChunkCoordsTypeError: ``chunk_coords`` is not a sequence of ints (a TypeError).
        ChunkCoordsLengthError: Wrong number of coordinates (an IndexError).
        InvalidIndicesError: A coordinate lies outside the chunk grid (an IndexError).
        CodecError: The stored chunk is corrupt or truncated (names its key).
        UnsupportedStoreError: ``store`` has no native counterpart (names its type).
        UnknownEngineError: ``engine`` names no registered engine (a ValueError).
        InvalidEngineError: ``engine`` is neither a name nor a backend (a TypeError).
        BackendUnavailableError: The engine's dependency (e.g. zarr-python) is missing.
    """
    store = _located(store, storage_options)
    return get_backend(engine).read_chunk(metadata, store, path, chunk_coords)


def read_encoded_chunk(
    metadata: MetadataDoc,
    store: StoreLike,
    path: str,
    chunk_coords: ChunkCoords,
    *,
    engine: Engine = None,
    storage_options: Options = None,
) -> bytes | None:
    """Read one chunk's stored (encoded) bytes, without decoding them.

    Args:
        metadata: The node's metadata document (v3 ``zarr.json`` or v2 ``.zarray`` as a dict).
            Authoritative: array routines never re-read it from the store.
        store: A local directory, a store URL (``s3://``, ``gs://``, ``az://``, ``http(s)://``,
            ``zip://``, ``memory://``), a :class:`zarrs_cffi.Store` or a zarr-python store.
        path: Zarr-style node path: ``""`` for the root, ``"a/b"`` for a child.
        chunk_coords: Chunk-grid coordinates, one non-negative int per dimension.
        engine: ``"cffi"`` (native), ``"zarr"`` (zarr-python), a :class:`CrudBackend`, or None
            (``ZARRS_CFFI_ENGINE``, else ``"cffi"``).
        storage_options: Options of a store URL (``endpoint``, ``region``, keys...; see
            :class:`zarrs_cffi.Store`).

    Returns:
        The bytes, or None if the chunk is not stored.

    Raises:
        ChunkCoordsTypeError: ``chunk_coords`` is not a sequence of ints (a TypeError).
        ChunkCoordsLengthError: Wrong number of coordinates (an IndexError).
        InvalidIndicesError: A coordinate lies outside the chunk grid (an IndexError).
        UnsupportedStoreError: ``store`` has no native counterpart (names its type).
        UnknownEngineError: ``engine`` names no registered engine (a ValueError).
        InvalidEngineError: ``engine`` is neither a name nor a backend (a TypeError).
        BackendUnavailableError: The engine's dependency (e.g. zarr-python) is missing.
    """
    store = _located(store, storage_options)
    return get_backend(engine).read_encoded_chunk(metadata, store, path, chunk_coords)


def write_chunk(
    metadata: MetadataDoc,
    store: StoreLike,
    path: str,
    chunk_coords: ChunkCoords,
    value: Any,
    *,
    engine: Engine = None,
    storage_options: Options = None,
) -> None:
    """Encode and store one whole chunk.

    In an edge chunk, elements beyond the array's bounds are stored as the fill value. A chunk equal
    to the fill value is not stored (its key is deleted).

    >>> write_chunk(meta, "/tmp/x.zarr", "a", (0, 0), np.ones((4, 4), "u2"))  # doctest: +SKIP

    Args:
        metadata: The node's metadata document (v3 ``zarr.json`` or v2 ``.zarray`` as a dict).
            Authoritative: array routines never re-read it from the store.
        store: A local directory, a store URL (``s3://``, ``gs://``, ``az://``, ``http(s)://``,
            ``zip://``, ``memory://``), a :class:`zarrs_cffi.Store` or a zarr-python store.
        path: Zarr-style node path: ``""`` for the root, ``"a/b"`` for a child.
        chunk_coords: Chunk-grid coordinates, one non-negative int per dimension.
        value: The chunk's data, exactly the chunk's shape (cast to the array's dtype).
        engine: ``"cffi"`` (native), ``"zarr"`` (zarr-python), a :class:`CrudBackend`, or None
            (``ZARRS_CFFI_ENGINE``, else ``"cffi"``).
        storage_options: Options of a store URL (``endpoint``, ``region``, keys...; see
            :class:`zarrs_cffi.Store`).

    Raises:
        ChunkCoordsTypeError: ``chunk_coords`` is not a sequence of ints (a TypeError).
        ChunkCoordsLengthError: Wrong number of coordinates (an IndexError).
        InvalidIndicesError: A coordinate lies outside the chunk grid (an IndexError).
        InvalidArgumentError: ``value`` does not have the chunk's shape or cannot be cast (a ValueError).
        UnsupportedStoreError: ``store`` has no native counterpart (names its type).
        UnknownEngineError: ``engine`` names no registered engine (a ValueError).
        InvalidEngineError: ``engine`` is neither a name nor a backend (a TypeError).
        BackendUnavailableError: The engine's dependency (e.g. zarr-python) is missing.
    """
    store = _located(store, storage_options)
    get_backend(engine).write_chunk(metadata, store, path, chunk_coords, value)


def delete_chunk(
    metadata: MetadataDoc,
    store: StoreLike,
    path: str,
    chunk_coords: ChunkCoords,
    *,
    engine: Engine = None,
    storage_options: Options = None,
) -> None:
    """Delete one stored chunk; reads then return the fill value. A missing chunk is a no-op.

    Args:
        metadata: The node's metadata document (v3 ``zarr.json`` or v2 ``.zarray`` as a dict).
            Authoritative: array routines never re-read it from the store.
        store: A local directory, a store URL (``s3://``, ``gs://``, ``az://``, ``http(s)://``,
            ``zip://``, ``memory://``), a :class:`zarrs_cffi.Store` or a zarr-python store.
        path: Zarr-style node path: ``""`` for the root, ``"a/b"`` for a child.
        chunk_coords: Chunk-grid coordinates, one non-negative int per dimension.
        engine: ``"cffi"`` (native), ``"zarr"`` (zarr-python), a :class:`CrudBackend`, or None
            (``ZARRS_CFFI_ENGINE``, else ``"cffi"``).
        storage_options: Options of a store URL (``endpoint``, ``region``, keys...; see
            :class:`zarrs_cffi.Store`).

    Raises:
        ChunkCoordsTypeError: ``chunk_coords`` is not a sequence of ints (a TypeError).
        ChunkCoordsLengthError: Wrong number of coordinates (an IndexError).
        InvalidIndicesError: A coordinate lies outside the chunk grid (an IndexError).
        UnsupportedStoreError: ``store`` has no native counterpart (names its type).
        UnknownEngineError: ``engine`` names no registered engine (a ValueError).
        InvalidEngineError: ``engine`` is neither a name nor a backend (a TypeError).
        BackendUnavailableError: The engine's dependency (e.g. zarr-python) is missing.
    """
    store = _located(store, storage_options)
    get_backend(engine).delete_chunk(metadata, store, path, chunk_coords)


# --- region I/O -----------------------------------------------------------------------------------
def read_region(
    metadata: MetadataDoc,
    store: StoreLike,
    path: str,
    selection: Any,
    *,
    engine: Engine = None,
    storage_options: Options = None,
) -> NDArray[Any]:
    """Read ``array[selection]`` into a new array.

    >>> read_region(meta, "/tmp/x.zarr", "a", np.s_[2:7, ::-2])  # doctest: +SKIP

    Args:
        metadata: The node's metadata document (v3 ``zarr.json`` or v2 ``.zarray`` as a dict).
            Authoritative: array routines never re-read it from the store.
        store: A local directory, a store URL (``s3://``, ``gs://``, ``az://``, ``http(s)://``,
            ``zip://``, ``memory://``), a :class:`zarrs_cffi.Store` or a zarr-python store.
        path: Zarr-style node path: ``""`` for the root, ``"a/b"`` for a child.
        selection: numpy basic indexing: ints, slices (any step), one Ellipsis.
        engine: ``"cffi"`` (native), ``"zarr"`` (zarr-python), a :class:`CrudBackend`, or None
            (``ZARRS_CFFI_ENGINE``, else ``"cffi"``).
        storage_options: Options of a store URL (``endpoint``, ``region``, keys...; see
            :class:`zarrs_cffi.Store`).

    Returns:
        A new writable, C-contiguous ndarray of numpy's result shape.

    Raises:
        InvalidIndicesError: The selection is out of bounds or has too many indices (an IndexError).
        InvalidSelectionError: Lists, arrays, masks or None (not basic indexing; a TypeError).
        CodecError: A stored chunk is corrupt or truncated (names its key).
        UnsupportedStoreError: ``store`` has no native counterpart (names its type).
        UnknownEngineError: ``engine`` names no registered engine (a ValueError).
        InvalidEngineError: ``engine`` is neither a name nor a backend (a TypeError).
        BackendUnavailableError: The engine's dependency (e.g. zarr-python) is missing.
    """
    store = _located(store, storage_options)
    return get_backend(engine).read_region(metadata, store, path, selection)


def read_region_into(
    out: NDArray[Any],
    metadata: MetadataDoc,
    store: StoreLike,
    path: str,
    selection: Any,
    *,
    engine: Engine = None,
    storage_options: Options = None,
) -> NDArray[Any]:
    """Decode ``array[selection]`` into ``out`` and return ``out``.

    >>> buf = np.empty((5, 4), "u2")  # doctest: +SKIP
    >>> read_region_into(buf, meta, "/tmp/x.zarr", "a", np.s_[2:7, 1:5]) is buf  # doctest: +SKIP
    True

    Args:
        out: A C-contiguous, writable ndarray of the array's (native-endian) dtype and the result's shape.
        metadata: The node's metadata document (v3 ``zarr.json`` or v2 ``.zarray`` as a dict).
            Authoritative: array routines never re-read it from the store.
        store: A local directory, a store URL (``s3://``, ``gs://``, ``az://``, ``http(s)://``,
            ``zip://``, ``memory://``), a :class:`zarrs_cffi.Store` or a zarr-python store.
        path: Zarr-style node path: ``""`` for the root, ``"a/b"`` for a child.
        selection: numpy basic indexing: ints, slices (any step), one Ellipsis.
        engine: ``"cffi"`` (native), ``"zarr"`` (zarr-python), a :class:`CrudBackend`, or None
            (``ZARRS_CFFI_ENGINE``, else ``"cffi"``).
        storage_options: Options of a store URL (``endpoint``, ``region``, keys...; see
            :class:`zarrs_cffi.Store`).

    Returns:
        ``out`` itself.

    Raises:
        DataTypeMismatchError: ``out`` has another dtype (a TypeError).
        OutputBufferError: ``out`` has the wrong shape, is not C-contiguous or is read-only (a ValueError).
        InvalidIndicesError: The selection is out of bounds or has too many indices (an IndexError).
        InvalidSelectionError: Lists, arrays, masks or None (not basic indexing; a TypeError).
        UnsupportedStoreError: ``store`` has no native counterpart (names its type).
        UnknownEngineError: ``engine`` names no registered engine (a ValueError).
        InvalidEngineError: ``engine`` is neither a name nor a backend (a TypeError).
        BackendUnavailableError: The engine's dependency (e.g. zarr-python) is missing.
    """
    store = _located(store, storage_options)
    return get_backend(engine).read_region(metadata, store, path, selection, out=out)


def write_region(
    metadata: MetadataDoc,
    store: StoreLike,
    path: str,
    selection: Any,
    value: Any,
    *,
    engine: Engine = None,
    storage_options: Options = None,
) -> None:
    """Store ``value`` into ``array[selection]``.

    Partial chunks are read, modified and written; chunks equal to the fill value are deleted.

    >>> write_region(meta, "/tmp/x.zarr", "a", np.s_[:, 3], 0)  # doctest: +SKIP

    Args:
        metadata: The node's metadata document (v3 ``zarr.json`` or v2 ``.zarray`` as a dict).
            Authoritative: array routines never re-read it from the store.
        store: A local directory, a store URL (``s3://``, ``gs://``, ``az://``, ``http(s)://``,
            ``zip://``, ``memory://``), a :class:`zarrs_cffi.Store` or a zarr-python store.
        path: Zarr-style node path: ``""`` for the root, ``"a/b"`` for a child.
        selection: numpy basic indexing: ints, slices (any step), one Ellipsis.
        value: Data broadcast to the selection's shape and cast to the array's dtype.
        engine: ``"cffi"`` (native), ``"zarr"`` (zarr-python), a :class:`CrudBackend`, or None
            (``ZARRS_CFFI_ENGINE``, else ``"cffi"``).
        storage_options: Options of a store URL (``endpoint``, ``region``, keys...; see
            :class:`zarrs_cffi.Store`).

    Raises:
        InvalidIndicesError: The selection is out of bounds or has too many indices (an IndexError).
        InvalidSelectionError: Lists, arrays, masks or None (not basic indexing; a TypeError).
        InvalidArgumentError: ``value`` cannot be broadcast or cast (a ValueError).
        UnsupportedStoreError: ``store`` has no native counterpart (names its type).
        UnknownEngineError: ``engine`` names no registered engine (a ValueError).
        InvalidEngineError: ``engine`` is neither a name nor a backend (a TypeError).
        BackendUnavailableError: The engine's dependency (e.g. zarr-python) is missing.
    """
    store = _located(store, storage_options)
    get_backend(engine).write_region(metadata, store, path, selection, value)
