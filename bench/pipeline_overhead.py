"""Where a whole-array read through zarrs_cffi's zarr pipeline spends its time beyond the native read.

Times one ``z.get_basic_selection(region, out=...)`` in parts: zarr's work before the pipeline's
``read`` is called, the pipeline's planning of the chunk selections, the native read, and what
follows. Run from the repository root after ``bash bench/setup_env.sh`` (uses bench/data/full)::

    .venv/bin/python bench/pipeline_overhead.py [dataset] [calls]
"""

from __future__ import annotations

import sys
import time

import numpy as np
import zarr
from zarr.core.buffer import default_buffer_prototype

import zarrs_cffi
import zarrs_cffi.zarr_pipeline as pipeline


def main() -> None:
    dataset = sys.argv[1] if len(sys.argv) > 1 else "u16_zstd"
    calls = int(sys.argv[2]) if len(sys.argv) > 2 else 9
    with zarr.config.set({"codec_pipeline.path": "zarrs_cffi.ZarrsCffiCodecPipeline"}):
        z = zarr.open_array(store="bench/data/full", path=dataset, mode="r")
    out = np.empty(z.shape, z.dtype)
    buffer = default_buffer_prototype().nd_buffer.from_numpy_array(out)
    region = tuple(slice(0, n) for n in z.shape)
    stamps: dict[str, float] = {}
    read, read_region = pipeline.ZarrsCffiCodecPipeline.read, pipeline._read_region

    async def timed_read(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        stamps["enter"] = time.perf_counter()
        await read(self, *args, **kwargs)
        stamps["leave"] = time.perf_counter()

    def timed_region(*args):  # type: ignore[no-untyped-def]
        stamps["native"] = time.perf_counter()
        read_region(*args)
        stamps["native_done"] = time.perf_counter()

    pipeline.ZarrsCffiCodecPipeline.read = timed_read  # type: ignore[method-assign]
    pipeline._read_region = timed_region
    for _ in range(3):
        z.get_basic_selection(region, out=buffer)
    rows = []
    for _ in range(calls):
        start = time.perf_counter()
        z.get_basic_selection(region, out=buffer)
        end = time.perf_counter()
        s = stamps
        rows.append(
            [
                s["enter"] - start,
                s["native"] - s["enter"],
                s["native_done"] - s["native"],
                s["leave"] - s["native_done"],
                end - s["leave"],
                end - start,
            ]
        )
    native = zarrs_cffi.open_array("bench/data/full", "/" + dataset)
    alone = []
    for _ in range(calls):
        start = time.perf_counter()
        native.read_into(out, region)
        alone.append(time.perf_counter() - start)
    print(f"{dataset}, {calls} calls (ms): zarr before | planning | native read | after | zarr after | total")
    for row in sorted(rows, key=lambda r: r[-1]):
        print(" | ".join(f"{v * 1e3:.1f}" for v in row))
    print(f"read_into alone, median: {sorted(alone)[calls // 2] * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
