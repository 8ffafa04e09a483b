//! Multi-chunk reads and writes, one chunk per task on the pool.
//!
//! Each task decodes (or gathers) one chunk's part of the region in a per-thread scratch buffer
//! that is reused across calls, then copies it into place row by row (`boxcopy`). Compared with
//! zarrs' own multi-chunk path this avoids its per-element index iterator and a fresh allocation
//! per chunk; the codecs are zarrs' own.

use std::cell::RefCell;
use std::sync::Mutex;

use rayon::prelude::*;

use zarrs::array::{
    ArrayBytes, ArrayBytesFixedDisjointView, ArrayError, ArrayShardedExt, ArrayShardedReadableExt,
    ArrayShardedReadableExtCache, ArraySubset,
};

use crate::args::RwArray;
use crate::array_io::array_error;
use crate::boxcopy::{Placed, copy_box, intersect};
use crate::error::{FfiError, FfiResult};
use crate::pool::{codec_options, in_pool};
use crate::safety::{catch_codec_panic, has_checksum};

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A pointer that may cross to pool threads; each task touches a disjoint part.
#[derive(Clone, Copy)]
struct SharedPtr(*mut u8);
// SAFETY: tasks write disjoint boxes of the buffer (or only read it); the caller keeps it alive.
unsafe impl Send for SharedPtr {}
unsafe impl Sync for SharedPtr {}

impl SharedPtr {
    // A method, so closures capture the whole (Send + Sync) wrapper, not its raw-pointer field.
    fn get(self) -> *mut u8 {
        self.0
    }
}

/// Chunk indices of every chunk the region touches, or None if it is a single chunk (the
/// single-chunk path is already direct).
fn chunks_of(array: &RwArray, subset: &ArraySubset) -> Option<Vec<Vec<u64>>> {
    let chunks = array.chunks_in_array_subset(subset).ok()??;
    if chunks.num_elements() <= 1 {
        return None;
    }
    Some(chunks.indices().into_iter().map(|i| i.to_vec()).collect())
}

/// Run `task` over `items` with at most `threads_per_call()` tasks at once (the caller's share
/// of the pool; several calls from several threads then run side by side).
fn for_each_limited(items: &[Vec<u64>], task: impl Fn(&Vec<u64>) + Sync) {
    let threads = crate::pool::threads_per_call().max(1);
    let group = items.len().div_ceil(threads).max(1);
    items
        .par_chunks(group)
        .for_each(|group| group.iter().for_each(&task));
}

fn with_scratch<T>(bytes: usize, body: impl FnOnce(&mut [u8]) -> T) -> T {
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        if scratch.len() < bytes {
            scratch.resize(bytes, 0);
        }
        body(&mut scratch[..bytes])
    })
}

fn first_error(slot: &Mutex<Option<FfiError>>, err: FfiError) {
    let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
    if slot.is_none() {
        *slot = Some(err);
    }
}

fn chunk_label(array: &RwArray, indices: &[u64]) -> String {
    format!(
        "chunk {indices:?} (key {:?})",
        array.chunk_key(indices).as_str()
    )
}

/// Decode the region `[start, start + shape)` into `out` chunk by chunk (inner chunk by inner
/// chunk for sharded arrays). Returns Ok(false) (and does nothing) when the region lies in one
/// chunk.
pub fn read_chunkwise(
    array: &RwArray,
    start: &[u64],
    shape: &[u64],
    out: &mut [u8],
) -> FfiResult<bool> {
    let subset = ArraySubset::from(std::iter::zip(start, shape).map(|(&s, &n)| s..s + n));
    if array.is_sharded() {
        return read_subchunkwise(array, &subset, start, shape, out);
    }
    // Checksummed chunks are decoded whole, even for a one-chunk region: zarrs' partial decoders
    // would skip the checksum.
    let whole_chunks = has_checksum(array);
    let chunks = match chunks_of(array, &subset) {
        Some(chunks) => chunks,
        None if whole_chunks => match array.chunks_in_array_subset(&subset) {
            Ok(Some(one)) => vec![one.start().to_vec()],
            _ => return Ok(false),
        },
        None => return Ok(false),
    };
    let elsize = crate::args::element_size(array)?;
    let out_ptr = SharedPtr(out.as_mut_ptr());
    let region = Placed {
        origin: start,
        shape,
    };
    let error = Mutex::new(None);
    let options = codec_options().with_concurrent_target(1);
    in_pool(|| {
        for_each_limited(&chunks, |indices| {
            let result = catch_codec_panic(
                || chunk_label(array, indices),
                || -> FfiResult {
                    let chunk = array
                        .chunk_subset(indices)
                        .map_err(|e| array_error(e, "chunk grid"))?;
                    let chunk_shape = chunk.shape().to_vec();
                    let chunk_place = Placed {
                        origin: chunk.start(),
                        shape: &chunk_shape,
                    };
                    let Some((lo, hi)) = intersect(region, chunk_place) else {
                        return Ok(());
                    };
                    let in_bounds = is_interior(array, &chunk);
                    let partial = lo.as_slice() != chunk.start() || hi != chunk.end_exc();
                    if partial && in_bounds && !whole_chunks {
                        // A part of an interior chunk: decode the whole chunk into scratch and copy
                        // the part. Partial decoding of an uncompressed chunk would issue one
                        // small read per row, far slower than one read of the chunk.
                        let bytes = chunk_shape.iter().product::<u64>() as usize * elsize;
                        return with_scratch(bytes, |scratch| -> FfiResult {
                            decode_chunk_into(
                                array,
                                &chunk,
                                &chunk_shape,
                                elsize,
                                scratch,
                                &options,
                            )
                            .map_err(|e| array_error(e, &chunk_label(array, indices)))?;
                            // SAFETY: the box lies in the chunk (scratch) and the region; chunks
                            // are disjoint, so no other task writes this box of `out`.
                            unsafe {
                                copy_box(
                                    scratch.as_ptr(),
                                    chunk_place,
                                    out_ptr.get(),
                                    region,
                                    &lo,
                                    &hi,
                                    elsize,
                                )
                            };
                            Ok(())
                        });
                    }
                    if whole_chunks {
                        let decoded = array
                            .retrieve_chunk_opt::<ArrayBytes>(indices, &options)
                            .map_err(|e| array_error(e, &chunk_label(array, indices)))?
                            .into_fixed()
                            .map_err(|_| {
                                FfiError::invalid("variable-size data types are not supported")
                            })?;
                        // SAFETY: the box lies in the decoded chunk and in the region; chunks are
                        // disjoint, so no other task writes this box of `out`.
                        unsafe {
                            copy_box(
                                decoded.as_ptr(),
                                chunk_place,
                                out_ptr.get(),
                                region,
                                &lo,
                                &hi,
                                elsize,
                            )
                        };
                        return Ok(());
                    }
                    let part_shape: Vec<u64> = lo.iter().zip(&hi).map(|(l, h)| h - l).collect();
                    let part = ArraySubset::from(lo.iter().zip(&hi).map(|(&l, &h)| l..h));
                    let bytes = part_shape.iter().product::<u64>() as usize * elsize;
                    with_scratch(bytes, |scratch| -> FfiResult {
                        let cells = unsafe_cell_slice::UnsafeCellSlice::new(scratch);
                        let whole = ArraySubset::new_with_shape(part_shape.clone());
                        // SAFETY: the only view over this thread's scratch buffer.
                        let mut view = unsafe {
                            ArrayBytesFixedDisjointView::new(cells, elsize, &part_shape, whole)
                        }
                        .map_err(|e| {
                            array_error(ArrayError::Other(e.to_string()), "scratch view")
                        })?;
                        array
                            .retrieve_array_subset_into_opt(&part, (&mut view).into(), &options)
                            .map_err(|e| array_error(e, &chunk_label(array, indices)))?;
                        let part_place = Placed {
                            origin: &lo,
                            shape: &part_shape,
                        };
                        // SAFETY: the part lies in the region and in the scratch buffer; chunks are
                        // disjoint, so no other task writes this box of `out`.
                        unsafe {
                            copy_box(
                                scratch.as_ptr(),
                                part_place,
                                out_ptr.get(),
                                region,
                                &lo,
                                &hi,
                                elsize,
                            )
                        };
                        Ok(())
                    })
                },
            );
            if let Err(err) = result {
                first_error(&error, err);
            }
        });
        Ok(())
    })?;
    match error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(err) => Err(err),
        None => Ok(true),
    }
}

/// Encode and store the region `[start, start + shape)` from `data` chunk by chunk: wholly
/// covered chunks are stored directly, partly covered ones read-modify-write their part.
/// Returns Ok(false) (and does nothing) when the region lies in one chunk.
pub fn write_chunkwise(
    array: &RwArray,
    start: &[u64],
    shape: &[u64],
    data: &[u8],
) -> FfiResult<bool> {
    let subset = ArraySubset::from(std::iter::zip(start, shape).map(|(&s, &n)| s..s + n));
    let Some(chunks) = chunks_of(array, &subset) else {
        return Ok(false);
    };
    let elsize = crate::args::element_size(array)?;
    let data_ptr = SharedPtr(data.as_ptr().cast_mut());
    let region = Placed {
        origin: start,
        shape,
    };
    let error = Mutex::new(None);
    let options = codec_options().with_concurrent_target(1);
    in_pool(|| {
        for_each_limited(&chunks, |indices| {
            let result = catch_codec_panic(
                || chunk_label(array, indices),
                || -> FfiResult {
                    let label = || chunk_label(array, indices);
                    let chunk = array
                        .chunk_subset(indices)
                        .map_err(|e| array_error(e, &label()))?;
                    let chunk_shape = chunk.shape().to_vec();
                    let chunk_place = Placed {
                        origin: chunk.start(),
                        shape: &chunk_shape,
                    };
                    let Some((lo, hi)) = intersect(region, chunk_place) else {
                        return Ok(());
                    };
                    let part_shape: Vec<u64> = lo.iter().zip(&hi).map(|(l, h)| h - l).collect();
                    let bytes = part_shape.iter().product::<u64>() as usize * elsize;
                    with_scratch(bytes, |scratch| -> FfiResult {
                        let part_place = Placed {
                            origin: &lo,
                            shape: &part_shape,
                        };
                        // SAFETY: the part lies inside the region (`data`) and the scratch buffer;
                        // `data` is only read.
                        unsafe {
                            copy_box(
                                data_ptr.get().cast_const(),
                                region,
                                scratch.as_mut_ptr(),
                                part_place,
                                &lo,
                                &hi,
                                elsize,
                            )
                        };
                        let bytes = ArrayBytes::new_flen(&scratch[..]);
                        if part_shape == chunk_shape && lo == chunk.start() {
                            array.store_chunk_opt(indices, bytes, &options)
                        } else {
                            let part = ArraySubset::from(lo.iter().zip(&hi).map(|(&l, &h)| l..h));
                            array.store_array_subset_opt(&part, bytes, &options)
                        }
                        .map_err(|e| array_error(e, &format!("storing {}", label())))
                    })
                },
            );
            if let Err(err) = result {
                first_error(&error, err);
            }
        });
        Ok(())
    })?;
    match error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(err) => Err(err),
        None => Ok(true),
    }
}

/// True if `chunk` lies inside the array (an edge chunk reaches past its end).
pub fn is_interior(array: &RwArray, chunk: &ArraySubset) -> bool {
    std::iter::zip(chunk.end_exc(), array.shape()).all(|(end, size)| end <= *size)
}

/// Decode the whole (in-bounds) chunk `chunk` into `scratch` (C order, `chunk_shape`).
pub fn decode_chunk_into(
    array: &RwArray,
    chunk: &ArraySubset,
    chunk_shape: &[u64],
    elsize: usize,
    scratch: &mut [u8],
    options: &zarrs::array::CodecOptions,
) -> Result<(), ArrayError> {
    let cells = unsafe_cell_slice::UnsafeCellSlice::new(scratch);
    let whole = ArraySubset::new_with_shape(chunk_shape.to_vec());
    // SAFETY: the only view over this thread's scratch buffer.
    let mut view = unsafe { ArrayBytesFixedDisjointView::new(cells, elsize, chunk_shape, whole) }
        .map_err(|e| ArrayError::Other(e.to_string()))?;
    array.retrieve_array_subset_into_opt(chunk, (&mut view).into(), options)
}

/// The sharded variant of `read_chunkwise`: tasks are inner chunks, fetched by zarrs' partial
/// shard decoding with one shard-index cache for the call, so a shard's inner chunks decode in
/// parallel and each shard index is read once.
fn read_subchunkwise(
    array: &RwArray,
    subset: &ArraySubset,
    start: &[u64],
    shape: &[u64],
    out: &mut [u8],
) -> FfiResult<bool> {
    let grid = array.subchunk_grid();
    let units = match grid.chunks_in_array_subset(subset) {
        Ok(Some(units)) if units.num_elements() > 1 => units,
        _ => return Ok(false),
    };
    let units: Vec<Vec<u64>> = units.indices().into_iter().map(|i| i.to_vec()).collect();
    let readable = crate::array_io::readable_view(array)?;
    let index_cache = ArrayShardedReadableExtCache::new(&readable);
    let elsize = crate::args::element_size(array)?;
    let out_ptr = SharedPtr(out.as_mut_ptr());
    let region = Placed {
        origin: start,
        shape,
    };
    let error = Mutex::new(None);
    let options = codec_options().with_concurrent_target(1);
    in_pool(|| {
        for_each_limited(&units, |indices| {
            let result = catch_codec_panic(
                || format!("inner chunk {indices:?}"),
                || -> FfiResult {
                    let unit = grid.subset(indices).ok().flatten().ok_or_else(|| {
                        FfiError::invalid(format!("inner chunk {indices:?} has no subset"))
                    })?;
                    // Errors name the shard's store key (the file to look at) and the inner chunk.
                    let label = || match array.chunk_grid().chunk_indices(unit.start()) {
                        Ok(Some(shard)) => {
                            format!("inner chunk {indices:?} of {}", chunk_label(array, &shard))
                        }
                        _ => format!("inner chunk {indices:?}"),
                    };
                    let unit_shape = unit.shape().to_vec();
                    let unit_place = Placed {
                        origin: unit.start(),
                        shape: &unit_shape,
                    };
                    let Some((lo, hi)) = intersect(unit_place, region) else {
                        return Ok(());
                    };
                    let decoded = readable
                        .retrieve_subchunk_opt::<ArrayBytes>(&index_cache, indices, &options)
                        .map_err(|e| array_error(e, &label()))?
                        .into_fixed()
                        .map_err(|_| {
                            FfiError::invalid("variable-size data types are not supported")
                        })?;
                    let expected = unit_shape.iter().product::<u64>() as usize * elsize;
                    if decoded.len() != expected {
                        return Err(FfiError::invalid(format!(
                            "{} decoded to {} bytes, expected {expected}",
                            label(),
                            decoded.len()
                        )));
                    }
                    // SAFETY: the box lies inside the decoded inner chunk and the region; inner chunks
                    // are disjoint, so no other task writes this box of `out`.
                    unsafe {
                        copy_box(
                            decoded.as_ptr(),
                            unit_place,
                            out_ptr.get(),
                            region,
                            &lo,
                            &hi,
                            elsize,
                        )
                    };
                    Ok(())
                },
            );
            if let Err(err) = result {
                first_error(&error, err);
            }
        });
        Ok(())
    })?;
    match error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(err) => Err(err),
        None => Ok(true),
    }
}
