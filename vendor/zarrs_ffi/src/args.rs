//! Checks for raw arguments before anything touches them: NULL pointers, UTF-8 strings, lengths,
//! and handle variants. Upstream aborts the process on a NULL or non-UTF-8 string; these don't.

use std::ffi::{CStr, c_char};

use zarrs::array::{Array, ArrayShardedExt};
use zarrs::storage::ReadableWritableStorageTraits;
use zarrs_ffi::ZarrsResult;

use crate::error::{FfiError, FfiResult};

pub type RwArray = Array<dyn ReadableWritableStorageTraits>;

/// A NUL-terminated UTF-8 string argument.
pub fn str_arg<'a>(ptr: *const c_char, name: &str) -> FfiResult<&'a str> {
    if ptr.is_null() {
        return Err(FfiError::invalid(format!("{name} is NULL")));
    }
    // SAFETY: not NULL; the caller promises a NUL-terminated string that outlives the call.
    let cstr = unsafe { CStr::from_ptr(ptr) };
    cstr.to_str()
        .map_err(|e| FfiError::invalid(format!("{name} is not valid UTF-8: {e}")))
}

/// `len` elements at `ptr` (a NULL `ptr` is fine when `len` is 0).
pub fn slice_arg<'a, T>(ptr: *const T, len: usize, name: &str) -> FfiResult<&'a [T]> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(FfiError::invalid(format!("{name} is NULL")));
    }
    // SAFETY: not NULL; the caller promises `len` readable elements.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// A writable buffer of `len` bytes.
pub fn out_bytes_arg<'a>(ptr: *mut u8, len: usize, name: &str) -> FfiResult<&'a mut [u8]> {
    if len == 0 {
        return Ok(&mut []);
    }
    if ptr.is_null() {
        return Err(FfiError::invalid(format!("{name} is NULL")));
    }
    // SAFETY: not NULL; the caller promises `len` writable bytes, not aliased during the call.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
}

/// Write `value` through an out-pointer.
pub fn write_out<T>(ptr: *mut T, value: T, name: &str) -> FfiResult {
    if ptr.is_null() {
        return Err(FfiError::invalid(format!("{name} is NULL")));
    }
    // SAFETY: not NULL; the caller promises a valid, writable `T`.
    unsafe { ptr.write(value) };
    Ok(())
}

/// Hand `bytes` to the caller: `*pBytes`/`*pLength`, freed with `zarrsCffiFreeBytes`.
pub fn write_bytes_out(bytes: Vec<u8>, pBytes: *mut *mut u8, pLength: *mut usize) -> FfiResult {
    let boxed: Box<[u8]> = bytes.into_boxed_slice();
    write_out(pLength, boxed.len(), "pLength")?;
    write_out(pBytes, Box::into_raw(boxed).cast::<u8>(), "pBytes")
}

/// Check that `indices` has one entry per dimension and lies inside the chunk grid.
pub fn check_chunk_indices(array: &RwArray, indices: &[u64]) -> FfiResult {
    let grid = array.chunk_grid_shape();
    if indices.len() != grid.len() {
        return Err(FfiError::upstream(
            ZarrsResult::ZARRS_ERROR_INCOMPATIBLE_DIMENSIONALITY,
            format!(
                "chunk coordinates {indices:?} have {} entries, the array has {} dimensions",
                indices.len(),
                grid.len()
            ),
        ));
    }
    if indices.iter().zip(grid).any(|(i, n)| i >= n) {
        return Err(FfiError::upstream(
            ZarrsResult::ZARRS_ERROR_INVALID_INDICES,
            format!("chunk coordinates {indices:?} are outside the chunk grid {grid:?}"),
        ));
    }
    Ok(())
}

/// Check a region [start, start + shape) against the array's shape.
pub fn check_region(array: &RwArray, start: &[u64], shape: &[u64]) -> FfiResult {
    let dims = array.shape();
    if start.len() != dims.len() || shape.len() != dims.len() {
        return Err(FfiError::upstream(
            ZarrsResult::ZARRS_ERROR_INCOMPATIBLE_DIMENSIONALITY,
            format!(
                "region has {} start and {} shape entries, the array has {} dimensions",
                start.len(),
                shape.len(),
                dims.len()
            ),
        ));
    }
    for (axis, ((&s, &n), &d)) in start.iter().zip(shape).zip(dims).enumerate() {
        if s.checked_add(n).is_none_or(|end| end > d) {
            return Err(FfiError::upstream(
                ZarrsResult::ZARRS_ERROR_INVALID_INDICES,
                format!("region [{s}, {s}+{n}) is out of bounds for axis {axis} with size {d}"),
            ));
        }
    }
    Ok(())
}

/// Bytes per element of the array's data type (fixed-size types only).
pub fn element_size(array: &RwArray) -> FfiResult<usize> {
    array.data_type().fixed_size().ok_or_else(|| {
        FfiError::upstream(
            ZarrsResult::ZARRS_ERROR_UNSUPPORTED_DATA_TYPE,
            "variable-size data types are not supported",
        )
    })
}

/// Byte count of `shape` elements, without overflow.
pub fn byte_count(shape: &[u64], element_size: usize) -> FfiResult<usize> {
    shape
        .iter()
        .try_fold(element_size as u64, |acc, &n| acc.checked_mul(n))
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| FfiError::invalid(format!("a region of shape {shape:?} is too large")))
}

/// The box reads are grouped by (the chunk cache's unit, a selection's group): the inner chunk
/// shape if sharded, else the chunk shape; None if the chunk grid is not regular.
pub fn read_unit_shape(array: &RwArray) -> FfiResult<Option<Vec<u64>>> {
    let regular = match array.metadata() {
        zarrs::array::ArrayMetadata::V3(v3) => v3.chunk_grid.name() == "regular",
        zarrs::array::ArrayMetadata::V2(_) => true,
    };
    if !regular {
        return Ok(None);
    }
    let shape = match array.subchunk_shape() {
        Some(inner) => inner,
        None => array
            .chunk_shape(&vec![0; array.dimensionality()])
            .map_err(|e| crate::array_io::array_error(e, "chunk grid"))?,
    };
    Ok(Some(shape.iter().map(|n| n.get()).collect()))
}
