"""Two builds of zarrs_cffi side by side: the same workloads on the same datasets, the builds
alternated round by round (each round in a fresh process per build), medians and new/old ratios
(of the medians, and the median and middle half of the ratios within each round).

Used to show that a change of the native core costs no speed. Each build is a directory that
holds an importable ``zarrs_cffi`` package with its native library (a source tree after
``make build``, or a copy of an installed package's parent directory)::

    python bench/compare_libraries.py --old /path/to/old/tree --new . --rounds 5 \\
        --only u16_zstd,zb_zstd --out bench/COMPARE.md

Workloads (zarrs_cffi only): ``read_into`` of the whole array into a reused buffer;
``chunks``: every chunk (shard, when sharded) read into a new array through a handle with a
512 MiB chunk cache, cleared first; ``regions``: 2,000 random small regions the same way;
``unaligned``: the benchmark's unaligned region; ``write``: the whole array written to a
scratch copy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import datasets  # noqa: E402

WORKER = r"""
import json, shutil, sys, time
from pathlib import Path
import numpy as np
sys.path.insert(0, sys.argv[1])
import datasets, workloads
import zarrs_cffi

root, name, scratch, names = Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4]), sys.argv[5].split(",")
spec = next(s for s in datasets.all_specs(False) if s.name == name)
path = str(root / name)
arr = zarrs_cffi.open_array(path)
cached = zarrs_cffi.open_array(path, chunk_cache_bytes=512 << 20)
out = np.empty(spec.shape, spec.dtype)
regions = workloads.random_regions(spec, 2000)
step = spec.shards or spec.chunks
grid = [range(0, n, c) for n, c in zip(spec.shape, step)]
chunk_boxes = [tuple(slice(i, min(i + c, n)) for i, c, n in zip(idx, step, spec.shape))
               for idx in np.array(np.meshgrid(*grid, indexing="ij")).reshape(len(spec.shape), -1).T]
unaligned = workloads.unaligned_region(spec)

def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start

def scan():
    cached.clear_chunk_cache()
    for box in chunk_boxes:
        cached[box]

def small():
    cached.clear_chunk_cache()
    for box in regions:
        cached[box]

def write():
    target = scratch / name
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(root / name, target, ignore=lambda d, files: [f for f in files if f != "zarr.json"])
    with zarrs_cffi.open_array(str(target)) as w:
        start = time.perf_counter()
        w[...] = data
        return time.perf_counter() - start

data = arr[...]
result = {}
for w in names:
    if w == "read_into":
        arr.read_into(out)
        result[w] = min(timed(lambda: arr.read_into(out)) for _ in range(3))
    elif w == "chunks":
        result[w] = timed(scan)
    elif w == "regions":
        result[w] = timed(small)
    elif w == "unaligned":
        result[w] = min(timed(lambda: arr[unaligned]) for _ in range(3))
    elif w == "write":
        result[w] = write()
print(json.dumps(result))
"""

WORKLOADS = ["read_into", "chunks", "regions", "unaligned", "write"]


def run_round(build: Path, root: Path, name: str, scratch: Path, names: list[str]) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(build))
    result = subprocess.run(
        [sys.executable, "-c", WORKER, str(HERE), str(root), name, str(scratch), ",".join(names)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"{build} on {name} failed:\n{result.stderr}")
    return json.loads(result.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--old", type=Path, required=True)
    parser.add_argument("--new", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", default="")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    specs = [s for s in datasets.all_specs(False) if not args.only or s.name in args.only.split(",")]
    root = datasets.ensure(specs, quick=False)
    names = args.workloads.split(",")
    lines = [
        "| dataset | workload | old (ms) | new (ms) | new/old | paired new/old | middle half of paired |",
        "|---|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory(dir=HERE) as scratch:
        for spec in specs:
            times: dict[str, dict[str, list[float]]] = {"old": {}, "new": {}}
            for k in range(args.rounds):
                order = [("old", args.old), ("new", args.new)]
                for label, build in order if k % 2 == 0 else order[::-1]:
                    for w, t in run_round(build, root, spec.name, Path(scratch), names).items():
                        times[label].setdefault(w, []).append(t)
            for w in names:
                old, new = statistics.median(times["old"][w]), statistics.median(times["new"][w])
                # Each round runs both builds back to back: the ratio within a round cancels the
                # machine's drift between rounds (page cache, balloon, other load).
                paired = [n / o for o, n in zip(times["old"][w], times["new"][w])]
                q1, _, q3 = statistics.quantiles(paired, n=4) if len(paired) > 1 else paired * 3
                lines.append(
                    f"| {spec.name} | {w} | {old * 1e3:.1f} | {new * 1e3:.1f} | {new / old:.2f} "
                    f"| {statistics.median(paired):.2f} | {q1:.2f}-{q3:.2f} |"
                )
                print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
