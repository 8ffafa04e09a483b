//! Version of this library and of the upstream crate it embeds.

use std::ffi::c_char;

/// zarrs-cffi's native library version, e.g. "0.1.0" (a static string: do not free).
#[unsafe(no_mangle)]
pub extern "C" fn zarrsCffiVersion() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The version of the embedded upstream crate `zarrs_ffi` (a static string: do not free).
#[unsafe(no_mangle)]
pub extern "C" fn zarrsCffiUpstreamVersion() -> *const c_char {
    concat!("zarrs_ffi ", env!("ZARRS_FFI_VERSION"), "\0")
        .as_ptr()
        .cast()
}
