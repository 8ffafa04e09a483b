"""The ``"zarr"`` engine: the CRUD contract implemented with zarr-python alone.

It is the reference the native engine is tested against, so it favours being obviously right over
being fast: chunks are encoded and decoded by zarr-python's own codec pipeline, regions go through
``zarr.Array`` basic selections, and node metadata documents are written and read as plain JSON.
Array routines build a ``zarr.AsyncArray`` from the metadata document they are given (never from the
store), so views work exactly as with the native engine.

zarr-python is imported lazily, so this module imports without it; using the engine needs it.

>>> from zarrs_cffi.crud import read_metadata                        # doctest: +SKIP
>>> read_metadata("data.zarr", "a", engine="zarr")["zarr_format"]    # doctest: +SKIP
3
"""

from __future__ import annotations

import asyncio
import copy
import functools
import importlib.util
import json
import os
import pathlib
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import numpy as np
from numpy.typing import NDArray

from zarrs_cffi._compat import require_python
from zarrs_cffi.crud.checks import (
    check_chunk_coords,
    check_metadata_doc,
    check_out_buffer,
    chunk_value,
    fill_beyond_edge,
    is_fill_chunk,
    native_dtype,
    region_value,
    touched_chunks,
)
from zarrs_cffi.crud.protocol import ChunkCoords, CrudBackend, MetadataDoc, StoreLike
from zarrs_cffi.crud.store import check_new_node_path, check_zarr_path, require_writable, resolve_location
from zarrs_cffi.engines.zarr_stores import zarr_store as _zarr_store
from zarrs_cffi.errors import (
    AccessDeniedError,
    CodecError,
    InvalidArgumentError,
    InvalidMetadataError,
    NodeExistsError,
    NodeNotFoundError,
    StorageError,
    UnsupportedDataTypeError,
    ZarrsError,
)
from zarrs_cffi.forksafe import module_lock
from zarrs_cffi.selection import normalize_selection
from zarrs_cffi.store_location import StoreLocation

if TYPE_CHECKING:
    from zarr.abc.store import Store
    from zarr.core.array import Array
    from zarr.core.array_spec import ArrayConfigParams, ArraySpec
    from zarr.core.metadata import ArrayMetadata

__all__ = ["ZarrBackend"]


def _zarr_installed() -> bool:
    try:
        return importlib.util.find_spec("zarr") is not None
    except (ImportError, ValueError):  # ValueError: sys.modules["zarr"] is None or has no spec
        return False


# Fail at import (which the registry reports with an install hint) rather than at first use, but
# without paying for importing zarr until an operation needs it. An older Python first gets the
# version it needs (pip would only find zarr-python 2 there, which this engine cannot use).
require_python("the 'zarr' engine")
if not _zarr_installed():
    raise ImportError("the 'zarr' engine needs zarr-python >= 3.1, which is not installed")

ZARR_JSON = "zarr.json"
ZARRAY = ".zarray"
ZGROUP = ".zgroup"
ZATTRS = ".zattrs"
_NODE_KEYS = (ZARR_JSON, ZARRAY, ZGROUP)


def _zarr_path(path: Any, *, new: bool = False) -> str:
    """A node path this engine can address: checked as the native engine checks it, and without
    ``\\``, which zarr-python reads as ``/`` (the node ``a\\b`` would be read and written as
    ``a/b``, another node, while its own files keep the name as given)."""
    path = check_new_node_path(path) if new else check_zarr_path(path)
    if "\\" in path:
        raise InvalidArgumentError(
            f"invalid node path {path!r}: the zarr engine cannot address a name with '\\' "
            "(zarr-python reads it as '/'); the cffi engine stores such names as they are"
        )
    return path


def _key(path: str, name: str) -> str:
    """The store key of ``name`` inside the node at ``path`` (``""`` is the root)."""
    return f"{path}/{name}" if path else name


def _sync(coro: Any) -> Any:
    from zarr.core.sync import sync

    try:
        return sync(coro)
    except Exception as exc:
        raise _typed_store_error(exc) from None


def _settled(method: Callable[..., Any]) -> Callable[..., Any]:
    """A write that fails has ended all its requests when it raises. zarr-python stores (and
    deletes) a write's chunks side by side (``asyncio.gather``): when one failed, the call raised
    while the others went on, and landed after the error, over what the caller wrote next (a
    delete reported failed went on deleting). The native engine waits for its uploads alike."""

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        before = _sync(_loop_tasks())
        try:
            return method(*args, **kwargs)
        except Exception:
            _sync(_tasks_ended(before))
            raise

    return call


async def _loop_tasks() -> set[asyncio.Task[Any]]:
    """The other tasks on zarr-python's event loop (run there)."""
    return asyncio.all_tasks() - {asyncio.current_task()}


# The longest a failed write waits for the tasks started meanwhile: zarr-python's loop is shared,
# so they may include another thread's work (never a hang on one that does not end).
_SETTLE_SECONDS = 60.0


async def _tasks_ended(before: set[asyncio.Task[Any]]) -> None:
    """Wait (on zarr-python's event loop) for the tasks started since ``before`` was taken."""
    started = await _loop_tasks() - before
    if started:
        await asyncio.wait(started, timeout=_SETTLE_SECONDS)


def _typed_store_error(exc: Exception) -> Exception:
    """obstore's exceptions (object stores) and the OSErrors of zarr's LocalStore (a node path
    through a file: NotADirectoryError, FileExistsError) as this package's typed errors; others
    unchanged."""
    if isinstance(exc, OSError) and not isinstance(exc, ZarrsError):
        kind = (
            NodeNotFoundError
            if isinstance(exc, FileNotFoundError)
            else AccessDeniedError
            if isinstance(exc, PermissionError)
            else StorageError
        )
        return kind(f"{type(exc).__name__}: {exc}")
    if not type(exc).__module__.startswith("obstore"):
        return exc
    name = type(exc).__name__
    if "PermissionDenied" in name or "Unauthenticated" in name:
        return AccessDeniedError(_obstore_message(exc))
    return StorageError(f"{name}: {_obstore_message(exc)}")


# A server's HTML error page quoted in a message (to its end, or to the message's end if cut).
_HTML_PAGE = re.compile(r"<(?:!doctype html|html)\b.*?(?:</html>|\Z)", re.IGNORECASE | re.DOTALL)


def _obstore_message(exc: Exception) -> str:
    """obstore's message without what only repeats it, as the native engine words it: the
    server's HTML error page and the debug dump of the Rust error after it."""
    text = str(exc).split("\n\nDebug source:", 1)[0]
    return _HTML_PAGE.sub("(the server's HTML page left out)", text).strip()


_Backend = TypeVar("_Backend", bound=type)


def _typed_store_errors(cls: _Backend) -> _Backend:
    """Make every public method of ``cls`` raise obstore's exceptions as this package's typed
    errors: zarr-python's own calls (``get_basic_selection``, building an ``ObjectStore``) raise them
    outside :func:`_sync` too."""
    for name, method in list(vars(cls).items()):
        if callable(method) and not name.startswith("_"):
            setattr(cls, name, _translating(method))
    return cls


def _translating(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except Exception as exc:
            typed = _typed_store_error(exc)
            if typed is exc:
                raise
            raise typed from None

    return call


def _to_buffer(data: bytes) -> Any:
    from zarr.core.buffer import default_buffer_prototype

    return default_buffer_prototype().buffer.from_bytes(data)


def _dump(doc: dict[str, Any], what: str) -> bytes:
    try:
        return json.dumps(doc, indent=2, allow_nan=False).encode()
    except (TypeError, ValueError, RecursionError) as err:  # RecursionError: nested too deep
        raise InvalidMetadataError(f"{what} is not JSON-serialisable: {err}") from err


@dataclass(frozen=True)
class _Root:
    """Where a CRUD call's store is, for zarr-python: a local directory or another location."""

    location: StoreLocation

    @property
    def path(self) -> pathlib.Path | None:
        return pathlib.Path(self.location.url) if self.location.local else None

    def exists(self) -> bool:
        """False only for a local directory that does not exist yet (object stores always exist)."""
        return self.path is None or self.path.is_dir()

    def is_file(self, key: str) -> bool:
        return self.path is not None and (self.path / key).is_file()

    def __str__(self) -> str:
        return self.location.url


def _resolve(store: StoreLike) -> _Root:
    location = resolve_location(store)
    location.check_options_apply()  # as the native engine: ignored options would hide a mistake
    return _Root(location)


def _read_store(root: _Root) -> Store:
    """A store to read from. An absent root holds nothing; an empty MemoryStore says so without
    creating the directory (a writable LocalStore would) or failing (a read-only one would)."""
    from zarr.storage import LocalStore, MemoryStore

    if root.path is None:
        return _zarr_store(root.location, read_only=True)
    if root.exists():
        return LocalStore(root.path, read_only=True)
    return MemoryStore(read_only=True)


def _write_store(root: _Root) -> Store:
    from zarr.storage import LocalStore

    if root.path is None:
        return _zarr_store(root.location, read_only=False)
    return LocalStore(root.path)


def _get(store: Store, key: str) -> bytes | None:
    from zarr.core.buffer import default_buffer_prototype

    try:
        buf = _sync(store.get(key, prototype=default_buffer_prototype()))
    except ZarrsError:
        raise
    except Exception as exc:  # e.g. a ZipStore's zlib.error for a damaged member
        raise _store_error(exc) from None
    return None if buf is None else bytes(buf.to_bytes())


def _load_json(store: Store, key: str) -> dict[str, Any] | None:
    raw = _get(store, key)
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
    except ValueError as err:
        raise InvalidMetadataError(f"{key} is not valid JSON: {err}") from err
    if not isinstance(doc, dict):
        raise InvalidMetadataError(f"{key} does not hold a JSON object")
    return doc


def _read_node_doc(store: Store, path: str) -> dict[str, Any] | None:
    """The node's metadata document (v3 first, then v2 array, then v2 group), or None."""
    doc = _load_json(store, _key(path, ZARR_JSON))
    if doc is not None:
        return doc
    for name in (ZARRAY, ZGROUP):
        doc = _load_json(store, _key(path, name))
        if doc is not None:
            attrs = _load_json(store, _key(path, ZATTRS))
            if attrs is not None:
                doc["attributes"] = attrs
            return doc
    return None


def _existing_node_key(store: Store, path: str) -> str | None:
    for name in _NODE_KEYS:
        key = _key(path, name)
        if _sync(store.exists(key)):
            return key
    return None


def _array_above(store: Store, path: str) -> str | None:
    """The path of an array above ``path`` ("" is the root), if there is one. Only groups have
    children: a node below an array would sit among its chunk keys (zarr-python refuses it too)."""
    parts = path.split("/") if path else []
    for depth in range(len(parts)):
        ancestor = "/".join(parts[:depth])
        raw = _get(store, _key(ancestor, ZARR_JSON))
        if raw is not None:
            try:
                is_array = json.loads(raw).get("node_type") == "array"
            except (ValueError, AttributeError):  # not a JSON object: not a node this can tell
                is_array = False
            if is_array:
                return ancestor
        elif _sync(store.exists(_key(ancestor, ZARRAY))):
            return ancestor
    return None


def _validate_group_doc(doc: dict[str, Any]) -> None:
    from zarr.core.group import GroupMetadata

    fmt = doc.get("zarr_format")
    if type(fmt) is not int or fmt not in (2, 3):  # (zarr-python would write 3.0, or none at all)
        raise InvalidMetadataError(f"a group document needs zarr_format 2 or 3, got {fmt!r}")
    if not isinstance(doc.get("attributes", {}), dict):  # (zarr-python writes them, then cannot read them)
        raise InvalidMetadataError(
            f"group attributes must be a JSON object, got {type(doc['attributes']).__name__}"
        )
    if fmt == 3 and doc.get("node_type") != "group":
        raise InvalidMetadataError(
            f"a v3 group document needs node_type 'group', got {doc.get('node_type')!r}"
        )
    if fmt == 2 and "shape" in doc:
        raise InvalidMetadataError("a v2 group document must not have a 'shape' (that is an array)")
    try:
        GroupMetadata.from_dict(copy.deepcopy(doc))
    except Exception as err:  # zarr raises several types (ValueError, TypeError, ...)
        raise InvalidMetadataError(f"invalid group metadata: {err}") from err


def _refuse_what_zarr_fails_on_later(doc: dict[str, Any]) -> None:
    """zarr-python parses a chunk shape holding 0 (then raises ZeroDivisionError on every read and
    write) and attributes that are not an object; the native engine refuses both, and so does this one."""
    grid = doc.get("chunk_grid")
    configuration = grid.get("configuration") if isinstance(grid, dict) else None
    chunks = configuration.get("chunk_shape") if isinstance(configuration, dict) else doc.get("chunks")
    if isinstance(chunks, list) and not all(type(n) is int and n >= 1 for n in chunks):
        raise InvalidMetadataError(
            f"invalid array metadata: chunk shape {chunks} must hold integers of at least 1"
        )
    if "attributes" in doc and not isinstance(doc["attributes"], dict):
        raise InvalidMetadataError("invalid array metadata: attributes must be an object")


_WRITE_LOCKS: dict[str, threading.RLock] = {}


def _fresh_write_locks() -> None:
    # A forked child: locks held by the parent's threads would stay held for ever here.
    global _WRITE_LOCKS, _WRITE_LOCKS_GUARD
    _WRITE_LOCKS, _WRITE_LOCKS_GUARD = {}, threading.Lock()


_WRITE_LOCKS_GUARD = module_lock(_fresh_write_locks)


def _write_lock(array: Any) -> threading.RLock:
    """The lock of region writes to ``array`` (by its store and path) in this process; reentrant,
    so that a read-modify-write holding it (``ZarrBackend.write_lock``) writes regions under it."""
    from zarr.storage import LocalStore

    store = array.store_path.store
    store = getattr(store, "_store", store)  # (wrapped by _typed_store_reads)
    if type(store) is LocalStore:  # one directory, one lock, however its path is spelled
        key = "file://" + os.path.join(os.path.realpath(store.root), array.store_path.path)
    else:
        key = f"{store}/{array.store_path.path}"
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(key, threading.RLock())


def _parse_array_doc(doc: dict[str, Any]) -> ArrayMetadata:
    from zarr.core.array import parse_array_metadata
    from zarr.core.codec_pipeline import codecs_from_list

    fmt = doc.get("zarr_format")
    _refuse_what_zarr_fails_on_later(doc)
    if (fmt == 3 and doc.get("node_type") == "group") or (
        fmt == 2 and "shape" not in doc and "dtype" not in doc
    ):
        raise InvalidMetadataError("invalid array metadata: the node is a group, not an array")
    try:
        metadata = parse_array_metadata(copy.deepcopy(doc))
        codecs = getattr(metadata, "codecs", None)  # v3 only
        if codecs is not None:
            # zarr checks the codec order only when an array's pipeline is built (a TypeError then,
            # on every read): checked here, as the native engine checks it.
            codecs_from_list(list(codecs))
        return metadata
    except Exception as err:  # zarr raises several types (ValueError, KeyError, TypeError, ...)
        name = _unknown_data_type(doc)
        if name is not None:  # as the native engine reports a data type it lacks
            raise UnsupportedDataTypeError(
                f"data type {name!r} is not supported by zarr-python: {err}"
            ) from err
        raise InvalidMetadataError(f"invalid array metadata: {err}") from err


def _unknown_data_type(doc: dict[str, Any]) -> str | None:
    """The name of ``doc``'s data type if it is well-formed (a name, or a ``{"name": ...}`` object) but
    zarr-python has no data type by that name (``"nope"``, ``"<x8"``); else None: a known type, or an
    entry too malformed to name one (invalid metadata, as on the native engine)."""
    from zarr.core.dtype import get_data_type_from_json
    from zarr.core.metadata.v2 import get_object_codec_id

    fmt = doc.get("zarr_format")
    spec: Any
    if fmt == 3:
        spec = doc.get("data_type")
        name = spec.get("name") if isinstance(spec, dict) else spec
    elif fmt == 2:
        name = doc.get("dtype")
        # zarr-python resolves a v2 object dtype by the object codec among the filters/compressor.
        codecs = [*(doc.get("filters") or []), doc.get("compressor")]
        spec = {"name": name, "object_codec_id": get_object_codec_id(codecs)}
    else:
        return None
    if not isinstance(name, str):
        return None
    try:
        get_data_type_from_json(spec, zarr_format=fmt)
    except ValueError:  # "No Zarr data type found that matches ..."
        return name
    except Exception:  # malformed in some other way: left to the metadata error
        return None
    return None


def _node_files(doc: dict[str, Any], node: str) -> dict[str, bytes]:
    """The files holding a node's document, keyed by file name (v2 splits attributes out)."""
    if doc.get("zarr_format") == 2:
        body = {k: v for k, v in doc.items() if k != "attributes"}
        files = {node: _dump(body, node)}
        if "attributes" in doc:
            files[ZATTRS] = _dump(doc["attributes"], ZATTRS)
        return files
    return {ZARR_JSON: _dump(doc, ZARR_JSON)}


@dataclass(frozen=True)
class _OpenArray:
    """An array opened from its metadata document, plus what chunk routines need."""

    array: Array[Any]
    metadata: ArrayMetadata
    store: Store
    path: str
    spec: ArraySpec
    grid_shape: tuple[int, ...]
    dtype: np.dtype[Any]  # native-endian
    fill: Any

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.metadata.shape)

    def chunk_key(self, coords: tuple[int, ...]) -> str:
        return _key(self.path, self.metadata.encode_chunk_key(coords))


def _open_array(metadata: Any, store: StoreLike, path: str, *, write: bool) -> _OpenArray:
    """Resolve the store and path, parse the metadata and build a zarr array over them (no I/O)."""
    from zarr.core.array import Array, AsyncArray
    from zarr.core.codec_pipeline import fill_value_or_default
    from zarr.core.metadata import ArrayV2Metadata
    from zarr.storage import StorePath

    from zarrs_cffi.zarr_compat import chunk_spec as chunk_spec_of

    root = _resolve(store)
    path = _zarr_path(path)
    if write:
        require_writable(store)
    md = _parse_array_doc(check_metadata_doc(metadata))
    zstore = _write_store(root) if write else _read_store(root)
    dtype = native_dtype(np.dtype(md.dtype.to_native_dtype()))
    store_path = StorePath(_typed_store_reads(zstore), path)
    # All-fill chunks are never stored (the contract; zarrs does the same).
    config_in: ArrayConfigParams = {"write_empty_chunks": False}
    async_array: AsyncArray[Any]
    if isinstance(md, ArrayV2Metadata):  # two branches only to please the overloads
        async_array = AsyncArray(md, store_path, config=config_in)
    else:
        async_array = AsyncArray(md, store_path, config=config_in)

    def chunk_spec() -> ArraySpec:
        config = async_array.config
        if md.zarr_format == 2:  # v2 chunks have their own memory order (as zarr's _get_selection does)
            config = replace(config, order=md.order)
        return chunk_spec_of(md, config)

    spec = chunk_spec()
    fill = np.asarray(fill_value_or_default(spec), dtype=dtype)
    if dtype.kind == "c" and not np.isnan(fill) and (fill.real == 0 or fill.imag == 0):
        # zarr-python tells a complex chunk equal to the fill value with ``==`` (for real floats it
        # compares bits), so a chunk holding -0.0 where the fill has 0.0 would be dropped and the
        # sign lost. Have it write every chunk; write_region drops the fill ones itself (bit-exact,
        # see _drop_fill_chunks). Inside shards, inner chunks equal to the fill are then stored too.
        async_array = async_array.with_config({"write_empty_chunks": True})
        spec = chunk_spec()
    grid = tuple(-(-n // c) if c else 0 for n, c in zip(md.shape, spec.shape, strict=True))
    return _OpenArray(Array(async_array), md, zstore, path, spec, grid, dtype, fill)


def _decode_chunk(arr: _OpenArray, coords: tuple[int, ...]) -> NDArray[Any] | None:
    """The stored chunk decoded to a new native-endian C-order array, or None if it is not stored."""
    raw = _get(arr.store, arr.chunk_key(coords))
    if raw is None:
        return None
    try:
        (decoded,) = _sync(arr.array.async_array.codec_pipeline.decode([(_to_buffer(raw), arr.spec)]))
    except Exception as err:  # numcodecs and zarr codecs raise many types for bad bytes
        raise CodecError(f"cannot decode chunk {coords} of {arr.path!r}: {err}") from err
    result = np.empty(arr.spec.shape, dtype=arr.dtype)
    if decoded is None:
        result[...] = arr.fill
    else:
        result[...] = decoded.as_numpy_array()  # byte order and memory order fixed on copy
    return result


@contextmanager
def _codec_errors(arr: _OpenArray) -> Iterator[None]:
    """What a region read or write through zarr-python raises besides the store's errors (typed
    by :func:`_typed_store_reads`) as CodecError, as the native engine raises it: codecs raise
    many types for damaged data (zstd's RuntimeError, a checksum's ValueError, gzip's and bz2's
    OSError without an errno)."""
    from zarr.core.sync import SyncError

    try:
        yield
    except (ZarrsError, MemoryError, SyncError):  # (SyncError: sync() called from zarr's own loop)
        raise
    except Exception as err:
        raise CodecError(f"a chunk of {arr.path!r} cannot be decoded or encoded: {err}") from err


def _store_error(exc: Exception) -> Exception:
    """Any failure of a zarr store's request as this package's typed store error."""
    typed = _typed_store_error(exc)
    if isinstance(typed, ZarrsError):
        return typed
    # (e.g. ZipStore's zlib.error or BadZipFile for a damaged member: the native engine's
    # StorageError too)
    return StorageError(f"{type(exc).__name__}: {exc}")


async def _typed_request(request: Any) -> Any:
    """The store request's result, or its failure as a typed store error (:func:`_store_error`)."""
    try:
        return await request
    except Exception as exc:
        raise _store_error(exc) from exc


def _typed_store_reads(store: Store) -> Store:
    """``store`` raising typed store errors from its requests, so that :func:`_codec_errors`
    tells them from the codecs' failures by type."""
    return _typed_store_class()(store)


@functools.cache
def _typed_store_class() -> Callable[[Store], Store]:
    from zarr.abc.store import Store as ZarrStore
    from zarr.storage import WrapperStore

    class TypedStoreErrors(WrapperStore[ZarrStore]):
        async def get(self, *args: Any, **kwargs: Any) -> Any:
            return await _typed_request(self._store.get(*args, **kwargs))

        async def get_partial_values(self, *args: Any, **kwargs: Any) -> Any:
            return await _typed_request(self._store.get_partial_values(*args, **kwargs))

        async def set(self, *args: Any, **kwargs: Any) -> None:
            await _typed_request(self._store.set(*args, **kwargs))

        async def delete(self, *args: Any, **kwargs: Any) -> None:
            await _typed_request(self._store.delete(*args, **kwargs))

    return TypedStoreErrors


def _drop_fill_chunks(arr: _OpenArray, coords_list: list[tuple[int, ...]]) -> None:
    """Delete the chunks among ``coords_list`` that equal the fill value (by the contract's rule)."""
    for coords in coords_list:
        chunk = _decode_chunk(arr, coords)
        if chunk is not None and is_fill_chunk(chunk, arr.fill):
            _sync(arr.store.delete(arr.chunk_key(coords)))


@_typed_store_errors
class ZarrBackend(CrudBackend):
    """The CRUD contract on zarr-python 3 (the ``"zarr"`` engine; the oracle for the native one).

    >>> ZarrBackend().name
    'zarr'
    """

    name = "zarr"

    def __repr__(self) -> str:
        return "ZarrBackend()"

    # --- node lifecycle ---------------------------------------------------------------------------
    def _create(self, metadata: Any, store: StoreLike, path: str, *, overwrite: bool, group: bool) -> None:
        root = _resolve(store)
        path = _zarr_path(path, new=True)
        require_writable(store)
        doc = check_metadata_doc(metadata)
        if group:
            _validate_group_doc(doc)
        else:
            _parse_array_doc(doc)
        node_file = ZGROUP if group else ZARRAY
        files = _node_files(doc, node_file)  # serialise before touching the store
        array = _array_above(_read_store(root), path)
        if array is not None:
            raise NodeExistsError(
                f"cannot create {path!r}: the array {array!r} is above it, and only groups have children"
            )
        zstore = _write_store(root)
        if overwrite:
            self._erase(zstore, root, path)
        else:
            existing = _existing_node_key(_read_store(root), path)
            if existing is not None:
                raise NodeExistsError(f"a node already exists at {path!r} ({existing})")
        for name, data in files.items():
            _sync(zstore.set(_key(path, name), _to_buffer(data)))

    @staticmethod
    def _erase(zstore: Store, root: _Root, path: str) -> None:
        """Remove everything under ``path`` (for the root: its contents, keeping the directory)."""
        if not root.exists():
            return
        if path:
            if root.is_file(path):
                _sync(zstore.delete(path))
            else:
                _sync(zstore.delete_dir(path))
            return

        async def entries() -> list[str]:
            return [name async for name in zstore.list_dir("")]

        for name in _sync(entries()):
            _sync(zstore.delete(name))  # LocalStore.delete removes directories too
            if root.path is None:
                _sync(zstore.delete_dir(name))  # object stores: a "directory" is a key prefix

    @_settled
    def create_group(self, metadata: MetadataDoc, store: StoreLike, path: str, *, overwrite: bool) -> None:
        """Implements :meth:`CrudBackend.create_group` with zarr-python."""
        self._create(metadata, store, path, overwrite=overwrite, group=True)

    @_settled
    def create_array(self, metadata: MetadataDoc, store: StoreLike, path: str, *, overwrite: bool) -> None:
        """Implements :meth:`CrudBackend.create_array` with zarr-python."""
        self._create(metadata, store, path, overwrite=overwrite, group=False)

    def read_metadata(self, store: StoreLike, path: str) -> MetadataDoc:
        """Implements :meth:`CrudBackend.read_metadata` with zarr-python."""
        root = _resolve(store)
        path = _zarr_path(path)
        doc = _read_node_doc(_read_store(root), path)
        if doc is None:
            raise NodeNotFoundError(f"no array or group at {path!r} in {root}")
        return doc

    @_settled
    def delete_node(self, store: StoreLike, path: str) -> None:
        """Implements :meth:`CrudBackend.delete_node` with zarr-python."""
        root = _resolve(store)
        path = _zarr_path(path)
        require_writable(store)
        if _existing_node_key(_read_store(root), path) is None:
            raise NodeNotFoundError(f"no array or group at {path!r} in {root}")
        self._erase(_write_store(root), root, path)

    def list_children(self, store: StoreLike, path: str) -> list[tuple[str, MetadataDoc]]:
        """Implements :meth:`CrudBackend.list_children` with zarr-python."""
        root = _resolve(store)
        path = _zarr_path(path)
        zstore = _read_store(root)
        doc = _read_node_doc(zstore, path)
        if doc is None:
            raise NodeNotFoundError(f"no group at {path!r} in {root}")
        if doc.get("node_type", "array" if "shape" in doc else "group") != "group":
            raise NodeNotFoundError(f"no group at {path!r} in {root} (it is an array)")

        async def names() -> list[str]:
            return [name async for name in zstore.list_dir(path)]

        children: list[tuple[str, MetadataDoc]] = []
        for name in _sync(names()):
            child = _key(path, name)
            child_doc = _read_node_doc(zstore, child)
            if child_doc is not None:  # a directory without node metadata is not a node
                children.append((child, child_doc))
        return sorted(children, key=lambda item: item[0])

    # --- chunk I/O --------------------------------------------------------------------------------
    def read_chunk(
        self, metadata: MetadataDoc, store: StoreLike, path: str, chunk_coords: ChunkCoords
    ) -> NDArray[Any]:
        """Implements :meth:`CrudBackend.read_chunk` with zarr-python."""
        arr = _open_array(metadata, store, path, write=False)
        coords = check_chunk_coords(chunk_coords, arr.grid_shape)
        result = _decode_chunk(arr, coords)
        if result is None:
            result = np.empty(arr.spec.shape, dtype=arr.dtype)
            result[...] = arr.fill
        return result

    def read_encoded_chunk(
        self, metadata: MetadataDoc, store: StoreLike, path: str, chunk_coords: ChunkCoords
    ) -> bytes | None:
        """Implements :meth:`CrudBackend.read_encoded_chunk` with zarr-python."""
        arr = _open_array(metadata, store, path, write=False)
        coords = check_chunk_coords(chunk_coords, arr.grid_shape)
        return _get(arr.store, arr.chunk_key(coords))

    @_settled
    def write_chunk(
        self,
        metadata: MetadataDoc,
        store: StoreLike,
        path: str,
        chunk_coords: ChunkCoords,
        value: Any,
    ) -> None:
        """Implements :meth:`CrudBackend.write_chunk` with zarr-python."""
        from zarr.core.buffer import default_buffer_prototype

        arr = _open_array(metadata, store, path, write=True)
        coords = check_chunk_coords(chunk_coords, arr.grid_shape)
        chunk = fill_beyond_edge(
            chunk_value(value, arr.dtype, tuple(arr.spec.shape)), coords, arr.shape, arr.fill
        )
        key = arr.chunk_key(coords)
        # Under the array's write lock: a read-modify-write holding it (write_lock()) must not have
        # this chunk replaced between its read and its write.
        with _write_lock(arr.array):
            if is_fill_chunk(chunk, arr.fill):
                _sync(arr.store.delete(key))
                return
            nd = default_buffer_prototype().nd_buffer.from_numpy_array(chunk)
            (encoded,) = _sync(arr.array.async_array.codec_pipeline.encode([(nd, arr.spec)]))
            if encoded is None:
                _sync(arr.store.delete(key))
            else:
                _sync(arr.store.set(key, encoded))

    @_settled
    def delete_chunk(
        self, metadata: MetadataDoc, store: StoreLike, path: str, chunk_coords: ChunkCoords
    ) -> None:
        """Implements :meth:`CrudBackend.delete_chunk` with zarr-python."""
        root = _resolve(store)
        arr = _open_array(metadata, store, path, write=True)
        coords = check_chunk_coords(chunk_coords, arr.grid_shape)
        if root.exists():  # nothing stored otherwise; don't create the directory
            with _write_lock(arr.array):  # (as write_chunk)
                _sync(arr.store.delete(arr.chunk_key(coords)))

    # --- region I/O -------------------------------------------------------------------------------
    def read_region(
        self,
        metadata: MetadataDoc,
        store: StoreLike,
        path: str,
        selection: Any,
        out: np.ndarray[Any, Any] | None = None,
    ) -> NDArray[Any]:
        """Implements :meth:`CrudBackend.read_region` with zarr-python."""
        arr = _open_array(metadata, store, path, write=False)
        sel = normalize_selection(selection, arr.shape)
        if out is not None:
            result = check_out_buffer(out, arr.dtype, sel.out_shape)
        else:
            result = np.empty(sel.out_shape, dtype=arr.dtype)
        if sel.is_empty:
            return result
        # Read the step-1 bounding box with zarr, then stride/reverse/drop axes as a numpy view.
        box_selection = tuple(slice(b, b + n) for b, n in zip(sel.start, sel.shape, strict=True))
        with _codec_errors(arr):
            box = np.asarray(arr.array.get_basic_selection(box_selection)).reshape(sel.shape)
        np.copyto(result, sel.from_box(box))
        return result

    def write_lock(self, metadata: MetadataDoc, store: StoreLike, path: str) -> threading.RLock:
        """The lock this engine's region writes of the array take: held, several reads and writes
        (a read-modify-write) run with no other thread's write of the array in between."""
        return _write_lock(_open_array(metadata, store, path, write=True).array)

    @_settled
    def write_region(
        self, metadata: MetadataDoc, store: StoreLike, path: str, selection: Any, value: Any
    ) -> None:
        """Implements :meth:`CrudBackend.write_region` with zarr-python."""
        arr = _open_array(metadata, store, path, write=True)
        sel = normalize_selection(selection, arr.shape)
        data = region_value(value, arr.dtype, sel.out_shape)
        if sel.is_empty:
            return
        # zarr takes positive steps only: select the same elements in ascending order, and flip
        # the value along the axes that were selected descending.
        index: list[int | slice] = []
        flip: list[int] = []
        for start, size, step, dropped in zip(sel.start, sel.shape, sel.step, sel.dropped, strict=True):
            if dropped:
                index.append(start)
                continue
            if step < 0:
                flip.append(len(index) - sum(isinstance(i, int) for i in index))
            index.append(slice(start, start + size, abs(step)))
        if flip:
            data = np.flip(data, axis=tuple(flip))
        # zarr-python reads, modifies and stores a partly written chunk without a lock: two threads
        # writing their own parts of one chunk would lose one's update. One write per array at a
        # time in this process, as the native engine's writes of one array run.
        with _write_lock(arr.array), _codec_errors(arr):
            arr.array.set_basic_selection(tuple(index), np.array(data, order="C"))  # 0-d stays 0-d
            if arr.array.async_array.config.write_empty_chunks:
                _drop_fill_chunks(arr, touched_chunks(sel.start, sel.step, sel.count, arr.spec.shape))
