"""cffi builder (API out-of-line mode) for the zarrs-cffi native library.

The cdef is derived mechanically from the cbindgen header: ``#include`` lines are dropped and the
rest goes through the C preprocessor (``cc -E -P``), which strips comments and resolves the C23 /
C++ guards cbindgen emits. Nothing is copied by hand. ``set_source`` includes the real header, so
the C compiler checks every declaration against it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
HEADER = HERE / "vendor" / "zarrs_ffi" / "include" / "zarrs_cffi.h"
MODULE_NAME = "zarrs_cffi._zarrs_cffi"


def c89_header(text: str) -> str:
    r"""The cbindgen header made valid C89 (``-std=c89 -pedantic`` without a warning), for legacy C.

    cbindgen 0.29 hard-codes two C99-isms no cbindgen.toml option turns off: ``#endif // cond`` after
    its C23 typed-enum guards (``// `` is no comment in C89) and a comma after every enumerator,
    the last one included. Everything else it writes is C89 already (with ``documentation_style =
    "c"``). The rewrite is idempotent and leaves declarations untouched.

    >>> c89_header("enum E {\n  A = 0,\n  B = 1,\n};\n#endif // __cplusplus\n")
    'enum E {\n  A = 0,\n  B = 1\n};\n#endif /* __cplusplus */\n'
    """
    text = re.sub(r"^(#endif)[ \t]*//[ \t]*(.*?)[ \t]*$", r"\1 /* \2 */", text, flags=re.M)
    return re.sub(r",(\n\s*\};)", r"\1", text)


def cdef_from_header(header: Path) -> str:
    """Preprocess the cbindgen header into text that ``FFI.cdef`` accepts."""
    body = "\n".join(
        line for line in header.read_text().splitlines() if not line.lstrip().startswith("#include")
    )
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or "cc"
    result = subprocess.run(
        [cc, "-E", "-P", "-std=gnu17", "-x", "c", "-"],
        input=body,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def make_ffibuilder(header: Path = HEADER, library_dir: Path | None = None) -> FFI:
    """An FFI builder for ``zarrs_cffi._zarrs_cffi`` linked against ``libzarrs_cffi.so``.

    The module finds the library through an ``$ORIGIN/lib`` rpath: the library ships inside the
    package, so C code in the same process loads the very same instance.
    """
    builder = FFI()
    builder.cdef(cdef_from_header(header))
    builder.set_source(
        MODULE_NAME,
        '#include "zarrs_cffi.h"',
        include_dirs=[str(header.parent)],
        library_dirs=[str(library_dir)] if library_dir else [],
        libraries=["zarrs_cffi"],
        extra_link_args=["-Wl,-rpath,$ORIGIN/lib"],
    )
    return builder


# The conventional module-level builder (used by `python build_ffi.py` and cffi tooling); setup.py
# calls make_ffibuilder() itself once cargo has produced the header and the library.
ffibuilder = make_ffibuilder() if HEADER.exists() else None

if __name__ == "__main__":
    if ffibuilder is None:
        raise SystemExit(f"{HEADER} is missing: build the native library first (make build)")
    print(ffibuilder.emit_c_code(str(HERE / "build" / "_zarrs_cffi.c")) or "emitted build/_zarrs_cffi.c")
