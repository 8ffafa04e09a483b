"""xarray backend: ``xr.open_dataset(path, engine="zarrs_cffi")`` and ``xr.open_datatree``.

Registered through the ``xarray.backends`` entry point ``zarrs_cffi``. Metadata is read once
(consolidated metadata when present), variables are lazy :mod:`~zarrs_cffi.xarray_arrays`, and CF
decoding (times, scale/offset, ``_FillValue``, strings) is xarray's own, as for ``engine="zarr"``.
Writing stays xarray's ``to_zarr``.

>>> import xarray as xr
>>> group = zarrs_cffi.create_group("sea.zarr")
>>> zarrs_cffi.create_array("sea.zarr", "/sst", shape=(4, 6), dtype="float32", chunks=(2, 3),
...                         dimension_names=["y", "x"]).close()
>>> ds = xr.open_dataset("sea.zarr", engine="zarrs_cffi")
>>> dict(ds.sizes)
{'y': 4, 'x': 6}
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

import numpy as np
from xarray import Dataset, Variable
from xarray.backends.common import AbstractDataStore, BackendEntrypoint, datatree_from_dict_with_io_cleanup
from xarray.backends.store import StoreBackendEntrypoint
from xarray.backends.zarr import FillValueCoder
from xarray.core import indexing

from .errors import InvalidMetadataError, UnsupportedDataTypeError, ZarrsError
from .groups import Group, read_groups
from .location import store_location
from .metadata import chunks_and_shards, parse_fill_value
from .store import Store
from .store_location import StoreLocation
from .xarray_arrays import (
    NativeBackendArray,
    ZarrPythonBackendArray,
    describe_data_type,
    native_plan,
    uses_zarr_python,
)

DIMENSION_KEY = "_ARRAY_DIMENSIONS"  # xarray's v2 convention for dimension names
NCZARR_KEY = "_NCZARR_ARRAY"  # NCZarr's member of .zarray (dimension names by path: "dimrefs")


class ZarrsCffiDataStore(AbstractDataStore):
    """One group's variables and attributes, for xarray's ``StoreBackendEntrypoint``."""

    def __init__(
        self,
        root: StoreLocation,
        group: Group,
        *,
        drop_variables: Iterable[str] = (),
        use_zarr_fill_value_as_mask: bool | None = None,
    ) -> None:
        self.root = root
        self.group = group
        self._drop = set(drop_variables)
        # As xarray's zarr backend: the Zarr fill value means "missing" by default in v2 only.
        self._fill_as_mask = (
            group.zarr_format == 2
            if use_zarr_fill_value_as_mask is None
            else bool(use_zarr_fill_value_as_mask)
        )

    def get_attrs(self) -> dict[str, Any]:
        """The group's attributes, without netCDF bookkeeping (``_nc*``)."""
        return {k: v for k, v in self.group.attributes.items() if not k.lower().startswith("_nc")}

    def get_variables(self) -> dict[str, Variable]:
        """The group's arrays as lazily indexed xarray variables."""
        return {
            name: self.open_store_variable(name, doc)
            for name, doc in self.group.arrays.items()
            if name not in self._drop
        }

    def get_dimensions(self) -> dict[str, int]:
        """Each dimension's size, from every variable that names it."""
        sizes: dict[str, int] = {}
        for name, var in self.get_variables().items():
            for dim, size in zip(var.dims, var.shape):
                if sizes.setdefault(str(dim), size) != size:
                    raise InvalidMetadataError(
                        f"dimension {dim!r} has lengths {sizes[str(dim)]} and {size} ({name!r})"
                    )
        return sizes

    def open_store_variable(self, name: str, document: dict[str, Any]) -> Variable:
        """One array as a lazy ``Variable`` with dims, attrs and encoding like xarray's zarr backend."""
        node = f"{self.group.node.rstrip('/')}/{name}"
        array: NativeBackendArray | ZarrPythonBackendArray
        plan = native_plan(document)
        try:
            if plan is not None:
                array = NativeBackendArray(self.root, node, plan[0], plan[1])
            elif uses_zarr_python(document):
                array = ZarrPythonBackendArray(self.root, node, name)
            else:
                raise UnsupportedDataTypeError(
                    f"data type {describe_data_type(document)} in {self.root!r} cannot be read by zarrs_cffi "
                    "(numbers, bool, datetime64/timedelta64 and strings can); drop_variables skips it"
                )
        except ZarrsError as exc:
            raise type(exc)(f"variable {name!r}: {exc}", exc.code) from exc
        attributes = dict(document.get("attributes") or {})
        if (
            document.get("zarr_format") == 2
            and DIMENSION_KEY not in attributes
            and NCZARR_KEY not in document
        ):
            # Consolidated metadata (zarr-python's) leaves NCZarr's member out: read .zarray itself.
            document = {**document, NCZARR_KEY: _stored_nczarr_member(self.root, node)}
        dims = _dimension_names(name, document, attributes, len(array.shape))
        encoding = _encoding(document, dims)
        if array.dtype.kind == "T":  # xarray keeps a native StringDType only if the encoding says so
            encoding["dtype"] = array.dtype
        fill = _fill_value(document, array.dtype, array)
        if self._fill_as_mask:
            if fill is not None:
                attributes["_FillValue"] = fill
        else:
            if self.group.zarr_format == 3:
                encoding["fill_value"] = fill
            if "_FillValue" in attributes:
                attributes["_FillValue"] = FillValueCoder.decode(attributes["_FillValue"], array.dtype)
        return Variable(dims, indexing.LazilyIndexedArray(array), attributes, encoding)


def _stored_nczarr_member(root: StoreLocation, node: str) -> Any:
    """The ``_NCZARR_ARRAY`` member of the array's stored ``.zarray``, if any."""
    with Store(root) as store:
        raw = store.get_key(f"{node.strip('/')}/.zarray")
    try:
        return json.loads(raw or b"{}").get(NCZARR_KEY)
    except (ValueError, AttributeError):  # not a JSON object: the document read before says why
        return None


def _dimension_names(
    name: str, document: dict[str, Any], attributes: dict[str, Any], ndim: int
) -> tuple[str, ...]:
    """v3 ``dimension_names``; v2 the ``_ARRAY_DIMENSIONS`` attribute, else NCZarr's ``dimrefs``
    (as xarray's zarr backend, which also hides v2 netCDF bookkeeping attributes, ``_nc*``)."""
    if document.get("zarr_format") == 2:
        dims = attributes.pop(DIMENSION_KEY, None)
        nczarr = document.get(NCZARR_KEY)
        if dims is None and isinstance(nczarr, dict) and isinstance(nczarr.get("dimrefs"), list):
            # NCZarr names dimensions by full path ("/group/x"): the last part is the name.
            dims = [ref.rsplit("/", 1)[-1] if isinstance(ref, str) else ref for ref in nczarr["dimrefs"]]
        for key in [key for key in attributes if key.lower().startswith("_nc")]:
            del attributes[key]
        where = f"the attribute {DIMENSION_KEY!r} (or NCZarr's {NCZARR_KEY!r} dimrefs)"
    else:
        dims = document.get("dimension_names") or ()
        where = "'dimension_names' metadata"
    if dims is None or len(dims) != ndim or not all(isinstance(d, str) for d in dims):
        raise InvalidMetadataError(
            f"variable {name!r} lacks {where} naming its {ndim} dimensions (got {dims!r}), which xarray "
            "needs to place it in a Dataset"
        )
    return tuple(dims)


def _encoding(document: dict[str, Any], dims: tuple[str, ...]) -> dict[str, Any]:
    chunks, shards = chunks_and_shards(document)
    encoding: dict[str, Any] = {
        "chunks": chunks,
        "preferred_chunks": dict(zip(dims, chunks)),
        "shards": shards,
    }
    encoding.update(_codec_encoding(document))
    return encoding


def _codec_encoding(document: dict[str, Any]) -> dict[str, Any]:
    """``compressors``/``filters`` (v3: ``serializer`` too) as the zarr-python codec objects xarray's
    zarr backend puts there, so ``to_zarr`` of an opened dataset keeps the stored codecs. Empty
    without zarr-python (or for metadata it does not parse): ``to_zarr`` then uses its defaults."""
    try:
        from zarr.abc.codec import ArrayArrayCodec, ArrayBytesCodec, BytesBytesCodec
        from zarr.core.array import parse_array_metadata

        metadata: Any = parse_array_metadata(document)
    except Exception:  # ImportError, or metadata zarr-python rejects but zarrs reads
        return {}
    if metadata.zarr_format == 2:
        compressor = metadata.compressor
        return {
            "compressors": (compressor,) if compressor is not None else (),
            "filters": metadata.filters or (),
        }
    codecs = metadata.inner_codecs
    return {
        "compressors": tuple(c for c in codecs if isinstance(c, BytesBytesCodec)),
        "filters": tuple(c for c in codecs if isinstance(c, ArrayArrayCodec)),
        "serializer": next((c for c in codecs if isinstance(c, ArrayBytesCodec)), None),
    }


def _fill_value(document: dict[str, Any], dtype: Any, array: Any) -> Any:
    """The Zarr fill value as the numpy scalar zarr-python reports (None: v2 without one)."""
    if isinstance(array, ZarrPythonBackendArray):
        return array.zarr_array.fill_value
    value = document.get("fill_value")
    if value is None and document.get("zarr_format") == 2:
        return None
    if dtype.kind in "Mm":
        return np.array(-(2**63) if value in (None, "NaT") else int(value), "i8").view(dtype)[()]
    return parse_fill_value(value, dtype)


class ZarrsCffiBackendEntrypoint(BackendEntrypoint):
    """``engine="zarrs_cffi"``: Zarr v2 and v3 groups read through zarrs' native library.

    >>> import xarray as xr
    >>> group = zarrs_cffi.create_group("lake.zarr")
    >>> zarrs_cffi.create_array("lake.zarr", "/depth", shape=(8,), dtype="float64", chunks=(4,),
    ...                         dimension_names=["x"]).close()
    >>> ds = xr.open_dataset("lake.zarr", engine="zarrs_cffi", chunks={})  # dask arrays
    >>> ds.depth.chunks
    ((4, 4),)
    >>> tree = xr.open_datatree("lake.zarr", engine="zarrs_cffi")
    """

    description = "Open Zarr (v2 and v3) stores with zarrs (Rust) through zarrs-cffi"
    url = "docs/xarray-dask.md (zarrs-cffi source tree)"
    supports_groups = True
    open_dataset_parameters = (
        "filename_or_obj",
        "mask_and_scale",
        "decode_times",
        "concat_characters",
        "decode_coords",
        "drop_variables",
        "use_cftime",
        "decode_timedelta",
        "group",
        "consolidated",
        "storage_options",
        "zarr_format",
        "use_zarr_fill_value_as_mask",
    )

    def guess_can_open(self, filename_or_obj: Any) -> bool:
        """True for paths and URLs ending in ``.zarr``, as xarray's zarr backend guesses (other
        stores open with ``engine="zarrs_cffi"`` named)."""
        if isinstance(filename_or_obj, (str, os.PathLike)):
            return os.path.splitext(str(filename_or_obj).rstrip("/"))[1] == ".zarr"
        return False

    def open_dataset(
        self,
        filename_or_obj: Any,
        *,
        mask_and_scale: bool = True,
        decode_times: Any = True,
        concat_characters: bool = True,
        decode_coords: Any = True,
        drop_variables: str | Iterable[str] | None = None,
        use_cftime: bool | None = None,
        decode_timedelta: Any = None,
        group: str | None = None,
        consolidated: bool | None = None,
        storage_options: dict[str, Any] | None = None,
        zarr_format: int | None = None,
        use_zarr_fill_value_as_mask: bool | None = None,
    ) -> Dataset:
        """Open the group at ``filename_or_obj`` as an ``xarray.Dataset`` (see ``xarray.open_dataset``)."""
        options = {k: v for k, v in locals().items() if k not in ("self", "filename_or_obj")}
        (dataset,) = self.open_groups_as_dict(filename_or_obj, recursive=False, **options).values()
        return dataset

    def open_groups_as_dict(
        self,
        filename_or_obj: Any,
        *,
        recursive: bool = True,
        group: str | None = None,
        consolidated: bool | None = None,
        storage_options: dict[str, Any] | None = None,
        zarr_format: int | None = None,
        use_zarr_fill_value_as_mask: bool | None = None,
        drop_variables: str | Iterable[str] | None = None,
        **decoders: Any,
    ) -> dict[str, Dataset]:
        """Every group at or below ``group`` (only that group with ``recursive=False``), keyed as
        xarray's zarr backend keys them: by path relative to ``group`` ("." for itself), or from
        the root ("/", "/a") without one; keywords as :meth:`open_dataset`."""
        root = store_location(filename_or_obj, storage_options)
        relative_keys = bool(group)  # as xarray's: group="/" keys "." and "sub", not "/" and "/sub"
        if isinstance(group, str):  # "a/b/", "/a//b": the group "a/b", as zarr-python reads them
            group = "/".join(part for part in group.split("/") if part)
        groups = read_groups(root, group, consolidated, recursive=recursive)
        if zarr_format is not None and zarr_format != groups[0].zarr_format:
            raise InvalidMetadataError(
                f"zarr_format={zarr_format} asked for, but {root!r} holds Zarr v{groups[0].zarr_format}"
            )
        drop = [drop_variables] if isinstance(drop_variables, str) else list(drop_variables or ())
        base = groups[0].node.rstrip("/")
        datasets = {}
        for found in groups:
            store = ZarrsCffiDataStore(
                root, found, drop_variables=drop, use_zarr_fill_value_as_mask=use_zarr_fill_value_as_mask
            )
            path = found.node[len(base) :].strip("/")
            key = (path or ".") if relative_keys else "/" + path
            datasets[key] = StoreBackendEntrypoint().open_dataset(store, drop_variables=drop, **decoders)
        return datasets

    def open_datatree(self, filename_or_obj: Any, **kwargs: Any) -> Any:
        """A ``DataTree`` of every group at or below ``group`` (same keywords as ``open_dataset``)."""
        return datatree_from_dict_with_io_cleanup(self.open_groups_as_dict(filename_or_obj, **kwargs))
