"""``python -m zarrs_cffi info PATH [NODE]`` and ``python -m zarrs_cffi demo [DIR]``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence

import numpy as np

from .create import create_array, create_group
from .errors import InvalidArgumentError, ZarrsError
from .functional import read_into
from .location import store_location
from .metadata import codec_names
from .open import open_array
from .store import Store


def _shown(value: object) -> str:
    """A fill value as a user writes it (``0.0``, ``nan``, ``'x'``), not numpy's repr
    (``np.float64(0.0)``)."""
    return repr(value) if isinstance(value, str) else str(value)


def _stored(stored: int | None, nbytes: int) -> str:
    if stored is None:
        return "unknown (HTTP servers cannot list what is stored)"
    return f"{stored:,} bytes ({nbytes / stored:.2f}x)" if stored else "0 bytes"


def _info(path: str, node: str) -> int:
    with open_array(path, node, read_only=True) as arr, Store(path) as store:
        # An HTTP server cannot list a directory, so nothing can sum what is stored under it.
        stored = None if store_location(path).scheme in ("http", "https") else store.stored_bytes(node)
        rows = [
            ("path", f"{arr.root} (node {arr.node})"),
            ("zarr_format", str(arr.zarr_format)),
            ("shape", str(arr.shape)),
            ("dtype", str(arr.dtype)),
            ("chunks", str(arr.chunks)),
            ("shards", str(arr.shards)),
            ("chunk grid", str(arr.chunk_grid_shape)),
            ("codecs", ", ".join(codec_names(arr.metadata)) or "(none)"),
            ("fill value", _shown(arr.fill_value)),
            ("size", f"{arr.nbytes:,} bytes decoded"),
            ("stored", _stored(stored, arr.nbytes)),
        ]
        if arr.attrs:
            rows.append(("attributes", ", ".join(sorted(arr.attrs))))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0


_DEMO_TITLE = "zarrs-cffi demo"
_DEMO_MAX_SIZE = 2048  # 128 MiB of data: the demo shows the API, it is not a load test


def _demo_directory(target: str) -> str:
    """The local directory the demo may write: ``target`` as a path (a ``file:`` URL names one)."""
    location = store_location(target)
    if not location.local:
        raise InvalidArgumentError(
            f"the demo writes a local directory, not {location.url!r}: give a path or a file:// URL"
        )
    _check_demo_target(location.url)
    return location.url


def _check_demo_target(directory: str) -> None:
    """The demo replaces what is at ``directory`` (overwrite=True): only a new or empty directory,
    or an earlier demo's store, may be replaced; anything else is the user's and is kept."""
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise InvalidArgumentError(f"{directory!r} is a file: give the demo a new or empty directory")
    if not os.path.isdir(directory) or not os.listdir(directory):
        return
    try:
        with open(os.path.join(directory, "zarr.json"), encoding="utf-8") as file:
            title = json.load(file).get("attributes", {}).get("title")
    except (OSError, ValueError, AttributeError):
        title = None
    if title != _DEMO_TITLE:
        raise InvalidArgumentError(
            f"{directory!r} is not empty and holds no earlier demo: the demo replaces its directory's "
            "contents, so give it a new or empty directory"
        )


def _demo(directory: str | None, size: int) -> int:
    if not 1 <= size <= _DEMO_MAX_SIZE:  # (size x size x 16 uint16, held twice in memory)
        raise InvalidArgumentError(f"--size must be between 1 and {_DEMO_MAX_SIZE}, got {size}")
    root = (
        _demo_directory(directory) if directory is not None else tempfile.mkdtemp(prefix="zarrs-cffi-demo-")
    )
    shape = (size, size, 16)
    print(f"zarrs-cffi demo in {root}")
    create_group(root, attributes={"title": _DEMO_TITLE}, overwrite=True)
    arr = create_array(
        root, "/temperature", shape=shape, dtype="uint16", chunks=(128, 128, 4), compressors="zstd"
    )
    rng = np.random.default_rng(0)
    data = (rng.normal(2000, 300, size=shape)).clip(0, 65535).astype("uint16")
    t0 = time.perf_counter()
    arr[...] = data
    t_write = time.perf_counter() - t0
    stored = Store(root).stored_bytes("/temperature")
    print(
        f"wrote {shape} uint16 ({arr.nbytes / 2**20:.1f} MiB) with zstd in {t_write * 1e3:.1f} ms "
        f"-> {stored / 2**20:.1f} MiB on disk"
    )

    out = np.empty((size, size), dtype="uint16")
    timings = []
    for _ in range(5):
        t0 = time.perf_counter()
        read_into(out, f"{root}/temperature", (slice(0, size), slice(0, size), 7))
        timings.append(time.perf_counter() - t0)
    assert np.array_equal(out, data[:, :, 7]), "read_into returned different data"
    best = min(timings)
    print(
        f"read_into(out, '{root}/temperature', (slice(0, {size}), slice(0, {size}), 7)): "
        f"{best * 1e3:.2f} ms best of 5, matches what was written"
    )

    full = np.empty(shape, dtype="uint16")
    t0 = time.perf_counter()
    arr.read_into(full)
    t_full = time.perf_counter() - t0
    assert np.array_equal(full, data)
    print(
        f"whole array read_into a preallocated buffer: {t_full * 1e3:.1f} ms "
        f"({arr.nbytes / t_full / 2**30:.2f} GiB/s), matches"
    )
    arr.close()
    print("done")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line (``info`` or ``demo``); returns the process exit status."""
    parser = argparse.ArgumentParser(prog="python -m zarrs_cffi", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="print an array's shape, dtype, chunks, codecs and size")
    info.add_argument("path", help="store root (or the array directory itself)")
    info.add_argument("node", nargs="?", default="/", help="array node inside the store (default /)")
    demo = sub.add_parser("demo", help="write a small generated dataset and read it back with read_into")
    demo.add_argument(
        "directory",
        nargs="?",
        help="where to write: new, empty or an earlier demo (default: a new temporary directory)",
    )
    demo.add_argument("--size", type=int, default=512, help="edge length of the demo array (default 512)")
    args = parser.parse_args(argv)
    try:
        if args.command == "info":
            return _info(args.path, args.node)
        return _demo(args.directory, args.size)
    except ZarrsError as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
