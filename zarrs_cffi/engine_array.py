"""Arrays whose I/O goes through a CRUD engine other than the native one.

``open_array(..., engine="zarr")`` returns an :class:`EngineArray`: the same interface as
:class:`~zarrs_cffi.array.Array`, with every read and write routed through the engine's
``read_region`` / ``write_region`` / chunk methods. Its facts (shape, dtype, chunks) come from the
metadata document. Strict policy: what the engine cannot do raises; nothing silently falls back to
the native path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from . import chunked_io
from .advanced_selection import CoordinateSelection, OrthogonalSelection, is_advanced
from .array import Array, Region
from .buffers import check_out_buffer
from .chunk_plan import OrthogonalPlan, point_groups
from .crud.protocol import CrudBackend
from .errors import InvalidEngineError
from .handles import Handle
from .selection import check_chunk_coords
from .store_location import StoreLocation
from .threads import get_num_threads


class EngineArray(Array):
    """An :class:`Array` whose data I/O runs through ``backend`` (a CRUD engine)."""

    def __init__(
        self,
        handle: Handle,
        backend: CrudBackend,
        document: dict[str, Any],
        *,
        root: str | StoreLocation,
        node: str,
        read_only: bool = False,
    ) -> None:
        # The handle (made from the document alone, no I/O) only answers questions about the
        # metadata; it is never used for data.
        super().__init__(handle, root=root, node=node, read_only=read_only)
        self._backend = backend
        self._document = document
        self._zarr_path = node.strip("/")

    @property
    def engine(self) -> str:
        """The name of the engine this array's I/O runs through."""
        return self._backend.name

    @property
    def decodes_directly(self) -> bool:
        """Always False: data I/O runs through the engine, not the native decoder."""
        self._args()  # raises ClosedError on a closed array, like the native property
        return False

    @property
    def encodes_directly(self) -> bool:
        """Always False: data I/O runs through the engine, not the native encoder."""
        self._args()  # raises ClosedError on a closed array, like the native property
        return False

    def __reduce__(self) -> tuple[Any, ...]:
        return (_reopen_with_engine, (self.location, self.node, self.read_only, self._backend.name))

    def _args(self) -> tuple[dict[str, Any], StoreLocation, str]:
        if self.closed:
            self._handle.acquire()  # raises ClosedError with the standard message
        assert self.location is not None
        return self._document, self.location, self._zarr_path

    def read_into(self, out: np.ndarray, region: Region = ()) -> np.ndarray:
        """As :meth:`Array.read_into`, through the engine's backend."""
        if is_advanced(region):  # orthogonal: chunk by chunk through the engine's box reads
            self._args()
            return self._read_selection_into(out, region)
        return self._backend.read_region(*self._args(), region, out=out)

    def read(self, region: Region = ()) -> np.ndarray:
        """As :meth:`Array.read`, through the engine's backend."""
        return self._backend.read_region(*self._args(), region)

    __getitem__ = read

    def write(self, region: Region, data: object) -> None:
        """As :meth:`Array.write`, through the engine's backend."""
        self._check_writable()
        self._backend.write_region(*self._args(), region, data)

    # Box I/O through the engine: what oindex / vindex / blocks and orthogonal read_into build on.
    def _retrieve_box(self, start: Sequence[int], shape: Sequence[int], out: np.ndarray) -> None:
        region = tuple(slice(b, b + n) for b, n in zip(start, shape, strict=True))
        self._backend.read_region(*self._args(), region, out=out)

    def _store_box(self, start: Sequence[int], shape: Sequence[int], data: np.ndarray) -> None:
        region = tuple(slice(b, b + n) for b, n in zip(start, shape, strict=True))
        self._backend.write_region(*self._args(), region, data)

    # Selections of several boxes (oindex, vindex, orthogonal read_into): box by box through the
    # engine. The native array's one-call reads and its write lock would reach the store natively.
    def _read_orthogonal_into(self, out: np.ndarray, sel: OrthogonalSelection) -> None:
        if sel.is_empty:
            return
        keepdims = out.reshape(sel.keepdims_shape)
        box = sel.box()
        if box is not None:
            self._retrieve_box(box[0], box[1], keepdims)
            return
        plan = OrthogonalPlan(sel.axes, self.chunks)
        chunked_io.read_orthogonal(self._retrieve_box, keepdims, plan, self._chunk_nbytes, get_num_threads())

    def _read_points_into(self, out: np.ndarray, sel: CoordinateSelection) -> None:
        if sel.is_empty:
            return
        groups = point_groups(sel.coords, self.chunks)
        chunked_io.read_points(
            self._retrieve_box, out.reshape(-1), groups, self._chunk_nbytes, get_num_threads()
        )

    def _read_modify_write(self, write: Callable[..., None], values: np.ndarray, layout: Any) -> None:
        with self.write_lock():
            write(self._retrieve_box, self._store_box, values, layout, self.chunks, self.shape)

    @contextmanager
    def write_lock(self) -> Iterator[None]:
        """As :meth:`Array.write_lock`, with the engine's lock: the one its region writes of this
        array take (an engine without one cannot keep other threads' writes out: then None is held).

        Yields:
            None, while the lock is held.
        """
        lock = getattr(self._backend, "write_lock", None)
        if lock is None:
            yield
            return
        with lock(*self._args()):
            yield

    def _coords(self, coords: Sequence[int]) -> tuple[int, ...]:
        """Chunk coordinates checked as the native array checks them (ChunkCoordsTypeError, ...)."""
        self._args()  # ClosedError first, as the native array
        return tuple(check_chunk_coords(coords, self.chunk_grid_shape))

    def read_chunk(self, coords: Sequence[int], out: np.ndarray | None = None) -> np.ndarray:
        """As :meth:`Array.read_chunk`, through the engine's backend."""
        chunk = self._backend.read_chunk(*self._args(), self._coords(coords))
        if out is None:
            return chunk
        np.copyto(check_out_buffer(out, self.dtype, self.chunk_shape()), chunk)
        return out

    def write_chunk(self, coords: Sequence[int], data: object) -> None:
        """As :meth:`Array.write_chunk`, through the engine's backend."""
        self._check_writable()
        self._backend.write_chunk(*self._args(), self._coords(coords), data)

    def erase_chunk(self, coords: Sequence[int]) -> None:
        """As :meth:`Array.erase_chunk`, through the engine's backend."""
        self._check_writable()
        self._backend.delete_chunk(*self._args(), self._coords(coords))

    def read_encoded_chunk(self, coords: Sequence[int]) -> bytes | None:
        """As :meth:`Array.read_encoded_chunk`, through the engine's backend."""
        return self._backend.read_encoded_chunk(*self._args(), self._coords(coords))

    # What only the native engine does: refused, not run natively on the metadata-only handle.
    def _native_only(self, what: str) -> InvalidEngineError:
        self._args()  # ClosedError first, as the native array
        return InvalidEngineError(
            f"{what} needs the native engine; this array's I/O runs on the {self.engine!r} engine "
            "(open it with engine='cffi')"
        )

    def decode_chunk(self, coords: Sequence[int], encoded: Any, out: np.ndarray | None = None) -> np.ndarray:
        """Refused (:class:`~zarrs_cffi.InvalidEngineError`): the native codecs would decode it."""
        raise self._native_only("decode_chunk")

    def encode_chunk(self, coords: Sequence[int], data: Any) -> bytes:
        """Refused (:class:`~zarrs_cffi.InvalidEngineError`): the native codecs would encode it."""
        raise self._native_only("encode_chunk")

    def enable_chunk_cache(self, max_bytes: int = 256 * 2**20) -> None:
        """Refused (:class:`~zarrs_cffi.InvalidEngineError`): the cache is the native engine's."""
        raise self._native_only("a chunk cache")

    def lend_handle(self) -> Any:
        """Refuse: an array on another engine has no native handle to lend
        (:class:`~zarrs_cffi.InvalidEngineError`, a TypeError)."""
        self._args()  # ClosedError first, as the native array
        raise InvalidEngineError(
            f"an array on the {self.engine!r} engine has no native handle to lend: that needs the "
            "native engine (open it with engine='cffi')"
        )


def _reopen_with_engine(root: str | StoreLocation, node: str, read_only: bool, engine: str) -> Array:
    from .open import open_array

    return open_array(root, node, read_only=read_only, engine=engine)
