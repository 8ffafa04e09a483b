"""Build: cargo first (the native library and its header), then the cffi extension against them.

``pip install .`` runs all of it. ``ZARRS_CFFI_CARGO_PROFILE=dev`` builds a faster-to-compile debug
library (for quick CI loops); the default is ``release``.

On CPython the extension is built against the limited API (cffi's generated C already defines
``Py_LIMITED_API``), so one ``cp38-abi3`` wheel serves every CPython >= 3.8; PyPy has no stable ABI
and gets its own ``pp39``-style wheel.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
CRATE = HERE / "vendor" / "zarrs_ffi"
LIBRARY_NAME = "libzarrs_cffi.so"
# The oldest CPython the abi3 wheel is tagged for (requires-python in pyproject.toml says the same).
LIMITED_API_TAG = "cp38"
USE_LIMITED_API = platform.python_implementation() == "CPython"


def build_native_library() -> tuple[Path, Path]:
    """Run fetch_upstream.py and cargo; return (library file, header file).

    ``ZARRS_CFFI_PREBUILT=DIR`` skips cargo and takes ``DIR/lib/libzarrs_cffi.so`` and
    ``DIR/include/zarrs_cffi.h`` instead (an installed package's directory, or a previous build):
    one native build then serves wheels for several interpreters and parallel work trees.
    """
    prebuilt = os.environ.get("ZARRS_CFFI_PREBUILT")
    if prebuilt:
        library = Path(prebuilt) / "lib" / LIBRARY_NAME
        header = Path(prebuilt) / "include" / "zarrs_cffi.h"
        for path in (library, header):
            if not path.exists():
                raise RuntimeError(f"ZARRS_CFFI_PREBUILT={prebuilt}: {path} is missing")
        return library, header
    subprocess.run([sys.executable, str(CRATE / "fetch_upstream.py")], check=True)
    profile = os.environ.get("ZARRS_CFFI_CARGO_PROFILE", "release")
    cargo = ["cargo", "build", "--locked", "--manifest-path", str(CRATE / "Cargo.toml")]
    cargo += ["--release"] if profile == "release" else ["--profile", profile]
    print("running", " ".join(cargo), flush=True)
    subprocess.run(cargo, check=True)
    out_dir = "release" if profile == "release" else ("debug" if profile == "dev" else profile)
    library = CRATE / "target" / out_dir / LIBRARY_NAME
    header = CRATE / "include" / "zarrs_cffi.h"
    for path in (library, header):
        if not path.exists():
            raise RuntimeError(f"cargo finished but {path} is missing")
    return library, header


def _install_file(source: Path, destination: Path, transform: Callable[[str], str] | None = None) -> None:
    """Copy via a temporary file and an atomic rename: a process that has the old library
    mapped keeps its (intact) old file, instead of having it overwritten under its feet.
    ``transform`` rewrites a text file on the way."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(f".{destination.name}.{os.getpid()}.tmp")
    if transform is None:
        shutil.copy2(source, temporary)
    else:
        temporary.write_text(transform(source.read_text()))
    os.replace(temporary, destination)


class BuildNativeThenCffi(build_ext):
    """build_ext that builds libzarrs_cffi with cargo, ships it and its header inside the package,
    then compiles the cffi module against it."""

    def copy_file(self, infile, outfile, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        # Unlink first: overwriting an extension module in place corrupts processes that have it
        # loaded (they keep the old inode when the file is replaced instead).
        if os.path.isfile(outfile) and os.path.abspath(infile) != os.path.abspath(outfile):
            os.unlink(outfile)
        return super().copy_file(infile, outfile, *args, **kwargs)

    def build_extension(self, ext: Extension) -> None:
        library, header = build_native_library()
        package_dir = Path(self.get_ext_fullpath(ext.name)).parent
        targets = [package_dir]
        if getattr(self, "editable_mode", False):
            # Editable installs import from the source tree, so the library must sit there too.
            targets.append(HERE / "zarrs_cffi")
        sys.path.insert(0, str(HERE))
        from build_ffi import c89_header, make_ffibuilder

        for target in targets:
            _install_file(library, target / "lib" / LIBRARY_NAME)
            # The shipped header is C89 (legacy C codebases include it with -std=c89 -pedantic).
            _install_file(header, target / "include" / header.name, transform=c89_header)

        builder = make_ffibuilder(package_dir / "include" / header.name, package_dir / "lib")
        c_file = Path(self.build_temp) / "_zarrs_cffi.c"
        c_file.parent.mkdir(parents=True, exist_ok=True)
        builder.emit_c_code(str(c_file))
        ext.sources = [str(c_file)]
        ext.include_dirs = [str(package_dir / "include")]
        ext.library_dirs = [str(package_dir / "lib")]
        ext.libraries = ["zarrs_cffi"]
        # libc linked explicitly: auditwheel tells glibc from musl by the extension's own NEEDED
        # entries, and the PyPy module uses no libc symbol, so an --as-needed link (Debian's gcc
        # default) would drop it and `auditwheel repair` would refuse the wheel.
        ext.extra_link_args = ["-Wl,-rpath,$ORIGIN/lib", "-Wl,--no-as-needed", "-lc"]
        # pyenv-style interpreters put their own lib directory in LDSHARED as an rpath; the module
        # needs no libpython, so it would only carry the build machine's path into the wheel.
        self.compiler.linker_so = [a for a in self.compiler.linker_so if not a.startswith("-Wl,-rpath,")]
        super().build_extension(ext)


setup(
    ext_modules=[Extension("zarrs_cffi._zarrs_cffi", sources=[], py_limited_api=USE_LIMITED_API)],
    cmdclass={"build_ext": BuildNativeThenCffi},
    options={"bdist_wheel": {"py_limited_api": LIMITED_API_TAG}} if USE_LIMITED_API else {},
)
