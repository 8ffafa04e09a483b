"""Every public name has a docstring that says what it does, its parameters, what it returns and
what it raises (Google style, rendered by napoleon in the API reference).

Public names: ``zarrs_cffi.__all__``, ``zarrs_cffi.crud.__all__``, ``zarrs_cffi.crud.aio.__all__``,
and the public methods and properties of the classes among them. ``make lint`` checks presence
across the whole package (ruff's D1 rules); this test checks the sections of the public API.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from typing import Any

import pytest

import zarrs_cffi
import zarrs_cffi.crud
import zarrs_cffi.crud.aio

MODULES = (zarrs_cffi, zarrs_cffi.crud, zarrs_cffi.crud.aio)
# Protocol methods state the contract an engine implements; their parameters are documented once, on
# the crud functions that call them.
CONTRACT_CLASSES = (zarrs_cffi.crud.CrudBackend,)


def _public_objects() -> Iterator[tuple[str, Any]]:
    seen: set[int] = set()
    for module in MODULES:
        for name in module.__all__:
            obj = getattr(module, name)
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            yield f"{module.__name__}.{name}", obj
            if inspect.isclass(obj) and not issubclass(obj, BaseException):
                for attr, member in vars(obj).items():
                    if not attr.startswith("_"):
                        yield f"{module.__name__}.{name}.{attr}", member


PUBLIC = dict(_public_objects())


def _function(obj: Any) -> Any:
    """The plain function behind a method, classmethod or staticmethod (None for data, properties)."""
    if isinstance(obj, (classmethod, staticmethod)):
        return obj.__func__
    return obj if inspect.isfunction(obj) else None


def _sections(doc: str) -> dict[str, str]:
    """Google-style sections of a docstring: {"Args": "...", "Returns": "...", ...}."""
    found: dict[str, str] = {}
    current = None
    for line in doc.splitlines():
        header = re.fullmatch(r"(Args|Returns|Yields|Raises|Example|Examples):\s*", line.strip())
        if header and not line.startswith(" "):
            current = header[1]
            found[current] = ""
        elif current is not None:
            if line and not line.startswith(" "):
                current = None
            else:
                found[current] += line + "\n"
    return found


def _parameters(func: Any) -> list[str]:
    params = inspect.signature(func).parameters.values()
    kinds = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return [p.name for p in params if p.name not in ("self", "cls") and p.kind not in kinds]


def _returns_value(func: Any) -> bool:
    annotation = inspect.signature(func).return_annotation  # a string: the modules postpone annotations
    return annotation not in (None, "None", inspect.Signature.empty)


def test_public_names_are_found() -> None:
    assert "zarrs_cffi.read_into" in PUBLIC and "zarrs_cffi.Array.read_into" in PUBLIC
    assert "zarrs_cffi.crud.read_region" in PUBLIC and "zarrs_cffi.crud.aio.read_region" in PUBLIC


def _documentable(obj: Any) -> bool:
    """Functions, classes, methods and properties carry ``__doc__``; a type alias (``StoreLike``)
    cannot, and is documented by the string after its assignment, which autodoc reads."""
    return (
        inspect.isclass(obj)
        or inspect.isroutine(obj)
        or isinstance(obj, (property, classmethod, staticmethod))
    )


@pytest.mark.parametrize("name", sorted(n for n, o in PUBLIC.items() if _documentable(o)))
def test_has_docstring(name: str) -> None:
    obj = PUBLIC[name]
    doc = inspect.getdoc(obj.__func__ if isinstance(obj, (classmethod, staticmethod)) else obj)
    assert doc and doc.strip(), f"{name} has no docstring"


FUNCTIONS = {
    name: func
    for name, obj in PUBLIC.items()
    if (func := _function(obj)) is not None
    and not any(name.startswith(f"zarrs_cffi.crud.{c.__name__}.") for c in CONTRACT_CLASSES)
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_documents_parameters_returns_raises(name: str) -> None:
    func = FUNCTIONS[name]
    sections = _sections(inspect.getdoc(func) or "")
    params = _parameters(func)
    if params:
        assert "Args" in sections, f"{name}: no Args: section for {params}"
        for param in params:
            assert re.search(rf"^\s*\**{param}\b", sections["Args"], re.M), f"{name}: Args: misses {param}"
    if _returns_value(func) and not name.endswith(".borrow_handle"):
        assert "Returns" in sections or "Yields" in sections, f"{name}: no Returns: section"
    if params:
        assert "Raises" in sections, f"{name}: no Raises: section (what a caller should expect)"
