"""``python -m zarrs_cffi info PATH [NODE]`` and ``python -m zarrs_cffi demo DIR --size N``."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
from zarr_oracle import import_zarr_or_skip, stored_file_bytes

import zarrs_cffi


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zarrs_cffi", *args], capture_output=True, text=True, timeout=timeout
    )


def _rows(stdout: str) -> dict[str, str]:
    """``key  value`` rows; a key may hold one space ("chunk grid"), columns are split by 2+ spaces."""
    rows = {}
    for line in stdout.splitlines():
        parts = re.split(r"\s{2,}", line.strip(), maxsplit=1)
        if len(parts) == 2:
            rows[parts[0]] = parts[1]
    return rows


def test_info_v3(tmp_path: pathlib.Path) -> None:
    zarr = import_zarr_or_skip()
    from zarr.codecs import ZstdCodec

    path = tmp_path / "a.zarr"
    z = zarr.create_array(
        store=str(path), shape=(10, 7), chunks=(4, 3), dtype="uint16", fill_value=5, compressors=ZstdCodec()
    )
    z[:6] = np.arange(42, dtype="uint16").reshape(6, 7)
    result = run_cli("info", str(path))
    assert result.returncode == 0, result.stderr
    rows = _rows(result.stdout)
    assert rows["shape"] == "(10, 7)"
    assert rows["dtype"] == "uint16"
    assert rows["chunks"] == "(4, 3)"
    assert rows["shards"] == "None"
    assert rows["chunk grid"] == "(3, 3)"
    assert rows["codecs"] == "bytes, zstd"
    assert rows["fill value"] == "5", rows["fill value"]  # not numpy's repr, np.uint16(5)
    assert rows["zarr_format"] == "3"
    stored = int(rows["stored"].split()[0].replace(",", ""))
    assert stored == stored_file_bytes(path)
    assert rows["size"].startswith("140 bytes")


def test_info_sharded_node_in_group(tmp_path: pathlib.Path) -> None:
    zarr = import_zarr_or_skip()
    from zarr.codecs import BloscCodec

    root = tmp_path / "root.zarr"
    group = zarr.open_group(str(root), mode="w")
    z = group.create_array(
        "sub/t",
        shape=(16, 16),
        chunks=(4, 4),
        shards=(8, 8),
        dtype="float32",
        fill_value=float("nan"),
        compressors=BloscCodec(cname="lz4"),
        attributes={"units": "K", "long_name": "temperature"},
    )
    z[...] = 1.5
    result = run_cli("info", str(root), "/sub/t")
    assert result.returncode == 0, result.stderr
    rows = _rows(result.stdout)
    assert rows["shape"] == "(16, 16)"
    assert rows["dtype"] == "float32"
    assert rows["chunks"] == "(4, 4)"
    assert rows["shards"] == "(8, 8)"
    assert rows["codecs"].startswith("sharding_indexed[") and "blosc" in rows["codecs"]
    assert "nan" in rows["fill value"]
    assert int(rows["stored"].split()[0].replace(",", "")) == stored_file_bytes(root / "sub" / "t")
    assert "long_name" in rows["attributes"] and "units" in rows["attributes"]


def test_info_v2(tmp_path: pathlib.Path) -> None:
    zarr = import_zarr_or_skip()
    path = tmp_path / "v2.zarr"
    zarr.create_array(store=str(path), shape=(5,), chunks=(2,), dtype=">f8", zarr_format=2, fill_value=2.5)
    result = run_cli("info", str(path))
    assert result.returncode == 0, result.stderr
    rows = _rows(result.stdout)
    assert rows["zarr_format"] == "2"
    assert rows["dtype"] == "float64"
    assert rows["chunks"] == "(2,)"
    assert "2.5" in rows["fill value"]


def test_info_missing_path_fails_cleanly(tmp_path: pathlib.Path) -> None:
    result = run_cli("info", str(tmp_path / "nothing.zarr"))
    assert result.returncode == 1
    assert "NodeNotFoundError" in result.stderr and "nothing.zarr" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_command_is_usage_error() -> None:
    result = run_cli()
    assert result.returncode == 2
    assert "usage" in result.stderr


def test_demo(tmp_path: pathlib.Path) -> None:
    out_dir = tmp_path / "demo"
    result = run_cli("demo", str(out_dir), "--size", "64")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert re.search(r"read_into\(.*matches what was written", result.stdout), result.stdout
    assert "done" in result.stdout
    # What the demo wrote is a real Zarr array that zarr-python can read.
    zarr = import_zarr_or_skip()
    z = zarr.open_array(str(out_dir / "temperature"), mode="r")
    assert z.shape == (64, 64, 16)
    assert z.dtype == np.dtype("uint16")
    data = np.asarray(z[...])
    assert 1000 < float(data.mean()) < 3000
    assert dict(zarr.open_group(str(out_dir), mode="r").attrs) == {"title": "zarrs-cffi demo"}


@pytest.mark.parametrize("spelling", ["path", "file:///", "file:/"])
def test_demo_keeps_a_directory_it_did_not_write(tmp_path: pathlib.Path, spelling: str) -> None:
    """The demo replaces its directory's contents: a non-empty directory that holds no earlier demo
    (a user's files, another store) is refused and left as it was, however it is spelled (a file://
    URL passed the check and was emptied); an earlier demo is replaced."""
    mine = tmp_path / "mine"
    (mine / "sub").mkdir(parents=True)
    (mine / "notes.txt").write_text("keep me")
    (mine / "sub" / "data.csv").write_text("1,2")
    target = str(mine) if spelling == "path" else spelling + str(mine).lstrip("/")
    result = run_cli("demo", target, "--size", "8")
    assert result.returncode == 1, result.stdout
    assert "InvalidArgumentError" in result.stderr and "is not empty" in result.stderr
    assert sorted(p.relative_to(mine).as_posix() for p in mine.rglob("*")) == [
        "notes.txt",
        "sub",
        "sub/data.csv",
    ]
    store = tmp_path / "store.zarr"
    zarrs_cffi.create_group(store)
    zarrs_cffi.create_array(store, "/a", shape=(2,), dtype="u1", chunks=(2,))
    assert run_cli("demo", str(store), "--size", "8").returncode == 1
    assert (store / "a" / "zarr.json").exists()
    demo = tmp_path / "demo"
    for _ in range(2):  # an earlier demo (and an empty directory) may be replaced
        result = run_cli("demo", str(demo), "--size", "8")
        assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["s3://bucket/demo"], "the demo writes a local directory, not 's3://bucket/demo'"),
        (["memory://demo"], "the demo writes a local directory"),
        (["--size", "0"], "--size must be between 1 and 2048, got 0"),
        (["--size", "300000"], "--size must be between 1 and 2048, got 300000"),
    ],
)
def test_demo_refuses_what_it_cannot_do(args: list[str], message: str) -> None:
    """A remote store or a size that does not fit in memory is refused before anything is written
    (--size 300000 raised numpy's MemoryError, as a traceback, after replacing the directory)."""
    result = run_cli("demo", *args)
    assert result.returncode == 1, result.stdout
    assert message in result.stderr and "Traceback" not in result.stderr


def test_demo_refuses_a_file(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    result = run_cli("demo", str(target), "--size", "8")
    assert result.returncode == 1 and "is a file" in result.stderr, result.stderr
    assert target.read_text() == "keep me"
