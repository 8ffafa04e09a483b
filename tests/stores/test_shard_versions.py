"""Shards on an object store read by version: a reader racing a writer that rewrites a shard in a
loop (two versions whose inner chunks have different sizes, so offsets move) gets each inner chunk
whole from one version or the other, never another inner chunk's bytes and never an error."""

from __future__ import annotations

import threading
import time

import numpy as np
from store_fixtures import Place

import zarrs_cffi

SHAPE = (32, 32)
OLD = np.arange(32 * 32, dtype="uint16").reshape(SHAPE)  # compresses well: small inner chunks
NEW = np.random.default_rng(3).integers(0, 2**16, SHAPE, dtype="uint16")  # barely: large ones


def _blocks(region: np.ndarray, origin: tuple[int, int]) -> list[tuple[tuple[int, int], np.ndarray]]:
    """The 8 x 8 inner chunks of a read region starting at `origin` (a multiple of 8)."""
    return [
        ((origin[0] + i, origin[1] + j), region[i : i + 8, j : j + 8])
        for i in range(0, region.shape[0], 8)
        for j in range(0, region.shape[1], 8)
    ]


def test_reads_racing_a_rewritten_shard_see_whole_inner_chunks(remote: Place) -> None:
    url, options = remote.url, remote.options
    with zarrs_cffi.create_array(
        url, "/a", shape=SHAPE, dtype="uint16", chunks=(8, 8), shards=SHAPE, storage_options=options
    ) as arr:
        arr[...] = OLD
    stop = threading.Event()
    writes = [0]

    def rewrite() -> None:
        with zarrs_cffi.open_array(url, "/a", storage_options=options) as writer:
            while not stop.is_set():
                writer[...] = NEW if writes[0] % 2 == 0 else OLD
                writes[0] += 1

    thread = threading.Thread(target=rewrite)
    thread.start()
    reads, seen = 0, set()
    try:
        with zarrs_cffi.open_array(url, "/a", storage_options=options) as reader:
            deadline = time.monotonic() + 4
            while time.monotonic() < deadline or writes[0] < 4:
                for origin in ((0, 0), (8, 16), (16, 8)):
                    region = reader[origin[0] : origin[0] + 16, origin[1] : origin[1] + 16]
                    for (i, j), block in _blocks(region, origin):
                        old, new = OLD[i : i + 8, j : j + 8], NEW[i : i + 8, j : j + 8]
                        assert np.array_equal(block, old) or np.array_equal(block, new), (i, j)
                        seen.add("new" if np.array_equal(block, new) else "old")
                reads += 1
    finally:
        stop.set()
        thread.join(60)
    assert writes[0] >= 4 and reads >= 4
    assert seen == {"old", "new"}  # the race happened: both versions were read
