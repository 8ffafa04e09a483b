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
    cbindgen::Builder::new()
        .with_src(upstream)
        .with_src(crate_dir.join("src/lib.rs"))
        .with_config(config)
        .generate()
        .expect("cbindgen could not generate the header")
        .write_to_file(header);
}
