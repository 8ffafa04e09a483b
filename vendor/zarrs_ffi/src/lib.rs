//! One shared library: zarrs' C API (crate `zarrs_ffi`, re-exported unchanged) plus zarrs-cffi's own
//! C functions (`zarrsCffi*`) for what upstream lacks. Every `zarrsCffi*` function validates its
//! arguments, catches panics and reports errors per thread via `zarrsCffiLastError`.
#![allow(non_snake_case, non_camel_case_types)]

pub use zarrs_ffi::*;

mod args;
pub mod array_io;
mod atomic_store;
pub(crate) mod blosc_blocks;
mod boxcopy;
mod checked_inner;
pub mod chunk_cache;
mod chunk_codec;
mod codec_fixes;
mod codec_order;
pub(crate) mod direct;
pub(crate) mod encode;
pub mod error;
mod explained_errors;
pub(crate) mod handle;
pub mod hierarchy;
pub(crate) mod lenient_json;
mod numcodecs_cast;
mod numcodecs_codecs;
mod numcodecs_delta;
mod numcodecs_elem;
mod numcodecs_scale_offset;
mod object_keys;
mod object_reads;
pub(crate) mod planner;
pub mod pool;
mod prefetch;
mod process_slot;
#[cfg(test)]
mod proptests;
mod read_only;
pub(crate) mod region_io;
pub(crate) mod row_groups;
mod safety;
mod scratch;
mod secrets;
mod selection_io;
mod upload;
pub mod url_store;
pub mod version;
mod whole_gets;
pub(crate) mod write_locks;
mod zip_members;
