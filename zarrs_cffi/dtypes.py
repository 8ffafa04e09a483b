"""zarrs data types (``ZarrsDataType``) <-> numpy dtypes. Results are always native-endian:
on-disk byte order is the codecs' business."""

from __future__ import annotations

import numpy as np

from ._native import lib
from .errors import UnsupportedDataTypeError

# numpy dtype for each supported ZarrsDataType, by enum name (values come from the header).
_NUMPY_BY_NAME = {
    "ZARRS_BOOL": np.dtype(np.bool_),
    "ZARRS_INT8": np.dtype(np.int8),
    "ZARRS_INT16": np.dtype(np.int16),
    "ZARRS_INT32": np.dtype(np.int32),
    "ZARRS_INT64": np.dtype(np.int64),
    "ZARRS_UINT8": np.dtype(np.uint8),
    "ZARRS_UINT16": np.dtype(np.uint16),
    "ZARRS_UINT32": np.dtype(np.uint32),
    "ZARRS_UINT64": np.dtype(np.uint64),
    "ZARRS_FLOAT16": np.dtype(np.float16),
    "ZARRS_FLOAT32": np.dtype(np.float32),
    "ZARRS_FLOAT64": np.dtype(np.float64),
    "ZARRS_COMPLEX64": np.dtype(np.complex64),
    "ZARRS_COMPLEX128": np.dtype(np.complex128),
}
NUMPY_BY_CODE: dict[int, np.dtype] = {int(getattr(lib, n)): dt for n, dt in _NUMPY_BY_NAME.items()}

# Zarr v3 data type names for array creation.
V3_NAME_BY_NUMPY: dict[np.dtype, str] = {
    np.dtype(np.bool_): "bool",
    np.dtype(np.int8): "int8",
    np.dtype(np.int16): "int16",
    np.dtype(np.int32): "int32",
    np.dtype(np.int64): "int64",
    np.dtype(np.uint8): "uint8",
    np.dtype(np.uint16): "uint16",
    np.dtype(np.uint32): "uint32",
    np.dtype(np.uint64): "uint64",
    np.dtype(np.float16): "float16",
    np.dtype(np.float32): "float32",
    np.dtype(np.float64): "float64",
    np.dtype(np.complex64): "complex64",
    np.dtype(np.complex128): "complex128",
}

SUPPORTED = ", ".join(V3_NAME_BY_NUMPY.values())


def numpy_dtype(code: int, described_as: str = "") -> np.dtype:
    """The numpy dtype for a ZarrsDataType code, or UnsupportedDataTypeError."""
    try:
        return NUMPY_BY_CODE[code]
    except KeyError:
        what = f" {described_as!r}" if described_as else ""
        raise UnsupportedDataTypeError(
            f"data type{what} is not supported by zarrs_cffi (supported: {SUPPORTED})"
        ) from None


def normalize_dtype(dtype: object) -> np.dtype:
    """A supported native-endian numpy dtype from anything ``np.dtype`` accepts."""
    try:
        dt = np.dtype(dtype)  # type: ignore[call-overload]
    except TypeError as exc:
        raise UnsupportedDataTypeError(f"not a data type: {dtype!r} ({exc})") from None
    native = dt.newbyteorder("=")
    if native not in V3_NAME_BY_NUMPY:
        raise UnsupportedDataTypeError(f"data type {dt} is not supported (supported: {SUPPORTED})")
    return native
