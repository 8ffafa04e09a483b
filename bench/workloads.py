"""The workloads: per-dataset context (buffers, regions) and one timed call each.

Each ``run`` call does its set-up untimed, times only the engine's work with
``time.perf_counter``, and, when asked, checks the result against the
in-memory reference data (a wrong answer is an error, not a time).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from datasets import DatasetSpec

WORKLOADS = {
    "read_new": "whole array, new array",
    "read_into": "whole array into reused buffer",
    "chunks": "every chunk, one by one",
    "regions": "random small regions",
    "unaligned": "one unaligned region",
    "write": "whole-array write",
    "one_thread": "two halves, one thread",
    "two_threads": "two halves, two threads",
}
FLOOR_WORKLOADS = ("read_into",)  # the only workload floors take part in


class WrongResult(AssertionError):
    """An engine returned data that differs from the reference."""


def small_region_shape(spec: DatasetSpec) -> tuple[int, ...]:
    """8x8x8 in 3-D; the same 512 elements in 2-D (16x32)."""
    return (8, 8, 8) if spec.ndim == 3 else (16, 32)


def random_regions(spec: DatasetSpec, count: int, seed: int = 12345) -> list:
    """``count`` random small regions (same list for every engine)."""
    rng = np.random.default_rng(seed)
    size = small_region_shape(spec)
    starts = [rng.integers(0, n - s + 1, size=count) for n, s in zip(spec.shape, size, strict=True)]
    return [
        tuple(slice(int(st[i]), int(st[i]) + s) for st, s in zip(starts, size, strict=True))
        for i in range(count)
    ]


def chunk_regions(spec: DatasetSpec) -> list:
    """Every read chunk (inner chunk when sharded), in C order."""
    counts = [-(-n // c) for n, c in zip(spec.shape, spec.chunks, strict=True)]
    return [
        tuple(slice(i * c, min((i + 1) * c, n)) for i, c, n in zip(idx, spec.chunks, spec.shape, strict=True))
        for idx in np.ndindex(*counts)
    ]


def unaligned_region(spec: DatasetSpec) -> tuple[slice, ...]:
    """About 40% of each axis, starting mid-chunk and ending mid-chunk."""
    out = []
    for n, c in zip(spec.shape, spec.chunks, strict=True):
        start = c // 2 + 3
        out.append(slice(start, min(n, start + int(n * 0.4) + 7)))
    return tuple(out)


def shape_of(region) -> tuple[int, ...]:
    """Shape of a tuple-of-slices region."""
    return tuple(s.stop - s.start for s in region)


@dataclass
class Context:
    """Everything a dataset's workloads need, built once per dataset."""

    spec: DatasetSpec
    root: Path
    data: np.ndarray
    n_regions: int
    scratch: Path
    out: np.ndarray = field(init=False)
    chunks: list = field(init=False)
    regions: list = field(init=False)
    unaligned: tuple = field(init=False)
    halves: list = field(init=False)
    writes: int = 0  # write roots made so far (each write gets a fresh one)

    def __post_init__(self) -> None:
        spec = self.spec
        self.out = np.zeros(spec.shape, spec.dtype)  # touched: no page faults in timings
        self.chunks = chunk_regions(spec)
        self.chunk_buf = np.zeros(shape_of(self.chunks[0]), spec.dtype)
        self.regions = random_regions(spec, self.n_regions)
        self.region_buf = np.zeros(small_region_shape(spec), spec.dtype)
        self.unaligned = unaligned_region(spec)
        self.unaligned_buf = np.zeros(shape_of(self.unaligned), spec.dtype)
        mid = spec.shape[0] // 2
        rest = tuple(slice(0, n) for n in spec.shape[1:])
        self.halves = [(slice(0, mid), *rest), (slice(mid, spec.shape[0]), *rest)]
        self.pool = ThreadPoolExecutor(2)
        list(self.pool.map(lambda _: None, range(2)))  # start both threads now

    def close(self) -> None:
        """Stop the two-thread pool; delete what the write workload wrote."""
        self.pool.shutdown()
        for root in self.scratch.glob("write-*"):
            shutil.rmtree(root, ignore_errors=True)
        os.sync()  # clean inode tables: ext4 then treats the freed inodes as recent for less long


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise WrongResult(f"wrong result ({what})")


def _prepare_write(ctx: Context, engine_name: str) -> Path:
    """Fresh store root holding an empty copy of the dataset's array metadata.

    Every write gets a new root; written roots are deleted only after the dataset's last round
    (`Context.close`), and their page cache is dropped right after each write
    (`_drop_cached_pages`). Both keep the kernel's state left by one engine's write out of the
    next engine's timing, measured on this VM with the 256 MiB raw write (every engine alike):

    * deleting a write's ~600 files just before the next write: this ext4 has no journal, and
      its inode allocator then passes over every inode freed in the last minute, one by one, on
      each create (`find_inode_bit` -> `recently_deleted`, a third of a profile): 150-480 ms;
    * keeping the written files cached: new page cache comes from memory untouched for long
      (`copy_folio_from_iter_atomic` 40 % of a profile): 390-480 ms;
    * neither (this): 49-124 ms.
    """
    ctx.writes += 1
    root = ctx.scratch / f"write-{ctx.writes}-{engine_name.replace(':', '_')}"
    shutil.rmtree(root, ignore_errors=True)
    (root / ctx.spec.name).mkdir(parents=True)
    (root / "zarr.json").write_text(json.dumps({"zarr_format": 3, "node_type": "group"}))
    shutil.copy(ctx.root / ctx.spec.name / "zarr.json", root / ctx.spec.name / "zarr.json")
    return root


def _warm_up_write(engine, ctx: Context) -> None:
    """One untimed write before the first timed one (round 0). The first write of a dataset on
    this machine ran 200-300 ms slower than later ones whichever engine made it (raw: zarrista
    280 then 105-178 ms, zarrs_cffi 297 then 101-116 ms, each first in turn), and round 0 always
    starts with the same engine."""
    root = _prepare_write(ctx, engine.name)
    engine.write_full(ctx.data, root, ctx.spec.name)
    _settle_written(root)


def _settle_written(root: Path) -> None:
    """Flush a write's dirty pages now, not during the next timing, then evict its files from
    the page cache (`_prepare_write` says why)."""
    os.sync()
    _drop_cached_pages(root)


def _drop_cached_pages(root: Path) -> None:
    """Evict the (synced, clean) files under ``root`` from the page cache."""
    for path in root.rglob("*"):
        if path.is_file():
            _drop_file_pages(path)


def _drop_file_pages(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _verify_written(ctx: Context, root: Path) -> None:
    """Read back first, middle and last chunks with zarr-python and compare."""
    import zarr

    arr = zarr.open_array(store=str(root), path=ctx.spec.name, mode="r")
    for region in (ctx.chunks[0], ctx.chunks[len(ctx.chunks) // 2], ctx.chunks[-1]):
        _check(np.array_equal(arr[region], ctx.data[region]), "written data")


def _halves(engine, ctx: Context, concurrent: bool) -> None:
    pairs = [(h, ctx.out[h[0]]) for h in ctx.halves]  # contiguous views along axis 0
    if concurrent:
        for fut in [ctx.pool.submit(engine.read_half, h, o) for h, o in pairs]:
            fut.result()
    else:
        for h, o in pairs:
            engine.read_half(h, o)


def _call(engine, ctx: Context, workload: str, write_root: Path | None):
    """The timed part of one workload; returns what the engine returned."""
    if workload == "read_new":
        return engine.read_full_new()
    if workload == "read_into":
        return engine.read_full_into(ctx.out)
    if workload == "chunks":
        return engine.read_chunks_one_by_one(ctx.chunks, ctx.chunk_buf)
    if workload == "regions":
        return engine.read_regions(ctx.regions, ctx.region_buf)
    if workload == "unaligned":
        return engine.read_unaligned(ctx.unaligned, ctx.unaligned_buf)
    if workload == "write":
        return engine.write_full(ctx.data, write_root, ctx.spec.name)
    if workload in ("one_thread", "two_threads"):
        return _halves(engine, ctx, concurrent=workload == "two_threads")
    raise ValueError(f"unknown workload {workload!r}")


def run(engine, ctx: Context, workload: str, verify: bool) -> float:
    """Time one call of ``workload`` on ``engine``; seconds."""
    halves = workload in ("one_thread", "two_threads")
    if verify and (halves or workload == "read_into"):
        ctx.out.fill(0)
    if workload == "write" and verify:
        _warm_up_write(engine, ctx)
    root = _prepare_write(ctx, engine.name) if workload == "write" else None
    engine.start_cold()
    with engine.halves_context() if halves else contextlib.nullcontext():
        t0 = time.perf_counter()
        res = _call(engine, ctx, workload, root)
        elapsed = time.perf_counter() - t0
    if root is not None:
        if verify:
            _verify_written(ctx, root)
        _settle_written(root)
    elif verify:
        _verify_read(ctx, workload, res)
    return elapsed


def _verify_read(ctx: Context, workload: str, res) -> None:
    expected = {
        "read_new": ctx.data,
        "read_into": ctx.data,
        "one_thread": ctx.data,
        "two_threads": ctx.data,
        "chunks": ctx.data[ctx.chunks[-1]],
        "regions": ctx.data[ctx.regions[-1]] if ctx.regions else None,
        "unaligned": ctx.data[ctx.unaligned],
    }[workload]
    if workload in ("one_thread", "two_threads", "read_into"):
        res = ctx.out
    if expected is not None:
        _check(np.array_equal(np.asarray(res), expected), workload)
