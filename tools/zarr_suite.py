"""Run zarr-python's own test suite with zarr's default codec pipeline and with ours, and compare.

    python tools/zarr_suite.py [--modules ...] [--workdir .zarr-suite]

zarr-python ships its tests in its sdist: the sdist of the *installed* zarr version is downloaded
with pip (once, cached in the work directory), its ``tests/`` run twice against the installed zarr
(once as it is, once with ``ZARR_CODEC_PIPELINE__PATH=zarrs_cffi.ZarrsCffiCodecPipeline``), and
both pass/fail counts are printed. Exit status 1 if a test that passes with the default pipeline
does not pass with ours, unless docs/zarr-suite.md lists it (one ``- `test id` — reason`` line
each, under "Expected differences").
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tarfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parent.parent
EXPECTED_DIFFERENCES = REPO / "docs" / "zarr-suite.md"
PIPELINE = "zarrs_cffi.ZarrsCffiCodecPipeline"

# Every module that exercises chunk I/O (reads, writes, indexing, codecs, sharding, v2, groups, the
# API, the property tests). Left out: stores, dtype and metadata unit tests, CLI, docs, benchmarks,
# config defaults (those assert the default pipeline's name).
MODULES = [
    "tests/test_array.py",
    "tests/test_indexing.py",
    "tests/test_codecs",
    "tests/test_v2.py",
    "tests/test_group.py",
    "tests/test_api.py",
    "tests/test_api/test_asynchronous.py",
    "tests/test_properties.py",
]


def zarr_version() -> str:
    import zarr

    return str(zarr.__version__)


def fetch_tests(version: str, workdir: Path) -> Path:
    """The unpacked sdist of zarr ``version`` (downloaded with pip on first use)."""
    root = workdir / f"zarr-{version}"
    if (root / "tests" / "conftest.py").exists():
        return root
    workdir.mkdir(parents=True, exist_ok=True)
    # The sdist of zarr only (`--no-binary zarr`): with `--no-binary :all:` pip would also build
    # zarr's build backend (hatchling, hatch-vcs, setuptools-scm) from source just to read metadata.
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-binary", "zarr", "--no-deps",
         f"zarr=={version}", "-d", str(workdir)],
        check=True,
    )  # fmt: skip
    (sdist,) = workdir.glob(f"zarr-{version}.tar.gz")
    with tarfile.open(sdist) as tar:
        tar.extractall(workdir, filter="data")
    return root


def start_pytest(
    root: Path, modules: list[str], ours: bool, report: Path, stats: Path
) -> subprocess.Popen[bytes]:
    """Start pytest on the modules under ``root`` (the unpacked sdist); per-test outcomes go to
    ``report``, and for our pipeline the request counts (tools/zarr_suite_plugin.py) to ``stats``."""
    env = dict(os.environ)
    env.pop("ZARR_CODEC_PIPELINE__PATH", None)
    plugin: list[str] = []
    if ours:
        env["ZARR_CODEC_PIPELINE__PATH"] = PIPELINE
        env["ZARRS_CFFI_SUITE_STATS"] = str(stats)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "tools"), env.get("PYTHONPATH")) if p)
        plugin = ["-p", "zarr_suite_plugin"]
    cmd = [
        sys.executable, "-m", "pytest", *modules, *plugin,
        "-p", "no:cacheprovider", "-q", "--no-header", "-o", "addopts=",
        "--tb=no", "-rN", "--continue-on-collection-errors", f"--junitxml={report}",
    ]  # fmt: skip
    return subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.DEVNULL)


def outcomes(report: Path) -> dict[str, str]:
    """test id -> passed / failed / error / skipped, from a JUnit XML report."""
    result: dict[str, str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        kinds = {child.tag for child in case}
        if "failure" in kinds:
            result[name] = "failed"
        elif "error" in kinds:
            result[name] = "error"
        elif "skipped" in kinds:
            result[name] = "skipped"
        else:
            result[name] = "passed"
    return result


def expected_differences() -> dict[str, str]:
    """Test ids listed in docs/zarr-suite.md as expected to differ, with their reasons."""
    listed: dict[str, str] = {}
    if EXPECTED_DIFFERENCES.exists():
        for line in EXPECTED_DIFFERENCES.read_text().splitlines():
            match = re.match(r"- `([^`]+)` — (.+)", line)
            if match:
                listed[match.group(1)] = match.group(2)
    return listed


class Comparison(NamedTuple):
    worse: list[str]  # passed with the default pipeline, not with ours (failed, error, skipped, missing)
    unlisted: list[str]  # those of ``worse`` docs/zarr-suite.md does not list: the run fails
    better: list[str]  # passed with ours, not with the default
    stale: list[str]  # listed, but no longer worse


def compare(default: dict[str, str], ours: dict[str, str], listed: dict[str, str]) -> Comparison:
    """The two runs' outcomes (test id -> outcome) against the listed expected differences."""
    worse = sorted(t for t, o in default.items() if o == "passed" and ours.get(t) != "passed")
    return Comparison(
        worse=worse,
        unlisted=[t for t in worse if t not in listed],
        better=sorted(t for t, o in ours.items() if o == "passed" and default.get(t) not in (None, "passed")),
        stale=sorted(t for t in listed if t in default and t not in worse),
    )


def summary(label: str, results: dict[str, str], seconds: float) -> str:
    counts = Counter(results.values())
    parts = ", ".join(f"{counts.get(k, 0)} {k}" for k in ("passed", "failed", "error", "skipped"))
    return f"{label:<48} {len(results):>5} tests: {parts}  (done after {seconds:.0f} s)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--modules", nargs="*", default=MODULES, help="test modules (paths in the sdist)")
    parser.add_argument("--workdir", type=Path, default=REPO / ".zarr-suite")
    parser.add_argument(
        "--compare-only", action="store_true", help="compare the reports of the last run again"
    )
    args = parser.parse_args(argv)

    version = zarr_version()
    root = fetch_tests(version, args.workdir)
    print(f"zarr-python {version} test suite, modules: {' '.join(args.modules)}", flush=True)
    # Both runs at once: they are independent, and the machine has cores to spare for the second.
    runs = {}
    started = time.monotonic()
    for ours in (False, True):
        name = "ours" if ours else "default"
        report = args.workdir / f"report-{version}-{name}.xml"
        stats = args.workdir / f"stats-{version}.json"
        process = None if args.compare_only else start_pytest(root, args.modules, ours, report, stats)
        runs[ours] = (process, report, stats)
    reports = {}
    for ours, (process, report, _) in runs.items():
        if process is not None:
            process.wait()
        reports[ours] = outcomes(report)
        label = f"ours ({PIPELINE})" if ours else "default (BatchedCodecPipeline)"
        print(summary(label, reports[ours], time.monotonic() - started), flush=True)
    stats_file = runs[True][2]
    if stats_file.exists():
        served = json.loads(stats_file.read_text())
        through_store = served.pop("through zarr's store", 0)
        print(
            f"requests served by our pipeline: {served.pop('native', 0)} natively from the store,"
            f" {through_store} decoded natively with bytes through zarr's store; through zarr's pipeline:"
        )
        for reason, n in sorted(served.items(), key=lambda kv: -kv[1])[:10]:
            print(f"  {n:>7}  {reason}")

    default, ours = reports[False], reports[True]
    listed = expected_differences()
    found = compare(default, ours, listed)
    print(
        f"passing with the default pipeline but not with ours: {len(found.worse)}"
        f" ({len(found.worse) - len(found.unlisted)} listed)"
    )
    for test in found.worse:
        print(f"  {'listed  ' if test in listed else 'UNLISTED'} {test}: {ours.get(test, 'missing')}")
    if found.better:
        print(f"passing with ours but not with the default: {len(found.better)}")
    for test in found.stale:
        print(f"  note: listed in {EXPECTED_DIFFERENCES.name} but no longer differs: {test}")
    return 1 if found.unlisted else 0


if __name__ == "__main__":
    sys.exit(main())
