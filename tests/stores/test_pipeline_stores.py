"""zarr-python with the zarrs_cffi codec pipeline on an ObjectStore over S3 (moto) or GCS (the
loopback GCS server) and on a read-only ZipStore: the pipeline opens them natively (counted), and the data is zarr's own
pipeline's."""

from __future__ import annotations

import pathlib
from typing import Any

import numpy as np
import pytest
from store_fixtures import Place

zarr = pytest.importorskip("zarr")

PIPELINE = {"codec_pipeline.path": "zarrs_cffi.ZarrsCffiCodecPipeline", "codec_pipeline.strict": True}
DATA = np.arange(40 * 30, dtype="float32").reshape(40, 30)


@pytest.mark.parametrize("layout", [{"chunks": (8, 8)}, {"chunks": (4, 4), "shards": (8, 8)}])
def test_pipeline_on_object_stores(remote: Place, layout: dict[str, Any], native_opens: list[Any]) -> None:
    zstore = remote.zarr_store()
    if zstore is None:
        pytest.skip("zarr-python cannot reach zarrs_cffi's memory:// stores")
    with zarr.config.set(PIPELINE):
        arr = zarr.create_array(zstore, name="a", shape=DATA.shape, dtype=DATA.dtype, **layout)
        arr[...] = DATA
        arr[3:7, 2:9] = -1
        expected = DATA.copy()
        expected[3:7, 2:9] = -1
        np.testing.assert_array_equal(arr[...], expected)
        np.testing.assert_array_equal(arr[5:33:4, ::3], expected[5:33:4, ::3])
    scheme = remote.url.split("://")[0]
    assert any(str(root).startswith(f"StoreLocation('{scheme}://") for root in native_opens), native_opens
    # zarr's own pipeline agrees.
    np.testing.assert_array_equal(zarr.open_array(zstore, path="a", mode="r")[...], expected)


def test_pipeline_on_a_read_only_zip_store(tmp_path: pathlib.Path, native_opens: list[Any]) -> None:
    path = tmp_path / "d.zip"
    writer = zarr.storage.ZipStore(path, mode="w")
    zarr.create_array(writer, name="a", shape=DATA.shape, dtype=DATA.dtype, chunks=(8, 8))[...] = DATA
    writer.close()
    with zarr.config.set(PIPELINE):
        reader = zarr.storage.ZipStore(path, mode="r", read_only=True)
        np.testing.assert_array_equal(zarr.open_array(reader, path="a", mode="r")[...], DATA)
    assert any(str(root).startswith("StoreLocation('zip://") for root in native_opens), native_opens
