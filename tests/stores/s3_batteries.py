"""Fixtures that move a local-directory test battery onto S3 (moto on loopback).

A module that imports these and then the battery's tests (``from test_x import *``) runs every one
of them again with ``tmp_path`` / ``tmp_path_factory`` handing out fresh buckets as
:class:`s3_paths.S3Path` locations, and the ``AWS_*`` environment pointing at moto, so the bare
``s3://`` URLs the tests build reach it from zarrs_cffi and from zarr-python (obstore) alike.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from s3_paths import S3Path, s3_environment
from store_fixtures import CREDENTIALS, new_bucket


@pytest.fixture(scope="module", autouse=True)
def s3_env(moto_endpoint: str) -> Iterator[None]:
    """The ``AWS_*`` environment of the moto server, for the importing module's tests."""
    with s3_environment(moto_endpoint, **CREDENTIALS):
        yield


@pytest.fixture
def tmp_path(moto_endpoint: str) -> S3Path:
    """A fresh, empty bucket (in place of a fresh temporary directory)."""
    return S3Path(f"s3://{new_bucket(moto_endpoint)}")


class Buckets:
    """``tmp_path_factory`` in buckets: each ``mktemp`` is a fresh one."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def mktemp(self, basename: str) -> S3Path:
        return S3Path(f"s3://{new_bucket(self.endpoint)}/{basename}")


@pytest.fixture(scope="module")
def tmp_path_factory(moto_endpoint: str) -> Buckets:
    """Fresh buckets for module-scoped fixtures (in place of temporary directories)."""
    return Buckets(moto_endpoint)
