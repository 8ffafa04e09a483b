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
        let bytes = crate::args::byte_count(chunk.shape, elsize)?;
        if bytes >= CHECK_ABSENT_FROM && crate::safety::chunk_is_absent(array, indices) {
            // SAFETY: per the contract.
            unsafe { fill_box(dst, dst_place, lo, hi, &self.layout.fill) };
            return Ok(());
        }
        crate::region_io::with_scratch(bytes, |decoded| {
            self.decode_chunk(array, indices, decoded, label)?;
            // SAFETY: per the contract; `decoded` holds the whole chunk.
            unsafe { copy_box(decoded.as_ptr(), chunk, dst, dst_place, lo, hi, elsize) };
            Ok(())
        })
    }
}

/// The part of an uncompressed chunk file a box needs: its slabs along the first axis
/// (`offset`, `length`), and the bytes `in_slab` of each slab the box covers.
struct RawPart {
    file: std::fs::File,
    elsize: usize,
    slab_bytes: usize,
    offset: usize,
    length: usize,
    in_slab: std::ops::Range<usize>,
}

impl RawPart {
    /// Read the wanted bytes into `slabs` (the slabs' buffer, `length` bytes) at their places:
    /// far-apart spans one by one, the bytes between them left unread.
    fn read_into(&self, slabs: &mut [u8], label: &dyn Fn() -> String) -> FfiResult {
        let count = self.length / self.slab_bytes;
        for span in spans(count, self.slab_bytes, self.in_slab.clone()) {
            let at = (self.offset + span.start) as u64;
            std::os::unix::fs::FileExt::read_exact_at(&self.file, &mut slabs[span], at)
                .map_err(|e| storage_error(label, e.into()))?;
        }
        Ok(())
    }
}

/// A gap between two wanted byte ranges of a file worth a read of its own to skip: below it, one
/// read through the gap costs less than a second system call. Where that lies depends on the CPU
/// (C loops and the benchmark's 2,000 random 8^3 uint16 regions of 64^3 chunks, whose parts are
/// eight ~1 KiB spans 8 KiB apart, on the benchmark's VM):
/// - AMD (measured in 92b8370; the host's family was not recorded): a `pread` ~0.8 us, copying through a gap ~0.07 us a KiB; the eight spans
///   took 6.4 us as eight reads and 4.0-4.8 us as one: 8 KiB.
/// - Intel (Xeon, family 6 model 167 host): the kernel's copy dominates (37 % of the regions
///   workload in `_copy_to_iter`); the 2,000 regions took 40.6-58.0 ms read span by span against
///   53.5-69.6 ms in one read each (two sessions of 3 alternations of library builds): 4 KiB.
fn skip_gap() -> usize {
    if cpu().amd { 8192 } else { 4096 }
}

/// The byte ranges to read of `count` (>= 1) slabs of `slab_bytes` each, when each slab's wanted
/// bytes are `in_slab`: one range per slab, or a single one when the gaps between them are small.
fn spans(
    count: usize,
    slab_bytes: usize,
    in_slab: std::ops::Range<usize>,
) -> Vec<std::ops::Range<usize>> {
    if slab_bytes - in_slab.len() < skip_gap() {
        let whole = in_slab.start..(count - 1) * slab_bytes + in_slab.end;
        return std::iter::once(whole).collect();
    }
    (0..count)
        .map(|k| k * slab_bytes + in_slab.start..k * slab_bytes + in_slab.end)
        .collect()
}

// File reads. The kernel copies file pages into memory with `rep movsb`, which on AMD Zen 3 and
// Zen 4 CPUs runs ~6x slower when the destination sits 1–31 bytes past the source's position
// within a page (measured on an earlier benchmark host: 95 vs 16 ms per 128 MiB; glibc bug 30994)
// — exactly where malloc puts large buffers (16 bytes into a page). So reads land in buffers
// placed at the file offset's position within a page, and a read into a caller's misaligned
// buffer goes through such a buffer on those CPUs. Zen 5 has no such penalty (measured on the
// current host, family 1Ah: 512 KiB chunk files into a buffer at +16 bytes 38 ms per 256 MiB,
// through the aligned buffer and a copy 43 ms).

pub const PAGE: usize = 4096;

/// True if copying file bytes at `offset` to `dest` hits the slow relative alignment.
fn misaligned(dest: *const u8, offset: u64) -> bool {
    let relative = (dest as usize).wrapping_sub(offset as usize) % PAGE;
    (1..32).contains(&relative) && slow_misaligned_copy()
}

/// Whether this CPU is one whose `rep movsb` has the alignment penalty: AMD families 17h (Zen 1
/// and 2, not measured: kept on the safe side) and 19h (Zen 3 and 4). The environment variable
/// `ZARRS_CFFI_ALIGNED_FILE_READS` (`1` or `0`, read once) overrides the CPU check, so that the
/// test suite covers both ways on every CPU.
fn slow_misaligned_copy() -> bool {
    static FORCED: std::sync::OnceLock<Option<bool>> = std::sync::OnceLock::new();
    let forced =
        FORCED.get_or_init(
            || match std::env::var("ZARRS_CFFI_ALIGNED_FILE_READS").as_deref() {
                Ok("1") => Some(true),
                Ok("0") => Some(false),
                _ => None,
            },
        );
    forced.unwrap_or_else(|| {
        let cpu = cpu();
        cpu.amd && matches!(cpu.family, 0x17 | 0x19)
    })
}

/// The CPU's vendor and family, which decide how file bytes are best copied (read once).
struct Cpu {
    amd: bool,
    family: u32,
}

fn cpu() -> &'static Cpu {
    static CPU: std::sync::OnceLock<Cpu> = std::sync::OnceLock::new();
    CPU.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::__cpuid;
            let vendor = __cpuid(0);
            let amd =
                (vendor.ebx, vendor.edx, vendor.ecx) == (0x6874_7541, 0x6974_6E65, 0x444D_4163);
            let eax = __cpuid(1).eax;
            let family = ((eax >> 8) & 0xF) + ((eax >> 20) & 0xFF);
            Cpu { amd, family }
        }
        #[cfg(not(target_arch = "x86_64"))]
        Cpu {
            amd: false,
            family: 0,
        }
    })
}

/// Read `length` bytes at `offset` of `file` into `buffer` (grown as needed, its memory reused),
/// placed at the offset's position within a page; returns them.
fn read_at<'a>(
    file: &std::fs::File,
    offset: u64,
    length: usize,
    buffer: &'a mut Vec<u8>,
) -> std::io::Result<&'a [u8]> {
    let start = read_window(file, offset, length, buffer)?;
    Ok(&buffer[start..start + length])
}

/// `read_at`, returning where in `buffer` the bytes start.
fn read_window(
    file: &std::fs::File,
    offset: u64,
    length: usize,
    buffer: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let start = page_aligned_window(buffer, length + PAGE)? + offset as usize % PAGE;
    std::os::unix::fs::FileExt::read_exact_at(file, &mut buffer[start..start + length], offset)?;
    Ok(start)
}

/// Where a page-aligned window of `len` bytes starts in `buffer`, which is first replaced by
/// fresh zeroed memory (its contents dropped) if it is too short to hold one. A size that cannot
/// be allocated (a corrupt header or index claiming terabytes) is an error, not an abort.
pub fn page_aligned_window(buffer: &mut Vec<u8>, len: usize) -> std::io::Result<usize> {
    let needed = len
        .checked_add(PAGE)
        .filter(|n| crate::safety::fits_in_memory(*n as u64));
    let Some(needed) = needed else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::OutOfMemory,
            format!("a buffer of {len} bytes cannot be allocated"),
        ));
    };
    if buffer.len() < needed {
        // Fresh pages, touched only as they are written (no memset, unlike `resize`).
        let mut fresh = Vec::new();
        fresh.try_reserve_exact(needed).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::OutOfMemory,
                format!("a buffer of {len} bytes cannot be allocated"),
            )
        })?;
        fresh.resize(needed, 0);
        *buffer = fresh;
    }
    Ok(buffer.as_ptr().align_offset(PAGE))
}

/// Chunks of at least this many decoded bytes are looked up before a part of one is decoded into
/// scratch (`copy_decoded_part`): an absent one is filled instead. Below it the scratch costs
/// little and the lookup (a stat) would be a tenth of a small read's time.
pub const CHECK_ABSENT_FROM: usize = 64 << 20;

/// Pieces a large read of an uncompressed chunk is split into (`read_exact_into`).
const READ_PIECE: usize = 128 * 1024;

/// Read the start of `file` into `dest` (exactly its length). A large read is split into pieces
/// that the calling thread and pool helpers read at once: the kernel's copy out of the page cache
/// is all the work of such a read (a loop over the benchmark's 512 KiB raw chunk files in C, one
/// read per chunk against two threads reading halves: 27-38 ms against 19-21 ms per pass).
fn read_exact_into(file: &std::fs::File, dest: &mut [u8]) -> std::io::Result<()> {
    if dest.len() < 2 * READ_PIECE || !crate::pool::may_spread() {
        return read_piece(file, 0, dest); // one read: no other thread would take a piece
    }
    crate::pool::for_each_piece_with_helpers(dest, READ_PIECE, |k, piece| {
        read_piece(file, (k * READ_PIECE) as u64, piece)
    })
}

/// Read `dest.len()` bytes at `offset` of `file` into `dest`, through an aligned per-thread
/// buffer when `dest` sits at the slow relative alignment (a userspace copy has no such penalty).
fn read_piece(file: &std::fs::File, offset: u64, dest: &mut [u8]) -> std::io::Result<()> {
    if !misaligned(dest.as_ptr(), offset) {
        return std::os::unix::fs::FileExt::read_exact_at(file, dest, offset);
    }
    ENCODED.with(|buffer| {
        let mut buffer = buffer.borrow_mut();
        copy_in_small_blocks(dest, read_at(file, offset, dest.len(), &mut buffer)?);
        Ok(())
    })
}

/// Below this many bytes glibc's `memcpy` copies with vector loads and stores, not `rep movsb`
/// (its threshold is 2112 bytes on CPUs with fast short `rep movsb`, more on the others).
const SMALL_COPY: usize = 2048;

/// `dest.copy_from_slice(src)` in `SMALL_COPY` blocks. The copy out of the aligned buffer is
/// relatively misaligned by construction, and on the CPUs where that matters (`misaligned`)
/// `rep movsb` is as slow in user space as in the kernel: one 128 KiB `memcpy` per piece made a
/// chunk scan on two threads take 141-162 ms a pass against 77-83 ms on one thread, whose
/// 512 KiB copies glibc runs with vector loops (Zen 3 host, family 19h).
fn copy_in_small_blocks(dest: &mut [u8], src: &[u8]) {
    for (to, from) in dest.chunks_mut(SMALL_COPY).zip(src.chunks(SMALL_COPY)) {
        to.copy_from_slice(from);
    }
}

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

thread_local! {
    static ZSTD: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
    static INFLATE: RefCell<Option<Inflater>> = const { RefCell::new(None) };
    /// Stored (encoded) bytes read from files, reused from chunk to chunk.
    pub(crate) static ENCODED: crate::scratch::Buffer = const { crate::scratch::Buffer::new() };
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

/// Decompress `encoded` into `dest`, which must come out exactly full.
pub fn decompress(
    compressor: Compressor,
    encoded: &[u8],
    dest: &mut [u8],
    label: &dyn Fn() -> String,
) -> FfiResult {
    match compressor {
        Compressor::None => {
            check_size(encoded.len(), dest.len(), label)?;
            dest.copy_from_slice(encoded);
        }
        Compressor::Zstd => {
            let written = ZSTD.with(|slot| -> FfiResult<usize> {
                let mut slot = slot.borrow_mut();
                if slot.is_none() {
                    *slot = Some(zstd::bulk::Decompressor::new().map_err(|e| {
                        FfiError::new(ZarrsCffiResult::ZARRS_CFFI_ERROR_CODEC, e.to_string())
                    })?);
                }
                let decompressor = slot.as_mut().expect("set above");
                decompressor
                    .decompress_to_buffer(encoded, dest)
                    .map_err(|e| corrupt(label, format!("zstd: {e}")))
            })?;
            check_size(written, dest.len(), label)?;
        }
        Compressor::Gzip => {
            let written = INFLATE.with(|slot| -> FfiResult<usize> {
                let mut slot = slot.borrow_mut();
                if slot.is_none() {
                    *slot = Some(Inflater::new().ok_or_else(|| {
                        FfiError::new(
                            ZarrsCffiResult::ZARRS_CFFI_ERROR_CODEC,
                            "gzip: cannot allocate a decompressor",
                        )
                    })?);
                }
                slot.as_mut()
                    .expect("set above")
                    .gzip_members(encoded, dest)
                    .map_err(|what| corrupt(label, format!("gzip: {what}")))
            })?;
            check_size(written, dest.len(), label)?;
        }
        Compressor::Blosc => {
            // Some writers (z5py) store padding after the frame: it ends at the header's length.
            let encoded =
                &encoded[..crate::codec_fixes::blosc_frame_len(encoded).unwrap_or(encoded.len())];
            let mut nbytes = 0usize;
            // SAFETY: blosc reads at most `encoded.len()` bytes to validate the header.
            let valid = unsafe {
                blosc_src::blosc_cbuffer_validate(
                    encoded.as_ptr().cast(),
                    encoded.len(),
                    &mut nbytes,
                )
            } == 0;
            if !valid {
                return Err(corrupt(label, "blosc: invalid header"));
            }
            check_size(nbytes, dest.len(), label)?;
            // SAFETY: validated above (sizes agree with `encoded`); `dest` holds `nbytes`.
            let written = unsafe {
                blosc_src::blosc_decompress_ctx(
                    encoded.as_ptr().cast(),
                    dest.as_mut_ptr().cast(),
                    dest.len(),
                    1,
                )
            };
            if written < 0 {
                return Err(corrupt(label, format!("blosc: error {written}")));
            }
            check_size(written as usize, dest.len(), label)?;
        }
    }
    Ok(())
}

/// A libdeflate decompressor. libdeflate decodes a whole gzip member at once: the benchmark's
/// whole gzip array in 257 ms against 322-334 ms with flate2 over zlib-rs. libdeflater's wrapper
/// does not say where a member ends, so a value of several members (RFC 1952 allows a series;
/// numcodecs and `cat` write them) needs the `_ex` call.
struct Inflater(std::ptr::NonNull<libdeflate_sys::libdeflate_decompressor>);

impl Inflater {
    fn new() -> Option<Self> {
        // SAFETY: plain allocation; NULL when out of memory.
        std::ptr::NonNull::new(unsafe { libdeflate_sys::libdeflate_alloc_decompressor() }).map(Self)
    }

    /// Decode the gzip members of `encoded` one after another into `dest`; the number of bytes
    /// written. Each member's CRC-32 and length are checked; zero bytes after the last member
    /// (padding) are ignored.
    fn gzip_members(&mut self, encoded: &[u8], dest: &mut [u8]) -> Result<usize, &'static str> {
        let (mut read, mut written) = (0usize, 0usize);
        loop {
            let (mut used_in, mut used_out) = (0usize, 0usize);
            let input = &encoded[read..];
            let output = &mut dest[written..];
            // SAFETY: the pointers and lengths describe `input` and `output`.
            let result = unsafe {
                libdeflate_sys::libdeflate_gzip_decompress_ex(
                    self.0.as_ptr(),
                    input.as_ptr().cast(),
                    input.len(),
                    output.as_mut_ptr().cast(),
                    output.len(),
                    &mut used_in,
                    &mut used_out,
                )
            };
            match result {
                libdeflate_sys::libdeflate_result_LIBDEFLATE_SUCCESS => {}
                libdeflate_sys::libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE => {
                    return Err("decodes to more bytes than the chunk holds");
                }
                _ => return Err("invalid or corrupt data"),
            }
            read += used_in;
            written += used_out;
            if used_in == 0 || encoded[read..].iter().all(|b| *b == 0) {
                return Ok(written);
            }
        }
    }
}

impl Drop for Inflater {
    fn drop(&mut self) {
        // SAFETY: allocated by `new`, freed once.
        unsafe { libdeflate_sys::libdeflate_free_decompressor(self.0.as_ptr()) }
    }
}

/// A generous bound on an inner chunk's stored size: anything larger is a corrupt index
/// (compressors add at most a small fraction to incompressible data).
fn max_encoded(decoded: usize) -> u64 {
    decoded as u64 + decoded as u64 / 8 + (1 << 16)
}

/// One shard's index (offset, length per inner chunk, C order), its size and where its inner
/// chunks are read from: its bytes (whole-file mode), the file the index was read from, or the
/// store. Reading the index and the inner chunks from one open file makes a shard read one
/// snapshot: a writer renaming a new shard over it meanwhile is not seen (old data, not a mix).
struct Shard {
    index: Vec<u64>,
    size: u64,
    source: ShardSource,
}

enum ShardSource {
    Bytes(Bytes),
    File(std::fs::File),
    Store,
    /// An object store version (ETag): inner chunks are read only while the object has it.
    Object {
        etag: String,
    },
}

/// What a loaded shard (or its absence) came from, to tell whether a kept index still describes
/// the shard at its key: the file's device, inode, size and modification time, or its absence.
/// A kept `Shard` holds its file open, so its inode cannot be reused by another file meanwhile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Identity {
    /// An object store's shard read by version (`ShardSource::Object`): each use of the index
    /// checks the version itself, so a kept index needs no check first.
    Version,
    Absent,
    File {
        dev: u64,
        ino: u64,
        size: u64,
        mtime: (i64, i64),
    },
}

impl Identity {
    pub fn of(metadata: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Identity::File {
            dev: metadata.dev(),
            ino: metadata.ino(),
            size: metadata.size(),
            mtime: (metadata.mtime(), metadata.mtime_nsec()),
        }
    }
}

/// Which inner chunk of a shard a read wants, and how to name it in errors.
#[derive(Clone, Copy)]
struct InnerChunk<'a> {
    key: &'a StoreKey,
    within: usize,
    label: &'a dyn Fn() -> String,
}

/// A loaded shard (None: absent) with the identity it was loaded from (None: not a file of this
/// library's store, so it cannot be checked later).
type Loaded = (Option<Arc<Shard>>, Option<Identity>);

type ShardSlot = Arc<OnceLock<Result<Loaded, FfiError>>>;

/// Reads inner chunks of a sharded array, loading each shard's index once.
pub struct ShardReader {
    /// Read whole shard files (a read covering most of each shard) rather than index + ranges.
    whole_files: bool,
    /// Kept across reads (a chunk cache's): before a kept shard is used, the file at its key must
    /// still be the one it was loaded from (`Identity`), else it is loaded again; shards whose
    /// origin cannot be checked (other stores) are not kept. A reader used by one read only sees
    /// one snapshot of each shard and needs no check.
    across_reads: bool,
    shards: Mutex<HashMap<Vec<u64>, ShardSlot>>,
}

impl ShardReader {
    /// A reader for one read.
    pub fn new(whole_files: bool) -> Self {
        Self {
            whole_files,
            across_reads: false,
            shards: Mutex::new(HashMap::new()),
        }
    }

    /// A reader whose shards are kept across reads, each checked before use (`across_reads`).
    pub fn kept_across_reads() -> Self {
        Self {
            whole_files: false,
            across_reads: true,
            shards: Mutex::new(HashMap::new()),
        }
    }

    /// Forget every loaded shard (after writes, or when the read is done with them).
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Forget one shard.
    pub fn release(&self, shard: &[u64]) {
        self.lock().remove(shard);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u64>, ShardSlot>> {
        self.shards.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The shard holding inner chunk `unit`, and the inner chunk's C-order position in it.
    pub fn locate(plan: &Plan, unit: &[u64]) -> (Vec<u64>, usize) {
        let per_shard = &plan
            .layout
            .sharding
            .as_ref()
            .expect("a sharded plan")
            .per_shard;
        let shard = std::iter::zip(unit, per_shard)
            .map(|(u, p)| u / p)
            .collect();
        let within = std::iter::zip(unit, per_shard).fold(0u64, |at, (u, p)| at * p + u % p);
        (shard, within as usize)
    }

    /// Decode inner chunk `unit` (full inner-chunk shape) into `dest`.
    pub fn decode_unit(
        &self,
        array: &RwArray,
        plan: &Plan,
        unit: &[u64],
        dest: &mut [u8],
        label: &dyn Fn() -> String,
    ) -> FfiResult {
        let (shard_indices, within) = Self::locate(plan, unit);
        let key = array.chunk_key(&shard_indices);
        let Some(shard) = self.shard(array, plan, &shard_indices, &key, label)? else {
            plan.fill(dest);
            return Ok(());
        };
        let place = InnerChunk {
            key: &key,
            within,
            label,
        };
        if self.decode_from(array, plan, &shard, place, dest)? {
            return Ok(());
        }
        // Rewritten since its index was read (a kept index, or a writer racing this read): the
        // kept index goes, and this inner chunk comes from the whole shard, read in one request
        // (one version: a writer rewriting the shard in a loop cannot starve the read).
        self.forget(&shard_indices, &shard);
        match self.load(array, plan, &key, label, true)? {
            (Some(whole), _) => self
                .decode_from(array, plan, &whole, place, dest)
                .map(|_| ()),
            (None, _) => {
                plan.fill(dest);
                Ok(())
            }
        }
    }

    /// Decode inner chunk `place.within` of `shard` into `dest`; false if the shard (an object
    /// read by version) has changed since its index was read.
    fn decode_from(
        &self,
        array: &RwArray,
        plan: &Plan,
        shard: &Shard,
        place: InnerChunk,
        dest: &mut [u8],
    ) -> FfiResult<bool> {
        let (key, label) = (place.key, place.label);
        let (offset, length) = (
            shard.index[2 * place.within],
            shard.index[2 * place.within + 1],
        );
        if offset == u64::MAX && length == u64::MAX {
            plan.fill(dest);
            return Ok(true);
        }
        if length > max_encoded(dest.len()) || offset.checked_add(length).is_none() {
            return Err(corrupt(
                label,
                format!("shard index gives {length} bytes at offset {offset}"),
            ));
        }
        let end = offset + length;
        if end > shard.size {
            return Err(corrupt(
                label,
                format!(
                    "shard index points past the end of the shard ({end} > {} bytes)",
                    shard.size
                ),
            ));
        }
        match &shard.source {
            ShardSource::Bytes(bytes) => decompress(
                plan.chunks,
                &bytes[offset as usize..end as usize],
                dest,
                label,
            ),
            ShardSource::File(file) => {
                let length = buffer_length(length, label)?;
                ENCODED.with(|buffer| {
                    let mut buffer = buffer.borrow_mut();
                    let encoded = read_at(file, offset, length, &mut buffer)
                        .map_err(|e| storage_error(label, e.into()))?;
                    decompress(plan.chunks, encoded, dest, label)
                })
            }
            ShardSource::Store => plan
                .with_stored(array, key, Some((offset, length)), label, |encoded| {
                    decompress(plan.chunks, encoded, dest, label)
                })?
                .ok_or_else(|| corrupt(label, "the shard disappeared while it was read")),
            ShardSource::Object { etag } => {
                let versioned = plan.layout.versioned.as_ref().expect("read by version");
                let read = TokioBlockOn.block_on(versioned.get_if_version(key, offset..end, etag));
                match read.map_err(|e| storage_error(label, e))? {
                    Conditional::Bytes(encoded) => decompress(plan.chunks, &encoded, dest, label),
                    Conditional::Changed => return Ok(false),
                }
            }
        }?;
        Ok(true)
    }

    /// Forget `shard` (if it is still the one loaded for `shard_indices`).
    fn forget(&self, shard_indices: &[u64], shard: &Arc<Shard>) {
        let mut shards = self.lock();
        let current = shards.get(shard_indices).is_some_and(
            |slot| matches!(slot.get(), Some(Ok((Some(kept), _))) if Arc::ptr_eq(kept, shard)),
        );
        if current {
            shards.remove(shard_indices);
        }
    }

    /// Forget every kept shard if more than `max` are kept (bounds a handle's memory).
    pub fn bound_to(&self, max: usize) {
        let mut shards = self.lock();
        if shards.len() > max {
            shards.clear();
        }
    }

    fn shard(
        &self,
        array: &RwArray,
        plan: &Plan,
        shard_indices: &[u64],
        key: &StoreKey,
        label: &dyn Fn() -> String,
    ) -> FfiResult<Option<Arc<Shard>>> {
        for _ in 0..3 {
            let slot = self
                .lock()
                .entry(shard_indices.to_vec())
                .or_default()
                .clone();
            let mut loaded_here = false;
            let loaded = slot
                .get_or_init(|| {
                    loaded_here = true;
                    self.load(array, plan, key, label, self.whole_files)
                })
                .clone();
            let usable = match &loaded {
                Err(_) => true, // reported; not kept (below)
                Ok(_) if loaded_here || !self.across_reads => true,
                Ok((_, None)) => true, // loaded by a concurrent read just now
                Ok((_, Some(Identity::Version))) => true, // checked by each use (`decode_from`)
                Ok((_, Some(identity))) => self.is_current(plan, key, *identity, label)?,
            };
            let keep = match &loaded {
                Err(_) => false, // the next read tries again (the shard may have been repaired)
                Ok((_, identity)) => usable && (identity.is_some() || !self.across_reads),
            };
            if !keep {
                let mut shards = self.lock();
                if shards
                    .get(shard_indices)
                    .is_some_and(|kept| Arc::ptr_eq(kept, &slot))
                {
                    shards.remove(shard_indices);
                }
            }
            if usable {
                return loaded.map(|(shard, _)| shard);
            }
            // The file at the key was replaced since the kept index was read: load it again.
        }
        self.load(array, plan, key, label, self.whole_files)
            .map(|(shard, _)| shard)
    }

    /// Whether the file at `key` is still the one `identity` describes.
    fn is_current(
        &self,
        plan: &Plan,
        key: &StoreKey,
        identity: Identity,
        label: &dyn Fn() -> String,
    ) -> FfiResult<bool> {
        let files = plan
            .layout
            .files
            .as_ref()
            .expect("identities come from files");
        let now = files.identity(key).map_err(|e| storage_error(label, e))?;
        Ok(now == identity)
    }

    /// Load the shard at `key`: `whole`, the whole value in one read; else its index (from the
    /// open file, or by a range request, by version where the store has versions).
    fn load(
        &self,
        array: &RwArray,
        plan: &Plan,
        key: &StoreKey,
        label: &dyn Fn() -> String,
        whole: bool,
    ) -> FfiResult<Loaded> {
        let sharding = plan.layout.sharding.as_ref().expect("a sharded plan");
        let index_bytes = sharding.index_bytes();
        let index_at = |size: u64| {
            if sharding.index_at_start {
                0
            } else {
                size - index_bytes
            }
        };
        let (encoded_index, size, source, identity) = if whole {
            let Some(bytes) = plan.whole_value(array, key, label)? else {
                return Ok((None, None));
            };
            let size = bytes.len() as u64;
            check_index_fits(size, index_bytes, label)?;
            let at = index_at(size) as usize;
            let index = bytes.slice(at..at + index_bytes as usize);
            (index, size, ShardSource::Bytes(bytes), None)
        } else if let Some(files) = &plan.layout.files {
            let Some((file, metadata)) = files
                .open_value_with_metadata(key)
                .map_err(|e| storage_error(label, e))?
            else {
                return Ok((None, Some(Identity::Absent)));
            };
            let size = metadata.len();
            check_index_fits(size, index_bytes, label)?;
            let mut index = vec![0; index_bytes as usize];
            std::os::unix::fs::FileExt::read_exact_at(&file, &mut index, index_at(size))
                .map_err(|e| storage_error(label, e.into()))?;
            let identity = Some(Identity::of(&metadata));
            (Bytes::from(index), size, ShardSource::File(file), identity)
        } else if let Some(versioned) = &plan.layout.versioned {
            let Some(found) = load_index_by_version(versioned, sharding, key, label)? else {
                return Ok((None, None));
            };
            found
        } else {
            // One request, no size first (a HEAD would cost an object store a round trip): the
            // index by a suffix or prefix range. The shard's size stays unknown; an inner chunk
            // range past its end fails in the store's ranged read.
            let range = if sharding.index_at_start {
                ByteRange::FromStart(0, Some(index_bytes))
            } else {
                ByteRange::Suffix(index_bytes)
            };
            let Some(index) = get(array, key, range, label)? else {
                return Ok((None, None));
            };
            (index, u64::MAX, ShardSource::Store, None)
        };
        let index = parse_shard_index(&encoded_index, sharding, label)?;
        Ok((
            Some(Arc::new(Shard {
                index,
                size,
                source,
            })),
            identity,
        ))
    }
}

/// A shard's encoded index, the shard's size (`u64::MAX`: unknown), where its inner chunks are
/// read from, and what identifies the version read.
type IndexRead = (Bytes, u64, ShardSource, Option<Identity>);

/// A shard's index read by version (`Versioned`), with where its inner chunks are then read
/// from; None if the shard is absent.
fn load_index_by_version(
    versioned: &Versioned,
    sharding: &Sharding,
    key: &StoreKey,
    label: &dyn Fn() -> String,
) -> FfiResult<Option<IndexRead>> {
    let index_bytes = sharding.index_bytes();
    // One request, no size first: the index with the object's version (ETag).
    let range = if sharding.index_at_start {
        GetRange::Bounded(0..index_bytes)
    } else {
        GetRange::Suffix(index_bytes)
    };
    let read = TokioBlockOn.block_on(versioned.get_with_version(key, range));
    let Some((index, etag)) = read.map_err(|e| storage_error(label, e))? else {
        return Ok(None);
    };
    Ok(Some(match etag {
        Some(etag) => (
            index,
            u64::MAX,
            ShardSource::Object { etag },
            Some(Identity::Version),
        ),
        None => (index, u64::MAX, ShardSource::Store, None),
    }))
}

fn check_index_fits(size: u64, index_bytes: u64, label: &dyn Fn() -> String) -> FfiResult {
    if size < index_bytes {
        return Err(corrupt(label, "the shard is shorter than its index"));
    }
    Ok(())
}

/// The (offset, length) pairs of an encoded shard index (`index_bytes` long), its crc32c
/// checked when the index has one.
fn parse_shard_index(
    encoded: &[u8],
    sharding: &Sharding,
    label: &dyn Fn() -> String,
) -> FfiResult<Vec<u64>> {
    // A ranged read of a shard smaller than its index returns less; a server ignoring the range
    // returns more.
    check_index_fits(encoded.len() as u64, sharding.index_bytes(), label)?;
    if encoded.len() as u64 != sharding.index_bytes() {
        return Err(corrupt(
            label,
            format!(
                "the shard index read is {} bytes, not {}",
                encoded.len(),
                sharding.index_bytes()
            ),
        ));
    }
    let table = &encoded[..sharding.entries() as usize * 16];
    if sharding.index_crc {
        let stored = u32::from_le_bytes(encoded[table.len()..].try_into().expect("4 bytes"));
        if crc32c::crc32c(table) != stored {
            return Err(corrupt(label, "shard index checksum mismatch"));
        }
    }
    Ok(table
        .chunks_exact(8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label() -> String {
        "test chunk".to_string()
    }

    fn geometry(index_crc: bool) -> Sharding {
        Sharding {
            per_shard: vec![2, 1],
            index_at_start: false,
            index_crc,
        }
    }

    #[test]
    fn shard_index_parsed_and_checksummed() {
        let table: Vec<u8> = [5u64, 10, u64::MAX, u64::MAX]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let mut encoded = table.clone();
        encoded.extend(crc32c::crc32c(&table).to_le_bytes());
        let parsed = parse_shard_index(&encoded, &geometry(true), &label).unwrap();
        assert_eq!(parsed, [5, 10, u64::MAX, u64::MAX]);
        assert_eq!(
            parse_shard_index(&table, &geometry(false), &label).unwrap(),
            parsed
        );
        encoded[3] ^= 1;
        let err = parse_shard_index(&encoded, &geometry(true), &label).unwrap_err();
        assert!(err.message.contains("checksum"), "{}", err.message);
    }

    #[test]
    fn spans_merge_small_gaps_and_split_large_ones() {
        // Wanted bytes 100..200 of each 1000-byte slab: the 900-byte gaps merge.
        assert_eq!(spans(3, 1000, 100..200), vec![100..2200]);
        // 64 KiB slabs: each slab's bytes are read on their own.
        let slab = 64 * 1024;
        assert_eq!(spans(2, slab, 8..16), [8..16, slab + 8..slab + 16]);
    }

    #[test]
    fn gzip_of_several_members_and_padding() {
        use std::io::Write;
        let gz = |data: &[u8]| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        };
        let mut encoded = gz(&[7u8; 40]);
        encoded.extend(gz(&[9u8; 24]));
        let mut dest = vec![0u8; 64];
        decompress(Compressor::Gzip, &encoded, &mut dest, &label).unwrap();
        assert_eq!(&dest[..40], &[7u8; 40]);
        assert_eq!(&dest[40..], &[9u8; 24]);
        encoded.extend([0u8; 8]); // zero padding after the last member
        decompress(Compressor::Gzip, &encoded, &mut dest, &label).unwrap();
        let mut short = vec![0u8; 50];
        let err = decompress(Compressor::Gzip, &encoded, &mut short, &label).unwrap_err();
        assert!(err.message.contains("more bytes"), "{}", err.message);
        let mut long = vec![0u8; 80];
        assert!(decompress(Compressor::Gzip, &encoded, &mut long, &label).is_err());
    }

    #[test]
    fn page_aligned_window_refuses_impossible_sizes() {
        let mut buffer = Vec::new();
        let at = page_aligned_window(&mut buffer, 10_000).unwrap();
        assert_eq!((buffer.as_ptr() as usize + at) % PAGE, 0);
        assert!(buffer.len() >= at + 10_000);
        assert!(page_aligned_window(&mut buffer, usize::MAX - 1).is_err());
        assert!(page_aligned_window(&mut buffer, 1 << 60).is_err());
    }
}
