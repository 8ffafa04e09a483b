"""Exception classes, and the one place where native result codes become exceptions.

Every class derives from :class:`ZarrsError` (which carries ``.code``) and, where the meaning fits, from
the matching builtin, so ``except FileNotFoundError`` works for a missing array.
"""

from __future__ import annotations

from .secrets import redact


class ZarrsError(Exception):
    """Base class of every error raised by zarrs_cffi. ``code`` is the native result code (0 if none).
    Its message never shows a secret of a store URL or its options (:mod:`zarrs_cffi.secrets`)."""

    code: int = 0

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(redact(str(message)))
        if code is not None:
            self.code = code


# --- upstream zarrs_ffi result codes -------------------------------------------------------------
class NullPointerError(ZarrsError, ValueError):
    """A required pointer was NULL (ZARRS_ERROR_NULL_PTR)."""


class StorageError(ZarrsError, OSError):
    """The store failed to read, write, list or erase (ZARRS_ERROR_STORAGE)."""


class ArrayError(ZarrsError, ValueError):
    """zarrs rejected an array operation (ZARRS_ERROR_ARRAY)."""


class BufferLengthError(ZarrsError, ValueError):
    """A buffer's byte count does not match the data (ZARRS_ERROR_BUFFER_LENGTH)."""


class InvalidIndicesError(ZarrsError, IndexError):
    """Indices or a region lie outside the array or chunk grid (ZARRS_ERROR_INVALID_INDICES)."""


class NodePathError(ZarrsError, ValueError):
    """A node path is malformed (ZARRS_ERROR_NODE_PATH)."""


class StorePrefixError(ZarrsError, ValueError):
    """A store prefix is malformed (ZARRS_ERROR_STORE_PREFIX)."""


class InvalidMetadataError(ZarrsError, ValueError):
    """Metadata is not valid JSON or not a valid Zarr document (ZARRS_ERROR_INVALID_METADATA)."""


class StorageCapabilityError(ZarrsError, OSError):
    """The store cannot do what was asked, e.g. write or list (ZARRS_ERROR_STORAGE_CAPABILITY)."""


class ChunkGridError(ZarrsError, ValueError):
    """The chunk grid or the chunks of a region are unknown (ZARRS_ERROR_UNKNOWN_CHUNK_GRID_SHAPE,
    ZARRS_ERROR_UNKNOWN_INTERSECTING_CHUNKS)."""


class UnsupportedDataTypeError(ZarrsError, TypeError):
    """The array's data type is not supported here (ZARRS_ERROR_UNSUPPORTED_DATA_TYPE)."""


class GroupError(ZarrsError, ValueError):
    """zarrs rejected a group operation (ZARRS_ERROR_GROUP)."""


class DimensionalityError(ZarrsError, ValueError):
    """A shape or index has the wrong number of dimensions (ZARRS_ERROR_INCOMPATIBLE_DIMENSIONALITY)."""


# --- zarrs-cffi's own result codes -----------------------------------------------------------------
class NodeNotFoundError(ZarrsError, FileNotFoundError):
    """No array or group exists at the path (ZARRS_CFFI_ERROR_NODE_NOT_FOUND)."""


class NodeExistsError(ZarrsError, ValueError):
    """A node already exists where a new one was to be created (ZARRS_CFFI_ERROR_NODE_EXISTS)."""


class InvalidArgumentError(ZarrsError, ValueError):
    """An argument was rejected before or at the C boundary (ZARRS_CFFI_ERROR_INVALID_ARGUMENT)."""


class CodecError(ZarrsError, ValueError):
    """Stored bytes could not be decoded: a truncated, corrupt or garbage chunk (ZARRS_CFFI_ERROR_CODEC)."""


class InternalPanicError(ZarrsError, RuntimeError):
    """The native library caught a panic; the process is intact (ZARRS_CFFI_ERROR_PANIC)."""


# --- raised by the Python layer only ------------------------------------------------------------
class ClosedError(ZarrsError, ValueError):
    """The array or store was used after ``close()``."""


class InvalidSelectionError(ZarrsError, TypeError):
    """A region is not numpy basic indexing (ints, slices, one Ellipsis): lists, arrays, masks,
    floats or None/newaxis."""


class IndexTypeError(InvalidSelectionError, IndexError):
    """An index of an ``oindex`` / ``vindex`` / ``blocks`` selection (or of an orthogonal ``read_into``
    region) has the wrong type: a float or string array, a bool where an integer is required, None,
    a slice in ``vindex``. Both an InvalidSelectionError (a TypeError) and, like zarr-python's and
    numpy's errors for these, an IndexError."""


class UnknownEngineError(ZarrsError, ValueError):
    """``engine=`` names no registered engine (the message lists the available ones)."""


class InvalidEngineError(ZarrsError, TypeError):
    """``engine=`` is neither a name nor an object implementing the CrudBackend protocol."""


class UnsupportedStoreError(ZarrsError, TypeError):
    """The engine cannot use this kind of store."""


class InvalidStoreError(UnsupportedStoreError, InvalidArgumentError):
    """A store argument of the CRUD API that is malformed: a mistyped URL (``s3:bucket``), an
    unknown scheme, credentials in a URL. Both the CRUD contract's UnsupportedStoreError (a
    TypeError) and the InvalidArgumentError (a ValueError) the rest of the API raises for it."""


class OutputBufferError(ZarrsError, ValueError):
    """``out`` is not writable, not C-contiguous, or not of the result's shape."""


class NotAnArrayError(OutputBufferError, TypeError):
    """``out`` is not a numpy.ndarray (both a ValueError, like every ``out`` check, and a TypeError)."""


class DataTypeMismatchError(ZarrsError, TypeError):
    """A buffer's dtype differs from the array's dtype."""


class ChunkCoordsLengthError(InvalidIndicesError, DimensionalityError):
    """Chunk coordinates with more or fewer entries than the array has dimensions: an IndexError
    (like numpy's "too many indices") and a DimensionalityError (a ValueError)."""


class ChunkCoordsTypeError(InvalidArgumentError, TypeError):
    """Chunk coordinates that are not a sequence of integers (bools included): a TypeError and an
    InvalidArgumentError (a ValueError)."""


class ReadOnlyError(ZarrsError, PermissionError):
    """A write was attempted on an array opened with ``read_only=True`` or on a read-only store
    (a zip file, an HTTP server); nothing was changed."""


class AccessDeniedError(StorageError, PermissionError):
    """The store refused the credentials or the access (HTTP 401 / 403); names the URL or key."""


class UnsupportedPythonError(ZarrsError, ImportError):
    """A part of zarrs_cffi needs a newer Python than the running one: the parts built on zarr-python 3
    (``engine="zarr"``, the zarr codec pipeline, the xarray backend) need 3.11+; the core does not."""


# Result-code name (as in the generated header) -> exception class. Codes are read from the compiled
# library at import time (see _native.check), never written here as literals.
CODE_NAME_TO_CLASS: dict[str, type[ZarrsError]] = {
    "ZARRS_ERROR_NULL_PTR": NullPointerError,
    "ZARRS_ERROR_STORAGE": StorageError,
    "ZARRS_ERROR_ARRAY": ArrayError,
    "ZARRS_ERROR_BUFFER_LENGTH": BufferLengthError,
    "ZARRS_ERROR_INVALID_INDICES": InvalidIndicesError,
    "ZARRS_ERROR_NODE_PATH": NodePathError,
    "ZARRS_ERROR_STORE_PREFIX": StorePrefixError,
    "ZARRS_ERROR_INVALID_METADATA": InvalidMetadataError,
    "ZARRS_ERROR_STORAGE_CAPABILITY": StorageCapabilityError,
    "ZARRS_ERROR_UNKNOWN_CHUNK_GRID_SHAPE": ChunkGridError,
    "ZARRS_ERROR_UNKNOWN_INTERSECTING_CHUNKS": ChunkGridError,
    "ZARRS_ERROR_UNSUPPORTED_DATA_TYPE": UnsupportedDataTypeError,
    "ZARRS_ERROR_GROUP": GroupError,
    "ZARRS_ERROR_INCOMPATIBLE_DIMENSIONALITY": DimensionalityError,
    "ZARRS_CFFI_ERROR_NODE_NOT_FOUND": NodeNotFoundError,
    "ZARRS_CFFI_ERROR_NODE_EXISTS": NodeExistsError,
    "ZARRS_CFFI_ERROR_INVALID_ARGUMENT": InvalidArgumentError,
    "ZARRS_CFFI_ERROR_CODEC": CodecError,
    "ZARRS_CFFI_ERROR_PANIC": InternalPanicError,
    "ZARRS_CFFI_ERROR_READ_ONLY": ReadOnlyError,
    "ZARRS_CFFI_ERROR_PERMISSION": AccessDeniedError,
}
