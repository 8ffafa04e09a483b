"""The shipped header (``zarrs_cffi.get_include()``) compiles as C89 with ``-pedantic -Werror``, as a
legacy C codebase would include it, and still as C99, C23 and C++ (cbindgen's C23/C++ typed enums).
The C example itself is built with ``-std=c89 -pedantic -Werror`` (csrc/examples/Makefile)."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess

import pytest

import zarrs_cffi

CC = os.environ.get("CC", "cc")
# Uses a declaration of each kind the header has: enums, opaque handles, functions with bool.
PROBE = """#include <stddef.h>
#include "zarrs_cffi.h"
int main(void) {
  ZarrsArray array = NULL;
  ZarrsResult rc = ZARRS_SUCCESS;
  ZarrsDataType dtype = ZARRS_UINT16;
  int32_t exists_rc = (int32_t)ZARRS_CFFI_ERROR_NODE_NOT_FOUND;
  (void)array; (void)dtype; (void)exists_rc;
  return (int)rc;
}
"""


def _compile(tmp_path: pathlib.Path, compiler: str, *flags: str) -> subprocess.CompletedProcess[str]:
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not installed")
    source = tmp_path / "probe.c"
    source.write_text(PROBE)
    return subprocess.run(
        [
            compiler,
            *flags,
            "-Wall",
            "-Wextra",
            "-Werror",
            f"-I{zarrs_cffi.get_include()}",
            "-fsyntax-only",
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("standard", ["c89", "c99", "c11", "c2x"])
def test_header_compiles_pedantic(tmp_path: pathlib.Path, standard: str) -> None:
    result = _compile(tmp_path, CC, f"-std={standard}", "-pedantic")
    assert result.returncode == 0, result.stderr


def test_header_compiles_as_cxx(tmp_path: pathlib.Path) -> None:
    result = _compile(tmp_path, "c++", "-x", "c++", "-std=c++11", "-pedantic")
    assert result.returncode == 0, result.stderr


def test_header_has_no_c99_only_comment_or_trailing_enum_comma() -> None:
    text = (pathlib.Path(zarrs_cffi.get_include()) / "zarrs_cffi.h").read_text()
    assert "#endif //" not in text
    assert ",\n};" not in text
    # The rewrite kept every declaration: the upstream API and this package's own are all there.
    assert "zarrsCffiArrayRetrieveSubsetInto(" in text and "zarrsArrayGetChunkShape(" in text


def test_example_makefile_builds_as_c89() -> None:
    makefile = pathlib.Path(__file__).resolve().parents[1] / "csrc" / "examples" / "Makefile"
    flags = next(line for line in makefile.read_text().splitlines() if line.startswith("CFLAGS"))
    assert "-std=c89" in flags and "-pedantic" in flags and "-Werror" in flags
