"""Bad input never crashes the process: each case runs in a fresh interpreter (an abort in native
code would fail only that run), and must raise the expected exception type with a useful message.

Upstream zarrs_ffi aborts on NULL or non-UTF-8 strings and trusts lengths; these cases are the
inputs that would reach those paths if the Python layer or zarrs-cffi's own C functions let them.
"""

from __future__ import annotations

import json
import pathlib
import re
import warnings
from dataclasses import dataclass

import numcodecs
import numpy as np
import pytest
import zarr
from zarr_oracle import ARANGE_8X8, run_python

PRELUDE = r"""
import sys
import numpy as np
import zarrs_cffi

root = sys.argv[1]


def report(case):
    try:
        case()
    except BaseException as exc:
        print("RAISED", type(exc).__name__)
        print("MRO", " ".join(c.__name__ for c in type(exc).__mro__))
        print("MESSAGE", str(exc).replace("\n", " "))
    else:
        print("NO EXCEPTION")
"""


@dataclass(frozen=True)
class Case:
    code: str  # statements defining ``case()``; ``root`` is the fixture directory
    raises: str  # exception class name (exact)
    builtin: str  # a builtin class it must also derive from
    message: str = ""  # regex the message must match


def run_case(case: Case, root: pathlib.Path | str) -> None:
    result = run_python(PRELUDE + case.code + "\nreport(case)\n", str(root), timeout=60)
    assert result.returncode == 0, (
        f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)
    assert "RAISED" in lines, f"no exception raised:\n{result.stdout}"
    assert lines["RAISED"] == case.raises, result.stdout
    assert case.builtin in lines["MRO"].split(), result.stdout
    assert "ZarrsError" in lines["MRO"].split() or case.raises in ("TypeError", "IndexError", "ValueError")
    assert re.search(case.message, lines["MESSAGE"]), f"message {lines['MESSAGE']!r} !~ {case.message!r}"


def _open(expr: str) -> str:
    return f"def case():\n    arr = zarrs_cffi.open_array(root + '/good.zarr')\n    {expr}\n"


CASES: dict[str, Case] = {
    # --- paths and node names ---------------------------------------------------------------------------
    "nul-in-path": Case(
        "def case(): zarrs_cffi.open_array(root + '/a\\0b')", "InvalidArgumentError", "ValueError", "NUL"
    ),
    "nul-in-node": Case(
        "def case(): zarrs_cffi.open_array(root, '/good\\0.zarr')",
        "InvalidArgumentError",
        "ValueError",
        "NUL",
    ),
    "surrogate-path": Case(
        "def case(): zarrs_cffi.open_array(root + '/\\udcff')", "InvalidArgumentError", "ValueError", "UTF-8"
    ),
    "surrogate-node": Case(
        "def case(): zarrs_cffi.open_array(root, '/\\udcff')", "InvalidArgumentError", "ValueError", "UTF-8"
    ),
    "bytes-path": Case(
        "def case(): zarrs_cffi.open_array((root + '/good.zarr').encode())",
        "InvalidArgumentError",
        "ValueError",
        "bytes",
    ),
    "bytes-node": Case(
        "def case(): zarrs_cffi.open_array(root, b'/good.zarr')", "InvalidArgumentError", "ValueError", "str"
    ),
    "int-path": Case("def case(): zarrs_cffi.open_array(3)", "InvalidArgumentError", "ValueError", "int"),
    "empty-path": Case(
        "def case(): zarrs_cffi.open_array('')", "InvalidArgumentError", "ValueError", "empty"
    ),
    "dotdot-node": Case(
        "def case(): zarrs_cffi.open_array(root, '/a/../good.zarr')",
        "InvalidArgumentError",
        "ValueError",
        r"\.\.",
    ),
    "functional-nul": Case(
        "def case(): zarrs_cffi.read(root + '/\\0')", "InvalidArgumentError", "ValueError", "NUL"
    ),
    "functional-surrogate": Case(
        "def case(): zarrs_cffi.read(root + '/\\udcff')", "InvalidArgumentError", "ValueError", "UTF-8"
    ),
    "functional-bytes": Case(
        "def case(): zarrs_cffi.read_into(np.empty((8, 8), 'uint16'), (root + '/good.zarr').encode())",
        "InvalidArgumentError",
        "ValueError",
        "bytes",
    ),
    "create-nul": Case(
        "def case(): zarrs_cffi.create_array(root + '/x\\0', shape=(2,), dtype='u1', chunks=(2,))",
        "InvalidArgumentError",
        "ValueError",
        "NUL",
    ),
    "create-surrogate-node": Case(
        "def case(): zarrs_cffi.create_array(root + '/new.zarr', '/\\udcff', shape=(2,), dtype='u1', chunks=(2,))",
        "InvalidArgumentError",
        "ValueError",
        "UTF-8",
    ),
    "store-nul": Case("def case(): zarrs_cffi.Store('a\\0b')", "InvalidArgumentError", "ValueError", "NUL"),
    # Attributes with a lone surrogate are not bad input: zarr-python writes and reads them
    # (tests/test_metadata_other_writers.py).
    "missing-array": Case(
        "def case(): zarrs_cffi.open_array(root + '/missing.zarr')",
        "NodeNotFoundError",
        "FileNotFoundError",
        "missing.zarr",
    ),
    "missing-node": Case(
        "def case(): zarrs_cffi.open_array(root, '/no/such/node')",
        "NodeNotFoundError",
        "FileNotFoundError",
        "/no/such/node",
    ),
    "missing-functional": Case(
        "def case(): zarrs_cffi.read(root + '/missing.zarr')",
        "NodeNotFoundError",
        "FileNotFoundError",
        "missing.zarr",
    ),
    # --- out= buffers -------------------------------------------------------------------------------------
    "out-wrong-dtype": Case(
        _open("arr.read_into(np.empty((8, 8), 'int16'))"), "DataTypeMismatchError", "TypeError", "dtype"
    ),
    "out-wrong-shape": Case(
        _open("arr.read_into(np.empty((8, 7), 'uint16'))"), "OutputBufferError", "ValueError", "shape"
    ),
    "out-read-only": Case(
        _open("out = np.empty((8, 8), 'uint16'); out.flags.writeable = False; arr.read_into(out)"),
        "OutputBufferError",
        "ValueError",
        "read-only",
    ),
    "out-fortran": Case(
        _open("arr.read_into(np.empty((8, 8), 'uint16', order='F'))"),
        "OutputBufferError",
        "ValueError",
        "C-contiguous",
    ),
    "out-sliced-view": Case(
        _open("arr.read_into(np.empty((8, 16), 'uint16')[:, ::2])"),
        "OutputBufferError",
        "ValueError",
        "C-contiguous",
    ),
    "out-not-ndarray": Case(
        _open("arr.read_into(bytearray(128))"), "NotAnArrayError", "TypeError", "ndarray"
    ),
    "functional-out-wrong-dtype": Case(
        "def case(): zarrs_cffi.read_into(np.empty((8, 8), 'f8'), root + '/good.zarr')",
        "DataTypeMismatchError",
        "TypeError",
        "dtype",
    ),
    # --- regions ----------------------------------------------------------------------------------------
    "region-int-out-of-bounds": Case(_open("arr[8]"), "InvalidIndicesError", "IndexError", "out of bounds"),
    "region-negative-out-of-bounds": Case(
        _open("arr[0, -9]"), "InvalidIndicesError", "IndexError", "out of bounds"
    ),
    "region-huge-int": Case(_open("arr[2**70]"), "InvalidIndicesError", "IndexError", "out of bounds"),
    "region-too-many": Case(_open("arr[0, 0, 0]"), "InvalidIndicesError", "IndexError", "too many"),
    "region-list": Case(_open("arr[[0, 1]]"), "InvalidSelectionError", "TypeError", "list"),
    "region-array": Case(_open("arr[np.array([0, 1])]"), "InvalidSelectionError", "TypeError", "ndarray"),
    "region-bool-mask": Case(
        _open("arr[np.ones((8, 8), bool)]"), "InvalidSelectionError", "TypeError", "basic indexing"
    ),
    "region-bool": Case(_open("arr[True]"), "InvalidSelectionError", "TypeError", "boolean"),
    "region-float": Case(_open("arr[1.5]"), "InvalidSelectionError", "TypeError", "float"),
    "region-none": Case(_open("arr[None]"), "InvalidSelectionError", "TypeError", "None"),
    "region-newaxis-in-tuple": Case(
        _open("arr[0, np.newaxis]"), "InvalidSelectionError", "TypeError", "None"
    ),
    "region-zero-step": Case(_open("arr[::0]"), "InvalidArgumentError", "ValueError", "step"),
    "write-region-list": Case(_open("arr[[0, 1]] = 3"), "InvalidSelectionError", "TypeError", "list"),
    "write-region-out-of-bounds": Case(
        _open("arr.write((9, 0), 3)"), "InvalidIndicesError", "IndexError", "out of bounds"
    ),
    "read-into-region-out-of-bounds": Case(
        _open("arr.read_into(np.empty(8, 'uint16'), -10)"),
        "InvalidIndicesError",
        "IndexError",
        "out of bounds",
    ),
    # --- chunk coordinates and chunk data ---------------------------------------------------------------
    "chunk-too-short": Case(
        _open("arr.read_chunk((0,))"), "ChunkCoordsLengthError", "IndexError", "2 dimensions"
    ),
    "chunk-too-long": Case(
        _open("arr.read_chunk((0, 0, 0))"), "ChunkCoordsLengthError", "ValueError", "2 dimensions"
    ),
    "chunk-outside-grid": Case(
        _open("arr.read_chunk((2, 0))"), "InvalidIndicesError", "IndexError", "chunk grid"
    ),
    "chunk-negative": Case(
        _open("arr.read_chunk((-1, 0))"), "InvalidIndicesError", "IndexError", "chunk grid"
    ),
    "chunk-huge": Case(
        _open("arr.read_chunk((0, 2**64))"), "InvalidIndicesError", "IndexError", "chunk grid"
    ),
    "chunk-float": Case(_open("arr.read_chunk((0.0, 0))"), "ChunkCoordsTypeError", "TypeError", "integers"),
    "chunk-bool": Case(_open("arr.read_chunk((True, 0))"), "ChunkCoordsTypeError", "TypeError", "bool"),
    "write-chunk-outside-grid": Case(
        _open("arr.write_chunk((0, 5), np.zeros((4, 4), 'uint16'))"),
        "InvalidIndicesError",
        "IndexError",
        "chunk grid",
    ),
    "write-chunk-negative": Case(
        _open("arr.write_chunk((0, -1), np.zeros((4, 4), 'uint16'))"),
        "InvalidIndicesError",
        "IndexError",
        "chunk grid",
    ),
    "write-chunk-wrong-length": Case(
        _open("arr.write_chunk((0,), np.zeros((4, 4), 'uint16'))"),
        "ChunkCoordsLengthError",
        "DimensionalityError",
        "dimensions",
    ),
    "write-chunk-wrong-shape": Case(
        _open("arr.write_chunk((0, 0), np.zeros((4, 3), 'uint16'))"),
        "InvalidArgumentError",
        "ValueError",
        r"\(4, 3\)",
    ),
    "write-chunk-flat": Case(
        _open("arr.write_chunk((0, 0), np.zeros(16, 'uint16'))"),
        "InvalidArgumentError",
        "ValueError",
        "shape",
    ),
    "erase-chunk-negative": Case(
        _open("arr.erase_chunk((-1, -1))"), "InvalidIndicesError", "IndexError", "chunk grid"
    ),
    "encoded-chunk-outside": Case(
        _open("arr.read_encoded_chunk((9, 9))"), "InvalidIndicesError", "IndexError", "chunk grid"
    ),
    # --- create_array arguments ----------------------------------------------------------------------------
    "create-negative-shape": Case(
        "def case(): zarrs_cffi.create_array(root + '/n.zarr', shape=(-1, 4), dtype='u2', chunks=(4, 4))",
        "InvalidArgumentError",
        "ValueError",
        "shape",
    ),
    "create-zero-chunks": Case(
        "def case(): zarrs_cffi.create_array(root + '/n.zarr', shape=(8, 4), dtype='u2', chunks=(0, 4))",
        "InvalidArgumentError",
        "ValueError",
        "chunks",
    ),
    "create-negative-chunks": Case(
        "def case(): zarrs_cffi.create_array(root + '/n.zarr', shape=(8, 4), dtype='u2', chunks=(-4, 4))",
        "InvalidArgumentError",
        "ValueError",
        "chunks",
    ),
    "create-chunks-wrong-length": Case(
        "def case(): zarrs_cffi.create_array(root + '/n.zarr', shape=(8, 4), dtype='u2', chunks=(4,))",
        "InvalidArgumentError",
        "ValueError",
        "chunks",
    ),
    "create-shards-not-multiple": Case(
        "def case(): zarrs_cffi.create_array(root + '/n.zarr', shape=(8, 4), dtype='u2', chunks=(4, 4), shards=(6, 4))",
        "InvalidArgumentError",
        "ValueError",
        "multiple",
    ),
    "create-huge-shape": Case(
        "def case(): zarrs_cffi.create_array(root + '/n.zarr', shape=(2**64,), dtype='u2', chunks=(4,))",
        "InvalidArgumentError",
        "ValueError",
        "large",
    ),
    "create-float-shape": Case(
        "def case(): zarrs_cffi.create_array(root + '/n.zarr', shape=(2.5,), dtype='u2', chunks=(4,))",
        "InvalidArgumentError",
        "ValueError",
        "integers",
    ),
    "create-dtype-U4": Case(
        "def case(): zarrs_cffi.create_array(root + '/n.zarr', shape=(4,), dtype='U4', chunks=(4,))",
        "UnsupportedDataTypeError",
        "TypeError",
        "not supported",
    ),
    "create-dtype-object": Case(
        "def case(): zarrs_cffi.create_array(root + '/n.zarr', shape=(4,), dtype=object, chunks=(4,))",
        "UnsupportedDataTypeError",
        "TypeError",
        "not supported",
    ),
    "create-dtype-datetime": Case(
        "def case(): zarrs_cffi.create_array(root + '/n.zarr', shape=(4,), dtype='M8[s]', chunks=(4,))",
        "UnsupportedDataTypeError",
        "TypeError",
        "not supported",
    ),
    "create-dtype-bogus": Case(
        "def case(): zarrs_cffi.create_array(root + '/n.zarr', shape=(4,), dtype='bogus', chunks=(4,))",
        "UnsupportedDataTypeError",
        "TypeError",
        "bogus",
    ),
    "create-unknown-compressor": Case(
        "def case(): zarrs_cffi.create_array(root + '/n.zarr', shape=(4,), dtype='u1', chunks=(4,), compressors='lzma')",
        "InvalidArgumentError",
        "ValueError",
        "lzma",
    ),
    "create-unknown-codec-dict": Case(
        "def case(): zarrs_cffi.create_array(root + '/n.zarr', shape=(4,), dtype='u1', chunks=(4,), compressors=[{'name': 'nope'}])",
        "InvalidMetadataError",
        "ValueError",
        "nope",
    ),
    "create-fill-does-not-fit": Case(
        "def case(): zarrs_cffi.create_array(root + '/n.zarr', shape=(4,), dtype='u1', chunks=(4,), fill_value='abc')",
        "InvalidArgumentError",
        "ValueError",
        "fill_value",
    ),
    "create-existing-node": Case(
        "def case(): zarrs_cffi.create_array(root + '/good.zarr', shape=(4,), dtype='u1', chunks=(4,))",
        "NodeExistsError",
        "ValueError",
        "already exists",
    ),
    "create-over-group": Case(
        "def case(): zarrs_cffi.create_array(root, shape=(4,), dtype='u1', chunks=(4,))",
        "NodeExistsError",
        "ValueError",
        "already exists",
    ),
    # --- corrupt chunks on disk ---------------------------------------------------------------------------
    "chunk-zstd-truncated": Case(
        "def case(): zarrs_cffi.open_array(root + '/corrupt/zstd-truncated.zarr').read()",
        "CodecError",
        "ValueError",
        '"c/0/1"',
    ),
    "chunk-zstd-garbage-read-chunk": Case(
        "def case(): zarrs_cffi.open_array(root + '/corrupt/zstd-garbage.zarr').read_chunk((1, 1))",
        "CodecError",
        "ValueError",
        '"c/1/1"',
    ),
    "chunk-raw-truncated": Case(
        "def case(): zarrs_cffi.open_array(root + '/corrupt/raw-truncated.zarr')[4:, :4]",
        "CodecError",
        "ValueError",
        '"c/1/0"',
    ),
    "chunk-raw-too-long": Case(
        "def case(): zarrs_cffi.open_array(root + '/corrupt/raw-too-long.zarr').read()",
        "CodecError",
        "ValueError",
        '"c/1/0"',
    ),
    "chunk-gzip-empty": Case(
        "def case(): zarrs_cffi.read(root + '/corrupt/gzip-empty.zarr')",
        "CodecError",
        "ValueError",
        '"c/0/0"',
    ),
    "chunk-blosc-garbage": Case(
        "def case(): zarrs_cffi.open_array(root + '/corrupt/blosc-garbage.zarr').read()",
        "CodecError",
        "ValueError",
        '"c/0/0"',
    ),
    "chunk-crc32c-bitflip": Case(
        "def case(): zarrs_cffi.open_array(root + '/corrupt/crc32c-bitflip.zarr').read()",
        "CodecError",
        "ValueError",
        '"c/0/0"',
    ),
    "shard-truncated": Case(
        "def case(): zarrs_cffi.open_array(root + '/corrupt/shard-truncated.zarr').read()",
        "CodecError",
        "ValueError",
        '"c/0/0"',
    ),
    "shard-garbage-read-into": Case(
        "def case(): zarrs_cffi.read_into(np.empty((2, 2), 'uint16'), root + '/corrupt/shard-garbage.zarr', np.s_[:2, :2])",
        "CodecError",
        "ValueError",
        '"c/0/0"',
    ),
    "v2-zlib-garbage": Case(
        "def case(): zarrs_cffi.open_array(root + '/corrupt/v2-zlib-garbage.zarr').read()",
        "CodecError",
        "ValueError",
        '"1.1"',
    ),
    # --- metadata ---------------------------------------------------------------------------------------
    "meta-unknown-codec": Case(
        "def case(): zarrs_cffi.open_array(root + '/meta/unknown-codec.zarr')",
        "InvalidMetadataError",
        "ValueError",
        "no-such-codec",
    ),
    "meta-unknown-dtype": Case(
        "def case(): zarrs_cffi.open_array(root + '/meta/unknown-dtype.zarr')",
        "UnsupportedDataTypeError",
        "TypeError",
        "no_such_type",
    ),
    # --- unsupported data types written by zarr-python --------------------------------------------------
    "zarr-python-strings": Case(
        "def case(): zarrs_cffi.open_array(root + '/strings.zarr')",
        "UnsupportedDataTypeError",
        "TypeError",
        "not supported",
    ),
    "zarr-python-datetime": Case(
        "def case(): zarrs_cffi.open_array(root + '/datetime.zarr')",
        "UnsupportedDataTypeError",
        "TypeError",
        "not supported",
    ),
    "zarr-python-fixed-bytes": Case(
        "def case(): zarrs_cffi.open_array(root + '/bytes.zarr')",
        "UnsupportedDataTypeError",
        "TypeError",
        "not supported",
    ),
    # --- closed arrays ------------------------------------------------------------------------------------
    "use-after-close": Case(_open("arr.close(); arr.read()"), "ClosedError", "ValueError", "closed"),
    "write-after-close": Case(
        _open("arr.close(); arr.close(); arr[0, 0] = 1"), "ClosedError", "ValueError", "closed"
    ),
    "chunk-after-close": Case(
        _open("arr.close(); arr.read_chunk((0, 0))"), "ClosedError", "ValueError", "closed"
    ),
}

# Malformed metadata files: the result must be InvalidMetadataError (a ValueError).
METADATA_CASES: dict[str, Case] = {
    name: Case(
        f"def case(): zarrs_cffi.open_array(root + '/meta/{name}.zarr')",
        "InvalidMetadataError",
        "ValueError",
        "",
    )
    for name in ("not-json", "json-list", "wrong-field-type", "missing-shape", "v2-not-json")
}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A store holding every array the cases read: good, corrupt, malformed, unsupported."""
    root = tmp_path_factory.mktemp("bad-input")
    zarr.open_group(str(root), mode="w")  # the root is a group: create_array over it must fail
    good = zarr.create_array(store=str(root / "good.zarr"), shape=(8, 8), chunks=(4, 4), dtype="uint16")
    good[...] = ARANGE_8X8

    def corrupt(name: str, key: str, how: str, **kwargs: object) -> None:
        path = root / "corrupt" / f"{name}.zarr"
        z = zarr.create_array(store=str(path), shape=(8, 8), dtype="uint16", **kwargs)  # type: ignore[arg-type]
        z[...] = ARANGE_8X8 + 1
        chunk = path / key
        raw = chunk.read_bytes()
        chunk.write_bytes(
            {
                "truncate": raw[: len(raw) // 2],
                "garbage": b"\x13garbage\x00" * 5,
                "empty": b"",
                "extend": raw + b"\x00" * 8,
                "bitflip": bytes([raw[0] ^ 0x01]) + raw[1:],
            }[how]
        )

    zstd = zarr.codecs.ZstdCodec()
    corrupt("zstd-truncated", "c/0/1", "truncate", chunks=(4, 4), compressors=zstd)
    corrupt("zstd-garbage", "c/1/1", "garbage", chunks=(4, 4), compressors=zstd)
    corrupt("raw-truncated", "c/1/0", "truncate", chunks=(4, 4), compressors=None)
    corrupt("raw-too-long", "c/1/0", "extend", chunks=(4, 4), compressors=None)
    corrupt("gzip-empty", "c/0/0", "empty", chunks=(4, 4), compressors=zarr.codecs.GzipCodec())
    corrupt("blosc-garbage", "c/0/0", "garbage", chunks=(4, 4), compressors=zarr.codecs.BloscCodec())
    corrupt("crc32c-bitflip", "c/0/0", "bitflip", chunks=(4, 4), compressors=zarr.codecs.Crc32cCodec())
    corrupt("shard-truncated", "c/0/0", "truncate", chunks=(2, 2), shards=(4, 4), compressors=None)
    corrupt("shard-garbage", "c/0/0", "garbage", chunks=(2, 2), shards=(4, 4), compressors=zstd)
    corrupt("v2-zlib-garbage", "1.1", "garbage", chunks=(4, 4), zarr_format=2, compressors=numcodecs.Zlib())

    good_doc = json.loads((root / "good.zarr" / "zarr.json").read_text())
    meta = root / "meta"

    def bad_meta(name: str, file: str, content: str | dict[str, object]) -> None:
        (meta / name).mkdir(parents=True)
        text = content if isinstance(content, str) else json.dumps(content)
        (meta / name / file).write_text(text)

    bad_meta("not-json.zarr", "zarr.json", "{this is not json")
    bad_meta("json-list.zarr", "zarr.json", "[1, 2, 3]")
    bad_meta("wrong-field-type.zarr", "zarr.json", {**good_doc, "shape": "eight by eight"})
    bad_meta("missing-shape.zarr", "zarr.json", {k: v for k, v in good_doc.items() if k != "shape"})
    bad_meta("v2-not-json.zarr", ".zarray", '{"zarr_format": 2, "shape": [8, ')
    bad_meta(
        "unknown-codec.zarr",
        "zarr.json",
        {
            **good_doc,
            "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "no-such-codec"}],
        },
    )
    bad_meta("unknown-dtype.zarr", "zarr.json", {**good_doc, "data_type": "no_such_type"})

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zarr-python warns these types are not in the v3 spec
        zarr.create_array(store=str(root / "strings.zarr"), shape=(3,), chunks=(2,), dtype=str)
        zarr.create_array(store=str(root / "datetime.zarr"), shape=(3,), chunks=(2,), dtype="datetime64[s]")
        zarr.create_array(store=str(root / "bytes.zarr"), shape=(3,), chunks=(2,), dtype="S4")
    return root


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(root: pathlib.Path, name: str) -> None:
    run_case(CASES[name], root)


@pytest.mark.parametrize("name", list(METADATA_CASES))
def test_malformed_metadata(root: pathlib.Path, name: str) -> None:
    run_case(METADATA_CASES[name], root)


@pytest.mark.parametrize("name", list(METADATA_CASES))
def test_malformed_metadata_raises_zarrs_error(root: pathlib.Path, name: str) -> None:
    """Whatever its class, a malformed document is reported (not a crash) and names the file."""
    case = METADATA_CASES[name]
    result = run_python(PRELUDE + case.code + "\nreport(case)\n", str(root), timeout=60)
    assert result.returncode == 0, result.stderr
    assert "MRO" in result.stdout and "ZarrsError" in result.stdout, result.stdout
    assert re.search(r"zarr\.json|\.zarray", result.stdout), result.stdout


def test_bad_input_leaves_process_usable(root: pathlib.Path) -> None:
    """After a run of rejected calls in one process, normal reads still work."""
    code = (
        PRELUDE
        + "\n".join(c.code + "\nreport(case)" for c in list(CASES.values())[:40])
        + (
            "\nout = zarrs_cffi.open_array(root + '/good.zarr').read()"
            "\nassert (out == np.arange(64, dtype='uint16').reshape(8, 8)).all()"
            "\nprint('STILL OK')\n"
        )
    )
    result = run_python(code, str(root), timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("RAISED") == 40
    assert "STILL OK" in result.stdout


def test_create_existing_then_overwrite(tmp_path: pathlib.Path) -> None:
    code = PRELUDE + (
        "def case():\n"
        "    zarrs_cffi.create_array(root + '/a.zarr', shape=(4,), dtype='u1', chunks=(2,))\n"
        "    zarrs_cffi.create_array(root + '/a.zarr', shape=(4,), dtype='u1', chunks=(2,))\n"
        "report(case)\n"
        "arr = zarrs_cffi.create_array(root + '/a.zarr', shape=(3,), dtype='i2', chunks=(2,), overwrite=True)\n"
        "print('SHAPE', arr.shape, arr.dtype)\n"
    )
    result = run_python(code, str(tmp_path), timeout=60)
    assert result.returncode == 0, result.stderr
    assert "RAISED NodeExistsError" in result.stdout
    assert "SHAPE (3,) int16" in result.stdout
    assert zarr.open_array(str(tmp_path / "a.zarr"), mode="r").shape == (3,)


def test_no_exception_means_failure_is_detected(root: pathlib.Path) -> None:
    """The harness itself: a case that does not raise must fail run_case."""
    with pytest.raises(AssertionError, match="no exception"):
        run_case(Case(_open("arr.read()"), "ZarrsError", "Exception"), root)
    with pytest.raises(AssertionError):
        run_case(Case("def case(): import os; os.abort()", "ZarrsError", "Exception"), root)
    np.testing.assert_array_equal(zarr.open_array(str(root / "good.zarr"), mode="r")[...], ARANGE_8X8)
