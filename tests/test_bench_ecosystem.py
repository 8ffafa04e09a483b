"""The benchmark's xarray/dask rows (bench/ecosystem.py): the linked xarray dataset, the targets
and the report sections, on small synthetic inputs."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import zarrs_cffi

xr = pytest.importorskip("xarray")
BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture
def ecosystem(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import ecosystem as module

    yield module
    for name in ("ecosystem", "order"):
        sys.modules.pop(name, None)


@dataclass
class Spec:
    name: str
    shape: tuple
    description: str = "test"

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def nbytes(self):
        return int(np.prod(self.shape)) * 2


def test_xarray_dataset_links_the_arrays_and_can_be_remade(ecosystem, tmp_path):
    root = tmp_path / "full"
    cube = np.arange(4 * 6 * 8, dtype="u2").reshape(4, 6, 8)
    plane = np.arange(5 * 7, dtype="u2").reshape(5, 7)
    for name, data in (("cube", cube), ("plane", plane)):
        arr = zarrs_cffi.create_array(root, f"/{name}", shape=data.shape, dtype="u2", chunks=(2,) * data.ndim)
        arr.write((), data)
    specs = [Spec("cube", cube.shape), Spec("plane", plane.shape)]
    out = tmp_path / "full-xarray.zarr"
    for _ in range(2):  # remaking it must unlink, never follow, the chunk-directory links
        ecosystem.make_xarray_dataset(root, specs, out)
        np.testing.assert_array_equal(zarrs_cffi.open_array(root, "/cube").read(), cube)
    assert (out / "cube" / "c").is_symlink()
    ours = xr.open_dataset(out, engine="zarrs_cffi").load()
    xr.testing.assert_identical(ours, xr.open_dataset(out, engine="zarr").load())
    np.testing.assert_array_equal(ours.cube.values, cube)
    assert ours.plane.dims == ("row", "col") and list(ours.x.values) == [
        0.0,
        0.5,
        1.0,
        1.5,
        2.0,
        2.5,
        3.0,
        3.5,
    ]


def test_targets_and_report_sections(ecosystem):
    def cells(**times):
        return {
            k: ({"times": v, "error": None} if isinstance(v, list) else {"times": [], "error": v})
            for k, v in times.items()
        }

    xarray_run = {
        "dataset": ["cube"],
        "bytes": 2**20,
        "engines": cells(**{"zarrs_cffi": [1.0, 1.2, 0.8], "zarr": [4.0], "zarr+zarrs-python": [1.5]}),
    }
    dask_run = {
        "results": {
            "cube": {
                "threads": cells(**{"zarrs_cffi": [1.0], "zarr-python": [1.4], "tensorstore": "boom"}),
                "distributed": cells(**{"zarrs_cffi": [1.0], "zarr-python": [2.0], "tensorstore": [3.0]}),
            }
        },
        "overhead": {"cube": {"threads": {"blocks": 8, "per_block_s": 2e-4}}},
    }

    def row(target, ds, value, need, ok, note=""):
        return {"target": target, "value": value, "ok": ok}

    rows = ecosystem.target_rows(xarray_run, dask_run, row)
    assert [(r["value"], r["ok"]) for r in rows] == [
        ("1.50x vs zarr+zarrs-python", False),
        ("1.40x vs zarr-python", False),
        ("2.00x vs zarr-python", True),
    ]
    text = "\n".join(
        ecosystem.markdown(xarray_run, dask_run, lambda header, body: [str(header), *map(str, body)])
    )
    assert "failed: boom" in text and "200 us x 8 blocks" in text
    failed = ecosystem.target_rows({"error": "ImportError: no xarray"}, None, row)
    assert failed == [{"target": "xarray rows", "value": "-", "ok": None}]
