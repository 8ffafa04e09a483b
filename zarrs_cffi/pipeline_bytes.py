"""Chunk I/O of the codec pipeline for stores the native library cannot open itself.

zarr's own store (``MemoryStore``, a user's store) fetches and stores the chunk bytes, as zarr's
``BatchedCodecPipeline`` does (``async.concurrency`` requests at once); the native library decodes
and encodes them (:meth:`Array.decode_chunk`, :meth:`Array.encode_chunk`), on up to
``get_num_threads()`` threads. Reads and read-modify-writes follow zarr's semantics: a missing
chunk reads as the fill value, a chunk equal to the fill value is deleted unless
``write_empty_chunks``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from zarr.core.common import concurrent_map
from zarr.core.config import config

from .array import Array
from .errors import ZarrsError
from .threads import get_num_threads

if TYPE_CHECKING:
    from zarr.core.array_spec import ArraySpec
    from zarr.core.buffer import Buffer

__all__ = ["read_through_store", "write_through_store"]

# Work on more chunk bytes than this runs on worker threads; less runs inline on the event loop.
_INLINE_BYTES = 1 << 20


def _first_chunk(codec: Array) -> tuple[int, ...]:
    """The chunk every chunk's bytes are decoded and encoded as: a regular grid's chunks share shape
    and codecs, and ``codec`` keeps the shape the array had when it was opened (after a resize, new
    chunks lie outside its grid)."""
    return (0,) * codec.ndim


def fill_value_of(spec: ArraySpec) -> Any:
    """The fill value zarr uses for a missing chunk of ``spec`` (its data type's default if None)."""
    from zarr.core.codec_pipeline import fill_value_or_default

    return fill_value_or_default(spec)


async def _fetch(batch: list[Any], wanted: list[bool]) -> list[Buffer | None]:
    """The stored bytes of each chunk whose ``wanted`` is true (None: missing or not wanted)."""

    async def get(getter: Any, spec: ArraySpec, want: bool) -> Buffer | None:
        return await getter.get(prototype=spec.prototype) if want else None

    items = [(getter, spec, want) for (getter, spec, *_), want in zip(batch, wanted)]
    return list(await concurrent_map(items, get, config.get("async.concurrency")))


async def _on_threads(work: Callable[[int], None], count: int, nbytes: int) -> None:
    """``work(i)`` for every chunk ``i``: inline when small, else spread over worker threads (the
    native calls release the GIL)."""
    if nbytes <= _INLINE_BYTES:
        for i in range(count):
            work(i)
        return
    threads = max(1, min(get_num_threads(), count))  # one large chunk still leaves the event loop

    def share(first: int) -> None:
        for i in range(first, count, threads):
            work(i)

    await asyncio.gather(*(asyncio.to_thread(share, first) for first in range(threads)))


def _decode(codec: Array, coords: Sequence[int], data: Buffer, where: Any) -> np.ndarray:
    """Decode a chunk's bytes; an error names the chunk's key in zarr's store."""
    try:
        return codec.decode_chunk(coords, data.as_numpy_array())
    except ZarrsError as exc:
        key = getattr(where, "path", where)
        raise type(exc)(
            f"chunk {key!r} of {getattr(where, 'store', 'a zarr store')}: {exc}", exc.code
        ) from None


def _chunk_nbytes(codec: Array) -> int:
    return int(np.prod(codec.chunk_shape())) * codec.dtype.itemsize


async def read_through_store(
    codec: Array, batch: list[Any], target: np.ndarray, drop_axes: tuple[int, ...]
) -> None:
    """Read ``batch`` (zarr's chunk selections) into ``target``: bytes through the batch's getters,
    decoded natively with ``codec``'s codecs."""
    encoded = await _fetch(batch, [True] * len(batch))
    first = _first_chunk(codec)

    def read_one(i: int) -> None:
        getter, spec, chunk_selection, out_selection, _ = batch[i]
        data = encoded[i]
        if data is None:
            target[out_selection] = fill_value_of(spec)
            return
        piece = _decode(codec, first, data, getter)[chunk_selection]
        if drop_axes:
            piece = piece.squeeze(axis=drop_axes)
        target[out_selection] = piece

    stored = sum(len(data) for data in encoded if data is not None)
    await _on_threads(read_one, len(batch), stored + _chunk_nbytes(codec) * len(batch))


def _merged(
    codec: Array,
    existing: np.ndarray | None,
    value: np.ndarray,
    spec: ArraySpec,
    item: tuple[Any, ...],
    drop_axes: tuple[int, ...],
) -> np.ndarray:
    """The chunk after writing ``value``'s part into it (zarr's ``_merge_chunk_array``)."""
    _, _, chunk_selection, out_selection, complete = item
    chunk_shape = tuple(spec.shape)
    if complete and value.shape == chunk_shape and value[out_selection].shape == chunk_shape:
        return value
    chunk = np.full(chunk_shape, fill_value_of(spec), dtype=codec.dtype) if existing is None else existing
    if chunk_selection == () or value.ndim == 0:
        part = value
    else:
        part = value[out_selection]
        if drop_axes:
            part = part[tuple(None if axis in drop_axes else slice(None) for axis in range(len(chunk_shape)))]
    chunk[chunk_selection] = part
    return chunk


def _all_fill(chunk: np.ndarray, spec: ArraySpec) -> bool:
    """Whether every element equals the fill value, by zarr's own rule (``NDBuffer.all_equal``: NaN
    equals NaN, -0.0 does not equal 0.0)."""
    return bool(spec.prototype.nd_buffer.from_numpy_array(chunk).all_equal(fill_value_of(spec)))


async def write_through_store(
    codec: Array, batch: list[Any], value: np.ndarray, drop_axes: tuple[int, ...]
) -> None:
    """Write ``value`` into ``batch``'s chunks: partial chunks fetched and decoded, merged, encoded
    natively, stored (or deleted when equal to the fill value) through the batch's setters."""
    existing = await _fetch(batch, [not complete for *_, complete in batch])
    encoded: list[bytes | None] = [None] * len(batch)
    first = _first_chunk(codec)

    def encode_one(i: int) -> None:
        setter, spec, *_ = batch[i]
        stored = existing[i]
        decoded = None if stored is None else _decode(codec, first, stored, setter)
        chunk = _merged(codec, decoded, value, spec, batch[i], drop_axes)
        if not spec.config.write_empty_chunks and _all_fill(chunk, spec):
            return  # stays None: deleted below
        encoded[i] = codec.encode_chunk(first, chunk)

    await _on_threads(encode_one, len(batch), _chunk_nbytes(codec) * len(batch))

    async def put(setter: Any, spec: ArraySpec, data: bytes | None) -> None:
        if data is None:
            await setter.delete()
        else:
            await setter.set(spec.prototype.buffer.from_bytes(data))

    items = [(setter, spec, data) for (setter, spec, *_), data in zip(batch, encoded)]
    await concurrent_map(items, put, config.get("async.concurrency"))
