"""``open_array`` and ``list_engines``: choosing the engine an array's I/O runs through."""

from __future__ import annotations

import os
from typing import Union

from .array import Array
from .crud.protocol import CrudBackend
from .crud.registry import get_backend, list_backends
from .errors import InvalidArgumentError
from .store import Store, node_path

Engine = Union[str, CrudBackend, None]  # typing.Union: evaluated at runtime (3.8)


def list_engines() -> list[str]:
    """Names of the engines ``open_array`` / ``create_array`` accept ("cffi" is the native one)."""
    return list_backends()


def is_native(engine: Engine) -> bool:
    """True if ``engine`` resolves to the native cffi engine (the default)."""
    return get_backend(engine).name == "cffi"


def open_array(
    path: str | os.PathLike[str],
    node: str = "/",
    *,
    read_only: bool = False,
    engine: Engine = None,
    chunk_cache_bytes: int = 0,
) -> Array:
    """Open the array at ``node`` of the store rooted at ``path`` (v3, else v2).

    For an array directory itself, pass it as ``path`` and keep ``node="/"``. ``engine`` picks the
    engine its I/O runs through: a name from :func:`list_engines`, a backend object, or None for
    the default (``ZARRS_CFFI_ENGINE``, else "cffi"). ``chunk_cache_bytes > 0`` turns on a
    decoded-chunk cache of that size for many small reads (see :meth:`Array.enable_chunk_cache`).

    >>> arr = zarrs_cffi.open_array("data.zarr", "/temperature", read_only=True)
    """
    backend = get_backend(engine)
    with Store(path) as store:
        node = node_path(node)
        if backend.name == "cffi":
            array = Array(store.open_array_handle(node), root=store.root, node=node, read_only=read_only)
            if chunk_cache_bytes:
                array.enable_chunk_cache(chunk_cache_bytes)
            return array
        from .engine_array import EngineArray

        if chunk_cache_bytes:
            raise InvalidArgumentError(f"chunk_cache_bytes needs the native engine, not {backend.name!r}")
        document = backend.read_metadata(store.root, node.strip("/"))
        handle = store.array_handle_from_metadata(node, document)
        return EngineArray(handle, backend, document, root=store.root, node=node, read_only=read_only)
