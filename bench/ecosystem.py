"""The xarray and dask rows of the benchmark (run.py's ``xarray`` and ``dask`` workloads).

* xarray: ``xr.open_dataset(...).load()`` of one dataset made of the benchmark arrays plus
  coordinates, with ``engine="zarrs_cffi"``, ``engine="zarr"`` (default pipeline) and
  ``engine="zarr"`` with zarrs-python's codec pipeline.
* dask: ``x.mean().compute()`` over each 512^3 array on the threaded scheduler and on a
  2-process ``LocalCluster`` (loopback, dashboard off): ``zarrs_cffi.to_dask`` vs
  ``da.from_zarr`` (zarr-python) vs tensorstore through ``da.from_array``; blocks are the stored
  chunks for every engine. The scheduler's own cost per block is measured on a graph of the same
  shape whose tasks do nothing.

The xarray dataset does not copy the arrays: each variable is a directory holding the array's
``zarr.json`` with ``dimension_names`` added and a symlink to its chunk directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
import time
from pathlib import Path

import numpy as np
import order

XARRAY_ENGINES = ("zarrs_cffi", "zarr", "zarr+zarrs-python")
DASK_ENGINES = ("zarrs_cffi", "zarr-python", "tensorstore")
SCHEDULERS = ("threads", "distributed")
XARRAY_NEED, DASK_NEED = 2.0, 1.5  # the targets: speed-up over the fastest peer


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:160]


def _timed(func) -> float:
    t0 = time.perf_counter()
    func()
    return time.perf_counter() - t0


def _median(cell: dict) -> float | None:
    return statistics.median(cell["times"]) if cell.get("times") and not cell.get("error") else None


# -- xarray ----------------------------------------------------------------------------------------
def make_xarray_dataset(root: Path, specs, out: Path) -> Path:
    """A Zarr v3 group at ``out``: the arrays of ``specs`` (linked, not copied) with dimension
    names, 1-d float64 coordinates and attributes; consolidated metadata as to_zarr writes it."""
    import zarr

    # rmtree unlinks the chunk-directory symlinks without following them (the arrays stay intact);
    # zarr's mode="w" is then given an empty directory, so it never walks into a link either.
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    group = zarr.open_group(str(out), mode="w", zarr_format=3, attributes={"title": "zarrs_cffi bench"})
    dims_by_ndim = {3: ["z", "y", "x"], 2: ["row", "col"]}
    sizes = {}
    for spec in specs:
        dims = dims_by_ndim[spec.ndim]
        sizes.update(zip(dims, spec.shape))
        document = json.loads((root / spec.name / "zarr.json").read_text())
        document["dimension_names"] = dims
        document["attributes"] = {"units": "counts", "long_name": spec.description}
        (out / spec.name).mkdir()
        (out / spec.name / "zarr.json").write_text(json.dumps(document))
        os.symlink(root / spec.name / "c", out / spec.name / "c")
    for dim, n in sizes.items():
        coord = group.create_array(dim, shape=(n,), dtype="f8", chunks=(n,), dimension_names=[dim])
        coord[:] = np.arange(n) * 0.5
        coord.attrs.update({"units": "m", "axis": dim[0].upper()})
    zarr.consolidate_metadata(str(out))
    return out


def _open_xarray(engine: str, path: Path):
    import xarray as xr

    if engine == "zarrs_cffi":
        return lambda: xr.open_dataset(path, engine="zarrs_cffi").load()
    if engine == "zarr":
        return lambda: xr.open_dataset(path, engine="zarr").load()
    import zarr
    import zarrs  # noqa: F401  (raises if zarrs-python is missing)

    def with_zarrs_pipeline():
        # The pipeline is bound when an array is opened, so it is set around the whole open+load.
        with zarr.config.set({"codec_pipeline.path": "zarrs.ZarrsCodecPipeline"}):
            return xr.open_dataset(path, engine="zarr").load()

    return with_zarrs_pipeline


def measure_xarray(root: Path, specs, rounds: int, log) -> dict:
    """Medians of open_dataset(...).load() per engine, each result checked against zarr's."""
    import xarray as xr

    path = make_xarray_dataset(root, specs, root.parent / f"{root.name}-xarray.zarr")
    nbytes = sum(spec.nbytes for spec in specs)
    cells: dict = {name: {"times": [], "error": None} for name in XARRAY_ENGINES}
    calls = {}
    for name in XARRAY_ENGINES:
        try:
            calls[name] = _open_xarray(name, path)
        except Exception as exc:
            cells[name]["error"] = _short(exc)
    reference = xr.open_dataset(path, engine="zarr").load()
    for rnd in range(rounds):
        for name in order.round_order(list(calls), rnd):
            if cells[name]["error"]:
                continue
            try:
                if rnd == 0:
                    xr.testing.assert_identical(calls[name](), reference)
                cells[name]["times"].append(_timed(calls[name]))
            except Exception as exc:
                cells[name]["error"] = _short(exc)
        log(f"   xarray round {rnd + 1}/{rounds} done")
    return {"dataset": [s.name for s in specs], "bytes": nbytes, "engines": cells}


# -- dask ------------------------------------------------------------------------------------------
def _dask_array(engine: str, root: Path, name: str):
    import dask.array as da

    if engine == "zarrs_cffi":
        import zarrs_cffi

        return zarrs_cffi.to_dask(str(root), "/" + name)
    if engine == "zarr-python":
        return da.from_zarr(str(root), component=name)
    source = TensorStoreBlocks(root, name)
    meta = np.empty((0,) * source.ndim, source.dtype)
    return da.from_array(source, chunks=source.chunks, lock=False, asarray=False, meta=meta)


class TensorStoreBlocks:
    """A tensorstore array as dask's ``from_array`` wants it (numpy dtype, ``__getitem__`` that
    reads), blocked by its read chunks. Pickles by its spec: workers reopen it."""

    def __init__(self, root: Path, name: str) -> None:
        import tensorstore as ts

        self.root, self.name = root, name
        spec = {"driver": "zarr3", "kvstore": {"driver": "file", "path": str(root / name)}}
        self.array = ts.open(spec, read=True).result()
        self.shape = tuple(self.array.shape)
        self.ndim = len(self.shape)
        self.dtype = np.dtype(self.array.dtype.numpy_dtype)
        self.chunks = tuple(self.array.chunk_layout.read_chunk.shape)

    def __getitem__(self, region):
        return self.array[region].read().result()

    def __reduce__(self):
        return (TensorStoreBlocks, (self.root, self.name))


def _noop_like(x):
    """A graph with ``x``'s blocks whose tasks do (almost) nothing: the scheduler's own cost."""
    import dask.array as da

    tiny = da.zeros(x.shape, chunks=x.chunks, dtype=x.dtype).map_blocks(
        lambda b: np.zeros((1,) * b.ndim, b.dtype), chunks=tuple((1,) * len(c) for c in x.chunks)
    )
    return tiny.sum()


def measure_dask(root: Path, specs, rounds: int, log) -> dict:
    """Medians of x.mean().compute() per array, scheduler and engine, plus per-block overhead."""
    from dask.distributed import Client, LocalCluster

    results: dict = {}
    overhead: dict = {}
    cluster_kwargs = dict(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1")
    cluster = LocalCluster(**cluster_kwargs, dashboard_address=None, silence_logs=40)
    with cluster, Client(cluster) as client:
        for spec in specs:
            expected = None
            cells = results[spec.name] = {
                s: {e: {"times": [], "error": None} for e in DASK_ENGINES} for s in SCHEDULERS
            }
            arrays = {}
            for engine in DASK_ENGINES:
                try:
                    arrays[engine] = _dask_array(engine, root, spec.name)
                except Exception as exc:
                    for sched in SCHEDULERS:
                        cells[sched][engine]["error"] = _short(exc)
            for sched in SCHEDULERS:

                def compute(graph, sched=sched):
                    if sched == "threads":
                        return graph.compute(scheduler="threads")
                    return client.compute(graph, sync=True)

                for engine in arrays:  # untimed: workers import and open before the first timing
                    with contextlib.suppress(Exception):
                        compute(arrays[engine].mean(dtype="f8"))
                for rnd in range(rounds):
                    for engine in order.round_order(list(arrays), rnd):
                        cell = cells[sched][engine]
                        if cell["error"]:
                            continue
                        try:
                            mean = arrays[engine].mean(dtype="f8")
                            t0 = time.perf_counter()
                            value = float(compute(mean))
                            cell["times"].append(time.perf_counter() - t0)
                            expected = value if expected is None else expected
                            if not np.isclose(value, expected, rtol=1e-9):
                                raise AssertionError(f"mean {value} differs from {expected}")
                        except Exception as exc:
                            cell["error"] = _short(exc)
                if "zarrs_cffi" in arrays:
                    noop = _noop_like(arrays["zarrs_cffi"])
                    blocks = int(np.prod(arrays["zarrs_cffi"].numblocks))
                    with contextlib.suppress(Exception):
                        compute(noop)  # warm-up
                        t = statistics.median(_timed(lambda noop=noop: compute(noop)) for _ in range(3))
                        overhead.setdefault(spec.name, {})[sched] = {
                            "blocks": blocks,
                            "per_block_s": t / blocks,
                        }
            log(f"   dask {spec.name} done")
    return {"results": results, "overhead": overhead}


# -- report ----------------------------------------------------------------------------------------
def _fmt(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.3g} s" if seconds >= 1 else f"{seconds * 1e3:.3g} ms"


def _cell(cell: dict) -> str:
    t = _median(cell)
    return _fmt(t) if t is not None else f"failed: {cell.get('error') or 'no timings'}"


def _speedup(cells: dict) -> tuple[float | None, str]:
    ours = _median(cells["zarrs_cffi"])
    peers = [
        (t, name) for name, cell in cells.items() if name != "zarrs_cffi" and (t := _median(cell)) is not None
    ]
    if ours is None or not peers:
        return None, "-"
    fastest, who = min(peers)
    return fastest / ours, f"{fastest / ours:.2f}x vs {who}"


def target_rows(xarray_run: dict | None, dask_run: dict | None, row) -> list[dict]:
    """The issue's xarray and dask targets, as targets.py rows (``row`` is targets._row)."""
    out = []
    for what, failed in (("xarray", xarray_run), ("dask", dask_run)):
        if failed and "error" in failed:
            out.append(row(f"{what} rows", "-", "-", "-", None, failed["error"]))
    xarray_run = None if xarray_run and "error" in xarray_run else xarray_run
    dask_run = None if dask_run and "error" in dask_run else dask_run
    if xarray_run:
        ratio, text = _speedup(xarray_run["engines"])
        out.append(
            row(
                "xarray open_dataset().load() >= 2x fastest",
                "xarray dataset",
                text,
                f">= {XARRAY_NEED}x",
                None if ratio is None else ratio >= XARRAY_NEED,
            )
        )
    if dask_run:
        for ds, by_sched in dask_run["results"].items():
            for sched, cells in by_sched.items():
                ratio, text = _speedup(cells)
                out.append(
                    row(
                        f"dask mean ({sched}) >= 1.5x fastest",
                        ds,
                        text,
                        f">= {DASK_NEED}x",
                        None if ratio is None else ratio >= DASK_NEED,
                    )
                )
    return out


def markdown(xarray_run: dict | None, dask_run: dict | None, table) -> list[str]:
    """RESULTS.md sections (``table`` is report._md_table)."""
    lines: list[str] = []
    xarray_run = None if xarray_run and "error" in xarray_run else xarray_run
    dask_run = None if dask_run and "error" in dask_run else dask_run
    if xarray_run:
        size = xarray_run["bytes"] / 2**20
        lines += [
            "",
            f"## xarray: open_dataset(...).load() of the benchmark arrays plus coordinates ({size:.0f} MiB)",
            "",
        ]
        lines += [
            "One Zarr v3 group (consolidated) whose variables are the arrays "
            f"{', '.join(xarray_run['dataset'])} with dimension names, plus 1-d float64 coordinates."
            ' Each result is checked with `xr.testing.assert_identical` against engine="zarr" in the first round.',
            "",
        ]
        _, text = _speedup(xarray_run["engines"])
        lines += table(
            ["engine", "median", "speed-up of zarrs_cffi"],
            [[n, _cell(c), text if n == "zarrs_cffi" else ""] for n, c in xarray_run["engines"].items()],
        )
    if dask_run:
        lines += ["", "## dask: x.mean().compute() over the 512^3 arrays (blocks = stored chunks)", ""]
        lines += [
            "Threaded scheduler, and a LocalCluster of 2 worker processes x 1 thread on 127.0.0.1."
            " zarrs_cffi.to_dask vs da.from_zarr (zarr-python default pipeline) vs tensorstore via"
            " da.from_array. Scheduler overhead: a graph with the same blocks whose tasks return one"
            " element, time / blocks.",
            "",
        ]
        rows = []
        for ds, by_sched in dask_run["results"].items():
            for sched, cells in by_sched.items():
                over = dask_run["overhead"].get(ds, {}).get(sched)
                over_text = f"{over['per_block_s'] * 1e6:.0f} us x {over['blocks']} blocks" if over else "-"
                rows.append(
                    [ds, sched, *(_cell(cells[e]) for e in DASK_ENGINES), _speedup(cells)[1], over_text]
                )
        lines += table(
            ["array", "scheduler", *DASK_ENGINES, "speed-up of zarrs_cffi", "scheduler overhead"], rows
        )
    return lines
