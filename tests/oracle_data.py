"""Oracle arrays written once by zarr-python and read by every interpreter of ``make test-legacy``.

zarr-python 3 needs Python 3.11+, so the legacy interpreters (CPython 3.8-3.10, PyPy) cannot write
their own oracle data. The default interpreter runs ``python tests/oracle_data.py DIR``; the others
get ``ZARRS_CFFI_ORACLE_DIR=DIR`` and read the arrays and the ``.npy`` files holding what zarr-python
read back (the expected contents). Without the variable, the fixture writes a fresh copy with
zarr-python (so the same tests run in the normal suite), or skips when zarr-python is missing.

Each case is plain data (no zarr objects), so the readers need only numpy.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys
from typing import Any

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from zarr_oracle import DTYPES, sample_data

ORACLE_DIR_ENV = "ZARRS_CFFI_ORACLE_DIR"
MANIFEST = "manifest.json"
# Bump when CASES or the writer change: a directory written by another version is refused.
FORMAT_VERSION = 1

# Regions left unwritten (missing chunks read as the fill value): by name, as slices per axis.
_PARTIAL_2D = [[1, 9, 1], [0, 7, 1]]  # rows 0 and 9 stay unwritten


def _case(name: str, dtype: str, **kw: Any) -> dict[str, Any]:
    case: dict[str, Any] = {
        "name": name,
        "dtype": dtype,
        "shape": [10, 7],
        "chunks": [4, 3],
        "shards": None,
        "codec": "zstd",
        "zarr_format": 3,
        "fill_value": 0,
        "region": _PARTIAL_2D,
        "seed": 1,
        "values": "sample",
    }
    case.update(kw)
    return case


CASES: list[dict[str, Any]] = [
    # Every data type, zstd (zarr-python's default), partly written.
    *(_case(f"v3_{dtype}", dtype) for dtype in DTYPES),
    # Codecs and layouts on int32 / float64.
    _case("v3_gzip", "int32", codec="gzip"),
    _case("v3_blosc", "float64", codec="blosc"),
    _case("v3_raw", "uint16", codec="none", fill_value=7),
    _case("v3_crc32c", "int32", codec="crc32c"),
    _case("v3_bigendian", "float64", codec="bigendian"),
    _case("v3_transpose", "int16", codec="transpose"),
    _case("v3_nan_fill", "float32", fill_value="NaN"),
    _case(
        "v3_sharded", "int32", shape=[16, 12], chunks=[4, 3], shards=[8, 6], region=[[0, 11, 1], [0, 12, 1]]
    ),
    _case("v3_sharded_gzip", "uint8", shape=[16, 12], chunks=[4, 4], shards=[8, 12], codec="gzip"),
    _case("v3_3d", "float32", shape=[6, 5, 4], chunks=[4, 2, 3], region=None),
    _case("v3_1d", "int64", shape=[23], chunks=[5], region=[[2, 19, 1]]),
    _case("v3_0d", "float64", shape=[], chunks=[], region=None),
    # Zarr v2.
    _case("v2_zstd", "int32", zarr_format=2),
    _case("v2_blosc", "float32", zarr_format=2, codec="blosc"),
    _case("v2_zlib", "uint16", zarr_format=2, codec="zlib"),
    _case("v2_raw", "float64", zarr_format=2, codec="none", fill_value=-1.5),
    _case("v2_bigendian", ">i4", zarr_format=2, codec="none"),
    # The conftest fixtures ``arange_path`` and ``multichunk_path``, as zarr-python writes them there.
    _case("arange", "uint16", shape=[8, 8], chunks=[4, 4], codec="default", region=None, values="arange"),
    _case(
        "multichunk",
        "int32",
        shape=[37, 34],
        chunks=[8, 6],
        codec="default",
        fill_value=-1,
        region=None,
        values="multichunk",
    ),
]
CASE_BY_NAME = {case["name"]: case for case in CASES}


def case_data(case: dict[str, Any]) -> np.ndarray:
    """The values the writer stores (before missing chunks): deterministic per case."""
    if case["values"] == "arange":
        return np.arange(64, dtype="uint16").reshape(8, 8)
    if case["values"] == "multichunk":
        return np.arange(37 * 34, dtype="int32").reshape(37, 34) * 7 - 500
    return sample_data(np.dtype(case["dtype"]), case["shape"], seed=case["seed"])


def case_region(case: dict[str, Any]) -> Any:
    """The region the writer stores (``...`` for the whole array)."""
    if case["region"] is None:
        return ...
    return tuple(slice(*axis) for axis in case["region"])


def _codec_arguments(case: dict[str, Any]) -> dict[str, Any]:
    """zarr.create_array keyword arguments for the case's codec (zarr-python imported here only)."""
    codec = case["codec"]
    if codec == "default":
        return {}
    if case["zarr_format"] == 2:
        import numcodecs

        v2 = {"zstd": numcodecs.Zstd(level=3), "blosc": numcodecs.Blosc(cname="lz4", shuffle=1)}
        v2["zlib"] = numcodecs.Zlib(level=5)
        return {"compressors": None if codec == "none" else v2[codec]}
    from zarr.codecs import (
        BloscCodec,
        BytesCodec,
        Crc32cCodec,
        GzipCodec,
        TransposeCodec,
        ZstdCodec,
    )

    if codec == "zstd":
        return {"compressors": ZstdCodec(level=3)}
    if codec == "gzip":
        return {"compressors": GzipCodec(level=5)}
    if codec == "blosc":
        return {"compressors": BloscCodec(cname="lz4", shuffle="shuffle", typesize=8)}
    if codec == "none":
        return {"compressors": None}
    if codec == "crc32c":
        return {"compressors": [ZstdCodec(level=1), Crc32cCodec()]}
    if codec == "bigendian":
        return {"serializer": BytesCodec(endian="big"), "compressors": ZstdCodec(level=1)}
    if codec == "transpose":
        return {"filters": [TransposeCodec(order=(1, 0))], "compressors": ZstdCodec(level=1)}
    raise ValueError(f"unknown codec {codec!r}")


def write_oracle(root: pathlib.Path) -> pathlib.Path:
    """Write every case with zarr-python below ``root`` (arrays ``NAME``, expected ``NAME.npy``)."""
    import zarr

    root.mkdir(parents=True, exist_ok=True)
    for case in CASES:
        data = case_data(case)
        fill = float("nan") if case["fill_value"] == "NaN" else case["fill_value"]
        z = zarr.create_array(
            store=str(root / case["name"]),
            shape=tuple(case["shape"]),
            chunks=tuple(case["chunks"]),
            shards=tuple(case["shards"]) if case["shards"] else None,
            dtype=np.dtype(case["dtype"]),
            fill_value=fill,
            zarr_format=case["zarr_format"],
            **_codec_arguments(case),
        )
        region = case_region(case)
        z[region] = data[region]
        np.save(root / f"{case['name']}.npy", np.asarray(z[...]), allow_pickle=False)
    manifest = {"format": FORMAT_VERSION, "zarr": zarr.__version__, "cases": CASES}
    (root / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return root


def check_oracle_dir(root: pathlib.Path) -> None:
    """Raise AssertionError unless ``root`` holds this version's oracle data (every case)."""
    manifest_path = root / MANIFEST
    assert manifest_path.is_file(), f"{ORACLE_DIR_ENV}={root}: no {MANIFEST} (run tests/oracle_data.py)"
    manifest = json.loads(manifest_path.read_text())
    assert manifest.get("format") == FORMAT_VERSION and manifest.get("cases") == CASES, (
        f"{root} was written by another version of tests/oracle_data.py: write it again"
    )


def oracle_dir_from_env() -> pathlib.Path | None:
    """The directory named by ``ZARRS_CFFI_ORACLE_DIR`` (checked), or None if the variable is unset."""
    value = os.environ.get(ORACLE_DIR_ENV)
    if not value:
        return None
    root = pathlib.Path(value)
    check_oracle_dir(root)
    return root


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(f"usage: {sys.argv[0]} OUTPUT_DIR   (needs zarr-python)")
    print("wrote", write_oracle(pathlib.Path(sys.argv[1])))
