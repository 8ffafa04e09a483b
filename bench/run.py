"""Run the zarrs_cffi benchmark: datasets, engines, floors, rounds, report.

    bench/.venv/bin/python bench/run.py [--quick] [--rounds N] [--only DS,...]
                                        [--workloads WL,...] [--engines E,...]

Per dataset: generate (or reuse) it, open every engine once, then for each
round run every workload on every engine, in an order that changes every round
so that each engine follows every other equally often (`order.py` says why);
the first round also checks every result against the reference data. After
the rounds come the peak-memory probes (fresh subprocesses) and the call
overhead probe. Writes RESULTS.md, a PNG chart and the raw timings (JSON).
"""

from __future__ import annotations

import os

# numpy's OpenBLAS starts one spinning thread per core; none of the workloads call BLAS, but on
# two cores the spinning took 3-5 % of every engine's CPU in profiles. Set before numpy loads;
# the same for every engine (and inherited by the probes' subprocesses).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import datetime
import json
import platform
import shlex
import sys
import time
from importlib import metadata
from pathlib import Path

import datasets
import ecosystem
import engines
import floors
import freshness
import order
import probes
import report
import targets
import workloads

HERE = Path(__file__).resolve().parent
SETTLE_SECONDS = 0.05  # pause before every timed call
REPO = HERE.parent
PACKAGES = {
    "zarrs_cffi": "zarrs_cffi",
    "zarr-python": "zarr",
    "zarrs-python": "zarrs",
    "zarrista": "zarrista",
    "tensorstore": "tensorstore",
    "zarr+zarrs_cffi": "zarrs_cffi",
}
EXTRA = ("memory", "overhead", "xarray", "dask")


def log(msg: str) -> None:
    """Progress line, flushed at once."""
    print(msg, flush=True)


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny datasets (64^3), for smoke runs")
    p.add_argument("--rounds", type=int, default=7, help="timed rounds (default 7)")
    p.add_argument("--only", help="comma-separated dataset names (default: all)")
    p.add_argument("--workloads", help=f"comma-separated, from {', '.join([*workloads.WORKLOADS, *EXTRA])}")
    p.add_argument("--engines", help=f"comma-separated, from {', '.join(engines.ENGINES)}")
    p.add_argument("--regions", type=int, help="random small regions (default 2000; 200 with --quick)")
    p.add_argument("--out", type=Path, default=HERE / "RESULTS.md", help="report path")
    p.add_argument(
        "--report-from",
        type=Path,
        metavar="JSON",
        help="measure nothing: rewrite the report (tables, chart, targets, ANALYSIS.md) from a saved run",
    )
    args = p.parse_args(argv)
    args.regions = args.regions or (200 if args.quick else 2000)
    return args


def _pick(value: str | None, allowed, what: str) -> list[str]:
    if not value:
        return list(allowed)
    chosen = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in chosen if v not in allowed]
    if unknown:
        sys.exit(f"unknown {what}: {', '.join(unknown)} (choose from {', '.join(allowed)})")
    return chosen


def engine_status(names: list[str]) -> dict:
    """Install/import status and version of each engine; never raises."""
    peer_file = HERE / ".venv" / "peer_status.json"
    installed = json.loads(peer_file.read_text()) if peer_file.exists() else {}
    status = {}
    for name in names:
        info = installed.get(PACKAGES[name], {})
        try:
            engines.make(name)
        except Exception as exc:
            why = f"import failed: {type(exc).__name__}: {exc}"
            if info.get("status", "ok") != "ok":
                why = f"install {info['status']}: {info.get('error', '')}; {why}"
            status[name] = {"status": "failed", "error": why.strip()[:200], "version": info.get("version")}
            continue
        status[name] = {"status": "ok", "version": _version(PACKAGES[name])}
    return status


def _refuse_stale_package() -> None:
    """Exit if the imported zarrs_cffi is not the repository's current code."""
    import zarrs_cffi

    installed = Path(zarrs_cffi.__file__).parent
    differing = freshness.differing_files(installed)
    if differing:
        sys.exit(
            f"the zarrs_cffi in {installed} is not this repository's current"
            f" code ({len(differing)} files differ, e.g. {', '.join(differing[:3])}): run"
            " `bash bench/setup_env.sh` first (`make bench` does)"
        )


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        module = sys.modules.get(package)
        return (
            f"{getattr(module, '__version__', '?')} (not pip-installed: {getattr(module, '__file__', '?')})"
        )


def machine_info() -> dict:
    """What the run ran on."""
    import numpy
    import psutil

    lines = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    models = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    cpu = models[0] if models else platform.processor() or "?"
    # The family tells AMD Zen generations apart (17h Zen 1-2, 19h Zen 3-4, 1Ah Zen 5); the
    # kernel's file copy has a misalignment penalty on some of them (zarrs_cffi's src/direct/file_reads.rs).
    family = [line.split(":", 1)[1].strip() for line in lines if line.startswith("cpu family")]
    if family:
        cpu += f" (family {int(family[0]):X}h)"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "os": platform.platform(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "page-cache reclaim": _damon_pageout(),
        "free page reporting": _free_page_reporting(),
    }


def _free_page_reporting() -> str:
    """Whether a virtio balloon takes free guest memory back (it makes fresh memory slow)."""
    reporting_bit = 5  # VIRTIO_BALLOON_F_REPORTING
    for device in Path("/sys/bus/virtio/devices").glob("*"):
        try:
            if (device / "device").read_text().strip() != "0x0005":  # a balloon
                continue
            features = (device / "features").read_text().strip()
        except OSError:
            continue
        if len(features) > reporting_bit and features[reporting_bit] == "1":
            return (
                "on (virtio balloon): memory free for a few seconds goes back to the host and is"
                " slow to touch again, so the engine order changes every round (bench/order.py)"
            )
    return "none found"


def _damon_pageout() -> str:
    """Whether a DAMON scheme pages out idle memory (it evicts the datasets' page cache)."""
    actions = sorted(
        {
            p.read_text().strip()
            for p in Path("/sys/kernel/mm/damon/admin/kdamonds").glob("*/contexts/*/schemes/*/action")
        }
    )
    if "pageout" in actions:
        return "a DAMON pageout scheme is active (idle page cache is evicted; each workload re-reads its dataset untimed first)"
    return "none found"


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".splitlines()[0]
    return text[:160]


def run_dataset(spec, root, args, wl_names, status, run) -> None:
    """All rounds of all workloads on one dataset, then its probes."""
    log(f"== {spec.name} {spec.shape} {spec.dtype} ({spec.description})")
    data = datasets.full_data(spec)
    ctx = workloads.Context(spec, root, data, args.regions, datasets.DATA_DIR / "scratch")
    cells = run["results"][spec.name] = {wl: {} for wl in wl_names}
    live = {}
    for name, info in status.items():
        for wl in wl_names:
            cells[wl][name] = {"times": [], "error": info.get("error")}
        if info["status"] != "ok":
            continue
        try:
            eng = engines.make(name)
            eng.open(root, spec.name)
            eng.read_new(ctx.chunks[0])  # untimed warm-up
            live[name] = eng
        except Exception as exc:
            for wl in wl_names:
                cells[wl][name]["error"] = f"open: {_short(exc)}"
    if "read_into" in wl_names:
        live.update(_floors(spec, root, data, cells["read_into"]))
    for rnd in range(args.rounds):
        for wl in wl_names:
            datasets.warm_page_cache(root, spec)
            names = [n for n in cells[wl] if n in live]
            for name in order.round_order(names, rnd):
                cell = cells[wl][name]
                if cell["error"]:
                    continue
                # Let the previous engine's worker threads go idle first (thread pools spin a
                # while before they sleep, and would take cores from this engine's call).
                time.sleep(SETTLE_SECONDS)
                try:
                    cell["times"].append(workloads.run(live[name], ctx, wl, verify=rnd == 0))
                except Exception as exc:
                    cell["error"] = _short(exc)
                    log(f"   {wl} {name}: {cell['error']}")
        log(f"   round {rnd + 1}/{args.rounds} done")
    if "overhead" in args.extra and "zarrs_cffi" in live and run["overhead"] is None:
        run["overhead"] = _try(
            lambda: probes.measure_overhead(live["zarrs_cffi"], root, spec.name, spec.dtype)
        )
    for eng in live.values():
        eng.close()
    ctx.close()
    if "memory" in args.extra:
        run["memory"][spec.name] = {
            name: (
                probes.measure_memory(name, root, spec.name, spec.dtype)
                if info["status"] == "ok"
                else {"error": info["error"]}
            )
            for name, info in status.items()
        }


def _try(func):
    try:
        return func()
    except Exception as exc:
        return {"error": _short(exc)}


def _floors(spec, root, data, cells) -> dict:
    made = {}
    for name, factory in (
        ("floor:memory", lambda: floors.MemoryFloor(data)),
        ("floor:decode", lambda: floors.DecodeFloor(root / spec.name)),
    ):
        cells[name] = {"times": [], "error": None}
        try:
            made[name] = factory()
        except Exception as exc:
            cells[name]["error"] = _short(exc)
    return made


def main(argv=None) -> int:
    """Entry point."""
    args = parse_args(argv)
    if args.report_from:
        saved = json.loads(args.report_from.read_text())
        specs = [s for s in datasets.all_specs(saved["quick"]) if s.name in saved["results"]]
        return finish(saved, specs, args.out)
    specs = datasets.all_specs(args.quick)
    chosen = _pick(args.only, [s.name for s in specs], "dataset")
    specs = [s for s in specs if s.name in chosen]
    all_wl = _pick(args.workloads, [*workloads.WORKLOADS, *EXTRA], "workload")
    wl_names = [w for w in all_wl if w in workloads.WORKLOADS]
    args.extra = [w for w in all_wl if w in EXTRA]
    status = engine_status(_pick(args.engines, list(engines.ENGINES), "engine"))
    if status.get("zarrs_cffi", {}).get("status") == "ok":
        _refuse_stale_package()
    python = os.path.relpath(sys.executable, Path.cwd()) if sys.executable else "python"
    run = {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "command": " ".join(shlex.quote(a) for a in [python, *sys.argv]),
        "machine": machine_info(),
        "engines": status,
        "quick": args.quick,
        "rounds": args.rounds,
        "n_regions": args.regions,
        "results": {},
        "memory": {},
        "overhead": None,
        "notes": notes(status),
    }
    for name, info in status.items():
        log(f"{name:13s} {info['status']} {info.get('version') or ''} {info.get('error', '')}")
    log("datasets:")
    root = datasets.ensure(specs, args.quick, log)
    overhead_first = sorted(specs, key=lambda s: s.name != targets.UNCOMPRESSED)
    for spec in overhead_first:
        run_dataset(spec, root, args, wl_names, status, run)
        save_json(run, args.out)  # partial results survive a crash in a later dataset
    run["results"] = {s.name: run["results"][s.name] for s in specs}  # table order
    if "xarray" in args.extra:
        log("xarray:")
        run["xarray"] = _try(lambda: ecosystem.measure_xarray(root, specs, args.rounds, log))
    if "dask" in args.extra:
        log("dask:")
        cubes = [s for s in specs if s.ndim == 3]
        run["dask"] = _try(lambda: ecosystem.measure_dask(root, cubes, args.rounds, log))
    if "overhead" in args.extra and run["overhead"] is None:
        subject = status.get("zarrs_cffi", {"error": "not selected"})
        run["overhead"] = {"error": f"zarrs_cffi: {subject.get('error', 'not open')}"}
    return finish(run, specs, args.out)


def notes(status: dict) -> list[str]:
    """How this run measured things that depend on the engines."""
    cores = os.cpu_count()
    out = [
        f"decode floor: {cores} worker threads (one per core).",
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')} for every engine (no workload"
        " calls BLAS; its idle threads spin).",
        f"a {SETTLE_SECONDS * 1000:.0f} ms pause before every timed call, so the previous engine's"
        " worker threads are idle.",
        "engine order: different every round, a Williams design in which each engine comes right"
        " after every other equally often (bench/order.py: a call inherits the memory state the"
        " previous one left).",
        "write: every engine writes each dataset once untimed before its first timed write; every"
        " write goes into a new empty array, then (untimed) os.sync() and its files are evicted"
        " from the page cache; written arrays are deleted after the dataset's last round"
        " (bench/workloads.py `_prepare_write` and `_warm_up_write` say why).",
    ]
    if status.get("zarrs_cffi", {}).get("status") == "ok":
        import zarrs_cffi

        if engines.can_cap_concurrency(zarrs_cffi):
            how = "capped at 1 per call with zarrs_cffi.set_num_threads(1)"
        else:
            how = (
                "not capped (zarrs_cffi has no set_num_threads/get_num_threads): each call may"
                " already use every core, so two threads cannot add much"
            )
        out.append(f"two-halves workloads: zarrs_cffi internal parallelism {how}.")
    return out


def save_json(run: dict, out: Path) -> Path:
    """Raw results beside the report."""
    path = out.resolve().with_suffix(".json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(run, indent=1, default=str))
    return path


def finish(run: dict, specs, out: Path) -> int:
    """Write JSON, chart and RESULTS.md; print the target checks."""
    out = out.resolve()
    save_json(run, out)
    chart = report.make_chart(out.with_suffix(".png"), run["results"])
    checks = targets.check(run["results"], run["memory"], run["overhead"])
    checks += ecosystem.target_rows(run.get("xarray"), run.get("dask"), targets._row)
    report.write_markdown(out, run, specs, checks, chart)
    if out.name != "RESULTS.md" and out.parent == HERE.resolve():
        # A partial run (some engines or datasets) becomes a section of RESULTS.md.
        name = f"partial run {out.stem}"
        report.splice(HERE / "RESULTS.md", report.copied_section(out, name, "Partial run"), name)
    log("\ntargets:")
    for c in checks:
        note = f"  ({c['note']})" if c["note"] else ""
        log(f"  {c['status']:4s} {c['target']} [{c['dataset']}] {c['value']} need {c['need']}{note}")
    log(f"\nwrote {out}, {chart}, {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
