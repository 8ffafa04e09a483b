"""The core imports and works without zarr-python; the parts built on it (engine="zarr") need Python
3.11+ and say so. Runs on every interpreter of ``make test-legacy``: the real error on 3.8-3.10 and
PyPy 3.9, a simulated one (the minimum raised past this interpreter) on 3.11+."""

from __future__ import annotations

import importlib
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import zarrs_cffi
from zarrs_cffi import UnsupportedPythonError, ZarrsError
from zarrs_cffi._compat import ZARR_PYTHON_MINIMUM, require_python, to_thread, zip_strict
from zarrs_cffi.crud import BackendUnavailableError


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )


def test_importing_the_core_imports_no_zarr_python() -> None:
    result = _run(
        """
        import sys
        import zarrs_cffi, zarrs_cffi.crud, zarrs_cffi.crud.aio, zarrs_cffi.cli
        loaded = sorted(m for m in sys.modules if m == "zarr" or m.startswith(("zarr.", "numcodecs", "xarray")))
        print(loaded)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_require_python_names_the_version_needed() -> None:
    require_python("anything", (3, 0))  # this interpreter is newer: no error
    with pytest.raises(UnsupportedPythonError, match=r"the widget needs Python 99\.1 or newer") as info:
        require_python("the widget", (99, 1))
    assert isinstance(info.value, ImportError) and isinstance(info.value, ZarrsError)
    assert sys.version.split()[0] in str(info.value)  # ... and which Python this is


def test_zarr_engine_refused_below_its_minimum() -> None:
    """The registry checks the engine's minimum before importing it (simulated past this interpreter)."""
    result = _run(
        """
        import zarrs_cffi
        from zarrs_cffi.crud import BackendUnavailableError, registry
        registry._MINIMUM_PYTHON["zarr"] = (99, 0)
        try:
            zarrs_cffi.open_array("unused.zarr", engine="zarr")
        except BackendUnavailableError as err:
            print(type(err.__cause__).__name__, "|", err)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("UnsupportedPythonError | the 'zarr' engine is not available")
    assert "needs Python 99.0 or newer" in result.stdout


@pytest.mark.skipif(sys.version_info[:2] >= ZARR_PYTHON_MINIMUM, reason="zarr-python can run here")
def test_zarr_engine_on_this_old_python(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "a.zarr")
    with zarrs_cffi.create_array(path, shape=(4,), dtype="int16", chunks=(2,)) as arr:
        arr[...] = np.arange(4)
    with pytest.raises(BackendUnavailableError, match=r"needs Python 3\.11 or newer") as info:
        zarrs_cffi.open_array(path, engine="zarr")
    assert isinstance(info.value.__cause__, UnsupportedPythonError)
    with pytest.raises(UnsupportedPythonError, match=r"needs Python 3\.11 or newer"):
        importlib.import_module("zarrs_cffi.engines.zarr_engine")
    # The native engine is unaffected.
    np.testing.assert_array_equal(zarrs_cffi.read(path), np.arange(4))


def test_zip_strict_rejects_unequal_lengths() -> None:
    assert list(zip_strict((1, 2), "ab")) == [(1, "a"), (2, "b")]
    with pytest.raises(ValueError):
        list(zip_strict((1, 2), "abc"))


def test_to_thread_runs_off_the_event_loop_thread() -> None:
    import asyncio
    import threading

    async def main() -> tuple[int, int]:
        return threading.get_ident(), await to_thread(threading.get_ident)

    loop_thread, worker_thread = asyncio.run(main())
    assert loop_thread != worker_thread
