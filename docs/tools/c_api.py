"""Generate the C API reference page from the shipped header's comments.

The header (``zarrs_cffi.h``) is written by cbindgen from the Rust doc comments of
``vendor/zarrs_ffi``, so the comments above each declaration *are* the documentation; this script
only reshapes them into MyST markdown with Sphinx C-domain directives. Nothing is written by hand, so
the page cannot drift from the library.

Usage: ``python docs/tools/c_api.py [HEADER] [--out FILE]`` (default header: the installed
package's, ``zarrs_cffi.get_include()``; default output: stdout). ``docs/conf.py`` calls
:func:`write_page` at every build.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

FUNCTION_START = re.compile(r"^[A-Za-z_][\w\s\*]*?\b(zarrs\w+)\(")
TYPEDEF_POINTER = re.compile(r"^typedef struct (\w+) \*(\w+);")
DEFINE = re.compile(r"^#define (\w+) (.+)$")
ENUM_START = re.compile(r"^enum (\w+)\s*$")
ENUMERATOR = re.compile(r"^\s*(\w+) = (-?\w+),?$")
RUST_HEADING = re.compile(r"^#+ (.+)$")
RUST_LINK = re.compile(r"\[`([^`\]]+)`\](?!\()")


@dataclass
class Declaration:
    """One documented item of the header: a macro, enum, type or function."""

    kind: str  # "macro", "enum", "type", "function"
    name: str
    signature: str
    doc: str
    members: list[Declaration] = field(default_factory=list)


def _comment_text(lines: list[str]) -> str:
    """The text of a cbindgen ``/* ... */`` block, dedented (enumerator comments are indented)."""
    text = textwrap.dedent("\n".join(line.rstrip() for line in lines))
    return text.strip("\n")


def parse_header(source: str) -> list[Declaration]:
    """Every macro, enum (with its enumerators), opaque handle type and function of the header.

    Args:
        source: The header's text, as cbindgen writes it.

    Returns:
        The declarations in header order, each with the comment that precedes it ("" if none).
    """
    lines = source.splitlines()
    items: list[Declaration] = []
    comment = ""
    enum: Declaration | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("/*"):
            block = [stripped[2:]]
            while "*/" not in lines[i]:
                i += 1
                block.append(lines[i])
            block[-1] = block[-1].split("*/")[0]
            comment = _comment_text(block)
            i += 1
            continue
        if enum is not None:
            member = ENUMERATOR.match(stripped)
            if member:
                enum.members.append(
                    Declaration("enumerator", member[1], f"{member[1]} = {member[2]}", comment)
                )
                comment = ""
            elif stripped.startswith("};"):
                items.append(enum)
                enum = None
            i += 1
            continue
        if match := DEFINE.match(line):
            if not match[1].endswith("_H"):
                value = f"`#define {match[1]} {match[2].strip()}`"
                items.append(Declaration("macro", match[1], match[1], f"{value}\n\n{comment}".strip()))
        elif match := ENUM_START.match(line):
            enum = Declaration("enum", match[1], match[1], comment)
        elif match := TYPEDEF_POINTER.match(line):
            items.append(Declaration("type", match[2], f"struct {match[1]} *{match[2]}", comment))
        elif match := FUNCTION_START.match(line):
            declaration = [stripped]
            while not declaration[-1].endswith(";"):
                i += 1
                declaration.append(lines[i].strip())
            signature = re.sub(r"\s+", " ", " ".join(declaration)).rstrip(";").replace("( ", "(")
            items.append(Declaration("function", match[1], signature, comment))
        if stripped:
            comment = ""  # a comment documents only the line right after it
        i += 1
    return items


def _markdown(doc: str) -> str:
    """Rust doc markdown as MyST inside a directive: headings become bold lines, and intra-doc
    links (``[`Name`]``) plain code, since neither means anything outside rustdoc."""
    out = []
    for line in doc.splitlines():
        heading = RUST_HEADING.match(line)
        out += [f"**{heading[1]}**", ""] if heading else [RUST_LINK.sub(r"`\1`", line)]
    return "\n".join(out)


def _directive(kind: str, signature: str, doc: str) -> str:
    body = _markdown(doc) + "\n" if doc else ""
    return f"```{{c:{kind}}} {signature}\n{body}```\n"


def render(items: list[Declaration], header_name: str = "zarrs_cffi.h") -> str:
    """The MyST page for ``items``: handle types, constants, then zarrs-cffi's and upstream's functions.

    Args:
        items: Declarations from :func:`parse_header`.
        header_name: Shown in the page's introduction.

    Returns:
        The page's markdown text.
    """
    functions = [d for d in items if d.kind == "function"]
    own = [d for d in functions if d.name.startswith("zarrsCffi")]
    upstream = [d for d in functions if not d.name.startswith("zarrsCffi")]
    parts = [
        "# C API reference\n",
        f"Generated at every docs build by `docs/tools/c_api.py` from the comments in `{header_name}`, "
        "which cbindgen writes from the Rust doc comments of `vendor/zarrs_ffi` (edit those, not this "
        "page). Linking, threads, handle ownership and error handling are explained in "
        "[Embedding from C](../embedding.md). "
        f"{len(own)} `zarrsCffi*` functions (this project's: they catch panics, validate every "
        f"argument and keep a per-thread error) and {len(upstream)} upstream `zarrs*` functions "
        "(crate `zarrs_ffi`, exported unchanged).\n",
        "## Handle types\n",
    ]
    parts += [_directive("type", d.signature, d.doc) for d in items if d.kind == "type"]
    parts.append("## Result codes, data types and constants\n")
    for d in items:
        if d.kind == "enum":
            members = "".join(_directive("enumerator", m.signature, m.doc) for m in d.members)
            parts.append(f"````{{c:enum}} {d.name}\n{_markdown(d.doc)}\n\n{members}````\n")
        elif d.kind == "macro":
            parts.append(_directive("macro", d.signature, d.doc))
    parts.append("## zarrs-cffi functions (`zarrsCffi*`)\n")
    parts += [_directive("function", d.signature, d.doc) for d in own]
    parts.append("## Upstream functions (`zarrs*`)\n")
    parts.append(
        "Prefer the `zarrsCffi*` function where one exists: see "
        "[the hazards of the upstream API](../embedding.md#upstream-hazards-the-zarrscffi-functions-avoid).\n"
    )
    parts += [_directive("function", d.signature, d.doc) for d in upstream]
    return "\n".join(parts)


def default_header() -> Path:
    """The header the installed package ships (the one C embedders compile against)."""
    import zarrs_cffi

    return Path(zarrs_cffi.get_include()) / "zarrs_cffi.h"


def write_page(out: Path, header: Path | None = None) -> None:
    """Write the C reference page for ``header`` (default: the installed package's) to ``out``,
    leaving the file untouched when its text is unchanged (so Sphinx does not rebuild it)."""
    header = header or default_header()
    text = render(parse_header(header.read_text()), header.name)
    if not out.exists() or out.read_text() != text:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)


def main(argv: list[str] | None = None) -> int:
    """Command line: print (or write with ``--out``) the page for a header."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("header", nargs="?", type=Path, help="zarrs_cffi.h (default: the installed one)")
    parser.add_argument("--out", type=Path, help="output file (default: stdout)")
    args = parser.parse_args(argv)
    if args.out:
        write_page(args.out, args.header)
    else:
        sys.stdout.write(render(parse_header((args.header or default_header()).read_text())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
