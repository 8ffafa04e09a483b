"""Smoke tests: the package imports, the embedded zarrs is the pinned version, and the shipped header
and shared library declare and export every C function (upstream's and zarrs-cffi's own)."""

from __future__ import annotations

import ctypes
import os
import pathlib
import re
import shutil
import subprocess

import numpy as np
import pytest

import zarrs_cffi
from zarrs_cffi._native import ffi, lib

REPO = pathlib.Path(__file__).resolve().parents[1]
UPSTREAM_HEADER = REPO / "vendor" / "zarrs_ffi" / "upstream" / "zarrs_ffi" / "zarrs.h"
RUST_SOURCES = REPO / "vendor" / "zarrs_ffi" / "src"

_DECLARED = re.compile(r"\b(zarrs[A-Za-z0-9_]*)\s*\(")


def _header_text() -> str:
    return (pathlib.Path(zarrs_cffi.get_include()) / "zarrs_cffi.h").read_text()


def _declared(text: str, prefix: str) -> set[str]:
    # Strip comments first: doc comments mention functions in prose ("free with zarrsFreeString(...)").
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"^\s*#.*$", "", text, flags=re.M)  # macros such as zarrs_assert(expr)
    return {name for name in _DECLARED.findall(text) if name.startswith(prefix)}


def upstream_functions() -> set[str]:
    return _declared(UPSTREAM_HEADER.read_text(), "zarrs")


def cffi_functions_in_rust() -> set[str]:
    """Every ``zarrsCffi*`` function the crate exports (``#[unsafe(no_mangle)]`` + ``extern "C" fn``)."""
    names: set[str] = set()
    for source in RUST_SOURCES.rglob("*.rs"):
        names |= set(re.findall(r'extern\s+"C"\s+fn\s+(zarrsCffi\w+)\s*\(', source.read_text()))
    return names


def test_import_and_version() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", zarrs_cffi.__version__)
    for name in zarrs_cffi.__all__:
        assert hasattr(zarrs_cffi, name), name


def test_zarrs_version_pinned() -> None:
    version = zarrs_cffi.zarrs_version()
    assert version.startswith("0.23."), version
    parts = tuple(int(p) for p in version.split("."))
    assert parts >= (0, 23, 14), version
    # The same numbers as the library's own getters report.
    assert parts == (lib.zarrsVersionMajor(), lib.zarrsVersionMinor(), lib.zarrsVersionPatch())


def test_native_version_names_upstream_crate() -> None:
    text = zarrs_cffi.native_version()
    assert text.startswith(zarrs_cffi.__version__), text
    assert "zarrs_ffi" in text


def test_round_trip_smoke(tmp_path: pathlib.Path) -> None:
    data = np.arange(30, dtype="float32").reshape(5, 6)
    with zarrs_cffi.create_array(tmp_path / "a.zarr", shape=(5, 6), dtype="float32", chunks=(2, 4)) as arr:
        arr[...] = data
        np.testing.assert_array_equal(arr.read(), data)
    np.testing.assert_array_equal(zarrs_cffi.open_array(tmp_path / "a.zarr").read(), data)


def test_upstream_header_has_41_functions() -> None:
    names = upstream_functions()
    assert len(names) == 41, sorted(names)
    assert {"zarrsOpenArrayRW", "zarrsCreateArrayRW", "zarrsDestroyArray", "zarrsLastError"} <= names


def test_get_include_declares_every_upstream_function() -> None:
    header = _header_text()
    declared = _declared(header, "zarrs")
    missing = upstream_functions() - declared
    assert not missing, f"zarrs_cffi.h lacks upstream functions {sorted(missing)}"


def test_get_include_declares_every_zarrs_cffi_function() -> None:
    declared = {n for n in _declared(_header_text(), "zarrsCffi")}
    in_rust = cffi_functions_in_rust()
    assert in_rust, "found no zarrsCffi* functions in the Rust sources"
    assert in_rust == declared, (
        f"header and crate differ (rebuild with `make build`?): only in crate {sorted(in_rust - declared)}, "
        f"only in header {sorted(declared - in_rust)}"
    )


def test_cffi_module_binds_every_declared_function() -> None:
    declared = _declared(_header_text(), "zarrs")
    missing = {name for name in declared if not hasattr(lib, name)}
    assert not missing, sorted(missing)


def test_get_library_exports_every_declared_function() -> None:
    path = zarrs_cffi.get_library()
    assert os.path.isfile(path), path
    declared = _declared(_header_text(), "zarrs")
    assert len(declared) > 41
    so = ctypes.CDLL(path)
    missing = {name for name in declared if not hasattr(so, name)}
    assert not missing, f"{path} does not export {sorted(missing)}"


@pytest.mark.skipif(shutil.which("nm") is None, reason="nm not installed")
def test_get_library_dynamic_symbols_nm() -> None:
    out = subprocess.run(
        ["nm", "-D", "--defined-only", zarrs_cffi.get_library()], capture_output=True, text=True, check=True
    ).stdout
    exported = {line.split()[-1] for line in out.splitlines() if line.split() and line.split()[-2] in "TtWw"}
    declared = _declared(_header_text(), "zarrs")
    assert declared <= exported, sorted(declared - exported)


def test_one_library_instance() -> None:
    """The cffi module and C embedders use the same shared library (house style: one instance)."""
    maps = pathlib.Path("/proc/self/maps")
    if not maps.exists():
        pytest.skip("no /proc/self/maps")
    lib_path = os.path.realpath(zarrs_cffi.get_library())
    loaded = {line.split()[-1] for line in maps.read_text().splitlines() if "libzarrs_cffi" in line}
    assert loaded == {lib_path}, loaded


def test_ffi_strings_are_freed_through_library() -> None:
    # A message round trip through the library's own allocator must not crash.
    message = zarrs_cffi._native.take_string(lib.zarrsCffiLastError())
    assert isinstance(message, str)
    assert ffi.string(lib.zarrsCffiVersion()).decode() == zarrs_cffi.__version__
