"""The stale-shard battery, every test of tests/test_stale_shards.py (a cached handle after another
handle rewrote a shard, a reader racing a shard rewriter), with its arrays in buckets on moto's S3
server, where a kept shard index is checked by ETag (fixtures in s3_batteries.py)."""

import pytest

pytest.importorskip("moto")
pytest.importorskip("obstore")
import numpy as np
from s3_batteries import s3_env, tmp_path, tmp_path_factory  # noqa: F401  (fixtures)
from s3_paths import S3Path
from test_stale_shards import *  # noqa: F403  (the battery, collected again here)
from test_stale_shards import race_a_shard_rewriter

import zarrs_cffi

# About a local directory only: an uncached read takes a shard's index and inner chunks from one
# open file, and uncompressed chunk files are never cached. Their S3 counterparts follow.
del test_reader_racing_a_shard_rewriter  # noqa: F821
del test_cached_handle_sees_uncompressed_chunks_written_after_their_absence  # noqa: F821


@pytest.mark.parametrize("compressors", [None, "zstd"])
@pytest.mark.parametrize("cache", [0, 1 << 20], ids=["uncached", "cached"])
def test_reader_racing_a_shard_rewriter_on_s3(tmp_path: S3Path, compressors: str | None, cache: int) -> None:  # noqa: F811 (fixture)
    """Every inner chunk a read returns comes from one write; the inner chunks of one read may
    come from different writes (each is fetched by range, tied to the shard's ETag)."""
    race_a_shard_rewriter(str(tmp_path / "a.zarr"), compressors, cache, one_write_per_read=False)


def test_an_absent_chunk_read_through_the_cache_stays_its_fill_value_until_cleared(tmp_path: S3Path) -> None:  # noqa: F811 (fixture)
    """On an object store an absent uncompressed chunk is cached as its fill value, and goes stale
    like any cached chunk: another handle's write is seen after clear_chunk_cache()."""
    path = str(tmp_path / "a.zarr")
    zarrs_cffi.create_array(path, shape=(8, 8), dtype="uint8", chunks=(4, 4), compressors=None, fill_value=7)
    data = np.arange(64, dtype="uint8").reshape(8, 8)
    with zarrs_cffi.open_array(path, chunk_cache_bytes=1 << 20) as cached:
        np.testing.assert_array_equal(cached[0:2, 0:2], np.full((2, 2), 7))
        with zarrs_cffi.open_array(path) as writer:
            writer[...] = data
        np.testing.assert_array_equal(cached[0:2, 0:2], np.full((2, 2), 7))  # cached, stale
        np.testing.assert_array_equal(cached[4:6, 4:6], data[4:6, 4:6])  # never read before
        cached.clear_chunk_cache()
        np.testing.assert_array_equal(cached[0:2, 0:2], data[0:2, 0:2])
