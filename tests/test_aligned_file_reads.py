"""The CPU-specific way of reading uncompressed chunk files (through a page-aligned buffer, for AMD
Zen 3/4's slow misaligned kernel copies), forced on and off with ZARRS_CFFI_ALIGNED_FILE_READS so
that every CPU runs both: the same bytes come back, into aligned and misaligned outputs."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import zarrs_cffi

READER = r"""
import sys, numpy as np, zarrs_cffi
arr = zarrs_cffi.open_array(sys.argv[1], "/")
raw = np.zeros(arr.nbytes + 64, dtype="uint8")
for shift in (0, 16, 3):  # the output starts 0, 16 or 3 bytes into its buffer
    out = raw[shift : shift + arr.nbytes].view(arr.dtype).reshape(arr.shape)
    arr.read_into(out, (slice(None),) * arr.ndim)
    np.save(sys.argv[2] + f"-{shift}.npy", out)
part = arr[5:70, 3:61]
np.save(sys.argv[2] + "-part.npy", part)
"""


@pytest.fixture(scope="module")
def raw_array(tmp_path_factory: pytest.TempPathFactory) -> tuple[pathlib.Path, np.ndarray]:
    path = tmp_path_factory.mktemp("aligned") / "raw.zarr"
    data = np.random.default_rng(3).integers(0, 2**31, size=(96, 80), dtype="int32")
    with zarrs_cffi.create_array(
        str(path), shape=data.shape, chunks=(32, 40), dtype="int32", compressors=None
    ) as arr:
        arr[...] = data
    return path, data


@pytest.mark.parametrize("forced", ["1", "0"])
def test_raw_reads_agree_with_and_without_the_aligned_detour(
    raw_array: tuple[pathlib.Path, np.ndarray], tmp_path: pathlib.Path, forced: str
) -> None:
    path, data = raw_array
    prefix = str(tmp_path / "out")
    env = {**os.environ, "ZARRS_CFFI_ALIGNED_FILE_READS": forced}
    subprocess.run([sys.executable, "-c", READER, str(path), prefix], env=env, check=True, timeout=120)
    for shift in (0, 16, 3):
        np.testing.assert_array_equal(np.load(f"{prefix}-{shift}.npy"), data)
    np.testing.assert_array_equal(np.load(f"{prefix}-part.npy"), data[5:70, 3:61])
