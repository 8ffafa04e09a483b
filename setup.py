"""Build: cargo first (the native library and its header), then the cffi extension against them.

``pip install .`` runs all of it. ``ZARRS_CFFI_CARGO_PROFILE=dev`` builds a faster-to-compile debug
library (for quick CI loops); the default is ``release``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
CRATE = HERE / "vendor" / "zarrs_ffi"
LIBRARY_NAME = "libzarrs_cffi.so"


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


def _install_file(source: Path, destination: Path) -> None:
    """Copy via a temporary file and an atomic rename: a process that has the old library
    mapped keeps its (intact) old file, instead of having it overwritten under its feet."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(f".{destination.name}.{os.getpid()}.tmp")
    shutil.copy2(source, temporary)
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
        for target in targets:
            _install_file(library, target / "lib" / LIBRARY_NAME)
            _install_file(header, target / "include" / header.name)

        sys.path.insert(0, str(HERE))
        from build_ffi import make_ffibuilder

        builder = make_ffibuilder(package_dir / "include" / header.name, package_dir / "lib")
        c_file = Path(self.build_temp) / "_zarrs_cffi.c"
        c_file.parent.mkdir(parents=True, exist_ok=True)
        builder.emit_c_code(str(c_file))
        ext.sources = [str(c_file)]
        ext.include_dirs = [str(package_dir / "include")]
        ext.library_dirs = [str(package_dir / "lib")]
        ext.libraries = ["zarrs_cffi"]
        ext.extra_link_args = ["-Wl,-rpath,$ORIGIN/lib"]
        super().build_extension(ext)


setup(
    ext_modules=[Extension("zarrs_cffi._zarrs_cffi", sources=[])],
    cmdclass={"build_ext": BuildNativeThenCffi},
)
