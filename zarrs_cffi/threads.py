"""The native decode thread pool: how many threads one read or write may use."""

from __future__ import annotations

from ._native import check, int_arg, lib


def get_num_threads() -> int:
    """Return how many threads one native read or write may use.

    Returns:
        The current setting (default: ``ZARRS_CFFI_NUM_THREADS``, else the number of cores).
    """
    return int(lib.zarrsCffiThreadCount())


def set_num_threads(threads: int) -> None:
    """Let each native read or write use up to ``threads`` threads from now on.

    Calls in flight finish on the old pool.

    >>> zarrs_cffi.set_num_threads(1)  # e.g. one thread per call when calling from many threads

    Args:
        threads: The thread count; 0 restores the default (``ZARRS_CFFI_NUM_THREADS``, else all
            cores).

    Raises:
        InvalidArgumentError: ``threads`` is not an int in ``[0, 4096]``.
    """
    check(lib.zarrsCffiSetThreadCount(int_arg(threads, "threads", 4096)))
