//! Multi-chunk reads and writes, one chunk per task, on the pool and the calling thread.
//!
//! Each task decodes (or gathers) one chunk's part of the region in a per-thread scratch buffer
//! that is reused across calls, then copies it into place row by row (`boxcopy`). Compared with
//! zarrs' own multi-chunk path this avoids its per-element index iterator and a fresh allocation
//! per chunk; the codecs are zarrs' own.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use zarrs::array::{
    ArrayBytes, ArrayBytesFixedDisjointView, ArrayError, ArrayShardedExt, ArrayShardedReadableExt,
    ArrayShardedReadableExtCache, ArraySubset,
};

use crate::args::{RwArray, byte_count};
use crate::array_io::{array_error, check_length};
use crate::boxcopy::{Placed, copy_box, intersect};
use crate::direct;
use crate::error::{FfiError, FfiResult};
use crate::pool::{codec_options, in_pool};
use crate::row_groups;
use crate::safety::{catch_codec_panic, has_checksum};
use zarrs_ffi::ZarrsResult;

thread_local! {
    pub(crate) static SCRATCH: crate::scratch::Buffer = const { crate::scratch::Buffer::new() };
}

/// A pointer that may cross to pool threads; each task touches a disjoint part.
#[derive(Clone, Copy)]
pub struct SharedPtr(pub *mut u8);
// SAFETY: tasks write disjoint boxes of the buffer (or only read it); the caller keeps it alive.
unsafe impl Send for SharedPtr {}
unsafe impl Sync for SharedPtr {}

impl SharedPtr {
    // A method, so closures capture the whole (Send + Sync) wrapper, not its raw-pointer field.
    pub fn get(self) -> *mut u8 {
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

/// Run `task` over `items` on at most `threads_per_call()` threads (the caller's share of the
/// pool; several calls from several threads then run side by side). Threads take more work as
/// they finish theirs, so one that starts late or is preempted does not leave the others waiting
/// on a fixed share (fixed halves made the benchmark's unaligned sharded read take 20 or 29 ms
/// from one run to the next).
fn for_each_limited<T: Sync>(items: &[T], task: impl Fn(&T) + Sync) {
    let threads = crate::pool::threads_per_call().max(1);
    if threads >= rayon::current_num_threads() {
        // The whole pool is ours: rayon's splitting keeps each thread on a contiguous run (a
        // shard's inner chunks stay together, its bytes loaded once) and steals at the ends.
        items.par_iter().with_max_len(1).for_each(&task);
        return;
    }
    // A capped share: `threads` workers pulling the next item in turn.
    let next = AtomicUsize::new(0);
    (0..threads.min(items.len())).into_par_iter().for_each(|_| {
        while let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) {
            task(item);
        }
    });
}

/// Run `body` on this thread's reused scratch buffer, `bytes` long (not re-entrant). A buffer
/// that cannot be allocated (a huge chunk) is an error, not an abort of the process.
pub fn with_scratch<T>(bytes: usize, body: impl FnOnce(&mut [u8]) -> FfiResult<T>) -> FfiResult<T> {
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        let have = scratch.len();
        if have < bytes {
            scratch.try_reserve_exact(bytes - have).map_err(|_| {
                FfiError::upstream(
                    ZarrsResult::ZARRS_ERROR_ARRAY,
                    format!("a buffer of {bytes} bytes to decode a chunk into cannot be allocated"),
                )
            })?;
            scratch.resize(bytes, 0);
        }
        body(&mut scratch[..bytes])
    })
}

/// Where a call's tasks run.
#[derive(Clone, Copy)]
enum Spread {
    /// Tasks that run only this library's code (direct decoding): the calling thread works
    /// through them beside pool helpers (`pool::for_each_with_helpers`).
    WithCaller,
    /// Tasks that call zarrs' codecs, which may go parallel themselves: inside the pool, so
    /// that their rayon work stays in the fork-aware pool.
    InPool,
    /// Small tasks of this library's code, all on the calling thread.
    Caller,
}

/// Reads of uncompressed chunk files smaller than this run on the calling thread alone: a
/// helper's start (5-10 us, more when it must be woken) costs more than the copying it takes
/// over.
const SMALL_RAW_READ: usize = 128 * 1024;

/// Run `task` for every item (spread as `spread` says), each under `catch_codec_panic` with the
/// label `label` gives; the first error wins, the other tasks still run.
fn run_tasks<T: Sync>(
    spread: Spread,
    items: &[T],
    label: impl Fn(&T) -> String + Sync,
    task: impl Fn(&T) -> FfiResult + Sync,
) -> FfiResult {
    let error = Mutex::new(None);
    let each = |item: &T| {
        if let Err(err) = catch_codec_panic(|| label(item), || task(item)) {
            let mut slot = error.lock().unwrap_or_else(|p| p.into_inner());
            if slot.is_none() {
                *slot = Some(err);
            }
        }
    };
    match spread {
        Spread::WithCaller => crate::pool::for_each_with_helpers(items, each),
        Spread::Caller => items.iter().for_each(each),
        Spread::InPool => in_pool(|| {
            for_each_limited(items, each);
            Ok(())
        })?,
    }
    match error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(err) => Err(err),
        None => Ok(()),
    }
}

pub fn chunk_label(array: &RwArray, indices: &[u64]) -> String {
    format!(
        "chunk {indices:?} (key {:?})",
        array.chunk_key(indices).as_str()
    )
}

/// Names an inner chunk of a sharded array and its shard's store key (the file to look at).
pub fn inner_chunk_label(array: &RwArray, indices: &[u64]) -> String {
    let shard = array
        .subchunk_grid()
        .subset(indices)
        .ok()
        .flatten()
        .and_then(|unit| {
            array
                .chunk_grid()
                .chunk_indices(unit.start())
                .ok()
                .flatten()
        });
    match shard {
        Some(shard) => format!("inner chunk {indices:?} of {}", chunk_label(array, &shard)),
        None => format!("inner chunk {indices:?}"),
    }
}

/// Read the region `[start, start + shape)` into `out` if it lies in one chunk of an unsharded
/// array that decodes directly and is either that whole (in-bounds) chunk — decoded straight into
/// `out`, without zarrs' intermediate chunk buffer and its copy (an uncompressed chunk is read from
/// its file into `out`, split over the calling thread and pool helpers) — or a part of an
/// uncompressed chunk, read from the part's rows of the file (`Plan::copy_raw_part`; zarrs' partial
/// decoder reads each row separately: 2,000 random 8^3 regions of the benchmark's raw array took
/// 250 ms that way) — or a part of a compressed chunk, decoded whole into reused scratch and
/// copied out. Returns Ok(false) (and does nothing) otherwise.
pub fn read_in_one_chunk(
    array: &RwArray,
    start: &[u64],
    shape: &[u64],
    out: &mut [u8],
) -> FfiResult<bool> {
    if array.is_sharded() || out.is_empty() {
        return Ok(false); // an empty region (from C) reads nothing: `decode_into` says so
    }
    let Ok(Some(indices)) = array.chunk_grid().chunk_indices(start) else {
        return Ok(false);
    };
    let Ok(chunk) = array.chunk_subset(&indices) else {
        return Ok(false);
    };
    let end: Vec<u64> = std::iter::zip(start, shape).map(|(s, n)| s + n).collect();
    if std::iter::zip(&end, chunk.end_exc()).any(|(e, c)| *e > c) {
        return Ok(false); // the region reaches into the next chunk
    }
    let Some(plan) = direct::plan(array) else {
        return Ok(false);
    };
    let label = || chunk_label(array, &indices);
    if chunk.start() == start && chunk.shape() == shape && is_interior(array, &chunk) {
        catch_codec_panic(label, || plan.decode_chunk(array, &indices, out, &label))?;
        return Ok(true);
    }
    let region = Placed {
        origin: start,
        shape,
    };
    let chunk_place = Placed {
        origin: chunk.start(),
        shape: chunk.shape(),
    };
    // SAFETY: the box is the region itself, inside the chunk and exactly `out`.
    let copied = catch_codec_panic(label, || unsafe {
        plan.copy_raw_part(
            array,
            &indices,
            chunk_place,
            start,
            &end,
            out.as_mut_ptr(),
            region,
            &label,
        )
    })?;
    if copied {
        return Ok(true);
    }
    // A part of a compressed chunk: the whole chunk decoded into reused scratch, the part copied
    // out (zarrs' decoder decodes the whole chunk too, into fresh memory, then extracts the part:
    // a 16x32 region of a 4 MiB zstd chunk took ~10 ms). `chunk_place` is the chunk's full,
    // unclipped extent (`chunk_subset`), the shape it is decoded at.
    // SAFETY: the box is the region itself, inside the chunk and exactly `out`.
    catch_codec_panic(label, || unsafe {
        plan.copy_decoded_part(
            array,
            &indices,
            chunk_place,
            start,
            &end,
            out.as_mut_ptr(),
            region,
            &label,
        )
    })?;
    Ok(true)
}

/// Decode the region `[start, start + shape)` into `out` chunk by chunk (inner chunk by inner
/// chunk for sharded arrays). Returns Ok(false) (and does nothing) when the region lies in one
/// chunk (for sharded arrays: in one inner chunk, unless the array decodes directly).
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
    let plan = direct::plan(array);
    let options = codec_options().with_concurrent_target(1);
    let label = |indices: &[u64]| chunk_label(array, indices);
    let read_chunk = |indices: &[u64]| -> FfiResult {
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
        // SAFETY (every copy_box below): the box lies in the decoded chunk (or part) and in the
        // region; chunks are disjoint, so no other task writes this box of `out`.
        let place = |decoded: &[u8], from: Placed| -> FfiResult {
            unsafe {
                copy_box(
                    decoded.as_ptr(),
                    from,
                    out_ptr.get(),
                    region,
                    &lo,
                    &hi,
                    elsize,
                )
            };
            Ok(())
        };
        if let Some(plan) = &plan {
            // SAFETY: as for `place`.
            let copied = unsafe {
                plan.copy_raw_part(
                    array,
                    indices,
                    chunk_place,
                    &lo,
                    &hi,
                    out_ptr.get(),
                    region,
                    &|| label(indices),
                )
            }?;
            if copied {
                return Ok(());
            }
            // SAFETY: as for `place`.
            return unsafe {
                plan.copy_decoded_part(
                    array,
                    indices,
                    chunk_place,
                    &lo,
                    &hi,
                    out_ptr.get(),
                    region,
                    &|| label(indices),
                )
            };
        }
        let in_bounds = is_interior(array, &chunk);
        let partial = lo.as_slice() != chunk.start() || hi != chunk.end_exc();
        if partial && in_bounds && !whole_chunks {
            // A part of an interior chunk: decode the whole chunk into scratch and copy the part.
            // Partial decoding of an uncompressed chunk would issue one small read per row, far
            // slower than one read of the chunk.
            let bytes = byte_count(&chunk_shape, elsize)?;
            return with_scratch(bytes, |scratch| -> FfiResult {
                decode_chunk_into(array, &chunk, &chunk_shape, elsize, scratch, &options)
                    .map_err(|e| array_error(e, &label(indices)))?;
                place(scratch, chunk_place)
            });
        }
        if whole_chunks {
            let decoded = array
                .retrieve_chunk_opt::<ArrayBytes>(indices, &options)
                .map_err(|e| array_error(e, &label(indices)))?
                .into_fixed()
                .map_err(|_| FfiError::invalid("variable-size data types are not supported"))?;
            return place(&decoded, chunk_place);
        }
        let part_shape: Vec<u64> = lo.iter().zip(&hi).map(|(l, h)| h - l).collect();
        let part = ArraySubset::from(lo.iter().zip(&hi).map(|(&l, &h)| l..h));
        let bytes = byte_count(&part_shape, elsize)?;
        with_scratch(bytes, |scratch| -> FfiResult {
            let cells = unsafe_cell_slice::UnsafeCellSlice::new(scratch);
            let whole = ArraySubset::new_with_shape(part_shape.clone());
            // SAFETY: the only view over this thread's scratch buffer.
            let mut view =
                unsafe { ArrayBytesFixedDisjointView::new(cells, elsize, &part_shape, whole) }
                    .map_err(|e| array_error(ArrayError::Other(e.to_string()), "scratch view"))?;
            array
                .retrieve_array_subset_into_opt(&part, (&mut view).into(), &options)
                .map_err(|e| array_error(e, &label(indices)))?;
            place(
                scratch,
                Placed {
                    origin: &lo,
                    shape: &part_shape,
                },
            )
        })
    };
    if let Some(plan) = plan.as_ref().filter(|_| row_groups::streams(out.len())) {
        read_by_row_groups(array, plan, &chunks, region, out_ptr, elsize, &read_chunk)?;
        return Ok(true);
    }
    let spread = match &plan {
        // Reading a few parts of uncompressed files takes less time than waking a helper.
        Some(plan) if plan.chunks_are_raw_files() && out.len() < SMALL_RAW_READ => Spread::Caller,
        Some(_) => Spread::WithCaller,
        None => Spread::InPool,
    };
    run_tasks(
        spread,
        &chunks,
        |indices| label(indices),
        |indices| read_chunk(indices),
    )?;
    Ok(true)
}

/// `read_chunkwise` into a large output of a planned array: by row groups (`row_groups`); the
/// chunks of a group the grid makes irregular are read one by one with `read_chunk`.
fn read_by_row_groups(
    array: &RwArray,
    plan: &direct::Plan,
    chunks: &[Vec<u64>],
    region: Placed,
    out: SharedPtr,
    elsize: usize,
    read_chunk: &(dyn Fn(&[u64]) -> FfiResult + Sync),
) -> FfiResult {
    let label = |indices: &[u64]| chunk_label(array, indices);
    let subset = |indices: &[u64]| {
        array
            .chunk_subset(indices)
            .map_err(|e| array_error(e, &label(indices)))
    };
    // A part of an uncompressed chunk (at the region's edges) is read alone, into its place.
    let decode =
        |indices: &[u64], place: Placed, (lo, hi): &(Vec<u64>, Vec<u64>), dest: &mut [u8]| {
            let label = || label(indices);
            if plan.read_raw_part_in_place(array, indices, place, (lo, hi), dest, &label)? {
                return Ok(());
            }
            plan.decode_chunk(array, indices, dest, &label)
        };
    let chunk_bytes = byte_count(subset(&chunks[0])?.shape(), elsize)?;
    let groups = row_groups::row_groups(chunks, chunk_bytes, crate::pool::threads_per_call());
    run_tasks(
        Spread::WithCaller,
        &groups,
        |group| label(&group[0]),
        |group| {
            // SAFETY: `out` holds the region; chunks are disjoint, so no other task writes this
            // group's part.
            let streamed = unsafe {
                row_groups::read_row_group(group, &subset, &decode, region, out.get(), elsize)
            }?;
            if !streamed {
                group.iter().try_for_each(|indices| read_chunk(indices))?;
            }
            Ok(())
        },
    )
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
    let options = codec_options().with_concurrent_target(1);
    let encode = crate::encode::plan(array);
    let label = |indices: &[u64]| chunk_label(array, indices);
    run_tasks(
        Spread::InPool,
        &chunks,
        |i: &Vec<u64>| label(i),
        |indices| -> FfiResult {
            let chunk = array
                .chunk_subset(indices)
                .map_err(|e| array_error(e, &label(indices)))?;
            let chunk_shape = chunk.shape().to_vec();
            let chunk_place = Placed {
                origin: chunk.start(),
                shape: &chunk_shape,
            };
            let Some((lo, hi)) = intersect(region, chunk_place) else {
                return Ok(());
            };
            let part_shape: Vec<u64> = lo.iter().zip(&hi).map(|(l, h)| h - l).collect();
            let bytes = byte_count(&part_shape, elsize)?;
            with_scratch(bytes, |scratch| -> FfiResult {
                let part_place = Placed {
                    origin: &lo,
                    shape: &part_shape,
                };
                // SAFETY: the part lies inside the region (`data`) and the scratch buffer; `data` is
                // only read.
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
                let whole = part_shape == chunk_shape && lo == chunk.start();
                if let (true, Some(encode)) = (whole, &encode) {
                    return encode
                        .store_chunk(array, indices, &chunk_shape, scratch, &|| label(indices));
                }
                let bytes = ArrayBytes::new_flen(&scratch[..]);
                if whole {
                    array.store_chunk_opt(indices, bytes, &options)
                } else {
                    let part = ArraySubset::from(lo.iter().zip(&hi).map(|(&l, &h)| l..h));
                    array.store_array_subset_opt(&part, bytes, &options)
                }
                .map_err(|e| array_error(e, &format!("storing {}", label(indices))))
            })
        },
    )?;
    Ok(true)
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

/// True if the shard holding the array element `at` is not stored.
fn shard_is_absent(array: &RwArray, at: &[u64]) -> bool {
    let Ok(Some(shard)) = array.chunk_grid().chunk_indices(at) else {
        return false;
    };
    crate::safety::chunk_is_absent(array, &shard)
}

/// The sharded variant of `read_chunkwise`: tasks are inner chunks, so a shard's inner chunks
/// decode in parallel and each shard index is read once. Planned arrays (`direct`) group the
/// tasks by shard and read a shard file whole when the region covers most of it; others go
/// through zarrs' partial shard decoding with one shard-index cache for the call.
fn read_subchunkwise(
    array: &RwArray,
    subset: &ArraySubset,
    start: &[u64],
    shape: &[u64],
    out: &mut [u8],
) -> FfiResult<bool> {
    let grid = array.subchunk_grid();
    let plan = direct::plan(array);
    // One inner chunk too when planned: zarrs' partial shard decoder would read it into fresh
    // memory (a random 8^3 region of the benchmark's sharded array, uncached: 243 us a read).
    let least = if plan.is_some() { 1 } else { 2 };
    let units = match grid.chunks_in_array_subset(subset) {
        Ok(Some(units)) if units.num_elements() >= least => units,
        _ => return Ok(false),
    };
    let mut units: Vec<Vec<u64>> = units.indices().into_iter().map(|i| i.to_vec()).collect();
    let elsize = crate::args::element_size(array)?;
    let out_ptr = SharedPtr(out.as_mut_ptr());
    let region = Placed {
        origin: start,
        shape,
    };
    let label = |indices: &[u64]| inner_chunk_label(array, indices);
    // Decode one inner chunk (full inner-chunk shape, `bytes` long) with `decode`, then copy its
    // part of the region into place.
    let place_unit = |indices: &[u64], decode: &dyn Fn(&mut [u8]) -> FfiResult| -> FfiResult {
        let unit =
            grid.subset(indices).ok().flatten().ok_or_else(|| {
                FfiError::invalid(format!("inner chunk {indices:?} has no subset"))
            })?;
        let unit_shape = unit.shape().to_vec();
        let unit_place = Placed {
            origin: unit.start(),
            shape: &unit_shape,
        };
        let Some((lo, hi)) = intersect(unit_place, region) else {
            return Ok(());
        };
        let bytes = byte_count(&unit_shape, elsize)?;
        if bytes >= direct::CHECK_ABSENT_FROM && shard_is_absent(array, unit.start()) {
            // A huge inner chunk of a missing shard is just fill: no buffer for it.
            let fill = array.fill_value().as_ne_bytes();
            // SAFETY: the box lies inside the region; no other task writes it (as below).
            unsafe { crate::boxcopy::fill_box(out_ptr.get(), region, &lo, &hi, fill) };
            return Ok(());
        }
        with_scratch(bytes, |scratch| -> FfiResult {
            decode(scratch)?;
            // SAFETY: the box lies inside the decoded inner chunk and the region; inner chunks
            // are disjoint, so no other task writes this box of `out`.
            unsafe {
                copy_box(
                    scratch.as_ptr(),
                    unit_place,
                    out_ptr.get(),
                    region,
                    &lo,
                    &hi,
                    elsize,
                )
            };
            Ok(())
        })
    };
    if let Some(plan) = plan {
        // Group by shard, so each task walks one shard after another and a shard's bytes can be
        // dropped as soon as its last inner chunk is decoded.
        units.sort_by_cached_key(|unit| direct::ShardReader::locate(&plan, unit));
        let mut remaining: HashMap<Vec<u64>, AtomicUsize> = HashMap::new();
        for unit in &units {
            let shard = direct::ShardReader::locate(&plan, unit).0;
            *remaining.entry(shard).or_default().get_mut() += 1;
        }
        let whole_files = units.len() * 2 >= remaining.len() * plan.units_per_shard();
        let reader = direct::ShardReader::new(whole_files);
        // Row groups (`row_groups`) were measured here too and lost: 178 vs 154 ms for the
        // benchmark's sharded whole-array read (168 ms with plain stores).
        run_tasks(
            Spread::WithCaller,
            &units,
            |i: &Vec<u64>| label(i),
            |indices| {
                let decoded = place_unit(indices, &|dest| {
                    reader.decode_unit(array, &plan, indices, dest, &|| label(indices))
                });
                let shard = direct::ShardReader::locate(&plan, indices).0;
                if remaining[&shard].fetch_sub(1, Ordering::AcqRel) == 1 {
                    reader.release(&shard);
                }
                decoded
            },
        )?;
        return Ok(true);
    }
    let readable = crate::array_io::readable_view(array)?;
    let index_cache = ArrayShardedReadableExtCache::new(&readable);
    let options = codec_options().with_concurrent_target(1);
    run_tasks(
        Spread::InPool,
        &units,
        |i: &Vec<u64>| label(i),
        |indices| {
            place_unit(indices, &|dest| {
                let decoded = readable
                    .retrieve_subchunk_opt::<ArrayBytes>(&index_cache, indices, &options)
                    .map_err(|e| array_error(e, &label(indices)))?
                    .into_fixed()
                    .map_err(|_| FfiError::invalid("variable-size data types are not supported"))?;
                check_length(
                    decoded.len(),
                    dest.len(),
                    &format!("decoded {}", label(indices)),
                )?;
                dest.copy_from_slice(&decoded);
                Ok(())
            })
        },
    )?;
    Ok(true)
}
