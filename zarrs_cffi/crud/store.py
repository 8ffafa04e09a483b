"""Stores and paths for the CRUD layer: what a store argument may be, and what a node path may look like.

Every engine works on a local directory, so a store is reduced to its absolute root directory here,
once, before anything is read or written. zarr-python is never imported by this module: a
``zarr.storage.LocalStore`` is recognised by duck typing, so ``import zarrs_cffi.crud`` works without it.

>>> resolve_local_root("/tmp/data.zarr").as_posix()
'/tmp/data.zarr'
>>> zarr_path_to_node("a/b")
'/a/b'
"""

from __future__ import annotations

import os
import pathlib
import sys
from typing import Any

from zarrs_cffi.errors import InvalidArgumentError, InvalidStoreError, ReadOnlyError, UnsupportedStoreError
from zarrs_cffi.metadata import METADATA_NAMES
from zarrs_cffi.selection import type_name

__all__ = [
    "check_zarr_path",
    "is_read_only",
    "require_writable",
    "resolve_local_root",
    "resolve_location",
    "zarr_path_to_node",
]

_FILE_SCHEME = "file://"


def _is_zarr_local_store(store: object) -> bool:
    """True for a ``zarr.storage.LocalStore`` (or subclass), without importing zarr."""
    zarr_storage = sys.modules.get("zarr.storage")
    local_store = getattr(zarr_storage, "LocalStore", None) if zarr_storage is not None else None
    if isinstance(local_store, type) and isinstance(store, local_store):
        return True
    # zarr not imported (or an unusual import path): recognise it by name and its ``root``.
    return any(cls.__name__ == "LocalStore" for cls in type(store).__mro__) and isinstance(
        getattr(store, "root", None), (str, os.PathLike)
    )


def _is_own_store(store: object) -> bool:
    """True for this package's own filesystem handle, :class:`zarrs_cffi.store.Store`."""
    own = getattr(sys.modules.get("zarrs_cffi.store"), "Store", None)
    return isinstance(own, type) and isinstance(store, own)


def resolve_local_root(store: object) -> pathlib.Path:
    """Return the absolute root directory of ``store``.

    Accepts a ``str`` (a plain path or a ``file://`` URL), an ``os.PathLike[str]``, a
    ``zarr.storage.LocalStore`` or a :class:`zarrs_cffi.store.Store`. Anything else (a dict, a
    MemoryStore, an ``s3://`` URL, a bytes path) raises
    :class:`~zarrs_cffi.errors.UnsupportedStoreError` naming the type: the engines only read and write
    local directories, and a half-working call on another store would be worse than none.

    >>> resolve_local_root("file:///data/x.zarr").as_posix()
    '/data/x.zarr'
    >>> resolve_local_root({})
    Traceback (most recent call last):
    ...
    zarrs_cffi.errors.UnsupportedStoreError: unsupported store of type dict: ...
    """
    hint = "expected a local directory path (str or os.PathLike[str]) or a zarr.storage.LocalStore"
    if isinstance(store, str):
        raw = store
        if raw.startswith(_FILE_SCHEME):
            raw = raw[len(_FILE_SCHEME) :]
        elif "://" in raw:
            raise UnsupportedStoreError(f"unsupported store URL {store!r}: {hint}")
        if not raw:
            raise UnsupportedStoreError(f"unsupported store: empty path; {hint}")
        return pathlib.Path(raw).absolute()
    if _is_zarr_local_store(store) or _is_own_store(store):
        return pathlib.Path(os.fspath(store.root)).absolute()  # type: ignore[attr-defined]
    if isinstance(store, os.PathLike):
        raw_path = os.fspath(store)
        if isinstance(raw_path, str):
            return pathlib.Path(raw_path).absolute()
    raise UnsupportedStoreError(f"unsupported store of type {type_name(store)}: {hint}")


def resolve_location(store: object) -> Any:
    """The :class:`~zarrs_cffi.store_location.StoreLocation` of ``store``: a path or URL (local
    directories, ``zip://``, ``memory://``, ``s3://``, ``gs://``, ``az://``, ``http(s)://``), a
    :class:`zarrs_cffi.store.Store`, or a zarr ``LocalStore``, ``ZipStore``, ``ObjectStore`` or
    ``FsspecStore``. Anything else (a dict, a zarr ``MemoryStore``, bytes, an empty path) raises
    :class:`~zarrs_cffi.errors.UnsupportedStoreError` naming the type.

    >>> resolve_location("s3://bucket/x.zarr").url
    's3://bucket/x.zarr'
    >>> resolve_location({})
    Traceback (most recent call last):
    ...
    zarrs_cffi.errors.UnsupportedStoreError: unsupported store of type dict: ...
    """
    from zarrs_cffi.store_location import StoreLocation, locate

    if isinstance(store, StoreLocation):
        return store
    hint = "expected a path or store URL (str or os.PathLike[str]), a zarrs_cffi.Store or a zarr store"
    if isinstance(store, str) and not store:
        raise UnsupportedStoreError(f"unsupported store: empty path; {hint}")
    if not isinstance(store, (str, os.PathLike)) and not type(store).__name__.endswith("Store"):
        raise UnsupportedStoreError(f"unsupported store of type {type_name(store)}: {hint}")
    try:
        return locate(store)
    except InvalidArgumentError as exc:
        raise InvalidStoreError(f"unsupported store {store!r}: {exc}") from None


def is_read_only(store: object) -> bool:
    """True if ``store`` cannot be written: a zarr store opened read-only, a zip file or an HTTP
    server (plain paths are never read-only here)."""
    if bool(getattr(store, "read_only", False)) and _is_zarr_local_store(store):
        return True
    try:
        return bool(resolve_location(store).read_only)
    except UnsupportedStoreError:
        return False


def require_writable(store: object) -> None:
    """Raise :class:`~zarrs_cffi.errors.ReadOnlyError` (a PermissionError) if ``store`` cannot be
    written, saying why: opened read-only, a zip file (a zarr-python ``ZipStore`` opened for writing
    too), an HTTP server.

    A ``LocalStore(root, read_only=True)`` is reduced to its root directory, which the native side
    could write to; this check keeps the store's read-only promise.
    """
    if is_read_only(store):
        raise ReadOnlyError(f"cannot write to the store {store!r}: {_read_only_reason(store)}")


def _read_only_reason(store: object) -> str:
    try:
        return str(resolve_location(store).read_only_reason)
    except UnsupportedStoreError:
        return "it was opened read-only"


def check_zarr_path(path: Any) -> str:
    """Validate a zarr-style node path and return it.

    ``""`` is the root, ``"a/b"`` a descendant. Rejected with
    :class:`~zarrs_cffi.errors.InvalidArgumentError` (a ValueError): a leading or trailing ``/``,
    empty, ``.`` or ``..`` segments, NUL characters, and a non-``str`` path (as ``open_array`` rejects a
    non-``str`` node).

    >>> check_zarr_path("a/b")
    'a/b'
    >>> check_zarr_path("/a")
    Traceback (most recent call last):
    ...
    zarrs_cffi.errors.InvalidArgumentError: invalid node path '/a': ...
    """
    if not isinstance(path, str):
        raise InvalidArgumentError(f"a node path must be a str, got {type_name(path)}")
    if path == "":
        return path
    problem: str | None = None
    if "\x00" in path:
        problem = "it contains a NUL character"
    elif path.startswith("/"):
        problem = 'it starts with "/" (zarr paths are store-relative; use "" for the root)'
    elif path.endswith("/"):
        problem = 'it ends with "/"'
    else:
        for segment in path.split("/"):
            if segment == "":
                problem = 'it has an empty segment ("//")'
                break
            if segment in (".", ".."):
                problem = f'it has a "{segment}" segment'
                break
            if segment in METADATA_NAMES:
                problem = f'a node cannot be named "{segment}" (a metadata key)'
                break
    if problem is not None:
        raise InvalidArgumentError(f"invalid node path {path!r}: {problem}")
    return path


def check_new_node_path(path: Any) -> str:
    """:func:`check_zarr_path` for a node to be created: also no name of dots only ("...", which
    the Zarr v3 spec forbids and zarrs refuses). Such nodes another writer made are still listed,
    read and deleted by the zarr engine."""
    path = check_zarr_path(path)
    dots = [segment for segment in path.split("/") if segment and set(segment) == {"."}]
    if dots:
        raise InvalidArgumentError(
            f'invalid node path {path!r}: a node cannot be named "{dots[0]}" (dots only)'
        )
    return path


def zarr_path_to_node(path: str) -> str:
    """Convert a zarr path to a zarrs node path: ``""`` -> ``"/"``, ``"a/b"`` -> ``"/a/b"``.

    >>> zarr_path_to_node("")
    '/'
    """
    return "/" + check_zarr_path(path)
