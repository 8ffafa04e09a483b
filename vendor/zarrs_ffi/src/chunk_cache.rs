//! A size-bounded LRU cache of decoded chunks for many small reads of one array.
//!
//! Each small read then costs a lookup and a copy instead of a chunk decode. An array handle owns
//! its cache (`zarrsCffiArraySetChunkCache`) and clears it after its own writes; writes from other
//! handles or processes are not seen while cached (`zarrsCffiArrayClearChunkCache`).
//! For sharded arrays it caches inner chunks, fetched with zarrs' partial shard decoding.

use std::collections::HashSet;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use lru::LruCache;
use zarrs::array::{Array, ArrayBytes, ArrayShardedExt, ArrayShardedReadableExtCache, ArraySubset};
use zarrs::storage::ReadableStorageTraits;

use crate::args::{RwArray, byte_count, element_size, write_out};
use crate::array_io::{array_error, check_length, create_error, decode_region, readable_view};
use crate::boxcopy::{Placed, copy_box, fill_box, intersect};
use crate::direct;
use crate::error::{FfiError, FfiResult, guard};
use crate::handle::{ArrayHandle, ZarrsCffiArray, array_arg};
use crate::pool::codec_options;
use crate::safety::catch_codec_panic;

type ReadableArray = zarrs::array::Array<dyn ReadableStorageTraits>;
type Unit = Arc<UnitBuffer>;

/// A unit's bytes, starting on a page boundary: an uncompressed chunk file is read into it with
/// the kernel's fast copy (a buffer from malloc starts 16 bytes into a page, where that copy
/// runs ~6x slower, see `direct`; measured: random small reads of raw data spent a quarter of
/// their time copying misaligned chunk reads into place).
struct UnitBuffer {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl UnitBuffer {
    fn zeroed(len: usize) -> FfiResult<Self> {
        // Small units are not worth a page of padding (at most 1/16 extra here, not counted
        // against the capacity); their misaligned reads cost little.
        if len < 16 * direct::PAGE {
            return Ok(Self {
                storage: vec![0; len],
                start: 0,
                len,
            });
        }
        let mut storage = Vec::new();
        let start = direct::page_aligned_window(&mut storage, len)
            .map_err(|e| FfiError::invalid(format!("chunk cache: {e}")))?;
        Ok(Self {
            storage,
            start,
            len,
        })
    }
}

impl std::ops::Deref for UnitBuffer {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }
}

impl std::ops::DerefMut for UnitBuffer {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.start + self.len]
    }
}

struct Entries {
    lru: LruCache<Vec<u64>, Unit>,
    used: usize,
    /// Units being decoded right now (by a read or by read-ahead); others wait for them.
    in_flight: HashSet<Vec<u64>>,
    /// Bumped by `clear`: a decode that started before it must not store its (stale) result.
    generation: u64,
    /// The last unit the previous read touched, to spot sequential reads.
    last_read: Option<Vec<u64>>,
    /// Buffers of evicted or cleared units, reused for new ones: fresh memory costs a page fault
    /// per page (tens of microseconds per chunk), reused memory none. `used` + `spare_bytes`
    /// stays within the capacity.
    spare: Vec<UnitBuffer>,
    spare_bytes: usize,
}

impl Entries {
    /// Keep a unit's buffer for reuse if nobody else holds it and the capacity allows.
    fn recycle(&mut self, unit: Unit, capacity: usize) {
        if let Ok(buffer) = Arc::try_unwrap(unit)
            && self.used + self.spare_bytes + buffer.len() <= capacity
        {
            self.spare_bytes += buffer.len();
            self.spare.push(buffer);
        }
    }

    fn evict_to(&mut self, capacity: usize) {
        while self.used > capacity {
            match self.lru.pop_lru() {
                Some((_, evicted)) => {
                    self.used -= evicted.len();
                    self.recycle(evicted, capacity);
                }
                None => break,
            }
        }
    }
}

/// The part of a cache that read-ahead tasks on the pool share with the handle.
struct Shared {
    capacity: usize,
    /// The process that created the cache: a forked child never touches its locks (a pool thread
    /// of the parent may have held one at the fork), it reads uncached instead.
    pid: u32,
    entries: Mutex<Entries>,
    /// Signalled whenever a unit stops being in flight.
    settled: Condvar,
}

/// The cache state for one array handle.
struct Bound {
    /// The cache's own view of the array (same storage and metadata), so read-ahead tasks never
    /// touch the caller's handle, which may be destroyed while they run.
    array: RwArray,
    /// For sharded arrays zarrs decodes: a readable view of the same array. Its shard indexes are
    /// read for every unit: a kept index cannot be checked against the shard now stored.
    sharded: Option<ReadableArray>,
    /// Inner chunks with a checksum, decoded with it verified (`checked_inner`).
    checked: Option<crate::checked_inner::CheckedInner>,
    /// Arrays with a common codec chain decode directly (`direct`); shard indexes are kept in
    /// `shards` until the cache is cleared.
    plan: Option<direct::Plan>,
    shards: direct::ShardReader,
    unit_shape: Vec<u64>,
    /// Bytes of one decoded unit (full unit shape).
    unit_bytes: usize,
    /// Units per dimension (the grid read-ahead walks in C order).
    grid: Vec<u64>,
}

/// A decoded-chunk cache, owned by one array handle (`zarrsCffiArraySetChunkCache`).
pub struct ChunkCache {
    shared: Arc<Shared>,
    /// None: the array has no unit the cache can hold, and its reads go uncached.
    bound: Option<Arc<Bound>>,
}

/// Reads touching more cache units than this decode straight into the output instead.
const MAX_CACHED_UNITS: u64 = 64;
/// How far read-ahead runs ahead of a sequential scan, per thread: small units need several in
/// flight to keep the pool busy between calls.
const READ_AHEAD_BYTES: usize = 1 << 20;
const MAX_READ_AHEAD_PER_THREAD: usize = 16;

impl Shared {
    /// False in a forked child: the cache's locks may be held by threads that do not exist here.
    fn made_here(&self) -> bool {
        self.pid == crate::pool::process_id()
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The unit at `indices`: cached, else awaited (another thread is decoding it), else decoded
    /// here and cached.
    fn unit(&self, bound: &Bound, indices: &[u64]) -> FfiResult<Unit> {
        let generation = {
            let mut entries = self.lock();
            loop {
                if let Some(hit) = entries.lru.get(indices) {
                    return Ok(hit.clone());
                }
                if !entries.in_flight.contains(indices) {
                    break;
                }
                entries = self
                    .settled
                    .wait(entries)
                    .unwrap_or_else(|p| p.into_inner());
            }
            entries.in_flight.insert(indices.to_vec());
            entries.generation
        };
        self.decode_and_store(bound, indices, generation, None)
    }

    /// Decode a unit marked in flight, store it (unless the cache was cleared meanwhile) and wake
    /// the waiters, whatever happens. `spans`: the inner chunks of a read fetched together.
    fn decode_and_store(
        &self,
        bound: &Bound,
        indices: &[u64],
        generation: u64,
        spans: Option<&direct::ReadSpans>,
    ) -> FfiResult<Unit> {
        struct Settle<'a>(&'a Shared, &'a [u64]);
        impl Drop for Settle<'_> {
            fn drop(&mut self) {
                self.0.lock().in_flight.remove(self.1);
                self.0.settled.notify_all();
            }
        }
        let _settle = Settle(self, indices);
        let unit = catch_codec_panic(
            || format!("chunk {indices:?}"),
            || self.decode_unit(bound, indices, spans),
        )?;
        let mut entries = self.lock();
        if unit.len() <= self.capacity && entries.generation == generation {
            if let Some(old) = entries.lru.put(indices.to_vec(), unit.clone()) {
                entries.used -= old.len();
            }
            entries.used += unit.len();
            // Spare buffers give way to cached units.
            while entries.used + entries.spare_bytes > self.capacity {
                match entries.spare.pop() {
                    Some(buffer) => entries.spare_bytes -= buffer.len(),
                    None => break,
                }
            }
            entries.evict_to(self.capacity);
        }
        Ok(unit)
    }

    /// A buffer of `bytes` for a new unit: a spare one if there is one, else fresh memory.
    fn buffer(&self, bytes: usize) -> FfiResult<UnitBuffer> {
        let mut entries = self.lock();
        if let Some(at) = entries.spare.iter().position(|b| b.len() == bytes) {
            entries.spare_bytes -= bytes;
            return Ok(entries.spare.swap_remove(at));
        }
        drop(entries);
        UnitBuffer::zeroed(bytes)
    }

    /// Decode one unit (at full unit shape, edge units padded with the fill value).
    fn decode_unit(
        &self,
        bound: &Bound,
        indices: &[u64],
        spans: Option<&direct::ReadSpans>,
    ) -> FfiResult<Unit> {
        let array = &bound.array;
        let context = || {
            if array.is_sharded() {
                crate::region_io::inner_chunk_label(array, indices)
            } else {
                crate::region_io::chunk_label(array, indices)
            }
        };
        let bytes = bound.unit_bytes;
        let options = codec_options().with_concurrent_target(1);
        let mut buffer = self.buffer(bytes)?;
        if let Some(plan) = &bound.plan {
            if plan.is_sharded() {
                bound
                    .shards
                    .decode_unit(array, plan, indices, &mut buffer, &context, spans)?;
            } else {
                plan.decode_chunk(array, indices, &mut buffer, &context)?;
            }
            return Ok(Arc::new(buffer));
        }
        let decoded = match &bound.sharded {
            Some(readable) => {
                let index_cache = ArrayShardedReadableExtCache::new(readable);
                crate::checked_inner::retrieve_inner_chunk(
                    readable,
                    &index_cache,
                    bound.checked.as_ref(),
                    indices,
                    &options,
                )
            }
            None => {
                let chunk = array
                    .chunk_subset(indices)
                    .map_err(|e| array_error(e, &context()))?;
                // Checksummed chunks take the whole-chunk path: zarrs' subset path may skip the check.
                if crate::region_io::is_interior(array, &chunk)
                    && !crate::safety::has_checksum(array)
                {
                    // Straight into the (reused) buffer, no intermediate copy.
                    crate::region_io::decode_chunk_into(
                        array,
                        &chunk,
                        &bound.unit_shape,
                        crate::args::element_size(array)?,
                        &mut buffer,
                        &options,
                    )
                    .map_err(|e| array_error(e, &context()))?;
                    return Ok(Arc::new(buffer));
                }
                array.retrieve_chunk_opt::<ArrayBytes>(indices, &options)
            }
        }
        .map_err(|e| array_error(e, &context()))?;
        let decoded = decoded
            .into_fixed()
            .map_err(|_| FfiError::invalid("variable-size data types are not supported"))?;
        check_length(decoded.len(), bytes, &format!("decoded {}", context()))?;
        buffer.copy_from_slice(&decoded);
        Ok(Arc::new(buffer))
    }

    fn clear(&self, bound: Option<&Bound>) {
        let mut entries = self.lock();
        let capacity = self.capacity;
        entries.used = 0;
        while let Some((_, unit)) = entries.lru.pop_lru() {
            entries.recycle(unit, capacity);
        }
        entries.generation += 1;
        entries.last_read = None;
        if let Some(bound) = bound {
            bound.shards.clear();
        }
    }
}

/// The unit after `indices` in C order over `grid`, if any.
fn next_unit(indices: &[u64], grid: &[u64]) -> Option<Vec<u64>> {
    let mut next = indices.to_vec();
    crate::boxcopy::step_c_order(&mut next, grid).then_some(next)
}

/// Read-ahead: when this read continues the previous one in C order (chunk-by-chunk scans),
/// decode the next units on the pool while the caller copies this one out, so a sequential scan
/// uses every core although each call asks for one chunk. Each thread a call may use is kept
/// about `READ_AHEAD_BYTES` (at least one unit) ahead, so the caller rarely waits for a wake-up;
/// with one thread per call, or no room in the cache, there is no read-ahead.
fn read_ahead(shared: &Arc<Shared>, bound: &Arc<Bound>, first: &[u64], last: &[u64]) {
    let threads = crate::pool::threads_per_call();
    let unit_bytes = bound.unit_bytes.max(1);
    let per_thread = (READ_AHEAD_BYTES / unit_bytes).clamp(1, MAX_READ_AHEAD_PER_THREAD);
    // The cache must hold the units ahead besides the one being read.
    let room = (shared.capacity / unit_bytes).saturating_sub(1);
    let depth = (threads * per_thread).min(room);
    let (todo, generation) = {
        let mut entries = shared.lock();
        let sequential = entries
            .last_read
            .as_deref()
            .and_then(|prev| next_unit(prev, &bound.grid))
            .is_some_and(|expected| expected == first);
        entries.last_read = Some(last.to_vec());
        if !sequential || threads < 2 || depth == 0 {
            return;
        }
        let mut todo = Vec::new();
        let mut unit = last.to_vec();
        for _ in 0..depth {
            let Some(next) = next_unit(&unit, &bound.grid) else {
                break;
            };
            if !entries.lru.contains(&next) && !entries.in_flight.contains(&next) {
                entries.in_flight.insert(next.clone());
                todo.push(next.clone());
            }
            unit = next;
        }
        (todo, entries.generation)
    };
    let mut todo = todo.into_iter();
    while let Some(indices) = todo.next() {
        let (task_shared, task_bound) = (shared.clone(), bound.clone());
        let unqueued = indices.clone();
        let queued = crate::pool::spawn(move || {
            // Errors are dropped: the read that wants this unit decodes it again and reports them.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                task_shared.decode_and_store(&task_bound, &indices, generation, None)
            }));
        });
        if queued.is_err() {
            // No pool: nothing will decode the units still marked, so unmark them.
            let mut entries = shared.lock();
            for indices in std::iter::once(unqueued).chain(todo) {
                entries.in_flight.remove(&indices);
            }
            shared.settled.notify_all();
            return;
        }
    }
}

/// Decode the units of a read that are neither cached nor in flight on the calling thread and
/// pool helpers together, so that a small region across several missing units waits for about
/// one decode instead of one per unit (the loop that copies them out then finds them cached).
/// Only when the cache holds all of them with room to spare: otherwise they could be evicted
/// before they are copied out, and the copy loop decodes them one by one.
///
/// The units are claimed (marked in flight) up front, so no helper ever waits for another
/// thread's decode: a pool thread blocked on a unit whose read-ahead task is queued behind it
/// could leave no thread to run that task.
fn decode_missing_in_parallel(
    shared: &Shared,
    bound: &Bound,
    units_subset: &ArraySubset,
) -> FfiResult {
    if !crate::pool::may_spread() {
        return Ok(());
    }
    let (claimed, generation) = {
        let mut entries = shared.lock();
        let missing: Vec<Vec<u64>> = units_subset
            .indices()
            .into_iter()
            .filter(|i| !entries.lru.contains(&**i) && !entries.in_flight.contains(&**i))
            .map(|i| i.to_vec())
            .collect();
        if missing.len() < 2 || missing.len() * bound.unit_bytes > shared.capacity / 2 {
            return Ok(());
        }
        entries.in_flight.extend(missing.iter().cloned());
        (missing, entries.generation)
    };
    // On an object store, the inner chunks claimed of a shard are fetched together (merged ranges).
    let spans = bound
        .plan
        .as_ref()
        .filter(|plan| plan.is_sharded() && plan.reads_shards_by_version())
        .map(|plan| direct::ReadSpans::of(&bound.array, plan, &claimed));
    // Every claimed unit is decoded by someone: the caller takes whatever helpers do not.
    crate::pool::try_for_each_with_helpers(&claimed, |indices| {
        shared
            .decode_and_store(bound, indices, generation, spans.as_ref())
            .map(drop)
    })
}

/// The plan, if the read of the region `start`/`shape`, which lies in the unit `indices`, is of
/// that whole unit of an unsharded, directly decoded array and the unit is not cached. Such a
/// read of an uncompressed chunk, or of a blosc chunk of several blocks, skips the cache: the
/// chunk is read (or decoded block by block) straight into the output by the calling thread and
/// pool helpers. Caching it would cost a copy out of the cache per read (and for uncompressed
/// chunks duplicate the kernel's page cache). Chunk-by-chunk scans of the benchmark arrays
/// through the cache with read-ahead against this, alternated runs: raw 35-41 against 29-30 ms a
/// pass, blosc 51 against 40-42 ms.
fn whole_uncached_unit<'a>(
    shared: &Shared,
    bound: &'a Bound,
    indices: &[u64],
    start: &[u64],
    shape: &[u64],
) -> Option<&'a direct::Plan> {
    let whole = shape == bound.unit_shape.as_slice()
        && std::iter::zip(indices, &bound.unit_shape)
            .map(|(i, u)| i * u)
            .eq(start.iter().copied());
    let plan = bound.plan.as_ref().filter(|p| whole && !p.is_sharded())?;
    (!shared.lock().lru.contains(indices)).then_some(plan)
}

/// Whether the region `start`/`shape` of a sharded array is made of whole shards (edge shards
/// count whole up to the array's end).
fn covers_whole_shards(array: &RwArray, start: &[u64], shape: &[u64]) -> FfiResult<bool> {
    if array.subchunk_shape().is_none() {
        return Ok(false);
    }
    let shard = array
        .chunk_shape(&vec![0; start.len()])
        .map_err(|e| array_error(e, "chunk grid"))?;
    let aligned = |(d, n): (usize, &std::num::NonZeroU64)| {
        let end = start[d] + shape[d];
        start[d].is_multiple_of(n.get()) && (end.is_multiple_of(n.get()) || end == array.shape()[d])
    };
    Ok(shard.iter().enumerate().all(aligned))
}

impl ChunkCache {
    /// An empty cache of `capacity` bytes for `array` (bound to it for good: the handle owns it).
    pub fn new(array: &ArrayHandle, capacity: usize) -> FfiResult<Self> {
        let shared = Arc::new(Shared {
            capacity,
            pid: crate::pool::process_id(),
            entries: Mutex::new(Entries {
                lru: LruCache::unbounded(),
                used: 0,
                in_flight: HashSet::new(),
                generation: 0,
                last_read: None,
                spare: Vec::new(),
                spare_bytes: 0,
            }),
            settled: Condvar::new(),
        });
        let bound = Bound::new(array)?.map(Arc::new);
        Ok(Self { shared, bound })
    }

    /// Forget every cached unit and kept shard index.
    pub fn clear(&self) {
        if self.shared.made_here() {
            self.shared.clear(self.bound.as_deref());
        }
    }

    /// How many units the cache holds, and their bytes.
    pub fn usage(&self) -> (usize, usize) {
        if !self.shared.made_here() {
            return (0, 0); // inherited across fork: unused here (see read_through_cache)
        }
        let entries = self.shared.lock();
        (entries.lru.len(), entries.used)
    }
}

impl Bound {
    /// What the cache needs of `array`; None if its reads have no unit to cache.
    fn new(array: &ArrayHandle) -> FfiResult<Option<Self>> {
        let Some(unit_shape) = crate::args::read_unit_shape(array)? else {
            return Ok(None);
        };
        if array.is_sharded()
            && !array.is_exclusively_sharded()
            && crate::safety::checksum_anywhere(array)
        {
            // Its inner chunks cannot be read with their checksums checked (`checked_inner`):
            // reads go uncached, shard by shard (the planner's rule).
            return Ok(None);
        }
        let plan = array.decode_plan().cloned();
        // A sharded array without a direct plan: zarrs decodes its inner chunks.
        let sharded = match (array.subchunk_shape(), &plan) {
            (Some(_), None) => Some(readable_view(array)?),
            _ => None,
        };
        let grid = array
            .shape()
            .iter()
            .zip(&unit_shape)
            .map(|(n, u)| n.div_ceil(*u))
            .collect();
        let own = Array::new_with_metadata(
            array.storage(),
            array.path().as_str(),
            array.metadata().clone(),
        )
        .map_err(|e| create_error(e, array.path().as_str()))?;
        // Saturated: a unit too large to count is never cached (larger than any capacity).
        let unit_bytes = byte_count(&unit_shape, element_size(array)?).unwrap_or(usize::MAX);
        Ok(Some(Self {
            checked: crate::checked_inner::CheckedInner::of(array),
            array: own,
            sharded,
            plan,
            shards: direct::ShardReader::kept_across_reads(),
            unit_shape,
            unit_bytes,
            grid,
        }))
    }
}

/// Give the array a decoded-chunk cache of at most `capacityBytes` of decoded data, replacing
/// any cache it had (0: none). The handle owns it: `zarrsCffiArrayRetrieveSubsetInto` reads
/// through it from then on (small regions are copied out of cached chunks, large ones, of more
/// than 64 chunks, decode straight into `pOut`), writes through the handle clear it, and it goes
/// with the handle. Writes by other handles or processes are not seen while a chunk stays cached:
/// `zarrsCffiArrayClearChunkCache` forgets them.
///
/// # Safety
/// `array` a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiArraySetChunkCache(
    array: ZarrsCffiArray,
    capacityBytes: usize,
) -> i32 {
    guard(|| {
        let array = array_arg(array)?;
        let cache = match capacityBytes {
            0 => None,
            capacity => Some(ChunkCache::new(array, capacity)?),
        };
        array.set_chunk_cache(cache);
        Ok(())
    })
}

/// Forget every chunk the array's cache holds (nothing to do without one): after another handle
/// or process rewrote the array.
///
/// # Safety
/// `array` a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiArrayClearChunkCache(array: ZarrsCffiArray) -> i32 {
    guard(|| {
        if let Some(cache) = array_arg(array)?.chunk_cache() {
            cache.clear();
        }
        Ok(())
    })
}

/// How many units (decoded chunks, or inner chunks if sharded) the array's cache holds, and
/// their bytes (0 and 0 without a cache).
///
/// # Safety
/// `array` a live handle; `pCount` and `pBytes` valid out-pointers.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiArrayChunkCacheUsage(
    array: ZarrsCffiArray,
    pCount: *mut usize,
    pBytes: *mut usize,
) -> i32 {
    guard(|| {
        let cache = array_arg(array)?.chunk_cache();
        let (count, bytes) = cache.map_or((0, 0), |c| c.usage());
        write_out(pCount, count, "pCount")?;
        write_out(pBytes, bytes, "pBytes")
    })
}

/// The region `subset` into `out` through `cache`, or straight into `out` where the cache would
/// not help.
pub fn read_through_cache(
    array: &ArrayHandle,
    cache: &ChunkCache,
    subset: &ArraySubset,
    out: &mut [u8],
) -> FfiResult {
    let (start, shape) = (subset.start(), subset.shape());
    let uncached = |out: &mut [u8]| decode_region(array, subset, start, shape, out);
    if !cache.shared.made_here() {
        // Inherited across fork: its locks may be held by threads that do not exist here.
        return uncached(out);
    }
    let Some(bound) = &cache.bound else {
        return uncached(out);
    };
    if crate::pool::io_bound() && covers_whole_shards(array, start, shape)? {
        // On an object store a shard is one request; through the cache it became one range
        // request per inner chunk (a chunk-by-chunk scan of the remote benchmark's sharded
        // array: 534 requests instead of 8).
        return uncached(out);
    }
    let unit_shape = &bound.unit_shape;
    let first: Vec<u64> = (0..start.len()).map(|d| start[d] / unit_shape[d]).collect();
    let last: Vec<u64> = (0..start.len())
        .map(|d| (start[d] + shape[d] - 1) / unit_shape[d])
        .collect();
    let units: u64 = first.iter().zip(&last).map(|(f, l)| l - f + 1).product();
    // A unit larger than the whole cache could never be kept (and a huge absent chunk may be
    // too large to allocate: read uncached, it is just filled).
    if units > MAX_CACHED_UNITS || bound.unit_bytes > cache.shared.capacity {
        return uncached(out);
    }
    if units == 1
        && let Some(plan) = whole_uncached_unit(&cache.shared, bound, &first, start, shape)
    {
        let label = || crate::region_io::chunk_label(array, &first);
        let read = catch_codec_panic(label, || {
            plan.read_chunk_file_into(array, &first, out, &label)
        })?;
        if read {
            return Ok(());
        }
    }
    // Uncompressed chunk files are not cached: the page cache holds them, and a part is read
    // from its file faster than a miss reads the whole chunk into the cache (2,000 random 8^3
    // regions of the benchmark's raw array: 31-46 against 43-53 ms a cold pass). Nor is an
    // absent chunk's fill value: the fact that a chunk is absent would go stale. Nothing to
    // read ahead.
    let raw_files = bound.plan.as_ref().filter(|p| p.chunks_are_raw_files());
    if raw_files.is_none() {
        read_ahead(&cache.shared, bound, &first, &last);
    }
    let units_subset = ArraySubset::from(first.iter().zip(&last).map(|(&f, &l)| f..l + 1));
    if raw_files.is_none() && units > 1 {
        decode_missing_in_parallel(&cache.shared, bound, &units_subset)?;
    }
    let region = Placed {
        origin: start,
        shape,
    };
    for indices in &units_subset.indices() {
        copy_unit_part(array, cache, bound, raw_files, &indices, region, out)?;
    }
    Ok(())
}

/// Copy the part of unit `indices` inside `region` into `out`: from the cache (decoding the
/// unit into it if missing) or, for uncompressed chunk files not cached, from the file.
fn copy_unit_part(
    array: &ArrayHandle,
    cache: &ChunkCache,
    bound: &Bound,
    raw_files: Option<&direct::Plan>,
    indices: &[u64],
    region: Placed,
    out: &mut [u8],
) -> FfiResult {
    let unit_shape = &bound.unit_shape;
    let unit_start: Vec<u64> = indices.iter().zip(unit_shape).map(|(i, u)| i * u).collect();
    let unit_place = Placed {
        origin: &unit_start,
        shape: unit_shape,
    };
    let Some((lo, hi)) = intersect(unit_place, region) else {
        return Ok(());
    };
    if let Some(plan) = raw_files
        && !cache.shared.lock().lru.contains(indices)
    {
        let label = || crate::region_io::chunk_label(array, indices);
        // SAFETY: the box lies inside the chunk and inside `out` (region-shaped).
        let copied = catch_codec_panic(label, || unsafe {
            plan.copy_raw_part(
                array,
                indices,
                unit_place,
                &lo,
                &hi,
                out.as_mut_ptr(),
                region,
                &label,
            )
        })?;
        if copied {
            return Ok(());
        }
        if !region.origin.is_empty() {
            // Absent: its fill value is not cached either, so a chunk written later by another
            // handle is seen at once.
            // SAFETY: as above.
            unsafe { fill_box(out.as_mut_ptr(), region, &lo, &hi, plan.fill_value()) };
            return Ok(());
        }
    }
    let unit = cache.shared.unit(bound, indices)?;
    let elsize = element_size(array)?;
    // SAFETY: the box lies inside the decoded unit and inside `out` (region-shaped).
    unsafe {
        copy_box(
            unit.as_ptr(),
            unit_place,
            out.as_mut_ptr(),
            region,
            &lo,
            &hi,
            elsize,
        )
    };
    Ok(())
}
