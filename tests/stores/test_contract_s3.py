"""The functional CRUD contract battery, every test of tests/crud/test_contract.py, with the store in
a bucket on moto's S3 server: both engines get zarr-python's ``ObjectStore`` over it (zarrs_cffi
maps it to its native S3 store), zarr-python (through obstore) is the oracle, and the tests inspect
the stored objects through :class:`s3_paths.S3Path`."""

import pathlib
import sys

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "crud"))
pytest.importorskip("moto")
pytest.importorskip("obstore")
from crud_fixtures import arange_doc, engine  # noqa: F401  (fixtures)
from crud_helpers import ARANGE, open_zarr
from s3_batteries import s3_env  # noqa: F401  (fixture)
from s3_paths import S3Path, zarr_store_at
from store_fixtures import new_bucket
from test_contract import *  # noqa: F403  (the battery, collected again here)
from test_contract import _all_calls

import zarrs_cffi
import zarrs_cffi.crud as crud
from zarrs_cffi.errors import ReadOnlyError

# About a local directory only (LocalStore objects, paths relative to the working directory): their
# S3 counterparts follow.
del test_store_forms, test_relative_store_path, test_read_only_local_store_rejects_writes  # noqa: F821


@pytest.fixture
def root(moto_endpoint: str) -> S3Path:
    """The store's root in a fresh bucket (nothing is written there yet)."""
    return S3Path(f"s3://{new_bucket(moto_endpoint)}/store.zarr")


@pytest.fixture
def store(root: S3Path) -> object:
    """zarr-python's ObjectStore over ``root``, as the tests hand it to both engines and zarr-python."""
    return zarr_store_at(root)


def test_store_forms_on_s3(engine: str, root: S3Path, arange_doc: dict) -> None:  # noqa: F811 (fixtures)
    """The forms an S3 store takes: its URL, a zarrs_cffi.Store, zarr-python's ObjectStore."""
    forms = [str(root), zarrs_cffi.Store(root), zarr_store_at(root)]
    for form in forms:
        np.testing.assert_array_equal(
            crud.read_region(arange_doc, form, "a", np.s_[...], engine=engine), ARANGE
        )
        assert crud.read_metadata(form, "a", engine=engine) == arange_doc


def test_read_only_object_store_rejects_writes(engine: str, root: S3Path, arange_doc: dict) -> None:  # noqa: F811 (fixtures)
    """A read-only ObjectStore refuses every write (ReadOnlyError) and changes nothing."""
    from zarr.storage import ObjectStore

    read_only = ObjectStore(zarr_store_at(root).store, read_only=True)
    calls = _all_calls(arange_doc, read_only, engine)
    writes = ["create_new_group", "create_overwrite_group", "create_new_array", "create_overwrite_array"]
    for name in [*writes, "delete_node", "write_chunk", "delete_chunk", "write_region"]:
        with pytest.raises(ReadOnlyError):
            calls[name]()
    np.testing.assert_array_equal(open_zarr(root, "a")[...], ARANGE)
    assert not (root / "g").exists()
    assert not (root / "x").exists()
    np.testing.assert_array_equal(
        crud.read_region(arange_doc, read_only, "a", np.s_[...], engine=engine), ARANGE
    )
