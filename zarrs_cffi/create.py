"""Creating arrays and groups (Zarr v3)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

from ._native import lib
from .array import Array
from .crud.registry import get_backend
from .errors import InvalidMetadataError, NodeExistsError, NodePathError
from .metadata import array_document, group_document
from .open import Engine, StoreTarget, open_array
from .store import Store, flag_arg, node_path, writable_store


def create_array(
    path: StoreTarget,
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
    storage_options: Mapping[str, Any] | None = None,
) -> Array:
    """Create a Zarr v3 array at ``node`` of the store rooted at ``path`` and open it; groups above
    it that are missing are written first (as zarr-python does).

    >>> arr = zarrs_cffi.create_array("data.zarr", "/t", shape=(100, 100), dtype="f4", chunks=(10, 10))

    Args:
        path: The store: a directory, a URL or a store object (see :func:`open_array`).
        node: The node inside the store: ``"/"`` (the default) when ``path`` is the array itself,
            else ``"/group/array"`` (``"group/array"`` works too).
        shape: The array's shape.
        dtype: Anything ``numpy.dtype`` accepts, of a supported type (bool, ints, floats, complex).
        chunks: The chunk shape (the inner chunk shape when ``shards`` is given).
        shards: A shard shape (a multiple of ``chunks``) to store chunks inside shards, or None.
        compressors: None, ``"zstd"`` (the default), ``"gzip"``, ``"blosc"``, or a list of codec
            JSON dicts.
        fill_value: The value of never-written elements; one the dtype holds exactly (``3.0`` or
            ``"3"`` for an integer type, ``"NaN"`` for a float type; floats round to float16/32).
        attributes: User attributes stored in the metadata.
        dimension_names: One name (or None) per dimension.
        overwrite: Delete any node at ``node`` (and everything below it) first.
        engine: The engine the array's I/O runs through: a name from :func:`list_engines`,
            a backend object, or None for ``ZARRS_CFFI_ENGINE``, else ``"cffi"`` (native).
        storage_options: Options of an object store URL (see :class:`Store`).

    Returns:
        The new array, open for reading and writing.

    Raises:
        NodeExistsError: A node exists at ``node`` and ``overwrite`` is False (a ValueError).
        InvalidMetadataError: Inconsistent arguments (shapes, codecs).
        UnsupportedDataTypeError: ``dtype`` is not supported (a TypeError).
        UnknownEngineError: ``engine`` names no registered engine (a ValueError).
        InvalidArgumentError: A malformed path or node (empty, ``..`` segments, NUL bytes), or a
            ``fill_value`` the dtype cannot hold exactly (70000 for int16, NaN for an integer type).
        ReadOnlyError: The store is read-only (a zip file, an HTTP server; a PermissionError).
        ClosedError: ``path`` is a closed :class:`Store`.
        NodePathError: A node name starts with ``__`` (reserved by the Zarr v3 spec; an Array
            cannot be opened there: use the CRUD functions with ``engine="zarr"``); nothing is written.
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
    overwrite = flag_arg(overwrite, "overwrite")
    if any(name.startswith("__") for name in node.split("/")):
        # Checked before writing: the Array returned below could not open it (it was created,
        # then the open raised, and a retry met NodeExistsError).
        raise NodePathError(
            f'{node!r}: an Array cannot be opened at a name that starts with "__" (the Zarr v3 '
            "spec reserves such names, and zarrs refuses them); the CRUD functions with "
            'engine="zarr" create and use such arrays'
        )
    with writable_store(path, storage_options) as store:
        # What the create would refuse is refused before any parent is written: a document the
        # native library does not take goes straight to the create, to be refused in its words.
        try:
            store.array_handle_from_metadata(node, document).close()
            valid = True
        except InvalidMetadataError:
            valid = False
        if valid:
            _refuse_existing(store, node, overwrite)
            _write_missing_parents(store, node)
        if backend.name == "cffi":
            store.create_node(node, document, overwrite=overwrite)
        else:
            backend.create_array(document, store.location, node.strip("/"), overwrite=overwrite)
        if not valid:  # (taken by the create after all)
            _write_missing_parents(store, node)
        location = store.location
    return open_array(location, node, engine=backend)


def create_group(
    path: StoreTarget,
    node: str = "/",
    *,
    attributes: dict[str, Any] | None = None,
    overwrite: bool = False,
    engine: Engine = None,
    storage_options: Mapping[str, Any] | None = None,
) -> None:
    """Create a Zarr v3 group at ``node``, and groups above it that are missing (as zarr-python does).

    >>> zarrs_cffi.create_group("survey.zarr", attributes={"title": "example"})

    Args:
        path: The store: a directory, a URL or a store object (see :func:`open_array`).
        node: The node inside the store: ``"/"`` (the default) when ``path`` is the group itself,
            else ``"/parent/group"`` (``"parent/group"`` works too).
        attributes: User attributes stored in the group's metadata.
        overwrite: Delete any node at ``node`` (and everything below it) first.
        engine: The engine that writes the group (see :func:`open_array`).
        storage_options: Options of an object store URL (see :class:`Store`).

    Raises:
        NodeExistsError: A node exists at ``node`` and ``overwrite`` is False (a ValueError).
        UnknownEngineError: ``engine`` names no registered engine (a ValueError).
        InvalidArgumentError: A malformed path or node (empty, ``..`` segments, NUL bytes).
        ReadOnlyError: The store is read-only (a zip file, an HTTP server; a PermissionError).
        ClosedError: ``path`` is a closed :class:`Store`.
    """
    backend = get_backend(engine)
    document = group_document(attributes)
    overwrite = flag_arg(overwrite, "overwrite")
    node = node_path(node)
    with writable_store(path, storage_options) as store:
        _refuse_existing(store, node, overwrite)  # (before any parent is written)
        _write_missing_parents(store, node)
        if backend.name == "cffi":
            store.create_node(node, document, overwrite=overwrite)
        else:
            backend.create_group(document, store.location, node.strip("/"), overwrite=overwrite)


def _refuse_existing(store: Store, node: str, overwrite: bool) -> None:
    """NodeExistsError (with the native library's code) if a node exists at ``node`` and
    ``overwrite`` is False."""
    if not overwrite and store.node_exists(node):
        raise NodeExistsError(
            f"a node already exists at {node!r} in {store.root!r}", int(lib.ZARRS_CFFI_ERROR_NODE_EXISTS)
        )


def _write_missing_parents(store: Store, node: str) -> None:
    """Write a group document for each missing group above ``node``, the root included, as
    zarr-python does: Zarr v3 has no implied groups, and zarr-python (and this package's listings)
    could not open a hierarchy whose parents have no document. The CRUD API keeps its contract's
    implied parents."""
    names = node.strip("/").split("/")[:-1] if node != "/" else []
    for depth in range(len(names) + (node != "/")):
        parent = "/" + "/".join(names[:depth])
        if not store.node_exists(parent):
            # Another writer may create it meanwhile (siblings created at once): then it is there.
            with contextlib.suppress(NodeExistsError):
                store.create_node(parent, group_document())
