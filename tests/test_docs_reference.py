"""The generated API reference covers the whole public surface: every name in the public ``__all__``
lists (Python page) and every declaration of the shipped header (C page), with its comment."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import zarrs_cffi
import zarrs_cffi.crud
import zarrs_cffi.crud.aio
from zarrs_cffi._native import lib

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "docs" / "tools"))

import c_api  # noqa: E402
import py_api  # noqa: E402

HEADER = Path(zarrs_cffi.get_include()) / "zarrs_cffi.h"


def test_python_page_names_every_public_name() -> None:
    page = py_api.python_page()
    for module in (zarrs_cffi, zarrs_cffi.crud, zarrs_cffi.crud.aio):
        for name in module.__all__:
            assert f"{module.__name__}.{name}" in page, f"{module.__name__}.{name} is missing"


def test_shared_objects_are_documented_once() -> None:
    """crud re-exports two errors of zarrs_cffi: one entry, the other name points at it (Sphinx
    would warn, and -W fail, on a duplicate description)."""
    page = py_api.python_page()
    assert page.count(".. autoexception:: zarrs_cffi.NodeExistsError") == 1
    assert ".. autoexception:: zarrs_cffi.crud.NodeExistsError" not in page
    assert "``zarrs_cffi.crud.NodeExistsError`` is :py:obj:`zarrs_cffi.NodeExistsError`" in page


def test_errors_table_lists_every_error_with_its_builtin() -> None:
    table = py_api.errors_table()
    errors = [
        n for n in zarrs_cffi.__all__ if isinstance(getattr(zarrs_cffi, n), type) and n.endswith("Error")
    ]
    assert errors
    for name in errors:
        assert f"`~zarrs_cffi.{name}`" in table
    row = next(line for line in table.splitlines() if "zarrs_cffi.NodeNotFoundError`" in line)
    assert "`FileNotFoundError`" in row and "`OSError`" not in row  # the most specific builtin only


def test_c_page_documents_every_header_function() -> None:
    source = HEADER.read_text()
    declared = set(re.findall(r"^[A-Za-z_][\w \*]*?\b(zarrs\w+)\(", source, re.M))
    items = c_api.parse_header(source)
    functions = {d.name: d for d in items if d.kind == "function"}
    assert declared == set(functions)
    assert len(functions) > 50
    page = c_api.render(items)
    for name, decl in functions.items():
        assert f"{{c:function}} {decl.signature}" in page
        assert name in decl.signature and decl.signature.endswith(")")


def test_c_page_covers_what_the_library_exports() -> None:
    """Every zarrs* function cffi sees in the library is on the page."""
    exported = {name for name in dir(lib) if re.fullmatch(r"zarrs[A-Z]\w*", name)}
    documented = {d.name for d in c_api.parse_header(HEADER.read_text()) if d.kind == "function"}
    assert exported <= documented, sorted(exported - documented)


def test_c_comments_are_kept() -> None:
    items = {d.name: d for d in c_api.parse_header(HEADER.read_text())}
    retrieve = items["zarrsCffiArrayRetrieveSubsetInto"]
    assert "straight into `pOut`" in retrieve.doc
    enum = items["ZarrsCffiResult"]
    codes = {m.name: m for m in enum.members}
    assert codes["ZARRS_CFFI_ERROR_CODEC"].signature == "ZARRS_CFFI_ERROR_CODEC = -104"
    assert "could not be decoded" in codes["ZARRS_CFFI_ERROR_CODEC"].doc
    assert {
        "ZarrsArray",
        "ZarrsStorage",
        "ZarrsCffiArray",
        "ZarrsCffiStorage",
        "zarrsCffiArraySetChunkCache",
    } <= set(items)


def test_rust_doc_markup_becomes_myst() -> None:
    source = """
/*
 Open it.

 # Safety
 `array` must be a [`ZarrsArray`].
 */
int32_t zarrsThing(ZarrsArray array,
                   size_t n);
"""
    (item,) = c_api.parse_header(source)
    page = c_api.render([item])
    assert "{c:function} int32_t zarrsThing(ZarrsArray array, size_t n)" in page
    assert "**Safety**" in page and "# Safety" not in page
    assert "must be a `ZarrsArray`." in page
