"""The native decode thread pool: how many threads one read or write may use."""

from __future__ import annotations

import operator

from ._native import check, lib
from .errors import InvalidArgumentError


def get_num_threads() -> int:
    """Threads the native pool decodes and encodes with (default: all cores)."""
    return int(lib.zarrsCffiThreadCount())


def set_num_threads(threads: int) -> None:
    """Use ``threads`` decode threads from now on; 0 restores the default
    (``ZARRS_CFFI_NUM_THREADS``, else all cores). Calls in flight finish on the old pool.

    >>> zarrs_cffi.set_num_threads(1)  # e.g. one thread per call when calling from many threads
    """
    try:
        n = operator.index(threads)
    except TypeError:
        raise InvalidArgumentError(f"threads must be an int, got {type(threads).__name__}") from None
    if isinstance(threads, bool) or not 0 <= n <= 4096:
        raise InvalidArgumentError(f"threads must be between 0 and 4096, got {threads!r}")
    check(lib.zarrsCffiSetThreadCount(n))
