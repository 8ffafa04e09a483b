"""The C embedding example reads from store URLs: S3 on moto, GCS and Azure on the loopback
servers (with options JSON), a plain HTTP server and a zip file,
whose writes fail with ZARRS_CFFI_ERROR_READ_ONLY and changes nothing."""

from __future__ import annotations

import json
import pathlib
import re
import sys
import zipfile

import numpy as np
import pytest

import zarrs_cffi
from zarrs_cffi._native import lib

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from loopback_server import PlainHandler, serve
from store_fixtures import make_place
from test_c_example import build_example, run_example


@pytest.fixture(scope="module")
def example() -> pathlib.Path:
    return build_example()


DATA = (np.arange(64, dtype="uint16").reshape(8, 8) * 3 + 11).astype("uint16")


def _region(stdout: str) -> list[int]:
    return [int(v) for v in re.findall(r"^region \d+ \d+ (\d+)$", stdout, flags=re.M)]


@pytest.mark.parametrize("kind", ["s3", "gcs", "azure"])
def test_example_reads_and_writes_object_stores(
    example: pathlib.Path, kind: str, tmp_path: pathlib.Path, request: pytest.FixtureRequest
) -> None:
    place = make_place(kind, tmp_path, request)
    url, options = place.url, place.options
    zarrs_cffi.create_array(url, shape=(8, 8), dtype="uint16", chunks=(4, 4), storage_options=options)[
        ...
    ] = DATA
    result = run_example(example, url, "/", json.dumps(options))
    assert result.returncode == 0, result.stderr
    assert _region(result.stdout) == DATA[:4, :4].ravel().tolist()
    expected = DATA.copy()
    expected[:4, :4] = 1000 + np.arange(16, dtype="uint16").reshape(4, 4)
    np.testing.assert_array_equal(zarrs_cffi.read(url, storage_options=options), expected)


def test_example_on_a_bad_option_reports_invalid_argument(example: pathlib.Path) -> None:
    result = run_example(example, "s3://bucket/x", "/", '{"endpiont": "http://127.0.0.1:1"}')
    assert result.returncode == 1
    code = int(lib.ZARRS_CFFI_ERROR_INVALID_ARGUMENT)
    assert f"zarrsCffiCreateStorageFromUrl failed with code {code}" in result.stderr
    assert "endpiont" in result.stderr


def test_example_reads_a_zip_file_and_cannot_write_it(example: pathlib.Path, tmp_path: pathlib.Path) -> None:
    directory = tmp_path / "d.zarr"
    zarrs_cffi.create_array(directory, shape=(8, 8), dtype="uint16", chunks=(4, 4))[...] = DATA
    archive = tmp_path / "d.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(directory).as_posix())
    before = archive.read_bytes()
    result = run_example(example, f"zip://{archive}", "/")
    assert _region(result.stdout) == DATA[:4, :4].ravel().tolist()
    assert result.returncode == 1
    code = int(lib.ZARRS_CFFI_ERROR_READ_ONLY)
    assert f"zarrsCffiArrayStoreChunk failed with code {code}" in result.stderr
    assert archive.read_bytes() == before


def test_example_reads_over_http_and_cannot_write(example: pathlib.Path, tmp_path: pathlib.Path) -> None:
    directory = tmp_path / "d.zarr"
    zarrs_cffi.create_array(directory, shape=(8, 8), dtype="uint16", chunks=(4, 4))[...] = DATA
    before = {p: p.read_bytes() for p in directory.rglob("*") if p.is_file()}
    with serve(directory, PlainHandler) as served:
        result = run_example(example, served.url, "/")
    assert _region(result.stdout) == DATA[:4, :4].ravel().tolist()
    assert result.returncode == 1
    code = int(lib.ZARRS_CFFI_ERROR_READ_ONLY)
    assert f"zarrsCffiArrayStoreChunk failed with code {code}" in result.stderr
    assert {p: p.read_bytes() for p in directory.rglob("*") if p.is_file()} == before
