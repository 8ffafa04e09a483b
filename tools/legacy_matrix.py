"""``make test-legacy``: the built wheel on every supported interpreter, with old and new numpy.

For each (interpreter, numpy) of the matrix: a fresh venv, the wheel for that interpreter (the
``cp38-abi3`` one on CPython, the ``pp39`` one on PyPy) installed with that exact numpy, then the
core test suite (tests/) run from outside the source tree, so the installed wheel is what is tested.
zarr-python is not installed there (it needs Python 3.11+): its test modules skip, and the oracle
arrays come from ``--oracle``, written once by the default interpreter (tests/oracle_data.py).

    python tools/legacy_matrix.py --wheels dist --oracle build/oracle [--matrix ci] [--only 3.8]

Exit status 0 only if every run passed; a summary table (and its wall time) is printed at the end.
"""

from __future__ import annotations

import argparse
import glob
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]

# numpy per interpreter: the oldest release this package supports that has a wheel there, the newest
# 1.x, and the newest 2.x (each only where it exists). Exact pins, so a run is repeatable.
NUMPY = {
    "3.8": ["1.24.0", "1.24.4"],
    "3.9": ["1.24.0", "1.26.4", "2.0.2"],
    "3.10": ["1.24.0", "1.26.4", "2.2.6"],
    "3.11": ["1.24.0", "1.26.4", "2.4.6"],
    "3.12": ["1.26.0", "1.26.4", "2.4.6"],
    "3.13": ["2.1.0", "2.4.6"],
    "pypy3.9": ["1.25.0", "1.26.4", "2.0.2"],  # PyPy 3.9 wheels start at numpy 1.25
}
# What CI runs (make test): the oldest CPython with the oldest numpy, and PyPy with its newest numpy;
# the default interpreter runs the whole suite in `make test` itself.
CI = [("3.8", "1.24.0"), ("pypy3.9", "2.0.2")]
# Test-only packages for the legacy venvs: the newest releases that still support Python 3.8.
TEST_REQUIREMENTS = ["pytest==8.3.5", "hypothesis==6.113.0"]
# The wheel's own build test needs the build toolchain; the matrix is itself that test.
IGNORED_TESTS = ["tests/reliability/test_wheel.py"]


def find_interpreter(version: str) -> str | None:
    """The executable for "3.8" (pyenv's, else on PATH) or "pypy3.9" (Debian's pypy3 or on PATH)."""
    if version.startswith("pypy"):
        for name in (version, "pypy3"):
            found = shutil.which(name)
            if found and _version_of(found) == version[len("pypy") :]:
                return found
        return None
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    candidates = sorted(glob.glob(os.path.join(root, "versions", f"{version}.*", "bin", f"python{version}")))
    candidates += [p for p in [shutil.which(f"python{version}")] if p]
    for candidate in candidates:
        if _version_of(candidate) == version:
            return candidate
    return None


def _version_of(python: str) -> str:
    proc = subprocess.run(
        [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True
    )
    return proc.stdout.strip()


def pick_wheel(wheels: pathlib.Path, version: str) -> pathlib.Path:
    pattern = "*-pp39-*.whl" if version.startswith("pypy") else "*-cp38-abi3-*.whl"
    found = sorted(wheels.glob(pattern))
    manylinux = [w for w in found if "manylinux" in w.name]
    if not (manylinux or found):
        raise SystemExit(f"no wheel matching {pattern} in {wheels} (run `make wheel`)")
    return (manylinux or found)[-1]


def run(cmd: list[str], log: pathlib.Path, **kw: object) -> int:
    with log.open("a") as fh:
        fh.write(f"$ {' '.join(cmd)}\n")
        fh.flush()
        return subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, **kw).returncode  # type: ignore[call-overload]


def one_run(
    python: str, version: str, numpy: str, wheel: pathlib.Path, oracle: pathlib.Path, work: pathlib.Path
) -> tuple[bool, str, pathlib.Path]:
    """Fresh venv + wheel + numpy==``numpy`` + the core suite. Returns (passed, summary, log)."""
    venv = work / f"venv-{version}-numpy{numpy}"
    log = work / f"{version}-numpy{numpy}.log"
    log.unlink(missing_ok=True)
    shutil.rmtree(venv, ignore_errors=True)
    vpy = str(venv / "bin" / "python")
    pip = [vpy, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--only-binary", "numpy"]
    steps = [
        [python, "-m", "venv", str(venv)],
        [*pip, str(wheel), f"numpy=={numpy}", *TEST_REQUIREMENTS],
        # The installed numpy must be the pinned one (a resolver may not silently pick another).
        [vpy, "-c", f"import numpy, zarrs_cffi; assert numpy.__version__ == '{numpy}', numpy.__version__"],
    ]
    for step in steps:
        if run(step, log, cwd=work) != 0:
            return False, f"setup failed: {' '.join(step[:4])}", log
    env = {**os.environ, "ZARRS_CFFI_ORACLE_DIR": str(oracle), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPATH", None)
    pytest = [vpy, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(REPO)]
    pytest += ["-c", str(REPO / "pyproject.toml"), str(REPO / "tests")]
    pytest += [f"--ignore={REPO / ignored}" for ignored in IGNORED_TESTS]
    if version.startswith("pypy"):
        # Debian's PyPy 3.9 once segfaulted compiling a test module's rewritten AST (pytest's
        # assertion rewriting, before any test ran); plain asserts import modules the usual way.
        pytest.append("--assert=plain")
    # cwd outside the source tree: `python -m` and `python -c` children must import the wheel's copy.
    passed = run(pytest, log, cwd=work, env=env) == 0
    tail = log.read_text().strip().splitlines()
    return passed, (tail[-1] if tail else "no output"), log


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--wheels", type=pathlib.Path, default=REPO / "dist")
    parser.add_argument("--oracle", type=pathlib.Path, required=True, help="written by tests/oracle_data.py")
    parser.add_argument("--matrix", choices=["full", "ci"], default="full")
    parser.add_argument("--only", action="append", default=[], help="interpreter(s) to run, e.g. 3.8")
    parser.add_argument("--workdir", type=pathlib.Path, default=None)
    args = parser.parse_args(argv)

    runs = [(v, n) for v, versions in NUMPY.items() for n in versions] if args.matrix == "full" else CI
    if args.only:
        runs = [(v, n) for v, n in runs if v in args.only]
    work = (args.workdir or pathlib.Path(tempfile.mkdtemp(prefix="zarrs-cffi-legacy-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    oracle = args.oracle.resolve()
    results = []
    started = time.monotonic()
    for version, numpy in runs:
        python = find_interpreter(version)
        run_started = time.monotonic()
        if python is None:
            results.append((version, numpy, False, "interpreter not found", None, 0.0))
        else:
            wheel = pick_wheel(args.wheels.resolve(), version)
            passed, summary, log = one_run(python, version, numpy, wheel, oracle, work)
            results.append((version, numpy, passed, summary, log, time.monotonic() - run_started))
        version_, numpy_, passed_, summary_, _, seconds = results[-1]
        print(
            f"{'PASS' if passed_ else 'FAIL'}  {version_:8} numpy {numpy_:7} {seconds:6.0f}s  {summary_}",
            flush=True,
        )
    print(f"\n{len(results)} runs in {time.monotonic() - started:.0f}s (logs and venvs in {work})")
    failed = [r for r in results if not r[2]]
    for version, numpy, _, summary, log, _ in failed:
        print(f"FAILED: {version} numpy {numpy}: {summary} (log: {log})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
