"""tools/zarr_suite.py decides whether zarr-python's own suite passes with our pipeline (make
test-zarr-suite, CI): its report reading, its list of expected differences and its verdict."""

from __future__ import annotations

import importlib.util
import pathlib
import textwrap

_PATH = pathlib.Path(__file__).resolve().parents[1] / "tools" / "zarr_suite.py"
_SPEC = importlib.util.spec_from_file_location("zarr_suite", _PATH)
assert _SPEC is not None and _SPEC.loader is not None
zarr_suite = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(zarr_suite)


def test_outcomes_read_a_junit_report(tmp_path: pathlib.Path) -> None:
    report = tmp_path / "report.xml"
    report.write_text(
        textwrap.dedent(
            """\
            <testsuites><testsuite>
              <testcase classname="tests.test_a" name="test_ok"/>
              <testcase classname="tests.test_a" name="test_bad[x]"><failure message="no"/></testcase>
              <testcase classname="tests.test_b" name="test_err"><error message="boom"/></testcase>
              <testcase classname="tests.test_b" name="test_skip"><skipped message="later"/></testcase>
            </testsuite></testsuites>
            """
        )
    )
    assert zarr_suite.outcomes(report) == {
        "tests.test_a::test_ok": "passed",
        "tests.test_a::test_bad[x]": "failed",
        "tests.test_b::test_err": "error",
        "tests.test_b::test_skip": "skipped",
    }


def test_a_test_passing_only_with_the_default_pipeline_fails_the_run_unless_listed() -> None:
    default = {"a": "passed", "b": "passed", "c": "passed", "d": "failed", "e": "passed", "f": "passed"}
    ours = {"a": "passed", "b": "failed", "c": "skipped", "d": "passed", "f": "error"}
    found = zarr_suite.compare(default, ours, {"b": "why", "f": "why", "a": "fixed since"})
    assert found.worse == ["b", "c", "e", "f"]  # e is missing from our run: worse too
    assert found.unlisted == ["c", "e"]
    assert found.better == ["d"]
    assert found.stale == ["a"]
    clean = zarr_suite.compare(default, {**default, "d": "failed"}, {})
    assert clean == zarr_suite.Comparison([], [], [], [])


def test_the_expected_differences_listed_in_the_docs_have_reasons() -> None:
    listed = zarr_suite.expected_differences()
    assert listed, "docs/zarr-suite.md lists no expected difference (or the tool no longer reads it)"
    for test, reason in listed.items():
        assert "::" in test and test.startswith("tests."), test
        assert len(reason) > 20, (test, reason)
