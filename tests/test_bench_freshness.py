"""The benchmark refuses a stale installed zarrs_cffi (bench/freshness.py)."""

import importlib.util
import shutil
from pathlib import Path

_SPEC = importlib.util.spec_from_file_location(
    "bench_freshness", Path(__file__).resolve().parents[1] / "bench" / "freshness.py"
)
assert _SPEC is not None and _SPEC.loader is not None
freshness = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(freshness)


def _package(root: Path) -> Path:
    package = root / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "lib").mkdir()
    (package / "__init__.py").write_text("x = 1\n")
    (package / "sub" / "mod.py").write_text("y = 2\n")
    (package / "lib" / "libzarrs_cffi.so").write_bytes(b"\x7fELF one")
    return package


def test_same_code_and_same_directory_are_fresh(tmp_path: Path) -> None:
    repo = _package(tmp_path / "repo")
    installed = tmp_path / "site" / "pkg"
    shutil.copytree(repo, installed)
    (installed / "_cffi_module.so").write_bytes(b"compiled at install")  # not compared
    assert freshness.differing_files(installed, repo) == []
    assert freshness.differing_files(repo, repo) == []


def test_changed_missing_and_rebuilt_files_are_named(tmp_path: Path) -> None:
    repo = _package(tmp_path / "repo")
    installed = tmp_path / "site" / "pkg"
    shutil.copytree(repo, installed)
    (repo / "sub" / "mod.py").write_text("y = 3\n")  # edited after the install
    (repo / "new.py").write_text("")  # added after the install
    (repo / "lib" / "libzarrs_cffi.so").write_bytes(b"\x7fELF two")  # rebuilt
    assert freshness.differing_files(installed, repo) == ["new.py", "sub/mod.py", "lib/libzarrs_cffi.so"]


def test_unbuilt_repository_compares_sources_only(tmp_path: Path) -> None:
    repo = _package(tmp_path / "repo")
    installed = tmp_path / "site" / "pkg"
    shutil.copytree(repo, installed)
    (repo / "lib" / "libzarrs_cffi.so").unlink()  # a clean clone before `make build`
    assert freshness.differing_files(installed, repo) == []
