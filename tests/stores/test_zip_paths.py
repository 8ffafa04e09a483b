"""Naming arrays inside zip archives: ``data.zip/group/array`` and ``zip:///abs/data.zip/group/array``
reach the array inside; a directory whose name ends in ``.zip`` is a plain, writable directory."""

from __future__ import annotations

import os
import pathlib
import zipfile

import numpy as np
import pytest

import zarrs_cffi


@pytest.fixture
def archive(tmp_path: pathlib.Path) -> pathlib.Path:
    directory = tmp_path / "h.zarr"
    zarrs_cffi.create_group(directory)
    zarrs_cffi.create_group(directory, "/g")
    zarrs_cffi.create_array(directory, "/g/a", shape=(5,), dtype="int32", chunks=(2,))[...] = np.arange(5)
    path = tmp_path / "h.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(directory.rglob("*")):
            if file.is_file():
                zf.write(file, file.relative_to(directory).as_posix())
    return path


def test_arrays_inside_an_archive_by_path_and_url(archive: pathlib.Path) -> None:
    np.testing.assert_array_equal(zarrs_cffi.read(f"{archive}/g/a"), np.arange(5))
    np.testing.assert_array_equal(zarrs_cffi.read(f"zip://{archive}/g/a", (slice(1, 3),)), [1, 2])
    with zarrs_cffi.Store(f"{archive}/g") as store:  # a group inside the archive as the store root
        assert store.read_only and store.root == f"zip://{archive}/g"
        assert [path for path, _ in store.list_children("/")] == ["a"]
    with pytest.raises(zarrs_cffi.ReadOnlyError):
        zarrs_cffi.write(f"{archive}/g/a", (0,), 9)


def test_a_directory_named_zip_is_a_directory(tmp_path: pathlib.Path) -> None:
    root = tmp_path / "dir.zip"
    os.mkdir(root)
    with zarrs_cffi.Store(root) as store:
        assert not store.read_only and store.location.local
    zarrs_cffi.create_array(root, "/a", shape=(3,), dtype="u1", chunks=(3,))[...] = [1, 2, 3]
    np.testing.assert_array_equal(zarrs_cffi.read(root / "a"), [1, 2, 3])


@pytest.mark.parametrize(
    "method",
    [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2],
    ids=["stored", "deflated", "bzip2"],
)
def test_every_compression_method_of_zipfile(tmp_path: pathlib.Path, method: int) -> None:
    """Members compressed with the methods the zip reader has (zstd too, which zipfile cannot
    write), a sharded array's partial reads included. Not ZIP_LZMA: the reader (rc-zip) takes only
    LZMA SDK 2.0 headers, zipfile writes 9.4 (a StorageError, see docs/guide/stores.md)."""
    zarr = pytest.importorskip("zarr")
    directory = tmp_path / "m.zarr"
    data = np.arange(24 * 20, dtype="int32").reshape(24, 20)
    zarr.create_array(str(directory), shape=data.shape, chunks=(4, 5), shards=(8, 10), dtype="int32")[...] = (
        data
    )
    path = tmp_path / "m.zip"
    with zipfile.ZipFile(path, "w", method) as zf:
        for file in sorted(directory.rglob("*")):
            if file.is_file():
                zf.write(file, file.relative_to(directory).as_posix())
    np.testing.assert_array_equal(zarrs_cffi.read(f"zip://{path}"), data)
    np.testing.assert_array_equal(zarrs_cffi.read(str(path), (slice(5, 7), slice(3, 14))), data[5:7, 3:14])


def test_an_lzma_member_is_named_with_its_method(tmp_path: pathlib.Path) -> None:
    """zipfile's ZIP_LZMA members cannot be decompressed here; the error names the member and its
    method (rc-zip's own message, "invalid local file header", read as a damaged archive). The
    other members of the same archive stay readable."""
    directory = tmp_path / "l.zarr"
    zarrs_cffi.create_array(directory, "/a", shape=(4,), dtype="int16", chunks=(2,))[...] = [1, 2, 3, 4]
    path = tmp_path / "l.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for file in sorted(directory.rglob("*")):
            if file.is_file():
                name = file.relative_to(directory).as_posix()
                # Only chunk (0,) of a is LZMA; the metadata and chunk (1,) are deflated.
                method = zipfile.ZIP_LZMA if name == "a/c/0" else zipfile.ZIP_DEFLATED
                zf.write(file, name, compress_type=method)
    np.testing.assert_array_equal(zarrs_cffi.read(f"{path}/a", (slice(2, 4),)), [3, 4])
    with pytest.raises(
        zarrs_cffi.StorageError, match=r"zip member a/c/0 of .*l\.zip is compressed with LZMA"
    ):
        zarrs_cffi.read(f"{path}/a")
    with zarrs_cffi.Store(f"{path}/a") as store, pytest.raises(
        zarrs_cffi.StorageError, match=r"zip member a/c/0 .* ZIP_STORED or ZIP_DEFLATED"
    ):
        zarrs_cffi.open_array(store).read()


def test_a_stored_member_that_fails_its_crc_is_a_storage_error(tmp_path: pathlib.Path) -> None:
    """Stored (uncompressed) members are read straight from the file: a whole-member read is checked
    against the CRC-32 the archive records, as zipfile and zarr-python's ZipStore check it; the other
    chunks still read."""
    directory = tmp_path / "c.zarr"
    arr = zarrs_cffi.create_array(directory, "/", shape=(8,), dtype="int32", chunks=(4,), compressors=None)
    arr[...] = np.full(8, 0x11111111, "int32")
    arr[4:] = 0x33333333
    path = tmp_path / "c.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for file in sorted(directory.rglob("*")):
            if file.is_file():
                zf.write(file, file.relative_to(directory).as_posix())
    raw = bytearray(path.read_bytes())
    raw[raw.index(b"\x11\x11\x11\x11")] = 0x22  # one byte of chunk 0's data; its recorded CRC stays
    path.write_bytes(bytes(raw))
    with pytest.raises(zipfile.BadZipFile, match="Bad CRC-32"):
        zipfile.ZipFile(path).read("c/0")  # the oracle
    with pytest.raises(zarrs_cffi.StorageError, match=r"zip member c/0 of .*c\.zip is corrupt: its CRC-32"):
        zarrs_cffi.read(path)
    with pytest.raises(zarrs_cffi.StorageError, match="is corrupt"):
        zarrs_cffi.read(path, (slice(0, 2),))
    np.testing.assert_array_equal(zarrs_cffi.read(path, (slice(4, 8),)), np.full(4, 0x33333333, "int32"))


def test_an_archive_replaced_while_open_is_read_as_it_was(tmp_path: pathlib.Path) -> None:
    """An open array keeps reading the archive it was opened on, as zarr-python's ZipStore does.
    It reopened the file by path for each read, and read the new archive at the old directory's
    offsets: with the members in another order, each shard's part read the other shard's bytes."""
    source = tmp_path / "src.zarr"
    arr = zarrs_cffi.create_array(
        source, shape=(16,), dtype="int64", chunks=(2,), shards=(8,), compressors=None
    )
    arr[...] = np.arange(16)

    def archive(path: pathlib.Path, shards: list[str]) -> None:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
            zf.write(source / "zarr.json", "zarr.json")
            for shard in shards:
                zf.write(source / "c" / shard, f"c/{shard}")

    archive(tmp_path / "a.zip", ["0", "1"])
    archive(tmp_path / "b.zip", ["1", "0"])
    with zarrs_cffi.open_array(tmp_path / "a.zip") as opened:
        np.testing.assert_array_equal(opened[8:10], [8, 9])
        os.replace(tmp_path / "b.zip", tmp_path / "a.zip")
        np.testing.assert_array_equal(opened[0:2], [0, 1])
        np.testing.assert_array_equal(opened[8:10], [8, 9])
        np.testing.assert_array_equal(opened[...], np.arange(16))


def test_a_zip_url_naming_a_directory_says_so(tmp_path: pathlib.Path) -> None:
    (tmp_path / "plain").mkdir()
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match="is a directory, not a zip file"):
        zarrs_cffi.Store(f"zip://{tmp_path / 'plain'}")


def test_stored_bytes_of_an_archive_counts_the_values_not_the_compressed_members(
    tmp_path: pathlib.Path,
) -> None:
    source = tmp_path / "src.zarr"
    zarrs_cffi.create_group(source)
    arr = zarrs_cffi.create_array(source, "/a", shape=(64,), dtype="int64", chunks=(16,), compressors=None)
    arr[...] = 0  # compresses well: deflate shrinks every member
    arr[0] = 1
    with zipfile.ZipFile(tmp_path / "d.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(source.rglob("*")):
            if file.is_file():
                zf.write(file, file.relative_to(source).as_posix())
    with zarrs_cffi.Store(source) as directory, zarrs_cffi.Store(tmp_path / "d.zip") as archive:
        assert archive.stored_bytes("/") == directory.stored_bytes("/")
        assert archive.stored_bytes("/a") == directory.stored_bytes("/a")
