"""Regression tests for what fuzzing found, reproduced through the public API directly (so they
do not depend on how the fuzz target decodes its input). Each runs in a subprocess: a native abort
fails the test instead of killing pytest. Known native issues are strict xfails (docs/embedding.md,
"Known native issues"); they start failing once fixed, prompting removal of the marker.
"""

from __future__ import annotations

import json
import os
import pathlib
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from zarr_oracle import run_python

import zarrs_cffi

MAX = 2**64 - 1


def _crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def _sharded_with_index(tmp_path: pathlib.Path, first_entry: tuple[int, int]) -> str:
    """The fuzz template: float32 (9,), shard (9,) of 3 gzip inner chunks; inner chunk 0's index
    entry replaced (with a valid index checksum)."""
    path = str(tmp_path / "s.zarr")
    with zarrs_cffi.create_array(
        path, shape=(9,), dtype="float32", chunks=(3,), shards=(9,), compressors="gzip"
    ) as arr:
        arr[...] = range(9)
    shard = pathlib.Path(path, "c", "0")
    data = shard.read_bytes()
    entries = list(struct.unpack("<6Q", data[-52:-4]))
    entries[0:2] = first_entry
    index = struct.pack("<6Q", *entries)
    shard.write_bytes(data[:-52] + index + struct.pack("<I", _crc32c(index)))
    return path


def _run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "RUST_BACKTRACE": "0"},
    )


_READ = """
import sys, zarrs_cffi
arr = zarrs_cffi.open_array(sys.argv[1])
try:
    {read}
except zarrs_cffi.CodecError as exc:
    print("TYPED", exc)
except zarrs_cffi.ZarrsError as exc:
    print("OTHER", type(exc).__name__, exc)
"""


@pytest.mark.parametrize(
    "read",
    [
        pytest.param("arr.read_chunk((0,))", id="read_chunk"),
        pytest.param("arr.read()", id="whole-array"),
        pytest.param("arr[0:1]", id="region"),
    ],
)
def test_shard_index_entry_with_maximal_length(tmp_path: pathlib.Path, read: str) -> None:
    """Found by fuzzing (chunk mode, corpus/…): offset 0, length 2**64-1 (not the (MAX, MAX)
    "missing" marker)."""
    path = _sharded_with_index(tmp_path, (0, MAX))
    proc = _run(_READ.format(read=read), path)
    assert proc.returncode == 0, f"died ({proc.returncode}): {proc.stderr[-500:]}"
    assert proc.stdout.startswith("TYPED") and '"c/0"' in proc.stdout, proc.stdout + proc.stderr[-500:]


@pytest.mark.parametrize(
    "entry",
    [pytest.param((2**64 - 1, 15), id="offset-max"), pytest.param((62, MAX), id="offset-plus-length-wraps")],
)
def test_shard_index_entry_whose_end_wraps(tmp_path: pathlib.Path, entry: tuple[int, int]) -> None:
    """Found by fuzzing: an entry whose offset + length overflows u64."""
    path = _sharded_with_index(tmp_path, entry)
    proc = _run(_READ.format(read="arr.read_chunk((0,))"), path)
    assert proc.returncode == 0, f"died ({proc.returncode}): {proc.stderr[-500:]}"
    assert proc.stdout.startswith("TYPED") and '"c/0"' in proc.stdout, proc.stdout + proc.stderr[-500:]


def test_missing_marker_still_reads_as_fill(tmp_path: pathlib.Path) -> None:
    """The legitimate (MAX, MAX) entry must keep meaning "inner chunk absent"."""
    path = _sharded_with_index(tmp_path, (MAX, MAX))
    with zarrs_cffi.open_array(path) as arr:
        assert arr.read().tolist() == [0, 0, 0, 3, 4, 5, 6, 7, 8]


def test_partial_write_into_chunk_larger_than_memory(tmp_path: pathlib.Path) -> None:
    """Found while fuzzing metadata: chunks of 2**20 x 2**20 float64 (8 TiB each) are valid
    metadata; writing one element must fail with a typed error, not abort."""
    code = """
    import sys, zarrs_cffi
    arr = zarrs_cffi.create_array(sys.argv[1], shape=(2**40, 2**40), dtype="float64", chunks=(2**20, 2**20))
    try:
        arr[0, 0] = 1.0
    except zarrs_cffi.ZarrsError as exc:
        print("TYPED", type(exc).__name__, exc)
    """
    proc = _run(code, str(tmp_path / "huge.zarr"))
    assert proc.returncode == 0, f"died ({proc.returncode}): {proc.stderr[-300:]}"
    assert proc.stdout.startswith("TYPED"), proc.stdout


def test_read_of_chunk_larger_than_memory_is_refused(tmp_path: pathlib.Path) -> None:
    """The Python side refuses result buffers it cannot allocate, with a typed error."""
    with zarrs_cffi.create_array(
        tmp_path / "huge.zarr", shape=(2**40, 2**40), dtype="float64", chunks=(2**20, 2**20)
    ) as arr:
        with pytest.raises(zarrs_cffi.InvalidArgumentError, match="8796093022208 bytes"):
            arr.read_chunk((0, 0))
        with pytest.raises(zarrs_cffi.InvalidArgumentError, match="cannot be allocated"):
            arr[0 : 2**20, 0 : 2**20]
        assert arr[0, 0:3].tolist() == [0.0, 0.0, 0.0]  # a small read of a huge missing chunk is fine


HUGE_MISSING_CHUNK_READS = """
import sys, numpy as np, zarrs_cffi
path, cache, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
layout = {
    "sharded": {"chunks": (2**19, 2**19), "shards": (2**20, 2**20)},
    "chunks": {"chunks": (2**20, 2**20)},
    "uncountable": {"chunks": (2**32, 2**32)},  # 2**67 bytes: more than a size_t counts
}[kind]
with zarrs_cffi.create_array(path, shape=(2**40, 2**40), dtype="float64", fill_value=2.5, **layout):
    pass
with zarrs_cffi.open_array(path, chunk_cache_bytes=cache) as arr:
    across = arr[2**20 - 2 : 2**20 + 1, 2**20 - 1 : 2**20 + 2]  # four missing 8 (or 2) TiB chunks
    inside = arr[5, 0:3]
    out = np.zeros((2, 3))
    arr.read_into(out, (slice(7, 9), slice(2**21 - 1, 2**21 + 2)))
print(across.tolist() == [[2.5] * 3] * 3, inside.tolist() == [2.5] * 3, out.tolist() == [[2.5] * 3] * 2)
"""


@pytest.mark.parametrize("layout", ["chunks", "sharded", "uncountable"])
@pytest.mark.parametrize("cache", [0, 2**20], ids=["uncached", "cached"])
def test_small_reads_of_huge_missing_chunks_are_fill(tmp_path: pathlib.Path, cache: int, layout: str) -> None:
    """Parts of chunks (or inner chunks of shards) too large to allocate that are absent read as
    the fill value, across chunks and inside one, cached or not (each aborted the process on
    allocating a chunk; chunks of more bytes than a size_t counts were "a region too large")."""
    result = run_python(HUGE_MISSING_CHUNK_READS, str(tmp_path / "huge.zarr"), str(cache), layout)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["True", "True", "True"]


@pytest.mark.parametrize("sharded", [False, True], ids=["chunks", "sharded"])
def test_parts_of_large_chunks_present_and_absent(tmp_path: pathlib.Path, sharded: bool) -> None:
    """Chunks (inner chunks) of 64 MiB and more are looked up before a part is decoded: an absent
    one's (shard's) part is filled in place (an element of distinct bytes, in a 3-D box), a
    present one's decoded."""
    fill = np.int16(0x0102)
    with zarrs_cffi.create_array(
        tmp_path / "large.zarr",
        shape=(8, 4096, 2048),
        dtype="int16",
        chunks=(4, 4096, 2048),
        shards=(4, 4096, 2048) if sharded else None,
        fill_value=int(fill),
    ) as arr:
        arr[1:3, 10:20, 5:13] = np.arange(160, dtype="int16").reshape(2, 10, 8)  # chunk 0 only
        region = (slice(2, 6), slice(5, 35), slice(3, 13))  # chunk 0 (present) and 1 (absent)
        expected = np.full((4, 30, 10), fill, dtype="int16")
        expected[0, 5:15, 2:10] = np.arange(160, dtype="int16").reshape(2, 10, 8)[1]
        np.testing.assert_array_equal(arr[region], expected)
        np.testing.assert_array_equal(arr[4:8, 100:103, 7:9], np.full((4, 3, 2), fill))  # absent, one chunk
        np.testing.assert_array_equal(arr[1:3, 10:20, 5:13], np.arange(160, dtype="int16").reshape(2, 10, 8))


def _sharded_doc(inner: list[int]) -> dict[str, object]:
    return {
        "zarr_format": 3,
        "node_type": "array",
        "shape": [2],
        "data_type": "bool",
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [1]}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": False,
        "codecs": [
            {
                "name": "sharding_indexed",
                "configuration": {
                    "chunk_shape": inner,
                    "codecs": [{"name": "bytes"}],
                    "index_codecs": [
                        {"name": "bytes", "configuration": {"endian": "little"}},
                        {"name": "crc32c"},
                    ],
                    "index_location": "start",
                },
            }
        ],
    }


@pytest.mark.parametrize("inner", [[], [1, 1], [2]], ids=["rank-0", "rank-2", "not-dividing"])
def test_open_rejects_sharding_chunk_shape_not_matching_the_shards(
    tmp_path: pathlib.Path, inner: list[int]
) -> None:
    """Found by fuzzing (corpus/regression-sharding-subchunk-rank): zarrs accepted the document and
    then panicked on reads ("the subchunk grid dimensionality is already confirmed ..."). Array now
    checks the spec rule at open: a typed InvalidMetadataError, before any read."""
    path = tmp_path / "s.zarr"
    path.mkdir()
    (path / "zarr.json").write_text(json.dumps(_sharded_doc(inner)))
    with pytest.raises(
        zarrs_cffi.InvalidMetadataError, match=r"chunk_shape .* evenly divide the shard shape"
    ):
        zarrs_cffi.open_array(path)


def test_create_node_rejects_sharding_chunk_shape_of_wrong_rank(tmp_path: pathlib.Path) -> None:
    with zarrs_cffi.Store(tmp_path / "s.zarr") as store, pytest.raises(zarrs_cffi.InvalidMetadataError):
        store.create_node("/", _sharded_doc([]))
