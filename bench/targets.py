"""The targets from the issue, checked against one run's medians.

Each check yields a row: target, dataset, measured value, what is needed, and
PASS / FAIL / N/A (with the reason when it cannot be judged).
"""

from __future__ import annotations

import statistics

from engines import PEERS

MIB = 1 << 20
UNCOMPRESSED = "u16_raw"
SUBJECT = "zarrs_cffi"


def median(results: dict, ds: str, wl: str, engine: str) -> float | None:
    """Median seconds, or None if missing or failed."""
    cell = results.get(ds, {}).get(wl, {}).get(engine)
    if not cell or cell.get("error") or not cell.get("times"):
        return None
    return statistics.median(cell["times"])


def error(results: dict, ds: str, wl: str, engine: str) -> str:
    """Why a cell has no time."""
    cell = results.get(ds, {}).get(wl, {}).get(engine)
    if not cell:
        return "not run"
    return cell.get("error") or "no timings"


def fastest_peer(results: dict, ds: str, wl: str) -> tuple[str, float] | None:
    """(name, median) of the fastest peer that produced a time."""
    times = [(median(results, ds, wl, p), p) for p in PEERS]
    times = [(t, p) for t, p in times if t is not None]
    return (min(times)[1], min(times)[0]) if times else None


def _row(target, ds, value, need, ok, note=""):
    status = "N/A" if ok is None else ("PASS" if ok else "FAIL")
    return {"target": target, "dataset": ds, "value": value, "need": need, "status": status, "note": note}


def _vs_peer(results, ds, wl, need, label):
    """zarrs_cffi speed-up over the fastest peer (peer time / our time)."""
    ours = median(results, ds, wl, SUBJECT)
    peer = fastest_peer(results, ds, wl)
    if ours is None:
        return _row(label, ds, "-", f">= {need}x", None, f"{SUBJECT}: {error(results, ds, wl, SUBJECT)}")
    if peer is None:
        return _row(label, ds, "-", f">= {need}x", None, "no peer produced a time")
    ratio = peer[1] / ours
    return _row(label, ds, f"{ratio:.2f}x vs {peer[0]}", f">= {need}x", ratio >= need)


def check(results: dict, memory: dict, overhead: dict | None) -> list[dict]:
    """Every target on every dataset it applies to."""
    rows = []
    datasets = list(results)
    for ds in datasets:
        rows.append(_vs_peer(results, ds, "read_into", 2.0, "read_into >= 2x fastest peer"))
    if UNCOMPRESSED in results:
        ours = median(results, UNCOMPRESSED, "read_into", SUBJECT)
        floor = median(results, UNCOMPRESSED, "read_into", "floor:memory")
        label = "uncompressed read_into >= 40% of memory floor"
        if ours is None or floor is None:
            why = error(results, UNCOMPRESSED, "read_into", SUBJECT if ours is None else "floor:memory")
            rows.append(_row(label, UNCOMPRESSED, "-", ">= 0.40", None, why))
        else:
            rows.append(_row(label, UNCOMPRESSED, f"{floor / ours:.2f}", ">= 0.40", floor / ours >= 0.4))
    for wl, label in (("chunks", "chunk-by-chunk"), ("unaligned", "unaligned region")):
        for ds in datasets:
            rows.append(_vs_peer(results, ds, wl, 1.5, f"{label} >= 1.5x fastest peer"))
    for ds in datasets:
        rows.append(_vs_peer(results, ds, "regions", 3.0, "small regions <= 1/3 of fastest peer's time"))
    for ds in datasets:
        rows.append(_vs_peer(results, ds, "write", 1.0, "write >= fastest peer"))
    for ds in datasets:
        for wl in ("read_into", "write"):
            rows.append(_pipeline(results, ds, wl))
    for ds in datasets:
        rows.append(_threads(results, ds))
    for ds in datasets:
        rows.append(_memory(memory.get(ds, {}).get(SUBJECT), ds))
    rows.append(_overhead(overhead))
    return rows


PIPELINE = "zarr+zarrs_cffi"
ZARRS_PIPELINE = "zarrs-python"


def _pipeline(results, ds, wl):
    """zarr-python with this package's codec pipeline vs with zarrs-python's (issue: >= 1.5x on
    whole-array reads and writes)."""
    label = f"zarr pipeline {wl} >= 1.5x zarrs-python's pipeline"
    ours, theirs = median(results, ds, wl, PIPELINE), median(results, ds, wl, ZARRS_PIPELINE)
    if ours is None or theirs is None:
        who = PIPELINE if ours is None else ZARRS_PIPELINE
        return _row(label, ds, "-", ">= 1.5x", None, f"{who}: {error(results, ds, wl, who)}")
    return _row(label, ds, f"{theirs / ours:.2f}x", ">= 1.5x", theirs / ours >= 1.5)


def _threads(results, ds):
    label = "two threads >= 1.6x one thread"
    one = median(results, ds, "one_thread", SUBJECT)
    two = median(results, ds, "two_threads", SUBJECT)
    if one is None or two is None:
        wl = "one_thread" if one is None else "two_threads"
        return _row(label, ds, "-", ">= 1.6x", None, f"{SUBJECT}: {error(results, ds, wl, SUBJECT)}")
    return _row(label, ds, f"{one / two:.2f}x", ">= 1.6x", one / two >= 1.6)


def _memory(entry, ds):
    label = "read_into peak RSS delta <= 1.1 x output + 64 MiB"
    if not entry:
        return _row(label, ds, "-", "-", None, "not run")
    if "error" in entry:
        return _row(label, ds, "-", "-", None, f"{SUBJECT}: {entry['error']}")
    limit = 1.1 * entry["out_bytes"] + 64 * MIB
    value = f"{entry['delta_bytes'] / MIB:.0f} MiB"
    return _row(label, ds, value, f"<= {limit / MIB:.0f} MiB", entry["delta_bytes"] <= limit)


OVERHEAD_LIMIT_NS = 5_000  # the bound on Python-side cost per small read_into


def _overhead(entry):
    label = "Python overhead of one small read_into vs C loop"
    need = f"<= {OVERHEAD_LIMIT_NS / 1000:.0f} us"
    if not entry:
        return _row(label, "-", "-", need, None, "not run")
    if "error" in entry:
        return _row(label, entry.get("dataset", "-"), "-", need, None, entry["error"])
    if "overhead_ns" not in entry:
        py = f"python {entry['python_ns'] / 1000:.1f} us/call"
        return _row(label, entry["dataset"], py, need, None, entry["c_status"])
    value = (
        f"{entry['overhead_ns'] / 1000:.1f} us (python {entry['python_ns'] / 1000:.1f}"
        f" vs C {entry['c_ns'] / 1000:.1f} us/call)"
    )
    ok = entry["overhead_ns"] <= OVERHEAD_LIMIT_NS
    return _row(label, entry["dataset"], value, need, ok, "measured")
