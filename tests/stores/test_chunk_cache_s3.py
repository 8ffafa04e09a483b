"""The chunk cache battery, every test of tests/test_chunk_cache.py (read-ahead, bounds, other
writers, threads, fork, damaged units), with its arrays in buckets on moto's S3 server
(fixtures in s3_batteries.py)."""

import pytest

pytest.importorskip("moto")
pytest.importorskip("obstore")
import time

import numpy as np
from s3_batteries import s3_env, tmp_path, tmp_path_factory  # noqa: F401  (fixtures)
from s3_paths import S3Path
from test_chunk_cache import *  # noqa: F403  (the battery, collected again here)
from test_chunk_cache import CHUNKS, chunk_regions, read_large_units

import zarrs_cffi

# About a local directory only: reads ahead by the decode thread count (one thread, none), and
# uncompressed chunk files read from the files, never cached. Their S3 counterparts follow.
del test_one_thread_per_call_means_no_read_ahead, test_large_units_in_page_aligned_buffers  # noqa: F821
del test_uncompressed_chunks_skip_the_cache_only_unsharded  # noqa: F821  (remote chunks are cached)


def test_remote_read_ahead_follows_the_io_concurrency(multichunk_path: tuple[str, np.ndarray]) -> None:
    """On a remote store a call may use get_io_concurrency() threads (they mostly wait): one decode
    thread still reads ahead; with one request in flight too, nothing is read ahead."""
    path, data = multichunk_path
    regions = chunk_regions(data.shape, CHUNKS)
    previous = zarrs_cffi.get_io_concurrency()
    zarrs_cffi.set_num_threads(1)
    try:
        for requests, ahead in ((1, False), (4, True)):
            zarrs_cffi.set_io_concurrency(requests)
            with zarrs_cffi.open_array(path, chunk_cache_bytes=2**20) as arr:
                for region in regions[:6]:
                    np.testing.assert_array_equal(arr[region], data[region])
                time.sleep(0.3)
                assert (arr.chunk_cache_usage()[0] > 6) == ahead, (requests, arr.chunk_cache_usage())
    finally:
        zarrs_cffi.set_num_threads(0)
        zarrs_cffi.set_io_concurrency(previous)


@pytest.mark.parametrize("compressors", [None, "auto"], ids=["raw", "zstd"])
def test_large_units_in_page_aligned_buffers_on_s3(tmp_path: S3Path, compressors: str | None) -> None:  # noqa: F811 (fixture)
    """The same reads; every chunk read is cached here: uncompressed ones too (there are no files
    to read them from), and the absent edge chunk as its fill value."""
    read_large_units(tmp_path / "big.zarr", compressors, cached_units=3)
