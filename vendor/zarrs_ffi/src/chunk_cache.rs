//! A size-bounded LRU cache of decoded chunks for many small reads of one array.
//!
//! Each small read then costs a lookup and a copy instead of a chunk decode. The cache belongs to
//! one array handle (checked) and must be cleared after writes through it
//! (`zarrsCffiChunkCacheClear`): writes from other handles or processes are not seen while cached.
//! For sharded arrays it caches inner chunks, fetched with zarrs' partial shard decoding.

use std::sync::{Arc, Mutex};

use lru::LruCache;
use zarrs::array::{
    ArrayBytes, ArrayShardedExt, ArrayShardedReadableExt, ArrayShardedReadableExtCache, ArraySubset,
};
use zarrs::storage::ReadableStorageTraits;
use zarrs_ffi::ZarrsArray;

use crate::args::{
    RwArray, array_arg, byte_count, check_region, element_size, out_bytes_arg, slice_arg, write_out,
};
use crate::array_io::{array_error, check_length, decode_region, readable_view};
use crate::boxcopy::{Placed, copy_box, intersect};
use crate::error::{FfiError, FfiResult, guard};
use crate::pool::codec_options;

type ReadableArray = zarrs::array::Array<dyn ReadableStorageTraits>;

struct Entries {
    lru: LruCache<Vec<u64>, Arc<Vec<u8>>>,
    used: usize,
}

/// The cache state for one array handle.
struct Bound {
    array_addr: usize,
    /// For sharded arrays: a readable view of the same array and its shard-index cache.
    sharded: Option<(ReadableArray, ArrayShardedReadableExtCache)>,
    unit_shape: Vec<u64>,
}

pub struct ZarrsCffiChunkCache_T {
    capacity: usize,
    entries: Mutex<Entries>,
    bound: Mutex<Option<Arc<Bound>>>,
}

/// An opaque handle to a decoded-chunk cache.
pub type ZarrsCffiChunkCache = *mut ZarrsCffiChunkCache_T;

/// Reads touching more cache units than this decode straight into the output instead.
const MAX_CACHED_UNITS: u64 = 64;

impl ZarrsCffiChunkCache_T {
    fn lock_entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bind(&self, array: &RwArray, handle: ZarrsArray) -> FfiResult<Option<Arc<Bound>>> {
        let mut bound = self.bound.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = bound.as_ref() {
            if b.array_addr != handle as usize {
                return Err(FfiError::invalid(
                    "this chunk cache belongs to another array handle",
                ));
            }
            return Ok(Some(b.clone()));
        }
        let regular = match array.metadata() {
            zarrs::array::ArrayMetadata::V3(v3) => v3.chunk_grid.name() == "regular",
            zarrs::array::ArrayMetadata::V2(_) => true,
        };
        if !regular {
            return Ok(None);
        }
        let (unit_shape, sharded) = if let Some(inner) = array.subchunk_shape() {
            let readable = readable_view(array)?;
            let index_cache = ArrayShardedReadableExtCache::new(&readable);
            (
                inner.iter().map(|n| n.get()).collect(),
                Some((readable, index_cache)),
            )
        } else {
            let zeros = vec![0; array.dimensionality()];
            let shape = array
                .chunk_shape(&zeros)
                .map_err(|e| array_error(e, "chunk grid"))?;
            (shape.iter().map(|n| n.get()).collect(), None)
        };
        let b = Arc::new(Bound {
            array_addr: handle as usize,
            sharded,
            unit_shape,
        });
        *bound = Some(b.clone());
        Ok(Some(b))
    }

    fn unit(&self, array: &RwArray, bound: &Bound, indices: &[u64]) -> FfiResult<Arc<Vec<u8>>> {
        if let Some(hit) = self.lock_entries().lru.get(indices) {
            return Ok(hit.clone());
        }
        let context = || format!("chunk {indices:?}");
        let decoded = match &bound.sharded {
            Some((readable, index_cache)) => readable
                .retrieve_subchunk_opt::<ArrayBytes>(index_cache, indices, &codec_options())
                .map_err(|e| array_error(e, &format!("inner {}", context())))?,
            None => array
                .retrieve_chunk_opt::<ArrayBytes>(indices, &codec_options())
                .map_err(|e| {
                    array_error(
                        e,
                        &format!(
                            "{} (key {:?})",
                            context(),
                            array.chunk_key(indices).as_str()
                        ),
                    )
                })?,
        };
        let bytes = Arc::new(
            decoded
                .into_fixed()
                .map_err(|_| FfiError::invalid("variable-size data types are not supported"))?
                .into_owned(),
        );
        if bytes.len() <= self.capacity {
            let mut entries = self.lock_entries();
            if entries.lru.put(indices.to_vec(), bytes.clone()).is_none() {
                entries.used += bytes.len();
            }
            while entries.used > self.capacity {
                match entries.lru.pop_lru() {
                    Some((_, evicted)) => entries.used -= evicted.len(),
                    None => break,
                }
            }
        }
        Ok(bytes)
    }

    fn clear(&self) {
        let mut entries = self.lock_entries();
        entries.lru.clear();
        entries.used = 0;
        if let Some(b) = self
            .bound
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            && let Some((_, index_cache)) = &b.sharded
        {
            index_cache.clear();
        }
    }
}

/// Create a decoded-chunk cache holding at most `capacityBytes` of decoded data. Use it with one
/// array handle only; destroy it with `zarrsCffiDestroyChunkCache`.
///
/// # Safety
/// `pCache` must be a valid out-pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiCreateChunkCache(
    capacityBytes: usize,
    pCache: *mut ZarrsCffiChunkCache,
) -> i32 {
    guard(|| {
        let cache = ZarrsCffiChunkCache_T {
            capacity: capacityBytes,
            entries: Mutex::new(Entries {
                lru: LruCache::unbounded(),
                used: 0,
            }),
            bound: Mutex::new(None),
        };
        let raw = Box::into_raw(Box::new(cache));
        if let Err(err) = write_out(pCache, raw, "pCache") {
            // SAFETY: just created.
            drop(unsafe { Box::from_raw(raw) });
            return Err(err);
        }
        Ok(())
    })
}

/// Destroy a chunk cache (NULL is ignored).
///
/// # Safety
/// `cache` from `zarrsCffiCreateChunkCache`, destroyed once, not in use by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiDestroyChunkCache(cache: ZarrsCffiChunkCache) -> i32 {
    guard(|| {
        if !cache.is_null() {
            // SAFETY: per the contract above.
            drop(unsafe { Box::from_raw(cache) });
        }
        Ok(())
    })
}

/// Drop every cached chunk (call after writing through the array the cache serves).
///
/// # Safety
/// `cache` a live cache handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiChunkCacheClear(cache: ZarrsCffiChunkCache) -> i32 {
    guard(|| {
        cache_arg(cache)?.clear();
        Ok(())
    })
}

fn cache_arg<'a>(cache: ZarrsCffiChunkCache) -> FfiResult<&'a ZarrsCffiChunkCache_T> {
    if cache.is_null() {
        return Err(FfiError::invalid("chunk cache handle is NULL"));
    }
    // SAFETY: not NULL; the caller promises a live cache handle.
    Ok(unsafe { &*cache })
}

/// As `zarrsCffiArrayRetrieveSubsetInto`, through a decoded-chunk cache: small regions are copied
/// out of cached chunks; large ones (more than 64 chunks) decode straight into `pOut` uncached.
///
/// # Safety
/// As `zarrsCffiArrayRetrieveSubsetInto`; `cache` a live cache handle used with this array only.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiArrayRetrieveSubsetIntoCached(
    array: ZarrsArray,
    cache: ZarrsCffiChunkCache,
    dimensionality: usize,
    pStart: *const u64,
    pShape: *const u64,
    outBytes: usize,
    pOut: *mut u8,
) -> i32 {
    guard(|| {
        let handle = array;
        let array = array_arg(array)?;
        let cache = cache_arg(cache)?;
        let start = slice_arg(pStart, dimensionality, "pStart")?;
        let shape = slice_arg(pShape, dimensionality, "pShape")?;
        check_region(array, start, shape)?;
        let elsize = element_size(array)?;
        let expected = byte_count(shape, elsize)?;
        check_length(outBytes, expected, "output buffer")?;
        let out = out_bytes_arg(pOut, outBytes, "pOut")?;
        if expected == 0 {
            return Ok(());
        }
        let subset = ArraySubset::from(std::iter::zip(start, shape).map(|(&s, &n)| s..s + n));
        crate::safety::check_read_memory(array, &subset)?;
        let Some(bound) = cache.bind(array, handle)? else {
            return decode_region(array, &subset, start, shape, out);
        };
        let unit_shape = &bound.unit_shape;
        let first: Vec<u64> = (0..start.len()).map(|d| start[d] / unit_shape[d]).collect();
        let last: Vec<u64> = (0..start.len())
            .map(|d| (start[d] + shape[d] - 1) / unit_shape[d])
            .collect();
        let units: u64 = first.iter().zip(&last).map(|(f, l)| l - f + 1).product();
        if units > MAX_CACHED_UNITS {
            return decode_region(array, &subset, start, shape, out);
        }
        let units_subset = ArraySubset::from(first.iter().zip(&last).map(|(&f, &l)| f..l + 1));
        for indices in &units_subset.indices() {
            let unit = crate::safety::catch_codec_panic(
                || format!("chunk {:?}", &indices[..]),
                || cache.unit(array, &bound, &indices),
            )?;
            let unit_start: Vec<u64> = indices.iter().zip(unit_shape).map(|(i, u)| i * u).collect();
            let unit_place = Placed {
                origin: &unit_start,
                shape: unit_shape,
            };
            let region = Placed {
                origin: start,
                shape,
            };
            if let Some((lo, hi)) = intersect(unit_place, region) {
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
            }
        }
        Ok(())
    })
}
