"""``open_array`` and ``list_engines``: choosing the engine an array's I/O runs through."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Union

from .array import Array, cache_capacity
from .crud.protocol import CrudBackend
from .crud.registry import get_backend, list_backends
from .errors import InvalidArgumentError
from .store import Store, flag_arg, node_path
from .store_location import storage_kwargs

Engine = Union[str, CrudBackend, None]  # typing.Union: evaluated at runtime (3.8)
StoreTarget = Union[str, "os.PathLike[str]", Store, Any]


def list_engines() -> list[str]:
    """List the engines :func:`open_array` and :func:`create_array` accept.

    Returns:
        Sorted engine names (``"cffi"`` is the native one; ``"zarr"`` is zarr-python).
    """
    return list_backends()


def is_native(engine: Engine) -> bool:
    """True if ``engine`` resolves to the native cffi engine (the default)."""
    return get_backend(engine).name == "cffi"


def open_array(
    path: StoreTarget,
    node: str = "/",
    *,
    read_only: bool = False,
    engine: Engine = None,
    chunk_cache_bytes: int | None = 0,
    storage_options: Mapping[str, Any] | None = None,
) -> Array:
    """Open the array at ``node`` of the store rooted at ``path`` (Zarr v3, else v2).

    >>> arr = zarrs_cffi.open_array("data.zarr", "/temperature", read_only=True)

    Args:
        path: The store: a directory, a URL (``s3://bucket/prefix``, ``gs://``, ``az://``,
            ``http(s)://``, ``zip://``, ``memory://name``), a :class:`Store` or a zarr-python store
            (see :class:`Store`).
        node: The node inside the store: ``"/"`` (the default) when ``path`` is the array itself,
            else ``"/group/array"`` (``"group/array"`` works too).
        read_only: Refuse writes (:class:`ReadOnlyError`).
        engine: The engine the array's I/O runs through: a name from :func:`list_engines`,
            a backend object, or None for ``ZARRS_CFFI_ENGINE``, else ``"cffi"`` (native).
        chunk_cache_bytes: When > 0, turn on a decoded-chunk cache of that many bytes for many small
            reads (native engine only; see :meth:`Array.enable_chunk_cache`); 0 or None: none.
        storage_options: Options of an object store URL (see :class:`Store`).

    Returns:
        The open :class:`Array` (close it, or use it in a ``with`` block).

    Raises:
        NodeNotFoundError: No array at ``node`` (a FileNotFoundError).
        InvalidMetadataError: The stored metadata is not a valid array document.
        UnsupportedDataTypeError: The array's data type is not supported (a TypeError).
        UnknownEngineError: ``engine`` names no registered engine (a ValueError).
        InvalidArgumentError: A malformed path, URL, option or node (empty, ``..`` segments, NUL bytes).
        UnsupportedStoreError: A store object with no native equivalent (a TypeError).
        AccessDeniedError: The object store refused the credentials (a PermissionError).
        StorageError: The store could not be reached (after the configured retries).
        ClosedError: ``path`` is a closed :class:`Store`.
    """
    read_only = flag_arg(read_only, "read_only")  # ("False" is truthy: it opened read-only)
    backend = get_backend(engine)
    # Checked before opening: a refused size must not leave an opened array behind.
    cache_bytes = (
        0
        if chunk_cache_bytes is None
        else cache_capacity(chunk_cache_bytes, "chunk_cache_bytes", zero_ok=True)
    )
    with Store(path, **storage_kwargs(storage_options)) as store:
        node = node_path(node)
        read_only = read_only or store.read_only
        if backend.name == "cffi":
            array = Array(store.open_array_handle(node), root=store.location, node=node, read_only=read_only)
            if cache_bytes:
                array.enable_chunk_cache(cache_bytes)
            return array
        from .engine_array import EngineArray

        if cache_bytes:
            raise InvalidArgumentError(f"chunk_cache_bytes needs the native engine, not {backend.name!r}")
        document = backend.read_metadata(store.location, node.strip("/"))
        handle = store.array_handle_from_metadata(node, document)
        return EngineArray(handle, backend, document, root=store.location, node=node, read_only=read_only)
