"""zarrs-cffi: read and write Zarr arrays (v3 and v2) through zarrs' C API with cffi, decoding
straight into numpy buffers the caller owns.

>>> import numpy as np, zarrs_cffi
>>> out = np.empty((512, 512), dtype="uint16")
>>> zarrs_cffi.read_into(out, "data.zarr/temperature", (slice(0, 512), slice(0, 512), 7)) is out
True
"""

from __future__ import annotations

from pathlib import Path

from ._native import ffi, lib
from .array import Array
from .create import create_array, create_group
from .dask import from_dask, store, to_dask  # imports dask only when called
from .decoding import set_direct_decoding, set_direct_encoding, set_streaming_threshold
from .errors import (
    AccessDeniedError,
    ArrayError,
    BufferLengthError,
    ChunkCoordsLengthError,
    ChunkCoordsTypeError,
    ChunkGridError,
    ClosedError,
    CodecError,
    DataTypeMismatchError,
    DimensionalityError,
    GroupError,
    IndexTypeError,
    InternalPanicError,
    InvalidArgumentError,
    InvalidEngineError,
    InvalidIndicesError,
    InvalidMetadataError,
    InvalidSelectionError,
    InvalidStoreError,
    NodeExistsError,
    NodeNotFoundError,
    NodePathError,
    NullPointerError,
    OutputBufferError,
    ReadOnlyError,
    StorageCapabilityError,
    StorageError,
    StorePrefixError,
    UnknownEngineError,
    UnsupportedDataTypeError,
    UnsupportedPythonError,
    UnsupportedStoreError,
    ZarrsError,
)
from .functional import clear_cache, read, read_into, write
from .open import list_engines, open_array
from .store import Store, consolidate, forget_memory_store
from .threads import get_io_concurrency, get_num_threads, set_io_concurrency, set_num_threads

__version__ = "0.1.0"
_PACKAGE_DIR = Path(__file__).resolve().parent


def __getattr__(name: str) -> object:
    # ZarrsCffiCodecPipeline needs zarr-python: imported on first use, so `import zarrs_cffi` never
    # imports zarr (PEP 562). Not in __all__, so that `from zarrs_cffi import *` does not either.
    if name == "ZarrsCffiCodecPipeline":
        from .zarr_pipeline import ZarrsCffiCodecPipeline

        return ZarrsCffiCodecPipeline
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get_include() -> str:
    """Return the directory holding ``zarrs_cffi.h``, for C code built against this package.

    Returns:
        An absolute path (pass it to the C compiler as ``-I``).
    """
    return str(_PACKAGE_DIR / "include")


def get_library() -> str:
    """Return the path of ``libzarrs_cffi.so``, the very library this package loads.

    Link C code against this file (not a copy) so that C and Python share one library instance.

    Returns:
        An absolute path to the shared library.
    """
    return str(_PACKAGE_DIR / "lib" / "libzarrs_cffi.so")


def zarrs_version() -> str:
    """Return the version of the zarrs crate inside the native library.

    Returns:
        A version string such as ``"0.23.14"``.
    """
    return f"{lib.zarrsVersionMajor()}.{lib.zarrsVersionMinor()}.{lib.zarrsVersionPatch()}"


def native_version() -> str:
    """Return the version of this package's native library and of the upstream C API it embeds.

    Returns:
        A string such as ``"0.1.0 (zarrs_ffi 0.10.1)"``.
    """
    return f"{ffi.string(lib.zarrsCffiVersion()).decode()} ({ffi.string(lib.zarrsCffiUpstreamVersion()).decode()})"


__all__ = [
    "Array",
    "ArrayError",
    "BufferLengthError",
    "ChunkCoordsLengthError",
    "ChunkCoordsTypeError",
    "ChunkGridError",
    "ClosedError",
    "CodecError",
    "DataTypeMismatchError",
    "DimensionalityError",
    "GroupError",
    "IndexTypeError",
    "InternalPanicError",
    "InvalidArgumentError",
    "InvalidIndicesError",
    "InvalidSelectionError",
    "InvalidMetadataError",
    "NodeExistsError",
    "NodeNotFoundError",
    "NodePathError",
    "NullPointerError",
    "OutputBufferError",
    "ReadOnlyError",
    "AccessDeniedError",
    "StorageCapabilityError",
    "StorageError",
    "StorePrefixError",
    "Store",
    "forget_memory_store",
    "consolidate",
    "UnsupportedDataTypeError",
    "UnsupportedPythonError",
    "UnknownEngineError",
    "InvalidEngineError",
    "UnsupportedStoreError",
    "InvalidStoreError",
    "ZarrsError",
    "clear_cache",
    "create_array",
    "create_group",
    "from_dask",
    "get_include",
    "get_library",
    "get_num_threads",
    "list_engines",
    "native_version",
    "open_array",
    "read",
    "read_into",
    "set_direct_decoding",
    "set_direct_encoding",
    "set_streaming_threshold",
    "set_num_threads",
    "get_io_concurrency",
    "set_io_concurrency",
    "store",
    "to_dask",
    "write",
    "zarrs_version",
]
