"""Generate the Python API reference page and the errors table from the package itself.

The page lists every name in ``zarrs_cffi.__all__``, ``zarrs_cffi.crud.__all__`` and
``zarrs_cffi.crud.aio.__all__`` as autodoc directives, so a name added to ``__all__`` appears in the
reference without editing any page, and its text is its docstring. The errors table is built from the
exception classes (their builtin bases and docstrings). ``docs/conf.py`` calls :func:`write_pages`.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

import zarrs_cffi
import zarrs_cffi.crud
import zarrs_cffi.crud.aio

MODULES: tuple[ModuleType, ...] = (zarrs_cffi, zarrs_cffi.crud, zarrs_cffi.crud.aio)


def public_names(module: ModuleType) -> list[str]:
    """The names ``module`` exports (its ``__all__``), in a stable order."""
    return sorted(module.__all__, key=str.lower)


def _kind(obj: object) -> str:
    if inspect.isclass(obj) and issubclass(obj, BaseException):
        return "exception"
    if inspect.isclass(obj):
        return "class"
    if inspect.isroutine(obj):
        return "function"
    return "data"


SECTIONS = {"function": "Functions", "class": "Classes", "exception": "Errors", "data": "Types and constants"}
OPTIONS = {
    "class": "   :members:\n   :special-members: __getitem__, __setitem__\n",
    "exception": "   :show-inheritance:\n",
}


def _heading(text: str, level: str) -> str:
    return f"{text}\n{level * len(text)}\n"


def _entries(module: ModuleType, documented: dict[int, str]) -> Iterable[str]:
    by_kind: dict[str, list[str]] = {kind: [] for kind in SECTIONS}
    for name in public_names(module):
        by_kind[_kind(getattr(module, name))].append(name)
    for kind, names in by_kind.items():
        if not names:
            continue
        yield _heading(SECTIONS[kind], "~")
        for name in names:
            obj = getattr(module, name)
            qualified = f"{module.__name__}.{name}"
            first = documented.get(id(obj)) if kind != "data" else None
            if first:  # one object, two import paths: document it once, point at it from here
                yield f"``{qualified}`` is :py:obj:`{first}`.\n"
                continue
            documented[id(obj)] = qualified
            yield f".. auto{kind}:: {qualified}\n{OPTIONS.get(kind, '')}"


def python_page() -> str:
    """The reStructuredText of the Python reference (autodoc directives are reST, so the page is
    too): one section per public module, its names grouped by kind."""
    parts = [
        _heading("Python API reference", "="),
        "Generated at every docs build by ``docs/tools/py_api.py`` from ``__all__`` and the docstrings "
        "(edit those, not this page).\n",
    ]
    documented: dict[int, str] = {}
    for module in MODULES:
        summary = (inspect.getdoc(module) or "").split("\n\n")[0]
        parts.append(_heading(f"{module.__name__}", "-") + f"\n{summary}\n")
        parts.extend(_entries(module, documented))
    return "\n".join(parts)


def _builtin_bases(cls: type) -> list[str]:
    """The most specific builtin exception types ``cls`` also is (what ``except ValueError`` catches)."""
    builtin = [
        b for b in cls.__mro__[1:] if b.__module__ == "builtins" and b not in (Exception, BaseException)
    ]
    builtin = [b for b in builtin if b is not object]
    return [b.__name__ for b in builtin if not any(o is not b and issubclass(o, b) for o in builtin)]


def errors_table() -> str:
    """A markdown table of every exception class ``zarrs_cffi`` exports: name, builtin bases, meaning."""
    rows = ["| error | also a | raised when |", "|---|---|---|"]
    for name in public_names(zarrs_cffi):
        cls = getattr(zarrs_cffi, name)
        if not (inspect.isclass(cls) and issubclass(cls, BaseException)):
            continue
        meaning = " ".join((inspect.getdoc(cls) or "").split("\n\n")[0].split()).replace("|", "\\|")
        bases = ", ".join(f"`{b}`" for b in _builtin_bases(cls)) or "—"
        rows.append(f"| {{py:class}}`~zarrs_cffi.{name}` | {bases} | {meaning} |")
    return "\n".join(rows) + "\n"


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def write_pages(directory: Path) -> None:
    """Write ``python.rst`` and ``errors_table.md`` into ``directory`` (unchanged files untouched)."""
    _write_if_changed(directory / "python.rst", python_page())
    _write_if_changed(directory / "errors_table.md", errors_table())


if __name__ == "__main__":
    print(python_page())
    print(errors_table())
