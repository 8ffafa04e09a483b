"""The wheel on its own: installed into a fresh virtualenv with only its runtime dependencies
(cffi, numpy), it reads arrays from Python and serves C code built against ``get_include()`` /
``get_library()`` — from a directory outside the source tree, so nothing leaks in from here.

Building the wheel runs cargo (incremental) and the cffi build: tens of seconds, once per session.
"""

from __future__ import annotations

import configparser
import json
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap
import zipfile
from typing import Any

import numpy as np
import pytest

import zarrs_cffi

from .conftest import ARANGE, REPO

pytestmark = pytest.mark.slow

RUNTIME_DEPENDENCIES = {"numpy", "cffi"}
_NETWORK_TROUBLE = ("No matching distribution", "Could not find a version", "NewConnectionError", "Network")


def _run(cmd: list[str], *, timeout: float, cwd: pathlib.Path | None = None, **kw: Any) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd, **kw)
    if proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    if shutil.which("cargo") is None:
        pytest.skip("building the wheel needs cargo")
    outdir = tmp_path_factory.mktemp("wheel")
    # setuptools' scratch directories go to a private place (DIST_EXTRA_CONFIG), so a concurrent
    # `make wheel` or editable install in the source tree cannot delete them mid-build.
    scratch = outdir / "scratch"
    (scratch / "egg").mkdir(parents=True)
    config = outdir / "setup-extra.cfg"
    config.write_text(
        f"[build]\nbuild_base = {scratch / 'build'}\n"
        f"[egg_info]\negg_base = {scratch / 'egg'}\n"
        f"[bdist_wheel]\nbdist_dir = {scratch / 'bdist'}\n"
    )
    _run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(outdir)],
        cwd=REPO,
        timeout=1800,
        env={**os.environ, "DIST_EXTRA_CONFIG": str(config)},
    )
    wheels = list(outdir.glob("zarrs_cffi-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def wheel_venv(wheel: pathlib.Path, tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A fresh virtualenv holding the wheel and what pip pulls in for it (numpy, cffi)."""
    venv = tmp_path_factory.mktemp("wheelenv") / "venv"
    base_python = getattr(sys, "_base_executable", sys.executable)
    _run([base_python, "-m", "venv", str(venv)], timeout=180)
    python = venv / "bin" / "python"
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        if any(text in proc.stderr for text in _NETWORK_TROUBLE):
            pytest.skip(f"pip could not fetch numpy/cffi from the package index: {proc.stderr[-500:]}")
        raise AssertionError(f"pip install of the wheel failed:\n{proc.stderr[-3000:]}")
    return venv


def test_wheel_contents_and_metadata(wheel: pathlib.Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        requires = [
            line.split(":", 1)[1].strip()
            for line in zf.read(metadata).decode().splitlines()
            if line.startswith("Requires-Dist:")
        ]
        entry_points = zf.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    # `pip install` registers the codec pipeline and the xarray backend (their entry points).
    groups = configparser.ConfigParser()
    groups.read_string(entry_points)
    assert groups["zarr.codec_pipeline"]["zarrs_cffi"] == "zarrs_cffi.zarr_pipeline:ZarrsCffiCodecPipeline", (
        entry_points
    )
    assert "xarray.backends" in groups, entry_points
    assert "zarrs_cffi/lib/libzarrs_cffi.so" in names
    assert "zarrs_cffi/include/zarrs_cffi.h" in names
    assert any(n.startswith("zarrs_cffi/_zarrs_cffi.") and n.endswith(".so") for n in names)
    assert not any(n.startswith(("tests/", "vendor/", "bench/")) for n in names)
    unconditional = {
        r.split(";")[0].split(">")[0].split("=")[0].strip() for r in requires if "extra ==" not in r
    }
    assert unconditional == RUNTIME_DEPENDENCIES, requires


def test_fresh_venv_has_only_runtime_dependencies(wheel_venv: pathlib.Path) -> None:
    listed = json.loads(
        _run([str(wheel_venv / "bin" / "python"), "-m", "pip", "list", "--format=json"], timeout=120)
    )
    names = {p["name"].lower().replace("_", "-") for p in listed}
    # cffi's own dependency pycparser comes along; pip/setuptools are the venv's.
    assert names - {"pip", "setuptools", "wheel", "pycparser"} == {"zarrs-cffi", "numpy", "cffi"}


def test_wheel_python_read_and_c_example(wheel_venv: pathlib.Path, tmp_path: pathlib.Path) -> None:
    python = str(wheel_venv / "bin" / "python")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    # An array written by the development install; read by the wheel's install.
    store = outside / "data.zarr"
    with zarrs_cffi.create_array(store, "/t", shape=(8, 8), dtype="uint16", chunks=(4, 4)) as arr:
        arr[...] = ARANGE
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    probe = textwrap.dedent(
        """
        import json, sys, numpy as np, zarrs_cffi
        arr = zarrs_cffi.open_array(sys.argv[1], "/t")
        out = np.empty((4, 8), "uint16")
        zarrs_cffi.read_into(out, sys.argv[1] + "/t", (slice(2, 6),))
        print(json.dumps({
            "file": zarrs_cffi.__file__, "include": zarrs_cffi.get_include(),
            "library": zarrs_cffi.get_library(), "sum": int(arr.read().sum()),
            "rows": out[:, 0].tolist(), "modules": sorted(m.split(".")[0] for m in sys.modules),
        }))
        """
    )
    info = json.loads(_run([python, "-c", probe, str(store)], timeout=120, cwd=outside, env=env))
    site = str(wheel_venv)
    assert info["file"].startswith(site) and "site-packages" in info["file"], info["file"]
    assert info["library"].startswith(site) and os.path.exists(info["library"])
    assert info["sum"] == int(ARANGE.sum()) and info["rows"] == [16, 24, 32, 40]
    assert not {"zarr", "numcodecs", "pytest"} & set(info["modules"])

    # Build the C example with its own Makefile, against the wheel's header and library.
    build_dir = outside / "c"
    build_dir.mkdir()
    for name in ("Makefile", "read_write_example.c"):
        shutil.copy2(REPO / "csrc" / "examples" / name, build_dir / name)
    _run(["make", "-s", f"PYTHON={python}", "read_write_example"], cwd=build_dir, timeout=180, env=env)
    exe = build_dir / "read_write_example"
    ldd = _run(["ldd", str(exe)], timeout=60)
    linked = [line for line in ldd.splitlines() if "libzarrs_cffi" in line]
    assert linked and site in linked[0], ldd
    out = _run([str(exe), str(store), "/t"], timeout=120, cwd=outside, env=env)
    assert "region 3 1 25" in out and "wrote chunk 0 0 of 4x4" in out and "expected error" in out
    # What C wrote, Python in the wheel's venv reads back.
    check = (
        "import sys, zarrs_cffi; print(zarrs_cffi.open_array(sys.argv[1], '/t')[0:4, 0:4].ravel().tolist())"
    )
    values = json.loads(_run([python, "-c", check, str(store)], timeout=120, cwd=outside, env=env))
    assert values == list(range(1000, 1016))
    np.testing.assert_array_equal(zarrs_cffi.open_array(store, "/t")[4:, :], ARANGE[4:, :])
