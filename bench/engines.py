"""One adapter per engine, all with the same methods, so workloads stay engine-blind.

Regions are tuples of slices. ``fill(region, out)`` is each engine's fastest way
to fill a given C-contiguous buffer (native where the engine has one, else read
and copy); ``read_new(region)`` returns a new array. Workloads that only need
the data (chunks, small regions, the unaligned region) use ``read_fast``: the
buffer path where it is native, the new-array path otherwise.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import ClassVar

import numpy as np


class Engine:
    """Base adapter. Subclasses set ``name``/``native_fill`` and the primitives."""

    name = "?"
    native_fill = False  # True if fill() decodes straight into ``out``

    def __init__(self) -> None:
        self.arr = None
        self.shape: tuple[int, ...] = ()

    # -- primitives every engine implements ---------------------------------
    def open(self, root: Path, node: str) -> None:
        """Open array ``node`` (a name under the store root ``root``) for reading."""
        raise NotImplementedError

    def read_new(self, region: tuple[slice, ...]) -> np.ndarray:
        """Read ``region`` into a new array."""
        raise NotImplementedError

    def fill(self, region: tuple[slice, ...], out: np.ndarray) -> np.ndarray:
        """Fill ``out`` (exact region shape) with ``region``; default: read and copy."""
        np.copyto(out, self.read_new(region))
        return out

    def write_full(self, data: np.ndarray, root: Path, node: str) -> None:
        """Write all of ``data`` into the (existing, empty) array ``root/node``."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the open array."""
        self.arr = None

    def halves_context(self):
        """Entered (untimed) around the two-halves workloads; default: nothing."""
        return contextlib.nullcontext()

    def start_cold(self) -> None:
        """Called (untimed) before every timed call: drop anything an earlier call left cached,
        so no workload is timed on data a previous round decoded. Default: nothing to drop."""

    # -- derived workloads ---------------------------------------------------
    def full(self) -> tuple[slice, ...]:
        """The region covering the whole array."""
        return tuple(slice(0, n) for n in self.shape)

    def read_fast(self, region: tuple[slice, ...], buf: np.ndarray) -> np.ndarray:
        """Fastest way to get ``region``: into ``buf`` if native, else a new array."""
        return self.fill(region, buf) if self.native_fill else self.read_new(region)

    def read_full_new(self) -> np.ndarray:
        """Whole array into a new array."""
        return self.read_new(self.full())

    def read_full_into(self, out: np.ndarray) -> np.ndarray:
        """Whole array into a reused buffer."""
        return self.fill(self.full(), out)

    def read_chunks_one_by_one(self, regions, buf: np.ndarray) -> np.ndarray:
        """Every chunk, one call each; returns the last chunk read."""
        last = buf
        for region in regions:
            last = self.read_fast(region, buf)
        return last

    def read_small(self, region, buf: np.ndarray) -> np.ndarray:
        """One small region (the random-regions workload and the overhead probe)."""
        return self.read_fast(region, buf)

    def read_regions(self, regions, buf: np.ndarray) -> np.ndarray:
        """Many small regions, one call each; returns the last one read."""
        last = buf
        for region in regions:
            last = self.read_small(region, buf)
        return last

    def read_unaligned(self, region, out: np.ndarray) -> np.ndarray:
        """One region spanning many chunks, aligned to none."""
        return self.read_fast(region, out)

    def read_half(self, region, out: np.ndarray) -> np.ndarray:
        """One half of the array into its (contiguous) half of a buffer."""
        return self.fill(region, out)


class ZarrsCffi(Engine):
    """The package under test: zarrs' C API through cffi, decoding into ``out``."""

    name = "zarrs_cffi"
    native_fill = True

    def __init__(self) -> None:
        super().__init__()
        import zarrs_cffi

        self.mod = zarrs_cffi

    # The random-small-regions and chunk-by-chunk workloads opt in to the decoded-chunk cache
    # (documented in the README: off by default because writes from other processes are not seen
    # while cached); it is emptied before every timed call (start_cold), so each round starts cold.
    # Chunk by chunk, the cache's read-ahead decodes the next chunks while one is copied out.
    CACHE_BYTES = 512 * 2**20

    def open(self, root, node):
        self.arr = self.mod.open_array(str(root), node="/" + node)
        self.cached = self.mod.open_array(str(root), node="/" + node, chunk_cache_bytes=self.CACHE_BYTES)
        self.shape = tuple(self.arr.shape)

    def start_cold(self) -> None:
        self.cached.clear_chunk_cache()

    def read_small(self, region, buf):
        return self.cached.read_into(buf, region)

    def read_chunks_one_by_one(self, regions, buf):
        return self.read_regions(regions, buf)  # one call each, through the cache (read_small)

    def read_new(self, region):
        return self.arr.read(region=region)

    def fill(self, region, out):
        return self.arr.read_into(out, region=region)

    def halves_context(self):
        """Cap per-call parallelism at 1 so the halves measure GIL-free scaling.

        Uses ``set_num_threads``/``get_num_threads`` when the package offers them;
        otherwise the calls run with their default internal parallelism.
        """
        if not can_cap_concurrency(self.mod):
            return contextlib.nullcontext()
        return _capped(self.mod)

    def write_full(self, data, root, node):
        with self.mod.open_array(str(root), node="/" + node) as arr:
            arr.write(tuple(slice(0, n) for n in data.shape), data)

    def close(self):
        if self.arr is not None:
            self.arr.close()
            self.cached.close()
        self.arr = None


def can_cap_concurrency(module) -> bool:
    """True if zarrs_cffi lets the caller cap its internal parallelism."""
    return hasattr(module, "set_num_threads") and hasattr(module, "get_num_threads")


@contextlib.contextmanager
def _capped(module):
    module.set_num_threads(1)
    try:
        yield
    finally:
        module.set_num_threads(0)  # back to the default


class ZarrPython(Engine):
    """zarr-python with its default codec pipeline; ``out=`` fills a buffer.

    The codec pipeline is chosen from ``zarr.config`` when an array is opened,
    so the config is switched only around ``open``.
    """

    name = "zarr-python"
    native_fill = True
    pipeline: ClassVar[dict] = {}

    def __init__(self) -> None:
        super().__init__()
        import zarr
        from zarr.core.buffer import default_buffer_prototype

        self.zarr = zarr
        self.nd_buffer = default_buffer_prototype().nd_buffer

    def _config(self):
        return self.zarr.config.set(self.pipeline)

    def open(self, root, node):
        with self._config():
            self.arr = self.zarr.open_array(store=str(root), path=node, mode="r")
        self.shape = tuple(self.arr.shape)

    def read_new(self, region):
        return self.arr.get_basic_selection(region)

    def fill(self, region, out):
        self.arr.get_basic_selection(region, out=self.nd_buffer.from_numpy_array(out))
        return out

    def write_full(self, data, root, node):
        with self._config():
            arr = self.zarr.open_array(store=str(root), path=node, mode="r+")
            arr[...] = data


class ZarrsPython(ZarrPython):
    """zarr-python with zarrs-python (PyPI ``zarrs``) as its codec pipeline."""

    name = "zarrs-python"
    pipeline: ClassVar[dict] = {"codec_pipeline.path": "zarrs.ZarrsCodecPipeline"}

    def __init__(self) -> None:
        super().__init__()
        import zarrs  # noqa: F401  (fail here, not on first read, if missing)


class ZarrPythonCffiPipeline(ZarrPython):
    """zarr-python with zarrs_cffi's codec pipeline (``ZarrsCffiCodecPipeline``): what
    ``zarr.open_array`` users get from this package without changing their code."""

    name = "zarr+zarrs_cffi"
    pipeline: ClassVar[dict] = {"codec_pipeline.path": "zarrs_cffi.ZarrsCffiCodecPipeline"}

    def __init__(self) -> None:
        super().__init__()
        import zarrs_cffi.zarr_pipeline  # noqa: F401  (fail here if the pipeline cannot load)


class Zarrista(Engine):
    """zarrista: zarrs through PyO3; reads return zero-copy tensors."""

    name = "zarrista"

    def __init__(self) -> None:
        super().__init__()
        from zarrista import Array
        from zarrista.store import FilesystemStore

        self.Array, self.Store = Array, FilesystemStore

    def open(self, root, node):
        self.arr = self.Array.open(self.Store(str(root)), "/" + node)
        self.shape = tuple(self.arr.shape)

    def read_new(self, region):
        return self.arr.retrieve_array_subset(region).to_numpy()

    def write_full(self, data, root, node):
        arr = self.Array.open(self.Store(str(root)), "/" + node)
        arr.store_array_subset(tuple(slice(0, n) for n in data.shape), data)


class TensorStore(Engine):
    """tensorstore's ``zarr3`` driver; fills a buffer by writing into an array view."""

    name = "tensorstore"
    native_fill = True

    def __init__(self) -> None:
        super().__init__()
        import tensorstore

        self.ts = tensorstore

    def _spec(self, root, node):
        return {"driver": "zarr3", "kvstore": {"driver": "file", "path": str(Path(root) / node)}}

    def open(self, root, node):
        self.arr = self.ts.open(self._spec(root, node), read=True).result()
        self.shape = tuple(self.arr.shape)

    def read_new(self, region):
        return self.arr[region].read().result()

    def fill(self, region, out):
        target = self.ts.array(out, copy=False, write=True)
        target.write(self.arr[region]).result()
        return out

    def write_full(self, data, root, node):
        arr = self.ts.open(self._spec(root, node), read=True, write=True).result()
        arr.write(data).result()


ENGINES = {
    cls.name: cls
    for cls in (ZarrsCffi, ZarrPython, ZarrsPython, Zarrista, TensorStore, ZarrPythonCffiPipeline)
}
# Peers of the zarrs_cffi rows; the pipeline row is this package too (compared with zarrs-python's
# pipeline in its own table: bench/run.py --engines zarr+zarrs_cffi,zarrs-python,zarr-python).
PEERS = [name for name in ENGINES if name not in ("zarrs_cffi", ZarrPythonCffiPipeline.name)]


def make(name: str) -> Engine:
    """Instantiate an engine by name (raises if its package is missing)."""
    return ENGINES[name]()
