"""The opt-in decoded-chunk cache and its read-ahead: same answers as uncached reads, bounded
memory, invalidated by writes and by ``clear_chunk_cache``, safe across threads and fork."""

from __future__ import annotations

import multiprocessing
import pathlib
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
import zarr
from s3_paths import zarr_store_at
from zarr_oracle import run_forked_child

import zarrs_cffi

CHUNKS = (8, 6)


@pytest.fixture
def two_threads() -> Iterator[None]:
    """Read-ahead depth is the per-call thread count: pin it to 2 whatever the machine has."""
    zarrs_cffi.set_num_threads(2)
    try:
        yield
    finally:
        zarrs_cffi.set_num_threads(0)


def chunk_regions(shape: tuple[int, ...], chunks: tuple[int, ...]) -> list[tuple[slice, ...]]:
    """Every chunk's region (edge chunks clipped), in C order."""
    counts = [-(-n // c) for n, c in zip(shape, chunks, strict=True)]
    return [
        tuple(slice(i * c, min((i + 1) * c, n)) for i, c, n in zip(idx, chunks, shape, strict=True))
        for idx in np.ndindex(*counts)
    ]


def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


@pytest.fixture
def sharded_path(tmp_path: pathlib.Path) -> tuple[str, np.ndarray]:
    """A 20x18 uint16 array: 10x9 shards of 5x3 inner chunks, zstd."""
    path = tmp_path / "sharded.zarr"
    data = (np.arange(20 * 18, dtype="uint16").reshape(20, 18) * 3) % 1000
    z = zarr.create_array(
        store=zarr_store_at(path), shape=data.shape, chunks=(5, 3), shards=(10, 9), dtype="uint16"
    )
    z[...] = data
    return str(path), data


def test_cached_reads_match_the_data(multichunk_path: tuple[str, np.ndarray]) -> None:
    path, data = multichunk_path
    rng = np.random.default_rng(7)
    with zarrs_cffi.open_array(path, chunk_cache_bytes=2**20) as arr:
        for _ in range(300):
            start = [int(rng.integers(0, n)) for n in data.shape]
            stop = [int(rng.integers(s + 1, n + 1)) for s, n in zip(start, data.shape, strict=True)]
            region = tuple(slice(a, b) for a, b in zip(start, stop, strict=True))
            out = np.empty(data[region].shape, data.dtype)
            np.testing.assert_array_equal(arr.read_into(out, region), data[region])
        assert arr.chunk_cache_usage()[0] > 0


def test_sequential_scan_reads_ahead(multichunk_path: tuple[str, np.ndarray], two_threads: None) -> None:
    path, data = multichunk_path
    regions = chunk_regions(data.shape, CHUNKS)
    with zarrs_cffi.open_array(path, chunk_cache_bytes=2**20) as arr:
        for region in regions[:2]:
            np.testing.assert_array_equal(arr[region], data[region])
        # The second read continued the first, so the next chunks are decoded in the background:
        # these chunks are tiny, so each of the 2 threads runs 16 ahead, past the last of the 30.
        assert wait_for(lambda: arr.chunk_cache_usage()[0] == len(regions)), arr.chunk_cache_usage()
        for region in regions[2:]:
            out = np.empty(data[region].shape, data.dtype)
            np.testing.assert_array_equal(arr.read_into(out, region), data[region])
        assert arr.chunk_cache_usage()[0] == len(regions)


def test_random_reads_do_not_read_ahead(multichunk_path: tuple[str, np.ndarray], two_threads: None) -> None:
    path, data = multichunk_path
    regions = chunk_regions(data.shape, CHUNKS)
    with zarrs_cffi.open_array(path, chunk_cache_bytes=2**20) as arr:
        for region in (regions[5], regions[0], regions[17], regions[3]):
            np.testing.assert_array_equal(arr[region], data[region])
        time.sleep(0.2)
        assert arr.chunk_cache_usage()[0] == 4


def test_one_thread_per_call_means_no_read_ahead(multichunk_path: tuple[str, np.ndarray]) -> None:
    path, data = multichunk_path
    regions = chunk_regions(data.shape, CHUNKS)
    zarrs_cffi.set_num_threads(1)
    try:
        with zarrs_cffi.open_array(path, chunk_cache_bytes=2**20) as arr:
            for region in regions[:6]:
                np.testing.assert_array_equal(arr[region], data[region])
            time.sleep(0.2)
            assert arr.chunk_cache_usage()[0] == 6
    finally:
        zarrs_cffi.set_num_threads(0)


def test_usage_stays_within_the_bound(multichunk_path: tuple[str, np.ndarray], two_threads: None) -> None:
    path, data = multichunk_path
    chunk_bytes = CHUNKS[0] * CHUNKS[1] * data.itemsize
    with zarrs_cffi.open_array(path, chunk_cache_bytes=5 * chunk_bytes) as arr:
        for region in chunk_regions(data.shape, CHUNKS):
            np.testing.assert_array_equal(arr[region], data[region])
            assert arr.chunk_cache_usage()[1] <= 5 * chunk_bytes
        assert arr.chunk_cache_usage()[0] == 5


def test_cache_too_small_for_read_ahead_still_reads(
    multichunk_path: tuple[str, np.ndarray], two_threads: None
) -> None:
    path, data = multichunk_path
    chunk_bytes = CHUNKS[0] * CHUNKS[1] * data.itemsize
    with zarrs_cffi.open_array(path, chunk_cache_bytes=chunk_bytes) as arr:
        for region in chunk_regions(data.shape, CHUNKS):
            np.testing.assert_array_equal(arr[region], data[region])
        assert arr.chunk_cache_usage() == (1, chunk_bytes)


def test_sharded_scan_reads_ahead(sharded_path: tuple[str, np.ndarray], two_threads: None) -> None:
    path, data = sharded_path
    regions = chunk_regions(data.shape, (5, 3))
    with zarrs_cffi.open_array(path, chunk_cache_bytes=2**20) as arr:
        for region in regions:
            np.testing.assert_array_equal(arr[region], data[region])
        assert arr.chunk_cache_usage()[0] == len(regions)
        np.testing.assert_array_equal(arr[3:17, 2:16], data[3:17, 2:16])


def test_write_through_the_array_is_seen_after_read_ahead(
    multichunk_path: tuple[str, np.ndarray], two_threads: None
) -> None:
    path, data = multichunk_path
    regions = chunk_regions(data.shape, CHUNKS)
    with zarrs_cffi.open_array(path, chunk_cache_bytes=2**20) as arr:
        for region in regions[:3]:
            arr[region]  # a sequential scan: chunks 3 and 4 are read ahead
        arr.write(regions[3], 12345)
        arr.write(regions[4], -7)
        for region in regions[3:5]:
            expected = np.full(data[region].shape, 12345 if region == regions[3] else -7, data.dtype)
            np.testing.assert_array_equal(arr[region], expected)


def test_clear_chunk_cache_sees_other_writers(multichunk_path: tuple[str, np.ndarray]) -> None:
    path, data = multichunk_path
    with zarrs_cffi.open_array(path, chunk_cache_bytes=2**20) as arr:
        np.testing.assert_array_equal(arr[:8, :6], data[:8, :6])
        zarr.open_array(zarr_store_at(path), mode="r+")[:8, :6] = 99
        np.testing.assert_array_equal(arr[:8, :6], data[:8, :6])  # documented: still cached
        arr.clear_chunk_cache()
        assert arr.chunk_cache_usage() == (0, 0)
        np.testing.assert_array_equal(arr[:8, :6], np.full((8, 6), 99, data.dtype))


@pytest.mark.parametrize("array", ["multichunk_path", "sharded_path"])
def test_read_modify_writes_through_a_cached_handle_keep_other_writers_data(
    array: str, request: pytest.FixtureRequest
) -> None:
    """Strided, oindex, vindex writes and write_lock() blocks read what is stored, not what the
    handle cached before another handle's write (which they wrote away)."""
    path, _ = request.getfixturevalue(array)
    writes = {
        "vindex": lambda a: a.vindex.__setitem__(([0], [0]), 9),
        "strided": lambda a: a.__setitem__((0, slice(0, 3, 2)), 9),
        "oindex": lambda a: a.oindex.__setitem__(([0], [0, 2]), 9),
        "write_lock": None,
    }
    for name, write in writes.items():
        zarrs_cffi.write(path, (slice(0, 4), slice(0, 3)), 1)
        cached = zarrs_cffi.open_array(path, chunk_cache_bytes=2**20)
        cached[0:4, 0:3]  # caches the chunk (inner chunk) holding (0, 0) and (1, 2)
        with zarrs_cffi.open_array(path) as other:
            other[1, 2] = 2
        if name == "write_lock":
            with cached.write_lock():
                cached[0, 0] = cached[0, 0] + 8
        else:
            write(cached)
        cached.close()
        assert zarrs_cffi.read(path, (1, 2)) == 2, name
        assert zarrs_cffi.read(path, (0, 0)) == 9, name


def test_the_handle_owns_its_cache(multichunk_path: tuple[str, np.ndarray]) -> None:
    """The cache lives in the native array handle: C callers of the plain read get it, and the
    handle's own writes clear it, with no Python bookkeeping in between."""
    from zarrs_cffi._native import ffi, lib

    path, data = multichunk_path
    with zarrs_cffi.open_array(path) as arr, arr._handle.use() as ptr:
        count, size = ffi.new("size_t *"), ffi.new("size_t *")

        def usage() -> tuple[int, int]:
            assert lib.zarrsCffiArrayChunkCacheUsage(ptr, count, size) == 0
            return int(count[0]), int(size[0])

        def read(start: list[int], shape: list[int]) -> np.ndarray:
            out = np.empty(shape, data.dtype)
            buf = ffi.from_buffer("uint8_t[]", out, require_writable=True)
            assert lib.zarrsCffiArrayRetrieveSubsetInto(ptr, 2, start, shape, out.nbytes, buf) == 0
            return out

        assert usage() == (0, 0)
        assert lib.zarrsCffiArraySetChunkCache(ptr, 1 << 20) == 0
        np.testing.assert_array_equal(read([1, 1], [4, 4]), data[1:5, 1:5])
        assert usage() == (1, 8 * 6 * 4)  # one decoded chunk, held by the handle
        new = np.full((8, 6), 77, data.dtype)
        assert lib.zarrsCffiArrayStoreSubset(ptr, 2, [0, 0], [8, 6], new.nbytes, ffi.from_buffer(new)) == 0
        assert usage() == (0, 0)  # cleared by the handle's own write
        np.testing.assert_array_equal(read([1, 1], [4, 4]), new[1:5, 1:5])
        assert lib.zarrsCffiArrayEraseChunk(ptr, 2, [0, 0]) == 0
        np.testing.assert_array_equal(read([1, 1], [4, 4]), np.full((4, 4), -1, data.dtype))
        assert lib.zarrsCffiArraySetChunkCache(ptr, 0) == 0  # removed: reads go uncached
        np.testing.assert_array_equal(read([8, 6], [4, 4]), data[8:12, 6:10])
        assert usage() == (0, 0)


def test_a_cache_does_not_follow_its_array_to_another_handle(multichunk_path: tuple[str, np.ndarray]) -> None:
    """Two handles of one array: each has its own cache (or none); writes through one clear its
    own, the other's stays stale until cleared (documented)."""
    path, data = multichunk_path
    cached, plain = zarrs_cffi.open_array(path, chunk_cache_bytes=1 << 20), zarrs_cffi.open_array(path)
    with cached, plain:
        np.testing.assert_array_equal(cached[:8, :6], data[:8, :6])
        assert plain.chunk_cache_usage() == (0, 0)
        plain[:8, :6] = 5
        np.testing.assert_array_equal(plain[:8, :6], np.full((8, 6), 5, data.dtype))
        np.testing.assert_array_equal(cached[:8, :6], data[:8, :6])  # still its cached chunk
        cached.clear_chunk_cache()
        np.testing.assert_array_equal(cached[:8, :6], np.full((8, 6), 5, data.dtype))


def test_disable_drops_a_cache_enabled_from_c(multichunk_path: tuple[str, np.ndarray]) -> None:
    """The cache belongs to the handle: disable_chunk_cache() drops one C enabled on it (it used to
    act only on a cache Python had enabled), and later reads stay uncached."""
    from zarrs_cffi._native import lib

    path, data = multichunk_path
    with zarrs_cffi.open_array(path) as arr:
        with arr.borrow_handle() as ptr:
            assert lib.zarrsCffiArraySetChunkCache(ptr, 1 << 20) == 0
        np.testing.assert_array_equal(arr[0:2, 0:2], data[0:2, 0:2])
        assert arr.chunk_cache_usage()[0] == 1
        arr.disable_chunk_cache()
        assert arr.chunk_cache_usage() == (0, 0)
        np.testing.assert_array_equal(arr[20:22, 20:22], data[20:22, 20:22])
        assert arr.chunk_cache_usage() == (0, 0)
        arr.disable_chunk_cache()  # no cache: nothing to do
    with pytest.raises(zarrs_cffi.ClosedError):
        arr.disable_chunk_cache()  # closed: like clear_chunk_cache and chunk_cache_usage


@pytest.mark.parametrize("shards", [None, (8, 8)], ids=["unsharded", "sharded"])
def test_uncompressed_chunks_skip_the_cache_only_unsharded(
    tmp_path: pathlib.Path, shards: tuple[int, int] | None
) -> None:
    """As documented: uncompressed chunk files of an unsharded array in a local directory are read
    from the files, never cached (so never stale); inner chunks of an uncompressed sharded array
    are cached, and go stale like any cached unit until the cache is cleared."""
    path = tmp_path / "raw.zarr"
    with zarrs_cffi.create_array(
        path, shape=(16, 16), dtype="int32", chunks=(4, 4), shards=shards, compressors=None
    ) as arr:
        arr[...] = 1
    with zarrs_cffi.open_array(path, chunk_cache_bytes=1 << 20) as cached, zarrs_cffi.open_array(
        path
    ) as other:
        assert cached.decodes_directly
        assert cached[0, 0] == 1
        other[0, 0] = 77
        if shards is None:
            assert cached.chunk_cache_usage() == (0, 0)
            assert cached[0, 0] == 77
        else:
            assert cached.chunk_cache_usage() == (1, 4 * 4 * 4)
            assert cached[0, 0] == 1  # stale, as for any cached unit
            cached.clear_chunk_cache()
            assert cached[0, 0] == 77


def test_usage_without_a_cache_and_after_close(multichunk_path: tuple[str, np.ndarray]) -> None:
    path, _ = multichunk_path
    arr = zarrs_cffi.open_array(path)
    assert arr.chunk_cache_usage() == (0, 0)
    arr.clear_chunk_cache()  # no cache: nothing to do
    arr.close()
    with pytest.raises(zarrs_cffi.ZarrsError):
        arr.chunk_cache_usage()
    with pytest.raises(zarrs_cffi.ZarrsError):
        arr.clear_chunk_cache()


def test_closing_during_read_ahead_is_safe(
    multichunk_path: tuple[str, np.ndarray], two_threads: None
) -> None:
    path, data = multichunk_path
    regions = chunk_regions(data.shape, CHUNKS)
    for _ in range(50):
        arr = zarrs_cffi.open_array(path, chunk_cache_bytes=2**20)
        arr[regions[0]]
        arr[regions[1]]  # read-ahead of chunks 2 and 3 starts
        arr.close()  # destroys the handle and the cache while the tasks may still run
    with zarrs_cffi.open_array(path) as arr:
        np.testing.assert_array_equal(arr.read(), data)


def test_threads_scanning_one_cached_array(
    multichunk_path: tuple[str, np.ndarray], two_threads: None
) -> None:
    path, data = multichunk_path
    regions = chunk_regions(data.shape, CHUNKS)
    errors: list[BaseException] = []
    with zarrs_cffi.open_array(path, chunk_cache_bytes=8 * CHUNKS[0] * CHUNKS[1] * data.itemsize) as arr:

        def scan() -> None:
            try:
                for _ in range(5):
                    for region in regions:
                        out = np.empty(data[region].shape, data.dtype)
                        np.testing.assert_array_equal(arr.read_into(out, region), data[region])
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        threads = [threading.Thread(target=scan) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not any(t.is_alive() for t in threads), "a scanning thread hung"
    assert not errors, errors[0]


_FORKED: dict = {}


def _child_scans(queue) -> None:  # pragma: no cover - runs in the child
    arr, data = _FORKED["array"], _FORKED["data"]
    ok = all(np.array_equal(arr[r], data[r]) for r in chunk_regions(data.shape, CHUNKS))
    queue.put(ok)


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork")
def test_cached_array_survives_fork(multichunk_path: tuple[str, np.ndarray], two_threads: None) -> None:
    path, data = multichunk_path
    arr = zarrs_cffi.open_array(path, chunk_cache_bytes=2**20)
    for region in chunk_regions(data.shape, CHUNKS)[:10]:
        np.testing.assert_array_equal(arr[region], data[region])  # read-ahead runs in the parent
    _FORKED.update(array=arr, data=data)
    try:
        run_forked_child(_child_scans, "reading through an inherited chunk cache")
    finally:
        _FORKED.clear()
        arr.close()


@pytest.mark.parametrize("compressors", [None, "auto"], ids=["raw", "zstd"])
def test_large_units_in_page_aligned_buffers(tmp_path: pathlib.Path, compressors: str | None) -> None:
    """Units of 64 KiB and more sit in page-aligned buffers (uncompressed files are read into
    them with the kernel's fast copy): chunk-by-chunk scans into buffers at several offsets,
    small regions, an absent chunk and a truncated one all read right. Uncompressed chunk files
    are read from the files, not cached, nor is the absent edge chunk (its absence would go
    stale)."""
    read_large_units(tmp_path / "big.zarr", compressors, cached_units=0 if compressors is None else 3)


def read_large_units(path: pathlib.Path, compressors: str | None, *, cached_units: int) -> None:
    """The reads of test_large_units_in_page_aligned_buffers on an array written at ``path``;
    ``cached_units``: the units the cache holds after the scans."""
    shape, chunks = (40, 64, 64), (16, 64, 64)  # 128 KiB int16 chunks, an edge chunk
    data = (np.arange(np.prod(shape), dtype=np.int64).reshape(shape) % 30011 - 15000).astype("int16")
    z = zarr.create_array(
        store=zarr_store_at(path), shape=shape, chunks=chunks, dtype="int16", compressors=compressors
    )
    z[:32] = data[:32]
    expected = np.asarray(z[...])  # the edge chunk stays absent: fill value 0
    with zarrs_cffi.open_array(path, chunk_cache_bytes=8 << 20) as arr:
        for offset in (0, 16, 4096 - 16):
            for region in chunk_regions(shape, chunks):
                n = int(np.prod([s.stop - s.start for s in region])) * 2
                raw = np.zeros(offset + n, np.uint8)
                out = raw[offset:].view("int16").reshape([s.stop - s.start for s in region])
                arr.read_into(out, region)
                np.testing.assert_array_equal(out, expected[region])
        assert arr.chunk_cache_usage()[0] == cached_units
        for start in [(0, 0, 0), (15, 60, 3), (30, 1, 62)]:
            region = tuple(slice(s, min(s + 5, n)) for s, n in zip(start, shape, strict=True))
            np.testing.assert_array_equal(arr[region], expected[region])
        arr.clear_chunk_cache()
        (path / "c" / "1" / "0" / "0").write_bytes(b"short")
        with pytest.raises(zarrs_cffi.CodecError, match="c/1/0/0"):
            arr[16:20, 0:4, 0:4]


def units_of(region: tuple[slice, ...], units: tuple[int, ...]) -> int:
    """How many cache units (chunks, or inner chunks if sharded) ``region`` touches."""
    return int(np.prod([(s.stop - 1) // u - s.start // u + 1 for s, u in zip(region, units, strict=True)]))


@pytest.mark.parametrize("layout", ["chunks", "sharded"])
def test_region_across_missing_units_is_decoded_whole(
    layout: str,
    multichunk_path: tuple[str, np.ndarray],
    sharded_path: tuple[str, np.ndarray],
    two_threads: None,
) -> None:
    """A region over several uncached units decodes them on the caller and a helper at once,
    each into its own cache unit: every element lands in its place and every unit is kept."""
    path, data = multichunk_path if layout == "chunks" else sharded_path
    units = CHUNKS if layout == "chunks" else (5, 3)
    rng = np.random.default_rng(11)
    with zarrs_cffi.open_array(path, chunk_cache_bytes=2**20) as arr:
        for _ in range(40):
            arr.clear_chunk_cache()
            start = [int(rng.integers(0, n - 2 * u)) for n, u in zip(data.shape, units, strict=True)]
            stop = [
                int(rng.integers(s + u + 1, n + 1)) for s, u, n in zip(start, units, data.shape, strict=True)
            ]
            region = tuple(slice(a, b) for a, b in zip(start, stop, strict=True))
            out = np.full(data[region].shape, 12345, data.dtype)
            np.testing.assert_array_equal(arr.read_into(out, region), data[region])
            assert arr.chunk_cache_usage()[0] == units_of(region, units)
            # Again, now from the cache, and a region overlapping the decoded units partly.
            np.testing.assert_array_equal(arr[region], data[region])
            wider = tuple(slice(max(s.start - 3, 0), s.stop) for s in region)
            np.testing.assert_array_equal(arr[wider], data[wider])


def test_region_across_more_missing_units_than_the_cache_holds(
    multichunk_path: tuple[str, np.ndarray], two_threads: None
) -> None:
    """Missing units that would fill more than half the cache are decoded one by one as the
    region is copied out (decoded ahead, they could be evicted before use): still exact."""
    path, data = multichunk_path
    chunk_bytes = CHUNKS[0] * CHUNKS[1] * data.itemsize
    with zarrs_cffi.open_array(path, chunk_cache_bytes=3 * chunk_bytes) as arr:
        for region in (
            (slice(0, 37), slice(0, 34)),
            (slice(3, 30), slice(5, 20)),
            (slice(7, 9), slice(5, 13)),
        ):
            arr.clear_chunk_cache()
            np.testing.assert_array_equal(arr[region], data[region])
            assert arr.chunk_cache_usage()[1] <= 3 * chunk_bytes


def test_damaged_unit_among_missing_ones_raises(tmp_path: pathlib.Path, two_threads: None) -> None:
    """A damaged chunk decoded by a helper beside others fails the read with its name, caches
    nothing in its place, and leaves the others readable."""
    path = tmp_path / "damaged.zarr"
    data = np.arange(32 * 32, dtype="int32").reshape(32, 32)
    zarr.create_array(store=zarr_store_at(path), shape=data.shape, chunks=(8, 8), dtype="int32")[...] = data
    chunk = path / "c" / "1" / "2"
    chunk.write_bytes(chunk.read_bytes()[:7])
    with zarrs_cffi.open_array(str(path), chunk_cache_bytes=2**20) as arr:
        for _ in range(2):  # the second time the other eleven units are cached, the damaged not
            with pytest.raises(zarrs_cffi.CodecError, match="c/1/2"):
                arr[4:20, 4:28]  # 3 x 4 chunks
            assert arr.chunk_cache_usage()[0] <= 11
        np.testing.assert_array_equal(arr[0:8, 0:32], data[0:8, 0:32])
        np.testing.assert_array_equal(arr[16:32, 4:28], data[16:32, 4:28])


def test_cache_sizes_take_numpy_ints_and_errors_name_the_argument(
    multichunk_path: tuple[str, np.ndarray],
) -> None:
    path, data = multichunk_path
    with zarrs_cffi.open_array(path, chunk_cache_bytes=np.int64(2**20)) as arr:
        np.testing.assert_array_equal(arr[0:3, 0:3], data[0:3, 0:3])
        assert arr.chunk_cache_usage()[0] > 0  # the cache is on
        arr.enable_chunk_cache(np.uint32(4096))
        assert arr.chunk_cache_usage() == (0, 0)  # a new, empty cache
    with zarrs_cffi.open_array(path, chunk_cache_bytes=np.int64(0)) as arr:
        arr[0:3, 0:3]
        assert arr.chunk_cache_usage() == (0, 0)
    for bad in (-1, np.int64(-1), 2.0, True):
        with pytest.raises(zarrs_cffi.InvalidArgumentError, match=r"^chunk_cache_bytes must be"):
            zarrs_cffi.open_array(path, chunk_cache_bytes=bad)
