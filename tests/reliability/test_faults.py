"""Damaged stores and failing writes: each raises a typed ``ZarrsError`` naming the chunk or key,
never returns garbage as data, and a failed write leaves what is on disk untouched.
"""

from __future__ import annotations

import json
import os
import pathlib
import stat
import struct
import subprocess

import numpy as np
import pytest

import zarrs_cffi

from .conftest import run_python

RNG = np.random.default_rng(20240611)
DATA = (np.arange(16 * 16, dtype="int32").reshape(16, 16) * 3 + 1).astype("int32")
COMPRESSORS = {
    "zstd": "zstd",
    "gzip": "gzip",
    "blosc": "blosc",
    "crc32c": [{"name": "crc32c"}],
    "none": None,
}


def _make(path: pathlib.Path, compressors: object = "zstd", **kw: object) -> str:
    with zarrs_cffi.create_array(
        path, shape=(16, 16), dtype="int32", chunks=(8, 8), compressors=compressors, **kw
    ) as arr:
        arr[...] = DATA
    return str(path)


def _assert_names_key(exc: BaseException, key: str) -> None:
    assert isinstance(exc, zarrs_cffi.ZarrsError)
    assert f'"{key}"' in str(exc) or f"'{key}'" in str(exc), f"{key} not named in: {exc}"


def _every_read_fails(arr: zarrs_cffi.Array, coords: tuple[int, int], error: type, key: str) -> None:
    """Every kind of read touching the damaged chunk raises ``error`` naming ``key``: a read of
    part of an uncompressed chunk too, although its bytes may be intact (the file's size is
    checked before any part of it is read)."""
    region = (slice(coords[0] * 8, coords[0] * 8 + 8), slice(coords[1] * 8, coords[1] * 8 + 8))
    part = (region[0].start + 1, slice(region[1].start, region[1].start + 3))
    reads = {
        "read": lambda: arr.read(),
        "region": lambda: arr[region],
        "part-of-region": lambda: arr[part],
        "read_into": lambda: arr.read_into(np.empty((16, 16), "int32")),
        "read_chunk": lambda: arr.read_chunk(coords),
    }
    for name, call in reads.items():
        with pytest.raises(error) as info:
            call()
        _assert_names_key(info.value, key)
        assert info.value.code != 0, name


def _intact_elsewhere(arr: zarrs_cffi.Array, bad: tuple[int, int]) -> None:
    for i in range(2):
        for j in range(2):
            if (i, j) != bad:
                region = (slice(i * 8, i * 8 + 8), slice(j * 8, j * 8 + 8))
                np.testing.assert_array_equal(arr[region], DATA[region])


# --- damaged chunk files -------------------------------------------------------------------------------------
@pytest.mark.parametrize("codec", list(COMPRESSORS))
def test_truncated_chunk_raises_codec_error_naming_key(tmp_path: pathlib.Path, codec: str) -> None:
    path = _make(tmp_path / "t.zarr", COMPRESSORS[codec])
    chunk = pathlib.Path(path, "c", "0", "1")
    whole = chunk.read_bytes()
    for keep in (len(whole) // 2, 1, 0):
        chunk.write_bytes(whole[:keep])
        with zarrs_cffi.open_array(path) as arr:
            _every_read_fails(arr, (0, 1), zarrs_cffi.CodecError, "c/0/1")
            _intact_elsewhere(arr, (0, 1))
            # The encoded bytes are still there to inspect, exactly as stored.
            assert arr.read_encoded_chunk((0, 1)) == whole[:keep]


@pytest.mark.parametrize("codec", ["zstd", "gzip", "blosc", "crc32c"])
def test_random_chunk_bytes_raise_codec_error_naming_key(tmp_path: pathlib.Path, codec: str) -> None:
    path = _make(tmp_path / "r.zarr", COMPRESSORS[codec])
    chunk = pathlib.Path(path, "c", "1", "0")
    size = len(chunk.read_bytes())
    for n in (size, 3, 4096):
        chunk.write_bytes(RNG.bytes(n))
        with zarrs_cffi.open_array(path) as arr:
            _every_read_fails(arr, (1, 0), zarrs_cffi.CodecError, "c/1/0")
            _intact_elsewhere(arr, (1, 0))


def test_corrupt_chunk_through_the_chunk_cache(tmp_path: pathlib.Path) -> None:
    path = _make(tmp_path / "cc.zarr")
    chunk = pathlib.Path(path, "c", "1", "1")
    chunk.write_bytes(chunk.read_bytes()[:9])
    with zarrs_cffi.open_array(path, chunk_cache_bytes=2**20) as arr:
        for _ in range(2):  # the failure is not cached as data either
            _every_read_fails(arr, (1, 1), zarrs_cffi.CodecError, "c/1/1")
            _intact_elsewhere(arr, (1, 1))


def test_random_bytes_without_checksum_are_indistinguishable_from_data(tmp_path: pathlib.Path) -> None:
    """Documented limit: with no compressor and no checksum, same-size random bytes decode as data.
    Add ``{"name": "crc32c"}`` to the codecs to detect such damage (see the test above)."""
    path = _make(tmp_path / "n.zarr", None)
    noise = RNG.bytes(8 * 8 * 4)
    pathlib.Path(path, "c", "0", "0").write_bytes(noise)
    with zarrs_cffi.open_array(path) as arr:
        np.testing.assert_array_equal(arr[0:8, 0:8], np.frombuffer(noise, "<i4").reshape(8, 8))


def test_wrong_size_uncompressed_chunk_is_caught(tmp_path: pathlib.Path) -> None:
    path = _make(tmp_path / "n.zarr", None)
    chunk = pathlib.Path(path, "c", "0", "0")
    chunk.write_bytes(chunk.read_bytes() + b"tail")
    with zarrs_cffi.open_array(path) as arr:
        _every_read_fails(arr, (0, 0), zarrs_cffi.CodecError, "c/0/0")


def test_partial_read_of_checksummed_chunk_validates_checksum(tmp_path: pathlib.Path) -> None:
    path = _make(tmp_path / "c.zarr", COMPRESSORS["crc32c"])
    chunk = pathlib.Path(path, "c", "0", "0")
    chunk.write_bytes(RNG.bytes(len(chunk.read_bytes())))
    with zarrs_cffi.open_array(path) as arr, pytest.raises(zarrs_cffi.CodecError, match="c/0/0"):
        arr[1, 0:3]


def test_chunk_path_that_is_a_directory(tmp_path: pathlib.Path) -> None:
    """A directory at a chunk key holds no chunk: it reads as the fill value, as zarr-python's
    LocalStore reads it and as an object store reads a key that only prefixes others (it was a
    StorageError on some read paths, a 'corrupt chunk of 4096 bytes' on others). A write cannot
    replace the directory: a StorageError naming the key."""
    path = _make(tmp_path / "d.zarr")
    chunk = pathlib.Path(path, "c", "1", "1")
    chunk.unlink()
    chunk.mkdir()
    with zarrs_cffi.open_array(path) as arr:
        assert (arr.read_chunk((1, 1)) == arr.fill_value).all()
        assert (arr[8:16, 8:16] == arr.fill_value).all()
        assert arr.read_encoded_chunk((1, 1)) is None
        with pytest.raises(zarrs_cffi.StorageError) as info:
            arr.write_chunk((1, 1), np.ones((8, 8), "int32"))
        _assert_names_key(info.value, "c/1/1")
        assert chunk.is_dir()
        _intact_elsewhere(arr, (1, 1))


def test_partial_write_over_corrupt_chunk_leaves_it_untouched(tmp_path: pathlib.Path) -> None:
    path = _make(tmp_path / "p.zarr")
    chunk = pathlib.Path(path, "c", "0", "1")
    damaged = chunk.read_bytes()[:7]
    chunk.write_bytes(damaged)
    with zarrs_cffi.open_array(path) as arr:
        with pytest.raises(zarrs_cffi.CodecError, match=r"c/0/1"):
            arr[0:2, 8:10] = 3  # read-modify-write cannot decode the old chunk
        assert chunk.read_bytes() == damaged  # not replaced by fill + the new values
        arr[0:8, 8:16] = 5  # a whole-chunk write does not need the old bytes
        assert (arr[0:8, 8:16] == 5).all()


def test_partial_write_over_corrupt_chunk_names_the_key(tmp_path: pathlib.Path) -> None:
    path = _make(tmp_path / "p.zarr")
    chunk = pathlib.Path(path, "c", "0", "1")
    chunk.write_bytes(chunk.read_bytes()[:7])
    with zarrs_cffi.open_array(path) as arr, pytest.raises(zarrs_cffi.CodecError) as info:
        arr[0:2, 8:10] = 3
    _assert_names_key(info.value, "c/0/1")


# --- sharded arrays -------------------------------------------------------------------------------------------
def _crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def _make_sharded(path: pathlib.Path) -> str:
    """16x16 int32, shards 8x8 of 4x4 inner chunks, index at the end (bytes + crc32c)."""
    with zarrs_cffi.create_array(
        path, shape=(16, 16), dtype="int32", chunks=(4, 4), shards=(8, 8), fill_value=-1
    ) as arr:
        arr[...] = DATA
    return str(path)


def _rewrite_index(shard: pathlib.Path, entries: list[int]) -> None:
    """Replace the shard's index (4 inner chunks: offset, length pairs) with a valid checksum."""
    body = shard.read_bytes()[: -(8 * 8 + 4)]
    index = struct.pack("<8Q", *entries)
    shard.write_bytes(body + index + struct.pack("<I", _crc32c(index)))


def _index(shard: pathlib.Path) -> list[int]:
    return list(struct.unpack("<8Q", shard.read_bytes()[-(8 * 8 + 4) : -4]))


def test_crc32c_helper() -> None:
    assert _crc32c(b"123456789") == 0xE3069283


def test_missing_shard_and_missing_inner_chunk_read_as_fill(tmp_path: pathlib.Path) -> None:
    path = _make_sharded(tmp_path / "s.zarr")
    with zarrs_cffi.open_array(path) as arr:
        arr[0:4, 0:4] = -1  # an inner chunk equal to the fill value is not stored
        assert _index(pathlib.Path(path, "c", "0", "0"))[:2] == [2**64 - 1] * 2
        os.remove(pathlib.Path(path, "c", "1", "1"))
        expected = DATA.copy()
        expected[0:4, 0:4] = -1
        expected[8:, 8:] = -1
        np.testing.assert_array_equal(arr.read(), expected)
        np.testing.assert_array_equal(arr.read_chunk((1, 1)), np.full((8, 8), -1, "int32"))
        np.testing.assert_array_equal(arr[9:11, 3:12], expected[9:11, 3:12])
        assert arr.read_encoded_chunk((1, 1)) is None


@pytest.mark.parametrize(
    ("label", "change"),
    [
        ("offset past the end", lambda idx, size: [size + 1000, idx[1], *idx[2:]]),
        ("length past the end", lambda idx, size: [idx[0], 10**6, *idx[2:]]),
        ("range ends one byte late", lambda idx, size: [idx[0], size - idx[0] + 1, *idx[2:]]),
        ("length 4 GiB", lambda idx, size: [0, 2**32, *idx[2:]]),
    ],
)
def test_shard_index_pointing_outside_its_file(tmp_path: pathlib.Path, label: str, change: object) -> None:
    path = _make_sharded(tmp_path / "s.zarr")
    shard = pathlib.Path(path, "c", "0", "1")
    _rewrite_index(shard, change(_index(shard), len(shard.read_bytes())))  # type: ignore[operator]
    with zarrs_cffi.open_array(path) as arr:
        _every_read_fails(arr, (0, 1), zarrs_cffi.CodecError, "c/0/1")
        _intact_elsewhere(arr, (0, 1))


def test_shard_index_checksum_and_truncation(tmp_path: pathlib.Path) -> None:
    path = _make_sharded(tmp_path / "s.zarr")
    shard = pathlib.Path(path, "c", "1", "0")
    whole = shard.read_bytes()
    shard.write_bytes(whole[:-1] + bytes([whole[-1] ^ 0x40]))  # index checksum no longer matches
    with zarrs_cffi.open_array(path) as arr:
        _every_read_fails(arr, (1, 0), zarrs_cffi.CodecError, "c/1/0")
    for keep in (60, 1, 0):  # smaller than the index itself
        shard.write_bytes(whole[:keep])
        with zarrs_cffi.open_array(path) as arr:
            _every_read_fails(arr, (1, 0), zarrs_cffi.CodecError, "c/1/0")
            _intact_elsewhere(arr, (1, 0))


def test_shard_index_offset_overflow_is_a_codec_error(tmp_path: pathlib.Path) -> None:
    path = _make_sharded(tmp_path / "s.zarr")
    shard = pathlib.Path(path, "c", "0", "1")
    idx = _index(shard)
    _rewrite_index(shard, [2**64 - 2, 5, *idx[2:]])
    with zarrs_cffi.open_array(path) as arr:
        _every_read_fails(arr, (0, 1), zarrs_cffi.CodecError, "c/0/1")


@pytest.mark.parametrize(
    "read",
    [
        pytest.param("arr[0:4, 8:12]", id="region"),
        pytest.param("arr.read()", id="whole-array"),
        pytest.param("arr.read_chunk((0, 1))", id="read_chunk"),
    ],
)
def test_shard_index_with_huge_length_does_not_abort(tmp_path: pathlib.Path, read: str) -> None:
    path = _make_sharded(tmp_path / "s.zarr")
    shard = pathlib.Path(path, "c", "0", "1")
    idx = _index(shard)
    _rewrite_index(shard, [idx[0], 2**46, *idx[2:]])  # 64 TiB: no allocator grants that
    code = (
        "import sys, zarrs_cffi\n"
        "arr = zarrs_cffi.open_array(sys.argv[1])\n"
        "try:\n"
        f"    {read}\n"
        "except zarrs_cffi.CodecError as exc:\n"
        "    print('TYPED', exc)\n"
    )
    proc = run_python(code, path, timeout=60, env={"RUST_BACKTRACE": "0"})
    assert proc.returncode == 0, f"process died with {proc.returncode}: {proc.stderr[-500:]}"
    assert "TYPED" in proc.stdout and '"c/0/1"' in proc.stdout, proc.stdout + proc.stderr


# --- metadata --------------------------------------------------------------------------------------------------
def _metadata_cases(doc: dict[str, object], good: str) -> dict[str, tuple[bytes, type]]:
    grid = {"name": "regular", "configuration": {"chunk_shape": [0, 4]}}
    invalid = zarrs_cffi.InvalidMetadataError
    return {
        "binary garbage": (b"\x00\xff\xfe garbage", invalid),
        "truncated": (good[: len(good) // 2].encode(), invalid),
        "empty": (b"", invalid),
        "utf-16": (good.encode("utf-16"), invalid),
        "a JSON list": (b"[1, 2, 3]", invalid),
        "negative shape": (json.dumps({**doc, "shape": [-1, 8]}).encode(), invalid),
        "shape of other rank": (json.dumps({**doc, "shape": [8]}).encode(), invalid),
        "unknown codec": (json.dumps({**doc, "codecs": [{"name": "nope"}]}).encode(), invalid),
        "zero chunk size": (json.dumps({**doc, "chunk_grid": grid}).encode(), invalid),
        "bad fill value": (json.dumps({**doc, "fill_value": "abc"}).encode(), invalid),
        "group document": (b'{"zarr_format": 3, "node_type": "group"}', invalid),
        "zarr_format 4": (json.dumps({**doc, "zarr_format": 4}).encode(), invalid),
        "unknown data type": (
            json.dumps({**doc, "data_type": "uint17"}).encode(),
            zarrs_cffi.UnsupportedDataTypeError,
        ),
    }


def test_corrupted_metadata_raises_typed_errors_naming_it(tmp_path: pathlib.Path) -> None:
    path = _make(tmp_path / "m.zarr")
    meta = pathlib.Path(path, "zarr.json")
    good = meta.read_text()
    held = zarrs_cffi.open_array(path)  # opened before the damage: keeps its parsed metadata
    for label, (content, error) in _metadata_cases(json.loads(good), good).items():
        meta.write_bytes(content)
        for opener in (zarrs_cffi.open_array, zarrs_cffi.read):
            with pytest.raises(error) as info:
                opener(path)
            text = str(info.value)
            assert "zarr.json" in text or 'array "/"' in text, f"{label}: {text}"
            assert path in text, f"{label}: {text}"
        with zarrs_cffi.Store(path) as store:
            if label in ("binary garbage", "truncated", "empty", "utf-16"):
                with pytest.raises(zarrs_cffi.InvalidMetadataError, match=r"zarr\.json"):
                    store.read_metadata("/")
    np.testing.assert_array_equal(held.read(), DATA)
    held.close()
    meta.write_text(good)
    np.testing.assert_array_equal(zarrs_cffi.read(path), DATA)


def test_missing_metadata_is_node_not_found(tmp_path: pathlib.Path) -> None:
    path = _make(tmp_path / "m.zarr")
    os.remove(pathlib.Path(path, "zarr.json"))
    with pytest.raises(zarrs_cffi.NodeNotFoundError, match="no array") as info:
        zarrs_cffi.open_array(path)
    assert isinstance(info.value, FileNotFoundError)


# --- failing writes --------------------------------------------------------------------------------------------------
def _root_bypasses_permissions(directory: pathlib.Path) -> bool:
    probe = directory / ".probe"
    try:
        probe.write_bytes(b"x")
    except PermissionError:
        return False
    probe.unlink()
    return True


def test_read_only_store_directory(tmp_path: pathlib.Path) -> None:
    path = _make(tmp_path / "ro.zarr", None)
    chunk_dir = pathlib.Path(path, "c", "0")
    before = {p: p.read_bytes() for p in chunk_dir.iterdir()}
    modes = {p: p.stat().st_mode for p in (pathlib.Path(path), pathlib.Path(path, "c"), chunk_dir)}
    for p in modes:
        p.chmod(0o555)
    try:
        if _root_bypasses_permissions(chunk_dir):
            pytest.skip(
                "running with CAP_DAC_OVERRIDE (root): directory permissions are not enforced; "
                "test_full_disk_* covers failing writes instead"
            )
        with zarrs_cffi.open_array(path) as arr:
            with pytest.raises(zarrs_cffi.StorageError) as info:
                arr.write_chunk((0, 1), np.zeros((8, 8), "int32") + 9)
            _assert_names_key(info.value, "c/0/1")
            np.testing.assert_array_equal(arr.read(), DATA)
        assert {p: p.read_bytes() for p in chunk_dir.iterdir()} == before
    finally:
        for p, mode in modes.items():
            p.chmod(stat.S_IMODE(mode))


_FULL_DISK = """
import json, os, resource, signal, sys
import numpy as np, zarrs_cffi

path, limit = sys.argv[1], int(sys.argv[2])
arr = zarrs_cffi.open_array(path)  # opened before the limit: reading metadata needs no writes
shape = arr.chunk_shape()
rng = np.random.default_rng(7)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # so a too-large write fails with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

def noise():
    return rng.integers(0, 2**31 - 1, shape, dtype="int32")

attempts = {
    "write_chunk existing": lambda: arr.write_chunk((0, 0), noise()),
    "write_chunk new": lambda: arr.write_chunk((1, 1), noise()),
    "region covering a chunk": lambda: arr.write((slice(0, shape[0]), slice(0, shape[1])), noise()),
    "partial region": lambda: arr.write((slice(0, 1), slice(0, 2)), 5),
    "create node": lambda: zarrs_cffi.create_group(path + "/sub", attributes={"pad": "x" * 2 * limit}),
}
for label, call in attempts.items():
    try:
        call()
        result = {"label": label, "error": None}
    except Exception as exc:
        result = {"label": label, "error": type(exc).__name__, "typed": isinstance(exc, zarrs_cffi.ZarrsError),
                  "message": str(exc)}
    print(json.dumps(result), flush=True)
"""


@pytest.mark.parametrize("sharded", [False, True], ids=["chunks", "shards"])
def test_full_disk_write_fails_typed_and_keeps_old_bytes(tmp_path: pathlib.Path, sharded: bool) -> None:
    """A file size limit (RLIMIT_FSIZE, SIGXFSZ ignored) stands in for a full disk."""
    path = str(tmp_path / "full.zarr")
    kw = {"chunks": (32, 32), "shards": (64, 64)} if sharded else {"chunks": (64, 64)}
    with zarrs_cffi.create_array(path, shape=(128, 128), dtype="int32", compressors=None, **kw) as arr:
        original = RNG.integers(0, 2**31 - 1, (128, 128), dtype="int32")  # incompressible, 16 KiB/chunk
        arr[...] = original
    files = sorted(p for p in pathlib.Path(path).rglob("*") if p.is_file())
    before = {p: p.read_bytes() for p in files}
    proc = run_python(_FULL_DISK, path, "4096", timeout=60)
    assert proc.returncode == 0, f"subprocess died ({proc.returncode}): {proc.stderr[-2000:]}"
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(results) == 5, proc.stdout + proc.stderr
    for result in results:
        assert result["error"] == "StorageError" and result["typed"], result
        assert "File too large" in result["message"] and "unchanged" in result["message"], result
        key = (
            "zarr.json"
            if result["label"] == "create node"
            else ("c/1/1" if "new" in result["label"] else "c/0/0")
        )
        assert f'"{key}"' in result["message"], result
    # Nothing on disk changed, and no temporary files were left behind.
    after_files = sorted(p for p in pathlib.Path(path).rglob("*") if p.is_file())
    assert after_files == files, set(after_files) ^ set(files)
    assert {p: p.read_bytes() for p in files} == before
    with zarrs_cffi.open_array(path) as arr:
        np.testing.assert_array_equal(arr.read(), original)


def test_subprocess_helper_reports_signals() -> None:
    proc = run_python("import os, signal; os.kill(os.getpid(), signal.SIGABRT)")
    assert proc.returncode == -6
    assert isinstance(proc, subprocess.CompletedProcess)
