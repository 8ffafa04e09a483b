#!/usr/bin/env python
"""Coverage-guided fuzzing (atheris) of metadata documents and chunk bytes through the public API.

    python tests/fuzz/fuzz_public_api.py -runs=200000          # make fuzz
    python tests/fuzz/fuzz_public_api.py CRASH_FILE ...         # replay inputs (regression check)

Each input picks one of four modes (the first byte):

0. raw bytes as an array's ``zarr.json`` (or v2 ``.zarray``), then open and use the array;
1. a structured v3 document: a valid template with fuzzed shape, chunks, data type, fill value,
   codecs (sharding included), key encoding, dimension names and attributes;
2. a valid array (one of several codec chains, sharded ones too) whose stored chunk or shard is
   replaced by fuzzed bytes, or a valid shard with a fuzzed index, then read and written;
3. ``Store.create_node`` with a fuzzed document, then read back, list and open.

Expected: success, or a ``zarrs_cffi.ZarrsError`` (and the builtins those derive from). Findings:
any other exception, a crash, or a write that does not read back. Environment switches:

* ``ZARRS_FUZZ_STRICT=1``: a plain builtin exception that is not a ZarrsError is a finding too.
* ``ZARRS_FUZZ_PANIC_IS_FINDING=1``: a caught native panic (``InternalPanicError``) is a finding.
* ``ZARRS_FUZZ_KNOWN_ABORTS=1``: also exercise inputs known to abort the process (see
  docs/embedding.md, "Known native issues"); by default the target steers around them so a run
  can find new problems instead of the known ones.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import math
import os
import shutil
import sys
import tempfile
from typing import Any

import atheris

with atheris.instrument_imports(include=["zarrs_cffi"]):
    import numpy as np

    import zarrs_cffi
    from zarrs_cffi.metadata import chunks_and_shards

STRICT = os.environ.get("ZARRS_FUZZ_STRICT") == "1"
PANIC_IS_FINDING = os.environ.get("ZARRS_FUZZ_PANIC_IS_FINDING") == "1"
KNOWN_ABORTS = os.environ.get("ZARRS_FUZZ_KNOWN_ABORTS") == "1"
VERBOSE = os.environ.get("ZARRS_FUZZ_VERBOSE") == "1"  # describe each input on stderr (for triage)


def _say(*parts: object) -> None:
    if VERBOSE:
        print("[fuzz]", *parts, file=sys.stderr, flush=True)


# The builtins ZarrsError subclasses derive from: tolerated unless ZARRS_FUZZ_STRICT=1.
_BUILTIN_BASES = (ValueError, TypeError, IndexError, OSError, RuntimeError)
EXPECTED: tuple[type[BaseException], ...] = (
    (zarrs_cffi.ZarrsError,) if STRICT else (zarrs_cffi.ZarrsError, *_BUILTIN_BASES)
)

# Decoded chunks (and shards) larger than this are not read or written: a chunk the machine cannot
# allocate aborts the process (a known native issue), which is not what a run should keep finding.
MAX_CHUNK_BYTES = 1 << 20
MAX_SHAPE_VALUE = 1 << 62

SCRATCH = tempfile.mkdtemp(prefix="zarrs-fuzz-")
atexit.register(shutil.rmtree, SCRATCH, True)
ARRAY_DIR = os.path.join(SCRATCH, "a.zarr")

DATA_TYPES = [
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "complex64", "complex128",
    "bfloat16", "string", "r8", "r16", "uint4", "nope", "", "Int32", "float128",
]  # fmt: skip
FILL_VALUES: list[Any] = [
    0, 1, -1, 255, 2**63, -(2**63), 2**64, 1.5, "NaN", "Infinity", "-Infinity", "0x7fc00000", "0xzz",
    True, False, None, [0, 0], [1.0, "NaN"], "", "abc", {}, [], [1, 2, 3], 1e308, -0.0,
]  # fmt: skip
BYTES_CODEC = {"name": "bytes", "configuration": {"endian": "little"}}
COMPRESSORS: list[Any] = [
    None,
    {"name": "zstd", "configuration": {"level": 0, "checksum": False}},
    {"name": "zstd", "configuration": {"level": 3, "checksum": True}},
    {"name": "gzip", "configuration": {"level": 5}},
    {"name": "crc32c"},
    {
        "name": "blosc",
        "configuration": {"cname": "lz4", "clevel": 5, "shuffle": "shuffle", "typesize": 4, "blocksize": 0},
    },
    {"name": "numcodecs.zlib", "configuration": {"level": 1}},
    {"name": "numcodecs.bz2", "configuration": {"level": 1}},
    {"name": "numcodecs.adler32"},
    {"name": "numcodecs.fletcher32"},
    {"name": "transpose", "configuration": {"order": [1, 0]}},
    {"name": "gzip", "configuration": {"level": 99}},
    {"name": "zstd"},
    {"name": "nope"},
    "zstd",
    {"name": "bytes", "configuration": {"endian": "big"}},
]


class Finding(AssertionError):
    """A result the public API must never produce (raised out of the fuzz target)."""


def _clean() -> None:
    shutil.rmtree(ARRAY_DIR, ignore_errors=True)
    os.makedirs(ARRAY_DIR)


def _write(relative: str, data: bytes) -> None:
    path = os.path.join(ARRAY_DIR, relative)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)


VALID_TYPES = DATA_TYPES[:14]
BIG = [0, 1, 2**31, 2**32, 2**53, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -1]
ODD: list[Any] = ["4", 1.5, None, True, [2], {}, -1, 0]


def _valid_document(fdp: atheris.FuzzedDataProvider) -> dict[str, Any]:
    """A valid v3 array document with fuzzed (small) sizes, data type and codecs."""
    ndim = fdp.ConsumeIntInRange(0, 3)
    shape = [fdp.ConsumeIntInRange(0, 10) for _ in range(ndim)]
    chunks = [fdp.ConsumeIntInRange(1, 6) for _ in range(ndim)]
    dtype = fdp.PickValueInList(VALID_TYPES)
    codecs: list[Any] = []
    if ndim >= 2 and fdp.ConsumeIntInRange(0, 3) == 0:
        codecs.append({"name": "transpose", "configuration": {"order": list(range(ndim))[::-1]}})
    codecs.append(BYTES_CODEC)
    compressor = fdp.PickValueInList(COMPRESSORS[:10])
    if compressor is not None:
        codecs.append(compressor)
    if ndim and fdp.ConsumeIntInRange(0, 2) == 0:  # sharded: chunks become the shards' inner chunks
        factor = [fdp.ConsumeIntInRange(1, 3) for _ in range(ndim)]
        config = {
            "chunk_shape": chunks,
            "codecs": codecs,
            "index_codecs": [BYTES_CODEC, {"name": "crc32c"}],
            "index_location": fdp.PickValueInList(["start", "end"]),
        }
        codecs = [{"name": "sharding_indexed", "configuration": config}]
        chunks = [c * f for c, f in zip(chunks, factor)]
    return {
        "zarr_format": 3,
        "node_type": "array",
        "shape": shape,
        "data_type": dtype,
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": chunks}},
        "chunk_key_encoding": {
            "name": "default",
            "configuration": {"separator": fdp.PickValueInList(["/", "."])},
        },
        "fill_value": 0 if dtype != "bool" else False,
        "codecs": codecs,
        "attributes": {fdp.ConsumeUnicodeNoSurrogates(4): fdp.ConsumeUnicodeNoSurrogates(8)},
    }


def _mutate(doc: dict[str, Any], fdp: atheris.FuzzedDataProvider) -> None:
    """One targeted change that may make the document invalid, huge or odd."""
    ndim = len(doc["shape"])
    grid = doc["chunk_grid"]["configuration"]
    sharding = (
        doc["codecs"][0]["configuration"] if doc["codecs"][0].get("name") == "sharding_indexed" else None
    )
    what = fdp.ConsumeIntInRange(0, 15)
    if what == 0 and ndim:
        doc["shape"][fdp.ConsumeIntInRange(0, ndim - 1)] = fdp.PickValueInList(BIG + ODD)
    elif what == 1 and ndim:
        grid["chunk_shape"][fdp.ConsumeIntInRange(0, ndim - 1)] = fdp.PickValueInList(BIG + ODD)
    elif what == 2:
        grid["chunk_shape"] = grid["chunk_shape"] + [1] if fdp.ConsumeBool() else grid["chunk_shape"][:-1]
    elif what == 3:
        doc["data_type"] = fdp.PickValueInList([*DATA_TYPES[14:], 3, None, {"name": "int8"}])
    elif what == 4:
        doc["fill_value"] = fdp.PickValueInList(FILL_VALUES)
    elif what == 5:
        doc["codecs"].append(fdp.PickValueInList(COMPRESSORS))
    elif what == 6:
        doc["codecs"] = fdp.PickValueInList(
            [[], [{"name": "crc32c"}], [BYTES_CODEC, BYTES_CODEC], "bytes", None]
        )
    elif what == 7:
        doc["chunk_key_encoding"] = fdp.PickValueInList(
            [
                {"name": "v2", "configuration": {"separator": "."}},
                {"name": "default", "configuration": {"separator": "|"}},
                {"name": "nope"},
                "default",
            ]
        )
    elif what == 8:
        doc["dimension_names"] = [
            fdp.PickValueInList(["x", None, "", 3, "\0"]) for _ in range(ndim + fdp.ConsumeIntInRange(0, 1))
        ]
    elif what == 9:
        del doc[fdp.PickValueInList(sorted(doc))]
    elif what == 10:
        doc[fdp.PickValueInList(["storage_transformers", "extra", "must_understand"])] = fdp.PickValueInList(
            [[{"name": "nope"}], {"must_understand": False}, [], True]
        )
    elif what == 11:
        doc["zarr_format"] = fdp.PickValueInList([2, 4, "3", None])
    elif what == 12 and sharding is not None:
        key = fdp.PickValueInList(["chunk_shape", "index_codecs", "index_location", "codecs"])
        sharding[key] = fdp.PickValueInList(
            [
                [1] * ndim,
                [0] * ndim,
                [7] * ndim,
                [2**63] * ndim,
                [],
                "end",
                "middle",
                [BYTES_CODEC],
                [{"name": "zstd"}],
                3,
            ]
        )
    elif what == 13 and doc["codecs"]:
        codec = doc["codecs"][-1]
        if isinstance(codec, dict):
            codec["configuration"] = fdp.PickValueInList([{}, {"level": 99}, {"endian": "middle"}, None, []])
    elif what == 14:
        doc["attributes"] = fdp.PickValueInList([[], None, "x", {"nested": {"deep": [1, 2, {"x": None}]}}])
    else:
        doc["node_type"] = fdp.PickValueInList(["group", "", 1])


def _structured_document(fdp: atheris.FuzzedDataProvider) -> dict[str, Any]:
    doc = _valid_document(fdp)
    for _ in range(fdp.PickValueInList([0, 0, 1, 1, 1, 2, 3])):
        # An earlier mutation may have removed or retyped what a later one edits: skip those.
        with contextlib.suppress(KeyError, TypeError, AttributeError, IndexError):
            _mutate(doc, fdp)
    return doc


def _chunk_bytes_ok(arr: zarrs_cffi.Array) -> bool:
    """Only touch data when every decoded chunk fits easily in memory (see MAX_CHUNK_BYTES)."""
    try:
        inner, shards = chunks_and_shards(arr.metadata)
    except zarrs_cffi.ZarrsError:
        return False
    for shape in (inner, shards or ()):
        if not all(isinstance(n, int) and 0 < n < MAX_SHAPE_VALUE for n in shape):
            return False
        if math.prod(shape) * arr.dtype.itemsize > MAX_CHUNK_BYTES:
            return False
    return bool(arr.ndim == 0 or all(0 < n < MAX_SHAPE_VALUE for n in arr.shape))


def _exercise(arr: zarrs_cffi.Array, fdp: atheris.FuzzedDataProvider, *, partial_reads: bool = True) -> None:
    """Read, write and read back a few small regions of an open array."""
    _ = (arr.shape, arr.dtype, arr.chunks, arr.shards, arr.fill_value, arr.attrs, arr.nbytes, repr(arr))
    if not _chunk_bytes_ok(arr):
        return
    region = tuple(slice(0, min(n, fdp.ConsumeIntInRange(1, 4))) for n in arr.shape)
    _say("exercise", repr(arr), "region", region)
    if partial_reads:
        _call(lambda: arr.read(region))
    _call(lambda: arr.read_chunk((0,) * arr.ndim))
    _call(lambda: arr.read_encoded_chunk((0,) * arr.ndim))
    if partial_reads and fdp.ConsumeBool() and arr.nbytes <= 4 * MAX_CHUNK_BYTES:  # the whole array, if small
        _call(arr.read)
    if arr.size == 0 or not fdp.ConsumeBool():
        return
    shape = tuple(s.stop - s.start for s in region)
    raw = fdp.ConsumeBytes(math.prod(shape) * arr.dtype.itemsize)
    raw = raw.ljust(math.prod(shape) * arr.dtype.itemsize, b"\0")
    if arr.dtype.kind == "b":
        values = (np.frombuffer(raw, "u1") % 2).astype(bool).reshape(shape)
    else:
        values = np.frombuffer(raw, arr.dtype).reshape(shape)
    if not partial_reads and any(s.stop - s.start < c for s, c in zip(region, arr.chunk_shape())):
        return  # a partial write reads the damaged chunk through the partial decoder
    try:
        arr.write(region, values)
    except EXPECTED as exc:
        _tolerate(exc)
        return
    back = _call(lambda: arr.read(region))
    if back is not None and not np.array_equal(back, values, equal_nan=arr.dtype.kind in "fc"):
        if arr.dtype.kind in "fc" and np.array_equal(
            back.view(f"u{arr.dtype.itemsize}"), values.view(f"u{arr.dtype.itemsize}")
        ):
            return
        raise Finding(
            f"wrote {values!r} to {region} of {arr!r} (metadata {arr.metadata}), read back {back!r}"
        )


def _call(fn: Any) -> Any:
    try:
        return fn()
    except EXPECTED as exc:
        _tolerate(exc)
        return None


def _tolerate(exc: BaseException) -> None:
    """Re-raise an expected exception that this run counts as a finding after all."""
    if PANIC_IS_FINDING and isinstance(exc, zarrs_cffi.InternalPanicError):
        raise exc


def _open_and_exercise(fdp: atheris.FuzzedDataProvider, *, partial_reads: bool = True) -> None:
    try:
        arr = zarrs_cffi.open_array(ARRAY_DIR)
    except EXPECTED as exc:
        _tolerate(exc)
        return
    with arr:
        _exercise(arr, fdp, partial_reads=partial_reads)


TEMPLATES: list[dict[str, Any]] = [
    {"shape": (6, 5), "dtype": "int32", "chunks": (4, 4), "compressors": "zstd"},
    {"shape": (6, 5), "dtype": "uint8", "chunks": (4, 4), "compressors": "gzip"},
    {"shape": (6, 5), "dtype": "float64", "chunks": (4, 4), "compressors": "blosc"},
    {"shape": (6, 5), "dtype": "int16", "chunks": (4, 4), "compressors": None},
    {"shape": (6, 5), "dtype": "complex64", "chunks": (4, 4), "compressors": [{"name": "crc32c"}]},
    {"shape": (8, 8), "dtype": "uint16", "chunks": (2, 2), "shards": (4, 4), "compressors": "zstd"},
    {"shape": (8, 8), "dtype": "bool", "chunks": (2, 4), "shards": (4, 8), "compressors": None},
    {"shape": (9,), "dtype": "float32", "chunks": (3,), "shards": (9,), "compressors": "gzip"},
]


def _chunk_mode(fdp: atheris.FuzzedDataProvider) -> None:
    template = fdp.PickValueInList(TEMPLATES)
    with zarrs_cffi.create_array(ARRAY_DIR, overwrite=True, fill_value=0, **template) as arr:
        arr[...] = (
            np.arange(math.prod(template["shape"])).reshape(template["shape"]).astype(template["dtype"])
        )
    key = "c/" + "/".join("0" for _ in template["shape"])
    path = os.path.join(ARRAY_DIR, key)
    with open(path, "rb") as fh:
        valid = fh.read()
    sharded = "shards" in template
    if sharded and fdp.ConsumeBool():
        # Keep the shard's chunks, fuzz its index (a valid crc32c is recomputed half of the time).
        n = 2 * math.prod(s // c for s, c in zip(template["shards"], template["chunks"]))
        body = valid[: -(8 * n + 4)]
        entries: list[int] = []
        for _ in range(n // 2):
            if fdp.ConsumeIntInRange(0, 5) == 0:
                entries += [2**64 - 1, 2**64 - 1]  # "inner chunk missing"
                continue
            pair = [
                fdp.PickValueInList([0, 1, len(body), 2**64 - 1, 2**63, 2**32, 2**40])
                if fdp.ConsumeIntInRange(0, 3) == 0
                else fdp.ConsumeIntInRange(0, 2 * len(valid))
                for _ in range(2)
            ]
            if not KNOWN_ABORTS and sum(pair) >= 2**64:
                pair = [p % 2**32 for p in pair]  # offset + length wrapping past 2**64 panics (known)
            entries += pair
        index = np.array(entries, "<u8").tobytes()
        crc = _crc32c(index) if fdp.ConsumeBool() else fdp.ConsumeIntInRange(0, 2**32 - 1)
        data = body + index + int(crc).to_bytes(4, "little")
        # A length beyond memory aborts region reads (known): only read_chunk then.
        partial = KNOWN_ABORTS or all(
            (o, ln) == (2**64 - 1, 2**64 - 1) or ln <= 2 * len(valid)
            for o, ln in zip(entries[::2], entries[1::2])
        )
    else:
        data = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 2 * len(valid) + 16))
        if fdp.ConsumeBool() and valid:
            cut = fdp.ConsumeIntInRange(0, len(valid))
            data = valid[:cut] + data[: len(valid) - cut]
        partial = KNOWN_ABORTS or not sharded
    with open(path, "wb") as fh:
        fh.write(data)
    _say("chunk mode", template, key, "valid", valid.hex(), "fuzzed", data.hex(), "partial reads", partial)
    _open_and_exercise(fdp, partial_reads=partial)


_CRC_TABLE: list[int] = []


def _crc32c(data: bytes) -> int:
    if not _CRC_TABLE:
        for i in range(256):
            crc = i
            for _ in range(8):
                crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
            _CRC_TABLE.append(crc)
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    mode = fdp.ConsumeIntInRange(0, 3)
    _clean()
    try:
        if mode == 0:
            name = "zarr.json" if fdp.ConsumeIntInRange(0, 3) else ".zarray"
            _write(name, raw := fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 4096)))
            _say("raw metadata", name, raw)
            if name == ".zarray" and fdp.ConsumeBool():
                _write(".zattrs", fdp.ConsumeBytes(64))
            _open_and_exercise(fdp)
        elif mode == 1:
            doc = _structured_document(fdp)
            _write("zarr.json", json.dumps(doc).encode())
            _say("structured metadata", json.dumps(doc))
            _open_and_exercise(fdp)
        elif mode == 2:
            _chunk_mode(fdp)
        else:
            doc = _structured_document(fdp) if fdp.ConsumeBool() else {"zarr_format": 3, "node_type": "group"}
            node = fdp.PickValueInList(["/", "/a", "/a/b", "a", "/\u00e9", "/a/../b", "/a\0", "//", ""])
            _say("create_node", repr(node), json.dumps(doc))
            with zarrs_cffi.Store(ARRAY_DIR) as store:
                try:
                    store.create_node(node, doc, overwrite=fdp.ConsumeBool())
                except EXPECTED as exc:
                    _tolerate(exc)
                    return
                _call(lambda: store.read_metadata(node))
                _call(lambda: store.list_children("/"))
                _call(lambda: store.stored_bytes("/"))
            try:
                arr = zarrs_cffi.open_array(ARRAY_DIR, node)
            except EXPECTED as exc:
                _tolerate(exc)
                return
            with arr:
                _exercise(arr, fdp)
    except EXPECTED as exc:
        _tolerate(exc)  # raised outside the guarded calls (e.g. by a property): fine


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
