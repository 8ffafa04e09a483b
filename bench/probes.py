"""Measurements taken outside the timed rounds.

* Peak memory of one whole-array ``read_into``, in a fresh subprocess
  (``python probes.py memory ENGINE ROOT NODE DTYPE``): the peak RSS reached during
  the call (allocation of the output included) minus the RSS before it.
* Python-side overhead of one small ``read_into`` call, against the same call
  from a C loop: run ``bench/c_overhead`` if it exists (see README.md), alternating with the
  Python loop.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
C_OVERHEAD = HERE / "c_overhead"


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (Linux); False if not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def memory_main(engine_name: str, root: str, node: str, dtype: str) -> dict:
    """In this (fresh) process: RSS delta of one whole-array read_into."""
    import engines

    engine = engines.make(engine_name)
    engine.open(Path(root), node)
    baseline = _status_kib("VmRSS")
    exact = _reset_peak()
    before_max = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = np.empty(engine.shape, dtype)
    engine.read_full_into(out)
    peak = _status_kib("VmHWM") if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "delta_bytes": (peak - baseline) * 1024,
        "out_bytes": out.nbytes,
        "method": "VmHWM after clear_refs" if exact else "ru_maxrss (lower bound)",
        "peak_before_kib": before_max,
    }


def measure_memory(engine_name: str, root: Path, node: str, dtype: str, timeout=900) -> dict:
    """Run ``memory_main`` in a fresh interpreter; ``{"error": ...}`` on failure."""
    cmd = [sys.executable, str(HERE / "probes.py"), "memory", engine_name, str(root), node, dtype]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f}s"}
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        return {"error": last[:200]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def python_call_ns(engine, region, dtype, iterations: int = 2000, batches: int = 5) -> float:
    """Median per-call time (ns) of one small read into a buffer, made the way the small-regions
    workload makes it (zarrs_cffi: through its decoded-chunk cache, as bench/c_overhead does)."""
    buf = np.zeros(tuple(s.stop - s.start for s in region), dtype)
    for _ in range(50):
        engine.read_small(region, buf)
    per_call = []
    for _ in range(batches):
        t0 = time.perf_counter_ns()
        for _ in range(iterations):
            engine.read_small(region, buf)
        per_call.append((time.perf_counter_ns() - t0) / iterations)
    return statistics.median(per_call)


def c_call_ns(root: Path, node: str, region, iterations: int = 2000) -> float | str:
    """Per-call ns from ``bench/c_overhead``, or the reason it is not measured."""
    if not C_OVERHEAD.exists():
        return "not measured (no bench/c_overhead)"
    spec = ",".join(f"{s.start}:{s.stop}" for s in region)
    cmd = [str(C_OVERHEAD), str(root), "/" + node, spec, str(iterations)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"not measured ({exc})"
    if proc.returncode != 0:
        return f"not measured (c_overhead exit {proc.returncode}: {proc.stderr.strip()[-150:]})"
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    try:
        value = json.loads(last)
        return float(value["ns_per_call"] if isinstance(value, dict) else value)
    except (ValueError, KeyError, TypeError):
        return f"not measured (unparsable c_overhead output {last[:80]!r})"


def measure_overhead(engine, root: Path, node: str, dtype: str, pairs: int = 5) -> dict:
    """Python vs C per-call time of one 8^3 (2-D: 16x32) read_into at the origin.

    The Python and the C measurements alternate (``pairs`` of each, medians): measured one after
    the other, the machine's drift between them (this VM's speed moves by 20-30 % within seconds)
    would land in the difference."""
    region = tuple(slice(0, 8) for _ in engine.shape)
    if len(engine.shape) == 2:
        region = (slice(0, 16), slice(0, 32))
    result: dict = {"dataset": node, "region": [[s.start, s.stop] for s in region], "pairs": pairs}
    py_samples, c_samples = [], []
    for _ in range(pairs):
        py_samples.append(python_call_ns(engine, region, dtype))
        c_ns = c_call_ns(root, node, region)
        if not isinstance(c_ns, float):
            result.update(python_ns=statistics.median(py_samples), c_status=c_ns)
            return result
        c_samples.append(c_ns)
    py_ns, c_ns = statistics.median(py_samples), statistics.median(c_samples)
    result.update(python_ns=py_ns, c_ns=c_ns, overhead_ns=py_ns - c_ns)
    return result


if __name__ == "__main__":
    if len(sys.argv) != 6 or sys.argv[1] != "memory":
        sys.exit("usage: probes.py memory ENGINE ROOT NODE DTYPE")
    print(json.dumps(memory_main(*sys.argv[2:])))
