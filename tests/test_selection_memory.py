"""Strided, orthogonal, coordinate and block selections read only the chunks that hold selected
elements, and use memory proportional to the result plus about one chunk per thread.

No timing: chunks that must not be read are replaced by garbage (decoding one raises CodecError),
a huge array holds only the chunks a test writes, and tracemalloc (which sees numpy's buffers)
measures the peak of what a read allocates.
"""

from __future__ import annotations

import itertools
import pathlib
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import zarrs_cffi
from zarrs_cffi import chunked_io

GARBAGE = b"not a zstd frame at all"


@pytest.fixture
def restore_threads() -> Iterator[None]:
    yield
    zarrs_cffi.set_num_threads(0)


def chunk_file(root: pathlib.Path, coords: tuple[int, ...]) -> pathlib.Path:
    return root.joinpath("c", *map(str, coords))


# -- a[::2**39] of a (2**40,) array -----------------------------------------------------------------
def test_huge_sparse_array_strided_reads_and_writes(tmp_path: pathlib.Path) -> None:
    root = tmp_path / "huge.zarr"
    a = zarrs_cffi.create_array(str(root), shape=(2**40,), chunks=(2**16,), dtype="uint8", fill_value=7)
    np.testing.assert_array_equal(a[:: 2**39], [7, 7])
    out = np.zeros(2, "uint8")
    assert a.read_into(out, slice(None, None, 2**39)) is out
    np.testing.assert_array_equal(out, [7, 7])
    np.testing.assert_array_equal(a[:: -(2**39)], [7, 7])

    a[:: 2**39] = [1, 2]
    a.oindex[[2**40 - 1]] = 3
    a.vindex[[5]] = 4
    np.testing.assert_array_equal(a[:: 2**39], [1, 2])
    np.testing.assert_array_equal(a.oindex[[-1, 0, 2**39, 5]], [3, 1, 2, 4])
    np.testing.assert_array_equal(a.vindex[[2**39, 2**40 - 1]], [2, 3])
    assert a.blocks[-1].shape == (2**16,)
    assert a.blocks[-1][-1] == 3
    # Only the three chunks written exist: nothing else was stored.
    stored = sorted(int(p.name) for p in (root / "c").iterdir())
    assert stored == [0, 2**39 // 2**16, 2**40 // 2**16 - 1]


def test_huge_2d_thumbnail(tmp_path: pathlib.Path) -> None:
    a = zarrs_cffi.create_array(
        str(tmp_path / "huge2d.zarr"),
        shape=(2**30, 2**30),
        chunks=(2**10, 2**10),
        dtype="int16",
        fill_value=-3,
    )
    a[2**29, 2**29] = 11
    np.testing.assert_array_equal(a[:: 2**29, :: 2**29], [[-3, -3], [-3, 11]])
    np.testing.assert_array_equal(a.oindex[[0, 2**29], np.array([2**29])], [[-3], [11]])


# -- garbage everywhere but the selected chunks ---------------------------------------------------------
@pytest.fixture
def thumbnail_array(
    tmp_path: pathlib.Path,
) -> tuple[zarrs_cffi.Array, pathlib.Path, dict[tuple[int, ...], np.ndarray]]:
    """The issue's thumbnail case: (512, 512, 512) uint8 with 64**3 chunks, where only the 8
    chunks holding an element of a[::256, ::256, ::256] are valid; the other 504 are garbage."""
    root = tmp_path / "thumb.zarr"
    a = zarrs_cffi.create_array(str(root), shape=(512, 512, 512), chunks=(64, 64, 64), dtype="uint8")
    rng = np.random.default_rng(7)
    valid = {}
    for coords in itertools.product(range(8), repeat=3):
        if all(c % 4 == 0 for c in coords):
            valid[coords] = rng.integers(0, 255, (64, 64, 64), dtype="uint8")
            a.write_chunk(coords, valid[coords])
        else:
            chunk_file(root, coords).parent.mkdir(parents=True, exist_ok=True)
            chunk_file(root, coords).write_bytes(GARBAGE)
    return a, root, valid


def element(valid: dict[tuple[int, ...], np.ndarray], index: tuple[int, ...]) -> int:
    return int(valid[tuple(i // 64 for i in index)][tuple(i % 64 for i in index)])


@pytest.mark.parametrize("threads", [1, 2])
def test_thumbnail_decodes_only_the_chunks_it_needs(
    thumbnail_array: Any, threads: int, restore_threads: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _, valid = thumbnail_array
    zarrs_cffi.set_num_threads(threads)
    monkeypatch.setattr(chunked_io, "_PARALLEL_MIN_BYTES", 0)
    # The garbage is detected when read: the selections below succeed only by never decoding it.
    with pytest.raises(zarrs_cffi.CodecError):
        a.read_chunk((0, 0, 1))
    with pytest.raises(zarrs_cffi.CodecError):
        a[::255, ::256, ::256]

    expected = np.array(
        [[[element(valid, (i, j, k)) for k in (0, 256)] for j in (0, 256)] for i in (0, 256)], dtype="uint8"
    )
    np.testing.assert_array_equal(a[::256, ::256, ::256], expected)
    out = np.empty((2, 2, 2), "uint8")
    np.testing.assert_array_equal(a.read_into(out, (slice(None, None, 256),) * 3), expected)
    np.testing.assert_array_equal(a[256::-256, ::256, 0:257:256], expected[::-1])

    rows = [300, 3, 257]
    np.testing.assert_array_equal(
        a.oindex[rows, [0, 63], 260],
        [[element(valid, (r, c, 260)) for c in (0, 63)] for r in rows],
    )
    mask = np.zeros(512, bool)
    mask[[1, 2, 3, 259, 262]] = True
    np.testing.assert_array_equal(
        a.read_into(np.empty((5, 1, 1), "uint8"), (mask, [5], [300]))[:, 0, 0],
        [element(valid, (i, 5, 300)) for i in (1, 2, 3, 259, 262)],
    )
    points = ([0, 511 - 255, 300], [263, 0, 5], [1, 2, 300])
    np.testing.assert_array_equal(a.vindex[points], [element(valid, p) for p in zip(*points)])
    assert a.blocks[4, 0, 4].shape == (64, 64, 64)
    np.testing.assert_array_equal(a.blocks[4, 0, 4], valid[(4, 0, 4)])


def test_writes_touch_only_the_chunks_they_write(thumbnail_array: Any) -> None:
    a, root, valid = thumbnail_array
    garbage_files = [p for p in (root / "c").rglob("*") if p.is_file() and p.read_bytes() == GARBAGE]
    assert len(garbage_files) == 504

    a.blocks[0, 0, 4] = 9
    a[::256, ::256, ::256] = np.arange(8, dtype="uint8").reshape(2, 2, 2)
    a.oindex[[3, 300], 2, [4, 5]] = 200
    a.vindex[[10, 270], [270, 10], [0, 300]] = [201, 202]

    np.testing.assert_array_equal(a[::256, ::256, ::256].ravel(), [0, 1, 2, 3, 4, 5, 6, 7])
    np.testing.assert_array_equal(a.oindex[[3, 300], 2, [4, 5]], [[200, 200], [200, 200]])
    np.testing.assert_array_equal(a.vindex[[10, 270], [270, 10], [0, 300]], [201, 202])
    block = a.blocks[0, 0, 4]
    assert block[0, 0, 0] == 1  # the thumbnail's element (0, 0, 256), written after the block
    assert np.count_nonzero(block == 9) == block.size - 1
    # Unselected elements of the written chunks kept their values.
    assert int(a[1, 1, 1]) == int(valid[(0, 0, 0)][1, 1, 1])
    # The garbage chunks were neither read (that would have raised) nor rewritten.
    assert all(p.read_bytes() == GARBAGE for p in garbage_files)


def test_an_error_in_a_helper_thread_reaches_the_caller(
    thumbnail_array: Any, restore_threads: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _, valid = thumbnail_array
    zarrs_cffi.set_num_threads(2)
    monkeypatch.setattr(chunked_io, "_PARALLEL_MIN_BYTES", 0)
    with pytest.raises(zarrs_cffi.CodecError):
        a.oindex[::64, 0, 0]  # 8 chunks, 6 of them garbage
    with pytest.raises(zarrs_cffi.CodecError):
        a.vindex[np.arange(0, 512, 64), 0, 0]
    # The array is still usable afterwards.
    np.testing.assert_array_equal(
        a.oindex[[0, 256], 0, 0], [valid[(0, 0, 0)][0, 0, 0], valid[(4, 0, 0)][0, 0, 0]]
    )


# -- memory: the result plus about one chunk per thread -------------------------------------------------
CHUNK = 64 * 1024
SLACK = 256 * 1024  # plans, index arrays of a few thousand entries, Python objects


@pytest.fixture(scope="module")
def long_array(tmp_path_factory: pytest.TempPathFactory) -> tuple[zarrs_cffi.Array, np.ndarray]:
    """8 MiB of uint8 in 128 zstd chunks of 64 KiB."""
    path = tmp_path_factory.mktemp("memory") / "long.zarr"
    data = (np.arange(8 * 2**20) % 251).astype("uint8")
    a = zarrs_cffi.create_array(str(path), shape=data.shape, chunks=(CHUNK,), dtype="uint8")
    a[...] = data
    return a, data


def peak_bytes(call: Callable[[], Any]) -> int:
    """The peak of memory allocated (and traced: numpy's buffers are) while ``call`` runs."""
    call()  # warm up: the thread pool, cffi types, the handle cache
    tracemalloc.start()
    try:
        if hasattr(tracemalloc, "reset_peak"):  # 3.9+; on 3.8 the peak starts at start()
            tracemalloc.reset_peak()
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("threads", [1, 2])
def test_strided_read_memory_is_the_result_plus_a_chunk_per_thread(
    long_array: Any, threads: int, restore_threads: None
) -> None:
    a, data = long_array
    zarrs_cffi.set_num_threads(threads)
    result = data[::2].nbytes  # 4 MiB; the step-1 bounding box would be 8 MiB more
    assert peak_bytes(lambda: a[::2]) < result + threads * CHUNK + SLACK
    out = np.empty(data[::2].shape, "uint8")
    assert peak_bytes(lambda: a.read_into(out, slice(None, None, 2))) < threads * CHUNK + SLACK
    np.testing.assert_array_equal(out, data[::2])
    mask = np.zeros(data.shape, bool)
    mask[::1000] = True
    small = np.empty(mask.sum(), "uint8")
    # The mask's own index array (8 bytes per selected element) is part of the selection's cost.
    assert peak_bytes(lambda: a.read_into(small, (mask,))) < threads * CHUNK + 16 * small.size + SLACK
    np.testing.assert_array_equal(small, data[mask])


def test_an_orthogonal_read_is_one_native_call(long_array: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Index runs spanning many chunks, strides, a list, blocks: the native library plans and reads the
    whole selection (no box-by-box reads from Python)."""
    a, data = long_array
    boxes = []
    read_box = a._retrieve_box

    def spy(start: Any, shape: Any, buf: np.ndarray) -> None:
        boxes.append((start, shape))
        read_box(start, shape, buf)

    monkeypatch.setattr(a, "_retrieve_box", spy)
    index = np.concatenate([np.arange(100, 3 * CHUNK), np.arange(70 * CHUNK, 90 * CHUNK + 5)])
    for selection, expected in [
        ((index,), data[index]),
        ((slice(None, None, 3),), data[::3]),
        ((slice(None, 5, -7),), data[:5:-7]),
        (([5, 3, 3, 2**23 - 1, 0],), data[[5, 3, 3, 2**23 - 1, 0]]),
    ]:
        out = np.empty(expected.shape, "uint8")
        a.read_into(out, selection)
        np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(a.vindex[[7, 2**22, 7]], data[[7, 2**22, 7]])
    assert boxes == []
    # A block selection is a box of the array: one native region read each.
    np.testing.assert_array_equal(a.blocks[3], data[3 * CHUNK : 4 * CHUNK])
    np.testing.assert_array_equal(a.blocks[2:70], data[2 * CHUNK : 70 * CHUNK])
    assert len(boxes) == 2


def test_strided_write_memory_is_the_value_plus_a_chunk(long_array: Any, tmp_path: pathlib.Path) -> None:
    _, data = long_array
    a = zarrs_cffi.create_array(str(tmp_path / "w.zarr"), shape=data.shape, chunks=(CHUNK,), dtype="uint8")
    a[...] = data
    value = np.full(data[::3].shape, 9, "uint8")
    assert peak_bytes(lambda: a.write(slice(None, None, 3), value)) < value.nbytes + CHUNK + SLACK
    expected = data.copy()
    expected[::3] = 9
    np.testing.assert_array_equal(a[...], expected)


@pytest.mark.parametrize("threads", [1, 2])
def test_the_chunk_cache_sees_only_the_chunks_holding_selected_elements(
    tmp_path: pathlib.Path, threads: int, restore_threads: None
) -> None:
    """Counted another way: with the decoded-chunk cache on, what a selection leaves in the cache
    is the chunks it decoded (zstd chunks: the cache keeps compressed ones)."""
    zarrs_cffi.set_num_threads(threads)
    a = zarrs_cffi.create_array(
        str(tmp_path / "c.zarr"), shape=(128, 128, 128), chunks=(16, 16, 16), dtype="uint8"
    )
    data = (np.arange(128**3) % 251).astype("uint8").reshape(a.shape)
    a[...] = data
    a.enable_chunk_cache()
    cases = [
        (lambda: a[::64, ::64, ::64], data[::64, ::64, ::64], 2 * 2 * 2),
        (lambda: a.oindex[[0, 20, 100], ::32, 5], data[[0, 20, 100]][:, ::32, 5], 3 * 4 * 1),
        (
            lambda: a.vindex[[0, 20, 100], [0, 0, 127], [3, 3, 3]],
            data[[0, 20, 100], [0, 0, 127], [3, 3, 3]],
            3,
        ),
    ]
    for read, expected, chunks in cases:
        a.clear_chunk_cache()
        np.testing.assert_array_equal(read(), expected)
        assert a.chunk_cache_usage() == (chunks, chunks * 16**3)
