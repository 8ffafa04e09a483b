"""Creating arrays and groups (Zarr v3)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from .array import Array
from .crud.registry import get_backend
from .metadata import array_document, group_document
from .open import Engine, open_array
from .store import Store, node_path


def create_array(
    path: str | os.PathLike[str],
    node: str = "/",
    *,
    shape: Sequence[int],
    dtype: Any,
    chunks: Sequence[int],
    shards: Sequence[int] | None = None,
    compressors: Any = "zstd",
    fill_value: Any = 0,
    attributes: dict[str, Any] | None = None,
    dimension_names: Sequence[str | None] | None = None,
    overwrite: bool = False,
    engine: Engine = None,
) -> Array:
    """Create a Zarr v3 array at ``node`` of the store rooted at ``path`` and open it.

    ``compressors``: None, "zstd", "gzip", "blosc", or a list of codec JSON dicts. ``shards``
    (a multiple of ``chunks``) stores chunks inside shards. An existing node at ``node`` raises
    :class:`NodeExistsError` unless ``overwrite=True``, which deletes it and everything below first.
    ``engine`` (see :func:`open_array`) picks the engine that writes and serves the array.

    >>> arr = zarrs_cffi.create_array("data.zarr", "/t", shape=(100, 100), dtype="f4", chunks=(10, 10))
    """
    document = array_document(
        shape=shape,
        dtype=dtype,
        chunks=chunks,
        shards=shards,
        compressors=compressors,
        fill_value=fill_value,
        attributes=attributes,
        dimension_names=dimension_names,
    )
    backend = get_backend(engine)
    node = node_path(node)
    with Store(path) as store:
        if backend.name == "cffi":
            store.create_node(node, document, overwrite=overwrite)
        else:
            backend.create_array(document, store.root, node.strip("/"), overwrite=overwrite)
        root = store.root
    return open_array(root, node, engine=backend)


def create_group(
    path: str | os.PathLike[str],
    node: str = "/",
    *,
    attributes: dict[str, Any] | None = None,
    overwrite: bool = False,
    engine: Engine = None,
) -> None:
    """Create a Zarr v3 group at ``node`` (parents are implied, as in Zarr v3).

    >>> zarrs_cffi.create_group("data.zarr", attributes={"title": "example"})
    """
    backend = get_backend(engine)
    document = group_document(attributes)
    with Store(path) as store:
        if backend.name == "cffi":
            store.create_node(node, document, overwrite=overwrite)
        else:
            backend.create_group(document, store.root, node_path(node).strip("/"), overwrite=overwrite)
