"""The lazily indexed arrays behind the xarray backend's variables.

:class:`NativeBackendArray` reads through the native library: each ``__getitem__`` is one
native read into a buffer it allocates (outer indexing reads the bounding box, then picks).
:class:`ZarrPythonBackendArray` serves the data types the C API cannot return (strings), through
zarr-python. Both pickle by location (root, node, metadata), never with a live handle, and reopen
lazily in the process that unpickles them (a dask worker).
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from xarray.backends.common import BackendArray
from xarray.core import indexing

from .array import Array
from .dtypes import V3_NAME_BY_NUMPY
from .errors import UnsupportedDataTypeError
from .forksafe import object_lock
from .store import Store
from .store_location import StoreLocation

# Zarr data types (v3 names, v2 numpy kinds) the C API cannot return but zarr-python reads:
# xarray's strings. Everything else neither reads natively nor here raises UnsupportedDataTypeError.
STRING_V3_TYPES = frozenset(
    {"string", "fixed_length_utf32", "null_terminated_bytes", "variable_length_bytes", "bytes"}
)
STRING_V2_KINDS = frozenset("SUO")
_TIME_V3_TYPES = {"numpy.datetime64": "M", "numpy.timedelta64": "m"}
_NAT = -(2**63)


def native_plan(document: dict[str, Any]) -> tuple[dict[str, Any], np.dtype | None] | None:
    """(document to open natively, dtype to view the result as, or None) for an array the native
    library can read, else None. Datetimes and timedeltas are stored as int64 counts, so they are
    read as int64 and viewed as ``datetime64``/``timedelta64`` of the stored unit."""
    if document.get("zarr_format") == 2:
        try:
            dtype = np.dtype(document["dtype"])
        except (TypeError, ValueError, KeyError):
            return None
        if dtype.kind in "Mm":
            unit, count = np.datetime_data(dtype)
            view = np.dtype(f"{dtype.kind}8[{count if count != 1 else ''}{unit}]")
            stored = f"{dtype.byteorder if dtype.byteorder != '=' else '<'}i8"
            # No fill value: zarr-python reads chunks never written as NaT (as int64, 0: the epoch).
            fill = document.get("fill_value")
            fill = _NAT if fill in (None, "NaT") else fill
            return {**document, "dtype": stored, "fill_value": fill}, view
        native = dtype.newbyteorder("=") if dtype.kind in "biufc" else None
        if native not in V3_NAME_BY_NUMPY:
            return None
        if dtype.kind == "c" and document.get("fill_value") is None:
            # zarrs rejects a null complex fill value (every other type reads missing chunks as 0);
            # zeros are what a missing chunk holds either way.
            return {**document, "fill_value": [0.0, 0.0]}, None
        return document, None
    data_type = document.get("data_type")
    if isinstance(data_type, str):
        return (document, None) if data_type in V3_NAME_BY_NUMPY.values() else None
    if isinstance(data_type, dict) and data_type.get("name") in _TIME_V3_TYPES:
        config = data_type.get("configuration") or {}
        scale = int(config.get("scale_factor", 1))
        view = np.dtype(
            f"{_TIME_V3_TYPES[data_type['name']]}8[{scale if scale != 1 else ''}{config['unit']}]"
        )
        fill = document.get("fill_value")
        fill = _NAT if fill in (None, "NaT") else fill
        return {**document, "data_type": "int64", "fill_value": fill}, view
    return None


def uses_zarr_python(document: dict[str, Any]) -> bool:
    """True for the string data types served through zarr-python."""
    if document.get("zarr_format") == 2:
        return isinstance(document.get("dtype"), str) and document["dtype"][1:2] in STRING_V2_KINDS
    data_type = document.get("data_type")
    name = data_type.get("name") if isinstance(data_type, dict) else data_type
    return name in STRING_V3_TYPES


def describe_data_type(document: dict[str, Any]) -> str:
    """The stored data type, as the metadata spells it (for error messages)."""
    return str(document.get("dtype") if document.get("zarr_format") == 2 else document.get("data_type"))


class _ThreadedBackendArray(BackendArray):
    """A backend array whose asynchronous reads (xarray's ``load_async``) run ``__getitem__`` in
    a worker thread, letting other coroutines run meanwhile."""

    def __getitem__(self, key: indexing.ExplicitIndexer) -> Any:
        raise NotImplementedError  # each subclass reads its own way

    async def async_getitem(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        """As ``__getitem__``, for xarray's asynchronous loading (the read runs in a worker thread)."""
        return await asyncio.to_thread(self.__getitem__, key)


class NativeBackendArray(_ThreadedBackendArray):
    """A variable's data, read through the native library on demand (it releases the GIL)."""

    def __init__(
        self, root: StoreLocation, node: str, document: dict[str, Any], view: np.dtype | None
    ) -> None:
        self.root, self.node, self.document, self.view = root, node, document, view
        self._lock = object_lock(self)
        self._array: Array | None = None
        array = self.array  # open now: unreadable metadata fails at open_dataset, not at load
        self.shape: tuple[int, ...] = array.shape
        self.dtype: np.dtype = view if view is not None else array.dtype

    @property
    def array(self) -> Array:
        """The open native array (opened from the metadata document, no I/O, on first use)."""
        array = self._array
        if array is None:
            with self._lock:
                if self._array is None:
                    with Store(self.root) as store:
                        handle = store.array_handle_from_metadata(self.node, self.document)
                    self._array = Array(handle, root=self.root, node=self.node, read_only=True)
                array = self._array
        return array

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_lock"] = state["_array"] = None  # by location: no handle, no lock in the pickle
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = object_lock(self)

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.OUTER, self._read)

    def _read(self, key: tuple[Any, ...]) -> np.ndarray:
        data = read_outer(self.array, key)
        return data if self.view is None else data.view(self.view)


def read_outer(array: Array, key: tuple[Any, ...]) -> np.ndarray:
    """Outer (orthogonal) indexing: ints, slices and 1-d integer arrays, one per axis. With index
    arrays it is one native orthogonal read: only the chunks holding selected elements are decoded
    (``isel(time=[0, -1])`` of a long series reads two chunks, not the series)."""
    key = tuple(int(k) if isinstance(k, np.integer) else k for k in key)
    if not any(isinstance(k, np.ndarray) for k in key):
        return array.read(key)
    return array.oindex[key]


class ZarrPythonBackendArray(_ThreadedBackendArray):
    """A string variable's data, read through zarr-python (the C API returns numbers only)."""

    def __init__(self, root: StoreLocation, node: str, name: str) -> None:
        self.root, self.node, self.name = root, node, name
        self._lock = object_lock(self)
        self._zarr: Any = None
        zarr_array = self.zarr_array
        self.shape = tuple(zarr_array.shape)
        dtype = zarr_array.dtype
        # As xarray's zarr backend: vlen-utf8 strings read as object dtype, a native StringDType stays.
        serializer = getattr(zarr_array, "serializer", None)
        if dtype.kind != "T" and serializer is not None and serializer.to_dict()["name"] == "vlen-utf8":
            from xarray.coding.strings import create_vlen_dtype

            dtype = create_vlen_dtype(str)
        self.dtype = dtype

    @property
    def zarr_array(self) -> Any:
        """The zarr-python array for the same location, opened on first use (string variables)."""
        if self._zarr is None:
            with self._lock:
                if self._zarr is None:
                    self._zarr = open_with_zarr_python(self.root, self.node, self.name)
        return self._zarr

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_lock"] = state["_zarr"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = object_lock(self)

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        value = indexing.explicit_indexing_adapter(
            key, self.shape, indexing.IndexingSupport.OUTER, self._read
        )
        if self.dtype.kind == "T" and isinstance(value, str):
            return np.asarray(value, dtype=self.dtype)
        return value

    def _read(self, key: tuple[Any, ...]) -> Any:
        if any(isinstance(k, np.ndarray) for k in key):
            return self.zarr_array.oindex[key]
        return self.zarr_array[key]


def open_with_zarr_python(root: StoreLocation, node: str, name: str) -> Any:
    """The zarr-python array at ``node``, or UnsupportedDataTypeError naming the variable."""
    try:
        import zarr
    except ImportError:
        raise UnsupportedDataTypeError(
            f"variable {name!r} holds strings, which the native library cannot return; "
            "install zarr-python (pip install 'zarrs-cffi[xarray]') to read them"
        ) from None
    if root.local:
        store = zarr.storage.LocalStore(root.url, read_only=True)
    else:
        from .engines.zarr_stores import zarr_store

        store = zarr_store(root, read_only=True)
    return zarr.open_array(store=store, path=node.strip("/"), mode="r")
