//! One shared library: zarrs' C API (crate `zarrs_ffi`, re-exported unchanged) plus zarrs-cffi's own
//! C functions (`zarrsCffi*`) for what upstream lacks. Every `zarrsCffi*` function validates its
//! arguments, catches panics and reports errors per thread via `zarrsCffiLastError`.
#![allow(non_snake_case, non_camel_case_types)]

pub use zarrs_ffi::*;

mod args;
pub mod array_io;
mod atomic_store;
mod blosc_blocks;
mod boxcopy;
pub mod chunk_cache;
mod direct;
mod encode;
pub mod error;
pub mod hierarchy;
pub mod pool;
mod region_io;
mod row_groups;
mod safety;
pub mod version;
