//! Large reads of planned (`direct`) unsharded arrays, by row groups: chunks side by side along
//! the last axis decoded by one task into adjacent buffers, then streamed into the output
//! together (`boxcopy::stream_row_group`).
//!
//! Chunk by chunk, a task writes rows as short as the chunk is wide (128 bytes for 64 uint16),
//! which split cache lines with the neighbouring chunks' rows, so they cannot bypass the caches.
//! A row group writes the region's rows across all its chunks at once: whole lines, streamed.

use std::sync::atomic::{AtomicUsize, Ordering};

use zarrs::array::ArraySubset;

use crate::args::byte_count;
use crate::boxcopy::{Placed, RowPiece, intersect, stream_row_group};
use crate::direct::{PAGE, page_aligned_window};
use crate::error::{FfiError, FfiResult};

/// Outputs at least this large are streamed by default; smaller ones stay in the caches, where
/// the caller's next look at them is fast (the benchmark's unaligned region, 19 MiB, gains).
const DEFAULT_STREAMING_THRESHOLD: usize = 16 << 20;
static STREAMING_THRESHOLD: AtomicUsize = AtomicUsize::new(DEFAULT_STREAMING_THRESHOLD);

/// Stream reads of planned arrays into outputs of at least `bytes` bytes by row groups, with
/// cache-bypassing stores (default 16 MiB; 0 streams every multi-chunk read, `SIZE_MAX` none).
/// Returns the previous threshold.
#[unsafe(no_mangle)]
pub extern "C" fn zarrsCffiSetStreamingThreshold(bytes: usize) -> usize {
    STREAMING_THRESHOLD.swap(bytes, Ordering::Relaxed)
}

/// True if a read into an output of `bytes` bytes goes by row groups.
pub fn streams(bytes: usize) -> bool {
    bytes >= STREAMING_THRESHOLD.load(Ordering::Relaxed)
}

/// Decoded bytes one task holds at most (on each pool thread, reused across calls).
const GROUP_BYTES: usize = 4 << 20;
/// Groups per thread at least, so that uneven tasks still balance across the pool.
const GROUPS_PER_THREAD: usize = 4;

thread_local! {
    pub(crate) static GROUP: crate::scratch::Buffer = const { crate::scratch::Buffer::new() };
}

/// Split `chunks` (C order) into runs of chunks adjacent along the last axis, each holding at
/// most `GROUP_BYTES` of `chunk_bytes`-sized chunks, and short enough to give each of `threads`
/// threads `GROUPS_PER_THREAD` groups.
pub fn row_groups(chunks: &[Vec<u64>], chunk_bytes: usize, threads: usize) -> Vec<Vec<Vec<u64>>> {
    let by_memory = GROUP_BYTES / chunk_bytes.max(1);
    let by_balance = chunks.len() / (GROUPS_PER_THREAD * threads.max(1));
    let longest = by_memory.min(by_balance).max(1);
    let mut groups: Vec<Vec<Vec<u64>>> = Vec::new();
    for chunk in chunks {
        match groups.last_mut() {
            Some(group) if group.len() < longest && continues(&group[group.len() - 1], chunk) => {
                group.push(chunk.clone())
            }
            _ => groups.push(vec![chunk.clone()]),
        }
    }
    groups
}

/// True if chunk `next` follows chunk `previous` along the last axis.
fn continues(previous: &[u64], next: &[u64]) -> bool {
    let Some((last, outer)) = previous.split_last() else {
        return false;
    };
    outer == &next[..outer.len()] && last + 1 == next[outer.len()]
}

/// Decodes the chunk `indices` (placed as given) into a buffer of its full shape, filling at
/// least the box `(lo, hi)` of it.
pub type DecodeAtLeast<'a> =
    dyn Fn(&[u64], Placed, &(Vec<u64>, Vec<u64>), &mut [u8]) -> FfiResult + 'a;

/// Decode the chunks of `group` with `decode` (full chunk shape, into a zeroed or reused buffer
/// in which it must fill at least the given box `(lo, hi)`, the chunk's part of the region) and
/// stream their parts of the region `region` into `out`; `subset`
/// gives a chunk's place in the array. Returns Ok(false) (having written nothing) if the chunks
/// differ in shape or in the part of the outer axes they cover (an irregular grid): the caller
/// then reads them one by one.
///
/// # Safety
/// `out` must hold the region (C order, `elsize`-byte elements) and no one else may write the
/// group's part of it meanwhile (the grid's chunks are disjoint).
pub unsafe fn read_row_group(
    group: &[Vec<u64>],
    subset: &dyn Fn(&[u64]) -> FfiResult<ArraySubset>,
    decode: &DecodeAtLeast<'_>,
    region: Placed,
    out: *mut u8,
    elsize: usize,
) -> FfiResult<bool> {
    let chunks = group
        .iter()
        .map(|indices| subset(indices))
        .collect::<FfiResult<Vec<_>>>()?;
    let shape = chunks[0].shape().to_vec();
    let places: Vec<Placed> = chunks
        .iter()
        .map(|chunk| Placed {
            origin: chunk.start(),
            shape: &shape,
        })
        .collect();
    let boxes: Vec<(Vec<u64>, Vec<u64>)> = places
        .iter()
        .filter_map(|&place| intersect(region, place))
        .collect();
    let Some(outer) = shape.len().checked_sub(1) else {
        return Ok(false);
    };
    let uniform = chunks.iter().all(|chunk| chunk.shape() == shape)
        && boxes.len() == group.len()
        && boxes.iter().all(|(lo, hi)| {
            lo[..outer] == boxes[0].0[..outer] && hi[..outer] == boxes[0].1[..outer]
        });
    if !uniform {
        return Ok(false);
    }
    let bytes = byte_count(&shape, elsize)?;
    // Page-aligned slots: uncompressed chunk files are read straight into them at full speed.
    let slot = bytes.next_multiple_of(PAGE);
    GROUP.with(|buffer| {
        let mut buffer = buffer.borrow_mut();
        let total = slot
            .checked_mul(group.len())
            .ok_or_else(|| FfiError::invalid("a row group too large to buffer"))?;
        let base = page_aligned_window(&mut buffer, total)
            .map_err(|e| FfiError::invalid(format!("row group: {e}")))?;
        for (j, ((indices, &place), part)) in group.iter().zip(&places).zip(&boxes).enumerate() {
            decode(
                indices,
                place,
                part,
                &mut buffer[base + j * slot..][..bytes],
            )?;
        }
        let pieces: Vec<RowPiece> = places
            .iter()
            .zip(&boxes)
            .enumerate()
            .map(|(j, (&place, (lo, hi)))| RowPiece {
                src: buffer[base + j * slot..].as_ptr(),
                place,
                lo: lo[outer],
                hi: hi[outer],
            })
            .collect();
        let (lo, hi) = &boxes[0];
        // SAFETY: each piece's box lies in its decoded chunk and in the region; the pieces are
        // consecutive along the last axis; the group's part of `out` is ours, per the contract.
        unsafe {
            stream_row_group(&pieces, out, region, &lo[..outer], &hi[..outer], elsize);
        }
        Ok(true)
    })
}
