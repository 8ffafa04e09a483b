"""Run the local-directory test batteries against S3 (moto on loopback) unchanged.

Those batteries name locations as ``tmp_path / "a.zarr"`` and pass them, or ``str()`` of them, to
zarrs_cffi and to zarr-python, and look at the stored files. :class:`S3Path` is such a location in
a bucket: a ``str`` holding the ``s3://`` URL (so zarrs_cffi opens it as a URL), joined with ``/``
and inspected (``exists``, ``iterdir``, ``read_text``, ...) like a ``pathlib.Path``.
:func:`s3_environment` points the ``AWS_*`` environment variables at the moto server, so a bare
URL reaches it from zarrs_cffi and from obstore alike; :func:`zarr_store_at` gives zarr-python a
store for either kind of location.

Only the standard library is imported here at import time: zarr_oracle.py and crud_helpers.py
import this module, and the legacy interpreters (no zarr-python, no obstore) import those.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
from collections.abc import Iterator
from typing import Any

S3_PREFIX = "s3://"


class S3Path(str):
    """An ``s3://bucket/key`` location that joins and inspects like a ``pathlib.Path``.

    Objects are files; a "directory" exists when some object lies below it (object stores have no
    empty directories, so ``mkdir`` does nothing).
    """

    def __truediv__(self, other: Any) -> S3Path:
        return S3Path(f"{self.rstrip('/')}/{os.fspath(other).strip('/')}")

    @property
    def bucket(self) -> str:
        return self[len(S3_PREFIX) :].partition("/")[0]

    @property
    def key(self) -> str:
        return self[len(S3_PREFIX) :].partition("/")[2].strip("/")

    @property
    def name(self) -> str:
        return self.key.rpartition("/")[2]

    @property
    def parent(self) -> S3Path:
        return S3Path(f"{S3_PREFIX}{self.bucket}/{self.key.rpartition('/')[0]}".rstrip("/"))

    def _client(self) -> Any:
        from obstore.store import S3Store

        return S3Store(self.bucket)

    def _keys_below(self) -> list[str]:
        """The keys of the objects below, relative to this location."""
        import obstore

        prefix = f"{self.key}/" if self.key else ""
        listing = obstore.list(self._client(), prefix or None)
        return [str(meta["path"])[len(prefix) :] for batch in listing for meta in batch]

    def is_file(self) -> bool:
        import obstore

        try:
            obstore.head(self._client(), self.key)
        except FileNotFoundError:
            return False
        return True

    def is_dir(self) -> bool:
        return bool(self._keys_below())

    def exists(self) -> bool:
        return self.is_file() or self.is_dir()

    def iterdir(self) -> Iterator[S3Path]:
        """The objects and "directories" directly below, each once, sorted."""
        names = {key.partition("/")[0] for key in self._keys_below()}
        return iter(self / name for name in sorted(names))

    def rglob(self, pattern: str) -> Iterator[S3Path]:
        """Every object below (the batteries only ask for ``"*"``)."""
        assert pattern == "*", pattern
        return iter(self / key for key in self._keys_below())

    def relative_to(self, other: str) -> pathlib.PurePosixPath:
        return pathlib.PurePosixPath(self[len(other) :].lstrip("/"))

    def read_bytes(self) -> bytes:
        import obstore

        return bytes(obstore.get(self._client(), self.key).bytes())

    def read_text(self) -> str:
        return self.read_bytes().decode()

    def write_bytes(self, data: bytes) -> int:
        import obstore

        obstore.put(self._client(), self.key, data)
        return len(data)

    def write_text(self, text: str) -> int:
        return self.write_bytes(text.encode())

    def unlink(self) -> None:
        import obstore

        obstore.delete(self._client(), self.key)

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        """Nothing to make: object stores have no directories."""


def as_location(location: Any) -> pathlib.Path | S3Path:
    """``location`` (a path, a path string or an ``s3://`` URL) as a ``Path`` or an ``S3Path``."""
    if isinstance(location, S3Path):
        return location
    text = os.fspath(location)
    return S3Path(text) if text.startswith(S3_PREFIX) else pathlib.Path(text)


def zarr_store_at(location: Any) -> Any:
    """What zarr-python's ``store=`` takes for ``location``: the path itself, or an ``ObjectStore``
    over the bucket (obstore reads the endpoint and keys from the ``AWS_*`` environment)."""
    where = as_location(location)
    if not isinstance(where, S3Path):
        return str(where)
    from obstore.store import S3Store
    from zarr.storage import ObjectStore

    return ObjectStore(S3Store(where.bucket, prefix=where.key or None))


@contextlib.contextmanager
def s3_environment(endpoint: str, access_key_id: str, secret_access_key: str) -> Iterator[None]:
    """``AWS_*`` variables that send zarrs_cffi's and obstore's S3 requests to ``endpoint``."""
    import pytest

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ENDPOINT", endpoint)
        patch.setenv("AWS_ALLOW_HTTP", "true")
        patch.setenv("AWS_REGION", "us-east-1")
        patch.setenv("AWS_ACCESS_KEY_ID", access_key_id)
        patch.setenv("AWS_SECRET_ACCESS_KEY", secret_access_key)
        patch.delenv("AWS_SESSION_TOKEN", raising=False)
        patch.delenv("AWS_VIRTUAL_HOSTED_STYLE_REQUEST", raising=False)
        yield
