"""zarr-python's FsspecStore over S3 through s3fs itself (what ``zarr.open_array("s3://...",
storage_options=...)`` builds), against moto: zarrs_cffi rebuilds it as its native S3 store, in every
API and in the codec pipeline, and reads and writes the same objects s3fs does."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from store_fixtures import CREDENTIALS

import zarrs_cffi
import zarrs_cffi.crud as crud
from zarrs_cffi.store_location import locate

zarr = pytest.importorskip("zarr")
pytest.importorskip("s3fs")
pytest.importorskip("moto")

DATA = np.arange(60, dtype="int16").reshape(10, 6)


def s3fs_options(endpoint: str) -> dict[str, Any]:
    """s3fs' own option names for the moto server."""
    return {
        "key": CREDENTIALS["access_key_id"],
        "secret": CREDENTIALS["secret_access_key"],
        "endpoint_url": endpoint,
        "client_kwargs": {"region_name": "us-east-1"},
    }


def fsspec_store(url: str, options: dict[str, Any], read_only: bool = False) -> Any:
    from zarr.storage import FsspecStore

    return FsspecStore.from_url(url, storage_options=options, read_only=read_only)


@pytest.fixture
def written(s3: tuple[str, dict[str, Any]], moto_endpoint: str) -> str:
    """An S3 URL where zarr-python wrote array "a" (DATA, chunks 4 x 4) through s3fs."""
    url = s3[0]
    z = zarr.create_array(
        url,
        name="a",
        shape=DATA.shape,
        dtype=DATA.dtype,
        chunks=(4, 4),
        storage_options=s3fs_options(moto_endpoint),
    )
    z[...] = DATA
    return url


def test_an_s3fs_store_is_rebuilt_with_its_endpoint_and_keys(written: str, moto_endpoint: str) -> None:
    store = fsspec_store(written, s3fs_options(moto_endpoint))
    location = locate(store)
    options = dict(location.options)
    assert location.url == written
    assert options["endpoint"] == moto_endpoint
    assert options["region"] == "us-east-1"
    assert options["access_key_id"] == CREDENTIALS["access_key_id"]
    assert options["allow_http"] in (True, "true")
    assert CREDENTIALS["secret_access_key"] not in repr(location)


def test_what_zarr_wrote_through_s3fs_reads_natively(written: str, moto_endpoint: str) -> None:
    store = fsspec_store(written, s3fs_options(moto_endpoint), read_only=True)
    with zarrs_cffi.open_array(store, "a") as arr:
        np.testing.assert_array_equal(arr[...], DATA)
        np.testing.assert_array_equal(arr[2:9:3, ::-2], DATA[2:9:3, ::-2])
    out = np.empty((3, 6), "int16")
    assert (
        zarrs_cffi.read_into(out, fsspec_store(f"{written}/a", s3fs_options(moto_endpoint)), np.s_[7:]) is out
    )
    np.testing.assert_array_equal(out, DATA[7:])
    with pytest.raises(zarrs_cffi.ReadOnlyError):
        zarrs_cffi.open_array(store, "a").write((0, 0), 1)


@pytest.mark.parametrize("engine", ["cffi", "zarr"])
def test_crud_takes_an_s3fs_store(written: str, moto_endpoint: str, engine: str) -> None:
    store = fsspec_store(written, s3fs_options(moto_endpoint))
    doc = crud.read_metadata(store, "a", engine=engine)
    assert doc["shape"] == [10, 6]
    crud.write_region(doc, store, "a", np.s_[0, :], np.full(6, -1, "int16"), engine=engine)
    expected = DATA.copy()
    expected[0] = -1
    np.testing.assert_array_equal(crud.read_region(doc, store, "a", np.s_[...], engine=engine), expected)
    assert [name for name, _ in crud.list_children(store, "", engine=engine)] == ["a"]


def test_zarr_reads_through_s3fs_what_we_wrote_through_its_store(
    s3: tuple[str, dict[str, Any]], moto_endpoint: str
) -> None:
    url = s3[0]
    store = fsspec_store(url, s3fs_options(moto_endpoint))
    with zarrs_cffi.create_array(store, "b", shape=(5, 4), chunks=(2, 2), dtype="float32") as arr:
        arr[...] = np.arange(20, dtype="float32").reshape(5, 4) / 4
    z = zarr.open_array(url, path="b", mode="r", storage_options=s3fs_options(moto_endpoint))
    np.testing.assert_array_equal(z[...], np.arange(20, dtype="float32").reshape(5, 4) / 4)


def test_the_pipeline_reads_and_writes_an_s3fs_store_natively(
    written: str, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, native_opens: list[str]
) -> None:
    """zarr.open_array("s3://...", storage_options=...) with the pipeline in strict mode: chunks are
    read and written by the native library at the store's URL; s3fs sees only metadata keys."""
    from zarr.storage import FsspecStore

    seen: list[str] = []
    for name in ("get", "set"):
        real = getattr(FsspecStore, name)

        async def spy(self: Any, key: str, *args: Any, _real: Any = real, **kwargs: Any) -> Any:
            seen.append(key)
            return await _real(self, key, *args, **kwargs)

        monkeypatch.setattr(FsspecStore, name, spy)
    pipeline = {"codec_pipeline.path": "zarrs_cffi.ZarrsCffiCodecPipeline", "codec_pipeline.strict": True}
    with zarr.config.set(pipeline):
        z = zarr.open_array(written, path="a", mode="r+", storage_options=s3fs_options(moto_endpoint))
        np.testing.assert_array_equal(z[...], DATA)
        z[4:6, 1:5] = 99
    assert any(f"StoreLocation('{written}" in root for root in native_opens), native_opens
    assert [key for key in seen if "/c/" in key] == []
    expected = DATA.copy()
    expected[4:6, 1:5] = 99
    z = zarr.open_array(written, path="a", mode="r", storage_options=s3fs_options(moto_endpoint))
    np.testing.assert_array_equal(z[...], expected)  # zarr's own pipeline, through s3fs


def test_an_s3fs_store_with_credentials_from_the_environment(
    written: str, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """s3fs given only the endpoint finds the keys in AWS_*; so does the native store rebuilt from it."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", CREDENTIALS["access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CREDENTIALS["secret_access_key"])
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    store = fsspec_store(written, {"endpoint_url": moto_endpoint}, read_only=True)
    assert "access_key_id" not in dict(locate(store).options)
    with zarrs_cffi.open_array(store, "a") as arr:
        np.testing.assert_array_equal(arr[...], DATA)
