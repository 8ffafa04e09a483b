"""Helpers for the CRUD contract tests: build arrays with zarr-python and read its files directly."""

from __future__ import annotations

import functools
import importlib
import json
import pathlib
from typing import Any

import numpy as np
from s3_paths import S3Path, as_location, zarr_store_at


def stored_doc(root: pathlib.Path | str, path: str) -> dict[str, Any]:
    """A node's metadata document read straight from the files (v2: ``.zattrs`` under "attributes")."""
    node = as_location(root) / path
    if (node / "zarr.json").is_file():
        doc: dict[str, Any] = json.loads((node / "zarr.json").read_text())
        return doc
    for name in (".zarray", ".zgroup"):
        if (node / name).is_file():
            doc = json.loads((node / name).read_text())
            if (node / ".zattrs").is_file():
                doc["attributes"] = json.loads((node / ".zattrs").read_text())
            return doc
    raise FileNotFoundError(f"no node at {path!r}")


def chunk_file(
    root: pathlib.Path | str, path: str, doc: dict[str, Any], coords: tuple[int, ...]
) -> pathlib.Path | S3Path:
    """The file holding a chunk (default / v2 chunk key encodings)."""
    if doc["zarr_format"] == 2:
        sep = doc.get("dimension_separator") or "."
        key = sep.join(map(str, coords)) or "0"
    else:
        enc = doc["chunk_key_encoding"]
        sep = enc.get("configuration", {}).get("separator", "/" if enc["name"] == "default" else ".")
        if enc["name"] == "default":
            key = sep.join(["c", *map(str, coords)])
        else:
            key = sep.join(map(str, coords)) or "0"
    return as_location(root) / path / key


def make_array(
    root: pathlib.Path | str,
    path: str,
    data: np.ndarray[Any, Any] | None,
    *,
    chunks: tuple[int, ...] = (4, 4),
    shape: tuple[int, ...] | None = None,
    dtype: Any = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Create an array with zarr-python, write ``data`` with zarr-python, return its stored document."""
    import zarr

    if shape is None:
        assert data is not None
        shape = data.shape
    if dtype is None:
        assert data is not None
        dtype = data.dtype
    arr = zarr.create_array(
        store=zarr_store_at(root), name=path, shape=shape, chunks=chunks, dtype=dtype, **kwargs
    )
    if data is not None:
        arr[...] = data
    return stored_doc(root, path)


def open_zarr(root: pathlib.Path | str, path: str) -> Any:
    """Open an array with zarr-python (the oracle)."""
    import zarr

    return zarr.open_array(store=zarr_store_at(root), path=path, mode="r+")


ARANGE = np.arange(64, dtype="uint16").reshape(8, 8)
"""The PR's fixture: 8x8 uint16, chunks 4x4, ``arange(64)``."""


@functools.lru_cache(maxsize=None)  # not functools.cache: the suite also runs on Python 3.8
def engine_unavailable(name: str) -> str | None:
    """Why ``name``'s engine cannot be used here (None if it can)."""
    module = {"zarr": "zarrs_cffi.engines.zarr_engine", "cffi": "zarrs_cffi.engines.cffi_engine"}[name]
    try:
        importlib.import_module(module)
    except Exception as err:  # not written yet, native library not built, ...
        return f"{module} cannot be imported yet ({type(err).__name__}: {err})"
    return None


# The PR #4064 differential suite's region list, on its 8x8 fixture (np.s_ spells selections).
PR_REGIONS = [
    np.s_[:, :],
    np.s_[2:7, 1:5],
    np.s_[:, 3],
    np.s_[5, :],
    np.s_[3, 4],
    np.s_[1:8:2, :],
    np.s_[:, 6:1:-2],
    np.s_[-3:, :-1],
    np.s_[...],
    np.s_[..., 2:4],
    np.s_[0:0, :],
    np.s_[2:6],
]
