"""Async twins of the functional CRUD API (same names, same arguments).

Each runs its synchronous counterpart in a worker thread, as :func:`asyncio.to_thread` does, so
the event loop is never blocked by decoding or file I/O (the native engine releases the GIL while
it works, so several calls proceed in parallel).

Cancelling a call (``task.cancel()``, the timeout of ``asyncio.wait_for``) cannot stop the work
already running in its thread: the call waits for that work to finish, then raises
``CancelledError``. So once a call has ended, whether cancelled or not, nothing more is written,
neither to the store nor into ``out``; a write cancelled that way may have been stored whole.

>>> import asyncio, zarrs_cffi.crud.aio as aio                            # doctest: +SKIP
>>> asyncio.run(aio.read_metadata("data.zarr", "a", engine="zarr"))     # doctest: +SKIP
"""

from __future__ import annotations

import inspect
from typing import Any

from numpy.typing import NDArray

from zarrs_cffi._compat import to_thread
from zarrs_cffi.crud import _facade
from zarrs_cffi.crud._facade import Engine, Options
from zarrs_cffi.crud.protocol import ChunkCoords, MetadataDoc, StoreLike

__all__ = list(_facade.__all__)


async def create_new_group(
    metadata: MetadataDoc,
    store: StoreLike,
    path: str,
    *,
    engine: Engine = None,
    storage_options: Options = None,
) -> None:
    """Async :func:`zarrs_cffi.crud.create_new_group`, run in a worker thread (the event loop is not blocked)."""
    await to_thread(
        _facade.create_new_group, metadata, store, path, engine=engine, storage_options=storage_options
    )


async def create_overwrite_group(
    metadata: MetadataDoc,
    store: StoreLike,
    path: str,
    *,
    engine: Engine = None,
    storage_options: Options = None,
) -> None:
    """Async :func:`zarrs_cffi.crud.create_overwrite_group`, run in a worker thread (the event loop is not blocked)."""
    await to_thread(
        _facade.create_overwrite_group, metadata, store, path, engine=engine, storage_options=storage_options
    )


async def create_new_array(
    metadata: MetadataDoc,
    store: StoreLike,
    path: str,
    *,
    engine: Engine = None,
    storage_options: Options = None,
) -> None:
    """Async :func:`zarrs_cffi.crud.create_new_array`, run in a worker thread (the event loop is not blocked)."""
    await to_thread(
        _facade.create_new_array, metadata, store, path, engine=engine, storage_options=storage_options
    )


async def create_overwrite_array(
    metadata: MetadataDoc,
    store: StoreLike,
    path: str,
    *,
    engine: Engine = None,
    storage_options: Options = None,
) -> None:
    """Async :func:`zarrs_cffi.crud.create_overwrite_array`, run in a worker thread (the event loop is not blocked)."""
    await to_thread(
        _facade.create_overwrite_array, metadata, store, path, engine=engine, storage_options=storage_options
    )


async def read_metadata(
    store: StoreLike, path: str, *, engine: Engine = None, storage_options: Options = None
) -> MetadataDoc:
    """Async :func:`zarrs_cffi.crud.read_metadata`, run in a worker thread (the event loop is not blocked)."""
    return await to_thread(_facade.read_metadata, store, path, engine=engine, storage_options=storage_options)


async def delete_node(
    store: StoreLike, path: str, *, engine: Engine = None, storage_options: Options = None
) -> None:
    """Async :func:`zarrs_cffi.crud.delete_node`, run in a worker thread (the event loop is not blocked)."""
    await to_thread(_facade.delete_node, store, path, engine=engine, storage_options=storage_options)


async def list_children(
    store: StoreLike, path: str, *, engine: Engine = None, storage_options: Options = None
) -> list[tuple[str, MetadataDoc]]:
    """Async :func:`zarrs_cffi.crud.list_children`, run in a worker thread (the event loop is not blocked)."""
    return await to_thread(_facade.list_children, store, path, engine=engine, storage_options=storage_options)


async def read_chunk(
    metadata: MetadataDoc,
    store: StoreLike,
    path: str,
    chunk_coords: ChunkCoords,
    *,
    engine: Engine = None,
    storage_options: Options = None,
) -> NDArray[Any]:
    """Async :func:`zarrs_cffi.crud.read_chunk`, run in a worker thread (the event loop is not blocked)."""
    return await to_thread(
        _facade.read_chunk,
        metadata,
        store,
        path,
        chunk_coords,
        engine=engine,
        storage_options=storage_options,
    )


async def read_encoded_chunk(
    metadata: MetadataDoc,
    store: StoreLike,
    path: str,
    chunk_coords: ChunkCoords,
    *,
    engine: Engine = None,
    storage_options: Options = None,
) -> bytes | None:
    """Async :func:`zarrs_cffi.crud.read_encoded_chunk`, run in a worker thread (the event loop is not blocked)."""
    return await to_thread(
        _facade.read_encoded_chunk,
        metadata,
        store,
        path,
        chunk_coords,
        engine=engine,
        storage_options=storage_options,
    )


async def write_chunk(
    metadata: MetadataDoc,
    store: StoreLike,
    path: str,
    chunk_coords: ChunkCoords,
    value: Any,
    *,
    engine: Engine = None,
    storage_options: Options = None,
) -> None:
    """Async :func:`zarrs_cffi.crud.write_chunk`, run in a worker thread (the event loop is not blocked)."""
    await to_thread(
        _facade.write_chunk,
        metadata,
        store,
        path,
        chunk_coords,
        value,
        engine=engine,
        storage_options=storage_options,
    )


async def delete_chunk(
    metadata: MetadataDoc,
    store: StoreLike,
    path: str,
    chunk_coords: ChunkCoords,
    *,
    engine: Engine = None,
    storage_options: Options = None,
) -> None:
    """Async :func:`zarrs_cffi.crud.delete_chunk`, run in a worker thread (the event loop is not blocked)."""
    await to_thread(
        _facade.delete_chunk,
        metadata,
        store,
        path,
        chunk_coords,
        engine=engine,
        storage_options=storage_options,
    )


async def read_region(
    metadata: MetadataDoc,
    store: StoreLike,
    path: str,
    selection: Any,
    *,
    engine: Engine = None,
    storage_options: Options = None,
) -> NDArray[Any]:
    """Async :func:`zarrs_cffi.crud.read_region`, run in a worker thread (the event loop is not blocked)."""
    return await to_thread(
        _facade.read_region, metadata, store, path, selection, engine=engine, storage_options=storage_options
    )


async def read_region_into(
    out: NDArray[Any],
    metadata: MetadataDoc,
    store: StoreLike,
    path: str,
    selection: Any,
    *,
    engine: Engine = None,
    storage_options: Options = None,
) -> NDArray[Any]:
    """Async :func:`zarrs_cffi.crud.read_region_into` (``out`` must not be touched until it returns)."""
    return await to_thread(
        _facade.read_region_into,
        out,
        metadata,
        store,
        path,
        selection,
        engine=engine,
        storage_options=storage_options,
    )


async def write_region(
    metadata: MetadataDoc,
    store: StoreLike,
    path: str,
    selection: Any,
    value: Any,
    *,
    engine: Engine = None,
    storage_options: Options = None,
) -> None:
    """Async :func:`zarrs_cffi.crud.write_region`, run in a worker thread (the event loop is not blocked)."""
    await to_thread(
        _facade.write_region,
        metadata,
        store,
        path,
        selection,
        value,
        engine=engine,
        storage_options=storage_options,
    )


def _document_twins() -> None:
    """Give each twin the Args/Returns/Raises of its synchronous counterpart: one text to maintain,
    and the reference shows the full contract on both."""
    for name in __all__:
        twin, sync = globals()[name], getattr(_facade, name)
        contract = inspect.cleandoc(sync.__doc__ or "")
        start = contract.find("Args:")
        twin.__doc__ = f"{inspect.cleandoc(twin.__doc__ or '')}\n\n{contract[start:] if start >= 0 else ''}"


_document_twins()
