"""Every Python example in README.md and docs/**/*.md runs, the C snippets build and run, and the
``>>>`` examples of the package's docstrings (shown in the API reference) run.

A page's ```python blocks run in order in one namespace (a later block may use what an earlier one
made), in a fresh temporary directory: the examples make their own data. A block whose info string
is ``python no-run`` is shown only (none should need it; this is for output samples).
C blocks (```c) are complete programs: they are compiled against the installed package's header and
library like ``make c-example`` does, and run with the arguments their first comment line names.
"""

from __future__ import annotations

import copy
import doctest
import importlib
import os
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import zarrs_cffi
import zarrs_cffi.crud.registry as registry

# The examples use zarr-python, xarray and dask beside the core: they run where those are installed
# (the default interpreter); the legacy interpreters' runs cover the core without them.
zarr = pytest.importorskip("zarr", reason="the documentation's examples need zarr-python (Python 3.11+)")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "docs" / "tools"))

from doc_snippets import blocks, pages  # noqa: E402


def _page_id(page: Path) -> str:
    return str(page.relative_to(REPO))


PYTHON_PAGES = [p for p in pages(REPO) if blocks(p, "python")]
C_PAGES = [p for p in pages(REPO) if blocks(p, "c")]


def test_examples_are_found() -> None:
    """The collector sees the README's examples and the docs' (a broken fence pattern finds none)."""
    names = {_page_id(p) for p in PYTHON_PAGES}
    assert "README.md" in names
    assert any(n.startswith("docs/") for n in names)
    assert C_PAGES, "no C snippet found in the docs"


@pytest.mark.parametrize("page", PYTHON_PAGES, ids=_page_id)
def test_python_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__doc_example__"}
    saved_config = copy.deepcopy(zarr.config.config)  # an example may set zarr's global config
    try:
        for line, code in blocks(page, "python"):
            try:
                exec(compile(code, f"{page}:{line}", "exec"), namespace)
            except Exception as exc:
                raise AssertionError(f"the example at {_page_id(page)} line {line} failed: {exc!r}") from exc
    finally:
        zarr.config.config.clear()
        zarr.config.config.update(saved_config)
        zarrs_cffi.clear_cache()  # read_into's cached handles point into tmp_path


README_BLOCKS = blocks(REPO / "README.md", "python")


@pytest.mark.parametrize("line, code", README_BLOCKS, ids=[f"README.md:{line}" for line, _ in README_BLOCKS])
def test_readme_examples_run_alone(
    line: int, code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each README example works when copied on its own into an empty directory."""
    monkeypatch.chdir(tmp_path)
    saved_config = copy.deepcopy(zarr.config.config)  # an example may set zarr's global config
    try:
        exec(compile(code, f"README.md:{line}", "exec"), {"__name__": "__doc_example__"})
    finally:
        zarr.config.config.clear()
        zarr.config.config.update(saved_config)
        zarrs_cffi.clear_cache()


def _compile(source: Path, exe: Path) -> None:
    compiler = os.environ.get("CC", "cc")
    if shutil.which(compiler) is None:
        pytest.skip("no C compiler")
    lib_dir = str(Path(zarrs_cffi.get_library()).parent)
    cmd = [
        compiler,
        "-std=c11",
        "-Wall",
        "-Wextra",
        "-Werror",
        f"-I{zarrs_cffi.get_include()}",
        "-o",
        str(exe),
    ]
    cmd += [str(source), f"-L{lib_dir}", "-lzarrs_cffi", f"-Wl,-rpath,{lib_dir}"]
    built = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, f"{source} does not compile:\n{built.stderr}"


@pytest.mark.parametrize("page", C_PAGES, ids=_page_id)
def test_c_snippets_build_and_run(page: Path, tmp_path: Path) -> None:
    """Each snippet compiles warning-free and runs on an array made here (exit status 0)."""
    root = tmp_path / "data.zarr"
    with zarrs_cffi.create_array(
        root, "/temperature", shape=(64, 64), dtype="uint16", chunks=(16, 16)
    ) as arr:
        arr[...] = 7
    for line, code in blocks(page, "c"):
        source = tmp_path / f"snippet_{line}.c"
        source.write_text(code)
        _compile(source, tmp_path / f"snippet_{line}")
        ran = subprocess.run(
            [str(tmp_path / f"snippet_{line}"), str(root), "/temperature"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert ran.returncode == 0, f"snippet at {_page_id(page)}:{line} failed:\n{ran.stdout}\n{ran.stderr}"


PACKAGE_MODULES = sorted(
    name
    for _, name, _ in pkgutil.walk_packages(zarrs_cffi.__path__, "zarrs_cffi.")
    if name != "zarrs_cffi.__main__"
)


@pytest.mark.parametrize("name", ["zarrs_cffi", *PACKAGE_MODULES])
def test_docstring_examples_run(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``>>>`` examples of every docstring (the API reference shows them) run, next to the
    ``data.zarr/temperature`` array they read (512 x 512 x 8 uint16), with ``np`` and ``zarrs_cffi``
    imported. Examples marked ``+SKIP`` need data they do not make (``meta``, another engine's store)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(registry, "_BACKENDS", dict(registry._BACKENDS))  # register_backend's example
    monkeypatch.setattr(registry, "_LAZY", dict(registry._LAZY))
    zarrs_cffi.create_array(
        "data.zarr", "/temperature", shape=(512, 512, 8), dtype="uint16", chunks=(256, 256, 8)
    ).close()
    threads = zarrs_cffi.get_num_threads()
    try:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:  # a module for an optional dependency that is not installed
            pytest.skip(f"{name} needs {exc.name}: {exc}")
        finder = doctest.DocTestFinder(exclude_empty=True)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
        for test in finder.find(module, name, extraglobs={"np": np, "zarrs_cffi": zarrs_cffi}):
            runner.run(test)
        assert runner.failures == 0, f"{runner.failures} docstring example(s) of {name} failed (output above)"
    finally:
        zarrs_cffi.set_num_threads(threads)
        zarrs_cffi.clear_cache()
