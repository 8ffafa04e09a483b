//! Generates `include/zarrs_cffi.h` with cbindgen: upstream zarrs_ffi's C API and this crate's own.
use std::path::PathBuf;

fn main() {
    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml is readable");
    let header = crate_dir.join("include").join("zarrs_cffi.h");
    // Parse both crates' sources directly (no `cargo metadata`): cbindgen takes functions only from
    // the crate it binds, so upstream's API comes from its own sources, ours from src/.
    let upstream = crate_dir.join("upstream/zarrs_ffi/src/lib.rs");
    println!("cargo:rerun-if-changed={}", upstream.display());
    let manifest = std::fs::read_to_string(crate_dir.join("upstream/zarrs_ffi/Cargo.toml"))
        .expect("run fetch_upstream.py first: upstream/zarrs_ffi is missing");
    let version = manifest
        .lines()
        .find_map(|line| line.strip_prefix("version = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .expect("upstream Cargo.toml has a package version");
    println!("cargo:rustc-env=ZARRS_FFI_VERSION={version}");
    cbindgen::Builder::new()
        .with_src(upstream)
        .with_src(crate_dir.join("src/lib.rs"))
        .with_config(config)
        .generate()
        .expect("cbindgen could not generate the header")
        .write_to_file(header);
}
