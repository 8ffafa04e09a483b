"""The functional API (``zarrs_cffi.read`` / ``read_into`` / ``write``) and its handle cache: repeated
calls on one path reuse the open handle, and a recreated array is never read through a stale one."""

from __future__ import annotations

import gc
import json
import os
import pathlib
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from zarr_oracle import ARANGE_8X8, assert_same, import_zarr_or_skip

import zarrs_cffi
from zarrs_cffi import functional


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    zarrs_cffi.clear_cache()
    yield
    zarrs_cffi.clear_cache()


@pytest.fixture
def open_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Spy on the opens the functional cache performs."""
    calls: list[str] = []
    real = functional.open_array

    def spy(path: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(functional, "open_array", spy)
    return calls


def test_read_and_read_into(arange_path: str) -> None:
    assert_same(zarrs_cffi.read(arange_path), ARANGE_8X8)
    assert_same(zarrs_cffi.read(arange_path, np.s_[1:7:2, ::-3]), ARANGE_8X8[1:7:2, ::-3])
    assert_same(zarrs_cffi.read(pathlib.Path(arange_path), 5), ARANGE_8X8[5])
    out = np.empty((8,), "uint16")
    assert zarrs_cffi.read_into(out, arange_path, (slice(None), -1)) is out
    assert_same(out, ARANGE_8X8[:, -1])


def test_write_then_read(arange_path: str) -> None:
    zarrs_cffi.write(arange_path, np.s_[::7, ::7], 999)
    expected = ARANGE_8X8.copy()
    expected[::7, ::7] = 999
    assert_same(zarrs_cffi.read(arange_path), expected)
    zarr = import_zarr_or_skip()  # the oracle's view of the same bytes (zarr-python: 3.11+ only)
    assert_same(np.asarray(zarr.open_array(arange_path, mode="r")[...]), expected)


def test_repeated_reads_open_once(arange_path: str, open_calls: list[str]) -> None:
    for i in range(20):
        assert_same(zarrs_cffi.read(arange_path, i % 8), ARANGE_8X8[i % 8])
        zarrs_cffi.read_into(np.empty((8, 8), "uint16"), arange_path)
    assert len(open_calls) == 1, open_calls
    # Equivalent spellings of the path share the entry.
    zarrs_cffi.read(pathlib.Path(arange_path))
    zarrs_cffi.read(arange_path + "/")
    zarrs_cffi.write(arange_path, (0, 0), 1)
    assert len(open_calls) == 1, open_calls


def test_clear_cache_reopens(arange_path: str, open_calls: list[str]) -> None:
    zarrs_cffi.read(arange_path)
    cached = weakref.ref(functional.cached_array(arange_path))
    zarrs_cffi.clear_cache()
    gc.collect()
    assert cached() is None, "clear_cache drops the cached handles (freed with the last reference)"
    zarrs_cffi.read(arange_path)
    assert len(open_calls) == 2


def test_a_handle_taken_from_the_cache_outlives_its_eviction(tmp_path: pathlib.Path) -> None:
    """Another thread's one-shot calls may evict the handle a call just took from the cache, or
    clear the cache: the call goes on (it raised ClosedError)."""
    paths = []
    for i in range(functional._CACHE_SIZE + 1):
        path = str(tmp_path / f"a{i}.zarr")
        zarrs_cffi.create_array(path, shape=(2,), dtype="u1", chunks=(2,))[...] = i
        paths.append(path)
    taken = functional.cached_array(paths[0])
    for path in paths[1:]:
        zarrs_cffi.read(path)  # evicts paths[0]
    assert paths[0] not in functional._cache
    np.testing.assert_array_equal(taken.read(), [0, 0])
    taken = functional.cached_array(paths[1])
    zarrs_cffi.clear_cache()
    np.testing.assert_array_equal(taken.read(), [1, 1])


def test_closed_cached_handle_is_replaced(arange_path: str, open_calls: list[str]) -> None:
    zarrs_cffi.read(arange_path)
    functional.cached_array(arange_path).close()
    assert_same(zarrs_cffi.read(arange_path), ARANGE_8X8)
    assert len(open_calls) == 2


def _recreate(path: str, dtype: str, fill: int, value: int) -> None:
    with zarrs_cffi.create_array(
        path, shape=(8, 8), dtype=dtype, chunks=(4, 4), fill_value=fill, overwrite=True
    ) as arr:
        arr[:4] = value


def test_recreated_array_is_never_stale(tmp_path: pathlib.Path) -> None:
    """uint16 <-> int16 and fill 1 <-> 2 keep zarr.json's length within one byte or the same; the
    recreation happens immediately after a read, well within one timestamp tick."""
    path = str(tmp_path / "r.zarr")
    variants = [("uint16", 1, 60000), ("int16", 1, -5), ("int16", 2, -6), ("uint16", 2, 65000)]
    sizes = set()
    for round_ in range(8):
        for dtype, fill, value in variants:
            _recreate(path, dtype, fill, value + round_)
            sizes.add(os.path.getsize(os.path.join(path, "zarr.json")))
            data = zarrs_cffi.read(path)
            expected = np.full((8, 8), fill, dtype)
            expected[:4] = value + round_
            assert_same(data, expected)
            out = np.empty((8, 8), dtype)
            zarrs_cffi.read_into(out, path)
            assert_same(out, expected)
    assert len(sizes) <= 2, "the variants were meant to keep the metadata file's size (nearly) constant"


def test_same_size_rewrite_in_place_is_seen(tmp_path: pathlib.Path) -> None:
    """The hardest case: zarr.json rewritten in place (same inode, same size) right after a read."""
    path = tmp_path / "inplace.zarr"
    _recreate(str(path), "uint16", 3, 40000)
    meta = path / "zarr.json"
    assert_same(zarrs_cffi.read(str(path), 7), np.full(8, 3, "uint16"))
    doc = json.loads(meta.read_text())
    before = meta.stat()
    doc["fill_value"] = 4
    text = json.dumps(doc)
    with open(meta, "r+") as fh:  # same inode
        fh.seek(0)
        fh.write(text)
        fh.truncate()
    assert meta.stat().st_ino == before.st_ino
    assert_same(zarrs_cffi.read(str(path), 7), np.full(8, 4, "uint16"))


def test_same_bytes_same_size_same_mtime(tmp_path: pathlib.Path) -> None:
    """Even with the file's timestamps forced back to their old values, the content check catches a
    rewrite that keeps the size (int16 -> uint8 keeps every byte count; only the name changes)."""
    path = tmp_path / "sneaky.zarr"
    with zarrs_cffi.create_array(path, shape=(4,), dtype="int16", chunks=(4,), fill_value=5) as arr:
        arr[...] = [-1, -2, -3, -4]
    assert_same(zarrs_cffi.read(str(path)), np.array([-1, -2, -3, -4], "int16"))
    meta = path / "zarr.json"
    st = meta.stat()
    text = meta.read_text()
    assert '"int16"' in text
    new_text = text.replace('"int16"', '"uint8"')
    assert len(new_text) == len(text)
    for chunk in (path / "c").rglob("*"):
        if chunk.is_file():
            chunk.unlink()
    with open(meta, "r+") as fh:
        fh.write(new_text)
    os.utime(meta, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert meta.stat().st_mtime_ns == st.st_mtime_ns and meta.stat().st_size == st.st_size
    assert_same(zarrs_cffi.read(str(path)), np.full(4, 5, "uint8"))


@pytest.mark.parametrize(
    ("first", "second"),
    [(("int16", 1), ("uint8", 1)), (("uint16", 1), ("uint16", 2)), (("int16", 7), ("uint8", 9))],
    ids=["dtype", "fill", "both"],
)
def test_coarse_timestamps_are_covered(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, first: tuple[str, int], second: tuple[str, int]
) -> None:
    """On a filesystem with coarse timestamps, a recreation within the same tick leaves mtime, ctime
    and (after inode reuse) the inode unchanged, and same-length JSON keeps the size. Simulate that
    by making the stat signature see only the size: the cache must still notice the new document."""
    monkeypatch.setattr(functional, "_signature", lambda st: (0, 0, st.st_size, 0))
    path = str(tmp_path / "coarse.zarr")
    for _ in range(3):
        for dtype, fill in (first, second):
            _recreate(path, dtype, fill, 100)
            expected = np.full((8, 8), fill, dtype)
            expected[:4] = 100
            assert_same(zarrs_cffi.read(path), expected)
    sizes = set()
    for dtype, fill in (first, second):
        _recreate(path, dtype, fill, 1)
        sizes.add(os.path.getsize(os.path.join(path, "zarr.json")))
    assert len(sizes) == 1, "the two documents must have the same length for this test to bite"


def test_recreated_with_other_shape(tmp_path: pathlib.Path, open_calls: list[str]) -> None:
    path = str(tmp_path / "shape.zarr")
    zarrs_cffi.create_array(path, shape=(8, 8), dtype="int32", chunks=(4, 4), fill_value=1).close()
    assert zarrs_cffi.read(path).shape == (8, 8)
    zarrs_cffi.create_array(
        path, shape=(9, 8), dtype="int32", chunks=(4, 4), fill_value=1, overwrite=True
    ).close()
    assert_same(zarrs_cffi.read(path), np.ones((9, 8), "int32"))
    assert len(open_calls) == 2


def test_deleted_array_is_not_served_from_cache(arange_path: str) -> None:
    assert_same(zarrs_cffi.read(arange_path), ARANGE_8X8)
    for dirpath, _, files in os.walk(arange_path, topdown=False):
        for f in files:
            os.unlink(os.path.join(dirpath, f))
        os.rmdir(dirpath)
    with pytest.raises(zarrs_cffi.NodeNotFoundError):
        zarrs_cffi.read(arange_path)


def test_v2_array(tmp_path: pathlib.Path, open_calls: list[str]) -> None:
    zarr = import_zarr_or_skip()
    path = str(tmp_path / "v2.zarr")
    z = zarr.create_array(store=path, shape=(5,), chunks=(2,), dtype=">i4", zarr_format=2, fill_value=-1)
    z[:3] = [1, 2, 3]
    assert_same(zarrs_cffi.read(path), np.array([1, 2, 3, -1, -1], "int32"))
    assert_same(zarrs_cffi.read(path, np.s_[::-2]), np.array([-1, 3, 1], "int32"))
    assert len(open_calls) == 1
    # Recreate as v2 with another dtype: .zarray changes, the cache must notice.
    z = zarr.create_array(
        store=path, shape=(5,), chunks=(2,), dtype="<u1", zarr_format=2, fill_value=7, overwrite=True
    )
    assert_same(zarrs_cffi.read(path), np.full(5, 7, "uint8"))


def test_cache_is_bounded(tmp_path: pathlib.Path) -> None:
    paths = []
    for i in range(functional._CACHE_SIZE + 5):
        path = str(tmp_path / f"a{i}.zarr")
        zarrs_cffi.create_array(path, shape=(2,), dtype="uint8", chunks=(2,), fill_value=i).close()
        paths.append(path)
        assert_same(zarrs_cffi.read(path), np.full(2, i, "uint8"))
    assert len(functional._cache) <= functional._CACHE_SIZE
    # The oldest entries were evicted (and closed), but reading them again still works.
    assert_same(zarrs_cffi.read(paths[0]), np.full(2, 0, "uint8"))
