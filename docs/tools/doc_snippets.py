"""Find the code examples in README.md and docs/**/*.md, for the tests and ``make c-example``.

A block is a fenced code block whose info string starts with the language (```python, ```c); an
info string ``python no-run`` marks a block that is shown but not executed.

Usage: ``python docs/tools/doc_snippets.py --lang c --out DIR`` writes each C block of the docs to
``DIR/<page>_<line>.c`` (``csrc/examples/Makefile`` compiles them) and prints the file names.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.M | re.S)
SKIPPED_DIRS = {"_build", "_generated", "tools"}


def pages(repo: Path) -> list[Path]:
    """README.md and every markdown page of docs/ (generated and built files excluded)."""
    found = [repo / "README.md"]
    for page in sorted((repo / "docs").rglob("*.md")):
        if not SKIPPED_DIRS.intersection(page.relative_to(repo / "docs").parts):
            found.append(page)
    return found


def blocks(page: Path, language: str) -> list[tuple[int, str]]:
    """The ``language`` blocks of ``page`` to run, as (line of the opening fence, code)."""
    text = page.read_text()
    found = []
    for match in FENCE.finditer(text):
        info = match[1].split()
        if info[:1] == [language] and "no-run" not in info[1:]:
            found.append((text.count("\n", 0, match.start()) + 1, match[2]))
    return found


def main(argv: list[str] | None = None) -> int:
    """Write the C (or other) snippets of the docs to files; print their paths."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lang", default="c")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[2])
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for page in pages(args.repo):
        for line, code in blocks(page, args.lang):
            stem = str(page.relative_to(args.repo).with_suffix("")).replace("/", "_")
            target = args.out / f"{stem}_{line}.{args.lang}"
            if not target.exists() or target.read_text() != code:
                target.write_text(code)
            print(target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
