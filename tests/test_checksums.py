"""Checksummed chunks and inner chunks are verified on every read path, as docs/guide/arrays.md
says: a flipped bit raises CodecError (zarr-python raises too). zarrs' partial decoders skip
checksums: inner chunks of shards with crc32c, fletcher32 or adler32 read back silently wrong,
and so did parts of unsharded chunks behind zarr-python's numcodecs.* checksum names."""

from __future__ import annotations

import json
import os
import pathlib
import struct
import subprocess
import sys
from typing import Any, Callable

import numpy as np
import pytest

import zarrs_cffi

BYTES = {"name": "bytes", "configuration": {"endian": "little"}}
CHECKSUMS = {
    "crc32c": ({"name": "crc32c"}, 0),
    "numcodecs.fletcher32": ({"name": "numcodecs.fletcher32", "configuration": {}}, 0),
    "numcodecs.adler32": ({"name": "numcodecs.adler32", "configuration": {}}, 4),  # checksum first
}
DATA = np.arange(24, dtype="int32").reshape(4, 6)


def damaged(root: pathlib.Path, checksum: str, sharded: bool, transposed: bool = False) -> str:
    """A (4, 6) int32 array of (2, 3) chunks (or inner chunks of one shard) holding DATA, with one
    bit of element (0, 1) flipped in its stored bytes; ``transposed``: a transpose before the
    sharding (a shard that is not the array's only codec)."""
    codec, prefix = CHECKSUMS[checksum]
    codecs: list[dict[str, Any]] = [BYTES, codec]
    if sharded:
        codecs = [
            {
                "name": "sharding_indexed",
                "configuration": {
                    "chunk_shape": [3, 2] if transposed else [2, 3],
                    "codecs": codecs,
                    "index_codecs": [BYTES, {"name": "crc32c"}],
                    "index_location": "end",
                },
            }
        ]
        if transposed:
            codecs.insert(0, {"name": "transpose", "configuration": {"order": [1, 0]}})
    path = root / f"{checksum}-{sharded}-{transposed}.zarr"
    path.mkdir()
    document = {
        "zarr_format": 3,
        "node_type": "array",
        "shape": [4, 6],
        "data_type": "int32",
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [4, 6] if sharded else [2, 3]}},
        "chunk_key_encoding": {"name": "default"},
        "fill_value": 0,
        "codecs": codecs,
    }
    (path / "zarr.json").write_text(json.dumps(document))
    zarrs_cffi.open_array(path)[...] = DATA
    chunk = path / "c" / "0" / "0"
    stored = bytearray(chunk.read_bytes())
    # The shard index (at the end: 4 inner chunks x (offset, length), then its crc32c) gives
    # inner chunk (0, 0)'s offset.
    offset = struct.unpack_from("<Q", stored, len(stored) - 4 * 16 - 4)[0] if sharded else 0
    element = 2 if transposed else 1  # (0, 1) is the transposed inner chunk's element (1, 0)
    stored[offset + prefix + 4 * element] ^= 1  # 1 -> 0
    chunk.write_bytes(bytes(stored))
    return str(path)


READS: dict[str, Callable[[str], Any]] = {
    "whole": lambda p: zarrs_cffi.open_array(p)[...],
    "region": lambda p: zarrs_cffi.open_array(p)[0, 0:3],
    "element": lambda p: zarrs_cffi.open_array(p)[0, 1],
    "oindex": lambda p: zarrs_cffi.open_array(p).oindex[[0], [1, 2]],
    "vindex": lambda p: zarrs_cffi.open_array(p).vindex[[0], [1]],
    "read_chunk": lambda p: zarrs_cffi.open_array(p).read_chunk((0, 0)),
    "cached": lambda p: zarrs_cffi.open_array(p, chunk_cache_bytes=1 << 20)[0, 0:2],
    "one-shot": lambda p: zarrs_cffi.read(p, (0, 1)),
}


@pytest.mark.parametrize("sharded", [True, False], ids=["sharded", "unsharded"])
@pytest.mark.parametrize("checksum", CHECKSUMS)
def test_a_flipped_bit_fails_every_read(tmp_path: pathlib.Path, checksum: str, sharded: bool) -> None:
    path = damaged(tmp_path, checksum, sharded)
    for name, read in READS.items():
        with pytest.raises(zarrs_cffi.CodecError):
            read(path)
            pytest.fail(f"{name} read the damaged chunk")
    # The undamaged (inner) chunks still read.
    np.testing.assert_array_equal(zarrs_cffi.open_array(path)[2:4, 3:6], DATA[2:4, 3:6])


def test_inner_checksums_behind_a_transpose_are_verified(tmp_path: pathlib.Path) -> None:
    """A shard that is not the array's only codec is decoded whole when it holds checksums."""
    path = damaged(tmp_path, "crc32c", True, transposed=True)
    for name, read in READS.items():
        with pytest.raises(zarrs_cffi.CodecError):
            read(path)
            pytest.fail(f"{name} read the damaged chunk")


def test_a_checksum_over_the_whole_shard_is_verified(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "outer.zarr"
    arr = zarrs_cffi.create_array(path, shape=(4, 6), dtype="int32", chunks=(2, 3), shards=(4, 6))
    document = json.loads((path / "zarr.json").read_text())
    document["codecs"].append({"name": "crc32c"})  # [sharding, crc32c]
    (path / "zarr.json").write_text(json.dumps(document))
    arr.close()
    zarrs_cffi.open_array(path)[...] = DATA
    chunk = path / "c" / "0" / "0"
    stored = bytearray(chunk.read_bytes())
    stored[4] ^= 1  # inner chunk (0, 0), index at the end
    chunk.write_bytes(bytes(stored))
    for name, read in READS.items():
        with pytest.raises(zarrs_cffi.CodecError):
            read(str(path))
            pytest.fail(f"{name} read the damaged shard")


def test_the_zarr_pipeline_fails_on_a_flipped_bit_in_an_inner_chunk(tmp_path: pathlib.Path) -> None:
    zarr = pytest.importorskip("zarr")
    path = damaged(tmp_path, "crc32c", True)
    with zarr.config.set({"codec_pipeline.path": "zarrs_cffi.ZarrsCffiCodecPipeline"}), pytest.raises(
        zarrs_cffi.CodecError
    ):
        zarr.open_array(path)[0, 0:3]


# crc32c (Castagnoli) for the scripts run in a child process, which make checksums right again.
CRC32C_SOURCE = """
def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF
"""

CAUGHT_PANIC = (
    CRC32C_SOURCE
    + """
import json, os, struct, sys
import numpy as np
import zarrs_cffi
arr = zarrs_cffi.create_array(sys.argv[1], shape=(4, 6), dtype="int32", chunks=(2, 3), shards=(4, 6))
arr[...] = 1
encoded = bytearray(arr.read_encoded_chunk((0, 0)))

# Inner chunk (0, 0)'s index entry: an offset near 2**64 (zarrs panics on the range); the
# index's own crc32c made right again.
table = len(encoded) - 4 * 16 - 4
struct.pack_into("<QQ", encoded, table, 2**64 - 11, 20)
struct.pack_into("<I", encoded, len(encoded) - 4, crc32c(encoded[table:-4]))
try:
    arr.decode_chunk((0, 0), bytes(encoded))
except zarrs_cffi.ZarrsError as exc:
    print(type(exc).__name__)
"""
)


def test_caught_panics_are_not_printed(tmp_path: pathlib.Path) -> None:
    """Every panic becomes a typed error carrying its (redacted) message; the default panic hook
    also printed it, with a backtrace under RUST_BACKTRACE, to the host's stderr."""
    env = dict(os.environ, RUST_BACKTRACE="1")
    env.pop("ZARRS_CFFI_PRINT_PANICS", None)
    run = subprocess.run(
        [sys.executable, "-c", CAUGHT_PANIC, str(tmp_path / "a.zarr")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["CodecError"]
    assert "panicked" not in run.stderr, run.stderr


@pytest.mark.parametrize("read", sorted(READS))
@pytest.mark.parametrize("checksum", CHECKSUMS)
def test_unwritten_inner_chunks_of_a_stored_shard_read_as_fill(
    tmp_path: pathlib.Path, checksum: str, read: str
) -> None:
    """A shard with one inner chunk written: zarrs turned the index's "absent" entry of the others
    into a wrapped byte range, and every read of the shard failed (CodecError "invalid byte range"),
    even of arrays this package wrote itself; zarr-python reads the fill value."""
    codec, _ = CHECKSUMS[checksum]
    path = tmp_path / "partial.zarr"
    arr = zarrs_cffi.create_array(
        path, shape=(4, 6), dtype="int32", chunks=(2, 3), shards=(4, 6), fill_value=-1, compressors=[codec]
    )
    arr[0, 0] = 7
    expected = np.full((4, 6), -1, dtype="int32")
    expected[0, 0] = 7
    want = {
        "whole": expected,
        "region": expected[0, 0:3],
        "element": expected[0, 1],
        "oindex": expected[np.ix_([0], [1, 2])],
        "vindex": expected[[0], [1]],
        "read_chunk": expected,
        "cached": expected[0, 0:2],
        "one-shot": expected[0, 1],
    }[read]
    np.testing.assert_array_equal(READS[read](str(path)), want)


ZSTD_CLAIMING_TOO_MUCH = (
    CRC32C_SOURCE
    + """
import struct, sys
import zarrs_cffi

# A 16-byte zstd frame whose header declares 2**62 decoded bytes.
frame = bytes([0x28, 0xB5, 0x2F, 0xFD, 0xE0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0x01, 0, 0])
zstd = {"name": "zstd", "configuration": {"level": 1, "checksum": False}}
for direct in (True, False):
    zarrs_cffi.set_direct_decoding(direct)
    for checksummed in (False, True):
        store = zarrs_cffi.Store(f"memory://z{direct}{checksummed}")
        codecs = [{"name": "bytes", "configuration": {"endian": "little"}}, zstd]
        stored = frame
        if checksummed:  # decoded by zarrs' codecs even with direct decoding
            codecs.append({"name": "crc32c"})
            stored = frame + struct.pack("<I", crc32c(frame))
        store.create_node("/a", {
            "zarr_format": 3, "node_type": "array", "shape": [8], "data_type": "int32",
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [8]}},
            "chunk_key_encoding": {"name": "default"}, "fill_value": 0, "codecs": codecs,
        })
        store.set_key("a/c/0", stored)
        arr = zarrs_cffi.open_array(store, "/a")
        for call in (lambda: arr[...], lambda: arr.read_chunk((0,)), lambda: arr.decode_chunk((0,), stored)):
            try:
                call()
            except zarrs_cffi.CodecError:
                print("CodecError")
    store = zarrs_cffi.Store(f"memory://z{direct}v2")  # Zarr v2's zstd compressor
    store.create_node("/a", {
        "zarr_format": 2, "shape": [8], "chunks": [8], "dtype": "<i4", "fill_value": 0,
        "order": "C", "filters": None, "compressor": {"id": "zstd", "level": 1},
    })
    store.set_key("a/0", frame)
    arr = zarrs_cffi.open_array(store, "/a")
    for call in (lambda: arr[...], lambda: arr.decode_chunk((0,), frame)):
        try:
            call()
        except zarrs_cffi.CodecError:
            print("CodecError")
"""
)


def test_a_zstd_frame_claiming_a_huge_size_is_a_codec_error_not_an_abort() -> None:
    """zarrs' zstd codec allocated the decoded size a frame declares: 16 stored bytes claiming 2**62
    aborted the process (an allocation failure, which no panic handler catches) through the
    checksummed path, decode_chunk, and every read without direct decoding."""
    run = subprocess.run(
        [sys.executable, "-c", ZSTD_CLAIMING_TOO_MUCH], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["CodecError"] * 16, run.stdout
