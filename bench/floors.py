"""The two floors every engine is measured against.

* memory-bandwidth floor: ``np.copyto`` of the whole array into a reused buffer;
* decode floor: the same chunk files read and decoded by the codec libraries
  alone (zstandard, numcodecs' blosc, zlib; no Zarr logic) in a thread pool of
  one worker per core, each decoded chunk copied into its place in the output.

Both present the ``Engine`` read methods the harness uses for whole-array reads.
"""

from __future__ import annotations

import json
import os
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from itertools import product
from pathlib import Path

import numpy as np

EMPTY = 2**64 - 1  # shard index entry of an absent inner chunk


def _bytes_decoders(codecs: list[dict], nbytes: int):
    """Functions undoing the bytes-to-bytes codecs, in decode order."""
    import numcodecs.blosc
    import zstandard

    funcs = []
    for codec in reversed(codecs):
        name = codec["name"]
        if name == "zstd":
            local = threading.local()  # a ZstdDecompressor must not be shared by threads

            def unzstd(b, local=local):
                if not hasattr(local, "dctx"):
                    local.dctx = zstandard.ZstdDecompressor()
                return local.dctx.decompress(b, max_output_size=nbytes)

            funcs.append(unzstd)
        elif name == "gzip":
            funcs.append(lambda b: zlib.decompress(b, wbits=47))  # gzip or zlib header
        elif name == "blosc":
            funcs.append(numcodecs.blosc.decompress)
        elif name == "crc32c":
            funcs.append(lambda b: memoryview(b)[:-4])
        else:
            raise ValueError(f"decode floor: unsupported codec {name!r}")
    return funcs


def _chunk_decoder(codecs: list[dict], shape: tuple[int, ...], dtype: np.dtype):
    """Decoder for one chain ``[bytes, *compressors]`` -> array of ``shape``."""
    serializer, rest = codecs[0], codecs[1:]
    if serializer["name"] != "bytes":
        raise ValueError(f"decode floor: unsupported serializer {serializer['name']!r}")
    endian = serializer.get("configuration", {}).get("endian", "little")
    dt = dtype.newbyteorder("<" if endian == "little" else ">")
    funcs = _bytes_decoders(rest, int(np.prod(shape)) * dtype.itemsize)

    def decode(buf):
        for func in funcs:
            buf = func(buf)
        return np.frombuffer(buf, dtype=dt).reshape(shape)

    return decode


def _key(meta: dict, coords: tuple[int, ...]) -> str:
    enc = meta.get("chunk_key_encoding", {"name": "default"})
    sep = enc.get("configuration", {}).get("separator", "/" if enc["name"] == "default" else ".")
    parts = [str(c) for c in coords] or ["0"]
    return ("c" + sep if enc["name"] == "default" else "") + sep.join(parts)


def _grid(shape, chunk):
    return product(*[range(-(-n // c)) for n, c in zip(shape, chunk, strict=True)])


def _region(coords, chunk, shape):
    return tuple(slice(i * c, min((i + 1) * c, n)) for i, c, n in zip(coords, chunk, shape, strict=True))


class DecodeFloor:
    """Codec libraries only: read each chunk file, decode, copy into place."""

    name = "floor:decode"

    def start_cold(self) -> None:
        """Nothing is cached between calls."""

    def __init__(self, array_dir: Path, workers: int | None = None) -> None:
        meta = json.loads((Path(array_dir) / "zarr.json").read_text())
        self.shape = tuple(meta["shape"])
        self.dtype = np.dtype(meta["data_type"])
        chunk = tuple(meta["chunk_grid"]["configuration"]["chunk_shape"])
        codecs = meta["codecs"]
        self.sharded = codecs[0]["name"] == "sharding_indexed"
        if self.sharded:
            cfg = codecs[0]["configuration"]
            if cfg.get("index_location", "end") != "end":
                raise ValueError("decode floor: only end-of-shard indexes")
            self.inner = tuple(cfg["chunk_shape"])
            self.decode = _chunk_decoder(cfg["codecs"], self.inner, self.dtype)
        else:
            self.decode = _chunk_decoder(codecs, chunk, self.dtype)
        self.tasks = [
            (Path(array_dir) / _key(meta, c), _region(c, chunk, self.shape)) for c in _grid(self.shape, chunk)
        ]
        self.pool = ThreadPoolExecutor(workers or os.cpu_count() or 1)

    def _plain(self, path: Path, region, out: np.ndarray) -> None:
        try:
            blob = path.read_bytes()
        except FileNotFoundError:  # chunk never written: fill value
            out[region] = 0
            return
        decoded = self.decode(blob)
        out[region] = decoded[tuple(slice(0, s.stop - s.start) for s in region)]

    def _shard(self, path: Path, region, out: np.ndarray) -> None:
        blob = memoryview(path.read_bytes())
        grid = [-(-(s.stop - s.start) // c) for s, c in zip(region, self.inner, strict=True)]
        n = int(np.prod(grid))
        index = np.frombuffer(blob, "<u8", count=2 * n, offset=len(blob) - 16 * n - 4)
        for i, coords in enumerate(np.ndindex(*grid)):
            offset, size = int(index[2 * i]), int(index[2 * i + 1])
            inner = tuple(
                slice(s.start + k * c, s.start + (k + 1) * c)
                for s, k, c in zip(region, coords, self.inner, strict=True)
            )
            if offset == EMPTY:
                out[inner] = 0
            else:
                out[inner] = self.decode(blob[offset : offset + size])

    def read_full_into(self, out: np.ndarray) -> np.ndarray:
        """Decode every chunk (or shard) on all cores into ``out``."""
        work = self._shard if self.sharded else self._plain
        for fut in [self.pool.submit(work, p, r, out) for p, r in self.tasks]:
            fut.result()
        return out

    def close(self) -> None:
        """Stop the worker threads."""
        self.pool.shutdown()


class MemoryFloor:
    """Memory bandwidth: copy the in-memory reference data into the buffer."""

    name = "floor:memory"

    def __init__(self, source: np.ndarray) -> None:
        self.source = source

    def start_cold(self) -> None:
        """Nothing is cached."""

    def read_full_into(self, out: np.ndarray) -> np.ndarray:
        """``np.copyto`` the whole array."""
        np.copyto(out, self.source)
        return out

    def close(self) -> None:
        """Nothing to release."""


FLOORS = ("floor:memory", "floor:decode")
