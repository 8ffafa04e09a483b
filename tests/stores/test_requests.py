"""What a read asks an object store for, counted by a proxy in front of moto: many requests in
flight for a multi-chunk read or write (bounded by the io concurrency setting), one GET per chunk (no HEAD
first), and partial shard reads that fetch the index once per shard and inner chunks by range."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
from fault_proxy import FaultProxy
from store_fixtures import new_bucket, s3_client, s3_options

import zarrs_cffi

DATA = np.arange(64 * 64, dtype="uint16").reshape(64, 64)


@pytest.fixture
def proxy(moto_endpoint: str) -> Iterator[FaultProxy]:
    proxy = FaultProxy(moto_endpoint).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def io_concurrency() -> Iterator[None]:
    yield
    zarrs_cffi.set_io_concurrency(0)


def _array(moto_endpoint: str, **layout: object) -> str:
    url = f"s3://{new_bucket(moto_endpoint)}/data.zarr"
    with zarrs_cffi.create_array(
        url, "/a", shape=DATA.shape, dtype=DATA.dtype, storage_options=s3_options(moto_endpoint), **layout
    ) as arr:
        arr[...] = DATA
    return url


def test_the_default_keeps_many_requests_in_flight(
    proxy: FaultProxy, moto_endpoint: str, io_concurrency: None
) -> None:
    zarrs_cffi.set_io_concurrency(0)  # the default (docs/guide/stores.md: 32)
    assert zarrs_cffi.get_io_concurrency() == 32
    url = _array(moto_endpoint, chunks=(8, 8))  # 64 chunks
    with zarrs_cffi.open_array(url, "/a", storage_options=s3_options(proxy.endpoint)) as arr:
        proxy.add("delay", method="GET", path_contains="/c/", times=None, hang_seconds=0.1)
        proxy.max_in_flight = 0
        np.testing.assert_array_equal(arr[...], DATA)
    assert proxy.max_in_flight >= 16


@pytest.mark.parametrize("requests", [4, 16])
def test_requests_in_flight_follow_the_setting(
    proxy: FaultProxy, moto_endpoint: str, io_concurrency: None, requests: int
) -> None:
    url = _array(moto_endpoint, chunks=(8, 8))  # 64 chunks
    zarrs_cffi.set_io_concurrency(requests)
    assert zarrs_cffi.get_io_concurrency() == requests
    with zarrs_cffi.open_array(url, "/a", storage_options=s3_options(proxy.endpoint)) as arr:
        proxy.add("delay", method="GET", path_contains="/c/", times=None, hang_seconds=0.1)
        proxy.max_in_flight = 0
        out = np.empty_like(DATA)
        arr.read_into(out)
    np.testing.assert_array_equal(out, DATA)
    threads = zarrs_cffi.get_num_threads()
    # Each request waits 0.1 s at the proxy: the read overlaps as many as it is allowed to. (+2: the
    # proxy counts a request until its handler returns, a moment after the client has the response
    # and may have sent its next one.)
    assert max(2, min(requests, threads) // 2) <= proxy.max_in_flight <= max(requests, threads) + 2
    assert proxy.max_in_flight >= requests // 2


@pytest.mark.parametrize("requests", [4, 16])
def test_writes_keep_requests_in_flight(
    proxy: FaultProxy, moto_endpoint: str, io_concurrency: None, requests: int
) -> None:
    url = _array(moto_endpoint, chunks=(8, 8))  # 64 chunks
    zarrs_cffi.set_io_concurrency(requests)
    written = DATA[::-1].copy()
    with zarrs_cffi.open_array(url, "/a", storage_options=s3_options(proxy.endpoint)) as arr:
        proxy.add("delay", method="PUT", path_contains="/c/", times=None, hang_seconds=0.1)
        proxy.max_in_flight = 0
        arr[...] = written  # whole chunks: one PUT each, no read first
        in_flight = proxy.max_in_flight  # before the read below, which has its own requests
        proxy.clear()
        np.testing.assert_array_equal(arr[...], written)
    # Writes once ran on the default thread count (2 requests in flight) whatever the setting.
    assert in_flight >= requests // 2


@pytest.mark.parametrize("requests", [4, 16])
def test_partial_chunk_writes_keep_requests_in_flight(
    proxy: FaultProxy, moto_endpoint: str, io_concurrency: None, requests: int
) -> None:
    """Chunks a write covers only in part are read, merged and written back: those reads stay in
    flight side by side too (they once ran on the two encoding threads of the whole chunks)."""
    url = _array(moto_endpoint, chunks=(4, 8))  # 128 chunks; [1:63, 1:7] covers 16 in part
    zarrs_cffi.set_io_concurrency(requests)
    written = DATA.copy()
    written[1:63, 1:7] = DATA[1:63, 1:7][::-1]
    with zarrs_cffi.open_array(url, "/a", storage_options=s3_options(proxy.endpoint)) as arr:
        proxy.add("delay", method="GET", path_contains="/c/", times=None, hang_seconds=0.1)
        proxy.max_in_flight = 0
        arr[1:63, 1:7] = written[1:63, 1:7]
        in_flight = proxy.max_in_flight  # before the read below, which has its own requests
        assert proxy.count("GET", "/c/") == 16  # each partly covered chunk is read once
        proxy.clear()
        np.testing.assert_array_equal(arr[...], written)
    assert in_flight >= requests // 2


def test_chunks_are_decoded_while_later_ones_are_still_arriving(
    proxy: FaultProxy, moto_endpoint: str
) -> None:
    """The last chunk is held 5 s at the proxy and the first is corrupt: the read fails with the
    first chunk's CodecError long before the last arrives (it decodes what has arrived, and the
    first error ends the read)."""
    url = _array(moto_endpoint, chunks=(8, 8))  # 64 chunks
    bucket = url.split("/")[2]
    s3_client(moto_endpoint).put_object(Bucket=bucket, Key="data.zarr/a/c/0/0", Body=b"not zstd" * 8)
    with zarrs_cffi.open_array(url, "/a", storage_options=s3_options(proxy.endpoint)) as arr:
        proxy.add("delay", method="GET", path_contains="/c/7/7", times=None, hang_seconds=5)
        start = time.monotonic()
        with pytest.raises(zarrs_cffi.CodecError, match="c/0/0"):
            arr.read_into(np.empty_like(DATA))
        assert time.monotonic() - start < 4


def test_one_get_per_chunk_and_no_head(proxy: FaultProxy, moto_endpoint: str) -> None:
    url = _array(moto_endpoint, chunks=(16, 16))  # 16 chunks
    with zarrs_cffi.open_array(url, "/a", storage_options=s3_options(proxy.endpoint)) as arr:
        proxy.clear()
        np.testing.assert_array_equal(arr[...], DATA)
    assert proxy.count("GET", "/c/") == 16
    assert proxy.count("HEAD") == 0


def test_partial_shard_reads_fetch_the_index_once_and_ranges(proxy: FaultProxy, moto_endpoint: str) -> None:
    url = _array(moto_endpoint, chunks=(8, 8), shards=(32, 32))  # 4 shards of 16 inner chunks
    with zarrs_cffi.open_array(url, "/a", storage_options=s3_options(proxy.endpoint)) as arr:
        proxy.clear()
        # 2 x 2 inner chunks of shard (0, 0).
        np.testing.assert_array_equal(arr[0:16, 0:16], DATA[0:16, 0:16])
    shard_gets = proxy.count("GET", "/c/0/0")
    assert proxy.count("HEAD") == 0
    assert proxy.count("GET", "/c/") == shard_gets  # only shard (0, 0) was touched
    # The index, then the four inner chunks in one request: two rows of the shard's inner chunks,
    # 2 x ~0.5 KiB apart, merged into one range (ranges less than 64 KiB apart are one request).
    assert shard_gets == 2, proxy.log


def test_small_sharded_reads_keep_the_index(proxy: FaultProxy, moto_endpoint: str) -> None:
    """A handle keeps each shard's index (tied to the shard's ETag): a small read of a shard it
    read before is one request, not the index again and then the inner chunk."""
    url = _array(moto_endpoint, chunks=(8, 8), shards=(32, 32))
    with zarrs_cffi.open_array(url, "/a", storage_options=s3_options(proxy.endpoint)) as arr:
        np.testing.assert_array_equal(arr[0:8, 0:8], DATA[0:8, 0:8])
        assert proxy.count("GET", "/c/0/0") == 2, proxy.log  # the index, then the inner chunk
        proxy.clear()
        for i in (8, 16, 24):
            np.testing.assert_array_equal(arr[i : i + 8, 2:6], DATA[i : i + 8, 2:6])
        assert proxy.count("GET", "/c/") == 3, proxy.log


@contextlib.contextmanager
def _stale_index(proxy: FaultProxy, moto_endpoint: str) -> Iterator[tuple[zarrs_cffi.Array, np.ndarray]]:
    """A reader that keeps shard (0, 0)'s index, after another handle rewrote that shard with
    data of other sizes (its inner chunks move): ``(reader, the new data of the shard)``, the
    proxy's log cleared."""
    url = _array(moto_endpoint, chunks=(8, 8), shards=(32, 32))
    new = np.random.default_rng(7).integers(0, 2**16, (32, 32), dtype="uint16")
    with zarrs_cffi.open_array(url, "/a", storage_options=s3_options(proxy.endpoint)) as reader:
        np.testing.assert_array_equal(reader[0:8, 0:8], DATA[0:8, 0:8])  # keeps shard (0, 0)'s index
        with zarrs_cffi.open_array(url, "/a", storage_options=s3_options(moto_endpoint)) as writer:
            writer[0:32, 0:32] = new
        proxy.clear()
        yield reader, new


def test_a_kept_index_of_a_rewritten_shard_is_read_again(proxy: FaultProxy, moto_endpoint: str) -> None:
    """The kept index no longer matches the shard's ETag: the inner-chunk read is refused (412),
    that inner chunk comes from the whole shard (one request, one version) and the next read loads
    the new index."""
    with _stale_index(proxy, moto_endpoint) as (reader, new):
        for i in (8, 16):
            np.testing.assert_array_equal(reader[i : i + 8, 0:8], new[i : i + 8, 0:8])
    # 412 on the kept index and the whole shard; then the new index and the inner chunk.
    assert proxy.count("GET", "/c/0/0") == 2 + 2, proxy.log
    assert proxy.statuses.count(412) == 1, proxy.statuses


def test_a_server_ignoring_if_match_cannot_serve_a_kept_index_other_bytes(
    proxy: FaultProxy, moto_endpoint: str
) -> None:
    """A server that ignores If-Match answers a range of the kept index's plan with the new shard's
    bytes (another inner chunk's, or the middle of one): its ETag tells them apart, and the inner
    chunks come from the new shard."""
    with _stale_index(proxy, moto_endpoint) as (reader, new):
        proxy.add("ignore_if_match", method="GET", path_contains="/c/0/0", times=None)
        for i in (8, 16, 24):
            np.testing.assert_array_equal(reader[i : i + 8, 0:8], new[i : i + 8, 0:8])
        np.testing.assert_array_equal(reader[0:32, 0:32], new)
        assert proxy.count("GET", "/c/0/0", kind="ignore_if_match") >= 2, proxy.log


def test_inner_chunks_fetched_together_from_a_rewritten_shard(proxy: FaultProxy, moto_endpoint: str) -> None:
    """A read of several inner chunks with a stale kept index: the merged request is refused (412)
    and each inner chunk comes from the new shard, never bytes of the old one."""
    with _stale_index(proxy, moto_endpoint) as (reader, new):
        np.testing.assert_array_equal(reader[0:8, 0:32], new[0:8, 0:32])  # a row of 4 inner chunks
        assert 412 in proxy.statuses
        proxy.clear()
        np.testing.assert_array_equal(reader[8:16, 0:32], new[8:16, 0:32])  # the next row
        assert proxy.count("GET", "/c/0/0") <= 2, proxy.log  # at most the new index, then the row


def test_cached_whole_shard_reads_are_one_request_per_shard(proxy: FaultProxy, moto_endpoint: str) -> None:
    url = _array(moto_endpoint, chunks=(8, 8), shards=(32, 32))  # 4 shards of 16 inner chunks
    options = s3_options(proxy.endpoint)
    with zarrs_cffi.open_array(url, "/a", storage_options=options, chunk_cache_bytes=1 << 20) as arr:
        proxy.clear()
        for i in (0, 32):  # a chunk-by-chunk scan: each read one whole shard
            for j in (0, 32):
                np.testing.assert_array_equal(arr[i : i + 32, j : j + 32], DATA[i : i + 32, j : j + 32])
        # Through the cache these were one range request per inner chunk (64 in all).
        assert proxy.count("GET", "/c/") == 4, proxy.log
        proxy.clear()
        np.testing.assert_array_equal(arr[3:9, 3:9], DATA[3:9, 3:9])  # small reads still use the cache
        np.testing.assert_array_equal(arr[3:9, 3:9], DATA[3:9, 3:9])
    assert 1 <= proxy.count("GET", "/c/") <= 1 + 4, proxy.log  # index + inner chunks, once


def test_cached_reads_fetch_a_shards_inner_chunks_together(proxy: FaultProxy, moto_endpoint: str) -> None:
    """Through the chunk cache too, the inner chunks a read is missing of a shard are one merged
    request after the index."""
    url = _array(moto_endpoint, chunks=(8, 8), shards=(32, 32))
    options = s3_options(proxy.endpoint)
    with zarrs_cffi.open_array(url, "/a", storage_options=options, chunk_cache_bytes=1 << 20) as arr:
        proxy.clear()
        np.testing.assert_array_equal(arr[4:12, 4:12], DATA[4:12, 4:12])  # 2 x 2 inner chunks
        assert proxy.count("GET", "/c/") == 2, proxy.log  # the index, then the four together
        proxy.clear()
        np.testing.assert_array_equal(arr[4:12, 4:12], DATA[4:12, 4:12])
        assert proxy.count("GET") == 0, proxy.log  # cached


def test_concurrent_callers_share_the_store(moto_endpoint: str) -> None:
    url = _array(moto_endpoint, chunks=(8, 8))
    results: list[bool] = []
    with zarrs_cffi.open_array(url, "/a", storage_options=s3_options(moto_endpoint)) as arr:

        def read() -> None:
            results.append(bool(np.array_equal(arr[...], DATA)))

        threads = [threading.Thread(target=read) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert results == [True] * 6


def test_a_session_token_goes_with_every_request(proxy: FaultProxy, moto_endpoint: str) -> None:
    """Temporary credentials: ``session_token`` is sent as S3's X-Amz-Security-Token header."""
    url = _array(moto_endpoint, chunks=(16, 16))
    options = s3_options(proxy.endpoint, session_token="temporary-session-token-value")
    proxy.clear()
    with zarrs_cffi.open_array(url, "/a", storage_options=options) as arr:
        np.testing.assert_array_equal(arr[...], DATA)
    assert len(proxy.header_names) >= 1 + 16
    assert all("x-amz-security-token" in names for names in proxy.header_names)
    proxy.clear()
    with zarrs_cffi.open_array(url, "/a", storage_options=s3_options(proxy.endpoint)) as arr:
        np.testing.assert_array_equal(arr[0:4, 0:4], DATA[0:4, 0:4])
    assert not any("x-amz-security-token" in names for names in proxy.header_names)
