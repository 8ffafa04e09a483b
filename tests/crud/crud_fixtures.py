"""Fixtures for the CRUD contract tests: every test runs once per engine, zarr-python is the oracle.

conftest.py hands them to tests/crud; tests/stores/test_contract_s3.py takes ``engine`` and
``arange_doc`` for the same tests on S3, with its own ``root`` and ``store``.
"""

from __future__ import annotations

import pathlib
from typing import Any

import pytest
from crud_helpers import ARANGE, engine_unavailable, make_array

ENGINES = ["zarr", "cffi"]


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """The engine name under test; ``cffi`` is skipped until its module imports."""
    reason = engine_unavailable(request.param)
    if reason is not None:
        pytest.skip(reason)
    return str(request.param)


@pytest.fixture
def root(tmp_path: pathlib.Path) -> pathlib.Path:
    """A store root directory (not created: engines and zarr-python create it on first write)."""
    return tmp_path / "store.zarr"


@pytest.fixture
def store(root: pathlib.Path) -> str:
    """The store as the plain path string most tests pass."""
    return str(root)


@pytest.fixture
def arange_doc(root: pathlib.Path) -> dict[str, Any]:
    """The PR's fixture array at path "a" (fill value 7, uncompressed), written by zarr-python."""
    return make_array(root, "a", ARANGE, fill_value=7, compressors=None)
