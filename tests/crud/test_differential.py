"""Differential tests: every operation runs through both engines side by side, zarr-python is the oracle.

The same call is made with ``engine="cffi"`` on one store and ``engine="zarr"`` on another; both must
return the same result (or raise the same exception class), and afterwards both stores must hold the
same files, the same metadata documents and the same decoded data, whether read by zarr-python itself or
through either engine. Results are also checked against numpy applied to zarr-python's reading of the
whole array.

Part 1 is a hypothesis state machine applying random sequences of node creates/deletes, region writes,
chunk writes/deletes and reads (``ZARRS_CFFI_DIFFERENTIAL_EXAMPLES`` sets its example count; a failure
prints the steps to replay); part 2 is explicit cases (every dtype x v3 / v3 sharded / v2, edge chunks,
strided and negative-step regions, nested groups, metadata views, the PR's differential cases, and
regression tests for the disagreements this suite found).
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import shutil
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
import zarr
from crud_helpers import ARANGE, PR_REGIONS, engine_unavailable, make_array
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import zarrs_cffi.crud as crud
from zarrs_cffi.store_location import StoreLocation

pytestmark = pytest.mark.skipif(
    engine_unavailable("cffi") is not None or engine_unavailable("zarr") is not None,
    reason=f"both engines are needed: {engine_unavailable('cffi') or engine_unavailable('zarr')}",
)

Doc = dict[str, Any]

ENGINES = ("cffi", "zarr")
DTYPES = (
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
    "complex64",
    "complex128",
)
# Node paths of the state machine: three levels deep plus siblings (the root is used for groups). No
# segment is "c": the v3 chunk key of a 0-d array at "a/b" is "a/b/c", which would collide with a
# child node there (a layout no Zarr spec allows; zarr-python reads the directory as a missing chunk,
# zarrs fails to stat it).
PATHS = ("a", "a/b", "a/b/e", "x", "a/y")
METADATA_FILES = ("zarr.json", ".zarray", ".zgroup", ".zattrs")


IX = np.s_


# ==================================================================================================
# Metadata documents (written by hand, so every knob is reachable)
# ==================================================================================================
def _json_float(x: float) -> Any:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def fill_json(dtype: np.dtype[Any], value: Any) -> Any:
    """``value`` as a JSON fill value of ``dtype`` (v2 and v3 spell them the same way)."""
    if dtype.kind == "b":
        return bool(value)
    if dtype.kind in "iu":
        return int(value)
    if dtype.kind == "f":
        return _json_float(float(value))
    c = complex(value)
    return [_json_float(c.real), _json_float(c.imag)]


def _v3_compressor(name: str | None, dtype: np.dtype[Any]) -> list[Doc]:
    if name is None:
        return []
    if name == "zstd":
        return [{"name": "zstd", "configuration": {"level": 1, "checksum": False}}]
    if name == "gzip":
        return [{"name": "gzip", "configuration": {"level": 1}}]
    assert name == "blosc"
    config = {"cname": "lz4", "clevel": 5, "shuffle": "shuffle", "typesize": dtype.itemsize, "blocksize": 0}
    return [{"name": "blosc", "configuration": config}]


def _bytes_codec(dtype: np.dtype[Any], endian: str) -> Doc:
    if dtype.itemsize == 1:
        return {"name": "bytes"}
    return {"name": "bytes", "configuration": {"endian": endian}}


def v3_doc(
    shape: Sequence[int],
    chunks: Sequence[int],
    dtype: Any,
    fill: Any = 0,
    *,
    compressor: str | None = None,
    endian: str = "little",
    inner_chunks: Sequence[int] | None = None,
    key_encoding: str = "default/",
    attributes: Doc | None = None,
) -> Doc:
    """A v3 array document; with ``inner_chunks`` the chunks are shards of that inner chunk shape."""
    dt = np.dtype(dtype)
    codecs = [_bytes_codec(dt, endian), *_v3_compressor(compressor, dt)]
    if inner_chunks is not None:
        sharding = {
            "chunk_shape": list(inner_chunks),
            "codecs": codecs,
            "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c"}],
            "index_location": "end",
        }
        codecs = [{"name": "sharding_indexed", "configuration": sharding}]
    name, sep = key_encoding[:-1], key_encoding[-1]
    return {
        "zarr_format": 3,
        "node_type": "array",
        "shape": list(shape),
        "data_type": dt.name,
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(chunks)}},
        "chunk_key_encoding": {"name": name, "configuration": {"separator": sep}},
        "fill_value": fill_json(dt, fill),
        "codecs": codecs,
        "attributes": {} if attributes is None else attributes,
    }


def v2_doc(
    shape: Sequence[int],
    chunks: Sequence[int],
    dtype: Any,
    fill: Any = 0,
    *,
    compressor: str | None = None,
    order: str = "C",
    byteorder: str = "<",
    separator: str = ".",
) -> Doc:
    """A v2 ``.zarray`` document (``byteorder`` ``'>'`` stores big-endian; 1-byte types use ``'|'``)."""
    dt = np.dtype(dtype)
    dt = dt.newbyteorder(byteorder) if dt.itemsize > 1 else dt
    comp: Doc | None = {
        None: None,
        "zlib": {"id": "zlib", "level": 1},
        "blosc": {"id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1, "blocksize": 0},
    }[compressor]
    return {
        "zarr_format": 2,
        "shape": list(shape),
        "chunks": list(chunks),
        "dtype": dt.str,
        "compressor": comp,
        "fill_value": fill_json(dt, fill),
        "order": order,
        "filters": None,
        "dimension_separator": separator,
    }


def stored_chunk_shape(doc: Doc) -> tuple[int, ...]:
    """The shape of one stored chunk (the shard shape for sharded arrays)."""
    if doc["zarr_format"] == 2:
        return tuple(doc["chunks"])
    return tuple(doc["chunk_grid"]["configuration"]["chunk_shape"])


def doc_dtype(doc: Doc) -> np.dtype[Any]:
    """The array's native-endian dtype (what crosses the API)."""
    dt = np.dtype(doc["dtype"] if doc["zarr_format"] == 2 else doc["data_type"])
    return dt.newbyteorder("=")


def _float_part(raw: Any, dtype: np.dtype[Any]) -> Any:
    """One float of a JSON fill value: a number, "NaN"/"Infinity"/"-Infinity", or hex bits."""
    if isinstance(raw, str) and raw.startswith("0x"):
        bits = int(raw, 16).to_bytes(dtype.itemsize, "big")
        return np.frombuffer(bits, dtype.newbyteorder(">"))[0].astype(dtype)
    return dtype.type(float(raw))


def fill_scalar(doc: Doc) -> Any:
    """The array's fill value as a numpy scalar of its native dtype (NaN payloads kept)."""
    dt = doc_dtype(doc)
    raw = doc["fill_value"]
    if dt.kind == "c":
        part = np.dtype(f"f{dt.itemsize // 2}")
        value = np.zeros((), dt)
        value.real, value.imag = _float_part(raw[0], part), _float_part(raw[1], part)
        return value[()]
    if dt.kind == "f":
        return _float_part(raw, dt)
    return dt.type(raw)


def grid_shape(doc: Doc) -> tuple[int, ...]:
    return tuple(-(-n // c) for n, c in zip(doc["shape"], stored_chunk_shape(doc), strict=True))


def coords_in_grid(coords: tuple[int, ...], doc: Doc) -> bool:
    return all(0 <= c < g for c, g in zip(coords, grid_shape(doc), strict=True))


# ==================================================================================================
# Comparisons
# ==================================================================================================
def assert_same_data(actual: Any, expected: Any, what: str = "") -> None:
    """Equal shape, dtype and values; NaN equals NaN (complex too), and -0.0 differs from 0.0."""
    a, b = np.asarray(actual), np.asarray(expected)
    np.testing.assert_array_equal(a, b, err_msg=what, strict=True)
    if a.dtype.kind in "fc":
        # A complex number with a NaN part is NaN (numpy's and the contract's fill equality), so the
        # sign of its other part is not compared either.
        keep = ~(np.isnan(a) | np.isnan(b))
        for part in (np.real, np.imag) if a.dtype.kind == "c" else (np.asarray,):
            np.testing.assert_array_equal(
                np.signbit(part(a)[keep]), np.signbit(part(b)[keep]), err_msg=f"sign {what}"
            )


def store_files(root: Any) -> dict[str, bytes]:
    """Every file under ``root`` by store key (``/``-separated relative path); ``root`` may also be
    an object-store location (tests/stores runs this machine on moto's S3 and the GCS server)."""
    if isinstance(root, StoreLocation):
        return _remote_objects(root)
    files: dict[str, bytes] = {}
    if not os.path.isdir(root):
        return files
    for dirpath, _, names in os.walk(root):
        for name in names:
            full = os.path.join(dirpath, name)
            files[pathlib.Path(os.path.relpath(full, root)).as_posix()] = pathlib.Path(full).read_bytes()
    return files


def scan_nodes(files: dict[str, bytes]) -> dict[str, Doc]:
    """Node path -> metadata document (v2: ``.zattrs`` merged under "attributes"), from the files."""
    nodes: dict[str, Doc] = {}
    for key, raw in files.items():
        parent, _, name = key.rpartition("/")
        if name in ("zarr.json", ".zarray", ".zgroup"):
            doc = json.loads(raw)
            attrs = files.get(f"{parent}/.zattrs" if parent else ".zattrs")
            if name != "zarr.json" and attrs is not None:
                doc["attributes"] = json.loads(attrs)
            nodes[parent] = doc
    return nodes


def is_array_doc(doc: Doc) -> bool:
    return doc.get("node_type") == "array" if doc["zarr_format"] == 3 else "shape" in doc


def _remote_objects(location: StoreLocation) -> dict[str, bytes]:
    """Every object under an object-store location (S3, GCS, ...), listed and read through obstore
    (object_store's own client), keyed relative to the location."""
    import obstore

    from zarrs_cffi.engines.zarr_stores import obstore_store

    store = obstore_store(location)
    files: dict[str, bytes] = {}
    for batch in obstore.list(store):
        for item in batch:
            files[item["path"]] = bytes(obstore.get(store, item["path"]).bytes())
    return files


def zarr_read(root: Any, path: str) -> np.ndarray[Any, Any]:
    """The whole array as zarr-python reads it (native byte order)."""
    if isinstance(root, StoreLocation):
        from zarrs_cffi.engines.zarr_stores import zarr_store

        root = zarr_store(root, read_only=True)
    data = np.asarray(zarr.open_array(store=root, path=path, mode="r")[...])
    return data.astype(data.dtype.newbyteorder("="))


def assert_stores_agree(roots: dict[str, str], *, through_engines: bool = True) -> None:
    """Same keys, same metadata documents, and every array decodes to the same data read by
    zarr-python and (optionally) through every engine, from every store."""
    files = {e: store_files(r) for e, r in roots.items()}
    keys = {e: set(f) for e, f in files.items()}
    assert keys["cffi"] == keys["zarr"], (
        f"only in the cffi store: {sorted(keys['cffi'] - keys['zarr'])}; "
        f"only in the zarr store: {sorted(keys['zarr'] - keys['cffi'])}"
    )
    for key in keys["cffi"]:
        if key.rpartition("/")[2] in METADATA_FILES:
            assert json.loads(files["cffi"][key]) == json.loads(files["zarr"][key]), key
    nodes = scan_nodes(files["zarr"])
    for path, doc in sorted(nodes.items()):
        if not is_array_doc(doc):
            continue
        reference = zarr_read(roots["zarr"], path)
        assert_same_data(zarr_read(roots["cffi"], path), reference, f"{path}: zarr-python, both stores")
        if through_engines:
            for store_engine, root in roots.items():
                for engine in ENGINES:
                    got = crud.read_region(doc, root, path, IX[...], engine=engine)
                    assert_same_data(got, reference, f"{path}: {engine} engine on the {store_engine} store")


class Outcome:
    """What one engine did: a result or an exception."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.error: BaseException | None = None
        self.result: Any = None
        try:
            self.result = fn()
        except Exception as err:
            self.error = err

    def describe(self) -> str:
        return f"raised {type(self.error).__name__}: {self.error}" if self.error else "returned"


def run_both(
    roots: dict[str, str], call: Callable[[str, str], Any], expect_error: type[BaseException] | None = None
) -> tuple[Any, Any] | None:
    """``call(store, engine)`` for both engines on their own stores. Both must succeed (the results are
    returned, cffi first) or both raise the same exception class (None is returned). With
    ``expect_error`` (what numpy raised for the same operation), both must raise a subclass of it."""
    out = {e: Outcome(lambda e=e: call(roots[e], e)) for e in ENGINES}
    a, b = out["cffi"], out["zarr"]
    assert (a.error is None) == (b.error is None), f"cffi {a.describe()}; zarr {b.describe()}"
    if a.error is not None:
        assert type(a.error) is type(b.error), f"cffi {a.describe()}; zarr {b.describe()}"
        if expect_error is not None:
            assert isinstance(a.error, expect_error), f"numpy raised {expect_error}; cffi {a.describe()}"
        return None
    assert expect_error is None, f"numpy raised {expect_error.__name__}, both engines returned"
    return a.result, b.result


# ==================================================================================================
# Part 1: random operation sequences (hypothesis state machine)
# ==================================================================================================
def _bits(dtype: str, value: int) -> Any:
    return np.array(value, f"u{np.dtype(dtype).itemsize}").view(dtype)[()]


# Floats that equal a fill value under ``==`` or NaN-equality but not bit for bit.
_TRICKY_FLOATS = {
    dt: (0.0, -0.0, math.nan, -math.nan, math.inf, _bits(dt, quiet + 1), _bits(dt, quiet | sign))
    for dt, quiet, sign in [
        ("float16", 0x7E00, 0x8000),
        ("float32", 0x7FC00000, 0x80000000),
        ("float64", 0x7FF8000000000000, 0x8000000000000000),
    ]
}


_FILLS: dict[str, tuple[Any, ...]] = {
    "b": (False, True),
    "i": (0, 7, -1, "min", "max"),
    "u": (0, 7, "max"),
    "f": (0.0, -0.0, 1.5, math.nan, math.inf, -math.inf),
}


@st.composite
def fill_values(draw: st.DrawFn, dtype: np.dtype[Any]) -> Any:
    if dtype.kind == "c":
        return complex(draw(st.sampled_from(_FILLS["f"])), draw(st.sampled_from(_FILLS["f"])))
    fill = draw(st.sampled_from(_FILLS[dtype.kind]))
    if fill in ("min", "max"):
        return getattr(np.iinfo(dtype), fill)
    return fill


def _dims(n: int, lo: int, hi: int) -> st.SearchStrategy[tuple[int, ...]]:
    return st.lists(st.integers(lo, hi), min_size=n, max_size=n).map(tuple)


@st.composite
def array_docs(draw: st.DrawFn) -> Doc:
    """Small 0-d..3-d arrays (zero-size dims and edge chunks included) of every dtype, as v3, v3
    sharded or v2 documents with assorted codecs, byte orders, memory orders and key encodings."""
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    ndim = draw(st.integers(0, 3))
    shape = draw(_dims(ndim, 0, 5))
    fill = draw(fill_values(dtype))
    # Not 0-d sharded: zarr-python's sharding codec fails on it (IndexError: too many indices).
    kind = draw(st.sampled_from(["v3", "v3 sharded", "v2"] if ndim else ["v3", "v2"]))
    if kind == "v2":
        return v2_doc(
            shape,
            draw(_dims(ndim, 1, 4)),
            dtype,
            fill,
            compressor=draw(st.sampled_from([None, "zlib", "blosc"])),
            order=draw(st.sampled_from("CF")),
            byteorder=draw(st.sampled_from("<>")),
            separator=draw(st.sampled_from("./")),
        )
    compressor = draw(st.sampled_from([None, "zstd", "gzip", "blosc"]))
    endian = draw(st.sampled_from(["little", "big"]))
    key_encoding = draw(st.sampled_from(["default/", "default.", "v2."]))
    if kind == "v3":
        chunks = draw(_dims(ndim, 1, 4))
        doc = v3_doc(
            shape, chunks, dtype, fill, compressor=compressor, endian=endian, key_encoding=key_encoding
        )
    else:
        inner = draw(_dims(ndim, 1, 3))
        factors = draw(_dims(ndim, 1, 2))
        shards = tuple(i * f for i, f in zip(inner, factors, strict=True))
        doc = v3_doc(
            shape,
            shards,
            dtype,
            fill,
            compressor=compressor,
            endian=endian,
            inner_chunks=inner,
            key_encoding=key_encoding,
        )
    if dtype.kind == "f" and draw(st.integers(0, 3)) == 0:
        # v3 hex fill values: a NaN with a payload, or -0.0, as raw bits.
        bits = np.array(draw(st.sampled_from(_TRICKY_FLOATS[dtype.name][-2:])), dtype).view(
            f"u{dtype.itemsize}"
        )
        doc["fill_value"] = f"0x{int(bits):0{2 * dtype.itemsize}x}"
    return doc


group_docs = st.one_of(
    st.builds(lambda attrs: {"zarr_format": 3, "node_type": "group", "attributes": attrs}, st.just({})),
    st.just({"zarr_format": 3, "node_type": "group", "attributes": {"level": 1, "tags": ["x"]}}),
    st.just({"zarr_format": 2}),
    st.just({"zarr_format": 2, "attributes": {"v2": True}}),
)


def element_strategy(doc: Doc) -> st.SearchStrategy[Any]:
    """Random elements of the array's dtype, often the fill value (so chunks become all-fill) or a
    value equal to it by ``==`` or NaN-equality but with other bits (-0.0, NaN payloads)."""
    dtype = doc_dtype(doc)
    fill = st.just(fill_scalar(doc))
    if dtype.kind == "f":
        tricky = st.sampled_from([dtype.type(x) for x in _TRICKY_FLOATS[dtype.name]])
        return st.one_of(fill, tricky, hnp.from_dtype(dtype))
    if dtype.kind == "c":
        part = st.sampled_from(_TRICKY_FLOATS[f"float{dtype.itemsize * 4}"])
        tricky = st.builds(lambda re, im: dtype.type(complex(re, im)), part, part)
        return st.one_of(fill, tricky, hnp.from_dtype(dtype))
    return st.one_of(fill, hnp.from_dtype(dtype))


@st.composite
def values_for(draw: st.DrawFn, doc: Doc, shape: tuple[int, ...]) -> Any:
    """A value for ``shape``: random, all-fill, all one tricky element, a lower-rank block that
    broadcasts, or a Python scalar (for integer arrays sometimes out of range)."""
    dtype = doc_dtype(doc)
    mode = draw(st.sampled_from(["random", "random", "fill", "uniform", "broadcast", "python"]))
    if mode == "fill":
        return np.full(shape, fill_scalar(doc), dtype=dtype)
    if mode == "uniform":
        return np.full(shape, draw(element_strategy(doc)), dtype=dtype)
    if mode == "python":
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            return draw(st.integers(int(info.min) - 2, int(info.max) + 2))
        return draw(element_strategy(doc)).item()
    if mode == "broadcast":
        keep = draw(st.integers(0, len(shape)))
        shape = tuple(draw(st.sampled_from([1, n])) for n in shape[len(shape) - keep :])
    return draw(hnp.arrays(dtype, shape, elements=element_strategy(doc)))


@st.composite
def selections(draw: st.DrawFn, shape: tuple[int, ...]) -> Any:
    """Basic selections (ints incl. negative, slices incl. negative steps, Ellipsis), sometimes out of
    bounds or with too many indices."""
    mode = draw(st.integers(0, 11))
    if mode == 0 and shape:
        axis = draw(st.integers(0, len(shape) - 1))
        index: list[Any] = [slice(None)] * len(shape)
        index[axis] = draw(st.sampled_from([shape[axis], -shape[axis] - 1]))
        return tuple(index)
    if mode == 1:
        return (*([0] * len(shape)), 0)
    return draw(hnp.basic_indices(shape, allow_newaxis=False, allow_ellipsis=True))


def numpy_error(fn: Callable[[], Any]) -> type[BaseException] | None:
    """The builtin exception class numpy raises for ``fn``, or None if it does not."""
    try:
        fn()
    except (IndexError, OverflowError, TypeError, ValueError) as err:
        return next(c for c in (IndexError, OverflowError, TypeError, ValueError) if isinstance(err, c))
    return None


class DifferentialMachine(RuleBasedStateMachine):
    """Two stores, one per engine, receiving the same operations; compared after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.mkdtemp(prefix="zarrs-cffi-differential-")
        self.roots = {e: os.path.join(self.tmp, f"{e}.zarr") for e in ENGINES}
        self.steps = 0

    def teardown(self) -> None:
        try:
            if self.steps % 2:  # the last invariant check did not read through the engines
                assert_stores_agree(self.roots)
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # --- helpers ----------------------------------------------------------------------------------
    def both(self, call: Callable[[str, str], Any], expect_error: type[BaseException] | None = None) -> Any:
        return run_both(self.roots, call, expect_error)

    def nodes(self) -> dict[str, Doc]:
        return scan_nodes(store_files(self.roots["zarr"]))

    def arrays(self) -> dict[str, Doc]:
        return {p: d for p, d in self.nodes().items() if is_array_doc(d)}

    def has_arrays(self) -> bool:
        return bool(self.arrays())

    def pick_array(self, data: st.DataObject) -> tuple[str, Doc]:
        arrays = self.arrays()
        path = data.draw(st.sampled_from(sorted(arrays)), label="path")
        return path, arrays[path]

    def draw_coords(self, data: st.DataObject, doc: Doc) -> tuple[int, ...]:
        grid = grid_shape(doc)
        if data.draw(st.integers(0, 9), label="coords mode") == 0 or 0 in grid:
            return tuple(data.draw(st.integers(0, g), label="coord") for g in grid)  # maybe outside
        return tuple(data.draw(st.integers(0, g - 1), label="coord") for g in grid)

    # --- node lifecycle ---------------------------------------------------------------------------
    @rule(path=st.sampled_from(PATHS), doc=array_docs(), overwrite=st.booleans())
    def create_array(self, path: str, doc: Doc, overwrite: bool) -> None:
        fn = crud.create_overwrite_array if overwrite else crud.create_new_array
        self.both(lambda store, engine: fn(doc, store, path, engine=engine))

    @rule(path=st.sampled_from(("", *PATHS)), doc=group_docs, overwrite=st.booleans())
    def create_group(self, path: str, doc: Doc, overwrite: bool) -> None:
        fn = crud.create_overwrite_group if overwrite else crud.create_new_group
        self.both(lambda store, engine: fn(doc, store, path, engine=engine))

    @rule(path=st.sampled_from(PATHS))
    def delete_node(self, path: str) -> None:
        self.both(lambda store, engine: crud.delete_node(store, path, engine=engine))

    @rule(path=st.sampled_from(("", *PATHS)))
    def read_metadata(self, path: str) -> None:
        results = self.both(lambda store, engine: crud.read_metadata(store, path, engine=engine))
        if results is not None:
            assert results[0] == results[1]
            assert results[1] == self.nodes()[path]

    @rule(path=st.sampled_from(("", *PATHS)))
    def list_children(self, path: str) -> None:
        results = self.both(lambda store, engine: crud.list_children(store, path, engine=engine))
        if results is not None:
            assert results[0] == results[1]
            prefix = f"{path}/" if path else ""
            expected = {
                p: d for p, d in self.nodes().items() if p.startswith(prefix) and "/" not in p[len(prefix) :]
            }
            expected.pop("", None)
            assert results[1] == sorted(expected.items())

    # --- region I/O -------------------------------------------------------------------------------
    @precondition(has_arrays)
    @rule(data=st.data())
    def write_region(self, data: st.DataObject) -> None:
        path, doc = self.pick_array(data)
        shape = tuple(doc["shape"])
        sel = data.draw(selections(shape), label="selection")
        expected = zarr_read(self.roots["zarr"], path)
        value = np.asarray(fill_scalar(doc))
        error = numpy_error(lambda: expected[sel])
        if error is None:
            value = data.draw(values_for(doc, np.shape(expected[sel])), label="value")

            def assign() -> None:
                with np.errstate(invalid="ignore"):
                    expected[sel] = value

            # A value numpy cannot assign (does not broadcast, Python int out of range): the engines
            # raise InvalidArgumentError, a ValueError.
            error = numpy_error(assign) and ValueError
        self.both(lambda store, engine: crud.write_region(doc, store, path, sel, value, engine=engine), error)
        for root in self.roots.values():
            assert_same_data(zarr_read(root, path), expected, f"after writing {sel}")

    @precondition(has_arrays)
    @rule(data=st.data())
    def write_region_unbroadcastable(self, data: st.DataObject) -> None:
        path, doc = self.pick_array(data)
        out_shape = np.empty(doc["shape"])[...].shape
        value = np.zeros((*out_shape[:-1], out_shape[-1] + 2) if out_shape else (2,), doc_dtype(doc))
        self.both(
            lambda store, engine: crud.write_region(doc, store, path, (), value, engine=engine), ValueError
        )

    @precondition(has_arrays)
    @rule(data=st.data())
    def read_region(self, data: st.DataObject) -> None:
        path, doc = self.pick_array(data)
        sel = data.draw(selections(tuple(doc["shape"])), label="selection")
        full = zarr_read(self.roots["zarr"], path)
        error = numpy_error(lambda: full[sel])
        results = self.both(
            lambda store, engine: crud.read_region(doc, store, path, sel, engine=engine), error
        )
        if results is not None:
            assert_same_data(results[0], results[1], f"read_region {sel}")
            assert_same_data(results[1], np.asarray(full[sel]), f"read_region {sel} vs numpy")

    # --- chunk I/O --------------------------------------------------------------------------------
    @precondition(has_arrays)
    @rule(data=st.data())
    def write_chunk(self, data: st.DataObject) -> None:
        path, doc = self.pick_array(data)
        coords = self.draw_coords(data, doc)
        shape = stored_chunk_shape(doc)
        wrong_shape = data.draw(st.integers(0, 9), label="wrong shape") == 0
        if wrong_shape:
            shape = (*shape[:-1], shape[-1] + 1) if shape else (1,)
        value = np.broadcast_to(data.draw(values_for(doc, shape), label="value"), shape)
        self.both(
            lambda store, engine: crud.write_chunk(doc, store, path, coords, value, engine=engine),
            ValueError if wrong_shape and coords_in_grid(coords, doc) else None,
        )

    @precondition(has_arrays)
    @rule(data=st.data())
    def delete_chunk(self, data: st.DataObject) -> None:
        path, doc = self.pick_array(data)
        coords = self.draw_coords(data, doc)
        self.both(lambda store, engine: crud.delete_chunk(doc, store, path, coords, engine=engine))

    @precondition(has_arrays)
    @rule(data=st.data())
    def read_chunk(self, data: st.DataObject) -> None:
        path, doc = self.pick_array(data)
        coords = self.draw_coords(data, doc)
        results = self.both(lambda store, engine: crud.read_chunk(doc, store, path, coords, engine=engine))
        if results is None:
            return
        assert_same_data(results[0], results[1], f"read_chunk {coords}")
        # The in-bounds part is the array's data; a missing chunk is padded with the fill value.
        chunk = stored_chunk_shape(doc)
        region = tuple(
            slice(c * n, min((c + 1) * n, size))
            for c, n, size in zip(coords, chunk, doc["shape"], strict=True)
        )
        inside = tuple(slice(0, r.stop - r.start) for r in region)
        assert_same_data(results[1][inside], zarr_read(self.roots["zarr"], path)[region])
        encoded = crud.read_encoded_chunk(doc, self.roots["zarr"], path, coords, engine="zarr")
        if encoded is None:
            assert_same_data(results[1], np.full(chunk, fill_scalar(doc), doc_dtype(doc)), "missing chunk")

    @precondition(has_arrays)
    @rule(data=st.data())
    def read_encoded_chunk(self, data: st.DataObject) -> None:
        path, doc = self.pick_array(data)
        coords = self.draw_coords(data, doc)
        results = self.both(
            lambda store, engine: crud.read_encoded_chunk(doc, store, path, coords, engine=engine)
        )
        if results is not None:
            # Encoders (zstd, gzip, blosc) may legitimately produce different bytes: compare presence.
            assert (results[0] is None) == (results[1] is None), f"chunk {coords}: {results}"

    # --- the invariant ----------------------------------------------------------------------------
    @invariant()
    def stores_agree(self) -> None:
        self.steps += 1
        # Reading through both engines from both stores is the costly part: every other step.
        assert_stores_agree(self.roots, through_engines=self.steps % 2 == 0)


TestDifferentialMachine = DifferentialMachine.TestCase
TestDifferentialMachine.settings = settings(
    max_examples=int(os.environ.get("ZARRS_CFFI_DIFFERENTIAL_EXAMPLES", "75")),
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


# ==================================================================================================
# Part 2: explicit differential cases
# ==================================================================================================
class Pair:
    """Two store roots, one per engine, for side-by-side calls."""

    def __init__(self, tmp_path: pathlib.Path) -> None:
        self.roots = {e: str(tmp_path / f"{e}.zarr") for e in ENGINES}

    def both(self, call: Callable[[str, str], Any], expect_error: type[BaseException] | None = None) -> Any:
        """Run ``call(store, engine)`` on both; return (cffi result, zarr result), or None if both raised."""
        return run_both(self.roots, call, expect_error)

    def same(self, call: Callable[[str, str], Any]) -> Any:
        """Run ``call`` on both, require equal results (arrays: equal data) and return the zarr one."""
        results = self.both(call)
        assert results is not None, "both engines raised"
        a, b = results
        if isinstance(b, np.ndarray):
            assert_same_data(a, b)
            assert a.flags.writeable and a.flags.c_contiguous and b.flags.writeable and b.flags.c_contiguous
        else:
            assert a == b
        return b

    def raises(self, call: Callable[[str, str], Any], error: type[BaseException]) -> None:
        """Both engines raise the same exception class, a subclass of ``error``."""
        assert self.both(call, error) is None

    def zarr_setup(self, fn: Callable[[str], Any]) -> None:
        """Prepare both stores identically with zarr-python (the oracle writing, the engines reading)."""
        for root in self.roots.values():
            fn(root)

    def agree(self) -> None:
        assert_stores_agree(self.roots)


@pytest.fixture
def pair(tmp_path: pathlib.Path) -> Pair:
    return Pair(tmp_path)


def sample_data(dtype: Any, shape: tuple[int, ...], fill: Any, seed: int = 0) -> np.ndarray[Any, Any]:
    """Deterministic data of ``dtype`` over its whole range, with fill values, NaNs, infinities and
    signed zeros sprinkled in."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    n = int(np.prod(shape))
    if dt.kind == "b":
        data = rng.random(n) < 0.5
    elif dt.kind in "iu":
        info = np.iinfo(dt)
        data = rng.integers(int(info.min), int(info.max), n, dtype=dt, endpoint=True)
    else:
        part = np.dtype(f"f{dt.itemsize // 2}") if dt.kind == "c" else dt
        specials = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1.5], part)

        def floats() -> np.ndarray[Any, Any]:
            values = (rng.standard_normal(n) * 100).astype(part)
            picks = rng.random(n) < 0.2
            values[picks] = rng.choice(specials, int(picks.sum()))
            return values

        data = np.empty(n, dt)
        if dt.kind == "f":
            data[...] = floats()
        else:  # set the parts separately: complex arithmetic would turn inf parts into NaN
            data.real, data.imag = floats(), floats()
    data = np.asarray(data, dt)
    data[rng.random(n) < 0.2] = fill
    return data.reshape(shape)


# --- every dtype x (v3, v3 sharded, v2) -----------------------------------------------------------
FORMATS = ("v3", "v3 sharded", "v2")
_SHAPE, _CHUNKS = (5, 7), (2, 3)  # edge chunks on both axes


def format_doc(fmt: str, dtype: str, fill: Any, shape: tuple[int, ...] = _SHAPE) -> Doc:
    """One array document per format, each with a different codec / byte order / memory order."""
    if fmt == "v3":
        return v3_doc(shape, _CHUNKS, dtype, fill, compressor="blosc", endian="big")
    if fmt == "v3 sharded":
        shards = tuple(2 * c for c in _CHUNKS)
        return v3_doc(shape, shards, dtype, fill, compressor="gzip", inner_chunks=_CHUNKS)
    return v2_doc(shape, _CHUNKS, dtype, fill, compressor="zlib", order="F", byteorder=">")


def dtype_fill(dtype: str) -> Any:
    kind = np.dtype(dtype).kind
    return {"b": True, "i": -3, "u": 7, "f": math.nan, "c": complex(math.nan, 0.0)}[kind]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_dtype_round_trip(pair: Pair, dtype: str, fmt: str) -> None:
    fill = dtype_fill(dtype)
    doc = format_doc(fmt, dtype, fill)
    data = sample_data(dtype, _SHAPE, fill)
    pair.same(lambda s, e: crud.create_new_array(doc, s, "a", engine=e))
    assert pair.same(lambda s, e: crud.read_metadata(s, "a", engine=e)) == doc
    pair.same(lambda s, e: crud.write_region(doc, s, "a", IX[...], data, engine=e))
    pair.agree()
    assert_same_data(pair.same(lambda s, e: crud.read_region(doc, s, "a", IX[...], engine=e)), data)
    assert_same_data(zarr_read(pair.roots["cffi"], "a"), data)
    # chunk by chunk, edge chunks padded with the fill value (they were written by region writes)
    chunk = stored_chunk_shape(doc)
    padded = np.full(tuple(-(-n // c) * c for n, c in zip(_SHAPE, chunk)), fill_scalar(doc), data.dtype)
    padded[: _SHAPE[0], : _SHAPE[1]] = data
    for coords in np.ndindex(*grid_shape(doc)):
        got = pair.same(lambda s, e, coords=coords: crud.read_chunk(doc, s, "a", coords, engine=e))
        box = tuple(slice(c * n, (c + 1) * n) for c, n in zip(coords, chunk))
        assert_same_data(got, padded[box], f"chunk {coords}")
        present = pair.both(
            lambda s, e, coords=coords: crud.read_encoded_chunk(doc, s, "a", coords, engine=e)
        )
        assert present is not None and (present[0] is None) == (present[1] is None)
    # chunk writes: one chunk of new data, one all-fill (its key is dropped in both stores)
    new = sample_data(dtype, chunk, fill, seed=1)
    pair.same(lambda s, e: crud.write_chunk(doc, s, "a", (1, 1), new, engine=e))
    pair.same(lambda s, e: crud.write_chunk(doc, s, "a", (0, 0), np.full(chunk, fill, data.dtype), engine=e))
    assert pair.same(lambda s, e: crud.read_encoded_chunk(doc, s, "a", (0, 0), engine=e)) is None
    pair.agree()
    # the reverse direction: zarr-python writes, the engines read
    other = sample_data(dtype, _SHAPE, fill, seed=2)

    def zarr_write(root: str) -> None:
        zarr.open_array(store=root, path="a", mode="r+")[...] = other

    pair.zarr_setup(zarr_write)
    assert_same_data(
        pair.same(lambda s, e: crud.read_region(doc, s, "a", IX[::-1, 1::2], engine=e)), other[::-1, 1::2]
    )
    pair.agree()


# --- edge chunks ----------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
def test_edge_chunks(pair: Pair, fmt: str) -> None:
    shape = (7, 8)  # 4x3 chunks of 2x3 (v3, v2) or 2x2 shards of 4x6: the last row/column is partial
    doc = format_doc(fmt, "int16", -1, shape)
    chunk = stored_chunk_shape(doc)
    last = tuple(g - 1 for g in grid_shape(doc))
    pair.same(lambda s, e: crud.create_new_array(doc, s, "a", engine=e))
    # a missing edge chunk reads at full chunk shape, all fill
    got = pair.same(lambda s, e: crud.read_chunk(doc, s, "a", last, engine=e))
    assert_same_data(got, np.full(chunk, -1, "int16"))
    # a region write into the edge chunk creates it, padded with the fill value
    pair.same(lambda s, e: crud.write_region(doc, s, "a", IX[-1, -2:], [5, 6], engine=e))
    got = pair.same(lambda s, e: crud.read_chunk(doc, s, "a", last, engine=e))
    assert_same_data(
        got[: 7 - last[0] * chunk[0], : 8 - last[1] * chunk[1]][-1, -2:], np.array([5, 6], "int16")
    )
    pair.agree()
    # a full edge chunk written with data beyond the array's bounds: what lies beyond is stored as
    # fill (as zarr-python stores an edge chunk it writes whole), the rest as given
    block = np.arange(np.prod(chunk), dtype="int16").reshape(chunk)
    inside = (slice(0, 7 - last[0] * chunk[0]), slice(0, 8 - last[1] * chunk[1]))
    expected = np.full(chunk, -1, "int16")
    expected[inside] = block[inside]
    pair.same(lambda s, e: crud.write_chunk(doc, s, "a", last, block, engine=e))
    assert_same_data(pair.same(lambda s, e: crud.read_chunk(doc, s, "a", last, engine=e)), expected)
    # then region writes into it: one element, and then its whole in-bounds part by a slice
    pair.same(lambda s, e: crud.write_region(doc, s, "a", IX[6, 7], 99, engine=e))
    pair.agree()
    expected[6 - last[0] * chunk[0], 7 - last[1] * chunk[1]] = 99
    assert_same_data(pair.same(lambda s, e: crud.read_chunk(doc, s, "a", last, engine=e)), expected)
    edge_region = (slice(last[0] * chunk[0], None), slice(last[1] * chunk[1], None))
    pair.same(lambda s, e: crud.write_region(doc, s, "a", edge_region, 4, engine=e))
    expected[inside] = 4
    assert_same_data(pair.same(lambda s, e: crud.read_chunk(doc, s, "a", last, engine=e)), expected)
    pair.agree()
    # an edge chunk whose in-bounds part is all fill is not stored, whatever was given beyond
    beyond = np.full(chunk, -1, "int16")
    beyond[-1, -1] = 3  # element (7, 8) or (7, 11): outside the 7x8 array
    pair.same(lambda s, e: crud.write_chunk(doc, s, "a", last, beyond, engine=e))
    assert pair.same(lambda s, e: crud.read_encoded_chunk(doc, s, "a", last, engine=e)) is None
    pair.agree()
    pair.same(lambda s, e: crud.write_chunk(doc, s, "a", last, block, engine=e))
    # deleting it, and deleting it again (a no-op)
    for _ in range(2):
        pair.same(lambda s, e: crud.delete_chunk(doc, s, "a", last, engine=e))
    assert pair.same(lambda s, e: crud.read_encoded_chunk(doc, s, "a", last, engine=e)) is None
    pair.agree()
    # coordinates just outside the grid
    beyond_grid = (last[0] + 1, 0)
    pair.raises(lambda s, e: crud.read_chunk(doc, s, "a", beyond_grid, engine=e), IndexError)
    pair.raises(lambda s, e: crud.write_chunk(doc, s, "a", beyond_grid, block, engine=e), IndexError)


# --- strided and negative-step regions -------------------------------------------------------------
STRIDED = [
    IX[::2, ::3],
    IX[1:8:3, 9:0:-2],
    IX[::-1, ::-1],
    IX[::-4, 2],
    IX[-1, ::-3],
    IX[7:2:-2, -2:-9:-3],
    IX[..., ::-5],
    IX[3:4, 8:2:-1],
    IX[-2::-3],
    IX[9:0:-1, 0:0],
    IX[1::100, ::-100],
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("selection", STRIDED, ids=lambda sel: repr(sel).replace(" ", ""))
def test_strided_regions(pair: Pair, selection: Any, fmt: str) -> None:
    shape = (9, 10)
    # zarr-python creates the array (its own document), the engines write and read it
    docs = [zarr_create(root, "a", format_doc(fmt, "float32", 0.0, shape)) for root in pair.roots.values()]
    assert docs[0] == docs[1]
    doc = docs[0]
    data = sample_data("float32", shape, 0.0, seed=3)
    pair.same(lambda s, e: crud.write_region(doc, s, "a", IX[...], data, engine=e))
    got = pair.same(lambda s, e: crud.read_region(doc, s, "a", selection, engine=e))
    assert_same_data(got, data[selection])
    block = (np.arange(got.size, dtype="float32") - 7).reshape(got.shape) * -1.0
    pair.same(lambda s, e: crud.write_region(doc, s, "a", selection, block, engine=e))
    expected = data.copy()
    expected[selection] = block
    assert_same_data(zarr_read(pair.roots["zarr"], "a"), expected)
    pair.agree()


def zarr_create(root: str, path: str, doc: Doc) -> Doc:
    """Create the array described by ``doc`` with zarr-python; return the document it stored."""
    common: dict[str, Any] = {"shape": doc["shape"], "fill_value": fill_scalar(doc), "overwrite": True}
    if doc["zarr_format"] == 2:
        import numcodecs

        compressor = numcodecs.get_codec(dict(doc["compressor"])) if doc["compressor"] else None
        zarr.create_array(
            store=root,
            name=path,
            chunks=doc["chunks"],
            dtype=np.dtype(doc["dtype"]),
            zarr_format=2,
            order=doc["order"],
            compressors=compressor,
            **common,
        )
    else:
        codecs = doc["codecs"]
        chunks = doc["chunk_grid"]["configuration"]["chunk_shape"]
        shards = None
        if codecs[0]["name"] == "sharding_indexed":
            shards, chunks = chunks, codecs[0]["configuration"]["chunk_shape"]
            codecs = codecs[0]["configuration"]["codecs"]
        zarr.create_array(
            store=root,
            name=path,
            chunks=chunks,
            shards=shards,
            dtype=doc["data_type"],
            serializer=codecs[0],
            compressors=codecs[1:] or None,
            **common,
        )
    return scan_nodes(store_files(root))[path]


# --- nested groups, three levels deep --------------------------------------------------------------
def test_nested_groups_three_levels(pair: Pair) -> None:
    groups = {
        "": {"zarr_format": 3, "node_type": "group", "attributes": {"level": 0}},
        "g": {"zarr_format": 3, "node_type": "group", "attributes": {"level": 1}},
        "g/h": {"zarr_format": 2, "attributes": {"level": 2}},
        "g/h/k": {"zarr_format": 3, "node_type": "group", "attributes": {"level": 3}},
    }
    arrays = {
        "top": v3_doc((4,), (2,), "int8", 0),
        "g/a": v2_doc((3, 3), (2, 2), "float64", math.nan, byteorder=">"),
        "g/h/b": v3_doc((2, 3), (2, 2), "uint32", 1, inner_chunks=(1, 1)),
        "g/h/k/c3": v3_doc((), (), "complex128", 0),
        "g/h/k/d": v2_doc((5,), (5,), "bool", False),
    }
    for path, doc in groups.items():
        pair.same(lambda s, e, doc=doc, path=path: crud.create_new_group(doc, s, path, engine=e))
    for path, doc in arrays.items():
        pair.same(lambda s, e, doc=doc, path=path: crud.create_new_array(doc, s, path, engine=e))
        data = sample_data(doc_dtype(doc), tuple(doc["shape"]), fill_scalar(doc), seed=len(path))
        pair.same(
            lambda s, e, doc=doc, path=path, data=data: crud.write_region(doc, s, path, (), data, engine=e)
        )
    pair.agree()
    everything = {**groups, **arrays}
    expected_children = {
        "": ["g", "top"],
        "g": ["g/a", "g/h"],
        "g/h": ["g/h/b", "g/h/k"],
        "g/h/k": ["g/h/k/c3", "g/h/k/d"],
    }
    for parent, paths in expected_children.items():
        children = pair.same(lambda s, e, parent=parent: crud.list_children(s, parent, engine=e))
        assert children == [(p, everything[p]) for p in paths], parent
        for path in paths:
            assert (
                pair.same(lambda s, e, path=path: crud.read_metadata(s, path, engine=e)) == everything[path]
            )
    for path in arrays:
        pair.raises(lambda s, e, path=path: crud.list_children(s, path, engine=e), FileNotFoundError)
    # overwrite the middle level: its subtree goes, its siblings stay
    new_h = {"zarr_format": 3, "node_type": "group", "attributes": {"level": "2 again"}}
    pair.same(lambda s, e: crud.create_overwrite_group(new_h, s, "g/h", engine=e))
    assert pair.same(lambda s, e: crud.list_children(s, "g/h", engine=e)) == []
    assert [p for p, _ in pair.same(lambda s, e: crud.list_children(s, "g", engine=e))] == ["g/a", "g/h"]
    pair.raises(lambda s, e: crud.read_metadata(s, "g/h/k", engine=e), FileNotFoundError)
    pair.raises(lambda s, e: crud.create_new_group(new_h, s, "g/h", engine=e), ValueError)
    pair.agree()
    # delete the first level: only the root's other child remains
    pair.same(lambda s, e: crud.delete_node(s, "g", engine=e))
    assert [p for p, _ in pair.same(lambda s, e: crud.list_children(s, "", engine=e))] == ["top"]
    pair.raises(lambda s, e: crud.delete_node(s, "g", engine=e), FileNotFoundError)
    pair.agree()


@pytest.mark.parametrize("path", ["", "g"])
def test_overwrite_implied_node_removes_children(pair: Pair, path: str) -> None:
    """create_overwrite_* over an implied node (no node document, but nodes below it) removes
    everything under the path, as zarr-python does (the native library used to keep the descendants:
    it erased the prefix only if a node document was there)."""
    child = f"{path}/a" if path else "a"
    doc = v3_doc((2,), (2,), "int8", 0)
    pair.same(lambda s, e: crud.create_new_array(doc, s, child, engine=e))
    pair.same(lambda s, e: crud.write_region(doc, s, child, (), [1, 2], engine=e))
    group = {"zarr_format": 3, "node_type": "group", "attributes": {}}
    pair.same(lambda s, e: crud.create_overwrite_group(group, s, path, engine=e))
    pair.agree()


# --- metadata views --------------------------------------------------------------------------------
@pytest.mark.parametrize("zarr_format", [3, 2])
def test_metadata_view_uint16_as_uint8(pair: Pair, zarr_format: int) -> None:
    data = np.arange(64, dtype="<u2").reshape(8, 8) * 1031
    if zarr_format == 3:
        doc = v3_doc((8, 8), (4, 4), "uint16", 7)
        view = v3_doc((8, 16), (4, 8), "uint8", 7)
    else:
        doc = v2_doc((8, 8), (4, 4), "uint16", 7, byteorder="<")
        view = v2_doc((8, 16), (4, 8), "uint8", 7)
    pair.same(lambda s, e: crud.create_new_array(doc, s, "a", engine=e))
    pair.same(lambda s, e: crud.write_region(doc, s, "a", IX[...], data, engine=e))
    expected = data.view("uint8")
    got = pair.same(lambda s, e: crud.read_region(view, s, "a", IX[...], engine=e))
    assert_same_data(got, expected)
    assert_same_data(
        pair.same(lambda s, e: crud.read_region(view, s, "a", IX[1::3, ::-5], engine=e)), expected[1::3, ::-5]
    )
    for coords in [(0, 0), (1, 1)]:
        got = pair.same(lambda s, e, coords=coords: crud.read_chunk(view, s, "a", coords, engine=e))
        assert_same_data(got, expected[4 * coords[0] : 4 * coords[0] + 4, 8 * coords[1] : 8 * coords[1] + 8])
    # writing through the view changes the uint16 data as a byte view would
    pair.same(lambda s, e: crud.write_region(view, s, "a", IX[0, 0:2], [0xFF, 0x01], engine=e))
    changed = data.copy()
    changed.view("uint8")[0, 0:2] = [0xFF, 0x01]
    assert_same_data(pair.same(lambda s, e: crud.read_region(doc, s, "a", IX[...], engine=e)), changed)
    pair.agree()


# --- the PR's differential cases, side by side -----------------------------------------------------
# zarr-python writes the PR's fixture (8x8 uint16, chunks 4x4, arange(64), fill 7) into both stores;
# each case then runs through both engines, compares their results and the stores afterwards.
V3_GROUP: Doc = {"zarr_format": 3, "node_type": "group", "attributes": {"kind": "v3"}}
V2_GROUP: Doc = {"zarr_format": 2, "attributes": {"kind": "v2"}}


def pr_fixture(pair: Pair, path: str = "a", data: Any = ARANGE, **kwargs: Any) -> Doc:
    kwargs.setdefault("fill_value", 7)
    kwargs.setdefault("compressors", None)
    docs = [make_array(root, path, data, **kwargs) for root in pair.roots.values()]
    assert docs[0] == docs[1]
    return docs[0]


def _pr_lifecycle_groups(pair: Pair) -> None:
    for fmt_doc in (V3_GROUP, V2_GROUP):
        path = f"g{fmt_doc['zarr_format']}"
        pair.same(lambda s, e, d=fmt_doc, p=path: crud.create_new_group(d, s, p, engine=e))
        assert pair.same(lambda s, e, p=path: crud.read_metadata(s, p, engine=e)) == fmt_doc
        pair.raises(lambda s, e, d=fmt_doc, p=path: crud.create_new_group(d, s, p, engine=e), ValueError)
    pair.same(lambda s, e: crud.create_overwrite_group(V2_GROUP, s, "g3", engine=e))
    assert pair.same(lambda s, e: crud.read_metadata(s, "g3", engine=e)) == V2_GROUP


def _pr_lifecycle_arrays(pair: Pair) -> None:
    for fmt, doc in (
        ("v3", v3_doc((8, 8), (4, 4), "uint16", 7)),
        ("v2", v2_doc((8, 8), (4, 4), "uint16", 7)),
    ):
        pair.same(lambda s, e, d=doc, p=fmt: crud.create_new_array(d, s, p, engine=e))
        assert pair.same(lambda s, e, p=fmt: crud.read_metadata(s, p, engine=e)) == doc
        pair.raises(lambda s, e, d=doc, p=fmt: crud.create_new_array(d, s, p, engine=e), ValueError)
        pair.raises(lambda s, e, p=fmt: crud.create_new_group(V3_GROUP, s, p, engine=e), ValueError)
    pair.same(
        lambda s, e: crud.write_region(v3_doc((8, 8), (4, 4), "uint16", 7), s, "v3", (), ARANGE, engine=e)
    )
    new = v3_doc((3, 5), (2, 2), "float64", 1.5)
    pair.same(lambda s, e: crud.create_overwrite_array(new, s, "v3", engine=e))
    assert_same_data(
        pair.same(lambda s, e: crud.read_region(new, s, "v3", (), engine=e)), np.full((3, 5), 1.5)
    )


def _pr_read_metadata(pair: Pair) -> None:
    pr_fixture(pair, "a3", attributes={"c": 1.5})
    pr_fixture(pair, "a2", zarr_format=2, attributes={"d": None})
    pair.zarr_setup(lambda root: zarr.create_group(store=root, path="g", attributes={"x": [1]}))
    nodes = scan_nodes(store_files(pair.roots["zarr"]))
    for path in ("a3", "a2", "g"):
        assert pair.same(lambda s, e, p=path: crud.read_metadata(s, p, engine=e)) == nodes[path]
    pair.raises(lambda s, e: crud.read_metadata(s, "missing", engine=e), FileNotFoundError)


def _pr_delete(pair: Pair) -> None:
    pair.zarr_setup(lambda root: zarr.create_group(store=root, path="g"))
    pr_fixture(pair, "g/a")
    pr_fixture(pair, "g/sub/b", zarr_format=2)
    pair.same(lambda s, e: crud.delete_node(s, "g/a", engine=e))
    pair.agree()
    pair.same(lambda s, e: crud.delete_node(s, "g", engine=e))
    pair.raises(lambda s, e: crud.delete_node(s, "g", engine=e), FileNotFoundError)
    pair.raises(lambda s, e: crud.read_metadata(s, "g/sub/b", engine=e), FileNotFoundError)


def _pr_list_children(pair: Pair) -> None:
    pair.zarr_setup(lambda root: zarr.create_group(store=root, path="g"))
    pair.zarr_setup(lambda root: zarr.create_group(store=root, path="g/sub", zarr_format=2))
    pr_fixture(pair, "g/arr")
    children = pair.same(lambda s, e: crud.list_children(s, "g", engine=e))
    assert [p for p, _ in children] == ["g/arr", "g/sub"]
    pair.raises(lambda s, e: crud.list_children(s, "g/arr", engine=e), FileNotFoundError)


def _pr_v2_group(pair: Pair) -> None:
    pair.same(lambda s, e: crud.create_new_group(V2_GROUP, s, "g", engine=e))
    assert pair.same(lambda s, e: crud.read_metadata(s, "g", engine=e)) == V2_GROUP
    pair.agree()
    pair.same(lambda s, e: crud.delete_node(s, "g", engine=e))
    pair.raises(lambda s, e: crud.read_metadata(s, "g", engine=e), FileNotFoundError)


def _pr_chunks(pair: Pair, dtype: str, zarr_format: int, codec: str | None = None, **kwargs: Any) -> None:
    from zarr.codecs import BloscCodec, GzipCodec, ZstdCodec

    compressors = {
        None: None,
        "gzip": [GzipCodec(level=1)],
        "zstd": [ZstdCodec(level=1)],
        "blosc-lz4": [BloscCodec(cname="lz4", clevel=1)],
    }[codec]
    data = (ARANGE.astype("int64") * 3 - 20).astype(dtype)
    doc = pr_fixture(pair, data=data, zarr_format=zarr_format, compressors=compressors, **kwargs)
    chunk = stored_chunk_shape(doc)
    for coords in np.ndindex(*grid_shape(doc)):
        got = pair.same(lambda s, e, c=coords: crud.read_chunk(doc, s, "a", c, engine=e))
        box = tuple(slice(c * n, (c + 1) * n) for c, n in zip(coords, chunk))
        assert_same_data(got, data[box].astype(data.dtype.newbyteorder("=")))
    new = np.full(chunk, 99, data.dtype.newbyteorder("="))
    pair.same(lambda s, e: crud.write_chunk(doc, s, "a", (0, 1), new, engine=e))
    pair.agree()


def _pr_missing_chunk_is_fill(pair: Pair) -> None:
    doc = pr_fixture(pair, data=None, shape=(8, 8), dtype="uint16")
    assert_same_data(
        pair.same(lambda s, e: crud.read_chunk(doc, s, "a", (1, 1), engine=e)), np.full((4, 4), 7, "u2")
    )
    assert pair.same(lambda s, e: crud.read_encoded_chunk(doc, s, "a", (1, 1), engine=e)) is None


def _pr_view(pair: Pair) -> None:
    pr_fixture(pair)
    view = v3_doc((8, 16), (4, 8), "uint8", 7)
    assert_same_data(pair.same(lambda s, e: crud.read_region(view, s, "a", (), engine=e)), ARANGE.view("u1"))


def _pr_shape_mismatch(pair: Pair) -> None:
    doc = pr_fixture(pair)
    for shape in [(4, 3), (16,), (4, 4, 1), ()]:
        pair.raises(
            lambda s, e, sh=shape: crud.write_chunk(doc, s, "a", (0, 0), np.zeros(sh, "u2"), engine=e),
            ValueError,
        )
    pair.agree()


def _pr_fill_drops_key(pair: Pair) -> None:
    doc = pr_fixture(pair)
    pair.same(lambda s, e: crud.write_chunk(doc, s, "a", (1, 0), np.full((4, 4), 7, "u2"), engine=e))
    assert pair.same(lambda s, e: crud.read_encoded_chunk(doc, s, "a", (1, 0), engine=e)) is None
    pair.same(lambda s, e: crud.write_region(doc, s, "a", IX[:4, 4:], 7, engine=e))
    assert pair.same(lambda s, e: crud.read_encoded_chunk(doc, s, "a", (0, 1), engine=e)) is None
    pair.agree()


def _pr_encoded_chunk(pair: Pair) -> None:
    doc = pr_fixture(pair, compressors=[{"name": "zstd", "configuration": {"level": 1}}])
    for engine, root in pair.roots.items():
        raw = pathlib.Path(root, "a", "c", "1", "0").read_bytes()
        assert crud.read_encoded_chunk(doc, root, "a", (1, 0), engine=engine) == raw
    pair.same(lambda s, e: crud.delete_chunk(doc, s, "a", (1, 0), engine=e))
    assert pair.same(lambda s, e: crud.read_encoded_chunk(doc, s, "a", (1, 0), engine=e)) is None


def _pr_region_errors(pair: Pair) -> None:
    doc = pr_fixture(pair)
    for sel, error in [
        (IX[1, 2, 3], IndexError),
        (IX[8], IndexError),
        (IX[:, -9], IndexError),
        (IX[[1, 2]], TypeError),
        (IX[np.array([1])], TypeError),
        (IX[None], TypeError),
        (IX[ARANGE > 3], TypeError),
    ]:
        pair.raises(lambda s, e, sel=sel: crud.read_region(doc, s, "a", sel, engine=e), error)
        pair.raises(lambda s, e, sel=sel: crud.write_region(doc, s, "a", sel, 1, engine=e), error)
    pair.agree()


PR_CASES: dict[str, Callable[[Pair], None]] = {
    "lifecycle groups v3/v2, existing raises, overwrite": _pr_lifecycle_groups,
    "lifecycle arrays v3/v2, existing raises, overwrite": _pr_lifecycle_arrays,
    "read_metadata equals stored JSON, missing raises": _pr_read_metadata,
    "delete, delete missing": _pr_delete,
    "list_children group + array children": _pr_list_children,
    "v2 group create/read/delete": _pr_v2_group,
    "dtype uint8": lambda pair: _pr_chunks(pair, "uint8", 3),
    "dtype int32": lambda pair: _pr_chunks(pair, "int32", 3),
    "dtype float64": lambda pair: _pr_chunks(pair, "float64", 3),
    "dtype <u2": lambda pair: _pr_chunks(pair, "<u2", 2),
    "dtype >u2": lambda pair: _pr_chunks(pair, ">u2", 2),
    "codec none": lambda pair: _pr_chunks(pair, "uint16", 3, None),
    "codec gzip": lambda pair: _pr_chunks(pair, "uint16", 3, "gzip"),
    "codec zstd": lambda pair: _pr_chunks(pair, "uint16", 3, "zstd"),
    "codec blosc-lz4": lambda pair: _pr_chunks(pair, "uint16", 3, "blosc-lz4"),
    "v2 F order": lambda pair: _pr_chunks(pair, "int32", 2, order="F"),
    "sharding 2x2 chunks in 4x4 shards": lambda pair: _pr_chunks(
        pair, "uint16", 3, chunks=(2, 2), shards=(4, 4)
    ),
    "missing chunk = fill 7": _pr_missing_chunk_is_fill,
    "metadata view": _pr_view,
    "shape mismatch raises": _pr_shape_mismatch,
    "all-fill write / overwrite with fill drops the key": _pr_fill_drops_key,
    "encoded chunk equals the stored bytes, None when missing": _pr_encoded_chunk,
    "too many indices, fancy rejected, out of bounds": _pr_region_errors,
}


@pytest.mark.parametrize("case", list(PR_CASES))
def test_pr_case(pair: Pair, case: str) -> None:
    PR_CASES[case](pair)
    pair.agree()


@pytest.mark.parametrize("sharded", [False, True], ids=["plain", "sharded"])
@pytest.mark.parametrize("selection", PR_REGIONS, ids=lambda sel: repr(sel).replace(" ", ""))
def test_pr_region(pair: Pair, selection: Any, sharded: bool) -> None:
    doc = pr_fixture(pair, chunks=(2, 2), shards=(4, 4)) if sharded else pr_fixture(pair)
    assert_same_data(
        pair.same(lambda s, e: crud.read_region(doc, s, "a", selection, engine=e)), ARANGE[selection]
    )
    expected = ARANGE.copy()
    block = np.arange(expected[selection].size, dtype="u2").reshape(expected[selection].shape) + 1000
    expected[selection] = block
    pair.same(lambda s, e: crud.write_region(doc, s, "a", selection, block, engine=e))
    assert_same_data(zarr_read(pair.roots["cffi"], "a"), expected)
    pair.agree()


# --- disagreements found by this suite (regression tests) ------------------------------------------
NEG_ZERO_C8 = complex(-0.0, 0.0)
NAN_PAYLOAD_F4 = _bits("float32", 0x7FC00001)
NEG_NAN_F4 = _bits("float32", 0xFFC00000)


@pytest.mark.parametrize(
    ("dtype", "fill", "value", "stored"),
    [
        # zarr-python compares complex chunks with == : -0.0 counted as the 0.0 fill and was dropped
        ("complex64", 0, NEG_ZERO_C8, True),
        ("complex128", complex(0.0, 1.0), complex(-0.0, 1.0), True),
        ("float32", 0.0, -0.0, True),
        # zarrs compares bits: NaNs with another payload or sign than the NaN fill were kept
        ("float32", math.nan, NAN_PAYLOAD_F4, False),
        ("float32", math.nan, NEG_NAN_F4, False),
        ("complex64", complex(1.0, math.nan), complex(math.nan, 5.0), False),
        ("float64", 1.5, 1.5, False),
    ],
    ids=["c8 -0", "c16 -0 real part", "f4 -0", "f4 NaN payload", "f4 -NaN", "c8 NaN other part", "f8 equal"],
)
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("how", ["whole chunk", "partial chunk", "strided"])
def test_region_write_fill_equality(
    pair: Pair, fmt: str, how: str, dtype: str, fill: Any, value: Any, stored: bool
) -> None:
    """A region write leaves a chunk stored iff it differs from the fill value bit for bit, except
    that any NaN equals a NaN fill (the rule write_chunk follows, crud.checks.is_fill_chunk)."""
    doc = format_doc(fmt, dtype, fill, (4, 6))
    pair.same(lambda s, e: crud.create_new_array(doc, s, "a", engine=e))
    chunk = stored_chunk_shape(doc)
    selection = {
        "whole chunk": IX[: chunk[0], : chunk[1]],
        "partial chunk": IX[0, 0],
        "strided": IX[::-3, ::2],
    }[how]
    pair.same(
        lambda s, e: crud.write_region(doc, s, "a", selection, np.array(value, doc_dtype(doc)), engine=e)
    )
    present = pair.same(lambda s, e: crud.read_encoded_chunk(doc, s, "a", (0, 0), engine=e) is not None)
    assert present is stored
    pair.agree()


def test_write_region_python_int_out_of_range(pair: Pair) -> None:
    """Values are cast as numpy assignment casts them: a Python int out of range is rejected with
    InvalidArgumentError (the zarr engine used to wrap it around)."""
    from zarrs_cffi.errors import InvalidArgumentError

    doc = v3_doc((3,), (2,), "uint8", 0)
    pair.same(lambda s, e: crud.create_new_array(doc, s, "a", engine=e))
    for value in (300, -1, [1, 256]):
        pair.raises(
            lambda s, e, v=value: crud.write_region(doc, s, "a", IX[:2], v, engine=e), InvalidArgumentError
        )
    pair.same(
        lambda s, e: crud.write_region(doc, s, "a", IX[:2], np.array([300, 1]), engine=e)
    )  # arrays wrap
    assert_same_data(
        pair.same(lambda s, e: crud.read_region(doc, s, "a", (), engine=e)), np.array([44, 1, 0], "u1")
    )
    pair.agree()


def test_write_region_unbroadcastable_is_invalid_argument(pair: Pair) -> None:
    """Both engines raise InvalidArgumentError (a ValueError) for a value that does not broadcast."""
    from zarrs_cffi.errors import InvalidArgumentError

    doc = v3_doc((), (), "int32", 0)
    pair.same(lambda s, e: crud.create_new_array(doc, s, "a", engine=e))
    pair.raises(
        lambda s, e: crud.write_region(doc, s, "a", (), np.zeros(2, "i4"), engine=e), InvalidArgumentError
    )
    pair.raises(
        lambda s, e: crud.write_region(doc, s, "a", (), "not a number", engine=e), InvalidArgumentError
    )


def test_zero_dimensional_write_chunk(pair: Pair) -> None:
    """The chunk of a 0-d array has shape (): the zarr engine used to encode it as shape (1,)."""
    doc = v3_doc((), (), "float16", 0)
    pair.same(lambda s, e: crud.create_new_array(doc, s, "a", engine=e))
    pair.same(lambda s, e: crud.write_chunk(doc, s, "a", (), np.array(2.5, "f2"), engine=e))
    assert_same_data(pair.same(lambda s, e: crud.read_chunk(doc, s, "a", (), engine=e)), np.array(2.5, "f2"))
    pair.raises(lambda s, e: crud.write_chunk(doc, s, "a", (), np.zeros(1, "f2"), engine=e), ValueError)
    pair.same(lambda s, e: crud.write_chunk(doc, s, "a", (), np.array(0, "f2"), engine=e))
    assert pair.same(lambda s, e: crud.read_encoded_chunk(doc, s, "a", (), engine=e)) is None
    pair.agree()
