"""The examples in the docstrings of the pure-Python modules run and show what they claim."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "zarrs_cffi.selection",
    "zarrs_cffi.crud.checks",
    "zarrs_cffi.buffers",
    "zarrs_cffi.advanced_selection",
    "zarrs_cffi.chunk_plan",
    "zarrs_cffi.pipeline_plan",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    if name == "zarrs_cffi.pipeline_plan":
        pytest.importorskip("zarr", reason="the zarr-python codec pipeline's planner needs zarr-python")
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
