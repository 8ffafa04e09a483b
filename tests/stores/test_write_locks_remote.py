"""Partial writes to one chunk from threads are safe however the store's URL is spelled: the write
lock goes by the store's canonical name (s3a:// is s3://, the key prefix decoded), not the text.
Spelled two ways, the handles took two locks and lost 6 updates in 6 trials."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from store_fixtures import new_bucket, s3_options
from test_concurrent_writes import THREADS, race

import zarrs_cffi

TRIALS = 6


def check_no_lost_update(arrays: list[Any]) -> None:
    for trial in range(1, TRIALS + 1):
        arrays[0][...] = 0

        def writer(i: int, value: int) -> Any:
            return lambda: arrays[i % len(arrays)].__setitem__(i, value)

        race([writer(i, trial * 10 + i) for i in range(THREADS)])
        want = np.arange(THREADS, dtype="int32") + trial * 10
        np.testing.assert_array_equal(arrays[0][...], want, err_msg=f"trial {trial}")


def test_s3_spellings_share_one_lock(moto_endpoint: str) -> None:
    bucket = new_bucket(moto_endpoint)
    options = s3_options(moto_endpoint)
    spellings = [f"s3://{bucket}/dätä.zarr", f"s3a://{bucket}/d%C3%A4t%C3%A4.zarr"]
    zarrs_cffi.create_array(
        spellings[0], shape=(THREADS,), chunks=(THREADS,), dtype="int32", storage_options=options
    ).close()
    arrays = [zarrs_cffi.open_array(url, storage_options=options) for url in spellings]
    try:
        check_no_lost_update(arrays)
    finally:
        for arr in arrays:
            arr.close()


@pytest.mark.parametrize(
    "other", ["memory://locks-test/d%C3%A4t%C3%A4.zarr", "MEMORY://locks-test/dätä.zarr/"]
)
def test_memory_spellings_share_one_lock(other: str) -> None:
    url = "memory://locks-test/dätä.zarr"
    try:
        zarrs_cffi.create_array(url, shape=(THREADS,), chunks=(THREADS,), dtype="int32").close()
        arrays = [zarrs_cffi.open_array(url), zarrs_cffi.open_array(other)]
        check_no_lost_update(arrays)
        for arr in arrays:
            arr.close()
    finally:
        zarrs_cffi.forget_memory_store(url)
