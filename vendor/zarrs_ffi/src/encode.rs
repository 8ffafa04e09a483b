//! Direct encoding of whole chunks for the common codec chains: the write-side twin of `direct`.
//!
//! Arrays laid out the common way (`direct::layout`) whose chunks (or inner chunks, when sharded)
//! are `bytes` (little endian) plus at most one of zstd or gzip are encoded here instead of by
//! zarrs' pipeline, which creates a zstd context per chunk, allocates every encoded chunk afresh
//! (a page fault per new page) and hands the store an owned copy. Here each pool thread keeps its
//! compression contexts and output buffers, and the store's files are written from them. gzip
//! goes through libdeflate: about 3x faster than zlib at the same level, for the same ratio
//! (bench/ANALYSIS.md). Chunks equal to the fill value are erased, as zarrs does.
//!
//! Only whole chunks are encoded here; partial chunks are read-modify-written by zarrs. Anything
//! without an `EncodePlan` (blosc, other codecs, Zarr v2, ...) is encoded by zarrs.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};

use zarrs::metadata::v3::MetadataV3;
use zarrs::storage::{Bytes, StorageError, StoreKey};

use crate::args::{RwArray, write_out};
use crate::boxcopy::{Placed, copy_box, step_c_order};
use crate::direct::{self, Layout, Sharding, is_little_bytes, layout};
use crate::error::{FfiError, FfiResult, ZarrsCffiResult, guard};
use crate::handle::{StoreAccess, ZarrsCffiArray, array_arg};
use crate::object_reads::Versioned;

/// The bytes-to-bytes codec after `bytes`, with what encoding needs of its configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoder {
    None,
    Zstd { level: i32, checksum: bool },
    Gzip { level: i32 },
}

/// A whole chunk (or shard) encoded: its stored bytes, or `Fill` when every element is the fill
/// value (the chunk is then erased, not stored, as zarrs does).
pub enum Encoded<'a> {
    Bytes(&'a [u8]),
    Fill,
}

/// What a write of whole chunks of this array can do without zarrs' pipeline.
#[derive(Clone)]
pub struct EncodePlan {
    encoder: Encoder,
    layout: Layout,
}

/// Whether writes may encode directly (on unless `zarrsCffiSetDirectEncoding(0)`).
static ENABLED: AtomicBool = AtomicBool::new(true);

/// Turn direct encoding of the common codec chains on (`enabled` != 0, the default) or off, so
/// that every write goes through zarrs' codec pipeline. Returns the previous setting (1 or 0).
#[unsafe(no_mangle)]
pub extern "C" fn zarrsCffiSetDirectEncoding(enabled: i32) -> i32 {
    i32::from(ENABLED.swap(enabled != 0, Ordering::Relaxed))
}

/// Whether whole-chunk writes of `array` encode directly (`*pDirect` = 1) or through zarrs'
/// codec pipeline (0).
///
/// # Safety
/// `array` a live handle; `pDirect` a valid out-pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiArrayEncodesDirectly(
    array: ZarrsCffiArray,
    pDirect: *mut i32,
) -> i32 {
    guard(|| {
        let array = array_arg(array)?;
        write_out(pDirect, i32::from(array.encode_plan().is_some()), "pDirect")
    })
}

/// Whether direct encoding is on (`zarrsCffiSetDirectEncoding`).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The plan for `array` stored in `files` (if this library's filesystem store holds it), or
/// None if zarrs must encode it. Made once per handle (`handle`).
pub fn plan_for(array: &RwArray, access: StoreAccess) -> Option<EncodePlan> {
    let layout = layout(array, access)?;
    Some(EncodePlan {
        encoder: encoder(&layout.codecs)?,
        layout,
    })
}

/// `[bytes(little)]` plus at most one of zstd or gzip, with a configuration this module knows
/// in full (anything unexpected is left to zarrs).
fn encoder(codecs: &[MetadataV3]) -> Option<Encoder> {
    let (first, rest) = codecs.split_first()?;
    if !is_little_bytes(first) {
        return None;
    }
    let [one] = rest else {
        return rest.is_empty().then_some(Encoder::None);
    };
    let config = one.configuration()?;
    let level = i32::try_from(config.get("level")?.as_i64()?).ok()?;
    let known = |keys: &[&str]| config.keys().all(|k| keys.contains(&k.as_str()));
    match one.name() {
        "zstd" if known(&["level", "checksum"]) => Some(Encoder::Zstd {
            level,
            checksum: config
                .get("checksum")
                .map_or(Some(false), serde_json::Value::as_bool)?,
        }),
        "gzip" if known(&["level"]) && (0..=9).contains(&level) => Some(Encoder::Gzip { level }),
        _ => None,
    }
}

thread_local! {
    static ZSTD: RefCell<Option<(i32, bool, zstd::bulk::Compressor<'static>)>> =
        const { RefCell::new(None) };
    static DEFLATE: RefCell<Option<(i32, libdeflater::Compressor)>> = const { RefCell::new(None) };
    /// The encoded chunk or the shard being assembled, reused from chunk to chunk.
    pub(crate) static ENCODED: crate::scratch::Buffer = const { crate::scratch::Buffer::new() };
    /// One inner chunk gathered from its shard.
    pub(crate) static INNER: crate::scratch::Buffer = const { crate::scratch::Buffer::new() };
}

fn codec_error(label: &dyn Fn() -> String, what: impl std::fmt::Display) -> FfiError {
    FfiError::new(
        ZarrsCffiResult::ZARRS_CFFI_ERROR_CODEC,
        format!("{}: {what}", label()),
    )
}

/// True if every element of `data` is `fill` (bytewise, as zarrs compares).
fn is_fill(data: &[u8], fill: &[u8]) -> bool {
    if fill.iter().all(|b| *b == fill[0]) {
        return data.iter().all(|b| *b == fill[0]);
    }
    data.chunks_exact(fill.len()).all(|cell| cell == fill)
}

/// Encode `decoded` into `out` from byte `at` on (growing `out` to the encoder's worst case);
/// returns the encoded length.
fn encode_at(
    encoder: Encoder,
    decoded: &[u8],
    out: &mut Vec<u8>,
    at: usize,
    label: &dyn Fn() -> String,
) -> FfiResult<usize> {
    match encoder {
        Encoder::None => {
            at_least(out, at + decoded.len())[at..].copy_from_slice(decoded);
            Ok(decoded.len())
        }
        Encoder::Zstd { level, checksum } => ZSTD.with(|slot| {
            let mut slot = slot.borrow_mut();
            if !matches!(&*slot, Some((l, c, _)) if *l == level && *c == checksum) {
                let mut compressor = zstd::bulk::Compressor::new(level)
                    .map_err(|e| codec_error(label, format!("zstd: {e}")))?;
                compressor
                    .include_checksum(checksum)
                    .map_err(|e| codec_error(label, format!("zstd: {e}")))?;
                *slot = Some((level, checksum, compressor));
            }
            let (_, _, compressor) = slot.as_mut().expect("set above");
            let bound = zstd::zstd_safe::compress_bound(decoded.len());
            compressor
                .compress_to_buffer(decoded, &mut at_least(out, at + bound)[at..])
                .map_err(|e| codec_error(label, format!("zstd: {e}")))
        }),
        Encoder::Gzip { level } => DEFLATE.with(|slot| {
            let mut slot = slot.borrow_mut();
            if !matches!(&*slot, Some((l, _)) if *l == level) {
                let lvl = libdeflater::CompressionLvl::new(level)
                    .map_err(|_| codec_error(label, format!("gzip: level {level}")))?;
                *slot = Some((level, libdeflater::Compressor::new(lvl)));
            }
            let (_, compressor) = slot.as_mut().expect("set above");
            let bound = compressor.gzip_compress_bound(decoded.len());
            compressor
                .gzip_compress(decoded, &mut at_least(out, at + bound)[at..])
                .map_err(|e| codec_error(label, format!("gzip: {e}")))
        }),
    }
}

/// Grow `buffer` to at least `len` bytes (its memory is reused, so this rarely zeroes anything).
fn at_least(buffer: &mut Vec<u8>, len: usize) -> &mut [u8] {
    if buffer.len() < len {
        buffer.resize(len, 0);
    }
    &mut buffer[..len]
}

impl EncodePlan {
    /// Whether chunks are shards (`store_shard_within` then encodes from the caller's region).
    pub fn is_sharded(&self) -> bool {
        self.layout.sharding.is_some()
    }

    /// The object store a write of many chunks hands its encoded chunks to, to be uploaded while
    /// the next ones are encoded (`upload`); None for this library's files and read-only stores.
    pub fn uploads_to(&self) -> Option<&Versioned> {
        self.layout.object_store().filter(|v| v.writable())
    }

    /// Encode and store the whole chunk `indices` (a shard, when sharded) from `data`: the full
    /// chunk `shape` in C order, native endian. A chunk equal to the fill value is erased.
    pub fn store_chunk(
        &self,
        array: &RwArray,
        indices: &[u64],
        shape: &[u64],
        data: &[u8],
        label: &dyn Fn() -> String,
    ) -> FfiResult {
        self.encode_chunk(shape, data, label, |encoded| {
            self.store(array, indices, encoded, label)
        })
    }

    /// Encode the whole chunk (a shard, when sharded) `data` of `shape` (C order, native endian)
    /// and give the result to `emit`.
    pub fn encode_chunk<R>(
        &self,
        shape: &[u64],
        data: &[u8],
        label: &dyn Fn() -> String,
        emit: impl FnOnce(Encoded<'_>) -> FfiResult<R>,
    ) -> FfiResult<R> {
        if self.is_sharded() {
            let origin = vec![0; shape.len()];
            let chunk = Placed {
                origin: &origin,
                shape,
            };
            return self.encode_shard_within(chunk, data, chunk, label, emit);
        }
        if is_fill(data, &self.layout.fill) {
            return emit(Encoded::Fill);
        }
        if self.encoder == Encoder::None {
            return emit(Encoded::Bytes(data));
        }
        ENCODED.with(|encoded| {
            let mut encoded = encoded.borrow_mut();
            let length = encode_at(self.encoder, data, &mut encoded, 0, label)?;
            emit(Encoded::Bytes(&encoded[..length]))
        })
    }

    /// Encode and store the whole shard `indices`, which lies at `shard` inside the C-order box
    /// `source` that `data` holds (`encode_shard_within`).
    pub fn store_shard_within(
        &self,
        array: &RwArray,
        indices: &[u64],
        shard: Placed,
        data: &[u8],
        source: Placed,
        label: &dyn Fn() -> String,
    ) -> FfiResult {
        self.encode_shard_within(shard, data, source, label, |encoded| {
            self.store(array, indices, encoded, label)
        })
    }

    /// Encode the whole shard at `shard` inside the C-order box `source` that `data` holds and
    /// give the result to `emit`: each inner chunk is gathered straight from `data` (copying the
    /// shard out first cost a second pass over the data and a shard-sized scratch buffer per
    /// thread). A shard whose inner chunks all equal the fill value is `Encoded::Fill`.
    pub fn encode_shard_within<R>(
        &self,
        shard: Placed,
        data: &[u8],
        source: Placed,
        label: &dyn Fn() -> String,
        emit: impl FnOnce(Encoded<'_>) -> FfiResult<R>,
    ) -> FfiResult<R> {
        let Some(sharding) = &self.layout.sharding else {
            return Err(FfiError::invalid(
                "encode_shard_within: the array is not sharded",
            ));
        };
        ENCODED.with(|encoded| {
            let mut encoded = encoded.borrow_mut();
            match self.encode_shard(sharding, shard, data, source, &mut encoded, label)? {
                Some(length) => emit(Encoded::Bytes(&encoded[..length])),
                None => emit(Encoded::Fill),
            }
        })
    }

    /// Store what encoding chunk `indices` gave: its bytes, or nothing (the chunk is erased).
    pub fn store(
        &self,
        array: &RwArray,
        indices: &[u64],
        encoded: Encoded<'_>,
        label: &dyn Fn() -> String,
    ) -> FfiResult {
        match encoded {
            Encoded::Bytes(value) => self.set(array, &array.chunk_key(indices), value, label),
            Encoded::Fill => array
                .erase_chunk(indices)
                .map_err(|e| storage_error(label, e)),
        }
    }

    /// Assemble in `out` the shard at `shard` from `data` (the box `source`): the non-fill inner
    /// chunks encoded one after another, then the index (or the index first). Returns its length,
    /// or None if every inner chunk is the fill value.
    fn encode_shard(
        &self,
        sharding: &Sharding,
        shard: Placed,
        data: &[u8],
        source: Placed,
        out: &mut Vec<u8>,
        label: &dyn Fn() -> String,
    ) -> FfiResult<Option<usize>> {
        let elsize = self.layout.fill.len();
        let inner_shape: Vec<u64> = std::iter::zip(shard.shape, &sharding.per_shard)
            .map(|(s, p)| s / p)
            .collect();
        let inner_bytes = inner_shape.iter().product::<u64>() as usize * elsize;
        let index_bytes = sharding.index_bytes() as usize;
        let mut index = vec![u64::MAX; 2 * sharding.entries() as usize];
        let first = if sharding.index_at_start {
            index_bytes
        } else {
            0
        };
        let mut end = first;
        INNER.with(|inner| -> FfiResult {
            let mut inner = inner.borrow_mut();
            let inner = at_least(&mut inner, inner_bytes);
            let mut position = vec![0u64; inner_shape.len()];
            for entry in 0..sharding.entries() as usize {
                let lo: Vec<u64> = (0..inner_shape.len())
                    .map(|d| shard.origin[d] + position[d] * inner_shape[d])
                    .collect();
                let hi: Vec<u64> = std::iter::zip(&lo, &inner_shape)
                    .map(|(l, n)| l + n)
                    .collect();
                let place = Placed {
                    origin: &lo,
                    shape: &inner_shape,
                };
                // SAFETY: the inner chunk lies inside the shard, hence inside `source` (`data`,
                // only read), and fills `inner`.
                unsafe {
                    copy_box(
                        data.as_ptr(),
                        source,
                        inner.as_mut_ptr(),
                        place,
                        &lo,
                        &hi,
                        elsize,
                    )
                };
                step_c_order(&mut position, &sharding.per_shard);
                if is_fill(inner, &self.layout.fill) {
                    continue; // empty in the index, as zarrs writes it
                }
                let length = encode_at(self.encoder, inner, out, end, label)?;
                index[2 * entry] = end as u64;
                index[2 * entry + 1] = length as u64;
                end += length;
            }
            Ok(())
        })?;
        if end == first {
            return Ok(None);
        }
        let mut encoded_index: Vec<u8> = index.iter().flat_map(|v| v.to_le_bytes()).collect();
        if sharding.index_crc {
            let crc = crc32c::crc32c(&encoded_index);
            encoded_index.extend_from_slice(&crc.to_le_bytes());
        }
        if sharding.index_at_start {
            out[..index_bytes].copy_from_slice(&encoded_index);
            Ok(Some(end))
        } else {
            at_least(out, end + index_bytes)[end..].copy_from_slice(&encoded_index);
            Ok(Some(end + index_bytes))
        }
    }

    /// Store `value` at `key`: straight from the borrowed buffer when this library created the
    /// store (an atomic file write), else through the storage API (which needs owned bytes).
    fn set(
        &self,
        array: &RwArray,
        key: &StoreKey,
        value: &[u8],
        label: &dyn Fn() -> String,
    ) -> FfiResult {
        match &self.layout.files {
            Some(files) => files.set_bytes(key, value),
            None => array.storage().set(key, Bytes::copy_from_slice(value)),
        }
        .map_err(|e| storage_error(label, e))
    }
}

/// A storage failure while storing what `label` names.
pub fn storage_error(label: &dyn Fn() -> String, e: StorageError) -> FfiError {
    direct::storage_error(&|| format!("storing {}", label()), e)
}
