"""``ZarrsCffiCodecPipeline``: zarr-python's codec pipeline, with chunk I/O done by the native library.

Turn it on with ``zarr.config.set({"codec_pipeline.path": "zarrs_cffi.ZarrsCffiCodecPipeline"})`` or
``ZARR_CODEC_PIPELINE__PATH=zarrs_cffi.ZarrsCffiCodecPipeline``; it is found through the
``zarr.codec_pipeline`` entry point. This module imports zarr; ``import zarrs_cffi`` does not import
it (``zarrs_cffi.ZarrsCffiCodecPipeline`` is resolved lazily).

How a request is served:

* Arrays in a store the native library opens itself (``LocalStore``; ``ObjectStore`` over S3, GCS,
  Azure, HTTP; ``FsspecStore`` over http(s) or s3; a read-only ``ZipStore``) are read and written by it straight from and to the
  store: no Python per chunk beyond translating zarr's chunk selections (``pipeline_plan``). A
  request whose chunks form one box of the array (basic indexing) is a single native call
  decoding straight into zarr's ``out`` buffer; other selections (strides, ``oindex``,
  ``vindex``) read, per chunk, the smallest box holding the selected elements. Writes encode
  natively, with read-modify-write of partial chunks.
* Any other store (``MemoryStore``, fsspec stores it cannot rebuild, user stores) fetches and stores
  the chunk bytes itself, ``async.concurrency`` requests at once, and the native library decodes
  and encodes them (``pipeline_bytes``); unsharded arrays only: a shard would be fetched whole,
  where zarr's pipeline reads the inner chunks a request needs by range.
* Everything else goes to zarr's own ``BatchedCodecPipeline``, with a DEBUG log line on the
  ``zarrs_cffi.zarr_pipeline`` logger naming the reason: data types or codecs the native library
  cannot handle, writes with ``write_empty_chunks=True`` to a native store (the native encoder
  never stores a chunk equal to the fill value), writes to read-only stores (zarr raises its own
  error), non-CPU buffers and selection forms the planner does not know.
* ``zarr.config.set({"codec_pipeline.strict": True})`` (or ``ZARR_CODEC_PIPELINE__STRICT=1``) makes
  the codec and data type fallback an error: creating the array's pipeline raises the
  :class:`~zarrs_cffi.ZarrsError` that says why.

Native threads follow :func:`zarrs_cffi.set_num_threads` / ``ZARRS_CFFI_NUM_THREADS``; zarr's
``async.concurrency`` governs the chunk fetches through zarr's stores (and the fallback pipeline's).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
import os
import re
import zipfile
from collections.abc import Awaitable, Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np
from zarr.abc.codec import Codec, CodecPipeline
from zarr.core.codec_pipeline import BatchedCodecPipeline
from zarr.core.config import config
from zarr.registry import register_pipeline
from zarr.storage import FsspecStore, LocalStore, ObjectStore, StorePath, ZipStore

from .array import Array
from .errors import ZarrsError
from .forksafe import object_lock
from .pipeline_bytes import fill_value_of, read_through_store, write_through_store
from .pipeline_plan import (
    ChunkBox,
    UnsupportedSelection,
    bounding_region,
    is_basic,
    plan_chunk,
    region_in_out,
    whole_region,
)
from .store import Store
from .store_location import StoreLocation, locate
from .threads import get_num_threads
from .zarr_compat import pipeline_codecs, stored_chunk_shape

if TYPE_CHECKING:
    from typing import Self

    from zarr.abc.store import ByteGetter, ByteSetter
    from zarr.abc.store import Store as ZarrStore
    from zarr.core.array_spec import ArraySpec
    from zarr.core.buffer import Buffer, NDBuffer
    from zarr.core.chunk_grids import ChunkGrid
    from zarr.core.indexing import SelectorTuple
    from zarr.core.metadata import ArrayMetadata

    ReadBatch = Iterable[tuple[ByteGetter, ArraySpec, SelectorTuple, SelectorTuple, bool]]
    WriteBatch = Iterable[tuple[ByteSetter, ArraySpec, SelectorTuple, SelectorTuple, bool]]

__all__ = ["ZarrsCffiCodecPipeline"]

logger = logging.getLogger(__name__)

# Requests moving more bytes than this run on a worker thread, so the event loop stays free while
# the native library works; smaller ones run inline, where a thread hop (~50 us) would cost more
# than the read itself.
_INLINE_BYTES = 1 << 20


class _Fallback(Exception):
    """This request (or array) goes to zarr's BatchedCodecPipeline; the message says why."""


def _strict() -> bool:
    value = config.get("codec_pipeline.strict", False)
    if isinstance(value, str):  # from an environment variable
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def native_document(metadata: ArrayMetadata) -> dict[str, Any]:
    """The metadata document zarrs opens the array from (attributes left out: zarrs needs none of
    them, and they need not be valid JSON)."""
    document = metadata.to_dict()
    document.pop("attributes", None)
    if document.get("zarr_format") == 3:
        exact = _nan_fill_bits(getattr(metadata, "fill_value", None))
        if exact is not None:
            document["fill_value"] = exact
    return document


def _nan_fill_bits(fill: object) -> str | list[str] | None:
    """A v3 NaN fill value in the spec's hex form (its exact bits), else None.

    zarr's ``to_dict`` writes every NaN as ``"NaN"``, the canonical one: a fill value stored as
    ``"0xffc00000"`` (sign and payload) would read back as another NaN than zarr's own pipeline
    gives."""
    if not isinstance(fill, np.inexact):
        return None
    if isinstance(fill, np.complexfloating):
        parts = [fill.real, fill.imag]
        if not any(np.isnan(part) for part in parts):
            return None
        return [_hex_bits(part) for part in parts]
    return _hex_bits(fill) if np.isnan(fill) else None


def _hex_bits(value: np.inexact[Any]) -> str:
    size = value.dtype.itemsize
    return f"0x{int(np.asarray(value).view(f'u{size}')):0{2 * size}x}"


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def native_root(store: ZarrStore) -> str | StoreLocation | None:
    """Where the native library reads and writes a zarr store itself, else None: a ``LocalStore``'s
    directory, an ``ObjectStore``'s object store rebuilt from its obstore configuration (S3, GCS,
    Azure, HTTP), an ``FsspecStore``'s over http(s) or s3 rebuilt from its URL and options, a
    read-only ``ZipStore``'s archive.

    Exact types only: a subclass may change how keys map to objects or add behaviour per request,
    which the native library would bypass. A zip archive zarr opened for writing stays with zarr
    (the native zip store is read-only).
    """
    if type(store) is LocalStore:
        # A location, not text to parse: a relative root such as "file:/x" (a directory named
        # "file:") was read as the URL of /x, and chunks went there.
        return StoreLocation(os.path.abspath(os.fspath(store.root)))
    if type(store) is ZipStore and store.read_only and not _native_zip_methods(store):
        return None  # zarr reads the members; their chunks are still decoded natively
    if type(store) in (ObjectStore, FsspecStore) or (type(store) is ZipStore and store.read_only):
        try:
            return locate(store)
        except ZarrsError:  # e.g. obstore's MemoryStore, fsspec's gcs: no native counterpart
            return None
    return None


# Compression methods of zip members the native zip reader decompresses: stored, deflate, bzip2,
# zstd (not LZMA, which zipfile.ZIP_LZMA writes).
_NATIVE_ZIP_METHODS = frozenset({0, 8, 12, 93})


def _native_zip_methods(store: ZipStore) -> bool:
    """Whether every member of ``store``'s archive is compressed in a way the native reader
    decompresses. An archive that cannot be read here counts as yes: the native store then
    reports what is wrong with the file, with a typed error."""
    archive = getattr(store, "_zf", None)
    try:
        if archive is None:  # not opened by zarr yet: its central directory read here
            with zipfile.ZipFile(store.path) as opened:
                members = opened.infolist()
        else:
            members = archive.infolist()
    except (OSError, zipfile.BadZipFile):
        return True  # the native store reports what is wrong with the file
    return all(member.compress_type in _NATIVE_ZIP_METHODS for member in members)


def _is_sharded(metadata: ArrayMetadata) -> bool:
    from zarr.codecs import ShardingCodec

    return any(isinstance(codec, ShardingCodec) for codec in getattr(metadata, "codecs", ()))


def _open_native(root: str | StoreLocation, array_path: str, document: dict[str, Any]) -> Array:
    """A native array handle for ``document`` at ``array_path`` under ``root`` (no I/O)."""
    node = "/" + array_path
    text = json.loads(json.dumps(document, default=_json_default))
    with Store(root) as store:
        return Array(store.array_handle_from_metadata(node, text), root=store.root, node=node)


class _ChunkKeys:
    """Turns chunk keys (``StorePath.path``) back into (array path, chunk coordinates).

    zarr hands the pipeline chunk keys, not coordinates; the key is the array's path joined with
    ``metadata.encode_chunk_key(coords)``. Each decoded key is checked by encoding it again.
    """

    def __init__(self, metadata: ArrayMetadata) -> None:
        self.ndim = len(metadata.shape)
        self.encode = metadata.encode_chunk_key
        # Every chunk key of this array has as many "/"-separated parts as the first chunk's.
        self.parts = self.encode((0,) * self.ndim).count("/") + 1

    def split(self, key: str) -> tuple[str, tuple[int, ...]]:
        pieces = key.split("/")
        if len(pieces) < self.parts:
            raise _Fallback(f"chunk key {key!r} is shorter than this array's chunk keys")
        suffix = "/".join(pieces[-self.parts :])
        path = "/".join(pieces[: -self.parts])
        if self.ndim == 0:
            coords: tuple[int, ...] = ()
        else:
            numbers = [int(n) for n in re.findall(r"[0-9]+", suffix)]
            coords = tuple(numbers[-self.ndim :])
        if len(coords) != self.ndim or self.encode(coords) != suffix:
            raise _Fallback(f"chunk key {key!r} does not decode to chunk coordinates")
        return path, coords


class ZarrsCffiCodecPipeline(CodecPipeline):
    """A zarr-python codec pipeline whose chunk I/O runs in zarrs-cffi's native library.

    >>> import zarr
    >>> zarr.config.set({"codec_pipeline.path": "zarrs_cffi.ZarrsCffiCodecPipeline"})
    >>> z = zarr.open_array("data.zarr", mode="r")   # reads now decode natively into zarr's buffer
    """

    def __init__(self, metadata: ArrayMetadata, store: ZarrStore) -> None:
        self.metadata = metadata
        self.store = store
        self.fallback = BatchedCodecPipeline.from_codecs(pipeline_codecs(metadata))
        self._arrays: dict[str, Array] = {}
        self._lock = object_lock(self)  # a forked child gets a fresh one
        #: Where the native library opens the array's store itself; None: chunk bytes go through
        #: zarr's store (``pipeline_bytes``).
        self._root: str | StoreLocation | None = None
        self._document: dict[str, Any] | None = None
        self._keys: _ChunkKeys | None = None
        self._chunk_shape: tuple[int, ...] = ()
        #: Why this array's I/O goes to zarr's pipeline (None: it runs natively).
        self.fallback_reason: str | None = None
        try:
            self._prepare()
        except _Fallback as why:
            self.fallback_reason = str(why)
            logger.debug("zarrs_cffi pipeline: %s; using zarr's BatchedCodecPipeline", why)

    def _prepare(self) -> None:
        strict = _strict()
        root = native_root(self.store)
        chunk_shape = stored_chunk_shape(self.metadata)
        try:
            document = native_document(self.metadata)
            if root is None and chunk_shape is not None:
                # The probe decodes and encodes every chunk as its chunk 0, which an array with an
                # axis of length 0 (created empty, to be appended to) does not have.
                grown = [max(n, c) for n, c in zip(document["shape"], chunk_shape)]
                document = {**document, "shape": grown}
            probe = _open_native(root or "/", "", document)  # parses metadata, codecs, data type
        except ZarrsError as exc:
            if strict:
                raise type(exc)(
                    f"codec_pipeline.strict is set and zarrs_cffi cannot handle this array: {exc}", exc.code
                ) from exc
            raise _Fallback(f"the native library cannot handle this array: {exc}") from None
        if chunk_shape is None:
            probe.close()
            raise _Fallback("the chunk grid is not regular")
        if root is None and _is_sharded(self.metadata):
            probe.close()
            raise _Fallback(
                f"store {type(self.store).__name__} has no native counterpart and the array is sharded:"
                " zarr's pipeline reads only the inner chunks a request needs, by range"
            )
        self._chunk_shape = chunk_shape
        self._keys = _ChunkKeys(self.metadata)
        self._root, self._document = root, document
        self._arrays[""] = probe
        if root is None:
            # The probe has the codecs; it touches no store (its root is never read).
            logger.debug(
                "zarrs_cffi pipeline: store %s has no native counterpart; chunk bytes go through it,"
                " decoded and encoded natively",
                type(self.store).__name__,
            )

    # -- construction, as zarr does it -----------------------------------------------------------
    @classmethod
    def from_array_metadata_and_store(cls, array_metadata: ArrayMetadata, store: ZarrStore) -> Self:
        """The pipeline for an array's metadata, bound to its store (native when the store maps to one)."""
        return cls(array_metadata, store)

    @classmethod
    def from_codecs(cls, codecs: Iterable[Codec]) -> Any:
        """zarr's pipeline interface: a pipeline from codec objects (never native: no store to map)."""
        # Without metadata and a store (the sharding codec's inner and index chains), zarr's own
        # pipeline does the work: it only ever sees bytes already in memory.
        return BatchedCodecPipeline.from_codecs(codecs)

    def evolve_from_array_spec(self, array_spec: ArraySpec) -> Self:
        """This pipeline for one array spec (zarr's interface; the fallback evolves with it)."""
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        # Native handles do not pickle; the pipeline is rebuilt from what defines it.
        return (type(self), (self.metadata, self.store))

    def __eq__(self, other: object) -> bool:
        # zarr's arrays are dataclasses that compare their pipelines: equal definitions, equal pipelines.
        if not isinstance(other, ZarrsCffiCodecPipeline):
            return NotImplemented
        return self.metadata == other.metadata and self.store == other.store

    def __hash__(self) -> int:
        return hash((type(self), self.metadata.shape))

    def __repr__(self) -> str:
        how = "native" if self.fallback_reason is None else f"fallback: {self.fallback_reason}"
        return f"<ZarrsCffiCodecPipeline {how}>"

    # -- the codec chain, answered by zarr's pipeline --------------------------------------------
    @property
    def supports_partial_decode(self) -> bool:
        """False: reads plan their own chunk boxes (zarr's partial-decode path is not used)."""
        return False

    @property
    def supports_partial_encode(self) -> bool:
        """False: writes encode whole chunks (read-modify-write for partial ones)."""
        return False

    def __iter__(self) -> Iterator[Codec]:
        return iter(self.fallback)

    def validate(self, *, shape: tuple[int, ...], dtype: Any, chunk_grid: ChunkGrid) -> None:
        """Check that the codecs fit the array (delegated to zarr's pipeline)."""
        self.fallback.validate(shape=shape, dtype=dtype, chunk_grid=chunk_grid)

    def compute_encoded_size(self, byte_length: int, array_spec: ArraySpec) -> int:
        """The encoded size of ``byte_length`` bytes (delegated to zarr's pipeline)."""
        return self.fallback.compute_encoded_size(byte_length, array_spec)

    async def decode(
        self, chunk_bytes_and_specs: Iterable[tuple[Buffer | None, ArraySpec]]
    ) -> Iterable[NDBuffer | None]:
        """Decode encoded chunk buffers (zarr's interface; through zarr's pipeline)."""
        return await self.fallback.decode(chunk_bytes_and_specs)

    async def encode(
        self, chunk_arrays_and_specs: Iterable[tuple[NDBuffer | None, ArraySpec]]
    ) -> Iterable[Buffer | None]:
        """Encode chunk buffers (zarr's interface; through zarr's pipeline)."""
        return await self.fallback.encode(chunk_arrays_and_specs)

    # -- chunk I/O -------------------------------------------------------------------------------
    async def read(self, batch_info: ReadBatch, out: NDBuffer, drop_axes: tuple[int, ...] = ()) -> None:
        """Read ``batch_info``'s chunk selections into ``out``: natively for a local store, else through zarr's pipeline."""
        batch = list(batch_info)
        if self.fallback_reason is None and self._root is None:
            target = out.as_ndarray_like()
            if isinstance(target, np.ndarray):
                await read_through_store(self._arrays[""], batch, target, drop_axes)
                return
        await self._serve(
            "read",
            lambda: self._read_task(batch, out, drop_axes),
            lambda: self.fallback.read(batch, out, drop_axes),
        )

    async def write(self, batch_info: WriteBatch, value: NDBuffer, drop_axes: tuple[int, ...] = ()) -> None:
        """Write ``value`` into ``batch_info``'s chunks: natively for a local store, else through zarr's pipeline."""
        batch = list(batch_info)
        if self.fallback_reason is None and self._root is None:
            data = value.as_ndarray_like()
            if isinstance(data, np.ndarray) and not self.store.read_only:
                await write_through_store(self._arrays[""], batch, data, drop_axes)
                return
        await self._serve(
            "write",
            lambda: self._write_task(batch, value, drop_axes),
            lambda: self.fallback.write(batch, value, drop_axes),
        )

    async def _serve(
        self,
        what: str,
        plan: Callable[[], tuple[Callable[[], None], int]],
        fallback: Callable[[], Awaitable[None]],
    ) -> None:
        """Run the native plan of a request, or zarr's pipeline if planning says it must."""
        try:
            task, nbytes = plan()
        except _Fallback as why:
            logger.debug("zarrs_cffi pipeline: %s through zarr's pipeline: %s", what, why)
            await fallback()
            return
        await self._run(task, nbytes)

    async def _run(self, task: Callable[[], None], nbytes: int) -> None:
        ensure_open = getattr(self.store, "_ensure_open", None)
        if ensure_open is not None:  # as zarr's own store calls do (a missing root raises there)
            await ensure_open()
        if nbytes <= _INLINE_BYTES:
            task()
        else:
            await asyncio.to_thread(task)

    # -- planning (raises _Fallback before anything is read or written) ---------------------------
    def _native_array(self, batch: list[Any]) -> tuple[Array, list[tuple[int, ...]]]:
        """The native array the batch's chunks belong to, and each chunk's origin."""
        if self.fallback_reason is not None:
            raise _Fallback(self.fallback_reason)
        assert self._keys is not None
        path: str | None = None
        origins: list[tuple[int, ...]] = []
        for byte_getter, *_ in batch:
            if not isinstance(byte_getter, StorePath) or byte_getter.store is not self.store:
                raise _Fallback(
                    f"chunk getter {type(byte_getter).__name__} is not a path in this array's store"
                )
            chunk_path, coords = self._keys.split(byte_getter.path)
            if path is None:
                path = chunk_path
            elif chunk_path != path:
                raise _Fallback("the batch spans several arrays")
            origins.append(tuple(c * n for c, n in zip(coords, self._chunk_shape)))
        # zarr keeps an array's pipeline through resize() and append(), so the array may have grown
        # since the native one was opened: the batch's chunks say how far it reaches at least.
        extent = tuple(
            max((origin[axis] + self._chunk_shape[axis] for origin in origins), default=0)
            for axis in range(len(self._chunk_shape))
        )
        return self._array_at(path or "", extent), origins

    def _array_at(self, path: str, extent: tuple[int, ...]) -> Array:
        """The native array at ``path``, reopened larger if it does not reach ``extent``."""
        if self._root is None:
            return self._arrays[""]  # codecs only: chunk I/O through zarr's store is shape-free
        array = self._arrays.get(path)
        if array is None or not _reaches(array.shape, extent):
            with self._lock:
                array = self._arrays.get(path)
                if array is None or not _reaches(array.shape, extent):
                    assert self._root is not None and self._document is not None
                    # The native array spans whole chunks: zarr keeps an array's pipeline through
                    # resize() and append(), so the array may have grown past the document's
                    # shape, inside its last chunk too (elements past the real edge of a chunk are
                    # never selected by zarr). A batch reaching further reopens it larger.
                    shape = self._document["shape"] if array is None else array.shape
                    whole = [
                        max(-(-n // max(c, 1)) * c, e) for n, c, e in zip(shape, self._chunk_shape, extent)
                    ]
                    self._document = {**self._document, "shape": whole}
                    # The array a running task holds stays open until that task drops it.
                    array = _open_native(self._root, path, self._document)
                    self._arrays[path] = array
        return array

    @staticmethod
    def _plan(batch: list[Any], origins: list[tuple[int, ...]]) -> list[tuple[ChunkBox, Any]]:
        """(box, output selection) for every chunk with selected elements."""
        planned = []
        try:
            for origin, (_, _, chunk_selection, out_selection, _) in zip(origins, batch):
                box = plan_chunk(origin, chunk_selection)
                if box is not None:
                    planned.append((box, out_selection))
        except UnsupportedSelection as why:
            raise _Fallback(str(why)) from None
        return planned

    def _read_task(
        self, batch: list[Any], out: NDBuffer, drop_axes: tuple[int, ...]
    ) -> tuple[Callable[[], None], int]:
        target = out.as_ndarray_like()
        if not isinstance(target, np.ndarray):
            raise _Fallback(f"output buffer of type {type(target).__name__} is not in host memory")
        array, origins = self._native_array(batch)
        if target.dtype.newbyteorder("=") != array.dtype:
            raise _Fallback(f"output dtype {target.dtype} differs from the native dtype {array.dtype}")
        planned = self._plan(batch, origins)
        nbytes = sum(box.size for box, _ in planned) * array.dtype.itemsize
        boxes, outs = [b for b, _ in planned], [o for _, o in planned]
        region = None if drop_axes else whole_region(boxes, outs, target.shape)
        if region is not None:
            return (lambda: _read_region(array, region, target)), nbytes
        return (lambda: _read_chunks(array, planned, target, drop_axes, nbytes)), nbytes

    def _write_task(
        self, batch: list[Any], value: NDBuffer, drop_axes: tuple[int, ...]
    ) -> tuple[Callable[[], None], int]:
        if self.store.read_only:
            raise _Fallback("the store is read-only (zarr raises its error)")
        if any(spec.config.write_empty_chunks for _, spec, *_ in batch):
            raise _Fallback("write_empty_chunks=True (the native encoder never stores fill-value chunks)")
        data = value.as_ndarray_like()
        if not isinstance(data, np.ndarray):
            raise _Fallback(f"value of type {type(data).__name__} is not in host memory")
        array, origins = self._native_array(batch)
        fresh, batch, origins = self._split_fresh(array, batch, origins)
        planned = self._plan(batch, origins)
        nbytes = sum(box.size for box, _ in planned) * array.dtype.itemsize
        boxes, outs = [b for b, _ in planned], [o for _, o in planned]
        rest: Callable[[], None] | None = None
        if not drop_axes and planned:
            # A scalar is broadcast over the region; an array must be laid out as the region is.
            if data.ndim == 0:
                region = bounding_region(boxes)
                if region is not None:
                    rest = functools.partial(array.write, region, data)
            else:
                found = region_in_out(boxes, outs)
                if found is not None:
                    rest = functools.partial(array.write, found[0], data[found[1]])
        if rest is None:
            rest = functools.partial(_write_chunks, array, planned, data, drop_axes, nbytes)
        if not fresh:
            return rest, nbytes
        fresh_bytes = len(fresh) * math.prod(self._chunk_shape) * array.dtype.itemsize

        def write_both() -> None:
            _write_fresh_chunks(array, fresh, data, drop_axes, fresh_bytes)
            rest()

        return write_both, nbytes + fresh_bytes

    def _split_fresh(
        self, array: Array, batch: list[Any], origins: list[tuple[int, ...]]
    ) -> tuple[list[Any], list[Any], list[tuple[int, ...]]]:
        """The edge chunks zarr calls complete (their elements inside the array all selected), as
        fresh-chunk writes, and the rest of the batch with its origins.

        zarr writes such a chunk from the fill value, so its elements past the array's edge are
        fill; a native region write keeps what was stored there. After the array shrank
        (``resize``) those elements held the old values, which came back when it grew again."""
        fresh: list[Any] = []
        rest: list[Any] = []
        rest_origins: list[tuple[int, ...]] = []
        if self.fallback.supports_partial_encode:
            # Sharded (and nothing around the shards): zarr encodes only the inner chunks written,
            # the shard's others (past the edge too) keep what is stored; so does the native write.
            return fresh, batch, origins
        chunk_shape = self._chunk_shape
        for origin, item in zip(origins, batch):
            _, spec, chunk_selection, out_selection, complete = item
            if complete and not _selects_whole(chunk_selection, chunk_shape):
                coords = tuple(o // c for o, c in zip(origin, chunk_shape))
                fresh.append((coords, chunk_selection, out_selection, fill_value_of(spec)))
            else:
                rest.append(item)
                rest_origins.append(origin)
        return fresh, rest, rest_origins


def _selects_whole(selection: Any, chunk_shape: tuple[int, ...]) -> bool:
    """Whether ``selection`` is all of a chunk of ``chunk_shape``."""
    items = selection if isinstance(selection, tuple) else (selection,)
    for item, n in zip(items, chunk_shape):
        if isinstance(item, slice):
            if item.indices(n) != (0, n, 1) or (item.stop is not None and item.stop < n):
                return False
        elif n != 1:
            return False
    return True


def _write_fresh_chunks(
    array: Array, fresh: list[Any], data: np.ndarray, drop_axes: tuple[int, ...], nbytes: int
) -> None:
    """Each edge chunk as zarr's pipeline writes a complete one: the fill value, the selection
    set, stored whole (a chunk all fill value is erased)."""

    def write_one(item: Any) -> None:
        coords, chunk_selection, out_selection, fill = item
        chunk = np.full(array.chunk_shape(), fill, dtype=array.dtype)
        value = data if data.ndim == 0 else data[out_selection]
        if drop_axes and data.ndim:
            value = value[tuple(None if axis in drop_axes else slice(None) for axis in range(chunk.ndim))]
        chunk[chunk_selection] = value
        array.write_chunk(coords, chunk)

    _each_chunk(write_one, fresh, nbytes)


def _reaches(shape: tuple[int, ...], extent: tuple[int, ...]) -> bool:
    """Whether an array of ``shape`` covers ``extent`` (a multiple of the chunk shape)."""
    return all(n >= e for n, e in zip(shape, extent))


def _read_region(array: Array, region: tuple[Any, ...], target: np.ndarray) -> None:
    """One native read of the whole request, straight into ``target`` when its layout allows."""
    if target.flags.c_contiguous and target.dtype == array.dtype and target.flags.writeable:
        array.read_into(target, region)
    else:  # F order (zarr v2 order="F") or a non-native byte order: one copy
        target[...] = array.read(region)


def _each_chunk(work: Callable[[Any], None], planned: list[Any], nbytes: int) -> None:
    """Run ``work`` on every planned chunk: on up to ``get_num_threads()`` threads when the request
    is large (the native calls release the GIL, and chunks are disjoint), else one after another."""
    threads = min(get_num_threads(), len(planned))
    if threads <= 1 or nbytes <= _INLINE_BYTES:
        for item in planned:
            work(item)
        return
    with ThreadPoolExecutor(threads, thread_name_prefix="zarrs_cffi-chunks") as pool:
        for _ in pool.map(work, planned):  # re-raises the first error
            pass


def _read_chunks(
    array: Array,
    planned: list[tuple[ChunkBox, Any]],
    target: np.ndarray,
    drop_axes: tuple[int, ...],
    nbytes: int,
) -> None:
    """Chunk by chunk: each chunk's box decoded natively, its selected elements copied to ``target``."""

    def read_one(item: tuple[ChunkBox, Any]) -> None:
        box, out_selection = item
        if box.local is None and not drop_axes:
            view = target[out_selection] if is_basic(out_selection) else None
            if isinstance(view, np.ndarray) and view.flags.c_contiguous and view.dtype == array.dtype:
                array.read_into(view, box.region)  # decoded in place
            else:
                target[out_selection] = array.read(box.region)
            return
        part = array.read(box.region)
        if box.local is not None:
            part = part[box.local]
        if drop_axes:
            part = part.squeeze(axis=drop_axes)
        target[out_selection] = part

    _each_chunk(read_one, planned, nbytes)


def _write_chunks(
    array: Array,
    planned: list[tuple[ChunkBox, Any]],
    data: np.ndarray,
    drop_axes: tuple[int, ...],
    nbytes: int,
) -> None:
    """Chunk by chunk: a box that is the selection is encoded from ``data``; any other box is read,
    updated and written back (the native write merges partial chunks with what is stored)."""

    def write_one(item: tuple[ChunkBox, Any]) -> None:
        box, out_selection = item
        if data.ndim == 0:
            part = data
        else:
            part = data[out_selection]
            if drop_axes:
                part = np.expand_dims(part, drop_axes)
        if box.local is None:
            array.write(box.region, part)
        else:
            current = array.read(box.region)
            current[box.local] = part
            array.write(box.region, current)

    _each_chunk(write_one, planned, nbytes)


# zarr finds pipelines by the module path of their class: make that the public name
# ``zarrs_cffi.ZarrsCffiCodecPipeline`` (the one users put in their config), and register it so
# importing this module is enough even where the entry point is not installed.
ZarrsCffiCodecPipeline.__module__ = "zarrs_cffi"
register_pipeline(ZarrsCffiCodecPipeline)
