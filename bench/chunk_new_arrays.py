"""Every stored chunk read into a new array, one call each: zarrs_cffi ``arr[chunk]`` and
``arr.read_chunk(coords)`` against zarrista's ``retrieve_array_subset(chunk).to_numpy()``,
alternated round by round (no chunk cache: what a user reading chunk by chunk gets). Datasets must
exist (``bench/run.py`` writes them); ``PYTHONPATH=<tree>`` picks the zarrs_cffi build::

    bench/.venv/bin/python bench/chunk_new_arrays.py u16_raw u16_blosc u16_zstd
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np
from zarrista import Array
from zarrista.store import FilesystemStore

import zarrs_cffi

ROOT = Path(__file__).resolve().parent / "data" / "full"
ROUNDS = 9


def chunk_regions(shape: tuple[int, ...], chunks: tuple[int, ...]) -> list[tuple[slice, ...]]:
    counts = [-(-n // c) for n, c in zip(shape, chunks)]
    return [
        tuple(slice(i * c, min((i + 1) * c, n)) for i, c, n in zip(idx, chunks, shape))
        for idx in np.ndindex(*counts)
    ]


def main(names: list[str]) -> None:
    print("| dataset | zarrs_cffi arr[chunk] | zarrs_cffi read_chunk | zarrista | zarrista / arr[chunk] |")
    print("|---|---|---|---|---|")
    for name in names:
        ours = zarrs_cffi.open_array(str(ROOT / name))
        theirs = Array.open(FilesystemStore(str(ROOT)), "/" + name)
        regions = chunk_regions(tuple(ours.shape), tuple(ours.chunks))
        readers = {
            "zarrs_cffi": lambda r, a=ours: a[r],
            "read_chunk": lambda r, a=ours: a.read_chunk(tuple(s.start // c for s, c in zip(r, a.chunks))),
            "zarrista": lambda r, a=theirs: a.retrieve_array_subset(r).to_numpy(),
        }
        first = regions[len(regions) // 2]
        assert all(np.array_equal(read(first), readers["zarrista"](first)) for read in readers.values())
        per_chunk: dict[str, list[float]] = {k: [] for k in readers}
        for _ in range(ROUNDS):
            for engine, read in readers.items():
                start = time.perf_counter()
                for region in regions:
                    read(region)
                per_chunk[engine].append((time.perf_counter() - start) / len(regions) * 1e6)
        ours_us, chunk_us, theirs_us = (statistics.median(per_chunk[k]) for k in readers)
        print(
            f"| {name} | {ours_us:.1f} us | {chunk_us:.1f} us | {theirs_us:.1f} us | {theirs_us / ours_us:.2f}x |"
        )
        ours.close()


if __name__ == "__main__":
    main(sys.argv[1:] or ["u16_raw", "u16_blosc", "u16_zstd"])
