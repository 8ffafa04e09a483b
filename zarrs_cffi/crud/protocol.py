"""The :class:`CrudBackend` protocol: what an engine must implement to serve the functional CRUD API.

Every method is stateless: it gets the metadata document, the store and the node path each time, so
nothing is cached between calls that could go stale (an engine may cache internally, keyed on all
three). Methods are synchronous; :mod:`zarrs_cffi.crud.aio` runs them in worker threads.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Dict, Protocol, Tuple, Union, runtime_checkable

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy as np
    from numpy.typing import NDArray
    from zarr.abc.store import Store as ZarrStore

    from zarrs_cffi.store import Store
    from zarrs_cffi.store_location import StoreLocation

    StoreLike: TypeAlias = str | os.PathLike[str] | ZarrStore | Store | StoreLocation
else:
    # Runtime spelling without importing zarr: the store classes stay forward references.
    StoreLike = Union[str, "os.PathLike[str]", "ZarrStore", "Store", "StoreLocation"]
"""What the CRUD API accepts as a store: a local directory path (``str`` or ``os.PathLike``), a store
URL (``s3://``, ``gs://``, ``az://``, ``http(s)://``, ``zip://``, ``memory://``), a
:class:`zarrs_cffi.Store`, or a zarr-python ``LocalStore``, ``ZipStore``, ``ObjectStore`` or
``FsspecStore``."""

__all__ = ["ChunkCoords", "CrudBackend", "MetadataDoc", "StoreLike"]

# typing.Tuple / typing.Dict: these aliases are evaluated at runtime (builtin generics need 3.9)
ChunkCoords = Tuple[int, ...]
"""Chunk-grid coordinates (one non-negative int per dimension)."""

MetadataDoc = Dict[str, Any]
"""A node's metadata JSON document as a dict (v3 ``zarr.json``; v2 ``.zarray``/``.zgroup``)."""


@runtime_checkable
class CrudBackend(Protocol):
    """An engine for the functional CRUD API (``f(metadata, store, path, *params)``).

    ``metadata`` is authoritative for array routines: they never re-read it from the store, which allows
    views (reading a uint16 8x8 array as uint8 8x16). Paths are zarr style (``""`` is the root).
    Arrays cross as C-contiguous, native-endian numpy arrays. Every method first resolves the store
    and raises :class:`~zarrs_cffi.errors.UnsupportedStoreError` for one it cannot use.

    Subclass it to have a type checker verify an implementation::

        class MyBackend(CrudBackend):
            name = "mine"
            ...
    """

    name: str

    # --- node lifecycle ---------------------------------------------------------------------------
    def create_group(self, metadata: MetadataDoc, store: StoreLike, path: str, *, overwrite: bool) -> None:
        """Write a group's metadata document verbatim. Without ``overwrite`` an existing node
        (``zarr.json``, ``.zarray`` or ``.zgroup``) raises NodeExistsError; with it, the node and all
        its children are removed first. Parents are implied (not written)."""
        ...

    def create_array(self, metadata: MetadataDoc, store: StoreLike, path: str, *, overwrite: bool) -> None:
        """Write an array's metadata document verbatim; same rules as :meth:`create_group`."""
        ...

    def read_metadata(self, store: StoreLike, path: str) -> MetadataDoc:
        """The stored document (v2: ``.zattrs`` merged under ``"attributes"``); NodeNotFoundError if none."""
        ...

    def delete_node(self, store: StoreLike, path: str) -> None:
        """Delete the node and everything under its prefix; NodeNotFoundError if there is no node."""
        ...

    def list_children(self, store: StoreLike, path: str) -> list[tuple[str, MetadataDoc]]:
        """Direct child nodes of the group at ``path`` as ``(child_path, metadata_doc)``, sorted by
        path; ``child_path`` is the full store-relative path (``"g/sub"``). NodeNotFoundError if there
        is no group at ``path``."""
        ...

    # --- chunk I/O --------------------------------------------------------------------------------
    def read_chunk(
        self, metadata: MetadataDoc, store: StoreLike, path: str, chunk_coords: ChunkCoords
    ) -> NDArray[Any]:
        """Decode one chunk (full chunk shape, even at the edge); a missing chunk reads as fill."""
        ...

    def read_encoded_chunk(
        self, metadata: MetadataDoc, store: StoreLike, path: str, chunk_coords: ChunkCoords
    ) -> bytes | None:
        """The chunk's stored bytes, or None if it is not stored."""
        ...

    def write_chunk(
        self,
        metadata: MetadataDoc,
        store: StoreLike,
        path: str,
        chunk_coords: ChunkCoords,
        value: Any,
    ) -> None:
        """Encode and store one chunk. ``value`` must have the chunk shape (else ValueError); in an
        edge chunk, elements beyond the array's bounds are stored as the fill value; a chunk equal to
        the fill value (NaN-aware) is not stored: its key is deleted."""
        ...

    def delete_chunk(
        self, metadata: MetadataDoc, store: StoreLike, path: str, chunk_coords: ChunkCoords
    ) -> None:
        """Delete one chunk's key; a missing chunk is a no-op."""
        ...

    # --- region I/O -------------------------------------------------------------------------------
    def read_region(
        self,
        metadata: MetadataDoc,
        store: StoreLike,
        path: str,
        selection: Any,
        out: np.ndarray[Any, Any] | None = None,
    ) -> NDArray[Any]:
        """``array[selection]`` for numpy basic indexing, always as an ndarray (0-d for all ints).

        With ``out`` (C-contiguous, writable, the array's native-endian dtype, the result's shape)
        the result is decoded into it and ``out`` is returned; otherwise OutputBufferError /
        DataTypeMismatchError say which check failed.
        """
        ...

    def write_region(
        self, metadata: MetadataDoc, store: StoreLike, path: str, selection: Any, value: Any
    ) -> None:
        """``array[selection] = value`` (``value`` cast as numpy assignment does and broadcast to the
        selection, else InvalidArgumentError). Chunks left equal to the fill value (by the rule of
        :meth:`write_chunk`) are not stored."""
        ...
