#!/usr/bin/env python3
"""Prepare the pinned upstream crate `zarrs_ffi` for linking into this crate.

Upstream builds only as `staticlib`/`cdylib`, so another Rust crate cannot `use` it. This script lets
cargo download the pinned release (checksummed against `upstream-fetch/Cargo.lock`), then copies it to
`upstream/zarrs_ffi/` with `rlib` as its crate type. `Cargo.toml` points `[patch.crates-io]` at that
copy. The Rust sources are copied byte for byte; only the crate type in the manifest changes.

Idempotent and cheap: it does nothing when the copy is already current.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FETCH_MANIFEST = HERE / "upstream-fetch" / "Cargo.toml"
DEST = HERE / "upstream" / "zarrs_ffi"
STAMP = DEST / ".zarrs-cffi-source"


def upstream_source_dir() -> Path:
    """Download the pinned crate (no-op when cached) and return where cargo unpacked it."""
    cargo = ["cargo", "--quiet"]
    subprocess.run([*cargo, "fetch", "--locked", "--manifest-path", str(FETCH_MANIFEST)], check=True)
    meta = subprocess.run(
        [*cargo, "metadata", "--locked", "--format-version", "1", "--manifest-path", str(FETCH_MANIFEST)],
        check=True,
        capture_output=True,
        text=True,
    )
    for package in json.loads(meta.stdout)["packages"]:
        if package["name"] == "zarrs_ffi":
            return Path(package["manifest_path"]).parent
    sys.exit("fetch_upstream: zarrs_ffi is missing from upstream-fetch/Cargo.lock")


def main() -> None:
    source = upstream_source_dir()
    if STAMP.exists() and STAMP.read_text() == str(source):
        return
    if DEST.exists():
        shutil.rmtree(DEST)
    shutil.copytree(source, DEST, ignore=shutil.ignore_patterns("target", ".cargo-ok"))
    manifest = DEST / "Cargo.toml"
    text = manifest.read_text()
    patched, count = re.subn(r'crate-type = \[[^\]]*\]', 'crate-type = ["rlib"]', text, count=1)
    if count != 1:
        sys.exit(f"fetch_upstream: no crate-type in {manifest}; upstream layout changed")
    manifest.write_text(patched)
    STAMP.write_text(str(source))
    print(f"fetch_upstream: prepared {DEST} from {source}")


if __name__ == "__main__":
    main()
