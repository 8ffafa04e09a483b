"""Whether the zarrs_cffi the benchmark imports is this repository's current code.

bench/.venv holds an installed copy of the package (bench/setup_env.sh, which `make bench` runs
first). Running ``bench/run.py`` by hand after changing the code would otherwise measure the copy
installed before the change, under the current commit's name.
"""

from __future__ import annotations

from pathlib import Path

REPO_PACKAGE = Path(__file__).resolve().parents[1] / "zarrs_cffi"
NATIVE_LIBRARY = Path("lib") / "libzarrs_cffi.so"


def differing_files(installed_package: Path, repo_package: Path = REPO_PACKAGE) -> list[str]:
    """The repository package's Python sources and built native library (when built) that are
    missing from ``installed_package`` or differ from the files there; [] if it is the same
    directory. The cffi extension module is not compared: each install compiles it anew."""
    installed_package, repo_package = installed_package.resolve(), repo_package.resolve()
    if installed_package == repo_package:
        return []
    compared = sorted(p.relative_to(repo_package) for p in repo_package.rglob("*.py"))
    if (repo_package / NATIVE_LIBRARY).exists():
        compared.append(NATIVE_LIBRARY)
    return [
        str(name)
        for name in compared
        if not (installed_package / name).is_file()
        or (installed_package / name).read_bytes() != (repo_package / name).read_bytes()
    ]
