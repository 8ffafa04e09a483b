"""The batch of bad-input cases test_bad_inputs.py runs in one subprocess (argv[1]: a scratch
directory; further arguments: run only those labels). Prints a {"start": label} line before each case
and a result line after it, so a native abort names the case that caused it."""

import json
import pathlib
import sys
import warnings

import numpy as np

import zarrs_cffi
from zarrs_cffi import crud

root = pathlib.Path(sys.argv[1])
A = str(root / "a.zarr")
arr = zarrs_cffi.create_array(A, shape=(8, 8), dtype="uint16", chunks=(4, 4))
ro = zarrs_cffi.open_array(A, read_only=True)
store = zarrs_cffi.Store(root / "s.zarr")
zarrs_cffi.create_group(root / "g.zarr")
ro_out = np.empty((8, 8), "uint16")
ro_out.setflags(write=False)
closed = zarrs_cffi.open_array(A)
closed.close()
closed_store = zarrs_cffi.Store(root / "c.zarr")
closed_store.close()
encoded = arr.encode_chunk((0, 0), np.ones((4, 4), "uint16"))
ro_chunk = np.empty((4, 4), "uint16")
ro_chunk.setflags(write=False)
huge = zarrs_cffi.create_array(
    root / "huge.zarr", shape=(2**40, 2**40), dtype="float64", chunks=(2**20, 2**20)
)


def nested(depth):
    """A list nested ``depth`` deep ([[[...]]])."""
    outer = inner = []
    for _ in range(depth - 1):
        inner.append([])
        inner = inner[0]
    return outer


circular = {}
circular["self"] = circular


def C(**kw):
    """create_array of an 8x8 uint16 array at n.zarr, with ``kw`` overriding the defaults."""
    args = {"shape": (8, 8), "dtype": "uint16", "chunks": (4, 4), "overwrite": True, **kw}
    return zarrs_cffi.create_array(root / "n.zarr", **args)


CASES = {
    "open path int": lambda: zarrs_cffi.open_array(123),
    "open path bytes": lambda: zarrs_cffi.open_array(b"x"),
    "open path None": lambda: zarrs_cffi.open_array(None),
    "open path NUL": lambda: zarrs_cffi.open_array("a\0b"),
    "open path surrogate": lambda: zarrs_cffi.open_array("\udcff"),
    "open path empty": lambda: zarrs_cffi.open_array(""),
    "open node int": lambda: zarrs_cffi.open_array(A, 5),
    "open node NUL": lambda: zarrs_cffi.open_array(A, "/a\0"),
    "open node dotdot": lambda: zarrs_cffi.open_array(A, "/a/../b"),
    "open node empty seg": lambda: zarrs_cffi.open_array(A, "a//b"),
    "open node trailing": lambda: zarrs_cffi.open_array(A, "/a/"),
    "open missing": lambda: zarrs_cffi.open_array(root / "missing.zarr"),
    "open group": lambda: zarrs_cffi.open_array(root / "g.zarr"),
    "open cache str": lambda: zarrs_cffi.open_array(A, chunk_cache_bytes="1"),
    "open cache neg": lambda: zarrs_cffi.open_array(A, chunk_cache_bytes=-1),
    "open cache 2**64": lambda: zarrs_cffi.open_array(A, chunk_cache_bytes=2**64),
    "open engine unknown": lambda: zarrs_cffi.open_array(A, engine="nope"),
    "open engine int": lambda: zarrs_cffi.open_array(A, engine=5),
    "create shape str": lambda: C(shape="abc"),
    "create shape negative": lambda: C(shape=(-1, 4)),
    "create shape 2**64": lambda: C(shape=(2**64, 4)),
    "create shape float": lambda: C(shape=(1.5, 4)),
    "create shape bool": lambda: C(shape=(True, 4)),
    "create shape None": lambda: C(shape=None),
    "create chunks zero": lambda: C(chunks=(0, 4)),
    "create chunks rank": lambda: C(chunks=(4,)),
    "create shards not multiple": lambda: C(shards=(6, 6)),
    "create shards rank": lambda: C(shards=(8,)),
    "create dtype unknown": lambda: C(dtype="nope"),
    "create dtype object": lambda: C(dtype=object),
    "create dtype str": lambda: C(dtype="U5"),
    "create dtype int": lambda: C(dtype=5),
    "create compressor unknown": lambda: C(compressors="lz5"),
    "create compressor no name": lambda: C(compressors=[{"name": 5}]),
    "create compressor native unknown": lambda: C(compressors=[{"name": "nope"}]),
    "create fill str": lambda: C(fill_value="abc"),
    "create fill overflow": lambda: C(fill_value=2**70),
    "create fill out of int16": lambda: C(dtype="int16", fill_value=70000),
    "create fill negative unsigned": lambda: C(dtype="uint8", fill_value=-1),
    "create fill NaN integer": lambda: C(dtype="int16", fill_value=float("nan")),
    "create fill numpy NaN integer": lambda: C(dtype="int16", fill_value=np.float32("nan")),
    "create fill huge float integer": lambda: C(dtype="int8", fill_value=1e20),
    "create fill fraction integer": lambda: C(dtype="int32", fill_value=2.5),
    "create fill int64 overflow": lambda: C(dtype="int64", fill_value=2**63),
    "create fill float16 overflow": lambda: C(dtype="float16", fill_value=1e10),
    "create fill complex into float": lambda: C(dtype="float32", fill_value=1 + 2j),
    "create fill 2 into bool": lambda: C(dtype="bool", fill_value=2),
    "create fill list": lambda: C(dtype="uint8", fill_value=[1]),
    "create attributes list": lambda: C(attributes=[1]),
    "create attributes nan": lambda: C(attributes={"a": float("nan")}),
    "create attributes object": lambda: C(attributes={"a": object()}),
    "create attributes circular": lambda: C(attributes=circular),
    "create attributes nested 5000": lambda: C(attributes={"a": nested(5000)}),
    "create attributes nested 200": lambda: C(attributes={"a": nested(200)}),
    "create attributes NUL ok": lambda: C(attributes={"k\0": "v\0"}).attrs,
    "create dimension names int": lambda: C(dimension_names=[1, 2]),
    "create dimension names rank": lambda: C(dimension_names=["a"]),
    "create exists": lambda: zarrs_cffi.create_array(A, shape=(2,), dtype="u1", chunks=(1,)),
    "create path NUL": lambda: zarrs_cffi.create_array("x\0", shape=(2,), dtype="u1", chunks=(1,)),
    "create group attributes str": lambda: zarrs_cffi.create_group(root / "g2.zarr", attributes="x"),
    "create group node NUL": lambda: zarrs_cffi.create_group(root / "g2.zarr", "/a\0"),
    "create group exists": lambda: zarrs_cffi.create_group(root / "g.zarr"),
    "fn read_into list": lambda: zarrs_cffi.read_into([0] * 64, A),
    "fn read missing": lambda: zarrs_cffi.read(root / "missing.zarr"),
    "fn read int path": lambda: zarrs_cffi.read(123),
    "fn write oob": lambda: zarrs_cffi.write(A, (9, 0), 3),
    "read_into dtype": lambda: arr.read_into(np.empty((8, 8), "int16")),
    "read_into shape": lambda: arr.read_into(np.empty((4, 4), "uint16")),
    "read_into strided": lambda: arr.read_into(np.empty((8, 16), "uint16")[:, ::2]),
    "read_into readonly": lambda: arr.read_into(ro_out),
    "read_into bytearray": lambda: arr.read_into(bytearray(128)),
    "index oob": lambda: arr[8],
    "index negative oob": lambda: arr[0, -9],
    "index huge": lambda: arr[2**70],
    "index list": lambda: arr[[0, 1]],
    "index float": lambda: arr[1.5],
    "index None": lambda: arr[None],
    "index str": lambda: arr["a"],
    "index step zero": lambda: arr[::0],
    "index float slice": lambda: arr[1.0:3],
    "index str slice": lambda: arr["x":],
    "index float step": lambda: arr[0:4:1.5],
    "write float slice": lambda: arr.__setitem__(slice(0.5, 2), 1),
    "read_into float slice": lambda: arr.read_into(np.empty((2, 8), "uint16"), (slice(0.0, 2),)),
    "index two ellipsis": lambda: arr[..., ...],
    "index too many": lambda: arr[0, 0, 0],
    "write str": lambda: arr.write((0, 0), "abc"),
    "write shape": lambda: arr.write((slice(0, 2),), np.ones((3, 8))),
    "write object": lambda: arr.write((0, 0), object()),
    "write int overflow": lambda: arr.write((0, 0), 2**20),
    "write negative into unsigned": lambda: arr.write((0, 0), -1),
    "write complex": lambda: arr.write((0, 0), 1 + 2j),
    "write readonly": lambda: ro.write((0, 0), 1),
    "write_chunk readonly": lambda: ro.write_chunk((0, 0), np.ones((4, 4))),
    "erase_chunk readonly": lambda: ro.erase_chunk((0, 0)),
    "read_chunk outside": lambda: arr.read_chunk((2, 0)),
    "read_chunk negative": lambda: arr.read_chunk((-1, 0)),
    "read_chunk 2**64": lambda: arr.read_chunk((0, 2**64)),
    "read_chunk str": lambda: arr.read_chunk(("a", 0)),
    "read_chunk short": lambda: arr.read_chunk((0,)),
    "read_chunk long": lambda: arr.read_chunk((0, 0, 0)),
    "read_chunk int": lambda: arr.read_chunk(5),
    "read_chunk None": lambda: arr.read_chunk(None),
    "read_chunk out dtype": lambda: arr.read_chunk((0, 0), out=np.empty((4, 4), "f8")),
    "write_chunk shape": lambda: arr.write_chunk((0, 0), np.ones((3, 3))),
    "write_chunk str": lambda: arr.write_chunk((0, 0), "abc"),
    "write_chunk outside": lambda: arr.write_chunk((0, 9), np.ones((4, 4))),
    # Chunk writes convert values as region writes do ("write int overflow" and the like above).
    "write_chunk int overflow": lambda: arr.write_chunk((0, 0), [[2**20] * 4] * 4),
    "write_chunk negative into unsigned": lambda: arr.write_chunk((0, 0), [[-1] * 4] * 4),
    "write_chunk str values": lambda: arr.write_chunk((0, 0), [["a"] * 4] * 4),
    "write_chunk None values": lambda: arr.write_chunk((0, 0), [[None] * 4] * 4),
    "encode_chunk int overflow": lambda: arr.encode_chunk((0, 0), [[2**20] * 4] * 4),
    "crud write_chunk int overflow": lambda: crud.write_chunk(arr.metadata, A, "", (0, 0), [[2**20] * 4] * 4),
    "erase_chunk outside": lambda: arr.erase_chunk((5, 5)),
    "read_encoded_chunk negative": lambda: arr.read_encoded_chunk((0, -1)),
    "decode_chunk out dtype": lambda: arr.decode_chunk((0, 0), encoded, out=np.empty((4, 4), "f8")),
    "decode_chunk out list": lambda: arr.decode_chunk((0, 0), encoded, out=[0] * 16),
    "decode_chunk out Fortran": lambda: arr.decode_chunk(
        (0, 0), encoded, out=np.empty((4, 4), "uint16", order="F")
    ),
    "decode_chunk out readonly": lambda: arr.decode_chunk((0, 0), encoded, out=ro_chunk),
    "decode_chunk out shape": lambda: arr.decode_chunk((0, 0), encoded, out=np.empty((2, 8), "uint16")),
    "decode_chunk encoded strided": lambda: arr.decode_chunk((0, 0), np.frombuffer(encoded * 2, "u1")[::2]),
    "decode_chunk encoded int": lambda: arr.decode_chunk((0, 0), 42),
    "cache zero": lambda: arr.enable_chunk_cache(0),
    "cache str": lambda: arr.enable_chunk_cache("1"),
    "cache bool": lambda: arr.enable_chunk_cache(True),
    "cache 2**64": lambda: arr.enable_chunk_cache(2**64),
    "threads negative": lambda: zarrs_cffi.set_num_threads(-1),
    "threads huge": lambda: zarrs_cffi.set_num_threads(5000),
    "threads str": lambda: zarrs_cffi.set_num_threads("2"),
    "threads bool": lambda: zarrs_cffi.set_num_threads(True),
    "store None": lambda: zarrs_cffi.Store(None),
    "store empty": lambda: zarrs_cffi.Store(""),
    "store NUL": lambda: zarrs_cffi.Store("a\0"),
    "store read missing": lambda: store.read_metadata("/missing"),
    "store create not dict": lambda: store.create_node("/x", "notadict"),
    "store create incomplete": lambda: store.create_node("/x", {"zarr_format": 3, "node_type": "array"}),
    "store create nan": lambda: store.create_node("/x", {"a": float("nan")}),
    "store create format 5": lambda: store.create_node("/x", {"zarr_format": 5}),
    "store delete missing": lambda: store.delete_node("/missing"),
    "store list missing": lambda: store.list_children("/missing"),
    "store exists int": lambda: store.node_exists(5),
    "store bytes NUL": lambda: store.stored_bytes("/a\0"),
    "storage_options list": lambda: zarrs_cffi.open_array(A, storage_options=[("region", "x")]),
    "storage_options int key": lambda: zarrs_cffi.open_array("s3://b/x", storage_options={1: "x"}),
    "storage_options list create": lambda: C(storage_options=[("region", "x")]),
    "storage_options list crud": lambda: crud.read_metadata(A, "", storage_options=[("a", "b")]),
    "crud path int": lambda: crud.read_metadata(A, 5),
    "crud path bytes": lambda: crud.read_chunk(crud.read_metadata(A, ""), A, b"", (0, 0)),
    "crud metadata str": lambda: crud.read_region("x", A, "", ...),
    "crud metadata int keys": lambda: crud.create_new_array({1: 2}, A, "x"),
    "from_handle str": lambda: zarrs_cffi.Array.from_handle("0x10"),
    "from_handle zero": lambda: zarrs_cffi.Array.from_handle(0),
    "read huge region": lambda: huge[0 : 2**20, 0 : 2**20],
    "read whole huge array": lambda: huge.read(),
    "read_chunk huge": lambda: huge.read_chunk((0, 0)),
    "numpy conversion huge": lambda: np.asarray(huge),
    "closed read": lambda: closed.read(),
    "closed read_chunk": lambda: closed.read_chunk((0, 0)),
    "closed empty region": lambda: closed[0:0],
    "closed lend": lambda: closed.lend_handle(),
    "closed store": lambda: closed_store.node_exists("/"),
    "closed store open_array": lambda: zarrs_cffi.open_array(closed_store),
    "closed store create_array": lambda: zarrs_cffi.create_array(
        closed_store, "/y", shape=(2,), dtype="int8", chunks=(2,)
    ),
    "closed store Store": lambda: zarrs_cffi.Store(closed_store),
    "closed disable_chunk_cache": lambda: closed.disable_chunk_cache(),
    "return_handle unlent": lambda: arr.return_handle(),
}
only = sys.argv[2:] or list(CASES)
for label in only:
    print(json.dumps({"start": label}), flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a silent lossy cast would hide behind a warning
        try:
            value = CASES[label]()
        except BaseException as exc:
            result = {
                "label": label,
                "raised": type(exc).__name__,
                "mro": [c.__name__ for c in type(exc).__mro__],
                "message": str(exc),
            }
        else:
            result = {"label": label, "raised": None, "value": repr(value)[:200]}
    print(json.dumps(result), flush=True)
