"""The native decode thread pool: how many threads one read or write may use."""

from __future__ import annotations

import os
import re
import warnings

from ._native import check, int_arg, lib


def _warn_if_unusable(variable: str = "ZARRS_CFFI_NUM_THREADS") -> None:
    """The native library ignores a value that is not a positive integer (it uses every core): say
    so once, at import, rather than silently."""
    value = os.environ.get(variable)
    if value is not None and not (re.fullmatch(r"\+?[0-9]+", value) and 0 < int(value) < 2**64):  # a usize
        warnings.warn(
            f"{variable}={value!r} is not a positive integer; ignored (one thread per core is used)",
            RuntimeWarning,
            stacklevel=1,
        )


_warn_if_unusable()


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


def get_io_concurrency() -> int:
    """Return how many requests one read or write on a remote store keeps in flight.

    Returns:
        The current setting (default 32). Local directories are unaffected by it.
    """
    return int(lib.zarrsCffiIoConcurrency())


def set_io_concurrency(requests: int) -> None:
    """Let each read or write on a remote store (S3, GCS, Azure, HTTP, ``memory://``) keep up to
    ``requests`` requests in flight; each chunk is decoded as soon as it arrives.

    >>> zarrs_cffi.set_io_concurrency(64)  # e.g. for a high-latency link
    >>> zarrs_cffi.set_io_concurrency(0)   # back to the default

    Args:
        requests: The number of requests; 0 restores the default (32).

    Raises:
        InvalidArgumentError: ``requests`` is not an int in ``[0, 1024]``.
    """
    check(lib.zarrsCffiSetIoConcurrency(int_arg(requests, "requests", 1024)))
