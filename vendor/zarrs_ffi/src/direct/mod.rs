//! Direct decoding of the common codec chains, beside zarrs' codec pipeline.
//!
//! Most arrays store `bytes` (little endian) followed by at most one of zstd, gzip or blosc,
//! optionally inside `sharding_indexed`. For those, reads fetch the stored bytes and decompress
//! them straight into their destination (a reused per-thread buffer or a cache unit) with a
//! per-thread zstd context. zarrs' pipeline allocates every decoded chunk and copies it once
//! more, creates a zstd context per chunk, and for sharded arrays copies each inner chunk twice
//! more and reads the shard index per partial decoder: 10–40 % of a read (bench/ANALYSIS.md).
//!
//! Anything else (other codecs, big endian, a checksum on chunks, rectilinear grids, storage
//! transformers, Zarr v2, nested sharding, other data types) has no `Plan`: zarrs decodes it.
//! Every size and offset read from storage is checked before it is used.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, OnceLock};

use zarrs::array::ArrayMetadata;
use zarrs::metadata::v3::MetadataV3;
use zarrs::storage::byte_range::ByteRange;
use zarrs::storage::{Bytes, ReadableStorageTraits, StorageError, StoreKey};
use zarrs_ffi::ZarrsResult;

use crate::args::{RwArray, write_out};
use crate::atomic_store::AtomicFilesystemStore;
use crate::boxcopy::{Placed, copy_box, fill_box};
use crate::error::{FfiError, FfiResult, ZarrsCffiResult, guard};
use crate::handle::{StoreAccess, ZarrsCffiArray, array_arg};
use crate::object_reads::{Conditional, Versioned};
use crate::url_store::TokioBlockOn;
use object_store::GetRange;
use zarrs_storage::storage_adapter::async_to_sync::AsyncToSyncBlockOn;

mod decompress;
mod file_reads;
mod shard;
mod spans;

pub use decompress::decompress;
pub(crate) use file_reads::ENCODED;
pub use file_reads::{PAGE, page_aligned_window};
use file_reads::{RawPart, read_at, read_exact_into, read_window};
pub use shard::{Identity, ShardReader};
pub use spans::ReadSpans;

/// The bytes-to-bytes codec after `bytes`, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compressor {
    None,
    Zstd,
    Gzip,
    Blosc,
}

/// How inner chunks sit in a shard.
#[derive(Clone)]
pub struct Sharding {
    /// Inner chunks per shard, per dimension.
    pub per_shard: Vec<u64>,
    pub index_at_start: bool,
    pub index_crc: bool,
}

impl Sharding {
    /// Inner chunks per shard.
    pub fn entries(&self) -> u64 {
        self.per_shard.iter().product()
    }

    /// Bytes of the shard index: (offset, length) per inner chunk, then the optional crc32c.
    pub fn index_bytes(&self) -> u64 {
        self.entries() * 16 + if self.index_crc { 4 } else { 0 }
    }
}

/// An array stored the common way, whatever its codecs: what direct decoding and direct
/// encoding (`encode`) both start from.
#[derive(Clone)]
pub struct Layout {
    /// The codecs of each stored chunk, or of each inner chunk when sharded.
    pub codecs: Vec<MetadataV3>,
    pub sharding: Option<Sharding>,
    /// The fill value, one element, native endian.
    pub fill: Vec<u8>,
    /// The store's files, when this library created the store.
    pub files: Option<Arc<AtomicFilesystemStore>>,
    /// An object store's versioned reads (shards read as one version).
    pub versioned: Option<Arc<Versioned>>,
}

impl Layout {
    /// The object store the chunks live in (not a local directory of this library's, not a zip).
    pub fn object_store(&self) -> Option<&Versioned> {
        self.versioned.as_deref().filter(|_| self.files.is_none())
    }
}

/// What a read of this array can do without zarrs' pipeline.
#[derive(Clone)]
pub struct Plan {
    /// The compressor of each stored chunk, or of each inner chunk when sharded.
    chunks: Compressor,
    /// Where the chunks are and what they hold. Its `files` let reads use reused buffers instead
    /// of zarrs' freshly allocated ones (a page fault per fresh page, at these sizes).
    layout: Layout,
}

/// Data types whose stored form under `bytes` (little endian) is their in-memory form here.
const PLAIN_DATA_TYPES: &[&str] = &[
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "bfloat16",
    "float32",
    "float64",
    "complex64",
    "complex128",
];

/// Whether reads may decode directly (on unless `zarrsCffiSetDirectDecoding(0)`).
static ENABLED: AtomicBool = AtomicBool::new(true);

/// Turn direct decoding of the common codec chains on (`enabled` != 0, the default) or off, so
/// that every read goes through zarrs' codec pipeline. Returns the previous setting (1 or 0).
/// Chunk caches keep the setting they were first used with.
#[unsafe(no_mangle)]
pub extern "C" fn zarrsCffiSetDirectDecoding(enabled: i32) -> i32 {
    i32::from(ENABLED.swap(enabled != 0, AtomicOrdering::Relaxed))
}

/// Whether reads of `array` decode directly (`*pDirect` = 1) or through zarrs' codec pipeline (0).
///
/// # Safety
/// `array` a live handle; `pDirect` a valid out-pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiArrayDecodesDirectly(
    array: ZarrsCffiArray,
    pDirect: *mut i32,
) -> i32 {
    guard(|| {
        let array = array_arg(array)?;
        write_out(pDirect, i32::from(array.decode_plan().is_some()), "pDirect")
    })
}

/// Whether direct decoding is on (`zarrsCffiSetDirectDecoding`).
pub fn enabled() -> bool {
    ENABLED.load(AtomicOrdering::Relaxed)
}

/// The plan for `array` stored in `files` (if this library's filesystem store holds it), or
/// None if zarrs must decode it. Made once per handle (`handle`).
pub fn plan_for(array: &RwArray, access: StoreAccess) -> Option<Plan> {
    let layout = layout(array, access.clone()).or_else(|| layout_v2(array, access))?;
    Some(Plan {
        chunks: chain(&layout.codecs)?,
        layout,
    })
}

/// Zarr v2 data types (numpy type strings, without the byte order) stored as they are in memory
/// here when little endian: the same as `PLAIN_DATA_TYPES`.
const PLAIN_V2_TYPES: &[&str] = &[
    "b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16",
];

/// The layout of a Zarr v2 array stored the common way, for reading only (writes of v2 arrays
/// stay with zarrs): C order, no filters, a plain little-endian data type and no compressor or
/// one of zstd, gzip, blosc (numcodecs' formats are the codecs' own). Its `codecs` say the same
/// in Zarr v3 terms (`bytes` + the compressor) for `chain`.
fn layout_v2(array: &RwArray, access: StoreAccess) -> Option<Layout> {
    use zarrs::metadata::v2::{ArrayMetadataV2Order, DataTypeMetadataV2};
    if !cfg!(target_endian = "little") {
        return None;
    }
    let ArrayMetadata::V2(meta) = array.metadata() else {
        return None;
    };
    let DataTypeMetadataV2::Simple(dtype) = &meta.dtype else {
        return None;
    };
    let plain = dtype
        .strip_prefix('<')
        .or_else(|| dtype.strip_prefix('|'))
        .is_some_and(|t| PLAIN_V2_TYPES.contains(&t));
    if !plain
        || meta.order != ArrayMetadataV2Order::C
        || meta.filters.as_ref().is_some_and(|f| !f.is_empty())
    {
        return None;
    }
    let elsize = array.data_type().fixed_size()?;
    let fill = array.fill_value().as_ne_bytes().to_vec();
    if fill.len() != elsize {
        return None;
    }
    let mut codecs = vec![MetadataV3::new("bytes")];
    if let Some(compressor) = &meta.compressor {
        match compressor.id() {
            "zstd" | "gzip" | "blosc" => codecs.push(MetadataV3::new(compressor.id())),
            _ => return None,
        }
    }
    Some(Layout {
        codecs,
        sharding: None,
        fill,
        files: access.files,
        versioned: access.versioned,
    })
}

/// The layout of `array`, or None if it is not stored the common way: Zarr v3, a regular grid,
/// no storage transformer, a plain data type, at most one level of `sharding_indexed` (index
/// `bytes` little endian + optional `crc32c`) with inner chunks dividing the shard.
pub fn layout(array: &RwArray, access: StoreAccess) -> Option<Layout> {
    if !cfg!(target_endian = "little") {
        return None;
    }
    let ArrayMetadata::V3(meta) = array.metadata() else {
        return None;
    };
    if !meta.storage_transformers.is_empty()
        || meta.chunk_grid.name() != "regular"
        || !PLAIN_DATA_TYPES.contains(&meta.data_type.name())
    {
        return None;
    }
    let elsize = array.data_type().fixed_size()?;
    let fill = array.fill_value().as_ne_bytes().to_vec();
    if fill.len() != elsize {
        return None;
    }
    if let [only] = meta.codecs.as_slice()
        && only.name() == "sharding_indexed"
    {
        let shard_shape = array
            .chunk_shape(&vec![0; array.dimensionality()])
            .ok()?
            .iter()
            .map(|n| n.get())
            .collect::<Vec<u64>>();
        let (codecs, sharding) = sharding(only, &shard_shape)?;
        return Some(Layout {
            codecs,
            sharding: Some(sharding),
            fill,
            files: access.files,
            versioned: access.versioned,
        });
    }
    Some(Layout {
        codecs: meta.codecs.clone(),
        sharding: None,
        fill,
        files: access.files,
        versioned: access.versioned,
    })
}

/// `[bytes(little)]` plus at most one compressor.
fn chain(codecs: &[MetadataV3]) -> Option<Compressor> {
    let (first, rest) = codecs.split_first()?;
    if !is_little_bytes(first) {
        return None;
    }
    match rest {
        [] => Some(Compressor::None),
        [one] => match one.name() {
            "zstd" => Some(Compressor::Zstd),
            "gzip" => Some(Compressor::Gzip),
            "blosc" => Some(Compressor::Blosc),
            _ => None,
        },
        _ => None,
    }
}

/// A `bytes` codec that stores little endian (or has no endian: one-byte types).
pub fn is_little_bytes(codec: &MetadataV3) -> bool {
    codec.name() == "bytes"
        && match codec.configuration().and_then(|c| c.get("endian")) {
            None | Some(serde_json::Value::Null) => true,
            Some(endian) => endian.as_str() == Some("little"),
        }
}

/// The inner codecs and the geometry of a `sharding_indexed` codec.
fn sharding(codec: &MetadataV3, shard_shape: &[u64]) -> Option<(Vec<MetadataV3>, Sharding)> {
    let config = codec.configuration()?;
    let inner_shape: Vec<u64> = serde_json::from_value(config.get("chunk_shape")?.clone()).ok()?;
    let codecs: Vec<MetadataV3> = serde_json::from_value(config.get("codecs")?.clone()).ok()?;
    let index_codecs: Vec<MetadataV3> =
        serde_json::from_value(config.get("index_codecs")?.clone()).ok()?;
    let index_at_start = match config.get("index_location").and_then(|v| v.as_str()) {
        None | Some("end") => false,
        Some("start") => true,
        Some(_) => return None,
    };
    let index_crc = match index_codecs.as_slice() {
        [bytes] if is_little_bytes(bytes) => false,
        [bytes, crc] if is_little_bytes(bytes) && crc.name() == "crc32c" => true,
        _ => return None,
    };
    if inner_shape.len() != shard_shape.len()
        || std::iter::zip(shard_shape, &inner_shape).any(|(s, i)| *i == 0 || s % i != 0)
    {
        return None;
    }
    // An index of more than 2^32 entries is no shard we can hold: leave it to zarrs.
    std::iter::zip(shard_shape, &inner_shape)
        .try_fold(1u64, |n, (s, i)| n.checked_mul(s / i))
        .filter(|n| *n <= 1 << 32)?;
    let geometry = Sharding {
        per_shard: std::iter::zip(shard_shape, &inner_shape)
            .map(|(s, i)| s / i)
            .collect(),
        index_at_start,
        index_crc,
    };
    Some((codecs, geometry))
}

impl Plan {
    /// Whether shard indexes may be kept across reads without a check first: an object store's
    /// shards are read by version, each inner-chunk read conditional on it.
    pub fn reads_shards_by_version(&self) -> bool {
        self.layout.object_store().is_some()
    }

    /// The object store this array's chunks are read from (not a local directory, not a zip).
    pub fn object_store(&self) -> Option<&Versioned> {
        self.layout.object_store()
    }

    pub fn is_sharded(&self) -> bool {
        self.layout.sharding.is_some()
    }

    /// Inner chunks per shard (1 for unsharded arrays).
    pub fn units_per_shard(&self) -> usize {
        self.layout
            .sharding
            .as_ref()
            .map_or(1, |s| s.entries() as usize)
    }

    /// The fill value, one element, native endian.
    pub fn fill_value(&self) -> &[u8] {
        &self.layout.fill
    }

    fn fill(&self, dest: &mut [u8]) {
        fill_with(dest, &self.layout.fill);
    }

    /// Decode the whole chunk `indices` (unsharded arrays) into `dest` (full chunk shape).
    pub fn decode_chunk(
        &self,
        array: &RwArray,
        indices: &[u64],
        dest: &mut [u8],
        label: &dyn Fn() -> String,
    ) -> FfiResult {
        if self.read_chunk_file_into(array, indices, dest, label)? {
            return Ok(());
        }
        let key = array.chunk_key(indices);
        let decoded = self.with_stored(array, &key, None, label, |stored| {
            decompress(self.chunks, stored, dest, label)
        })?;
        if decoded.is_none() {
            self.fill(dest);
        }
        Ok(())
    }

    /// Decode the chunk `indices` (unsharded arrays) from its file straight into `dest` where no
    /// buffer of the whole stored chunk is needed: an uncompressed chunk (the file is the chunk;
    /// a large one read in pieces, `read_exact_into`), or a blosc chunk of several blocks when
    /// this call may spread (decoded block by block, `blosc_blocks`); both run on the calling
    /// thread and pool helpers. An absent chunk is filled. Ok(false) (nothing written) for any
    /// other chunk.
    pub fn read_chunk_file_into(
        &self,
        array: &RwArray,
        indices: &[u64],
        dest: &mut [u8],
        label: &dyn Fn() -> String,
    ) -> FfiResult<bool> {
        let Some(files) = self.layout.files.as_ref().filter(|_| !self.is_sharded()) else {
            return Ok(false);
        };
        let blosc_blocks = self.chunks == Compressor::Blosc && crate::pool::may_spread();
        if self.chunks != Compressor::None && !blosc_blocks {
            return Ok(false);
        }
        let Some((file, size)) = files
            .open_value(&array.chunk_key(indices))
            .map_err(|e| storage_error(label, e))?
        else {
            self.fill(dest);
            return Ok(true);
        };
        if blosc_blocks {
            return crate::blosc_blocks::decode(&file, size, dest, label);
        }
        check_size(size as usize, dest.len(), label)?;
        read_exact_into(&file, dest).map_err(|e| storage_error(label, e.into()))?;
        Ok(true)
    }

    /// Whether each chunk is an uncompressed file this library reads itself (unsharded): any part
    /// of a chunk can then be read from its file alone (`copy_raw_part`).
    pub fn chunks_are_raw_files(&self) -> bool {
        self.chunks == Compressor::None && !self.is_sharded() && self.layout.files.is_some()
    }

    /// Copy the box `[lo, hi)` of the chunk `indices` (placed `chunk`) into `dst` (placed
    /// `dst_place`), reading only the bytes of the box's slabs that hold it from the file
    /// (`RawPart`), when `chunks_are_raw_files`: a small region needs a few KiB of a chunk file,
    /// not all of it. Ok(false), nothing copied, for other plans and for an absent chunk (whose
    /// fill value the whole-chunk paths supply).
    ///
    /// # Safety
    /// `dst` valid for its whole placed extent, the box inside it and inside the chunk, and no one
    /// else writing the box's part of `dst` meanwhile.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn copy_raw_part(
        &self,
        array: &RwArray,
        indices: &[u64],
        chunk: Placed,
        lo: &[u64],
        hi: &[u64],
        dst: *mut u8,
        dst_place: Placed,
        label: &dyn Fn() -> String,
    ) -> FfiResult<bool> {
        let Some(part) = self.raw_part(array, indices, chunk, lo, hi, label)? else {
            return Ok(false);
        };
        ENCODED.with(|buffer| {
            let mut buffer = buffer.borrow_mut();
            let window = page_aligned_window(&mut buffer, part.length + PAGE)
                .map_err(|e| storage_error(label, e.into()))?;
            let at = window + part.offset % PAGE;
            let slabs = &mut buffer[at..at + part.length];
            part.read_into(slabs, label)?;
            let mut slab_origin = chunk.origin.to_vec();
            slab_origin[0] = lo[0];
            let mut slab_shape = chunk.shape.to_vec();
            slab_shape[0] = hi[0] - lo[0];
            let slab = Placed {
                origin: &slab_origin,
                shape: &slab_shape,
            };
            // SAFETY: the box lies in the slabs (rows lo[0]..hi[0] of the chunk), whose bytes
            // inside it were all read, and, per the contract, in `dst`.
            unsafe { copy_box(slabs.as_ptr(), slab, dst, dst_place, lo, hi, part.elsize) };
            Ok(true)
        })
    }

    /// Read the bytes of the box `[lo, hi)` of the chunk `indices` (placed `chunk`) into `dest`,
    /// a buffer of the whole chunk, at their places (the others are left as they are), when
    /// `chunks_are_raw_files`; Ok(false), nothing read, otherwise (as `copy_raw_part`).
    pub fn read_raw_part_in_place(
        &self,
        array: &RwArray,
        indices: &[u64],
        chunk: Placed,
        (lo, hi): (&[u64], &[u64]),
        dest: &mut [u8],
        label: &dyn Fn() -> String,
    ) -> FfiResult<bool> {
        let Some(part) = self.raw_part(array, indices, chunk, lo, hi, label)? else {
            return Ok(false);
        };
        let chunk_bytes = crate::args::byte_count(chunk.shape, part.elsize)?;
        check_size(dest.len(), chunk_bytes, label)?;
        part.read_into(&mut dest[part.offset..part.offset + part.length], label)?;
        Ok(true)
    }

    /// The open file and the byte ranges of the box `[lo, hi)` of the raw chunk `indices`; None
    /// if the plan's chunks are not raw files, the chunk is absent or the array is 0-d.
    fn raw_part(
        &self,
        array: &RwArray,
        indices: &[u64],
        chunk: Placed,
        lo: &[u64],
        hi: &[u64],
        label: &dyn Fn() -> String,
    ) -> FfiResult<Option<RawPart>> {
        let Some(files) = self
            .layout
            .files
            .as_ref()
            .filter(|_| self.chunks_are_raw_files())
        else {
            return Ok(None);
        };
        let (Some(&first), Some(&top)) = (lo.first(), chunk.origin.first()) else {
            return Ok(None); // 0-d: the chunk is one element, read whole elsewhere
        };
        if std::iter::zip(lo, hi).any(|(l, h)| l >= h) {
            return Ok(None); // an empty box: nothing to read here
        }
        let Some((file, size)) = files
            .open_value(&array.chunk_key(indices))
            .map_err(|e| storage_error(label, e))?
        else {
            return Ok(None);
        };
        let elsize = self.layout.fill.len();
        // Checked: the shapes come from metadata (the caller's region checks bound them too).
        let slab_bytes = crate::args::byte_count(&chunk.shape[1..], elsize)?;
        let chunk_bytes = crate::args::byte_count(chunk.shape, elsize)?;
        check_size(
            usize::try_from(size).unwrap_or(usize::MAX),
            chunk_bytes,
            label,
        )?;
        // Within each slab the box spans the bytes `in_slab`.
        let mut stride = elsize as u64;
        let (mut first_byte, mut last_byte) = (0, 0);
        for d in (1..lo.len()).rev() {
            first_byte += (lo[d] - chunk.origin[d]) * stride;
            last_byte += (hi[d] - 1 - chunk.origin[d]) * stride;
            stride *= chunk.shape[d];
        }
        Ok(Some(RawPart {
            file,
            elsize,
            slab_bytes,
            offset: (first - top) as usize * slab_bytes,
            length: (hi[0] - first) as usize * slab_bytes,
            in_slab: first_byte as usize..last_byte as usize + elsize,
        }))
    }

    /// The whole value at `key` (a shard file), None if there is none.
    fn whole_value(
        &self,
        array: &RwArray,
        key: &StoreKey,
        label: &dyn Fn() -> String,
    ) -> FfiResult<Option<Bytes>> {
        let Some(files) = &self.layout.files else {
            return get(array, key, ByteRange::FromStart(0, None), label);
        };
        let Some((file, size)) = files.open_value(key).map_err(|e| storage_error(label, e))? else {
            return Ok(None);
        };
        let size = buffer_length(size, label)?;
        let mut buffer = Vec::new(); // allocated by `read_window`, fresh pages
        let start =
            read_window(&file, 0, size, &mut buffer).map_err(|e| storage_error(label, e.into()))?;
        Ok(Some(Bytes::from(buffer).slice(start..start + size)))
    }

    /// Run `body` on the stored bytes at `key` (`range`: offset and length, else all of them),
    /// read into a reused per-thread buffer when the store's files are known, else through
    /// zarrs' storage API. Ok(None) if there is no such value.
    fn with_stored<T>(
        &self,
        array: &RwArray,
        key: &StoreKey,
        range: Option<(u64, u64)>,
        label: &dyn Fn() -> String,
        body: impl FnOnce(&[u8]) -> FfiResult<T>,
    ) -> FfiResult<Option<T>> {
        let Some(files) = &self.layout.files else {
            if range.is_none()
                && let Some(fetched) = crate::prefetch::take_fetched(key)
            {
                let stored = fetched.map_err(|e| storage_error(label, e))?;
                return stored.map(|b| body(&b)).transpose();
            }
            let range = range.map_or(ByteRange::FromStart(0, None), |(offset, length)| {
                ByteRange::FromStart(offset, Some(length))
            });
            return get(array, key, range, label)?.map(|b| body(&b)).transpose();
        };
        let Some((file, size)) = files.open_value(key).map_err(|e| storage_error(label, e))? else {
            return Ok(None);
        };
        let (offset, length) = range.unwrap_or((0, size));
        if offset.checked_add(length).is_none_or(|end| end > size) {
            return Err(corrupt(
                label,
                format!("{length} bytes at offset {offset} lie past the end ({size} bytes)"),
            ));
        }
        let length = buffer_length(length, label)?;
        ENCODED.with(|buffer| {
            let mut buffer = buffer.borrow_mut();
            let stored = read_at(&file, offset, length, &mut buffer)
                .map_err(|e| storage_error(label, e.into()))?;
            body(stored).map(Some)
        })
    }

    /// Copy the box `[lo, hi)` of the chunk `indices` (unsharded arrays; placed `chunk` at its
    /// full shape) to `dst` (placed `dst_place`): the chunk decoded whole into region_io's
    /// per-thread scratch (so the caller must not hold that scratch), the box copied out.
    /// Uncompressed chunks are better read in part (`copy_raw_part`). A large chunk that is
    /// absent is not decoded: its box is filled in `dst` (a chunk may be too large to allocate,
    /// while a missing one is just its fill value; `safety::check_read_memory`).
    ///
    /// # Safety
    /// As `copy_box`: the box lies inside the chunk and inside `dst`, which nobody else writes.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn copy_decoded_part(
        &self,
        array: &RwArray,
        indices: &[u64],
        chunk: Placed,
        lo: &[u64],
        hi: &[u64],
        dst: *mut u8,
        dst_place: Placed,
        label: &dyn Fn() -> String,
    ) -> FfiResult {
        let elsize = self.layout.fill.len();
        // (a chunk of more bytes than usize counts is huge too: if absent, it is just fill)
        let bytes = crate::args::byte_count(chunk.shape, elsize);
        if bytes.as_ref().map_or(true, |&b| b >= CHECK_ABSENT_FROM)
            && crate::safety::chunk_is_absent(array, indices)
        {
            // SAFETY: per the contract.
            unsafe { fill_box(dst, dst_place, lo, hi, &self.layout.fill) };
            return Ok(());
        }
        let bytes = bytes?;
        crate::region_io::with_scratch(bytes, |decoded| {
            self.decode_chunk(array, indices, decoded, label)?;
            // SAFETY: per the contract; `decoded` holds the whole chunk.
            unsafe { copy_box(decoded.as_ptr(), chunk, dst, dst_place, lo, hi, elsize) };
            Ok(())
        })
    }
}

/// Chunks of at least this many decoded bytes are looked up before a part of one is decoded into
/// scratch (`copy_decoded_part`): an absent one is filled instead. Below it the scratch costs
/// little and the lookup (a stat) would be a tenth of a small read's time.
pub const CHECK_ABSENT_FROM: usize = 64 << 20;

/// A stored value's size as a buffer length, refused if it could not even be allocated.
fn buffer_length(size: u64, label: &dyn Fn() -> String) -> FfiResult<usize> {
    usize::try_from(size)
        .ok()
        .filter(|_| crate::safety::fits_in_memory(size))
        .ok_or_else(|| {
            corrupt(
                label,
                format!("a stored value of {size} bytes does not fit in memory"),
            )
        })
}

pub fn storage_error(label: &dyn Fn() -> String, e: StorageError) -> FfiError {
    FfiError::upstream(
        ZarrsResult::ZARRS_ERROR_STORAGE,
        format!("{}: {e}", label()),
    )
}

fn fill_with(dest: &mut [u8], element: &[u8]) {
    if element.iter().all(|b| *b == element[0]) {
        dest.fill(element[0]);
    } else {
        for cell in dest.chunks_exact_mut(element.len()) {
            cell.copy_from_slice(element);
        }
    }
}

pub fn corrupt(label: &dyn Fn() -> String, what: impl std::fmt::Display) -> FfiError {
    FfiError::new(
        ZarrsCffiResult::ZARRS_CFFI_ERROR_CODEC,
        format!("{}: stored data is corrupt ({what})", label()),
    )
}

fn check_size(actual: usize, expected: usize, label: &dyn Fn() -> String) -> FfiResult {
    if actual != expected {
        return Err(corrupt(
            label,
            format!("decoded to {actual} bytes, expected {expected}"),
        ));
    }
    Ok(())
}

fn get(
    array: &RwArray,
    key: &StoreKey,
    range: ByteRange,
    label: &dyn Fn() -> String,
) -> FfiResult<Option<Bytes>> {
    array
        .storage()
        .get_partial(key, range)
        .map_err(|e| storage_error(label, e))
}
