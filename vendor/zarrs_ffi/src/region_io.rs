//! Multi-chunk reads and writes, one chunk per task, on the pool and the calling thread.
//!
//! Each task decodes (or gathers) one chunk's part of the region in a per-thread scratch buffer
//! that is reused across calls, then copies it into place row by row (`boxcopy`). Compared with
//! zarrs' own multi-chunk path this avoids its per-element index iterator and a fresh allocation
//! per chunk; the codecs are zarrs' own.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use zarrs::array::{
    ArrayBytes, ArrayBytesFixedDisjointView, ArrayError, ArrayShardedExt,
    ArrayShardedReadableExtCache, ArraySubset, CodecOptions,
};

use crate::args::{RwArray, byte_count};
use crate::array_io::{array_error, check_length};
use crate::boxcopy::{Placed, contains, copy_box, intersect};
use crate::direct;
use crate::encode::Encoded;
use crate::error::{FfiError, FfiResult, FirstError};
use crate::handle::ArrayHandle;
use crate::object_reads::Versioned;
use crate::pool::{codec_options, in_pool};
use crate::row_groups;
use crate::safety::catch_codec_panic;
use crate::upload::Stored;
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

/// Run `body` on this thread's reused scratch buffer, `bytes` long. The buffer is taken out of
/// its slot for the call (`Buffer::with_taken`): `body` may call into zarrs, whose work stealing
/// can run another read's task on this thread, which then uses a scratch buffer of its own. A
/// buffer that cannot be allocated (a huge chunk) is an error, not an abort of the process.
pub fn with_scratch<T>(bytes: usize, body: impl FnOnce(&mut [u8]) -> FfiResult<T>) -> FfiResult<T> {
    SCRATCH.with(|slot| {
        slot.with_taken(|scratch| {
            let have = scratch.len();
            if have < bytes {
                scratch.try_reserve_exact(bytes - have).map_err(|_| {
                    FfiError::upstream(
                        ZarrsResult::ZARRS_ERROR_ARRAY,
                        format!(
                            "a buffer of {bytes} bytes to decode a chunk into cannot be allocated"
                        ),
                    )
                })?;
                scratch.resize(bytes, 0);
            }
            body(&mut scratch[..bytes])
        })
    })
}

/// Shard indexes an array handle keeps at most (`ShardReader::bound_to`): with 4,096 inner chunks
/// per shard, 64 KiB each.
const MAX_KEPT_SHARDS: usize = 1024;

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
    let error = FirstError::new();
    let each = |item: &T| {
        if let Err(err) = catch_codec_panic(|| label(item), || task(item)) {
            error.record(err);
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
    error.into_result()
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

/// Read the region `[start, start + shape)` into `out`, which lies in the chunk `indices` (`chunk`)
/// of an unsharded array that decodes directly (`ReadStrategy::OneChunk`): either that whole (in-bounds) chunk — decoded straight into
/// `out`, without zarrs' intermediate chunk buffer and its copy (an uncompressed chunk is read from
/// its file into `out`, split over the calling thread and pool helpers) — or a part of an
/// uncompressed chunk, read from the part's rows of the file (`Plan::copy_raw_part`; zarrs' partial
/// decoder reads each row separately: 2,000 random 8^3 regions of the benchmark's raw array took
/// 250 ms that way) — or a part of a compressed chunk, decoded whole into reused scratch and
/// copied out.
pub fn read_in_one_chunk(
    array: &ArrayHandle,
    plan: &direct::Plan,
    (indices, chunk): (&[u64], &ArraySubset),
    start: &[u64],
    shape: &[u64],
    out: &mut [u8],
) -> FfiResult {
    let end: Vec<u64> = std::iter::zip(start, shape).map(|(s, n)| s + n).collect();
    let label = || chunk_label(array, indices);
    if chunk.start() == start && chunk.shape() == shape && is_interior(array, chunk) {
        catch_codec_panic(label, || plan.decode_chunk(array, indices, out, &label))?;
        return Ok(());
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
            indices,
            chunk_place,
            start,
            &end,
            out.as_mut_ptr(),
            region,
            &label,
        )
    })?;
    if copied {
        return Ok(());
    }
    // A part of a compressed chunk: the whole chunk decoded into reused scratch, the part copied
    // out (zarrs' decoder decodes the whole chunk too, into fresh memory, then extracts the part:
    // a 16x32 region of a 4 MiB zstd chunk took ~10 ms). `chunk_place` is the chunk's full,
    // unclipped extent (`chunk_subset`), the shape it is decoded at.
    // SAFETY: the box is the region itself, inside the chunk and exactly `out`.
    catch_codec_panic(label, || unsafe {
        plan.copy_decoded_part(
            array,
            indices,
            chunk_place,
            start,
            &end,
            out.as_mut_ptr(),
            region,
            &label,
        )
    })
}

/// Decode the region `[start, start + shape)` into `out` chunk by chunk: `chunks` are the chunks
/// it touches (`ReadStrategy::ChunkByChunk`; `whole_chunks`: decoded whole, never in part).
pub fn read_chunkwise(
    array: &ArrayHandle,
    plan: Option<&direct::Plan>,
    (chunks, whole_chunks): (&[Vec<u64>], bool),
    start: &[u64],
    shape: &[u64],
    out: &mut [u8],
) -> FfiResult {
    let read = ChunkwiseRead {
        array,
        plan,
        region: Placed {
            origin: start,
            shape,
        },
        out: SharedPtr(out.as_mut_ptr()),
        elsize: crate::args::element_size(array)?,
        whole_chunks,
        options: codec_options().with_concurrent_target(1),
    };
    let read_chunk = |indices: &[u64]| read.chunk(indices);
    if let Some(plan) = read.plan.filter(|_| row_groups::streams(out.len())) {
        return read_by_row_groups(
            array,
            plan,
            chunks,
            read.region,
            read.out,
            read.elsize,
            &read_chunk,
        );
    }
    let spread = match read.plan {
        // Reading a few parts of uncompressed files takes less time than waking a helper.
        Some(plan) if plan.chunks_are_raw_files() && out.len() < SMALL_RAW_READ => Spread::Caller,
        Some(plan) => {
            let first = array
                .chunk_subset(&chunks[0])
                .map_err(|e| array_error(e, "chunk grid"))?;
            // (a sizing hint: a chunk too large to count is an absent one being filled)
            let chunk_bytes = byte_count(first.shape(), read.elsize).unwrap_or(usize::MAX);
            return run_chunk_tasks(
                array,
                fetches_ahead(plan, chunks.len(), chunk_bytes),
                chunks,
                std::slice::from_ref,
                chunk_bytes,
                |indices| chunk_label(array, indices),
                |indices| read_chunk(indices),
            );
        }
        None => Spread::InPool,
    };
    run_tasks(
        spread,
        chunks,
        |indices| chunk_label(array, indices),
        |indices| read_chunk(indices),
    )
}

/// The object store whose chunks a read of `chunks` chunks (of `chunk_bytes` decoded bytes) of
/// `plan`'s array fetches ahead of its decoding threads (`prefetch`), if it does. Decided by the
/// chunk count: grouping them (`row_groups`) never leaves fewer than two tasks for two chunks.
fn fetches_ahead(plan: &direct::Plan, chunks: usize, chunk_bytes: usize) -> Option<&Versioned> {
    plan.object_store()
        .filter(|_| crate::pool::overlaps_requests(chunks, chunk_bytes))
}

/// The tasks of a chunk-by-chunk read of a planned array, each reading the chunks `chunks(item)`
/// (`chunk_bytes` decoded bytes each): with the chunks fetched ahead of the decoding threads from
/// `store` (`fetches_ahead`), else spread over the calling thread and pool helpers.
fn run_chunk_tasks<T: Sync>(
    array: &RwArray,
    store: Option<&Versioned>,
    items: &[T],
    chunks: impl Fn(&T) -> &[Vec<u64>] + Sync,
    chunk_bytes: usize,
    label: impl Fn(&T) -> String + Sync,
    task: impl Fn(&T) -> FfiResult + Sync,
) -> FfiResult {
    match store {
        Some(store) => crate::prefetch::fetch_then_run(
            store,
            items,
            chunk_bytes,
            |item| chunks(item).iter().map(|c| array.chunk_key(c)).collect(),
            label,
            task,
        ),
        None => run_tasks(Spread::WithCaller, items, label, task),
    }
}

/// One chunk-by-chunk read of an unsharded array: what each chunk's task needs.
struct ChunkwiseRead<'a> {
    array: &'a ArrayHandle,
    plan: Option<&'a direct::Plan>,
    region: Placed<'a>,
    /// The region's output buffer; chunks are disjoint, so tasks write disjoint boxes of it.
    out: SharedPtr,
    elsize: usize,
    /// Chunks are decoded whole, never partially (`safety::needs_whole_chunks`).
    whole_chunks: bool,
    options: CodecOptions,
}

impl ChunkwiseRead<'_> {
    /// Decode the part of chunk `indices` inside the region into its place in `out`.
    fn chunk(&self, indices: &[u64]) -> FfiResult {
        let chunk = self
            .array
            .chunk_subset(indices)
            .map_err(|e| array_error(e, "chunk grid"))?;
        let chunk_place = Placed {
            origin: chunk.start(),
            shape: chunk.shape(),
        };
        let Some(part) = intersect(self.region, chunk_place) else {
            return Ok(());
        };
        let label = || chunk_label(self.array, indices);
        match self.plan {
            Some(plan) => self.chunk_directly(plan, indices, chunk_place, &part, &label),
            None => self.chunk_through_zarrs(indices, &chunk, &part, &label),
        }
    }

    /// Copy `decoded` (laid out as `from`) into the box `lo..hi` of the output.
    fn place(&self, decoded: &[u8], from: Placed, (lo, hi): &(Vec<u64>, Vec<u64>)) {
        // SAFETY: the box lies in the decoded chunk (or part) and in the region; no other task
        // writes this box of `out` (chunks are disjoint).
        unsafe {
            copy_box(
                decoded.as_ptr(),
                from,
                self.out.get(),
                self.region,
                lo,
                hi,
                self.elsize,
            )
        };
    }

    /// The direct decoder: a part of an uncompressed chunk from its bytes in storage, else the
    /// chunk decoded into scratch and its part copied out.
    fn chunk_directly(
        &self,
        plan: &direct::Plan,
        indices: &[u64],
        chunk_place: Placed,
        (lo, hi): &(Vec<u64>, Vec<u64>),
        label: &dyn Fn() -> String,
    ) -> FfiResult {
        let (array, out, region) = (self.array, self.out.get(), self.region);
        // SAFETY (both): the box lies in the chunk and in the region; no other task writes it.
        let copied =
            unsafe { plan.copy_raw_part(array, indices, chunk_place, lo, hi, out, region, label) }?;
        if copied {
            return Ok(());
        }
        unsafe { plan.copy_decoded_part(array, indices, chunk_place, lo, hi, out, region, label) }
    }

    /// zarrs' codecs: a part of an interior chunk decoded whole into scratch (partial decoding of
    /// an uncompressed chunk would read each row separately), a chunk of `whole_chunks` decoded whole,
    /// anything else (edge chunks) through zarrs' partial decoder.
    fn chunk_through_zarrs(
        &self,
        indices: &[u64],
        chunk: &ArraySubset,
        part: &(Vec<u64>, Vec<u64>),
        label: &dyn Fn() -> String,
    ) -> FfiResult {
        let (array, elsize) = (self.array, self.elsize);
        let chunk_place = Placed {
            origin: chunk.start(),
            shape: chunk.shape(),
        };
        let (lo, hi) = part;
        let partial = lo.as_slice() != chunk.start() || *hi != chunk.end_exc();
        if partial && is_interior(array, chunk) && !self.whole_chunks {
            let bytes = byte_count(chunk.shape(), elsize)?;
            return with_scratch(bytes, |scratch| -> FfiResult {
                decode_chunk_into(array, chunk, chunk.shape(), elsize, scratch, &self.options)
                    .map_err(|e| array_error(e, &label()))?;
                self.place(scratch, chunk_place, part);
                Ok(())
            });
        }
        if self.whole_chunks {
            let decoded = array
                .retrieve_chunk_opt::<ArrayBytes>(indices, &self.options)
                .map_err(|e| array_error(e, &label()))?
                .into_fixed()
                .map_err(|_| FfiError::invalid("variable-size data types are not supported"))?;
            self.place(&decoded, chunk_place, part);
            return Ok(());
        }
        let part_shape: Vec<u64> = lo.iter().zip(hi).map(|(l, h)| h - l).collect();
        let part_subset = ArraySubset::from(lo.iter().zip(hi).map(|(&l, &h)| l..h));
        let bytes = byte_count(&part_shape, elsize)?;
        with_scratch(bytes, |scratch| -> FfiResult {
            let cells = unsafe_cell_slice::UnsafeCellSlice::new(scratch);
            let whole = ArraySubset::new_with_shape(part_shape.clone());
            // SAFETY: the only view over this thread's scratch buffer.
            let mut view =
                unsafe { ArrayBytesFixedDisjointView::new(cells, elsize, &part_shape, whole) }
                    .map_err(|e| array_error(ArrayError::Other(e.to_string()), "scratch view"))?;
            array
                .retrieve_array_subset_into_opt(&part_subset, (&mut view).into(), &self.options)
                .map_err(|e| array_error(e, &label()))?;
            let from = Placed {
                origin: lo,
                shape: &part_shape,
            };
            self.place(scratch, from, part);
            Ok(())
        })
    }
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
    // (a sizing hint: a chunk too large to count is an absent one being filled)
    let chunk_bytes = byte_count(subset(&chunks[0])?.shape(), elsize).unwrap_or(usize::MAX);
    // Groups balance the threads that decode: with chunks fetched ahead, the decoding threads
    // alone (`prefetch`), else every thread of the call.
    let store = fetches_ahead(plan, chunks.len(), chunk_bytes);
    let threads = match store {
        Some(_) => crate::pool::decode_threads(),
        None => crate::pool::threads_per_call(),
    };
    let groups = row_groups::row_groups(chunks, chunk_bytes, threads);
    run_chunk_tasks(
        array,
        store,
        &groups,
        |group| group,
        chunk_bytes,
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
    array: &ArrayHandle,
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
    let encode = array.encode_plan();
    let label = |indices: &[u64]| chunk_label(array, indices);
    // Write chunk `indices`; a whole chunk encoded here is stored at once, or left to the
    // caller to upload (`upload`: returned as `Stored`).
    let write_chunk = |indices: &Vec<u64>, upload: bool| -> FfiResult<Stored> {
        let chunk = array
            .chunk_subset(indices)
            .map_err(|e| array_error(e, &label(indices)))?;
        let chunk_shape = chunk.shape().to_vec();
        let chunk_place = Placed {
            origin: chunk.start(),
            shape: &chunk_shape,
        };
        let Some((lo, hi)) = intersect(region, chunk_place) else {
            return Ok(Stored::Done);
        };
        let part_shape: Vec<u64> = lo.iter().zip(&hi).map(|(l, h)| h - l).collect();
        let whole = contains(region, chunk_place);
        let chunk_label = || label(indices);
        let emit = |encoded: Encoded<'_>| -> FfiResult<Stored> {
            if upload {
                return Ok(Stored::at(array.chunk_key(indices), encoded));
            }
            let plan = encode.as_ref().expect("encoded by the plan");
            plan.store(array, indices, encoded, &chunk_label)
                .map(|()| Stored::Done)
        };
        if let (true, Some(encode)) = (whole, encode.as_ref().filter(|e| e.is_sharded())) {
            // Inner chunks straight from `data`, no shard-sized copy first.
            return encode.encode_shard_within(chunk_place, data, region, &chunk_label, emit);
        }
        let bytes = byte_count(&part_shape, elsize)?;
        with_scratch(bytes, |scratch| -> FfiResult<Stored> {
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
            if let (true, Some(encode)) = (whole, &encode) {
                return encode.encode_chunk(&chunk_shape, scratch, &chunk_label, emit);
            }
            let bytes = ArrayBytes::new_flen(&scratch[..]);
            if whole {
                array.store_chunk_opt(indices, bytes, &options)
            } else {
                let part = ArraySubset::from(lo.iter().zip(&hi).map(|(&l, &h)| l..h));
                array.store_array_subset_opt(&part, bytes, &options)
            }
            .map_err(|e| array_error(e, &format!("storing {}", chunk_label())))?;
            Ok(Stored::Done)
        })
    };
    // Whole chunks encoded here are uploaded while the next ones are encoded (`upload`); the
    // rest (partly covered chunks: a read, then a write each) keep their own threads, so their
    // requests stay in flight side by side.
    let (to_upload, rest) = match encode.as_ref().and_then(|plan| plan.uploads_to()) {
        Some(store) => {
            let covered = |indices: &Vec<u64>| {
                array.chunk_subset(indices).is_ok_and(|chunk| {
                    let chunk_place = Placed {
                        origin: chunk.start(),
                        shape: chunk.shape(),
                    };
                    contains(region, chunk_place)
                })
            };
            let (whole, partial): (Vec<_>, Vec<_>) = chunks.into_iter().partition(covered);
            // Regular grids only (`EncodePlan`): the first chunk is as large as any.
            let chunk_bytes = match whole.first() {
                Some(first) => crate::array_io::chunk_layout(array, first)?.1,
                None => 0,
            };
            if crate::pool::overlaps_requests(whole.len(), chunk_bytes) {
                (Some((store, whole, chunk_bytes)), partial)
            } else {
                (None, [whole, partial].concat())
            }
        }
        None => (None, chunks),
    };
    let written = if rest.is_empty() {
        Ok(())
    } else {
        run_tasks(
            Spread::InPool,
            &rest,
            |i: &Vec<u64>| label(i),
            |indices| write_chunk(indices, false).map(drop),
        )
    };
    let uploaded = match to_upload {
        Some((store, whole, chunk_bytes)) => crate::upload::encode_then_put(
            store,
            &whole,
            chunk_bytes,
            |i: &Vec<u64>| label(i),
            |indices| write_chunk(indices, true),
        ),
        None => Ok(()),
    };
    written.and(uploaded)?;
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

/// The sharded variant of `read_chunkwise` (`ReadStrategy::InnerChunks`): tasks are the inner
/// chunks `units`, so a shard's inner chunks decode in parallel and each shard index is read once.
/// Planned arrays (`direct`) group the tasks by shard and read a shard file whole when the region
/// covers most of it; others go through zarrs' partial shard decoding with one shard-index cache
/// for the call.
pub fn read_subchunkwise(
    array: &ArrayHandle,
    plan: Option<&direct::Plan>,
    units: Vec<Vec<u64>>,
    start: &[u64],
    shape: &[u64],
    out: &mut [u8],
) -> FfiResult {
    let grid = array.subchunk_grid();
    let read = SubchunkwiseRead {
        array,
        grid: &grid,
        region: Placed {
            origin: start,
            shape,
        },
        out: SharedPtr(out.as_mut_ptr()),
        elsize: crate::args::element_size(array)?,
    };
    match plan {
        Some(plan) => read.units_directly(plan, units),
        None => read.units_through_zarrs(&units),
    }
}

/// One inner-chunk-by-inner-chunk read of a sharded array: what each inner chunk's task needs.
struct SubchunkwiseRead<'a> {
    array: &'a ArrayHandle,
    grid: &'a zarrs::array::ChunkGrid,
    region: Placed<'a>,
    /// The region's output buffer; inner chunks are disjoint, so tasks write disjoint boxes.
    out: SharedPtr,
    elsize: usize,
}

impl SubchunkwiseRead<'_> {
    fn label(&self, indices: &[u64]) -> String {
        inner_chunk_label(self.array, indices)
    }

    /// Decode one inner chunk (full inner-chunk shape) with `decode` into scratch, then copy its
    /// part of the region into place.
    fn place_unit(&self, indices: &[u64], decode: &dyn Fn(&mut [u8]) -> FfiResult) -> FfiResult {
        let unit =
            self.grid.subset(indices).ok().flatten().ok_or_else(|| {
                FfiError::invalid(format!("inner chunk {indices:?} has no subset"))
            })?;
        let unit_place = Placed {
            origin: unit.start(),
            shape: unit.shape(),
        };
        let Some((lo, hi)) = intersect(unit_place, self.region) else {
            return Ok(());
        };
        let (out, region) = (self.out.get(), self.region);
        let bytes = byte_count(unit.shape(), self.elsize);
        if bytes
            .as_ref()
            .map_or(true, |&b| b >= direct::CHECK_ABSENT_FROM)
            && shard_is_absent(self.array, unit.start())
        {
            // A huge inner chunk of a missing shard is just fill: no buffer for it.
            let fill = self.array.fill_value().as_ne_bytes();
            // SAFETY: the box lies inside the region; no other task writes it (as below).
            unsafe { crate::boxcopy::fill_box(out, region, &lo, &hi, fill) };
            return Ok(());
        }
        with_scratch(bytes?, |scratch| -> FfiResult {
            decode(scratch)?;
            // SAFETY: the box lies inside the decoded inner chunk and the region; inner chunks
            // are disjoint, so no other task writes this box of `out`.
            unsafe {
                copy_box(
                    scratch.as_ptr(),
                    unit_place,
                    out,
                    region,
                    &lo,
                    &hi,
                    self.elsize,
                )
            };
            Ok(())
        })
    }

    /// The direct decoder, grouped by shard: each task walks one shard after another, and a
    /// shard's bytes are dropped as soon as its last inner chunk is decoded.
    fn units_directly(&self, plan: &direct::Plan, mut units: Vec<Vec<u64>>) -> FfiResult {
        units.sort_by_cached_key(|unit| direct::ShardReader::locate(plan, unit));
        let mut remaining: HashMap<Vec<u64>, AtomicUsize> = HashMap::new();
        for unit in &units {
            let shard = direct::ShardReader::locate(plan, unit).0;
            *remaining.entry(shard).or_default().get_mut() += 1;
        }
        let whole_files = units.len() * 2 >= remaining.len() * plan.units_per_shard();
        // On an object store a shard's index is kept by the handle (its reads are tied to the
        // shard's version): a small read of a shard read before is one request, not two.
        let keep = !whole_files && plan.reads_shards_by_version();
        // There, too, the inner chunks this read wants of a shard are fetched together.
        let spans = keep.then(|| direct::ReadSpans::of(self.array, plan, &units));
        let per_read;
        let reader = if keep {
            self.array.kept_shards()
        } else {
            per_read = direct::ShardReader::new(whole_files);
            &per_read
        };
        // Row groups (`row_groups`) were measured here too and lost: 178 vs 154 ms for the
        // benchmark's sharded whole-array read (168 ms with plain stores).
        run_tasks(
            Spread::WithCaller,
            &units,
            |indices| self.label(indices),
            |indices| {
                let label = || self.label(indices);
                let decoded = self.place_unit(indices, &|dest| {
                    reader.decode_unit(self.array, plan, indices, dest, &label, spans.as_ref())
                });
                let shard = direct::ShardReader::locate(plan, indices).0;
                if remaining[&shard].fetch_sub(1, Ordering::AcqRel) == 1 && !keep {
                    reader.release(&shard);
                }
                decoded
            },
        )?;
        if keep {
            reader.bound_to(MAX_KEPT_SHARDS);
        }
        Ok(())
    }

    /// zarrs' partial shard decoding, with one shard-index cache for the call.
    fn units_through_zarrs(&self, units: &[Vec<u64>]) -> FfiResult {
        let readable = crate::array_io::readable_view(self.array)?;
        let index_cache = ArrayShardedReadableExtCache::new(&readable);
        let options = codec_options().with_concurrent_target(1);
        run_tasks(
            Spread::InPool,
            units,
            |indices| self.label(indices),
            |indices| {
                self.place_unit(indices, &|dest| {
                    let decoded = crate::checked_inner::retrieve_inner_chunk(
                        &readable,
                        &index_cache,
                        self.array.checked_inner(),
                        indices,
                        &options,
                    )
                    .map_err(|e| array_error(e, &self.label(indices)))?
                    .into_fixed()
                    .map_err(|_| FfiError::invalid("variable-size data types are not supported"))?;
                    let what = format!("decoded {}", self.label(indices));
                    check_length(decoded.len(), dest.len(), &what)?;
                    dest.copy_from_slice(&decoded);
                    Ok(())
                })
            },
        )
    }
}
