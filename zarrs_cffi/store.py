"""A store handle and node-level operations on it (metadata, listing, deletion).

A store is a local directory, a zip file, a named in-memory store or an object store (S3, GCS,
Azure, HTTP), named by a path or URL plus options (:mod:`zarrs_cffi.store_location`). Everything
above this module talks to a :class:`Store`, never to a path.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from . import consolidated
from ._native import check, encode_str, ffi, lib, take_string
from .consolidated import children_from, read_consolidated, update_consolidated
from .dtypes import SUPPORTED, V3_NAME_BY_NUMPY
from .errors import (
    InvalidArgumentError,
    InvalidMetadataError,
    NodeNotFoundError,
    StorageError,
    UnsupportedDataTypeError,
    ZarrsError,
)
from .handles import Handle
from .metadata import METADATA_NAMES, numpy_to_json
from .secrets import redact
from .store_location import StoreLocation, locate, storage_kwargs


def node_path(node: object) -> str:
    """Normalise a node name to zarrs' node-path form: "/" for the root, "/a/b" below it.

    Accepts zarr style ("", "a/b") and node style ("/", "/a/b"). Empty segments, "." and ".."
    are rejected rather than passed to C.
    """
    if not isinstance(node, str):
        raise InvalidArgumentError(f"node must be str, got {type(node).__name__}")
    encode_str(node, "node")
    if node.startswith("//"):
        raise InvalidArgumentError(f"node path {node!r} has an empty segment")
    stripped = node.strip("/") if node not in ("", "/") else ""
    if stripped:
        parts = stripped.split("/")
        if any(p in ("", ".", "..") for p in parts):
            raise InvalidArgumentError(f"node path {node!r} has an empty, '.' or '..' segment")
        if any(set(p) == {"."} for p in parts):  # ("..." too: zarrs refuses names of dots only)
            raise InvalidArgumentError(f"node path {node!r} has a segment of dots only")
        reserved = METADATA_NAMES.intersection(parts)
        if reserved:
            raise InvalidArgumentError(f"node path {node!r} names a node {min(reserved)!r}: a metadata key")
        if node.endswith("/") and node != "/":
            raise InvalidArgumentError(f"node path {node!r} must not end with '/'")
    return "/" + stripped


def root_path(path: object) -> str:
    """An absolute filesystem path string for a store root (str or os.PathLike)."""
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise InvalidArgumentError(f"path must be str or os.PathLike, got {type(path).__name__}")
    text = os.fspath(path)
    if not isinstance(text, str):
        raise InvalidArgumentError("path must be a text path, not bytes")
    encode_str(text, "path")
    if not text:
        raise InvalidArgumentError("path is empty")
    return os.path.abspath(text)


class Store:
    """A store: a local directory (which need not exist yet), a zip file, an in-memory store or
    an object store, named by a path or URL plus options.

    The handle every node-level operation goes through: metadata, listing, deletion, opening
    arrays. Close it, or use it in a ``with`` block. No request is made until it is used.

    >>> with zarrs_cffi.Store("memory://example") as store:
    ...     store.node_exists("/")
    False

    Args:
        root: A directory path (``str`` or ``os.PathLike``), a URL (``file://``, ``zip://``,
            ``memory://name``, ``s3://bucket/prefix``, ``gs://``, ``az://``, ``abfs://``,
            ``http(s)://``), a path ending in ``.zip``, another :class:`Store` (a new handle on
            the same store), or a zarr-python ``LocalStore``, ``ZipStore``, ``ObjectStore`` or
            ``FsspecStore`` (http/s3).
        **storage_options: Options of object stores, by ``object_store``/``obstore`` key names:
            ``endpoint``, ``region``, ``access_key_id``, ``secret_access_key``, ``session_token``,
            ``allow_http``, ``skip_signature``, ``virtual_hosted_style_request``, ``timeout``,
            ``connect_timeout`` (seconds), ``max_retries``, ``retry_timeout`` (seconds). ``AWS_*``,
            ``GOOGLE_*`` and ``AZURE_*`` environment variables apply too.
        consolidated: Whether :meth:`list_children` answers from consolidated metadata: None
            (the default) when present, True always (an error without it), False never. Nodes
            created or deleted through this package keep it up to date.

    Raises:
        InvalidArgumentError: A malformed path or URL, an unknown scheme or option.
        UnsupportedStoreError: A store object with no native equivalent (a TypeError).
        NodeNotFoundError: A zip file that does not exist.
        ClosedError: ``root`` is a closed :class:`Store`.
    """

    def __init__(self, root: object, *, consolidated: bool | None = None, **storage_options: Any) -> None:
        self.location: StoreLocation = locate(root, storage_options or None)
        self.location.check_reachable()
        self.consolidated = _consolidated_arg(consolidated)
        self.root = self.location.url
        out = ffi.new("ZarrsCffiStorage *")
        context = f"store {self.root!r}"
        self.location.check_options_apply()
        if self.location.local:
            check(lib.zarrsCffiCreateStorageFilesystem(encode_str(self.root, "path"), out), context)
        else:
            options = json.dumps(dict(self.location.options)).encode()
            check(lib.zarrsCffiCreateStorageFromUrl(encode_str(self.root, "url"), options, out), context)
        self._handle = Handle(out[0], lib.zarrsCffiDestroyStorage, context)

    @property
    def read_only(self) -> bool:
        """True for stores that cannot be written (zip files, HTTP servers, read-only zarr stores)."""
        return self.location.read_only

    def check_writable(self) -> None:
        """Raise :class:`ReadOnlyError` (a PermissionError) if this store cannot be written.

        Zip files and HTTP servers refuse writes in the native library too; a zarr store opened
        read-only (``LocalStore(root, read_only=True)``) maps to a location the native library
        could write, so every write through this class checks here first.
        """
        self.location.check_writable()

    @property
    def storage_options(self) -> dict[str, str]:
        """The options this store was opened with (a copy; may hold credentials)."""
        return self.location.options_dict()

    # -- lifecycle ---------------------------------------------------------------------------------
    def close(self) -> None:
        """Release the native store handle (idempotent; arrays opened from it stay usable).

        Afterwards its methods, and opening or creating arrays and groups through it (or a new
        ``Store`` of it), raise :class:`ClosedError`."""
        self._handle.close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._handle.closed

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return redact(f"Store({self.root!r}{', closed' if self.closed else ''})")

    def __reduce__(self) -> tuple[Any, ...]:
        # A native handle cannot cross processes, and rebuilding it from the location would put the
        # store's options (credentials, often) into the pickle unasked: say what to send instead.
        raise TypeError(
            f"{self!r} cannot be pickled (it holds a native store handle): pass its URL or path "
            "(store.root) and options (store.storage_options) and make a Store of them where "
            "needed, or pickle an Array, which pickles by location"
        )

    def __copy__(self) -> Store:
        """A new handle on the same store (``Store(self)``): closing one leaves the other open."""
        return Store(self, consolidated=self.consolidated)

    def __deepcopy__(self, memo: dict[int, Any]) -> Store:
        return self.__copy__()

    # -- nodes -------------------------------------------------------------------------------------
    def node_exists(self, node: str) -> bool:
        """Tell whether an array or group exists at ``node``.

        Args:
            node: The node path: ``"/"`` or ``""`` for the root, ``"/a/b"`` or ``"a/b"`` below it.

        Returns:
            True if the node has metadata (``zarr.json``, ``.zarray`` or ``.zgroup``).

        Raises:
            InvalidArgumentError: A malformed node path (empty or ``..`` segments, NUL bytes).
            ClosedError: The store is closed.
        """
        path = node_path(node).encode()
        exists = ffi.new("bool *")
        with self._handle.use() as ptr:
            check(lib.zarrsCffiNodeExists(ptr, path, exists), f"node {node!r}")
        return bool(exists[0])

    def read_metadata(self, node: str) -> dict[str, Any]:
        """Read a node's stored metadata document.

        Args:
            node: The node path: ``"/"`` or ``""`` for the root, ``"/a/b"`` or ``"a/b"`` below it.

        Returns:
            The document as a dict (v2: ``.zattrs`` merged under ``"attributes"``).

        Raises:
            NodeNotFoundError: No node at ``node`` (a FileNotFoundError).
            InvalidMetadataError: The stored document is not a JSON object.
            InvalidArgumentError: A malformed node path (empty or ``..`` segments, NUL bytes).
            ClosedError: The store is closed.
        """
        path = node_path(node)
        out = ffi.new("char **")
        with self._handle.use() as ptr:
            check(lib.zarrsCffiReadNodeMetadata(ptr, path.encode(), out), f"node {path!r} in {self.root!r}")
        return _json_object(take_string(out[0]), path)

    def create_node(self, node: str, document: dict[str, Any], *, overwrite: bool = False) -> None:
        """Write a node's metadata document, validated by zarrs first.

        Args:
            node: The node path: ``"/"`` or ``""`` for the root, ``"/a/b"`` or ``"a/b"`` below it.
            document: The array or group metadata document (a JSON-serialisable dict).
            overwrite: Delete any node at ``node`` (and everything below it) first.

        Raises:
            NodeExistsError: A node exists at ``node`` and ``overwrite`` is False (a ValueError).
            InvalidMetadataError: ``document`` is not a valid, serialisable document.
            InvalidArgumentError: A malformed node path (empty or ``..`` segments, NUL bytes).
            ReadOnlyError: The store is read-only (a PermissionError).
            ClosedError: The store is closed.
        """
        path = node_path(node)
        overwrite = flag_arg(overwrite, "overwrite")
        _check_group_members(document)
        text = _dump_json(document)
        self.check_writable()
        with consolidated.changing, self._handle.use() as ptr:  # (see consolidated.changing)
            check(
                lib.zarrsCffiCreateNode(ptr, path.encode(), text, bool(overwrite)),
                f"creating {path!r} in {self.root!r}",
            )
            if path != "/" and not self.read_only:
                self._keep_consolidated_true(f"{path!r} was created", path, document)

    def delete_node(self, node: str) -> None:
        """Delete the node and everything below it.

        Args:
            node: The node path: ``"/"`` or ``""`` for the root, ``"/a/b"`` or ``"a/b"`` below it.

        Raises:
            NodeNotFoundError: No node at ``node`` (a FileNotFoundError).
            InvalidArgumentError: A malformed node path (empty or ``..`` segments, NUL bytes).
            ReadOnlyError: The store is read-only (a PermissionError).
            ClosedError: The store is closed.
        """
        path = node_path(node)
        self.check_writable()
        with consolidated.changing, self._handle.use() as ptr:  # (see consolidated.changing)
            check(lib.zarrsCffiDeleteNode(ptr, path.encode()), f"deleting {path!r} in {self.root!r}")
            if path != "/":
                self._keep_consolidated_true(f"{path!r} was deleted", path, None)

    def _keep_consolidated_true(self, done: str, path: str, document: dict[str, Any] | None) -> None:
        """Update the consolidated metadata after a node was created or deleted; a failure says
        the change itself was made (a retry of it would fail: NodeExistsError, NodeNotFoundError)."""
        try:
            update_consolidated(self, path.strip("/"), document)
        except ZarrsError as exc:
            raise type(exc)(
                f"{done} in {self.root!r}, but updating the store's consolidated metadata failed, "
                f"so listings through it miss the change (zarrs_cffi.consolidate rewrites it): {exc}",
                exc.code,
            ) from exc

    def list_children(
        self, node: str, *, consolidated: bool | None = None
    ) -> list[tuple[str, dict[str, Any]]]:
        """List a group's direct children.

        Args:
            node: The node path: ``"/"`` or ``""`` for the root, ``"/a/b"`` or ``"a/b"`` below it.
            consolidated: Answer from the store's consolidated metadata (one request, and the only
                way to list an HTTP server): True to require it, False to list the store itself,
                None (the default) for the store's own setting (see :class:`Store`).

        Returns:
            ``(zarr-style path, metadata document)`` pairs, sorted by path.

        Raises:
            NodeNotFoundError: No node at ``node`` (a FileNotFoundError).
            InvalidArgumentError: A malformed node path (empty or ``..`` segments, NUL bytes), or
                ``consolidated=True`` on a store without consolidated metadata.
            ClosedError: The store is closed.
        """
        path = node_path(node)
        documents = self._consolidated_documents(consolidated)
        if documents is not None:
            if path != "/" and path.strip("/") not in documents:
                raise NodeNotFoundError(f"no node at {path!r} in {self.root!r} (consolidated metadata)")
            return children_from(documents, path)
        out = ffi.new("char **")
        with self._handle.use() as ptr:
            check(lib.zarrsCffiListChildren(ptr, path.encode(), out), f"listing {path!r} in {self.root!r}")
        children = [(child, doc) for child, doc in json.loads(take_string(out[0]))]
        for child, doc in children:
            if not isinstance(doc, dict):
                raise InvalidMetadataError(f"the metadata of {child!r} in {self.root!r} is not a JSON object")
        return children

    def _consolidated_documents(self, consolidated: bool | None) -> dict[str, dict[str, Any]] | None:
        wanted = self.consolidated if consolidated is None else _consolidated_arg(consolidated)
        if wanted is False:
            return None
        documents = read_consolidated(self)  # read per call: another writer may re-consolidate
        if documents is None and wanted is True:
            raise InvalidArgumentError(f"{self.root!r} has no consolidated metadata")
        return documents

    def get_key(self, key: str) -> bytes | None:
        """Read the whole value stored at ``key``.

        Args:
            key: A store key relative to the store's root (``"zarr.json"``, ``"a/.zmetadata"``).

        Returns:
            The bytes, or None if there is no value at ``key``.

        Raises:
            InvalidArgumentError: ``key`` is not a valid store key.
            StorageError: The store could not be read.
            ClosedError: The store is closed.
        """
        data = ffi.new("uint8_t **")
        length = ffi.new("size_t *")
        try:
            with self._handle.use() as ptr:
                check(
                    lib.zarrsCffiStorageGet(ptr, encode_str(key, "key"), data, length),
                    f"key {key!r} in {self.root!r}",
                )
        except StorageError:
            # A directory holds no value (the filesystem store cannot size it; memory:// says None).
            if self.location.local and os.path.isdir(os.path.join(self.root, key)):
                return None
            raise
        if data[0] == ffi.NULL:
            return None
        try:
            return bytes(ffi.buffer(data[0], length[0]))
        finally:
            lib.zarrsCffiFreeBytes(data[0], length[0])

    def set_key(self, key: str, value: bytes) -> None:
        """Store ``value`` at ``key``, replacing what is there.

        Args:
            key: A store key relative to the store's root.
            value: The bytes to store.

        Raises:
            InvalidArgumentError: ``key`` is not a valid store key, or ``value`` is not bytes.
            ReadOnlyError: The store is read-only (a PermissionError).
            StorageError: The store could not be written.
            ClosedError: The store is closed.
        """
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise InvalidArgumentError(f"value must be bytes, got {type(value).__name__}")
        data = bytes(value)
        self.check_writable()
        with self._handle.use() as ptr:
            check(
                lib.zarrsCffiStorageSet(ptr, encode_str(key, "key"), data, len(data)),
                f"key {key!r} in {self.root!r}",
            )
        self._consolidated_cache = None

    def stored_bytes(self, node: str = "/") -> int:
        """Count the bytes stored below a node (metadata and chunks).

        Args:
            node: The node path: ``"/"`` or ``""`` for the root, ``"/a/b"`` or ``"a/b"`` below it.

        Returns:
            The total size in bytes of the values stored below the node (in a zip archive: the
            members' uncompressed sizes).

        Raises:
            InvalidArgumentError: A malformed node path (empty or ``..`` segments, NUL bytes).
            ClosedError: The store is closed.
        """
        path = node_path(node)
        out = ffi.new("uint64_t *")
        with self._handle.use() as ptr:
            check(lib.zarrsCffiStoredBytes(ptr, path.encode(), out), f"size of {path!r}")
        return int(out[0])

    # -- arrays ------------------------------------------------------------------------------------
    def open_array_handle(self, node: str) -> Handle:
        """Open the array at ``node`` as a native handle (what :class:`Array` wraps).

        Args:
            node: The node path: ``"/"`` or ``""`` for the root, ``"/a/b"`` or ``"a/b"`` below it.

        Returns:
            The handle, owned by the caller.

        Raises:
            NodeNotFoundError: No array at ``node`` (a FileNotFoundError).
            InvalidMetadataError: The stored metadata is not a valid array document.
            InvalidArgumentError: A malformed node path (empty or ``..`` segments, NUL bytes).
            ClosedError: The store is closed.
        """
        path = node_path(node)
        out = ffi.new("ZarrsCffiArray *")
        context = f"array {path!r} in {self.root!r}"
        try:
            with self._handle.use() as ptr:
                check(lib.zarrsCffiOpenArray(ptr, path.encode(), out), context)
        except InvalidMetadataError:
            _check_not_structured(self._stored_document(path), context)
            raise
        return Handle(out[0], lib.zarrsCffiDestroyArray, context)

    def _stored_document(self, path: str) -> dict[str, Any]:
        """The node's stored document, or {} if it cannot be read (for error messages only)."""
        try:
            return self.read_metadata(path)
        except ZarrsError:
            return {}

    def array_handle_from_metadata(self, node: str, document: dict[str, Any]) -> Handle:
        """Make an array handle defined by ``document`` alone (nothing is read from the store).

        Args:
            node: The node path: ``"/"`` or ``""`` for the root, ``"/a/b"`` or ``"a/b"`` below it.
            document: The array's metadata document (authoritative, e.g. a view of stored bytes).

        Returns:
            The handle, owned by the caller.

        Raises:
            InvalidMetadataError: ``document`` is not a valid array document.
            InvalidArgumentError: A malformed node path (empty or ``..`` segments, NUL bytes).
            ClosedError: The store is closed.
        """
        path = node_path(node)
        out = ffi.new("ZarrsCffiArray *")
        context = f"array {path!r} in {self.root!r}"
        text = _dump_json(document, allow_non_finite=True)
        try:
            with self._handle.use() as ptr:
                check(lib.zarrsCffiArrayFromMetadata(ptr, path.encode(), text, out), context)
        except InvalidMetadataError:
            _check_not_structured(document, context)
            raise
        return Handle(out[0], lib.zarrsCffiDestroyArray, context)


def _check_not_structured(document: dict[str, Any], context: str) -> None:
    """Raise UnsupportedDataTypeError if ``document`` is a Zarr v2 array of a data type this
    package does not read, whose metadata zarrs refused as malformed.

    zarrs has no structured (record) data types, and its v2 parser rejects a dtype given as a list
    of fields as malformed metadata ("did not match any variant of untagged enum"); a string type
    with no fill value (``"<U2"``, ``null``) fails on the fill value. The documents are valid Zarr:
    report the unsupported data type they have, like any other type zarrs lacks."""
    dtype = document.get("dtype")
    if document.get("zarr_format") != 2:
        return
    if isinstance(dtype, list):
        raise UnsupportedDataTypeError(
            f"{context}: structured data type {json.dumps(dtype)} is not supported (supported: {SUPPORTED})",
            int(lib.ZARRS_ERROR_UNSUPPORTED_DATA_TYPE),
        ) from None
    try:
        native = np.dtype(dtype).newbyteorder("=") if isinstance(dtype, str) else None
    except (TypeError, ValueError):
        return
    if native is not None and native not in V3_NAME_BY_NUMPY:
        raise UnsupportedDataTypeError(
            f"{context}: data type {dtype} is not supported (supported: {SUPPORTED})",
            int(lib.ZARRS_ERROR_UNSUPPORTED_DATA_TYPE),
        ) from None


def _dump_json(document: object, *, allow_non_finite: bool = False) -> bytes:
    """``document`` as JSON. ``allow_non_finite``: NaN / Infinity as the bare tokens zarr-python
    writes in attributes, for documents read from a store (the native library reads them)."""
    if not isinstance(document, dict):
        raise InvalidMetadataError(f"metadata must be a dict, got {type(document).__name__}")
    try:
        text = json.dumps(document, allow_nan=allow_non_finite, default=numpy_to_json)
    except (TypeError, ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        raise InvalidMetadataError(f"metadata is not JSON-serialisable: {exc}") from None
    return encode_str(text, "metadata")


def _json_object(text: str, path: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise InvalidMetadataError(f"metadata of {path!r} is not a JSON object")
    return value


V3_GROUP_MEMBERS = frozenset({"zarr_format", "node_type", "attributes", "consolidated_metadata"})


def _check_group_members(document: object) -> None:
    """A v3 group document's members: the spec's, or extensions marked ``"must_understand": false``
    (the rule the native library applies to arrays; an unknown member must fail a reader that does
    not know it, and zarr-python cannot open such a group at all)."""
    if (
        not isinstance(document, dict)
        or document.get("zarr_format") != 3
        or document.get("node_type") != "group"
    ):
        return
    if not isinstance(document.get("attributes", {}), dict):
        # (readers fail on it: zarr-python with a TypeError; as for arrays and v2 groups)
        raise InvalidMetadataError("a group document's attributes must be a JSON object")
    for name, value in document.items():
        optional = isinstance(value, dict) and value.get("must_understand") is False
        if name not in V3_GROUP_MEMBERS and not optional:
            raise InvalidMetadataError(
                f"unsupported extension {name!r} in a group document: it does not say "
                '"must_understand": false (Zarr v3 spec)'
            )


def flag_arg(value: object, name: str) -> bool:
    """A True/False argument (numpy's bools too). Anything else is refused: ``overwrite="no"`` is
    truthy, and deleted the node it was meant to keep."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise InvalidArgumentError(f"{name} must be True or False, got {value!r}")


def _consolidated_arg(value: object) -> bool | None:
    """``consolidated=``: None, True or False (0 and 1 passed the old check and then acted as None:
    a listing from stale consolidated metadata)."""
    if value is None:
        return None
    return flag_arg(value, "consolidated")


def forget_memory_store(url: str) -> None:
    """Forget the in-memory store ``memory://name`` (its data goes once no handle uses it).

    Args:
        url: ``"memory://name"`` (a path after the name is ignored) or the bare name.

    Raises:
        InvalidArgumentError: ``url`` is not a str, contains a NUL character, or names another
            kind of store (``s3://...``, a path).
    """
    text = encode_str(url, "url").decode()
    scheme, sep, _ = text.partition("://")
    if (sep and scheme.lower() != "memory") or (not sep and ("/" in text or ":" in text)):
        raise InvalidArgumentError(f"forget_memory_store takes memory://name or a bare name, not {url!r}")
    check(lib.zarrsCffiForgetMemoryStore(encode_str(url, "url")), f"memory store {url!r}")


def consolidate(store: object, *, storage_options: Any = None) -> dict[str, dict[str, Any]]:
    """Write consolidated metadata for a store's whole hierarchy: Zarr v3's
    ``consolidated_metadata`` in the root ``zarr.json`` (zarr-python's form), or v2's
    ``.zmetadata``. Listing then costs one request, and works on HTTP servers.

    Args:
        store: A path, URL, :class:`Store` or zarr-python store (see :class:`Store`) whose root is a
            group.
        storage_options: Options of an object store URL (see :class:`Store`).

    Returns:
        The consolidated documents by node path (``"a"``, ``"a/b"``).

    Raises:
        NodeNotFoundError: The store has no root group.
        InvalidArgumentError: The root is an array.
        ReadOnlyError: The store is read-only (a PermissionError).
    """
    from .consolidated import consolidate as write_consolidated

    with writable_store(store, storage_options) as opened:
        return write_consolidated(opened)


def writable_store(target: object, storage_options: object = None) -> Store:
    """``Store(target, **storage_options)`` to write to, or ReadOnlyError (a PermissionError).

    Checked before the native store opens: a zip file a writer means to create (a zarr-python
    ``ZipStore(path, mode="w")``) would otherwise fail there as a missing file, hiding the reason.
    """
    options = storage_kwargs(storage_options)
    locate(target, options or None).check_writable()
    return Store(target, **options)
