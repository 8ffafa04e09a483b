"""Where data lives: turning the ``path_or_url`` the xarray and dask entry points accept into a
store root this package can open.

Only local directories are supported so far (a path, an ``os.PathLike`` or a ``file://`` URL).
Remote URLs and ``storage_options`` raise :class:`UnsupportedStoreError` here, in one place, so
remote stores can be added behind this function without touching its callers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import unquote, urlparse

from .errors import UnsupportedStoreError
from .store import root_path


def local_root(path_or_url: object, storage_options: Mapping[str, object] | None = None) -> str:
    """The absolute local directory for ``path_or_url``, or a typed error saying why not.

    >>> local_root("data.zarr") == os.path.abspath("data.zarr")
    True
    """
    if isinstance(path_or_url, str) and "://" in path_or_url:
        parsed = urlparse(path_or_url)
        if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
            raise UnsupportedStoreError(
                f"cannot open {path_or_url!r}: zarrs_cffi opens local directories only so far "
                f"({parsed.scheme}:// stores are not supported yet)"
            )
        path_or_url = unquote(parsed.path)
    elif not isinstance(path_or_url, (str, os.PathLike)):
        raise UnsupportedStoreError(
            f"cannot open a {type(path_or_url).__name__}: pass the path of a local Zarr directory "
            "(store objects are not supported yet)"
        )
    if storage_options:
        # fsspec-style options only mean something to remote stores; ignoring them silently would
        # hide a typo or a URL that lost its scheme.
        raise UnsupportedStoreError(
            f"storage_options {sorted(storage_options)} apply to remote stores, which zarrs_cffi does "
            f"not open yet; {path_or_url!r} is a local path"
        )
    return root_path(path_or_url)
