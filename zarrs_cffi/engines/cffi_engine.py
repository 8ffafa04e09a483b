"""The ``"cffi"`` engine: the CRUD contract through the project's native library.

Node listing, deletion, existence checks and metadata documents go through ``zarrsCffi*``
hierarchy functions; chunk and region I/O through array handles built from the given metadata
document (authoritative: nothing is re-read from the store, so views work).

Handles are cached per (store location with its options, path, metadata document): a different document gets a
different handle, so a cached handle can never disagree with the metadata it is asked to use.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

import numpy as np
from numpy.typing import NDArray

from zarrs_cffi.array import Array
from zarrs_cffi.buffers import check_out_buffer
from zarrs_cffi.crud.checks import (
    check_chunk_coords,
    check_metadata_doc,
    chunk_value,
    fill_beyond_edge,
    is_fill_chunk,
    touched_chunks,
)
from zarrs_cffi.crud.protocol import ChunkCoords, CrudBackend, MetadataDoc, StoreLike
from zarrs_cffi.crud.store import check_zarr_path, require_writable, resolve_location, zarr_path_to_node
from zarrs_cffi.errors import InvalidMetadataError, NodeNotFoundError
from zarrs_cffi.forksafe import object_lock
from zarrs_cffi.metadata import numpy_to_json
from zarrs_cffi.selection import normalize_selection
from zarrs_cffi.store import Store
from zarrs_cffi.store_location import StoreLocation

_MAX_CACHED_ARRAYS = 32
_MAX_CACHED_STORES = 32


class CffiBackend(CrudBackend):
    """The CRUD contract on zarrs' C API (via cffi).

    >>> CffiBackend().name
    'cffi'
    """

    name = "cffi"

    def __init__(self) -> None:
        self._lock = object_lock(self)
        self._stores: OrderedDict[StoreLocation, Store] = OrderedDict()
        self._arrays: OrderedDict[tuple[StoreLocation, str, str], Array] = OrderedDict()

    def __repr__(self) -> str:
        return "CffiBackend()"

    # --- resolution -------------------------------------------------------------------------------
    def _store(self, store: StoreLike) -> Store:
        location = resolve_location(store)
        with self._lock:
            cached = self._stores.get(location)
            if cached is None or cached.closed:
                cached = self._stores[location] = Store(location)
                while len(self._stores) > _MAX_CACHED_STORES:
                    self._stores.popitem(last=False)  # dropped, not closed (see _array)
            else:
                self._stores.move_to_end(location)
            return cached

    def _array(self, metadata: Any, store: StoreLike, path: str, *, write: bool = False) -> Array:
        location = resolve_location(store)
        path = check_zarr_path(path)
        if write:
            require_writable(store)  # before the native store opens (see _create)
        handle_store = self._store(location)
        doc = check_metadata_doc(metadata)
        try:
            # NaN / Infinity: in attributes of documents zarr-python wrote (read back as stored).
            doc_key = json.dumps(doc, sort_keys=True, default=numpy_to_json)
        except (TypeError, ValueError, RecursionError) as exc:  # RecursionError: nested too deep
            raise InvalidMetadataError(f"metadata is not a JSON document: {exc}") from None
        # By location, options included: a call with other options (another endpoint, other
        # credentials) must not be answered by a handle opened with these.
        key = (location, path, doc_key)
        with self._lock:
            cached = self._arrays.get(key)
            if cached is not None and not cached.closed:
                self._arrays.move_to_end(key)
                return cached
        node = zarr_path_to_node(path)
        array = Array(
            handle_store.array_handle_from_metadata(node, doc), root=handle_store.location, node=node
        )
        with self._lock:
            self._arrays[key] = array
            while len(self._arrays) > _MAX_CACHED_ARRAYS:
                # Dropped, not closed: another thread may have just taken it for a call (it would
                # raise ClosedError); the last reference going frees it.
                self._arrays.popitem(last=False)
        return array

    def _forget_arrays_under(self, root: str, path: str) -> None:
        """Drop cached handles of nodes that were deleted or overwritten (their docs may return)."""
        prefix = f"{path}/" if path else ""
        with self._lock:
            for key in [
                k for k in self._arrays if k[0].url == root and (k[1] == path or k[1].startswith(prefix))
            ]:
                self._arrays.pop(key).close()

    # --- node lifecycle ---------------------------------------------------------------------------
    def _create(self, metadata: Any, store: StoreLike, path: str, *, overwrite: bool, group: bool) -> None:
        location = resolve_location(store)
        path = check_zarr_path(path)
        # Before the native store opens: a zip file to be created (a zarr-python ZipStore opened
        # with mode="w") would fail there as missing, where the error is that zips are read-only.
        require_writable(store)
        handle_store = self._store(location)
        doc = check_metadata_doc(metadata)
        kind = _node_kind(doc)
        if kind != ("group" if group else "array"):
            raise InvalidMetadataError(
                f"metadata describes {'an ' + kind if kind else 'no node type'}, expected "
                f"{'a group' if group else 'an array'}"
            )
        handle_store.create_node(zarr_path_to_node(path), doc, overwrite=overwrite)
        self._forget_arrays_under(handle_store.root, path)

    def create_group(self, metadata: MetadataDoc, store: StoreLike, path: str, *, overwrite: bool) -> None:
        """Implements :meth:`CrudBackend.create_group` through the native library."""
        self._create(metadata, store, path, overwrite=overwrite, group=True)

    def create_array(self, metadata: MetadataDoc, store: StoreLike, path: str, *, overwrite: bool) -> None:
        """Implements :meth:`CrudBackend.create_array` through the native library."""
        self._create(metadata, store, path, overwrite=overwrite, group=False)

    def read_metadata(self, store: StoreLike, path: str) -> MetadataDoc:
        """Implements :meth:`CrudBackend.read_metadata` through the native library."""
        handle_store = self._store(store)
        return handle_store.read_metadata(zarr_path_to_node(check_zarr_path(path)))

    def delete_node(self, store: StoreLike, path: str) -> None:
        """Implements :meth:`CrudBackend.delete_node` through the native library."""
        location = resolve_location(store)
        path = check_zarr_path(path)
        require_writable(store)  # before the native store opens (see _create)
        handle_store = self._store(location)
        handle_store.delete_node(zarr_path_to_node(path))
        self._forget_arrays_under(handle_store.root, path)

    def list_children(self, store: StoreLike, path: str) -> list[tuple[str, MetadataDoc]]:
        """Implements :meth:`CrudBackend.list_children` through the native library."""
        handle_store = self._store(store)
        path = check_zarr_path(path)
        node = zarr_path_to_node(path)
        if _node_kind(handle_store.read_metadata(node)) != "group":
            raise NodeNotFoundError(f"no group at {path!r} in {handle_store.root} (it is an array)")
        # What is stored, as the zarr engine lists it; read-only stores (HTTP cannot list at all)
        # answer from consolidated metadata when they have it.
        return handle_store.list_children(node, consolidated=None if handle_store.read_only else False)

    # --- chunk I/O --------------------------------------------------------------------------------
    def read_chunk(
        self, metadata: MetadataDoc, store: StoreLike, path: str, chunk_coords: ChunkCoords
    ) -> NDArray[Any]:
        """Implements :meth:`CrudBackend.read_chunk` through the native library."""
        array = self._array(metadata, store, path)
        return array.read_chunk(check_chunk_coords(chunk_coords, array.chunk_grid_shape))

    def read_encoded_chunk(
        self, metadata: MetadataDoc, store: StoreLike, path: str, chunk_coords: ChunkCoords
    ) -> bytes | None:
        """Implements :meth:`CrudBackend.read_encoded_chunk` through the native library."""
        array = self._array(metadata, store, path)
        return array.read_encoded_chunk(check_chunk_coords(chunk_coords, array.chunk_grid_shape))

    def write_chunk(
        self, metadata: MetadataDoc, store: StoreLike, path: str, chunk_coords: ChunkCoords, value: Any
    ) -> None:
        """Implements :meth:`CrudBackend.write_chunk` through the native library."""
        array = self._array(metadata, store, path, write=True)
        coords = check_chunk_coords(chunk_coords, array.chunk_grid_shape)
        chunk = fill_beyond_edge(
            chunk_value(value, array.dtype, array.chunk_shape()), coords, array.shape, array.fill_value
        )
        # NaN-aware, like the reference engine (zarrs alone compares bytes, so NaN payloads differ).
        if is_fill_chunk(chunk, array.fill_value):
            array.erase_chunk(coords)
        else:
            array.write_chunk(coords, chunk)

    def delete_chunk(
        self, metadata: MetadataDoc, store: StoreLike, path: str, chunk_coords: ChunkCoords
    ) -> None:
        """Implements :meth:`CrudBackend.delete_chunk` through the native library."""
        array = self._array(metadata, store, path, write=True)
        array.erase_chunk(check_chunk_coords(chunk_coords, array.chunk_grid_shape))

    # --- region I/O -------------------------------------------------------------------------------
    def read_region(
        self,
        metadata: MetadataDoc,
        store: StoreLike,
        path: str,
        selection: Any,
        out: np.ndarray[Any, Any] | None = None,
    ) -> NDArray[Any]:
        """Implements :meth:`CrudBackend.read_region` through the native library."""
        array = self._array(metadata, store, path)
        if out is None:
            return array.read(selection)
        check_out_buffer(out, array.dtype, normalize_selection(selection, array.shape).out_shape)
        return array.read_into(out, selection)

    def write_region(
        self, metadata: MetadataDoc, store: StoreLike, path: str, selection: Any, value: Any
    ) -> None:
        """Implements :meth:`CrudBackend.write_region` through the native library."""
        array = self._array(metadata, store, path, write=True)
        fill = array.fill_value
        if not (array.dtype.kind in "fc" and np.isnan(fill)):
            array.write(selection, value)
            return
        # zarrs drops a chunk only if it is bit-identical to the fill value, so a chunk of NaNs
        # with another payload (or, for complex, NaN in the other part) would stay stored; the
        # contract (and zarr-python) treats any NaN as equal to a NaN fill, so erase those. All
        # under the array's write lock: another thread's write landing between the check and the
        # erase was erased with the chunk.
        with array.write_lock():
            array.write(selection, value)
            sel = normalize_selection(selection, array.shape)
            for coords in touched_chunks(sel.start, sel.step, sel.count, array.chunk_shape()):
                if array.read_encoded_chunk(coords) is not None and is_fill_chunk(
                    array.read_chunk(coords), fill
                ):
                    array.erase_chunk(coords)


def _node_kind(doc: dict[str, Any]) -> str:
    """ "array", "group" or "" for a v3 or v2 metadata document."""
    if doc.get("zarr_format") == 3:
        kind = doc.get("node_type")
        return kind if kind in ("array", "group") else ""
    if doc.get("zarr_format") == 2:
        return "array" if "shape" in doc else "group"
    return ""
