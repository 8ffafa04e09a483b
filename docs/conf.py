"""Sphinx configuration for the zarrs-cffi docs site (``make docs``; warnings are errors there).

Sphinx rather than mkdocs: the pages are markdown either way (MyST reads the existing docs/*.md
unchanged), but Sphinx has a C domain, so the C reference generated from the header is real
``c:function`` / ``c:type`` entries that can be cross-referenced, next to autodoc's Python ones; and
autodoc + napoleon render the package's Google-style docstrings from the imported package itself.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "tools"))

import c_api  # noqa: E402
import py_api  # noqa: E402

import zarrs_cffi  # noqa: E402

# The API reference and the errors table are generated from the package and its header at every build.
GENERATED = DOCS / "_generated"
py_api.write_pages(GENERATED)
c_api.write_page(GENERATED / "c.md")


def _write_more_page() -> None:
    """List top-level pages that no toctree of index.md names yet (a feature's page, added by its
    branch) in ``_generated/more.md``, so they are reachable and -W does not fail on them."""
    index = (DOCS / "index.md").read_text()
    listed = set(re.findall(r"^([\w./-]+)$", index, re.M))
    pages = sorted(p.stem for p in DOCS.glob("*.md") if p.stem != "index" and p.stem not in listed)
    entries = "\n".join(f"../{page}" for page in pages)
    text = "# More topics\n\n" + (
        f"```{{toctree}}\n:maxdepth: 1\n\n{entries}\n```\n" if pages else "No further pages yet.\n"
    )
    target = GENERATED / "more.md"
    if not target.exists() or target.read_text() != text:
        target.write_text(text)


_write_more_page()

project = "zarrs-cffi"
author = "zarrs-cffi developers"
copyright = "zarrs-cffi developers"
release = version = zarrs_cffi.__version__

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "tools", "_generated/errors_table.md"]
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

html_theme = "furo"
html_title = f"zarrs-cffi {release}"
