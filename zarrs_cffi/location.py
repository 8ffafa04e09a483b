"""Where data lives, for the xarray and dask entry points: turning the ``path_or_url`` (and
``storage_options``) they accept into a :class:`~zarrs_cffi.store_location.StoreLocation`.

Paths, store URLs (``s3://``, ``gs://``, ``az://``, ``http(s)://``, ``zip://``, ``memory://``) and
the store objects :class:`~zarrs_cffi.Store` accepts all work; anything else raises
:class:`UnsupportedStoreError` naming its type, in one place.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .errors import InvalidArgumentError, InvalidStoreError, UnsupportedStoreError
from .store_location import StoreLocation, locate


def store_location(path_or_url: object, storage_options: Mapping[str, object] | None = None) -> StoreLocation:
    """The location of ``path_or_url``, or a typed error saying why it has none.

    >>> store_location("data.zarr").url == os.path.abspath("data.zarr")
    True
    >>> store_location("s3://bucket/data.zarr", {"region": "eu-west-1"}).url
    's3://bucket/data.zarr'
    """
    if not isinstance(path_or_url, (str, os.PathLike, StoreLocation)) and not type(
        path_or_url
    ).__name__.endswith("Store"):
        raise UnsupportedStoreError(
            f"cannot open a {type(path_or_url).__name__}: pass a path, a store URL (s3://, gs://, az://, "
            "http(s)://, zip://, memory://) or a store object"
        )
    try:
        return locate(path_or_url, storage_options or None)
    except InvalidArgumentError as exc:
        # Both: the UnsupportedStoreError callers here have always raised, and the
        # InvalidArgumentError a malformed URL or option is everywhere else.
        raise InvalidStoreError(f"cannot open {path_or_url!r}: {exc}") from None
