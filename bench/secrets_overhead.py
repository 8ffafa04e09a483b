"""Cost of the secret registry (zarrs_cffi/secrets.py) on the one-shot read_into: the same small
read with ``hide`` real and replaced by a no-op, alternating, best of each (bench/RESULTS.md)."""

from __future__ import annotations

import tempfile
import timeit

import numpy as np

import zarrs_cffi
from zarrs_cffi import store_location


def main() -> None:
    path = tempfile.mkdtemp() + "/a.zarr"
    zarrs_cffi.create_array(path, shape=(64, 64), dtype="u2", chunks=(32, 32))[...] = 1
    out = np.empty((4, 4), "u2")
    region = (slice(0, 4), slice(0, 4))

    def call() -> None:
        zarrs_cffi.read_into(out, path, region)

    real = store_location.hide
    runs: dict[str, list[float]] = {"hide": [], "no-op": []}
    for _ in range(5):
        for name, hide in (("hide", real), ("no-op", lambda *args: None)):
            store_location.hide = hide
            runs[name].append(min(timeit.repeat(call, number=10000, repeat=3)) / 10000 * 1e6)
    store_location.hide = real
    for name, times in runs.items():
        print(f"{name}: best {min(times):.2f} us per call (runs: {', '.join(f'{t:.1f}' for t in times)})")


if __name__ == "__main__":
    main()
