"""Direct decoding and encoding: zarrs-cffi's own codec paths for the common codec chains, and how
large reads reach their output."""

from __future__ import annotations

import sys
from typing import Any

from ._native import int_arg, lib
from .errors import InvalidArgumentError


def set_direct_decoding(enabled: bool) -> bool:
    """Turn direct decoding on (the default) or off, process-wide.

    Arrays stored as ``bytes`` (little endian) plus at most one of zstd, gzip or blosc, optionally
    inside ``sharding_indexed`` (index ``bytes`` + optional ``crc32c``), are decoded by
    zarrs-cffi itself: stored bytes are decompressed straight into reused buffers with a
    per-thread zstd context, and shard indexes are read once per shard. Everything else goes
    through zarrs' codec pipeline. Turning it off sends every read through zarrs' pipeline (to
    compare the two, or as an escape hatch). Chunk caches keep the setting they were first used
    with.

    Args:
        enabled: True for direct decoding, False for zarrs' pipeline only.

    Returns:
        The previous setting.

    Raises:
        InvalidArgumentError: ``enabled`` is not a bool.
    """
    return _switch(lib.zarrsCffiSetDirectDecoding, enabled)


def set_direct_encoding(enabled: bool) -> bool:
    """Turn direct encoding on (the default) or off, process-wide.

    Whole chunks of arrays stored as ``bytes`` (little endian) plus at most one of zstd or gzip,
    optionally inside ``sharding_indexed`` (index ``bytes`` + optional ``crc32c``), are encoded
    by zarrs-cffi itself: per-thread compression contexts and reused output buffers, gzip through
    libdeflate (valid gzip, about 3x faster than zlib at the same level and ratio), files written
    straight from those buffers. Partial chunks and every other chain go through zarrs' codec
    pipeline. Turning it off sends every write through zarrs' pipeline.

    Args:
        enabled: True for direct encoding, False for zarrs' pipeline only.

    Returns:
        The previous setting.

    Raises:
        InvalidArgumentError: ``enabled`` is not a bool.
    """
    return _switch(lib.zarrsCffiSetDirectEncoding, enabled)


def set_streaming_threshold(nbytes: int) -> int:
    """Stream reads into outputs of at least ``nbytes`` bytes (default 16 MiB).

    A directly decoded read of an unsharded array that spans several chunks and fills at least
    this many bytes decodes the chunks lying side by side along the last axis together and writes
    the output's rows across them at once, with stores that bypass the CPU caches: filling an
    output larger than the caches then moves each byte through memory once instead of three
    times (the whole uncompressed benchmark array reads ~25 % faster). Smaller outputs are written
    through the caches, where the caller's next look at them is fast. Values are the same either way.

    Args:
        nbytes: The threshold in bytes: ``0`` streams every such read, ``sys.maxsize`` none.

    Returns:
        The previous threshold.

    Raises:
        InvalidArgumentError: ``nbytes`` is not an int in ``[0, sys.maxsize]``.
    """
    n = int_arg(nbytes, "nbytes", sys.maxsize, "sys.maxsize")
    return int(lib.zarrsCffiSetStreamingThreshold(n))


def _switch(setter: Any, enabled: bool) -> bool:
    """Set a process-wide native on/off switch; returns its previous setting."""
    if not isinstance(enabled, bool):
        raise InvalidArgumentError(f"enabled must be a bool, got {type(enabled).__name__}")
    return bool(setter(int(enabled)))
