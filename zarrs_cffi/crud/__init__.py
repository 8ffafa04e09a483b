"""The functional CRUD API: stateless Zarr I/O as ``f(metadata, store, path, *params)``.

The contract comes from zarr-python PR #4064. Every call gets the node's metadata document (a dict,
authoritative: array routines never re-read it, which allows views), a store (a local directory:
``str``, ``os.PathLike`` or ``zarr.storage.LocalStore``) and a zarr-style path (``""`` is the root,
``"a/b"`` a child), plus ``engine=``.

**Engine vs backend.** An *engine* is what you select: a name passed as ``engine=`` (``"cffi"``, the
zarrs-backed native engine, or ``"zarr"``, the pure zarr-python reference engine). ``engine=None``
means the ``ZARRS_CFFI_ENGINE`` environment variable, else ``"cffi"``. A *backend* is the object that
implements an engine: anything satisfying the :class:`CrudBackend` protocol. The registry maps engine
names to backends (:func:`register_backend`, :func:`get_backend`, :func:`list_backends`); you may also
pass a backend object directly as ``engine=``. An engine never silently falls back to another: what it
cannot do raises.

>>> import numpy as np, zarrs_cffi.crud as crud                          # doctest: +SKIP
>>> meta = crud.read_metadata("data.zarr", "temperature", engine="zarr")  # doctest: +SKIP
>>> crud.read_region(meta, "data.zarr", "temperature", np.s_[0, ::2])     # doctest: +SKIP

Async twins of every function live in :mod:`zarrs_cffi.crud.aio`.
"""

from __future__ import annotations

from zarrs_cffi.crud._facade import (
    create_new_array,
    create_new_group,
    create_overwrite_array,
    create_overwrite_group,
    delete_chunk,
    delete_node,
    list_children,
    read_chunk,
    read_encoded_chunk,
    read_metadata,
    read_region,
    read_region_into,
    write_chunk,
    write_region,
)
from zarrs_cffi.crud.protocol import CrudBackend, StoreLike
from zarrs_cffi.crud.registry import (
    BackendUnavailableError,
    get_backend,
    list_backends,
    register_backend,
)
from zarrs_cffi.errors import NodeExistsError, NodeNotFoundError, UnsupportedStoreError

__all__ = [
    "BackendUnavailableError",
    "CrudBackend",
    "NodeExistsError",
    "NodeNotFoundError",
    "StoreLike",
    "UnsupportedStoreError",
    "create_new_array",
    "create_new_group",
    "create_overwrite_array",
    "create_overwrite_group",
    "delete_chunk",
    "delete_node",
    "get_backend",
    "list_backends",
    "list_children",
    "read_chunk",
    "read_encoded_chunk",
    "read_metadata",
    "read_region",
    "read_region_into",
    "register_backend",
    "write_chunk",
    "write_region",
]
