"""The native decode thread pool: how many threads one read or write may use."""

from __future__ import annotations

from ._native import check, int_arg, lib


def get_num_threads() -> int:
    """Threads the native pool decodes and encodes with (default: all cores)."""
    return int(lib.zarrsCffiThreadCount())


def set_num_threads(threads: int) -> None:
    """Use ``threads`` decode threads from now on; 0 restores the default
    (``ZARRS_CFFI_NUM_THREADS``, else all cores). Calls in flight finish on the old pool.

    >>> zarrs_cffi.set_num_threads(1)  # e.g. one thread per call when calling from many threads
    """
    check(lib.zarrsCffiSetThreadCount(int_arg(threads, "threads", 4096)))
