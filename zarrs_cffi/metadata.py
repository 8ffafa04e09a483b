"""Zarr metadata documents: build v3 array/group documents for creation, and read the facts the
C API only exposes through the metadata JSON (chunks, shards, fill value, codecs)."""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any, Dict

import numpy as np

from .dtypes import V3_NAME_BY_NUMPY, normalize_dtype
from .errors import InvalidArgumentError, InvalidMetadataError

# A node cannot take a metadata document's name: "g/zarr.json" would be the key of g's own
# document (and "zarr.json/zarr.json" a file's child), ".zarray" a v2 sibling's.
METADATA_NAMES = frozenset({"zarr.json", ".zarray", ".zgroup", ".zattrs", ".zmetadata"})


def numpy_to_json(value: Any) -> Any:
    """``json.dumps``'s ``default``: numpy scalars and arrays in a metadata document (a shape
    from ``arr.shape`` arithmetic holds ``np.int64``) as the JSON values they stand for, as
    zarr-python takes them."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


Json = Dict[str, Any]  # typing.Dict: evaluated at runtime, and dict[...] needs 3.9

_BYTES_LITTLE: Json = {"name": "bytes", "configuration": {"endian": "little"}}


def _int_tuple(value: object, what: str, *, minimum: int) -> tuple[int, ...]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
        raise InvalidArgumentError(f"{what} must be a sequence of integers, got {type(value).__name__}")
    out = []
    for item in value:
        if isinstance(item, bool):
            raise InvalidArgumentError(f"{what} must contain integers, got {item!r}")
        try:
            n = operator.index(item)
        except TypeError:
            raise InvalidArgumentError(f"{what} must contain integers, got {item!r}") from None
        if n < minimum:
            raise InvalidArgumentError(f"{what} entries must be >= {minimum}, got {tuple(value)}")
        if n >= 2**63:
            raise InvalidArgumentError(f"{what} entry {n} is too large")
        out.append(n)
    return tuple(out)


def compressor_codecs(compressors: object, dtype: np.dtype) -> list[Json]:
    """The bytes-to-bytes codecs for ``compressors``: None, "zstd", "gzip", "blosc", a codec JSON
    dict, or a list of those."""
    if compressors is None:
        return []
    items = compressors if isinstance(compressors, (list, tuple)) else [compressors]
    codecs: list[Json] = []
    for item in items:
        if isinstance(item, dict):
            if not isinstance(item.get("name"), str):
                raise InvalidArgumentError(f"codec dict needs a 'name' string: {item!r}")
            codecs.append(item)
        elif item == "zstd":
            codecs.append({"name": "zstd", "configuration": {"level": 0, "checksum": False}})
        elif item == "gzip":
            codecs.append({"name": "gzip", "configuration": {"level": 5}})
        elif item == "blosc":
            codecs.append(
                {
                    "name": "blosc",
                    "configuration": {
                        "cname": "zstd",
                        "clevel": 5,
                        "shuffle": "shuffle" if dtype.itemsize > 1 else "bitshuffle",
                        "typesize": dtype.itemsize,
                        "blocksize": 0,
                    },
                }
            )
        else:
            raise InvalidArgumentError(
                f"unknown compressor {item!r}: use None, 'zstd', 'gzip', 'blosc' or codec JSON dicts"
            )
    return codecs


def _fill_number(value: object, dtype: np.dtype) -> Any:
    """``value`` as an exact Python bool, int, float or complex (a string parsed as ``dtype``'s kind
    of number), before any cast to ``dtype`` can wrap, truncate or overflow it."""
    array = np.asarray(value)
    if array.ndim:  # [1] is a list, not the scalar 1 that .item() would make of it
        raise TypeError(f"a {type(value).__name__} of shape {array.shape} is not a scalar")
    item = array.item()  # a numpy scalar or 0-d array -> its Python value, losslessly
    if isinstance(item, bytes):
        item = item.decode("ascii")
    if isinstance(item, str):  # parsed as numpy parses it when casting: "5", "NaN", "Infinity"
        parse = {"b": None, "i": int, "u": int, "f": float, "c": complex}[dtype.kind]
        if parse is None:
            raise TypeError("a string is not a bool")
        return parse(item)
    if isinstance(item, (bool, int, float, complex)):
        return item
    raise TypeError(f"{type(value).__name__} is not a number")


def _fill_problem(number: Any, dtype: np.dtype) -> str | None:
    """Why ``number`` cannot be a fill value of ``dtype`` without changing it, or None if it can.
    Rounding a float to a narrower float is fine (as in numpy); overflowing to infinity is not."""
    if isinstance(number, complex) and dtype.kind != "c":
        if number.imag:
            return "a complex number with a non-zero imaginary part"
        number = number.real
    if dtype.kind == "b":
        return None if number in (0, 1) else "only True/False (or 0/1) fit a bool"
    if dtype.kind in "iu":
        if isinstance(number, float) and not (math.isfinite(number) and number.is_integer()):
            return "not an integer"
        info = np.iinfo(dtype)
        return None if info.min <= int(number) <= info.max else f"outside [{info.min}, {info.max}]"
    parts = [number.real, number.imag] if isinstance(number, complex) else [number]
    with np.errstate(over="ignore"):  # the overflow to infinity is reported below
        cast = [np.dtype(f"f{dtype.itemsize // len(parts)}").type(part) for part in parts]
    if any(math.isfinite(part) and not np.isfinite(c) for part, c in zip(parts, cast)):
        return "too large (it would become infinity)"
    return None


def fill_value_to_json(value: object, dtype: np.dtype) -> Any:
    """Encode a fill value the way Zarr v3 metadata spells it (NaN/Infinity as strings).

    A value ``dtype`` cannot hold exactly (70000 for int16, -1 for uint8, NaN or 1.5 for an integer
    type, 1e10 for float16) raises InvalidArgumentError, as zarr-python refuses it: casting would
    silently store another fill value than the one asked for."""
    try:
        number = _fill_number(value, dtype)
        problem = _fill_problem(number, dtype)
    except (TypeError, ValueError, OverflowError) as exc:
        problem = str(exc)
    if problem is not None:
        raise InvalidArgumentError(f"fill_value {value!r} does not fit dtype {dtype}: {problem}")
    if isinstance(number, complex) and dtype.kind != "c":
        number = number.real
    scalar = dtype.type(number).item()

    def real(x: float) -> Any:
        if math.isnan(x):
            return "NaN"
        if math.isinf(x):
            return "Infinity" if x > 0 else "-Infinity"
        return x

    if dtype.kind == "c":
        return [real(scalar.real), real(scalar.imag)]
    if dtype.kind == "f":
        return real(scalar)
    return scalar


def array_document(
    *,
    shape: object,
    dtype: object,
    chunks: object,
    shards: object = None,
    compressors: object = "zstd",
    fill_value: object = 0,
    attributes: dict[str, Any] | None = None,
    dimension_names: Sequence[str | None] | None = None,
) -> Json:
    """A Zarr v3 ``zarr.json`` document for a new array, validated up front."""
    dt = normalize_dtype(dtype)
    shape_t = _int_tuple(shape, "shape", minimum=0)
    chunks_t = _int_tuple(chunks, "chunks", minimum=1)
    if len(chunks_t) != len(shape_t):
        raise InvalidArgumentError(f"chunks {chunks_t} must have one entry per dimension of shape {shape_t}")
    inner_codecs = [_BYTES_LITTLE, *compressor_codecs(compressors, dt)]
    if shards is None:
        grid, codecs = chunks_t, inner_codecs
    else:
        shards_t = _int_tuple(shards, "shards", minimum=1)
        if len(shards_t) != len(shape_t):
            raise InvalidArgumentError(f"shards {shards_t} must have one entry per dimension of {shape_t}")
        if any(s % c for s, c in zip(shards_t, chunks_t)):
            raise InvalidArgumentError(f"shards {shards_t} must be whole multiples of chunks {chunks_t}")
        grid = shards_t
        codecs = [
            {
                "name": "sharding_indexed",
                "configuration": {
                    "chunk_shape": list(chunks_t),
                    "codecs": inner_codecs,
                    "index_codecs": [_BYTES_LITTLE, {"name": "crc32c"}],
                    "index_location": "end",
                },
            }
        ]
    if attributes is not None and not isinstance(attributes, dict):
        raise InvalidArgumentError(f"attributes must be a dict, got {type(attributes).__name__}")
    doc: Json = {
        "zarr_format": 3,
        "node_type": "array",
        "shape": list(shape_t),
        "data_type": V3_NAME_BY_NUMPY[dt],
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(grid)}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": fill_value_to_json(fill_value, dt),
        "codecs": codecs,
        "attributes": dict(attributes or {}),
    }
    if dimension_names is not None:
        names = list(dimension_names)
        if len(names) != len(shape_t) or not all(n is None or isinstance(n, str) for n in names):
            raise InvalidArgumentError(
                f"dimension_names must hold one str or None per dimension, got {dimension_names!r}"
            )
        doc["dimension_names"] = names
    return doc


def group_document(attributes: dict[str, Any] | None = None) -> Json:
    """A Zarr v3 group ``zarr.json`` document."""
    if attributes is not None and not isinstance(attributes, dict):
        raise InvalidArgumentError(f"attributes must be a dict, got {type(attributes).__name__}")
    return {"zarr_format": 3, "node_type": "group", "attributes": dict(attributes or {})}


def _codec_name(codec: object) -> str:
    """A v3 codec entry's name: entries are {"name": ..., "configuration": ...} or, for a codec
    without configuration, the bare name string (zarrs writes "bytes" for 1-byte data types)."""
    if isinstance(codec, str):
        return codec
    if isinstance(codec, dict):
        name = codec.get("name", "?")
        return name if isinstance(name, str) else "?"
    return "?"


def chunks_and_shards(doc: Json) -> tuple[tuple[int, ...], tuple[int, ...] | None]:
    """(inner chunk shape, shard shape or None) from a v2 or v3 array document."""
    try:
        if doc.get("zarr_format") == 2:
            return tuple(doc["chunks"]), None
        grid = tuple(doc["chunk_grid"]["configuration"]["chunk_shape"])
        codecs = doc.get("codecs") or []
        if codecs and _codec_name(codecs[0]) == "sharding_indexed":
            return tuple(codecs[0]["configuration"]["chunk_shape"]), grid
        return grid, None
    except (KeyError, TypeError) as exc:
        raise InvalidMetadataError(f"array metadata lacks a regular chunk grid: {exc}") from None


def codec_names(doc: Json) -> list[str]:
    """Codec names, outermost first; sharding lists its inner codecs in brackets."""
    if doc.get("zarr_format") == 2:
        names = [f.get("id", "?") for f in doc.get("filters") or []]
        compressor = doc.get("compressor")
        return [*names, compressor.get("id", "?")] if compressor else names
    out = []
    for codec in doc.get("codecs") or []:
        name = _codec_name(codec)
        if name == "sharding_indexed" and isinstance(codec, dict):
            inner = codec_names({"codecs": codec.get("configuration", {}).get("codecs", [])})
            name = f"sharding_indexed[{', '.join(inner)}]"
        out.append(name)
    return out


def parse_fill_value(value: Any, dtype: np.dtype) -> Any:
    """The fill value of a metadata document as a numpy scalar of ``dtype``."""
    if value is None:  # Zarr v2 "no fill value": zarrs reads missing chunks as zeros
        return dtype.type(0)

    def real(x: Any) -> Any:
        if isinstance(x, str):
            if x.startswith("0x"):
                raw = int(x, 16).to_bytes(dtype.itemsize // (2 if dtype.kind == "c" else 1), "big")
                float_dtype = np.dtype(f">f{len(raw)}")
                return np.frombuffer(raw, dtype=float_dtype)[0]
            return {"NaN": np.nan, "Infinity": np.inf, "-Infinity": -np.inf}.get(x, x)
        return x

    if dtype.kind == "c" and isinstance(value, (list, tuple)) and len(value) == 2:
        return dtype.type(complex(real(value[0]), real(value[1])))
    return dtype.type(real(value))
